//! Every integration test of this crate in one binary: one link, not one per file.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

mod attack_clocks_and_peers;
mod full_disk;
mod lost_disk;
mod protocol_lan;
mod random_lan;
mod scenarios;
