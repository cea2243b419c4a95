//! The queue policy: which waiting visitor a desk calls next.
//!
//! In order: checked-in appointments due within the configured window (booked citizens
//! go first), then walk-ins who have waited past the configured bound, then walk-ins by
//! arrival, then appointments checked in early. So that a day full of appointments
//! does not starve the walk-ins, a desk that has called
//! `walk_in_after_appointments` appointments in a row owes an overdue walk-in the
//! next call: that walk-in goes first — unless a booked citizen's start lies half the
//! office's promise (`appointment_max_wait_minutes`) back already. Ties go to the
//! earlier arrival and then the ticket id, so every replica picks the same visitor.
//!
//! The policy is a pure function of its inputs; the estimate runs the very same
//! [`pick`] forward over a virtual queue.

use std::cmp::Ordering;

use crate::config::{OfficeConfig, QueueSettings};
use crate::day::Day;
use crate::ids::{DeskId, ServiceId, TicketId};
use crate::ticket::Ticket;
use crate::time::Timestamp;

/// What the policy needs to know of a waiting visitor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate<'a> {
    pub id: &'a TicketId,
    pub service: &'a ServiceId,
    pub for_desk: Option<&'a DeskId>,
    pub arrival: Timestamp,
    /// The appointment's start, for checked-in appointments.
    pub due: Option<Timestamp>,
}

impl<'a> From<&'a Ticket> for Candidate<'a> {
    fn from(t: &'a Ticket) -> Self {
        Candidate {
            id: &t.id,
            service: &t.service,
            for_desk: t.for_desk.as_ref(),
            arrival: t.arrival,
            due: t.origin.due(),
        }
    }
}

/// The policy's classes, earliest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Class {
    /// An appointment whose start lies half the office's promise
    /// (`appointment_max_wait_minutes`) back: about to be called later than promised.
    LateAppointment,
    /// A walk-in waiting longer than the bound, at a desk that owes one a call.
    OwedWalkIn,
    /// An appointment whose start is within the window (or past).
    DueAppointment,
    /// A walk-in waiting longer than the bound.
    OverdueWalkIn,
    WalkIn,
    /// An appointment checked in well before its start.
    EarlyAppointment,
}

/// Whether a desk that called `streak` appointments in a row owes an overdue walk-in
/// the next call.
pub fn owes_walk_in(streak: u32, settings: &QueueSettings) -> bool {
    streak >= settings.walk_in_after_appointments
}

/// How a desk's run of appointments goes on after it calls `picked`.
pub fn streak_after(streak: u32, picked: &Candidate<'_>) -> u32 {
    if picked.due.is_some() {
        streak.saturating_add(1)
    } else {
        0
    }
}

impl Candidate<'_> {
    /// The class of this visitor at `now`, for a desk that called `streak`
    /// appointments in a row.
    pub fn class(&self, now: Timestamp, settings: &QueueSettings, streak: u32) -> Class {
        match self.due {
            Some(due) if now >= due + settings.appointment_max_wait() / 2 => Class::LateAppointment,
            Some(due) if now + settings.appointment_window() >= due => Class::DueAppointment,
            Some(_) => Class::EarlyAppointment,
            None if now.since(self.arrival) >= settings.walk_in_max_wait() => {
                if owes_walk_in(streak, settings) {
                    Class::OwedWalkIn
                } else {
                    Class::OverdueWalkIn
                }
            }
            None => Class::WalkIn,
        }
    }

    /// Whether `desk`, serving `services`, may call this visitor.
    pub fn eligible(&self, desk: &DeskId, services: &[ServiceId]) -> bool {
        match self.for_desk {
            Some(target) => target == desk,
            None => services.contains(self.service),
        }
    }

    fn order(
        &self,
        other: &Self,
        now: Timestamp,
        settings: &QueueSettings,
        streak: u32,
    ) -> Ordering {
        let key = |c: &Self| {
            let class = c.class(now, settings, streak);
            // Appointments go by their start, walk-ins by arrival.
            let time = match class {
                Class::LateAppointment | Class::DueAppointment | Class::EarlyAppointment => {
                    c.due.unwrap_or(c.arrival)
                }
                Class::OwedWalkIn | Class::OverdueWalkIn | Class::WalkIn => c.arrival,
            };
            (class, time, c.arrival)
        };
        key(self)
            .cmp(&key(other))
            .then_with(|| self.id.cmp(other.id))
    }
}

/// The visitor `desk` (serving `services`, and having called `streak` appointments
/// in a row) calls next among `candidates`.
pub fn pick<'c, 'a>(
    candidates: impl IntoIterator<Item = &'c Candidate<'a>>,
    desk: &DeskId,
    services: &[ServiceId],
    now: Timestamp,
    settings: &QueueSettings,
    streak: u32,
) -> Option<&'c Candidate<'a>>
where
    'a: 'c,
{
    candidates
        .into_iter()
        .filter(|c| c.eligible(desk, services))
        .min_by(|a, b| a.order(b, now, settings, streak))
}

/// How many appointments in a row `desk` called last, as far as the policy cares.
pub fn streak_of(day: &Day, desk: &DeskId, settings: &QueueSettings) -> u32 {
    day.appointments_in_a_row(desk, settings.walk_in_after_appointments)
}

/// The waiting visitor `desk` should call next, if any.
pub fn next_for_desk<'d>(
    day: &'d Day,
    config: &OfficeConfig,
    desk: &DeskId,
    now: Timestamp,
) -> Option<&'d Ticket> {
    next_for_desk_where(day, config, desk, now, |_| true)
}

/// The waiting visitor `desk` should call next among those `callable` lets through.
pub fn next_for_desk_where<'d>(
    day: &'d Day,
    config: &OfficeConfig,
    desk: &DeskId,
    now: Timestamp,
    callable: impl Fn(&Ticket) -> bool,
) -> Option<&'d Ticket> {
    let services = day.services_of(config, desk);
    let candidates: Vec<Candidate<'d>> = day
        .waiting()
        .filter(|t| callable(t))
        .map(Candidate::from)
        .collect();
    let streak = streak_of(day, desk, &config.queue);
    let picked = pick(&candidates, desk, &services, now, &config.queue, streak)?;
    day.ticket(picked.id)
}

/// Whether `desk` may call `ticket` at all (serves its service, or it was sent there).
pub fn may_call(day: &Day, config: &OfficeConfig, desk: &DeskId, ticket: &Ticket) -> bool {
    Candidate::from(ticket).eligible(desk, &day.services_of(config, desk))
}
