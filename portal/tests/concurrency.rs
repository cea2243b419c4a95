//! Far more booking requests than free places, at once, over real HTTP on loopback:
//! exactly the capacity is booked, each place once, and the office hears of each.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use crate::common;

use std::collections::BTreeMap;
use std::net::SocketAddr;

use aufruf_portal::settings::DepartmentRules;
use chrono::{NaiveDate, NaiveTime};
use common::Site;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_thousand_requests_for_thirty_places_book_exactly_thirty() {
    let site = Site::with(|s| {
        s.open_bookings_per_account = 1000;
        s.departments.insert(
            "buergerbuero".into(),
            DepartmentRules {
                appointments_per_slot: Some(3),
                ..Default::default()
            },
        );
    });
    // 40 verified citizens, logged in.
    let now = site.portal.now_ms();
    let mut sessions = Vec::new();
    for i in 0..40 {
        let hash = site.portal.passwords.hash("sicheres Passwort 1").unwrap();
        let account = site
            .portal
            .store
            .create_account(&format!("c{i}@example.org"), hash, now)
            .unwrap()
            .unwrap();
        site.portal.store.set_verified(&account.id).unwrap();
        let id = site
            .portal
            .store
            .new_session(&account.id, now + 3_600_000)
            .unwrap();
        let csrf = site.portal.store.session(&id, now).unwrap().unwrap().csrf;
        sessions.push((id, csrf));
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = site
        .router
        .clone()
        .into_make_service_with_connect_info::<SocketAddr>();
    let server = tokio::spawn(async move { axum::serve(listener, app).await });

    // Ten start times of Wednesday morning, three places each: 30 places.
    let times: Vec<String> = (0..10)
        .map(|i| format!("{:02}:{:02}", 8 + (i * 15) / 60, (i * 15) % 60))
        .collect();
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .pool_max_idle_per_host(64)
        .build()
        .unwrap();
    // Each request pays its proof of work, as a bot would (solved before the rush).
    let answers: Vec<String> = (0..2000)
        .map(|_| {
            let c = site.portal.pow.challenge(now);
            aufruf_portal::pow::solve(&c.salt, &c.challenge, &c.signature, c.max_number).unwrap()
        })
        .collect();
    let mut requests = Vec::new();
    for (n, pow) in answers.into_iter().enumerate() {
        let (session, csrf) = sessions[n % sessions.len()].clone();
        let time = times[n % times.len()].clone();
        let client = client.clone();
        requests.push(tokio::spawn(async move {
            let body = common::encode(&[
                ("csrf", &csrf),
                ("service", "anmeldung"),
                ("day", "2026-11-25"),
                ("time", &time),
                ("pow", &pow),
            ]);
            let response = client
                .post(format!("http://{addr}/book"))
                .header("cookie", format!("session={session}"))
                .header("content-type", "application/x-www-form-urlencoded")
                .body(body)
                .send()
                .await
                .unwrap();
            response.status().as_u16()
        }));
    }
    let mut answers: BTreeMap<u16, u32> = BTreeMap::new();
    for r in requests {
        *answers.entry(r.await.unwrap()).or_default() += 1;
    }
    server.abort();
    assert_eq!(answers.get(&303), Some(&30), "{answers:?}");
    assert_eq!(answers.get(&409), Some(&1970), "{answers:?}");
    let day = NaiveDate::from_ymd_opt(2026, 11, 25).unwrap();
    for t in &times {
        let t = NaiveTime::parse_from_str(t, "%H:%M").unwrap();
        assert_eq!(
            site.portal.store.taken("buergerbuero", day, t, now),
            3,
            "{t}"
        );
    }
    let booked = site.door.booked.lock().unwrap();
    assert_eq!(booked.len(), 30, "the office heard of each booking once");
    let codes: std::collections::BTreeSet<_> = booked.iter().map(|(_, a)| a.code.clone()).collect();
    assert_eq!(codes.len(), 30);
}
