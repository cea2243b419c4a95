//! A whole office day run through the model: visitors arrive (a Poisson process per
//! service), booked citizens check in or stay away, desks call, serve and finish. It
//! measures waits, desk utilisation and how well the waiting-time estimate predicted
//! each walk-in's wait, beside the static formula on the very same run.
//!
//! Deterministic for a given seed; the clock is simulated.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};
use std::fmt;
use std::time::Duration;

use aufruf_names::{NameError, node_id};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, LogNormal};

use crate::calendar::local_hour;
use crate::config::OfficeConfig;
use crate::day::{ActionError, Appointment, Day, Event, RecallOutcome};
use crate::estimate::{self, HandlingTimes, PastHandling};
use crate::hlc::HlcClock;
use crate::ids::{BookingCode, DeskId, Incarnation, NodeId, ServiceId, TicketId};
use crate::statistics::DayStatistics;
use crate::ticket::Origin;
use crate::time::Timestamp;

/// How the simulated day goes.
#[derive(Debug, Clone, PartialEq)]
pub struct SimulationParams {
    pub seed: u64,
    /// Visitors who intend to come: walk-ins plus booked appointments.
    pub visitors: u32,
    /// How many of the configured desks are open (the first ones).
    pub desks: usize,
    /// Share of visitors who booked an appointment.
    pub appointment_share: f64,
    /// Appointments of one service the office gives per 5-minute slot, as its
    /// booking would; `None`: one per two open desks that serve it (rounded up). A
    /// booking drawn for a full slot takes the nearest free one.
    pub appointments_per_slot: Option<u32>,
    /// Share of booked citizens who never come.
    pub appointment_no_show: f64,
    /// Share of walk-ins who leave before they are called.
    pub walk_away: f64,
    /// Opening and closing time, minutes after midnight.
    pub opens_minute: u32,
    pub closes_minute: u32,
    /// The node that issues tickets; it needs a number block in the configuration.
    pub kiosk: NodeId,
    /// Relative arrival rate of walk-ins over the day, in equal parts of the opening
    /// hours (e.g. [`RUSH_PROFILE`]: a rush after opening, a lull at lunch).
    pub arrival_profile: Vec<f64>,
    /// Spread of handling times: the sigma of a log-normal around each service's
    /// mean (0.5: some visitors take three times as long as others).
    pub handling_spread: f64,
    /// What visitors come for and how long each service takes, as a real day showed
    /// ([`SimulationParams::replaying`]). Empty: from the configuration — short
    /// errands more frequent than long ones, each service's true mean off from the
    /// configured expectation by up to ±30 %.
    pub demand: Vec<ServiceDemand>,
}

/// One service's part of a day: how many come for it, and how long it takes.
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceDemand {
    pub service: ServiceId,
    /// Relative to the other services' (e.g. the visitors a real day had).
    pub share: f64,
    /// Mean handling time in minutes.
    pub mean_minutes: f64,
}

/// Relative arrival rate of walk-ins over the day, in ten equal parts: a rush after
/// opening, a lull at lunch, a second smaller peak in the afternoon.
pub const RUSH_PROFILE: [f64; 10] = [1.7, 1.5, 1.2, 1.0, 0.6, 0.7, 1.1, 1.2, 0.7, 0.3];

/// A Monday: a long queue at the door, busy until lunch, quieter afterwards.
pub const MONDAY_PROFILE: [f64; 10] = [2.6, 2.0, 1.5, 1.2, 0.6, 0.6, 0.8, 0.8, 0.5, 0.2];

/// The same rate all day.
pub const FLAT_PROFILE: [f64; 1] = [1.0];

impl Default for SimulationParams {
    fn default() -> Self {
        Self {
            seed: 1,
            visitors: 600,
            desks: 6,
            appointment_share: 0.3,
            appointments_per_slot: None,
            appointment_no_show: 0.1,
            walk_away: 0.03,
            opens_minute: 8 * 60,
            closes_minute: 18 * 60,
            kiosk: node_id!("kiosk-1"),
            arrival_profile: RUSH_PROFILE.to_vec(),
            handling_spread: 0.5,
            demand: Vec::new(),
        }
    }
}

impl SimulationParams {
    /// A day as a real one went, from its statistics: its visitors, the share of
    /// them booked, walk-ins arriving hour by hour as they did, each service's share
    /// and mean handling time, the share who did not answer their call, and `desks`
    /// open (the first ones of `config`; `None`: as many as served that day). What
    /// statistics do not know comes from `base` (the booked citizens who never came,
    /// the spread of handling times, the seed).
    ///
    /// Visitors of a service none of the open desks serves (e.g. another
    /// department's) are left out; [`Replay::left_out`] names them.
    pub fn replaying(
        day: &DayStatistics,
        config: &OfficeConfig,
        base: &SimulationParams,
        desks: Option<usize>,
    ) -> Result<Replay, SimulationError> {
        let served_at = day.desks.values().filter(|d| d.served > 0).count();
        let desks = desks
            .unwrap_or(served_at)
            .clamp(1, config.desks.len().max(1));
        let open = &config.desks[..desks.min(config.desks.len())];
        let (services, left_out): (BTreeMap<_, _>, BTreeMap<_, _>) = day
            .services
            .iter()
            .filter(|(_, s)| s.visitors() > 0)
            .partition(|(service, _)| open.iter().any(|d| d.services.contains(service)));
        let left_out = left_out
            .into_iter()
            .map(|(service, s)| (service.clone(), s.visitors()))
            .collect();
        let walk_ins: u32 = services.values().map(|s| s.walk_ins).sum();
        let appointments: u32 = services.values().map(|s| s.appointments).sum();
        let visitors = walk_ins + appointments;
        if visitors == 0 {
            return Err(SimulationError::EmptyDay);
        }
        let no_shows: u32 = services.values().map(|s| s.no_shows).sum();
        let mut by_hour: BTreeMap<u8, u32> = BTreeMap::new();
        for s in services.values() {
            for (hour, h) in &s.hours {
                *by_hour.entry(*hour).or_default() += h.walk_ins;
            }
        }
        by_hour.retain(|_, n| *n > 0);
        let hours = by_hour.keys().next().zip(by_hour.keys().next_back());
        let (opens_minute, closes_minute, arrival_profile) = match hours {
            // Walk-ins stop coming a quarter of an hour before closing: an hour
            // longer than the last in which anyone came.
            Some((first, last)) => (
                u32::from(*first) * 60,
                (u32::from(*last) + 1) * 60 + 15,
                (*first..=*last)
                    .map(|h| f64::from(by_hour.get(&h).copied().unwrap_or(0)))
                    .collect(),
            ),
            None => (
                base.opens_minute,
                base.closes_minute,
                base.arrival_profile.clone(),
            ),
        };
        let demand = services
            .iter()
            .map(|(service, s)| {
                let configured = config
                    .service(service)
                    .map_or(5.0, |c| f64::from(c.expected_minutes));
                ServiceDemand {
                    service: (*service).clone(),
                    share: f64::from(s.visitors()),
                    mean_minutes: s
                        .mean_handling()
                        .map_or(configured, |m| m.as_secs_f64() / 60.0)
                        .max(0.1),
                }
            })
            .collect();
        let params = SimulationParams {
            visitors,
            desks,
            appointment_share: f64::from(appointments) / f64::from(visitors),
            walk_away: (f64::from(no_shows) / f64::from(walk_ins.max(1))).min(1.0),
            opens_minute,
            closes_minute: closes_minute.min(24 * 60),
            arrival_profile,
            demand,
            ..base.clone()
        };
        Ok(Replay { params, left_out })
    }
}

/// A real day made a simulation's input ([`SimulationParams::replaying`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Replay {
    pub params: SimulationParams,
    /// Services none of the open desks serves, and their visitors that day.
    pub left_out: Vec<(ServiceId, u32)>,
}

/// Why a simulation could not run.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SimulationError {
    #[error("the configuration has {available} desks, {wanted} were asked for")]
    NotEnoughDesks { available: usize, wanted: usize },
    #[error("at least one desk must be open")]
    NoDesks,
    #[error("the office must open before it closes")]
    BadHours,
    #[error("a share must be between 0 and 1")]
    BadShare,
    #[error("an arrival profile needs at least one part, every rate at least 0 and one above 0")]
    BadProfile,
    #[error("the spread of handling times must be between 0 and 2")]
    BadSpread,
    #[error(
        "the services' demand needs a share of at least 0 and one above 0, and a mean \
         handling time of 0.1 to 600 minutes, for services the open desks serve"
    )]
    BadDemand,
    #[error("the day to replay had no visitors")]
    EmptyDay,
    #[error("the model refused a step")]
    Refused(#[from] ActionError),
    /// Each desk's terminal is a node named after its desk, as a real one is by default.
    #[error("desk \"{desk}\" cannot name its terminal: {problem}")]
    DeskName { desk: DeskId, problem: NameError },
}

/// Waiting times of a group of visitors.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct WaitStats {
    pub count: usize,
    pub mean: Duration,
    pub p90: Duration,
    pub p95: Duration,
    pub max: Duration,
}

impl WaitStats {
    fn of(mut waits: Vec<Duration>) -> Self {
        if waits.is_empty() {
            return Self::default();
        }
        waits.sort();
        let count = waits.len();
        let total: Duration = waits.iter().sum();
        let percentile = |p: usize| waits[(count * p).div_ceil(100).saturating_sub(1)];
        Self {
            count,
            mean: total / u32::try_from(count).unwrap_or(u32::MAX),
            p90: percentile(90),
            p95: percentile(95),
            max: waits[count - 1],
        }
    }
}

/// A walk-in called this much before the estimate the kiosk gave them may be out on
/// an errand and miss the call.
pub const EARLY_CALL_MARGIN: Duration = Duration::from_secs(5 * 60);

/// What one day measured, kept whole so that days can be pooled.
#[derive(Debug, Clone, Default, PartialEq)]
struct Samples {
    walk_in_waits: Vec<Duration>,
    appointment_waits: Vec<Duration>,
    /// Per estimated walk-in: the error of our estimate and of the static formula,
    /// and whether the call came more than [`EARLY_CALL_MARGIN`] before our estimate.
    estimates: Vec<(Duration, Duration, bool)>,
}

impl Samples {
    fn errors(&self) -> (Duration, Duration) {
        let n = u32::try_from(self.estimates.len().max(1)).unwrap_or(u32::MAX);
        let ours: Duration = self.estimates.iter().map(|e| e.0).sum();
        let statics: Duration = self.estimates.iter().map(|e| e.1).sum();
        (ours / n, statics / n)
    }

    fn early_share(&self) -> f64 {
        let early = self.estimates.iter().filter(|e| e.2).count();
        early as f64 / self.estimates.len().max(1) as f64
    }
}

/// What the day looked like.
#[derive(Debug, Clone, PartialEq)]
pub struct SimulationReport {
    pub seed: u64,
    pub desks: usize,
    pub walk_ins: u32,
    pub appointments_booked: u32,
    pub appointments_checked_in: u32,
    pub served: u32,
    /// Called visitors who never came to the desk.
    pub no_shows: u32,
    pub walk_in_wait: WaitStats,
    /// From the later of arrival and appointment start to the call.
    pub appointment_wait: WaitStats,
    /// Mean share of time desks were busy, from opening to their last visitor.
    pub utilisation: f64,
    /// Walk-ins whose predicted wait is compared with their actual wait.
    pub estimated: usize,
    pub estimate_error: Duration,
    pub static_error: Duration,
    /// Share of the estimated walk-ins called more than [`EARLY_CALL_MARGIN`] before
    /// their estimate.
    pub early_calls: f64,
    /// When the last visitor was finished, minutes after midnight.
    pub last_finish_minute: u32,
    /// Whether every ticket ended served, no-show or cancelled.
    pub all_tickets_finished: bool,
}

/// Runs one office day.
pub fn simulate(
    config: &OfficeConfig,
    params: &SimulationParams,
) -> Result<SimulationReport, SimulationError> {
    check(config, params)?;
    Ok(Office::new(config, params, PastHandling::default())?
        .run()?
        .0)
}

/// Like [`simulate`], and the simulated day itself (e.g. for its statistics).
pub fn simulate_keeping_day(
    config: &OfficeConfig,
    params: &SimulationParams,
) -> Result<(SimulationReport, Day), SimulationError> {
    check(config, params)?;
    let (report, _, day) = Office::new(config, params, PastHandling::default())?.run()?;
    Ok((report, day))
}

fn check(config: &OfficeConfig, params: &SimulationParams) -> Result<(), SimulationError> {
    if params.desks == 0 {
        return Err(SimulationError::NoDesks);
    }
    if params.desks > config.desks.len() {
        return Err(SimulationError::NotEnoughDesks {
            available: config.desks.len(),
            wanted: params.desks,
        });
    }
    if params.opens_minute >= params.closes_minute || params.closes_minute > 24 * 60 {
        return Err(SimulationError::BadHours);
    }
    let shares = [
        params.appointment_share,
        params.appointment_no_show,
        params.walk_away,
    ];
    if shares.iter().any(|s| !(0.0..=1.0).contains(s)) {
        return Err(SimulationError::BadShare);
    }
    let profile = &params.arrival_profile;
    if profile.is_empty()
        || profile.len() > 24 * 60
        || profile.iter().any(|r| !r.is_finite() || *r < 0.0)
        || profile.iter().sum::<f64>() <= 0.0
    {
        return Err(SimulationError::BadProfile);
    }
    if !(0.0..=2.0).contains(&params.handling_spread) {
        return Err(SimulationError::BadSpread);
    }
    let open = &config.desks[..params.desks];
    let demand = &params.demand;
    if !demand.is_empty()
        && (!demand.iter().all(|d| {
            d.share.is_finite()
                && d.share >= 0.0
                && (0.1..=600.0).contains(&d.mean_minutes)
                && open.iter().any(|desk| desk.services.contains(&d.service))
        }) || demand.iter().map(|d| d.share).sum::<f64>() <= 0.0)
    {
        return Err(SimulationError::BadDemand);
    }
    Ok(())
}

/// Many days of one kind, pooled: every waiting time and estimate of all of them.
#[derive(Debug, Clone, PartialEq)]
pub struct DaysReport {
    pub days: usize,
    pub desks: usize,
    pub walk_in_wait: WaitStats,
    pub appointment_wait: WaitStats,
    pub estimated: usize,
    pub estimate_error: Duration,
    pub static_error: Duration,
    pub early_calls: f64,
    /// Days on which our estimate was worse than the static formula.
    pub days_estimate_worse: usize,
    /// Days that ended with a ticket neither served nor a no-show.
    pub days_unfinished: usize,
    /// Booked citizens called later after their start than the office promises
    /// (`queue.appointment_max_wait_minutes`).
    pub appointments_late: usize,
}

/// Runs the day `params` describes once for each seed in `seeds` and pools the
/// results.
pub fn simulate_days(
    config: &OfficeConfig,
    params: &SimulationParams,
    seeds: impl IntoIterator<Item = u64>,
) -> Result<DaysReport, SimulationError> {
    let mut pooled = Samples::default();
    let mut past: Vec<DayStatistics> = Vec::new();
    let (mut days, mut worse, mut unfinished) = (0, 0, 0);
    for seed in seeds {
        let params = SimulationParams {
            seed,
            ..params.clone()
        };
        check(config, &params)?;
        let (report, samples, day) =
            Office::new(config, &params, PastHandling::of(&past))?.run()?;
        // The office keeps the day's statistics; the next day learns from it.
        if past.len() == PAST_DAYS {
            past.remove(0);
        }
        let date = chrono::DateTime::from_timestamp_millis(
            i64::try_from(MIDNIGHT.as_millis()).unwrap_or_default(),
        )
        .unwrap_or_default()
        .date_naive();
        past.push(DayStatistics::of(date, &day, chrono_tz::UTC));
        days += 1;
        worse += usize::from(report.estimate_error > report.static_error);
        unfinished += usize::from(!report.all_tickets_finished);
        pooled.walk_in_waits.extend(samples.walk_in_waits);
        pooled.appointment_waits.extend(samples.appointment_waits);
        pooled.estimates.extend(samples.estimates);
    }
    let (estimate_error, static_error) = pooled.errors();
    let promise = config.queue.appointment_max_wait();
    let appointments_late = pooled
        .appointment_waits
        .iter()
        .filter(|w| **w > promise)
        .count();
    Ok(DaysReport {
        appointments_late,
        days,
        desks: params.desks,
        estimated: pooled.estimates.len(),
        estimate_error,
        static_error,
        early_calls: pooled.early_share(),
        days_estimate_worse: worse,
        days_unfinished: unfinished,
        walk_in_wait: WaitStats::of(pooled.walk_in_waits),
        appointment_wait: WaitStats::of(pooled.appointment_waits),
    })
}

/// The simulated kiosk's store: one, kept all day.
const KIOSK_STORE: Incarnation = Incarnation::new(1);
/// A simulated day starts at this instant (2026-03-10 00:00 UTC).
const MIDNIGHT: Timestamp = Timestamp::from_millis(1_773_100_800_000);

/// How many past days' statistics a day of [`simulate_days`] learns from (an office
/// learns from eight weeks of the same weekday).
const PAST_DAYS: usize = 8;

/// The seed of the office's own handling times: each service's true mean is drawn
/// once for the office, the same every day, as a real office's is.
const OFFICE_SEED: u64 = 0x0ff1ce;
const WALK_TO_DESK: Duration = Duration::from_secs(30);
const WAIT_FOR_VISITOR: Duration = Duration::from_secs(60);

/// One service's appointment slots (every 5 minutes) and how many are left in each.
struct Slots {
    first: u32,
    left: Vec<u32>,
}

impl Slots {
    fn new(opens: u32, last_start: u32, per_slot: u32) -> Self {
        let count = last_start.saturating_sub(opens) / 5 + 1;
        Self {
            first: opens,
            left: vec![per_slot; usize::try_from(count).unwrap_or(0)],
        }
    }

    /// Books the free slot nearest to minute `wanted` (the earlier one on a tie).
    fn take_nearest(&mut self, wanted: f64) -> Option<f64> {
        // Minutes of a day fit easily.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let wanted = ((wanted - f64::from(self.first)) / 5.0).max(0.0) as usize;
        let wanted = wanted.min(self.left.len().checked_sub(1)?);
        let free = (0..self.left.len())
            .flat_map(|d| [wanted.checked_sub(d), wanted.checked_add(d)])
            .flatten()
            .find(|&i| self.left.get(i).is_some_and(|n| *n > 0))?;
        self.left[free] -= 1;
        Some(f64::from(self.first) + 5.0 * free as f64)
    }
}

/// A walk-in's arrival minute: a Poisson process whose rate follows `profile`
/// (drawn by inverting its piecewise-linear distribution function).
fn walk_in_arrival(rng: &mut StdRng, profile: &[f64], opens: f64, closes: f64) -> f64 {
    let total: f64 = profile.iter().sum();
    let mut u = rng.random_range(0.0..total);
    let part = (closes - opens) / profile.len() as f64;
    for (i, rate) in profile.iter().enumerate() {
        if u < *rate {
            return opens + part * (i as f64 + u / rate);
        }
        u -= rate;
    }
    closes
}

fn at_minute(minute: f64) -> Timestamp {
    // Whole milliseconds are precise enough; the cast cannot overflow within a day.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let ms = (minute * 60_000.0).max(0.0) as u64;
    Timestamp::from_millis(MIDNIGHT.as_millis() + ms)
}

#[derive(Debug)]
struct Visitor {
    service: ServiceId,
    arrives: Timestamp,
    booking: Option<Appointment>,
    comes: bool,
    shows_when_called: bool,
    handling: Duration,
    first_call: Option<Timestamp>,
    predicted: Option<Duration>,
    predicted_static: Option<Duration>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Happening {
    Arrives(usize),
    AtDesk(usize),
    Finished(usize),
    Unanswered(usize),
}

#[derive(Debug)]
struct Desk {
    id: DeskId,
    clock: HlcClock,
    busy_since: Option<Timestamp>,
    busy: Duration,
    last_free: Timestamp,
}

struct Office<'a> {
    config: &'a OfficeConfig,
    params: &'a SimulationParams,
    day: Day,
    kiosk: HlcClock,
    desks: Vec<Desk>,
    visitors: Vec<Visitor>,
    by_ticket: BTreeMap<TicketId, usize>,
    /// What the office's past days taught of handling times.
    past: PastHandling,
    agenda: BinaryHeap<Reverse<(Timestamp, u64, Happening)>>,
    sequence: u64,
    no_shows: u32,
}

impl<'a> Office<'a> {
    fn new(
        config: &'a OfficeConfig,
        params: &'a SimulationParams,
        past: PastHandling,
    ) -> Result<Self, SimulationError> {
        let desks: Vec<Desk> = config.desks[..params.desks]
            .iter()
            .map(|d| {
                let node =
                    NodeId::new(d.id.as_str()).map_err(|problem| SimulationError::DeskName {
                        desk: d.id.clone(),
                        problem,
                    })?;
                Ok(Desk {
                    id: d.id.clone(),
                    clock: HlcClock::new(node),
                    busy_since: None,
                    busy: Duration::ZERO,
                    last_free: at_minute(f64::from(params.opens_minute)),
                })
            })
            .collect::<Result<_, SimulationError>>()?;
        let mut office = Office {
            config,
            params,
            day: Day::new(),
            kiosk: HlcClock::new(params.kiosk.clone()),
            desks,
            visitors: Vec::new(),
            by_ticket: BTreeMap::new(),
            past,
            agenda: BinaryHeap::new(),
            sequence: 0,
            no_shows: 0,
        };
        office.visitors = office.draw_visitors();
        Ok(office)
    }

    /// Draws the day's visitors from the seed.
    fn draw_visitors(&self) -> Vec<Visitor> {
        let p = self.params;
        let mut rng = StdRng::seed_from_u64(p.seed);
        let served: Vec<&ServiceId> = {
            let mut s: Vec<_> = self.config.desks[..p.desks]
                .iter()
                .flat_map(|d| d.services.iter())
                .collect();
            s.sort();
            s.dedup();
            s
        };
        // Short errands are more frequent than long ones (each service takes as much
        // of the desks' time as any other); each service's true mean handling time
        // is off from the configured expectation by up to ±30 %, the same every day
        // (and whichever desks are open), and the office as a whole works at the
        // configured pace: one service's slowness is another's speed.
        let off = |id: &ServiceId| {
            // FNV-1a of the service's id: one draw per service.
            let seed = id.as_str().bytes().fold(OFFICE_SEED, |h, b| {
                (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
            });
            StdRng::seed_from_u64(seed).random_range(0.7..1.3)
        };
        let pace = served.iter().map(|id| off(id)).sum::<f64>() / served.len().max(1) as f64;
        let profile: Vec<(&ServiceId, f64, f64)> = if p.demand.is_empty() {
            served
                .iter()
                .map(|id| {
                    let expected = self
                        .config
                        .service(id)
                        .map_or(5.0, |s| f64::from(s.expected_minutes));
                    (*id, 1.0 / expected, expected * off(id) / pace)
                })
                .collect()
        } else {
            p.demand
                .iter()
                .map(|d| (&d.service, d.share, d.mean_minutes))
                .collect()
        };
        let total_weight: f64 = profile.iter().map(|p| p.1).sum();
        let opens = f64::from(p.opens_minute);
        let closes = f64::from(p.closes_minute);
        let open_desks = &self.config.desks[..p.desks];
        let mut slots: BTreeMap<&ServiceId, Slots> = served
            .iter()
            .map(|service| {
                let serving = open_desks
                    .iter()
                    .filter(|d| d.services.contains(service))
                    .count();
                let per_slot = p
                    .appointments_per_slot
                    .unwrap_or_else(|| u32::try_from(serving.div_ceil(2)).unwrap_or(u32::MAX));
                let last_start = p.closes_minute.saturating_sub(30);
                (*service, Slots::new(p.opens_minute, last_start, per_slot))
            })
            .collect();
        let mut visitors = Vec::new();
        for n in 0..p.visitors {
            let mut choice = rng.random_range(0.0..total_weight);
            let &(service, _, true_mean) = profile
                .iter()
                .find(|(_, w, _)| {
                    choice -= w;
                    choice < 0.0
                })
                .or(profile.last())
                .unwrap_or(&profile[0]);
            let sigma = p.handling_spread;
            let handling_minutes = LogNormal::new(true_mean.ln() - sigma * sigma / 2.0, sigma)
                .map_or(true_mean, |d| d.sample(&mut rng));
            let handling = Duration::from_secs_f64(handling_minutes * 60.0);
            // Slots every 5 minutes; when every slot of the day is booked out, the
            // citizen walks in.
            let slot = rng
                .random_bool(p.appointment_share)
                .then(|| ((rng.random_range(opens..closes - 30.0)) / 5.0).floor() * 5.0)
                .and_then(|wanted| slots.get_mut(service)?.take_nearest(wanted));
            let visitor = if let Some(slot) = slot {
                // Most come a few minutes early, some late.
                let early = if rng.random_bool(0.85) {
                    rng.random_range(0.0..12.0)
                } else {
                    -rng.random_range(0.0..8.0)
                };
                Visitor {
                    service: service.clone(),
                    arrives: at_minute((slot - early).max(opens)),
                    booking: Some(Appointment {
                        cancelled: false,
                        code: BookingCode::new(format!("B{n:04}")),
                        service: service.clone(),
                        due: at_minute(slot),
                        also: Vec::new(),
                    }),
                    comes: !rng.random_bool(p.appointment_no_show),
                    shows_when_called: true,
                    handling,
                    first_call: None,
                    predicted: None,
                    predicted_static: None,
                }
            } else {
                Visitor {
                    service: service.clone(),
                    arrives: at_minute(walk_in_arrival(
                        &mut rng,
                        &p.arrival_profile,
                        opens,
                        closes - 15.0,
                    )),
                    booking: None,
                    comes: true,
                    shows_when_called: !rng.random_bool(p.walk_away),
                    handling,
                    first_call: None,
                    predicted: None,
                    predicted_static: None,
                }
            };
            visitors.push(visitor);
        }
        visitors
    }

    fn schedule(&mut self, at: Timestamp, what: Happening) {
        self.sequence += 1;
        self.agenda.push(Reverse((at, self.sequence, what)));
    }

    fn run(mut self) -> Result<(SimulationReport, Samples, Day), SimulationError> {
        let opening = at_minute(f64::from(self.params.opens_minute));
        for v in &self.visitors {
            if let Some(booking) = &v.booking {
                self.day.apply(Event::Booked(booking.clone()));
            }
        }
        for d in 0..self.desks.len() {
            let stamp = self.stamp_desk(d, opening);
            let desk = self.desks[d].id.clone();
            self.day.open_desk(self.config, &desk, Vec::new(), stamp)?;
        }
        for i in 0..self.visitors.len() {
            if self.visitors[i].comes {
                self.schedule(self.visitors[i].arrives, Happening::Arrives(i));
            }
        }
        while let Some(Reverse((now, _, what))) = self.agenda.pop() {
            match what {
                Happening::Arrives(v) => {
                    self.arrive(v, now)?;
                    for d in 0..self.desks.len() {
                        self.call_next(d, now)?;
                    }
                }
                Happening::AtDesk(d) => {
                    let stamp = self.stamp_desk(d, now);
                    let event = self.day.start_serving(&self.desks[d].id, stamp)?;
                    let v = self.visitor_of(&event);
                    let handling = self.visitors[v].handling;
                    self.schedule(now + handling, Happening::Finished(d));
                }
                Happening::Finished(d) => {
                    let stamp = self.stamp_desk(d, now);
                    self.day.finish(&self.desks[d].id, stamp)?;
                    self.free(d, now);
                    self.call_next(d, now)?;
                }
                Happening::Unanswered(d) => {
                    let stamp = self.stamp_desk(d, now);
                    match self.day.recall(self.config, &self.desks[d].id, stamp)? {
                        RecallOutcome::Recalled(_) => {
                            self.schedule(now + WAIT_FOR_VISITOR, Happening::Unanswered(d));
                        }
                        RecallOutcome::NoShow(_) => {
                            self.no_shows += 1;
                            self.free(d, now);
                            self.call_next(d, now)?;
                        }
                    }
                }
            }
        }
        let samples = self.samples();
        Ok((self.report(&samples), samples, self.day))
    }

    fn stamp_desk(&mut self, d: usize, now: Timestamp) -> crate::hlc::Stamp {
        let clock = &mut self.desks[d].clock;
        clock.observe(self.day.latest());
        clock.tick(now)
    }

    fn visitor_of(&self, event: &Event) -> usize {
        match event {
            Event::Ticket { ticket, .. } => self.by_ticket.get(ticket).copied().unwrap_or(0),
            _ => 0,
        }
    }

    fn arrive(&mut self, v: usize, now: Timestamp) -> Result<(), SimulationError> {
        self.kiosk.observe(self.day.latest());
        let stamp = self.kiosk.tick(now);
        let visitor = &self.visitors[v];
        let event = match &visitor.booking {
            Some(booking) => self
                .day
                .check_in(self.config, &booking.code, KIOSK_STORE, stamp)?,
            None => self.day.issue(
                self.config,
                &visitor.service,
                Origin::WalkIn,
                KIOSK_STORE,
                stamp,
            )?,
        };
        let Event::Ticket { ticket, .. } = event else {
            return Ok(());
        };
        self.by_ticket.insert(ticket.clone(), v);
        if self.visitors[v].booking.is_none() {
            // What past days taught of this hour, and every visitor done today.
            let mut times = HandlingTimes::after(&self.past, local_hour(chrono_tz::UTC, now));
            times.learn_from(&self.day);
            let predicted = estimate::estimate(&self.day, self.config, &times, &ticket, now);
            let predicted_static = self
                .day
                .ticket(&ticket)
                .and_then(|t| estimate::static_formula(&self.day, self.config, &times, t));
            let visitor = &mut self.visitors[v];
            visitor.predicted = predicted.map(|e| e.wait);
            visitor.predicted_static = predicted_static;
        }
        Ok(())
    }

    fn call_next(&mut self, d: usize, now: Timestamp) -> Result<(), SimulationError> {
        if self.desks[d].busy_since.is_some() {
            return Ok(());
        }
        let stamp = self.stamp_desk(d, now);
        let desk = self.desks[d].id.clone();
        let event = match self.day.call_next(self.config, &desk, now, stamp) {
            Ok(event) => event,
            Err(ActionError::NobodyWaiting(_)) => return Ok(()),
            Err(other) => return Err(other.into()),
        };
        let v = self.visitor_of(&event);
        self.visitors[v].first_call.get_or_insert(now);
        self.desks[d].busy_since = Some(now);
        if self.visitors[v].shows_when_called {
            self.schedule(now + WALK_TO_DESK, Happening::AtDesk(d));
        } else {
            self.schedule(now + WAIT_FOR_VISITOR, Happening::Unanswered(d));
        }
        Ok(())
    }

    fn free(&mut self, d: usize, now: Timestamp) {
        let desk = &mut self.desks[d];
        if let Some(since) = desk.busy_since.take() {
            desk.busy += now.since(since);
        }
        desk.last_free = now;
    }

    fn samples(&self) -> Samples {
        let mut samples = Samples::default();
        for v in &self.visitors {
            let Some(called) = v.first_call else { continue };
            match &v.booking {
                Some(b) => samples
                    .appointment_waits
                    .push(called.since(v.arrives.max(b.due))),
                None => {
                    let actual = called.since(v.arrives);
                    samples.walk_in_waits.push(actual);
                    if let (Some(p), Some(s)) = (v.predicted, v.predicted_static) {
                        let early = actual + EARLY_CALL_MARGIN < p;
                        samples
                            .estimates
                            .push((p.abs_diff(actual), s.abs_diff(actual), early));
                    }
                }
            }
        }
        samples
    }

    fn report(&self, samples: &Samples) -> SimulationReport {
        let (estimate_error, static_error) = samples.errors();
        let opening = at_minute(f64::from(self.params.opens_minute));
        let closing = at_minute(f64::from(self.params.closes_minute));
        let last_finish = self
            .desks
            .iter()
            .map(|d| d.last_free)
            .max()
            .unwrap_or(closing);
        let utilisation = self
            .desks
            .iter()
            .map(|d| d.busy.as_secs_f64() / d.last_free.max(closing).since(opening).as_secs_f64())
            .sum::<f64>()
            / self.desks.len().max(1) as f64;
        let count = |pred: &dyn Fn(&Visitor) -> bool| {
            u32::try_from(self.visitors.iter().filter(|v| pred(v)).count()).unwrap_or(u32::MAX)
        };
        SimulationReport {
            seed: self.params.seed,
            desks: self.desks.len(),
            walk_ins: count(&|v| v.booking.is_none()),
            appointments_booked: count(&|v| v.booking.is_some()),
            appointments_checked_in: count(&|v| v.booking.is_some() && v.comes),
            served: u32::try_from(
                self.day
                    .tickets()
                    .filter(|t| matches!(t.status, crate::ticket::Status::Done { .. }))
                    .count(),
            )
            .unwrap_or(u32::MAX),
            no_shows: self.no_shows,
            walk_in_wait: WaitStats::of(samples.walk_in_waits.clone()),
            appointment_wait: WaitStats::of(samples.appointment_waits.clone()),
            utilisation,
            estimated: samples.estimates.len(),
            estimate_error,
            static_error,
            early_calls: samples.early_share(),
            last_finish_minute: u32::try_from(last_finish.since(MIDNIGHT).as_secs() / 60)
                .unwrap_or(u32::MAX),
            all_tickets_finished: self.day.tickets().all(|t| t.status.is_finished()),
        }
    }
}

impl fmt::Display for SimulationReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let m = |d: Duration| format!("{:.1} min", d.as_secs_f64() / 60.0);
        let row = |f: &mut fmt::Formatter<'_>, label: &str, value: String| {
            writeln!(f, "  {label:<44} {value:>12}")
        };
        writeln!(
            f,
            "Simulated office day (seed {}, {} desks)",
            self.seed, self.desks
        )?;
        row(f, "walk-ins", self.walk_ins.to_string())?;
        row(
            f,
            "appointments booked",
            self.appointments_booked.to_string(),
        )?;
        row(
            f,
            "appointments checked in",
            self.appointments_checked_in.to_string(),
        )?;
        row(f, "visitors served", self.served.to_string())?;
        row(f, "no-shows when called", self.no_shows.to_string())?;
        row(f, "walk-in wait: mean", m(self.walk_in_wait.mean))?;
        row(f, "walk-in wait: p90", m(self.walk_in_wait.p90))?;
        row(f, "walk-in wait: max", m(self.walk_in_wait.max))?;
        row(
            f,
            "appointment wait after start: mean",
            m(self.appointment_wait.mean),
        )?;
        row(
            f,
            "appointment wait after start: p90",
            m(self.appointment_wait.p90),
        )?;
        row(
            f,
            "appointment wait after start: p95",
            m(self.appointment_wait.p95),
        )?;
        row(
            f,
            "appointment wait after start: max",
            m(self.appointment_wait.max),
        )?;
        row(
            f,
            "desk utilisation",
            format!("{:.0} %", self.utilisation * 100.0),
        )?;
        row(
            f,
            "last visitor finished",
            format!(
                "{:02}:{:02}",
                self.last_finish_minute / 60,
                self.last_finish_minute % 60
            ),
        )?;
        row(
            f,
            &format!(
                "estimate error, Aufruf (mean abs., {} walk-ins)",
                self.estimated
            ),
            m(self.estimate_error),
        )?;
        row(
            f,
            "estimate error, static formula (same walk-ins)",
            m(self.static_error),
        )?;
        row(
            f,
            "walk-ins called over 5 min before their estimate",
            format!("{:.1} %", self.early_calls * 100.0),
        )
    }
}

impl DaysReport {
    /// The column heads of [`DaysReport`]'s rows.
    pub const HEADER: &str = "desks  days | walk-in wait mean   p95   max | appointment wait p95   max  late | estimate error ours / static (worse days) | early calls";
}

/// One row under [`DaysReport::HEADER`]; minutes.
impl fmt::Display for DaysReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let m = |d: Duration| d.as_secs_f64() / 60.0;
        writeln!(
            f,
            "{:>5} {:>5} | {:>17.1} {:>5.0} {:>5.0} | {:>20.1} {:>5.0} {:>5} | {:>16.2} / {:>6.2} ({:>2} of {:>2}) | {:>9.1} %{}",
            self.desks,
            self.days,
            m(self.walk_in_wait.mean),
            m(self.walk_in_wait.p95),
            m(self.walk_in_wait.max),
            m(self.appointment_wait.p95),
            m(self.appointment_wait.max),
            self.appointments_late,
            m(self.estimate_error),
            m(self.static_error),
            self.days_estimate_worse,
            self.days,
            self.early_calls * 100.0,
            if self.days_unfinished > 0 {
                format!("  ({} days left a ticket open)", self.days_unfinished)
            } else {
                String::new()
            }
        )
    }
}
