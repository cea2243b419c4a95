//! Office days on the calendar: which local date an instant falls on, when the next
//! day starts (local midnight, also across daylight-saving changes), and which days
//! have outlived their retention.

use chrono::{DateTime, Days, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;

use crate::time::Timestamp;

/// The local calendar date of `now` in `zone`.
pub fn local_date(zone: Tz, now: Timestamp) -> NaiveDate {
    to_utc(now).with_timezone(&zone).date_naive()
}

/// The local hour (0–23) of `now` in `zone`.
pub fn local_hour(zone: Tz, now: Timestamp) -> u8 {
    use chrono::Timelike;
    // An hour is below 24: the cast cannot truncate.
    #[allow(clippy::cast_possible_truncation)]
    let hour = to_utc(now).with_timezone(&zone).hour() as u8;
    hour
}

/// The instant the local day after `now`'s starts.
///
/// Local midnight exists in every zone Aufruf is used in, but some zones skip it on a
/// DST change; then the day starts at the first instant that exists.
pub fn next_day_start(zone: Tz, now: Timestamp) -> Timestamp {
    let tomorrow = local_date(zone, now)
        .checked_add_days(Days::new(1))
        .unwrap_or(NaiveDate::MAX);
    day_start(zone, tomorrow)
}

/// The first instant of a local date.
pub fn day_start(zone: Tz, date: NaiveDate) -> Timestamp {
    let mut time = date.and_hms_opt(0, 0, 0).unwrap_or_default();
    // A skipped midnight (DST gap) is at most a couple of hours long.
    for _ in 0..24 * 4 {
        if let Some(start) = zone.from_local_datetime(&time).earliest() {
            return from_utc(start.with_timezone(&Utc));
        }
        time += chrono::Duration::minutes(15);
    }
    from_utc(date.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc())
}

/// The days among `kept` that are older than `retention_days` before `today`.
pub fn expired(today: NaiveDate, retention_days: u32, kept: &[NaiveDate]) -> Vec<NaiveDate> {
    let Some(oldest_kept) = today.checked_sub_days(Days::new(u64::from(retention_days))) else {
        return Vec::new();
    };
    kept.iter().copied().filter(|d| *d < oldest_kept).collect()
}

pub(crate) fn to_utc(t: Timestamp) -> DateTime<Utc> {
    let ms = i64::try_from(t.as_millis()).unwrap_or(i64::MAX);
    DateTime::from_timestamp_millis(ms).unwrap_or(DateTime::<Utc>::MAX_UTC)
}

pub(crate) fn from_utc(t: DateTime<Utc>) -> Timestamp {
    Timestamp::from_millis(u64::try_from(t.timestamp_millis()).unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono_tz::Europe::Berlin;

    fn at(text: &str) -> Timestamp {
        from_utc(
            DateTime::parse_from_rfc3339(text)
                .unwrap()
                .with_timezone(&Utc),
        )
    }

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    #[test]
    fn the_local_date_changes_at_local_midnight() {
        // 23:30 UTC on 10 March is 00:30 on 11 March in Berlin (CET, UTC+1).
        assert_eq!(
            local_date(Berlin, at("2026-03-10T23:30:00Z")),
            date(2026, 3, 11)
        );
        assert_eq!(
            local_date(Berlin, at("2026-03-10T22:59:59Z")),
            date(2026, 3, 10)
        );
    }

    #[test]
    fn the_next_day_starts_at_local_midnight_across_dst() {
        // Winter: midnight is 23:00 UTC.
        assert_eq!(
            next_day_start(Berlin, at("2026-03-10T12:00:00Z")),
            at("2026-03-10T23:00:00Z")
        );
        // The night DST begins (29 March 2026): the day before is 23 hours long,
        // the next midnight is 22:00 UTC.
        assert_eq!(
            next_day_start(Berlin, at("2026-03-29T12:00:00Z")),
            at("2026-03-29T22:00:00Z")
        );
        // The night DST ends (25 October 2026): 25 hours, midnight at 23:00 UTC.
        assert_eq!(
            next_day_start(Berlin, at("2026-10-25T12:00:00Z")),
            at("2026-10-25T23:00:00Z")
        );
        assert_eq!(
            next_day_start(Berlin, at("2026-10-24T12:00:00Z")),
            at("2026-10-24T22:00:00Z")
        );
    }

    #[test]
    fn a_zone_that_skips_midnight_starts_the_day_at_the_first_real_instant() {
        // Santiago de Chile moved its clocks from 00:00 to 01:00 on 2026-09-06.
        let zone: Tz = "America/Santiago".parse().unwrap();
        let start = day_start(zone, date(2026, 9, 6));
        assert_eq!(local_date(zone, start), date(2026, 9, 6));
        assert_eq!(
            local_date(zone, start - std::time::Duration::from_millis(1)),
            date(2026, 9, 5)
        );
    }

    #[test]
    fn days_past_the_retention_expire() {
        let kept = [
            date(2026, 3, 1),
            date(2026, 3, 3),
            date(2026, 3, 4),
            date(2026, 3, 10),
        ];
        assert_eq!(expired(date(2026, 3, 10), 7, &kept), vec![date(2026, 3, 1)]);
        assert_eq!(expired(date(2026, 3, 10), 0, &kept), kept[..3].to_vec());
    }
}
