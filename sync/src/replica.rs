//! One node's replica of the office documents: the protocol core and the store
//! (sled on a device, [`MemoryStore`](crate::memory_store::MemoryStore) in tests)
//! behind one lock, with the calls the office model and the transport use.
//!
//! The office model applies local changes with [`Replica::change`] (durable when it
//! returns), reads with [`Replica::read`] and learns of changes that came from peers
//! through [`Replica::subscribe`]. The transport shell registers connections with
//! [`Replica::connect`] and feeds frames, written byte counts and ticks; the replica
//! carries out the core's outputs (persisting changes and sync states, queueing
//! frames on the connection's outlet, reloading damaged documents).
//!
//! A replica on a new store (see [`CatchUp`]) notes when it has caught up with the
//! office: after any input, it asks the core whether some peer's greeting is held
//! whole ([`Replicator::caught_up_from`]) and, once one is, records that in the store
//! after everything received before it ([`Replica::catch_up`] says where it stands;
//! [`Replica::declare_only_device`] is the operator's way past the wait).
//!
//! **Architecture Invariant**: a local change is flushed to disk before any frame
//! carrying it is handed to a connection, and before `change` returns.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use automerge::transaction::Transaction;
use automerge::{ActorId, Automerge};
use tokio::sync::{broadcast, mpsc, watch};

use crate::name::{DocumentName, Incarnation, NodeId};
use crate::protocol::frame::Hello;
use crate::protocol::{
    ConnectionId, Identity, Input, Limits, Output, PeerClock, Replicator, SessionError,
};
use crate::store::{CatchUp, DocumentStore, Durability, Store, StoreError};

/// Chunks appended to a document after which it may be compacted into a snapshot
/// (at the next tick): when they also add up to [`COMPACT_AFTER_SHARE`] of the last
/// snapshot's bytes, or number [`COMPACT_AFTER_CHUNKS_AT_MOST`].
pub const COMPACT_AFTER_CHUNKS: usize = 256;
/// A document is compacted once its log adds up to this share (1/n) of its snapshot:
/// a snapshot's cost follows the whole document, so compacting after a share of it
/// keeps the cost per change flat as the day grows.
pub const COMPACT_AFTER_SHARE: usize = 4;
/// ... but not after more chunks than this, which a restart loads one by one.
pub const COMPACT_AFTER_CHUNKS_AT_MOST: usize = 2048;

/// Why a local change was not made durable.
#[derive(Debug, thiserror::Error)]
pub enum ChangeError<E> {
    /// The closure returned an error; the transaction was rolled back.
    #[error("change refused: {0}")]
    Refused(E),
    /// The change could not be stored; it was taken back from the in-memory
    /// document too, and nothing was sent to peers.
    #[error("change not stored: {0}")]
    Store(Box<StoreError>),
}

/// A document changed because of a peer (sync), or appeared because a peer
/// announced it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RemoteChange {
    /// The document.
    pub name: DocumentName,
}

/// What the replica asks a connection's writer to do.
#[derive(Debug)]
pub enum Outgoing {
    /// Write this frame (with the length prefix).
    Frame(Vec<u8>),
    /// Close the connection; the session ended with this error.
    Close(SessionError),
}

/// Where a replica's time comes from: the monotonic time since some start, which
/// the replica hands to the protocol core as its `now`. Nodes use [`MonotonicClock`];
/// a simulation passes a clock it moves itself.
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// Time since the clock's start; never goes back.
    fn now(&self) -> Duration;
}

/// tokio's monotonic clock (paused and advanced by `tokio::time` in tests), counted
/// from when the clock was made.
#[derive(Debug, Clone, Copy)]
pub struct MonotonicClock {
    epoch: tokio::time::Instant,
}

impl MonotonicClock {
    /// A clock that starts now.
    pub fn start() -> Self {
        MonotonicClock {
            epoch: tokio::time::Instant::now(),
        }
    }
}

impl Clock for MonotonicClock {
    fn now(&self) -> Duration {
        self.epoch.elapsed()
    }
}

/// A node's documents, store and peer sessions. Cheap to share in an `Arc`.
///
/// `S` is the store: [`Store`] (sled) unless a test or simulation passes another
/// [`DocumentStore`] to [`Replica::with_store`].
#[derive(Debug)]
pub struct Replica<S: DocumentStore = Store> {
    inner: Mutex<Inner<S>>,
    remote_changes: broadcast::Sender<RemoteChange>,
    /// Where the store stands in catching up; changed (and recorded in the store)
    /// under the inner lock only.
    catch_up: watch::Sender<CatchUp>,
    /// The store's incarnation.
    incarnation: Incarnation,
    clock: Box<dyn Clock>,
}

#[derive(Debug)]
struct Inner<S: DocumentStore> {
    core: Replicator,
    store: S,
    /// Per document: what its log holds since its last snapshot.
    logs: BTreeMap<DocumentName, Log>,
    /// Documents whose copy is being saved outside the lock (see
    /// [`Replica::compact_due`]): the chunks stored since the copy was taken, which
    /// the snapshot must include. Removed to call a compaction off.
    compacting: BTreeMap<DocumentName, Vec<u8>>,
    /// Documents holding peer changes the store refused (e.g. a full disk). A later
    /// local change may depend on them, so the next durable write of such a
    /// document is a whole snapshot, not just the new change.
    unstored: BTreeSet<DocumentName>,
    outlets: BTreeMap<ConnectionId, mpsc::UnboundedSender<Outgoing>>,
    next_connection: u64,
    /// When the oldest change received from a peer and not yet flushed arrived.
    unflushed_since: Option<Duration>,
    /// A flush outside the lock is under way for the changes received since then
    /// ([`Replica::tick`]): they count as unflushed until it is done.
    flushing_since: Option<Duration>,
    /// Changes received from peers are flushed within this long.
    flush_within: Duration,
    /// The node's wall clock, read before every input so the core can tell peers.
    wall_clock: Option<WallClock>,
}

/// Reads the node's wall clock in milliseconds since 1970. `aufruf-sync` reads no
/// wall clock itself: the node hands it one ([`Replica::set_wall_clock`]).
struct WallClock(Box<dyn Fn() -> u64 + Send>);

impl std::fmt::Debug for WallClock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WallClock")
    }
}

/// Changes received from peers are durable within this long unless
/// [`Replica::set_flush_within`] says otherwise. Flushes are grouped: one per tick
/// at most.
pub const FLUSH_RECEIVED_WITHIN: Duration = Duration::from_secs(1);

/// The result of [`Replica::open`].
#[derive(Debug)]
pub struct OpenedReplica {
    /// The replica.
    pub replica: Replica,
    /// Where an unopenable store was moved to (the replica then starts empty and
    /// refills from peers).
    pub moved_aside: Option<PathBuf>,
}

impl Replica {
    /// Opens (or creates) the store at `path` and loads every document and saved
    /// sync state from it. `now` is the caller's wall clock; it only names a store
    /// that cannot be opened and is set aside ([`Store::open`]).
    pub fn open(
        path: &Path,
        identity: Identity,
        limits: Limits,
        now: SystemTime,
    ) -> Result<OpenedReplica, StoreError> {
        let opened = Store::open(path, now)?;
        Ok(OpenedReplica {
            replica: Replica::with_store(opened.store, identity, limits)?,
            moved_aside: opened.moved_aside,
        })
    }
}

impl<S: DocumentStore> Replica<S> {
    /// A replica on `store`, with every document and saved sync state loaded from
    /// it, on tokio's monotonic clock.
    pub fn with_store(store: S, identity: Identity, limits: Limits) -> Result<Self, StoreError> {
        // Random actors: a node whose store was set aside must not reuse the actor
        // of changes its peers already hold.
        Self::with_clock_and_actors(store, identity, limits, MonotonicClock::start(), |_| {
            ActorId::random()
        })
    }

    /// A replica on `store` whose time comes from `clock` and whose new documents
    /// write as the actors `new_actor` names — for simulations that replay exactly.
    /// Documents loaded from the store keep the actor the store gives them. The
    /// actors must never repeat across restarts on the same store.
    pub fn with_clock_and_actors(
        store: S,
        identity: Identity,
        limits: Limits,
        clock: impl Clock + 'static,
        new_actor: impl FnMut(&DocumentName) -> ActorId + Send + 'static,
    ) -> Result<Self, StoreError> {
        let mut core = Replicator::with_actors(identity, limits, new_actor);
        let mut logs = BTreeMap::new();
        for name in store.document_names()? {
            if let Some(loaded) = store.load(&name)? {
                logs.insert(
                    name.clone(),
                    Log {
                        chunks: loaded.chunks_since_snapshot,
                        ..Log::default()
                    },
                );
                core.insert_document(name, loaded.document);
            }
        }
        for (peer, name, state) in store.sync_states()? {
            core.restore_sync_state(peer, name, state);
        }
        let incarnation = store.incarnation();
        let catch_up = store.catch_up()?;
        if catch_up.is_pending() {
            tracing::warn!(
                %incarnation,
                "the store is new (or was set aside): this device issues and calls nothing until it has caught up with another device of the office"
            );
        }
        let (remote_changes, _) = broadcast::channel(1024);
        Ok(Replica {
            catch_up: watch::channel(catch_up).0,
            incarnation,
            inner: Mutex::new(Inner {
                core,
                store,
                logs,
                compacting: BTreeMap::new(),
                unstored: BTreeSet::new(),
                outlets: BTreeMap::new(),
                next_connection: 1,
                unflushed_since: None,
                flushing_since: None,
                flush_within: FLUSH_RECEIVED_WITHIN,
                wall_clock: None,
            }),
            remote_changes,
            clock: Box::new(clock),
        })
    }

    /// Applies a local change to a document (created if new) and returns once the
    /// change is flushed to disk; only then is it sent to the peers. Blocks for the
    /// flush (a few milliseconds): call it from `spawn_blocking` in async code.
    pub fn change<R, E>(
        &self,
        name: &DocumentName,
        change: impl FnOnce(&mut Transaction<'_>) -> Result<R, E>,
    ) -> Result<R, ChangeError<E>> {
        let now = self.now();
        let mut inner = self.lock();
        let local = inner
            .core
            .change(now, name, change)
            .map_err(ChangeError::Refused)?;
        if !local.chunk.is_empty() {
            let stored = if inner.unstored.contains(name) {
                // The new change may depend on peer changes the store refused
                // earlier: store the whole document.
                inner.compact(name)
            } else {
                inner
                    .store
                    .append(name, &local.chunk, Durability::Flushed)
                    // The flush made everything received before durable too.
                    .inspect(|()| inner.unflushed_since = None)
            };
            if let Err(error) = stored {
                // Take the change back: what is not durable must not reach peers.
                let stored = inner
                    .store
                    .load(name)
                    .ok()
                    .flatten()
                    .map(|loaded| loaded.document)
                    .unwrap_or_default();
                inner.compacting.remove(name);
                let outputs = inner.core.restore_document(now, name.clone(), stored);
                self.carry_out(&mut inner, now, outputs);
                return Err(ChangeError::Store(Box::new(error)));
            }
            inner.count_chunk(name, &local.chunk);
        }
        self.carry_out(&mut inner, now, local.outputs);
        Ok(local.value)
    }

    /// Retires the day documents before `horizon` (a `day/…` name): deletes them
    /// from memory and disk, and ignores peers that still offer them. Returns the
    /// documents deleted.
    pub fn retire_days_before(
        &self,
        horizon: DocumentName,
    ) -> Result<Vec<DocumentName>, StoreError> {
        let mut inner = self.lock();
        let retired = inner.core.retire_before(horizon);
        for name in &retired {
            inner.store.remove_document(name)?;
            inner.logs.remove(name);
            inner.compacting.remove(name);
        }
        Ok(retired)
    }

    /// From now on ignores day documents after `last` when peers offer them (see
    /// `Replicator::accept_days_until`).
    pub fn accept_days_until(&self, last: DocumentName) {
        self.lock().core.accept_days_until(last);
    }

    /// Gives the replica the node's wall clock (milliseconds since 1970), read before
    /// every input: the core tells it to peers and compares theirs with it
    /// ([`Replica::peer_clocks`]). Without one, peers' clocks stay unknown.
    pub fn set_wall_clock(&self, wall_ms: impl Fn() -> u64 + Send + 'static) {
        self.lock().wall_clock = Some(WallClock(Box::new(wall_ms)));
    }

    /// How far each live peer's wall clock is ahead of this node's (negative: behind),
    /// for the peers that told theirs.
    pub fn peer_clocks(&self) -> Vec<PeerClock> {
        let now = self.now();
        let mut inner = self.lock();
        inner.read_wall_clock(now);
        inner.core.peer_clocks(now)
    }

    /// Reads a document; `None` when this node does not have it.
    pub fn read<R>(&self, name: &DocumentName, read: impl FnOnce(&Automerge) -> R) -> Option<R> {
        let inner = self.lock();
        inner.core.document(name).map(read)
    }

    /// The names of all documents this node has.
    pub fn document_names(&self) -> Vec<DocumentName> {
        self.lock().core.document_names().cloned().collect()
    }

    /// Changes made by peers, as they are merged. A receiver that lags behind gets
    /// `RecvError::Lagged` and should re-read the documents it shows.
    pub fn subscribe(&self) -> broadcast::Receiver<RemoteChange> {
        self.remote_changes.subscribe()
    }

    /// The peers with a finished handshake.
    pub fn peers(&self) -> Vec<Hello> {
        self.lock()
            .core
            .peers()
            .map(|(_, hello)| hello.clone())
            .collect()
    }

    /// Who this node is.
    pub fn identity(&self) -> Identity {
        self.lock().core.identity().clone()
    }

    /// The incarnation of the store, drawn when it was created.
    pub fn incarnation(&self) -> Incarnation {
        self.incarnation
    }

    /// Whether the store, if it began empty, has caught up with the office since.
    pub fn catch_up(&self) -> CatchUp {
        self.catch_up.borrow().clone()
    }

    /// Told whenever [`Self::catch_up`] changes.
    pub fn subscribe_catch_up(&self) -> watch::Receiver<CatchUp> {
        self.catch_up.subscribe()
    }

    /// An operator states that this device is the office's only one: a store still
    /// catching up stops waiting for a peer, and records that it was told so. Returns
    /// whether the store was waiting. On a device that is not the only one this can
    /// make it reissue display numbers its earlier store gave out (ids stay unique:
    /// they carry the store's incarnation), so it is logged loudly.
    pub fn declare_only_device(&self) -> Result<bool, StoreError> {
        let mut inner = self.lock();
        if !self.catch_up.borrow().is_pending() {
            return Ok(false);
        }
        inner.store_all_received()?;
        inner.store.record_catch_up(&CatchUp::OnlyDevice)?;
        inner.unflushed_since = None;
        tracing::error!(
            incarnation = %self.incarnation,
            "an operator stated that this device is the office's only one: its new store issues without having caught up from a peer; if another device of the office holds tickets of today, display numbers may be given out twice"
        );
        self.catch_up.send_replace(CatchUp::OnlyDevice);
        Ok(true)
    }

    /// The limits in force.
    pub fn limits(&self) -> Limits {
        self.lock().core.limits().clone()
    }

    /// Bytes the store occupies on disk.
    pub fn store_size(&self) -> Result<u64, StoreError> {
        self.lock().store.size_on_disk()
    }

    /// Flushes everything received from peers to disk (local changes are flushed
    /// by [`Replica::change`] already).
    pub fn flush(&self) -> Result<(), StoreError> {
        let mut inner = self.lock();
        inner.store.flush()?;
        inner.unflushed_since = None;
        Ok(())
    }

    /// Compacts every document into a snapshot now.
    pub fn compact_all(&self) -> Result<(), StoreError> {
        let mut inner = self.lock();
        let names: Vec<DocumentName> = inner.core.document_names().cloned().collect();
        for name in names {
            inner.compact(&name)?;
        }
        Ok(())
    }

    /// Registers a new transport connection whose TLS peer certificate names
    /// `certified_node`; frames for it arrive on the returned receiver.
    pub fn connect(
        &self,
        certified_node: Option<NodeId>,
    ) -> (ConnectionId, mpsc::UnboundedReceiver<Outgoing>) {
        let now = self.now();
        let mut inner = self.lock();
        let connection = ConnectionId(inner.next_connection);
        inner.next_connection += 1;
        let (outlet, frames) = mpsc::unbounded_channel();
        inner.outlets.insert(connection, outlet);
        inner.read_wall_clock(now);
        let outputs = inner.core.handle(
            now,
            Input::Connected {
                connection,
                certified_node,
            },
        );
        self.carry_out(&mut inner, now, outputs);
        (connection, frames)
    }

    /// A frame arrived on a connection.
    pub fn receive(&self, connection: ConnectionId, frame: &[u8]) {
        self.input(Input::Frame {
            connection,
            bytes: frame,
        });
    }

    /// The writer wrote `bytes` bytes of queued frames.
    pub fn sent(&self, connection: ConnectionId, bytes: usize) {
        self.input(Input::Sent { connection, bytes });
    }

    /// The connection is gone.
    pub fn disconnect(&self, connection: ConnectionId) {
        self.input(Input::Disconnected { connection });
        self.lock().outlets.remove(&connection);
    }

    /// Time passed: heartbeats, silent peers, and the flush of changes received
    /// from peers. A received change is flushed at the first tick at least half of
    /// the flush bound after it arrived, so with ticks at most half the bound apart
    /// it is durable within the bound — and one flush covers every change received
    /// meanwhile.
    pub fn tick(&self) {
        let now = self.now();
        let mut inner = self.lock();
        inner.read_wall_clock(now);
        let outputs = inner.core.handle(now, Input::Tick);
        self.carry_out(&mut inner, now, outputs);
        self.note_catch_up(&mut inner);
        let mut outside = None;
        if let Some(since) = inner.unflushed_since
            && now.saturating_sub(since) >= inner.flush_within / 2
        {
            // The disk's sync takes milliseconds, more on a busy disk: outside the
            // lock, so changes go on arriving and leaving meanwhile.
            match inner.store.flush_handle() {
                Some(flush) => {
                    inner.unflushed_since = None;
                    inner.flushing_since = Some(since);
                    outside = Some((since, flush));
                }
                None => match inner.store.flush() {
                    Ok(()) => inner.unflushed_since = None,
                    Err(error) => {
                        tracing::error!(%error, "changes received from peers not flushed; trying again at the next tick");
                    }
                },
            }
        }
        drop(inner);
        if let Some((since, flush)) = outside {
            let flushed = flush();
            let mut inner = self.lock();
            inner.flushing_since = None;
            if let Err(error) = flushed {
                tracing::error!(%error, "changes received from peers not flushed; trying again at the next tick");
                inner.unflushed_since = Some(inner.unflushed_since.map_or(since, |s| s.min(since)));
            }
        }
        self.compact_due();
    }

    /// Compacts the documents whose log has grown enough (see
    /// [`COMPACT_AFTER_CHUNKS`]), off the path of actions: the lock is held to copy
    /// the document and to write the snapshot, not while the copy is saved — the
    /// part whose cost follows the whole document. Chunks stored meanwhile are
    /// appended to the snapshot (automerge loads a saved document followed by
    /// changes), so it holds every chunk it replaces. [`Replica::tick`] calls it.
    pub fn compact_due(&self) {
        let copies: Vec<(DocumentName, Automerge)> = {
            let mut inner = self.lock();
            let due: Vec<DocumentName> = inner
                .logs
                .iter()
                .filter(|(name, log)| log.due() && !inner.unstored.contains(*name))
                .map(|(name, _)| name.clone())
                .collect();
            let mut copies = Vec::new();
            for name in due {
                if let Some(document) = inner.core.document(&name) {
                    copies.push((name.clone(), document.clone()));
                    inner.compacting.insert(name, Vec::new());
                }
            }
            copies
        };
        for (name, copy) in copies {
            let mut snapshot = copy.save();
            drop(copy);
            let mut inner = self.lock();
            let Some(since) = inner.compacting.remove(&name) else {
                // Called off: the document was reloaded, retired or stored whole.
                continue;
            };
            if inner.unstored.contains(&name) {
                // Peer changes the store refused: the next local change stores the
                // whole document.
                continue;
            }
            snapshot.extend_from_slice(&since);
            let Inner { core, store, .. } = &mut *inner;
            let Some(document) = core.document(&name) else {
                continue;
            };
            match store.compact_saved(&name, document, &snapshot) {
                Ok(()) => inner.compacted(&name, snapshot.len()),
                Err(error) => {
                    tracing::warn!(document = %name, %error, "compaction failed; chunks kept");
                }
            }
        }
    }

    /// Changes received from peers are flushed within `bound` (default
    /// [`FLUSH_RECEIVED_WITHIN`]), given ticks at most `bound / 2` apart.
    pub fn set_flush_within(&self, bound: Duration) {
        self.lock().flush_within = bound;
    }

    /// Whether the next tick has no catch-up to do ([`Replicator::is_idle`]).
    pub fn is_idle(&self) -> bool {
        self.lock().core.is_idle()
    }

    /// Whether changes received from peers wait for their flush.
    pub fn has_unflushed_received(&self) -> bool {
        let inner = self.lock();
        inner.unflushed_since.is_some() || inner.flushing_since.is_some()
    }

    fn input(&self, input: Input<'_>) {
        let now = self.now();
        let mut inner = self.lock();
        inner.read_wall_clock(now);
        let outputs = inner.core.handle(now, input);
        self.carry_out(&mut inner, now, outputs);
        self.note_catch_up(&mut inner);
    }

    /// Records that a store catching up has caught up, once the core holds a peer's
    /// whole greeting: durably, after every change received before (the store keeps
    /// the record only with them). A failed write leaves it waiting; the next input
    /// tries again.
    fn note_catch_up(&self, inner: &mut Inner<S>) {
        if !self.catch_up.borrow().is_pending() {
            return;
        }
        let Some(peer) = inner.core.caught_up_from().cloned() else {
            return;
        };
        let caught_up = CatchUp::FromPeer(peer.clone());
        let recorded = inner
            .store_all_received()
            .and_then(|()| inner.store.record_catch_up(&caught_up));
        match recorded {
            Ok(()) => {
                inner.unflushed_since = None;
                tracing::info!(
                    %peer,
                    incarnation = %self.incarnation,
                    "the new store has caught up with the office from {peer}; this device issues and calls from now on"
                );
                self.catch_up.send_replace(caught_up);
            }
            Err(error) => {
                tracing::error!(%error, "caught up from {peer}, but the store did not take it; trying again");
            }
        }
    }

    fn now(&self) -> Duration {
        self.clock.now()
    }

    fn lock(&self) -> MutexGuard<'_, Inner<S>> {
        // A panic while holding the lock leaves documents as automerge left them;
        // the core already guards automerge's panics, so carry on.
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn carry_out(&self, inner: &mut Inner<S>, now: Duration, outputs: Vec<Output>) {
        let mut pending = outputs;
        while !pending.is_empty() {
            let mut more = Vec::new();
            for output in pending {
                match output {
                    Output::Send { connection, frame } => {
                        if let Some(outlet) = inner.outlets.get(&connection) {
                            // A closed outlet means the writer is gone; the reader
                            // reports the disconnect.
                            let _ = outlet.send(Outgoing::Frame(frame));
                        }
                    }
                    Output::Close { connection, error } => {
                        if let Some(outlet) = inner.outlets.remove(&connection) {
                            let _ = outlet.send(Outgoing::Close(error));
                        }
                    }
                    Output::PeerReady { peer, .. } => {
                        tracing::info!(peer = %peer.node, role = ?peer.role, "peer connected");
                    }
                    Output::DocumentChanged { name, chunk } => {
                        match inner.store.append(&name, &chunk, Durability::Buffered) {
                            Ok(()) => {
                                inner.count_chunk(&name, &chunk);
                                inner.unflushed_since.get_or_insert(now);
                            }
                            Err(error) => {
                                tracing::error!(document = %name, %error, "change from a peer not stored; the next local change stores the whole document");
                                inner.unstored.insert(name.clone());
                            }
                        }
                        let _ = self.remote_changes.send(RemoteChange { name });
                    }
                    Output::ChangesQueued { name, chunk } => {
                        match inner.store.append(&name, &chunk, Durability::Buffered) {
                            Ok(()) => {
                                inner.count_chunk(&name, &chunk);
                                inner.unflushed_since.get_or_insert(now);
                            }
                            Err(error) => {
                                tracing::error!(document = %name, %error, "changes from a peer not stored; the next local change stores the whole document");
                                inner.unstored.insert(name.clone());
                            }
                        }
                    }
                    Output::DocumentAnnounced { name } => {
                        let _ = self.remote_changes.send(RemoteChange { name });
                    }
                    Output::SyncStateChanged { peer, name, state } => {
                        if let Err(error) = inner.store.save_sync_state(&peer, &name, &state) {
                            tracing::warn!(%peer, document = %name, %error, "sync state not saved");
                        }
                    }
                    Output::DocumentDamaged { name } => {
                        let reloaded = match inner.store.load(&name) {
                            Ok(loaded) => loaded.map(|l| l.document).unwrap_or_default(),
                            Err(error) => {
                                tracing::error!(document = %name, %error, "damaged document not reloadable; starting it empty, peers refill it");
                                Automerge::new()
                            }
                        };
                        tracing::warn!(document = %name, "document reloaded from the store after an automerge panic");
                        inner.compacting.remove(&name);
                        more.extend(inner.core.restore_document(now, name, reloaded));
                    }
                }
            }
            pending = more;
        }
    }
}

impl<S: DocumentStore> Drop for Replica<S> {
    fn drop(&mut self) {
        if let Err(error) = self.lock().store.flush() {
            tracing::warn!(%error, "store not flushed on close");
        }
    }
}

impl<S: DocumentStore> Inner<S> {
    /// Makes sure the store holds every change received from peers: documents whose
    /// peer changes the store refused are stored whole.
    fn store_all_received(&mut self) -> Result<(), StoreError> {
        let unstored: Vec<DocumentName> = self.unstored.iter().cloned().collect();
        for name in unstored {
            self.compact(&name)?;
        }
        Ok(())
    }

    fn read_wall_clock(&mut self, now: Duration) {
        if let Some(wall) = &self.wall_clock {
            let wall_ms = (wall.0)();
            self.core.set_wall_clock(now, wall_ms);
        }
    }

    /// Counts a chunk stored for `name`; the next tick compacts the document when
    /// its log has grown enough ([`Replica::compact_due`]).
    fn count_chunk(&mut self, name: &DocumentName, chunk: &[u8]) {
        let log = self.logs.entry(name.clone()).or_default();
        log.chunks += 1;
        log.bytes += chunk.len();
        if let Some(since) = self.compacting.get_mut(name) {
            since.extend_from_slice(chunk);
        }
    }

    /// The document's log is one snapshot of `bytes` now.
    fn compacted(&mut self, name: &DocumentName, bytes: usize) {
        self.logs.insert(
            name.clone(),
            Log {
                chunks: 0,
                bytes: 0,
                snapshot: bytes,
            },
        );
    }

    /// Compaction rewrites only the stored form: the in-memory document (and with it
    /// every session's sync state) stays as it is, so unlike a reload it needs no
    /// sync-state reset. This one saves under the replica's lock: it is for the rare
    /// whole-document writes (peer changes the store refused); the routine
    /// compaction is [`Replica::compact_due`]'s, at the tick.
    fn compact(&mut self, name: &DocumentName) -> Result<(), StoreError> {
        self.compacting.remove(name);
        if let Some(document) = self.core.document(name) {
            self.store.compact(name, document)?;
            let snapshot = self.logs.get(name).map_or(0, |log| log.snapshot);
            self.compacted(name, snapshot);
            self.unstored.remove(name);
        }
        Ok(())
    }
}

/// What a document's log holds since its last snapshot.
#[derive(Debug, Default, Clone, Copy)]
struct Log {
    chunks: usize,
    bytes: usize,
    /// The last snapshot's size; 0 when unknown (none yet, or loaded at start).
    snapshot: usize,
}

impl Log {
    /// Whether the next tick should compact the document.
    fn due(&self) -> bool {
        self.chunks >= COMPACT_AFTER_CHUNKS_AT_MOST
            || (self.chunks >= COMPACT_AFTER_CHUNKS
                && self.bytes >= self.snapshot / COMPACT_AFTER_SHARE)
    }
}
