//! The local actions of kiosks and desks on a [`Day`]: issue, check in, call, recall,
//! serve, finish, transfer, park, no-show, cancel, and opening, pausing and closing
//! desks.
//!
//! Each action first checks that it makes sense here and now — the service, desk or
//! booking exists, the desk is open and free, the ticket's fold would accept the event
//! — and refuses with an [`ActionError`] otherwise. Then it applies its event through
//! [`Day::apply`] and returns it, so the caller can store and replicate it.
//!
//! The event orders after everything the ticket or desk it acts on holds: the caller's
//! stamp is after everything its clock followed, and should the ticket or desk hold a
//! later event still — stamped by a clock that ran further ahead than this node's
//! follows ([`crate::HlcClock::observe_within`]) — the event is stamped just after
//! that one. So the fold never sets a local action aside because of a clock, and one
//! event from a clock far ahead holds up nothing else.
//!
//! "Now" for the queue policy is the caller's wall clock, passed in; never a stamp.
//!
//! The actions live here rather than in [`crate::day`] because they draw on
//! [`crate::numbers`] and [`crate::policy`], which read the day: `day` knows neither,
//! and nothing below this module knows the actions.

use crate::config::OfficeConfig;
use crate::day::{ActionError, Day, DeskEvent, DeskSession, Event, RecallOutcome};
use crate::hlc::Stamp;
use crate::ids::{BookingCode, DeskId, Incarnation, ServiceId, TicketId};
use crate::numbers;
use crate::policy;
use crate::ticket::{DisplayNumber, Origin, Ticket, TicketEvent, Transfer};
use crate::time::Timestamp;

impl Day {
    // ---- kiosk actions ----

    /// Issues a walk-in or remote ticket for `service` with a number from the issuing
    /// node's block. Its id is the stamp's node with the `incarnation` of the store
    /// it issues from, and the node's next running number (above all of its tickets
    /// the day holds, of any incarnation).
    pub fn issue(
        &mut self,
        config: &OfficeConfig,
        service: &ServiceId,
        origin: Origin,
        incarnation: Incarnation,
        stamp: Stamp,
    ) -> Result<Event, ActionError> {
        self.issue_promising(config, service, origin, incarnation, stamp, None)
    }

    /// [`Day::issue`], keeping the wait the walk-in is told (`promised`) in the
    /// ticket, for the statistics' estimate error.
    pub fn issue_promising(
        &mut self,
        config: &OfficeConfig,
        service: &ServiceId,
        origin: Origin,
        incarnation: Incarnation,
        stamp: Stamp,
        promised: Option<std::time::Duration>,
    ) -> Result<Event, ActionError> {
        let prefix = config
            .service(service)
            .ok_or_else(|| ActionError::UnknownService(service.clone()))?
            .prefix;
        let node = stamp.node.clone();
        let number = numbers::next_number(config, self, &node)?;
        let seq = self.next_seq(&node);
        let event = Event::Ticket {
            ticket: TicketId::new(node, incarnation, seq),
            stamp,
            event: TicketEvent::Issued {
                number: DisplayNumber { prefix, number },
                service: service.clone(),
                origin,
                promised_wait_secs: promised
                    .map(|p| u32::try_from(p.as_secs()).unwrap_or(u32::MAX)),
            },
        };
        self.apply(event.clone());
        Ok(event)
    }

    /// Checks in a booked citizen: issues their ticket, marked as an appointment.
    pub fn check_in(
        &mut self,
        config: &OfficeConfig,
        code: &BookingCode,
        incarnation: Incarnation,
        stamp: Stamp,
    ) -> Result<Event, ActionError> {
        let appointment = self
            .appointment(code)
            .ok_or_else(|| ActionError::UnknownBooking(code.clone()))?
            .clone();
        if let Some(ticket) = self.checked_in(code) {
            return Err(ActionError::AlreadyCheckedIn {
                code: code.clone(),
                ticket: ticket.id.clone(),
            });
        }
        let origin = Origin::Appointment {
            code: code.clone(),
            due: appointment.due,
        };
        self.issue(config, &appointment.service, origin, incarnation, stamp)
    }

    /// Cancels a ticket that is not being served (the visitor left).
    pub fn cancel(&mut self, ticket: &TicketId, stamp: Stamp) -> Result<Event, ActionError> {
        self.ticket_action(ticket, stamp, TicketEvent::Cancelled)
    }

    /// Puts a parked or no-show ticket back into its queue.
    pub fn return_ticket(&mut self, ticket: &TicketId, stamp: Stamp) -> Result<Event, ActionError> {
        self.ticket_action(ticket, stamp, TicketEvent::Returned)
    }

    // ---- desk actions ----

    pub fn open_desk(
        &mut self,
        config: &OfficeConfig,
        desk: &DeskId,
        services: Vec<ServiceId>,
        stamp: Stamp,
    ) -> Result<Event, ActionError> {
        let configured = config
            .desk(desk)
            .ok_or_else(|| ActionError::UnknownDesk(desk.clone()))?;
        let services = if services.is_empty() {
            configured.services.clone()
        } else {
            services
        };
        for service in &services {
            if config.service(service).is_none() {
                return Err(ActionError::UnknownService(service.clone()));
            }
            if !configured.services.contains(service) {
                return Err(ActionError::DeskDoesNotServe {
                    desk: desk.clone(),
                    service: service.clone(),
                });
            }
        }
        self.desk_action(desk, stamp, DeskEvent::Opened { services })
    }

    pub fn pause_desk(&mut self, desk: &DeskId, stamp: Stamp) -> Result<Event, ActionError> {
        self.require_open(desk)?;
        self.desk_action(desk, stamp, DeskEvent::Paused)
    }

    pub fn resume_desk(&mut self, desk: &DeskId, stamp: Stamp) -> Result<Event, ActionError> {
        self.require_open(desk)?;
        self.desk_action(desk, stamp, DeskEvent::Resumed)
    }

    pub fn close_desk(&mut self, desk: &DeskId, stamp: Stamp) -> Result<Event, ActionError> {
        self.require_open(desk)?;
        if let Some(current) = self.current_of(desk) {
            return Err(ActionError::DeskBusy {
                desk: desk.clone(),
                ticket: current.id.clone(),
            });
        }
        self.desk_action(desk, stamp, DeskEvent::Closed)
    }

    /// Calls the visitor the queue policy picks for this desk at `now`, the desk's
    /// wall clock.
    pub fn call_next(
        &mut self,
        config: &OfficeConfig,
        desk: &DeskId,
        now: Timestamp,
        stamp: Stamp,
    ) -> Result<Event, ActionError> {
        self.ready_to_call(desk)?;
        // A ticket that holds the last stamp there is (only a forger writes one) can
        // take no later event: it is passed over rather than stopping the desk.
        let next = policy::next_for_desk_where(self, config, desk, now, |t| {
            self.latest_of_ticket(&t.id)
                .is_none_or(|latest| latest.hlc.next().is_some())
        })
        .ok_or_else(|| ActionError::NobodyWaiting(desk.clone()))?
        .id
        .clone();
        let call = self.call_event(&next, desk);
        self.ticket_action(&next, stamp, call)
    }

    /// Calls one particular waiting visitor, out of the policy's order.
    pub fn call(
        &mut self,
        config: &OfficeConfig,
        desk: &DeskId,
        ticket: &TicketId,
        stamp: Stamp,
    ) -> Result<Event, ActionError> {
        self.ready_to_call(desk)?;
        let t = self.known(ticket)?;
        if !policy::may_call(self, config, desk, t) {
            return Err(ActionError::DeskDoesNotServe {
                desk: desk.clone(),
                service: t.service.clone(),
            });
        }
        let call = self.call_event(ticket, desk);
        self.ticket_action(ticket, stamp, call)
    }

    /// A call by `desk`, naming how many of the ticket's events the desk knows: all
    /// of them precede the call, which is stamped after the latest.
    fn call_event(&self, ticket: &TicketId, desk: &DeskId) -> TicketEvent {
        TicketEvent::Called {
            desk: desk.clone(),
            seen: Some(u32::try_from(self.events_of_ticket(ticket)).unwrap_or(u32::MAX)),
        }
    }

    /// Calls the current visitor again; after the configured number of calls the
    /// ticket becomes a no-show instead.
    pub fn recall(
        &mut self,
        config: &OfficeConfig,
        desk: &DeskId,
        stamp: Stamp,
    ) -> Result<RecallOutcome, ActionError> {
        let current = self.current_id(desk)?;
        let calls = self.known(&current)?.calls;
        if calls >= config.queue.calls_before_no_show {
            let event = TicketEvent::NoShow { desk: desk.clone() };
            return self
                .ticket_action(&current, stamp, event)
                .map(RecallOutcome::NoShow);
        }
        let event = TicketEvent::Recalled { desk: desk.clone() };
        self.ticket_action(&current, stamp, event)
            .map(RecallOutcome::Recalled)
    }

    /// The called visitor has arrived at the desk.
    pub fn start_serving(&mut self, desk: &DeskId, stamp: Stamp) -> Result<Event, ActionError> {
        self.current_action(desk, stamp, TicketEvent::Serving { desk: desk.clone() })
    }

    pub fn finish(&mut self, desk: &DeskId, stamp: Stamp) -> Result<Event, ActionError> {
        self.current_action(desk, stamp, TicketEvent::Done { desk: desk.clone() })
    }

    pub fn no_show(&mut self, desk: &DeskId, stamp: Stamp) -> Result<Event, ActionError> {
        self.current_action(desk, stamp, TicketEvent::NoShow { desk: desk.clone() })
    }

    pub fn park(&mut self, desk: &DeskId, stamp: Stamp) -> Result<Event, ActionError> {
        self.current_action(desk, stamp, TicketEvent::Parked { desk: desk.clone() })
    }

    /// Sends the current visitor on to another service's queue or another desk; the
    /// visitor keeps their place by arrival time.
    pub fn transfer(
        &mut self,
        config: &OfficeConfig,
        desk: &DeskId,
        to: Transfer,
        stamp: Stamp,
    ) -> Result<Event, ActionError> {
        match &to {
            Transfer::Service(s) if config.service(s).is_none() => {
                return Err(ActionError::UnknownService(s.clone()));
            }
            Transfer::Desk(d) if config.desk(d).is_none() => {
                return Err(ActionError::UnknownDesk(d.clone()));
            }
            _ => {}
        }
        let event = TicketEvent::Transferred {
            desk: desk.clone(),
            to,
        };
        self.current_action(desk, stamp, event)
    }

    // ---- helpers ----

    fn known(&self, ticket: &TicketId) -> Result<&Ticket, ActionError> {
        self.ticket(ticket)
            .ok_or_else(|| ActionError::UnknownTicket(ticket.clone()))
    }

    fn current_id(&self, desk: &DeskId) -> Result<TicketId, ActionError> {
        self.current_of(desk)
            .map(|t| t.id.clone())
            .ok_or_else(|| ActionError::NoCurrentVisitor(desk.clone()))
    }

    fn require_open(&self, desk: &DeskId) -> Result<DeskSession, ActionError> {
        self.desk_session(desk)
            .filter(|s| s.open)
            .ok_or_else(|| ActionError::DeskNotOpen(desk.clone()))
    }

    fn ready_to_call(&self, desk: &DeskId) -> Result<(), ActionError> {
        self.require_open(desk)?;
        match self.current_of(desk) {
            Some(current) => Err(ActionError::DeskBusy {
                desk: desk.clone(),
                ticket: current.id.clone(),
            }),
            None => Ok(()),
        }
    }

    fn current_action(
        &mut self,
        desk: &DeskId,
        stamp: Stamp,
        event: TicketEvent,
    ) -> Result<Event, ActionError> {
        let current = self.current_id(desk)?;
        self.ticket_action(&current, stamp, event)
    }

    fn ticket_action(
        &mut self,
        ticket: &TicketId,
        stamp: Stamp,
        event: TicketEvent,
    ) -> Result<Event, ActionError> {
        let stamp = after(stamp, self.latest_of_ticket(ticket))?;
        self.known(ticket)?
            .check(&event)
            .map_err(|refusal| ActionError::Refused {
                ticket: ticket.clone(),
                refusal,
            })?;
        let event = Event::Ticket {
            ticket: ticket.clone(),
            stamp,
            event,
        };
        self.apply(event.clone());
        Ok(event)
    }

    fn desk_action(
        &mut self,
        desk: &DeskId,
        stamp: Stamp,
        event: DeskEvent,
    ) -> Result<Event, ActionError> {
        let stamp = after(stamp, self.latest_of_desk(desk))?;
        let event = Event::Desk {
            desk: desk.clone(),
            stamp,
            event,
        };
        self.apply(event.clone());
        Ok(event)
    }
}

/// `stamp`, or — when what an action acts on already holds an event stamped at or
/// after it — this node's first stamp after that event, so the new event folds last.
fn after(stamp: Stamp, latest: Option<&Stamp>) -> Result<Stamp, ActionError> {
    match latest {
        Some(latest) if stamp <= *latest => {
            let hlc = latest.hlc.next().ok_or_else(|| ActionError::StaleStamp {
                stamp: stamp.clone(),
                latest: latest.hlc,
            })?;
            Ok(Stamp::new(hlc, stamp.node))
        }
        _ => Ok(stamp),
    }
}
