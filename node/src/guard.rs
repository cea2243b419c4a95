//! What every request to the local API passes first: the API is the clerk's and the
//! kiosk's, not the web's. A web page the clerk opens must not act through it (no
//! cross-site requests, no DNS rebinding), an API reachable beyond the device needs
//! its token, and one client cannot empty the day's ticket numbers.
//!
//! - With an `api_token` configured (required when the API listens beyond loopback),
//!   every request but `GET /health` carries `Authorization: Bearer <token>`.
//! - Without one, the `Host` must be a loopback name (`localhost`, `127.x.x.x`,
//!   `[::1]`), so a page whose domain was re-pointed at 127.0.0.1 is refused.
//! - A request from a browser page (`Origin`) is refused unless the page itself is
//!   served from loopback.
//! - Every `POST` carries a JSON body (`Content-Type: application/json`), which a
//!   cross-site form cannot send without the browser asking first.
//! - Ticket drawing and check-in are rate-limited per client address.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::json;
use tokio::time::Instant;

/// The most client addresses whose ticket rate is remembered; beyond it, the ones
/// whose buckets are full again are forgotten.
const MAX_CLIENTS: usize = 4096;

/// The API's guard, built from the node's settings.
#[derive(Debug)]
pub struct Guard {
    token: Option<String>,
    tickets: Option<RateLimit>,
}

impl Guard {
    /// `tickets_per_minute` 0: no limit.
    pub fn new(token: Option<String>, tickets_per_minute: u32) -> Self {
        Guard {
            token,
            tickets: (tickets_per_minute > 0).then(|| RateLimit::per_minute(tickets_per_minute)),
        }
    }
}

/// The middleware: refuses what the API must not serve, passes the rest on.
pub async fn check(
    State(guard): State<Arc<Guard>>,
    ConnectInfo(client): ConnectInfo<SocketAddr>,
    request: Request,
    next: Next,
) -> Response {
    match refusal(&guard, client, &request) {
        Some(refused) => closing_if_body_unread(refused, request.headers()),
        None => next.run(request).await,
    }
}

/// A refused request's body is left unread, so its connection cannot carry another
/// request: the answer says so (`Connection: close`), or a client that kept the
/// connection would find its next request cut off.
fn closing_if_body_unread(mut refused: Response, request: &HeaderMap) -> Response {
    let sized = request
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok())
        .is_some_and(|length| length > 0);
    if sized || request.contains_key(header::TRANSFER_ENCODING) {
        refused.headers_mut().insert(
            header::CONNECTION,
            axum::http::HeaderValue::from_static("close"),
        );
    }
    refused
}

fn refusal(guard: &Guard, client: SocketAddr, request: &Request) -> Option<Response> {
    let headers = request.headers();
    let health = request.method() == Method::GET && request.uri().path() == "/health";
    match &guard.token {
        Some(token) if !health && !bearer_matches(headers, token) => {
            return Some(refuse(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "this API needs its token: Authorization: Bearer <api_token>",
            ));
        }
        None if !host_is_loopback(headers) => {
            return Some(refuse(
                StatusCode::FORBIDDEN,
                "foreign_host",
                "this API answers to localhost only",
            ));
        }
        _ => {}
    }
    if let Some(origin) = headers.get(header::ORIGIN) {
        let local = origin
            .to_str()
            .ok()
            .and_then(|o| o.strip_prefix("http://"))
            .is_some_and(is_loopback_authority);
        if !local {
            return Some(refuse(
                StatusCode::FORBIDDEN,
                "foreign_origin",
                "requests from web pages of other sites are refused",
            ));
        }
    }
    if request.method() == Method::POST {
        let json = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| {
                v.split(';')
                    .next()
                    .is_some_and(|t| t.trim().eq_ignore_ascii_case("application/json"))
            });
        if !json {
            return Some(refuse(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "json_required",
                "actions take a JSON body (Content-Type: application/json), `{}` when empty",
            ));
        }
        let path = request.uri().path();
        if let (Some(limit), "/api/tickets" | "/api/check-in") = (&guard.tickets, path)
            && let Err(wait) = limit.take(client.ip(), Instant::now())
        {
            // Whole seconds, rounded up: trying again then succeeds.
            let seconds = wait.as_millis().div_ceil(1000).max(1);
            let mut refused = refuse(
                StatusCode::TOO_MANY_REQUESTS,
                "too_many_tickets",
                &format!("too many tickets from this client; try again in {seconds} s"),
            );
            if let Ok(value) = seconds.to_string().parse() {
                refused.headers_mut().insert(header::RETRY_AFTER, value);
            }
            return Some(refused);
        }
    }
    None
}

fn refuse(status: StatusCode, kind: &str, message: &str) -> Response {
    (
        status,
        axum::Json(json!({ "error": message, "kind": kind })),
    )
        .into_response()
}

fn bearer_matches(headers: &HeaderMap, token: &str) -> bool {
    let Some(given) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
    else {
        return false;
    };
    // Compared in constant time for equal lengths: the time says nothing of the token.
    given.len() == token.len()
        && given
            .bytes()
            .zip(token.bytes())
            .fold(0u8, |diff, (a, b)| diff | (a ^ b))
            == 0
}

/// No `Host` (not a browser) or a loopback one.
fn host_is_loopback(headers: &HeaderMap) -> bool {
    match headers.get(header::HOST) {
        None => true,
        Some(host) => host.to_str().is_ok_and(is_loopback_authority),
    }
}

/// `localhost`, `127.0.0.1`, `[::1]`, each with or without a port.
pub fn is_loopback_authority(authority: &str) -> bool {
    let host = if let Some(rest) = authority.strip_prefix('[') {
        rest.split(']').next().unwrap_or("")
    } else {
        authority.split(':').next().unwrap_or("")
    };
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// A token bucket per client address: a short burst, then a steady rate.
#[derive(Debug)]
struct RateLimit {
    burst: f64,
    per_second: f64,
    buckets: Mutex<HashMap<IpAddr, (f64, Instant)>>,
}

impl RateLimit {
    fn per_minute(n: u32) -> Self {
        RateLimit {
            // Ten seconds' worth at once, at least one.
            burst: (f64::from(n) / 6.0).max(1.0),
            per_second: f64::from(n) / 60.0,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one token for `client`, or says how long until there is one.
    fn take(&self, client: IpAddr, now: Instant) -> Result<(), Duration> {
        let mut buckets = self
            .buckets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if buckets.len() >= MAX_CLIENTS && !buckets.contains_key(&client) {
            let full = |(tokens, at): &(f64, Instant)| {
                tokens + now.duration_since(*at).as_secs_f64() * self.per_second >= self.burst
            };
            buckets.retain(|_, bucket| !full(bucket));
            if buckets.len() >= MAX_CLIENTS {
                return Err(Duration::from_secs(60));
            }
        }
        let (tokens, at) = buckets.entry(client).or_insert((self.burst, now));
        *tokens =
            (*tokens + now.duration_since(*at).as_secs_f64() * self.per_second).min(self.burst);
        *at = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - *tokens) / self.per_second))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refused_request_with_an_unread_body_closes_its_connection() {
        let refused = || refuse(StatusCode::UNAUTHORIZED, "unauthorized", "token");
        let mut with_body = HeaderMap::new();
        with_body.insert(header::CONTENT_LENGTH, "4096".parse().unwrap());
        let answer = closing_if_body_unread(refused(), &with_body);
        assert_eq!(answer.headers()[header::CONNECTION], "close");
        let mut chunked = HeaderMap::new();
        chunked.insert(header::TRANSFER_ENCODING, "chunked".parse().unwrap());
        let answer = closing_if_body_unread(refused(), &chunked);
        assert_eq!(answer.headers()[header::CONNECTION], "close");
        let mut empty = HeaderMap::new();
        empty.insert(header::CONTENT_LENGTH, "0".parse().unwrap());
        let answer = closing_if_body_unread(refused(), &empty);
        assert!(!answer.headers().contains_key(header::CONNECTION));
        let answer = closing_if_body_unread(refused(), &HeaderMap::new());
        assert!(!answer.headers().contains_key(header::CONNECTION));
    }

    #[test]
    fn loopback_names_and_only_those_are_local() {
        for local in [
            "localhost",
            "localhost:7380",
            "127.0.0.1:7380",
            "127.3.2.1",
            "[::1]:80",
        ] {
            assert!(is_loopback_authority(local), "{local}");
        }
        for foreign in [
            "evil.example:7380",
            "localhost.evil.example",
            "192.168.1.20:7380",
            "[2001:db8::1]:7380",
            "",
        ] {
            assert!(!is_loopback_authority(foreign), "{foreign}");
        }
    }

    #[test]
    fn a_client_gets_a_burst_then_the_steady_rate_and_others_are_not_affected() {
        let limit = RateLimit::per_minute(30);
        let (a, b): (IpAddr, IpAddr) = ([10, 0, 0, 1].into(), [10, 0, 0, 2].into());
        let start = Instant::now();
        for _ in 0..5 {
            assert!(limit.take(a, start).is_ok());
        }
        let wait = limit.take(a, start).unwrap_err();
        assert_eq!(wait, Duration::from_secs(2));
        assert!(limit.take(b, start).is_ok(), "another client");
        let later = start + Duration::from_secs(2);
        assert!(limit.take(a, later).is_ok());
        assert!(limit.take(a, later).is_err());
        // After a quiet minute the burst is back, not more.
        let quiet = later + Duration::from_secs(60);
        for _ in 0..5 {
            assert!(limit.take(a, quiet).is_ok());
        }
        assert!(limit.take(a, quiet).is_err());
    }

    #[test]
    fn a_flood_of_client_addresses_does_not_grow_the_table_without_bound() {
        let limit = RateLimit::per_minute(30);
        let now = Instant::now();
        for i in 0..(MAX_CLIENTS as u32 + 100) {
            let _ = limit.take(IpAddr::from(i.to_be_bytes()), now);
        }
        assert!(limit.buckets.lock().unwrap().len() <= MAX_CLIENTS);
        // Once their buckets are full again, new clients get their turn.
        let later = now + Duration::from_secs(60);
        assert!(limit.take(IpAddr::from([192, 168, 0, 1]), later).is_ok());
    }
}
