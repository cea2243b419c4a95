//! The `aufruf` binary: parses the command line and hands over to [`aufruf_node::cli`].
//!
//! It allocates with jemalloc, built with one arena, no per-thread caches and freed
//! pages given back at once (`.cargo/config.toml`). With glibc's malloc every thread
//! that allocates gets an arena of its own — sled's seven I/O threads, tokio's
//! workers, the blocking pool — and each arena kept its share of the day's peak: a
//! node held 60–67 MB at the end of a 3,000-ticket day (19 MB of it live), 34–39 MB
//! with this allocator.

use std::process::ExitCode;

#[cfg(not(windows))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> ExitCode {
    aufruf_node::cli::main()
}
