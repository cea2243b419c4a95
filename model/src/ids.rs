//! Names of the things in an office: nodes, departments, services, desks and tickets.
//!
//! They are short strings chosen by the office (`kiosk-1`, `desk-3`, `ausweis`), kept as
//! newtypes so a desk id can never be passed where a service id is meant. A node's id
//! is `aufruf-names`' [`NodeId`], the one the sync protocol speaks too: checked when it
//! is read (from a file, a frame or a document), and valid everywhere after.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

pub use aufruf_names::{Incarnation, NameError, NodeId};

macro_rules! name_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            pub fn new(name: impl Into<String>) -> Self {
                Self(name.into())
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({:?})", stringify!($name), self.0)
            }
        }

        impl From<&str> for $name {
            fn from(name: &str) -> Self {
                Self(name.to_owned())
            }
        }
    };
}

name_type!(
    /// A department with its own services, desks and opening hours.
    DepartmentId
);
name_type!(
    /// A concern a visitor comes for ("Personalausweis beantragen").
    ServiceId
);
name_type!(
    /// A counter where a clerk serves visitors.
    DeskId
);
name_type!(
    /// The code a citizen got when booking an appointment.
    BookingCode
);

/// A ticket's globally unique id: the issuing node, the incarnation of the store it
/// issued from, and the node's running number of the day. Unique without
/// coordination because only that node issues under its name, and a node issues only
/// above every number of its own it knows of — and should a node with a new store
/// ever not know of its earlier tickets, its new incarnation still tells the ids
/// apart.
///
/// Written `kiosk-1~7f3a9c21/12`: node, `~`, incarnation (eight hex digits), `/`,
/// running number. `~` and `/` are in no node id, so the text reads back one way only.
/// A ticket issued before stores had incarnations ([`Incarnation::UNRECORDED`]) is
/// written as it was then, `kiosk-1/12`, so the days of before still read and its
/// later events go into its map. Ids order by node, then running number, then
/// incarnation.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct TicketId {
    /// The node that issued the ticket (its events' author when it issued it).
    pub node: NodeId,
    pub seq: u32,
    pub incarnation: Incarnation,
}

impl TicketId {
    pub fn new(node: NodeId, incarnation: Incarnation, seq: u32) -> Self {
        Self {
            node,
            seq,
            incarnation,
        }
    }

    /// Reads `<node>~<incarnation><sep><seq>` (or `<node><sep><seq>` for a ticket of
    /// before incarnations), where `sep` separates the running number (`/` in
    /// documents; the API also takes `-`, which fits a URL's path).
    pub fn parse_with(text: &str, sep: char) -> Result<Self, NameError> {
        let refuse = || NameError::Id(text.chars().take(80).collect());
        let (issuer, seq) = text.rsplit_once(sep).ok_or_else(refuse)?;
        let (node, incarnation) = match issuer.split_once('~') {
            Some((node, incarnation)) => (node, incarnation.parse()?),
            None => (issuer, Incarnation::UNRECORDED),
        };
        // One text per id: the unrecorded incarnation is written without `~`.
        if issuer.contains('~') && incarnation == Incarnation::UNRECORDED {
            return Err(refuse());
        }
        // Digits only: `u32::from_str` would also take a leading `+`.
        if seq.is_empty() || !seq.bytes().all(|b| b.is_ascii_digit()) {
            return Err(refuse());
        }
        Ok(TicketId::new(
            NodeId::new(node)?,
            incarnation,
            seq.parse().map_err(|_| refuse())?,
        ))
    }
}

impl fmt::Display for TicketId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.incarnation == Incarnation::UNRECORDED {
            write!(f, "{}/{}", self.node, self.seq)
        } else {
            write!(f, "{}~{}/{}", self.node, self.incarnation, self.seq)
        }
    }
}

impl fmt::Debug for TicketId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TicketId({self})")
    }
}

/// The text [`TicketId`]'s `Display` writes, and only that.
impl FromStr for TicketId {
    type Err = NameError;

    fn from_str(text: &str) -> Result<Self, NameError> {
        TicketId::parse_with(text, '/')
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aufruf_names::node_id;

    #[test]
    fn a_ticket_id_reads_back_as_written_and_keeps_its_issuer() {
        let id = TicketId::new(node_id!("kiosk.1_a-b"), Incarnation::new(0x7f3a_9c21), 42);
        assert_eq!(id.to_string(), "kiosk.1_a-b~7f3a9c21/42");
        assert_eq!(id.to_string().parse(), Ok(id.clone()));
        assert_eq!(
            TicketId::parse_with("kiosk.1_a-b~7f3a9c21-42", '-'),
            Ok(id.clone())
        );
        assert_eq!(id.node, node_id!("kiosk.1_a-b"));
    }

    #[test]
    fn ids_of_two_stores_of_one_node_differ_and_order_by_running_number() {
        let old = TicketId::new(node_id!("kiosk-1"), Incarnation::new(0xffff_ffff), 3);
        let new = TicketId::new(node_id!("kiosk-1"), Incarnation::new(1), 4);
        let same_seq = TicketId::new(node_id!("kiosk-1"), Incarnation::new(1), 3);
        assert_ne!(old, same_seq);
        assert!(old < new);
    }

    #[test]
    fn a_ticket_of_before_incarnations_reads_back_as_it_was_written() {
        let old = TicketId::new(node_id!("kiosk-1"), Incarnation::UNRECORDED, 3);
        assert_eq!(old.to_string(), "kiosk-1/3");
        assert_eq!("kiosk-1/3".parse(), Ok(old.clone()));
        assert_eq!(TicketId::parse_with("kiosk-1-3", '-'), Ok(old));
        assert!(
            "kiosk-1~00000000/3".parse::<TicketId>().is_err(),
            "one text per id"
        );
    }

    #[test]
    fn anything_but_a_ticket_id_is_refused() {
        for text in [
            "kiosk-1~7f3a9c21",
            "kiosk-1~7f3a9c2/1",
            "kiosk-1~7F3A9C21/1",
            "kiosk-1~7f3a9c21/+1",
            "kiosk-1~7f3a9c21/",
            "kiosk-1~7f3a9c21/1/2",
            "~7f3a9c21/1",
            "kiösk~7f3a9c21/1",
            "kiosk~1~7f3a9c21/1",
            "kiosk-1~7f3a9c21/99999999999",
        ] {
            assert!(text.parse::<TicketId>().is_err(), "{text}");
        }
    }
}
