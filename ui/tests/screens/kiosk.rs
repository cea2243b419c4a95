//! The kiosk: a visitor draws a ticket by touching a service, as paper or QR, checks
//! in with a booking code on the on-screen keyboard, reads the screen in five
//! languages, and the kiosk returns to its start when left alone.

use std::time::Duration;

use aufruf_hardware::{QrOnlyReason, TicketOffer};
use aufruf_model::ServiceId;
use aufruf_office::KioskService;
use aufruf_office::memory::MemoryReplica;
use aufruf_ui::kiosk::{IDLE_TIMEOUT, KioskScreen};
use aufruf_ui::{KioskAdapter, KioskPage, Theme};
use i_slint_backend_testing::ElementHandle;
use slint::ComponentHandle;

use crate::common::{Foyer, elapse, init_slint, press, shows, sunday, wednesday, x_of};

fn kiosk_screen(foyer: &Foyer) -> std::rc::Rc<KioskScreen<MemoryReplica>> {
    let screen = KioskScreen::new(foyer.kiosk.clone(), foyer.clock.as_now()).unwrap();
    screen.window().show().unwrap();
    screen
}

fn waiting_in_office(kiosk: &KioskService<MemoryReplica>) -> u32 {
    kiosk
        .office()
        .kiosk_view()
        .departments
        .iter()
        .flat_map(|d| &d.services)
        .map(|s| s.waiting)
        .sum()
}

#[test]
fn touching_a_service_draws_a_ticket_shown_with_its_number_outlook_and_qr_code() {
    init_slint();
    let foyer = Foyer::open();
    let screen = kiosk_screen(&foyer);
    let adapter = screen.window().global::<KioskAdapter>();
    assert!(
        shows(screen.window(), "Ich habe einen Termin"),
        "German first"
    );

    // Step 1: the visitor touches "Reisepass" and asks for the QR code.
    press(screen.window(), "Reisepass");
    assert_eq!(adapter.get_page(), KioskPage::Delivery);
    press(screen.window(), "QR-Code fürs Handy");

    // Step 2: the ticket is in the office and on the screen.
    assert_eq!(waiting_in_office(&foyer.kiosk), 1);
    assert_eq!(adapter.get_page(), KioskPage::Ticket);
    let number = adapter.get_ticket_number().to_string();
    assert!(number.starts_with("P "), "{number}");
    assert!(shows(screen.window(), &format!("Ihre Nummer: {number}")));
    assert!(adapter.get_has_qr());
    assert!(!adapter.get_has_estimate(), "no desk open: no estimate");
    assert!(foyer.printer.printed.lock().unwrap().is_empty(), "QR only");

    // Step 3: a desk opens; the next visitor wants paper, and learns who is ahead.
    foyer
        .desk
        .act(
            foyer.clock.now(),
            aufruf_office::DeskAction::Open { services: vec![] },
        )
        .unwrap();
    foyer.replicate();
    press(screen.window(), "Fertig");
    press(screen.window(), "Reisepass");
    press(screen.window(), "Zettel drucken");
    assert!(adapter.get_printed());
    assert!(adapter.get_has_estimate());
    assert_eq!(adapter.get_ahead(), 1, "one visitor ahead");
    assert!(shows(screen.window(), "Ihre Nummer: P 002"));
    assert_eq!(foyer.printer.printed.lock().unwrap().len(), 1);
    assert_eq!(waiting_in_office(&foyer.kiosk), 2);

    // The start page shows the counts the office pushed.
    press(screen.window(), "Fertig");
    assert!(screen.show_pushed());
    assert!(shows(screen.window(), "Reisepass"));
}

#[test]
fn without_paper_the_kiosk_hands_out_qr_codes_and_says_so() {
    init_slint();
    let foyer = Foyer::new(
        MemoryReplica::new(),
        TicketOffer::QrOnly(QrOnlyReason::PaperOut),
        wednesday(9, 0),
    );
    let screen = kiosk_screen(&foyer);
    let adapter = screen.window().global::<KioskAdapter>();
    assert!(adapter.get_printer_out());
    assert!(shows(
        screen.window(),
        "Der Drucker ist außer Betrieb: Sie erhalten Ihre Nummer als QR-Code auf dem Bildschirm."
    ));
    press(screen.window(), "Personalausweis");
    assert_eq!(adapter.get_page(), KioskPage::Ticket, "no paper choice");
    assert!(adapter.get_has_qr());
    assert!(!adapter.get_printed());
    assert!(!adapter.get_print_failed(), "the banner said it already");
}

#[test]
fn outside_opening_hours_the_kiosk_shows_when_it_opens_instead_of_services() {
    init_slint();
    let foyer = Foyer::new(
        MemoryReplica::new(),
        TicketOffer::PaperAndQr { paper_low: false },
        sunday(11, 0),
    );
    let screen = kiosk_screen(&foyer);
    assert!(!shows(screen.window(), "Reisepass"), "no service buttons");
    let departments = screen.window().global::<KioskAdapter>().get_departments();
    let first = slint::Model::row_data(&departments, 0).unwrap();
    assert!(!first.open);
    assert!(first.reopens.contains("08:00"), "{}", first.reopens);
    assert!(shows(
        screen.window(),
        &format!("Jetzt geschlossen – {}", first.reopens)
    ));
}

#[test]
fn a_booked_citizen_checks_in_with_the_on_screen_keyboard() {
    init_slint();
    let foyer = Foyer::open();
    foyer.book("ZT-4711", "reisepass", &[], (9, 30));
    let screen = kiosk_screen(&foyer);
    let adapter = screen.window().global::<KioskAdapter>();

    press(screen.window(), "Ich habe einen Termin");
    assert_eq!(adapter.get_page(), KioskPage::Appointment);
    // A wrong code first.
    for key in ["Z", "T", "-", "4", "7", "1", "2"] {
        press(screen.window(), key);
    }
    press(screen.window(), "Anmelden");
    assert!(shows(
        screen.window(),
        "Diesen Buchungscode finden wir nicht. Bitte prüfen Sie ihn oder fragen Sie an der Information."
    ));
    press(screen.window(), "Löschen");
    press(screen.window(), "1");
    assert_eq!(adapter.get_code(), "ZT-4711");
    press(screen.window(), "Anmelden");
    assert_eq!(adapter.get_page(), KioskPage::Ticket);
    assert!(adapter.get_appointment());
    assert!(adapter.get_ticket_number().starts_with("P "));
    assert_eq!(foyer.printer.printed.lock().unwrap().len(), 1, "printed");
}

#[test]
fn a_scanner_types_the_code_like_a_keyboard_and_ends_with_enter() {
    init_slint();
    let foyer = Foyer::open();
    let screen = kiosk_screen(&foyer);
    let adapter = screen.window().global::<KioskAdapter>();
    press(screen.window(), "Ich habe einen Termin");
    // The code field has the focus: keystrokes go there.
    i_slint_backend_testing_send_text(screen.window(), "NOPE-1\n");
    assert_eq!(adapter.get_code(), "NOPE-1");
    assert!(shows(
        screen.window(),
        "Diesen Buchungscode finden wir nicht. Bitte prüfen Sie ihn oder fragen Sie an der Information."
    ));
}

/// Types text into the window as key presses and releases, the way a barcode scanner
/// does ("\n" is Enter).
fn i_slint_backend_testing_send_text(window: &aufruf_ui::KioskWindow, text: &str) {
    use slint::platform::WindowEvent;
    for c in text.chars() {
        let key: slint::SharedString = if c == '\n' {
            slint::platform::Key::Return.into()
        } else {
            c.to_string().into()
        };
        window
            .window()
            .dispatch_event(WindowEvent::KeyPressed { text: key.clone() });
        window
            .window()
            .dispatch_event(WindowEvent::KeyReleased { text: key });
    }
    crate::common::settle();
}

#[test]
fn the_kiosk_speaks_five_languages_arabic_from_right_to_left() {
    init_slint();
    let foyer = Foyer::open();
    let screen = kiosk_screen(&foyer);
    let theme = screen.window().global::<Theme>();

    press(screen.window(), "English");
    assert!(shows(screen.window(), "I have an appointment"));
    assert!(shows(screen.window(), "Passport"), "English service names");
    press(screen.window(), "Українська");
    assert!(shows(screen.window(), "У мене є запис"));
    press(screen.window(), "Türkçe");
    assert!(shows(screen.window(), "Randevum var"));
    press(screen.window(), "العربية");
    assert!(shows(screen.window(), "لدي موعد"));
    assert!(theme.get_rtl());
    press(screen.window(), "Deutsch");
    assert!(!theme.get_rtl());
    assert!(shows(screen.window(), "Ich habe einen Termin"));
}

/// In Arabic the kiosk reads from the right: the top bar, the departments, the choice
/// of paper or QR and the check-in's buttons are mirrored; the booking-code keyboard
/// (Latin codes) is not.
#[test]
fn in_arabic_the_kiosk_is_mirrored() {
    init_slint();
    let foyer = Foyer::open();
    let screen = kiosk_screen(&foyer);
    let w = screen.window();
    let office = foyer.kiosk.office().config().office.name.clone();
    let left_of = |a: &str, b: &str| x_of(w, a) < x_of(w, b);

    // German: office name, contrast and clock from the left, the languages below
    // from German on; Bürgerbüro before the Kita department.
    let contrast_de = "Größere Schrift, hoher Kontrast";
    assert!(left_of(&office, contrast_de) && left_of("Deutsch", "Türkçe"));
    assert!(
        left_of("Bürgerbüro", "Kita-Abteilung"),
        "departments in order"
    );
    press(w, "Reisepass");
    assert!(left_of("Zettel drucken", "QR-Code fürs Handy"));
    press(w, "Zurück");

    press(w, "العربية");
    let contrast_ar = "خط أكبر، تباين عالٍ";
    assert!(left_of("Türkçe", "Deutsch") && left_of(contrast_ar, &office));
    // Departments keep their English names; the Kita department now stands left.
    assert!(
        left_of("Day-care department", "Citizen office"),
        "departments mirrored"
    );
    press(w, "Passport");
    let (paper, qr) = ("طباعة الرقم", "رمز QR لهاتفي");
    assert!(left_of(qr, paper), "paper first, from the right");
    let back = "رجوع";
    // Back at the start the kiosk waits for the next visitor, in German.
    press(w, back);
    assert!(left_of(&office, contrast_de) && left_of("Deutsch", "Türkçe"));
    press(w, "العربية");
    press(w, "لدي موعد");
    let check_in = "تسجيل الحضور";
    assert!(left_of(check_in, back));
    assert!(left_of("1", "0"), "the code keyboard stays as it is");
}

#[test]
fn left_alone_the_kiosk_returns_to_its_start_in_german_and_normal_contrast() {
    init_slint();
    let foyer = Foyer::open();
    let screen = kiosk_screen(&foyer);
    let adapter = screen.window().global::<KioskAdapter>();
    let theme = screen.window().global::<Theme>();
    press(screen.window(), "English");
    press(screen.window(), "Larger text, high contrast");
    assert!(theme.get_high_contrast());
    assert!(theme.get_scale() > 1.0);
    press(screen.window(), "Passport");
    press(screen.window(), "Print a ticket");
    assert_eq!(adapter.get_page(), KioskPage::Ticket);

    elapse(IDLE_TIMEOUT - Duration::from_secs(1));
    assert_eq!(adapter.get_page(), KioskPage::Ticket, "not yet");
    elapse(Duration::from_secs(2));
    assert_eq!(adapter.get_page(), KioskPage::Start);
    assert_eq!(adapter.get_language(), "de");
    assert!(!theme.get_high_contrast());
    assert!(shows(screen.window(), "Ich habe einen Termin"));
}

#[test]
fn a_kiosk_on_a_new_store_asks_visitors_to_wait_and_issues_nothing() {
    init_slint();
    let (foyer, replica) = Foyer::on_a_new_store();
    let screen = kiosk_screen(&foyer);
    let adapter = screen.window().global::<KioskAdapter>();
    assert!(adapter.get_please_wait());
    assert!(shows(
        screen.window(),
        "Bitte warten: Dieser Automat gleicht sich mit dem Büro ab und gibt noch keine Nummern aus."
    ));
    assert!(shows(screen.window(), "Reisepass"));
    press(screen.window(), "Reisepass");
    assert_eq!(adapter.get_page(), KioskPage::Start, "the button is off");
    assert_eq!(waiting_in_office(&foyer.kiosk), 0);

    // Caught up: the kiosk serves again at its next look.
    replica.set_caught_up();
    foyer.replicate();
    screen.show_pushed();
    elapse(Duration::from_secs(1));
    assert!(!adapter.get_please_wait());
    press(screen.window(), "Reisepass");
    assert_eq!(adapter.get_page(), KioskPage::Delivery);
}

#[test]
fn a_service_whose_wait_would_pass_closing_says_so_before_it_is_touched() {
    init_slint();
    // Wednesday: the Bürgerbüro closes at noon; twenty minutes before, one desk.
    let foyer = Foyer::new(
        MemoryReplica::new(),
        TicketOffer::PaperAndQr { paper_low: false },
        wednesday(11, 40),
    );
    foyer
        .desk
        .act(
            foyer.clock.now(),
            aufruf_office::DeskAction::Open { services: vec![] },
        )
        .unwrap();
    let screen = kiosk_screen(&foyer);
    let reisepass = |screen: &KioskScreen<MemoryReplica>| {
        ElementHandle::find_by_accessible_label(screen.window(), "Reisepass")
            .next()
            .unwrap()
    };
    assert_eq!(
        reisepass(&screen).accessible_description().unwrap(),
        "0 Personen warten"
    );
    // Visitors draw until the office would break its word.
    let mut drawn = 0;
    loop {
        match foyer.kiosk.draw_ticket(
            foyer.clock.now(),
            &ServiceId::new("reisepass"),
            aufruf_office::Wish::Qr,
            aufruf_hardware::Language::De,
        ) {
            Ok(_) => drawn += 1,
            Err(aufruf_office::ServiceError::NoMoreToday { .. }) => break,
            Err(e) => panic!("{e}"),
        }
        assert!(drawn < 20, "still issuing after {drawn} tickets");
    }
    assert!(drawn >= 1);
    foyer.replicate();
    assert!(screen.show_pushed());
    // The next visitor reads it on the button, and touching it draws nothing.
    let button = reisepass(&screen);
    assert_eq!(
        button.accessible_description().unwrap(),
        "Heute keine Wartemarken mehr – bitte buchen Sie online einen Termin"
    );
    assert_eq!(button.accessible_enabled(), Some(false));
    press(screen.window(), "Reisepass");
    let adapter = screen.window().global::<KioskAdapter>();
    assert_eq!(adapter.get_page(), KioskPage::Start);
    assert_eq!(waiting_in_office(&foyer.kiosk), drawn);
}
