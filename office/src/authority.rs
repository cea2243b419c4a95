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

use std::collections::{BTreeMap, BTreeSet, HashMap};
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

    /// Revokes `node` from `from_ms` on (the earliest revocation counts).
    pub fn revoke(&mut self, node: NodeId, from_ms: u64) {
        let from = self.revoked.entry(node).or_insert(from_ms);
        *from = (*from).min(from_ms);
    }

    /// The revoked nodes and since when.
    pub fn revoked(&self) -> &BTreeMap<NodeId, u64> {
        &self.revoked
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
}

impl fmt::Debug for Seals<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Seals")
            .field("document", &self.document)
            .finish_non_exhaustive()
    }
}

/// What is signed: the document, the root key, the entry under it and the value, each
/// ended by a NUL (none of them contains one: names are checked, JSON escapes it).
fn message(document: &str, key: &str, entry: &str, body: &str) -> Vec<u8> {
    let mut m = Vec::with_capacity(document.len() + key.len() + entry.len() + body.len() + 3);
    for part in [document, key, entry] {
        m.extend_from_slice(part.as_bytes());
        m.push(0);
    }
    m.extend_from_slice(body.as_bytes());
    m
}

/// `body` sealed by `signer` as entry `entry` of `key` in `document`:
/// `<fingerprint prefix>:<signature hex>:<body>`.
pub fn seal(
    signer: &dyn Signer,
    document: &str,
    key: &str,
    entry: &str,
    body: &str,
) -> Result<String, String> {
    let signature = signer.sign(&message(document, key, entry, body))?;
    let short = signer
        .fingerprint()
        .get(..FINGERPRINT_DIGITS)
        .ok_or("a fingerprint too short")?;
    Ok(format!("{short}:{}:{body}", hex(&signature)))
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
        sealed: &'t str,
        stamp_ms: Option<u64>,
    ) -> Result<(&Author, &'t str), Unaccepted> {
        let mut parts = sealed.splitn(3, ':');
        let (Some(short), Some(signature), Some(body)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(Unaccepted::Unsealed);
        };
        let signature = unhex(signature).ok_or(Unaccepted::Unsealed)?;
        if let Some(ms) = stamp_ms
            && !(self.window_ms.0..self.window_ms.1).contains(&ms)
        {
            return Err(Unaccepted::OutsideDay);
        }
        let certificate = self
            .roster
            .certificate(short)
            .ok_or(Unaccepted::UnknownCertificate)?;
        if !self.authority.event_signed(
            certificate,
            &message(self.document, key, entry, body),
            &signature,
        ) {
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
            if self
                .roster
                .revoked
                .get(&certificate.author.node)
                .is_some_and(|from| ms >= *from)
            {
                return Err(Unaccepted::Revoked);
            }
        } else if self.roster.revoked.contains_key(&certificate.author.node) {
            return Err(Unaccepted::Revoked);
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
