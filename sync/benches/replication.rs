//! Replication figures over loopback mutual TLS, printed as a table:
//! desk call → visible on every replica (p50/p99/max) with 2, 5 and 10 nodes; heal
//! of two 5-node halves with 500 divergent events each; a new node catching up on
//! a 3,000-ticket day (time, bytes); the store size of such a day.
//!
//! Run: `cargo bench -p aufruf-sync --bench replication` (add `-- quick` for fewer
//! calls). Not a test: it asserts nothing, it measures.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)] // a measuring tool

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant, SystemTime};

use aufruf_sync::net::{self, NetConfig, Network, Tls};
use aufruf_sync::protocol::{Identity, Limits};
use aufruf_sync::trust::{OfficeCa, Validity};
use aufruf_sync::{DocumentName, NodeId, OfficeId, Replica, Role};
use automerge::transaction::Transactable;
use automerge::{ObjType, ROOT, ReadDoc};

struct BenchNode {
    replica: Arc<Replica>,
    network: Network,
    _dir: tempfile::TempDir,
}

fn office() -> OfficeId {
    OfficeId::new("zeitz").unwrap()
}

fn day() -> DocumentName {
    DocumentName::day(2026, 3, 11).unwrap()
}

async fn start(ca: &OfficeCa, name: &str, peers: Vec<SocketAddr>) -> BenchNode {
    let dir = tempfile::tempdir().unwrap();
    let node = NodeId::new(name).unwrap();
    let identity = Identity {
        office: office(),
        node: node.clone(),
        role: Role::Desk,
    };
    let replica = Arc::new(
        Replica::open(
            &dir.path().join("store"),
            identity,
            Limits::default(),
            SystemTime::now(),
        )
        .unwrap()
        .replica,
    );
    let credentials = ca
        .issue(
            &node,
            aufruf_sync::name::Role::Desk,
            Validity::starting(SystemTime::now(), Duration::from_secs(3600)),
        )
        .unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let tls = Tls::new(&credentials, &office(), provider).unwrap();
    let config = NetConfig {
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        static_peers: peers.into_iter().map(Into::into).collect(),
        reconnect_min: Duration::from_millis(20),
        reconnect_max: Duration::from_millis(500),
        ..NetConfig::default()
    };
    let network = net::start(replica.clone(), tls, config).await.unwrap();
    BenchNode {
        replica,
        network,
        _dir: dir,
    }
}

/// `count` nodes, each dialling all earlier ones (a full mesh).
async fn office_of(ca: &OfficeCa, prefix: &str, count: usize) -> Vec<BenchNode> {
    let mut nodes: Vec<BenchNode> = Vec::new();
    for n in 0..count {
        let peers = nodes.iter().map(|b| b.network.local_addr()).collect();
        nodes.push(start(ca, &format!("{prefix}-{n}"), peers).await);
    }
    nodes
}

fn sorted_heads(replica: &Replica, name: &DocumentName) -> Vec<automerge::ChangeHash> {
    let mut heads = replica.read(name, |d| d.get_heads()).unwrap_or_default();
    heads.sort();
    heads
}

/// Waits until every replica has `name` with the same heads; gives up after 60 s.
async fn converged(replicas: &[Arc<Replica>], name: &DocumentName) {
    let (tx, mut wake) = tokio::sync::mpsc::unbounded_channel();
    let forwarders: Vec<_> = replicas
        .iter()
        .map(|r| {
            let mut changes = r.subscribe();
            let tx = tx.clone();
            tokio::spawn(async move {
                while !matches!(
                    changes.recv().await,
                    Err(tokio::sync::broadcast::error::RecvError::Closed)
                ) {
                    if tx.send(()).is_err() {
                        return;
                    }
                }
            })
        })
        .collect();
    let done = tokio::time::timeout(Duration::from_secs(60), async {
        loop {
            while wake.try_recv().is_ok() {}
            let first = sorted_heads(&replicas[0], name);
            if !first.is_empty() && replicas.iter().all(|r| sorted_heads(r, name) == first) {
                return;
            }
            wake.recv().await;
        }
    })
    .await;
    for f in forwarders {
        f.abort();
    }
    done.expect("did not converge within 60 s");
}

fn create_queue(replica: &Replica) {
    replica
        .change(&day(), |tx| {
            tx.put_object(ROOT, "tickets", ObjType::Map)?;
            Ok::<_, automerge::AutomergeError>(())
        })
        .unwrap();
}

/// One ticket event: `tickets/<ticket>/events/<event>` = kind, written as one change
/// touching only that ticket (creating the ticket if needed).
fn record_event(replica: &Replica, ticket: &str, event: &str, kind: &str) {
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
            let entry = tx.put_object(&events, event, ObjType::Map)?;
            tx.put(&entry, "kind", kind)?;
            tx.put(&entry, "hlc", 1_773_220_000_000i64)?;
            tx.put(&entry, "node", "desk-1")?;
            Ok::<_, automerge::AutomergeError>(())
        })
        .unwrap();
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index]
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

async fn desk_call_latency(
    ca: &OfficeCa,
    count: usize,
    calls: usize,
) -> (Duration, Duration, Duration) {
    let nodes = office_of(ca, &format!("n{count}"), count).await;
    let replicas: Vec<_> = nodes.iter().map(|n| n.replica.clone()).collect();
    create_queue(&replicas[0]);
    for t in 0..50 {
        record_event(
            &replicas[0],
            &format!("A-{t:03}"),
            &format!("issued-{t}"),
            "issued",
        );
    }
    converged(&replicas, &day()).await;
    let mut latencies = Vec::new();
    for call in 0..calls {
        let started = Instant::now();
        record_event(
            &replicas[0],
            &format!("A-{:03}", call % 50),
            &format!("called-{call}"),
            "called",
        );
        converged(&replicas, &day()).await;
        latencies.push(started.elapsed());
    }
    latencies.sort();
    for node in nodes {
        node.network.shutdown().await;
    }
    (
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.99),
        *latencies.last().unwrap(),
    )
}

/// Waits until `replica` has exactly `count` peers (a bench helper, so polling).
async fn peers_become(replica: &Replica, count: usize) {
    tokio::time::timeout(Duration::from_secs(30), async {
        while replica.peers().len() != count {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    })
    .await
    .expect("peer count never reached");
}

async fn heal(ca: &OfficeCa, events: usize) -> Duration {
    let mut left = office_of(ca, "left", 5).await;
    let right = office_of(ca, "right", 5).await;
    let left_replicas: Vec<_> = left.iter().map(|n| n.replica.clone()).collect();
    let right_replicas: Vec<_> = right.iter().map(|n| n.replica.clone()).collect();
    let all: Vec<_> = left_replicas
        .iter()
        .chain(&right_replicas)
        .cloned()
        .collect();
    // Step 1: one office with one queue.
    create_queue(&left_replicas[0]);
    let bridge = right[0].network.local_addr();
    left[0].network.add_peer(bridge);
    converged(&all, &day()).await;
    // Step 2: the office splits; each half records its events.
    left[0].network.remove_peer(bridge);
    peers_become(&left_replicas[0], 4).await;
    peers_become(&right_replicas[0], 4).await;
    for e in 0..events {
        record_event(
            &left_replicas[0],
            &format!("L-{:03}", e / 3),
            &format!("l{e}"),
            "issued",
        );
        record_event(
            &right_replicas[0],
            &format!("R-{:03}", e / 3),
            &format!("r{e}"),
            "issued",
        );
    }
    converged(&left_replicas, &day()).await;
    converged(&right_replicas, &day()).await;
    quiet(&left.iter().chain(&right).collect::<Vec<_>>()).await;
    // Step 3: the halves meet again.
    let started = Instant::now();
    let trace = std::env::var_os("AUFRUF_BENCH_TRACE").is_some();
    let watchers: Vec<_> = if trace {
        let mut ends = sorted_heads(&left_replicas[0], &day());
        ends.extend(sorted_heads(&right_replicas[0], &day()));
        all.iter()
            .enumerate()
            .map(|(n, r)| {
                let r = r.clone();
                let ends = ends.clone();
                // Subscribed before the first look, so no change goes unseen.
                let mut changes = r.subscribe();
                tokio::spawn(async move {
                    loop {
                        let has = r
                            .read(&day(), |d| {
                                ends.iter()
                                    .filter(|h| d.get_change_meta_by_hash(h).is_some())
                                    .count()
                            })
                            .unwrap_or(0);
                        if has == ends.len() {
                            println!(
                                "replica {n} has both halves after {}",
                                ms(started.elapsed())
                            );
                            return;
                        }
                        if matches!(
                            changes.recv().await,
                            Err(tokio::sync::broadcast::error::RecvError::Closed)
                        ) {
                            return;
                        }
                    }
                })
            })
            .collect()
    } else {
        Vec::new()
    };
    left[0].network.add_peer(bridge);
    peers_become(&left_replicas[0], 5).await;
    if std::env::var_os("AUFRUF_BENCH_TRACE").is_some() {
        println!("bridge up after {}", ms(started.elapsed()));
    }
    let sent_before: u64 = left
        .iter()
        .chain(&right)
        .map(|n| n.network.traffic().sent.load(Ordering::Relaxed))
        .sum();
    converged(&all, &day()).await;
    let healed = started.elapsed();
    for w in watchers {
        let _ = w.await;
    }
    if std::env::var_os("AUFRUF_BENCH_TRACE").is_some() {
        let sent_after: u64 = left
            .iter()
            .chain(&right)
            .map(|n| n.network.traffic().sent.load(Ordering::Relaxed))
            .sum();
        println!("heal bytes {}", sent_after - sent_before);
    }
    for node in left.into_iter().chain(right) {
        node.network.shutdown().await;
    }
    healed
}

/// Waits until no node has sent a byte for 100 ms (heartbeats aside), so a
/// measurement does not include the tail of earlier work.
async fn quiet(nodes: &[&BenchNode]) {
    let total = || -> u64 {
        nodes
            .iter()
            .map(|n| n.network.traffic().sent.load(Ordering::Relaxed))
            .sum()
    };
    let mut last = total();
    loop {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let now = total();
        // Heartbeats: at most one small frame per session per tick.
        if now - last < 64 * nodes.len() as u64 * nodes.len() as u64 {
            return;
        }
        last = now;
    }
}

struct CatchUp {
    time: Duration,
    bytes: u64,
    newcomer_store_bytes: u64,
    saved_bytes: usize,
    store_bytes: u64,
    build_time: Duration,
}

async fn catch_up(ca: &OfficeCa, tickets: usize) -> CatchUp {
    let gateway = start(ca, "gateway-1", vec![]).await;
    create_queue(&gateway.replica);
    let built = Instant::now();
    // Each ticket: issued, called, done — three changes touching only that ticket.
    for t in 0..tickets {
        let ticket = format!("T-{t:04}");
        for kind in ["issued", "called", "done"] {
            record_event(&gateway.replica, &ticket, &format!("{ticket}-{kind}"), kind);
        }
    }
    let build_time = built.elapsed();
    gateway.replica.compact_all().unwrap();
    let saved_bytes = gateway.replica.read(&day(), |d| d.save().len()).unwrap();
    let store_bytes = gateway.replica.store_size().unwrap();
    let started = Instant::now();
    let newcomer = start(ca, "desk-new", vec![gateway.network.local_addr()]).await;
    let both = [gateway.replica.clone(), newcomer.replica.clone()];
    converged(&both, &day()).await;
    let time = started.elapsed();
    let bytes = newcomer.network.traffic().received.load(Ordering::Relaxed);
    newcomer.replica.flush().unwrap();
    let newcomer_store_bytes = newcomer.replica.store_size().unwrap();
    newcomer.network.shutdown().await;
    gateway.network.shutdown().await;
    CatchUp {
        time,
        bytes,
        newcomer_store_bytes,
        saved_bytes,
        store_bytes,
        build_time,
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let quick = std::env::args().any(|a| a == "quick");
    let calls = if quick { 50 } else { 300 };
    let ca = OfficeCa::create(&office(), SystemTime::now()).unwrap();
    println!("| measurement | result | target |");
    println!("|---|---|---|");
    let only_heal = std::env::args().any(|a| a == "heal");
    for count in [2, 5, 10].into_iter().filter(|_| !only_heal) {
        let (p50, p99, max) = desk_call_latency(&ca, count, calls).await;
        let target = if count == 10 {
            "p99 ≤ 5 ms · max ≤ 20 ms"
        } else {
            ""
        };
        println!(
            "| desk call → every replica, {count} nodes, {calls} calls | p50 {} · p99 {} · max {} | {target} |",
            ms(p50),
            ms(p99),
            ms(max)
        );
    }
    let events = 500;
    let healed = heal(&ca, events).await;
    println!(
        "| heal of two 5-node halves, {events} divergent events each | {} | ≤ 100 ms |",
        ms(healed)
    );
    let tickets = 3000;
    let day = catch_up(&ca, tickets).await;
    println!(
        "| new node catches up on a {tickets}-ticket day (9,000 events) | {} · {} KB received | ≤ 500 ms |",
        ms(day.time),
        day.bytes / 1024
    );
    println!(
        "| size of that day | automerge save {} KB · sled on disk {} KB (issuing node, compacted) · {} KB (node that caught up) | ≤ 150 KB |",
        day.saved_bytes / 1024,
        day.store_bytes / 1024,
        day.newcomer_store_bytes / 1024
    );
    println!(
        "| (recording those 9,000 events, each flushed) | {} | |",
        ms(day.build_time)
    );
}
