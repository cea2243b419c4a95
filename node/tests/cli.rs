//! The `aufruf` command line, run as a user would.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use std::process::Command;

fn aufruf(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_aufruf"))
        .args(args)
        .output()
        .expect("the binary runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The report without the line that says how long it took.
fn without_timing(report: &str) -> String {
    report
        .lines()
        .filter(|l| !l.contains("simulation took"))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn simulate_prints_the_table_and_is_deterministic() {
    let (ok, out, err) = aufruf(&["simulate", "--seed", "1"]);
    assert!(ok, "{err}");
    for row in [
        "visitors served",
        "walk-in wait: mean",
        "walk-in wait: p90",
        "walk-in wait: max",
        "appointment wait after start: p90",
        "desk utilisation",
        "estimate error, Aufruf",
        "estimate error, static formula",
    ] {
        assert!(out.contains(row), "missing {row:?} in\n{out}");
    }
    let (_, again, _) = aufruf(&["simulate", "--seed", "1"]);
    assert_eq!(without_timing(&out), without_timing(&again));
}

#[test]
fn a_broken_configuration_names_file_field_and_problem() {
    let dir = std::env::temp_dir().join(format!("aufruf-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("aufruf.toml");
    let example = include_str!("../../aufruf.toml");
    let broken = example.replacen(r#"prefix = "U""#, r#"prefix = "M""#, 1);
    std::fs::write(&file, broken).unwrap();
    let path = file.to_str().unwrap();

    let (ok, _, err) = aufruf(&["config", "check", path]);
    assert!(!ok);
    assert_eq!(
        err.trim(),
        format!(
            "aufruf: {path}: services[1].prefix: \"M\" is already the prefix of service \
             \"meldebescheinigung\""
        )
    );
    let (ok, _, err) = aufruf(&["simulate", "--config", path]);
    assert!(!ok);
    assert!(err.contains("services[1].prefix"), "{err}");

    std::fs::write(&file, example).unwrap();
    let (ok, out, err) = aufruf(&["config", "check", path]);
    assert!(ok, "{err}");
    assert!(out.contains(": ok"), "{out}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn bad_simulation_options_are_explained() {
    let (ok, _, err) = aufruf(&["simulate", "--hours", "18:00-08:00"]);
    assert!(!ok);
    assert!(err.contains("--hours"), "{err}");
    let (ok, _, err) = aufruf(&["simulate", "--desks", "40"]);
    assert!(!ok);
    assert!(err.contains("40 were asked for"), "{err}");
    for bad in ["0", "5..3", "three", "3..x"] {
        let (ok, _, err) = aufruf(&["simulate", "--desks", bad]);
        assert!(!ok, "--desks {bad}");
        assert!(err.contains("--desks"), "{err}");
    }
    for bad in ["tuesday", "1,x", "1,-2"] {
        let (ok, _, err) = aufruf(&["simulate", "--profile", bad]);
        assert!(!ok, "--profile {bad}");
        assert!(err.contains("--profile"), "{err}");
    }
    let (ok, _, err) = aufruf(&["simulate", "--profile", "0,0"]);
    assert!(!ok);
    assert!(err.contains("arrival profile"), "{err}");
    let (ok, out, err) = aufruf(&[
        "simulate",
        "--profile",
        "monday",
        "--handling-spread",
        "0.3",
    ]);
    assert!(ok, "{err}");
    assert!(out.contains("visitors served"), "{out}");
}

#[test]
fn simulate_forecasts_staffing_over_a_range_of_desks() {
    let (ok, out, err) = aufruf(&[
        "simulate",
        "--seeds",
        "2",
        "--desks",
        "3..5",
        "--visitors",
        "300",
    ]);
    assert!(ok, "{err}");
    assert!(out.contains("pooled over seeds 1..=2"), "{out}");
    let rows: Vec<&str> = out
        .lines()
        .filter(|l| l.contains('|') && l.trim_start().starts_with(|c: char| c.is_ascii_digit()))
        .collect();
    assert_eq!(rows.len(), 3, "one row per number of desks:\n{out}");
    for (row, desks) in rows.iter().zip(["3", "4", "5"]) {
        assert_eq!(row.split_whitespace().next(), Some(desks), "{row}");
        assert_eq!(row.split_whitespace().nth(1), Some("2"), "two days: {row}");
    }
    // More desks, shorter waits: the walk-in mean wait falls.
    let mean = |row: &str| -> f64 {
        row.split('|')
            .nth(1)
            .unwrap()
            .split_whitespace()
            .next()
            .unwrap()
            .parse()
            .unwrap()
    };
    assert!(mean(rows[0]) > mean(rows[2]), "{out}");
}

#[test]
fn the_demo_office_at_its_default_speed_serves_visitors_within_30_seconds() {
    let dir = std::env::temp_dir().join(format!("aufruf-demo-{}", std::process::id()));
    let dir_arg = dir.to_str().unwrap();
    let (ok, out, err) = aufruf(&["demo", "--for", "30s", "--dir", dir_arg]);
    assert!(ok, "{out}\n{err}");
    for node in ["kiosk-1", "desk-1", "desk-2", "display-1", "gateway-1"] {
        assert!(
            out.contains(&format!("  {node}")),
            "{node} not listed:\n{out}"
        );
    }
    let summary = out
        .lines()
        .find(|l| l.starts_with("demo: ") && l.contains("visitors served"))
        .unwrap_or_else(|| panic!("no summary in\n{out}"));
    let served: u32 = summary
        .split(", ")
        .find_map(|part| part.strip_suffix(" visitors served"))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("cannot read {summary}"));
    assert!(served >= 1, "{summary}");
    assert!(out.contains("  portal http://127.0.0.1:"), "{out}");
    // The demo's admin is invited: the link opens the set-up page on its portal.
    assert!(
        out.lines()
            .any(|l| l.starts_with("  admin pages: http://127.0.0.1:")
                && l.contains("/admin/setup/")),
        "{out}"
    );
    assert!(
        out.contains(&format!(
            "  portal mail (outbox): {}",
            dir.join("outbox").display()
        )),
        "{out}"
    );
    // Printed tickets are kept as pictures next to the kiosk's store.
    let tickets = std::fs::read_dir(dir.join("kiosk-1").join("tickets"))
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "png")
        })
        .count();
    assert!(tickets >= 1, "no ticket pictures");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_device_file_with_a_broken_printer_table_is_refused_before_the_node_starts() {
    let dir = std::env::temp_dir().join(format!("aufruf-cli-printer-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("aufruf.toml");
    let example = include_str!("../../aufruf.toml");
    let device = format!(
        "{example}\n[node]\nid = \"kiosk-1\"\nrole = \"kiosk\"\ncredentials = \"{}\"\n\n\
         [printer]\nkind = \"fax\"\n",
        dir.join("credentials").display()
    );
    std::fs::write(&file, device).unwrap();
    let path = file.to_str().unwrap();
    let (ok, _, err) = aufruf(&["run", "--config", path]);
    assert!(!ok);
    assert!(err.contains(path) && err.contains("printer"), "{err}");
    // The office part of the same file is fine: the device's tables are its own.
    let (ok, out, err) = aufruf(&["config", "check", path]);
    assert!(ok, "{err}");
    assert!(out.contains(": ok"), "{out}");
    // A role that is none of the office's is named.
    let bad_role = std::fs::read_to_string(&file)
        .unwrap()
        .replace("role = \"kiosk\"", "role = \"admin\"");
    std::fs::write(&file, bad_role).unwrap();
    let (ok, _, err) = aufruf(&["run", "--config", path]);
    assert!(!ok);
    assert!(
        err.contains("node.role") && err.contains("\"admin\" is not a role"),
        "{err}"
    );
    // So is an id no node may have: it would name a certificate, tickets and stamps.
    let bad_id = std::fs::read_to_string(&file)
        .unwrap()
        .replace("id = \"kiosk-1\"", "id = \"kiosk/1\"");
    std::fs::write(&file, bad_id).unwrap();
    let (ok, _, err) = aufruf(&["run", "--config", path]);
    assert!(!ok);
    assert!(
        err.contains("node.id") && err.contains("\"kiosk/1\" is not a valid id"),
        "{err}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_token_for_a_role_the_office_does_not_have_is_refused() {
    let (ok, _, err) = aufruf(&[
        "office",
        "token",
        "--dir",
        "/nonexistent",
        "--node",
        "x-1",
        "--role",
        "admin",
    ]);
    assert!(!ok);
    assert!(
        err.contains("invalid value 'admin' for '--role <ROLE>'")
            && err.contains("[possible values: kiosk, desk, display, gateway, portal]"),
        "{err}"
    );
}

#[test]
fn a_token_for_a_node_id_no_node_may_have_is_refused() {
    let (ok, _, err) = aufruf(&[
        "office",
        "token",
        "--dir",
        "/nonexistent",
        "--node",
        "../x",
        "--role",
        "desk",
    ]);
    assert!(!ok);
    assert!(
        err.contains("'--node <NODE>'") && err.contains("\"../x\" is not a valid id"),
        "{err}"
    );
}

#[test]
fn a_device_file_without_the_office_must_name_it_and_must_match_it() {
    let dir = std::env::temp_dir().join(format!("aufruf-cli-office-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("aufruf.toml");
    let path = file.to_str().unwrap();
    let node = format!(
        "[node]\nid = \"kiosk-1\"\nrole = \"kiosk\"\ncredentials = \"{}\"\n",
        dir.join("credentials").display()
    );
    // Only the device's own table, and no office named: nothing to wait for.
    std::fs::write(&file, &node).unwrap();
    let (ok, _, err) = aufruf(&["run", "--config", path]);
    assert!(!ok);
    assert!(err.contains(path) && err.contains("node.office"), "{err}");
    // `config check` and `config apply` want the office's configuration itself.
    let (ok, _, err) = aufruf(&["config", "check", path]);
    assert!(!ok);
    assert!(err.contains("no office configuration"), "{err}");
    // With the office's tables, a different office in [node] is a contradiction.
    let example = include_str!("../../aufruf.toml");
    std::fs::write(&file, format!("{example}\n{node}office = \"halle\"\n")).unwrap();
    let (ok, _, err) = aufruf(&["run", "--config", path]);
    assert!(!ok);
    assert!(
        err.contains("node.office") && err.contains("\"halle\""),
        "{err}"
    );
    // Half an office is named as such.
    std::fs::write(
        &file,
        format!("[office]\nid = \"zeitz\"\nname = \"Zeitz\"\n\n{node}"),
    )
    .unwrap();
    let (ok, _, err) = aufruf(&["run", "--config", path]);
    assert!(!ok);
    assert!(
        err.contains("departments") && err.contains("missing"),
        "{err}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn an_api_open_beyond_the_device_needs_a_token() {
    let dir = std::env::temp_dir().join(format!("aufruf-cli-token-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("aufruf.toml");
    let path = file.to_str().unwrap();
    let example = include_str!("../../aufruf.toml");
    let node = format!(
        "[node]\nid = \"display-1\"\nrole = \"display\"\ncredentials = \"{}\"\napi = \"0.0.0.0:7380\"\n",
        dir.join("credentials").display()
    );
    std::fs::write(&file, format!("{example}\n{node}")).unwrap();
    let (ok, _, err) = aufruf(&["run", "--config", path]);
    assert!(!ok);
    assert!(
        err.contains("node.api_token") && err.contains("0.0.0.0:7380"),
        "{err}"
    );
    std::fs::write(&file, format!("{example}\n{node}api_token = \"short\"\n")).unwrap();
    let (ok, _, err) = aufruf(&["run", "--config", path]);
    assert!(!ok);
    assert!(
        err.contains("node.api_token") && err.contains("at least 32"),
        "{err}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The enrollment service as a process, killed when the test ends.
struct Service(std::process::Child);

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn a_device_enrolls_over_the_network_once_and_only_with_its_office() {
    use std::io::BufRead;
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = |p: &str| dir.path().join(p).to_str().unwrap().to_owned();
    let office = path("office");
    let (ok, _, err) = aufruf(&["office", "init", "--dir", &office, "--office", "zeitz"]);
    assert!(ok, "{err}");
    let (ok, token, err) = aufruf(&[
        "office", "token", "--dir", &office, "--node", "desk-3", "--role", "desk",
    ]);
    assert!(ok, "{err}");
    let token = token.trim().to_owned();
    assert!(token.contains('.'), "secret and fingerprint: {token}");

    // The admin's machine serves enrollments; it says where once it listens.
    let mut service = Service(
        Command::new(env!("CARGO_BIN_EXE_aufruf"))
            .args(["office", "serve-enrollment", "--dir", &office])
            .args(["--listen", "127.0.0.1:0"])
            .env("RUST_LOG", "warn")
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut said = String::new();
    std::io::BufReader::new(service.0.stdout.as_mut().unwrap())
        .read_line(&mut said)
        .unwrap();
    let address = said.trim().rsplit(' ').next().unwrap().to_owned();

    // The device makes its key, sends its request, gets its certificate.
    let out = path("credentials");
    let (ok, said, err) = aufruf(&[
        "node", "enroll", "--office", &address, "--token", &token, "--out", &out,
    ]);
    assert!(ok, "{err}");
    assert!(said.contains("desk-3"), "{said}");
    let key = std::path::Path::new(&out).join("node.key");
    assert_eq!(
        std::fs::metadata(&key).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let certificate = std::fs::read_to_string(std::path::Path::new(&out).join("node.crt")).unwrap();
    assert_eq!(
        aufruf_sync::trust::node_of_certificate_pem(&certificate)
            .unwrap()
            .as_str(),
        "desk-3"
    );
    // The CA key is not on the device.
    assert!(!std::path::Path::new(&out).join("ca.key").exists());

    // The same token again: refused.
    let (ok, _, err) = aufruf(&[
        "node",
        "enroll",
        "--office",
        &address,
        "--token",
        &token,
        "--out",
        &path("again"),
    ]);
    assert!(!ok);
    assert!(err.contains("unknown or already used"), "{err}");
    // A token naming another office's fingerprint: the service is not trusted.
    let (ok, fresh, _) = aufruf(&[
        "office", "token", "--dir", &office, "--node", "desk-4", "--role", "desk",
    ]);
    assert!(ok);
    let (secret, _) = fresh.trim().split_once('.').unwrap();
    let forged = format!("{secret}.{}", "ab".repeat(32));
    let (ok, _, err) = aufruf(&[
        "node",
        "enroll",
        "--office",
        &address,
        "--token",
        &forged,
        "--out",
        &path("forged"),
    ]);
    assert!(!ok);
    assert!(err.contains("not this office's"), "{err}");
    // A garbled token is named as such.
    let (ok, _, err) = aufruf(&[
        "node",
        "enroll",
        "--office",
        &address,
        "--token",
        "hello",
        "--out",
        &path("garbled"),
    ]);
    assert!(!ok);
    assert!(err.contains("<secret>.<office fingerprint>"), "{err}");
}

#[test]
fn a_status_address_on_localhost_is_refused_because_no_phone_reaches_it() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("aufruf.toml");
    let path = file.to_str().unwrap();
    let example = include_str!("../../aufruf.toml");
    for url in [
        "http://localhost:7380",
        "http://127.0.0.1",
        "https://[::1]:8443/x",
    ] {
        let node = format!(
            "[node]\nid = \"kiosk-1\"\nrole = \"kiosk\"\ncredentials = \"{}\"\npublic_url = \"{url}\"\n",
            dir.path().join("credentials").display()
        );
        std::fs::write(&file, format!("{example}\n{node}")).unwrap();
        let (ok, _, err) = aufruf(&["run", "--config", path]);
        assert!(!ok);
        assert!(
            err.contains("node.public_url") && err.contains("phone"),
            "{url}: {err}"
        );
    }
}

/// A real day's statistics (as the admin statistics page downloads them) run again:
/// the day's own figures, then the simulated ones; with `--desks 3..5`, a staffing
/// forecast for that day. Files that are not such statistics are refused by name.
#[test]
fn simulate_replays_a_days_statistics() {
    use aufruf_model::simulation::{SimulationParams, simulate_keeping_day};
    use aufruf_model::statistics::DayStatistics;
    let config =
        aufruf_model::OfficeConfig::from_toml("aufruf.toml", include_str!("../../aufruf.toml"))
            .unwrap();
    let (_, day) = simulate_keeping_day(
        &config,
        &SimulationParams {
            visitors: 300,
            desks: 4,
            ..SimulationParams::default()
        },
    )
    .unwrap();
    let date = chrono::NaiveDate::from_ymd_opt(2026, 11, 23).unwrap();
    let day = DayStatistics::of(date, &day, chrono_tz::UTC);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("statistik.json");
    std::fs::write(&file, serde_json::to_string(&[&day]).unwrap()).unwrap();
    let path = file.to_str().unwrap();

    let (ok, out, err) = aufruf(&["simulate", "--replay", path]);
    assert!(ok, "{err}");
    let first = out.lines().next().unwrap();
    assert!(
        first.starts_with("2026-11-23: ") && first.contains("4 desks served; real mean wait"),
        "{out}"
    );
    assert!(out.contains("visitors served"), "{out}");
    let (_, again, _) = aufruf(&["simulate", "--replay", path]);
    assert_eq!(out, again, "the same day and seed run the same");

    let (ok, out, err) = aufruf(&["simulate", "--replay", path, "--desks", "3..5"]);
    assert!(ok, "{err}");
    let rows: Vec<&str> = out
        .lines()
        .filter(|l| l.trim_start().starts_with(['3', '4', '5']))
        .collect();
    assert_eq!(rows.len(), 3, "one row per number of desks:\n{out}");

    // Not statistics, too big, no day at all.
    std::fs::write(&file, "{\"tickets\": []}").unwrap();
    let (ok, _, err) = aufruf(&["simulate", "--replay", path]);
    assert!(!ok);
    assert!(err.contains("is not day statistics as JSON"), "{err}");
    std::fs::write(&file, "[]").unwrap();
    let (ok, _, err) = aufruf(&["simulate", "--replay", path]);
    assert!(!ok);
    assert!(err.contains("holds no day"), "{err}");
    let huge = std::fs::File::create(&file).unwrap();
    huge.set_len(64 * 1024 * 1024).unwrap();
    let (ok, _, err) = aufruf(&["simulate", "--replay", path]);
    assert!(!ok);
    assert!(err.contains("at most"), "{err}");
    let (ok, _, err) = aufruf(&["simulate", "--replay", "/no/such/file.json"]);
    assert!(!ok);
    assert!(err.contains("cannot read /no/such/file.json"), "{err}");
}
