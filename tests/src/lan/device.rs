//! One simulated device: the real replica shell on its simulated disk and the
//! network's clock, the office on top, and what the office acknowledged on it.

use std::collections::BTreeMap;
use std::rc::Rc;
use std::sync::{Arc, Mutex};

use aufruf_model::{DeskId, DisplayNumber, Event, Stamp, TicketId};
use aufruf_office::day_doc::DayDocError;
use aufruf_office::{Documents, Office, OfficeError};
use aufruf_sync::protocol::ConnectionId;
use aufruf_sync::replica::Outgoing;
use aufruf_sync::{ChangeError, DocumentName, Incarnation, NodeId, Replica, Role};
use automerge::Automerge;
use automerge::transaction::Transaction;
use tokio::sync::mpsc::UnboundedReceiver;

use crate::disk::{Disk, SimStore};

/// Documents of one simulated node: the real replica shell of `aufruf-sync` on the
/// node's simulated disk. The office's changes are durable on the [`Disk`] before
/// their frames reach the LAN: the replica flushes them before it queues their frames,
/// and the LAN carries queued frames only after the action has returned.
#[derive(Debug)]
pub struct SimDocuments {
    pub(super) replica: Rc<Replica<SimStore>>,
}

impl Documents for SimDocuments {
    fn change_durably(
        &mut self,
        name: &DocumentName,
        write: &mut dyn FnMut(&mut Transaction<'_>) -> Result<(), DayDocError>,
    ) -> Result<(), OfficeError> {
        self.replica
            .change(name, |tx| write(tx))
            .map_err(|error| match error {
                ChangeError::Refused(error) => OfficeError::Document(error),
                ChangeError::Store(error) => OfficeError::Store(error.to_string()),
            })
    }

    fn read_document<R>(
        &self,
        name: &DocumentName,
        read: impl FnOnce(&Automerge) -> R,
    ) -> Option<R> {
        self.replica.read(name, read)
    }

    fn incarnation(&self) -> Incarnation {
        self.replica.incarnation()
    }

    fn catching_up(&self) -> bool {
        self.replica.catch_up().is_pending()
    }
}

/// A ticket a kiosk (or the gateway) printed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrintedTicket {
    pub node: String,
    pub ticket: TicketId,
    pub number: DisplayNumber,
}

/// A call a desk showed as "called".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShownCall {
    pub desk: DeskId,
    pub ticket: TicketId,
    pub stamp: Stamp,
}

/// Everything the office confirmed to a person; none of it may ever be lost.
#[derive(Debug, Default, Clone)]
pub struct Acknowledged {
    pub tickets: Vec<PrintedTicket>,
    pub calls: Vec<ShownCall>,
    /// Every event an action returned, with the acting node.
    pub events: Vec<(usize, EventId)>,
}

/// An event as the office tells it apart: what it is about and its stamp. One
/// node's actions on two tickets can share a stamp: an action is stamped just after
/// its ticket's latest event, which the node's clock need not follow.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct EventId {
    pub subject: String,
    pub stamp: Stamp,
}

impl EventId {
    /// A ticket's or a desk's event; bookings carry no stamp.
    pub fn of(event: &Event) -> Option<Self> {
        let (subject, stamp) = match event {
            Event::Ticket { ticket, stamp, .. } => (format!("ticket {ticket}"), stamp),
            Event::Desk { desk, stamp, .. } => (format!("desk {desk}"), stamp),
            Event::Booked(_) => return None,
        };
        Some(EventId {
            subject,
            stamp: stamp.clone(),
        })
    }
}

/// One device of the office.
#[derive(Debug)]
pub struct Node {
    /// Checked once, when the device is added.
    pub name: NodeId,
    pub role: Role,
    /// How far this device's wall clock is off, in milliseconds.
    pub skew_ms: i64,
    /// Restarts so far; part of the automerge actor.
    pub boots: u32,
    /// Disks so far (1 for the device's first): its store's incarnation.
    pub disks: u32,
    /// How many acknowledged events there were when the current disk was put in: a
    /// restart brings back the device's own acknowledged events from there on (the
    /// earlier ones were on a disk since lost, and come back from its peers).
    pub disk_since: usize,
    pub(super) disk: Arc<Mutex<Disk>>,
    pub(super) running: Option<Running>,
}

#[derive(Debug)]
pub(super) struct Running {
    pub(super) replica: Rc<Replica<SimStore>>,
    pub(super) office: Office<SimDocuments>,
    /// What the replica queued per connection, for the LAN to carry.
    pub(super) outlets: BTreeMap<ConnectionId, UnboundedReceiver<Outgoing>>,
}
