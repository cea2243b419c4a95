//! Updates through a node (`[node.updates]`, e.g. the gateway appliance): its API
//! takes a signed bundle in, with its token only, and serves it to the office's
//! devices, which fetch it without the token and write it into their other slot.
//! Unsigned, tampered and oversized uploads are refused and leave nothing behind.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use std::path::Path;
use std::process::Command;

use aufruf_node::settings::Role;
use aufruf_node::update::{self, source};
use common::TestOffice;
use ring::signature::{Ed25519KeyPair, KeyPair as _};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn new_key() -> Ed25519KeyPair {
    let pkcs8 = Ed25519KeyPair::generate_pkcs8(&ring::rand::SystemRandom::new()).unwrap();
    Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).unwrap()
}

/// A bundle for `version` whose root is 50 KB of `fill`.
fn bundle(key: &Ed25519KeyPair, version: &str, fill: u8) -> Vec<u8> {
    let root = vec![fill; 50_000];
    update::encode(
        version,
        &[
            ("root", &root),
            ("kernel-a", b"kernel a"),
            ("kernel-b", b"kernel b"),
        ],
        |manifest| key.sign(manifest).as_ref().to_vec(),
    )
}

fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_takes_signed_updates_in_with_its_token_and_serves_them_to_devices() {
    let office = TestOffice::new();
    let key = new_key();
    let home = office.home("gateway-1");
    std::fs::create_dir_all(&home).unwrap();
    let key_file = home.join("update.pub");
    std::fs::write(&key_file, key.public_key().as_ref()).unwrap();
    let published = home.join("updates");
    let token = "u".repeat(40);
    let mut settings = office.enroll_alone("gateway-1", Role::Gateway);
    settings.api_token = Some(token.clone());
    settings.updates = Some(source::ServeSettings {
        dir: published.clone(),
        key: key_file,
    });
    let node = office.start(settings).await;
    let api = node.api_addr;
    let put = |bytes: Vec<u8>, token: Option<&str>| {
        let request = office
            .http
            .put(format!("http://{api}/api/updates"))
            .body(bytes);
        let request = match token {
            Some(token) => request.bearer_auth(token),
            None => request,
        };
        async move {
            let answer = request.send().await.unwrap();
            let status = answer.status().as_u16();
            (
                status,
                answer.json::<serde_json::Value>().await.unwrap_or_default(),
            )
        }
    };

    // Without the token nothing is taken in.
    let (status, _) = put(bundle(&key, "0.2.0", 7), None).await;
    assert_eq!(status, 401);
    assert!(!published.join(source::LATEST).exists());

    let (status, answer) = put(bundle(&key, "0.2.0", 7), Some(&token)).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["version"], "0.2.0");

    // Another key's bundle, and a changed byte: refused, the published one stays.
    let (status, answer) = put(bundle(&new_key(), "0.3.0", 7), Some(&token)).await;
    assert_eq!((status, answer["kind"].as_str()), (422, Some("refused")));
    let mut tampered = bundle(&key, "0.3.0", 7);
    let last = tampered.len() - 1;
    tampered[last] ^= 1;
    let (status, answer) = put(tampered, Some(&token)).await;
    assert_eq!(status, 422, "{answer}");
    assert!(
        answer["error"]
            .as_str()
            .unwrap()
            .contains("not what its signed manifest says"),
        "{answer}"
    );
    // Announced larger than any bundle: refused before a byte is stored.
    let mut stream = tokio::net::TcpStream::connect(api).await.unwrap();
    stream
        .write_all(
            format!(
                "PUT /api/updates HTTP/1.1\r\nHost: {api}\r\nAuthorization: Bearer {token}\r\n\
                 Content-Length: 300000000000\r\nConnection: close\r\n\r\nAUFRUF"
            )
            .as_bytes(),
        )
        .await
        .unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.unwrap();
    assert!(
        String::from_utf8_lossy(&answer).starts_with("HTTP/1.1 413"),
        "{}",
        String::from_utf8_lossy(&answer)
    );
    assert_eq!(names(&published), ["aufruf-0.2.0.update", "latest"]);

    // `aufruf update upload`, the token from the environment.
    let file = home.join("aufruf-0.3.0.update");
    std::fs::write(&file, bundle(&key, "0.3.0", 9)).unwrap();
    let upload = Command::new(env!("CARGO_BIN_EXE_aufruf"))
        .args(["update", "upload"])
        .arg(&file)
        .args(["--api", &api.to_string()])
        .env("AUFRUF_API_TOKEN", &token)
        .output()
        .unwrap();
    assert!(
        upload.status.success(),
        "{}",
        String::from_utf8_lossy(&upload.stderr)
    );
    assert!(String::from_utf8_lossy(&upload.stdout).contains("version 0.3.0 published"));

    // A device fetches it without the token and writes it into the slot it did not
    // boot from.
    let device = tempfile::tempdir().unwrap();
    let targets = update::Targets {
        efi: device.path().join("efi"),
        slots: device.path().join("slots"),
        cmdline: device.path().join("cmdline"),
    };
    std::fs::create_dir_all(targets.efi.join("EFI/Linux")).unwrap();
    std::fs::write(targets.efi.join("EFI/Linux/aufruf-0.1.0-a.efi"), b"a").unwrap();
    std::fs::create_dir_all(&targets.slots).unwrap();
    for slot in ["root-a", "root-b"] {
        std::fs::write(targets.slots.join(slot), vec![0u8; 64 * 1024]).unwrap();
    }
    std::fs::write(&targets.cmdline, "root=PARTLABEL=root-a ro\n").unwrap();
    let fetching = source::Device {
        booted: "0.1.0".into(),
        key: key.public_key().as_ref().to_vec(),
        targets: targets.clone(),
        download: device.path().join("download"),
    };
    let fetched = source::fetch(&api.into(), &fetching, &source::Limits::default())
        .await
        .unwrap();
    assert!(
        matches!(&fetched, source::Fetched::Applied(applied) if applied.version == "0.3.0" && applied.slot == 'b'),
        "{fetched:?}"
    );
    assert_eq!(
        &std::fs::read(targets.slots.join("root-b")).unwrap()[..50_000],
        &[9u8; 50_000][..]
    );
    assert_eq!(
        names(&targets.efi.join("EFI/Linux")),
        ["aufruf-0.1.0-a.efi", "aufruf-0.3.0-b+3.efi"]
    );
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_without_an_updates_table_takes_and_serves_none() {
    let office = TestOffice::new();
    let node = office
        .start(office.enroll_alone("display-1", Role::Display))
        .await;
    let api = node.api_addr;
    let answer = office
        .http
        .put(format!("http://{api}/api/updates"))
        .body(b"AUFRUF-UPDATE-1\n".to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status().as_u16(), 404);
    let (status, _) = office.get(api, "/updates/latest").await;
    assert_eq!(status, 404);
    node.shutdown().await;
}
