//! mDNS discovery of the office's peers: announce and browse `_aufruf._tcp.local.`
//! (crate `mdns-sd`), and hand the peers found to the [`net`](crate::net) shell to dial.
//!
//! Every node registers one service whose instance name is its node id, on the port
//! its peer listener has, with four TXT records: `office` (office id), `node` (node
//! id), `role` (the role's wire code, decimal) and `proto` (the peer protocol
//! version, decimal).
//!
//! The module has two parts:
//!
//! - A **pure part** with no sockets and no clock: [`decide`] turns what mDNS
//!   resolved (a [`Sighting`]) into either a peer to dial ([`FoundPeer`]) or a reason
//!   it is ignored ([`Ignored`]: another office, this node itself, another protocol
//!   version, missing or garbled TXT, no address that can be dialled, ...), and
//!   [`PeerBook`] decides when a discovered address is dialled and when, at the
//!   earliest, it is given up.
//! - A **tokio part**: [`Discovery::start`] registers the service and browses;
//!   [`Discovery::next_event`] yields [`PeerEvent`]s, and [`dial_discovered`] applies
//!   them to a [`Network`](crate::net::Network) in one call. [`Discovery::shutdown`]
//!   (or dropping it) unregisters: peers see the goodbye at once instead of after
//!   the 120 s TTL.
//!
//! **mDNS is a hint, never the truth about liveness.** A peer's session is alive as
//! long as its mutual-TLS session and heartbeats are (see [`net`](crate::net) and the
//! protocol core). A `ServiceRemoved` event does not end a session and does not stop
//! the dialler: mdns-sd can report endless removals after an interface flaps
//! (issue #370), flap with short TTLs (#216) and report a crashed peer only after the
//! TTL (#54). A discovered address is given up only when its node is both no longer
//! announced at that address *and* has had no session for [`FORGET_AFTER`]; if it is
//! announced again it is dialled again. The one exception is a node announced at a
//! new address (DHCP, or a better address resolved): it is dialled there and its old
//! discovered address is dropped at once — the node moved, it did not end.
//!
//! The TXT records are not trusted: the TLS certificate (signed by the office CA) is
//! what proves a peer's node id, and the handshake checks office and protocol
//! version again. TXT only saves dialling nodes that would be refused anyway. A node
//! of another office with the same node id (on a shared city network) makes mdns-sd
//! rename one instance (`desk-1 (2)`); that is harmless, as the node id is read from
//! TXT, not from the instance name.
//!
//! **Static peers.** The peers in the configuration
//! ([`NetConfig::static_peers`](crate::net::NetConfig)) are dialled from the start by
//! [`net::start`](crate::net::start) and kept for ever, whatever mDNS says; they are
//! the fallback for networks that block multicast (many city networks do). Discovery
//! only adds peers: an address that is also a static peer is never given up by
//! [`dial_discovered`]. Both together are safe: the network dials each address once.
//!
//! **Link-local IPv6.** mdns-sd reports IPv6 link-local addresses (`fe80::/10`) with
//! the index of the interface they were seen on. Such an address is dialled only with
//! that scope id; without one it is useless and skipped. IPv4 is preferred over IPv6,
//! routable IPv6 over link-local, so a peer is dialled at one address only. IPv6 is
//! off by default ([`InterfacePolicy::ipv6`]); IPv6-only networks turn it on (and
//! may turn IPv4 off).
//!
//! **Timing** (two network namespaces on a veth pair, see `tests/mdns_netns.rs`): a
//! peer is found ~0.8 s after start on a settled link and ~2 s when the node starts
//! right as its link comes up (mdns-sd drops an interface whose first sends fail and
//! picks it up at its next interface check, which [`InterfacePolicy`] makes every
//! second instead of every 5 s).
//!
//! Code map: `decision.rs` ([`decide`], [`Sighting`], the TXT records), `book.rs`
//! ([`PeerBook`]) and `driver.rs` ([`Discovery`], [`dial_discovered`]). The first two
//! know neither tokio nor mdns-sd's daemon; only the driver does.

use std::time::Duration;

mod book;
mod decision;
mod driver;

pub use book::{PeerAction, PeerBook};
pub use decision::{
    FoundPeer, Ignored, InterfacePolicy, SeenAddress, Sighting, decide, txt_records,
};
pub use driver::{Dialling, Discovery, DiscoveryError, PeerEvent, dial_discovered};

/// The DNS-SD service type every Aufruf node announces and browses.
pub const SERVICE_TYPE: &str = "_aufruf._tcp.local.";
/// TXT key of the office id.
pub const TXT_OFFICE: &str = "office";
/// TXT key of the node id.
pub const TXT_NODE: &str = "node";
/// TXT key of the role's wire code (decimal).
pub const TXT_ROLE: &str = "role";
/// TXT key of the peer protocol version (decimal).
pub const TXT_PROTO: &str = "proto";
/// How long a discovered peer must be both gone from mDNS and without a session
/// before it is no longer redialled.
pub const FORGET_AFTER: Duration = Duration::from_secs(10 * 60);
/// How often [`Discovery::changed`] wakes up for liveness checks without events.
pub const CHECK_EVERY: Duration = Duration::from_secs(5);
