//! The office on its replicated documents: the model's actions made durable and
//! shared, and each day kept current as peers' changes arrive.
//!
//! [`Office`] works on anything that implements [`Documents`]: the real replica (sled +
//! peers) in a running node, an in-memory store in this crate's tests, a bare protocol
//! core in the simulated LAN of `tests/` — the same code either way.
//!
//! An action runs in four steps: catch up with what peers wrote, stamp with this
//! node's clock (after everything seen, except stamps from a clock further ahead than
//! the office's clock bound), let the model validate and apply it, write
//! the event to the day's document and return only once that is durable. Only then may
//! the caller print a ticket or show "called".

use std::collections::{BTreeMap, BTreeSet};

use aufruf_model::day::RecallOutcome;
use aufruf_model::{
    ActionError, Appointment, Day, Event, Hlc, HlcClock, NodeId, OfficeConfig, Stamp, Timestamp,
};
use aufruf_sync_protocol::DocumentName;
use automerge::transaction::Transaction;
use automerge::{Automerge, ChangeHash, ReadDoc};
use chrono::{Datelike, NaiveDate};

use crate::day_doc::{self, DayDocError, DayRead};

/// Where the office's documents live.
pub trait Documents {
    /// Applies `write` to the named document (created if new) and returns once the
    /// change is durable.
    fn change_durably(
        &mut self,
        name: &DocumentName,
        write: &mut dyn FnMut(&mut Transaction<'_>) -> Result<(), DayDocError>,
    ) -> Result<(), OfficeError>;

    /// Reads the named document; `None` if this node does not have it.
    fn read_document<R>(
        &self,
        name: &DocumentName,
        read: impl FnOnce(&Automerge) -> R,
    ) -> Option<R>;
}

/// Why an office action did not happen.
#[derive(Debug, thiserror::Error)]
pub enum OfficeError {
    /// The model refused the action (it makes no sense now); nothing was written.
    #[error(transparent)]
    Action(#[from] ActionError),
    #[error("day document: {0}")]
    Document(#[from] DayDocError),
    /// The local store did not take the change; nothing was confirmed or sent.
    #[error("not stored: {0}")]
    Store(String),
    #[error("{0} is not a date this office can keep")]
    Date(NaiveDate),
}

/// Anything an action returns that carries the event it applied.
pub trait Carries {
    fn event(&self) -> &Event;
}

impl Carries for Event {
    fn event(&self) -> &Event {
        self
    }
}

impl Carries for RecallOutcome {
    fn event(&self) -> &Event {
        match self {
            RecallOutcome::Recalled(e) | RecallOutcome::NoShow(e) => e,
        }
    }
}

/// One node's view of the office: configuration, clock and the days it has read.
#[derive(Debug)]
pub struct Office<D> {
    config: OfficeConfig,
    documents: D,
    clock: HlcClock,
    days: BTreeMap<NaiveDate, CachedDay>,
}

#[derive(Debug, Default)]
struct CachedDay {
    read: DayRead,
    /// The document's heads as far as `read` reflects them.
    heads: Vec<ChangeHash>,
    /// What changed since [`Office::take_touched`] was last asked.
    touched: Touched,
    /// The document's maps by object id, to name what a change touched.
    maps: day_doc::RootMaps,
    /// The document did not exist at an earlier refresh: when it appears, everything
    /// in it is new to this node (not merely unread, as at start or after a reload).
    absent: bool,
}

/// The tickets a refresh or an action changed, so views and metrics look only at them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Touched {
    /// These tickets (possibly none) changed since this node last looked.
    Some(BTreeSet<aufruf_model::TicketId>),
    /// The day was read whole for the first time (at start, or after a reload):
    /// anything may have changed, and nothing in it is known to be new.
    All,
}

impl Default for Touched {
    fn default() -> Self {
        Touched::Some(BTreeSet::new())
    }
}

impl Touched {
    fn add(&mut self, ticket: &aufruf_model::TicketId) {
        if let Touched::Some(set) = self {
            set.insert(ticket.clone());
        }
    }
}

impl<D: Documents> Office<D> {
    pub fn new(config: OfficeConfig, documents: D, node: NodeId) -> Self {
        Self {
            config,
            documents,
            clock: HlcClock::new(node),
            days: BTreeMap::new(),
        }
    }

    pub fn config(&self) -> &OfficeConfig {
        &self.config
    }

    /// Acts on `config` from now on (the office published a new one).
    pub fn set_config(&mut self, config: OfficeConfig) {
        self.config = config;
    }

    /// The day as this node knows it now, including everything peers have sent.
    pub fn day(&mut self, date: NaiveDate) -> Result<&Day, OfficeError> {
        self.refresh(date)?;
        Ok(&self.days.entry(date).or_default().read.day)
    }

    /// Runs a local action of the model on the day and makes its event durable.
    pub fn act<T: Carries>(
        &mut self,
        date: NaiveDate,
        now: Timestamp,
        action: impl FnOnce(&mut Day, &OfficeConfig, Stamp) -> Result<T, ActionError>,
    ) -> Result<T, OfficeError> {
        self.act_and_write(date, now, action, |_, _| Ok(()))
    }

    /// Like [`Self::act`], with `also` written into the same durable change (e.g. a
    /// new ticket's status token).
    pub fn act_and_write<T: Carries>(
        &mut self,
        date: NaiveDate,
        now: Timestamp,
        action: impl FnOnce(&mut Day, &OfficeConfig, Stamp) -> Result<T, ActionError>,
        also: impl Fn(&mut Transaction<'_>, &Event) -> Result<(), DayDocError>,
    ) -> Result<T, OfficeError> {
        self.refresh(date)?;
        let name = document_name(date)?;
        let cached = self.days.entry(date).or_default();
        // Stamps from a clock further ahead than the bound are not followed: one
        // device a day ahead must not carry this node's stamps into tomorrow.
        let until = Hlc::followed_until(now, self.config.clocks.bound());
        self.clock.observe(cached.read.day.latest_until(until));
        let stamp = self.clock.tick(now);
        let outcome = action(&mut cached.read.day, &self.config, stamp)?;
        let event = outcome.event().clone();
        let written = self.documents.change_durably(&name, &mut |tx| {
            day_doc::write_event(tx, &event)?;
            also(tx, &event)
        });
        if let Err(e) = written {
            // The cached day already holds the event; forget it and read afresh.
            self.days.remove(&date);
            return Err(e);
        }
        if let Event::Ticket { ticket, .. } = &event {
            cached.touched.add(ticket);
        }
        Ok(outcome)
    }

    /// The tickets of `date` that changed since this was last asked.
    pub fn take_touched(&mut self, date: NaiveDate) -> Touched {
        self.days
            .get_mut(&date)
            .map(|cached| std::mem::take(&mut cached.touched))
            .unwrap_or_default()
    }

    /// The node whose clock stamps this office's actions.
    pub fn node(&self) -> &NodeId {
        self.clock.node()
    }

    /// Forgets the cached days before `date` (their documents were retired).
    pub fn forget_before(&mut self, date: NaiveDate) {
        self.days.retain(|d, _| *d >= date);
    }

    /// Feeds a booking into the day (the gateway does this for the portal).
    pub fn book(&mut self, date: NaiveDate, appointment: Appointment) -> Result<(), OfficeError> {
        let name = document_name(date)?;
        let event = Event::Booked(appointment);
        self.documents
            .change_durably(&name, &mut |tx| day_doc::write_event(tx, &event))?;
        self.refresh(date)
    }

    /// Catches up with the day's document: reads only the tickets changed since last
    /// time (everything, the first time).
    fn refresh(&mut self, date: NaiveDate) -> Result<(), OfficeError> {
        let name = document_name(date)?;
        let cached = self.days.entry(date).or_default();
        let outcome = self.documents.read_document(&name, |doc| {
            let after = doc.get_heads();
            if after == cached.heads {
                return Ok(());
            }
            // After a reload (a damaged document, a store rebuilt from peers) the heads
            // read last may be unknown to the document: then read it whole.
            let known = cached
                .heads
                .iter()
                .all(|h| doc.get_change_by_hash(h).is_some());
            let changed = if cached.heads.is_empty() || !known {
                None
            } else {
                day_doc::changed_since(doc, &cached.heads, &mut cached.maps)
            };
            match changed {
                Some(changed) => {
                    day_doc::read_changed(doc, &changed, &mut cached.read)?;
                    for ticket in &changed.tickets {
                        cached.touched.add(ticket);
                    }
                }
                None => {
                    cached.read = day_doc::read_day(doc)?;
                    cached.maps = day_doc::RootMaps::of(doc);
                    cached.touched = if cached.absent {
                        Touched::Some(cached.read.day.tickets().map(|t| t.id.clone()).collect())
                    } else {
                        Touched::All
                    };
                    cached.absent = false;
                }
            }
            cached.heads = after;
            Ok::<(), DayDocError>(())
        });
        match outcome {
            None => {
                self.days.entry(date).or_default().absent = true;
                Ok(())
            }
            Some(result) => result.map_err(OfficeError::from),
        }
    }
}

/// The document that holds a calendar day.
pub fn document_name(date: NaiveDate) -> Result<DocumentName, OfficeError> {
    let parts = (
        u16::try_from(date.year()).ok(),
        u8::try_from(date.month()).ok(),
        u8::try_from(date.day()).ok(),
    );
    match parts {
        (Some(y), Some(m), Some(d)) => DocumentName::day(y, m, d).ok_or(OfficeError::Date(date)),
        _ => Err(OfficeError::Date(date)),
    }
}
