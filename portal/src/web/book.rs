//! Booking pages: department → service (and further services of the department in
//! the same appointment) → day → start time → confirmation; a booking's page and its
//! cancellation. One question per page.

use std::sync::Arc;

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse as _, Response};
use chrono::{NaiveDate, NaiveTime};
use serde::Deserialize;

use super::pages::{self, BookingPage, ChoosePage, Chrome, PowField, SlotsPage, render};
use super::{CarriesCsrf, Checked, Ctx, SignedIn, SignedInForm, blocking};
use crate::Portal;
use crate::booking::{Refusal, Visit};
use crate::i18n::Lang;
use crate::slots::SlotError;
use crate::store::Account;

pub(super) fn name(l: Lang, n: &aufruf_model::config::Name) -> String {
    match l {
        Lang::De => n.de.clone(),
        Lang::En => n.en.clone(),
    }
}

pub(super) fn weekday(l: Lang, date: NaiveDate) -> String {
    use chrono::Datelike;
    let de = [
        "Montag",
        "Dienstag",
        "Mittwoch",
        "Donnerstag",
        "Freitag",
        "Samstag",
        "Sonntag",
    ];
    let en = [
        "Monday",
        "Tuesday",
        "Wednesday",
        "Thursday",
        "Friday",
        "Saturday",
        "Sunday",
    ];
    let i = date.weekday().num_days_from_monday() as usize;
    match l {
        Lang::De => format!("{}, {}", de[i], date.format("%d.%m.%Y")),
        Lang::En => format!("{}, {}", en[i], date.format("%d %B %Y")),
    }
}

pub async fn departments(State(portal): State<Arc<Portal>>, ctx: Ctx) -> Response {
    let l = ctx.lang;
    let config = portal.config();
    let items = config
        .departments
        .iter()
        .filter(|d| config.services.iter().any(|s| s.department == d.id))
        .map(|d| {
            (
                format!("/book/department/{}", d.id),
                name(l, &d.name),
                String::new(),
            )
        })
        .collect();
    let heading = l.pick(
        "Zu welcher Abteilung möchten Sie?",
        "Which department do you need?",
    );
    render(
        &ctx,
        StatusCode::OK,
        &ChoosePage {
            c: Chrome::new(&ctx, &portal, heading),
            back: None,
            heading: heading.to_owned(),
            intro: Vec::new(),
            items,
            empty: l.pick(
                "Zurzeit können keine Termine gebucht werden.",
                "No appointments can be booked at the moment.",
            ),
        },
    )
}

pub async fn services(
    State(portal): State<Arc<Portal>>,
    ctx: Ctx,
    Path(department): Path<String>,
) -> Response {
    let l = ctx.lang;
    let config = portal.config();
    let Some(d) = config
        .departments
        .iter()
        .find(|d| d.id.as_str() == department)
    else {
        return pages::not_found(State(portal), ctx).await;
    };
    let items = config
        .services
        .iter()
        .filter(|s| s.department == d.id)
        .map(|s| {
            (
                format!("/book/service/{}", s.id),
                name(l, &s.name),
                match l {
                    Lang::De => format!("etwa {} Minuten", s.expected_minutes),
                    Lang::En => format!("about {} minutes", s.expected_minutes),
                },
            )
        })
        .collect();
    let heading = l.pick("Worum geht es?", "What is it about?");
    render(
        &ctx,
        StatusCode::OK,
        &ChoosePage {
            c: Chrome::new(&ctx, &portal, heading),
            back: Some(("/book".into(), l.pick("Zurück", "Back").into())),
            heading: heading.to_owned(),
            intro: vec![name(l, &d.name)],
            items,
            empty: l.pick(
                "Hier gibt es keine Termine.",
                "There are no appointments here.",
            ),
        },
    )
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct DayQuery {
    day: String,
    /// Further services of the same appointment, their ids separated by commas.
    also: String,
}

/// The ids in a list of further services (`a,b`); more than any appointment holds
/// are cut at one too many, which [`Portal::visit`] refuses.
fn parse_also(also: &str) -> Vec<&str> {
    also.split(',')
        .filter(|id| !id.is_empty())
        .take(aufruf_model::Appointment::MAX_ALSO + 1)
        .collect()
}

/// The page of a new booking's days for `first` and the further services `also`.
fn days_path(first: &str, also: &[String]) -> String {
    if also.is_empty() {
        format!("/book/service/{first}")
    } else {
        format!("/book/service/{first}?also={}", also.join(","))
    }
}

pub async fn day_or_times(
    State(portal): State<Arc<Portal>>,
    ctx: Ctx,
    Path(service): Path<String>,
    Query(q): Query<DayQuery>,
) -> Response {
    let Some(visit) = portal.visit(&service, &parse_also(&q.also)) else {
        return pages::not_found(State(portal), ctx).await;
    };
    let choosing = Choosing {
        visit,
        moving: None,
    };
    day_or_times_of(&portal, &ctx, &choosing, &q.day)
}

/// What the citizen chooses a day and a time for: a new booking of `visit`, or
/// moving the booking `moving` (of those services) to another time.
struct Choosing<'a> {
    visit: Visit,
    moving: Option<&'a str>,
}

impl Choosing<'_> {
    /// The page listing the days; `day=` opens a day's times.
    fn days(&self) -> String {
        match self.moving {
            None => days_path(self.visit.first.id.as_str(), &self.visit.also_ids()),
            Some(code) => format!("/bookings/{code}/move"),
        }
    }

    /// Where the times form goes.
    fn action(&self) -> String {
        match self.moving {
            None => "/book".to_owned(),
            Some(code) => format!("/bookings/{code}/move"),
        }
    }
}

/// The days, or with `day` that day's free times.
fn day_or_times_of(portal: &Portal, ctx: &Ctx, choosing: &Choosing, day: &str) -> Response {
    if day.is_empty() {
        return days_page(portal, ctx, choosing);
    }
    let l = ctx.lang;
    let Ok(day) = NaiveDate::parse_from_str(day, "%Y-%m-%d") else {
        return pages::message(
            ctx,
            portal,
            StatusCode::BAD_REQUEST,
            l.pick("Ungültiges Datum", "Invalid date"),
            vec![
                l.pick(
                    "Wählen Sie einen der angebotenen Tage.",
                    "Choose one of the days offered.",
                )
                .to_owned(),
            ],
            vec![(
                choosing.days(),
                l.pick("Tage ansehen", "See the days").into(),
            )],
        );
    };
    times_page(portal, ctx, choosing, day, None)
}

/// A month of bookable days: its name with the year, and each day's link and short label.
type Month = (String, Vec<(String, String)>);

/// The days grouped by month, each day as "Fr 27.11." (its month heading gives the year)
/// linking to `{days}?day=…` (`&day=` when the path has a query already).
fn months(l: Lang, days_path: &str, days: Vec<NaiveDate>) -> Vec<Month> {
    use chrono::Datelike;
    let day = if days_path.contains('?') { '&' } else { '?' };
    const DE: [&str; 12] = [
        "Januar",
        "Februar",
        "März",
        "April",
        "Mai",
        "Juni",
        "Juli",
        "August",
        "September",
        "Oktober",
        "November",
        "Dezember",
    ];
    let mut months: Vec<Month> = Vec::new();
    let mut current = None;
    for d in days {
        let month = (d.year(), d.month0());
        if current != Some(month) {
            current = Some(month);
            let name = match l {
                Lang::De => format!("{} {}", DE[d.month0() as usize], d.year()),
                Lang::En => d.format("%B %Y").to_string(),
            };
            months.push((name, Vec::new()));
        }
        let short = weekday(l, d).chars().take(2).collect::<String>();
        let label = match l {
            Lang::De => format!("{short} {}", d.format("%d.%m.")),
            Lang::En => format!("{short} {}", d.format("%d %b")),
        };
        if let Some((_, list)) = months.last_mut() {
            list.push((format!("{days_path}{day}day={d}"), label));
        }
    }
    months
}

#[derive(Template)]
#[template(path = "days.html")]
struct DaysPage {
    c: Chrome,
    back: (String, String),
    heading: &'static str,
    service: String,
    /// A new booking's further services: the heading, and each service chosen or to
    /// choose with the link that removes or adds it.
    combine: Option<(&'static str, Vec<(String, String)>)>,
    months: Vec<Month>,
    empty: &'static str,
}

/// A new booking's links that add a further service of the department to the
/// appointment or take one out of it: the link and what it says.
fn combine_links(portal: &Portal, l: Lang, visit: &Visit) -> Vec<(String, String)> {
    let first = visit.first.id.as_str();
    let also = visit.also_ids();
    let removing = visit.also.iter().map(|s| {
        let rest: Vec<String> = also
            .iter()
            .filter(|a| **a != s.id.as_str())
            .cloned()
            .collect();
        let text = match l {
            Lang::De => format!("{} wieder herausnehmen", s.name.de),
            Lang::En => format!("Take out {}", s.name.en),
        };
        (days_path(first, &rest), text)
    });
    let config = portal.config();
    let adding: Vec<(String, String)> = if also.len() < aufruf_model::Appointment::MAX_ALSO {
        config
            .services
            .iter()
            .filter(|s| {
                s.department == visit.department.id && visit.services().all(|v| v.id != s.id)
            })
            .map(|s| {
                let more: Vec<String> = also.iter().cloned().chain([s.id.to_string()]).collect();
                let text = match l {
                    Lang::De => format!(
                        "{} hinzufügen (etwa {} Minuten)",
                        s.name.de, s.expected_minutes
                    ),
                    Lang::En => format!("Add {} (about {} minutes)", s.name.en, s.expected_minutes),
                };
                (days_path(first, &more), text)
            })
            .collect()
    } else {
        Vec::new()
    };
    removing.chain(adding).collect()
}

fn days_page(portal: &Portal, ctx: &Ctx, choosing: &Choosing) -> Response {
    let l = ctx.lang;
    let visit = &choosing.visit;
    let length = match l {
        Lang::De => format!("{} – etwa {} Minuten", visit.name(l), visit.minutes()),
        Lang::En => format!("{} – about {} minutes", visit.name(l), visit.minutes()),
    };
    let (heading, back, service_line) = match choosing.moving {
        None => (
            l.pick("An welchem Tag?", "On which day?"),
            format!("/book/department/{}", visit.department.id),
            length,
        ),
        Some(code) => (
            l.pick("Auf welchen Tag verschieben?", "Move to which day?"),
            format!("/bookings/{code}"),
            format!("{length} – {} {code}", l.pick("Termin", "appointment")),
        ),
    };
    let combine = choosing.moving.is_none().then(|| {
        (
            l.pick(
                "Noch ein Anliegen im selben Termin?",
                "Another matter in the same appointment?",
            ),
            combine_links(portal, l, visit),
        )
    });
    render(
        ctx,
        StatusCode::OK,
        &DaysPage {
            c: Chrome::new(ctx, portal, heading),
            back: (back, l.pick("Zurück", "Back").into()),
            heading,
            service: service_line,
            combine: combine.filter(|(_, links)| !links.is_empty()),
            months: months(l, &choosing.days(), portal.days(visit)),
            empty: l.pick(
                "Zurzeit sind keine Termine frei.",
                "No appointments are free at the moment.",
            ),
        },
    )
}

fn times_page(
    portal: &Portal,
    ctx: &Ctx,
    choosing: &Choosing,
    day: NaiveDate,
    problem: Option<&'static str>,
) -> Response {
    let l = ctx.lang;
    let visit = &choosing.visit;
    let starts = match (portal.free_starts(visit, day), problem) {
        (Ok(s), _) => s,
        // A refused booking for a day that is not open to booking: the form again,
        // with no times and the reason tied to it.
        (Err(_), Some(_)) => Vec::new(),
        (Err(e), None) => {
            return pages::message(
                ctx,
                portal,
                StatusCode::BAD_REQUEST,
                l.pick("Dieser Tag geht nicht", "This day is not possible"),
                vec![Refusal::Slot(e).text(l).to_owned()],
                vec![(
                    choosing.days(),
                    l.pick("Tage ansehen", "See the days").into(),
                )],
            );
        }
    };
    let heading = l.pick("Um wie viel Uhr?", "At what time?");
    let mut intro = vec![format!("{} – {}", visit.name(l), weekday(l, day))];
    if ctx.account().is_none() {
        intro.push(
            l.pick(
                "Zum Buchen melden Sie sich an; Sie kommen danach hierher zurück.",
                "To book, log in first.",
            )
            .to_owned(),
        );
    }
    let status = if problem.is_some() {
        StatusCode::CONFLICT
    } else {
        StatusCode::OK
    };
    render(
        ctx,
        status,
        &SlotsPage {
            c: Chrome::new(ctx, portal, heading),
            errors: problem
                .map(|p| ("time".to_owned(), p.to_owned()))
                .into_iter()
                .collect(),
            back: (
                choosing.days(),
                l.pick("Anderen Tag wählen", "Choose another day").into(),
            ),
            action: choosing.action(),
            heading: heading.to_owned(),
            intro,
            service: visit.first.id.to_string(),
            also: visit.also_ids().join(","),
            day: day.to_string(),
            legend: l.pick("Freie Zeiten", "Free times"),
            error: problem,
            times: starts
                .iter()
                .map(|s| s.start.time.format("%H:%M").to_string())
                .collect(),
            submit: match choosing.moving {
                None => l.pick("Termin verbindlich buchen", "Book this appointment"),
                Some(_) => l.pick("Termin hierhin verschieben", "Move the appointment here"),
            },
            empty: l.pick(
                "An diesem Tag ist nichts mehr frei.",
                "Nothing is free on this day any more.",
            ),
            pow: PowField::new(ctx, portal),
            // A fully booked day of a new booking of one service: its waitlist, for a
            // signed-in citizen.
            waitlist: (starts.is_empty()
                && problem.is_none()
                && choosing.moving.is_none()
                && visit.also.is_empty()
                && ctx.account().is_some()
                && portal.has_starts(visit, day))
            .then(|| {
                (
                    "/book/waitlist".to_owned(),
                    l.pick(
                        "Wird ein Termin an diesem Tag frei, bieten wir ihn zuerst den Wartenden an, per E-Mail und der Reihe nach.",
                        "If an appointment on this day becomes free, we offer it to those waiting first, by e-mail and in turn.",
                    ),
                    l.pick("Auf die Warteliste", "Join the waitlist"),
                )
            }),
        },
    )
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct BookForm {
    csrf: String,
    service: String,
    /// Further services of the same appointment, as in [`DayQuery`].
    also: String,
    day: String,
    time: String,
    /// The proof of work's answer.
    pow: String,
}

impl CarriesCsrf for BookForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

pub async fn book(
    State(portal): State<Arc<Portal>>,
    SignedInForm(ctx, account, f): SignedInForm<BookForm>,
) -> Response {
    let Some(visit) = portal.visit(&f.service, &parse_also(&f.also)) else {
        return pages::not_found(State(portal), ctx).await;
    };
    let choosing = Choosing {
        visit,
        moving: None,
    };
    choose(portal, ctx, account, &choosing, f).await
}

/// A day and time chosen on the times form: checked, its proof of work taken, then
/// booked (or the booking moved there).
async fn choose(
    portal: Arc<Portal>,
    ctx: Ctx,
    account: Account,
    choosing: &Choosing<'_>,
    f: BookForm,
) -> Response {
    let l = ctx.lang;
    let Ok(day) = NaiveDate::parse_from_str(&f.day, "%Y-%m-%d") else {
        let text = Refusal::Slot(SlotError::NotAStart).text(l);
        return times_page(&portal, &ctx, choosing, portal_today(&portal), Some(text));
    };
    let time = if f.time.is_empty() {
        None
    } else {
        NaiveTime::parse_from_str(&f.time, "%H:%M").ok()
    };
    let Some(time) = time else {
        let text = if f.time.is_empty() {
            l.pick("Wählen Sie eine Uhrzeit.", "Choose a time.")
        } else {
            Refusal::Slot(SlotError::NotAStart).text(l)
        };
        return times_page(&portal, &ctx, choosing, day, Some(text));
    };
    if let Err(refusal) = portal.pow.check(&f.pow, portal.now_ms()) {
        let text = pages::pow_problem(l, refusal);
        return times_page(&portal, &ctx, choosing, day, Some(text));
    }
    let p = portal.clone();
    let visit = choosing.visit.clone();
    let moving = choosing.moving.map(str::to_owned);
    let done = blocking(l, move || match moving {
        None => p.book(&account, &visit, day, time, l),
        Some(code) => p.reschedule(&account, &code, day, time, l),
    })
    .await;
    match done {
        Ok(Ok(booking)) => ctx.redirect(&format!("/bookings/{}?new=1", booking.code)),
        Ok(Err(Refusal::NotVerified)) => pages::message(
            &ctx,
            &portal,
            StatusCode::FORBIDDEN,
            l.pick(
                "Bitte erst die E-Mail-Adresse bestätigen",
                "Please confirm your e-mail address first",
            ),
            vec![Refusal::NotVerified.text(l).to_owned()],
            vec![(
                "/account".into(),
                l.pick("Zu meinem Konto", "To my account").into(),
            )],
        ),
        Ok(Err(Refusal::Slot(SlotError::Unknown))) => pages::not_found(State(portal), ctx).await,
        Ok(Err(refusal)) => times_page(&portal, &ctx, choosing, day, Some(refusal.text(l))),
        Err(r) => r,
    }
}

/// Moving the account's open booking `code`: its services; `None` when it is not the
/// account's, or not open.
fn moving<'a>(portal: &Portal, account: &Account, code: &'a str) -> Option<Choosing<'a>> {
    let booking = portal
        .store
        .booking(code)
        .ok()
        .flatten()
        .filter(|b| b.account == account.id && !b.cancelled && b.due_ms > portal.now_ms())?;
    Some(Choosing {
        visit: portal.visit_of(&booking)?,
        moving: Some(code),
    })
}

/// Moving a booking: its service's days, or a day's times.
pub async fn move_page(
    State(portal): State<Arc<Portal>>,
    SignedIn(ctx, account): SignedIn,
    Path(code): Path<String>,
    Query(q): Query<DayQuery>,
) -> Response {
    match moving(&portal, &account, &code) {
        Some(choosing) => day_or_times_of(&portal, &ctx, &choosing, &q.day),
        None => pages::not_found(State(portal), ctx).await,
    }
}

/// Moving a booking to the day and time chosen.
pub async fn move_to(
    State(portal): State<Arc<Portal>>,
    Path(code): Path<String>,
    SignedInForm(ctx, account, f): SignedInForm<BookForm>,
) -> Response {
    match moving(&portal, &account, &code) {
        Some(choosing) => choose(portal.clone(), ctx, account, &choosing, f).await,
        None => pages::not_found(State(portal), ctx).await,
    }
}

fn portal_today(portal: &Portal) -> NaiveDate {
    portal.config().local_date(portal.now())
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct BookingQuery {
    new: Option<String>,
}

pub async fn booking(
    State(portal): State<Arc<Portal>>,
    SignedIn(ctx, account): SignedIn,
    Path(code): Path<String>,
    Query(q): Query<BookingQuery>,
) -> Response {
    let found = match portal.store.booking(&code) {
        Ok(b) => b,
        Err(e) => return pages::failure(ctx.lang, &e),
    };
    // Another account's booking is as unknown as one that does not exist.
    let Some(b) = found.filter(|b| b.account == account.id) else {
        return pages::not_found(State(portal), ctx).await;
    };
    let cancel = format!("/bookings/{}/cancel", b.code);
    booking_page(&ctx, &portal, &b, q.new.is_some(), &cancel, true)
}

/// A booking, with a form that cancels it at `cancel` while it is open, and its QR
/// code when the owner is logged in (the image is the owner's only).
fn booking_page(
    ctx: &Ctx,
    portal: &Portal,
    b: &crate::store::Booking,
    just_booked: bool,
    cancel: &str,
    qr: bool,
) -> Response {
    let l = ctx.lang;
    let config = portal.config();
    let service = portal.services_name(b, l);
    let open = !b.cancelled && b.due_ms > portal.now_ms();
    let heading = if b.cancelled {
        l.pick("Abgesagter Termin", "Cancelled appointment")
    } else {
        l.pick("Ihr Termin", "Your appointment")
    };
    render(
        ctx,
        StatusCode::OK,
        &BookingPage {
            c: Chrome::new(ctx, portal, heading),
            just_booked: just_booked && open,
            booked_title: l.pick("Termin gebucht", "Appointment booked"),
            booked_text: l.pick(
                "Wir haben Ihnen eine Bestätigung mit Kalendereintrag per E-Mail geschickt.",
                "We have sent you a confirmation with a calendar entry by e-mail.",
            ),
            heading,
            code_label: l.pick(
                "Ihr Buchungscode – geben Sie ihn am Termintag am Automaten im Foyer ein:",
                "Your booking code – enter it at the kiosk in the foyer on the day:",
            ),
            qr_alt: match l {
                Lang::De => format!("QR-Code des Buchungscodes {}", b.code),
                Lang::En => format!("QR code of booking code {}", b.code),
            },
            code: b.code.clone(),
            qr,
            details: vec![
                (l.pick("Anliegen", "Service"), service),
                (l.pick("Tag", "Day"), weekday(l, b.date)),
                (
                    l.pick("Uhrzeit", "Time"),
                    b.time.format("%H:%M").to_string(),
                ),
                (l.pick("Ort", "Place"), config.office.name.clone()),
            ],
            can_cancel: open,
            move_to: (open && qr).then(|| {
                (
                    format!("/bookings/{}/move", b.code),
                    l.pick("Termin verschieben", "Move appointment"),
                )
            }),
            cancel_action: cancel.to_owned(),
            cancel: l.pick("Termin absagen", "Cancel appointment"),
            back: l.pick("Zu meinem Konto", "To my account"),
        },
    )
}

/// A mail's cancel link, opened: the booking and a button that cancels it (opening
/// the link cancels nothing: mail scanners and link previews open links too).
pub async fn cancel_link_page(
    State(portal): State<Arc<Portal>>,
    ctx: Ctx,
    Path((code, signature)): Path<(String, String)>,
) -> Response {
    let p = portal.clone();
    let (c, s) = (code.clone(), signature.clone());
    match blocking(ctx.lang, move || p.booking_by_link(&c, &s)).await {
        Ok(Some(b)) => {
            let cancel = format!("/c/{code}/{signature}");
            booking_page(&ctx, &portal, &b, false, &cancel, false)
        }
        Ok(None) => pages::not_found(State(portal), ctx).await,
        Err(r) => r,
    }
}

/// A mail's cancel link, confirmed: the booking is cancelled, logged in or not.
pub async fn cancel_by_link(
    State(portal): State<Arc<Portal>>,
    Path((code, signature)): Path<(String, String)>,
    Checked(ctx, _): Checked<CsrfForm>,
) -> Response {
    let l = ctx.lang;
    let p = portal.clone();
    let (c, s) = (code.clone(), signature.clone());
    match blocking(l, move || p.cancel_by_link(&c, &s)).await {
        Ok(Some(b)) => pages::message(
            &ctx,
            &portal,
            StatusCode::OK,
            l.pick("Termin abgesagt", "Appointment cancelled"),
            vec![match l {
                Lang::De => format!(
                    "Ihr Termin am {} um {} Uhr ist abgesagt.",
                    weekday(l, b.date),
                    b.time.format("%H:%M")
                ),
                Lang::En => format!(
                    "Your appointment on {} at {} is cancelled.",
                    weekday(l, b.date),
                    b.time.format("%H:%M")
                ),
            }],
            vec![(
                "/book".into(),
                l.pick("Einen neuen Termin buchen", "Book another appointment")
                    .into(),
            )],
        ),
        // Not open (cancelled before, or past), or no such link: as the link shows it.
        Ok(None) => cancel_link_page(State(portal), ctx, Path((code, signature))).await,
        Err(r) => r,
    }
}

/// The booking code as a QR code, for its owner only.
pub async fn qr(
    State(portal): State<Arc<Portal>>,
    SignedIn(ctx, account): SignedIn,
    Path(code): Path<String>,
) -> Response {
    let mine = match portal.store.booking(&code) {
        Ok(b) => b.is_some_and(|b| b.account == account.id),
        Err(e) => return pages::failure(ctx.lang, &e),
    };
    match crate::booking::qr_png(&code).filter(|_| mine) {
        Some(png) => {
            let mut response = png.into_response();
            response.headers_mut().insert(
                axum::http::header::CONTENT_TYPE,
                axum::http::HeaderValue::from_static("image/png"),
            );
            response
        }
        None => pages::not_found(State(portal), ctx).await,
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct CsrfForm {
    pub(super) csrf: String,
}

impl CarriesCsrf for CsrfForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

pub async fn cancel(
    State(portal): State<Arc<Portal>>,
    Path(code): Path<String>,
    SignedInForm(ctx, account, _): SignedInForm<CsrfForm>,
) -> Response {
    let p = portal.clone();
    match blocking(ctx.lang, move || p.cancel(&account, &code)).await {
        Ok(true) => ctx.redirect("/account"),
        Ok(false) => pages::not_found(State(portal), ctx).await,
        Err(r) => r,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_are_grouped_by_month_with_short_labels_in_either_language() {
        let days: Vec<NaiveDate> = ["2026-11-27", "2026-11-30", "2026-12-01"]
            .iter()
            .map(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").unwrap())
            .collect();
        let de = months(Lang::De, "/book/service/reisepass", days.clone());
        assert_eq!(
            de,
            vec![
                (
                    "November 2026".to_owned(),
                    vec![
                        (
                            "/book/service/reisepass?day=2026-11-27".to_owned(),
                            "Fr 27.11.".to_owned()
                        ),
                        (
                            "/book/service/reisepass?day=2026-11-30".to_owned(),
                            "Mo 30.11.".to_owned()
                        ),
                    ]
                ),
                (
                    "Dezember 2026".to_owned(),
                    vec![(
                        "/book/service/reisepass?day=2026-12-01".to_owned(),
                        "Di 01.12.".to_owned()
                    )]
                ),
            ]
        );
        let en = months(Lang::En, "/book/service/reisepass", days);
        assert_eq!(en[1].0, "December 2026");
        assert_eq!(en[0].1[0].1, "Fr 27 Nov");
        assert!(months(Lang::De, "/book/service/reisepass", Vec::new()).is_empty());
    }
}
