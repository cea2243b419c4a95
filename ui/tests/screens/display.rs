//! The foyer display: a desk's call shows up large, blinks for a few seconds and is
//! announced; the list, the waiting counts, the notices and the offline banner.

use std::time::Duration;

use aufruf_hardware::Language;
use aufruf_model::{NodeId, Role, ServiceId};
use aufruf_office::memory::MemoryReplica;
use aufruf_office::views::PeerView;
use aufruf_office::{DeskAction, Wish};
use aufruf_ui::display::{BLINK_FOR, DisplayScreen};
use aufruf_ui::speech::Recorder;
use aufruf_ui::{DisplayAdapter, Theme};
use slint::{ComponentHandle, Model};

use crate::common::{Foyer, elapse, init_slint, shows};

/// The foyer's display with an announcer nobody listens to.
fn quiet_display(foyer: &Foyer) -> std::rc::Rc<DisplayScreen<MemoryReplica>> {
    DisplayScreen::new(
        foyer.display.clone(),
        Box::new(Recorder::default()),
        foyer.clock.as_now(),
    )
    .unwrap()
}

#[test]
fn a_call_shows_large_blinks_for_a_few_seconds_and_is_announced_in_german() {
    init_slint();
    let foyer = Foyer::open();
    let said = Recorder::default();
    let screen = DisplayScreen::new(
        foyer.display.clone(),
        Box::new(said.clone()),
        foyer.clock.as_now(),
    )
    .unwrap();
    screen.window().show().unwrap();
    let adapter = screen.window().global::<DisplayAdapter>();
    assert!(
        shows(screen.window(), "Herzlich willkommen"),
        "German, and nobody called yet"
    );

    // Step 1: a visitor draws a ticket for a passport; desk 1 opens and calls.
    let now = foyer.clock.now();
    let ticket = foyer
        .kiosk
        .draw_ticket(now, &ServiceId::new("reisepass"), Wish::Qr, Language::De)
        .unwrap();
    foyer
        .desk
        .act(now, DeskAction::Open { services: vec![] })
        .unwrap();
    foyer.desk.act(now, DeskAction::CallNext).unwrap();

    // Step 2: the change reaches the display's node, which pushes its view.
    foyer.replicate();
    assert!(screen.show_pushed(), "the display's view was pushed");
    assert_eq!(adapter.get_latest_number(), ticket.ticket.number.as_str());
    assert_eq!(adapter.get_latest_desk(), "Platz 1");
    assert!(shows(
        screen.window(),
        &format!("Aufgerufen: {} zu Platz 1", ticket.ticket.number)
    ));
    assert!(adapter.get_blinking());
    assert_eq!(said.said(), vec!["Nummer P 1, bitte zu Platz 1".to_owned()]);

    // Step 3: a few seconds later it stands still; nothing is said twice.
    elapse(BLINK_FOR + Duration::from_millis(100));
    assert!(!adapter.get_blinking());
    foyer.replicate();
    screen.show_pushed();
    assert_eq!(said.said().len(), 1);

    // Step 4: the desk calls again: blinking and spoken again.
    foyer.desk.act(now, DeskAction::Recall).unwrap();
    foyer.replicate();
    assert!(screen.show_pushed());
    assert!(adapter.get_blinking());
    assert_eq!(said.said().len(), 2);
}

#[test]
fn the_display_lists_the_calls_before_and_who_waits_per_service() {
    init_slint();
    let foyer = Foyer::open();
    let screen = quiet_display(&foyer);
    let adapter = screen.window().global::<DisplayAdapter>();
    let now = foyer.clock.now();
    let mut numbers = Vec::new();
    for service in ["reisepass", "personalausweis", "anmeldung", "reisepass"] {
        let issued = foyer
            .kiosk
            .draw_ticket(now, &ServiceId::new(service), Wish::Qr, Language::De)
            .unwrap();
        numbers.push(issued.ticket.number);
    }
    foyer
        .desk
        .act(now, DeskAction::Open { services: vec![] })
        .unwrap();
    foyer.desk.act(now, DeskAction::CallNext).unwrap();
    foyer.desk.act(now, DeskAction::Done).unwrap();
    foyer.desk.act(now, DeskAction::CallNext).unwrap();
    foyer.replicate();
    screen.show_pushed();

    assert_eq!(adapter.get_latest_number(), numbers[1].as_str());
    let listed: Vec<String> = adapter
        .get_calls()
        .iter()
        .map(|c| c.number.to_string())
        .collect();
    assert_eq!(
        listed,
        vec![numbers[0].clone()],
        "the visitor served before"
    );
    assert_eq!(adapter.get_waiting_total(), 2);
    let waiting: Vec<(String, i32)> = adapter
        .get_waiting()
        .iter()
        .map(|w| (w.service.to_string(), w.count))
        .collect();
    assert!(waiting.contains(&("Reisepass".into(), 1)), "{waiting:?}");
    assert!(
        waiting.contains(&("An- und Ummeldung".into(), 1)),
        "{waiting:?}"
    );
}

#[test]
fn the_display_shows_clock_notices_and_says_when_it_is_cut_off() {
    init_slint();
    let foyer = Foyer::open();
    let screen = quiet_display(&foyer);
    let adapter = screen.window().global::<DisplayAdapter>();
    assert_eq!(adapter.get_clock(), "09:00");
    assert_eq!(adapter.get_date(), "Mittwoch, 25.11.2026");
    assert!(
        adapter.get_ticker().contains("Ausweis bereit"),
        "the notices of aufruf.toml: {}",
        adapter.get_ticker()
    );
    assert!(adapter.get_offline(), "no peer yet");
    assert!(shows(
        screen.window(),
        "Keine Verbindung zu den anderen Geräten des Büros: Die angezeigten Aufrufe sind womöglich nicht aktuell."
    ));

    foyer.replica.set_peers(vec![PeerView {
        node: NodeId::new("desk-1").unwrap(),
        role: Role::Desk,
    }]);
    foyer.clock.advance(Duration::from_secs(61));
    elapse(Duration::from_secs(1));
    assert!(!adapter.get_offline());
    assert_eq!(adapter.get_clock(), "09:01");
}

#[test]
fn the_display_takes_a_portrait_screen_and_high_contrast() {
    init_slint();
    let foyer = Foyer::open();
    let screen = quiet_display(&foyer);
    screen
        .window()
        .window()
        .set_size(slint::PhysicalSize::new(1080, 1920));
    screen.window().global::<Theme>().set_high_contrast(true);
    screen.window().show().unwrap();
    let adapter = screen.window().global::<DisplayAdapter>();
    assert!(!adapter.get_portrait(), "not looked at yet");
    elapse(Duration::from_secs(1));
    assert!(adapter.get_portrait(), "taller than wide");
    assert!(shows(screen.window(), "Herzlich willkommen"));
    assert_eq!(
        screen.window().global::<Theme>().get_background(),
        slint::Color::from_rgb_u8(0, 0, 0)
    );
}
