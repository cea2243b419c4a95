//! The portal as an app without an app store: a web app manifest, icons drawn here,
//! and a service worker (`/sw.js`, registered by the QR ticket page's script) that
//! keeps the ticket pages a phone opened, so the last known state shows without a
//! connection, and shows the "no connection" page for anything else.

use std::sync::{Arc, OnceLock};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::Ctx;
use super::pages;
use crate::Portal;

const SERVICE_WORKER: &str = include_str!("sw.js");
/// The colour of KERN's dark blue, the app's bar and icon.
pub const THEME: &str = "#0b3a74";

pub async fn manifest(State(portal): State<Arc<Portal>>) -> Response {
    let office = portal.config().office.name.clone();
    let manifest = serde_json::json!({
        "name": format!("{office} – Termine und Wartemarken"),
        "short_name": "Termine",
        "description": format!("Termine buchen und Wartemarken verfolgen bei {office}"),
        "lang": "de",
        "start_url": "/",
        "scope": "/",
        "display": "standalone",
        "background_color": "#ffffff",
        "theme_color": THEME,
        "icons": [
            {"src": "/assets/icon-192.png", "sizes": "192x192", "type": "image/png", "purpose": "any"},
            {"src": "/assets/icon-512.png", "sizes": "512x512", "type": "image/png", "purpose": "any"},
            {"src": "/assets/icon-maskable-512.png", "sizes": "512x512", "type": "image/png", "purpose": "maskable"},
        ],
    });
    (
        [(header::CONTENT_TYPE, "application/manifest+json")],
        manifest.to_string(),
    )
        .into_response()
}

/// The service worker: like every page, `no-store` (the security headers), so an
/// update of the portal reaches the phones at their next visit.
pub async fn service_worker() -> Response {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        SERVICE_WORKER,
    )
        .into_response()
}

/// What the service worker shows for a page it cannot fetch. The worker keeps it
/// once, in whatever language it was fetched: so it says it in both.
pub async fn offline(State(portal): State<Arc<Portal>>, ctx: Ctx) -> Response {
    pages::message(
        &ctx,
        &portal,
        StatusCode::OK,
        "Keine Verbindung – No connection",
        vec![
            "Ihr Telefon ist gerade nicht mit dem Internet verbunden. Ihre Wartemarke sehen \
             Sie trotzdem: Öffnen Sie sie über den QR-Code oder den Verlauf – mit dem \
             zuletzt bekannten Stand."
                .to_owned(),
            "Your phone is not connected to the internet right now. You can still see your \
             ticket: open it from its QR code or your history – with its last known state."
                .to_owned(),
        ],
        vec![("/".to_owned(), "Startseite – Start page".to_owned())],
    )
}

fn png_asset(png: &'static [u8]) -> Response {
    let mut r = Bytes::from_static(png).into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("image/png"));
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=86400"),
    );
    r
}

pub async fn icon_192() -> Response {
    static PNG: OnceLock<Vec<u8>> = OnceLock::new();
    png_asset(PNG.get_or_init(|| icon(192, false)))
}

pub async fn icon_512() -> Response {
    static PNG: OnceLock<Vec<u8>> = OnceLock::new();
    png_asset(PNG.get_or_init(|| icon(512, false)))
}

pub async fn icon_maskable_512() -> Response {
    static PNG: OnceLock<Vec<u8>> = OnceLock::new();
    png_asset(PNG.get_or_init(|| icon(512, true)))
}

/// The app's icon, `size` pixels square: a white ticket with its notches and a blue
/// bar for the number on KERN's dark blue. A maskable icon keeps the ticket within
/// the middle 60 %, which every launcher's mask leaves.
pub fn icon(size: u32, maskable: bool) -> Vec<u8> {
    let s = f64::from(size);
    let scale = if maskable { 0.75 } else { 1.0 };
    let half = s / 2.0;
    let at = |f: f64| half + (f - 0.5) * s * scale;
    let (left, right, top, bottom) = (at(0.18), at(0.82), at(0.28), at(0.72));
    let notch = 0.07 * s * scale;
    let (bar_left, bar_right, bar_top, bar_bottom) = (at(0.32), at(0.68), at(0.45), at(0.55));
    let blue = [0x0b, 0x3a, 0x74, 0xff];
    let white = [0xff, 0xff, 0xff, 0xff];
    let mut rgba = Vec::with_capacity((size * size * 4) as usize);
    for y in 0..size {
        for x in 0..size {
            let (fx, fy) = (f64::from(x) + 0.5, f64::from(y) + 0.5);
            let in_ticket = fx > left && fx < right && fy > top && fy < bottom;
            let in_notch = [left, right]
                .iter()
                .any(|cx| (fx - cx).hypot(fy - half) < notch);
            let in_bar = fx > bar_left && fx < bar_right && fy > bar_top && fy < bar_bottom;
            let white_here = in_ticket && !in_notch && !in_bar;
            rgba.extend_from_slice(if white_here { &white } else { &blue });
        }
    }
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, size, size);
    encoder.set_color(png::ColorType::Rgba);
    encoder.set_depth(png::BitDepth::Eight);
    // Writing into memory does not fail; an empty icon would be refused by the
    // browser, not crash the portal.
    if let Ok(mut writer) = encoder.write_header() {
        let _ = writer.write_image_data(&rgba);
    }
    out
}
