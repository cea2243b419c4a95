//! The cost of knowing who wrote an event: sealing one (ECDSA P-256 signature with
//! the node's key) and checking one (certificate lookup, signature, role), with the
//! real keys of an enrolled node. Prints a table; `cargo bench -p aufruf-node --bench
//! authorship`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::time::{Duration, Instant, SystemTime};

use aufruf_model::authority::may_write;
use aufruf_model::{Event, Hlc, NodeId, Role, Stamp, TicketEvent, TicketId};
use aufruf_node::authority::keys;
use aufruf_office::authority::{Roster, Sealed, Seals, seal};
use aufruf_sync::trust::{OfficeCa, Validity};

const ROUNDS: usize = 2_000;

fn per_event(total: Duration) -> f64 {
    total.as_secs_f64() * 1e6 / ROUNDS as f64
}

fn main() {
    let office = "zeitz".parse().unwrap();
    let ca = OfficeCa::create(&office, SystemTime::now()).unwrap();
    let node: NodeId = "desk-1".parse().unwrap();
    let credentials = ca
        .issue(
            &node,
            Role::Desk,
            Validity::starting(SystemTime::now(), Duration::from_secs(3600)),
        )
        .unwrap();
    let keys = keys(&credentials).unwrap();
    let document = "day/2026-11-26";
    let key = "ticket:kiosk-1/17";
    let body = r#"{"Called":{"desk":"desk-1"}}"#;
    let now_ms = 1_795_000_000_000_u64;

    // Sealing.
    let started = Instant::now();
    let mut sealed = Vec::with_capacity(ROUNDS);
    for i in 0..ROUNDS {
        let entry = format!("{}.0.desk-1", now_ms + i as u64);
        sealed.push((
            entry.clone(),
            Sealed::Bytes(seal(&*keys.signer, document, key, &entry, body).unwrap()),
        ));
    }
    let sealing = started.elapsed();

    // Checking: the certificate once (as the roster does), then each event.
    let started = Instant::now();
    let certified = keys.authority.certificate(keys.signer.certificate_der());
    let certificate = started.elapsed();
    let mut roster = Roster::default();
    roster.learn(&keys.signer.fingerprint()[..16], certified);
    let seals = Seals {
        roster: &roster,
        authority: &*keys.authority,
        document,
        window_ms: (0, u64::MAX),
        held: None,
    };
    let ticket = TicketId::new(
        "kiosk-1".parse().unwrap(),
        aufruf_model::Incarnation::UNRECORDED,
        17,
    );
    let started = Instant::now();
    for (i, (entry, value)) in sealed.iter().enumerate() {
        let (author, body) = seals
            .open(key, entry, value, Some(now_ms + i as u64))
            .unwrap();
        let event = Event::Ticket {
            ticket: ticket.clone(),
            stamp: Stamp::new(Hlc::new(now_ms + i as u64, 0), node.clone()),
            event: serde_json::from_str::<TicketEvent>(body).unwrap(),
        };
        may_write(author, &event).unwrap();
    }
    let checking = started.elapsed();

    println!("authorship of an event, real keys (ECDSA P-256), {ROUNDS} events");
    println!("| step | per event |");
    println!("|---|---|");
    println!(
        "| seal (sign) when writing | {:.1} µs |",
        per_event(sealing)
    );
    println!(
        "| check (signature + role) when reading | {:.1} µs |",
        per_event(checking)
    );
    println!(
        "| certificate chain check, once per node | {:.1} µs |",
        certificate.as_secs_f64() * 1e6
    );
    println!(
        "| sealed value size | {} bytes (of which {} the JSON) |",
        match &sealed[0].1 {
            Sealed::Bytes(bytes) => bytes.len(),
            Sealed::Text(text) => text.len(),
        },
        body.len()
    );
}
