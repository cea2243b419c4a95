//! A ticket's life: an append-only set of events, and the ticket's state as a
//! deterministic fold over them.
//!
//! Events are sorted by their [`Stamp`] before folding, so the result does not depend on
//! the order in which events arrived or on duplicates. An event that does not fit the
//! state reached so far (a late `done` from a desk that lost the visitor, a second
//! `issued`) is ignored by the fold; a call that collides with an earlier call by another
//! desk is kept as a [`LostClaim`] so the losing desk can be told.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::hlc::Stamp;
use crate::ids::{BookingCode, DeskId, ServiceId, TicketId};
use crate::time::Timestamp;

/// How a ticket came to be.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Origin {
    /// Drawn at the kiosk.
    WalkIn,
    /// Drawn from a phone near the office.
    Remote,
    /// A booked citizen checked in; `due` is the appointment's start.
    Appointment { code: BookingCode, due: Timestamp },
}

impl Origin {
    pub fn due(&self) -> Option<Timestamp> {
        match self {
            Origin::Appointment { due, .. } => Some(*due),
            Origin::WalkIn | Origin::Remote => None,
        }
    }
}

/// Where a desk sends a visitor on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Transfer {
    /// Into the queue of another service.
    Service(ServiceId),
    /// To one particular desk, same service.
    Desk(DeskId),
}

/// The number on the paper ticket and the display: service prefix and a number from the
/// issuing node's block.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct DisplayNumber {
    pub prefix: char,
    pub number: u32,
}

impl fmt::Display for DisplayNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {:03}", self.prefix, self.number)
    }
}

impl fmt::Debug for DisplayNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// What happened to a ticket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum TicketEvent {
    Issued {
        number: DisplayNumber,
        service: ServiceId,
        origin: Origin,
        /// The wait the kiosk (or the phone) told the walk-in, in seconds: the
        /// statistics compare it with the wait that came. `None`: no estimate was
        /// shown (appointments, no open desk, tickets written before it was kept).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        promised_wait_secs: Option<u32>,
    },
    Called {
        desk: DeskId,
        /// How many of the ticket's events the desk knew when it called. The call
        /// takes effect only if exactly those precede it once every event is known:
        /// a call made without knowing another desk's concurrent one (or anything
        /// else done to the ticket meanwhile) loses, and stays lost. So a desk that
        /// was told it lost and moved on is never handed the visitor later, when
        /// older events arrive. `None` (calls written before this was recorded):
        /// the call takes effect whenever the visitor is waiting.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        seen: Option<u32>,
    },
    Recalled {
        desk: DeskId,
    },
    /// The visitor arrived at the desk.
    Serving {
        desk: DeskId,
    },
    Transferred {
        desk: DeskId,
        to: Transfer,
    },
    /// Set aside, e.g. while the visitor fetches a document.
    Parked {
        desk: DeskId,
    },
    /// Back into the queue from parked or no-show, keeping the original arrival.
    Returned,
    NoShow {
        desk: DeskId,
    },
    Done {
        desk: DeskId,
    },
    Cancelled,
}

impl TicketEvent {
    pub fn name(&self) -> &'static str {
        match self {
            TicketEvent::Issued { .. } => "issue",
            TicketEvent::Called { .. } => "call",
            TicketEvent::Recalled { .. } => "recall",
            TicketEvent::Serving { .. } => "serve",
            TicketEvent::Transferred { .. } => "transfer",
            TicketEvent::Parked { .. } => "park",
            TicketEvent::Returned => "return",
            TicketEvent::NoShow { .. } => "mark as no-show",
            TicketEvent::Done { .. } => "finish",
            TicketEvent::Cancelled => "cancel",
        }
    }
}

/// Where a ticket stands. Every issued ticket is in exactly one of these.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Status {
    Waiting,
    Called { desk: DeskId },
    Serving { desk: DeskId },
    Parked { desk: DeskId },
    Done { desk: DeskId },
    NoShow,
    Cancelled,
}

impl Status {
    pub fn name(&self) -> &'static str {
        match self {
            Status::Waiting => "waiting",
            Status::Called { .. } => "called",
            Status::Serving { .. } => "serving",
            Status::Parked { .. } => "parked",
            Status::Done { .. } => "done",
            Status::NoShow => "no-show",
            Status::Cancelled => "cancelled",
        }
    }

    /// The desk that holds the visitor right now, if any.
    pub fn desk(&self) -> Option<&DeskId> {
        match self {
            Status::Called { desk } | Status::Serving { desk } => Some(desk),
            _ => None,
        }
    }

    pub fn is_finished(&self) -> bool {
        matches!(
            self,
            Status::Done { .. } | Status::NoShow | Status::Cancelled
        )
    }
}

/// A call by `loser` that did not take effect: `winner` had called the visitor first,
/// or (no winner) the visitor had cancelled or was already dealt with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LostClaim {
    pub ticket: TicketId,
    pub loser: DeskId,
    pub winner: Option<DeskId>,
    pub stamp: Stamp,
}

/// Why an event does not fit a ticket's state.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("the visitor is already called by desk {0}")]
    ClaimedBy(DeskId),
    #[error("the visitor is with desk {holder}, not desk {actor}")]
    OtherDesk { holder: DeskId, actor: DeskId },
    #[error("the call was made without knowing all that was done to the visitor before it")]
    Concurrent,
    #[error("cannot {action} a ticket that is {status}")]
    NotNow {
        action: &'static str,
        status: &'static str,
    },
}

/// A ticket as folded from its events.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ticket {
    pub id: TicketId,
    pub number: DisplayNumber,
    pub origin: Origin,
    /// The service whose queue the ticket is in now (changes on transfer).
    pub service: ServiceId,
    /// Set when transferred to one particular desk.
    pub for_desk: Option<DeskId>,
    /// When the visitor drew the ticket; kept through transfers, parking and returns.
    pub arrival: Timestamp,
    pub status: Status,
    /// Calls (first call and recalls) since the ticket last entered the queue.
    pub calls: u32,
    /// When the ticket was first called, if ever.
    pub first_called_at: Option<Timestamp>,
    /// When the ticket entered its current status.
    pub since: Timestamp,
    /// How long the desk took with the visitor, once done.
    pub handling: Option<Duration>,
    /// The desk that called the visitor last.
    pub last_desk: Option<DeskId>,
    /// The calls that took effect: their stamps and desks.
    pub calls_won: Vec<(Stamp, DeskId)>,
    pub lost_claims: Vec<LostClaim>,
    /// The wait the walk-in was told when drawing the ticket.
    pub promised_wait: Option<Duration>,
}

impl Ticket {
    /// The ticket's state from its events, or `None` while its `Issued` event is unknown.
    pub fn fold<'a>(
        id: &TicketId,
        events: impl IntoIterator<Item = (&'a Stamp, &'a TicketEvent)>,
    ) -> Option<Ticket> {
        let mut sorted: Vec<_> = events.into_iter().collect();
        sorted.sort_by(|a, b| a.0.cmp(b.0));
        sorted.dedup_by(|a, b| a.0 == b.0);
        let mut ticket: Option<Ticket> = None;
        for (position, (stamp, event)) in sorted.into_iter().enumerate() {
            match &mut ticket {
                None => ticket = Ticket::issued(id, stamp, event),
                Some(t) => {
                    let applied = match event {
                        TicketEvent::Called {
                            seen: Some(seen), ..
                        } if usize::try_from(*seen).ok() != Some(position) => {
                            Err(Refusal::Concurrent)
                        }
                        _ => t.apply(stamp, event),
                    };
                    if let TicketEvent::Called { desk, .. } = event {
                        t.settle_claim(stamp, desk, applied.is_ok());
                    }
                }
            }
        }
        ticket
    }

    /// Records whether a call won the visitor; a call that did not, because another
    /// desk had called the visitor first (or the visitor was gone), is a lost claim
    /// its desk must be told of.
    fn settle_claim(&mut self, stamp: &Stamp, desk: &DeskId, won: bool) {
        if won {
            self.calls_won.push((stamp.clone(), desk.clone()));
            return;
        }
        if self.status.desk() == Some(desk) {
            // The desk has the visitor already: nothing was lost.
            return;
        }
        let winner = match self.status.desk() {
            Some(holder) => Some(holder.clone()),
            // Served, parked or sent away by another desk; or cancelled.
            None => self.last_desk.clone().filter(|d| d != desk),
        };
        self.lost_claims.push(LostClaim {
            ticket: self.id.clone(),
            loser: desk.clone(),
            winner,
            stamp: stamp.clone(),
        });
    }

    fn issued(id: &TicketId, stamp: &Stamp, event: &TicketEvent) -> Option<Ticket> {
        let TicketEvent::Issued {
            number,
            service,
            origin,
            promised_wait_secs,
        } = event
        else {
            return None;
        };
        Some(Ticket {
            id: id.clone(),
            number: *number,
            origin: origin.clone(),
            service: service.clone(),
            for_desk: None,
            arrival: stamp.hlc.wall(),
            status: Status::Waiting,
            calls: 0,
            first_called_at: None,
            since: stamp.hlc.wall(),
            handling: None,
            last_desk: None,
            calls_won: Vec::new(),
            lost_claims: Vec::new(),
            promised_wait: promised_wait_secs.map(|s| Duration::from_secs(u64::from(s))),
        })
    }

    /// Whether the call stamped `stamp` took effect.
    pub fn won(&self, stamp: &Stamp) -> bool {
        self.calls_won.iter().any(|(s, _)| s == stamp)
    }

    /// Whether `event` fits the current state, without changing anything.
    pub fn check(&self, event: &TicketEvent) -> Result<(), Refusal> {
        self.clone().apply_at(Timestamp::default(), event)
    }

    /// Applies one event in stamp order.
    fn apply(&mut self, stamp: &Stamp, event: &TicketEvent) -> Result<(), Refusal> {
        self.apply_at(stamp.hlc.wall(), event)
    }

    fn apply_at(&mut self, at: Timestamp, event: &TicketEvent) -> Result<(), Refusal> {
        use TicketEvent as E;
        let not_now = |status: &Status| Refusal::NotNow {
            action: event.name(),
            status: status.name(),
        };
        match event {
            E::Issued { .. } => Err(not_now(&self.status)),
            E::Called { desk, .. } => match &self.status {
                Status::Waiting => {
                    self.status = Status::Called { desk: desk.clone() };
                    self.last_desk = Some(desk.clone());
                    self.calls = 1;
                    self.first_called_at.get_or_insert(at);
                    self.since = at;
                    Ok(())
                }
                Status::Called { desk: holder } | Status::Serving { desk: holder }
                    if holder != desk =>
                {
                    Err(Refusal::ClaimedBy(holder.clone()))
                }
                other => Err(not_now(other)),
            },
            E::Recalled { desk } => {
                self.held_by(desk, event, false)?;
                self.calls = self.calls.saturating_add(1);
                self.since = at;
                Ok(())
            }
            E::Serving { desk } => {
                self.held_by(desk, event, false)?;
                self.status = Status::Serving { desk: desk.clone() };
                self.since = at;
                Ok(())
            }
            E::NoShow { desk } => {
                self.held_by(desk, event, false)?;
                self.status = Status::NoShow;
                self.since = at;
                Ok(())
            }
            E::Done { desk } => {
                self.held_by(desk, event, true)?;
                self.handling = Some(at.since(self.since));
                self.status = Status::Done { desk: desk.clone() };
                self.since = at;
                Ok(())
            }
            E::Parked { desk } => {
                self.held_by(desk, event, true)?;
                self.status = Status::Parked { desk: desk.clone() };
                self.since = at;
                Ok(())
            }
            E::Transferred { desk, to } => {
                self.held_by(desk, event, true)?;
                match to {
                    Transfer::Service(service) => {
                        self.service = service.clone();
                        self.for_desk = None;
                    }
                    Transfer::Desk(target) => self.for_desk = Some(target.clone()),
                }
                self.requeue(at);
                Ok(())
            }
            E::Returned => match &self.status {
                Status::Parked { .. } | Status::NoShow => {
                    self.requeue(at);
                    Ok(())
                }
                other => Err(not_now(other)),
            },
            E::Cancelled => match &self.status {
                Status::Waiting
                | Status::Called { .. }
                | Status::Parked { .. }
                | Status::NoShow => {
                    self.status = Status::Cancelled;
                    self.since = at;
                    Ok(())
                }
                other => Err(not_now(other)),
            },
        }
    }

    /// Refuses unless `desk` holds the visitor (called, or also serving when allowed).
    fn held_by(
        &self,
        desk: &DeskId,
        event: &TicketEvent,
        serving_too: bool,
    ) -> Result<(), Refusal> {
        match &self.status {
            Status::Called { desk: holder } => Self::same(holder, desk),
            Status::Serving { desk: holder } if serving_too => Self::same(holder, desk),
            other => Err(Refusal::NotNow {
                action: event.name(),
                status: other.name(),
            }),
        }
    }

    fn same(holder: &DeskId, actor: &DeskId) -> Result<(), Refusal> {
        if holder == actor {
            Ok(())
        } else {
            Err(Refusal::OtherDesk {
                holder: holder.clone(),
                actor: actor.clone(),
            })
        }
    }

    fn requeue(&mut self, at: Timestamp) {
        self.status = Status::Waiting;
        self.calls = 0;
        self.since = at;
    }
}

/// All events of one ticket, with the folded state kept up to date.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TicketLog {
    /// In stamp order, each stamp once. A vector, not a map: a ticket has a handful
    /// of events, and a map's node holds room for eleven (3,000 tickets: ~3 MB more
    /// on every device).
    events: Vec<(Stamp, TicketEvent)>,
    folded: Option<Ticket>,
}

impl TicketLog {
    /// Adds an event; returns whether it was new.
    pub fn insert(&mut self, id: &TicketId, stamp: Stamp, event: TicketEvent) -> bool {
        let Err(at) = self.position(&stamp) else {
            return false;
        };
        // Room for this one only: most tickets stay at four or five events.
        self.events.reserve_exact(1);
        self.events.insert(at, (stamp, event));
        self.folded = Ticket::fold(id, self.events());
        true
    }

    fn position(&self, stamp: &Stamp) -> Result<usize, usize> {
        self.events.binary_search_by(|(s, _)| s.cmp(stamp))
    }

    pub fn ticket(&self) -> Option<&Ticket> {
        self.folded.as_ref()
    }

    /// The latest stamp among the events.
    pub fn latest(&self) -> Option<&Stamp> {
        self.events.last().map(|(stamp, _)| stamp)
    }

    /// How many events the log holds.
    pub fn len(&self) -> usize {
        self.events.len()
    }

    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }

    /// Whether the event stamped `stamp` is in the log.
    pub fn contains(&self, stamp: &Stamp) -> bool {
        self.position(stamp).is_ok()
    }

    pub fn events(&self) -> impl Iterator<Item = (&Stamp, &TicketEvent)> {
        self.events.iter().map(|(stamp, event)| (stamp, event))
    }
}
