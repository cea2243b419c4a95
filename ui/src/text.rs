//! Times and dates as the screens write them, in the office's time zone.

use aufruf_model::{OfficeConfig, Timestamp};
use chrono::{DateTime, Datelike, Utc};

/// The office's local time of `now`.
fn local(config: &OfficeConfig, now: Timestamp) -> DateTime<chrono_tz::Tz> {
    let ms = i64::try_from(now.as_millis()).unwrap_or(i64::MAX);
    DateTime::<Utc>::from_timestamp_millis(ms)
        .unwrap_or_default()
        .with_timezone(&config.timezone())
}

/// "14:05"
pub(crate) fn clock(config: &OfficeConfig, now: Timestamp) -> String {
    local(config, now).format("%H:%M").to_string()
}

/// "Donnerstag, 26.11.2026": the display speaks German to the foyer.
pub(crate) fn date_de(config: &OfficeConfig, now: Timestamp) -> String {
    const WEEKDAYS: [&str; 7] = [
        "Montag",
        "Dienstag",
        "Mittwoch",
        "Donnerstag",
        "Freitag",
        "Samstag",
        "Sonntag",
    ];
    let t = local(config, now);
    let weekday = WEEKDAYS
        .get(t.weekday().num_days_from_monday() as usize)
        .copied()
        .unwrap_or_default();
    format!("{weekday}, {}", t.format("%d.%m.%Y"))
}
