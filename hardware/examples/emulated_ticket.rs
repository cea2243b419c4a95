//! Prints a sample ticket on the emulated printer and says where the PNG is:
//! `cargo run -p aufruf-hardware --example emulated_ticket -- /tmp/tickets`.

use std::path::PathBuf;
use std::process::ExitCode;

use aufruf_hardware::{Connection, Language, PrinterConfig, TicketPrinter, TicketSlip};

fn main() -> ExitCode {
    let dir = std::env::args_os()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| std::env::temp_dir().join("aufruf-tickets"));
    let printer = TicketPrinter::start(PrinterConfig::new(Connection::Emulated { dir }));
    let slip = TicketSlip {
        office_name: "Bürgerbüro Zeitz".to_owned(),
        number: "A 017".to_owned(),
        service: "Führerschein & Straßenverkehr".to_owned(),
        visitors_ahead: Some(3),
        estimate_minutes: Some(12),
        issued_at: chrono::NaiveDate::from_ymd_opt(2026, 3, 11)
            .and_then(|d| d.and_hms_opt(9, 5, 0))
            .unwrap_or_default(),
        status_url: Some("https://termine.zeitz.de/t/7f3a9c2e".to_owned()),
        language: Language::De,
    };
    match printer.print(&slip) {
        Ok(printed) => {
            if let Some(picture) = printed.picture {
                println!("{}", picture.display());
            }
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("{error}");
            ExitCode::FAILURE
        }
    }
}
