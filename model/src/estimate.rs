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
use crate::statistics::DayStatistics;
use crate::ticket::Ticket;
use crate::time::Timestamp;

/// How many finished tickets the configured expectation counts as.
const PRIOR_WEIGHT: u32 = 3;

/// How many of today's finished tickets past days' handling counts as, at most: past
/// days know a service and an hour well, and today's visitors and clerks still have
/// the last word by midday.
const PAST_WEIGHT: u32 = 12;

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

/// Per-service handling times: what past days taught of the hour (else the
/// configured expectation), refined by every finished ticket of today recorded.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HandlingTimes {
    learned: BTreeMap<ServiceId, (Duration, u32)>,
    /// Per service: the expectation before today's tickets, and how many tickets it
    /// counts as. Absent: the configured expectation.
    prior: BTreeMap<ServiceId, (Duration, u32)>,
}

/// Handling times of past days (the office keeps each day's statistics): per
/// service, and per service and local hour.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PastHandling {
    services: BTreeMap<ServiceId, (u64, u32)>,
    hours: BTreeMap<(ServiceId, u8), (u64, u32)>,
}

impl PastHandling {
    /// What `days` (e.g. the same weekday of the past weeks) tell.
    pub fn of<'a>(days: impl IntoIterator<Item = &'a DayStatistics>) -> Self {
        let mut past = Self::default();
        for day in days {
            for (service, s) in &day.services {
                let total = past.services.entry(service.clone()).or_default();
                total.0 += s.total_handling_secs;
                total.1 += s.served;
                for (hour, h) in &s.hours {
                    let total = past.hours.entry((service.clone(), *hour)).or_default();
                    total.0 += h.total_handling_secs;
                    total.1 += h.served;
                }
            }
        }
        past
    }

    /// The mean handling time of `service` in `hour`, else over all hours, and how
    /// many visitors it is the mean of; `None` if no past day served the service.
    pub fn at(&self, service: &ServiceId, hour: u8) -> Option<(Duration, u32)> {
        [
            self.hours.get(&(service.clone(), hour)),
            self.services.get(service),
        ]
        .into_iter()
        .flatten()
        .find(|(_, n)| *n > 0)
        .map(|(total, n)| (Duration::from_secs(total / u64::from(*n)), *n))
    }
}

impl HandlingTimes {
    pub fn new() -> Self {
        Self::default()
    }

    /// Starts from what past days taught of `hour` rather than from the configured
    /// expectation, for each service they served.
    pub fn after(past: &PastHandling, hour: u8) -> Self {
        let prior = past
            .services
            .keys()
            .filter_map(|service| {
                let (mean, n) = past.at(service, hour)?;
                Some((service.clone(), (mean, n.min(PAST_WEIGHT))))
            })
            .collect();
        Self {
            learned: BTreeMap::new(),
            prior,
        }
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

    /// The expected handling time of one visitor of `service` who also brings the
    /// further services `also` (a booking of several): theirs added up.
    pub fn expected_all(
        &self,
        config: &OfficeConfig,
        service: &ServiceId,
        also: &[ServiceId],
    ) -> Duration {
        also.iter()
            .map(|s| self.expected(config, s))
            .fold(self.expected(config, service), |sum, d| sum + d)
    }

    /// The expected handling time of one visitor of `service`.
    pub fn expected(&self, config: &OfficeConfig, service: &ServiceId) -> Duration {
        let (prior, weight) = self.prior.get(service).copied().unwrap_or_else(|| {
            let configured = config
                .service(service)
                .map_or(Duration::from_secs(300), |s| s.expected_duration());
            (configured, PRIOR_WEIGHT)
        });
        let (total, n) = self.learned.get(service).copied().unwrap_or_default();
        (prior * weight + total) / (weight + n).max(1)
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
    /// The lanes this desk may call from.
    lanes: Vec<usize>,
    /// Visitors this desk called so far in the run.
    called: u32,
}

struct Waiting<'a> {
    candidate: Candidate<'a>,
    /// Further services of a booking, dealt with in the same visit.
    also: &'a [ServiceId],
    from: Timestamp,
    real: bool,
}

/// What the policy's order compares of two visitors it treats alike: the same desks
/// may call them (one service, or sent to one desk), and they are of one kind.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    WalkIn,
    /// A checked-in appointment: in the queue from `now` on.
    Appointment,
    /// A booked citizen not yet checked in: in the queue from the window on.
    Expected,
}

/// Waiting visitors the policy treats alike, best first. Within a lane the policy's
/// order never changes as time passes or a desk's streak grows, so the policy's pick
/// for a desk is always the head of one of its lanes:
/// - walk-ins go by arrival, and an earlier arrival is never in a later class (it
///   is overdue no later; whether an overdue one is owed depends on the desk alone);
/// - appointments go by their start, and an earlier start is never in a later class
///   (late, due, early follow the start);
/// - a booked citizen not yet checked in joins at `max(start − window, now)`, which
///   follows the start too: those who have joined by any time are a lane's first.
///
/// So a step of the run looks at one head per lane, not at every visitor: the run
/// over n waiting visitors takes n steps of a few lanes each, where comparing with
/// everyone took n² (2,000 waiting: ~40 ms each time a ticket changed).
struct Lane<'a> {
    members: Vec<Waiting<'a>>,
    /// The first not yet called.
    next: usize,
    /// The desks that may call from this lane.
    desks: Vec<usize>,
}

impl<'a> Lane<'a> {
    fn head(&self) -> Option<&Waiting<'a>> {
        self.members.get(self.next)
    }
}

/// Sorts the waiting into lanes and tells each desk which lanes it may call from.
fn lanes<'a>(queue: Vec<(Kind, Waiting<'a>)>, desks: &mut [VirtualDesk<'_>]) -> Vec<Lane<'a>> {
    let mut by_key: BTreeMap<(Kind, &ServiceId, Option<&DeskId>), Vec<Waiting<'a>>> =
        BTreeMap::new();
    for (kind, w) in queue {
        by_key
            .entry((kind, w.candidate.service, w.candidate.for_desk))
            .or_default()
            .push(w);
    }
    by_key
        .into_iter()
        .enumerate()
        .map(|(l, ((kind, _, _), mut members))| {
            match kind {
                Kind::WalkIn => members.sort_by(|a, b| {
                    let (a, b) = (&a.candidate, &b.candidate);
                    (a.arrival, a.id).cmp(&(b.arrival, b.id))
                }),
                Kind::Appointment | Kind::Expected => members.sort_by(|a, b| {
                    let (a, b) = (&a.candidate, &b.candidate);
                    (a.due, a.arrival, a.id).cmp(&(b.due, b.arrival, b.id))
                }),
            }
            // Every member shares the first's service and desk: who may call one
            // may call all.
            let lane_desks: Vec<usize> = members.first().map_or_else(Vec::new, |first| {
                desks
                    .iter()
                    .enumerate()
                    .filter(|(_, d)| first.candidate.eligible(d.id, &d.services))
                    .map(|(i, _)| i)
                    .collect()
            });
            for &d in &lane_desks {
                desks[d].lanes.push(l);
            }
            Lane {
                members,
                next: 0,
                desks: lane_desks,
            }
        })
        .collect()
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
                let took = times.expected_all(config, &t.service, day.further_services(t));
                (t.since + took).max(now)
            });
            VirtualDesk {
                id,
                services: session.services,
                free_at,
                streak: policy::streak_of(day, id, &config.queue),
                active: true,
                lanes: Vec::new(),
                called: 0,
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
    // name does no harm: stand-ins are told apart by `real`, and each sits in a lane
    // of its own kind.
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
    let queue: Vec<(Kind, Waiting<'_>)> = day
        .waiting()
        .map(|t| {
            let candidate = Candidate::from(t);
            let kind = match candidate.due {
                Some(_) => Kind::Appointment,
                None => Kind::WalkIn,
            };
            let waiting = Waiting {
                candidate,
                also: day.further_services(t),
                from: now,
                real: true,
            };
            (kind, waiting)
        })
        .chain(expected_bookings.iter().map(|(id, a)| {
            let arrival = (a.due - window).max(now);
            let waiting = Waiting {
                candidate: Candidate {
                    id,
                    service: &a.service,
                    for_desk: None,
                    arrival,
                    due: Some(a.due),
                },
                also: &a.also,
                from: arrival,
                real: false,
            };
            (Kind::Expected, waiting)
        }))
        .chain(extra.map(|candidate| {
            let waiting = Waiting {
                candidate,
                also: &[],
                from: now,
                real: true,
            };
            (Kind::WalkIn, waiting)
        }))
        .collect();
    let mut left = queue.len();
    let mut lanes = lanes(queue, &mut desks);

    let mut outlook = BTreeMap::new();
    while left > 0 {
        let Some(d) = (0..desks.len())
            .filter(|&i| desks[i].active)
            .min_by_key(|&i| (desks[i].free_at, desks[i].id))
        else {
            break;
        };
        let desk = &desks[d];
        let at = desk.free_at;
        let heads = desk
            .lanes
            .iter()
            .filter_map(|&l| lanes[l].head())
            .filter(|w| w.from <= at);
        let picked = policy::pick(
            heads.map(|w| &w.candidate),
            desk.id,
            &desk.services,
            at,
            &config.queue,
            desk.streak,
        )
        .and_then(|c| {
            desk.lanes.iter().copied().find(|&l| {
                lanes[l]
                    .head()
                    .is_some_and(|w| std::ptr::eq(&w.candidate, c))
            })
        });
        match picked {
            Some(l) => {
                let lane = &mut lanes[l];
                let waiting = &lane.members[lane.next];
                lane.next += 1;
                left -= 1;
                if waiting.real && target.is_none_or(|t| t == waiting.candidate.id) {
                    // Ahead: everyone called before by a desk that could call this one.
                    let ahead: u32 = lane.desks.iter().map(|&q| desks[q].called).sum();
                    outlook.insert(
                        waiting.candidate.id.clone(),
                        Estimate {
                            ahead,
                            wait: at.since(now),
                        },
                    );
                }
                let done = waiting.real && target == Some(waiting.candidate.id);
                let desk = &mut desks[d];
                desk.called += 1;
                desk.streak = policy::streak_after(desk.streak, &waiting.candidate);
                desk.free_at =
                    at + times.expected_all(config, waiting.candidate.service, waiting.also);
                if done {
                    break;
                }
            }
            None => {
                // Nothing for this desk yet: wait for the next visitor it could serve
                // (only a booked citizen joins later; a lane's head joins first).
                let next = desk
                    .lanes
                    .iter()
                    .filter_map(|&l| lanes[l].head())
                    .filter(|w| w.from > at)
                    .map(|w| w.from)
                    .min();
                match next {
                    Some(next) => desks[d].free_at = next,
                    None => desks[d].active = false,
                }
            }
        }
    }
    outlook
}
