//! Every integration test of this crate in one binary: one link, not one per file.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

mod crash;
mod loopback_tls;
mod mdns_netns;
mod replica;
mod store_size;

/// The name libtest gives a test of `module` (the caller's `module_path!()`) without the
/// binary's own name, for tests that start this binary again with `--exact`.
fn test_name(module: &str, test: &str) -> String {
    let path = module.split_once("::").map_or(module, |(_, rest)| rest);
    format!("{path}::{test}")
}
