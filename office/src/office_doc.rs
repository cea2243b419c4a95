//! The office document (`office`): what outlives a day. It keeps
//!
//! - `config`: the office's configuration as its administrator published it
//!   ([`SignedConfig`]: the TOML text with a revision, signed with the office CA's
//!   key). A node believes a configuration because of its signature, never because of
//!   the peer that relayed it; of the entries it holds (two admins may publish at
//!   once) the valid one with the highest revision counts.
//! - `statistics:<date>`: the statistics of each retired day — counts and times, no
//!   personal data.
//! - `certificate:<fingerprint prefix>`: every node's certificate (DER), put there by
//!   the node itself at start, so every reader can check who sealed an event
//!   ([`crate::authority`]). Believed for the office CA's signature, not for the peer.
//! - `revoked:<node>`: the administrator's signed revocation of a node
//!   ([`SignedRevocation`]): its events stamped from then on do not count anywhere,
//!   and its sessions end. It names the office's day documents as the node the
//!   administrator revoked through held them: of the revoked node's writing only what
//!   they held counts, so a stolen key cannot write into the past.
//!
//! This module is the only writer and reader of that document.

use aufruf_model::statistics::DayStatistics;
use aufruf_model::{ConfigError, OfficeConfig};
use aufruf_sync_protocol::DocumentName;
use automerge::ReadDoc;
use automerge::transaction::Transactable;
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

use aufruf_model::NodeId;

use crate::authority::{
    Authority, FINGERPRINT_DIGITS, Frozen, MAX_CERTIFICATE_BYTES, Roster, Signer, hex, unhex,
};
use crate::day_doc::DayDocError;
use crate::replicated::{Documents, OfficeError};

const STATISTICS: &str = "statistics:";
const CONFIG: &str = "config";
const CERTIFICATE: &str = "certificate:";
const REVOKED: &str = "revoked:";

/// The configuration format this build understands. A configuration of a newer
/// format is refused (the device keeps the one it has) until the device is updated.
pub const CONFIG_FORMAT: u32 = 1;
/// The largest published configuration a node reads (the example office is 4 KiB).
pub const MAX_CONFIG_BYTES: usize = 256 * 1024;
/// The most documents a revocation names: a year of retention and of bookings ahead.
pub const MAX_REVOKED_DOCUMENTS: usize = 800;
/// The most heads a revocation names for one document (a document has one head when
/// the office is in sync, a few while changes cross).
pub const MAX_REVOKED_HEADS: usize = 32;
/// The largest signed revocation a node reads: [`MAX_REVOKED_DOCUMENTS`] documents
/// with a few heads each.
pub const MAX_REVOCATION_BYTES: usize = 256 * 1024;

/// What the administrator signs: the configuration's text and where it belongs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigPayload {
    /// The format of `text`: [`CONFIG_FORMAT`] when written by this build.
    pub format: u32,
    /// Counts up with every publication; a node takes only a higher one.
    pub revision: u64,
    /// The office it is for: a configuration of another office is refused.
    pub office: String,
    /// The configuration, as the administrator's `aufruf.toml` has it.
    pub text: String,
}

impl ConfigPayload {
    /// The bytes that are signed and kept (JSON).
    pub fn to_bytes(&self) -> Vec<u8> {
        // Plain strings and numbers always serialise.
        serde_json::to_vec(self).unwrap_or_default()
    }
}

/// A published configuration: the payload's bytes and the admin's signature of them
/// — or, when `delegate` is there, the signature of the node the administrator let
/// publish it (the gateway's admin pages).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignedConfig {
    /// [`ConfigPayload::to_bytes`], as text.
    pub payload: String,
    /// The signature, hexadecimal.
    pub signature: String,
    /// Who signed instead of the administrator, and the administrator's word for it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delegate: Option<DelegateSeal>,
}

/// What the administrator signs to let one node publish the office's configuration:
/// the gateway, whose admin pages (with their own accounts and second factor) change
/// service names, opening hours, holidays and notices without the office CA's key
/// ever being on a machine the internet reaches. It lasts until the node is revoked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigDelegation {
    pub office: String,
    /// The node that may publish; only with a gateway's certificate.
    pub delegate: NodeId,
    /// What it may do: [`DELEGATED_PURPOSE`].
    pub purpose: String,
}

/// The one thing a delegation lets a node do.
pub const DELEGATED_PURPOSE: &str = "publish the office configuration";

/// A delegation and the administrator's signature of it (`aufruf office delegate`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignedDelegation {
    /// The delegation as JSON.
    pub payload: String,
    /// The administrator's signature, hexadecimal.
    pub signature: String,
}

impl SignedDelegation {
    /// Signs `delegation` with `sign` (the admin's key).
    pub fn new<E>(
        delegation: &ConfigDelegation,
        sign: impl FnOnce(&[u8]) -> Result<Vec<u8>, E>,
    ) -> Result<Self, E> {
        // Plain strings always serialise.
        let payload = serde_json::to_string(delegation).unwrap_or_default();
        let signature = sign(payload.as_bytes())?;
        Ok(SignedDelegation {
            payload,
            signature: hex(&signature),
        })
    }

    /// The delegation, if the administrator signed it, for `office` and for
    /// publishing the configuration.
    pub fn check(&self, admin: &dyn Authority, office: &str) -> Option<ConfigDelegation> {
        let signature = unhex(&self.signature)?;
        if !admin.admin_signed(self.payload.as_bytes(), &signature) {
            return None;
        }
        let delegation: ConfigDelegation = serde_json::from_str(&self.payload).ok()?;
        (delegation.office == office && delegation.purpose == DELEGATED_PURPOSE)
            .then_some(delegation)
    }
}

/// A delegate's signature of a configuration: its delegation and the certificate
/// (the first [`FINGERPRINT_DIGITS`] of its fingerprint) whose key signed.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DelegateSeal {
    pub delegation: SignedDelegation,
    pub certificate: String,
}

/// What a delegate's signature is made over: this tag, then the payload, so it is
/// never a seal of a day's entry (those begin with their own tag).
const DELEGATED_CONFIG_DOMAIN: &[u8] = b"aufruf delegated configuration 1\0";

fn delegated_message(payload: &[u8]) -> Vec<u8> {
    let mut message = DELEGATED_CONFIG_DOMAIN.to_vec();
    message.extend_from_slice(payload);
    message
}

/// A configuration a node accepted: checked, signed, for its office, and readable.
#[derive(Debug, Clone, PartialEq)]
pub struct Published {
    pub revision: u64,
    pub config: OfficeConfig,
    /// The configuration's text, as published (with its comments).
    pub text: String,
    pub signed: SignedConfig,
}

/// Why a published configuration is not taken.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ConfigRefusal {
    #[error("the configuration is larger than {MAX_CONFIG_BYTES} bytes")]
    TooLarge,
    #[error("the configuration is not readable: {0}")]
    Unreadable(String),
    #[error("the configuration is not signed by the office's administrator (the office CA's key)")]
    NotSigned,
    #[error(
        "the configuration is signed by a node the office's administrator did not let publish it (or whose certificate this device does not have)"
    )]
    NotDelegated,
    #[error(
        "the configuration is signed by {0}, which was revoked; the administrator publishes the configuration again"
    )]
    DelegateRevoked(NodeId),
    #[error("the delegation is for {0}, not for this node")]
    DelegatedToAnother(NodeId),
    #[error("the configuration is for office \"{theirs}\", this is \"{ours}\"")]
    OtherOffice { theirs: String, ours: String },
    #[error(
        "the configuration has format {format}; this device understands format {CONFIG_FORMAT} and keeps its configuration until it is updated"
    )]
    NewerFormat { format: u32 },
    #[error("{0}")]
    Invalid(ConfigError),
    #[error("revision {revision} is not newer than revision {current}, which this office has")]
    NotNewer { revision: u64, current: u64 },
}

impl SignedConfig {
    /// Signs `payload` with `sign` (the admin's key).
    pub fn new<E>(
        payload: &ConfigPayload,
        sign: impl FnOnce(&[u8]) -> Result<Vec<u8>, E>,
    ) -> Result<Self, E> {
        let bytes = payload.to_bytes();
        let signature = sign(&bytes)?;
        Ok(SignedConfig {
            payload: String::from_utf8_lossy(&bytes).into_owned(),
            signature: hex(&signature),
            delegate: None,
        })
    }

    /// Signs `payload` with this node's key, as the delegate `delegation` names.
    pub fn by_delegate(
        payload: &ConfigPayload,
        signer: &dyn Signer,
        delegation: &SignedDelegation,
    ) -> Result<Self, String> {
        let bytes = payload.to_bytes();
        let signature = signer.sign(&delegated_message(&bytes))?;
        Ok(SignedConfig {
            payload: String::from_utf8_lossy(&bytes).into_owned(),
            signature: hex(&signature),
            delegate: Some(DelegateSeal {
                delegation: delegation.clone(),
                certificate: signer
                    .fingerprint()
                    .get(..FINGERPRINT_DIGITS)
                    .unwrap_or_default()
                    .to_owned(),
            }),
        })
    }

    /// Checks the signature (the administrator's, or a delegate's whose certificate
    /// `roster` holds and which is not revoked), the office, the format and the
    /// configuration itself.
    pub fn check(
        &self,
        admin: &dyn Authority,
        roster: &Roster,
        office: &str,
    ) -> Result<Published, ConfigRefusal> {
        if self.payload.len() + self.signature.len() > MAX_CONFIG_BYTES {
            return Err(ConfigRefusal::TooLarge);
        }
        let signature = unhex(&self.signature).ok_or(ConfigRefusal::NotSigned)?;
        match &self.delegate {
            None => {
                if !admin.admin_signed(self.payload.as_bytes(), &signature) {
                    return Err(ConfigRefusal::NotSigned);
                }
            }
            Some(seal) => self.check_delegate(seal, &signature, admin, roster, office)?,
        }
        let payload: ConfigPayload = serde_json::from_str(&self.payload)
            .map_err(|e| ConfigRefusal::Unreadable(e.to_string()))?;
        if payload.office != office {
            return Err(ConfigRefusal::OtherOffice {
                theirs: payload.office,
                ours: office.to_owned(),
            });
        }
        if payload.format > CONFIG_FORMAT {
            return Err(ConfigRefusal::NewerFormat {
                format: payload.format,
            });
        }
        let origin = format!("office configuration revision {}", payload.revision);
        let config =
            OfficeConfig::from_toml(&origin, &payload.text).map_err(ConfigRefusal::Invalid)?;
        if config.office.id.as_str() != office {
            return Err(ConfigRefusal::OtherOffice {
                theirs: config.office.id.to_string(),
                ours: office.to_owned(),
            });
        }
        Ok(Published {
            revision: payload.revision,
            config,
            text: payload.text,
            signed: self.clone(),
        })
    }

    fn check_delegate(
        &self,
        seal: &DelegateSeal,
        signature: &[u8],
        admin: &dyn Authority,
        roster: &Roster,
        office: &str,
    ) -> Result<(), ConfigRefusal> {
        let delegation = seal
            .delegation
            .check(admin, office)
            .ok_or(ConfigRefusal::NotDelegated)?;
        let certified = roster
            .certificate(&seal.certificate)
            .filter(|c| c.author.node == delegation.delegate && c.author.role.faces_citizens())
            .ok_or(ConfigRefusal::NotDelegated)?;
        if roster.revoked().contains_key(&delegation.delegate) {
            return Err(ConfigRefusal::DelegateRevoked(delegation.delegate));
        }
        if !admin.event_signed(
            certified,
            &delegated_message(self.payload.as_bytes()),
            signature,
        ) {
            return Err(ConfigRefusal::NotSigned);
        }
        Ok(())
    }

    /// The order in which concurrent publications win: higher revision, then (for
    /// two admins publishing the same revision at once) the larger signature, so
    /// every node picks the same one.
    pub fn rank(published: &Published) -> (u64, &str) {
        (published.revision, published.signed.signature.as_str())
    }
}

/// Keeps `signed` as the office's configuration, durably; peers receive it like any
/// change. Check it first ([`SignedConfig::check`]).
pub fn keep_config(
    documents: &mut impl Documents,
    signed: &SignedConfig,
) -> Result<(), OfficeError> {
    let bytes = serde_json::to_vec(signed).map_err(DayDocError::from)?;
    documents.change_durably(&DocumentName::Office, &mut |tx| {
        tx.put(
            automerge::ROOT,
            CONFIG,
            automerge::ScalarValue::Bytes(bytes.clone()),
        )?;
        Ok(())
    })
}

/// The office document's heads: they change when anything in it does.
pub fn heads(documents: &impl Documents) -> Vec<automerge::ChangeHash> {
    documents
        .read_document(&DocumentName::Office, |doc| doc.get_heads())
        .unwrap_or_default()
}

/// Every configuration entry the office document was ever given (several when
/// admins published concurrently or one after another), unchecked; oversized or
/// unreadable entries are left out. Read from the document's history, like the
/// roster: any enrolled key can overwrite or delete the `config` key, none can take
/// back what an administrator published, so a device that starts after such an
/// overwrite still finds the office's configuration.
pub fn config_entries(documents: &impl Documents) -> Vec<SignedConfig> {
    documents
        .read_document(&DocumentName::Office, |doc| {
            let mut entries = Vec::new();
            for change in doc.get_changes(&[]) {
                for op in change.decode().operations {
                    let (automerge::legacy::ObjectId::Root, automerge::legacy::Key::Map(key)) =
                        (&op.obj, &op.key)
                    else {
                        continue;
                    };
                    if key.as_str() != CONFIG {
                        continue;
                    }
                    if let automerge::legacy::OpType::Put(automerge::ScalarValue::Bytes(bytes)) =
                        &op.action
                        && bytes.len() <= MAX_CONFIG_BYTES
                        && let Ok(entry) = serde_json::from_slice::<SignedConfig>(bytes)
                        && !entries.contains(&entry)
                    {
                        entries.push(entry);
                    }
                }
            }
            entries
        })
        .unwrap_or_default()
}

/// The winning valid configuration among `entries`, and the entries refused, with why.
pub fn best_config(
    entries: &[SignedConfig],
    admin: &dyn Authority,
    roster: &Roster,
    office: &str,
) -> (Option<Published>, Vec<(SignedConfig, ConfigRefusal)>) {
    let mut best: Option<Published> = None;
    let mut refused = Vec::new();
    for entry in entries {
        match entry.check(admin, roster, office) {
            Ok(published) => {
                if best
                    .as_ref()
                    .is_none_or(|b| SignedConfig::rank(&published) > SignedConfig::rank(b))
                {
                    best = Some(published);
                }
            }
            Err(refusal) => refused.push((entry.clone(), refusal)),
        }
    }
    (best, refused)
}

/// The configuration the office document holds, if a valid one.
pub fn published_config(
    documents: &impl Documents,
    admin: &dyn Authority,
    office: &str,
) -> Option<Published> {
    let mut roster = Roster::default();
    update_roster(documents, admin, office, &mut roster);
    best_config(&config_entries(documents), admin, &roster, office).0
}

/// Puts this node's certificate into the office document, durably, unless it is
/// there: peers need it to believe what this node writes.
pub fn keep_certificate(
    documents: &mut impl Documents,
    signer: &dyn Signer,
) -> Result<(), OfficeError> {
    let short = signer
        .fingerprint()
        .get(..FINGERPRINT_DIGITS)
        .ok_or_else(|| OfficeError::Store("a certificate fingerprint too short".into()))?;
    let key = format!("{CERTIFICATE}{short}");
    let present = documents
        .read_document(&DocumentName::Office, |doc| {
            doc.get(automerge::ROOT, key.as_str())
                .ok()
                .flatten()
                .is_some()
        })
        .unwrap_or(false);
    if present {
        return Ok(());
    }
    let der = signer.certificate_der().to_vec();
    documents.change_durably(&DocumentName::Office, &mut |tx| {
        tx.put(
            automerge::ROOT,
            key.as_str(),
            automerge::ScalarValue::Bytes(der.clone()),
        )?;
        Ok(())
    })
}

/// Brings `roster` up to the office document: checks certificates it has not judged
/// yet, and takes every valid revocation. Returns whether anything changed.
pub fn update_roster(
    documents: &impl Documents,
    authority: &dyn Authority,
    office: &str,
    roster: &mut Roster,
) -> bool {
    let before = (roster.len(), roster.revoked().clone());
    documents.read_document(&DocumentName::Office, |doc| {
        // Read from the document's history, not from its current values: any peer
        // can overwrite or delete a key, but none can take back what was written. A
        // revocation (or a certificate) once in the office stays, also for a node
        // that starts after a thief deleted it. Only changes new since the last read
        // are decoded.
        for change in doc.get_changes(roster.history_read()) {
            for op in change.decode().operations {
                let (automerge::legacy::ObjectId::Root, automerge::legacy::Key::Map(key)) =
                    (&op.obj, &op.key)
                else {
                    continue;
                };
                let automerge::legacy::OpType::Put(automerge::ScalarValue::Bytes(bytes)) =
                    &op.action
                else {
                    continue;
                };
                if let Some(short) = key.strip_prefix(CERTIFICATE) {
                    if bytes.len() > MAX_CERTIFICATE_BYTES {
                        continue;
                    }
                    if roster.certificate(short).is_none() {
                        roster.learn(short, authority.certificate(bytes));
                    }
                } else if key.starts_with(REVOKED) {
                    if bytes.len() > MAX_REVOCATION_BYTES {
                        continue;
                    }
                    let revocation = serde_json::from_slice::<SignedRevocation>(bytes)
                        .ok()
                        .and_then(|r| r.check(authority, office));
                    if let Some(revocation) = revocation {
                        let frozen = revocation.frozen();
                        roster.revoke(revocation.node, revocation.from_ms, frozen);
                    }
                }
            }
        }
        roster.set_history_read(doc.get_heads());
    });
    (roster.len(), roster.revoked().clone()) != before
}

/// What the administrator signs to revoke a node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Revocation {
    pub office: String,
    pub node: NodeId,
    /// The node's events stamped from this Unix millisecond on do not count.
    pub from_ms: u64,
    /// The office's day documents as the node the administrator revoked through held
    /// them: by name, their heads (hexadecimal). Of the revoked node's writing only
    /// what these held counts ([`crate::authority::Held`]). Absent (revocations
    /// before it was named): its entries without a stamp (bookings) do not count,
    /// those stamped before `from_ms` do.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub documents: Option<BTreeMap<String, Vec<String>>>,
}

impl Revocation {
    /// The documents named, with their heads; `None` when none are named.
    /// [`SignedRevocation::check`] has made sure every name and head reads.
    pub fn frozen(&self) -> Option<Frozen> {
        let documents = self.documents.as_ref()?;
        Some(
            documents
                .iter()
                .map(|(name, heads)| {
                    let heads = heads.iter().filter_map(|h| h.parse().ok()).collect();
                    (name.clone(), heads)
                })
                .collect(),
        )
    }

    /// Whether the named documents are within bounds and read: day documents, at
    /// most [`MAX_REVOKED_DOCUMENTS`] of them, each with at least one and at most
    /// [`MAX_REVOKED_HEADS`] heads.
    fn documents_read(&self) -> bool {
        let Some(documents) = &self.documents else {
            return true;
        };
        documents.len() <= MAX_REVOKED_DOCUMENTS
            && documents.iter().all(|(name, heads)| {
                DocumentName::parse(name).is_ok_and(|parsed| {
                    matches!(parsed, DocumentName::Day { .. }) && parsed.to_string() == *name
                }) && (1..=MAX_REVOKED_HEADS).contains(&heads.len())
                    && heads
                        .iter()
                        .all(|h| h.parse::<automerge::ChangeHash>().is_ok())
            })
    }
}

/// The office's day documents as `documents` holds them, named for a revocation
/// ([`Revocation::documents`]): the newest [`MAX_REVOKED_DOCUMENTS`] days.
pub fn held_documents(
    documents: &impl Documents,
    names: &[DocumentName],
) -> BTreeMap<String, Vec<String>> {
    let mut days: Vec<&DocumentName> = names
        .iter()
        .filter(|name| matches!(name, DocumentName::Day { .. }))
        .collect();
    days.sort_unstable();
    days.dedup();
    let newest = days.len().saturating_sub(MAX_REVOKED_DOCUMENTS);
    days.into_iter()
        .skip(newest)
        .filter_map(|name| {
            let heads = documents.read_document(name, |doc| doc.get_heads())?;
            let heads: Vec<String> = heads
                .iter()
                .take(MAX_REVOKED_HEADS)
                .map(ToString::to_string)
                .collect();
            (!heads.is_empty()).then(|| (name.to_string(), heads))
        })
        .collect()
}

/// A revocation and the administrator's signature of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignedRevocation {
    /// The revocation as JSON.
    pub payload: String,
    /// The signature, hexadecimal.
    pub signature: String,
}

impl SignedRevocation {
    /// Signs `revocation` with `sign` (the admin's key).
    pub fn new<E>(
        revocation: &Revocation,
        sign: impl FnOnce(&[u8]) -> Result<Vec<u8>, E>,
    ) -> Result<Self, E> {
        // Plain strings and numbers always serialise.
        let payload = serde_json::to_string(revocation).unwrap_or_default();
        let signature = sign(payload.as_bytes())?;
        Ok(SignedRevocation {
            payload,
            signature: hex(&signature),
        })
    }

    /// The revocation, if the administrator signed it and it is for `office`.
    pub fn check(&self, admin: &dyn Authority, office: &str) -> Option<Revocation> {
        let signature = unhex(&self.signature)?;
        if !admin.admin_signed(self.payload.as_bytes(), &signature) {
            return None;
        }
        let revocation: Revocation = serde_json::from_str(&self.payload).ok()?;
        (revocation.office == office && revocation.documents_read()).then_some(revocation)
    }
}

/// Keeps a checked revocation in the office document, durably.
pub fn keep_revocation(
    documents: &mut impl Documents,
    revocation: &Revocation,
    signed: &SignedRevocation,
) -> Result<(), OfficeError> {
    let key = format!("{REVOKED}{}", revocation.node);
    let bytes = serde_json::to_vec(signed).map_err(DayDocError::from)?;
    documents.change_durably(&DocumentName::Office, &mut |tx| {
        tx.put(
            automerge::ROOT,
            key.as_str(),
            automerge::ScalarValue::Bytes(bytes.clone()),
        )?;
        Ok(())
    })
}

/// Keeps a day's statistics in the office document, durably.
pub fn keep_statistics(
    documents: &mut impl Documents,
    statistics: &DayStatistics,
) -> Result<(), OfficeError> {
    let key = format!("{STATISTICS}{}", statistics.date);
    let text = serde_json::to_string(statistics).map_err(DayDocError::from)?;
    documents.change_durably(&DocumentName::Office, &mut |tx| {
        tx.put(automerge::ROOT, key.as_str(), text.as_str())?;
        Ok(())
    })
}

/// The statistics kept of a day, if any.
pub fn statistics(documents: &impl Documents, date: NaiveDate) -> Option<DayStatistics> {
    let key = format!("{STATISTICS}{date}");
    documents
        .read_document(&DocumentName::Office, |doc| {
            match doc.get(automerge::ROOT, key.as_str()).ok().flatten() {
                Some((automerge::Value::Scalar(s), _)) => {
                    s.as_str().and_then(|text| serde_json::from_str(text).ok())
                }
                _ => None,
            }
        })
        .flatten()
}
