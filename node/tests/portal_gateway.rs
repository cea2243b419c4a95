//! The gateway serves the citizen portal: a citizen registers (the verification mail
//! lands in the outbox), logs in and books over real HTTP; the booking reaches the
//! office over the mutual-TLS link, and the kiosk checks the citizen in by its code.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use crate::common;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use aufruf_node::settings::Role;
use aufruf_portal::settings::DepartmentRules;
use chrono::{DateTime, Timelike as _, Utc};
use common::TestOffice;
use serde_json::json;

/// A browser: cookies kept by name, the last form's CSRF token and the answer to its
/// proof of work (what the page's script works out).
pub(crate) struct Citizen {
    http: reqwest::Client,
    portal: SocketAddr,
    cookies: BTreeMap<String, String>,
    csrf: String,
    pow: Option<String>,
}

impl Citizen {
    /// A browser with no cookies yet, on the portal at `portal`.
    pub(crate) fn new(portal: SocketAddr) -> Self {
        Citizen {
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            portal,
            cookies: BTreeMap::new(),
            csrf: String::new(),
            pow: None,
        }
    }

    async fn send(&mut self, request: reqwest::RequestBuilder) -> (u16, String, String) {
        let cookie: Vec<String> = self
            .cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        let r = request
            .header("cookie", cookie.join("; "))
            .send()
            .await
            .unwrap();
        for c in r.headers().get_all("set-cookie") {
            let (pair, _) = c.to_str().unwrap().split_once(';').unwrap();
            let (k, v) = pair.split_once('=').unwrap();
            self.cookies.insert(k.into(), v.into());
        }
        let status = r.status().as_u16();
        let location = r
            .headers()
            .get("location")
            .map(|l| l.to_str().unwrap().to_owned())
            .unwrap_or_default();
        let body = r.text().await.unwrap();
        if let Some(i) = body.find("name=\"csrf\" value=\"") {
            self.csrf = body[i + 19..i + 19 + 64].to_owned();
            self.pow = aufruf_portal::pow::solve_page(&body);
        }
        (status, location, body)
    }

    pub(crate) async fn get(&mut self, path: &str) -> (u16, String, String) {
        let r = self.http.get(format!("http://{}{path}", self.portal));
        self.send(r).await
    }

    pub(crate) async fn post(
        &mut self,
        path: &str,
        fields: &[(&str, &str)],
    ) -> (u16, String, String) {
        let mut form: Vec<(&str, &str)> = vec![("csrf", &self.csrf)];
        if let Some(pow) = &self.pow {
            form.push(("pow", pow));
        }
        form.extend_from_slice(fields);
        let body: Vec<String> = form
            .iter()
            .map(|(k, v)| format!("{}={}", pct(k), pct(v)))
            .collect();
        let r = self
            .http
            .post(format!("http://{}{path}", self.portal))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body.join("&"));
        self.send(r).await
    }
}

fn pct(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => {
                char::from(b).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

pub(crate) fn outbox_text(dir: &std::path::Path) -> String {
    let mut text = String::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "eml") {
            text.push_str(&std::fs::read_to_string(path).unwrap());
        }
    }
    text
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_citizen_books_on_the_gateways_portal_and_checks_in_at_the_kiosk() {
    let office = TestOffice::new();
    let outbox = office.home("outbox");
    let gateway = office.enroll_gateway_with_portal(&outbox, |portal| {
        // Bookings for today, so the kiosk can check the citizen in within this test.
        portal.departments.insert(
            "buergerbuero".into(),
            DepartmentRules {
                lead_hours: Some(0),
                ..Default::default()
            },
        );
    });
    // An office where it is midday, so the appointment lies later today at any hour
    // the test runs (the kiosk checks in today's appointments only).
    let zone = common::midday_zone();
    let gateway = office.start_in(gateway, &zone).await;
    let kiosk = office.enroll("kiosk-1", Role::Kiosk, vec![gateway.sync_addr]);
    let kiosk = office.start_in(kiosk, &zone).await;
    office.ready(kiosk.api_addr).await;
    let portal = gateway.portal_addr.expect("the gateway serves the portal");
    let zone: chrono_tz::Tz = zone.parse().unwrap();

    let mut citizen = Citizen::new(portal);
    let (status, _, body) = citizen.get("/register").await;
    assert_eq!(status, 200);
    assert!(body.contains("Konto anlegen"));
    let (status, _, _) = citizen
        .post(
            "/register",
            &[
                ("email", "erika@example.org"),
                ("password", "sicheres Passwort 1"),
            ],
        )
        .await;
    assert_eq!(status, 200);
    // The verification mail is in the outbox, with a link to this portal.
    let mail = outbox_text(&outbox);
    let prefix = format!("http://{portal}/verify?token=");
    let start = mail
        .find(&prefix)
        .expect("a verification link in the outbox");
    let link = mail[start..]
        .split_whitespace()
        .next()
        .unwrap()
        .trim_start_matches(&format!("http://{portal}"))
        .to_owned();
    assert_eq!(citizen.get(&link).await.0, 200);
    citizen.get("/login").await;
    let (status, location, _) = citizen
        .post(
            "/login",
            &[
                ("email", "erika@example.org"),
                ("password", "sicheres Passwort 1"),
            ],
        )
        .await;
    assert_eq!((status, location.as_str()), (303, "/account"));

    // The next quarter hour at least ten minutes ahead, in the office's time zone.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    let now = DateTime::<Utc>::from_timestamp(i64::try_from(now.as_secs()).unwrap(), 0).unwrap();
    let soon = (now + chrono::Duration::minutes(25)).with_timezone(&zone);
    let slot = soon - chrono::Duration::minutes(i64::from(soon.minute() % 15));
    let day = slot.format("%Y-%m-%d").to_string();
    let time = slot.format("%H:%M").to_string();
    let (status, _, body) = citizen
        .get(&format!("/book/service/reisepass?day={day}"))
        .await;
    assert_eq!(status, 200);
    assert!(
        body.contains(&format!("value=\"{time}\"")),
        "{time} offered: {body}"
    );
    let (status, location, body) = citizen
        .post(
            "/book",
            &[("service", "reisepass"), ("day", &day), ("time", &time)],
        )
        .await;
    assert_eq!(status, 303, "{body}");
    let code = location
        .trim_start_matches("/bookings/")
        .trim_end_matches("?new=1")
        .to_owned();
    assert!(outbox_text(&outbox).contains(&format!("Buchungscode: {code}")));

    // The booking reaches the kiosk over the office's link; the citizen checks in.
    let last = std::sync::Arc::new(std::sync::Mutex::new(json!(null)));
    office
        .eventually(
            Duration::from_secs(20),
            "the kiosk checks the citizen in",
            || {
                let office = &office;
                let code = code.clone();
                let last = last.clone();
                async move {
                    let (status, body) = office
                        .post(
                            kiosk.api_addr,
                            "/api/check-in",
                            json!({"code": code, "kind": "qr"}),
                        )
                        .await;
                    *last.lock().unwrap() = body;
                    status == 201
                }
            },
        )
        .await;
    let last = last.lock().unwrap().clone();
    assert_eq!(last["ticket"]["appointment"], json!(time), "{last}");
    kiosk.shutdown().await;
    gateway.shutdown().await;
}

#[tokio::test]
async fn cookies_without_secure_are_refused_beyond_loopback() {
    let office = TestOffice::new();
    let mut gateway = office.enroll("gateway-1", Role::Gateway, vec![]);
    let mut portal = aufruf_portal::PortalSettings::in_dir(&office.home("portal"), "");
    portal.listen = SocketAddr::from(([0, 0, 0, 0], 0));
    portal.secure_cookies = false;
    gateway.portal = Some(portal);
    let config = aufruf_node::config_file::load_or_example(None).unwrap();
    let refused = aufruf_node::runtime::start(Some(config), gateway).await;
    let error = refused.expect_err("refused").to_string();
    assert!(error.contains("secure_cookies = false"), "{error}");
}

#[tokio::test]
async fn a_reminder_hour_beyond_the_day_is_refused() {
    let office = TestOffice::new();
    let mut gateway = office.enroll("gateway-1", Role::Gateway, vec![]);
    let mut portal = aufruf_portal::PortalSettings::in_dir(&office.home("portal"), "");
    portal.listen = SocketAddr::from(([127, 0, 0, 1], 0));
    portal.reminder_hour = 24;
    gateway.portal = Some(portal);
    let config = aufruf_node::config_file::load_or_example(None).unwrap();
    let refused = aufruf_node::runtime::start(Some(config), gateway).await;
    let error = refused.expect_err("refused").to_string();
    assert!(error.contains("reminder_hour = 24"), "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_portal_serves_https_from_the_configured_certificate_and_key() {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    let office = TestOffice::new();
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let certificate = office.home("portal.crt");
    let key = office.home("portal.key");
    std::fs::write(&certificate, certified.cert.pem()).unwrap();
    std::fs::write(&key, certified.signing_key.serialize_pem()).unwrap();
    let mut gateway = office.enroll("gateway-1", Role::Gateway, vec![]);
    let mut portal = aufruf_portal::PortalSettings::in_dir(&office.home("portal"), "");
    portal.listen = SocketAddr::from(([127, 0, 0, 1], 0));
    portal.tls_certificate = Some(certificate);
    portal.tls_key = Some(key);
    gateway.portal = Some(portal);
    let gateway = office.start(gateway).await;
    let addr = gateway.portal_addr.unwrap();

    // A client that trusts exactly this certificate.
    let mut roots = rustls::RootCertStore::empty();
    roots.add(certified.cert.der().clone()).unwrap();
    let client = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(std::sync::Arc::new(client));
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let mut tls = connector.connect(name, tcp).await.unwrap();
    tls.write_all(b"GET /login HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut response = Vec::new();
    tls.read_to_end(&mut response).await.unwrap();
    let response = String::from_utf8_lossy(&response);
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.contains("content-security-policy"), "{response}");
    assert!(
        response.contains("__Host-csrf="),
        "Secure cookies over HTTPS: {response}"
    );
    // Plain HTTP on the same port gets no page.
    let mut plain = tokio::net::TcpStream::connect(addr).await.unwrap();
    plain
        .write_all(b"GET /login HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut answer = Vec::new();
    let _ = plain.read_to_end(&mut answer).await;
    assert!(!String::from_utf8_lossy(&answer).contains("200 OK"));
    gateway.shutdown().await;
}

/// The next server-sent event of a feed (its `data:` line), within `within`.
async fn next_event(feed: &mut reqwest::Response, buffer: &mut String, within: Duration) -> String {
    tokio::time::timeout(within, async {
        loop {
            if let Some(end) = buffer.find("\n\n") {
                let event: String = buffer.drain(..end + 2).collect();
                if let Some(data) = event.lines().find_map(|l| l.strip_prefix("data:")) {
                    return data.trim().to_owned();
                }
                continue; // a keep-alive comment
            }
            let chunk = feed.chunk().await.unwrap().expect("the feed stays open");
            buffer.push_str(&String::from_utf8_lossy(&chunk));
        }
    })
    .await
    .expect("an event in time")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kiosk_tickets_qr_page_on_the_gateway_shows_the_desks_call_live() {
    let office = TestOffice::new();
    let gateway = office.enroll_gateway_with_portal(&office.home("outbox"), |_| {});
    let gateway = office.start(gateway).await;
    let portal = gateway.portal_addr.expect("the gateway serves the portal");
    let (kiosk, desk) = office.kiosk_and_open_desk(gateway.sync_addr).await;
    let (token, number) = office.draw_qr_ticket(kiosk.api_addr, "anmeldung").await;
    // The ticket reaches the gateway over the office's link: its page opens there.
    let page = format!("http://{portal}/t/{token}");
    office
        .eventually(
            Duration::from_secs(30),
            "the gateway shows the ticket",
            || async {
                let r = office.http.get(&page).send().await.unwrap();
                r.status() == 200 && r.text().await.unwrap().contains(&number)
            },
        )
        .await;
    // The page's live feed: the ticket at once, then the call the moment it happens.
    let mut feed = office
        .http
        .get(format!("{page}/feed"))
        .send()
        .await
        .unwrap();
    assert_eq!(feed.status(), 200);
    assert_eq!(feed.headers()["content-type"], "text/event-stream");
    let mut buffer = String::new();
    let first = next_event(&mut feed, &mut buffer, Duration::from_secs(10)).await;
    let first: serde_json::Value = serde_json::from_str(&first).unwrap();
    assert_eq!(first["number"], json!(number));
    assert_eq!(first["called"], json!(false));
    // The gateway passes the ticket on to the desk: the page may show it a moment
    // before the desk has it.
    office
        .eventually(
            Duration::from_secs(30),
            "the desk sees the visitor waiting",
            || async {
                office.get(desk.api_addr, "/api/desks/desk-1").await.1["waiting_for_desk"]
                    == json!(1)
            },
        )
        .await;
    let (status, view) = office
        .post(desk.api_addr, "/api/desks/desk-1/call-next", json!({}))
        .await;
    assert_eq!(status, 200, "{view}");
    // Well before the feed's own 20-second look: the call pushes it.
    let called = next_event(&mut feed, &mut buffer, Duration::from_secs(10)).await;
    let called: serde_json::Value = serde_json::from_str(&called).unwrap();
    assert_eq!(called["called"], json!(true), "{called}");
    assert_eq!(called["headline"], json!("Bitte zu Platz 1"));
}

/// The gateway's local API token in the backup test.
const API_TOKEN: &str = "a-local-api-token-of-at-least-32-characters";

/// Runs the `aufruf` binary to its end, with the local API's token; its output.
fn aufruf(args: &[&std::ffi::OsStr]) -> String {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_aufruf"))
        .args(args)
        .env("AUFRUF_API_TOKEN", API_TOKEN)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{args:?}: {text}");
    text
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_taken_while_the_portal_runs_restores_accounts_and_bookings_on_a_new_gateway() {
    const KEY: &str = "5f1e0c2b9a8d7e6f5f1e0c2b9a8d7e6f5f1e0c2b9a8d7e6f5f1e0c2b9a8d7e6f";
    let office = TestOffice::new();
    let outbox = office.home("outbox");
    let mut gateway = office.enroll_gateway_with_portal(&outbox, |portal| {
        portal.backup_key = Some(aufruf_portal::settings::Redacted(KEY.into()));
    });
    // The local API wants its token: `aufruf backup` takes it from the environment.
    gateway.api_token = Some(API_TOKEN.into());
    let gateway = office.start(gateway).await;
    let portal = gateway.portal_addr.unwrap();
    let mut erika = Citizen::new(portal);
    let email = ("email", "erika@example.org");
    let password = ("password", "sicheres Passwort 1");
    erika.get("/register").await;
    assert_eq!(erika.post("/register", &[email, password]).await.0, 200);
    let mail = outbox_text(&outbox);
    let start = mail.find("/verify?token=").unwrap();
    let link = mail[start..].split_whitespace().next().unwrap().to_owned();
    assert_eq!(erika.get(&link).await.0, 200);
    erika.get("/login").await;
    assert_eq!(erika.post("/login", &[email, password]).await.0, 303);
    let day = (Utc::now() + chrono::Duration::days(3))
        .format("%Y-%m-%d")
        .to_string();
    erika
        .get(&format!("/book/service/reisepass?day={day}"))
        .await;
    let fields = [
        ("service", "reisepass"),
        ("day", day.as_str()),
        ("time", "10:00"),
    ];
    let (status, location, body) = erika.post("/book", &fields).await;
    assert_eq!(status, 303, "{body}");
    let code = location
        .trim_start_matches("/bookings/")
        .trim_end_matches("?new=1")
        .to_owned();

    // The backup, taken while the portal runs.
    let file = office.home("portal.backup");
    let api = gateway.api_addr.to_string();
    let backup_args = [
        "backup".as_ref(),
        "--api".as_ref(),
        api.as_ref(),
        "--out".as_ref(),
        file.as_os_str(),
    ];
    // Without the token: refused by the node's API.
    let refused = std::process::Command::new(env!("CARGO_BIN_EXE_aufruf"))
        .args(backup_args)
        .env_remove("AUFRUF_API_TOKEN")
        .output()
        .unwrap();
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("401"));
    let said = aufruf(&backup_args);
    assert!(said.contains("backup of the portal written"), "{said}");
    let bytes = std::fs::read(&file).unwrap();
    assert!(bytes.starts_with(aufruf_portal::backup::MAGIC));
    assert!(
        !String::from_utf8_lossy(&bytes).contains("erika@example.org"),
        "encrypted"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&file).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "readable by its owner only");
    }
    drop(gateway);

    // A new machine: the gateway's file names a store that is not there yet.
    let mut fresh = office.enroll("gateway-2", Role::Gateway, vec![]);
    let store = office.home("gateway-2").join("portal-store");
    let table = format!(
        "\n[node.portal]\nlisten = \"127.0.0.1:0\"\nstore = \"{}\"\noutbox = \"{}\"\n\
         secure_cookies = false\nbackup_key = \"{KEY}\"\n",
        store.display(),
        office.home("outbox-2").display()
    );
    let config = office.write_config(&fresh, true, &table);
    // The wrong file: refused, with its reason.
    let wrong = std::process::Command::new(env!("CARGO_BIN_EXE_aufruf"))
        .args([
            "restore".as_ref(),
            config.as_os_str(),
            "--config".as_ref(),
            config.as_os_str(),
        ])
        .output()
        .unwrap();
    assert!(!wrong.status.success());
    assert!(String::from_utf8_lossy(&wrong.stderr).contains("not an Aufruf portal backup"));
    let said = aufruf(&[
        "restore".as_ref(),
        file.as_os_str(),
        "--config".as_ref(),
        config.as_os_str(),
    ]);
    assert!(said.contains("restored into"), "{said}");
    // Not twice over a store that is there.
    let again = std::process::Command::new(env!("CARGO_BIN_EXE_aufruf"))
        .args([
            "restore".as_ref(),
            file.as_os_str(),
            "--config".as_ref(),
            config.as_os_str(),
        ])
        .output()
        .unwrap();
    assert!(!again.status.success());

    // The new gateway: Erika logs in with her old password and finds her booking.
    let mut portal_settings = aufruf_portal::PortalSettings::in_dir(&office.home("unused"), "");
    portal_settings.listen = SocketAddr::from(([127, 0, 0, 1], 0));
    portal_settings.store = store;
    portal_settings.outbox = office.home("outbox-2");
    portal_settings.secure_cookies = false;
    fresh.portal = Some(portal_settings);
    fresh.only_device = true;
    let fresh = office.start(fresh).await;
    let mut erika = Citizen::new(fresh.portal_addr.unwrap());
    erika.get("/login").await;
    assert_eq!(erika.post("/login", &[email, password]).await.0, 303);
    let (status, _, account) = erika.get("/account").await;
    assert_eq!(status, 200);
    assert!(account.contains(&code), "{account}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn city_it_delegates_to_the_gateway_and_invites_lists_and_removes_admins_with_aufruf() {
    let office = TestOffice::new();
    let outbox = office.home("outbox");
    let delegation = office.home("gateway-1.delegation");
    let office_dir = office.home("office");
    let delegate_args = [
        "office".as_ref(),
        "delegate".as_ref(),
        "--dir".as_ref(),
        office_dir.as_os_str(),
        "--node".as_ref(),
        "gateway-1".as_ref(),
        "--out".as_ref(),
        delegation.as_os_str(),
    ];
    assert!(aufruf(&delegate_args).contains("may now publish the office's configuration"));
    // A delegation already there is not overwritten.
    let again = std::process::Command::new(env!("CARGO_BIN_EXE_aufruf"))
        .args(delegate_args)
        .output()
        .unwrap();
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("gateway-1.delegation"));

    let d = delegation.clone();
    let mut gateway = office.enroll_gateway_with_portal(&outbox, move |portal| {
        portal.admin_delegation = Some(d);
    });
    gateway.api_token = Some(API_TOKEN.into());
    let gateway = office.start(gateway).await;
    let portal = gateway.portal_addr.unwrap();
    let api = gateway.api_addr.to_string();
    let admin = |verb: &str, email: Option<&str>| {
        let mut args: Vec<&std::ffi::OsStr> = vec!["admin".as_ref(), verb.as_ref()];
        if let Some(email) = email {
            args.push(email.as_ref());
        }
        args.extend(["--api".as_ref(), api.as_ref() as &std::ffi::OsStr]);
        aufruf(&args)
    };

    let said = admin("invite", Some("Anna@Zeitz.de"));
    let link = said.lines().last().unwrap().trim().to_owned();
    let prefix = format!("http://{portal}/admin/setup/");
    assert!(link.starts_with(&prefix), "{said}");
    assert_eq!(admin("list", None).trim(), "", "invited, not yet an admin");

    // Anna sets up her access on the link's page.
    let mut anna = Citizen::new(portal);
    let path = link
        .trim_start_matches(&format!("http://{portal}"))
        .to_owned();
    let (status, _, body) = anna.get(&path).await;
    assert_eq!(status, 200);
    let secret = body
        .split("<code>")
        .nth(1)
        .and_then(|s| s.split("</code>").next())
        .unwrap()
        .to_owned();
    let step = aufruf_portal::totp::step_at(Utc::now().timestamp().unsigned_abs());
    let code = aufruf_portal::totp::code(&secret, step).unwrap();
    let (status, _, body) = anna
        .post(
            &path,
            &[("password", "Verwaltung sicher 1"), ("code", &code)],
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(admin("list", None).trim(), "anna@zeitz.de");
    anna.get("/admin/login").await;
    let code = aufruf_portal::totp::code(&secret, step + 1).unwrap();
    let (status, location, _) = anna
        .post(
            "/admin/login",
            &[
                ("email", "anna@zeitz.de"),
                ("password", "Verwaltung sicher 1"),
                ("code", &code),
            ],
        )
        .await;
    assert_eq!((status, location.as_str()), (303, "/admin"));
    assert_eq!(anna.get("/admin").await.0, 200);

    // Removed by IT: her session ends at once.
    assert!(admin("remove", Some("anna@zeitz.de")).contains("removed"));
    assert_eq!(admin("list", None).trim(), "");
    let (status, location, _) = anna.get("/admin").await;
    assert_eq!((status, location.as_str()), (303, "/admin/login"));
    assert!(admin("remove", Some("anna@zeitz.de")).contains("no such admin"));

    // Not an address: refused with the reason.
    let refused = std::process::Command::new(env!("CARGO_BIN_EXE_aufruf"))
        .args(["admin", "invite", "nobody", "--api", &api])
        .env("AUFRUF_API_TOKEN", API_TOKEN)
        .output()
        .unwrap();
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("not an e-mail address"));
    gateway.shutdown().await;
}
