//! Enrollment over the network: a new device sends its certificate signing request
//! and its one-time token to the office's enrollment service and gets its
//! certificate back. The CA key stays where the service runs (the admin's machine);
//! the node's key never leaves the device.
//!
//! The device trusts nothing yet, so the token carries the office CA's fingerprint
//! (`<secret>.<sha256 of the CA certificate>`); the service presents the CA
//! certificate itself, and the device accepts exactly that one. One JSON line each
//! way, bounded in size and time.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};
use tokio_rustls::{TlsAcceptor, TlsConnector};

use crate::name::{NodeId, Role};
use crate::trust::{self, EnrollmentToken, NodeCredentials, NodeKey, OfficeCa};

/// The largest request or answer line.
const MAX_LINE: usize = 64 * 1024;
/// How long one enrollment may take, handshake included.
const WITHIN: Duration = Duration::from_secs(10);
/// Enrollments served at once.
const AT_ONCE: usize = 8;

/// What went wrong enrolling.
#[derive(Debug, thiserror::Error)]
pub enum EnrollError {
    #[error("the token is not `<secret>.<office fingerprint>` as `aufruf office token` prints it")]
    BadToken,
    #[error("cannot reach the office's enrollment service at {address}: {source}")]
    Connect {
        address: SocketAddr,
        source: std::io::Error,
    },
    #[error("the service at {0} is not this office's (its certificate does not match the token)")]
    NotTheOffice(SocketAddr),
    #[error("the office refused: {0}")]
    Refused(String),
    #[error("the enrollment took longer than {} s", WITHIN.as_secs())]
    TimedOut,
    #[error("the office's answer is not readable: {0}")]
    Answer(String),
    #[error(transparent)]
    Trust(#[from] trust::TrustError),
    #[error("tls: {0}")]
    Tls(#[from] rustls::Error),
}

/// An enrollment token as a device gets it: the secret and the office's fingerprint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkToken {
    pub secret: EnrollmentToken,
    pub fingerprint: String,
}

impl NetworkToken {
    /// `<secret>.<fingerprint>`.
    pub fn parse(text: &str) -> Result<Self, EnrollError> {
        let (secret, fingerprint) = text.trim().split_once('.').ok_or(EnrollError::BadToken)?;
        let hex = |s: &str, len: usize| s.len() == len && s.bytes().all(|b| b.is_ascii_hexdigit());
        if !hex(secret, 32) || !hex(fingerprint, 64) {
            return Err(EnrollError::BadToken);
        }
        Ok(NetworkToken {
            secret: EnrollmentToken(secret.to_ascii_lowercase()),
            fingerprint: fingerprint.to_ascii_lowercase(),
        })
    }

    /// The text form.
    pub fn text(secret: &EnrollmentToken, ca: &OfficeCa) -> Result<String, EnrollError> {
        Ok(format!(
            "{}.{}",
            secret.0,
            trust::fingerprint(&ca.certificate_pem)?
        ))
    }
}

#[derive(Serialize, Deserialize)]
struct Request {
    token: String,
    request: String,
}

#[derive(Serialize, Deserialize)]
struct Answer {
    #[serde(default)]
    certificate: Option<String>,
    #[serde(default)]
    ca: Option<String>,
    #[serde(default)]
    node: Option<String>,
    #[serde(default)]
    role: Option<String>,
    #[serde(default)]
    error: Option<String>,
}

/// How the service redeems a token with a signing request: the certificate (PEM),
/// the node and its role, or why not.
pub type Redeem =
    dyn Fn(&EnrollmentToken, &str) -> Result<(String, NodeId, Role), String> + Send + Sync;

/// Serves enrollments on `listener` until `stop` turns true, presenting the CA
/// certificate (and key) of `ca`.
pub async fn serve(
    listener: TcpListener,
    ca: &OfficeCa,
    provider: Arc<CryptoProvider>,
    redeem: Arc<Redeem>,
    mut stop: watch::Receiver<bool>,
) -> Result<(), EnrollError> {
    let certificate = CertificateDer::from_pem_slice(ca.certificate_pem.as_bytes())
        .map_err(|e| EnrollError::Answer(format!("CA certificate: {e}")))?;
    let key = PrivateKeyDer::from_pem_slice(ca.key_pem.as_bytes())
        .map_err(|e| EnrollError::Answer(format!("CA key: {e}")))?;
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_no_client_auth()
        .with_single_cert(vec![certificate], key)?;
    let acceptor = TlsAcceptor::from(Arc::new(config));
    let ca_pem = ca.certificate_pem.clone();
    let at_once = Arc::new(Semaphore::new(AT_ONCE));
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = stop.wait_for(|s| *s) => return Ok(()),
        };
        let (tcp, address) = match accepted {
            Ok(accepted) => accepted,
            Err(error) => {
                tracing::warn!(%error, "enrollment service cannot accept; pausing");
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
        };
        let Ok(permit) = at_once.clone().try_acquire_owned() else {
            continue;
        };
        let (acceptor, redeem, ca_pem) = (acceptor.clone(), redeem.clone(), ca_pem.clone());
        tokio::spawn(async move {
            let served = tokio::time::timeout(WITHIN, async {
                let stream = acceptor.accept(tcp).await?;
                serve_one(stream, &*redeem, &ca_pem).await
            })
            .await;
            match served {
                Ok(Ok(node)) => tracing::info!(%address, node = %node, "device enrolled"),
                Ok(Err(error)) => tracing::info!(%address, %error, "enrollment refused"),
                Err(_) => tracing::info!(%address, "enrollment timed out"),
            }
            drop(permit);
        });
    }
}

async fn serve_one<S: AsyncRead + AsyncWrite + Unpin>(
    stream: S,
    redeem: &Redeem,
    ca_pem: &str,
) -> std::io::Result<String> {
    let mut stream = BufReader::new(stream);
    let line = read_line(&mut stream).await?;
    let (answer, outcome) = match serde_json::from_str::<Request>(&line) {
        Err(_) => (
            error_answer("not an enrollment request"),
            "unreadable".to_owned(),
        ),
        Ok(request) => match redeem(&EnrollmentToken(request.token), &request.request) {
            Ok((certificate, node, role)) => (
                Answer {
                    certificate: Some(certificate),
                    ca: Some(ca_pem.to_owned()),
                    node: Some(node.to_string()),
                    role: Some(role.name().to_owned()),
                    error: None,
                },
                node.to_string(),
            ),
            Err(error) => (error_answer(&error), error),
        },
    };
    let mut text = serde_json::to_string(&answer).unwrap_or_default();
    text.push('\n');
    stream.get_mut().write_all(text.as_bytes()).await?;
    stream.get_mut().shutdown().await?;
    if answer.error.is_some() {
        return Err(std::io::Error::other(outcome));
    }
    Ok(outcome)
}

fn error_answer(error: &str) -> Answer {
    Answer {
        certificate: None,
        ca: None,
        node: None,
        role: None,
        error: Some(error.to_owned()),
    }
}

/// One line, at most [`MAX_LINE`] bytes.
async fn read_line<R: AsyncBufReadExt + Unpin>(reader: &mut R) -> std::io::Result<String> {
    let mut line = Vec::new();
    let mut limited = tokio::io::AsyncReadExt::take(reader, MAX_LINE as u64);
    limited.read_until(b'\n', &mut line).await?;
    if line.last() != Some(&b'\n') {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "line too long or cut short",
        ));
    }
    String::from_utf8(line).map_err(|_| std::io::ErrorKind::InvalidData.into())
}

/// Enrolls this device with the service at `address`: makes the key here, sends
/// only the signing request, and returns the credentials with the node id and role
/// the office's token gave.
pub async fn enroll(
    address: SocketAddr,
    token: &NetworkToken,
    provider: Arc<CryptoProvider>,
) -> Result<(NodeCredentials, Role), EnrollError> {
    let key = NodeKey::generate()?;
    let verifier = Arc::new(Pinned {
        fingerprint: token.fingerprint.clone(),
        provider: provider.clone(),
    });
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    let answer = tokio::time::timeout(WITHIN, async {
        let tcp = TcpStream::connect(address)
            .await
            .map_err(|source| EnrollError::Connect { address, source })?;
        let name = ServerName::try_from("aufruf-enrollment")
            .map_err(|e| EnrollError::Answer(e.to_string()))?;
        let stream = TlsConnector::from(Arc::new(config))
            .connect(name, tcp)
            .await
            .map_err(|source| {
                if source.kind() == std::io::ErrorKind::InvalidData {
                    EnrollError::NotTheOffice(address)
                } else {
                    EnrollError::Connect { address, source }
                }
            })?;
        let mut stream = BufReader::new(stream);
        let mut request = serde_json::to_string(&Request {
            token: token.secret.0.clone(),
            request: key.request_pem.clone(),
        })
        .map_err(|e| EnrollError::Answer(e.to_string()))?;
        request.push('\n');
        stream
            .get_mut()
            .write_all(request.as_bytes())
            .await
            .map_err(|source| EnrollError::Connect { address, source })?;
        let line = read_line(&mut stream)
            .await
            .map_err(|e| EnrollError::Answer(e.to_string()))?;
        serde_json::from_str::<Answer>(&line).map_err(|e| EnrollError::Answer(e.to_string()))
    })
    .await
    .map_err(|_| EnrollError::TimedOut)??;
    if let Some(error) = answer.error {
        return Err(EnrollError::Refused(error));
    }
    let (Some(certificate_pem), Some(ca_certificate_pem), Some(node), Some(role)) =
        (answer.certificate, answer.ca, answer.node, answer.role)
    else {
        return Err(EnrollError::Answer(
            "certificate, CA, node or role missing".into(),
        ));
    };
    let node = NodeId::new(node.as_str()).map_err(|e| EnrollError::Answer(e.to_string()))?;
    if trust::node_of_certificate_pem(&certificate_pem)? != node {
        return Err(EnrollError::Answer(
            "the certificate names another node".into(),
        ));
    }
    if trust::fingerprint(&ca_certificate_pem)? != token.fingerprint {
        return Err(EnrollError::NotTheOffice(address));
    }
    let role: Role = role
        .parse()
        .map_err(|_| EnrollError::Answer(format!("role {role:?}")))?;
    Ok((
        NodeCredentials {
            node,
            certificate_pem,
            key_pem: key.key_pem,
            ca_certificate_pem,
        },
        role,
    ))
}

/// Accepts exactly the certificate whose SHA-256 the token names.
#[derive(Debug)]
struct Pinned {
    fingerprint: String,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for Pinned {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if trust::fingerprint_der(end_entity.as_ref()) == self.fingerprint {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::ApplicationVerificationFailure,
            ))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}
