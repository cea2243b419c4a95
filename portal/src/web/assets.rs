//! KERN's stylesheet and fonts, embedded at build time (see `build.rs`), and the
//! portal's own small stylesheet and the proof of work's script.

use std::sync::OnceLock;

use axum::body::Bytes;
use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

mod kern {
    include!(concat!(env!("OUT_DIR"), "/kern_assets.rs"));
}

const PORTAL_CSS: &str = include_str!("portal.css");
/// The proof of work's solver, the portal's only script (the CSP allows scripts from
/// the portal itself, none inline).
const POW_JS: &str = include_str!("pow.js");
/// The ticket-by-phone form's position sender.
const LOCATE_JS: &str = include_str!("locate.js");
/// The QR ticket page's live feed reader.
const TICKET_JS: &str = include_str!("ticket.js");

fn asset(content_type: &'static str, body: impl Into<Bytes>) -> Response {
    let body: Bytes = body.into();
    let mut r = body.into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=86400"),
    );
    r
}

/// KERN's stylesheet first (it opens with `@charset`), then the `@font-face` rules of
/// the embedded fonts; put together once.
pub async fn kern_css() -> Response {
    static CSS: OnceLock<Bytes> = OnceLock::new();
    let css = CSS.get_or_init(|| {
        let mut css = kern::KERN_CSS.to_vec();
        css.extend_from_slice(b"\n");
        css.extend_from_slice(kern::FONTS_CSS.as_bytes());
        css.extend_from_slice(
            format!("\n/* KERN {} (EUPL-1.2) */\n", kern::KERN_VERSION).as_bytes(),
        );
        Bytes::from(css)
    });
    asset("text/css; charset=utf-8", css.clone())
}

pub async fn portal_css() -> Response {
    asset(
        "text/css; charset=utf-8",
        Bytes::from_static(PORTAL_CSS.as_bytes()),
    )
}

pub async fn pow_js() -> Response {
    asset(
        "text/javascript; charset=utf-8",
        Bytes::from_static(POW_JS.as_bytes()),
    )
}

pub async fn locate_js() -> Response {
    asset(
        "text/javascript; charset=utf-8",
        Bytes::from_static(LOCATE_JS.as_bytes()),
    )
}

pub async fn ticket_js() -> Response {
    asset(
        "text/javascript; charset=utf-8",
        Bytes::from_static(TICKET_JS.as_bytes()),
    )
}

pub async fn font(Path(file): Path<String>) -> Response {
    match kern::FONTS.iter().find(|(name, _)| *name == file) {
        Some((_, bytes)) => asset("font/woff2", Bytes::from_static(bytes)),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}
