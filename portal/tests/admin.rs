//! The admin pages: an invitation, password and second factor, the office's
//! configuration changed and taken by another device, an appointment cancelled for
//! a citizen — and everyone else turned away.

use std::sync::Arc;

use aufruf_model::{Role, ServiceId, Timestamp};
use aufruf_office::memory::MemoryReplica;
use aufruf_portal::totp;
use axum::http::StatusCode;

use crate::common::{Browser, Site, decode_qr, delegation_file, monday_morning, office_on};

const ADMIN: &str = "anna@zeitz.de";
const PASSWORD: &str = "Verwaltung sicher 1";

/// The code an authenticator app shows for `secret` at the site's time.
fn code_now(site: &Site, secret: &str) -> String {
    let now = site.portal.now_ms() / 1000;
    totp::code(secret, totp::step_at(now)).unwrap()
}

/// Moves the site's clock on by `seconds`.
fn wait(site: &Site, seconds: u64) {
    site.set_time(Timestamp::from_millis(
        site.portal.now_ms() + seconds * 1000,
    ));
}

/// The invitation's page path and the second factor's secret it shows.
async fn invite(site: &Site, b: &mut Browser) -> (String, String) {
    let link = site.portal.invite_admin(ADMIN).unwrap();
    let path = link
        .strip_prefix("https://termine.zeitz.example")
        .unwrap()
        .to_owned();
    let page = b.get(&path).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let secret = page
        .body
        .split("<code>")
        .nth(1)
        .and_then(|s| s.split("</code>").next())
        .unwrap()
        .to_owned();
    (path, secret)
}

/// An admin, set up from an invitation and logged in, in a new browser; and the
/// second factor's secret.
pub async fn logged_in_admin(site: &Site) -> (Browser, String) {
    admin(site).await
}

async fn admin(site: &Site) -> (Browser, String) {
    let mut b = site.browser();
    let (path, secret) = invite(site, &mut b).await;
    let page = b
        .post(
            &path,
            &[("password", PASSWORD), ("code", &code_now(site, &secret))],
        )
        .await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    wait(site, 30);
    let page = b
        .fill(
            "/admin/login",
            &[
                ("email", ADMIN),
                ("password", PASSWORD),
                ("code", &code_now(site, &secret)),
            ],
        )
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    assert_eq!(page.location(), "/admin");
    (b, secret)
}

#[tokio::test]
async fn an_invited_admin_sets_up_a_second_factor_and_logs_in_with_it_once() {
    let site = Site::new();
    let mut b = site.browser();
    let (path, secret) = invite(&site, &mut b).await;
    assert_eq!(secret.len(), 32);

    // The QR code is the authenticator app's link with that secret.
    let qr = b.get(&format!("{path}/qr.png")).await;
    assert_eq!(qr.status, StatusCode::OK);
    assert_eq!(qr.headers["content-type"], "image/png");
    let decoded = decode_qr(&qr.bytes);
    assert!(decoded.starts_with("otpauth://totp/"), "{decoded}");
    assert!(decoded.contains(&format!("secret={secret}&")), "{decoded}");

    // A wrong code or a short password sets nothing up.
    let page = b
        .post(&path, &[("password", PASSWORD), ("code", "000000")])
        .await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.body.contains("Der Code stimmt nicht"), "{}", page.body);
    let page = b
        .post(
            &path,
            &[("password", "kurz"), ("code", &code_now(&site, &secret))],
        )
        .await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(site.portal.store.admin(ADMIN).unwrap().is_none());

    let setup_code = code_now(&site, &secret);
    let page = b
        .post(&path, &[("password", PASSWORD), ("code", &setup_code)])
        .await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(site.portal.store.admin(ADMIN).unwrap().is_some());
    // The invitation is used up, its QR code gone.
    assert_eq!(b.get(&path).await.status, StatusCode::NOT_FOUND);
    assert_eq!(
        b.get(&format!("{path}/qr.png")).await.status,
        StatusCode::NOT_FOUND
    );

    // The code that set it up does not log in: every code counts once.
    let login = |code: String, password: &'static str| {
        vec![
            ("email", ADMIN.to_owned()),
            ("password", password.to_owned()),
            ("code", code),
        ]
    };
    let mut page = b.get("/admin/login").await;
    assert_eq!(page.status, StatusCode::OK);
    for (fields, expected) in [
        (
            login(setup_code.clone(), PASSWORD),
            StatusCode::UNAUTHORIZED,
        ),
        (
            login(String::new(), PASSWORD),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
    ] {
        let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
        page = b.post("/admin/login", &fields).await;
        assert_eq!(page.status, expected, "{}", page.body);
    }
    wait(&site, 30);
    // A wrong password with the right code, and an unknown address: the same answer.
    let fresh = code_now(&site, &secret);
    let wrong_password = b
        .post(
            "/admin/login",
            &[
                ("email", ADMIN),
                ("password", "falsches Passwort"),
                ("code", &fresh),
            ],
        )
        .await;
    let unknown = b
        .post(
            "/admin/login",
            &[
                ("email", "bob@zeitz.de"),
                ("password", PASSWORD),
                ("code", &fresh),
            ],
        )
        .await;
    assert_eq!(wrong_password.status, StatusCode::UNAUTHORIZED);
    assert_eq!(unknown.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        wrong_password.body.replace("falsches Passwort", ""),
        unknown
            .body
            .replace("bob@zeitz.de", ADMIN)
            .replace("falsches Passwort", "")
    );
    let page = b
        .post(
            "/admin/login",
            &[("email", ADMIN), ("password", PASSWORD), ("code", &fresh)],
        )
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    let cookie = page.headers["set-cookie"].to_str().unwrap().to_owned();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    let overview = b.get("/admin").await;
    assert_eq!(overview.status, StatusCode::OK);
    assert!(overview.body.contains(ADMIN));

    // Logged out, the pages are closed again.
    let page = b.post("/admin/logout", &[]).await;
    assert_eq!(page.location(), "/admin/login");
    assert_eq!(b.get("/admin").await.location(), "/admin/login");
}

#[tokio::test]
async fn an_admin_renames_a_service_and_another_device_shows_the_new_name() {
    let site = Site::new();
    let (mut b, _) = admin(&site).await;
    let page = b.get("/admin/services").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("value=\"Reisepass\""), "{}", page.body);
    let page = b
        .post(
            "/admin/services",
            &[
                ("de.reisepass", "Reisepass und Kinderreisepass"),
                ("en.reisepass", "Passport"),
                ("minutes.reisepass", "25"),
            ]
            .into_iter()
            .chain(
                unchanged_services(&site, "reisepass")
                    .iter()
                    .map(|(k, v)| (k.as_str(), v.as_str())),
            )
            .collect::<Vec<_>>(),
        )
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    assert_eq!(page.location(), "/admin/services?published=1");
    let page = b.get(page.location()).await;
    assert!(page.body.contains("Revision 1"), "{}", page.body);

    let reisepass = ServiceId::new("reisepass");
    let config = site.portal.config();
    let service = config.service(&reisepass).unwrap();
    assert_eq!(service.name.de, "Reisepass und Kinderreisepass");
    assert_eq!(service.expected_minutes, 25);
    // A kiosk that hears from the gateway takes it, without a restart.
    let at_kiosk = MemoryReplica::new();
    let kiosk = office_on(at_kiosk.clone(), "kiosk-1", Role::Kiosk);
    assert_eq!(
        kiosk.config().service(&reisepass).unwrap().name.de,
        "Reisepass"
    );
    at_kiosk.receive_from(&site.replica);
    kiosk.refresh(monday_morning());
    assert_eq!(kiosk.config_status().revision, 1);
    assert_eq!(
        kiosk.config().service(&reisepass).unwrap().name.de,
        "Reisepass und Kinderreisepass"
    );
    // The citizens' pages name it so too.
    let mut citizen = site.browser();
    let page = citizen.get("/book/department/buergerbuero").await;
    assert!(page.body.contains("Reisepass und Kinderreisepass"));

    // Wrong input names the field, and nothing is published.
    let page = b
        .post(
            "/admin/services",
            &[
                ("de.reisepass", ""),
                ("en.reisepass", "Passport"),
                ("minutes.reisepass", "0"),
            ]
            .into_iter()
            .chain(
                unchanged_services(&site, "reisepass")
                    .iter()
                    .map(|(k, v)| (k.as_str(), v.as_str())),
            )
            .collect::<Vec<_>>(),
        )
        .await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        page.body.contains("href=\"#de.reisepass\""),
        "{}",
        page.body
    );
    assert!(page.body.contains("href=\"#minutes.reisepass\""));
    assert!(page.body.contains("aria-invalid=\"true\""));
    assert_eq!(site.portal.config_revision().0, 1);
}

/// A form's fields as `Browser::post` takes them.
fn post(fields: &[(String, String)]) -> Vec<(&str, &str)> {
    fields
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect()
}

/// The services form's fields of every service but `except`, as they are.
fn unchanged_services(site: &Site, except: &str) -> Vec<(String, String)> {
    site.portal
        .config()
        .services
        .iter()
        .filter(|s| s.id.as_str() != except)
        .flat_map(|s| {
            [
                (format!("de.{}", s.id), s.name.de.clone()),
                (format!("en.{}", s.id), s.name.en.clone()),
                (format!("minutes.{}", s.id), s.expected_minutes.to_string()),
            ]
        })
        .collect()
}

#[tokio::test]
async fn an_admin_changes_hours_holidays_and_notices() {
    let site = Site::new();
    let (mut b, _) = admin(&site).await;

    // Opening hours: every field of the form as it is, Monday changed.
    let page = b.get("/admin/hours").await;
    assert!(page.body.contains("value=\"08:00-18:00\""), "{}", page.body);
    let mut fields: Vec<(String, String)> = Vec::new();
    for d in &site.portal.config().departments {
        for (day, hours) in [
            ("mon", &d.hours.mon),
            ("tue", &d.hours.tue),
            ("wed", &d.hours.wed),
            ("thu", &d.hours.thu),
            ("fri", &d.hours.fri),
            ("sat", &d.hours.sat),
            ("sun", &d.hours.sun),
        ] {
            let text = hours
                .iter()
                .map(|i| String::from(*i))
                .collect::<Vec<_>>()
                .join(", ");
            fields.push((format!("{day}.{}", d.id), text));
        }
    }
    let set = |fields: &mut Vec<(String, String)>, id: &str, value: &str| {
        fields.iter_mut().find(|(k, _)| k == id).unwrap().1 = value.to_owned();
    };
    set(&mut fields, "mon.buergerbuero", "07:30-12:00; 13:00-18:00");
    let page = b.post("/admin/hours", &post(&fields)).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    let monday: Vec<String> = site.portal.config().departments[0]
        .hours
        .mon
        .iter()
        .map(|i| String::from(*i))
        .collect();
    assert_eq!(monday, ["07:30-12:00", "13:00-18:00"]);
    // Not a time, or times the office would not take (overlapping): named, not published.
    set(&mut fields, "tue.buergerbuero", "8 bis 12");
    let page = b.post("/admin/hours", &post(&fields)).await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        page.body.contains("href=\"#tue.buergerbuero\""),
        "{}",
        page.body
    );
    set(&mut fields, "tue.buergerbuero", "08:00-12:00, 11:00-13:00");
    let page = b.post("/admin/hours", &post(&fields)).await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        page.body.contains("Die Zeiten überschneiden sich"),
        "{}",
        page.body
    );
    assert!(page.body.contains("href=\"#tue.buergerbuero\""));
    assert_eq!(site.portal.config_revision().0, 1);

    // Holidays, in German or ISO writing.
    let page = b.get("/admin/holidays").await;
    assert!(page.body.contains("24.12.2026"));
    let page = b
        .post(
            "/admin/holidays",
            &[("holidays", "24.12.2026\r\n2026-12-31\n\n24.12.2026")],
        )
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    assert_eq!(
        site.portal.config().office.holidays,
        [
            chrono::NaiveDate::from_ymd_opt(2026, 12, 24).unwrap(),
            chrono::NaiveDate::from_ymd_opt(2026, 12, 31).unwrap()
        ]
    );
    let page = b
        .post("/admin/holidays", &[("holidays", "31.02.2026")])
        .await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.body.contains("31.02.2026"));

    // Notices for the display; too many or too long ones are refused.
    let page = b
        .post(
            "/admin/notices",
            &[(
                "notices",
                "Heute ab 12 Uhr geschlossen.\nBitte Nummer beachten.",
            )],
        )
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    assert_eq!(
        site.portal.config().display.notices,
        ["Heute ab 12 Uhr geschlossen.", "Bitte Nummer beachten."]
    );
    let long = "x".repeat(201);
    let page = b
        .post("/admin/notices", &[("notices", long.as_str())])
        .await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    let many = ["Hinweis"; 11].join("\n");
    let page = b
        .post("/admin/notices", &[("notices", many.as_str())])
        .await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(site.portal.config_revision().0, 3);
}

#[tokio::test]
async fn admin_pages_turn_away_strangers_citizens_forged_forms_and_ended_sessions() {
    let site = Site::new();
    let pages = [
        "/admin",
        "/admin/services",
        "/admin/hours",
        "/admin/holidays",
        "/admin/notices",
        "/admin/cancel",
        "/admin/desks",
        "/admin/appointments",
    ];
    // Nobody logged in, and a citizen logged in: sent to the admin login.
    let mut stranger = site.browser();
    let mut citizen = site.citizen("citizen@example.org").await;
    for path in pages {
        for b in [&mut stranger, &mut citizen] {
            let page = b.get(path).await;
            assert_eq!(page.status, StatusCode::SEE_OTHER, "{path}");
            assert_eq!(page.location(), "/admin/login", "{path}");
            if path == "/admin" {
                continue; // no form
            }
            b.get("/account").await; // a page with the citizen's own form token
            let page = b.post(path, &[("notices", "gehackt")]).await;
            assert_eq!(page.location(), "/admin/login", "{path}");
        }
    }
    // A made-up admin cookie opens nothing.
    stranger.cookies.insert("admin".into(), "a".repeat(43));
    assert_eq!(stranger.get("/admin").await.location(), "/admin/login");
    assert!(
        site.portal
            .config()
            .display
            .notices
            .iter()
            .all(|n| n != "gehackt")
    );

    // An admin's form without the session's token, or with a citizen's: forged.
    let (mut b, _) = admin(&site).await;
    let page = b.post_raw("/admin/notices", "notices=gehackt").await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    let citizen_token = citizen.csrf();
    let page = b
        .post_raw(
            "/admin/notices",
            &format!("csrf={citizen_token}&notices=gehackt"),
        )
        .await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    assert_eq!(site.portal.config_revision().0, 0);

    // The session ends after two hours.
    assert_eq!(b.get("/admin").await.status, StatusCode::OK);
    wait(&site, 2 * 3600);
    assert_eq!(b.get("/admin").await.location(), "/admin/login");

    // An admin removed by IT is logged out at once.
    let (mut b, _) = admin(&site).await;
    assert!(site.portal.store.remove_admin(ADMIN).unwrap());
    assert_eq!(b.get("/admin").await.location(), "/admin/login");

    // Forged invitations show nothing.
    for path in ["/admin/setup/nothing", "/admin/setup/%3Cscript%3E"] {
        assert_eq!(
            stranger.get(path).await.status,
            StatusCode::NOT_FOUND,
            "{path}"
        );
    }
}

#[tokio::test]
async fn guessing_admin_logins_is_limited_per_address_and_per_admin() {
    let site = Site::with(|s| {
        s.attempts_per_address_per_minute = 5;
        s.attempts_per_account_per_minute = 3;
    });
    let mut b = site.browser();
    b.get("/admin/login").await;
    let mut statuses = Vec::new();
    for _ in 0..4 {
        let page = b
            .post(
                "/admin/login",
                &[
                    ("email", ADMIN),
                    ("password", "geraten geraten"),
                    ("code", "123456"),
                ],
            )
            .await;
        statuses.push(page.status);
    }
    assert_eq!(
        statuses,
        [
            StatusCode::UNAUTHORIZED,
            StatusCode::UNAUTHORIZED,
            StatusCode::UNAUTHORIZED,
            StatusCode::TOO_MANY_REQUESTS
        ]
    );
    // From another address, other admins: the address's own limit.
    let mut other = site.browser();
    other.client = "203.0.113.9:5000".parse().unwrap();
    other.get("/admin/login").await;
    let mut statuses = Vec::new();
    for i in 0..6 {
        let email = format!("admin{i}@zeitz.de");
        let page = other
            .post(
                "/admin/login",
                &[
                    ("email", email.as_str()),
                    ("password", "geraten geraten"),
                    ("code", "123456"),
                ],
            )
            .await;
        statuses.push(page.status);
    }
    assert_eq!(statuses[4], StatusCode::UNAUTHORIZED);
    assert_eq!(statuses[5], StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn without_the_delegation_the_pages_say_why_and_publish_nothing() {
    let site = Site::with(|s| s.admin_delegation = None);
    let (mut b, _) = admin(&site).await;
    let page = b.get("/admin/services").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.body.contains("aufruf office delegate"),
        "{}",
        page.body
    );
    assert!(!page.body.contains("action=\"/admin/services\""));
    b.get("/admin/cancel").await; // a page with the admin's form token
    let page = b.post("/admin/notices", &[("notices", "Hallo")]).await;
    assert_eq!(page.status, StatusCode::CONFLICT, "{}", page.body);
    assert_eq!(site.portal.config_revision(), (0, false));
}

#[tokio::test]
async fn a_delegation_for_another_gateway_or_garbage_stops_the_start_with_the_file_named() {
    let dir = tempfile::tempdir().unwrap();
    let other = delegation_file(dir.path(), "gateway-2");
    let garbage = dir.path().join("garbage.delegation");
    std::fs::write(&garbage, "not json").unwrap();
    let huge = dir.path().join("huge.delegation");
    std::fs::write(&huge, vec![b' '; 70 * 1024]).unwrap();
    for (file, says) in [
        (&other, "for gateway-2, not for this node"),
        (&garbage, "not a delegation"),
        (&huge, "larger than"),
        (&dir.path().join("missing"), "missing"),
    ] {
        let replica = MemoryReplica::new();
        let door = Arc::new(crate::common::Door {
            gateway: aufruf_office::GatewayService::new(office_on(
                replica,
                "gateway",
                Role::Gateway,
            )),
            booked: Default::default(),
            cancelled: Default::default(),
        });
        let mut settings =
            aufruf_portal::PortalSettings::in_dir(&dir.path().join("portal"), "https://x.example");
        settings.admin_delegation = Some(file.clone());
        let error = aufruf_portal::Portal::with_mailer(
            settings,
            door,
            Arc::new(monday_morning),
            Arc::new(crate::common::Postbox::default()),
        )
        .unwrap_err()
        .to_string();
        assert!(error.contains(says), "{error}");
        assert!(error.contains(&file.display().to_string()), "{error}");
    }
}

#[tokio::test]
async fn an_admin_cancels_an_appointment_for_a_citizen_who_is_mailed_the_reason() {
    let site = Site::new();
    let mut citizen = site.citizen("citizen@example.org").await;
    let page = citizen.book("reisepass", "2026-11-25", "10:00").await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    let code = page.booking_code();
    let (mut b, _) = admin(&site).await;
    let page = b.get("/admin/cancel").await;
    assert_eq!(page.status, StatusCode::OK);

    for (bad, status) in [
        ("<script>", StatusCode::UNPROCESSABLE_ENTITY),
        ("", StatusCode::UNPROCESSABLE_ENTITY),
        ("ZZZZZZZZ", StatusCode::NOT_FOUND),
    ] {
        let page = b
            .post("/admin/cancel", &[("code", bad), ("reason", "")])
            .await;
        assert_eq!(page.status, status, "{bad}");
        assert!(page.body.contains("href=\"#code\""), "{}", page.body);
        assert!(!page.body.contains("<script>"));
    }
    let long = "x".repeat(501);
    let page = b
        .post("/admin/cancel", &[("code", &code), ("reason", &long)])
        .await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);

    let page = b
        .post(
            "/admin/cancel",
            &[
                ("code", &code.to_lowercase()),
                ("reason", "Die Sachbearbeiterin ist erkrankt."),
            ],
        )
        .await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains(&code));
    assert!(site.portal.store.booking(&code).unwrap().unwrap().cancelled);
    assert_eq!(site.door.cancelled.lock().unwrap().len(), 1);
    let mails = site.mails_to("citizen@example.org");
    let mail = mails.last().unwrap();
    assert!(mail.subject.contains("abgesagt"), "{}", mail.subject);
    assert!(
        mail.text
            .contains("Grund: Die Sachbearbeiterin ist erkrankt."),
        "{}",
        mail.text
    );
    assert!(mail.text.contains(&code));
    // Cancelled once; a second time there is nothing open.
    let page = b
        .post("/admin/cancel", &[("code", &code), ("reason", "")])
        .await;
    assert_eq!(page.status, StatusCode::NOT_FOUND);
}

/// A morning at the office whose figures are known (as the office's own statistics
/// test has it): two walk-ins for Anmeldung drawn at the kiosk at 10:00 and 10:01;
/// desk-1 calls the first at 10:02 and serves them for 8 minutes, calls the second at
/// 10:10, who does not come.
/// The two tickets' status tokens.
fn a_known_morning(site: &Site) -> (String, String) {
    use aufruf_hardware::Language;
    use aufruf_office::{DeskAction, DeskService, KioskService, Wish};
    let at = |min| crate::common::at(2026, 11, 23, 10, min);
    let kiosk = KioskService::new(
        office_on(site.replica.clone(), "kiosk-1", Role::Kiosk),
        None,
        None,
    );
    let desk = DeskService::new(
        office_on(site.replica.clone(), "desk-1", Role::Desk),
        aufruf_model::DeskId::new("desk-1"),
        at(0),
    )
    .unwrap();
    let anmeldung = ServiceId::new("anmeldung");
    desk.act(at(0), DeskAction::Open { services: vec![] })
        .unwrap();
    let first = kiosk
        .draw_ticket(at(0), &anmeldung, Wish::Qr, Language::De)
        .unwrap()
        .status_token;
    let second = kiosk
        .draw_ticket(at(1), &anmeldung, Wish::Qr, Language::De)
        .unwrap()
        .status_token;
    for (min, action) in [
        (2, DeskAction::CallNext),
        (2, DeskAction::Serving),
        (10, DeskAction::Done),
        (10, DeskAction::CallNext),
        (12, DeskAction::NoShow),
    ] {
        desk.act(at(min), action).unwrap();
    }
    site.set_time(at(15));
    (first, second)
}

#[tokio::test]
async fn an_admin_reads_the_statistics_of_a_known_day_as_tables_chart_and_csv() {
    let site = Site::new();
    a_known_morning(&site);
    let (mut b, _) = admin(&site).await;
    site.set_time(crate::common::at(2026, 11, 23, 10, 16));
    let page = b.get("/admin/statistics").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let body = &page.body;
    // By service: 2 visitors, both walk-ins, 1 no-show, waits of 2 and 9 minutes
    // (mean 5.5, the 90th percentile within 10), 8 minutes at the desk, told 0 and 6
    // minutes (off by 2.5 on average).
    assert!(
        body.contains(
            "<th scope=\"row\">An- und Ummeldung</th><td>2</td><td>2</td><td>0</td><td>1</td>\
             <td>5,5</td><td>10,0</td><td>8,0</td><td>9,0</td><td>2,5</td>"
        ),
        "{body}"
    );
    assert!(
        body.contains("<th scope=\"row\">Bürgerbüro</th><td>2</td>"),
        "{body}"
    );
    assert!(
        body.contains("<th scope=\"row\">23.11.2026</th><td>2</td>"),
        "{body}"
    );
    assert!(body.contains("<caption class=\"kern-title\" id=\"by-desk\">"));
    assert!(
        body.contains("<svg") && body.contains("23.11.2026: 2 Besucher, 2 Wartemarken, 0 Termine")
    );
    assert!(
        body.contains("href=\"/admin/statistics.csv?from=2026-10-25&#38;to=2026-11-23\""),
        "{body}"
    );

    let csv = b
        .get("/admin/statistics.csv?from=2026-11-23&to=2026-11-23")
        .await;
    assert_eq!(csv.status, StatusCode::OK);
    assert_eq!(csv.headers["content-type"], "text/csv; charset=utf-8");
    assert!(
        csv.headers["content-disposition"]
            .to_str()
            .unwrap()
            .contains("statistik-2026-11-23-2026-11-23.csv")
    );
    let text = csv.body.trim_start_matches('\u{feff}');
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], aufruf_portal::statistics::CSV_HEADER);
    assert!(
        lines.contains(
            &"2026-11-23,service,buergerbuero,anmeldung,An- und Ummeldung,2,2,0,1,1,0,5.5,10.0,8.0,9.0,2.5"
        ),
        "{text}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("2026-11-23,desk,buergerbuero,desk-1,")),
        "{text}"
    );

    // The same day as JSON, as kept: what `aufruf simulate --replay` runs again. By
    // the hour: both came at ten, the one served began at 10:02 for 8 minutes.
    assert!(
        body.contains("href=\"/admin/statistics.json?from=2026-10-25&#38;to=2026-11-23\""),
        "{body}"
    );
    let json = b
        .get("/admin/statistics.json?from=2026-11-23&to=2026-11-23")
        .await;
    assert_eq!(json.status, StatusCode::OK);
    assert_eq!(json.headers["content-type"], "application/json");
    assert!(
        json.headers["content-disposition"]
            .to_str()
            .unwrap()
            .contains("statistik-2026-11-23-2026-11-23.json")
    );
    let days: Vec<aufruf_model::statistics::DayStatistics> =
        serde_json::from_str(&json.body).unwrap();
    assert_eq!(days.len(), 1);
    let anmeldung = &days[0].services[&ServiceId::new("anmeldung")];
    assert_eq!(
        (anmeldung.walk_ins, anmeldung.served, anmeldung.no_shows),
        (2, 1, 1)
    );
    let ten = &anmeldung.hours[&10];
    assert_eq!(
        (ten.walk_ins, ten.served, ten.total_handling_secs),
        (2, 1, 8 * 60)
    );
    assert!(
        !json.body.contains("kiosk-1") && !json.body.contains("U 00"),
        "{}",
        json.body
    );

    // A name a spreadsheet would run as a formula is exported as text.
    let mut fields = unchanged_services(&site, "anmeldung");
    fields.extend([
        (
            "de.anmeldung".to_owned(),
            "=HYPERLINK(\"http://evil.example\")".to_owned(),
        ),
        ("en.anmeldung".to_owned(), "Registration".to_owned()),
        ("minutes.anmeldung".to_owned(), "6".to_owned()),
    ]);
    b.get("/admin/services").await;
    assert_eq!(
        b.post("/admin/services", &post(&fields)).await.status,
        StatusCode::SEE_OTHER
    );
    let csv = b
        .get("/admin/statistics.csv?from=2026-11-23&to=2026-11-23")
        .await;
    assert!(
        csv.body
            .contains(",anmeldung,\"'=HYPERLINK(\"\"http://evil.example\"\")\",2,"),
        "{}",
        csv.body
    );

    // Spans that are no span.
    for query in [
        "from=gestern",
        "from=2026-11-24&to=2026-11-23",
        "from=2025-01-01&to=2026-11-23",
        "to=2026-11-23T10:00:00",
    ] {
        let page = b.get(&format!("/admin/statistics?{query}")).await;
        assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY, "{query}");
        assert!(page.body.contains("aria-invalid=\"true\""), "{query}");
        for download in ["csv", "json"] {
            let file = b
                .get(&format!("/admin/statistics.{download}?{query}"))
                .await;
            assert_eq!(file.status, StatusCode::UNPROCESSABLE_ENTITY, "{query}");
        }
    }
    // A span without figures says so.
    let page = b
        .get("/admin/statistics?from=2026-01-01&to=2026-01-31")
        .await;
    assert!(page.body.contains("keine Zahlen"));

    // Nobody else reads them.
    let mut stranger = site.browser();
    let mut citizen = site.citizen("citizen@example.org").await;
    for path in [
        "/admin/statistics",
        "/admin/statistics.csv",
        "/admin/statistics.json",
    ] {
        for who in [&mut stranger, &mut citizen] {
            assert_eq!(who.get(path).await.location(), "/admin/login", "{path}");
        }
    }
}

#[tokio::test]
async fn a_days_figures_stay_in_the_statistics_after_the_day_is_deleted() {
    let site = Site::new();
    a_known_morning(&site);
    let later = crate::common::at(2026, 12, 2, 10, 0);
    let retired = site.door.gateway.office().retire_expired(later).unwrap();
    assert_eq!(retired.deleted.len(), 1);
    site.set_time(later);
    let (mut b, _) = admin(&site).await;
    let page = b
        .get("/admin/statistics?from=2026-11-23&to=2026-11-23")
        .await;
    assert!(
        page.body
            .contains("<th scope=\"row\">An- und Ummeldung</th><td>2</td>"),
        "{}",
        page.body
    );
}

#[tokio::test]
async fn a_served_citizen_rates_the_visit_on_the_tickets_page_once_and_admins_read_it() {
    let site = Site::new();
    let (served, no_show) = a_known_morning(&site);
    let mut phone = site.browser();
    let page = phone.get(&format!("/t/{served}")).await;
    assert_eq!(page.status, StatusCode::OK);
    let action = format!("action=\"/t/{served}/feedback\"");
    assert!(page.body.contains(&action), "{}", page.body);
    assert!(page.body.contains("Wie war Ihr Besuch?"));
    // A waiting or missed ticket's page asks nothing, and its form is refused.
    let page = phone.get(&format!("/t/{no_show}")).await;
    assert!(!page.body.contains("portal-feedback"));
    let path = format!("/t/{served}/feedback");
    let refused = phone
        .post(&format!("/t/{no_show}/feedback"), &[("rating", "1")])
        .await;
    assert_eq!(refused.status, StatusCode::CONFLICT);

    // No rating, a rating out of range, a comment too long: the form comes back.
    for (rating, comment) in [("", "gut"), ("7", ""), ("5", &"x".repeat(1001)[..])] {
        phone.get(&format!("/t/{served}")).await;
        let page = phone
            .post(&path, &[("rating", rating), ("comment", comment)])
            .await;
        assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY, "{rating}");
        assert!(page.body.contains("Es gibt ein Problem"), "{}", page.body);
    }
    // Without the page's token: forged.
    let page = phone.post_raw(&path, "rating=1").await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    // Not a ticket of today.
    let page = phone.post("/t/nichtda/feedback", &[("rating", "1")]).await;
    assert_eq!(page.status, StatusCode::NOT_FOUND);

    phone.get(&format!("/t/{served}")).await;
    let page = phone
        .post(
            &path,
            &[("rating", "4"), ("comment", "Schnell und freundlich.")],
        )
        .await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains("Danke für Ihre Rückmeldung"));
    let page = phone
        .post(&path, &[("rating", "1"), ("comment", "noch mal")])
        .await;
    assert_eq!(page.status, StatusCode::CONFLICT, "once per ticket");
    let page = phone.get(&format!("/t/{served}")).await;
    assert!(page.body.contains("Danke für Ihre Rückmeldung!"));
    assert!(!page.body.contains("portal-feedback"));

    // Kept without the ticket.
    let day = chrono::NaiveDate::from_ymd_opt(2026, 11, 23).unwrap();
    let kept = site.portal.store.feedback_between(day, day).unwrap();
    assert_eq!(kept.len(), 1);
    assert_eq!((kept[0].rating, kept[0].service.as_str()), (4, "anmeldung"));
    assert!(!format!("{kept:?}").contains(&served));

    let (mut b, _) = admin(&site).await;
    let page = b
        .get("/admin/statistics?from=2026-11-23&to=2026-11-23")
        .await;
    assert!(
        page.body.contains(
            "<th scope=\"row\">An- und Ummeldung</th><td>1</td><td>4,0</td><td>0</td><td>1</td>"
        ),
        "{}",
        page.body
    );
    assert!(page.body.contains("<td>Schnell und freundlich.</td>"));
}

#[tokio::test]
async fn a_booked_citizen_rates_the_appointment_from_the_mails_link_after_it_began() {
    let site = Site::new();
    let mut citizen = site.citizen("citizen@example.org").await;
    let page = citizen.book("reisepass", "2026-11-25", "10:00").await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    let code = page.booking_code();
    let link = site.link_in_last_mail("citizen@example.org", "/f/");
    assert!(link.starts_with(&format!("/f/{code}/")), "{link}");

    let mut b = site.browser();
    // Before the appointment: not yet.
    let page = b.get(&link).await;
    assert_eq!(page.status, StatusCode::CONFLICT);
    site.set_time(crate::common::at(2026, 11, 25, 10, 30));
    let page = b.get(&link).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    // A forged signature, or another code under this one: as unknown as no page,
    // also with the page's form token.
    let (prefix, signature) = link.rsplit_once('/').unwrap();
    for bad in [
        format!("{prefix}/{}", "0".repeat(32)),
        format!("/f/AAAAAAAA/{signature}"),
    ] {
        let page = b.post(&bad, &[("rating", "1")]).await;
        assert_eq!(page.status, StatusCode::NOT_FOUND, "{bad}");
        assert_eq!(b.get(&bad).await.status, StatusCode::NOT_FOUND, "{bad}");
    }
    let page = b.post(&link, &[("rating", "5"), ("comment", "")]).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert_eq!(b.get(&link).await.status, StatusCode::CONFLICT, "once");
    let day = chrono::NaiveDate::from_ymd_opt(2026, 11, 25).unwrap();
    let kept = site.portal.store.feedback_between(day, day).unwrap();
    assert_eq!(kept.len(), 1);
    assert!(kept[0].appointment && kept[0].rating == 5);
    assert!(!format!("{kept:?}").contains(&code));
}

/// The desks form's fields as they are: every desk's name and checked services.
fn unchanged_desks(site: &Site) -> Vec<(String, String)> {
    let config = site.portal.config();
    config
        .desks
        .iter()
        .flat_map(|d| {
            std::iter::once((format!("name.{}", d.id), d.name.clone())).chain(
                d.services
                    .iter()
                    .map(move |s| (format!("svc.{}.{s}", d.id), "on".to_owned())),
            )
        })
        .collect()
}

#[tokio::test]
async fn an_admin_renames_a_desk_changes_its_services_and_adds_one() {
    let site = Site::new();
    let (mut b, _) = admin(&site).await;
    let page = b.get("/admin/desks").await;
    assert_eq!(page.status, StatusCode::OK);
    // Each desk's services are checkboxes of its department's services.
    assert!(
        page.body.contains("id=\"svc.desk-1.reisepass\" name=\"svc.desk-1.reisepass\" type=\"checkbox\" value=\"on\" checked"),
        "{}",
        page.body
    );
    assert!(!page.body.contains("svc.desk-1.kita-platz"));
    assert!(!page.body.contains("id=\"svc.desk-5.fundsachen\" name=\"svc.desk-5.fundsachen\" type=\"checkbox\" value=\"on\" checked"));

    let mut fields = unchanged_desks(&site);
    fields
        .iter_mut()
        .find(|(k, _)| k == "name.desk-3")
        .unwrap()
        .1 = "Platz 3 (barrierefrei)".into();
    fields.retain(|(k, _)| !k.starts_with("svc.desk-5."));
    fields.push(("svc.desk-5.fundsachen".into(), "on".into()));
    // A forged box: a service of another department stays off desk 5.
    fields.push(("svc.desk-5.kita-platz".into(), "on".into()));
    fields.push(("new.id".into(), "desk-7".into()));
    fields.push(("new.name".into(), "Platz 7".into()));
    fields.push(("svc.new.anmeldung".into(), "on".into()));
    fields.push(("svc.new.meldebescheinigung".into(), "on".into()));
    let page = b.post("/admin/desks", &post(&fields)).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    assert_eq!(page.location(), "/admin/desks?published=1");
    let config = site.portal.config();
    let desk = |id: &str| {
        config
            .desks
            .iter()
            .find(|d| d.id.as_str() == id)
            .unwrap()
            .clone()
    };
    assert_eq!(desk("desk-3").name, "Platz 3 (barrierefrei)");
    assert_eq!(desk("desk-5").services, [ServiceId::new("fundsachen")]);
    let added = desk("desk-7");
    assert_eq!(added.name, "Platz 7");
    assert_eq!(added.department.as_str(), "buergerbuero");
    assert_eq!(
        added.services,
        [
            ServiceId::new("meldebescheinigung"),
            ServiceId::new("anmeldung")
        ]
    );
    // Another device takes it.
    let at_kiosk = MemoryReplica::new();
    let kiosk = office_on(at_kiosk.clone(), "kiosk-1", Role::Kiosk);
    at_kiosk.receive_from(&site.replica);
    kiosk.refresh(monday_morning());
    assert!(
        kiosk
            .config()
            .desks
            .iter()
            .any(|d| d.id.as_str() == "desk-7")
    );

    // Wrong input is named per field and nothing is published.
    let cases: [(&[(&str, &str)], &str); 6] = [
        (&[("name.desk-1", "")], "name.desk-1"),
        (&[("name.desk-1", &"x".repeat(41))], "name.desk-1"),
        (
            &[
                ("new.id", "../x"),
                ("new.name", "X"),
                ("svc.new.anmeldung", "on"),
            ],
            "new.id",
        ),
        (
            &[
                ("new.id", "desk-2"),
                ("new.name", "X"),
                ("svc.new.anmeldung", "on"),
            ],
            "new.id",
        ),
        (
            &[
                ("new.id", "desk-8"),
                ("new.name", "X"),
                ("svc.new.anmeldung", "on"),
                ("svc.new.kita-platz", "on"),
            ],
            "new.services",
        ),
        (&[("new.id", "desk-8"), ("new.name", "X")], "new.services"),
    ];
    for (change, field) in cases {
        let mut fields = unchanged_desks(&site);
        for (k, v) in change {
            match fields.iter_mut().find(|(f, _)| f == k) {
                Some(f) => f.1 = (*v).to_owned(),
                None => fields.push(((*k).to_owned(), (*v).to_owned())),
            }
        }
        let page = b.post("/admin/desks", &post(&fields)).await;
        assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY, "{change:?}");
        assert!(
            page.body.contains(&format!("href=\"#{field}\"")),
            "{change:?}: {}",
            page.body
        );
    }
    // A desk left with no service.
    let mut fields = unchanged_desks(&site);
    fields.retain(|(k, _)| !k.starts_with("svc.desk-2."));
    let page = b.post("/admin/desks", &post(&fields)).await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        page.body.contains("href=\"#services.desk-2\""),
        "{}",
        page.body
    );
    // The boxes keep what was sent.
    assert!(
        !page
            .body
            .contains("name=\"svc.desk-2.reisepass\" type=\"checkbox\" value=\"on\" checked")
    );
    assert!(
        page.body
            .contains("name=\"svc.desk-1.reisepass\" type=\"checkbox\" value=\"on\" checked")
    );
    assert_eq!(site.portal.config_revision().0, 1);
}

#[tokio::test]
async fn the_appointment_capacity_an_admin_publishes_is_what_citizens_can_book() {
    let site = Site::new();
    let (mut b, _) = admin(&site).await;
    let page = b.get("/admin/appointments").await;
    assert_eq!(page.status, StatusCode::OK);
    // The test gateway's file offers 2 per start.
    assert!(page.body.contains("jetzt 2."), "{}", page.body);
    let offered =
        |page: &crate::common::Page, time: &str| page.body.contains(&format!("value=\"{time}\""));
    let mut citizen = site.citizen("c@example.org").await;
    let day = "/book/service/anmeldung?day=2026-11-24";
    let page = citizen.get(day).await;
    assert!(offered(&page, "11:00") && offered(&page, "11:15"));

    // One per start, every 30 minutes: what the admin publishes goes before the file.
    let page = b
        .post(
            "/admin/appointments",
            &[
                ("per_slot.buergerbuero", "1"),
                ("slot.buergerbuero", "30"),
                ("per_slot.kita", ""),
                ("slot.kita", ""),
            ],
        )
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    let department = &site.portal.config().departments[0];
    assert_eq!(department.booking.appointments_per_slot, Some(1));
    assert_eq!(department.booking.slot_minutes, Some(30));
    assert!(site.portal.config().departments[1].booking.is_unset());
    let page = citizen.get(day).await;
    assert!(offered(&page, "11:00") && !offered(&page, "11:15"));
    let page = citizen.book("anmeldung", "2026-11-24", "11:00").await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    let code = page.booking_code();
    let mut other = site.citizen("d@example.org").await;
    let page = other.book("anmeldung", "2026-11-24", "11:00").await;
    assert_eq!(page.status, StatusCode::CONFLICT, "one per start");

    // None at all: no time is offered; the booked appointment stays.
    let page = b
        .post(
            "/admin/appointments",
            &[("per_slot.buergerbuero", "0"), ("slot.buergerbuero", "30")],
        )
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    let page = other.get(day).await;
    assert!(!offered(&page, "11:30") && !offered(&page, "12:00"));
    assert!(site.portal.store.booking(&code).unwrap().is_some());

    // Out of range or not a number: named, nothing published.
    for (field, value) in [
        ("per_slot.buergerbuero", "101"),
        ("per_slot.buergerbuero", "-1"),
        ("per_slot.buergerbuero", "zwei"),
        ("slot.buergerbuero", "4"),
        ("slot.buergerbuero", "241"),
    ] {
        let mut fields = vec![("per_slot.buergerbuero", "1"), ("slot.buergerbuero", "15")];
        fields.iter_mut().find(|(k, _)| *k == field).unwrap().1 = value;
        let page = b.post("/admin/appointments", &fields).await;
        assert_eq!(
            page.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{field}={value}"
        );
        assert!(
            page.body.contains(&format!("href=\"#{field}\"")),
            "{}",
            page.body
        );
    }
    assert_eq!(site.portal.config_revision().0, 2);
}
