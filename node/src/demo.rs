//! `aufruf demo`: a whole office on this machine — a kiosk, two desks, a display and a
//! gateway serving the citizen portal as separate nodes, each with its own store,
//! certificate and mutual-TLS links — and,
//! unless switched off, simulated visitors and clerks acting through the nodes' role
//! services, exactly as the devices' screens do.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use anyhow::Context;
use aufruf_hardware::{Connection, Language, PrinterConfig};
use aufruf_model::{OfficeConfig, ServiceId};
use aufruf_office::views::Delivery;
use aufruf_office::{DeskAction, DeskService, DisplayService, KioskService, Wish};
use aufruf_sync::NodeId;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, Exp, LogNormal};
use tokio::sync::watch;

use crate::credentials::{self, OfficeFolder};
use crate::replica::NodeReplica;
use crate::runtime::{self, RunningNode};
use crate::settings::{NodeSettings, Role};
use crate::state::{Services, wall_clock};

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
    /// Visitors who reached a desk.
    pub served: u32,
    /// Visitors whose concern was dealt with.
    pub finished: u32,
}

/// The demo's devices: name, role, and for desks the desk they serve.
/// Visitors already at the door when the demo office opens.
const AT_THE_DOOR: u32 = 3;

/// How long the demo's new nodes may take to catch up with each other.
const CATCH_UP_WITHIN: Duration = Duration::from_secs(30);

/// Where the demo's office stands (latitude, longitude): Zeitz's town hall.
pub const DEMO_OFFICE_AT: (f64, f64) = (51.0481, 12.1386);

/// The demo's desk terminals.
const DESKS: [&str; 2] = ["desk-1", "desk-2"];

const DEVICES: [(&str, Role); 5] = [
    ("kiosk-1", Role::Kiosk),
    ("desk-1", Role::Desk),
    ("desk-2", Role::Desk),
    ("display-1", Role::Display),
    ("gateway-1", Role::Gateway),
];

/// Runs the demo office until `stop` turns true or the duration is over. Once every
/// node has caught up, `started` gets their role services (to open their screens).
pub async fn run(
    options: DemoOptions,
    mut stop: watch::Receiver<bool>,
    started: impl FnOnce(Vec<Services>),
) -> anyhow::Result<DemoSummary> {
    // The demo office is open around the clock, so it can be tried at any hour.
    let config = crate::config_file::load_or_example(None)?.open_around_the_clock();
    prepare_dir(&options.dir)?;
    let office = OfficeFolder::init(&options.dir.join("office"), &config.office.id)?;

    // The portal's address is chosen first: the kiosk prints it on tickets (their QR
    // code opens the ticket's page there), and the kiosk starts before the gateway.
    let portal = std::net::TcpListener::bind(("127.0.0.1", 0))?.local_addr()?;
    // Each node dials the ones started before it; sessions carry both directions.
    let mut nodes: Vec<RunningNode> = Vec::new();
    for (name, role) in DEVICES {
        let demo = DemoNode {
            dir: &options.dir,
            office: &office,
            config: &config,
            portal,
        };
        let node = start_node(&demo, name, role, &nodes).await?;
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
    if let Some(portal) = nodes.iter().find_map(|n| n.portal_addr) {
        println!("  portal http://{portal}");
        println!(
            "  portal mail (outbox): {}",
            demo_outbox(&options.dir).display()
        );
        println!(
            "  tickets by phone (/ticket): within 500 m of {}, {}",
            DEMO_OFFICE_AT.0, DEMO_OFFICE_AT.1
        );
    }
    if let Some(portal) = nodes.iter().find_map(|n| n.state.portal.get().cloned()) {
        let link = tokio::task::spawn_blocking(move || portal.invite_admin(DEMO_ADMIN)).await??;
        println!(
            "  admin pages: {link}\n    (set a password and your authenticator app there, log in as {DEMO_ADMIN}; rename a service and watch the kiosk)"
        );
    }
    println!("  try: curl http://{}/api/day", nodes[0].api_addr);

    // Every store is new: each node issues and calls only once it has caught up with
    // another node (they all start empty, so the first greeting does it).
    for node in &nodes {
        let mut catch_up = node.state.replica.subscribe_catch_up();
        tokio::time::timeout(CATCH_UP_WITHIN, catch_up.wait_for(|c| !c.is_pending()))
            .await
            .with_context(|| {
                format!(
                    "{} did not catch up with the other demo nodes within {CATCH_UP_WITHIN:?}",
                    node.state.settings.id
                )
            })?
            .context("the node stopped")?;
    }

    started(nodes.iter().map(|n| n.state.services.clone()).collect());

    let summary = Arc::new(Counters::default());
    let mut people = Vec::new();
    if options.simulate {
        for (i, node) in nodes.iter().enumerate() {
            match &node.state.services {
                Services::Kiosk(kiosk) => people.push(tokio::spawn(visitors(
                    kiosk.clone(),
                    options.clone(),
                    summary.clone(),
                ))),
                Services::Desk(desk) => people.push(tokio::spawn(clerk(
                    desk.clone(),
                    options.seed.wrapping_mul(31).wrapping_add(i as u64 * 7919),
                    options.clone(),
                    summary.clone(),
                ))),
                Services::Display(display) => {
                    people.push(tokio::spawn(display_log(display.clone())));
                }
                Services::Gateway(_) => {}
            }
        }
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
        finished: summary.finished.load(Ordering::Relaxed),
    };
    println!(
        "demo: {} tickets issued ({} printed), {} calls, {} visitors served, {} finished",
        summary.issued, summary.printed, summary.called, summary.served, summary.finished
    );
    Ok(summary)
}

#[derive(Debug, Default)]
struct Counters {
    issued: AtomicU32,
    printed: AtomicU32,
    called: AtomicU32,
    served: AtomicU32,
    finished: AtomicU32,
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

/// What every demo node is started with.
struct DemoNode<'a> {
    dir: &'a Path,
    office: &'a OfficeFolder,
    config: &'a OfficeConfig,
    /// Where the gateway serves the portal.
    portal: std::net::SocketAddr,
}

async fn start_node(
    demo: &DemoNode<'_>,
    name: &str,
    role: Role,
    earlier: &[RunningNode],
) -> anyhow::Result<RunningNode> {
    let DemoNode {
        dir,
        office,
        config,
        portal: portal_addr,
    } = *demo;
    let home = dir.join(name);
    let node = NodeId::new(name)?;
    let token = office.issue_token(&node, role, Duration::from_secs(600))?;
    let (issued, issued_role) = office.enroll(&token)?;
    debug_assert_eq!(issued_role, role);
    credentials::save_node(&home.join("credentials"), &issued)?;
    let peers = earlier.iter().map(|n| n.sync_addr).collect();
    let mut settings = NodeSettings::on_loopback(node, role, &home, peers);
    if role == Role::Gateway {
        let mut portal = aufruf_portal::PortalSettings::in_dir(&home.join("portal"), "");
        portal.listen = portal_addr;
        portal.outbox = demo_outbox(dir);
        // The demo serves plain HTTP on loopback.
        portal.secure_cookies = false;
        // Its admin pages may publish the office's configuration.
        let delegation = home.join("admin.delegation");
        std::fs::create_dir_all(&home)?;
        crate::admin::delegate(&settings.id, &dir.join("office"), &delegation)?;
        portal.admin_delegation = Some(delegation);
        // A newcomer books for within the hour and checks in at the demo's kiosk
        // right away, instead of a day later.
        for department in &config.departments {
            portal.departments.insert(
                department.id.to_string(),
                aufruf_portal::settings::DepartmentRules {
                    lead_hours: Some(0),
                    ..Default::default()
                },
            );
        }
        // Tickets by phone, for a citizen within 500 m of the example office (Zeitz's
        // town hall): a browser's position can be set to try it.
        portal.remote_tickets = Some(aufruf_portal::settings::RemoteTickets {
            latitude: DEMO_OFFICE_AT.0,
            longitude: DEMO_OFFICE_AT.1,
            radius_m: 500.0,
        });
        settings.portal = Some(portal);
    }
    if role == Role::Kiosk {
        settings.printer = Some(PrinterConfig::new(Connection::Emulated {
            dir: home.join("tickets"),
        }));
        // Tickets carry their QR page's address on the demo's portal.
        settings.public_url = Some(format!("http://{portal_addr}"));
    }
    Ok(runtime::start(Some(config.clone()), settings).await?)
}

/// The demo's admin, invited at start.
const DEMO_ADMIN: &str = "admin@demo.example";

/// Where the demo portal's mails land.
fn demo_outbox(dir: &Path) -> PathBuf {
    dir.join("outbox")
}

/// A service the demo's visitors may ask for: one that the demo's desks serve.
fn demo_services(config: &OfficeConfig) -> Vec<ServiceId> {
    let mut services: Vec<ServiceId> = config
        .desks
        .iter()
        .filter(|d| DESKS.contains(&d.id.as_str()))
        .flat_map(|d| d.services.iter().cloned())
        .collect();
    services.sort();
    services.dedup();
    services
}

/// Visitors arrive at the kiosk (a Poisson process; a few wait at the door when the
/// demo opens) and draw paper or QR tickets.
async fn visitors(kiosk: KioskService<NodeReplica>, options: DemoOptions, counters: Arc<Counters>) {
    let mut rng = StdRng::seed_from_u64(options.seed);
    // One visitor every three minutes on average, as two desks can serve them.
    let gaps = Exp::new(1.0 / 180.0).ok();
    let services = demo_services(&kiosk.office().config());
    if services.is_empty() {
        println!("kiosk-1   no service is served by the demo's desks");
        return;
    }
    for visitor in 0_u32.. {
        if visitor >= AT_THE_DOOR {
            let gap = gaps.map_or(180.0, |g| g.sample(&mut rng)) / options.speed;
            tokio::time::sleep(Duration::from_secs_f64(gap.min(3600.0))).await;
        }
        let service = services[rng.random_range(0..services.len())].clone();
        let wish = if rng.random_bool(0.7) {
            Wish::Paper
        } else {
            Wish::Qr
        };
        let kiosk = kiosk.clone();
        let drawn = tokio::task::spawn_blocking(move || {
            kiosk.draw_ticket(wall_clock(), &service, wish, Language::De)
        })
        .await;
        match drawn {
            Ok(Ok(issued)) => {
                counters.issued.fetch_add(1, Ordering::Relaxed);
                if issued.delivered_as == Delivery::Paper {
                    counters.printed.fetch_add(1, Ordering::Relaxed);
                }
                let t = &issued.ticket;
                println!(
                    "kiosk-1   ticket {} for {} ({}) — {} ahead, about {} min{}",
                    t.number,
                    t.service_name,
                    match issued.delivered_as {
                        Delivery::Paper => "paper",
                        Delivery::Qr => "QR code",
                        Delivery::Screen => "number on screen",
                    },
                    t.ahead.map_or("?".into(), |a| a.to_string()),
                    t.estimate_minutes.map_or("?".into(), |m| m.to_string()),
                    issued
                        .print_problem
                        .map(|p| format!(" [{p}]"))
                        .unwrap_or_default()
                );
            }
            Ok(Err(e)) => println!("kiosk-1   refused: {e}"),
            Err(e) => println!("kiosk-1   failed: {e}"),
        }
    }
}

/// A clerk opens the desk and calls, serves and finishes visitors. Each clerk has
/// their own pace (seed and start), so the desks do not act in lockstep.
async fn clerk(
    desk: DeskService<NodeReplica>,
    seed: u64,
    options: DemoOptions,
    counters: Arc<Counters>,
) {
    let mut rng = StdRng::seed_from_u64(seed);
    let name = desk.desk().to_string();
    let pause = |seconds: f64| {
        tokio::time::sleep(Duration::from_secs_f64(
            (seconds / options.speed).min(3600.0),
        ))
    };
    let act = |action: DeskAction| {
        let desk = desk.clone();
        async move {
            tokio::task::spawn_blocking(move || desk.act(wall_clock(), action))
                .await
                .map_err(|e| e.to_string())
                .and_then(|r| r.map_err(|e| e.to_string()))
        }
    };
    // Clerks do not sit down at the same second.
    pause(rng.random_range(5.0..40.0)).await;
    if let Err(e) = act(DeskAction::Open {
        services: Vec::new(),
    })
    .await
    {
        println!("{name}    cannot open: {e}");
        return;
    }
    println!("{name}    opened");
    loop {
        let called = act(DeskAction::CallNext).await.ok().and_then(|v| v.current);
        let Some(visitor) = called else {
            pause(rng.random_range(10.0..30.0)).await;
            continue;
        };
        counters.called.fetch_add(1, Ordering::Relaxed);
        println!(
            "{name}    calls {} ({})",
            visitor.number, visitor.service_name
        );
        // The visitor walks over from the foyer.
        pause(rng.random_range(15.0..45.0)).await;
        if let Err(e) = act(DeskAction::Serving).await {
            // Another desk called the same visitor a moment earlier and won the claim;
            // this desk's screen says so, and the clerk calls the next visitor.
            println!(
                "{name}    {} was taken by another desk ({e}); calling the next visitor",
                visitor.number
            );
            continue;
        }
        counters.served.fetch_add(1, Ordering::Relaxed);
        let minutes = desk
            .office()
            .config()
            .service(&visitor.service)
            .map_or(5.0, |s| f64::from(s.expected_minutes));
        let handling =
            LogNormal::new(minutes.ln() - 0.08, 0.4).map_or(minutes, |d| d.sample(&mut rng));
        pause(handling * 60.0).await;
        if act(DeskAction::Done).await.is_ok() {
            counters.finished.fetch_add(1, Ordering::Relaxed);
            println!("{name}    finished {}", visitor.number);
        }
    }
}

/// Logs what the foyer display shows whenever it changes.
async fn display_log(display: DisplayService<NodeReplica>) {
    let mut feed = display.subscribe();
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
