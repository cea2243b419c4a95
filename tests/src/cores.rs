//! Bare protocol cores on the simulated network: each [`Core`] is one node's sans-IO
//! `Replicator` of `aufruf-sync-protocol` and nothing else — no store, no office — so
//! the protocol's own promises (convergence, relays, heartbeats, sending a day once)
//! are tested on the same [`Network`] the office's devices run on.
//!
//! A ticket here is just a key at a document's root: the protocol does not care what
//! the documents say.

use std::time::Duration;

use aufruf_sync::protocol::{
    ConnectionId, DocumentName, Identity, Input, Limits, NodeId, OfficeId, Output, Replicator, Role,
};
use aufruf_sync::replica::Outgoing;
use automerge::transaction::Transactable;
use automerge::{ROOT, ReadDoc};
use rand::Rng;

use crate::network::{Endpoint, Network};

/// One node's protocol core, fed by the network.
#[derive(Debug)]
pub struct Core {
    id: NodeId,
    core: Replicator,
    next_connection: u64,
    outbox: Vec<(ConnectionId, Outgoing)>,
}

impl Core {
    /// A desk of the office `zeitz` with a small send budget, so back-pressure is
    /// exercised by ordinary syncs.
    pub fn new(name: &str) -> Self {
        let (id, office) = match (NodeId::new(name), OfficeId::new("zeitz")) {
            (Ok(id), Ok(office)) => (id, office),
            (Err(error), _) | (_, Err(error)) => panic!("{error}"),
        };
        let identity = Identity {
            office,
            node: id.clone(),
            role: Role::Desk,
        };
        let limits = Limits {
            send_budget: 4 * 1024,
            ..Limits::default()
        };
        Core {
            id,
            core: Replicator::new(identity, limits),
            next_connection: 1,
            outbox: Vec::new(),
        }
    }

    pub fn replicator(&self) -> &Replicator {
        &self.core
    }

    /// Issues a walk-in ticket: one key per ticket at the document's root (a nested
    /// `tickets` map created concurrently on two nodes would conflict; the office
    /// model creates such maps once, in the document's first change).
    pub fn issue(&mut self, now: Duration, day: &DocumentName, ticket: &str) {
        let changed = self.core.change(now, day, |tx| {
            tx.put(ROOT, ticket, "issued")?;
            Ok::<_, automerge::AutomergeError>(())
        });
        match changed {
            Ok(changed) => self.keep(changed.outputs),
            Err(error) => panic!("{}: {ticket} not issued: {error:?}", self.id),
        }
    }

    /// The tickets of a day, in key order.
    pub fn tickets(&self, day: &DocumentName) -> Vec<String> {
        match self.core.document(day) {
            Some(doc) => doc.keys(ROOT).collect(),
            None => Vec::new(),
        }
    }

    /// Sends and closes go to the network; what the core asks a store to do is of no
    /// concern here.
    fn keep(&mut self, outputs: Vec<Output>) {
        for output in outputs {
            match output {
                Output::Send { connection, frame } => {
                    self.outbox.push((connection, Outgoing::Frame(frame)));
                }
                Output::Close { connection, error } => {
                    self.outbox.push((connection, Outgoing::Close(error)));
                }
                _ => {}
            }
        }
    }
}

impl Endpoint for Core {
    fn id(&self) -> &NodeId {
        &self.id
    }

    fn is_up(&self) -> bool {
        true
    }

    fn connect(&mut self, now: Duration, peer: &NodeId) -> Option<ConnectionId> {
        let connection = ConnectionId(self.next_connection);
        self.next_connection += 1;
        self.input(
            now,
            Input::Connected {
                connection,
                certified_node: Some(peer.clone()),
            },
        );
        Some(connection)
    }

    fn input(&mut self, now: Duration, input: Input<'_>) {
        let outputs = self.core.handle(now, input);
        self.keep(outputs);
    }

    fn take_outgoing(&mut self) -> Vec<(ConnectionId, Outgoing)> {
        std::mem::take(&mut self.outbox)
    }

    fn is_idle(&self) -> bool {
        self.core.is_idle()
    }
}

/// Protocol cores on the network, and what their tests do with them.
impl Network<Core> {
    /// A network of cores with these names.
    pub fn of_cores(seed: u64, names: &[&str]) -> Self {
        let mut net = Network::new(seed);
        for name in names {
            net.add(Core::new(name));
        }
        net
    }

    /// A node issues a ticket on a day and the network carries what that sends.
    pub fn issue(&mut self, node: usize, day: &DocumentName, ticket: &str) {
        self.act(node, |core, now| core.issue(now, day, ticket));
    }

    pub fn tickets(&self, node: usize, day: &DocumentName) -> Vec<String> {
        self.nodes()[node].tickets(day)
    }

    /// One random step of a day's work: deliveries, time passing, occasional local
    /// changes on a random day and connections lost (both ends told).
    pub fn random_step(&mut self, days: &[DocumentName], tickets: &mut usize) {
        let pause = Duration::from_millis(self.rng().random_range(0..20));
        self.elapse(pause);
        match self.rng().random_range(0..100) {
            0..=69 => {
                self.deliver_one();
            }
            70..=84 => {
                let count = self.nodes().len();
                let node = self.rng().random_range(0..count);
                self.random_ticket(node, days, tickets);
            }
            85..=89 => {
                let count = self.connection_count();
                if count > 0 {
                    let index = self.rng().random_range(0..count);
                    self.drop_connection(index, 0.0);
                }
            }
            90..=94 => self.connect_all(),
            _ => self.tick_all(),
        }
    }

    /// A node issues the next ticket on a random one of `days`.
    pub fn random_ticket(&mut self, node: usize, days: &[DocumentName], tickets: &mut usize) {
        let day = days[self.rng().random_range(0..days.len())].clone();
        *tickets += 1;
        let ticket = format!("{}-{tickets}", self.nodes()[node].id());
        self.issue(node, &day, &ticket);
    }

    /// Every node has the same documents with the same heads.
    pub fn assert_converged(&self) {
        let reference = self.nodes()[0].replicator();
        let names: Vec<_> = reference.document_names().cloned().collect();
        for node in &self.nodes()[1..] {
            let theirs: Vec<_> = node.replicator().document_names().cloned().collect();
            if theirs != names {
                self.fail(format!(
                    "{}: documents differ: {theirs:?}, not {names:?}",
                    node.id()
                ));
            }
            for name in &names {
                let heads = |core: &Replicator| {
                    let mut heads = core
                        .document(name)
                        .map(|doc| doc.get_heads())
                        .unwrap_or_default();
                    heads.sort();
                    heads
                };
                if heads(reference) != heads(node.replicator()) {
                    self.fail(format!("{}: heads of {name} differ", node.id()));
                }
            }
        }
    }
}
