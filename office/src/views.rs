//! What the faces show: typed views of the day, a ticket, a desk, the display and the
//! kiosk. Every face (HTTP API, screens, portal) renders these; none of them reads the
//! model or the documents itself.
//!
//! Views are plain data (serde for the JSON API); states are enums, never strings, so a
//! face matches on them and the compiler tells it when a state is added.

use std::collections::BTreeMap;

use aufruf_model::estimate::Estimate;
use aufruf_model::{
    Day, DepartmentId, DeskId, NodeId, OfficeConfig, Origin, Role, ServiceId, Status, Ticket,
    TicketId, Timestamp,
};
use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;

/// How a visitor came to the office.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Arrival {
    /// Drew a ticket at the kiosk.
    WalkIn,
    /// Drew a ticket from the phone near the office.
    Remote,
    /// A booked citizen who checked in.
    Appointment,
}

/// Where a ticket stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum TicketState {
    Waiting,
    Called,
    Serving,
    Parked,
    Done,
    NoShow,
    Cancelled,
}

impl TicketState {
    pub fn of(status: &Status) -> Self {
        match status {
            Status::Waiting => TicketState::Waiting,
            Status::Called { .. } => TicketState::Called,
            Status::Serving { .. } => TicketState::Serving,
            Status::Parked { .. } => TicketState::Parked,
            Status::Done { .. } => TicketState::Done,
            Status::NoShow => TicketState::NoShow,
            Status::Cancelled => TicketState::Cancelled,
        }
    }
}

impl From<&Origin> for Arrival {
    fn from(origin: &Origin) -> Self {
        match origin {
            Origin::WalkIn => Arrival::WalkIn,
            Origin::Remote => Arrival::Remote,
            Origin::Appointment { .. } => Arrival::Appointment,
        }
    }
}

/// A ticket as the faces show it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TicketView {
    #[serde(serialize_with = "as_text")]
    pub id: TicketId,
    /// The display number, e.g. "P 012".
    pub number: String,
    pub service: ServiceId,
    /// The service's German name.
    pub service_name: String,
    /// The German names of the further services a booking of several brought (the
    /// desk deals with them in the same visit); none for a walk-in.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub further_services: Vec<String>,
    pub origin: Arrival,
    pub status: TicketState,
    /// The desk that holds the visitor now (called or serving).
    pub desk: Option<DeskId>,
    /// When the visitor drew the ticket, office time, RFC 3339.
    pub arrival: String,
    /// The appointment's start (office time) for a checked-in booking.
    pub appointment: Option<String>,
    /// Calls (first call and recalls) since the ticket last entered the queue.
    pub calls: u32,
    /// Visitors who will be called first (waiting tickets only).
    pub ahead: Option<u32>,
    /// About how many minutes until the call (waiting tickets only).
    pub estimate_minutes: Option<u32>,
}

impl TicketView {
    pub fn of(config: &OfficeConfig, day: &Day, t: &Ticket, outlook: Option<Estimate>) -> Self {
        TicketView {
            id: t.id.clone(),
            number: t.number.to_string(),
            service: t.service.clone(),
            service_name: service_name(config, &t.service),
            further_services: day
                .further_services(t)
                .iter()
                .map(|s| service_name(config, s))
                .collect(),
            origin: Arrival::from(&t.origin),
            status: TicketState::of(&t.status),
            desk: t.status.desk().cloned(),
            arrival: office_time(config, t.arrival).to_rfc3339(),
            appointment: t
                .origin
                .due()
                .map(|due| office_time(config, due).format("%H:%M").to_string()),
            calls: t.calls,
            ahead: outlook.map(|e| e.ahead),
            estimate_minutes: outlook.map(|e| e.minutes()),
        }
    }
}

/// The whole day as an operator sees it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DayView {
    pub date: NaiveDate,
    pub node: String,
    pub tickets: Vec<TicketView>,
    /// Tickets waiting, per service id.
    pub waiting: BTreeMap<ServiceId, u32>,
    pub desks: Vec<DeskSummary>,
}

/// One desk in the day's overview.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeskSummary {
    pub desk: DeskId,
    pub open: bool,
    pub paused: bool,
    pub services: Vec<ServiceId>,
    /// The display number of the visitor at the desk.
    pub current: Option<String>,
}

/// A peer this node has a live session with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PeerView {
    pub node: NodeId,
    /// By name (`display`) in JSON.
    pub role: Role,
}

/// What a clerk's terminal shows.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DeskView {
    pub desk: DeskId,
    pub name: String,
    pub open: bool,
    pub paused: bool,
    pub services: Vec<ServiceId>,
    pub current: Option<TicketView>,
    /// Visitors this desk may call now.
    pub waiting_for_desk: u32,
    /// The next visitors this desk would call, in the policy's order.
    pub next: Vec<TicketView>,
    /// Visitors this desk parked.
    pub parked: Vec<TicketView>,
    /// Visitors this desk called but another desk had first: call the next one.
    pub lost_claims: Vec<LostClaimView>,
    /// Whether the foyer display has a live session with this node.
    pub display_reachable: bool,
    pub peers: Vec<PeerView>,
    /// Set while this device's new store catches up with the office: the desk calls
    /// nobody until then.
    pub catching_up: Option<CatchingUp>,
}

/// A call of this desk that lost to another desk's earlier call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LostClaimView {
    #[serde(serialize_with = "as_text")]
    pub ticket: TicketId,
    pub number: String,
    pub taken_by: Option<DeskId>,
}

/// How a ticket reached the visitor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Delivery {
    /// Printed on paper (the QR code is on it and on screen).
    Paper,
    /// Shown as a QR code on screen only.
    Qr,
    /// Shown on screen by its number only: no paper, and no status address for a code
    /// (the office has no public address configured).
    Screen,
}

/// A ticket just drawn at the kiosk (or checked in).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IssuedView {
    pub ticket: TicketView,
    /// The ticket's unguessable status token (128 bits), the key of its status page;
    /// the ticket id stays internal.
    pub status_token: String,
    /// Where the visitor follows the ticket on the phone; `None` when the office has
    /// no public address configured.
    pub status_url: Option<String>,
    pub delivered_as: Delivery,
    /// Why the ticket was not printed, when it was not.
    pub print_problem: Option<String>,
    /// The emulated printer's picture of the ticket.
    pub picture: Option<String>,
}

/// What the foyer display shows.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct DisplayView {
    pub date: Option<NaiveDate>,
    /// Visitors called right now, latest first.
    pub calls: Vec<CallView>,
    /// Recently served or finished visitors, latest first.
    pub recent: Vec<CallView>,
    /// Waiting visitors per service name.
    pub waiting: BTreeMap<String, u32>,
    pub waiting_total: u32,
}

/// One call on the display.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CallView {
    pub number: String,
    pub desk: DeskId,
    pub desk_name: String,
    pub calls: u32,
    /// Office time of the call, `HH:MM:SS`.
    pub at: String,
}

/// One service as the kiosk offers it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KioskService {
    pub service: ServiceId,
    pub name_de: String,
    pub name_en: String,
    pub waiting: u32,
    /// A new ticket's wait would reach past the department's closing time: the
    /// office issues none today (its department takes walk-ins, else see there).
    pub no_more_today: bool,
}

/// One department as the kiosk offers it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KioskDepartment {
    pub department: DepartmentId,
    pub name_de: String,
    pub name_en: String,
    /// Whether the department takes walk-ins now.
    pub open: bool,
    /// When it reopens, if closed and known.
    pub reopens: Option<Reopens>,
    pub services: Vec<KioskService>,
}

/// When a closed department reopens, in the kiosk's words.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Reopens {
    /// "öffnet Donnerstag, 08:00"
    pub de: String,
    /// "opens Thursday at 08:00"
    pub en: String,
}

/// What the kiosk's start screen shows.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct KioskView {
    pub date: Option<NaiveDate>,
    pub departments: Vec<KioskDepartment>,
    /// Set while this device's new store catches up with the office: the kiosk
    /// issues no ticket until then, and says so.
    pub catching_up: Option<CatchingUp>,
}

/// Why a device issues and calls nothing yet, in its screen's words: its store is
/// new (a replaced disk, or a store set aside as unreadable) and it has not yet caught
/// up with today's tickets from another device of the office.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CatchingUp {
    pub de: String,
    pub en: String,
}

impl CatchingUp {
    /// The notice every screen shows.
    pub fn notice() -> Self {
        CatchingUp {
            de: "Dieses Gerät hat einen neuen Datenspeicher und gleicht sich erst mit den \
                 anderen Geräten des Büros ab. Bis dahin gibt es keine Nummern aus und ruft \
                 niemanden auf."
                .into(),
            en: "This device has a new store and first catches up with the office's other \
                 devices. Until then it issues no tickets and calls nobody."
                .into(),
        }
    }
}

/// A service's German name, or its id when the configuration has no such service.
pub(crate) fn service_name(config: &OfficeConfig, service: &ServiceId) -> String {
    config
        .service(service)
        .map_or_else(|| service.to_string(), |s| s.name.de.clone())
}

/// A timestamp in the office's time zone.
pub(crate) fn office_time(config: &OfficeConfig, t: Timestamp) -> DateTime<chrono_tz::Tz> {
    let ms = i64::try_from(t.as_millis()).unwrap_or(i64::MAX);
    DateTime::<Utc>::from_timestamp_millis(ms)
        .unwrap_or_default()
        .with_timezone(&config.timezone())
}

/// Ticket ids appear as `kiosk-1~7f3a9c21/17` in JSON.
fn as_text<S: serde::Serializer>(id: &TicketId, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(id)
}
