//! Booking through the pages: department → service → day → time → confirmation, the
//! mail with its `.ics`, the office's day, cancelling, and what a hostile client tries.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use crate::common;

use aufruf_hardware::Language;
use aufruf_model::Role;
use aufruf_office::{KioskService, Wish};
use axum::http::StatusCode;
use common::{Site, at, office_on};

#[tokio::test]
async fn a_citizen_books_a_passport_appointment_and_checks_in_with_the_code_at_the_kiosk() {
    let site = Site::new();
    let mut b = site.citizen("erika@example.org").await;
    let page = b.get("/book").await;
    assert!(
        page.body.contains("href=\"/book/department/buergerbuero\""),
        "{}",
        page.body
    );
    let page = b.get("/book/department/buergerbuero").await;
    assert!(page.body.contains("href=\"/book/service/reisepass\""));
    // Today (Monday 10:00) lies within the 24-hour lead; Tuesday is the first day.
    let page = b.get("/book/service/reisepass").await;
    assert!(!page.body.contains("day=2026-11-23"), "{}", page.body);
    assert!(
        page.body
            .contains("href=\"/book/service/reisepass?day=2026-11-24\"")
    );
    assert!(!page.body.contains("day=2026-12-24"), "a holiday");
    let page = b.get("/book/service/reisepass?day=2026-11-24").await;
    assert!(
        !page.body.contains("value=\"09:45\""),
        "within the lead: {}",
        page.body
    );
    assert!(
        page.body
            .contains("id=\"time-10:00\" name=\"time\" value=\"10:00\"")
    );
    assert!(page.body.contains("<legend class=\"kern-label\">"));
    let page = b.book("reisepass", "2026-11-24", "10:00").await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    let confirmation = b.get(page.location()).await;
    assert_eq!(confirmation.status, StatusCode::OK);
    let code = page.booking_code();
    assert_eq!(code.len(), 8);
    assert!(
        confirmation
            .body
            .contains(&format!("<p class=\"portal-code\">{code}</p>"))
    );
    assert!(confirmation.body.contains("Termin gebucht"));
    assert!(confirmation.body.contains(&format!(
        "src=\"/bookings/{code}/qr.png\" alt=\"QR-Code des Buchungscodes {code}\""
    )));
    let qr = b.get(&format!("/bookings/{code}/qr.png")).await;
    assert_eq!(qr.status, StatusCode::OK);
    assert_eq!(qr.headers["content-type"], "image/png");
    // The mail: code, time, and a calendar entry.
    let mail = site.mails_to("erika@example.org").pop().unwrap();
    assert!(
        mail.subject.contains(&code)
            && mail.subject.contains("24.11.2026")
            && mail.subject.contains("10:00"),
        "{}",
        mail.subject
    );
    assert!(mail.text.contains(&format!("Buchungscode: {code}")));
    assert_eq!(mail.attachments[0].file_name, format!("{code}.png"));
    assert!(mail.attachments[0].body.starts_with(b"\x89PNG"));
    // The calendar entry, read by an iCalendar parser as a calendar program would.
    assert_eq!(mail.attachments[1].file_name, "termin.ics");
    let body = mail.attachments[1].body.as_slice();
    let mut calendars = ical::IcalParser::new(std::io::BufReader::new(body));
    let calendar = calendars
        .next()
        .expect("one calendar")
        .expect("a valid calendar");
    assert!(calendars.next().is_none());
    let [event] = calendar.events.as_slice() else {
        panic!("one event: {:?}", calendar.events);
    };
    let property = |name: &str| {
        event
            .properties
            .iter()
            .find(|p| p.name == name)
            .and_then(|p| p.value.clone())
            .unwrap_or_else(|| panic!("{name} in {:?}", event.properties))
    };
    assert_eq!(
        property("DTSTART"),
        "20261124T090000Z",
        "10:00 in Zeitz is 09:00 UTC"
    );
    assert_eq!(
        property("DTEND"),
        "20261124T090800Z",
        "a passport takes 8 minutes"
    );
    assert_eq!(property("UID"), format!("{code}@aufruf"));
    assert!(
        property("SUMMARY").contains("Reisepass"),
        "{}",
        property("SUMMARY")
    );
    assert!(!property("LOCATION").is_empty());
    assert!(
        calendar
            .properties
            .iter()
            .any(|p| p.name == "VERSION" && p.value.as_deref() == Some("2.0"))
    );
    // The office has it: the kiosk checks the citizen in by the code on the day.
    let booked = site.door.booked.lock().unwrap().clone();
    assert_eq!(booked.len(), 1);
    assert_eq!(booked[0].1.code.as_str(), code);
    let kiosk = KioskService::new(
        office_on(site.replica.clone(), "kiosk-1", Role::Kiosk),
        None,
        None,
    );
    let issued = kiosk
        .check_in(
            at(2026, 11, 24, 9, 40),
            &code.to_lowercase(),
            Wish::Qr,
            Language::De,
        )
        .unwrap();
    assert_eq!(issued.ticket.appointment.as_deref(), Some("10:00"));
    // The account lists it.
    let account = b.get("/account").await;
    assert!(account.body.contains(&format!("href=\"/bookings/{code}\"")));
    assert!(account.body.contains("24.11.2026 10:00"));
}

#[tokio::test]
async fn a_slot_takes_no_more_than_its_capacity_and_a_cancelled_place_returns_after_a_cool_down() {
    let site = Site::new();
    // Capacity 2 per start time (set by the test site).
    let mut codes = Vec::new();
    for who in ["a@example.org", "b@example.org"] {
        let mut b = site.citizen(who).await;
        b.get("/book/service/anmeldung?day=2026-11-24").await;
        let page = b.book("anmeldung", "2026-11-24", "11:00").await;
        assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
        codes.push((b, page.booking_code()));
    }
    let mut third = site.citizen("c@example.org").await;
    let page = third.get("/book/service/anmeldung?day=2026-11-24").await;
    assert!(!page.body.contains("value=\"11:00\""), "full: not offered");
    let page = third.book("anmeldung", "2026-11-24", "11:00").await;
    assert_eq!(page.status, StatusCode::CONFLICT);
    assert!(page.body.contains("inzwischen vergeben"), "{}", page.body);
    // Another service of the department shares the desks, so the slot is full for it too.
    let page = third.book("reisepass", "2026-11-24", "11:00").await;
    assert_eq!(page.status, StatusCode::CONFLICT);
    // The first citizen cancels.
    let (mut first, code) = codes.remove(0);
    first.get(&format!("/bookings/{code}")).await;
    let page = first.post(&format!("/bookings/{code}/cancel"), &[]).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    assert!(first.get("/account").await.body.contains("abgesagt"));
    let page = first.get(&format!("/bookings/{code}")).await;
    assert!(
        !page.body.contains("/cancel\""),
        "no cancel button for a cancelled booking"
    );
    // Its place is neither offered nor bookable during the 30 minutes' cool-down (a
    // trader who cancels for a buyer cannot hand it over), and returns after it.
    let offered = |page: &common::Page| page.body.contains("value=\"11:00\"");
    assert!(!offered(
        &third.get("/book/service/anmeldung?day=2026-11-24").await
    ));
    let page = third.book("anmeldung", "2026-11-24", "11:00").await;
    assert_eq!(page.status, StatusCode::CONFLICT);
    site.set_time(at(2026, 11, 23, 10, 29));
    assert!(!offered(
        &third.get("/book/service/anmeldung?day=2026-11-24").await
    ));
    site.set_time(at(2026, 11, 23, 10, 30));
    assert!(offered(
        &third.get("/book/service/anmeldung?day=2026-11-24").await
    ));
    let page = third.book("anmeldung", "2026-11-24", "11:00").await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    // Full again: the hold that ran out made room for exactly one.
    let page = first.book("anmeldung", "2026-11-24", "11:00").await;
    assert_eq!(page.status, StatusCode::CONFLICT);
}

#[tokio::test]
async fn dates_and_times_outside_the_rules_are_refused() {
    let site = Site::new();
    let mut b = site.citizen("erika@example.org").await;
    b.get("/book/service/reisepass?day=2026-11-24").await;
    let cases = [
        ("2026-11-24", "09:45", StatusCode::CONFLICT), // within the 24-hour lead
        ("2026-11-20", "10:00", StatusCode::CONFLICT), // past
        ("2027-03-01", "10:00", StatusCode::CONFLICT), // beyond the 90-day horizon
        ("2026-11-24", "03:00", StatusCode::CONFLICT), // office closed
        ("2026-11-24", "10:07", StatusCode::CONFLICT), // not a start time
        ("2026-11-24", "17:55", StatusCode::CONFLICT), // the service would run past closing
        ("2026-12-24", "10:00", StatusCode::CONFLICT), // holiday
        ("2026-11-24", "", StatusCode::CONFLICT),      // no time chosen
        ("2026-11-24", "25:99", StatusCode::CONFLICT), // no time at all
        ("2026-13-45", "10:00", StatusCode::CONFLICT), // no date at all
        ("2026-11-24", "<script>", StatusCode::CONFLICT),
    ];
    for (day, time, status) in cases {
        // A fresh page each time: each answer to the proof of work is taken once.
        b.get("/book/service/reisepass?day=2026-11-24").await;
        let page = b
            .post(
                "/book",
                &[("service", "reisepass"), ("day", day), ("time", time)],
            )
            .await;
        assert_eq!(page.status, status, "{day} {time}: {}", page.body);
        assert!(!page.body.contains("<script>"));
        assert!(
            page.body.contains("kern-error"),
            "{day} {time}: the error is tied to the field"
        );
        assert!(
            page.body.contains("aria-describedby=\"time-error\""),
            "{day} {time}"
        );
    }
    let page = b.book("<img src=x>", "2026-11-24", "10:00").await;
    assert_eq!(page.status, StatusCode::NOT_FOUND);
    assert!(!page.body.contains("<img"));
    for path in [
        "/book/service/reisepass?day=yesterday",
        "/book/service/reisepass?day=2026-11-20",
        "/book/service/reisepass?day=2027-06-01",
    ] {
        assert_eq!(b.get(path).await.status, StatusCode::BAD_REQUEST, "{path}");
    }
    assert_eq!(
        b.get("/book/service/nope").await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        b.get("/book/department/nope").await.status,
        StatusCode::NOT_FOUND
    );
    assert!(
        site.door.booked.lock().unwrap().is_empty(),
        "nothing reached the office"
    );
}

#[tokio::test]
async fn nobody_sees_or_cancels_another_accounts_booking() {
    let site = Site::new();
    let mut erika = site.citizen("erika@example.org").await;
    erika.get("/book/service/reisepass?day=2026-11-24").await;
    let page = erika.book("reisepass", "2026-11-24", "10:00").await;
    let code = page.booking_code();
    let mut max = site.citizen("max@example.org").await;
    assert_eq!(
        max.get(&format!("/bookings/{code}")).await.status,
        StatusCode::NOT_FOUND
    );
    max.get("/account").await;
    assert_eq!(
        max.post(&format!("/bookings/{code}/cancel"), &[])
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        max.post("/bookings/..%2F..%2Fa/cancel", &[]).await.status,
        StatusCode::NOT_FOUND
    );
    assert!(
        erika
            .get(&format!("/bookings/{code}"))
            .await
            .body
            .contains("Termin absagen"),
        "still booked"
    );
}

#[tokio::test]
async fn a_booking_takes_a_solved_challenge_and_each_only_once() {
    let site = Site::new();
    let mut b = site.citizen("erika@example.org").await;
    b.get("/book/service/reisepass?day=2026-11-24").await;
    let answer = aufruf_portal::pow::solve_page(&b.last).unwrap();
    let at = |time| {
        [
            ("service", "reisepass"),
            ("day", "2026-11-24"),
            ("time", time),
        ]
    };
    // Without an answer (no JavaScript): the times again, the reason tied to them.
    let [s, d, t] = at("10:00");
    let page = b.post("/book", &[s, d, t, ("pow", "")]).await;
    assert_eq!(page.status, StatusCode::CONFLICT);
    assert!(
        page.body.contains("erlauben Sie JavaScript"),
        "{}",
        page.body
    );
    assert!(page.body.contains("aria-describedby=\"time-error\""));
    assert!(site.door.booked.lock().unwrap().is_empty());
    let page = b.post("/book", &[s, d, t, ("pow", &answer)]).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    // The same answer for another time: refused, nothing more booked.
    let [s, d, t] = at("10:15");
    let page = b.post("/book", &[s, d, t, ("pow", &answer)]).await;
    assert_eq!(page.status, StatusCode::CONFLICT);
    assert!(page.body.contains("Sicherheitsprüfung ist abgelaufen"));
    assert_eq!(site.door.booked.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn the_mails_cancel_link_cancels_without_a_login_once_confirmed() {
    let site = Site::new();
    let mut erika = site.citizen("erika@example.org").await;
    let code = erika
        .book("reisepass", "2026-11-24", "10:00")
        .await
        .booking_code();
    let link = site.link_in_last_mail("erika@example.org", "/c/");
    assert!(link.starts_with(&format!("/c/{code}/")), "{link}");
    // Opened on another device, without a login: the booking and a button, no QR.
    let mut phone = site.browser();
    let page = phone.get(&link).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains(&code) && page.body.contains("Termin absagen"));
    assert!(page.body.contains(&format!("action=\"{link}\"")));
    assert!(
        !page.body.contains("qr.png"),
        "the QR image is the owner's only"
    );
    // Opening it cancels nothing: mail scanners and link previews open links too.
    assert!(site.door.cancelled.lock().unwrap().is_empty());
    // Another signature, another code with this signature: as unknown as no page.
    let (prefix, signature) = link.rsplit_once('/').unwrap();
    for bad in [
        format!("{prefix}/{}", "0".repeat(32)),
        format!("{prefix}/{signature}0"),
        format!("{prefix}/{}", &signature[..31]),
        format!("/c/AAAAAAAA/{signature}"),
        format!("/c/{}/{signature}", code.to_lowercase()),
    ] {
        assert_eq!(phone.get(&bad).await.status, StatusCode::NOT_FOUND, "{bad}");
        let page = phone.post(&bad, &[]).await;
        assert_eq!(page.status, StatusCode::NOT_FOUND, "{bad}");
    }
    // Without the page's CSRF token: refused before anything is done.
    let page = phone.post_raw(&link, "").await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    assert!(site.door.cancelled.lock().unwrap().is_empty());
    phone.get(&link).await;
    let page = phone.post(&link, &[]).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains("Termin abgesagt"), "{}", page.body);
    assert_eq!(site.door.cancelled.lock().unwrap().len(), 1);
    assert!(erika.get("/account").await.body.contains("abgesagt"));
    // The link again: the cancelled booking, no button; confirming again does nothing.
    let page = phone.get(&link).await;
    assert!(page.body.contains("Abgesagter Termin"));
    assert!(!page.body.contains("Termin absagen"));
    let page = phone.post(&link, &[]).await;
    assert!(page.body.contains("Abgesagter Termin"));
    assert_eq!(site.door.cancelled.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn a_booking_moves_to_another_time_in_one_step_even_at_the_limit() {
    // One open booking per account: the one being moved does not count.
    let site = Site::with(|s| s.open_bookings_per_account = 1);
    let mut erika = site.citizen("erika@example.org").await;
    let old = erika
        .book("reisepass", "2026-11-24", "10:00")
        .await
        .booking_code();
    let page = erika.get(&format!("/bookings/{old}")).await;
    assert!(
        page.body
            .contains(&format!("href=\"/bookings/{old}/move\""))
    );
    let page = erika.get(&format!("/bookings/{old}/move")).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.body
            .contains(&format!("/bookings/{old}/move?day=2026-11-25"))
    );
    let page = erika
        .get(&format!("/bookings/{old}/move?day=2026-11-25"))
        .await;
    assert!(
        page.body
            .contains(&format!("action=\"/bookings/{old}/move\""))
    );
    assert!(page.body.contains("value=\"11:00\""));
    let fields = [("day", "2026-11-25"), ("time", "11:00")];
    let page = erika.post(&format!("/bookings/{old}/move"), &fields).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    let new = page.booking_code();
    assert_ne!(new, old, "a new code: the kiosk cannot mistake the two");
    // The old one is cancelled, its place held; the office heard of both.
    let store = &site.portal.store;
    assert!(store.booking(&old).unwrap().unwrap().cancelled);
    assert!(!store.booking(&new).unwrap().unwrap().cancelled);
    assert!(
        site.door
            .booked
            .lock()
            .unwrap()
            .iter()
            .any(|(_, a)| a.code.as_str() == new)
    );
    let cancelled = site.door.cancelled.lock().unwrap().clone();
    assert_eq!(cancelled.len(), 1);
    assert_eq!(cancelled[0].1.code.as_str(), old);
    let mail = site.mails_to("erika@example.org").pop().unwrap();
    assert!(mail.subject.contains(&new) && mail.subject.contains("25.11.2026"));
    assert!(
        mail.text.contains("verschoben") && mail.text.contains(&old),
        "{}",
        mail.text
    );
    // A cancelled booking moves no more; another account's is unknown.
    assert_eq!(
        erika.get(&format!("/bookings/{old}/move")).await.status,
        StatusCode::NOT_FOUND
    );
    let mut max = site.citizen("max@example.org").await;
    assert_eq!(
        max.get(&format!("/bookings/{new}/move")).await.status,
        StatusCode::NOT_FOUND
    );
    max.get("/book/service/reisepass?day=2026-11-25").await;
    let page = max.post(&format!("/bookings/{new}/move"), &fields).await;
    assert_eq!(page.status, StatusCode::NOT_FOUND);
    // To a full start time: refused, and the booking stays where it was.
    assert_eq!(
        max.book("reisepass", "2026-11-25", "11:15").await.status,
        StatusCode::SEE_OTHER
    );
    let mut third = site.citizen("c@example.org").await;
    assert_eq!(
        third.book("reisepass", "2026-11-25", "11:15").await.status,
        StatusCode::SEE_OTHER
    );
    erika
        .get(&format!("/bookings/{new}/move?day=2026-11-25"))
        .await;
    let fields = [("day", "2026-11-25"), ("time", "11:15")];
    let page = erika.post(&format!("/bookings/{new}/move"), &fields).await;
    assert_eq!(page.status, StatusCode::CONFLICT);
    assert!(page.body.contains("inzwischen vergeben"), "{}", page.body);
    assert!(!store.booking(&new).unwrap().unwrap().cancelled);
    assert_eq!(site.door.cancelled.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn without_a_cool_down_a_cancelled_place_returns_at_once() {
    let site = Site::with(|s| s.cancelled_place_returns_after_minutes = 0);
    let mut erika = site.citizen("erika@example.org").await;
    let code = erika
        .book("reisepass", "2026-11-24", "11:00")
        .await
        .booking_code();
    erika.get(&format!("/bookings/{code}")).await;
    erika.post(&format!("/bookings/{code}/cancel"), &[]).await;
    let mut max = site.citizen("max@example.org").await;
    let page = max.get("/book/service/reisepass?day=2026-11-24").await;
    assert!(page.body.contains("value=\"11:00\""));
}

#[tokio::test]
async fn an_account_holds_only_so_many_open_bookings() {
    let site = Site::with(|s| s.open_bookings_per_account = 2);
    let mut b = site.citizen("erika@example.org").await;
    for time in ["10:00", "10:15"] {
        let page = b.book("reisepass", "2026-11-24", time).await;
        assert_eq!(page.status, StatusCode::SEE_OTHER);
    }
    let page = b.book("reisepass", "2026-11-24", "10:30").await;
    assert_eq!(page.status, StatusCode::CONFLICT);
    assert!(
        page.body.contains("so viele offene Termine"),
        "{}",
        page.body
    );
    // Once an appointment is past, it no longer counts.
    site.set_time(at(2026, 11, 24, 10, 20));
    b.get("/book/service/reisepass?day=2026-11-26").await;
    let page = b.book("reisepass", "2026-11-26", "10:30").await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
}

#[tokio::test]
async fn deleting_the_account_removes_the_person_and_cancels_the_open_bookings() {
    let site = Site::new();
    let mut b = site.citizen("erika@example.org").await;
    b.get("/book/service/reisepass?day=2026-11-24").await;
    let page = b.book("reisepass", "2026-11-24", "10:00").await;
    let code = page.booking_code();
    b.get("/account/delete").await;
    let wrong = b.post("/account/delete", &[("password", "falsch")]).await;
    assert_eq!(wrong.status, StatusCode::UNPROCESSABLE_ENTITY);
    let page = b
        .post("/account/delete", &[("password", "sicheres Passwort 1")])
        .await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert_eq!(b.get("/account").await.location(), "/login");
    let store = &site.portal.store;
    assert!(
        store
            .account_by_email("erika@example.org")
            .unwrap()
            .is_none()
    );
    assert!(store.booking(&code).unwrap().is_none());
    assert!(
        store.reminders(u64::MAX).unwrap().is_empty(),
        "no reminder left"
    );
    let cancelled = site.door.cancelled.lock().unwrap().clone();
    assert_eq!(cancelled.len(), 1);
    assert_eq!(cancelled[0].1.code.as_str(), code);
    assert!(cancelled[0].1.cancelled);
    // The place is held for the cool-down, then free; nothing of Erika is in it.
    let place = |now_ms| {
        store.taken(
            "buergerbuero",
            chrono::NaiveDate::from_ymd_opt(2026, 11, 24).unwrap(),
            chrono::NaiveTime::from_hms_opt(10, 0, 0).unwrap(),
            now_ms,
        )
    };
    let now = site.portal.now_ms();
    assert_eq!(place(now), 1);
    assert_eq!(place(now + 30 * 60_000), 0);
    let mut fresh = site.browser();
    let login = fresh
        .fill(
            "/login",
            &[
                ("email", "erika@example.org"),
                ("password", "sicheres Passwort 1"),
            ],
        )
        .await;
    assert_eq!(login.status, StatusCode::UNAUTHORIZED);
    // The address can register again.
    let again = site.citizen("erika@example.org").await;
    drop(again);
}

#[tokio::test]
async fn a_reminder_goes_out_once_on_the_day_before_in_the_bookings_language() {
    let site = Site::new();
    let mut erika = site.citizen("erika@example.org").await;
    let thursday = erika
        .book("reisepass", "2026-11-26", "10:00")
        .await
        .booking_code();
    // Booked on Monday at ten for Tuesday: after Tuesday's reminder moment (Monday
    // at nine), so its confirmation is the reminder.
    let tuesday = erika
        .book("reisepass", "2026-11-24", "10:00")
        .await
        .booking_code();
    let mut max = site.citizen("max@example.org").await;
    max.accept_language = Some("en".into());
    let called_off = max
        .book("reisepass", "2026-11-26", "10:15")
        .await
        .booking_code();
    max.get(&format!("/bookings/{called_off}")).await;
    max.post(&format!("/bookings/{called_off}/cancel"), &[])
        .await;
    assert!(
        site.portal
            .store
            .booking(&called_off)
            .unwrap()
            .unwrap()
            .cancelled
    );
    let english = max
        .book("reisepass", "2026-11-26", "10:30")
        .await
        .booking_code();
    let mails = || site.mails.0.lock().unwrap().len();
    let before = mails();

    site.set_time(at(2026, 11, 24, 9, 30));
    assert_eq!(
        site.portal.send_reminders().unwrap(),
        0,
        "Tuesday's is not sent"
    );
    site.set_time(at(2026, 11, 25, 8, 59));
    assert_eq!(
        site.portal.send_reminders().unwrap(),
        0,
        "too early for Thursday's"
    );
    site.set_time(at(2026, 11, 25, 9, 0));
    assert_eq!(site.portal.send_reminders().unwrap(), 2);
    assert_eq!(site.portal.send_reminders().unwrap(), 0, "each only once");
    assert_eq!(mails(), before + 2);

    let to_erika = site.mails_to("erika@example.org").pop().unwrap();
    assert_eq!(
        to_erika.subject,
        format!("Erinnerung: Ihr Termin am 26.11.2026 um 10:00 Uhr – {thursday}")
    );
    assert!(to_erika.text.contains("Reisepass"), "{}", to_erika.text);
    assert!(!to_erika.text.contains(&tuesday));
    let to_max = site.mails_to("max@example.org").pop().unwrap();
    assert_eq!(
        to_max.subject,
        format!("Reminder: your appointment on 26.11.2026 at 10:30 – {english}")
    );
    assert!(!to_max.text.contains(&called_off));
    // Every reminder is done: none waits for a cancelled or a past booking.
    site.set_time(at(2026, 11, 26, 12, 0));
    assert_eq!(site.portal.send_reminders().unwrap(), 0);
    assert!(site.portal.store.reminders(u64::MAX).unwrap().is_empty());

    // Its link cancels without a login.
    let link = site.link_in_last_mail("erika@example.org", "/c/");
    assert!(link.starts_with(&format!("/c/{thursday}/")), "{link}");
    site.set_time(at(2026, 11, 25, 9, 5));
    let mut phone = site.browser();
    phone.get(&link).await;
    let page = phone.post(&link, &[]).await;
    assert!(page.body.contains("Termin abgesagt"), "{}", page.body);
}

#[tokio::test]
async fn without_reminders_none_go_out() {
    let site = Site::with(|s| s.reminders = false);
    let mut erika = site.citizen("erika@example.org").await;
    erika.book("reisepass", "2026-11-26", "10:00").await;
    site.set_time(at(2026, 11, 25, 9, 0));
    assert_eq!(site.portal.send_reminders().unwrap(), 0);
    assert!(
        site.mails_to("erika@example.org")
            .iter()
            .all(|m| !m.subject.starts_with("Erinnerung"))
    );
}

/// Several services in one appointment: added and taken out on the days page, their
/// lengths added up for the start times, the calendar entry and the office's day;
/// kept when the appointment moves; and what a hostile client tries with the list.
#[tokio::test]
async fn a_citizen_books_several_services_in_one_appointment() {
    let site = Site::new();
    let mut erika = site.citizen("erika@example.org").await;
    let page = erika.get("/book/service/reisepass").await;
    assert!(page.body.contains("Noch ein Anliegen im selben Termin?"));
    assert!(
        page.body.contains(
            "href=\"/book/service/reisepass?also=personalausweis\">Personalausweis hinzufügen (etwa 8 Minuten)</a>"
        ),
        "{}",
        page.body
    );
    assert!(
        !page.body.contains("also=kita-platz") && !page.body.contains("also=reisepass"),
        "only the department's other services"
    );
    let page = erika
        .get("/book/service/reisepass?also=personalausweis")
        .await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.body
            .contains("Reisepass, Personalausweis – etwa 16 Minuten")
    );
    assert!(
        page.body
            .contains("href=\"/book/service/reisepass\">Personalausweis wieder herausnehmen</a>")
    );
    assert!(
        page.body
            .contains("href=\"/book/service/reisepass?also=personalausweis&#38;day=2026-11-24\""),
        "{}",
        page.body
    );
    // Four services in all, then no more to add; 26 minutes end by six from 17:30.
    let four = "/book/service/reisepass?also=personalausweis,anmeldung,fuehrungszeugnis";
    let page = erika.get(four).await;
    assert!(!page.body.contains("hinzufügen"), "{}", page.body);
    let page = erika.get(&format!("{four}&day=2026-11-24")).await;
    assert!(page.body.contains("value=\"17:30\""));
    assert!(!page.body.contains("value=\"17:45\""), "past closing");
    assert!(
        page.body
            .contains("name=\"also\" value=\"personalausweis,anmeldung,fuehrungszeugnis\"")
    );
    let single = erika.get("/book/service/reisepass?day=2026-11-24").await;
    assert!(single.body.contains("value=\"17:45\""));
    assert!(!single.body.contains("name=\"also\""));

    // Booked: the page, the mail, the calendar entry and the office's day say both.
    erika
        .get("/book/service/reisepass?also=personalausweis&day=2026-11-24")
        .await;
    let fields = [
        ("service", "reisepass"),
        ("also", "personalausweis"),
        ("day", "2026-11-24"),
        ("time", "10:00"),
    ];
    let page = erika.post("/book", &fields).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    let code = page.booking_code();
    let page = erika.get(&format!("/bookings/{code}")).await;
    assert!(
        page.body.contains("Reisepass, Personalausweis"),
        "{}",
        page.body
    );
    let account = erika.get("/account").await;
    assert!(account.body.contains("Reisepass, Personalausweis"));
    let mail = site.mails_to("erika@example.org").pop().unwrap();
    assert!(
        mail.text.contains("Reisepass, Personalausweis"),
        "{}",
        mail.text
    );
    let ics = String::from_utf8(mail.attachments[1].body.clone()).unwrap();
    assert!(
        ics.contains("DTEND:20261124T091600Z"),
        "8 + 8 minutes: {ics}"
    );
    let booked = site.door.booked.lock().unwrap().clone();
    let (_, appointment) = booked.last().unwrap();
    assert_eq!(appointment.code.as_str(), code);
    let services: Vec<&str> = appointment.services().map(|s| s.as_str()).collect();
    assert_eq!(services, ["reisepass", "personalausweis"]);
    let kiosk = KioskService::new(
        office_on(site.replica.clone(), "kiosk-1", Role::Kiosk),
        None,
        None,
    );
    let issued = kiosk
        .check_in(at(2026, 11, 24, 9, 40), &code, Wish::Qr, Language::De)
        .unwrap();
    assert_eq!(issued.ticket.service.as_str(), "reisepass");
    assert_eq!(issued.ticket.further_services, ["Personalausweis"]);

    // Moved, it keeps its services.
    let page = erika.get(&format!("/bookings/{code}/move")).await;
    assert!(
        page.body
            .contains("Reisepass, Personalausweis – etwa 16 Minuten")
    );
    assert!(
        !page.body.contains("hinzufügen"),
        "a move changes the time only"
    );
    erika
        .get(&format!("/bookings/{code}/move?day=2026-11-25"))
        .await;
    let fields = [("day", "2026-11-25"), ("time", "11:00")];
    let page = erika.post(&format!("/bookings/{code}/move"), &fields).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    let moved = site
        .portal
        .store
        .booking(&page.booking_code())
        .unwrap()
        .unwrap();
    assert_eq!(moved.also, ["personalausweis"]);

    // A list the office would not take: another department's service, one twice, the
    // first again, one unknown, more than three further, markup.
    let before = site.door.booked.lock().unwrap().len();
    for also in [
        "kita-platz",
        "personalausweis,personalausweis",
        "reisepass",
        "nope",
        "personalausweis,anmeldung,fuehrungszeugnis,fundsachen",
        "<script>alert(1)</script>",
    ] {
        let path = format!("/book/service/reisepass?also={}", common::pct(also));
        let page = erika.get(&path).await;
        assert_eq!(page.status, StatusCode::NOT_FOUND, "{also}");
        assert!(!page.body.contains("<script>alert"), "{also}");
        erika.get("/book/service/reisepass?day=2026-11-26").await;
        let fields = [
            ("service", "reisepass"),
            ("also", also),
            ("day", "2026-11-26"),
            ("time", "10:00"),
        ];
        let page = erika.post("/book", &fields).await;
        assert_eq!(page.status, StatusCode::NOT_FOUND, "{also}");
    }
    assert_eq!(
        site.door.booked.lock().unwrap().len(),
        before,
        "nothing reached the office"
    );
}
