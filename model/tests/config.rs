//! A broken `aufruf.toml` is answered with an error naming the file, the field and the
//! problem — never with a panic.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

mod common;

use aufruf_model::OfficeConfig;
use proptest::prelude::*;

/// The test office with `from` replaced by `to` (which must occur).
fn broken(from: &str, to: &str) -> String {
    assert!(common::OFFICE.contains(from), "fixture lacks {from:?}");
    common::OFFICE.replacen(from, to, 1)
}

fn error_of(text: &str) -> String {
    OfficeConfig::from_toml("aufruf.toml", text)
        .expect_err("the configuration should be refused")
        .to_string()
}

#[test]
fn the_fixture_itself_is_valid() {
    common::office();
}

#[test]
fn overlapping_number_blocks_are_named() {
    let text = broken("first = 500", "first = 400");
    assert_eq!(
        error_of(&text),
        "aufruf.toml: number_blocks[1]: 400..=999 of node \"kiosk-2\" overlaps \
         number_blocks[0] (1..=499 of node \"kiosk-1\")"
    );
}

#[test]
fn a_desk_serving_an_unknown_service_is_named() {
    let text = broken(
        r#"services = ["ausweis"]"#,
        r#"services = ["ausweis", "pass"]"#,
    );
    assert_eq!(
        error_of(&text),
        "aufruf.toml: desks[1].services[1]: unknown service \"pass\""
    );
}

#[test]
fn a_duplicate_prefix_is_named() {
    let text = broken(r#"prefix = "M""#, r#"prefix = "A""#);
    assert_eq!(
        error_of(&text),
        "aufruf.toml: services[1].prefix: \"A\" is already the prefix of service \"ausweis\""
    );
}

#[test]
fn hours_ending_before_they_start_are_named() {
    let text = broken(r#""13:00-16:00""#, r#""16:00-13:00""#);
    let err = error_of(&text);
    assert!(
        err.starts_with("aufruf.toml:") && err.contains("departments[0].hours.mon[1]"),
        "{err}"
    );
    assert!(
        err.ends_with("`16:00-13:00` ends before it starts"),
        "{err}"
    );
}

#[test]
fn overlapping_hours_are_named() {
    let text = broken(r#""13:00-16:00""#, r#""11:00-16:00""#);
    assert_eq!(
        error_of(&text),
        "aufruf.toml: departments[0].hours.mon[1]: 11:00-16:00 overlaps 08:00-12:00"
    );
}

#[test]
fn a_misspelt_field_is_named_with_its_line() {
    let text = broken("expected_minutes = 10", "expected_minuts = 10");
    let err = error_of(&text);
    assert!(err.starts_with("aufruf.toml:"), "{err}");
    assert!(err.contains("services[0]"), "{err}");
    assert!(err.contains("unknown field `expected_minuts`"), "{err}");
    let line = text
        .lines()
        .position(|l| l.contains("expected_minuts"))
        .unwrap()
        + 1;
    assert!(err.starts_with(&format!("aufruf.toml:{line}:")), "{err}");
}

#[test]
fn a_wrong_type_is_named() {
    let text = broken("expected_minutes = 5", r#"expected_minutes = "five""#);
    let err = error_of(&text);
    assert!(err.contains("services[1].expected_minutes"), "{err}");
    assert!(err.contains("invalid type"), "{err}");
}

#[test]
fn a_syntax_error_gives_the_line() {
    let text = broken("[[desks]]", "[[desks]");
    let err = error_of(&text);
    let line = text.lines().position(|l| l == "[[desks]").unwrap() + 1;
    assert!(
        err.starts_with(&format!("aufruf.toml:{line}: (syntax):")),
        "{err}"
    );
}

#[test]
fn other_problems_are_named() {
    let cases = [
        (
            broken(r#"prefix = "M""#, r#"prefix = "m""#),
            "services[1].prefix: \"m\" is not a capital letter A-Z",
        ),
        (
            broken(r#"department = "bb""#, r#"department = "kita""#),
            "services[0].department: unknown department \"kita\"",
        ),
        (
            broken("expected_minutes = 10", "expected_minutes = 0"),
            "services[0].expected_minutes: 0 is not between 1 and 480",
        ),
        (
            broken(r#"id = "desk-2""#, r#"id = "desk-1""#),
            "desks[1].id: desk \"desk-1\" is defined twice",
        ),
        (
            broken("calls_before_no_show = 3", "calls_before_no_show = 0"),
            "queue.calls_before_no_show: must be at least 1",
        ),
        (
            broken(
                "calls_before_no_show = 3",
                "calls_before_no_show = 3\ncheck_in_early_minutes = 1441",
            ),
            "queue.check_in_early_minutes: 1441 is more than a day (1440 minutes)",
        ),
        (
            broken(
                "calls_before_no_show = 3",
                "calls_before_no_show = 3\nappointment_max_wait_minutes = 0",
            ),
            "queue.appointment_max_wait_minutes: must be at least 1",
        ),
        (
            broken("first = 500\nlast = 999", "first = 999\nlast = 500"),
            "number_blocks[1]: first (999) must be at least 1 and not above last (500)",
        ),
        (
            broken(r#""08:00-12:00""#, r#""8 Uhr bis 12""#),
            "`8 Uhr bis 12` is not an interval like \"08:00-12:30\"",
        ),
        (
            broken("[office]\nid = \"test\"", "[office]\nid = \"\""),
            "office.id: \"\" is not a valid id: 1-64 letters, digits, dots, dashes or underscores",
        ),
        (
            broken(r#"node = "kiosk-2""#, r#"node = "kiosk 2""#),
            "number_blocks[1].node: \"kiosk 2\" is not a valid id: 1-64 letters, digits, dots, dashes or underscores",
        ),
        (
            broken(
                "mon = [\"08:00-12:00\", \"13:00-16:00\"]",
                "mon = []\n[departments.booking]\nappointments_per_slot = 101",
            ),
            "departments[0].booking.appointments_per_slot: 101 is more than 100",
        ),
        (
            broken(
                "mon = [\"08:00-12:00\", \"13:00-16:00\"]",
                "mon = []\n[departments.booking]\nslot_minutes = 4",
            ),
            "departments[0].booking.slot_minutes: 4 is not between 5 and 240",
        ),
        (
            broken(
                "name = \"Testamt\"",
                "name = \"Testamt\"\ntimezone = \"Europe/Zeitz\"",
            ),
            "office.timezone: \"Europe/Zeitz\" is not a time zone like \"Europe/Berlin\"",
        ),
    ];
    for (text, expected) in cases {
        let err = error_of(&text);
        assert!(err.starts_with("aufruf.toml:"), "{err}");
        assert!(
            err.ends_with(expected),
            "{err}\n  should end with\n{expected}"
        );
    }
}

#[test]
fn a_configuration_without_the_check_in_window_gets_an_hour() {
    assert!(!common::OFFICE.contains("check_in_early_minutes"));
    assert_eq!(common::office().queue.check_in_early_minutes, 60);
}

#[test]
fn the_example_office_of_the_repository_is_valid() {
    let text = include_str!("../../aufruf.toml");
    let config = OfficeConfig::from_toml("aufruf.toml", text).unwrap();
    assert_eq!(config.queue.calls_before_no_show, 3);
    assert_eq!(config.queue.check_in_early_minutes, 60);
    let date = chrono::NaiveDate::from_ymd_opt(2026, 3, 10).unwrap(); // a Tuesday
    let nine = chrono::NaiveTime::from_hms_opt(9, 0, 0).unwrap();
    assert!(config.is_open(&"buergerbuero".into(), date, nine));
    let christmas = chrono::NaiveDate::from_ymd_opt(2026, 12, 24).unwrap();
    assert!(!config.is_open(&"buergerbuero".into(), christmas, nine));
}

#[test]
fn a_configuration_written_as_toml_reads_back_the_same() {
    let text = include_str!("../../aufruf.toml");
    let config = OfficeConfig::from_toml("aufruf.toml", text).unwrap();
    let written = config.to_toml().unwrap();
    assert_eq!(
        OfficeConfig::from_toml("written", &written).unwrap(),
        config
    );
    assert!(written.contains("\"08:00-18:00\""), "{written}");
    // A department's capacity is written only where the admins set it.
    assert!(!written.contains("[departments.booking]"), "{written}");
    let mut capped = config;
    capped.departments[0].booking.appointments_per_slot = Some(0);
    capped.departments[0].booking.slot_minutes = Some(20);
    let written = capped.to_toml().unwrap();
    assert!(written.contains("appointments_per_slot = 0"), "{written}");
    assert_eq!(
        OfficeConfig::from_toml("written", &written).unwrap(),
        capped
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    /// Whatever the file holds, loading it returns (and never panics).
    #[test]
    fn any_text_is_answered_without_a_panic(text in "\\PC{0,200}") {
        let _ = OfficeConfig::from_toml("aufruf.toml", &text);
    }

    /// Cutting the example anywhere or changing one character gives a clean answer.
    #[test]
    fn damaged_examples_are_answered_without_a_panic(
        cut in 0usize..2000,
        at in 0usize..2000,
        ch in proptest::char::any(),
    ) {
        let text = common::OFFICE;
        let mut chars: Vec<char> = text.chars().collect();
        let at = at % chars.len();
        chars[at] = ch;
        let changed: String = chars.into_iter().collect();
        let _ = OfficeConfig::from_toml("aufruf.toml", &changed);
        let cut = text.char_indices().nth(cut % text.chars().count()).map_or(0, |(i, _)| i);
        let _ = OfficeConfig::from_toml("aufruf.toml", &text[..cut]);
    }
}

#[test]
fn a_day_can_be_open_until_midnight_written_24_00() {
    use aufruf_model::config::OpeningInterval;
    use chrono::NaiveTime;

    let text = broken(r#""13:00-16:00""#, r#""13:00-24:00""#);
    let config = OfficeConfig::from_toml("aufruf.toml", &text).unwrap();
    let monday = &config.departments[0].hours.mon;
    let evening = monday.last().unwrap();
    assert_eq!(evening.closes, OpeningInterval::END_OF_DAY);
    assert!(evening.contains(NaiveTime::from_hms_opt(23, 59, 59).unwrap()));
    assert_eq!(String::from(*evening), "13:00-24:00");
    // "24:00" closes a day; it does not open one.
    let err = error_of(&broken(r#""13:00-16:00""#, r#""24:00-24:00""#));
    assert!(
        err.contains("`24:00` in `24:00-24:00` is not a time"),
        "{err}"
    );
}
