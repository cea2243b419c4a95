//! Whether this node's wall clock can be trusted, judged against its peers' clocks.
//!
//! Every stamp a node writes and every "now" its queue policy uses come from its wall
//! clock. A kiosk whose clock runs a day ahead would write its tickets into tomorrow's
//! document; a desk whose clock runs an hour behind would make every walk-in look
//! fresh. The peers tell each other their wall clocks (the sync protocol's `clock`
//! frame); a node whose clock is more than the office's bound
//! (`[clocks] bound_minutes`) off most of the peers it hears says so and issues no
//! tickets and calls no visitors until its clock is set right
//! ([`crate::ServiceError::ClockWrong`]). With no peer to compare with, a node trusts
//! its own clock.
//!
//! Two nodes alone whose clocks disagree cannot tell whose is wrong: both stop, and
//! both say why.

use std::fmt;
use std::time::Duration;

use aufruf_model::NodeId;
use serde::Serialize;

/// A peer's wall clock as this node sees it now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerClock {
    /// The peer.
    pub node: NodeId,
    /// How far the peer's wall clock is ahead of this node's, in milliseconds
    /// (negative: behind).
    pub ahead_ms: i64,
}

/// This node's wall clock compared with its peers'.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ClockCheck {
    /// Peers whose clock this node knows.
    pub compared: usize,
    /// Those of them whose clock is more than the bound off this node's.
    pub off: usize,
    /// How far this node's clock is ahead of its peers' (their median), in
    /// milliseconds; negative: behind. `None` with no peer to compare with.
    pub ahead_ms: Option<i64>,
    /// How far apart the office lets clocks be, in milliseconds.
    pub bound_ms: u64,
}

impl ClockCheck {
    /// Compares with `peers` under the office's `bound`.
    pub fn of(peers: &[PeerClock], bound: Duration) -> Self {
        let bound_ms = u64::try_from(bound.as_millis()).unwrap_or(u64::MAX);
        let off = peers
            .iter()
            .filter(|peer| peer.ahead_ms.unsigned_abs() > bound_ms)
            .count();
        let mut offsets: Vec<i64> = peers.iter().map(|peer| peer.ahead_ms).collect();
        offsets.sort_unstable();
        // The peers' median is ahead of this node by `median`, so this node is behind
        // by as much.
        let ahead_ms = offsets
            .get(offsets.len().saturating_sub(1) / 2)
            .map(|median| median.saturating_neg());
        ClockCheck {
            compared: peers.len(),
            off,
            ahead_ms,
            bound_ms,
        }
    }

    /// Most of the peers this node hears disagree with its clock by more than the
    /// bound: its own clock is the wrong one.
    pub fn is_wrong(&self) -> bool {
        self.off * 2 > self.compared
    }
}

impl fmt::Display for ClockCheck {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Some(ahead_ms) = self.ahead_ms else {
            return f.write_str("no peer's clock to compare with; this device trusts its own");
        };
        let direction = if ahead_ms >= 0 { "ahead of" } else { "behind" };
        write!(
            f,
            "this device's clock is {} {direction} its peers' ({} of {} are more than {} off)",
            span(ahead_ms.unsigned_abs()),
            self.off,
            self.compared,
            span(self.bound_ms),
        )
    }
}

/// A span of time in a person's words: "3 h 12 min", "4 min 30 s", "250 ms".
fn span(ms: u64) -> String {
    let seconds = ms / 1000;
    let (hours, minutes, seconds) = (seconds / 3600, seconds / 60 % 60, seconds % 60);
    match (hours, minutes, seconds) {
        (0, 0, 0) => format!("{ms} ms"),
        (0, 0, s) => format!("{s} s"),
        (0, m, 0) => format!("{m} min"),
        (0, m, s) => format!("{m} min {s} s"),
        (h, 0, _) => format!("{h} h"),
        (h, m, _) => format!("{h} h {m} min"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BOUND: Duration = Duration::from_secs(300);
    const DAY_MS: i64 = 24 * 3600 * 1000;

    fn peer(name: &'static str, ahead_ms: i64) -> PeerClock {
        PeerClock {
            node: NodeId::new(name).unwrap(),
            ahead_ms,
        }
    }

    #[test]
    fn a_node_a_day_ahead_of_all_its_peers_is_wrong_and_they_are_not() {
        let kiosk = ClockCheck::of(
            &[
                peer("desk-1", -DAY_MS),
                peer("desk-2", -DAY_MS + 2_000),
                peer("display", -DAY_MS - 1_000),
            ],
            BOUND,
        );
        assert!(kiosk.is_wrong());
        assert_eq!(kiosk.ahead_ms, Some(DAY_MS));
        assert_eq!(
            kiosk.to_string(),
            "this device's clock is 24 h ahead of its peers' (3 of 3 are more than 5 min off)"
        );
        // Seen from a desk: one peer of three is a day ahead.
        let desk = ClockCheck::of(
            &[
                peer("kiosk-1", DAY_MS),
                peer("desk-2", 2_000),
                peer("display", -1_000),
            ],
            BOUND,
        );
        assert!(!desk.is_wrong());
    }

    #[test]
    fn alone_a_node_trusts_its_clock_and_a_pair_that_disagrees_both_stop() {
        let alone = ClockCheck::of(&[], BOUND);
        assert!(!alone.is_wrong());
        assert_eq!(alone.ahead_ms, None);
        assert!(ClockCheck::of(&[peer("desk-1", 10 * 60_000)], BOUND).is_wrong());
        assert!(ClockCheck::of(&[peer("kiosk-1", -10 * 60_000)], BOUND).is_wrong());
        // Half of the peers is not most of them.
        assert!(!ClockCheck::of(&[peer("desk-1", DAY_MS), peer("desk-2", 0)], BOUND).is_wrong());
        // Within the bound is in agreement.
        assert!(!ClockCheck::of(&[peer("desk-1", 299_000)], BOUND).is_wrong());
    }

    #[test]
    fn spans_read_like_a_person_says_them() {
        assert_eq!(span(250), "250 ms");
        assert_eq!(span(4 * 60_000 + 30_000), "4 min 30 s");
        assert_eq!(span(3_600_000 + 12 * 60_000), "1 h 12 min");
        assert_eq!(span(300_000), "5 min");
    }
}
