//! The office service's view of the node's replica: `aufruf_sync::Replica` (sled +
//! peers) behind the traits `aufruf_office` asks for.

use std::sync::Arc;

use aufruf_office::day_doc::DayDocError;
use aufruf_office::views::PeerView;
use aufruf_office::{Documents, OfficeError, PeerClock, Replication};
use aufruf_sync::{ChangeError, DocumentName, Incarnation, Replica};
use automerge::Automerge;
use automerge::transaction::Transaction;

/// The node's replica, shared with the network shell.
#[derive(Debug, Clone)]
pub struct NodeReplica(pub Arc<Replica>);

impl Documents for NodeReplica {
    fn change_durably(
        &mut self,
        name: &DocumentName,
        write: &mut dyn FnMut(&mut Transaction<'_>) -> Result<(), DayDocError>,
    ) -> Result<(), OfficeError> {
        self.0.change(name, |tx| write(tx)).map_err(|e| match e {
            ChangeError::Refused(e) => OfficeError::Document(e),
            ChangeError::Store(e) => OfficeError::Store(e.to_string()),
        })
    }

    fn read_document<R>(
        &self,
        name: &DocumentName,
        read: impl FnOnce(&Automerge) -> R,
    ) -> Option<R> {
        self.0.read(name, read)
    }

    fn incarnation(&self) -> Incarnation {
        self.0.incarnation()
    }

    fn catching_up(&self) -> bool {
        self.0.catch_up().is_pending()
    }
}

impl Replication for NodeReplica {
    fn peers(&self) -> Vec<PeerView> {
        self.0
            .peers()
            .iter()
            .map(|hello| PeerView {
                node: hello.node.clone(),
                role: hello.role,
            })
            .collect()
    }

    fn document_names(&self) -> Vec<DocumentName> {
        self.0.document_names()
    }

    fn retire_days_before(&self, horizon: &DocumentName) -> Result<(), OfficeError> {
        self.0
            .retire_days_before(horizon.clone())
            .map(|_| ())
            .map_err(|e| OfficeError::Store(e.to_string()))
    }

    fn accept_days_until(&self, last: &DocumentName) {
        self.0.accept_days_until(last.clone());
    }

    fn peer_clocks(&self) -> Vec<PeerClock> {
        self.0
            .peer_clocks()
            .into_iter()
            .map(|clock| PeerClock {
                node: clock.node,
                ahead_ms: clock.ahead_ms,
            })
            .collect()
    }
}
