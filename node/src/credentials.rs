//! Certificates on disk: the office folder (`aufruf office init`) with the office CA
//! and the enrollment book, and a node's credentials folder (`aufruf node enroll`).
//!
//! ```text
//! office/                      credentials/
//!   office-id                    ca.crt     the office CA's certificate
//!   ca.crt                       node.crt   this node's certificate
//!   ca.key        (0600)         node.key   its key (0600)
//!   enrollment.book (0600)
//! ```

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use aufruf_sync::trust::{EnrollmentBook, EnrollmentToken, NodeCredentials, OfficeCa, TrustError};
use aufruf_sync::{NodeId, OfficeId, Role};

/// What went wrong with a credentials folder.
#[derive(Debug, thiserror::Error)]
pub enum CredentialsError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}")]
    Trust(#[from] TrustError),
    #[error("{path}: {problem}")]
    Invalid { path: PathBuf, problem: String },
    #[error("{0} already holds an office; refusing to overwrite its CA")]
    Exists(PathBuf),
    #[error(
        "the node's certificate names the role \"{certified}\", but [node] role is \"{configured}\": a node acts in the role it was enrolled for (enrol it again for another)"
    )]
    WrongRole {
        certified: aufruf_model::Role,
        configured: aufruf_model::Role,
    },
}

fn read(path: &Path) -> Result<String, CredentialsError> {
    std::fs::read_to_string(path).map_err(|source| CredentialsError::Io {
        path: path.to_owned(),
        source,
    })
}

/// Writes `text` to `path`. A secret is created with mode 0600 in the very call that
/// creates it (no moment in which others may read it), and an existing file is made
/// 0600 before the secret is written into it. (On Windows a file takes its folder's
/// access list: the credentials belong in a folder of the clerk's own profile.)
fn write(path: &Path, text: &str, secret: bool) -> Result<(), CredentialsError> {
    use std::io::Write;
    let io = |source| CredentialsError::Io {
        path: path.to_owned(),
        source,
    };
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true);
    #[cfg(not(unix))]
    let _ = secret;
    #[cfg(unix)]
    if secret {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path).map_err(io)?;
    #[cfg(unix)]
    if secret {
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(std::fs::Permissions::from_mode(0o600))
            .map_err(io)?;
    }
    file.set_len(0).map_err(io)?;
    file.write_all(text.as_bytes()).map_err(io)?;
    file.sync_all().map_err(io)
}

/// The office folder with its CA.
#[derive(Debug)]
pub struct OfficeFolder {
    pub dir: PathBuf,
    pub ca: OfficeCa,
}

impl OfficeFolder {
    /// Creates a new office CA in `dir` (which must not hold one yet).
    pub fn init(dir: &Path, office: &OfficeId) -> Result<OfficeFolder, CredentialsError> {
        if dir.join("ca.key").exists() {
            return Err(CredentialsError::Exists(dir.to_owned()));
        }
        std::fs::create_dir_all(dir).map_err(|source| CredentialsError::Io {
            path: dir.to_owned(),
            source,
        })?;
        let ca = OfficeCa::create(office, SystemTime::now())?;
        write(&dir.join("office-id"), office.as_str(), false)?;
        write(&dir.join("ca.crt"), &ca.certificate_pem, false)?;
        write(&dir.join("ca.key"), &ca.key_pem, true)?;
        write(&dir.join("enrollment.book"), "", true)?;
        Ok(OfficeFolder {
            dir: dir.to_owned(),
            ca,
        })
    }

    pub fn open(dir: &Path) -> Result<OfficeFolder, CredentialsError> {
        let id_path = dir.join("office-id");
        let office =
            OfficeId::new(read(&id_path)?.trim()).map_err(|e| CredentialsError::Invalid {
                path: id_path,
                problem: e.to_string(),
            })?;
        Ok(OfficeFolder {
            dir: dir.to_owned(),
            ca: OfficeCa {
                office,
                certificate_pem: read(&dir.join("ca.crt"))?,
                key_pem: read(&dir.join("ca.key"))?,
            },
        })
    }

    /// Hands out a one-time enrollment token for a node.
    pub fn issue_token(
        &self,
        node: &NodeId,
        role: Role,
        valid_for: Duration,
    ) -> Result<EnrollmentToken, CredentialsError> {
        self.with_book(|book| {
            Ok(book.issue_token(node.clone(), role, SystemTime::now() + valid_for)?)
        })
    }

    /// Redeems a token with a node's signing request (enrollment over the network):
    /// the certificate (PEM), the node and its role.
    pub fn redeem_request(
        &self,
        token: &EnrollmentToken,
        request_pem: &str,
    ) -> Result<(String, NodeId, Role), CredentialsError> {
        self.with_book(|book| {
            Ok(book.redeem_request(&self.ca, token, request_pem, SystemTime::now())?)
        })
    }

    /// Redeems a token: the node's certificate, issued once.
    pub fn enroll(
        &self,
        token: &EnrollmentToken,
    ) -> Result<(NodeCredentials, Role), CredentialsError> {
        self.with_book(|book| Ok(book.redeem(&self.ca, token, SystemTime::now())?))
    }

    /// Reads the enrollment book, lets `change` change it and writes it back, all
    /// under an exclusive lock of the book's file: two enrollments at once cannot
    /// both redeem one token, nor lose each other's tokens.
    fn with_book<T>(
        &self,
        change: impl FnOnce(&mut EnrollmentBook) -> Result<T, CredentialsError>,
    ) -> Result<T, CredentialsError> {
        use std::io::{Read, Seek, Write};
        let path = self.dir.join("enrollment.book");
        let io = |source| CredentialsError::Io {
            path: path.clone(),
            source,
        };
        let mut file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .map_err(io)?;
        // Released when `file` is closed, also on an early return.
        file.lock().map_err(io)?;
        let mut text = String::new();
        file.read_to_string(&mut text).map_err(io)?;
        let mut book = EnrollmentBook::from_text(&text)?;
        let outcome = change(&mut book)?;
        file.set_len(0).map_err(io)?;
        file.rewind().map_err(io)?;
        file.write_all(book.to_text().as_bytes()).map_err(io)?;
        file.sync_all().map_err(io)?;
        Ok(outcome)
    }
}

/// Writes a node's credentials folder.
pub fn save_node(dir: &Path, credentials: &NodeCredentials) -> Result<(), CredentialsError> {
    std::fs::create_dir_all(dir).map_err(|source| CredentialsError::Io {
        path: dir.to_owned(),
        source,
    })?;
    write(&dir.join("ca.crt"), &credentials.ca_certificate_pem, false)?;
    write(&dir.join("node.crt"), &credentials.certificate_pem, false)?;
    write(&dir.join("node.key"), &credentials.key_pem, true)
}

/// Reads a node's credentials folder.
pub fn load_node(dir: &Path, node: &NodeId) -> Result<NodeCredentials, CredentialsError> {
    Ok(NodeCredentials {
        node: node.clone(),
        certificate_pem: read(&dir.join("node.crt"))?,
        key_pem: read(&dir.join("node.key"))?,
        ca_certificate_pem: read(&dir.join("ca.crt"))?,
    })
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn keys_are_written_readable_by_their_owner_only_even_over_an_open_file() {
        let dir = tempfile::tempdir().unwrap();
        let office =
            OfficeFolder::init(&dir.path().join("office"), &OfficeId::new("zeitz").unwrap())
                .unwrap();
        assert_eq!(mode(&office.dir.join("ca.key")), 0o600);
        assert_eq!(mode(&office.dir.join("enrollment.book")), 0o600);
        let token = office
            .issue_token(
                &NodeId::new("desk-1").unwrap(),
                Role::Desk,
                Duration::from_secs(60),
            )
            .unwrap();
        let (issued, _) = office.enroll(&token).unwrap();
        let credentials = dir.path().join("credentials");
        std::fs::create_dir_all(&credentials).unwrap();
        // A key file left world-readable by someone is tightened before the key goes in.
        std::fs::write(credentials.join("node.key"), "old").unwrap();
        std::fs::set_permissions(
            credentials.join("node.key"),
            std::fs::Permissions::from_mode(0o644),
        )
        .unwrap();
        save_node(&credentials, &issued).unwrap();
        assert_eq!(mode(&credentials.join("node.key")), 0o600);
        let loaded = load_node(&credentials, &issued.node).unwrap();
        assert_eq!(loaded.key_pem, issued.key_pem);
    }

    #[test]
    fn a_token_redeemed_by_many_at_once_enrolls_exactly_one() {
        let dir = tempfile::tempdir().unwrap();
        let office =
            OfficeFolder::init(&dir.path().join("office"), &OfficeId::new("zeitz").unwrap())
                .unwrap();
        let token = office
            .issue_token(
                &NodeId::new("kiosk-1").unwrap(),
                Role::Kiosk,
                Duration::from_secs(60),
            )
            .unwrap();
        // Another token issued meanwhile must survive the redemptions.
        let other = office
            .issue_token(
                &NodeId::new("desk-1").unwrap(),
                Role::Desk,
                Duration::from_secs(60),
            )
            .unwrap();
        let enrolled = std::thread::scope(|scope| {
            let attempts: Vec<_> = (0..8)
                .map(|_| {
                    let folder = OfficeFolder::open(&office.dir).unwrap();
                    let token = token.clone();
                    scope.spawn(move || folder.enroll(&token).is_ok())
                })
                .collect();
            attempts
                .into_iter()
                .map(|a| a.join().is_ok_and(|ok| ok))
                .filter(|ok| *ok)
                .count()
        });
        assert_eq!(enrolled, 1);
        assert!(office.enroll(&other).is_ok());
    }
}
