//! A ticket as an ESC/POS byte stream, composed with the `escpos` crate.
//!
//! Layout, centred on an 80 mm roll (48 columns of font A):
//! office name (bold), "Ihre Nummer", the number at 4× size, the service,
//! how many wait ahead and about how long, date and time, the QR code of the
//! status page, the status URL in text, cut.
//!
//! Text goes out in code page 858 (selected with `ESC t 19` after `ESC @`), so
//! umlauts and ß print right; characters the page lacks are replaced first.

use std::cell::RefCell;
use std::rc::Rc;

use escpos::driver::Driver;
use escpos::printer::Printer;
use escpos::printer_options::PrinterOptions;
use escpos::utils::{
    JustifyMode, PageCode, Protocol, QRCodeCorrectionLevel, QRCodeModel, QRCodeOption,
};

use crate::codepage;
use crate::config::QrMode;
use crate::qr::{QrError, QrImage};
use crate::slip::TicketSlip;

/// Printer dots per QR module; 6 dots at 203 dpi make a status URL code
/// about 2.5 cm wide, easy for any phone.
pub const QR_MODULE_DOTS: u8 = 6;

/// Columns of font A on an 80 mm roll.
pub const COLUMNS: u8 = 48;

/// The ticket could not be composed.
#[derive(Debug, thiserror::Error)]
pub enum LayoutError {
    /// The `escpos` crate refused a command.
    #[error("ESC/POS composition failed: {0}")]
    Escpos(#[from] escpos::errors::PrinterError),
    /// The QR code could not be made.
    #[error(transparent)]
    Qr(#[from] QrError),
}

/// The complete byte stream of one ticket, ending with a cut.
pub fn ticket_bytes(slip: &TicketSlip, qr: QrMode) -> Result<Vec<u8>, LayoutError> {
    let spool = Spool::default();
    let options = PrinterOptions::new(Some(PageCode::PC858), None, COLUMNS);
    let mut printer = Printer::new(spool.clone(), Protocol::default(), Some(options));
    printer
        .init()?
        .justify(JustifyMode::CENTER)?
        .bold(true)?
        .custom(&line(&slip.office_name))?
        .bold(false)?
        .feed()?
        .custom(&line(slip.number_heading()))?
        .size(4, 4)?
        .bold(true)?
        .custom(&line(&slip.number))?
        .bold(false)?
        .reset_size()?
        .custom(&line(&slip.service))?
        .feed()?
        .size(1, 2)?
        .custom(&line(&slip.visitors_ahead_text()))?;
    if let Some(estimate) = slip.estimate_text() {
        printer.custom(&line(&estimate))?;
    }
    printer
        .reset_size()?
        .feed()?
        .custom(&line(&slip.issued_text()))?
        .feed()?;
    if let Some(status_url) = &slip.status_url {
        printer.custom(&line(slip.qr_hint()))?;
        match qr {
            QrMode::Native => {
                printer.qrcode_option(
                    status_url,
                    QRCodeOption::new(
                        QRCodeModel::Model2,
                        QR_MODULE_DOTS,
                        QRCodeCorrectionLevel::M,
                    ),
                )?;
            }
            QrMode::Raster => {
                let raster = QrImage::encode(status_url)?.raster_command(QR_MODULE_DOTS)?;
                printer.custom(&raster)?;
            }
        }
        // A blank line keeps the URL clear of the code for scanners.
        printer.feed()?.custom(&line(status_url))?;
    }
    printer.feeds(3)?.print_cut()?;
    Ok(spool.take())
}

/// One line of text in code page 858, ended like `escpos` ends it (`ESC d 1`, print
/// and feed one line). The text is encoded
/// here, not by `escpos`: escpos 0.20's PC858 table has the ASCII hyphen where the
/// soft hyphen (0xF0) belongs, so "kiosk-1-2" came out as "kiosk\xF01\xF02".
fn line(text: &str) -> Vec<u8> {
    let mut bytes = codepage::encode(text);
    bytes.extend_from_slice(&[0x1b, b'd', 1]);
    bytes
}

/// An in-memory `escpos` driver: collects what `print()` flushes.
#[derive(Clone, Default)]
struct Spool {
    bytes: Rc<RefCell<Vec<u8>>>,
}

impl Spool {
    fn take(&self) -> Vec<u8> {
        self.bytes.take()
    }
}

impl Driver for Spool {
    fn name(&self) -> String {
        "spool".to_owned()
    }

    fn write(&self, data: &[u8]) -> escpos::errors::Result<()> {
        self.bytes.try_borrow_mut()?.extend_from_slice(data);
        Ok(())
    }

    fn read(&self, _buf: &mut [u8]) -> escpos::errors::Result<usize> {
        Ok(0)
    }

    fn flush(&self) -> escpos::errors::Result<()> {
        Ok(())
    }
}
