//! The foyer display over weeks, in accelerated time: its screen (drawn by the
//! software renderer at 1920×1080) follows an office that calls `AUFRUF_BENCH_CALLS`
//! (100,000) visitors, `AUFRUF_BENCH_CALLS_PER_DAY` a day (600, the example office's
//! day), one every 15 simulated seconds, with the days before the retention (7 days)
//! retired every morning. The process's resident memory is printed every 10,000
//! calls: it must stay flat (target ≤ 60 MB).
//!
//! The kiosk, the desk and the display run in this one process over one in-memory
//! office (the stand-in keys of `aufruf_office::testing`), so the figure is an upper
//! bound for a display node, which holds the same documents and no other screen.
//!
//! ```text
//! cargo bench -p aufruf-ui --bench display_memory
//! AUFRUF_BENCH_CALLS=20000 AUFRUF_BENCH_CALLS_PER_DAY=2000 cargo bench -p aufruf-ui --bench display_memory
//! ```

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use aufruf_hardware::Language;
use aufruf_model::{DeskId, NodeId, Role, ServiceId, Timestamp};
use aufruf_office::memory::MemoryReplica;
use aufruf_office::testing::office_service;
use aufruf_office::{DeskAction, DeskService, DisplayService, KioskService, Wish};
use aufruf_ui::display::DisplayScreen;
use aufruf_ui::headless::Headless;
use aufruf_ui::speech::Silent;
use aufruf_ui::{DisplayAdapter, Now};
use chrono::NaiveDate;
use slint::ComponentHandle;

const SERVICES: [&str; 4] = [
    "meldebescheinigung",
    "anmeldung",
    "fuehrungszeugnis",
    "fundsachen",
];

fn resident_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

fn main() {
    let calls: usize = std::env::var("AUFRUF_BENCH_CALLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let per_day: usize = std::env::var("AUFRUF_BENCH_CALLS_PER_DAY")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(600)
        .clamp(1, 3_000);
    let headless = Headless::install().unwrap();
    let config = aufruf_office::example_office()
        .unwrap()
        .open_around_the_clock();
    let zone = config.timezone();
    let clock = Arc::new(AtomicU64::new(0));
    let now = {
        let clock = clock.clone();
        move || Timestamp::from_millis(clock.load(Ordering::SeqCst))
    };
    let screen_now: Now = Arc::new(now.clone());
    let set = |t: Timestamp| clock.store(t.as_millis(), Ordering::SeqCst);
    // A Monday in February, before the spring's holidays.
    let first = NaiveDate::from_ymd_opt(2027, 2, 1).unwrap();
    set(aufruf_model::calendar::day_start(zone, first) + Duration::from_secs(8 * 3600));

    let replica = MemoryReplica::new();
    let office = |node: &str, role| {
        office_service(
            config.clone(),
            &NodeId::new(node).unwrap(),
            role,
            replica.clone(),
        )
    };
    let kiosk = KioskService::new(
        office("kiosk-1", Role::Kiosk),
        None,
        Some("https://termine.zeitz.example".into()),
    );
    let desk =
        DeskService::new(office("desk-1", Role::Desk), DeskId::new("desk-1"), now()).unwrap();
    let display = DisplayService::new(office("display-1", Role::Display));
    let screen = DisplayScreen::new(display.clone(), Box::new(Silent), screen_now).unwrap();
    let mut frame = headless.take_window(1920, 1080).unwrap();
    screen.window().show().unwrap();
    frame.draw();
    let adapter = screen.window().global::<DisplayAdapter>();

    println!("| calls | simulated day | resident MB | calls/s |");
    println!("|---|---|---|---|");
    println!("| 0 | 1 | {:.1} | |", resident_mb());
    let started = Instant::now();
    let mut window_started = Instant::now();
    let mut done = 0;
    let mut day = 0u64;
    while done < calls {
        let date = first + chrono::Days::new(day);
        let morning = aufruf_model::calendar::day_start(zone, date) + Duration::from_secs(8 * 3600);
        set(morning);
        for o in [kiosk.office(), desk.office(), display.office()] {
            o.retire_expired(now()).unwrap();
        }
        desk.act(now(), DeskAction::Open { services: vec![] })
            .unwrap();
        for i in 0..per_day.min(calls - done) {
            let service = ServiceId::new(SERVICES[i % SERVICES.len()]);
            kiosk
                .draw_ticket(now(), &service, Wish::Qr, Language::De)
                .unwrap();
            // What a node does when its replica reports a peer's change.
            desk.office().refresh(now());
            if desk.view(now()).unwrap().current.is_some() {
                desk.act(now(), DeskAction::Done).unwrap();
            }
            let called = desk.act(now(), DeskAction::CallNext).unwrap();
            let number = called.current.unwrap().number;
            display.office().refresh(now());
            screen.show_pushed();
            assert_eq!(
                adapter.get_latest_number(),
                number.as_str(),
                "the display shows the call"
            );
            if i % 10 == 0 {
                frame.draw();
            }
            set(now() + Duration::from_secs(15));
            done += 1;
            if done % 10_000 == 0 {
                let rate = 10_000.0 / window_started.elapsed().as_secs_f64();
                println!(
                    "| {done} | {} | {:.1} | {rate:.0} |",
                    day + 1,
                    resident_mb()
                );
                window_started = Instant::now();
            }
        }
        desk.act(now(), DeskAction::Done).ok();
        desk.act(now(), DeskAction::Close).unwrap();
        day += 1;
    }
    println!(
        "{done} calls, {per_day} a day, over {day} simulated days in {:.1} s; target: flat, ≤ 60 MB",
        started.elapsed().as_secs_f64()
    );
}
