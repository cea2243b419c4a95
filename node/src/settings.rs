//! The `[node]` table of `aufruf.toml`: who this device is and where it keeps and
//! finds things. The office part of the file is the model's; this part is the node's.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use aufruf_hardware::PrinterConfig;
use aufruf_model::config::DeviceTables;
use aufruf_model::{ConfigError, DeskId, NodeId, OfficeConfig, OfficeId};
use serde::Deserialize;

use crate::address::Address;

/// What a device does in the office: `aufruf-names`' role, the only one there is (the
/// model and the sync protocol use it too).
pub use aufruf_model::Role;

/// This device's settings. The id and the role are checked as the table is read.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeSettings {
    /// The device's name in the office, e.g. `kiosk-1`; its certificate names it too.
    pub id: NodeId,
    /// The office this device belongs to. Needed when the file holds only the
    /// device's own tables (the device then takes the configuration the office
    /// publishes); otherwise it must match `[office] id`.
    #[serde(default)]
    pub office: Option<OfficeId>,
    /// `kiosk`, `desk`, `display` or `gateway`.
    pub role: Role,
    /// Where the replica is stored (sled).
    #[serde(default = "default_store")]
    pub store: PathBuf,
    /// Folder with `node.crt`, `node.key` and `ca.crt` from enrollment.
    pub credentials: PathBuf,
    /// Where office peers connect (mutual TLS).
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
    /// The local HTTP API (health, metrics, state, actions). Loopback by default.
    #[serde(default = "default_api")]
    pub api: SocketAddr,
    /// The token every API request must carry (`Authorization: Bearer …`), except
    /// `GET /health`. Required when `api` is reachable beyond this device.
    #[serde(default)]
    pub api_token: Option<String>,
    /// Tickets and check-ins one client address may draw per minute through the API
    /// (a short burst, then this rate); 0: no limit.
    #[serde(default = "default_tickets_per_minute")]
    pub tickets_per_minute: u32,
    /// Peers to dial even without mDNS (many city networks block multicast): an IP
    /// address or a host name, with the port (`"10.1.2.10:7340"`,
    /// `"kiosk-1.buergerbuero.example:7340"`); a name is looked up at every try.
    #[serde(default)]
    pub peers: Vec<Address>,
    /// Announce this node and find peers over mDNS (`_aufruf._tcp.local.`). Static
    /// peers are dialled either way.
    #[serde(default = "yes")]
    pub mdns: bool,
    /// Interfaces for mDNS (e.g. `["eth0"]`); empty: all but loopback.
    #[serde(default)]
    pub mdns_interfaces: Vec<String>,
    /// Days a day document is kept before only its statistics remain.
    #[serde(default = "default_retention")]
    pub retention_days: u32,
    /// Start of the status address printed on tickets (`<url>/t/<token>`): the
    /// portal's public address, reachable from a citizen's phone. Without it the
    /// kiosk prints no status link and offers paper tickets only.
    #[serde(default)]
    pub public_url: Option<String>,
    /// The citizen portal a gateway serves (`[node.portal]`); none: the gateway
    /// serves no portal.
    #[serde(default)]
    pub portal: Option<aufruf_portal::PortalSettings>,
    /// The ticket printer, from the file's `[printer]` table (kiosks only).
    #[serde(skip)]
    pub printer: Option<PrinterConfig>,
    /// The API server's bounds (connections, header deadline, display feeds).
    #[serde(skip)]
    pub api_limits: crate::server::ApiLimits,
    /// An operator's statement, on the command line only (`aufruf run
    /// --only-device`), never in the file: this device is the office's only one, so
    /// a new store need not catch up from a peer before it issues.
    #[serde(skip)]
    pub only_device: bool,
    /// Opens the role's screen (kiosk, desk terminal, foyer display) while the node
    /// runs. Off by default, so headless devices and tests are unchanged; `aufruf run
    /// --screen` turns it on, `--headless` off.
    #[serde(default)]
    pub screen: bool,
    /// The foyer display speaks each call in German through `espeak-ng`. Off by
    /// default.
    #[serde(default)]
    pub speak: bool,
    /// `[node.updates]`: this node serves signed updates to the office's devices
    /// (`GET /updates/…` on its API) and takes new ones in (`PUT /api/updates`).
    #[serde(default)]
    pub updates: Option<crate::update::source::ServeSettings>,
}

fn default_store() -> PathBuf {
    PathBuf::from("/var/lib/aufruf/store")
}

fn default_listen() -> SocketAddr {
    SocketAddr::from(([0, 0, 0, 0], 7340))
}

fn default_api() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 7380))
}

fn default_tickets_per_minute() -> u32 {
    30
}

/// The shortest API token accepted.
pub const MIN_API_TOKEN: usize = 32;

fn yes() -> bool {
    true
}

fn default_retention() -> u32 {
    7
}

impl NodeSettings {
    /// The `[node]` table of a loaded configuration, checked.
    pub fn of(
        device: &DeviceTables,
        config: Option<&OfficeConfig>,
        file: &Path,
    ) -> Result<NodeSettings, ConfigError> {
        let error = |field: String, problem: String| ConfigError {
            file: file.display().to_string(),
            line: None,
            field,
            problem,
        };
        let table = device.node.clone().ok_or_else(|| {
            error(
                "node".into(),
                "this device has no [node] table (id, role, credentials, …)".into(),
            )
        })?;
        let mut settings: NodeSettings =
            serde_path_to_error::deserialize(toml::Value::Table(table)).map_err(|e| {
                let path = e.path().to_string();
                let field = if path == "." {
                    "node".to_owned()
                } else {
                    format!("node.{path}")
                };
                error(field, e.into_inner().to_string())
            })?;
        if let Some(table) = &device.printer {
            let printer: PrinterConfig = serde_path_to_error::deserialize(toml::Value::Table(
                table.clone(),
            ))
            .map_err(|e| {
                let path = e.path().to_string();
                let field = if path == "." {
                    "printer".to_owned()
                } else {
                    format!("printer.{path}")
                };
                error(field, e.into_inner().to_string())
            })?;
            printer
                .validate()
                .map_err(|e| error("printer".into(), e.to_string()))?;
            settings.printer = Some(printer);
        }
        if let Some(url) = &settings.public_url {
            let authority = url
                .strip_prefix("https://")
                .or_else(|| url.strip_prefix("http://"))
                .and_then(|rest| rest.split('/').next())
                .unwrap_or_default();
            // The API guard's notion of "this device only" decides here too.
            if authority.is_empty() || crate::guard::is_loopback_authority(authority) {
                return Err(error(
                    "node.public_url".into(),
                    format!(
                        "\"{url}\" is not an address a citizen's phone can reach: name the \
                         portal's public address (https://…), or leave it out"
                    ),
                ));
            }
        }
        match &settings.api_token {
            Some(token) if token.len() < MIN_API_TOKEN || !token.is_ascii() => {
                return Err(error(
                    "node.api_token".into(),
                    format!("must be at least {MIN_API_TOKEN} ASCII characters"),
                ));
            }
            None if !settings.api.ip().is_loopback() => {
                return Err(error(
                    "node.api_token".into(),
                    format!(
                        "the API listens on {}, beyond this device: set an api_token \
                         (at least {MIN_API_TOKEN} characters) that its clients send",
                        settings.api
                    ),
                ));
            }
            _ => {}
        }
        match (config, &settings.office) {
            (None, None) => {
                return Err(error(
                    "node.office".into(),
                    "this file holds no office configuration, so [node] must name the \
                     office whose published configuration the device takes"
                        .into(),
                ));
            }
            (Some(config), Some(office)) if *office != config.office.id => {
                return Err(error(
                    "node.office".into(),
                    format!(
                        "\"{office}\" is not the office this file configures (\"{}\")",
                        config.office.id
                    ),
                ));
            }
            (Some(config), None) => settings.office = Some(config.office.id.clone()),
            _ => {}
        }
        if settings.role == Role::Portal && settings.portal.is_none() {
            return Err(error(
                "node.portal".into(),
                "the central portal serves the citizen portal: add a [node.portal] table \
                 (listen, store, outbox, public_url, …)"
                    .into(),
            ));
        }
        // The central portal sits in a data centre, not on the office's network: it
        // announces nothing and looks for nobody; the office's gateway dials it.
        if settings.role == Role::Portal {
            settings.mdns = false;
        }
        if let (Role::Desk, Some(config)) = (settings.role, config) {
            let desk = settings.desk_id();
            if config.desk(&desk).is_none() {
                return Err(error(
                    "node.id".into(),
                    format!(
                        "a desk terminal serves the desk named like it, and \"{desk}\" is not among the office's desks"
                    ),
                ));
            }
        }
        Ok(settings)
    }

    /// A device that talks only over loopback (free ports, static peers, no mDNS,
    /// which would reach the real network) and keeps its store and credentials
    /// under `home`: the demo office and the tests.
    pub fn on_loopback(id: NodeId, role: Role, home: &Path, peers: Vec<SocketAddr>) -> Self {
        let any_port = SocketAddr::from(([127, 0, 0, 1], 0));
        NodeSettings {
            id,
            office: None,
            role,
            store: home.join("store"),
            credentials: home.join("credentials"),
            listen: any_port,
            api: any_port,
            api_token: None,
            // The demo's and the tests' visitors draw as fast as they can.
            tickets_per_minute: 0,
            peers: peers.into_iter().map(Address::from).collect(),
            mdns: false,
            mdns_interfaces: Vec::new(),
            retention_days: default_retention(),
            public_url: None,
            portal: None,
            printer: None,
            api_limits: crate::server::ApiLimits::default(),
            only_device: false,
            screen: false,
            speak: false,
            updates: None,
        }
    }

    /// The desk this terminal serves: the one named like the node, which is what its
    /// certificate lets it act for (a desk terminal for "platz-3" is enrolled as
    /// node "platz-3").
    pub fn desk_id(&self) -> DeskId {
        DeskId::new(self.id.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(peers: &str) -> Result<NodeSettings, ConfigError> {
        let text = format!(
            "[node]\nid = \"desk-1\"\noffice = \"zeitz\"\nrole = \"desk\"\n\
             credentials = \"/data/aufruf/credentials\"\npeers = {peers}\n"
        );
        let (config, device) = OfficeConfig::from_device_file("aufruf.toml", &text)?;
        NodeSettings::of(&device, config.as_ref(), Path::new("aufruf.toml"))
    }

    #[test]
    fn static_peers_are_addresses_or_host_names_with_their_port() {
        let read = settings(r#"["10.1.2.10:7340", "kiosk-1.buergerbuero.example:7340"]"#).unwrap();
        assert_eq!(
            read.peers,
            vec![
                Address::Socket(SocketAddr::from(([10, 1, 2, 10], 7340))),
                Address::Name {
                    host: "kiosk-1.buergerbuero.example".into(),
                    port: 7340
                },
            ]
        );
        let error = settings(r#"["10.1.2.10:7340", "kiosk-1"]"#).unwrap_err();
        assert_eq!(error.field, "node.peers[1]", "{error}");
        assert!(error.problem.contains("has no port"), "{error}");
        let error = settings(r#"["kiosk 1:7340"]"#).unwrap_err();
        assert!(
            error
                .problem
                .contains("neither an IP address nor a host name"),
            "{error}"
        );
    }

    #[test]
    fn the_central_portal_needs_its_portal_table() {
        let file = |more: &str| {
            format!(
                "[node]\nid = \"portal\"\noffice = \"zeitz\"\nrole = \"portal\"\n\
                 credentials = \"/data/aufruf/credentials\"\n{more}"
            )
        };
        let read = |text: &str| {
            let (config, device) = OfficeConfig::from_device_file("aufruf.toml", text)?;
            NodeSettings::of(&device, config.as_ref(), Path::new("aufruf.toml"))
        };
        let error = read(&file("")).unwrap_err();
        assert_eq!(error.field, "node.portal", "{error}");
        let table = "[node.portal]\nlisten = \"127.0.0.1:8443\"\nstore = \"/data/portal\"\n\
                     outbox = \"/data/outbox\"\n";
        let read = read(&file(table)).unwrap();
        assert_eq!(read.role, Role::Portal);
        assert!(read.portal.is_some());
        assert!(!read.mdns, "a portal in a data centre announces nothing");
    }
}
