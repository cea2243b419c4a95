//! Who wrote an event, and whether it counts.
//!
//! Every value a node writes into a day document is *sealed*: it names the
//! certificate of its author (by fingerprint) and carries the author's signature over
//! the document, the key, the entry and the value. The office document keeps every
//! node's certificate (each node puts its own there at start); a reader checks the
//! certificate against the office CA ([`Authority`]), the signature against the
//! certificate, the author's role against the event ([`aufruf_model::authority`]),
//! revocations and the certificate's validity at the event's time. What fails does
//! not enter the fold, and is counted; a relaying peer can change nothing unnoticed.
//!
//! The cryptography is the node's ([`Authority`] and [`Signer`] are implemented over
//! the office CA and the node's key in `aufruf-node`); this crate only decides.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fmt;
use std::sync::Arc;

use aufruf_model::NodeId;
use aufruf_model::authority::{Author, Unauthorised};

/// How many hexadecimal digits of a certificate's fingerprint name it in an event.
pub const FINGERPRINT_DIGITS: usize = 16;
/// A certificate larger than this is not read.
pub const MAX_CERTIFICATE_BYTES: usize = 8 * 1024;

/// A node certificate of this office, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Certified {
    /// SHA-256 of the certificate, hexadecimal.
    pub fingerprint: String,
    pub author: Author,
    /// When the certificate is valid, Unix milliseconds.
    pub valid_from_ms: u64,
    pub valid_until_ms: u64,
    /// The key its events are checked with.
    pub public_key: Vec<u8>,
}

/// The office's trust, as the node holds it: its CA's certificate.
pub trait Authority: Send + Sync + fmt::Debug {
    /// Whether the administrator (the office CA's key) signed exactly `payload`.
    fn admin_signed(&self, payload: &[u8], signature: &[u8]) -> bool;
    /// The node certificate `der`, if the office CA issued it.
    fn certificate(&self, der: &[u8]) -> Option<Certified>;
    /// Whether `certificate`'s key signed exactly `message` as an event.
    fn event_signed(&self, certificate: &Certified, message: &[u8], signature: &[u8]) -> bool;
}

/// This node's key, which seals everything it writes.
pub trait Signer: Send + Sync + fmt::Debug {
    /// The node's certificate (DER).
    fn certificate_der(&self) -> &[u8];
    /// Its SHA-256 fingerprint, hexadecimal.
    fn fingerprint(&self) -> &str;
    /// The signature of `message` as an event of this node.
    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, String>;
}

/// Why a sealed value does not count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Unaccepted {
    #[error("not sealed, or the seal is garbled")]
    Unsealed,
    #[error("signed with a certificate this node does not have (yet)")]
    UnknownCertificate,
    #[error("the signature does not match")]
    BadSignature,
    #[error("the author's certificate was revoked")]
    Revoked,
    #[error("written after the author's certificate ended")]
    OutsideValidity,
    #[error("stamped outside the day it is written into")]
    OutsideDay,
    #[error(transparent)]
    Unauthorised(#[from] Unauthorised),
}

impl Unaccepted {
    /// A short name for metrics labels.
    pub fn label(self) -> &'static str {
        match self {
            Unaccepted::Unsealed => "unsealed",
            Unaccepted::UnknownCertificate => "unknown_certificate",
            Unaccepted::BadSignature => "bad_signature",
            Unaccepted::Revoked => "revoked",
            Unaccepted::OutsideValidity => "outside_validity",
            Unaccepted::OutsideDay => "outside_day",
            Unaccepted::Unauthorised(u) => u.label(),
        }
    }
}

/// The certificates and revocations of the office document, checked.
#[derive(Debug, Clone, Default)]
pub struct Roster {
    /// By the first [`FINGERPRINT_DIGITS`] of their fingerprint.
    certificates: HashMap<String, Arc<Certified>>,
    /// Entries of the office document found not to be this office's certificates.
    refused: BTreeSet<String>,
    /// Revoked nodes: their events stamped from this Unix millisecond on do not count.
    revoked: BTreeMap<NodeId, u64>,
    /// Of the revoked nodes whose revocation named the office's documents as they
    /// were: those documents' heads. Only what the node wrote into them up to those
    /// heads counts ([`Held`]).
    frozen: BTreeMap<NodeId, Arc<Frozen>>,
    /// The office document's heads up to which its history has been read.
    history_read: Vec<automerge::ChangeHash>,
}

impl Roster {
    /// The certificate a seal names.
    pub fn certificate(&self, short_fingerprint: &str) -> Option<&Arc<Certified>> {
        self.certificates.get(short_fingerprint)
    }

    /// Whether the office document's entry `short_fingerprint` was judged already.
    pub fn knows(&self, short_fingerprint: &str) -> bool {
        self.certificates.contains_key(short_fingerprint)
            || self.refused.contains(short_fingerprint)
    }

    /// Adds a certificate checked by the [`Authority`] (stored under `key`, the
    /// office document's name for it); `None`: it was not one of the office's.
    /// A valid certificate counts even if a value found earlier under its key was
    /// refused (a forger may write junk under the key first).
    pub fn learn(&mut self, key: &str, certified: Option<Certified>) {
        match certified {
            Some(c) if c.fingerprint.get(..FINGERPRINT_DIGITS) == Some(key) => {
                self.refused.remove(key);
                self.certificates.insert(key.to_owned(), Arc::new(c));
            }
            _ if self.certificates.contains_key(key) => {}
            _ => {
                self.refused.insert(key.to_owned());
            }
        }
    }

    /// The office document's heads up to which its history has been read.
    pub fn history_read(&self) -> &[automerge::ChangeHash] {
        &self.history_read
    }

    pub fn set_history_read(&mut self, heads: Vec<automerge::ChangeHash>) {
        self.history_read = heads;
    }

    /// Revokes `node` from `from_ms` on, and, if `frozen` names documents, counts of
    /// them only what the node wrote up to their heads. Of several revocations of one
    /// node the earliest counts (with the documents it names; at the same time, one
    /// without documents before one with), whatever order they are read in.
    pub fn revoke(&mut self, node: NodeId, from_ms: u64, frozen: Option<Frozen>) {
        let current = self
            .revoked
            .get(&node)
            .map(|&from| (from, self.frozen.get(&node).map(|f| &**f)));
        if current.is_some_and(|current| current <= (from_ms, frozen.as_ref())) {
            return;
        }
        self.revoked.insert(node.clone(), from_ms);
        match frozen {
            Some(frozen) => self.frozen.insert(node, Arc::new(frozen)),
            None => self.frozen.remove(&node),
        };
    }

    /// The revoked nodes and since when.
    pub fn revoked(&self) -> &BTreeMap<NodeId, u64> {
        &self.revoked
    }

    /// The documents (and their heads) each revocation that named them named.
    pub fn frozen(&self) -> &BTreeMap<NodeId, Arc<Frozen>> {
        &self.frozen
    }

    /// Whether `other` holds the same revocations (nodes, times and documents).
    pub fn same_revocations(&self, other: &Roster) -> bool {
        self.revoked == other.revoked && self.frozen == other.frozen
    }

    /// How many certificates it holds.
    pub fn len(&self) -> usize {
        self.certificates.len()
    }

    pub fn is_empty(&self) -> bool {
        self.certificates.is_empty()
    }

    /// The certificates of `node`.
    pub fn of(&self, node: &NodeId) -> impl Iterator<Item = &Certified> {
        self.certificates
            .values()
            .filter(move |c| c.author.node == *node)
            .map(|c| &**c)
    }
}

/// What a revocation names of the office's documents: each document by name
/// (`day/2026-11-26`) with its heads as the node the administrator revoked through
/// held it.
pub type Frozen = BTreeMap<String, Vec<automerge::ChangeHash>>;

/// The seals of revoked nodes that still count in one document: those it held at the
/// heads their revocation named. A thief's later writing with the stolen key — stamped
/// before the revocation, or a booking, which carries no stamp — is not among them.
/// A revoked node's seal counts if it is in the document at those heads, the same
/// on every device that holds them; a device that does not hold them all yet counts
/// none of that node's until it does.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Held {
    /// By revoked node: the signatures of its seals in the document at the heads.
    seals: HashMap<NodeId, HashSet<Vec<u8>>>,
    /// Revoked nodes whose heads for the document this device does not hold yet.
    waiting: BTreeSet<NodeId>,
}

impl Held {
    /// Records that `node`'s seal with `signature` was in the document at the heads.
    pub fn hold(&mut self, node: &NodeId, signature: Vec<u8>) {
        self.seals
            .entry(node.clone())
            .or_default()
            .insert(signature);
    }

    /// Records that the heads named for `node` are not all here yet.
    pub fn wait_for(&mut self, node: &NodeId) {
        self.waiting.insert(node.clone());
    }

    /// Whether some revoked node's heads are not all here yet.
    pub fn is_waiting(&self) -> bool {
        !self.waiting.is_empty()
    }

    fn holds(&self, node: &NodeId, signature: &[u8]) -> bool {
        !self.waiting.contains(node)
            && self
                .seals
                .get(node)
                .is_some_and(|seals| seals.contains(signature))
    }
}

/// Seals and opens values of one document.
#[derive(Clone, Copy)]
pub struct Seals<'a> {
    pub roster: &'a Roster,
    pub authority: &'a dyn Authority,
    /// The document's name (`day/2026-11-26`): a seal is valid in its document only.
    pub document: &'a str,
    /// The stamps this document may carry, Unix milliseconds (a day document's day,
    /// with a margin for time zones and clocks).
    pub window_ms: (u64, u64),
    /// What revoked nodes wrote that still counts here; `None`: not worked out, so
    /// nothing of a node whose revocation names documents counts.
    pub held: Option<&'a Held>,
}

impl fmt::Debug for Seals<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Seals")
            .field("document", &self.document)
            .finish_non_exhaustive()
    }
}

/// What a format-1 seal signed: the document, the root key, the entry under it and
/// the value, each ended by a NUL (none of them contains one: names are checked,
/// JSON escapes it).
fn message_v1(document: &str, key: &str, entry: &str, body: &str) -> Vec<u8> {
    let mut m = Vec::with_capacity(document.len() + key.len() + entry.len() + body.len() + 3);
    for part in [document, key, entry] {
        m.extend_from_slice(part.as_bytes());
        m.push(0);
    }
    m.extend_from_slice(body.as_bytes());
    m
}

/// The first byte of a sealed value in the current format (2). Format 1 was text,
/// whose first byte is a hexadecimal digit, so the two never meet.
pub const SEAL_FORMAT: u8 = 0xA2;
/// How many bytes of a certificate's fingerprint name it in a seal: the
/// [`FINGERPRINT_DIGITS`] hexadecimal digits of format 1, as bytes.
pub const REFERENCE_BYTES: usize = FINGERPRINT_DIGITS / 2;
/// What the signature of a format-2 seal starts with, so that no other signature of
/// the node's key (format 1 included) can pass for one.
const DOMAIN_V2: &[u8] = b"aufruf seal 2\0";

/// What a format-2 seal signs: a domain tag, the certificate reference, then the
/// document, the root key, the entry and the value as in format 1 — everything the
/// sealed value says and where it stands.
fn message_v2(reference: &[u8], document: &str, key: &str, entry: &str, body: &str) -> Vec<u8> {
    let mut m = Vec::with_capacity(
        DOMAIN_V2.len()
            + reference.len()
            + document.len()
            + key.len()
            + entry.len()
            + body.len()
            + 3,
    );
    m.extend_from_slice(DOMAIN_V2);
    m.extend_from_slice(reference);
    m.extend_from_slice(&message_v1(document, key, entry, body));
    m
}

/// `body` sealed by `signer` as entry `entry` of `key` in `document`, as the bytes
/// of an automerge bytes value (format 2):
///
/// ```text
/// 0xA2 | certificate reference (8 bytes) | signature length (1 byte) | signature | body (UTF-8 JSON)
/// ```
///
/// The reference is the first [`REFERENCE_BYTES`] bytes of the author's certificate
/// fingerprint; the signature (64 bytes for ECDSA P-256) covers the reference and
/// everything else ([`message_v2`]). Format 1 was the text
/// `<16 hex digits>:<signature hex>:<body>`, about twice the overhead; it is still
/// read ([`Sealed::Text`]).
pub fn seal(
    signer: &dyn Signer,
    document: &str,
    key: &str,
    entry: &str,
    body: &str,
) -> Result<Vec<u8>, String> {
    let reference = signer
        .fingerprint()
        .get(..FINGERPRINT_DIGITS)
        .and_then(unhex)
        .ok_or("a fingerprint too short")?;
    let signature = signer.sign(&message_v2(&reference, document, key, entry, body))?;
    let length = u8::try_from(signature.len()).map_err(|_| "a signature over 255 bytes")?;
    let mut sealed = Vec::with_capacity(2 + reference.len() + signature.len() + body.len());
    sealed.push(SEAL_FORMAT);
    sealed.extend_from_slice(&reference);
    sealed.push(length);
    sealed.extend_from_slice(&signature);
    sealed.extend_from_slice(body.as_bytes());
    Ok(sealed)
}

/// A sealed value as a day document holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sealed {
    /// Format 2: bytes ([`seal`]).
    Bytes(Vec<u8>),
    /// Format 1: `<fingerprint prefix>:<signature hex>:<body>`, written before
    /// format 2; still read.
    Text(String),
}

/// A seal taken apart, not yet checked.
struct Parts<'t> {
    /// The certificate named, as the roster keys it (hexadecimal).
    reference: String,
    signature: std::borrow::Cow<'t, [u8]>,
    body: &'t str,
    message: Vec<u8>,
}

impl Sealed {
    /// The certificate a seal names (as the roster keys it) and its signature, not
    /// checked; `None` if it is garbled.
    pub fn reference_and_signature(&self) -> Option<(String, Vec<u8>)> {
        let parts = self.parts("", "", "")?;
        Some((parts.reference, parts.signature.into_owned()))
    }

    /// The value of an automerge scalar: bytes or text, anything else is not a seal.
    pub fn of(value: &automerge::ScalarValue) -> Option<Sealed> {
        match value {
            automerge::ScalarValue::Bytes(b) => Some(Sealed::Bytes(b.clone())),
            automerge::ScalarValue::Str(s) => Some(Sealed::Text(s.to_string())),
            _ => None,
        }
    }

    fn parts<'t>(&'t self, document: &str, key: &str, entry: &str) -> Option<Parts<'t>> {
        match self {
            Sealed::Bytes(bytes) => {
                let (&format, rest) = bytes.split_first()?;
                if format != SEAL_FORMAT {
                    return None;
                }
                let (reference, rest) = rest.split_at_checked(REFERENCE_BYTES)?;
                let (&length, rest) = rest.split_first()?;
                let (signature, body) = rest.split_at_checked(usize::from(length))?;
                let body = std::str::from_utf8(body).ok()?;
                Some(Parts {
                    reference: hex(reference),
                    signature: std::borrow::Cow::Borrowed(signature),
                    body,
                    message: message_v2(reference, document, key, entry, body),
                })
            }
            Sealed::Text(text) => {
                let mut parts = text.splitn(3, ':');
                let (Some(short), Some(signature), Some(body)) =
                    (parts.next(), parts.next(), parts.next())
                else {
                    return None;
                };
                Some(Parts {
                    reference: short.to_owned(),
                    signature: std::borrow::Cow::Owned(unhex(signature)?),
                    body,
                    message: message_v1(document, key, entry, body),
                })
            }
        }
    }
}

impl Seals<'_> {
    /// The author and body of a sealed value, if it counts: certificate known and
    /// of this office, signature right, not revoked and within the certificate's
    /// validity at `stamp_ms` (for values that carry a stamp), and the stamp within
    /// the document's window. The role check is the caller's ([`aufruf_model::authority`]).
    pub fn open<'t>(
        &self,
        key: &str,
        entry: &str,
        sealed: &'t Sealed,
        stamp_ms: Option<u64>,
    ) -> Result<(&Author, &'t str), Unaccepted> {
        let Parts {
            reference,
            signature,
            body,
            message,
        } = sealed
            .parts(self.document, key, entry)
            .ok_or(Unaccepted::Unsealed)?;
        if let Some(ms) = stamp_ms
            && !(self.window_ms.0..self.window_ms.1).contains(&ms)
        {
            return Err(Unaccepted::OutsideDay);
        }
        let certificate = self
            .roster
            .certificate(&reference)
            .ok_or(Unaccepted::UnknownCertificate)?;
        if !self
            .authority
            .event_signed(certificate, &message, &signature)
        {
            return Err(Unaccepted::BadSignature);
        }
        if let Some(ms) = stamp_ms {
            // After its end a certificate writes nothing that counts. Before its
            // start is not refused: a device whose clock lags the admin's machine
            // would lose its first events, and writing into the past gains a thief
            // nothing a revocation does not cover.
            if ms > certificate.valid_until_ms {
                return Err(Unaccepted::OutsideValidity);
            }
        }
        let node = &certificate.author.node;
        if let Some(&from) = self.roster.revoked.get(node) {
            let frozen = self.roster.frozen.get(node);
            match (stamp_ms, frozen) {
                (Some(ms), _) if ms >= from => return Err(Unaccepted::Revoked),
                // A revocation that named no documents: nothing without a stamp counts.
                (None, None) => return Err(Unaccepted::Revoked),
                _ => {}
            }
            // Only what the office held of it when it was revoked counts: a stolen
            // key writing afterwards, into the past or without a stamp, is not there.
            let held = frozen.is_none_or(|frozen| {
                frozen.contains_key(self.document)
                    && self.held.is_some_and(|held| held.holds(node, &signature))
            });
            if !held {
                return Err(Unaccepted::Revoked);
            }
        }
        Ok((&certificate.author, body))
    }
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

pub(crate) fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{TestAuthority, TestSigner};
    use aufruf_model::{Role, node_id};

    const DOCUMENT: &str = "day/2026-11-26";
    const KEY: &str = "ticket:kiosk-1~00000001/1";
    const ENTRY: &str = "1795000000000.0.kiosk-1";
    const BODY: &str = r#"{"Issued":{"service":"anmeldung"}}"#;

    fn roster(signers: &[&TestSigner]) -> Roster {
        let mut roster = Roster::default();
        for signer in signers {
            let short = &signer.fingerprint()[..FINGERPRINT_DIGITS];
            roster.learn(short, TestAuthority.certificate(signer.certificate_der()));
        }
        roster
    }

    fn open(roster: &Roster, sealed: &Sealed) -> Result<(Author, String), Unaccepted> {
        let seals = Seals {
            roster,
            authority: &TestAuthority,
            document: DOCUMENT,
            window_ms: (0, u64::MAX),
            held: None,
        };
        seals
            .open(KEY, ENTRY, sealed, Some(1_795_000_000_000))
            .map(|(author, body)| (author.clone(), body.to_owned()))
    }

    fn kiosk() -> TestSigner {
        TestSigner::new(&node_id!("kiosk-1"), Role::Kiosk)
    }

    #[test]
    fn a_seal_is_bytes_with_a_short_reference_and_opens_to_its_author_and_body() {
        let kiosk = kiosk();
        let sealed = seal(&kiosk, DOCUMENT, KEY, ENTRY, BODY).unwrap();
        // Format tag, 8 reference bytes, signature length, signature, body.
        let signature = kiosk.sign(b"any").unwrap().len();
        assert_eq!(
            sealed.len(),
            1 + REFERENCE_BYTES + 1 + signature + BODY.len()
        );
        assert_eq!(sealed[0], SEAL_FORMAT);
        assert_eq!(
            hex(&sealed[1..=REFERENCE_BYTES]),
            kiosk.fingerprint()[..FINGERPRINT_DIGITS]
        );
        let (author, body) = open(&roster(&[&kiosk]), &Sealed::Bytes(sealed)).unwrap();
        assert_eq!(author.node, node_id!("kiosk-1"));
        assert_eq!(body, BODY);
    }

    #[test]
    fn a_tampered_signature_body_or_place_is_refused() {
        let kiosk = kiosk();
        let roster = roster(&[&kiosk]);
        let sealed = seal(&kiosk, DOCUMENT, KEY, ENTRY, BODY).unwrap();
        let signature_at = 1 + REFERENCE_BYTES + 1;

        let mut forged = sealed.clone();
        forged[signature_at] ^= 0x01;
        assert_eq!(
            open(&roster, &Sealed::Bytes(forged)),
            Err(Unaccepted::BadSignature)
        );

        let mut altered = sealed.clone();
        let last = altered.len() - 3;
        altered[last] = b'X';
        assert_eq!(
            open(&roster, &Sealed::Bytes(altered)),
            Err(Unaccepted::BadSignature)
        );

        // The same seal under another entry (or key, or document) does not count.
        let seals = Seals {
            roster: &roster,
            authority: &TestAuthority,
            document: DOCUMENT,
            window_ms: (0, u64::MAX),
            held: None,
        };
        assert_eq!(
            seals
                .open(KEY, "1795000000001.0.kiosk-1", &Sealed::Bytes(sealed), None)
                .map(|_| ()),
            Err(Unaccepted::BadSignature)
        );
    }

    #[test]
    fn a_wrong_certificate_reference_is_refused() {
        let kiosk = kiosk();
        let display = TestSigner::new(&node_id!("display-1"), Role::Display);
        let roster = roster(&[&kiosk, &display]);
        let sealed = seal(&display, DOCUMENT, KEY, ENTRY, BODY).unwrap();

        // The display's seal made to name the kiosk's certificate: the signature is
        // checked with the kiosk's key, and over the reference, so it fails.
        let mut renamed = sealed.clone();
        let kiosk_reference = unhex(&kiosk.fingerprint()[..FINGERPRINT_DIGITS]).unwrap();
        renamed[1..=REFERENCE_BYTES].copy_from_slice(&kiosk_reference);
        assert_eq!(
            open(&roster, &Sealed::Bytes(renamed)),
            Err(Unaccepted::BadSignature)
        );

        // A reference to no certificate this node has: the entry waits for one.
        let mut unknown = sealed;
        unknown[1] ^= 0xff;
        assert_eq!(
            open(&roster, &Sealed::Bytes(unknown)),
            Err(Unaccepted::UnknownCertificate)
        );
    }

    #[test]
    fn garbled_seals_are_unsealed() {
        let kiosk = kiosk();
        let roster = roster(&[&kiosk]);
        let sealed = seal(&kiosk, DOCUMENT, KEY, ENTRY, BODY).unwrap();
        let mut other_format = sealed.clone();
        other_format[0] = 0xA3;
        let mut long_signature = sealed.clone();
        long_signature[1 + REFERENCE_BYTES] = 0xff;
        let mut not_utf8 = sealed.clone();
        not_utf8.push(0xff);
        for garbled in [
            Vec::new(),
            vec![SEAL_FORMAT],
            sealed[..REFERENCE_BYTES].to_vec(),
            other_format,
            long_signature,
            not_utf8,
        ] {
            assert_eq!(
                open(&roster, &Sealed::Bytes(garbled.clone())),
                Err(Unaccepted::Unsealed),
                "{garbled:?}"
            );
        }
        assert_eq!(
            open(&roster, &Sealed::Text("no seal at all".into())),
            Err(Unaccepted::Unsealed)
        );
    }

    /// Format 1 (text, hex signature over the entry without the domain tag), as
    /// written before format 2, still reads; its signature does not pass for a
    /// format-2 seal's, nor the other way round.
    #[test]
    fn a_format_1_seal_still_reads_and_the_formats_do_not_mix() {
        let kiosk = kiosk();
        let roster = roster(&[&kiosk]);
        let short = &kiosk.fingerprint()[..FINGERPRINT_DIGITS];
        let signature = kiosk.sign(&message_v1(DOCUMENT, KEY, ENTRY, BODY)).unwrap();
        let v1 = format!("{short}:{}:{BODY}", hex(&signature));
        let (author, body) = open(&roster, &Sealed::Text(v1)).unwrap();
        assert_eq!((author.node.as_str(), body.as_str()), ("kiosk-1", BODY));

        // The format-1 signature in a format-2 seal.
        let mut v2 = seal(&kiosk, DOCUMENT, KEY, ENTRY, BODY).unwrap();
        let at = 1 + REFERENCE_BYTES + 1;
        v2[at..at + signature.len()].copy_from_slice(&signature);
        assert_eq!(
            open(&roster, &Sealed::Bytes(v2.clone())),
            Err(Unaccepted::BadSignature)
        );
        // A format-2 signature in format-1 text.
        let v2_signature =
            seal(&kiosk, DOCUMENT, KEY, ENTRY, BODY).unwrap()[at..at + signature.len()].to_vec();
        let mixed = format!("{short}:{}:{BODY}", hex(&v2_signature));
        assert_eq!(
            open(&roster, &Sealed::Text(mixed)),
            Err(Unaccepted::BadSignature)
        );
    }

    #[test]
    fn of_several_revocations_of_a_node_the_earliest_counts_in_any_order() {
        let node = node_id!("desk-2");
        let frozen = |head: u8| -> Frozen {
            [(DOCUMENT.to_owned(), vec![automerge::ChangeHash([head; 32])])].into()
        };
        let revocations = [
            (900, Some(frozen(1))),
            (500, Some(frozen(2))),
            (500, None),
            (500, Some(frozen(3))),
            (700, None),
        ];
        // Every order of reading gives the same roster: from 500 on, without
        // documents (the one without them sorts first at the same time).
        let mut seen = Vec::new();
        for start in 0..revocations.len() {
            let mut roster = Roster::default();
            for k in 0..revocations.len() {
                let (from, frozen) = revocations[(start + k) % revocations.len()].clone();
                roster.revoke(node.clone(), from, frozen);
            }
            seen.push((roster.revoked().clone(), roster.frozen().clone()));
        }
        for (revoked, frozen) in &seen {
            assert_eq!(revoked.get(&node), Some(&500));
            assert!(frozen.is_empty());
        }
        let mut roster = Roster::default();
        roster.revoke(node.clone(), 900, Some(frozen(1)));
        roster.revoke(node.clone(), 500, Some(frozen(3)));
        roster.revoke(node.clone(), 500, Some(frozen(2)));
        assert_eq!(roster.frozen().get(&node).map(|f| &**f), Some(&frozen(2)));
    }
}
