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

/// A real day's statistics replayed: the simulated day has its visitors, its
/// services' shares and handling times, and its walk-ins arrive hour by hour as they
/// did. Here the "real" day is itself simulated (a Monday), counted as the office
/// counts a day, and replayed with another seed.
#[test]
fn a_days_statistics_replay_as_a_simulated_day_like_it() {
    use aufruf_model::simulation::simulate_keeping_day;
    use aufruf_model::statistics::DayStatistics;
    let config = example();
    let date = chrono::NaiveDate::from_ymd_opt(2026, 3, 9).unwrap();
    // The simulation's clock is UTC: its hours are the office's here.
    let count = |day| DayStatistics::of(date, day, chrono_tz::UTC);
    let monday = SimulationParams {
        visitors: 500,
        desks: 5,
        arrival_profile: aufruf_model::simulation::MONDAY_PROFILE.to_vec(),
        ..SimulationParams::default()
    };
    let (_, real) = simulate_keeping_day(&config, &monday).unwrap();
    let real = count(&real);

    let replay =
        SimulationParams::replaying(&real, &config, &SimulationParams::default(), None).unwrap();
    assert!(replay.left_out.is_empty(), "{:?}", replay.left_out);
    let p = &replay.params;
    // Everyone who came (booked citizens who never came are not in a day's count).
    let came: u32 = real.services.values().map(|s| s.visitors()).sum();
    assert_eq!(p.visitors, came);
    assert_eq!(p.desks, 5, "the desks that served");
    assert_eq!(p.opens_minute, 8 * 60);
    assert_eq!(p.demand.len(), real.services.len());
    for d in &p.demand {
        let s = &real.services[&d.service];
        assert_eq!(d.share, f64::from(s.visitors()));
        let mean = s.mean_handling().unwrap().as_secs_f64() / 60.0;
        assert!((d.mean_minutes - mean).abs() < 1e-9);
    }

    let (report, again) = simulate_keeping_day(
        &config,
        &SimulationParams {
            seed: 7,
            ..p.clone()
        },
    )
    .unwrap();
    assert!(report.all_tickets_finished, "{report}");
    let again = count(&again);
    let walk_ins_by_hour = |day: &DayStatistics| {
        let mut hours = std::collections::BTreeMap::<u8, u32>::new();
        for s in day.services.values() {
            for (hour, h) in &s.hours {
                *hours.entry(*hour).or_default() += h.walk_ins;
            }
        }
        hours
    };
    let (before, after) = (walk_ins_by_hour(&real), walk_ins_by_hour(&again));
    // The Monday's rush: most came in the first hours, and so they do again.
    let first_two = |h: &std::collections::BTreeMap<u8, u32>| {
        f64::from(h.range(..10).map(|(_, n)| n).sum::<u32>()) / f64::from(h.values().sum::<u32>())
    };
    assert!(first_two(&before) > 0.3, "{before:?}");
    assert!(
        (first_two(&before) - first_two(&after)).abs() < 0.08,
        "{before:?} replayed as {after:?}"
    );
    let total = |day: &DayStatistics| day.services.values().map(|s| s.visitors()).sum::<u32>();
    // Booked citizens who never come are drawn again (10 %), so a few less come.
    assert!(total(&again) <= came && total(&again) * 10 >= came * 9);

    // Services no open desk serves are left out, and named.
    let mut with_kita = real.clone();
    with_kita.services.insert(
        aufruf_model::ServiceId::new("kita-platz"),
        aufruf_model::statistics::ServiceStatistics {
            walk_ins: 4,
            ..Default::default()
        },
    );
    let replay =
        SimulationParams::replaying(&with_kita, &config, &SimulationParams::default(), Some(3))
            .unwrap();
    assert_eq!(replay.params.desks, 3);
    assert_eq!(
        replay.left_out,
        [(aufruf_model::ServiceId::new("kita-platz"), 4)]
    );
    assert_eq!(replay.params.visitors, came);

    // A demand the open desks cannot meet, or that is no demand, is refused.
    let base = replay.params.clone();
    let demand = |service: &str, share: f64, mean_minutes: f64| {
        vec![aufruf_model::simulation::ServiceDemand {
            service: aufruf_model::ServiceId::new(service),
            share,
            mean_minutes,
        }]
    };
    for bad in [
        demand("kita-platz", 1.0, 15.0),
        demand("anmeldung", 0.0, 6.0),
        demand("anmeldung", -1.0, 6.0),
        demand("anmeldung", f64::NAN, 6.0),
        demand("anmeldung", 1.0, 0.0),
        demand("anmeldung", 1.0, 6000.0),
    ] {
        let params = SimulationParams {
            demand: bad.clone(),
            ..base.clone()
        };
        assert_eq!(
            simulate(&config, &params),
            Err(SimulationError::BadDemand),
            "{bad:?}"
        );
    }

    // A day nobody came to cannot be replayed.
    let empty = DayStatistics {
        date,
        services: Default::default(),
        desks: Default::default(),
    };
    assert_eq!(
        SimulationParams::replaying(&empty, &config, &SimulationParams::default(), None),
        Err(SimulationError::EmptyDay)
    );
}
