//! `/ticket`: a walk-in ticket from the phone (see [`crate::remote`]). One open ticket
//! per account; then the citizen follows it on its QR page.

use std::sync::Arc;
use std::time::Instant;

use askama::Template;
use aufruf_model::ServiceId;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;

use super::pages::{self, Chrome, render};
use super::{CarriesCsrf, Ctx, SignedIn, SignedInForm, blocking};
use crate::i18n::Lang;
use crate::remote::{TooFar, near};
use crate::store::Account;
use crate::{DrawRefusal, Portal};

#[derive(Template)]
#[template(path = "remote.html")]
struct RemotePage {
    c: Chrome,
    errors: Vec<(String, String)>,
    heading: &'static str,
    intro: Vec<String>,
    legend: &'static str,
    error: Option<String>,
    /// Id, name, and why none can be drawn now (the radio then disabled).
    services: Vec<(String, String, Option<String>)>,
    noscript: &'static str,
    locating: &'static str,
    denied: &'static str,
    submit: &'static str,
}

fn remote_page(ctx: &Ctx, portal: &Portal, error: Option<String>) -> RemotePage {
    let l = ctx.lang;
    let heading = l.pick("Wartemarke per Handy", "A ticket by phone");
    let radius = portal
        .settings
        .remote_tickets
        .as_ref()
        .map_or(0.0, |r| r.radius_m);
    RemotePage {
        c: Chrome::new(ctx, portal, heading),
        errors: error
            .iter()
            .map(|e| ("service".to_owned(), e.clone()))
            .collect(),
        heading,
        intro: vec![match l {
            Lang::De => format!(
                "Sind Sie in der Nähe des Amts (bis {radius:.0} m), ziehen Sie hier eine Wartemarke wie am Automaten. Dafür sendet Ihr Browser einmal Ihren Standort; wir speichern ihn nicht."
            ),
            Lang::En => format!(
                "Near the office (within {radius:.0} m), draw a ticket here as at the kiosk. Your browser sends your position once for it; we do not keep it."
            ),
        }],
        legend: l.pick("Ihr Anliegen", "Your matter"),
        error,
        services: portal
            .config()
            .services
            .iter()
            .map(|s| {
                let refusal = portal.office.walk_ins(portal.now(), &s.id).err();
                (
                    s.id.to_string(),
                    super::book::name(l, &s.name),
                    refusal.map(|r| refused(l, &r)),
                )
            })
            .collect(),
        noscript: l.pick(
            "Für die Wartemarke per Handy braucht die Seite JavaScript, um Ihren Standort zu senden.",
            "A ticket by phone needs JavaScript, to send your position.",
        ),
        locating: l.pick("Standort wird ermittelt …", "Finding your position …"),
        denied: l.pick(
            "Ohne Ihren Standort können wir keine Wartemarke ausgeben. Erlauben Sie ihn im Browser und versuchen Sie es noch einmal.",
            "Without your position we cannot issue a ticket. Allow it in the browser and try again.",
        ),
        submit: l.pick("Standort senden und Wartemarke ziehen", "Send position and draw ticket"),
    }
}

/// The account's ticket drawn by phone that is still open, as its page's path.
fn open_ticket(portal: &Portal, account: &Account) -> Option<String> {
    let token = portal.store.remote_ticket(&account.id).ok().flatten()?;
    let view = portal.office.ticket(portal.now(), &token)?;
    use aufruf_office::views::TicketState;
    let open = !matches!(
        view.status,
        TicketState::Done | TicketState::NoShow | TicketState::Cancelled
    );
    open.then(|| format!("/t/{token}"))
}

/// What to answer instead of the form: not offered here, or a ticket already open.
fn instead(ctx: &Ctx, portal: &Portal, account: &Account) -> Option<Response> {
    let l = ctx.lang;
    if portal.settings.remote_tickets.is_none() {
        return Some(pages::message(
            ctx,
            portal,
            StatusCode::NOT_FOUND,
            l.pick("Keine Wartemarken per Handy", "No tickets by phone"),
            vec![
                l.pick(
                    "Dieses Amt gibt Wartemarken nur am Automaten im Foyer aus.",
                    "This office issues tickets at the kiosk in the foyer only.",
                )
                .to_owned(),
            ],
            vec![(
                "/book".into(),
                l.pick("Termin buchen", "Book an appointment").into(),
            )],
        ));
    }
    let path = open_ticket(portal, account)?;
    Some(pages::message(
        ctx,
        portal,
        StatusCode::CONFLICT,
        l.pick(
            "Sie haben schon eine Wartemarke",
            "You already hold a ticket",
        ),
        vec![
            l.pick(
                "Eine Wartemarke per Handy zur Zeit: Ihre ist noch offen.",
                "One ticket by phone at a time: yours is still open.",
            )
            .to_owned(),
        ],
        vec![(path, l.pick("Zu Ihrer Wartemarke", "To your ticket").into())],
    ))
}

pub async fn form(State(portal): State<Arc<Portal>>, SignedIn(ctx, account): SignedIn) -> Response {
    let p = portal.clone();
    let c = ctx.clone();
    match blocking(ctx.lang, move || Ok(instead(&c, &p, &account))).await {
        Ok(Some(answer)) => answer,
        Ok(None) => render(&ctx, StatusCode::OK, &remote_page(&ctx, &portal, None)),
        Err(r) => r,
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct RemoteForm {
    csrf: String,
    service: String,
    latitude: String,
    longitude: String,
    accuracy: String,
}

impl CarriesCsrf for RemoteForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

pub async fn draw(
    State(portal): State<Arc<Portal>>,
    SignedInForm(ctx, account, f): SignedInForm<RemoteForm>,
) -> Response {
    let l = ctx.lang;
    if !portal
        .by_account
        .allow(&format!("remote/{}", account.id), Instant::now())
    {
        return pages::too_many(&ctx, &portal);
    }
    let p = portal.clone();
    let c = ctx.clone();
    let done = blocking(l, move || {
        if let Some(answer) = instead(&c, &p, &account) {
            return Ok(Err(Ok(answer)));
        }
        let Some(office) = &p.settings.remote_tickets else {
            return Ok(Err(Err(l
                .pick("Nicht angeboten.", "Not offered.")
                .to_owned())));
        };
        let number = |s: &str| s.trim().parse::<f64>().unwrap_or(f64::NAN);
        if let Err(far) = near(
            office,
            number(&f.latitude),
            number(&f.longitude),
            number(&f.accuracy),
        ) {
            return Ok(Err(Err(too_far(l, far))));
        }
        let service = ServiceId::new(f.service.clone());
        if p.config().service(&service).is_none() {
            let text = l.pick("Wählen Sie Ihr Anliegen.", "Choose your matter.");
            return Ok(Err(Err(text.to_owned())));
        }
        match p.office.draw_remote_ticket(p.now(), &service) {
            Ok((_, token)) => {
                p.store.set_remote_ticket(&account.id, &token)?;
                Ok(Ok(token))
            }
            Err(refusal) => {
                if let DrawRefusal::Failed(error) = &refusal {
                    tracing::warn!(%error, "a ticket by phone could not be issued");
                }
                Ok(Err(Err(refused(l, &refusal))))
            }
        }
    })
    .await;
    match done {
        Ok(Ok(token)) => ctx.redirect(&format!("/t/{token}")),
        Ok(Err(Ok(answer))) => answer,
        Ok(Err(Err(problem))) => render(
            &ctx,
            StatusCode::UNPROCESSABLE_ENTITY,
            &remote_page(&ctx, &portal, Some(problem)),
        ),
        Err(r) => r,
    }
}

fn too_far(l: Lang, far: TooFar) -> String {
    match (far, l) {
        (TooFar::NoPosition, Lang::De) => {
            "Ihr Browser hat keinen Standort gesendet. Erlauben Sie ihn und versuchen Sie es noch einmal.".into()
        }
        (TooFar::NoPosition, Lang::En) => {
            "Your browser sent no position. Allow it and try again.".into()
        }
        (TooFar::Inaccurate { accuracy_m }, Lang::De) => format!(
            "Ihr Standort ist nur auf etwa {accuracy_m:.0} m genau bekannt. Schalten Sie die Ortung (GPS) ein und versuchen Sie es noch einmal."
        ),
        (TooFar::Inaccurate { accuracy_m }, Lang::En) => format!(
            "Your position is known only to about {accuracy_m:.0} m. Switch on location (GPS) and try again."
        ),
        (TooFar::Away { distance_m }, Lang::De) => format!(
            "Sie sind etwa {:.1} km vom Amt entfernt. Wartemarken per Handy gibt es nur in der Nähe; buchen Sie sonst online einen Termin.",
            distance_m / 1000.0
        ),
        (TooFar::Away { distance_m }, Lang::En) => format!(
            "You are about {:.1} km from the office. Tickets by phone are for those nearby; otherwise book an appointment online.",
            distance_m / 1000.0
        ),
    }
}

fn refused(l: Lang, refusal: &DrawRefusal) -> String {
    match (refusal, l) {
        (DrawRefusal::Closed(reopens), Lang::De) => format!(
            "Für dieses Anliegen gibt es gerade keine Wartemarken{}.",
            reopens.as_ref().map(|r| format!(" ({r})")).unwrap_or_default()
        ),
        (DrawRefusal::Closed(reopens), Lang::En) => format!(
            "No tickets for this matter right now{}.",
            reopens.as_ref().map(|r| format!(" ({r})")).unwrap_or_default()
        ),
        (DrawRefusal::NoMoreToday(closes), Lang::De) => format!(
            "Heute keine Wartemarken mehr für dieses Anliegen (Schluss um {closes}). Bitte buchen Sie online einen Termin."
        ),
        (DrawRefusal::NoMoreToday(closes), Lang::En) => format!(
            "No more tickets for this matter today (closing at {closes}). Please book an appointment online."
        ),
        (DrawRefusal::UnknownService, Lang::De) => "Wählen Sie Ihr Anliegen.".into(),
        (DrawRefusal::UnknownService, Lang::En) => "Choose your matter.".into(),
        (DrawRefusal::Failed(_), Lang::De) => {
            "Die Wartemarke konnte gerade nicht ausgegeben werden. Bitte versuchen Sie es gleich noch einmal.".into()
        }
        (DrawRefusal::Failed(_), Lang::En) => {
            "The ticket could not be issued just now. Please try again shortly.".into()
        }
    }
}
