//! Attacks with a stolen key, over the real protocol: real nodes (kiosk, desk 1, the
//! foyer display) in this process with their real certificates, mutual TLS and the
//! office CA; the thief holds the display's key (it hangs where the public stands)
//! and writes, through the display's replica, what a display must not. After each
//! attack the office keeps issuing and calling, with the numbers it would have used
//! anyway, and counts what it refused.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use std::process::Command;
use std::time::Duration;

use aufruf_node::credentials;
use aufruf_node::runtime::RunningNode;
use aufruf_node::settings::Role;
use aufruf_office::authority::seal;
use aufruf_sync::name::DocumentName;
use automerge::transaction::Transactable;
use automerge::{ROOT, ReadDoc};
use common::{TestOffice, free_port, path_str};
use serde_json::json;

const PATIENCE: Duration = Duration::from_secs(20);

struct Office {
    test: TestOffice,
    kiosk: RunningNode,
    desk: RunningNode,
    display: RunningNode,
}

impl Office {
    async fn start() -> Self {
        let test = TestOffice::new();
        let mut kiosk = test.enroll("kiosk-1", Role::Kiosk, vec![]);
        kiosk.api = free_port();
        let kiosk = test.start(kiosk).await;
        let mut desk = test.enroll("desk-1", Role::Desk, vec![kiosk.sync_addr]);
        desk.api = free_port();
        let desk = test.start(desk).await;
        let mut display = test.enroll(
            "display-1",
            Role::Display,
            vec![kiosk.sync_addr, desk.sync_addr],
        );
        display.api = free_port();
        let display = test.start(display).await;
        let office = Office {
            test,
            kiosk,
            desk,
            display,
        };
        for node in [&office.kiosk, &office.desk] {
            office
                .test
                .eventually(PATIENCE, "the office is connected", || async {
                    let (_, health) = office.test.get(node.api_addr, "/health").await;
                    health["peers"].as_array().is_some_and(|p| p.len() == 2)
                })
                .await;
        }
        let (status, _) = office
            .test
            .post(office.desk.api_addr, "/api/desks/desk-1/open", json!({}))
            .await;
        assert_eq!(status, 200);
        office
    }

    async fn draw(&self) -> String {
        self.draw_ticket().await.1
    }

    /// Draws a ticket: its document key (`ticket:<id>`) and number.
    async fn draw_ticket(&self) -> (String, String) {
        let (status, issued) = self
            .test
            .post(
                self.kiosk.api_addr,
                "/api/tickets",
                json!({"service": "anmeldung", "kind": "qr"}),
            )
            .await;
        assert_eq!(status, 201, "{issued}");
        (
            format!("ticket:{}", issued["ticket"]["id"].as_str().unwrap()),
            issued["ticket"]["number"].as_str().unwrap().to_owned(),
        )
    }

    /// Desk 1 calls the next visitor; the desk's view after the call.
    async fn call_next(&self) -> serde_json::Value {
        let (status, called) = self
            .test
            .post(self.desk.api_addr, "/api/desks/desk-1/call-next", json!({}))
            .await;
        assert_eq!(status, 200, "{called}");
        called
    }

    fn today(&self) -> DocumentName {
        let now = aufruf_node::state::wall_clock();
        aufruf_office::document_name(self.kiosk.state.office().today(now)).unwrap()
    }

    /// The thief writes `entries` (key, entry, JSON) into today's document through the
    /// display's replica, sealed with the display's real key; they travel to every
    /// peer like any change.
    fn display_writes(&self, entries: &[(String, String, String)]) {
        self.writes_as("display-1", entries);
    }

    /// The thief writes `entries` through the display's replica, sealed with the real
    /// key of `node` (whose key it stole too).
    fn writes_as(&self, node: &str, entries: &[(String, String, String)]) {
        let credentials = credentials::load_node(
            &self.test.home(node).join("credentials"),
            &node.parse().unwrap(),
        )
        .unwrap();
        let keys = aufruf_node::authority::keys(&credentials).unwrap();
        let name = self.today();
        let document = name.to_string();
        self.display
            .state
            .replica
            .change(&name, |tx| {
                for (key, entry, body) in entries {
                    let sealed = seal(&*keys.signer, &document, key, entry, body).unwrap();
                    if entry.is_empty() {
                        tx.put(ROOT, key.as_str(), sealed)?;
                        continue;
                    }
                    let map = match tx.get(ROOT, key.as_str())? {
                        Some((automerge::Value::Object(_), id)) => id,
                        _ => tx.put_object(ROOT, key.as_str(), automerge::ObjType::Map)?,
                    };
                    tx.put(&map, entry.as_str(), sealed)?;
                }
                Ok::<_, automerge::AutomergeError>(())
            })
            .unwrap();
    }

    /// Waits until the kiosk holds the day document's heads the display has.
    async fn reached_the_kiosk(&self) {
        let name = self.today();
        let theirs = self
            .display
            .state
            .replica
            .read(&name, |d| d.get_heads())
            .unwrap();
        self.test
            .eventually(PATIENCE, "the thief's change reached the kiosk", || async {
                self.kiosk
                    .state
                    .replica
                    .read(&name, |d| {
                        theirs.iter().all(|h| d.get_change_by_hash(h).is_some())
                    })
                    .unwrap_or(false)
            })
            .await;
    }

    /// The administrator revokes `node` with `aufruf office revoke`, through the
    /// kiosk's node.
    fn revoke(&self, node: &str) {
        let out = Command::new(env!("CARGO_BIN_EXE_aufruf"))
            .args(["office", "revoke", "--dir"])
            .arg(path_str(&self.test.dir.path().join("office")))
            .args(["--node", node, "--api", &self.kiosk.api_addr.to_string()])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    async fn refused(&self, reason: &str) -> bool {
        let text = self.test.metrics(self.kiosk.api_addr).await;
        text.lines().any(|l| {
            l.starts_with("aufruf_entries_refused_total")
                && l.contains(&format!("reason=\"{reason}\""))
                && !l.ends_with(" 0")
        })
    }

    async fn stop(self) {
        self.display.shutdown().await;
        self.desk.shutdown().await;
        self.kiosk.shutdown().await;
    }
}

fn now_ms() -> u64 {
    aufruf_node::state::wall_clock().as_millis()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stolen_display_key_issuing_in_the_kiosks_name_uses_up_no_number() {
    let office = Office::start().await;
    assert_eq!(office.draw().await, "U 001");
    let issue_999 = r#"{"Issued":{"number":{"prefix":"U","number":999},"service":"anmeldung","origin":"WalkIn"}}"#;
    let at = now_ms();
    office.display_writes(&[
        (
            "ticket:kiosk-1/2".into(),
            format!("{at}.0.kiosk-1"),
            issue_999.into(),
        ),
        (
            "ticket:display-1/1".into(),
            format!("{at}.0.display-1"),
            issue_999.into(),
        ),
    ]);
    office.reached_the_kiosk().await;
    office
        .test
        .eventually(PATIENCE, "the kiosk counted the forgeries", || async {
            office.refused("not_the_stamper").await && office.refused("wrong_role").await
        })
        .await;
    assert_eq!(office.draw().await, "U 002", "the kiosk's numbers go on");
    office
        .test
        .eventually(
            PATIENCE,
            "the desk sees the kiosk's second ticket",
            || async {
                let (_, desk) = office
                    .test
                    .get(office.desk.api_addr, "/api/desks/desk-1")
                    .await;
                desk["waiting_for_desk"] == 2
            },
        )
        .await;
    let (_, desk) = office
        .test
        .get(office.desk.api_addr, "/api/desks/desk-1")
        .await;
    assert_eq!(
        desk["waiting_for_desk"], 2,
        "only the kiosk's tickets wait: {desk}"
    );
    office.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stolen_display_key_calling_as_a_desk_calls_nobody() {
    let office = Office::start().await;
    let (ticket, _) = office.draw_ticket().await;
    office.display_writes(&[(
        ticket,
        format!("{}.0.display-1", now_ms()),
        r#"{"Called":{"desk":"desk-1"}}"#.into(),
    )]);
    office.reached_the_kiosk().await;
    let (_, display) = office.test.get(office.kiosk.api_addr, "/api/display").await;
    assert_eq!(display["calls"], json!([]), "{display}");
    let called = office.call_next().await;
    assert_eq!(called["current"]["number"], "U 001");
    assert!(office.refused("wrong_role").await);
    office.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stolen_display_key_stops_nobody_with_a_newer_schema_or_a_stamp_at_the_end_of_time() {
    let office = Office::start().await;
    office.draw().await;
    let newer = aufruf_office::day_doc::SCHEMA + 1;
    office.display_writes(&[
        ("schema".into(), String::new(), newer.to_string()),
        (
            "ticket:display-1/1".into(),
            format!("{}.0.display-1", u64::MAX - 1),
            r#"{"Cancelled":null}"#.into(),
        ),
    ]);
    let name = office.today();
    office
        .display
        .state
        .replica
        .change(&name, |tx| tx.put(ROOT, "schema", newer))
        .unwrap();
    office.reached_the_kiosk().await;
    assert_eq!(office.draw().await, "U 002");
    assert_eq!(office.call_next().await["current"]["number"], "U 001");
    office.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_display_is_cut_off_within_seconds() {
    let office = Office::start().await;
    office.revoke("display-1");
    for node in [&office.kiosk, &office.desk] {
        office
            .test
            .eventually(
                Duration::from_secs(10),
                "the display's session ended",
                || async {
                    let (_, health) = office.test.get(node.api_addr, "/health").await;
                    health["peers"]
                        .as_array()
                        .is_some_and(|p| !p.iter().any(|n| n == "display-1"))
                },
            )
            .await;
    }
    // A forged revocation is refused.
    let (status, _) = office
        .test
        .post(
            office.kiosk.api_addr,
            "/api/office/revoke",
            json!({"payload": "{\"office\":\"zeitz\",\"node\":\"desk-1\",\"from_ms\":0}", "signature": "00ff"}),
        )
        .await;
    assert_eq!(status, 403);
    assert_eq!(office.draw().await, "U 001");
    office.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stolen_desk_key_writes_nothing_into_the_past_once_revoked() {
    let office = Office::start().await;
    office.draw().await;
    let (second, _) = office.draw_ticket().await;
    assert_eq!(office.call_next().await["current"]["number"], "U 001");
    let before = now_ms();
    office.revoke("desk-1");
    // With desk-1's key, the thief calls the second visitor "before" the revocation.
    office.writes_as(
        "desk-1",
        &[(
            second,
            format!("{}.0.desk-1", before - 1_000),
            r#"{"Called":{"desk":"desk-1"}}"#.into(),
        )],
    );
    office.reached_the_kiosk().await;
    office
        .test
        .eventually(PATIENCE, "the kiosk counted the revoked entry", || async {
            office.refused("revoked").await
        })
        .await;
    let (_, day) = office.test.get(office.kiosk.api_addr, "/api/day").await;
    let status: Vec<_> = day["tickets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["status"].clone())
        .collect();
    assert_eq!(
        status,
        [json!("called"), json!("waiting")],
        "the call desk-1 made counts, the backdated one not: {day}"
    );
    office.stop().await;
}
