//! Who may write what: the rule the fold applies to every event before it counts.
//!
//! Each event in a day document names its author (the node whose certificate signed
//! it, checked by the office layer); the author's certificate names its role. A
//! stolen key then writes only what its role may: a display's key writes nothing
//! that counts, a desk's acts for its own desk only, a kiosk's issues only its own
//! tickets.

use crate::day::Event;
use crate::hlc::Stamp;
use crate::ids::{DeskId, NodeId};
use crate::ticket::{Origin, TicketEvent};
use aufruf_names::Role;

/// The author of an event as its certificate names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Author {
    pub node: NodeId,
    pub role: Role,
}

impl Author {
    /// The desk a desk terminal acts for: the one named like the node.
    fn is_desk(&self, desk: &DeskId) -> bool {
        self.role == Role::Desk && desk.as_str() == self.node.as_str()
    }
}

/// Why an event does not count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Unauthorised {
    #[error("the event's stamp names another node than its signer")]
    NotTheStamper,
    #[error("only the node that issued a ticket writes its issue or withdraws it")]
    NotTheIssuer,
    #[error("the author's role may not write this event")]
    WrongRole,
    #[error("a desk acts for its own desk only")]
    OtherDesk,
}

impl Unauthorised {
    /// A short name for metrics labels.
    pub fn label(self) -> &'static str {
        match self {
            Unauthorised::NotTheStamper => "not_the_stamper",
            Unauthorised::NotTheIssuer => "not_the_issuer",
            Unauthorised::WrongRole => "wrong_role",
            Unauthorised::OtherDesk => "other_desk",
        }
    }
}

/// Whether `author` may write `event`: kiosks issue walk-ins and check booked
/// citizens in, the gateway issues remote tickets and writes bookings, a desk acts
/// for its own desk, and a display writes nothing.
pub fn may_write(author: &Author, event: &Event) -> Result<(), Unauthorised> {
    match event {
        Event::Ticket {
            ticket,
            stamp,
            event,
        } => {
            stamped_by(author, stamp)?;
            match event {
                TicketEvent::Issued { origin, .. } => {
                    if ticket.node != author.node {
                        return Err(Unauthorised::NotTheIssuer);
                    }
                    let may = match origin {
                        Origin::WalkIn | Origin::Appointment { .. } => author.role == Role::Kiosk,
                        Origin::Remote => author.role.faces_citizens(),
                    };
                    allowed(may, Unauthorised::WrongRole)
                }
                TicketEvent::Cancelled => {
                    allowed(ticket.node == author.node, Unauthorised::NotTheIssuer)
                }
                TicketEvent::Returned => {
                    allowed(author.role == Role::Desk, Unauthorised::WrongRole)
                }
                TicketEvent::Called { desk, .. }
                | TicketEvent::Recalled { desk }
                | TicketEvent::Serving { desk }
                | TicketEvent::Transferred { desk, .. }
                | TicketEvent::Parked { desk }
                | TicketEvent::NoShow { desk }
                | TicketEvent::Done { desk } => own_desk(author, desk),
            }
        }
        Event::Desk { desk, stamp, .. } => {
            stamped_by(author, stamp)?;
            own_desk(author, desk)
        }
        Event::Booked(_) => allowed(author.role.faces_citizens(), Unauthorised::WrongRole),
    }
}

fn stamped_by(author: &Author, stamp: &Stamp) -> Result<(), Unauthorised> {
    allowed(stamp.node == author.node, Unauthorised::NotTheStamper)
}

fn own_desk(author: &Author, desk: &DeskId) -> Result<(), Unauthorised> {
    if author.role != Role::Desk {
        return Err(Unauthorised::WrongRole);
    }
    allowed(author.is_desk(desk), Unauthorised::OtherDesk)
}

fn allowed(ok: bool, refusal: Unauthorised) -> Result<(), Unauthorised> {
    if ok { Ok(()) } else { Err(refusal) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::day::{Appointment, DeskEvent};
    use crate::hlc::Hlc;
    use crate::ids::{BookingCode, ServiceId, TicketId};
    use crate::ticket::{DisplayNumber, Transfer};
    use crate::time::Timestamp;
    use aufruf_names::node_id;

    fn author(node: NodeId, role: Role) -> Author {
        Author { node, role }
    }

    fn ticket(by: &Author, issuer: NodeId, event: TicketEvent) -> Event {
        Event::Ticket {
            ticket: TicketId::new(issuer, aufruf_names::Incarnation::UNRECORDED, 1),
            stamp: Stamp::new(Hlc::new(1_000, 0), by.node.clone()),
            event,
        }
    }

    fn issued(origin: Origin) -> TicketEvent {
        TicketEvent::Issued {
            number: DisplayNumber {
                prefix: 'A',
                number: 999,
            },
            service: ServiceId::new("ausweis"),
            origin,
            promised_wait_secs: None,
        }
    }

    #[test]
    fn each_role_writes_what_it_does_at_the_office_and_nothing_else() {
        let kiosk = author(node_id!("kiosk-1"), Role::Kiosk);
        let desk = author(node_id!("desk-1"), Role::Desk);
        let display = author(node_id!("display-1"), Role::Display);
        let gateway = author(node_id!("gateway"), Role::Gateway);
        let portal = author(node_id!("portal"), Role::Portal);
        let own_desk = DeskId::new("desk-1");
        let call = |desk: DeskId| TicketEvent::Called {
            desk,
            seen: Some(1),
        };

        // What each does every day.
        for (who, event) in [
            (
                &kiosk,
                ticket(&kiosk, kiosk.node.clone(), issued(Origin::WalkIn)),
            ),
            (
                &gateway,
                ticket(&gateway, gateway.node.clone(), issued(Origin::Remote)),
            ),
            (
                &portal,
                ticket(&portal, portal.node.clone(), issued(Origin::Remote)),
            ),
            (
                &desk,
                ticket(&desk, kiosk.node.clone(), call(own_desk.clone())),
            ),
            (
                &desk,
                ticket(&desk, kiosk.node.clone(), TicketEvent::Returned),
            ),
            (
                &kiosk,
                ticket(&kiosk, kiosk.node.clone(), TicketEvent::Cancelled),
            ),
            (
                &desk,
                ticket(
                    &desk,
                    kiosk.node.clone(),
                    TicketEvent::Transferred {
                        desk: own_desk.clone(),
                        to: Transfer::Service(ServiceId::new("meldung")),
                    },
                ),
            ),
        ] {
            assert_eq!(may_write(who, &event), Ok(()), "{event:?}");
        }
        assert_eq!(
            may_write(
                &desk,
                &Event::Desk {
                    desk: own_desk.clone(),
                    stamp: Stamp::new(Hlc::new(1, 0), desk.node.clone()),
                    event: DeskEvent::Paused,
                }
            ),
            Ok(())
        );
        let booking = Event::Booked(Appointment {
            cancelled: false,
            code: BookingCode::new("K7M2"),
            service: ServiceId::new("ausweis"),
            due: Timestamp::from_millis(0),
            also: Vec::new(),
        });
        assert_eq!(may_write(&gateway, &booking), Ok(()));
        assert_eq!(may_write(&portal, &booking), Ok(()));

        // The forgeries of a stolen key.
        let refused = [
            (
                &display,
                ticket(&display, kiosk.node.clone(), issued(Origin::WalkIn)),
                Unauthorised::NotTheIssuer,
            ),
            (
                &display,
                ticket(&display, display.node.clone(), issued(Origin::WalkIn)),
                Unauthorised::WrongRole,
            ),
            (
                &display,
                ticket(&display, kiosk.node.clone(), call(own_desk.clone())),
                Unauthorised::WrongRole,
            ),
            (
                &kiosk,
                ticket(&kiosk, kiosk.node.clone(), issued(Origin::Remote)),
                Unauthorised::WrongRole,
            ),
            (
                &kiosk,
                ticket(&kiosk, kiosk.node.clone(), call(own_desk.clone())),
                Unauthorised::WrongRole,
            ),
            (
                &desk,
                ticket(&desk, kiosk.node.clone(), call(DeskId::new("desk-2"))),
                Unauthorised::OtherDesk,
            ),
            (
                &desk,
                ticket(&desk, desk.node.clone(), issued(Origin::WalkIn)),
                Unauthorised::WrongRole,
            ),
            (
                &desk,
                ticket(&desk, kiosk.node.clone(), TicketEvent::Cancelled),
                Unauthorised::NotTheIssuer,
            ),
            (&display, booking.clone(), Unauthorised::WrongRole),
            // The central portal books and draws by phone; it calls nobody and
            // issues no walk-in's ticket.
            (
                &portal,
                ticket(&portal, kiosk.node.clone(), call(own_desk.clone())),
                Unauthorised::WrongRole,
            ),
            (
                &portal,
                ticket(&portal, portal.node.clone(), issued(Origin::WalkIn)),
                Unauthorised::WrongRole,
            ),
            (&kiosk, booking, Unauthorised::WrongRole),
            (
                &display,
                ticket(&kiosk, kiosk.node.clone(), issued(Origin::WalkIn)),
                Unauthorised::NotTheStamper,
            ),
        ];
        for (who, event, why) in refused {
            assert_eq!(may_write(who, &event), Err(why), "{who:?} {event:?}");
        }
        assert_eq!(
            may_write(
                &desk,
                &Event::Desk {
                    desk: DeskId::new("desk-2"),
                    stamp: Stamp::new(Hlc::new(1, 0), desk.node.clone()),
                    event: DeskEvent::Closed,
                }
            ),
            Err(Unauthorised::OtherDesk)
        );
    }
}
