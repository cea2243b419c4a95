//! The running office: the model on the replicated documents, one service per role,
//! and the typed views every face renders.
//!
//! - [`replicated`] — [`Office`]: the model's actions made durable and shared;
//!   [`day_doc`] and [`office_doc`] own the layout of the day and office documents.
//! - [`service`] — [`OfficeService`]: the office behind one lock, views pushed to
//!   subscribers after every change, retention, the operator's reads.
//! - one service per role, each exposing exactly the actions that role may take:
//!   [`kiosk`], [`desk`], [`display`], [`gateway`].
//! - [`views`] — what the faces show, as enums and plain data.
//!
//! Nothing here opens a socket, reads a file or a clock, or knows the node's settings
//! or command line: time comes in as a `Timestamp`, the replica through
//! [`Replication`], the printer through [`kiosk::Printer`].

pub mod authority;
pub mod clock;
pub mod day_doc;
pub mod desk;
pub mod display;
pub mod gateway;
pub mod kiosk;
pub mod memory;
pub mod office_doc;
pub mod replicated;
pub mod service;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
pub mod views;

pub use clock::{ClockCheck, PeerClock};
pub use desk::{DeskAction, DeskService};
pub use display::DisplayService;
pub use gateway::GatewayService;
pub use kiosk::{KioskService, Printer, Wish};
pub use replicated::{Carries, Documents, Office, OfficeError, Touched, document_name};
pub use service::{
    ConfigStatus, Observer, OfficeService, Replication, Retired, ServiceError, Setup, Unobserved,
};

/// The example office shipped in the repository (`aufruf.toml`): the demo's office,
/// and the one tests use.
pub const EXAMPLE: &str = include_str!("../../aufruf.toml");
pub const EXAMPLE_NAME: &str = "aufruf.toml (built-in example)";

/// The example office, parsed.
pub fn example_office() -> Result<aufruf_model::OfficeConfig, aufruf_model::ConfigError> {
    aufruf_model::OfficeConfig::from_toml(EXAMPLE_NAME, EXAMPLE)
}

/// The service of a node's role: what the node's faces may do.
#[derive(Debug, Clone)]
pub enum RoleService<R: Replication> {
    Kiosk(KioskService<R>),
    Desk(DeskService<R>),
    Display(DisplayService<R>),
    Gateway(GatewayService<R>),
}

impl<R: Replication> RoleService<R> {
    /// The office service under every role.
    pub fn office(&self) -> &std::sync::Arc<OfficeService<R>> {
        match self {
            RoleService::Kiosk(s) => s.office(),
            RoleService::Desk(s) => s.office(),
            RoleService::Display(s) => s.office(),
            RoleService::Gateway(s) => s.office(),
        }
    }
}
