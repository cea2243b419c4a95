//! The plumbing between a device and the network: a device is an
//! [`Endpoint`](crate::network::Endpoint) whose inputs go into its replica
//! (`aufruf_sync::Replica`, which stores, reloads and answers by itself) and whose
//! outgoing frames and closes are what the replica queued on its connections.

use std::time::Duration;

use aufruf_sync::NodeId;
use aufruf_sync::protocol::{ConnectionId, Input};
use aufruf_sync::replica::Outgoing;

use super::Node;
use crate::network::Endpoint;

impl Endpoint for Node {
    fn id(&self) -> &NodeId {
        &self.name
    }

    fn is_up(&self) -> bool {
        self.running.is_some()
    }

    /// The replica reads the network's clock itself, so `now` is not needed here.
    fn connect(&mut self, _now: Duration, peer: &NodeId) -> Option<ConnectionId> {
        let running = self.running.as_mut()?;
        let (connection, outlet) = running.replica.connect(Some(peer.clone()));
        running.outlets.insert(connection, outlet);
        Some(connection)
    }

    fn input(&mut self, _now: Duration, input: Input<'_>) {
        let Some(running) = self.running.as_mut() else {
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
                panic!("{}: connections are opened by Network::connect", self.name)
            }
        }
    }

    fn take_outgoing(&mut self) -> Vec<(ConnectionId, Outgoing)> {
        let Some(running) = self.running.as_mut() else {
            return Vec::new();
        };
        let mut queued = Vec::new();
        for (connection, outlet) in &mut running.outlets {
            while let Ok(message) = outlet.try_recv() {
                queued.push((*connection, message));
            }
        }
        // A session the replica ended has nothing more to say.
        for (connection, message) in &queued {
            if matches!(message, Outgoing::Close(_)) {
                running.outlets.remove(connection);
            }
        }
        queued
    }

    fn is_idle(&self) -> bool {
        self.running
            .as_ref()
            .is_none_or(|running| running.replica.is_idle())
    }
}
