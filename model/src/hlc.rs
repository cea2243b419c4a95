//! Hybrid logical clocks: every event carries a stamp that orders it after everything
//! its node had seen, even when wall clocks of devices disagree by minutes.
//!
//! A stamp is `(wall ms, counter, node)`; the node breaks ties, so stamps of different
//! nodes never compare equal and every replica sorts events the same way.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::ids::NodeId;
use crate::time::Timestamp;

/// A hybrid logical time: physical milliseconds plus a logical counter.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize)]
pub struct Hlc {
    pub wall_ms: u64,
    pub counter: u32,
}

impl Hlc {
    pub const fn new(wall_ms: u64, counter: u32) -> Self {
        Self { wall_ms, counter }
    }

    /// The wall-clock part, for display and statistics only.
    pub fn wall(self) -> Timestamp {
        Timestamp(self.wall_ms)
    }
}

impl fmt::Debug for Hlc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.wall_ms, self.counter)
    }
}

/// Who did something and when, in an order every replica agrees on.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Stamp {
    pub hlc: Hlc,
    pub node: NodeId,
}

impl Stamp {
    pub fn new(hlc: Hlc, node: NodeId) -> Self {
        Self { hlc, node }
    }
}

impl fmt::Debug for Stamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}@{}", self.hlc, self.node)
    }
}

/// One node's clock. `now` is the node's wall clock, read by the caller.
#[derive(Debug, Clone)]
pub struct HlcClock {
    node: NodeId,
    last: Hlc,
}

impl HlcClock {
    pub fn new(node: NodeId) -> Self {
        Self {
            node,
            last: Hlc::default(),
        }
    }

    pub fn node(&self) -> &NodeId {
        &self.node
    }

    /// The latest time this clock has issued or observed.
    pub fn last(&self) -> Hlc {
        self.last
    }

    /// A fresh stamp for a local event, later than every stamp issued or observed.
    pub fn tick(&mut self, now: Timestamp) -> Stamp {
        self.last = if now.0 > self.last.wall_ms {
            Hlc::new(now.0, 0)
        } else {
            Hlc::new(self.last.wall_ms, self.last.counter.saturating_add(1))
        };
        Stamp::new(self.last, self.node.clone())
    }

    /// Takes note of a stamp received from a peer so later local stamps order after it.
    pub fn observe(&mut self, seen: Hlc) {
        if seen > self.last {
            self.last = seen;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aufruf_names::node_id;

    #[test]
    fn stamps_increase_even_when_the_wall_clock_goes_back() {
        let mut clock = HlcClock::new(node_id!("kiosk-1"));
        let a = clock.tick(Timestamp(1_000));
        let b = clock.tick(Timestamp(900));
        let c = clock.tick(Timestamp(1_000));
        assert!(a < b && b < c, "{a:?} {b:?} {c:?}");
    }

    #[test]
    fn a_stamp_after_observing_a_peer_orders_after_the_peers_stamp() {
        let mut fast = HlcClock::new(node_id!("desk-1"));
        let mut slow = HlcClock::new(node_id!("desk-2"));
        let from_fast = fast.tick(Timestamp(10 * 60_000));
        slow.observe(from_fast.hlc);
        let reply = slow.tick(Timestamp(60_000));
        assert!(reply > from_fast);
    }
}
