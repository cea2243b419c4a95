//! The store of the node that writes a day stays near the size of the day itself:
//! a 3,000-ticket day recorded as 9,000 separate flushed changes (compacted every
//! `COMPACT_AFTER_CHUNKS` chunks) takes at most 150 KB on disk, and at most twice
//! automerge's `save()` of the day, after compaction and after a restart. (sled
//! alone left 2.5 MB: see the module docs of `aufruf_sync::store`.) Also: a worker
//! killed with `kill -9` while its store is being rewritten loses no acknowledged
//! change.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)] // tests may panic

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::SystemTime;

use aufruf_sync::protocol::{Identity, Limits};
use aufruf_sync::{DocumentName, NodeId, OfficeId, Replica, Role};
use automerge::transaction::Transactable;
use automerge::{ObjType, ROOT, ReadDoc};

const TICKETS: usize = 3_000;
const LIMIT: u64 = 150 * 1024;

fn open(path: &Path) -> Replica {
    let identity = Identity {
        office: OfficeId::new("zeitz").unwrap(),
        node: NodeId::new("desk-1").unwrap(),
        role: Role::Desk,
    };
    let opened = Replica::open(path, identity, Limits::default(), SystemTime::now()).unwrap();
    assert!(opened.moved_aside.is_none());
    opened.replica
}

fn day() -> DocumentName {
    DocumentName::day(2026, 3, 11).unwrap()
}

/// One ticket event as the office model writes it: one change touching only that
/// ticket (creating it if needed), flushed before `change` returns.
fn record_event(replica: &Replica, ticket: &str, kind: &str) {
    replica
        .change(&day(), |tx| {
            let (_, tickets) = tx.get(ROOT, "tickets")?.expect("queue exists");
            let ticket_obj = match tx.get(&tickets, ticket)? {
                Some((_, id)) => id,
                None => {
                    let id = tx.put_object(&tickets, ticket, ObjType::Map)?;
                    tx.put(&id, "number", ticket)?;
                    tx.put(&id, "service", "Personalausweis")?;
                    tx.put_object(&id, "events", ObjType::Map)?;
                    id
                }
            };
            let (_, events) = tx.get(&ticket_obj, "events")?.expect("events map");
            let entry = tx.put_object(&events, format!("{ticket}-{kind}"), ObjType::Map)?;
            tx.put(&entry, "kind", kind)?;
            tx.put(&entry, "hlc", 1_773_220_000_000i64)?;
            tx.put(&entry, "node", "desk-1")?;
            Ok::<_, automerge::AutomergeError>(())
        })
        .unwrap();
}

fn create_queue(replica: &Replica) {
    replica
        .change(&day(), |tx| {
            tx.put_object(ROOT, "tickets", ObjType::Map)?;
            Ok::<_, automerge::AutomergeError>(())
        })
        .unwrap();
}

fn ticket_count(replica: &Replica) -> usize {
    replica
        .read(&day(), |d| {
            let (_, tickets) = d.get(ROOT, "tickets").unwrap().unwrap();
            d.keys(&tickets).count()
        })
        .unwrap()
}

#[test]
fn a_day_written_as_9000_flushed_changes_takes_at_most_150_kb_on_disk() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store");
    let replica = open(&path);
    create_queue(&replica);
    let mut largest = 0;
    for t in 0..TICKETS {
        let ticket = format!("T-{t:04}");
        for kind in ["issued", "called", "done"] {
            record_event(&replica, &ticket, kind);
        }
        // The node ticks four times a second; compaction happens there.
        replica.tick();
        largest = largest.max(replica.store_size().unwrap());
    }
    replica.compact_all().unwrap();
    let saved = replica.read(&day(), |d| d.save().len()).unwrap() as u64;
    let compacted = replica.store_size().unwrap();
    println!(
        "save() {saved} B; store {compacted} B after compaction, at most {largest} B during the day"
    );
    assert!(compacted <= LIMIT, "{compacted} B on disk");
    assert!(
        compacted <= 2 * saved,
        "{compacted} B on disk for a {saved} B day"
    );
    // Between compactions the store grows by at most one compaction interval's
    // chunks and sled's rewrites of them; it never heads for megabytes again.
    assert!(largest <= 2 * LIMIT, "{largest} B on disk during the day");
    drop(replica);

    let replica = open(&path);
    let reopened = replica.store_size().unwrap();
    println!("store {reopened} B after a restart");
    assert!(reopened <= LIMIT, "{reopened} B on disk after a restart");
    assert_eq!(ticket_count(&replica), TICKETS);
}

const WORKER: &str = "AUFRUF_REWRITE_CRASH_WORKER_STORE";

/// The child: records events as fast as it can and says which are durable; its
/// store is compacted, and rewritten, every `COMPACT_AFTER_CHUNKS` changes.
fn record_until_killed(path: &Path) {
    let replica = open(path);
    create_queue(&replica);
    // Bounded, so a worker whose parent died stops by itself.
    for t in 0..20_000 {
        let ticket = format!("T-{t:05}");
        record_event(&replica, &ticket, "issued");
        println!("durable {ticket}");
        // Compaction (and with it the rewrite) happens at ticks.
        replica.tick();
    }
}

#[test]
fn a_worker_killed_while_its_store_is_rewritten_loses_no_acknowledged_change() {
    if let Some(path) = std::env::var_os(WORKER) {
        record_until_killed(Path::new(&path));
        return;
    }
    // Kills at several points of the compaction cycle; the generation steps
    // themselves are covered one by one in the store's unit tests.
    for kill_after in [300, 513, 770, 1029] {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store");
        let mut worker = Command::new(std::env::current_exe().unwrap())
            .args([
                &crate::test_name(
                    module_path!(),
                    "a_worker_killed_while_its_store_is_rewritten_loses_no_acknowledged_change",
                ),
                "--exact",
                "--nocapture",
            ])
            .env(WORKER, &path)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut acknowledged = Vec::new();
        for line in BufReader::new(worker.stdout.take().unwrap()).lines() {
            if let Some(ticket) = line.unwrap().strip_prefix("durable ") {
                acknowledged.push(ticket.to_owned());
                if acknowledged.len() == kill_after {
                    worker.kill().unwrap();
                    break;
                }
            }
        }
        worker.wait().unwrap();
        assert_eq!(acknowledged.len(), kill_after);
        let replica = open(&path);
        let stored: Vec<String> = replica
            .read(&day(), |d| {
                let (_, tickets) = d.get(ROOT, "tickets").unwrap().unwrap();
                d.keys(&tickets).collect()
            })
            .unwrap();
        for ticket in &acknowledged {
            assert!(
                stored.contains(ticket),
                "{ticket} was acknowledged but lost"
            );
        }
        let generations = std::fs::read_dir(&path)
            .unwrap()
            .filter(|e| {
                let name = e.as_ref().unwrap().file_name();
                name.to_string_lossy().parse::<u64>().is_ok()
            })
            .count();
        assert_eq!(generations, 1, "leftover generations after the crash");
    }
}
