//! The office's admins: invited by city IT (`aufruf admin invite`, through the
//! gateway's local API), they set a password and a second factor (TOTP) on the
//! invitation's page, log in with both, change the office's configuration — written
//! through the office service as the administrator's delegate, so every device takes
//! it at once — and cancel appointments on a citizen's behalf. Each call is blocking
//! (hashing, flushing): the web face runs it on the blocking pool.

use std::path::Path;

use aufruf_model::OfficeConfig;
use aufruf_office::office_doc::SignedDelegation;

use crate::mail::Mail;
use crate::store::{Admin, Booking, Invitation};
use crate::{Portal, PortalError, totp};

/// How long an admin invitation holds.
pub const INVITATION_HOURS: u64 = 72;
/// How long an admin stays logged in: an office's working morning, not a week.
pub const ADMIN_SESSION_MS: u64 = 2 * 3600 * 1000;
/// The largest delegation file read.
const MAX_DELEGATION_BYTES: u64 = 64 * 1024;
/// The longest reason an admin gives for cancelling an appointment.
pub const MAX_REASON_CHARS: usize = 500;

/// Why an admin's change of the configuration was not published.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error(
        "this gateway may not publish the office's configuration: the administrator has not delegated it (aufruf office delegate, then [node.portal] admin_delegation)"
    )]
    NotDelegated,
    /// The change makes a configuration the office would not take.
    #[error("{0}")]
    Invalid(String),
    #[error("the office did not take the configuration: {0}")]
    Refused(String),
}

/// Reads the administrator's delegation file (`aufruf office delegate`).
pub fn read_delegation(path: &Path) -> Result<SignedDelegation, String> {
    use std::io::Read;
    let file = std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut text = String::new();
    file.take(MAX_DELEGATION_BYTES + 1)
        .read_to_string(&mut text)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    if text.len() as u64 > MAX_DELEGATION_BYTES {
        return Err(format!(
            "{}: larger than {MAX_DELEGATION_BYTES} bytes; not a delegation",
            path.display()
        ));
    }
    serde_json::from_str(&text).map_err(|e| {
        format!(
            "{}: not a delegation written by `aufruf office delegate`: {e}",
            path.display()
        )
    })
}

impl Portal {
    /// Invites `email` (checked already) to become an admin; the link to the set-up
    /// page, for city IT to hand over. Inviting an admin again lets them set a new
    /// password and second factor (a lost phone); the old ones hold until then.
    pub fn invite_admin(&self, email: &str) -> Result<String, PortalError> {
        let expires = self.now_ms() + INVITATION_HOURS * 3600 * 1000;
        let token = self
            .store
            .invite_admin(email, totp::new_secret(), expires)?;
        tracing::info!(email, "an admin was invited");
        Ok(self.link(&format!("/admin/setup/{token}")))
    }

    /// The invitation a set-up link names, if it holds.
    pub fn invitation(&self, token: &str) -> Result<Option<Invitation>, PortalError> {
        Ok(self.store.invitation(token, self.now_ms())?)
    }

    /// The authenticator app's link for an invitation.
    pub fn otpauth_uri(&self, invitation: &Invitation) -> String {
        totp::otpauth_uri(
            &self.config().office.name,
            &invitation.email,
            &invitation.totp_secret,
        )
    }

    /// Makes the invited admin, if the code is the invitation's second factor's now
    /// (so the app has it); `Ok(None)` when the code or the invitation does not hold.
    pub fn accept_invitation(
        &self,
        token: &str,
        password: &str,
        code: &str,
    ) -> Result<Option<Admin>, PortalError> {
        let now = self.now_ms();
        let Some(invitation) = self.store.invitation(token, now)? else {
            return Ok(None);
        };
        let Some(step) =
            totp::accepted_step(&invitation.totp_secret, code, totp::step_at(now / 1000), 0)
        else {
            return Ok(None);
        };
        let hash = self.passwords.hash(password)?;
        let Some(admin) = self.store.accept_invitation(token, hash, now)? else {
            return Ok(None);
        };
        self.store.spend_step(&admin.email, step)?;
        tracing::info!(
            email = admin.email,
            "an admin set a password and second factor"
        );
        Ok(Some(admin))
    }

    /// Logs an admin in with password and second factor: an admin session's id, or
    /// `None`. The password is checked whether or not the address is an admin's, and
    /// the answer is the same, so nobody learns who is.
    pub fn admin_login(
        &self,
        email: &str,
        password: &str,
        code: &str,
    ) -> Result<Option<String>, PortalError> {
        let now = self.now_ms();
        let admin = self.store.admin(email)?;
        let password_holds = self
            .passwords
            .verify(password, admin.as_ref().map(|a| a.password.as_str()));
        let Some(admin) = admin.filter(|_| password_holds) else {
            return Ok(None);
        };
        let Some(step) = totp::accepted_step(
            &admin.totp_secret,
            code,
            totp::step_at(now / 1000),
            admin.last_step,
        ) else {
            tracing::warn!(email, "an admin login with a wrong or spent second factor");
            return Ok(None);
        };
        if !self.store.spend_step(email, step)? {
            return Ok(None);
        }
        tracing::info!(email, "an admin logged in");
        Ok(Some(
            self.store
                .new_admin_session(email, now + ADMIN_SESSION_MS)?,
        ))
    }

    /// The office's configuration revision in force, and whether this gateway may
    /// publish a new one.
    pub fn config_revision(&self) -> (u64, bool) {
        (self.office.config_revision(), self.delegation.is_some())
    }

    /// Publishes the configuration in force as `change` leaves it: checked as every
    /// device will check it, then signed as the administrator's delegate and kept in
    /// the office document, which every device takes. Returns the new revision.
    pub fn publish_config(
        &self,
        admin: &str,
        change: impl FnOnce(&mut OfficeConfig),
    ) -> Result<u64, PublishError> {
        let delegation = self.delegation.as_ref().ok_or(PublishError::NotDelegated)?;
        let mut config = (*self.config()).clone();
        change(&mut config);
        let config = config
            .validated("the admin page")
            .map_err(|e| PublishError::Invalid(e.to_string()))?;
        let text = config.to_toml().map_err(PublishError::Invalid)?;
        let revision = self
            .office
            .publish_config(self.now(), &text, delegation)
            .map_err(PublishError::Refused)?;
        tracing::info!(
            admin,
            revision,
            "an admin published the office's configuration"
        );
        Ok(revision)
    }

    /// Cancels booking `code` on the citizen's behalf (they called the office) and
    /// mails them with `reason`; `None` when there is no open booking of that code.
    pub fn cancel_for_citizen(
        &self,
        admin: &str,
        code: &str,
        reason: &str,
    ) -> Result<Option<Booking>, PortalError> {
        let Some(booking) = self.store.booking(code)? else {
            return Ok(None);
        };
        let now = self.now_ms();
        let release = self.cancelled_place_returns(now);
        let Some(cancelled) = self.store.cancel(&booking.account, code, now, release)? else {
            return Ok(None);
        };
        self.cancelled_in_office(&cancelled);
        tracing::info!(admin, code, "an admin cancelled an appointment");
        if let Some(account) = self.store.account(&cancelled.account)? {
            let office = self.config().office.name.clone();
            let de = self.services_name(&cancelled, crate::i18n::Lang::De);
            let en = self.services_name(&cancelled, crate::i18n::Lang::En);
            let date = cancelled.date.format("%d.%m.%Y");
            let time = cancelled.time.format("%H:%M");
            let reason = reason.trim();
            let (why_de, why_en) = if reason.is_empty() {
                (String::new(), String::new())
            } else {
                (
                    format!("\nGrund: {reason}\n"),
                    format!("\nReason: {reason}\n"),
                )
            };
            let book = self.link("/book");
            self.mailer.send(&Mail {
                to: account.email,
                subject: format!(
                    "Ihr Termin am {date} um {time} Uhr ist abgesagt / Your appointment is cancelled – {code}"
                ),
                text: format!(
                    "Guten Tag,\n\n{office} hat Ihren Termin abgesagt:\n\n{de}\n{date}, {time} Uhr\nBuchungscode: {code}\n{why_de}\nEinen neuen Termin buchen Sie hier: {book}\n\n---\n\nHello,\n\n{office} has cancelled your appointment:\n\n{en}\n{date}, {time}\nBooking code: {code}\n{why_en}\nBook a new one here: {book}\n"
                ),
                attachments: Vec::new(),
            })?;
        }
        Ok(Some(cancelled))
    }
}
