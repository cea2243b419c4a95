//! A node's disk as the simulation sees it: what survives a crash.
//!
//! It behaves like the real sled store of `aufruf-sync` (`Store`): a local change is
//! flushed before the office acknowledges it and before any frame carrying it leaves
//! the node (`Durability::Flushed`); changes and sync states that arrive from peers are
//! only buffered and reach the disk with the next flush. A power cut keeps a prefix of
//! the buffered writes — a log written in order may have got any part of its tail out —
//! and loses the rest.
//!
//! [`SimStore`] is the disk as the `DocumentStore` of a real `aufruf_sync::Replica`,
//! so the replica's own store handling (flush before acknowledging, buffered peer
//! changes, a whole-document write after refused peer changes, compaction, recording
//! that a new store caught up after everything before it) runs in the simulation; a
//! full disk refuses every write with an error.
//!
//! Like the real store, a disk carries its store's incarnation and whether it caught
//! up: a disk put in to replace a lost one ([`Disk::new`] with `CatchUp::Pending`)
//! has to catch up before its device issues anything.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use aufruf_sync::store::LoadedDocument;
use aufruf_sync::{
    CatchUp, DocumentName, DocumentStore, Durability, Incarnation, NodeId, StoreError,
};
use automerge::{ActorId, Automerge, AutomergeError};

/// The durable store of one simulated node.
#[derive(Debug, Clone)]
pub struct Disk {
    /// The incarnation of the store on this disk.
    incarnation: Incarnation,
    /// Durable: whether the store, begun empty, has caught up since.
    catch_up: CatchUp,
    /// Flushed chunks per document, in the order they were written.
    chunks: BTreeMap<DocumentName, Vec<Vec<u8>>>,
    /// Flushed sync states per peer and document.
    sync_states: BTreeMap<(NodeId, DocumentName), Vec<u8>>,
    /// Written but not yet flushed, oldest first.
    buffered: Vec<Write>,
    /// A full disk refuses every write.
    full: bool,
    /// Bumped by every crash: a store handle of an earlier boot writes nothing more
    /// (the dropped replica's last flush must not undo the crash).
    boots: u32,
}

#[derive(Debug, Clone)]
enum Write {
    Chunk {
        name: DocumentName,
        chunk: Vec<u8>,
    },
    SyncState {
        peer: NodeId,
        name: DocumentName,
        state: Vec<u8>,
    },
}

impl Disk {
    /// An empty disk whose store has this incarnation and stands so in catching up:
    /// [`CatchUp::Established`] for a device that has been in the office all along,
    /// [`CatchUp::Pending`] for a new disk in place of a lost one.
    pub fn new(incarnation: Incarnation, catch_up: CatchUp) -> Self {
        Disk {
            incarnation,
            catch_up,
            chunks: BTreeMap::new(),
            sync_states: BTreeMap::new(),
            buffered: Vec::new(),
            full: false,
            boots: 0,
        }
    }

    /// Where the store stands in catching up, as the disk holds it.
    pub fn catch_up(&self) -> &CatchUp {
        &self.catch_up
    }

    /// Whether the disk refuses writes.
    pub fn is_full(&self) -> bool {
        self.full
    }

    /// Fills the disk up (`true`) or frees space again.
    pub fn set_full(&mut self, full: bool) {
        self.full = full;
    }

    /// Appends a local change and flushes (with everything buffered before it). The
    /// caller checks [`Disk::is_full`] first.
    pub fn append_flushed(&mut self, name: &DocumentName, chunk: Vec<u8>) {
        self.flush();
        self.chunks.entry(name.clone()).or_default().push(chunk);
    }

    /// Replaces everything stored of `name` by one whole save, flushed (the real
    /// store's compaction).
    pub fn store_whole(&mut self, name: &DocumentName, saved: Vec<u8>) {
        self.flush();
        self.chunks.insert(name.clone(), vec![saved]);
    }

    /// Makes every buffered write durable.
    pub fn flush(&mut self) {
        let buffered = std::mem::take(&mut self.buffered);
        for write in buffered {
            self.make_durable(write);
        }
    }

    /// How many writes a crash could lose now.
    pub fn buffered_writes(&self) -> usize {
        self.buffered.len()
    }

    /// A power cut: the first `kept` buffered writes reached the disk, the rest is gone.
    pub fn crash(&mut self, kept: usize) {
        self.boots += 1;
        let buffered = std::mem::take(&mut self.buffered);
        for write in buffered.into_iter().take(kept) {
            self.make_durable(write);
        }
    }

    /// The documents on disk.
    pub fn document_names(&self) -> impl Iterator<Item = &DocumentName> {
        self.chunks.keys()
    }

    /// A document as a restarted node loads it: every durable chunk in order, with the
    /// actor the new incarnation writes as. `None` if the disk has none of it.
    pub fn load(
        &self,
        name: &DocumentName,
        actor: ActorId,
    ) -> Option<Result<Automerge, AutomergeError>> {
        let chunks = self.chunks.get(name)?;
        let mut document = Automerge::new().with_actor(actor);
        for chunk in chunks {
            if let Err(error) = document.load_incremental(chunk) {
                return Some(Err(error));
            }
        }
        Some(Ok(document))
    }

    /// The durable sync states, by peer and document.
    pub fn sync_states(&self) -> impl Iterator<Item = (&NodeId, &DocumentName, &Vec<u8>)> {
        self.sync_states
            .iter()
            .map(|((peer, name), state)| (peer, name, state))
    }

    fn make_durable(&mut self, write: Write) {
        match write {
            Write::Chunk { name, chunk } => self.chunks.entry(name).or_default().push(chunk),
            Write::SyncState { peer, name, state } => {
                self.sync_states.insert((peer, name), state);
            }
        }
    }
}

/// The simulated disk as the store of a real `aufruf_sync::Replica`: what the sled
/// store does, with the disk's faults (a crash keeps a prefix of the unflushed
/// writes; a full disk refuses every write). Documents load with the actor of the
/// device's current incarnation.
#[derive(Debug, Clone)]
pub struct SimStore {
    disk: Arc<Mutex<Disk>>,
    actor: ActorId,
    boot: u32,
}

impl SimStore {
    /// The store of the boot that starts now; documents load as `actor`.
    pub fn boot(disk: &Arc<Mutex<Disk>>, actor: ActorId) -> Self {
        let boot = lock(disk).boots;
        SimStore {
            disk: Arc::clone(disk),
            actor,
            boot,
        }
    }

    /// The disk, if this store belongs to the running boot.
    fn live(&self) -> Option<MutexGuard<'_, Disk>> {
        let disk = lock(&self.disk);
        (disk.boots == self.boot).then_some(disk)
    }

    /// The disk for a write: an error when it is full, `None` after a crash.
    fn writable(&self) -> Result<Option<MutexGuard<'_, Disk>>, StoreError> {
        match self.live() {
            Some(disk) if disk.full => Err(StoreError::Directory {
                path: "simulated disk".into(),
                source: std::io::Error::new(std::io::ErrorKind::StorageFull, "the disk is full"),
            }),
            live => Ok(live),
        }
    }
}

/// Locks a disk; a test that panicked while holding it has failed already.
pub fn lock(disk: &Mutex<Disk>) -> MutexGuard<'_, Disk> {
    disk.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Disk {
    /// Records a document with no changes yet, so that it loads (empty) at boot.
    pub fn format(&mut self, name: &DocumentName) {
        self.chunks.entry(name.clone()).or_default();
    }

    fn remove(&mut self, name: &DocumentName) {
        self.flush();
        self.chunks.remove(name);
        self.sync_states.retain(|(_, document), _| document != name);
    }
}

impl DocumentStore for SimStore {
    fn append(
        &self,
        name: &DocumentName,
        chunk: &[u8],
        durability: Durability,
    ) -> Result<(), StoreError> {
        let Some(mut disk) = self.writable()? else {
            return Ok(());
        };
        match durability {
            Durability::Flushed => disk.append_flushed(name, chunk.to_vec()),
            Durability::Buffered => disk.buffered.push(Write::Chunk {
                name: name.clone(),
                chunk: chunk.to_vec(),
            }),
        }
        Ok(())
    }

    fn flush(&self) -> Result<(), StoreError> {
        if let Some(mut disk) = self.live() {
            disk.flush();
        }
        Ok(())
    }

    fn load(&self, name: &DocumentName) -> Result<Option<LoadedDocument>, StoreError> {
        let disk = lock(&self.disk);
        let chunks_since_snapshot = disk.chunks.get(name).map_or(0, Vec::len);
        match disk.load(name, self.actor.clone()) {
            None => Ok(None),
            Some(Ok(document)) => Ok(Some(LoadedDocument {
                document,
                chunks_since_snapshot,
                skipped_records: 0,
            })),
            Some(Err(source)) => Err(StoreError::Document {
                name: name.clone(),
                source: Box::new(source),
            }),
        }
    }

    fn document_names(&self) -> Result<Vec<DocumentName>, StoreError> {
        Ok(lock(&self.disk).document_names().cloned().collect())
    }

    fn compact(&mut self, name: &DocumentName, document: &Automerge) -> Result<(), StoreError> {
        if let Some(mut disk) = self.writable()? {
            disk.store_whole(name, document.save());
        }
        Ok(())
    }

    fn remove_document(&mut self, name: &DocumentName) -> Result<(), StoreError> {
        if let Some(mut disk) = self.live() {
            disk.remove(name);
        }
        Ok(())
    }

    fn save_sync_state(
        &self,
        peer: &NodeId,
        name: &DocumentName,
        state: &[u8],
    ) -> Result<(), StoreError> {
        if let Some(mut disk) = self.writable()? {
            disk.buffered.push(Write::SyncState {
                peer: peer.clone(),
                name: name.clone(),
                state: state.to_vec(),
            });
        }
        Ok(())
    }

    fn sync_states(&self) -> Result<Vec<(NodeId, DocumentName, Vec<u8>)>, StoreError> {
        Ok(lock(&self.disk)
            .sync_states()
            .map(|(peer, name, state)| (peer.clone(), name.clone(), state.clone()))
            .collect())
    }

    fn size_on_disk(&self) -> Result<u64, StoreError> {
        Ok(0)
    }

    fn incarnation(&self) -> Incarnation {
        lock(&self.disk).incarnation
    }

    fn catch_up(&self) -> Result<CatchUp, StoreError> {
        Ok(lock(&self.disk).catch_up.clone())
    }

    /// Flushed after everything buffered before it, as in sled's one log.
    fn record_catch_up(&self, caught_up: &CatchUp) -> Result<(), StoreError> {
        if let Some(mut disk) = self.writable()? {
            disk.flush();
            disk.catch_up = caught_up.clone();
        }
        Ok(())
    }
}
