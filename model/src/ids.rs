//! Names of the things in an office: nodes, departments, services, desks and tickets.
//!
//! They are short strings chosen by the office (`kiosk-1`, `desk-3`, `ausweis`), kept as
//! newtypes so a desk id can never be passed where a service id is meant. A node's id
//! is `aufruf-names`' [`NodeId`], the one the sync protocol speaks too: checked when it
//! is read (from a file, a frame or a document), and valid everywhere after.

use std::fmt;

use serde::{Deserialize, Serialize};

pub use aufruf_names::NodeId;

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

/// A ticket's globally unique id: the issuing node and that node's running number of
/// the day. Unique without coordination because only that node issues under its name.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct TicketId {
    pub node: NodeId,
    pub seq: u32,
}

impl TicketId {
    pub fn new(node: NodeId, seq: u32) -> Self {
        Self { node, seq }
    }
}

impl fmt::Display for TicketId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.node, self.seq)
    }
}

impl fmt::Debug for TicketId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TicketId({self})")
    }
}
