//! What is kept of a day once its personal data is gone: counts and times per service,
//! no ticket ids, no booking codes, no names.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::day::Day;
use crate::ids::ServiceId;
use crate::ticket::{Origin, Status};

/// Aggregates of one day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DayStatistics {
    pub date: NaiveDate,
    pub services: BTreeMap<ServiceId, ServiceStatistics>,
}

/// Aggregates of one service on one day.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceStatistics {
    pub walk_ins: u32,
    pub appointments: u32,
    pub served: u32,
    pub no_shows: u32,
    pub cancelled: u32,
    /// Sum of waits from arrival to the first call, over called visitors.
    pub total_wait_secs: u64,
    pub called: u32,
    pub max_wait_secs: u64,
    /// Sum of handling times over served visitors.
    pub total_handling_secs: u64,
}

impl ServiceStatistics {
    pub fn mean_wait(&self) -> Option<Duration> {
        (self.called > 0)
            .then(|| Duration::from_secs(self.total_wait_secs / u64::from(self.called)))
    }

    pub fn mean_handling(&self) -> Option<Duration> {
        (self.served > 0)
            .then(|| Duration::from_secs(self.total_handling_secs / u64::from(self.served)))
    }
}

impl DayStatistics {
    /// Counts a day. Tickets are counted under the service they ended in.
    pub fn of(date: NaiveDate, day: &Day) -> Self {
        let mut services: BTreeMap<ServiceId, ServiceStatistics> = BTreeMap::new();
        for t in day.tickets() {
            let s = services.entry(t.service.clone()).or_default();
            match t.origin {
                Origin::Appointment { .. } => s.appointments += 1,
                Origin::WalkIn | Origin::Remote => s.walk_ins += 1,
            }
            match &t.status {
                Status::Done { .. } => {
                    s.served += 1;
                    s.total_handling_secs += t.handling.map_or(0, |d| d.as_secs());
                }
                Status::NoShow => s.no_shows += 1,
                Status::Cancelled => s.cancelled += 1,
                _ => {}
            }
            if let Some(called) = t.first_called_at {
                let wait = called.since(t.arrival).as_secs();
                s.called += 1;
                s.total_wait_secs += wait;
                s.max_wait_secs = s.max_wait_secs.max(wait);
            }
        }
        Self { date, services }
    }
}
