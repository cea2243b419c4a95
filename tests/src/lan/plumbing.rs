//! The plumbing between the devices: inputs into a device's replica
//! (`aufruf_sync::Replica`, which stores, reloads and answers by itself) and what it
//! queued on its connections carried over the LAN — frames onto connections, closes
//! to the other end.

use aufruf_sync::protocol::{ConnectionId, Input, SessionError};
use aufruf_sync::replica::Outgoing;

use super::Lan;

impl Lan {
    pub(super) fn peer_id(&self, node: usize) -> aufruf_sync::NodeId {
        self.nodes[node].name.clone()
    }

    /// Feeds an input to a device's replica and carries out what it queued.
    pub(super) fn input(&mut self, node: usize, input: Input<'_>) {
        let Some(running) = self.nodes[node].running.as_mut() else {
            return;
        };
        match input {
            Input::Frame { connection, bytes } => running.replica.receive(connection, bytes),
            Input::Sent { connection, bytes } => running.replica.sent(connection, bytes),
            Input::Disconnected { connection } => {
                running.replica.disconnect(connection);
                running.outlets.remove(&connection);
            }
            Input::Tick => running.replica.tick(),
            Input::Connected { .. } => {
                let name = self.nodes[node].name.clone();
                self.fail(format!("{name}: connections are opened by Lan::connect"))
            }
        }
        self.carry(node);
    }

    /// Carries what a device's replica queued on its connections: frames onto the
    /// wire, closes to the other end.
    pub(super) fn carry(&mut self, node: usize) {
        let Some(running) = self.nodes[node].running.as_mut() else {
            return;
        };
        let mut queued = Vec::new();
        for (connection, outlet) in &mut running.outlets {
            while let Ok(message) = outlet.try_recv() {
                queued.push((*connection, message));
            }
        }
        for (connection, message) in queued {
            match message {
                Outgoing::Frame(frame) => {
                    let now = self.now;
                    // Without a connection the transport is gone: the frame is lost.
                    if let Some((index, side)) = self.find(node, connection) {
                        self.connections[index].queues[side].push_back((now, frame));
                    }
                }
                Outgoing::Close(error) => self.close(node, connection, &error),
            }
        }
    }

    /// A device's replica ended a session: the connection goes, and the other end
    /// learns of it at once if the link lets the reset through.
    fn close(&mut self, node: usize, connection: ConnectionId, error: &SessionError) {
        if !matches!(error, SessionError::PeerSilent | SessionError::HelloTimeout) {
            let line = format!("{}: {error}", self.nodes[node].name);
            self.session_errors.push(line);
        }
        if let Some(running) = self.nodes[node].running.as_mut() {
            running.outlets.remove(&connection);
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
}
