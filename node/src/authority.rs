//! The office's trust and this node's key, as the office service uses them: ECDSA
//! P-256 over the office CA ([`aufruf_sync::trust`]).

use std::sync::Arc;

use aufruf_office::authority::{Authority, Certified, Signer};
use aufruf_office::replicated::Keys;
use aufruf_sync::trust::{self, EventSigner, NodeCredentials, OfficeTrust, TrustError};

/// Checks certificates, events and the administrator's signatures against the office
/// CA's certificate.
#[derive(Debug, Clone)]
pub struct NodeAuthority(OfficeTrust);

impl NodeAuthority {
    /// From the office CA's certificate (PEM).
    pub fn from_ca_pem(pem: &str) -> Result<Self, TrustError> {
        Ok(NodeAuthority(OfficeTrust::from_ca_pem(pem)?))
    }
}

fn unix_ms(seconds: i64) -> u64 {
    u64::try_from(seconds).unwrap_or(0).saturating_mul(1000)
}

impl Authority for NodeAuthority {
    fn admin_signed(&self, payload: &[u8], signature: &[u8]) -> bool {
        self.0.admin().verifies(payload, signature)
    }

    fn certificate(&self, der: &[u8]) -> Option<Certified> {
        let certificate = self.0.node_certificate(der).ok()?;
        Some(Certified {
            author: aufruf_model::authority::Author {
                node: certificate.node,
                role: certificate.role,
            },
            valid_from_ms: unix_ms(certificate.valid_from),
            valid_until_ms: unix_ms(certificate.valid_until),
            fingerprint: certificate.fingerprint,
            public_key: certificate.public_key,
        })
    }

    fn event_signed(&self, certificate: &Certified, message: &[u8], signature: &[u8]) -> bool {
        trust::verify_event(&certificate.public_key, message, signature)
    }
}

/// This node's key.
#[derive(Debug)]
pub struct NodeSigner(EventSigner);

impl Signer for NodeSigner {
    fn certificate_der(&self) -> &[u8] {
        self.0.certificate_der()
    }

    fn fingerprint(&self) -> &str {
        self.0.fingerprint()
    }

    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, String> {
        self.0.sign(message).map_err(|e| e.to_string())
    }
}

/// The keys of a node with these credentials.
pub fn keys(credentials: &NodeCredentials) -> Result<Keys, TrustError> {
    Ok(Keys {
        signer: Arc::new(NodeSigner(EventSigner::new(credentials)?)),
        authority: Arc::new(NodeAuthority::from_ca_pem(&credentials.ca_certificate_pem)?),
    })
}
