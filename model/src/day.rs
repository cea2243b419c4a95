//! One office day: its tickets, desk sessions and appointments, and the actions that
//! kiosks and desks take on it.
//!
//! Every change is an [`Event`]. Peers' events go through [`Day::apply`], which is
//! idempotent and order-independent. Local actions ([`Day::issue`], [`Day::call_next`],
//! …) first check that the action makes sense here and now, refuse it with an
//! [`ActionError`] otherwise, and return the event they applied so the caller can store
//! and replicate it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::config::OfficeConfig;
use crate::hlc::{Hlc, Stamp};
use crate::ids::{BookingCode, DeskId, NodeId, ServiceId, TicketId};
use crate::numbers;
use crate::policy;
use crate::ticket::{
    DisplayNumber, LostClaim, Origin, Refusal, Status, Ticket, TicketEvent, TicketLog, Transfer,
};
use crate::time::Timestamp;

/// A change to the day, as stored and replicated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Event {
    Ticket {
        ticket: TicketId,
        stamp: Stamp,
        event: TicketEvent,
    },
    Desk {
        desk: DeskId,
        stamp: Stamp,
        event: DeskEvent,
    },
    /// A booking for this day, fed in by the gateway.
    Booked(Appointment),
}

/// A clerk opening, pausing or closing a desk.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum DeskEvent {
    Opened { services: Vec<ServiceId> },
    Paused,
    Resumed,
    Closed,
}

/// A desk's session as the latest desk event says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeskSession {
    pub services: Vec<ServiceId>,
    pub open: bool,
    pub paused: bool,
}

impl DeskSession {
    /// Open and not paused: the desk is calling visitors.
    pub fn is_calling(&self) -> bool {
        self.open && !self.paused
    }
}

/// A booked appointment of the day.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Appointment {
    pub code: BookingCode,
    pub service: ServiceId,
    pub due: Timestamp,
}

/// Why a local action was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ActionError {
    #[error("there is no ticket {0}")]
    UnknownTicket(TicketId),
    #[error("there is no desk {0}")]
    UnknownDesk(DeskId),
    #[error("there is no service {0}")]
    UnknownService(ServiceId),
    #[error("there is no booking with code {0} today")]
    UnknownBooking(BookingCode),
    #[error("booking {code} is already checked in as ticket {ticket}")]
    AlreadyCheckedIn { code: BookingCode, ticket: TicketId },
    #[error("desk {desk} does not serve {service}")]
    DeskDoesNotServe { desk: DeskId, service: ServiceId },
    #[error("desk {0} is not open")]
    DeskNotOpen(DeskId),
    #[error("desk {desk} is still with ticket {ticket}; finish, park or transfer it first")]
    DeskBusy { desk: DeskId, ticket: TicketId },
    #[error("desk {0} has no current visitor")]
    NoCurrentVisitor(DeskId),
    #[error("no visitor is waiting for desk {0}")]
    NobodyWaiting(DeskId),
    #[error("node {0} has no ticket-number block")]
    NoNumberBlock(NodeId),
    #[error("node {0} has used all numbers of its blocks")]
    NumbersExhausted(NodeId),
    #[error("ticket {ticket}: {refusal}")]
    Refused { ticket: TicketId, refusal: Refusal },
    #[error(
        "stamp {stamp:?} is not newer than {latest:?}, the latest known; observe the day's clock first"
    )]
    StaleStamp { stamp: Stamp, latest: Hlc },
}

/// What a recall led to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecallOutcome {
    Recalled(Event),
    /// The visitor did not show up after the configured number of calls.
    NoShow(Event),
}

/// The state of one office day on one replica.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Day {
    /// The latest stamp of any event applied; local clocks observe it.
    latest: Hlc,
    tickets: BTreeMap<TicketId, TicketLog>,
    desks: BTreeMap<DeskId, BTreeMap<Stamp, DeskEvent>>,
    appointments: BTreeMap<BookingCode, Appointment>,
}

impl Day {
    pub fn new() -> Self {
        Self::default()
    }

    /// Applies an event from anywhere; returns whether it was new. Idempotent, and the
    /// resulting state does not depend on the order events arrive in.
    pub fn apply(&mut self, event: Event) -> bool {
        if let Event::Ticket { stamp, .. } | Event::Desk { stamp, .. } = &event {
            self.latest = self.latest.max(stamp.hlc);
        }
        match event {
            Event::Ticket {
                ticket,
                stamp,
                event,
            } => {
                let log = self.tickets.entry(ticket.clone()).or_default();
                log.insert(&ticket, stamp, event)
            }
            Event::Desk { desk, stamp, event } => {
                let log = self.desks.entry(desk).or_default();
                log.insert(stamp, event).is_none()
            }
            Event::Booked(appointment) => {
                // Bookings are written once by the gateway; if one is fed twice with
                // different content, the larger one wins everywhere.
                match self.appointments.get(&appointment.code) {
                    Some(known) if known >= &appointment => false,
                    _ => {
                        self.appointments
                            .insert(appointment.code.clone(), appointment);
                        true
                    }
                }
            }
        }
    }

    /// Every event this replica knows, e.g. to hand to a peer.
    pub fn events(&self) -> impl Iterator<Item = Event> + '_ {
        let tickets = self.tickets.iter().flat_map(|(id, log)| {
            log.events().map(|(stamp, event)| Event::Ticket {
                ticket: id.clone(),
                stamp: stamp.clone(),
                event: event.clone(),
            })
        });
        let desks = self.desks.iter().flat_map(|(desk, log)| {
            log.iter().map(|(stamp, event)| Event::Desk {
                desk: desk.clone(),
                stamp: stamp.clone(),
                event: event.clone(),
            })
        });
        let bookings = self.appointments.values().cloned().map(Event::Booked);
        tickets.chain(desks).chain(bookings)
    }

    // ---- reading ----

    /// The latest clock value of any event here. A node observes it before stamping a
    /// local action, so the action orders after everything it has seen.
    pub fn latest(&self) -> Hlc {
        self.latest
    }

    pub fn ticket(&self, id: &TicketId) -> Option<&Ticket> {
        self.tickets.get(id).and_then(TicketLog::ticket)
    }

    /// All issued tickets, by id.
    pub fn tickets(&self) -> impl Iterator<Item = &Ticket> {
        self.tickets.values().filter_map(TicketLog::ticket)
    }

    pub fn waiting(&self) -> impl Iterator<Item = &Ticket> {
        self.tickets().filter(|t| t.status == Status::Waiting)
    }

    pub fn appointments(&self) -> impl Iterator<Item = &Appointment> {
        self.appointments.values()
    }

    pub fn appointment(&self, code: &BookingCode) -> Option<&Appointment> {
        self.appointments.get(code)
    }

    /// The ticket under which a booking was checked in, if it was.
    pub fn checked_in(&self, code: &BookingCode) -> Option<&Ticket> {
        self.tickets()
            .find(|t| matches!(&t.origin, Origin::Appointment { code: c, .. } if c == code))
    }

    /// The desk's session; `None` if it was never opened today.
    pub fn desk_session(&self, desk: &DeskId) -> Option<DeskSession> {
        let log = self.desks.get(desk)?;
        let mut session = DeskSession {
            services: Vec::new(),
            open: false,
            paused: false,
        };
        for event in log.values() {
            match event {
                DeskEvent::Opened { services } => {
                    session = DeskSession {
                        services: services.clone(),
                        open: true,
                        paused: false,
                    };
                }
                DeskEvent::Paused => session.paused = true,
                DeskEvent::Resumed => session.paused = false,
                DeskEvent::Closed => session.open = false,
            }
        }
        Some(session)
    }

    /// Desks that are open and not paused, with the services they serve.
    pub fn calling_desks(&self) -> impl Iterator<Item = (&DeskId, DeskSession)> {
        self.desks.keys().filter_map(|desk| {
            self.desk_session(desk)
                .filter(DeskSession::is_calling)
                .map(|s| (desk, s))
        })
    }

    /// The visitor the desk is calling or serving now (the latest, should a merge have
    /// left more than one).
    pub fn current_of(&self, desk: &DeskId) -> Option<&Ticket> {
        self.tickets()
            .filter(|t| t.status.desk() == Some(desk))
            .max_by(|a, b| a.since.cmp(&b.since).then_with(|| a.id.cmp(&b.id)))
    }

    /// Calls of this desk that another desk won; the desk should be told of each.
    pub fn lost_claims_of(&self, desk: &DeskId) -> impl Iterator<Item = &LostClaim> + use<'_> {
        let desk = desk.clone();
        self.tickets()
            .flat_map(|t| t.lost_claims.iter())
            .filter(move |c| c.loser == desk)
    }

    /// The services a desk serves now: its session's choice if open, else its
    /// configured services.
    pub fn services_of(&self, config: &OfficeConfig, desk: &DeskId) -> Vec<ServiceId> {
        match self.desk_session(desk) {
            Some(s) if s.open => s.services,
            _ => config
                .desk(desk)
                .map(|d| d.services.clone())
                .unwrap_or_default(),
        }
    }

    // ---- kiosk actions ----

    /// Issues a walk-in or remote ticket for `service` with a number from the issuing
    /// node's block.
    pub fn issue(
        &mut self,
        config: &OfficeConfig,
        service: &ServiceId,
        origin: Origin,
        stamp: Stamp,
    ) -> Result<Event, ActionError> {
        let prefix = config
            .service(service)
            .ok_or_else(|| ActionError::UnknownService(service.clone()))?
            .prefix;
        self.fresh(&stamp)?;
        let node = stamp.node.clone();
        let number = numbers::next_number(config, self, &node)?;
        let seq = self
            .tickets
            .keys()
            .filter(|id| id.node == node)
            .map(|id| id.seq)
            .max()
            .unwrap_or(0)
            + 1;
        let event = Event::Ticket {
            ticket: TicketId::new(node, seq),
            stamp,
            event: TicketEvent::Issued {
                number: DisplayNumber { prefix, number },
                service: service.clone(),
                origin,
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
        stamp: Stamp,
    ) -> Result<Event, ActionError> {
        let appointment = self
            .appointments
            .get(code)
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
        self.issue(config, &appointment.service, origin, stamp)
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

    /// Calls the visitor the queue policy picks for this desk.
    pub fn call_next(
        &mut self,
        config: &OfficeConfig,
        desk: &DeskId,
        stamp: Stamp,
    ) -> Result<Event, ActionError> {
        self.ready_to_call(desk)?;
        let now = stamp.hlc.wall();
        let next = policy::next_for_desk(self, config, desk, now)
            .ok_or_else(|| ActionError::NobodyWaiting(desk.clone()))?
            .id
            .clone();
        self.ticket_action(&next, stamp, TicketEvent::Called { desk: desk.clone() })
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
        self.ticket_action(ticket, stamp, TicketEvent::Called { desk: desk.clone() })
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

    fn fresh(&self, stamp: &Stamp) -> Result<(), ActionError> {
        if stamp.hlc <= self.latest {
            return Err(ActionError::StaleStamp {
                stamp: stamp.clone(),
                latest: self.latest,
            });
        }
        Ok(())
    }

    fn ticket_action(
        &mut self,
        ticket: &TicketId,
        stamp: Stamp,
        event: TicketEvent,
    ) -> Result<Event, ActionError> {
        self.fresh(&stamp)?;
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
        self.fresh(&stamp)?;
        let event = Event::Desk {
            desk: desk.clone(),
            stamp,
            event,
        };
        self.apply(event.clone());
        Ok(event)
    }
}
