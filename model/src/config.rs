//! The office configuration (`aufruf.toml`): departments, services, desks, opening
//! hours, holidays, ticket-number blocks and the queue policy's settings.
//!
//! Parsing is pure — the caller reads the file and passes its name along — and every
//! problem is reported as a [`ConfigError`] naming the file, the field and what is wrong.
//! Nothing here panics on bad input.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::time::Duration;

use aufruf_names::OfficeId;
use chrono::{NaiveDate, NaiveTime, Weekday};
use serde::{Deserialize, Serialize};

use crate::ids::{DepartmentId, DeskId, NodeId, ServiceId};

/// The whole office as configured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OfficeConfig {
    pub office: Office,
    #[serde(default)]
    pub queue: QueueSettings,
    #[serde(default)]
    pub clocks: ClockSettings,
    #[serde(default)]
    pub bookings: BookingSettings,
    #[serde(default)]
    pub display: DisplaySettings,
    pub departments: Vec<Department>,
    pub services: Vec<Service>,
    pub desks: Vec<Desk>,
    #[serde(default)]
    pub number_blocks: Vec<NumberBlock>,
}

/// A device's own tables in its `aufruf.toml`, beside the office's: read by the node,
/// not by the model, which only keeps them out of the office's configuration.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DeviceTables {
    /// `[node]`: who this device is (id, role, addresses, store).
    pub node: Option<toml::Table>,
    /// `[printer]`: this device's ticket printer.
    pub printer: Option<toml::Table>,
    /// `[enroll]`: how an appliance joins the office at its first start (the
    /// enrollment service's address and a one-time token).
    pub enroll: Option<toml::Table>,
    /// `[update]`: where an appliance fetches its signed updates.
    pub update: Option<toml::Table>,
}

/// A device's file: its own tables and, optionally, the office's configuration (a
/// device that has none takes the one the office publishes).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DeviceFile {
    #[serde(default)]
    office: Option<Office>,
    #[serde(default)]
    queue: Option<QueueSettings>,
    #[serde(default)]
    clocks: Option<ClockSettings>,
    #[serde(default)]
    bookings: Option<BookingSettings>,
    #[serde(default)]
    display: Option<DisplaySettings>,
    #[serde(default)]
    departments: Option<Vec<Department>>,
    #[serde(default)]
    services: Option<Vec<Service>>,
    #[serde(default)]
    desks: Option<Vec<Desk>>,
    #[serde(default)]
    number_blocks: Option<Vec<NumberBlock>>,
    #[serde(default)]
    node: Option<toml::Table>,
    #[serde(default)]
    printer: Option<toml::Table>,
    #[serde(default)]
    enroll: Option<toml::Table>,
    #[serde(default)]
    update: Option<toml::Table>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Office {
    /// Checked when read, like every office id (`aufruf_names::OfficeId`).
    pub id: OfficeId,
    pub name: String,
    #[serde(default = "default_timezone")]
    pub timezone: String,
    /// Days on which the whole office is closed.
    #[serde(default)]
    pub holidays: Vec<NaiveDate>,
}

fn default_timezone() -> String {
    "Europe/Berlin".to_owned()
}

/// The rules of the queue policy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct QueueSettings {
    /// A checked-in appointment is called first from this many minutes before its slot.
    pub appointment_window_minutes: u32,
    /// A walk-in who has waited this long is overdue: first among the walk-ins, and
    /// owed a call before appointments once a desk has called
    /// `walk_in_after_appointments` appointments in a row.
    pub walk_in_max_wait_minutes: u32,
    /// After this many appointments in a row at a desk, an overdue walk-in goes
    /// first; so booked citizens go first, and walk-ins are still called on a day
    /// full of appointments. 0: overdue walk-ins always go before appointments.
    pub walk_in_after_appointments: u32,
    /// The office's promise to booked citizens who check in on time: called within
    /// this many minutes of the appointment's start. The simulation and the
    /// statistics count the appointments called later.
    pub appointment_max_wait_minutes: u32,
    /// After this many calls without the visitor showing up, the ticket is a no-show.
    pub calls_before_no_show: u32,
    /// A booked citizen may check in from this many minutes before the appointment's
    /// start (at most a day).
    pub check_in_early_minutes: u32,
}

/// The longest check-in window `queue.check_in_early_minutes` may set: a day.
pub const MAX_CHECK_IN_EARLY_MINUTES: u32 = 24 * 60;

impl Default for QueueSettings {
    fn default() -> Self {
        Self {
            appointment_window_minutes: 5,
            walk_in_max_wait_minutes: 45,
            walk_in_after_appointments: 3,
            appointment_max_wait_minutes: 10,
            calls_before_no_show: 3,
            check_in_early_minutes: 60,
        }
    }
}

impl QueueSettings {
    pub fn appointment_window(&self) -> Duration {
        Duration::from_secs(u64::from(self.appointment_window_minutes) * 60)
    }

    pub fn appointment_max_wait(&self) -> Duration {
        Duration::from_secs(u64::from(self.appointment_max_wait_minutes) * 60)
    }

    pub fn walk_in_max_wait(&self) -> Duration {
        Duration::from_secs(u64::from(self.walk_in_max_wait_minutes) * 60)
    }

    pub fn check_in_early(&self) -> Duration {
        Duration::from_secs(u64::from(self.check_in_early_minutes) * 60)
    }
}

/// How far apart the office's clocks may be.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClockSettings {
    /// A peer's stamp more than this far ahead of a device's wall clock is not
    /// followed by the device's clock, and a device whose wall clock is this far off
    /// most of its peers' stops issuing tickets and calling visitors until it is set
    /// right.
    pub bound_minutes: u32,
}

/// The widest clock bound `clocks.bound_minutes` may set: a day.
pub const MAX_CLOCK_BOUND_MINUTES: u32 = 24 * 60;

impl Default for ClockSettings {
    fn default() -> Self {
        Self { bound_minutes: 5 }
    }
}

impl ClockSettings {
    pub fn bound(&self) -> Duration {
        Duration::from_secs(u64::from(self.bound_minutes) * 60)
    }
}

/// What citizens may book.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BookingSettings {
    /// Appointments are booked at most this many days ahead; day documents further
    /// ahead are not taken from peers.
    pub horizon_days: u32,
}

/// The longest booking horizon `bookings.horizon_days` may set: a year and a day.
pub const MAX_BOOKING_HORIZON_DAYS: u32 = 366;

impl Default for BookingSettings {
    fn default() -> Self {
        Self { horizon_days: 90 }
    }
}

/// What the foyer display shows besides the calls.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DisplaySettings {
    /// Notices that run across the bottom of the display, one after the other.
    pub notices: Vec<String>,
}

/// At most this many notices, each at most [`MAX_NOTICE_CHARS`] characters: the
/// ticker is read in passing.
pub const MAX_NOTICES: usize = 10;
pub const MAX_NOTICE_CHARS: usize = 200;

/// A text in the office's two languages.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Name {
    pub de: String,
    pub en: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Department {
    pub id: DepartmentId,
    pub name: Name,
    #[serde(default)]
    pub hours: WeeklyHours,
    /// Stop issuing walk-in tickets for a service once a new ticket's estimate
    /// reaches past closing time (the office says no before it breaks its word);
    /// on unless set to `false`.
    #[serde(default = "yes")]
    pub refuse_walk_ins_past_closing: bool,
    /// How many appointments the portal offers, set by the office's admins; what is
    /// not set here the gateway's own settings or the defaults decide.
    #[serde(default, skip_serializing_if = "AppointmentCapacity::is_unset")]
    pub booking: AppointmentCapacity,
}

/// A department's appointment capacity: starts every `slot_minutes`, each taking
/// `appointments_per_slot` bookings (0: none booked online).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppointmentCapacity {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub appointments_per_slot: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slot_minutes: Option<u32>,
}

impl AppointmentCapacity {
    pub fn is_unset(&self) -> bool {
        *self == Self::default()
    }
}

/// The most appointments `booking.appointments_per_slot` may offer per start time.
pub const MAX_APPOINTMENTS_PER_SLOT: u32 = 100;
/// The span `booking.slot_minutes` lies in.
pub const SLOT_MINUTES: std::ops::RangeInclusive<u32> = 5..=240;

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Service {
    pub id: ServiceId,
    pub department: DepartmentId,
    pub name: Name,
    /// The letter in front of this service's ticket numbers ("A 017").
    pub prefix: char,
    /// How long serving one visitor usually takes; the estimate's starting point until
    /// real handling times are known.
    pub expected_minutes: u32,
}

impl Service {
    pub fn expected_duration(&self) -> Duration {
        Duration::from_secs(u64::from(self.expected_minutes) * 60)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Desk {
    pub id: DeskId,
    pub name: String,
    pub department: DepartmentId,
    pub services: Vec<ServiceId>,
}

/// Ticket numbers `first..=last` belong to the issuing node `node`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NumberBlock {
    pub node: NodeId,
    pub first: u32,
    pub last: u32,
}

/// Opening hours per weekday; a day without entries is closed.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WeeklyHours {
    pub mon: Vec<OpeningInterval>,
    pub tue: Vec<OpeningInterval>,
    pub wed: Vec<OpeningInterval>,
    pub thu: Vec<OpeningInterval>,
    pub fri: Vec<OpeningInterval>,
    pub sat: Vec<OpeningInterval>,
    pub sun: Vec<OpeningInterval>,
}

impl WeeklyHours {
    pub fn on(&self, day: Weekday) -> &[OpeningInterval] {
        match day {
            Weekday::Mon => &self.mon,
            Weekday::Tue => &self.tue,
            Weekday::Wed => &self.wed,
            Weekday::Thu => &self.thu,
            Weekday::Fri => &self.fri,
            Weekday::Sat => &self.sat,
            Weekday::Sun => &self.sun,
        }
    }

    fn days(&self) -> [(&'static str, &[OpeningInterval]); 7] {
        [
            ("mon", &self.mon),
            ("tue", &self.tue),
            ("wed", &self.wed),
            ("thu", &self.thu),
            ("fri", &self.fri),
            ("sat", &self.sat),
            ("sun", &self.sun),
        ]
    }
}

/// `"08:00-12:30"`: open from the first time up to (not including) the second.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct OpeningInterval {
    pub opens: NaiveTime,
    pub closes: NaiveTime,
}

impl OpeningInterval {
    /// The end of a day, written "24:00" as a closing time.
    pub const END_OF_DAY: NaiveTime = match NaiveTime::from_hms_nano_opt(23, 59, 59, 999_999_999) {
        Some(t) => t,
        None => NaiveTime::MIN,
    };

    /// Open the whole day: `"00:00-24:00"`.
    pub const ALL_DAY: OpeningInterval = OpeningInterval {
        opens: NaiveTime::MIN,
        closes: Self::END_OF_DAY,
    };

    pub fn contains(&self, time: NaiveTime) -> bool {
        self.opens <= time && time < self.closes
    }
}

impl fmt::Debug for OpeningInterval {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&String::from(*self))
    }
}

impl TryFrom<String> for OpeningInterval {
    type Error = String;

    fn try_from(text: String) -> Result<Self, String> {
        let (opens, closes) = text
            .split_once('-')
            .ok_or_else(|| format!("`{text}` is not an interval like \"08:00-12:30\""))?;
        let parse = |t: &str| {
            NaiveTime::parse_from_str(t.trim(), "%H:%M")
                .map_err(|_| format!("`{}` in `{text}` is not a time like \"08:00\"", t.trim()))
        };
        let interval = OpeningInterval {
            opens: parse(opens)?,
            closes: if closes.trim() == "24:00" {
                OpeningInterval::END_OF_DAY
            } else {
                parse(closes)?
            },
        };
        if interval.closes <= interval.opens {
            return Err(format!("`{text}` ends before it starts"));
        }
        Ok(interval)
    }
}

impl From<OpeningInterval> for String {
    fn from(i: OpeningInterval) -> String {
        let closes = if i.closes == OpeningInterval::END_OF_DAY {
            "24:00".to_owned()
        } else {
            i.closes.format("%H:%M").to_string()
        };
        format!("{}-{closes}", i.opens.format("%H:%M"))
    }
}

/// What is wrong with a configuration, and where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}{}: {field}: {problem}", line.map(|l| format!(":{l}")).unwrap_or_default())]
pub struct ConfigError {
    /// The file as the caller named it.
    pub file: String,
    /// 1-based line, when the problem is tied to one place in the text.
    pub line: Option<usize>,
    /// The field's path, e.g. `services[2].prefix`.
    pub field: String,
    pub problem: String,
}

impl OfficeConfig {
    /// Parses and validates `text`, the contents of the file called `file`: the
    /// office's configuration alone (a device's `[node]` or `[printer]` table is
    /// refused here: it belongs in that device's own file).
    pub fn from_toml(file: &str, text: &str) -> Result<Self, ConfigError> {
        let config: OfficeConfig = parse(file, text)?;
        config.validated(file)
    }

    /// A device's `aufruf.toml`: the device's own `[node]` and `[printer]` tables,
    /// unread, and the office's configuration, validated, if the file has one.
    pub fn from_device_file(
        file: &str,
        text: &str,
    ) -> Result<(Option<Self>, DeviceTables), ConfigError> {
        let raw: DeviceFile = parse(file, text)?;
        let device = DeviceTables {
            node: raw.node,
            printer: raw.printer,
            enroll: raw.enroll,
            update: raw.update,
        };
        let has_office = raw.office.is_some()
            || raw.queue.is_some()
            || raw.clocks.is_some()
            || raw.bookings.is_some()
            || raw.display.is_some()
            || raw.departments.is_some()
            || raw.services.is_some()
            || raw.desks.is_some()
            || raw.number_blocks.is_some();
        if !has_office {
            return Ok((None, device));
        }
        let missing = |field: &str| ConfigError {
            file: file.to_owned(),
            line: None,
            field: field.to_owned(),
            problem: "missing: a file with the office's configuration needs [office], \
                      [[departments]], [[services]] and [[desks]]"
                .to_owned(),
        };
        let config = OfficeConfig {
            office: raw.office.ok_or_else(|| missing("office"))?,
            queue: raw.queue.unwrap_or_default(),
            clocks: raw.clocks.unwrap_or_default(),
            bookings: raw.bookings.unwrap_or_default(),
            display: raw.display.unwrap_or_default(),
            departments: raw.departments.ok_or_else(|| missing("departments"))?,
            services: raw.services.ok_or_else(|| missing("services"))?,
            desks: raw.desks.ok_or_else(|| missing("desks"))?,
            number_blocks: raw.number_blocks.unwrap_or_default(),
        };
        Ok((Some(config.validated(file)?), device))
    }

    /// The configuration as TOML that [`OfficeConfig::from_toml`] reads back to the
    /// same configuration (what the gateway's admin pages publish; comments of a
    /// hand-written file are not kept).
    pub fn to_toml(&self) -> Result<String, String> {
        toml::to_string(self).map_err(|e| e.to_string())
    }

    /// Checks what the types alone cannot; `file` names the source in the error.
    pub fn validated(self, file: &str) -> Result<Self, ConfigError> {
        self.validate().map_err(|(field, problem)| ConfigError {
            file: file.to_owned(),
            line: None,
            field,
            problem,
        })?;
        Ok(self)
    }

    pub fn service(&self, id: &ServiceId) -> Option<&Service> {
        self.services.iter().find(|s| &s.id == id)
    }

    pub fn desk(&self, id: &DeskId) -> Option<&Desk> {
        self.desks.iter().find(|d| &d.id == id)
    }

    pub fn department(&self, id: &DepartmentId) -> Option<&Department> {
        self.departments.iter().find(|d| &d.id == id)
    }

    /// The same office open around the clock, every day, without holidays: for the
    /// demo office and tests that run at any hour.
    pub fn open_around_the_clock(mut self) -> Self {
        let all_day = || vec![OpeningInterval::ALL_DAY];
        for department in &mut self.departments {
            department.hours = WeeklyHours {
                mon: all_day(),
                tue: all_day(),
                wed: all_day(),
                thu: all_day(),
                fri: all_day(),
                sat: all_day(),
                sun: all_day(),
            };
        }
        self.office.holidays.clear();
        self
    }

    /// The number blocks of one issuing node, in ascending order.
    pub fn blocks_of<'a>(&'a self, node: &'a NodeId) -> impl Iterator<Item = &'a NumberBlock> {
        let mut blocks: Vec<_> = self
            .number_blocks
            .iter()
            .filter(|b| &b.node == node)
            .collect();
        blocks.sort_by_key(|b| b.first);
        blocks.into_iter()
    }

    /// The office's time zone (validated when the configuration was loaded).
    pub fn timezone(&self) -> chrono_tz::Tz {
        self.office
            .timezone
            .parse()
            .unwrap_or(chrono_tz::Europe::Berlin)
    }

    /// The office's calendar date at `now`.
    pub fn local_date(&self, now: crate::time::Timestamp) -> NaiveDate {
        crate::calendar::local_date(self.timezone(), now)
    }

    /// Whether the department is open at this local date and time.
    pub fn is_open(&self, department: &DepartmentId, date: NaiveDate, time: NaiveTime) -> bool {
        use chrono::Datelike;
        if self.office.holidays.contains(&date) {
            return false;
        }
        self.department(department)
            .is_some_and(|d| d.hours.on(date.weekday()).iter().any(|i| i.contains(time)))
    }

    /// Checks what the types alone cannot: references, uniqueness, ranges.
    /// Returns the offending field's path and the problem.
    fn validate(&self) -> Result<(), (String, String)> {
        let fail = |field: String, problem: String| Err((field, problem));
        if self.office.name.trim().is_empty() {
            return fail("office.name".into(), "must not be empty".into());
        }
        if self.office.timezone.parse::<chrono_tz::Tz>().is_err() {
            return fail(
                "office.timezone".into(),
                format!(
                    "\"{}\" is not a time zone like \"Europe/Berlin\"",
                    self.office.timezone
                ),
            );
        }
        if self.display.notices.len() > MAX_NOTICES {
            return fail(
                "display.notices".into(),
                format!("at most {MAX_NOTICES} notices"),
            );
        }
        if let Some(i) = self
            .display
            .notices
            .iter()
            .position(|n| n.chars().count() > MAX_NOTICE_CHARS)
        {
            return fail(
                format!("display.notices[{i}]"),
                format!("at most {MAX_NOTICE_CHARS} characters"),
            );
        }
        let q = &self.queue;
        if q.calls_before_no_show == 0 {
            return fail(
                "queue.calls_before_no_show".into(),
                "must be at least 1".into(),
            );
        }
        if q.appointment_max_wait_minutes == 0 {
            return fail(
                "queue.appointment_max_wait_minutes".into(),
                "must be at least 1".into(),
            );
        }
        if q.walk_in_max_wait_minutes == 0 {
            return fail(
                "queue.walk_in_max_wait_minutes".into(),
                "must be at least 1".into(),
            );
        }
        if q.check_in_early_minutes > MAX_CHECK_IN_EARLY_MINUTES {
            return fail(
                "queue.check_in_early_minutes".into(),
                format!(
                    "{} is more than a day ({MAX_CHECK_IN_EARLY_MINUTES} minutes)",
                    q.check_in_early_minutes
                ),
            );
        }
        if !(1..=MAX_CLOCK_BOUND_MINUTES).contains(&self.clocks.bound_minutes) {
            return fail(
                "clocks.bound_minutes".into(),
                format!(
                    "{} is not between 1 and {MAX_CLOCK_BOUND_MINUTES} (a day)",
                    self.clocks.bound_minutes
                ),
            );
        }
        if !(1..=MAX_BOOKING_HORIZON_DAYS).contains(&self.bookings.horizon_days) {
            return fail(
                "bookings.horizon_days".into(),
                format!(
                    "{} is not between 1 and {MAX_BOOKING_HORIZON_DAYS}",
                    self.bookings.horizon_days
                ),
            );
        }
        if self.departments.is_empty() {
            return fail(
                "departments".into(),
                "at least one department is needed".into(),
            );
        }

        let mut departments = BTreeSet::new();
        for (i, d) in self.departments.iter().enumerate() {
            if d.id.as_str().trim().is_empty() {
                return fail(format!("departments[{i}].id"), "must not be empty".into());
            }
            if !departments.insert(&d.id) {
                return fail(
                    format!("departments[{i}].id"),
                    format!("department \"{}\" is defined twice", d.id),
                );
            }
            if let Some(n) = d.booking.appointments_per_slot
                && n > MAX_APPOINTMENTS_PER_SLOT
            {
                return fail(
                    format!("departments[{i}].booking.appointments_per_slot"),
                    format!("{n} is more than {MAX_APPOINTMENTS_PER_SLOT}"),
                );
            }
            if let Some(m) = d.booking.slot_minutes
                && !SLOT_MINUTES.contains(&m)
            {
                return fail(
                    format!("departments[{i}].booking.slot_minutes"),
                    format!(
                        "{m} is not between {} and {}",
                        SLOT_MINUTES.start(),
                        SLOT_MINUTES.end()
                    ),
                );
            }
            for (day, intervals) in d.hours.days() {
                let mut sorted: Vec<_> = intervals.iter().enumerate().collect();
                sorted.sort_by_key(|(_, i)| **i);
                for pair in sorted.windows(2) {
                    let ((_, a), (j, b)) = (pair[0], pair[1]);
                    if b.opens < a.closes {
                        return fail(
                            format!("departments[{i}].hours.{day}[{j}]"),
                            format!("{b:?} overlaps {a:?}"),
                        );
                    }
                }
            }
        }

        let mut services = BTreeMap::new();
        let mut prefixes: BTreeMap<char, &ServiceId> = BTreeMap::new();
        for (i, s) in self.services.iter().enumerate() {
            if s.id.as_str().trim().is_empty() {
                return fail(format!("services[{i}].id"), "must not be empty".into());
            }
            if services.insert(&s.id, s).is_some() {
                return fail(
                    format!("services[{i}].id"),
                    format!("service \"{}\" is defined twice", s.id),
                );
            }
            if !departments.contains(&s.department) {
                return fail(
                    format!("services[{i}].department"),
                    format!("unknown department \"{}\"", s.department),
                );
            }
            if !s.prefix.is_ascii_uppercase() {
                return fail(
                    format!("services[{i}].prefix"),
                    format!("\"{}\" is not a capital letter A-Z", s.prefix),
                );
            }
            if let Some(other) = prefixes.insert(s.prefix, &s.id) {
                return fail(
                    format!("services[{i}].prefix"),
                    format!(
                        "\"{}\" is already the prefix of service \"{other}\"",
                        s.prefix
                    ),
                );
            }
            if !(1..=480).contains(&s.expected_minutes) {
                return fail(
                    format!("services[{i}].expected_minutes"),
                    format!("{} is not between 1 and 480", s.expected_minutes),
                );
            }
        }
        if services.is_empty() {
            return fail("services".into(), "at least one service is needed".into());
        }

        let mut desks = BTreeSet::new();
        for (i, d) in self.desks.iter().enumerate() {
            if d.id.as_str().trim().is_empty() {
                return fail(format!("desks[{i}].id"), "must not be empty".into());
            }
            if !desks.insert(&d.id) {
                return fail(
                    format!("desks[{i}].id"),
                    format!("desk \"{}\" is defined twice", d.id),
                );
            }
            if !departments.contains(&d.department) {
                return fail(
                    format!("desks[{i}].department"),
                    format!("unknown department \"{}\"", d.department),
                );
            }
            if d.services.is_empty() {
                return fail(
                    format!("desks[{i}].services"),
                    "a desk must serve at least one service".into(),
                );
            }
            for (j, id) in d.services.iter().enumerate() {
                match services.get(id) {
                    None => {
                        return fail(
                            format!("desks[{i}].services[{j}]"),
                            format!("unknown service \"{id}\""),
                        );
                    }
                    Some(s) if s.department != d.department => {
                        return fail(
                            format!("desks[{i}].services[{j}]"),
                            format!(
                                "service \"{id}\" belongs to department \"{}\", the desk to \"{}\"",
                                s.department, d.department
                            ),
                        );
                    }
                    Some(_) => {}
                }
            }
        }

        for (i, b) in self.number_blocks.iter().enumerate() {
            if b.first == 0 || b.first > b.last {
                return fail(
                    format!("number_blocks[{i}]"),
                    format!(
                        "first ({}) must be at least 1 and not above last ({})",
                        b.first, b.last
                    ),
                );
            }
            if b.last > 9999 {
                return fail(
                    format!("number_blocks[{i}].last"),
                    format!("{} has more than four digits", b.last),
                );
            }
            for (j, other) in self.number_blocks.iter().enumerate().take(i) {
                if b.first <= other.last && other.first <= b.last {
                    return fail(
                        format!("number_blocks[{i}]"),
                        format!(
                            "{}..={} of node \"{}\" overlaps number_blocks[{j}] ({}..={} of node \"{}\")",
                            b.first, b.last, b.node, other.first, other.last, other.node
                        ),
                    );
                }
            }
        }
        Ok(())
    }
}

fn parse<T: serde::de::DeserializeOwned>(file: &str, text: &str) -> Result<T, ConfigError> {
    let error = |line, field: String, problem: String| ConfigError {
        file: file.to_owned(),
        line,
        field,
        problem,
    };
    let deserializer = toml::Deserializer::parse(text).map_err(|e| {
        let line = e.span().map(|s| line_of(text, s.start));
        error(line, "(syntax)".into(), first_line(e.message()))
    })?;
    serde_path_to_error::deserialize(deserializer).map_err(|e| {
        let field = match e.path().to_string() {
            p if p == "." => "(top level)".to_owned(),
            p => p,
        };
        let inner = e.into_inner();
        let line = inner.span().map(|s| line_of(text, s.start));
        error(line, field, first_line(inner.message()))
    })
}

fn line_of(text: &str, offset: usize) -> usize {
    text.get(..offset)
        .map_or(0, |before| before.matches('\n').count())
        + 1
}

fn first_line(message: &str) -> String {
    message.lines().next().unwrap_or(message).trim().to_owned()
}
