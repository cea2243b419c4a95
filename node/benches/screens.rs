//! The screens under real work, drawn by Slint's software renderer as on an appliance:
//!
//! 1. **Desk → display**: three nodes in this process (a kiosk that issued the day's
//!    tickets, a desk and the foyer display), replicating over loopback mutual TLS.
//!    The desk calls the next visitor (the service call its "Aufrufen" button makes);
//!    the display node's screen takes the view its service pushes and renders a full
//!    1920×1080 frame. Measured: from the call until that frame, which shows the
//!    called number, is drawn (target p99 ≤ 50 ms).
//! 2. **Kiosk touch → ticket**: the kiosk's screen (1080×1920) is touched on a
//!    service (its `choose-service` callback, what the button calls) and renders the
//!    frame with the ticket's number and QR code.
//!
//! ```text
//! cargo bench -p aufruf-node --bench screens
//! AUFRUF_BENCH_CALLS=500 cargo bench -p aufruf-node --bench screens
//! ```

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

#[path = "../tests/common/mod.rs"]
mod common;

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use aufruf_model::Timestamp;
use aufruf_node::settings::Role;
use aufruf_node::state::Services;
use aufruf_office::DeskAction;
use aufruf_ui::display::DisplayScreen;
use aufruf_ui::headless::Headless;
use aufruf_ui::kiosk::KioskScreen;
use aufruf_ui::speech::Silent;
use aufruf_ui::{DisplayAdapter, KioskAdapter, KioskPage};
use common::TestOffice;
use slint::ComponentHandle;

fn now() -> Timestamp {
    let ms = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_millis();
    Timestamp::from_millis(u64::try_from(ms).unwrap())
}

fn quantile(sorted: &[f64], q: f64) -> f64 {
    let i = ((sorted.len() - 1) as f64 * q).round() as usize;
    sorted[i]
}

fn row(what: &str, mut ms: Vec<f64>, target: &str) {
    ms.sort_by(f64::total_cmp);
    println!(
        "| {what} | {} | {:.2} | {:.2} | {:.2} | {target} |",
        ms.len(),
        quantile(&ms, 0.5),
        quantile(&ms, 0.99),
        ms[ms.len() - 1]
    );
}

fn main() {
    let calls: usize = std::env::var("AUFRUF_BENCH_CALLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    let headless = Headless::install().unwrap();

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let office = TestOffice::new();
    let mut kiosk = office.enroll_alone("kiosk-1", Role::Kiosk);
    // QR tickets need the portal's address for their link.
    kiosk.public_url = Some("https://termine.zeitz.example".into());
    let kiosk = rt.block_on(office.start(kiosk));
    let desk = office.enroll("desk-1", Role::Desk, vec![kiosk.sync_addr]);
    let desk = rt.block_on(office.start(desk));
    let display = office.enroll(
        "display-1",
        Role::Display,
        vec![kiosk.sync_addr, desk.sync_addr],
    );
    let display = rt.block_on(office.start(display));
    rt.block_on(office.ready(desk.api_addr));
    rt.block_on(office.ready(display.api_addr));
    let (
        Services::Kiosk(kiosk_service),
        Services::Desk(desk_service),
        Services::Display(display_service),
    ) = (
        &kiosk.state.services,
        &desk.state.services,
        &display.state.services,
    )
    else {
        panic!("the nodes' roles");
    };

    // The kiosk's screen: a touch draws a ticket; each ticket is a visitor the desk
    // calls below.
    let kiosk_screen = KioskScreen::new(kiosk_service.clone(), Arc::new(now)).unwrap();
    let mut kiosk_frame = headless.take_window(1080, 1920).unwrap();
    kiosk_screen.window().show().unwrap();
    kiosk_frame.draw();
    let kiosk_adapter = kiosk_screen.window().global::<KioskAdapter>();
    let mut touches = Vec::with_capacity(calls);
    for _ in 0..calls {
        let started = Instant::now();
        kiosk_adapter.invoke_choose_service("meldebescheinigung".into());
        if kiosk_adapter.get_page() != KioskPage::Ticket {
            // Paper or QR: the QR code.
            kiosk_adapter.invoke_deliver(false);
        }
        assert_eq!(
            kiosk_adapter.get_page(),
            KioskPage::Ticket,
            "a ticket on screen"
        );
        kiosk_frame.draw();
        touches.push(started.elapsed().as_secs_f64() * 1000.0);
        kiosk_adapter.invoke_home();
    }

    // The display's screen, and the desk calling every visitor in turn.
    let display_screen =
        DisplayScreen::new(display_service.clone(), Box::new(Silent), Arc::new(now)).unwrap();
    let mut display_frame = headless.take_window(1920, 1080).unwrap();
    display_screen.window().show().unwrap();
    display_frame.draw();
    let display_adapter = display_screen.window().global::<DisplayAdapter>();
    let mut views = display_service.subscribe();
    desk_service
        .act(now(), DeskAction::Open { services: vec![] })
        .unwrap();
    // Every ticket has reached the desk.
    rt.block_on(office.eventually(
        Duration::from_secs(60),
        "the desk sees every visitor",
        || async {
            desk_service
                .view(now())
                .is_ok_and(|v| v.waiting_for_desk as usize >= calls)
        },
    ));
    let mut shown = Vec::with_capacity(calls);
    for i in 0..calls {
        if i > 0 {
            desk_service.act(now(), DeskAction::Done).unwrap();
        }
        let started = Instant::now();
        let view = desk_service.act(now(), DeskAction::CallNext).unwrap();
        let number = view.current.expect("a visitor called").number;
        while display_adapter.get_latest_number() != number.as_str() {
            rt.block_on(async {
                tokio::time::timeout(Duration::from_secs(10), views.changed())
                    .await
                    .expect("the display hears of the call")
                    .unwrap();
            });
            display_screen.show_pushed();
        }
        display_frame.draw();
        shown.push(started.elapsed().as_secs_f64() * 1000.0);
    }

    println!("| measurement | count | p50 ms | p99 ms | max ms | target |");
    println!("|---|---|---|---|---|---|");
    row(
        "desk call → the display's next frame (1920×1080) shows it, 3 nodes over mutual TLS",
        shown,
        "p99 ≤ 50 ms",
    );
    row(
        "kiosk touch → the ticket's frame (1080×1920) with its QR code",
        touches,
        "",
    );
    drop(kiosk_screen);
    drop(display_screen);
    rt.block_on(async {
        kiosk.shutdown().await;
        desk.shutdown().await;
        display.shutdown().await;
    });
}
