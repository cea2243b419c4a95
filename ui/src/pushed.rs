//! What every screen does with the views its service pushes and with its clock: one
//! receiver that tells whether a view is new, a task on Slint's event loop that
//! redraws on every push, and a timer that ticks while the screen lives. Both hold the
//! screen weakly, so closing the screen ends them.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use slint::{Timer, TimerMode};
use tokio::sync::watch;

/// The views a service pushes, as one screen has seen them.
pub(crate) struct Pushed<V> {
    views: RefCell<watch::Receiver<Arc<V>>>,
}

impl<V> Pushed<V> {
    pub(crate) fn new(views: watch::Receiver<Arc<V>>) -> Self {
        Pushed {
            views: RefCell::new(views),
        }
    }

    /// The latest view if it arrived since the last one taken (the first call after
    /// [`Self::new`] takes nothing: the screen drew that view when it was built).
    pub(crate) fn take_new(&self) -> Option<Arc<V>> {
        let changed = self.views.borrow().has_changed().unwrap_or(false);
        changed.then(|| self.views.borrow_mut().borrow_and_update().clone())
    }

    /// The latest view, marked as seen.
    pub(crate) fn take(&self) -> Arc<V> {
        self.views.borrow_mut().borrow_and_update().clone()
    }
}

/// Runs `redraw` on Slint's event loop (which must be running, or run later, on this
/// thread) after every view pushed on `views`, while `screen` lives.
pub(crate) fn redraw_on_push<S: 'static, V: 'static>(
    screen: &Rc<S>,
    mut views: watch::Receiver<V>,
    redraw: fn(&S),
) -> Result<(), slint::EventLoopError> {
    let weak = Rc::downgrade(screen);
    slint::spawn_local(async move {
        while views.changed().await.is_ok() {
            let Some(screen) = weak.upgrade() else { return };
            redraw(&screen);
        }
    })
    .map(drop)
}

/// Starts `timer` running `tick` every `period` while `screen` lives.
pub(crate) fn tick_while_alive<S: 'static>(
    timer: &Timer,
    screen: &Rc<S>,
    period: Duration,
    tick: fn(&S),
) {
    let weak = Rc::downgrade(screen);
    timer.start(TimerMode::Repeated, period, move || {
        if let Some(screen) = weak.upgrade() {
            tick(&screen);
        }
    });
}
