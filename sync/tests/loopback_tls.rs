//! Real nodes over loopback with mutual TLS: they converge, and peers without a
//! valid office certificate (foreign CA, expired, none) or sending garbage after
//! the handshake are refused with the documents unchanged.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use aufruf_sync::address::Address;
use aufruf_sync::net::{self, NetConfig, Network, Tls};
use aufruf_sync::protocol::{Identity, Limits};
use aufruf_sync::trust::{NodeCredentials, OfficeCa, Validity};
use aufruf_sync::{DocumentName, NodeId, OfficeId, Replica, Role};
use automerge::transaction::Transactable;
use automerge::{ChangeHash, ROOT, ReadDoc};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const PATIENCE: Duration = Duration::from_secs(30);

fn office() -> OfficeId {
    OfficeId::new("zeitz").unwrap()
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn day() -> DocumentName {
    DocumentName::day(2026, 3, 11).unwrap()
}

struct TestNode {
    replica: Arc<Replica>,
    network: Network,
    _dir: tempfile::TempDir,
}

async fn start_node(ca: &OfficeCa, name: &str, peers: Vec<SocketAddr>) -> TestNode {
    let peers = peers.into_iter().map(Address::from).collect();
    start_node_at(ca, name, peers, tempfile::tempdir().unwrap(), 0).await
}

async fn start_node_at(
    ca: &OfficeCa,
    name: &str,
    peers: Vec<Address>,
    dir: tempfile::TempDir,
    port: u16,
) -> TestNode {
    let node = NodeId::new(name).unwrap();
    let identity = Identity {
        office: office(),
        node: node.clone(),
        role: Role::Desk,
    };
    let replica = Arc::new(
        Replica::open(
            &dir.path().join("store"),
            identity,
            Limits::default(),
            SystemTime::now(),
        )
        .unwrap()
        .replica,
    );
    let credentials = ca
        .issue(
            &node,
            aufruf_sync::name::Role::Desk,
            Validity::starting(SystemTime::now(), Duration::from_secs(3600)),
        )
        .unwrap();
    let tls = Tls::new(&credentials, &office(), provider()).unwrap();
    let config = NetConfig {
        listen: SocketAddr::from(([127, 0, 0, 1], port)),
        static_peers: peers,
        reconnect_min: Duration::from_millis(20),
        reconnect_max: Duration::from_millis(500),
        ..NetConfig::default()
    };
    let network = net::start(replica.clone(), tls, config).await.unwrap();
    TestNode {
        replica,
        network,
        _dir: dir,
    }
}

fn issue(replica: &Replica, ticket: &str) {
    replica
        .change(&day(), |tx| {
            tx.put(ROOT, ticket, "issued")?;
            Ok::<_, automerge::AutomergeError>(())
        })
        .unwrap();
}

fn heads(replica: &Replica) -> Vec<(DocumentName, Vec<ChangeHash>)> {
    replica
        .document_names()
        .into_iter()
        .map(|name| {
            let mut heads = replica.read(&name, |d| d.get_heads()).unwrap();
            heads.sort();
            (name, heads)
        })
        .collect()
}

/// Waits (bounded by [`PATIENCE`]) until all replicas have the same heads,
/// re-checking whenever any of them merges a change from a peer.
async fn converged(replicas: &[&Arc<Replica>]) {
    let (tx, mut merged) = tokio::sync::mpsc::unbounded_channel();
    let forwarders: Vec<_> = replicas
        .iter()
        .map(|replica| {
            let mut changes = replica.subscribe();
            let tx = tx.clone();
            tokio::spawn(async move {
                // Lagged or not, every wake-up means "look again".
                while !matches!(
                    changes.recv().await,
                    Err(tokio::sync::broadcast::error::RecvError::Closed)
                ) {
                    if tx.send(()).is_err() {
                        return;
                    }
                }
            })
        })
        .collect();
    let same = || {
        let first = heads(replicas[0]);
        !first.is_empty() && replicas[1..].iter().all(|r| heads(r) == first)
    };
    let result = tokio::time::timeout(PATIENCE, async {
        loop {
            while merged.try_recv().is_ok() {}
            if same() {
                return;
            }
            merged.recv().await;
        }
    })
    .await;
    for forwarder in forwarders {
        forwarder.abort();
    }
    result.expect("replicas did not converge");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_over_mutual_tls_converge() {
    let ca = OfficeCa::create(&office(), SystemTime::now()).unwrap();
    // Step 1: three nodes with diverging documents; each dials the earlier ones.
    let kiosk = start_node(&ca, "kiosk-1", vec![]).await;
    issue(&kiosk.replica, "A-001");
    let desk = start_node(&ca, "desk-1", vec![kiosk.network.local_addr()]).await;
    issue(&desk.replica, "desk-1-open");
    let display = start_node(
        &ca,
        "display-1",
        vec![kiosk.network.local_addr(), desk.network.local_addr()],
    )
    .await;
    issue(&display.replica, "display-1-on");
    converged(&[&kiosk.replica, &desk.replica, &display.replica]).await;
    // Step 2: a desk calls; every replica sees it.
    desk.replica
        .change(&day(), |tx| {
            tx.put(ROOT, "A-001", "called to desk 1")?;
            Ok::<_, automerge::AutomergeError>(())
        })
        .unwrap();
    converged(&[&kiosk.replica, &desk.replica, &display.replica]).await;
    let shown = display
        .replica
        .read(&day(), |d| {
            d.get(ROOT, "A-001").unwrap().unwrap().0.to_string()
        })
        .unwrap();
    assert_eq!(shown, "\"called to desk 1\"");
    assert_eq!(kiosk.replica.peers().len(), 2);
    for node in [&kiosk, &desk, &display] {
        let tickets = node.replica.read(&day(), |d| d.keys(ROOT).count()).unwrap();
        assert_eq!(tickets, 3);
    }
    for node in [kiosk, desk, display] {
        node.network.shutdown().await;
    }
}

/// A static peer given by its host name is looked up and reached (`localhost` may
/// name `::1` first, where nobody listens: the next address is tried); a name
/// without an address is tried again and again without holding up the others.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peers_named_by_host_name_are_looked_up_and_one_without_an_address_holds_up_nothing() {
    let ca = OfficeCa::create(&office(), SystemTime::now()).unwrap();
    let kiosk = start_node(&ca, "kiosk-1", vec![]).await;
    issue(&kiosk.replica, "A-001");
    let port = kiosk.network.local_addr().port();
    let peers = vec![
        "no-such-peer.invalid:7340".parse::<Address>().unwrap(),
        format!("localhost:{port}").parse::<Address>().unwrap(),
    ];
    assert!(matches!(peers[1], Address::Name { .. }));
    let desk = start_node_at(&ca, "desk-1", peers, tempfile::tempdir().unwrap(), 0).await;
    issue(&desk.replica, "desk-1-open");
    converged(&[&kiosk.replica, &desk.replica]).await;
    assert_eq!(desk.replica.peers().len(), 1);
    for node in [kiosk, desk] {
        node.network.shutdown().await;
    }
}

/// Connects to `server` as a client presenting `credentials` (or none) while
/// trusting the real office CA; returns what the server sent before closing.
async fn intrude(
    server: SocketAddr,
    office_ca: &OfficeCa,
    credentials: Option<&NodeCredentials>,
    after_handshake: &[u8],
) -> Vec<u8> {
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_slice(office_ca.certificate_pem.as_bytes()).unwrap())
        .unwrap();
    let builder = rustls::ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .with_root_certificates(roots);
    let config = match credentials {
        Some(credentials) => builder
            .with_client_auth_cert(
                vec![
                    CertificateDer::from_pem_slice(credentials.certificate_pem.as_bytes()).unwrap(),
                ],
                PrivateKeyDer::from_pem_slice(credentials.key_pem.as_bytes()).unwrap(),
            )
            .unwrap(),
        None => builder.with_no_client_auth(),
    };
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = TcpStream::connect(server).await.unwrap();
    let name = ServerName::try_from("zeitz.aufruf").unwrap();
    let mut received = Vec::new();
    let Ok(mut stream) = connector.connect(name, tcp).await else {
        return received;
    };
    // TLS 1.3: the server judges the client certificate after the client thinks the
    // handshake is done; its refusal shows up on the first read.
    let _ = stream.write_all(after_handshake).await;
    let _ = stream.flush().await;
    let _ = tokio::time::timeout(PATIENCE, stream.read_to_end(&mut received)).await;
    received
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peers_without_a_valid_office_certificate_or_with_garbage_are_refused() {
    let ca = OfficeCa::create(&office(), SystemTime::now()).unwrap();
    let kiosk = start_node(&ca, "kiosk-1", vec![]).await;
    issue(&kiosk.replica, "A-001");
    let before = heads(&kiosk.replica);
    let address = kiosk.network.local_addr();

    // A certificate from another office's CA.
    let foreign_ca =
        OfficeCa::create(&OfficeId::new("naumburg").unwrap(), SystemTime::now()).unwrap();
    let foreign = foreign_ca
        .issue(
            &NodeId::new("desk-9").unwrap(),
            aufruf_sync::name::Role::Desk,
            Validity::starting(SystemTime::now(), Duration::from_secs(3600)),
        )
        .unwrap();
    assert!(intrude(address, &ca, Some(&foreign), b"").await.is_empty());

    // The office's own CA, but expired yesterday.
    let day_secs = Duration::from_secs(24 * 3600);
    let expired = ca
        .issue(
            &NodeId::new("desk-8").unwrap(),
            aufruf_sync::name::Role::Desk,
            Validity {
                from: SystemTime::now() - day_secs * 30,
                until: SystemTime::now() - day_secs,
            },
        )
        .unwrap();
    assert!(intrude(address, &ca, Some(&expired), b"").await.is_empty());

    // No certificate at all.
    assert!(intrude(address, &ca, None, b"").await.is_empty());

    // A valid certificate, then garbage instead of frames: the node's hello may
    // arrive, then the session ends; no document byte is ever sent.
    let valid = ca
        .issue(
            &NodeId::new("desk-7").unwrap(),
            aufruf_sync::name::Role::Desk,
            Validity::starting(SystemTime::now(), Duration::from_secs(3600)),
        )
        .unwrap();
    let mut garbage = 13u32.to_be_bytes().to_vec();
    garbage.extend_from_slice(b"\x03not a frame!");
    // The node's hello is written before it reads anything, so a valid client
    // always gets exactly that one frame, then the close.
    let only_hello = |received: &[u8]| {
        let len = u32::from_be_bytes(received[..4].try_into().unwrap()) as usize;
        received.len() == 4 + len && received[4] == 1
    };
    let received = intrude(address, &ca, Some(&valid), &garbage).await;
    assert!(only_hello(&received), "{received:?}");

    // A valid certificate and an oversized length prefix.
    let received = intrude(address, &ca, Some(&valid), &u32::MAX.to_be_bytes()).await;
    assert!(only_hello(&received), "{received:?}");

    assert_eq!(heads(&kiosk.replica), before);
    assert!(kiosk.replica.peers().is_empty());
    kiosk.network.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dialler_reconnects_after_its_peer_restarts_and_catches_up() {
    let ca = OfficeCa::create(&office(), SystemTime::now()).unwrap();
    let kiosk = start_node(&ca, "kiosk-1", vec![]).await;
    let address = kiosk.network.local_addr();
    issue(&kiosk.replica, "A-001");
    let desk = start_node(&ca, "desk-1", vec![address]).await;
    converged(&[&kiosk.replica, &desk.replica]).await;
    // Step 1: the kiosk goes away; the desk works on alone and keeps redialling.
    let TestNode {
        replica,
        network,
        _dir: kiosk_dir,
    } = kiosk;
    network.shutdown().await;
    drop(replica);
    issue(&desk.replica, "A-002");
    // Step 2: the kiosk comes back on the same address with its store.
    let kiosk = start_node_at(&ca, "kiosk-1", vec![], kiosk_dir, address.port()).await;
    // Its own store still has the day (the desk may already have sent A-002 too).
    assert!(kiosk.replica.read(&day(), |d| d.keys(ROOT).count()) >= Some(1));
    converged(&[&kiosk.replica, &desk.replica]).await;
    assert_eq!(
        kiosk.replica.read(&day(), |d| d.keys(ROOT).count()),
        Some(2)
    );
    desk.network.shutdown().await;
    kiosk.network.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_never_finishes_its_handshake_blocks_nobody() {
    let ca = OfficeCa::create(&office(), SystemTime::now()).unwrap();
    let kiosk = start_node(&ca, "kiosk-1", vec![]).await;
    issue(&kiosk.replica, "A-001");
    // A connection that opens TCP and then says nothing at all.
    let _silent = TcpStream::connect(kiosk.network.local_addr())
        .await
        .unwrap();
    let desk = start_node(&ca, "desk-1", vec![kiosk.network.local_addr()]).await;
    converged(&[&kiosk.replica, &desk.replica]).await;
    desk.network.shutdown().await;
    kiosk.network.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_that_dial_each_other_hold_one_session() {
    let ca = OfficeCa::create(&office(), SystemTime::now()).unwrap();
    let mut kiosk = start_node(&ca, "kiosk-1", vec![]).await;
    let desk = start_node(&ca, "desk-1", vec![kiosk.network.local_addr()]).await;
    kiosk.network.add_peer(desk.network.local_addr());
    for round in 0..5 {
        issue(&kiosk.replica, &format!("A-{round:03}"));
        converged(&[&kiosk.replica, &desk.replica]).await;
        for node in [&kiosk, &desk] {
            let peers: Vec<String> = node
                .replica
                .peers()
                .iter()
                .map(|p| p.node.to_string())
                .collect();
            assert_eq!(peers.len(), 1, "round {round}: {peers:?}");
        }
    }
    desk.network.shutdown().await;
    kiosk.network.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_handshakes_is_bounded_and_the_office_carries_on() {
    let ca = OfficeCa::create(&office(), SystemTime::now()).unwrap();
    let kiosk = start_node(&ca, "kiosk-1", vec![]).await;
    issue(&kiosk.replica, "A-001");
    let address = kiosk.network.local_addr();
    // Connections that open TCP and then say nothing, far more than may handshake.
    let mut silent = Vec::new();
    for _ in 0..(aufruf_sync::net::MAX_HANDSHAKES + 20) {
        silent.push(TcpStream::connect(address).await.unwrap());
    }
    // Those beyond the bound are closed at once, long before the handshake deadline.
    let watches: Vec<_> = silent
        .into_iter()
        .map(|mut stream| {
            tokio::spawn(async move {
                let mut byte = [0u8; 1];
                let read =
                    tokio::time::timeout(Duration::from_secs(1), stream.read(&mut byte)).await;
                matches!(read, Ok(Ok(0) | Err(_)))
            })
        })
        .collect();
    let mut closed_at_once = 0;
    for watch in watches {
        if watch.await.unwrap() {
            closed_at_once += 1;
        }
    }
    assert_eq!(closed_at_once, 20);
    // A real peer still gets through and converges.
    let desk = start_node(&ca, "desk-1", vec![address]).await;
    converged(&[&kiosk.replica, &desk.replica]).await;
    desk.network.shutdown().await;
    kiosk.network.shutdown().await;
}
