//! The QR ticket page: a kiosk ticket's place in the queue and its call, read on the
//! gateway's portal from the office's day; what a guessed or foreign token gets.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use crate::common;

use aufruf_hardware::Language;
use aufruf_model::{DeskId, Role, ServiceId};
use aufruf_office::{DeskAction, DeskService, KioskService, Wish};
use axum::http::StatusCode;
use common::{Site, at, office_on};

#[tokio::test]
async fn a_tickets_page_shows_who_is_ahead_and_then_the_call() {
    let site = Site::new();
    let kiosk = KioskService::new(
        office_on(site.replica.clone(), "kiosk-1", Role::Kiosk),
        None,
        None,
    );
    let desk = DeskService::new(
        office_on(site.replica.clone(), "desk-1", Role::Desk),
        DeskId::new("desk-1"),
        at(2026, 11, 23, 9, 55),
    )
    .unwrap();
    desk.act(
        at(2026, 11, 23, 9, 56),
        DeskAction::Open { services: vec![] },
    )
    .unwrap();
    let passport = ServiceId::new("reisepass");
    let draw = |min| {
        kiosk
            .draw_ticket(at(2026, 11, 23, 9, min), &passport, Wish::Qr, Language::De)
            .unwrap()
    };
    let first = draw(57);
    let mine = draw(58);
    let page_of = format!("/t/{}", mine.status_token);
    let mut phone = site.browser();
    let page = phone.get(&page_of).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains(&mine.ticket.number));
    assert!(page.body.contains("Reisepass"));
    assert!(
        page.body.contains("Noch 1 Person vor Ihnen"),
        "{}",
        page.body
    );
    assert!(
        page.body
            .contains("<script src=\"/assets/ticket.js\"></script>")
    );
    assert!(
        page.body.contains(&format!("href=\"{page_of}\"")),
        "the refresh link"
    );
    // The desk calls the first visitor: this ticket is next.
    desk.act(at(2026, 11, 23, 10, 0), DeskAction::CallNext)
        .unwrap();
    let page = phone.get(&page_of).await;
    assert!(
        page.body.contains("Sie sind als Nächste an der Reihe"),
        "{}",
        page.body
    );
    let other = phone.get(&format!("/t/{}", first.status_token)).await;
    assert!(other.body.contains("Bitte zu Platz 1"), "{}", other.body);
    // Then this one.
    desk.act(at(2026, 11, 23, 10, 5), DeskAction::Done).unwrap();
    desk.act(at(2026, 11, 23, 10, 5), DeskAction::CallNext)
        .unwrap();
    let page = phone.get(&page_of).await;
    assert!(page.body.contains("Bitte zu Platz 1"), "{}", page.body);
    assert!(page.body.contains("portal-ticket-called"));
    let mut english = site.browser();
    english.accept_language = Some("en".into());
    assert!(
        english
            .get(&page_of)
            .await
            .body
            .contains("Please go to Platz 1")
    );
    desk.act(at(2026, 11, 23, 10, 6), DeskAction::Serving)
        .unwrap();
    desk.act(at(2026, 11, 23, 10, 9), DeskAction::Done).unwrap();
    assert!(phone.get(&page_of).await.body.contains("Erledigt"));
}

#[tokio::test]
async fn a_guessed_malformed_or_foreign_token_gets_one_answer() {
    let site = Site::new();
    let mut b = site.browser();
    let long = format!("/t/{}", "a".repeat(65));
    for path in [
        "/t/00000000000000000000000000000000",
        "/t/x",
        "/t/%3Cscript%3E",
        long.as_str(),
        "/t/..%2F..%2Fetc",
        "/t/00000000000000000000000000000000/feed",
    ] {
        let page = b.get(path).await;
        assert_eq!(page.status, StatusCode::NOT_FOUND, "{path}");
        assert!(
            page.body.contains("Wartemarke nicht bekannt"),
            "{path}: {}",
            page.body
        );
        assert!(!page.body.contains("<script>"));
    }
}

#[tokio::test]
async fn live_feeds_are_bounded_and_a_place_returns_when_a_feed_ends() {
    use axum::body::Body;
    use axum::http::Request;
    use tower::ServiceExt as _;

    let site = Site::with(|s| s.ticket_feeds = 1);
    let kiosk = KioskService::new(
        office_on(site.replica.clone(), "kiosk-1", Role::Kiosk),
        None,
        None,
    );
    let issued = kiosk
        .draw_ticket(
            at(2026, 11, 23, 9, 58),
            &ServiceId::new("reisepass"),
            Wish::Qr,
            Language::De,
        )
        .unwrap();
    let feed = format!("/t/{}/feed", issued.status_token);
    let open = |path: String| {
        let router = site.router.clone();
        async move {
            router
                .oneshot(Request::get(path).body(Body::empty()).unwrap())
                .await
                .unwrap()
        }
    };
    let first = open(feed.clone()).await;
    assert_eq!(first.status(), StatusCode::OK);
    assert_eq!(first.headers()["content-type"], "text/event-stream");
    let second = open(feed.clone()).await;
    assert_eq!(
        second.status(),
        StatusCode::SERVICE_UNAVAILABLE,
        "one place only"
    );
    drop(first);
    assert_eq!(
        open(feed).await.status(),
        StatusCode::OK,
        "the place came back"
    );
}

fn near_zeitz(s: &mut aufruf_portal::PortalSettings) {
    s.remote_tickets = Some(aufruf_portal::settings::RemoteTickets {
        latitude: 51.0478,
        longitude: 12.1383,
        radius_m: 500.0,
    });
}

#[tokio::test]
async fn a_citizen_near_the_office_draws_one_ticket_by_phone_and_follows_it() {
    let site = Site::with(|s| {
        near_zeitz(s);
        s.attempts_per_account_per_minute = 50;
    });
    let mut erika = site.citizen("erika@example.org").await;
    let page = erika.get("/ticket").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(
        page.body
            .contains("<script src=\"/assets/locate.js\"></script>")
    );
    assert!(page.body.contains("value=\"reisepass\""));
    let here = |service: &'static str, lat: &'static str, acc: &'static str| {
        [
            ("service", service),
            ("latitude", lat),
            ("longitude", "12.1383"),
            ("accuracy", acc),
        ]
    };
    // Refused: too far, too coarse, no position, hostile numbers, no such matter.
    for (fields, says) in [
        (here("reisepass", "51.0600", "20"), "km vom Amt entfernt"),
        (
            here("reisepass", "51.0478", "2500"),
            "nur auf etwa 2500 m genau",
        ),
        (here("reisepass", "", ""), "keinen Standort"),
        (here("reisepass", "NaN", "10"), "keinen Standort"),
        (here("reisepass", "1e309", "10"), "keinen Standort"),
        (here("<script>", "51.0478", "10"), "Wählen Sie Ihr Anliegen"),
    ] {
        let page = erika.post("/ticket", &fields).await;
        assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY, "{fields:?}");
        assert!(page.body.contains(says), "{fields:?}: {}", page.body);
        assert!(!page.body.contains("<script>\""));
    }
    // Near enough: a ticket, and its page.
    let page = erika
        .post("/ticket", &here("reisepass", "51.0490", "30"))
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    let path = page.location().to_owned();
    assert!(path.starts_with("/t/"), "{path}");
    let ticket = erika.get(&path).await;
    assert_eq!(ticket.status, StatusCode::OK);
    assert!(ticket.body.contains("Ihre Wartemarke") && ticket.body.contains("Reisepass"));
    // One open ticket per account.
    let page = erika
        .post("/ticket", &here("reisepass", "51.0490", "30"))
        .await;
    assert_eq!(page.status, StatusCode::CONFLICT);
    assert!(
        page.body.contains(&format!("href=\"{path}\"")),
        "{}",
        page.body
    );
    assert_eq!(erika.get("/ticket").await.status, StatusCode::CONFLICT);
    // Called and served like any walk-in; once done, another may be drawn.
    let desk = DeskService::new(
        office_on(site.replica.clone(), "desk-1", Role::Desk),
        DeskId::new("desk-1"),
        at(2026, 11, 23, 10, 0),
    )
    .unwrap();
    desk.act(
        at(2026, 11, 23, 10, 1),
        DeskAction::Open { services: vec![] },
    )
    .unwrap();
    let view = desk
        .act(at(2026, 11, 23, 10, 2), DeskAction::CallNext)
        .unwrap();
    assert!(view.current.is_some(), "the phone's ticket is called");
    assert!(erika.get(&path).await.body.contains("Bitte zu Platz 1"));
    desk.act(at(2026, 11, 23, 10, 3), DeskAction::Serving)
        .unwrap();
    desk.act(at(2026, 11, 23, 10, 9), DeskAction::Done).unwrap();
    erika.get("/ticket").await;
    let page = erika
        .post("/ticket", &here("reisepass", "51.0490", "30"))
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    assert_ne!(page.location(), path);
}

#[tokio::test]
async fn tickets_by_phone_need_a_login_and_an_office_that_offers_them() {
    let site = Site::new();
    let mut anonymous = site.browser();
    assert!(
        anonymous
            .get("/ticket")
            .await
            .location()
            .starts_with("/login")
    );
    let mut erika = site.citizen("erika@example.org").await;
    let page = erika.get("/ticket").await;
    assert_eq!(page.status, StatusCode::NOT_FOUND);
    assert!(page.body.contains("Keine Wartemarken per Handy"));
    let fields = [
        ("service", "reisepass"),
        ("latitude", "51.0478"),
        ("longitude", "12.1383"),
        ("accuracy", "10"),
    ];
    assert_eq!(
        erika.post("/ticket", &fields).await.status,
        StatusCode::NOT_FOUND
    );
    // Tries are counted per account, as logins are (5 a minute by default).
    let mut statuses = Vec::new();
    for _ in 0..5 {
        statuses.push(erika.post("/ticket", &fields).await.status);
    }
    assert_eq!(
        statuses.last(),
        Some(&StatusCode::TOO_MANY_REQUESTS),
        "{statuses:?}"
    );
}

#[tokio::test]
async fn the_phone_form_says_which_matters_have_no_more_tickets_today_before_one_is_chosen() {
    let site = Site::with(near_zeitz);
    // Monday: the Bürgerbüro closes at 18:00. At 17:40 one desk serves.
    let late = at(2026, 11, 23, 17, 40);
    site.set_time(late);
    let desk = DeskService::new(
        office_on(site.replica.clone(), "desk-1", Role::Desk),
        DeskId::new("desk-1"),
        late,
    )
    .unwrap();
    desk.act(late, DeskAction::Open { services: vec![] })
        .unwrap();
    let mut erika = site.citizen("erika@example.org").await;
    let page = erika.get("/ticket").await;
    assert!(
        page.body.contains("value=\"reisepass\">"),
        "offered: {}",
        page.body
    );
    // The Kita department does not open on Mondays: said so before, too.
    assert!(page.body.contains("value=\"kita-platz\" disabled"));
    // The foyer's kiosk issues until a new passport ticket would pass closing.
    let kiosk = KioskService::new(
        office_on(site.replica.clone(), "kiosk-1", Role::Kiosk),
        None,
        None,
    );
    let reisepass = ServiceId::new("reisepass");
    for drawn in 0.. {
        assert!(drawn < 20, "still issuing after {drawn}");
        match kiosk.draw_ticket(late, &reisepass, Wish::Qr, Language::De) {
            Ok(_) => {}
            Err(aufruf_office::ServiceError::NoMoreToday { .. }) => break,
            Err(e) => panic!("{e}"),
        }
    }
    site.door.gateway.office().refresh(late);
    let page = erika.get("/ticket").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.body
            .contains("value=\"reisepass\" disabled aria-describedby=\"service-reisepass-hint\""),
        "{}",
        page.body
    );
    assert!(
        page.body
            .contains("Heute keine Wartemarken mehr für dieses Anliegen (Schluss um 18:00)")
    );
    // Sent anyway (a page left open, a forged form): refused all the same.
    let page = erika
        .post(
            "/ticket",
            &[
                ("service", "reisepass"),
                ("latitude", "51.0480"),
                ("longitude", "12.1383"),
                ("accuracy", "20"),
            ],
        )
        .await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.body.contains("Heute keine Wartemarken mehr"));
}
