//! The portal's face: pages and forms over [`Portal`]'s calls. Each flow has its own
//! module (`account`, `book`); this one holds what every request passes through:
//! the security headers, the time bound, the body bound, [`Ctx`] — the request's
//! language, session, CSRF token and client address — and the extractors that turn
//! a request away before its handler runs: [`Checked`] (a form whose CSRF token does
//! not hold), [`SignedIn`] and [`SignedInForm`] (nobody logged in).

mod account;
mod admin;
mod app;
mod assets;
mod book;
mod feedback;
mod legal;
mod pages;
mod remote;
mod statistics;
mod ticket;
mod waitlist;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

use axum::Form;
use axum::Router;
use axum::extract::{ConnectInfo, DefaultBodyLimit, FromRequest, FromRequestParts, Request};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header, request::Parts};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

use crate::Portal;
use crate::i18n::Lang;
use crate::secret;
use crate::settings::bounds;
use crate::store::{Account, Session};

pub use pages::Chrome;

/// The portal's router. The node serves it (with `into_make_service_with_connect_info`
/// so rate limits see client addresses).
pub fn router(portal: Arc<Portal>) -> Router {
    Router::new()
        .route("/", get(pages::home))
        .route("/lang", get(pages::switch_language))
        .route("/manifest.webmanifest", get(app::manifest))
        .route("/sw.js", get(app::service_worker))
        .route("/offline", get(app::offline))
        .route("/assets/icon-192.png", get(app::icon_192))
        .route("/assets/icon-512.png", get(app::icon_512))
        .route("/assets/icon-maskable-512.png", get(app::icon_maskable_512))
        .route("/assets/kern.css", get(assets::kern_css))
        .route("/assets/portal.css", get(assets::portal_css))
        .route("/assets/pow.js", get(assets::pow_js))
        .route("/assets/ticket.js", get(assets::ticket_js))
        .route("/assets/locate.js", get(assets::locate_js))
        .route("/ticket", get(remote::form).post(remote::draw))
        .route("/t/{token}", get(ticket::page))
        .route("/t/{token}/feed", get(ticket::feed))
        .route("/t/{token}/feedback", post(feedback::ticket))
        .route(
            "/f/{code}/{signature}",
            get(feedback::booking_form).post(feedback::booking),
        )
        .route("/assets/fonts/{file}", get(assets::font))
        .route(
            "/register",
            get(account::register_form).post(account::register),
        )
        .route("/verify", get(account::verify))
        .route("/login", get(account::login_form).post(account::login))
        .route("/logout", post(account::logout))
        .route("/reset", get(account::reset_form).post(account::reset))
        .route(
            "/reset/confirm",
            get(account::reset_confirm_form).post(account::reset_confirm),
        )
        .route("/account", get(account::overview))
        .route(
            "/account/email",
            get(account::email_form).post(account::change_email),
        )
        .route(
            "/account/password",
            get(account::password_form).post(account::change_password),
        )
        .route(
            "/account/delete",
            get(account::delete_form).post(account::delete),
        )
        .route("/book", get(book::departments).post(book::book))
        .route("/book/department/{department}", get(book::services))
        .route("/book/service/{service}", get(book::day_or_times))
        .route("/bookings/{code}", get(book::booking))
        .route("/bookings/{code}/cancel", post(book::cancel))
        .route(
            "/bookings/{code}/move",
            get(book::move_page).post(book::move_to),
        )
        .route(
            "/c/{code}/{signature}",
            get(book::cancel_link_page).post(book::cancel_by_link),
        )
        .route("/bookings/{code}/qr.png", get(book::qr))
        .route("/admin", get(admin::overview))
        .route("/admin/login", get(admin::login_form).post(admin::login))
        .route("/admin/logout", post(admin::logout))
        .route(
            "/admin/setup/{token}",
            get(admin::setup_form).post(admin::setup),
        )
        .route("/admin/setup/{token}/qr.png", get(admin::setup_qr))
        .route(
            "/admin/services",
            get(admin::services_form).post(admin::services),
        )
        .route("/admin/desks", get(admin::desks_form).post(admin::desks))
        .route(
            "/admin/appointments",
            get(admin::appointments_form).post(admin::appointments),
        )
        .route("/admin/hours", get(admin::hours_form).post(admin::hours))
        .route(
            "/admin/holidays",
            get(admin::holidays_form).post(admin::holidays),
        )
        .route(
            "/admin/notices",
            get(admin::notices_form).post(admin::notices),
        )
        .route("/admin/cancel", get(admin::cancel_form).post(admin::cancel))
        .route("/admin/statistics", get(statistics::page))
        .route("/admin/texts", get(legal::texts))
        .route(
            "/admin/texts/{page}",
            get(legal::text_form)
                .post(legal::save_text)
                // Two languages of up to 20,000 characters, percent-encoded.
                .layer(DefaultBodyLimit::max(bounds::TEXT_BODY_BYTES)),
        )
        .route("/impressum", get(legal::imprint))
        .route("/datenschutz", get(legal::privacy))
        .route(
            "/barrierefreiheit",
            get(legal::accessibility).post(legal::report),
        )
        .route("/leichte-sprache", get(legal::easy_language))
        .route("/gebaerdensprache", get(legal::sign_language))
        .route("/admin/statistics.csv", get(statistics::csv))
        .route("/admin/statistics.json", get(statistics::json))
        .route("/book/waitlist", post(waitlist::join))
        .route("/account/waitlist/leave", post(waitlist::leave))
        .route(
            "/w/{code}/{signature}",
            get(waitlist::offer_page).post(waitlist::take),
        )
        .fallback(pages::not_found)
        .layer(DefaultBodyLimit::max(bounds::BODY_BYTES))
        .layer(middleware::from_fn(time_bound))
        .layer(middleware::from_fn(security_headers))
        .with_state(portal)
}

/// Every response, pages and errors alike, carries these.
async fn security_headers(request: Request, next: Next) -> Response {
    let is_asset = request.uri().path().starts_with("/assets/");
    let mut response = next.run(request).await;
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'self'; \
             font-src 'self'; \
             img-src 'self' data:; \
             manifest-src 'self'; worker-src 'self'; \
             form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    // Links in mails carry tokens: they must not leak to other sites.
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(
        "cross-origin-opener-policy",
        HeaderValue::from_static("same-origin"),
    );
    if !is_asset {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

/// A request that takes longer than the bound is answered with 408.
async fn time_bound(request: Request, next: Next) -> Response {
    match tokio::time::timeout(bounds::REQUEST_TIME, next.run(request)).await {
        Ok(response) => response,
        Err(_) => (StatusCode::REQUEST_TIMEOUT, "request took too long").into_response(),
    }
}

/// What a handler knows about the request before it reads the body.
#[derive(Debug, Clone)]
pub struct Ctx {
    pub lang: Lang,
    pub client: IpAddr,
    /// Path and query of the page, for the language switch.
    pub here: String,
    /// The session id and its session and account, when logged in.
    pub session: Option<(String, Session, Account)>,
    /// The CSRF token of a visitor without a session (double-submit cookie).
    anon_csrf: String,
    /// Whether `anon_csrf` is new and must be set as a cookie.
    new_anon_csrf: bool,
    secure: bool,
    /// Cookies to set with the response.
    cookies: Vec<String>,
}

impl FromRequestParts<Arc<Portal>> for Ctx {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, portal: &Arc<Portal>) -> Result<Self, Response> {
        let secure = portal.settings.secure_cookies;
        let cookie = |name: &str| cookie(&parts.headers, name);
        let lang = cookie("lang")
            .and_then(|l| Lang::parse(&l))
            .or_else(|| {
                parts
                    .headers
                    .get(header::ACCEPT_LANGUAGE)
                    .and_then(|v| v.to_str().ok())
                    .map(Lang::from_accept_language)
            })
            .unwrap_or_default();
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |c| c.0.ip());
        let client = client_address(peer, &parts.headers, &portal.settings.trusted_proxies);
        let session = match cookie(session_cookie(secure)) {
            Some(id) => {
                let now = portal.now_ms();
                let found = portal
                    .store
                    .session(&id, now)
                    .map_err(|e| pages::failure(lang, &e))?;
                match found {
                    Some(session) => portal
                        .store
                        .account(&session.account)
                        .map_err(|e| pages::failure(lang, &e))?
                        .map(|account| (id, session, account)),
                    None => None,
                }
            }
            None => None,
        };
        let (anon_csrf, new_anon_csrf) = match cookie(csrf_cookie(secure)) {
            Some(token) if secret::is_token(&token) => (token, false),
            _ => (secret::token(), true),
        };
        let here = parts
            .uri
            .path_and_query()
            .map_or("/".to_owned(), |p| p.as_str().to_owned());
        Ok(Ctx {
            lang,
            client,
            here,
            session,
            anon_csrf,
            new_anon_csrf,
            secure,
            cookies: Vec::new(),
        })
    }
}

/// A form that carries the CSRF token of the page it was sent from.
pub trait CarriesCsrf {
    fn csrf(&self) -> &str;
}

/// A submitted form whose CSRF token holds, with the request's context; a forged or
/// missing token gets the "forged" page and the handler does not run.
#[derive(Debug)]
pub struct Checked<T>(pub Ctx, pub T);

impl<T> FromRequest<Arc<Portal>> for Checked<T>
where
    T: serde::de::DeserializeOwned + CarriesCsrf + Send,
{
    type Rejection = Response;

    async fn from_request(request: Request, portal: &Arc<Portal>) -> Result<Self, Response> {
        let (mut parts, body) = request.into_parts();
        let ctx = Ctx::from_request_parts(&mut parts, portal).await?;
        let Form(form) = Form::<T>::from_request(Request::from_parts(parts, body), portal)
            .await
            .map_err(IntoResponse::into_response)?;
        if !ctx.csrf_holds(form.csrf()) {
            return Err(pages::forged(&ctx, portal));
        }
        Ok(Checked(ctx, form))
    }
}

/// A request of a logged-in citizen, with their account; anyone else is sent to the
/// login page.
#[derive(Debug)]
pub struct SignedIn(pub Ctx, pub Account);

impl FromRequestParts<Arc<Portal>> for SignedIn {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, portal: &Arc<Portal>) -> Result<Self, Response> {
        let ctx = Ctx::from_request_parts(parts, portal).await?;
        let Some(account) = ctx.account().cloned() else {
            return Err(pages::needs_login(&ctx));
        };
        Ok(SignedIn(ctx, account))
    }
}

/// A form of a logged-in citizen whose CSRF token holds ([`Checked`], then
/// [`SignedIn`]'s check).
#[derive(Debug)]
pub struct SignedInForm<T>(pub Ctx, pub Account, pub T);

impl<T> FromRequest<Arc<Portal>> for SignedInForm<T>
where
    T: serde::de::DeserializeOwned + CarriesCsrf + Send,
{
    type Rejection = Response;

    async fn from_request(request: Request, portal: &Arc<Portal>) -> Result<Self, Response> {
        let Checked(ctx, form) = Checked::<T>::from_request(request, portal).await?;
        let Some(account) = ctx.account().cloned() else {
            return Err(pages::needs_login(&ctx));
        };
        Ok(SignedInForm(ctx, account, form))
    }
}

impl Ctx {
    /// The CSRF token this page's forms carry.
    pub fn csrf(&self) -> &str {
        match &self.session {
            Some((_, session, _)) => &session.csrf,
            None => &self.anon_csrf,
        }
    }

    /// Whether a submitted form's token is this visitor's: the session's, or, without
    /// a session, the one in the visitor's own cookie (which another site can neither
    /// read nor set).
    pub fn csrf_holds(&self, submitted: &str) -> bool {
        match &self.session {
            Some((_, session, _)) => secret::same(submitted, &session.csrf),
            None => !self.new_anon_csrf && secret::same(submitted, &self.anon_csrf),
        }
    }

    pub fn account(&self) -> Option<&Account> {
        self.session.as_ref().map(|(_, _, a)| a)
    }

    /// Sets the `HttpOnly` cookie `name` to `value` for `max_age` seconds with the
    /// response (`Secure` over HTTPS); no value removes it.
    fn set_cookie(&mut self, name: &str, value: Option<&str>, max_age: u64, same_site: &str) {
        let (value, max_age) = value.map_or(("", 0), |v| (v, max_age));
        let mut c =
            format!("{name}={value}; Path=/; HttpOnly; SameSite={same_site}; Max-Age={max_age}");
        if self.secure {
            c.push_str("; Secure");
        }
        self.cookies.push(c);
    }

    /// Logs in: the session cookie is set with the response.
    pub fn start_session(&mut self, id: &str) {
        let name = session_cookie(self.secure);
        self.set_cookie(name, Some(id), bounds::SESSION.as_secs(), "Lax");
    }

    pub fn end_session(&mut self) {
        self.set_cookie(session_cookie(self.secure), None, 0, "Lax");
    }

    pub fn set_language(&mut self, lang: Lang) {
        self.lang = lang;
        let mut c = format!(
            "lang={}; Path=/; SameSite=Lax; Max-Age=31536000",
            lang.code()
        );
        if self.secure {
            c.push_str("; Secure");
        }
        self.cookies.push(c);
    }

    /// The response with the cookies this request sets.
    pub fn respond(&self, status: StatusCode, mut response: Response) -> Response {
        *response.status_mut() = status;
        let mut cookies = self.cookies.clone();
        if self.new_anon_csrf && self.session.is_none() {
            let mut c = format!(
                "{}={}; Path=/; HttpOnly; SameSite=Strict",
                csrf_cookie(self.secure),
                self.anon_csrf
            );
            if self.secure {
                c.push_str("; Secure");
            }
            cookies.push(c);
        }
        for c in cookies {
            if let Ok(v) = HeaderValue::from_str(&c) {
                response.headers_mut().append(header::SET_COOKIE, v);
            }
        }
        response
    }

    /// A 303 to `to` with this request's cookies.
    pub fn redirect(&self, to: &str) -> Response {
        let mut response = StatusCode::SEE_OTHER.into_response();
        if let Ok(v) = HeaderValue::from_str(to) {
            response.headers_mut().insert(header::LOCATION, v);
        }
        self.respond(StatusCode::SEE_OTHER, response)
    }
}

/// The client's address: the connecting peer's, or — when the peer is a trusted
/// proxy — the last address in `X-Forwarded-For` that is not a trusted proxy (the
/// entries before it are the client's own say, which anyone can forge).
fn client_address(peer: IpAddr, headers: &HeaderMap, trusted: &[IpAddr]) -> IpAddr {
    if !trusted.contains(&peer) {
        return peer;
    }
    let forwarded: Vec<IpAddr> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map_while(|a| a.trim().parse::<IpAddr>().ok())
        .collect();
    forwarded
        .into_iter()
        .rev()
        .find(|a| !trusted.contains(a))
        .unwrap_or(peer)
}

/// `__Host-` cookies are bound to this host and path `/` and need HTTPS; on a plain
/// HTTP demo the names go without the prefix.
fn session_cookie(secure: bool) -> &'static str {
    if secure { "__Host-session" } else { "session" }
}

fn csrf_cookie(secure: bool) -> &'static str {
    if secure { "__Host-csrf" } else { "csrf" }
}

fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
}

/// Runs blocking work (hashing, flushing) on the blocking pool.
pub async fn blocking<T: Send + 'static>(
    lang: Lang,
    f: impl FnOnce() -> Result<T, crate::PortalError> + Send + 'static,
) -> Result<T, Response> {
    match tokio::task::spawn_blocking(f).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(pages::failure(lang, &e)),
        Err(e) => Err(pages::failure(lang, &e)),
    }
}

/// Percent-encodes a path and query for use as a query value.
pub fn encode_query_value(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                out.push(char::from(b));
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// A local path to go back to: only `/…` within this site (no `//host`, no `\`).
pub fn local_path(back: &str) -> &str {
    let ok = back.starts_with('/')
        && !back.starts_with("//")
        && !back.contains('\\')
        && back.len() <= 512
        && !back.chars().any(char::is_control);
    if ok { back } else { "/" }
}
