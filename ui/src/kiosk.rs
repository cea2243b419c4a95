//! The kiosk's adapter: departments and services as buttons in the visitor's
//! language, a ticket drawn through [`KioskService::draw_ticket`] (paper, or a QR code
//! when the printer cannot print), check-in by booking code through
//! [`KioskService::check_in`], "please wait" while the device catches up or its
//! clock is wrong, and back to the start after [`IDLE_TIMEOUT`] without a touch.
//!
//! The office's configuration names services in German and English only: the kiosk
//! shows the German names in German and the English names in every other language.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Duration;

use aufruf_hardware::{Language, QrImage, TicketOffer};
use aufruf_model::{ActionError, ServiceId};
use aufruf_office::views::{Delivery, IssuedView, KioskView};
use aufruf_office::{KioskService, OfficeError, Replication, ServiceError, Wish};
use slint::{
    ComponentHandle, Image, ModelRc, Rgba8Pixel, SharedPixelBuffer, SharedString, Timer, TimerMode,
    VecModel,
};

use crate::pushed::{self, Pushed};
use crate::{
    KioskAdapter, KioskDepartmentPanel, KioskPage, KioskProblem, KioskServiceButton, KioskWindow,
    Now, Theme, text,
};

/// Without a touch for this long, the kiosk returns to its start in German.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(40);
/// How often the clock, the opening hours and the clock check are looked at.
const TICK: Duration = Duration::from_secs(1);
/// Booking codes are short; a scanner that keeps typing is cut off here.
const MAX_CODE_CHARS: usize = 32;
/// Pixels per QR module on screen.
const QR_MODULE_PX: u32 = 8;
/// Text scale of "larger text".
const LARGER_TEXT: f32 = 1.3;

/// The kiosk on one window.
pub struct KioskScreen<R: Replication> {
    window: KioskWindow,
    service: KioskService<R>,
    now: Now,
    language: RefCell<String>,
    views: Pushed<KioskView>,
    /// What the start page shows now, to redraw only on a change.
    shown: RefCell<Option<(KioskView, String)>>,
    /// The service chosen while the visitor picks paper or QR.
    chosen: RefCell<Option<ServiceId>>,
    larger: Cell<bool>,
    idle: Timer,
    tick: Timer,
}

impl<R: Replication> std::fmt::Debug for KioskScreen<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KioskScreen")
            .field("language", &self.language)
            .finish_non_exhaustive()
    }
}

impl<R: Replication> KioskScreen<R> {
    /// The kiosk's start screen on a new window.
    pub fn new(service: KioskService<R>, now: Now) -> Result<Rc<Self>, slint::PlatformError> {
        let window = KioskWindow::new()?;
        let views = Pushed::new(service.subscribe());
        let screen = Rc::new(KioskScreen {
            window,
            service,
            now,
            language: RefCell::new("de".into()),
            views,
            shown: RefCell::new(None),
            chosen: RefCell::new(None),
            larger: Cell::new(false),
            idle: Timer::default(),
            tick: Timer::default(),
        });
        screen.connect();
        screen.home();
        pushed::tick_while_alive(&screen.tick, &screen, TICK, Self::show_start);
        Ok(screen)
    }

    pub fn window(&self) -> &KioskWindow {
        &self.window
    }

    /// Shows every change the office pushes (who waits, catching up) from now on, on
    /// Slint's event loop.
    pub fn attach(self: &Rc<Self>) -> Result<(), slint::EventLoopError> {
        pushed::redraw_on_push(self, self.service.subscribe(), |s| {
            s.show_pushed();
        })
    }

    /// Shows the pushed view if it changed; what [`Self::attach`] does on every push,
    /// for tests without an event loop.
    pub fn show_pushed(&self) -> bool {
        self.views.take_new().map(|_| self.show_start()).is_some()
    }

    fn connect(self: &Rc<Self>) {
        let adapter = self.window.global::<KioskAdapter>();
        let weak = Rc::downgrade(self);
        let with = move |act: fn(&Self)| {
            let weak = weak.clone();
            move || {
                if let Some(screen) = weak.upgrade() {
                    screen.touched();
                    act(&screen);
                }
            }
        };
        adapter.on_start_check_in(with(Self::start_check_in));
        adapter.on_backspace(with(Self::backspace));
        adapter.on_submit_code(with(Self::submit_code));
        adapter.on_code_edited(with(Self::code_edited));
        adapter.on_home(with(Self::home));
        adapter.on_toggle_contrast(with(Self::toggle_contrast));
        let weak = Rc::downgrade(self);
        adapter.on_choose_language(move |language| {
            if let Some(screen) = weak.upgrade() {
                screen.touched();
                screen.choose_language(&language);
            }
        });
        let weak = Rc::downgrade(self);
        adapter.on_choose_service(move |service| {
            if let Some(screen) = weak.upgrade() {
                screen.touched();
                screen.choose_service(&service);
            }
        });
        let weak = Rc::downgrade(self);
        adapter.on_deliver(move |paper| {
            if let Some(screen) = weak.upgrade() {
                screen.touched();
                screen.deliver(if paper { Wish::Paper } else { Wish::Qr });
            }
        });
        let weak = Rc::downgrade(self);
        adapter.on_key(move |key| {
            if let Some(screen) = weak.upgrade() {
                screen.touched();
                screen.key(&key);
            }
        });
    }

    /// A touch: the idle timeout starts again.
    fn touched(&self) {
        let window = self.window.as_weak();
        self.idle
            .start(TimerMode::SingleShot, IDLE_TIMEOUT, move || {
                if let Some(window) = window.upgrade() {
                    // Through the callback, so the screen resets as on "Done".
                    window.global::<KioskAdapter>().invoke_home();
                }
            });
    }

    /// Back to the start, in German, in the normal theme.
    fn home(&self) {
        self.idle.stop();
        let adapter = self.window.global::<KioskAdapter>();
        adapter.set_page(KioskPage::Start);
        adapter.set_code(SharedString::new());
        self.clear_problem();
        self.chosen.replace(None);
        self.larger.set(false);
        let theme = self.window.global::<Theme>();
        theme.set_high_contrast(false);
        theme.set_scale(1.0);
        self.set_language("de");
        self.show_start();
    }

    fn choose_language(&self, language: &str) {
        self.set_language(language);
        self.show_start();
    }

    fn set_language(&self, language: &str) {
        if let Err(e) = crate::select_language(language) {
            tracing::warn!(language, error = %e, "no texts in this language");
            return;
        }
        self.language.replace(language.to_owned());
        self.window
            .global::<KioskAdapter>()
            .set_language(language.into());
        self.window.global::<Theme>().set_rtl(language == "ar");
    }

    fn toggle_contrast(&self) {
        let larger = !self.larger.get();
        self.larger.set(larger);
        let theme = self.window.global::<Theme>();
        theme.set_high_contrast(larger);
        theme.set_scale(if larger { LARGER_TEXT } else { 1.0 });
    }

    /// The start page: departments, services, who waits, opening hours, whether the
    /// kiosk can issue now and whether it can print. Redrawn only when it changed.
    fn show_start(&self) {
        let now = (self.now)();
        let office = self.service.office();
        let config = office.config();
        let view = self.service.view(now);
        let adapter = self.window.global::<KioskAdapter>();
        adapter.set_office_name(config.office.name.as_str().into());
        adapter.set_clock(text::clock(&config, now).into());
        let clock_wrong = office.clock_check().is_wrong();
        let catching_up = view.catching_up.is_some();
        adapter.set_please_wait(clock_wrong || catching_up);
        adapter.set_wait_reason(if clock_wrong {
            KioskProblem::ClockWrong
        } else {
            KioskProblem::CatchingUp
        });
        adapter.set_printer_out(matches!(self.service.offer(), TicketOffer::QrOnly(_)));
        let language = self.language.borrow().clone();
        let key = (view, language);
        if self.shown.borrow().as_ref() == Some(&key) {
            return;
        }
        let (view, language) = &key;
        let german = language == "de";
        let mut departments: Vec<KioskDepartmentPanel> = view
            .departments
            .iter()
            .map(|d| KioskDepartmentPanel {
                name: if german { &d.name_de } else { &d.name_en }.as_str().into(),
                open: d.open,
                reopens: d
                    .reopens
                    .as_ref()
                    .map(|r| if german { &r.de } else { &r.en }.as_str())
                    .unwrap_or_default()
                    .into(),
                services: ModelRc::new(VecModel::from(
                    d.services
                        .iter()
                        .map(|s| KioskServiceButton {
                            id: s.service.as_str().into(),
                            name: if german { &s.name_de } else { &s.name_en }.as_str().into(),
                            waiting: i32::try_from(s.waiting).unwrap_or(i32::MAX),
                            no_more_today: s.no_more_today,
                        })
                        .collect::<Vec<_>>(),
                )),
            })
            .collect();
        if language == "ar" {
            // Read from the right: the first department there.
            departments.reverse();
        }
        adapter.set_departments(ModelRc::new(VecModel::from(departments)));
        self.shown.replace(Some(key));
    }

    /// A service was touched: paper or QR when both are possible, else straight on.
    fn choose_service(&self, service: &str) {
        self.clear_problem();
        self.chosen.replace(Some(ServiceId::new(service)));
        let can_print = matches!(self.service.offer(), TicketOffer::PaperAndQr { .. });
        match (can_print, self.service.has_status_links()) {
            (true, true) => {
                let adapter = self.window.global::<KioskAdapter>();
                adapter.set_chosen_service(service.into());
                adapter.set_page(KioskPage::Delivery);
            }
            (true, false) => self.deliver(Wish::Paper),
            (false, _) => self.deliver(Wish::Qr),
        }
    }

    fn deliver(&self, wish: Wish) {
        let Some(service) = self.chosen.borrow().clone() else {
            self.home();
            return;
        };
        let issued = self
            .service
            .draw_ticket((self.now)(), &service, wish, self.slip_language());
        match issued {
            Ok(issued) => self.show_ticket(&issued, false),
            Err(e) => {
                self.window
                    .global::<KioskAdapter>()
                    .set_page(KioskPage::Start);
                self.show_problem(&e);
            }
        }
    }

    fn start_check_in(&self) {
        self.clear_problem();
        let adapter = self.window.global::<KioskAdapter>();
        adapter.set_code(SharedString::new());
        adapter.set_page(KioskPage::Appointment);
    }

    fn key(&self, key: &str) {
        let adapter = self.window.global::<KioskAdapter>();
        let mut code = adapter.get_code().to_string();
        if code.chars().count() < MAX_CODE_CHARS {
            code.push_str(key);
        }
        adapter.set_code(code.into());
        self.clear_problem();
    }

    fn backspace(&self) {
        let adapter = self.window.global::<KioskAdapter>();
        let mut code = adapter.get_code().to_string();
        code.pop();
        adapter.set_code(code.into());
        self.clear_problem();
    }

    fn code_edited(&self) {
        let adapter = self.window.global::<KioskAdapter>();
        let code = adapter.get_code();
        if code.chars().count() > MAX_CODE_CHARS {
            adapter.set_code(code.chars().take(MAX_CODE_CHARS).collect::<String>().into());
        }
        self.clear_problem();
    }

    fn submit_code(&self) {
        let code = self.window.global::<KioskAdapter>().get_code();
        if code.trim().is_empty() {
            return;
        }
        let wish = match self.service.offer() {
            TicketOffer::PaperAndQr { .. } => Wish::Paper,
            TicketOffer::QrOnly(_) => Wish::Qr,
        };
        match self
            .service
            .check_in((self.now)(), &code, wish, self.slip_language())
        {
            Ok(issued) => self.show_ticket(&issued, true),
            Err(e) => self.show_problem(&e),
        }
    }

    fn show_ticket(&self, issued: &IssuedView, appointment: bool) {
        let adapter = self.window.global::<KioskAdapter>();
        let ticket = &issued.ticket;
        let config = self.service.office().config();
        let service_name = match config.service(&ticket.service) {
            Some(s) if *self.language.borrow() != "de" => s.name.en.clone(),
            _ => ticket.service_name.clone(),
        };
        adapter.set_ticket_number(ticket.number.as_str().into());
        adapter.set_ticket_service(service_name.into());
        adapter.set_appointment(appointment);
        match (ticket.ahead, ticket.estimate_minutes) {
            (Some(ahead), Some(minutes)) => {
                adapter.set_has_estimate(true);
                adapter.set_ahead(i32::try_from(ahead).unwrap_or(i32::MAX));
                adapter.set_minutes(i32::try_from(minutes).unwrap_or(i32::MAX));
            }
            _ => adapter.set_has_estimate(false),
        }
        let qr = issued.status_url.as_deref().and_then(qr_image);
        adapter.set_has_qr(qr.is_some());
        adapter.set_qr(qr.unwrap_or_default());
        adapter.set_printed(issued.delivered_as == Delivery::Paper);
        // Paper was wished (or the only way) but none came out.
        adapter.set_print_failed(
            issued.delivered_as != Delivery::Paper
                && issued.print_problem.is_some()
                && !adapter.get_printer_out(),
        );
        adapter.set_page(KioskPage::Ticket);
        self.clear_problem();
    }

    fn show_problem(&self, e: &ServiceError) {
        let (problem, detail) = match e {
            ServiceError::Closed { reopens, .. } => {
                (KioskProblem::Closed, reopens.clone().unwrap_or_default())
            }
            ServiceError::TooEarly { opens } => (KioskProblem::TooEarly, opens.clone()),
            ServiceError::Office(OfficeError::Action(
                ActionError::UnknownBooking(_) | ActionError::AlreadyCheckedIn { .. },
            )) => (KioskProblem::UnknownBooking, String::new()),
            ServiceError::ClockWrong(_) => (KioskProblem::ClockWrong, String::new()),
            ServiceError::Office(OfficeError::CatchingUp) => {
                (KioskProblem::CatchingUp, String::new())
            }
            other => {
                tracing::warn!(error = %other, "the kiosk could not serve a visitor");
                (KioskProblem::Failed, other.to_string())
            }
        };
        let adapter = self.window.global::<KioskAdapter>();
        adapter.set_problem(problem);
        adapter.set_problem_detail(detail.into());
    }

    fn clear_problem(&self) {
        let adapter = self.window.global::<KioskAdapter>();
        adapter.set_problem(KioskProblem::None);
        adapter.set_problem_detail(SharedString::new());
    }

    /// Paper tickets are printed in German or English.
    fn slip_language(&self) -> Language {
        if *self.language.borrow() == "de" {
            Language::De
        } else {
            Language::En
        }
    }
}

/// The status link as a QR code on screen; `None` when it cannot be made (then the
/// number alone is shown).
fn qr_image(url: &str) -> Option<Image> {
    let grey = QrImage::encode(url)
        .and_then(|qr| qr.to_grey(QR_MODULE_PX))
        .map_err(|e| tracing::warn!(error = %e, "no QR code for the ticket"))
        .ok()?;
    let buffer = SharedPixelBuffer::<Rgba8Pixel>::clone_from_slice(
        &grey.to_rgba8(),
        grey.width,
        grey.height,
    );
    Some(Image::from_rgba8(buffer))
}
