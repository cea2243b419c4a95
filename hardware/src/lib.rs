//! Ticket printers and QR codes for the kiosk.
//!
//! The kiosk hands this crate a [`TicketSlip`] — plain display data, no office
//! model types — and gets back either a printed paper ticket or a reason why it
//! should offer the QR ticket only.
//!
//! - [`slip`]: what a ticket says, in German and English.
//! - [`layout`]: the slip as an ESC/POS byte stream (through the `escpos` crate).
//! - [`qr`]: QR codes as pixel buffers for screens and as raster images for paper.
//! - [`status`]: the printer's real-time status (DLE EOT) and what the kiosk offers.
//! - [`config`]: the `[printer]` table of `aufruf.toml`.
//! - [`printer`]: [`TicketPrinter`], which sends tickets over network, USB,
//!   serial, file or the emulated printer.
//! - [`usb`]: finds a USB printer's device node by vendor and product id.
//! - [`emulator`]: decodes an ESC/POS byte stream and draws the ticket as PNG.
//!
//! Everything here is blocking `std` I/O with bounded waits; the kiosk calls
//! it from a worker thread (e.g. `tokio::task::spawn_blocking`).

pub mod config;
pub mod emulator;
pub mod layout;
pub mod printer;
pub mod qr;
pub mod slip;
pub mod status;

mod codepage;
pub mod usb;

pub use config::{ConfigError, Connection, PrinterConfig, QrMode, Timeouts};
pub use printer::{PrintError, Printed, PrinterUnavailable, TicketPrinter};
pub use qr::{QrError, QrImage};
pub use slip::{Language, TicketSlip};
pub use status::{Paper, PrinterStatus, QrOnlyReason, Reachability, TicketOffer, ticket_offer};
