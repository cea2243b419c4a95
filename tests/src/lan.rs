//! The simulated office LAN: the office's devices on the simulated
//! [`Network`](crate::network::Network), and the checks of the office's promises.
//!
//! Each device runs the real [`Office`](aufruf_office::Office) on the real replica
//! shell of `aufruf-sync` ([`Replica`](aufruf_sync::Replica), with the protocol core
//! inside), whose store is an in-memory [`Disk`](crate::disk::Disk)
//! ([`SimStore`](crate::disk::SimStore)) and whose clock is the network's
//! ([`SimClock`]); each device has its own wall-clock skew. The network — links that
//! fail one way, partitions, TCP-like connections, delivery order, time — is
//! [`crate::network`]'s; a `Lan` is that network with the office on it, and its methods
//! (`partition`, `heal`, `advance`, `settle`, …) are reached through the `Lan`.
//!
//! A crash throws away the node's core, sessions, cached days and clock, keeps a prefix
//! of its unflushed writes ([`Disk::crash`](crate::disk::Disk::crash)), and drops its
//! connections; a restart rebuilds everything from the disk, with a new automerge
//! actor. A full disk ([`Lan::fill_disk`]) refuses local changes and drops what peers
//! send, as the real store's errors do. A lost disk ([`Lan::lose_disk`]) is replaced
//! by a new, empty one whose store has to catch up before the device acts.
//!
//! Every acknowledged action — a printed ticket, a call shown at a desk, any event an
//! action returned — is recorded in [`Acknowledged`]; [`Lan::check_converged`] checks
//! the promises against it after the LAN has settled. Everything random comes from the
//! network's one seeded generator, so a seed replays exactly; every step is narrated in
//! the story, whose tail a failure prints.
//!
//! `Lan` and its bookkeeping (devices, clocks) live here; the rest of its methods are
//! in the submodules, by seam:
//!
//! - `actions`: the office's actions on a device, narrated and recorded.
//! - `faults`: crashes, restarts from the disk, full disks, lost disks.
//! - `plumbing`: a device as the network's endpoint — inputs into its replica, what
//!   the replica queued on its connections.
//! - `device`: one device's running state (replica, office) and what it acknowledged.
//! - `checks`: the office's promises.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::ops::{Deref, DerefMut};
use std::sync::Arc;

use std::sync::Mutex;

use aufruf_model::{OfficeConfig, Timestamp};
use aufruf_office::document_name;
use aufruf_sync::protocol::Limits;
use aufruf_sync::{CatchUp, Clock, DocumentName, Incarnation, NodeId, Role};
use chrono::NaiveDate;
use rand::Rng;

use crate::disk::Disk;
use crate::network::Network;

mod actions;
mod checks;
mod device;
mod faults;
mod plumbing;

pub use crate::network::{MAX_LATENCY, SimClock};
pub use device::{Acknowledged, EventId, Node, PrintedTicket, ShownCall, SimDocuments};

/// The wall clock of a device whose clock is `skew_ms` off, `passed` into the day.
fn wall_time(day_start: Timestamp, passed: std::time::Duration, skew_ms: i64) -> Timestamp {
    let passed = i64::try_from(passed.as_millis()).unwrap_or(i64::MAX);
    let base = i64::try_from(day_start.0).unwrap_or(i64::MAX);
    let ms = base.saturating_add(passed).saturating_add(skew_ms);
    Timestamp(u64::try_from(ms).unwrap_or_default())
}

/// The office day every simulation works on: a Wednesday.
pub fn the_date() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 3, 11).unwrap_or_default()
}

/// The office LAN. See the module docs.
#[derive(Debug)]
pub struct Lan {
    pub seed: u64,
    /// The devices, their connections, time, randomness and the story.
    net: Network<Node>,
    config: OfficeConfig,
    date: NaiveDate,
    day_start: Timestamp,
    day_name: DocumentName,
    limits: Limits,
    acknowledged: Acknowledged,
    /// The device that acted last, successfully or not.
    last_actor: Option<usize>,
    /// Whether devices start without the day's document (see [`Lan::lazy_documents`]).
    lazy_documents: bool,
}

/// The network's methods (partitions, connections, delivery, time, the story) are the
/// LAN's.
impl Deref for Lan {
    type Target = Network<Node>;

    fn deref(&self) -> &Network<Node> {
        &self.net
    }
}

impl DerefMut for Lan {
    fn deref_mut(&mut self) -> &mut Network<Node> {
        &mut self.net
    }
}

impl Lan {
    /// An empty LAN of the example office (`aufruf.toml`), on [`the_date`].
    pub fn new(seed: u64) -> Self {
        let config = match aufruf_node::config_file::load_or_example(None) {
            Ok(config) => config,
            Err(error) => panic!("the example office does not load: {error}"),
        };
        let date = the_date();
        // 08:00 in Berlin in March is 07:00 UTC.
        let day_start = date
            .and_hms_opt(7, 0, 0)
            .map(|t| t.and_utc().timestamp_millis())
            .and_then(|ms| u64::try_from(ms).ok())
            .unwrap_or_default();
        let day_name = match document_name(date) {
            Ok(name) => name,
            Err(error) => panic!("{error}"),
        };
        Lan {
            seed,
            net: Network::new(seed),
            config,
            date,
            day_start: Timestamp(day_start),
            day_name,
            limits: Limits {
                // Small, so back-pressure is part of ordinary syncs.
                send_budget: 8 * 1024,
                ..Limits::default()
            },
            acknowledged: Acknowledged::default(),
            last_actor: None,
            lazy_documents: false,
        }
    }

    /// A LAN with the usual devices of a small office — two kiosks, three desks and the
    /// foyer display — with clocks off by up to five minutes each.
    pub fn office(seed: u64) -> Self {
        Lan::with_devices(
            seed,
            &[
                "kiosk-1", "kiosk-2", "desk-1", "desk-2", "desk-3", "display",
            ],
        )
    }

    /// A LAN of the named devices, with clocks off by up to five minutes each.
    pub fn with_devices(seed: u64, names: &[&str]) -> Self {
        let mut lan = Lan::new(seed);
        lan.add_devices(names);
        lan
    }

    /// Adds running devices whose clocks are off by up to five minutes each.
    pub fn add_devices(&mut self, names: &[&str]) {
        for name in names.iter().copied() {
            self.add_node(name);
            let skew = self.rng().random_range(-300_000..=300_000);
            self.set_skew(name, skew);
        }
    }

    /// Adds a running device; its role comes from its name (`kiosk-…`, `desk-…`,
    /// `display…`, `gateway…`). Its clock is exact until [`Lan::set_skew`].
    pub fn add_node(&mut self, name: &str) -> usize {
        let role = if name.starts_with("kiosk") {
            Role::Kiosk
        } else if name.starts_with("desk") {
            Role::Desk
        } else if name.starts_with("display") {
            Role::Display
        } else if name.starts_with("gateway") {
            Role::Gateway
        } else {
            panic!("{name}: name a device kiosk-…, desk-…, display… or gateway…")
        };
        let name = match NodeId::new(name) {
            Ok(id) => id,
            Err(error) => panic!("{error}"),
        };
        // A device of the office all along: its store needs not catch up.
        let disk = Disk::new(Incarnation::new(1), CatchUp::Established);
        let node = self.net.add(Node {
            name,
            role,
            skew_ms: 0,
            boots: 0,
            disks: 1,
            disk_since: 0,
            disk: Arc::new(Mutex::new(disk)),
            running: None,
        });
        self.boot(node);
        // Every device knows the new one's certificate, as the office document
        // would bring it.
        let roster = self.roster();
        for device in self.net.nodes_mut() {
            if let Some(running) = device.running.as_mut() {
                running.office.set_roster(roster.clone());
            }
        }
        node
    }

    // ---- who, what, when ----

    /// Devices added or restarted from now on start without the day's document, as
    /// real nodes do: they create it with their first change or take it from a peer's
    /// announcement. The replica names the actor of a document it creates
    /// (`<device>#<boot>/<document>`), so a seed still replays exactly.
    pub fn lazy_documents(&mut self) {
        self.lazy_documents = true;
    }

    pub fn config(&self) -> &OfficeConfig {
        &self.config
    }

    /// The device's wall clock: the day's start, the time passed, and its skew.
    pub fn wall_clock(&self, node: usize) -> Timestamp {
        wall_time(self.day_start, self.now(), self.nodes()[node].skew_ms)
    }

    /// Sets how far the device's wall clock is off, in milliseconds (negative: behind).
    pub fn set_skew(&mut self, name: &str, skew_ms: i64) {
        let node = self.node(name);
        self.net.nodes_mut()[node].skew_ms = skew_ms;
        self.give_wall_clock(node);
    }

    /// Hands a running device's replica its wall clock, as a node hands its replica
    /// the system's: the replica tells peers and compares theirs with it.
    pub(crate) fn give_wall_clock(&self, node: usize) {
        let Some(running) = &self.nodes()[node].running else {
            return;
        };
        let clock = self.clock().clone();
        let day_start = self.day_start;
        let skew_ms = self.nodes()[node].skew_ms;
        running
            .replica
            .set_wall_clock(move || wall_time(day_start, clock.now(), skew_ms).0);
    }

    /// The last day a device takes from peers: the booking horizon after the LAN's
    /// date, and a day more (as the office service sets it).
    pub fn last_day_accepted(&self) -> DocumentName {
        let ahead = chrono::Days::new(u64::from(self.config.bookings.horizon_days) + 1);
        match self.date.checked_add_days(ahead).map(document_name) {
            Some(Ok(name)) => name,
            _ => self.fail("the booking horizon runs past the calendar"),
        }
    }

    pub fn acknowledged(&self) -> &Acknowledged {
        &self.acknowledged
    }

    /// The stamps of the events device `node` acknowledged, in the order it did.
    pub fn acknowledged_by(&self, node: usize) -> Vec<&EventId> {
        self.acknowledged
            .events
            .iter()
            .filter(|(n, _)| *n == node)
            .map(|(_, event)| event)
            .collect()
    }

    /// The device that acted last.
    pub fn last_actor(&self) -> Option<usize> {
        self.last_actor
    }

    /// A digest of the story and every node's heads: equal for equal runs.
    pub fn fingerprint(&self) -> u64 {
        let mut hasher = DefaultHasher::new();
        self.story().hash(&mut hasher);
        for node in 0..self.nodes().len() {
            self.heads(node).hash(&mut hasher);
        }
        self.frames_delivered().hash(&mut hasher);
        hasher.finish()
    }
}
