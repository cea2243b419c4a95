//! A node's disk as the simulation sees it: what survives a crash.
//!
//! It behaves like the real sled store of `aufruf-sync` (`Store`): a local change is
//! flushed before the office acknowledges it and before any frame carrying it leaves
//! the node (`Durability::Flushed`); changes and sync states that arrive from peers are
//! only buffered and reach the disk with the next flush. A power cut keeps a prefix of
//! the buffered writes — a log written in order may have got any part of its tail out —
//! and loses the rest.

use std::collections::{BTreeMap, BTreeSet};

use aufruf_sync::{DocumentName, NodeId};
use automerge::{ActorId, Automerge, AutomergeError};

/// The durable store of one simulated node.
#[derive(Debug, Default, Clone)]
pub struct Disk {
    /// Flushed chunks per document, in the order they were written.
    chunks: BTreeMap<DocumentName, Vec<Vec<u8>>>,
    /// Flushed sync states per peer and document.
    sync_states: BTreeMap<(NodeId, DocumentName), Vec<u8>>,
    /// Written but not yet flushed, oldest first.
    buffered: Vec<Write>,
    /// A full disk refuses local changes and drops what peers send.
    full: bool,
    /// Documents with peer changes the full disk dropped; like the real replica, the
    /// next local change of such a document stores the whole document.
    unstored: BTreeSet<DocumentName>,
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

    /// Appends a change that came from a peer; durable only after the next flush.
    /// On a full disk the write is lost (the real shell logs it and goes on).
    pub fn append_buffered(&mut self, name: &DocumentName, chunk: Vec<u8>) {
        if self.full {
            self.unstored.insert(name.clone());
            return;
        }
        self.buffered.push(Write::Chunk {
            name: name.clone(),
            chunk,
        });
    }

    /// Whether peer changes of `name` were dropped since its last whole write.
    pub fn is_unstored(&self, name: &DocumentName) -> bool {
        self.unstored.contains(name)
    }

    /// Replaces everything stored of `name` by one whole save, flushed (the real
    /// store's compaction).
    pub fn store_whole(&mut self, name: &DocumentName, saved: Vec<u8>) {
        self.flush();
        self.chunks.insert(name.clone(), vec![saved]);
        self.unstored.remove(name);
    }

    /// Saves a peer's sync state; durable only after the next flush.
    pub fn save_sync_state(&mut self, peer: NodeId, name: DocumentName, state: Vec<u8>) {
        if self.full {
            return;
        }
        self.buffered.push(Write::SyncState { peer, name, state });
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
