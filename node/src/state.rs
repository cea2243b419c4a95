//! What a running node's faces share: its settings, the service of its role, the
//! replica under it, the printer and the metrics. The behaviour lives in
//! `aufruf_office`; this is wiring.

use std::sync::Arc;
use std::time::SystemTime;

use aufruf_hardware::TicketPrinter;
use aufruf_model::{OfficeConfig, Timestamp};
use aufruf_office::replicated::Keys;
use aufruf_office::{
    DeskService, DisplayService, GatewayService, KioskService, OfficeService, Printer, RoleService,
    ServiceError, Setup,
};
use aufruf_sync::Replica;
use tokio::sync::watch;

use crate::metrics::{Metrics, Scrape};
use crate::replica::NodeReplica;
use crate::settings::{NodeSettings, Role};

/// The wall clock, read only here and handed to the office as a [`Timestamp`].
pub fn wall_clock() -> Timestamp {
    let ms = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    Timestamp::from_millis(ms)
}

/// The services of this node, as its faces reach them.
pub type Services = RoleService<NodeReplica>;

/// Everything a node's API handlers share.
#[derive(Debug)]
pub struct NodeState {
    pub settings: NodeSettings,
    pub replica: Arc<Replica>,
    pub services: Services,
    printer: Option<Arc<TicketPrinter>>,
    metrics: Arc<Metrics>,
    /// Turns true when the node shuts down, so long-lived streams (the display
    /// feed) end and let the server stop.
    stopping: watch::Sender<bool>,
    /// One permit per open display feed.
    display_feeds: Arc<tokio::sync::Semaphore>,
    /// The citizen portal, on a gateway that serves one (for its backup).
    pub portal: std::sync::OnceLock<Arc<aufruf_portal::Portal>>,
}

impl NodeState {
    /// Builds the service of the node's role over its replica.
    pub fn new(
        settings: NodeSettings,
        config: OfficeConfig,
        replica: Arc<Replica>,
        printer: Option<TicketPrinter>,
        keys: Keys,
    ) -> Result<Self, ServiceError> {
        let metrics = Arc::new(Metrics::new());
        let office = Arc::new(OfficeService::new(
            config.clone(),
            Setup {
                office: settings
                    .office
                    .clone()
                    .unwrap_or_else(|| config.office.id.clone()),
                node: settings.id.clone(),
                retention_days: settings.retention_days,
            },
            NodeReplica(replica.clone()),
            metrics.clone(),
            keys,
        ));
        let printer = printer.map(Arc::new);
        let services = match settings.role {
            Role::Kiosk => RoleService::Kiosk(KioskService::new(
                office,
                printer.clone().map(|p| p as Arc<dyn Printer>),
                settings.public_url.clone(),
            )),
            Role::Desk => {
                RoleService::Desk(DeskService::new(office, settings.desk_id(), wall_clock())?)
            }
            Role::Display => RoleService::Display(DisplayService::new(office)),
            // The central portal does what a gateway does, from outside the office.
            Role::Gateway | Role::Portal => RoleService::Gateway(GatewayService::new(office)),
        };
        let (stopping, _) = watch::channel(false);
        let display_feeds = Arc::new(tokio::sync::Semaphore::new(
            settings.api_limits.display_feeds,
        ));
        Ok(Self {
            display_feeds,
            portal: std::sync::OnceLock::new(),
            settings,
            replica,
            services,
            printer,
            metrics,
            stopping,
        })
    }

    pub fn role(&self) -> Role {
        self.settings.role
    }

    pub fn office(&self) -> &Arc<OfficeService<NodeReplica>> {
        self.services.office()
    }

    /// The office's configuration in force now.
    pub fn config(&self) -> Arc<OfficeConfig> {
        self.office().config()
    }

    pub fn printer(&self) -> Option<&TicketPrinter> {
        self.printer.as_deref()
    }

    /// Ends the node's long-lived streams.
    pub fn begin_shutdown(&self) {
        self.stopping.send_replace(true);
    }

    /// A place for one more display feed, held while it is open; `None` when all
    /// places are taken.
    pub fn display_feed_place(&self) -> Option<tokio::sync::OwnedSemaphorePermit> {
        self.display_feeds.clone().try_acquire_owned().ok()
    }

    /// Turns true when the node shuts down.
    pub fn stopping(&self) -> watch::Receiver<bool> {
        self.stopping.subscribe()
    }

    /// The metrics in Prometheus' text format.
    pub fn metrics_text(&self) -> String {
        let waiting = self
            .office()
            .kiosk_view()
            .departments
            .iter()
            .flat_map(|d| &d.services)
            .map(|s| (s.service.to_string(), s.waiting))
            .collect();
        self.metrics.scrape(Scrape {
            peers: self.replica.peers().len(),
            waiting,
            store_bytes: self.replica.store_size().unwrap_or(0),
            printer: self.printer(),
            clock: self.office().clock_check(),
        })
    }
}
