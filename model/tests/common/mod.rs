//! A small office for the model's tests: one department, two services, three desks
//! with different services, and number blocks for two kiosks.

#![allow(dead_code)]

use aufruf_model::{
    DeskId, HlcClock, Incarnation, NodeId, OfficeConfig, ServiceId, Stamp, Timestamp,
};

/// The incarnation of every store in these tests.
pub const INC: Incarnation = Incarnation::new(0x0000_0001);

pub const OFFICE: &str = r#"
[office]
id = "test"
name = "Testamt"

[queue]
appointment_window_minutes = 5
walk_in_max_wait_minutes = 30
calls_before_no_show = 3

[[departments]]
id = "bb"
name = { de = "Bürgerbüro", en = "Citizen office" }
[departments.hours]
mon = ["08:00-12:00", "13:00-16:00"]

[[services]]
id = "ausweis"
department = "bb"
name = { de = "Ausweis", en = "ID card" }
prefix = "A"
expected_minutes = 10

[[services]]
id = "meldung"
department = "bb"
name = { de = "Meldung", en = "Registration" }
prefix = "M"
expected_minutes = 5

[[desks]]
id = "desk-1"
name = "Platz 1"
department = "bb"
services = ["ausweis", "meldung"]

[[desks]]
id = "desk-2"
name = "Platz 2"
department = "bb"
services = ["ausweis"]

[[desks]]
id = "desk-3"
name = "Platz 3"
department = "bb"
services = ["meldung"]

[[number_blocks]]
node = "kiosk-1"
first = 1
last = 499

[[number_blocks]]
node = "kiosk-2"
first = 500
last = 999
"#;

pub fn office() -> OfficeConfig {
    OfficeConfig::from_toml("test.toml", OFFICE).unwrap()
}

pub fn ausweis() -> ServiceId {
    ServiceId::new("ausweis")
}

pub fn meldung() -> ServiceId {
    ServiceId::new("meldung")
}

pub fn desk(n: u32) -> DeskId {
    DeskId::new(format!("desk-{n}"))
}

/// Minute `m` of the test day.
pub fn minute(m: u64) -> Timestamp {
    Timestamp::from_minutes(600_000 + m)
}

/// A device with its own clock.
pub struct Device {
    pub clock: HlcClock,
}

impl Device {
    pub fn new(name: &str) -> Self {
        Self {
            clock: HlcClock::new(NodeId::new(name).unwrap()),
        }
    }

    /// A fresh stamp at `now`, after everything in `day`.
    pub fn stamp(&mut self, day: &aufruf_model::Day, now: Timestamp) -> Stamp {
        self.clock.observe(day.latest());
        self.clock.tick(now)
    }
}
