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
use lettre::transport::smtp::client::{Certificate, CertificateStore, Tls, TlsParameters};
use lettre::{SmtpTransport, Transport as _};

use crate::mail::{Mail, MailError, Mailer, Outbox};
use crate::settings::SmtpSettings;

/// The longest wait between two tries.
const MAX_BACKOFF: Duration = Duration::from_secs(300);
/// A certificate authority's file is a few kilobytes; more is not one.
const MAX_CA_BYTES: u64 = 1 << 20;

/// The SMTP mailer: a durable queue and its sender thread.
#[derive(Debug)]
pub struct SmtpQueue {
    queue: Outbox,
    wake: mpsc::Sender<()>,
}

/// What one look at the queue came to: what a watcher (a test, a status page) hears.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    /// The server took every mail that was queued; this many went out.
    Sent(usize),
    /// The server did not take a mail (why); it stays queued for the next try.
    Failed(String),
}

impl SmtpQueue {
    /// Starts the sender on the queue in `dir`. Dropping the queue stops it.
    pub fn start(dir: &Path, from: &str, smtp: &SmtpSettings) -> Result<Self, MailError> {
        Self::start_reporting(dir, from, smtp, None)
    }

    /// As [`SmtpQueue::start`], telling `reports` how each look at the queue ended.
    pub fn start_reporting(
        dir: &Path,
        from: &str,
        smtp: &SmtpSettings,
        reports: Option<mpsc::Sender<Delivery>>,
    ) -> Result<Self, MailError> {
        if !smtp.starttls && !is_loopback(&smtp.host) {
            return Err(MailError::Build(format!(
                "SMTP without STARTTLS is only for a relay on this machine, not {}",
                smtp.host
            )));
        }
        if !smtp.starttls && smtp.ca.is_some() {
            return Err(MailError::Build(
                "a mail server's `ca` needs `starttls = true`".into(),
            ));
        }
        let queue = Outbox::new(dir, from)?;
        let transport = transport(smtp)?;
        let (wake, woken) = mpsc::channel();
        let folder = dir.to_owned();
        std::thread::Builder::new()
            .name("smtp-sender".into())
            .spawn(move || sender(&folder, &transport, &woken, reports.as_ref()))
            .map_err(|source| MailError::Io {
                path: dir.to_owned(),
                source,
            })?;
        Ok(Self { queue, wake })
    }

    /// Tries the queued mails now instead of after the back-off (the server is known
    /// to be back).
    pub fn retry_now(&self) {
        // The sender may have stopped only if this queue is being dropped.
        let _ = self.wake.send(());
    }
}

impl Mailer for SmtpQueue {
    fn send(&self, mail: &Mail) -> Result<(), MailError> {
        self.queue.send(mail)?;
        self.retry_now();
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
        let mut tls = TlsParameters::builder(smtp.host.clone());
        if let Some(ca) = &smtp.ca {
            tls = tls
                .certificate_store(CertificateStore::None)
                .add_root_certificate(read_ca(ca)?);
        }
        let tls = tls
            .build_rustls()
            .map_err(|e| MailError::Build(e.to_string()))?;
        // STARTTLS or nothing: no credentials and no mail go out in the clear.
        SmtpTransport::builder_dangerous(&smtp.host).tls(Tls::Required(tls))
    } else {
        SmtpTransport::builder_dangerous(&smtp.host)
    };
    let mut builder = builder
        .port(smtp.port)
        .timeout(Some(Duration::from_secs(30)));
    if let (Some(user), Some(password)) = (&smtp.username, &smtp.password) {
        builder = builder.credentials(Credentials::new(user.clone(), password.0.clone()));
    }
    Ok(builder.build())
}

/// The mail server's certificate authority from a PEM file of at most
/// [`MAX_CA_BYTES`] holding at least one certificate.
fn read_ca(path: &Path) -> Result<Certificate, MailError> {
    use std::io::Read as _;
    let io = |source| MailError::Io {
        path: path.to_owned(),
        source,
    };
    let mut pem = Vec::new();
    std::fs::File::open(path)
        .map_err(io)?
        .take(MAX_CA_BYTES + 1)
        .read_to_end(&mut pem)
        .map_err(io)?;
    let wrong =
        |why: &str| MailError::Build(format!("the mail server's ca {}: {why}", path.display()));
    if pem.len() as u64 > MAX_CA_BYTES {
        return Err(wrong("larger than 1 MiB, not a certificate authority"));
    }
    if !pem
        .windows(b"-----BEGIN CERTIFICATE-----".len())
        .any(|w| w == b"-----BEGIN CERTIFICATE-----")
    {
        return Err(wrong("holds no PEM certificate"));
    }
    Certificate::from_pem(&pem).map_err(|e| wrong(&e.to_string()))
}

/// Sends what the queue holds, oldest first; waits for new mail, or after a failure
/// for the back-off, before looking again.
fn sender(
    dir: &Path,
    transport: &SmtpTransport,
    woken: &mpsc::Receiver<()>,
    reports: Option<&mpsc::Sender<Delivery>>,
) {
    let mut backoff = Duration::from_secs(1);
    loop {
        let outcome = send_queued(dir, transport);
        let wait = match &outcome {
            Ok(_) => {
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
        if let Some(reports) = reports {
            // A watcher that went away does not stop the mail.
            let _ = reports.send(outcome.map_or_else(Delivery::Failed, Delivery::Sent));
        }
        match woken.recv_timeout(wait) {
            Ok(()) | Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => return,
        }
        // Several mails may have woken it: one look at the folder sends them all.
        while woken.try_recv().is_ok() {}
    }
}

/// Sends every queued mail; how many went out.
fn send_queued(dir: &Path, transport: &SmtpTransport) -> Result<usize, String> {
    let mut queued: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| e.to_string())?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "eml"))
        .collect();
    // File names start with the time they were queued.
    queued.sort();
    let count = queued.len();
    for path in queued {
        let bytes = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        let envelope = envelope_of(&bytes)
            .ok_or_else(|| format!("{}: no sender or recipient", path.display()))?;
        transport
            .send_raw(&envelope, &bytes)
            .map_err(|e| e.to_string())?;
        std::fs::remove_file(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    Ok(count)
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
