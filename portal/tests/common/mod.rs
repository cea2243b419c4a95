//! A portal on a real office (the example office's gateway over in-memory documents,
//! with stand-in keys), a clock the test sets, a mailer that keeps what it sends, and
//! a browser that keeps cookies and reads the forms' CSRF tokens.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use aufruf_model::{Appointment, NodeId, OfficeConfig, Role, Timestamp};
use aufruf_office::memory::MemoryReplica;
use aufruf_office::office_doc::{ConfigDelegation, DELEGATED_PURPOSE, SignedDelegation};
use aufruf_office::testing::test_keys;
use aufruf_office::{GatewayService, OfficeService, Setup, Unobserved};
use aufruf_portal::mail::{Mail, MailError, Mailer};
use aufruf_portal::settings::{DepartmentRules, PasswordCost};
use aufruf_portal::{OfficeDoor, Portal, PortalSettings};
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Request, StatusCode, header};
use chrono::{NaiveDate, NaiveTime};
use tower::ServiceExt as _;

/// Mails kept in memory.
#[derive(Debug, Default)]
pub struct Postbox(pub Mutex<Vec<Mail>>);

impl Mailer for Postbox {
    fn send(&self, mail: &Mail) -> Result<(), MailError> {
        self.0.lock().unwrap().push(mail.clone());
        Ok(())
    }
}

/// The gateway's door, counting what went through it.
#[derive(Debug)]
pub struct Door {
    pub gateway: GatewayService<MemoryReplica>,
    pub booked: Mutex<Vec<(NaiveDate, Appointment)>>,
    pub cancelled: Mutex<Vec<(NaiveDate, Appointment)>>,
}

impl OfficeDoor for Door {
    fn config(&self) -> Arc<OfficeConfig> {
        self.gateway.office().config()
    }
    fn book(&self, date: NaiveDate, appointment: Appointment) -> Result<(), String> {
        OfficeDoor::book(&self.gateway, date, appointment.clone())?;
        self.booked.lock().unwrap().push((date, appointment));
        Ok(())
    }
    fn cancel(&self, date: NaiveDate, appointment: Appointment) -> Result<(), String> {
        OfficeDoor::cancel(&self.gateway, date, appointment.clone())?;
        self.cancelled.lock().unwrap().push((date, appointment));
        Ok(())
    }
    fn ticket_id(&self, now: Timestamp, token: &str) -> Option<aufruf_model::TicketId> {
        OfficeDoor::ticket_id(&self.gateway, now, token)
    }
    fn ticket_by_id(
        &self,
        now: Timestamp,
        id: &aufruf_model::TicketId,
    ) -> Option<aufruf_office::views::TicketView> {
        OfficeDoor::ticket_by_id(&self.gateway, now, id)
    }
    fn draw_remote_ticket(
        &self,
        now: Timestamp,
        service: &aufruf_model::ServiceId,
    ) -> Result<(aufruf_office::views::TicketView, String), aufruf_portal::DrawRefusal> {
        OfficeDoor::draw_remote_ticket(&self.gateway, now, service)
    }
    fn walk_ins(
        &self,
        now: Timestamp,
        service: &aufruf_model::ServiceId,
    ) -> Result<(), aufruf_portal::DrawRefusal> {
        OfficeDoor::walk_ins(&self.gateway, now, service)
    }
    fn config_revision(&self) -> u64 {
        OfficeDoor::config_revision(&self.gateway)
    }
    fn statistics(&self, date: NaiveDate) -> Option<aufruf_model::statistics::DayStatistics> {
        OfficeDoor::statistics(&self.gateway, date)
    }
    fn check_delegation(&self, delegation: &SignedDelegation) -> Result<(), String> {
        OfficeDoor::check_delegation(&self.gateway, delegation)
    }
    fn publish_config(
        &self,
        now: Timestamp,
        text: &str,
        delegation: &SignedDelegation,
    ) -> Result<u64, String> {
        OfficeDoor::publish_config(&self.gateway, now, text, delegation)
    }
}

/// The administrator's word that `node` may publish the office's configuration,
/// written to `dir/<node>.delegation` (as `aufruf office delegate` does).
pub fn delegation_file(dir: &std::path::Path, node: &str) -> std::path::PathBuf {
    let signed = SignedDelegation::new(
        &ConfigDelegation {
            office: "zeitz".into(),
            delegate: NodeId::new(node).unwrap(),
            purpose: DELEGATED_PURPOSE.into(),
        },
        aufruf_office::testing::admin_sign,
    )
    .unwrap();
    let path = dir.join(format!("{node}.delegation"));
    std::fs::write(&path, serde_json::to_string(&signed).unwrap()).unwrap();
    path
}

#[derive(Debug)]
pub struct Site {
    pub portal: Arc<Portal>,
    pub router: axum::Router,
    pub mails: Arc<Postbox>,
    pub door: Arc<Door>,
    pub replica: MemoryReplica,
    pub clock: Arc<AtomicU64>,
    pub dir: tempfile::TempDir,
}

/// Monday 23 November 2026, 10:00 in Zeitz.
pub fn monday_morning() -> Timestamp {
    at(2026, 11, 23, 10, 0)
}

pub fn at(y: i32, m: u32, d: u32, h: u32, min: u32) -> Timestamp {
    aufruf_portal::slots::instant(
        chrono_tz::Europe::Berlin,
        NaiveDate::from_ymd_opt(y, m, d).unwrap(),
        NaiveTime::from_hms_opt(h, min, 0).unwrap(),
    )
    .unwrap()
}

pub fn office_on(
    replica: MemoryReplica,
    node: &str,
    role: Role,
) -> Arc<OfficeService<MemoryReplica>> {
    let node = NodeId::new(node).unwrap();
    Arc::new(OfficeService::new(
        aufruf_office::example_office().unwrap(),
        Setup {
            office: "zeitz".parse().unwrap(),
            node: node.clone(),
            retention_days: 7,
        },
        replica,
        Arc::new(Unobserved),
        test_keys(&node, role),
    ))
}

impl Site {
    pub fn new() -> Self {
        Self::with(|_| {})
    }

    pub fn with(adjust: impl FnOnce(&mut PortalSettings)) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut settings = PortalSettings::in_dir(dir.path(), "https://termine.zeitz.example");
        // Cheaper hashing than OWASP's in tests (the parameters are tested on their own).
        settings.password_cost = PasswordCost {
            memory_kib: 1024,
            iterations: 1,
            parallelism: 1,
        };
        // Less work per form than the default (the proof of work is tested on its own).
        settings.pow_max_number = 1_000;
        // Plain HTTP, as the demo: cookies without the `__Host-` prefix.
        settings.secure_cookies = false;
        settings.departments.insert(
            "buergerbuero".into(),
            DepartmentRules {
                appointments_per_slot: Some(2),
                ..Default::default()
            },
        );
        // The admin pages may publish (tests of a gateway without it say so).
        settings.admin_delegation = Some(delegation_file(dir.path(), "gateway"));
        adjust(&mut settings);
        let replica = MemoryReplica::new();
        let door = Arc::new(Door {
            gateway: GatewayService::new(office_on(replica.clone(), "gateway", Role::Gateway)),
            booked: Mutex::new(Vec::new()),
            cancelled: Mutex::new(Vec::new()),
        });
        let clock = Arc::new(AtomicU64::new(monday_morning().as_millis()));
        let c = clock.clone();
        let mails = Arc::new(Postbox::default());
        let portal = Arc::new(
            Portal::with_mailer(
                settings,
                door.clone(),
                Arc::new(move || Timestamp::from_millis(c.load(Ordering::SeqCst))),
                mails.clone(),
            )
            .unwrap(),
        );
        Site {
            router: aufruf_portal::web::router(portal.clone()),
            portal,
            mails,
            door,
            replica,
            clock,
            dir,
        }
    }

    pub fn set_time(&self, t: Timestamp) {
        self.clock.store(t.as_millis(), Ordering::SeqCst);
    }

    pub fn browser(&self) -> Browser {
        Browser {
            router: self.router.clone(),
            cookies: BTreeMap::new(),
            client: "198.51.100.7:40000".parse().unwrap(),
            accept_language: None,
            last: String::new(),
        }
    }

    pub fn mails_to(&self, to: &str) -> Vec<Mail> {
        self.mails
            .0
            .lock()
            .unwrap()
            .iter()
            .filter(|m| m.to == to)
            .cloned()
            .collect()
    }

    /// The link to this portal in the last mail to `to`, as a path.
    pub fn link_in_last_mail(&self, to: &str, path: &str) -> String {
        let mails = self.mails_to(to);
        let text = &mails.last().expect("a mail").text;
        let start = text
            .find(&format!("https://termine.zeitz.example{path}"))
            .expect("the link");
        let link = text[start..].split_whitespace().next().unwrap();
        link.trim_start_matches("https://termine.zeitz.example")
            .to_owned()
    }

    /// A verified account with a password, logged in in a new browser.
    pub async fn citizen(&self, email: &str) -> Browser {
        let mut b = self.browser();
        let page = b
            .fill(
                "/register",
                &[("email", email), ("password", "sicheres Passwort 1")],
            )
            .await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        let link = self.link_in_last_mail(email, "/verify");
        assert_eq!(b.get(&link).await.status, StatusCode::OK);
        let page = b
            .fill(
                "/login",
                &[("email", email), ("password", "sicheres Passwort 1")],
            )
            .await;
        assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
        b
    }
}

#[derive(Debug, Clone)]
pub struct Page {
    pub status: StatusCode,
    pub headers: axum::http::HeaderMap,
    pub body: String,
    /// The body as it came (an image).
    pub bytes: Vec<u8>,
}

impl Page {
    pub fn location(&self) -> &str {
        self.headers
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    /// The code of the booking this answer to a booking form sends the citizen to.
    pub fn booking_code(&self) -> String {
        self.location()
            .trim_start_matches("/bookings/")
            .trim_end_matches("?new=1")
            .to_owned()
    }
}

#[derive(Debug)]
pub struct Browser {
    pub router: axum::Router,
    pub cookies: BTreeMap<String, String>,
    pub client: SocketAddr,
    pub accept_language: Option<String>,
    /// The last page's body, where `post` finds the CSRF token.
    pub last: String,
}

impl Browser {
    pub async fn get(&mut self, path: &str) -> Page {
        self.send(Request::get(path), Body::empty()).await
    }

    /// Opens the form at `path` and sends it with `fields`, as a citizen does.
    pub async fn fill(&mut self, path: &str, fields: &[(&str, &str)]) -> Page {
        self.get(path).await;
        self.post(path, fields).await
    }

    /// Opens the day's times and sends the booking form, as a citizen does.
    pub async fn book(&mut self, service: &str, day: &str, time: &str) -> Page {
        self.get(&format!("/book/service/{}?day={}", pct(service), pct(day)))
            .await;
        self.post(
            "/book",
            &[("service", service), ("day", day), ("time", time)],
        )
        .await
    }

    /// Posts a form with the CSRF token of the last page, and the answer to its proof
    /// of work when it has one (what `pow.js` does in a browser) and `fields` bring none.
    pub async fn post(&mut self, path: &str, fields: &[(&str, &str)]) -> Page {
        let csrf = self.csrf();
        let mut all: Vec<(&str, &str)> = vec![("csrf", csrf.as_str())];
        let pow = aufruf_portal::pow::solve_page(&self.last).unwrap_or_default();
        if !pow.is_empty() && !fields.iter().any(|(k, _)| *k == "pow") {
            all.push(("pow", &pow));
        }
        all.extend_from_slice(fields);
        self.post_raw(path, &encode(&all)).await
    }

    pub async fn post_raw(&mut self, path: &str, body: &str) -> Page {
        let request =
            Request::post(path).header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
        self.send(request, Body::from(body.to_owned())).await
    }

    pub fn csrf(&self) -> String {
        let marker = "name=\"csrf\" value=\"";
        self.last
            .find(marker)
            .map(|i| {
                self.last[i + marker.len()..]
                    .split('"')
                    .next()
                    .unwrap()
                    .to_owned()
            })
            .unwrap_or_default()
    }

    async fn send(&mut self, mut request: axum::http::request::Builder, body: Body) -> Page {
        if !self.cookies.is_empty() {
            let cookie = self
                .cookies
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join("; ");
            request = request.header(header::COOKIE, cookie);
        }
        if let Some(l) = &self.accept_language {
            request = request.header(header::ACCEPT_LANGUAGE, l);
        }
        let mut request = request.body(body).unwrap();
        request.extensions_mut().insert(ConnectInfo(self.client));
        let response = self.router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        for c in headers.get_all(header::SET_COOKIE) {
            let c = c.to_str().unwrap();
            let (pair, attrs) = c.split_once(';').unwrap_or((c, ""));
            let (k, v) = pair.split_once('=').unwrap();
            if attrs.contains("Max-Age=0") {
                self.cookies.remove(k);
            } else {
                self.cookies.insert(k.to_owned(), v.to_owned());
            }
        }
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 22)
            .await
            .unwrap();
        let body = String::from_utf8_lossy(&bytes).into_owned();
        // A page without a form (a message) leaves the last form's token in hand,
        // as a citizen going back to the form would.
        if body.contains("name=\"csrf\"") {
            self.last = body.clone();
        }
        Page {
            status,
            headers,
            body,
            bytes: bytes.to_vec(),
        }
    }
}

/// The text of the one QR code in a PNG.
pub fn decode_qr(png: &[u8]) -> String {
    let mut decoder = png::Decoder::new(std::io::Cursor::new(png));
    // 1 bit per pixel in the file; 8 to read it.
    decoder.set_transformations(png::Transformations::EXPAND);
    let mut reader = decoder.read_info().unwrap();
    let mut pixels = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut pixels).unwrap();
    let (w, h) = (info.width as usize, info.height as usize);
    let mut image = rqrr::PreparedImage::prepare_from_greyscale(w, h, |x, y| pixels[y * w + x]);
    let grids = image.detect_grids();
    assert_eq!(grids.len(), 1);
    grids[0].decode().unwrap().1
}

pub fn encode(fields: &[(&str, &str)]) -> String {
    fields
        .iter()
        .map(|(k, v)| format!("{}={}", pct(k), pct(v)))
        .collect::<Vec<_>>()
        .join("&")
}

pub fn pct(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => {
                char::from(b).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
