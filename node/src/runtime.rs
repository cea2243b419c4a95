//! A running node: its replica and store, the mutual-TLS network, the local API, the
//! watcher that keeps the views current as peers' changes arrive, and the day
//! rollover. [`start`] brings it all up; [`RunningNode::shutdown`] takes it down with
//! the store flushed and the peers told.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use aufruf_hardware::TicketPrinter;
use aufruf_model::calendar;
use aufruf_model::config::BookingSettings;
use aufruf_model::{OfficeConfig, Timestamp};
use aufruf_office::authority::Authority;
use aufruf_office::office_doc;
use aufruf_sync::discovery::{Discovery, InterfacePolicy, dial_discovered};
use aufruf_sync::net::{self, NetConfig, Network, Tls};
use aufruf_sync::protocol::{Identity, Limits};
use aufruf_sync::{DocumentName, Replica};
use tokio::sync::{Mutex, broadcast, watch};
use tokio::task::JoinHandle;

use crate::address::Address;
use crate::credentials;
use crate::replica::NodeReplica;
use crate::settings::{NodeSettings, Role};
use crate::state::{NodeState, wall_clock};

/// Why a node could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("[node] id: {0}")]
    Id(String),
    #[error(
        "store {path}: {message}; it was left as it is: fix the cause and start the node again"
    )]
    Store { path: String, message: String },
    #[error("credentials: {0}")]
    Credentials(#[from] credentials::CredentialsError),
    #[error("network: {0}")]
    Network(#[from] net::NetError),
    #[error("[printer]: {0}")]
    Printer(String),
    #[error("{0}")]
    Service(String),
    #[error("portal: {0}")]
    Portal(String),
    #[error("local API on {address}: {source}")]
    Api {
        address: SocketAddr,
        #[source]
        source: std::io::Error,
    },
}

/// A node that runs until [`RunningNode::shutdown`].
#[derive(Debug)]
pub struct RunningNode {
    pub state: Arc<NodeState>,
    pub api_addr: SocketAddr,
    pub sync_addr: SocketAddr,
    /// Where the gateway serves the citizen portal, if it does.
    pub portal_addr: Option<SocketAddr>,
    /// Shared with the mDNS task, which adds the peers it finds.
    network: Arc<Mutex<Option<Network>>>,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

/// Starts a node as its settings say, on the office's configuration: the newest the
/// office has published, or `config` from the device's own file, or — when neither is
/// there yet — the first one a peer brings (the node waits for it).
pub async fn start(
    config: Option<OfficeConfig>,
    settings: NodeSettings,
) -> Result<RunningNode, StartError> {
    let office = settings
        .office
        .clone()
        .or_else(|| config.as_ref().map(|c| c.office.id.clone()))
        .ok_or_else(|| StartError::Id("the office is not named in [node] office".into()))?;
    let office_id = office.as_str().to_owned();
    let node = settings.id.clone();
    let identity = Identity {
        office: office.clone(),
        node: node.clone(),
        role: settings.role,
    };
    let now = SystemTime::now();
    let opened =
        Replica::open(&settings.store, identity.clone(), Limits::default(), now).map_err(|e| {
            StartError::Store {
                path: settings.store.display().to_string(),
                message: e.to_string(),
            }
        })?;
    if let Some(aside) = &opened.moved_aside {
        tracing::warn!(
            moved_to = %aside.display(),
            "the local store could not be opened; it was moved aside and is rebuilt from peers"
        );
    }
    let replica = Arc::new(opened.replica);
    if settings.only_device {
        let declared = replica
            .declare_only_device()
            .map_err(|e| StartError::Store {
                path: settings.store.display().to_string(),
                message: e.to_string(),
            })?;
        if !declared {
            tracing::info!(
                catch_up = %replica.catch_up(),
                "--only-device: the store needs no statement (it is not new); nothing changed"
            );
        }
    }
    // Peers learn this node's clock and it theirs, so a wrong one shows.
    replica.set_wall_clock(|| wall_clock().0);
    // Until the office service sets the window of days taken from peers (at its
    // first retention run, once the office's configuration is known), no day
    // beyond the booking horizon is taken either; a day more for time zones.
    let horizon = config
        .as_ref()
        .map_or_else(BookingSettings::default, |c| c.bookings.clone());
    if let Some(last) = first_days_window(wall_clock(), &horizon) {
        replica.accept_days_until(last);
    }

    let node_credentials = credentials::load_node(&settings.credentials, &node)?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let tls = Tls::new(&node_credentials, &office, provider)?;
    let net_config = NetConfig {
        listen: settings.listen,
        static_peers: settings.peers.clone(),
        ..NetConfig::default()
    };
    let network = net::start(replica.clone(), tls, net_config).await?;
    let sync_addr = network.local_addr();

    let keys =
        crate::authority::keys(&node_credentials).map_err(credentials::CredentialsError::from)?;
    let certificate = aufruf_sync::trust::read_node_certificate(keys.signer.certificate_der())
        .map_err(credentials::CredentialsError::from)?;
    if certificate.role != settings.role {
        return Err(StartError::Credentials(
            credentials::CredentialsError::WrongRole {
                certified: certificate.role,
                configured: settings.role,
            },
        ));
    }
    warn_if_certificate_ends_soon(certificate.valid_until);
    let config = match config {
        Some(config) => config,
        None => published_config(&replica, &*keys.authority, &office_id, &settings).await,
    };

    let printer = match (&settings.role, &settings.printer) {
        (Role::Kiosk, Some(printer_config)) => {
            let printer = TicketPrinter::start(printer_config.clone());
            if let Some(problem) = printer.startup_problem() {
                tracing::warn!(%problem, "ticket printer not usable; offering QR tickets only");
            }
            Some(printer)
        }
        _ => None,
    };

    let state = Arc::new(
        NodeState::new(settings.clone(), config, replica.clone(), printer, keys)
            .map_err(|e| StartError::Service(e.to_string()))?,
    );
    {
        let state = state.clone();
        tokio::task::spawn_blocking(move || state.office().refresh(wall_clock()))
            .await
            .ok();
    }

    // Days that ran out while the node was off go before anything else is served.
    retire_expired(&state).await;

    let listener = tokio::net::TcpListener::bind(settings.api)
        .await
        .map_err(|source| StartError::Api {
            address: settings.api,
            source,
        })?;
    let api_addr = listener.local_addr().map_err(|source| StartError::Api {
        address: settings.api,
        source,
    })?;
    let (stop, stopped) = watch::channel(false);
    let revoker = network.revoker();
    let network = Arc::new(Mutex::new(Some(network)));
    let mut tasks = vec![
        tokio::spawn(end_revoked_sessions(
            state.office().subscribe_revoked(),
            revoker,
            stopped.clone(),
        )),
        tokio::spawn(serve_api(listener, state.clone(), stopped.clone())),
        tokio::spawn(watch_peers(state.clone(), stopped.clone())),
        tokio::spawn(roll_over_days(state.clone(), stopped.clone())),
    ];
    let portal_addr = match start_portal(&state, stopped.clone()).await? {
        Some((addr, task)) => {
            tasks.push(task);
            Some(addr)
        }
        None => None,
    };
    if settings.mdns {
        let policy = InterfacePolicy {
            interfaces: settings.mdns_interfaces.clone(),
            ..InterfacePolicy::default()
        };
        match Discovery::start(&identity, sync_addr.port(), policy) {
            Ok(discovery) => tasks.push(tokio::spawn(discover_peers(
                discovery,
                network.clone(),
                replica.clone(),
                // The book leaves these alone; a name's addresses change with DNS.
                settings.peers.iter().filter_map(Address::socket).collect(),
                stopped,
            ))),
            // Multicast may be blocked or unavailable; the static peers still work.
            Err(e) => tracing::warn!(error = %e, "mDNS unavailable; using static peers only"),
        }
    }
    if settings.role == Role::Kiosk && settings.public_url.is_none() {
        tracing::warn!(
            "no [node] public_url: tickets carry no status link, and the kiosk offers paper tickets only"
        );
    }
    tracing::info!(
        node = %settings.id,
        role = settings.role.name(),
        %api_addr,
        %sync_addr,
        "node started"
    );
    Ok(RunningNode {
        state,
        api_addr,
        sync_addr,
        portal_addr,
        network,
        stop,
        tasks,
    })
}

impl RunningNode {
    /// Stops serving, flushes the store and closes the peer sessions.
    pub async fn shutdown(self) {
        self.state.begin_shutdown();
        let _ = self.stop.send(true);
        for mut task in self.tasks {
            // Open API connections get a moment to finish; then they are cut.
            if tokio::time::timeout(Duration::from_secs(5), &mut task)
                .await
                .is_err()
            {
                task.abort();
            }
        }
        if let Some(network) = self.network.lock().await.take() {
            network.shutdown().await;
        }
        let replica = self.state.replica.clone();
        let flushed = tokio::task::spawn_blocking(move || replica.flush()).await;
        match flushed {
            Ok(Ok(())) => tracing::info!(node = %self.state.settings.id, "stopped; store flushed"),
            Ok(Err(e)) => tracing::error!(error = %e, "store not flushed at shutdown"),
            Err(e) => tracing::error!(error = %e, "flush task failed"),
        }
    }
}

async fn serve_api(
    listener: tokio::net::TcpListener,
    state: Arc<NodeState>,
    stopped: watch::Receiver<bool>,
) {
    let limits = state.settings.api_limits;
    let app = crate::api::router(state);
    crate::server::serve(listener, app, limits, stopped).await;
}

/// Serves the citizen portal on a gateway whose settings have `[node.portal]`: its
/// own store and outbox, the gateway's service as the office's door.
async fn start_portal(
    state: &Arc<NodeState>,
    stopped: watch::Receiver<bool>,
) -> Result<Option<(SocketAddr, JoinHandle<()>)>, StartError> {
    let Some(mut settings) = state.settings.portal.clone() else {
        return Ok(None);
    };
    let crate::state::Services::Gateway(gateway) = &state.services else {
        tracing::warn!(
            role = state.role().name(),
            "[node.portal] is set but only a gateway or the central portal serves the portal; ignored"
        );
        return Ok(None);
    };
    let listener = tokio::net::TcpListener::bind(settings.listen)
        .await
        .map_err(|e| StartError::Portal(format!("listening on {}: {e}", settings.listen)))?;
    let addr = listener
        .local_addr()
        .map_err(|e| StartError::Portal(e.to_string()))?;
    let tls = portal_tls(&settings)?;
    if settings.public_url.is_empty() {
        let scheme = if tls.is_some() { "https" } else { "http" };
        settings.public_url = format!("{scheme}://{addr}");
    }
    if !settings.secure_cookies {
        // Session cookies without `Secure` travel in clear text: only where nothing
        // leaves this machine.
        if !addr.ip().is_loopback() {
            return Err(StartError::Portal(format!(
                "[node.portal] secure_cookies = false is for a demo on loopback only, \
                 but the portal listens on {addr}"
            )));
        }
        tracing::warn!(
            "portal cookies are sent over plain HTTP (secure_cookies = false): for a demo on loopback only"
        );
    }
    for (department, rules) in &settings.departments {
        if rules.lead_hours.is_some_and(|h| h < 24) {
            tracing::warn!(
                %department,
                "[node.portal] lead_hours below 24: that day's appointment list is not final before the day starts"
            );
        }
    }
    if settings.reminder_hour > 23 {
        return Err(StartError::Portal(format!(
            "[node.portal] reminder_hour = {} is no hour of the day (0–23)",
            settings.reminder_hour
        )));
    }
    if let Some(key) = &settings.backup_key {
        aufruf_portal::backup::parse_key(key)
            .map_err(|e| StartError::Portal(format!("[node.portal] {e}")))?;
    }
    let door: Arc<dyn aufruf_portal::OfficeDoor> = Arc::new(gateway.clone());
    let clock: aufruf_portal::Clock = Arc::new(wall_clock);
    let portal = aufruf_portal::Portal::open(settings, door, clock)
        .map_err(|e| StartError::Portal(e.to_string()))?;
    let portal = Arc::new(portal);
    // Set once: a node starts its portal once.
    let _ = state.portal.set(portal.clone());
    tokio::spawn(sweep_portal(portal.clone(), stopped.clone()));
    let app = aufruf_portal::web::router(portal);
    let limits = state.settings.api_limits;
    tracing::info!(%addr, https = tls.is_some(), "citizen portal served");
    Ok(Some((
        addr,
        tokio::spawn(crate::server::serve_with(
            listener, app, limits, stopped, tls,
        )),
    )))
}

/// Every five minutes, freed places are offered to waitlists and the reminders that
/// are due go out; every ten, the portal's expired sessions, links and offers leave
/// its store.
async fn sweep_portal(portal: Arc<aufruf_portal::Portal>, mut stopped: watch::Receiver<bool>) {
    let mut every = tokio::time::interval(Duration::from_secs(300));
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // The first tick is at once: the first round comes five minutes after start.
    every.tick().await;
    for round in 1u64.. {
        tokio::select! {
            _ = stopped.wait_for(|s| *s) => return,
            _ = every.tick() => {}
        }
        let p = portal.clone();
        let swept = tokio::task::spawn_blocking(move || {
            match p.offer_free_places() {
                Ok(0) => {}
                Ok(offered) => tracing::info!(offered, "freed places offered to waitlists"),
                Err(e) => tracing::warn!(error = %e, "offering freed places failed"),
            }
            let reminded = p.send_reminders().map_err(|e| e.to_string());
            let swept = (round % 2 == 0)
                .then(|| p.store.sweep(p.now_ms()).map_err(|e| e.to_string()))
                .transpose();
            (reminded, swept)
        })
        .await;
        match swept {
            Ok((reminded, swept)) => {
                match reminded {
                    Ok(0) => {}
                    Ok(sent) => tracing::info!(sent, "appointment reminders mailed"),
                    Err(e) => tracing::warn!(error = %e, "mailing the reminders failed"),
                }
                match swept {
                    Ok(Some(gone)) if gone > 0 => {
                        tracing::debug!(gone, "expired portal sessions and links removed")
                    }
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "sweeping the portal's store failed"),
                }
            }
            Err(e) => tracing::warn!(error = %e, "the portal's housekeeping failed"),
        }
    }
}

/// The portal's TLS acceptor from `tls_certificate` and `tls_key`, if both are set.
fn portal_tls(
    settings: &aufruf_portal::PortalSettings,
) -> Result<Option<tokio_rustls::TlsAcceptor>, StartError> {
    use rustls::pki_types::pem::PemObject as _;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let (certificate, key) = match (&settings.tls_certificate, &settings.tls_key) {
        (Some(c), Some(k)) => (c, k),
        (None, None) => return Ok(None),
        _ => {
            return Err(StartError::Portal(
                "[node.portal] tls_certificate and tls_key go together".into(),
            ));
        }
    };
    let fail = |path: &std::path::Path, e: &dyn std::fmt::Display| {
        StartError::Portal(format!("{}: {e}", path.display()))
    };
    let chain = CertificateDer::pem_file_iter(certificate)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| fail(certificate, &e))?;
    let key = PrivateKeyDer::from_pem_file(key).map_err(|e| fail(key, &e))?;
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| StartError::Portal(e.to_string()))?
    .with_no_client_auth()
    .with_single_cert(chain, key)
    .map_err(|e| fail(certificate, &e))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Some(tokio_rustls::TlsAcceptor::from(Arc::new(config))))
}

/// Dials the office peers mDNS finds; liveness stays the TLS session's.
async fn discover_peers(
    mut discovery: Discovery,
    network: Arc<Mutex<Option<Network>>>,
    replica: Arc<Replica>,
    static_peers: Vec<SocketAddr>,
    mut stopped: watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            _ = stopped.changed() => break,
            () = discovery.changed() => {
                let mut network = network.lock().await;
                if let Some(network) = network.as_mut() {
                    dial_discovered(network, &mut discovery, &replica, &static_peers);
                }
            }
        }
    }
    discovery.shutdown().await;
}

/// Ends the sessions of nodes the office revoked, as the revocations arrive.
async fn end_revoked_sessions(
    mut revoked: watch::Receiver<Arc<std::collections::BTreeMap<aufruf_model::NodeId, u64>>>,
    revoker: net::Revoker,
    mut stopped: watch::Receiver<bool>,
) {
    loop {
        for node in revoked.borrow_and_update().keys() {
            revoker.revoke(node);
        }
        tokio::select! {
            _ = stopped.changed() => return,
            changed = revoked.changed() => if changed.is_err() { return },
        }
    }
}

/// Logs a warning when this node's certificate ends within
/// [`aufruf_sync::trust::RENEW_BEFORE`]: after its end peers refuse its sessions and
/// its events, so it must be enrolled again before.
fn warn_if_certificate_ends_soon(valid_until: i64) {
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let left = u64::try_from(valid_until).unwrap_or(0).saturating_sub(now);
    if left < aufruf_sync::trust::RENEW_BEFORE.as_secs() {
        tracing::warn!(
            days_left = left / 86_400,
            "this node's certificate ends soon: enrol it again (aufruf office token + aufruf node enroll)"
        );
    }
}

/// Re-reads the day whenever a peer's change arrives, and when a new store has caught
/// up (the screens stop saying that they wait).
async fn watch_peers(state: Arc<NodeState>, mut stopped: watch::Receiver<bool>) {
    let mut changes = state.replica.subscribe();
    let mut catch_up = state.replica.subscribe_catch_up();
    loop {
        tokio::select! {
            _ = stopped.changed() => return,
            Ok(()) = catch_up.changed() => {
                let state = state.clone();
                let _ = tokio::task::spawn_blocking(move || state.office().refresh(wall_clock())).await;
            }
            change = changes.recv() => match change {
                Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {
                    let state = state.clone();
                    let _ = tokio::task::spawn_blocking(move || state.office().refresh(wall_clock())).await;
                }
                Err(broadcast::error::RecvError::Closed) => return,
            },
        }
    }
}

/// At each local midnight (and once at start, in [`start`]): a new day begins (its document is created by
/// the first action of the day), and days past the retention are deleted, their
/// statistics kept.
async fn roll_over_days(state: Arc<NodeState>, mut stopped: watch::Receiver<bool>) {
    loop {
        // Read each time: the office may have published a configuration since.
        let zone = state.config().timezone();
        let now = wall_clock();
        let next = calendar::next_day_start(zone, now);
        let wait = next.since(now) + Duration::from_millis(50);
        tokio::select! {
            _ = stopped.changed() => return,
            () = tokio::time::sleep(wait) => {
                let today = state.office().today(wall_clock());
                tracing::info!(%today, "a new office day begins");
                retire_expired(&state).await;
                let state = state.clone();
                let _ = tokio::task::spawn_blocking(move || state.office().refresh(wall_clock())).await;
            }
        }
    }
}

async fn retire_expired(state: &Arc<NodeState>) {
    let state = state.clone();
    let retired = tokio::task::spawn_blocking(move || {
        let retention = Duration::from_secs(u64::from(state.settings.retention_days) * 24 * 3600);
        crate::retention::remove_old_moved_aside(
            &state.settings.store,
            retention,
            SystemTime::now(),
        );
        state.office().retire_expired(wall_clock())
    })
    .await;
    match retired {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => tracing::error!(error = %e, "days past the retention not deleted"),
        Err(e) => tracing::error!(error = %e, "retention task failed"),
    }
}

/// Waits until the replica holds a configuration the office's administrator
/// published: a device whose file names only itself learns the office from a peer.
async fn published_config(
    replica: &Arc<Replica>,
    admin: &dyn Authority,
    office: &str,
    settings: &NodeSettings,
) -> OfficeConfig {
    let mut changes = replica.subscribe();
    let documents = NodeReplica(replica.clone());
    let mut told = false;
    loop {
        if let Some(published) = office_doc::published_config(&documents, admin, office) {
            return published.config;
        }
        if !told {
            tracing::warn!(
                office,
                peers = %settings
                    .peers
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", "),
                mdns = settings.mdns,
                "no office configuration yet: waiting for a peer to bring the one the office published"
            );
            told = true;
        }
        if let Err(broadcast::error::RecvError::Closed) = changes.recv().await {
            // The replica is gone; nothing will arrive.
            std::future::pending::<()>().await;
        }
    }
}

/// The last day taken from peers before the office's time zone is known: the booking
/// horizon and two days more after today in UTC (a day for any time zone, one for
/// clocks on either side of midnight).
fn first_days_window(now: Timestamp, bookings: &BookingSettings) -> Option<DocumentName> {
    let ms = i64::try_from(now.0).ok()?;
    let today = chrono::DateTime::from_timestamp_millis(ms)?.date_naive();
    let last = today.checked_add_days(chrono::Days::new(u64::from(bookings.horizon_days) + 2))?;
    aufruf_office::document_name(last).ok()
}

/// Reads a device's file: its `[node]` table and, if it has one, the office's
/// configuration.
pub fn load(
    path: &Path,
) -> Result<(Option<OfficeConfig>, NodeSettings), aufruf_model::ConfigError> {
    let (config, device) = crate::config_file::load_device(path)?;
    let settings = NodeSettings::of(&device, config.as_ref(), path)?;
    Ok((config, settings))
}
