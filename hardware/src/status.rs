//! The printer's state as the kiosk and the metrics see it, read through
//! ESC/POS real-time status requests (`DLE EOT n`), and the pure decision
//! what the kiosk offers a visitor: a paper ticket and QR code, or the QR code
//! only, and why.

use crate::slip::Language;

/// The four real-time status requests sent in one go: printer status,
/// offline cause, error cause and roll paper sensor. Each printer answers with
/// one byte per request, in order.
///
/// Written out here rather than built with `escpos`' `real_time_status`,
/// which appends a fourth byte (`a = 0`) that `DLE EOT 1..4` do not take.
pub const REAL_TIME_STATUS_REQUESTS: [u8; 12] = [
    0x10, 0x04, 1, // printer status
    0x10, 0x04, 2, // offline cause
    0x10, 0x04, 3, // error cause
    0x10, 0x04, 4, // roll paper sensor
];

/// What the kiosk knows about its printer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrinterStatus {
    /// Whether the printer can be reached, and whether it answers.
    pub reachability: Reachability,
    /// The printer says it is online (ready to print). `true` when the
    /// transport cannot ask.
    pub online: bool,
    /// The roll of paper.
    pub paper: Paper,
    /// The cover is open.
    pub cover_open: bool,
    /// The printer reports an error (autocutter, unrecoverable, …).
    pub error: bool,
}

/// Whether the printer can be reached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reachability {
    /// Connected, and it answered the real-time status requests.
    Answering,
    /// The device is there but the transport cannot read its status (a file,
    /// a USB or serial printer opened for writing only).
    WriteOnly,
    /// Cannot be reached; the text says why, for operators.
    Unreachable(String),
}

/// The roll of paper.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Paper {
    /// Enough paper.
    Adequate,
    /// The near-end sensor fired: change the roll soon.
    NearEnd,
    /// No paper: nothing can be printed.
    Out,
    /// The transport cannot tell.
    Unknown,
}

/// The status bytes did not look like answers to `DLE EOT 1..4`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("byte {byte:#04x} is not an answer to DLE EOT {request}")]
pub struct NotAStatusAnswer {
    /// The request (`n` of `DLE EOT n`).
    pub request: u8,
    /// The byte that came back.
    pub byte: u8,
}

impl PrinterStatus {
    /// A printer that cannot be reached; `why` is shown to operators.
    pub fn unreachable(why: impl Into<String>) -> Self {
        PrinterStatus {
            reachability: Reachability::Unreachable(why.into()),
            online: false,
            paper: Paper::Unknown,
            cover_open: false,
            error: false,
        }
    }

    /// A printer that is there but cannot tell its state.
    pub fn write_only() -> Self {
        PrinterStatus {
            reachability: Reachability::WriteOnly,
            online: true,
            paper: Paper::Unknown,
            cover_open: false,
            error: false,
        }
    }

    /// A printer that answered and is ready, with enough paper.
    pub fn ready() -> Self {
        PrinterStatus {
            reachability: Reachability::Answering,
            online: true,
            paper: Paper::Adequate,
            cover_open: false,
            error: false,
        }
    }

    /// Reads the answers to [`REAL_TIME_STATUS_REQUESTS`] (one byte each).
    ///
    /// Bit meanings from Epson's ESC/POS reference for `DLE EOT`: every
    /// answer has bits 1 and 4 set and bits 0 and 7 clear, which tells status
    /// bytes apart from anything else on the line.
    pub fn from_answers(answers: [u8; 4]) -> Result<Self, NotAStatusAnswer> {
        for (request, byte) in (1u8..).zip(answers) {
            if byte & 0b1001_0011 != 0b0001_0010 {
                return Err(NotAStatusAnswer { request, byte });
            }
        }
        let [printer, offline_cause, error_cause, paper_sensor] = answers;
        let paper = if paper_sensor & 0b0110_0000 != 0 {
            Paper::Out
        } else if paper_sensor & 0b0000_1100 != 0 {
            Paper::NearEnd
        } else {
            Paper::Adequate
        };
        Ok(PrinterStatus {
            reachability: Reachability::Answering,
            online: printer & 0b0000_1000 == 0,
            // Paper end also shows in the offline cause (bit 5).
            paper: if offline_cause & 0b0010_0000 != 0 {
                Paper::Out
            } else {
                paper
            },
            cover_open: offline_cause & 0b0000_0100 != 0,
            error: offline_cause & 0b0100_0000 != 0 || error_cause & 0b0110_1000 != 0,
        })
    }

    /// Whether the printer can print now, as far as anyone can tell.
    pub fn can_print(&self) -> bool {
        matches!(ticket_offer(self), TicketOffer::PaperAndQr { .. })
    }

    /// Gauges for the node's metrics endpoint, each 0 or 1.
    pub fn gauges(&self) -> [(&'static str, u8); 6] {
        let reachable = !matches!(self.reachability, Reachability::Unreachable(_));
        [
            ("printer_reachable", u8::from(reachable)),
            ("printer_online", u8::from(reachable && self.online)),
            ("printer_paper_out", u8::from(self.paper == Paper::Out)),
            (
                "printer_paper_near_end",
                u8::from(self.paper == Paper::NearEnd),
            ),
            ("printer_cover_open", u8::from(self.cover_open)),
            ("printer_error", u8::from(self.error)),
        ]
    }

    /// One line for logs and the operator page.
    pub fn summary(&self) -> String {
        match (&self.reachability, ticket_offer(self)) {
            (Reachability::Unreachable(why), _) => format!("unreachable: {why}"),
            (_, TicketOffer::QrOnly(reason)) => format!("not ready: {}", reason.describe()),
            (Reachability::WriteOnly, _) => "reachable, status not readable".to_owned(),
            (Reachability::Answering, _) if self.paper == Paper::NearEnd => {
                "ready, paper near end".to_owned()
            }
            (Reachability::Answering, _) => "ready".to_owned(),
        }
    }
}

/// What the kiosk offers a visitor who draws a ticket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TicketOffer {
    /// A paper ticket, and the QR code on screen as well.
    PaperAndQr {
        /// The roll is nearly used up: tell the staff.
        paper_low: bool,
    },
    /// Only the QR code on screen, for this reason.
    QrOnly(QrOnlyReason),
}

/// Why the kiosk offers the QR code only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QrOnlyReason {
    /// The printer cannot be reached (switched off, unplugged, misconfigured).
    PrinterUnreachable,
    /// The printer has no paper.
    PaperOut,
    /// The printer's cover is open.
    CoverOpen,
    /// The printer reports an error, e.g. a jammed cutter.
    PrinterError,
    /// The printer says it is offline for another reason.
    PrinterOffline,
    /// The last ticket could not be printed.
    PrintFailed,
}

/// Decides what the kiosk offers, given what it knows about the printer.
///
/// A printer whose status cannot be read is given the benefit of the doubt:
/// a failed print then falls back to the QR code.
pub fn ticket_offer(status: &PrinterStatus) -> TicketOffer {
    let reason = if matches!(status.reachability, Reachability::Unreachable(_)) {
        Some(QrOnlyReason::PrinterUnreachable)
    } else if status.paper == Paper::Out {
        Some(QrOnlyReason::PaperOut)
    } else if status.cover_open {
        Some(QrOnlyReason::CoverOpen)
    } else if status.error {
        Some(QrOnlyReason::PrinterError)
    } else if !status.online {
        Some(QrOnlyReason::PrinterOffline)
    } else {
        None
    };
    match reason {
        Some(reason) => TicketOffer::QrOnly(reason),
        None => TicketOffer::PaperAndQr {
            paper_low: status.paper == Paper::NearEnd,
        },
    }
}

impl QrOnlyReason {
    /// A short English description for logs.
    pub fn describe(self) -> &'static str {
        match self {
            QrOnlyReason::PrinterUnreachable => "printer unreachable",
            QrOnlyReason::PaperOut => "paper out",
            QrOnlyReason::CoverOpen => "cover open",
            QrOnlyReason::PrinterError => "printer error",
            QrOnlyReason::PrinterOffline => "printer offline",
            QrOnlyReason::PrintFailed => "printing failed",
        }
    }

    /// What the kiosk screen tells the visitor.
    pub fn notice(self, language: Language) -> &'static str {
        match (language, self) {
            (Language::De, QrOnlyReason::PaperOut) => {
                "Der Drucker hat kein Papier. Bitte nutzen Sie den QR-Code."
            }
            (Language::De, _) => {
                "Der Drucker ist gerade nicht bereit. Bitte nutzen Sie den QR-Code."
            }
            (Language::En, QrOnlyReason::PaperOut) => {
                "The printer is out of paper. Please use the QR code."
            }
            (Language::En, _) => "The printer is not ready. Please use the QR code.",
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic
mod tests {
    use super::*;

    /// Answers of a ready Epson TM printer: fixed bits only.
    const READY: [u8; 4] = [0x12, 0x12, 0x12, 0x12];

    #[test]
    fn ready_printer_offers_paper() {
        let status = PrinterStatus::from_answers(READY).unwrap();
        assert_eq!(status, PrinterStatus::ready());
        assert_eq!(
            ticket_offer(&status),
            TicketOffer::PaperAndQr { paper_low: false }
        );
    }

    #[test]
    fn paper_out_means_qr_only() {
        // Offline (bit 3), stopped by paper end (bit 5), sensor: end (bits 5, 6).
        let status = PrinterStatus::from_answers([0x1A, 0x32, 0x12, 0x72]).unwrap();
        assert!(!status.online);
        assert_eq!(status.paper, Paper::Out);
        assert_eq!(
            ticket_offer(&status),
            TicketOffer::QrOnly(QrOnlyReason::PaperOut)
        );
    }

    #[test]
    fn paper_near_end_still_prints_but_warns() {
        let status = PrinterStatus::from_answers([0x12, 0x12, 0x12, 0x1E]).unwrap();
        assert_eq!(status.paper, Paper::NearEnd);
        assert_eq!(
            ticket_offer(&status),
            TicketOffer::PaperAndQr { paper_low: true }
        );
        assert_eq!(status.summary(), "ready, paper near end");
    }

    #[test]
    fn cover_open_means_qr_only() {
        let status = PrinterStatus::from_answers([0x1A, 0x16, 0x12, 0x12]).unwrap();
        assert!(status.cover_open);
        assert_eq!(
            ticket_offer(&status),
            TicketOffer::QrOnly(QrOnlyReason::CoverOpen)
        );
    }

    #[test]
    fn cutter_error_means_qr_only() {
        let status = PrinterStatus::from_answers([0x1A, 0x52, 0x1A, 0x12]).unwrap();
        assert!(status.error);
        assert_eq!(
            ticket_offer(&status),
            TicketOffer::QrOnly(QrOnlyReason::PrinterError)
        );
    }

    #[test]
    fn garbage_is_not_a_status() {
        assert_eq!(
            PrinterStatus::from_answers([0x12, 0xFF, 0x12, 0x12]),
            Err(NotAStatusAnswer {
                request: 2,
                byte: 0xFF
            })
        );
    }

    #[test]
    fn unreachable_printer_means_qr_only_and_zero_gauges() {
        let status = PrinterStatus::unreachable("connection refused");
        assert_eq!(
            ticket_offer(&status),
            TicketOffer::QrOnly(QrOnlyReason::PrinterUnreachable)
        );
        assert!(status.gauges().iter().all(|(_, value)| *value == 0));
        assert_eq!(status.summary(), "unreachable: connection refused");
    }

    #[test]
    fn write_only_printer_gets_the_benefit_of_the_doubt() {
        assert!(PrinterStatus::write_only().can_print());
    }
}
