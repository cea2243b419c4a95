//! Every integration test of this crate in one binary: one link, not one per file.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

mod common;

mod attack_authority;
mod attack_clocks;
mod central_portal;
mod cli;
mod demo_walkthrough;
mod local_api;
mod office_config;
mod office_nodes;
mod portal_browser;
mod portal_gateway;
mod updates;
