//! The sync protocol's cores on the simulated network (moved here from
//! `sync/protocol/tests/simulated_lan.rs`, so there is one network): nodes with
//! diverging documents, lost connections, random delivery order across connections,
//! partitions and heals — every replica ends with the same documents and heads. Replay
//! one schedule with
//! `AUFRUF_SIM_SEED=<seed> cargo test -p aufruf-tests --test protocol_lan`.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic

use std::time::Duration;

use aufruf_sync::DocumentName;
use aufruf_tests::cores::Core;
use aufruf_tests::network::Network;
use rand::Rng;

fn seeds() -> Vec<u64> {
    match std::env::var("AUFRUF_SIM_SEED") {
        Ok(seed) => vec![seed.parse().expect("AUFRUF_SIM_SEED is a number")],
        Err(_) => (0..24).collect(),
    }
}

fn days() -> Vec<DocumentName> {
    vec![
        DocumentName::Office,
        DocumentName::day(2026, 3, 11).unwrap(),
        DocumentName::day(2026, 3, 12).unwrap(),
    ]
}

#[test]
fn diverging_replicas_converge_despite_lost_connections_and_reordering() {
    for seed in seeds() {
        let mut lan =
            Network::<Core>::of_cores(seed, &["kiosk-1", "desk-1", "desk-2", "display-1"]);
        let days = days();
        let mut tickets = 0;
        // Step 1: every node works alone for a while, so the documents diverge.
        for _ in 0..30 {
            let node = lan.rng().random_range(0..4);
            lan.random_ticket(node, &days, &mut tickets);
        }
        // Step 2: the LAN comes up and flaps while everyone keeps working.
        lan.connect_all();
        for _ in 0..600 {
            lan.random_step(&days, &mut tickets);
        }
        // Step 3: links hold; everything in flight arrives.
        lan.settle();
        lan.assert_converged();
        for day in &days {
            let expected = lan.tickets(0, day);
            for node in 1..lan.nodes().len() {
                assert_eq!(lan.tickets(node, day), expected, "seed {seed}");
            }
        }
        let total: usize = days.iter().map(|d| lan.tickets(0, d).len()).sum();
        assert_eq!(total, tickets, "seed {seed}: a ticket was lost");
        assert!(lan.closes().is_empty(), "seed {seed}: {:?}", lan.closes());
    }
}

#[test]
fn two_halves_of_a_partitioned_office_heal() {
    for seed in seeds() {
        let names: Vec<String> = (0..6).map(|n| format!("node-{n}")).collect();
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        let mut lan = Network::<Core>::of_cores(seed, &names);
        let days = days();
        let mut tickets = 0;
        lan.connect_all();
        lan.settle();
        // Step 1: the office splits; each half works on, including a new day
        // document only one half has. The connections across the split carry
        // nothing more; the cores drop them when they hear nothing.
        lan.partition_by_index(&[0, 0, 0, 1, 1, 1]);
        for _ in 0..400 {
            lan.random_step(&days, &mut tickets);
        }
        let only_left = DocumentName::day(2026, 3, 13).unwrap();
        lan.issue(0, &only_left, "late-1");
        tickets += 1;
        lan.settle();
        assert!(lan.nodes()[4].replicator().document(&only_left).is_none());
        // Step 2: the halves meet again.
        lan.heal();
        lan.settle();
        lan.assert_converged();
        assert_eq!(lan.tickets(5, &only_left), vec!["late-1".to_owned()]);
        let mut all_days = days.clone();
        all_days.push(only_left);
        let total: usize = all_days.iter().map(|d| lan.tickets(3, d).len()).sum();
        assert_eq!(total, tickets, "seed {seed}: a ticket was lost");
    }
}

#[test]
fn a_silently_dead_link_is_detected_by_heartbeats_and_replaced() {
    let mut lan = Network::<Core>::of_cores(7, &["kiosk-1", "desk-1"]);
    let (kiosk, desk) = (0, 1);
    let day = DocumentName::day(2026, 3, 11).unwrap();
    lan.connect(kiosk, desk);
    lan.settle();
    // Step 1: quiet hours; heartbeats keep the session up.
    lan.run_for(Duration::from_secs(30));
    assert!(lan.closes().is_empty(), "{:?}", lan.closes());
    assert!(lan.is_connected(kiosk, desk));
    // Step 2: the cable is cut without a TCP reset; both sides notice by silence.
    lan.drop_connection_between(kiosk, desk, 1.0);
    lan.issue(kiosk, &day, "A-001");
    lan.run_for(Duration::from_secs(6));
    assert!(!lan.is_connected(kiosk, desk));
    assert!(!lan.has_unnoticed_break(kiosk, desk));
    assert!(
        lan.closes()
            .iter()
            .any(|e| e.contains("silent for too long")),
        "{:?}",
        lan.closes()
    );
    // Step 3: a new connection brings the desk up to date.
    lan.settle();
    lan.assert_converged();
    assert_eq!(lan.tickets(desk, &day), vec!["A-001".to_owned()]);
}

/// Regression: when both sides opened the sync, the empty newcomer's second message
/// (still with empty heads) made automerge resend the whole day.
#[test]
fn a_newcomer_receives_a_busy_day_only_once() {
    for seed in seeds() {
        let mut lan = Network::<Core>::of_cores(seed, &["gateway-1", "desk-new"]);
        let (gateway, newcomer) = (0, 1);
        let day = DocumentName::day(2026, 3, 11).unwrap();
        for t in 0..1000 {
            lan.issue(gateway, &day, &format!("T-{t:04}"));
        }
        let whole_day = lan.nodes()[gateway]
            .replicator()
            .document(&day)
            .unwrap()
            .save()
            .len();
        lan.connect(gateway, newcomer);
        let mut big_frames = 0;
        while let Some(delivery) = lan.deliver_next() {
            if delivery.from == gateway && delivery.bytes >= whole_day {
                big_frames += 1;
            }
        }
        lan.assert_converged();
        assert_eq!(
            big_frames, 1,
            "seed {seed}: the day was sent {big_frames} times"
        );
    }
}

#[test]
fn a_relay_skipped_for_a_peer_that_seemed_connected_arrives_within_two_ticks() {
    let mut lan = Network::<Core>::of_cores(11, &["desk-1", "kiosk-1", "display-1"]);
    let (desk, kiosk, display) = (0, 1, 2);
    let day = DocumentName::day(2026, 3, 11).unwrap();
    lan.settle();
    // Step 1: the desk–display cable dies unnoticed; the kiosk still believes the
    // display hears the desk, so it does not pass the desk's call on at once.
    lan.drop_connection_between(desk, display, 1.0);
    lan.issue(desk, &day, "A-001");
    lan.deliver_all();
    assert_eq!(lan.tickets(kiosk, &day), vec!["A-001".to_owned()]);
    assert!(lan.tickets(display, &day).is_empty());
    // Step 2: at the next tick the kiosk tells the display its heads. The display
    // does not ask at once: the desk's own push could still be on its way.
    let sync_rounds = lan.frames_of_kind(3);
    lan.run_for(Duration::from_millis(100));
    assert!(lan.tickets(display, &day).is_empty());
    assert_eq!(lan.frames_of_kind(3), sync_rounds);
    // Step 3: at its own next tick the display still lacks those heads and fetches
    // them from the kiosk, long before the dead link is noticed.
    lan.run_for(Duration::from_millis(100));
    assert_eq!(lan.tickets(display, &day), vec!["A-001".to_owned()]);
    assert!(lan.has_unnoticed_break(desk, display));
}

#[test]
fn a_desk_call_reaches_a_ten_node_mesh_without_relays() {
    let names: Vec<String> = (0..10).map(|n| format!("node-{n}")).collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let mut lan = Network::<Core>::of_cores(3, &names);
    let day = DocumentName::day(2026, 3, 11).unwrap();
    lan.issue(0, &day, "A-001");
    lan.settle();
    // Before any tick: the call is pushed nine times and needs no answer.
    let before = lan.frames_sent();
    lan.issue(0, &day, "call A-001");
    lan.deliver_all();
    assert_eq!(lan.frames_sent() - before, 9);
    for node in 1..10 {
        assert!(lan.tickets(node, &day).contains(&"call A-001".to_owned()));
    }
    // The next tick: the nodes that got the call tell each other their heads, which
    // they know already; no automerge sync round runs for a call everyone has.
    let sync_rounds = lan.frames_of_kind(3);
    lan.run_for(Duration::from_millis(100));
    assert_eq!(lan.frames_of_kind(3), sync_rounds);
    lan.settle();
    lan.assert_converged();
}

/// When two halves of an office meet over one link, each half's changes reach the
/// other half's nodes once: the node on the link passes what the sync brought on as
/// it is, at once. (Passed on by a sync message, automerge answered the peer's stale
/// "have" with every change since, so the half's own changes went round again.)
#[test]
fn a_heal_over_one_link_passes_each_change_on_once() {
    for seed in seeds() {
        let names = [
            "left-0", "left-1", "left-2", "right-0", "right-1", "right-2",
        ];
        let mut lan = Network::<Core>::of_cores(seed, &names);
        let day = DocumentName::day(2026, 3, 11).unwrap();
        lan.issue(0, &day, "A-000");
        lan.settle();
        let split: Vec<_> = lan.nodes()[0]
            .replicator()
            .document(&day)
            .unwrap()
            .get_heads();
        // Step 1: the office splits and each half issues 100 tickets; the sessions
        // across the split die of silence.
        lan.partition_by_index(&[0, 0, 0, 1, 1, 1]);
        for t in 1..=100 {
            lan.issue(0, &day, &format!("L-{t:03}"));
            lan.issue(3, &day, &format!("R-{t:03}"));
        }
        lan.settle();
        assert!(!lan.is_connected(0, 3));
        let new_bytes = |node: usize| -> usize {
            let document = lan.nodes()[node].replicator().document(&day).unwrap();
            document
                .get_changes(&split)
                .iter()
                .map(|change| change.raw_bytes().len())
                .sum()
        };
        // Each half's changes must reach the other half's three nodes.
        let needed = 3 * (new_bytes(0) + new_bytes(3));
        // Step 2: the halves meet over one link, left-0 to right-0; no time passes.
        lan.heal();
        lan.connect(0, 3);
        let mut delivered = 0;
        while let Some(delivery) = lan.deliver_next() {
            delivered += delivery.bytes;
        }
        for (node, name) in names.iter().enumerate() {
            assert_eq!(lan.tickets(node, &day).len(), 201, "seed {seed}: {name}");
        }
        assert!(
            delivered * 10 <= needed * 12,
            "seed {seed}: {delivered} bytes delivered for {needed} bytes of changes"
        );
        lan.settle();
        lan.assert_converged();
    }
}
