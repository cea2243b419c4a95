//! An office running for weeks: a kiosk, a desk and the foyer display through day
//! after day of visitors, the days retiring as the runtime retires them at each
//! day's start. What the display shows stays right, and what the office holds in
//! memory stays flat: a device runs for weeks without a restart.
//!
//! Its own test binary: it counts every byte allocated in the process.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use std::alloc::System;
use std::sync::Arc;
use std::time::Duration;

use aufruf_hardware::Language;
use aufruf_model::{DeskId, NodeId, Role, ServiceId, Timestamp};
use aufruf_office::memory::MemoryReplica;
use aufruf_office::testing::office_service;
use aufruf_office::{
    DeskAction, DeskService, DisplayService, KioskService, OfficeService, Replication, Wish,
};
use chrono::NaiveDate;
use stats_alloc::{INSTRUMENTED_SYSTEM, StatsAlloc};

/// The system's allocator, counting what is allocated and freed.
#[global_allocator]
static ALLOCATOR: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// The bytes alive in the process now.
fn live() -> usize {
    // Reallocations are counted in both (what grew, what shrank).
    let stats = ALLOCATOR.stats();
    stats.bytes_allocated - stats.bytes_deallocated
}

/// Each test measures the whole process: one at a time.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// A busy day held in memory: every device folds the day's events into tickets, so
/// what a ticket costs there, each node pays. At most 2,000 bytes a ticket (3,000
/// tickets: under 6 MB); a log of events in a map cost 2,600.
#[test]
fn a_busy_days_tickets_cost_under_two_kilobytes_each_in_memory() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let config = aufruf_office::example_office().unwrap();
    let busy = aufruf_model::simulation::SimulationParams {
        visitors: 1500,
        ..Default::default()
    };
    let before = live();
    let (_, day) = aufruf_model::simulation::simulate_keeping_day(&config, &busy).unwrap();
    let held = live() - before;
    let tickets = day.tickets().count();
    assert!(tickets > 1400, "{tickets}");
    let per_ticket = held / tickets;
    assert!(per_ticket <= 2000, "{per_ticket} bytes a ticket");
    drop(day);
    // The test harness allocates beside the test now and then (another test's
    // thread starting): a few kilobytes, not the day's megabytes.
    let after = live();
    assert!(after < before + 256 * 1024, "{} bytes stay", after - before);
}

/// The office's days this test runs: three times its retention of a week.
const DAYS: u64 = 21;
/// Visitors a day.
const VISITORS: u64 = 80;

fn office(node: &str, role: Role, replica: &MemoryReplica) -> Arc<OfficeService<MemoryReplica>> {
    let config = aufruf_office::example_office()
        .unwrap()
        .open_around_the_clock();
    office_service(config, &NodeId::new(node).unwrap(), role, replica.clone())
}

/// 8:00 office time on the `day`th day from Monday, 2 November 2026.
fn morning(day: u64) -> Timestamp {
    let date = NaiveDate::from_ymd_opt(2026, 11, 2).unwrap() + chrono::Days::new(day);
    aufruf_model::calendar::day_start(chrono_tz::Europe::Berlin, date)
        + Duration::from_secs(8 * 3600)
}

#[test]
fn three_weeks_of_office_days_leave_the_display_right_and_memory_flat() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let replica = MemoryReplica::new();
    let kiosk_office = office("kiosk-1", Role::Kiosk, &replica);
    let desk_office = office("desk-1", Role::Desk, &replica);
    let display_office = office("display-1", Role::Display, &replica);
    let offices = [&kiosk_office, &desk_office, &display_office];
    let kiosk = KioskService::new(kiosk_office.clone(), None, None);
    let desk = DeskService::new(desk_office.clone(), DeskId::new("desk-1"), morning(0)).unwrap();
    let display = DisplayService::new(display_office.clone());
    let service = ServiceId::new("anmeldung");

    let mut live_by_day = Vec::new();
    for day in 0..DAYS {
        let start = morning(day);
        // The day's start: every node retires what ran out and learns from past
        // weeks (the runtime does this at local midnight).
        for office in offices {
            office.retire_expired(start).unwrap();
        }
        desk.act(start, DeskAction::Open { services: vec![] })
            .unwrap();
        for visitor in 0..VISITORS {
            let at = start + Duration::from_secs(visitor * 4 * 60);
            let ticket = kiosk
                .draw_ticket(at, &service, Wish::Qr, Language::De)
                .unwrap()
                .ticket;
            let call = at + Duration::from_secs(60);
            desk.act(call, DeskAction::CallNext).unwrap();
            display_office.refresh(call);
            let shown = display.view();
            assert_eq!(shown.calls[0].number, ticket.number, "day {day}");
            desk.act(call, DeskAction::Serving).unwrap();
            desk.act(call + Duration::from_secs(120), DeskAction::Done)
                .unwrap();
        }
        let evening = start + Duration::from_secs(VISITORS * 4 * 60 + 600);
        desk.act(evening, DeskAction::Close).unwrap();
        display_office.refresh(evening);
        assert_eq!(display.view().waiting_total, 0, "day {day}");
        live_by_day.push(live());
    }

    // Days past the retention are gone from the store, their statistics kept.
    let held = replica.document_names().len();
    assert!(held <= 7 + 2, "{held} documents held after {DAYS} days");
    let first = NaiveDate::from_ymd_opt(2026, 11, 2).unwrap();
    assert_eq!(
        display_office.statistics(first).unwrap().services[&service].served,
        u32::try_from(VISITORS).unwrap()
    );

    // Once the first week retired, memory stays where it is: the last week holds no
    // more than the second (a little for each day's kept statistics).
    let mib = |b: usize| b as f64 / (1024.0 * 1024.0);
    let second_week = live_by_day[13];
    let last = live_by_day[usize::try_from(DAYS).unwrap() - 1];
    let by_day: Vec<String> = live_by_day
        .iter()
        .map(|b| format!("{:.1}", mib(*b)))
        .collect();
    assert!(
        last <= second_week + second_week / 10,
        "live MiB by day: {by_day:?}"
    );
    assert!(
        live_by_day[6] > live_by_day[0],
        "the first week grows as days are kept: {by_day:?}"
    );
}
