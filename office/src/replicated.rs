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
//! the caller print a ticket or show "called". A node whose store is new and has not
//! caught up with a peer yet ([`Documents::catching_up`]) takes no action at all: it
//! might not know the tickets, numbers and stamps its earlier store gave out today.

use std::collections::{BTreeMap, BTreeSet};

use aufruf_model::day::RecallOutcome;
use aufruf_model::{
    ActionError, Appointment, Day, Event, Hlc, HlcClock, Incarnation, NodeId, OfficeConfig, Stamp,
    Timestamp,
};
use aufruf_sync_protocol::DocumentName;
use automerge::transaction::Transaction;
use automerge::{Automerge, ChangeHash};
use chrono::{Datelike, NaiveDate};

use crate::authority::{Authority, Held, Roster, Seals, Signer, Unaccepted};
use crate::day_doc::{self, DayDocError, DayRead, Sealer};

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

    /// The incarnation of the store the documents live in: the ids of the tickets
    /// this node issues carry it.
    fn incarnation(&self) -> Incarnation;

    /// Whether the store is new — or was set aside — and has not caught up with the
    /// office's documents from a peer yet (nor has an operator stated that this is the
    /// office's only device). Until it has, the node might not know its own tickets,
    /// numbers and stamps of the day, so it acts on no day.
    fn catching_up(&self) -> bool;
}

/// Why an office action did not happen.
#[derive(Debug, thiserror::Error)]
pub enum OfficeError {
    /// The model refused the action (it makes no sense now); nothing was written.
    #[error(transparent)]
    Action(#[from] ActionError),
    /// This node's certificate does not let it write this (nothing was written: the
    /// office would not count it).
    #[error("this node may not write that: {0}")]
    NotAuthorised(#[from] aufruf_model::authority::Unauthorised),
    /// This node's certificate is not one of this office's.
    #[error("this node's certificate is not one of this office's")]
    NotCertified,
    /// This node's certificate has ended (or the administrator revoked it): every
    /// peer would refuse what it writes, so it writes nothing. Enrol it again.
    #[error("this node's certificate {0}; enrol the device again")]
    CertificateEnded(&'static str),
    #[error("day document: {0}")]
    Document(#[from] DayDocError),
    /// The local store did not take the change; nothing was confirmed or sent.
    #[error("not stored: {0}")]
    Store(String),
    /// This node's store is new and has not caught up with the office yet; nothing
    /// was written.
    #[error(
        "this device's store is new and has not yet caught up with the office from another \
         device; it issues and calls nothing until it has, or until an operator states \
         that it is the office's only device"
    )]
    CatchingUp,
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

/// This node's key and the office's trust: what seals this node's writes and checks
/// everyone's.
#[derive(Debug, Clone)]
pub struct Keys {
    pub signer: std::sync::Arc<dyn Signer>,
    pub authority: std::sync::Arc<dyn Authority>,
}

impl Keys {
    /// Who this node is, as its certificate says; `None` if it is not one of the
    /// office's.
    pub fn author(&self) -> Option<aufruf_model::authority::Author> {
        self.certified().map(|c| c.author)
    }

    /// This node's certificate, checked against the office's trust.
    pub fn certified(&self) -> Option<crate::authority::Certified> {
        self.authority.certificate(self.signer.certificate_der())
    }
}

/// One node's view of the office: configuration, clock and the days it has read.
#[derive(Debug)]
pub struct Office<D> {
    config: OfficeConfig,
    documents: D,
    clock: HlcClock,
    keys: Keys,
    /// This node as its certificate names it (checked once), and until when.
    author: Option<aufruf_model::authority::Author>,
    valid_until_ms: u64,
    /// The certificates and revocations of the office document, checked.
    roster: Roster,
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
    /// New certificates arrived: read the keys waiting for one again.
    recheck_pending: bool,
    /// What revoked nodes wrote that still counts in this day; `None`: not worked out
    /// yet (at the first read after a revocation).
    held: Option<Held>,
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
    pub fn new(config: OfficeConfig, documents: D, node: NodeId, keys: Keys) -> Self {
        Self {
            config,
            documents,
            clock: HlcClock::new(node),
            author: keys.author(),
            valid_until_ms: keys.certified().map_or(0, |c| c.valid_until_ms),
            keys,
            roster: Roster::default(),
            days: BTreeMap::new(),
        }
    }

    /// The certificates and revocations this office acts on.
    pub fn roster(&self) -> &Roster {
        &self.roster
    }

    /// Acts on a roster that changed: events waiting for a certificate are read
    /// again; after a revocation every day is read afresh, so the revoked node's
    /// events from then on drop out of the fold.
    /// The office document's history has been read up to `heads` without anything
    /// new for the roster.
    pub fn roster_read_until(&mut self, heads: Vec<automerge::ChangeHash>) {
        self.roster.set_history_read(heads);
    }

    pub fn set_roster(&mut self, roster: Roster) {
        if !roster.same_revocations(&self.roster) {
            self.days.clear();
        } else {
            for cached in self.days.values_mut() {
                cached.recheck_pending = true;
            }
        }
        self.roster = roster;
    }

    /// The refusals since this was last asked, for the metrics.
    pub fn take_refused(&mut self) -> Vec<Unaccepted> {
        self.days
            .values_mut()
            .flat_map(|cached| std::mem::take(&mut cached.read.refused_unreported))
            .collect()
    }

    /// The ticket a status token belongs to, on `date`.
    pub fn ticket_of_status_token(
        &self,
        date: NaiveDate,
        token: &str,
    ) -> Option<aufruf_model::TicketId> {
        let name = document_name(date).ok()?;
        let document = name.to_string();
        let held = self.days.get(&date).and_then(|cached| cached.held.as_ref());
        let seals = day_seals(&self.roster, &*self.keys.authority, &document, date, held);
        self.documents
            .read_document(&name, |doc| {
                day_doc::ticket_of_status_token(doc, token, &seals)
            })
            .flatten()
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
        self.act_and_write(date, now, action, |_, _, _| Ok(()))
    }

    /// Like [`Self::act`], with `also` written into the same durable change (e.g. a
    /// new ticket's status token).
    pub fn act_and_write<T: Carries>(
        &mut self,
        date: NaiveDate,
        now: Timestamp,
        action: impl FnOnce(&mut Day, &OfficeConfig, Stamp) -> Result<T, ActionError>,
        also: impl Fn(&mut Transaction<'_>, &Event, &Sealer<'_>) -> Result<(), DayDocError>,
    ) -> Result<T, OfficeError> {
        if self.documents.catching_up() {
            return Err(OfficeError::CatchingUp);
        }
        self.refresh(date)?;
        let name = document_name(date)?;
        let document = name.to_string();
        let cached = self.days.entry(date).or_default();
        // Stamps from a clock further ahead than the bound are not followed: one
        // device a day ahead must not carry this node's stamps into tomorrow.
        let until = Hlc::followed_until(now, self.config.clocks.bound());
        self.clock.observe(cached.read.day.latest_until(until));
        let stamp = self.clock.tick(now);
        let author = self.author.as_ref().ok_or(OfficeError::NotCertified)?;
        // What every reader would refuse is not written: after the certificate's end,
        // or from the administrator's revocation of this node on.
        let ms = stamp.hlc.wall().as_millis();
        if ms > self.valid_until_ms {
            return Err(OfficeError::CertificateEnded("has ended"));
        }
        if self.roster.revoked().contains_key(&author.node) {
            return Err(OfficeError::CertificateEnded("was revoked"));
        }
        let outcome = action(&mut cached.read.day, &self.config, stamp)?;
        let event = outcome.event().clone();
        if let Err(why) = aufruf_model::authority::may_write(author, &event) {
            // Every reader, this node included, would refuse it: nothing is written,
            // and the cached day, which holds it already, is read afresh.
            self.days.remove(&date);
            return Err(why.into());
        }
        let sealer = Sealer {
            signer: &*self.keys.signer,
            document: &document,
        };
        let written = self.documents.change_durably(&name, &mut |tx| {
            day_doc::write_event(tx, &event, &sealer)?;
            also(tx, &event, &sealer)
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

    /// The incarnation of this node's store, which its tickets' ids carry.
    pub fn incarnation(&self) -> Incarnation {
        self.documents.incarnation()
    }

    /// Whether this node's new store still catches up (and the node acts on no day).
    pub fn catching_up(&self) -> bool {
        self.documents.catching_up()
    }

    /// Forgets the cached days before `date` (their documents were retired).
    pub fn forget_before(&mut self, date: NaiveDate) {
        self.days.retain(|d, _| *d >= date);
    }

    /// Drops what is held in memory of one day (read again when asked).
    pub fn forget(&mut self, date: NaiveDate) {
        self.days.remove(&date);
    }

    /// Feeds bookings (or their cancellations) into the day in one durable change
    /// (the gateway does this for the portal): one signature and one flush for all
    /// the bookings that arrived together.
    pub fn book(
        &mut self,
        date: NaiveDate,
        appointments: &[Appointment],
    ) -> Result<(), OfficeError> {
        if appointments.is_empty() {
            return Ok(());
        }
        let name = document_name(date)?;
        let document = name.to_string();
        let sealer = Sealer {
            signer: &*self.keys.signer,
            document: &document,
        };
        self.documents.change_durably(&name, &mut |tx| {
            for appointment in appointments {
                day_doc::write_event(tx, &Event::Booked(appointment.clone()), &sealer)?;
            }
            Ok(())
        })?;
        self.refresh(date)
    }

    /// Catches up with the day's document: reads only the tickets changed since last
    /// time (everything, the first time).
    fn refresh(&mut self, date: NaiveDate) -> Result<(), OfficeError> {
        let name = document_name(date)?;
        let document = name.to_string();
        let roster = &self.roster;
        let authority = &*self.keys.authority;
        let cached = self.days.entry(date).or_default();
        let outcome = self.documents.read_document(&name, |doc| {
            // What revoked nodes wrote up to the heads their revocation names: worked
            // out once, and again while some of those heads are still on their way.
            // Once they are all here, the day is read whole, for entries that did not
            // count before do now.
            let waiting = match &cached.held {
                None => true,
                Some(held) => held.is_waiting() && doc.get_heads() != cached.heads,
            };
            if waiting && !roster.frozen().is_empty() {
                let held = day_doc::held(doc, roster, &document);
                if cached.held.is_some() && !held.is_waiting() {
                    cached.heads.clear();
                }
                cached.held = Some(held);
            } else if cached.held.is_none() {
                cached.held = Some(Held::default());
            }
            let seals = day_seals(roster, authority, &document, date, cached.held.as_ref());
            if std::mem::take(&mut cached.recheck_pending) && !cached.read.pending.is_empty() {
                let before: BTreeSet<_> = cached.read.pending.iter().cloned().collect();
                day_doc::read_pending(doc, &mut cached.read, &seals)?;
                for key in before {
                    if let Some(ticket) = day_doc::ticket_of_key(&key) {
                        cached.touched.add(&ticket);
                    }
                }
            }
            let after = doc.get_heads();
            if after == cached.heads {
                return Ok(());
            }
            // After a reload (a damaged document, a store rebuilt from peers) the heads
            // read last may be unknown to the document: then read it whole.
            // Metadata only: `get_change_by_hash` would rebuild each change from the
            // document's operations, a cost that grows with the day.
            let known = cached
                .heads
                .iter()
                .all(|h| doc.get_change_meta_by_hash(h).is_some());
            let changed = if cached.heads.is_empty() || !known {
                None
            } else {
                day_doc::changed_since(doc, &cached.heads, &mut cached.maps)
            };
            match changed {
                Some(changed) => {
                    day_doc::read_changed(doc, &changed, &mut cached.read, &seals)?;
                    for ticket in &changed.tickets {
                        cached.touched.add(ticket);
                    }
                }
                None => {
                    cached.read = day_doc::read_day(doc, &seals)?;
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

/// How the day document of `date` is checked: by `roster`, with stamps from a day
/// before to two days after the date's midnight (UTC) — every office's time zone,
/// with room for clocks; a stamp far outside (`u64::MAX`) never enters the fold.
pub fn day_seals<'a>(
    roster: &'a Roster,
    authority: &'a dyn Authority,
    document: &'a str,
    date: NaiveDate,
    held: Option<&'a Held>,
) -> Seals<'a> {
    const DAY_MS: u64 = 24 * 3600 * 1000;
    let midnight = date
        .and_hms_opt(0, 0, 0)
        .map(|t| t.and_utc().timestamp_millis())
        .and_then(|ms| u64::try_from(ms).ok())
        .unwrap_or(0);
    Seals {
        roster,
        authority,
        document,
        window_ms: (
            midnight.saturating_sub(DAY_MS),
            midnight.saturating_add(2 * DAY_MS),
        ),
        held,
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
