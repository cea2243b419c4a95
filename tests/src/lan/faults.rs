//! Crashes, restarts and disks: what a device loses when its power goes, how it comes
//! back from its disk, a disk that is full, and a disk that is lost and replaced by a
//! new one (whose store has to catch up before the device issues anything).

use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;
use std::sync::{Arc, Mutex};

use aufruf_office::{Office, day_doc};
use aufruf_sync::protocol::Identity;
use aufruf_sync::{CatchUp, DocumentName, Incarnation, Replica};
use automerge::ActorId;
use rand::Rng;

use super::Lan;
use super::device::{EventId, Running, SimDocuments};
use crate::disk::{Disk, SimStore, lock};

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
                // Its next tick tries again what the full disk refused (the record
                // of having caught up, say); a settle ticks only devices with work.
                self.input(node, aufruf_sync::protocol::Input::Tick);
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
        self.net.nodes_mut()[node].boots += 1;
        self.boot(node);
        let line = format!(
            "{} restarts from its disk (boot {})",
            self.nodes()[node].name,
            self.nodes()[node].boots
        );
        self.say(line);
    }

    /// The device loses its whole disk — a replaced disk, or a store set aside as
    /// unreadable — and starts again on a new, empty one: its store has a new
    /// incarnation and has to catch up with the office before the device issues,
    /// checks in or calls anything. What the device acknowledged comes back from its
    /// peers; anything on no other device's disk is gone with the disk (see
    /// [`Lan::held_elsewhere`]).
    pub fn lose_disk(&mut self, name: &str) {
        let node = self.node(name);
        if self.is_up(node) {
            self.crash_keeping(node, 0);
        }
        let events = self.acknowledged().events.len();
        let device = &mut self.net.nodes_mut()[node];
        device.disks += 1;
        device.disk_since = events;
        let disk = Disk::new(Incarnation::new(device.disks), CatchUp::Pending);
        // Handles of the old disk's boots write to the old disk, which is gone.
        device.disk = Arc::new(Mutex::new(disk));
        let line = format!("{name} loses its whole disk; a new, empty one is put in");
        self.say(line);
        self.restart_unchecked(node);
    }

    /// Whether every event the device ever acknowledged is on the disk of every other
    /// device, and no device is catching up: then losing the device's disk loses
    /// nothing, and whichever device it catches up from holds all of its tickets.
    /// (Events on no other disk are gone with a lost disk, and a device that catches
    /// up from one that still catches up itself may miss its own earlier tickets.)
    pub fn held_elsewhere(&self, node: usize) -> bool {
        let mine = self.acknowledged_by(node);
        let roster = self.roster();
        let document_name = self.day_name.to_string();
        let seals = aufruf_office::replicated::day_seals(
            &roster,
            &aufruf_office::testing::TestAuthority,
            &document_name,
            self.date,
            None,
        );
        (0..self.nodes().len()).all(|other| {
            let disk = lock(&self.nodes()[other].disk);
            if disk.catch_up().is_pending() {
                return false;
            }
            if other == node || mine.is_empty() {
                return true;
            }
            // Only read, never written: any actor does.
            let reader = ActorId::from(b"reader".as_slice());
            let known: BTreeSet<EventId> = match disk.load(&self.day_name, reader) {
                Some(Ok(document)) => day_doc::read_day(&document, &seals)
                    .map(|read| super::checks::event_ids(&read.day))
                    .unwrap_or_default(),
                _ => BTreeSet::new(),
            };
            mine.iter().all(|event| known.contains(*event))
        })
    }

    /// An operator states that the device is the office's only one: its new store
    /// issues without having caught up. Returns whether it was catching up.
    pub fn declare_only_device(&mut self, name: &str) -> bool {
        let node = self.node(name);
        let Some(running) = &self.nodes()[node].running else {
            self.fail(format!("{name} is down; nobody can state anything to it"))
        };
        let declared = match running.replica.declare_only_device() {
            Ok(declared) => declared,
            Err(error) => self.fail(format!("{name}: the statement was not stored: {error}")),
        };
        self.say(format!(
            "an operator states that {name} is the office's only device"
        ));
        declared
    }

    /// Whether the device's store still catches up (and the device acts on no day).
    pub fn catching_up(&self, name: &str) -> bool {
        let node = self.node(name);
        lock(&self.nodes()[node].disk).catch_up().is_pending()
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
        // the disk load as `<device>#<boot>`, documents this boot creates as
        // `<device>#<boot>/<document>`. A new boot writes as new actors.
        let boot = self.nodes()[node].boots;
        let actor = ActorId::from(format!("{name}#{boot}").into_bytes());
        let prefix = format!("{name}#{boot}");
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
