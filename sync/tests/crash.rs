//! `kill -9` during work: every change a worker process acknowledged (printed after
//! `Replica::change` returned) is in the store when it is opened again.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)] // tests may panic

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::SystemTime;

use aufruf_sync::protocol::{Identity, Limits};
use aufruf_sync::{DocumentName, NodeId, OfficeId, Replica, Role};
use automerge::transaction::Transactable;
use automerge::{ROOT, ReadDoc};

const WORKER: &str = "AUFRUF_CRASH_WORKER_STORE";
const ACKNOWLEDGED_BEFORE_KILL: usize = 150;

fn open(path: &Path) -> Replica {
    let identity = Identity {
        office: OfficeId::new("zeitz").unwrap(),
        node: NodeId::new("kiosk-1").unwrap(),
        role: Role::Kiosk,
    };
    Replica::open(path, identity, Limits::default(), SystemTime::now())
        .unwrap()
        .replica
}

fn day() -> DocumentName {
    DocumentName::day(2026, 3, 11).unwrap()
}

/// The child: issues tickets as fast as it can and says which are durable.
fn issue_tickets_until_killed(path: &Path) {
    let replica = open(path);
    // Bounded, so a worker whose parent died stops by itself.
    for n in 0..20_000 {
        let ticket = format!("A-{n:05}");
        replica
            .change(&day(), |tx| {
                tx.put(ROOT, ticket.as_str(), "issued")?;
                Ok::<_, automerge::AutomergeError>(())
            })
            .unwrap();
        println!("durable {ticket}");
    }
}

#[test]
fn a_killed_kiosk_loses_no_acknowledged_ticket() {
    if let Some(path) = std::env::var_os(WORKER) {
        issue_tickets_until_killed(Path::new(&path));
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store");
    // Step 1: a worker process issues tickets; we note each one it acknowledges.
    let mut worker = Command::new(std::env::current_exe().unwrap())
        .args([
            &crate::test_name(
                module_path!(),
                "a_killed_kiosk_loses_no_acknowledged_ticket",
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
        let line = line.unwrap();
        if let Some(ticket) = line.strip_prefix("durable ") {
            acknowledged.push(ticket.to_owned());
            if acknowledged.len() == ACKNOWLEDGED_BEFORE_KILL {
                // Step 2: kill -9 in the middle of its work.
                worker.kill().unwrap();
                break;
            }
        }
    }
    worker.wait().unwrap();
    assert_eq!(acknowledged.len(), ACKNOWLEDGED_BEFORE_KILL);
    // Step 3: the store opens (not moved aside) and has every acknowledged ticket.
    let identity = Identity {
        office: OfficeId::new("zeitz").unwrap(),
        node: NodeId::new("kiosk-1").unwrap(),
        role: Role::Kiosk,
    };
    let opened = Replica::open(&path, identity, Limits::default(), SystemTime::now()).unwrap();
    assert!(opened.moved_aside.is_none());
    let stored: Vec<String> = opened
        .replica
        .read(&day(), |d| d.keys(ROOT).collect())
        .unwrap();
    for ticket in &acknowledged {
        assert!(
            stored.contains(ticket),
            "{ticket} was acknowledged but lost"
        );
    }
}
