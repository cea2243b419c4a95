//! The pages' templates (askama, checked at compile time; every value is
//! HTML-escaped) and the pages that belong to no flow: start, language, not found,
//! failure.

use std::sync::Arc;

use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use serde::Deserialize;

use super::{Ctx, encode_query_value, local_path};
use crate::Portal;
use crate::i18n::Lang;

/// What every page shows around its content.
#[derive(Debug, Clone)]
pub struct Chrome {
    pub lang: &'static str,
    pub title: String,
    pub office: String,
    pub skip: &'static str,
    pub nav_label: &'static str,
    pub book: &'static str,
    pub account: &'static str,
    pub login: &'static str,
    pub register: &'static str,
    pub logout: &'static str,
    pub logged_in: bool,
    pub csrf: String,
    pub switch_href: String,
    pub switch_label: &'static str,
    pub switch_lang: &'static str,
    pub errors_title: &'static str,
    /// The footer's links: imprint, privacy, accessibility, Leichte Sprache, sign
    /// language.
    pub legal_label: &'static str,
    pub legal: Vec<(String, &'static str)>,
}

impl Chrome {
    pub fn new(ctx: &Ctx, portal: &Portal, title: &str) -> Self {
        let l = ctx.lang;
        let other = l.other();
        Chrome {
            lang: l.code(),
            title: title.to_owned(),
            office: portal.config().office.name.clone(),
            skip: l.pick("Zum Inhalt springen", "Skip to content"),
            nav_label: l.pick("Hauptmenü", "Main menu"),
            book: l.pick("Termin buchen", "Book an appointment"),
            account: l.pick("Mein Konto", "My account"),
            login: l.pick("Anmelden", "Log in"),
            register: l.pick("Registrieren", "Register"),
            logout: l.pick("Abmelden", "Log out"),
            logged_in: ctx.session.is_some(),
            csrf: ctx.csrf().to_owned(),
            switch_href: format!(
                "/lang?to={}&back={}",
                other.code(),
                encode_query_value(&ctx.here)
            ),
            switch_label: other.own_name(),
            switch_lang: other.code(),
            errors_title: l.pick("Es gibt ein Problem", "There is a problem"),
            legal_label: l.pick("Rechtliches und Hilfen", "Legal and help"),
            legal: crate::texts::Page::ALL
                .into_iter()
                .map(|p| (p.path(), p.title(l)))
                .collect(),
        }
    }
}

/// A form field.
#[derive(Debug, Clone)]
pub struct Field {
    pub id: &'static str,
    pub label: &'static str,
    pub kind: &'static str,
    pub value: String,
    pub autocomplete: &'static str,
    pub maxlength: usize,
    pub hint: Option<&'static str>,
    pub error: Option<&'static str>,
}

impl Field {
    pub fn email(label: &'static str, value: &str, autocomplete: &'static str) -> Self {
        Field {
            id: "email",
            label,
            kind: "email",
            value: value.chars().take(crate::settings::bounds::EMAIL).collect(),
            autocomplete,
            maxlength: crate::settings::bounds::EMAIL,
            hint: None,
            error: None,
        }
    }

    pub fn password(id: &'static str, label: &'static str, autocomplete: &'static str) -> Self {
        Field {
            id,
            label,
            kind: "password",
            value: String::new(),
            autocomplete,
            maxlength: crate::settings::bounds::PASSWORD_MAX,
            hint: None,
            error: None,
        }
    }

    pub fn hint(mut self, hint: &'static str) -> Self {
        self.hint = Some(hint);
        self
    }

    pub fn described_by(&self) -> String {
        described_by(self.id, self.hint.is_some(), self.error.is_some())
    }
}

/// What a field's `aria-describedby` names: its hint and its error, where it has them.
pub fn described_by(id: &str, hint: bool, error: bool) -> String {
    let mut ids = Vec::new();
    if hint {
        ids.push(format!("{id}-hint"));
    }
    if error {
        ids.push(format!("{id}-error"));
    }
    ids.join(" ")
}

/// The proof of work a form carries (register, book): the challenge `pow.js` solves
/// before the form is sent, and what a browser without JavaScript shows instead.
pub struct PowField {
    pub challenge: crate::pow::Challenge,
    pub noscript: &'static str,
}

impl PowField {
    pub fn new(ctx: &Ctx, portal: &Portal) -> Self {
        PowField {
            challenge: portal.pow.challenge(portal.now_ms()),
            noscript: ctx.lang.pick(
                "Vor dem Absenden löst Ihr Browser eine kurze Rechenaufgabe – unser Schutz \
                 vor automatisierten Buchungen. Bitte erlauben Sie dafür JavaScript.",
                "Before sending, your browser solves a short puzzle – our protection \
                 against automated bookings. Please allow JavaScript for it.",
            ),
        }
    }
}

/// The status of a form sent back for its proof of work.
pub fn pow_status(refusal: crate::pow::PowRefusal) -> StatusCode {
    match refusal {
        crate::pow::PowRefusal::Busy => StatusCode::TOO_MANY_REQUESTS,
        _ => StatusCode::UNPROCESSABLE_ENTITY,
    }
}

/// What the citizen is told when the form's proof of work is not taken.
pub fn pow_problem(l: Lang, refusal: crate::pow::PowRefusal) -> &'static str {
    use crate::pow::PowRefusal;
    match refusal {
        PowRefusal::Missing => l.pick(
            "Ihr Browser hat die Sicherheitsprüfung nicht ausgeführt. Bitte erlauben Sie \
             JavaScript für diese Seite und senden Sie das Formular noch einmal.",
            "Your browser did not run the security check. Please allow JavaScript for \
             this page and send the form again.",
        ),
        PowRefusal::Wrong | PowRefusal::Expired | PowRefusal::Replayed => l.pick(
            "Die Sicherheitsprüfung ist abgelaufen. Bitte senden Sie das Formular noch einmal.",
            "The security check has expired. Please send the form again.",
        ),
        PowRefusal::Busy => l.pick(
            "Gerade kommen sehr viele Anfragen. Bitte versuchen Sie es in einigen Minuten \
             noch einmal.",
            "There are very many requests at the moment. Please try again in a few minutes.",
        ),
    }
}

#[derive(Template)]
#[template(path = "form.html")]
pub struct FormPage {
    pub c: Chrome,
    pub heading: String,
    pub intro: Vec<String>,
    pub errors: Vec<(String, String)>,
    pub action: String,
    pub hidden: Vec<(String, String)>,
    pub fields: Vec<Field>,
    pub submit: &'static str,
    pub danger: bool,
    pub links: Vec<(String, String)>,
    pub pow: Option<PowField>,
}

impl FormPage {
    /// Marks a field wrong: its message under it and in the summary on top.
    pub fn problem(&mut self, id: &str, text: &'static str) {
        if let Some(f) = self.fields.iter_mut().find(|f| f.id == id) {
            f.error = Some(text);
        }
        self.errors.push((id.to_owned(), text.to_owned()));
    }

    /// A problem of the whole form, shown in the summary, pointing at the first field.
    pub fn general_problem(&mut self, text: &'static str) {
        let first = self.fields.first().map_or("main", |f| f.id);
        self.errors.push((first.to_owned(), text.to_owned()));
    }
}

#[derive(Template)]
#[template(path = "message.html")]
pub struct MessagePage {
    pub c: Chrome,
    pub heading: String,
    pub paragraphs: Vec<String>,
    pub links: Vec<(String, String)>,
    /// A one-button form: where it goes, and the button's text.
    pub form: Option<(String, String)>,
}

#[derive(Template)]
#[template(path = "choose.html")]
pub struct ChoosePage {
    pub c: Chrome,
    pub back: Option<(String, String)>,
    pub heading: String,
    pub intro: Vec<String>,
    pub items: Vec<(String, String, String)>,
    pub empty: &'static str,
}

#[derive(Template)]
#[template(path = "slots.html")]
pub struct SlotsPage {
    pub c: Chrome,
    pub errors: Vec<(String, String)>,
    pub back: (String, String),
    /// Where the form goes: `/book`, or `/bookings/<code>/move`.
    pub action: String,
    pub heading: String,
    pub intro: Vec<String>,
    pub service: String,
    /// Further services of the same appointment, ids separated by commas.
    pub also: String,
    pub day: String,
    pub legend: &'static str,
    pub error: Option<&'static str>,
    pub times: Vec<String>,
    pub submit: &'static str,
    pub empty: &'static str,
    pub pow: PowField,
    /// On a fully booked day: where joining its waitlist goes, what it says, and the
    /// button's text.
    pub waitlist: Option<(String, &'static str, &'static str)>,
}

#[derive(Template)]
#[template(path = "account.html")]
pub struct AccountPage {
    pub c: Chrome,
    pub heading: &'static str,
    pub notices: Vec<&'static str>,
    pub email_label: &'static str,
    pub email: String,
    pub bookings_heading: &'static str,
    pub no_bookings: &'static str,
    pub columns: [&'static str; 4],
    pub bookings: Vec<BookingRow>,
    pub book: &'static str,
    /// "A ticket by phone", where the office offers it.
    pub remote_ticket: Option<&'static str>,
    pub settings_heading: &'static str,
    pub links: Vec<(&'static str, &'static str)>,
    pub waiting_heading: &'static str,
    /// The days the account waits for: what (service and day), service id, date.
    pub waiting: Vec<(String, String, String)>,
    pub leave: &'static str,
}

#[derive(Debug, Clone)]
pub struct BookingRow {
    pub code: String,
    pub when: String,
    pub service: String,
    pub state: &'static str,
}

#[derive(Template)]
#[template(path = "booking.html")]
pub struct BookingPage {
    pub c: Chrome,
    pub just_booked: bool,
    pub booked_title: &'static str,
    pub booked_text: &'static str,
    pub heading: &'static str,
    pub code_label: &'static str,
    pub qr_alt: String,
    pub code: String,
    pub details: Vec<(&'static str, String)>,
    pub can_cancel: bool,
    /// The owner's link to move the booking while it is open.
    pub move_to: Option<(String, &'static str)>,
    pub qr: bool,
    /// Where the cancel form goes: the account's route, or a mail's signed link.
    pub cancel_action: String,
    pub cancel: &'static str,
    pub back: &'static str,
}

#[derive(Template)]
#[template(path = "home.html")]
pub struct HomePage {
    pub c: Chrome,
    pub heading: &'static str,
    pub intro: Vec<String>,
    pub book: &'static str,
}

/// Renders a page with this request's cookies.
pub fn render(ctx: &Ctx, status: StatusCode, page: &impl Template) -> Response {
    match page.render() {
        Ok(html) => ctx.respond(status, Html(html).into_response()),
        Err(e) => failure(ctx.lang, &e),
    }
}

/// Something on the portal's side failed: logged, and said plainly.
pub fn failure(lang: Lang, error: &dyn std::fmt::Display) -> Response {
    tracing::error!(%error, "portal request failed");
    let text = lang.pick(
        "Das hat leider nicht geklappt. Bitte versuchen Sie es später noch einmal.",
        "Sorry, that did not work. Please try again later.",
    );
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        Html(format!(
            "<!DOCTYPE html><html lang=\"{}\"><head><meta charset=\"utf-8\"><title>{text}</title></head><body><main><p>{text}</p></main></body></html>",
            lang.code()
        )),
    )
        .into_response()
}

/// A page with a heading, some text and links.
pub fn message(
    ctx: &Ctx,
    portal: &Portal,
    status: StatusCode,
    heading: &str,
    paragraphs: Vec<String>,
    links: Vec<(String, String)>,
) -> Response {
    message_with_form(ctx, portal, status, heading, paragraphs, links, None)
}

/// A message with a one-button form (`action`, the button's text) under it.
/// A message of one paragraph, `de` or `en` by the page's language, with the way
/// back to the start page.
pub fn note(
    ctx: &Ctx,
    portal: &Portal,
    status: StatusCode,
    heading: (&'static str, &'static str),
    text: (&'static str, &'static str),
) -> Response {
    let l = ctx.lang;
    message(
        ctx,
        portal,
        status,
        l.pick(heading.0, heading.1),
        vec![l.pick(text.0, text.1).to_owned()],
        vec![(
            "/".to_owned(),
            l.pick("Zur Startseite", "To the start page").to_owned(),
        )],
    )
}

pub fn message_with_form(
    ctx: &Ctx,
    portal: &Portal,
    status: StatusCode,
    heading: &str,
    paragraphs: Vec<String>,
    links: Vec<(String, String)>,
    form: Option<(String, String)>,
) -> Response {
    render(
        ctx,
        status,
        &MessagePage {
            c: Chrome::new(ctx, portal, heading),
            heading: heading.to_owned(),
            paragraphs,
            links,
            form,
        },
    )
}

pub async fn home(State(portal): State<Arc<Portal>>, ctx: Ctx) -> Response {
    let l = ctx.lang;
    let heading = l.pick("Termin online buchen", "Book an appointment online");
    render(
        &ctx,
        StatusCode::OK,
        &HomePage {
            c: Chrome::new(&ctx, &portal, heading),
            heading,
            intro: vec![
                l.pick(
                    "Buchen Sie Ihren Termin rund um die Uhr – frühestens für morgen, bis zu drei Monate im Voraus. Mit Termin werden Sie vor Besucherinnen und Besuchern ohne Termin aufgerufen.",
                    "Book your appointment around the clock – from tomorrow on, up to three months ahead. With an appointment you are called before visitors without one.",
                )
                .to_owned(),
                l.pick(
                    "Dafür brauchen Sie ein Konto mit Ihrer E-Mail-Adresse.",
                    "You need an account with your e-mail address for it.",
                )
                .to_owned(),
            ],
            book: l.pick("Termin buchen", "Book an appointment"),
        },
    )
}

#[derive(Debug, Deserialize)]
pub struct SwitchQuery {
    #[serde(default)]
    to: String,
    #[serde(default)]
    back: String,
}

pub async fn switch_language(mut ctx: Ctx, Query(q): Query<SwitchQuery>) -> Response {
    if let Some(lang) = Lang::parse(&q.to) {
        ctx.set_language(lang);
    }
    let back = local_path(&q.back).to_owned();
    ctx.redirect(&back)
}

pub async fn not_found(State(portal): State<Arc<Portal>>, ctx: Ctx) -> Response {
    note(
        &ctx,
        &portal,
        StatusCode::NOT_FOUND,
        ("Seite nicht gefunden", "Page not found"),
        (
            "Diese Seite gibt es nicht. Prüfen Sie die Adresse.",
            "There is no such page. Check the address.",
        ),
    )
}

/// The answer to a form whose CSRF token does not hold.
pub fn forged(ctx: &Ctx, portal: &Portal) -> Response {
    let l = ctx.lang;
    message(
        ctx,
        portal,
        StatusCode::FORBIDDEN,
        l.pick("Formular abgelaufen", "Form expired"),
        vec![l.pick(
            "Das Formular war nicht mehr gültig. Bitte laden Sie die Seite neu und versuchen Sie es noch einmal.",
            "The form was no longer valid. Please reload the page and try again.",
        )
        .to_owned()],
        vec![("/".to_owned(), l.pick("Zur Startseite", "To the start page").to_owned())],
    )
}

/// The answer when a client or an address tried too often.
pub fn too_many(ctx: &Ctx, portal: &Portal) -> Response {
    let l = ctx.lang;
    let mut response = message(
        ctx,
        portal,
        StatusCode::TOO_MANY_REQUESTS,
        l.pick("Zu viele Versuche", "Too many attempts"),
        vec![
            l.pick(
                "Bitte warten Sie eine Minute und versuchen Sie es dann noch einmal.",
                "Please wait a minute and then try again.",
            )
            .to_owned(),
        ],
        Vec::new(),
    );
    let after = crate::limits::retry_after(portal.settings.attempts_per_account_per_minute);
    if let Ok(v) = axum::http::HeaderValue::from_str(&after.as_secs().to_string()) {
        response
            .headers_mut()
            .insert(axum::http::header::RETRY_AFTER, v);
    }
    response
}

/// The answer to a page that needs a login: to the login page.
/// The "too many attempts" page when the client's address or `email` has used up
/// its attempts at `what` (a login) this minute; `None` while it may try.
pub fn too_many_attempts(ctx: &Ctx, portal: &Portal, what: &str, email: &str) -> Option<Response> {
    let now = std::time::Instant::now();
    let allowed = portal
        .by_address
        .allow(&format!("{what}/{}", ctx.client), now)
        && portal.by_account.allow(&format!("{what}/{email}"), now);
    (!allowed).then(|| too_many(ctx, portal))
}

pub fn needs_login(ctx: &Ctx) -> Response {
    ctx.redirect("/login")
}
