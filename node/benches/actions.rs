//! A whole office day against real processes: a kiosk, a desk and a display run as
//! `aufruf run` processes on loopback, and 3,000 visitors go through them one after
//! another — drawn at the kiosk, called, served and done at the desk — over HTTP.
//!
//! Prints the client-side latency of each action (send to full body) for windows of
//! the day, so growth with the day's size shows, and each process's memory at the end.
//!
//! ```text
//! cargo bench -p aufruf-node --bench actions
//! AUFRUF_BENCH_TICKETS=300 cargo bench -p aufruf-node --bench actions
//! AUFRUF_BENCH_HOLD=600 cargo bench -p aufruf-node --bench actions   # keep the nodes for /proc
//! ```

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

#[path = "../tests/common/mod.rs"]
mod common;

use std::net::SocketAddr;
use std::process::Child;
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail, ensure};
use aufruf_node::settings::{NodeSettings, Role};
use common::{TestOffice, free_port};
use serde_json::{Value, json};

/// The whole day, unless `AUFRUF_BENCH_TICKETS` says otherwise.
const DEFAULT_TICKETS: usize = 3_000;
/// Every request gives up after this long.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the nodes may take to come up and find each other.
const STARTUP: Duration = Duration::from_secs(60);
/// How long the desk may take to see a ticket drawn at the kiosk.
const SYNC_PATIENCE: Duration = Duration::from_secs(10);
/// The pause between two call-next attempts while the desk does not see the ticket yet.
const SYNC_POLL: Duration = Duration::from_millis(2);
/// The windows of the day, as tickets so far (1-based, inclusive) out of 3,000.
const WINDOWS: [(usize, usize); 5] = [
    (1, 100),
    (401, 500),
    (901, 1000),
    (1901, 2000),
    (2901, 3000),
];

/// The three processes; killed when dropped, also when the bench fails or panics.
struct Processes {
    nodes: Vec<(String, Child)>,
}

impl Processes {
    /// Fails if a process has exited.
    fn check_alive(&mut self) -> anyhow::Result<()> {
        for (name, child) in &mut self.nodes {
            if let Some(status) = child.try_wait()? {
                bail!("{name} exited: {status}");
            }
        }
        Ok(())
    }

    fn kill(&mut self) {
        for (_, child) in &mut self.nodes {
            let _ = child.kill();
            let _ = child.wait();
        }
        self.nodes.clear();
    }
}

impl Drop for Processes {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Latencies in milliseconds, one per ticket of the day (index = ticket − 1).
struct Samples {
    ticket: Vec<f64>,
    call_next: Vec<f64>,
    serving: Vec<f64>,
    done: Vec<f64>,
    /// From the ticket's answer at the kiosk to the desk's successful call-next.
    visible: Vec<f64>,
    /// Refused call-next attempts (409 nobody_waiting) before the successful one.
    retries: Vec<f64>,
    /// `(tickets so far, ms)` of the `/api/day` requests.
    day: Vec<(usize, f64)>,
    /// `/api/day` is timed after every `day_every`-th ticket.
    day_every: usize,
}

impl Samples {
    /// Whether `/api/day` is timed after ticket `n`: every 100th of 3,000, scaled.
    fn day_due(&self, n: usize) -> bool {
        n.is_multiple_of(self.day_every)
    }
}

struct Client {
    http: reqwest::Client,
}

impl Client {
    /// Sends a request and reads the whole body; returns status, body and the wall
    /// time in milliseconds from send to full body.
    async fn send(&self, request: reqwest::RequestBuilder) -> anyhow::Result<(u16, Value, f64)> {
        let started = Instant::now();
        let response = request.send().await?;
        let status = response.status().as_u16();
        let bytes = response.bytes().await?;
        let ms = started.elapsed().as_secs_f64() * 1000.0;
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Ok((status, body, ms))
    }

    /// The node's heap as its allocator reports it on `/metrics`: allocated and
    /// resident, in MB.
    async fn heap(&self, api: SocketAddr) -> anyhow::Result<(f64, f64)> {
        let text = self
            .http
            .get(format!("http://{api}/metrics"))
            .send()
            .await?
            .text()
            .await?;
        let figure = |state: &str| -> anyhow::Result<f64> {
            let key = format!("aufruf_heap_bytes{{state=\"{state}\"}} ");
            let line = text
                .lines()
                .find(|l| l.starts_with(&key))
                .ok_or_else(|| anyhow!("no {key} on {api}/metrics"))?;
            Ok(line[key.len()..].trim().parse::<f64>()? / (1024.0 * 1024.0))
        };
        Ok((figure("allocated")?, figure("resident")?))
    }

    async fn get(&self, api: SocketAddr, path: &str) -> anyhow::Result<(u16, Value, f64)> {
        self.send(self.http.get(format!("http://{api}{path}")))
            .await
            .with_context(|| format!("GET {path} at {api}"))
    }

    async fn post(
        &self,
        api: SocketAddr,
        path: &str,
        body: &Value,
    ) -> anyhow::Result<(u16, Value, f64)> {
        self.send(self.http.post(format!("http://{api}{path}")).json(body))
            .await
            .with_context(|| format!("POST {path} at {api}"))
    }

    /// POSTs and insists on `want`; returns the body and the milliseconds.
    async fn post_ok(
        &self,
        api: SocketAddr,
        path: &str,
        body: &Value,
        want: u16,
    ) -> anyhow::Result<(Value, f64)> {
        let (status, answer, ms) = self.post(api, path, body).await?;
        ensure!(status == want, "POST {path}: {status} {answer}");
        Ok((answer, ms))
    }
}

fn peers_of(v: &Value) -> usize {
    v["peers"].as_array().map_or(0, Vec::len)
}

/// The `q`-quantile (0..=1) of `values`, nearest rank; NaN when empty.
fn quantile(values: &[f64], q: f64) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let rank = (q * sorted.len() as f64).ceil().max(1.0) as usize;
    sorted[rank.min(sorted.len()) - 1]
}

/// What `/proc/<pid>/status` says of a process's memory, in MB (kB / 1024).
#[derive(Clone, Copy)]
struct Memory {
    rss: f64,
    hwm: f64,
    /// Heap, thread stacks and other anonymous mappings.
    anon: f64,
    /// Mapped files: the binary's pages and shared libraries.
    file: f64,
    threads: f64,
}

fn memory(pid: u32) -> anyhow::Result<Memory> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let field = |name: &str| -> anyhow::Result<f64> {
        let line = status
            .lines()
            .find(|l| l.starts_with(name))
            .ok_or_else(|| anyhow!("no {name} in /proc/{pid}/status"))?;
        let value: f64 = line
            .split_whitespace()
            .nth(1)
            .ok_or_else(|| anyhow!("bad line {line:?}"))?
            .parse()?;
        Ok(value)
    };
    Ok(Memory {
        rss: field("VmRSS:")? / 1024.0,
        hwm: field("VmHWM:")? / 1024.0,
        anon: field("RssAnon:")? / 1024.0,
        file: field("RssFile:")? / 1024.0,
        threads: field("Threads:")?,
    })
}

/// Enrolls a node with fixed loopback ports, so the process can be told them.
fn enroll(office: &TestOffice, name: &str, role: Role, peers: Vec<SocketAddr>) -> NodeSettings {
    let mut settings = office.enroll(name, role, peers);
    settings.api = free_port();
    settings.listen = free_port();
    settings
}

async fn wait_until_up(
    client: &Client,
    processes: &mut Processes,
    name: &str,
    api: SocketAddr,
    peers: usize,
) -> anyhow::Result<()> {
    let deadline = Instant::now() + STARTUP;
    loop {
        processes.check_alive()?;
        // Every store is new: a node issues and calls once it has caught up.
        if let Ok((200, health, _)) = client.get(api, "/health").await
            && peers_of(&health) >= peers
            && health["status"] == "ok"
        {
            return Ok(());
        }
        ensure!(
            Instant::now() < deadline,
            "{name} did not answer /health with {peers} peers, caught up, within {STARTUP:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// One visitor: drawn at the kiosk, called, served and done at the desk.
async fn visitor(
    client: &Client,
    kiosk: SocketAddr,
    desk: SocketAddr,
    n: usize,
    samples: &mut Samples,
) -> anyhow::Result<()> {
    let (issued, ms) = client
        .post_ok(
            kiosk,
            "/api/tickets",
            &json!({"service": "anmeldung", "kind": "qr"}),
            201,
        )
        .await?;
    samples.ticket.push(ms);
    let drawn = Instant::now();
    let id = issued["ticket"]["id"]
        .as_str()
        .ok_or_else(|| anyhow!("ticket {n}: no id in {issued}"))?
        .to_owned();

    // The kiosk's day, now and then, while this visitor waits.
    if samples.day_due(n) {
        let (status, day, ms) = client.get(kiosk, "/api/day").await?;
        ensure!(status == 200, "GET /api/day: {status} {day}");
        let tickets = day["tickets"].as_array().map_or(0, Vec::len);
        ensure!(
            tickets == n,
            "the kiosk's day has {tickets} tickets, not {n}"
        );
        samples.day.push((n, ms));
    }

    // Call-next, until the desk has the ticket from the kiosk.
    let empty = json!({});
    let mut refused = 0_u32;
    let (view, ms) = loop {
        let (status, view, ms) = client
            .post(desk, "/api/desks/desk-1/call-next", &empty)
            .await?;
        match status {
            200 => break (view, ms),
            409 if view["kind"] == "nobody_waiting" => {
                refused += 1;
                ensure!(
                    drawn.elapsed() < SYNC_PATIENCE,
                    "ticket {n}: the desk did not see {id} within {SYNC_PATIENCE:?} \
                     ({refused} call-next refused)"
                );
                tokio::time::sleep(SYNC_POLL).await;
            }
            _ => bail!("ticket {n}: call-next: {status} {view}"),
        }
    };
    samples.call_next.push(ms);
    samples.visible.push(drawn.elapsed().as_secs_f64() * 1000.0);
    samples.retries.push(f64::from(refused));
    let called = view["current"]["id"].as_str().unwrap_or_default();
    ensure!(called == id, "ticket {n}: called {called:?}, not {id}");

    let (_, ms) = client
        .post_ok(desk, "/api/desks/desk-1/serving", &empty, 200)
        .await?;
    samples.serving.push(ms);
    let (view, ms) = client
        .post_ok(desk, "/api/desks/desk-1/done", &empty, 200)
        .await?;
    samples.done.push(ms);
    ensure!(
        view["current"].is_null(),
        "ticket {n}: still current after done: {view}"
    );
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let total: usize = match std::env::var("AUFRUF_BENCH_TICKETS") {
        Ok(v) => v
            .parse()
            .with_context(|| format!("AUFRUF_BENCH_TICKETS={v:?}"))?,
        Err(_) => DEFAULT_TICKETS,
    };
    ensure!(
        (30..=3_999).contains(&total),
        "AUFRUF_BENCH_TICKETS must be 30..=3999 (kiosk-1's number block), not {total}"
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(bench(total))
}

async fn bench(total: usize) -> anyhow::Result<()> {
    // Dropped in reverse order: the processes are killed before the folder goes.
    let office = TestOffice::new();
    let kiosk = enroll(&office, "kiosk-1", Role::Kiosk, vec![]);
    let desk = enroll(&office, "desk-1", Role::Desk, vec![kiosk.listen]);
    let display = enroll(
        &office,
        "display-1",
        Role::Display,
        vec![kiosk.listen, desk.listen],
    );
    let mut processes = Processes { nodes: Vec::new() };
    for settings in [&kiosk, &desk, &display] {
        processes
            .nodes
            .push((settings.id.to_string(), office.spawn(settings)));
    }
    let client = Client {
        http: reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .no_proxy()
            .build()?,
    };
    for settings in [&kiosk, &desk, &display] {
        wait_until_up(
            &client,
            &mut processes,
            settings.id.as_str(),
            settings.api,
            2,
        )
        .await?;
    }
    println!(
        "kiosk-1, desk-1 and display-1 are up (pids {}); {total} visitors, one after another",
        processes
            .nodes
            .iter()
            .map(|(_, c)| c.id().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    );

    client
        .post_ok(desk.api, "/api/desks/desk-1/open", &json!({}), 200)
        .await?;
    // Memory of the idle nodes, before the day's first visitor.
    let mut idle = Vec::new();
    for (_, child) in &processes.nodes {
        idle.push(memory(child.id())?);
    }
    let mut samples = Samples {
        ticket: Vec::with_capacity(total),
        call_next: Vec::with_capacity(total),
        serving: Vec::with_capacity(total),
        done: Vec::with_capacity(total),
        visible: Vec::with_capacity(total),
        retries: Vec::with_capacity(total),
        day: Vec::new(),
        day_every: (total / 30).max(1),
    };
    let started = Instant::now();
    for n in 1..=total {
        if let Err(e) = visitor(&client, kiosk.api, desk.api, n, &mut samples).await {
            processes.check_alive().context(format!("ticket {n}"))?;
            return Err(e);
        }
        if n % (total / 10).max(1) == 0 {
            processes.check_alive()?;
            eprintln!(
                "  {n}/{total} visitors after {:.0} s",
                started.elapsed().as_secs_f64()
            );
        }
    }
    let elapsed = started.elapsed();

    // Memory at the end, before anything is killed; and what the allocator says of
    // it (`/metrics`): live data against the pages it keeps.
    let mut memories = Vec::new();
    let apis = [kiosk.api, desk.api, display.api];
    for (((name, child), idle), api) in processes.nodes.iter().zip(idle).zip(apis) {
        let heap = client.heap(api).await?;
        memories.push((name.clone(), idle, memory(child.id())?, heap));
    }
    processes.check_alive()?;
    if let Ok(seconds) = std::env::var("AUFRUF_BENCH_HOLD") {
        // Time to look into /proc/<pid>/smaps or attach a profiler.
        let seconds: u64 = seconds
            .parse()
            .with_context(|| format!("AUFRUF_BENCH_HOLD={seconds:?}"))?;
        eprintln!("holding the nodes for {seconds} s (Ctrl-C or SIGINT ends it sooner)");
        tokio::select! {
            () = tokio::time::sleep(Duration::from_secs(seconds)) => {}
            _ = tokio::signal::ctrl_c() => {}
        }
    }
    processes.kill();

    report(total, &samples, elapsed, &memories);
    drop(office);
    Ok(())
}

/// The window `(first, last)` of 3,000 scaled to `total` tickets.
fn scaled(total: usize, (first, last): (usize, usize)) -> (usize, usize) {
    (
        (first - 1) * total / DEFAULT_TICKETS + 1,
        last * total / DEFAULT_TICKETS,
    )
}

fn report(
    total: usize,
    s: &Samples,
    elapsed: Duration,
    memories: &[(String, Memory, Memory, (f64, f64))],
) {
    let windows: Vec<(usize, usize)> = WINDOWS.iter().map(|w| scaled(total, *w)).collect();
    let slice = |v: &[f64], (a, b): (usize, usize)| v[a - 1..b].to_vec();
    let day_in = |(a, b): (usize, usize)| -> Vec<f64> {
        s.day
            .iter()
            .filter(|(n, _)| (a..=b).contains(n))
            .map(|(_, ms)| *ms)
            .collect()
    };
    println!();
    println!(
        "{total} visitors in {:.1} s; latency in ms, client side, send to full body; \
         /api/day timed after every {}th ticket",
        elapsed.as_secs_f64(),
        s.day_every
    );
    println!(
        "{:<11} | {:>8} {:>8} | {:>8} {:>8} | {:>8} {:>8} | {:>9}",
        "tickets", "tkt p50", "tkt p99", "call p50", "call p99", "done p50", "done p99", "day p50"
    );
    println!("{}", "-".repeat(88));
    for &w in &windows {
        let (t, c, d) = (
            slice(&s.ticket, w),
            slice(&s.call_next, w),
            slice(&s.done, w),
        );
        println!(
            "{:<11} | {:>8.2} {:>8.2} | {:>8.2} {:>8.2} | {:>8.2} {:>8.2} | {:>9.2}",
            format!("{}-{}", w.0, w.1),
            quantile(&t, 0.5),
            quantile(&t, 0.99),
            quantile(&c, 0.5),
            quantile(&c, 0.99),
            quantile(&d, 0.5),
            quantile(&d, 0.99),
            quantile(&day_in(w), 0.5),
        );
    }
    let (first, last) = (windows[0], windows[windows.len() - 1]);
    let ratio = |v: &[f64]| quantile(&slice(v, last), 0.5) / quantile(&slice(v, first), 0.5);
    let day_ratio = quantile(&day_in(last), 0.5) / quantile(&day_in(first), 0.5);
    println!("{}", "-".repeat(88));
    println!(
        "{:<11} | {:>7.2}x {:>8} | {:>7.2}x {:>8} | {:>7.2}x {:>8} | {:>8.2}x",
        "p50 last/1st",
        ratio(&s.ticket),
        "",
        ratio(&s.call_next),
        "",
        ratio(&s.done),
        "",
        day_ratio
    );

    println!();
    println!(
        "{:<11} | {:>8} {:>8} | {:>11} {:>11} | {:>12}",
        "tickets", "serv p50", "serv p99", "visible p50", "visible p99", "refused/tkt"
    );
    for &w in &windows {
        let r = slice(&s.retries, w);
        println!(
            "{:<11} | {:>8.2} {:>8.2} | {:>11.2} {:>11.2} | {:>12.2}",
            format!("{}-{}", w.0, w.1),
            quantile(&slice(&s.serving, w), 0.5),
            quantile(&slice(&s.serving, w), 0.99),
            quantile(&slice(&s.visible, w), 0.5),
            quantile(&slice(&s.visible, w), 0.99),
            r.iter().sum::<f64>() / r.len() as f64,
        );
    }
    println!(
        "(visible: from the kiosk's answer to the desk's successful call-next, \
         including the refused polls every {SYNC_POLL:?})"
    );
    let all: Vec<f64> = [&s.ticket, &s.call_next, &s.serving, &s.done]
        .iter()
        .flat_map(|v| v.iter().copied())
        .collect();
    let slowest = all.iter().copied().fold(0.0, f64::max);
    println!("slowest request of the day: {slowest:.2} ms");
    let day_series: Vec<String> = s.day.iter().map(|(n, ms)| format!("{n}:{ms:.1}")).collect();
    println!("/api/day ms by tickets so far: {}", day_series.join(" "));

    println!();
    println!(
        "{:<10} | {:>13} | {:>8} {:>8} {:>8} {:>8} {:>7} | {:>12} {:>11}",
        "process",
        "idle RSS MB",
        "VmRSS MB",
        "VmHWM MB",
        "anon MB",
        "file MB",
        "threads",
        "allocated MB",
        "resident MB"
    );
    for (name, idle, end, heap) in memories {
        println!(
            "{name:<10} | {:>13.1} | {:>8.1} {:>8.1} {:>8.1} {:>8.1} {:>7} | {:>12.1} {:>11.1}",
            idle.rss, end.rss, end.hwm, end.anon, end.file, end.threads, heap.0, heap.1
        );
    }
    println!(
        "(idle: after start-up, before the first visitor; the rest at the end of the day; \
         allocated: the data the node holds, resident: what its allocator keeps from the system)"
    );
}
