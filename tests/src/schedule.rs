//! Random office days on the simulated LAN, and the seeds they run with.
//!
//! A day is told in rounds: the LAN comes up and the day's bookings are fed in;
//! then in each round kiosks issue tickets and check in bookings, desks call, serve,
//! recall, park, transfer and finish visitors, while links fail (both ways or one
//! way), connections drop, the office splits in two, devices crash and restart and
//! time passes — all chosen by the seed. Each round ends with a heal and a settle,
//! after which [`Lan::check_converged`] checks every promise.
//!
//! [`run_seeds`] runs a test's default seeds, or `AUFRUF_LAN_SEEDS=<n>` of them, or the
//! one seed `AUFRUF_LAN_SEED=<seed>`; a failure names the seed and the command that
//! replays it.

use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::time::Duration;

use aufruf_model::{DeskId, ServiceId, Status, TicketId, Transfer};
use aufruf_sync::Role;
use rand::Rng;

use crate::lan::Lan;

/// How a random day is shaped: its length and how often things go wrong.
#[derive(Debug, Clone)]
pub struct Shape {
    /// Rounds, each ending with heal, settle and the full check.
    pub rounds: usize,
    /// Random steps per round.
    pub steps: usize,
    /// Weight of network faults (link failures, dropped connections, partitions).
    pub faults: u32,
    /// Weight of crashes.
    pub crashes: u32,
    /// Bookings fed in before the day starts.
    pub bookings: usize,
    /// Whether the gateway is on the LAN too (it feeds the bookings and issues remote
    /// tickets); without it, kiosk-1 takes the bookings.
    pub gateway: bool,
    /// Whether devices start without the day's document (see [`Lan::lazy_documents`]).
    pub lazy_documents: bool,
    /// Whether disks fill up now and then ([`Lan::fill_disk`]). A peer's change that a
    /// full disk dropped used to leave a hole under the next local change, which a
    /// restarted device could not read; the replica now stores the whole document with
    /// the next local change (`tests/tests/full_disk.rs` pins it).
    pub full_disks: bool,
}

impl Default for Shape {
    fn default() -> Self {
        Shape {
            rounds: 2,
            steps: 28,
            faults: 6,
            crashes: 2,
            bookings: 4,
            gateway: false,
            lazy_documents: false,
            full_disks: false,
        }
    }
}

/// Services whose desks are on the simulated LAN (the day-care desk is not).
const SERVICES: [&str; 6] = [
    "meldebescheinigung",
    "anmeldung",
    "personalausweis",
    "reisepass",
    "fuehrungszeugnis",
    "fundsachen",
];

/// Runs one random office day of the usual office (see [`Lan::office`]) and returns
/// the LAN after the last check.
pub fn random_day(seed: u64, shape: &Shape) -> Lan {
    let mut lan = Lan::new(seed);
    if shape.lazy_documents {
        lan.lazy_documents();
    }
    if shape.gateway {
        lan.add_devices(&[
            "kiosk-1", "kiosk-2", "gateway", "desk-1", "desk-2", "desk-3", "display",
        ]);
    } else {
        lan.add_devices(&[
            "kiosk-1", "kiosk-2", "desk-1", "desk-2", "desk-3", "display",
        ]);
    }
    let feeder = if shape.gateway { "gateway" } else { "kiosk-1" };
    // Step 1: the LAN comes up; the day's bookings are fed in.
    lan.say(format!("the office opens: {shape:?}"));
    lan.connect_all();
    for b in 0..shape.bookings {
        let service = SERVICES[lan.rng().random_range(0..SERVICES.len())];
        let due = Duration::from_secs(lan.rng().random_range(0..90) * 60);
        lan.book(feeder, &format!("B{b:03}"), service, due);
    }
    lan.settle();
    lan.check_converged();
    // Step 2: rounds of work and trouble, each ending with a heal.
    for round in 1..=shape.rounds {
        lan.say(format!("round {round} begins"));
        for _ in 0..shape.steps {
            random_step(&mut lan, shape);
        }
        // Step 3: the LAN heals, disks get space, crashed devices come back, everything
        // arrives.
        lan.heal();
        lan.free_disks();
        lan.restart_all();
        lan.settle();
        lan.check_converged();
    }
    lan
}

/// What can happen in one step of a random day.
#[derive(Debug, Clone, Copy)]
enum Move {
    /// Some frames arrive.
    Deliver,
    /// Time passes; cores tick; some broken connections are dialled again.
    TimePasses,
    Issue,
    CheckIn,
    /// A waiting visitor gives up.
    Leave,
    /// A clerk does the next thing at a desk.
    Desk,
    /// A direction of a link fails, or a connection drops.
    Fault,
    /// A failed direction works again.
    Repair,
    /// The office splits in two.
    Split,
    Heal,
    Crash,
    Restart,
    /// A device's disk fills up, or every full disk gets space again.
    Disk,
    /// Things calm down for a while, the LAN possibly still split.
    Calm,
}

/// One random step: work at a kiosk or desk, time passing, frames arriving, or trouble.
pub fn random_step(lan: &mut Lan, shape: &Shape) {
    let moves = [
        (Move::Deliver, 30),
        (Move::TimePasses, 10),
        (Move::Issue, 10),
        (Move::CheckIn, 2),
        (Move::Leave, 1),
        (Move::Desk, 28),
        (Move::Fault, shape.faults),
        (Move::Repair, shape.faults / 2),
        (Move::Split, shape.faults / 3),
        (Move::Heal, shape.faults / 3),
        (Move::Crash, shape.crashes),
        (Move::Restart, shape.crashes * 2),
        (Move::Disk, u32::from(shape.full_disks)),
        (Move::Calm, 2),
    ];
    let total: u32 = moves.iter().map(|(_, w)| w).sum();
    let mut pick = lan.rng().random_range(0..total);
    let mut chosen = Move::Deliver;
    for (m, w) in moves {
        if pick < w {
            chosen = m;
            break;
        }
        pick -= w;
    }
    match chosen {
        Move::Deliver => {
            let count = lan.rng().random_range(1..=12);
            lan.deliver_some(count);
        }
        Move::TimePasses => {
            let ms = lan.rng().random_range(20..=1500);
            lan.advance(Duration::from_millis(ms));
            lan.reconnect_some(0.3);
        }
        Move::Issue => {
            if let Some(kiosk) = pick_node(lan, |role| matches!(role, Role::Kiosk | Role::Gateway))
            {
                let service = SERVICES[lan.rng().random_range(0..SERVICES.len())];
                let _ = lan.issue(&kiosk, service);
                check_node(lan, &kiosk);
            }
        }
        Move::CheckIn => check_in(lan),
        Move::Leave => leave(lan),
        Move::Desk => {
            if let Some(desk) = pick_node(lan, |role| role == Role::Desk) {
                desk_step(lan, &desk);
                check_node(lan, &desk);
            }
        }
        Move::Fault => fault(lan),
        Move::Repair => {
            let failed = lan.failed_directions();
            if !failed.is_empty() {
                let (from, to) = failed[lan.rng().random_range(0..failed.len())];
                lan.repair_one_way_by_index(from, to);
            }
        }
        Move::Split => {
            let n = lan.nodes().len();
            let mut groups: Vec<usize> = (0..n).map(|_| lan.rng().random_range(0..2)).collect();
            // Two groups, neither empty.
            let first = lan.rng().random_range(0..n);
            groups[first] = 0;
            let second = (first + 1 + lan.rng().random_range(0..n - 1)) % n;
            groups[second] = 1;
            lan.partition_by_index(&groups);
        }
        Move::Heal => lan.heal(),
        Move::Crash => {
            let up: Vec<usize> = (0..lan.nodes().len()).filter(|n| lan.is_up(*n)).collect();
            // Keep at least two devices up, so there is an office left to talk to.
            if up.len() > 2 {
                // Half of the crashes hit the device that has just acted: right after
                // it printed a ticket or showed a call.
                let node = match lan.last_actor() {
                    Some(last) if lan.is_up(last) && lan.rng().random_bool(0.5) => last,
                    _ => up[lan.rng().random_range(0..up.len())],
                };
                let name = lan.nodes()[node].name.to_string();
                lan.crash(&name);
            }
        }
        Move::Restart => {
            let down: Vec<usize> = (0..lan.nodes().len()).filter(|n| !lan.is_up(*n)).collect();
            if !down.is_empty() {
                let node = down[lan.rng().random_range(0..down.len())];
                if lan.rng().random_bool(0.3) {
                    // The clock came back from the outage wrong.
                    let skew = lan.rng().random_range(-300_000..=300_000);
                    let name = lan.nodes()[node].name.to_string();
                    lan.set_skew(&name, skew);
                }
                lan.restart_by_index(node);
            }
        }
        Move::Disk => {
            if lan.rng().random_bool(0.5) {
                let n = lan.nodes().len();
                let node = lan.rng().random_range(0..n);
                let name = lan.nodes()[node].name.to_string();
                lan.fill_disk(&name);
            } else {
                lan.free_disks();
            }
        }
        Move::Calm => {
            lan.say("things calm down for a while");
            lan.settle();
            lan.check_groups_converged();
        }
    }
}

/// What a clerk does next: open the desk, deal with the current visitor, or call.
fn desk_step(lan: &mut Lan, desk: &str) {
    let node = lan.node(desk);
    let id = DeskId::new(desk);
    let (open, current, parked) = lan.with_day(node, |day| {
        let open = day.desk_session(&id).is_some_and(|s| s.open);
        let current = day.current_of(&id).map(|t| t.status.clone());
        let parked: Vec<TicketId> = day
            .tickets()
            .filter(|t| t.status == Status::Parked { desk: id.clone() })
            .map(|t| t.id.clone())
            .collect();
        (open, current, parked)
    });
    let roll = lan.rng().random_range(0..100);
    let _ = match (open, current) {
        (false, _) => lan.open_desk(desk),
        (true, Some(Status::Called { .. })) => match roll {
            0..50 => lan.start_serving(desk),
            50..70 => lan.recall(desk),
            70..78 => lan.no_show(desk),
            78..86 => lan.park(desk),
            86..94 => transfer(lan, desk),
            _ => lan.finish(desk),
        },
        (true, Some(_)) => match roll {
            0..70 => lan.finish(desk),
            70..85 => lan.park(desk),
            _ => transfer(lan, desk),
        },
        (true, None) => match roll {
            0..15 if !parked.is_empty() => {
                let ticket = parked[lan.rng().random_range(0..parked.len())].clone();
                lan.return_ticket(desk, &ticket)
            }
            0..3 => lan.close_desk(desk),
            _ => lan.call_next(desk).map(drop),
        },
    };
}

fn transfer(lan: &mut Lan, desk: &str) -> Result<(), aufruf_office::OfficeError> {
    let to = if lan.rng().random_bool(0.5) {
        Transfer::Service(ServiceId::new(
            SERVICES[lan.rng().random_range(0..SERVICES.len())],
        ))
    } else {
        let desks: Vec<String> = lan
            .nodes()
            .iter()
            .filter(|n| n.role == Role::Desk)
            .map(|n| n.name.to_string())
            .collect();
        Transfer::Desk(DeskId::new(
            desks[lan.rng().random_range(0..desks.len())].as_str(),
        ))
    };
    lan.transfer(desk, to)
}

/// A booked citizen checks in at a kiosk (perhaps a second time, elsewhere).
fn check_in(lan: &mut Lan) {
    let Some(kiosk) = pick_node(lan, |role| role == Role::Kiosk) else {
        return;
    };
    let node = lan.node(&kiosk);
    let codes: Vec<String> = lan.with_day(node, |day| {
        day.appointments()
            .filter(|a| day.checked_in(&a.code).is_none())
            .map(|a| a.code.to_string())
            .collect()
    });
    if !codes.is_empty() {
        let code = codes[lan.rng().random_range(0..codes.len())].clone();
        let _ = lan.check_in(&kiosk, &code);
        check_node(lan, &kiosk);
    }
}

/// A waiting visitor gives up; the kiosk cancels the ticket.
fn leave(lan: &mut Lan) {
    let Some(kiosk) = pick_node(lan, |role| role == Role::Kiosk) else {
        return;
    };
    let node = lan.node(&kiosk);
    // A kiosk withdraws only tickets it issued (another's withdrawal would not count).
    let waiting: Vec<TicketId> = lan.with_day(node, |day| {
        day.waiting()
            .filter(|t| t.id.node.as_str() == kiosk)
            .map(|t| t.id.clone())
            .collect()
    });
    if !waiting.is_empty() {
        let ticket = waiting[lan.rng().random_range(0..waiting.len())].clone();
        let _ = lan.cancel(&kiosk, &ticket);
    }
}

/// A direction of a link fails, or a connection drops (a lost packet ends it).
fn fault(lan: &mut Lan) {
    let n = lan.nodes().len();
    if lan.rng().random_bool(0.5) && lan.connection_count() > 0 {
        let count = lan.connection_count();
        let index = lan.rng().random_range(0..count);
        lan.drop_connection(index, 0.3);
    } else {
        let from = lan.rng().random_range(0..n);
        let to = (from + 1 + lan.rng().random_range(0..n - 1)) % n;
        lan.cut_one_way_by_index(from, to);
    }
}

/// A random running device of the given roles.
fn pick_node(lan: &mut Lan, role: impl Fn(Role) -> bool) -> Option<String> {
    let candidates: Vec<String> = lan
        .nodes()
        .iter()
        .enumerate()
        .filter(|(i, n)| role(n.role) && lan.is_up(*i))
        .map(|(_, n)| n.name.to_string())
        .collect();
    if candidates.is_empty() {
        return None;
    }
    let pick = lan.rng().random_range(0..candidates.len());
    Some(candidates[pick].clone())
}

fn check_node(lan: &mut Lan, name: &str) {
    let node = lan.node(name);
    lan.check_invariants(node);
}

/// The seeds to run: `AUFRUF_LAN_SEED=<seed>` alone, else `AUFRUF_LAN_SEEDS=<n>` or
/// `default` seeds counted from `first`.
pub fn seeds(first: u64, default: u64) -> Vec<u64> {
    if let Some(seed) = env_number("AUFRUF_LAN_SEED") {
        return vec![seed];
    }
    let count = env_number("AUFRUF_LAN_SEEDS").unwrap_or(default);
    (first..first + count).collect()
}

fn env_number(name: &str) -> Option<u64> {
    let text = std::env::var(name).ok()?;
    match text.trim().parse() {
        Ok(n) => Some(n),
        Err(_) => panic!("{name}={text:?} is not a number"),
    }
}

/// Runs `schedule` for every seed of [`seeds`]; the first failure panics with the
/// seed and the command that replays it (`test` is the test's name in `file`).
pub fn run_seeds(file: &str, test: &str, first: u64, default: u64, schedule: impl Fn(u64)) {
    for seed in seeds(first, default) {
        if let Err(panic) = catch_unwind(AssertUnwindSafe(|| schedule(seed))) {
            let message = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()));
            match message {
                Some(message) => panic!(
                    "{test} failed with seed {seed}. Replay it with\n    AUFRUF_LAN_SEED={seed} cargo test -p aufruf-tests --test {file} -- {test} --exact\n{message}"
                ),
                None => resume_unwind(panic),
            }
        }
    }
}
