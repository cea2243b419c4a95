//! A device that loses its whole disk (issue 9): a replaced disk, or a store set aside
//! as unreadable. It comes back on a new store of a new incarnation, issues, checks in
//! and calls nothing until it has caught up with a peer, and then goes on above
//! everything it issued before — so no ticket id or display number is issued twice,
//! and no visitor's ticket is folded into another's.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use std::time::Duration;

use aufruf_model::{TicketId, node_id};
use aufruf_office::OfficeError;
use aufruf_tests::Lan;

/// The story's office: a kiosk, a desk and the display; three visitors drew tickets,
/// and a second later everyone has them on disk (received changes are flushed within
/// a second).
fn morning() -> (Lan, Vec<TicketId>) {
    let mut lan = Lan::new(9);
    for name in ["kiosk-1", "desk-1", "display"] {
        lan.add_node(name);
    }
    lan.open_desk("desk-1").unwrap();
    let earlier: Vec<TicketId> = (0..3)
        .map(|_| lan.issue("kiosk-1", "anmeldung").unwrap())
        .collect();
    lan.settle();
    lan.check_converged();
    lan.run_for(Duration::from_secs(1));
    let kiosk = lan.node("kiosk-1");
    assert!(lan.held_elsewhere(kiosk));
    (lan, earlier)
}

fn number_of(lan: &mut Lan, ticket: &TicketId) -> u32 {
    lan.day("desk-1").ticket(ticket).unwrap().number.number
}

#[test]
fn a_kiosk_that_lost_its_disk_issues_nothing_until_it_has_caught_up_and_nothing_twice() {
    let (mut lan, earlier) = morning();

    // Step 1: the kiosk's disk is replaced while its cable is out. On its new store it
    // refuses to issue: it does not know what it issued this morning.
    lan.partition(&[&["kiosk-1"], &["desk-1", "display"]]);
    lan.lose_disk("kiosk-1");
    assert!(lan.catching_up("kiosk-1"));
    assert_eq!(lan.day("kiosk-1").tickets().count(), 0);
    assert!(matches!(
        lan.issue("kiosk-1", "anmeldung"),
        Err(OfficeError::CatchingUp)
    ));
    assert!(matches!(
        lan.check_in("kiosk-1", "B001"),
        Err(OfficeError::CatchingUp)
    ));

    // Step 2: the cable is back. The kiosk catches up from a peer and issues above its
    // earlier tickets, under its new store's incarnation.
    lan.heal();
    lan.settle();
    assert!(!lan.catching_up("kiosk-1"));
    let next = lan.issue("kiosk-1", "anmeldung").unwrap();
    assert_eq!(next.node, node_id!("kiosk-1"));
    assert_eq!(next.seq, 4);
    assert_ne!(next.incarnation, earlier[0].incarnation);
    lan.settle();
    let numbers: Vec<u32> = earlier.iter().map(|t| number_of(&mut lan, t)).collect();
    let new_number = number_of(&mut lan, &next);
    assert!(
        numbers.iter().all(|n| *n < new_number),
        "{numbers:?} {new_number}"
    );

    // Step 3: every promise holds: all four visitors, four numbers, each once; the
    // desk calls all four.
    lan.check_converged();
    for _ in 0..4 {
        lan.call_next("desk-1").unwrap();
        lan.finish("desk-1").unwrap();
    }
    lan.settle();
    lan.check_converged();
}

/// A crash at any point of catching up — after any number of the frames that bring
/// the day, keeping any part of what was not flushed — never leaves a store that says
/// it caught up without holding the day: a store that got half of today and crashed
/// still catches up after its restart.
#[test]
fn a_crash_at_any_point_of_catching_up_never_counts_as_caught_up_without_the_day() {
    let story = || {
        let (mut lan, earlier) = morning();
        lan.partition(&[&["kiosk-1", "desk-1"], &["display"]]);
        lan.lose_disk("kiosk-1");
        let (kiosk, desk) = (lan.node("kiosk-1"), lan.node("desk-1"));
        assert!(lan.connect(kiosk, desk));
        (lan, earlier)
    };
    let frames = {
        let (mut lan, _) = story();
        let mut frames = 0;
        while lan.deliver_one() {
            frames += 1;
        }
        assert!(!lan.catching_up("kiosk-1"), "the exchange caught it up");
        frames
    };
    assert!(frames > 2, "{frames}");
    let mut crashed_while_catching_up = 0;
    for delivered in 0..=frames {
        let buffered = {
            let (mut lan, _) = story();
            lan.deliver_some(delivered);
            lan.unflushed_writes(lan.node("kiosk-1"))
        };
        for kept in 0..=buffered {
            // Step 1: part of the exchange, then the power goes.
            let (mut lan, earlier) = story();
            lan.deliver_some(delivered);
            let kiosk = lan.node("kiosk-1");
            lan.crash_keeping(kiosk, kept);
            lan.restart_unchecked(kiosk);
            // Step 2: it says it caught up only if it holds the whole morning.
            if lan.catching_up("kiosk-1") {
                crashed_while_catching_up += 1;
                assert!(matches!(
                    lan.issue("kiosk-1", "anmeldung"),
                    Err(OfficeError::CatchingUp)
                ));
            } else {
                let day = lan.day("kiosk-1");
                for ticket in &earlier {
                    assert!(
                        day.ticket(ticket).is_some(),
                        "caught up without {ticket} after {delivered} frames, {kept} kept"
                    );
                }
            }
            // Step 3: it meets its peers again and goes on above the morning.
            lan.heal();
            lan.settle();
            let next = lan.issue("kiosk-1", "anmeldung").unwrap();
            assert_eq!(next.seq, 4);
            lan.settle();
            lan.check_converged();
        }
    }
    assert!(crashed_while_catching_up > 0);
}

/// An operator wrongly states that the kiosk is the office's only device while its
/// cable is out. It issues at once and repeats a display number — the price of the
/// wrong statement — but not an id: once the cable is back, both visitors are in the
/// queue, neither folded into the other.
#[test]
fn even_a_wrong_only_device_statement_cannot_give_two_tickets_one_id() {
    let (mut lan, earlier) = morning();
    lan.partition(&[&["kiosk-1"], &["desk-1", "display"]]);
    lan.lose_disk("kiosk-1");
    assert!(lan.declare_only_device("kiosk-1"));
    assert!(!lan.catching_up("kiosk-1"));
    let lone = lan.issue("kiosk-1", "anmeldung").unwrap();
    assert_eq!((lone.node.as_str(), lone.seq), ("kiosk-1", 1));
    assert_ne!(lone, earlier[0]);

    lan.heal();
    lan.settle();
    for name in ["kiosk-1", "desk-1", "display"] {
        let day = lan.day(name);
        assert_eq!(day.tickets().count(), 4, "on {name}");
        assert_eq!(day.waiting().count(), 4, "on {name}");
        assert!(day.ticket(&lone).is_some() && day.ticket(&earlier[0]).is_some());
        assert_eq!(
            day.ticket(&lone).unwrap().number,
            day.ticket(&earlier[0]).unwrap().number,
            "the number the wrong statement repeated"
        );
    }
    // A second statement changes nothing.
    assert!(!lan.declare_only_device("kiosk-1"));
}
