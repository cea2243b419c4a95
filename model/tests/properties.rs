//! Property tests of the model's promises: the fold ignores arrival order and
//! duplicates, numbers never collide, every ticket is in exactly one place, the policy
//! keeps its rules and the estimate grows with the position in the queue.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

mod common;

use std::collections::{BTreeMap, BTreeSet};

use aufruf_model::config::QueueSettings;
use aufruf_model::day::RecallOutcome;
use aufruf_model::estimate::{self, HandlingTimes};
use aufruf_model::policy::{self, Candidate, Class};
use aufruf_model::ticket::TicketEvent;
use aufruf_model::{
    Appointment, BookingCode, Day, DeskId, Event, Origin, ServiceId, Status, TicketId, Timestamp,
    Transfer, node_id,
};
use common::*;
use proptest::prelude::*;

/// One step of an office day on one of five devices.
#[derive(Debug, Clone)]
enum Step {
    Issue {
        kiosk: usize,
        service: usize,
    },
    CheckIn {
        kiosk: usize,
        booking: usize,
    },
    CallNext {
        desk: usize,
    },
    Recall {
        desk: usize,
    },
    Serve {
        desk: usize,
    },
    Finish {
        desk: usize,
    },
    NoShow {
        desk: usize,
    },
    Park {
        desk: usize,
    },
    Transfer {
        desk: usize,
        to_desk: Option<usize>,
        service: usize,
    },
    Return {
        desk: usize,
        pick: usize,
    },
    Cancel {
        kiosk: usize,
        pick: usize,
    },
    /// Everything `from` knows reaches `to`.
    Sync {
        from: usize,
        to: usize,
    },
    Wait {
        minutes: u64,
    },
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        4 => (0..2usize, 0..2usize).prop_map(|(kiosk, service)| Step::Issue { kiosk, service }),
        1 => (0..2usize, 0..4usize).prop_map(|(kiosk, booking)| Step::CheckIn { kiosk, booking }),
        4 => (0..3usize).prop_map(|desk| Step::CallNext { desk }),
        1 => (0..3usize).prop_map(|desk| Step::Recall { desk }),
        2 => (0..3usize).prop_map(|desk| Step::Serve { desk }),
        3 => (0..3usize).prop_map(|desk| Step::Finish { desk }),
        1 => (0..3usize).prop_map(|desk| Step::NoShow { desk }),
        1 => (0..3usize).prop_map(|desk| Step::Park { desk }),
        1 => (0..3usize, proptest::option::of(0..3usize), 0..2usize)
            .prop_map(|(desk, to_desk, service)| Step::Transfer { desk, to_desk, service }),
        1 => (0..3usize, 0..8usize).prop_map(|(desk, pick)| Step::Return { desk, pick }),
        1 => (0..2usize, 0..8usize).prop_map(|(kiosk, pick)| Step::Cancel { kiosk, pick }),
        3 => (0..5usize, 0..5usize).prop_map(|(from, to)| Step::Sync { from, to }),
        2 => (0..6u64).prop_map(|minutes| Step::Wait { minutes }),
    ]
}

const DEVICES: [&str; 5] = ["kiosk-1", "kiosk-2", "desk-1", "desk-2", "desk-3"];

/// Five devices, each with its own replica of the day, acting and syncing at random.
struct Office {
    config: aufruf_model::OfficeConfig,
    devices: Vec<Device>,
    days: Vec<Day>,
    now: u64,
}

impl Office {
    fn new() -> Self {
        let mut day = Day::new();
        for (i, service) in [ausweis(), meldung(), ausweis(), meldung()]
            .into_iter()
            .enumerate()
        {
            day.apply(Event::Booked(Appointment {
                cancelled: false,
                code: BookingCode::new(format!("B{i}")),
                service,
                due: minute(10 * i as u64 + 5),
                also: Vec::new(),
            }));
        }
        let config = office();
        let mut devices: Vec<Device> = DEVICES.iter().map(|d| Device::new(d)).collect();
        for n in 0..3 {
            let s = devices[2 + n].stamp(&day, minute(0));
            day.open_desk(&config, &desk(n as u32 + 1), vec![], s)
                .unwrap();
        }
        Office {
            config,
            devices,
            days: vec![day; 5],
            now: 1,
        }
    }

    fn run(&mut self, step: &Step) {
        let now = minute(self.now);
        let config = &self.config;
        match step {
            Step::Wait { minutes } => self.now += minutes,
            Step::Sync { from, to } => {
                let events: Vec<Event> = self.days[*from].events().collect();
                for e in events {
                    self.days[*to].apply(e);
                }
            }
            Step::Issue { kiosk, service } => {
                let s = self.devices[*kiosk].stamp(&self.days[*kiosk], now);
                let service = [ausweis(), meldung()][*service].clone();
                self.days[*kiosk]
                    .issue(config, &service, Origin::WalkIn, INC, s)
                    .unwrap();
            }
            Step::CheckIn { kiosk, booking } => {
                let s = self.devices[*kiosk].stamp(&self.days[*kiosk], now);
                let _ = self.days[*kiosk].check_in(
                    config,
                    &BookingCode::new(format!("B{booking}")),
                    INC,
                    s,
                );
            }
            Step::Cancel { kiosk, pick } => {
                let day = &self.days[*kiosk];
                if let Some(id) = nth_id(day, *pick, |t| t.status == Status::Waiting) {
                    let s = self.devices[*kiosk].stamp(day, now);
                    self.days[*kiosk].cancel(&id, s).unwrap();
                }
            }
            Step::Return { desk: d, pick } => {
                let i = 2 + d;
                let day = &self.days[i];
                let returnable = |t: &aufruf_model::Ticket| {
                    matches!(t.status, Status::Parked { .. } | Status::NoShow)
                };
                if let Some(id) = nth_id(day, *pick, returnable) {
                    let s = self.devices[i].stamp(day, now);
                    self.days[i].return_ticket(&id, s).unwrap();
                }
            }
            Step::CallNext { desk: d } => {
                let i = 2 + d;
                let s = self.devices[i].stamp(&self.days[i], now);
                let desk_id = desk(*d as u32 + 1);
                let busy = self.days[i].current_of(&desk_id).is_some();
                let waiting = policy::next_for_desk(&self.days[i], config, &desk_id, now).is_some();
                let result = self.days[i].call_next(config, &desk_id, now, s);
                assert_eq!(result.is_ok(), !busy && waiting, "{result:?}");
            }
            other => {
                let (d, kind) = match other {
                    Step::Recall { desk } => (*desk, 0),
                    Step::Serve { desk } => (*desk, 1),
                    Step::Finish { desk } => (*desk, 2),
                    Step::NoShow { desk } => (*desk, 3),
                    Step::Park { desk } => (*desk, 4),
                    Step::Transfer { desk, .. } => (*desk, 5),
                    _ => unreachable!(),
                };
                let i = 2 + d;
                let desk_id = desk(d as u32 + 1);
                let Some(current) = self.days[i].current_of(&desk_id).cloned() else {
                    return;
                };
                let s = self.devices[i].stamp(&self.days[i], now);
                let day = &mut self.days[i];
                let serving = matches!(current.status, Status::Serving { .. });
                let result = match (kind, other) {
                    (0, _) => day.recall(config, &desk_id, s).map(|o| match o {
                        RecallOutcome::Recalled(e) | RecallOutcome::NoShow(e) => e,
                    }),
                    (1, _) => day.start_serving(&desk_id, s),
                    (2, _) => day.finish(&desk_id, s),
                    (3, _) => day.no_show(&desk_id, s),
                    (4, _) => day.park(&desk_id, s),
                    (
                        _,
                        Step::Transfer {
                            to_desk, service, ..
                        },
                    ) => {
                        let to = match to_desk {
                            Some(t) => Transfer::Desk(desk(*t as u32 + 1)),
                            None => Transfer::Service([ausweis(), meldung()][*service].clone()),
                        };
                        day.transfer(config, &desk_id, to, s)
                    }
                    _ => unreachable!(),
                };
                // Serving and no-show need a visitor who is called, not yet served.
                let allowed = !(serving && matches!(kind, 1 | 3 | 0));
                assert_eq!(
                    result.is_ok(),
                    allowed,
                    "{other:?} on {current:?}: {result:?}"
                );
            }
        }
    }

    /// Every device learns everything.
    fn settle(&mut self) {
        let all: Vec<Event> = self.days.iter().flat_map(Day::events).collect();
        for day in &mut self.days {
            for e in &all {
                day.apply(e.clone());
            }
        }
    }
}

fn nth_id(
    day: &Day,
    pick: usize,
    pred: impl Fn(&aufruf_model::Ticket) -> bool,
) -> Option<TicketId> {
    let ids: Vec<TicketId> = day
        .tickets()
        .filter(|t| pred(t))
        .map(|t| t.id.clone())
        .collect();
    (!ids.is_empty()).then(|| ids[pick % ids.len()].clone())
}

fn shuffled_with_duplicates(events: Vec<Event>, keys: &[u32]) -> Vec<Event> {
    let mut doubled: Vec<(u32, Event)> = events
        .iter()
        .cloned()
        .enumerate()
        .map(|(i, e)| (keys[i % keys.len()], e))
        .collect();
    // Every third event arrives twice.
    doubled.extend(
        events
            .into_iter()
            .enumerate()
            .filter(|(i, _)| i % 3 == 0)
            .map(|(i, e)| (keys[(i * 7 + 1) % keys.len()], e)),
    );
    doubled.sort_by_key(|(k, _)| *k);
    doubled.into_iter().map(|(_, e)| e).collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Five devices act while cut off from each other now and then; once everything is
    /// exchanged, all replicas are equal and the office's invariants hold.
    #[test]
    fn replicas_converge_and_keep_the_invariants(
        steps in proptest::collection::vec(step(), 1..120),
        keys in proptest::collection::vec(any::<u32>(), 1..64),
    ) {
        let mut office = Office::new();
        for s in &steps {
            office.run(s);
        }
        office.settle();
        let day = &office.days[0];
        for other in &office.days[1..] {
            prop_assert_eq!(day, other);
        }

        // The fold does not care in which order or how often events arrive.
        let mut replayed = Day::new();
        for e in shuffled_with_duplicates(day.events().collect(), &keys) {
            replayed.apply(e);
        }
        prop_assert_eq!(&replayed, day);

        // No two tickets share a display number.
        let numbers: Vec<_> = day.tickets().map(|t| t.number.number).collect();
        let unique: BTreeSet<_> = numbers.iter().collect();
        prop_assert_eq!(unique.len(), numbers.len());

        // Every issued ticket is in exactly one place: waiting, with one desk, parked or
        // finished. A desk holding two visitors would lose one here.
        let issued: BTreeSet<&TicketId> = day.tickets().map(|t| &t.id).collect();
        let mut placed: Vec<&TicketId> = day
            .tickets()
            .filter(|t| matches!(t.status, Status::Waiting | Status::Parked { .. }) || t.status.is_finished())
            .map(|t| &t.id)
            .collect();
        for n in 1..=3 {
            placed.extend(day.current_of(&desk(n)).map(|t| &t.id));
        }
        prop_assert_eq!(placed.len(), issued.len());
        prop_assert_eq!(placed.into_iter().collect::<BTreeSet<_>>(), issued);

        // Every call either took effect or is a lost claim its desk is told of.
        for e in day.events() {
            if let Event::Ticket { ticket, stamp, event: TicketEvent::Called { desk, .. } } = e {
                let t = day.ticket(&ticket).unwrap();
                let won = t.won(&stamp);
                let told = day.lost_claims_of(&desk).any(|c| c.stamp == stamp);
                prop_assert!(won != told, "call {stamp:?} by {desk}: won {won}, told {told}");
            }
        }

        // Whatever the state, the policy offers each desk only what it may serve.
        for n in 1..=3 {
            let d = desk(n);
            if let Some(t) = policy::next_for_desk(day, &office.config, &d, minute(office.now)) {
                prop_assert!(policy::may_call(day, &office.config, &d, t));
            }
        }
    }

    /// Kiosks cut off from each other for the whole day never hand out the same number.
    #[test]
    fn numbers_never_collide_across_nodes(
        cuts in proptest::collection::btree_set(1u32..9_000, 1..6),
        issues in proptest::collection::vec((0usize..6, 0usize..2), 1..200),
    ) {
        // Blocks between consecutive cut points, one node each.
        let mut bounds: Vec<u32> = cuts.into_iter().collect();
        bounds.insert(0, 0);
        bounds.push(9_999);
        let mut text = common::OFFICE.split("[[number_blocks]]").next().unwrap().to_owned();
        let nodes = bounds.len() - 1;
        for (i, pair) in bounds.windows(2).enumerate() {
            text.push_str(&format!(
                "[[number_blocks]]\nnode = \"kiosk-{i}\"\nfirst = {}\nlast = {}\n",
                pair[0] + 1, pair[1]
            ));
        }
        let config = aufruf_model::OfficeConfig::from_toml("blocks.toml", &text).unwrap();
        let mut days = vec![Day::new(); nodes];
        let mut kiosks: Vec<Device> = (0..nodes).map(|i| Device::new(&format!("kiosk-{i}"))).collect();
        let mut issued = 0;
        for (t, (node, service)) in issues.iter().enumerate() {
            let node = node % nodes;
            let s = kiosks[node].stamp(&days[node], minute(t as u64));
            let service = [ausweis(), meldung()][*service].clone();
            match days[node].issue(&config, &service, Origin::WalkIn, INC, s) {
                Ok(_) => issued += 1,
                Err(aufruf_model::ActionError::NumbersExhausted(_)) => {}
                Err(other) => prop_assert!(false, "{other}"),
            }
        }
        let mut merged = Day::new();
        for day in &days {
            for e in day.events() {
                merged.apply(e);
            }
        }
        let numbers: BTreeSet<u32> = merged.tickets().map(|t| t.number.number).collect();
        prop_assert_eq!(numbers.len(), issued);
        prop_assert_eq!(merged.tickets().count(), issued);
    }

    /// Overlapping blocks never pass validation.
    #[test]
    fn overlapping_blocks_are_refused(a in 1u32..500, len_a in 0u32..100, into in 0u32..100, len_b in 0u32..100) {
        let b = a + into.min(len_a);
        let mut text = common::OFFICE.split("[[number_blocks]]").next().unwrap().to_owned();
        text.push_str(&format!(
            "[[number_blocks]]\nnode = \"kiosk-1\"\nfirst = {a}\nlast = {}\n\
             [[number_blocks]]\nnode = \"kiosk-2\"\nfirst = {b}\nlast = {}\n",
            a + len_a, b + len_b
        ));
        let err = aufruf_model::OfficeConfig::from_toml("x.toml", &text).unwrap_err();
        prop_assert_eq!(err.field, "number_blocks[1]");
    }
}

/// A random waiting visitor for the policy.
#[derive(Debug, Clone)]
struct Waiting {
    service: usize,
    for_desk: Option<usize>,
    arrival: u64,
    due: Option<u64>,
}

fn waiting() -> impl Strategy<Value = Waiting> {
    (
        0..3usize,
        proptest::option::weighted(0.1, 0..3usize),
        0..120u64,
        proptest::option::weighted(0.3, 0..180u64),
    )
        .prop_map(|(service, for_desk, arrival, due)| Waiting {
            service,
            for_desk,
            arrival,
            due,
        })
}

const SERVICES: [&str; 3] = ["a", "b", "c"];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// The policy's rules, for any queue and any desk.
    #[test]
    fn the_policy_keeps_its_rules(
        queue in proptest::collection::vec(waiting(), 0..40),
        desk_services in proptest::collection::btree_set(0..3usize, 1..=3),
        desk in 0..3usize,
        now in 0..200u64,
        streak in 0..5u32,
    ) {
        let settings = QueueSettings { appointment_window_minutes: 5, walk_in_max_wait_minutes: 30, calls_before_no_show: 3, ..QueueSettings::default() };
        let ids: Vec<TicketId> = (0..queue.len()).map(|i| TicketId::new(node_id!("kiosk-1"), INC, i as u32)).collect();
        let services: Vec<ServiceId> = SERVICES.iter().map(|s| ServiceId::new(*s)).collect();
        let desks: Vec<DeskId> = (0..3).map(|d| DeskId::new(format!("desk-{d}"))).collect();
        let all: Vec<Candidate<'_>> = queue.iter().enumerate().map(|(i, w)| Candidate {
            id: &ids[i],
            service: &services[w.service],
            for_desk: w.for_desk.map(|d| &desks[d]),
            arrival: Timestamp::from_minutes(w.arrival.min(now)),
            due: w.due.map(Timestamp::from_minutes),
        }).collect();
        let serves: Vec<ServiceId> = desk_services.iter().map(|s| services[*s].clone()).collect();
        let now = Timestamp::from_minutes(now);
        let me = &desks[desk];
        let eligible: Vec<&Candidate<'_>> = all.iter().filter(|c| c.eligible(me, &serves)).collect();
        let picked = policy::pick(&all, me, &serves, now, &settings, streak);

        // Only what the desk serves (or what was sent to it), and someone if anyone.
        prop_assert_eq!(picked.is_some(), !eligible.is_empty());
        let Some(picked) = picked else { return Ok(()) };
        prop_assert!(picked.eligible(me, &serves));

        let class = |c: &Candidate<'_>| c.class(now, &settings, streak);
        let overdue = |c: &&&Candidate<'_>| c.due.is_none() && now.since(c.arrival) >= settings.walk_in_max_wait();
        let overdue_walk_in = eligible.iter().any(|c| overdue(&c));
        let due_appointment = eligible.iter().any(|c| class(c) == Class::DueAppointment);
        let late_appointment = eligible.iter().any(|c| class(c) == Class::LateAppointment);
        let owed = streak >= settings.walk_in_after_appointments;
        if late_appointment {
            // A booked citizen about to be called later than promised goes first.
            prop_assert_eq!(class(picked), Class::LateAppointment);
        } else if owed && overdue_walk_in {
            // After `walk_in_after_appointments` appointments in a row at this desk,
            // an overdue walk-in is owed the call ...
            prop_assert!(overdue(&&picked), "{:?}", picked);
        } else if due_appointment {
            // ... otherwise booked citizens whose start is near go first.
            prop_assert_eq!(class(picked), Class::DueAppointment);
        }
        // An early appointment never goes before a walk-in.
        if class(picked) == Class::EarlyAppointment {
            prop_assert!(eligible.iter().all(|c| c.due.is_some()));
        }
        // Among walk-ins of one class, the earliest arrival goes first.
        if matches!(class(picked), Class::WalkIn | Class::OverdueWalkIn | Class::OwedWalkIn) {
            let earliest = eligible.iter().filter(|c| class(c) == class(picked)).map(|c| c.arrival).min();
            prop_assert_eq!(Some(picked.arrival), earliest);
        }
    }

    /// Further back in the queue never means a shorter wait; with walk-ins only and
    /// desks serving everything, "ahead" is exactly the place in the queue.
    #[test]
    fn the_estimate_grows_with_position(
        arrivals in proptest::collection::vec((0..60u64, 0..2usize), 1..40),
        open in 1..=3usize,
        busy in proptest::collection::vec(any::<bool>(), 3),
        appointments in proptest::collection::vec((0..120u64, 0..2usize), 0..6),
        learned in proptest::collection::vec((0..2usize, 1..30u64), 0..20),
    ) {
        let config = office();
        let mut day = Day::new();
        let mut kiosk = Device::new("kiosk-1");
        let mut clerks: Vec<Device> = (1..=3).map(|n| Device::new(&format!("desk-{n}"))).collect();
        let both = vec![ausweis(), meldung()];
        for (i, clerk) in clerks.iter_mut().enumerate().take(open) {
            let s = clerk.stamp(&day, minute(0));
            // Desk 1 serves both services; to keep "ahead" simple all desks do here.
            let d = desk(1 + i as u32);
            let cfg_services = config.desk(&d).unwrap().services.clone();
            let services: Vec<ServiceId> = both.iter().filter(|s| cfg_services.contains(s)).cloned().collect();
            day.open_desk(&config, &d, services, s).unwrap();
        }
        let mut sorted = arrivals.clone();
        sorted.sort();
        for (m, service) in &sorted {
            let s = kiosk.stamp(&day, minute(*m));
            day.issue(&config, &both[*service], Origin::WalkIn, INC, s).unwrap();
        }
        for (i, (due, service)) in appointments.iter().enumerate() {
            day.apply(Event::Booked(Appointment { cancelled: false, code: BookingCode::new(format!("B{i}")), service: both[*service].clone(), due: minute(*due), also: Vec::new() }));
        }
        // Some desks are with a visitor already.
        for (i, clerk) in clerks.iter_mut().enumerate().take(open) {
            if busy[i] {
                let s = clerk.stamp(&day, minute(60));
                let _ = day.call_next(&config, &desk(1 + i as u32), minute(60), s);
            }
        }
        let mut times = HandlingTimes::new();
        for (s, m) in &learned {
            times.record(&both[*s], std::time::Duration::from_secs(m * 60));
        }
        let now = minute(61);
        let outlook = estimate::estimate_all(&day, &config, &times, now);
        // Within one service (the same desks serve them), more ahead never means less wait.
        for service in &both {
            let mut by_ahead: Vec<_> = outlook
                .iter()
                .filter(|(id, _)| &day.ticket(id).unwrap().service == service)
                .map(|(_, e)| e)
                .collect();
            by_ahead.sort_by_key(|e| (e.ahead, e.wait));
            for pair in by_ahead.windows(2) {
                prop_assert!(pair[0].ahead < pair[1].ahead, "{:?}", pair);
                prop_assert!(pair[0].wait <= pair[1].wait, "{:?}", pair);
            }
        }
        // The single-ticket estimate agrees with the whole-queue run.
        for (id, e) in &outlook {
            prop_assert_eq!(estimate::estimate(&day, &config, &times, id, now), Some(*e));
        }
        // Only desk 1 serves both services; with it alone open and no bookings, the
        // estimate's "ahead" is the place in the queue.
        if open == 1 && appointments.is_empty() {
            let waiting: BTreeMap<_, _> = day.waiting().map(|t| ((t.arrival, t.id.clone()), ())).collect();
            for (place, ((_, id), ())) in waiting.iter().enumerate() {
                prop_assert_eq!(outlook[id].ahead as usize, place);
            }
        }
    }
}

/// The estimate's forward run as first written: each step compares every waiting
/// visitor, each "ahead" counts every call before. Slow (n²) and plainly right, the
/// reference the estimate's lanes are checked against.
fn reference_outlook(
    day: &Day,
    config: &aufruf_model::OfficeConfig,
    times: &HandlingTimes,
    now: Timestamp,
    extra: Option<Candidate<'_>>,
) -> BTreeMap<TicketId, estimate::Estimate> {
    struct Desk<'a> {
        id: &'a DeskId,
        services: Vec<ServiceId>,
        free_at: Timestamp,
        streak: u32,
        active: bool,
    }
    let mut desks: Vec<Desk<'_>> = day
        .calling_desks()
        .map(|(id, session)| Desk {
            id,
            services: session.services,
            free_at: day.current_of(id).map_or(now, |t| {
                (t.since + times.expected(config, &t.service)).max(now)
            }),
            streak: policy::streak_of(day, id, &config.queue),
            active: true,
        })
        .collect();
    let window = config.queue.appointment_window();
    let expected: Vec<(TicketId, &Appointment)> = day
        .appointments()
        .filter(|a| a.due >= now + window)
        .filter(|a| day.checked_in(&a.code).is_none())
        .enumerate()
        .map(|(i, a)| {
            (
                TicketId::new(
                    node_id!("booking"),
                    aufruf_model::Incarnation::new(0),
                    i as u32,
                ),
                a,
            )
        })
        .collect();
    // (candidate, joins at, real)
    let mut queue: Vec<(Candidate<'_>, Timestamp, bool)> = day
        .waiting()
        .map(|t| (Candidate::from(t), now, true))
        .chain(expected.iter().map(|(id, a)| {
            let arrival = (a.due - window).max(now);
            let c = Candidate {
                id,
                service: &a.service,
                for_desk: None,
                arrival,
                due: Some(a.due),
            };
            (c, arrival, false)
        }))
        .chain(extra.map(|c| (c, now, true)))
        .collect();
    let mut picks: Vec<(usize, Candidate<'_>, bool, Timestamp)> = Vec::new();
    while !queue.is_empty() {
        let Some(d) = (0..desks.len())
            .filter(|&i| desks[i].active)
            .min_by_key(|&i| (desks[i].free_at, desks[i].id))
        else {
            break;
        };
        let at = desks[d].free_at;
        let picked = policy::pick(
            queue.iter().filter(|w| w.1 <= at).map(|w| &w.0),
            desks[d].id,
            &desks[d].services,
            at,
            &config.queue,
            desks[d].streak,
        )
        .and_then(|c| queue.iter().position(|w| std::ptr::eq(&w.0, c)));
        match picked {
            Some(i) => {
                let (c, _, real) = queue.swap_remove(i);
                desks[d].streak = policy::streak_after(desks[d].streak, &c);
                desks[d].free_at = at + times.expected(config, c.service);
                picks.push((d, c, real, at));
            }
            None => {
                let next = queue
                    .iter()
                    .filter(|w| w.1 > at && w.0.eligible(desks[d].id, &desks[d].services))
                    .map(|w| w.1)
                    .min();
                match next {
                    Some(next) => desks[d].free_at = next,
                    None => desks[d].active = false,
                }
            }
        }
    }
    let mut outlook = BTreeMap::new();
    for (i, (_, c, real, at)) in picks.iter().enumerate() {
        if !real {
            continue;
        }
        let ahead = picks[..i]
            .iter()
            .filter(|q| c.eligible(desks[q.0].id, &desks[q.0].services))
            .count();
        outlook.insert(
            c.id.clone(),
            estimate::Estimate {
                ahead: ahead as u32,
                wait: at.since(now),
            },
        );
    }
    outlook
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Whatever the day — walk-ins, checked-in and expected appointments, visitors
    /// sent to one desk, busy desks, overdue walk-ins, desks owing a walk-in — the
    /// estimate's lanes give exactly what running the policy over everyone gives.
    #[test]
    fn the_estimate_runs_the_policy_exactly(
        steps in proptest::collection::vec(step(), 1..120),
        bookings in proptest::collection::vec((0..150u64, 0..2usize), 0..10),
        later in 0..40u64,
        learned in proptest::collection::vec((0..2usize, 1..30u64), 0..6),
    ) {
        let mut office = Office::new();
        for (i, (due, service)) in bookings.iter().enumerate() {
            let booked = Event::Booked(Appointment {
                cancelled: false,
                code: BookingCode::new(format!("X{i}")),
                service: [ausweis(), meldung()][*service].clone(),
                due: minute(*due),
             also: Vec::new(), });
            for day in &mut office.days {
                day.apply(booked.clone());
            }
        }
        for s in &steps {
            office.run(s);
        }
        office.settle();
        let day = &office.days[0];
        let config = &office.config;
        let mut times = HandlingTimes::new();
        times.learn_from(day);
        for (s, m) in &learned {
            times.record(&[ausweis(), meldung()][*s], std::time::Duration::from_secs(m * 60));
        }
        for now in [minute(office.now), minute(office.now + later)] {
            let outlook = estimate::estimate_all(day, config, &times, now);
            prop_assert_eq!(&outlook, &reference_outlook(day, config, &times, now, None));
            for (id, e) in &outlook {
                prop_assert_eq!(estimate::estimate(day, config, &times, id, now), Some(*e));
            }
            for service in [ausweis(), meldung()] {
                let id = TicketId::new(node_id!("zz-new-walk-in"), aufruf_model::Incarnation::new(0), u32::MAX);
                let new = Candidate { id: &id, service: &service, for_desk: None, arrival: now, due: None };
                prop_assert_eq!(
                    estimate::for_new_walk_in(day, config, &times, &service, now),
                    reference_outlook(day, config, &times, now, Some(new)).remove(&id)
                );
            }
        }
    }
}
