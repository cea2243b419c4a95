//! Mail through a real SMTP conversation with a server started by the test: a mail
//! sent while the server is down stays queued on disk and arrives once it is up; over
//! STARTTLS only to the server the city's certificate authority vouches for, and
//! neither the password nor a mail to any other.

use std::io::{BufRead as _, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

use aufruf_portal::mail::{Mail, Mailer as _};
use aufruf_portal::settings::{Redacted, SmtpSettings};
use aufruf_portal::smtp::{Delivery, SmtpQueue};
use rustls::ServerConfig;

/// What the test's SMTP server saw.
#[derive(Debug, Default)]
struct Seen {
    /// Each mail: its recipient and its data.
    mails: Vec<(String, String)>,
    /// Each AUTH line's argument, and whether it came over TLS.
    auths: Vec<(bool, String)>,
    /// How many conversations turned to TLS.
    tls: usize,
}

trait Conn: Read + Write + Send {}
impl<T: Read + Write + Send> Conn for T {}

/// A minimal SMTP server that says yes to everything. With `tls` it offers STARTTLS
/// with that certificate and takes no mail before it; without, it is a plain relay
/// that would also take a password in the clear.
fn serve_smtp(listener: TcpListener, tls: Option<Arc<ServerConfig>>) -> Arc<Mutex<Seen>> {
    let seen = Arc::new(Mutex::new(Seen::default()));
    let shared = seen.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            let (tls, seen) = (tls.clone(), shared.clone());
            // A client that gives up (a refused certificate) ends its conversation.
            std::thread::spawn(move || converse(stream, tls.as_ref(), &seen));
        }
    });
    seen
}

fn converse(
    stream: TcpStream,
    tls: Option<&Arc<ServerConfig>>,
    seen: &Mutex<Seen>,
) -> std::io::Result<()> {
    let mut conn: BufReader<Box<dyn Conn>> = BufReader::new(Box::new(stream.try_clone()?));
    let reply = |conn: &mut BufReader<Box<dyn Conn>>, text: &str| -> std::io::Result<()> {
        conn.get_mut().write_all(text.as_bytes())?;
        conn.get_mut().flush()
    };
    reply(&mut conn, "220 test.example ESMTP\r\n")?;
    let mut secure = false;
    let mut rcpt = String::new();
    let mut line = String::new();
    loop {
        line.clear();
        if conn.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let command = line.trim_end().to_ascii_uppercase();
        let must_start_tls = tls.is_some() && !secure;
        if command.starts_with("EHLO") {
            let offer = if must_start_tls {
                "STARTTLS"
            } else {
                "AUTH PLAIN LOGIN"
            };
            reply(
                &mut conn,
                &format!("250-test.example\r\n250-{offer}\r\n250 8BITMIME\r\n"),
            )?;
        } else if command == "STARTTLS" {
            let Some(config) = tls.filter(|_| !secure) else {
                reply(&mut conn, "502 not offered\r\n")?;
                continue;
            };
            reply(&mut conn, "220 go ahead\r\n")?;
            // The client waits for the answer above: nothing of it is buffered.
            let session = rustls::ServerConnection::new(config.clone()).unwrap();
            conn = BufReader::new(Box::new(rustls::StreamOwned::new(
                session,
                stream.try_clone()?,
            )));
            secure = true;
            seen.lock().unwrap().tls += 1;
        } else if let Some(argument) = line.trim_end().strip_prefix("AUTH ") {
            seen.lock()
                .unwrap()
                .auths
                .push((secure, argument.to_owned()));
            reply(&mut conn, "235 ok\r\n")?;
        } else if must_start_tls && command != "QUIT" {
            reply(&mut conn, "530 issue STARTTLS first\r\n")?;
        } else if command.starts_with("RCPT TO:") {
            rcpt = line.trim_end()[8..].to_owned();
            reply(&mut conn, "250 OK\r\n")?;
        } else if command == "DATA" {
            reply(&mut conn, "354 go on\r\n")?;
            let mut data = String::new();
            loop {
                line.clear();
                conn.read_line(&mut line)?;
                if line == ".\r\n" {
                    break;
                }
                data.push_str(&line);
            }
            seen.lock().unwrap().mails.push((rcpt.clone(), data));
            reply(&mut conn, "250 queued\r\n")?;
        } else if command == "QUIT" {
            return reply(&mut conn, "221 bye\r\n");
        } else {
            reply(&mut conn, "250 OK\r\n")?;
        }
    }
}

/// A certificate authority of the test's own.
struct Authority {
    issuer: rcgen::CertifiedIssuer<'static, rcgen::KeyPair>,
}

impl Authority {
    fn new(name: &str) -> Self {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, name);
        let key = rcgen::KeyPair::generate().unwrap();
        Authority {
            issuer: rcgen::CertifiedIssuer::self_signed(params, key).unwrap(),
        }
    }

    /// Its certificate in a PEM file, as IT hands it to the portal.
    fn pem_file(&self, dir: &std::path::Path) -> PathBuf {
        let path = dir.join("mail-ca.pem");
        std::fs::write(&path, self.issuer.pem()).unwrap();
        path
    }

    /// A mail server's TLS configuration, its certificate for `localhost` signed here.
    fn server(&self) -> Arc<ServerConfig> {
        let key = rcgen::KeyPair::generate().unwrap();
        let params = rcgen::CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(
                vec![cert.der().clone()],
                rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()),
            )
            .unwrap();
        Arc::new(config)
    }
}

/// A loopback port nobody listens on yet.
fn free_port() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

/// The city's mail server as the portal's settings name it: STARTTLS, a password,
/// and the city's own certificate authority.
fn city_smtp(port: u16, ca: PathBuf) -> SmtpSettings {
    SmtpSettings {
        host: "localhost".into(),
        port,
        username: Some("termine".into()),
        password: Some(Redacted("geheim-123".into())),
        starttls: true,
        ca: Some(ca),
    }
}

/// A queue on `smtp` whose sender reports each look; its first look (at an empty
/// queue) is taken.
fn start(dir: &std::path::Path, smtp: &SmtpSettings) -> (SmtpQueue, mpsc::Receiver<Delivery>) {
    let (report, reports) = mpsc::channel();
    let queue =
        SmtpQueue::start_reporting(dir, "Termine <termine@zeitz.example>", smtp, Some(report))
            .unwrap();
    assert_eq!(next_report(&reports), Delivery::Sent(0));
    (queue, reports)
}

fn mail(to: &str) -> Mail {
    Mail {
        to: to.into(),
        subject: "Ihr Termin".into(),
        text: "Buchungscode: K7M2X9PQ".into(),
        attachments: Vec::new(),
    }
}

fn queued(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "eml")
        })
        .count()
}

/// The sender's report on its next look at the queue (a real thread talking to a
/// real server: the deadline only ends a hung test).
fn next_report(reports: &mpsc::Receiver<Delivery>) -> Delivery {
    reports
        .recv_timeout(Duration::from_secs(30))
        .expect("the sender reports each look at the queue")
}

/// How many mails the next look that sent any sent. Looks that found nothing (a wake
/// after the back-off's own try) or failed (a try before the server was up) pass.
fn next_sent(reports: &mpsc::Receiver<Delivery>) -> usize {
    for _ in 0..5 {
        if let Delivery::Sent(sent @ 1..) = next_report(reports) {
            return sent;
        }
    }
    panic!("five looks at the queue and no mail went out")
}

#[test]
fn a_mail_sent_while_the_server_is_down_stays_queued_and_arrives_when_it_is_up() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let smtp = SmtpSettings {
        host: "127.0.0.1".into(),
        port: port.port(),
        username: None,
        password: None,
        starttls: false,
        ca: None,
    };
    let (queue, reports) = start(dir.path(), &smtp);
    queue.send(&mail("erika@example.org")).unwrap();
    // Step 1: the server is down; the mail is on disk, not lost.
    assert!(matches!(next_report(&reports), Delivery::Failed(_)));
    assert_eq!(queued(dir.path()), 1);
    // Step 2: the server comes up; the next try delivers and unqueues it.
    let seen = serve_smtp(TcpListener::bind(port).unwrap(), None);
    queue.retry_now();
    assert_eq!(next_sent(&reports), 1);
    assert_eq!(seen.lock().unwrap().mails.len(), 1);
    assert_eq!(queued(dir.path()), 0);
    // Step 3: with the server up, a new mail goes out at once.
    queue.send(&mail("max@example.org")).unwrap();
    assert_eq!(next_sent(&reports), 1);
    let got = seen.lock().unwrap().mails.clone();
    assert_eq!(got[0].0, "<erika@example.org>");
    assert_eq!(got[1].0, "<max@example.org>");
    assert!(got[0].1.contains("Buchungscode: K7M2X9PQ"), "{}", got[0].1);
    assert!(got[0].1.contains("Subject: Ihr Termin"), "{}", got[0].1);
}

#[test]
fn smtp_without_starttls_is_refused_beyond_this_machine() {
    let dir = tempfile::tempdir().unwrap();
    let smtp = SmtpSettings {
        host: "mail.zeitz.example".into(),
        port: 25,
        username: None,
        password: None,
        starttls: false,
        ca: None,
    };
    let refused = SmtpQueue::start(dir.path(), "Termine <termine@zeitz.example>", &smtp);
    assert!(refused.is_err());
}

#[test]
fn a_mail_goes_over_starttls_to_the_server_the_citys_authority_vouches_for() {
    let dir = tempfile::tempdir().unwrap();
    let city = Authority::new("Stadt Zeitz IT");
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = serve_smtp(listener, Some(city.server()));
    let (queue, reports) = start(dir.path(), &city_smtp(port, city.pem_file(dir.path())));
    queue.send(&mail("erika@example.org")).unwrap();
    assert_eq!(next_sent(&reports), 1);
    assert_eq!(queued(dir.path()), 0);
    let seen = seen.lock().unwrap();
    assert_eq!(seen.tls, 1);
    // AUTH PLAIN: base64 of "\0termine\0geheim-123", sent only inside TLS.
    assert_eq!(
        seen.auths,
        vec![(true, "PLAIN AHRlcm1pbmUAZ2VoZWltLTEyMw==".to_owned())]
    );
    assert_eq!(seen.mails.len(), 1);
    assert_eq!(seen.mails[0].0, "<erika@example.org>");
}

#[test]
fn a_server_of_another_authority_gets_neither_the_password_nor_the_mail() {
    let dir = tempfile::tempdir().unwrap();
    let city = Authority::new("Stadt Zeitz IT");
    let stranger = Authority::new("Irgendwer");
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = serve_smtp(listener, Some(stranger.server()));
    let (queue, reports) = start(dir.path(), &city_smtp(port, city.pem_file(dir.path())));
    queue.send(&mail("erika@example.org")).unwrap();
    let Delivery::Failed(why) = next_report(&reports) else {
        panic!("a server the city's authority did not sign took the mail");
    };
    assert!(why.to_lowercase().contains("certificate"), "{why}");
    assert_eq!(queued(dir.path()), 1, "the mail stays queued");
    let seen = seen.lock().unwrap();
    assert!(seen.auths.is_empty() && seen.mails.is_empty(), "{seen:?}");
}

#[test]
fn a_server_that_offers_no_starttls_gets_neither_the_password_nor_the_mail() {
    let dir = tempfile::tempdir().unwrap();
    let city = Authority::new("Stadt Zeitz IT");
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    // It offers AUTH in the clear instead (a downgrade on the way, or a wrong server).
    let seen = serve_smtp(listener, None);
    let (queue, reports) = start(dir.path(), &city_smtp(port, city.pem_file(dir.path())));
    queue.send(&mail("erika@example.org")).unwrap();
    assert!(matches!(next_report(&reports), Delivery::Failed(_)));
    assert_eq!(queued(dir.path()), 1, "the mail stays queued");
    let seen = seen.lock().unwrap();
    assert!(seen.auths.is_empty() && seen.mails.is_empty(), "{seen:?}");
}

#[test]
fn a_wrong_certificate_authority_is_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let start = |smtp: &SmtpSettings| {
        SmtpQueue::start(dir.path(), "Termine <termine@zeitz.example>", smtp)
            .map(drop)
            .unwrap_err()
            .to_string()
    };
    let ca = |name: &str, bytes: &[u8]| {
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        path
    };
    let port = free_port().port();
    let missing = start(&city_smtp(port, dir.path().join("missing.pem")));
    assert!(missing.contains("missing.pem"), "{missing}");
    let text = start(&city_smtp(
        port,
        ca("text.pem", b"the city's CA, see intranet"),
    ));
    assert!(text.contains("holds no PEM certificate"), "{text}");
    let huge = vec![b'A'; (1 << 20) + 1];
    let huge = start(&city_smtp(port, ca("huge.pem", &huge)));
    assert!(huge.contains("larger than 1 MiB"), "{huge}");
    let garbled = start(&city_smtp(
        port,
        ca(
            "garbled.pem",
            b"-----BEGIN CERTIFICATE-----\n!!!\n-----END CERTIFICATE-----\n",
        ),
    ));
    assert!(garbled.contains("garbled.pem"), "{garbled}");
    let plain = SmtpSettings {
        host: "127.0.0.1".into(),
        starttls: false,
        ..city_smtp(port, Authority::new("Stadt Zeitz IT").pem_file(dir.path()))
    };
    assert!(start(&plain).contains("needs `starttls = true`"));
}
