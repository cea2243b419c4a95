//! One simulated device: its documents on the protocol core and the disk, and what the
//! office acknowledged on it.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use aufruf_model::{DeskId, DisplayNumber, Stamp, TicketId};
use aufruf_office::day_doc::DayDocError;
use aufruf_office::{Documents, Office, OfficeError};
use aufruf_sync::protocol::{Output, Replicator};
use aufruf_sync::{DocumentName, Role};
use automerge::Automerge;
use automerge::transaction::Transaction;

use crate::disk::Disk;

/// Documents of one simulated node: its protocol core and its disk. The office's
/// changes are durable on the [`Disk`] before their frames reach the LAN, because the
/// frames wait in the machine's outbox until the action has returned.
#[derive(Debug)]
pub struct SimDocuments {
    pub(super) machine: Rc<RefCell<Machine>>,
    pub(super) disk: Rc<RefCell<Disk>>,
}

#[derive(Debug)]
pub(super) struct Machine {
    pub(super) core: Replicator,
    /// The LAN's time when the current action started.
    pub(super) now: Duration,
    /// Outputs of local changes, routed by the LAN after the action.
    pub(super) outbox: Vec<Output>,
}

impl Documents for SimDocuments {
    fn change_durably(
        &mut self,
        name: &DocumentName,
        write: &mut dyn FnMut(&mut Transaction<'_>) -> Result<(), DayDocError>,
    ) -> Result<(), OfficeError> {
        if self.disk.borrow().is_full() {
            // The real replica applies the change, fails to store it and takes it back
            // from the document; refusing up front leaves the same state.
            return Err(OfficeError::Store("the disk is full".to_owned()));
        }
        let mut machine = self.machine.borrow_mut();
        let now = machine.now;
        let local = machine.core.change(now, name, |tx| write(tx))?;
        if !local.chunk.is_empty() {
            let mut disk = self.disk.borrow_mut();
            match machine.core.document(name) {
                // The change may depend on peer changes the disk dropped: store the
                // whole document, as the real replica does.
                Some(document) if disk.is_unstored(name) => disk.store_whole(name, document.save()),
                _ => disk.append_flushed(name, local.chunk),
            }
        }
        machine.outbox.extend(local.outputs);
        Ok(())
    }

    fn read_document<R>(
        &self,
        name: &DocumentName,
        read: impl FnOnce(&Automerge) -> R,
    ) -> Option<R> {
        self.machine.borrow().core.document(name).map(read)
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
    /// The stamp of every event an action returned, with the acting node.
    pub events: Vec<(usize, Stamp)>,
}

/// One device of the office.
#[derive(Debug)]
pub struct Node {
    pub name: String,
    pub role: Role,
    /// How far this device's wall clock is off, in milliseconds.
    pub skew_ms: i64,
    /// Restarts so far; part of the automerge actor.
    pub incarnation: u32,
    pub(super) disk: Rc<RefCell<Disk>>,
    pub(super) running: Option<Running>,
}

#[derive(Debug)]
pub(super) struct Running {
    pub(super) machine: Rc<RefCell<Machine>>,
    pub(super) office: Office<SimDocuments>,
}
