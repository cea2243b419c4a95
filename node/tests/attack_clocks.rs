//! A wrong clock on real nodes over loopback mutual TLS (issue #9, item 4): a kiosk
//! whose clock runs a day ahead of the office's hears so from its peers, says so on
//! `/health` and `/metrics`, and issues nothing until its clock agrees again; the
//! rest of the office is not stopped by it. The attacks on the simulated LAN are in
//! `tests/tests/attack_clocks_and_peers.rs`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use aufruf_node::settings::Role;
use aufruf_node::state::wall_clock;
use common::TestOffice;
use serde_json::{Value, json};

const PATIENCE: Duration = Duration::from_secs(30);
const DAY_MS: i64 = 24 * 3600 * 1000;

fn peers_of(v: &Value) -> usize {
    v["peers"].as_array().map_or(0, Vec::len)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kiosk_a_day_ahead_is_stopped_and_says_why() {
    let office = TestOffice::new();
    // Step 1: the kiosk, a desk and the display come up. All three run in this
    // process on one system clock, so the desk's and the display's replicas are
    // handed a wall clock a day behind it: seen from the kiosk — and on the wire —
    // the kiosk's clock runs a day ahead of the office's.
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
    let office_behind = Arc::new(AtomicI64::new(-DAY_MS));
    for node in [&desk, &display] {
        let behind = office_behind.clone();
        node.state.replica.set_wall_clock(move || {
            let now = i64::try_from(wall_clock().0).unwrap();
            u64::try_from(now + behind.load(Ordering::SeqCst)).unwrap()
        });
    }
    for node in [&kiosk, &desk, &display] {
        let api = node.api_addr;
        office
            .eventually(PATIENCE, "every node has two peers", || async {
                peers_of(&office.get(api, "/health").await.1) == 2
            })
            .await;
    }

    // Step 2: the kiosk hears its peers' clocks and says its own is a day ahead.
    office
        .eventually(PATIENCE, "the kiosk reports its clock skew", || async {
            office.get(kiosk.api_addr, "/health").await.1["clock_skew"] == json!(true)
        })
        .await;
    let (_, health) = office.get(kiosk.api_addr, "/health").await;
    assert_eq!(health["status"], json!("clock_wrong"), "{health}");
    assert_eq!(health["clock"]["peers_off"], json!(2), "{health}");
    let ahead = health["clock"]["ahead_seconds"].as_f64().unwrap();
    assert!((ahead - 86_400.0).abs() < 60.0, "{health}");
    let metrics = office.metrics(kiosk.api_addr).await;
    assert!(metrics.contains("aufruf_clock_skew 1"), "{metrics}");
    assert!(
        metrics.contains("aufruf_clock_ahead_seconds 864"),
        "{metrics}"
    );

    // Step 3: it refuses to issue — the ticket would be tomorrow's — and says why.
    let (status, refused) = office
        .post(
            kiosk.api_addr,
            "/api/tickets",
            json!({"service": "anmeldung", "kind": "qr"}),
        )
        .await;
    assert_eq!(status, 503, "{refused}");
    assert_eq!(refused["kind"], json!("clock_wrong"));
    let why = refused["error"].as_str().unwrap();
    assert!(why.contains("24 h ahead"), "{why}");
    let (status, refused) = office
        .post(kiosk.api_addr, "/api/check-in", json!({"code": "B-0001"}))
        .await;
    assert_eq!(
        (status, refused["kind"].clone()),
        (503, json!("clock_wrong"))
    );
    let (_, day) = office.get(kiosk.api_addr, "/api/day").await;
    assert_eq!(day["tickets"], json!([]), "{day}");

    // Step 4: the desk, whose clock agrees with the display's, is not stopped (once
    // it has the display's clock as handed over in step 1: its next clock frame).
    office
        .eventually(
            PATIENCE,
            "the desk's clock agrees with the display's",
            || async { office.get(desk.api_addr, "/health").await.1["clock_skew"] == json!(false) },
        )
        .await;
    let (_, health) = office.get(desk.api_addr, "/health").await;
    assert_eq!(health["clock"]["peers_off"], json!(1), "{health}");
    assert_eq!(
        office
            .post(desk.api_addr, "/api/desks/desk-1/open", json!({}))
            .await
            .0,
        200
    );
    let (status, nobody) = office
        .post(desk.api_addr, "/api/desks/desk-1/call-next", json!({}))
        .await;
    assert_eq!(
        (status, nobody["kind"].clone()),
        (409, json!("nobody_waiting"))
    );

    // Step 5: the clocks agree again (the peers' next clock frames say so); the kiosk
    // issues, and the desk calls the visitor.
    office_behind.store(0, Ordering::SeqCst);
    office
        .eventually(PATIENCE, "the kiosk's clock agrees again", || async {
            office.get(kiosk.api_addr, "/health").await.1["clock_skew"] == json!(false)
        })
        .await;
    let (status, issued) = office
        .post(
            kiosk.api_addr,
            "/api/tickets",
            json!({"service": "anmeldung", "kind": "qr"}),
        )
        .await;
    assert_eq!(status, 201, "{issued}");
    office
        .eventually(PATIENCE, "the desk sees the visitor waiting", || async {
            office.get(desk.api_addr, "/api/desks/desk-1").await.1["waiting_for_desk"] == json!(1)
        })
        .await;
    let (status, view) = office
        .post(desk.api_addr, "/api/desks/desk-1/call-next", json!({}))
        .await;
    assert_eq!(status, 200, "{view}");
    assert_eq!(view["current"]["number"], issued["ticket"]["number"]);

    for node in [kiosk, desk, display] {
        node.shutdown().await;
    }
}
