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
}

fn read(path: &Path) -> Result<String, CredentialsError> {
    std::fs::read_to_string(path).map_err(|source| CredentialsError::Io {
        path: path.to_owned(),
        source,
    })
}

fn write(path: &Path, text: &str, secret: bool) -> Result<(), CredentialsError> {
    let io = |source| CredentialsError::Io {
        path: path.to_owned(),
        source,
    };
    std::fs::write(path, text).map_err(io)?;
    if secret {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(io)?;
    }
    Ok(())
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
        let mut book = self.book()?;
        let token = book.issue_token(node.clone(), role, SystemTime::now() + valid_for)?;
        write(&self.dir.join("enrollment.book"), &book.to_text(), true)?;
        Ok(token)
    }

    /// Redeems a token: the node's certificate, issued once.
    pub fn enroll(
        &self,
        token: &EnrollmentToken,
    ) -> Result<(NodeCredentials, Role), CredentialsError> {
        let mut book = self.book()?;
        let issued = book.redeem(&self.ca, token, SystemTime::now())?;
        write(&self.dir.join("enrollment.book"), &book.to_text(), true)?;
        Ok(issued)
    }

    fn book(&self) -> Result<EnrollmentBook, CredentialsError> {
        let path = self.dir.join("enrollment.book");
        Ok(EnrollmentBook::from_text(&read(&path)?)?)
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
