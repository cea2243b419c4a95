//! Cross-crate tests of Aufruf: a whole office on one deterministic simulated LAN.
//!
//! [`Lan`] runs the office's devices — kiosks, desk terminals, the foyer display, the
//! gateway — each with the real `aufruf_office::Office` on the real replica shell
//! (`aufruf_sync::Replica`) of `aufruf-sync`, an in-memory [`Disk`] as its store that
//! survives crashes the way the sled store does, and a wall clock that is off by
//! minutes. The LAN partitions, heals, fails links one way, drops connections, crashes
//! and restarts devices and lets simulated time pass; everything random comes from one seeded generator, so a
//! seed replays exactly. [`schedule`] drives random office days on it and checks the
//! office's promises after every heal.
//!
//! - [`network`]: the one simulated network — links, partitions, connections,
//!   delivery order, time and the story — for whatever [`network::Endpoint`]s run on it.
//! - [`lan`]: the office's devices on the network, their faults, and the checks.
//! - [`cores`]: bare protocol cores on the network, for the protocol's own tests.
//! - [`disk`]: what a simulated device keeps across a crash.
//! - [`schedule`]: random office days, the seeds to run and how to replay one.

pub mod cores;
pub mod disk;
pub mod lan;
pub mod network;
pub mod schedule;

pub use disk::Disk;
pub use lan::{Acknowledged, Lan, PrintedTicket, ShownCall, the_date};
