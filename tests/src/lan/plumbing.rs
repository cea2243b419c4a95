//! The plumbing between the devices: inputs into a core and its outputs carried out
//! as the real shell (`aufruf_sync::Replica`) does — frames onto connections, closes,
//! writes to the disk, reloads of damaged documents.

use aufruf_sync::DocumentName;
use aufruf_sync::protocol::{Input, Output, SessionError};
use automerge::{ActorId, Automerge};

use super::Lan;

impl Lan {
    pub(super) fn peer_id(&self, node: usize) -> aufruf_sync::NodeId {
        match aufruf_sync::NodeId::new(self.nodes[node].name.clone()) {
            Ok(id) => id,
            Err(error) => self.fail(format!("{error}")),
        }
    }

    pub(super) fn input(&mut self, node: usize, input: Input<'_>) {
        let now = self.now;
        let Some(running) = &self.nodes[node].running else {
            return;
        };
        let outputs = running.machine.borrow_mut().core.handle(now, input);
        self.route(node, outputs);
    }

    /// Carries out a core's outputs as the real shell (`aufruf_sync::Replica`) does.
    pub(super) fn route(&mut self, node: usize, outputs: Vec<Output>) {
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
    pub(super) fn reload(&mut self, node: usize, name: DocumentName) {
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
}
