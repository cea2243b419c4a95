//! The QR ticket page (`/t/<token>`): the unguessable status token printed on a kiosk
//! ticket or shown as its QR code. Number, service, who is ahead and about how long,
//! and "Bitte zu Platz 3" the moment the call happens — pushed to the page by
//! server-sent events (`/t/<token>/feed`, read by `assets/ticket.js`), with a plain
//! refresh link as the fallback. Unknown, malformed, other days' and finished tickets'
//! tokens of past days all get the same "not known" page.

use std::sync::Arc;
use std::time::Duration;

use askama::Template;
use aufruf_office::views::{TicketState, TicketView};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse as _, Response};
use serde::Serialize;

use super::pages::{self, Chrome, render};
use super::{Ctx, blocking};
use crate::Portal;
use crate::i18n::Lang;

/// The longest status token looked up; anything longer is not one of ours.
const MAX_TOKEN: usize = 64;
/// A feed looks again after this long without a call (estimates drift with time).
const LOOK_AGAIN: Duration = Duration::from_secs(20);
/// A feed ends after this long; the browser opens a new one.
const FEED_LIFETIME: Duration = Duration::from_secs(4 * 3600);

/// What the page and its feed show of a ticket, in the citizen's language.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TicketStatus {
    pub number: String,
    pub service: String,
    pub headline: String,
    pub detail: String,
    /// Called right now: the phone vibrates and chimes where the browser allows.
    pub called: bool,
    /// Nothing will change any more (done, no-show, cancelled): the feed ends.
    pub over: bool,
    /// Served: the page (loaded again) asks for feedback.
    pub served: bool,
    /// Called or being served: its end may come any moment, so the feed follows
    /// every change of today's tickets, not only the calls.
    #[serde(skip)]
    pub at_desk: bool,
}

fn status(portal: &Portal, l: Lang, t: &TicketView) -> TicketStatus {
    let config = portal.config();
    let service = config
        .service(&t.service)
        .map_or(t.service_name.clone(), |s| super::book::name(l, &s.name));
    let desk = t.desk.as_ref().map_or(String::new(), |d| {
        config
            .desk(d)
            .map(|desk| desk.name.clone())
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| d.to_string())
    });
    let number = &t.number;
    let (headline, detail) = match (t.status, l) {
        (TicketState::Waiting, _) => {
            let headline = match (t.ahead, l) {
                (Some(0), Lang::De) => "Sie sind als Nächste an der Reihe".to_owned(),
                (Some(0), Lang::En) => "You are next".to_owned(),
                (Some(1), Lang::De) => "Noch 1 Person vor Ihnen".to_owned(),
                (Some(n), Lang::De) => format!("Noch {n} Personen vor Ihnen"),
                (Some(1), Lang::En) => "1 person ahead of you".to_owned(),
                (Some(n), Lang::En) => format!("{n} people ahead of you"),
                (None, Lang::De) => "Sie warten".to_owned(),
                (None, Lang::En) => "You are waiting".to_owned(),
            };
            let detail = match (t.estimate_minutes, l) {
                (Some(m), Lang::De) => {
                    format!("Etwa {m} Minuten. Wir rufen Ihre Nummer {number} auf.")
                }
                (Some(m), Lang::En) => {
                    format!("About {m} minutes. We will call your number {number}.")
                }
                (None, Lang::De) => format!("Wir rufen Ihre Nummer {number} auf."),
                (None, Lang::En) => format!("We will call your number {number}."),
            };
            (headline, detail)
        }
        (TicketState::Called, Lang::De) => (
            format!("Bitte zu {desk}"),
            format!("Ihre Nummer {number} wird aufgerufen."),
        ),
        (TicketState::Called, Lang::En) => (
            format!("Please go to {desk}"),
            format!("Your number {number} is being called."),
        ),
        (TicketState::Serving, Lang::De) => {
            (format!("Sie werden an {desk} bedient"), String::new())
        }
        (TicketState::Serving, Lang::En) => (format!("You are served at {desk}"), String::new()),
        (TicketState::Parked, Lang::De) => (
            "Ihr Anliegen ruht kurz".to_owned(),
            "Bitte warten Sie, wir rufen Sie erneut auf.".to_owned(),
        ),
        (TicketState::Parked, Lang::En) => (
            "Your matter is on hold".to_owned(),
            "Please wait; we will call you again.".to_owned(),
        ),
        (TicketState::Done, Lang::De) => (
            "Erledigt".to_owned(),
            "Vielen Dank für Ihren Besuch.".to_owned(),
        ),
        (TicketState::Done, Lang::En) => {
            ("Done".to_owned(), "Thank you for your visit.".to_owned())
        }
        (TicketState::NoShow, Lang::De) => (
            "Sie wurden aufgerufen und waren nicht da".to_owned(),
            "Bitte ziehen Sie am Automaten eine neue Wartemarke.".to_owned(),
        ),
        (TicketState::NoShow, Lang::En) => (
            "You were called and were not there".to_owned(),
            "Please draw a new ticket at the kiosk.".to_owned(),
        ),
        (TicketState::Cancelled, Lang::De) => {
            ("Diese Wartemarke gilt nicht mehr".to_owned(), String::new())
        }
        (TicketState::Cancelled, Lang::En) => {
            ("This ticket is no longer valid".to_owned(), String::new())
        }
    };
    TicketStatus {
        number: number.clone(),
        service,
        headline,
        detail,
        called: t.status == TicketState::Called,
        over: matches!(
            t.status,
            TicketState::Done | TicketState::NoShow | TicketState::Cancelled
        ),
        served: t.status == TicketState::Done,
        at_desk: matches!(t.status, TicketState::Called | TicketState::Serving),
    }
}

/// The ticket of `token`, or `None` for anything that is not a ticket of today.
async fn look_up(
    portal: &Arc<Portal>,
    l: Lang,
    token: &str,
) -> Result<Option<(aufruf_model::TicketId, TicketStatus)>, Response> {
    let plausible = !token.is_empty()
        && token.len() <= MAX_TOKEN
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !plausible {
        return Ok(None);
    }
    let (p, token) = (portal.clone(), token.to_owned());
    blocking(l, move || {
        let now = p.now();
        let found = p
            .office
            .ticket_id(now, &token)
            .and_then(|id| p.office.ticket_by_id(now, &id).map(|t| (id, t)));
        Ok(found.map(|(id, t)| (id, status(&p, l, &t))))
    })
    .await
}

/// The ticket `id` (its token checked once, when its feed opened) again, from the
/// office's shared board of today's tickets.
async fn look_again(
    portal: &Arc<Portal>,
    l: Lang,
    id: &aufruf_model::TicketId,
) -> Result<Option<TicketStatus>, Response> {
    let (p, id) = (portal.clone(), id.clone());
    blocking(l, move || {
        let found = p.office.ticket_by_id(p.now(), &id);
        Ok(found.map(|t| status(&p, l, &t)))
    })
    .await
}

#[derive(Template)]
#[template(path = "ticket.html")]
struct TicketPage {
    c: Chrome,
    heading: &'static str,
    t: TicketStatus,
    token: String,
    refresh: &'static str,
    live: &'static str,
    alert: &'static str,
    alert_on: &'static str,
    feedback: Option<super::feedback::FeedbackForm>,
    feedback_given: Option<&'static str>,
    /// Shown by the page's script when the phone is offline (the page then comes
    /// from the app's memory): the time this state was fetched.
    offline: String,
}

pub async fn page(
    State(portal): State<Arc<Portal>>,
    ctx: Ctx,
    Path(token): Path<String>,
) -> Response {
    let l = ctx.lang;
    match look_up(&portal, l, &token).await {
        Ok(Some((_, t))) => {
            let (feedback, feedback_given) = if t.served {
                let (p, tk) = (portal.clone(), token.clone());
                match blocking(l, move || super::feedback::on_ticket_page(&p, l, &tk)).await {
                    Ok(f) => f,
                    Err(r) => return r,
                }
            } else {
                (None, None)
            };
            let heading = l.pick("Ihre Wartemarke", "Your ticket");
            render(
                &ctx,
                StatusCode::OK,
                &TicketPage {
                    c: Chrome::new(&ctx, &portal, heading),
                    heading,
                    t,
                    token,
                    refresh: l.pick("Stand aktualisieren", "Refresh"),
                    live: l.pick(
                        "Diese Seite zeigt Ihren Aufruf von selbst an.",
                        "This page shows your call by itself.",
                    ),
                    alert: l.pick(
                        "Beim Aufruf Ton und Vibration",
                        "Sound and vibration when called",
                    ),
                    alert_on: l.pick("Ton und Vibration sind an", "Sound and vibration are on"),
                    feedback,
                    feedback_given,
                    offline: {
                        let config = portal.config();
                        let at = chrono::DateTime::from_timestamp_millis(
                            i64::try_from(portal.now_ms()).unwrap_or(i64::MAX),
                        )
                        .map(|t| {
                            t.with_timezone(&config.timezone())
                                .format("%H:%M")
                                .to_string()
                        })
                        .unwrap_or_default();
                        match l {
                            Lang::De => format!(
                                "Keine Verbindung: Sie sehen den Stand von {at} Uhr. Die Seite zeigt den neuen Stand, sobald Ihr Telefon wieder online ist."
                            ),
                            Lang::En => format!(
                                "No connection: this is the state at {at}. The page shows the new state as soon as your phone is online again."
                            ),
                        }
                    },
                },
            )
        }
        Ok(None) => unknown(&ctx, &portal),
        Err(r) => r,
    }
}

/// One answer for every token that is not a ticket of today.
fn unknown(ctx: &Ctx, portal: &Portal) -> Response {
    pages::note(
        ctx,
        portal,
        StatusCode::NOT_FOUND,
        ("Wartemarke nicht bekannt", "Ticket not known"),
        (
            "Zu dieser Adresse kennen wir heute keine Wartemarke. Wartemarken gelten nur am Tag, an dem sie gezogen wurden.",
            "We know no ticket of today at this address. Tickets are valid on the day they were drawn only.",
        ),
    )
}

/// The ticket's status as server-sent events: one at once, then one at each change,
/// until nothing more can change. At most `ticket_feeds` at once (then `503`, and the
/// page is refreshed by hand).
pub async fn feed(
    State(portal): State<Arc<Portal>>,
    ctx: Ctx,
    Path(token): Path<String>,
) -> Response {
    let l = ctx.lang;
    let (id, first) = match look_up(&portal, l, &token).await {
        Ok(Some(found)) => found,
        Ok(None) => return unknown(&ctx, &portal),
        Err(r) => return r,
    };
    let Ok(place) = portal.ticket_feeds.clone().try_acquire_owned() else {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "too many ticket pages open",
        )
            .into_response();
    };
    let calls = portal.office.calls();
    let changes = portal.office.ticket_changes();
    // The first subscription makes the board (one pass of the estimate): off the
    // runtime's threads.
    let p = portal.clone();
    let board = match blocking(l, move || Ok(p.office.ticket_board(p.now()))).await {
        Ok(board) => board.map(|mut b| {
            // What the first status was read from is not news.
            b.mark_unchanged();
            b
        }),
        Err(r) => return r,
    };
    let ends = tokio::time::Instant::now() + FEED_LIFETIME;
    let start = FeedState {
        portal,
        lang: l,
        id,
        calls,
        changes,
        board,
        ends,
        last: None,
        first: Some(first),
        _place: place,
    };
    let stream = futures_util::stream::unfold(start, |mut s| async move {
        let next = s.next().await?;
        let event = match serde_json::to_string(&next) {
            Ok(json) => Event::default().event("ticket").data(json),
            Err(_) => Event::default().comment("unencodable"),
        };
        Some((Ok::<_, std::convert::Infallible>(event), s))
    });
    Sse::new(stream)
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response()
}

/// Waits for `watch`'s next change; for ever without one, or once the office
/// stopped publishing (then it is dropped, and the feed looks by time).
async fn changed<T>(watch: &mut Option<tokio::sync::watch::Receiver<T>>) {
    let closed = match watch {
        Some(w) => w.changed().await.is_err(),
        None => std::future::pending().await,
    };
    if closed {
        *watch = None;
    }
}

struct FeedState {
    portal: Arc<Portal>,
    lang: Lang,
    /// The ticket its token named when the feed opened.
    id: aufruf_model::TicketId,
    calls: Option<tokio::sync::watch::Receiver<Arc<aufruf_office::views::DisplayView>>>,
    changes: Option<tokio::sync::watch::Receiver<u64>>,
    board: Option<tokio::sync::watch::Receiver<Arc<crate::TicketBoard>>>,
    ends: tokio::time::Instant,
    last: Option<TicketStatus>,
    first: Option<TicketStatus>,
    /// The feed's place among those open, given back when the feed ends.
    _place: tokio::sync::OwnedSemaphorePermit,
}

impl FeedState {
    /// The next status to send, or `None` when the feed is over.
    async fn next(&mut self) -> Option<TicketStatus> {
        if let Some(first) = self.first.take() {
            self.last = Some(first.clone());
            return Some(first);
        }
        loop {
            if self.last.as_ref().is_some_and(|t| t.over) {
                return None;
            }
            let wait = LOOK_AGAIN.min(
                self.ends
                    .saturating_duration_since(tokio::time::Instant::now()),
            );
            if wait.is_zero() {
                return None;
            }
            // With the office's board: each change of the day pushes it, and the
            // feed looks its ticket up there — no lookup of its own, however many
            // feeds are open.
            if let Some(board) = &mut self.board {
                let now = match tokio::time::timeout(wait, board.changed()).await {
                    Ok(Ok(())) => {
                        let board = board.borrow_and_update().clone();
                        board
                            .get(&self.id)
                            .map(|t| status(&self.portal, self.lang, t))
                    }
                    // The office stopped pushing: look by itself from now on.
                    Ok(Err(_)) => {
                        self.board = None;
                        continue;
                    }
                    // A while without a change: waits shrink with time.
                    Err(_) => look_again(&self.portal, self.lang, &self.id).await.ok()?,
                }?;
                if self.last.as_ref() != Some(&now) {
                    self.last = Some(now.clone());
                    return Some(now);
                }
                continue;
            }
            // A call, or any ticket of today changed (served, done, sent away); else
            // by time.
            let at_desk = self.last.as_ref().is_some_and(|t| t.at_desk);
            let calls = changed(&mut self.calls);
            let changes = &mut self.changes;
            let tickets = async move {
                if at_desk {
                    changed(changes).await;
                } else {
                    std::future::pending::<()>().await;
                }
            };
            let _ = tokio::time::timeout(
                wait,
                futures_util::future::select(std::pin::pin!(calls), std::pin::pin!(tickets)),
            )
            .await;
            let now = look_again(&self.portal, self.lang, &self.id).await.ok()??;
            if self.last.as_ref() != Some(&now) {
                self.last = Some(now.clone());
                return Some(now);
            }
        }
    }
}
