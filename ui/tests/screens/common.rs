//! The office the screens run on: one in-memory replica shared by a kiosk, desks and
//! the display (as if perfectly synchronised), a clock the test moves, a fake printer,
//! and helpers that press and read controls by accessible label.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aufruf_hardware::{Language, PrintError, PrinterStatus, TicketOffer, TicketSlip};
use aufruf_model::{DeskId, NodeId, OfficeConfig, Role, ServiceId, Timestamp};
use aufruf_office::memory::MemoryReplica;
use aufruf_office::testing::office_service;
use aufruf_office::{DeskService, DisplayService, KioskService, OfficeService, Printer, Wish};
use aufruf_ui::Now;
use chrono::NaiveDate;
use i_slint_backend_testing::{ElementHandle, ElementRoot};

/// Each test thread gets the testing backend once (a thread may run several tests
/// when tests run on one thread).
pub fn init_slint() {
    let _ = slint::platform::set_platform(Box::new(i_slint_backend_testing::TestingBackend::new(
        i_slint_backend_testing::TestingBackendOptions {
            mock_time: true,
            threading: false,
            ..Default::default()
        },
    )));
}

/// Wednesday, 25 November 2026, at `hh:mm` office time.
pub fn wednesday(hh: u64, mm: u64) -> Timestamp {
    at(NaiveDate::from_ymd_opt(2026, 11, 25).unwrap(), hh, mm)
}

/// Sunday, 29 November 2026: the office is closed.
pub fn sunday(hh: u64, mm: u64) -> Timestamp {
    at(NaiveDate::from_ymd_opt(2026, 11, 29).unwrap(), hh, mm)
}

fn at(date: NaiveDate, hh: u64, mm: u64) -> Timestamp {
    aufruf_model::calendar::day_start(chrono_tz::Europe::Berlin, date)
        + Duration::from_secs(hh * 3600 + mm * 60)
}

/// The office's wall clock, moved by the test.
#[derive(Debug, Clone)]
pub struct Clock(Arc<AtomicU64>);

impl Clock {
    pub fn at(t: Timestamp) -> Self {
        Clock(Arc::new(AtomicU64::new(t.as_millis())))
    }

    pub fn now(&self) -> Timestamp {
        Timestamp::from_millis(self.0.load(Ordering::SeqCst))
    }

    pub fn set(&self, t: Timestamp) {
        self.0.store(t.as_millis(), Ordering::SeqCst);
    }

    pub fn advance(&self, d: Duration) {
        self.set(self.now() + d);
    }

    /// What the screens are handed.
    pub fn as_now(&self) -> Now {
        let clock = self.clone();
        Arc::new(move || clock.now())
    }
}

pub fn office_on(
    config: OfficeConfig,
    node: &str,
    role: Role,
    replica: MemoryReplica,
) -> Arc<OfficeService<MemoryReplica>> {
    office_service(config, &NodeId::new(node).unwrap(), role, replica)
}

/// A kiosk, desk 1 and the display on one replica, each node with its own office
/// service, as in the office's foyer.
pub struct Foyer {
    pub clock: Clock,
    pub replica: MemoryReplica,
    pub kiosk: KioskService<MemoryReplica>,
    pub desk: DeskService<MemoryReplica>,
    pub display: DisplayService<MemoryReplica>,
    pub printer: Arc<FakePrinter>,
}

impl Foyer {
    pub fn new(replica: MemoryReplica, offer: TicketOffer, now: Timestamp) -> Self {
        let config = aufruf_office::example_office().unwrap();
        let clock = Clock::at(now);
        let printer = FakePrinter::new(offer);
        let kiosk = KioskService::new(
            office_on(config.clone(), "kiosk-1", Role::Kiosk, replica.clone()),
            Some(printer.clone() as Arc<dyn Printer>),
            Some("https://termine.zeitz.de".into()),
        );
        let desk = DeskService::new(
            office_on(config.clone(), "desk-1", Role::Desk, replica.clone()),
            DeskId::new("desk-1"),
            now,
        )
        .unwrap();
        let display = DisplayService::new(office_on(
            config,
            "display-1",
            Role::Display,
            replica.clone(),
        ));
        Foyer {
            clock,
            replica,
            kiosk,
            desk,
            display,
            printer,
        }
    }

    /// A foyer at nine on a Wednesday with a printer that has paper.
    pub fn open() -> Self {
        Foyer::new(
            MemoryReplica::new(),
            TicketOffer::PaperAndQr { paper_low: false },
            wednesday(9, 0),
        )
    }

    /// A foyer at nine on a Wednesday whose store is new: it still catches up.
    pub fn on_a_new_store() -> (Self, MemoryReplica) {
        let replica = MemoryReplica::new_store();
        let foyer = Foyer::new(
            replica.clone(),
            TicketOffer::PaperAndQr { paper_low: false },
            wednesday(9, 0),
        );
        (foyer, replica)
    }

    /// A visitor draws a ticket for `service` (a QR code) at the kiosk; its number.
    pub fn draw(&self, service: &str) -> String {
        self.kiosk
            .draw_ticket(
                self.clock.now(),
                &ServiceId::new(service),
                Wish::Qr,
                Language::De,
            )
            .unwrap()
            .ticket
            .number
    }

    /// The gateway books, for Wednesday at `hh:mm`, booking `code` of `service` and
    /// the further services `also`.
    pub fn book(&self, code: &str, service: &str, also: &[&str], (hh, mm): (u64, u64)) {
        let gateway = aufruf_office::GatewayService::new(office_on(
            aufruf_office::example_office().unwrap(),
            "gateway",
            Role::Gateway,
            self.replica.clone(),
        ));
        gateway
            .book(
                NaiveDate::from_ymd_opt(2026, 11, 25).unwrap(),
                aufruf_model::Appointment {
                    cancelled: false,
                    code: aufruf_model::BookingCode::new(code),
                    service: ServiceId::new(service),
                    due: wednesday(hh, mm),
                    also: also.iter().map(|s| ServiceId::new(*s)).collect(),
                },
            )
            .unwrap();
    }

    /// What the node's peer watcher does when the replica reports a change: every
    /// node's office reads it and pushes its views.
    pub fn replicate(&self) {
        let now = self.clock.now();
        self.kiosk.office().refresh(now);
        self.desk.office().refresh(now);
        self.display.office().refresh(now);
    }
}

#[derive(Debug)]
pub struct FakePrinter {
    pub offer: Mutex<TicketOffer>,
    pub printed: Mutex<Vec<TicketSlip>>,
}

impl FakePrinter {
    fn new(offer: TicketOffer) -> Arc<Self> {
        Arc::new(FakePrinter {
            offer: Mutex::new(offer),
            printed: Mutex::new(Vec::new()),
        })
    }
}

impl Printer for FakePrinter {
    fn offer(&self) -> TicketOffer {
        *self.offer.lock().unwrap()
    }

    fn print(&self, slip: &TicketSlip) -> Result<Option<PathBuf>, PrintError> {
        if let TicketOffer::QrOnly(_) = self.offer() {
            return Err(PrintError::NotReady(PrinterStatus::unreachable("gone")));
        }
        self.printed.lock().unwrap().push(slip.clone());
        Ok(None)
    }
}

/// Lets Slint catch up: timers due now, change handlers, conditional elements.
pub fn settle() {
    i_slint_backend_testing::mock_elapsed_time(Duration::ZERO);
}

/// Moves Slint's time on (timers fire, animations run).
pub fn elapse(d: Duration) {
    i_slint_backend_testing::mock_elapsed_time(d);
}

/// Presses the first control with this accessible label, as a finger would (a
/// disabled one does nothing).
pub fn press(root: &impl ElementRoot, label: &str) {
    settle();
    let found = ElementHandle::find_by_accessible_label(root, label).next();
    let Some(control) = found else {
        panic!("no control labelled {label:?}");
    };
    control.invoke_accessible_default_action();
    settle();
}

/// Where the middle of the first control with this accessible label is, left to
/// right, in logical pixels.
pub fn x_of(root: &impl ElementRoot, label: &str) -> f32 {
    settle();
    let Some(found) = ElementHandle::find_by_accessible_label(root, label).next() else {
        panic!("no control labelled {label:?}");
    };
    found.absolute_position().x + found.size().width / 2.0
}

/// Whether something with this accessible label is on screen.
pub fn shows(root: &impl ElementRoot, label: &str) -> bool {
    settle();
    ElementHandle::find_by_accessible_label(root, label)
        .next()
        .is_some()
}
