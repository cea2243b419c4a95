//! Checks the sources for the crate's architecture invariants that Cargo cannot
//! enforce, because the sans-IO core shares a crate with its tokio shell.

use std::path::Path;

/// Words that would mean the protocol core does I/O, reads a clock or spawns.
const FORBIDDEN_IN_CORE: &[&str] = &[
    "tokio",
    "sled",
    "rustls",
    "std::net",
    "std::thread",
    "std::fs",
    "Instant",
    "SystemTime",
    "crate::store",
    "crate::net",
    "crate::replica",
    "crate::trust",
];

#[test]
fn the_protocol_core_reads_no_clock_and_opens_no_socket() {
    let core = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/protocol");
    let mut checked = 0;
    for entry in std::fs::read_dir(&core).unwrap_or_else(|e| panic!("{core:?}: {e}")) {
        let path = entry.map(|e| e.path()).unwrap_or_default();
        let Ok(source) = std::fs::read_to_string(&path) else {
            continue;
        };
        checked += 1;
        for (number, line) in source.lines().enumerate() {
            let code = line.split("//").next().unwrap_or_default();
            for word in FORBIDDEN_IN_CORE {
                assert!(
                    !code.contains(word),
                    "{}:{}: the protocol core mentions `{word}`",
                    path.display(),
                    number + 1
                );
            }
        }
    }
    assert!(checked >= 2, "no core sources found in {core:?}");
}
