//! How long one simulated office day takes (600 visitors, 6 desks), over a few seeds:
//! `cargo run --release -p aufruf-model --example simulate_day`.

use std::time::Instant;

use aufruf_model::OfficeConfig;
use aufruf_model::simulation::{SimulationParams, simulate};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let config = OfficeConfig::from_toml("aufruf.toml", include_str!("../../aufruf.toml"))?;
    println!(
        "{:>6} {:>10} {:>14} {:>14}",
        "seed", "time", "error Aufruf", "error static"
    );
    for seed in 1..=5 {
        let params = SimulationParams {
            seed,
            ..SimulationParams::default()
        };
        let started = Instant::now();
        let report = simulate(&config, &params)?;
        let took = started.elapsed();
        println!(
            "{seed:>6} {:>7.1} ms {:>10.1} min {:>10.1} min",
            took.as_secs_f64() * 1000.0,
            report.estimate_error.as_secs_f64() / 60.0,
            report.static_error.as_secs_f64() / 60.0
        );
    }
    Ok(())
}
