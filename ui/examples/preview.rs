//! Opens one screen in a window over an in-memory office with a few visitors, to
//! look at it without enrolling devices: `cargo run -p aufruf-ui --example preview --
//! display|kiosk|desk|closed-desk [WIDTHxHEIGHT]` (under `xvfb-run` on a machine without a
//! desktop). Stand-in keys: never an office's real devices.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)] // a preview

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use aufruf_hardware::{Language, TicketOffer};
use aufruf_model::{DeskId, NodeId, Role, ServiceId, Timestamp};
use aufruf_office::memory::MemoryReplica;
use aufruf_office::testing::office_service;
use aufruf_office::{
    DeskAction, DeskService, DisplayService, KioskService, OfficeService, RoleService, Wish,
};
use aufruf_ui::launch::{ScreenOptions, run};

fn now() -> Timestamp {
    let ms = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_millis();
    Timestamp::from_millis(u64::try_from(ms).unwrap())
}

fn office(node: &str, role: Role, replica: &MemoryReplica) -> Arc<OfficeService<MemoryReplica>> {
    let config = aufruf_office::example_office()
        .unwrap()
        .open_around_the_clock();
    office_service(config, &NodeId::new(node).unwrap(), role, replica.clone())
}

#[derive(Debug)]
struct PaperPrinter;

impl aufruf_office::Printer for PaperPrinter {
    fn offer(&self) -> TicketOffer {
        TicketOffer::PaperAndQr { paper_low: false }
    }
    fn print(
        &self,
        _: &aufruf_hardware::TicketSlip,
    ) -> Result<Option<std::path::PathBuf>, aufruf_hardware::PrintError> {
        Ok(None)
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let which = args.next().unwrap_or_else(|| "display".into());
    let size = args.next().and_then(|s| {
        let (w, h) = s.split_once('x')?;
        Some((w.parse().ok()?, h.parse().ok()?))
    });
    let replica = MemoryReplica::new();
    let kiosk = KioskService::new(
        office("kiosk-1", Role::Kiosk, &replica),
        Some(Arc::new(PaperPrinter)),
        Some("https://termine.zeitz.de".into()),
    );
    let t = now();
    let desk = DeskService::new(
        office("desk-1", Role::Desk, &replica),
        DeskId::new("desk-1"),
        t,
    )
    .unwrap();
    let desk2 = DeskService::new(
        office("desk-2", Role::Desk, &replica),
        DeskId::new("desk-2"),
        t,
    )
    .unwrap();
    for service in [
        "reisepass",
        "personalausweis",
        "anmeldung",
        "reisepass",
        "fundsachen",
        "meldebescheinigung",
        "personalausweis",
    ] {
        kiosk
            .draw_ticket(t, &ServiceId::new(service), Wish::Qr, Language::De)
            .unwrap();
    }
    for d in [&desk, &desk2] {
        d.act(t, DeskAction::Open { services: vec![] }).unwrap();
    }
    desk2.act(t, DeskAction::CallNext).unwrap();
    desk2.act(t, DeskAction::Serving).unwrap();
    desk.act(t + Duration::from_secs(30), DeskAction::CallNext)
        .unwrap();
    let service = match which.as_str() {
        "kiosk" => RoleService::Kiosk(kiosk),
        "desk" => RoleService::Desk(desk),
        // A desk not yet open: the clerk chooses today's services.
        "closed-desk" => RoleService::Desk(
            DeskService::new(
                office("desk-3", Role::Desk, &replica),
                DeskId::new("desk-3"),
                t,
            )
            .unwrap(),
        ),
        _ => {
            let display = DisplayService::new(office("display-1", Role::Display, &replica));
            display.office().refresh(t);
            RoleService::Display(display)
        }
    };
    let options = ScreenOptions {
        size,
        ..ScreenOptions::default()
    };
    if let Err(e) = run(&service, Arc::new(now), &options) {
        eprintln!("preview: {e}");
    }
}
