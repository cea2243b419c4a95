//! `aufruf demo`: a whole office on this machine — a kiosk, two desks and a display as
//! separate nodes, each with its own store, certificate and mutual-TLS links — and,
//! unless switched off, simulated visitors and clerks working through the nodes' HTTP
//! APIs exactly as the real devices' screens will.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use anyhow::Context;
use aufruf_model::OfficeConfig;
use aufruf_sync::NodeId;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, Exp, LogNormal};
use serde::Deserialize;
use tokio::sync::watch;

use crate::credentials::{self, OfficeFolder};
use crate::runtime::{self, RunningNode};
use crate::settings::{NodeSettings, RoleName};

/// How the demo runs.
#[derive(Debug, Clone)]
pub struct DemoOptions {
    /// Where stores, certificates and printed tickets go.
    pub dir: PathBuf,
    /// Simulated visitors and clerks.
    pub simulate: bool,
    /// How much faster than real life the simulated people act.
    pub speed: f64,
    /// Stop after this long; `None` runs until Ctrl-C.
    pub duration: Option<Duration>,
    pub seed: u64,
}

/// What happened during the demo.
#[derive(Debug, Default)]
pub struct DemoSummary {
    pub issued: u32,
    pub printed: u32,
    pub called: u32,
    pub served: u32,
}

/// The demo's devices: name, role, and for desks the desk they serve.
const DEVICES: [(&str, RoleName); 4] = [
    ("kiosk-1", RoleName::Kiosk),
    ("desk-1", RoleName::Desk),
    ("desk-2", RoleName::Desk),
    ("display-1", RoleName::Display),
];

/// Runs the demo office until `stop` turns true or the duration is over.
pub async fn run(
    options: DemoOptions,
    mut stop: watch::Receiver<bool>,
) -> anyhow::Result<DemoSummary> {
    let config = crate::config_file::load_or_example(None)?;
    prepare_dir(&options.dir)?;
    let office = OfficeFolder::init(
        &options.dir.join("office"),
        &aufruf_sync::OfficeId::new(config.office.id.as_str())?,
    )?;

    // Each node dials the ones started before it; sessions carry both directions.
    let mut nodes: Vec<RunningNode> = Vec::new();
    for (name, role) in DEVICES {
        let node = start_node(&options.dir, &office, &config, name, role, &nodes).await?;
        nodes.push(node);
    }
    println!(
        "Aufruf demo office \"{}\" — {} nodes on this machine:",
        config.office.name,
        nodes.len()
    );
    for node in &nodes {
        println!(
            "  {:<10} {:<8} API http://{}   sync (mTLS) {}",
            node.state.settings.id,
            node.state.role().name(),
            node.api_addr,
            node.sync_addr
        );
    }
    println!(
        "  printed tickets: {}",
        options.dir.join("kiosk-1").join("tickets").display()
    );
    println!("  try: curl http://{}/api/day", nodes[0].api_addr);

    let summary = Arc::new(Counters::default());
    let mut people = Vec::new();
    if options.simulate {
        let apis: Vec<SocketAddr> = nodes.iter().map(|n| n.api_addr).collect();
        people.push(tokio::spawn(visitors(
            apis[0],
            config.clone(),
            options.clone(),
            summary.clone(),
        )));
        for (i, desk) in ["desk-1", "desk-2"].into_iter().enumerate() {
            people.push(tokio::spawn(clerk(
                apis[1 + i],
                desk.to_owned(),
                config.clone(),
                options.clone(),
                summary.clone(),
            )));
        }
        people.push(tokio::spawn(display_log(nodes[3].state.clone())));
    }

    let until = async {
        match options.duration {
            Some(d) => tokio::time::sleep(d).await,
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        () = until => println!("demo: time is up, stopping"),
        _ = stop.wait_for(|s| *s) => println!("demo: stopping"),
    }
    for task in &people {
        task.abort();
    }
    for node in nodes {
        node.shutdown().await;
    }
    let summary = DemoSummary {
        issued: summary.issued.load(Ordering::Relaxed),
        printed: summary.printed.load(Ordering::Relaxed),
        called: summary.called.load(Ordering::Relaxed),
        served: summary.served.load(Ordering::Relaxed),
    };
    println!(
        "demo: {} tickets issued ({} printed), {} calls, {} visitors served",
        summary.issued, summary.printed, summary.called, summary.served
    );
    Ok(summary)
}

#[derive(Debug, Default)]
struct Counters {
    issued: AtomicU32,
    printed: AtomicU32,
    called: AtomicU32,
    served: AtomicU32,
}

fn prepare_dir(dir: &Path) -> anyhow::Result<()> {
    // Only ever clear a folder this demo made: it holds an office CA marker.
    if dir.join("office").join("office-id").exists() {
        std::fs::remove_dir_all(dir).with_context(|| format!("clearing {}", dir.display()))?;
    } else if dir.exists() && std::fs::read_dir(dir)?.next().is_some() {
        anyhow::bail!(
            "{} exists and is not a demo folder; choose another with --dir",
            dir.display()
        );
    }
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    Ok(())
}

async fn start_node(
    dir: &Path,
    office: &OfficeFolder,
    config: &OfficeConfig,
    name: &str,
    role: RoleName,
    earlier: &[RunningNode],
) -> anyhow::Result<RunningNode> {
    let home = dir.join(name);
    let node = NodeId::new(name)?;
    let token = office.issue_token(&node, role.as_sync(), Duration::from_secs(600))?;
    let (issued, issued_role) = office.enroll(&token)?;
    debug_assert_eq!(issued_role, role.as_sync());
    credentials::save_node(&home.join("credentials"), &issued)?;
    let mut config = config.clone();
    if role == RoleName::Kiosk {
        let mut printer = toml::Table::new();
        printer.insert("kind".into(), "emulated".into());
        printer.insert(
            "dir".into(),
            home.join("tickets").display().to_string().into(),
        );
        config.printer = Some(printer);
    }
    let peers = earlier.iter().map(|n| n.sync_addr).collect();
    let settings = NodeSettings::on_loopback(name, role, &home, peers);
    Ok(runtime::start(config, settings).await?)
}

#[derive(Debug, Deserialize)]
struct Issued {
    ticket: TicketSummary,
    delivered_as: String,
    print_problem: Option<String>,
}

#[derive(Debug, Deserialize)]
struct TicketSummary {
    number: String,
    service_name: String,
    ahead: Option<u32>,
    estimate_minutes: Option<u32>,
}

#[derive(Debug, Deserialize)]
struct DeskState {
    current: Option<TicketSummary>,
}

/// Visitors arrive at the kiosk (a Poisson process) and draw paper or QR tickets.
async fn visitors(
    kiosk: SocketAddr,
    config: OfficeConfig,
    options: DemoOptions,
    counters: Arc<Counters>,
) {
    let http = reqwest::Client::new();
    let mut rng = StdRng::seed_from_u64(options.seed);
    // One visitor every three minutes on average, as two desks can serve them.
    let gaps = Exp::new(1.0 / 180.0).ok();
    let services: Vec<String> = config
        .desks
        .iter()
        .filter(|d| d.id.as_str() == "desk-1" || d.id.as_str() == "desk-2")
        .flat_map(|d| d.services.iter().map(ToString::to_string))
        .collect();
    loop {
        let gap = gaps.map_or(180.0, |g| g.sample(&mut rng)) / options.speed;
        tokio::time::sleep(Duration::from_secs_f64(gap.min(3600.0))).await;
        let service = &services[rng.random_range(0..services.len().max(1))];
        let kind = if rng.random_bool(0.7) { "paper" } else { "qr" };
        let body = serde_json::json!({ "service": service, "kind": kind });
        let answer = http
            .post(format!("http://{kiosk}/api/tickets"))
            .json(&body)
            .send()
            .await;
        match answer {
            Ok(r) if r.status().is_success() => {
                if let Ok(issued) = r.json::<Issued>().await {
                    counters.issued.fetch_add(1, Ordering::Relaxed);
                    if issued.delivered_as == "paper" {
                        counters.printed.fetch_add(1, Ordering::Relaxed);
                    }
                    let t = &issued.ticket;
                    println!(
                        "kiosk-1   ticket {} for {} ({}) — {} ahead, about {} min{}",
                        t.number,
                        t.service_name,
                        issued.delivered_as,
                        t.ahead.map_or("?".into(), |a| a.to_string()),
                        t.estimate_minutes.map_or("?".into(), |m| m.to_string()),
                        issued
                            .print_problem
                            .map(|p| format!(" [{p}]"))
                            .unwrap_or_default()
                    );
                }
            }
            Ok(r) => println!("kiosk-1   refused: {}", r.text().await.unwrap_or_default()),
            Err(e) => println!("kiosk-1   unreachable: {e}"),
        }
    }
}

/// A clerk opens the desk and calls, serves and finishes visitors.
async fn clerk(
    api: SocketAddr,
    desk: String,
    config: OfficeConfig,
    options: DemoOptions,
    counters: Arc<Counters>,
) {
    let http = reqwest::Client::new();
    let mut rng = StdRng::seed_from_u64(options.seed ^ u64::from(desk.len() as u32) ^ 0x5eed);
    let url = |action: &str| format!("http://{api}/api/desks/{desk}/{action}");
    let post = |action: &'static str| {
        let http = http.clone();
        let url = url(action);
        async move { http.post(url).send().await }
    };
    if let Err(e) = post("open").await {
        println!("{desk}    cannot open: {e}");
        return;
    }
    println!("{desk}    opened");
    let pause = |seconds: f64| {
        tokio::time::sleep(Duration::from_secs_f64(
            (seconds / options.speed).min(3600.0),
        ))
    };
    loop {
        let called = match post("call-next").await {
            Ok(r) if r.status().is_success() => {
                r.json::<DeskState>().await.ok().and_then(|s| s.current)
            }
            _ => None,
        };
        let Some(visitor) = called else {
            pause(20.0).await;
            continue;
        };
        counters.called.fetch_add(1, Ordering::Relaxed);
        println!(
            "{desk}    calls {} ({})",
            visitor.number, visitor.service_name
        );
        pause(30.0).await;
        let arrived = post("serving").await.is_ok_and(|r| r.status().is_success());
        if !arrived {
            // Another desk called the same visitor a moment earlier and won the claim;
            // this desk's screen says so, and the clerk calls the next visitor.
            println!(
                "{desk}    {} was taken by another desk; calling the next visitor",
                visitor.number
            );
            continue;
        }
        let minutes = config
            .services
            .iter()
            .find(|s| s.name.de == visitor.service_name)
            .map_or(5.0, |s| f64::from(s.expected_minutes));
        let handling =
            LogNormal::new(minutes.ln() - 0.08, 0.4).map_or(minutes, |d| d.sample(&mut rng));
        pause(handling * 60.0).await;
        if post("done").await.is_ok_and(|r| r.status().is_success()) {
            counters.served.fetch_add(1, Ordering::Relaxed);
            println!("{desk}    finished {}", visitor.number);
        }
    }
}

/// Logs what the foyer display shows whenever it changes.
async fn display_log(display: Arc<crate::state::NodeState>) {
    let mut feed = display.display_feed();
    let mut shown = String::new();
    while feed.changed().await.is_ok() {
        let view = feed.borrow_and_update().clone();
        let calls: Vec<String> = view
            .calls
            .iter()
            .map(|c| format!("{} → {}", c.number, c.desk_name))
            .collect();
        let line = format!(
            "display-1 shows [{}], {} waiting",
            calls.join(", "),
            view.waiting_total
        );
        if line != shown {
            println!("{line}");
            shown = line;
        }
    }
}
