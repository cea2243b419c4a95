//! Crashes, restarts and disks: what a device loses when its power goes, how it comes
//! back from its disk, and a disk that is full.

use std::collections::BTreeMap;
use std::rc::Rc;
use std::sync::Arc;

use aufruf_office::Office;
use aufruf_sync::protocol::Identity;
use aufruf_sync::{DocumentName, Replica};
use automerge::ActorId;
use rand::Rng;

use super::Lan;
use super::device::{Running, SimDocuments};
use crate::disk::{SimStore, lock};

impl Lan {
    /// The device loses power: its core, sessions, cached days and clock are gone, a
    /// random prefix of its unflushed writes survives, its peers learn of it at once
    /// (the kernel resets the connections) or by silence.
    pub fn crash(&mut self, name: &str) {
        let node = self.node(name);
        let kept = {
            let buffered = lock(&self.nodes()[node].disk).buffered_writes();
            self.rng().random_range(0..=buffered)
        };
        self.crash_keeping(node, kept);
    }

    /// The device's disk fills up: local actions fail without a trace, changes from
    /// peers are not stored.
    pub fn fill_disk(&mut self, name: &str) {
        let node = self.node(name);
        lock(&self.nodes()[node].disk).set_full(true);
        self.say(format!("the disk of {name} is full"));
    }

    /// Frees space on every full disk.
    pub fn free_disks(&mut self) {
        for node in 0..self.nodes().len() {
            let freed = {
                let mut disk = lock(&self.nodes()[node].disk);
                let was_full = disk.is_full();
                disk.set_full(false);
                was_full
            };
            if freed {
                let line = format!("the disk of {} has space again", self.nodes()[node].name);
                self.say(line);
            }
        }
    }

    /// Writes of the device that a crash could lose now.
    pub fn unflushed_writes(&self, node: usize) -> usize {
        lock(&self.nodes()[node].disk).buffered_writes()
    }

    /// A crash after which exactly `kept` unflushed writes reached the disk.
    pub fn crash_keeping(&mut self, node: usize, kept: usize) {
        if !self.is_up(node) {
            return;
        }
        let buffered = lock(&self.nodes()[node].disk).buffered_writes();
        // The crash first: the replica's flush when it is dropped must come too late.
        lock(&self.nodes()[node].disk).crash(kept);
        self.net.nodes_mut()[node].running = None;
        // The kernel resets half of the connections; the peers notice the rest by
        // silence.
        self.unplug(node, 0.5);
        let line = format!(
            "{} crashes ({kept} of {buffered} unflushed writes reach the disk)",
            self.nodes()[node].name
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
        self.net.nodes_mut()[node].incarnation += 1;
        self.boot(node);
        let line = format!(
            "{} restarts from its disk (incarnation {})",
            self.nodes()[node].name,
            self.nodes()[node].incarnation
        );
        self.say(line);
    }

    /// Restarts every crashed device.
    pub fn restart_all(&mut self) {
        for node in 0..self.nodes().len() {
            self.restart_by_index(node);
        }
    }

    /// The test certificates of every device of the office.
    pub(super) fn roster(&self) -> aufruf_office::authority::Roster {
        use aufruf_office::authority::{Authority, FINGERPRINT_DIGITS, Signer};
        let mut roster = aufruf_office::authority::Roster::default();
        // The gateway's bookings reach the office through any device.
        let gateway = (
            aufruf_model::node_id!("gateway"),
            aufruf_model::Role::Gateway,
        );
        let devices = self.nodes().iter().map(|d| (d.name.clone(), d.role));
        for (name, role) in devices.chain([gateway]) {
            let signer = aufruf_office::testing::TestSigner::new(&name, role);
            let short = &signer.fingerprint()[..FINGERPRINT_DIGITS];
            roster.learn(
                short,
                aufruf_office::testing::TestAuthority.certificate(signer.certificate_der()),
            );
        }
        roster
    }

    /// Builds the running state of a device from its disk.
    pub(super) fn boot(&mut self, node: usize) {
        let name = self.nodes()[node].name.clone();
        let identity = Identity {
            office: self.config.office.id.clone(),
            node: self.nodes()[node].name.clone(),
            role: self.nodes()[node].role,
        };
        // The simulation names every actor, so a seed replays exactly: documents on
        // the disk load as `<device>#<incarnation>`, documents this boot creates as
        // `<device>#<incarnation>/<document>`. A new incarnation writes as new actors.
        let incarnation = self.nodes()[node].incarnation;
        let actor = ActorId::from(format!("{name}#{incarnation}").into_bytes());
        let prefix = format!("{name}#{incarnation}");
        let new_actor = move |document: &DocumentName| {
            ActorId::from(format!("{prefix}/{document}").into_bytes())
        };
        let disk = Arc::clone(&self.nodes()[node].disk);
        if !self.lazy_documents {
            lock(&disk).format(&self.day_name);
        }
        let store = SimStore::boot(&disk, actor);
        let replica = match Replica::with_clock_and_actors(
            store,
            identity,
            self.limits.clone(),
            self.clock().clone(),
            new_actor,
        ) {
            Ok(replica) => Rc::new(replica),
            Err(error) => self.fail(format!("{name}: the disk does not load: {error}")),
        };
        // As the node's wiring does: day documents beyond the booking horizon are not
        // taken from peers.
        replica.accept_days_until(self.last_day_accepted());
        let documents = SimDocuments {
            replica: Rc::clone(&replica),
        };
        let keys = aufruf_office::testing::test_keys(&name, self.nodes()[node].role);
        let mut office = Office::new(self.config.clone(), documents, name, keys);
        // Every device's certificate, as the office document would hold it.
        office.set_roster(self.roster());
        self.net.nodes_mut()[node].running = Some(Running {
            replica,
            office,
            outlets: BTreeMap::new(),
        });
        self.give_wall_clock(node);
    }
}
