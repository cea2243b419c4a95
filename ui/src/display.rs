//! The foyer display's adapter: maps the [`DisplayView`] the office pushes to the
//! `DisplayAdapter` global, blinks and announces each new call, and keeps the clock
//! and the offline banner current.
//!
//! A call counts as new when the latest call's number, desk or number of calls (a
//! recall) differ from the one shown before; the calls on screen when the display
//! starts are shown without blinking or speaking.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use aufruf_office::views::{CallView, DisplayView};
use aufruf_office::{DisplayService, Replication};
use slint::{ComponentHandle, ModelRc, SharedString, Timer, TimerMode, VecModel};

use crate::pushed::{self, Pushed};
use crate::speech::{Announcement, Announcer};
use crate::{CallRow, DisplayAdapter, DisplayWindow, Now, WaitingRow, text};

/// How long a new call blinks.
pub const BLINK_FOR: Duration = Duration::from_secs(6);
/// How many calls the list under the latest shows.
pub const CALLS_LISTED: usize = 8;
/// How often the clock and the offline banner are brought up to date.
const TICK: Duration = Duration::from_secs(1);
/// Between two notices on the ticker.
const NOTICE_SEPARATOR: &str = "   +++   ";

/// The foyer display on one window.
pub struct DisplayScreen<R: Replication> {
    window: DisplayWindow,
    service: DisplayService<R>,
    announcer: Box<dyn Announcer>,
    now: Now,
    views: Pushed<DisplayView>,
    /// The latest call shown (number, desk, calls); `None` before the first view.
    latest: RefCell<Option<(String, String, u32)>>,
    blink: Timer,
    tick: Timer,
}

impl<R: Replication> std::fmt::Debug for DisplayScreen<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DisplayScreen")
            .field("latest", &self.latest)
            .finish_non_exhaustive()
    }
}

impl<R: Replication> DisplayScreen<R> {
    /// The display on a new window, showing what the office shows now.
    pub fn new(
        service: DisplayService<R>,
        announcer: Box<dyn Announcer>,
        now: Now,
    ) -> Result<Rc<Self>, slint::PlatformError> {
        let window = DisplayWindow::new()?;
        let views = Pushed::new(service.subscribe());
        let screen = Rc::new(DisplayScreen {
            window,
            service,
            announcer,
            now,
            views,
            latest: RefCell::new(None),
            blink: Timer::default(),
            tick: Timer::default(),
        });
        // The display speaks German to the foyer; the catalogue is built in.
        if let Err(e) = crate::select_language("de") {
            tracing::warn!(error = %e, "no German texts on the display");
        }
        screen.show_time();
        screen.show(&screen.views.take());
        pushed::tick_while_alive(&screen.tick, &screen, TICK, Self::show_time);
        Ok(screen)
    }

    pub fn window(&self) -> &DisplayWindow {
        &self.window
    }

    /// Shows every view the office pushes from now on, on Slint's event loop (which
    /// must be running, or run later, on this thread).
    pub fn attach(self: &Rc<Self>) -> Result<(), slint::EventLoopError> {
        pushed::redraw_on_push(self, self.service.subscribe(), |s| {
            s.show_pushed();
        })
    }

    /// Shows the pushed view if it changed since it was last shown; what
    /// [`Self::attach`] does on every push, for tests that drive the screen
    /// without an event loop. Returns whether it changed.
    pub fn show_pushed(&self) -> bool {
        self.views.take_new().map(|view| self.show(&view)).is_some()
    }

    /// Shows a view of the office's calls and queues.
    fn show(&self, view: &DisplayView) {
        let adapter = self.window.global::<DisplayAdapter>();
        // Called now first; when nobody is, the last visitor who went to a desk.
        let mut shown = view.calls.iter().chain(view.recent.iter());
        let latest = shown.next();
        let listed: Vec<CallRow> = shown
            .take(CALLS_LISTED)
            .map(|c| CallRow {
                number: c.number.as_str().into(),
                desk: c.desk_name.as_str().into(),
            })
            .collect();
        adapter
            .set_latest_number(latest.map_or_else(SharedString::new, |c| c.number.as_str().into()));
        adapter.set_latest_desk(
            latest.map_or_else(SharedString::new, |c| c.desk_name.as_str().into()),
        );
        adapter.set_calls(ModelRc::new(VecModel::from(listed)));
        let waiting: Vec<WaitingRow> = view
            .waiting
            .iter()
            .map(|(service, count)| WaitingRow {
                service: service.as_str().into(),
                count: i32::try_from(*count).unwrap_or(i32::MAX),
            })
            .collect();
        adapter.set_waiting(ModelRc::new(VecModel::from(waiting)));
        adapter.set_waiting_total(i32::try_from(view.waiting_total).unwrap_or(i32::MAX));
        self.notice_new_call(view.calls.first());
    }

    /// Blinks and announces a call that was not shown before.
    fn notice_new_call(&self, called: Option<&CallView>) {
        let key = called.map(|c| (c.number.clone(), c.desk_name.clone(), c.calls));
        let first_view = self.latest.borrow().is_none();
        let previous = self.latest.replace(Some(key.clone().unwrap_or_default()));
        let Some(call) = called else { return };
        if first_view || previous == key {
            return;
        }
        let adapter = self.window.global::<DisplayAdapter>();
        adapter.set_blinking(true);
        let window = self.window.as_weak();
        self.blink.start(TimerMode::SingleShot, BLINK_FOR, move || {
            if let Some(window) = window.upgrade() {
                window.global::<DisplayAdapter>().set_blinking(false);
            }
        });
        self.announcer.announce(&Announcement {
            number: call.number.clone(),
            desk: call.desk_name.clone(),
        });
    }

    /// The clock, the date, the notices and whether the display hears any peer.
    fn show_time(&self) {
        let now = (self.now)();
        let office = self.service.office();
        let config = office.config();
        let adapter = self.window.global::<DisplayAdapter>();
        adapter.set_office_name(config.office.name.as_str().into());
        adapter.set_clock(text::clock(&config, now).into());
        adapter.set_date(text::date_de(&config, now).into());
        adapter.set_ticker(config.display.notices.join(NOTICE_SEPARATOR).into());
        adapter.set_offline(office.replica().peers().is_empty());
        let size = self.window.window().size();
        adapter.set_portrait(size.height > size.width);
    }
}
