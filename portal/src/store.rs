//! The portal's own data in sled: accounts, sessions, one-time links and bookings.
//! It lives on the gateway only and is never replicated into the office's documents.
//!
//! One tree, keys with prefixes (`a/` account, `e/` e-mail → account, `s/` session,
//! `l/` link, `b/` booking, `ab/` account → booking, `sl/` slot → booking; the
//! admins' `x/`, `xi/`, `xs/` in [`admins`]), so that
//! every change of several keys is one atomic batch. Writers take one lock, so a check
//! and the write it allows (a free slot, an unused address) cannot interleave with
//! another's; every change is flushed before it returns, so what a citizen was told
//! is on disk.

use std::path::Path;
use std::sync::Mutex;

use chrono::{NaiveDate, NaiveTime};
use serde::{Deserialize, Serialize, de::DeserializeOwned};

use crate::i18n::Lang;
use crate::secret;

mod admins;
mod feedback;
pub use admins::{Admin, AdminSession, Invitation};
pub use feedback::Feedback;

/// A citizen's account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    pub id: String,
    /// Lower-cased.
    pub email: String,
    /// argon2id PHC string.
    pub password: String,
    pub verified: bool,
    pub created_ms: u64,
}

/// A logged-in session: the cookie holds its id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    pub account: String,
    /// The CSRF token of this session's forms.
    pub csrf: String,
    pub expires_ms: u64,
}

/// What a one-time link in a mail does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum LinkKind {
    Verify,
    Reset,
    ChangeEmail { new: String },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Link {
    pub account: String,
    pub kind: LinkKind,
    pub expires_ms: u64,
}

/// What the store keeps under a random token until it expires, with an index by
/// account: sessions (`s/<token>`, `as/<account>/<token>`) and one-time links
/// (`l/`, `al/`).
trait Expiring: Serialize + DeserializeOwned {
    /// The token's key prefix; the account index's is `a` and this.
    const PREFIX: &'static str;
    fn account(&self) -> &str;
    fn expires_ms(&self) -> u64;
}

impl Expiring for Session {
    const PREFIX: &'static str = "s";
    fn account(&self) -> &str {
        &self.account
    }
    fn expires_ms(&self) -> u64 {
        self.expires_ms
    }
}

impl Expiring for Link {
    const PREFIX: &'static str = "l";
    fn account(&self) -> &str {
        &self.account
    }
    fn expires_ms(&self) -> u64 {
        self.expires_ms
    }
}

/// A citizen waiting for a place on a full day of a service (`w/<service>/<date>/<seq>`,
/// in the order they came; `aw/<account>/<service>/<date>` names the entry).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Waiting {
    pub account: String,
    pub service: String,
    pub date: NaiveDate,
    pub joined_ms: u64,
    /// The offer mail's language (`de`, `en`).
    pub lang: String,
}

/// How joining a waitlist went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Joined {
    Waiting,
    /// The account waits for that day already.
    Already,
    /// The account waits for as many days as it may.
    TooMany,
}

/// A freed place offered to the first citizen waiting: held for them until
/// `expires_ms` (the place's entry under `sl/` holds that time, as a cancelled one
/// does), and booked under `code` when they take it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Offer {
    pub code: String,
    pub account: String,
    pub department: String,
    pub service: String,
    pub date: NaiveDate,
    pub time: NaiveTime,
    pub due_ms: u64,
    pub expires_ms: u64,
    pub lang: String,
}

impl Expiring for Offer {
    const PREFIX: &'static str = "o";
    fn account(&self) -> &str {
        &self.account
    }
    fn expires_ms(&self) -> u64 {
        self.expires_ms
    }
}

/// A booked appointment, as the portal keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Booking {
    pub code: String,
    pub account: String,
    pub department: String,
    pub service: String,
    pub date: NaiveDate,
    pub time: NaiveTime,
    /// The appointment's start, ms since the epoch (UTC).
    pub due_ms: u64,
    pub booked_ms: u64,
    pub cancelled: bool,
    /// Further services of the department in the same appointment, after `service`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub also: Vec<String>,
}

/// What a booking asks for, checked against the rules already.
#[derive(Debug, Clone)]
pub struct SlotRequest {
    pub account: String,
    pub department: String,
    pub service: String,
    /// Further services in the same appointment.
    pub also: Vec<String>,
    pub date: NaiveDate,
    pub time: NaiveTime,
    pub due_ms: u64,
    /// Appointments this start time takes.
    pub capacity: u32,
    /// Open bookings the account may hold.
    pub open_limit: u32,
    /// The language the reminder mail is written in.
    pub lang: Lang,
}

/// A reminder waiting to go out: the booking it is for, and its language.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reminder {
    pub code: String,
    pub due_ms: u64,
    pub lang: Lang,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("store: {0}")]
    Sled(#[from] sled::Error),
    #[error("store: a record does not read: {0}")]
    Record(#[from] serde_json::Error),
}

#[derive(Debug, thiserror::Error)]
pub enum BookError {
    #[error("the slot is taken")]
    SlotFull,
    #[error("the account holds as many open bookings as it may")]
    TooManyOpen,
    /// The booking to move is not the account's, or not open (cancelled or past).
    #[error("the booking is not open")]
    NotOpen,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// One key and its value, as a backup carries them.
pub type Entry = (Vec<u8>, Vec<u8>);

/// The portal's store.
///
/// Writers take turns (`writing`): a check and the write that depends on it are one
/// step. A writer applies its batch, lets the next writer in, and returns once its
/// batch is on disk: one flush covers every batch applied before it began, so writers
/// that arrive while the disk is busy share the next flush (group commit) instead of
/// queueing one flush each behind the lock.
#[derive(Debug)]
pub struct Store {
    db: sled::Db,
    /// The writers' turn; counts the batches applied.
    writing: Mutex<u64>,
    /// How many of those are known to be on disk.
    flushed: Mutex<u64>,
    /// Flushes done (each covering one batch or more).
    flushes: std::sync::atomic::AtomicU64,
}

impl Store {
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        Ok(Self {
            db: sled::open(path)?,
            writing: Mutex::new(0),
            flushed: Mutex::new(0),
            flushes: std::sync::atomic::AtomicU64::new(0),
        })
    }

    /// The portal's key named `name` (32 random bytes), made on first use and kept,
    /// so what it signed (links in mails) holds across restarts.
    pub fn key(&self, name: &str) -> Result<[u8; 32], StoreError> {
        let writing = self.lock();
        let id = format!("k/{name}");
        if let Some(bytes) = self.db.get(&id)?
            && let Ok(key) = <[u8; 32]>::try_from(bytes.as_ref())
        {
            return Ok(key);
        }
        let key = secret::bytes::<32>();
        let mut batch = sled::Batch::default();
        batch.insert(id.as_bytes(), &key);
        self.commit(batch, writing)?;
        Ok(key)
    }

    /// The status token of the last ticket the account drew by phone.
    pub fn remote_ticket(&self, account: &str) -> Result<Option<String>, StoreError> {
        Ok(self
            .db
            .get(format!("rt/{account}"))?
            .map(|v| String::from_utf8_lossy(&v).into_owned()))
    }

    /// Remembers the ticket the account drew by phone (one open at a time).
    pub fn set_remote_ticket(&self, account: &str, token: &str) -> Result<(), StoreError> {
        let writing = self.lock();
        let mut batch = sled::Batch::default();
        batch.insert(format!("rt/{account}").as_bytes(), token.as_bytes());
        self.commit(batch, writing)
    }

    /// The admins' text of a page (`tx/<page>/<lang>`), if they set one.
    pub fn text(&self, page: &str, lang: &str) -> Result<Option<String>, StoreError> {
        Ok(self
            .db
            .get(format!("tx/{page}/{lang}"))?
            .map(|v| String::from_utf8_lossy(&v).into_owned()))
    }

    /// Sets (or, with `None`, removes) the admins' text of a page.
    pub fn set_text(&self, page: &str, lang: &str, text: Option<&str>) -> Result<(), StoreError> {
        let writing = self.lock();
        let mut batch = sled::Batch::default();
        let key = format!("tx/{page}/{lang}");
        match text {
            Some(text) => batch.insert(key.as_bytes(), text.as_bytes()),
            None => batch.remove(key.as_bytes()),
        }
        self.commit(batch, writing)
    }

    /// Every entry, taken in the writers' turn: a consistent picture (a backup).
    pub fn snapshot(&self) -> Result<Vec<Entry>, StoreError> {
        let _writing = self.lock();
        self.db
            .iter()
            .map(|entry| {
                let (k, v) = entry?;
                Ok((k.to_vec(), v.to_vec()))
            })
            .collect()
    }

    /// Writes `entries` (a restored backup) in one step.
    pub fn load(&self, entries: &[Entry]) -> Result<(), StoreError> {
        let writing = self.lock();
        let mut batch = sled::Batch::default();
        for (k, v) in entries {
            batch.insert(k.as_slice(), v.as_slice());
        }
        self.commit(batch, writing)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, u64> {
        // A writer that panicked left the tree consistent, as every change is one
        // batch, and the count at most one short (a flush then covers one more).
        self.writing.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn get<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, StoreError> {
        match self.db.get(key)? {
            Some(bytes) => Ok(Some(serde_json::from_slice(&bytes)?)),
            None => Ok(None),
        }
    }

    /// Applies `batch` in the writer's turn, ends the turn, and returns once the batch
    /// is on disk (see [`Store`]). Readers may see the batch a moment before that.
    fn commit(
        &self,
        batch: sled::Batch,
        mut writing: std::sync::MutexGuard<'_, u64>,
    ) -> Result<(), StoreError> {
        self.db.apply_batch(batch)?;
        *writing += 1;
        let mine = *writing;
        drop(writing);
        let mut flushed = self.flushed.lock().unwrap_or_else(|p| p.into_inner());
        if *flushed >= mine {
            return Ok(()); // a flush that began after this batch was applied covered it
        }
        // Lock order: `flushed`, then `writing`; no writer waits for `flushed` while
        // holding `writing`.
        let applied = *self.lock();
        self.db.flush()?;
        self.flushes
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        *flushed = applied;
        Ok(())
    }

    /// Batches written, and flushes that put them on disk.
    pub fn writes(&self) -> (u64, u64) {
        let flushes = self.flushes.load(std::sync::atomic::Ordering::Relaxed);
        (*self.lock(), flushes)
    }

    fn keys_under(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        self.db
            .scan_prefix(prefix)
            .keys()
            .map(|k| Ok(String::from_utf8_lossy(&k?).into_owned()))
            .collect()
    }

    // ---- accounts ----

    /// A new, unverified account; `None` when the address has one already.
    pub fn create_account(
        &self,
        email: &str,
        password_hash: String,
        now_ms: u64,
    ) -> Result<Option<Account>, StoreError> {
        let writing = self.lock();
        if self.db.contains_key(format!("e/{email}"))? {
            return Ok(None);
        }
        let account = Account {
            id: secret::hex(&secret::bytes::<16>()),
            email: email.to_owned(),
            password: password_hash,
            verified: false,
            created_ms: now_ms,
        };
        let mut batch = sled::Batch::default();
        batch.insert(
            format!("a/{}", account.id).as_bytes(),
            serde_json::to_vec(&account)?,
        );
        batch.insert(format!("e/{email}").as_bytes(), account.id.as_bytes());
        self.commit(batch, writing)?;
        Ok(Some(account))
    }

    pub fn account(&self, id: &str) -> Result<Option<Account>, StoreError> {
        self.get(&format!("a/{id}"))
    }

    pub fn account_by_email(&self, email: &str) -> Result<Option<Account>, StoreError> {
        match self.db.get(format!("e/{email}"))? {
            Some(id) => self.account(&String::from_utf8_lossy(&id)),
            None => Ok(None),
        }
    }

    fn put_account(&self, batch: &mut sled::Batch, account: &Account) -> Result<(), StoreError> {
        batch.insert(
            format!("a/{}", account.id).as_bytes(),
            serde_json::to_vec(account)?,
        );
        Ok(())
    }

    pub fn set_verified(&self, id: &str) -> Result<(), StoreError> {
        let writing = self.lock();
        if let Some(mut account) = self.account(id)? {
            account.verified = true;
            let mut batch = sled::Batch::default();
            self.put_account(&mut batch, &account)?;
            self.commit(batch, writing)?;
        }
        Ok(())
    }

    /// Sets a new password and ends every session of the account but `keep`.
    /// A reset also counts as proof of the address (the link came by mail).
    pub fn set_password(
        &self,
        id: &str,
        hash: String,
        keep: Option<&str>,
        proves_address: bool,
    ) -> Result<(), StoreError> {
        let writing = self.lock();
        let Some(mut account) = self.account(id)? else {
            return Ok(());
        };
        account.password = hash;
        account.verified |= proves_address;
        let mut batch = sled::Batch::default();
        self.put_account(&mut batch, &account)?;
        self.end_sessions(&mut batch, id, keep)?;
        self.commit(batch, writing)
    }

    /// Moves the account to a new address; false when that address has an account.
    pub fn set_email(&self, id: &str, new: &str) -> Result<bool, StoreError> {
        let writing = self.lock();
        if self.db.contains_key(format!("e/{new}"))? {
            return Ok(false);
        }
        let Some(mut account) = self.account(id)? else {
            return Ok(false);
        };
        let mut batch = sled::Batch::default();
        batch.remove(format!("rt/{id}").as_bytes());
        batch.remove(format!("e/{}", account.email).as_bytes());
        batch.insert(format!("e/{new}").as_bytes(), id.as_bytes());
        account.email = new.to_owned();
        account.verified = true;
        self.put_account(&mut batch, &account)?;
        self.commit(batch, writing)?;
        Ok(true)
    }

    /// Deletes the account and everything of it: sessions, links, bookings. Returns
    /// the bookings that were still open (now cancelled), for the office.
    /// The places of the open bookings are held until `release_ms` (the cool-down
    /// after a cancellation) and carry nothing of the person.
    pub fn delete_account(
        &self,
        id: &str,
        now_ms: u64,
        release_ms: u64,
    ) -> Result<Vec<Booking>, StoreError> {
        let writing = self.lock();
        let Some(account) = self.account(id)? else {
            return Ok(Vec::new());
        };
        let mut batch = sled::Batch::default();
        let mut cancelled = Vec::new();
        for booking in self.bookings_of(id)? {
            if !booking.cancelled && booking.due_ms > now_ms {
                cancelled.push(booking.clone());
                hold(&mut batch, &booking, release_ms);
            } else if !booking.cancelled {
                batch.remove(format!("{}{}", slot_key(&booking), booking.code).as_bytes());
            }
            batch.remove(format!("ab/{id}/{}", booking.code).as_bytes());
            batch.remove(format!("b/{}", booking.code).as_bytes());
            batch.remove(reminder_key(booking.due_ms, &booking.code).as_bytes());
        }
        self.end_sessions(&mut batch, id, None)?;
        for key in self.keys_under(&format!("al/{id}/"))? {
            if let Some(token) = key.rsplit('/').next() {
                batch.remove(format!("l/{token}").as_bytes());
            }
            batch.remove(key.as_bytes());
        }
        for key in self.keys_under(&format!("aw/{id}/"))? {
            if let Some(entry) = self.db.get(&key)? {
                batch.remove(entry);
            }
            batch.remove(key.as_bytes());
        }
        for key in self.keys_under(&format!("ao/{id}/"))? {
            if let Some(code) = key.rsplit('/').next()
                && let Some(offer) = self.get::<Offer>(&format!("o/{code}"))?
            {
                batch.remove(format!("o/{code}").as_bytes());
                batch.remove(offer_place(&offer).as_bytes());
            }
            batch.remove(key.as_bytes());
        }
        batch.remove(format!("rt/{id}").as_bytes());
        batch.remove(format!("e/{}", account.email).as_bytes());
        batch.remove(format!("a/{id}").as_bytes());
        self.commit(batch, writing)?;
        Ok(cancelled)
    }

    // ---- sessions ----

    pub fn new_session(&self, account: &str, expires_ms: u64) -> Result<String, StoreError> {
        let token = secret::token();
        let session = Session {
            account: account.to_owned(),
            csrf: secret::token(),
            expires_ms,
        };
        self.put_expiring(&token, &session)?;
        Ok(token)
    }

    /// The session, unless it has expired (then it is gone).
    pub fn session(&self, token: &str, now_ms: u64) -> Result<Option<Session>, StoreError> {
        if !secret::is_token(token) {
            return Ok(None);
        }
        let Some(session) = self.get::<Session>(&format!("s/{token}"))? else {
            return Ok(None);
        };
        if session.expires_ms <= now_ms {
            self.end_session(token)?;
            return Ok(None);
        }
        Ok(Some(session))
    }

    pub fn end_session(&self, token: &str) -> Result<(), StoreError> {
        let writing = self.lock();
        let Some(session) = self.get::<Session>(&format!("s/{token}"))? else {
            return Ok(());
        };
        let mut batch = sled::Batch::default();
        batch.remove(format!("s/{token}").as_bytes());
        batch.remove(format!("as/{}/{token}", session.account).as_bytes());
        self.commit(batch, writing)
    }

    fn end_sessions(
        &self,
        batch: &mut sled::Batch,
        account: &str,
        keep: Option<&str>,
    ) -> Result<(), StoreError> {
        for key in self.keys_under(&format!("as/{account}/"))? {
            let token = key.rsplit('/').next().unwrap_or_default();
            if Some(token) != keep {
                batch.remove(format!("s/{token}").as_bytes());
                batch.remove(key.as_bytes());
            }
        }
        Ok(())
    }

    /// Removes expired sessions, one-time links and offers (each is refused once
    /// expired anyway; this gives the space back). Returns how many went.
    pub fn sweep(&self, now_ms: u64) -> Result<usize, StoreError> {
        let writing = self.lock();
        let mut batch = sled::Batch::default();
        let gone = self.sweep_expired::<Session>(&mut batch, now_ms)?
            + self.sweep_expired::<Link>(&mut batch, now_ms)?
            + self.sweep_expired::<Offer>(&mut batch, now_ms)?
            + self.sweep_admins(&mut batch, now_ms)?
            + self.sweep_feedback(&mut batch, feedback_cutoff(now_ms))?;
        if gone > 0 {
            self.commit(batch, writing)?;
        }
        Ok(gone)
    }

    /// Writes `value` under its token, with its account index.
    fn put_expiring<T: Expiring>(&self, token: &str, value: &T) -> Result<(), StoreError> {
        let writing = self.lock();
        let mut batch = sled::Batch::default();
        batch.insert(
            format!("{}/{token}", T::PREFIX).as_bytes(),
            serde_json::to_vec(value)?,
        );
        batch.insert(
            format!("a{}/{}/{token}", T::PREFIX, value.account()).as_bytes(),
            &[],
        );
        self.commit(batch, writing)
    }

    /// Adds the removal of every expired `T` and its index entry to `batch`; how many.
    fn sweep_expired<T: Expiring>(
        &self,
        batch: &mut sled::Batch,
        now_ms: u64,
    ) -> Result<usize, StoreError> {
        let prefix = format!("{}/", T::PREFIX);
        let mut gone = 0;
        for entry in self.db.scan_prefix(prefix.as_bytes()) {
            let (key, value) = entry?;
            let item: T = serde_json::from_slice(&value)?;
            if item.expires_ms() <= now_ms {
                let token = String::from_utf8_lossy(&key[prefix.len()..]).into_owned();
                batch.remove(key);
                batch.remove(format!("a{}/{}/{token}", T::PREFIX, item.account()).as_bytes());
                gone += 1;
            }
        }
        Ok(gone)
    }

    // ---- one-time links ----

    pub fn new_link(
        &self,
        account: &str,
        kind: LinkKind,
        expires_ms: u64,
    ) -> Result<String, StoreError> {
        let token = secret::token();
        let link = Link {
            account: account.to_owned(),
            kind,
            expires_ms,
        };
        self.put_expiring(&token, &link)?;
        Ok(token)
    }

    /// The link, if it exists and holds; used up either way.
    pub fn take_link(&self, token: &str, now_ms: u64) -> Result<Option<Link>, StoreError> {
        if !secret::is_token(token) {
            return Ok(None);
        }
        let writing = self.lock();
        let Some(link) = self.get::<Link>(&format!("l/{token}"))? else {
            return Ok(None);
        };
        let mut batch = sled::Batch::default();
        batch.remove(format!("l/{token}").as_bytes());
        batch.remove(format!("al/{}/{token}", link.account).as_bytes());
        self.commit(batch, writing)?;
        Ok((link.expires_ms > now_ms).then_some(link))
    }

    /// The link without using it up (a reset form shown before it is sent).
    pub fn peek_link(&self, token: &str, now_ms: u64) -> Result<Option<Link>, StoreError> {
        if !secret::is_token(token) {
            return Ok(None);
        }
        Ok(self
            .get::<Link>(&format!("l/{token}"))?
            .filter(|l| l.expires_ms > now_ms))
    }

    // ---- bookings ----

    /// Books the slot if it has room and the account may book more: the check and
    /// the write are one step under the writers' lock, so no slot ever takes more
    /// than its capacity, however many ask at once.
    pub fn book(&self, request: &SlotRequest, now_ms: u64) -> Result<Booking, BookError> {
        let writing = self.lock();
        let mut batch = sled::Batch::default();
        let booking = self.book_into(&mut batch, request, now_ms, None)?;
        self.commit(batch, writing)?;
        Ok(booking)
    }

    /// Moves an open booking of the account to another start time: the new booking,
    /// and the old one cancelled with its place held until `release_ms`, in one step.
    /// Returns the new booking and the old one.
    pub fn reschedule(
        &self,
        old_code: &str,
        request: &SlotRequest,
        now_ms: u64,
        release_ms: u64,
    ) -> Result<(Booking, Booking), BookError> {
        let writing = self.lock();
        let Some(mut old) = self
            .booking(old_code)?
            .filter(|b| b.account == request.account && !b.cancelled && b.due_ms > now_ms)
        else {
            return Err(BookError::NotOpen);
        };
        let mut batch = sled::Batch::default();
        let new = self.book_into(&mut batch, request, now_ms, Some(&old.code))?;
        old.cancelled = true;
        batch.insert(
            format!("b/{}", old.code).as_bytes(),
            serde_json::to_vec(&old).map_err(StoreError::from)?,
        );
        hold(&mut batch, &old, release_ms);
        self.commit(batch, writing)?;
        Ok((new, old))
    }

    /// Takes back a move the office did not take: the new booking goes, the old one
    /// is open again in its place.
    pub fn undo_reschedule(&self, new: &Booking, old: &Booking) -> Result<(), StoreError> {
        let writing = self.lock();
        let mut batch = sled::Batch::default();
        batch.remove(format!("b/{}", new.code).as_bytes());
        batch.remove(format!("ab/{}/{}", new.account, new.code).as_bytes());
        batch.remove(format!("{}{}", slot_key(new), new.code).as_bytes());
        batch.remove(reminder_key(new.due_ms, &new.code).as_bytes());
        let mut reopened = old.clone();
        reopened.cancelled = false;
        batch.insert(
            format!("b/{}", old.code).as_bytes(),
            serde_json::to_vec(&reopened)?,
        );
        batch.insert(format!("{}{}", slot_key(old), old.code).as_bytes(), &[]);
        self.commit(batch, writing)
    }

    /// Adds a new booking for `request` to `batch` when its start time has room and
    /// the account may hold one more (`replacing`, a booking being moved, not counted).
    fn book_into(
        &self,
        batch: &mut sled::Batch,
        request: &SlotRequest,
        now_ms: u64,
        replacing: Option<&str>,
    ) -> Result<Booking, BookError> {
        let open = self
            .bookings_of(&request.account)?
            .iter()
            .filter(|b| !b.cancelled && b.due_ms > now_ms && Some(b.code.as_str()) != replacing)
            .count();
        if open >= request.open_limit as usize {
            return Err(BookError::TooManyOpen);
        }
        let mut booking = Booking {
            code: String::new(),
            account: request.account.clone(),
            department: request.department.clone(),
            service: request.service.clone(),
            date: request.date,
            time: request.time,
            due_ms: request.due_ms,
            booked_ms: now_ms,
            cancelled: false,
            also: request.also.clone(),
        };
        let slot = slot_key(&booking);
        if !self.has_room(batch, &slot, request.capacity, now_ms)? {
            return Err(BookError::SlotFull);
        }
        booking.code = self.new_code()?;
        batch.insert(
            format!("b/{}", booking.code).as_bytes(),
            serde_json::to_vec(&booking).map_err(StoreError::from)?,
        );
        batch.insert(
            format!("ab/{}/{}", booking.account, booking.code).as_bytes(),
            &[],
        );
        batch.insert(format!("{slot}{}", booking.code).as_bytes(), &[]);
        batch.insert(
            reminder_key(booking.due_ms, &booking.code).as_bytes(),
            request.lang.code().as_bytes(),
        );
        Ok(booking)
    }

    /// Whether the start time whose places are under `slot` has fewer than
    /// `capacity` taken (booked, or held: cancelled in their cool-down, or offered);
    /// places whose hold is over are removed in `batch`.
    fn has_room(
        &self,
        batch: &mut sled::Batch,
        slot: &str,
        capacity: u32,
        now_ms: u64,
    ) -> Result<bool, StoreError> {
        let mut taken = 0;
        for entry in self.db.scan_prefix(slot.as_bytes()) {
            let (key, value) = entry?;
            match held_until(&value) {
                Some(until) if until <= now_ms => batch.remove(key), // the hold is over
                _ => taken += 1,
            }
        }
        Ok(taken < capacity as usize)
    }

    /// A booking code no booking or offer has.
    fn new_code(&self) -> Result<String, StoreError> {
        loop {
            let code = secret::booking_code();
            if !self.db.contains_key(format!("b/{code}"))?
                && !self.db.contains_key(format!("o/{code}"))?
            {
                return Ok(code);
            }
        }
    }

    /// Takes back a booking that `book` wrote but the office did not take.
    pub fn unbook(&self, code: &str) -> Result<(), StoreError> {
        let writing = self.lock();
        let Some(booking) = self.booking(code)? else {
            return Ok(());
        };
        let mut batch = sled::Batch::default();
        batch.remove(format!("b/{code}").as_bytes());
        batch.remove(format!("ab/{}/{code}", booking.account).as_bytes());
        batch.remove(format!("{}{code}", slot_key(&booking)).as_bytes());
        batch.remove(reminder_key(booking.due_ms, code).as_bytes());
        self.commit(batch, writing)
    }

    /// The reminders of bookings due up to `due_until_ms`, soonest first. Each stays
    /// until [`Store::reminder_done`]; a cancelled or past booking's too, for the
    /// caller to drop.
    pub fn reminders(&self, due_until_ms: u64) -> Result<Vec<Reminder>, StoreError> {
        let mut due = Vec::new();
        for entry in self.db.scan_prefix(REMINDERS) {
            let (key, lang) = entry?;
            let Some((due_ms, code)) = std::str::from_utf8(&key)
                .ok()
                .and_then(|k| k.strip_prefix(REMINDERS))
                .and_then(|k| k.split_once('/'))
                .and_then(|(due, code)| Some((due.parse::<u64>().ok()?, code.to_owned())))
            else {
                continue;
            };
            if due_ms > due_until_ms {
                break;
            }
            let lang = if lang.as_ref() == b"en" {
                Lang::En
            } else {
                Lang::De
            };
            due.push(Reminder { code, due_ms, lang });
        }
        Ok(due)
    }

    /// The reminder went out (or is not needed): it leaves the store, durably.
    pub fn reminder_done(&self, reminder: &Reminder) -> Result<(), StoreError> {
        let writing = self.lock();
        let mut batch = sled::Batch::default();
        batch.remove(reminder_key(reminder.due_ms, &reminder.code).as_bytes());
        self.commit(batch, writing)
    }

    pub fn booking(&self, code: &str) -> Result<Option<Booking>, StoreError> {
        if code.len() != secret::CODE_LEN
            || !code.bytes().all(|b| secret::CODE_ALPHABET.contains(&b))
        {
            return Ok(None);
        }
        self.get(&format!("b/{code}"))
    }

    /// The account's bookings, soonest first.
    pub fn bookings_of(&self, account: &str) -> Result<Vec<Booking>, StoreError> {
        let mut bookings = Vec::new();
        for key in self.keys_under(&format!("ab/{account}/"))? {
            if let Some(code) = key.rsplit('/').next()
                && let Some(booking) = self.get::<Booking>(&format!("b/{code}"))?
            {
                bookings.push(booking);
            }
        }
        bookings.sort_by_key(|b| (b.due_ms, b.code.clone()));
        Ok(bookings)
    }

    /// Places taken at one start time of a department at `now_ms`: booked, or
    /// cancelled and still in their cool-down.
    pub fn taken(&self, department: &str, date: NaiveDate, time: NaiveTime, now_ms: u64) -> usize {
        self.db
            .scan_prefix(slot_prefix(department, date, time).as_bytes())
            .filter_map(Result::ok)
            .filter(|(_, value)| held_until(value).is_none_or(|until| until > now_ms))
            .count()
    }

    /// Cancels an open booking of `account`; `None` when it is not the account's, or
    /// not open (cancelled or past). Its place stays taken until `release_ms`, so a
    /// place cancelled by a slot trader is not at once in the trader's buyer's hands.
    pub fn cancel(
        &self,
        account: &str,
        code: &str,
        now_ms: u64,
        release_ms: u64,
    ) -> Result<Option<Booking>, StoreError> {
        let writing = self.lock();
        let Some(mut booking) = self.booking(code)? else {
            return Ok(None);
        };
        if booking.account != account || booking.cancelled || booking.due_ms <= now_ms {
            return Ok(None);
        }
        booking.cancelled = true;
        let mut batch = sled::Batch::default();
        batch.insert(
            format!("b/{code}").as_bytes(),
            serde_json::to_vec(&booking)?,
        );
        hold(&mut batch, &booking, release_ms);
        self.commit(batch, writing)?;
        Ok(Some(booking))
    }
}

impl Store {
    // ---- waitlists ----

    /// Puts the account on the waitlist of `service` on `date`, last in line; at most
    /// `limit` days per account.
    pub fn join_waitlist(&self, waiting: &Waiting, limit: u32) -> Result<Joined, StoreError> {
        let writing = self.lock();
        let index = format!(
            "aw/{}/{}/{}",
            waiting.account, waiting.service, waiting.date
        );
        if self.db.contains_key(&index)? {
            return Ok(Joined::Already);
        }
        if self.keys_under(&format!("aw/{}/", waiting.account))?.len() >= limit as usize {
            return Ok(Joined::TooMany);
        }
        let entry = format!(
            "w/{}/{}/{:020}",
            waiting.service,
            waiting.date,
            self.db.generate_id()?
        );
        let mut batch = sled::Batch::default();
        batch.insert(entry.as_bytes(), serde_json::to_vec(waiting)?);
        batch.insert(index.as_bytes(), entry.as_bytes());
        self.commit(batch, writing)?;
        Ok(Joined::Waiting)
    }

    /// The days someone waits for, as (service, date), each once.
    pub fn waitlists(&self) -> Result<Vec<(String, NaiveDate)>, StoreError> {
        let mut days: Vec<(String, NaiveDate)> = Vec::new();
        for entry in self.db.scan_prefix("w/") {
            let (_, value) = entry?;
            let waiting: Waiting = serde_json::from_slice(&value)?;
            if days.last() != Some(&(waiting.service.clone(), waiting.date)) {
                days.push((waiting.service, waiting.date));
            }
        }
        Ok(days)
    }

    /// Who waits for `service` on `date`, first in line first.
    pub fn waiting(&self, service: &str, date: NaiveDate) -> Result<Vec<Waiting>, StoreError> {
        self.db
            .scan_prefix(format!("w/{service}/{date}/"))
            .values()
            .map(|v| Ok(serde_json::from_slice(&v?)?))
            .collect()
    }

    /// The days the account waits for, as (service, date).
    pub fn waiting_of(&self, account: &str) -> Result<Vec<(String, NaiveDate)>, StoreError> {
        let prefix = format!("aw/{account}/");
        Ok(self
            .keys_under(&prefix)?
            .iter()
            .filter_map(|key| {
                let (service, date) = key.strip_prefix(&prefix)?.split_once('/')?;
                Some((service.to_owned(), date.parse().ok()?))
            })
            .collect())
    }

    /// Takes the account off the waitlist of `service` on `date`; false if it was not on it.
    pub fn leave_waitlist(
        &self,
        account: &str,
        service: &str,
        date: NaiveDate,
    ) -> Result<bool, StoreError> {
        let writing = self.lock();
        let index = format!("aw/{account}/{service}/{date}");
        let Some(entry) = self.db.get(&index)? else {
            return Ok(false);
        };
        let mut batch = sled::Batch::default();
        batch.remove(entry);
        batch.remove(index.as_bytes());
        self.commit(batch, writing)?;
        Ok(true)
    }

    /// Offers the start time `time` (due at `due_ms`) of `department` to `waiting`, if
    /// it has room and they still wait: the place is held for them until
    /// `expires_ms` and they leave the waitlist, in one step.
    #[allow(clippy::too_many_arguments)] // one place, named in full
    pub fn offer(
        &self,
        waiting: &Waiting,
        department: &str,
        time: NaiveTime,
        due_ms: u64,
        capacity: u32,
        expires_ms: u64,
        now_ms: u64,
    ) -> Result<Option<Offer>, StoreError> {
        let writing = self.lock();
        let index = format!(
            "aw/{}/{}/{}",
            waiting.account, waiting.service, waiting.date
        );
        let Some(entry) = self.db.get(&index)? else {
            return Ok(None);
        };
        let mut batch = sled::Batch::default();
        let slot = slot_prefix(department, waiting.date, time);
        if !self.has_room(&mut batch, &slot, capacity, now_ms)? {
            return Ok(None);
        }
        let offer = Offer {
            code: self.new_code()?,
            account: waiting.account.clone(),
            department: department.to_owned(),
            service: waiting.service.clone(),
            date: waiting.date,
            time,
            due_ms,
            expires_ms,
            lang: waiting.lang.clone(),
        };
        batch.insert(
            format!("o/{}", offer.code).as_bytes(),
            serde_json::to_vec(&offer)?,
        );
        batch.insert(
            format!("ao/{}/{}", offer.account, offer.code).as_bytes(),
            &[],
        );
        batch.insert(offer_place(&offer).as_bytes(), &expires_ms.to_be_bytes());
        batch.remove(entry);
        batch.remove(index.as_bytes());
        self.commit(batch, writing)?;
        Ok(Some(offer))
    }

    /// The offer under `code`, taken or not, expired or not.
    pub fn offer_by_code(&self, code: &str) -> Result<Option<Offer>, StoreError> {
        if code.len() != secret::CODE_LEN
            || !code.bytes().all(|b| secret::CODE_ALPHABET.contains(&b))
        {
            return Ok(None);
        }
        self.get(&format!("o/{code}"))
    }

    /// Books the offered place for its account under the offer's code: the hold
    /// becomes the booking, in one step. `NotOpen` when the offer expired or is gone
    /// (taken already).
    pub fn take_offer(
        &self,
        code: &str,
        now_ms: u64,
        open_limit: u32,
        lang: Lang,
    ) -> Result<Booking, BookError> {
        let writing = self.lock();
        let Some(offer) = self
            .offer_by_code(code)?
            .filter(|o| o.expires_ms > now_ms && o.due_ms > now_ms)
        else {
            return Err(BookError::NotOpen);
        };
        let open = self
            .bookings_of(&offer.account)?
            .iter()
            .filter(|b| !b.cancelled && b.due_ms > now_ms)
            .count();
        if open >= open_limit as usize {
            return Err(BookError::TooManyOpen);
        }
        let booking = Booking {
            code: offer.code.clone(),
            account: offer.account.clone(),
            department: offer.department.clone(),
            service: offer.service.clone(),
            date: offer.date,
            time: offer.time,
            due_ms: offer.due_ms,
            booked_ms: now_ms,
            cancelled: false,
            also: Vec::new(),
        };
        let mut batch = sled::Batch::default();
        batch.insert(
            format!("b/{}", booking.code).as_bytes(),
            serde_json::to_vec(&booking).map_err(StoreError::from)?,
        );
        batch.insert(
            format!("ab/{}/{}", booking.account, booking.code).as_bytes(),
            &[],
        );
        // The same place entry: held for the offer until now, booked from now on.
        batch.insert(offer_place(&offer).as_bytes(), &[]);
        batch.insert(
            reminder_key(booking.due_ms, &booking.code).as_bytes(),
            lang.code().as_bytes(),
        );
        batch.remove(format!("o/{code}").as_bytes());
        batch.remove(format!("ao/{}/{code}", offer.account).as_bytes());
        self.commit(batch, writing)?;
        Ok(booking)
    }
}

/// An offer's place entry among its start time's.
fn offer_place(offer: &Offer) -> String {
    format!(
        "{}{}",
        slot_prefix(&offer.department, offer.date, offer.time),
        offer.code
    )
}

/// A booking's place entry: empty while booked; after a cancellation, when its place
/// returns (unix ms, big-endian).
fn hold(batch: &mut sled::Batch, booking: &Booking, release_ms: u64) {
    batch.insert(
        format!("{}{}", slot_key(booking), booking.code).as_bytes(),
        &release_ms.to_be_bytes(),
    );
}

fn held_until(value: &[u8]) -> Option<u64> {
    <[u8; 8]>::try_from(value).ok().map(u64::from_be_bytes)
}

/// The first day whose feedback is still kept at `now_ms` (UTC days; a day more or
/// less does not matter at two years).
fn feedback_cutoff(now_ms: u64) -> NaiveDate {
    let days = i64::try_from(now_ms / 86_400_000).unwrap_or(i64::MAX);
    let kept = i64::try_from(crate::feedback::KEPT_DAYS).unwrap_or(0);
    NaiveDate::from_ymd_opt(1970, 1, 1)
        .and_then(|epoch| epoch.checked_add_signed(chrono::Duration::days(days - kept)))
        .unwrap_or(NaiveDate::MIN)
}

fn slot_prefix(department: &str, date: NaiveDate, time: NaiveTime) -> String {
    format!("sl/{department}/{date}/{}/", time.format("%H:%M"))
}

/// Reminders by the booking's start: `rm/<due ms, 20 digits>/<code>` → language.
const REMINDERS: &str = "rm/";

fn reminder_key(due_ms: u64, code: &str) -> String {
    format!("{REMINDERS}{due_ms:020}/{code}")
}

fn slot_key(booking: &Booking) -> String {
    slot_prefix(&booking.department, booking.date, booking.time)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_move_the_office_did_not_take_is_undone_to_the_old_booking() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let date = NaiveDate::from_ymd_opt(2026, 11, 24).unwrap();
        let request = |h| SlotRequest {
            account: "a1".into(),
            department: "buergerbuero".into(),
            service: "reisepass".into(),
            also: Vec::new(),
            date,
            time: NaiveTime::from_hms_opt(h, 0, 0).unwrap(),
            due_ms: 10_000,
            capacity: 1,
            open_limit: 1,
            lang: Lang::En,
        };
        let old = store.book(&request(10), 0).unwrap();
        let (new, cancelled) = store.reschedule(&old.code, &request(11), 0, 5_000).unwrap();
        assert!(cancelled.cancelled);
        assert_eq!(store.taken("buergerbuero", date, old.time, 0), 1, "held");
        assert_eq!(store.taken("buergerbuero", date, new.time, 0), 1);
        // A second move of the cancelled one, or of another account's: not open.
        assert!(matches!(
            store.reschedule(&old.code, &request(12), 0, 5_000),
            Err(BookError::NotOpen)
        ));
        store.undo_reschedule(&new, &cancelled).unwrap();
        assert!(store.booking(&new.code).unwrap().is_none());
        assert!(!store.booking(&old.code).unwrap().unwrap().cancelled);
        assert_eq!(
            store.taken("buergerbuero", date, old.time, 10_000),
            1,
            "booked again"
        );
        assert_eq!(store.taken("buergerbuero", date, new.time, 0), 0);
        assert_eq!(store.bookings_of("a1").unwrap().len(), 1);
        // The undone move's reminder went with it; the old booking's stays.
        let reminders = store.reminders(u64::MAX).unwrap();
        assert_eq!(
            reminders,
            vec![Reminder {
                code: old.code.clone(),
                due_ms: 10_000,
                lang: Lang::En
            }]
        );
        store.reminder_done(&reminders[0]).unwrap();
        assert!(store.reminders(u64::MAX).unwrap().is_empty());
    }

    #[test]
    fn an_account_waits_once_per_day_and_for_so_many_days_in_the_order_it_came() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let waiting = |account: &str, day: u32| Waiting {
            account: account.into(),
            service: "reisepass".into(),
            date: NaiveDate::from_ymd_opt(2026, 11, day).unwrap(),
            joined_ms: 0,
            lang: "de".into(),
        };
        assert_eq!(
            store.join_waitlist(&waiting("a", 24), 2).unwrap(),
            Joined::Waiting
        );
        assert_eq!(
            store.join_waitlist(&waiting("a", 24), 2).unwrap(),
            Joined::Already
        );
        assert_eq!(
            store.join_waitlist(&waiting("a", 25), 2).unwrap(),
            Joined::Waiting
        );
        assert_eq!(
            store.join_waitlist(&waiting("a", 26), 2).unwrap(),
            Joined::TooMany
        );
        // Many more than ten in line: the order is the order they came, not of text.
        for i in 0..12 {
            let who = format!("b{}", 11 - i);
            assert_eq!(
                store.join_waitlist(&waiting(&who, 24), 2).unwrap(),
                Joined::Waiting
            );
        }
        let day = NaiveDate::from_ymd_opt(2026, 11, 24).unwrap();
        let line: Vec<String> = store
            .waiting("reisepass", day)
            .unwrap()
            .into_iter()
            .map(|w| w.account)
            .collect();
        let expected: Vec<String> = std::iter::once("a".to_owned())
            .chain((0..12).map(|i| format!("b{}", 11 - i)))
            .collect();
        assert_eq!(line, expected);
        assert!(store.leave_waitlist("a", "reisepass", day).unwrap());
        assert!(!store.leave_waitlist("a", "reisepass", day).unwrap());
        assert_eq!(
            store.join_waitlist(&waiting("a", 26), 2).unwrap(),
            Joined::Waiting
        );
        assert_eq!(store.waitlists().unwrap().len(), 3);
    }

    #[test]
    fn a_new_address_keeps_the_accounts_waitlists() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let account = store
            .create_account("erika@example.org", "hash".into(), 0)
            .unwrap()
            .unwrap();
        let date = NaiveDate::from_ymd_opt(2026, 11, 26).unwrap();
        let waiting = Waiting {
            account: account.id.clone(),
            service: "reisepass".into(),
            date,
            joined_ms: 0,
            lang: "de".into(),
        };
        assert_eq!(store.join_waitlist(&waiting, 3).unwrap(), Joined::Waiting);
        assert!(store.set_email(&account.id, "erika@example.com").unwrap());
        assert_eq!(
            store.waiting_of(&account.id).unwrap(),
            [("reisepass".to_owned(), date)]
        );
        store.delete_account(&account.id, 0, 0).unwrap();
        assert!(store.waiting_of(&account.id).unwrap().is_empty());
        assert!(store.waitlists().unwrap().is_empty());
    }

    #[test]
    fn reminders_come_soonest_first_up_to_the_bound() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let date = NaiveDate::from_ymd_opt(2026, 11, 24).unwrap();
        // Starts that sort wrongly as text but rightly as numbers (zero-padded keys).
        for (h, due_ms, lang) in [
            (9, 900_000, Lang::De),
            (10, 10_000_000, Lang::En),
            (8, 80, Lang::De),
        ] {
            store
                .book(
                    &SlotRequest {
                        account: format!("a{h}"),
                        department: "buergerbuero".into(),
                        service: "reisepass".into(),
                        also: Vec::new(),
                        date,
                        time: NaiveTime::from_hms_opt(h, 0, 0).unwrap(),
                        due_ms,
                        capacity: 1,
                        open_limit: 1,
                        lang,
                    },
                    0,
                )
                .unwrap();
        }
        let due = |until| {
            store
                .reminders(until)
                .unwrap()
                .iter()
                .map(|r| (r.due_ms, r.lang))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            due(u64::MAX),
            [(80, Lang::De), (900_000, Lang::De), (10_000_000, Lang::En)]
        );
        assert_eq!(due(900_000), [(80, Lang::De), (900_000, Lang::De)]);
        assert_eq!(due(79), []);
    }

    #[test]
    fn writers_that_arrive_while_the_disk_is_busy_share_one_flush() {
        let dir = tempfile::tempdir().unwrap();
        let store = std::sync::Arc::new(Store::open(dir.path()).unwrap());
        let accounts: Vec<String> = (0..3)
            .map(|i| {
                let a = store
                    .create_account(&format!("c{i}@example.org"), "hash".into(), 0)
                    .unwrap()
                    .unwrap();
                a.id
            })
            .collect();
        let (written, _) = store.writes();
        // A flush in progress: the three writers apply their batches and wait.
        let busy = store.flushed.lock().unwrap();
        let flushes_before = store.flushes.load(std::sync::atomic::Ordering::Relaxed);
        let writers: Vec<_> = accounts
            .into_iter()
            .map(|id| {
                let store = store.clone();
                std::thread::spawn(move || store.set_verified(&id).unwrap())
            })
            .collect();
        while store.writes().0 < written + 3 {
            std::thread::yield_now();
        }
        drop(busy);
        for w in writers {
            w.join().unwrap();
        }
        let (_, flushes) = store.writes();
        assert_eq!(flushes - flushes_before, 1, "one flush covered all three");
        for i in 0..3 {
            let a = store
                .account_by_email(&format!("c{i}@example.org"))
                .unwrap()
                .unwrap();
            assert!(a.verified);
        }
    }

    #[test]
    fn a_key_is_made_once_and_kept_across_restarts() {
        let dir = tempfile::tempdir().unwrap();
        let first = {
            let store = Store::open(dir.path()).unwrap();
            let key = store.key("links").unwrap();
            assert_eq!(store.key("links").unwrap(), key);
            assert_ne!(store.key("other").unwrap(), key);
            key
        };
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(store.key("links").unwrap(), first);
    }

    #[test]
    fn expired_sessions_and_links_are_swept_with_their_index_entries() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let account = store
            .create_account("erika@example.org", "hash".into(), 0)
            .unwrap()
            .unwrap();
        let old = store.new_session(&account.id, 1_000).unwrap();
        let fresh = store.new_session(&account.id, 5_000).unwrap();
        store
            .new_link(&account.id, LinkKind::Verify, 1_000)
            .unwrap();
        let link = store.new_link(&account.id, LinkKind::Reset, 5_000).unwrap();
        assert_eq!(store.sweep(2_000).unwrap(), 2);
        assert!(store.session(&fresh, 2_000).unwrap().is_some());
        assert!(store.get::<Session>(&format!("s/{old}")).unwrap().is_none());
        assert_eq!(
            store
                .keys_under(&format!("as/{}/", account.id))
                .unwrap()
                .len(),
            1
        );
        assert_eq!(
            store.keys_under(&format!("al/{}/", account.id)).unwrap(),
            vec![format!("al/{}/{link}", account.id)]
        );
        assert_eq!(store.sweep(2_000).unwrap(), 0);
    }
}
