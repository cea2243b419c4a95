//! The kiosk's printer as the kiosk experiences it: an emulated printer whose
//! pictures a real QR decoder reads, a fake network printer on loopback that
//! runs out of paper, stalls or hangs up mid-ticket, and bad configurations
//! that must never crash the kiosk.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use aufruf_hardware::emulator;
use aufruf_hardware::qr::GreyImage;
use aufruf_hardware::status::{Paper, Reachability};
use aufruf_hardware::{
    Connection, Language, PrintError, PrinterConfig, PrinterUnavailable, QrImage, QrMode,
    QrOnlyReason, TicketOffer, TicketPrinter, TicketSlip, Timeouts,
};
use chrono::NaiveDate;

const STATUS_URL: &str = "https://termine.zeitz.de/t/7f3a9c2e";

fn slip(language: Language) -> TicketSlip {
    TicketSlip {
        office_name: "Bürgerbüro Zeitz".to_owned(),
        number: "A 017".to_owned(),
        service: "Führerschein & Straßenverkehr".to_owned(),
        visitors_ahead: Some(3),
        estimate_minutes: Some(12),
        issued_at: NaiveDate::from_ymd_opt(2026, 3, 11)
            .and_then(|d| d.and_hms_opt(9, 5, 0))
            .expect("valid date"),
        status_url: Some(STATUS_URL.to_owned()),
        language,
    }
}

fn scratch_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("aufruf-hw-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// Every QR code a real decoder finds in the picture.
fn qr_codes_in(picture: &GreyImage) -> Vec<String> {
    let width = picture.width as usize;
    let mut prepared =
        rqrr::PreparedImage::prepare_from_greyscale(width, picture.height as usize, |x, y| {
            picture.pixels[y * width + x]
        });
    prepared
        .detect_grids()
        .into_iter()
        .filter_map(|grid| grid.decode().ok().map(|(_, text)| text))
        .collect()
}

fn read_png(path: &std::path::Path) -> GreyImage {
    let decoder = png::Decoder::new(std::io::BufReader::new(
        std::fs::File::open(path).expect("picture exists"),
    ));
    let mut reader = decoder.read_info().expect("a PNG");
    let mut pixels = vec![0; reader.output_buffer_size().expect("sane size")];
    let info = reader.next_frame(&mut pixels).expect("one frame");
    assert_eq!(info.color_type, png::ColorType::Grayscale);
    pixels.truncate(info.buffer_size());
    GreyImage {
        width: info.width,
        height: info.height,
        pixels,
    }
}

// ---------------------------------------------------------------------------
// The emulated printer
// ---------------------------------------------------------------------------

fn print_emulated(name: &str, qr: QrMode, language: Language) -> GreyImage {
    let dir = scratch_dir(name);
    let mut config = PrinterConfig::new(Connection::Emulated { dir: dir.clone() });
    config.qr = qr;
    let printer = TicketPrinter::start(config);
    assert!(printer.startup_problem().is_none());
    let printed = printer
        .print(&slip(language))
        .expect("emulated printing works");
    let path = printed
        .picture
        .expect("the emulated printer draws a picture");
    assert_eq!(
        path.file_name().and_then(|n| n.to_str()),
        Some("ticket-20260311-090500-A017.png")
    );
    let picture = read_png(&path);
    std::fs::remove_dir_all(&dir).unwrap();
    picture
}

#[test]
fn emulated_ticket_png_holds_a_qr_of_the_status_url() {
    let picture = print_emulated("native", QrMode::Native, Language::De);
    assert_eq!(picture.width, 576);
    assert_eq!(qr_codes_in(&picture), vec![STATUS_URL.to_owned()]);
}

#[test]
fn emulated_ticket_with_raster_qr_reads_the_same() {
    let picture = print_emulated("raster", QrMode::Raster, Language::En);
    assert_eq!(qr_codes_in(&picture), vec![STATUS_URL.to_owned()]);
}

#[test]
fn emulated_ticket_reads_in_german_with_umlauts() {
    let bytes = aufruf_hardware::layout::ticket_bytes(&slip(Language::De), QrMode::Native).unwrap();
    let ticket = emulator::render(&bytes).unwrap();
    assert_eq!(
        ticket.lines,
        vec![
            "Bürgerbüro Zeitz",
            "Ihre Nummer",
            "A 017",
            "Führerschein & Straßenverkehr",
            "Vor Ihnen warten 3 Personen",
            "ca. 12 Minuten",
            "11.03.2026, 09:05 Uhr",
            "Wartezeit auf dem Handy verfolgen:",
            STATUS_URL,
        ]
    );
    assert_eq!(ticket.native_qr_codes, vec![STATUS_URL.to_owned()]);
    assert_eq!(ticket.cuts, 1);
}

#[test]
fn emulated_printer_runs_out_of_paper_on_demand() {
    let dir = scratch_dir("paper-out");
    let printer = TicketPrinter::start(PrinterConfig::new(Connection::Emulated {
        dir: dir.clone(),
    }));
    std::fs::write(dir.join(aufruf_hardware::printer::PAPER_OUT_MARKER), b"").unwrap();
    assert_eq!(printer.offer(), TicketOffer::QrOnly(QrOnlyReason::PaperOut));
    let error = printer.print(&slip(Language::De)).unwrap_err();
    assert_eq!(error.offer(), TicketOffer::QrOnly(QrOnlyReason::PaperOut));
    assert_eq!(
        std::fs::read_dir(&dir).unwrap().count(),
        1,
        "no picture drawn"
    );

    // A new roll.
    std::fs::remove_file(dir.join(aufruf_hardware::printer::PAPER_OUT_MARKER)).unwrap();
    assert_eq!(
        printer.offer(),
        TicketOffer::PaperAndQr { paper_low: false }
    );
    assert!(printer.print(&slip(Language::De)).is_ok());
    std::fs::remove_dir_all(&dir).unwrap();
}

// ---------------------------------------------------------------------------
// A fake network printer on loopback
// ---------------------------------------------------------------------------

/// How the fake printer behaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Behaviour {
    /// Answers every status request with these four bytes.
    Answers([u8; 4]),
    /// Accepts connections but never answers (a hung printer).
    Silent,
    /// Answers the first status request, then hangs up when the ticket comes.
    HangsUpMidTicket,
}

const READY: [u8; 4] = [0x12, 0x12, 0x12, 0x12];
const PAPER_OUT: [u8; 4] = [0x1A, 0x32, 0x12, 0x72];
const PAPER_NEAR_END: [u8; 4] = [0x12, 0x12, 0x12, 0x1E];
const COVER_OPEN: [u8; 4] = [0x1A, 0x16, 0x12, 0x12];

struct FakePrinter {
    port: u16,
    stop: Arc<AtomicBool>,
    thread: JoinHandle<Vec<Vec<u8>>>,
}

impl FakePrinter {
    /// Listens on 127.0.0.1 on a free port; serves one connection at a time,
    /// as receipt printers do.
    fn start(behaviour: Behaviour) -> FakePrinter {
        let listener = TcpListener::bind("127.0.0.1:0").expect("loopback");
        let port = listener.local_addr().expect("bound").port();
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            let mut jobs = Vec::new();
            for connection in listener.incoming() {
                if stopping.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(connection) = connection else { continue };
                jobs.push(serve(connection, behaviour));
            }
            jobs
        });
        FakePrinter { port, stop, thread }
    }

    fn config(&self, io_timeout_ms: u64) -> PrinterConfig {
        let mut config = PrinterConfig::new(Connection::Network {
            host: "127.0.0.1".to_owned(),
            port: self.port,
        });
        config.timeouts = Timeouts::uniform(io_timeout_ms);
        config
    }

    /// Stops the printer; returns the bytes of each connection that were not
    /// status requests (the tickets).
    fn stop(self) -> Vec<Vec<u8>> {
        self.stop.store(true, Ordering::SeqCst);
        // Wakes the accept loop so it sees the flag.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        let jobs = self.thread.join().expect("fake printer thread");
        jobs.into_iter().filter(|job| !job.is_empty()).collect()
    }
}

/// Serves one connection until the kiosk closes it; returns the ticket bytes.
fn serve(mut connection: TcpStream, behaviour: Behaviour) -> Vec<u8> {
    let mut job = Vec::new();
    let mut pending = Vec::new();
    let mut buffer = [0u8; 4096];
    loop {
        let read = match connection.read(&mut buffer) {
            Ok(0) | Err(_) => return job,
            Ok(read) => read,
        };
        pending.extend_from_slice(&buffer[..read]);
        // Pick out complete DLE EOT n requests; everything else is the ticket.
        let mut requests = Vec::new();
        let mut at = 0;
        while at < pending.len() {
            match pending[at..] {
                [0x10, 0x04, n, ..] => {
                    requests.push(n);
                    at += 3;
                }
                [0x10] | [0x10, 0x04] => break,
                [byte, ..] => {
                    job.push(byte);
                    at += 1;
                }
                [] => break,
            }
        }
        pending.drain(..at);
        let answers = match behaviour {
            Behaviour::Silent => continue,
            Behaviour::HangsUpMidTicket if !job.is_empty() => {
                let _ = connection.shutdown(Shutdown::Both);
                return job;
            }
            Behaviour::HangsUpMidTicket => READY,
            Behaviour::Answers(answers) => answers,
        };
        for n in requests {
            let byte = answers[usize::from(n.clamp(1, 4)) - 1];
            if connection.write_all(&[byte]).is_err() {
                return job;
            }
        }
    }
}

#[test]
fn ready_network_printer_prints_the_ticket_it_is_sent() {
    let fake = FakePrinter::start(Behaviour::Answers(READY));
    let printer = TicketPrinter::start(fake.config(2000));
    assert!(
        printer.startup_problem().is_none(),
        "{:?}",
        printer.startup_problem()
    );
    assert_eq!(
        printer.offer(),
        TicketOffer::PaperAndQr { paper_low: false }
    );

    let printed = printer.print(&slip(Language::De)).expect("printed");
    let expected = printer.ticket_bytes(&slip(Language::De)).unwrap();
    assert_eq!(printed.bytes_sent, expected.len());
    assert_eq!(printed.status.reachability, Reachability::Answering);

    let jobs = fake.stop();
    assert_eq!(jobs, vec![expected.clone()]);
    // What the printer received draws a ticket whose QR reads back.
    let ticket = emulator::render(&jobs[0]).unwrap();
    assert_eq!(qr_codes_in(&ticket.picture), vec![STATUS_URL.to_owned()]);
}

#[test]
fn paper_out_means_qr_only_and_nothing_is_printed() {
    let fake = FakePrinter::start(Behaviour::Answers(PAPER_OUT));
    let printer = TicketPrinter::start(fake.config(2000));
    let status = printer.status();
    assert_eq!(status.paper, Paper::Out);
    assert_eq!(printer.offer(), TicketOffer::QrOnly(QrOnlyReason::PaperOut));

    let error = printer.print(&slip(Language::De)).unwrap_err();
    assert!(matches!(error, PrintError::NotReady(_)), "{error}");
    assert_eq!(error.offer(), TicketOffer::QrOnly(QrOnlyReason::PaperOut));
    assert_eq!(
        QrOnlyReason::PaperOut.notice(Language::De),
        "Der Drucker hat kein Papier. Bitte nutzen Sie den QR-Code."
    );
    assert!(
        fake.stop().is_empty(),
        "no ticket bytes reach a printer without paper"
    );
}

#[test]
fn cover_open_means_qr_only() {
    let fake = FakePrinter::start(Behaviour::Answers(COVER_OPEN));
    let printer = TicketPrinter::start(fake.config(2000));
    assert_eq!(
        printer.offer(),
        TicketOffer::QrOnly(QrOnlyReason::CoverOpen)
    );
    fake.stop();
}

#[test]
fn paper_near_end_prints_and_warns() {
    let fake = FakePrinter::start(Behaviour::Answers(PAPER_NEAR_END));
    let printer = TicketPrinter::start(fake.config(2000));
    assert_eq!(printer.offer(), TicketOffer::PaperAndQr { paper_low: true });
    let printed = printer.print(&slip(Language::En)).expect("printed");
    assert_eq!(printed.status.paper, Paper::NearEnd);
    assert_eq!(fake.stop().len(), 1);
}

#[test]
fn silent_printer_is_offline_within_the_timeout() {
    let fake = FakePrinter::start(Behaviour::Silent);
    let started = Instant::now();
    let printer = TicketPrinter::start(fake.config(150));
    let problem = printer
        .startup_problem()
        .expect("a silent printer is a problem");
    assert!(
        matches!(problem, PrinterUnavailable::NoAnswer { waited_ms: 150, .. }),
        "{problem}"
    );
    assert_eq!(
        printer.offer(),
        TicketOffer::QrOnly(QrOnlyReason::PrinterUnreachable)
    );
    let error = printer.print(&slip(Language::De)).unwrap_err();
    assert_eq!(
        error.offer(),
        TicketOffer::QrOnly(QrOnlyReason::PrinterUnreachable)
    );
    // Three waits of 150 ms; generous bound for a loaded machine.
    assert!(started.elapsed() < Duration::from_secs(10));
    assert!(fake.stop().is_empty());
}

#[test]
fn printer_hanging_up_mid_ticket_is_reported_and_the_ticket_stays_valid() {
    let fake = FakePrinter::start(Behaviour::HangsUpMidTicket);
    let printer = TicketPrinter::start(fake.config(2000));
    let slip = slip(Language::De);
    let error = printer.print(&slip).unwrap_err();
    assert!(matches!(error, PrintError::Interrupted(_)), "{error}");
    assert_eq!(
        error.offer(),
        TicketOffer::QrOnly(QrOnlyReason::PrintFailed)
    );
    // The ticket is still good: its QR code goes on screen instead.
    let screen = QrImage::encode(slip.status_url.as_deref().unwrap())
        .unwrap()
        .to_grey(8)
        .unwrap();
    assert_eq!(qr_codes_in(&screen), vec![STATUS_URL.to_owned()]);
    fake.stop();
}

// ---------------------------------------------------------------------------
// Bad configuration: a clear error at start-up, status offline, no crash
// ---------------------------------------------------------------------------

#[test]
fn unreachable_host_is_a_startup_problem_and_offline() {
    // A port nobody listens on: bound, then closed again.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut config = PrinterConfig::new(Connection::Network {
        host: "127.0.0.1".to_owned(),
        port,
    });
    config.timeouts = Timeouts::uniform(500);
    let printer = TicketPrinter::start(config);
    let problem = printer.startup_problem().expect("nobody listens there");
    assert!(matches!(problem, PrinterUnavailable::ConnectFailed { .. }));
    assert!(
        problem
            .to_string()
            .starts_with(&format!("network printer 127.0.0.1:{port}: cannot connect")),
        "{problem}"
    );
    assert!(matches!(
        printer.status().reachability,
        Reachability::Unreachable(_)
    ));
    assert!(matches!(
        printer.print(&slip(Language::De)),
        Err(PrintError::Unavailable(_))
    ));
}

#[test]
fn unknown_usb_device_is_a_startup_problem_and_offline() {
    let printer = TicketPrinter::start(PrinterConfig::new(Connection::Usb {
        vendor_id: 0xfffe,
        product_id: 0xfffd,
    }));
    let problem = printer.startup_problem().expect("no such device");
    assert_eq!(
        problem.to_string(),
        "no USB device fffe:fffd is connected (see `lsusb`)"
    );
    assert_eq!(
        printer.status().reachability,
        Reachability::Unreachable("no USB device fffe:fffd is connected (see `lsusb`)".to_owned())
    );
    assert_eq!(
        printer.print(&slip(Language::De)).unwrap_err().offer(),
        TicketOffer::QrOnly(QrOnlyReason::PrinterUnreachable)
    );
}

#[test]
fn missing_serial_device_is_a_startup_problem() {
    let path = scratch_dir("serial").join("ttyUSB9");
    let printer = TicketPrinter::start(PrinterConfig::new(Connection::Serial {
        path: path.clone(),
        baud: 38400,
    }));
    let problem = printer.startup_problem().expect("no such device");
    assert!(
        problem.to_string().contains(&path.display().to_string()),
        "{problem}"
    );
    assert_eq!(
        printer.offer(),
        TicketOffer::QrOnly(QrOnlyReason::PrinterUnreachable)
    );
}

#[test]
fn invalid_configuration_is_a_startup_problem() {
    let printer = TicketPrinter::start(PrinterConfig::new(Connection::Network {
        host: String::new(),
        port: 9100,
    }));
    let problem = printer.startup_problem().expect("invalid");
    assert!(matches!(problem, PrinterUnavailable::InvalidConfig(_)));
    assert_eq!(
        problem.to_string(),
        "printer: `host` is empty; give the printer's host name or IP address"
    );
    assert!(matches!(
        printer.print(&slip(Language::En)),
        Err(PrintError::Unavailable(PrinterUnavailable::InvalidConfig(
            _
        )))
    ));
}

#[test]
fn file_printer_appends_each_ticket() {
    let dir = scratch_dir("file");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("tickets.escpos");
    let printer = TicketPrinter::start(PrinterConfig::new(Connection::File { path: path.clone() }));
    assert!(printer.startup_problem().is_none());
    let first = printer.print(&slip(Language::De)).unwrap();
    let second = printer.print(&slip(Language::En)).unwrap();
    let written = std::fs::read(&path).unwrap();
    assert_eq!(written.len(), first.bytes_sent + second.bytes_sent);
    assert_eq!(printer.status().reachability, Reachability::WriteOnly);
    std::fs::remove_dir_all(&dir).unwrap();
}
