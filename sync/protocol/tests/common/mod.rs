//! A simulated office LAN for the sans-IO core: nodes, links that carry frames in
//! order (like TCP) and can be cut (losing what is in flight), partitions and heals,
//! all driven by one seeded random generator so every run can be replayed.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)] // test harness

use std::collections::VecDeque;
use std::time::Duration;

use aufruf_sync_protocol::{ConnectionId, Identity, Input, Limits, Output, Replicator};
use aufruf_sync_protocol::{DocumentName, NodeId, OfficeId, Role};
use automerge::transaction::Transactable;
use automerge::{ROOT, ReadDoc};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

pub fn office() -> OfficeId {
    OfficeId::new("zeitz").unwrap()
}

pub fn identity(node: &str) -> Identity {
    Identity {
        office: office(),
        node: NodeId::new(node).unwrap(),
        role: Role::Desk,
    }
}

/// Issues a walk-in ticket on a node: one key per ticket at the document's root
/// (a nested `tickets` map created concurrently on two nodes would conflict; the
/// office model creates such maps once, in the document's first change).
pub fn issue_ticket(
    core: &mut Replicator,
    now: Duration,
    day: &DocumentName,
    ticket: &str,
) -> Vec<Output> {
    core.change(now, day, |tx| {
        tx.put(ROOT, ticket, "issued")?;
        Ok::<_, automerge::AutomergeError>(())
    })
    .unwrap()
    .outputs
}

pub struct Node {
    pub name: String,
    pub core: Replicator,
    pub changed_by_sync: usize,
}

struct Link {
    ends: [(usize, ConnectionId); 2],
    /// A pulled cable that nobody noticed: frames vanish, no disconnect is seen.
    black_hole: bool,
    /// Frames in flight from `ends[0]` to `ends[1]` and back.
    in_flight: [VecDeque<Vec<u8>>; 2],
}

pub struct Lan {
    pub seed: u64,
    pub rng: StdRng,
    pub now: Duration,
    pub nodes: Vec<Node>,
    links: Vec<Link>,
    next_connection: u64,
    /// Group of each node; links only form within a group.
    groups: Vec<usize>,
    pub closed_with_error: Vec<String>,
    /// Frames other than heartbeats handed to links so far.
    pub sync_frames: usize,
    /// Frames handed to links so far, by kind (the frame's first byte).
    pub frames_by_kind: std::collections::BTreeMap<u8, usize>,
}

impl Lan {
    pub fn new(seed: u64) -> Self {
        Lan {
            seed,
            rng: StdRng::seed_from_u64(seed),
            now: Duration::ZERO,
            nodes: Vec::new(),
            links: Vec::new(),
            next_connection: 1,
            groups: Vec::new(),
            closed_with_error: Vec::new(),
            sync_frames: 0,
            frames_by_kind: std::collections::BTreeMap::new(),
        }
    }

    pub fn add_node(&mut self, name: &str) -> usize {
        let limits = Limits {
            // Small, so back-pressure is exercised by ordinary syncs.
            send_budget: 4 * 1024,
            ..Limits::default()
        };
        self.nodes.push(Node {
            name: name.to_owned(),
            core: Replicator::new(identity(name), limits),
            changed_by_sync: 0,
        });
        self.groups.push(0);
        self.nodes.len() - 1
    }

    pub fn is_linked(&self, a: usize, b: usize) -> bool {
        self.links.iter().any(|link| {
            let (x, y) = (link.ends[0].0, link.ends[1].0);
            (x, y) == (a, b) || (x, y) == (b, a)
        })
    }

    pub fn connect(&mut self, a: usize, b: usize) {
        let ca = ConnectionId(self.next_connection);
        let cb = ConnectionId(self.next_connection + 1);
        self.next_connection += 2;
        self.links.push(Link {
            ends: [(a, ca), (b, cb)],
            black_hole: false,
            in_flight: [VecDeque::new(), VecDeque::new()],
        });
        let na = NodeId::new(&self.nodes[a].name).unwrap();
        let nb = NodeId::new(&self.nodes[b].name).unwrap();
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
    }

    /// Cuts a link: both ends learn of it, frames in flight are lost.
    fn cut(&mut self, index: usize) {
        let link = self.links.remove(index);
        for (node, connection) in link.ends {
            self.input(node, Input::Disconnected { connection });
        }
    }

    pub fn partition(&mut self, groups: &[&[usize]]) {
        for (group, members) in groups.iter().enumerate() {
            for node in *members {
                self.groups[*node] = group;
            }
        }
        let mut index = 0;
        while index < self.links.len() {
            let [(a, _), (b, _)] = self.links[index].ends;
            if self.groups[a] != self.groups[b] {
                self.cut(index);
            } else {
                index += 1;
            }
        }
    }

    /// Frames between `a` and `b` vanish from now on, without either noticing.
    pub fn black_hole(&mut self, a: usize, b: usize) {
        for link in &mut self.links {
            let (x, y) = (link.ends[0].0, link.ends[1].0);
            if (x, y) == (a, b) || (x, y) == (b, a) {
                link.black_hole = true;
                link.in_flight = [VecDeque::new(), VecDeque::new()];
            }
        }
    }

    /// Lets `duration` pass in steps of 100 ms, ticking every node each step and
    /// delivering what is in flight.
    pub fn advance(&mut self, duration: Duration) {
        let end = self.now + duration;
        while self.now < end {
            self.now += Duration::from_millis(100);
            self.tick_all();
            while self.deliver_one() {}
        }
    }

    pub fn heal(&mut self) {
        self.groups.iter_mut().for_each(|g| *g = 0);
    }

    /// Links every pair of nodes in the same group that has no link.
    pub fn connect_all(&mut self) {
        for a in 0..self.nodes.len() {
            for b in a + 1..self.nodes.len() {
                if self.groups[a] == self.groups[b] && !self.is_linked(a, b) {
                    self.connect(a, b);
                }
            }
        }
    }

    pub fn input(&mut self, node: usize, input: Input<'_>) {
        let outputs = self.nodes[node].core.handle(self.now, input);
        self.route(node, outputs);
    }

    pub fn route(&mut self, node: usize, outputs: Vec<Output>) {
        for output in outputs {
            match output {
                Output::Send { connection, frame } => {
                    if let Some(link) = self
                        .links
                        .iter_mut()
                        .find(|link| link.ends.contains(&(node, connection)))
                    {
                        if frame.first() != Some(&4) {
                            self.sync_frames += 1;
                        }
                        if let Some(kind) = frame.first() {
                            *self.frames_by_kind.entry(*kind).or_default() += 1;
                        }
                        let direction = usize::from(link.ends[0] != (node, connection));
                        if !link.black_hole {
                            link.in_flight[direction].push_back(frame);
                        }
                    }
                }
                Output::Close { connection, error } => {
                    self.closed_with_error
                        .push(format!("{}: {error}", self.nodes[node].name));
                    if let Some(index) = self
                        .links
                        .iter()
                        .position(|link| link.ends.contains(&(node, connection)))
                    {
                        let link = self.links.remove(index);
                        for (other, other_connection) in link.ends {
                            if other != node {
                                self.input(
                                    other,
                                    Input::Disconnected {
                                        connection: other_connection,
                                    },
                                );
                            }
                        }
                    }
                }
                Output::DocumentChanged { .. } => self.nodes[node].changed_by_sync += 1,
                _ => {}
            }
        }
    }

    /// Delivers one frame from a random busy link direction; false when all idle.
    pub fn deliver_one(&mut self) -> bool {
        self.deliver_one_traced().is_some()
    }

    /// Like [`deliver_one`](Self::deliver_one), returning the sender and the frame.
    pub fn deliver_one_traced(&mut self) -> Option<(usize, Vec<u8>)> {
        let busy: Vec<(usize, usize)> = self
            .links
            .iter()
            .enumerate()
            .flat_map(|(i, link)| {
                (0..2)
                    .filter(move |d| !link.in_flight[*d].is_empty())
                    .map(move |d| (i, d))
            })
            .collect();
        if busy.is_empty() {
            return None;
        }
        let (index, direction) = busy[self.rng.random_range(0..busy.len())];
        let link = &mut self.links[index];
        let frame = link.in_flight[direction].pop_front()?;
        let (from, from_connection) = link.ends[direction];
        let (to, to_connection) = link.ends[1 - direction];
        self.input(
            from,
            Input::Sent {
                connection: from_connection,
                bytes: frame.len(),
            },
        );
        self.input(
            to,
            Input::Frame {
                connection: to_connection,
                bytes: &frame,
            },
        );
        Some((from, frame))
    }

    pub fn tick_all(&mut self) {
        for node in 0..self.nodes.len() {
            self.input(node, Input::Tick);
        }
    }

    /// One random step of a day's work: deliveries, time passing, occasional local
    /// changes and lost connections.
    pub fn step(&mut self, days: &[DocumentName], ticket_counter: &mut usize) {
        self.now += Duration::from_millis(self.rng.random_range(0..20));
        match self.rng.random_range(0..100) {
            0..=69 => {
                self.deliver_one();
            }
            70..=84 => {
                let node = self.rng.random_range(0..self.nodes.len());
                let day = days[self.rng.random_range(0..days.len())].clone();
                *ticket_counter += 1;
                let ticket = format!("{}-{}", self.nodes[node].name, ticket_counter);
                let outputs = issue_ticket(&mut self.nodes[node].core, self.now, &day, &ticket);
                self.route(node, outputs);
            }
            85..=89 => {
                if !self.links.is_empty() {
                    let index = self.rng.random_range(0..self.links.len());
                    self.cut(index);
                }
            }
            90..=94 => self.connect_all(),
            _ => self.tick_all(),
        }
    }

    /// Connects everyone reachable, then delivers and ticks until a tick sends
    /// nothing but heartbeats and nothing is in flight.
    pub fn settle(&mut self) {
        self.connect_all();
        for _ in 0..1_000 {
            for _ in 0..200_000 {
                if !self.deliver_one() {
                    break;
                }
            }
            let before = self.sync_frames;
            self.now += Duration::from_millis(100);
            self.tick_all();
            if self.sync_frames == before {
                // Deliver the heartbeats, which answer nothing.
                while self.deliver_one() {}
                return;
            }
        }
        panic!("seed {}: did not settle", self.seed);
    }

    pub fn tickets(&self, node: usize, day: &DocumentName) -> Vec<String> {
        let Some(doc) = self.nodes[node].core.document(day) else {
            return Vec::new();
        };
        doc.keys(ROOT).collect()
    }

    /// Every node has the same documents with the same heads.
    pub fn assert_converged(&self) {
        let reference = &self.nodes[0].core;
        let names: Vec<_> = reference.document_names().cloned().collect();
        for node in &self.nodes[1..] {
            let theirs: Vec<_> = node.core.document_names().cloned().collect();
            assert_eq!(
                theirs, names,
                "seed {}: {} documents differ",
                self.seed, node.name
            );
            for name in &names {
                let mut ours = reference.document(name).unwrap().get_heads();
                let mut other = node.core.document(name).unwrap().get_heads();
                ours.sort();
                other.sort();
                assert_eq!(
                    ours, other,
                    "seed {}: {} heads of {name} differ",
                    self.seed, node.name
                );
            }
        }
    }
}
