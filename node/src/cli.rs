//! The command line. Errors are reported here, in one place, and turned into the exit
//! code.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, bail};
use aufruf_model::simulation::{self, SimulationParams};
use aufruf_model::statistics::DayStatistics;
use aufruf_model::{NodeId, OfficeConfig, OfficeId, Role};
use chrono::NaiveTime;
use clap::{Parser, Subcommand};

use crate::config_file;
use aufruf_sync::enroll::{self, NetworkToken};

use crate::credentials::{self, OfficeFolder};
use crate::{admin, demo, runtime};

#[derive(Debug, Parser)]
#[command(
    name = "aufruf",
    version,
    about = "Appointments and visitor calls for citizen offices"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run this device in the role its configuration gives (kiosk, desk, display).
    Run {
        /// The device's configuration: the office plus its `[node]` table.
        #[arg(long, default_value = "aufruf.toml")]
        config: PathBuf,
        /// State that this device is the office's only one: a new store (a replaced
        /// disk, or a store set aside as unreadable) then issues without first
        /// catching up from another device. Logged and recorded in the store. Never
        /// use it on an office with other devices: it could give out display numbers
        /// twice.
        #[arg(long)]
        only_device: bool,
        /// Open the role's screen (kiosk, desk, display), as `[node] screen = true`
        /// does.
        #[arg(long, conflicts_with = "headless")]
        screen: bool,
        /// No screen, whatever `[node] screen` says.
        #[arg(long)]
        headless: bool,
    },
    /// A whole office on this machine: kiosk, two desks and a display as separate
    /// nodes, with simulated visitors and clerks.
    Demo(DemoArgs),
    /// Back up what only the gateway's portal holds (accounts, bookings): an
    /// encrypted snapshot, taken while the portal runs, written to a file.
    Backup {
        /// Where the backup goes.
        #[arg(long)]
        out: PathBuf,
        /// The gateway's local API.
        #[arg(long, default_value = "127.0.0.1:7380")]
        api: std::net::SocketAddr,
    },
    /// Bring a portal backup back, before the gateway's first start on a new machine:
    /// into the `[node.portal]` store its file names (which must not exist yet), with
    /// that file's `backup_key`.
    Restore {
        /// The backup file.
        backup: PathBuf,
        /// The gateway's configuration file.
        #[arg(long)]
        config: PathBuf,
    },
    /// The office's certificate authority and enrollment tokens.
    #[command(subcommand)]
    Office(OfficeCommand),
    /// Enroll this device with the office.
    #[command(subcommand)]
    Node(NodeCommand),
    /// The admins of the gateway's admin pages (through the gateway's local API).
    #[command(subcommand)]
    Admin(AdminCommand),
    /// Run an office day through the model and print waits, utilisation and how well
    /// the waiting-time estimate did.
    Simulate(SimulateArgs),
    /// Work with the office configuration.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Signed updates of the appliance image.
    #[command(subcommand)]
    Update(UpdateCommand),
}

#[derive(Debug, Subcommand)]
enum UpdateCommand {
    /// Check an update's signature and parts; writes nothing.
    Check {
        /// The update bundle (`image/build.sh` writes `aufruf-<version>.update`).
        bundle: PathBuf,
        /// The update key's public half.
        #[arg(long, default_value = crate::update::KEY)]
        key: PathBuf,
    },
    /// Check an update, then write it into the slot this boot did not come from. It
    /// starts at the next boot with three tries; the slot running now stays as it is
    /// (as root, on the appliance).
    Apply {
        bundle: PathBuf,
        #[arg(long, default_value = crate::update::KEY)]
        key: PathBuf,
    },
    /// Check an update and publish it in a folder that `aufruf update serve` serves:
    /// devices that run an older version fetch it.
    Publish {
        bundle: PathBuf,
        /// The published folder.
        #[arg(long)]
        dir: PathBuf,
        #[arg(long, default_value = crate::update::KEY)]
        key: PathBuf,
    },
    /// Upload an update to a node that publishes updates to the office's devices
    /// (`[node.updates]`, e.g. the gateway); it checks the bundle against its key. The
    /// node's `api_token` from AUFRUF_API_TOKEN.
    Upload {
        bundle: PathBuf,
        /// The node's local API.
        #[arg(long, default_value = "127.0.0.1:7380")]
        api: std::net::SocketAddr,
    },
    /// Serve a published folder to the office's devices (plain HTTP; the updates are
    /// signed) until stopped.
    Serve {
        #[arg(long)]
        dir: PathBuf,
        /// Address and port to listen on, e.g. `0.0.0.0:7390`.
        #[arg(long)]
        listen: std::net::SocketAddr,
    },
    /// Ask the device's `[update] source` for a newer version and, if there is one,
    /// download, check and write it into the other slot (as root, on the appliance;
    /// the image's timer runs it).
    Fetch {
        /// The device's file, with its `[update]` table.
        #[arg(long, default_value = "/data/aufruf/aufruf.toml")]
        config: PathBuf,
        #[arg(long, default_value = crate::update::KEY)]
        key: PathBuf,
        /// Where the bundle is downloaded to; removed once written.
        #[arg(long, default_value = "/data/update")]
        download: PathBuf,
        /// Restart the device once a new version is written, so it boots it.
        #[arg(long)]
        reboot: bool,
    },
}

#[derive(Debug, clap::Args)]
struct SimulateArgs {
    /// Office configuration; the built-in example office when omitted.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Seed of the random day; the same seed gives the same day.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Days to run, seeds `seed`, `seed + 1`, …; more than one prints the pooled
    /// figures as one row per number of desks.
    #[arg(long, default_value_t = 1)]
    seeds: u64,
    /// Visitors who intend to come (walk-ins and booked appointments).
    #[arg(long, default_value_t = 600)]
    visitors: u32,
    /// Open desks (the first ones of the configuration): `6`, or a range like `3..8`
    /// for a staffing forecast, one row per number of desks. 6 unless given; when
    /// replaying, as many as served that day.
    #[arg(long, value_parser = parse_desks)]
    desks: Option<std::ops::RangeInclusive<usize>>,
    /// Replay real days: a JSON file of day statistics (the admin statistics page's
    /// JSON download). Each day runs as it went — who came, for which services, how
    /// long they took, walk-ins hour by hour, the desks that served — and its real
    /// figures are printed above the simulated ones. `--visitors`, `--appointments`,
    /// `--walk-aways`, `--hours` and `--profile` then come from the day.
    #[arg(long)]
    replay: Option<PathBuf>,
    /// Share of visitors with a booked appointment.
    #[arg(long, default_value_t = 0.3)]
    appointments: f64,
    /// Appointments of one service per 5-minute slot; one per two desks serving it
    /// when omitted.
    #[arg(long)]
    appointments_per_slot: Option<u32>,
    /// Share of booked citizens who never come.
    #[arg(long, default_value_t = 0.1)]
    appointment_no_shows: f64,
    /// Share of walk-ins who leave before they are called.
    #[arg(long, default_value_t = 0.03)]
    walk_aways: f64,
    /// Opening hours of the simulated day.
    #[arg(long, default_value = "08:00-18:00")]
    hours: String,
    /// How walk-ins arrive over the day: `rush` (a rush after opening, a lull at
    /// lunch), `monday` (a long queue at the door, quiet afternoon), `flat`, or
    /// relative rates over equal parts of the day, e.g. `3,2,1,1,1`.
    #[arg(long, default_value = "rush", value_parser = parse_profile)]
    profile: Profile,
    /// Spread of handling times (sigma of a log-normal): 0 all alike, 0.5 some
    /// visitors take three times as long as others.
    #[arg(long, default_value_t = 0.5)]
    handling_spread: f64,
}

#[derive(Debug, clap::Args)]
struct DemoArgs {
    /// Folder for the nodes' stores, certificates and printed tickets.
    #[arg(long, default_value = "demo-out")]
    dir: PathBuf,
    /// Only the nodes, no simulated visitors and clerks.
    #[arg(long)]
    no_simulator: bool,
    /// How much faster than real life the simulated people act.
    #[arg(long, default_value_t = 30.0)]
    speed: f64,
    /// Stop after this long, e.g. `30s` or `5m`; runs until Ctrl-C otherwise.
    #[arg(long = "for", value_parser = parse_duration)]
    duration: Option<std::time::Duration>,
    /// Seed of the simulated visitors.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Open the screens of the kiosk, the desks and the display (the default when an
    /// X display is there, `DISPLAY` set).
    #[arg(long, conflicts_with = "headless")]
    screens: bool,
    /// No windows, even with a display.
    #[arg(long)]
    headless: bool,
}

#[derive(Debug, Subcommand)]
enum OfficeCommand {
    /// Create the office CA in a folder (keep it safe: it can admit devices).
    Init {
        /// The folder for the CA and the enrollment book.
        #[arg(long)]
        dir: PathBuf,
        /// The office id, as in `[office] id` of aufruf.toml.
        #[arg(long)]
        office: OfficeId,
    },
    /// Hand out a one-time enrollment token for a device.
    Token {
        #[arg(long)]
        dir: PathBuf,
        /// The device's node id, e.g. desk-3.
        #[arg(long)]
        node: NodeId,
        /// What the device does.
        #[arg(long, value_enum)]
        role: Role,
        /// Hours the token stays valid.
        #[arg(long, default_value_t = 24)]
        hours: u64,
    },
    /// Revoke a device (a stolen or retired one): its sessions end within seconds on
    /// every device, and of its writing only what the office's documents hold now
    /// counts. Signed with the office CA's key here, handed to a running node.
    Revoke {
        /// The office folder with the CA key (`aufruf office init`).
        #[arg(long)]
        dir: PathBuf,
        /// The device to revoke, e.g. display-1.
        #[arg(long)]
        node: NodeId,
        /// A running node's local API.
        #[arg(long, default_value = "127.0.0.1:7380")]
        api: std::net::SocketAddr,
    },
    /// Let the gateway's admin pages publish the office's configuration: a word
    /// signed with the office CA's key here, for one gateway. Name the file as
    /// `admin_delegation` in that gateway's `[node.portal]`. It holds until the
    /// gateway is revoked.
    Delegate {
        /// The office folder with the CA key (`aufruf office init`).
        #[arg(long)]
        dir: PathBuf,
        /// The gateway, e.g. gateway-1.
        #[arg(long)]
        node: NodeId,
        /// Where the delegation goes.
        #[arg(long)]
        out: PathBuf,
    },
    /// Serve enrollments over the network while it runs (Ctrl-C ends it): devices
    /// send their signing request and token; the CA key stays in this folder.
    ServeEnrollment {
        #[arg(long)]
        dir: PathBuf,
        /// Where devices reach it.
        #[arg(long, default_value = "0.0.0.0:7341")]
        listen: std::net::SocketAddr,
    },
}

#[derive(Debug, Subcommand)]
enum AdminCommand {
    /// Invite an admin: prints the link to the page where they set their password
    /// and second factor (valid 72 hours). Inviting an admin again lets them set new
    /// ones (a lost phone).
    Invite {
        email: String,
        /// The gateway's local API.
        #[arg(long, default_value = "127.0.0.1:7380")]
        api: std::net::SocketAddr,
    },
    /// Remove an admin: their sessions end at once.
    Remove {
        email: String,
        #[arg(long, default_value = "127.0.0.1:7380")]
        api: std::net::SocketAddr,
    },
    /// List the admins.
    List {
        #[arg(long, default_value = "127.0.0.1:7380")]
        api: std::net::SocketAddr,
    },
}

#[derive(Debug, Subcommand)]
enum NodeCommand {
    /// Redeem an enrollment token: writes the device's certificate and key. Over the
    /// network (`--office`: the key is made here and never leaves the device) or
    /// from the office folder on this machine (`--office-dir`).
    Enroll {
        /// The office's enrollment service (`aufruf office serve-enrollment`).
        #[arg(
            long,
            conflicts_with = "office_dir",
            required_unless_present = "office_dir"
        )]
        office: Option<std::net::SocketAddr>,
        /// The office folder made by `aufruf office init`.
        #[arg(long)]
        office_dir: Option<PathBuf>,
        /// The token from `aufruf office token`.
        #[arg(long)]
        token: String,
        /// Where to write ca.crt, node.crt and node.key.
        #[arg(long)]
        out: PathBuf,
    },
    /// An appliance's start (the image's service runs it before the node): check the
    /// set-up file, enroll with its `[enroll]` token if this device has no
    /// credentials yet, remove the token from the file, and install the file for
    /// `aufruf run`.
    Setup {
        /// The set-up file city IT edited (on the image's FAT partition).
        #[arg(long, default_value = "/efi/aufruf.toml")]
        file: PathBuf,
        /// Where the node's copy goes.
        #[arg(long, default_value = "/data/aufruf/aufruf.toml")]
        install: PathBuf,
        /// How long to keep trying to reach the office's enrollment service, e.g.
        /// `10m`.
        #[arg(long, default_value = "10m", value_parser = parse_duration)]
        wait: std::time::Duration,
    },
}

#[derive(Debug, Subcommand)]
enum ConfigCommand {
    /// Check a configuration file and say what is wrong with it.
    Check {
        /// The file to check.
        #[arg(default_value = "aufruf.toml")]
        file: PathBuf,
    },
    /// Publish the office's configuration to every device: validated, signed with the
    /// office CA's key, handed to a running node, picked up live by all.
    Apply {
        /// The office's configuration (no `[node]` or `[printer]` tables).
        file: PathBuf,
        /// The office folder with the CA key (`aufruf office init`).
        #[arg(long = "office")]
        office_dir: PathBuf,
        /// A running node's local API.
        #[arg(long, default_value = "127.0.0.1:7380")]
        api: std::net::SocketAddr,
    },
}

/// Runs the command line and reports any error on stderr.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("aufruf: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Run {
            config,
            only_device,
            screen,
            headless,
        } => {
            init_logging("info");
            let (office, mut settings) = runtime::load(&config)?;
            settings.only_device = only_device;
            settings.screen = (settings.screen || screen) && !headless;
            if settings.screen {
                return crate::screen::run_with_screen(runtime_builder()?, office, settings);
            }
            runtime_builder()?.block_on(async move {
                // A device without the office's configuration waits for a peer to bring
                // it; Ctrl-C ends the wait.
                let node = tokio::select! {
                    node = runtime::start(office, settings) => node?,
                    () = stopped() => return Ok(()),
                };
                println!(
                    "aufruf: {} running; local API on http://{}",
                    node.state.settings.id, node.api_addr
                );
                crate::systemd::ready_and_watched();
                stopped().await;
                crate::systemd::notify("STOPPING=1");
                node.shutdown().await;
                Ok(())
            })
        }
        Command::Demo(args) => {
            init_logging("warn");
            let options = demo::DemoOptions {
                dir: args.dir,
                simulate: !args.no_simulator,
                speed: args.speed,
                duration: args.duration,
                seed: args.seed,
            };
            if !(options.speed > 0.0 && options.speed <= 10_000.0) {
                bail!("--speed must be above 0 and at most 10000");
            }
            let display = std::env::var_os("DISPLAY").is_some_and(|d| !d.is_empty());
            if args.screens || (display && !args.headless) {
                return crate::screen::demo_with_screens(runtime_builder()?, options);
            }
            runtime_builder()?.block_on(async move {
                let (stop, stop_rx) = tokio::sync::watch::channel(false);
                tokio::spawn(async move {
                    stopped().await;
                    let _ = stop.send(true);
                });
                demo::run(options, stop_rx, drop).await.map(|_| ())
            })
        }
        Command::Office(OfficeCommand::Init { dir, office }) => {
            OfficeFolder::init(&dir, &office)?;
            println!(
                "{}: office CA for \"{office}\" created; keep this folder safe",
                dir.display()
            );
            Ok(())
        }
        Command::Office(OfficeCommand::Token {
            dir,
            node,
            role,
            hours,
        }) => {
            let folder = OfficeFolder::open(&dir)?;
            let token =
                folder.issue_token(&node, role, std::time::Duration::from_secs(hours * 3600))?;
            println!("{}", NetworkToken::text(&token, &folder.ca)?);
            Ok(())
        }
        Command::Backup { out, api } => {
            let size = admin::backup(api, &out)?;
            println!(
                "{}: backup of the portal written ({size} bytes, encrypted)",
                out.display()
            );
            Ok(())
        }
        Command::Restore { backup, config } => {
            let (entries, store) = admin::restore(&config, &backup)?;
            println!(
                "{}: {entries} entries restored into {}; start the gateway now",
                backup.display(),
                store.display()
            );
            Ok(())
        }
        Command::Office(OfficeCommand::Delegate { dir, node, out }) => {
            admin::delegate(&node, &dir, &out)?;
            println!(
                "{}: {node} may now publish the office's configuration; name this file as admin_delegation in its [node.portal]",
                out.display()
            );
            Ok(())
        }
        Command::Admin(AdminCommand::Invite { email, api }) => {
            let link = admin::invite_admin(api, &email)?;
            println!(
                "{email}: invited; hand over this link (valid 72 hours), where they set a password and their authenticator app:\n{link}"
            );
            Ok(())
        }
        Command::Admin(AdminCommand::Remove { email, api }) => {
            if admin::remove_admin(api, &email)? {
                println!("{email}: removed; their sessions have ended");
            } else {
                println!("{email}: no such admin");
            }
            Ok(())
        }
        Command::Admin(AdminCommand::List { api }) => {
            for email in admin::admins(api)? {
                println!("{email}");
            }
            Ok(())
        }
        Command::Office(OfficeCommand::Revoke { dir, node, api }) => {
            admin::revoke(&node, &dir, api, std::time::SystemTime::now())?;
            println!(
                "{node}: revoked; its sessions end, and of its writing only what the office held now counts, on every device as the revocation reaches it"
            );
            Ok(())
        }
        Command::Office(OfficeCommand::ServeEnrollment { dir, listen }) => {
            init_logging("info");
            let folder = std::sync::Arc::new(OfficeFolder::open(&dir)?);
            runtime_builder()?.block_on(async move {
                let listener = tokio::net::TcpListener::bind(listen)
                    .await
                    .with_context(|| format!("listen on {listen}"))?;
                println!(
                    "aufruf: enrollment for office \"{}\" on {}",
                    folder.ca.office,
                    listener.local_addr()?
                );
                let redeem = {
                    let folder = folder.clone();
                    std::sync::Arc::new(
                        move |token: &aufruf_sync::trust::EnrollmentToken, request: &str| {
                            folder
                                .redeem_request(token, request)
                                .map_err(|e| e.to_string())
                        },
                    )
                };
                let (stop, stopping) = tokio::sync::watch::channel(false);
                tokio::spawn(async move {
                    stopped().await;
                    let _ = stop.send(true);
                });
                let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
                enroll::serve(listener, &folder.ca, provider, redeem, stopping).await?;
                Ok(())
            })
        }
        Command::Node(NodeCommand::Enroll {
            office,
            office_dir,
            token,
            out,
        }) => {
            let (issued, role) = match (office, office_dir) {
                (Some(address), _) => {
                    let token = NetworkToken::parse(&token)?;
                    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
                    runtime_builder()?
                        .block_on(async { enroll::enroll(address, &token, provider).await })?
                }
                (None, Some(dir)) => {
                    let folder = OfficeFolder::open(&dir)?;
                    // The fingerprint after the dot is for devices enrolling over the
                    // network; here the folder is the office.
                    let secret = token.trim().split('.').next().unwrap_or_default();
                    folder.enroll(&aufruf_sync::trust::EnrollmentToken(secret.to_owned()))?
                }
                (None, None) => {
                    bail!("name the office: --office <address> or --office-dir <folder>")
                }
            };
            credentials::save_node(&out, &issued)?;
            println!(
                "{}: credentials for {} ({role:?}) written",
                out.display(),
                issued.node
            );
            Ok(())
        }
        Command::Node(NodeCommand::Setup {
            file,
            install,
            wait,
        }) => {
            init_logging("info");
            let outcome = runtime_builder()?.block_on(crate::setup::run(&file, &install, wait))?;
            let done = match outcome {
                crate::setup::Outcome::Enrolled => "enrolled with the office",
                crate::setup::Outcome::AlreadyEnrolled => "already enrolled",
            };
            println!(
                "{}: {done}; installed as {}",
                file.display(),
                install.display()
            );
            Ok(())
        }
        Command::Update(UpdateCommand::Check { bundle, key }) => {
            let checked = crate::update::check(&bundle, &crate::update::read_public_key(&key)?)?;
            println!(
                "{}: version {}, signature and parts good",
                bundle.display(),
                checked.manifest().version
            );
            Ok(())
        }
        Command::Update(UpdateCommand::Apply { bundle, key }) => {
            let checked = crate::update::check(&bundle, &crate::update::read_public_key(&key)?)?;
            let applied = crate::update::apply(&checked, &crate::update::Targets::default())?;
            println!(
                "{}: version {} written to slot {} ({}); it starts at the next boot",
                bundle.display(),
                applied.version,
                applied.slot,
                applied.entry.display()
            );
            Ok(())
        }
        Command::Update(UpdateCommand::Publish { bundle, dir, key }) => {
            let version = crate::update::source::publish(
                &bundle,
                &dir,
                &crate::update::read_public_key(&key)?,
            )?;
            println!(
                "{}: version {version} published in {}",
                bundle.display(),
                dir.display()
            );
            Ok(())
        }
        Command::Update(UpdateCommand::Upload { bundle, api }) => {
            let version = admin::upload_update(api, &bundle)?;
            println!(
                "{}: version {version} published by the node at {api}",
                bundle.display()
            );
            Ok(())
        }
        Command::Update(UpdateCommand::Serve { dir, listen }) => {
            init_logging("info");
            runtime_builder()?.block_on(async {
                let listener = tokio::net::TcpListener::bind(listen)
                    .await
                    .with_context(|| format!("listening on {listen}"))?;
                println!(
                    "aufruf: serving the updates in {} on {}",
                    dir.display(),
                    listener.local_addr()?
                );
                let (stop, stopping) = tokio::sync::watch::channel(false);
                tokio::spawn(async move {
                    stopped().await;
                    let _ = stop.send(true);
                });
                let limits = crate::server::ApiLimits {
                    connections: 64,
                    ..crate::server::ApiLimits::default()
                };
                crate::server::serve(
                    listener,
                    crate::update::source::router(dir),
                    limits,
                    stopping,
                )
                .await;
                Ok(())
            })
        }
        Command::Update(UpdateCommand::Fetch {
            config,
            key,
            download,
            reboot,
        }) => {
            init_logging("info");
            fetch_update(&config, &key, download, reboot)
        }
        Command::Simulate(args) => simulate(args),
        Command::Config(ConfigCommand::Apply {
            file,
            office_dir,
            api,
        }) => {
            let revision = admin::apply(&file, &office_dir, api)?;
            println!(
                "{}: published as revision {revision}; every device takes it as it reaches them",
                file.display()
            );
            Ok(())
        }
        Command::Config(ConfigCommand::Check { file }) => {
            let config = config_file::load(&file)?;
            println!(
                "{}: ok — office \"{}\", {} departments, {} services, {} desks, {} number blocks",
                file.display(),
                config.office.name,
                config.departments.len(),
                config.services.len(),
                config.desks.len(),
                config.number_blocks.len()
            );
            Ok(())
        }
    }
}

fn simulate(args: SimulateArgs) -> anyhow::Result<()> {
    let config = config_file::load_or_example(args.config.as_deref())?;
    if let Some(file) = &args.replay {
        return replay(&config, &args, file);
    }
    let desks = args.desks.clone().unwrap_or(6..=6);
    let (opens, closes) = parse_hours(&args.hours)?;
    let kiosk = simulated_kiosk(&config)?;
    let params = SimulationParams {
        seed: args.seed,
        visitors: args.visitors,
        desks: *desks.start(),
        appointment_share: args.appointments,
        appointments_per_slot: args.appointments_per_slot,
        arrival_profile: args.profile.0.clone(),
        handling_spread: args.handling_spread,
        appointment_no_show: args.appointment_no_shows,
        walk_away: args.walk_aways,
        opens_minute: opens,
        closes_minute: closes,
        kiosk,
        demand: Vec::new(),
    };
    let started = Instant::now();
    if args.seeds > 1 || desks.start() != desks.end() {
        let seeds = args.seed..args.seed.saturating_add(args.seeds.max(1));
        println!(
            "{} visitors a day, {:.0} % booked; pooled over seeds {}..={}; minutes",
            args.visitors,
            args.appointments * 100.0,
            seeds.start,
            seeds.end - 1
        );
        println!("{}", simulation::DaysReport::HEADER);
        for desks in desks {
            let params = SimulationParams {
                desks,
                ..params.clone()
            };
            print!(
                "{}",
                simulation::simulate_days(&config, &params, seeds.clone())?
            );
        }
        println!("simulation took {} ms", started.elapsed().as_millis());
        return Ok(());
    }
    let report = simulation::simulate(&config, &params)?;
    let took = started.elapsed();
    print!("{report}");
    println!(
        "  {:<44} {:>12}",
        "simulation took",
        format!("{} ms", took.as_millis())
    );
    Ok(())
}

/// The node whose number block the simulated kiosk issues from.
fn simulated_kiosk(config: &OfficeConfig) -> anyhow::Result<NodeId> {
    config
        .number_blocks
        .first()
        .map(|b| b.node.clone())
        .context("the configuration has no number block for a kiosk")
}

/// The largest statistics file `simulate --replay` reads: a year of days is far
/// below it.
const MAX_REPLAY_BYTES: u64 = 32 * 1024 * 1024;

/// The most days one replay runs.
const MAX_REPLAY_DAYS: usize = 400;

/// Reads day statistics to replay: one day, or a list of days, as JSON.
fn replay_days(file: &std::path::Path) -> anyhow::Result<Vec<DayStatistics>> {
    let size = std::fs::metadata(file)
        .with_context(|| format!("cannot read {}", file.display()))?
        .len();
    anyhow::ensure!(
        size <= MAX_REPLAY_BYTES,
        "{} is {size} bytes; day statistics to replay are at most {MAX_REPLAY_BYTES}",
        file.display()
    );
    let text =
        std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
    let not_statistics = || {
        format!(
            "{} is not day statistics as JSON (the admin statistics page's JSON download)",
            file.display()
        )
    };
    // A list of days, or one day (an untagged enum would not read the hours' keys).
    let days = if text.trim_start().starts_with('[') {
        serde_json::from_str(&text).with_context(not_statistics)?
    } else {
        vec![serde_json::from_str(&text).with_context(not_statistics)?]
    };
    anyhow::ensure!(!days.is_empty(), "{} holds no day", file.display());
    anyhow::ensure!(
        days.len() <= MAX_REPLAY_DAYS,
        "{} holds {} days; replay at most {MAX_REPLAY_DAYS} at once",
        file.display(),
        days.len()
    );
    Ok(days)
}

/// `aufruf simulate --replay`: each real day, as it went, then as simulated.
fn replay(
    config: &OfficeConfig,
    args: &SimulateArgs,
    file: &std::path::Path,
) -> anyhow::Result<()> {
    let days = replay_days(file)?;
    let kiosk = simulated_kiosk(config)?;
    let base = SimulationParams {
        seed: args.seed,
        appointment_no_show: args.appointment_no_shows,
        appointments_per_slot: args.appointments_per_slot,
        handling_spread: args.handling_spread,
        kiosk,
        ..SimulationParams::default()
    };
    for day in &days {
        let all: Vec<_> = day.services.values().collect();
        let came: u32 = all.iter().map(|s| s.visitors()).sum();
        let booked: u32 = all.iter().map(|s| s.appointments).sum();
        let called: u32 = all.iter().map(|s| s.called).sum();
        let waited: u64 = all.iter().map(|s| s.total_wait_secs).sum();
        let served: u32 = all.iter().map(|s| s.served).sum();
        let handled: u64 = all.iter().map(|s| s.total_handling_secs).sum();
        let minutes = |secs: u64, n: u32| {
            (n > 0).then(|| format!("{:.1} min", secs as f64 / 60.0 / f64::from(n)))
        };
        println!(
            "{}: {came} came ({:.0} % booked), {} desks served; real mean wait {}, handling {}",
            day.date,
            f64::from(booked) * 100.0 / f64::from(came.max(1)),
            day.desks.values().filter(|d| d.served > 0).count(),
            minutes(waited, called).as_deref().unwrap_or("–"),
            minutes(handled, served).as_deref().unwrap_or("–"),
        );
        let forecast = args.desks.clone().filter(|d| d.start() != d.end());
        let replayed = |desks: Option<usize>| {
            SimulationParams::replaying(day, config, &base, desks)
                .with_context(|| format!("{} cannot be replayed", day.date))
        };
        let first = replayed(args.desks.as_ref().map(|d| *d.start()))?;
        if !first.left_out.is_empty() {
            let names: Vec<String> = first
                .left_out
                .iter()
                .map(|(service, n)| format!("{service} ({n})"))
                .collect();
            println!("  left out, no open desk serves them: {}", names.join(", "));
        }
        if args.seeds > 1 || forecast.is_some() {
            let seeds = args.seed..args.seed.saturating_add(args.seeds.max(1));
            println!("{}", simulation::DaysReport::HEADER);
            let desks: Vec<usize> = match forecast {
                Some(range) => range.collect(),
                None => vec![first.params.desks],
            };
            for n in desks {
                let params = replayed(Some(n))?.params;
                print!(
                    "{}",
                    simulation::simulate_days(config, &params, seeds.clone())?
                );
            }
        } else {
            print!("{}", simulation::simulate(config, &first.params)?);
        }
    }
    Ok(())
}

/// Relative arrival rates over equal parts of the day.
#[derive(Debug, Clone)]
struct Profile(Vec<f64>);

/// An arrival profile by name or as comma-separated relative rates.
fn parse_profile(text: &str) -> Result<Profile, String> {
    let rates = match text.trim() {
        "rush" => return Ok(Profile(simulation::RUSH_PROFILE.to_vec())),
        "monday" => return Ok(Profile(simulation::MONDAY_PROFILE.to_vec())),
        "flat" => return Ok(Profile(simulation::FLAT_PROFILE.to_vec())),
        rates => rates
            .split(',')
            .map(|r| {
                r.trim()
                    .parse::<f64>()
                    .ok()
                    .filter(|r| r.is_finite() && *r >= 0.0)
                    .ok_or_else(|| {
                        format!(
                            "`{text}`: give rush, monday, flat or rates like 3,2,1,1 (each a number, 0 or more)"
                        )
                    })
            })
            .collect::<Result<Vec<f64>, String>>()?,
    };
    Ok(Profile(rates))
}

/// `6` or `3..8` (both ends included) as a range of open desks.
fn parse_desks(text: &str) -> Result<std::ops::RangeInclusive<usize>, String> {
    let number = |t: &str| {
        t.trim()
            .parse::<usize>()
            .map_err(|_| format!("`{t}` is not a number of desks"))
    };
    let (low, high) = match text.split_once("..") {
        Some((a, b)) => (number(a)?, number(b.trim_start_matches('='))?),
        None => (number(text)?, number(text)?),
    };
    if low == 0 || low > high {
        return Err(format!(
            "`{text}`: give a number of desks like 6, or a range like 3..8"
        ));
    }
    Ok(low..=high)
}

/// `"08:00-18:00"` as minutes after midnight.
fn parse_hours(text: &str) -> anyhow::Result<(u32, u32)> {
    let minutes = |t: &str| -> anyhow::Result<u32> {
        let time = NaiveTime::parse_from_str(t.trim(), "%H:%M")
            .with_context(|| format!("--hours: `{t}` is not a time like 08:00"))?;
        use chrono::Timelike;
        Ok(time.hour() * 60 + time.minute())
    };
    let Some((a, b)) = text.split_once('-') else {
        bail!("--hours: `{text}` is not like 08:00-18:00");
    };
    let (opens, closes) = (minutes(a)?, minutes(b)?);
    if closes <= opens + 60 {
        bail!("--hours: `{text}` must be at least an hour long");
    }
    Ok((opens, closes))
}

/// `30s`, `5m`, `2h` or plain seconds.
fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    let text = text.trim();
    let (number, unit) = text
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .map_or((text, "s"), |i| (&text[..i], &text[i..]));
    let value: f64 = number
        .parse()
        .map_err(|_| format!("`{text}` is not a duration like 30s, 5m or 1h"))?;
    let seconds = match unit {
        "s" => value,
        "m" => value * 60.0,
        "h" => value * 3600.0,
        _ => return Err(format!("`{text}`: the unit must be s, m or h")),
    };
    std::time::Duration::try_from_secs_f64(seconds).map_err(|e| format!("`{text}`: {e}"))
}

/// `aufruf update fetch`: what it found is said in one line on standard output (the
/// journal, on the appliance).
fn fetch_update(
    config: &std::path::Path,
    key: &std::path::Path,
    download: PathBuf,
    reboot: bool,
) -> anyhow::Result<()> {
    use crate::update::source::{self, Fetched};
    let Some(table) = crate::setup::installed_update_table(config)? else {
        println!("{}: no [update] source; nothing to fetch", config.display());
        return Ok(());
    };
    let os_release = "/etc/os-release";
    let booted = std::fs::read_to_string(os_release)
        .ok()
        .as_deref()
        .and_then(source::booted_version)
        .with_context(|| {
            format!("{os_release} names no IMAGE_VERSION: this is not an Aufruf appliance")
        })?;
    let device = source::Device {
        booted,
        key: crate::update::read_public_key(key)?,
        targets: crate::update::Targets::default(),
        download,
    };
    let fetched = runtime_builder()?.block_on(source::fetch(
        &table.source,
        &device,
        &source::Limits::default(),
    ))?;
    let start = match &fetched {
        Fetched::NothingPublished => {
            println!("update: {} has published nothing", table.source);
            false
        }
        Fetched::UpToDate { booted, latest } => {
            println!(
                "update: running {booted}; {} offers {latest}: up to date",
                table.source
            );
            false
        }
        Fetched::NotBlessed { booted } => {
            println!("update: {booted} has not yet booted healthy; no update is written before");
            false
        }
        Fetched::FailedBefore { version } => {
            println!(
                "update: {version} failed to boot on this device before; waiting for a newer version"
            );
            false
        }
        Fetched::Written { version } => {
            println!("update: {version} is written and starts at the next boot");
            true
        }
        Fetched::Applied(applied) => {
            println!(
                "update: running {}; {} written to slot {}; it starts at the next boot, with {} tries",
                device.booted,
                applied.version,
                applied.slot,
                crate::update::TRIES
            );
            true
        }
    };
    if start && reboot {
        println!("update: restarting the device");
        let status = std::process::Command::new("systemctl")
            .arg("reboot")
            .status()
            .context("systemctl reboot")?;
        if !status.success() {
            bail!("systemctl reboot: {status}");
        }
    }
    Ok(())
}

pub(crate) fn runtime_builder() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}

fn init_logging(default: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

/// Resolves on Ctrl-C or SIGTERM (Ctrl-C or closing the console on Windows).
pub(crate) async fn stopped() {
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = terminate => {}
    }
}
