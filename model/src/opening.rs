//! When the office takes visitors: whether a service's department takes walk-ins right
//! now, when it opens next (in words a kiosk can show), and from when a booked citizen
//! may check in.
//!
//! All of it is read off the configuration ([`crate::config::WeeklyHours`],
//! `office.holidays`, [`crate::config::QueueSettings`]) in the office's time zone, with
//! `now` passed in. Opening hours are local wall-clock times: on the days clocks change
//! an interval is open exactly while the office's clocks show a time inside it, so an
//! opening time that the change skips opens at the first instant after the gap.

use std::fmt::Write as _;

use chrono::{
    DateTime, Datelike, Days, LocalResult, NaiveDate, NaiveDateTime, NaiveTime, Offset, TimeZone,
    Utc, Weekday,
};
use chrono_tz::Tz;

use crate::calendar::{self, from_utc, to_utc};
use crate::config::{Department, OfficeConfig, OpeningInterval};
use crate::day::Appointment;
use crate::ids::ServiceId;
use crate::time::Timestamp;

/// How many days after today [`OfficeConfig::walk_ins`] looks for the next opening.
pub const REOPENING_HORIZON_DAYS: u64 = 30;

/// Whether a service takes walk-in tickets now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WalkIns {
    Open,
    /// Closed now; `reopens` is the next opening within [`REOPENING_HORIZON_DAYS`], or
    /// `None` if there is none (no hours at all, a long closure, an unknown service).
    Closed {
        reopens: Option<Reopening>,
    },
}

impl WalkIns {
    pub fn is_open(&self) -> bool {
        matches!(self, WalkIns::Open)
    }
}

/// The next time a department opens, in the office's local time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reopening {
    /// The local date it opens on.
    pub date: NaiveDate,
    pub weekday: Weekday,
    /// The local time the office's clocks show when it opens.
    pub time: NaiveTime,
    /// The instant it opens.
    pub at: Timestamp,
}

impl Reopening {
    /// "öffnet heute um 14:00", "öffnet morgen, 08:00", "öffnet Donnerstag, 08:00",
    /// and a week or more ahead "öffnet Donnerstag, 03.12., 08:00". `today` is the
    /// office's local date (see [`OfficeConfig::local_date`]).
    pub fn describe_de(&self, today: NaiveDate) -> String {
        let time = self.time.format("%H:%M");
        let weekday = weekday_de(self.weekday);
        match self.days_after(today) {
            Some(0) => format!("öffnet heute um {time}"),
            Some(1) => format!("öffnet morgen, {time}"),
            Some(2..=6) => format!("öffnet {weekday}, {time}"),
            _ => format!("öffnet {weekday}, {}, {time}", self.date.format("%d.%m.")),
        }
    }

    /// "opens today at 14:00", "opens tomorrow at 08:00", "opens Thursday at 08:00",
    /// and a week or more ahead "opens Thursday 3 Dec at 08:00".
    pub fn describe_en(&self, today: NaiveDate) -> String {
        let time = self.time.format("%H:%M");
        let weekday = weekday_en(self.weekday);
        let mut text = String::from("opens ");
        // Writing to a String cannot fail.
        let _ = match self.days_after(today) {
            Some(0) => write!(text, "today at {time}"),
            Some(1) => write!(text, "tomorrow at {time}"),
            Some(2..=6) => write!(text, "{weekday} at {time}"),
            _ => write!(text, "{weekday} {} at {time}", self.date.format("%-d %b")),
        };
        text
    }

    /// Whole days from `today` to the opening date; `None` if it lies before `today`.
    fn days_after(&self, today: NaiveDate) -> Option<i64> {
        let days = (self.date - today).num_days();
        (days >= 0).then_some(days)
    }
}

impl OfficeConfig {
    /// Whether the department of `service` takes walk-in tickets at `now`: `now`'s
    /// local time lies in one of the department's opening intervals for that local
    /// weekday, and the local date is no holiday. If not, the next opening within
    /// [`REOPENING_HORIZON_DAYS`] days after today, holidays skipped.
    ///
    /// An unknown service takes no walk-ins and has no reopening
    /// (`Closed { reopens: None }`); the kiosk offers only configured services, and an
    /// issue for an unknown one is refused anyway.
    pub fn walk_ins(&self, service: &ServiceId, now: Timestamp) -> WalkIns {
        let Some(department) = self
            .service(service)
            .and_then(|s| self.department(&s.department))
        else {
            return WalkIns::Closed { reopens: None };
        };
        let zone = self.timezone();
        if self.open_at(department, zone, now) {
            return WalkIns::Open;
        }
        WalkIns::Closed {
            reopens: self.next_opening(department, zone, now),
        }
    }

    /// When the opening interval of `service`'s department that holds `now` ends;
    /// `None` while the department is closed (or the service unknown), and when it
    /// stays open through midnight ("…-24:00" followed by "00:00-…"): an office open
    /// around the clock has no closing time to keep.
    pub fn closes_at(&self, service: &ServiceId, now: Timestamp) -> Option<Timestamp> {
        let department = self
            .service(service)
            .and_then(|s| self.department(&s.department))?;
        let zone = self.timezone();
        if !self.open_at(department, zone, now) {
            return None;
        }
        let local = local_datetime(zone, now);
        let interval = department
            .hours
            .on(local.date().weekday())
            .iter()
            .find(|i| i.contains(local.time()))?;
        if interval.closes == OpeningInterval::END_OF_DAY {
            let tomorrow = local.date().checked_add_days(Days::new(1))?;
            let midnight = instants_at(zone, tomorrow, NaiveTime::MIN)
                .into_iter()
                .next()?;
            return (!self.open_at(department, zone, midnight)).then_some(midnight);
        }
        instants_at(zone, local.date(), interval.closes)
            .into_iter()
            .find(|at| *at > now)
    }

    /// The instant from which an appointment starting at `appointment_start` may be
    /// checked in: `queue.check_in_early_minutes` before it.
    pub fn check_in_opens(&self, appointment_start: Timestamp) -> Timestamp {
        appointment_start - self.queue.check_in_early()
    }

    /// Whether a booked citizen may check in at `now`; `Err` with the instant check-in
    /// opens if they are too early. Being late is for the desk to judge, not the kiosk.
    pub fn check_in_allowed(
        &self,
        appointment: &Appointment,
        now: Timestamp,
    ) -> Result<(), Timestamp> {
        let opens = self.check_in_opens(appointment.due);
        if now < opens { Err(opens) } else { Ok(()) }
    }

    fn open_at(&self, department: &Department, zone: Tz, now: Timestamp) -> bool {
        let local = local_datetime(zone, now);
        self.is_open(&department.id, local.date(), local.time())
    }

    /// The first instant after `now` at which the department is open, searching today
    /// and the next [`REOPENING_HORIZON_DAYS`] days.
    ///
    /// Openness only changes where the office's clocks reach an interval's opening or
    /// closing time, or where the clocks themselves jump; so the candidates of a day
    /// are the instants its intervals open (twice, if the clocks go back over it) and
    /// the instant its clocks change, if they do.
    fn next_opening(&self, department: &Department, zone: Tz, now: Timestamp) -> Option<Reopening> {
        let today = calendar::local_date(zone, now);
        (0..=REOPENING_HORIZON_DAYS)
            .filter_map(|d| today.checked_add_days(Days::new(d)))
            .filter(|date| !self.office.holidays.contains(date))
            .find_map(|date| {
                let intervals = department.hours.on(date.weekday());
                if intervals.is_empty() {
                    return None;
                }
                let mut candidates: Vec<Timestamp> = intervals
                    .iter()
                    .flat_map(|i| instants_at(zone, date, i.opens))
                    .chain(clock_change(zone, date))
                    .filter(|at| *at > now)
                    .collect();
                candidates.sort();
                candidates
                    .into_iter()
                    .find(|at| self.open_at(department, zone, *at))
            })
            .map(|at| {
                let local = local_datetime(zone, at);
                Reopening {
                    date: local.date(),
                    weekday: local.date().weekday(),
                    time: local.time(),
                    at,
                }
            })
    }
}

/// The office's wall-clock date and time at `t`.
fn local_datetime(zone: Tz, t: Timestamp) -> NaiveDateTime {
    to_utc(t).with_timezone(&zone).naive_local()
}

/// The instants on `date` at which the office's clocks reach `time`: once on most
/// days, twice if the clocks go back over it, and at the end of the gap if they jump
/// over it; none if the gap reaches past midnight.
fn instants_at(zone: Tz, date: NaiveDate, time: NaiveTime) -> Vec<Timestamp> {
    let mut local = date.and_time(time);
    // Clocks jump at whole minutes, by at most a few hours.
    for _ in 0..6 * 60 {
        if local.date() != date {
            break;
        }
        match zone.from_local_datetime(&local) {
            LocalResult::Single(at) => return vec![instant(at)],
            LocalResult::Ambiguous(first, second) => return vec![instant(first), instant(second)],
            LocalResult::None => local += chrono::Duration::minutes(1),
        }
    }
    Vec::new()
}

fn instant(t: DateTime<Tz>) -> Timestamp {
    from_utc(t.with_timezone(&Utc))
}

/// The instant the office's clocks change on `date`, if they do (at most once a day).
fn clock_change(zone: Tz, date: NaiveDate) -> Option<Timestamp> {
    let start = calendar::day_start(zone, date);
    let end = calendar::next_day_start(zone, start);
    let offset_at = |t: Timestamp| to_utc(t).with_timezone(&zone).offset().fix();
    let before = offset_at(start);
    if offset_at(end - std::time::Duration::from_millis(1)) == before {
        return None;
    }
    // The first instant with the new offset: bisect between the day's ends.
    let (mut low, mut high) = (start.as_millis(), end.as_millis().saturating_sub(1));
    while high.saturating_sub(low) > 1 {
        let mid = low + (high - low) / 2;
        if offset_at(Timestamp::from_millis(mid)) == before {
            low = mid;
        } else {
            high = mid;
        }
    }
    Some(Timestamp::from_millis(high))
}

fn weekday_de(day: Weekday) -> &'static str {
    match day {
        Weekday::Mon => "Montag",
        Weekday::Tue => "Dienstag",
        Weekday::Wed => "Mittwoch",
        Weekday::Thu => "Donnerstag",
        Weekday::Fri => "Freitag",
        Weekday::Sat => "Samstag",
        Weekday::Sun => "Sonntag",
    }
}

fn weekday_en(day: Weekday) -> &'static str {
    match day {
        Weekday::Mon => "Monday",
        Weekday::Tue => "Tuesday",
        Weekday::Wed => "Wednesday",
        Weekday::Thu => "Thursday",
        Weekday::Fri => "Friday",
        Weekday::Sat => "Saturday",
        Weekday::Sun => "Sunday",
    }
}
