//! The simulated office LAN: devices, connections, faults and time, and the checks of
//! the office's promises.
//!
//! Each device runs the real [`Office`](aufruf_office::Office) on the real replica
//! shell of `aufruf-sync` ([`Replica`](aufruf_sync::Replica), with the protocol core
//! inside), whose store is an in-memory [`Disk`](crate::disk::Disk)
//! ([`SimStore`](crate::disk::SimStore)) and whose clock is the LAN's ([`SimClock`]);
//! each device has its own wall-clock skew. Between every pair of devices the LAN has a link whose two directions can fail independently
//! (one-way links), plus a partition into groups. Over a link runs at most one
//! connection, modelled like TCP: frames arrive in order within a connection (the
//! automerge sync protocol needs that), while the LAN picks at random which
//! connection delivers next. A lost message is a dropped connection — an end learns of
//! it at once (a reset) or only when its core notices the silence. Frames that a failed
//! direction cannot carry wait (TCP retransmits) until the direction returns or a core
//! gives up on the silent peer. A frame on a working direction arrives within
//! [`MAX_LATENCY`] of simulated time.
//!
//! A crash throws away the node's core, sessions, cached days and clock, keeps a prefix
//! of its unflushed writes ([`Disk::crash`](crate::disk::Disk::crash)), and drops its
//! connections; a restart rebuilds everything from the disk, with a new automerge
//! actor. A full disk ([`Lan::fill_disk`]) refuses local changes and drops what peers
//! send, as the real store's errors do.
//!
//! Every acknowledged action — a printed ticket, a call shown at a desk, any event an
//! action returned — is recorded in [`Acknowledged`]; [`Lan::check_converged`] checks
//! the promises against it after the LAN has settled. Everything random comes from one
//! seeded generator, so a seed replays exactly; every step is narrated in the story,
//! whose tail a failure prints.
//!
//! `Lan` and its bookkeeping (devices, story, clocks) live here; the rest of its
//! methods are in the submodules, by seam:
//!
//! - `actions`: the office's actions on a device, narrated and recorded.
//! - `network`: links, partitions, one-way links, connections, delivery order, time.
//! - `faults`: crashes, restarts from the disk, full disks.
//! - `plumbing`: inputs into a device's replica, its queued frames and closes carried.
//! - `device`: one device's running state (replica, office, clock) and what it
//!   acknowledged.
//! - `checks`: the office's promises.

use std::collections::BTreeSet;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::Arc;
use std::time::Duration;

use aufruf_model::{OfficeConfig, Timestamp};
use aufruf_office::document_name;
use aufruf_sync::protocol::{ConnectionId, Limits};
use aufruf_sync::{DocumentName, NodeId, Role};
use chrono::NaiveDate;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

mod actions;
mod checks;
mod device;
mod faults;
mod network;
mod plumbing;

pub use device::{Acknowledged, Node, PrintedTicket, ShownCall, SimClock, SimDocuments};
use network::Connection;
pub use network::MAX_LATENCY;

/// Lines of the story a failure prints.
const STORY_TAIL: usize = 60;

/// The office day every simulation works on: a Wednesday.
pub fn the_date() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 3, 11).unwrap_or_default()
}

/// The office LAN. See the module docs.
#[derive(Debug)]
pub struct Lan {
    pub seed: u64,
    rng: StdRng,
    now: Duration,
    /// `now` as the replicas read it.
    clock: SimClock,
    config: OfficeConfig,
    date: NaiveDate,
    day_start: Timestamp,
    day_name: DocumentName,
    limits: Limits,
    nodes: Vec<Node>,
    connections: Vec<Connection>,
    /// Session ends whose transport is gone but whose core has not noticed yet.
    zombies: BTreeSet<(usize, ConnectionId)>,
    groups: Vec<usize>,
    /// Failed directions `(from, to)`.
    down: BTreeSet<(usize, usize)>,
    acknowledged: Acknowledged,
    story: Vec<String>,
    /// Sessions that ended for a reason other than silence; none is expected.
    session_errors: Vec<String>,
    frames_delivered: u64,
    /// The device that acted last, successfully or not.
    last_actor: Option<usize>,
    /// Whether devices start without the day's document (see [`Lan::lazy_documents`]).
    lazy_documents: bool,
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
            rng: StdRng::seed_from_u64(seed),
            now: Duration::ZERO,
            clock: SimClock::default(),
            config,
            date,
            day_start: Timestamp(day_start),
            day_name,
            limits: Limits {
                // Small, so back-pressure is part of ordinary syncs.
                send_budget: 8 * 1024,
                ..Limits::default()
            },
            nodes: Vec::new(),
            connections: Vec::new(),
            zombies: BTreeSet::new(),
            groups: Vec::new(),
            down: BTreeSet::new(),
            acknowledged: Acknowledged::default(),
            story: Vec::new(),
            session_errors: Vec::new(),
            frames_delivered: 0,
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
            let skew = self.rng.random_range(-300_000..=300_000);
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
        self.nodes.push(Node {
            name,
            role,
            skew_ms: 0,
            incarnation: 0,
            disk: Arc::default(),
            running: None,
        });
        self.groups.push(0);
        let node = self.nodes.len() - 1;
        self.boot(node);
        node
    }

    // ---- who, what, when ----

    /// Devices added or restarted from now on start without the day's document, as
    /// real nodes do: they create it with their first change or take it from a peer's
    /// announcement. The replica names the actor of a document it creates
    /// (`<device>#<incarnation>/<document>`), so a seed still replays exactly.
    pub fn lazy_documents(&mut self) {
        self.lazy_documents = true;
    }

    /// The index of the named device.
    pub fn node(&self, name: &str) -> usize {
        match self.nodes.iter().position(|n| n.name.as_str() == name) {
            Some(node) => node,
            None => panic!("no device {name} on this LAN"),
        }
    }

    pub fn nodes(&self) -> &[Node] {
        &self.nodes
    }

    pub fn config(&self) -> &OfficeConfig {
        &self.config
    }

    pub fn is_up(&self, node: usize) -> bool {
        self.nodes[node].running.is_some()
    }

    /// The LAN's time since the simulation started.
    pub fn now(&self) -> Duration {
        self.now
    }

    /// The device's wall clock: the day's start, the time passed, and its skew.
    pub fn wall_clock(&self, node: usize) -> Timestamp {
        let passed = i64::try_from(self.now.as_millis()).unwrap_or(i64::MAX);
        let base = i64::try_from(self.day_start.0).unwrap_or(i64::MAX);
        let ms = base
            .saturating_add(passed)
            .saturating_add(self.nodes[node].skew_ms);
        Timestamp(u64::try_from(ms).unwrap_or_default())
    }

    /// Sets how far the device's wall clock is off, in milliseconds (negative: behind).
    pub fn set_skew(&mut self, name: &str, skew_ms: i64) {
        let node = self.node(name);
        self.nodes[node].skew_ms = skew_ms;
    }

    pub fn acknowledged(&self) -> &Acknowledged {
        &self.acknowledged
    }

    pub fn rng(&mut self) -> &mut StdRng {
        &mut self.rng
    }

    /// The device that acted last.
    pub fn last_actor(&self) -> Option<usize> {
        self.last_actor
    }

    pub fn frames_delivered(&self) -> u64 {
        self.frames_delivered
    }

    /// The story so far, one line per step.
    pub fn story(&self) -> &[String] {
        &self.story
    }

    /// Adds a line to the story.
    pub fn say(&mut self, line: impl Into<String>) {
        let n = self.story.len() + 1;
        self.story.push(format!("Step {n}: {}", line.into()));
    }

    /// Fails the test with the seed, the replay hint and the tail of the story.
    pub fn fail(&self, message: impl AsRef<str>) -> ! {
        let skip = self.story.len().saturating_sub(STORY_TAIL);
        let tail = self.story[skip..].join("\n  ");
        panic!(
            "seed {}: {}\n  --- the story so far (last {} of {} steps) ---\n  {tail}",
            self.seed,
            message.as_ref(),
            self.story.len() - skip,
            self.story.len()
        )
    }

    /// A digest of the story and every node's heads: equal for equal runs.
    pub fn fingerprint(&self) -> u64 {
        let mut hasher = DefaultHasher::new();
        self.story.hash(&mut hasher);
        for node in 0..self.nodes.len() {
            self.heads(node).hash(&mut hasher);
        }
        self.frames_delivered.hash(&mut hasher);
        hasher.finish()
    }
}
