//! Where devices get their updates.
//!
//! The office publishes a bundle into a folder: the bundle is checked against the
//! update key, put in as `aufruf-<version>.update`, and `latest` names its version.
//! Either on any machine (`aufruf update publish` into a folder, `aufruf update serve`
//! serves it), or on a node with `[node.updates]`, e.g. the gateway appliance: its
//! local API takes bundles by `PUT /api/updates` (with the API token; `aufruf update
//! upload`) and serves the folder to the office's devices. Served over plain HTTP on
//! the office's network: the bundle is signed, so the way it travels need not be
//! trusted.
//!
//! A device (`aufruf update fetch`, run as root by the image's timer) asks its
//! `[update] source` for `GET /updates/latest`. Only a version newer than the one it
//! booted, not written already and not failed to boot here before, is downloaded from
//! `GET /updates/bundle/<version>` — bounded in size and time — then checked against the
//! device's key and written into the other slot ([`super::apply`]). Nothing is
//! written while the running slot has not yet booted healthy: its fallback would be
//! the slot the update overwrites.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{Path as UrlPath, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use futures_util::StreamExt as _;
use hyper_util::rt::TokioIo;
use serde::Deserialize;
use tokio::io::AsyncWriteExt as _;

use crate::address::Address;

use super::{Applied, Targets, UpdateError, check_version, compare_versions};

/// `[update]` in a device's set-up file.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateTable {
    /// Where the office serves its updates (`aufruf update serve`), e.g.
    /// `10.1.2.1:7390` or `gateway.buergerbuero.example:7390` (looked up at each fetch).
    pub source: Address,
}

/// `[node.updates]`: a node that serves updates to the office's devices.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServeSettings {
    /// The published folder (`latest` and the bundles), e.g. `/data/aufruf/updates`.
    pub dir: PathBuf,
    /// The update key's public half: only bundles it signed are taken in.
    #[serde(default = "default_key")]
    pub key: PathBuf,
}

fn default_key() -> PathBuf {
    PathBuf::from(super::KEY)
}

/// The file in a published folder that names the newest version.
pub const LATEST: &str = "latest";
/// The most `GET /latest` may answer.
const MAX_LATEST: usize = 128;

fn bundle_name(version: &str) -> String {
    format!("aufruf-{version}.update")
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> UpdateError + '_ {
    super::io(path)
}

/// Publishes the bundle at `bundle` in `dir`: copied in beside its final name, checked
/// against `key` as copied, renamed into place, and only then named in `latest`.
/// Returns its version.
pub fn publish(bundle: &Path, dir: &Path, key: &[u8]) -> Result<String, UpdateError> {
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let partial = dir.join(".copy.partial");
    std::fs::copy(bundle, &partial).map_err(io(&partial))?;
    publish_moved(&partial, dir, key)
}

/// Like [`publish`] for a bundle already in `dir` (a finished upload): checked, then
/// renamed into place and named in `latest`; removed if refused.
pub fn publish_moved(bundle: &Path, dir: &Path, key: &[u8]) -> Result<String, UpdateError> {
    let checked = std::fs::File::open(bundle)
        .and_then(|file| file.sync_all())
        .map_err(io(bundle))
        .and_then(|()| super::check(bundle, key));
    let version = match checked {
        Ok(checked) => checked.manifest().version.clone(),
        Err(e) => {
            let _ = std::fs::remove_file(bundle);
            return Err(e);
        }
    };
    let target = dir.join(bundle_name(&version));
    std::fs::rename(bundle, &target).map_err(io(&target))?;
    let latest = dir.join(LATEST);
    crate::setup::replace_file(&latest, format!("{version}\n").as_bytes()).map_err(io(&latest))?;
    Ok(version)
}

/// Why a node did not take an uploaded bundle in.
#[derive(Debug, thiserror::Error)]
pub enum TakeError {
    #[error("another update is being taken in; try again when it is done")]
    Busy,
    #[error("the update is larger than {limit} bytes")]
    TooLarge { limit: u64 },
    #[error("the upload stopped: {0}")]
    Broken(String),
    #[error(transparent)]
    Update(#[from] UpdateError),
}

/// One upload at a time: each may be the size of a root slot.
static TAKING_IN: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(1);

/// Takes an uploaded bundle in: streamed to the folder (at most
/// `limits.bundle_bytes`, no wait for bytes longer than `limits.idle`), then
/// published as [`publish_moved`] does. Returns its version.
pub async fn take_in(
    settings: &ServeSettings,
    body: Body,
    announced: Option<u64>,
    limits: &Limits,
) -> Result<String, TakeError> {
    let _one = TAKING_IN.try_acquire().map_err(|_| TakeError::Busy)?;
    if announced.is_some_and(|length| length > limits.bundle_bytes) {
        return Err(TakeError::TooLarge {
            limit: limits.bundle_bytes,
        });
    }
    let dir = &settings.dir;
    tokio::fs::create_dir_all(dir).await.map_err(io(dir))?;
    let partial = dir.join(".upload.partial");
    let received = receive(body, &partial, limits).await;
    if let Err(e) = received {
        let _ = tokio::fs::remove_file(&partial).await;
        return Err(e);
    }
    let (dir, key_path) = (dir.clone(), settings.key.clone());
    tokio::task::spawn_blocking(move || {
        let key = super::read_public_key(&key_path)?;
        publish_moved(&partial, &dir, &key)
    })
    .await
    .map_err(|e| TakeError::Broken(e.to_string()))?
    .map_err(TakeError::from)
}

/// Why a body did not reach its file whole.
enum Streamed {
    TooLarge,
    Stalled(Duration),
    Broken(String),
    Io(UpdateError),
}

impl Streamed {
    /// As a fetch of `what` from `address` reports it.
    fn fetch_error(self, address: &Address, what: &'static str, limit: u64) -> FetchError {
        match self {
            Streamed::TooLarge => FetchError::TooLarge {
                address: address.clone(),
                what,
                limit,
            },
            Streamed::Stalled(idle) => FetchError::Source {
                address: address.clone(),
                problem: format!("nothing came for {} s", idle.as_secs()),
            },
            Streamed::Broken(problem) => FetchError::Source {
                address: address.clone(),
                problem,
            },
            Streamed::Io(e) => FetchError::Update(e),
        }
    }
}

/// The next bytes of a body, within `idle`.
async fn next_within(
    body: &mut axum::body::BodyDataStream,
    idle: Duration,
) -> Result<Option<axum::body::Bytes>, Streamed> {
    match tokio::time::timeout(idle, body.next()).await {
        Err(_) => Err(Streamed::Stalled(idle)),
        Ok(None) => Ok(None),
        Ok(Some(Ok(bytes))) => Ok(Some(bytes)),
        Ok(Some(Err(e))) => Err(Streamed::Broken(e.to_string())),
    }
}

/// Writes `body` to a new file at `path` and syncs it: at most `limits.bundle_bytes`,
/// no wait for the next bytes longer than `limits.idle`. The upload's and the
/// download's one way to disk.
async fn write_body(body: Body, path: &Path, limits: &Limits) -> Result<(), Streamed> {
    let io = |e| Streamed::Io(io(path)(e));
    let mut file = tokio::fs::File::create(path).await.map_err(io)?;
    let mut body = body.into_data_stream();
    let mut received = 0u64;
    while let Some(chunk) = next_within(&mut body, limits.idle).await? {
        received += chunk.len() as u64;
        if received > limits.bundle_bytes {
            return Err(Streamed::TooLarge);
        }
        file.write_all(&chunk).await.map_err(io)?;
    }
    file.sync_all().await.map_err(io)
}

async fn receive(body: Body, path: &Path, limits: &Limits) -> Result<(), TakeError> {
    write_body(body, path, limits).await.map_err(|e| match e {
        Streamed::TooLarge => TakeError::TooLarge {
            limit: limits.bundle_bytes,
        },
        Streamed::Stalled(idle) => {
            TakeError::Broken(format!("nothing came for {} s", idle.as_secs()))
        }
        Streamed::Broken(problem) => TakeError::Broken(problem),
        Streamed::Io(e) => TakeError::Update(e),
    })
}

/// The routes that serve a published folder: `GET /updates/latest` and
/// `GET /updates/bundle/<version>`.
pub fn router(dir: PathBuf) -> Router {
    Router::new()
        .route("/updates/latest", get(latest))
        .route("/updates/bundle/{version}", get(bundle))
        .with_state(Arc::new(dir))
}

async fn latest(State(dir): State<Arc<PathBuf>>) -> Response {
    match tokio::fs::read_to_string(dir.join(LATEST)).await {
        Ok(text) if check_version(text.trim()).is_ok() => {
            (StatusCode::OK, format!("{}\n", text.trim())).into_response()
        }
        Ok(_) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            "the published folder's `latest` names no version\n",
        )
            .into_response(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            (StatusCode::NOT_FOUND, "nothing is published yet\n").into_response()
        }
        Err(e) => {
            tracing::warn!("reading {}: {e}", dir.join(LATEST).display());
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

async fn bundle(State(dir): State<Arc<PathBuf>>, UrlPath(version): UrlPath<String>) -> Response {
    // The version becomes a file name: only a plain one is looked up.
    if let Err(problem) = check_version(&version) {
        return (StatusCode::BAD_REQUEST, format!("{problem}\n")).into_response();
    }
    let path = dir.join(bundle_name(&version));
    let file = match tokio::fs::File::open(&path).await {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return (StatusCode::NOT_FOUND, format!("no update {version}\n")).into_response();
        }
        Err(e) => {
            tracing::warn!("opening {}: {e}", path.display());
            return StatusCode::INTERNAL_SERVER_ERROR.into_response();
        }
    };
    let length = match file.metadata().await {
        Ok(metadata) => metadata.len(),
        Err(e) => {
            tracing::warn!("reading {}: {e}", path.display());
            return StatusCode::INTERNAL_SERVER_ERROR.into_response();
        }
    };
    (
        [
            (header::CONTENT_TYPE, "application/octet-stream".to_owned()),
            (header::CONTENT_LENGTH, length.to_string()),
        ],
        Body::from_stream(tokio_util::io::ReaderStream::with_capacity(file, 1 << 16)),
    )
        .into_response()
}

/// How much and how long a device takes from its update source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The largest bundle downloaded: two root slots' worth is far more than any.
    pub bundle_bytes: u64,
    /// Connecting, and each wait for the next bytes.
    pub idle: Duration,
    /// The whole download.
    pub total: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            bundle_bytes: 1536 * 1024 * 1024,
            idle: Duration::from_secs(60),
            total: Duration::from_secs(60 * 60),
        }
    }
}

/// The device that fetches.
#[derive(Debug, Clone)]
pub struct Device {
    /// The version this boot runs (`IMAGE_VERSION` in `/etc/os-release`).
    pub booted: String,
    /// The update key's public half.
    pub key: Vec<u8>,
    pub targets: Targets,
    /// Where the bundle is downloaded to (on the data partition), and removed from
    /// once written.
    pub download: PathBuf,
}

/// What a fetch found or did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fetched {
    /// The source has published nothing.
    NothingPublished,
    /// The source's newest version is not newer than the one running.
    UpToDate { booted: String, latest: String },
    /// The slot running now has not booted healthy yet; its fallback is the slot an
    /// update would overwrite.
    NotBlessed { booted: String },
    /// This version was written before and failed every try to boot: it is not
    /// taken again; a newer one will be.
    FailedBefore { version: String },
    /// This version is written and starts at the next boot.
    Written { version: String },
    /// Downloaded, checked and written now; it starts at the next boot.
    Applied(Applied),
}

#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("the update source {address}: {problem}")]
    Source { address: Address, problem: String },
    #[error("the update source {address}: {what} is larger than {limit} bytes")]
    TooLarge {
        address: Address,
        what: &'static str,
        limit: u64,
    },
    #[error("the update source offered version {offered}, but its bundle is version {bundle}")]
    Mismatch { offered: String, bundle: String },
    #[error(transparent)]
    Update(#[from] UpdateError),
}

/// Asks `source` for its newest update and, if this device should take it,
/// downloads, checks and writes it (see the module's documentation).
pub async fn fetch(
    source: &Address,
    device: &Device,
    limits: &Limits,
) -> Result<Fetched, FetchError> {
    let failed = |problem: String| FetchError::Source {
        address: source.clone(),
        problem,
    };
    let response = request(source, "/updates/latest", limits).await?;
    if response.status() == StatusCode::NOT_FOUND {
        return Ok(Fetched::NothingPublished);
    }
    if response.status() != StatusCode::OK {
        return Err(failed(format!(
            "/updates/latest answered {}",
            response.status()
        )));
    }
    let mut text = Vec::new();
    let mut body = Body::new(response.into_body()).into_data_stream();
    while let Some(chunk) = next_within(&mut body, limits.idle)
        .await
        .map_err(|e| e.fetch_error(source, "/updates/latest", MAX_LATEST as u64))?
    {
        text.extend_from_slice(&chunk);
        if text.len() > MAX_LATEST {
            return Err(FetchError::TooLarge {
                address: source.clone(),
                what: "/updates/latest",
                limit: MAX_LATEST as u64,
            });
        }
    }
    let latest = String::from_utf8_lossy(&text).trim().to_owned();
    check_version(&latest).map_err(|problem| failed(format!("/updates/latest: {problem}")))?;

    if compare_versions(&latest, &device.booted) != std::cmp::Ordering::Greater {
        return Ok(Fetched::UpToDate {
            booted: device.booted.clone(),
            latest,
        });
    }
    let cmdline = std::fs::read_to_string(&device.targets.cmdline)
        .map_err(super::io(&device.targets.cmdline))?;
    let slot = super::booted_slot(&cmdline).ok_or(UpdateError::UnknownSlot)?;
    let entries = super::entries(&device.targets.efi)?;
    if entries
        .iter()
        .any(|entry| entry.slot == slot && entry.tries_left.is_some())
    {
        return Ok(Fetched::NotBlessed {
            booted: device.booted.clone(),
        });
    }
    if let Some(entry) = entries.iter().find(|entry| entry.version == latest) {
        return Ok(if entry.failed() {
            Fetched::FailedBefore { version: latest }
        } else {
            Fetched::Written { version: latest }
        });
    }

    let path = device.download.join(bundle_name(&latest));
    let downloaded =
        tokio::time::timeout(limits.total, download(source, &latest, &path, limits)).await;
    let downloaded = match downloaded {
        Ok(result) => result,
        Err(_) => Err(failed(format!(
            "the download took longer than {} s",
            limits.total.as_secs()
        ))),
    };
    if let Err(e) = downloaded {
        let _ = tokio::fs::remove_file(partial(&path)).await;
        return Err(e);
    }

    let (key, targets, bundle) = (device.key.clone(), device.targets.clone(), path.clone());
    let written = tokio::task::spawn_blocking(move || {
        let checked = super::check(&bundle, &key)?;
        if checked.manifest().version != latest {
            return Err(FetchError::Mismatch {
                offered: latest,
                bundle: checked.manifest().version.clone(),
            });
        }
        Ok(super::apply(&checked, &targets)?)
    })
    .await
    .map_err(|e| failed(format!("writing the update stopped: {e}")));
    // Written or refused, the bundle has done its work; the data partition gets its
    // room back.
    let _ = tokio::fs::remove_file(&path).await;
    Ok(Fetched::Applied(written??))
}

fn partial(path: &Path) -> PathBuf {
    path.with_extension("update.partial")
}

/// Downloads `GET /updates/bundle/<version>` to `path` (through `path.partial`), at most
/// `limits.bundle_bytes`.
async fn download(
    source: &Address,
    version: &str,
    path: &Path,
    limits: &Limits,
) -> Result<(), FetchError> {
    let too_large = || FetchError::TooLarge {
        address: source.clone(),
        what: "the bundle",
        limit: limits.bundle_bytes,
    };
    let response = request(source, &format!("/updates/bundle/{version}"), limits).await?;
    if response.status() != StatusCode::OK {
        return Err(FetchError::Source {
            address: source.clone(),
            problem: format!("/updates/bundle/{version} answered {}", response.status()),
        });
    }
    let announced = response
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok()?.parse::<u64>().ok());
    if announced.is_some_and(|length| length > limits.bundle_bytes) {
        return Err(too_large());
    }
    if let Some(folder) = path.parent() {
        tokio::fs::create_dir_all(folder)
            .await
            .map_err(io(folder))?;
    }
    let partial = partial(path);
    write_body(Body::new(response.into_body()), &partial, limits)
        .await
        .map_err(|e| e.fetch_error(source, "the bundle", limits.bundle_bytes))?;
    tokio::fs::rename(&partial, path).await.map_err(io(path))?;
    Ok(())
}

/// Sends `GET path` to `source` over a new connection; connecting and the answer's
/// head each within `limits.idle`.
async fn request(
    source: &Address,
    path: &str,
    limits: &Limits,
) -> Result<hyper::Response<hyper::body::Incoming>, FetchError> {
    let failed = |problem: String| FetchError::Source {
        address: source.clone(),
        problem,
    };
    let waited = || failed(format!("no answer within {} s", limits.idle.as_secs()));
    let addresses = source
        .lookup(limits.idle)
        .await
        .map_err(|e| failed(e.to_string()))?;
    let stream = tokio::time::timeout(
        limits.idle,
        tokio::net::TcpStream::connect(addresses.as_slice()),
    )
    .await
    .map_err(|_| waited())?
    .map_err(|e| failed(e.to_string()))?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| failed(e.to_string()))?;
    // The connection ends with the response's body (or when it is dropped).
    tokio::spawn(connection);
    let request = hyper::Request::get(path)
        .header(header::HOST, source.to_string())
        .body(Body::empty())
        .map_err(|e| failed(e.to_string()))?;
    tokio::time::timeout(limits.idle, sender.send_request(request))
        .await
        .map_err(|_| waited())?
        .map_err(|e| failed(e.to_string()))
}

/// The version an appliance booted: `IMAGE_VERSION` in its os-release file.
pub fn booted_version(os_release: &str) -> Option<String> {
    os_release.lines().find_map(|line| {
        let value = line.strip_prefix("IMAGE_VERSION=")?.trim();
        let value = value.trim_matches(|c| c == '"' || c == '\'');
        check_version(value).ok().map(|()| value.to_owned())
    })
}

#[cfg(test)]
mod tests {
    use super::super::testing::{Device as Disk, Key, parts};
    use super::*;
    use std::net::SocketAddr;

    /// Serves `app` on a loopback port until the test ends.
    async fn serve(app: Router) -> SocketAddr {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        address
    }

    fn device_of(disk: &Disk, booted: &str, key: &Key) -> Device {
        Device {
            booted: booted.into(),
            key: key.public(),
            targets: disk.targets.clone(),
            download: disk.dir.path().join("download"),
        }
    }

    fn publish_bytes(dir: &Path, key: &Key, bytes: &[u8]) -> Result<String, UpdateError> {
        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(file.path(), bytes).unwrap();
        publish(file.path(), dir, &key.public())
    }

    fn downloads(device: &Device) -> Vec<String> {
        match std::fs::read_dir(&device.download) {
            Ok(folder) => folder
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect(),
            Err(_) => Vec::new(),
        }
    }

    /// Booted from slot a at 0.1.0, blessed; slot b holds an older try.
    fn booted_from_a() -> Disk {
        let disk = Disk::booted_from('a');
        std::fs::remove_file(disk.targets.efi.join("EFI/Linux/aufruf-0.0.9-b+1-2.efi")).unwrap();
        disk
    }

    #[tokio::test]
    async fn a_published_update_is_fetched_written_once_and_not_retried_after_it_failed() {
        let key = Key::new();
        let published = tempfile::tempdir().unwrap();
        let source = serve(router(published.path().to_owned())).await;
        let disk = booted_from_a();
        let device = device_of(&disk, "0.1.0", &key);
        let limits = Limits::default();

        assert_eq!(
            fetch(&source.into(), &device, &limits).await.unwrap(),
            Fetched::NothingPublished
        );
        // By name, as `[update] source = "gateway.…:7390"`: looked up, each address tried.
        let named: Address = format!("localhost:{}", source.port()).parse().unwrap();
        assert_eq!(
            fetch(&named, &device, &limits).await.unwrap(),
            Fetched::NothingPublished
        );
        let nowhere: Address = "updates.invalid:7390".parse().unwrap();
        let error = fetch(&nowhere, &device, &limits).await.unwrap_err();
        assert!(matches!(error, FetchError::Source { .. }), "{error}");
        assert!(error.to_string().contains("updates.invalid"), "{error}");
        let version =
            publish_bytes(published.path(), &key, &key.bundle("0.2.0", &parts(7))).unwrap();
        assert_eq!(version, "0.2.0");
        let Fetched::Applied(applied) = fetch(&source.into(), &device, &limits).await.unwrap()
        else {
            panic!("0.2.0 was not written");
        };
        assert_eq!(applied.slot, 'b');
        assert_eq!(
            disk.entries(),
            ["aufruf-0.1.0-a.efi", "aufruf-0.2.0-b+3.efi"]
        );
        assert_eq!(&disk.slot('b')[..40_000], &[7; 40_000][..]);
        assert!(
            downloads(&device).is_empty(),
            "the bundle is removed once written"
        );

        // Asked again before the restart: nothing is downloaded twice.
        assert_eq!(
            fetch(&source.into(), &device, &limits).await.unwrap(),
            Fetched::Written {
                version: "0.2.0".into()
            }
        );
        // Every try failed and systemd-boot fell back to a: 0.2.0 is not taken again…
        let linux = disk.targets.efi.join("EFI/Linux");
        std::fs::rename(
            linux.join("aufruf-0.2.0-b+3.efi"),
            linux.join("aufruf-0.2.0-b+0-3.efi"),
        )
        .unwrap();
        assert_eq!(
            fetch(&source.into(), &device, &limits).await.unwrap(),
            Fetched::FailedBefore {
                version: "0.2.0".into()
            }
        );
        // …but the next version is, in place of the failed one.
        publish_bytes(published.path(), &key, &key.bundle("0.2.1", &parts(9))).unwrap();
        assert!(matches!(
            fetch(&source.into(), &device, &limits).await.unwrap(),
            Fetched::Applied(Applied { slot: 'b', .. })
        ));
        assert_eq!(
            disk.entries(),
            ["aufruf-0.1.0-a.efi", "aufruf-0.2.1-b+3.efi"]
        );

        // A device that runs the newest already, or a newer one, takes nothing.
        for booted in ["0.2.1", "0.10.0"] {
            assert!(matches!(
                fetch(&source.into(), &device_of(&disk, booted, &key), &limits)
                    .await
                    .unwrap(),
                Fetched::UpToDate { .. }
            ));
        }
    }

    #[tokio::test]
    async fn nothing_is_written_while_the_running_slot_is_on_trial() {
        let key = Key::new();
        let published = tempfile::tempdir().unwrap();
        publish_bytes(published.path(), &key, &key.bundle("0.2.0", &parts(7))).unwrap();
        let source = serve(router(published.path().to_owned())).await;
        // Booted from b, whose kernel file still counts tries: a is its fallback.
        let disk = Disk::booted_from('b');
        let device = device_of(&disk, "0.0.9", &key);
        assert_eq!(
            fetch(&source.into(), &device, &Limits::default())
                .await
                .unwrap(),
            Fetched::NotBlessed {
                booted: "0.0.9".into()
            }
        );
        assert_eq!(
            disk.slot('a'),
            vec![b'a'; super::super::testing::SLOT as usize]
        );
        assert!(downloads(&device).is_empty());
    }

    #[tokio::test]
    async fn publishing_takes_only_a_bundle_signed_with_the_key() {
        let key = Key::new();
        let published = tempfile::tempdir().unwrap();
        publish_bytes(published.path(), &key, &key.bundle("0.2.0", &parts(7))).unwrap();
        let mut tampered = key.bundle("0.3.0", &parts(7));
        let last = tampered.len() - 1;
        tampered[last] ^= 1;
        assert!(matches!(
            publish_bytes(published.path(), &key, &tampered),
            Err(UpdateError::Tampered { .. })
        ));
        assert!(matches!(
            publish_bytes(
                published.path(),
                &key,
                &Key::new().bundle("0.3.0", &parts(7))
            ),
            Err(UpdateError::Signature)
        ));
        assert_eq!(
            std::fs::read_to_string(published.path().join(LATEST)).unwrap(),
            "0.2.0\n"
        );
        let mut names: Vec<String> = std::fs::read_dir(published.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names, ["aufruf-0.2.0.update", "latest"]);
    }

    #[tokio::test]
    async fn the_served_folder_answers_only_plain_versions() {
        let key = Key::new();
        let published = tempfile::tempdir().unwrap();
        std::fs::write(published.path().join("secret"), "not for the network").unwrap();
        let source = serve(router(published.path().to_owned())).await;
        let get = |path: &str| {
            let url = format!("http://{source}{path}");
            async move { reqwest::get(url).await.unwrap() }
        };
        assert_eq!(get("/updates/latest").await.status(), 404);
        publish_bytes(published.path(), &key, &key.bundle("0.2.0", &parts(7))).unwrap();
        assert_eq!(
            get("/updates/latest").await.text().await.unwrap(),
            "0.2.0\n"
        );
        let bundle = get("/updates/bundle/0.2.0").await;
        assert_eq!(bundle.status(), 200);
        assert_eq!(
            bundle.bytes().await.unwrap().as_ref(),
            key.bundle("0.2.0", &parts(7)).as_slice()
        );
        assert_eq!(get("/updates/bundle/0.3.0").await.status(), 404);
        for hostile in ["..%2Fsecret", "...", "a%20b", "0.2.0%00"] {
            let hostile = format!("/updates/bundle/{hostile}");
            assert_eq!(get(&hostile).await.status(), 400, "{hostile}");
        }
        assert_eq!(get("/updates/secret").await.status(), 404);
    }

    /// A source that says `latest` and answers `/updates/bundle/…` with `bundle`.
    fn hostile(latest: &'static str, bundle: axum::routing::MethodRouter) -> Router {
        Router::new()
            .route("/updates/latest", get(move || async move { latest }))
            .route("/updates/bundle/{version}", bundle)
    }

    #[tokio::test]
    async fn a_hostile_source_is_refused_and_nothing_is_written() {
        let key = Key::new();
        let limits = Limits {
            bundle_bytes: 64 * 1024,
            idle: Duration::from_millis(500),
            total: Duration::from_secs(60),
        };
        let good = key.bundle("0.2.0", &parts(7));
        let mut tampered = good.clone();
        let last = tampered.len() - 1;
        tampered[last] ^= 1;
        let older = key.bundle("0.1.5", &parts(7));
        let endless = || {
            Body::from_stream(futures_util::stream::repeat_with(|| {
                Ok::<_, std::io::Error>(axum::body::Bytes::from(vec![0u8; 8192]))
            }))
        };

        type Expected = fn(&FetchError) -> bool;
        let too_large: Expected = |e| matches!(e, FetchError::TooLarge { .. });
        let source_error: Expected = |e| matches!(e, FetchError::Source { .. });
        let mismatch: Expected = |e| matches!(e, FetchError::Mismatch { .. });
        let tampered_error: Expected =
            |e| matches!(e, FetchError::Update(UpdateError::Tampered { .. }));
        let cases: Vec<(&str, Router, Expected)> = vec![
            (
                "a long /latest",
                Router::new().route("/updates/latest", get(|| async { "9".repeat(1 << 20) })),
                too_large,
            ),
            (
                "a path for a version",
                hostile("../../etc/passwd", get(|| async { "" })),
                source_error,
            ),
            (
                "a bundle announced larger than the bound",
                hostile(
                    "0.2.0",
                    get(move || async move {
                        (
                            [(header::CONTENT_LENGTH, (1u64 << 40).to_string())],
                            endless(),
                        )
                            .into_response()
                    }),
                ),
                too_large,
            ),
            (
                "a bundle without end",
                hostile("0.2.0", get(move || async move { endless() })),
                too_large,
            ),
            (
                "another version's bundle",
                hostile("0.2.0", get(move || async move { older })),
                mismatch,
            ),
            (
                "a tampered bundle",
                hostile("0.2.0", get(move || async move { tampered })),
                tampered_error,
            ),
            (
                "a source that never answers",
                Router::new().route("/updates/latest", get(std::future::pending::<&'static str>)),
                source_error,
            ),
            (
                "a bundle that stops half-way",
                hostile(
                    "0.2.0",
                    get(|| async {
                        Body::from_stream(
                            futures_util::stream::iter([Ok::<_, std::io::Error>(
                                axum::body::Bytes::from_static(b"AUFRUF-UPDATE-1\n"),
                            )])
                            .chain(futures_util::stream::pending()),
                        )
                    }),
                ),
                source_error,
            ),
        ];
        for (what, app, expected) in cases {
            let disk = booted_from_a();
            let device = device_of(&disk, "0.1.0", &key);
            let source = serve(app).await;
            let error = fetch(&source.into(), &device, &limits)
                .await
                .expect_err(what);
            assert!(expected(&error), "{what}: {error}");
            assert_eq!(disk.entries(), ["aufruf-0.1.0-a.efi"], "{what}");
            assert_eq!(
                disk.slot('b'),
                vec![b'b'; super::super::testing::SLOT as usize],
                "{what}"
            );
            assert!(
                downloads(&device).is_empty(),
                "{what}: {:?}",
                downloads(&device)
            );
        }
    }

    #[tokio::test]
    async fn an_upload_is_bounded_in_size_and_time_and_taken_one_at_a_time() {
        let key = Key::new();
        let folder = tempfile::tempdir().unwrap();
        let key_file = folder.path().join("update.pub");
        std::fs::write(&key_file, key.public()).unwrap();
        let settings = ServeSettings {
            dir: folder.path().join("published"),
            key: key_file,
        };
        let limits = Limits {
            bundle_bytes: 64 * 1024,
            idle: Duration::from_millis(300),
            total: Duration::from_secs(60),
        };
        let chunks = |n: usize| {
            futures_util::stream::iter(
                (0..n).map(|_| Ok::<_, std::io::Error>(axum::body::Bytes::from(vec![0u8; 8192]))),
            )
        };

        let endless = Body::from_stream(chunks(1000));
        assert!(matches!(
            take_in(&settings, endless, None, &limits).await,
            Err(TakeError::TooLarge { .. })
        ));
        let stalled = Body::from_stream(chunks(1).chain(futures_util::stream::pending()));
        assert!(matches!(
            take_in(&settings, stalled, None, &limits).await,
            Err(TakeError::Broken(_))
        ));
        assert!(
            names(&settings.dir).is_empty(),
            "nothing left behind: {:?}",
            names(&settings.dir)
        );

        // While one upload is under way, a second is refused at once.
        let (sender, receiver) =
            tokio::sync::mpsc::channel::<Result<axum::body::Bytes, std::io::Error>>(1);
        let slow = Body::from_stream(tokio_stream::wrappers::ReceiverStream::new(receiver));
        let first = {
            let settings = settings.clone();
            let limits = Limits {
                idle: Duration::from_secs(30),
                ..limits
            };
            tokio::spawn(async move { take_in(&settings, slow, None, &limits).await })
        };
        let bytes = key.bundle("0.2.0", &parts(7));
        sender
            .send(Ok(axum::body::Bytes::from(bytes[..100].to_vec())))
            .await
            .unwrap();
        // The first holds the one place once its bytes are taken.
        while sender.capacity() == 0 {
            tokio::task::yield_now().await;
        }
        let second = Body::from(key.bundle("0.2.1", &parts(8)));
        assert!(matches!(
            take_in(&settings, second, None, &limits).await,
            Err(TakeError::Busy)
        ));
        sender
            .send(Ok(axum::body::Bytes::from(bytes[100..].to_vec())))
            .await
            .unwrap();
        drop(sender);
        assert_eq!(first.await.unwrap().unwrap(), "0.2.0");
        assert_eq!(names(&settings.dir), ["aufruf-0.2.0.update", "latest"]);
    }

    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = match std::fs::read_dir(dir) {
            Ok(folder) => folder
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect(),
            Err(_) => Vec::new(),
        };
        names.sort();
        names
    }

    #[test]
    fn the_booted_version_is_the_images() {
        assert_eq!(
            booted_version("NAME=\"Debian\"\nIMAGE_ID=aufruf\nIMAGE_VERSION=0.1.0.412\n"),
            Some("0.1.0.412".into())
        );
        assert_eq!(
            booted_version("IMAGE_VERSION=\"0.2.0\"\n"),
            Some("0.2.0".into())
        );
        assert_eq!(booted_version("ID=debian\n"), None);
        assert_eq!(booted_version("IMAGE_VERSION=../x\n"), None);
    }
}
