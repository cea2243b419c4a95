//! The simulated network, the one every simulation here runs on: what runs at each of
//! its ends is an [`Endpoint`] — a whole office device on the real replica shell
//! ([`lan::Node`](crate::lan::Node)) or a bare protocol core
//! ([`cores::Core`](crate::cores::Core)).
//!
//! Between every pair of endpoints the network has a link whose two directions can fail
//! independently (one-way links), plus a partition into groups. Over a link runs at
//! most one connection, modelled like TCP: frames arrive in order within a connection
//! (the automerge sync protocol needs that), while the network picks at random which
//! connection delivers next. A lost message is a dropped connection — an end learns of
//! it at once (a reset) or only when its core notices the silence. Frames that a failed
//! direction cannot carry wait (TCP retransmits) until the direction returns or a core
//! gives up on the silent peer. A frame on a working direction arrives within
//! [`MAX_LATENCY`] of simulated time.
//!
//! Time moves only when the test says so ([`Network::advance`], [`Network::elapse`]);
//! everything random comes from one seeded generator, and every fault is narrated in
//! the story, whose tail a failure prints, so a seed replays exactly.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use aufruf_sync::Clock;
use aufruf_sync::NodeId;
use aufruf_sync::protocol::frame::Frame;
use aufruf_sync::protocol::{ConnectionId, Input, SessionError};
use aufruf_sync::replica::Outgoing;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// A frame on a working direction arrives at most this long after it was sent.
pub const MAX_LATENCY: Duration = Duration::from_millis(300);

/// Frames [`Network::deliver_all`] delivers before it calls the network livelocked.
const MAX_DELIVERIES: usize = 500_000;

/// Rounds of one simulated second [`Network::settle`] waits before it gives up.
const MAX_SETTLE_ROUNDS: usize = 120;

/// Lines of the story a failure prints.
const STORY_TAIL: usize = 60;

/// What runs at one end of the network: it is told what the transport did and that
/// time passed, and hands back what it wants sent or closed.
pub trait Endpoint {
    /// The node id its certificate names; the peer's end is told it on connecting.
    fn id(&self) -> &NodeId;

    /// Whether it runs; one that is down neither sends nor receives.
    fn is_up(&self) -> bool;

    /// A connection to `peer` is up (TCP and TLS done): this end's id for it, or `None`
    /// when the endpoint is down.
    fn connect(&mut self, now: Duration, peer: &NodeId) -> Option<ConnectionId>;

    /// A frame arrived, a frame was written, a connection went away, or time passed
    /// (`Input::Tick`). Connections come up through [`Endpoint::connect`] only.
    fn input(&mut self, now: Duration, input: Input<'_>);

    /// What it queued since it was last asked, per connection: frames to carry and
    /// sessions it ended.
    fn take_outgoing(&mut self) -> Vec<(ConnectionId, Outgoing)>;

    /// Whether its next tick has nothing to do beyond heartbeats (no catch-up round to
    /// start, no heads to tell): the network is quiet only when every end is idle.
    fn is_idle(&self) -> bool;
}

/// The network's time, as every replica on it reads it; only the network moves it.
#[derive(Debug, Clone, Default)]
pub struct SimClock(Arc<AtomicU64>);

impl SimClock {
    fn set(&self, now: Duration) {
        let nanos = u64::try_from(now.as_nanos()).unwrap_or(u64::MAX);
        self.0.store(nanos, Ordering::SeqCst);
    }
}

impl Clock for SimClock {
    fn now(&self) -> Duration {
        Duration::from_nanos(self.0.load(Ordering::SeqCst))
    }
}

/// A frame handed from one end to the other.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Delivery {
    pub from: usize,
    pub to: usize,
    /// The frame's length in bytes.
    pub bytes: usize,
}

#[derive(Debug)]
struct Connection {
    ends: [(usize, ConnectionId); 2],
    /// `queues[d]`: frames from `ends[d]` to the other end, with their send time.
    queues: [VecDeque<(Duration, Vec<u8>)>; 2],
}

/// The network and its endpoints. See the module docs.
#[derive(Debug)]
pub struct Network<E> {
    seed: u64,
    rng: StdRng,
    now: Duration,
    clock: SimClock,
    nodes: Vec<E>,
    connections: Vec<Connection>,
    /// Connection ends whose transport is gone but whose endpoint has not noticed
    /// yet, with the node at the other end.
    zombies: BTreeMap<(usize, ConnectionId), usize>,
    groups: Vec<usize>,
    /// Failed directions `(from, to)`.
    down: BTreeSet<(usize, usize)>,
    story: Vec<String>,
    /// Every session an endpoint ended, with the reason.
    closes: Vec<(usize, SessionError)>,
    frames_delivered: u64,
    /// Frames other than heartbeats the endpoints handed to the network.
    frames_sent: usize,
    /// Frames sent so far by kind (the frame's first byte), heartbeats included.
    frames_by_kind: std::collections::BTreeMap<u8, usize>,
    heartbeat: Vec<u8>,
}

impl<E: Endpoint> Network<E> {
    /// An empty network whose randomness all comes from `seed`.
    pub fn new(seed: u64) -> Self {
        Network {
            seed,
            rng: StdRng::seed_from_u64(seed),
            now: Duration::ZERO,
            clock: SimClock::default(),
            nodes: Vec::new(),
            connections: Vec::new(),
            zombies: BTreeMap::new(),
            groups: Vec::new(),
            down: BTreeSet::new(),
            story: Vec::new(),
            closes: Vec::new(),
            frames_delivered: 0,
            frames_sent: 0,
            frames_by_kind: std::collections::BTreeMap::new(),
            heartbeat: Frame::Heartbeat.encode(),
        }
    }

    /// Plugs an endpoint in (into the first group); returns its index.
    pub fn add(&mut self, endpoint: E) -> usize {
        self.nodes.push(endpoint);
        self.groups.push(0);
        self.nodes.len() - 1
    }

    // ---- who, what, when ----

    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// The index of the endpoint with this node id.
    pub fn node(&self, name: &str) -> usize {
        match self.nodes.iter().position(|n| n.id().as_str() == name) {
            Some(node) => node,
            None => panic!("no device {name} on this network"),
        }
    }

    pub fn nodes(&self) -> &[E] {
        &self.nodes
    }

    pub fn nodes_mut(&mut self) -> &mut [E] {
        &mut self.nodes
    }

    pub fn is_up(&self, node: usize) -> bool {
        self.nodes[node].is_up()
    }

    /// The network's time since the simulation started.
    pub fn now(&self) -> Duration {
        self.now
    }

    /// The network's time for replicas to read.
    pub fn clock(&self) -> &SimClock {
        &self.clock
    }

    pub fn rng(&mut self) -> &mut StdRng {
        &mut self.rng
    }

    pub fn frames_delivered(&self) -> u64 {
        self.frames_delivered
    }

    /// Frames other than heartbeats the endpoints have sent so far (also those lost).
    pub fn frames_sent(&self) -> usize {
        self.frames_sent
    }

    /// Frames of one kind (the frame's first byte) sent so far (also those lost).
    pub fn frames_of_kind(&self, kind: u8) -> usize {
        self.frames_by_kind.get(&kind).copied().unwrap_or(0)
    }

    /// Every session an endpoint ended so far, as `<node>: <reason>`.
    pub fn closes(&self) -> Vec<String> {
        self.closes
            .iter()
            .map(|(node, error)| format!("{}: {error}", self.nodes[*node].id()))
            .collect()
    }

    /// Takes the record of every session an endpoint ended so far (node, reason): for
    /// a story whose attacks end sessions on purpose, before it checks the rest.
    pub fn take_closes(&mut self) -> Vec<(usize, SessionError)> {
        std::mem::take(&mut self.closes)
    }

    /// Sessions that ended for a reason other than silence.
    pub fn session_errors(&self) -> Vec<String> {
        self.closes
            .iter()
            .filter(|(_, error)| {
                !matches!(error, SessionError::PeerSilent | SessionError::HelloTimeout)
            })
            .map(|(node, error)| format!("{}: {error}", self.nodes[*node].id()))
            .collect()
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

    // ---- links, partitions and connections ----

    /// Splits the network into groups that cannot reach each other (endpoints not
    /// named stay in the first group). Connections across groups are not closed: their
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

    /// Splits the network by group numbers per node index.
    pub fn partition_by_index(&mut self, groups: &[usize]) {
        self.groups = groups.to_vec();
        self.groups.resize(self.nodes.len(), 0);
        let mut text = Vec::new();
        for group in 0..=self.groups.iter().copied().max().unwrap_or(0) {
            let members: Vec<&str> = (0..self.nodes.len())
                .filter(|n| self.groups[*n] == group)
                .map(|n| self.nodes[n].id().as_str())
                .collect();
            if !members.is_empty() {
                text.push(members.join(", "));
            }
        }
        self.say(format!("the LAN splits: [{}]", text.join("] | [")));
    }

    /// Every endpoint can reach every other again, in both directions.
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
            self.nodes[from].id(),
            self.nodes[to].id()
        );
        self.say(line);
    }

    /// A failed direction works again.
    pub fn repair_one_way_by_index(&mut self, from: usize, to: usize) {
        if self.down.remove(&(from, to)) {
            let line = format!(
                "the link from {} to {} works again",
                self.nodes[from].id(),
                self.nodes[to].id()
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

    /// Whether the two endpoints have a live connection.
    pub fn is_connected(&self, a: usize, b: usize) -> bool {
        self.connections.iter().any(|c| {
            let (x, y) = (c.ends[0].0, c.ends[1].0);
            (x, y) == (a, b) || (x, y) == (b, a)
        })
    }

    /// Whether a connection between the two broke and at least one end has not
    /// noticed yet.
    pub fn has_unnoticed_break(&self, a: usize, b: usize) -> bool {
        self.zombies
            .iter()
            .any(|(&(node, _), &other)| (node, other) == (a, b) || (node, other) == (b, a))
    }

    pub fn connection_count(&self) -> usize {
        self.connections.len()
    }

    /// Opens a connection between two endpoints if the link carries a handshake both
    /// ways and they have none; returns whether it did.
    pub fn connect(&mut self, a: usize, b: usize) -> bool {
        if a == b || !self.passable(a, b) || !self.passable(b, a) || self.is_connected(a, b) {
            return false;
        }
        let na = self.nodes[a].id().clone();
        let nb = self.nodes[b].id().clone();
        let now = self.now;
        let Some(ca) = self.nodes[a].connect(now, &nb) else {
            return false;
        };
        let Some(cb) = self.nodes[b].connect(now, &na) else {
            return false;
        };
        self.connections.push(Connection {
            ends: [(a, ca), (b, cb)],
            queues: [VecDeque::new(), VecDeque::new()],
        });
        self.carry(a);
        self.carry(b);
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
            self.nodes[a].id(),
            self.nodes[b].id()
        );
        self.say(line);
        for (side, (node, id)) in connection.ends.into_iter().enumerate() {
            if self.rng.random_bool(silent) {
                self.zombies.insert((node, id), connection.ends[1 - side].0);
            } else {
                self.input(node, Input::Disconnected { connection: id });
            }
        }
    }

    /// Drops the connection between two endpoints, if they have one (see
    /// [`Network::drop_connection`]).
    pub fn drop_connection_between(&mut self, a: usize, b: usize, silent: f64) {
        let index = self.connections.iter().position(|c| {
            let (x, y) = (c.ends[0].0, c.ends[1].0);
            (x, y) == (a, b) || (x, y) == (b, a)
        });
        if let Some(index) = index {
            self.drop_connection(index, silent);
        }
    }

    /// An endpoint went down: its connections vanish with it; each peer learns of it
    /// at once with probability `reset` (the kernel resets the connection), or else by
    /// silence.
    pub fn unplug(&mut self, node: usize, reset: f64) {
        self.zombies.retain(|(n, _), _| *n != node);
        let mut index = 0;
        while index < self.connections.len() {
            let ends = self.connections[index].ends;
            let Some(side) = ends.iter().position(|(n, _)| *n == node) else {
                index += 1;
                continue;
            };
            self.connections.remove(index);
            let (other, id) = ends[1 - side];
            if self.rng.random_bool(reset) {
                self.input(other, Input::Disconnected { connection: id });
            } else {
                self.zombies.insert((other, id), node);
            }
        }
    }

    // ---- delivery and time ----

    /// Delivers one frame from a random connection direction that can carry one;
    /// false when none can.
    pub fn deliver_one(&mut self) -> bool {
        self.deliver_next().is_some()
    }

    /// Like [`Network::deliver_one`], telling what it delivered.
    pub fn deliver_next(&mut self) -> Option<Delivery> {
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
            if self.deliver_one_sent_before(Some(overdue)).is_none() {
                break;
            }
        }
        self.elapse(by);
        self.tick_all();
    }

    /// Lets `duration` pass in steps of 100 ms, each a tick of every endpoint followed
    /// by the delivery of everything deliverable.
    pub fn run_for(&mut self, duration: Duration) {
        let end = self.now + duration;
        while self.now < end {
            self.advance(Duration::from_millis(100));
            self.deliver_all();
        }
    }

    /// Time passes without anyone being told: no tick, no delivery.
    pub fn elapse(&mut self, by: Duration) {
        self.now += by;
        self.clock.set(self.now);
    }

    /// Every endpoint ticks (heartbeats, silence checks, catching peers up).
    pub fn tick_all(&mut self) {
        for node in 0..self.nodes.len() {
            self.input(node, Input::Tick);
        }
    }

    /// Connects, delivers everything and lets time pass until the network is quiet
    /// (nothing in flight, no half-dead session, every pair that can connect
    /// connected) and idle: no end would start a catch-up round or tell its heads at
    /// its next tick — say, one that heard heads it lacks just after it ticked. Such
    /// ends tick at once, without time passing, so what a settle leaves unflushed
    /// stays unflushed. Does not heal partitions or restart endpoints.
    pub fn settle(&mut self) {
        for _ in 0..MAX_SETTLE_ROUNDS {
            self.connect_all();
            self.deliver_all();
            if self.is_quiet() {
                if self.is_idle() {
                    return;
                }
                self.tick_all();
                continue;
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

    /// Whether every running end's next tick has no catch-up to do.
    pub fn is_idle(&self) -> bool {
        self.nodes.iter().all(|n| !n.is_up() || n.is_idle())
    }

    /// Nothing in flight, no half-dead session, every pair that can connect connected.
    pub fn is_quiet(&self) -> bool {
        if !self.zombies.is_empty() || self.frames_waiting() > 0 {
            return false;
        }
        (0..self.nodes.len()).all(|a| {
            (a + 1..self.nodes.len())
                .all(|b| self.is_connected(a, b) || !self.passable(a, b) || !self.passable(b, a))
        })
    }

    pub fn frames_waiting(&self) -> usize {
        self.connections
            .iter()
            .map(|c| c.queues[0].len() + c.queues[1].len())
            .sum()
    }

    // ---- plumbing ----

    /// Tells an endpoint what happened and carries what it queued.
    pub fn input(&mut self, node: usize, input: Input<'_>) {
        if !self.nodes[node].is_up() {
            return;
        }
        let now = self.now;
        self.nodes[node].input(now, input);
        self.carry(node);
    }

    /// Puts any bytes on the wire from `from` to `to`, behind what `from` sent before,
    /// as a certified peer that speaks the protocol as it likes can: the attacks'
    /// way in. False when the two have no connection.
    pub fn send_raw(&mut self, from: usize, to: usize, frame: Vec<u8>) -> bool {
        let now = self.now;
        let found = self.connections.iter_mut().find_map(|c| {
            let side = c.ends.iter().position(|(node, _)| *node == from)?;
            (c.ends[1 - side].0 == to).then_some((c, side))
        });
        match found {
            Some((connection, side)) => {
                connection.queues[side].push_back((now, frame));
                true
            }
            None => false,
        }
    }

    /// Lets an endpoint act (a local change, say) and carries what it queued.
    pub fn act<R>(&mut self, node: usize, action: impl FnOnce(&mut E, Duration) -> R) -> R {
        let now = self.now;
        let result = action(&mut self.nodes[node], now);
        self.carry(node);
        result
    }

    /// Carries what an endpoint queued on its connections: frames onto the wire,
    /// closes to the other end.
    pub fn carry(&mut self, node: usize) {
        for (connection, message) in self.nodes[node].take_outgoing() {
            match message {
                Outgoing::Frame(frame) => {
                    if frame != self.heartbeat {
                        self.frames_sent += 1;
                    }
                    if let Some(kind) = frame.first() {
                        *self.frames_by_kind.entry(*kind).or_default() += 1;
                    }
                    let now = self.now;
                    // Without a connection the transport is gone: the frame is lost.
                    if let Some((index, side)) = self.find(node, connection) {
                        self.connections[index].queues[side].push_back((now, frame));
                    }
                }
                Outgoing::Close(error) => self.close(node, connection, error),
            }
        }
    }

    /// An endpoint ended a session: the connection goes, and the other end learns of
    /// it at once if the link lets the reset through.
    fn close(&mut self, node: usize, connection: ConnectionId, error: SessionError) {
        self.closes.push((node, error));
        self.zombies.remove(&(node, connection));
        if let Some((index, side)) = self.find(node, connection) {
            let closed = self.connections.remove(index);
            let (other, id) = closed.ends[1 - side];
            if self.passable(node, other) {
                self.input(other, Input::Disconnected { connection: id });
            } else {
                self.zombies.insert((other, id), node);
            }
        }
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
    fn deliver_one_sent_before(&mut self, before: Option<Duration>) -> Option<Delivery> {
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
            return None;
        }
        let (index, side) = ready[self.rng.random_range(0..ready.len())];
        let connection = &mut self.connections[index];
        let (_, frame) = connection.queues[side].pop_front()?;
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
        Some(Delivery {
            from,
            to,
            bytes: frame.len(),
        })
    }
}
