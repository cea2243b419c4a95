//! An in-memory [`DocumentStore`]: the same records as the sled store, kept in
//! maps, for tests and simulations of a whole [`Replica`](crate::Replica) without a
//! disk. Clones share their records, so a test can "restart" a replica on the
//! store the previous one wrote.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use automerge::Automerge;

use crate::name::{DocumentName, Incarnation, NodeId};
use crate::store::{CatchUp, DocumentStore, Durability, LoadedDocument, StoreError};

/// Documents and sync states in memory. Nothing is ever lost, and `flush` is free.
#[derive(Clone, Debug, Default)]
pub struct MemoryStore {
    records: Arc<Mutex<Records>>,
}

#[derive(Debug)]
struct Records {
    snapshots: BTreeMap<DocumentName, Vec<u8>>,
    chunks: BTreeMap<DocumentName, Vec<Vec<u8>>>,
    sync_states: BTreeMap<(NodeId, DocumentName), Vec<u8>>,
    incarnation: Incarnation,
    catch_up: CatchUp,
}

/// Incarnations of the process's memory stores: distinct, as random ones are.
static NEXT_INCARNATION: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(1);

impl Default for Records {
    fn default() -> Self {
        Records {
            snapshots: BTreeMap::new(),
            chunks: BTreeMap::new(),
            sync_states: BTreeMap::new(),
            incarnation: Incarnation::new(
                NEXT_INCARNATION.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            ),
            catch_up: CatchUp::Pending,
        }
    }
}

impl MemoryStore {
    /// An empty store: new, so it has to catch up ([`CatchUp::Pending`]).
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty store of a device that needs not catch up ([`CatchUp::Established`]):
    /// for tests that are not about catching up.
    pub fn established() -> Self {
        let store = Self::default();
        store.records().catch_up = CatchUp::Established;
        store
    }

    fn records(&self) -> MutexGuard<'_, Records> {
        self.records
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl DocumentStore for MemoryStore {
    fn append(
        &self,
        name: &DocumentName,
        chunk: &[u8],
        _durability: Durability,
    ) -> Result<(), StoreError> {
        self.records()
            .chunks
            .entry(name.clone())
            .or_default()
            .push(chunk.to_vec());
        Ok(())
    }

    fn flush(&self) -> Result<(), StoreError> {
        Ok(())
    }

    fn load(&self, name: &DocumentName) -> Result<Option<LoadedDocument>, StoreError> {
        let records = self.records();
        let snapshot = records.snapshots.get(name);
        let chunks = records.chunks.get(name);
        if snapshot.is_none() && chunks.is_none() {
            return Ok(None);
        }
        let refused = |source| StoreError::Document {
            name: name.clone(),
            source: Box::new(source),
        };
        let mut document = match snapshot {
            Some(bytes) => Automerge::load(bytes).map_err(refused)?,
            None => Automerge::new(),
        };
        for chunk in chunks.into_iter().flatten() {
            document.load_incremental(chunk).map_err(refused)?;
        }
        Ok(Some(LoadedDocument {
            document,
            chunks_since_snapshot: chunks.map_or(0, Vec::len),
            skipped_records: 0,
        }))
    }

    fn document_names(&self) -> Result<Vec<DocumentName>, StoreError> {
        let records = self.records();
        let mut names: Vec<DocumentName> = records
            .snapshots
            .keys()
            .chain(records.chunks.keys())
            .cloned()
            .collect();
        names.sort();
        names.dedup();
        Ok(names)
    }

    fn compact(&mut self, name: &DocumentName, document: &Automerge) -> Result<(), StoreError> {
        let mut records = self.records();
        records.snapshots.insert(name.clone(), document.save());
        records.chunks.remove(name);
        Ok(())
    }

    fn remove_document(&mut self, name: &DocumentName) -> Result<(), StoreError> {
        let mut records = self.records();
        records.snapshots.remove(name);
        records.chunks.remove(name);
        records
            .sync_states
            .retain(|(_, document), _| document != name);
        Ok(())
    }

    fn save_sync_state(
        &self,
        peer: &NodeId,
        name: &DocumentName,
        state: &[u8],
    ) -> Result<(), StoreError> {
        self.records()
            .sync_states
            .insert((peer.clone(), name.clone()), state.to_vec());
        Ok(())
    }

    fn sync_states(&self) -> Result<Vec<(NodeId, DocumentName, Vec<u8>)>, StoreError> {
        Ok(self
            .records()
            .sync_states
            .iter()
            .map(|((peer, name), state)| (peer.clone(), name.clone(), state.clone()))
            .collect())
    }

    fn size_on_disk(&self) -> Result<u64, StoreError> {
        let records = self.records();
        let bytes = records.snapshots.values().map(Vec::len).sum::<usize>()
            + records
                .chunks
                .values()
                .flatten()
                .map(Vec::len)
                .sum::<usize>()
            + records.sync_states.values().map(Vec::len).sum::<usize>();
        Ok(bytes as u64)
    }

    fn incarnation(&self) -> Incarnation {
        self.records().incarnation
    }

    fn catch_up(&self) -> Result<CatchUp, StoreError> {
        Ok(self.records().catch_up.clone())
    }

    fn record_catch_up(&self, caught_up: &CatchUp) -> Result<(), StoreError> {
        self.records().catch_up = caught_up.clone();
        Ok(())
    }
}
