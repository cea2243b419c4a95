//! The office model of Aufruf: configuration, tickets and their events, the queue
//! policy, display numbers and the waiting-time estimate.
//!
//! **Pure**: no I/O, no clock, no threads. Every function that needs the time takes
//! `now` (a [`Timestamp`]) or a [`Stamp`] from the caller's [`HlcClock`]. Replication,
//! storage, screens and printers build on this crate; it knows none of them.

pub mod actions;
pub mod authority;
pub mod calendar;
pub mod config;
pub mod day;
pub mod estimate;
pub mod hlc;
pub mod ids;
pub mod numbers;
pub mod opening;
pub mod policy;
pub mod simulation;
pub mod statistics;
pub mod ticket;
pub mod time;

pub use aufruf_names::{NameError, OfficeId, Role, node_id};
pub use config::{ConfigError, OfficeConfig};
pub use day::{ActionError, Appointment, Day, DeskEvent, Event};
pub use estimate::{Estimate, HandlingTimes};
pub use hlc::{Hlc, HlcClock, Stamp};
pub use ids::{BookingCode, DepartmentId, DeskId, NodeId, ServiceId, TicketId};
pub use opening::{Reopening, WalkIns};
pub use ticket::{DisplayNumber, Origin, Status, Ticket, TicketEvent, Transfer};
pub use time::Timestamp;
