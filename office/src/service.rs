//! The office service every role's service stands on: the office on its replica behind
//! one lock, today's views published to subscribers after every change, retention of
//! old days, and the operator's reads.
//!
//! Views are pushed, not polled: after a local action or a peer's change the service
//! re-derives the display, kiosk and desk views and sends them on `watch` channels
//! (only when they differ). Reading a published view takes no lock, so it never waits
//! behind an action's disk flush.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use aufruf_model::estimate::{self, HandlingTimes, PastHandling};
use aufruf_model::statistics::DayStatistics;
use aufruf_model::{
    ActionError, Day, DeskId, Event, Incarnation, NodeId, OfficeConfig, Origin, ServiceId, Stamp,
    Status, Ticket, TicketId, Timestamp, WalkIns, policy,
};
use aufruf_sync_protocol::DocumentName;
use chrono::NaiveDate;
use tokio::sync::watch;

use crate::authority::Roster;
use crate::clock::{ClockCheck, PeerClock};
use crate::office_doc::{
    self, ConfigPayload, ConfigRefusal, Published, Revocation, SignedConfig, SignedDelegation,
    SignedRevocation,
};
use crate::replicated::{Carries, Documents, Keys, Office, OfficeError, Touched, document_name};
use crate::views::{
    CallView, CatchingUp, DayView, DeskSummary, DeskView, DisplayView, KioskDepartment,
    KioskService, KioskView, LostClaimView, PeerView, TicketView, office_time, service_name,
};

/// How many visitors a desk's view lists as next in line.
const NEXT_SHOWN: usize = 5;
/// How many past calls the display lists.
const RECENT_SHOWN: usize = 8;

/// The replica under the office, as the services need it beyond reading and writing
/// documents. A running node implements it over `aufruf_sync_protocol::Replica`; tests over
/// memory ([`crate::memory::MemoryReplica`]).
pub trait Replication: Documents + Clone + Send + Sync + 'static {
    /// The peers with a live session now.
    fn peers(&self) -> Vec<PeerView>;
    /// The documents this node holds.
    fn document_names(&self) -> Vec<DocumentName>;
    /// Deletes the day documents before `horizon` from memory and disk, and ignores
    /// them from peers from now on.
    fn retire_days_before(&self, horizon: &DocumentName) -> Result<(), OfficeError>;
    /// Ignores day documents after `last` from peers (announced, synced or pushed):
    /// a peer cannot make this node keep days no booking can reach.
    fn accept_days_until(&self, last: &DocumentName);
    /// The wall clocks of the peers with a live session, as far as they told them.
    fn peer_clocks(&self) -> Vec<PeerClock>;
}

/// Hears what the service notices, for the node's metrics.
pub trait Observer: Send + Sync + fmt::Debug {
    /// A call made at another node reached this replica `latency` after it was made.
    fn call_arrived(&self, latency: Duration);
    /// An entry of a day document did not count (forged, unsealed, a role's
    /// overreach, revoked — [`crate::authority::Unaccepted::label`]).
    fn entry_refused(&self, _reason: &'static str) {}
}

/// An observer that ignores everything.
#[derive(Debug, Default, Clone, Copy)]
pub struct Unobserved;

impl Observer for Unobserved {
    fn call_arrived(&self, _latency: Duration) {}
}

/// Why a service did not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error(transparent)]
    Office(#[from] OfficeError),
    #[error("there is no service \"{0}\"")]
    UnknownService(String),
    /// A desk terminal acts for its own desk only.
    #[error("this terminal serves desk {own}, not {asked}")]
    NotThisDesk { own: DeskId, asked: DeskId },
    /// Walk-in tickets for the service are not issued now (outside the department's
    /// opening hours, or a holiday).
    #[error("no walk-in tickets for {service} now{}", reopens.as_ref().map(|r| format!("; {r}")).unwrap_or_default())]
    Closed {
        service: String,
        /// When it reopens, in the kiosk's words ("öffnet Donnerstag, 08:00").
        reopens: Option<String>,
    },
    /// A new walk-in ticket for the service would be called only after its
    /// department closes: the office says no rather than break its word.
    #[error(
        "no more walk-in tickets for {service} today: the wait would reach past closing time at {closes}; please book an appointment online"
    )]
    NoMoreToday {
        service: String,
        /// Office time the department closes, `HH:MM`.
        closes: String,
        /// The kiosk's words: "Heute keine Wartemarken mehr für Reisepass — bitte
        /// buchen Sie online einen Termin".
        de: String,
    },
    /// A booked citizen came earlier than check-in opens for the appointment.
    #[error("check-in for this appointment opens at {opens}")]
    TooEarly {
        /// Office time, `HH:MM`.
        opens: String,
    },
    /// A published configuration this office does not take.
    #[error("configuration refused: {0}")]
    ConfigRefused(#[from] ConfigRefusal),
    /// The node's wall clock disagrees with most of its peers' by more than the
    /// office's bound: it issues no tickets and calls no visitors until it is set
    /// right.
    #[error(
        "{0}: set the clock right; until then no tickets are issued and no visitors called here"
    )]
    ClockWrong(ClockCheck),
    /// A revocation not signed by the office's administrator, or for another office.
    #[error("the revocation is not signed by this office's administrator")]
    RevocationRefused,
    #[error("internal: {0}")]
    Internal(String),
}

impl From<ActionError> for ServiceError {
    fn from(e: ActionError) -> Self {
        ServiceError::Office(OfficeError::Action(e))
    }
}

/// Who this node is in the office, as far as the services need to know.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Setup {
    /// The office's id: configurations published for another office are refused.
    pub office: aufruf_model::OfficeId,
    pub node: NodeId,
    /// Days a day document is kept before only its statistics remain.
    pub retention_days: u32,
}

/// The shared office service; each role's service holds an `Arc` of it.
#[derive(Debug)]
pub struct OfficeService<R: Replication> {
    /// The configuration in force; swapped when the office publishes a newer one.
    config: watch::Sender<Arc<OfficeConfig>>,
    /// Which published configuration is in force, and what was refused.
    adopted: Mutex<Adopted>,
    keys: Keys,
    /// The revoked nodes, pushed to the network (which ends their sessions).
    revoked: watch::Sender<Arc<BTreeMap<NodeId, u64>>>,
    setup: Setup,
    replica: R,
    office: Mutex<Office<R>>,
    observer: Arc<dyn Observer>,
    /// Calls made elsewhere today whose arrival was already reported (emptied when the
    /// day changes, so a node running for weeks does not collect them).
    seen_calls: Mutex<(Option<NaiveDate>, BTreeSet<Stamp>)>,
    /// Desks with a terminal on this node: only their views are kept current.
    served_desks: Mutex<BTreeSet<DeskId>>,
    display: watch::Sender<Arc<DisplayView>>,
    kiosk: watch::Sender<Arc<KioskView>>,
    desks: watch::Sender<Arc<BTreeMap<DeskId, DeskView>>>,
    /// Counts the changes of today's tickets, here or from peers.
    tickets_changed: watch::Sender<u64>,
    /// Today's tickets with their outlook, shared by every reader until the next
    /// change of a ticket or [`BOARD_FRESH`] (the QR ticket pages' feeds).
    board: Mutex<Option<Board>>,
    /// The board pushed after every change, once a reader subscribed
    /// ([`OfficeService::subscribe_ticket_board`]; the gateway's ticket pages).
    board_feed: watch::Sender<Arc<BTreeMap<TicketId, TicketView>>>,
    board_wanted: std::sync::atomic::AtomicBool,
    /// What the same weekday of the past weeks taught of handling times, and the day
    /// it was learned for ([`OfficeService::retire_expired`] learns it each day).
    past_handling: Mutex<Option<(NaiveDate, Arc<PastHandling>)>>,
}

/// How many past weeks' same weekday the day's handling times are learned from.
const PAST_WEEKS: u64 = 8;

/// How long the shared tickets' outlook is used without a change of a ticket: waits
/// shrink as time passes.
const BOARD_FRESH: Duration = Duration::from_secs(15);

/// Today's tickets with their outlook, as of a change.
#[derive(Debug, Clone)]
struct Board {
    date: NaiveDate,
    /// Today's document's heads it was made at: any change there makes it old.
    heads: Vec<automerge::ChangeHash>,
    made: Timestamp,
    tickets: Arc<BTreeMap<TicketId, TicketView>>,
}

/// The published configuration in force, and the entries of the office document
/// already judged.
#[derive(Debug, Default)]
struct Adopted {
    /// 0: the device's own file's configuration, until the office publishes one.
    revision: u64,
    signature: String,
    /// The published configuration's text (none while the device runs on its own
    /// file's).
    text: Option<String>,
    /// The office document's heads when it was last looked at.
    heads: Vec<automerge::ChangeHash>,
    /// Entries refused, so each is reported once.
    refused: BTreeSet<SignedConfig>,
    /// Why the latest refused entry was refused, for the operator.
    notice: Option<String>,
}

/// What a run of the retention did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Retired {
    /// The days deleted.
    pub deleted: Vec<NaiveDate>,
    /// Days among them that could not be read, so no statistics were kept, and why.
    pub unreadable: Vec<(NaiveDate, String)>,
}

/// Which configuration a node runs on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigStatus {
    /// 0 when the device runs on its own file's configuration.
    pub revision: u64,
    /// Why the office's latest publication was not taken, if it was not.
    pub refused: Option<String>,
}

impl<R: Replication> OfficeService<R> {
    /// A service on `config` — the device's own (revision 0) or the office's
    /// [`office_doc::published_config`] — which takes any newer configuration the
    /// office publishes, checked with `keys.authority`, from then on. This node's
    /// certificate goes into the office document now, so peers can check what it
    /// writes.
    pub fn new(
        config: OfficeConfig,
        setup: Setup,
        replica: R,
        observer: Arc<dyn Observer>,
        keys: Keys,
    ) -> Self {
        if let Err(e) = office_doc::keep_certificate(&mut replica.clone(), &*keys.signer) {
            tracing::error!(error = %e, "cannot put this node's certificate into the office document; peers will not count its events until it is there");
        }
        let office = Office::new(
            config.clone(),
            replica.clone(),
            setup.node.clone(),
            keys.clone(),
        );
        // The kiosk's departments and services are there before the first change.
        let kiosk = kiosk_view(&config, &BTreeMap::new(), None, replica.catching_up());
        let service = Self {
            config: watch::channel(Arc::new(config)).0,
            adopted: Mutex::new(Adopted::default()),
            keys,
            revoked: watch::channel(Arc::default()).0,
            setup,
            replica,
            office: Mutex::new(office),
            observer,
            seen_calls: Mutex::new((None, BTreeSet::new())),
            served_desks: Mutex::new(BTreeSet::new()),
            display: watch::channel(Arc::default()).0,
            kiosk: watch::channel(Arc::new(kiosk)).0,
            desks: watch::channel(Arc::default()).0,
            tickets_changed: watch::channel(0).0,
            board: Mutex::new(None),
            board_feed: watch::channel(Arc::default()).0,
            board_wanted: std::sync::atomic::AtomicBool::new(false),
            past_handling: Mutex::new(None),
        };
        service.read_office_document();
        service
    }

    /// The nodes the office revoked, and from when (Unix ms); changes are pushed.
    pub fn subscribe_revoked(&self) -> watch::Receiver<Arc<BTreeMap<NodeId, u64>>> {
        self.revoked.subscribe()
    }

    /// The certificates and revocations in force.
    pub fn roster(&self) -> Roster {
        self.office().roster().clone()
    }

    /// Revokes a node on the administrator's signed word: checked here as every peer
    /// will check it, kept in the office document; from then on the node's events
    /// stamped after `from_ms` count nowhere and its sessions end.
    pub fn revoke(
        &self,
        now: Timestamp,
        signed: &SignedRevocation,
    ) -> Result<Revocation, ServiceError> {
        let revocation = signed
            .check(&*self.keys.authority, self.setup.office.as_str())
            .ok_or(ServiceError::RevocationRefused)?;
        office_doc::keep_revocation(&mut self.replica.clone(), &revocation, signed)?;
        self.refresh(now);
        Ok(revocation)
    }

    /// The office's day documents as this node holds them now, for a revocation to
    /// name ([`Revocation::documents`]): of the revoked node's writing only what they
    /// hold will count.
    pub fn held_documents(&self) -> BTreeMap<String, Vec<String>> {
        office_doc::held_documents(&self.replica, &self.replica.document_names())
    }

    /// The configuration in force now.
    pub fn config(&self) -> Arc<OfficeConfig> {
        self.config.borrow().clone()
    }

    /// Pushed when the office's configuration changes.
    pub fn subscribe_config(&self) -> watch::Receiver<Arc<OfficeConfig>> {
        self.config.subscribe()
    }

    /// Which configuration is in force, and what was refused.
    pub fn config_status(&self) -> ConfigStatus {
        let adopted = self.adopted();
        ConfigStatus {
            revision: adopted.revision,
            refused: adopted.notice.clone(),
        }
    }

    /// The published configuration in force: its revision and text as the
    /// administrator (or the gateway's admin pages) wrote it. `None` while the device
    /// runs on its own file's configuration.
    pub fn published_text(&self) -> Option<(u64, String)> {
        let adopted = self.adopted();
        adopted.text.clone().map(|text| (adopted.revision, text))
    }

    /// Whether the administrator's `delegation` lets this node publish the office's
    /// configuration; why not, if not (a word for another node or office, or not
    /// signed by the administrator — or this node is not a gateway).
    pub fn check_delegation(&self, delegation: &SignedDelegation) -> Result<(), ConfigRefusal> {
        let word = delegation
            .check(&*self.keys.authority, self.setup.office.as_str())
            .ok_or(ConfigRefusal::NotDelegated)?;
        if word.delegate != self.setup.node {
            return Err(ConfigRefusal::DelegatedToAnother(word.delegate));
        }
        Ok(())
    }

    /// Publishes `text` as the office's next configuration revision, signed with this
    /// node's key as the administrator's `delegation` allows (the gateway's admin
    /// pages): checked and kept as [`OfficeService::publish_config`] does. Two
    /// publications at once take the same revision; the larger signature wins
    /// everywhere, and the other's author sees it refused as not newer.
    pub fn publish_config_as_delegate(
        &self,
        now: Timestamp,
        text: &str,
        delegation: &SignedDelegation,
    ) -> Result<u64, ServiceError> {
        let payload = ConfigPayload {
            format: office_doc::CONFIG_FORMAT,
            revision: self.adopted().revision + 1,
            office: self.setup.office.to_string(),
            text: text.to_owned(),
        };
        let signed = SignedConfig::by_delegate(&payload, &*self.keys.signer, delegation)
            .map_err(ServiceError::Internal)?;
        self.publish_config(now, &signed)
    }

    /// Publishes an administrator's configuration to the office: checked here as every
    /// peer will check it, kept durably in the office document, in force here at once
    /// and on every device as the change reaches it. Returns the revision.
    pub fn publish_config(
        &self,
        now: Timestamp,
        signed: &SignedConfig,
    ) -> Result<u64, ServiceError> {
        let published = signed.check(
            &*self.keys.authority,
            &self.roster(),
            self.setup.office.as_str(),
        )?;
        let current = self.adopted().revision;
        if published.revision <= current {
            return Err(ConfigRefusal::NotNewer {
                revision: published.revision,
                current,
            }
            .into());
        }
        office_doc::keep_config(&mut self.replica.clone(), signed)?;
        self.refresh(now);
        Ok(published.revision)
    }

    /// Reads what changed in the office document: certificates and revocations,
    /// then the configuration. Cheap when the office document has not changed.
    fn read_office_document(&self) {
        let heads = office_doc::heads(&self.replica);
        if heads == self.adopted().heads {
            return;
        }
        self.update_roster();
        self.adopt_published_config(heads);
    }

    fn update_roster(&self) {
        let mut roster = self.office().roster().clone();
        let changed = office_doc::update_roster(
            &self.replica,
            &*self.keys.authority,
            self.setup.office.as_str(),
            &mut roster,
        );
        if !changed {
            // Nothing new for the roster; the history read so far is not read again.
            self.office()
                .roster_read_until(roster.history_read().to_vec());
            return;
        }
        let revoked = Arc::new(roster.revoked().clone());
        if **self.revoked.borrow() != *revoked {
            tracing::warn!(revoked = ?revoked.keys().collect::<Vec<_>>(), "revoked nodes: their later events do not count, their sessions end");
            self.revoked.send_replace(revoked);
        }
        let own = roster
            .certificate(
                self.keys
                    .signer
                    .fingerprint()
                    .get(..crate::authority::FINGERPRINT_DIGITS)
                    .unwrap_or_default(),
            )
            .is_some();
        self.office().set_roster(roster);
        if !own
            && let Err(e) =
                office_doc::keep_certificate(&mut self.replica.clone(), &*self.keys.signer)
        {
            tracing::error!(error = %e, "cannot put this node's certificate into the office document");
        }
    }

    /// Takes the office document's best configuration if it is newer than the one
    /// in force.
    fn adopt_published_config(&self, heads: Vec<automerge::ChangeHash>) {
        // Taken before `adopted`'s lock: no lock is held while the other is taken.
        let roster = self.roster();
        let winner = {
            let mut adopted = self.adopted();
            adopted.heads = heads;
            let entries = office_doc::config_entries(&self.replica);
            let fresh: Vec<SignedConfig> = entries
                .into_iter()
                .filter(|e| !adopted.refused.contains(e))
                .collect();
            let (best, refused) = office_doc::best_config(
                &fresh,
                &*self.keys.authority,
                &roster,
                self.setup.office.as_str(),
            );
            for (entry, refusal) in refused {
                tracing::warn!(%refusal, "the office's configuration entry is refused; the device keeps revision {}", adopted.revision);
                adopted.notice = Some(refusal.to_string());
                adopted.refused.insert(entry);
            }
            match best {
                Some(best)
                    if (best.revision, best.signed.signature.as_str())
                        > (adopted.revision, adopted.signature.as_str()) =>
                {
                    adopted.revision = best.revision;
                    adopted.signature = best.signed.signature.clone();
                    adopted.text = Some(best.text.clone());
                    adopted.notice = None;
                    best
                }
                _ => return,
            }
        };
        self.adopt(winner);
    }

    fn adopt(&self, published: Published) {
        let Published {
            revision, config, ..
        } = published;
        tracing::info!(revision, "the office's configuration is in force");
        self.office().set_config(config.clone());
        self.config.send_replace(Arc::new(config));
    }

    fn adopted(&self) -> MutexGuard<'_, Adopted> {
        self.adopted
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub fn node(&self) -> &NodeId {
        &self.setup.node
    }

    pub fn replica(&self) -> &R {
        &self.replica
    }

    /// Whether this device's new store still catches up with the office: it issues
    /// and calls nothing until it has (see [`Documents::catching_up`]).
    pub fn catching_up(&self) -> bool {
        self.replica.catching_up()
    }

    /// The incarnation of this device's store, which its tickets' ids carry.
    pub fn incarnation(&self) -> Incarnation {
        self.replica.incarnation()
    }

    /// The office day `now` falls on.
    pub fn today(&self, now: Timestamp) -> NaiveDate {
        self.config.borrow().local_date(now)
    }

    /// This node's wall clock compared with its peers' (see [`crate::clock`]).
    pub fn clock_check(&self) -> ClockCheck {
        ClockCheck::of(&self.replica.peer_clocks(), self.config().clocks.bound())
    }

    /// Refuses when the node's clock disagrees with most of its peers': what it would
    /// issue or call would carry a wrong time (a wrong day, even).
    pub(crate) fn check_clock(&self) -> Result<(), ServiceError> {
        let check = self.clock_check();
        if check.is_wrong() {
            return Err(ServiceError::ClockWrong(check));
        }
        Ok(())
    }

    /// Runs a model action on today's day, durably, then publishes the views.
    pub(crate) fn act<T: Carries>(
        &self,
        now: Timestamp,
        action: impl FnOnce(&mut Day, &OfficeConfig, Stamp) -> Result<T, ActionError>,
    ) -> Result<T, ServiceError> {
        self.read_office_document();
        let date = self.today(now);
        let mut office = self.office();
        let outcome = office.act(date, now, action)?;
        self.publish(&mut office, date, now);
        Ok(outcome)
    }

    /// Reads today under the lock.
    pub(crate) fn with_today<T>(
        &self,
        now: Timestamp,
        read: impl FnOnce(&Day, &OfficeConfig) -> T,
    ) -> Result<T, ServiceError> {
        self.read_office_document();
        let date = self.today(now);
        let mut office = self.office();
        let day = office.day(date)?;
        Ok(read(day, &self.config()))
    }

    /// Catches up with peers' changes and publishes the views: call it when the
    /// replica reports a change, and at the start of a day.
    pub fn refresh(&self, now: Timestamp) {
        self.read_office_document();
        let date = self.today(now);
        let mut office = self.office();
        if let Err(e) = office.day(date) {
            tracing::error!(error = %e, "cannot read today's document");
            return;
        }
        self.publish(&mut office, date, now);
    }

    /// The display's content now; changes arrive on [`Self::subscribe_display`].
    pub fn display_view(&self) -> Arc<DisplayView> {
        self.display.borrow().clone()
    }

    pub fn subscribe_display(&self) -> watch::Receiver<Arc<DisplayView>> {
        self.display.subscribe()
    }

    pub fn kiosk_view(&self) -> Arc<KioskView> {
        self.kiosk.borrow().clone()
    }

    pub fn subscribe_kiosk(&self) -> watch::Receiver<Arc<KioskView>> {
        self.kiosk.subscribe()
    }

    /// A desk's view with the node's peers as they are now: the published one for a
    /// desk with a terminal here, otherwise derived under the lock (an operator's
    /// look at another desk). `None` for a desk the office does not have.
    pub fn desk_view(&self, now: Timestamp, desk: &DeskId) -> Option<DeskView> {
        self.config().desk(desk)?;
        let published = self.desks.borrow().get(desk).cloned();
        let mut view = match published {
            Some(view) => view,
            None => self
                .with_today(now, |day, config| desk_view(day, config, desk, now, false))
                .ok()?,
        };
        view.catching_up = self.catching_up().then(CatchingUp::notice);
        let peers = self.replica.peers();
        view.display_reachable = peers
            .iter()
            .any(|p| p.role == aufruf_sync_protocol::Role::Display);
        view.peers = peers;
        Some(view)
    }

    /// Keeps `desk`'s view published from now on: a terminal for it runs here.
    pub(crate) fn serve_desk(&self, desk: &DeskId, now: Timestamp) {
        self.served_desks
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(desk.clone());
        self.refresh(now);
    }

    /// Pushed whenever a served desk's view changes. The published views carry no
    /// peers (`display_reachable` is false there): read [`Self::desk_view`] on change.
    pub fn subscribe_desks(&self) -> watch::Receiver<Arc<BTreeMap<DeskId, DeskView>>> {
        self.desks.subscribe()
    }

    /// Pushed whenever one of today's tickets changed (issued, called, served, done,
    /// anything), here or at a peer: what a ticket's page follows.
    pub fn subscribe_ticket_changes(&self) -> watch::Receiver<u64> {
        self.tickets_changed.subscribe()
    }

    /// Every ticket of today with its outlook: the operator's overview.
    pub fn day_view(&self, now: Timestamp) -> Result<DayView, ServiceError> {
        let date = self.today(now);
        let start = self.handling_start(now);
        self.with_today(now, |day, config| {
            let times = learned(&start, day);
            let outlook = estimate::estimate_all(day, config, &times, now);
            DayView {
                date,
                node: self.setup.node.to_string(),
                tickets: day
                    .tickets()
                    .map(|t| TicketView::of(config, day, t, outlook.get(&t.id).copied()))
                    .collect(),
                waiting: waiting_counts(day),
                desks: config
                    .desks
                    .iter()
                    .map(|d| desk_summary(day, config, &d.id))
                    .collect(),
            }
        })
    }

    /// Today's tickets with their outlook, computed once (one pass of the estimate
    /// over the whole queue) and shared until a ticket changes or 15 s pass: what
    /// the QR ticket pages' feeds read, thousands at a time, on every call.
    pub fn ticket_board(
        &self,
        now: Timestamp,
    ) -> Result<Arc<BTreeMap<TicketId, TicketView>>, ServiceError> {
        let date = self.today(now);
        let heads = self.day_heads(date);
        // Not held while the board is made: `publish` takes this lock while it holds
        // the office's, and making the board takes the office's.
        {
            let board = self
                .board
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if let Some(b) = board.as_ref()
                && b.date == date
                && b.heads == heads
                && now >= b.made
                && now.since(b.made) < BOARD_FRESH
            {
                return Ok(b.tickets.clone());
            }
        }
        let start = self.handling_start(now);
        let tickets =
            Arc::new(self.with_today(now, |day, config| board(day, config, &start, now))?);
        // The heads as read before the board was made: a change meanwhile makes the
        // next reader compute again.
        self.keep_board(date, heads, now, tickets.clone());
        Ok(tickets)
    }

    /// The heads of `date`'s document: any change there makes a board old.
    fn day_heads(&self, date: NaiveDate) -> Vec<automerge::ChangeHash> {
        document_name(date)
            .ok()
            .and_then(|name| self.replica.read_document(&name, |doc| doc.get_heads()))
            .unwrap_or_default()
    }

    fn keep_board(
        &self,
        date: NaiveDate,
        heads: Vec<automerge::ChangeHash>,
        made: Timestamp,
        tickets: Arc<BTreeMap<TicketId, TicketView>>,
    ) {
        *self
            .board
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(Board {
            date,
            heads,
            made,
            tickets,
        });
    }

    /// Today's board of tickets, pushed after every change of the day (here or from
    /// a peer): thousands of ticket pages follow it, each looking up its own ticket,
    /// while the estimate runs once. From the first subscription on, every change
    /// computes it.
    pub fn subscribe_ticket_board(
        &self,
        now: Timestamp,
    ) -> Result<watch::Receiver<Arc<BTreeMap<TicketId, TicketView>>>, ServiceError> {
        self.board_wanted
            .store(true, std::sync::atomic::Ordering::Relaxed);
        let board = self.ticket_board(now)?;
        self.board_feed.send_if_modified(|current| {
            let fresh = !Arc::ptr_eq(current, &board);
            *current = board.clone();
            fresh
        });
        Ok(self.board_feed.subscribe())
    }

    /// The ticket a status token of today belongs to.
    pub fn ticket_of_status_token(&self, now: Timestamp, token: &str) -> Option<TicketId> {
        // The roster first: a kiosk enrolled since seals its tokens with a key this
        // node must know.
        self.read_office_document();
        let date = self.today(now);
        self.office().ticket_of_status_token(date, token)
    }

    /// One ticket of today with its outlook, if there is such a ticket.
    pub fn ticket_view(
        &self,
        now: Timestamp,
        id: &TicketId,
    ) -> Result<Option<TicketView>, ServiceError> {
        let start = self.handling_start(now);
        self.with_today(now, |day, config| {
            day.ticket(id)
                .map(|t| ticket_with_outlook(day, config, &start, t, now))
        })
    }

    /// Whether a walk-in (or remote) ticket for `service` may be drawn at `now`: its
    /// department is open, and — unless the department is configured otherwise — a
    /// new ticket's estimate does not reach past the department's closing time.
    pub(crate) fn walk_ins_allowed(
        &self,
        now: Timestamp,
        service: &ServiceId,
    ) -> Result<(), ServiceError> {
        let config = self.config();
        let Some(department) = config
            .service(service)
            .and_then(|s| config.department(&s.department))
        else {
            return Err(ServiceError::UnknownService(service.to_string()));
        };
        if let WalkIns::Closed { reopens } = config.walk_ins(service, now) {
            let today = self.today(now);
            return Err(ServiceError::Closed {
                service: service_name(&config, service),
                reopens: reopens.map(|r| r.describe_de(today)),
            });
        }
        if !department.refuse_walk_ins_past_closing {
            return Ok(());
        }
        let Some(closes) = config.closes_at(service, now) else {
            return Ok(());
        };
        let start = self.handling_start(now);
        let outlook = self.with_today(now, |day, config| {
            estimate::for_new_walk_in(day, config, &learned(&start, day), service, now)
        })?;
        match outlook {
            Some(e) if now + e.wait > closes => {
                let name = service_name(&config, service);
                Err(ServiceError::NoMoreToday {
                    de: format!(
                        "Heute keine Wartemarken mehr für {name} — bitte buchen Sie online \
                         einen Termin"
                    ),
                    service: name,
                    closes: office_time(&config, closes).format("%H:%M").to_string(),
                })
            }
            _ => Ok(()),
        }
    }

    /// Draws a ticket of `origin` for `service` and returns it with its outlook and
    /// its status token.
    pub(crate) fn issue(
        &self,
        now: Timestamp,
        service: &ServiceId,
        origin: Origin,
    ) -> Result<(TicketView, String), ServiceError> {
        if self.config().service(service).is_none() {
            return Err(ServiceError::UnknownService(service.to_string()));
        }
        let start = self.handling_start(now);
        self.act_issuing(now, |day, config, incarnation, stamp| {
            // The wait the ticket will show, kept in it for the statistics' estimate
            // error.
            let times = learned(&start, day);
            let promised =
                estimate::for_new_walk_in(day, config, &times, service, now).map(|e| e.wait);
            day.issue_promising(config, service, origin, incarnation, stamp, promised)
        })
    }

    /// Runs an action that issues a ticket (drawing, checking in) from this device's
    /// store incarnation and gives the ticket an unguessable status token in the same
    /// durable change: the ticket and its view, and the token.
    pub(crate) fn act_issuing(
        &self,
        now: Timestamp,
        action: impl FnOnce(&mut Day, &OfficeConfig, Incarnation, Stamp) -> Result<Event, ActionError>,
    ) -> Result<(TicketView, String), ServiceError> {
        self.check_clock()?;
        let token = new_status_token();
        self.read_office_document();
        let date = self.today(now);
        let event = {
            let mut office = self.office();
            let incarnation = office.incarnation();
            let action = |day: &mut Day, config: &OfficeConfig, stamp| {
                action(day, config, incarnation, stamp)
            };
            let event =
                office.act_and_write(date, now, action, |tx, event, sealer| match event {
                    Event::Ticket { ticket, .. } => {
                        crate::day_doc::write_status_token(tx, &token, ticket, sealer)
                    }
                    _ => Ok(()),
                })?;
            self.publish(&mut office, date, now);
            event
        };
        Ok((self.issued_view(now, &event)?, token))
    }

    /// The ticket a status token belongs to, today, with its outlook. Unknown and
    /// malformed tokens alike give `None`.
    pub fn ticket_by_status_token(
        &self,
        now: Timestamp,
        token: &str,
    ) -> Result<Option<TicketView>, ServiceError> {
        // The roster first, as every read does: a kiosk enrolled since it was read
        // last seals its tickets' tokens with a key this node must know.
        self.read_office_document();
        let date = self.today(now);
        let Some(id) = self.office().ticket_of_status_token(date, token) else {
            return Ok(None);
        };
        self.ticket_view(now, &id)
    }

    /// The view of the ticket an issuing action wrote.
    pub(crate) fn issued_view(
        &self,
        now: Timestamp,
        event: &Event,
    ) -> Result<TicketView, ServiceError> {
        let Event::Ticket { ticket: id, .. } = event else {
            return Err(ServiceError::Internal("issuing gave no ticket".into()));
        };
        self.ticket_view(now, id)?
            .ok_or_else(|| ServiceError::Internal(format!("ticket {id} vanished")))
    }

    /// Feeds bookings into their day in one change (the gateway's action).
    pub(crate) fn book(
        &self,
        date: NaiveDate,
        appointments: &[aufruf_model::Appointment],
    ) -> Result<(), ServiceError> {
        // What the portal writes; a document holding another is not read either.
        if let Some(wrong) = appointments.iter().find(|a| !a.is_well_formed()) {
            return Err(ServiceError::Internal(format!(
                "booking {} names a service twice, or more than {} further services",
                wrong.code,
                aufruf_model::Appointment::MAX_ALSO
            )));
        }
        let mut office = self.office();
        office.book(date, appointments)?;
        Ok(())
    }

    // ---- days past their retention ----

    /// Deletes the day documents older than the retention, after keeping their
    /// statistics (no personal data) in the office document. A day that cannot be
    /// read is deleted all the same — its personal data must not outlive the
    /// retention — without statistics, and reported.
    ///
    /// Also moves the window of days taken from peers: from the retention's first day
    /// to the booking horizon, plus a day for clocks on either side of midnight.
    ///
    /// Then learns the day's handling times ([`Self::learn_from_past_weeks`]).
    pub fn retire_expired(&self, now: Timestamp) -> Result<Retired, ServiceError> {
        let retired = self.retire_expired_days(now);
        self.learn_from_past_weeks(now);
        retired
    }

    fn retire_expired_days(&self, now: Timestamp) -> Result<Retired, ServiceError> {
        // The roster first: a day counted without its authors' certificates would
        // keep statistics without their tickets.
        self.read_office_document();
        let today = self.today(now);
        let ahead = chrono::Days::new(u64::from(self.config().bookings.horizon_days) + 1);
        if let Some(last) = today.checked_add_days(ahead) {
            self.replica.accept_days_until(&document_name(last)?);
        }
        let retention = chrono::Days::new(u64::from(self.setup.retention_days));
        let Some(cutoff) = today.checked_sub_days(retention) else {
            return Ok(Retired::default());
        };
        let expired: Vec<NaiveDate> = self
            .replica
            .document_names()
            .iter()
            .filter_map(day_of)
            .filter(|date| *date < cutoff)
            .collect();
        let mut unreadable = Vec::new();
        for date in &expired {
            let statistics = {
                let mut office = self.office();
                let zone = self.config().timezone();
                office
                    .day(*date)
                    .map(|day| DayStatistics::of(*date, day, zone))
            };
            match statistics {
                Ok(statistics) => {
                    // Every node retires the day; one that held less of it (it was
                    // cut off) does not replace a fuller count another kept.
                    let kept = office_doc::statistics(&self.replica, *date);
                    if kept.is_none_or(|k| tickets_counted(&k) < tickets_counted(&statistics)) {
                        office_doc::keep_statistics(&mut self.replica.clone(), &statistics)?;
                    }
                }
                Err(e) => {
                    tracing::error!(%date, error = %e, "a day past the retention cannot be read; it is deleted without statistics");
                    unreadable.push((*date, e.to_string()));
                }
            }
        }
        self.replica.retire_days_before(&document_name(cutoff)?)?;
        self.office().forget_before(cutoff);
        if !expired.is_empty() {
            tracing::info!(days = ?expired, "days past the retention deleted; their statistics are kept");
        }
        Ok(Retired {
            deleted: expired,
            unreadable,
        })
    }

    /// Learns the day's handling times from the same weekday of the past weeks (the
    /// days this node holds, and the statistics kept of older ones): what a
    /// Monday's passports take at nine. [`Self::retire_expired`] does this each day.
    pub fn learn_from_past_weeks(&self, now: Timestamp) {
        let today = self.today(now);
        let days: Vec<DayStatistics> = (1..=PAST_WEEKS)
            .filter_map(|week| today.checked_sub_days(chrono::Days::new(7 * week)))
            .filter_map(|date| {
                let statistics = self.day_statistics(date);
                // Counted once a day: not kept in memory.
                self.office().forget(date);
                statistics
            })
            .collect();
        let past = PastHandling::of(&days);
        tracing::debug!(%today, days = days.len(), "handling times learned from past weeks");
        *self
            .past_handling
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some((today, Arc::new(past)));
    }

    /// Where today's handling times start at `now`: what past weeks taught of this
    /// hour, else the configured expectations.
    fn handling_start(&self, now: Timestamp) -> HandlingTimes {
        let today = self.today(now);
        let past = self
            .past_handling
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        match past {
            Some((date, past)) if date == today => {
                let hour = aufruf_model::calendar::local_hour(self.config().timezone(), now);
                HandlingTimes::after(&past, hour)
            }
            _ => HandlingTimes::new(),
        }
    }

    /// The statistics kept of a deleted (or any summarised) day.
    pub fn statistics(&self, date: NaiveDate) -> Option<DayStatistics> {
        office_doc::statistics(&self.replica, date)
    }

    /// A day's statistics: counted from the day itself while this node holds it
    /// (today, the days within the retention), else those kept when it was deleted.
    /// `None` for a day this office has no record of.
    pub fn day_statistics(&self, date: NaiveDate) -> Option<DayStatistics> {
        // The roster first, as every read does: the authors of the day's entries
        // must be known for their entries to count.
        self.read_office_document();
        let held =
            document_name(date).is_ok_and(|name| self.replica.document_names().contains(&name));
        if held {
            let mut office = self.office();
            match office.day(date) {
                Ok(day) => return Some(DayStatistics::of(date, day, self.config().timezone())),
                Err(e) => {
                    tracing::warn!(%date, error = %e, "a day cannot be read for its statistics")
                }
            }
        }
        self.statistics(date)
    }

    fn office(&self) -> MutexGuard<'_, Office<R>> {
        // A panic while holding the lock leaves the office as it was before the
        // action (the action either returned or unwound before writing); go on.
        self.office
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Derives today's views after a change and sends those that differ.
    fn publish(&self, office: &mut Office<R>, date: NaiveDate, now: Timestamp) {
        for why in office.take_refused() {
            self.observer.entry_refused(why.label());
        }
        let touched = office.take_touched(date);
        let ticket_changed = !matches!(&touched, Touched::Some(tickets) if tickets.is_empty());
        if ticket_changed {
            self.tickets_changed.send_modify(|n| *n = n.wrapping_add(1));
        }
        let catching_up = office.catching_up();
        let Ok(day) = office.day(date) else { return };
        self.report_arrived_calls(day, date, &touched, now);
        let config = self.config();
        let waiting = waiting_counts(day);
        let display = display_view(&config, day, &waiting, date);
        let kiosk = kiosk_view(&config, &waiting, Some(date), catching_up);
        let served = self
            .served_desks
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        let desks: BTreeMap<DeskId, DeskView> = served
            .into_iter()
            .map(|desk| {
                let view = desk_view(day, &config, &desk, now, catching_up);
                (desk, view)
            })
            .collect();
        send_if_changed(&self.display, display);
        send_if_changed(&self.kiosk, kiosk);
        send_if_changed(&self.desks, desks);
        if ticket_changed && self.board_wanted.load(std::sync::atomic::Ordering::Relaxed) {
            let start = self.handling_start(now);
            let tickets = Arc::new(board(day, &config, &start, now));
            let heads = self.day_heads(date);
            self.keep_board(date, heads, now, tickets.clone());
            self.board_feed.send_replace(tickets);
        }
    }

    /// Tells the observer about calls made elsewhere that just arrived here. A day
    /// read whole (at start, after a reload) holds no arrivals: its calls are only
    /// marked as seen, so old calls do not count as hours-long latencies.
    fn report_arrived_calls(&self, day: &Day, date: NaiveDate, touched: &Touched, now: Timestamp) {
        let mut seen = self
            .seen_calls
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if seen.0 != Some(date) {
            *seen = (Some(date), BTreeSet::new());
        }
        let seen = &mut seen.1;
        let mut note = |t: &Ticket, report: bool| {
            for (stamp, _) in &t.calls_won {
                if stamp.node != self.setup.node && seen.insert(stamp.clone()) && report {
                    self.observer.call_arrived(now.since(stamp.hlc.wall()));
                }
            }
        };
        match touched {
            Touched::All => day.tickets().for_each(|t| note(t, false)),
            Touched::Some(ids) => ids
                .iter()
                .filter_map(|id| day.ticket(id))
                .for_each(|t| note(t, true)),
        }
    }
}

fn send_if_changed<T: PartialEq>(channel: &watch::Sender<Arc<T>>, view: T) {
    channel.send_if_modified(|shown| {
        if **shown == view {
            false
        } else {
            *shown = Arc::new(view);
            true
        }
    });
}

fn day_of(name: &DocumentName) -> Option<NaiveDate> {
    match name {
        DocumentName::Day { year, month, day } => {
            NaiveDate::from_ymd_opt(i32::from(*year), u32::from(*month), u32::from(*day))
        }
        DocumentName::Office => None,
    }
}

/// 128 random bits as 32 lowercase hex digits: a ticket's status token.
fn new_status_token() -> String {
    use rand::{Rng, SeedableRng};
    // From the operating system's generator, fresh for each token.
    let mut rng = rand::rngs::StdRng::from_os_rng();
    format!("{:032x}", rng.random::<u128>())
}

/// Every ticket of `day` with its outlook at `now`: one pass of the estimate.
fn board(
    day: &Day,
    config: &OfficeConfig,
    start: &HandlingTimes,
    now: Timestamp,
) -> BTreeMap<TicketId, TicketView> {
    let outlook = estimate::estimate_all(day, config, &learned(start, day), now);
    day.tickets()
        .map(|t| {
            let view = TicketView::of(config, day, t, outlook.get(&t.id).copied());
            (t.id.clone(), view)
        })
        .collect()
}

/// Every ticket a day's statistics counted.
fn tickets_counted(statistics: &DayStatistics) -> u64 {
    statistics
        .services
        .values()
        .map(|s| u64::from(s.visitors()))
        .sum()
}

/// Today's handling times: from `start` (what past days taught), with every ticket
/// finished today.
fn learned(start: &HandlingTimes, day: &Day) -> HandlingTimes {
    let mut times = start.clone();
    times.learn_from(day);
    times
}

fn ticket_with_outlook(
    day: &Day,
    config: &OfficeConfig,
    start: &HandlingTimes,
    t: &Ticket,
    now: Timestamp,
) -> TicketView {
    let outlook = (t.status == Status::Waiting)
        .then(|| estimate::estimate(day, config, &learned(start, day), &t.id, now))
        .flatten();
    TicketView::of(config, day, t, outlook)
}

fn waiting_counts(day: &Day) -> BTreeMap<ServiceId, u32> {
    let mut counts = BTreeMap::new();
    for t in day.waiting() {
        *counts.entry(t.service.clone()).or_insert(0) += 1;
    }
    counts
}

fn desk_summary(day: &Day, config: &OfficeConfig, desk: &DeskId) -> DeskSummary {
    let session = day.desk_session(desk);
    DeskSummary {
        desk: desk.clone(),
        open: session.as_ref().is_some_and(|s| s.open),
        paused: session.as_ref().is_some_and(|s| s.paused),
        services: day.services_of(config, desk),
        current: day.current_of(desk).map(|t| t.number.to_string()),
    }
}

/// A desk's view without its peers (those are added when it is read).
fn desk_view(
    day: &Day,
    config: &OfficeConfig,
    desk: &DeskId,
    now: Timestamp,
    catching_up: bool,
) -> DeskView {
    let summary = desk_summary(day, config, desk);
    let mut candidates: Vec<policy::Candidate<'_>> = day
        .waiting()
        .map(policy::Candidate::from)
        .filter(|c| c.eligible(desk, &summary.services))
        .collect();
    let waiting_for_desk = u32::try_from(candidates.len()).unwrap_or(u32::MAX);
    let mut next = Vec::new();
    let mut streak = policy::streak_of(day, desk, &config.queue);
    while next.len() < NEXT_SHOWN {
        let Some(picked) = policy::pick(
            &candidates,
            desk,
            &summary.services,
            now,
            &config.queue,
            streak,
        ) else {
            break;
        };
        streak = policy::streak_after(streak, picked);
        let id = picked.id.clone();
        candidates.retain(|c| *c.id != id);
        if let Some(t) = day.ticket(&id) {
            next.push(TicketView::of(config, day, t, None));
        }
    }
    let parked = day
        .parked_at(desk)
        .map(|t| TicketView::of(config, day, t, None))
        .collect();
    let lost_claims = day
        .lost_claims_of(desk)
        .map(|c| LostClaimView {
            ticket: c.ticket.clone(),
            number: day
                .ticket(&c.ticket)
                .map(|t| t.number.to_string())
                .unwrap_or_default(),
            taken_by: c.winner.clone(),
        })
        .collect();
    DeskView {
        name: config
            .desk(desk)
            .map(|d| d.name.clone())
            .unwrap_or_default(),
        desk: summary.desk,
        open: summary.open,
        paused: summary.paused,
        services: summary.services,
        current: day
            .current_of(desk)
            .map(|t| TicketView::of(config, day, t, None)),
        waiting_for_desk,
        next,
        parked,
        lost_claims,
        display_reachable: false,
        peers: Vec::new(),
        catching_up: catching_up.then(CatchingUp::notice),
    }
}

/// The foyer display's content for a day.
pub fn display_view(
    config: &OfficeConfig,
    day: &Day,
    waiting_per_service: &BTreeMap<ServiceId, u32>,
    date: NaiveDate,
) -> DisplayView {
    let call_of = |t: &Ticket, desk: &DeskId| CallView {
        number: t.number.to_string(),
        desk: desk.clone(),
        desk_name: config
            .desk(desk)
            .map(|d| d.name.clone())
            .unwrap_or_default(),
        calls: t.calls,
        at: office_time(config, t.since).format("%H:%M:%S").to_string(),
    };
    // Latest first; equal times by number, so every replica shows the same order.
    let latest_first = |a: &(&Ticket, &DeskId), b: &(&Ticket, &DeskId)| {
        b.0.since
            .cmp(&a.0.since)
            .then_with(|| a.0.number.cmp(&b.0.number))
    };
    let mut calls: Vec<(&Ticket, &DeskId)> = day
        .called()
        .filter_map(|t| t.status.desk().map(|d| (t, d)))
        .collect();
    calls.sort_by(latest_first);
    let mut recent: Vec<(&Ticket, &DeskId)> = day
        .latest_at_desks(RECENT_SHOWN)
        .filter_map(|t| match &t.status {
            Status::Serving { desk } | Status::Done { desk } => Some((t, desk)),
            _ => None,
        })
        .collect();
    recent.sort_by(latest_first);
    let mut waiting = BTreeMap::new();
    for (service, n) in waiting_per_service {
        *waiting.entry(service_name(config, service)).or_insert(0) += n;
    }
    DisplayView {
        date: Some(date),
        calls: calls.into_iter().map(|(t, d)| call_of(t, d)).collect(),
        recent: recent.into_iter().map(|(t, d)| call_of(t, d)).collect(),
        waiting_total: waiting.values().sum(),
        waiting,
    }
}

/// The kiosk's start screen for a day: departments, their services, who waits, and
/// whether the device still catches up.
fn kiosk_view(
    config: &OfficeConfig,
    waiting: &BTreeMap<ServiceId, u32>,
    date: Option<NaiveDate>,
    catching_up: bool,
) -> KioskView {
    KioskView {
        date,
        catching_up: catching_up.then(CatchingUp::notice),
        departments: config
            .departments
            .iter()
            .map(|department| KioskDepartment {
                department: department.id.clone(),
                name_de: department.name.de.clone(),
                name_en: department.name.en.clone(),
                // Opening hours depend on the time of reading: the kiosk service
                // fills these in.
                open: false,
                reopens: None,
                services: config
                    .services
                    .iter()
                    .filter(|s| s.department == department.id)
                    .map(|s| KioskService {
                        service: s.id.clone(),
                        name_de: s.name.de.clone(),
                        name_en: s.name.en.clone(),
                        waiting: waiting.get(&s.id).copied().unwrap_or(0),
                        // Depends on the time of reading: the kiosk service fills it in.
                        no_more_today: false,
                    })
                    .collect(),
            })
            .collect(),
    }
}
