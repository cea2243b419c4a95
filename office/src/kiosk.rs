//! The kiosk in the foyer: walk-in tickets (paper or QR) and check-in of booked
//! citizens. These are all the actions a kiosk may take.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use aufruf_hardware::{Language, PrintError, TicketOffer, TicketPrinter, TicketSlip};
use aufruf_model::{BookingCode, Origin, ServiceId, Timestamp, WalkIns};
use tokio::sync::watch;

use crate::service::{OfficeService, Replication, ServiceError};
use crate::views::{CatchingUp, Delivery, IssuedView, KioskView, Reopens, TicketView, office_time};

/// The kiosk's receipt printer, as the kiosk service needs it: real hardware in a
/// node, a fake in tests.
pub trait Printer: Send + Sync + fmt::Debug {
    /// Paper and QR, or QR only (and why), as the printer stands now.
    fn offer(&self) -> TicketOffer;
    /// Prints a ticket; returns the emulated printer's picture, if it makes one.
    fn print(&self, slip: &TicketSlip) -> Result<Option<PathBuf>, PrintError>;
}

impl Printer for TicketPrinter {
    fn offer(&self) -> TicketOffer {
        TicketPrinter::offer(self)
    }

    fn print(&self, slip: &TicketSlip) -> Result<Option<PathBuf>, PrintError> {
        TicketPrinter::print(self, slip).map(|printed| printed.picture)
    }
}

/// What the visitor asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wish {
    /// A paper ticket (the QR code comes along).
    Paper,
    /// Only the QR code on screen.
    Qr,
}

/// The kiosk's actions.
#[derive(Debug, Clone)]
pub struct KioskService<R: Replication> {
    office: Arc<OfficeService<R>>,
    printer: Option<Arc<dyn Printer>>,
    /// Start of the status address on tickets (`<url>/t/<token>`); none: no link.
    public_url: Option<String>,
}

impl<R: Replication> KioskService<R> {
    pub fn new(
        office: Arc<OfficeService<R>>,
        printer: Option<Arc<dyn Printer>>,
        public_url: Option<String>,
    ) -> Self {
        Self {
            office,
            printer,
            public_url: public_url.map(|u| u.trim_end_matches('/').to_owned()),
        }
    }

    pub fn office(&self) -> &Arc<OfficeService<R>> {
        &self.office
    }

    /// Whether tickets carry a status link (the office has a public address), so a QR
    /// code can stand in for paper.
    pub fn has_status_links(&self) -> bool {
        self.public_url.is_some()
    }

    /// What the kiosk offers now: paper and QR, or QR only (no printer counts as
    /// unreachable).
    pub fn offer(&self) -> TicketOffer {
        self.printer.as_ref().map_or(
            TicketOffer::QrOnly(aufruf_hardware::QrOnlyReason::PrinterUnreachable),
            |p| p.offer(),
        )
    }

    /// The start screen at `now`: departments, their services, who waits, which take
    /// walk-ins now (and when the others reopen), which services issue no more
    /// tickets today (a new one's wait would pass closing), and whether the kiosk still waits
    /// to catch up with the office (a new store) and issues nothing.
    pub fn view(&self, now: Timestamp) -> KioskView {
        let mut view = (*self.office.kiosk_view()).clone();
        // Read now: the published view changes with the day, catching up may end
        // without a change to it.
        view.catching_up = self.office.catching_up().then(CatchingUp::notice);
        let config = self.office.config();
        let today = self.office.today(now);
        for department in &mut view.departments {
            let Some(first) = department.services.first() else {
                continue;
            };
            match config.walk_ins(&first.service, now) {
                WalkIns::Open => {
                    department.open = true;
                    // Said before a visitor touches it, not after.
                    for service in &mut department.services {
                        service.no_more_today = matches!(
                            self.office.walk_ins_allowed(now, &service.service),
                            Err(ServiceError::NoMoreToday { .. })
                        );
                    }
                }
                WalkIns::Closed { reopens } => {
                    department.open = false;
                    department.reopens = reopens.map(|r| Reopens {
                        de: r.describe_de(today),
                        en: r.describe_en(today),
                    });
                }
            }
        }
        view
    }

    /// Changes of who waits, pushed; read [`Self::view`] for the whole screen.
    pub fn subscribe(&self) -> watch::Receiver<Arc<KioskView>> {
        self.office.subscribe_kiosk()
    }

    /// Draws a walk-in ticket; prints it when asked for paper and the printer can.
    /// The ticket is durable before it is printed or shown.
    pub fn draw_ticket(
        &self,
        now: Timestamp,
        service: &ServiceId,
        wish: Wish,
        language: Language,
    ) -> Result<IssuedView, ServiceError> {
        self.office.walk_ins_allowed(now, service)?;
        let (ticket, token) = self.office.issue(now, service, Origin::WalkIn)?;
        Ok(self.deliver(now, ticket, token, wish, language))
    }

    /// Checks in a booked citizen by booking code (as typed or scanned).
    pub fn check_in(
        &self,
        now: Timestamp,
        code: &str,
        wish: Wish,
        language: Language,
    ) -> Result<IssuedView, ServiceError> {
        let code = BookingCode::new(code.trim().to_uppercase());
        // Too early is a kindness, not an invariant: read first, then act.
        let too_early = self.office.with_today(now, |day, config| {
            day.appointment(&code)
                .and_then(|a| config.check_in_allowed(a, now).err())
        })?;
        if let Some(opens) = too_early {
            return Err(ServiceError::TooEarly {
                opens: office_time(&self.office.config(), opens)
                    .format("%H:%M")
                    .to_string(),
            });
        }
        let (ticket, token) = self
            .office
            .act_issuing(now, |day, config, incarnation, stamp| {
                day.check_in(config, &code, incarnation, stamp)
            })?;
        Ok(self.deliver(now, ticket, token, wish, language))
    }

    fn deliver(
        &self,
        now: Timestamp,
        ticket: TicketView,
        token: String,
        wish: Wish,
        language: Language,
    ) -> IssuedView {
        let status_url = self
            .public_url
            .as_ref()
            .map(|url| format!("{}/t/{token}", url.trim_end_matches('/')));
        // Without a public address there is no code to scan: paper it is.
        let status_url_present = status_url.is_some();
        let wish = if !status_url_present {
            Wish::Paper
        } else {
            wish
        };
        let mut issued = IssuedView {
            ticket,
            status_token: token,
            status_url,
            delivered_as: if status_url_present {
                Delivery::Qr
            } else {
                Delivery::Screen
            },
            print_problem: None,
            picture: None,
        };
        if wish == Wish::Qr {
            return issued;
        }
        let Some(printer) = &self.printer else {
            issued.print_problem = Some("this kiosk has no printer".into());
            return issued;
        };
        if let TicketOffer::QrOnly(reason) = printer.offer() {
            issued.print_problem = Some(reason.notice(language).to_owned());
            return issued;
        }
        let config = self.office.config();
        let slip = TicketSlip {
            office_name: config.office.name.clone(),
            number: issued.ticket.number.clone(),
            service: match language {
                Language::De => issued.ticket.service_name.clone(),
                Language::En => config
                    .service(&issued.ticket.service)
                    .map_or_else(|| issued.ticket.service_name.clone(), |s| s.name.en.clone()),
            },
            visitors_ahead: issued.ticket.ahead,
            estimate_minutes: issued.ticket.estimate_minutes,
            issued_at: office_time(&config, now).naive_local(),
            status_url: issued.status_url.clone(),
            language,
        };
        // The ticket is durable already; a failed print only means QR instead.
        match printer.print(&slip) {
            Ok(picture) => {
                issued.delivered_as = Delivery::Paper;
                issued.picture = picture.map(|p| p.display().to_string());
            }
            Err(e) => {
                tracing::warn!(error = %e, "printing failed; offering the QR code");
                issued.print_problem = Some(e.to_string());
            }
        }
        issued
    }
}
