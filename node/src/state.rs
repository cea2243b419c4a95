//! A running node's state and what it can do: the office on its replica, the kiosk's
//! printer, the views the API serves (day, desk, display) and the node's metrics.
//!
//! Every action goes through [`NodeState::act`], which runs on a blocking thread
//! (the replica flushes to disk before it returns) and then wakes the display feed.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::SystemTime;

use aufruf_hardware::{Language, TicketOffer, TicketPrinter, TicketSlip};
use aufruf_model::estimate::{self, HandlingTimes};
use aufruf_model::statistics::DayStatistics;
use aufruf_model::{
    ActionError, Day, DeskId, Event, OfficeConfig, Origin, ServiceId, Stamp, Status, Ticket,
    TicketId, Timestamp,
};
use aufruf_sync::{DocumentName, Replica};
use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use tokio::sync::watch;

use crate::office::{Carries, Office, OfficeError};
use crate::settings::{NodeSettings, RoleName};

/// The wall clock, read only here and handed to the pure model as a [`Timestamp`].
pub fn wall_clock() -> Timestamp {
    let ms = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    Timestamp::from_millis(ms)
}

/// Everything a node's API handlers share.
#[derive(Debug)]
pub struct NodeState {
    pub settings: NodeSettings,
    pub config: OfficeConfig,
    pub replica: Arc<Replica>,
    office: Mutex<Office<Arc<Replica>>>,
    printer: Option<TicketPrinter>,
    display: watch::Sender<DisplayView>,
    metrics: Mutex<Metrics>,
    /// Turns true when the node shuts down, so long-lived streams (the display
    /// feed) end and let the server stop.
    stopping: watch::Sender<bool>,
}

/// Why the API could not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    #[error(transparent)]
    Office(#[from] OfficeError),
    #[error("this node is a {role}; {what} needs a {needs}")]
    WrongRole {
        role: &'static str,
        what: &'static str,
        needs: &'static str,
    },
    #[error("there is no service \"{0}\"")]
    UnknownService(String),
    #[error("internal: {0}")]
    Internal(String),
}

impl NodeError {
    /// Whether the caller asked for something impossible (as opposed to the node
    /// failing).
    pub fn is_bad_request(&self) -> bool {
        matches!(
            self,
            NodeError::Office(OfficeError::Action(_))
                | NodeError::WrongRole { .. }
                | NodeError::UnknownService(_)
        )
    }
}

/// Prometheus-style counters kept by the node itself.
#[derive(Debug, Default)]
struct Metrics {
    /// Calls made elsewhere that this node has seen, and how long they took to get
    /// here (stamp to merge), in buckets.
    seen_calls: BTreeSet<Stamp>,
    call_latency: Histogram,
}

/// Cumulative buckets as Prometheus wants them.
#[derive(Debug)]
struct Histogram {
    bounds: Vec<f64>,
    counts: Vec<u64>,
    sum: f64,
    count: u64,
}

impl Default for Histogram {
    fn default() -> Self {
        let bounds = vec![
            0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
        ];
        Histogram {
            counts: vec![0; bounds.len()],
            bounds,
            sum: 0.0,
            count: 0,
        }
    }
}

impl Histogram {
    fn record(&mut self, seconds: f64) {
        for (bound, count) in self.bounds.iter().zip(&mut self.counts) {
            if seconds <= *bound {
                *count += 1;
            }
        }
        self.sum += seconds;
        self.count += 1;
    }
}

// ---- views ----

/// A ticket as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TicketView {
    pub id: String,
    pub number: String,
    pub service: String,
    pub service_name: String,
    pub origin: &'static str,
    pub status: &'static str,
    pub desk: Option<String>,
    pub arrival: String,
    pub calls: u32,
    /// Visitors who will be called first (waiting tickets only).
    pub ahead: Option<u32>,
    pub estimate_minutes: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DayView {
    pub date: NaiveDate,
    pub node: String,
    pub role: &'static str,
    pub tickets: Vec<TicketView>,
    pub waiting: BTreeMap<String, u32>,
    pub desks: Vec<DeskSummary>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DeskSummary {
    pub desk: String,
    pub open: bool,
    pub paused: bool,
    pub services: Vec<String>,
    pub current: Option<String>,
}

/// What a clerk's terminal shows.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DeskView {
    pub desk: String,
    pub name: String,
    pub open: bool,
    pub paused: bool,
    pub services: Vec<String>,
    pub current: Option<TicketView>,
    pub waiting_for_desk: u32,
    /// Visitors this desk called but another desk had first: call the next one.
    pub lost_claims: Vec<LostClaimView>,
    /// Whether the foyer display is connected; if not, called visitors may not see it.
    pub display_reachable: bool,
    pub peers: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LostClaimView {
    pub ticket: String,
    pub number: String,
    pub taken_by: Option<String>,
}

/// A ticket just drawn at the kiosk.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IssuedView {
    pub ticket: TicketView,
    pub status_url: String,
    /// `paper` if printed, `qr` if the QR code is to be shown.
    pub delivered_as: &'static str,
    /// Why the ticket was not printed, when it was not.
    pub print_problem: Option<String>,
    /// The emulated printer's picture.
    pub picture: Option<String>,
}

/// What the foyer display shows.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct DisplayView {
    pub date: Option<NaiveDate>,
    /// Visitors called right now, latest first.
    pub calls: Vec<CallView>,
    /// Recently finished or otherwise past calls.
    pub recent: Vec<CallView>,
    pub waiting: BTreeMap<String, u32>,
    pub waiting_total: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CallView {
    pub number: String,
    pub desk: String,
    pub desk_name: String,
    pub calls: u32,
    pub at: String,
}

/// What a client asks of a desk.
#[derive(Debug, Clone, PartialEq)]
pub enum DeskAction {
    Open { services: Vec<ServiceId> },
    Close,
    Pause,
    Resume,
    CallNext,
    Call { ticket: TicketId },
    Recall,
    Serving,
    Transfer { to: aufruf_model::Transfer },
    Park,
    Return { ticket: TicketId },
    NoShow,
    Done,
}

impl NodeState {
    pub fn new(
        settings: NodeSettings,
        config: OfficeConfig,
        replica: Arc<Replica>,
        printer: Option<TicketPrinter>,
    ) -> Self {
        let office = Office::new(
            config.clone(),
            replica.clone(),
            aufruf_model::NodeId::new(settings.id.as_str()),
        );
        let (display, _) = watch::channel(DisplayView::default());
        let (stopping, _) = watch::channel(false);
        Self {
            stopping,
            settings,
            config,
            replica,
            office: Mutex::new(office),
            printer,
            display,
            metrics: Mutex::new(Metrics::default()),
        }
    }

    pub fn role(&self) -> RoleName {
        self.settings.role
    }

    pub fn today(&self, now: Timestamp) -> NaiveDate {
        self.config.local_date(now)
    }

    fn office(&self) -> MutexGuard<'_, Office<Arc<Replica>>> {
        // A panic while holding the lock leaves the office as it was before the
        // action (the action either returned or unwound before writing); go on.
        self.office
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Runs a model action on today's day, durably, then refreshes the display feed.
    pub fn act<T: Carries>(
        &self,
        now: Timestamp,
        action: impl FnOnce(&mut Day, &OfficeConfig, Stamp) -> Result<T, ActionError>,
    ) -> Result<T, NodeError> {
        let date = self.today(now);
        let outcome = self.office().act(date, now, action)?;
        self.refresh_views(now);
        Ok(outcome)
    }

    // ---- days past their retention ----

    /// Deletes the day documents older than the retention, after keeping their
    /// statistics (no personal data) in the office document. Returns the days deleted.
    pub fn retire_expired(&self, now: Timestamp) -> Result<Vec<NaiveDate>, NodeError> {
        let today = self.today(now);
        let retention = chrono::Days::new(u64::from(self.settings.retention_days));
        let Some(cutoff) = today.checked_sub_days(retention) else {
            return Ok(Vec::new());
        };
        let expired: Vec<NaiveDate> = self
            .replica
            .document_names()
            .iter()
            .filter_map(|name| match name {
                DocumentName::Day { year, month, day } => {
                    NaiveDate::from_ymd_opt(i32::from(*year), u32::from(*month), u32::from(*day))
                }
                DocumentName::Office => None,
            })
            .filter(|date| *date < cutoff)
            .collect();
        for date in &expired {
            let statistics = {
                let mut office = self.office();
                DayStatistics::of(*date, office.day(*date)?)
            };
            self.keep_statistics(&statistics)?;
        }
        let horizon = crate::office::document_name(cutoff)?;
        self.replica
            .retire_days_before(horizon)
            .map_err(|e| NodeError::Office(OfficeError::Store(e.to_string())))?;
        self.office().forget_before(cutoff);
        if !expired.is_empty() {
            tracing::info!(days = ?expired, "days past the retention deleted; their statistics are kept");
        }
        Ok(expired)
    }

    /// The statistics kept of a deleted (or any summarised) day.
    pub fn statistics(&self, date: NaiveDate) -> Option<DayStatistics> {
        let key = format!("statistics:{date}");
        self.replica
            .read(&DocumentName::Office, |doc| {
                use automerge::ReadDoc;
                match doc.get(automerge::ROOT, key.as_str()).ok().flatten() {
                    Some((automerge::Value::Scalar(s), _)) => {
                        s.as_str().and_then(|text| serde_json::from_str(text).ok())
                    }
                    _ => None,
                }
            })
            .flatten()
    }

    fn keep_statistics(&self, statistics: &DayStatistics) -> Result<(), NodeError> {
        let key = format!("statistics:{}", statistics.date);
        let text =
            serde_json::to_string(statistics).map_err(|e| NodeError::Internal(e.to_string()))?;
        self.replica
            .change(&DocumentName::Office, |tx| {
                use automerge::transaction::Transactable;
                tx.put(automerge::ROOT, key.as_str(), text.as_str())
            })
            .map_err(|e| NodeError::Office(OfficeError::Store(e.to_string())))
    }

    // ---- kiosk ----

    /// Draws a walk-in ticket; prints it when asked for paper and the printer can.
    pub fn draw_ticket(
        &self,
        now: Timestamp,
        service: &str,
        paper: bool,
        language: Language,
    ) -> Result<IssuedView, NodeError> {
        self.require(
            &[RoleName::Kiosk, RoleName::Gateway],
            "drawing a ticket",
            "kiosk",
        )?;
        let service = ServiceId::new(service);
        if self.config.service(&service).is_none() {
            return Err(NodeError::UnknownService(service.to_string()));
        }
        let origin = if self.role() == RoleName::Gateway {
            Origin::Remote
        } else {
            Origin::WalkIn
        };
        let event = self.act(now, |day, config, stamp| {
            day.issue(config, &service, origin, stamp)
        })?;
        self.deliver(now, &event, paper, language)
    }

    /// Checks in a booked citizen by booking code.
    pub fn check_in(
        &self,
        now: Timestamp,
        code: &str,
        paper: bool,
        language: Language,
    ) -> Result<IssuedView, NodeError> {
        self.require(&[RoleName::Kiosk], "checking in", "kiosk")?;
        let code = aufruf_model::BookingCode::new(code.trim().to_uppercase());
        let event = self.act(now, |day, config, stamp| day.check_in(config, &code, stamp))?;
        self.deliver(now, &event, paper, language)
    }

    fn deliver(
        &self,
        now: Timestamp,
        event: &Event,
        paper: bool,
        language: Language,
    ) -> Result<IssuedView, NodeError> {
        let Event::Ticket { ticket: id, .. } = event else {
            return Err(NodeError::Internal("issuing gave no ticket".into()));
        };
        let ticket = self
            .ticket_view(now, id)?
            .ok_or_else(|| NodeError::Internal(format!("ticket {id} vanished")))?;
        let status_url = format!(
            "{}/t/{}",
            self.settings.public_url.trim_end_matches('/'),
            status_token(id)
        );
        let mut issued = IssuedView {
            ticket,
            status_url,
            delivered_as: "qr",
            print_problem: None,
            picture: None,
        };
        if !paper {
            return Ok(issued);
        }
        let Some(printer) = &self.printer else {
            issued.print_problem = Some("this kiosk has no printer".into());
            return Ok(issued);
        };
        if let TicketOffer::QrOnly(reason) = printer.offer() {
            issued.print_problem = Some(reason.notice(language).to_owned());
            return Ok(issued);
        }
        let slip = TicketSlip {
            office_name: self.config.office.name.clone(),
            number: issued.ticket.number.clone(),
            service: issued.ticket.service_name.clone(),
            visitors_ahead: issued.ticket.ahead.unwrap_or(0),
            estimate_minutes: issued.ticket.estimate_minutes,
            issued_at: local_time(&self.config, now).naive_local(),
            status_url: issued.status_url.clone(),
            language,
        };
        // The ticket is durable already; a failed print only means QR instead.
        match printer.print(&slip) {
            Ok(printed) => {
                issued.delivered_as = "paper";
                issued.picture = printed.picture.map(|p| p.display().to_string());
            }
            Err(e) => {
                tracing::warn!(error = %e, "printing failed; offering the QR code");
                issued.print_problem = Some(e.to_string());
            }
        }
        Ok(issued)
    }

    pub fn printer(&self) -> Option<&TicketPrinter> {
        self.printer.as_ref()
    }

    // ---- desk ----

    /// Carries out a clerk's action at `desk` and returns the desk's view after it.
    pub fn desk_action(
        &self,
        now: Timestamp,
        desk: &DeskId,
        action: DeskAction,
    ) -> Result<DeskView, NodeError> {
        self.require(&[RoleName::Desk], "a desk action", "desk terminal")?;
        if self.config.desk(desk).is_none() {
            return Err(OfficeError::Action(ActionError::UnknownDesk(desk.clone())).into());
        }
        match action {
            DeskAction::Open { services } => {
                self.act(now, |day, c, s| day.open_desk(c, desk, services, s))?;
            }
            DeskAction::Close => {
                self.act(now, |day, _, s| day.close_desk(desk, s))?;
            }
            DeskAction::Pause => {
                self.act(now, |day, _, s| day.pause_desk(desk, s))?;
            }
            DeskAction::Resume => {
                self.act(now, |day, _, s| day.resume_desk(desk, s))?;
            }
            DeskAction::CallNext => {
                self.act(now, |day, c, s| day.call_next(c, desk, s))?;
            }
            DeskAction::Call { ticket } => {
                self.act(now, |day, c, s| day.call(c, desk, &ticket, s))?;
            }
            DeskAction::Recall => {
                self.act(now, |day, c, s| day.recall(c, desk, s))?;
            }
            DeskAction::Serving => {
                self.act(now, |day, _, s| day.start_serving(desk, s))?;
            }
            DeskAction::Transfer { to } => {
                self.act(now, |day, c, s| day.transfer(c, desk, to, s))?;
            }
            DeskAction::Park => {
                self.act(now, |day, _, s| day.park(desk, s))?;
            }
            DeskAction::Return { ticket } => {
                self.act(now, |day, _, s| day.return_ticket(&ticket, s))?;
            }
            DeskAction::NoShow => {
                self.act(now, |day, _, s| day.no_show(desk, s))?;
            }
            DeskAction::Done => {
                self.act(now, |day, _, s| day.finish(desk, s))?;
            }
        }
        self.desk_view(now, desk)
    }

    pub fn desk_view(&self, now: Timestamp, desk: &DeskId) -> Result<DeskView, NodeError> {
        let date = self.today(now);
        let mut office = self.office();
        let day = office.day(date)?;
        let session = day.desk_session(desk);
        let times = learned(day);
        let current = day
            .current_of(desk)
            .map(|t| self.view_of(day, &times, t, now));
        let services = day.services_of(&self.config, desk);
        let waiting_for_desk = day
            .waiting()
            .filter(|t| aufruf_model::policy::may_call(day, &self.config, desk, t))
            .count();
        let lost_claims = day
            .lost_claims_of(desk)
            .map(|c| LostClaimView {
                ticket: c.ticket.to_string(),
                number: day
                    .ticket(&c.ticket)
                    .map(|t| t.number.to_string())
                    .unwrap_or_default(),
                taken_by: c.winner.as_ref().map(ToString::to_string),
            })
            .collect();
        let peers = self.replica.peers();
        Ok(DeskView {
            desk: desk.to_string(),
            name: self
                .config
                .desk(desk)
                .map(|d| d.name.clone())
                .unwrap_or_default(),
            open: session.as_ref().is_some_and(|s| s.open),
            paused: session.as_ref().is_some_and(|s| s.paused),
            services: services.iter().map(ToString::to_string).collect(),
            current,
            waiting_for_desk: u32::try_from(waiting_for_desk).unwrap_or(u32::MAX),
            lost_claims,
            display_reachable: peers.iter().any(|p| p.role == aufruf_sync::Role::Display),
            peers: peers.iter().map(|p| p.node.to_string()).collect(),
        })
    }

    // ---- reading ----

    pub fn day_view(&self, now: Timestamp) -> Result<DayView, NodeError> {
        let date = self.today(now);
        let mut office = self.office();
        let day = office.day(date)?;
        let times = learned(day);
        let outlook = estimate::estimate_all(day, &self.config, &times, now);
        let tickets = day
            .tickets()
            .map(|t| self.view_with(t, outlook.get(&t.id).copied()))
            .collect();
        let desks = self
            .config
            .desks
            .iter()
            .map(|d| {
                let session = day.desk_session(&d.id);
                DeskSummary {
                    desk: d.id.to_string(),
                    open: session.as_ref().is_some_and(|s| s.open),
                    paused: session.as_ref().is_some_and(|s| s.paused),
                    services: day
                        .services_of(&self.config, &d.id)
                        .iter()
                        .map(ToString::to_string)
                        .collect(),
                    current: day.current_of(&d.id).map(|t| t.number.to_string()),
                }
            })
            .collect();
        Ok(DayView {
            date,
            node: self.settings.id.clone(),
            role: self.role().name(),
            tickets,
            waiting: waiting_counts(day),
            desks,
        })
    }

    pub fn ticket_view(
        &self,
        now: Timestamp,
        id: &TicketId,
    ) -> Result<Option<TicketView>, NodeError> {
        let date = self.today(now);
        let mut office = self.office();
        let day = office.day(date)?;
        let times = learned(day);
        Ok(day.ticket(id).map(|t| self.view_of(day, &times, t, now)))
    }

    /// The display's current content; changes arrive on [`NodeState::display_feed`].
    pub fn display_view(&self) -> DisplayView {
        self.display.borrow().clone()
    }

    pub fn display_feed(&self) -> watch::Receiver<DisplayView> {
        self.display.subscribe()
    }

    /// Ends the node's long-lived streams.
    pub fn begin_shutdown(&self) {
        self.stopping.send_replace(true);
    }

    /// Turns true when the node shuts down.
    pub fn stopping(&self) -> watch::Receiver<bool> {
        self.stopping.subscribe()
    }

    /// Re-reads today after a local action or a peer's change: updates the display
    /// feed and the call-latency metric.
    pub fn refresh_views(&self, now: Timestamp) {
        let date = self.today(now);
        let mut office = self.office();
        let day = match office.day(date) {
            Ok(day) => day,
            Err(e) => {
                tracing::error!(error = %e, "cannot read today's document");
                return;
            }
        };
        let view = display_view(&self.config, day, date);
        {
            let mut metrics = self
                .metrics
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let me = aufruf_model::NodeId::new(self.settings.id.as_str());
            for t in day.tickets() {
                for stamp in &t.calls_won {
                    if stamp.node != me && metrics.seen_calls.insert(stamp.clone()) {
                        let latency = now.since(stamp.hlc.wall());
                        metrics.call_latency.record(latency.as_secs_f64());
                    }
                }
            }
        }
        drop(office);
        self.display.send_if_modified(|shown| {
            if *shown == view {
                false
            } else {
                *shown = view;
                true
            }
        });
    }

    /// The metrics in Prometheus' text format.
    pub fn metrics_text(&self, now: Timestamp) -> String {
        use std::fmt::Write;
        let mut out = String::new();
        let peers = self.replica.peers().len();
        let _ = writeln!(
            out,
            "# HELP aufruf_peers_connected Office peers with a live session."
        );
        let _ = writeln!(out, "# TYPE aufruf_peers_connected gauge");
        let _ = writeln!(out, "aufruf_peers_connected {peers}");
        let waiting = {
            let date = self.today(now);
            let mut office = self.office();
            office.day(date).map(waiting_counts).unwrap_or_default()
        };
        let _ = writeln!(
            out,
            "# HELP aufruf_tickets_waiting Tickets waiting, per service."
        );
        let _ = writeln!(out, "# TYPE aufruf_tickets_waiting gauge");
        for service in &self.config.services {
            let n = waiting.get(service.id.as_str()).copied().unwrap_or(0);
            let _ = writeln!(
                out,
                "aufruf_tickets_waiting{{service=\"{}\"}} {n}",
                service.id
            );
        }
        {
            let metrics = self
                .metrics
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let h = &metrics.call_latency;
            let _ = writeln!(
                out,
                "# HELP aufruf_call_to_replica_seconds From a call at another desk to this replica."
            );
            let _ = writeln!(out, "# TYPE aufruf_call_to_replica_seconds histogram");
            for (bound, count) in h.bounds.iter().zip(&h.counts) {
                let _ = writeln!(
                    out,
                    "aufruf_call_to_replica_seconds_bucket{{le=\"{bound}\"}} {count}"
                );
            }
            let _ = writeln!(
                out,
                "aufruf_call_to_replica_seconds_bucket{{le=\"+Inf\"}} {}",
                h.count
            );
            let _ = writeln!(out, "aufruf_call_to_replica_seconds_sum {}", h.sum);
            let _ = writeln!(out, "aufruf_call_to_replica_seconds_count {}", h.count);
        }
        let store = self.replica.store_size().unwrap_or(0);
        let _ = writeln!(
            out,
            "# HELP aufruf_store_bytes Size of the local store on disk."
        );
        let _ = writeln!(out, "# TYPE aufruf_store_bytes gauge");
        let _ = writeln!(out, "aufruf_store_bytes {store}");
        if let Some(printer) = &self.printer {
            let _ = writeln!(out, "# HELP aufruf_printer Printer state (1 = true).");
            let _ = writeln!(out, "# TYPE aufruf_printer gauge");
            for (name, value) in printer.status().gauges() {
                let _ = writeln!(out, "aufruf_printer{{state=\"{name}\"}} {value}");
            }
        }
        out
    }

    fn require(
        &self,
        roles: &[RoleName],
        what: &'static str,
        needs: &'static str,
    ) -> Result<(), NodeError> {
        if roles.contains(&self.role()) {
            Ok(())
        } else {
            Err(NodeError::WrongRole {
                role: self.role().name(),
                what,
                needs,
            })
        }
    }

    fn view_of(&self, day: &Day, times: &HandlingTimes, t: &Ticket, now: Timestamp) -> TicketView {
        let outlook = (t.status == Status::Waiting)
            .then(|| estimate::estimate(day, &self.config, times, &t.id, now))
            .flatten();
        self.view_with(t, outlook)
    }

    fn view_with(&self, t: &Ticket, outlook: Option<estimate::Estimate>) -> TicketView {
        TicketView {
            id: t.id.to_string(),
            number: t.number.to_string(),
            service: t.service.to_string(),
            service_name: self
                .config
                .service(&t.service)
                .map(|s| s.name.de.clone())
                .unwrap_or_default(),
            origin: match t.origin {
                Origin::WalkIn => "walk-in",
                Origin::Remote => "remote",
                Origin::Appointment { .. } => "appointment",
            },
            status: t.status.name(),
            desk: t.status.desk().map(ToString::to_string),
            arrival: local_time(&self.config, t.arrival).to_rfc3339(),
            calls: t.calls,
            ahead: outlook.map(|e| e.ahead),
            estimate_minutes: outlook.map(|e| e.minutes()),
        }
    }
}

/// The token in a ticket's status address.
pub fn status_token(id: &TicketId) -> String {
    format!("{}-{}", id.node, id.seq)
}

fn learned(day: &Day) -> HandlingTimes {
    let mut times = HandlingTimes::new();
    times.learn_from(day);
    times
}

fn waiting_counts(day: &Day) -> BTreeMap<String, u32> {
    let mut counts = BTreeMap::new();
    for t in day.waiting() {
        *counts.entry(t.service.to_string()).or_insert(0) += 1;
    }
    counts
}

fn local_time(config: &OfficeConfig, t: Timestamp) -> DateTime<chrono_tz::Tz> {
    let ms = i64::try_from(t.as_millis()).unwrap_or(i64::MAX);
    DateTime::<Utc>::from_timestamp_millis(ms)
        .unwrap_or_default()
        .with_timezone(&config.timezone())
}

/// The foyer display's content for a day.
pub fn display_view(config: &OfficeConfig, day: &Day, date: NaiveDate) -> DisplayView {
    let call_of = |t: &Ticket, desk: &DeskId| CallView {
        number: t.number.to_string(),
        desk: desk.to_string(),
        desk_name: config
            .desk(desk)
            .map(|d| d.name.clone())
            .unwrap_or_default(),
        calls: t.calls,
        at: local_time(config, t.since).format("%H:%M:%S").to_string(),
    };
    let mut calls: Vec<(Timestamp, CallView)> = day
        .tickets()
        .filter_map(|t| match &t.status {
            Status::Called { desk } => Some((t.since, call_of(t, desk))),
            _ => None,
        })
        .collect();
    calls.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.number.cmp(&b.1.number)));
    let mut recent: Vec<(Timestamp, CallView)> = day
        .tickets()
        .filter_map(|t| match (&t.status, &t.last_desk) {
            (Status::Serving { desk } | Status::Done { desk }, _) => {
                Some((t.since, call_of(t, desk)))
            }
            _ => None,
        })
        .collect();
    recent.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.number.cmp(&b.1.number)));
    recent.truncate(8);
    let waiting = waiting_counts(day)
        .into_iter()
        .map(|(service, n)| {
            let name = config
                .service(&ServiceId::new(service.as_str()))
                .map_or(service, |s| s.name.de.clone());
            (name, n)
        })
        .collect::<BTreeMap<_, _>>();
    DisplayView {
        date: Some(date),
        calls: calls.into_iter().map(|(_, c)| c).collect(),
        recent: recent.into_iter().map(|(_, c)| c).collect(),
        waiting_total: waiting.values().sum(),
        waiting,
    }
}
