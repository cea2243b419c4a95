//! Stand-ins for the node's cryptography, for tests of the office's rules (the
//! feature `testing`): a certificate is the text `test-certificate <node> <role>`, a
//! signature a keyed hash of the node and the message. Any test can forge them — what
//! they exercise is the sealing, the roles and the revocations, not the ciphers; the
//! node's real ones (ECDSA P-256 over the office CA) are tested in `aufruf-node` and
//! the attack suite of `aufruf-tests`.

use std::hash::{Hash, Hasher};

use aufruf_model::authority::Author;
use aufruf_model::{NodeId, Role};

use crate::authority::{Authority, Certified, Signer};

/// Valid from the epoch for ever, unless a test says otherwise.
const FOREVER: u64 = u64::MAX;

/// A test node's "key".
#[derive(Debug, Clone)]
pub struct TestSigner {
    node: NodeId,
    der: Vec<u8>,
    fingerprint: String,
}

impl TestSigner {
    pub fn new(node: &NodeId, role: Role) -> Self {
        Self::valid(node, role, 0, FOREVER)
    }

    /// A certificate valid only between two Unix milliseconds.
    pub fn valid(node: &NodeId, role: Role, from_ms: u64, until_ms: u64) -> Self {
        let der = format!(
            "test-certificate {node} {} {from_ms} {until_ms}",
            role.name()
        )
        .into_bytes();
        TestSigner {
            node: node.clone(),
            fingerprint: fingerprint(&der),
            der,
        }
    }
}

impl Signer for TestSigner {
    fn certificate_der(&self) -> &[u8] {
        &self.der
    }

    fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, String> {
        Ok(signature(&self.node, message))
    }
}

/// Accepts every `test-certificate`, and as the administrator's signatures those
/// of [`admin_sign`].
#[derive(Debug, Clone, Copy, Default)]
pub struct TestAuthority;

/// The test administrator's signature of `payload`: a keyed hash, so a changed
/// payload or a made-up signature does not verify.
pub fn admin_sign(payload: &[u8]) -> Result<Vec<u8>, std::convert::Infallible> {
    Ok(hash(&[b"the admin's secret", payload])
        .to_be_bytes()
        .to_vec())
}

/// The test keys of `node` in `role`, with [`TestAuthority`].
pub fn test_keys(node: &NodeId, role: Role) -> crate::replicated::Keys {
    crate::replicated::Keys {
        signer: std::sync::Arc::new(TestSigner::new(node, role)),
        authority: std::sync::Arc::new(TestAuthority),
    }
}

impl Authority for TestAuthority {
    fn admin_signed(&self, payload: &[u8], signature: &[u8]) -> bool {
        admin_sign(payload).is_ok_and(|s| s == signature)
    }

    fn certificate(&self, der: &[u8]) -> Option<Certified> {
        let text = std::str::from_utf8(der).ok()?;
        let mut words = text.strip_prefix("test-certificate ")?.split(' ');
        let node = NodeId::new(words.next()?).ok()?;
        let role = words.next()?.parse().ok()?;
        let valid_from_ms = words.next()?.parse().ok()?;
        let valid_until_ms = words.next()?.parse().ok()?;
        Some(Certified {
            fingerprint: fingerprint(der),
            public_key: node.as_str().as_bytes().to_vec(),
            author: Author { node, role },
            valid_from_ms,
            valid_until_ms,
        })
    }

    fn event_signed(&self, certificate: &Certified, message: &[u8], signature: &[u8]) -> bool {
        self::signature(&certificate.author.node, message) == signature
    }
}

fn hash(parts: &[&[u8]]) -> u64 {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    parts.hash(&mut hasher);
    hasher.finish()
}

fn fingerprint(der: &[u8]) -> String {
    format!("{:016x}{:016x}", hash(&[der]), hash(&[der, b"2"]))
}

fn signature(node: &NodeId, message: &[u8]) -> Vec<u8> {
    hash(&[node.as_str().as_bytes(), message])
        .to_be_bytes()
        .to_vec()
}

/// The office service of a test node: `node` in `role` on `replica`, for the office
/// `config` names, keeping a week of days, observed by nobody, with stand-in keys.
pub fn office_service<R: crate::Replication>(
    config: aufruf_model::OfficeConfig,
    node: &NodeId,
    role: Role,
    replica: R,
) -> std::sync::Arc<crate::OfficeService<R>> {
    let setup = crate::Setup {
        office: config.office.id.clone(),
        node: node.clone(),
        retention_days: 7,
    };
    std::sync::Arc::new(crate::OfficeService::new(
        config,
        setup,
        replica,
        std::sync::Arc::new(crate::Unobserved),
        test_keys(node, role),
    ))
}
