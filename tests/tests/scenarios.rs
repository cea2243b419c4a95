//! Hand-written stories of an office on the simulated LAN: desks cut off from each
//! other, a kiosk alone, a desk that crashes right after a call, a link that fails one
//! way, a display that loses what it had not flushed, a kiosk with a full disk — and
//! that a seed replays exactly.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use std::time::Duration;

use aufruf_model::{DeskId, Status};
use aufruf_office::OfficeError;
use aufruf_tests::Lan;
use aufruf_tests::schedule::{Shape, random_day};

fn desk(name: &str) -> DeskId {
    DeskId::new(name)
}

fn office(names: &[&str]) -> Lan {
    let mut lan = Lan::new(7);
    for name in names {
        lan.add_node(name);
    }
    lan
}

#[test]
fn two_desks_cut_off_from_each_other_call_the_same_visitor_and_the_earliest_wins() {
    let mut lan = office(&["kiosk-1", "desk-1", "desk-2", "display"]);

    // Step 1: both desks open; one visitor draws a ticket; everyone knows.
    lan.open_desk("desk-1").unwrap();
    lan.open_desk("desk-2").unwrap();
    let visitor = lan.issue("kiosk-1", "anmeldung").unwrap();
    lan.settle();

    // Step 2: desk 2 is cut off. It calls next, and two seconds later desk 1 does:
    // both get the only visitor, both screens say "called".
    lan.partition(&[&["kiosk-1", "desk-1", "display"], &["desk-2"]]);
    lan.advance(Duration::from_secs(1));
    assert_eq!(lan.call_next("desk-2").unwrap(), visitor);
    lan.advance(Duration::from_secs(2));
    assert_eq!(lan.call_next("desk-1").unwrap(), visitor);
    lan.settle();
    assert_eq!(
        lan.day("display").ticket(&visitor).unwrap().status,
        Status::Called {
            desk: desk("desk-1")
        },
        "the display only knows desk 1's call yet"
    );

    // Step 3: the LAN heals. Desk 2 called first, so desk 2 has the visitor on every
    // device, and desk 1 is told it lost the claim.
    lan.heal();
    lan.settle();
    lan.check_converged();
    for name in ["kiosk-1", "desk-1", "desk-2", "display"] {
        assert_eq!(
            lan.day(name).ticket(&visitor).unwrap().status,
            Status::Called {
                desk: desk("desk-2")
            },
            "on {name}"
        );
    }
    let day = lan.day("desk-1");
    let lost: Vec<_> = day.lost_claims_of(&desk("desk-1")).collect();
    assert_eq!(lost.len(), 1);
    assert_eq!(lost[0].ticket, visitor);
    assert_eq!(lost[0].winner, Some(desk("desk-2")));
    assert!(day.current_of(&desk("desk-1")).is_none());

    // Step 4: desk 1 calls the next visitor instead.
    let next = lan.issue("kiosk-1", "anmeldung").unwrap();
    lan.settle();
    assert_eq!(lan.call_next("desk-1").unwrap(), next);
    lan.settle();
    lan.check_converged();
}

#[test]
fn the_earliest_call_is_the_earliest_stamp_even_when_a_clock_runs_behind() {
    let mut lan = office(&["kiosk-1", "desk-1", "desk-2"]);
    // desk 2's clock is two minutes behind.
    lan.set_skew("desk-2", -120_000);

    // Step 1: a visitor waits; both desks are open.
    lan.open_desk("desk-1").unwrap();
    lan.open_desk("desk-2").unwrap();
    lan.advance(Duration::from_secs(1));
    let visitor = lan.issue("kiosk-1", "reisepass").unwrap();
    lan.settle();

    // Step 2: cut off from each other, desk 1 calls first, desk 2 a second later — but
    // the office orders calls by their hybrid-clock stamps. desk 2 has seen the ticket,
    // so its stamp comes after the ticket's, yet its slow clock puts it just after
    // that, before desk 1's.
    lan.partition(&[&["kiosk-1", "desk-1"], &["desk-2"]]);
    lan.advance(Duration::from_secs(1));
    lan.call_next("desk-1").unwrap();
    lan.advance(Duration::from_secs(1));
    lan.call_next("desk-2").unwrap();

    // Step 3: after the heal every device agrees that desk 2, the smaller stamp, won,
    // and desk 1 is told.
    lan.heal();
    lan.settle();
    lan.check_converged();
    let day = lan.day("kiosk-1");
    let ticket = day.ticket(&visitor).unwrap();
    let winner = ticket.status.desk().unwrap().clone();
    let loser = if winner == desk("desk-1") {
        desk("desk-2")
    } else {
        desk("desk-1")
    };
    let call = |d: &DeskId| {
        lan.acknowledged()
            .calls
            .iter()
            .find(|c| c.desk == *d)
            .unwrap()
            .stamp
            .clone()
    };
    assert_eq!(winner, desk("desk-2"));
    assert!(call(&winner) < call(&loser));
    assert_eq!(day.lost_claims_of(&loser).count(), 1);
    assert_eq!(ticket.calls_won, vec![(call(&winner), winner.clone())]);
}

#[test]
fn a_kiosk_cut_off_from_everyone_keeps_issuing_and_no_number_collides() {
    let mut lan = office(&["kiosk-1", "kiosk-2", "desk-1", "desk-2", "display"]);
    lan.open_desk("desk-1").unwrap();
    lan.open_desk("desk-2").unwrap();
    lan.settle();

    // Step 1: kiosk 2's cable is pulled. Both kiosks keep printing tickets; the desks
    // call the ones they can see.
    lan.partition(&[&["kiosk-1", "desk-1", "desk-2", "display"], &["kiosk-2"]]);
    let mut printed = Vec::new();
    for _ in 0..5 {
        lan.advance(Duration::from_secs(20));
        printed.push(lan.issue("kiosk-1", "meldebescheinigung").unwrap());
        printed.push(lan.issue("kiosk-2", "meldebescheinigung").unwrap());
    }
    lan.settle();
    lan.call_next("desk-1").unwrap();
    lan.call_next("desk-2").unwrap();
    lan.settle();
    assert_eq!(
        lan.day("kiosk-2").tickets().count(),
        5,
        "kiosk 2 only knows its own"
    );
    assert_eq!(lan.day("display").tickets().count(), 5);

    // Step 2: the cable is back. All ten tickets are everywhere, each with its own
    // number: kiosk 1 from its block 1–3999, kiosk 2 from 4000–7999.
    lan.heal();
    lan.settle();
    lan.check_converged();
    for name in ["kiosk-1", "kiosk-2", "desk-1", "desk-2", "display"] {
        let day = lan.day(name);
        let mut numbers: Vec<u32> = day.tickets().map(|t| t.number.number).collect();
        numbers.sort_unstable();
        assert_eq!(
            numbers,
            vec![1, 2, 3, 4, 5, 4000, 4001, 4002, 4003, 4004],
            "on {name}"
        );
        for ticket in &printed {
            assert!(day.ticket(ticket).is_some(), "{ticket} missing on {name}");
        }
    }
}

#[test]
fn a_desk_that_crashes_right_after_showing_a_call_has_it_after_restart() {
    let mut lan = office(&["kiosk-1", "desk-1", "desk-2", "display"]);
    lan.open_desk("desk-1").unwrap();
    let visitor = lan.issue("kiosk-1", "personalausweis").unwrap();
    lan.settle();

    // Step 1: desk 1 calls the visitor and shows "called" — and loses power before a
    // single frame of the call has left it.
    lan.advance(Duration::from_secs(1));
    assert_eq!(lan.call_next("desk-1").unwrap(), visitor);
    let desk_1 = lan.node("desk-1");
    lan.crash_keeping(desk_1, 0);
    lan.settle();
    assert_eq!(
        lan.day("display").ticket(&visitor).unwrap().status,
        Status::Waiting,
        "nobody else heard of the call"
    );

    // Step 2: meanwhile desk 2 opens and, not knowing better, calls the same visitor.
    lan.open_desk("desk-2").unwrap();
    assert_eq!(lan.call_next("desk-2").unwrap(), visitor);

    // Step 3: desk 1 restarts from its disk: the call it showed is there (restart
    // checks every acknowledged event of desk 1 at once).
    lan.restart("desk-1");
    let day = lan.day("desk-1");
    assert_eq!(day.current_of(&desk("desk-1")).unwrap().id, visitor);

    // Step 4: once the news spreads, desk 1's call — the earlier one — wins
    // everywhere, and desk 2 is told.
    lan.settle();
    lan.check_converged();
    assert_eq!(
        lan.day("display").ticket(&visitor).unwrap().status,
        Status::Called {
            desk: desk("desk-1")
        }
    );
    assert_eq!(lan.day("desk-2").lost_claims_of(&desk("desk-2")).count(), 1);
}

#[test]
fn a_link_that_fails_one_way_is_bridged_by_peers_and_converges_once_healed() {
    let mut lan = office(&["kiosk-1", "desk-1", "display"]);
    lan.open_desk("desk-1").unwrap();
    let first = lan.issue("kiosk-1", "anmeldung").unwrap();
    let second = lan.issue("kiosk-1", "anmeldung").unwrap();
    lan.settle();
    let (desk_1, display) = (lan.node("desk-1"), lan.node("display"));

    // Step 1: the link from desk 1 to the display fails one way. The display hears
    // nothing from desk 1, gives the session up, and no new connection can form (a
    // handshake needs both ways) — but kiosk 1 passes desk 1's call on.
    lan.cut_one_way("desk-1", "display");
    assert_eq!(lan.call_next("desk-1").unwrap(), first);
    lan.settle();
    assert!(!lan.is_connected(desk_1, display));
    assert_eq!(
        lan.day("display").ticket(&first).unwrap().status,
        Status::Called {
            desk: desk("desk-1")
        }
    );

    // Step 2: kiosk 1 is cut off too. Desk 1 finishes and calls the next visitor; the
    // display cannot know.
    lan.partition(&[&["desk-1", "display"], &["kiosk-1"]]);
    lan.finish("desk-1").unwrap();
    assert_eq!(lan.call_next("desk-1").unwrap(), second);
    lan.settle();
    assert_eq!(
        lan.day("display").ticket(&second).unwrap().status,
        Status::Waiting
    );

    // Step 3: everything heals; every device has the same day.
    lan.heal();
    lan.settle();
    lan.check_converged();
    assert_eq!(
        lan.day("display").ticket(&second).unwrap().status,
        Status::Called {
            desk: desk("desk-1")
        }
    );
}

#[test]
fn a_display_that_loses_unflushed_changes_in_a_crash_is_refilled_by_its_peers() {
    let mut lan = office(&["kiosk-1", "desk-1", "display"]);
    lan.open_desk("desk-1").unwrap();
    for _ in 0..3 {
        lan.issue("kiosk-1", "fundsachen").unwrap();
    }
    lan.settle();
    lan.call_next("desk-1").unwrap();
    lan.settle();
    assert_eq!(lan.day("display").tickets().count(), 3);

    // Step 1: the display never writes anything itself, so nothing it received was
    // flushed; a power cut loses all of it.
    let display = lan.node("display");
    lan.crash_keeping(display, 0);
    lan.restart("display");
    assert_eq!(lan.day("display").tickets().count(), 0);

    // Step 2: its peers send it all again.
    lan.settle();
    lan.check_converged();
    assert_eq!(lan.day("display").tickets().count(), 3);
}

#[test]
fn a_crash_at_any_point_of_the_unflushed_writes_is_healed_by_peers() {
    // The office of the story: a desk has called one of three visitors.
    let story = |names: &[&str]| {
        let mut lan = office(names);
        lan.open_desk("desk-1").unwrap();
        for _ in 0..3 {
            lan.issue("kiosk-1", "anmeldung").unwrap();
        }
        lan.settle();
        lan.call_next("desk-1").unwrap();
        lan.settle();
        lan
    };
    for names in [
        &["kiosk-1", "desk-1", "display"][..],
        &["kiosk-1", "desk-1"][..],
    ] {
        for victim in names.iter().copied() {
            let writes = {
                let lan = story(names);
                lan.unflushed_writes(lan.node(victim))
            };
            // Step 1: the victim loses power when exactly `kept` of its unflushed
            // writes (changes and sync states from peers, in order) are on disk.
            for kept in 0..=writes {
                let mut lan = story(names);
                let node = lan.node(victim);
                lan.crash_keeping(node, kept);
                // Step 2: it restarts and its peers bring it up to date.
                lan.restart(victim);
                lan.settle();
                lan.check_converged();
            }
        }
    }
}

#[test]
fn a_kiosk_whose_disk_is_full_prints_nothing_and_the_office_goes_on() {
    let mut lan = office(&["kiosk-1", "kiosk-2", "desk-1"]);
    lan.open_desk("desk-1").unwrap();
    lan.settle();

    // Step 1: kiosk 1's disk is full: the ticket is not stored, so it is not printed,
    // and no other device ever hears of it.
    lan.fill_disk("kiosk-1");
    let refused = lan.issue("kiosk-1", "anmeldung");
    assert!(matches!(refused, Err(OfficeError::Store(_))), "{refused:?}");
    assert_eq!(lan.day("kiosk-1").tickets().count(), 0);

    // Step 2: the visitor goes to kiosk 2, which works.
    let ticket = lan.issue("kiosk-2", "anmeldung").unwrap();
    lan.settle();
    assert_eq!(lan.call_next("desk-1").unwrap(), ticket);

    // Step 3: with space again, kiosk 1 prints its first number.
    lan.free_disks();
    let first = lan.issue("kiosk-1", "anmeldung").unwrap();
    assert_eq!(lan.day("kiosk-1").ticket(&first).unwrap().number.number, 1);
    lan.settle();
    lan.check_converged();
}

#[test]
fn a_seed_replays_exactly() {
    let shape = Shape::default();
    for seed in [3, 1_000_017] {
        let once = random_day(seed, &shape);
        let again = random_day(seed, &shape);
        assert_eq!(once.story(), again.story(), "seed {seed}");
        assert_eq!(once.fingerprint(), again.fingerprint(), "seed {seed}");
    }
}
