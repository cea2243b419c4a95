//! A citizen in a real browser: headless Chromium, driven by `portal/e2e/citizen.mjs`
//! over the DevTools protocol, clicks through the portal a gateway serves — register,
//! confirm by the mailed link, log in, book by departments, services, days and times,
//! cancel, wait for a fully booked day and stop waiting, switch to English, reset the
//! password, delete the account — and on every
//! page axe-core finds no WCAG 2.1 A/AA violation, the browser reports no refused style
//! or failed load, no page carries a script but the proof of work's (which answers
//! the register and booking forms' challenge by itself, and without which the form
//! comes back with the reason), and nothing is wider than a phone. A ticket drawn at a
//! kiosk node is followed on its QR page at a phone's width, and the page shows the
//! desk node's call by itself. An admin invited through the gateway's local API sets up
//! a password and second factor, logs in, opens every admin page and renames a
//! service, and the kiosk node shows the new name.
//!
//! Needs `node` and `chromium` (scripts/setup.sh installs both, and axe-core in
//! `portal/node_modules`); it fails, never skips, when they are missing.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use crate::common;

use common::{TestOffice, run_browser_script};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_citizen_clicks_through_the_portal_in_a_real_browser() {
    let _one_browser = common::ONE_BROWSER.lock().await;
    let office = TestOffice::new();
    let outbox = office.home("outbox");
    // The administrator lets the gateway publish the office's configuration.
    let delegation = office.home("gateway-1.delegation");
    aufruf_node::admin::delegate(
        &aufruf_model::NodeId::new("gateway-1").unwrap(),
        &office.home("office"),
        &delegation,
    )
    .unwrap();
    let gateway = office.enroll_gateway_with_portal(&outbox, |portal| {
        portal.admin_delegation = Some(delegation);
        // Tickets by phone near the office (the browser's position is set near it).
        portal.remote_tickets = Some(aufruf_portal::settings::RemoteTickets {
            latitude: 51.0478,
            longitude: 12.1383,
            radius_m: 500.0,
        });
        // One Kita appointment per start time, every four hours: the citizen books a
        // whole day and waits for it.
        portal.departments.insert(
            "kita".into(),
            aufruf_portal::settings::DepartmentRules {
                slot_minutes: Some(240),
                appointments_per_slot: Some(1),
                ..Default::default()
            },
        );
        portal.open_bookings_per_account = 10;
    });
    let gateway = office.start(gateway).await;
    let portal = gateway.portal_addr.expect("the gateway serves the portal");
    // A kiosk and a desk beside it: a ticket drawn at the kiosk is followed on its QR
    // page at the gateway, and the desk's call shows there live.
    let (kiosk, desk) = office.kiosk_and_open_desk(gateway.sync_addr).await;
    // The gateway issues tickets by phone once it has caught up with them.
    office.ready(gateway.api_addr).await;
    let (token, _) = office.draw_qr_ticket(kiosk.api_addr, "anmeldung").await;
    let ticket = format!("/t/{token}");
    let desk_api = format!("http://{}/api/desks/desk-1", desk.api_addr);
    // City IT invites an admin (`aufruf admin invite` does this call).
    let (status, invited) = office
        .post(
            gateway.api_addr,
            "/api/portal/admins",
            serde_json::json!({"email": "anna@zeitz.de"}),
        )
        .await;
    assert_eq!(status, 200, "{invited}");
    let setup = invited["link"].as_str().unwrap().to_owned();
    const RENAMED: &str = "Reisepass und Kinderreisepass";

    // The browser's profile lives (and is removed) with the test's folder.
    run_browser_script(
        office.home("chromium"),
        vec![
            ("PORTAL_URL", format!("http://{portal}")),
            ("PORTAL_OUTBOX", outbox.display().to_string()),
            ("PORTAL_TICKET", ticket),
            ("PORTAL_DESK_API", desk_api),
            ("PORTAL_ADMIN_SETUP", setup),
            ("PORTAL_ADMIN_EMAIL", "anna@zeitz.de".into()),
            ("PORTAL_ADMIN_RENAME", RENAMED.into()),
        ],
    )
    .await;
    // The admin's new name reaches the kiosk over the office's link.
    office
        .eventually(
            std::time::Duration::from_secs(20),
            "the kiosk shows the renamed service",
            || async {
                let (_, view) = office.get(kiosk.api_addr, "/api/kiosk").await;
                view.to_string().contains(RENAMED)
            },
        )
        .await;
}
