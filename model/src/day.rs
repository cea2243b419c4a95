//! One office day: its tickets, desk sessions and appointments, as one replica holds
//! them.
//!
//! Every change is an [`Event`]. Peers' events go through [`Day::apply`], which is
//! idempotent and order-independent; the queries below read the folded state. The
//! local actions of kiosks and desks ([`Day::issue`], [`Day::call_next`], …) are
//! methods of [`Day`] too, but live in [`crate::actions`] with the numbers and the
//! queue policy they use; the words they answer in — [`ActionError`] and
//! [`RecallOutcome`] — are defined here, next to [`Event`].

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::config::OfficeConfig;
use crate::hlc::{Hlc, Stamp};
use crate::ids::{BookingCode, DeskId, NodeId, ServiceId, TicketId};
use crate::ticket::{LostClaim, Origin, Refusal, Status, Ticket, TicketEvent, TicketLog};
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
    /// Cancelled by the citizen: the booking checks in nowhere and counts in no
    /// estimate. A cancellation is the booking written again with this set; being the
    /// larger value, it wins over the booking on every replica, in any order.
    #[serde(default, skip_serializing_if = "is_false")]
    pub cancelled: bool,
    /// Further services of the same department the citizen booked into this
    /// appointment, after `service` (whose desk calls it): its length is theirs added
    /// up. Left out of the JSON while empty, so earlier days read as before.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub also: Vec<ServiceId>,
}

impl Appointment {
    /// The most further services one appointment holds (four services in all).
    pub const MAX_ALSO: usize = 3;

    /// Every service of the appointment, the one its desk calls first.
    pub fn services(&self) -> impl Iterator<Item = &ServiceId> {
        std::iter::once(&self.service).chain(&self.also)
    }

    /// At most [`Self::MAX_ALSO`] further services, each once and none the first
    /// again: what the gateway writes. A document holding another is not read.
    pub fn is_well_formed(&self) -> bool {
        self.also.len() <= Self::MAX_ALSO
            && self
                .services()
                .enumerate()
                .all(|(i, s)| !self.services().take(i).any(|earlier| earlier == s))
    }
}

fn is_false(b: &bool) -> bool {
    !*b
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
    /// Nothing can be stamped after what the ticket or desk holds: one of its events
    /// carries the last stamp there is.
    #[error("stamp {stamp:?} cannot order after {latest:?}, the latest of what it acts on")]
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
    /// The latest stamp of each node's events applied; local clocks observe them.
    latest: BTreeMap<NodeId, Hlc>,
    tickets: BTreeMap<TicketId, TicketLog>,
    desks: BTreeMap<DeskId, BTreeMap<Stamp, DeskEvent>>,
    appointments: BTreeMap<BookingCode, Appointment>,
    /// Derived from `tickets` alone (so equal days have equal indexes).
    index: Index,
}

/// Indexes over the folded tickets, kept in step by [`Day::apply`], so that what a
/// desk, the display or the kiosk asks costs what it returns, not the whole day.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Index {
    waiting: BTreeSet<TicketId>,
    /// Tickets called to or served at each desk.
    at_desk: BTreeMap<DeskId, BTreeSet<TicketId>>,
    parked: BTreeMap<DeskId, BTreeSet<TicketId>>,
    /// Tickets with a lost claim of each desk.
    lost_by: BTreeMap<DeskId, BTreeSet<TicketId>>,
    /// Tickets being served or done, by the time they got there.
    past_calls: BTreeSet<(Timestamp, TicketId)>,
    /// The calls each desk won, by stamp: whether the visitor had an appointment.
    /// One node's stamps on different tickets can be equal (an action's stamp is
    /// moved past its ticket's latest event, not the node's clock), so the ticket is
    /// part of the key.
    calls_at: BTreeMap<DeskId, BTreeMap<(Stamp, TicketId), bool>>,
    /// The highest ticket sequence number of each node (issued or not).
    seq_by_node: BTreeMap<NodeId, u32>,
    /// The highest display number each node issued.
    number_by_node: BTreeMap<NodeId, u32>,
    /// Handling times of finished tickets per service: total and count.
    handling: BTreeMap<ServiceId, (Duration, u32)>,
    /// The tickets each booking was checked in as (one, unless two kiosks checked
    /// it in at once).
    checked_in: BTreeMap<BookingCode, BTreeSet<TicketId>>,
}

/// What the index knows of one folded ticket.
struct Facts {
    status: Status,
    since: Timestamp,
    service: ServiceId,
    handling: Option<Duration>,
    losers: Vec<DeskId>,
    number: u32,
    calls: Vec<(Stamp, DeskId)>,
    booking: Option<BookingCode>,
}

impl Facts {
    fn of(t: &Ticket) -> Self {
        Facts {
            status: t.status.clone(),
            since: t.since,
            service: t.service.clone(),
            handling: t.handling,
            losers: t.lost_claims.iter().map(|c| c.loser.clone()).collect(),
            number: t.number.number,
            calls: t.calls_won.clone(),
            booking: match &t.origin {
                Origin::Appointment { code, .. } => Some(code.clone()),
                Origin::WalkIn | Origin::Remote => None,
            },
        }
    }
}

impl Index {
    /// Moves a ticket's entries from what it was to what it is.
    fn replace(&mut self, id: &TicketId, before: Option<Facts>, after: Option<&Facts>) {
        if let Some(before) = before {
            self.entries(id, &before, false);
        }
        if let Some(after) = after {
            self.entries(id, after, true);
            let number = self.number_by_node.entry(id.node.clone()).or_insert(0);
            *number = (*number).max(after.number);
        }
    }

    fn entries(&mut self, id: &TicketId, facts: &Facts, add: bool) {
        fn set<K: Ord + Clone>(
            map: &mut BTreeMap<K, BTreeSet<TicketId>>,
            key: &K,
            id: &TicketId,
            add: bool,
        ) {
            if add {
                map.entry(key.clone()).or_default().insert(id.clone());
            } else if let Some(ids) = map.get_mut(key) {
                ids.remove(id);
                if ids.is_empty() {
                    map.remove(key);
                }
            }
        }
        match &facts.status {
            Status::Waiting => {
                if add {
                    self.waiting.insert(id.clone());
                } else {
                    self.waiting.remove(id);
                }
            }
            Status::Called { desk } => set(&mut self.at_desk, desk, id, add),
            Status::Serving { desk } => set(&mut self.at_desk, desk, id, add),
            Status::Parked { desk } => set(&mut self.parked, desk, id, add),
            Status::Done { .. } | Status::NoShow | Status::Cancelled => {}
        }
        if matches!(facts.status, Status::Serving { .. } | Status::Done { .. }) {
            if add {
                self.past_calls.insert((facts.since, id.clone()));
            } else {
                self.past_calls.remove(&(facts.since, id.clone()));
            }
        }
        if let (Status::Done { .. }, Some(took)) = (&facts.status, facts.handling) {
            if add {
                let total = self.handling.entry(facts.service.clone()).or_default();
                total.0 += took;
                total.1 += 1;
            } else if let Some(total) = self.handling.get_mut(&facts.service) {
                total.0 = total.0.saturating_sub(took);
                total.1 = total.1.saturating_sub(1);
                if total.1 == 0 {
                    // Equal days have equal indexes: no empty entries.
                    self.handling.remove(&facts.service);
                }
            }
        }
        for loser in &facts.losers {
            set(&mut self.lost_by, loser, id, add);
        }
        for (stamp, desk) in &facts.calls {
            if add {
                self.calls_at
                    .entry(desk.clone())
                    .or_default()
                    .insert((stamp.clone(), id.clone()), facts.booking.is_some());
            } else if let Some(calls) = self.calls_at.get_mut(desk) {
                calls.remove(&(stamp.clone(), id.clone()));
                if calls.is_empty() {
                    self.calls_at.remove(desk);
                }
            }
        }
        if let Some(code) = &facts.booking {
            set(&mut self.checked_in, code, id, add);
        }
    }
}

impl Day {
    pub fn new() -> Self {
        Self::default()
    }

    /// Applies an event from anywhere; returns whether it was new. Idempotent, and the
    /// resulting state does not depend on the order events arrive in.
    pub fn apply(&mut self, event: Event) -> bool {
        if let Event::Ticket { stamp, .. } | Event::Desk { stamp, .. } = &event {
            let latest = self.latest.entry(stamp.node.clone()).or_default();
            *latest = (*latest).max(stamp.hlc);
        }
        match event {
            Event::Ticket {
                ticket,
                stamp,
                event,
            } => {
                let seq = self
                    .index
                    .seq_by_node
                    .entry(ticket.node.clone())
                    .or_insert(0);
                *seq = (*seq).max(ticket.seq);
                let log = self.tickets.entry(ticket.clone()).or_default();
                let before = log.ticket().map(Facts::of);
                let new = log.insert(&ticket, stamp, event);
                if new {
                    let after = log.ticket().map(Facts::of);
                    self.index.replace(&ticket, before, after.as_ref());
                }
                new
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

    /// The latest clock value of any event here.
    pub fn latest(&self) -> Hlc {
        self.latest.values().copied().max().unwrap_or_default()
    }

    /// The latest clock value of the nodes whose every event is at or before
    /// `until`. A node observes it before stamping a local action, so the action orders
    /// after everything it has seen — except what a node whose clock ran further ahead
    /// than `until` stamped: following that would carry the local clock ahead too
    /// ([`crate::HlcClock::observe_within`]).
    pub fn latest_until(&self, until: Hlc) -> Hlc {
        self.latest
            .values()
            .copied()
            .filter(|hlc| *hlc <= until)
            .max()
            .unwrap_or_default()
    }

    /// The latest stamp among a ticket's events, if it has any.
    pub(crate) fn latest_of_ticket(&self, ticket: &TicketId) -> Option<&Stamp> {
        self.tickets.get(ticket).and_then(TicketLog::latest)
    }

    /// How many visitors with an appointment `desk` called in a row last, counted
    /// back at most `limit` calls.
    pub fn appointments_in_a_row(&self, desk: &DeskId, limit: u32) -> u32 {
        let calls = self.index.calls_at.get(desk);
        let in_a_row = calls
            .into_iter()
            .flat_map(|c| c.values().rev())
            .take(usize::try_from(limit).unwrap_or(usize::MAX))
            .take_while(|appointment| **appointment)
            .count();
        u32::try_from(in_a_row).unwrap_or(u32::MAX)
    }

    /// How many events the day holds of `ticket`.
    pub(crate) fn events_of_ticket(&self, ticket: &TicketId) -> usize {
        self.tickets.get(ticket).map_or(0, TicketLog::len)
    }

    /// The latest stamp among a desk's events, if it has any.
    pub(crate) fn latest_of_desk(&self, desk: &DeskId) -> Option<&Stamp> {
        self.desks.get(desk).and_then(|log| log.keys().next_back())
    }

    /// The sequence number `node`'s next ticket id gets: one above every id of that
    /// node the day holds, issued or not (a peer's later event may arrive before the
    /// ticket's `Issued`).
    pub(crate) fn next_seq(&self, node: &NodeId) -> u32 {
        self.index.seq_by_node.get(node).copied().unwrap_or(0) + 1
    }

    /// The highest display number `node` has issued this day, if any.
    pub fn highest_number_of(&self, node: &NodeId) -> Option<u32> {
        self.index.number_by_node.get(node).copied()
    }

    /// Handling times of the day's finished tickets per service: total and count.
    pub fn handling_totals(&self) -> impl Iterator<Item = (&ServiceId, Duration, u32)> {
        self.index
            .handling
            .iter()
            .map(|(service, (total, n))| (service, *total, *n))
    }

    /// Visitors parked at `desk`.
    pub fn parked_at(&self, desk: &DeskId) -> impl Iterator<Item = &Ticket> {
        self.indexed(self.index.parked.get(desk))
    }

    /// Visitors called to a desk right now (not yet served).
    pub fn called(&self) -> impl Iterator<Item = &Ticket> {
        self.index
            .at_desk
            .values()
            .flatten()
            .filter_map(|id| self.ticket(id))
            .filter(|t| matches!(t.status, Status::Called { .. }))
    }

    /// The `n` visitors who most recently reached a desk (being served or done),
    /// latest first.
    pub fn latest_at_desks(&self, n: usize) -> impl Iterator<Item = &Ticket> {
        self.index
            .past_calls
            .iter()
            .rev()
            .filter_map(|(_, id)| self.ticket(id))
            .take(n)
    }

    fn indexed<'a>(
        &'a self,
        ids: Option<&'a BTreeSet<TicketId>>,
    ) -> impl Iterator<Item = &'a Ticket> + 'a {
        ids.into_iter().flatten().filter_map(|id| self.ticket(id))
    }

    /// Whether the day holds ticket `id`'s event stamped `stamp` (readers skip
    /// checking it again).
    pub fn holds_ticket_event(&self, id: &TicketId, stamp: &Stamp) -> bool {
        self.tickets.get(id).is_some_and(|log| log.contains(stamp))
    }

    /// Whether the day holds `desk`'s event stamped `stamp`.
    pub fn holds_desk_event(&self, desk: &DeskId, stamp: &Stamp) -> bool {
        self.desks
            .get(desk)
            .is_some_and(|events| events.contains_key(stamp))
    }

    pub fn ticket(&self, id: &TicketId) -> Option<&Ticket> {
        self.tickets.get(id).and_then(TicketLog::ticket)
    }

    /// All issued tickets, by id.
    pub fn tickets(&self) -> impl Iterator<Item = &Ticket> {
        self.tickets.values().filter_map(TicketLog::ticket)
    }

    /// The waiting visitors, in ticket-id order.
    pub fn waiting(&self) -> impl Iterator<Item = &Ticket> {
        self.index.waiting.iter().filter_map(|id| self.ticket(id))
    }

    /// The day's bookings, cancelled ones left out.
    pub fn appointments(&self) -> impl Iterator<Item = &Appointment> {
        self.appointments.values().filter(|a| !a.cancelled)
    }

    /// A booking by its code, unless it was cancelled.
    pub fn appointment(&self, code: &BookingCode) -> Option<&Appointment> {
        self.appointments.get(code).filter(|a| !a.cancelled)
    }

    /// The further services a checked-in booking brought to the desk with its
    /// ticket (none for a walk-in).
    pub fn further_services(&self, ticket: &Ticket) -> &[ServiceId] {
        match &ticket.origin {
            Origin::Appointment { code, .. } => self
                .appointments
                .get(code)
                .map_or(&[][..], |a| a.also.as_slice()),
            Origin::WalkIn | Origin::Remote => &[],
        }
    }

    /// The ticket under which a booking was checked in, if it was.
    pub fn checked_in(&self, code: &BookingCode) -> Option<&Ticket> {
        self.indexed(self.index.checked_in.get(code)).next()
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
        self.indexed(self.index.at_desk.get(desk))
            .max_by(|a, b| a.since.cmp(&b.since).then_with(|| a.id.cmp(&b.id)))
    }

    /// Calls of this desk that another desk won; the desk should be told of each.
    pub fn lost_claims_of(&self, desk: &DeskId) -> impl Iterator<Item = &LostClaim> + use<'_> {
        let desk = desk.clone();
        self.indexed(self.index.lost_by.get(&desk))
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
}
