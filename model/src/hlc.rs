//! Hybrid logical clocks: every event carries a stamp that orders it after everything
//! its node had seen, even when wall clocks of devices disagree by minutes.
//!
//! A stamp is `(wall ms, counter, node)`; the node breaks ties, so stamps of different
//! nodes never compare equal and every replica sorts events the same way.
//!
//! A clock follows peers' stamps only up to a bound ahead of its own wall clock
//! ([`HlcClock::observe_within`]): one device whose clock runs a day ahead must not
//! drag every other device's stamps into tomorrow.

use std::fmt;
use std::time::Duration;

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

    /// The next time after this one: the counter one up, or the next millisecond when
    /// the counter is spent; `None` at the end of time.
    pub fn next(self) -> Option<Hlc> {
        match (self.counter.checked_add(1), self.wall_ms.checked_add(1)) {
            (Some(counter), _) => Some(Hlc::new(self.wall_ms, counter)),
            (None, Some(wall_ms)) => Some(Hlc::new(wall_ms, 0)),
            (None, None) => None,
        }
    }

    /// The latest time a clock whose wall clock reads `now` follows: `bound` ahead of
    /// it. Stamps after this come from a clock that runs too far ahead.
    pub fn followed_until(now: Timestamp, bound: Duration) -> Hlc {
        let bound_ms = u64::try_from(bound.as_millis()).unwrap_or(u64::MAX);
        Hlc::new(now.0.saturating_add(bound_ms), u32::MAX)
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

    /// Like [`Self::observe`], unless `seen` is more than `bound` ahead of `now`, this
    /// node's wall clock: such a stamp comes from a clock that runs ahead, and
    /// following it would stamp this node's events in the future too. Returns whether
    /// the stamp was followed.
    pub fn observe_within(&mut self, seen: Hlc, now: Timestamp, bound: Duration) -> bool {
        if seen > Hlc::followed_until(now, bound) {
            return false;
        }
        self.observe(seen);
        true
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
    fn a_peer_stamp_beyond_the_bound_is_not_followed() {
        let bound = Duration::from_secs(300);
        let now = Timestamp(10 * 60_000);
        let mut clock = HlcClock::new(node_id!("desk-1"));
        let a_day_ahead = Hlc::new(now.0 + 24 * 3_600_000, 0);
        assert!(!clock.observe_within(a_day_ahead, now, bound));
        assert!(!clock.observe_within(Hlc::new(u64::MAX, u32::MAX), now, bound));
        let stamp = clock.tick(now);
        assert_eq!(stamp.hlc, Hlc::new(now.0, 0));
        // Within the bound a fast peer is followed as ever.
        let four_minutes_ahead = Hlc::new(now.0 + 4 * 60_000, 3);
        assert!(clock.observe_within(four_minutes_ahead, now, bound));
        assert!(clock.tick(now).hlc > four_minutes_ahead);
    }

    #[test]
    fn the_next_time_runs_out_only_at_the_end_of_time() {
        assert_eq!(Hlc::new(5, 1).next(), Some(Hlc::new(5, 2)));
        assert_eq!(Hlc::new(5, u32::MAX).next(), Some(Hlc::new(6, 0)));
        assert_eq!(Hlc::new(u64::MAX, u32::MAX).next(), None);
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
