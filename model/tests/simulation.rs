//! The simulated office day: deterministic, nobody lost, booked citizens called on
//! time, walk-ins not starved, and the estimate beats the static formula.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use std::time::Duration;

use aufruf_model::OfficeConfig;
use aufruf_model::simulation::{SimulationError, SimulationParams, simulate, simulate_days};
use proptest::prelude::*;
use proptest::test_runner::RngSeed;

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
    for profile in [vec![], vec![0.0, 0.0], vec![1.0, -1.0], vec![f64::NAN]] {
        let bad = SimulationParams {
            arrival_profile: profile.clone(),
            ..Default::default()
        };
        assert_eq!(
            simulate(&config, &bad),
            Err(SimulationError::BadProfile),
            "{profile:?}"
        );
    }
    let spread = SimulationParams {
        handling_spread: 5.0,
        ..Default::default()
    };
    assert_eq!(simulate(&config, &spread), Err(SimulationError::BadSpread));
}

/// A Monday's queue at the door makes the morning's walk-ins wait longer than a day
/// whose walk-ins come evenly; without spread in handling times waits are shorter.
#[test]
fn the_arrival_profile_and_the_handling_spread_shape_the_day() {
    use aufruf_model::simulation::{FLAT_PROFILE, MONDAY_PROFILE};
    let config = example();
    let day = |arrival_profile: &[f64], handling_spread: f64| {
        let params = SimulationParams {
            visitors: 500,
            desks: 5,
            arrival_profile: arrival_profile.to_vec(),
            handling_spread,
            ..SimulationParams::default()
        };
        simulate_days(&config, &params, 1..=3).unwrap()
    };
    let monday = day(&MONDAY_PROFILE, 0.5);
    let flat = day(&FLAT_PROFILE, 0.5);
    assert!(
        monday.walk_in_wait.mean > flat.walk_in_wait.mean * 2,
        "monday {monday}flat {flat}"
    );
    let alike = day(&FLAT_PROFILE, 0.0);
    assert!(
        alike.walk_in_wait.p95 < flat.walk_in_wait.p95,
        "alike {alike}flat {flat}"
    );
}

/// A random office day within the office's capacity: 3 to 6 desks open, at most 80
/// visitors a day per desk (desks busy at most about three quarters of the day), a
/// tenth to three fifths of them booked, and bookings no more than the office gives
/// per slot (one per two desks serving the service).
fn day_within_capacity() -> impl Strategy<Value = SimulationParams> {
    (
        any::<u64>(),
        3..=6usize,
        40..=80u32,
        0.1..0.6f64,
        0.0..0.1f64,
    )
        .prop_map(
            |(seed, desks, per_desk, appointment_share, walk_away)| SimulationParams {
                seed,
                desks,
                visitors: per_desk * u32::try_from(desks).unwrap(),
                appointment_share,
                walk_away,
                ..SimulationParams::default()
            },
        )
}

proptest! {
    // A fixed seed: the days are random but the same on every run, so CI never
    // turns red by chance; change the seed to explore other days.
    #![proptest_config(ProptestConfig { cases: 24, rng_seed: RngSeed::Fixed(20261126), ..ProptestConfig::default() })]

    /// The office's promises on a day it can carry: booked citizens who came are
    /// called soon after their start (95 % within a few minutes; the rare late one
    /// waited for the few desks of a rare service, all busy with long visits), and
    /// walk-ins are not starved by the appointments.
    #[test]
    fn booked_citizens_are_called_on_time_and_walk_ins_are_not_starved(params in day_within_capacity()) {
        let config = example();
        let promise = config.queue.appointment_max_wait();
        let r = simulate(&config, &params).unwrap();
        prop_assert!(r.all_tickets_finished, "{r:?}");
        prop_assert!(r.appointment_wait.p95 <= Duration::from_secs(6 * 60), "p95 {:?}: {params:?}", r.appointment_wait.p95);
        prop_assert!(r.appointment_wait.max <= 2 * promise, "worst {:?}: {params:?}", r.appointment_wait.max);
        prop_assert!(r.walk_in_wait.max <= 2 * config.queue.walk_in_max_wait(), "walk-in worst {:?}: {params:?}", r.walk_in_wait.max);
    }
}

/// The days the issue on queue quality measured: with booked citizens first (and a
/// walk-in owed a call after three of them in a row), the worst wait of a booked
/// citizen after the start is minutes, not hours — on the overloaded day too.
#[test]
fn booked_citizens_keep_their_precedence_on_busy_days() {
    let config = example();
    let busy = [
        SimulationParams {
            visitors: 800,
            ..SimulationParams::default()
        },
        SimulationParams {
            visitors: 450,
            desks: 4,
            walk_away: 0.1,
            ..SimulationParams::default()
        },
    ];
    for params in busy {
        let r = simulate_days(&config, &params, 1..=4).unwrap();
        assert!(
            r.appointment_wait.max <= 2 * config.queue.appointment_max_wait(),
            "{params:?}: {r}"
        );
        assert!(
            r.appointment_wait.p95 <= Duration::from_secs(5 * 60),
            "{params:?}: {r}"
        );
        assert_eq!(r.days_unfinished, 0);
    }
}

/// Walk-ins who trust their estimate and run an errand must not miss their call: few
/// are called more than 5 minutes before it; and on a light day, when hardly anyone
/// waits, the estimate is no worse than the static formula.
#[test]
fn few_walk_ins_are_called_well_before_their_estimate_and_light_days_are_estimated_well() {
    let config = example();
    let small = SimulationParams {
        visitors: 300,
        desks: 3,
        ..SimulationParams::default()
    };
    let r = simulate_days(&config, &small, 1..=5).unwrap();
    assert!(r.early_calls <= 0.05, "{r}");
    assert!(r.estimate_error < r.static_error, "{r}");
    let light = SimulationParams {
        visitors: 200,
        desks: 4,
        appointment_share: 0.6,
        ..SimulationParams::default()
    };
    let r = simulate_days(&config, &light, 1..=10).unwrap();
    assert!(r.early_calls <= 0.05, "{r}");
    assert!(r.estimate_error <= r.static_error, "{r}");
}
