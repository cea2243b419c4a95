//! The queue policy: which waiting visitor a desk calls next.
//!
//! In order: walk-ins who have waited past the configured bound (so appointments never
//! starve them), then checked-in appointments due within the configured window, then
//! walk-ins by arrival, then appointments checked in early. Ties go to the earlier
//! arrival and then the ticket id, so every replica picks the same visitor.
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
    /// A walk-in waiting longer than the bound.
    OverdueWalkIn,
    /// An appointment whose start is within the window (or past).
    DueAppointment,
    WalkIn,
    /// An appointment checked in well before its start.
    EarlyAppointment,
}

impl Candidate<'_> {
    pub fn class(&self, now: Timestamp, settings: &QueueSettings) -> Class {
        match self.due {
            Some(due) if now + settings.appointment_window() >= due => Class::DueAppointment,
            Some(_) => Class::EarlyAppointment,
            None if now.since(self.arrival) >= settings.walk_in_max_wait() => Class::OverdueWalkIn,
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

    fn order(&self, other: &Self, now: Timestamp, settings: &QueueSettings) -> Ordering {
        let key = |c: &Self| {
            let class = c.class(now, settings);
            // Appointments go by their start, walk-ins by arrival.
            let time = match class {
                Class::DueAppointment | Class::EarlyAppointment => c.due.unwrap_or(c.arrival),
                Class::OverdueWalkIn | Class::WalkIn => c.arrival,
            };
            (class, time, c.arrival)
        };
        key(self)
            .cmp(&key(other))
            .then_with(|| self.id.cmp(other.id))
    }
}

/// The visitor `desk` (serving `services`) calls next among `candidates`.
pub fn pick<'c, 'a>(
    candidates: impl IntoIterator<Item = &'c Candidate<'a>>,
    desk: &DeskId,
    services: &[ServiceId],
    now: Timestamp,
    settings: &QueueSettings,
) -> Option<&'c Candidate<'a>>
where
    'a: 'c,
{
    candidates
        .into_iter()
        .filter(|c| c.eligible(desk, services))
        .min_by(|a, b| a.order(b, now, settings))
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
    let picked = pick(&candidates, desk, &services, now, &config.queue)?;
    day.ticket(picked.id)
}

/// Whether `desk` may call `ticket` at all (serves its service, or it was sent there).
pub fn may_call(day: &Day, config: &OfficeConfig, desk: &DeskId, ticket: &Ticket) -> bool {
    Candidate::from(ticket).eligible(desk, &day.services_of(config, desk))
}
