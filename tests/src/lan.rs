//! The simulated office LAN: devices, connections, faults and time, and the checks of
//! the office's promises.
//!
//! Each device runs the real [`Office`] on the real protocol core ([`Replicator`]) of
//! `aufruf-sync` (see `device`), with an in-memory [`Disk`](crate::disk::Disk) and
//! its own wall-clock skew. Between every
//! pair of devices the LAN has a link whose two directions can fail independently
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

use std::cell::RefCell;
use std::collections::{BTreeSet, VecDeque};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::rc::Rc;
use std::time::Duration;

use aufruf_model::{
    ActionError, Appointment, BookingCode, Day, DeskEvent, DeskId, Event, OfficeConfig, Origin,
    ServiceId, Stamp, TicketEvent, TicketId, Timestamp, Transfer,
};
use aufruf_office::{Carries, Office, OfficeError, document_name};
use aufruf_sync::protocol::{
    ConnectionId, Identity, Input, Limits, Output, Replicator, SessionError,
};
use aufruf_sync::{DocumentName, OfficeId, Role};
use automerge::{ActorId, Automerge, ChangeHash};
use chrono::NaiveDate;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

mod checks;
mod device;

pub use device::{Acknowledged, Node, PrintedTicket, ShownCall, SimDocuments};
use device::{Machine, Running};

/// A frame on a working direction arrives at most this long after it was sent.
pub const MAX_LATENCY: Duration = Duration::from_millis(300);

/// Frames [`Lan::deliver_all`] delivers before it calls the LAN livelocked.
const MAX_DELIVERIES: usize = 500_000;

/// Rounds of one simulated second [`Lan::settle`] waits before it gives up.
const MAX_SETTLE_ROUNDS: usize = 120;

/// Lines of the story a failure prints.
const STORY_TAIL: usize = 60;

/// The office day every simulation works on: a Wednesday.
pub fn the_date() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 3, 11).unwrap_or_default()
}

#[derive(Debug)]
struct Connection {
    ends: [(usize, ConnectionId); 2],
    /// `queues[d]`: frames from `ends[d]` to the other end, with their send time.
    queues: [VecDeque<(Duration, Vec<u8>)>; 2],
}

/// The office LAN. See the module docs.
#[derive(Debug)]
pub struct Lan {
    pub seed: u64,
    rng: StdRng,
    now: Duration,
    config: OfficeConfig,
    date: NaiveDate,
    day_start: Timestamp,
    day_name: DocumentName,
    limits: Limits,
    nodes: Vec<Node>,
    connections: Vec<Connection>,
    /// Session ends whose transport is gone but whose core has not noticed yet.
    zombies: BTreeSet<(usize, ConnectionId)>,
    next_connection: u64,
    groups: Vec<usize>,
    /// Failed directions `(from, to)`.
    down: BTreeSet<(usize, usize)>,
    acknowledged: Acknowledged,
    story: Vec<String>,
    /// Sessions that ended for a reason other than silence; none is expected.
    session_errors: Vec<String>,
    /// Things the shell had to repair (damaged documents); none is expected.
    incidents: Vec<String>,
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
            next_connection: 1,
            groups: Vec::new(),
            down: BTreeSet::new(),
            acknowledged: Acknowledged::default(),
            story: Vec::new(),
            session_errors: Vec::new(),
            incidents: Vec::new(),
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
        self.nodes.push(Node {
            name: name.to_owned(),
            role,
            skew_ms: 0,
            incarnation: 0,
            disk: Rc::default(),
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
    /// announcement. automerge then picks the document's actor at random, so change
    /// hashes (not the story) differ between runs of the same seed.
    pub fn lazy_documents(&mut self) {
        self.lazy_documents = true;
    }

    /// The index of the named device.
    pub fn node(&self, name: &str) -> usize {
        match self.nodes.iter().position(|n| n.name == name) {
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

    // ---- the office's actions ----

    /// Runs a local action of the model on a device, durably, and records what it
    /// acknowledged. The device must be up.
    pub fn act<T: Carries>(
        &mut self,
        node: usize,
        action: impl FnOnce(&mut Day, &OfficeConfig, Stamp) -> Result<T, ActionError>,
    ) -> Result<T, OfficeError> {
        let wall = self.wall_clock(node);
        let (now, date) = (self.now, self.date);
        let Some(running) = self.nodes[node].running.as_mut() else {
            let name = self.nodes[node].name.clone();
            self.fail(format!("{name} is down and cannot act"))
        };
        running.machine.borrow_mut().now = now;
        let result = running.office.act(date, wall, action);
        self.last_actor = Some(node);
        let outbox = std::mem::take(&mut running.machine.borrow_mut().outbox);
        self.route(node, outbox);
        if let Ok(outcome) = &result {
            self.acknowledge(node, outcome.event());
        }
        result
    }

    /// A kiosk (or the gateway) issues a walk-in ticket and prints it.
    pub fn issue(&mut self, kiosk: &str, service: &str) -> Result<TicketId, OfficeError> {
        let service = ServiceId::new(service);
        let origin = if kiosk.starts_with("gateway") {
            Origin::Remote
        } else {
            Origin::WalkIn
        };
        self.narrated(kiosk, "issue a ticket", |day, config, stamp| {
            day.issue(config, &service, origin, stamp)
        })
        .map(|event| ticket_of(&event))
    }

    /// A kiosk checks in a booked citizen and prints their ticket.
    pub fn check_in(&mut self, kiosk: &str, code: &str) -> Result<TicketId, OfficeError> {
        let code = BookingCode::new(code);
        self.narrated(kiosk, "check in a booking", |day, config, stamp| {
            day.check_in(config, &code, stamp)
        })
        .map(|event| ticket_of(&event))
    }

    /// Feeds a booking into the day on a device (as the gateway does for the portal).
    pub fn book(&mut self, node: &str, code: &str, service: &str, due: Duration) {
        let index = self.node(node);
        let appointment = Appointment {
            code: BookingCode::new(code),
            service: ServiceId::new(service),
            due: self.day_start + due,
        };
        let date = self.date;
        let now = self.now;
        let Some(running) = self.nodes[index].running.as_mut() else {
            self.fail(format!("{node} is down and cannot take bookings"))
        };
        running.machine.borrow_mut().now = now;
        let result = running.office.book(date, appointment);
        let outbox = std::mem::take(&mut running.machine.borrow_mut().outbox);
        self.route(index, outbox);
        match result {
            Ok(()) => self.say(format!("{node} takes booking {code} for {service}")),
            Err(error) => self.fail(format!("{node} could not take booking {code}: {error}")),
        }
    }

    pub fn open_desk(&mut self, desk: &str) -> Result<(), OfficeError> {
        let id = DeskId::new(desk);
        self.narrated(desk, "open", |day, config, stamp| {
            day.open_desk(config, &id, vec![], stamp)
        })
        .map(drop)
    }

    pub fn close_desk(&mut self, desk: &str) -> Result<(), OfficeError> {
        let id = DeskId::new(desk);
        self.narrated(desk, "close", |day, _, stamp| day.close_desk(&id, stamp))
            .map(drop)
    }

    /// The desk calls the next visitor and shows "called".
    pub fn call_next(&mut self, desk: &str) -> Result<TicketId, OfficeError> {
        let id = DeskId::new(desk);
        self.narrated(desk, "call next", |day, config, stamp| {
            day.call_next(config, &id, stamp)
        })
        .map(|event| ticket_of(&event))
    }

    pub fn recall(&mut self, desk: &str) -> Result<(), OfficeError> {
        let id = DeskId::new(desk);
        self.narrated(desk, "recall", |day, config, stamp| {
            day.recall(config, &id, stamp)
        })
        .map(drop)
    }

    pub fn start_serving(&mut self, desk: &str) -> Result<(), OfficeError> {
        let id = DeskId::new(desk);
        self.narrated(desk, "start serving", |day, _, stamp| {
            day.start_serving(&id, stamp)
        })
        .map(drop)
    }

    pub fn finish(&mut self, desk: &str) -> Result<(), OfficeError> {
        let id = DeskId::new(desk);
        self.narrated(desk, "finish", |day, _, stamp| day.finish(&id, stamp))
            .map(drop)
    }

    pub fn no_show(&mut self, desk: &str) -> Result<(), OfficeError> {
        let id = DeskId::new(desk);
        self.narrated(desk, "mark a no-show", |day, _, stamp| {
            day.no_show(&id, stamp)
        })
        .map(drop)
    }

    pub fn park(&mut self, desk: &str) -> Result<(), OfficeError> {
        let id = DeskId::new(desk);
        self.narrated(desk, "park", |day, _, stamp| day.park(&id, stamp))
            .map(drop)
    }

    pub fn transfer(&mut self, desk: &str, to: Transfer) -> Result<(), OfficeError> {
        let id = DeskId::new(desk);
        self.narrated(desk, "transfer", |day, config, stamp| {
            day.transfer(config, &id, to, stamp)
        })
        .map(drop)
    }

    /// Puts a parked or no-show ticket back into the queue.
    pub fn return_ticket(&mut self, node: &str, ticket: &TicketId) -> Result<(), OfficeError> {
        self.narrated(node, "return a ticket", |day, _, stamp| {
            day.return_ticket(ticket, stamp)
        })
        .map(drop)
    }

    pub fn cancel(&mut self, node: &str, ticket: &TicketId) -> Result<(), OfficeError> {
        self.narrated(node, "cancel a ticket", |day, _, stamp| {
            day.cancel(ticket, stamp)
        })
        .map(drop)
    }

    /// Runs `read` on the day as the device knows it now (including what peers sent).
    pub fn with_day<R>(&mut self, node: usize, read: impl FnOnce(&Day) -> R) -> R {
        let date = self.date;
        let outcome = match self.nodes[node].running.as_mut() {
            Some(running) => running
                .office
                .day(date)
                .map(read)
                .map_err(|e| e.to_string()),
            None => Err("the device is down".to_owned()),
        };
        match outcome {
            Ok(value) => value,
            Err(error) => {
                let name = self.nodes[node].name.clone();
                self.fail(format!("{name} cannot read the day: {error}"))
            }
        }
    }

    /// A copy of the day as the named device knows it now.
    pub fn day(&mut self, name: &str) -> Day {
        let node = self.node(name);
        self.with_day(node, Day::clone)
    }

    /// The heads of the day's document on a device, sorted (empty when down).
    pub fn heads(&self, node: usize) -> Vec<ChangeHash> {
        let Some(running) = &self.nodes[node].running else {
            return Vec::new();
        };
        let machine = running.machine.borrow();
        let mut heads = machine
            .core
            .document(&self.day_name)
            .map(Automerge::get_heads)
            .unwrap_or_default();
        heads.sort();
        heads
    }

    // ---- the network ----

    /// Splits the office into groups that cannot reach each other (devices not named
    /// stay in the first group). Connections across groups are not closed: their
    /// frames wait until the cores give up on the silent peer.
    pub fn partition(&mut self, groups: &[&[&str]]) {
        self.groups.iter_mut().for_each(|g| *g = 0);
        for (group, members) in groups.iter().enumerate() {
            for name in *members {
                let node = self.node(name);
                self.groups[node] = group;
            }
        }
        let text: Vec<String> = groups.iter().map(|g| g.join(", ")).collect();
        self.say(format!("the LAN splits: [{}]", text.join("] | [")));
    }

    /// Splits the office by group numbers per node index.
    pub fn partition_by_index(&mut self, groups: &[usize]) {
        self.groups = groups.to_vec();
        self.groups.resize(self.nodes.len(), 0);
        let mut text = Vec::new();
        for group in 0..=self.groups.iter().copied().max().unwrap_or(0) {
            let members: Vec<&str> = (0..self.nodes.len())
                .filter(|n| self.groups[*n] == group)
                .map(|n| self.nodes[n].name.as_str())
                .collect();
            if !members.is_empty() {
                text.push(members.join(", "));
            }
        }
        self.say(format!("the LAN splits: [{}]", text.join("] | [")));
    }

    /// Every device can reach every other again, in both directions.
    pub fn heal(&mut self) {
        self.groups.iter_mut().for_each(|g| *g = 0);
        self.down.clear();
        self.say("the LAN heals: every link works both ways");
    }

    /// The direction `from` → `to` fails; the other direction keeps working.
    pub fn cut_one_way(&mut self, from: &str, to: &str) {
        let (a, b) = (self.node(from), self.node(to));
        self.cut_one_way_by_index(a, b);
    }

    pub fn cut_one_way_by_index(&mut self, from: usize, to: usize) {
        self.down.insert((from, to));
        let line = format!(
            "the link from {} to {} fails one way",
            self.nodes[from].name, self.nodes[to].name
        );
        self.say(line);
    }

    /// A failed direction works again.
    pub fn repair_one_way_by_index(&mut self, from: usize, to: usize) {
        if self.down.remove(&(from, to)) {
            let line = format!(
                "the link from {} to {} works again",
                self.nodes[from].name, self.nodes[to].name
            );
            self.say(line);
        }
    }

    /// Failed directions, `(from, to)`.
    pub fn failed_directions(&self) -> Vec<(usize, usize)> {
        self.down.iter().copied().collect()
    }

    /// Whether a frame from `from` can reach `to` now.
    pub fn passable(&self, from: usize, to: usize) -> bool {
        self.is_up(from)
            && self.is_up(to)
            && self.groups[from] == self.groups[to]
            && !self.down.contains(&(from, to))
    }

    /// Whether the two devices have a live connection.
    pub fn is_connected(&self, a: usize, b: usize) -> bool {
        self.connections.iter().any(|c| {
            let (x, y) = (c.ends[0].0, c.ends[1].0);
            (x, y) == (a, b) || (x, y) == (b, a)
        })
    }

    pub fn connection_count(&self) -> usize {
        self.connections.len()
    }

    /// Opens a connection between two devices if the link carries a handshake both
    /// ways and they have none; returns whether it did.
    pub fn connect(&mut self, a: usize, b: usize) -> bool {
        if a == b || !self.passable(a, b) || !self.passable(b, a) || self.is_connected(a, b) {
            return false;
        }
        let ca = ConnectionId(self.next_connection);
        let cb = ConnectionId(self.next_connection + 1);
        self.next_connection += 2;
        self.connections.push(Connection {
            ends: [(a, ca), (b, cb)],
            queues: [VecDeque::new(), VecDeque::new()],
        });
        let na = self.peer_id(a);
        let nb = self.peer_id(b);
        self.input(
            a,
            Input::Connected {
                connection: ca,
                certified_node: Some(nb),
            },
        );
        self.input(
            b,
            Input::Connected {
                connection: cb,
                certified_node: Some(na),
            },
        );
        true
    }

    /// Connects every pair that can connect and has no connection.
    pub fn connect_all(&mut self) {
        for a in 0..self.nodes.len() {
            for b in a + 1..self.nodes.len() {
                self.connect(a, b);
            }
        }
    }

    /// Each pair that could connect does so with probability `p` (the shell's
    /// reconnect with back-off).
    pub fn reconnect_some(&mut self, p: f64) {
        for a in 0..self.nodes.len() {
            for b in a + 1..self.nodes.len() {
                if self.passable(a, b)
                    && self.passable(b, a)
                    && !self.is_connected(a, b)
                    && self.rng.random_bool(p)
                {
                    self.connect(a, b);
                }
            }
        }
    }

    /// Drops a connection as a lost packet would end a TCP stream: frames in flight
    /// are gone; each end learns of it at once or, with probability `silent`, only
    /// when its core notices the silence.
    pub fn drop_connection(&mut self, index: usize, silent: f64) {
        if index >= self.connections.len() {
            return;
        }
        let connection = self.connections.remove(index);
        let [(a, _), (b, _)] = connection.ends;
        let line = format!(
            "the connection between {} and {} breaks",
            self.nodes[a].name, self.nodes[b].name
        );
        self.say(line);
        for (node, id) in connection.ends {
            if self.rng.random_bool(silent) {
                self.zombies.insert((node, id));
            } else {
                self.input(node, Input::Disconnected { connection: id });
            }
        }
    }

    /// Delivers one frame from a random connection direction that can carry one;
    /// false when none can.
    pub fn deliver_one(&mut self) -> bool {
        self.deliver_one_sent_before(None)
    }

    /// Delivers until nothing more can be delivered now.
    pub fn deliver_all(&mut self) {
        for _ in 0..MAX_DELIVERIES {
            if !self.deliver_one() {
                return;
            }
        }
        self.fail(format!(
            "the LAN is livelocked: {MAX_DELIVERIES} frames without an end"
        ));
    }

    /// Delivers up to `count` frames.
    pub fn deliver_some(&mut self, count: usize) {
        for _ in 0..count {
            if !self.deliver_one() {
                return;
            }
        }
    }

    /// Lets time pass: frames older than [`MAX_LATENCY`] arrive first, then every
    /// running core ticks (heartbeats, silence checks).
    pub fn advance(&mut self, by: Duration) {
        let then = self.now + by;
        let overdue = then.saturating_sub(MAX_LATENCY);
        for _ in 0..MAX_DELIVERIES {
            if !self.deliver_one_sent_before(Some(overdue)) {
                break;
            }
        }
        self.now = then;
        for node in 0..self.nodes.len() {
            self.input(node, Input::Tick);
        }
    }

    /// Connects, delivers everything and lets time pass until the LAN is quiet: nothing
    /// in flight, no half-dead session, every pair that can connect connected. Does not
    /// heal partitions or restart devices; [`Lan::heal`] and [`Lan::restart_all`] do.
    pub fn settle(&mut self) {
        for _ in 0..MAX_SETTLE_ROUNDS {
            self.connect_all();
            self.deliver_all();
            if self.is_quiet() {
                return;
            }
            self.advance(Duration::from_secs(1));
        }
        self.fail(format!(
            "the LAN did not settle within {MAX_SETTLE_ROUNDS} s: {} connections, {} frames waiting, {} half-dead sessions",
            self.connections.len(),
            self.frames_waiting(),
            self.zombies.len()
        ))
    }

    fn is_quiet(&self) -> bool {
        if !self.zombies.is_empty() || self.frames_waiting() > 0 {
            return false;
        }
        (0..self.nodes.len()).all(|a| {
            (a + 1..self.nodes.len())
                .all(|b| self.is_connected(a, b) || !self.passable(a, b) || !self.passable(b, a))
        })
    }

    fn frames_waiting(&self) -> usize {
        self.connections
            .iter()
            .map(|c| c.queues[0].len() + c.queues[1].len())
            .sum()
    }

    // ---- crashes ----

    /// The device loses power: its core, sessions, cached days and clock are gone, a
    /// random prefix of its unflushed writes survives, its peers learn of it at once
    /// (the kernel resets the connections) or by silence.
    pub fn crash(&mut self, name: &str) {
        let node = self.node(name);
        let kept = {
            let buffered = self.nodes[node].disk.borrow().buffered_writes();
            self.rng.random_range(0..=buffered)
        };
        self.crash_keeping(node, kept);
    }

    /// The device's disk fills up: local actions fail without a trace, changes from
    /// peers are not stored.
    pub fn fill_disk(&mut self, name: &str) {
        let node = self.node(name);
        self.nodes[node].disk.borrow_mut().set_full(true);
        self.say(format!("the disk of {name} is full"));
    }

    /// Frees space on every full disk.
    pub fn free_disks(&mut self) {
        for node in 0..self.nodes.len() {
            let freed = {
                let mut disk = self.nodes[node].disk.borrow_mut();
                let was_full = disk.is_full();
                disk.set_full(false);
                was_full
            };
            if freed {
                let line = format!("the disk of {} has space again", self.nodes[node].name);
                self.say(line);
            }
        }
    }

    /// Writes of the device that a crash could lose now.
    pub fn unflushed_writes(&self, node: usize) -> usize {
        self.nodes[node].disk.borrow().buffered_writes()
    }

    /// A crash after which exactly `kept` unflushed writes reached the disk.
    pub fn crash_keeping(&mut self, node: usize, kept: usize) {
        if !self.is_up(node) {
            return;
        }
        let buffered = self.nodes[node].disk.borrow().buffered_writes();
        self.nodes[node].running = None;
        self.nodes[node].disk.borrow_mut().crash(kept);
        self.zombies.retain(|(n, _)| *n != node);
        let mut index = 0;
        while index < self.connections.len() {
            let ends = self.connections[index].ends;
            let Some(side) = ends.iter().position(|(n, _)| *n == node) else {
                index += 1;
                continue;
            };
            self.connections.remove(index);
            let (other, id) = ends[1 - side];
            if self.rng.random_bool(0.5) {
                self.input(other, Input::Disconnected { connection: id });
            } else {
                self.zombies.insert((other, id));
            }
        }
        let line = format!(
            "{} crashes ({kept} of {buffered} unflushed writes reach the disk)",
            self.nodes[node].name
        );
        self.say(line);
    }

    /// The device starts again from its disk; checks at once that everything it had
    /// acknowledged is back.
    pub fn restart(&mut self, name: &str) {
        let node = self.node(name);
        self.restart_by_index(node);
    }

    pub fn restart_by_index(&mut self, node: usize) {
        if self.is_up(node) {
            return;
        }
        self.restart_unchecked(node);
        self.check_acknowledged_on(node);
    }

    /// Restarts a device without checking what came back — for stories about what a
    /// device does after it lost something.
    pub fn restart_unchecked(&mut self, node: usize) {
        if self.is_up(node) {
            return;
        }
        self.nodes[node].incarnation += 1;
        self.boot(node);
        let line = format!(
            "{} restarts from its disk (incarnation {})",
            self.nodes[node].name, self.nodes[node].incarnation
        );
        self.say(line);
    }

    /// Restarts every crashed device.
    pub fn restart_all(&mut self) {
        for node in 0..self.nodes.len() {
            self.restart_by_index(node);
        }
    }

    // ---- plumbing ----

    fn narrated<T: Carries>(
        &mut self,
        who: &str,
        verb: &str,
        action: impl FnOnce(&mut Day, &OfficeConfig, Stamp) -> Result<T, ActionError>,
    ) -> Result<Event, OfficeError> {
        let node = self.node(who);
        let result = self.act(node, action).map(|o| o.event().clone());
        match &result {
            Ok(event) => self.say(format!("{who}: {}", describe(event))),
            Err(OfficeError::Action(error)) => {
                self.say(format!("{who} tries to {verb}: refused, {error}"));
            }
            Err(OfficeError::Store(error)) if self.nodes[node].disk.borrow().is_full() => {
                self.say(format!("{who} tries to {verb}: not stored, {error}"));
            }
            Err(error) => self.fail(format!("{who} could not {verb}: {error}")),
        }
        result
    }

    fn acknowledge(&mut self, node: usize, event: &Event) {
        let Event::Ticket {
            ticket,
            stamp,
            event,
        } = event
        else {
            if let Event::Desk { stamp, .. } = event {
                self.acknowledged.events.push((node, stamp.clone()));
            }
            return;
        };
        self.acknowledged.events.push((node, stamp.clone()));
        match event {
            TicketEvent::Issued { number, .. } => self.acknowledged.tickets.push(PrintedTicket {
                node: self.nodes[node].name.clone(),
                ticket: ticket.clone(),
                number: *number,
            }),
            TicketEvent::Called { desk } => self.acknowledged.calls.push(ShownCall {
                desk: desk.clone(),
                ticket: ticket.clone(),
                stamp: stamp.clone(),
            }),
            _ => {}
        }
    }

    fn peer_id(&self, node: usize) -> aufruf_sync::NodeId {
        match aufruf_sync::NodeId::new(self.nodes[node].name.clone()) {
            Ok(id) => id,
            Err(error) => self.fail(format!("{error}")),
        }
    }

    /// Builds the running state of a device from its disk.
    fn boot(&mut self, node: usize) {
        let name = self.nodes[node].name.clone();
        let office = match OfficeId::new(self.config.office.id.clone()) {
            Ok(office) => office,
            Err(error) => self.fail(format!("{error}")),
        };
        let identity = Identity {
            office,
            node: self.peer_id(node),
            role: self.nodes[node].role,
        };
        let mut core = Replicator::new(identity, self.limits.clone());
        // automerge picks a random actor for a new document; the simulation names it,
        // so a seed replays exactly. A new incarnation writes as a new actor.
        let actor = ActorId::from(format!("{name}#{}", self.nodes[node].incarnation).into_bytes());
        let disk = Rc::clone(&self.nodes[node].disk);
        {
            let disk = disk.borrow();
            for document in disk.document_names() {
                match disk.load(document, actor.clone()) {
                    Some(Ok(loaded)) => core.insert_document(document.clone(), loaded),
                    Some(Err(error)) => {
                        self.fail(format!("{name}: {document} does not load: {error}"))
                    }
                    None => {}
                }
            }
            for (peer, document, state) in disk.sync_states() {
                core.restore_sync_state(peer.clone(), document.clone(), state.clone());
            }
        }
        if !self.lazy_documents && core.document(&self.day_name).is_none() {
            core.insert_document(self.day_name.clone(), Automerge::new().with_actor(actor));
        }
        let machine = Rc::new(RefCell::new(Machine {
            core,
            now: self.now,
            outbox: Vec::new(),
        }));
        let documents = SimDocuments {
            machine: Rc::clone(&machine),
            disk,
        };
        let office = Office::new(
            self.config.clone(),
            documents,
            aufruf_model::NodeId::new(name.as_str()),
        );
        self.nodes[node].running = Some(Running { machine, office });
    }

    fn input(&mut self, node: usize, input: Input<'_>) {
        let now = self.now;
        let Some(running) = &self.nodes[node].running else {
            return;
        };
        let outputs = running.machine.borrow_mut().core.handle(now, input);
        self.route(node, outputs);
    }

    /// Carries out a core's outputs as the real shell (`aufruf_sync::Replica`) does.
    fn route(&mut self, node: usize, outputs: Vec<Output>) {
        for output in outputs {
            match output {
                Output::Send { connection, frame } => {
                    let now = self.now;
                    // Without a connection the transport is gone: the frame is lost.
                    if let Some((index, side)) = self.find(node, connection) {
                        self.connections[index].queues[side].push_back((now, frame));
                    }
                }
                Output::Close { connection, error } => {
                    if !matches!(error, SessionError::PeerSilent | SessionError::HelloTimeout) {
                        let line = format!("{}: {error}", self.nodes[node].name);
                        self.session_errors.push(line);
                    }
                    self.zombies.remove(&(node, connection));
                    if let Some((index, side)) = self.find(node, connection) {
                        let closed = self.connections.remove(index);
                        let (other, id) = closed.ends[1 - side];
                        if self.passable(node, other) {
                            self.input(other, Input::Disconnected { connection: id });
                        } else {
                            self.zombies.insert((other, id));
                        }
                    }
                }
                Output::DocumentChanged { name, chunk } | Output::ChangesQueued { name, chunk } => {
                    self.nodes[node]
                        .disk
                        .borrow_mut()
                        .append_buffered(&name, chunk);
                }
                Output::SyncStateChanged { peer, name, state } => {
                    self.nodes[node]
                        .disk
                        .borrow_mut()
                        .save_sync_state(peer, name, state);
                }
                Output::DocumentDamaged { name } => self.reload(node, name),
                Output::PeerReady { .. } | Output::DocumentAnnounced { .. } => {}
            }
        }
    }

    /// The shell's answer to a damaged document: reload it from the disk.
    fn reload(&mut self, node: usize, name: DocumentName) {
        let line = format!(
            "{}: {name} damaged by a sync message",
            self.nodes[node].name
        );
        self.incidents.push(line.clone());
        self.say(line);
        let actor = ActorId::from(
            format!(
                "{}#{}r{}",
                self.nodes[node].name,
                self.nodes[node].incarnation,
                self.incidents.len()
            )
            .into_bytes(),
        );
        let reloaded = match self.nodes[node].disk.borrow().load(&name, actor.clone()) {
            Some(Ok(document)) => document,
            _ => Automerge::new().with_actor(actor),
        };
        let now = self.now;
        let Some(running) = &self.nodes[node].running else {
            return;
        };
        let outputs = running
            .machine
            .borrow_mut()
            .core
            .restore_document(now, name, reloaded);
        self.route(node, outputs);
    }

    fn find(&self, node: usize, connection: ConnectionId) -> Option<(usize, usize)> {
        self.connections.iter().enumerate().find_map(|(index, c)| {
            c.ends
                .iter()
                .position(|end| *end == (node, connection))
                .map(|side| (index, side))
        })
    }

    /// Delivers one frame (sent before `before`, if given) from a random connection
    /// direction that can carry it.
    fn deliver_one_sent_before(&mut self, before: Option<Duration>) -> bool {
        let mut ready = Vec::new();
        for (index, connection) in self.connections.iter().enumerate() {
            for side in 0..2 {
                let Some((sent, _)) = connection.queues[side].front() else {
                    continue;
                };
                let (from, to) = (connection.ends[side].0, connection.ends[1 - side].0);
                if before.is_none_or(|b| *sent <= b) && self.passable(from, to) {
                    ready.push((index, side));
                }
            }
        }
        if ready.is_empty() {
            return false;
        }
        let (index, side) = ready[self.rng.random_range(0..ready.len())];
        let connection = &mut self.connections[index];
        let Some((_, frame)) = connection.queues[side].pop_front() else {
            return false;
        };
        let (from, from_id) = connection.ends[side];
        let (to, to_id) = connection.ends[1 - side];
        self.frames_delivered += 1;
        self.input(
            from,
            Input::Sent {
                connection: from_id,
                bytes: frame.len(),
            },
        );
        self.input(
            to,
            Input::Frame {
                connection: to_id,
                bytes: &frame,
            },
        );
        true
    }
}

/// The ticket an event is about. Only used on the events of `issue`, `check_in` and
/// `call_next`, which the model always returns as ticket events; the empty id for
/// anything else would fail every later lookup loudly.
fn ticket_of(event: &Event) -> TicketId {
    match event {
        Event::Ticket { ticket, .. } => ticket.clone(),
        _ => TicketId::new(aufruf_model::NodeId::new(""), 0),
    }
}

fn describe(event: &Event) -> String {
    match event {
        Event::Ticket {
            ticket,
            stamp,
            event,
        } => match event {
            TicketEvent::Issued { number, .. } => {
                format!("prints {number} (ticket {ticket}) at {stamp:?}")
            }
            other => format!("{} {ticket} at {stamp:?}", other.name()),
        },
        Event::Desk { desk, stamp, event } => {
            let what = match event {
                DeskEvent::Opened { .. } => "opens",
                DeskEvent::Paused => "pauses",
                DeskEvent::Resumed => "resumes",
                DeskEvent::Closed => "closes",
            };
            format!("{what} {desk} at {stamp:?}")
        }
        Event::Booked(appointment) => format!("booking {}", appointment.code),
    }
}
