//! The kinds of office day the queue policy and the estimate are judged on, each over
//! many seeds (40 unless given): `cargo run --release -p aufruf-model --example
//! day_kinds [seeds]`. Figures in minutes; "late" counts booked citizens called later
//! after their start than the office promises.

use aufruf_model::OfficeConfig;
use aufruf_model::simulation::{DaysReport, SimulationParams, simulate_days};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let config = OfficeConfig::from_toml("aufruf.toml", include_str!("../../aufruf.toml"))?;
    let seeds: u64 = std::env::args().nth(1).map_or(Ok(40), |s| s.parse())?;
    let base = SimulationParams::default();
    let kinds = [
        (
            "600 visitors, 6 desks (the example)",
            SimulationParams { ..base.clone() },
        ),
        (
            "800 visitors, 6 desks (overloaded)",
            SimulationParams {
                visitors: 800,
                ..base.clone()
            },
        ),
        (
            "450 visitors, 4 desks, 10 % walk away",
            SimulationParams {
                visitors: 450,
                desks: 4,
                walk_away: 0.1,
                ..base.clone()
            },
        ),
        (
            "300 visitors, 3 desks",
            SimulationParams {
                visitors: 300,
                desks: 3,
                ..base.clone()
            },
        ),
        (
            "200 visitors, 4 desks, 60 % booked (light)",
            SimulationParams {
                visitors: 200,
                desks: 4,
                appointment_share: 0.6,
                ..base.clone()
            },
        ),
    ];
    println!("{} seeds each", seeds);
    for (name, params) in kinds {
        println!("{name}\n{}", DaysReport::HEADER);
        print!("{}", simulate_days(&config, &params, 1..=seeds)?);
    }
    Ok(())
}
