//! The portal's settings: where it keeps its data and mail, how cookies are sent,
//! and the booking rules per department. The node reads them from `[portal]`.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

/// The portal's settings (`[node.portal]` of a gateway's file).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PortalSettings {
    /// Where the node serves the portal (plain HTTP: behind the city's reverse
    /// proxy, or on loopback for the demo).
    #[serde(default = "default_listen")]
    pub listen: std::net::SocketAddr,
    /// HTTPS: the certificate chain (PEM) the node serves the portal with; with
    /// `tls_key`. None: plain HTTP (behind the city's reverse proxy, or the demo).
    #[serde(default)]
    pub tls_certificate: Option<PathBuf>,
    /// The certificate's private key (PEM).
    #[serde(default)]
    pub tls_key: Option<PathBuf>,
    /// Reverse proxies in front of the portal: from these addresses (only), the
    /// client's address is read from `X-Forwarded-For` for the rate limits.
    #[serde(default)]
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// The portal's own store (sled): accounts, sessions, bookings. Never replicated.
    pub store: PathBuf,
    /// Where mail lands while no SMTP server is configured: one `.eml` file per mail.
    pub outbox: PathBuf,
    /// The address citizens reach the portal at, for links in mails
    /// (`https://termine.zeitz.de`). Empty: `http://` and the address it listens on
    /// (the demo).
    #[serde(default)]
    pub public_url: String,
    /// The mail server; none: mails land in `outbox` as files.
    #[serde(default)]
    pub smtp: Option<SmtpSettings>,
    /// The office's contact address, named in the imprint, the privacy notice and
    /// the accessibility statement, and where reports of barriers go. None: the
    /// sender of the portal's mails.
    #[serde(default)]
    pub contact_email: Option<String>,
    /// The sender of the portal's mails.
    #[serde(default = "default_mail_from")]
    pub mail_from: String,
    /// Cookies only over HTTPS. Switch off only for a plain-HTTP demo on loopback.
    #[serde(default = "yes")]
    pub secure_cookies: bool,
    /// Open bookings one account may hold at once.
    #[serde(default = "default_open_bookings")]
    pub open_bookings_per_account: u32,
    /// Attempts (login, register, reset) one client address may make per minute.
    #[serde(default = "default_attempts_per_address")]
    pub attempts_per_address_per_minute: u32,
    /// Login and reset attempts for one e-mail address per minute.
    #[serde(default = "default_attempts_per_account")]
    pub attempts_per_account_per_minute: u32,
    /// Booking rules of a department (by department id); a department not named takes
    /// the defaults.
    #[serde(default)]
    pub departments: BTreeMap<String, DepartmentRules>,
    /// The cost of password hashing (argon2id). OWASP's advice by default.
    #[serde(default)]
    pub password_cost: PasswordCost,
    /// The work a browser does before it may register or book (proof of work against
    /// slot bots): the secret number lies in `0..=pow_max_number`, so a form costs
    /// about half as many SHA-256 hashes (50,000: well under a second on a phone).
    #[serde(default = "default_pow_max_number")]
    pub pow_max_number: u32,
    /// Minutes a cancelled appointment's place stays taken before it is offered again
    /// (30, as Munich does against slot trading: a trader who cancels for a buyer
    /// cannot hand the place over at once). 0: at once.
    #[serde(default = "default_cancel_cooldown")]
    pub cancelled_place_returns_after_minutes: u32,
    /// QR ticket pages with a live feed open at once; more are refused (`503`) and
    /// their pages refreshed by hand.
    #[serde(default = "default_ticket_feeds")]
    pub ticket_feeds: u32,
    /// The administrator's delegation (`aufruf office delegate --node <this
    /// gateway>`): with it, the admin pages publish the office's configuration.
    /// None: the admin pages show it, and say that changing it needs the delegation.
    #[serde(default)]
    pub admin_delegation: Option<PathBuf>,
    /// The key backups of the portal's store are encrypted with: 64 hex digits
    /// (`openssl rand -hex 32`). Keep a copy away from the gateway: without it a
    /// backup cannot be restored. None: `aufruf backup` is refused.
    #[serde(default)]
    pub backup_key: Option<Redacted>,
    /// Walk-in tickets from the phone for citizens near the office; none: not offered.
    #[serde(default)]
    pub remote_tickets: Option<RemoteTickets>,
    /// A reminder mail with a cancel link on the day before each appointment.
    #[serde(default = "yes")]
    pub reminders: bool,
    /// From this hour (0–23, office time) on the day before the reminders go out.
    #[serde(default = "default_reminder_hour")]
    pub reminder_hour: u8,
    /// How long a freed place offered to the first on a day's waitlist is held for
    /// them (and no longer than its start).
    #[serde(default = "default_waitlist_offer_minutes")]
    pub waitlist_offer_minutes: u32,
}

/// Where the office is, and how near a citizen must be to draw a ticket by phone.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RemoteTickets {
    pub latitude: f64,
    pub longitude: f64,
    /// Metres from the office (500).
    #[serde(default = "default_radius")]
    pub radius_m: f64,
}

fn default_radius() -> f64 {
    500.0
}

/// A secret from the configuration: never shown by `Debug` (settings are logged).
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Redacted(pub String);

impl std::fmt::Debug for Redacted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("\"(redacted)\"")
    }
}

impl std::ops::Deref for Redacted {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

/// The mail server the portal hands its mails to (submission, port 587).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmtpSettings {
    pub host: String,
    #[serde(default = "default_smtp_port")]
    pub port: u16,
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub password: Option<Redacted>,
    /// STARTTLS (required). Off only for a relay on this machine (loopback).
    #[serde(default = "yes")]
    pub starttls: bool,
    /// The certificate authority (PEM) that signed the mail server's certificate,
    /// when it is the city's own: then only it is trusted. The public (Mozilla)
    /// roots otherwise.
    #[serde(default)]
    pub ca: Option<PathBuf>,
}

fn default_smtp_port() -> u16 {
    587
}

/// A department's booking rules; what is not set takes the default.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DepartmentRules {
    /// Hours a booking must lie ahead (default 24).
    pub lead_hours: Option<u32>,
    /// Days ahead bookings are taken (default and at most: the office's
    /// `[bookings] horizon_days`).
    pub horizon_days: Option<u32>,
    /// Minutes between appointment starts (default 15).
    pub slot_minutes: Option<u32>,
    /// Appointments per start time (default: half the department's desks, rounded
    /// up, so the other half keeps serving walk-ins).
    pub appointments_per_slot: Option<u32>,
}

/// argon2id parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PasswordCost {
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
}

impl Default for PasswordCost {
    /// OWASP's Password Storage Cheat Sheet: argon2id, m = 19 MiB, t = 2, p = 1.
    fn default() -> Self {
        Self {
            memory_kib: 19 * 1024,
            iterations: 2,
            parallelism: 1,
        }
    }
}

fn default_listen() -> std::net::SocketAddr {
    std::net::SocketAddr::from(([127, 0, 0, 1], 8080))
}

fn default_mail_from() -> String {
    "Termine <termine@localhost>".to_owned()
}

fn yes() -> bool {
    true
}

fn default_open_bookings() -> u32 {
    3
}

fn default_attempts_per_address() -> u32 {
    20
}

fn default_attempts_per_account() -> u32 {
    5
}

fn default_pow_max_number() -> u32 {
    50_000
}

fn default_cancel_cooldown() -> u32 {
    30
}

fn default_waitlist_offer_minutes() -> u32 {
    120
}

fn default_reminder_hour() -> u8 {
    9
}

fn default_ticket_feeds() -> u32 {
    2_000
}

impl PortalSettings {
    /// Settings with the defaults, for a portal under `dir`.
    pub fn in_dir(dir: &std::path::Path, public_url: &str) -> Self {
        Self {
            listen: default_listen(),
            tls_certificate: None,
            tls_key: None,
            trusted_proxies: Vec::new(),
            store: dir.join("store"),
            outbox: dir.join("outbox"),
            public_url: public_url.trim_end_matches('/').to_owned(),
            smtp: None,
            mail_from: default_mail_from(),
            secure_cookies: true,
            open_bookings_per_account: default_open_bookings(),
            attempts_per_address_per_minute: default_attempts_per_address(),
            attempts_per_account_per_minute: default_attempts_per_account(),
            departments: BTreeMap::new(),
            password_cost: PasswordCost::default(),
            pow_max_number: default_pow_max_number(),
            cancelled_place_returns_after_minutes: default_cancel_cooldown(),
            ticket_feeds: default_ticket_feeds(),
            backup_key: None,
            admin_delegation: None,
            contact_email: None,
            remote_tickets: None,
            reminders: true,
            reminder_hour: default_reminder_hour(),
            waitlist_offer_minutes: default_waitlist_offer_minutes(),
        }
    }
}

/// Bounds on what one request may cost.
pub mod bounds {
    use super::Duration;

    /// The largest request body read (forms are small).
    pub const BODY_BYTES: usize = 16 * 1024;
    /// The body of an admin's page texts (two languages of up to 20,000 characters).
    pub const TEXT_BODY_BYTES: usize = 256 * 1024;
    /// A request that takes longer is answered with 408.
    pub const REQUEST_TIME: Duration = Duration::from_secs(15);
    /// The longest e-mail address (RFC 5321's path limit).
    pub const EMAIL: usize = 254;
    /// Passwords: at least this many characters…
    pub const PASSWORD_MIN: usize = 10;
    /// …and at most this many bytes (hashing cost stays bounded).
    pub const PASSWORD_MAX: usize = 256;
    /// A session lasts this long without use.
    pub const SESSION: Duration = Duration::from_secs(8 * 3600);
    /// A verification or reset link lasts this long.
    pub const LINK: Duration = Duration::from_secs(24 * 3600);
    /// A password reset link lasts this long.
    pub const RESET_LINK: Duration = Duration::from_secs(3600);
}
