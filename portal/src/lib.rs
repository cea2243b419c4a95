//! The citizen portal the gateway serves: accounts, online booking and the mails that
//! go with them, as server-rendered pages styled with KERN.
//!
//! `Portal` holds the portal's own data (`store`, sled on the gateway, never
//! replicated) and talks to the office only through [`OfficeDoor`] — in the node,
//! the gateway's `GatewayService`. [`web::router`] is the face: pages and forms over
//! `Portal`'s calls; the node binds and serves it.

pub mod accounts;
pub mod admins;
pub mod backup;
pub mod booking;
pub mod door_queue;
pub mod feedback;
pub mod i18n;
pub mod limits;
pub mod mail;
pub mod password;
pub mod pow;
pub mod remote;
pub mod secret;
pub mod settings;
pub mod slots;
pub mod smtp;
pub mod statistics;
pub mod store;
pub mod texts;
pub mod totp;
pub mod waitlist;
pub mod web;

use std::sync::Arc;

use aufruf_model::statistics::DayStatistics;
use aufruf_model::{Appointment, OfficeConfig, Timestamp};
use aufruf_office::office_doc::SignedDelegation;
use aufruf_office::views::{DisplayView, TicketView};

/// Today's tickets with their outlook, by ticket.
pub type TicketBoard = std::collections::BTreeMap<aufruf_model::TicketId, TicketView>;
use aufruf_office::{GatewayService, Replication};
use chrono::NaiveDate;

pub use settings::PortalSettings;

use crate::limits::RateLimit;
use crate::mail::{MailError, Mailer, Outbox};
use crate::password::{PasswordError, Passwords};
use crate::store::{Store, StoreError};

/// What the portal needs of the office: its configuration and the door bookings go
/// through (the gateway's service in the node, a stand-in in tests).
pub trait OfficeDoor: Send + Sync + std::fmt::Debug + 'static {
    fn config(&self) -> Arc<OfficeConfig>;
    /// Feeds a booked appointment into its day, durably.
    fn book(&self, date: NaiveDate, appointment: Appointment) -> Result<(), String>;
    /// Cancels a booked appointment in its day, durably.
    fn cancel(&self, date: NaiveDate, appointment: Appointment) -> Result<(), String>;
    /// Draws a walk-in ticket for a citizen near the office (from the phone): the
    /// ticket and its status token. Numbers come from the gateway's own block.
    fn draw_remote_ticket(
        &self,
        _now: Timestamp,
        _service: &aufruf_model::ServiceId,
    ) -> Result<(TicketView, String), DrawRefusal> {
        Err(DrawRefusal::Failed(
            "this office draws no tickets here".into(),
        ))
    }
    /// Whether a ticket for `service` could be drawn now, without drawing one.
    fn walk_ins(
        &self,
        _now: Timestamp,
        _service: &aufruf_model::ServiceId,
    ) -> Result<(), DrawRefusal> {
        Ok(())
    }
    /// Today's ticket by its status token (the QR ticket page); `None` for an
    /// unknown token, one of another day, or one the office cannot read now.
    fn ticket(&self, now: Timestamp, token: &str) -> Option<TicketView> {
        let id = self.ticket_id(now, token)?;
        self.ticket_by_id(now, &id)
    }
    /// The ticket a status token of today belongs to (checked once per page).
    fn ticket_id(&self, _now: Timestamp, _token: &str) -> Option<aufruf_model::TicketId> {
        None
    }
    /// A ticket of today by its id, from the office's shared board of today's
    /// tickets: cheap, however many pages follow their tickets.
    fn ticket_by_id(&self, _now: Timestamp, _id: &aufruf_model::TicketId) -> Option<TicketView> {
        None
    }
    /// The office's calls as they change (the display's view): a ticket page's feed
    /// looks again at each change. `None`: no feed, the page is refreshed by hand.
    fn calls(&self) -> Option<tokio::sync::watch::Receiver<Arc<DisplayView>>> {
        None
    }
    /// Today's tickets with their outlook, pushed after every change: the ticket
    /// pages' feeds each look up their own ticket in it.
    fn ticket_board(
        &self,
        _now: Timestamp,
    ) -> Option<tokio::sync::watch::Receiver<Arc<TicketBoard>>> {
        None
    }
    /// Counts the changes of today's tickets (a visitor served, done, sent away): a
    /// ticket page's feed looks again at each, so the end of a visit shows at once.
    fn ticket_changes(&self) -> Option<tokio::sync::watch::Receiver<u64>> {
        None
    }
    /// The office's configuration revision in force (0: the device's own file's).
    fn config_revision(&self) -> u64 {
        0
    }
    /// A day's statistics (counted from the day while the office holds it, else
    /// those kept when it was deleted); `None` for a day without a record.
    fn statistics(&self, _date: NaiveDate) -> Option<DayStatistics> {
        None
    }
    /// Whether the administrator's `delegation` lets this gateway publish the
    /// office's configuration; why not, if it does not.
    fn check_delegation(&self, _delegation: &SignedDelegation) -> Result<(), String> {
        Err("this office takes no configuration from the portal".into())
    }
    /// Publishes `text` as the office's next configuration, signed as `delegation`
    /// allows; the new revision.
    fn publish_config(
        &self,
        _now: Timestamp,
        _text: &str,
        _delegation: &SignedDelegation,
    ) -> Result<u64, String> {
        Err("this office takes no configuration from the portal".into())
    }
    /// Feeds bookings and cancellations (each says which) into a day, durably; the
    /// gateway writes them as one change.
    fn book_all(&self, date: NaiveDate, appointments: &[Appointment]) -> Result<(), String> {
        for a in appointments {
            if a.cancelled {
                self.cancel(date, a.clone())?;
            } else {
                self.book(date, a.clone())?;
            }
        }
        Ok(())
    }
}

impl<R: Replication + std::fmt::Debug> OfficeDoor for GatewayService<R> {
    fn config(&self) -> Arc<OfficeConfig> {
        self.office().config()
    }

    fn book(&self, date: NaiveDate, appointment: Appointment) -> Result<(), String> {
        GatewayService::book(self, date, appointment).map_err(|e| e.to_string())
    }

    fn cancel(&self, date: NaiveDate, appointment: Appointment) -> Result<(), String> {
        GatewayService::cancel(self, date, appointment).map_err(|e| e.to_string())
    }

    fn book_all(&self, date: NaiveDate, appointments: &[Appointment]) -> Result<(), String> {
        GatewayService::book_all(self, date, appointments).map_err(|e| e.to_string())
    }

    fn config_revision(&self) -> u64 {
        self.office().config_status().revision
    }

    fn statistics(&self, date: NaiveDate) -> Option<DayStatistics> {
        self.office().day_statistics(date)
    }

    fn check_delegation(&self, delegation: &SignedDelegation) -> Result<(), String> {
        self.office()
            .check_delegation(delegation)
            .map_err(|e| e.to_string())
    }

    fn publish_config(
        &self,
        now: Timestamp,
        text: &str,
        delegation: &SignedDelegation,
    ) -> Result<u64, String> {
        self.office()
            .publish_config_as_delegate(now, text, delegation)
            .map_err(|e| e.to_string())
    }

    fn draw_remote_ticket(
        &self,
        now: Timestamp,
        service: &aufruf_model::ServiceId,
    ) -> Result<(TicketView, String), DrawRefusal> {
        GatewayService::draw_remote_ticket(self, now, service).map_err(DrawRefusal::of)
    }

    fn walk_ins(
        &self,
        now: Timestamp,
        service: &aufruf_model::ServiceId,
    ) -> Result<(), DrawRefusal> {
        GatewayService::walk_ins(self, now, service).map_err(DrawRefusal::of)
    }

    fn ticket_id(&self, now: Timestamp, token: &str) -> Option<aufruf_model::TicketId> {
        self.ticket_of_status_token(now, token)
    }

    fn ticket_by_id(&self, now: Timestamp, id: &aufruf_model::TicketId) -> Option<TicketView> {
        match self.ticket_on_board(now, id) {
            Ok(found) => found,
            Err(error) => {
                tracing::warn!(%error, "a ticket page could not read the day");
                None
            }
        }
    }

    fn calls(&self) -> Option<tokio::sync::watch::Receiver<Arc<DisplayView>>> {
        Some(self.office().subscribe_display())
    }

    fn ticket_changes(&self) -> Option<tokio::sync::watch::Receiver<u64>> {
        Some(self.office().subscribe_ticket_changes())
    }

    fn ticket_board(
        &self,
        now: Timestamp,
    ) -> Option<tokio::sync::watch::Receiver<Arc<TicketBoard>>> {
        self.subscribe_ticket_board(now)
            .inspect_err(|error| tracing::warn!(%error, "no board of today's tickets"))
            .ok()
    }
}

/// Why the office drew no ticket for a citizen's phone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DrawRefusal {
    /// The department is closed now; when it reopens, in the kiosk's words.
    Closed(Option<String>),
    /// The wait would reach past closing time (`HH:MM`).
    NoMoreToday(String),
    UnknownService,
    Failed(String),
}

impl DrawRefusal {
    fn of(e: aufruf_office::ServiceError) -> Self {
        use aufruf_office::ServiceError;
        match e {
            ServiceError::Closed { reopens, .. } => DrawRefusal::Closed(reopens),
            ServiceError::NoMoreToday { closes, .. } => DrawRefusal::NoMoreToday(closes),
            ServiceError::UnknownService(_) => DrawRefusal::UnknownService,
            other => DrawRefusal::Failed(other.to_string()),
        }
    }
}

/// The time of day, handed in (the node's wall clock; a fixed one in tests).
pub type Clock = Arc<dyn Fn() -> Timestamp + Send + Sync>;

/// Why the portal could not do something (not the citizen's mistakes: those are
/// answers of their own).
#[derive(Debug, thiserror::Error)]
pub enum PortalError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Mail(#[from] MailError),
    #[error(transparent)]
    Password(#[from] PasswordError),
    #[error("the office did not take the booking: {0}")]
    Office(String),
    /// `[node.portal] admin_delegation` names a file that is not this gateway's
    /// delegation.
    #[error("admin_delegation: {0}")]
    Delegation(String),
}

/// The portal: its store, mail, the office's door, and the limits.
pub struct Portal {
    pub settings: PortalSettings,
    pub store: Store,
    pub mailer: Arc<dyn Mailer>,
    pub office: Arc<dyn OfficeDoor>,
    clock: Clock,
    pub passwords: Passwords,
    pub by_address: RateLimit,
    pub by_account: RateLimit,
    /// Challenges against slot bots on the register and booking forms.
    pub pow: pow::ProofOfWork,
    /// Signs the cancel links in booking mails (kept in the store across restarts).
    links: ring::hmac::Key,
    /// Bookings and cancellations on their way into the office, grouped.
    door_queue: door_queue::DoorQueue,
    /// Places for live feeds of QR ticket pages.
    pub ticket_feeds: Arc<tokio::sync::Semaphore>,
    /// The administrator's word that this gateway may publish the office's
    /// configuration (the admin pages); checked at start.
    delegation: Option<SignedDelegation>,
}

impl std::fmt::Debug for Portal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Portal")
            .field("settings", &self.settings)
            .field("office", &self.office)
            .finish_non_exhaustive()
    }
}

impl Portal {
    /// Opens the portal's store and outbox.
    pub fn open(
        settings: PortalSettings,
        office: Arc<dyn OfficeDoor>,
        clock: Clock,
    ) -> Result<Self, PortalError> {
        let mailer: Arc<dyn Mailer> = match &settings.smtp {
            Some(smtp) => Arc::new(smtp::SmtpQueue::start(
                &settings.outbox.join("queue"),
                &settings.mail_from,
                smtp,
            )?),
            None => Arc::new(Outbox::new(&settings.outbox, &settings.mail_from)?),
        };
        Self::with_mailer(settings, office, clock, mailer)
    }

    pub fn with_mailer(
        settings: PortalSettings,
        office: Arc<dyn OfficeDoor>,
        clock: Clock,
        mailer: Arc<dyn Mailer>,
    ) -> Result<Self, PortalError> {
        let delegation = match &settings.admin_delegation {
            Some(path) => {
                let delegation = admins::read_delegation(path).map_err(PortalError::Delegation)?;
                office
                    .check_delegation(&delegation)
                    .map_err(|e| PortalError::Delegation(format!("{}: {e}", path.display())))?;
                Some(delegation)
            }
            None => None,
        };
        let store = Store::open(&settings.store)?;
        let links = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &store.key("links")?);
        Ok(Self {
            store,
            links,
            door_queue: door_queue::DoorQueue::default(),
            ticket_feeds: Arc::new(tokio::sync::Semaphore::new(settings.ticket_feeds as usize)),
            passwords: Passwords::new(settings.password_cost)?,
            by_address: RateLimit::new(settings.attempts_per_address_per_minute),
            by_account: RateLimit::new(settings.attempts_per_account_per_minute),
            pow: pow::ProofOfWork::new(settings.pow_max_number),
            mailer,
            office,
            clock,
            settings,
            delegation,
        })
    }

    pub fn now(&self) -> Timestamp {
        (self.clock)()
    }

    pub fn now_ms(&self) -> u64 {
        self.now().as_millis()
    }

    pub fn config(&self) -> Arc<OfficeConfig> {
        self.office.config()
    }

    /// Feeds a booking or its cancellation into the office, grouped with those that
    /// arrive meanwhile (see [`door_queue`]).
    pub fn into_office(&self, date: NaiveDate, appointment: Appointment) -> Result<(), String> {
        self.door_queue.send(&self.office, date, appointment)
    }

    /// The signature of a link in a mail naming `what`: 128 bits, hex.
    fn sign_link(&self, what: &str) -> String {
        let tag = ring::hmac::sign(&self.links, what.as_bytes());
        secret::hex(&tag.as_ref()[..16])
    }

    /// The signature of the cancel link of booking `code`.
    fn cancel_signature(&self, code: &str) -> String {
        self.sign_link(&format!("cancel/{code}"))
    }

    /// The link in a booking mail that cancels it without logging in.
    pub fn cancel_link(&self, code: &str) -> String {
        self.link(&format!("/c/{code}/{}", self.cancel_signature(code)))
    }

    /// Whether `signature` is that of booking `code`'s cancel link.
    pub fn cancel_link_holds(&self, code: &str, signature: &str) -> bool {
        secret::same(&self.cancel_signature(code), signature)
    }

    /// An encrypted snapshot of the portal's store (see [`backup`]), with the
    /// configuration's `backup_key`.
    pub fn backup(&self) -> Result<Vec<u8>, backup::BackupError> {
        let key = self
            .settings
            .backup_key
            .as_deref()
            .ok_or(backup::BackupError::NoKey)
            .and_then(backup::parse_key)?;
        backup::seal(&self.store, &key)
    }

    /// A link into the portal for a mail.
    pub fn link(&self, path: &str) -> String {
        format!("{}{path}", self.settings.public_url.trim_end_matches('/'))
    }
}
