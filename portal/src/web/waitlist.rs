//! Waitlist pages: joining a fully booked day's waitlist (from its times page),
//! leaving it (from the account), and a mail's offer link, which shows the freed
//! place and takes it with one button (opening the link takes nothing).

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use chrono::{NaiveDate, NaiveTime};
use serde::Deserialize;

use super::book::{CsrfForm, weekday};
use super::pages;
use super::{CarriesCsrf, Checked, Ctx, SignedInForm, blocking};
use crate::Portal;
use crate::booking::Refusal;
use crate::i18n::Lang;
use crate::waitlist::{OfferLink, WaitRefusal};

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct DayForm {
    csrf: String,
    service: String,
    day: String,
}

impl CarriesCsrf for DayForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

/// "Kita-Platz – Donnerstag, 26.11.2026, 09:00".
fn place(portal: &Portal, l: Lang, service: &str, date: NaiveDate, time: NaiveTime) -> String {
    format!(
        "{} – {}, {}",
        portal.service_name(service, l),
        weekday(l, date),
        time.format("%H:%M")
    )
}

fn to_account(l: Lang) -> Vec<(String, String)> {
    vec![(
        "/account".into(),
        l.pick("Zu meinem Konto", "To my account").into(),
    )]
}

/// Puts the signed-in citizen on a fully booked day's waitlist.
pub async fn join(
    State(portal): State<Arc<Portal>>,
    SignedInForm(ctx, account, f): SignedInForm<DayForm>,
) -> Response {
    let l = ctx.lang;
    if !portal
        .by_account
        .allow(&format!("waitlist/{}", account.id), Instant::now())
    {
        return pages::too_many(&ctx, &portal);
    }
    let Ok(day) = NaiveDate::parse_from_str(&f.day, "%Y-%m-%d") else {
        return refused(&ctx, &portal, WaitRefusal::NotBookable);
    };
    if portal.service(&f.service).is_none() {
        return pages::not_found(State(portal), ctx).await;
    }
    let p = portal.clone();
    let service = f.service.clone();
    match blocking(l, move || p.join_waitlist(&account, &service, day, l)).await {
        Ok(Ok(_)) => pages::message(
            &ctx,
            &portal,
            StatusCode::OK,
            l.pick("Sie stehen auf der Warteliste", "You are on the waitlist"),
            vec![
                format!(
                    "{} – {}",
                    portal.service_name(&f.service, l),
                    weekday(l, day)
                ),
                l.pick(
                    "Wird ein Termin an diesem Tag frei und sind Sie an der Reihe, schicken wir Ihnen eine E-Mail. Der Termin ist dann eine Zeit lang für Sie reserviert.",
                    "When an appointment on this day becomes free and it is your turn, we send you an e-mail. The appointment is then held for you for a while.",
                )
                .to_owned(),
            ],
            to_account(l),
        ),
        Ok(Err(refusal)) => refused(&ctx, &portal, refusal),
        Err(r) => r,
    }
}

fn refused(ctx: &Ctx, portal: &Portal, refusal: WaitRefusal) -> Response {
    let l = ctx.lang;
    let status = match refusal {
        WaitRefusal::NotVerified => StatusCode::FORBIDDEN,
        WaitRefusal::NotBookable => StatusCode::BAD_REQUEST,
        WaitRefusal::FreeTimes | WaitRefusal::TooMany => StatusCode::CONFLICT,
    };
    pages::message(
        ctx,
        portal,
        status,
        l.pick(
            "Nicht auf die Warteliste gesetzt",
            "Not put on the waitlist",
        ),
        vec![refusal.text(l).to_owned()],
        to_account(l),
    )
}

/// Takes the signed-in citizen off a waitlist.
pub async fn leave(
    State(portal): State<Arc<Portal>>,
    SignedInForm(ctx, account, f): SignedInForm<DayForm>,
) -> Response {
    let Ok(day) = NaiveDate::parse_from_str(&f.day, "%Y-%m-%d") else {
        return pages::not_found(State(portal), ctx).await;
    };
    let p = portal.clone();
    let l = ctx.lang;
    match blocking(l, move || {
        p.store
            .leave_waitlist(&account.id, &f.service, day)
            .map_err(crate::PortalError::from)
    })
    .await
    {
        Ok(true) => ctx.redirect("/account"),
        Ok(false) => pages::not_found(State(portal), ctx).await,
        Err(r) => r,
    }
}

/// A mail's offer link, opened: the freed place and a button that takes it, while
/// the offer holds.
pub async fn offer_page(
    State(portal): State<Arc<Portal>>,
    ctx: Ctx,
    Path((code, signature)): Path<(String, String)>,
) -> Response {
    let l = ctx.lang;
    let p = portal.clone();
    let (c, s) = (code.clone(), signature.clone());
    let offer = match blocking(l, move || p.offer_by_link(&c, &s)).await {
        Ok(OfferLink::Open(offer)) => offer,
        Ok(OfferLink::Gone) => return gone(&ctx, &portal),
        Ok(OfferLink::Unknown) => return pages::not_found(State(portal), ctx).await,
        Err(r) => return r,
    };
    let until = portal.held_until(&offer, "%H:%M");
    pages::message_with_form(
        &ctx,
        &portal,
        StatusCode::OK,
        l.pick("Ein Termin ist frei geworden", "An appointment became free"),
        vec![
            place(&portal, l, &offer.service, offer.date, offer.time),
            portal.config().office.name.clone(),
            match l {
                Lang::De => format!("Für Sie reserviert bis {until} Uhr."),
                Lang::En => format!("Held for you until {until}."),
            },
        ],
        Vec::new(),
        Some((
            format!("/w/{code}/{signature}"),
            l.pick("Termin verbindlich übernehmen", "Take this appointment")
                .into(),
        )),
    )
}

/// An offer that expired, was taken, or went to the next in line.
fn gone(ctx: &Ctx, portal: &Portal) -> Response {
    let l = ctx.lang;
    pages::message(
        ctx,
        portal,
        StatusCode::GONE,
        l.pick(
            "Dieses Angebot gilt nicht mehr",
            "This offer no longer holds",
        ),
        vec![
            l.pick(
                "Die Reservierung ist abgelaufen oder der Termin schon übernommen.",
                "The hold has run out, or the appointment has been taken already.",
            )
            .to_owned(),
        ],
        vec![(
            "/book".into(),
            l.pick("Einen Termin buchen", "Book an appointment").into(),
        )],
    )
}

/// A mail's offer link, confirmed: the place is booked for the offer's account,
/// logged in or not.
pub async fn take(
    State(portal): State<Arc<Portal>>,
    Path((code, signature)): Path<(String, String)>,
    Checked(ctx, _): Checked<CsrfForm>,
) -> Response {
    let l = ctx.lang;
    if !portal
        .by_address
        .allow(&format!("offer/{}", ctx.client), Instant::now())
    {
        return pages::too_many(&ctx, &portal);
    }
    let p = portal.clone();
    let (c, s) = (code.clone(), signature.clone());
    match blocking(l, move || p.take_offer_by_link(&c, &s, l)).await {
        Ok(Some(Ok(b))) => pages::message(
            &ctx,
            &portal,
            StatusCode::OK,
            l.pick("Termin gebucht", "Appointment booked"),
            vec![
                place(&portal, l, &b.service, b.date, b.time),
                match l {
                    Lang::De => format!(
                        "Ihr Buchungscode: {}. Die Bestätigung kommt per E-Mail.",
                        b.code
                    ),
                    Lang::En => format!(
                        "Your booking code: {}. The confirmation comes by e-mail.",
                        b.code
                    ),
                },
            ],
            to_account(l),
        ),
        Ok(Some(Err(Refusal::TooManyOpen))) => pages::message(
            &ctx,
            &portal,
            StatusCode::CONFLICT,
            l.pick("Nicht gebucht", "Not booked"),
            vec![Refusal::TooManyOpen.text(l).to_owned()],
            to_account(l),
        ),
        Ok(Some(Err(_))) => gone(&ctx, &portal),
        Ok(None) => pages::not_found(State(portal), ctx).await,
        Err(r) => r,
    }
}
