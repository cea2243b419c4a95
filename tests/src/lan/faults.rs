//! Crashes, restarts and disks: what a device loses when its power goes, how it comes
//! back from its disk, and a disk that is full.

use std::cell::RefCell;
use std::rc::Rc;

use aufruf_office::Office;
use aufruf_sync::OfficeId;
use aufruf_sync::protocol::{Identity, Input, Replicator};
use automerge::{ActorId, Automerge};
use rand::Rng;

use super::Lan;
use super::device::{Machine, Running, SimDocuments};

impl Lan {
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

    /// Builds the running state of a device from its disk.
    pub(super) fn boot(&mut self, node: usize) {
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
}
