//! mDNS discovery between two network namespaces joined by a veth pair.
//!
//! Needs root (CI runs as root) and iproute2's `ip`; without either it fails with a
//! message saying so, it does not skip. The test creates namespaces
//! `aufruf-mdns-<pid>-a` / `-b` with one veth end in each (10.213.0.1/24 and
//! 10.213.0.2/24, both only inside these namespaces), and re-executes this test
//! binary inside them (`ip netns exec`) as children, each running one [`Discovery`]:
//!
//! - in `a`: office `zeitz`, node `kiosk-1` (IPv4 and IPv6), and node `display-1`
//!   using IPv6 only;
//! - in `b`: office `zeitz`, node `desk-1` (IPv4 and IPv6), and office `naumburg`,
//!   node `desk-1` (the same node id in another office, as on a shared city network).
//!
//! Within the time bound, `kiosk-1` and `desk-1` must find each other at their IPv4
//! veth addresses and report the `naumburg` node as ignored for being of another
//! office; `display-1` and `desk-1` must find each other at link-local IPv6 addresses
//! with scope ids. Every address found is dialled over TCP (each child listens on its
//! port), and must answer. Namespaces and children are cleaned up by guards, also
//! when the test fails.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)] // tests may panic

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Read};
use std::net::{Ipv6Addr, SocketAddr};
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::Arc;
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime};

use aufruf_sync::discovery::{Discovery, Ignored, InterfacePolicy, PeerEvent, dial_discovered};
use aufruf_sync::net::{self, NetConfig, Tls};
use aufruf_sync::protocol::{Identity, Limits};
use aufruf_sync::trust::{OfficeCa, Validity};
use aufruf_sync::{NodeId, OfficeId, Replica, Role};

/// Set in a child's environment: "office node role port interface families", where
/// families is `v4v6` or `v6`.
const CHILD_ENV: &str = "AUFRUF_MDNS_NETNS_CHILD";
/// Prefix of the lines a child reports on stdout.
const LINE: &str = "AUFRUF-MDNS";
/// Switch off IPv6 duplicate address detection on a veth end (if IPv6 exists).
const NO_DAD_A: &str = "f=/proc/sys/net/ipv6/conf/veth-a/accept_dad; [ ! -e $f ] || echo 0 > $f";
const NO_DAD_B: &str = "f=/proc/sys/net/ipv6/conf/veth-b/accept_dad; [ ! -e $f ] || echo 0 > $f";
/// Failure bound for the whole exchange. The children start right after the link
/// came up, as a node does at boot: mdns-sd's first sends on the fresh link fail and
/// it uses the link from its next interface check on, so expect ~2 s (~0.8 s on a
/// settled link).
const WITHIN: Duration = Duration::from_secs(30);

fn run(args: &[&str]) -> Result<(), String> {
    let output = Command::new("ip").args(args).output().map_err(|error| {
        if error.kind() == std::io::ErrorKind::NotFound {
            "`ip` (iproute2) is not installed: this test needs it; run scripts/setup.sh \
             or `apt-get install iproute2`"
                .to_string()
        } else {
            format!("running `ip {}`: {error}", args.join(" "))
        }
    })?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "`ip {}` failed ({}): {}",
            args.join(" "),
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        ))
    }
}

fn effective_uid() -> Option<u32> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("Uid:"))?;
    line.split_whitespace().nth(2)?.parse().ok()
}

/// Deletes the namespaces (and with them the veth pair) when dropped.
struct Namespaces(Vec<String>);

impl Drop for Namespaces {
    fn drop(&mut self) {
        for name in &self.0 {
            if let Err(error) = run(&["netns", "del", name]) {
                eprintln!("cleanup: {error}");
            }
        }
    }
}

/// Children that are killed and reaped when dropped.
struct Children(Vec<(String, Child)>);

impl Drop for Children {
    fn drop(&mut self) {
        for (_, child) in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

#[derive(Debug)]
enum Report {
    Line { child: String, line: String },
    Stderr { child: String, text: String },
}

struct Spawned {
    stdin: ChildStdin,
}

fn spawn_child(
    namespace: &str,
    name: &str,
    spec: &str,
    reports: &mpsc::Sender<Report>,
    children: &mut Children,
) -> Spawned {
    let exe = std::env::current_exe().expect("path of this test binary");
    let mut child = Command::new("ip")
        .args(["netns", "exec", namespace])
        .arg(exe)
        .args([
            "--exact",
            &crate::test_name(module_path!(), "child_in_namespace"),
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, spec)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("spawning child {name} in {namespace}: {e}"));
    let stdout = child.stdout.take().expect("piped stdout");
    let mut stderr = child.stderr.take().expect("piped stderr");
    let stdin = child.stdin.take().expect("piped stdin");
    let sender = reports.clone();
    let child_name = name.to_string();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(line) = line.strip_prefix(LINE) {
                let report = Report::Line {
                    child: child_name.clone(),
                    line: line.trim().to_string(),
                };
                if sender.send(report).is_err() {
                    return;
                }
            }
        }
    });
    let sender = reports.clone();
    let child_name = name.to_string();
    std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        let _ = sender.send(Report::Stderr {
            child: child_name,
            text,
        });
    });
    children.0.push((name.to_string(), child));
    Spawned { stdin }
}

#[test]
fn two_namespaces_find_each_other_and_ignore_another_office() {
    let mut missing = Vec::new();
    if let Err(error) = run(&["-V"]) {
        missing.push(error);
    }
    let uid = effective_uid();
    if uid != Some(0) {
        missing.push(format!(
            "this test creates network namespaces and must run as root (CI does); \
             effective uid is {uid:?}"
        ));
    }
    assert!(missing.is_empty(), "{}", missing.join("\n"));

    let pid = std::process::id();
    let ns_a = format!("aufruf-mdns-{pid}-a");
    let ns_b = format!("aufruf-mdns-{pid}-b");
    let mut namespaces = Namespaces(Vec::new());
    for ns in [&ns_a, &ns_b] {
        run(&["netns", "add", ns]).unwrap_or_else(|e| panic!("{e}"));
        namespaces.0.push(ns.clone());
    }
    // Created directly inside the namespaces: nothing appears in the host's.
    let setup: &[&[&str]] = &[
        &[
            "-n", &ns_a, "link", "add", "veth-a", "type", "veth", "peer", "name", "veth-b",
            "netns", &ns_b,
        ],
        &["-n", &ns_a, "addr", "add", "10.213.0.1/24", "dev", "veth-a"],
        &["-n", &ns_b, "addr", "add", "10.213.0.2/24", "dev", "veth-b"],
        // Devices' link-local IPv6 addresses have long passed duplicate address
        // detection when peers meet; on the fresh veth they would stay tentative
        // (unusable as a source) for a second or two.
        &["netns", "exec", &ns_a, "sh", "-c", NO_DAD_A],
        &["netns", "exec", &ns_b, "sh", "-c", NO_DAD_B],
        &["-n", &ns_a, "link", "set", "lo", "up"],
        &["-n", &ns_b, "link", "set", "lo", "up"],
        &[
            "-n",
            &ns_a,
            "link",
            "set",
            "veth-a",
            "multicast",
            "on",
            "up",
        ],
        &[
            "-n",
            &ns_b,
            "link",
            "set",
            "veth-b",
            "multicast",
            "on",
            "up",
        ],
    ];
    for args in setup {
        run(args).unwrap_or_else(|e| panic!("{e}"));
    }

    // One office CA per office; each child issues its own node certificate.
    let ca_dir = tempfile::tempdir().expect("CA directory");
    for office in ["zeitz", "naumburg"] {
        let ca = OfficeCa::create(&OfficeId::new(office).unwrap(), SystemTime::now())
            .expect("office CA");
        std::fs::write(
            ca_dir.path().join(format!("{office}.crt")),
            &ca.certificate_pem,
        )
        .unwrap();
        std::fs::write(ca_dir.path().join(format!("{office}.key")), &ca.key_pem).unwrap();
    }
    let ca_path = ca_dir.path().display().to_string();

    let (reports, received) = mpsc::channel();
    let mut children = Children(Vec::new());
    let started = Instant::now();
    let mut stdins = Vec::new();
    for (namespace, name, spec) in [
        (&ns_a, "zeitz/kiosk-1", "zeitz kiosk-1 1 7341 veth-a v4v6"),
        (&ns_b, "zeitz/desk-1", "zeitz desk-1 2 7342 veth-b v4v6"),
        (
            &ns_b,
            "naumburg/desk-1",
            "naumburg desk-1 2 7343 veth-b v4v6",
        ),
        (&ns_a, "zeitz/display-1", "zeitz display-1 3 7344 veth-a v6"),
    ] {
        let spec = format!("{spec} {ca_path}");
        stdins.push(spawn_child(namespace, name, &spec, &reports, &mut children).stdin);
    }
    drop(reports);

    let exact = |line: &str, expected: &str| line.starts_with(&format!("{expected} "));
    let scoped_link_local = |line: &str, node: &str, port: u16| {
        line.starts_with(&format!("found zeitz {node} [fe80:"))
            && line.contains('%')
            && line.contains(&format!("]:{port} "))
    };
    let mut expectations: Vec<Expectation> = vec![
        Expectation::new(
            "zeitz/kiosk-1",
            "finds desk-1 at 10.213.0.2:7342",
            move |l| exact(l, "found zeitz desk-1 10.213.0.2:7342"),
        ),
        Expectation::new(
            "zeitz/desk-1",
            "finds kiosk-1 at 10.213.0.1:7341",
            move |l| exact(l, "found zeitz kiosk-1 10.213.0.1:7341"),
        ),
        Expectation::new("zeitz/kiosk-1", "ignores naumburg", |l| {
            l.starts_with("ignored other-office naumburg ")
        }),
        Expectation::new("zeitz/desk-1", "ignores naumburg", |l| {
            l.starts_with("ignored other-office naumburg ")
        }),
        Expectation::new("zeitz/kiosk-1", "has a TLS session with desk-1", |l| {
            l.starts_with("session zeitz desk-1 ")
        }),
        Expectation::new("zeitz/desk-1", "has a TLS session with kiosk-1", |l| {
            l.starts_with("session zeitz kiosk-1 ")
        }),
        Expectation::new(
            "zeitz/display-1",
            "finds desk-1 at a scoped link-local address",
            move |l| scoped_link_local(l, "desk-1", 7342),
        ),
        Expectation::new(
            "zeitz/desk-1",
            "finds display-1 at a scoped link-local address",
            move |l| scoped_link_local(l, "display-1", 7344),
        ),
        Expectation::new("zeitz/display-1", "has a TLS session with desk-1", |l| {
            l.starts_with("session zeitz desk-1 ")
        }),
        Expectation::new("zeitz/desk-1", "has a TLS session with display-1", |l| {
            l.starts_with("session zeitz display-1 ")
        }),
    ];
    let mut log = Vec::new();
    let mut stderr = Vec::new();
    let deadline = started + WITHIN;
    while expectations.iter().any(|e| e.met_at_ms.is_none()) {
        let left = deadline.saturating_duration_since(Instant::now());
        match received.recv_timeout(left) {
            Ok(Report::Line { child, line }) => {
                log.push(format!("{child}: {line}"));
                let office = child.split('/').next().unwrap_or_default();
                // Nodes of another office are never dialled, nor is TLS with them up.
                for verb in ["found", "session"] {
                    assert!(
                        !line.starts_with(verb) || line.starts_with(&format!("{verb} {office} ")),
                        "{child} reached a node of another office: {line}"
                    );
                }
                assert!(
                    !line.starts_with("found") || !line.contains("[fe80:") || line.contains('%'),
                    "{child}: link-local address without scope: {line}"
                );
                let ms = line.rsplit(' ').next().and_then(|t| t.parse::<u64>().ok());
                for expectation in &mut expectations {
                    if expectation.met_at_ms.is_none()
                        && expectation.child == child
                        && (expectation.matches)(&line)
                    {
                        expectation.met_at_ms = ms.or(Some(0));
                    }
                }
            }
            Ok(Report::Stderr { child, text }) => {
                stderr.push(format!("--- {child} stderr:\n{text}"))
            }
            Err(_) => {
                // Kill the children so their stderr (their logs) ends and can be shown.
                drop(children);
                let logs: Vec<String> = received
                    .iter()
                    .filter_map(|report| match report {
                        Report::Stderr { child, text } => Some(format!("--- {child}:\n{text}")),
                        Report::Line { .. } => None,
                    })
                    .collect();
                let unmet: Vec<String> = expectations
                    .iter()
                    .filter(|e| e.met_at_ms.is_none())
                    .map(|e| format!("{} {}", e.child, e.what))
                    .collect();
                panic!(
                    "not within {WITHIN:?}: {}\nreports:\n{}\n{}\n{}",
                    unmet.join("; "),
                    log.join("\n"),
                    stderr.join("\n"),
                    logs.join("\n")
                );
            }
        }
    }
    println!("{}", log.join("\n"));
    for expectation in &expectations {
        println!(
            "after {:>5} ms: {} {}",
            expectation.met_at_ms.unwrap_or_default(),
            expectation.child,
            expectation.what
        );
    }
    println!("all met after {} ms", started.elapsed().as_millis());

    // Closing stdin tells each child to unregister and exit.
    drop(stdins);
    for (name, child) in &mut children.0 {
        let status = child.wait().expect("waiting for a child");
        assert!(
            status.success(),
            "child {name} ended with {status}\n{}",
            stderr.join("\n")
        );
    }
    drop(children);
    drop(namespaces);
}

/// Something a child must report within [`WITHIN`].
struct Expectation {
    child: &'static str,
    what: &'static str,
    matches: Box<dyn Fn(&str) -> bool>,
    met_at_ms: Option<u64>,
}

impl Expectation {
    fn new(
        child: &'static str,
        what: &'static str,
        matches: impl Fn(&str) -> bool + 'static,
    ) -> Self {
        Expectation {
            child,
            what,
            matches: Box::new(matches),
            met_at_ms: None,
        }
    }
}

/// The child side: does nothing unless started by the test above with
/// [`CHILD_ENV`] set, inside a namespace. Runs one node (replica, mutual-TLS
/// network, discovery wired with `dial_discovered`) and reports on stdout what
/// discovery saw and which sessions came up, until stdin closes.
#[test]
fn child_in_namespace() {
    let Ok(spec) = std::env::var(CHILD_ENV) else {
        return;
    };
    let parts: Vec<&str> = spec.split(' ').collect();
    let [office, node, role, port, interface, families, ca_dir] = parts[..] else {
        panic!("bad {CHILD_ENV}: {spec:?}");
    };
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_max_level(tracing::Level::DEBUG)
        .try_init();
    let office = OfficeId::new(office).expect("office id");
    let node = NodeId::new(node).expect("node id");
    let identity = Identity {
        office: office.clone(),
        node: node.clone(),
        role: Role::from_code(role.parse().expect("role code")).expect("role"),
    };
    let port: u16 = port.parse().expect("port");
    let ca_dir = Path::new(ca_dir);
    let ca = OfficeCa {
        office: office.clone(),
        certificate_pem: std::fs::read_to_string(ca_dir.join(format!("{office}.crt")))
            .expect("CA certificate"),
        key_pem: std::fs::read_to_string(ca_dir.join(format!("{office}.key"))).expect("CA key"),
    };
    let credentials = ca
        .issue(
            &node,
            aufruf_sync::name::Role::Desk,
            Validity::starting(SystemTime::now(), Duration::from_secs(3600)),
        )
        .expect("node certificate");
    let store = tempfile::tempdir().expect("store directory");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async move {
        let (stdin_closed, mut closed) = tokio::sync::oneshot::channel::<()>();
        std::thread::spawn(move || {
            let mut sink = Vec::new();
            let _ = std::io::stdin().read_to_end(&mut sink);
            let _ = stdin_closed.send(());
        });
        let replica = Arc::new(
            Replica::open(
                &store.path().join("store"),
                identity.clone(),
                Limits::default(),
                SystemTime::now(),
            )
            .expect("replica")
            .replica,
        );
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let tls = Tls::new(&credentials, &office, provider).expect("tls");
        let config = NetConfig {
            // Dual-stack: IPv4 and (link-local) IPv6 peers alike.
            listen: SocketAddr::from((Ipv6Addr::UNSPECIFIED, port)),
            reconnect_min: Duration::from_millis(50),
            reconnect_max: Duration::from_millis(500),
            ..NetConfig::default()
        };
        let mut network = net::start(replica.clone(), tls, config)
            .await
            .expect("network");
        let policy = InterfacePolicy {
            interfaces: vec![interface.to_string()],
            ipv4: families.contains("v4"),
            ipv6: families.contains("v6"),
            ..InterfacePolicy::default()
        };
        let started = Instant::now();
        let mut discovery = Discovery::start(&identity, port, policy).expect("discovery starts");
        println!("{LINE} started {}", discovery.instance());
        // Sessions have no notification of their own; look at them regularly.
        let mut look = tokio::time::interval(Duration::from_millis(20));
        let mut sessions = BTreeSet::new();
        loop {
            tokio::select! {
                _ = &mut closed => break,
                _ = discovery.changed() => {}
                _ = look.tick() => {}
            }
            let ms = started.elapsed().as_millis();
            let dialling = dial_discovered(&mut network, &mut discovery, &replica, &[]);
            for event in dialling.events {
                match event {
                    PeerEvent::Found(peer) => println!(
                        "{LINE} found {} {} {} {ms}",
                        peer.office, peer.node, peer.address
                    ),
                    PeerEvent::Ignored {
                        reason: Ignored::OtherOffice { office },
                        instance,
                    } => println!("{LINE} ignored other-office {office} {instance} {ms}"),
                    PeerEvent::Ignored { reason, instance } => {
                        println!("{LINE} ignored other {instance} ({reason}) {ms}");
                    }
                    PeerEvent::Removed { instance } => println!("{LINE} removed {instance} {ms}"),
                }
            }
            for address in dialling.added {
                println!("{LINE} dialling {address} {ms}");
            }
            for hello in replica.peers() {
                if sessions.insert(hello.node.clone()) {
                    println!("{LINE} session {} {} {ms}", hello.office, hello.node);
                }
            }
        }
        discovery.shutdown().await;
        network.shutdown().await;
        println!("{LINE} stopped");
    });
}
