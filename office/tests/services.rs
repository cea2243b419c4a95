//! The role services over an in-memory replica: what a kiosk, a desk and the display
//! may do and see, told as the office's morning.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use std::path::PathBuf;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aufruf_hardware::{Language, PrintError, PrinterStatus, QrOnlyReason, TicketOffer, TicketSlip};
use aufruf_model::{
    Appointment, BookingCode, DeskId, NodeId, OfficeConfig, Role, ServiceId, Timestamp, node_id,
};
use aufruf_office::memory::MemoryReplica;
use aufruf_office::office_doc::{
    ConfigDelegation, ConfigPayload, ConfigRefusal, DELEGATED_PURPOSE, Revocation, SignedConfig,
    SignedDelegation, SignedRevocation,
};
use aufruf_office::testing::{admin_sign, office_service, test_keys};
use aufruf_office::views::{Delivery, PeerView, TicketState};
use aufruf_office::{
    DeskAction, DeskService, DisplayService, Documents, GatewayService, KioskService, OfficeError,
    OfficeService, Printer, Replication, ServiceError, Setup, Wish,
};
use chrono::NaiveDate;

/// Wednesday, 25 November 2026, at `hh:mm` office time.
fn wednesday(hh: u64, mm: u64) -> Timestamp {
    let start = aufruf_model::calendar::day_start(
        chrono_tz::Europe::Berlin,
        NaiveDate::from_ymd_opt(2026, 11, 25).unwrap(),
    );
    start + Duration::from_secs(hh * 3600 + mm * 60)
}

fn office_on<R: Replication>(
    config: OfficeConfig,
    node: &str,
    replica: R,
) -> Arc<OfficeService<R>> {
    office_service(config, &NodeId::new(node).unwrap(), role_of(node), replica)
}

/// The day documents a replica holds (not the office document).
fn day_documents(replica: &MemoryReplica) -> Vec<aufruf_sync_protocol::DocumentName> {
    replica
        .document_names()
        .into_iter()
        .filter(|n| *n != aufruf_sync_protocol::DocumentName::Office)
        .collect()
}

/// The role a test node has, by its name.
fn role_of(node: &str) -> Role {
    ["kiosk", "desk", "gateway", "display"]
        .into_iter()
        .find(|prefix| node.starts_with(prefix))
        .and_then(|prefix| prefix.parse().ok())
        .unwrap_or(Role::Display)
}

/// A kiosk, desk 1 and the display sharing one in-memory replica (as if perfectly
/// synchronised), each with its own service.
struct Foyer {
    kiosk: KioskService<MemoryReplica>,
    desk: DeskService<MemoryReplica>,
    display: DisplayService<MemoryReplica>,
    replica: MemoryReplica,
}

fn foyer(printer: Option<Arc<dyn Printer>>) -> Foyer {
    let config = aufruf_office::example_office().unwrap();
    let replica = MemoryReplica::new();
    let kiosk_office = office_on(config.clone(), "kiosk-1", replica.clone());
    let desk_office = office_on(config, "desk-1", replica.clone());
    Foyer {
        kiosk: KioskService::new(
            kiosk_office.clone(),
            printer,
            Some("https://termine.zeitz.de/".into()),
        ),
        desk: DeskService::new(desk_office.clone(), DeskId::new("desk-1"), wednesday(8, 0))
            .unwrap(),
        display: DisplayService::new(desk_office),
        replica,
    }
}

#[derive(Debug)]
struct FakePrinter {
    offer: Mutex<TicketOffer>,
    printed: Mutex<Vec<TicketSlip>>,
}

impl FakePrinter {
    fn new(offer: TicketOffer) -> Arc<Self> {
        Arc::new(Self {
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

#[test]
fn a_morning_at_the_counter_is_pushed_to_every_screen() {
    let printer = FakePrinter::new(TicketOffer::PaperAndQr { paper_low: false });
    let foyer = foyer(Some(printer.clone()));
    let mut display_feed = foyer.display.subscribe();
    let mut desk_feed = foyer.desk.subscribe();

    // Step 1: at 08:05 a citizen draws a paper ticket for a registration.
    let anmeldung = ServiceId::new("anmeldung");
    let issued = foyer
        .kiosk
        .draw_ticket(wednesday(8, 5), &anmeldung, Wish::Paper, Language::De)
        .unwrap();
    assert_eq!(issued.delivered_as, Delivery::Paper);
    assert_eq!(issued.ticket.status, TicketState::Waiting);
    assert_eq!(issued.ticket.ahead, None, "no desk is open yet");
    let url = issued.status_url.clone().unwrap();
    // The status address carries the ticket's unguessable token, not its id.
    assert_eq!(
        url,
        format!("https://termine.zeitz.de/t/{}", issued.status_token)
    );
    assert!(aufruf_office::day_doc::is_status_token(
        &issued.status_token
    ));
    assert!(!url.contains("kiosk-1"), "{url}");
    let by_token = foyer
        .display
        .office()
        .ticket_by_status_token(wednesday(8, 5), &issued.status_token)
        .unwrap()
        .unwrap();
    assert_eq!(by_token.number, issued.ticket.number);
    for unknown in ["0".repeat(32), "kiosk-1-1".to_owned(), String::new()] {
        assert!(
            foyer
                .display
                .office()
                .ticket_by_status_token(wednesday(8, 5), &unknown)
                .unwrap()
                .is_none()
        );
    }
    let slip = printer.printed.lock().unwrap()[0].clone();
    // No desk is open: the paper promises no place in line.
    assert_eq!(slip.visitors_ahead, None);
    assert_eq!(slip.waiting_text(), "Bitte warten Sie auf Ihren Aufruf");
    assert_eq!(
        (slip.number.as_str(), slip.status_url.as_deref()),
        (issued.ticket.number.as_str(), Some(url.as_str()))
    );

    // Step 2: desk 1 opens; the kiosk's view (pushed) counts one waiting.
    foyer.desk.office().refresh(wednesday(8, 6));
    assert_eq!(
        foyer.kiosk.view(wednesday(8, 6)).departments[0]
            .services
            .iter()
            .find(|s| s.service == anmeldung)
            .unwrap()
            .waiting,
        1
    );
    let view = foyer
        .desk
        .act(wednesday(8, 10), DeskAction::Open { services: vec![] })
        .unwrap();
    assert!(view.open);
    assert_eq!(view.next.len(), 1);
    assert_eq!(view.next[0].number, issued.ticket.number);

    // Step 3: the clerk calls the next visitor: the display is told without asking.
    display_feed.mark_unchanged();
    desk_feed.mark_unchanged();
    let view = foyer
        .desk
        .act(wednesday(8, 11), DeskAction::CallNext)
        .unwrap();
    assert_eq!(view.current.as_ref().unwrap().status, TicketState::Called);
    assert!(
        display_feed.has_changed().unwrap(),
        "the display was not pushed"
    );
    assert!(desk_feed.has_changed().unwrap(), "the desk was not pushed");
    let shown = display_feed.borrow_and_update().clone();
    assert_eq!(shown.calls.len(), 1);
    assert_eq!(shown.calls[0].number, issued.ticket.number);
    assert_eq!(shown.calls[0].desk, DeskId::new("desk-1"));

    // Step 4: serving and done; the call moves to the recent list.
    foyer
        .desk
        .act(wednesday(8, 12), DeskAction::Serving)
        .unwrap();
    let view = foyer.desk.act(wednesday(8, 20), DeskAction::Done).unwrap();
    assert!(view.current.is_none());
    let shown = foyer.display.view();
    assert!(shown.calls.is_empty());
    assert_eq!(shown.recent[0].number, issued.ticket.number);
    assert!(day_documents(&foyer.replica).len() == 1, "one day document");
}

/// A device whose store is new (a replaced disk) acts on no day before it has caught
/// up; its screens say why. Caught up, it issues above what the office holds of its
/// earlier store, under its new store's incarnation.
#[test]
fn a_device_on_a_new_store_issues_and_calls_nothing_until_it_has_caught_up() {
    let config = aufruf_office::example_office().unwrap();
    let anmeldung = ServiceId::new("anmeldung");
    // Step 1: the kiosk's first store issues two tickets; the desk has them.
    let first_store = MemoryReplica::new();
    let first = KioskService::new(
        office_on(config.clone(), "kiosk-1", first_store.clone()),
        None,
        None,
    );
    let earlier: Vec<_> = (0..2)
        .map(|m| {
            first
                .draw_ticket(wednesday(8, m), &anmeldung, Wish::Paper, Language::De)
                .unwrap()
                .ticket
        })
        .collect();
    let desk_store = MemoryReplica::new_store();
    desk_store.receive_from(&first_store);

    // Step 2: the kiosk's disk is replaced. The new store issues nothing yet, and the
    // kiosk's screen says why; so does a desk on a new store.
    let new_store = MemoryReplica::new_store();
    let kiosk = KioskService::new(
        office_on(config.clone(), "kiosk-1", new_store.clone()),
        None,
        None,
    );
    let refused = kiosk
        .draw_ticket(wednesday(8, 5), &anmeldung, Wish::Paper, Language::De)
        .unwrap_err();
    assert!(
        matches!(refused, ServiceError::Office(OfficeError::CatchingUp)),
        "{refused:?}"
    );
    let notice = kiosk.view(wednesday(8, 5)).catching_up.unwrap();
    assert!(notice.en.contains("catches up"), "{notice:?}");
    let desk = DeskService::new(
        office_on(config, "desk-1", desk_store.clone()),
        DeskId::new("desk-1"),
        wednesday(8, 5),
    )
    .unwrap();
    assert!(matches!(
        desk.act(wednesday(8, 5), DeskAction::Open { services: vec![] }),
        Err(ServiceError::Office(OfficeError::CatchingUp))
    ));
    let view = desk.view(wednesday(8, 5)).unwrap();
    assert!(view.catching_up.is_some());
    assert!(!view.open, "nothing was written");

    // Step 3: the kiosk catches up from the desk; it issues again, above its earlier
    // tickets, with a new id.
    new_store.receive_from(&desk_store);
    new_store.set_caught_up();
    assert!(kiosk.view(wednesday(8, 6)).catching_up.is_none());
    let next = kiosk
        .draw_ticket(wednesday(8, 6), &anmeldung, Wish::Paper, Language::De)
        .unwrap()
        .ticket;
    assert_eq!(next.id.node, node_id!("kiosk-1"));
    assert_eq!(next.id.seq, 3);
    assert_ne!(next.id.incarnation, earlier[0].id.incarnation);
    assert!(
        earlier.iter().all(|t| t.number < next.number),
        "{earlier:?} {next:?}"
    );
}

#[test]
fn a_desk_terminal_acts_for_its_own_desk_only() {
    let foyer = foyer(None);
    assert!(matches!(
        foyer.desk.check_desk(&DeskId::new("desk-2")),
        Err(ServiceError::NotThisDesk { .. })
    ));
    assert!(matches!(
        foyer.desk.check_desk(&DeskId::new("desk-99")),
        Err(ServiceError::Office(OfficeError::Action(_)))
    ));
    assert!(foyer.desk.check_desk(&DeskId::new("desk-1")).is_ok());
    assert!(
        DeskService::new(
            foyer.desk.office().clone(),
            DeskId::new("desk-99"),
            wednesday(8, 0)
        )
        .is_err()
    );
}

#[test]
fn the_desk_sees_whether_the_display_is_connected() {
    let foyer = foyer(None);
    foyer.desk.office().refresh(wednesday(9, 0));
    assert!(!foyer.desk.view(wednesday(9, 0)).unwrap().display_reachable);
    foyer.replica.set_peers(vec![PeerView {
        node: node_id!("display-1"),
        role: aufruf_sync_protocol::Role::Display,
    }]);
    assert!(foyer.desk.view(wednesday(9, 0)).unwrap().display_reachable);
}

#[test]
fn at_eleven_at_night_the_kiosk_names_the_next_opening_instead_of_a_ticket() {
    let foyer = foyer(None);
    let late = wednesday(23, 0);
    let refused = foyer
        .kiosk
        .draw_ticket(late, &ServiceId::new("reisepass"), Wish::Qr, Language::De)
        .unwrap_err();
    match &refused {
        ServiceError::Closed { service, reopens } => {
            assert_eq!(service, "Reisepass");
            assert_eq!(reopens.as_deref(), Some("öffnet morgen, 08:00"));
        }
        other => panic!("expected closed, got {other:?}"),
    }
    assert!(
        refused.to_string().contains("öffnet morgen, 08:00"),
        "{refused}"
    );
    // Nothing was written.
    assert!(day_documents(&foyer.replica).is_empty());
    // The start screen says so for each department.
    let view = foyer.kiosk.view(late);
    assert!(view.departments.iter().all(|d| !d.open));
    assert_eq!(
        view.departments[0].reopens.as_ref().unwrap().en,
        "opens tomorrow at 08:00"
    );
    // On Wednesday morning the Bürgerbüro is open, the day-care department is not.
    let morning = foyer.kiosk.view(wednesday(9, 0));
    assert!(morning.departments[0].open);
    assert!(!morning.departments[1].open);
    let kita = foyer
        .kiosk
        .draw_ticket(
            wednesday(9, 0),
            &ServiceId::new("kita-platz"),
            Wish::Qr,
            Language::De,
        )
        .unwrap_err();
    assert!(kita.to_string().contains("öffnet morgen, 09:00"), "{kita}");
}

/// Tickets drawn at `now` for `service` until the kiosk says no (at most 40).
fn draw_until_refused(
    kiosk: &KioskService<MemoryReplica>,
    now: Timestamp,
    service: &str,
) -> (usize, Option<ServiceError>) {
    for drawn in 0..40 {
        match kiosk.draw_ticket(now, &ServiceId::new(service), Wish::Qr, Language::De) {
            Ok(issued) => {
                // Called before closing (40 minutes away), as far as the estimate
                // can tell.
                let minutes = issued.ticket.estimate_minutes.unwrap();
                assert!(
                    minutes <= 40,
                    "ticket {drawn} waits about {minutes} minutes"
                );
            }
            Err(refused) => return (drawn, Some(refused)),
        }
    }
    (40, None)
}

#[test]
fn the_kiosk_stops_issuing_when_a_new_ticket_would_be_called_after_closing() {
    let foyer = foyer(None);
    foyer
        .desk
        .act(wednesday(11, 0), DeskAction::Open { services: vec![] })
        .unwrap();
    // Wednesday the Bürgerbüro closes at 12:00; one desk open; a passport takes
    // about 8 minutes.
    let now = wednesday(11, 20);
    let (drawn, refused) = draw_until_refused(&foyer.kiosk, now, "reisepass");
    assert!(
        (3..=6).contains(&drawn),
        "{drawn} tickets before the kiosk said no"
    );
    match refused.unwrap() {
        ServiceError::NoMoreToday {
            service,
            closes,
            de,
        } => {
            assert_eq!(service, "Reisepass");
            assert_eq!(closes, "12:00");
            assert_eq!(
                de,
                "Heute keine Wartemarken mehr für Reisepass — bitte buchen Sie online einen Termin"
            );
        }
        other => panic!("expected no more tickets today, got {other:?}"),
    }

    // A department that wants every walk-in seen keeps issuing.
    let text = include_str!("../../aufruf.toml").replacen(
        "refuse_walk_ins_past_closing = true",
        "refuse_walk_ins_past_closing = false",
        1,
    );
    let config = OfficeConfig::from_toml("aufruf.toml", &text).unwrap();
    assert!(!config.departments[0].refuse_walk_ins_past_closing);
    let replica = MemoryReplica::new();
    let kiosk = KioskService::new(
        office_on(config.clone(), "kiosk-1", replica.clone()),
        None,
        None,
    );
    DeskService::new(
        office_on(config, "desk-1", replica),
        DeskId::new("desk-1"),
        now,
    )
    .unwrap()
    .act(wednesday(11, 0), DeskAction::Open { services: vec![] })
    .unwrap();
    for _ in 0..10 {
        kiosk
            .draw_ticket(now, &ServiceId::new("reisepass"), Wish::Qr, Language::De)
            .unwrap();
    }
}

#[test]
fn a_booked_citizen_checks_in_from_an_hour_before_the_appointment() {
    let foyer = foyer(None);
    let gateway = GatewayService::new(office_on(
        aufruf_office::example_office().unwrap(),
        "gateway",
        foyer.replica.clone(),
    ));
    let date = NaiveDate::from_ymd_opt(2026, 11, 25).unwrap();
    gateway
        .book(
            date,
            Appointment {
                cancelled: false,
                code: BookingCode::new("ZT-4711"),
                service: ServiceId::new("reisepass"),
                due: wednesday(10, 30),
                also: Vec::new(),
            },
        )
        .unwrap();
    let early = foyer
        .kiosk
        .check_in(wednesday(9, 29), "zt-4711 ", Wish::Qr, Language::De)
        .unwrap_err();
    assert!(
        matches!(&early, ServiceError::TooEarly { opens } if opens == "09:30"),
        "{early:?}"
    );
    let issued = foyer
        .kiosk
        .check_in(wednesday(9, 30), "zt-4711 ", Wish::Qr, Language::De)
        .unwrap();
    assert_eq!(issued.ticket.appointment.as_deref(), Some("10:30"));
}

#[test]
fn out_of_paper_the_kiosk_hands_out_the_qr_code_and_says_why() {
    let printer = FakePrinter::new(TicketOffer::QrOnly(QrOnlyReason::PaperOut));
    let with_printer = foyer(Some(printer.clone()));
    let issued = with_printer
        .kiosk
        .draw_ticket(
            wednesday(8, 30),
            &ServiceId::new("anmeldung"),
            Wish::Paper,
            Language::En,
        )
        .unwrap();
    assert_eq!(issued.delivered_as, Delivery::Qr);
    assert_eq!(
        issued.print_problem.as_deref(),
        Some("The printer is out of paper. Please use the QR code.")
    );
    assert!(printer.printed.lock().unwrap().is_empty());
    // Without any printer the kiosk still issues, as QR.
    let bare = foyer(None);
    let issued = bare
        .kiosk
        .draw_ticket(
            wednesday(8, 30),
            &ServiceId::new("anmeldung"),
            Wish::Paper,
            Language::De,
        )
        .unwrap();
    assert_eq!(issued.delivered_as, Delivery::Qr);
}

#[test]
fn an_unknown_service_is_refused_by_name() {
    let foyer = foyer(None);
    let refused = foyer
        .kiosk
        .draw_ticket(
            wednesday(8, 30),
            &ServiceId::new("hundesteuer"),
            Wish::Qr,
            Language::De,
        )
        .unwrap_err();
    assert!(matches!(refused, ServiceError::UnknownService(ref s) if s == "hundesteuer"));
}

/// A replica whose disk flush waits until the test lets it go.
#[derive(Debug, Clone)]
struct SlowDisk {
    inner: MemoryReplica,
    entered: Arc<Mutex<Option<mpsc::Sender<()>>>>,
    release: Arc<Mutex<Option<mpsc::Receiver<()>>>>,
}

impl Documents for SlowDisk {
    fn change_durably(
        &mut self,
        name: &aufruf_sync_protocol::DocumentName,
        write: &mut dyn FnMut(
            &mut automerge::transaction::Transaction<'_>,
        ) -> Result<(), aufruf_office::day_doc::DayDocError>,
    ) -> Result<(), OfficeError> {
        let result = self.inner.change_durably(name, write);
        // The "flush": only the first of a day is slow (the node's certificate goes
        // into the office document at start).
        let day = *name != aufruf_sync_protocol::DocumentName::Office;
        if let Some(entered) = day.then(|| self.entered.lock().unwrap().take()).flatten() {
            entered.send(()).unwrap();
            let release = self.release.lock().unwrap().take().unwrap();
            release.recv().unwrap();
        }
        result
    }

    fn read_document<R>(
        &self,
        name: &aufruf_sync_protocol::DocumentName,
        read: impl FnOnce(&automerge::Automerge) -> R,
    ) -> Option<R> {
        self.inner.read_document(name, read)
    }

    fn incarnation(&self) -> aufruf_model::Incarnation {
        self.inner.incarnation()
    }

    fn catching_up(&self) -> bool {
        self.inner.catching_up()
    }
}

impl Replication for SlowDisk {
    fn peers(&self) -> Vec<PeerView> {
        self.inner.peers()
    }

    fn document_names(&self) -> Vec<aufruf_sync_protocol::DocumentName> {
        self.inner.document_names()
    }

    fn retire_days_before(
        &self,
        horizon: &aufruf_sync_protocol::DocumentName,
    ) -> Result<(), OfficeError> {
        self.inner.retire_days_before(horizon)
    }

    fn accept_days_until(&self, last: &aufruf_sync_protocol::DocumentName) {
        self.inner.accept_days_until(last);
    }

    fn peer_clocks(&self) -> Vec<aufruf_office::PeerClock> {
        self.inner.peer_clocks()
    }
}

#[test]
#[allow(clippy::disallowed_methods)] // the clerk and the screens act on their own threads
fn reading_the_screens_never_waits_behind_a_disk_flush() {
    let (entered_tx, entered) = mpsc::channel();
    let (release, release_rx) = mpsc::channel();
    let disk = SlowDisk {
        inner: MemoryReplica::new(),
        entered: Arc::new(Mutex::new(Some(entered_tx))),
        release: Arc::new(Mutex::new(Some(release_rx))),
    };
    let office = office_on(aufruf_office::example_office().unwrap(), "desk-1", disk);
    let desk = DeskService::new(office.clone(), DeskId::new("desk-1"), wednesday(8, 0)).unwrap();
    let display = DisplayService::new(office.clone());
    office.refresh(wednesday(8, 0));

    // Step 1: the clerk opens the desk; the disk is slow to confirm.
    let acting = std::thread::spawn({
        let desk = desk.clone();
        move || desk.act(wednesday(8, 1), DeskAction::Open { services: vec![] })
    });
    entered.recv_timeout(Duration::from_secs(10)).unwrap();

    // Step 2: meanwhile the display and the desk screen read their views at once.
    let (read_tx, read_rx) = mpsc::channel();
    std::thread::spawn(move || {
        let shown = display.view();
        let desk_shown = desk.view(wednesday(8, 1)).map(|v| v.open);
        read_tx.send((shown.calls.len(), desk_shown)).unwrap();
    });
    let (calls, desk_open) = read_rx
        .recv_timeout(Duration::from_secs(10))
        .expect("reading a view waited behind the flush");
    assert_eq!(calls, 0);
    // The desk is not shown open before its opening is durable.
    assert!(!desk_open.unwrap());

    // Step 3: the flush completes; only now is the desk shown open.
    release.send(()).unwrap();
    let view = acting.join().unwrap().unwrap();
    assert!(view.open);
}

/// Counts the calls the service reports as arrived from elsewhere.
#[derive(Debug, Default)]
struct CallCounter(Mutex<Vec<Duration>>);

impl aufruf_office::Observer for CallCounter {
    fn call_arrived(&self, latency: Duration) {
        self.0.lock().unwrap().push(latency);
    }
}

#[test]
fn a_call_from_another_desk_is_counted_once_and_old_calls_read_at_start_not_at_all() {
    let config = aufruf_office::example_office().unwrap();
    let replica = MemoryReplica::new();
    let watcher = |counter: &Arc<CallCounter>| {
        Arc::new(OfficeService::new(
            config.clone(),
            Setup {
                office: "zeitz".parse().unwrap(),
                node: node_id!("display-1"),
                retention_days: 7,
            },
            replica.clone(),
            counter.clone(),
            test_keys(&node_id!("display-1"), Role::Display),
        ))
    };
    let kiosk = KioskService::new(
        office_on(config.clone(), "kiosk-1", replica.clone()),
        None,
        None,
    );
    let desk = DeskService::new(
        office_on(config.clone(), "desk-1", replica.clone()),
        DeskId::new("desk-1"),
        wednesday(8, 0),
    )
    .unwrap();
    let counter = Arc::new(CallCounter::default());
    let display = watcher(&counter);
    display.refresh(wednesday(8, 0));

    // Step 1: a visitor is called at desk 1; the display's replica sees it 2 s later.
    let anmeldung = ServiceId::new("anmeldung");
    kiosk
        .draw_ticket(wednesday(8, 1), &anmeldung, Wish::Qr, Language::De)
        .unwrap();
    desk.act(wednesday(8, 1), DeskAction::Open { services: vec![] })
        .unwrap();
    desk.act(wednesday(8, 2), DeskAction::CallNext).unwrap();
    display.refresh(wednesday(8, 2) + Duration::from_secs(2));
    display.refresh(wednesday(8, 3));
    assert_eq!(*counter.0.lock().unwrap(), vec![Duration::from_secs(2)]);

    // Step 2: a display started later reads the day whole: that call is no arrival.
    let late_counter = Arc::new(CallCounter::default());
    let late = watcher(&late_counter);
    late.refresh(wednesday(9, 0));
    assert!(late_counter.0.lock().unwrap().is_empty());
}

// ---- the office's configuration, published by its administrator ----

/// The example office with one more service, Wohngeld (prefix W), in the Bürgerbüro.
fn example_with_wohngeld() -> String {
    let mut text = aufruf_office::EXAMPLE.to_owned();
    text.push_str(
        "\n[[services]]\nid = \"wohngeld\"\ndepartment = \"buergerbuero\"\n\
         name = { de = \"Wohngeld\", en = \"Housing benefit\" }\nprefix = \"W\"\n\
         expected_minutes = 10\n",
    );
    text
}

fn signed(revision: u64, format: u32, office: &str, text: &str) -> SignedConfig {
    let payload = ConfigPayload {
        format,
        revision,
        office: office.into(),
        text: text.into(),
    };
    SignedConfig::new(&payload, admin_sign).unwrap()
}

fn kiosk_offers(kiosk: &KioskService<MemoryReplica>, now: Timestamp, service: &str) -> bool {
    kiosk
        .view(now)
        .departments
        .iter()
        .flat_map(|d| d.services.iter())
        .any(|s| s.service.as_str() == service)
}

#[test]
fn a_service_the_admin_adds_appears_on_every_kiosk_without_a_restart() {
    let config = aufruf_office::example_office().unwrap();
    let at_kiosk = MemoryReplica::new();
    let at_gateway = MemoryReplica::new();
    let kiosk = KioskService::new(
        office_on(config.clone(), "kiosk-1", at_kiosk.clone()),
        None,
        None,
    );
    let gateway = office_on(config, "gateway", at_gateway.clone());
    let now = wednesday(9, 0);
    assert!(!kiosk_offers(&kiosk, now, "wohngeld"));
    assert!(matches!(
        kiosk.draw_ticket(now, &ServiceId::new("wohngeld"), Wish::Qr, Language::De),
        Err(ServiceError::UnknownService(_))
    ));
    assert_eq!(kiosk.office().config_status().revision, 0);

    // The admin publishes at the gateway; it is in force there at once…
    let revision = gateway
        .publish_config(now, &signed(1, 1, "zeitz", &example_with_wohngeld()))
        .unwrap();
    assert_eq!(revision, 1);
    assert!(
        gateway
            .config()
            .service(&ServiceId::new("wohngeld"))
            .is_some()
    );
    // …and at the kiosk as soon as the change arrives, pushed to its subscribers.
    let changes = kiosk.office().subscribe_config();
    at_kiosk.receive_from(&at_gateway);
    kiosk.office().refresh(now);
    assert!(changes.has_changed().unwrap());
    assert!(kiosk_offers(&kiosk, now, "wohngeld"));
    let ticket = kiosk
        .draw_ticket(now, &ServiceId::new("wohngeld"), Wish::Qr, Language::De)
        .unwrap();
    assert_eq!(ticket.ticket.number.chars().next(), Some('W'));
    assert_eq!(kiosk.office().config_status().revision, 1);

    // A device starting later takes the published configuration from its replica.
    let late = office_on(
        aufruf_office::example_office().unwrap(),
        "kiosk-2",
        at_kiosk.clone(),
    );
    assert_eq!(late.config_status().revision, 1);
    assert!(late.config().service(&ServiceId::new("wohngeld")).is_some());
}

fn delegation(office: &str, delegate: &str, purpose: &str) -> SignedDelegation {
    SignedDelegation::new(
        &ConfigDelegation {
            office: office.into(),
            delegate: NodeId::new(delegate).unwrap(),
            purpose: purpose.into(),
        },
        admin_sign,
    )
    .unwrap()
}

/// The gateway's admin pages publish with the gateway's own key, on the
/// administrator's signed word; no other node, and no word the administrator did not
/// sign, publishes anything.
#[test]
fn a_gateway_the_administrator_delegated_to_publishes_and_nobody_else_does() {
    let config = aufruf_office::example_office().unwrap();
    let at_gateway = MemoryReplica::new();
    let at_kiosk = MemoryReplica::new();
    let gateway = office_on(config.clone(), "gateway", at_gateway.clone());
    let kiosk = office_on(config, "kiosk-1", at_kiosk.clone());
    let now = wednesday(9, 0);
    let word = delegation("zeitz", "gateway", DELEGATED_PURPOSE);
    assert_eq!(gateway.published_text(), None, "the device's own file");

    let revision = gateway
        .publish_config_as_delegate(now, &example_with_wohngeld(), &word)
        .unwrap();
    assert_eq!(revision, 1);
    assert_eq!(gateway.published_text(), Some((1, example_with_wohngeld())));
    at_kiosk.receive_from(&at_gateway);
    kiosk.refresh(now);
    assert_eq!(kiosk.config_status().revision, 1);
    assert!(
        kiosk
            .config()
            .service(&ServiceId::new("wohngeld"))
            .is_some()
    );
    // The next publication takes the next revision.
    assert_eq!(
        gateway
            .publish_config_as_delegate(now, aufruf_office::EXAMPLE, &word)
            .unwrap(),
        2
    );

    let refused = |office: &Arc<OfficeService<MemoryReplica>>, word: &SignedDelegation| match office
        .publish_config_as_delegate(now, &example_with_wohngeld(), word)
    {
        Err(ServiceError::ConfigRefused(refusal)) => refusal,
        other => panic!("expected a refusal, got {other:?}"),
    };
    // The kiosk holding the gateway's word: its key is not the gateway's.
    assert_eq!(refused(&kiosk, &word), ConfigRefusal::NotDelegated);
    // A word for the kiosk: the administrator may sign it, but a kiosk's
    // certificate never publishes.
    assert_eq!(
        refused(&kiosk, &delegation("zeitz", "kiosk-1", DELEGATED_PURPOSE)),
        ConfigRefusal::NotDelegated
    );
    // A word the administrator did not sign, for another office, or for something else.
    let mut forged = word.clone();
    forged.signature = "00".repeat(8);
    assert_eq!(refused(&gateway, &forged), ConfigRefusal::NotDelegated);
    let mut altered = word.clone();
    altered.payload = altered.payload.replace("gateway", "gateway-2");
    assert_eq!(refused(&gateway, &altered), ConfigRefusal::NotDelegated);
    assert_eq!(
        refused(
            &gateway,
            &delegation("naumburg", "gateway", DELEGATED_PURPOSE)
        ),
        ConfigRefusal::NotDelegated
    );
    assert_eq!(
        refused(&gateway, &delegation("zeitz", "gateway", "revoke nodes")),
        ConfigRefusal::NotDelegated
    );
    // A configuration the gateway signed, altered on its way: its signature fails.
    let payload = ConfigPayload {
        format: 1,
        revision: 9,
        office: "zeitz".into(),
        text: aufruf_office::EXAMPLE.into(),
    };
    let mut tampered = SignedConfig::by_delegate(
        &payload,
        &aufruf_office::testing::TestSigner::new(&NodeId::new("gateway").unwrap(), Role::Gateway),
        &word,
    )
    .unwrap();
    tampered.payload = tampered
        .payload
        .replace("\"revision\":9", "\"revision\":10");
    assert!(matches!(
        gateway.publish_config(now, &tampered),
        Err(ServiceError::ConfigRefused(ConfigRefusal::NotSigned))
    ));

    // Revoked, the gateway's word counts no more.
    let revocation = SignedRevocation::new(
        &Revocation {
            office: "zeitz".into(),
            node: NodeId::new("gateway").unwrap(),
            from_ms: 0,
            documents: None,
        },
        admin_sign,
    )
    .unwrap();
    gateway.revoke(now, &revocation).unwrap();
    assert_eq!(
        refused(&gateway, &word),
        ConfigRefusal::DelegateRevoked(NodeId::new("gateway").unwrap())
    );
}

/// Any enrolled key can overwrite or delete the office document's `config` key; a
/// device that starts afterwards still finds what the administrator published.
#[test]
fn a_configuration_overwritten_or_deleted_by_a_stolen_key_still_reaches_a_device_started_later() {
    let config = aufruf_office::example_office().unwrap();
    let replica = MemoryReplica::new();
    let office = office_on(config.clone(), "kiosk-1", replica.clone());
    office
        .publish_config(
            wednesday(9, 0),
            &signed(1, 1, "zeitz", &example_with_wohngeld()),
        )
        .unwrap();
    let mut forged = signed(2, 1, "zeitz", aufruf_office::EXAMPLE);
    forged.signature = "00".repeat(64);
    aufruf_office::office_doc::keep_config(&mut replica.clone(), &forged).unwrap();
    let current = |r: &MemoryReplica| {
        r.read_document(&aufruf_sync_protocol::DocumentName::Office, |doc| {
            automerge::ReadDoc::get_all(doc, automerge::ROOT, "config")
                .unwrap()
                .len()
        })
    };
    assert_eq!(current(&replica), Some(1), "the forgery replaced the entry");
    replica
        .clone()
        .change_durably(&aufruf_sync_protocol::DocumentName::Office, &mut |tx| {
            automerge::transaction::Transactable::delete(tx, automerge::ROOT, "config")?;
            Ok(())
        })
        .unwrap();
    assert_eq!(current(&replica), Some(0), "and then the key is gone");

    let later = MemoryReplica::new();
    later.receive_from(&replica);
    let device = office_on(config, "kiosk-2", later);
    assert_eq!(device.config_status().revision, 1);
    assert!(
        device
            .config()
            .service(&ServiceId::new("wohngeld"))
            .is_some()
    );
}

#[test]
fn configurations_the_office_must_not_take_are_refused_and_the_last_good_one_stays() {
    let config = aufruf_office::example_office().unwrap();
    let replica = MemoryReplica::new();
    let office = office_on(config.clone(), "gateway", replica.clone());
    let now = wednesday(9, 0);
    office
        .publish_config(now, &signed(3, 1, "zeitz", aufruf_office::EXAMPLE))
        .unwrap();
    let refused = |signed: SignedConfig| match office.publish_config(now, &signed) {
        Err(ServiceError::ConfigRefused(refusal)) => refusal,
        other => panic!("expected a refusal, got {other:?}"),
    };

    let mut forged = signed(4, 1, "zeitz", &example_with_wohngeld());
    forged.signature = "00".repeat(8);
    assert_eq!(refused(forged.clone()), ConfigRefusal::NotSigned);
    let mut tampered = signed(4, 1, "zeitz", aufruf_office::EXAMPLE);
    tampered.payload = tampered.payload.replace("Platz 1", "Platz 9");
    assert_eq!(refused(tampered), ConfigRefusal::NotSigned);
    assert!(matches!(
        refused(signed(4, 1, "halle", aufruf_office::EXAMPLE)),
        ConfigRefusal::OtherOffice { .. }
    ));
    assert_eq!(
        refused(signed(4, 2, "zeitz", aufruf_office::EXAMPLE)),
        ConfigRefusal::NewerFormat { format: 2 }
    );
    assert_eq!(
        refused(signed(2, 1, "zeitz", &example_with_wohngeld())),
        ConfigRefusal::NotNewer {
            revision: 2,
            current: 3
        }
    );
    // The same precise errors as a file: field, and what is wrong.
    let broken = aufruf_office::EXAMPLE.replace("department = \"kita\"", "department = \"kinder\"");
    let ConfigRefusal::Invalid(error) = refused(signed(4, 1, "zeitz", &broken)) else {
        panic!("expected an invalid configuration");
    };
    assert_eq!(error.file, "office configuration revision 4");
    assert!(
        error.to_string().contains("unknown department \"kinder\""),
        "{error}"
    );
    let huge = format!("{}\n# {}", aufruf_office::EXAMPLE, "x".repeat(300 * 1024));
    assert_eq!(
        refused(signed(4, 1, "zeitz", &huge)),
        ConfigRefusal::TooLarge
    );

    // A peer writing straight into the office document gets no further: the entry is
    // refused, reported, and the configuration in force stays.
    aufruf_office::office_doc::keep_config(&mut replica.clone(), &forged).unwrap();
    office.refresh(now);
    let status = office.config_status();
    assert_eq!(status.revision, 3);
    assert!(status.refused.unwrap().contains("not signed"));
    assert!(
        office
            .config()
            .service(&ServiceId::new("wohngeld"))
            .is_none()
    );
    assert_eq!(*office.config(), config);
}

#[test]
fn two_admins_publishing_at_once_leave_every_device_on_the_same_configuration() {
    let config = aufruf_office::example_office().unwrap();
    let (left, right) = (MemoryReplica::new(), MemoryReplica::new());
    let a = office_on(config.clone(), "kiosk-1", left.clone());
    let b = office_on(config, "desk-1", right.clone());
    let now = wednesday(9, 0);
    a.publish_config(now, &signed(1, 1, "zeitz", aufruf_office::EXAMPLE))
        .unwrap();
    b.publish_config(now, &signed(1, 1, "zeitz", &example_with_wohngeld()))
        .unwrap();
    left.receive_from(&right);
    right.receive_from(&left);
    a.refresh(now);
    b.refresh(now);
    assert_eq!(a.config(), b.config());
    assert_eq!(a.config_status(), b.config_status());
    assert_eq!(a.config_status().revision, 1);
}

#[test]
fn a_day_past_the_retention_that_cannot_be_read_is_deleted_and_reported_not_kept() {
    let config = aufruf_office::example_office()
        .unwrap()
        .open_around_the_clock();
    let replica = MemoryReplica::new();
    let office = office_on(config.clone(), "kiosk-1", replica.clone());
    let kiosk = KioskService::new(office.clone(), None, None);
    let ten_days_ago = wednesday(9, 0) - Duration::from_secs(10 * 24 * 3600);
    let eleven_days_ago = ten_days_ago - Duration::from_secs(24 * 3600);
    for when in [ten_days_ago, eleven_days_ago] {
        kiosk
            .draw_ticket(when, &ServiceId::new("anmeldung"), Wish::Qr, Language::De)
            .unwrap();
    }
    // One of the old days was written by a newer version: this one cannot read it.
    let broken = aufruf_office::document_name(office.today(eleven_days_ago)).unwrap();
    replica
        .clone()
        .change_durably(&broken, &mut |tx| {
            use automerge::transaction::Transactable;
            let statement = aufruf_office::day_doc::schema_statement(&broken.to_string(), 99);
            let signature = admin_sign(statement.as_bytes()).unwrap();
            let hex: String = signature.iter().map(|b| format!("{b:02x}")).collect();
            tx.put(automerge::ROOT, "schema", format!("99:{hex}"))?;
            Ok(())
        })
        .unwrap();
    let fresh = office_on(config, "kiosk-1", replica.clone());
    let retired = fresh.retire_expired(wednesday(9, 0)).unwrap();
    assert_eq!(retired.deleted.len(), 2);
    assert_eq!(retired.unreadable.len(), 1);
    assert_eq!(retired.unreadable[0].0, fresh.today(eleven_days_ago));
    assert!(
        retired.unreadable[0].1.contains("layout version 99"),
        "{:?}",
        retired.unreadable
    );
    // Both days are gone; only the readable one left statistics.
    assert!(
        replica
            .document_names()
            .iter()
            .all(|n| *n == aufruf_sync_protocol::DocumentName::Office)
    );
    assert!(fresh.statistics(fresh.today(ten_days_ago)).is_some());
    assert!(fresh.statistics(fresh.today(eleven_days_ago)).is_none());
}

#[test]
fn without_a_public_address_the_kiosk_prints_no_link_and_hands_out_paper() {
    let config = aufruf_office::example_office()
        .unwrap()
        .open_around_the_clock();
    let replica = MemoryReplica::new();
    let printer = FakePrinter::new(TicketOffer::PaperAndQr { paper_low: false });
    let kiosk = KioskService::new(
        office_on(config.clone(), "kiosk-1", replica.clone()),
        Some(printer.clone()),
        None,
    );
    let now = wednesday(9, 0);
    // Asked for a QR code, there is none to give: the ticket comes on paper.
    let issued = kiosk
        .draw_ticket(now, &ServiceId::new("fundsachen"), Wish::Qr, Language::De)
        .unwrap();
    assert_eq!(issued.delivered_as, Delivery::Paper);
    assert_eq!(issued.status_url, None);
    let slip = printer.printed.lock().unwrap()[0].clone();
    assert_eq!(slip.status_url, None, "no code on the paper either");
    // Without a printer as well, the number is shown on screen.
    let bare = KioskService::new(office_on(config, "kiosk-2", replica), None, None);
    let issued = bare
        .draw_ticket(now, &ServiceId::new("fundsachen"), Wish::Qr, Language::De)
        .unwrap();
    assert_eq!(issued.delivered_as, Delivery::Screen);
    assert!(issued.print_problem.is_some());
}

#[test]
fn a_node_whose_clock_its_peers_disagree_with_issues_and_calls_nothing_until_it_is_right() {
    let foyer = foyer(None);
    let anmeldung = ServiceId::new("anmeldung");
    let now = wednesday(9, 0);
    foyer
        .desk
        .act(now, DeskAction::Open { services: vec![] })
        .unwrap();
    foyer
        .kiosk
        .draw_ticket(now, &anmeldung, Wish::Qr, Language::De)
        .unwrap();
    foyer.desk.act(now, DeskAction::CallNext).unwrap();
    foyer
        .kiosk
        .draw_ticket(now, &anmeldung, Wish::Qr, Language::De)
        .unwrap();

    // Step 1: three peers say this node's clock is two hours ahead of theirs; alone
    // it had trusted itself.
    assert!(!foyer.kiosk.office().clock_check().is_wrong());
    let behind = |ms: i64| {
        ["desk-2", "display-1", "gateway"]
            .into_iter()
            .map(|n| aufruf_office::PeerClock {
                node: NodeId::new(n).unwrap(),
                ahead_ms: ms,
            })
            .collect::<Vec<_>>()
    };
    foyer.replica.set_peer_clocks(behind(-2 * 3_600_000));
    let check = foyer.kiosk.office().clock_check();
    assert!(check.is_wrong());
    assert_eq!(check.ahead_ms, Some(2 * 3_600_000));

    // Step 2: no ticket, no check-in, no call — and it says why.
    let refused = foyer
        .kiosk
        .draw_ticket(now, &anmeldung, Wish::Qr, Language::De)
        .unwrap_err();
    assert!(matches!(refused, ServiceError::ClockWrong(_)), "{refused}");
    assert!(
        refused.to_string().contains("2 h ahead of its peers'"),
        "{refused}"
    );
    assert!(matches!(
        foyer.kiosk.check_in(now, "B-1", Wish::Qr, Language::De),
        Err(ServiceError::ClockWrong(_))
    ));
    for call in [DeskAction::Recall, DeskAction::CallNext] {
        assert!(matches!(
            foyer.desk.act(now, call),
            Err(ServiceError::ClockWrong(_))
        ));
    }
    // The visitor at the desk can still be seen to the end.
    foyer.desk.act(now, DeskAction::Done).unwrap();
    assert!(matches!(
        foyer.desk.act(now, DeskAction::CallNext),
        Err(ServiceError::ClockWrong(_))
    ));

    // Step 3: within the bound again, the desk calls the next visitor.
    foyer.replica.set_peer_clocks(behind(-60_000));
    let view = foyer.desk.act(now, DeskAction::CallNext).unwrap();
    assert!(view.current.is_some());
}

#[test]
fn days_beyond_the_booking_horizon_are_not_taken_from_peers() {
    let config = aufruf_office::example_office().unwrap();
    let replica = MemoryReplica::new();
    let office = office_on(config.clone(), "desk-1", replica.clone());
    office.retire_expired(wednesday(9, 0)).unwrap();
    // The horizon is 90 days, and a day more for clocks either side of midnight.
    let last = NaiveDate::from_ymd_opt(2026, 11, 25).unwrap() + chrono::Days::new(91);
    assert_eq!(
        replica.last_day_accepted(),
        Some(aufruf_office::document_name(last).unwrap())
    );
    // A peer that has a day beyond it keeps it to itself.
    let peer = MemoryReplica::new();
    let gateway = GatewayService::new(office_on(config, "gateway", peer.clone()));
    for (n, date) in [last, last + chrono::Days::new(1)].into_iter().enumerate() {
        let appointment = Appointment {
            cancelled: false,
            code: BookingCode::new(format!("B-{n}")),
            service: ServiceId::new("anmeldung"),
            due: wednesday(9, 0),
            also: Vec::new(),
        };
        gateway.book(date, appointment).unwrap();
    }
    replica.receive_from(&peer);
    assert_eq!(
        day_documents(&replica),
        vec![aufruf_office::document_name(last).unwrap()]
    );
}

// ---- statistics ----

/// A morning whose figures are known: two walk-ins for Anmeldung at desk-1, one
/// served, one who does not come; a booked citizen for Personalausweis checked in and
/// served. The day's statistics say so while the day is held, and the same once the
/// day is deleted after the retention.
#[test]
fn a_days_statistics_are_the_figures_of_the_day_and_outlive_it() {
    let f = foyer(None);
    let anmeldung = ServiceId::new("anmeldung");
    let ausweis = ServiceId::new("personalausweis");
    f.desk
        .act(wednesday(8, 0), DeskAction::Open { services: vec![] })
        .unwrap();
    let first = f
        .kiosk
        .draw_ticket(wednesday(8, 0), &anmeldung, Wish::Qr, Language::De)
        .unwrap();
    let second = f
        .kiosk
        .draw_ticket(wednesday(8, 1), &anmeldung, Wish::Qr, Language::De)
        .unwrap();
    // What the two tickets told: nobody ahead, then the first one's usual 6 minutes.
    assert_eq!(first.ticket.estimate_minutes, Some(0));
    assert_eq!(second.ticket.estimate_minutes, Some(6));

    let act = |h, m, a| f.desk.act(wednesday(h, m), a).unwrap();
    act(8, 2, DeskAction::CallNext); // the first: waited 2 minutes
    act(8, 2, DeskAction::Serving);
    act(8, 10, DeskAction::Done); // 8 minutes at the desk
    act(8, 10, DeskAction::CallNext); // the second: waited 9 minutes
    act(8, 12, DeskAction::NoShow);

    let stats = f
        .desk
        .office()
        .day_statistics(NaiveDate::from_ymd_opt(2026, 11, 25).unwrap())
        .unwrap();
    let a = &stats.services[&anmeldung];
    assert_eq!(
        (a.walk_ins, a.appointments, a.called, a.served, a.no_shows),
        (2, 0, 2, 1, 1)
    );
    assert_eq!(a.mean_wait(), Some(Duration::from_secs(330)));
    assert_eq!(a.waits.percentile(0.9), Some(Duration::from_secs(10 * 60)));
    assert_eq!(a.mean_handling(), Some(Duration::from_secs(8 * 60)));
    assert_eq!(
        a.handling.percentile(0.9),
        Some(Duration::from_secs(9 * 60))
    );
    // Told 0 and 6 minutes, waited 2 and 9: off by 2 and 3 minutes.
    assert_eq!(a.estimated, 2);
    assert_eq!(a.mean_estimate_error(), Some(Duration::from_secs(150)));
    let d = &stats.desks[&DeskId::new("desk-1")];
    assert_eq!((d.served, d.no_shows), (1, 1));
    assert!(!stats.services.contains_key(&ausweis));

    // Eight days on, the day is deleted; its statistics are what they were.
    let later = wednesday(9, 0) + Duration::from_secs(8 * 24 * 3600);
    let retired = f.desk.office().retire_expired(later).unwrap();
    assert_eq!(retired.deleted.len(), 1);
    assert_eq!(
        f.desk.office().day_statistics(stats.date),
        Some(stats.clone())
    );
    assert_eq!(f.desk.office().statistics(stats.date), Some(stats));
}

/// A display cut off for the afternoon comes back after the others deleted the day
/// and kept its statistics; it retires its part of the day then, and the fuller count
/// stays.
#[test]
fn a_node_that_held_less_of_a_day_does_not_replace_its_fuller_statistics() {
    let config = aufruf_office::example_office().unwrap();
    let full = MemoryReplica::new();
    let partial = MemoryReplica::new();
    let kiosk = KioskService::new(
        office_on(config.clone(), "kiosk-1", full.clone()),
        None,
        None,
    );
    let anmeldung = ServiceId::new("anmeldung");
    kiosk
        .draw_ticket(wednesday(8, 0), &anmeldung, Wish::Qr, Language::De)
        .unwrap();
    partial.receive_from(&full);
    kiosk
        .draw_ticket(wednesday(8, 5), &anmeldung, Wish::Qr, Language::De)
        .unwrap();
    let later = wednesday(9, 0) + Duration::from_secs(8 * 24 * 3600);
    let date = NaiveDate::from_ymd_opt(2026, 11, 25).unwrap();
    let desk = office_on(config.clone(), "desk-1", full.clone());
    desk.retire_expired(later).unwrap();
    assert_eq!(
        desk.statistics(date).unwrap().services[&anmeldung].walk_ins,
        2
    );

    partial.receive_from(&full); // the office document; the day is gone there
    let display = office_on(config, "display-1", partial.clone());
    let retired = display.retire_expired(later).unwrap();
    assert_eq!(retired.deleted, vec![date], "its own copy of the day goes");
    assert_eq!(
        display.statistics(date).unwrap().services[&anmeldung].walk_ins,
        2
    );
    full.receive_from(&partial);
    assert_eq!(
        desk.statistics(date).unwrap().services[&anmeldung].walk_ins,
        2
    );
}

/// The QR ticket pages' feeds read one shared board of today's tickets: the same
/// until a ticket changes (at any node) or 15 seconds pass.
#[test]
fn the_ticket_board_is_shared_until_a_ticket_changes_or_time_passes() {
    let f = foyer(None);
    let anmeldung = ServiceId::new("anmeldung");
    f.desk
        .act(wednesday(8, 0), DeskAction::Open { services: vec![] })
        .unwrap();
    let first = f
        .kiosk
        .draw_ticket(wednesday(8, 0), &anmeldung, Wish::Qr, Language::De)
        .unwrap();
    f.kiosk
        .draw_ticket(wednesday(8, 0), &anmeldung, Wish::Qr, Language::De)
        .unwrap();
    let reader = f.display.office();
    let t = wednesday(8, 1);
    let board = reader.ticket_board(t).unwrap();
    assert_eq!(board.len(), 2);
    assert!(Arc::ptr_eq(
        &board,
        &reader.ticket_board(t + Duration::from_secs(14)).unwrap()
    ));
    assert!(!Arc::ptr_eq(
        &board,
        &reader.ticket_board(t + Duration::from_secs(15)).unwrap()
    ));
    // The desk (another service on the replica) calls: the next read sees it.
    let t = wednesday(8, 2);
    let before = reader.ticket_board(t).unwrap();
    f.desk.act(t, DeskAction::CallNext).unwrap();
    let after = reader.ticket_board(t).unwrap();
    assert!(!Arc::ptr_eq(&before, &after));
    let id = reader
        .ticket_of_status_token(t, &first.status_token)
        .unwrap();
    assert_eq!(after[&id].status, aufruf_office::views::TicketState::Called);
    assert_eq!(
        reader.ticket_of_status_token(t, "0".repeat(32).as_str()),
        None
    );

    // Subscribed, the board is pushed with every change (the display shares the
    // desk's office service here).
    let mut pushed = reader.subscribe_ticket_board(t).unwrap();
    pushed.mark_unchanged();
    f.desk.act(t, DeskAction::Serving).unwrap();
    assert!(pushed.has_changed().unwrap());
    assert_eq!(
        pushed.borrow_and_update()[&id].status,
        aufruf_office::views::TicketState::Serving
    );
}

#[test]
fn a_day_starts_from_what_the_same_weekday_of_past_weeks_taught() {
    let config = aufruf_office::example_office()
        .unwrap()
        .open_around_the_clock();
    let replica = MemoryReplica::new();
    let office = office_on(config.clone(), "kiosk-1", replica.clone());
    let desk_office = office_on(config, "desk-1", replica);
    let kiosk = KioskService::new(office.clone(), None, None);
    let anmeldung = ServiceId::new("anmeldung");
    let week_ago = |t: Timestamp| t - Duration::from_secs(7 * 24 * 3600);
    let draw = |at: Timestamp| {
        kiosk
            .draw_ticket(at, &anmeldung, Wish::Qr, Language::De)
            .unwrap()
            .ticket
    };

    // Step 1: last Wednesday at nine a registration (configured: 6 minutes) took 20.
    let desk = DeskService::new(
        desk_office.clone(),
        DeskId::new("desk-1"),
        week_ago(wednesday(8, 0)),
    )
    .unwrap();
    let open = DeskAction::Open { services: vec![] };
    desk.act(week_ago(wednesday(8, 55)), open.clone()).unwrap();
    draw(week_ago(wednesday(9, 0)));
    for (minute, action) in [
        (1, DeskAction::CallNext),
        (1, DeskAction::Serving),
        (21, DeskAction::Done),
    ] {
        desk.act(week_ago(wednesday(9, minute)), action).unwrap();
    }

    // Step 2: this Wednesday, before the day learned from last week, the second
    // visitor is told the configured 6 minutes.
    desk.act(wednesday(8, 55), open).unwrap();
    draw(wednesday(9, 0));
    assert_eq!(draw(wednesday(9, 0)).estimate_minutes, Some(6));

    // Step 3: the day's start (retiring old days) learns last Wednesday: 20 minutes at
    // nine. Today's visitors still have their say once they are done.
    for each in [&office, &desk_office] {
        each.retire_expired(wednesday(9, 0)).unwrap();
    }
    assert_eq!(draw(wednesday(9, 0)).estimate_minutes, Some(40));
    // At ten (last Wednesday saw nobody then: its whole day, 20 minutes) the desk
    // is free and two are ahead of the last.
    let at_ten = desk_office.day_view(wednesday(10, 0)).unwrap();
    let last = at_ten.tickets.last().unwrap();
    assert_eq!(
        (last.ahead, last.estimate_minutes),
        (Some(2), Some(40)),
        "{last:?}"
    );
}
