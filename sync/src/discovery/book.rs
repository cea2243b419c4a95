//! The discovered addresses this node dials, and when it gives one up. Pure: the
//! caller passes the time and the nodes with a live session.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::FoundPeer;
use crate::name::NodeId;

/// What [`PeerBook`] asks the network to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PeerAction {
    /// Start dialling this address ([`Network::add_peer`](crate::net::Network::add_peer)).
    Dial(SocketAddr),
    /// Stop redialling it ([`Network::remove_peer`](crate::net::Network::remove_peer)).
    StopDialling(SocketAddr),
}

#[derive(Clone, Debug)]
struct Dialled {
    node: NodeId,
    /// Some instance still announces this address.
    announced: bool,
    /// Last time the node was found or seen with a live session.
    last_live: Instant,
}

/// The discovered addresses this node dials, and when to give one up.
///
/// Pure: the caller passes the time and the set of nodes with a live session.
#[derive(Clone, Debug)]
pub struct PeerBook {
    pub(super) forget_after: Duration,
    /// Current address of each announced instance.
    instances: BTreeMap<String, SocketAddr>,
    dialled: BTreeMap<SocketAddr, Dialled>,
}

impl PeerBook {
    /// An empty book that gives up an address after `forget_after` gone and dead.
    pub fn new(forget_after: Duration) -> Self {
        PeerBook {
            forget_after,
            instances: BTreeMap::new(),
            dialled: BTreeMap::new(),
        }
    }

    /// A peer was found (again); returns `Dial` if its address is new to the book
    /// and not a static peer.
    ///
    /// When the same node is now announced at another address (a better one
    /// appeared, or its address changed), the old address is replaced: `StopDialling`
    /// for it, unless it is a static peer or another instance still announces it.
    /// That is moving the node, not ending it: it is dialled at its new address.
    pub fn found(
        &mut self,
        peer: &FoundPeer,
        now: Instant,
        static_peers: &[SocketAddr],
    ) -> Vec<PeerAction> {
        let mut actions = Vec::new();
        let previous = self.instances.insert(peer.instance.clone(), peer.address);
        if let Some(old) = previous.filter(|old| *old != peer.address) {
            self.unannounce(old);
            let replaced = self
                .dialled
                .get(&old)
                .is_some_and(|entry| entry.node == peer.node && !entry.announced);
            if replaced && !static_peers.contains(&old) {
                self.dialled.remove(&old);
                actions.push(PeerAction::StopDialling(old));
            }
        }
        if static_peers.contains(&peer.address) {
            return actions;
        }
        match self.dialled.get_mut(&peer.address) {
            Some(entry) => {
                entry.node = peer.node.clone();
                entry.announced = true;
                entry.last_live = now;
            }
            None => {
                self.dialled.insert(
                    peer.address,
                    Dialled {
                        node: peer.node.clone(),
                        announced: true,
                        last_live: now,
                    },
                );
                actions.push(PeerAction::Dial(peer.address));
            }
        }
        actions
    }

    /// mDNS says the instance is gone: only remembered, nothing is stopped.
    pub fn removed(&mut self, instance: &str) {
        if let Some(address) = self.instances.remove(instance) {
            self.unannounce(address);
        }
    }

    fn unannounce(&mut self, address: SocketAddr) {
        let still = self.instances.values().any(|a| *a == address);
        if let Some(entry) = self.dialled.get_mut(&address) {
            entry.announced = still;
        }
    }

    /// Notes which nodes have a live session and returns `StopDialling` for the
    /// addresses that are no longer announced and whose node has had no session for
    /// the forget time. Static peers are never given up.
    pub fn check(
        &mut self,
        now: Instant,
        live: &BTreeSet<NodeId>,
        static_peers: &[SocketAddr],
    ) -> Vec<PeerAction> {
        let mut actions = Vec::new();
        for (address, entry) in &mut self.dialled {
            if live.contains(&entry.node) {
                entry.last_live = now;
            } else if !entry.announced
                && !static_peers.contains(address)
                && now.saturating_duration_since(entry.last_live) >= self.forget_after
            {
                actions.push(PeerAction::StopDialling(*address));
            }
        }
        for action in &actions {
            if let PeerAction::StopDialling(address) = action {
                self.dialled.remove(address);
            }
        }
        actions
    }

    /// The addresses the book has asked to dial and not given up.
    pub fn dialled(&self) -> impl Iterator<Item = (&SocketAddr, &NodeId)> {
        self.dialled.iter().map(|(a, e)| (a, &e.node))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::name::{OfficeId, Role};

    fn found(instance: &str, node: &str, address: &str) -> FoundPeer {
        FoundPeer {
            instance: instance.into(),
            office: OfficeId::new("zeitz").unwrap(),
            node: NodeId::new(node).unwrap(),
            role: Role::Desk,
            address: address.parse().unwrap(),
        }
    }

    #[test]
    fn the_book_dials_once_and_gives_up_only_when_gone_and_dead_for_long() {
        let start = Instant::now();
        let forget = Duration::from_secs(600);
        let mut book = PeerBook::new(forget);
        let desk = found("desk-1._aufruf._tcp.local.", "desk-1", "10.0.0.2:7340");
        let address = desk.address;
        let none = BTreeSet::new();
        let live: BTreeSet<NodeId> = [desk.node.clone()].into();

        assert_eq!(
            book.found(&desk, start, &[]),
            vec![PeerAction::Dial(address)]
        );
        assert_eq!(book.found(&desk, start, &[]), vec![]);
        // Announced but dead for ages: keep dialling (mDNS may lag, TLS decides).
        assert!(book.check(start + forget * 3, &none, &[]).is_empty());
        // Removed while the session lives: keep.
        book.removed(&desk.instance);
        assert!(book.check(start + forget * 3, &live, &[]).is_empty());
        // Removed and dead, but not for long enough yet.
        let died = start + forget * 3;
        assert!(book.check(died + forget / 2, &none, &[]).is_empty());
        assert_eq!(
            book.check(died + forget, &none, &[]),
            vec![PeerAction::StopDialling(address)]
        );
        assert_eq!(book.dialled().count(), 0);
        // Announced again: dialled again.
        assert_eq!(
            book.found(&desk, died + forget * 2, &[]),
            vec![PeerAction::Dial(address)]
        );
    }

    #[test]
    fn the_book_leaves_static_peers_alone_and_tracks_address_changes() {
        let start = Instant::now();
        let forget = Duration::from_secs(60);
        let mut book = PeerBook::new(forget);
        let none = BTreeSet::new();
        let statics: Vec<SocketAddr> = vec!["10.0.0.2:7340".parse().unwrap()];
        let desk = found("desk-1._aufruf._tcp.local.", "desk-1", "10.0.0.2:7340");
        assert_eq!(book.found(&desk, start, &statics), vec![]);
        book.removed(&desk.instance);
        assert!(book.check(start + forget * 2, &none, &statics).is_empty());

        // The node moves: dialled at the new address; the static one is kept.
        let moved = found("desk-1._aufruf._tcp.local.", "desk-1", "10.0.0.9:7340");
        assert_eq!(book.found(&desk, start, &statics), vec![], "static again");
        assert_eq!(
            book.found(&moved, start, &statics),
            vec![PeerAction::Dial(moved.address)]
        );
        // It moves again: the discovered old address is replaced at once.
        let moved_again = found("desk-1._aufruf._tcp.local.", "desk-1", "10.0.0.10:7340");
        assert_eq!(
            book.found(&moved_again, start, &statics),
            vec![
                PeerAction::StopDialling(moved.address),
                PeerAction::Dial(moved_again.address)
            ]
        );
        assert_eq!(
            book.dialled().map(|(a, _)| *a).collect::<Vec<_>>(),
            vec![moved_again.address]
        );
        // An address another instance still announces is not replaced.
        let twin = found("twin._aufruf._tcp.local.", "desk-1", "10.0.0.10:7340");
        assert_eq!(book.found(&twin, start, &statics), vec![]);
        let moved_third = found("desk-1._aufruf._tcp.local.", "desk-1", "10.0.0.11:7340");
        assert_eq!(
            book.found(&moved_third, start, &statics),
            vec![PeerAction::Dial(moved_third.address)]
        );
        assert!(book.check(start + forget * 9, &none, &statics).is_empty());
    }

    #[test]
    fn an_instance_taken_over_by_another_node_does_not_stop_the_first() {
        let start = Instant::now();
        let mut book = PeerBook::new(Duration::from_secs(60));
        let first = found("desk-1._aufruf._tcp.local.", "desk-1", "10.0.0.2:7340");
        let other = found("desk-1._aufruf._tcp.local.", "desk-2", "10.0.0.3:7340");
        assert_eq!(
            book.found(&first, start, &[]),
            vec![PeerAction::Dial(first.address)]
        );
        assert_eq!(
            book.found(&other, start, &[]),
            vec![PeerAction::Dial(other.address)]
        );
        // desk-1 is no longer announced: given up only once dead for long.
        let live: BTreeSet<NodeId> = [first.node.clone()].into();
        assert!(
            book.check(start + Duration::from_secs(600), &live, &[])
                .is_empty()
        );
        assert_eq!(
            book.check(start + Duration::from_secs(660), &BTreeSet::new(), &[]),
            vec![PeerAction::StopDialling(first.address)]
        );
    }
}
