//! When the kiosk hands out walk-in tickets, when it says the office opens again, and
//! from when a booked citizen may check in — told as days in a small town's office in
//! Europe/Berlin, clock changes and holidays included.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use aufruf_model::opening::REOPENING_HORIZON_DAYS;
use aufruf_model::{Appointment, OfficeConfig, Reopening, ServiceId, Timestamp, WalkIns};
use chrono::{Datelike, NaiveDate, NaiveTime, TimeZone, Utc, Weekday};
use chrono_tz::Tz;
use proptest::prelude::*;

/// The citizen office: long Mondays with a lunch break, short Wednesdays and Fridays,
/// closed between the years. The day-care department has no walk-in hours at all; the
/// night desk exists to open in the small hours of the nights the clocks change.
const OFFICE: &str = r#"
[office]
id = "zeitz"
name = "Bürgerbüro Zeitz"
timezone = "Europe/Berlin"
holidays = ["2026-12-24", "2026-12-25", "2026-12-28", "2026-12-29", "2026-12-30",
            "2026-12-31", "2027-01-01"]

[[departments]]
id = "bb"
name = { de = "Bürgerbüro", en = "Citizen office" }
[departments.hours]
mon = ["08:00-12:00", "14:00-18:00"]
tue = ["08:00-18:00"]
wed = ["08:00-12:00"]
thu = ["08:00-18:00"]
fri = ["08:00-12:00"]

[[departments]]
id = "kita"
name = { de = "Kita-Abteilung", en = "Day-care department" }

[[departments]]
id = "night"
name = { de = "Nachtschalter", en = "Night desk" }
[departments.hours]
sun = ["02:30-03:30"]

[[services]]
id = "ausweis"
department = "bb"
name = { de = "Ausweis", en = "ID card" }
prefix = "A"
expected_minutes = 10

[[services]]
id = "kita-platz"
department = "kita"
name = { de = "Kita-Platz", en = "Day-care place" }
prefix = "K"
expected_minutes = 15

[[services]]
id = "nacht"
department = "night"
name = { de = "Nachtdienst", en = "Night service" }
prefix = "N"
expected_minutes = 5

[[desks]]
id = "desk-1"
name = "Platz 1"
department = "bb"
services = ["ausweis"]
"#;

fn office() -> OfficeConfig {
    OfficeConfig::from_toml("opening_hours.rs", OFFICE).unwrap()
}

fn ausweis() -> ServiceId {
    ServiceId::new("ausweis")
}

/// The instant the clocks in Berlin show this date and time (the earlier one if twice).
fn berlin(y: i32, m: u32, d: u32, h: u32, min: u32) -> Timestamp {
    let local = chrono_tz::Europe::Berlin
        .with_ymd_and_hms(y, m, d, h, min, 0)
        .earliest()
        .expect("a time the clocks in Berlin show");
    utc_millis(local.with_timezone(&Utc))
}

fn utc(text: &str) -> Timestamp {
    utc_millis(
        chrono::DateTime::parse_from_rfc3339(text)
            .unwrap()
            .with_timezone(&Utc),
    )
}

fn utc_millis(t: chrono::DateTime<Utc>) -> Timestamp {
    Timestamp::from_millis(u64::try_from(t.timestamp_millis()).unwrap())
}

fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

fn time(h: u32, m: u32) -> NaiveTime {
    NaiveTime::from_hms_opt(h, m, 0).unwrap()
}

/// The reopening the kiosk would show at `now`; fails if the office is open.
fn reopening(config: &OfficeConfig, service: &ServiceId, now: Timestamp) -> Reopening {
    match config.walk_ins(service, now) {
        WalkIns::Closed { reopens: Some(r) } => r,
        other => panic!("expected closed with a reopening, got {other:?}"),
    }
}

#[test]
fn wednesday_night_the_citizen_office_reopens_tomorrow_at_eight() {
    let office = office();
    // Wednesday 11 March 2026, 23:00: the office closed at noon.
    let now = berlin(2026, 3, 11, 23, 0);
    let r = reopening(&office, &ausweis(), now);
    assert_eq!(
        r,
        Reopening {
            date: date(2026, 3, 12),
            weekday: Weekday::Thu,
            time: time(8, 0),
            at: berlin(2026, 3, 12, 8, 0),
        }
    );
    let today = office.local_date(now);
    assert_eq!(r.describe_de(today), "öffnet morgen, 08:00");
    assert_eq!(r.describe_en(today), "opens tomorrow at 08:00");
}

#[test]
fn on_friday_afternoon_walk_ins_reopen_on_monday() {
    let office = office();
    // Friday 13 March, 15:00: closed since noon; the weekend has no hours.
    let now = berlin(2026, 3, 13, 15, 0);
    let r = reopening(&office, &ausweis(), now);
    assert_eq!((r.weekday, r.at), (Weekday::Mon, berlin(2026, 3, 16, 8, 0)));
    let today = office.local_date(now);
    assert_eq!(r.describe_de(today), "öffnet Montag, 08:00");
    assert_eq!(r.describe_en(today), "opens Monday at 08:00");
}

#[test]
fn during_the_lunch_break_walk_ins_reopen_this_afternoon() {
    let office = office();
    let now = berlin(2026, 3, 16, 12, 30);
    let r = reopening(&office, &ausweis(), now);
    assert_eq!(r.at, berlin(2026, 3, 16, 14, 0));
    let today = office.local_date(now);
    assert_eq!(r.describe_de(today), "öffnet heute um 14:00");
    assert_eq!(r.describe_en(today), "opens today at 14:00");
}

#[test]
fn within_opening_hours_walk_ins_are_open_up_to_closing_time() {
    let office = office();
    // Tuesday 10 March: 08:00 to 18:00.
    assert_eq!(
        office.walk_ins(&ausweis(), berlin(2026, 3, 10, 8, 0)),
        WalkIns::Open
    );
    assert_eq!(
        office.walk_ins(&ausweis(), berlin(2026, 3, 10, 17, 59)),
        WalkIns::Open
    );
    // At 18:00 sharp the door is closed; Wednesday opens at eight.
    let r = reopening(&office, &ausweis(), berlin(2026, 3, 10, 18, 0));
    assert_eq!(r.at, berlin(2026, 3, 11, 8, 0));
    // Before opening, the kiosk says "today".
    let early = berlin(2026, 3, 10, 7, 45);
    let r = reopening(&office, &ausweis(), early);
    assert_eq!(
        r.describe_de(office.local_date(early)),
        "öffnet heute um 08:00"
    );
}

#[test]
fn on_a_holiday_the_office_stays_closed_though_it_is_a_thursday() {
    let office = office();
    // Christmas Eve 2026 is a Thursday, a day the office would be open all day.
    let now = berlin(2026, 12, 24, 10, 0);
    assert!(!office.walk_ins(&ausweis(), now).is_open());
}

#[test]
fn between_the_years_the_holidays_are_skipped_and_the_date_is_named() {
    let office = office();
    // Wednesday 23 December, 13:00: next come Christmas, a weekend, the days between
    // the years and New Year; the office opens again on Monday 4 January 2027.
    let now = berlin(2026, 12, 23, 13, 0);
    let r = reopening(&office, &ausweis(), now);
    assert_eq!(r.at, berlin(2027, 1, 4, 8, 0));
    let today = office.local_date(now);
    assert_eq!(r.describe_de(today), "öffnet Montag, 04.01., 08:00");
    assert_eq!(r.describe_en(today), "opens Monday 4 Jan at 08:00");
}

#[test]
fn a_week_ahead_the_date_is_named_so_the_weekday_is_not_mistaken_for_today() {
    let r = Reopening {
        date: date(2026, 12, 3),
        weekday: Weekday::Thu,
        time: time(8, 0),
        at: berlin(2026, 12, 3, 8, 0),
    };
    // Six days ahead the weekday is enough …
    assert_eq!(
        r.describe_de(date(2026, 11, 27)),
        "öffnet Donnerstag, 08:00"
    );
    assert_eq!(r.describe_en(date(2026, 11, 27)), "opens Thursday at 08:00");
    // … seven days ahead it would be read as today.
    assert_eq!(
        r.describe_de(date(2026, 11, 26)),
        "öffnet Donnerstag, 03.12., 08:00"
    );
    assert_eq!(
        r.describe_en(date(2026, 11, 26)),
        "opens Thursday 3 Dec at 08:00"
    );
}

#[test]
fn a_department_without_hours_never_reopens() {
    let office = office();
    let now = berlin(2026, 3, 10, 10, 0);
    assert_eq!(
        office.walk_ins(&ServiceId::new("kita-platz"), now),
        WalkIns::Closed { reopens: None }
    );
}

#[test]
fn an_unknown_service_takes_no_walk_ins() {
    let office = office();
    let now = berlin(2026, 3, 10, 10, 0);
    assert_eq!(
        office.walk_ins(&ServiceId::new("angelschein"), now),
        WalkIns::Closed { reopens: None }
    );
}

#[test]
fn after_the_clocks_go_forward_monday_opens_at_eight_summer_time() {
    let office = office();
    // Friday 27 March 2026 in winter time; the clocks go forward on Sunday the 29th.
    let r = reopening(&office, &ausweis(), berlin(2026, 3, 27, 15, 0));
    // 08:00 summer time is 06:00 UTC, not 07:00.
    assert_eq!(r.at, utc("2026-03-30T06:00:00Z"));
    assert_eq!(r.time, time(8, 0));
    // And back in autumn: Monday 26 October 08:00 winter time is 07:00 UTC.
    let r = reopening(&office, &ausweis(), berlin(2026, 10, 23, 15, 0));
    assert_eq!(r.at, utc("2026-10-26T07:00:00Z"));
}

#[test]
fn an_opening_the_clocks_skip_over_opens_when_the_gap_ends() {
    let office = office();
    let night = ServiceId::new("nacht");
    // Sunday 29 March 2026: the night desk opens at 02:30, but the clocks jump from
    // 02:00 straight to 03:00 — so it opens at 03:00 summer time.
    let before = utc("2026-03-29T00:00:00Z"); // 01:00 winter time
    let r = reopening(&office, &night, before);
    assert_eq!(r.at, utc("2026-03-29T01:00:00Z"));
    assert_eq!(r.time, time(3, 0));
    assert_eq!(
        r.describe_de(office.local_date(before)),
        "öffnet heute um 03:00"
    );
    assert_eq!(office.walk_ins(&night, r.at), WalkIns::Open);
}

#[test]
fn when_the_clocks_go_back_the_night_desk_opens_a_second_time() {
    let office = office();
    let night = ServiceId::new("nacht");
    // Sunday 25 October 2026: open from 02:30 summer time; at 03:00 summer time the
    // clocks go back to 02:00 — closed, since 02:00 is before 02:30 — and at 02:30
    // winter time it opens again.
    assert_eq!(
        office.walk_ins(&night, utc("2026-10-25T00:45:00Z")),
        WalkIns::Open
    );
    let after_the_change = utc("2026-10-25T01:10:00Z"); // 02:10 winter time
    let r = reopening(&office, &night, after_the_change);
    assert_eq!(r.at, utc("2026-10-25T01:30:00Z"));
    assert_eq!(r.time, time(2, 30));
    assert_eq!(
        r.describe_en(office.local_date(after_the_change)),
        "opens today at 02:30"
    );
}

#[test]
fn check_in_opens_an_hour_before_the_appointment() {
    let office = office();
    let appointment = Appointment {
        cancelled: false,
        code: "K7Q2".into(),
        service: ausweis(),
        due: berlin(2026, 3, 10, 10, 0),
        also: Vec::new(),
    };
    let opens = berlin(2026, 3, 10, 9, 0);
    assert_eq!(office.check_in_opens(appointment.due), opens);
    // 61 minutes early: the kiosk says when to come back.
    assert_eq!(
        office.check_in_allowed(&appointment, berlin(2026, 3, 10, 8, 59)),
        Err(opens)
    );
    assert_eq!(office.check_in_allowed(&appointment, opens), Ok(()));
    // Late is still allowed; the desk decides what to do.
    assert_eq!(
        office.check_in_allowed(&appointment, berlin(2026, 3, 10, 10, 20)),
        Ok(())
    );
}

#[test]
fn an_office_may_open_check_in_earlier() {
    let text = OFFICE.replace(
        "[[departments]]\nid = \"bb\"",
        "[queue]\ncheck_in_early_minutes = 120\n\n[[departments]]\nid = \"bb\"",
    );
    let office = OfficeConfig::from_toml("opening_hours.rs", &text).unwrap();
    let due = berlin(2026, 3, 10, 10, 0);
    assert_eq!(office.check_in_opens(due), berlin(2026, 3, 10, 8, 0));
}

// ---- properties ----

/// Time zones with different clock changes: Berlin (at 02:00/03:00), Santiago (at
/// midnight), Lord Howe (by half an hour) and one without any.
const ZONES: [&str; 4] = [
    "Europe/Berlin",
    "America/Santiago",
    "Australia/Lord_Howe",
    "Asia/Tokyo",
];

/// Instants around clock changes in those zones, to start `now` near.
const CHANGES: [&str; 6] = [
    "2026-03-29T01:00:00Z",
    "2026-10-25T01:00:00Z",
    "2026-04-05T03:00:00Z",
    "2026-09-06T04:00:00Z",
    "2026-04-04T15:00:00Z",
    "2026-10-03T15:30:00Z",
];

/// A week of hours: per weekday up to three intervals on quarter hours, often in the
/// small hours when clocks change.
fn week() -> impl Strategy<Value = Vec<Vec<(u32, u32)>>> {
    let quarter = prop_oneof![0u32..96, 0u32..16];
    let day = proptest::collection::btree_set(quarter, 0..=6).prop_map(|points| {
        let points: Vec<u32> = points.into_iter().collect();
        points
            .chunks_exact(2)
            .map(|pair| (pair[0] * 15, pair[1] * 15))
            .collect::<Vec<_>>()
    });
    proptest::collection::vec(day, 7)
}

fn instant() -> impl Strategy<Value = Timestamp> {
    let anywhere = (1_700_000_000_000u64..1_900_000_000_000).prop_map(Timestamp::from_millis);
    let near_a_change =
        (0..CHANGES.len(), -6 * 3_600_000i64..6 * 3_600_000).prop_map(|(i, offset)| {
            let base = utc(CHANGES[i]).as_millis();
            Timestamp::from_millis(base.saturating_add_signed(offset))
        });
    prop_oneof![anywhere, near_a_change]
}

fn hhmm(minutes: u32) -> String {
    format!("{:02}:{:02}", minutes / 60, minutes % 60)
}

fn office_with(zone: &str, week: &[Vec<(u32, u32)>], holidays: &[NaiveDate]) -> OfficeConfig {
    let days = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
    let hours: String = days
        .iter()
        .zip(week)
        .map(|(day, intervals)| {
            let list: Vec<String> = intervals
                .iter()
                .map(|(a, b)| format!("\"{}-{}\"", hhmm(*a), hhmm(*b)))
                .collect();
            format!("{day} = [{}]\n", list.join(", "))
        })
        .collect();
    let holidays: Vec<String> = holidays.iter().map(|d| format!("\"{d}\"")).collect();
    let text = format!(
        r#"
[office]
id = "p"
name = "Prop"
timezone = "{zone}"
holidays = [{}]

[[departments]]
id = "d"
name = {{ de = "D", en = "D" }}
[departments.hours]
{hours}
[[services]]
id = "s"
department = "d"
name = {{ de = "S", en = "S" }}
prefix = "S"
expected_minutes = 5

[[desks]]
id = "desk"
name = "Desk"
department = "d"
services = ["s"]
"#,
        holidays.join(", ")
    );
    OfficeConfig::from_toml("generated", &text).unwrap()
}

/// Open by the definition, computed without the model: the local time lies in one of
/// the intervals of the local weekday, and the local date is no holiday.
fn open_by_definition(
    zone: Tz,
    week: &[Vec<(u32, u32)>],
    holidays: &[NaiveDate],
    now: Timestamp,
) -> bool {
    let millis = i64::try_from(now.as_millis()).unwrap();
    let local = Utc
        .timestamp_millis_opt(millis)
        .unwrap()
        .with_timezone(&zone);
    let clock = local.time();
    let at = |minutes: u32| time(minutes / 60, minutes % 60);
    let weekday = local.weekday().num_days_from_monday() as usize;
    !holidays.contains(&local.date_naive())
        && week[weekday]
            .iter()
            .any(|(a, b)| at(*a) <= clock && clock < at(*b))
}

const QUARTER: u64 = 15 * 60_000;

fn local_date(zone: Tz, t: Timestamp) -> NaiveDate {
    let millis = i64::try_from(t.as_millis()).unwrap();
    Utc.timestamp_millis_opt(millis)
        .unwrap()
        .with_timezone(&zone)
        .date_naive()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    /// Open exactly when the definition says; when closed, the reopening is the first
    /// instant after `now` that is open by the definition, within the horizon, and
    /// `None` only if there is none.
    #[test]
    fn walk_ins_follow_the_opening_hours(
        zone in 0..ZONES.len(),
        week in week(),
        holiday_offsets in proptest::collection::vec(0u64..40, 0..6),
        now in instant(),
    ) {
        let zone_name = ZONES[zone];
        let tz: Tz = zone_name.parse().unwrap();
        let today = local_date(tz, now);
        let holidays: Vec<NaiveDate> = holiday_offsets
            .iter()
            .map(|d| today + chrono::Days::new(*d))
            .collect();
        let office = office_with(zone_name, &week, &holidays);
        let service = ServiceId::new("s");
        let answer = office.walk_ins(&service, now);

        prop_assert_eq!(
            answer.is_open(),
            open_by_definition(tz, &week, &holidays, now),
            "{:?} at {:?}", answer, now
        );
        let reopens = match answer {
            WalkIns::Open => return Ok(()),
            WalkIns::Closed { reopens } => reopens,
        };
        // The next opening found the slow way: every quarter hour up to the end of the
        // search horizon, by the definition. Hours are on quarter hours and these
        // zones' clocks change on quarter hours, so openness changes only there.
        let last_day = today + chrono::Days::new(REOPENING_HORIZON_DAYS);
        let expected = (1u64..)
            .map(|k| Timestamp::from_millis((now.as_millis() / QUARTER + k) * QUARTER))
            .take_while(|t| local_date(tz, *t) <= last_day)
            .find(|t| open_by_definition(tz, &week, &holidays, *t));
        prop_assert_eq!(reopens.map(|r| r.at), expected);
        if let Some(r) = reopens {
            prop_assert!(r.at > now);
            prop_assert!(office.walk_ins(&service, r.at).is_open(), "{:?}", r);
            prop_assert_eq!(r.weekday, r.date.weekday());
            prop_assert_eq!(local_date(tz, r.at), r.date);
            let shown = Utc
                .timestamp_millis_opt(i64::try_from(r.at.as_millis()).unwrap())
                .unwrap()
                .with_timezone(&tz)
                .time();
            prop_assert_eq!(r.time, shown);
        }
    }
}

#[test]
fn closing_time_is_the_end_of_the_interval_that_holds_now_and_none_around_the_clock() {
    let config = office();
    // Wednesday the citizen office is open 08:00-12:00; Monday it has a lunch break.
    let wednesday = |h: u32, m: u32| berlin(2026, 11, 25, h, m);
    assert_eq!(
        config.closes_at(&ausweis(), wednesday(11, 20)),
        Some(wednesday(12, 0))
    );
    assert_eq!(
        config.closes_at(&ausweis(), wednesday(12, 30)),
        None,
        "closed"
    );
    assert_eq!(
        config.closes_at(&ausweis(), berlin(2026, 11, 23, 9, 0)),
        Some(berlin(2026, 11, 23, 12, 0)),
        "the morning interval ends at the lunch break"
    );
    // Open through midnight into Thursday: no closing time to keep that night.
    let text = OFFICE.replace(
        "wed = [\"08:00-12:00\"]\nthu = [\"08:00-18:00\"]",
        "wed = [\"08:00-24:00\"]\nthu = [\"00:00-18:00\"]",
    );
    let late = OfficeConfig::from_toml("aufruf.toml", &text).unwrap();
    assert_eq!(late.closes_at(&ausweis(), wednesday(23, 50)), None);
    // Open to midnight only: it closes at midnight.
    let text = OFFICE.replace("wed = [\"08:00-12:00\"]", "wed = [\"08:00-24:00\"]");
    let to_midnight = OfficeConfig::from_toml("aufruf.toml", &text).unwrap();
    assert_eq!(
        to_midnight.closes_at(&ausweis(), wednesday(23, 50)),
        Some(berlin(2026, 11, 26, 0, 0))
    );
}
