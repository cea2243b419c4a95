//! The replica as the office model sees it: durable local changes, reads, notices
//! of changes made by peers, and what survives a restart.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic

use std::path::Path;
use std::time::SystemTime;

use aufruf_sync::protocol::{Identity, Limits};
use aufruf_sync::replica::{COMPACT_AFTER_CHUNKS, Outgoing};
use aufruf_sync::{
    CatchUp, ChangeError, DocumentName, DocumentStore, MemoryStore, NodeId, OfficeId, RemoteChange,
    Replica, Role,
};
use automerge::transaction::Transactable;
use automerge::{ROOT, ReadDoc};

fn identity(node: &str) -> Identity {
    Identity {
        office: OfficeId::new("zeitz").unwrap(),
        node: NodeId::new(node).unwrap(),
        role: Role::Desk,
    }
}

fn open(path: &Path, node: &str) -> Replica {
    Replica::open(path, identity(node), Limits::default(), SystemTime::now())
        .unwrap()
        .replica
}

fn in_memory(store: &MemoryStore, node: &str) -> Replica<MemoryStore> {
    Replica::with_store(store.clone(), identity(node), Limits::default()).unwrap()
}

fn day() -> DocumentName {
    DocumentName::day(2026, 3, 11).unwrap()
}

fn issue<S: DocumentStore>(replica: &Replica<S>, ticket: &str) {
    replica
        .change(&day(), |tx| {
            tx.put(ROOT, ticket, "issued")?;
            Ok::<_, automerge::AutomergeError>(())
        })
        .unwrap();
}

/// Moves frames between two replicas' connections until both are quiet.
fn pump<A: DocumentStore, B: DocumentStore>(
    a: &Replica<A>,
    b: &Replica<B>,
) -> (
    aufruf_sync::protocol::ConnectionId,
    aufruf_sync::protocol::ConnectionId,
) {
    let (ca, mut from_a) = a.connect(Some(NodeId::new("desk-2").unwrap()));
    let (cb, mut from_b) = b.connect(Some(NodeId::new("desk-1").unwrap()));
    for _ in 0..100 {
        let mut moved = false;
        while let Ok(Outgoing::Frame(frame)) = from_a.try_recv() {
            a.sent(ca, frame.len());
            b.receive(cb, &frame);
            moved = true;
        }
        while let Ok(Outgoing::Frame(frame)) = from_b.try_recv() {
            b.sent(cb, frame.len());
            a.receive(ca, &frame);
            moved = true;
        }
        if !moved {
            return (ca, cb);
        }
    }
    panic!("replicas never went quiet");
}

#[test]
fn a_local_change_survives_a_restart_and_many_trigger_compaction() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store");
    {
        let replica = open(&path, "desk-1");
        for n in 0..COMPACT_AFTER_CHUNKS + 3 {
            issue(&replica, &format!("A-{n:03}"));
        }
        // Compaction runs at a tick, not in the action that fills the log.
        replica.tick();
        for n in 0..3 {
            issue(&replica, &format!("B-{n:03}"));
        }
    }
    let replica = open(&path, "desk-1");
    let count = replica.read(&day(), |d| d.keys(ROOT).count()).unwrap();
    assert_eq!(count, COMPACT_AFTER_CHUNKS + 6);
}

#[test]
fn a_refused_change_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let replica = open(&dir.path().join("store"), "desk-1");
    issue(&replica, "A-001");
    let before = replica.read(&day(), |d| d.get_heads()).unwrap();
    let result = replica.change(&day(), |tx| {
        tx.put(ROOT, "A-002", "issued")?;
        Err::<(), _>(automerge::AutomergeError::Fail)
    });
    assert!(matches!(result, Err(ChangeError::Refused(_))));
    assert_eq!(replica.read(&day(), |d| d.get_heads()).unwrap(), before);
    // Refused on a day nobody had yet: the day does not appear either.
    let tomorrow = DocumentName::day(2026, 3, 12).unwrap();
    let result = replica.change(&tomorrow, |_| Err::<(), _>(automerge::AutomergeError::Fail));
    assert!(matches!(result, Err(ChangeError::Refused(_))));
    assert_eq!(replica.document_names(), vec![day()]);
}

#[test]
fn changes_from_a_peer_are_announced_merged_and_kept() {
    let dir = tempfile::tempdir().unwrap();
    let desk_path = dir.path().join("desk-1");
    let kiosk = open(&dir.path().join("desk-2"), "desk-2");
    issue(&kiosk, "A-001");
    {
        let desk = open(&desk_path, "desk-1");
        let mut changes = desk.subscribe();
        // Step 1: the desk learns of the day from the kiosk, and its tickets.
        pump(&desk, &kiosk);
        let mut seen = Vec::new();
        while let Ok(change) = changes.try_recv() {
            seen.push(change);
        }
        assert!(seen.contains(&RemoteChange { name: day() }));
        assert_eq!(desk.read(&day(), |d| d.keys(ROOT).count()), Some(1));
        assert_eq!(desk.peers().len(), 1);
    }
    // Step 2: after a restart the desk still has it, without the kiosk.
    let desk = open(&desk_path, "desk-1");
    assert_eq!(desk.read(&day(), |d| d.keys(ROOT).count()), Some(1));
}

#[test]
fn retired_days_are_deleted_and_not_taken_back_from_a_peer() {
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = open(dir_a.path(), "desk-1");
    let old = DocumentName::day(2026, 3, 1).unwrap();
    let write = |replica: &Replica, name: &DocumentName, key: &str| {
        replica
            .change(name, |tx| {
                tx.put(ROOT, key, "personal data")?;
                Ok::<_, automerge::AutomergeError>(())
            })
            .unwrap();
    };
    write(&a, &old, "ticket-1");
    issue(&a, "ticket-2");
    {
        // Step 1: both nodes hold both days.
        let b = open(dir_b.path(), "desk-2");
        pump(&a, &b);
        assert_eq!(b.document_names(), vec![old.clone(), day()]);

        // Step 2: desk-2's retention ends for the old day.
        let horizon = DocumentName::day(2026, 3, 5).unwrap();
        assert_eq!(b.retire_days_before(horizon).unwrap(), vec![old.clone()]);
        assert_eq!(b.document_names(), vec![day()]);

        // Step 3: desk-1 has not retired it and keeps writing to it; desk-2 does
        // not take it back, and the session goes on.
        write(&a, &old, "ticket-3");
        issue(&a, "ticket-4");
        pump(&a, &b);
        assert_eq!(b.document_names(), vec![day()]);
        assert!(
            b.read(&day(), |d| d.get(ROOT, "ticket-4").unwrap().is_some())
                .unwrap()
        );
    }
    // Step 4: after a restart the old day is gone from disk too.
    let b = open(dir_b.path(), "desk-2");
    assert_eq!(b.document_names(), vec![day()]);
}

#[test]
fn a_replica_on_a_memory_store_keeps_its_changes_and_syncs_with_one_on_disk() {
    let store = MemoryStore::new();
    {
        // Step 1: desk-1 runs on memory only and issues enough to be compacted.
        let desk = in_memory(&store, "desk-1");
        for n in 0..COMPACT_AFTER_CHUNKS + 3 {
            issue(&desk, &format!("A-{n:03}"));
        }
    }
    // Step 2: "restarted" on the same records, it still has every ticket.
    let desk = in_memory(&store, "desk-1");
    let count = |replica: &Replica<MemoryStore>| replica.read(&day(), |d| d.keys(ROOT).count());
    assert_eq!(count(&desk), Some(COMPACT_AFTER_CHUNKS + 3));

    // Step 3: it syncs with a replica on disk like any other, and keeps what it
    // hears.
    let dir = tempfile::tempdir().unwrap();
    let other = open(&dir.path().join("store"), "desk-2");
    issue(&other, "B-001");
    pump(&desk, &other);
    assert_eq!(count(&desk), Some(COMPACT_AFTER_CHUNKS + 4));
    drop(desk);
    assert_eq!(
        count(&in_memory(&store, "desk-1")),
        Some(COMPACT_AFTER_CHUNKS + 4)
    );
}

/// A clock the test moves by hand.
#[derive(Debug, Clone, Default)]
struct HandClock(std::sync::Arc<std::sync::atomic::AtomicU64>);

impl HandClock {
    fn advance(&self, by: std::time::Duration) {
        let ms = u64::try_from(by.as_millis()).unwrap();
        self.0.fetch_add(ms, std::sync::atomic::Ordering::SeqCst);
    }
}

impl aufruf_sync::Clock for HandClock {
    fn now(&self) -> std::time::Duration {
        std::time::Duration::from_millis(self.0.load(std::sync::atomic::Ordering::SeqCst))
    }
}

#[test]
fn a_replica_runs_on_the_clock_and_actors_it_is_given() {
    let clock = HandClock::default();
    let replica = Replica::with_clock_and_actors(
        MemoryStore::new(),
        identity("desk-1"),
        Limits::default(),
        clock.clone(),
        |name| automerge::ActorId::from(format!("desk-1 {name}").into_bytes()),
    )
    .unwrap();
    issue(&replica, "k1/1");
    let actor = replica.read(&day(), |doc| doc.get_actor().clone()).unwrap();
    assert_eq!(actor.to_bytes(), format!("desk-1 {}", day()).as_bytes());

    // A peer that never says hello is given up only once the given clock has moved.
    let (_, mut outgoing) = replica.connect(None);
    while outgoing.try_recv().is_ok() {}
    replica.tick();
    assert!(outgoing.try_recv().is_err(), "no time has passed");
    clock.advance(Limits::default().hello_within * 2);
    replica.tick();
    let mut closed = false;
    while let Ok(message) = outgoing.try_recv() {
        closed |= matches!(message, Outgoing::Close(_));
    }
    assert!(closed, "the silent connection is closed on the hand clock");
}

/// A memory store that counts what was appended without a flush since the last one.
#[derive(Debug, Clone)]
struct FlushWatch {
    inner: MemoryStore,
    unflushed: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl Default for FlushWatch {
    fn default() -> Self {
        FlushWatch::on(MemoryStore::established())
    }
}

impl FlushWatch {
    fn on(inner: MemoryStore) -> Self {
        FlushWatch {
            inner,
            unflushed: std::sync::Arc::default(),
        }
    }

    fn unflushed(&self) -> usize {
        self.unflushed.load(std::sync::atomic::Ordering::SeqCst)
    }
}

impl DocumentStore for FlushWatch {
    fn append(
        &self,
        name: &DocumentName,
        chunk: &[u8],
        durability: aufruf_sync::store::Durability,
    ) -> Result<(), aufruf_sync::StoreError> {
        self.inner.append(name, chunk, durability)?;
        match durability {
            aufruf_sync::store::Durability::Buffered => {
                self.unflushed
                    .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            }
            aufruf_sync::store::Durability::Flushed => self.flush()?,
        }
        Ok(())
    }
    fn flush(&self) -> Result<(), aufruf_sync::StoreError> {
        self.unflushed.store(0, std::sync::atomic::Ordering::SeqCst);
        self.inner.flush()
    }
    fn load(
        &self,
        name: &DocumentName,
    ) -> Result<Option<aufruf_sync::store::LoadedDocument>, aufruf_sync::StoreError> {
        self.inner.load(name)
    }
    fn document_names(&self) -> Result<Vec<DocumentName>, aufruf_sync::StoreError> {
        self.inner.document_names()
    }
    fn compact(
        &mut self,
        name: &DocumentName,
        document: &automerge::Automerge,
    ) -> Result<(), aufruf_sync::StoreError> {
        self.inner.compact(name, document)
    }
    fn remove_document(&mut self, name: &DocumentName) -> Result<(), aufruf_sync::StoreError> {
        self.inner.remove_document(name)
    }
    fn save_sync_state(
        &self,
        peer: &NodeId,
        name: &DocumentName,
        state: &[u8],
    ) -> Result<(), aufruf_sync::StoreError> {
        self.inner.save_sync_state(peer, name, state)
    }
    fn sync_states(&self) -> Result<Vec<(NodeId, DocumentName, Vec<u8>)>, aufruf_sync::StoreError> {
        self.inner.sync_states()
    }
    fn size_on_disk(&self) -> Result<u64, aufruf_sync::StoreError> {
        self.inner.size_on_disk()
    }
    fn incarnation(&self) -> aufruf_sync::Incarnation {
        self.inner.incarnation()
    }
    fn catch_up(&self) -> Result<CatchUp, aufruf_sync::StoreError> {
        self.inner.catch_up()
    }
    fn record_catch_up(&self, caught_up: &CatchUp) -> Result<(), aufruf_sync::StoreError> {
        self.flush()?;
        self.inner.record_catch_up(caught_up)
    }
}

#[test]
fn changes_received_from_a_peer_are_flushed_within_the_bound_in_one_flush() {
    let clock = HandClock::default();
    let store = FlushWatch::default();
    let desk = Replica::with_clock_and_actors(
        store.clone(),
        identity("desk-2"),
        Limits::default(),
        clock.clone(),
        |_| automerge::ActorId::random(),
    )
    .unwrap();
    // `pump` connects desk-1 (first) with desk-2 (second).
    let kiosk = in_memory(&MemoryStore::new(), "desk-1");
    for n in 0..30 {
        issue(&kiosk, &format!("K-{n:03}"));
    }
    pump(&kiosk, &desk);
    assert!(store.unflushed() > 0, "received changes are buffered first");
    assert!(desk.has_unflushed_received());
    // Not yet: they arrived just now.
    desk.tick();
    assert!(store.unflushed() > 0);
    clock.advance(std::time::Duration::from_millis(499));
    desk.tick();
    assert!(store.unflushed() > 0);
    // Half the bound after their arrival, one flush takes them all.
    clock.advance(std::time::Duration::from_millis(1));
    desk.tick();
    assert_eq!(store.unflushed(), 0);
    assert!(!desk.has_unflushed_received());

    // A tighter bound is kept too.
    desk.set_flush_within(std::time::Duration::from_millis(200));
    issue(&kiosk, "K-100");
    pump(&kiosk, &desk);
    assert!(store.unflushed() > 0);
    clock.advance(std::time::Duration::from_millis(100));
    desk.tick();
    assert_eq!(store.unflushed(), 0);
}

#[test]
fn a_new_store_records_that_it_caught_up_from_a_peer_with_everything_received_before() {
    // Step 1: desk-1 has been in the office all along and holds five tickets.
    let peer = in_memory(&MemoryStore::established(), "desk-1");
    for n in 0..5 {
        issue(&peer, &format!("A-{n:03}"));
    }
    // Step 2: desk-2's disk was replaced: its store is new and waits.
    let store = FlushWatch::on(MemoryStore::new());
    let desk = Replica::with_store(store.clone(), identity("desk-2"), Limits::default()).unwrap();
    assert_eq!(desk.catch_up(), CatchUp::Pending);
    let told = desk.subscribe_catch_up();
    // Step 3: they meet; desk-2 holds what desk-1 had and records it, flushed after
    // every change it received.
    pump(&peer, &desk);
    let caught_up = CatchUp::FromPeer(NodeId::new("desk-1").unwrap());
    assert_eq!(desk.catch_up(), caught_up);
    assert!(told.has_changed().unwrap());
    assert_eq!(store.catch_up().unwrap(), caught_up);
    assert_eq!(store.unflushed(), 0);
    assert_eq!(desk.read(&day(), |d| d.keys(ROOT).count()), Some(5));
    // An operator's statement changes nothing now.
    assert!(!desk.declare_only_device().unwrap());
    assert_eq!(store.catch_up().unwrap(), caught_up);
}

#[test]
fn an_operator_statement_ends_the_wait_of_a_lone_new_store_and_is_recorded() {
    let store = MemoryStore::new();
    let kiosk = in_memory(&store, "kiosk-1");
    assert!(kiosk.catch_up().is_pending());
    let incarnation = kiosk.incarnation();
    assert!(kiosk.declare_only_device().unwrap());
    assert_eq!(kiosk.catch_up(), CatchUp::OnlyDevice);
    drop(kiosk);
    // Restarted on the same store: the statement and the incarnation stay.
    let kiosk = in_memory(&store, "kiosk-1");
    assert_eq!(kiosk.catch_up(), CatchUp::OnlyDevice);
    assert_eq!(kiosk.incarnation(), incarnation);
    assert_ne!(
        in_memory(&MemoryStore::new(), "kiosk-1").incarnation(),
        incarnation
    );
}

#[test]
fn a_new_store_on_disk_waits_until_restarted_and_then_still_waits() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store");
    let incarnation = {
        let replica = open(&path, "kiosk-1");
        assert!(replica.catch_up().is_pending());
        issue(&replica, "A-001");
        replica.incarnation()
    };
    // A crash or restart while catching up does not count as caught up.
    let replica = open(&path, "kiosk-1");
    assert!(replica.catch_up().is_pending());
    assert_eq!(replica.incarnation(), incarnation);
}
