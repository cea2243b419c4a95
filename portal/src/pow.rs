//! A proof of work against slot bots, in the style of ALTCHA, self-hosted: the page
//! carries a challenge — a salt with its expiry, the SHA-256 of the salt followed by a
//! secret number up to `max_number`, and the portal's HMAC of that hash — and the
//! browser (`assets/pow.js`, without any interaction) tries numbers until the hash
//! matches. The form sends back salt, number and signature; the portal recomputes the
//! hash, checks its own signature and the expiry, and takes each challenge once.
//!
//! A citizen's browser spends about half a second per form; a bot that books
//! thousands of slots spends that for each. The key is made at start and never leaves
//! the process: a restart only voids the challenges of pages open at that moment.

use std::collections::HashMap;
use std::sync::Mutex;

use ring::{digest, hmac};

use crate::secret;

/// How long a challenge may be answered after the page was served.
pub const LIFETIME_MS: u64 = 10 * 60 * 1000;
/// The longest answer taken (salt, number and signature with separators).
pub const MAX_ANSWER_LEN: usize = 256;
/// Answers remembered against replay at most; beyond it new answers are turned away
/// ("try again") until the oldest expire, so a flood of solved challenges cannot grow
/// the portal's memory without bound.
pub const MAX_REMEMBERED: usize = 500_000;

/// What a form's page carries for the browser to solve.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    /// Random, with the expiry: `<32 hex>?expires=<unix ms>`.
    pub salt: String,
    /// SHA-256 of salt and the secret number (decimal), 64 hex digits.
    pub challenge: String,
    /// The portal's HMAC-SHA-256 of `challenge`, 64 hex digits.
    pub signature: String,
    /// The secret number lies in `0..=max_number`.
    pub max_number: u32,
}

/// Why an answer is not taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PowRefusal {
    /// No answer (a browser without JavaScript), or not of the answer's shape.
    #[error("no answer to the challenge")]
    Missing,
    /// The number does not give the signed hash, or the signature is not ours.
    #[error("the answer does not solve a challenge of ours")]
    Wrong,
    #[error("the challenge has expired")]
    Expired,
    #[error("the challenge was answered before")]
    Replayed,
    /// Too many answers remembered (a flood): try again in a few minutes.
    #[error("too many answers at the moment")]
    Busy,
}

/// The challenges' key and the answers already taken.
pub struct ProofOfWork {
    key: hmac::Key,
    max_number: u32,
    /// Signature of each answer taken → when its challenge expires (unix ms).
    taken: Mutex<HashMap<[u8; 32], u64>>,
}

impl std::fmt::Debug for ProofOfWork {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProofOfWork")
            .field("max_number", &self.max_number)
            .finish_non_exhaustive()
    }
}

fn hash(salt: &str, number: u32) -> digest::Digest {
    digest::digest(&digest::SHA256, format!("{salt}{number}").as_bytes())
}

fn unhex(s: &str) -> Option<[u8; 32]> {
    if s.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(s.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

impl ProofOfWork {
    /// A new key; `max_number` sets the work (about `max_number / 2` hashes per form).
    pub fn new(max_number: u32) -> Self {
        Self {
            key: hmac::Key::new(hmac::HMAC_SHA256, &secret::bytes::<32>()),
            max_number: max_number.max(1),
            taken: Mutex::new(HashMap::new()),
        }
    }

    /// A fresh challenge for a page served at `now_ms`.
    pub fn challenge(&self, now_ms: u64) -> Challenge {
        let salt = format!(
            "{}?expires={}",
            secret::hex(&secret::bytes::<16>()),
            now_ms + LIFETIME_MS
        );
        let [a, b, c, d] = secret::bytes::<4>();
        let number = u32::from_le_bytes([a, b, c, d]) % (self.max_number + 1);
        let challenge = secret::hex(hash(&salt, number).as_ref());
        let signature = secret::hex(hmac::sign(&self.key, challenge.as_bytes()).as_ref());
        Challenge {
            salt,
            challenge,
            signature,
            max_number: self.max_number,
        }
    }

    /// Takes the answer `salt:number:signature` sent with a form at `now_ms`, once.
    pub fn check(&self, answer: &str, now_ms: u64) -> Result<(), PowRefusal> {
        if answer.is_empty() || answer.len() > MAX_ANSWER_LEN {
            return Err(PowRefusal::Missing);
        }
        let mut parts = answer.rsplitn(3, ':');
        let (Some(signature), Some(number), Some(salt)) =
            (parts.next(), parts.next(), parts.next())
        else {
            return Err(PowRefusal::Missing);
        };
        let number: u32 = number.parse().map_err(|_| PowRefusal::Missing)?;
        let signature = unhex(signature).ok_or(PowRefusal::Missing)?;
        let expires: u64 = salt
            .split_once("?expires=")
            .and_then(|(_, e)| e.parse().ok())
            .ok_or(PowRefusal::Missing)?;
        let challenge = secret::hex(hash(salt, number).as_ref());
        hmac::verify(&self.key, challenge.as_bytes(), &signature).map_err(|_| PowRefusal::Wrong)?;
        // Signed by us, so the expiry in the salt is the one we wrote.
        if now_ms >= expires {
            return Err(PowRefusal::Expired);
        }
        // A poisoned lock: a panic elsewhere while inserting; the map stays usable.
        let mut taken = self.taken.lock().unwrap_or_else(|p| p.into_inner());
        if taken.contains_key(&signature) {
            return Err(PowRefusal::Replayed);
        }
        if taken.len() >= MAX_REMEMBERED {
            taken.retain(|_, e| *e > now_ms);
            if taken.len() >= MAX_REMEMBERED {
                return Err(PowRefusal::Busy);
            }
        }
        taken.insert(signature, expires);
        Ok(())
    }

    /// Answers remembered against replay (expired ones go when the map fills).
    pub fn remembered(&self) -> usize {
        self.taken.lock().unwrap_or_else(|p| p.into_inner()).len()
    }
}

/// What a browser does: the number whose hash with `salt` is `challenge`, and the
/// answer a form sends. For tests and the benchmark; a bot can do the same, and pays
/// the same work.
pub fn solve(salt: &str, challenge: &str, signature: &str, max_number: u32) -> Option<String> {
    let target = unhex(challenge)?;
    (0..=max_number)
        .find(|n| hash(salt, *n).as_ref() == target)
        .map(|n| format!("{salt}:{n}:{signature}"))
}

/// Solves the challenge a page carries (its `data-` attributes, as `pow.js` reads
/// them): for tests and the benchmark.
pub fn solve_page(html: &str) -> Option<String> {
    let attribute = |name: &str| {
        let marker = format!("data-pow-{name}=\"");
        let start = html.find(&marker)? + marker.len();
        html[start..].split('"').next()
    };
    solve(
        attribute("salt")?,
        attribute("challenge")?,
        attribute("signature")?,
        attribute("max")?.parse().ok()?,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_790_000_000_000;

    fn answer(c: &Challenge) -> String {
        solve(&c.salt, &c.challenge, &c.signature, c.max_number).unwrap()
    }

    #[test]
    fn a_solved_challenge_is_taken_once() {
        let pow = ProofOfWork::new(1_000);
        let c = pow.challenge(NOW);
        let a = answer(&c);
        assert_eq!(pow.check(&a, NOW + 1_000), Ok(()));
        assert_eq!(pow.check(&a, NOW + 2_000), Err(PowRefusal::Replayed));
        // Another challenge is another answer.
        let b = answer(&pow.challenge(NOW));
        assert_eq!(pow.check(&b, NOW + 2_000), Ok(()));
        assert_eq!(pow.remembered(), 2);
    }

    #[test]
    fn forged_altered_expired_and_malformed_answers_are_refused() {
        let pow = ProofOfWork::new(1_000);
        let c = pow.challenge(NOW);
        let a = answer(&c);
        let (rest, _) = a.rsplit_once(':').unwrap();
        let (salt, number) = rest.rsplit_once(':').unwrap();
        let n: u32 = number.parse().unwrap();
        // A wrong number, a later expiry written into the salt, another key's signature.
        assert_eq!(
            pow.check(&format!("{salt}:{}:{}", n + 1, c.signature), NOW),
            Err(PowRefusal::Wrong)
        );
        let later = salt.replace("?expires=", "?expires=9");
        let forged = solve(
            &later,
            &secret::hex(hash(&later, 7).as_ref()),
            &c.signature,
            10,
        )
        .unwrap();
        assert_eq!(pow.check(&forged, NOW), Err(PowRefusal::Wrong));
        let other = ProofOfWork::new(1_000);
        let theirs = other.challenge(NOW);
        assert_eq!(pow.check(&answer(&theirs), NOW), Err(PowRefusal::Wrong));
        // Too late.
        assert_eq!(pow.check(&a, NOW + LIFETIME_MS), Err(PowRefusal::Expired));
        for bad in [
            "",
            "x",
            "a:b:c",
            &format!("{salt}:{n}:{}", "0".repeat(63)),
            &format!("{salt}:-1:{}", c.signature),
            &"9".repeat(MAX_ANSWER_LEN + 1),
            &format!("nosalt:{n}:{}", c.signature),
        ] {
            assert!(
                matches!(
                    pow.check(bad, NOW),
                    Err(PowRefusal::Missing | PowRefusal::Wrong)
                ),
                "{bad}"
            );
        }
        // None of the refusals used the challenge up.
        assert_eq!(pow.check(&a, NOW), Ok(()));
    }

    #[test]
    fn the_secret_number_stays_within_the_difficulty() {
        let pow = ProofOfWork::new(50);
        for _ in 0..200 {
            let c = pow.challenge(NOW);
            assert!(solve(&c.salt, &c.challenge, &c.signature, 50).is_some());
        }
    }

    #[test]
    fn a_flood_of_answers_is_bounded_and_expired_ones_make_room() {
        let pow = ProofOfWork::new(1);
        {
            let mut taken = pow.taken.lock().unwrap();
            for i in 0..MAX_REMEMBERED {
                let mut k = [0u8; 32];
                k[..8].copy_from_slice(&(i as u64).to_le_bytes());
                taken.insert(k, NOW + 1_000);
            }
        }
        let a = answer(&pow.challenge(NOW));
        assert_eq!(pow.check(&a, NOW + 500), Err(PowRefusal::Busy));
        assert_eq!(pow.check(&a, NOW + 1_000), Ok(()));
        assert_eq!(pow.remembered(), 1);
    }
}
