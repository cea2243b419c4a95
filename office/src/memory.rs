//! The office's documents in memory: for the services' tests and for screens that are
//! previewed without a replica. Changes are "durable" at once; there are no peers.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use aufruf_model::Incarnation;
use aufruf_sync_protocol::DocumentName;
use automerge::transaction::Transaction;
use automerge::{ActorId, Automerge};

use crate::clock::PeerClock;
use crate::day_doc::DayDocError;
use crate::replicated::{Documents, OfficeError};
use crate::service::Replication;
use crate::views::PeerView;

/// Documents held in memory, shared by clones.
#[derive(Debug, Clone, Default)]
pub struct MemoryReplica {
    inner: Arc<Mutex<Inner>>,
}

#[derive(Debug)]
struct Inner {
    documents: BTreeMap<DocumentName, Automerge>,
    peers: Vec<PeerView>,
    incarnation: Incarnation,
    catching_up: bool,
    peer_clocks: Vec<PeerClock>,
    /// Day documents after this one are not taken from peers.
    last_day: Option<DocumentName>,
}

impl Default for Inner {
    fn default() -> Self {
        // Distinct per replica of the process, as random ones are across devices.
        let bits = NEXT_INCARNATION.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Inner {
            documents: BTreeMap::new(),
            peers: Vec::new(),
            incarnation: Incarnation::new(bits),
            catching_up: false,
            peer_clocks: Vec::new(),
            last_day: None,
        }
    }
}

static NEXT_ACTOR: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
static NEXT_INCARNATION: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(1);

impl MemoryReplica {
    /// A replica of a device that has been in the office all along: it acts at once.
    pub fn new() -> Self {
        Self::default()
    }

    /// A replica on a new store (a replaced disk): it catches up until
    /// [`Self::set_caught_up`], as a real store does until a peer brought it up to date.
    pub fn new_store() -> Self {
        let replica = Self::default();
        replica.lock().catching_up = true;
        replica
    }

    /// The store has caught up with the office.
    pub fn set_caught_up(&self) {
        self.lock().catching_up = false;
    }

    /// Pretends these peers have live sessions.
    pub fn set_peers(&self, peers: Vec<PeerView>) {
        self.lock().peers = peers;
    }

    /// Pretends the peers' wall clocks are as these say.
    pub fn set_peer_clocks(&self, clocks: Vec<PeerClock>) {
        self.lock().peer_clocks = clocks;
    }

    /// The last day taken from peers, as the service last set it.
    pub fn last_day_accepted(&self) -> Option<DocumentName> {
        self.lock().last_day.clone()
    }

    /// Takes the changes of one document `other` holds, as a peer's replication
    /// that delivered this document before the others would.
    pub fn receive_document_from(&self, other: &MemoryReplica, name: &DocumentName) {
        let Some(mut theirs) = other.lock().documents.get(name).cloned() else {
            return;
        };
        let mut inner = self.lock();
        match inner.documents.get_mut(name) {
            // Both are well-formed automerge documents: merging cannot fail.
            Some(ours) => {
                let _ = ours.merge(&mut theirs);
            }
            None => {
                inner.documents.insert(name.clone(), theirs);
            }
        }
    }

    /// Takes every change `other` holds that this replica lacks, as a peer's
    /// replication would deliver them (days after [`Replication::accept_days_until`]
    /// excepted).
    pub fn receive_from(&self, other: &MemoryReplica) {
        let theirs: Vec<(DocumentName, Automerge)> = other
            .lock()
            .documents
            .iter()
            .map(|(name, doc)| (name.clone(), doc.clone()))
            .collect();
        let mut inner = self.lock();
        for (name, mut doc) in theirs {
            if matches!(name, DocumentName::Day { .. })
                && inner.last_day.as_ref().is_some_and(|last| name > *last)
            {
                continue;
            }
            match inner.documents.get_mut(&name) {
                Some(ours) => {
                    // Both are well-formed automerge documents: merging cannot fail.
                    let _ = ours.merge(&mut doc);
                }
                None => {
                    // A copy writes as a replica of its own: a device that receives a
                    // document it lacked writes with its own actor, not the sender's.
                    let actor = NEXT_ACTOR.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    doc.set_actor(ActorId::from(actor.to_be_bytes().as_slice()));
                    inner.documents.insert(name, doc);
                }
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl Documents for MemoryReplica {
    fn change_durably(
        &mut self,
        name: &DocumentName,
        write: &mut dyn FnMut(&mut Transaction<'_>) -> Result<(), DayDocError>,
    ) -> Result<(), OfficeError> {
        let mut inner = self.lock();
        // Unique across every replica of the process, as random actors are across
        // devices: replicas that exchange changes must not share an actor.
        let actor = NEXT_ACTOR.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let actor = ActorId::from(actor.to_be_bytes().as_slice());
        let doc = inner
            .documents
            .entry(name.clone())
            .or_insert_with(|| Automerge::new().with_actor(actor));
        let mut tx = doc.transaction();
        match write(&mut tx) {
            Ok(()) => {
                tx.commit();
                Ok(())
            }
            Err(e) => {
                tx.rollback();
                Err(OfficeError::Document(e))
            }
        }
    }

    fn read_document<R>(
        &self,
        name: &DocumentName,
        read: impl FnOnce(&Automerge) -> R,
    ) -> Option<R> {
        self.lock().documents.get(name).map(read)
    }

    fn incarnation(&self) -> Incarnation {
        self.lock().incarnation
    }

    fn catching_up(&self) -> bool {
        self.lock().catching_up
    }
}

impl Replication for MemoryReplica {
    fn peers(&self) -> Vec<PeerView> {
        self.lock().peers.clone()
    }

    fn document_names(&self) -> Vec<DocumentName> {
        self.lock().documents.keys().cloned().collect()
    }

    fn retire_days_before(&self, horizon: &DocumentName) -> Result<(), OfficeError> {
        self.lock()
            .documents
            .retain(|name, _| !(matches!(name, DocumentName::Day { .. }) && name < horizon));
        Ok(())
    }

    fn accept_days_until(&self, last: &DocumentName) {
        self.lock().last_day = Some(last.clone());
    }

    fn peer_clocks(&self) -> Vec<PeerClock> {
        self.lock().peer_clocks.clone()
    }
}
