//! Several nodes of one office over loopback mutual TLS, driven through their HTTP
//! APIs: a ticket's way from kiosk to desk to display, a desk killed mid-day, a desk
//! cut off from the display, and answers to bad requests.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use std::time::Duration;

use aufruf_node::settings::Role;
use common::{Killed, TestOffice, free_port};
use futures_util::StreamExt;
use serde_json::{Value, json};

const PATIENCE: Duration = Duration::from_secs(30);

fn peers_of(v: &Value) -> usize {
    v["peers"].as_array().map_or(0, Vec::len)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ticket_drawn_at_the_kiosk_is_called_at_a_desk_and_shown_on_the_display() {
    let office = TestOffice::new();
    // Step 1: kiosk, desk and display come up and find each other.
    let kiosk = office
        .start(office.enroll("kiosk-1", Role::Kiosk, vec![]))
        .await;
    let desk = office
        .start(office.enroll("desk-1", Role::Desk, vec![kiosk.sync_addr]))
        .await;
    let display = office
        .start(office.enroll(
            "display-1",
            Role::Display,
            vec![kiosk.sync_addr, desk.sync_addr],
        ))
        .await;
    for node in [&kiosk, &desk, &display] {
        let api = node.api_addr;
        office
            .eventually(PATIENCE, "every node has two peers", || async {
                peers_of(&office.get(api, "/health").await.1) == 2
            })
            .await;
        // Their stores are new: each caught up with the others when they met.
        office.ready(api).await;
    }
    let mut feed = office
        .http
        .get(format!("http://{}/api/display/feed", display.api_addr))
        .send()
        .await
        .unwrap()
        .bytes_stream();

    // Step 2: a visitor draws a QR ticket; the desk opens and sees them waiting.
    let (status, issued) = office
        .post(
            kiosk.api_addr,
            "/api/tickets",
            json!({"service": "anmeldung", "kind": "qr"}),
        )
        .await;
    assert_eq!(status, 201, "{issued}");
    let number = issued["ticket"]["number"].as_str().unwrap().to_owned();
    assert_eq!(number, "U 001");
    assert_eq!(
        issued["ticket"]["ahead"],
        json!(null),
        "no desk is open yet"
    );
    // No public address configured: no status link; the token still finds it.
    assert_eq!(issued["status_url"], json!(null));
    let token = issued["status_token"].as_str().unwrap();
    assert_eq!(token.len(), 32);
    let (status, by_token) = office
        .get(kiosk.api_addr, &format!("/api/status/{token}"))
        .await;
    assert_eq!((status, by_token["number"].clone()), (200, json!("U 001")));
    let (status, _) = office.get(kiosk.api_addr, "/api/status/kiosk-1-1").await;
    assert_eq!(status, 404);
    let (status, _) = office
        .post(desk.api_addr, "/api/desks/desk-1/open", json!({}))
        .await;
    assert_eq!(status, 200);
    office
        .eventually(PATIENCE, "the desk sees the visitor waiting", || async {
            office.get(desk.api_addr, "/api/desks/desk-1").await.1["waiting_for_desk"] == json!(1)
        })
        .await;

    // Step 3: the desk calls next and gets the visitor.
    let (status, view) = office
        .post(desk.api_addr, "/api/desks/desk-1/call-next", json!({}))
        .await;
    assert_eq!(status, 200, "{view}");
    assert_eq!(view["current"]["number"], json!(number));
    assert_eq!(view["display_reachable"], json!(true));

    // Step 4: the display's feed shows the call with the desk's name.
    let shown = tokio::time::timeout(PATIENCE, async {
        let mut text = String::new();
        while let Some(chunk) = feed.next().await {
            text.push_str(&String::from_utf8_lossy(&chunk.unwrap()));
            if text.contains(&format!(
                "\"number\":\"{number}\",\"desk\":\"desk-1\",\"desk_name\":\"Platz 1\""
            )) {
                return text;
            }
        }
        text
    })
    .await
    .expect("the display shows the call");
    assert!(shown.contains("event: display"), "{shown}");

    // Step 5: served and done; the kiosk's day agrees.
    assert_eq!(
        office
            .post(desk.api_addr, "/api/desks/desk-1/serving", json!({}))
            .await
            .0,
        200
    );
    assert_eq!(
        office
            .post(desk.api_addr, "/api/desks/desk-1/done", json!({}))
            .await
            .0,
        200
    );
    office
        .eventually(PATIENCE, "the kiosk sees the ticket done", || async {
            office.get(kiosk.api_addr, "/api/day").await.1["tickets"][0]["status"] == json!("done")
        })
        .await;
    let metrics = office.metrics(display.api_addr).await;
    assert!(metrics.contains("aufruf_peers_connected 2"), "{metrics}");
    assert!(
        metrics.contains("aufruf_call_to_replica_seconds_count 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("aufruf_tickets_waiting{service=\"anmeldung\"} 0"),
        "{metrics}"
    );

    for node in [kiosk, desk, display] {
        node.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_desk_killed_and_restarted_mid_day_loses_nothing() {
    let office = TestOffice::new();
    let kiosk = office
        .start(office.enroll("kiosk-1", Role::Kiosk, vec![]))
        .await;
    let mut settings = office.enroll("desk-1", Role::Desk, vec![kiosk.sync_addr]);
    settings.api = free_port();
    settings.listen = free_port();
    let api = settings.api;

    // Step 1: the desk runs as its own process; two visitors draw tickets.
    let mut process = office.spawn(&settings);
    office
        .eventually(
            PATIENCE,
            "the desk process answers and has its peer",
            || async {
                office
                    .http
                    .get(format!("http://{api}/health"))
                    .send()
                    .await
                    .is_ok()
                    && peers_of(&office.get(api, "/health").await.1) == 1
            },
        )
        .await;
    office.ready(kiosk.api_addr).await;
    office.ready(api).await;
    // The real binary's allocator says where its memory goes.
    let metrics = office.metrics(api).await;
    for state in ["allocated", "active", "resident"] {
        let key = format!("aufruf_heap_bytes{{state=\"{state}\"}} ");
        let bytes: u64 = metrics
            .lines()
            .find_map(|l| l.strip_prefix(&key))
            .unwrap_or_else(|| panic!("no {key} in {metrics}"))
            .trim()
            .parse()
            .unwrap();
        assert!(bytes > 1024 * 1024, "{state}: {bytes}");
    }
    for _ in 0..2 {
        let (status, _) = office
            .post(
                kiosk.api_addr,
                "/api/tickets",
                json!({"service": "reisepass"}),
            )
            .await;
        assert_eq!(status, 201);
    }
    assert_eq!(
        office
            .post(api, "/api/desks/desk-1/open", json!({}))
            .await
            .0,
        200
    );
    office
        .eventually(PATIENCE, "the desk sees both visitors", || async {
            office.get(api, "/api/desks/desk-1").await.1["waiting_for_desk"] == json!(2)
        })
        .await;
    let (status, called) = office
        .post(api, "/api/desks/desk-1/call-next", json!({}))
        .await;
    assert_eq!(status, 200);
    let called = called["current"]["number"].clone();

    // Step 2: kill -9 right after the call was acknowledged; more visitors come.
    process.kill().unwrap();
    process.wait().unwrap();
    let (status, _) = office
        .post(
            kiosk.api_addr,
            "/api/tickets",
            json!({"service": "reisepass"}),
        )
        .await;
    assert_eq!(status, 201);

    // Step 3: restarted on the same store, the call is still there and the new
    // ticket arrives from the kiosk.
    let mut process = office.spawn(&settings);
    office
        .eventually(
            PATIENCE,
            "the restarted desk is back with its call and all tickets",
            || async {
                let Ok(r) = office
                    .http
                    .get(format!("http://{api}/api/day"))
                    .send()
                    .await
                else {
                    return false;
                };
                let day: Value = r.json().await.unwrap_or(Value::Null);
                day["tickets"].as_array().is_some_and(|t| t.len() == 3)
            },
        )
        .await;
    let view = office.get(api, "/api/desks/desk-1").await.1;
    assert_eq!(view["current"]["number"], called);
    assert_eq!(view["open"], json!(true));
    process.kill().unwrap();
    process.wait().unwrap();
    kiosk.shutdown().await;
}

/// The desk names the display by its host name in `[node] peers` (looked up, then
/// reached), and is told when it loses it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_desk_cut_off_from_the_display_is_told_so() {
    let office = TestOffice::new();
    let display = office
        .start(office.enroll("display-1", Role::Display, vec![]))
        .await;
    let mut desk = office.enroll("desk-2", Role::Desk, vec![]);
    let named = format!("localhost:{}", display.sync_addr.port());
    desk.peers = vec![named.parse().unwrap()];
    let desk = office.start(desk).await;
    let api = desk.api_addr;
    office
        .eventually(PATIENCE, "the desk reaches the display", || async {
            office.get(api, "/api/desks/desk-2").await.1["display_reachable"] == json!(true)
        })
        .await;
    display.shutdown().await;
    office
        .eventually(
            PATIENCE,
            "the desk says the display is unreachable",
            || async {
                office.get(api, "/api/desks/desk-2").await.1["display_reachable"] == json!(false)
            },
        )
        .await;
    desk.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_get_a_json_error_that_says_what_is_wrong() {
    let office = TestOffice::new();
    let kiosk = office
        .start(office.enroll_alone("kiosk-1", Role::Kiosk))
        .await;
    let desk = office
        .start(office.enroll_alone("desk-1", Role::Desk))
        .await;
    let k = kiosk.api_addr;
    let d = desk.api_addr;
    let cases: Vec<(u16, &str, (u16, Value))> = vec![
        (
            404,
            "unknown_service",
            office
                .post(k, "/api/tickets", json!({"service": "hundesteuer"}))
                .await,
        ),
        (
            400,
            "bad_body",
            office
                .post(k, "/api/tickets", json!({"servise": "anmeldung"}))
                .await,
        ),
        (
            400,
            "bad_kind",
            office
                .post(
                    k,
                    "/api/tickets",
                    json!({"service": "anmeldung", "kind": "fax"}),
                )
                .await,
        ),
        (
            404,
            "unknown_booking",
            office
                .post(k, "/api/check-in", json!({"code": "NOPE"}))
                .await,
        ),
        (
            409,
            "wrong_role",
            office
                .post(d, "/api/tickets", json!({"service": "anmeldung"}))
                .await,
        ),
        (
            409,
            "wrong_role",
            office.post(k, "/api/desks/desk-1/open", json!({})).await,
        ),
        (
            404,
            "unknown_desk",
            office.post(d, "/api/desks/desk-99/open", json!({})).await,
        ),
        (
            404,
            "unknown_action",
            office.post(d, "/api/desks/desk-1/dance", json!({})).await,
        ),
        (
            409,
            "desk_not_open",
            office
                .post(d, "/api/desks/desk-1/call-next", json!({}))
                .await,
        ),
        (
            400,
            "missing_ticket",
            office.post(d, "/api/desks/desk-1/call", json!({})).await,
        ),
        (
            400,
            "bad_ticket",
            office
                .post(d, "/api/desks/desk-1/return", json!({"ticket": "x"}))
                .await,
        ),
        (404, "not_found", office.get(k, "/api/nothing").await),
        (
            404,
            "unknown_ticket",
            office.get(k, "/api/tickets/kiosk-1~00000001-99").await,
        ),
    ];
    for (status, kind, (got, body)) in cases {
        assert_eq!((got, body["kind"].as_str()), (status, Some(kind)), "{body}");
        assert!(
            body["error"].as_str().is_some_and(|e| !e.is_empty()),
            "{body}"
        );
    }
    assert_eq!(
        office.post(d, "/api/desks/desk-1/open", json!({})).await.0,
        200
    );
    let (status, body) = office
        .post(d, "/api/desks/desk-1/call-next", json!({}))
        .await;
    assert_eq!(
        (status, body["kind"].as_str()),
        (409, Some("nobody_waiting"))
    );
    kiosk.shutdown().await;
    desk.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn days_past_the_retention_are_deleted_and_only_their_statistics_stay() {
    use aufruf_model::{ServiceId, Timestamp};
    use aufruf_node::state::{Services, wall_clock};
    use aufruf_office::Wish;

    let office = TestOffice::new();
    let kiosk = office
        .start(office.enroll_alone("kiosk-1", Role::Kiosk))
        .await;
    let state = kiosk.state.clone();
    let Services::Kiosk(service) = &state.services else {
        panic!("a kiosk node has the kiosk service")
    };
    let day = Duration::from_secs(24 * 3600);
    let now = wall_clock();
    // Step 1: the kiosk worked ten days ago and today.
    for when in [now - day * 10, now] {
        service
            .draw_ticket(
                when,
                &ServiceId::new("anmeldung"),
                Wish::Qr,
                aufruf_hardware::Language::De,
            )
            .unwrap();
    }
    let office_service = state.office().clone();
    let old_date = office_service.today(now - day * 10);
    // The office document (with the node's certificate) and the two days.
    assert_eq!(state.replica.document_names().len(), 3);

    // Step 2: the retention of seven days ends for the old day only.
    let retired = tokio::task::spawn_blocking({
        let office_service = office_service.clone();
        move || office_service.retire_expired(Timestamp::from_millis(now.as_millis()))
    })
    .await
    .unwrap()
    .unwrap();
    assert_eq!(retired.deleted, vec![old_date]);
    assert!(retired.unreadable.is_empty());
    let names: Vec<String> = state
        .replica
        .document_names()
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        names,
        vec![
            "office".to_owned(),
            format!("day/{}", office_service.today(now))
        ]
    );
    let kept = office_service
        .statistics(old_date)
        .expect("statistics of the deleted day");
    assert_eq!(kept.services[&ServiceId::new("anmeldung")].walk_ins, 1);
    // Today is untouched.
    assert_eq!(office_service.day_view(now).unwrap().tickets.len(), 1);
    kiosk.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_kiosk_prints_paper_tickets_and_offers_the_qr_code_when_paper_is_out() {
    let office = TestOffice::new();
    let tickets = office.home("kiosk-1").join("tickets");
    let mut settings = office.enroll_alone("kiosk-1", Role::Kiosk);
    settings.public_url = Some("https://termine.zeitz.example".into());
    let kiosk = office.start_kiosk_with_printer(settings, &tickets).await;
    let k = kiosk.api_addr;

    // Step 1: a paper ticket comes out of the (emulated) printer.
    let (status, issued) = office
        .post(
            k,
            "/api/tickets",
            json!({"service": "fundsachen", "kind": "paper", "language": "en"}),
        )
        .await;
    assert_eq!(status, 201, "{issued}");
    assert_eq!(issued["delivered_as"], json!("paper"));
    let picture = issued["picture"]
        .as_str()
        .expect("the emulated printer's picture");
    assert!(picture.ends_with(".png") && std::path::Path::new(picture).exists());

    // Step 2: the roll runs out. The ticket is still issued, and offered as QR code.
    std::fs::write(tickets.join(aufruf_hardware::printer::PAPER_OUT_MARKER), "").unwrap();
    let (status, issued) = office
        .post(
            k,
            "/api/tickets",
            json!({"service": "fundsachen", "kind": "paper"}),
        )
        .await;
    assert_eq!(status, 201, "{issued}");
    assert_eq!(issued["delivered_as"], json!("qr"));
    assert!(
        issued["print_problem"]
            .as_str()
            .is_some_and(|p| !p.is_empty()),
        "{issued}"
    );
    assert_eq!(issued["ticket"]["number"], json!("L 002"));
    let day = office.get(k, "/api/day").await.1;
    assert_eq!(day["tickets"].as_array().map(Vec::len), Some(2));

    // The printer's state is in the metrics.
    let metrics = office.metrics(k).await;
    assert!(metrics.contains("aufruf_printer{state="), "{metrics}");
    kiosk.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kiosk_killed_again_and_again_while_issuing_loses_no_acknowledged_ticket() {
    let office = TestOffice::new();
    let mut settings = office.enroll_alone("kiosk-1", Role::Kiosk);
    settings.api = free_port();
    settings.listen = free_port();
    let api = settings.api;
    let mut acknowledged: Vec<(String, String)> = Vec::new();
    for round in 0..20_usize {
        // Step 1: the kiosk process starts on its store and has every ticket it ever
        // acknowledged.
        let mut process = office.spawn(&settings);
        office
            .eventually(PATIENCE, "the kiosk answers", || async {
                office
                    .http
                    .get(format!("http://{api}/health"))
                    .send()
                    .await
                    .is_ok()
            })
            .await;
        let day = office.get(api, "/api/day").await.1;
        let present: Vec<&str> = day["tickets"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["id"].as_str().unwrap())
            .collect();
        for (id, number) in &acknowledged {
            assert!(
                present.contains(&id.as_str()),
                "round {round}: {number} ({id}) was lost"
            );
        }

        // Step 2: two visitors at a time draw tickets; kill -9 while requests are in
        // flight, once enough were acknowledged.
        let (acks, mut received) = tokio::sync::mpsc::unbounded_channel();
        let mut visitors = Vec::new();
        for _ in 0..2 {
            let (http, acks) = (office.http.clone(), acks.clone());
            visitors.push(tokio::spawn(async move {
                loop {
                    let sent = http
                        .post(format!("http://{api}/api/tickets"))
                        .json(&json!({"service": "meldebescheinigung"}))
                        .send()
                        .await;
                    let Ok(answer) = sent else { return };
                    if answer.status() != 201 {
                        return;
                    }
                    let Ok(issued) = answer.json::<Value>().await else {
                        return;
                    };
                    let id = issued["ticket"]["id"].as_str().unwrap().to_owned();
                    let number = issued["ticket"]["number"].as_str().unwrap().to_owned();
                    let _ = acks.send((id, number));
                }
            }));
        }
        drop(acks);
        let wanted = 3 + round * 2;
        let mut this_round = 0;
        while let Some(ack) = received.recv().await {
            acknowledged.push(ack);
            this_round += 1;
            if this_round == wanted {
                process.kill().unwrap();
                break;
            }
        }
        process.wait().unwrap();
        for visitor in visitors {
            let _ = visitor.await;
        }
        // Answers that arrived before the kill count as acknowledged too.
        while let Ok(ack) = received.try_recv() {
            acknowledged.push(ack);
        }
    }
    // No display number was ever handed out twice.
    let mut numbers: Vec<&str> = acknowledged.iter().map(|(_, n)| n.as_str()).collect();
    let issued = numbers.len();
    numbers.sort_unstable();
    numbers.dedup();
    assert_eq!(numbers.len(), issued, "a number was printed twice");
    // 3 + 5 + … + 41 acknowledged at the kills, at least.
    assert!(issued >= (0..20).map(|r| 3 + r * 2).sum::<usize>());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tickets_that_reached_a_second_device_survive_a_power_cut_and_the_kiosks_disk() {
    const TICKETS: usize = 300;
    let office = TestOffice::new();
    let mut kiosk = office.enroll("kiosk-1", Role::Kiosk, vec![]);
    kiosk.api = free_port();
    kiosk.listen = free_port();
    let mut desk = office.enroll("desk-1", Role::Desk, vec![kiosk.listen]);
    desk.api = free_port();
    desk.listen = free_port();
    let (k, d) = (kiosk.api, desk.api);
    let mut kiosk_process = Killed(office.spawn(&kiosk));
    let mut desk_process = Killed(office.spawn(&desk));
    let answers = |api: std::net::SocketAddr| {
        let http = office.http.clone();
        async move {
            match http.get(format!("http://{api}/health")).send().await {
                Ok(answer) => answer.json::<Value>().await.ok(),
                Err(_) => None,
            }
        }
    };
    office
        .eventually(PATIENCE, "kiosk and desk are connected", || async {
            answers(k).await.is_some() && answers(d).await.is_some_and(|h| peers_of(&h) == 1)
        })
        .await;
    office.ready(k).await;
    let mut acknowledged = Vec::new();
    for _ in 0..TICKETS {
        let (status, issued) = office
            .post(k, "/api/tickets", json!({"service": "meldebescheinigung"}))
            .await;
        assert_eq!(status, 201, "{issued}");
        acknowledged.push((
            issued["ticket"]["id"].as_str().unwrap().to_owned(),
            issued["ticket"]["number"].as_str().unwrap().to_owned(),
        ));
    }
    // The desk has them all and says they are on its disk (within a second of
    // arriving).
    office
        .eventually(PATIENCE, "the desk holds every ticket, flushed", || async {
            let day = office.get(d, "/api/day").await.1;
            let health = office.get(d, "/health").await.1;
            day["tickets"].as_array().map(Vec::len) == Some(TICKETS)
                && health["unflushed_received"] == json!(false)
        })
        .await;
    // Power cut: both die at once; the kiosk's disk is gone with it.
    kiosk_process.0.kill().unwrap();
    desk_process.0.kill().unwrap();
    kiosk_process.0.wait().unwrap();
    desk_process.0.wait().unwrap();
    std::fs::remove_dir_all(&kiosk.store).unwrap();

    let _desk_process = Killed(office.spawn(&desk));
    office
        .eventually(PATIENCE, "the desk is back", || async {
            answers(d).await.is_some()
        })
        .await;
    let day = office.get(d, "/api/day").await.1;
    let held: std::collections::BTreeMap<String, String> = day["tickets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["id"].as_str().unwrap().to_owned(),
                t["number"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    for (id, number) in &acknowledged {
        assert_eq!(held.get(id), Some(number), "{number} ({id}) was lost");
    }
}

/// The ids and numbers of the tickets a node holds today.
async fn tickets_on(office: &TestOffice, api: std::net::SocketAddr) -> Vec<(String, String)> {
    let day = office.get(api, "/api/day").await.1;
    day["tickets"]
        .as_array()
        .map(|tickets| {
            tickets
                .iter()
                .map(|t| {
                    (
                        t["id"].as_str().unwrap_or_default().to_owned(),
                        t["number"].as_str().unwrap_or_default().to_owned(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Issue 9: three real nodes, tickets drawn; the kiosk is killed, its store folder
/// removed (a replaced disk), and the kiosk started again. Its first ticket used to be
/// `kiosk-1/1 "U 001"` once more: the earlier ticket won the fold everywhere and the
/// citizen holding the new one was in no queue. Now the kiosk first catches up from
/// the desk or the display and issues above its earlier tickets, under its new
/// store's incarnation.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kiosk_whose_store_was_lost_issues_no_ticket_id_or_number_a_second_time() {
    let office = TestOffice::new();
    let mut kiosk = office.enroll("kiosk-1", Role::Kiosk, vec![]);
    kiosk.api = free_port();
    kiosk.listen = free_port();
    let mut desk = office.enroll("desk-1", Role::Desk, vec![kiosk.listen]);
    desk.api = free_port();
    desk.listen = free_port();
    let mut display = office.enroll("display-1", Role::Display, vec![kiosk.listen, desk.listen]);
    display.api = free_port();
    display.listen = free_port();
    let (k, d, s) = (kiosk.api, desk.api, display.api);

    // Step 1: the three come up, find each other and catch up with each other.
    let mut kiosk_process = Killed(office.spawn(&kiosk));
    let _desk_process = Killed(office.spawn(&desk));
    let _display_process = Killed(office.spawn(&display));
    for api in [k, d, s] {
        office
            .eventually(PATIENCE, "every node has two peers", || async {
                let Ok(answer) = office.http.get(format!("http://{api}/health")).send().await
                else {
                    return false;
                };
                peers_of(&answer.json().await.unwrap_or(Value::Null)) == 2
            })
            .await;
        office.ready(api).await;
    }

    // Step 2: three visitors draw tickets; desk and display have them on disk.
    let mut earlier = Vec::new();
    for _ in 0..3 {
        let (status, issued) = office
            .post(k, "/api/tickets", json!({"service": "anmeldung"}))
            .await;
        assert_eq!(status, 201, "{issued}");
        earlier.push((
            issued["ticket"]["id"].as_str().unwrap().to_owned(),
            issued["ticket"]["number"].as_str().unwrap().to_owned(),
        ));
    }
    for api in [d, s] {
        office
            .eventually(
                PATIENCE,
                "desk and display hold the tickets, flushed",
                || async {
                    tickets_on(&office, api).await.len() == 3
                        && office.get(api, "/health").await.1["unflushed_received"] == json!(false)
                },
            )
            .await;
    }

    // Step 3: the kiosk dies and its store is gone; it starts again on a new one.
    kiosk_process.0.kill().unwrap();
    kiosk_process.0.wait().unwrap();
    std::fs::remove_dir_all(&kiosk.store).unwrap();
    let _kiosk_process = Killed(office.spawn(&kiosk));

    // Step 4: the next visitor draws a ticket. Until the kiosk has caught up it
    // refuses, saying why; then it issues.
    let deadline = tokio::time::Instant::now() + PATIENCE;
    let mut polls = tokio::time::interval(Duration::from_millis(50));
    let issued = loop {
        polls.tick().await;
        assert!(
            tokio::time::Instant::now() < deadline,
            "the restarted kiosk issued nothing within {PATIENCE:?}"
        );
        let Ok(answer) = office
            .http
            .post(format!("http://{k}/api/tickets"))
            .json(&json!({"service": "anmeldung"}))
            .send()
            .await
        else {
            // Still starting.
            continue;
        };
        let status = answer.status().as_u16();
        let body: Value = answer.json().await.unwrap_or(Value::Null);
        if status == 201 {
            break body;
        }
        assert_eq!(
            (status, body["kind"].as_str()),
            (503, Some("catching_up")),
            "{body}"
        );
    };
    let id = issued["ticket"]["id"].as_str().unwrap().to_owned();
    let number = issued["ticket"]["number"].as_str().unwrap().to_owned();
    assert!(
        earlier.iter().all(|(i, n)| *i != id && *n != number),
        "the new ticket {id} ({number}) repeats one of {earlier:?}"
    );
    // Still kiosk-1's ticket, numbered on, from a store of another incarnation.
    let incarnation = |id: &str| id.split(['~', '/']).nth(1).unwrap_or_default().to_owned();
    assert!(id.starts_with("kiosk-1~") && id.ends_with("/4"), "{id}");
    assert_ne!(incarnation(&id), incarnation(&earlier[0].0));
    assert_eq!(number, "U 004");
    let health = office.get(k, "/health").await.1;
    assert_eq!(
        health["store"]["incarnation"].as_str(),
        Some(incarnation(&id).as_str())
    );
    assert_eq!(
        health["store"]["catch_up"]["state"],
        json!("from_peer"),
        "{health}"
    );

    // Step 5: every node holds all four visitors, and the desk calls each of them.
    let mut all = earlier.clone();
    all.push((id, number));
    all.sort();
    for api in [k, d, s] {
        office
            .eventually(PATIENCE, "every node holds the four tickets", || async {
                let mut held = tickets_on(&office, api).await;
                held.sort();
                held == all
            })
            .await;
    }
    assert_eq!(
        office.post(d, "/api/desks/desk-1/open", json!({})).await.0,
        200
    );
    let mut called = Vec::new();
    for _ in 0..4 {
        let (status, view) = office
            .post(d, "/api/desks/desk-1/call-next", json!({}))
            .await;
        assert_eq!(status, 200, "{view}");
        called.push(view["current"]["number"].as_str().unwrap().to_owned());
        assert_eq!(
            office.post(d, "/api/desks/desk-1/done", json!({})).await.0,
            200
        );
    }
    called.sort();
    let mut numbers: Vec<String> = all.iter().map(|(_, n)| n.clone()).collect();
    numbers.sort();
    assert_eq!(called, numbers);
}

/// A kiosk alone on a new store waits to catch up and says why — in `/health`, in
/// refused requests and on its screen — until an operator states that it is the
/// office's only device; the statement is recorded in the store.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lone_kiosk_on_a_new_store_waits_and_says_why_until_stated_the_only_device() {
    let office = TestOffice::new();
    let mut kiosk = office.enroll("kiosk-1", Role::Kiosk, vec![]);
    kiosk.api = free_port();
    kiosk.listen = free_port();
    let k = kiosk.api;
    let answers = || async {
        office
            .http
            .get(format!("http://{k}/health"))
            .send()
            .await
            .is_ok()
    };

    // Step 1: started without the statement, it issues nothing and says why.
    let mut process = Killed(office.spawn(&kiosk));
    office
        .eventually(PATIENCE, "the kiosk answers", answers)
        .await;
    let health = office.get(k, "/health").await.1;
    assert_eq!(health["status"], json!("catching_up"), "{health}");
    assert_eq!(health["store"]["catch_up"]["state"], json!("pending"));
    assert!(
        health["catching_up"]
            .as_str()
            .is_some_and(|m| m.contains("--only-device")),
        "{health}"
    );
    let (status, refused) = office
        .post(k, "/api/tickets", json!({"service": "anmeldung"}))
        .await;
    assert_eq!(
        (status, refused["kind"].as_str()),
        (503, Some("catching_up")),
        "{refused}"
    );
    let screen = office.get(k, "/api/kiosk").await.1;
    assert!(
        screen["catching_up"]["de"]
            .as_str()
            .is_some_and(|t| t.contains("keine Nummern")),
        "{screen}"
    );
    assert!(tickets_on(&office, k).await.is_empty());

    // Step 2: the operator restarts it as the office's only device: it issues, under
    // the incarnation of its store, and the store keeps the statement.
    process.0.kill().unwrap();
    process.0.wait().unwrap();
    kiosk.only_device = true;
    let _process = Killed(office.spawn(&kiosk));
    office
        .eventually(PATIENCE, "the kiosk answers again", answers)
        .await;
    office.ready(k).await;
    let health = office.get(k, "/health").await.1;
    assert_eq!(
        health["store"]["catch_up"]["state"],
        json!("only_device"),
        "{health}"
    );
    assert_eq!(health["catching_up"], json!(null));
    let (status, issued) = office
        .post(k, "/api/tickets", json!({"service": "anmeldung"}))
        .await;
    assert_eq!(status, 201, "{issued}");
    let incarnation = health["store"]["incarnation"].as_str().unwrap();
    assert_eq!(
        issued["ticket"]["id"],
        json!(format!("kiosk-1~{incarnation}/1"))
    );
    assert!(office.get(k, "/api/kiosk").await.1["catching_up"].is_null());
}
