//! The simulated office day: deterministic, nobody lost, and the estimate beats the
//! static formula.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use aufruf_model::OfficeConfig;
use aufruf_model::simulation::{SimulationError, SimulationParams, simulate};

fn example() -> OfficeConfig {
    OfficeConfig::from_toml("aufruf.toml", include_str!("../../aufruf.toml")).unwrap()
}

#[test]
fn the_same_seed_gives_the_same_day() {
    let config = example();
    let params = SimulationParams::default();
    let first = simulate(&config, &params).unwrap();
    assert_eq!(first, simulate(&config, &params).unwrap());
    let other = simulate(&config, &SimulationParams { seed: 2, ..params }).unwrap();
    assert_ne!(first, other);
}

#[test]
fn every_visitor_who_came_is_served_or_a_no_show() {
    let config = example();
    for seed in 1..=5 {
        let r = simulate(
            &config,
            &SimulationParams {
                seed,
                ..Default::default()
            },
        )
        .unwrap();
        assert!(
            r.all_tickets_finished,
            "seed {seed}: a ticket was left open"
        );
        let came = r.walk_ins + r.appointments_checked_in;
        assert_eq!(r.served + r.no_shows, came, "seed {seed}: {r:?}");
        assert_eq!(r.walk_ins + r.appointments_booked, 600);
        assert!(r.utilisation > 0.3 && r.utilisation <= 1.0, "{r:?}");
    }
}

#[test]
fn the_forward_estimate_beats_the_static_formula_over_several_days() {
    let config = example();
    let (mut ours, mut statics) = (0.0, 0.0);
    for seed in 1..=5 {
        let r = simulate(
            &config,
            &SimulationParams {
                seed,
                ..Default::default()
            },
        )
        .unwrap();
        ours += r.estimate_error.as_secs_f64();
        statics += r.static_error.as_secs_f64();
    }
    assert!(ours < statics, "ours {ours:.0} s, static {statics:.0} s");
}

#[test]
fn impossible_days_are_refused() {
    let config = example();
    let too_many = SimulationParams {
        desks: 99,
        ..Default::default()
    };
    assert!(matches!(
        simulate(&config, &too_many),
        Err(SimulationError::NotEnoughDesks { wanted: 99, .. })
    ));
    let share = SimulationParams {
        appointment_share: 1.5,
        ..Default::default()
    };
    assert_eq!(simulate(&config, &share), Err(SimulationError::BadShare));
}
