//! Mail through a real SMTP conversation with a server started by the test: a mail
//! sent while the server is down stays queued on disk and arrives once it is up.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use std::io::{BufRead as _, BufReader, Write as _};
use std::net::{SocketAddr, TcpListener};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

use aufruf_portal::mail::{Mail, Mailer as _};
use aufruf_portal::settings::SmtpSettings;
use aufruf_portal::smtp::{Delivery, SmtpQueue};

/// A minimal SMTP server: greets, says yes to everything, keeps each DATA.
fn serve_smtp(listener: TcpListener, received: Arc<Mutex<Vec<(String, String)>>>) {
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let received = received.clone();
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                stream.write_all(b"220 test.example ESMTP\r\n").unwrap();
                let mut rcpt = String::new();
                let mut line = String::new();
                loop {
                    line.clear();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 {
                        return;
                    }
                    let command = line.trim_end().to_ascii_uppercase();
                    if command.starts_with("EHLO") {
                        stream
                            .write_all(b"250-test.example\r\n250 8BITMIME\r\n")
                            .unwrap();
                    } else if command.starts_with("RCPT TO:") {
                        rcpt = line.trim_end()[8..].to_owned();
                        stream.write_all(b"250 OK\r\n").unwrap();
                    } else if command == "DATA" {
                        stream.write_all(b"354 go on\r\n").unwrap();
                        let mut data = String::new();
                        loop {
                            line.clear();
                            reader.read_line(&mut line).unwrap();
                            if line == ".\r\n" {
                                break;
                            }
                            data.push_str(&line);
                        }
                        received.lock().unwrap().push((rcpt.clone(), data));
                        stream.write_all(b"250 queued\r\n").unwrap();
                    } else if command == "QUIT" {
                        stream.write_all(b"221 bye\r\n").unwrap();
                        return;
                    } else {
                        stream.write_all(b"250 OK\r\n").unwrap();
                    }
                }
            });
        }
    });
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
    // A port nobody listens on yet.
    let port: SocketAddr = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let smtp = SmtpSettings {
        host: "127.0.0.1".into(),
        port: port.port(),
        username: None,
        password: None,
        starttls: false,
    };
    let (report, reports) = mpsc::channel();
    let queue = SmtpQueue::start_reporting(
        dir.path(),
        "Termine <termine@zeitz.example>",
        &smtp,
        Some(report),
    )
    .unwrap();
    // The sender's first look finds the queue empty.
    assert_eq!(next_report(&reports), Delivery::Sent(0));
    queue.send(&mail("erika@example.org")).unwrap();
    // Step 1: the server is down; the mail is on disk, not lost.
    assert!(matches!(next_report(&reports), Delivery::Failed(_)));
    assert_eq!(queued(dir.path()), 1);
    // Step 2: the server comes up; the next try delivers and unqueues it.
    let received = Arc::new(Mutex::new(Vec::new()));
    serve_smtp(TcpListener::bind(port).unwrap(), received.clone());
    queue.retry_now();
    assert_eq!(next_sent(&reports), 1);
    assert_eq!(received.lock().unwrap().len(), 1);
    assert_eq!(queued(dir.path()), 0);
    // Step 3: with the server up, a new mail goes out at once.
    queue.send(&mail("max@example.org")).unwrap();
    assert_eq!(next_sent(&reports), 1);
    let got = received.lock().unwrap().clone();
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
    };
    let refused = SmtpQueue::start(dir.path(), "Termine <termine@zeitz.example>", &smtp);
    assert!(refused.is_err());
}
