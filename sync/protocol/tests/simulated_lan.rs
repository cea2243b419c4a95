//! Deterministic simulated LAN: nodes with diverging documents, lost connections,
//! random delivery order across links, partitions and heals — every replica ends
//! with the same documents and heads. Replay one schedule with
//! `AUFRUF_SIM_SEED=<seed> cargo test -p aufruf-sync-protocol --test simulated_lan`.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic

mod common;

use aufruf_sync_protocol::DocumentName;
use common::Lan;

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
        let mut lan = Lan::new(seed);
        for name in ["kiosk-1", "desk-1", "desk-2", "display-1"] {
            lan.add_node(name);
        }
        let days = days();
        let mut tickets = 0;
        // Step 1: every node works alone for a while, so the documents diverge.
        for _ in 0..30 {
            let node = lan.rng_node();
            lan.issue(node, &days, &mut tickets);
        }
        // Step 2: the LAN comes up and flaps while everyone keeps working.
        lan.connect_all();
        for _ in 0..600 {
            lan.step(&days, &mut tickets);
        }
        // Step 3: links hold; everything in flight arrives.
        lan.settle();
        lan.assert_converged();
        for day in &days {
            let expected = lan.tickets(0, day);
            for node in 1..lan.nodes.len() {
                assert_eq!(lan.tickets(node, day), expected, "seed {seed}");
            }
        }
        let total: usize = days.iter().map(|d| lan.tickets(0, d).len()).sum();
        assert_eq!(total, tickets, "seed {seed}: a ticket was lost");
        assert!(
            lan.closed_with_error.is_empty(),
            "seed {seed}: {:?}",
            lan.closed_with_error
        );
    }
}

#[test]
fn two_halves_of_a_partitioned_office_heal() {
    for seed in seeds() {
        let mut lan = Lan::new(seed);
        for n in 0..6 {
            lan.add_node(&format!("node-{n}"));
        }
        let days = days();
        let mut tickets = 0;
        lan.connect_all();
        lan.settle();
        // Step 1: the office splits; each half works on, including a new day
        // document only one half has.
        lan.partition(&[&[0, 1, 2], &[3, 4, 5]]);
        for _ in 0..400 {
            lan.step(&days, &mut tickets);
        }
        let only_left = DocumentName::day(2026, 3, 13).unwrap();
        let outputs = common::issue_ticket(&mut lan.nodes[0].core, lan.now, &only_left, "late-1");
        lan.route(0, outputs);
        tickets += 1;
        lan.settle();
        assert!(lan.nodes[4].core.document(&only_left).is_none());
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
    let mut lan = Lan::new(7);
    let kiosk = lan.add_node("kiosk-1");
    let desk = lan.add_node("desk-1");
    let day = DocumentName::day(2026, 3, 11).unwrap();
    lan.connect(kiosk, desk);
    lan.settle();
    // Step 1: quiet hours; heartbeats keep the session up.
    lan.advance(std::time::Duration::from_secs(30));
    assert!(
        lan.closed_with_error.is_empty(),
        "{:?}",
        lan.closed_with_error
    );
    assert!(lan.is_linked(kiosk, desk));
    // Step 2: the cable is cut without a TCP reset; both sides notice by silence.
    lan.black_hole(kiosk, desk);
    let outputs = common::issue_ticket(&mut lan.nodes[kiosk].core, lan.now, &day, "A-001");
    lan.route(kiosk, outputs);
    lan.advance(std::time::Duration::from_secs(6));
    assert!(!lan.is_linked(kiosk, desk));
    assert!(
        lan.closed_with_error
            .iter()
            .any(|e| e.contains("silent for too long")),
        "{:?}",
        lan.closed_with_error
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
        let mut lan = Lan::new(seed);
        let gateway = lan.add_node("gateway-1");
        let newcomer = lan.add_node("desk-new");
        let day = DocumentName::day(2026, 3, 11).unwrap();
        for t in 0..1000 {
            common::issue_ticket(
                &mut lan.nodes[gateway].core,
                lan.now,
                &day,
                &format!("T-{t:04}"),
            );
        }
        let whole_day = lan.nodes[gateway].core.document(&day).unwrap().save().len();
        lan.connect(gateway, newcomer);
        let mut big_frames = 0;
        while let Some((from, frame)) = lan.deliver_one_traced() {
            if from == gateway && frame.len() >= whole_day {
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
    let mut lan = Lan::new(11);
    let desk = lan.add_node("desk-1");
    let kiosk = lan.add_node("kiosk-1");
    let display = lan.add_node("display-1");
    let day = DocumentName::day(2026, 3, 11).unwrap();
    lan.settle();
    // Step 1: the desk–display cable dies unnoticed; the kiosk still believes the
    // display hears the desk, so it does not pass the desk's call on at once.
    lan.black_hole(desk, display);
    let outputs = common::issue_ticket(&mut lan.nodes[desk].core, lan.now, &day, "A-001");
    lan.route(desk, outputs);
    while lan.deliver_one() {}
    assert_eq!(lan.tickets(kiosk, &day), vec!["A-001".to_owned()]);
    assert!(lan.tickets(display, &day).is_empty());
    // Step 2: at the next tick the kiosk tells the display its heads. The display
    // does not ask at once: the desk's own push could still be on its way.
    let sync_rounds = lan.frames_by_kind.get(&3).copied().unwrap_or(0);
    lan.advance(std::time::Duration::from_millis(100));
    assert!(lan.tickets(display, &day).is_empty());
    assert_eq!(
        lan.frames_by_kind.get(&3).copied().unwrap_or(0),
        sync_rounds
    );
    // Step 3: at its own next tick the display still lacks those heads and fetches
    // them from the kiosk, long before the dead link is noticed.
    lan.advance(std::time::Duration::from_millis(100));
    assert_eq!(lan.tickets(display, &day), vec!["A-001".to_owned()]);
    assert!(lan.is_linked(desk, display));
}

#[test]
fn a_desk_call_reaches_a_ten_node_mesh_without_relays() {
    let mut lan = Lan::new(3);
    for n in 0..10 {
        lan.add_node(&format!("node-{n}"));
    }
    let day = DocumentName::day(2026, 3, 11).unwrap();
    let outputs = common::issue_ticket(&mut lan.nodes[0].core, lan.now, &day, "A-001");
    lan.route(0, outputs);
    lan.settle();
    // Before any tick: the call is pushed nine times and needs no answer.
    let before = lan.sync_frames;
    let outputs = common::issue_ticket(&mut lan.nodes[0].core, lan.now, &day, "call A-001");
    lan.route(0, outputs);
    while lan.deliver_one() {}
    assert_eq!(lan.sync_frames - before, 9);
    for node in 1..10 {
        assert!(lan.tickets(node, &day).contains(&"call A-001".to_owned()));
    }
    // The next tick: the nodes that got the call tell each other their heads, which
    // they know already; no automerge sync round runs for a call everyone has.
    let sync_rounds = lan.frames_by_kind.get(&3).copied().unwrap_or(0);
    lan.advance(std::time::Duration::from_millis(100));
    assert_eq!(
        lan.frames_by_kind.get(&3).copied().unwrap_or(0),
        sync_rounds
    );
    lan.settle();
    lan.assert_converged();
}

trait Work {
    fn rng_node(&mut self) -> usize;
    fn issue(&mut self, node: usize, days: &[DocumentName], counter: &mut usize);
}

impl Work for Lan {
    fn rng_node(&mut self) -> usize {
        use rand::Rng;
        self.rng.random_range(0..self.nodes.len())
    }

    fn issue(&mut self, node: usize, days: &[DocumentName], counter: &mut usize) {
        use rand::Rng;
        let day = days[self.rng.random_range(0..days.len())].clone();
        *counter += 1;
        let ticket = format!("{}-{counter}", self.nodes[node].name);
        let outputs = common::issue_ticket(&mut self.nodes[node].core, self.now, &day, &ticket);
        self.route(node, outputs);
    }
}
