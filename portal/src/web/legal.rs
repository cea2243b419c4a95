//! The pages every German public website has: imprint, privacy notice, accessibility
//! statement (with the form to report a barrier, mailed to the office's contact),
//! Leichte Sprache and sign language — linked from every page's footer — and the
//! admins' editor of their texts (`/admin/texts`).

use std::sync::Arc;
use std::time::Instant;

use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;

use super::admin::{AdminField, AdminForm, AdminIn, AdminPage, Group, Table};
use super::pages::{self, Chrome, render};
use super::{Checked, Ctx, blocking};
use crate::Portal;
use crate::i18n::Lang;
use crate::mail::Mail;
use crate::texts::{Block, MAX_TEXT_CHARS, Page, blocks};

/// The longest barrier report.
const MAX_REPORT_CHARS: usize = 2000;

#[derive(Debug, Clone)]
struct ReportForm {
    heading: &'static str,
    description_label: &'static str,
    description_hint: &'static str,
    description: String,
    description_error: Option<&'static str>,
    email_label: &'static str,
    email: String,
    email_error: Option<&'static str>,
    submit: &'static str,
}

impl ReportForm {
    fn new(l: Lang) -> Self {
        ReportForm {
            heading: l.pick("Barriere melden", "Report a barrier"),
            description_label: l.pick("Was hat nicht funktioniert?", "What did not work?"),
            description_hint: l.pick(
                "Auf welcher Seite, und was ist passiert? Höchstens 2.000 Zeichen.",
                "On which page, and what happened? At most 2,000 characters.",
            ),
            description: String::new(),
            description_error: None,
            email_label: l.pick(
                "Ihre E-Mail-Adresse für eine Antwort (freiwillig)",
                "Your e-mail address for an answer (optional)",
            ),
            email: String::new(),
            email_error: None,
            submit: l.pick("Meldung senden", "Send report"),
        }
    }
}

#[derive(Template)]
#[template(path = "legal.html")]
struct LegalPage {
    c: Chrome,
    errors: Vec<(String, String)>,
    heading: &'static str,
    blocks: Vec<Block>,
    /// The text's own language, when it is not the page's (Leichte Sprache is German).
    content_lang: Option<&'static str>,
    report: Option<ReportForm>,
}

async fn show(
    portal: &Arc<Portal>,
    ctx: &Ctx,
    page: Page,
    status: StatusCode,
    report: Option<ReportForm>,
    errors: Vec<(String, String)>,
) -> Response {
    let l = ctx.lang;
    let p = portal.clone();
    let text = match blocking(l, move || p.text(page, l)).await {
        Ok(t) => t,
        Err(r) => return r,
    };
    let heading = page.title(l);
    let german_only = page == Page::EasyLanguage && l == Lang::En;
    let report = report.or_else(|| (page == Page::Accessibility).then(|| ReportForm::new(l)));
    render(
        ctx,
        status,
        &LegalPage {
            c: Chrome::new(ctx, portal, heading),
            errors,
            heading,
            blocks: blocks(&text),
            content_lang: german_only.then_some("de"),
            report,
        },
    )
}

macro_rules! legal_page {
    ($name:ident, $page:expr) => {
        pub async fn $name(State(portal): State<Arc<Portal>>, ctx: Ctx) -> Response {
            show(&portal, &ctx, $page, StatusCode::OK, None, Vec::new()).await
        }
    };
}

legal_page!(imprint, Page::Imprint);
legal_page!(privacy, Page::Privacy);
legal_page!(accessibility, Page::Accessibility);
legal_page!(easy_language, Page::EasyLanguage);
legal_page!(sign_language, Page::SignLanguage);

#[derive(Debug, Deserialize)]
pub struct ReportSent {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    email: String,
}

impl super::CarriesCsrf for ReportSent {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

/// `POST /barrierefreiheit`: a barrier reported, mailed to the office's contact.
pub async fn report(
    State(portal): State<Arc<Portal>>,
    Checked(ctx, sent): Checked<ReportSent>,
) -> Response {
    let l = ctx.lang;
    let mut form = ReportForm::new(l);
    let description: String = sent
        .description
        .chars()
        .filter(|c| !c.is_control() || *c == '\n')
        .collect::<String>()
        .trim()
        .to_owned();
    form.description = description.chars().take(MAX_REPORT_CHARS * 2).collect();
    form.email = sent.email.chars().take(254).collect();
    let mut errors = Vec::new();
    if description.is_empty() || description.chars().count() > MAX_REPORT_CHARS {
        let text = l.pick(
            "Beschreiben Sie die Barriere in höchstens 2.000 Zeichen.",
            "Describe the barrier in at most 2,000 characters.",
        );
        form.description_error = Some(text);
        errors.push(("description".to_owned(), text.to_owned()));
    }
    let reply = if sent.email.trim().is_empty() {
        None
    } else {
        match crate::accounts::email(&sent.email) {
            Ok(e) => Some(e),
            Err(p) => {
                form.email_error = Some(p.text(l));
                errors.push(("email".to_owned(), p.text(l).to_owned()));
                None
            }
        }
    };
    if !errors.is_empty() {
        return show(
            &portal,
            &ctx,
            Page::Accessibility,
            StatusCode::UNPROCESSABLE_ENTITY,
            Some(form),
            errors,
        )
        .await;
    }
    if !portal
        .by_address
        .allow(&format!("barrier/{}", ctx.client), Instant::now())
    {
        return pages::too_many(&ctx, &portal);
    }
    let p = portal.clone();
    let sent_mail = blocking(l, move || {
        let reply = reply.unwrap_or_else(|| "(keine / none)".to_owned());
        p.mailer.send(&Mail {
            to: p.contact(),
            subject: "Barriere gemeldet – Terminbuchung".to_owned(),
            text: format!(
                "Über die Erklärung zur Barrierefreiheit wurde eine Barriere gemeldet.\n\nAntwort an: {reply}\n\nBeschreibung:\n\n{description}\n"
            ),
            attachments: Vec::new(),
        })?;
        Ok(())
    })
    .await;
    if let Err(r) = sent_mail {
        return r;
    }
    pages::note(
        &ctx,
        &portal,
        StatusCode::OK,
        ("Danke für Ihre Meldung", "Thank you for your report"),
        (
            "Wir haben Ihre Meldung erhalten und kümmern uns darum. Wenn Sie eine \
             E-Mail-Adresse angegeben haben, antworten wir innerhalb von zwei Wochen.",
            "We have your report and will look into it. If you gave an e-mail \
             address, we answer within two weeks.",
        ),
    )
}

// ---- the admins' editor ----

pub async fn texts(State(portal): State<Arc<Portal>>, admin: AdminIn) -> Response {
    let l = admin.ctx.lang;
    let p = portal.clone();
    let changed = match blocking(l, move || {
        Page::ALL
            .into_iter()
            .map(|page| {
                Ok((
                    page,
                    p.text_changed(page, Lang::De)?,
                    p.text_changed(page, Lang::En)?,
                ))
            })
            .collect::<Result<Vec<_>, crate::PortalError>>()
    })
    .await
    {
        Ok(c) => c,
        Err(r) => return r,
    };
    let mut page = AdminPage::of(&admin, &portal, "/admin/texts", l.pick("Texte", "Texts"));
    page.intro.push(
        l.pick(
            "Die Seiten, die jede öffentliche Website haben muss. Mitgeliefert sind \
             deutsche und englische Texte; ändern Sie sie für Ihr Amt.",
            "The pages every public website must have. German and English texts ship; \
             change them for your office.",
        )
        .to_owned(),
    );
    let state = |changed: bool| {
        if changed {
            l.pick("geändert", "changed")
        } else {
            l.pick("mitgeliefert", "as shipped")
        }
    };
    page.tables.push(Table {
        id: "texts",
        caption: l.pick("Seiten", "Pages").to_owned(),
        head: vec![
            l.pick("Seite", "Page").to_owned(),
            l.pick("Deutsch", "German").to_owned(),
            l.pick("Englisch", "English").to_owned(),
        ],
        rows: changed
            .iter()
            .map(|(p, de, en)| {
                vec![
                    p.title(l).to_owned(),
                    state(*de).to_owned(),
                    state(*en).to_owned(),
                ]
            })
            .collect(),
    });
    page.links = Page::ALL
        .into_iter()
        .map(|p| {
            (
                format!("/admin/texts/{}", p.key()),
                match l {
                    Lang::De => format!("„{}“ bearbeiten", p.title(l)),
                    Lang::En => format!("Edit \"{}\"", p.title(l)),
                },
            )
        })
        .collect();
    render(&admin.ctx, StatusCode::OK, &page)
}

fn text_page(admin: &AdminIn, portal: &Portal, page: Page, de: String, en: String) -> AdminPage {
    let l = admin.ctx.lang;
    let mut view = AdminPage::of(admin, portal, "/admin/texts", page.title(l));
    view.intro.push(
        l.pick(
            "Absätze trennt eine Leerzeile. Eine Zeile mit „## “ am Anfang ist eine \
             Überschrift, Zeilen mit „- “ am Anfang sind eine Liste. Ein leeres Feld \
             bringt den mitgelieferten Text zurück.",
            "An empty line separates paragraphs. A line starting with \"## \" is a \
             heading, lines starting with \"- \" are a list. An empty field brings the \
             shipped text back.",
        )
        .to_owned(),
    );
    view.links.push((
        page.path(),
        l.pick("Seite ansehen", "View the page").to_owned(),
    ));
    view.with_form(
        &format!("/admin/texts/{}", page.key()),
        vec![Group {
            legend: None,
            fields: vec![
                AdminField::text("de", l.pick("Deutsch", "German"), de).lines(20, MAX_TEXT_CHARS),
                AdminField::text("en", l.pick("Englisch", "English"), en).lines(20, MAX_TEXT_CHARS),
            ],
        }],
        l.pick("Speichern", "Save"),
    )
}

#[derive(Debug, Deserialize)]
pub struct Saved {
    #[serde(default)]
    saved: Option<u8>,
}

pub async fn text_form(
    State(portal): State<Arc<Portal>>,
    admin: AdminIn,
    Path(key): Path<String>,
    axum::extract::Query(q): axum::extract::Query<Saved>,
) -> Response {
    let Some(page) = Page::of_key(&key) else {
        return pages::not_found(State(portal), admin.ctx).await;
    };
    let l = admin.ctx.lang;
    let p = portal.clone();
    let (de, en) = match blocking(l, move || {
        Ok((p.text(page, Lang::De)?, p.text(page, Lang::En)?))
    })
    .await
    {
        Ok(t) => t,
        Err(r) => return r,
    };
    let mut view = text_page(&admin, &portal, page, de, en);
    if q.saved.is_some() {
        view.success = Some(l.pick("Gespeichert.", "Saved.").to_owned());
    }
    render(&admin.ctx, StatusCode::OK, &view)
}

pub async fn save_text(
    State(portal): State<Arc<Portal>>,
    Path(key): Path<String>,
    AdminForm(admin, sent): AdminForm,
) -> Response {
    let Some(page) = Page::of_key(&key) else {
        return pages::not_found(State(portal), admin.ctx).await;
    };
    let l = admin.ctx.lang;
    let de = sent.get("de").to_owned();
    let en = sent.get("en").to_owned();
    let too_long = |t: &str| t.chars().count() > MAX_TEXT_CHARS;
    if too_long(&de) || too_long(&en) {
        let mut view = text_page(&admin, &portal, page, de.clone(), en.clone());
        let text = l.pick("Höchstens 20.000 Zeichen.", "At most 20,000 characters.");
        for (id, t) in [("de", &de), ("en", &en)] {
            if too_long(t) {
                view.problem(id, text);
            }
        }
        return render(&admin.ctx, StatusCode::UNPROCESSABLE_ENTITY, &view);
    }
    let p = portal.clone();
    let who = admin.admin.email.clone();
    match blocking(l, move || {
        p.set_text(page, Lang::De, &de)?;
        p.set_text(page, Lang::En, &en)?;
        tracing::info!(
            admin = who,
            page = page.key(),
            "an admin changed a page's text"
        );
        Ok(())
    })
    .await
    {
        Ok(()) => admin
            .ctx
            .redirect(&format!("/admin/texts/{}?saved=1", page.key())),
        Err(r) => r,
    }
}
