//! When appointments can be booked: days and start times from the office's
//! configuration (opening hours, holidays, services' durations) and the department's
//! booking rules (lead, horizon, slot length, appointments per start). Pure: time
//! comes in as `now`.

use std::time::Duration;

use aufruf_model::config::Department;
use aufruf_model::{OfficeConfig, ServiceId, Timestamp};
use chrono::{NaiveDate, NaiveTime, TimeZone as _, Timelike as _};

use crate::settings::DepartmentRules;

/// A department's booking rules with the defaults filled in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rules {
    pub lead: Duration,
    pub horizon_days: u32,
    pub slot_minutes: u32,
    pub per_slot: u32,
}

/// Why a requested start time cannot be booked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SlotError {
    #[error("no such department or service")]
    Unknown,
    #[error("the time lies less than the lead ahead, or in the past")]
    TooSoon,
    #[error("the day lies beyond the booking horizon")]
    TooFar,
    #[error("the office takes no appointment at that time")]
    NotAStart,
}

impl Rules {
    /// The rules of `department` under `overrides` (the gateway's settings). The
    /// capacity the office's admins set in the office's configuration goes first:
    /// what they publish takes effect, whatever a gateway's file says. The horizon
    /// never reaches beyond the office's (devices take day documents only that far
    /// ahead).
    pub fn of(
        config: &OfficeConfig,
        department: &Department,
        overrides: Option<&DepartmentRules>,
    ) -> Rules {
        let o = overrides.cloned().unwrap_or_default();
        let desks = config
            .desks
            .iter()
            .filter(|d| d.department == department.id)
            .count() as u32;
        let office_horizon = config.bookings.horizon_days;
        Rules {
            lead: Duration::from_secs(u64::from(o.lead_hours.unwrap_or(24)) * 3600),
            horizon_days: o.horizon_days.unwrap_or(office_horizon).min(office_horizon),
            slot_minutes: department
                .booking
                .slot_minutes
                .or(o.slot_minutes)
                .unwrap_or(15)
                .clamp(5, 240),
            per_slot: department
                .booking
                .appointments_per_slot
                .or(o.appointments_per_slot)
                .unwrap_or(desks.div_ceil(2)),
        }
    }
}

/// One start time of a day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Start {
    pub time: NaiveTime,
    pub due: Timestamp,
}

/// The department and length in minutes of one appointment for `services`: their
/// expected durations added up. Unknown when there is none, one is not configured,
/// or they are of different departments.
pub fn visit<'c>(
    config: &'c OfficeConfig,
    services: &[ServiceId],
) -> Result<(&'c Department, i64), SlotError> {
    let mut department = None;
    let mut minutes = 0;
    for id in services {
        let service = config.service(id).ok_or(SlotError::Unknown)?;
        if department.is_some_and(|d: &Department| d.id != service.department) {
            return Err(SlotError::Unknown);
        }
        department = Some(
            config
                .department(&service.department)
                .ok_or(SlotError::Unknown)?,
        );
        minutes += i64::from(service.expected_minutes.max(1));
    }
    Ok((department.ok_or(SlotError::Unknown)?, minutes))
}

/// Start times on `date` of one appointment for `services` that lie far enough
/// ahead, before taken ones are subtracted: every `slot_minutes` from each opening
/// interval's start, as long as the services' expected durations, added up, end by
/// the interval's close.
pub fn starts(
    config: &OfficeConfig,
    rules: &Rules,
    services: &[ServiceId],
    date: NaiveDate,
    now: Timestamp,
) -> Result<Vec<Start>, SlotError> {
    let (department, length) = visit(config, services)?;
    let today = config.local_date(now);
    if date < today {
        return Err(SlotError::TooSoon);
    }
    if (date - today).num_days() > i64::from(rules.horizon_days) {
        return Err(SlotError::TooFar);
    }
    if config.office.holidays.contains(&date) || rules.per_slot == 0 {
        return Ok(Vec::new());
    }
    let zone = config.timezone();
    let earliest = now + rules.lead;
    let step = i64::from(rules.slot_minutes);
    let mut out = Vec::new();
    for interval in department.hours.on(chrono::Datelike::weekday(&date)) {
        let opens = minutes_of(interval.opens);
        let closes = minutes_of(interval.closes);
        let mut minute = opens;
        while minute + length <= closes {
            let time = NaiveTime::from_hms_opt((minute / 60) as u32, (minute % 60) as u32, 0);
            if let Some(time) = time
                && let Some(due) = instant(zone, date, time)
                && due >= earliest
            {
                out.push(Start { time, due });
            }
            minute += step;
        }
    }
    Ok(out)
}

/// Checks one requested start time; its instant when it can be booked.
pub fn check(
    config: &OfficeConfig,
    rules: &Rules,
    services: &[ServiceId],
    date: NaiveDate,
    time: NaiveTime,
    now: Timestamp,
) -> Result<Timestamp, SlotError> {
    let zone = config.timezone();
    let due = instant(zone, date, time).ok_or(SlotError::NotAStart)?;
    if due < now + rules.lead {
        return Err(SlotError::TooSoon);
    }
    starts(config, rules, services, date, now)?
        .into_iter()
        .find(|s| s.time == time)
        .map(|s| s.due)
        .ok_or(SlotError::NotAStart)
}

/// The days a citizen may pick: from today to the horizon, open, no holiday, with at
/// least one start far enough ahead.
pub fn days(
    config: &OfficeConfig,
    rules: &Rules,
    services: &[ServiceId],
    now: Timestamp,
) -> Vec<NaiveDate> {
    let today = config.local_date(now);
    (0..=rules.horizon_days)
        .filter_map(|d| today.checked_add_days(chrono::Days::new(u64::from(d))))
        .filter(|date| starts(config, rules, services, *date, now).is_ok_and(|s| !s.is_empty()))
        .collect()
}

fn minutes_of(time: NaiveTime) -> i64 {
    // "24:00" is stored as the end of the day: count it as minute 1440.
    if time == aufruf_model::config::OpeningInterval::END_OF_DAY {
        return 24 * 60;
    }
    i64::from(time.hour() * 60 + time.minute())
}

/// A local date and time as an instant; the earlier one when clocks go back, none
/// when they skip it.
pub fn instant(zone: chrono_tz::Tz, date: NaiveDate, time: NaiveTime) -> Option<Timestamp> {
    let local = zone.from_local_datetime(&date.and_time(time)).earliest()?;
    u64::try_from(local.timestamp_millis())
        .ok()
        .map(Timestamp::from_millis)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn office() -> OfficeConfig {
        aufruf_office::example_office().unwrap()
    }

    fn at(date: (i32, u32, u32), h: u32, m: u32) -> Timestamp {
        let date = NaiveDate::from_ymd_opt(date.0, date.1, date.2).unwrap();
        instant(
            chrono_tz::Europe::Berlin,
            date,
            NaiveTime::from_hms_opt(h, m, 0).unwrap(),
        )
        .unwrap()
    }

    fn rules(config: &OfficeConfig, department: &str) -> Rules {
        let d = config
            .departments
            .iter()
            .find(|d| d.id.as_str() == department)
            .unwrap();
        Rules::of(config, d, None)
    }

    #[test]
    fn defaults_are_24_hours_lead_the_office_horizon_and_half_the_desks() {
        let config = office();
        let r = rules(&config, "buergerbuero");
        assert_eq!(r.lead, Duration::from_secs(24 * 3600));
        assert_eq!(r.horizon_days, 90);
        let desks = config
            .desks
            .iter()
            .filter(|d| d.department.as_str() == "buergerbuero")
            .count() as u32;
        assert_eq!(r.per_slot, desks.div_ceil(2));
        let longer = DepartmentRules {
            horizon_days: Some(400),
            lead_hours: Some(48),
            ..Default::default()
        };
        let kita = &config.departments[1];
        let r = Rules::of(&config, kita, Some(&longer));
        assert_eq!(r.horizon_days, 90, "never beyond the office's horizon");
        assert_eq!(r.lead, Duration::from_secs(48 * 3600));
    }

    #[test]
    fn the_capacity_the_admins_publish_goes_before_the_gateways_file() {
        let mut config = office();
        let file = DepartmentRules {
            appointments_per_slot: Some(4),
            slot_minutes: Some(10),
            ..Default::default()
        };
        let r = Rules::of(&config, &config.departments[0], Some(&file));
        assert_eq!((r.per_slot, r.slot_minutes), (4, 10));
        config.departments[0].booking.appointments_per_slot = Some(0);
        config.departments[0].booking.slot_minutes = Some(30);
        let r = Rules::of(&config, &config.departments[0], Some(&file));
        assert_eq!((r.per_slot, r.slot_minutes), (0, 30));
        // No appointments offered: no start on any day.
        let tuesday = NaiveDate::from_ymd_opt(2026, 11, 24).unwrap();
        let service = config
            .services
            .iter()
            .find(|s| s.department == config.departments[0].id)
            .unwrap();
        let now = at((2026, 11, 20), 8, 0);
        assert!(
            starts(&config, &r, std::slice::from_ref(&service.id), tuesday, now)
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn starts_follow_opening_hours_and_the_services_length() {
        let config = office();
        let r = rules(&config, "kita");
        // Monday 2026-11-23; Tuesday the 24th: kita 09-12 and 13-17, 15-minute service.
        let now = at((2026, 11, 23), 8, 0);
        let tuesday = NaiveDate::from_ymd_opt(2026, 11, 24).unwrap();
        let s = starts(&config, &r, &[ServiceId::new("kita-platz")], tuesday, now).unwrap();
        let times: Vec<String> = s
            .iter()
            .map(|s| s.time.format("%H:%M").to_string())
            .collect();
        assert_eq!(times.first().map(String::as_str), Some("09:00"));
        assert!(times.contains(&"11:45".to_owned()));
        assert!(!times.contains(&"12:00".to_owned()), "closed at noon");
        assert!(times.contains(&"13:00".to_owned()));
        assert_eq!(times.last().map(String::as_str), Some("16:45"));
        // Wednesday: kita closed.
        let wednesday = NaiveDate::from_ymd_opt(2026, 11, 25).unwrap();
        assert!(
            starts(&config, &r, &[ServiceId::new("kita-platz")], wednesday, now)
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn the_services_of_one_appointment_add_up_and_share_a_department() {
        let config = office();
        let r = rules(&config, "buergerbuero");
        let now = at((2026, 11, 23), 8, 0);
        // Tuesday: the Bürgerbüro is open 08:00-18:00, a start every 15 minutes.
        let tuesday = NaiveDate::from_ymd_opt(2026, 11, 24).unwrap();
        let last = |ids: &[&str]| {
            let ids: Vec<ServiceId> = ids.iter().map(|i| ServiceId::new(*i)).collect();
            let s = starts(&config, &r, &ids, tuesday, now).unwrap();
            s.last().map(|s| s.time.format("%H:%M").to_string())
        };
        // 8 minutes end by six; 8 + 8 + 6 + 4 = 26 minutes do from 17:30, not 17:45.
        assert_eq!(last(&["reisepass"]).as_deref(), Some("17:45"));
        let four = [
            "reisepass",
            "personalausweis",
            "anmeldung",
            "fuehrungszeugnis",
        ];
        assert_eq!(last(&four).as_deref(), Some("17:30"));
        let ids = |ids: &[&str]| ids.iter().map(|i| ServiceId::new(*i)).collect::<Vec<_>>();
        let (department, minutes) = visit(&config, &ids(&four)).unwrap();
        assert_eq!((department.id.as_str(), minutes), ("buergerbuero", 26));
        // One appointment is at one department; none is for nothing or the unknown.
        for wrong in [
            &["reisepass", "kita-platz"][..],
            &[],
            &["reisepass", "nope"],
        ] {
            assert_eq!(
                starts(&config, &r, &ids(wrong), tuesday, now),
                Err(SlotError::Unknown),
                "{wrong:?}"
            );
        }
    }

    #[test]
    fn the_lead_the_horizon_and_holidays_hold() {
        let config = office();
        let r = rules(&config, "buergerbuero");
        let pass = [ServiceId::new("reisepass")];
        let now = at((2026, 11, 23), 10, 0);
        let tuesday = NaiveDate::from_ymd_opt(2026, 11, 24).unwrap();
        let t = |h, m| NaiveTime::from_hms_opt(h, m, 0).unwrap();
        assert_eq!(
            check(&config, &r, &pass, tuesday, t(9, 45), now),
            Err(SlotError::TooSoon)
        );
        assert!(check(&config, &r, &pass, tuesday, t(10, 0), now).is_ok());
        assert_eq!(
            check(&config, &r, &pass, tuesday, t(10, 5), now),
            Err(SlotError::NotAStart)
        );
        assert_eq!(
            check(&config, &r, &pass, tuesday, t(19, 0), now),
            Err(SlotError::NotAStart)
        );
        let past = NaiveDate::from_ymd_opt(2026, 11, 20).unwrap();
        assert_eq!(
            check(&config, &r, &pass, past, t(10, 0), now),
            Err(SlotError::TooSoon)
        );
        let far = NaiveDate::from_ymd_opt(2027, 3, 1).unwrap();
        assert_eq!(
            check(&config, &r, &pass, far, t(10, 0), now),
            Err(SlotError::TooFar)
        );
        let christmas = NaiveDate::from_ymd_opt(2026, 12, 24).unwrap();
        assert!(
            starts(&config, &r, &pass, christmas, now)
                .unwrap()
                .is_empty()
        );
        let d = days(&config, &r, &pass, now);
        assert!(!d.contains(&christmas));
        assert!(
            !d.contains(&NaiveDate::from_ymd_opt(2026, 11, 23).unwrap()),
            "today is within the lead"
        );
        assert!(d.contains(&tuesday));
        assert!(
            d.iter()
                .all(|x| (*x - NaiveDate::from_ymd_opt(2026, 11, 23).unwrap()).num_days() <= 90)
        );
        assert_eq!(
            check(
                &config,
                &r,
                &[ServiceId::new("nope")],
                tuesday,
                t(10, 0),
                now
            ),
            Err(SlotError::Unknown)
        );
    }
}
