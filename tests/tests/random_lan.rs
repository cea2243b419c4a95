//! Random office days on the simulated LAN: a thousand seeded schedules (450 + 350 +
//! 100 + 100) of work, partitions, one-way links, dropped connections, crashes, lost
//! disks and clock skew, each checked after every heal (see `aufruf_tests::schedule`).
//! `AUFRUF_LAN_SEEDS=20000` runs that many of each; `AUFRUF_LAN_SEED=<seed>` replays
//! one exactly.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use aufruf_tests::schedule::{Shape, random_day, run_seeds};

/// An ordinary day: mostly work, now and then a failed link, a split or a crash.
#[test]
fn random_office_days_keep_every_promise() {
    run_seeds(
        "random_lan",
        "random_office_days_keep_every_promise",
        0,
        450,
        |seed| {
            random_day(seed, &Shape::default());
        },
    );
}

/// A bad day: links fail one way, connections drop, disks fill up, devices crash all
/// the time and lose their disks now and then.
#[test]
fn random_days_of_crashes_and_failing_links_keep_every_promise() {
    let shape = Shape {
        faults: 14,
        crashes: 6,
        lost_disks: 3,
        full_disks: true,
        ..Shape::default()
    };
    run_seeds(
        "random_lan",
        "random_days_of_crashes_and_failing_links_keep_every_promise",
        1_000_000,
        350,
        |seed| {
            random_day(seed, &shape);
        },
    );
}

/// The gateway is on the LAN too: it feeds the bookings and draws remote tickets.
#[test]
fn random_days_with_the_gateway_keep_every_promise() {
    let shape = Shape {
        gateway: true,
        bookings: 8,
        ..Shape::default()
    };
    run_seeds(
        "random_lan",
        "random_days_with_the_gateway_keep_every_promise",
        2_000_000,
        100,
        |seed| {
            random_day(seed, &shape);
        },
    );
}

/// Devices start without the day's document, as real nodes do, and create it with
/// their first change or take it from a peer's announcement. automerge then names the
/// document's actor at random, so a failing seed may need a few replays to fail again.
#[test]
fn random_days_on_lazily_created_documents_keep_every_promise() {
    let shape = Shape {
        lazy_documents: true,
        ..Shape::default()
    };
    run_seeds(
        "random_lan",
        "random_days_on_lazily_created_documents_keep_every_promise",
        3_000_000,
        100,
        |seed| {
            random_day(seed, &shape);
        },
    );
}
