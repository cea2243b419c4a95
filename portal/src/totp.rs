//! The admins' second factor: time-based one-time passwords (RFC 6238, HMAC-SHA-1,
//! 30-second steps, six digits), as every authenticator app reads them from an
//! `otpauth://` link or its QR code.

use ring::hmac;

/// Seconds one code lasts.
pub const STEP_SECONDS: u64 = 30;
/// Steps before and after the present one still taken: a phone's clock a little off,
/// or a code typed as it turned.
const WINDOW: u64 = 1;

/// A new secret: 20 random bytes (RFC 4226's advice), in base32 as apps take it.
pub fn new_secret() -> String {
    base32(&crate::secret::bytes::<20>())
}

/// The code of `secret` (base32) for the 30-second step `step`; `None` for a secret
/// that is not base32.
pub fn code(secret: &str, step: u64) -> Option<String> {
    let key = unbase32(secret)?;
    let key = hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, &key);
    let tag = hmac::sign(&key, &step.to_be_bytes());
    let digest = tag.as_ref();
    // RFC 4226 § 5.3: dynamic truncation. A SHA-1 tag has 20 bytes, so the offset
    // (at most 15) and the four bytes after it are inside it.
    let offset = usize::from(digest.get(19)? & 0x0f);
    let word = digest.get(offset..offset + 4)?;
    let number = u32::from_be_bytes([word[0] & 0x7f, word[1], word[2], word[3]]) % 1_000_000;
    Some(format!("{number:06}"))
}

/// The step of `unix_seconds`.
pub fn step_at(unix_seconds: u64) -> u64 {
    unix_seconds / STEP_SECONDS
}

/// The step whose code `typed` is, if it is one of the steps around `now_step` and
/// later than `last_used` (a code is taken once: one seen over a shoulder or in a
/// proxy's log does not log in again).
pub fn accepted_step(secret: &str, typed: &str, now_step: u64, last_used: u64) -> Option<u64> {
    let typed: String = typed.chars().filter(|c| !c.is_whitespace()).collect();
    if typed.len() != 6 || !typed.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    (now_step.saturating_sub(WINDOW)..=now_step + WINDOW)
        .filter(|step| *step > last_used)
        .find(|step| code(secret, *step).is_some_and(|c| crate::secret::same(&c, &typed)))
}

/// The link an authenticator app reads (from its QR code): issuer and account shown in
/// the app, the secret, and the defaults spelled out.
pub fn otpauth_uri(issuer: &str, account: &str, secret: &str) -> String {
    let issuer = crate::web::encode_query_value(issuer);
    let account = crate::web::encode_query_value(account);
    format!(
        "otpauth://totp/{issuer}:{account}?secret={secret}&issuer={issuer}&algorithm=SHA1&digits=6&period={STEP_SECONDS}"
    )
}

const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/// RFC 4648 base32 without padding.
pub fn base32(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(5) * 8);
    let mut buffer: u32 = 0;
    let mut bits = 0;
    for &b in bytes {
        buffer = (buffer << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(char::from(ALPHABET[((buffer >> bits) & 31) as usize]));
        }
    }
    if bits > 0 {
        out.push(char::from(ALPHABET[((buffer << (5 - bits)) & 31) as usize]));
    }
    out
}

/// Reads base32 (upper or lower case, spaces and padding ignored); `None` for any
/// other character, or for more than 64 characters.
pub fn unbase32(text: &str) -> Option<Vec<u8>> {
    if text.len() > 64 {
        return None;
    }
    let mut out = Vec::with_capacity(text.len() * 5 / 8);
    let mut buffer: u32 = 0;
    let mut bits = 0;
    for c in text.chars().filter(|c| *c != ' ' && *c != '=') {
        let c = c.to_ascii_uppercase();
        let value = ALPHABET.iter().position(|a| char::from(*a) == c)?;
        buffer = (buffer << 5) | u32::try_from(value).ok()?;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push(u8::try_from((buffer >> bits) & 0xff).ok()?);
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238, appendix B (SHA-1), cut to six digits.
    #[test]
    fn the_codes_are_those_of_rfc_6238() {
        let secret = base32(b"12345678901234567890");
        assert_eq!(secret, "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ");
        for (time, expected) in [
            (59, "287082"),
            (1_111_111_109, "081804"),
            (1_111_111_111, "050471"),
            (1_234_567_890, "005924"),
            (2_000_000_000, "279037"),
            (20_000_000_000, "353130"),
        ] {
            assert_eq!(code(&secret, step_at(time)).unwrap(), expected, "{time}");
        }
    }

    #[test]
    fn base32_reads_back_what_it_wrote() {
        for n in 0..=21 {
            let bytes: Vec<u8> = (0..n).map(|i| (i * 37 + 11) as u8).collect();
            assert_eq!(unbase32(&base32(&bytes)).unwrap(), bytes);
        }
        assert_eq!(
            unbase32("gezd gnbv===").unwrap(),
            unbase32("GEZDGNBV").unwrap()
        );
        assert_eq!(unbase32("GEZ1"), None, "1 is not base32");
        assert_eq!(unbase32(&"A".repeat(65)), None);
        assert_eq!(new_secret().len(), 32);
    }

    #[test]
    fn a_code_counts_around_its_step_once_and_never_again() {
        let secret = new_secret();
        let now = 1_000_000;
        let this = code(&secret, now).unwrap();
        let before = code(&secret, now - 1).unwrap();
        let long_ago = code(&secret, now - 2).unwrap();
        assert_eq!(accepted_step(&secret, &this, now, 0), Some(now));
        assert_eq!(accepted_step(&secret, &before, now, 0), Some(now - 1));
        assert_eq!(
            accepted_step(&secret, &format!("{} {}", &this[..3], &this[3..]), now, 0),
            Some(now)
        );
        assert_eq!(accepted_step(&secret, &long_ago, now, 0), None, "too old");
        assert_eq!(accepted_step(&secret, &this, now, now), None, "used");
        assert_eq!(accepted_step(&secret, &before, now, now - 1), None, "used");
        for garbage in ["", "12345", "1234567", "abcdef", "١٢٣٤٥٦"] {
            assert_eq!(accepted_step(&secret, garbage, now, 0), None, "{garbage}");
        }
    }

    #[test]
    fn the_app_link_names_the_office_and_the_admin() {
        let uri = otpauth_uri("Bürgerbüro Zeitz", "anna@zeitz.de", "GEZDGNBV");
        assert!(uri.starts_with("otpauth://totp/B%C3%BCrgerb%C3%BCro%20Zeitz:anna%40zeitz.de?"));
        assert!(uri.contains("secret=GEZDGNBV&issuer=B%C3%BCrgerb%C3%BCro%20Zeitz"));
    }
}
