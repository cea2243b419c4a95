//! `aufruf node setup`: an appliance's start (image/, systemd's `ExecStartPre`). The
//! set-up file city IT edited on the FAT partition is checked; the device enrolls with
//! the office once, over the network with the file's one-time token; the token leaves
//! the file; and the node's copy of the file is installed where the service reads it.
//! Run at every start, so an edited file takes effect at the next one.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use aufruf_sync::enroll::{self, EnrollError, NetworkToken};
use serde::Deserialize;

use crate::address::Address;
use crate::credentials;
use crate::settings::NodeSettings;
use crate::update::source::UpdateTable;

/// The largest set-up file read: a device's tables plus, at most, an office's
/// configuration.
pub const MAX_FILE: u64 = 256 * 1024;

/// How long one lookup of the office's name may take.
const LOOKUP_WITHIN: Duration = Duration::from_secs(10);

/// The `[enroll]` table of a set-up file.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnrollTable {
    /// The office's enrollment service (`aufruf office serve-enrollment`): an
    /// address or a host name, with its port.
    pub office: Address,
    /// The one-time token (`aufruf office token`); gone from the file once redeemed.
    #[serde(default)]
    pub token: Option<String>,
}

/// What the set-up did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The device redeemed its token now.
    Enrolled,
    /// The device had its credentials already.
    AlreadyEnrolled,
}

/// Why a set-up failed; each names what to fix in which file.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error("{path}: {problem}")]
    File { path: PathBuf, problem: String },
    #[error(transparent)]
    Config(#[from] aufruf_model::ConfigError),
    #[error(
        "{file}: this device is not enrolled yet; give [enroll] office and token \
         (from `aufruf office token --node {node} --role …`)"
    )]
    NoToken { file: PathBuf, node: String },
    #[error("{file}: [enroll] {problem}")]
    EnrollTable { file: PathBuf, problem: String },
    #[error("{file}: [update] {problem}")]
    UpdateTable { file: PathBuf, problem: String },
    #[error("enrollment with the office at {office} failed: {source}")]
    Enroll {
        office: Address,
        source: EnrollError,
    },
    #[error(
        "the office at {office} could not be reached within {} s: {problem}",
        waited.as_secs()
    )]
    Unreachable {
        office: Address,
        waited: Duration,
        problem: String,
    },
    #[error(
        "{file}: the token is for {issued_node} as {issued_role:?}, but the file says \
         [node] id = \"{node}\", role = {role:?}"
    )]
    WrongDevice {
        file: PathBuf,
        issued_node: String,
        issued_role: aufruf_model::Role,
        node: String,
        role: aufruf_model::Role,
    },
    #[error(transparent)]
    Credentials(#[from] credentials::CredentialsError),
}

/// Checks `file`, enrolls this device if it has no credentials yet (trying to reach
/// the office for at most `wait` while the network comes up), removes the redeemed
/// token from `file`, and installs the file's text at `install`.
pub async fn run(file: &Path, install: &Path, wait: Duration) -> Result<Outcome, SetupError> {
    let text = read_bounded(file)?;
    let name = file.display().to_string();
    let (config, device) = aufruf_model::OfficeConfig::from_device_file(&name, &text)?;
    let settings = NodeSettings::of(&device, config.as_ref(), file)?;
    // Checked here, so a mistake is reported at the start, not at the first update.
    update_table(&device, file)?;
    let table = device
        .enroll
        .map(|table| {
            serde_path_to_error::deserialize::<_, EnrollTable>(toml::Value::Table(table)).map_err(
                |e| SetupError::EnrollTable {
                    file: file.to_owned(),
                    problem: format!("{}: {}", e.path(), e.inner()),
                },
            )
        })
        .transpose()?;

    let outcome = if credentials::load_node(&settings.credentials, &settings.id).is_ok() {
        Outcome::AlreadyEnrolled
    } else {
        let Some(EnrollTable {
            office,
            token: Some(token),
        }) = table
        else {
            return Err(SetupError::NoToken {
                file: file.to_owned(),
                node: settings.id.to_string(),
            });
        };
        let token = NetworkToken::parse(&token).map_err(|source| SetupError::Enroll {
            office: office.clone(),
            source,
        })?;
        let (issued, role) = enroll_patiently(&office, &token, wait).await?;
        if issued.node != settings.id || role != settings.role {
            return Err(SetupError::WrongDevice {
                file: file.to_owned(),
                issued_node: issued.node.to_string(),
                issued_role: role,
                node: settings.id.to_string(),
                role: settings.role,
            });
        }
        credentials::save_node(&settings.credentials, &issued)?;
        tracing::info!(node = %settings.id, "enrolled with the office at {office}");
        Outcome::Enrolled
    };

    // The token is spent (or the device never needed it): it leaves the FAT partition,
    // which anyone holding the disk can read.
    let text = match without_token(&text) {
        Some(stripped) => {
            write_atomically(file, &stripped)?;
            stripped
        }
        None => text,
    };
    write_atomically(install, &text)?;
    Ok(outcome)
}

/// The `[update]` table of a device's file, if it has one.
pub fn update_table(
    device: &aufruf_model::config::DeviceTables,
    file: &Path,
) -> Result<Option<UpdateTable>, SetupError> {
    device
        .update
        .clone()
        .map(|table| {
            serde_path_to_error::deserialize::<_, UpdateTable>(toml::Value::Table(table)).map_err(
                |e| SetupError::UpdateTable {
                    file: file.to_owned(),
                    problem: format!("{}: {}", e.path(), e.inner()),
                },
            )
        })
        .transpose()
}

/// Reads the device file an appliance's node was given and its `[update]` table.
pub fn installed_update_table(file: &Path) -> Result<Option<UpdateTable>, SetupError> {
    let text = read_bounded(file)?;
    let (_, device) =
        aufruf_model::OfficeConfig::from_device_file(&file.display().to_string(), &text)?;
    update_table(&device, file)
}

/// Enrolls, trying again while the office cannot be reached or its name not looked
/// up (the network and DNS may still be coming up) until `wait` has passed; a
/// refusal ends it at once. Each of a name's addresses is tried in turn.
async fn enroll_patiently(
    office: &Address,
    token: &NetworkToken,
    wait: Duration,
) -> Result<(aufruf_sync::trust::NodeCredentials, aufruf_model::Role), SetupError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let started = Instant::now();
    let mut pause = Duration::from_secs(1);
    loop {
        let problem = match office.lookup(LOOKUP_WITHIN).await {
            Err(lookup) => lookup.to_string(),
            Ok(addresses) => {
                let mut unreachable = Vec::new();
                for address in addresses {
                    match enroll::enroll(address, token, provider.clone()).await {
                        Ok(issued) => return Ok(issued),
                        Err(source @ (EnrollError::Connect { .. } | EnrollError::TimedOut)) => {
                            unreachable.push(format!("{address}: {source}"));
                        }
                        Err(source) => {
                            return Err(SetupError::Enroll {
                                office: office.clone(),
                                source,
                            });
                        }
                    }
                }
                unreachable.join("; ")
            }
        };
        if started.elapsed() + pause > wait {
            return Err(SetupError::Unreachable {
                office: office.clone(),
                waited: started.elapsed(),
                problem,
            });
        }
        tracing::warn!("cannot enroll yet ({problem}); trying again in {pause:?}");
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_secs(30));
    }
}

/// `text` without the `token` line of its `[enroll]` table (a comment says where it
/// went), or `None` when there is none. Everything else, comments included, stays.
pub fn without_token(text: &str) -> Option<String> {
    let mut in_enroll = false;
    let mut found = false;
    let mut out = String::with_capacity(text.len());
    for line in text.split_inclusive('\n') {
        let trimmed = line.trim_start();
        if trimmed.starts_with('[') {
            in_enroll = trimmed
                .trim_end()
                .strip_prefix('[')
                .and_then(|rest| rest.split(']').next())
                .is_some_and(|name| name.trim() == "enroll");
        } else if in_enroll
            && trimmed
                .strip_prefix("token")
                .is_some_and(|rest| rest.trim_start().starts_with('='))
        {
            found = true;
            out.push_str("# token: redeemed; this device is enrolled\n");
            continue;
        }
        out.push_str(line);
    }
    found.then_some(out)
}

fn read_bounded(path: &Path) -> Result<String, SetupError> {
    let problem = |problem: String| SetupError::File {
        path: path.to_owned(),
        problem,
    };
    let size = std::fs::metadata(path)
        .map_err(|e| problem(format!("cannot be read: {e}")))?
        .len();
    if size > MAX_FILE {
        return Err(problem(format!(
            "is {size} bytes; a set-up file has at most {MAX_FILE}"
        )));
    }
    std::fs::read_to_string(path).map_err(|e| problem(format!("cannot be read: {e}")))
}

/// Replaces `path` with `text` so that a power cut leaves the old or the new file,
/// never half of one (also on FAT, where rename replaces the target).
fn write_atomically(path: &Path, text: &str) -> Result<(), SetupError> {
    replace_file(path, text.as_bytes()).map_err(|e| SetupError::File {
        path: path.to_owned(),
        problem: format!("cannot be written: {e}"),
    })
}

/// Replaces the file at `path` with `bytes` whole or not at all: written beside it
/// (`<name>.new`), synced, renamed over it, and the rename synced with its folder.
pub(crate) fn replace_file(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let mut temporary = path.as_os_str().to_owned();
    temporary.push(".new");
    let temporary = PathBuf::from(temporary);
    let mut file = std::fs::File::create(&temporary)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    drop(file);
    std::fs::rename(&temporary, path)?;
    // The rename reaches the disk with its folder.
    if let Ok(folder) = std::fs::File::open(dir) {
        let _ = folder.sync_all();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::credentials::OfficeFolder;
    use aufruf_model::{NodeId, OfficeId, Role};
    use std::net::SocketAddr;

    /// An office folder serving enrollments on loopback, and a device's folder.
    struct Office {
        dir: tempfile::TempDir,
        folder: Arc<OfficeFolder>,
        address: SocketAddr,
        _stop: tokio::sync::watch::Sender<bool>,
    }

    impl Office {
        async fn serving() -> Office {
            let dir = tempfile::tempdir().unwrap();
            let office = OfficeId::new("zeitz").unwrap();
            let folder = Arc::new(OfficeFolder::init(&dir.path().join("office"), &office).unwrap());
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let address = listener.local_addr().unwrap();
            let (stop, stopping) = tokio::sync::watch::channel(false);
            let redeem = {
                let folder = folder.clone();
                Arc::new(
                    move |token: &aufruf_sync::trust::EnrollmentToken, request: &str| {
                        folder
                            .redeem_request(token, request)
                            .map_err(|e| e.to_string())
                    },
                )
            };
            let ca = folder.ca.clone();
            tokio::spawn(async move {
                let provider = Arc::new(rustls::crypto::ring::default_provider());
                enroll::serve(listener, &ca, provider, redeem, stopping).await
            });
            Office {
                dir,
                folder,
                address,
                _stop: stop,
            }
        }

        fn token(&self, node: &str, role: Role) -> String {
            let secret = self
                .folder
                .issue_token(&NodeId::new(node).unwrap(), role, Duration::from_secs(3600))
                .unwrap();
            NetworkToken::text(&secret, &self.folder.ca).unwrap()
        }

        /// A set-up file as IT writes it, for desk-1.
        fn setup_file(&self, enroll: &str) -> (PathBuf, PathBuf) {
            let device = self.dir.path().join("device");
            let file = self.dir.path().join("efi").join("aufruf.toml");
            std::fs::create_dir_all(file.parent().unwrap()).unwrap();
            std::fs::write(
                &file,
                format!(
                    "# edited by IT\n[node]\nid = \"desk-1\"\noffice = \"zeitz\"\nrole = \"desk\"\n\
                     credentials = \"{}\"\nstore = \"{}\"\n\n{enroll}",
                    device.join("credentials").display(),
                    device.join("store").display()
                ),
            )
            .unwrap();
            (file, device.join("aufruf.toml"))
        }
    }

    #[tokio::test]
    async fn a_device_enrolls_once_and_its_token_leaves_the_fat_file() {
        let office = Office::serving().await;
        let token = office.token("desk-1", Role::Desk);
        let (file, install) = office.setup_file(&format!(
            "[enroll]\n# from IT\noffice = \"{}\"\ntoken = \"{token}\"\n",
            office.address
        ));

        let outcome = run(&file, &install, Duration::ZERO).await.unwrap();
        assert_eq!(outcome, Outcome::Enrolled);
        let after = std::fs::read_to_string(&file).unwrap();
        assert!(!after.contains(&token), "the token is gone: {after}");
        assert!(after.contains("# edited by IT") && after.contains("# from IT"));
        assert_eq!(std::fs::read_to_string(&install).unwrap(), after);
        let device = office.dir.path().join("device").join("credentials");
        let credentials = credentials::load_node(&device, &NodeId::new("desk-1").unwrap()).unwrap();
        assert!(credentials.key_pem.contains("PRIVATE KEY"));

        // The next start needs neither the token nor the office.
        drop(office._stop);
        let outcome = run(&file, &install, Duration::ZERO).await.unwrap();
        assert_eq!(outcome, Outcome::AlreadyEnrolled);
    }

    #[tokio::test]
    async fn the_office_can_be_named_by_its_host_name() {
        let office = Office::serving().await;
        let token = office.token("desk-1", Role::Desk);
        // `localhost` may look up to ::1 first, where nobody listens: the next
        // address is tried.
        let (file, install) = office.setup_file(&format!(
            "[enroll]\noffice = \"localhost:{}\"\ntoken = \"{token}\"\n",
            office.address.port()
        ));
        let outcome = run(&file, &install, Duration::ZERO).await.unwrap();
        assert_eq!(outcome, Outcome::Enrolled);

        // A name with no address: unreachable, with what DNS said; the token stays.
        let office = Office::serving().await;
        let token = office.token("desk-1", Role::Desk);
        let (file, install) = office.setup_file(&format!(
            "[enroll]\noffice = \"office.invalid:7341\"\ntoken = \"{token}\"\n"
        ));
        let error = run(&file, &install, Duration::ZERO).await.unwrap_err();
        assert!(matches!(error, SetupError::Unreachable { .. }), "{error}");
        assert!(
            error.to_string().contains("office.invalid:7341") && error.to_string().contains("DNS"),
            "{error}"
        );
        assert!(std::fs::read_to_string(&file).unwrap().contains(&token));
        assert!(!install.exists());

        // Not a name at all: the file's field is named.
        let (file, install) = office.setup_file(&format!(
            "[enroll]\noffice = \"office..example:7341\"\ntoken = \"{token}\"\n"
        ));
        let message = run(&file, &install, Duration::ZERO)
            .await
            .unwrap_err()
            .to_string();
        assert!(
            message.contains("[enroll] office") && message.contains("host name"),
            "{message}"
        );
    }

    #[tokio::test]
    async fn a_token_for_another_device_enrolls_nothing() {
        let office = Office::serving().await;
        let token = office.token("display-1", Role::Display);
        let (file, install) = office.setup_file(&format!(
            "[enroll]\noffice = \"{}\"\ntoken = \"{token}\"\n",
            office.address
        ));
        let error = run(&file, &install, Duration::ZERO).await.unwrap_err();
        assert!(matches!(error, SetupError::WrongDevice { .. }), "{error}");
        assert!(error.to_string().contains("display-1"), "{error}");
        assert!(!install.exists());
        assert!(
            !office
                .dir
                .path()
                .join("device/credentials/node.key")
                .exists()
        );
    }

    #[tokio::test]
    async fn a_wrong_or_missing_token_is_refused_at_once() {
        let office = Office::serving().await;
        let fingerprint = office.token("desk-1", Role::Desk);
        let fingerprint = fingerprint.split('.').nth(1).unwrap();
        let (file, install) = office.setup_file(&format!(
            "[enroll]\noffice = \"{}\"\ntoken = \"wrong.{fingerprint}\"\n",
            office.address
        ));
        let error = run(&file, &install, Duration::from_secs(600))
            .await
            .unwrap_err();
        assert!(matches!(error, SetupError::Enroll { .. }), "{error}");

        let (file, install) = office.setup_file("");
        let error = run(&file, &install, Duration::ZERO).await.unwrap_err();
        assert!(matches!(error, SetupError::NoToken { .. }), "{error}");
        assert!(error.to_string().contains("--node desk-1"), "{error}");
    }

    #[tokio::test]
    async fn an_unreachable_office_is_reported_once_the_wait_is_over() {
        let office = Office::serving().await;
        let token = office.token("desk-1", Role::Desk);
        // A port nobody listens on.
        let closed = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let (file, install) = office.setup_file(&format!(
            "[enroll]\noffice = \"{closed}\"\ntoken = \"{token}\"\n"
        ));
        let error = run(&file, &install, Duration::ZERO).await.unwrap_err();
        assert!(matches!(error, SetupError::Unreachable { .. }), "{error}");
        assert!(
            std::fs::read_to_string(&file).unwrap().contains(&token),
            "token kept"
        );
    }

    #[tokio::test]
    async fn a_wrong_file_names_the_file_and_the_field() {
        let office = Office::serving().await;
        let (file, install) = office.setup_file("[enroll]\noffice = \"not an address\"\n");
        let error = run(&file, &install, Duration::ZERO).await.unwrap_err();
        let message = error.to_string();
        assert!(
            message.contains("aufruf.toml") && message.contains("[enroll] office"),
            "{message}"
        );

        std::fs::write(&file, "[node]\nid = \"desk-1\"\nrole = \"kiosque\"\n").unwrap();
        let message = run(&file, &install, Duration::ZERO)
            .await
            .unwrap_err()
            .to_string();
        assert!(message.contains("role"), "{message}");

        std::fs::write(&file, vec![b'#'; MAX_FILE as usize + 1]).unwrap();
        let message = run(&file, &install, Duration::ZERO)
            .await
            .unwrap_err()
            .to_string();
        assert!(message.contains("at most"), "{message}");
        assert!(!install.exists());
    }

    #[test]
    fn the_token_line_of_the_enroll_table_goes_and_everything_else_stays() {
        let text = "# set-up\n[node]\nid = \"desk-1\"\ntoken = \"not this one\"\n\n\
                    [enroll]\n# the office\noffice = \"10.0.0.1:7341\"\n  token   = \"abc.def\" # pasted\n\
                    \n[printer]\nkind = \"file\"\n";
        let stripped = without_token(text).unwrap();
        assert!(!stripped.contains("abc.def"));
        assert!(stripped.contains("token = \"not this one\""), "{stripped}");
        assert!(stripped.contains("# the office\noffice = \"10.0.0.1:7341\"\n# token: redeemed"));
        assert!(stripped.ends_with("[printer]\nkind = \"file\"\n"));
        assert_eq!(without_token(&stripped), None, "nothing left to strip");
        // A table whose name only starts with "enroll" is another table.
        assert_eq!(without_token("[enrollment]\ntoken = \"x\"\n"), None);
        assert_eq!(without_token("[enroll]\ntokens = 1\n"), None);
    }
}
