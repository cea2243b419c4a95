//! The tokio part of discovery: runs the mdns-sd daemon (announce and browse),
//! forwards what it resolves as [`PeerEvent`]s, and applies them to a [`Network`]
//! ([`dial_discovered`]).

use std::collections::{BTreeSet, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use mdns_sd::{IfKind, IfPredicate, ScopedIp, ServiceDaemon, ServiceEvent, ServiceInfo};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use super::decision::{AddressMemory, host_name};
use super::{
    CHECK_EVERY, FORGET_AFTER, FoundPeer, Ignored, InterfacePolicy, PeerAction, PeerBook,
    SERVICE_TYPE, SeenAddress, Sighting, decide, txt_records,
};
use crate::name::NodeId;
use crate::net::Network;
use crate::protocol::Identity;
use crate::replica::Replica;

/// Events buffered for the caller before further ones are dropped (they are hints,
/// and mdns-sd stops a browse whose receiver falls behind).
const EVENT_BUFFER: usize = 1024;

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

impl Sighting {
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
