//! Unguessable values: session ids, CSRF tokens, link tokens, booking codes. All come
//! from one ChaCha generator seeded from the operating system at start.

use std::sync::{Mutex, OnceLock};

use rand::rngs::StdRng;
use rand::{Rng, RngCore, SeedableRng};

static GENERATOR: OnceLock<Mutex<StdRng>> = OnceLock::new();

fn with_rng<T>(f: impl FnOnce(&mut StdRng) -> T) -> T {
    // `from_os_rng` panics only when the operating system has no random source at
    // all; nothing here could go on safely without one.
    let generator = GENERATOR.get_or_init(|| Mutex::new(StdRng::from_os_rng()));
    // A panic while holding the lock cannot leave the generator half-updated in a
    // way that matters: any state of it is a valid state.
    let mut rng = generator.lock().unwrap_or_else(|p| p.into_inner());
    f(&mut rng)
}

/// `N` random bytes.
pub fn bytes<const N: usize>() -> [u8; N] {
    let mut out = [0u8; N];
    with_rng(|rng| rng.fill_bytes(&mut out));
    out
}

/// 256 random bits as 64 lowercase hex digits: session ids and link tokens.
pub fn token() -> String {
    hex(&bytes::<32>())
}

pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

/// Whether `s` looks like a [`token`]: checked before it is used as a key.
pub fn is_token(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// The letters of booking codes: no 0/O, 1/I/L, or U/V, so a code read from paper
/// is typed right at the kiosk.
pub const CODE_ALPHABET: &[u8] = b"ABCDEFGHJKMNPQRSTWXYZ23456789";
/// Characters of a booking code: 29^8 ≈ 5·10^11 codes.
pub const CODE_LEN: usize = 8;

/// A fresh booking code, e.g. `K7M2X9PQ`.
pub fn booking_code() -> String {
    with_rng(|rng| {
        (0..CODE_LEN)
            .map(|_| char::from(CODE_ALPHABET[rng.random_range(0..CODE_ALPHABET.len())]))
            .collect()
    })
}

/// Whether two secrets are equal, in time that depends only on their lengths.
pub fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_use_only_unambiguous_characters_and_differ() {
        let codes: std::collections::BTreeSet<String> = (0..1000).map(|_| booking_code()).collect();
        assert_eq!(codes.len(), 1000);
        for code in &codes {
            assert_eq!(code.len(), CODE_LEN);
            assert!(code.bytes().all(|b| CODE_ALPHABET.contains(&b)), "{code}");
        }
        assert!(is_token(&token()));
        assert!(!is_token("../../etc/passwd"));
        assert!(same("abc", "abc") && !same("abc", "abd") && !same("abc", "ab"));
    }
}
