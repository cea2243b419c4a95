//! What is kept of a day once its personal data is gone: counts and times per service
//! and per desk, no ticket ids, no booking codes, no names.
//!
//! Times are kept as sums and as minute histograms, so the mean and the 90th
//! percentile can be given for a day, a department or any span of days (histograms
//! add up; percentiles of days do not).

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::NaiveDate;
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use crate::calendar::local_hour;
use crate::day::Day;
use crate::ids::{DeskId, ServiceId};
use crate::ticket::{Origin, Status, Ticket};

/// Aggregates of one day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DayStatistics {
    pub date: NaiveDate,
    pub services: BTreeMap<ServiceId, ServiceStatistics>,
    /// Per desk (the desk that called the visitor last); absent in days kept before.
    #[serde(default)]
    pub desks: BTreeMap<DeskId, DeskStatistics>,
}

/// How many times fell into each whole minute (the last bucket holds everything
/// longer): enough for a percentile, nothing about any one visitor.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Minutes(BTreeMap<u32, u32>);

/// Times longer than this many minutes share the last bucket.
pub const LONGEST_MINUTES: u32 = 24 * 60;

impl Minutes {
    pub fn add(&mut self, time: Duration) {
        let minute = u32::try_from(time.as_secs() / 60).unwrap_or(u32::MAX);
        *self.0.entry(minute.min(LONGEST_MINUTES)).or_insert(0) += 1;
    }

    pub fn merge(&mut self, other: &Minutes) {
        for (minute, n) in &other.0 {
            *self.0.entry(*minute).or_insert(0) += n;
        }
    }

    pub fn count(&self) -> u32 {
        self.0.values().sum()
    }

    /// The time below which `share` (0–1) of the times lie, to the whole minute
    /// (upper end of the bucket: "within 12 minutes"); `None` when there are none.
    pub fn percentile(&self, share: f64) -> Option<Duration> {
        let total = self.count();
        if total == 0 {
            return None;
        }
        // The smallest rank that covers `share` of the times.
        let rank = ((f64::from(total) * share).ceil() as u32).clamp(1, total);
        let mut seen = 0;
        for (minute, n) in &self.0 {
            seen += n;
            if seen >= rank {
                return Some(Duration::from_secs(u64::from(minute + 1) * 60));
            }
        }
        None
    }
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
    /// Waits to the first call, by minute.
    #[serde(default)]
    pub waits: Minutes,
    /// Handling times, by minute.
    #[serde(default)]
    pub handling: Minutes,
    /// Walk-ins called whose ticket told them a wait, and how far off it was in
    /// all (absolute seconds).
    #[serde(default)]
    pub estimated: u32,
    #[serde(default)]
    pub total_estimate_error_secs: u64,
    /// By local hour of the day: walk-ins who came, and handling times by the hour
    /// the desk began. What the estimate learns of a weekday's hours, and what a
    /// simulation of the day replays. Absent in days kept before.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub hours: BTreeMap<u8, HourStatistics>,
}

/// One hour of one service on one day.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HourStatistics {
    /// Walk-ins who drew a ticket in this hour.
    #[serde(default)]
    pub walk_ins: u32,
    /// Visitors served whose handling began in this hour, and its sum.
    #[serde(default)]
    pub served: u32,
    #[serde(default)]
    pub total_handling_secs: u64,
}

impl HourStatistics {
    fn merge(&mut self, other: &HourStatistics) {
        self.walk_ins += other.walk_ins;
        self.served += other.served;
        self.total_handling_secs += other.total_handling_secs;
    }
}

/// Aggregates of one desk on one day.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeskStatistics {
    pub served: u32,
    pub no_shows: u32,
    pub total_handling_secs: u64,
    pub handling: Minutes,
}

fn mean(total_secs: u64, n: u32) -> Option<Duration> {
    (n > 0).then(|| Duration::from_secs(total_secs / u64::from(n)))
}

impl ServiceStatistics {
    pub fn mean_wait(&self) -> Option<Duration> {
        mean(self.total_wait_secs, self.called)
    }

    pub fn mean_handling(&self) -> Option<Duration> {
        mean(self.total_handling_secs, self.served)
    }

    /// How far the told wait was off, on average.
    pub fn mean_estimate_error(&self) -> Option<Duration> {
        mean(self.total_estimate_error_secs, self.estimated)
    }

    /// Everyone who came: walk-ins and appointments.
    pub fn visitors(&self) -> u32 {
        self.walk_ins + self.appointments
    }

    /// Adds `other` (another day, or another service of a department).
    pub fn merge(&mut self, other: &ServiceStatistics) {
        self.walk_ins += other.walk_ins;
        self.appointments += other.appointments;
        self.served += other.served;
        self.no_shows += other.no_shows;
        self.cancelled += other.cancelled;
        self.total_wait_secs += other.total_wait_secs;
        self.called += other.called;
        self.max_wait_secs = self.max_wait_secs.max(other.max_wait_secs);
        self.total_handling_secs += other.total_handling_secs;
        self.waits.merge(&other.waits);
        self.handling.merge(&other.handling);
        self.estimated += other.estimated;
        self.total_estimate_error_secs += other.total_estimate_error_secs;
        for (hour, figures) in &other.hours {
            self.hours.entry(*hour).or_default().merge(figures);
        }
    }

    fn count(&mut self, t: &Ticket, zone: Tz) {
        match t.origin {
            Origin::Appointment { .. } => self.appointments += 1,
            Origin::WalkIn | Origin::Remote => {
                self.walk_ins += 1;
                let hour = local_hour(zone, t.arrival);
                self.hours.entry(hour).or_default().walk_ins += 1;
            }
        }
        match &t.status {
            Status::Done { .. } => {
                self.served += 1;
                let handling = t.handling.unwrap_or_default();
                self.total_handling_secs += handling.as_secs();
                self.handling.add(handling);
                // Done at `since`: the desk began `handling` before.
                let hour = self
                    .hours
                    .entry(local_hour(zone, t.since - handling))
                    .or_default();
                hour.served += 1;
                hour.total_handling_secs += handling.as_secs();
            }
            Status::NoShow => self.no_shows += 1,
            Status::Cancelled => self.cancelled += 1,
            _ => {}
        }
        if let Some(called) = t.first_called_at {
            let wait = called.since(t.arrival);
            self.called += 1;
            self.total_wait_secs += wait.as_secs();
            self.max_wait_secs = self.max_wait_secs.max(wait.as_secs());
            self.waits.add(wait);
            if let Some(promised) = t.promised_wait {
                self.estimated += 1;
                self.total_estimate_error_secs += wait.abs_diff(promised).as_secs();
            }
        }
    }
}

impl DeskStatistics {
    pub fn mean_handling(&self) -> Option<Duration> {
        mean(self.total_handling_secs, self.served)
    }

    pub fn merge(&mut self, other: &DeskStatistics) {
        self.served += other.served;
        self.no_shows += other.no_shows;
        self.total_handling_secs += other.total_handling_secs;
        self.handling.merge(&other.handling);
    }
}

impl DayStatistics {
    /// Counts a day. Tickets are counted under the service they ended in, and under
    /// the desk that called them last; hours are the office's (`zone`).
    pub fn of(date: NaiveDate, day: &Day, zone: Tz) -> Self {
        let mut services: BTreeMap<ServiceId, ServiceStatistics> = BTreeMap::new();
        let mut desks: BTreeMap<DeskId, DeskStatistics> = BTreeMap::new();
        for t in day.tickets() {
            services
                .entry(t.service.clone())
                .or_default()
                .count(t, zone);
            if let Some(desk) = &t.last_desk {
                let d = desks.entry(desk.clone()).or_default();
                match &t.status {
                    Status::Done { .. } => {
                        let handling = t.handling.unwrap_or_default();
                        d.served += 1;
                        d.total_handling_secs += handling.as_secs();
                        d.handling.add(handling);
                    }
                    Status::NoShow => d.no_shows += 1,
                    _ => {}
                }
            }
        }
        Self {
            date,
            services,
            desks,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_90th_percentile_is_the_minute_nine_in_ten_fall_within() {
        let mut m = Minutes::default();
        assert_eq!(m.percentile(0.9), None);
        for minute in 0..10u64 {
            m.add(Duration::from_secs(minute * 60 + 30));
        }
        // Ten times, one in each of minutes 0–9: nine lie within 9 minutes.
        assert_eq!(m.percentile(0.9), Some(Duration::from_secs(9 * 60)));
        assert_eq!(m.percentile(1.0), Some(Duration::from_secs(10 * 60)));
        assert_eq!(m.percentile(0.0), Some(Duration::from_secs(60)));
        let mut other = Minutes::default();
        other.add(Duration::from_secs(3 * 24 * 3600));
        m.merge(&other);
        assert_eq!(m.count(), 11);
        assert_eq!(
            m.percentile(1.0),
            Some(Duration::from_secs(u64::from(LONGEST_MINUTES + 1) * 60)),
            "a day's wait shares the last bucket"
        );
    }
}
