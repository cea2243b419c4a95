//! KERN's stylesheet and fonts, embedded at build time (see `build.rs`), and the
//! portal's own small stylesheet.

use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

mod kern {
    include!(concat!(env!("OUT_DIR"), "/kern_assets.rs"));
}

const PORTAL_CSS: &str = include_str!("portal.css");

fn asset(content_type: &'static str, body: Vec<u8>) -> Response {
    let mut r = body.into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=86400"),
    );
    r
}

pub async fn kern_css() -> Response {
    let mut css = format!("/* KERN {} (EUPL-1.2) */\n", kern::KERN_VERSION).into_bytes();
    css.extend_from_slice(kern::FONTS_CSS.as_bytes());
    css.extend_from_slice(kern::KERN_CSS);
    asset("text/css; charset=utf-8", css)
}

pub async fn portal_css() -> Response {
    asset("text/css; charset=utf-8", PORTAL_CSS.as_bytes().to_vec())
}

pub async fn font(Path(file): Path<String>) -> Response {
    match kern::FONTS.iter().find(|(name, _)| *name == file) {
        Some((_, bytes)) => asset("font/woff2", bytes.to_vec()),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}
