//! A desk terminal: a clerk steers the visitors of one desk. These are all the actions
//! a desk may take, and only for its own desk.

use std::collections::BTreeMap;
use std::sync::Arc;

use aufruf_model::{ActionError, DeskId, ServiceId, TicketId, Timestamp, Transfer};
use tokio::sync::watch;

use crate::service::{OfficeService, Replication, ServiceError};
use crate::views::DeskView;

/// What a clerk asks of the desk.
#[derive(Debug, Clone, PartialEq)]
pub enum DeskAction {
    /// Opens the desk for these services (none: the desk's configured services).
    Open {
        services: Vec<ServiceId>,
    },
    Close,
    Pause,
    Resume,
    CallNext,
    /// Calls one waiting visitor out of turn.
    Call {
        ticket: TicketId,
    },
    Recall,
    /// The called visitor has arrived at the desk.
    Serving,
    Transfer {
        to: Transfer,
    },
    Park,
    /// A parked visitor goes back into the queue.
    Return {
        ticket: TicketId,
    },
    NoShow,
    Done,
}

/// The actions of one desk.
#[derive(Debug, Clone)]
pub struct DeskService<R: Replication> {
    office: Arc<OfficeService<R>>,
    desk: DeskId,
}

impl<R: Replication> DeskService<R> {
    /// The service of `desk`, which must be one of the office's desks.
    pub fn new(
        office: Arc<OfficeService<R>>,
        desk: DeskId,
        now: Timestamp,
    ) -> Result<Self, ServiceError> {
        if office.config().desk(&desk).is_none() {
            return Err(ActionError::UnknownDesk(desk).into());
        }
        office.serve_desk(&desk, now);
        Ok(Self { office, desk })
    }

    pub fn desk(&self) -> &DeskId {
        &self.desk
    }

    pub fn office(&self) -> &Arc<OfficeService<R>> {
        &self.office
    }

    /// Checks that a request names this terminal's desk.
    pub fn check_desk(&self, asked: &DeskId) -> Result<(), ServiceError> {
        if *asked == self.desk {
            Ok(())
        } else if self.office.config().desk(asked).is_none() {
            Err(ActionError::UnknownDesk(asked.clone()).into())
        } else {
            Err(ServiceError::NotThisDesk {
                own: self.desk.clone(),
                asked: asked.clone(),
            })
        }
    }

    /// Carries out a clerk's action, durably, and returns the desk's view after it:
    /// "called" is shown only once the call is on disk.
    ///
    /// A call (next, one visitor, again) is refused while the node's clock disagrees
    /// with its peers' ([`ServiceError::ClockWrong`]); closing out a visitor is not.
    pub fn act(&self, now: Timestamp, action: DeskAction) -> Result<DeskView, ServiceError> {
        let desk = &self.desk;
        let office = &self.office;
        if matches!(
            action,
            DeskAction::CallNext | DeskAction::Call { .. } | DeskAction::Recall
        ) {
            office.check_clock()?;
        }
        match action {
            DeskAction::Open { services } => {
                office.act(now, |day, c, s| day.open_desk(c, desk, services, s))?;
            }
            DeskAction::Close => {
                office.act(now, |day, _, s| day.close_desk(desk, s))?;
            }
            DeskAction::Pause => {
                office.act(now, |day, _, s| day.pause_desk(desk, s))?;
            }
            DeskAction::Resume => {
                office.act(now, |day, _, s| day.resume_desk(desk, s))?;
            }
            DeskAction::CallNext => {
                office.act(now, |day, c, s| day.call_next(c, desk, now, s))?;
            }
            DeskAction::Call { ticket } => {
                office.act(now, |day, c, s| day.call(c, desk, &ticket, s))?;
            }
            DeskAction::Recall => {
                office.act(now, |day, c, s| day.recall(c, desk, s))?;
            }
            DeskAction::Serving => {
                office.act(now, |day, _, s| day.start_serving(desk, s))?;
            }
            DeskAction::Transfer { to } => {
                office.act(now, |day, c, s| day.transfer(c, desk, to, s))?;
            }
            DeskAction::Park => {
                office.act(now, |day, _, s| day.park(desk, s))?;
            }
            DeskAction::Return { ticket } => {
                office.act(now, |day, _, s| day.return_ticket(&ticket, s))?;
            }
            DeskAction::NoShow => {
                office.act(now, |day, _, s| day.no_show(desk, s))?;
            }
            DeskAction::Done => {
                office.act(now, |day, _, s| day.finish(desk, s))?;
            }
        }
        self.view(now)
    }

    /// The desk's view as last published, with the node's peers as they are now.
    pub fn view(&self, now: Timestamp) -> Result<DeskView, ServiceError> {
        self.office
            .desk_view(now, &self.desk)
            .ok_or_else(|| ServiceError::Internal("no view of this desk".into()))
    }

    /// The views of the desks served here, pushed after each change (this desk's is
    /// under its id; read [`Self::view`] for its peers).
    pub fn subscribe(&self) -> watch::Receiver<Arc<BTreeMap<DeskId, DeskView>>> {
        self.office.subscribe_desks()
    }
}
