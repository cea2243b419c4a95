//! Feedback forms: on a done ticket's QR page (`POST /t/<token>/feedback`) and behind
//! the confirmation mail's signed link (`/f/<code>/<signature>`). Opening the link
//! takes nothing; the form does, once.

use std::sync::Arc;
use std::time::Instant;

use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;

use super::pages::{self, Chrome, render};
use super::{Checked, Ctx, blocking};
use crate::Portal;
use crate::feedback::{Given, Rating, RatingProblem};
use crate::i18n::Lang;

/// The feedback form's texts, and what was sent when it comes back.
#[derive(Debug, Clone)]
pub struct FeedbackForm {
    pub heading: &'static str,
    pub action: String,
    pub question: &'static str,
    pub ratings: Vec<(String, &'static str)>,
    pub chosen: Option<String>,
    pub rating_error: Option<&'static str>,
    pub comment_label: &'static str,
    pub comment_hint: &'static str,
    pub comment: String,
    pub comment_error: Option<&'static str>,
    pub submit: &'static str,
}

impl FeedbackForm {
    pub fn new(l: Lang, action: String) -> Self {
        FeedbackForm {
            heading: l.pick("Wie war Ihr Besuch?", "How was your visit?"),
            action,
            question: l.pick(
                "Wie zufrieden sind Sie mit Ihrem Besuch?",
                "How happy are you with your visit?",
            ),
            ratings: vec![
                ("5".into(), l.pick("5 – sehr zufrieden", "5 – very happy")),
                ("4".into(), l.pick("4 – zufrieden", "4 – happy")),
                ("3".into(), l.pick("3 – teils, teils", "3 – so-so")),
                ("2".into(), l.pick("2 – unzufrieden", "2 – unhappy")),
                (
                    "1".into(),
                    l.pick("1 – sehr unzufrieden", "1 – very unhappy"),
                ),
            ],
            chosen: None,
            rating_error: None,
            comment_label: l.pick("Ihr Kommentar (freiwillig)", "Your comment (optional)"),
            comment_hint: l.pick(
                "Höchstens 1.000 Zeichen. Bitte schreiben Sie keine Namen oder andere \
                 Angaben zu Personen hinein: Wir speichern die Rückmeldung ohne Bezug zu \
                 Ihnen.",
                "At most 1,000 characters. Please write no names or other personal details: \
                 we keep the feedback without any link to you.",
            ),
            comment: String::new(),
            comment_error: None,
            submit: l.pick("Rückmeldung senden", "Send feedback"),
        }
    }

    /// Marks what was wrong with what was sent, and keeps it.
    fn sent_back(
        mut self,
        l: Lang,
        sent: &FeedbackSent,
        problem: RatingProblem,
    ) -> (Self, Vec<(String, String)>) {
        self.chosen = Some(sent.rating.clone()).filter(|r| !r.is_empty());
        self.comment = sent
            .comment
            .chars()
            .take(crate::feedback::MAX_COMMENT_CHARS * 2)
            .collect();
        let (id, text) = match problem {
            RatingProblem::NoRating => {
                let text = l.pick(
                    "Wählen Sie, wie zufrieden Sie sind.",
                    "Choose how happy you are.",
                );
                self.rating_error = Some(text);
                ("rating-5", text)
            }
            RatingProblem::CommentTooLong => {
                let text = l.pick(
                    "Der Kommentar darf höchstens 1.000 Zeichen lang sein.",
                    "The comment must be at most 1,000 characters long.",
                );
                self.comment_error = Some(text);
                ("comment", text)
            }
        };
        (self, vec![(id.to_owned(), text.to_owned())])
    }
}

#[derive(Template)]
#[template(path = "feedback.html")]
struct FeedbackPage {
    c: Chrome,
    errors: Vec<(String, String)>,
    heading: &'static str,
    intro: Vec<String>,
    f: FeedbackForm,
}

#[derive(Debug, Deserialize)]
pub struct FeedbackSent {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    rating: String,
    #[serde(default)]
    comment: String,
}

impl super::CarriesCsrf for FeedbackSent {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

fn answer(ctx: &Ctx, portal: &Portal, given: Given) -> Response {
    let (status, heading, text) = match given {
        Given::Taken => (
            StatusCode::OK,
            ("Danke für Ihre Rückmeldung", "Thank you for your feedback"),
            (
                "Ihre Rückmeldung hilft uns, besser zu werden.",
                "Your feedback helps us get better.",
            ),
        ),
        Given::Already => (
            StatusCode::CONFLICT,
            ("Schon bewertet", "Rated already"),
            (
                "Zu diesem Besuch haben wir Ihre Rückmeldung schon. Danke!",
                "We have your feedback on this visit already. Thank you!",
            ),
        ),
        Given::NotYet => (
            StatusCode::CONFLICT,
            ("Noch nicht", "Not yet"),
            (
                "Eine Rückmeldung ist nach Ihrem Besuch möglich.",
                "You can give feedback after your visit.",
            ),
        ),
        Given::Unknown => (
            StatusCode::NOT_FOUND,
            ("Besuch nicht bekannt", "Visit not known"),
            (
                "Zu dieser Adresse kennen wir keinen Besuch, der bewertet werden kann.",
                "We know no visit at this address that can be rated.",
            ),
        ),
    };
    pages::note(ctx, portal, status, heading, text)
}

/// Too many forms from one address: limited with the other forms' attempts.
fn limited(ctx: &Ctx, portal: &Portal) -> Option<Response> {
    (!portal
        .by_address
        .allow(&format!("feedback/{}", ctx.client), Instant::now()))
    .then(|| pages::too_many(ctx, portal))
}

fn sent_back_page(
    ctx: &Ctx,
    portal: &Portal,
    action: String,
    sent: &FeedbackSent,
    problem: RatingProblem,
) -> Response {
    let l = ctx.lang;
    let (f, errors) = FeedbackForm::new(l, action).sent_back(l, sent, problem);
    let heading = f.heading;
    render(
        ctx,
        StatusCode::UNPROCESSABLE_ENTITY,
        &FeedbackPage {
            c: Chrome::new(ctx, portal, heading),
            errors,
            heading,
            intro: Vec::new(),
            f,
        },
    )
}

/// Takes a sent form's rating (limited per address; a wrong one comes back on the
/// form at `action`) and keeps it with `keep`.
async fn take(
    portal: Arc<Portal>,
    ctx: Ctx,
    sent: FeedbackSent,
    action: String,
    keep: impl FnOnce(&Portal, &Rating) -> Result<Given, crate::PortalError> + Send + 'static,
) -> Response {
    if let Some(r) = limited(&ctx, &portal) {
        return r;
    }
    let rating = match Rating::of(&sent.rating, &sent.comment) {
        Ok(r) => r,
        Err(problem) => return sent_back_page(&ctx, &portal, action, &sent, problem),
    };
    let p = portal.clone();
    match blocking(ctx.lang, move || keep(&p, &rating)).await {
        Ok(given) => answer(&ctx, &portal, given),
        Err(r) => r,
    }
}

/// `POST /t/<token>/feedback`: a done ticket's rating.
pub async fn ticket(
    State(portal): State<Arc<Portal>>,
    Path(token): Path<String>,
    Checked(ctx, sent): Checked<FeedbackSent>,
) -> Response {
    if token.len() > 64 || !token.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return answer(&ctx, &portal, Given::Unknown);
    }
    let action = format!("/t/{token}/feedback");
    take(portal, ctx, sent, action, move |p, rating| {
        p.ticket_feedback(&token, rating)
    })
    .await
}

/// `GET /f/<code>/<signature>`: the form behind a booking mail's link.
pub async fn booking_form(
    State(portal): State<Arc<Portal>>,
    ctx: Ctx,
    Path((code, signature)): Path<(String, String)>,
) -> Response {
    if !portal.feedback_link_holds(&code, &signature) {
        return answer(&ctx, &portal, Given::Unknown);
    }
    let p = portal.clone();
    let c = code.clone();
    let state = match blocking(ctx.lang, move || p.booking_feedback_state(&c)).await {
        Ok((state, _)) => state,
        Err(r) => return r,
    };
    if state != Given::Taken {
        return answer(&ctx, &portal, state);
    }
    let l = ctx.lang;
    let f = FeedbackForm::new(l, format!("/f/{code}/{signature}"));
    let heading = f.heading;
    render(
        &ctx,
        StatusCode::OK,
        &FeedbackPage {
            c: Chrome::new(&ctx, &portal, heading),
            errors: Vec::new(),
            heading,
            intro: vec![
                l.pick(
                    "Sagen Sie uns in einer Minute, wie Ihr Termin war. Die Rückmeldung \
                     ist anonym.",
                    "Tell us in a minute how your appointment went. The feedback is \
                     anonymous.",
                )
                .to_owned(),
            ],
            f,
        },
    )
}

/// `POST /f/<code>/<signature>`: a booking's rating.
pub async fn booking(
    State(portal): State<Arc<Portal>>,
    Path((code, signature)): Path<(String, String)>,
    Checked(ctx, sent): Checked<FeedbackSent>,
) -> Response {
    if !portal.feedback_link_holds(&code, &signature) {
        return answer(&ctx, &portal, Given::Unknown);
    }
    let action = format!("/f/{code}/{signature}");
    take(portal, ctx, sent, action, move |p, rating| {
        p.booking_feedback(&code, rating)
    })
    .await
}

/// What a ticket's QR page shows of feedback: the form once the ticket is done, or
/// thanks once it was given.
pub fn on_ticket_page(
    portal: &Portal,
    l: Lang,
    token: &str,
) -> Result<(Option<FeedbackForm>, Option<&'static str>), crate::PortalError> {
    let (state, _) = portal.ticket_feedback_state(token)?;
    Ok(match state {
        Given::Taken => (
            Some(FeedbackForm::new(l, format!("/t/{token}/feedback"))),
            None,
        ),
        Given::Already => (
            None,
            Some(l.pick(
                "Danke für Ihre Rückmeldung!",
                "Thank you for your feedback!",
            )),
        ),
        Given::NotYet | Given::Unknown => (None, None),
    })
}
