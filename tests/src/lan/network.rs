//! The network between the devices: links and their failed directions, partitions,
//! connections with their frames in flight, delivery in random order, and time.

use std::collections::VecDeque;
use std::rc::Rc;
use std::time::Duration;

use aufruf_sync::protocol::{ConnectionId, Input};
use rand::Rng;

use super::Lan;

/// A frame on a working direction arrives at most this long after it was sent.
pub const MAX_LATENCY: Duration = Duration::from_millis(300);

/// Frames [`Lan::deliver_all`] delivers before it calls the LAN livelocked.
const MAX_DELIVERIES: usize = 500_000;

/// Rounds of one simulated second [`Lan::settle`] waits before it gives up.
const MAX_SETTLE_ROUNDS: usize = 120;

#[derive(Debug)]
pub(super) struct Connection {
    pub(super) ends: [(usize, ConnectionId); 2],
    /// `queues[d]`: frames from `ends[d]` to the other end, with their send time.
    pub(super) queues: [VecDeque<(Duration, Vec<u8>)>; 2],
}

impl Lan {
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
        let na = self.peer_id(a);
        let nb = self.peer_id(b);
        let (Some(ra), Some(rb)) = (&self.nodes[a].running, &self.nodes[b].running) else {
            return false;
        };
        let (ra, rb) = (Rc::clone(&ra.replica), Rc::clone(&rb.replica));
        let (ca, outlet_a) = ra.connect(Some(nb));
        let (cb, outlet_b) = rb.connect(Some(na));
        self.connections.push(Connection {
            ends: [(a, ca), (b, cb)],
            queues: [VecDeque::new(), VecDeque::new()],
        });
        for (node, connection, outlet) in [(a, ca, outlet_a), (b, cb, outlet_b)] {
            if let Some(running) = self.nodes[node].running.as_mut() {
                running.outlets.insert(connection, outlet);
            }
        }
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
        self.clock.set(then);
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

    pub(super) fn is_quiet(&self) -> bool {
        if !self.zombies.is_empty() || self.frames_waiting() > 0 {
            return false;
        }
        (0..self.nodes.len()).all(|a| {
            (a + 1..self.nodes.len())
                .all(|b| self.is_connected(a, b) || !self.passable(a, b) || !self.passable(b, a))
        })
    }

    pub(super) fn frames_waiting(&self) -> usize {
        self.connections
            .iter()
            .map(|c| c.queues[0].len() + c.queues[1].len())
            .sum()
    }

    pub(super) fn find(&self, node: usize, connection: ConnectionId) -> Option<(usize, usize)> {
        self.connections.iter().enumerate().find_map(|(index, c)| {
            c.ends
                .iter()
                .position(|end| *end == (node, connection))
                .map(|side| (index, side))
        })
    }

    /// Delivers one frame (sent before `before`, if given) from a random connection
    /// direction that can carry it.
    pub(super) fn deliver_one_sent_before(&mut self, before: Option<Duration>) -> bool {
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
