//! `aufruf config apply`: the administrator publishes the office's configuration.
//!
//! The file is validated here first (the same errors as `aufruf config check`), then
//! signed with the office CA's key from the office folder, and handed to a running
//! node's local API, which checks it as every peer will and keeps it in the office
//! document. The CA key never leaves the admin's machine; the node needs none.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, bail};
use aufruf_office::office_doc::{
    CONFIG_FORMAT, ConfigPayload, Revocation, SignedConfig, SignedRevocation,
};
use serde_json::Value;

use crate::config_file;
use crate::credentials::OfficeFolder;

/// How long the node may take to answer.
const TIMEOUT: Duration = Duration::from_secs(30);
/// The largest answer read from the node.
const MAX_ANSWER: u64 = 64 * 1024;

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

/// Revokes `node` from now on: signs the revocation with the office CA's key and
/// hands it to the node whose local API is at `api`; it reaches every device like any
/// change, which then ends the node's sessions and ignores its later events.
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
    let revocation = Revocation {
        office: folder.ca.office.to_string(),
        node: node.clone(),
        from_ms,
    };
    let signed = SignedRevocation::new(&revocation, |bytes| folder.ca.sign_as_admin(bytes))?;
    let body = serde_json::to_string(&signed)?;
    let (status, answer) = request(api, "POST", "/api/office/revoke", Some(&body))?;
    if status != 200 {
        let error = answer["error"].as_str().unwrap_or("no reason given");
        bail!("the node at {api} refused the revocation ({status}): {error}");
    }
    Ok(())
}

/// One HTTP/1.1 request to a node's local API with a JSON body; the status and the
/// JSON answer. Small on purpose: the binary carries no HTTP client library.
fn request(
    api: SocketAddr,
    method: &str,
    path: &str,
    body: Option<&str>,
) -> anyhow::Result<(u16, Value)> {
    let reach = || format!("the node's local API at {api}");
    let mut stream = TcpStream::connect_timeout(&api, TIMEOUT).with_context(reach)?;
    stream.set_read_timeout(Some(TIMEOUT))?;
    stream.set_write_timeout(Some(TIMEOUT))?;
    let body = body.unwrap_or("");
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {api}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .with_context(reach)?;
    let mut answer = Vec::new();
    stream
        .take(MAX_ANSWER)
        .read_to_end(&mut answer)
        .with_context(reach)?;
    let answer = String::from_utf8_lossy(&answer);
    let (head, content) = answer
        .split_once("\r\n\r\n")
        .with_context(|| format!("{}: no HTTP answer", reach()))?;
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .with_context(|| format!("{}: no HTTP status in {head:?}", reach()))?;
    let json = serde_json::from_str(content).unwrap_or(Value::Null);
    Ok((status, json))
}
