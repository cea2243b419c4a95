//! The tokio shell: TCP with rustls mutual TLS between the office's nodes, the
//! length-prefixed framing, the accept loop, dialling static peers with back-off and
//! jitter, and the clock that ticks the protocol core.
//!
//! A frame on the wire is a `u32` big-endian length and that many bytes; a length
//! over [`Limits::max_frame_len`](crate::protocol::Limits) ends the connection before
//! anything is allocated, and a frame's buffer grows only as its bytes arrive. TLS
//! handshakes run in their own tasks, never in the accept loop, at most
//! [`MAX_HANDSHAKES`] at once, so slow or hostile clients cannot stall the others or
//! pile up; a failing `accept` (e.g. no file descriptors left) backs off. Each
//! certified node has one session: when two nodes dial each other, both keep the
//! connection the node with the smaller id dialled. Liveness comes from the session's
//! heartbeats (in the core), not from discovery.
//!
//! **Architecture Invariant**: only certificates chained to the office CA are
//! accepted, in both directions, and the certificate's node id must match the
//! node id the peer says in its hello. The crypto provider is always passed in;
//! nothing relies on rustls' process-wide default.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio_rustls::{TlsAcceptor, TlsConnector};

use crate::address::{Address, LookupError};
use crate::name::{NodeId, OfficeId};
use crate::protocol::SessionError;
use crate::replica::{Outgoing, Replica};
use crate::trust::{self, NodeCredentials, TrustError};

/// What went wrong setting up the network.
#[derive(Debug, thiserror::Error)]
pub enum NetError {
    /// A certificate or key could not be read.
    #[error("credentials: {0}")]
    Credentials(String),
    /// rustls refused the configuration.
    #[error("tls: {0}")]
    Tls(#[from] rustls::Error),
    /// The client verifier could not be built.
    #[error("tls client verifier: {0}")]
    Verifier(#[from] rustls::server::VerifierBuilderError),
    /// Binding the listener failed.
    #[error("listen on {address}: {source}")]
    Listen {
        /// The address.
        address: SocketAddr,
        /// The error.
        source: std::io::Error,
    },
    /// Certificate handling failed.
    #[error(transparent)]
    Trust(#[from] TrustError),
}

/// TLS handshakes in progress at once; further connections are closed at once.
pub const MAX_HANDSHAKES: usize = 16;
/// How long accepting pauses after `accept` failed.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(200);
/// A frame's buffer grows by at most this much before its bytes have arrived.
const READ_CHUNK: usize = 64 * 1024;

/// Where to listen, whom to dial, how patiently.
#[derive(Clone, Debug)]
pub struct NetConfig {
    /// Address to listen on; port 0 picks a free one.
    pub listen: SocketAddr,
    /// Peers to dial and keep dialling (the fallback when multicast is blocked): IP
    /// addresses, or host names looked up again at every try.
    pub static_peers: Vec<Address>,
    /// First wait before redialling a peer.
    pub reconnect_min: Duration,
    /// Longest wait before redialling a peer.
    pub reconnect_max: Duration,
    /// How often the core's clock ticks (heartbeats, silence).
    pub tick_every: Duration,
    /// Longest a TCP connect plus TLS handshake may take.
    pub handshake_within: Duration,
}

impl Default for NetConfig {
    fn default() -> Self {
        NetConfig {
            listen: SocketAddr::from(([0, 0, 0, 0], 7340)),
            static_peers: Vec::new(),
            reconnect_min: Duration::from_millis(200),
            reconnect_max: Duration::from_secs(10),
            tick_every: Duration::from_millis(250),
            handshake_within: Duration::from_secs(5),
        }
    }
}

/// The TLS side of a node: server and client configurations for the office.
#[derive(Clone)]
pub struct Tls {
    acceptor: TlsAcceptor,
    connector: TlsConnector,
    server_name: ServerName<'static>,
}

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tls")
            .field("server_name", &self.server_name)
            .finish_non_exhaustive()
    }
}

impl Tls {
    /// Builds mutual-TLS configurations (TLS 1.3 only) trusting only the office CA
    /// in `credentials`, with the given crypto provider.
    pub fn new(
        credentials: &NodeCredentials,
        office: &OfficeId,
        provider: Arc<CryptoProvider>,
    ) -> Result<Tls, NetError> {
        let bad = |what: &str, e: rustls::pki_types::pem::Error| {
            NetError::Credentials(format!("{what}: {e}"))
        };
        let certificate = CertificateDer::from_pem_slice(credentials.certificate_pem.as_bytes())
            .map_err(|e| bad("node certificate", e))?;
        let ca = CertificateDer::from_pem_slice(credentials.ca_certificate_pem.as_bytes())
            .map_err(|e| bad("office CA certificate", e))?;
        let key = PrivateKeyDer::from_pem_slice(credentials.key_pem.as_bytes())
            .map_err(|e| bad("node key", e))?;
        let mut roots = RootCertStore::empty();
        roots.add(ca)?;
        let roots = Arc::new(roots);
        let verifier =
            WebPkiClientVerifier::builder_with_provider(roots.clone(), provider.clone()).build()?;
        let server = ServerConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(&[&rustls::version::TLS13])?
            .with_client_cert_verifier(verifier)
            .with_single_cert(vec![certificate.clone()], key.clone_key())?;
        let client = ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS13])?
            .with_root_certificates(roots)
            .with_client_auth_cert(vec![certificate], key)?;
        let server_name = ServerName::try_from(trust::office_server_name(office))
            .map_err(|e| NetError::Credentials(format!("office name: {e}")))?;
        Ok(Tls {
            acceptor: TlsAcceptor::from(Arc::new(server)),
            connector: TlsConnector::from(Arc::new(client)),
            server_name,
        })
    }
}

/// A node on the network; dropping it (or [`Network::shutdown`]) ends every task.
#[derive(Debug)]
pub struct Network {
    local_addr: SocketAddr,
    shutdown: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
    /// Every session task holds a sender; when all are dropped, all sessions ended.
    sessions_done: mpsc::Receiver<()>,
    session_token: Option<mpsc::Sender<()>>,
    replica: Arc<Replica>,
    tls: Tls,
    config: NetConfig,
    stop: watch::Receiver<bool>,
    traffic: Arc<Traffic>,
    sessions: Arc<Sessions>,
    diallers: BTreeMap<Address, watch::Sender<bool>>,
}

/// Ends and refuses the sessions of revoked nodes ([`Network::revoker`]).
#[derive(Debug, Clone)]
pub struct Revoker(Arc<Sessions>);

impl Revoker {
    /// Ends the session with `node` and refuses its sessions from now on.
    pub fn revoke(&self, node: &NodeId) {
        self.0.revoke(node);
    }
}

/// Bytes this node's sessions have read and written (frames with their prefixes).
#[derive(Debug, Default)]
pub struct Traffic {
    /// Bytes received.
    pub received: AtomicU64,
    /// Bytes sent.
    pub sent: AtomicU64,
}

/// Binds, then runs the accept loop, one dialler per static peer and the ticker.
pub async fn start(
    replica: Arc<Replica>,
    tls: Tls,
    config: NetConfig,
) -> Result<Network, NetError> {
    let listener = TcpListener::bind(config.listen)
        .await
        .map_err(|source| NetError::Listen {
            address: config.listen,
            source,
        })?;
    let local_addr = listener.local_addr().map_err(|source| NetError::Listen {
        address: config.listen,
        source,
    })?;
    let (shutdown, stop) = watch::channel(false);
    let (session_token, sessions_done) = mpsc::channel(1);
    let traffic = Arc::new(Traffic::default());
    let sessions = Arc::new(Sessions::default());
    let accepting = tokio::spawn(accept_loop(
        listener,
        Shared {
            replica: replica.clone(),
            tls: tls.clone(),
            config: config.clone(),
            stop: stop.clone(),
            _session_token: session_token.clone(),
            traffic: traffic.clone(),
            sessions: sessions.clone(),
        },
    ));
    let ticking = tokio::spawn(tick_loop(replica.clone(), config.tick_every, stop.clone()));
    tracing::info!(%local_addr, node = %replica.identity().node, "listening for office peers");
    let mut network = Network {
        local_addr,
        shutdown,
        tasks: vec![accepting, ticking],
        sessions_done,
        session_token: Some(session_token),
        replica,
        tls,
        config: config.clone(),
        stop,
        traffic,
        sessions,
        diallers: BTreeMap::new(),
    };
    for peer in &config.static_peers {
        network.add_peer(peer.clone());
    }
    Ok(network)
}

/// What every connection task needs.
#[derive(Clone)]
struct Shared {
    replica: Arc<Replica>,
    tls: Tls,
    config: NetConfig,
    stop: watch::Receiver<bool>,
    /// Held, never used: its drop tells `Network::shutdown` the task ended.
    _session_token: mpsc::Sender<()>,
    traffic: Arc<Traffic>,
    sessions: Arc<Sessions>,
}

/// The live session with each certified node, so there is one per node.
#[derive(Debug, Default)]
struct Sessions {
    by_node: std::sync::Mutex<BTreeMap<NodeId, LiveSession>>,
    next_id: AtomicU64,
    /// Nodes the office revoked: their sessions end, new ones are refused.
    revoked: std::sync::Mutex<std::collections::BTreeSet<NodeId>>,
}

#[derive(Debug)]
struct LiveSession {
    id: u64,
    dialled_by_us: bool,
    /// Ends the session when it loses to another with the same node.
    end: watch::Sender<bool>,
}

impl Sessions {
    /// Registers a session with `peer`; `None` when an existing session with it is
    /// the one to keep (this one then ends at once). Of two sessions dialled in
    /// opposite directions the one dialled by the node with the smaller id is kept,
    /// which both ends agree on; of two in the same direction the newer (the older
    /// may belong to a peer that restarted and is not yet found silent).
    fn register(
        &self,
        us: &NodeId,
        peer: &NodeId,
        dialled_by_us: bool,
    ) -> Option<(u64, watch::Receiver<bool>)> {
        let mut by_node = self
            .by_node
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if self.is_revoked(peer) {
            tracing::warn!(%peer, "the office revoked this node; its session is refused");
            return None;
        }
        let preferred = |dialled_by_us: bool| dialled_by_us == (us < peer);
        if let Some(existing) = by_node.get(peer) {
            if existing.dialled_by_us != dialled_by_us && preferred(existing.dialled_by_us) {
                return None;
            }
            let _ = existing.end.send(true);
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (end, ended) = watch::channel(false);
        by_node.insert(
            peer.clone(),
            LiveSession {
                id,
                dialled_by_us,
                end,
            },
        );
        Some((id, ended))
    }

    fn is_revoked(&self, peer: &NodeId) -> bool {
        self.revoked
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .contains(peer)
    }

    /// Ends the session with `peer` and refuses it from now on.
    fn revoke(&self, peer: &NodeId) {
        // The same lock order as `register`: no session registers between the two.
        let by_node = self
            .by_node
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        self.revoked
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(peer.clone());
        if let Some(live) = by_node.get(peer) {
            let _ = live.end.send(true);
        }
    }

    fn unregister(&self, peer: &NodeId, id: u64) {
        let mut by_node = self
            .by_node
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if by_node.get(peer).is_some_and(|s| s.id == id) {
            by_node.remove(peer);
        }
    }
}

impl Network {
    /// The address the node listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Ends the session with `node` and refuses its sessions from now on: the office
    /// revoked it.
    pub fn revoke(&self, node: &NodeId) {
        self.sessions.revoke(node);
    }

    /// A handle that can revoke nodes while the network runs elsewhere.
    pub fn revoker(&self) -> Revoker {
        Revoker(self.sessions.clone())
    }

    /// Starts dialling one more peer (and redialling it whenever the session ends),
    /// e.g. one found by discovery.
    pub fn add_peer(&mut self, address: impl Into<Address>) {
        let address = address.into();
        let Some(session_token) = self.session_token.clone() else {
            return;
        };
        if self.diallers.contains_key(&address) {
            return;
        }
        // This dialler stops when the node shuts down or the peer is removed.
        let (stop_dialler, stop) = watch::channel(false);
        let mut node_stop = self.stop.clone();
        let forward = stop_dialler.clone();
        self.tasks.push(tokio::spawn(async move {
            tokio::select! {
                _ = node_stop.changed() => {}
                _ = forward.closed() => return,
            }
            let _ = forward.send(true);
        }));
        let jitter = Jitter::new(&self.replica.identity().node, &address);
        self.diallers.insert(address.clone(), stop_dialler);
        self.tasks.push(tokio::spawn(dial_forever(
            address,
            jitter,
            Shared {
                replica: self.replica.clone(),
                tls: self.tls.clone(),
                config: self.config.clone(),
                stop,
                _session_token: session_token,
                traffic: self.traffic.clone(),
                sessions: self.sessions.clone(),
            },
        )));
    }

    /// Stops dialling a peer and ends the session with it that this node dialled
    /// (e.g. when discovery says it is gone for good, or to split an office in a
    /// benchmark).
    pub fn remove_peer(&mut self, address: impl Into<Address>) {
        if let Some(stop) = self.diallers.remove(&address.into()) {
            let _ = stop.send(true);
        }
    }

    /// Bytes read and written by this node's sessions so far.
    pub fn traffic(&self) -> &Traffic {
        &self.traffic
    }

    /// Ends all connections and tasks and waits for them, so that afterwards no
    /// task holds the replica (and its store) any more.
    pub async fn shutdown(mut self) {
        let _ = self.shutdown.send(true);
        for task in std::mem::take(&mut self.tasks) {
            let _ = task.await;
        }
        self.session_token = None;
        // Returns `None` once every session task has dropped its token.
        let _ = self.sessions_done.recv().await;
    }
}

impl Drop for Network {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
    }
}

/// The wait before redial number `attempt` (0-based): doubling from `min` up to
/// `max`, then scaled by a jitter factor in `[0.5, 1.0)` from `unit` in `[0, 1)`
/// so the peers of a rebooted office do not all redial in step.
pub fn reconnect_delay(attempt: u32, min: Duration, max: Duration, unit: f64) -> Duration {
    let doubled = min.saturating_mul(1u32 << attempt.min(20));
    let capped = doubled.min(max);
    capped.mul_f64(0.5 + unit.clamp(0.0, 1.0) / 2.0)
}

/// A small deterministic generator for jitter, seeded per node and peer (no
/// randomness crate needed, and runs are reproducible).
#[derive(Debug)]
struct Jitter(u64);

impl Jitter {
    fn new(node: &NodeId, peer: &Address) -> Self {
        use std::hash::{Hash, Hasher};
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        node.hash(&mut hasher);
        peer.hash(&mut hasher);
        Jitter(hasher.finish() | 1)
    }

    /// xorshift64*, mapped to `[0, 1)`.
    fn next_unit(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        let value = self.0.wrapping_mul(0x2545_F491_4F6C_DD1D);
        (value >> 11) as f64 / (1u64 << 53) as f64
    }
}

async fn accept_loop(listener: TcpListener, shared: Shared) {
    let mut stop = shared.stop.clone();
    let handshakes = Arc::new(tokio::sync::Semaphore::new(MAX_HANDSHAKES));
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = stop.changed() => return,
        };
        let (tcp, address) = match accepted {
            Ok(accepted) => accepted,
            Err(error) => {
                tracing::warn!(%error, "accept failed; pausing");
                tokio::select! {
                    () = tokio::time::sleep(ACCEPT_BACKOFF) => continue,
                    _ = stop.changed() => return,
                }
            }
        };
        let Ok(handshaking) = handshakes.clone().try_acquire_owned() else {
            tracing::info!(%address, "too many TLS handshakes at once; connection closed");
            continue;
        };
        let _ = tcp.set_nodelay(true);
        let shared = shared.clone();
        tokio::spawn(async move {
            let within = shared.config.handshake_within;
            let accepting = shared.tls.acceptor.accept(tcp);
            let mut stop = shared.stop.clone();
            let handshake = tokio::select! {
                handshake = tokio::time::timeout(within, accepting) => handshake,
                _ = stop.changed() => return,
            };
            drop(handshaking);
            let stream = match handshake {
                Ok(Ok(stream)) => stream,
                Ok(Err(error)) => {
                    tracing::info!(%address, %error, "TLS handshake refused");
                    return;
                }
                Err(_) => {
                    tracing::info!(%address, "TLS handshake timed out");
                    return;
                }
            };
            let certified = certified_node(stream.get_ref().1.peer_certificates());
            match certified {
                Ok(node) => run_session(&shared, stream, node, false).await,
                Err(error) => tracing::info!(%address, %error, "peer certificate unusable"),
            }
        });
    }
}

async fn dial_forever(address: Address, mut jitter: Jitter, shared: Shared) {
    let config = &shared.config;
    let mut stop = shared.stop.clone();
    let mut attempt = 0u32;
    // A name that has no address is a mistake in the set-up file or in DNS: said
    // once as a warning (and again after it was found), then quietly retried.
    let mut unresolved = false;
    loop {
        let started = tokio::time::Instant::now();
        let dialled = tokio::select! {
            dialled = tokio::time::timeout(
                config.handshake_within,
                dial(&address, &shared.tls, config.handshake_within),
            ) => dialled,
            _ = stop.changed() => return,
        };
        match dialled {
            Ok(Ok((stream, node))) => {
                unresolved = false;
                run_session(&shared, stream, node, true).await;
                if started.elapsed() >= config.reconnect_max {
                    attempt = 0;
                }
            }
            Ok(Err(DialError::Lookup(error))) => {
                if unresolved {
                    tracing::debug!(%address, %error, "peer not found");
                } else {
                    tracing::warn!(%address, %error, "peer not found; trying again");
                }
                unresolved = true;
            }
            Ok(Err(error)) => {
                unresolved = false;
                tracing::debug!(%address, %error, "dial failed");
            }
            Err(_) => tracing::debug!(%address, "dial timed out"),
        }
        if *stop.borrow() {
            return;
        }
        let delay = reconnect_delay(
            attempt,
            config.reconnect_min,
            config.reconnect_max,
            jitter.next_unit(),
        );
        attempt = attempt.saturating_add(1);
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = stop.changed() => return,
        }
    }
}

/// Why one try to reach a peer failed.
#[derive(Debug, thiserror::Error)]
enum DialError {
    #[error(transparent)]
    Lookup(#[from] LookupError),
    #[error("connect: {0}")]
    Connect(std::io::Error),
    #[error(transparent)]
    Trust(#[from] TrustError),
}

/// Reaches `address`: its one IP address, or the addresses its name has now (at most
/// eight, tried in the resolver's order). The lookup takes at most `lookup_within`;
/// the caller bounds the lookup and the connections together.
async fn dial(
    address: &Address,
    tls: &Tls,
    lookup_within: Duration,
) -> Result<(tokio_rustls::client::TlsStream<TcpStream>, NodeId), DialError> {
    let addresses = address.lookup(lookup_within).await?;
    let tcp = TcpStream::connect(addresses.as_slice())
        .await
        .map_err(DialError::Connect)?;
    let _ = tcp.set_nodelay(true);
    let stream = tls
        .connector
        .connect(tls.server_name.clone(), tcp)
        .await
        .map_err(DialError::Connect)?;
    let node = certified_node(stream.get_ref().1.peer_certificates())?;
    Ok((stream, node))
}

async fn tick_loop(replica: Arc<Replica>, every: Duration, mut stop: watch::Receiver<bool>) {
    let mut interval = tokio::time::interval(every);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = interval.tick() => {
                // A tick may flush and compact: blocking work, off the runtime's
                // workers.
                let replica = replica.clone();
                let _ = tokio::task::spawn_blocking(move || replica.tick()).await;
            }
            _ = stop.changed() => return,
        }
    }
}

fn certified_node(certificates: Option<&[CertificateDer<'_>]>) -> Result<NodeId, TrustError> {
    let first = certificates
        .and_then(|chain| chain.first())
        .ok_or(TrustError::NotANodeCertificate)?;
    trust::node_of_certificate(first)
}

/// Runs one peer session over an established TLS stream until either side ends it,
/// or another session with the same node takes its place.
async fn run_session<S>(shared: &Shared, stream: S, certified: NodeId, dialled_by_us: bool)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let replica = &shared.replica;
    let us = replica.identity().node;
    let Some((session, mut replaced)) = shared.sessions.register(&us, &certified, dialled_by_us)
    else {
        tracing::debug!(peer = %certified, "a session with this node runs already; closing this one");
        return;
    };
    let mut stop = shared.stop.clone();
    let (connection, mut outgoing) = replica.connect(Some(certified.clone()));
    let max_frame_len = replica.limits().max_frame_len;
    let (mut reader, mut writer) = tokio::io::split(stream);
    let reading = read_frames(&mut reader, max_frame_len, |frame| {
        shared
            .traffic
            .received
            .fetch_add(4 + frame.len() as u64, Ordering::Relaxed);
        replica.receive(connection, frame);
    });
    let writing = async {
        while let Some(outgoing) = outgoing.recv().await {
            match outgoing {
                Outgoing::Frame(frame) => {
                    // The core never hands out frames over the limit, which is far
                    // below u32::MAX.
                    let len = u32::try_from(frame.len()).unwrap_or(u32::MAX);
                    writer.write_all(&len.to_be_bytes()).await?;
                    writer.write_all(&frame).await?;
                    writer.flush().await?;
                    shared
                        .traffic
                        .sent
                        .fetch_add(4 + frame.len() as u64, Ordering::Relaxed);
                    replica.sent(connection, frame.len());
                }
                Outgoing::Close(error) => {
                    tracing::info!(peer = %certified, %error, "session ended by protocol");
                    writer.shutdown().await?;
                    return Ok(());
                }
            }
        }
        Ok::<(), std::io::Error>(())
    };
    tokio::select! {
        ended = reading => match ended {
            ReadEnd::Refused(error) => {
                tracing::info!(peer = %certified, %error, "ending peer session");
            }
            ReadEnd::Io(error) => tracing::info!(peer = %certified, %error, "connection closed"),
        },
        result = writing => {
            if let Err(error) = result {
                tracing::info!(peer = %certified, %error, "connection write failed");
            }
        }
        _ = stop.changed() => {}
        _ = replaced.wait_for(|r| *r) => {
            tracing::debug!(peer = %certified, "another session with this node is kept; closing this one");
        }
    }
    replica.disconnect(connection);
    shared.sessions.unregister(&certified, session);
}

/// Why a connection stopped delivering frames.
#[derive(Debug)]
enum ReadEnd {
    /// The stream ended or failed (a frame cut short shows up here as
    /// `UnexpectedEof`).
    Io(std::io::Error),
    /// The length prefix announced a frame over the limit; nothing was allocated.
    Refused(SessionError),
}

/// Reads length-prefixed frames and hands each to `deliver` until the stream ends
/// or a frame is refused.
async fn read_frames<R>(
    reader: &mut R,
    max_frame_len: usize,
    mut deliver: impl FnMut(&[u8]),
) -> ReadEnd
where
    R: AsyncRead + Unpin,
{
    let mut frame = Vec::new();
    loop {
        let mut prefix = [0u8; 4];
        if let Err(error) = reader.read_exact(&mut prefix).await {
            return ReadEnd::Io(error);
        }
        let len = usize::try_from(u32::from_be_bytes(prefix)).unwrap_or(usize::MAX);
        if len > max_frame_len {
            return ReadEnd::Refused(SessionError::Oversized {
                len,
                max: max_frame_len,
            });
        }
        // The buffer grows with the bytes that arrive, a chunk at a time: a peer
        // announcing a large frame and sending nothing costs nothing.
        frame.clear();
        while frame.len() < len {
            let start = frame.len();
            frame.resize(start + (len - start).min(READ_CHUNK), 0);
            match reader.read(&mut frame[start..]).await {
                Ok(0) => return ReadEnd::Io(std::io::ErrorKind::UnexpectedEof.into()),
                Ok(n) => frame.truncate(start + n),
                Err(error) => return ReadEnd::Io(error),
            }
        }
        deliver(&frame);
        // A large frame's buffer is not kept for the small ones that follow.
        if frame.capacity() > READ_CHUNK {
            frame = Vec::new();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_oversized_length_prefix_is_refused_before_allocating() {
        let mut wire: &[u8] = &[0, 0, 0, 3, 4, 4, 4, 0xff, 0xff, 0xff, 0xff];
        let mut frames = Vec::new();
        let ended = read_frames(&mut wire, 1024, |frame| frames.push(frame.to_vec())).await;
        assert_eq!(frames, vec![vec![4, 4, 4]]);
        assert!(matches!(
            ended,
            ReadEnd::Refused(SessionError::Oversized {
                len: 0xffff_ffff,
                max: 1024
            })
        ));
        let mut cut_short: &[u8] = &[0, 0, 0, 9, 1, 2];
        let ended = read_frames(&mut cut_short, 1024, |_| panic!("no whole frame")).await;
        assert!(matches!(ended, ReadEnd::Io(e) if e.kind() == std::io::ErrorKind::UnexpectedEof));
    }

    #[tokio::test]
    async fn a_frame_announced_but_not_sent_allocates_nothing_ahead() {
        // 16 MiB announced, 3 bytes sent, then the stream ends.
        let mut wire: &[u8] = &[1, 0, 0, 0, 7, 7, 7];
        let ended = read_frames(&mut wire, 32 << 20, |_| panic!("no whole frame")).await;
        assert!(matches!(ended, ReadEnd::Io(e) if e.kind() == std::io::ErrorKind::UnexpectedEof));
        // A frame larger than one read chunk arrives whole.
        let big = vec![9u8; 3 * READ_CHUNK + 5];
        let mut bytes = u32::try_from(big.len()).unwrap().to_be_bytes().to_vec();
        bytes.extend_from_slice(&big);
        bytes.extend_from_slice(&[0, 0, 0, 1, 42]);
        let mut wire: &[u8] = &bytes;
        let mut frames = Vec::new();
        read_frames(&mut wire, 32 << 20, |frame| frames.push(frame.to_vec())).await;
        assert_eq!(frames, vec![big, vec![42]]);
    }

    #[test]
    fn two_sessions_with_one_node_leave_the_one_both_ends_agree_on() {
        let (a, b) = (
            NodeId::new("desk-1").unwrap(),
            NodeId::new("kiosk-1").unwrap(),
        );
        // a < b: both keep the session a dialled.
        let at_a = Sessions::default();
        let (_, a_dialled) = at_a.register(&a, &b, true).unwrap();
        assert!(
            at_a.register(&a, &b, false).is_none(),
            "b's dial loses at a"
        );
        let at_b = Sessions::default();
        let (b_dialled_id, b_dialled) = at_b.register(&b, &a, true).unwrap();
        let (a_dialled_id, _) = at_b.register(&b, &a, false).expect("a's dial wins at b");
        assert!(*b_dialled.borrow(), "b's own dial is ended");
        assert!(!*a_dialled.borrow());
        // The ended one unregistering does not remove the winner.
        at_b.unregister(&a, b_dialled_id);
        assert!(at_b.register(&b, &a, true).is_none());
        at_b.unregister(&a, a_dialled_id);
        // A newer session in the same direction replaces an older one (the peer
        // may have restarted).
        let (_, newer) = at_a.register(&a, &b, true).unwrap();
        assert!(*a_dialled.borrow(), "the older was replaced by the newer");
        assert!(!*newer.borrow());
    }

    #[test]
    fn reconnect_delays_double_up_to_the_cap_with_jitter() {
        let min = Duration::from_millis(200);
        let max = Duration::from_secs(10);
        assert_eq!(
            reconnect_delay(0, min, max, 0.0),
            Duration::from_millis(100)
        );
        assert!(reconnect_delay(0, min, max, 0.999) < min);
        assert_eq!(
            reconnect_delay(3, min, max, 0.0),
            Duration::from_millis(800)
        );
        assert_eq!(reconnect_delay(30, min, max, 0.0), Duration::from_secs(5));
        let mut jitter = Jitter::new(
            &NodeId::new("desk-1").unwrap(),
            &Address::from(SocketAddr::from(([127, 0, 0, 1], 1))),
        );
        let units: Vec<f64> = (0..100).map(|_| jitter.next_unit()).collect();
        assert!(units.iter().all(|u| (0.0..1.0).contains(u)));
        assert!(units.windows(2).any(|w| w[0] != w[1]));
    }
}
