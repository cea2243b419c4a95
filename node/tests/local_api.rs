//! The local API refuses what is not the clerk's or the kiosk's own: pages of other
//! sites, re-pointed domains, form posts, clients without the token, and ticket floods.
//! Requests are written byte by byte, as a hostile browser or script would send them.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use std::net::SocketAddr;

use aufruf_node::settings::Role;
use common::TestOffice;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Sends one raw HTTP/1.1 request; the status, the headers and the JSON body.
async fn raw(api: SocketAddr, request: &str) -> (u16, String, Value) {
    let mut stream = tokio::net::TcpStream::connect(api).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.unwrap();
    let answer = String::from_utf8_lossy(&answer).into_owned();
    let (head, body) = answer.split_once("\r\n\r\n").unwrap();
    let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    (
        status,
        head.to_owned(),
        serde_json::from_str(body).unwrap_or(Value::Null),
    )
}

fn post(path: &str, host: &str, extra: &str, content_type: &str, body: &str) -> String {
    format!(
        "POST {path} HTTP/1.1\r\nHost: {host}\r\n{extra}Content-Type: {content_type}\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
}

fn get(path: &str, host: &str, extra: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: {host}\r\n{extra}Connection: close\r\n\r\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn web_pages_re_pointed_domains_and_form_posts_cannot_act_through_the_api() {
    let office = TestOffice::new();
    let kiosk = office
        .start(office.enroll_alone("kiosk-1", Role::Kiosk))
        .await;
    let desk = office
        .start(office.enroll_alone("desk-1", Role::Desk))
        .await;
    let (k, d) = (kiosk.api_addr, desk.api_addr);
    let local = format!("127.0.0.1:{}", k.port());
    let ticket = r#"{"service": "fundsachen"}"#;

    // The kiosk's own client: fine.
    let (status, _, _) = raw(
        k,
        &post("/api/tickets", &local, "", "application/json", ticket),
    )
    .await;
    assert_eq!(status, 201);
    let (status, _, _) = raw(k, &get("/api/day", &format!("localhost:{}", k.port()), "")).await;
    assert_eq!(status, 200);

    // DNS rebinding: a page of evil.example whose name now points at 127.0.0.1.
    let (status, _, body) = raw(k, &get("/api/day", "evil.example:7380", "")).await;
    assert_eq!((status, body["kind"].as_str()), (403, Some("foreign_host")));
    // A page of another site posting JSON through fetch.
    let (status, _, body) = raw(
        k,
        &post(
            "/api/tickets",
            &local,
            "Origin: https://evil.example\r\n",
            "application/json",
            ticket,
        ),
    )
    .await;
    assert_eq!(
        (status, body["kind"].as_str()),
        (403, Some("foreign_origin"))
    );
    // A cross-site form: no JSON.
    let (status, _, body) = raw(
        k,
        &post(
            "/api/tickets",
            &local,
            "",
            "application/x-www-form-urlencoded",
            "service=fundsachen",
        ),
    )
    .await;
    assert_eq!(
        (status, body["kind"].as_str()),
        (415, Some("json_required"))
    );
    // A desk action without a body is a form post too; with `{}` it is the clerk's.
    let desk_host = format!("127.0.0.1:{}", d.port());
    let (status, _, _) = raw(
        d,
        &post("/api/desks/desk-1/open", &desk_host, "", "text/plain", ""),
    )
    .await;
    assert_eq!(status, 415);
    let (status, _, body) = raw(
        d,
        &post(
            "/api/desks/desk-1/open",
            &desk_host,
            "",
            "application/json",
            "{}",
        ),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    // Nothing the refused requests asked for happened: one ticket only.
    let day = office.get(k, "/api/day").await.1;
    assert_eq!(day["tickets"].as_array().map(Vec::len), Some(1), "{day}");
    kiosk.shutdown().await;
    desk.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_client_cannot_draw_the_days_numbers_and_is_told_when_to_try_again() {
    let office = TestOffice::new();
    let mut settings = office.enroll_alone("kiosk-1", Role::Kiosk);
    settings.tickets_per_minute = 6;
    let kiosk = office.start(settings).await;
    let k = kiosk.api_addr;
    let host = format!("127.0.0.1:{}", k.port());
    let ticket = r#"{"service": "fundsachen"}"#;
    let (status, _, _) = raw(
        k,
        &post("/api/tickets", &host, "", "application/json", ticket),
    )
    .await;
    assert_eq!(status, 201);
    let (status, head, body) = raw(
        k,
        &post("/api/tickets", &host, "", "application/json", ticket),
    )
    .await;
    assert_eq!(
        (status, body["kind"].as_str()),
        (429, Some("too_many_tickets")),
        "{body}"
    );
    assert!(
        head.to_ascii_lowercase().contains("retry-after: 10"),
        "{head}"
    );
    // Reading is not limited.
    let (status, _, _) = raw(k, &get("/api/kiosk", &host, "")).await;
    assert_eq!(status, 200);
    kiosk.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_token_configured_only_the_health_check_goes_without_it() {
    let office = TestOffice::new();
    let mut settings = office.enroll_alone("display-1", Role::Display);
    let token = "correct-horse-battery-staple-0123456789";
    settings.api_token = Some(token.to_owned());
    let node = office.start(settings).await;
    let api = node.api_addr;
    // With a token, the Host may be the device's name on the network.
    let host = "display-1.buergerbuero.example:7380";
    let (status, _, body) = raw(api, &get("/api/display", host, "")).await;
    assert_eq!((status, body["kind"].as_str()), (401, Some("unauthorized")));
    let wrong = "Authorization: Bearer correct-horse-battery-staple-0123456788\r\n";
    let (status, _, _) = raw(api, &get("/api/display", host, wrong)).await;
    assert_eq!(status, 401);
    let right = format!("Authorization: Bearer {token}\r\n");
    let (status, _, _) = raw(api, &get("/api/display", host, &right)).await;
    assert_eq!(status, 200);
    let (status, _, _) = raw(api, &get("/health", host, "")).await;
    assert_eq!(status, 200);
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_silent_connections_is_cut_and_the_api_answers_again() {
    let office = TestOffice::new();
    let mut settings = office.enroll_alone("kiosk-1", Role::Kiosk);
    settings.api_limits = aufruf_node::server::ApiLimits {
        connections: 8,
        header_timeout: std::time::Duration::from_millis(500),
        display_feeds: 2,
    };
    let kiosk = office.start(settings).await;
    let k = kiosk.api_addr;
    let host = format!("127.0.0.1:{}", k.port());
    // Eight clients connect and say nothing (slowloris); a ninth is turned away at once.
    let mut silent = Vec::new();
    for _ in 0..8 {
        silent.push(tokio::net::TcpStream::connect(k).await.unwrap());
    }
    let closed = |mut stream: tokio::net::TcpStream| async move {
        let mut byte = [0_u8; 1];
        let read = tokio::time::timeout(std::time::Duration::from_secs(10), stream.read(&mut byte))
            .await
            .expect("the server closes the connection");
        assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
    };
    closed(tokio::net::TcpStream::connect(k).await.unwrap()).await;
    // The silent ones are cut after the header deadline…
    for stream in silent {
        closed(stream).await;
    }
    // …and the API answers again.
    let (status, _, _) = raw(k, &get("/api/kiosk", &host, "")).await;
    assert_eq!(status, 200);
    kiosk.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn display_feeds_beyond_the_cap_are_refused_until_one_goes_away() {
    let office = TestOffice::new();
    let mut settings = office.enroll_alone("display-1", Role::Display);
    settings.api_limits.display_feeds = 2;
    let display = office.start(settings).await;
    let api = display.api_addr;
    let feed = || async {
        office
            .http
            .get(format!("http://{api}/api/display/feed"))
            .send()
            .await
            .unwrap()
    };
    let first = feed().await;
    let second = feed().await;
    assert_eq!(
        (first.status().as_u16(), second.status().as_u16()),
        (200, 200)
    );
    let third = feed().await;
    assert_eq!(third.status(), 503);
    let body: Value = third.json().await.unwrap();
    assert_eq!(body["kind"], "too_many_feeds");
    // A display goes away; its place is free once the server notices.
    drop(first);
    office
        .eventually(
            std::time::Duration::from_secs(30),
            "a feed place is free again",
            || async { feed().await.status() == 200 },
        )
        .await;
    drop(second);
    display.shutdown().await;
}
