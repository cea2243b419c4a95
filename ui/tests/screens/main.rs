//! The screens driven headless, as a visitor and a clerk would: through the
//! accessible labels of their controls, over the real office services on an
//! in-memory replica. Time is Slint's mocked time (timers, blinking, idle timeout)
//! and the office's clock a value the test moves; nothing sleeps.
//!
//! One test binary for all screens: each links Slint, which is slow to link.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

mod catalogues;
mod common;
mod desk;
mod display;
mod kiosk;
