//! The desk terminal: the clerk opens the desk, calls the next visitor with the
//! button or F1, and the foyer display shows the number; the other actions; the
//! notice when another desk called the same visitor first.

use std::time::Duration;

use aufruf_hardware::TicketOffer;
use aufruf_model::{DeskId, NodeId, Role, ServiceId};
use aufruf_office::memory::MemoryReplica;
use aufruf_office::views::{PeerView, TicketState};
use aufruf_office::{DeskAction, DeskService, PeerClock};
use aufruf_ui::desk::DeskScreen;
use aufruf_ui::display::DisplayScreen;
use aufruf_ui::speech::Recorder;
use aufruf_ui::{DeskAdapter, DisplayAdapter};
use i_slint_backend_testing::ElementHandle;
use slint::platform::{Key, WindowEvent};
use slint::{ComponentHandle, Model};

use crate::common::{Foyer, elapse, init_slint, office_on, press, settle, shows, wednesday};

fn desk_screen(foyer: &Foyer) -> std::rc::Rc<DeskScreen<MemoryReplica>> {
    let screen = DeskScreen::new(foyer.desk.clone(), foyer.clock.as_now()).unwrap();
    screen.window().show().unwrap();
    screen
}

/// Opens the desk and lets a visitor for a passport draw a ticket; its number.
fn open_with_a_visitor(foyer: &Foyer, desk: &DeskScreen<MemoryReplica>) -> String {
    press(desk.window(), "Platz öffnen");
    let first = foyer.draw("reisepass");
    foyer.replicate();
    desk.show_pushed();
    first
}

#[test]
fn pressing_aufrufen_calls_the_next_visitor_and_the_display_shows_the_number() {
    init_slint();
    let foyer = Foyer::open();
    let desk = desk_screen(&foyer);
    let display = DisplayScreen::new(
        foyer.display.clone(),
        Box::new(Recorder::default()),
        foyer.clock.as_now(),
    )
    .unwrap();
    display.window().show().unwrap();
    let adapter = desk.window().global::<DeskAdapter>();

    // Step 1: the clerk opens the desk; two visitors wait.
    assert!(!adapter.get_open());
    press(desk.window(), "Platz öffnen");
    assert!(adapter.get_open());
    let first = foyer.draw("reisepass");
    let second = foyer.draw("personalausweis");
    foyer.replicate();
    assert!(desk.show_pushed());
    assert_eq!(adapter.get_waiting_for_desk(), 2);
    let next: Vec<String> = adapter
        .get_next()
        .iter()
        .map(|v| v.number.to_string())
        .collect();
    assert_eq!(next, vec![first.clone(), second.clone()]);

    // Step 2: "Aufrufen" calls the first.
    press(desk.window(), "Aufrufen");
    assert!(adapter.get_has_current());
    assert_eq!(adapter.get_current().number, first.as_str());
    assert!(adapter.get_current_called());
    press(desk.window(), "Aufrufen");
    assert_eq!(
        adapter.get_current().number,
        first.as_str(),
        "one visitor at a time: the button is off"
    );
    assert_eq!(adapter.get_error(), "");

    // Step 3: the display's node hears of it and shows the number.
    foyer.replicate();
    display.show_pushed();
    assert_eq!(
        display
            .window()
            .global::<DisplayAdapter>()
            .get_latest_number(),
        first.as_str()
    );
    assert!(shows(
        display.window(),
        &format!("Aufgerufen: {first} zu Platz 1")
    ));

    // Step 4: recall, arrival, done — each through the desk service.
    press(desk.window(), "Erneut aufrufen");
    assert_eq!(adapter.get_current_calls(), 2);
    press(desk.window(), "Ist da");
    assert!(!adapter.get_current_called());
    press(desk.window(), "Erledigt");
    assert!(!adapter.get_has_current());
    assert_eq!(
        foyer.desk.view(foyer.clock.now()).unwrap().waiting_for_desk,
        1
    );
}

#[test]
fn the_shortcuts_on_the_buttons_work_from_the_keyboard() {
    init_slint();
    let foyer = Foyer::open();
    let desk = desk_screen(&foyer);
    let adapter = desk.window().global::<DeskAdapter>();
    let first = open_with_a_visitor(&foyer, &desk);

    let key = |k: Key| {
        desk.window()
            .window()
            .dispatch_event(WindowEvent::KeyPressed { text: k.into() });
        desk.window()
            .window()
            .dispatch_event(WindowEvent::KeyReleased { text: k.into() });
        settle();
    };
    key(Key::F1);
    assert_eq!(
        adapter.get_current().number,
        first.as_str(),
        "F1 calls next"
    );
    key(Key::F2);
    assert_eq!(adapter.get_current_calls(), 2, "F2 recalls");
    key(Key::F4);
    assert!(!adapter.get_has_current(), "F4: no-show");
    let ticket = foyer.desk.office().day_view(foyer.clock.now()).unwrap();
    assert_eq!(ticket.tickets[0].status, TicketState::NoShow);
}

#[test]
fn park_return_transfer_and_pause_go_through_the_desk_service() {
    init_slint();
    let foyer = Foyer::open();
    let desk = desk_screen(&foyer);
    let adapter = desk.window().global::<DeskAdapter>();
    let first = open_with_a_visitor(&foyer, &desk);

    press(desk.window(), "Aufrufen");
    press(desk.window(), "Parken");
    assert!(!adapter.get_has_current());
    assert_eq!(adapter.get_parked().row_count(), 1);
    press(
        desk.window(),
        &format!("Zurück in die Warteschlange {first}"),
    );
    assert_eq!(adapter.get_parked().row_count(), 0);
    assert_eq!(adapter.get_waiting_for_desk(), 1);

    press(desk.window(), &format!("Aufrufen {first}"));
    assert_eq!(adapter.get_current().number, first.as_str());
    press(desk.window(), "Weiterleiten");
    press(desk.window(), "Kita-Platz");
    assert!(!adapter.get_has_current());
    let day = foyer.desk.office().day_view(foyer.clock.now()).unwrap();
    assert_eq!(day.tickets[0].service, ServiceId::new("kita-platz"));

    press(desk.window(), "Pause");
    assert!(adapter.get_paused());
    press(desk.window(), "Weiter");
    assert!(!adapter.get_paused());
}

#[test]
fn the_desk_is_told_when_another_desk_called_its_visitor_first() {
    init_slint();
    // Two desks on replicas apart from each other, as in a split office.
    let here = MemoryReplica::new();
    let there = MemoryReplica::new();
    let foyer = Foyer::new(
        here.clone(),
        TicketOffer::PaperAndQr { paper_low: false },
        wednesday(9, 0),
    );
    let config = aufruf_office::example_office().unwrap();
    let other = DeskService::new(
        office_on(config, "desk-2", Role::Desk, there.clone()),
        DeskId::new("desk-2"),
        wednesday(9, 0),
    )
    .unwrap();
    // Each replica holds the day under its own writer (both desks open before the
    // replicas meet), and the desks know each other.
    let desk = desk_screen(&foyer);
    let adapter = desk.window().global::<DeskAdapter>();
    press(desk.window(), "Platz öffnen");
    let now = foyer.clock.now();
    other
        .act(now, DeskAction::Open { services: vec![] })
        .unwrap();
    here.receive_from(&there);
    there.receive_from(&here);
    foyer.replicate();
    let number = foyer.draw("reisepass");
    there.receive_from(&here);
    other.office().refresh(now);

    // desk-2 calls a moment earlier; desk-1 calls too before it hears of it.
    other.act(now, DeskAction::CallNext).unwrap();
    foyer.clock.advance(Duration::from_secs(2));
    desk.show_pushed();
    press(desk.window(), "Aufrufen");
    assert_eq!(adapter.get_current().number, number.as_str());

    // The replicas meet: desk-2's earlier call wins everywhere.
    here.receive_from(&there);
    foyer.replicate();
    desk.show_pushed();
    elapse(Duration::from_secs(1));
    assert!(!adapter.get_has_current());
    assert_eq!(adapter.get_lost_number(), number.as_str());
    assert!(shows(
        desk.window(),
        &format!(
            "{number} wurde zuerst von Platz 2 aufgerufen. Bitte rufen Sie die nächste Person auf."
        )
    ));
    press(desk.window(), "OK");
    assert_eq!(adapter.get_lost_number(), "");
}

#[test]
fn a_desk_alone_says_it_is_cut_off() {
    init_slint();
    let foyer = Foyer::open();
    let desk = desk_screen(&foyer);
    let adapter = desk.window().global::<DeskAdapter>();
    assert!(adapter.get_offline());
    assert!(shows(
        desk.window(),
        "Keine Verbindung zu anderen Geräten des Büros: Aufrufe erreichen die Anzeige nicht."
    ));
}

#[test]
fn the_desk_says_when_the_display_is_unreachable_it_catches_up_or_its_clock_is_wrong() {
    init_slint();
    let foyer = Foyer::open();
    let desk = desk_screen(&foyer);
    let adapter = desk.window().global::<DeskAdapter>();
    let unreachable =
        "Die Anzeige im Foyer ist nicht erreichbar: Wartende sehen ihren Aufruf womöglich nicht.";
    let clock_wrong = "Die Uhr dieses Arbeitsplatzes geht falsch: Er ruft niemanden auf, bis sie richtig gestellt ist.";

    // Only the kiosk in reach: the display is not.
    let kiosk = NodeId::new("kiosk-1").unwrap();
    foyer.replica.set_peers(vec![PeerView {
        node: kiosk.clone(),
        role: Role::Kiosk,
    }]);
    elapse(Duration::from_secs(1));
    assert!(!adapter.get_offline());
    assert!(adapter.get_display_unreachable());
    assert!(shows(desk.window(), unreachable));
    press(desk.window(), "Platz öffnen");
    foyer.draw("reisepass");
    foyer.replicate();

    // The display is back; the kiosk's and the display's clocks are an hour ahead.
    let display = NodeId::new("display-1").unwrap();
    foyer.replica.set_peers(vec![
        PeerView {
            node: kiosk.clone(),
            role: Role::Kiosk,
        },
        PeerView {
            node: display.clone(),
            role: Role::Display,
        },
    ]);
    let hour_ahead = |node: &NodeId| PeerClock {
        node: node.clone(),
        ahead_ms: 3_600_000,
    };
    foyer
        .replica
        .set_peer_clocks(vec![hour_ahead(&kiosk), hour_ahead(&display)]);
    elapse(Duration::from_secs(1));
    assert!(!adapter.get_display_unreachable());
    assert!(!shows(desk.window(), unreachable));
    assert!(adapter.get_clock_wrong());
    assert!(shows(desk.window(), clock_wrong));
    press(desk.window(), "Aufrufen");
    assert!(
        !adapter.get_has_current(),
        "a desk with a wrong clock calls nobody"
    );
    assert_ne!(adapter.get_error(), "", "and says why");

    // The clock is set right.
    foyer.replica.set_peer_clocks(vec![]);
    elapse(Duration::from_secs(1));
    assert!(!adapter.get_clock_wrong());
    press(desk.window(), "Aufrufen");
    assert!(adapter.get_has_current());
}

#[test]
fn a_desk_on_a_new_store_says_it_catches_up_and_calls_nobody() {
    init_slint();
    let (foyer, replica) = Foyer::on_a_new_store();
    let desk = desk_screen(&foyer);
    let adapter = desk.window().global::<DeskAdapter>();
    assert!(adapter.get_catching_up());
    assert!(shows(
        desk.window(),
        "Dieser Arbeitsplatz gleicht sich mit dem Büro ab und ruft noch niemanden auf."
    ));
    replica.set_caught_up();
    foyer.replicate();
    desk.show_pushed();
    elapse(Duration::from_secs(1));
    assert!(!adapter.get_catching_up());
}

#[test]
fn a_visitor_goes_to_another_desk_by_transfer() {
    init_slint();
    let foyer = Foyer::open();
    let desk = desk_screen(&foyer);
    let adapter = desk.window().global::<DeskAdapter>();
    let first = open_with_a_visitor(&foyer, &desk);
    press(desk.window(), "Aufrufen");
    assert_eq!(adapter.get_current().number, first.as_str());
    press(desk.window(), "Weiterleiten");
    press(desk.window(), "Platz 2");
    assert!(!adapter.get_has_current());
    let day = foyer.desk.office().day_view(foyer.clock.now()).unwrap();
    let ticket = &day.tickets[0];
    assert_eq!(ticket.status, TicketState::Waiting);
    assert_eq!(adapter.get_waiting_for_desk(), 0, "it waits for desk 2 now");
}

#[test]
fn the_clerk_chooses_todays_services_before_opening_and_the_desk_calls_only_those() {
    init_slint();
    let foyer = Foyer::open();
    let desk = desk_screen(&foyer);
    let adapter = desk.window().global::<DeskAdapter>();
    let choice = |label: &str| {
        ElementHandle::find_by_accessible_label(desk.window(), label)
            .find(|e| e.accessible_checked().is_some())
            .unwrap_or_else(|| panic!("no choice {label:?}"))
    };
    let all = [
        "Meldebescheinigung",
        "An- und Ummeldung",
        "Personalausweis",
        "Reisepass",
        "Führungszeugnis",
        "Fundsachen",
    ];
    // Closed: every service of the desk is offered, ticked.
    for service in all {
        assert_eq!(
            choice(service).accessible_checked(),
            Some(true),
            "{service}"
        );
    }
    // With none ticked the desk cannot open.
    for service in all {
        choice(service).invoke_accessible_default_action();
    }
    assert!(!adapter.get_can_open());
    press(desk.window(), "Platz öffnen");
    assert!(!adapter.get_open());
    // Everything but passports today.
    for service in all.iter().filter(|s| **s != "Reisepass") {
        choice(service).invoke_accessible_default_action();
    }
    assert_eq!(choice("Reisepass").accessible_checked(), Some(false));
    assert!(adapter.get_can_open());
    press(desk.window(), "Platz öffnen");
    assert!(adapter.get_open());
    assert!(!adapter.get_services().contains("Reisepass"));
    assert!(adapter.get_services().contains("Meldebescheinigung"));
    // A passport visitor came first; the desk calls the one after.
    let passport = foyer.draw("reisepass");
    let certificate = foyer.draw("meldebescheinigung");
    foyer.replicate();
    desk.show_pushed();
    press(desk.window(), "Aufrufen");
    assert_eq!(adapter.get_current().number, certificate.as_str());
    let day = foyer.desk.office().day_view(foyer.clock.now()).unwrap();
    let waiting: Vec<&str> = day
        .tickets
        .iter()
        .filter(|t| t.status == TicketState::Waiting)
        .map(|t| t.number.as_str())
        .collect();
    assert_eq!(waiting, [passport.as_str()]);
}

#[test]
fn a_booking_of_several_services_shows_them_all_at_the_desk() {
    init_slint();
    let foyer = Foyer::open();
    foyer.book("ZT-4712", "reisepass", &["personalausweis"], (9, 15));
    let desk = desk_screen(&foyer);
    press(desk.window(), "Platz öffnen");
    foyer
        .kiosk
        .check_in(
            foyer.clock.now(),
            "ZT-4712",
            aufruf_office::Wish::Qr,
            aufruf_hardware::Language::De,
        )
        .unwrap();
    foyer.replicate();
    desk.show_pushed();
    let adapter = desk.window().global::<DeskAdapter>();
    let next = adapter.get_next();
    assert_eq!(
        next.row_data(0).unwrap().service,
        "Reisepass + Personalausweis"
    );
    press(desk.window(), "Aufrufen");
    assert_eq!(adapter.get_current().service, "Reisepass + Personalausweis");
    assert_eq!(adapter.get_current().appointment, "09:15");
    assert!(shows(
        desk.window(),
        "Reisepass + Personalausweis · Termin um 09:15"
    ));
}
