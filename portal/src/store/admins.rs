//! The office's admins in the portal's store: `x/<email>` an admin, `xi/<token>` an
//! invitation (made by city IT with `aufruf admin invite`), `xs/<token>` an admin's
//! session — each of the last two with its index by address (`axi/`, `axs/`), as the
//! citizens' sessions and links have. Admins are not citizens' accounts: neither
//! logs in as the other.

use serde::{Deserialize, Serialize};

use super::{Expiring, Store, StoreError};
use crate::secret;

/// An admin of the office's pages.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Admin {
    /// Lower-cased.
    pub email: String,
    /// argon2id PHC string.
    pub password: String,
    /// The second factor's secret (base32).
    pub totp_secret: String,
    /// The last 30-second step whose code logged in: no code counts twice.
    pub last_step: u64,
    pub created_ms: u64,
}

/// An invitation to become an admin: the link city IT hands over, and the second
/// factor's secret the set-up page shows (kept here, so the page shows the same one
/// however often it is opened).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Invitation {
    pub email: String,
    pub totp_secret: String,
    pub expires_ms: u64,
}

impl Expiring for Invitation {
    const PREFIX: &'static str = "xi";
    fn account(&self) -> &str {
        &self.email
    }
    fn expires_ms(&self) -> u64 {
        self.expires_ms
    }
}

/// A logged-in admin: the admin cookie holds its id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdminSession {
    pub email: String,
    /// The CSRF token of this session's forms.
    pub csrf: String,
    pub expires_ms: u64,
}

impl Expiring for AdminSession {
    const PREFIX: &'static str = "xs";
    fn account(&self) -> &str {
        &self.email
    }
    fn expires_ms(&self) -> u64 {
        self.expires_ms
    }
}

impl Store {
    /// Invites `email` to become an admin (again: a new password and second factor
    /// for one who lost theirs); the invitation's token.
    pub fn invite_admin(
        &self,
        email: &str,
        totp_secret: String,
        expires_ms: u64,
    ) -> Result<String, StoreError> {
        let token = secret::token();
        let invitation = Invitation {
            email: email.to_owned(),
            totp_secret,
            expires_ms,
        };
        self.put_expiring(&token, &invitation)?;
        Ok(token)
    }

    /// The invitation, if it exists and holds; not used up.
    pub fn invitation(&self, token: &str, now_ms: u64) -> Result<Option<Invitation>, StoreError> {
        if !secret::is_token(token) {
            return Ok(None);
        }
        Ok(self
            .get::<Invitation>(&format!("xi/{token}"))?
            .filter(|i| i.expires_ms > now_ms))
    }

    /// Makes the invited admin (replacing one of that address, whose sessions end)
    /// and uses up every invitation of the address, in one step; `None` when the
    /// invitation does not hold (used, expired, never made).
    pub fn accept_invitation(
        &self,
        token: &str,
        password_hash: String,
        now_ms: u64,
    ) -> Result<Option<Admin>, StoreError> {
        if !secret::is_token(token) {
            return Ok(None);
        }
        let writing = self.lock();
        let Some(invitation) = self
            .get::<Invitation>(&format!("xi/{token}"))?
            .filter(|i| i.expires_ms > now_ms)
        else {
            return Ok(None);
        };
        let admin = Admin {
            email: invitation.email.clone(),
            password: password_hash,
            totp_secret: invitation.totp_secret,
            last_step: 0,
            created_ms: now_ms,
        };
        let mut batch = sled::Batch::default();
        batch.insert(
            format!("x/{}", admin.email).as_bytes(),
            serde_json::to_vec(&admin)?,
        );
        self.remove_indexed::<Invitation>(&mut batch, &admin.email)?;
        self.remove_indexed::<AdminSession>(&mut batch, &admin.email)?;
        self.commit(batch, writing)?;
        Ok(Some(admin))
    }

    pub fn admin(&self, email: &str) -> Result<Option<Admin>, StoreError> {
        self.get(&format!("x/{email}"))
    }

    /// Every admin's address.
    pub fn admins(&self) -> Result<Vec<String>, StoreError> {
        Ok(self
            .keys_under("x/")?
            .into_iter()
            .map(|k| k["x/".len()..].to_owned())
            .collect())
    }

    /// Removes an admin with their sessions and invitations; whether there was one.
    pub fn remove_admin(&self, email: &str) -> Result<bool, StoreError> {
        let writing = self.lock();
        let mut batch = sled::Batch::default();
        let existed = self.db.contains_key(format!("x/{email}"))?;
        batch.remove(format!("x/{email}").as_bytes());
        self.remove_indexed::<Invitation>(&mut batch, email)?;
        self.remove_indexed::<AdminSession>(&mut batch, email)?;
        self.commit(batch, writing)?;
        Ok(existed)
    }

    /// Records that the code of `step` logged `email` in, unless a code of that step
    /// or a later one did already (then `false`: the code is spent).
    pub fn spend_step(&self, email: &str, step: u64) -> Result<bool, StoreError> {
        let writing = self.lock();
        let Some(mut admin) = self.admin(email)? else {
            return Ok(false);
        };
        if admin.last_step >= step {
            return Ok(false);
        }
        admin.last_step = step;
        let mut batch = sled::Batch::default();
        batch.insert(format!("x/{email}").as_bytes(), serde_json::to_vec(&admin)?);
        self.commit(batch, writing)?;
        Ok(true)
    }

    pub fn new_admin_session(&self, email: &str, expires_ms: u64) -> Result<String, StoreError> {
        let token = secret::token();
        let session = AdminSession {
            email: email.to_owned(),
            csrf: secret::token(),
            expires_ms,
        };
        self.put_expiring(&token, &session)?;
        Ok(token)
    }

    /// The admin session, unless it has expired (then it is gone) or its admin was
    /// removed.
    pub fn admin_session(
        &self,
        token: &str,
        now_ms: u64,
    ) -> Result<Option<(AdminSession, Admin)>, StoreError> {
        if !secret::is_token(token) {
            return Ok(None);
        }
        let Some(session) = self.get::<AdminSession>(&format!("xs/{token}"))? else {
            return Ok(None);
        };
        if session.expires_ms <= now_ms {
            self.end_admin_session(token)?;
            return Ok(None);
        }
        Ok(self.admin(&session.email)?.map(|admin| (session, admin)))
    }

    pub fn end_admin_session(&self, token: &str) -> Result<(), StoreError> {
        let writing = self.lock();
        let Some(session) = self.get::<AdminSession>(&format!("xs/{token}"))? else {
            return Ok(());
        };
        let mut batch = sled::Batch::default();
        batch.remove(format!("xs/{token}").as_bytes());
        batch.remove(format!("axs/{}/{token}", session.email).as_bytes());
        self.commit(batch, writing)
    }

    /// Adds the removal of every `T` of `owner` (and its index entry) to `batch`.
    fn remove_indexed<T: Expiring>(
        &self,
        batch: &mut sled::Batch,
        owner: &str,
    ) -> Result<(), StoreError> {
        for key in self.keys_under(&format!("a{}/{owner}/", T::PREFIX))? {
            let token = key.rsplit('/').next().unwrap_or_default();
            batch.remove(format!("{}/{token}", T::PREFIX).as_bytes());
            batch.remove(key.as_bytes());
        }
        Ok(())
    }

    /// Adds the removal of expired invitations and admin sessions to `batch`.
    pub(super) fn sweep_admins(
        &self,
        batch: &mut sled::Batch,
        now_ms: u64,
    ) -> Result<usize, StoreError> {
        Ok(self.sweep_expired::<Invitation>(batch, now_ms)?
            + self.sweep_expired::<AdminSession>(batch, now_ms)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_invitation_makes_one_admin_once_and_a_new_one_ends_the_old_sessions() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let token = store
            .invite_admin("anna@zeitz.de", "GEZDGNBV".into(), 1_000)
            .unwrap();
        assert!(store.invitation(&token, 999).unwrap().is_some());
        assert!(
            store.invitation(&token, 1_000).unwrap().is_none(),
            "expired"
        );
        assert!(
            store
                .accept_invitation(&token, "h1".into(), 1_000)
                .unwrap()
                .is_none()
        );
        let admin = store
            .accept_invitation(&token, "h1".into(), 10)
            .unwrap()
            .unwrap();
        assert_eq!(admin.email, "anna@zeitz.de");
        assert!(
            store
                .accept_invitation(&token, "h2".into(), 10)
                .unwrap()
                .is_none(),
            "used"
        );
        assert_eq!(store.admins().unwrap(), vec!["anna@zeitz.de".to_owned()]);

        assert!(store.spend_step("anna@zeitz.de", 5).unwrap());
        assert!(!store.spend_step("anna@zeitz.de", 5).unwrap(), "spent");
        assert!(!store.spend_step("anna@zeitz.de", 4).unwrap(), "older");
        assert!(!store.spend_step("bob@zeitz.de", 9).unwrap(), "no admin");

        let session = store.new_admin_session("anna@zeitz.de", 500).unwrap();
        assert!(store.admin_session(&session, 10).unwrap().is_some());
        // Invited again (a lost phone): the old sessions end.
        let again = store
            .invite_admin("anna@zeitz.de", "MFRGG".into(), 1_000)
            .unwrap();
        store
            .accept_invitation(&again, "h3".into(), 20)
            .unwrap()
            .unwrap();
        assert!(store.admin_session(&session, 20).unwrap().is_none());
        assert_eq!(
            store.admin("anna@zeitz.de").unwrap().unwrap().totp_secret,
            "MFRGG"
        );

        // Removed: sessions and invitations go with the admin.
        let session = store.new_admin_session("anna@zeitz.de", 500).unwrap();
        let pending = store
            .invite_admin("anna@zeitz.de", "MFRGG".into(), 1_000)
            .unwrap();
        assert!(store.remove_admin("anna@zeitz.de").unwrap());
        assert!(store.admin_session(&session, 20).unwrap().is_none());
        assert!(store.invitation(&pending, 20).unwrap().is_none());
        assert!(!store.remove_admin("anna@zeitz.de").unwrap());
        assert!(store.admins().unwrap().is_empty());
    }

    #[test]
    fn expired_admin_sessions_and_invitations_are_swept() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        store
            .invite_admin("anna@zeitz.de", "A".into(), 100)
            .unwrap();
        store.new_admin_session("anna@zeitz.de", 100).unwrap();
        store.new_admin_session("anna@zeitz.de", 300).unwrap();
        assert_eq!(store.sweep(200).unwrap(), 2);
        assert_eq!(store.keys_under("axs/").unwrap().len(), 1);
        assert!(store.keys_under("axi/").unwrap().is_empty());
    }
}
