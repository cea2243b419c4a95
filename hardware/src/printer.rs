//! [`TicketPrinter`]: the kiosk's receipt printer behind one interface, over
//! whichever transport the configuration names.
//!
//! | kind | sends | status |
//! |---|---|---|
//! | `network` | raw TCP (port 9100) | `DLE EOT 1..4` before and after each ticket |
//! | `usb` | `/dev/usb/lpN` of the kernel's `usblp` driver, found by ids ([`crate::usb`]) | device present and writable |
//! | `serial` | the tty, line speed set with `stty` (coreutils) | device present and writable |
//! | `file` | appends the raw bytes | file writable |
//! | `emulated` | a PNG (and the raw `.escpos` bytes) per ticket | ready, or paper out while [`PAPER_OUT_MARKER`] exists |
//!
//! USB and serial use no crate that needs system libraries (`rusb` needs
//! libusb, `serialport` libudev); the price is that their status is only
//! "present and writable": paper and cover are not read back over them.
//!
//! Every wait is bounded by [`Timeouts`]: network connects and reads use
//! socket timeouts; writes to USB and serial devices, which can block while
//! the printer is offline, run on a helper thread that the kiosk stops
//! waiting for. Host names are resolved by the system resolver, which has its
//! own timeouts — configure printers by IP address.
//!
//! Known limit: printers process `DLE EOT` even inside raster image data, so
//! with `qr = "raster"` over the network a QR bitmap that happens to contain
//! such a sequence makes the printer answer early; the status read after the
//! ticket may then report the ticket as not confirmed (the kiosk falls back
//! to the QR code on screen). `qr = "native"` does not have this problem.
//!
//! Nothing here panics on a bad configuration or a missing device: the
//! printer then reports itself unreachable, and [`TicketPrinter::startup_problem`]
//! holds the reason for the log.

use std::fs::{self, OpenOptions};
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::mpsc;
use std::time::Duration;

use crate::config::{ConfigError, Connection, PrinterConfig, Timeouts};
use crate::emulator::{self, EmulatorError};
use crate::layout::{self, LayoutError};
use crate::slip::TicketSlip;
use crate::status::{
    NotAStatusAnswer, Paper, PrinterStatus, QrOnlyReason, REAL_TIME_STATUS_REQUESTS, TicketOffer,
    ticket_offer,
};
use crate::usb::{self, UsbLookupError};

/// A file of this name in the emulated printer's folder makes it report
/// "paper out", so the demo and UI tests can show the QR-only kiosk:
/// `touch <dir>/paper-out`; remove it to "change the roll".
pub const PAPER_OUT_MARKER: &str = "paper-out";

/// The kiosk's receipt printer.
#[derive(Debug)]
pub struct TicketPrinter {
    config: PrinterConfig,
    startup_problem: Option<PrinterUnavailable>,
}

/// A ticket went out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Printed {
    /// Bytes sent to the printer.
    pub bytes_sent: usize,
    /// The printer's status after the ticket (e.g. paper near end).
    pub status: PrinterStatus,
    /// The emulated printer's picture of the ticket.
    pub picture: Option<PathBuf>,
}

/// Why the printer cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum PrinterUnavailable {
    /// The configuration is invalid.
    #[error(transparent)]
    InvalidConfig(#[from] ConfigError),
    /// The host name does not resolve.
    #[error("{printer}: host name not found: {source}")]
    HostNotFound {
        /// The printer as configured.
        printer: String,
        /// The resolver's error.
        source: io::Error,
    },
    /// No connection could be made.
    #[error("{printer}: cannot connect: {source}")]
    ConnectFailed {
        /// The printer as configured.
        printer: String,
        /// Why not (refused, timed out, no route, …).
        source: io::Error,
    },
    /// The printer did not answer the status request in time.
    #[error("{printer}: no answer to the status request within {waited_ms} ms")]
    NoAnswer {
        /// The printer as configured.
        printer: String,
        /// How long the kiosk waited.
        waited_ms: u64,
    },
    /// The printer closed the connection or it broke.
    #[error("{printer}: connection lost: {source}")]
    ConnectionLost {
        /// The printer as configured.
        printer: String,
        /// The socket's error.
        source: io::Error,
    },
    /// The printer answered something that is not a status.
    #[error("{printer}: {source}")]
    BadAnswer {
        /// The printer as configured.
        printer: String,
        /// What came back.
        source: NotAStatusAnswer,
    },
    /// The USB printer is not connected (or not a printer).
    #[error(transparent)]
    Usb(#[from] UsbLookupError),
    /// A device node, file or folder cannot be opened or written.
    #[error("{printer}: cannot use {}: {source}", path.display())]
    PathUnusable {
        /// The printer as configured.
        printer: String,
        /// The path.
        path: PathBuf,
        /// The system's error.
        source: io::Error,
    },
    /// `stty` could not set the serial line.
    #[error("{printer}: cannot set the serial line with stty: {detail}")]
    LineSetup {
        /// The printer as configured.
        printer: String,
        /// What stty said.
        detail: String,
    },
}

/// A ticket could not be printed. The ticket itself stays valid: offer its
/// QR code instead ([`PrintError::offer`]).
#[derive(Debug, thiserror::Error)]
pub enum PrintError {
    /// The printer cannot be reached.
    #[error("printer unavailable: {0}")]
    Unavailable(#[from] PrinterUnavailable),
    /// The printer answered but cannot print (paper out, cover open, …).
    #[error("printer not ready: {}", .0.summary())]
    NotReady(PrinterStatus),
    /// The connection broke or stalled while the ticket was sent; it may be
    /// printed partly or not at all.
    #[error("ticket not confirmed by the printer: {0}")]
    Interrupted(String),
    /// The ticket was sent but the printer reported a problem right after.
    #[error("printer reported a problem after the ticket: {}", .0.summary())]
    ProblemAfterTicket(PrinterStatus),
    /// The ticket could not be composed.
    #[error(transparent)]
    Layout(#[from] LayoutError),
    /// The emulated printer could not read the stream.
    #[error("emulated printer: {0}")]
    Emulator(#[from] EmulatorError),
}

impl TicketPrinter {
    /// Takes the configuration, checks it and looks for the printer once.
    ///
    /// Never fails: with a bad configuration or an absent printer, the
    /// printer reports itself unreachable and [`startup_problem`](Self::startup_problem)
    /// says why. A printer switched on later is found by the next
    /// [`status`](Self::status) or [`print`](Self::print).
    ///
    /// ```
    /// use aufruf_hardware::{Connection, PrinterConfig, TicketOffer, TicketPrinter};
    ///
    /// let config: PrinterConfig = PrinterConfig::new(Connection::Usb {
    ///     vendor_id: 0xfffe,
    ///     product_id: 0xfffd,
    /// });
    /// let printer = TicketPrinter::start(config);
    /// if let Some(problem) = printer.startup_problem() {
    ///     eprintln!("ticket printer unavailable, offering QR tickets only: {problem}");
    /// }
    /// assert!(matches!(printer.offer(), TicketOffer::QrOnly(_)));
    /// ```
    pub fn start(config: PrinterConfig) -> TicketPrinter {
        let mut printer = TicketPrinter {
            config,
            startup_problem: None,
        };
        printer.startup_problem = printer.check().err();
        printer
    }

    /// Why the printer could not be used at start-up, for the log.
    pub fn startup_problem(&self) -> Option<&PrinterUnavailable> {
        self.startup_problem.as_ref()
    }

    /// The configuration in use.
    pub fn config(&self) -> &PrinterConfig {
        &self.config
    }

    /// Asks the printer how it is; waits at most the configured timeouts.
    pub fn status(&self) -> PrinterStatus {
        self.check()
            .unwrap_or_else(|problem| PrinterStatus::unreachable(problem.to_string()))
    }

    /// What the kiosk should offer now ([`ticket_offer`] of [`status`](Self::status)).
    pub fn offer(&self) -> TicketOffer {
        ticket_offer(&self.status())
    }

    /// Prints the ticket, or says why not.
    pub fn print(&self, slip: &TicketSlip) -> Result<Printed, PrintError> {
        self.config.validate().map_err(PrinterUnavailable::from)?;
        let bytes = layout::ticket_bytes(slip, self.config.qr)?;
        let timeouts = self.config.timeouts;
        let name = self.config.connection.describe();
        match &self.config.connection {
            Connection::Network { host, port } => {
                print_network(&name, host, *port, timeouts, &bytes)
            }
            Connection::Usb {
                vendor_id,
                product_id,
            } => {
                let device = usb::find_printer_device(
                    Path::new(usb::SYSFS_USB_DEVICES),
                    Path::new(usb::DEV_USB),
                    *vendor_id,
                    *product_id,
                )
                .map_err(PrinterUnavailable::from)?;
                write_device(&name, &device, bytes, timeouts.io())
            }
            Connection::Serial { path, baud } => {
                set_line(&name, path, *baud, timeouts.io())?;
                write_device(&name, path, bytes, timeouts.io())
            }
            Connection::File { path } => {
                let unusable = |source| PrinterUnavailable::PathUnusable {
                    printer: name.clone(),
                    path: path.clone(),
                    source,
                };
                let mut file = OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .map_err(unusable)?;
                file.write_all(&bytes)
                    .and_then(|()| file.flush())
                    .map_err(|e| PrintError::Interrupted(e.to_string()))?;
                Ok(Printed {
                    bytes_sent: bytes.len(),
                    status: PrinterStatus::write_only(),
                    picture: None,
                })
            }
            Connection::Emulated { dir } => {
                let status = emulated_status(&name, dir)?;
                if !status.can_print() {
                    return Err(PrintError::NotReady(status));
                }
                print_emulated(&name, dir, slip, &bytes)
            }
        }
    }

    /// The byte stream [`print`](Self::print) sends for this slip.
    pub fn ticket_bytes(&self, slip: &TicketSlip) -> Result<Vec<u8>, LayoutError> {
        layout::ticket_bytes(slip, self.config.qr)
    }

    fn check(&self) -> Result<PrinterStatus, PrinterUnavailable> {
        self.config.validate()?;
        let name = self.config.connection.describe();
        let timeouts = self.config.timeouts;
        match &self.config.connection {
            Connection::Network { host, port } => {
                let mut stream = connect(&name, host, *port, timeouts)?;
                query_status(&name, &mut stream, timeouts)
            }
            Connection::Usb {
                vendor_id,
                product_id,
            } => {
                let device = usb::find_printer_device(
                    Path::new(usb::SYSFS_USB_DEVICES),
                    Path::new(usb::DEV_USB),
                    *vendor_id,
                    *product_id,
                )?;
                probe_device(&name, &device, timeouts.io())
            }
            Connection::Serial { path, .. } => probe_device(&name, path, timeouts.io()),
            Connection::File { path } => {
                open_for_writing(&name, path, true).map(|_| PrinterStatus::write_only())
            }
            Connection::Emulated { dir } => emulated_status(&name, dir),
        }
    }
}

impl PrintError {
    /// Why the kiosk now offers the QR code only.
    pub fn qr_only_reason(&self) -> QrOnlyReason {
        match self {
            PrintError::Unavailable(_) => QrOnlyReason::PrinterUnreachable,
            PrintError::NotReady(status) | PrintError::ProblemAfterTicket(status) => {
                match ticket_offer(status) {
                    TicketOffer::QrOnly(reason) => reason,
                    TicketOffer::PaperAndQr { .. } => QrOnlyReason::PrintFailed,
                }
            }
            PrintError::Interrupted(_) | PrintError::Layout(_) | PrintError::Emulator(_) => {
                QrOnlyReason::PrintFailed
            }
        }
    }

    /// What the kiosk offers after this failure: the QR code only.
    pub fn offer(&self) -> TicketOffer {
        TicketOffer::QrOnly(self.qr_only_reason())
    }
}

/// One ticket over raw TCP: status, ticket, status again.
fn print_network(
    name: &str,
    host: &str,
    port: u16,
    timeouts: Timeouts,
    bytes: &[u8],
) -> Result<Printed, PrintError> {
    let mut stream = connect(name, host, port, timeouts)?;
    let before = query_status(name, &mut stream, timeouts)?;
    if !before.can_print() {
        return Err(PrintError::NotReady(before));
    }
    stream
        .write_all(bytes)
        .and_then(|()| stream.flush())
        .map_err(|e| PrintError::Interrupted(e.to_string()))?;
    // The answer after the ticket proves the printer took it all; a dropped
    // or stalled connection shows here even when the write itself went into
    // the socket buffer.
    let after = query_status(name, &mut stream, timeouts)
        .map_err(|problem| PrintError::Interrupted(problem.to_string()))?;
    if after.paper == Paper::Out || after.error || after.cover_open {
        return Err(PrintError::ProblemAfterTicket(after));
    }
    Ok(Printed {
        bytes_sent: bytes.len(),
        status: after,
        picture: None,
    })
}

fn connect(
    name: &str,
    host: &str,
    port: u16,
    timeouts: Timeouts,
) -> Result<TcpStream, PrinterUnavailable> {
    let addresses: Vec<SocketAddr> = (host, port)
        .to_socket_addrs()
        .map_err(|source| PrinterUnavailable::HostNotFound {
            printer: name.to_owned(),
            source,
        })?
        .collect();
    let mut last_error = io::Error::new(io::ErrorKind::NotFound, "the host name has no address");
    for address in addresses {
        match TcpStream::connect_timeout(&address, timeouts.connect()) {
            Ok(stream) => {
                let configured = stream
                    .set_read_timeout(Some(timeouts.io()))
                    .and_then(|()| stream.set_write_timeout(Some(timeouts.io())))
                    .and_then(|()| stream.set_nodelay(true));
                return match configured {
                    Ok(()) => Ok(stream),
                    Err(source) => Err(PrinterUnavailable::ConnectFailed {
                        printer: name.to_owned(),
                        source,
                    }),
                };
            }
            Err(error) => last_error = error,
        }
    }
    Err(PrinterUnavailable::ConnectFailed {
        printer: name.to_owned(),
        source: last_error,
    })
}

fn query_status(
    name: &str,
    stream: &mut TcpStream,
    timeouts: Timeouts,
) -> Result<PrinterStatus, PrinterUnavailable> {
    let lost = |source: io::Error| match source.kind() {
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => PrinterUnavailable::NoAnswer {
            printer: name.to_owned(),
            waited_ms: timeouts.io_timeout_ms,
        },
        _ => PrinterUnavailable::ConnectionLost {
            printer: name.to_owned(),
            source,
        },
    };
    stream.write_all(&REAL_TIME_STATUS_REQUESTS).map_err(lost)?;
    let mut answers = [0u8; 4];
    stream.read_exact(&mut answers).map_err(lost)?;
    PrinterStatus::from_answers(answers).map_err(|source| PrinterUnavailable::BadAnswer {
        printer: name.to_owned(),
        source,
    })
}

fn open_for_writing(name: &str, path: &Path, create: bool) -> Result<fs::File, PrinterUnavailable> {
    let mut options = OpenOptions::new();
    options.append(true).create(create);
    // A service started by systemd leads its own session and has no terminal:
    // opening a serial port would make it the controlling terminal, and
    // unplugging the printer would then send SIGHUP and end the kiosk.
    #[cfg(all(
        target_os = "linux",
        any(
            target_arch = "x86_64",
            target_arch = "aarch64",
            target_arch = "x86",
            target_arch = "arm"
        )
    ))]
    {
        use std::os::unix::fs::OpenOptionsExt;
        /// `O_NOCTTY` of `asm-generic/fcntl.h`, which these architectures use.
        const O_NOCTTY: i32 = 0o400;
        options.custom_flags(O_NOCTTY);
    }
    options
        .open(path)
        .map_err(|source| PrinterUnavailable::PathUnusable {
            printer: name.to_owned(),
            path: path.to_owned(),
            source,
        })
}

/// Writes to a USB or serial device node. Opening and writing can block for
/// as long as the printer is offline (or a serial line waits for its
/// carrier), so both run on a helper thread and the kiosk waits at most
/// `timeout`; a stalled thread ends when the device accepts the data or goes
/// away.
fn write_device(
    name: &str,
    path: &Path,
    bytes: Vec<u8>,
    timeout: Duration,
) -> Result<Printed, PrintError> {
    let length = bytes.len();
    let (device_name, device_path) = (name.to_owned(), path.to_owned());
    let outcome = within(timeout, move || {
        let mut device =
            open_for_writing(&device_name, &device_path, false).map_err(PrintError::Unavailable)?;
        device
            .write_all(&bytes)
            .and_then(|()| device.flush())
            .map_err(|error| PrintError::Interrupted(error.to_string()))
    });
    match outcome {
        Some(Ok(())) => Ok(Printed {
            bytes_sent: length,
            status: PrinterStatus::write_only(),
            picture: None,
        }),
        Some(Err(error)) => Err(error),
        None => Err(PrintError::Interrupted(format!(
            "{name} took no data within {} ms",
            timeout.as_millis()
        ))),
    }
}

/// Whether a USB or serial device node opens for writing within `timeout`.
fn probe_device(
    name: &str,
    path: &Path,
    timeout: Duration,
) -> Result<PrinterStatus, PrinterUnavailable> {
    let (device_name, device_path) = (name.to_owned(), path.to_owned());
    within(timeout, move || {
        open_for_writing(&device_name, &device_path, false).map(|_| PrinterStatus::write_only())
    })
    .unwrap_or_else(|| {
        Err(PrinterUnavailable::NoAnswer {
            printer: name.to_owned(),
            waited_ms: u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX),
        })
    })
}

/// Runs `work` on a helper thread and waits at most `timeout` for it;
/// `None` when it did not finish in time (it then finishes unobserved).
fn within<T: Send + 'static>(
    timeout: Duration,
    work: impl FnOnce() -> T + Send + 'static,
) -> Option<T> {
    let (done, outcome) = mpsc::channel();
    std::thread::spawn(move || {
        // The kiosk may have stopped waiting; then nobody needs the result.
        let _ = done.send(work());
    });
    outcome.recv_timeout(timeout).ok()
}

/// Sets line speed, raw mode and `clocal` (do not wait for a carrier) with
/// coreutils' `stty`, present on every Debian system, instead of a serial
/// crate that needs libudev.
fn set_line(
    name: &str,
    path: &Path,
    baud: u32,
    timeout: Duration,
) -> Result<(), PrinterUnavailable> {
    if !path.exists() {
        return Err(PrinterUnavailable::PathUnusable {
            printer: name.to_owned(),
            path: path.to_owned(),
            source: io::Error::new(io::ErrorKind::NotFound, "no such device"),
        });
    }
    let mut stty = Command::new("stty");
    stty.arg("-F")
        .arg(path)
        .arg(baud.to_string())
        .args(["raw", "-echo", "clocal"]);
    let line_setup = |detail: String| PrinterUnavailable::LineSetup {
        printer: name.to_owned(),
        detail,
    };
    // stty waits for pending output to drain, which a stuck printer never does.
    let output = within(timeout, move || stty.output())
        .ok_or_else(|| {
            line_setup(format!(
                "stty did not finish within {} ms",
                timeout.as_millis()
            ))
        })?
        .map_err(|e| line_setup(e.to_string()))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(line_setup(
            String::from_utf8_lossy(&output.stderr).trim().to_owned(),
        ))
    }
}

/// The emulated printer is ready unless a file named [`PAPER_OUT_MARKER`]
/// lies in its folder.
fn emulated_status(name: &str, dir: &Path) -> Result<PrinterStatus, PrinterUnavailable> {
    fs::create_dir_all(dir).map_err(|source| PrinterUnavailable::PathUnusable {
        printer: name.to_owned(),
        path: dir.to_owned(),
        source,
    })?;
    if dir.join(PAPER_OUT_MARKER).exists() {
        Ok(PrinterStatus {
            online: false,
            paper: Paper::Out,
            ..PrinterStatus::ready()
        })
    } else {
        Ok(PrinterStatus::ready())
    }
}

/// Draws the ticket into `dir` as `ticket-<date>-<time>-<number>.png`, with
/// the raw stream beside it as `.escpos`.
fn print_emulated(
    name: &str,
    dir: &Path,
    slip: &TicketSlip,
    bytes: &[u8],
) -> Result<Printed, PrintError> {
    let ticket = emulator::render(bytes)?;
    let number: String = slip
        .number
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .collect();
    let stem = format!("ticket-{}-{number}", slip.issued_at.format("%Y%m%d-%H%M%S"));
    let picture = dir.join(format!("{stem}.png"));
    let unusable = |path: &Path, source: io::Error| PrinterUnavailable::PathUnusable {
        printer: name.to_owned(),
        path: path.to_owned(),
        source,
    };
    let png = ticket
        .picture
        .to_png()
        .map_err(|e| unusable(&picture, io::Error::other(e)))?;
    fs::create_dir_all(dir).map_err(|e| unusable(dir, e))?;
    fs::write(&picture, png).map_err(|e| unusable(&picture, e))?;
    let raw = dir.join(format!("{stem}.escpos"));
    fs::write(&raw, bytes).map_err(|e| unusable(&raw, e))?;
    Ok(Printed {
        bytes_sent: bytes.len(),
        status: PrinterStatus::ready(),
        picture: Some(picture),
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("aufruf-printer-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn stalled_device_does_not_hold_the_kiosk_beyond_the_timeout() {
        // A FIFO without a reader blocks open() like a printer that takes no data.
        let dir = scratch("fifo");
        let fifo = dir.join("lp0");
        let made = Command::new("mkfifo").arg(&fifo).status().unwrap();
        assert!(made.success());

        let error = write_device(
            "USB printer",
            &fifo,
            b"ticket".to_vec(),
            Duration::from_millis(100),
        )
        .unwrap_err();
        assert_eq!(
            error.to_string(),
            "ticket not confirmed by the printer: USB printer took no data within 100 ms"
        );
        assert_eq!(error.qr_only_reason(), QrOnlyReason::PrintFailed);

        // The printer wakes up: the stalled helper delivers the ticket after all.
        let mut delivered = Vec::new();
        fs::File::open(&fifo)
            .unwrap()
            .read_to_end(&mut delivered)
            .unwrap();
        assert_eq!(delivered, b"ticket");
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn device_node_that_is_not_a_terminal_is_refused_by_stty() {
        let dir = scratch("stty");
        let not_a_tty = dir.join("ttyUSB0");
        fs::write(&not_a_tty, b"").unwrap();
        let error =
            set_line("serial printer", &not_a_tty, 38400, Duration::from_secs(5)).unwrap_err();
        assert!(
            error
                .to_string()
                .starts_with("serial printer: cannot set the serial line with stty: "),
            "{error}"
        );
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn device_node_that_opens_is_present() {
        let dir = scratch("present");
        let lp = dir.join("lp0");
        fs::write(&lp, b"").unwrap();
        assert_eq!(
            probe_device("USB printer", &lp, Duration::from_secs(5)).unwrap(),
            PrinterStatus::write_only()
        );
        let printed = write_device(
            "USB printer",
            &lp,
            b"ticket".to_vec(),
            Duration::from_secs(5),
        )
        .unwrap();
        assert_eq!(printed.bytes_sent, 6);
        assert_eq!(fs::read(&lp).unwrap(), b"ticket");
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn printer_can_be_shared_between_kiosk_threads() {
        fn shareable<T: Send + Sync>() {}
        shareable::<TicketPrinter>();
        shareable::<PrintError>();
    }
}
