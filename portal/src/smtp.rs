//! Mail over SMTP that is never lost: `send` writes the mail into a queue folder
//! (synced, like the outbox) and returns; a sender thread hands queued mails to the
//! server (lettre, STARTTLS with rustls) and removes each once the server took it. A
//! mail the server does not take stays queued and is tried again with back-off —
//! also after a restart, as the thread starts with whatever the folder holds.

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

use lettre::address::Envelope;
use lettre::transport::smtp::authentication::Credentials;
use lettre::{SmtpTransport, Transport as _};

use crate::mail::{Mail, MailError, Mailer, Outbox};
use crate::settings::SmtpSettings;

/// The longest wait between two tries.
const MAX_BACKOFF: Duration = Duration::from_secs(300);

/// The SMTP mailer: a durable queue and its sender thread.
#[derive(Debug)]
pub struct SmtpQueue {
    queue: Outbox,
    wake: mpsc::Sender<()>,
}

impl SmtpQueue {
    /// Starts the sender on the queue in `dir`. Dropping the queue stops it.
    pub fn start(dir: &Path, from: &str, smtp: &SmtpSettings) -> Result<Self, MailError> {
        if !smtp.starttls && !is_loopback(&smtp.host) {
            return Err(MailError::Build(format!(
                "SMTP without STARTTLS is only for a relay on this machine, not {}",
                smtp.host
            )));
        }
        let queue = Outbox::new(dir, from)?;
        let transport = transport(smtp)?;
        let (wake, woken) = mpsc::channel();
        let folder = dir.to_owned();
        std::thread::Builder::new()
            .name("smtp-sender".into())
            .spawn(move || sender(&folder, &transport, &woken))
            .map_err(|source| MailError::Io {
                path: dir.to_owned(),
                source,
            })?;
        Ok(Self { queue, wake })
    }
}

impl Mailer for SmtpQueue {
    fn send(&self, mail: &Mail) -> Result<(), MailError> {
        self.queue.send(mail)?;
        // The sender may have stopped only if this queue is being dropped.
        let _ = self.wake.send(());
        Ok(())
    }
}

fn is_loopback(host: &str) -> bool {
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

fn transport(smtp: &SmtpSettings) -> Result<SmtpTransport, MailError> {
    let builder = if smtp.starttls {
        SmtpTransport::starttls_relay(&smtp.host).map_err(|e| MailError::Build(e.to_string()))?
    } else {
        SmtpTransport::builder_dangerous(&smtp.host)
    };
    let mut builder = builder
        .port(smtp.port)
        .timeout(Some(Duration::from_secs(30)));
    if let (Some(user), Some(password)) = (&smtp.username, &smtp.password) {
        builder = builder.credentials(Credentials::new(user.clone(), password.clone()));
    }
    Ok(builder.build())
}

/// Sends what the queue holds, oldest first; waits for new mail, or after a failure
/// for the back-off, before looking again.
fn sender(dir: &Path, transport: &SmtpTransport, woken: &mpsc::Receiver<()>) {
    let mut backoff = Duration::from_secs(1);
    loop {
        let wait = match send_queued(dir, transport) {
            Ok(()) => {
                backoff = Duration::from_secs(1);
                Duration::from_secs(60)
            }
            Err(e) => {
                tracing::warn!(error = %e, retry_in = ?backoff, "mail server did not take a mail; it stays queued");
                let wait = backoff;
                backoff = (backoff * 2).min(MAX_BACKOFF);
                wait
            }
        };
        match woken.recv_timeout(wait) {
            Ok(()) | Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => return,
        }
        // Several mails may have woken it: one look at the folder sends them all.
        while woken.try_recv().is_ok() {}
    }
}

fn send_queued(dir: &Path, transport: &SmtpTransport) -> Result<(), String> {
    let mut queued: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| e.to_string())?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "eml"))
        .collect();
    // File names start with the time they were queued.
    queued.sort();
    for path in queued {
        let bytes = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        let envelope = envelope_of(&bytes)
            .ok_or_else(|| format!("{}: no sender or recipient", path.display()))?;
        transport
            .send_raw(&envelope, &bytes)
            .map_err(|e| e.to_string())?;
        std::fs::remove_file(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    Ok(())
}

/// The envelope from the mail's own `From:` and `To:` headers (the portal writes one
/// plain address in each).
fn envelope_of(bytes: &[u8]) -> Option<Envelope> {
    let text = String::from_utf8_lossy(bytes);
    let header = |name: &str| {
        text.split("\r\n\r\n").next()?.lines().find_map(|line| {
            let value = line.strip_prefix(name)?.trim();
            let address = value
                .rsplit_once('<')
                .map_or(value, |(_, a)| a.trim_end_matches('>'));
            address.parse::<lettre::Address>().ok()
        })
    };
    Envelope::new(Some(header("From:")?), vec![header("To:")?]).ok()
}
