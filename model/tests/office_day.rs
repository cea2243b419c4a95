//! Stories of an office day, told through the model's actions.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

mod common;

use aufruf_model::day::{ActionError, RecallOutcome};
use aufruf_model::estimate::{self, HandlingTimes};
use aufruf_model::ticket::Refusal;
use aufruf_model::{
    Appointment, BookingCode, Day, Event, Incarnation, Origin, Status, TicketId, Transfer, node_id,
    policy,
};
use common::*;

fn ticket_of(event: &Event) -> TicketId {
    match event {
        Event::Ticket { ticket, .. } => ticket.clone(),
        other => panic!("not a ticket event: {other:?}"),
    }
}

#[test]
fn a_walk_in_is_issued_called_served_and_finished() {
    let office = office();
    let mut day = Day::new();
    let mut kiosk = Device::new("kiosk-1");
    let mut clerk = Device::new("desk-1");

    // Step 1: the clerk opens desk 1; a visitor draws a ticket for an ID card.
    let s = clerk.stamp(&day, minute(0));
    day.open_desk(&office, &desk(1), vec![], s).unwrap();
    let s = kiosk.stamp(&day, minute(1));
    let ticket = ticket_of(
        &day.issue(&office, &ausweis(), Origin::WalkIn, INC, s)
            .unwrap(),
    );
    assert_eq!(day.ticket(&ticket).unwrap().number.to_string(), "A 001");

    // Step 2: the desk calls next and gets that visitor; they arrive and are served.
    let s = clerk.stamp(&day, minute(2));
    assert_eq!(
        ticket_of(&day.call_next(&office, &desk(1), minute(2), s).unwrap()),
        ticket
    );
    let s = clerk.stamp(&day, minute(3));
    day.start_serving(&desk(1), s).unwrap();
    assert_eq!(
        day.ticket(&ticket).unwrap().status,
        Status::Serving { desk: desk(1) }
    );

    // Step 3: done after seven minutes; the handling time is learned.
    let s = clerk.stamp(&day, minute(10));
    day.finish(&desk(1), s).unwrap();
    let t = day.ticket(&ticket).unwrap();
    assert_eq!(t.status, Status::Done { desk: desk(1) });
    assert_eq!(t.handling, Some(std::time::Duration::from_secs(7 * 60)));
    assert!(day.current_of(&desk(1)).is_none());
}

#[test]
fn finishing_a_visitor_never_called_is_refused() {
    let office = office();
    let mut day = Day::new();
    let mut kiosk = Device::new("kiosk-1");
    let mut clerk = Device::new("desk-1");
    let s = clerk.stamp(&day, minute(0));
    day.open_desk(&office, &desk(1), vec![], s).unwrap();
    let s = kiosk.stamp(&day, minute(1));
    day.issue(&office, &ausweis(), Origin::WalkIn, INC, s)
        .unwrap();

    let s = clerk.stamp(&day, minute(2));
    assert_eq!(
        day.finish(&desk(1), s),
        Err(ActionError::NoCurrentVisitor(desk(1)))
    );
    let s = clerk.stamp(&day, minute(2));
    let err = day
        .cancel(&TicketId::new(node_id!("kiosk-1"), INC, 7), s)
        .unwrap_err();
    assert!(matches!(err, ActionError::UnknownTicket(_)));
}

#[test]
fn a_desk_only_calls_visitors_of_its_services() {
    let office = office();
    let mut day = Day::new();
    let mut kiosk = Device::new("kiosk-1");
    let mut clerk = Device::new("desk-3");
    let s = clerk.stamp(&day, minute(0));
    day.open_desk(&office, &desk(3), vec![], s).unwrap();
    let s = kiosk.stamp(&day, minute(1));
    let id_card = ticket_of(
        &day.issue(&office, &ausweis(), Origin::WalkIn, INC, s)
            .unwrap(),
    );

    let s = clerk.stamp(&day, minute(2));
    assert_eq!(
        day.call_next(&office, &desk(3), minute(2), s),
        Err(ActionError::NobodyWaiting(desk(3)))
    );
    let s = clerk.stamp(&day, minute(2));
    assert!(matches!(
        day.call(&office, &desk(3), &id_card, s),
        Err(ActionError::DeskDoesNotServe { .. })
    ));
}

#[test]
fn a_due_appointment_goes_before_an_earlier_walk_in() {
    let office = office();
    let mut day = Day::new();
    let mut kiosk = Device::new("kiosk-1");
    let mut clerk = Device::new("desk-1");
    day.apply(Event::Booked(Appointment {
        cancelled: false,
        code: BookingCode::new("XK7P"),
        service: ausweis(),
        due: minute(20),
        also: Vec::new(),
    }));
    let s = clerk.stamp(&day, minute(0));
    day.open_desk(&office, &desk(1), vec![], s).unwrap();
    let s = kiosk.stamp(&day, minute(1));
    let walk_in = ticket_of(
        &day.issue(&office, &meldung(), Origin::WalkIn, INC, s)
            .unwrap(),
    );
    let s = kiosk.stamp(&day, minute(10));
    let booked = ticket_of(
        &day.check_in(&office, &BookingCode::new("XK7P"), INC, s)
            .unwrap(),
    );

    // Ten minutes before the appointment the walk-in goes first …
    assert_eq!(
        policy::next_for_desk(&day, &office, &desk(1), minute(10))
            .unwrap()
            .id,
        walk_in
    );
    // … from five minutes before, the appointment does.
    assert_eq!(
        policy::next_for_desk(&day, &office, &desk(1), minute(15))
            .unwrap()
            .id,
        booked
    );
    // Checking in twice is refused.
    let s = kiosk.stamp(&day, minute(11));
    assert!(matches!(
        day.check_in(&office, &BookingCode::new("XK7P"), INC, s),
        Err(ActionError::AlreadyCheckedIn { .. })
    ));
}

#[test]
fn booked_citizens_go_first_and_an_overdue_walk_in_after_three_of_them_in_a_row() {
    let office = office();
    assert_eq!(office.queue.walk_in_after_appointments, 3);
    let mut day = Day::new();
    let mut kiosk = Device::new("kiosk-1");
    let mut clerk = Device::new("desk-2");
    let s = clerk.stamp(&day, minute(0));
    day.open_desk(&office, &desk(2), vec![], s).unwrap();
    for n in 1..=4 {
        day.apply(Event::Booked(Appointment {
            cancelled: false,
            code: BookingCode::new(format!("B{n}")),
            service: ausweis(),
            due: minute(40),
            also: Vec::new(),
        }));
    }
    let s = kiosk.stamp(&day, minute(0));
    let walk_in = ticket_of(
        &day.issue(&office, &ausweis(), Origin::WalkIn, INC, s)
            .unwrap(),
    );
    let mut booked = Vec::new();
    for n in 1..=4 {
        let s = kiosk.stamp(&day, minute(35));
        booked.push(ticket_of(
            &day.check_in(&office, &BookingCode::new(format!("B{n}")), INC, s)
                .unwrap(),
        ));
    }
    let next = |day: &Day, m: u64| {
        policy::next_for_desk(day, &office, &desk(2), minute(m))
            .unwrap()
            .id
            .clone()
    };
    assert_eq!(next(&day, 29), walk_in, "nothing due yet: the walk-in");
    // The walk-in has waited past the bound (30 minutes here), yet the booked
    // citizens, due now, go first: three of them in a row.
    let mut serve = |day: &mut Day, m: u64| {
        let s = clerk.stamp(day, minute(m));
        let called = ticket_of(&day.call_next(&office, &desk(2), minute(m), s).unwrap());
        let s = clerk.stamp(day, minute(m));
        day.finish(&desk(2), s).unwrap();
        called
    };
    for (m, ticket) in [36, 37, 38].into_iter().zip(&booked) {
        assert_eq!(next(&day, m), *ticket, "minute {m}: the appointment");
        assert_eq!(serve(&mut day, m), *ticket);
    }
    assert_eq!(
        next(&day, 39),
        walk_in,
        "after three appointments in a row the desk owes the overdue walk-in a call"
    );
    assert_eq!(serve(&mut day, 39), walk_in);
    assert_eq!(next(&day, 40), booked[3], "then the next appointment");
}

/// A desk whose clock runs behind stamps each action just after its ticket's latest
/// event, so its calls of two tickets issued at the same moment by two kiosks share
/// one stamp. Both calls count, whichever arrives first.
#[test]
fn two_calls_of_one_desk_with_one_stamp_both_count_in_any_order() {
    let office = office();
    let mut day = Day::new();
    let mut clerk = Device::new("desk-2");
    let s = clerk.stamp(&day, minute(0));
    day.open_desk(&office, &desk(2), vec![], s).unwrap();
    day.apply(Event::Booked(Appointment {
        cancelled: false,
        code: BookingCode::new("B1"),
        service: ausweis(),
        due: minute(10),
        also: Vec::new(),
    }));
    let walk_in = ticket_of(
        &day.issue(
            &office,
            &ausweis(),
            Origin::WalkIn,
            INC,
            Device::new("kiosk-1").stamp(&day, minute(10)),
        )
        .unwrap(),
    );
    let booked = ticket_of(
        &day.check_in(
            &office,
            &BookingCode::new("B1"),
            INC,
            // At the same moment: the kiosks have not heard of each other yet.
            Device::new("kiosk-2").clock.tick(minute(10)),
        )
        .unwrap(),
    );
    // The clerk's clock says minute 1 and does not follow the kiosks.
    let behind = || Device::new("desk-2").clock.tick(minute(1));
    let first = day.call(&office, &desk(2), &walk_in, behind()).unwrap();
    day.finish(&desk(2), behind()).unwrap();
    let second = day.call(&office, &desk(2), &booked, behind()).unwrap();
    let (Event::Ticket { stamp: one, .. }, Event::Ticket { stamp: other, .. }) = (&first, &second)
    else {
        panic!("calls are ticket events");
    };
    assert_eq!(one, other, "the test needs two calls with one stamp");
    let events: Vec<Event> = day.events().collect();
    for order in [events.clone(), events.into_iter().rev().collect()] {
        let mut replayed = Day::new();
        for event in order {
            replayed.apply(event);
        }
        assert_eq!(replayed, day);
    }
    assert_eq!(day.appointments_in_a_row(&desk(2), 3), 1);
}

#[test]
fn a_transferred_visitor_keeps_the_original_arrival() {
    let office = office();
    let mut day = Day::new();
    let mut kiosk = Device::new("kiosk-1");
    let mut one = Device::new("desk-1");
    let s = one.stamp(&day, minute(0));
    day.open_desk(&office, &desk(1), vec![], s).unwrap();
    let s = kiosk.stamp(&day, minute(1));
    let first = ticket_of(
        &day.issue(&office, &meldung(), Origin::WalkIn, INC, s)
            .unwrap(),
    );
    let s = kiosk.stamp(&day, minute(2));
    let second = ticket_of(
        &day.issue(&office, &ausweis(), Origin::WalkIn, INC, s)
            .unwrap(),
    );

    let s = one.stamp(&day, minute(3));
    day.call_next(&office, &desk(1), minute(3), s).unwrap();
    // The first visitor also needs an ID card: sent on to that queue.
    let s = one.stamp(&day, minute(5));
    day.transfer(&office, &desk(1), Transfer::Service(ausweis()), s)
        .unwrap();
    let t = day.ticket(&first).unwrap();
    assert_eq!(
        (t.status.clone(), t.service.clone()),
        (Status::Waiting, ausweis())
    );
    assert_eq!(t.arrival, minute(1));
    // They are ahead of the later visitor of that queue.
    assert_eq!(
        policy::next_for_desk(&day, &office, &desk(2), minute(6))
            .unwrap()
            .id,
        first
    );
    let _ = second;

    // Sent to one particular desk, only that desk may call them.
    let s = one.stamp(&day, minute(7));
    day.call(&office, &desk(1), &first, s).unwrap();
    let s = one.stamp(&day, minute(8));
    day.transfer(&office, &desk(1), Transfer::Desk(desk(3)), s)
        .unwrap();
    assert_eq!(
        policy::next_for_desk(&day, &office, &desk(3), minute(9))
            .unwrap()
            .id,
        first,
        "desk 3 serves only registrations, but the visitor was sent there"
    );
    assert_ne!(
        policy::next_for_desk(&day, &office, &desk(2), minute(9)).map(|t| t.id.clone()),
        Some(first)
    );
}

#[test]
fn a_parked_visitor_reenters_the_queue_when_returned() {
    let office = office();
    let mut day = Day::new();
    let mut kiosk = Device::new("kiosk-1");
    let mut clerk = Device::new("desk-1");
    let s = clerk.stamp(&day, minute(0));
    day.open_desk(&office, &desk(1), vec![], s).unwrap();
    let s = kiosk.stamp(&day, minute(1));
    let parked = ticket_of(
        &day.issue(&office, &meldung(), Origin::WalkIn, INC, s)
            .unwrap(),
    );
    let s = kiosk.stamp(&day, minute(2));
    let other = ticket_of(
        &day.issue(&office, &meldung(), Origin::WalkIn, INC, s)
            .unwrap(),
    );

    let s = clerk.stamp(&day, minute(3));
    day.call_next(&office, &desk(1), minute(3), s).unwrap();
    let s = clerk.stamp(&day, minute(4));
    day.park(&desk(1), s).unwrap();
    assert_eq!(
        policy::next_for_desk(&day, &office, &desk(1), minute(5))
            .unwrap()
            .id,
        other,
        "a parked visitor is not called"
    );
    let s = clerk.stamp(&day, minute(6));
    day.return_ticket(&parked, s).unwrap();
    assert_eq!(
        policy::next_for_desk(&day, &office, &desk(1), minute(7))
            .unwrap()
            .id,
        parked,
        "back in the queue with the original arrival"
    );
}

#[test]
fn after_three_calls_without_showing_the_ticket_is_a_no_show() {
    let office = office();
    let mut day = Day::new();
    let mut kiosk = Device::new("kiosk-1");
    let mut clerk = Device::new("desk-1");
    let s = clerk.stamp(&day, minute(0));
    day.open_desk(&office, &desk(1), vec![], s).unwrap();
    let s = kiosk.stamp(&day, minute(1));
    let ticket = ticket_of(
        &day.issue(&office, &meldung(), Origin::WalkIn, INC, s)
            .unwrap(),
    );

    let s = clerk.stamp(&day, minute(2));
    day.call_next(&office, &desk(1), minute(2), s).unwrap();
    for m in [3, 4] {
        let s = clerk.stamp(&day, minute(m));
        assert!(matches!(
            day.recall(&office, &desk(1), s).unwrap(),
            RecallOutcome::Recalled(_)
        ));
    }
    assert_eq!(day.ticket(&ticket).unwrap().calls, 3);
    let s = clerk.stamp(&day, minute(5));
    assert!(matches!(
        day.recall(&office, &desk(1), s).unwrap(),
        RecallOutcome::NoShow(_)
    ));
    assert_eq!(day.ticket(&ticket).unwrap().status, Status::NoShow);
    // The visitor turns up after all: back into the queue.
    let s = kiosk.stamp(&day, minute(9));
    day.return_ticket(&ticket, s).unwrap();
    assert_eq!(day.ticket(&ticket).unwrap().status, Status::Waiting);
}

/// A kiosk, desks 1 and 2 (each with its own clock) and a day on which both desks
/// are open.
fn two_desks_open(office: &aufruf_model::OfficeConfig) -> (Device, Device, Device, Day) {
    let (kiosk, mut one, mut two) = (
        Device::new("kiosk-1"),
        Device::new("desk-1"),
        Device::new("desk-2"),
    );
    let mut day = Day::new();
    let s = one.stamp(&day, minute(0));
    day.open_desk(office, &desk(1), vec![], s).unwrap();
    let s = two.stamp(&day, minute(0));
    day.open_desk(office, &desk(2), vec![], s).unwrap();
    (kiosk, one, two, day)
}

#[test]
fn concurrent_calls_of_one_visitor_go_to_the_earliest_and_the_loser_is_told() {
    let office = office();
    let (mut kiosk, mut one, mut two, mut a) = two_desks_open(&office);
    let s = kiosk.stamp(&a, minute(1));
    let ticket = ticket_of(
        &a.issue(&office, &ausweis(), Origin::WalkIn, INC, s)
            .unwrap(),
    );
    let mut b = a.clone();

    // Cut off from each other, both desks call the same visitor; desk 2 a moment later.
    let s = one.stamp(&a, minute(2));
    let call_one = a.call_next(&office, &desk(1), minute(2), s).unwrap();
    let s = two.stamp(&b, minute(2));
    let call_two = b.call_next(&office, &desk(2), minute(2), s).unwrap();
    let s = two.stamp(&b, minute(3));
    let serving_two = b.start_serving(&desk(2), s).unwrap();

    // The link returns; both replicas hold all events.
    for e in [call_two, serving_two] {
        a.apply(e);
    }
    b.apply(call_one);
    assert_eq!(a, b, "both replicas converge");
    let t = a.ticket(&ticket).unwrap();
    assert_eq!(t.status, Status::Called { desk: desk(1) });
    let lost: Vec<_> = b.lost_claims_of(&desk(2)).collect();
    assert_eq!(lost.len(), 1);
    assert_eq!(lost[0].winner, Some(desk(1)));
    assert!(
        b.current_of(&desk(2)).is_none(),
        "desk 2 is free to call the next visitor"
    );
    assert_eq!(a.lost_claims_of(&desk(1)).count(), 0);
}

/// Found by the property test: desk 1 calls a visitor, learns that desk 2 had called
/// the visitor a moment before, and calls the next one. Then desk 2's park and return
/// of that visitor arrive, both stamped before desk 1's call. Desk 1's call must stay
/// lost — were it to win now, desk 1 would hold two visitors.
#[test]
fn a_lost_call_stays_lost_when_older_events_of_the_visitor_arrive() {
    let office = office();
    let (mut kiosk, mut one, mut two, mut a) = two_desks_open(&office);
    let mut ids = Vec::new();
    for m in [1, 2] {
        let s = kiosk.stamp(&a, minute(m));
        ids.push(ticket_of(
            &a.issue(&office, &ausweis(), Origin::WalkIn, INC, s)
                .unwrap(),
        ));
    }
    let (first, second) = (ids[0].clone(), ids[1].clone());
    let mut b = a.clone();

    // Desk 2 calls the first visitor, parks and returns them; all of it before desk 1,
    // cut off, calls the same visitor.
    let mut from_two = Vec::new();
    let s = two.stamp(&b, minute(3));
    from_two.push(b.call_next(&office, &desk(2), minute(3), s).unwrap());
    let s = two.stamp(&b, minute(3));
    from_two.push(b.park(&desk(2), s).unwrap());
    let s = two.stamp(&b, minute(3));
    from_two.push(b.return_ticket(&first, s).unwrap());
    let s = one.stamp(&a, minute(4));
    let call_one = a.call_next(&office, &desk(1), minute(4), s).unwrap();
    assert_eq!(a.current_of(&desk(1)).unwrap().id, first);

    // Only desk 2's call reaches desk 1: its call lost; it moves on.
    a.apply(from_two[0].clone());
    assert_eq!(a.lost_claims_of(&desk(1)).count(), 1);
    assert!(a.current_of(&desk(1)).is_none());
    let s = one.stamp(&a, minute(5));
    let next = a.call_next(&office, &desk(1), minute(5), s).unwrap();
    assert_eq!(a.current_of(&desk(1)).unwrap().id, second);

    // Now the park and the return arrive, older than desk 1's first call.
    for e in &from_two[1..] {
        a.apply(e.clone());
    }
    b.apply(call_one);
    b.apply(next);
    assert_eq!(a, b, "both replicas converge");
    assert_eq!(a.current_of(&desk(1)).unwrap().id, second);
    assert_eq!(a.ticket(&first).unwrap().status, Status::Waiting);
    assert_eq!(
        a.lost_claims_of(&desk(1)).count(),
        1,
        "desk 1 is still told"
    );
    assert!(a.current_of(&desk(2)).is_none());
}

#[test]
fn a_busy_desk_cannot_call_the_next_visitor() {
    let office = office();
    let mut day = Day::new();
    let mut kiosk = Device::new("kiosk-1");
    let mut clerk = Device::new("desk-1");
    let s = clerk.stamp(&day, minute(0));
    day.open_desk(&office, &desk(1), vec![], s).unwrap();
    for m in [1, 2] {
        let s = kiosk.stamp(&day, minute(m));
        day.issue(&office, &meldung(), Origin::WalkIn, INC, s)
            .unwrap();
    }
    let s = clerk.stamp(&day, minute(3));
    day.call_next(&office, &desk(1), minute(3), s).unwrap();
    let s = clerk.stamp(&day, minute(4));
    assert!(matches!(
        day.call_next(&office, &desk(1), minute(4), s),
        Err(ActionError::DeskBusy { .. })
    ));
    let s = clerk.stamp(&day, minute(4));
    assert!(matches!(
        day.close_desk(&desk(1), s),
        Err(ActionError::DeskBusy { .. })
    ));
}

#[test]
fn an_action_on_a_ticket_from_a_clock_far_ahead_is_stamped_after_it_not_folded_out_of_order() {
    let office = office();
    let mut day = Day::new();
    // Step 1: a kiosk whose clock runs a day ahead issues a ticket.
    let mut fast_kiosk = Device::new("kiosk-1");
    let issued = fast_kiosk.stamp(&day, minute(24 * 60 + 5));
    let ticket = ticket_of(
        &day.issue(&office, &meldung(), Origin::WalkIn, INC, issued.clone())
            .unwrap(),
    );

    // Step 2: desk 1 does not follow that clock (it runs far ahead of its own); it
    // opens and calls at its own time. The call is stamped just after the ticket's
    // issue, so the fold takes it; opening the desk, which the kiosk's clock did not
    // touch, keeps the desk's own stamp.
    let mut unobservant = aufruf_model::HlcClock::new(node_id!("desk-1"));
    let open = unobservant.tick(minute(1));
    let opened = day
        .open_desk(&office, &desk(1), vec![], open.clone())
        .unwrap();
    assert_eq!(stamp_of(&opened), &open);
    let early = unobservant.tick(minute(2));
    let call = day
        .call_next(&office, &desk(1), minute(2), early.clone())
        .unwrap();
    assert!(stamp_of(&call) > &issued, "{call:?}");
    assert_eq!(stamp_of(&call).node, early.node);
    assert_eq!(
        day.ticket(&ticket).unwrap().status,
        Status::Called { desk: desk(1) }
    );

    // Step 3: only a ticket whose event carries the very last stamp there is can
    // take nothing more.
    let end_of_time = aufruf_model::Stamp::new(
        aufruf_model::Hlc::new(u64::MAX, u32::MAX),
        node_id!("kiosk-1"),
    );
    day.apply(Event::Ticket {
        ticket: ticket.clone(),
        stamp: end_of_time,
        event: aufruf_model::TicketEvent::Recalled { desk: desk(1) },
    });
    let later = unobservant.tick(minute(3));
    assert!(matches!(
        day.finish(&desk(1), later),
        Err(ActionError::StaleStamp { .. })
    ));
}

fn stamp_of(event: &Event) -> &aufruf_model::Stamp {
    match event {
        Event::Ticket { stamp, .. } | Event::Desk { stamp, .. } => stamp,
        other => panic!("no stamp: {other:?}"),
    }
}

#[test]
fn numbers_go_on_where_the_node_stopped_after_a_restart() {
    let office = office();
    let mut day = Day::new();
    let mut kiosk = Device::new("kiosk-2");
    for m in 0..3 {
        let s = kiosk.stamp(&day, minute(m));
        day.issue(&office, &meldung(), Origin::WalkIn, INC, s)
            .unwrap();
    }
    // The kiosk restarts and rebuilds its day from the stored events.
    let mut restarted = Day::new();
    for e in day.events() {
        restarted.apply(e);
    }
    let mut kiosk = Device::new("kiosk-2");
    let s = kiosk.stamp(&restarted, minute(4));
    let t = ticket_of(
        &restarted
            .issue(&office, &meldung(), Origin::WalkIn, INC, s)
            .unwrap(),
    );
    assert_eq!(restarted.ticket(&t).unwrap().number.to_string(), "M 503");
    assert_eq!(t.seq, 4);

    let mut stranger = Device::new("kiosk-9");
    let s = stranger.stamp(&restarted, minute(5));
    assert!(matches!(
        restarted.issue(&office, &meldung(), Origin::WalkIn, INC, s),
        Err(ActionError::NoNumberBlock(_))
    ));
}

/// A kiosk whose disk was replaced issues from a new store incarnation. Caught up with
/// the day, it numbers above its earlier tickets; had it not (an operator wrongly said
/// it was alone), the display number could repeat but the ticket id could not, so the
/// earlier ticket never swallows the new one.
#[test]
fn a_kiosk_on_a_new_store_issues_new_ids_above_its_earlier_tickets() {
    let office = office();
    let mut day = Day::new();
    let mut kiosk = Device::new("kiosk-2");
    for m in 0..3 {
        let s = kiosk.stamp(&day, minute(m));
        day.issue(&office, &meldung(), Origin::WalkIn, INC, s)
            .unwrap();
    }
    let new_store = Incarnation::new(0x7f3a_9c21);

    // Caught up: the next ticket goes on above the earlier ones, under the new store.
    let mut caught_up = day.clone();
    let mut kiosk = Device::new("kiosk-2");
    let s = kiosk.stamp(&caught_up, minute(4));
    let t = ticket_of(
        &caught_up
            .issue(&office, &meldung(), Origin::WalkIn, new_store, s)
            .unwrap(),
    );
    assert_eq!((t.seq, t.incarnation), (4, new_store));
    assert_eq!(caught_up.ticket(&t).unwrap().number.to_string(), "M 503");

    // Not caught up: number and running number repeat, the id does not; once the
    // two days meet, both visitors are there.
    let mut alone = Day::new();
    let mut kiosk = Device::new("kiosk-2");
    let s = kiosk.stamp(&alone, minute(4));
    let lone = ticket_of(
        &alone
            .issue(&office, &meldung(), Origin::WalkIn, new_store, s)
            .unwrap(),
    );
    assert_eq!(lone.seq, 1);
    for e in alone.events() {
        day.apply(e);
    }
    assert_eq!(day.waiting().count(), 4);
    assert!(day.ticket(&lone).is_some());
}

#[test]
fn the_estimate_counts_visitors_ahead_and_the_open_desks() {
    let office = office();
    let mut day = Day::new();
    let mut kiosk = Device::new("kiosk-1");
    let mut clerks = [Device::new("desk-1"), Device::new("desk-2")];
    for (n, clerk) in clerks.iter_mut().enumerate() {
        let s = clerk.stamp(&day, minute(0));
        let d = desk(u32::try_from(n).unwrap() + 1);
        day.open_desk(&office, &d, vec![ausweis()], s).unwrap();
    }
    let mut tickets = Vec::new();
    for m in 1..=5 {
        let s = kiosk.stamp(&day, minute(m));
        tickets.push(ticket_of(
            &day.issue(&office, &ausweis(), Origin::WalkIn, INC, s)
                .unwrap(),
        ));
    }
    let times = HandlingTimes::new();
    let now = minute(6);
    let all = estimate::estimate_all(&day, &office, &times, now);
    // Two desks, ten minutes each: visitors 1 and 2 now, 3 and 4 in ten, 5 in twenty.
    let minutes: Vec<_> = tickets.iter().map(|t| all[t].minutes()).collect();
    assert_eq!(minutes, [0, 0, 10, 10, 20]);
    let ahead: Vec<_> = tickets.iter().map(|t| all[t].ahead).collect();
    assert_eq!(ahead, [0, 1, 2, 3, 4]);

    // Finished visitors teach the estimate: ID cards take 4 minutes here.
    let mut learned = HandlingTimes::new();
    for _ in 0..9 {
        learned.record(&ausweis(), std::time::Duration::from_secs(4 * 60));
    }
    // (3 × 10 + 9 × 4) / 12 = 5.5 minutes per visitor.
    let last = estimate::estimate(&day, &office, &learned, &tickets[4], now).unwrap();
    assert_eq!(last.wait, std::time::Duration::from_secs(11 * 60));

    // Past weeks teach the hour: ID cards took 6 minutes at nine, 2 at ten; a service
    // past days never served keeps the configured expectation.
    let mut past_day = aufruf_model::statistics::DayStatistics {
        date: chrono::NaiveDate::from_ymd_opt(2026, 3, 2).unwrap(),
        services: Default::default(),
        desks: Default::default(),
    };
    let ausweis_past = past_day.services.entry(ausweis()).or_default();
    ausweis_past.served = 40;
    ausweis_past.total_handling_secs = 40 * 4 * 60;
    for (hour, minutes) in [(9, 6), (10, 2)] {
        let h = ausweis_past.hours.entry(hour).or_default();
        h.served = 20;
        h.total_handling_secs = 20 * minutes * 60;
    }
    let past = estimate::PastHandling::of([&past_day]);
    let at_nine = HandlingTimes::after(&past, 9);
    assert_eq!(
        at_nine.expected(&office, &ausweis()),
        std::time::Duration::from_secs(6 * 60)
    );
    assert_eq!(
        HandlingTimes::after(&past, 10).expected(&office, &ausweis()),
        std::time::Duration::from_secs(2 * 60)
    );
    // An hour past days never saw: their mean over the day.
    assert_eq!(
        HandlingTimes::after(&past, 16).expected(&office, &ausweis()),
        std::time::Duration::from_secs(4 * 60)
    );
    assert_eq!(
        at_nine.expected(&office, &meldung()),
        HandlingTimes::new().expected(&office, &meldung())
    );
    // Today still has its say: 12 of today's tickets at 3 minutes weigh as much as
    // the past's 12 (at most), (12 × 6 + 12 × 3) / 24 = 4.5 minutes.
    let mut nine_today = at_nine.clone();
    for _ in 0..12 {
        nine_today.record(&ausweis(), std::time::Duration::from_secs(3 * 60));
    }
    assert_eq!(
        nine_today.expected(&office, &ausweis()),
        std::time::Duration::from_secs(270)
    );

    // With no desk open for the service there is no estimate.
    let mut closed = Day::new();
    let s = kiosk.stamp(&closed, minute(1));
    let lone = ticket_of(
        &closed
            .issue(&office, &ausweis(), Origin::WalkIn, INC, s)
            .unwrap(),
    );
    assert_eq!(
        estimate::estimate(&closed, &office, &times, &lone, now),
        None
    );
}

#[test]
fn a_refused_call_names_the_desk_that_has_the_visitor() {
    let office = office();
    let mut day = Day::new();
    let mut kiosk = Device::new("kiosk-1");
    let mut one = Device::new("desk-1");
    let mut two = Device::new("desk-2");
    let s = one.stamp(&day, minute(0));
    day.open_desk(&office, &desk(1), vec![], s).unwrap();
    let s = two.stamp(&day, minute(0));
    day.open_desk(&office, &desk(2), vec![], s).unwrap();
    let s = kiosk.stamp(&day, minute(1));
    let ticket = ticket_of(
        &day.issue(&office, &ausweis(), Origin::WalkIn, INC, s)
            .unwrap(),
    );
    let s = one.stamp(&day, minute(2));
    day.call_next(&office, &desk(1), minute(2), s).unwrap();
    let s = two.stamp(&day, minute(2));
    assert_eq!(
        day.call(&office, &desk(2), &ticket, s),
        Err(ActionError::Refused {
            ticket: ticket.clone(),
            refusal: Refusal::ClaimedBy(desk(1))
        })
    );
}

#[test]
fn what_is_kept_of_a_day_holds_counts_but_no_personal_data() {
    let office = office();
    let mut day = Day::new();
    let mut kiosk = Device::new("kiosk-1");
    let mut clerk = Device::new("desk-1");
    day.apply(Event::Booked(Appointment {
        cancelled: false,
        code: BookingCode::new("SECRET42"),
        service: ausweis(),
        due: minute(10),
        also: Vec::new(),
    }));
    let s = clerk.stamp(&day, minute(0));
    day.open_desk(&office, &desk(1), vec![], s).unwrap();
    let s = kiosk.stamp(&day, minute(1));
    day.issue(&office, &meldung(), Origin::WalkIn, INC, s)
        .unwrap();
    let s = kiosk.stamp(&day, minute(2));
    day.check_in(&office, &BookingCode::new("SECRET42"), INC, s)
        .unwrap();
    let s = clerk.stamp(&day, minute(4));
    day.call_next(&office, &desk(1), minute(4), s).unwrap();
    let s = clerk.stamp(&day, minute(5));
    day.start_serving(&desk(1), s).unwrap();
    let s = clerk.stamp(&day, minute(9));
    day.finish(&desk(1), s).unwrap();

    let date = chrono::NaiveDate::from_ymd_opt(2026, 3, 10).unwrap();
    // `minute(0)` is 16:00 UTC in winter: 17:00 in Berlin.
    let stats = aufruf_model::statistics::DayStatistics::of(date, &day, chrono_tz::Europe::Berlin);
    let meld = &stats.services[&meldung()];
    assert_eq!((meld.walk_ins, meld.served, meld.called), (1, 1, 1));
    // By the office's hour: the walk-in came at 17:01, the desk began at 17:05.
    let hour = aufruf_model::statistics::HourStatistics {
        walk_ins: 1,
        served: 1,
        total_handling_secs: 4 * 60,
    };
    assert_eq!(meld.hours, [(17, hour)].into_iter().collect());
    assert!(
        stats.services[&ausweis()].hours.is_empty(),
        "a booked citizen waiting counts in no hour"
    );
    assert_eq!(
        meld.mean_wait(),
        Some(std::time::Duration::from_secs(3 * 60))
    );
    assert_eq!(
        meld.mean_handling(),
        Some(std::time::Duration::from_secs(4 * 60))
    );
    assert_eq!(stats.services[&ausweis()].appointments, 1);

    // Per desk: the desk that served, no visitor.
    assert_eq!(stats.desks[&desk(1)].served, 1);
    let kept = format!("{stats:?}");
    for personal in ["SECRET42", "kiosk-1", "M 001", "ticket"] {
        assert!(!kept.contains(personal), "{personal} kept in {kept}");
    }
}

#[test]
fn a_cancelled_booking_checks_in_nowhere_whichever_arrives_first() {
    let office = office();
    let booking = Appointment {
        code: BookingCode::new("K7M2X9PQ"),
        service: ausweis(),
        due: minute(30),
        cancelled: false,
        also: Vec::new(),
    };
    let cancellation = Appointment {
        cancelled: true,
        ..booking.clone()
    };
    // Step 1: one replica hears of the booking first, another of the cancellation.
    let mut in_order = Day::new();
    in_order.apply(Event::Booked(booking.clone()));
    in_order.apply(Event::Booked(cancellation.clone()));
    let mut reversed = Day::new();
    reversed.apply(Event::Booked(cancellation));
    reversed.apply(Event::Booked(booking));
    assert_eq!(in_order, reversed);
    // Step 2: the citizen comes anyway; the kiosk knows no such booking.
    let mut kiosk = Device::new("kiosk-1");
    let s = kiosk.stamp(&in_order, minute(10));
    assert!(matches!(
        in_order.check_in(&office, &BookingCode::new("K7M2X9PQ"), INC, s),
        Err(ActionError::UnknownBooking(_))
    ));
    assert_eq!(in_order.appointments().count(), 0);
}

/// A booking of several services keeps its desk the longer: the estimate of those
/// after it counts every service the citizen brought.
#[test]
fn a_booking_of_several_services_keeps_its_desk_for_all_of_them() {
    let office = office();
    let times = HandlingTimes::new();
    let wait_after = |also: Vec<aufruf_model::ServiceId>| {
        let mut day = Day::new();
        let mut kiosk = Device::new("kiosk-1");
        let mut clerk = Device::new("desk-2");
        day.apply(Event::Booked(Appointment {
            cancelled: false,
            code: BookingCode::new("BOTH"),
            service: ausweis(),
            due: minute(10),
            also,
        }));
        let s = clerk.stamp(&day, minute(0));
        day.open_desk(&office, &desk(2), vec![ausweis()], s)
            .unwrap();
        let s = kiosk.stamp(&day, minute(5));
        let booked = ticket_of(
            &day.check_in(&office, &BookingCode::new("BOTH"), INC, s)
                .unwrap(),
        );
        let s = kiosk.stamp(&day, minute(6));
        let walk_in = ticket_of(
            &day.issue(&office, &ausweis(), Origin::WalkIn, INC, s)
                .unwrap(),
        );
        let s = clerk.stamp(&day, minute(6));
        day.call_next(&office, &desk(2), minute(6), s).unwrap();
        let at_desk = day.current_of(&desk(2)).unwrap();
        assert_eq!(at_desk.id, booked);
        let further: Vec<_> = day.further_services(at_desk).to_vec();
        let walk_in = day.ticket(&walk_in).unwrap().clone();
        assert!(day.further_services(&walk_in).is_empty());
        let e = estimate::estimate(&day, &office, &times, &walk_in.id, minute(6)).unwrap();
        (further, e.minutes())
    };
    // Ausweis alone takes ten minutes; with a Meldung, fifteen.
    assert_eq!(wait_after(Vec::new()), (Vec::new(), 10));
    assert_eq!(wait_after(vec![meldung()]), (vec![meldung()], 15));
}
