//! `aufruf config apply`: the administrator publishes the office's configuration.
//!
//! The file is validated here first (the same errors as `aufruf config check`), then
//! signed with the office CA's key from the office folder, and handed to a running
//! node's local API, which checks it as every peer will and keeps it in the office
//! document. The CA key never leaves the admin's machine; the node needs none.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, bail};
use aufruf_office::office_doc::{
    self as office_doc, CONFIG_FORMAT, ConfigDelegation, ConfigPayload, DELEGATED_PURPOSE,
    Revocation, SignedConfig, SignedDelegation, SignedRevocation,
};
use serde_json::Value;

use crate::config_file;
use crate::credentials::OfficeFolder;

/// How long the node may take to answer.
const TIMEOUT: Duration = Duration::from_secs(30);
/// The largest answer read from the node.
const MAX_ANSWER: u64 = 64 * 1024;
/// The largest list of the office's documents a node may answer with.
const MAX_DOCUMENTS_ANSWER: u64 = office_doc::MAX_REVOCATION_BYTES as u64;

/// `GET /api/office/documents`: the day documents and their heads.
#[derive(serde::Deserialize)]
struct HeldDocuments {
    documents: BTreeMap<String, Vec<String>>,
}
/// The environment variable the admin commands take the node's `api_token` from.
pub const TOKEN_VARIABLE: &str = "AUFRUF_API_TOKEN";

/// Validates `file`, signs it as the next revision and publishes it through the
/// node whose local API is at `api`. Returns the revision now in force.
pub fn apply(file: &Path, office_dir: &Path, api: SocketAddr) -> anyhow::Result<u64> {
    let (text, config) = config_file::load_office(file)?;
    let folder = OfficeFolder::open(office_dir)?;
    if config.office.id != folder.ca.office {
        bail!(
            "{}: office.id is \"{}\", but {} holds the CA of office \"{}\"",
            file.display(),
            config.office.id,
            office_dir.display(),
            folder.ca.office
        );
    }
    let (status, current) = request(api, "GET", "/api/office/config", None)?;
    if status != 200 {
        bail!("the node at {api} answered {status}: {current}");
    }
    let current = current["revision"]
        .as_u64()
        .with_context(|| format!("the node at {api} did not say its revision: {current}"))?;
    let payload = ConfigPayload {
        format: CONFIG_FORMAT,
        revision: current + 1,
        office: config.office.id.to_string(),
        text,
    };
    let signed = SignedConfig::new(&payload, |bytes| folder.ca.sign_as_admin(bytes))?;
    let body = serde_json::to_string(&signed)?;
    let (status, answer) = request(api, "POST", "/api/office/config", Some(&body))?;
    if status != 200 {
        let error = answer["error"].as_str().unwrap_or("no reason given");
        bail!("the node at {api} refused the configuration ({status}): {error}");
    }
    answer["revision"]
        .as_u64()
        .with_context(|| format!("the node at {api} did not say the revision: {answer}"))
}

/// Signs the word that lets gateway `node` publish the office's configuration and
/// writes it to `out` (which must not exist: an old word is not overwritten by
/// mistake).
pub fn delegate(node: &aufruf_model::NodeId, office_dir: &Path, out: &Path) -> anyhow::Result<()> {
    let folder = OfficeFolder::open(office_dir)?;
    let delegation = ConfigDelegation {
        office: folder.ca.office.to_string(),
        delegate: node.clone(),
        purpose: DELEGATED_PURPOSE.to_owned(),
    };
    let signed = SignedDelegation::new(&delegation, |bytes| folder.ca.sign_as_admin(bytes))?;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(out)
        .with_context(|| format!("writing {}", out.display()))?;
    file.write_all(serde_json::to_string_pretty(&signed)?.as_bytes())?;
    file.sync_all()?;
    Ok(())
}

fn admin_request(api: SocketAddr, path: &str, email: &str) -> anyhow::Result<Value> {
    let body = serde_json::json!({ "email": email }).to_string();
    let (status, answer) = request(api, "POST", path, Some(&body))?;
    if status != 200 {
        let error = answer["error"].as_str().unwrap_or("no reason given");
        bail!("the node at {api} refused ({status}): {error}");
    }
    Ok(answer)
}

/// Invites an admin through the gateway at `api`; the set-up link.
pub fn invite_admin(api: SocketAddr, email: &str) -> anyhow::Result<String> {
    let answer = admin_request(api, "/api/portal/admins", email)?;
    answer["link"]
        .as_str()
        .map(str::to_owned)
        .with_context(|| format!("the node at {api} gave no link: {answer}"))
}

/// Removes an admin through the gateway at `api`; whether there was one.
pub fn remove_admin(api: SocketAddr, email: &str) -> anyhow::Result<bool> {
    let answer = admin_request(api, "/api/portal/admins/remove", email)?;
    answer["removed"]
        .as_bool()
        .with_context(|| format!("the node at {api} did not say: {answer}"))
}

/// The admins of the gateway at `api`.
pub fn admins(api: SocketAddr) -> anyhow::Result<Vec<String>> {
    let (status, answer) = request(api, "GET", "/api/portal/admins", None)?;
    if status != 200 {
        let error = answer["error"].as_str().unwrap_or("no reason given");
        bail!("the node at {api} answered {status}: {error}");
    }
    Ok(answer["admins"]
        .as_array()
        .with_context(|| format!("the node at {api} gave no list: {answer}"))?
        .iter()
        .filter_map(|a| a.as_str().map(str::to_owned))
        .collect())
}

/// Revokes `node` from now on: asks the node whose local API is at `api` for the
/// office's day documents as it holds them, signs the revocation naming them with the
/// office CA's key and hands it to that node; it reaches every device like any change,
/// which then ends the node's sessions and counts of its writing only what those
/// documents held (a stolen key cannot write into the past).
pub fn revoke(
    node: &aufruf_model::NodeId,
    office_dir: &Path,
    api: SocketAddr,
    from: std::time::SystemTime,
) -> anyhow::Result<()> {
    let folder = OfficeFolder::open(office_dir)?;
    let from_ms = from
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    let (status, content) = exchange(
        api,
        "GET",
        "/api/office/documents",
        None,
        MAX_DOCUMENTS_ANSWER,
    )?;
    if status != 200 {
        bail!("the node at {api} did not name the office's documents ({status})");
    }
    let documents: BTreeMap<String, Vec<String>> =
        serde_json::from_slice::<HeldDocuments>(&content)
            .with_context(|| format!("the node at {api} named the office's documents garbled"))?
            .documents;
    let revocation = Revocation {
        office: folder.ca.office.to_string(),
        node: node.clone(),
        from_ms,
        documents: Some(documents),
    };
    let signed = SignedRevocation::new(&revocation, |bytes| folder.ca.sign_as_admin(bytes))?;
    let body = serde_json::to_string(&signed)?;
    if body.len() > office_doc::MAX_REVOCATION_BYTES {
        bail!(
            "the revocation would take {} bytes, more than the {} a node reads: the node at {api} holds too many documents",
            body.len(),
            office_doc::MAX_REVOCATION_BYTES
        );
    }
    let (status, answer) = request(api, "POST", "/api/office/revoke", Some(&body))?;
    if status != 200 {
        let error = answer["error"].as_str().unwrap_or("no reason given");
        bail!("the node at {api} refused the revocation ({status}): {error}");
    }
    Ok(())
}

/// The largest backup taken from a node.
const MAX_BACKUP: u64 = 4 << 30;

/// Takes an encrypted backup of the portal's store from the gateway whose local API
/// is at `api`, and writes it to `out` (readable by its owner only, whole or not at
/// all). Returns its size.
pub fn backup(api: SocketAddr, out: &Path) -> anyhow::Result<usize> {
    let (status, bytes) = exchange(api, "POST", "/api/portal/backup", None, MAX_BACKUP)?;
    if status != 200 {
        let answer: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        let error = answer["error"].as_str().unwrap_or("no reason given");
        bail!("the node at {api} made no backup ({status}): {error}");
    }
    if !bytes.starts_with(aufruf_portal::backup::MAGIC) {
        bail!("the node at {api} answered something that is not a backup");
    }
    let tmp = out.with_extension("part");
    {
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options
            .open(&tmp)
            .with_context(|| format!("writing {}", tmp.display()))?;
        file.write_all(&bytes)?;
        file.sync_all()?;
    }
    std::fs::rename(&tmp, out).with_context(|| format!("writing {}", out.display()))?;
    Ok(bytes.len())
}

/// Restores a backup into the portal store the node's file names (`[node.portal]`
/// `store`, which must not exist yet), with its `backup_key`. Returns the entries.
pub fn restore(config: &Path, from: &Path) -> anyhow::Result<(usize, std::path::PathBuf)> {
    let (_, settings) = crate::runtime::load(config)?;
    let portal = settings
        .portal
        .with_context(|| format!("{}: no [node.portal] table", config.display()))?;
    let key = portal
        .backup_key
        .as_deref()
        .ok_or(aufruf_portal::backup::BackupError::NoKey)
        .and_then(aufruf_portal::backup::parse_key)?;
    let bytes = std::fs::read(from).with_context(|| format!("reading {}", from.display()))?;
    let entries = aufruf_portal::backup::restore(&bytes, &key, &portal.store)?;
    Ok((entries, portal.store))
}

/// Uploads the update bundle at `bundle` to the node whose local API is at `api`
/// (`[node.updates]`), which checks it and publishes it to the office's devices.
/// Returns its version.
pub fn upload_update(api: SocketAddr, bundle: &Path) -> anyhow::Result<String> {
    let mut file =
        std::fs::File::open(bundle).with_context(|| format!("reading {}", bundle.display()))?;
    let length = file.metadata()?.len();
    let (status, content) = exchange_with(
        api,
        "PUT",
        "/api/updates",
        ("application/octet-stream", length),
        |stream| std::io::copy(&mut file, stream).map(|_| ()),
        MAX_ANSWER,
    )?;
    let answer: Value = serde_json::from_slice(&content).unwrap_or(Value::Null);
    if status != 200 {
        let error = answer["error"].as_str().unwrap_or("no reason given");
        bail!("the node at {api} did not take the update ({status}): {error}");
    }
    answer["version"]
        .as_str()
        .map(str::to_owned)
        .with_context(|| format!("the node at {api} did not say the version: {answer}"))
}

/// One HTTP/1.1 request to a node's local API with a JSON body; the status and the
/// JSON answer. Small on purpose: these are short requests to the local API.
fn request(
    api: SocketAddr,
    method: &str,
    path: &str,
    body: Option<&str>,
) -> anyhow::Result<(u16, Value)> {
    let (status, content) = exchange(api, method, path, body, MAX_ANSWER)?;
    let json = serde_json::from_slice(&content).unwrap_or(Value::Null);
    Ok((status, json))
}

/// One HTTP/1.1 request; the status and at most `max` bytes of the answer's body.
fn exchange(
    api: SocketAddr,
    method: &str,
    path: &str,
    body: Option<&str>,
    max: u64,
) -> anyhow::Result<(u16, Vec<u8>)> {
    let body = body.unwrap_or("");
    exchange_with(
        api,
        method,
        path,
        ("application/json", body.len() as u64),
        |stream| stream.write_all(body.as_bytes()),
        max,
    )
}

/// One HTTP/1.1 request whose body (`content`: its type and length) `write` sends;
/// the status and at most `max` bytes of the answer's body.
fn exchange_with(
    api: SocketAddr,
    method: &str,
    path: &str,
    content: (&str, u64),
    write: impl FnOnce(&mut TcpStream) -> std::io::Result<()>,
    max: u64,
) -> anyhow::Result<(u16, Vec<u8>)> {
    let reach = || format!("the node's local API at {api}");
    let mut stream = TcpStream::connect_timeout(&api, TIMEOUT).with_context(reach)?;
    stream.set_read_timeout(Some(TIMEOUT))?;
    stream.set_write_timeout(Some(TIMEOUT))?;
    let (content_type, length) = content;
    // A node whose API has an `api_token` wants it on every request; taken from the
    // environment, so it shows neither on the command line nor in `ps`.
    let authorization = std::env::var(TOKEN_VARIABLE)
        .ok()
        .filter(|t| !t.is_empty())
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {api}\r\n{authorization}\
         Content-Type: {content_type}\r\nContent-Length: {length}\r\nConnection: close\r\n\r\n"
    )
    .with_context(reach)?;
    write(&mut stream).with_context(reach)?;
    let mut answer = Vec::new();
    stream
        .take(max.saturating_add(64 * 1024))
        .read_to_end(&mut answer)
        .with_context(reach)?;
    let split = answer
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .with_context(|| format!("{}: no HTTP answer", reach()))?;
    let head = String::from_utf8_lossy(&answer[..split]).into_owned();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .with_context(|| format!("{}: no HTTP status in {head:?}", reach()))?;
    let chunked = head.lines().any(|l| {
        l.to_ascii_lowercase()
            .starts_with("transfer-encoding: chunked")
    });
    let content = &answer[split + 4..];
    let content = if chunked {
        dechunk(content)?
    } else {
        content.to_vec()
    };
    if content.len() as u64 > max {
        bail!("{}: the answer is larger than {max} bytes", reach());
    }
    Ok((status, content))
}

/// The body of a chunked answer.
fn dechunk(mut rest: &[u8]) -> anyhow::Result<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let line_end = rest
            .windows(2)
            .position(|w| w == b"\r\n")
            .context("a chunked answer broke off")?;
        let size = std::str::from_utf8(&rest[..line_end])?
            .split(';')
            .next()
            .unwrap_or("");
        let size = usize::from_str_radix(size.trim(), 16).context("a bad chunk size")?;
        rest = &rest[line_end + 2..];
        if size == 0 {
            return Ok(body);
        }
        let chunk = rest.get(..size).context("a chunked answer broke off")?;
        body.extend_from_slice(chunk);
        rest = rest.get(size + 2..).context("a chunked answer broke off")?;
    }
}

#[cfg(test)]
mod tests {
    use super::dechunk;

    #[test]
    fn a_chunked_answer_is_joined_and_a_broken_one_refused() {
        assert_eq!(
            dechunk(b"5\r\nHallo\r\n7;ext=1\r\n, Zeitz\r\n0\r\n\r\n").unwrap(),
            b"Hallo, Zeitz"
        );
        assert_eq!(dechunk(b"0\r\n\r\n").unwrap(), b"");
        for broken in [
            &b"5\r\nHal"[..],
            b"5\r\nHallo",
            b"5\r\nHallo\r\n",
            b"zz\r\nHallo\r\n0\r\n\r\n",
            b"ffffffffffffffff\r\nHallo\r\n0\r\n\r\n",
            b"5 Hallo",
        ] {
            assert!(
                dechunk(broken).is_err(),
                "{:?}",
                String::from_utf8_lossy(broken)
            );
        }
    }
}
