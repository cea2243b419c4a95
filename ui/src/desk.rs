//! The desk terminal's adapter: the desk's [`DeskView`] mapped to the `DeskAdapter`
//! global, and every button (or its keyboard shortcut) one
//! [`DeskService::act`] call — the same the node's HTTP API makes.
//!
//! A call of this desk that lost to another desk's earlier call is shown until the
//! clerk acknowledges it; peers (the display reachable, cut off from all) and the
//! clock check are read once a second with the clock, as the office pushes no change
//! of them.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::rc::{Rc, Weak};
use std::time::Duration;

use aufruf_model::{DeskId, ServiceId, TicketId, Transfer};
use aufruf_office::views::{DeskView, TicketState, TicketView};
use aufruf_office::{DeskAction, DeskService, Replication};
use slint::{ComponentHandle, ModelRc, SharedString, Timer, VecModel};

use crate::pushed::{self, Pushed};
use crate::{
    DeskAdapter, DeskChoice, DeskServiceCount, DeskTarget, DeskVisitor, DeskWindow, Now, text,
};

/// How often the clock, the peers and the clock check are looked at.
const TICK: Duration = Duration::from_secs(1);

/// One desk's terminal on one window.
pub struct DeskScreen<R: Replication> {
    window: DeskWindow,
    service: DeskService<R>,
    now: Now,
    views: Pushed<BTreeMap<DeskId, DeskView>>,
    /// The view shown, to redraw only on a change.
    shown: RefCell<Option<DeskView>>,
    /// Lost claims the clerk has acknowledged.
    acknowledged: RefCell<BTreeSet<TicketId>>,
    /// The desk's services the clerk unticked for the next opening.
    unticked: RefCell<BTreeSet<ServiceId>>,
    tick: Timer,
}

impl<R: Replication> std::fmt::Debug for DeskScreen<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeskScreen")
            .field("desk", self.service.desk())
            .finish_non_exhaustive()
    }
}

impl<R: Replication> DeskScreen<R> {
    /// The desk's terminal on a new window.
    pub fn new(service: DeskService<R>, now: Now) -> Result<Rc<Self>, slint::PlatformError> {
        let window = DeskWindow::new()?;
        let views = Pushed::new(service.subscribe());
        let screen = Rc::new(DeskScreen {
            window,
            service,
            now,
            views,
            shown: RefCell::new(None),
            acknowledged: RefCell::new(BTreeSet::new()),
            unticked: RefCell::new(BTreeSet::new()),
            tick: Timer::default(),
        });
        if let Err(e) = crate::select_language("de") {
            tracing::warn!(error = %e, "no German texts on the desk terminal");
        }
        screen.connect();
        screen.refresh();
        pushed::tick_while_alive(&screen.tick, &screen, TICK, Self::refresh);
        Ok(screen)
    }

    pub fn window(&self) -> &DeskWindow {
        &self.window
    }

    /// Shows every change the office pushes from now on, on Slint's event loop.
    pub fn attach(self: &Rc<Self>) -> Result<(), slint::EventLoopError> {
        pushed::redraw_on_push(self, self.service.subscribe(), |s| {
            s.show_pushed();
        })
    }

    /// Shows the pushed view if it changed; what [`Self::attach`] does on every push,
    /// for tests without an event loop.
    pub fn show_pushed(&self) -> bool {
        self.views.take_new().map(|_| self.refresh()).is_some()
    }

    fn connect(self: &Rc<Self>) {
        let adapter = self.window.global::<DeskAdapter>();
        let act = |screen: &Weak<Self>, action: DeskAction| {
            if let Some(screen) = screen.upgrade() {
                screen.act(action);
            }
        };
        let w = Rc::downgrade(self);
        adapter.on_open_desk(move || {
            if let Some(screen) = w.upgrade() {
                let services = screen.chosen_services();
                screen.act(DeskAction::Open { services });
            }
        });
        let w = Rc::downgrade(self);
        adapter.on_choose(move |id, on| {
            if let Some(screen) = w.upgrade() {
                let service = ServiceId::new(id.as_str());
                if on {
                    screen.unticked.borrow_mut().remove(&service);
                } else {
                    screen.unticked.borrow_mut().insert(service);
                }
                screen.show_choices();
            }
        });
        let w = Rc::downgrade(self);
        adapter.on_close_desk(move || act(&w, DeskAction::Close));
        let w = Rc::downgrade(self);
        adapter.on_pause(move || act(&w, DeskAction::Pause));
        let w = Rc::downgrade(self);
        adapter.on_resume(move || act(&w, DeskAction::Resume));
        let w = Rc::downgrade(self);
        adapter.on_call_next(move || act(&w, DeskAction::CallNext));
        let w = Rc::downgrade(self);
        adapter.on_recall(move || act(&w, DeskAction::Recall));
        let w = Rc::downgrade(self);
        adapter.on_serving(move || act(&w, DeskAction::Serving));
        let w = Rc::downgrade(self);
        adapter.on_done(move || act(&w, DeskAction::Done));
        let w = Rc::downgrade(self);
        adapter.on_no_show(move || act(&w, DeskAction::NoShow));
        let w = Rc::downgrade(self);
        adapter.on_park(move || act(&w, DeskAction::Park));
        let w = Rc::downgrade(self);
        adapter.on_call(move |id| {
            if let Some(ticket) = parse_ticket(&id) {
                act(&w, DeskAction::Call { ticket });
            }
        });
        let w = Rc::downgrade(self);
        adapter.on_return_ticket(move |id| {
            if let Some(ticket) = parse_ticket(&id) {
                act(&w, DeskAction::Return { ticket });
            }
        });
        let w = Rc::downgrade(self);
        adapter.on_transfer_to_service(move |id| {
            act(
                &w,
                DeskAction::Transfer {
                    to: Transfer::Service(ServiceId::new(id.as_str())),
                },
            )
        });
        let w = Rc::downgrade(self);
        adapter.on_transfer_to_desk(move |id| {
            act(
                &w,
                DeskAction::Transfer {
                    to: Transfer::Desk(DeskId::new(id.as_str())),
                },
            )
        });
        let w = Rc::downgrade(self);
        adapter.on_dismiss_lost(move || {
            if let Some(screen) = w.upgrade() {
                screen.dismiss_lost();
            }
        });
    }

    /// One clerk's action through the desk service; its refusal is shown.
    fn act(&self, action: DeskAction) {
        let adapter = self.window.global::<DeskAdapter>();
        adapter.set_transferring(false);
        match self.service.act((self.now)(), action) {
            Ok(view) => {
                adapter.set_error(SharedString::new());
                self.show(view);
            }
            Err(e) => {
                tracing::info!(error = %e, "desk action refused");
                adapter.set_error(e.to_string().into());
            }
        }
    }

    fn dismiss_lost(&self) {
        if let Some(view) = self.shown.borrow().as_ref() {
            self.acknowledged
                .borrow_mut()
                .extend(view.lost_claims.iter().map(|l| l.ticket.clone()));
        }
        let adapter = self.window.global::<DeskAdapter>();
        adapter.set_lost_number(SharedString::new());
        adapter.set_lost_to(SharedString::new());
    }

    /// The desk's view with its peers now, and the clock.
    fn refresh(&self) {
        let now = (self.now)();
        let office = self.service.office();
        let config = office.config();
        let adapter = self.window.global::<DeskAdapter>();
        adapter.set_clock(text::clock(&config, now).into());
        adapter.set_clock_wrong(office.clock_check().is_wrong());
        match self.service.view(now) {
            Ok(view) => self.show(view),
            Err(e) => tracing::warn!(error = %e, "no view of this desk"),
        }
    }

    /// The desk's configured services.
    fn desk_services(&self) -> Vec<ServiceId> {
        self.service
            .office()
            .config()
            .desk(self.service.desk())
            .map(|d| d.services.clone())
            .unwrap_or_default()
    }

    /// What the desk opens for: every service when none is unticked (so it follows
    /// the configuration), else the ticked ones.
    fn chosen_services(&self) -> Vec<ServiceId> {
        let unticked = self.unticked.borrow();
        if unticked.is_empty() {
            return Vec::new();
        }
        self.desk_services()
            .into_iter()
            .filter(|s| !unticked.contains(s))
            .collect()
    }

    /// The choices shown while the desk is closed, and whether it can open (one
    /// service at least).
    fn show_choices(&self) {
        let config = self.service.office().config();
        let unticked = self.unticked.borrow();
        let choices: Vec<DeskChoice> = self
            .desk_services()
            .iter()
            .map(|s| DeskChoice {
                id: s.as_str().into(),
                name: config
                    .service(s)
                    .map_or_else(|| s.to_string(), |c| c.name.de.clone())
                    .into(),
                chosen: !unticked.contains(s),
            })
            .collect();
        let adapter = self.window.global::<DeskAdapter>();
        adapter.set_can_open(choices.iter().any(|c| c.chosen));
        adapter.set_choices(ModelRc::new(VecModel::from(choices)));
    }

    fn show(&self, view: DeskView) {
        if self.shown.borrow().as_ref() == Some(&view) {
            return;
        }
        let office = self.service.office();
        let config = office.config();
        let adapter = self.window.global::<DeskAdapter>();
        adapter.set_desk_name(view.name.as_str().into());
        adapter.set_open(view.open);
        if !view.open {
            self.show_choices();
        }
        adapter.set_paused(view.paused);
        let services: Vec<ServiceId> = if view.services.is_empty() {
            config
                .desk(&view.desk)
                .map(|d| d.services.clone())
                .unwrap_or_default()
        } else {
            view.services.clone()
        };
        let name = |s: &ServiceId| {
            config
                .service(s)
                .map_or_else(|| s.to_string(), |s| s.name.de.clone())
        };
        adapter.set_services(
            services
                .iter()
                .map(name)
                .collect::<Vec<_>>()
                .join(", ")
                .into(),
        );
        let waiting: BTreeMap<ServiceId, u32> = office
            .kiosk_view()
            .departments
            .iter()
            .flat_map(|d| &d.services)
            .map(|s| (s.service.clone(), s.waiting))
            .collect();
        let counts: Vec<DeskServiceCount> = services
            .iter()
            .map(|s| DeskServiceCount {
                name: name(s).into(),
                count: waiting
                    .get(s)
                    .map_or(0, |n| i32::try_from(*n).unwrap_or(i32::MAX)),
            })
            .collect();
        adapter.set_waiting(ModelRc::new(VecModel::from(counts)));
        adapter.set_waiting_for_desk(i32::try_from(view.waiting_for_desk).unwrap_or(i32::MAX));
        adapter.set_next(visitors(&view.next));
        adapter.set_parked(visitors(&view.parked));
        match &view.current {
            Some(current) => {
                adapter.set_has_current(true);
                adapter.set_current(visitor(current));
                adapter.set_current_called(current.status == TicketState::Called);
                adapter.set_current_calls(i32::try_from(current.calls).unwrap_or(i32::MAX));
            }
            None => {
                adapter.set_has_current(false);
                adapter.set_current(DeskVisitor::default());
            }
        }
        let lost = view
            .lost_claims
            .iter()
            .rev()
            .find(|l| !self.acknowledged.borrow().contains(&l.ticket));
        match lost {
            Some(lost) => {
                adapter.set_lost_number(lost.number.as_str().into());
                let to = lost.taken_by.as_ref().map_or_else(String::new, |d| {
                    config
                        .desk(d)
                        .map_or_else(|| d.to_string(), |d| d.name.clone())
                });
                adapter.set_lost_to(to.into());
            }
            None => {
                adapter.set_lost_number(SharedString::new());
                adapter.set_lost_to(SharedString::new());
            }
        }
        adapter.set_offline(view.peers.is_empty());
        adapter.set_display_unreachable(!view.display_reachable);
        adapter.set_catching_up(view.catching_up.is_some());
        let current_service = view.current.as_ref().map(|c| c.service.clone());
        let transfer_services: Vec<DeskTarget> = config
            .services
            .iter()
            .filter(|s| Some(&s.id) != current_service.as_ref())
            .map(|s| DeskTarget {
                id: s.id.as_str().into(),
                name: s.name.de.as_str().into(),
            })
            .collect();
        let transfer_desks: Vec<DeskTarget> = config
            .desks
            .iter()
            .filter(|d| d.id != view.desk)
            .filter(|d| {
                current_service
                    .as_ref()
                    .is_some_and(|s| d.services.contains(s))
            })
            .map(|d| DeskTarget {
                id: d.id.as_str().into(),
                name: d.name.as_str().into(),
            })
            .collect();
        adapter.set_transfer_services(ModelRc::new(VecModel::from(transfer_services)));
        adapter.set_transfer_desks(ModelRc::new(VecModel::from(transfer_desks)));
        self.shown.replace(Some(view));
    }
}

fn visitors(tickets: &[TicketView]) -> ModelRc<DeskVisitor> {
    ModelRc::new(VecModel::from(
        tickets.iter().map(visitor).collect::<Vec<_>>(),
    ))
}

fn visitor(t: &TicketView) -> DeskVisitor {
    let since = chrono::DateTime::parse_from_rfc3339(&t.arrival)
        .map(|at| at.format("%H:%M").to_string())
        .unwrap_or_default();
    DeskVisitor {
        id: t.id.to_string().into(),
        number: t.number.as_str().into(),
        service: services_of(t).into(),
        since: since.into(),
        appointment: t.appointment.clone().unwrap_or_default().into(),
    }
}

/// The visitor's service, and the further ones a booking of several brought:
/// "Reisepass + Personalausweis".
fn services_of(t: &TicketView) -> String {
    std::iter::once(&t.service_name)
        .chain(&t.further_services)
        .map(String::as_str)
        .collect::<Vec<_>>()
        .join(" + ")
}

fn parse_ticket(id: &str) -> Option<TicketId> {
    id.parse()
        .map_err(|e| tracing::warn!(id, error = ?e, "not a ticket id"))
        .ok()
}
