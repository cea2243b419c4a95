//! A test office: a temporary folder with the office CA, enrolled nodes started in
//! this process or as `aufruf run` processes, and an HTTP client for their APIs.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use aufruf_node::credentials::{self, OfficeFolder};
use aufruf_node::runtime::{self, RunningNode};
use aufruf_node::settings::{NodeSettings, Role};
use serde_json::Value;

pub struct TestOffice {
    pub dir: tempfile::TempDir,
    pub office: OfficeFolder,
    pub http: reqwest::Client,
}

impl TestOffice {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let office = OfficeFolder::init(
            &dir.path().join("office"),
            &aufruf_sync::OfficeId::new("zeitz").unwrap(),
        )
        .unwrap();
        Self {
            dir,
            office,
            http: reqwest::Client::new(),
        }
    }

    pub fn home(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Enrolls a node and returns its settings (loopback, free ports).
    pub fn enroll(&self, name: &str, role: Role, peers: Vec<SocketAddr>) -> NodeSettings {
        let node = aufruf_sync::NodeId::new(name).unwrap();
        let token = self
            .office
            .issue_token(&node, role, Duration::from_secs(60))
            .unwrap();
        let (issued, _) = self.office.enroll(&token).unwrap();
        let home = self.home(name);
        credentials::save_node(&home.join("credentials"), &issued).unwrap();
        NodeSettings::on_loopback(node, role, &home, peers)
    }

    /// Enrolls a gateway that serves the portal on loopback over plain HTTP, its mail
    /// landing in the folder `outbox`; `adjust` changes the portal's settings.
    pub fn enroll_gateway_with_portal(
        &self,
        outbox: &Path,
        adjust: impl FnOnce(&mut aufruf_portal::PortalSettings),
    ) -> NodeSettings {
        let mut gateway = self.enroll("gateway-1", Role::Gateway, vec![]);
        let mut portal = aufruf_portal::PortalSettings::in_dir(&self.home("portal"), "");
        portal.listen = SocketAddr::from(([127, 0, 0, 1], 0));
        portal.outbox = outbox.to_path_buf();
        // Plain HTTP on loopback: a browser keeps no `Secure` cookie from http://.
        portal.secure_cookies = false;
        adjust(&mut portal);
        gateway.portal = Some(portal);
        gateway
    }

    /// Starts a kiosk (`kiosk-1`) and a desk (`desk-1`, opened) that dial `gateway`,
    /// once both have caught up.
    pub async fn kiosk_and_open_desk(&self, gateway: SocketAddr) -> (RunningNode, RunningNode) {
        let kiosk = self.enroll("kiosk-1", Role::Kiosk, vec![gateway]);
        let kiosk = self.start(kiosk).await;
        let desk = self.enroll("desk-1", Role::Desk, vec![gateway]);
        let desk = self.start(desk).await;
        self.ready(kiosk.api_addr).await;
        self.ready(desk.api_addr).await;
        let (status, view) = self
            .post(
                desk.api_addr,
                "/api/desks/desk-1/open",
                serde_json::json!({}),
            )
            .await;
        assert_eq!(status, 200, "{view}");
        (kiosk, desk)
    }

    /// Draws a QR ticket for `service` at the kiosk: its status token and number.
    pub async fn draw_qr_ticket(&self, kiosk: SocketAddr, service: &str) -> (String, String) {
        let (status, issued) = self
            .post(
                kiosk,
                "/api/tickets",
                serde_json::json!({"service": service, "kind": "qr"}),
            )
            .await;
        assert_eq!(status, 201, "{issued}");
        let text = |v: &Value| v.as_str().unwrap().to_owned();
        (
            text(&issued["status_token"]),
            text(&issued["ticket"]["number"]),
        )
    }

    /// Enrolls a node that runs alone, as the office's only device (`--only-device`):
    /// its new store issues without catching up from a peer.
    pub fn enroll_alone(&self, name: &str, role: Role) -> NodeSettings {
        let mut settings = self.enroll(name, role, vec![]);
        settings.only_device = true;
        settings
    }

    /// Waits until a node's `/health` says it issues and calls (its new store has
    /// caught up, or it was stated the only device).
    pub async fn ready(&self, api: SocketAddr) {
        self.eventually(
            Duration::from_secs(30),
            &format!("{api} has caught up with the office"),
            || async { self.get(api, "/health").await.1["status"] == "ok" },
        )
        .await;
    }

    /// Starts a node in this process.
    pub async fn start(&self, settings: NodeSettings) -> RunningNode {
        let config = aufruf_node::config_file::load_or_example(None)
            .unwrap()
            .open_around_the_clock();
        runtime::start(Some(config), settings).await.unwrap()
    }

    /// Starts a node in this process whose office keeps the time of `timezone` (see
    /// [`midday_zone`]).
    pub async fn start_in(&self, settings: NodeSettings, timezone: &str) -> RunningNode {
        let mut config = aufruf_node::config_file::load_or_example(None)
            .unwrap()
            .open_around_the_clock();
        config.office.timezone = timezone.to_owned();
        runtime::start(Some(config), settings).await.unwrap()
    }

    /// Starts a kiosk whose printer is the emulated one, drawing into `tickets`.
    pub async fn start_kiosk_with_printer(
        &self,
        settings: NodeSettings,
        tickets: &Path,
    ) -> RunningNode {
        let config = aufruf_node::config_file::load_or_example(None)
            .unwrap()
            .open_around_the_clock();
        let mut settings = settings;
        settings.printer = Some(aufruf_hardware::PrinterConfig::new(
            aufruf_hardware::Connection::Emulated {
                dir: tickets.to_path_buf(),
            },
        ));
        runtime::start(Some(config), settings).await.unwrap()
    }

    /// Writes an `aufruf.toml` for `settings` with fixed ports and starts
    /// `aufruf run` on it.
    pub fn spawn(&self, settings: &NodeSettings) -> Child {
        self.spawn_with(settings, true)
    }

    /// Like [`Self::spawn`]; with `with_office` false the file holds only the
    /// device's `[node]` table (naming the office), so the node takes the
    /// configuration the office publishes.
    pub fn spawn_with(&self, settings: &NodeSettings, with_office: bool) -> Child {
        let file = self.write_config(settings, with_office, "");
        run_file(settings, &file, None)
    }

    /// Writes the node's `aufruf.toml` (see [`Self::spawn_with`]), with `more` (further
    /// tables, e.g. `[node.portal]`) at its end; returns its path.
    pub fn write_config(&self, settings: &NodeSettings, with_office: bool, more: &str) -> PathBuf {
        let file = self.home(settings.id.as_str()).join("aufruf.toml");
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        let peers: Vec<String> = settings.peers.iter().map(|p| format!("\"{p}\"")).collect();
        let node = format!(
            "\n[node]\nid = \"{}\"\nrole = \"{}\"\nstore = \"{}\"\ncredentials = \"{}\"\n\
             listen = \"{}\"\napi = \"{}\"\npeers = [{}]\nmdns = false\n\
             tickets_per_minute = {}\n",
            settings.id,
            settings.role.name(),
            settings.store.display(),
            settings.credentials.display(),
            settings.listen,
            settings.api,
            peers.join(", "),
            settings.tickets_per_minute
        );
        // The example office, open around the clock so the test runs at any hour.
        let office = aufruf_node::config_file::load_or_example(None)
            .unwrap()
            .open_around_the_clock();
        let office = if with_office {
            toml::to_string(&office).unwrap()
        } else {
            String::new()
        };
        let node = if with_office {
            node
        } else {
            format!("{node}office = \"zeitz\"\n")
        };
        std::fs::write(&file, format!("{office}{node}{more}")).unwrap();
        file
    }

    pub async fn get(&self, api: SocketAddr, path: &str) -> (u16, Value) {
        let r = self
            .http
            .get(format!("http://{api}{path}"))
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    pub async fn post(&self, api: SocketAddr, path: &str, body: Value) -> (u16, Value) {
        self.post_with_token(api, None, path, body).await
    }

    /// [`Self::post`] with the API's token, for an API beyond loopback.
    pub async fn post_with_token(
        &self,
        api: SocketAddr,
        token: Option<&str>,
        path: &str,
        body: Value,
    ) -> (u16, Value) {
        let mut request = self.http.post(format!("http://{api}{path}")).json(&body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let r = request.send().await.unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    /// The node's metrics in Prometheus' text format.
    pub async fn metrics(&self, api: SocketAddr) -> String {
        let r = self
            .http
            .get(format!("http://{api}/metrics"))
            .send()
            .await
            .unwrap();
        r.text().await.unwrap()
    }

    /// Polls `check` against a node until it holds; panics with `what` after `within`.
    pub async fn eventually<F, Fut>(&self, within: Duration, what: &str, check: F)
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = bool>,
    {
        eventually(within, what, check).await;
    }
}

/// Polls `check` until it holds; panics with `what` after `within`.
pub async fn eventually<F, Fut>(within: Duration, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let waited = tokio::time::timeout(within, async {
        let mut ticks = tokio::time::interval(Duration::from_millis(50));
        loop {
            ticks.tick().await;
            if check().await {
                return;
            }
        }
    })
    .await;
    assert!(waited.is_ok(), "timed out waiting until {what}");
}

/// Held by each test that drives headless Chromium, so one runs at a time: two side
/// by side on CI's two cores, each with its own office, starved each other's service
/// workers now and then (a worker not ready within 20 s; an offline page not served).
pub static ONE_BROWSER: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// A child process killed when the test ends, passed or failed.
pub struct Killed(pub Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A free loopback port (bound, then released for a child process to take).
pub fn free_port() -> SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

pub fn path_str(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// A time zone in which it is about noon now: for tests whose appointments must lie
/// later on the same local day, whatever hour they run at.
pub fn midday_zone() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let hour = i64::try_from((now / 3600) % 24).unwrap();
    // Etc/GMT-3 is three hours ahead of UTC (the sign is POSIX's).
    match 12 - hour {
        0 => "Etc/GMT".to_owned(),
        ahead if ahead > 0 => format!("Etc/GMT-{ahead}"),
        behind => format!("Etc/GMT+{}", -behind),
    }
}

/// Runs the browser script (`portal/e2e/citizen.mjs`, headless Chromium through
/// Node) with `env`, its browser profile in `profile`; what it printed, once it
/// passed and checked every page.
pub async fn run_browser_script(profile: PathBuf, env: Vec<(&'static str, String)>) -> String {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../portal/e2e/citizen.mjs");
    std::fs::create_dir_all(&profile).unwrap();
    let run = tokio::task::spawn_blocking(move || {
        Command::new("node")
            .arg(script)
            .env("PORTAL_BROWSER_PROFILE", &profile)
            .envs(env)
            .output()
            .expect("node runs the browser test (scripts/setup.sh installs it)")
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&run.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&run.stderr);
    println!("{stdout}");
    assert!(run.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("pages checked, all pass"), "{stdout}");
    stdout
}

/// Starts `aufruf run` on `file` (written for `settings`), inside the network
/// namespace `namespace` when given (`ip netns exec`, as root).
pub fn run_file(settings: &NodeSettings, file: &Path, namespace: Option<&str>) -> Child {
    let binary = env!("CARGO_BIN_EXE_aufruf");
    let mut command = match namespace {
        Some(ns) => {
            let mut c = Command::new("ip");
            c.args(["netns", "exec", ns, binary]);
            c
        }
        None => Command::new(binary),
    };
    command.args(["run", "--config"]).arg(file);
    if settings.only_device {
        command.arg("--only-device");
    }
    command
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap()
}
