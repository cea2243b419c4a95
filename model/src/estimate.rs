//! "k visitors ahead of you, about m minutes": the queue policy run forward over the
//! current state, with handling times learned from finished tickets and the desks open
//! now. Also the static formula most systems use, to compare against.

use std::collections::BTreeMap;
use std::time::Duration;

use aufruf_names::node_id;

use crate::config::OfficeConfig;
use crate::day::Day;
use crate::ids::{DeskId, Incarnation, ServiceId, TicketId};
use crate::policy::{self, Candidate};
use crate::ticket::Ticket;
use crate::time::Timestamp;

/// How many finished tickets the configured expectation counts as.
const PRIOR_WEIGHT: u32 = 3;

/// A waiting visitor's outlook.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Estimate {
    /// Visitors who will be called before this one by desks that could serve them.
    pub ahead: u32,
    /// Time until this visitor is called.
    pub wait: Duration,
}

impl Estimate {
    pub fn minutes(&self) -> u32 {
        crate::time::rounded_minutes(self.wait)
    }
}

/// Per-service handling times: the configured expectation, refined by every finished
/// ticket recorded.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HandlingTimes {
    learned: BTreeMap<ServiceId, (Duration, u32)>,
}

impl HandlingTimes {
    pub fn new() -> Self {
        Self::default()
    }

    /// Learns from every finished ticket of a day.
    pub fn learn_from(&mut self, day: &Day) {
        for (service, total, n) in day.handling_totals() {
            let entry = self.learned.entry(service.clone()).or_default();
            entry.0 += total;
            entry.1 += n;
        }
    }

    pub fn record(&mut self, service: &ServiceId, took: Duration) {
        let entry = self.learned.entry(service.clone()).or_default();
        entry.0 += took;
        entry.1 += 1;
    }

    /// The expected handling time of one visitor of `service`.
    pub fn expected(&self, config: &OfficeConfig, service: &ServiceId) -> Duration {
        let prior = config
            .service(service)
            .map_or(Duration::from_secs(300), |s| s.expected_duration());
        let (total, n) = self.learned.get(service).copied().unwrap_or_default();
        (prior * PRIOR_WEIGHT + total) / (PRIOR_WEIGHT + n)
    }

    /// The average over all services, as the static formula uses it.
    pub fn overall(&self, config: &OfficeConfig) -> Duration {
        let services = u32::try_from(config.services.len())
            .unwrap_or(u32::MAX)
            .max(1);
        let prior: Duration = config
            .services
            .iter()
            .map(|s| s.expected_duration())
            .sum::<Duration>()
            / services;
        let (total, n) = self
            .learned
            .values()
            .fold((Duration::ZERO, 0), |(t, n), (dt, dn)| (t + *dt, n + dn));
        (prior * PRIOR_WEIGHT + total) / (PRIOR_WEIGHT + n)
    }
}

/// The outlook of one waiting ticket; `None` if it is not waiting or no open desk
/// serves it.
pub fn estimate(
    day: &Day,
    config: &OfficeConfig,
    times: &HandlingTimes,
    ticket: &TicketId,
    now: Timestamp,
) -> Option<Estimate> {
    forward(day, config, times, now, Some(ticket), None).remove(ticket)
}

/// The outlook a walk-in ticket for `service` drawn at `now` would have; `None` if no
/// open desk serves the service.
pub fn for_new_walk_in(
    day: &Day,
    config: &OfficeConfig,
    times: &HandlingTimes,
    service: &ServiceId,
    now: Timestamp,
) -> Option<Estimate> {
    // A stand-in id no issued ticket has (no store is created with incarnation 0),
    // after every real ticket of the same arrival in the policy's tie-break.
    let id = TicketId::new(node_id!("zz-new-walk-in"), Incarnation::new(0), u32::MAX);
    let new = Candidate {
        id: &id,
        service,
        for_desk: None,
        arrival: now,
        due: None,
    };
    forward(day, config, times, now, Some(&id), Some(new)).remove(&id)
}

/// The outlook of every waiting ticket.
pub fn estimate_all(
    day: &Day,
    config: &OfficeConfig,
    times: &HandlingTimes,
    now: Timestamp,
) -> BTreeMap<TicketId, Estimate> {
    forward(day, config, times, now, None, None)
}

/// The static formula: visitors waiting ahead × average handling time ÷ open desks.
pub fn static_formula(
    day: &Day,
    config: &OfficeConfig,
    times: &HandlingTimes,
    ticket: &Ticket,
) -> Option<Duration> {
    let open = u32::try_from(day.calling_desks().count()).ok()?;
    if open == 0 {
        return None;
    }
    let ahead = day
        .waiting()
        .filter(|t| (t.arrival, &t.id) < (ticket.arrival, &ticket.id))
        .count();
    let ahead = u32::try_from(ahead).ok()?;
    Some(times.overall(config) * ahead / open)
}

struct VirtualDesk<'a> {
    id: &'a DeskId,
    services: Vec<ServiceId>,
    free_at: Timestamp,
    /// Appointments called in a row (see [`policy::owes_walk_in`]).
    streak: u32,
    /// False once nothing is left that this desk could serve.
    active: bool,
}

struct Waiting<'a> {
    candidate: Candidate<'a>,
    from: Timestamp,
    real: bool,
}

struct Pick<'a> {
    desk: usize,
    candidate: Candidate<'a>,
    real: bool,
    at: Timestamp,
}

/// Runs the policy forward from `now` until every waiting visitor (or `target`) is
/// called, and reports when each would be.
fn forward(
    day: &Day,
    config: &OfficeConfig,
    times: &HandlingTimes,
    now: Timestamp,
    target: Option<&TicketId>,
    extra: Option<Candidate<'_>>,
) -> BTreeMap<TicketId, Estimate> {
    let mut desks: Vec<VirtualDesk<'_>> = day
        .calling_desks()
        .map(|(id, session)| {
            let free_at = day.current_of(id).map_or(now, |t| {
                (t.since + times.expected(config, &t.service)).max(now)
            });
            VirtualDesk {
                id,
                services: session.services,
                free_at,
                streak: policy::streak_of(day, id, &config.queue),
                active: true,
            }
        })
        .collect();

    // Booked citizens not yet checked in will be in the queue once they come — those
    // whose start is further away than the appointment window: most booked citizens
    // check in well before their start, and one who has not by the time the window
    // opens may come late or not at all; counting them made walk-ins expect longer
    // waits than they had, so they were called before their estimate (measured with
    // the `day_kinds` example: early calls 7.9 % → 4.3 % on a small office's day, and
    // the light day's estimate error below the static formula's). They have no
    // ticket yet; the policy breaks ties by ticket id, so each gets a stand-in id
    // under the node `booking`, numbered in booking-code order. A real node of that
    // name does no harm: stand-ins are told apart by `real`, and a pick is found again
    // by identity, not by id.
    let expected_bookings: Vec<(TicketId, &crate::day::Appointment)> = day
        .appointments()
        .filter(|a| a.due >= now + config.queue.appointment_window())
        .filter(|a| day.checked_in(&a.code).is_none())
        .enumerate()
        .map(|(i, a)| {
            let seq = u32::try_from(i).unwrap_or(u32::MAX);
            (
                TicketId::new(node_id!("booking"), Incarnation::new(0), seq),
                a,
            )
        })
        .collect();
    let window = config.queue.appointment_window();
    let mut queue: Vec<Waiting<'_>> = day
        .waiting()
        .map(|t| Waiting {
            candidate: Candidate::from(t),
            from: now,
            real: true,
        })
        .chain(expected_bookings.iter().map(|(id, a)| {
            let arrival = (a.due - window).max(now);
            Waiting {
                candidate: Candidate {
                    id,
                    service: &a.service,
                    for_desk: None,
                    arrival,
                    due: Some(a.due),
                },
                from: arrival,
                real: false,
            }
        }))
        .chain(extra.map(|candidate| Waiting {
            candidate,
            from: now,
            real: true,
        }))
        .collect();

    let mut picks: Vec<Pick<'_>> = Vec::new();
    while !queue.is_empty() {
        let Some(d) = (0..desks.len())
            .filter(|&i| desks[i].active)
            .min_by_key(|&i| (desks[i].free_at, desks[i].id))
        else {
            break;
        };
        let desk = &desks[d];
        let at = desk.free_at;
        let picked = policy::pick(
            queue.iter().filter(|w| w.from <= at).map(|w| &w.candidate),
            desk.id,
            &desk.services,
            at,
            &config.queue,
            desk.streak,
        )
        .and_then(|c| queue.iter().position(|w| std::ptr::eq(&w.candidate, c)));
        match picked {
            Some(i) => {
                let waiting = queue.swap_remove(i);
                let service = waiting.candidate.service.clone();
                let done = waiting.real && target == Some(waiting.candidate.id);
                desks[d].streak = policy::streak_after(desks[d].streak, &waiting.candidate);
                picks.push(Pick {
                    desk: d,
                    candidate: waiting.candidate,
                    real: waiting.real,
                    at,
                });
                desks[d].free_at = at + times.expected(config, &service);
                if done {
                    break;
                }
            }
            None => {
                // Nothing for this desk yet: wait for the next visitor it could serve.
                let next = queue
                    .iter()
                    .filter(|w| w.from > at && w.candidate.eligible(desk.id, &desk.services))
                    .map(|w| w.from)
                    .min();
                match next {
                    Some(next) => desks[d].free_at = next,
                    None => desks[d].active = false,
                }
            }
        }
    }

    let mut outlook = BTreeMap::new();
    for (i, p) in picks.iter().enumerate() {
        if !p.real || target.is_some_and(|t| t != p.candidate.id) {
            continue;
        }
        let ahead = picks[..i]
            .iter()
            .filter(|q| {
                p.candidate
                    .eligible(desks[q.desk].id, &desks[q.desk].services)
            })
            .count();
        outlook.insert(
            p.candidate.id.clone(),
            Estimate {
                ahead: u32::try_from(ahead).unwrap_or(u32::MAX),
                wait: p.at.since(now),
            },
        );
    }
    outlook
}
