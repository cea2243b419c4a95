//! The office's actions on a device of the LAN: each runs the real `Office` durably,
//! is narrated in the story and, when it succeeds, recorded as acknowledged.

use std::time::Duration;

use aufruf_model::{
    ActionError, Appointment, BookingCode, Day, DeskEvent, DeskId, Event, Incarnation,
    OfficeConfig, Origin, ServiceId, Stamp, TicketEvent, TicketId, Transfer,
};
use aufruf_office::{Carries, OfficeError};
use automerge::{Automerge, ChangeHash};

use super::Lan;
use super::device::{EventId, PrintedTicket, ShownCall};
use crate::disk::lock;

impl Lan {
    /// Runs a local action of the model on a device, durably, and records what it
    /// acknowledged. The device must be up.
    pub fn act<T: Carries>(
        &mut self,
        node: usize,
        action: impl FnOnce(&mut Day, &OfficeConfig, Stamp) -> Result<T, ActionError>,
    ) -> Result<T, OfficeError> {
        let wall = self.wall_clock(node);
        let date = self.date;
        let Some(running) = self.net.nodes_mut()[node].running.as_mut() else {
            let name = self.nodes()[node].name.clone();
            self.fail(format!("{name} is down and cannot act"))
        };
        let result = running.office.act(date, wall, action);
        self.last_actor = Some(node);
        self.carry(node);
        if let Ok(outcome) = &result {
            self.acknowledge(node, outcome.event());
        }
        result
    }

    /// A kiosk (or the gateway) issues a walk-in ticket and prints it.
    pub fn issue(&mut self, kiosk: &str, service: &str) -> Result<TicketId, OfficeError> {
        let service = ServiceId::new(service);
        let origin = if kiosk.starts_with("gateway") {
            Origin::Remote
        } else {
            Origin::WalkIn
        };
        let incarnation = self.incarnation_of(kiosk);
        self.narrated(kiosk, "issue a ticket", |day, config, stamp| {
            day.issue(config, &service, origin, incarnation, stamp)
        })
        .map(|event| self.ticket_of(&event))
    }

    /// A kiosk checks in a booked citizen and prints their ticket.
    pub fn check_in(&mut self, kiosk: &str, code: &str) -> Result<TicketId, OfficeError> {
        let code = BookingCode::new(code);
        let incarnation = self.incarnation_of(kiosk);
        self.narrated(kiosk, "check in a booking", |day, config, stamp| {
            day.check_in(config, &code, incarnation, stamp)
        })
        .map(|event| self.ticket_of(&event))
    }

    /// The incarnation of the store a running device issues from (its office's own).
    fn incarnation_of(&self, name: &str) -> Incarnation {
        let node = self.node(name);
        match &self.nodes()[node].running {
            Some(running) => running.office.incarnation(),
            None => self.fail(format!("{name} is down and cannot act")),
        }
    }

    /// Feeds a booking into the day on a device (as the gateway does for the portal).
    pub fn book(&mut self, node: &str, code: &str, service: &str, due: Duration) {
        let index = self.node(node);
        let appointment = Appointment {
            cancelled: false,
            code: BookingCode::new(code),
            service: ServiceId::new(service),
            due: self.day_start + due,
            also: Vec::new(),
        };
        let date = self.date;
        let config = self.config.clone();
        let roster = self.roster();
        let Some(running) = self.net.nodes_mut()[index].running.as_mut() else {
            self.fail(format!("{node} is down and cannot take bookings"))
        };
        // The booking is the gateway's, sealed with its key, whichever device it
        // reaches first.
        let gateway = aufruf_model::node_id!("gateway");
        let documents = super::device::SimDocuments {
            replica: std::rc::Rc::clone(&running.replica),
        };
        let keys = aufruf_office::testing::test_keys(&gateway, aufruf_model::Role::Gateway);
        let mut relay = aufruf_office::Office::new(config, documents, gateway, keys);
        relay.set_roster(roster);
        let result = relay.book(date, &[appointment]);
        self.carry(index);
        match result {
            Ok(()) => self.say(format!("{node} takes booking {code} for {service}")),
            Err(error) => self.fail(format!("{node} could not take booking {code}: {error}")),
        }
    }

    pub fn open_desk(&mut self, desk: &str) -> Result<(), OfficeError> {
        let id = DeskId::new(desk);
        self.narrated(desk, "open", |day, config, stamp| {
            day.open_desk(config, &id, vec![], stamp)
        })
        .map(drop)
    }

    pub fn close_desk(&mut self, desk: &str) -> Result<(), OfficeError> {
        let id = DeskId::new(desk);
        self.narrated(desk, "close", |day, _, stamp| day.close_desk(&id, stamp))
            .map(drop)
    }

    /// The desk calls the next visitor and shows "called".
    pub fn call_next(&mut self, desk: &str) -> Result<TicketId, OfficeError> {
        let id = DeskId::new(desk);
        let now = self.wall_clock(self.node(desk));
        self.narrated(desk, "call next", |day, config, stamp| {
            day.call_next(config, &id, now, stamp)
        })
        .map(|event| self.ticket_of(&event))
    }

    pub fn recall(&mut self, desk: &str) -> Result<(), OfficeError> {
        let id = DeskId::new(desk);
        self.narrated(desk, "recall", |day, config, stamp| {
            day.recall(config, &id, stamp)
        })
        .map(drop)
    }

    pub fn start_serving(&mut self, desk: &str) -> Result<(), OfficeError> {
        let id = DeskId::new(desk);
        self.narrated(desk, "start serving", |day, _, stamp| {
            day.start_serving(&id, stamp)
        })
        .map(drop)
    }

    pub fn finish(&mut self, desk: &str) -> Result<(), OfficeError> {
        let id = DeskId::new(desk);
        self.narrated(desk, "finish", |day, _, stamp| day.finish(&id, stamp))
            .map(drop)
    }

    pub fn no_show(&mut self, desk: &str) -> Result<(), OfficeError> {
        let id = DeskId::new(desk);
        self.narrated(desk, "mark a no-show", |day, _, stamp| {
            day.no_show(&id, stamp)
        })
        .map(drop)
    }

    pub fn park(&mut self, desk: &str) -> Result<(), OfficeError> {
        let id = DeskId::new(desk);
        self.narrated(desk, "park", |day, _, stamp| day.park(&id, stamp))
            .map(drop)
    }

    pub fn transfer(&mut self, desk: &str, to: Transfer) -> Result<(), OfficeError> {
        let id = DeskId::new(desk);
        self.narrated(desk, "transfer", |day, config, stamp| {
            day.transfer(config, &id, to, stamp)
        })
        .map(drop)
    }

    /// Puts a parked or no-show ticket back into the queue.
    pub fn return_ticket(&mut self, node: &str, ticket: &TicketId) -> Result<(), OfficeError> {
        self.narrated(node, "return a ticket", |day, _, stamp| {
            day.return_ticket(ticket, stamp)
        })
        .map(drop)
    }

    pub fn cancel(&mut self, node: &str, ticket: &TicketId) -> Result<(), OfficeError> {
        self.narrated(node, "cancel a ticket", |day, _, stamp| {
            day.cancel(ticket, stamp)
        })
        .map(drop)
    }

    /// A device writes `event` into the day's document as it is — any stamp, any desk,
    /// past its office and its clock — sealed with its own key, as a device that runs
    /// other code could. Nothing is acknowledged to anyone.
    pub fn forge(&mut self, who: &str, event: &Event) {
        let node = self.node(who);
        let name = self.day_name.clone();
        let document = name.to_string();
        let signer = aufruf_office::testing::TestSigner::new(
            &self.nodes()[node].name,
            self.nodes()[node].role,
        );
        let sealer = aufruf_office::day_doc::Sealer {
            signer: &signer,
            document: &document,
        };
        let Some(running) = self.net.nodes_mut()[node].running.as_mut() else {
            self.fail(format!("{who} is down and cannot forge"))
        };
        let written = running.replica.change(&name, |tx| {
            aufruf_office::day_doc::write_event(tx, event, &sealer)
        });
        self.carry(node);
        match written {
            Ok(()) => self.say(format!("{who} forges: {}", describe(event))),
            Err(error) => self.fail(format!("{who} could not forge {event:?}: {error}")),
        }
    }

    /// Runs `read` on the day as the device knows it now (including what peers sent).
    pub fn with_day<R>(&mut self, node: usize, read: impl FnOnce(&Day) -> R) -> R {
        let date = self.date;
        let outcome = match self.net.nodes_mut()[node].running.as_mut() {
            Some(running) => running
                .office
                .day(date)
                .map(read)
                .map_err(|e| e.to_string()),
            None => Err("the device is down".to_owned()),
        };
        match outcome {
            Ok(value) => value,
            Err(error) => {
                let name = self.nodes()[node].name.clone();
                self.fail(format!("{name} cannot read the day: {error}"))
            }
        }
    }

    /// A copy of the day as the named device knows it now.
    pub fn day(&mut self, name: &str) -> Day {
        let node = self.node(name);
        self.with_day(node, Day::clone)
    }

    /// The device's replica, while it runs.
    pub fn replica(&self, name: &str) -> Option<&aufruf_sync::Replica<crate::disk::SimStore>> {
        let node = self.node(name);
        self.nodes()[node]
            .running
            .as_ref()
            .map(|running| &*running.replica)
    }

    /// The heads of the day's document on a device, sorted (empty when down).
    pub fn heads(&self, node: usize) -> Vec<ChangeHash> {
        let Some(running) = &self.nodes()[node].running else {
            return Vec::new();
        };
        let mut heads = running
            .replica
            .read(&self.day_name, Automerge::get_heads)
            .unwrap_or_default();
        heads.sort();
        heads
    }

    pub(super) fn narrated<T: Carries>(
        &mut self,
        who: &str,
        verb: &str,
        action: impl FnOnce(&mut Day, &OfficeConfig, Stamp) -> Result<T, ActionError>,
    ) -> Result<Event, OfficeError> {
        let node = self.node(who);
        let result = self.act(node, action).map(|o| o.event().clone());
        match &result {
            Ok(event) => self.say(format!("{who}: {}", describe(event))),
            Err(OfficeError::Action(error)) => {
                self.say(format!("{who} tries to {verb}: refused, {error}"));
            }
            Err(OfficeError::CatchingUp) => {
                self.say(format!(
                    "{who} tries to {verb}: refused, its new store still catches up"
                ));
            }
            Err(OfficeError::Store(error)) if lock(&self.nodes()[node].disk).is_full() => {
                self.say(format!("{who} tries to {verb}: not stored, {error}"));
            }
            Err(error) => self.fail(format!("{who} could not {verb}: {error}")),
        }
        result
    }

    pub(super) fn acknowledge(&mut self, node: usize, event: &Event) {
        if let Some(id) = EventId::of(event) {
            self.acknowledged.events.push((node, id));
        }
        let Event::Ticket {
            ticket,
            stamp,
            event,
        } = event
        else {
            return;
        };
        match event {
            TicketEvent::Issued { number, .. } => self.acknowledged.tickets.push(PrintedTicket {
                node: self.nodes()[node].name.to_string(),
                ticket: ticket.clone(),
                number: *number,
            }),
            TicketEvent::Called { desk, .. } => self.acknowledged.calls.push(ShownCall {
                desk: desk.clone(),
                ticket: ticket.clone(),
                stamp: stamp.clone(),
            }),
            _ => {}
        }
    }
}

impl Lan {
    /// The ticket an event is about. Only used on the events of `issue`, `check_in` and
    /// `call_next`, which the model always returns as ticket events; anything else
    /// fails the run at once.
    fn ticket_of(&self, event: &Event) -> TicketId {
        match event {
            Event::Ticket { ticket, .. } => ticket.clone(),
            other => self.fail(format!("expected a ticket event, got {other:?}")),
        }
    }
}

fn describe(event: &Event) -> String {
    match event {
        Event::Ticket {
            ticket,
            stamp,
            event,
        } => match event {
            TicketEvent::Issued { number, .. } => {
                format!("prints {number} (ticket {ticket}) at {stamp:?}")
            }
            other => format!("{} {ticket} at {stamp:?}", other.name()),
        },
        Event::Desk { desk, stamp, event } => {
            let what = match event {
                DeskEvent::Opened { .. } => "opens",
                DeskEvent::Paused => "pauses",
                DeskEvent::Resumed => "resumes",
                DeskEvent::Closed => "closes",
            };
            format!("{what} {desk} at {stamp:?}")
        }
        Event::Booked(appointment) => format!("booking {}", appointment.code),
    }
}
