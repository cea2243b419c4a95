//! Mail: what the portal sends (`Mail`), and how it leaves (`Mailer`). With no SMTP
//! server configured, mails land in an outbox folder, one `.eml` file each, written
//! and synced to disk before the request that caused it is answered — the outbox is
//! the durable queue.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use lettre::message::header::{ContentTransferEncoding, ContentType};
use lettre::message::{Attachment, Body, Mailbox, MultiPart, SinglePart};

/// The longest line of a mail's text (RFC 5322, without CRLF).
const MAX_LINE: usize = 998;

/// A mail the portal sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mail {
    pub to: String,
    pub subject: String,
    pub text: String,
    pub attachments: Vec<MailAttachment>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailAttachment {
    pub file_name: String,
    pub content_type: String,
    pub body: Vec<u8>,
}

#[derive(Debug, thiserror::Error)]
pub enum MailError {
    #[error("mail address {0:?} is not usable")]
    Address(String),
    #[error("building the mail: {0}")]
    Build(String),
    #[error("writing the mail to {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Where mail goes. `send` returns once the mail is durable (on disk or accepted by
/// the server); a mail that `send` accepted is never lost.
pub trait Mailer: Send + Sync + std::fmt::Debug {
    fn send(&self, mail: &Mail) -> Result<(), MailError>;
}

/// Mails as `.eml` files in a folder.
#[derive(Debug, Clone)]
pub struct Outbox {
    dir: PathBuf,
    from: Mailbox,
}

impl Outbox {
    pub fn new(dir: &Path, from: &str) -> Result<Self, MailError> {
        std::fs::create_dir_all(dir).map_err(|source| MailError::Io {
            path: dir.to_owned(),
            source,
        })?;
        let from = from
            .parse()
            .map_err(|_| MailError::Address(from.to_owned()))?;
        Ok(Self {
            dir: dir.to_owned(),
            from,
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

impl Mailer for Outbox {
    fn send(&self, mail: &Mail) -> Result<(), MailError> {
        let bytes = render(&self.from, mail)?;
        let io = |path: &Path| {
            let path = path.to_owned();
            move |source| MailError::Io { path, source }
        };
        let name = format!(
            "{}-{}.eml",
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis()),
            crate::secret::hex(&crate::secret::bytes::<6>())
        );
        let tmp = self.dir.join(format!(".{name}.tmp"));
        let done = self.dir.join(&name);
        let mut file = std::fs::File::create(&tmp).map_err(io(&tmp))?;
        file.write_all(&bytes).map_err(io(&tmp))?;
        file.sync_all().map_err(io(&tmp))?;
        std::fs::rename(&tmp, &done).map_err(io(&done))?;
        // The rename is durable only once the folder is synced.
        std::fs::File::open(&self.dir)
            .and_then(|d| d.sync_all())
            .map_err(io(&self.dir))?;
        Ok(())
    }
}

/// The mail as RFC 5322 bytes.
pub fn render(from: &Mailbox, mail: &Mail) -> Result<Vec<u8>, MailError> {
    let to: Mailbox = mail
        .to
        .parse()
        .map_err(|_| MailError::Address(mail.to.clone()))?;
    let builder = lettre::Message::builder()
        .from(from.clone())
        .to(to)
        .subject(mail.subject.clone());
    // 8bit, not quoted-printable: the outbox's files stay readable and links whole.
    // RFC 5322 allows lines of up to 998 octets; lettre's own check stops at 76.
    let crlf = mail.text.replace("\r\n", "\n").replace('\n', "\r\n");
    if crlf.split("\r\n").any(|line| line.len() > MAX_LINE) {
        return Err(MailError::Build("a line of the text is too long".into()));
    }
    let body = Body::dangerous_pre_encoded(crlf.into_bytes(), ContentTransferEncoding::EightBit);
    let text = SinglePart::builder()
        .header(ContentType::TEXT_PLAIN)
        .body(body);
    let message = if mail.attachments.is_empty() {
        builder.singlepart(text)
    } else {
        let mut parts = MultiPart::mixed().singlepart(text);
        for a in &mail.attachments {
            let content_type =
                ContentType::parse(&a.content_type).map_err(|e| MailError::Build(e.to_string()))?;
            parts = parts.singlepart(
                Attachment::new(a.file_name.clone()).body(a.body.clone(), content_type),
            );
        }
        builder.multipart(parts)
    }
    .map_err(|e| MailError::Build(e.to_string()))?;
    Ok(message.formatted())
}

/// An iCalendar event for an appointment (RFC 5545): CRLF lines folded at 75 octets,
/// text escaped.
pub fn ics(
    uid: &str,
    start_ms: u64,
    minutes: u32,
    summary: &str,
    location: &str,
    now_ms: u64,
) -> Vec<u8> {
    let stamp = |ms: u64| {
        chrono::DateTime::from_timestamp_millis(i64::try_from(ms).unwrap_or(i64::MAX))
            .unwrap_or_default()
            .format("%Y%m%dT%H%M%SZ")
            .to_string()
    };
    let end_ms = start_ms.saturating_add(u64::from(minutes) * 60_000);
    let lines = [
        "BEGIN:VCALENDAR".to_owned(),
        "VERSION:2.0".to_owned(),
        "PRODID:-//Aufruf//Buergerbuero//DE".to_owned(),
        "METHOD:PUBLISH".to_owned(),
        "BEGIN:VEVENT".to_owned(),
        format!("UID:{}", escape(uid)),
        format!("DTSTAMP:{}", stamp(now_ms)),
        format!("DTSTART:{}", stamp(start_ms)),
        format!("DTEND:{}", stamp(end_ms)),
        format!("SUMMARY:{}", escape(summary)),
        format!("LOCATION:{}", escape(location)),
        "END:VEVENT".to_owned(),
        "END:VCALENDAR".to_owned(),
    ];
    let mut out = String::new();
    for line in lines {
        fold(&line, &mut out);
    }
    out.into_bytes()
}

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            ';' => out.push_str("\\;"),
            ',' => out.push_str("\\,"),
            '\n' => out.push_str("\\n"),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

fn fold(line: &str, out: &mut String) {
    let mut width = 0;
    for c in line.chars() {
        if width + c.len_utf8() > 75 {
            out.push_str("\r\n ");
            width = 1;
        }
        out.push(c);
        width += c.len_utf8();
    }
    out.push_str("\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outbox_writes_one_eml_per_mail_with_the_attachment() {
        let dir = tempfile::tempdir().unwrap();
        let outbox = Outbox::new(dir.path(), "Termine <termine@zeitz.example>").unwrap();
        let mail = Mail {
            to: "erika@example.org".into(),
            subject: "Ihr Termin – Bürgerbüro".into(),
            text: "Grüße, hier der Link: https://termine.example/verify?token=ab12".into(),
            attachments: vec![MailAttachment {
                file_name: "termin.ics".into(),
                content_type: "text/calendar; charset=utf-8".into(),
                body: ics(
                    "K7M2X9PQ@aufruf",
                    1_795_000_000_000,
                    15,
                    "Reisepass; neu",
                    "Zeitz, Rathaus",
                    0,
                ),
            }],
        };
        outbox.send(&mail).unwrap();
        outbox.send(&mail).unwrap();
        let files: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        assert_eq!(files.len(), 2, "{files:?}");
        let text = std::fs::read_to_string(&files[0]).unwrap();
        assert!(text.contains("To: erika@example.org"), "{text}");
        assert!(
            text.contains("Grüße, hier der Link: https://termine.example/verify?token=ab12"),
            "readable: {text}"
        );
        assert!(text.contains("termin.ics"), "{text}");
        assert!(text.contains("text/calendar"), "{text}");
        assert!(Outbox::new(dir.path(), "not an address").is_err());
        let bad = Mail {
            to: "erika@example.org\r\nBcc: all@example.org".into(),
            ..mail
        };
        assert!(matches!(outbox.send(&bad), Err(MailError::Address(_))));
    }

    #[test]
    fn ics_escapes_and_folds() {
        let long = "x".repeat(200);
        let bytes = ics("u", 0, 30, &format!("a;b,c\\d\n{long}"), "l", 0);
        let text = String::from_utf8(bytes).unwrap();
        assert!(text.contains("SUMMARY:a\\;b\\,c\\\\d\\nxx"));
        assert!(text.lines().all(|l| l.trim_end_matches('\r').len() <= 75));
        assert!(text.contains("DTSTART:19700101T000000Z\r\nDTEND:19700101T003000Z\r\n"));
    }
}
