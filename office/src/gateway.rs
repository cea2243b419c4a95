//! The gateway: the office's door to the citizen portal. It feeds bookings into the
//! day and draws tickets for citizens near the office; the portal (its own crate)
//! calls only these.

use std::sync::Arc;

use aufruf_model::{Appointment, Origin, ServiceId, TicketId, Timestamp};
use chrono::NaiveDate;

use crate::service::{OfficeService, Replication, ServiceError};
use crate::views::TicketView;

/// The gateway's actions.
#[derive(Debug, Clone)]
pub struct GatewayService<R: Replication> {
    office: Arc<OfficeService<R>>,
}

impl<R: Replication> GatewayService<R> {
    pub fn new(office: Arc<OfficeService<R>>) -> Self {
        Self { office }
    }

    pub fn office(&self) -> &Arc<OfficeService<R>> {
        &self.office
    }

    /// Feeds a booked appointment into its day, durably.
    pub fn book(&self, date: NaiveDate, appointment: Appointment) -> Result<(), ServiceError> {
        self.office.book(date, &[appointment])
    }

    /// Feeds several bookings and cancellations (each `Appointment` says which) into
    /// their day in one durable change: the portal groups those that arrive together.
    pub fn book_all(
        &self,
        date: NaiveDate,
        appointments: &[Appointment],
    ) -> Result<(), ServiceError> {
        self.office.book(date, appointments)
    }

    /// Cancels a booked appointment in its day, durably: the booking written again,
    /// marked cancelled, which wins over it on every replica.
    pub fn cancel(&self, date: NaiveDate, appointment: Appointment) -> Result<(), ServiceError> {
        self.office.book(
            date,
            &[Appointment {
                cancelled: true,
                ..appointment
            }],
        )
    }

    /// Draws a walk-in ticket for a citizen near the office (from the phone): the
    /// ticket and its status token.
    /// Whether a ticket for `service` could be drawn by phone now (the department
    /// open, a new ticket's wait not past closing): what the phone's form says of
    /// each service before the citizen chooses.
    pub fn walk_ins(&self, now: Timestamp, service: &ServiceId) -> Result<(), ServiceError> {
        self.office.walk_ins_allowed(now, service)
    }

    pub fn draw_remote_ticket(
        &self,
        now: Timestamp,
        service: &ServiceId,
    ) -> Result<(TicketView, String), ServiceError> {
        self.office.walk_ins_allowed(now, service)?;
        self.office.issue(now, service, Origin::Remote)
    }

    /// A ticket's state by its status token, for its status page.
    pub fn ticket_by_status_token(
        &self,
        now: Timestamp,
        token: &str,
    ) -> Result<Option<TicketView>, ServiceError> {
        self.office.ticket_by_status_token(now, token)
    }

    /// The ticket a status token of today belongs to.
    pub fn ticket_of_status_token(&self, now: Timestamp, token: &str) -> Option<TicketId> {
        self.office.ticket_of_status_token(now, token)
    }

    /// A ticket of today as the shared board has it (see
    /// [`OfficeService::ticket_board`]): what a ticket page's feed reads on every
    /// call, cheaply, however many are open.
    pub fn ticket_on_board(
        &self,
        now: Timestamp,
        id: &TicketId,
    ) -> Result<Option<TicketView>, ServiceError> {
        Ok(self.office.ticket_board(now)?.get(id).cloned())
    }

    /// Today's board of tickets, pushed after every change (see
    /// [`OfficeService::subscribe_ticket_board`]).
    pub fn subscribe_ticket_board(
        &self,
        now: Timestamp,
    ) -> Result<
        tokio::sync::watch::Receiver<Arc<std::collections::BTreeMap<TicketId, TicketView>>>,
        ServiceError,
    > {
        self.office.subscribe_ticket_board(now)
    }

    /// A ticket's state for its status page.
    pub fn ticket(
        &self,
        now: Timestamp,
        id: &TicketId,
    ) -> Result<Option<TicketView>, ServiceError> {
        self.office.ticket_view(now, id)
    }
}
