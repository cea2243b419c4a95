//! The local copy of the office's documents on disk, in sled.
//!
//! Owns the on-disk layout and its crash behaviour. The store directory holds
//! - `CURRENT`: the number `g` of the generation in use, replaced atomically;
//! - `<g>/`: a sled database with
//!   - tree `chunks`: one record per appended automerge chunk, keyed by
//!     `document name, 0, sled-generated id (big endian)`, so a prefix scan returns
//!     a document's chunks in the order they were written;
//!   - tree `snapshots`: one compacted `save()` per document;
//!   - tree `sync_states`: the encoded automerge sync state per `(peer, document)`;
//!   - tree `meta`: what the store keeps about itself — its `incarnation`, drawn at
//!     random when the store is created, and `catch-up`, whether a store that began
//!     empty has caught up with the office since (see [`CatchUp`]);
//! - `lock`: locked for as long as a [`Store`] has the directory open.
//!
//! Every value carries a CRC-32 of its bytes. A record whose checksum does not match
//! (a torn last write) is skipped with a warning; everything written before it still
//! loads. sled's background flusher is switched off: data is on disk exactly when
//! [`Store::append`] with [`Durability::Flushed`] (or [`Store::flush`]) has returned.
//! sled fsyncs its log on `flush` but not the blob files it keeps values and tree
//! nodes over 128 KB in (a big day's snapshot), so the store fsyncs new blob files
//! itself before each flush.
//!
//! # Generations
//!
//! sled is log-structured: every insert, removal and rewrite of a tree node appends
//! to its 512 KB segments, and space comes back only when a whole segment has
//! emptied and lies at the end of the file. A node that writes a day as thousands
//! of small flushed changes, replacing the day's snapshot at every compaction, ends
//! with live records scattered over many segments (2.5 MB for a 3,000-ticket day
//! whose snapshot is 72 KB). And every time sled opens a database it zero-fills the
//! rest of the segment it resumes writing in, so a database opened twice takes at
//! least 512 KB. (sled's only knob for this, `segment_size`, is documented as
//! testing-only.)
//!
//! So the store copies its live records into a fresh database, generation `g + 1`,
//! when its files take more than `live + max(live, 64 KB)` bytes: after opening
//! (which makes a store of less than 256 KB of records always get a fresh copy),
//! and after a compaction. The fresh database stays open, so it is never
//! zero-filled. A rewrite is crash-safe:
//!
//! 1. the records are copied into `<g + 1>/`, flushed, and every file in it fsynced;
//! 2. `CURRENT.tmp` is written with `g + 1`, fsynced and renamed to `CURRENT`, and
//!    the directory fsynced: this is the commit;
//! 3. the store switches to the new database and removes `<g>/`.
//!
//! [`Store::open`] uses the generation `CURRENT` names and removes what a crash left
//! behind: other generations' directories and `CURRENT.tmp`. A store from before
//! generations (sled's files directly in the store directory) is generation 0; it is
//! copied into generation 1 when opened and its files are removed after the commit.
//!
//! # A new store
//!
//! A store is created with a fresh [`Incarnation`] and [`CatchUp::Pending`], both
//! flushed before `CURRENT` first names its generation, so a store either has them
//! or is not there. Until the device has caught up with the office from a peer (or an
//! operator stated that it is the office's only device) it issues nothing: it might
//! not know what its earlier store issued today. [`Store::record_catch_up`] records
//! the end of that wait after everything written before it, in sled's one log, so a
//! crash before all of the peer's changes are on disk leaves the store pending.
//!
//! **Architecture Invariant**: nothing here interprets document contents; the store
//! only keeps bytes that automerge produced and gives them back in order.

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::fs::{File, TryLockError};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use automerge::Automerge;

use crate::name::{DocumentName, Incarnation, NameError, NodeId};

/// How long [`Store::append`] waits before returning.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Durability {
    /// Returns only after the chunk is flushed to disk: for local changes that a
    /// person is about to see confirmed (ticket printed, "called" shown).
    Flushed,
    /// Returns once the chunk is in sled's buffers; flushed with the next durable
    /// write or [`Store::flush`]. For changes received from peers, which can be
    /// fetched again.
    Buffered,
}

/// What went wrong with the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// sled reported an error.
    #[error("store: {0}")]
    Sled(#[from] sled::Error),
    /// The store directory, or a file or directory in it, could not be created,
    /// read, written, moved or removed.
    #[error("store directory {path}: {source}")]
    Directory {
        /// The directory or file concerned.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// Another process (or another `Store` in this one) holds the store's lock; it
    /// is not moved aside, since it is in use.
    #[error("store {0} is locked by another process")]
    Locked(PathBuf),
    /// `CURRENT` does not name a generation that is there.
    #[error("store {0}: CURRENT does not name a generation that is there")]
    Current(PathBuf),
    /// A stored document could not be loaded by automerge.
    #[error("document {name}: {source}")]
    Document {
        /// The document concerned.
        name: DocumentName,
        /// automerge's complaint.
        source: Box<automerge::AutomergeError>,
    },
    /// What the store keeps about itself (its incarnation, whether it caught up)
    /// cannot be read.
    #[error("store {path}: its record {record:?} is damaged")]
    Meta {
        /// The store.
        path: PathBuf,
        /// The record.
        record: &'static str,
    },
    /// The operating system gave no random bits for a new store's incarnation.
    #[error("no random bits for a new store's incarnation")]
    NoRandomness,
}

/// Whether a store that began empty has caught up with the office since. Until it
/// has, its device may not know the ticket ids, display numbers and clock stamps it
/// gave out earlier today (on a disk since replaced, or in a store set aside), so it
/// issues and calls nothing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CatchUp {
    /// The store began empty and has not caught up yet.
    Pending,
    /// It caught up from this peer: it held everything the peer greeted it with.
    FromPeer(NodeId),
    /// An operator stated that this device is the office's only one
    /// (`aufruf run --only-device`).
    OnlyDevice,
    /// The store was in use before stores kept this record.
    Established,
}

impl CatchUp {
    /// Whether the device still waits to catch up.
    pub fn is_pending(&self) -> bool {
        matches!(self, CatchUp::Pending)
    }

    /// The record's text in the store.
    fn encode(&self) -> String {
        match self {
            CatchUp::Pending => "pending".to_owned(),
            CatchUp::FromPeer(peer) => format!("peer:{peer}"),
            CatchUp::OnlyDevice => "only-device".to_owned(),
            CatchUp::Established => "established".to_owned(),
        }
    }

    fn decode(text: &str) -> Option<Self> {
        match text {
            "pending" => Some(CatchUp::Pending),
            "only-device" => Some(CatchUp::OnlyDevice),
            "established" => Some(CatchUp::Established),
            _ => NodeId::new(text.strip_prefix("peer:")?)
                .ok()
                .map(CatchUp::FromPeer),
        }
    }
}

impl std::fmt::Display for CatchUp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CatchUp::Pending => f.write_str("catching up with the office"),
            CatchUp::FromPeer(peer) => write!(f, "caught up from {peer}"),
            CatchUp::OnlyDevice => f.write_str("stated the office's only device"),
            CatchUp::Established => f.write_str("established"),
        }
    }
}

impl StoreError {
    /// Whether the error says the store's contents are damaged (then a fresh store
    /// refilled from peers is the way on), rather than that its surroundings failed:
    /// the lock is held, or the system refused (permissions, space, file
    /// descriptors, memory, a read-only file system, an I/O error of the disk).
    pub fn is_corruption(&self) -> bool {
        let environment = |e: &io::Error| {
            use io::ErrorKind as K;
            matches!(
                e.kind(),
                K::PermissionDenied
                    | K::StorageFull
                    | K::QuotaExceeded
                    | K::ReadOnlyFilesystem
                    | K::ResourceBusy
                    | K::WouldBlock
                    | K::OutOfMemory
                    | K::Interrupted
                    | K::TimedOut
            ) || matches!(
                e.raw_os_error(),
                // EIO, ENFILE, EMFILE, ENOMEM
                Some(5 | 23 | 24 | 12)
            )
        };
        match self {
            StoreError::Locked(_) => false,
            StoreError::Directory { source, .. } => !environment(source),
            StoreError::Sled(sled::Error::Io(source)) => !environment(source),
            StoreError::NoRandomness => false,
            StoreError::Sled(_)
            | StoreError::Current(_)
            | StoreError::Document { .. }
            | StoreError::Meta { .. } => true,
        }
    }
}

/// The sled store of one node.
#[derive(Debug)]
pub struct Store {
    path: PathBuf,
    /// The generation in use; 0 for sled's files directly in `path`.
    generation: u64,
    trees: Trees,
    /// Drawn when the store was created; kept for its life.
    incarnation: Incarnation,
    /// Blob files of the current generation known to be fsynced.
    synced_blobs: Arc<Mutex<BTreeSet<OsString>>>,
    /// The lock on `lock`; declared last so it is released only after the database
    /// has closed.
    _lock: File,
}

/// An open sled database and its trees.
#[derive(Debug)]
struct Trees {
    db: sled::Db,
    chunks: sled::Tree,
    snapshots: sled::Tree,
    sync_states: sled::Tree,
    meta: sled::Tree,
}

/// The result of [`Store::open`].
#[derive(Debug)]
pub struct OpenedStore {
    /// The store, ready for use.
    pub store: Store,
    /// Where an unopenable store was moved to, if it was; the new store is empty and
    /// refills from peers.
    pub moved_aside: Option<PathBuf>,
}

/// A document as loaded from the store, with how many chunks follow its snapshot.
#[derive(Debug)]
pub struct LoadedDocument {
    /// The document.
    pub document: Automerge,
    /// Chunks stored after the last snapshot; a hint for when to compact.
    pub chunks_since_snapshot: usize,
    /// Records skipped because their checksum did not match (a torn write).
    pub skipped_records: usize,
}

const CHECKSUM_LEN: usize = 4;
/// Length of the sled-generated id that ends a chunk key.
const CHUNK_ID_LEN: usize = 8;

/// Space beyond the live records that the store's files may take before the store
/// is rewritten: as much as the records take, but at least this much, so that a
/// small store is not rewritten at every compaction.
const REWRITE_SLACK: u64 = 64 * 1024;

const INCARNATION: &str = "incarnation";
const CATCH_UP: &str = "catch-up";

const CURRENT: &str = "CURRENT";
const CURRENT_TMP: &str = "CURRENT.tmp";
const LOCK: &str = "lock";
/// What sled 0.34 keeps in its directory: what generation 0 leaves behind.
const SLED_FILES: [&str; 3] = ["conf", "db", "blobs"];
const SLED_SNAPSHOT_PREFIX: &str = "snap.";

/// What a [`Replica`](crate::Replica) needs of its store: [`Store`] (sled) on a
/// device, [`MemoryStore`](crate::memory_store::MemoryStore) in tests and
/// simulations. Errors are [`StoreError`]s either way.
pub trait DocumentStore: Send + std::fmt::Debug {
    /// Appends one automerge chunk to a document's log; with
    /// [`Durability::Flushed`] it is durable when this returns.
    fn append(
        &self,
        name: &DocumentName,
        chunk: &[u8],
        durability: Durability,
    ) -> Result<(), StoreError>;
    /// Makes everything written so far durable.
    fn flush(&self) -> Result<(), StoreError>;
    /// What makes everything written so far durable, called without the store (the
    /// replica flushes what it received from peers outside its lock, so receiving
    /// goes on during the disk's sync); `None`: [`Self::flush`] under the lock.
    fn flush_handle(&self) -> Option<FlushHandle> {
        None
    }
    /// A document from its snapshot and the chunks after it; `None` when the store
    /// knows nothing of it.
    fn load(&self, name: &DocumentName) -> Result<Option<LoadedDocument>, StoreError>;
    /// The names of all stored documents.
    fn document_names(&self) -> Result<Vec<DocumentName>, StoreError>;
    /// Replaces a document's log by a snapshot of `document`, which must contain
    /// every stored chunk of it.
    fn compact(&mut self, name: &DocumentName, document: &Automerge) -> Result<(), StoreError>;
    /// Like [`Self::compact`], with the snapshot saved already (outside the
    /// replica's lock): `snapshot` loads to a document that contains every stored
    /// chunk of `name`, as `document` does. By default `document` is saved again.
    fn compact_saved(
        &mut self,
        name: &DocumentName,
        document: &Automerge,
        snapshot: &[u8],
    ) -> Result<(), StoreError> {
        let _ = snapshot;
        self.compact(name, document)
    }
    /// Deletes a document with its chunks, snapshot and sync states.
    fn remove_document(&mut self, name: &DocumentName) -> Result<(), StoreError>;
    /// Saves the encoded automerge sync state for `peer` and `name`.
    fn save_sync_state(
        &self,
        peer: &NodeId,
        name: &DocumentName,
        state: &[u8],
    ) -> Result<(), StoreError>;
    /// All saved sync states, as `(peer, document, encoded state)`.
    fn sync_states(&self) -> Result<Vec<(NodeId, DocumentName, Vec<u8>)>, StoreError>;
    /// Bytes the store occupies.
    fn size_on_disk(&self) -> Result<u64, StoreError>;
    /// The store's incarnation, drawn when it was created.
    fn incarnation(&self) -> Incarnation;
    /// Whether the store, if it began empty, has caught up with the office since.
    fn catch_up(&self) -> Result<CatchUp, StoreError>;
    /// Records how the store caught up: durable when this returns, and written after
    /// everything written before it, so a crash never keeps the record without them.
    fn record_catch_up(&self, caught_up: &CatchUp) -> Result<(), StoreError>;
}

impl DocumentStore for Store {
    fn append(
        &self,
        name: &DocumentName,
        chunk: &[u8],
        durability: Durability,
    ) -> Result<(), StoreError> {
        Store::append(self, name, chunk, durability)
    }

    fn flush(&self) -> Result<(), StoreError> {
        Store::flush(self)
    }

    fn flush_handle(&self) -> Option<FlushHandle> {
        let flusher = self.flusher();
        Some(Box::new(move || flusher.flush()))
    }

    fn load(&self, name: &DocumentName) -> Result<Option<LoadedDocument>, StoreError> {
        Store::load(self, name)
    }

    fn document_names(&self) -> Result<Vec<DocumentName>, StoreError> {
        Store::document_names(self)
    }

    fn compact(&mut self, name: &DocumentName, document: &Automerge) -> Result<(), StoreError> {
        Store::compact(self, name, document)
    }

    fn compact_saved(
        &mut self,
        name: &DocumentName,
        _document: &Automerge,
        snapshot: &[u8],
    ) -> Result<(), StoreError> {
        Store::compact_with(self, name, snapshot)
    }

    fn remove_document(&mut self, name: &DocumentName) -> Result<(), StoreError> {
        Store::remove_document(self, name)
    }

    fn save_sync_state(
        &self,
        peer: &NodeId,
        name: &DocumentName,
        state: &[u8],
    ) -> Result<(), StoreError> {
        Store::save_sync_state(self, peer, name, state)
    }

    fn sync_states(&self) -> Result<Vec<(NodeId, DocumentName, Vec<u8>)>, StoreError> {
        Store::sync_states(self)
    }

    fn size_on_disk(&self) -> Result<u64, StoreError> {
        Store::size_on_disk(self)
    }

    fn incarnation(&self) -> Incarnation {
        self.incarnation
    }

    fn catch_up(&self) -> Result<CatchUp, StoreError> {
        Store::catch_up(self)
    }

    fn record_catch_up(&self, caught_up: &CatchUp) -> Result<(), StoreError> {
        Store::record_catch_up(self, caught_up)
    }
}

impl Store {
    /// Opens the store at `path`, creating it if needed, and rewrites it into a
    /// fresh generation if its files are much larger than its records. A store that
    /// cannot be opened (or whose records cannot be read) is renamed to
    /// `<path>.unopenable-<unix seconds of now>` and a fresh, empty store is created
    /// in its place, with a warning in the log. `now` (the caller's wall clock) only
    /// names that directory; the store reads no clock itself.
    pub fn open(path: &Path, now: SystemTime) -> Result<OpenedStore, StoreError> {
        let (mut store, moved_aside) = match Self::open_unchecked(path) {
            Ok(store) => (store, None),
            // Not the store's fault (in use, no space, no permission, no file
            // descriptors, a failing disk): moving it aside would throw away good
            // data and reissue what it holds. The node stops and says why.
            Err(error) if !error.is_corruption() => return Err(error),
            Err(error) => {
                let aside = aside_path(path, now);
                tracing::warn!(
                    store = %path.display(),
                    moved_to = %aside.display(),
                    %error,
                    "store cannot be opened; moved aside, starting empty and refilling from peers"
                );
                std::fs::rename(path, &aside).map_err(directory_error(path))?;
                (Self::open_unchecked(path)?, Some(aside))
            }
        };
        store.rewrite_if_bloated();
        Ok(OpenedStore { store, moved_aside })
    }

    fn open_unchecked(path: &Path) -> Result<Store, StoreError> {
        std::fs::create_dir_all(path).map_err(directory_error(path))?;
        let lock = lock_store(path)?;
        let (generation, trees) = match read_current(path)? {
            Some(generation) => {
                let generation_path = generation_path(path, generation);
                if !generation_path.join("db").is_file() {
                    // Not left by any crash: the generation is fsynced before
                    // `CURRENT` names it. Better moved aside than silently empty.
                    return Err(StoreError::Current(path.to_owned()));
                }
                remove_leftovers(path, Some(generation))?;
                (generation, open_trees(&generation_path)?)
            }
            None if SLED_FILES.iter().any(|file| path.join(file).exists()) => {
                remove_leftovers(path, None)?;
                (0, open_trees(path)?)
            }
            None => {
                remove_leftovers(path, None)?;
                let trees = open_trees(&generation_path(path, 1))?;
                // A new store: it has to catch up before its device issues anything.
                write_meta(&trees, INCARNATION, &new_incarnation()?.to_string())?;
                write_meta(&trees, CATCH_UP, &CatchUp::Pending.encode())?;
                trees.db.flush()?;
                sync_directory_tree(&generation_path(path, 1))
                    .map_err(directory_error(&generation_path(path, 1)))?;
                commit_generation(path, 1)?;
                (1, trees)
            }
        };
        let incarnation = match read_meta(&trees, path, INCARNATION)? {
            Some(text) => text.parse().map_err(|_| StoreError::Meta {
                path: path.to_owned(),
                record: INCARNATION,
            })?,
            None => {
                // A store from before incarnations: it has its history, and gets an
                // incarnation for what it issues from now on.
                let incarnation = new_incarnation()?;
                write_meta(&trees, INCARNATION, &incarnation.to_string())?;
                write_meta(&trees, CATCH_UP, &CatchUp::Established.encode())?;
                trees.db.flush()?;
                incarnation
            }
        };
        let store = Store {
            path: path.to_owned(),
            generation,
            trees,
            incarnation,
            synced_blobs: Arc::default(),
            _lock: lock,
        };
        store.catch_up()?;
        Ok(store)
    }

    /// The store's incarnation, drawn when it was created.
    pub fn incarnation(&self) -> Incarnation {
        self.incarnation
    }

    /// Whether the store, if it began empty, has caught up with the office since.
    pub fn catch_up(&self) -> Result<CatchUp, StoreError> {
        let damaged = || StoreError::Meta {
            path: self.path.clone(),
            record: CATCH_UP,
        };
        match read_meta(&self.trees, &self.path, CATCH_UP)? {
            Some(text) => CatchUp::decode(&text).ok_or_else(damaged),
            None => Err(damaged()),
        }
    }

    /// Records how the store caught up, flushed with everything written before it.
    pub fn record_catch_up(&self, caught_up: &CatchUp) -> Result<(), StoreError> {
        write_meta(&self.trees, CATCH_UP, &caught_up.encode())?;
        self.flush()
    }

    /// Appends one automerge chunk (a change, or `save_after` of several) to a
    /// document's log.
    pub fn append(
        &self,
        name: &DocumentName,
        chunk: &[u8],
        durability: Durability,
    ) -> Result<(), StoreError> {
        let id = self.trees.db.generate_id()?;
        let mut key = document_prefix(name);
        key.extend_from_slice(&id.to_be_bytes());
        self.trees.chunks.insert(key, with_checksum(chunk))?;
        if durability == Durability::Flushed {
            self.flush()?;
        }
        Ok(())
    }

    /// Flushes everything written so far to disk.
    pub fn flush(&self) -> Result<(), StoreError> {
        self.flusher().flush()
    }

    /// What flushes the current generation, without the store.
    fn flusher(&self) -> Flusher {
        Flusher {
            db: self.trees.db.clone(),
            blobs: generation_path(&self.path, self.generation).join("blobs"),
            synced_blobs: self.synced_blobs.clone(),
        }
    }
}

/// [`DocumentStore::flush_handle`]: makes everything written so far durable.
pub type FlushHandle = Box<dyn FnOnce() -> Result<(), StoreError> + Send>;

/// Flushes one generation of a [`Store`] without the store. Should the store switch
/// to a new generation meanwhile, that one was flushed whole as it was written.
struct Flusher {
    db: sled::Db,
    blobs: PathBuf,
    synced_blobs: Arc<Mutex<BTreeSet<OsString>>>,
}

impl Flusher {
    fn flush(&self) -> Result<(), StoreError> {
        // Blobs first: a log on disk that names a blob missing after a power cut
        // would make the whole store unreadable.
        self.sync_new_blobs()?;
        self.db.flush()?;
        Ok(())
    }

    /// fsyncs the blob files not fsynced yet (sled writes but never fsyncs them).
    fn sync_new_blobs(&self) -> Result<(), StoreError> {
        let blobs = &self.blobs;
        let entries = match std::fs::read_dir(blobs) {
            Ok(entries) => entries,
            Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(error) => return Err(directory_error(blobs)(error)),
        };
        let mut synced = self
            .synced_blobs
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut present = BTreeSet::new();
        let mut new = false;
        for entry in entries {
            let entry = entry.map_err(directory_error(blobs))?;
            let name = entry.file_name();
            if !synced.contains(&name) {
                match File::open(entry.path()).and_then(|file| file.sync_all()) {
                    Ok(()) => new = true,
                    // sled removed it meanwhile.
                    Err(error) if error.kind() == io::ErrorKind::NotFound => continue,
                    Err(error) => return Err(directory_error(&entry.path())(error)),
                }
            }
            present.insert(name);
        }
        if new {
            sync_directory(blobs).map_err(directory_error(blobs))?;
        }
        *synced = present;
        Ok(())
    }
}

impl Store {
    /// Loads a document from its snapshot and the chunks after it; `None` when the
    /// store knows nothing of it.
    pub fn load(&self, name: &DocumentName) -> Result<Option<LoadedDocument>, StoreError> {
        let key = name.to_string();
        let mut skipped_records = 0;
        let mut document = Automerge::new();
        let mut known = false;
        if let Some(record) = self.trees.snapshots.get(key.as_bytes())? {
            known = true;
            match verified(&record) {
                Some(bytes) => {
                    document = Automerge::load(bytes).map_err(|source| StoreError::Document {
                        name: name.clone(),
                        source: Box::new(source),
                    })?;
                }
                None => {
                    skipped_records += 1;
                    tracing::warn!(document = %name, "snapshot fails its checksum; skipped");
                }
            }
        }
        let mut chunks_since_snapshot = 0;
        for record in self.trees.chunks.scan_prefix(document_prefix(name)) {
            let (_, value) = record?;
            known = true;
            match verified(&value) {
                Some(bytes) => {
                    chunks_since_snapshot += 1;
                    // automerge itself ignores a partially readable chunk, keeping
                    // every complete change in it.
                    document
                        .load_incremental(bytes)
                        .map_err(|source| StoreError::Document {
                            name: name.clone(),
                            source: Box::new(source),
                        })?;
                }
                None => {
                    skipped_records += 1;
                    tracing::warn!(document = %name, "chunk fails its checksum (torn write); skipped");
                }
            }
        }
        Ok(known.then_some(LoadedDocument {
            document,
            chunks_since_snapshot,
            skipped_records,
        }))
    }

    /// The names of all documents in the store.
    pub fn document_names(&self) -> Result<Vec<DocumentName>, StoreError> {
        let mut names = std::collections::BTreeSet::new();
        for record in self.trees.snapshots.iter() {
            let (key, _) = record?;
            if let Some(name) = parse_name(&key) {
                names.insert(name);
            }
        }
        for record in self.trees.chunks.iter() {
            let (key, _) = record?;
            let text_end = key.iter().position(|b| *b == 0).unwrap_or(key.len());
            if let Some(name) = parse_name(&key[..text_end]) {
                names.insert(name);
            }
        }
        Ok(names.into_iter().collect())
    }

    /// Replaces a document's snapshot and chunk log by one `save()` of `document`:
    /// the snapshot durably, the log's removal with the next flush. `document` must contain every chunk stored for
    /// `name` (it does when it is the in-memory copy every append came from).
    ///
    /// Then, if the store's files have grown well past its records, rewrites the
    /// store into a fresh generation (see the module docs); a rewrite that fails is
    /// logged and leaves the store as it was.
    pub fn compact(&mut self, name: &DocumentName, document: &Automerge) -> Result<(), StoreError> {
        self.compact_with(name, &document.save())
    }

    /// [`Self::compact`] with the document saved already: `saved` (a saved document,
    /// possibly followed by changes) must load to one that holds every chunk stored
    /// for `name`.
    pub fn compact_with(&mut self, name: &DocumentName, saved: &[u8]) -> Result<(), StoreError> {
        let snapshot = with_checksum(saved);
        let old_keys: Vec<sled::IVec> = self
            .trees
            .chunks
            .scan_prefix(document_prefix(name))
            .keys()
            .collect::<Result<_, _>>()?;
        let key = name.to_string();
        let mut batch = sled::Batch::default();
        for old in &old_keys {
            batch.remove(old.clone());
        }
        // The snapshot goes in first, durably: a crash before the chunks' removal is
        // on disk leaves the snapshot plus chunks it already contains, which load
        // harmlessly. So the removal needs no flush of its own; the next one (within
        // the flush bound, or the next local change's) takes it along.
        self.trees.snapshots.insert(key.as_bytes(), snapshot)?;
        self.flush()?;
        self.trees.chunks.apply_batch(batch)?;
        self.rewrite_if_bloated();
        Ok(())
    }

    /// Rewrites the store into a fresh generation if its files take more than
    /// `live + max(live, 64 KB)` bytes, or if it is still generation 0. Failures are
    /// logged: the store stays as it was, and is as good.
    fn rewrite_if_bloated(&mut self) {
        let measured = self
            .size_on_disk()
            .and_then(|size| Ok((size, self.trees.live_bytes()?)));
        let (size, live) = match measured {
            Ok(measured) => measured,
            Err(error) => {
                tracing::warn!(store = %self.path.display(), %error, "store size not measured; not rewritten");
                return;
            }
        };
        if self.generation != 0 && size <= live + live.max(REWRITE_SLACK) {
            return;
        }
        tracing::debug!(store = %self.path.display(), size, live, "rewriting the store into a fresh generation");
        if let Err(error) = self.rewrite() {
            tracing::warn!(store = %self.path.display(), %error, "store not rewritten; it stays as it was");
        }
    }

    /// Copies every record into generation `g + 1`, commits it and switches to it.
    fn rewrite(&mut self) -> Result<(), StoreError> {
        let next = self.generation + 1;
        let next_path = generation_path(&self.path, next);
        let fresh = match self.write_generation(next) {
            Ok(fresh) => fresh,
            Err(error) => {
                // Best effort: `Store::open` removes it too.
                let _ = remove_if_present(&next_path);
                return Err(error);
            }
        };
        if let Err(error) = commit_generation(&self.path, next) {
            match read_current(&self.path) {
                // Renamed, but the directory's fsync failed: `CURRENT` names the new
                // generation now, so writes must go there.
                Ok(Some(current)) if current == next => {
                    tracing::warn!(store = %self.path.display(), %error, "store generation committed, its directory not fsynced");
                }
                Ok(_) => {
                    drop(fresh);
                    let _ = remove_if_present(&self.path.join(CURRENT_TMP));
                    let _ = remove_if_present(&next_path);
                    return Err(error);
                }
                // Which generation is current is unknown: remove nothing and keep
                // using the old one; `Store::open` goes by whatever `CURRENT` says.
                Err(_) => return Err(error),
            }
        }
        let old = std::mem::replace(&mut self.trees, fresh);
        let old_generation = std::mem::replace(&mut self.generation, next);
        self.synced_blobs = Arc::default();
        drop(old);
        if let Err(error) = remove_leftovers(&self.path, Some(next)) {
            // Harmless: the next `Store::open` removes them.
            tracing::warn!(store = %self.path.display(), old_generation, %error, "old store generation not removed");
        }
        Ok(())
    }

    /// Step 1 of a rewrite: a fresh copy of every record in `<generation>/`, on disk
    /// and still open. The current generation is only read.
    fn write_generation(&self, generation: u64) -> Result<Trees, StoreError> {
        let path = generation_path(&self.path, generation);
        remove_if_present(&path).map_err(directory_error(&path))?;
        let copy = open_trees(&path)?;
        let mut chunks = sled::Batch::default();
        for record in self.trees.chunks.iter() {
            let (key, value) = record?;
            // Fresh ids from the copy's generator, taken in key order: each
            // document's chunks keep their order, and chunks appended later get
            // larger ids from the same generator.
            let prefix_len = key.len().saturating_sub(CHUNK_ID_LEN);
            let mut new_key = key[..prefix_len].to_vec();
            new_key.extend_from_slice(&copy.db.generate_id()?.to_be_bytes());
            chunks.insert(new_key, value);
        }
        copy.chunks.apply_batch(chunks)?;
        for (from, to) in [
            (&self.trees.snapshots, &copy.snapshots),
            (&self.trees.sync_states, &copy.sync_states),
            (&self.trees.meta, &copy.meta),
        ] {
            let mut batch = sled::Batch::default();
            for record in from.iter() {
                let (key, value) = record?;
                batch.insert(key, value);
            }
            to.apply_batch(batch)?;
        }
        copy.db.flush()?;
        // sled fsyncs its log on flush, but neither its `conf` nor blob files.
        sync_directory_tree(&path).map_err(directory_error(&path))?;
        Ok(copy)
    }

    /// Deletes a document with its chunks, snapshot and sync states, flushes, and
    /// rewrites the store into a fresh generation so the old bytes leave the disk
    /// with the old generation's files (sled would keep them in its log for long).
    pub fn remove_document(&mut self, name: &DocumentName) -> Result<(), StoreError> {
        let key = name.to_string();
        let chunk_keys: Vec<sled::IVec> = self
            .trees
            .chunks
            .scan_prefix(document_prefix(name))
            .keys()
            .collect::<Result<_, _>>()?;
        let mut chunks = sled::Batch::default();
        for old in chunk_keys {
            chunks.remove(old);
        }
        let mut states = sled::Batch::default();
        for record in self.trees.sync_states.iter() {
            let (state_key, _) = record?;
            let named = state_key
                .iter()
                .position(|b| *b == 0)
                .and_then(|split| parse_name(&state_key[split + 1..]));
            if named.as_ref() == Some(name) {
                states.remove(state_key);
            }
        }
        self.trees.chunks.apply_batch(chunks)?;
        self.trees.snapshots.remove(key.as_bytes())?;
        self.trees.sync_states.apply_batch(states)?;
        self.flush()?;
        self.rewrite()
    }

    /// Saves the encoded automerge sync state for `peer` and `name` (buffered; it is
    /// flushed with the next durable write).
    pub fn save_sync_state(
        &self,
        peer: &NodeId,
        name: &DocumentName,
        state: &[u8],
    ) -> Result<(), StoreError> {
        self.trees
            .sync_states
            .insert(sync_state_key(peer, name), with_checksum(state))?;
        Ok(())
    }

    /// All saved sync states, as `(peer, document, encoded state)`.
    pub fn sync_states(&self) -> Result<Vec<(NodeId, DocumentName, Vec<u8>)>, StoreError> {
        let mut states = Vec::new();
        for record in self.trees.sync_states.iter() {
            let (key, value) = record?;
            let Some(split) = key.iter().position(|b| *b == 0) else {
                continue;
            };
            let peer = std::str::from_utf8(&key[..split])
                .map_err(|_| NameError::Id(String::new()))
                .and_then(NodeId::new);
            let name = parse_name(&key[split + 1..]);
            if let (Ok(peer), Some(name), Some(bytes)) = (peer, name, verified(&value)) {
                states.push((peer, name, bytes.to_vec()));
            }
        }
        Ok(states)
    }

    /// Bytes the store occupies on disk: the sizes of all files in its directory
    /// (sled's log, blobs, snapshots and configuration, `CURRENT`, `lock`).
    pub fn size_on_disk(&self) -> Result<u64, StoreError> {
        directory_size(&self.path).map_err(directory_error(&self.path))
    }
}

impl Trees {
    /// Bytes of all keys and values.
    fn live_bytes(&self) -> Result<u64, StoreError> {
        let mut bytes = 0;
        for tree in [&self.chunks, &self.snapshots, &self.sync_states, &self.meta] {
            for record in tree.iter() {
                let (key, value) = record?;
                bytes += (key.len() + value.len()) as u64;
            }
        }
        Ok(bytes)
    }
}

/// Opens (or creates) the sled database at `path` and reads every record once, so
/// a database that opens but cannot be read is treated like one that does not open.
fn open_trees(path: &Path) -> Result<Trees, StoreError> {
    let config = sled::Config::new().path(path).flush_every_ms(None);
    // A process killed a moment ago may still hold sled's file lock; its kernel
    // lock disappears with it, so a short wait is worth it before giving up on
    // the store. (Not a test-synchronisation sleep: this is start-up code.)
    let mut attempts = 0;
    let db = loop {
        match config.open() {
            Ok(db) => break db,
            Err(sled::Error::Io(error)) if error.to_string().contains("could not acquire lock") => {
                if attempts == 20 {
                    return Err(StoreError::Locked(path.to_owned()));
                }
                attempts += 1;
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
            Err(error) => return Err(error.into()),
        }
    };
    let trees = Trees {
        chunks: db.open_tree("chunks")?,
        snapshots: db.open_tree("snapshots")?,
        sync_states: db.open_tree("sync_states")?,
        meta: db.open_tree("meta")?,
        db,
    };
    for tree in [
        &trees.chunks,
        &trees.snapshots,
        &trees.sync_states,
        &trees.meta,
    ] {
        for record in tree.iter() {
            record?;
        }
    }
    Ok(trees)
}

/// A random incarnation for a new store, from the operating system's generator; never
/// [`Incarnation::UNRECORDED`], which names the tickets of before incarnations.
fn new_incarnation() -> Result<Incarnation, StoreError> {
    let random = ring::rand::SystemRandom::new();
    loop {
        let bits: [u8; 4] = ring::rand::generate(&random)
            .map_err(|_| StoreError::NoRandomness)?
            .expose();
        let incarnation = Incarnation::new(u32::from_be_bytes(bits));
        if incarnation != Incarnation::UNRECORDED {
            return Ok(incarnation);
        }
    }
}

/// A record of the store about itself; `None` when it has none of that name.
fn read_meta(
    trees: &Trees,
    path: &Path,
    record: &'static str,
) -> Result<Option<String>, StoreError> {
    let Some(value) = trees.meta.get(record.as_bytes())? else {
        return Ok(None);
    };
    verified(&value)
        .and_then(|bytes| std::str::from_utf8(bytes).ok())
        .map(|text| Some(text.to_owned()))
        .ok_or_else(|| StoreError::Meta {
            path: path.to_owned(),
            record,
        })
}

/// Writes a record of the store about itself (buffered, like every sled write).
fn write_meta(trees: &Trees, record: &str, text: &str) -> Result<(), StoreError> {
    trees
        .meta
        .insert(record.as_bytes(), with_checksum(text.as_bytes()))?;
    Ok(())
}

/// Takes the lock on `<path>/lock`, waiting up to two seconds for a process that
/// was killed a moment ago to let go of it.
fn lock_store(path: &Path) -> Result<File, StoreError> {
    let lock_path = path.join(LOCK);
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(directory_error(&lock_path))?;
    let mut attempts = 0;
    loop {
        match file.try_lock() {
            Ok(()) => return Ok(file),
            Err(TryLockError::WouldBlock) => {
                if attempts == 20 {
                    return Err(StoreError::Locked(path.to_owned()));
                }
                attempts += 1;
                // Start-up code, not test synchronisation: see `open_trees`.
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
            Err(TryLockError::Error(source)) => return Err(directory_error(&lock_path)(source)),
        }
    }
}

/// The generation `CURRENT` names; `None` when there is no `CURRENT`.
fn read_current(path: &Path) -> Result<Option<u64>, StoreError> {
    let current = path.join(CURRENT);
    match std::fs::read_to_string(&current) {
        Ok(text) => match text.trim().parse::<u64>() {
            Ok(generation) if generation > 0 => Ok(Some(generation)),
            _ => Err(StoreError::Current(path.to_owned())),
        },
        Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(error) => Err(directory_error(&current)(error)),
    }
}

/// Step 2 of a rewrite: makes `generation` the one `CURRENT` names, durably.
fn commit_generation(path: &Path, generation: u64) -> Result<(), StoreError> {
    let tmp = path.join(CURRENT_TMP);
    let write = || -> io::Result<()> {
        let mut file = File::create(&tmp)?;
        file.write_all(format!("{generation}\n").as_bytes())?;
        file.sync_all()?;
        std::fs::rename(&tmp, path.join(CURRENT))?;
        sync_directory(path)
    };
    write().map_err(directory_error(&tmp))
}

/// Removes what a crash or a finished rewrite leaves in the store directory:
/// `CURRENT.tmp` and the directories of generations other than `current`; once a
/// generation is current, also generation 0's sled files. Nothing else is touched.
fn remove_leftovers(path: &Path, current: Option<u64>) -> Result<(), StoreError> {
    let remove = || -> io::Result<()> {
        for entry in std::fs::read_dir(path)? {
            let entry = entry?;
            let name = entry.file_name();
            let name = name.to_string_lossy();
            let stale = match name.parse::<u64>() {
                Ok(generation) => Some(generation) != current,
                Err(_) => {
                    name == CURRENT_TMP
                        || (current.is_some()
                            && (SLED_FILES.contains(&name.as_ref())
                                || name.starts_with(SLED_SNAPSHOT_PREFIX)))
                }
            };
            if stale {
                remove_if_present(&entry.path())?;
            }
        }
        Ok(())
    };
    remove().map_err(directory_error(path))
}

fn generation_path(path: &Path, generation: u64) -> PathBuf {
    if generation == 0 {
        path.to_owned()
    } else {
        path.join(generation.to_string())
    }
}

fn remove_if_present(path: &Path) -> io::Result<()> {
    let removed = if path.is_dir() {
        std::fs::remove_dir_all(path)
    } else {
        std::fs::remove_file(path)
    };
    match removed {
        Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(()),
        other => other,
    }
}

/// Wraps an I/O error about `path`.
fn directory_error(path: &Path) -> impl FnOnce(io::Error) -> StoreError + use<> {
    let path = path.to_owned();
    move |source| StoreError::Directory { path, source }
}

/// The sum of the sizes of all files under `path`.
fn directory_size(path: &Path) -> io::Result<u64> {
    let mut size = 0;
    for entry in std::fs::read_dir(path)? {
        let entry = entry?;
        let metadata = entry.metadata()?;
        size += if metadata.is_dir() {
            directory_size(&entry.path())?
        } else {
            metadata.len()
        };
    }
    Ok(size)
}

/// fsyncs every file and directory under `path`, and `path` itself.
fn sync_directory_tree(path: &Path) -> io::Result<()> {
    for entry in std::fs::read_dir(path)? {
        let entry = entry?;
        if entry.file_type()?.is_dir() {
            sync_directory_tree(&entry.path())?;
        } else {
            File::open(entry.path())?.sync_all()?;
        }
    }
    sync_directory(path)
}

/// Makes a directory's entries (creations, renames) durable.
#[cfg(unix)]
fn sync_directory(path: &Path) -> io::Result<()> {
    File::open(path)?.sync_all()
}

/// Elsewhere a directory cannot be opened to be fsynced; its entries are as
/// durable as the file system makes them.
#[cfg(not(unix))]
fn sync_directory(_path: &Path) -> io::Result<()> {
    Ok(())
}

fn aside_path(path: &Path, now: SystemTime) -> PathBuf {
    let seconds = now
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let mut file_name = path.file_name().unwrap_or_default().to_os_string();
    file_name.push(format!(".unopenable-{seconds}"));
    let mut aside = path.with_file_name(&file_name);
    let mut n = 1;
    while aside.exists() {
        let mut numbered = file_name.clone();
        numbered.push(format!("-{n}"));
        aside = path.with_file_name(numbered);
        n += 1;
    }
    aside
}

fn document_prefix(name: &DocumentName) -> Vec<u8> {
    let mut key = name.to_string().into_bytes();
    key.push(0);
    key
}

fn sync_state_key(peer: &NodeId, name: &DocumentName) -> Vec<u8> {
    let mut key = peer.as_str().as_bytes().to_vec();
    key.push(0);
    key.extend_from_slice(name.to_string().as_bytes());
    key
}

fn parse_name(bytes: &[u8]) -> Option<DocumentName> {
    DocumentName::parse(std::str::from_utf8(bytes).ok()?).ok()
}

fn with_checksum(bytes: &[u8]) -> Vec<u8> {
    let mut record = Vec::with_capacity(bytes.len() + CHECKSUM_LEN);
    record.extend_from_slice(&crc32fast::hash(bytes).to_le_bytes());
    record.extend_from_slice(bytes);
    record
}

fn verified(record: &[u8]) -> Option<&[u8]> {
    let (checksum, bytes) = record.split_at_checked(CHECKSUM_LEN)?;
    let expected = u32::from_le_bytes(checksum.try_into().ok()?);
    (crc32fast::hash(bytes) == expected).then_some(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use automerge::transaction::Transactable;
    use automerge::{ROOT, ReadDoc};

    /// 11 March 2026, 00:00 UTC: the tests' now.
    fn now() -> SystemTime {
        UNIX_EPOCH + std::time::Duration::from_secs(1_773_187_200)
    }

    fn day() -> DocumentName {
        DocumentName::day(2026, 3, 11).unwrap()
    }

    /// Makes one change on `doc` and returns its chunk.
    fn issue_ticket(doc: &mut Automerge, ticket: &str) -> Vec<u8> {
        let before = doc.get_heads();
        doc.transact::<_, _, automerge::AutomergeError>(|tx| {
            tx.put(ROOT, ticket, "issued")?;
            Ok(())
        })
        .unwrap();
        doc.save_after(&before)
    }

    /// Collects what `tracing` writes, to check the operator is told.
    #[derive(Clone, Default)]
    struct LogCapture(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

    impl LogCapture {
        fn text(&self) -> String {
            String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
        }
    }

    impl std::io::Write for LogCapture {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LogCapture {
        type Writer = LogCapture;
        fn make_writer(&'a self) -> Self::Writer {
            self.clone()
        }
    }

    fn copy_dir(from: &Path, to: &Path) {
        std::fs::create_dir_all(to).unwrap();
        for entry in std::fs::read_dir(from).unwrap() {
            let entry = entry.unwrap();
            let target = to.join(entry.file_name());
            if entry.file_type().unwrap().is_dir() {
                copy_dir(&entry.path(), &target);
            } else {
                std::fs::copy(entry.path(), target).unwrap();
            }
        }
    }

    #[test]
    fn a_flushed_append_is_on_disk_when_append_returns() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store");
        let store = Store::open(&path, now()).unwrap().store;
        let mut doc = Automerge::new();
        let chunk = issue_ticket(&mut doc, "A-001");
        store.append(&day(), &chunk, Durability::Flushed).unwrap();
        // Like kill -9: no Drop runs, so nothing but the flush inside `append` can
        // have written the chunk; and sled's background flusher is off.
        std::mem::forget(store);
        let crashed = dir.path().join("as-left-by-crash");
        copy_dir(&path, &crashed);
        let reopened = Store::open(&crashed, now()).unwrap();
        assert!(reopened.moved_aside.is_none());
        let loaded = reopened.store.load(&day()).unwrap().unwrap();
        assert_eq!(loaded.document.get_heads(), doc.get_heads());
    }

    #[test]
    fn documents_reload_from_snapshot_and_later_chunks_after_compaction() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store");
        let mut doc = Automerge::new();
        {
            let mut store = Store::open(&path, now()).unwrap().store;
            for n in 0..20 {
                let chunk = issue_ticket(&mut doc, &format!("A-{n:03}"));
                store.append(&day(), &chunk, Durability::Buffered).unwrap();
            }
            store.compact(&day(), &doc).unwrap();
            let chunk = issue_ticket(&mut doc, "A-100");
            store.append(&day(), &chunk, Durability::Flushed).unwrap();
            assert_eq!(
                store.trees.chunks.len(),
                1,
                "compaction removed the old chunks"
            );
        }
        let store = Store::open(&path, now()).unwrap().store;
        let loaded = store.load(&day()).unwrap().unwrap();
        assert_eq!(loaded.chunks_since_snapshot, 1);
        assert_eq!(loaded.document.get_heads(), doc.get_heads());
        assert_eq!(loaded.document.keys(ROOT).count(), 21);
        assert_eq!(store.document_names().unwrap(), vec![day()]);
        assert!(store.load(&DocumentName::Office).unwrap().is_none());
    }

    #[test]
    fn a_torn_last_write_loses_nothing_written_before_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store");
        let mut doc = Automerge::new();
        {
            let store = Store::open(&path, now()).unwrap().store;
            for n in 0..5 {
                let chunk = issue_ticket(&mut doc, &format!("A-{n:03}"));
                store.append(&day(), &chunk, Durability::Flushed).unwrap();
            }
            let heads_before_tear = doc.get_heads();
            // The last record as a crash mid-write leaves it: cut short.
            let mut torn = Automerge::load(&doc.save()).unwrap();
            let last = issue_ticket(&mut torn, "A-999");
            let mut record = with_checksum(&last);
            record.truncate(record.len() / 2);
            let mut key = document_prefix(&day());
            key.extend_from_slice(&u64::MAX.to_be_bytes());
            store.trees.chunks.insert(key, record).unwrap();
            store.flush().unwrap();
            assert_eq!(doc.get_heads(), heads_before_tear);
        }
        let store = Store::open(&path, now()).unwrap().store;
        let loaded = store.load(&day()).unwrap().unwrap();
        assert_eq!(loaded.skipped_records, 1);
        assert_eq!(loaded.document.get_heads(), doc.get_heads());
        assert_eq!(loaded.document.keys(ROOT).count(), 5);
    }

    #[test]
    fn sync_states_are_kept_per_peer_and_document() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store");
        let desk = NodeId::new("desk-1").unwrap();
        let kiosk = NodeId::new("kiosk-1").unwrap();
        {
            let store = Store::open(&path, now()).unwrap().store;
            store.save_sync_state(&desk, &day(), b"one").unwrap();
            store
                .save_sync_state(&kiosk, &DocumentName::Office, b"two")
                .unwrap();
            store.save_sync_state(&desk, &day(), b"three").unwrap();
            store.flush().unwrap();
        }
        let store = Store::open(&path, now()).unwrap().store;
        let mut states = store.sync_states().unwrap();
        states.sort();
        assert_eq!(
            states,
            vec![
                (desk, day(), b"three".to_vec()),
                (kiosk, DocumentName::Office, b"two".to_vec()),
            ]
        );
    }

    #[test]
    fn an_unopenable_store_is_moved_aside_and_a_fresh_one_created() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store");
        // sled finds a file where its directory should be.
        std::fs::write(&path, b"not a sled store").unwrap();
        let log = LogCapture::default();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(log.clone())
            .with_ansi(false)
            .finish();
        let opened =
            tracing::subscriber::with_default(subscriber, || Store::open(&path, now())).unwrap();
        let logged = log.text();
        assert!(logged.contains("moved aside"), "{logged}");
        assert!(logged.contains("WARN"), "{logged}");
        let aside = opened.moved_aside.expect("moved aside");
        assert_eq!(aside, dir.path().join("store.unopenable-1773187200"));
        assert_eq!(std::fs::read(&aside).unwrap(), b"not a sled store");
        assert!(path.is_dir());
        assert!(opened.store.document_names().unwrap().is_empty());
        assert_eq!(opened.store.catch_up().unwrap(), CatchUp::Pending);
    }

    #[test]
    fn only_damaged_contents_count_as_corruption_not_a_refusing_system() {
        let directory = |kind: io::ErrorKind| StoreError::Directory {
            path: PathBuf::from("store"),
            source: io::Error::from(kind),
        };
        for kind in [
            io::ErrorKind::PermissionDenied,
            io::ErrorKind::StorageFull,
            io::ErrorKind::ReadOnlyFilesystem,
            io::ErrorKind::OutOfMemory,
        ] {
            assert!(!directory(kind).is_corruption(), "{kind:?}");
            let sled = StoreError::Sled(sled::Error::Io(io::Error::from(kind)));
            assert!(!sled.is_corruption(), "sled {kind:?}");
        }
        for errno in [5, 23, 24] {
            let e = StoreError::Directory {
                path: PathBuf::from("store"),
                source: io::Error::from_raw_os_error(errno),
            };
            assert!(!e.is_corruption(), "errno {errno}");
        }
        assert!(!StoreError::Locked(PathBuf::from("store")).is_corruption());
        assert!(StoreError::Current(PathBuf::from("store")).is_corruption());
        assert!(directory(io::ErrorKind::InvalidData).is_corruption());
        assert!(directory(io::ErrorKind::UnexpectedEof).is_corruption());
        assert!(StoreError::Sled(sled::Error::Corruption { at: None, bt: () }).is_corruption());
    }

    #[test]
    fn a_store_in_use_is_not_moved_aside() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store");
        let _in_use = Store::open(&path, now()).unwrap();
        assert!(matches!(
            Store::open(&path, now()),
            Err(StoreError::Locked(_))
        ));
        assert!(!dir.path().read_dir().unwrap().any(|e| {
            e.unwrap()
                .file_name()
                .to_string_lossy()
                .contains("unopenable")
        }));
    }

    #[test]
    fn a_store_with_garbage_in_its_log_is_moved_aside() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store");
        let first_incarnation = {
            let store = Store::open(&path, now()).unwrap().store;
            let mut doc = Automerge::new();
            let chunk = issue_ticket(&mut doc, "A-001");
            store.append(&day(), &chunk, Durability::Flushed).unwrap();
            store.incarnation()
        };
        let generation = read_current(&path).unwrap().unwrap();
        let sled_dir = generation_path(&path, generation);
        std::fs::write(sled_dir.join("conf"), b"\xff\xfe garbage").unwrap();
        std::fs::write(sled_dir.join("db"), vec![0xA5; 4096]).unwrap();
        let opened = Store::open(&path, now()).unwrap();
        assert!(opened.moved_aside.is_some());
        assert!(opened.store.document_names().unwrap().is_empty());
        // The fresh store is a new incarnation that has to catch up.
        assert_eq!(opened.store.catch_up().unwrap(), CatchUp::Pending);
        assert_ne!(opened.store.incarnation(), first_incarnation);
    }

    #[test]
    fn a_new_store_must_catch_up_and_keeps_its_incarnation_and_the_record_of_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store");
        let store = Store::open(&path, now()).unwrap().store;
        let incarnation = store.incarnation();
        assert_eq!(store.catch_up().unwrap(), CatchUp::Pending);
        drop(store);
        // A restart before catching up is still pending: same store, same wait.
        let store = Store::open(&path, now()).unwrap().store;
        assert_eq!(store.catch_up().unwrap(), CatchUp::Pending);
        assert_eq!(store.incarnation(), incarnation);
        let desk = CatchUp::FromPeer(NodeId::new("desk-1").unwrap());
        store.record_catch_up(&desk).unwrap();
        // Opening rewrites the store into a fresh generation; the records go along.
        let generation = store.generation;
        drop(store);
        let store = Store::open(&path, now()).unwrap().store;
        assert!(store.generation > generation);
        assert_eq!(store.catch_up().unwrap(), desk);
        assert_eq!(store.incarnation(), incarnation);
        for record in [
            CatchUp::OnlyDevice,
            CatchUp::Established,
            CatchUp::Pending,
            desk,
        ] {
            assert_eq!(CatchUp::decode(&record.encode()), Some(record));
        }
        assert_eq!(CatchUp::decode("peer:../x"), None);
    }

    #[test]
    fn a_damaged_record_of_the_store_moves_it_aside() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store");
        {
            let store = Store::open(&path, now()).unwrap().store;
            store
                .trees
                .meta
                .insert(CATCH_UP, b"\0\0\0\0garbage".to_vec())
                .unwrap();
            store.flush().unwrap();
        }
        let opened = Store::open(&path, now()).unwrap();
        assert!(opened.moved_aside.is_some());
        assert_eq!(opened.store.catch_up().unwrap(), CatchUp::Pending);
    }

    /// A store at `path` with `tickets` flushed tickets, and the document they make.
    fn store_with_tickets(path: &Path, tickets: usize) -> (Store, Automerge) {
        let store = Store::open(path, now()).unwrap().store;
        let mut doc = Automerge::new();
        for n in 0..tickets {
            let chunk = issue_ticket(&mut doc, &format!("A-{n:03}"));
            store.append(&day(), &chunk, Durability::Flushed).unwrap();
        }
        (store, doc)
    }

    /// The entries of a store directory, sorted, generations as `<n>`.
    fn entries(path: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(path)
            .unwrap()
            .map(|e| {
                let name = e.unwrap().file_name().to_string_lossy().into_owned();
                if name.parse::<u64>().is_ok() {
                    "<n>".to_owned()
                } else {
                    name
                }
            })
            .collect();
        names.sort();
        names
    }

    /// Opens what a crash left at `path` (copied, as a crashed process's locks die
    /// with it) and checks it holds `doc`, with nothing left over.
    fn reopen_after_crash(dir: &Path, path: &Path, doc: &Automerge) -> Store {
        let crashed = dir.join("as-left-by-crash");
        copy_dir(path, &crashed);
        let opened = Store::open(&crashed, now()).unwrap();
        assert!(opened.moved_aside.is_none());
        let loaded = opened.store.load(&day()).unwrap().unwrap();
        assert_eq!(loaded.document.get_heads(), doc.get_heads());
        assert_eq!(entries(&crashed), ["<n>", "CURRENT", "lock"]);
        opened.store
    }

    #[test]
    fn a_fresh_store_is_a_generation_with_its_lock_next_to_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store");
        let store = Store::open(&path, now()).unwrap().store;
        assert_eq!(entries(&path), ["<n>", "CURRENT", "lock"]);
        assert_eq!(read_current(&path).unwrap(), Some(store.generation));
        assert!(generation_path(&path, store.generation).join("db").exists());
    }

    #[test]
    fn reopening_rewrites_the_store_instead_of_keeping_sleds_padded_segment() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store");
        let (store, doc) = store_with_tickets(&path, 50);
        let first = store.generation;
        drop(store);
        let store = Store::open(&path, now()).unwrap().store;
        // sled zero-fills the rest of its 512 KB segment on opening a database;
        // the fresh generation written from it is not.
        assert_eq!(store.generation, first + 1);
        assert!(store.size_on_disk().unwrap() < 64 * 1024);
        assert_eq!(entries(&path), ["<n>", "CURRENT", "lock"]);
        let loaded = store.load(&day()).unwrap().unwrap();
        assert_eq!(loaded.document.get_heads(), doc.get_heads());
        assert_eq!(loaded.chunks_since_snapshot, 50);
        // The chunks keep their order under new ids: later appends go after them.
        let mut doc = doc;
        let chunk = issue_ticket(&mut doc, "B-001");
        store.append(&day(), &chunk, Durability::Flushed).unwrap();
        let last = store.trees.chunks.iter().next_back().unwrap().unwrap().1;
        assert_eq!(verified(&last), Some(chunk.as_slice()));
    }

    #[test]
    fn a_rewrite_interrupted_while_copying_leaves_the_old_generation_in_use() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store");
        let (store, doc) = store_with_tickets(&path, 20);
        let next = store.generation + 1;
        // Step 1 half done: the copy's files exist but hold garbage.
        std::fs::create_dir_all(generation_path(&path, next)).unwrap();
        std::fs::write(generation_path(&path, next).join("db"), vec![0xA5; 4096]).unwrap();
        std::fs::write(path.join(CURRENT_TMP), b"9").unwrap();
        std::mem::forget(store);
        reopen_after_crash(dir.path(), &path, &doc);
    }

    #[test]
    fn a_rewrite_interrupted_before_its_commit_leaves_the_old_generation_in_use() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store");
        let (store, doc) = store_with_tickets(&path, 20);
        let old = store.generation;
        // Step 1 done, step 2 not.
        let copy = store.write_generation(old + 1).unwrap();
        std::mem::forget(copy);
        std::mem::forget(store);
        assert_eq!(read_current(&path).unwrap(), Some(old));
        reopen_after_crash(dir.path(), &path, &doc);
    }

    #[test]
    fn a_rewrite_interrupted_after_its_commit_uses_the_new_generation() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store");
        let (store, doc) = store_with_tickets(&path, 20);
        let old = store.generation;
        // Steps 1 and 2 done; the old generation neither closed nor removed.
        let copy = store.write_generation(old + 1).unwrap();
        commit_generation(&path, old + 1).unwrap();
        std::mem::forget(copy);
        std::mem::forget(store);
        let store = reopen_after_crash(dir.path(), &path, &doc);
        assert!(
            store.generation > old + 1,
            "reopened from the new generation"
        );
    }

    #[test]
    fn compaction_rewrites_a_bloated_store_and_appends_go_on_in_the_new_generation() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store");
        let (mut store, mut doc) = store_with_tickets(&path, 600);
        let before = store.generation;
        store.compact(&day(), &doc).unwrap();
        assert_eq!(store.generation, before + 1);
        assert_eq!(entries(&path), ["<n>", "CURRENT", "lock"]);
        let chunk = issue_ticket(&mut doc, "B-001");
        store.append(&day(), &chunk, Durability::Flushed).unwrap();
        std::mem::forget(store);
        reopen_after_crash(dir.path(), &path, &doc);
    }

    #[test]
    fn a_store_from_before_generations_is_moved_into_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store");
        let mut doc = Automerge::new();
        {
            // The layout of earlier versions: sled's files in the store directory.
            let db = sled::Config::new().path(&path).open().unwrap();
            let chunks = db.open_tree("chunks").unwrap();
            for n in 0..3 {
                let chunk = issue_ticket(&mut doc, &format!("A-{n:03}"));
                let mut key = document_prefix(&day());
                key.extend_from_slice(&db.generate_id().unwrap().to_be_bytes());
                chunks.insert(key, with_checksum(&chunk)).unwrap();
            }
            db.flush().unwrap();
        }
        // A migration that a crash interrupted before its commit.
        std::fs::create_dir_all(path.join("1")).unwrap();
        std::fs::write(path.join("1").join("db"), b"half").unwrap();
        let opened = Store::open(&path, now()).unwrap();
        assert!(opened.moved_aside.is_none());
        assert!(opened.store.generation >= 1);
        assert_eq!(entries(&path), ["<n>", "CURRENT", "lock"]);
        let loaded = opened.store.load(&day()).unwrap().unwrap();
        assert_eq!(loaded.document.get_heads(), doc.get_heads());
        // It has its history: it need not catch up, and issues under an incarnation
        // of its own from now on.
        assert_eq!(opened.store.catch_up().unwrap(), CatchUp::Established);
        let incarnation = opened.store.incarnation();
        drop(opened);
        assert_eq!(
            Store::open(&path, now()).unwrap().store.incarnation(),
            incarnation
        );
    }

    #[test]
    fn a_chunk_stored_as_a_sled_blob_is_on_disk_when_append_returns() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store");
        let store = Store::open(&path, now()).unwrap().store;
        let mut doc = Automerge::new();
        let before = doc.get_heads();
        // Over 128 KB: sled keeps it in a blob file of its own.
        doc.transact::<_, _, automerge::AutomergeError>(|tx| {
            tx.put(ROOT, "notice", "x".repeat(200_000))?;
            Ok(())
        })
        .unwrap();
        let chunk = doc.save_after(&before);
        store.append(&day(), &chunk, Durability::Flushed).unwrap();
        let blobs = generation_path(&path, store.generation).join("blobs");
        assert_eq!(std::fs::read_dir(&blobs).unwrap().count(), 1);
        assert_eq!(store.synced_blobs.lock().unwrap().len(), 1);
        std::mem::forget(store);
        reopen_after_crash(dir.path(), &path, &doc);
    }

    #[test]
    fn a_current_naming_a_missing_generation_is_not_opened_as_an_empty_store() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store");
        let (store, _) = store_with_tickets(&path, 3);
        let generation = store.generation;
        drop(store);
        std::fs::remove_dir_all(generation_path(&path, generation)).unwrap();
        let opened = Store::open(&path, now()).unwrap();
        let aside = opened.moved_aside.expect("moved aside");
        assert_eq!(read_current(&aside).unwrap(), Some(generation));
        assert!(opened.store.document_names().unwrap().is_empty());
    }
}
