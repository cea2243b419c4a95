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
//!   them to a [`Network`] in one call. [`Discovery::shutdown`] (or dropping it)
//!   unregisters: peers see the goodbye at once instead of after the 120 s TTL.
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

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::net::{IpAddr, Ipv6Addr, SocketAddr, SocketAddrV6};
use std::time::{Duration, Instant};

use mdns_sd::{IfKind, IfPredicate, ScopedIp, ServiceDaemon, ServiceEvent, ServiceInfo};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use crate::name::{NodeId, OfficeId, Role};
use crate::net::Network;
use crate::protocol::Identity;
use crate::protocol::frame::PROTOCOL_VERSION;
use crate::replica::Replica;

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

/// Longest TXT value quoted back in an [`Ignored::GarbledTxt`].
const QUOTE_LEN: usize = 40;
/// Events buffered for the caller before further ones are dropped (they are hints,
/// and mdns-sd stops a browse whose receiver falls behind).
const EVENT_BUFFER: usize = 1024;

// ---------------------------------------------------------------------------------
// Pure part
// ---------------------------------------------------------------------------------

/// One address as mDNS resolved it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SeenAddress {
    /// The address.
    pub ip: IpAddr,
    /// For IPv6: the index of the interface it was seen on (0 = unknown).
    pub scope_id: u32,
}

/// A resolved service, stripped of the mDNS crate's types.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Sighting {
    /// The full service instance name, e.g. `desk-1._aufruf._tcp.local.`.
    pub instance: String,
    /// The announced port.
    pub port: u16,
    /// The addresses resolved for the service's host.
    pub addresses: Vec<SeenAddress>,
    /// The TXT records in the order received: key and value (`None`: key only).
    pub txt: Vec<(String, Option<Vec<u8>>)>,
}

impl Sighting {
    /// The value of a TXT key: keys compare case-insensitively and only the first
    /// occurrence counts (RFC 6763, 6.4). `Some(None)`: present without a value.
    pub fn txt_value(&self, key: &str) -> Option<Option<&[u8]>> {
        self.txt
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v.as_deref())
    }

    fn from_resolved(resolved: &mdns_sd::ResolvedService) -> Sighting {
        let addresses = resolved
            .addresses
            .iter()
            .map(|scoped| match scoped {
                ScopedIp::V6(v6) => SeenAddress {
                    ip: IpAddr::V6(*v6.addr()),
                    scope_id: v6.scope_id().index,
                },
                other => SeenAddress {
                    ip: other.to_ip_addr(),
                    scope_id: 0,
                },
            })
            .collect();
        let txt = resolved
            .txt_properties
            .iter()
            .map(|p| (p.key().to_string(), p.val().map(<[u8]>::to_vec)))
            .collect();
        Sighting {
            instance: resolved.fullname.clone(),
            port: resolved.port,
            addresses,
            txt,
        }
    }
}

/// Which interfaces discovery uses and which addresses it may dial.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InterfacePolicy {
    /// Announce and browse only on these interfaces (by name, e.g. `eth0`); empty:
    /// on every interface except loopback (unless `loopback`).
    pub interfaces: Vec<String>,
    /// Use IPv4 (on by default; off only for IPv6-only networks).
    pub ipv4: bool,
    /// Also use IPv6: announce and browse over it, dial IPv6 addresses (link-local
    /// ones only with a scope id). IPv4 addresses are preferred either way. Off by
    /// default: office LANs are IPv4, and a peer first seen over IPv6 would be
    /// dialled there and then moved to its IPv4 address.
    pub ipv6: bool,
    /// Also use loopback interfaces and dial loopback addresses (tests on one host).
    pub loopback: bool,
    /// The UDP port of mDNS: 5353 except in tests.
    pub mdns_port: u16,
    /// How often (seconds) the daemon looks for new or changed interfaces and
    /// addresses. mdns-sd drops an interface whose first sends fail (e.g. a link
    /// that came up a moment before) until the next check, so this bounds how late
    /// a node that starts during boot is seen. mdns-sd's default is 5.
    pub recheck_interfaces_secs: u32,
}

impl Default for InterfacePolicy {
    fn default() -> Self {
        InterfacePolicy {
            interfaces: Vec::new(),
            ipv4: true,
            ipv6: false,
            loopback: false,
            mdns_port: mdns_sd::MDNS_PORT,
            recheck_interfaces_secs: 1,
        }
    }
}

/// A peer of this office worth dialling.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FoundPeer {
    /// The service instance it announced.
    pub instance: String,
    /// Its office (always this node's office).
    pub office: OfficeId,
    /// Its node id (from TXT; the TLS certificate is what proves it).
    pub node: NodeId,
    /// Its role.
    pub role: Role,
    /// The one address to dial.
    pub address: SocketAddr,
}

/// Why a resolved service is not dialled.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Ignored {
    /// A node of another office on the same network.
    #[error("belongs to office {office}")]
    OtherOffice {
        /// Its office.
        office: OfficeId,
    },
    /// This node's own announcement (or another device using this node's id).
    #[error("is this node itself")]
    OwnNode,
    /// It speaks another peer protocol version; the handshake would refuse it.
    #[error("speaks protocol version {theirs}, this node {ours}")]
    ProtocolVersion {
        /// Its version.
        theirs: u16,
        /// Ours.
        ours: u16,
    },
    /// A TXT record is missing (or has no value).
    #[error("TXT record {key:?} missing")]
    MissingTxt {
        /// The key.
        key: &'static str,
    },
    /// A TXT record cannot be read.
    #[error("TXT record {key:?} garbled: {value:?}")]
    GarbledTxt {
        /// The key.
        key: &'static str,
        /// The start of the value, lossily decoded.
        value: String,
    },
    /// Port 0 announced.
    #[error("announced port 0")]
    NoPort,
    /// No address resolved at all.
    #[error("no address resolved")]
    NoAddress,
    /// Only IPv6 link-local addresses without a scope id: not dialable.
    #[error("only link-local IPv6 addresses without a scope id")]
    OnlyUnscopedLinkLocal,
    /// Addresses resolved, but none the policy allows (loopback, IPv6 when off,
    /// unspecified, multicast, ...).
    #[error("none of {seen} addresses usable under the interface policy")]
    NoUsableAddress {
        /// How many addresses were seen.
        seen: usize,
    },
}

/// The TXT records this node announces.
pub fn txt_records(identity: &Identity) -> Vec<(String, String)> {
    vec![
        (TXT_OFFICE.to_string(), identity.office.to_string()),
        (TXT_NODE.to_string(), identity.node.to_string()),
        (TXT_ROLE.to_string(), identity.role.code().to_string()),
        (TXT_PROTO.to_string(), PROTOCOL_VERSION.to_string()),
    ]
}

/// Decides whether a resolved service is a peer of this node's office to dial, and
/// at which address.
///
/// Checks, in this order: protocol version, office, node id (not this node), role,
/// port, addresses. A foreign office's TXT is not looked at beyond its office id.
pub fn decide(
    own: &Identity,
    policy: &InterfacePolicy,
    seen: &Sighting,
) -> Result<FoundPeer, Ignored> {
    let proto: u16 = parse_txt(seen, TXT_PROTO, |text| text.parse().ok())?;
    if proto != PROTOCOL_VERSION {
        return Err(Ignored::ProtocolVersion {
            theirs: proto,
            ours: PROTOCOL_VERSION,
        });
    }
    let office = parse_txt(seen, TXT_OFFICE, |text| OfficeId::new(text).ok())?;
    if office != own.office {
        return Err(Ignored::OtherOffice { office });
    }
    let node = parse_txt(seen, TXT_NODE, |text| NodeId::new(text).ok())?;
    if node == own.node {
        return Err(Ignored::OwnNode);
    }
    let role = parse_txt(seen, TXT_ROLE, |text| {
        text.parse::<u8>().ok().and_then(Role::from_code)
    })?;
    if seen.port == 0 {
        return Err(Ignored::NoPort);
    }
    let address = best_address(policy, seen)?;
    Ok(FoundPeer {
        instance: seen.instance.clone(),
        office,
        node,
        role,
        address,
    })
}

fn parse_txt<T>(
    seen: &Sighting,
    key: &'static str,
    parse: impl FnOnce(&str) -> Option<T>,
) -> Result<T, Ignored> {
    let bytes = match seen.txt_value(key) {
        Some(Some(bytes)) if !bytes.is_empty() => bytes,
        _ => return Err(Ignored::MissingTxt { key }),
    };
    let garbled = || Ignored::GarbledTxt {
        key,
        value: String::from_utf8_lossy(bytes)
            .chars()
            .take(QUOTE_LEN)
            .collect(),
    };
    let text = std::str::from_utf8(bytes).map_err(|_| garbled())?;
    parse(text).ok_or_else(garbled)
}

fn is_link_local_v6(ip: &Ipv6Addr) -> bool {
    (ip.segments()[0] & 0xffc0) == 0xfe80
}

/// Preference of an address, lower is better; `None`: not dialable under `policy`.
fn rank(policy: &InterfacePolicy, seen: &SeenAddress) -> Option<u8> {
    match seen.ip {
        IpAddr::V4(ip) => {
            if !policy.ipv4 || ip.is_unspecified() || ip.is_multicast() || ip.is_broadcast() {
                None
            } else if ip.is_loopback() {
                policy.loopback.then_some(4)
            } else if ip.is_link_local() {
                Some(2)
            } else {
                Some(0)
            }
        }
        IpAddr::V6(ip) => {
            if !policy.ipv6 || ip.is_unspecified() || ip.is_multicast() {
                None
            } else if ip.is_loopback() {
                policy.loopback.then_some(4)
            } else if is_link_local_v6(&ip) {
                (seen.scope_id != 0).then_some(3)
            } else {
                Some(1)
            }
        }
    }
}

fn best_address(policy: &InterfacePolicy, seen: &Sighting) -> Result<SocketAddr, Ignored> {
    if seen.addresses.is_empty() {
        return Err(Ignored::NoAddress);
    }
    let best = seen
        .addresses
        .iter()
        .filter_map(|address| rank(policy, address).map(|rank| (rank, *address)))
        .min();
    match best {
        Some((
            _,
            SeenAddress {
                ip: IpAddr::V6(ip),
                scope_id,
            },
        )) => {
            // Only link-local addresses need (and keep) their scope.
            let scope_id = if is_link_local_v6(&ip) { scope_id } else { 0 };
            Ok(SocketAddr::V6(SocketAddrV6::new(
                ip, seen.port, 0, scope_id,
            )))
        }
        Some((_, SeenAddress { ip, .. })) => Ok(SocketAddr::new(ip, seen.port)),
        None if policy.ipv6
            && seen.addresses.iter().all(|a| match a.ip {
                IpAddr::V6(ip) => is_link_local_v6(&ip) && a.scope_id == 0,
                IpAddr::V4(_) => false,
            }) =>
        {
            Err(Ignored::OnlyUnscopedLinkLocal)
        }
        None => Err(Ignored::NoUsableAddress {
            seen: seen.addresses.len(),
        }),
    }
}

/// What [`PeerBook`] asks the network to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PeerAction {
    /// Start dialling this address ([`Network::add_peer`]).
    Dial(SocketAddr),
    /// Stop redialling it ([`Network::remove_peer`]).
    StopDialling(SocketAddr),
}

#[derive(Clone, Debug)]
struct Dialled {
    node: NodeId,
    /// Some instance still announces this address.
    announced: bool,
    /// Last time the node was found or seen with a live session.
    last_live: Instant,
}

/// The discovered addresses this node dials, and when to give one up.
///
/// Pure: the caller passes the time and the set of nodes with a live session.
#[derive(Clone, Debug)]
pub struct PeerBook {
    forget_after: Duration,
    /// Current address of each announced instance.
    instances: BTreeMap<String, SocketAddr>,
    dialled: BTreeMap<SocketAddr, Dialled>,
}

impl PeerBook {
    /// An empty book that gives up an address after `forget_after` gone and dead.
    pub fn new(forget_after: Duration) -> Self {
        PeerBook {
            forget_after,
            instances: BTreeMap::new(),
            dialled: BTreeMap::new(),
        }
    }

    /// A peer was found (again); returns `Dial` if its address is new to the book
    /// and not a static peer.
    ///
    /// When the same node is now announced at another address (a better one
    /// appeared, or its address changed), the old address is replaced: `StopDialling`
    /// for it, unless it is a static peer or another instance still announces it.
    /// That is moving the node, not ending it: it is dialled at its new address.
    pub fn found(
        &mut self,
        peer: &FoundPeer,
        now: Instant,
        static_peers: &[SocketAddr],
    ) -> Vec<PeerAction> {
        let mut actions = Vec::new();
        let previous = self.instances.insert(peer.instance.clone(), peer.address);
        if let Some(old) = previous.filter(|old| *old != peer.address) {
            self.unannounce(old);
            let replaced = self
                .dialled
                .get(&old)
                .is_some_and(|entry| entry.node == peer.node && !entry.announced);
            if replaced && !static_peers.contains(&old) {
                self.dialled.remove(&old);
                actions.push(PeerAction::StopDialling(old));
            }
        }
        if static_peers.contains(&peer.address) {
            return actions;
        }
        match self.dialled.get_mut(&peer.address) {
            Some(entry) => {
                entry.node = peer.node.clone();
                entry.announced = true;
                entry.last_live = now;
            }
            None => {
                self.dialled.insert(
                    peer.address,
                    Dialled {
                        node: peer.node.clone(),
                        announced: true,
                        last_live: now,
                    },
                );
                actions.push(PeerAction::Dial(peer.address));
            }
        }
        actions
    }

    /// mDNS says the instance is gone: only remembered, nothing is stopped.
    pub fn removed(&mut self, instance: &str) {
        if let Some(address) = self.instances.remove(instance) {
            self.unannounce(address);
        }
    }

    fn unannounce(&mut self, address: SocketAddr) {
        let still = self.instances.values().any(|a| *a == address);
        if let Some(entry) = self.dialled.get_mut(&address) {
            entry.announced = still;
        }
    }

    /// Notes which nodes have a live session and returns `StopDialling` for the
    /// addresses that are no longer announced and whose node has had no session for
    /// the forget time. Static peers are never given up.
    pub fn check(
        &mut self,
        now: Instant,
        live: &BTreeSet<NodeId>,
        static_peers: &[SocketAddr],
    ) -> Vec<PeerAction> {
        let mut actions = Vec::new();
        for (address, entry) in &mut self.dialled {
            if live.contains(&entry.node) {
                entry.last_live = now;
            } else if !entry.announced
                && !static_peers.contains(address)
                && now.saturating_duration_since(entry.last_live) >= self.forget_after
            {
                actions.push(PeerAction::StopDialling(*address));
            }
        }
        for action in &actions {
            if let PeerAction::StopDialling(address) = action {
                self.dialled.remove(address);
            }
        }
        actions
    }

    /// The addresses the book has asked to dial and not given up.
    pub fn dialled(&self) -> impl Iterator<Item = (&SocketAddr, &NodeId)> {
        self.dialled.iter().map(|(a, e)| (a, &e.node))
    }
}

// ---------------------------------------------------------------------------------
// Tokio part
// ---------------------------------------------------------------------------------

/// What went wrong starting discovery.
#[derive(Debug, thiserror::Error)]
pub enum DiscoveryError {
    /// The mDNS daemon refused (sockets, thread, bad record).
    #[error("mDNS: {0}")]
    Mdns(#[from] mdns_sd::Error),
    /// Port 0 cannot be announced.
    #[error("cannot announce port 0")]
    NoPort,
    /// Called outside a tokio runtime.
    #[error("discovery must be started inside a tokio runtime")]
    NoRuntime,
}

/// What discovery saw, in the order it saw it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PeerEvent {
    /// A peer of this office to dial (sent again when its address changes).
    Found(FoundPeer),
    /// A service that is not dialled, and why.
    Ignored {
        /// The service instance.
        instance: String,
        /// Why.
        reason: Ignored,
    },
    /// mDNS says the instance is gone. A hint only: it does not end any session.
    Removed {
        /// The service instance.
        instance: String,
    },
}

/// This node's mDNS announcement and browse; [`Discovery::shutdown`] (or dropping
/// it) unregisters and stops the mDNS daemon.
pub struct Discovery {
    daemon: ServiceDaemon,
    fullname: String,
    events: mpsc::Receiver<PeerEvent>,
    pending: VecDeque<PeerEvent>,
    book: PeerBook,
    next_check: tokio::time::Instant,
    stop: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
    shut_down: bool,
}

impl Discovery {
    /// Starts the mDNS daemon, announces this node on `port` (its peer listener's
    /// port) and browses for the office's other nodes, on the interfaces `policy`
    /// allows. Must be called inside a tokio runtime.
    pub fn start(
        identity: &Identity,
        port: u16,
        policy: InterfacePolicy,
    ) -> Result<Discovery, DiscoveryError> {
        if port == 0 {
            return Err(DiscoveryError::NoPort);
        }
        let runtime =
            tokio::runtime::Handle::try_current().map_err(|_| DiscoveryError::NoRuntime)?;
        let daemon = ServiceDaemon::new_with_port(policy.mdns_port)?;
        let started = announce_and_browse(&daemon, identity, port, &policy);
        let Announced {
            fullname,
            browse,
            monitor,
        } = match started {
            Ok(started) => started,
            Err(error) => {
                // Do not leave the daemon's thread behind.
                let _ = daemon.shutdown();
                return Err(error);
            }
        };
        let (sender, events) = mpsc::channel(EVENT_BUFFER);
        let (stop, stopped) = watch::channel(false);
        let task = runtime.spawn(pump(
            identity.clone(),
            policy,
            browse,
            monitor,
            sender,
            stopped,
        ));
        tracing::info!(
            instance = %fullname,
            port,
            office = %identity.office,
            "announcing on mDNS and browsing for office peers"
        );
        Ok(Discovery {
            daemon,
            fullname,
            events,
            pending: VecDeque::new(),
            book: PeerBook::new(FORGET_AFTER),
            next_check: tokio::time::Instant::now() + CHECK_EVERY,
            stop,
            task: Some(task),
            shut_down: false,
        })
    }

    /// Gives up discovered addresses after `forget_after` (default [`FORGET_AFTER`])
    /// instead.
    pub fn with_forget_after(mut self, forget_after: Duration) -> Self {
        self.book.forget_after = forget_after;
        self
    }

    /// This node's service instance name.
    pub fn instance(&self) -> &str {
        &self.fullname
    }

    /// The next event; `None` once discovery has stopped.
    ///
    /// Cancel-safe. Use either this or [`dial_discovered`], which consumes the same
    /// events.
    pub async fn next_event(&mut self) -> Option<PeerEvent> {
        if let Some(event) = self.pending.pop_front() {
            return Some(event);
        }
        self.events.recv().await
    }

    /// Waits until [`dial_discovered`] has something to do: an event arrived, or a
    /// liveness check is due (every [`CHECK_EVERY`]). Cancel-safe.
    pub async fn changed(&mut self) {
        if !self.pending.is_empty() {
            return;
        }
        tokio::select! {
            event = self.events.recv() => match event {
                Some(event) => self.pending.push_back(event),
                // Discovery stopped: only the liveness checks remain.
                None => tokio::time::sleep_until(self.next_check).await,
            },
            _ = tokio::time::sleep_until(self.next_check) => {}
        }
    }

    fn drain(&mut self) -> Vec<PeerEvent> {
        let mut drained: Vec<PeerEvent> = self.pending.drain(..).collect();
        while let Ok(event) = self.events.try_recv() {
            drained.push(event);
        }
        drained
    }

    /// Stops the daemon, which first sends goodbyes for this node's service (peers
    /// see it leave at once instead of after the record's TTL), and waits for it.
    pub async fn shutdown(mut self) {
        self.shut_down = true;
        let _ = self.stop.send(true);
        match self.daemon.shutdown() {
            Ok(status) => {
                let waited =
                    tokio::time::timeout(Duration::from_secs(2), status.recv_async()).await;
                tracing::debug!(instance = %self.fullname, ?waited, "mDNS daemon stopped");
            }
            Err(error) => tracing::debug!(%error, "mDNS daemon already stopped"),
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl std::fmt::Debug for Discovery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Discovery")
            .field("instance", &self.fullname)
            .field("pending", &self.pending.len())
            .field("book", &self.book)
            .finish_non_exhaustive()
    }
}

impl Drop for Discovery {
    fn drop(&mut self) {
        if !self.shut_down {
            let _ = self.stop.send(true);
            // Stops the daemon thread; it sends goodbyes for registered services.
            let _ = self.daemon.shutdown();
        }
    }
}

/// What [`announce_and_browse`] set up.
struct Announced {
    fullname: String,
    browse: mdns_sd::Receiver<ServiceEvent>,
    monitor: mdns_sd::Receiver<mdns_sd::DaemonEvent>,
}

/// Applies the interface policy, registers this node's service and starts browsing.
fn announce_and_browse(
    daemon: &ServiceDaemon,
    identity: &Identity,
    port: u16,
    policy: &InterfacePolicy,
) -> Result<Announced, DiscoveryError> {
    daemon.set_ip_check_interval(policy.recheck_interfaces_secs)?;
    let unwanted = policy.clone();
    daemon.disable_interface(IfKind::Predicate(IfPredicate::new(move |interface| {
        (interface.is_loopback() && !unwanted.loopback)
            || (interface.ip().is_ipv6() && !unwanted.ipv6)
            || (interface.ip().is_ipv4() && !unwanted.ipv4)
            || (!unwanted.interfaces.is_empty()
                && !interface.is_loopback()
                && !unwanted.interfaces.contains(&interface.name))
    })))?;
    let txt = txt_records(identity);
    let service = ServiceInfo::new(
        SERVICE_TYPE,
        identity.node.as_str(),
        &host_name(identity),
        (),
        port,
        txt.as_slice(),
    )?
    .enable_addr_auto();
    let fullname = service.get_fullname().to_string();
    daemon.register(service)?;
    let browse = daemon.browse(SERVICE_TYPE)?;
    let monitor = daemon.monitor()?;
    Ok(Announced {
        fullname,
        browse,
        monitor,
    })
}

/// The mDNS host name of a node: its id (cut to fit a DNS label) and a checksum of
/// its office, so that `desk-1` of two offices on one network do not collide.
fn host_name(identity: &Identity) -> String {
    let node: String = identity.node.as_str().chars().take(48).collect();
    let node = node.replace('.', "-");
    let office = crc32fast::hash(identity.office.as_str().as_bytes());
    format!("{node}-{office:08x}.local.")
}

/// The addresses resolved so far per instance. mdns-sd resolves a service once per
/// interface and address family (e.g. first with only its IPv6 link-local address,
/// then with its IPv4 one); deciding on the union means a peer's chosen address only
/// ever gets better and does not flip between events.
#[derive(Debug, Default)]
struct AddressMemory(BTreeMap<String, BTreeSet<SeenAddress>>);

/// Instances whose addresses are remembered; beyond, memory starts afresh.
const MAX_REMEMBERED_INSTANCES: usize = 256;
/// Addresses remembered per instance.
const MAX_REMEMBERED_ADDRESSES: usize = 16;

impl AddressMemory {
    /// Adds the sighting's addresses to the remembered ones and puts the union back
    /// into the sighting.
    fn merge(&mut self, seen: &mut Sighting) {
        if !self.0.contains_key(&seen.instance) && self.0.len() >= MAX_REMEMBERED_INSTANCES {
            self.0.clear();
        }
        let known = self.0.entry(seen.instance.clone()).or_default();
        for address in &seen.addresses {
            if known.len() < MAX_REMEMBERED_ADDRESSES {
                known.insert(*address);
            }
        }
        seen.addresses = known.iter().copied().collect();
    }

    fn forget(&mut self, instance: &str) {
        self.0.remove(instance);
    }
}

/// Forwards the daemon's events as [`PeerEvent`]s until stopped.
async fn pump(
    own: Identity,
    policy: InterfacePolicy,
    browse: mdns_sd::Receiver<ServiceEvent>,
    monitor: mdns_sd::Receiver<mdns_sd::DaemonEvent>,
    sender: mpsc::Sender<PeerEvent>,
    mut stopped: watch::Receiver<bool>,
) {
    let mut monitoring = true;
    let mut addresses = AddressMemory::default();
    loop {
        let event = tokio::select! {
            _ = stopped.changed() => return,
            event = browse.recv_async() => match event {
                Ok(event) => event,
                Err(_) => {
                    tracing::debug!("mDNS browse ended");
                    return;
                }
            },
            daemon_event = monitor.recv_async(), if monitoring => {
                match daemon_event {
                    Ok(mdns_sd::DaemonEvent::Error(error)) => {
                        tracing::warn!(%error, "mDNS daemon error");
                    }
                    Ok(mdns_sd::DaemonEvent::NameChange(change)) => {
                        tracing::info!(?change, "mDNS name conflict resolved by renaming");
                    }
                    Ok(other) => tracing::trace!(?other, "mDNS daemon event"),
                    Err(_) => monitoring = false,
                }
                continue;
            }
        };
        let forwarded = match event {
            ServiceEvent::ServiceResolved(resolved) => {
                let mut seen = Sighting::from_resolved(&resolved);
                addresses.merge(&mut seen);
                match decide(&own, &policy, &seen) {
                    Ok(peer) => {
                        tracing::debug!(node = %peer.node, address = %peer.address, "mDNS found an office peer");
                        PeerEvent::Found(peer)
                    }
                    Err(reason) => {
                        tracing::debug!(instance = %seen.instance, %reason, "mDNS service ignored");
                        PeerEvent::Ignored {
                            instance: seen.instance,
                            reason,
                        }
                    }
                }
            }
            ServiceEvent::ServiceRemoved(_, instance) => {
                addresses.forget(&instance);
                tracing::debug!(%instance, "mDNS says a service left (a hint only)");
                PeerEvent::Removed { instance }
            }
            ServiceEvent::SearchStarted(what) => {
                tracing::trace!(%what, "mDNS query sent");
                continue;
            }
            _ => continue,
        };
        match sender.try_send(forwarded) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(dropped)) => {
                tracing::debug!(?dropped, "discovery events not consumed; dropping one");
            }
            Err(mpsc::error::TrySendError::Closed(_)) => return,
        }
    }
}

/// What one [`dial_discovered`] call did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Dialling {
    /// Addresses the network now dials.
    pub added: Vec<SocketAddr>,
    /// Addresses it no longer redials (moved, or gone from mDNS and dead for long).
    pub given_up: Vec<SocketAddr>,
    /// The discovery events applied, for logs and status pages.
    pub events: Vec<PeerEvent>,
}

/// Applies what discovery found to the network, without waiting: dials new peers of
/// the office and gives up discovered peers that are both gone from mDNS and have
/// had no session (per `replica`) for the forget time. Never touches
/// `static_peers`.
///
/// A node with `[node] mdns = true` runs this next to its [`Network`] (in the
/// task that owns it; it never blocks on the network):
///
/// ```no_run
/// # use std::net::SocketAddr;
/// # use aufruf_sync::discovery::{Discovery, DiscoveryError, InterfacePolicy, dial_discovered};
/// # async fn run(
/// #     mut network: aufruf_sync::net::Network,
/// #     replica: std::sync::Arc<aufruf_sync::Replica>,
/// #     identity: aufruf_sync::protocol::Identity,
/// #     static_peers: Vec<SocketAddr>,
/// # ) -> Result<(), DiscoveryError> {
/// let port = network.local_addr().port();
/// let mut discovery = Discovery::start(&identity, port, InterfacePolicy::default())?;
/// loop {
///     discovery.changed().await;
///     dial_discovered(&mut network, &mut discovery, &replica, &static_peers);
/// }
/// # }
/// ```
pub fn dial_discovered(
    network: &mut Network,
    discovery: &mut Discovery,
    replica: &Replica,
    static_peers: &[SocketAddr],
) -> Dialling {
    let now = Instant::now();
    let mut dialling = Dialling::default();
    let mut actions = Vec::new();
    let events = discovery.drain();
    for event in &events {
        match event {
            PeerEvent::Found(peer) => {
                let found = discovery.book.found(peer, now, static_peers);
                if found.contains(&PeerAction::Dial(peer.address)) {
                    tracing::info!(node = %peer.node, address = %peer.address, "dialling a peer found by mDNS");
                }
                actions.extend(found);
            }
            PeerEvent::Removed { instance } => discovery.book.removed(instance),
            PeerEvent::Ignored { .. } => {}
        }
    }
    dialling.events = events;
    if tokio::time::Instant::now() >= discovery.next_check {
        discovery.next_check = tokio::time::Instant::now() + CHECK_EVERY;
        let live: BTreeSet<NodeId> = replica
            .peers()
            .into_iter()
            .map(|hello| hello.node)
            .collect();
        actions.extend(discovery.book.check(now, &live, static_peers));
    }
    for action in actions {
        match action {
            PeerAction::Dial(address) => {
                network.add_peer(address);
                dialling.added.push(address);
            }
            PeerAction::StopDialling(address) => {
                tracing::info!(%address, "no longer dialling a discovered address (moved, or gone and unreachable)");
                network.remove_peer(address);
                dialling.given_up.push(address);
            }
        }
    }
    dialling
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use proptest::prelude::*;

    use super::*;

    fn own() -> Identity {
        Identity {
            office: OfficeId::new("zeitz").unwrap(),
            node: NodeId::new("kiosk-1").unwrap(),
            role: Role::Kiosk,
        }
    }

    fn v4(a: u8, b: u8, c: u8, d: u8) -> SeenAddress {
        SeenAddress {
            ip: IpAddr::V4(Ipv4Addr::new(a, b, c, d)),
            scope_id: 0,
        }
    }

    fn v6(text: &str, scope_id: u32) -> SeenAddress {
        SeenAddress {
            ip: text.parse().unwrap(),
            scope_id,
        }
    }

    fn sighting(txt: &[(&str, &str)], addresses: Vec<SeenAddress>) -> Sighting {
        Sighting {
            instance: "desk-1._aufruf._tcp.local.".into(),
            port: 7340,
            addresses,
            txt: txt
                .iter()
                .map(|(k, v)| (k.to_string(), Some(v.as_bytes().to_vec())))
                .collect(),
        }
    }

    fn desk(addresses: Vec<SeenAddress>) -> Sighting {
        let desk = Identity {
            office: OfficeId::new("zeitz").unwrap(),
            node: NodeId::new("desk-1").unwrap(),
            role: Role::Desk,
        };
        let txt = txt_records(&desk);
        let txt: Vec<(&str, &str)> = txt.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        sighting(&txt, addresses)
    }

    fn policy() -> InterfacePolicy {
        InterfacePolicy {
            ipv6: true,
            ..InterfacePolicy::default()
        }
    }

    #[test]
    fn addresses_of_successive_resolutions_are_merged_so_the_choice_only_improves() {
        let mut memory = AddressMemory::default();
        let mut first = desk(vec![v6("fe80::1", 2)]);
        memory.merge(&mut first);
        let first = decide(&own(), &policy(), &first).unwrap();
        assert!(first.address.is_ipv6());
        let mut second = desk(vec![v4(10, 0, 0, 2)]);
        memory.merge(&mut second);
        assert_eq!(second.addresses.len(), 2);
        let chosen = decide(&own(), &policy(), &second).unwrap().address;
        assert_eq!(chosen, "10.0.0.2:7340".parse().unwrap());
        let mut third = desk(vec![v6("fe80::1", 2)]);
        memory.merge(&mut third);
        assert_eq!(decide(&own(), &policy(), &third).unwrap().address, chosen);
        memory.forget(&third.instance);
        let mut after_removal = desk(vec![v6("fe80::1", 2)]);
        memory.merge(&mut after_removal);
        assert_eq!(after_removal.addresses.len(), 1);
        // Bounded, whatever a network sends.
        for i in 0..1000u32 {
            let mut flood = desk(vec![SeenAddress {
                ip: IpAddr::V4(Ipv4Addr::from(i)),
                scope_id: 0,
            }]);
            flood.instance = format!("i{}", i % 300);
            memory.merge(&mut flood);
            assert!(flood.addresses.len() <= MAX_REMEMBERED_ADDRESSES);
        }
        assert!(memory.0.len() <= MAX_REMEMBERED_INSTANCES);
    }

    #[test]
    fn a_peer_of_the_office_is_dialled_at_its_ipv4_address() {
        let found = decide(
            &own(),
            &policy(),
            &desk(vec![v6("fe80::1", 3), v4(10, 0, 0, 7), v6("fd00::7", 0)]),
        )
        .unwrap();
        assert_eq!(found.node.as_str(), "desk-1");
        assert_eq!(found.role, Role::Desk);
        assert_eq!(found.address, "10.0.0.7:7340".parse().unwrap());
    }

    #[test]
    fn routable_ipv6_beats_link_local_and_link_local_keeps_its_scope() {
        let found = decide(
            &own(),
            &policy(),
            &desk(vec![v6("fe80::1", 3), v6("fd00::7", 9)]),
        );
        assert_eq!(found.unwrap().address, "[fd00::7]:7340".parse().unwrap());
        let found = decide(&own(), &policy(), &desk(vec![v6("fe80::1", 3)])).unwrap();
        assert_eq!(
            found.address,
            SocketAddr::V6(SocketAddrV6::new("fe80::1".parse().unwrap(), 7340, 0, 3))
        );
    }

    #[test]
    fn link_local_ipv6_without_scope_or_with_ipv6_off_is_not_dialled() {
        assert_eq!(
            decide(&own(), &policy(), &desk(vec![v6("fe80::1", 0)])),
            Err(Ignored::OnlyUnscopedLinkLocal)
        );
        let no_v6 = InterfacePolicy {
            ipv6: false,
            ..policy()
        };
        assert_eq!(
            decide(
                &own(),
                &no_v6,
                &desk(vec![v6("fe80::1", 2), v6("2001:db8::1", 0)])
            ),
            Err(Ignored::NoUsableAddress { seen: 2 })
        );
        assert!(
            decide(
                &own(),
                &no_v6,
                &desk(vec![v6("fe80::1", 2), v4(10, 1, 1, 1)])
            )
            .is_ok()
        );
        let v6_only = InterfacePolicy {
            ipv4: false,
            ..policy()
        };
        let found = decide(
            &own(),
            &v6_only,
            &desk(vec![v4(10, 1, 1, 1), v6("fe80::1", 2)]),
        );
        assert_eq!(
            found.unwrap().address,
            SocketAddr::V6(SocketAddrV6::new("fe80::1".parse().unwrap(), 7340, 0, 2))
        );
    }

    #[test]
    fn loopback_multicast_and_unspecified_addresses_are_skipped() {
        assert_eq!(
            decide(
                &own(),
                &policy(),
                &desk(vec![
                    v4(127, 0, 0, 1),
                    v4(0, 0, 0, 0),
                    v4(224, 0, 0, 251),
                    v6("::1", 0)
                ])
            ),
            Err(Ignored::NoUsableAddress { seen: 4 })
        );
        let loopback = InterfacePolicy {
            loopback: true,
            ..policy()
        };
        let found = decide(&own(), &loopback, &desk(vec![v4(127, 0, 0, 1)])).unwrap();
        assert_eq!(found.address, "127.0.0.1:7340".parse().unwrap());
        assert_eq!(
            decide(&own(), &policy(), &desk(vec![])),
            Err(Ignored::NoAddress)
        );
    }

    #[test]
    fn other_offices_self_and_other_versions_are_ignored() {
        let other = sighting(
            &[
                ("office", "naumburg"),
                ("node", "desk-1"),
                ("role", "2"),
                ("proto", "1"),
            ],
            vec![v4(10, 0, 0, 8)],
        );
        assert_eq!(
            decide(&own(), &policy(), &other),
            Err(Ignored::OtherOffice {
                office: OfficeId::new("naumburg").unwrap()
            })
        );
        let itself = sighting(
            &[
                ("office", "zeitz"),
                ("node", "kiosk-1"),
                ("role", "1"),
                ("proto", "1"),
            ],
            vec![v4(10, 0, 0, 8)],
        );
        assert_eq!(decide(&own(), &policy(), &itself), Err(Ignored::OwnNode));
        let newer = sighting(
            &[
                ("office", "zeitz"),
                ("node", "desk-1"),
                ("role", "2"),
                ("proto", "2"),
            ],
            vec![v4(10, 0, 0, 8)],
        );
        assert_eq!(
            decide(&own(), &policy(), &newer),
            Err(Ignored::ProtocolVersion {
                theirs: 2,
                ours: PROTOCOL_VERSION
            })
        );
    }

    #[test]
    fn missing_and_garbled_txt_is_named() {
        let cases: &[(&[(&str, &str)], Ignored)] = &[
            (&[], Ignored::MissingTxt { key: TXT_PROTO }),
            (&[("proto", "1")], Ignored::MissingTxt { key: TXT_OFFICE }),
            (
                &[("proto", "one")],
                Ignored::GarbledTxt {
                    key: TXT_PROTO,
                    value: "one".into(),
                },
            ),
            (
                &[("proto", "1"), ("office", "../x")],
                Ignored::GarbledTxt {
                    key: TXT_OFFICE,
                    value: "../x".into(),
                },
            ),
            (
                &[("proto", "1"), ("office", "zeitz"), ("node", "")],
                Ignored::MissingTxt { key: TXT_NODE },
            ),
            (
                &[
                    ("proto", "1"),
                    ("office", "zeitz"),
                    ("node", "desk-1"),
                    ("role", "9"),
                ],
                Ignored::GarbledTxt {
                    key: TXT_ROLE,
                    value: "9".into(),
                },
            ),
        ];
        for (txt, reason) in cases {
            assert_eq!(
                decide(&own(), &policy(), &sighting(txt, vec![v4(10, 0, 0, 8)])).as_ref(),
                Err(reason),
                "{txt:?}"
            );
        }
        let mut not_utf8 = desk(vec![v4(10, 0, 0, 8)]);
        not_utf8
            .txt
            .insert(0, ("NODE".into(), Some(vec![0xff, 0xfe])));
        assert!(matches!(
            decide(&own(), &policy(), &not_utf8),
            Err(Ignored::GarbledTxt { key: TXT_NODE, .. })
        ));
        let mut key_only = desk(vec![v4(10, 0, 0, 8)]);
        key_only.txt.insert(0, ("role".into(), None));
        assert_eq!(
            decide(&own(), &policy(), &key_only),
            Err(Ignored::MissingTxt { key: TXT_ROLE })
        );
        let mut no_port = desk(vec![v4(10, 0, 0, 8)]);
        no_port.port = 0;
        assert_eq!(decide(&own(), &policy(), &no_port), Err(Ignored::NoPort));
    }

    #[test]
    fn txt_keys_are_case_insensitive_and_the_first_counts() {
        let seen = sighting(
            &[
                ("PROTO", "1"),
                ("Office", "zeitz"),
                ("office", "naumburg"),
                ("node", "desk-1"),
                ("role", "2"),
            ],
            vec![v4(10, 0, 0, 8)],
        );
        assert!(decide(&own(), &policy(), &seen).is_ok());
    }

    #[test]
    fn announced_txt_is_understood_by_a_peer_and_host_names_differ_per_office() {
        let txt = txt_records(&own());
        assert_eq!(
            txt.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>(),
            [TXT_OFFICE, TXT_NODE, TXT_ROLE, TXT_PROTO]
        );
        let other = Identity {
            office: OfficeId::new("naumburg").unwrap(),
            ..own()
        };
        assert_ne!(host_name(&own()), host_name(&other));
        let long = Identity {
            node: NodeId::new("n.".repeat(32)).unwrap(),
            ..own()
        };
        let label = host_name(&long);
        let label = label.strip_suffix(".local.").unwrap();
        assert!(label.len() <= 63 && !label.contains('.'), "{label}");
    }

    fn found(instance: &str, node: &str, address: &str) -> FoundPeer {
        FoundPeer {
            instance: instance.into(),
            office: OfficeId::new("zeitz").unwrap(),
            node: NodeId::new(node).unwrap(),
            role: Role::Desk,
            address: address.parse().unwrap(),
        }
    }

    #[test]
    fn the_book_dials_once_and_gives_up_only_when_gone_and_dead_for_long() {
        let start = Instant::now();
        let forget = Duration::from_secs(600);
        let mut book = PeerBook::new(forget);
        let desk = found("desk-1._aufruf._tcp.local.", "desk-1", "10.0.0.2:7340");
        let address = desk.address;
        let none = BTreeSet::new();
        let live: BTreeSet<NodeId> = [desk.node.clone()].into();

        assert_eq!(
            book.found(&desk, start, &[]),
            vec![PeerAction::Dial(address)]
        );
        assert_eq!(book.found(&desk, start, &[]), vec![]);
        // Announced but dead for ages: keep dialling (mDNS may lag, TLS decides).
        assert!(book.check(start + forget * 3, &none, &[]).is_empty());
        // Removed while the session lives: keep.
        book.removed(&desk.instance);
        assert!(book.check(start + forget * 3, &live, &[]).is_empty());
        // Removed and dead, but not for long enough yet.
        let died = start + forget * 3;
        assert!(book.check(died + forget / 2, &none, &[]).is_empty());
        assert_eq!(
            book.check(died + forget, &none, &[]),
            vec![PeerAction::StopDialling(address)]
        );
        assert_eq!(book.dialled().count(), 0);
        // Announced again: dialled again.
        assert_eq!(
            book.found(&desk, died + forget * 2, &[]),
            vec![PeerAction::Dial(address)]
        );
    }

    #[test]
    fn the_book_leaves_static_peers_alone_and_tracks_address_changes() {
        let start = Instant::now();
        let forget = Duration::from_secs(60);
        let mut book = PeerBook::new(forget);
        let none = BTreeSet::new();
        let statics: Vec<SocketAddr> = vec!["10.0.0.2:7340".parse().unwrap()];
        let desk = found("desk-1._aufruf._tcp.local.", "desk-1", "10.0.0.2:7340");
        assert_eq!(book.found(&desk, start, &statics), vec![]);
        book.removed(&desk.instance);
        assert!(book.check(start + forget * 2, &none, &statics).is_empty());

        // The node moves: dialled at the new address; the static one is kept.
        let moved = found("desk-1._aufruf._tcp.local.", "desk-1", "10.0.0.9:7340");
        assert_eq!(book.found(&desk, start, &statics), vec![], "static again");
        assert_eq!(
            book.found(&moved, start, &statics),
            vec![PeerAction::Dial(moved.address)]
        );
        // It moves again: the discovered old address is replaced at once.
        let moved_again = found("desk-1._aufruf._tcp.local.", "desk-1", "10.0.0.10:7340");
        assert_eq!(
            book.found(&moved_again, start, &statics),
            vec![
                PeerAction::StopDialling(moved.address),
                PeerAction::Dial(moved_again.address)
            ]
        );
        assert_eq!(
            book.dialled().map(|(a, _)| *a).collect::<Vec<_>>(),
            vec![moved_again.address]
        );
        // An address another instance still announces is not replaced.
        let twin = found("twin._aufruf._tcp.local.", "desk-1", "10.0.0.10:7340");
        assert_eq!(book.found(&twin, start, &statics), vec![]);
        let moved_third = found("desk-1._aufruf._tcp.local.", "desk-1", "10.0.0.11:7340");
        assert_eq!(
            book.found(&moved_third, start, &statics),
            vec![PeerAction::Dial(moved_third.address)]
        );
        assert!(book.check(start + forget * 9, &none, &statics).is_empty());
    }

    #[test]
    fn an_instance_taken_over_by_another_node_does_not_stop_the_first() {
        let start = Instant::now();
        let mut book = PeerBook::new(Duration::from_secs(60));
        let first = found("desk-1._aufruf._tcp.local.", "desk-1", "10.0.0.2:7340");
        let other = found("desk-1._aufruf._tcp.local.", "desk-2", "10.0.0.3:7340");
        assert_eq!(
            book.found(&first, start, &[]),
            vec![PeerAction::Dial(first.address)]
        );
        assert_eq!(
            book.found(&other, start, &[]),
            vec![PeerAction::Dial(other.address)]
        );
        // desk-1 is no longer announced: given up only once dead for long.
        let live: BTreeSet<NodeId> = [first.node.clone()].into();
        assert!(
            book.check(start + Duration::from_secs(600), &live, &[])
                .is_empty()
        );
        assert_eq!(
            book.check(start + Duration::from_secs(660), &BTreeSet::new(), &[]),
            vec![PeerAction::StopDialling(first.address)]
        );
    }

    fn txt_key() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("office".to_string()),
            Just("node".to_string()),
            Just("ROLE".to_string()),
            Just("proto".to_string()),
            ".{0,12}",
        ]
    }

    fn txt_value() -> impl Strategy<Value = Option<Vec<u8>>> {
        prop_oneof![
            Just(None),
            proptest::collection::vec(any::<u8>(), 0..300).prop_map(Some),
            prop_oneof![
                Just("zeitz"),
                Just("desk-1"),
                Just("kiosk-1"),
                Just("1"),
                Just("2"),
                Just("65536"),
                Just("-1"),
                Just(" 1"),
            ]
            .prop_map(|v| Some(v.as_bytes().to_vec())),
        ]
    }

    fn seen_address() -> impl Strategy<Value = SeenAddress> {
        (any::<IpAddr>(), prop_oneof![Just(0u32), any::<u32>()])
            .prop_map(|(ip, scope_id)| SeenAddress { ip, scope_id })
    }

    proptest! {
        #[test]
        fn arbitrary_txt_and_addresses_never_panic_and_only_dialable_addresses_come_out(
            txt in proptest::collection::vec((txt_key(), txt_value()), 0..10),
            addresses in proptest::collection::vec(seen_address(), 0..6),
            port in any::<u16>(),
            ipv4 in any::<bool>(),
            ipv6 in any::<bool>(),
            loopback in any::<bool>(),
        ) {
            let seen = Sighting { instance: "x._aufruf._tcp.local.".into(), port, addresses, txt };
            let policy = InterfacePolicy { ipv4, ipv6, loopback, ..InterfacePolicy::default() };
            let decided = decide(&own(), &policy, &seen);
            let _ = decided.as_ref().map_err(ToString::to_string);
            if let Ok(peer) = decided {
                prop_assert_eq!(&peer.office, &own().office);
                prop_assert_ne!(&peer.node, &own().node);
                prop_assert_eq!(peer.address.port(), port);
                prop_assert!(port != 0);
                prop_assert!(seen.addresses.iter().any(|a| a.ip == peer.address.ip()));
                prop_assert!(loopback || !peer.address.ip().is_loopback());
                match peer.address {
                    SocketAddr::V4(_) => prop_assert!(ipv4),
                    SocketAddr::V6(v6) => {
                        prop_assert!(ipv6);
                        prop_assert!(!is_link_local_v6(v6.ip()) || v6.scope_id() != 0);
                    }
                }
            }
        }
    }
}
