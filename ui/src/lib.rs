//! The screens of Aufruf in Slint: the foyer display ([`display`]), the kiosk
//! ([`kiosk`]) and the desk terminal ([`desk`]), each an adapter over its role's
//! office service.
//!
//! The `.slint` files under `ui/ui/` own layout and texts (translated through the
//! gettext catalogues under `ui/lang/`); Rust reaches them only through their exported
//! globals (`DisplayAdapter`, `KioskAdapter`, `DeskAdapter`, `Theme`). The adapters
//! map the services' typed views to Slint structs and call the same service actions
//! the node's HTTP API calls. Views arrive pushed on the services' `watch` channels
//! ([`Screen::attach`] awaits them on Slint's event loop); nothing here polls the
//! replicated state, reads the wall clock (the node hands in a [`Now`]) or knows
//! sled, automerge or the network.

use std::sync::Arc;

use aufruf_model::Timestamp;

pub mod desk;
pub mod display;
pub mod headless;
pub mod kiosk;
pub mod launch;
mod pushed;
pub mod speech;
mod text;

#[allow(
    clippy::all,
    clippy::todo,
    clippy::unimplemented,
    clippy::dbg_macro,
    clippy::unwrap_used,
    clippy::expect_used,
    missing_debug_implementations,
    unsafe_code
)]
mod generated {
    slint::include_modules!();
}

pub use generated::*;

/// The wall clock, as the node reads it (tests hand in one they move themselves).
pub type Now = Arc<dyn Fn() -> Timestamp + Send + Sync>;

/// The languages the screens speak, as the catalogues under `ui/lang/` name them.
pub const LANGUAGES: [&str; 5] = ["de", "en", "uk", "ar", "tr"];

/// Selects the language of every text of this thread's screens ("de", "en", "uk",
/// "ar", "tr"). English is the catalogues' source language.
pub fn select_language(language: &str) -> Result<(), slint::SelectBundledTranslationError> {
    slint::select_bundled_translation(language)
}
