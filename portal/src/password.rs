//! Passwords: argon2id with the configured cost (OWASP's advice by default). Hashing
//! takes tens of milliseconds of CPU and 19 MiB, so callers run it on the blocking
//! pool, never on the runtime's workers.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

use crate::settings::PasswordCost;

/// Hashes and checks passwords.
#[derive(Debug, Clone)]
pub struct Passwords {
    params: Params,
    /// The hash of a password nobody knows: checked when an address is unknown, so
    /// an unknown address costs the same time as a known one.
    dummy: String,
}

#[derive(Debug, thiserror::Error)]
#[error("password hashing: {0}")]
pub struct PasswordError(String);

impl Passwords {
    pub fn new(cost: PasswordCost) -> Result<Self, PasswordError> {
        let params = Params::new(cost.memory_kib, cost.iterations, cost.parallelism, None)
            .map_err(|e| PasswordError(e.to_string()))?;
        let mut passwords = Self {
            params,
            dummy: String::new(),
        };
        let secret = crate::secret::token();
        passwords.dummy = passwords.hash(&secret)?;
        Ok(passwords)
    }

    fn argon2(&self) -> Argon2<'static> {
        Argon2::new(Algorithm::Argon2id, Version::V0x13, self.params.clone())
    }

    /// A PHC string (`$argon2id$v=19$m=19456,t=2,p=1$…`) with a fresh salt.
    pub fn hash(&self, password: &str) -> Result<String, PasswordError> {
        let salt = SaltString::encode_b64(&crate::secret::bytes::<16>())
            .map_err(|e| PasswordError(e.to_string()))?;
        self.argon2()
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| PasswordError(e.to_string()))
    }

    /// Whether `password` matches `hash`; with no hash (an unknown account), checks
    /// against the dummy so that the answer takes as long, and says no.
    pub fn verify(&self, password: &str, hash: Option<&str>) -> bool {
        let known = hash.is_some();
        let hash = hash.unwrap_or(&self.dummy);
        let Ok(parsed) = PasswordHash::new(hash) else {
            return false;
        };
        // The stored hash's own parameters apply, so raising the cost later keeps
        // old passwords working.
        let ok = self
            .argon2()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok();
        ok && known
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_argon2id_with_owasp_parameters_and_verify() {
        let passwords = Passwords::new(PasswordCost::default()).unwrap();
        let hash = passwords.hash("korrekt Pferd Batterie").unwrap();
        assert!(
            hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{hash}"
        );
        assert!(passwords.verify("korrekt Pferd Batterie", Some(&hash)));
        assert!(!passwords.verify("korrekt Pferd", Some(&hash)));
        assert!(!passwords.verify("korrekt Pferd Batterie", None));
        assert_ne!(hash, passwords.hash("korrekt Pferd Batterie").unwrap());
    }
}
