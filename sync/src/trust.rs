//! The office's own certificate authority and the enrollment of nodes.
//!
//! `aufruf office init` calls [`OfficeCa::create`] and keeps the PEM texts;
//! `aufruf office enroll-token` calls [`EnrollmentBook::issue_token`]; `aufruf node
//! enroll` hands the token to [`EnrollmentBook::redeem`], which issues the node's
//! certificate (both TLS client and server use) and forgets the token. The book is
//! plain text ([`EnrollmentBook::to_text`]) so the node crate can store it anywhere.
//!
//! A node certificate names the node in its common name and carries two DNS names:
//! `<node>.<office>.aufruf` and `<office>.aufruf`. Dialers verify the server against
//! the second (they may know only an address), then read the node id from the
//! common name ([`node_of_certificate`]).
//!
//! **Architecture Invariant**: only this module creates or parses certificates.
//! It reads no clock: validity starts and token expiry are checked at a `now` the
//! caller passes.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use ring::rand::SecureRandom;

use crate::name::{NameError, NodeId, OfficeId, Role};

/// How long a node certificate is valid when enrolled: a year, so a key taken from a
/// device is not good forever. A node warns on `/health` and in its log from
/// [`RENEW_BEFORE`] on; it is renewed by enrolling it again (a new token for the same
/// node id), which keeps its earlier events valid: each event names the certificate
/// that signed it, and the office document keeps every certificate.
pub const NODE_CERTIFICATE_VALIDITY: Duration = Duration::from_secs(365 * 24 * 3600);
/// How long before its end a node certificate is reported as due for renewal.
pub const RENEW_BEFORE: Duration = Duration::from_secs(30 * 24 * 3600);
/// The URI in a node certificate's subject alternative names that names its role:
/// `urn:aufruf:role:<code>` (`kiosk`, `desk`, `display`, `gateway`).
const ROLE_URI: &str = "urn:aufruf:role:";
/// How long the office CA is valid.
pub const CA_VALIDITY: Duration = Duration::from_secs(20 * 365 * 24 * 3600);

/// What went wrong issuing or reading certificates.
#[derive(Debug, thiserror::Error)]
pub enum TrustError {
    /// rcgen refused to make or read a certificate or key.
    #[error("certificate: {0}")]
    Certificate(#[from] rcgen::Error),
    /// The token is unknown or was used already.
    #[error("enrollment token unknown or already used")]
    UnknownToken,
    /// The token's time is up.
    #[error("enrollment token expired")]
    ExpiredToken,
    /// The system's random generator failed.
    #[error("no randomness for a token")]
    Randomness,
    /// A certificate that is not an Aufruf node certificate.
    #[error("not an Aufruf node certificate")]
    NotANodeCertificate,
    /// A bad id.
    #[error(transparent)]
    Name(#[from] NameError),
    /// A certificate signing request that does not parse or is not signed by its key.
    #[error("not a valid certificate signing request")]
    BadRequest,
    /// A key or certificate that cannot make or check admin signatures (ECDSA P-256).
    #[error("not an office CA key or certificate (ECDSA P-256)")]
    NotAnAdminKey,
    /// The enrollment book's text does not parse.
    #[error("enrollment book line {0} unreadable")]
    Book(usize),
    /// A certificate not signed by this office's CA, or outside its validity.
    #[error("the certificate is not one of this office's")]
    NotOfThisOffice,
}

/// The office CA: its certificate and private key, as PEM.
#[derive(Clone)]
pub struct OfficeCa {
    /// The office.
    pub office: OfficeId,
    /// The CA certificate (PEM); every node trusts it.
    pub certificate_pem: String,
    /// The CA's private key (PEM); keep it on the gateway / admin machine only.
    pub key_pem: String,
}

impl std::fmt::Debug for OfficeCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OfficeCa")
            .field("office", &self.office)
            .finish_non_exhaustive()
    }
}

/// A node's certificate, key and the CA it trusts, as PEM.
#[derive(Clone)]
pub struct NodeCredentials {
    /// The node.
    pub node: NodeId,
    /// Its certificate (PEM).
    pub certificate_pem: String,
    /// Its private key (PEM).
    pub key_pem: String,
    /// The office CA certificate (PEM).
    pub ca_certificate_pem: String,
}

impl std::fmt::Debug for NodeCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeCredentials")
            .field("node", &self.node)
            .finish_non_exhaustive()
    }
}

/// When a certificate is valid.
#[derive(Clone, Copy, Debug)]
pub struct Validity {
    /// Not before.
    pub from: SystemTime,
    /// Not after.
    pub until: SystemTime,
}

impl Validity {
    /// From `from` (usually the caller's now) for `duration`.
    pub fn starting(from: SystemTime, duration: Duration) -> Self {
        Validity {
            from,
            until: from + duration,
        }
    }
}

/// The DNS name every node certificate of `office` carries, which dialers verify.
pub fn office_server_name(office: &OfficeId) -> String {
    format!("{}.aufruf", office.as_str().to_ascii_lowercase())
}

impl OfficeCa {
    /// Creates a new office CA (ECDSA P-256), valid for [`CA_VALIDITY`] from `now`.
    pub fn create(office: &OfficeId, now: SystemTime) -> Result<OfficeCa, TrustError> {
        let key = KeyPair::generate()?;
        let mut params = CertificateParams::default();
        params.distinguished_name = rcgen::DistinguishedName::new();
        params
            .distinguished_name
            .push(DnType::CommonName, format!("Aufruf office CA {office}"));
        params
            .distinguished_name
            .push(DnType::OrganizationName, office.as_str());
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let validity = Validity::starting(now, CA_VALIDITY);
        params.not_before = validity.from.into();
        params.not_after = validity.until.into();
        let certificate = params.self_signed(&key)?;
        Ok(OfficeCa {
            office: office.clone(),
            certificate_pem: certificate.pem(),
            key_pem: key.serialize_pem(),
        })
    }

    /// Issues a certificate for `node` with the given validity. Enrollment goes
    /// through [`EnrollmentBook::redeem`]; this is for renewals and tests.
    pub fn issue(
        &self,
        node: &NodeId,
        role: Role,
        validity: Validity,
    ) -> Result<NodeCredentials, TrustError> {
        let key = KeyPair::generate()?;
        let certificate_pem = self.certify(node, role, &key, validity)?;
        Ok(NodeCredentials {
            node: node.clone(),
            certificate_pem,
            key_pem: key.serialize_pem(),
            ca_certificate_pem: self.certificate_pem.clone(),
        })
    }

    /// Certifies a node's public key from its certificate signing request (PEM): only
    /// the key is taken from the request; names, uses and validity are the office's.
    /// The node's private key never leaves the node.
    pub fn certify_request(
        &self,
        node: &NodeId,
        role: Role,
        request_pem: &str,
        validity: Validity,
    ) -> Result<String, TrustError> {
        let request = rcgen::CertificateSigningRequestParams::from_pem(request_pem)
            .map_err(|_| TrustError::BadRequest)?;
        self.certify(node, role, &request.public_key, validity)
    }

    /// The node certificate (PEM) for `public_key`: the node in the common name, its
    /// role as `urn:aufruf:role:<code>` among the alternative names.
    fn certify(
        &self,
        node: &NodeId,
        role: Role,
        public_key: &impl rcgen::PublicKeyData,
        validity: Validity,
    ) -> Result<String, TrustError> {
        let ca_key = KeyPair::from_pem(&self.key_pem)?;
        let issuer = Issuer::from_ca_cert_pem(&self.certificate_pem, ca_key)?;
        let office_name = office_server_name(&self.office);
        let mut params = CertificateParams::new(vec![
            format!("{}.{office_name}", node.as_str().to_ascii_lowercase()),
            office_name,
        ])?;
        let role_uri = rcgen::string::Ia5String::try_from(format!("{ROLE_URI}{}", role.name()))?;
        params.subject_alt_names.push(rcgen::SanType::URI(role_uri));
        params.distinguished_name = rcgen::DistinguishedName::new();
        params
            .distinguished_name
            .push(DnType::CommonName, node.as_str());
        params
            .distinguished_name
            .push(DnType::OrganizationName, self.office.as_str());
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        params.use_authority_key_identifier_extension = true;
        params.not_before = validity.from.into();
        params.not_after = validity.until.into();
        Ok(params.signed_by(public_key, &issuer)?.pem())
    }
}

/// A node's new key and the request to certify it, made on the node.
pub struct NodeKey {
    /// The private key (PEM); it stays on the node.
    pub key_pem: String,
    /// The certificate signing request (PEM) sent to the office.
    pub request_pem: String,
}

impl std::fmt::Debug for NodeKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeKey").finish_non_exhaustive()
    }
}

impl NodeKey {
    /// A fresh ECDSA P-256 key and its signing request (the office names the node
    /// from the token, not from the request).
    pub fn generate() -> Result<NodeKey, TrustError> {
        let key = KeyPair::generate()?;
        let mut params = CertificateParams::default();
        params.distinguished_name = rcgen::DistinguishedName::new();
        params
            .distinguished_name
            .push(DnType::CommonName, "aufruf node");
        let request = params.serialize_request(&key)?;
        Ok(NodeKey {
            key_pem: key.serialize_pem(),
            request_pem: request.pem()?,
        })
    }
}

/// The SHA-256 fingerprint (hex) of a certificate (PEM): what an enrollment token
/// carries so a new node knows the office it talks to before it trusts anything.
pub fn fingerprint(certificate_pem: &str) -> Result<String, TrustError> {
    let (_, pem) = x509_parser::pem::parse_x509_pem(certificate_pem.as_bytes())
        .map_err(|_| TrustError::NotAnAdminKey)?;
    Ok(fingerprint_der(&pem.contents))
}

/// The SHA-256 fingerprint (hex) of a certificate (DER).
pub fn fingerprint_der(der: &[u8]) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, der);
    digest.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

/// What an admin signature is made over: this context, then the payload, so a
/// signature over one thing is never a signature over another (the CA key also
/// signs certificates).
const ADMIN_CONTEXT: &[u8] = b"aufruf admin signature v1\0";

impl OfficeCa {
    /// Signs `payload` as the office's administrator (the holder of the CA key): how
    /// `aufruf config apply` vouches for the office's configuration. ECDSA P-256.
    pub fn sign_as_admin(&self, payload: &[u8]) -> Result<Vec<u8>, TrustError> {
        use ring::signature::{ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair};
        let key = KeyPair::from_pem(&self.key_pem)?;
        let random = ring::rand::SystemRandom::new();
        let pair = EcdsaKeyPair::from_pkcs8(
            &ECDSA_P256_SHA256_ASN1_SIGNING,
            &key.serialize_der(),
            &random,
        )
        .map_err(|_| TrustError::NotAnAdminKey)?;
        let mut message = ADMIN_CONTEXT.to_vec();
        message.extend_from_slice(payload);
        let signature = pair
            .sign(&random, &message)
            .map_err(|_| TrustError::Randomness)?;
        Ok(signature.as_ref().to_vec())
    }
}

/// Checks admin signatures against the office CA's certificate, which every node holds:
/// what a node believes about the office's configuration rests on this, not on which
/// peer relayed it.
#[derive(Clone)]
pub struct AdminSignatures {
    public_key: Vec<u8>,
}

impl std::fmt::Debug for AdminSignatures {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdminSignatures").finish_non_exhaustive()
    }
}

impl AdminSignatures {
    /// From the office CA's certificate (PEM).
    pub fn from_ca_pem(pem: &str) -> Result<Self, TrustError> {
        let (_, pem) = x509_parser::pem::parse_x509_pem(pem.as_bytes())
            .map_err(|_| TrustError::NotAnAdminKey)?;
        let certificate = pem.parse_x509().map_err(|_| TrustError::NotAnAdminKey)?;
        Ok(AdminSignatures {
            public_key: certificate.public_key().subject_public_key.data.to_vec(),
        })
    }

    /// Whether the office's administrator signed exactly `payload`.
    pub fn verifies(&self, payload: &[u8], signature: &[u8]) -> bool {
        use ring::signature::{ECDSA_P256_SHA256_ASN1, UnparsedPublicKey};
        let mut message = ADMIN_CONTEXT.to_vec();
        message.extend_from_slice(payload);
        UnparsedPublicKey::new(&ECDSA_P256_SHA256_ASN1, &self.public_key)
            .verify(&message, signature)
            .is_ok()
    }
}

/// What a node certificate of this office says about its holder: who it is, what
/// it may do, when, and the key that signs its events.
#[derive(Clone, PartialEq, Eq)]
pub struct NodeCertificate {
    /// The node (common name).
    pub node: NodeId,
    /// Its role (`urn:aufruf:role:<name>`).
    pub role: Role,
    /// Not before / not after, Unix seconds.
    pub valid_from: i64,
    pub valid_until: i64,
    /// The SHA-256 fingerprint of the certificate (hex): how an event names it.
    pub fingerprint: String,
    /// The subject's public key (uncompressed P-256 point).
    pub public_key: Vec<u8>,
}

impl std::fmt::Debug for NodeCertificate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeCertificate")
            .field("node", &self.node)
            .field("role", &self.role)
            .field("valid_until", &self.valid_until)
            .finish_non_exhaustive()
    }
}

/// Reads a node certificate (DER) without checking who signed it: see
/// [`OfficeTrust::node_certificate`] for that.
pub fn read_node_certificate(der: &[u8]) -> Result<NodeCertificate, TrustError> {
    let (rest, certificate) =
        x509_parser::parse_x509_certificate(der).map_err(|_| TrustError::NotANodeCertificate)?;
    if !rest.is_empty() {
        return Err(TrustError::NotANodeCertificate);
    }
    let node = node_of_certificate(der)?;
    let role = certificate
        .subject_alternative_name()
        .ok()
        .flatten()
        .into_iter()
        .flat_map(|san| san.value.general_names.iter())
        .find_map(|name| match name {
            x509_parser::extensions::GeneralName::URI(uri) => uri.strip_prefix(ROLE_URI),
            _ => None,
        })
        .and_then(|name| name.parse::<Role>().ok())
        .ok_or(TrustError::NotANodeCertificate)?;
    let validity = certificate.validity();
    Ok(NodeCertificate {
        node,
        role,
        valid_from: validity.not_before.timestamp(),
        valid_until: validity.not_after.timestamp(),
        fingerprint: fingerprint_der(der),
        public_key: certificate.public_key().subject_public_key.data.to_vec(),
    })
}

/// What every node checks against its office CA's certificate: node certificates
/// (who wrote an event, in which role) and the administrator's signatures.
#[derive(Clone)]
pub struct OfficeTrust {
    ca_der: Vec<u8>,
    admin: AdminSignatures,
}

impl std::fmt::Debug for OfficeTrust {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OfficeTrust").finish_non_exhaustive()
    }
}

/// What an event signature is made over: this context, then the message, so a
/// node's signature over an event is never one over anything else its key signs
/// (TLS handshakes).
const EVENT_CONTEXT: &[u8] = b"aufruf event signature v1\0";

impl OfficeTrust {
    /// From the office CA's certificate (PEM).
    pub fn from_ca_pem(pem: &str) -> Result<Self, TrustError> {
        let (_, parsed) = x509_parser::pem::parse_x509_pem(pem.as_bytes())
            .map_err(|_| TrustError::NotAnAdminKey)?;
        Ok(OfficeTrust {
            ca_der: parsed.contents.clone(),
            admin: AdminSignatures::from_ca_pem(pem)?,
        })
    }

    /// The administrator's signatures.
    pub fn admin(&self) -> &AdminSignatures {
        &self.admin
    }

    /// A node certificate (DER) if this office's CA signed it (validity is checked
    /// per event, against the event's time, by the caller).
    pub fn node_certificate(&self, der: &[u8]) -> Result<NodeCertificate, TrustError> {
        let (_, ca) = x509_parser::parse_x509_certificate(&self.ca_der)
            .map_err(|_| TrustError::NotAnAdminKey)?;
        let (_, certificate) = x509_parser::parse_x509_certificate(der)
            .map_err(|_| TrustError::NotANodeCertificate)?;
        certificate
            .verify_signature(Some(ca.public_key()))
            .map_err(|_| TrustError::NotOfThisOffice)?;
        read_node_certificate(der)
    }

    /// Whether `certificate`'s key signed exactly `message` as an event.
    pub fn verifies_event(
        &self,
        certificate: &NodeCertificate,
        message: &[u8],
        signature: &[u8],
    ) -> bool {
        verify_event(&certificate.public_key, message, signature)
    }
}

/// Whether the P-256 key `public_key` signed `message` as an event (fixed-size
/// signature, 64 bytes).
pub fn verify_event(public_key: &[u8], message: &[u8], signature: &[u8]) -> bool {
    use ring::signature::{ECDSA_P256_SHA256_FIXED, UnparsedPublicKey};
    let mut signed = Vec::with_capacity(EVENT_CONTEXT.len() + message.len());
    signed.extend_from_slice(EVENT_CONTEXT);
    signed.extend_from_slice(message);
    UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, public_key)
        .verify(&signed, signature)
        .is_ok()
}

/// Signs this node's events with its key: every event it writes names its
/// certificate and carries this signature, so no peer that relays it can change it
/// or write in this node's name.
pub struct EventSigner {
    pair: ring::signature::EcdsaKeyPair,
    random: ring::rand::SystemRandom,
    certificate_der: Vec<u8>,
    fingerprint: String,
}

impl std::fmt::Debug for EventSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventSigner")
            .field("fingerprint", &self.fingerprint)
            .finish_non_exhaustive()
    }
}

impl EventSigner {
    /// From the node's credentials (its key and certificate, PEM).
    pub fn new(credentials: &NodeCredentials) -> Result<Self, TrustError> {
        use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair};
        let key = KeyPair::from_pem(&credentials.key_pem)?;
        let random = ring::rand::SystemRandom::new();
        let pair = EcdsaKeyPair::from_pkcs8(
            &ECDSA_P256_SHA256_FIXED_SIGNING,
            &key.serialize_der(),
            &random,
        )
        .map_err(|_| TrustError::NotANodeCertificate)?;
        let (_, pem) = x509_parser::pem::parse_x509_pem(credentials.certificate_pem.as_bytes())
            .map_err(|_| TrustError::NotANodeCertificate)?;
        let certificate = read_node_certificate(&pem.contents)?;
        if certificate.public_key != ring::signature::KeyPair::public_key(&pair).as_ref() {
            return Err(TrustError::NotANodeCertificate);
        }
        Ok(EventSigner {
            pair,
            random,
            fingerprint: certificate.fingerprint,
            certificate_der: pem.contents,
        })
    }

    /// The node's certificate (DER), which the office document keeps for everyone.
    pub fn certificate_der(&self) -> &[u8] {
        &self.certificate_der
    }

    /// Its SHA-256 fingerprint (hex).
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// The signature (64 bytes) of `message` as an event of this node.
    pub fn sign(&self, message: &[u8]) -> Result<Vec<u8>, TrustError> {
        let mut signed = Vec::with_capacity(EVENT_CONTEXT.len() + message.len());
        signed.extend_from_slice(EVENT_CONTEXT);
        signed.extend_from_slice(message);
        self.pair
            .sign(&self.random, &signed)
            .map(|s| s.as_ref().to_vec())
            .map_err(|_| TrustError::Randomness)
    }
}

/// The node id a PEM node certificate names.
pub fn node_of_certificate_pem(pem: &str) -> Result<NodeId, TrustError> {
    let (_, pem) = x509_parser::pem::parse_x509_pem(pem.as_bytes())
        .map_err(|_| TrustError::NotANodeCertificate)?;
    node_of_certificate(&pem.contents)
}

/// The node id a DER node certificate names (its common name).
pub fn node_of_certificate(der: &[u8]) -> Result<NodeId, TrustError> {
    let (_, certificate) =
        x509_parser::parse_x509_certificate(der).map_err(|_| TrustError::NotANodeCertificate)?;
    let common_name = certificate
        .subject()
        .iter_common_name()
        .next()
        .and_then(|cn| cn.as_str().ok())
        .ok_or(TrustError::NotANodeCertificate)?;
    Ok(NodeId::new(common_name)?)
}

/// A one-time enrollment token: the text an administrator gives to a new device.
#[derive(Clone, PartialEq, Eq)]
pub struct EnrollmentToken(pub String);

impl std::fmt::Debug for EnrollmentToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EnrollmentToken(…)")
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct PendingEnrollment {
    node: NodeId,
    role: Role,
    expires_unix: u64,
}

/// The enrollment tokens handed out and not yet used.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EnrollmentBook {
    pending: BTreeMap<String, PendingEnrollment>,
}

impl EnrollmentBook {
    /// An empty book.
    pub fn new() -> Self {
        Self::default()
    }

    /// Hands out a one-time token for `node` in `role`, valid until `expires`.
    pub fn issue_token(
        &mut self,
        node: NodeId,
        role: Role,
        expires: SystemTime,
    ) -> Result<EnrollmentToken, TrustError> {
        let mut bytes = [0u8; 16];
        ring::rand::SystemRandom::new()
            .fill(&mut bytes)
            .map_err(|_| TrustError::Randomness)?;
        let token: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        self.pending.insert(
            token.clone(),
            PendingEnrollment {
                node,
                role,
                expires_unix: unix_seconds(expires),
            },
        );
        Ok(EnrollmentToken(token))
    }

    /// Uses a token with a node's signing request: certifies the key in it for the
    /// token's node and forgets the token, so it works only once. Returns the
    /// certificate (PEM), the node and its role.
    pub fn redeem_request(
        &mut self,
        ca: &OfficeCa,
        token: &EnrollmentToken,
        request_pem: &str,
        now: SystemTime,
    ) -> Result<(String, NodeId, Role), TrustError> {
        let pending = self.take(token, now)?;
        let certificate = ca.certify_request(
            &pending.node,
            pending.role,
            request_pem,
            Validity {
                from: now,
                until: now + NODE_CERTIFICATE_VALIDITY,
            },
        )?;
        Ok((certificate, pending.node, pending.role))
    }

    /// Removes a token that is known and not expired.
    fn take(
        &mut self,
        token: &EnrollmentToken,
        now: SystemTime,
    ) -> Result<PendingEnrollment, TrustError> {
        let pending = self
            .pending
            .remove(&token.0)
            .ok_or(TrustError::UnknownToken)?;
        if unix_seconds(now) > pending.expires_unix {
            return Err(TrustError::ExpiredToken);
        }
        Ok(pending)
    }

    /// Uses a token: issues the node's certificate and forgets the token, so it
    /// works only once. Returns the role the token was issued for as well.
    pub fn redeem(
        &mut self,
        ca: &OfficeCa,
        token: &EnrollmentToken,
        now: SystemTime,
    ) -> Result<(NodeCredentials, Role), TrustError> {
        let pending = self.take(token, now)?;
        let credentials = ca.issue(
            &pending.node,
            pending.role,
            Validity {
                from: now,
                until: now + NODE_CERTIFICATE_VALIDITY,
            },
        )?;
        Ok((credentials, pending.role))
    }

    /// The book as text: one `token node role-code expiry` per line.
    pub fn to_text(&self) -> String {
        self.pending
            .iter()
            .map(|(token, p)| format!("{token} {} {} {}\n", p.node, p.role.code(), p.expires_unix))
            .collect()
    }

    /// Reads [`to_text`](Self::to_text) back.
    pub fn from_text(text: &str) -> Result<Self, TrustError> {
        let mut pending = BTreeMap::new();
        for (index, line) in text
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
        {
            let bad = || TrustError::Book(index + 1);
            let mut fields = line.split_whitespace();
            let (Some(token), Some(node), Some(role), Some(expires), None) = (
                fields.next(),
                fields.next(),
                fields.next(),
                fields.next(),
                fields.next(),
            ) else {
                return Err(bad());
            };
            let role = role
                .parse()
                .ok()
                .and_then(Role::from_code)
                .ok_or_else(bad)?;
            pending.insert(
                token.to_owned(),
                PendingEnrollment {
                    node: NodeId::new(node)?,
                    role,
                    expires_unix: expires.parse().map_err(|_| bad())?,
                },
            );
        }
        Ok(EnrollmentBook { pending })
    }
}

fn unix_seconds(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 11 March 2026, 00:00 UTC: the tests' now.
    fn now() -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(1_773_187_200)
    }

    #[test]
    fn only_the_office_ca_key_makes_admin_signatures_its_nodes_accept() {
        let office = OfficeId::new("zeitz").unwrap();
        let ca = OfficeCa::create(&office, now()).unwrap();
        let other = OfficeCa::create(&office, now()).unwrap();
        let check = AdminSignatures::from_ca_pem(&ca.certificate_pem).unwrap();
        let payload = b"{\"revision\":2}";
        let signature = ca.sign_as_admin(payload).unwrap();
        assert!(check.verifies(payload, &signature));
        assert!(
            !check.verifies(b"{\"revision\":3}", &signature),
            "tampered payload"
        );
        let forged = other.sign_as_admin(payload).unwrap();
        assert!(!check.verifies(payload, &forged), "another CA's key");
        assert!(!check.verifies(payload, &[]), "no signature");
        assert!(!check.verifies(payload, &signature[..signature.len() - 1]));
        // A node's own key is not the admin's.
        let node = ca
            .issue(
                &NodeId::new("display-1").unwrap(),
                Role::Display,
                Validity::starting(now(), Duration::from_secs(60)),
            )
            .unwrap();
        let as_node = OfficeCa {
            office: office.clone(),
            certificate_pem: node.certificate_pem.clone(),
            key_pem: node.key_pem.clone(),
        };
        assert!(!check.verifies(payload, &as_node.sign_as_admin(payload).unwrap()));
        assert!(matches!(
            AdminSignatures::from_ca_pem("not a certificate"),
            Err(TrustError::NotAnAdminKey)
        ));
    }

    #[test]
    fn a_token_enrolls_exactly_once_and_names_the_node() {
        let office = OfficeId::new("zeitz").unwrap();
        let ca = OfficeCa::create(&office, now()).unwrap();
        let mut book = EnrollmentBook::new();
        let desk = NodeId::new("desk-2").unwrap();
        let token = book
            .issue_token(desk.clone(), Role::Desk, now() + Duration::from_secs(3600))
            .unwrap();
        let mut book = EnrollmentBook::from_text(&book.to_text()).unwrap();
        let (credentials, role) = book.redeem(&ca, &token, now()).unwrap();
        assert_eq!(role, Role::Desk);
        assert_eq!(credentials.node, desk);
        let der = rustls::pki_types::pem::PemObject::from_pem_slice(
            credentials.certificate_pem.as_bytes(),
        )
        .map(|c: rustls::pki_types::CertificateDer<'static>| c.to_vec())
        .unwrap();
        assert_eq!(node_of_certificate(&der).unwrap(), desk);
        assert!(matches!(
            book.redeem(&ca, &token, now()),
            Err(TrustError::UnknownToken)
        ));
    }

    #[test]
    fn an_expired_token_is_refused() {
        let ca = OfficeCa::create(&OfficeId::new("zeitz").unwrap(), now()).unwrap();
        let mut book = EnrollmentBook::new();
        let token = book
            .issue_token(NodeId::new("kiosk-1").unwrap(), Role::Kiosk, now())
            .unwrap();
        let later = now() + Duration::from_secs(120);
        assert!(matches!(
            book.redeem(&ca, &token, later),
            Err(TrustError::ExpiredToken)
        ));
    }
}
