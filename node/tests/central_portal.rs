//! The central deployment: the city's portal (role `portal`) in its data centre, and
//! an office whose gateway keeps the one link to it, outbound. Three `aufruf run`
//! processes: the portal in this test's network namespace, the office's gateway and
//! kiosk in a namespace of their own (`aufruf-cp-<pid>`), joined by a veth pair, the
//! office's uplink (10.214.0.1 here, 10.214.0.2 in the office; addresses inside these
//! namespaces only). The office dials the portal; the portal dials nobody. A second
//! pair (10.214.1.0/24) lets this test reach the kiosk's API, as a clerk in the
//! office would, while the uplink is down.
//!
//! The uplink is cut (its veth pair down): the portal still books, the office still
//! draws tickets, and the kiosk does not know the booking. Healed, the booking
//! reaches the kiosk, which checks the citizen in, and the office's ticket reaches
//! the portal's ticket page.
//!
//! Needs root (CI runs as root) and iproute2's `ip`: without either it fails with a
//! message saying so; it does not skip. Namespace and processes are cleaned up by
//! guards, also when the test fails.

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use aufruf_node::settings::{NodeSettings, Role};
use chrono::{DateTime, Timelike as _, Utc};
use serde_json::{Value, json};

use crate::common::{self, TestOffice, eventually, free_port};
use crate::portal_gateway::{Citizen, outbox_text};

const ROOT_END: &str = "10.214.0.1";
/// The kiosk's API, on the second pair.
const KIOSK_END: &str = "10.214.1.2";
const KIOSK_TOKEN: &str = "kiosk-api-token-for-the-central-portal-test";

fn ip(args: &[&str]) {
    let output = Command::new("ip").args(args).output().unwrap_or_else(|e| {
        panic!(
            "`ip {}`: {e} — this test needs iproute2 (scripts/setup.sh installs it)",
            args.join(" ")
        )
    });
    assert!(
        output.status.success(),
        "`ip {}` failed ({}): {} — this test needs root (CI runs as root)",
        args.join(" "),
        output.status,
        String::from_utf8_lossy(&output.stderr).trim()
    );
}

/// The office's namespace and the veth pairs; deleted when dropped.
struct OfficeNetwork {
    namespace: String,
    /// This end of the office's uplink.
    root_end: String,
    /// This end of the test's way to the kiosk.
    test_end: String,
}

impl OfficeNetwork {
    fn new() -> Self {
        let pid = std::process::id();
        let network = OfficeNetwork {
            namespace: format!("aufruf-cp-{pid}"),
            root_end: format!("vcp{}", pid % 1_000_000),
            test_end: format!("vtp{}", pid % 1_000_000),
        };
        let ns = network.namespace.as_str();
        ip(&["netns", "add", ns]);
        let inside = |args: &[&str]| {
            let mut all = vec!["netns", "exec", ns, "ip"];
            all.extend_from_slice(args);
            ip(&all);
        };
        inside(&["link", "set", "lo", "up"]);
        for (here, there, subnet) in [
            (
                &network.root_end,
                format!("vco{}", pid % 1_000_000),
                "10.214.0",
            ),
            (
                &network.test_end,
                format!("vto{}", pid % 1_000_000),
                "10.214.1",
            ),
        ] {
            ip(&["link", "add", here, "type", "veth", "peer", "name", &there]);
            ip(&["link", "set", &there, "netns", ns]);
            ip(&["addr", "add", &format!("{subnet}.1/24"), "dev", here]);
            ip(&["link", "set", here, "up"]);
            inside(&["addr", "add", &format!("{subnet}.2/24"), "dev", &there]);
            inside(&["link", "set", &there, "up"]);
        }
        network
    }

    /// The office's uplink goes down, or up again.
    fn uplink(&self, up: bool) {
        ip(&[
            "link",
            "set",
            &self.root_end,
            if up { "up" } else { "down" },
        ]);
    }
}

impl Drop for OfficeNetwork {
    fn drop(&mut self) {
        // Deleting the namespace deletes the veth pairs with it.
        let _ = Command::new("ip")
            .args(["netns", "del", &self.namespace])
            .status();
        for end in [&self.root_end, &self.test_end] {
            let _ = Command::new("ip")
                .args(["link", "del", end])
                .stderr(Stdio::null())
                .status();
        }
    }
}

/// `aufruf run` processes, killed and reaped when dropped.
struct Processes(Vec<Child>);

impl Drop for Processes {
    fn drop(&mut self) {
        for child in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Writes the node's file — the example office in `zone`, its `[node]` table, and
/// `more` — and starts `aufruf run` on it, in `namespace` when given.
fn run(
    office: &TestOffice,
    settings: &NodeSettings,
    zone: &str,
    more: &str,
    namespace: Option<&str>,
) -> Child {
    let file = office.write_config(settings, true, more);
    let text = std::fs::read_to_string(&file).unwrap();
    let berlin = "timezone = \"Europe/Berlin\"";
    assert!(text.contains(berlin), "{text}");
    std::fs::write(
        &file,
        text.replace(berlin, &format!("timezone = \"{zone}\"")),
    )
    .unwrap();
    common::run_file(settings, &file, namespace)
}

/// A node's `/health`; null while it does not answer.
async fn health(http: &reqwest::Client, api: SocketAddr) -> Value {
    let Ok(r) = http.get(format!("http://{api}/health")).send().await else {
        return Value::Null;
    };
    r.json::<Value>().await.unwrap_or(Value::Null)
}

async fn healthy(http: &reqwest::Client, api: SocketAddr) -> bool {
    health(http, api).await["status"] == "ok"
}

/// Whether the node's live sessions are with exactly `peers`.
async fn linked_to(http: &reqwest::Client, api: SocketAddr, peers: &[&str]) -> bool {
    health(http, api).await["peers"] == json!(peers)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_office_links_out_to_the_central_portal_and_both_keep_working_while_it_is_cut() {
    let network = OfficeNetwork::new();
    let office = TestOffice::new();
    let zone = common::midday_zone();
    let port = |addr: SocketAddr| addr.port();

    // The portal: in the data centre (this namespace), its sync port on the link.
    let portal_sync = SocketAddr::new(ROOT_END.parse().unwrap(), port(free_port()));
    let mut portal = office.enroll("portal", Role::Portal, vec![]);
    portal.listen = portal_sync;
    portal.api = free_port();
    let portal_web = free_port();
    let outbox = office.home("outbox");
    let portal_table = format!(
        "\n[node.portal]\nlisten = \"{portal_web}\"\nstore = \"{}\"\noutbox = \"{}\"\n\
         secure_cookies = false\n\n[node.portal.departments.buergerbuero]\nlead_hours = 0\n",
        office.home("portal-store").display(),
        outbox.display()
    );

    // The office: a gateway that dials the portal, and a kiosk that dials the
    // gateway, both on the office namespace's own loopback; the kiosk's API on the
    // test's pair.
    let in_office = |addr: SocketAddr| SocketAddr::from(([127, 0, 0, 1], addr.port()));
    let gateway_sync = in_office(free_port());
    let mut gateway = office.enroll("gateway-1", Role::Gateway, vec![portal_sync]);
    gateway.listen = gateway_sync;
    gateway.api = in_office(free_port());
    let mut kiosk = office.enroll("kiosk-1", Role::Kiosk, vec![gateway_sync]);
    kiosk.listen = in_office(free_port());
    let kiosk_api = SocketAddr::new(KIOSK_END.parse().unwrap(), port(free_port()));
    kiosk.api = kiosk_api;
    // The office's first device: it issues without catching up from another.
    kiosk.only_device = true;
    let kiosk_more = format!("api_token = \"{KIOSK_TOKEN}\"\n");

    let ns = network.namespace.as_str();
    let _processes = Processes(vec![
        run(&office, &portal, &zone, &portal_table, None),
        run(&office, &kiosk, &zone, &kiosk_more, Some(ns)),
        run(&office, &gateway, &zone, "", Some(ns)),
    ]);
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    eventually(Duration::from_secs(60), "the kiosk is ready", || {
        healthy(&http, kiosk_api)
    })
    .await;
    // The portal's new store caught up from the office, through the gateway's link.
    eventually(
        Duration::from_secs(60),
        "the portal has caught up with the office",
        || healthy(&http, portal.api),
    )
    .await;
    // The portal's one link is the office's gateway: it dials nobody, and no device
    // but the gateway knows it.
    eventually(
        Duration::from_secs(30),
        "the portal's only peer is the gateway",
        || linked_to(&http, portal.api, &["gateway-1"]),
    )
    .await;
    let portal_health = health(&http, portal.api).await;
    assert_eq!(portal_health["role"], "portal", "{portal_health}");
    eventually(
        Duration::from_secs(30),
        "the kiosk's only peer is the gateway",
        || linked_to(&http, kiosk_api, &["gateway-1"]),
    )
    .await;

    // A citizen registers and logs in on the portal.
    let mut citizen = Citizen::new(portal_web);
    citizen.get("/register").await;
    let email = ("email", "erika@example.org");
    let password = ("password", "sicheres Passwort 1");
    assert_eq!(citizen.post("/register", &[email, password]).await.0, 200);
    let mail = outbox_text(&outbox);
    let start = mail.find("/verify?token=").expect("a verification mail");
    let link = mail[start..].split_whitespace().next().unwrap().to_owned();
    assert_eq!(citizen.get(&link).await.0, 200);
    citizen.get("/login").await;
    assert_eq!(citizen.post("/login", &[email, password]).await.0, 303);

    // The uplink is cut. The portal books (a quarter hour at least 25 minutes ahead,
    // today in the office's time).
    network.uplink(false);
    // Heard nothing for its silence bound (5 s), the portal ends the session.
    eventually(
        Duration::from_secs(30),
        "the portal notices the cut",
        || linked_to(&http, portal.api, &[]),
    )
    .await;
    let zone: chrono_tz::Tz = zone.parse().unwrap();
    let soon = (Utc::now() + chrono::Duration::minutes(25)).with_timezone(&zone);
    let slot = soon - chrono::Duration::minutes(i64::from(soon.minute() % 15));
    let slot: DateTime<chrono_tz::Tz> = slot;
    let day = slot.format("%Y-%m-%d").to_string();
    let time = slot.format("%H:%M").to_string();
    citizen
        .get(&format!("/book/service/reisepass?day={day}"))
        .await;
    let fields = [("service", "reisepass"), ("day", &day), ("time", &time)];
    let (status, location, body) = citizen.post("/book", &fields).await;
    assert_eq!(
        status, 303,
        "the portal books while the office is away: {body}"
    );
    let code = location
        .trim_start_matches("/bookings/")
        .trim_end_matches("?new=1")
        .to_owned();
    // The office does not know it, and still draws tickets.
    let check_in = json!({"code": code, "kind": "qr"});
    let (status, answer) = office
        .post_with_token(
            kiosk_api,
            Some(KIOSK_TOKEN),
            "/api/check-in",
            check_in.clone(),
        )
        .await;
    assert_eq!(
        status, 404,
        "the booking cannot be in the office yet: {answer}"
    );
    let (status, issued) = office
        .post_with_token(
            kiosk_api,
            Some(KIOSK_TOKEN),
            "/api/tickets",
            json!({"service": "meldebescheinigung", "kind": "qr"}),
        )
        .await;
    assert_eq!(status, 201, "the office works on: {issued}");
    let token = issued["status_token"].as_str().unwrap().to_owned();
    let number = issued["ticket"]["number"].as_str().unwrap().to_owned();

    // Healed: the booking reaches the kiosk, and the office's ticket the portal.
    network.uplink(true);
    eventually(
        Duration::from_secs(60),
        "the gateway dials the portal again",
        || linked_to(&http, portal.api, &["gateway-1"]),
    )
    .await;
    let answer = std::sync::Arc::new(std::sync::Mutex::new(Value::Null));
    eventually(
        Duration::from_secs(60),
        "the kiosk checks the citizen in",
        || {
            let (office, check_in, answer) = (&office, check_in.clone(), answer.clone());
            async move {
                let (status, body) = office
                    .post_with_token(kiosk_api, Some(KIOSK_TOKEN), "/api/check-in", check_in)
                    .await;
                *answer.lock().unwrap() = body;
                status == 201
            }
        },
    )
    .await;
    let answer = answer.lock().unwrap().clone();
    assert_eq!(answer["ticket"]["appointment"], json!(time), "{answer}");
    let page = format!("http://{portal_web}/t/{token}");
    eventually(
        Duration::from_secs(60),
        "the portal shows the office's ticket",
        || {
            let (http, page, number) = (&http, page.clone(), number.clone());
            async move {
                match http.get(&page).send().await {
                    Ok(r) if r.status() == 200 => {
                        r.text().await.is_ok_and(|body| body.contains(&number))
                    }
                    _ => false,
                }
            }
        },
    )
    .await;
}
