//! Replication of the office documents between the devices of one office.
//!
//! - [`name`]: document names, office and node ids, roles.
//! - [`store`]: the documents on disk (sled), crash behaviour, compaction.
//! - [`memory_store`]: the same records in memory, for tests and simulations.
//! - [`protocol`]: the sans-IO peer protocol core.
//! - [`replica`]: documents, store and sessions of one node together: the API the
//!   office model uses (durable local changes, reads, remote-change notices).
//! - [`net`]: the tokio shell: TCP + mutual TLS, framing, static peers, reconnects.
//! - [`trust`]: the office CA, node certificates, one-time enrollment tokens.
//! - [`discovery`]: mDNS announce/browse of the office's peers (a hint besides static peers).
pub mod address;
pub mod discovery;
pub mod enroll;
pub mod memory_store;
pub mod net;
pub mod replica;
pub mod store;
pub mod trust;

/// The sans-IO peer protocol core, its own crate (`aufruf-sync-protocol`) so that
/// Cargo keeps tokio, sled and sockets out of it.
pub use aufruf_sync_protocol as protocol;
pub use aufruf_sync_protocol::name;

pub use memory_store::MemoryStore;
pub use name::{DocumentName, Incarnation, NameError, NodeId, OfficeId, Role};
pub use replica::{ChangeError, Clock, MonotonicClock, OpenedReplica, RemoteChange, Replica};
pub use store::{CatchUp, DocumentStore, Durability, OpenedStore, Store, StoreError};
