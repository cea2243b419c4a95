//! Account flows: register, verify, log in, reset, change address or password,
//! delete. Each is a blocking call (hashing, flushing): the web face runs it on the
//! blocking pool. No answer tells whether an address has an account: where one path
//! would do less work than the other (hash, write a mail), both do the same.

use crate::i18n::Lang;
use crate::mail::Mail;
use crate::settings::bounds;
use crate::store::{Account, LinkKind};
use crate::{Portal, PortalError};

/// A field the citizen got wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Problem {
    EmailMissing,
    EmailInvalid,
    PasswordMissing,
    PasswordShort,
    PasswordLong,
    PasswordWrong,
    SameEmail,
}

impl Problem {
    pub fn text(self, lang: Lang) -> &'static str {
        match self {
            Problem::EmailMissing => lang.pick(
                "Geben Sie Ihre E-Mail-Adresse ein.",
                "Enter your e-mail address.",
            ),
            Problem::EmailInvalid => lang.pick(
                "Geben Sie eine E-Mail-Adresse im Format name@beispiel.de ein.",
                "Enter an e-mail address like name@example.com.",
            ),
            Problem::PasswordMissing => {
                lang.pick("Geben Sie Ihr Passwort ein.", "Enter your password.")
            }
            Problem::PasswordShort => lang.pick(
                "Das Passwort muss mindestens 10 Zeichen lang sein.",
                "The password must be at least 10 characters long.",
            ),
            Problem::PasswordLong => lang.pick(
                "Das Passwort darf höchstens 256 Zeichen lang sein.",
                "The password must be at most 256 characters long.",
            ),
            Problem::PasswordWrong => {
                lang.pick("Das Passwort stimmt nicht.", "The password is not correct.")
            }
            Problem::SameEmail => lang.pick(
                "Das ist schon Ihre E-Mail-Adresse.",
                "That is your e-mail address already.",
            ),
        }
    }
}

/// The address as the portal keeps it (trimmed, lower case), if it is one.
pub fn email(input: &str) -> Result<String, Problem> {
    let email = input.trim().to_lowercase();
    if email.is_empty() {
        return Err(Problem::EmailMissing);
    }
    let valid = email.len() <= bounds::EMAIL
        && email.split('@').count() == 2
        && email.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty()
                && local.len() <= 64
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
        })
        && email
            .chars()
            .all(|c| !c.is_whitespace() && !c.is_control() && !"<>()[]\\,;:\"".contains(c))
        && email.parse::<lettre::Address>().is_ok();
    if valid {
        Ok(email)
    } else {
        Err(Problem::EmailInvalid)
    }
}

/// A new password, checked.
pub fn new_password(input: &str) -> Result<&str, Problem> {
    if input.is_empty() {
        Err(Problem::PasswordMissing)
    } else if input.len() > bounds::PASSWORD_MAX {
        Err(Problem::PasswordLong)
    } else if input.chars().count() < bounds::PASSWORD_MIN {
        Err(Problem::PasswordShort)
    } else {
        Ok(input)
    }
}

impl Portal {
    fn mail(&self, to: &str, subject: &str, text: String) -> Result<(), PortalError> {
        self.mailer.send(&Mail {
            to: to.to_owned(),
            subject: subject.to_owned(),
            text,
            attachments: Vec::new(),
        })?;
        Ok(())
    }

    fn office_name(&self) -> String {
        self.config().office.name.clone()
    }

    /// Registers an address. Whether or not it has an account already, the password
    /// is hashed and one mail goes to the address (a verification link, or a note
    /// that it has an account), so the answer tells nobody anything.
    pub fn register(&self, email: &str, password: &str, lang: Lang) -> Result<(), PortalError> {
        let hash = self.passwords.hash(password)?;
        let now = self.now_ms();
        let office = self.office_name();
        match self.store.create_account(email, hash, now)? {
            Some(account) => {
                let token = self.store.new_link(
                    &account.id,
                    LinkKind::Verify,
                    now + bounds::LINK.as_millis() as u64,
                )?;
                let link = self.link(&format!("/verify?token={token}"));
                self.mail(
                    email,
                    lang.pick("Bitte bestätigen Sie Ihre E-Mail-Adresse", "Please confirm your e-mail address"),
                    match lang {
                        Lang::De => format!("Guten Tag,\n\nSie haben ein Konto für die Terminbuchung bei {office} angelegt. Bitte bestätigen Sie Ihre E-Mail-Adresse mit diesem Link (24 Stunden gültig):\n\n{link}\n\nWenn Sie kein Konto angelegt haben, können Sie diese E-Mail ignorieren.\n"),
                        Lang::En => format!("Hello,\n\nYou created an account for booking appointments at {office}. Please confirm your e-mail address with this link (valid for 24 hours):\n\n{link}\n\nIf you did not create an account, you can ignore this e-mail.\n"),
                    },
                )
            }
            None => {
                let link = self.link("/reset");
                self.mail(
                    email,
                    lang.pick("Sie haben bereits ein Konto", "You already have an account"),
                    match lang {
                        Lang::De => format!("Guten Tag,\n\nJemand wollte mit dieser E-Mail-Adresse ein Konto bei {office} anlegen. Sie haben dort bereits ein Konto. Wenn Sie Ihr Passwort vergessen haben, setzen Sie es hier neu:\n\n{link}\n"),
                        Lang::En => format!("Hello,\n\nSomeone tried to create an account at {office} with this e-mail address. You already have an account there. If you forgot your password, reset it here:\n\n{link}\n"),
                    },
                )
            }
        }
    }

    /// Confirms an address from the link in the mail.
    pub fn verify(&self, token: &str) -> Result<bool, PortalError> {
        let now = self.now_ms();
        match self.store.take_link(token, now)? {
            Some(link) if link.kind == LinkKind::Verify => {
                self.store.set_verified(&link.account)?;
                Ok(true)
            }
            Some(link) => {
                if let LinkKind::ChangeEmail { new } = &link.kind {
                    return Ok(self.store.set_email(&link.account, new)?);
                }
                Ok(false)
            }
            None => Ok(false),
        }
    }

    /// A new session's id when the address and password match. An unknown address
    /// is checked against a dummy hash, so it takes as long.
    pub fn login(&self, email: &str, password: &str) -> Result<Option<String>, PortalError> {
        let account = self.store.account_by_email(email)?;
        let ok = self
            .passwords
            .verify(password, account.as_ref().map(|a| a.password.as_str()));
        match account {
            Some(account) if ok => Ok(Some(self.store.new_session(
                &account.id,
                self.now_ms() + bounds::SESSION.as_millis() as u64,
            )?)),
            _ => Ok(None),
        }
    }

    /// Sends a reset link to a known address, and a note to an unknown one (which
    /// may be mistyped): one mail either way.
    pub fn request_reset(&self, email: &str, lang: Lang) -> Result<(), PortalError> {
        let office = self.office_name();
        match self.store.account_by_email(email)? {
            Some(account) => {
                let token = self.store.new_link(
                    &account.id,
                    LinkKind::Reset,
                    self.now_ms() + bounds::RESET_LINK.as_millis() as u64,
                )?;
                let link = self.link(&format!("/reset/confirm?token={token}"));
                self.mail(
                    email,
                    lang.pick("Passwort zurücksetzen", "Reset your password"),
                    match lang {
                        Lang::De => format!("Guten Tag,\n\nMit diesem Link setzen Sie Ihr Passwort für die Terminbuchung bei {office} neu (1 Stunde gültig):\n\n{link}\n\nWenn Sie das nicht angefordert haben, ignorieren Sie diese E-Mail; Ihr Passwort bleibt dann unverändert.\n"),
                        Lang::En => format!("Hello,\n\nUse this link to set a new password for booking appointments at {office} (valid for 1 hour):\n\n{link}\n\nIf you did not ask for this, ignore this e-mail; your password stays as it is.\n"),
                    },
                )
            }
            None => self.mail(
                email,
                lang.pick("Passwort zurücksetzen", "Reset your password"),
                match lang {
                    Lang::De => format!("Guten Tag,\n\nJemand wollte das Passwort für diese E-Mail-Adresse bei {office} zurücksetzen. Zu dieser Adresse gibt es kein Konto. Wenn Sie ein Konto haben, nutzen Sie vielleicht eine andere Adresse.\n"),
                    Lang::En => format!("Hello,\n\nSomeone asked to reset the password for this e-mail address at {office}. There is no account for this address. If you have an account, you may use another address.\n"),
                },
            ),
        }
    }

    /// Whether a reset link holds (for showing its form).
    pub fn reset_link_holds(&self, token: &str) -> Result<bool, PortalError> {
        Ok(self
            .store
            .peek_link(token, self.now_ms())?
            .is_some_and(|l| l.kind == LinkKind::Reset))
    }

    /// Sets the password from a reset link; every session of the account ends.
    pub fn reset(&self, token: &str, password: &str) -> Result<bool, PortalError> {
        let Some(link) = self.store.peek_link(token, self.now_ms())? else {
            return Ok(false);
        };
        if link.kind != LinkKind::Reset {
            return Ok(false);
        }
        let hash = self.passwords.hash(password)?;
        if self.store.take_link(token, self.now_ms())?.is_none() {
            return Ok(false);
        }
        self.store.set_password(&link.account, hash, None, true)?;
        Ok(true)
    }

    fn check_password(&self, account: &Account, password: &str) -> Result<(), Problem> {
        if password.is_empty() {
            return Err(Problem::PasswordMissing);
        }
        if password.len() > bounds::PASSWORD_MAX
            || !self.passwords.verify(password, Some(&account.password))
        {
            return Err(Problem::PasswordWrong);
        }
        Ok(())
    }

    /// A new password after the current one; other sessions end.
    pub fn change_password(
        &self,
        account: &Account,
        session: &str,
        current: &str,
        new: &str,
    ) -> Result<Result<(), Problem>, PortalError> {
        if let Err(p) = self.check_password(account, current) {
            return Ok(Err(p));
        }
        let hash = self.passwords.hash(new)?;
        self.store
            .set_password(&account.id, hash, Some(session), false)?;
        Ok(Ok(()))
    }

    /// Sends a confirmation link to the new address (or, if it has an account, a
    /// note saying so); the address changes when the link is followed.
    pub fn change_email(
        &self,
        account: &Account,
        password: &str,
        new: &str,
        lang: Lang,
    ) -> Result<Result<(), Problem>, PortalError> {
        if let Err(p) = self.check_password(account, password) {
            return Ok(Err(p));
        }
        if new == account.email {
            return Ok(Err(Problem::SameEmail));
        }
        let office = self.office_name();
        if self.store.account_by_email(new)?.is_some() {
            self.mail(
                new,
                lang.pick("Sie haben bereits ein Konto", "You already have an account"),
                match lang {
                    Lang::De => format!("Guten Tag,\n\nJemand wollte ein Konto bei {office} auf diese E-Mail-Adresse umstellen. Zu dieser Adresse gibt es schon ein Konto; es bleibt unverändert.\n"),
                    Lang::En => format!("Hello,\n\nSomeone tried to move an account at {office} to this e-mail address. There already is an account for this address; nothing was changed.\n"),
                },
            )?;
            return Ok(Ok(()));
        }
        let token = self.store.new_link(
            &account.id,
            LinkKind::ChangeEmail {
                new: new.to_owned(),
            },
            self.now_ms() + bounds::LINK.as_millis() as u64,
        )?;
        let link = self.link(&format!("/verify?token={token}"));
        self.mail(
            new,
            lang.pick("Neue E-Mail-Adresse bestätigen", "Confirm your new e-mail address"),
            match lang {
                Lang::De => format!("Guten Tag,\n\nBitte bestätigen Sie Ihre neue E-Mail-Adresse für die Terminbuchung bei {office} (24 Stunden gültig):\n\n{link}\n"),
                Lang::En => format!("Hello,\n\nPlease confirm your new e-mail address for booking appointments at {office} (valid for 24 hours):\n\n{link}\n"),
            },
        )?;
        Ok(Ok(()))
    }

    /// Deletes the account after its password: its open bookings are cancelled,
    /// everything of it removed.
    pub fn delete_account(
        &self,
        account: &Account,
        password: &str,
    ) -> Result<Result<(), Problem>, PortalError> {
        if let Err(p) = self.check_password(account, password) {
            return Ok(Err(p));
        }
        let now = self.now_ms();
        let release = self.cancelled_place_returns(now);
        let cancelled = self.store.delete_account(&account.id, now, release)?;
        for booking in &cancelled {
            self.cancelled_in_office(booking);
        }
        Ok(Ok(()))
    }
}
