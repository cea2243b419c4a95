//! QR ticket pages open at once: `AUFRUF_BENCH_FEEDS` (2,000) phones follow their
//! tickets' live feeds (`/t/<token>/feed`, server-sent events) on a gateway, over
//! real HTTP on loopback, while a desk node calls visitors. A kiosk node, a desk node
//! and the gateway run in this process on one two-thread runtime, linked by mutual
//! TLS; the phones run on another two-thread runtime of the same two cores.
//!
//! For each of `AUFRUF_BENCH_CALLS` (20) calls — the desk finishes its visitor and
//! calls the next, over its API — the time from the call until each open feed has
//! sent its ticket's new state (one fewer ahead; "Bitte zu Platz 1" for the one
//! called): the call travels desk → gateway over the office's link, the gateway looks
//! each ticket up again and writes the event. Also the memory one open feed costs
//! (the process's resident size before and after the feeds open, over their count).
//!
//! ```text
//! cargo bench -p aufruf-node --bench ticket_feeds
//! AUFRUF_BENCH_FEEDS=500 cargo bench -p aufruf-node --bench ticket_feeds
//! ```

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

#[path = "../tests/common/mod.rs"]
mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::{Context, ensure};
use aufruf_node::settings::{NodeSettings, Role};
use common::TestOffice;
use tokio::sync::mpsc;

fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() - 1) as f64 * q).round() as usize;
    sorted[i]
}

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The process's resident memory, KiB (Linux).
fn resident_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

/// The office open around the clock, taking walk-ins whatever the queue's length.
async fn start(settings: NodeSettings) -> aufruf_node::runtime::RunningNode {
    let mut config = aufruf_node::config_file::load_or_example(None)
        .unwrap()
        .open_around_the_clock();
    for d in &mut config.departments {
        d.refuse_walk_ins_past_closing = false;
    }
    aufruf_node::runtime::start(Some(config), settings)
        .await
        .unwrap()
}

fn main() -> anyhow::Result<()> {
    let feeds = env("AUFRUF_BENCH_FEEDS", 2_000);
    let calls = env("AUFRUF_BENCH_CALLS", 20);
    let server = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let office = TestOffice::new();
    let mut gateway = office.enroll_alone("gateway-1", Role::Gateway);
    let mut portal = aufruf_portal::PortalSettings::in_dir(&office.home("portal"), "");
    portal.listen = SocketAddr::from(([127, 0, 0, 1], 0));
    portal.outbox = office.home("outbox");
    portal.secure_cookies = false;
    portal.ticket_feeds = u32::try_from(feeds + 100)?;
    gateway.portal = Some(portal);
    gateway.api_limits.connections = feeds * 2 + 256;
    let (gateway, kiosk, desk) = server.block_on(async {
        let gateway = start(gateway).await;
        let kiosk = start(office.enroll("kiosk-1", Role::Kiosk, vec![gateway.sync_addr])).await;
        let desk = start(office.enroll("desk-1", Role::Desk, vec![gateway.sync_addr])).await;
        office.ready(kiosk.api_addr).await;
        office.ready(desk.api_addr).await;
        let (status, view) = office
            .post(
                desk.api_addr,
                "/api/desks/desk-1/open",
                serde_json::json!({}),
            )
            .await;
        assert_eq!(status, 200, "{view}");
        (gateway, kiosk, desk)
    });
    let portal = gateway
        .portal_addr
        .context("the gateway serves the portal")?;
    let phones = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let result = phones.block_on(bench(
        &office,
        portal,
        kiosk.api_addr,
        desk.api_addr,
        feeds,
        calls,
    ));
    drop((gateway, kiosk, desk));
    result
}

async fn bench(
    office: &TestOffice,
    portal: SocketAddr,
    kiosk: SocketAddr,
    desk: SocketAddr,
    feeds: usize,
    calls: usize,
) -> anyhow::Result<()> {
    // The tickets, drawn at the kiosk; one more than the feeds, so the desk's first
    // call is no feed's.
    let began = Instant::now();
    let mut tokens = Vec::with_capacity(feeds + 1);
    for _ in 0..=feeds {
        let (token, _) = office.draw_qr_ticket(kiosk, "anmeldung").await;
        tokens.push(token);
    }
    let drawn = began.elapsed();
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()?;
    // The gateway has them all once it shows the last one.
    let last = format!("http://{portal}/t/{}", tokens[feeds]);
    office
        .eventually(
            Duration::from_secs(60),
            "the gateway holds every ticket",
            || {
                let (http, last) = (http.clone(), last.clone());
                async move {
                    http.get(&last)
                        .send()
                        .await
                        .is_ok_and(|r| r.status().as_u16() == 200)
                }
            },
        )
        .await;

    let before = resident_kib();
    let (events, mut arrived) = mpsc::unbounded_channel::<(usize, Instant)>();
    let (opened, mut open) = mpsc::unbounded_channel::<usize>();
    let began = Instant::now();
    for (n, token) in tokens.iter().skip(1).enumerate() {
        let url = format!("http://{portal}/t/{token}/feed");
        let (http, events, opened) = (http.clone(), events.clone(), opened.clone());
        tokio::spawn(async move {
            let Ok(mut response) = http.get(&url).send().await else {
                return;
            };
            if response.status().as_u16() != 200 {
                return;
            }
            let mut buffer = String::new();
            let mut first = true;
            while let Ok(Some(chunk)) = response.chunk().await {
                buffer.push_str(&String::from_utf8_lossy(&chunk));
                while let Some(end) = buffer.find("\n\n") {
                    let event: String = buffer.drain(..end + 2).collect();
                    if !event.contains("event: ticket") {
                        continue; // a keep-alive
                    }
                    if first {
                        first = false;
                        let _ = opened.send(n);
                    } else {
                        let _ = events.send((n, Instant::now()));
                    }
                }
            }
        });
    }
    drop(opened);
    let mut open_count = 0;
    while open_count < feeds {
        match tokio::time::timeout(Duration::from_secs(60), open.recv()).await {
            Ok(Some(_)) => open_count += 1,
            _ => break,
        }
    }
    ensure!(
        open_count == feeds,
        "only {open_count} of {feeds} feeds opened"
    );
    let opening = began.elapsed();
    let after = resident_kib();

    let mut latencies = Vec::with_capacity(feeds * calls);
    let mut slowest_round = 0.0f64;
    let http_desk = reqwest::Client::new();
    let act = |action: &'static str| {
        let url = format!("http://{desk}/api/desks/desk-1/{action}");
        let http = http_desk.clone();
        async move {
            let r = http
                .post(url)
                .header("content-type", "application/json")
                .body("{}")
                .send()
                .await?;
            anyhow::ensure!(r.status().as_u16() == 200, "{action}: {}", r.status());
            anyhow::Ok(())
        }
    };
    // The first ticket (no feed's) is called, so each round finishes one first.
    act("call-next").await?;
    for round in 0..calls {
        act("done").await?;
        while arrived.try_recv().is_ok() {}
        let called = Instant::now();
        act("call-next").await?;
        // Every feed still open: all waiting ones, and the one just called (the one
        // called in the round before is over).
        let expected = feeds - round;
        let mut seen = vec![false; feeds];
        let mut count = 0;
        while count < expected {
            match tokio::time::timeout(Duration::from_secs(30), arrived.recv()).await {
                // The feed of the visitor finished this round (round − 1) is over.
                Ok(Some((n, at))) if at >= called && n >= round && !seen[n] => {
                    seen[n] = true;
                    count += 1;
                    let ms = at.duration_since(called).as_secs_f64() * 1e3;
                    slowest_round = slowest_round.max(ms);
                    latencies.push(ms);
                }
                Ok(Some(_)) => {}
                _ => anyhow::bail!("round {round}: {count} of {expected} feeds heard the call"),
            }
        }
    }
    latencies.sort_by(f64::total_cmp);
    let per_feed = after.saturating_sub(before) as f64 / feeds as f64;
    println!(
        "\nQR ticket pages: {feeds} live feeds on the gateway, {calls} calls at a desk node ({} tickets drawn in {:.1} s; feeds open in {:.1} s)",
        feeds + 1,
        drawn.as_secs_f64(),
        opening.as_secs_f64()
    );
    println!("| call → feed event | count | p50 ms | p90 ms | p99 ms | max ms |");
    println!("|---|---|---|---|---|---|");
    println!(
        "| every open feed, every call | {} | {:.1} | {:.1} | {:.1} | {:.1} |",
        latencies.len(),
        quantile(&latencies, 0.5),
        quantile(&latencies, 0.9),
        quantile(&latencies, 0.99),
        latencies.last().copied().unwrap_or(f64::NAN)
    );
    println!(
        "memory: resident {} MiB before the feeds, {} MiB with them open: {:.1} KiB per open feed (gateway, kiosk, desk and the phones' connections in one process)",
        before / 1024,
        after / 1024,
        per_feed
    );
    Ok(())
}
