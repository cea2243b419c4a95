//! The demo as a newcomer tries it, end to end: the real `aufruf demo` process, a
//! ticket printed at its kiosk, the QR code read from the printed picture and opened
//! in a phone-sized headless Chromium that shows the desk's call live, a citizen who
//! registers and draws a ticket by phone near the office, and an admin who sets up
//! the second factor, renames a service — and the kiosk shows the new name.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::Value;

use crate::common::{Killed, ONE_BROWSER, eventually, run_browser_script};

const MINUTE: Duration = Duration::from_secs(60);

/// What the demo prints about itself before it runs.
struct Printed {
    kiosk: SocketAddr,
    desk: SocketAddr,
    portal: String,
    admin_setup: String,
    outbox: PathBuf,
    tickets: PathBuf,
}

/// The value after `label` on the line that starts with it.
fn after<'l>(lines: &'l [String], label: &str) -> &'l str {
    lines
        .iter()
        .find_map(|l| l.trim_start().strip_prefix(label))
        .unwrap_or_else(|| panic!("the demo prints no {label:?}:\n{}", lines.join("\n")))
        .trim()
}

fn api_of(lines: &[String], node: &str) -> SocketAddr {
    let line = after(lines, node);
    let api = line
        .split_whitespace()
        .skip_while(|w| *w != "API")
        .nth(1)
        .unwrap_or_else(|| panic!("no API on {line:?}"));
    api.strip_prefix("http://").unwrap().parse().unwrap()
}

impl Printed {
    fn read(lines: &[String]) -> Self {
        Printed {
            kiosk: api_of(lines, "kiosk-1 "),
            desk: api_of(lines, "desk-1 "),
            portal: format!("http{}", after(lines, "portal http")),
            admin_setup: after(lines, "admin pages:").to_owned(),
            outbox: PathBuf::from(after(lines, "portal mail (outbox):")),
            tickets: PathBuf::from(after(lines, "printed tickets:")),
        }
    }
}

/// The text of the one QR code on a printed ticket's picture.
fn qr_on(picture: &Path) -> String {
    let decoder = png::Decoder::new(BufReader::new(std::fs::File::open(picture).unwrap()));
    let mut reader = decoder.read_info().unwrap();
    let mut pixels = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut pixels).unwrap();
    assert_eq!(info.color_type, png::ColorType::Grayscale);
    let w = info.width as usize;
    let mut image = rqrr::PreparedImage::prepare_from_greyscale(w, info.height as usize, |x, y| {
        pixels[y * w + x]
    });
    let grids = image.detect_grids();
    assert_eq!(grids.len(), 1, "one QR code on {}", picture.display());
    grids[0].decode().unwrap().1
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_newcomer_walks_through_the_demo_with_a_phone_browser() {
    let _one_browser = ONE_BROWSER.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_aufruf"))
        .args([
            "demo",
            "--no-simulator",
            "--headless",
            "--for",
            "600s",
            "--dir",
        ])
        .arg(dir.path().join("demo-out"))
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(dir.path().join("demo.log")).unwrap())
        .spawn()
        .expect("the demo starts");
    let stdout = child.stdout.take().unwrap();
    let _demo = Killed(child);
    // The header, up to its last line; then the rest is read and dropped, so the
    // demo never waits on a full pipe.
    let (header, lines) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut seen = Vec::new();
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let last = line.trim_start().starts_with("try: curl");
            seen.push(line);
            if last {
                let _ = header.send(std::mem::take(&mut seen));
            }
        }
        let _ = header.send(seen);
    });
    let lines = tokio::task::spawn_blocking(move || lines.recv_timeout(Duration::from_secs(120)))
        .await
        .unwrap()
        .unwrap_or_else(|_| {
            let log = std::fs::read_to_string(dir.path().join("demo.log")).unwrap_or_default();
            panic!("the demo printed no list of its nodes within two minutes:\n{log}")
        });
    let demo = Printed::read(&lines);
    let http = reqwest::Client::new();
    for api in [demo.kiosk, demo.desk] {
        eventually(MINUTE, &format!("{api} has caught up"), || async {
            let Ok(r) = http.get(format!("http://{api}/health")).send().await else {
                return false;
            };
            r.json::<Value>().await.is_ok_and(|v| v["status"] == "ok")
        })
        .await;
    }
    let post = |api: SocketAddr, path: &str, body: Value| {
        let request = http.post(format!("http://{api}{path}")).json(&body);
        async move {
            let r = request.send().await.unwrap();
            (
                r.status().as_u16(),
                r.json::<Value>().await.unwrap_or_default(),
            )
        }
    };
    let (status, opened) = post(demo.desk, "/api/desks/desk-1/open", serde_json::json!({})).await;
    assert_eq!(status, 200, "{opened}");

    // A visitor draws a paper ticket; the kiosk's printer leaves its picture.
    let (status, issued) = post(
        demo.kiosk,
        "/api/tickets",
        serde_json::json!({"service": "anmeldung", "kind": "paper"}),
    )
    .await;
    assert_eq!(status, 201, "{issued}");
    let number = issued["ticket"]["number"].as_str().unwrap().to_owned();
    let tickets = demo.tickets.clone();
    let picture = {
        let mut found = None;
        eventually(MINUTE, "the ticket's picture is printed", || {
            found = std::fs::read_dir(&tickets).ok().and_then(|files| {
                files
                    .filter_map(Result::ok)
                    .map(|f| f.path())
                    .find(|p| p.extension().is_some_and(|x| x == "png"))
            });
            std::future::ready(found.is_some())
        })
        .await;
        found.unwrap()
    };
    // Scanned: the QR code leads to the ticket's page on the demo's portal.
    let scanned = qr_on(&picture);
    let ticket = scanned
        .strip_prefix(&demo.portal)
        .unwrap_or_else(|| panic!("{scanned} is not on the portal {}", demo.portal))
        .to_owned();
    assert!(ticket.starts_with("/t/"), "{scanned}");

    const RENAMED: &str = "An- und Ummeldung der Wohnung";
    let stdout = run_browser_script(
        dir.path().join("chromium"),
        vec![
            ("PORTAL_WALKTHROUGH", "1".into()),
            ("PORTAL_URL", demo.portal.clone()),
            ("PORTAL_OUTBOX", demo.outbox.display().to_string()),
            ("PORTAL_TICKET", ticket),
            (
                "PORTAL_DESK_API",
                format!("http://{}/api/desks/desk-1", demo.desk),
            ),
            ("PORTAL_ADMIN_SETUP", demo.admin_setup.clone()),
            ("PORTAL_ADMIN_EMAIL", "admin@demo.example".into()),
            ("PORTAL_ADMIN_RENAME", RENAMED.into()),
        ],
    )
    .await;
    assert!(stdout.contains("ticket by phone: "), "{stdout}");
    assert!(
        stdout.contains("QR ticket page: \"Bitte zu Platz 1\""),
        "the printed ticket {number} was called live: {stdout}"
    );
    // The admin's new name reaches the kiosk over the office's link.
    eventually(MINUTE, "the kiosk shows the renamed service", || async {
        let Ok(r) = http
            .get(format!("http://{}/api/kiosk", demo.kiosk))
            .send()
            .await
        else {
            return false;
        };
        r.text().await.is_ok_and(|view| view.contains(RENAMED))
    })
    .await;
}
