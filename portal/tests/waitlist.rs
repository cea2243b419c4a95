//! Waitlists through the pages: a citizen waits for a fully booked day; a freed place
//! is offered to the first in line by mail, held for them, taken with the mail's
//! link, or passed on to the next in line once the hold runs out; and what a hostile
//! or unlucky client tries.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use crate::common;

use axum::http::StatusCode;
use chrono::NaiveDate;
use common::{Browser, Site, at};

use aufruf_portal::settings::DepartmentRules;

/// The Kita department with one appointment a day (Thursdays 09:00, one place), so a
/// day is fully booked at once. The tests try more than the default five joins a
/// minute.
fn site() -> Site {
    Site::with(|s| {
        s.attempts_per_account_per_minute = 50;
        s.departments.insert(
            "kita".into(),
            DepartmentRules {
                slot_minutes: Some(600),
                appointments_per_slot: Some(1),
                ..Default::default()
            },
        );
    })
}

const DAY: &str = "2026-11-26";

fn thursday() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 11, 26).unwrap()
}

async fn join(b: &mut Browser) -> common::Page {
    b.get(&format!("/book/service/kita-platz?day={DAY}")).await;
    b.post("/book/waitlist", &[("service", "kita-platz"), ("day", DAY)])
        .await
}

/// Erika takes Thursday's only place; Max, then Anna wait for it.
async fn full_thursday(site: &Site) -> (Browser, String, Browser, Browser) {
    let mut erika = site.citizen("erika@example.org").await;
    let code = erika.book("kita-platz", DAY, "09:00").await.booking_code();
    assert_eq!(code.len(), 8, "booked");
    let mut max = site.citizen("max@example.org").await;
    let page = max
        .get(&format!("/book/service/kita-platz?day={DAY}"))
        .await;
    assert!(
        page.body.contains("action=\"/book/waitlist\""),
        "{}",
        page.body
    );
    assert!(page.body.contains("Auf die Warteliste"));
    let page = join(&mut max).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains("Sie stehen auf der Warteliste"));
    // Again: still once, and still first.
    assert_eq!(join(&mut max).await.status, StatusCode::OK);
    let mut anna = site.citizen("anna@example.org").await;
    assert_eq!(join(&mut anna).await.status, StatusCode::OK);
    let waiting = site.portal.store.waiting("kita-platz", thursday()).unwrap();
    let order: Vec<_> = waiting.iter().map(|w| w.account.clone()).collect();
    let id = |email| {
        site.portal
            .store
            .account_by_email(email)
            .unwrap()
            .unwrap()
            .id
    };
    assert_eq!(order, [id("max@example.org"), id("anna@example.org")]);
    (erika, code, max, anna)
}

fn offers_to(site: &Site, email: &str) -> Vec<aufruf_portal::mail::Mail> {
    site.mails_to(email)
        .into_iter()
        .filter(|m| m.subject.starts_with("Termin frei geworden"))
        .collect()
}

#[tokio::test]
async fn a_freed_place_goes_to_the_first_in_line_who_takes_it_with_the_mails_link() {
    let site = site();
    let (mut erika, code, mut max, mut anna) = full_thursday(&site).await;
    // Not signed in: no waitlist form, and the form's route sends to the login.
    let mut stranger = site.browser();
    let page = stranger
        .get(&format!("/book/service/kita-platz?day={DAY}"))
        .await;
    assert!(!page.body.contains("/book/waitlist"));
    let page = stranger
        .post("/book/waitlist", &[("service", "kita-platz"), ("day", DAY)])
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    assert!(page.location().starts_with("/login"), "{}", page.location());

    // Erika cancels: the place is held for the cool-down, then owed to the waitlist.
    erika.get(&format!("/bookings/{code}")).await;
    let page = erika.post(&format!("/bookings/{code}/cancel"), &[]).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    assert_eq!(
        site.portal.offer_free_places().unwrap(),
        0,
        "in its cool-down"
    );
    site.set_time(at(2026, 11, 23, 10, 31));
    // Someone else sees no free time and cannot book it.
    let mut carl = site.citizen("carl@example.org").await;
    let page = carl
        .get(&format!("/book/service/kita-platz?day={DAY}"))
        .await;
    assert!(page.body.contains("nichts mehr frei"), "{}", page.body);
    let page = carl.book("kita-platz", DAY, "09:00").await;
    assert_eq!(page.status, StatusCode::CONFLICT, "{}", page.body);

    // The first in line gets the offer, and only they.
    assert_eq!(site.portal.offer_free_places().unwrap(), 1);
    assert_eq!(site.portal.offer_free_places().unwrap(), 0, "held for Max");
    let offer = offers_to(&site, "max@example.org");
    assert_eq!(offer.len(), 1);
    assert!(
        offer[0].subject.contains("26.11.2026 um 09:00"),
        "{}",
        offer[0].subject
    );
    assert!(
        offer[0].text.contains("bis 23.11.2026 12:31 Uhr"),
        "{}",
        offer[0].text
    );
    assert!(offers_to(&site, "anna@example.org").is_empty());
    let link = site.link_in_last_mail("max@example.org", "/w/");
    let (prefix, signature) = link.rsplit_once('/').unwrap();
    let offered = prefix.trim_start_matches("/w/").to_owned();

    // Forged links are as unknown as none, also posted with a valid CSRF token.
    let mut phone = site.browser();
    for bad in [
        format!("{prefix}/{}", "0".repeat(32)),
        format!("{prefix}/{signature}0"),
        format!("/w/AAAAAAAA/{signature}"),
        format!("/c/{offered}/{signature}"),
    ] {
        assert_eq!(phone.get(&bad).await.status, StatusCode::NOT_FOUND, "{bad}");
        phone.get(&link).await;
        assert_eq!(
            phone.post(&bad, &[]).await.status,
            StatusCode::NOT_FOUND,
            "{bad}"
        );
    }
    // Opening the link takes nothing (mail scanners open links); without the page's
    // CSRF token nothing is taken either.
    let page = phone.get(&link).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains("Termin verbindlich übernehmen"));
    assert!(page.body.contains("bis 12:31 Uhr"), "{}", page.body);
    assert!(site.portal.store.booking(&offered).unwrap().is_none());
    assert_eq!(
        phone.post_raw(&link, "").await.status,
        StatusCode::FORBIDDEN
    );
    phone.get(&link).await;
    let page = phone.post(&link, &[]).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains("Termin gebucht") && page.body.contains(&offered));
    let booking = site.portal.store.booking(&offered).unwrap().unwrap();
    assert_eq!(
        booking.account,
        site.portal
            .store
            .account_by_email("max@example.org")
            .unwrap()
            .unwrap()
            .id
    );
    assert!(
        site.door
            .booked
            .lock()
            .unwrap()
            .iter()
            .any(|(_, a)| a.code.as_str() == offered),
        "the office has it"
    );
    let confirmation = site.mails_to("max@example.org").pop().unwrap();
    assert!(
        confirmation.subject.contains(&offered),
        "{}",
        confirmation.subject
    );
    // Taken once; the link now says so.
    let page = phone.post(&link, &[]).await;
    assert_eq!(page.status, StatusCode::GONE);
    assert_eq!(phone.get(&link).await.status, StatusCode::GONE);

    // Max left the waitlist with the offer; Anna still waits, and can stop.
    assert!(!max.get("/account").await.body.contains("Ihre Wartelisten"));
    let page = anna.get("/account").await;
    assert!(
        page.body.contains("Ihre Wartelisten") && page.body.contains("Kita"),
        "{}",
        page.body
    );
    let leave = [("service", "kita-platz"), ("day", DAY)];
    let page = anna.post("/account/waitlist/leave", &leave).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    assert!(
        site.portal
            .store
            .waiting("kita-platz", thursday())
            .unwrap()
            .is_empty()
    );
    anna.get("/account").await;
    let page = anna.post("/account/waitlist/leave", &leave).await;
    assert_eq!(page.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn an_offer_not_taken_in_time_goes_to_the_next_in_line() {
    let site = site();
    let (mut erika, code, _max, _anna) = full_thursday(&site).await;
    erika.get(&format!("/bookings/{code}")).await;
    erika.post(&format!("/bookings/{code}/cancel"), &[]).await;
    site.set_time(at(2026, 11, 23, 10, 31));
    assert_eq!(site.portal.offer_free_places().unwrap(), 1);
    let link = site.link_in_last_mail("max@example.org", "/w/");
    // Two hours later the hold is over: Anna is offered the place.
    site.set_time(at(2026, 11, 23, 12, 31));
    assert_eq!(site.portal.offer_free_places().unwrap(), 1);
    assert_eq!(offers_to(&site, "anna@example.org").len(), 1);
    let mut phone = site.browser();
    let page = phone.get(&link).await;
    assert_eq!(page.status, StatusCode::GONE, "{}", page.body);
    assert!(page.body.contains("gilt nicht mehr"));
    // Max's old offer page had a form: posting it now takes nothing.
    site.set_time(at(2026, 11, 23, 12, 0));
    phone.get(&link).await;
    site.set_time(at(2026, 11, 23, 12, 32));
    assert_eq!(phone.post(&link, &[]).await.status, StatusCode::GONE);
    // The expired offer leaves the store with the next sweep.
    let swept = site.portal.store.sweep(site.portal.now_ms()).unwrap();
    assert!(swept >= 1);
    let anna_link = site.link_in_last_mail("anna@example.org", "/w/");
    phone.get(&anna_link).await;
    assert_eq!(phone.post(&anna_link, &[]).await.status, StatusCode::OK);
}

#[tokio::test]
async fn a_waitlist_takes_only_a_fully_booked_day_and_ends_with_it() {
    let site = site();
    let mut moritz = site.citizen("moritz@example.org").await;
    // A day with a free time: book it instead.
    let page = join(&mut moritz).await;
    assert_eq!(page.status, StatusCode::CONFLICT, "{}", page.body);
    assert!(page.body.contains("Zeiten frei"), "{}", page.body);
    // A day without any appointment (no Kita on Wednesdays) offers no waitlist.
    let page = moritz.get("/book/service/kita-platz?day=2026-11-25").await;
    assert!(page.body.contains("nichts mehr frei"), "{}", page.body);
    assert!(!page.body.contains("/book/waitlist"));
    for (service, day, status) in [
        ("kita-platz", "26.11.2026", StatusCode::BAD_REQUEST),
        ("kita-platz", "2026-11-20", StatusCode::BAD_REQUEST),
        ("kita-platz", "2031-11-27", StatusCode::BAD_REQUEST),
        ("kita-platz", "2026-11-25", StatusCode::BAD_REQUEST), // no Kita on Wednesdays
        ("<script>", DAY, StatusCode::NOT_FOUND),
    ] {
        moritz.get("/account").await;
        let page = moritz
            .post("/book/waitlist", &[("service", service), ("day", day)])
            .await;
        assert_eq!(page.status, status, "{service} {day}: {}", page.body);
    }
    let (_erika, _code, _max, mut anna) = full_thursday(&site).await;
    // An unconfirmed account waits for nothing.
    let mut account = site
        .portal
        .store
        .account_by_email("anna@example.org")
        .unwrap()
        .unwrap();
    account.verified = false;
    let refused = site
        .portal
        .join_waitlist(
            &account,
            "kita-platz",
            thursday(),
            aufruf_portal::i18n::Lang::De,
        )
        .unwrap();
    assert_eq!(
        refused,
        Err(aufruf_portal::waitlist::WaitRefusal::NotVerified)
    );
    // Thursday passes with nobody freeing a place: its waitlist ends.
    site.set_time(at(2026, 11, 27, 8, 0));
    assert_eq!(site.portal.offer_free_places().unwrap(), 0);
    assert!(site.portal.store.waitlists().unwrap().is_empty());
    assert!(!anna.get("/account").await.body.contains("Ihre Wartelisten"));
}

#[tokio::test]
async fn deleting_the_account_takes_it_off_every_waitlist_and_frees_its_offer() {
    let site = site();
    let (mut erika, code, mut max, _anna) = full_thursday(&site).await;
    erika.get(&format!("/bookings/{code}")).await;
    erika.post(&format!("/bookings/{code}/cancel"), &[]).await;
    site.set_time(at(2026, 11, 23, 10, 31));
    assert_eq!(site.portal.offer_free_places().unwrap(), 1, "to Max");
    max.get("/account/delete").await;
    let page = max
        .post("/account/delete", &[("password", "sicheres Passwort 1")])
        .await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    // Max's held place is free at once, for Anna, next in line.
    assert_eq!(site.portal.offer_free_places().unwrap(), 1);
    assert_eq!(offers_to(&site, "anna@example.org").len(), 1);
    let mut anna = site.browser();
    let link = site.link_in_last_mail("anna@example.org", "/w/");
    anna.get(&link).await;
    assert_eq!(anna.post(&link, &[]).await.status, StatusCode::OK);
    assert!(site.portal.store.waitlists().unwrap().is_empty());
}

#[tokio::test]
async fn joins_are_rate_limited_per_account() {
    let site = Site::with(|s| s.attempts_per_account_per_minute = 3);
    let mut max = site.citizen("max@example.org").await;
    for _ in 0..3 {
        // Refused for its free times, but counted.
        assert_eq!(join(&mut max).await.status, StatusCode::CONFLICT);
    }
    let page = join(&mut max).await;
    assert_eq!(page.status, StatusCode::TOO_MANY_REQUESTS, "{}", page.body);
}
