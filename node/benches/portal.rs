//! The citizen portal under load, over real HTTP on loopback: a gateway (this process,
//! its own two-thread runtime) with its sled store, mail outbox and office documents
//! on disk, and clients on another two-thread runtime of the same two cores.
//!
//! 1. **Booking**: `AUFRUF_BENCH_CLIENTS` (64) logged-in citizens book at once, each
//!    booking a page view of the day's times (for the form's CSRF token and proof of
//!    work) and the post. More requests than places (250 start times × 20 places, 24
//!    requests each): exactly the places are booked, none twice over.
//! 2. **The free-slot page**: 500 clients at once open a day's times, 20 times each.
//!
//! The proof of work is set to its least (`pow_max_number = 1`): it is the client's
//! cost by design, and a bot pays it per booking; what is measured is the portal's.
//!
//! ```text
//! cargo bench -p aufruf-node --bench portal
//! AUFRUF_BENCH_CLIENTS=128 cargo bench -p aufruf-node --bench portal
//! ```

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

#[path = "../tests/common/mod.rs"]
mod common;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, ensure};
use aufruf_node::settings::Role;
use aufruf_portal::settings::{DepartmentRules, PasswordCost};
use chrono::{Duration as Days, Utc};
use common::TestOffice;

/// Start times booked against, and places at each.
const STARTS: usize = 250;
const PLACES: u32 = 20;
/// Requests per start time: more than its places.
const REQUESTS_PER_START: usize = 24;
/// The free-slot page: clients at once, and pages each.
const PAGE_CLIENTS: usize = 500;
const PAGES_EACH: usize = 20;

fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() - 1) as f64 * q).round() as usize;
    sorted[i]
}

/// A browser: its cookies (one header), the last form's CSRF token and page.
#[derive(Clone)]
struct Citizen {
    http: reqwest::Client,
    base: String,
    cookies: BTreeMap<String, String>,
    csrf: String,
    last: String,
}

impl Citizen {
    fn new(http: reqwest::Client, portal: SocketAddr) -> Self {
        Citizen {
            http,
            base: format!("http://{portal}"),
            cookies: BTreeMap::new(),
            csrf: String::new(),
            last: String::new(),
        }
    }

    async fn send(&mut self, request: reqwest::RequestBuilder) -> anyhow::Result<(u16, String)> {
        let cookie: Vec<String> = self
            .cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        let r = request.header("cookie", cookie.join("; ")).send().await?;
        for c in r.headers().get_all("set-cookie") {
            let (pair, _) = c.to_str()?.split_once(';').unwrap_or((c.to_str()?, ""));
            if let Some((k, v)) = pair.split_once('=') {
                self.cookies.insert(k.into(), v.into());
            }
        }
        let status = r.status().as_u16();
        let body = r.text().await?;
        if let Some(i) = body.find("name=\"csrf\" value=\"") {
            self.csrf = body[i + 19..i + 19 + 64].to_owned();
            self.last = body.clone();
        }
        Ok((status, body))
    }

    async fn get(&mut self, path: &str) -> anyhow::Result<(u16, String)> {
        let r = self.http.get(format!("{}{path}", self.base));
        self.send(r).await
    }

    /// Posts a form with the last page's CSRF token and its proof of work's answer.
    async fn post(&mut self, path: &str, fields: &[(&str, &str)]) -> anyhow::Result<u16> {
        let pow = aufruf_portal::pow::solve_page(&self.last).unwrap_or_default();
        let mut form = vec![("csrf", self.csrf.as_str()), ("pow", pow.as_str())];
        form.extend_from_slice(fields);
        let body = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form)
            .finish();
        let r = self
            .http
            .post(format!("{}{path}", self.base))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body);
        Ok(self.send(r).await?.0)
    }
}

/// The link to `path` in a mail to `to` in the outbox.
fn link_in_outbox(outbox: &Path, to: &str, path: &str) -> anyhow::Result<String> {
    for entry in std::fs::read_dir(outbox)? {
        let text = std::fs::read_to_string(entry?.path()).unwrap_or_default();
        if text.contains(&format!("To: {to}"))
            && let Some(start) = text.find(path)
        {
            let link = text[start..].split_whitespace().next().unwrap_or("");
            return Ok(link.to_owned());
        }
    }
    Err(anyhow!("no mail to {to} with {path}"))
}

async fn citizen(
    http: reqwest::Client,
    portal: SocketAddr,
    outbox: &Path,
    n: usize,
) -> anyhow::Result<Citizen> {
    let mut c = Citizen::new(http, portal);
    let email = format!("buerger{n}@example.org");
    let password = "sicheres Passwort 1";
    c.get("/register").await?;
    let status = c
        .post("/register", &[("email", &email), ("password", password)])
        .await?;
    ensure!(status == 200, "register {email}: {status}");
    let link = link_in_outbox(outbox, &email, "/verify?token=")?;
    ensure!(c.get(&link).await?.0 == 200, "verify {email}");
    c.get("/login").await?;
    let status = c
        .post("/login", &[("email", &email), ("password", password)])
        .await?;
    ensure!(status == 303, "login {email}: {status}");
    Ok(c)
}

fn main() -> anyhow::Result<()> {
    let clients: usize = std::env::var("AUFRUF_BENCH_CLIENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(64);
    let server = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let office = TestOffice::new();
    let outbox = office.home("outbox");
    let mut gateway = office.enroll_alone("gateway-1", Role::Gateway);
    let mut portal = aufruf_portal::PortalSettings::in_dir(&office.home("portal"), "");
    portal.listen = SocketAddr::from(([127, 0, 0, 1], 0));
    portal.outbox = outbox.clone();
    portal.secure_cookies = false;
    portal.pow_max_number = 1;
    portal.open_bookings_per_account = 1_000_000;
    portal.attempts_per_address_per_minute = 1_000_000;
    // Registration is not measured: a cheap hash gets the citizens in quickly.
    portal.password_cost = PasswordCost {
        memory_kib: 1024,
        iterations: 1,
        parallelism: 1,
    };
    portal.departments.insert(
        "buergerbuero".into(),
        DepartmentRules {
            appointments_per_slot: Some(PLACES),
            ..Default::default()
        },
    );
    gateway.portal = Some(portal);
    // 500 clients at once: more than the default 256 connections.
    gateway.api_limits.connections = 1024;
    let node = server.block_on(office.start(gateway));
    let addr = node.portal_addr.context("the gateway serves the portal")?;
    let client = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let result = client.block_on(bench(addr, outbox, clients));
    drop(node);
    result
}

async fn bench(portal: SocketAddr, outbox: PathBuf, clients: usize) -> anyhow::Result<()> {
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .pool_max_idle_per_host(PAGE_CLIENTS)
        .timeout(Duration::from_secs(30))
        .build()?;
    let mut citizens = Vec::new();
    for n in 0..clients {
        citizens.push(citizen(http.clone(), portal, &outbox, n).await?);
    }
    // 250 start times, from the day after tomorrow on (past the 24-hour lead).
    let first = (Utc::now() + Days::days(2)).date_naive();
    let starts: Arc<Vec<(String, String)>> = Arc::new(
        (0..STARTS)
            .map(|i| {
                let day = first + Days::days((i / 25) as i64);
                let minutes = 8 * 60 + (i % 25) * 15;
                (
                    day.to_string(),
                    format!("{:02}:{:02}", minutes / 60, minutes % 60),
                )
            })
            .collect(),
    );
    let total = STARTS * REQUESTS_PER_START;
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let began = Instant::now();
    let mut tasks = Vec::new();
    for mut c in citizens {
        let (starts, next) = (starts.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            let mut pages = Vec::new();
            let mut posts = Vec::new();
            let mut booked = Vec::new();
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if i >= total {
                    break;
                }
                let (day, time) = &starts[i % STARTS];
                let t = Instant::now();
                let (status, _) = c.get(&format!("/book/service/reisepass?day={day}")).await?;
                ensure!(status == 200, "times page: {status}");
                pages.push(t.elapsed().as_secs_f64() * 1e3);
                let t = Instant::now();
                let fields = [
                    ("service", "reisepass"),
                    ("day", day.as_str()),
                    ("time", time.as_str()),
                ];
                let status = c.post("/book", &fields).await?;
                posts.push(t.elapsed().as_secs_f64() * 1e3);
                match status {
                    303 => booked.push(i % STARTS),
                    409 => {}
                    other => return Err(anyhow!("booking answered {other}")),
                }
            }
            anyhow::Ok((pages, posts, booked))
        }));
    }
    let (mut pages, mut posts, mut per_start) = (Vec::new(), Vec::new(), vec![0u32; STARTS]);
    for t in tasks {
        let (p, q, b) = t.await??;
        pages.extend(p);
        posts.extend(q);
        for s in b {
            per_start[s] += 1;
        }
    }
    let elapsed = began.elapsed();
    let booked: u32 = per_start.iter().sum();
    ensure!(
        per_start.iter().all(|&n| n == PLACES),
        "every start time booked exactly {PLACES} times: {per_start:?}"
    );
    pages.sort_by(f64::total_cmp);
    posts.sort_by(f64::total_cmp);
    println!(
        "\nBooking: {clients} citizens at once, {total} requests for {} places",
        STARTS as u32 * PLACES
    );
    println!("| | count | p50 ms | p99 ms | max ms |");
    println!("|---|---|---|---|---|");
    for (name, v) in [("times page (GET)", &pages), ("booking (POST)", &posts)] {
        println!(
            "| {name} | {} | {:.2} | {:.2} | {:.2} |",
            v.len(),
            quantile(v, 0.5),
            quantile(v, 0.99),
            v.last().copied().unwrap_or(f64::NAN)
        );
    }
    println!(
        "booked {booked} (every start time exactly {PLACES}), refused {} — {:.0} booking requests/s, {:.0} bookings/s (each with its page view), {:.1} s",
        total - booked as usize,
        total as f64 / elapsed.as_secs_f64(),
        f64::from(booked) / elapsed.as_secs_f64(),
        elapsed.as_secs_f64()
    );

    // The free-slot page, 500 clients at once.
    let began = Instant::now();
    let mut tasks = Vec::new();
    for n in 0..PAGE_CLIENTS {
        let mut c = Citizen::new(http.clone(), portal);
        let starts = starts.clone();
        tasks.push(tokio::spawn(async move {
            let mut times = Vec::new();
            for k in 0..PAGES_EACH {
                let (day, _) = &starts[(n * 7 + k * 25) % STARTS];
                let t = Instant::now();
                let (status, _) = c.get(&format!("/book/service/anmeldung?day={day}")).await?;
                ensure!(status == 200, "times page: {status}");
                times.push(t.elapsed().as_secs_f64() * 1e3);
            }
            anyhow::Ok(times)
        }));
    }
    let mut times = Vec::new();
    for t in tasks {
        times.extend(t.await??);
    }
    let elapsed = began.elapsed();
    times.sort_by(f64::total_cmp);
    println!("\nFree-slot page: {PAGE_CLIENTS} clients at once, {PAGES_EACH} pages each");
    println!(
        "| pages | p50 ms | p99 ms | max ms | pages/s |\n|---|---|---|---|---|\n| {} | {:.2} | {:.2} | {:.2} | {:.0} |",
        times.len(),
        quantile(&times, 0.5),
        quantile(&times, 0.99),
        times.last().copied().unwrap_or(f64::NAN),
        times.len() as f64 / elapsed.as_secs_f64()
    );
    Ok(())
}
