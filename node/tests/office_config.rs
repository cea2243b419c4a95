//! The office's configuration published by its administrator (`aufruf config apply`)
//! and taken live by real `aufruf run` processes: a kiosk running on its own file and
//! a desk whose file names only itself.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use aufruf_node::credentials::OfficeFolder;
use aufruf_node::settings::Role;
use common::{Killed, TestOffice, free_port, path_str};
use serde_json::json;

const PATIENCE: Duration = Duration::from_secs(30);

/// `aufruf config apply` as the admin types it: success, and what it printed.
fn apply(file: &Path, office_dir: &Path, api: SocketAddr) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_aufruf"))
        .args([
            "config",
            "apply",
            path_str(file),
            "--office",
            path_str(office_dir),
        ])
        .args(["--api", &api.to_string()])
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// The example office, open around the clock, with one more service: Wohngeld.
fn office_with_wohngeld() -> String {
    let office = aufruf_node::config_file::load_or_example(None)
        .unwrap()
        .open_around_the_clock();
    let mut text = toml::to_string(&office).unwrap();
    text.push_str(
        "\n[[services]]\nid = \"wohngeld\"\ndepartment = \"buergerbuero\"\n\
         name = { de = \"Wohngeld\", en = \"Housing benefit\" }\nprefix = \"W\"\n\
         expected_minutes = 10\n",
    );
    text
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_adds_a_service_and_every_device_takes_it_without_a_restart() {
    let office = TestOffice::new();
    let mut kiosk = office.enroll("kiosk-1", Role::Kiosk, vec![]);
    kiosk.api = free_port();
    kiosk.listen = free_port();
    let mut desk = office.enroll("desk-1", Role::Desk, vec![kiosk.listen]);
    desk.api = free_port();
    desk.listen = free_port();
    let (k, d) = (kiosk.api, desk.api);
    let _kiosk = Killed(office.spawn(&kiosk));
    // The desk's file names only the device and its office: it waits for the office's
    // published configuration.
    let _desk = Killed(office.spawn_with(&desk, false));
    office
        .eventually(PATIENCE, "the kiosk answers", || async {
            office
                .http
                .get(format!("http://{k}/health"))
                .send()
                .await
                .is_ok()
        })
        .await;
    // The kiosk's new store catches up when the desk greets it.
    office.ready(k).await;
    let (_, status) = office.get(k, "/api/office/config").await;
    assert_eq!(status["revision"], json!(0), "{status}");
    let (code, _) = office
        .post(k, "/api/tickets", json!({"service": "wohngeld"}))
        .await;
    assert_eq!(code, 404);

    // The admin publishes, through the kiosk's local API.
    let file = office.home("admin.toml");
    std::fs::write(&file, office_with_wohngeld()).unwrap();
    let office_dir = office.dir.path().join("office");
    let (ok, said) = apply(&file, &office_dir, k);
    assert!(ok, "{said}");
    assert!(said.contains("published as revision 1"), "{said}");

    // The kiosk offers the new service at once, without a restart.
    let (_, view) = office.get(k, "/api/kiosk").await;
    assert!(view.to_string().contains("\"wohngeld\""), "{view}");
    let (code, issued) = office
        .post(k, "/api/tickets", json!({"service": "wohngeld"}))
        .await;
    assert_eq!(code, 201, "{issued}");
    assert_eq!(issued["ticket"]["number"], json!("W 001"));

    // The desk, which had no configuration, comes up on the published one and sees
    // the visitor.
    office
        .eventually(PATIENCE, "the desk comes up on revision 1", || async {
            office
                .http
                .get(format!("http://{d}/api/office/config"))
                .send()
                .await
                .is_ok()
        })
        .await;
    assert_eq!(
        office.get(d, "/api/office/config").await.1["revision"],
        json!(1)
    );
    office
        .eventually(PATIENCE, "the desk sees the W visitor", || async {
            office
                .get(d, "/api/day")
                .await
                .1
                .to_string()
                .contains("W 001")
        })
        .await;

    // A key that is not the office CA's: refused by the node, nothing changes.
    let stranger = OfficeFolder::init(
        &office.dir.path().join("stranger"),
        &aufruf_sync::OfficeId::new("zeitz").unwrap(),
    )
    .unwrap();
    let (ok, said) = apply(&file, &stranger.dir, k);
    assert!(!ok);
    assert!(
        said.contains("403") && said.contains("not signed"),
        "{said}"
    );
    // A broken file: refused before anything is sent, with file, field and problem.
    let broken = office.home("broken.toml");
    std::fs::write(
        &broken,
        office_with_wohngeld().replace("prefix = \"W\"", "prefix = \"M\""),
    )
    .unwrap();
    let (ok, said) = apply(&broken, &office_dir, k);
    assert!(!ok);
    assert!(
        said.contains("broken.toml") && said.contains("prefix"),
        "{said}"
    );
    // A device file is not the office's configuration.
    let device_file = office.home("kiosk-1").join("aufruf.toml");
    let (ok, said) = apply(&device_file, &office_dir, k);
    assert!(!ok);
    assert!(said.contains("node"), "{said}");
    assert_eq!(
        office.get(k, "/api/office/config").await.1["revision"],
        json!(1)
    );
}

/// Posts a configuration whose header announces `announced` bytes but sends only
/// `sent` of them, and reads the status the node answers with. The node hangs up on
/// the bytes it did not read, so a failed write is expected and only the answer counts.
async fn announced_but_not_sent(api: SocketAddr, announced: usize, sent: usize) -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(api).await.unwrap();
    let head = format!(
        "POST /api/office/config HTTP/1.1\r\nHost: {api}\r\nContent-Type: application/json\r\n\
         Content-Length: {announced}\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let written = stream.write_all(&vec![b'x'; sent]).await;
    let mut answer = Vec::new();
    let mut chunk = [0_u8; 4096];
    let reading = async {
        while !answer.windows(4).any(|w| w == b"\r\n\r\n") {
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => break,
                Ok(n) => answer.extend_from_slice(&chunk[..n]),
            }
        }
    };
    tokio::time::timeout(PATIENCE, reading)
        .await
        .expect("the node answers without the rest of the body");
    let answer = String::from_utf8_lossy(&answer);
    answer
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("no status in {answer:?} (writing: {written:?})"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_oversized_and_stale_configurations_are_refused_by_the_api() {
    let office = TestOffice::new();
    let node = office
        .start(office.enroll("gateway", Role::Gateway, vec![]))
        .await;
    let api = node.api_addr;
    let (code, answer) = office
        .post(
            api,
            "/api/office/config",
            json!({"payload": "{\"format\":1,\"revision\":5,\"office\":\"zeitz\",\"text\":\"\"}", "signature": "00"}),
        )
        .await;
    assert_eq!(
        (code, answer["kind"].clone()),
        (403, json!("not_signed")),
        "{answer}"
    );
    let (code, answer) = office
        .post(api, "/api/office/config", json!({"payload": 1}))
        .await;
    assert_eq!(code, 400, "{answer}");
    // A body far beyond any configuration is cut off before it is read whole: the
    // client announces 2 MiB, sends 600 KiB, and is answered without sending the rest.
    assert_eq!(
        announced_but_not_sent(api, 2 * 1024 * 1024, 600 * 1024).await,
        413
    );
    // Signed, but not newer than what the office has.
    let folder = &office.office;
    let payload = aufruf_office::office_doc::ConfigPayload {
        format: 1,
        revision: 0,
        office: "zeitz".into(),
        text: aufruf_office::EXAMPLE.into(),
    };
    let signed =
        aufruf_office::office_doc::SignedConfig::new(&payload, |b| folder.ca.sign_as_admin(b))
            .unwrap();
    let (code, answer) = office
        .post(
            api,
            "/api/office/config",
            serde_json::to_value(&signed).unwrap(),
        )
        .await;
    assert_eq!(
        (code, answer["kind"].clone()),
        (409, json!("not_newer")),
        "{answer}"
    );
    node.shutdown().await;
}
