//! The command line. Errors are reported here, in one place, and turned into the exit
//! code.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, bail};
use aufruf_model::simulation::{self, SimulationParams};
use chrono::NaiveTime;
use clap::{Parser, Subcommand};

use crate::config_file;

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
    /// Run an office day through the model and print waits, utilisation and how well
    /// the waiting-time estimate did.
    Simulate(SimulateArgs),
    /// Work with the office configuration.
    #[command(subcommand)]
    Config(ConfigCommand),
}

#[derive(Debug, clap::Args)]
struct SimulateArgs {
    /// Office configuration; the built-in example office when omitted.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Seed of the random day; the same seed gives the same day.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Visitors who intend to come (walk-ins and booked appointments).
    #[arg(long, default_value_t = 600)]
    visitors: u32,
    /// Open desks (the first ones of the configuration).
    #[arg(long, default_value_t = 6)]
    desks: usize,
    /// Share of visitors with a booked appointment.
    #[arg(long, default_value_t = 0.3)]
    appointments: f64,
    /// Share of booked citizens who never come.
    #[arg(long, default_value_t = 0.1)]
    appointment_no_shows: f64,
    /// Share of walk-ins who leave before they are called.
    #[arg(long, default_value_t = 0.03)]
    walk_aways: f64,
    /// Opening hours of the simulated day.
    #[arg(long, default_value = "08:00-18:00")]
    hours: String,
}

#[derive(Debug, Subcommand)]
enum ConfigCommand {
    /// Check a configuration file and say what is wrong with it.
    Check {
        /// The file to check.
        #[arg(default_value = "aufruf.toml")]
        file: PathBuf,
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
        Command::Simulate(args) => simulate(args),
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
    let (opens, closes) = parse_hours(&args.hours)?;
    let kiosk = config
        .number_blocks
        .first()
        .map(|b| b.node.clone())
        .context("the configuration has no number block for a kiosk")?;
    let params = SimulationParams {
        seed: args.seed,
        visitors: args.visitors,
        desks: args.desks,
        appointment_share: args.appointments,
        appointment_no_show: args.appointment_no_shows,
        walk_away: args.walk_aways,
        opens_minute: opens,
        closes_minute: closes,
        kiosk,
    };
    let started = Instant::now();
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
