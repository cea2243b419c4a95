//! The admin pages (`/admin/…`): set-up from an invitation, login with password and
//! second factor, and the office's configuration — service names, opening hours,
//! holidays, the display's notices — and cancelling an appointment for a citizen.
//!
//! Admins have their own session (the `admin` cookie, `SameSite=Strict`, two hours)
//! and their own CSRF token; a citizen's session opens none of these pages.
//! [`AdminIn`] and [`AdminForm`] turn everyone else away before a handler runs.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use askama::Template;
use axum::Form;
use axum::extract::{FromRequest, FromRequestParts, Path, Query, Request, State};
use axum::http::{StatusCode, header, request::Parts};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::pages::{self, Chrome, render};
use super::{Ctx, blocking, cookie};
use crate::Portal;
use crate::accounts::{self, Problem};
use crate::admins::{ADMIN_SESSION_MS, MAX_REASON_CHARS, PublishError};
use crate::i18n::Lang;
use crate::secret;
use crate::store::{Admin, AdminSession};
use aufruf_model::config::{
    AppointmentCapacity, MAX_APPOINTMENTS_PER_SLOT, MAX_NOTICE_CHARS, MAX_NOTICES, OpeningInterval,
    SLOT_MINUTES,
};
use aufruf_model::{DeskId, ServiceId};

/// `__Host-` needs HTTPS; on a plain-HTTP demo the name goes without the prefix.
fn admin_cookie(secure: bool) -> &'static str {
    if secure { "__Host-admin" } else { "admin" }
}

/// A request of a logged-in admin; anyone else is sent to the admin login.
#[derive(Debug)]
pub struct AdminIn {
    pub ctx: Ctx,
    pub token: String,
    pub session: AdminSession,
    pub admin: Admin,
}

impl FromRequestParts<Arc<Portal>> for AdminIn {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, portal: &Arc<Portal>) -> Result<Self, Response> {
        let ctx = Ctx::from_request_parts(parts, portal).await?;
        let Some(token) = cookie(&parts.headers, admin_cookie(ctx.secure)) else {
            return Err(ctx.redirect("/admin/login"));
        };
        let p = portal.clone();
        let t = token.clone();
        let found = blocking(ctx.lang, move || {
            Ok(p.store.admin_session(&t, p.now_ms())?)
        })
        .await?;
        match found {
            Some((session, admin)) => Ok(AdminIn {
                ctx,
                token,
                session,
                admin,
            }),
            None => Err(ctx.redirect("/admin/login")),
        }
    }
}

/// A form's fields by name, as sent; the admin pages' forms have fields named after
/// the office's services and departments.
#[derive(Debug, Deserialize)]
#[serde(transparent)]
pub struct Fields(Vec<(String, String)>);

impl Fields {
    pub(super) fn get(&self, name: &str) -> &str {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map_or("", |(_, v)| v.as_str())
    }
}

/// A form of a logged-in admin whose CSRF token is the admin session's.
#[derive(Debug)]
pub struct AdminForm(pub AdminIn, pub Fields);

impl FromRequest<Arc<Portal>> for AdminForm {
    type Rejection = Response;

    async fn from_request(request: Request, portal: &Arc<Portal>) -> Result<Self, Response> {
        let (mut parts, body) = request.into_parts();
        let admin = AdminIn::from_request_parts(&mut parts, portal).await?;
        let Form(fields) = Form::<Fields>::from_request(Request::from_parts(parts, body), portal)
            .await
            .map_err(IntoResponse::into_response)?;
        if !secret::same(fields.get("csrf"), &admin.session.csrf) {
            return Err(pages::forged(&admin.ctx, portal));
        }
        Ok(AdminForm(admin, fields))
    }
}

// ---- the page ----

#[derive(Debug, Clone)]
pub struct AdminField {
    pub id: String,
    pub label: String,
    pub value: String,
    /// More than one: a text area of so many rows.
    pub lines: usize,
    pub kind: &'static str,
    pub autocomplete: &'static str,
    pub maxlength: usize,
    pub hint: Option<String>,
    pub error: Option<String>,
    /// Checkboxes, each its own form field (id, label, checked): the field is then a
    /// group of them under its label.
    pub choices: Vec<(String, String, bool)>,
}

impl AdminField {
    pub(super) fn text(
        id: impl Into<String>,
        label: impl Into<String>,
        value: impl Into<String>,
    ) -> Self {
        AdminField {
            id: id.into(),
            label: label.into(),
            value: value.into(),
            lines: 1,
            kind: "text",
            autocomplete: "off",
            maxlength: 200,
            hint: None,
            error: None,
            choices: Vec::new(),
        }
    }

    /// A group of checkboxes under `label`; a box sends `on` when checked.
    fn checkboxes(
        id: impl Into<String>,
        label: impl Into<String>,
        choices: Vec<(String, String, bool)>,
    ) -> Self {
        AdminField {
            choices,
            ..Self::text(id, label, "")
        }
    }

    pub(super) fn lines(mut self, lines: usize, maxlength: usize) -> Self {
        self.lines = lines;
        self.maxlength = maxlength;
        self
    }

    fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    pub(super) fn kind(mut self, kind: &'static str, autocomplete: &'static str) -> Self {
        self.kind = kind;
        self.autocomplete = autocomplete;
        self
    }

    pub fn described_by(&self) -> String {
        pages::described_by(&self.id, self.hint.is_some(), self.error.is_some())
    }
}

#[derive(Debug, Clone)]
pub struct Group {
    pub legend: Option<String>,
    pub fields: Vec<AdminField>,
}

#[derive(Debug, Clone)]
pub struct AdminFormView {
    /// `post` (with the session's CSRF token), or `get` (a query: the statistics' span).
    pub method: &'static str,
    pub action: String,
    pub groups: Vec<Group>,
    pub submit: &'static str,
}

#[derive(Template)]
#[template(path = "admin.html")]
pub struct AdminPage {
    pub c: Chrome,
    pub admin_title: &'static str,
    pub nav_label: &'static str,
    /// Link, text, whether it is this page.
    pub nav: Vec<(String, &'static str, bool)>,
    /// The logout button's text, when logged in.
    pub logout: Option<&'static str>,
    pub errors: Vec<(String, String)>,
    pub success: Option<String>,
    pub heading: String,
    pub intro: Vec<String>,
    pub facts: Vec<(String, String)>,
    /// The set-up page's QR code: image, its text alternative, a label, the secret.
    pub qr: Option<(String, String, &'static str, String)>,
    pub form: Option<AdminFormView>,
    /// A chart, as SVG this crate drew (every text in it escaped).
    pub chart: Option<String>,
    pub tables: Vec<Table>,
    pub links: Vec<(String, String)>,
}

/// A table: its caption (and the id that names it), column heads, and rows whose
/// first cell heads the row.
#[derive(Debug, Clone)]
pub struct Table {
    pub id: &'static str,
    pub caption: String,
    pub head: Vec<String>,
    pub rows: Vec<Vec<String>>,
}

impl AdminPage {
    /// A page for anyone (login, set-up): no menu.
    fn open(ctx: &Ctx, portal: &Portal, heading: &str) -> Self {
        let l = ctx.lang;
        AdminPage {
            c: Chrome::new(ctx, portal, heading),
            admin_title: l.pick("Verwaltung", "Administration"),
            nav_label: l.pick("Verwaltungsmenü", "Administration menu"),
            nav: Vec::new(),
            logout: None,
            errors: Vec::new(),
            success: None,
            heading: heading.to_owned(),
            intro: Vec::new(),
            facts: Vec::new(),
            qr: None,
            form: None,
            chart: None,
            tables: Vec::new(),
            links: Vec::new(),
        }
    }

    /// A page of a logged-in admin, with the menu (`here` marked) and the session's
    /// CSRF token in every form.
    pub(super) fn of(admin: &AdminIn, portal: &Portal, here: &str, heading: &str) -> Self {
        let l = admin.ctx.lang;
        let mut page = Self::open(&admin.ctx, portal, heading);
        page.c.csrf = admin.session.csrf.clone();
        page.nav = [
            ("/admin", l.pick("Übersicht", "Overview")),
            ("/admin/services", l.pick("Dienstleistungen", "Services")),
            ("/admin/desks", l.pick("Schalter", "Desks")),
            ("/admin/hours", l.pick("Öffnungszeiten", "Opening hours")),
            (
                "/admin/appointments",
                l.pick("Terminangebot", "Appointment capacity"),
            ),
            ("/admin/holidays", l.pick("Feiertage", "Holidays")),
            ("/admin/notices", l.pick("Hinweise", "Notices")),
            (
                "/admin/cancel",
                l.pick("Termin absagen", "Cancel appointment"),
            ),
            ("/admin/statistics", l.pick("Statistik", "Statistics")),
            ("/admin/texts", l.pick("Texte", "Texts")),
        ]
        .into_iter()
        .map(|(href, text)| (href.to_owned(), text, href == here))
        .collect();
        page.logout = Some(l.pick("Abmelden", "Log out"));
        page
    }

    /// Marks field `id` wrong: its message under it and in the summary on top.
    pub(super) fn problem(&mut self, id: &str, text: impl Into<String>) {
        let text = text.into();
        if let Some(form) = &mut self.form
            && let Some(f) = form
                .groups
                .iter_mut()
                .flat_map(|g| g.fields.iter_mut())
                .find(|f| f.id == id)
        {
            f.error = Some(text.clone());
        }
        self.errors.push((id.to_owned(), text));
    }

    /// A problem of the whole form, pointing at its first field.
    fn general_problem(&mut self, text: impl Into<String>) {
        let first = self
            .form
            .as_ref()
            .and_then(|f| f.groups.first())
            .and_then(|g| g.fields.first())
            .map_or_else(|| "main".to_owned(), |f| f.id.clone());
        self.errors.push((first, text.into()));
    }

    /// The page's form, publishing the office's configuration — or, without the
    /// administrator's delegation, why there is none.
    fn publishing_form(
        mut self,
        portal: &Portal,
        l: Lang,
        action: &str,
        groups: Vec<Group>,
    ) -> Self {
        if portal.config_revision().1 {
            self.with_form(action, groups, l.pick("Veröffentlichen", "Publish"))
        } else {
            self.intro.push(not_delegated(l));
            self
        }
    }

    pub(super) fn with_form(
        mut self,
        action: &str,
        groups: Vec<Group>,
        submit: &'static str,
    ) -> Self {
        self.form = Some(AdminFormView {
            method: "post",
            action: action.to_owned(),
            groups,
            submit,
        });
        self
    }

    /// The form's fields, as sent back with their problems marked.
    fn keep_values(&mut self, sent: &Fields) {
        if let Some(form) = &mut self.form {
            for f in form.groups.iter_mut().flat_map(|g| g.fields.iter_mut()) {
                for (id, _, checked) in &mut f.choices {
                    *checked = sent.get(id) == "on";
                }
                if f.kind != "password" && f.choices.is_empty() {
                    f.value = sent.get(&f.id).to_owned();
                }
            }
        }
    }
}

/// `?published=<revision>` after a change.
#[derive(Debug, Deserialize)]
pub struct Published {
    #[serde(default)]
    published: Option<u64>,
}

fn published_notice(l: Lang, q: &Published) -> Option<String> {
    q.published.map(|revision| match l {
        Lang::De => format!(
            "Veröffentlicht als Revision {revision}. Jedes Gerät des Amts übernimmt sie, sobald sie es erreicht – ohne Neustart."
        ),
        Lang::En => format!(
            "Published as revision {revision}. Every device of the office takes it as soon as it arrives – no restart."
        ),
    })
}

/// Without the administrator's delegation, the configuration pages say so and show
/// no form.
fn not_delegated(l: Lang) -> String {
    l.pick(
        "Dieses Gateway darf die Konfiguration des Amts nicht ändern: Die IT des Amts \
         erteilt die Erlaubnis mit „aufruf office delegate“ und trägt die Datei als \
         admin_delegation in [node.portal] ein.",
        "This gateway may not change the office's configuration: the office's IT grants \
         it with `aufruf office delegate` and names the file as admin_delegation in \
         [node.portal].",
    )
    .to_owned()
}

/// Publishes `change`, then back to `page` with the revision; or the page again with
/// why not.
async fn publish(
    portal: &Arc<Portal>,
    admin: &AdminIn,
    mut page: AdminPage,
    back: &'static str,
    change: impl FnOnce(&mut aufruf_model::OfficeConfig) + Send + 'static,
) -> Response {
    let p = portal.clone();
    let who = admin.admin.email.clone();
    let l = admin.ctx.lang;
    let result = tokio::task::spawn_blocking(move || p.publish_config(&who, change)).await;
    match result {
        Ok(Ok(revision)) => admin.ctx.redirect(&format!("{back}?published={revision}")),
        Ok(Err(PublishError::Invalid(why))) => {
            page.general_problem(format!(
                "{} {why}",
                l.pick(
                    "So nähme das Amt die Konfiguration nicht an:",
                    "The office would not take the configuration like this:"
                )
            ));
            render(&admin.ctx, StatusCode::UNPROCESSABLE_ENTITY, &page)
        }
        Ok(Err(PublishError::NotDelegated)) => {
            page.general_problem(not_delegated(l));
            render(&admin.ctx, StatusCode::CONFLICT, &page)
        }
        Ok(Err(e @ PublishError::Refused(_))) => {
            tracing::warn!(error = %e, "an admin's change was not published");
            page.general_problem(format!(
                "{} {e}",
                l.pick("Nicht veröffentlicht:", "Not published:")
            ));
            render(&admin.ctx, StatusCode::CONFLICT, &page)
        }
        Err(e) => pages::failure(l, &e),
    }
}

// ---- login and set-up ----

fn login_page(ctx: &Ctx, portal: &Portal, email: &str) -> AdminPage {
    let l = ctx.lang;
    AdminPage::open(
        ctx,
        portal,
        l.pick("Anmeldung Verwaltung", "Administration login"),
    )
    .with_form(
        "/admin/login",
        vec![Group {
            legend: None,
            fields: vec![
                AdminField::text("email", l.pick("E-Mail-Adresse", "E-mail address"), email)
                    .kind("email", "username"),
                AdminField::text("password", l.pick("Passwort", "Password"), "")
                    .kind("password", "current-password"),
                AdminField::text("code", l.pick("Code aus der App", "Code from the app"), "")
                    .kind("text", "one-time-code")
                    .hint(l.pick(
                        "Die sechs Ziffern, die Ihre Authenticator-App gerade zeigt.",
                        "The six digits your authenticator app shows now.",
                    )),
            ],
        }],
        l.pick("Anmelden", "Log in"),
    )
}

pub async fn login_form(State(portal): State<Arc<Portal>>, ctx: Ctx) -> Response {
    render(&ctx, StatusCode::OK, &login_page(&ctx, &portal, ""))
}

#[derive(Debug, Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    code: String,
}

impl super::CarriesCsrf for LoginForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

pub async fn login(
    State(portal): State<Arc<Portal>>,
    super::Checked(mut ctx, f): super::Checked<LoginForm>,
) -> Response {
    let l = ctx.lang;
    let mut page = login_page(&ctx, &portal, &f.email);
    let email = accounts::email(&f.email);
    if let Err(p) = email {
        page.problem("email", p.text(l));
    }
    if f.password.is_empty() {
        page.problem("password", Problem::PasswordMissing.text(l));
    } else if f.password.len() > crate::settings::bounds::PASSWORD_MAX {
        page.problem("password", Problem::PasswordLong.text(l));
    }
    if f.code.trim().is_empty() || f.code.len() > 16 {
        page.problem(
            "code",
            l.pick(
                "Geben Sie den Code aus Ihrer Authenticator-App ein.",
                "Enter the code from your authenticator app.",
            ),
        );
    }
    let Ok(email) = email else {
        return render(&ctx, StatusCode::UNPROCESSABLE_ENTITY, &page);
    };
    if !page.errors.is_empty() {
        return render(&ctx, StatusCode::UNPROCESSABLE_ENTITY, &page);
    }
    if let Some(refused) = pages::too_many_attempts(&ctx, &portal, "admin-login", &email) {
        return refused;
    }
    let p = portal.clone();
    match blocking(l, move || p.admin_login(&email, &f.password, &f.code)).await {
        Ok(Some(token)) => {
            let name = admin_cookie(ctx.secure);
            ctx.set_cookie(name, Some(&token), ADMIN_SESSION_MS / 1000, "Strict");
            ctx.redirect("/admin")
        }
        Ok(None) => {
            page.general_problem(l.pick(
                "E-Mail-Adresse, Passwort oder Code stimmen nicht.",
                "The e-mail address, the password or the code is not correct.",
            ));
            render(&ctx, StatusCode::UNAUTHORIZED, &page)
        }
        Err(r) => r,
    }
}

pub async fn logout(State(portal): State<Arc<Portal>>, AdminForm(admin, _): AdminForm) -> Response {
    let AdminIn { mut ctx, token, .. } = admin;
    let p = portal.clone();
    if let Err(r) = blocking(ctx.lang, move || Ok(p.store.end_admin_session(&token)?)).await {
        return r;
    }
    ctx.set_cookie(admin_cookie(ctx.secure), None, 0, "Strict");
    ctx.redirect("/admin/login")
}

fn invitation_gone(ctx: &Ctx, portal: &Portal) -> Response {
    let l = ctx.lang;
    pages::message(
        ctx,
        portal,
        StatusCode::NOT_FOUND,
        l.pick("Einladung ungültig", "Invitation not valid"),
        vec![
            l.pick(
                "Diese Einladung gilt nicht (mehr): Sie ist abgelaufen oder wurde schon \
                 benutzt. Bitten Sie die IT des Amts um eine neue.",
                "This invitation is not valid (any more): it has expired or was used \
                 already. Ask the office's IT for a new one.",
            )
            .to_owned(),
        ],
        Vec::new(),
    )
}

fn setup_page(ctx: &Ctx, portal: &Portal, token: &str, email: &str, secret: &str) -> AdminPage {
    let l = ctx.lang;
    let mut page = AdminPage::open(
        ctx,
        portal,
        l.pick(
            "Zugang zur Verwaltung einrichten",
            "Set up your administration access",
        ),
    );
    page.intro = vec![
        match l {
            Lang::De => format!("Sie richten den Zugang für {email} ein."),
            Lang::En => format!("You are setting up the access for {email}."),
        },
        l.pick(
            "1. Scannen Sie den QR-Code mit einer Authenticator-App (zum Beispiel FreeOTP \
             oder der App Ihres Diensthandys) oder tippen Sie den Schlüssel ein.",
            "1. Scan the QR code with an authenticator app (FreeOTP, for example, or the \
             one on your work phone), or type in the key.",
        )
        .to_owned(),
        l.pick(
            "2. Wählen Sie ein Passwort und geben Sie den Code ein, den die App zeigt.",
            "2. Choose a password and enter the code the app shows.",
        )
        .to_owned(),
    ];
    page.qr = Some((
        format!("/admin/setup/{token}/qr.png"),
        l.pick(
            "QR-Code für die Authenticator-App; der Schlüssel steht darunter.",
            "QR code for the authenticator app; the key is below it.",
        )
        .to_owned(),
        l.pick("Schlüssel zum Eintippen:", "Key to type in:"),
        secret.to_owned(),
    ));
    page.with_form(
        &format!("/admin/setup/{token}"),
        vec![Group {
            legend: None,
            fields: vec![
                AdminField::text("password", l.pick("Neues Passwort", "New password"), "")
                    .kind("password", "new-password")
                    .hint(l.pick("Mindestens 10 Zeichen.", "At least 10 characters.")),
                AdminField::text("code", l.pick("Code aus der App", "Code from the app"), "")
                    .kind("text", "one-time-code"),
            ],
        }],
        l.pick("Zugang einrichten", "Set up access"),
    )
}

pub async fn setup_form(
    State(portal): State<Arc<Portal>>,
    ctx: Ctx,
    Path(token): Path<String>,
) -> Response {
    let p = portal.clone();
    let t = token.clone();
    let invitation = match blocking(ctx.lang, move || p.invitation(&t)).await {
        Ok(i) => i,
        Err(r) => return r,
    };
    match invitation {
        Some(i) => render(
            &ctx,
            StatusCode::OK,
            &setup_page(&ctx, &portal, &token, &i.email, &i.totp_secret),
        ),
        None => invitation_gone(&ctx, &portal),
    }
}

/// The set-up page's QR code: the authenticator app's link, as a PNG.
pub async fn setup_qr(
    State(portal): State<Arc<Portal>>,
    ctx: Ctx,
    Path(token): Path<String>,
) -> Response {
    let p = portal.clone();
    let invitation = match blocking(ctx.lang, move || p.invitation(&token)).await {
        Ok(i) => i,
        Err(r) => return r,
    };
    let Some(invitation) = invitation else {
        return StatusCode::NOT_FOUND.into_response();
    };
    match crate::booking::qr_png(&portal.otpauth_uri(&invitation)) {
        Some(png) => ([(header::CONTENT_TYPE, "image/png")], png).into_response(),
        None => pages::failure(ctx.lang, &"the QR code could not be drawn"),
    }
}

#[derive(Debug, Deserialize)]
pub struct SetupForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    code: String,
}

impl super::CarriesCsrf for SetupForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

pub async fn setup(
    State(portal): State<Arc<Portal>>,
    Path(token): Path<String>,
    super::Checked(ctx, f): super::Checked<SetupForm>,
) -> Response {
    let l = ctx.lang;
    let p = portal.clone();
    let t = token.clone();
    let invitation = match blocking(l, move || p.invitation(&t)).await {
        Ok(Some(i)) => i,
        Ok(None) => return invitation_gone(&ctx, &portal),
        Err(r) => return r,
    };
    let mut page = setup_page(
        &ctx,
        &portal,
        &token,
        &invitation.email,
        &invitation.totp_secret,
    );
    if let Err(p) = accounts::new_password(&f.password) {
        page.problem("password", p.text(l));
    }
    if f.code.len() > 16 {
        page.problem(
            "code",
            l.pick("Der Code hat sechs Ziffern.", "The code has six digits."),
        );
    }
    if !page.errors.is_empty() {
        return render(&ctx, StatusCode::UNPROCESSABLE_ENTITY, &page);
    }
    let now = Instant::now();
    if !portal
        .by_address
        .allow(&format!("admin-setup/{}", ctx.client), now)
    {
        return pages::too_many(&ctx, &portal);
    }
    let p = portal.clone();
    match blocking(l, move || p.accept_invitation(&token, &f.password, &f.code)).await {
        Ok(Some(_)) => pages::message(
            &ctx,
            &portal,
            StatusCode::OK,
            l.pick("Zugang eingerichtet", "Access set up"),
            vec![
                l.pick(
                    "Ihr Zugang zur Verwaltung ist eingerichtet. Melden Sie sich an – mit \
                     Passwort und dem nächsten Code der App.",
                    "Your administration access is set up. Log in – with your password \
                     and the app's next code.",
                )
                .to_owned(),
            ],
            vec![(
                "/admin/login".to_owned(),
                l.pick("Zur Anmeldung", "To the login").to_owned(),
            )],
        ),
        Ok(None) => {
            page.problem(
                "code",
                l.pick(
                    "Der Code stimmt nicht. Prüfen Sie, ob die Uhr Ihres Telefons richtig \
                     geht, und geben Sie den aktuellen Code ein.",
                    "The code is not correct. Check that your phone's clock is right, and \
                     enter the current code.",
                ),
            );
            render(&ctx, StatusCode::UNPROCESSABLE_ENTITY, &page)
        }
        Err(r) => r,
    }
}

// ---- overview ----

pub async fn overview(State(portal): State<Arc<Portal>>, admin: AdminIn) -> Response {
    let l = admin.ctx.lang;
    let mut page = AdminPage::of(&admin, &portal, "/admin", l.pick("Übersicht", "Overview"));
    let config = portal.config();
    let (revision, delegated) = portal.config_revision();
    page.facts = vec![
        (
            l.pick("Angemeldet als", "Logged in as").to_owned(),
            admin.admin.email.clone(),
        ),
        (
            l.pick("Amt", "Office").to_owned(),
            config.office.name.clone(),
        ),
        (
            l.pick("Konfiguration", "Configuration").to_owned(),
            if revision == 0 {
                l.pick(
                    "die Datei der Geräte (noch keine veröffentlicht)",
                    "the devices' file (none published yet)",
                )
                .to_owned()
            } else {
                match l {
                    Lang::De => format!("Revision {revision}"),
                    Lang::En => format!("revision {revision}"),
                }
            },
        ),
        (
            l.pick("Dienstleistungen", "Services").to_owned(),
            config.services.len().to_string(),
        ),
        (
            l.pick("Schalter", "Desks").to_owned(),
            config.desks.len().to_string(),
        ),
    ];
    if !delegated {
        page.intro.push(not_delegated(l));
    }
    render(&admin.ctx, StatusCode::OK, &page)
}

// ---- services ----

fn services_page(admin: &AdminIn, portal: &Portal) -> AdminPage {
    let l = admin.ctx.lang;
    let config = portal.config();
    let groups = config
        .services
        .iter()
        .map(|s| Group {
            legend: Some(format!("{} ({})", s.name.de, s.prefix)),
            fields: vec![
                AdminField::text(
                    format!("de.{}", s.id),
                    l.pick("Name (Deutsch)", "Name (German)"),
                    &s.name.de,
                )
                .lines(1, 80),
                AdminField::text(
                    format!("en.{}", s.id),
                    l.pick("Name (Englisch)", "Name (English)"),
                    &s.name.en,
                )
                .lines(1, 80),
                AdminField::text(
                    format!("minutes.{}", s.id),
                    l.pick("Übliche Dauer (Minuten)", "Usual duration (minutes)"),
                    s.expected_minutes.to_string(),
                )
                .lines(1, 3)
                .kind("text", "off")
                .hint(l.pick(
                    "Der Startwert der Wartezeitschätzung, 1 bis 480.",
                    "Where the waiting-time estimate starts, 1 to 480.",
                )),
            ],
        })
        .collect();
    let mut page = AdminPage::of(
        admin,
        portal,
        "/admin/services",
        l.pick("Dienstleistungen", "Services"),
    );
    page.intro.push(
        l.pick(
            "Die Namen erscheinen am Automaten, am Schalter, auf der Anzeige und im Portal.",
            "The names appear at the kiosk, at the desks, on the display and in the portal.",
        )
        .to_owned(),
    );
    page.publishing_form(portal, l, "/admin/services", groups)
}

pub async fn services_form(
    State(portal): State<Arc<Portal>>,
    admin: AdminIn,
    Query(q): Query<Published>,
) -> Response {
    let mut page = services_page(&admin, &portal);
    page.success = published_notice(admin.ctx.lang, &q);
    render(&admin.ctx, StatusCode::OK, &page)
}

pub async fn services(
    State(portal): State<Arc<Portal>>,
    AdminForm(admin, sent): AdminForm,
) -> Response {
    let l = admin.ctx.lang;
    let mut page = services_page(&admin, &portal);
    page.keep_values(&sent);
    let mut changes = BTreeMap::new();
    for s in &portal.config().services {
        let de = sent.get(&format!("de.{}", s.id)).trim().to_owned();
        let en = sent.get(&format!("en.{}", s.id)).trim().to_owned();
        let minutes = sent.get(&format!("minutes.{}", s.id)).trim();
        for (id, name) in [(format!("de.{}", s.id), &de), (format!("en.{}", s.id), &en)] {
            if name.is_empty() || name.chars().count() > 80 || name.chars().any(char::is_control) {
                page.problem(
                    &id,
                    l.pick(
                        "Geben Sie einen Namen mit 1 bis 80 Zeichen ein.",
                        "Enter a name of 1 to 80 characters.",
                    ),
                );
            }
        }
        let minutes = match minutes.parse::<u32>() {
            Ok(m) if (1..=480).contains(&m) => m,
            _ => {
                page.problem(
                    &format!("minutes.{}", s.id),
                    l.pick(
                        "Geben Sie eine ganze Zahl von 1 bis 480 ein.",
                        "Enter a whole number from 1 to 480.",
                    ),
                );
                0
            }
        };
        changes.insert(s.id.clone(), (de, en, minutes));
    }
    if !page.errors.is_empty() {
        return render(&admin.ctx, StatusCode::UNPROCESSABLE_ENTITY, &page);
    }
    publish(&portal, &admin, page, "/admin/services", move |config| {
        for s in &mut config.services {
            if let Some((de, en, minutes)) = changes.remove(&s.id) {
                s.name.de = de;
                s.name.en = en;
                s.expected_minutes = minutes;
            }
        }
    })
    .await
}

// ---- desks ----

/// A service's name in the page's language.
fn service_name(l: Lang, s: &aufruf_model::config::Service) -> String {
    match l {
        Lang::De => s.name.de.clone(),
        Lang::En => s.name.en.clone(),
    }
}

/// A desk's name: what the display and the tickets show ("Platz 3").
fn desk_name_problem(l: Lang, name: &str) -> Option<&'static str> {
    (name.is_empty() || name.chars().count() > 40 || name.chars().any(char::is_control)).then(
        || {
            l.pick(
                "Geben Sie einen Namen mit 1 bis 40 Zeichen ein.",
                "Enter a name of 1 to 40 characters.",
            )
        },
    )
}

fn desks_page(admin: &AdminIn, portal: &Portal) -> AdminPage {
    let l = admin.ctx.lang;
    let config = portal.config();
    let mut groups: Vec<Group> = config
        .desks
        .iter()
        .map(|d| Group {
            legend: Some(format!("{} ({})", d.name, d.id)),
            fields: vec![
                AdminField::text(format!("name.{}", d.id), l.pick("Name", "Name"), &d.name)
                    .lines(1, 40)
                    .hint(l.pick(
                        "So steht der Schalter auf der Anzeige und im Aufruf, z. B. „Platz 3“.",
                        "How the display and the call name the desk, e.g. \"Platz 3\".",
                    )),
                AdminField::checkboxes(
                    format!("services.{}", d.id),
                    l.pick("Dienstleistungen", "Services"),
                    config
                        .services
                        .iter()
                        .filter(|s| s.department == d.department)
                        .map(|s| {
                            (
                                format!("svc.{}.{}", d.id, s.id),
                                service_name(l, s),
                                d.services.contains(&s.id),
                            )
                        })
                        .collect(),
                ),
            ],
        })
        .collect();
    groups.push(Group {
        legend: Some(l.pick("Neuer Schalter", "New desk").to_owned()),
        fields: vec![
            AdminField::text("new.id", l.pick("Kennung", "Identifier"), "")
                .lines(1, 32)
                .hint(l.pick(
                    "Kleinbuchstaben, Ziffern und Bindestriche, z. B. desk-7: Das Terminal \
                     am Schalter wird mit ihr eingerichtet. Leer lassen, wenn kein Schalter \
                     hinzukommt.",
                    "Lower-case letters, digits and dashes, e.g. desk-7: the desk's terminal \
                     is set up with it. Leave empty if no desk is added.",
                )),
            AdminField::text("new.name", l.pick("Name", "Name"), "").lines(1, 40),
            AdminField::checkboxes(
                "new.services",
                l.pick("Dienstleistungen", "Services"),
                config
                    .services
                    .iter()
                    .map(|s| {
                        let department = config.department(&s.department).map_or_else(
                            || s.department.to_string(),
                            |d| match l {
                                Lang::De => d.name.de.clone(),
                                Lang::En => d.name.en.clone(),
                            },
                        );
                        (
                            format!("svc.new.{}", s.id),
                            format!("{} ({department})", service_name(l, s)),
                            false,
                        )
                    })
                    .collect(),
            )
            .hint(l.pick("Alle aus einer Abteilung.", "All of one department.")),
        ],
    });
    let mut page = AdminPage::of(admin, portal, "/admin/desks", l.pick("Schalter", "Desks"));
    page.intro.push(
        l.pick(
            "Welche Dienstleistungen ein Schalter aufruft, gilt ab der nächsten Anmeldung \
             am Schalter; wer gerade angemeldet ist, behält seine Auswahl.",
            "Which services a desk calls applies from the next time the desk opens; a \
             desk open now keeps its choice.",
        )
        .to_owned(),
    );
    page.publishing_form(portal, l, "/admin/desks", groups)
}

pub async fn desks_form(
    State(portal): State<Arc<Portal>>,
    admin: AdminIn,
    Query(q): Query<Published>,
) -> Response {
    let mut page = desks_page(&admin, &portal);
    page.success = published_notice(admin.ctx.lang, &q);
    render(&admin.ctx, StatusCode::OK, &page)
}

pub async fn desks(
    State(portal): State<Arc<Portal>>,
    AdminForm(admin, sent): AdminForm,
) -> Response {
    let l = admin.ctx.lang;
    let config = portal.config();
    let mut page = desks_page(&admin, &portal);
    page.keep_values(&sent);
    let none_checked = l.pick(
        "Wählen Sie mindestens eine Dienstleistung.",
        "Choose at least one service.",
    );
    let mut changes = BTreeMap::new();
    for d in &config.desks {
        let name = sent.get(&format!("name.{}", d.id)).trim().to_owned();
        if let Some(problem) = desk_name_problem(l, &name) {
            page.problem(&format!("name.{}", d.id), problem);
        }
        let services: Vec<ServiceId> = config
            .services
            .iter()
            .filter(|s| s.department == d.department)
            .filter(|s| sent.get(&format!("svc.{}.{}", d.id, s.id)) == "on")
            .map(|s| s.id.clone())
            .collect();
        if services.is_empty() {
            page.problem(&format!("services.{}", d.id), none_checked);
        }
        changes.insert(d.id.clone(), (name, services));
    }
    let id = sent.get("new.id").trim();
    let name = sent.get("new.name").trim().to_owned();
    let services: Vec<&aufruf_model::config::Service> = config
        .services
        .iter()
        .filter(|s| sent.get(&format!("svc.new.{}", s.id)) == "on")
        .collect();
    let mut added = None;
    if !id.is_empty() || !name.is_empty() || !services.is_empty() {
        let valid = (1..=32).contains(&id.len())
            && id
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        if !valid {
            page.problem(
                "new.id",
                l.pick(
                    "Geben Sie eine Kennung aus 1 bis 32 Kleinbuchstaben, Ziffern oder \
                     Bindestrichen ein.",
                    "Enter an identifier of 1 to 32 lower-case letters, digits or dashes.",
                ),
            );
        } else if config.desks.iter().any(|d| d.id.as_str() == id) {
            page.problem(
                "new.id",
                l.pick(
                    "Einen Schalter mit dieser Kennung gibt es schon.",
                    "A desk with this identifier exists already.",
                ),
            );
        }
        if let Some(problem) = desk_name_problem(l, &name) {
            page.problem("new.name", problem);
        }
        let departments: std::collections::BTreeSet<_> =
            services.iter().map(|s| &s.department).collect();
        match departments.into_iter().collect::<Vec<_>>().as_slice() {
            [] => page.problem("new.services", none_checked),
            [department] => {
                added = Some(aufruf_model::config::Desk {
                    id: DeskId::new(id),
                    name: name.clone(),
                    department: (*department).clone(),
                    services: services.iter().map(|s| s.id.clone()).collect(),
                });
            }
            _ => page.problem(
                "new.services",
                l.pick(
                    "Ein Schalter ruft nur Dienstleistungen einer Abteilung auf.",
                    "A desk calls services of one department only.",
                ),
            ),
        }
    }
    if !page.errors.is_empty() {
        return render(&admin.ctx, StatusCode::UNPROCESSABLE_ENTITY, &page);
    }
    publish(&portal, &admin, page, "/admin/desks", move |config| {
        for d in &mut config.desks {
            if let Some((name, services)) = changes.remove(&d.id) {
                d.name = name;
                d.services = services;
            }
        }
        config.desks.extend(added);
    })
    .await
}

// ---- appointment capacity ----

fn appointments_page(admin: &AdminIn, portal: &Portal) -> AdminPage {
    let l = admin.ctx.lang;
    let config = portal.config();
    let groups = config
        .departments
        .iter()
        .map(|d| {
            let rules = portal.rules(d);
            let set = d.booking;
            Group {
                legend: Some(match l {
                    Lang::De => d.name.de.clone(),
                    Lang::En => d.name.en.clone(),
                }),
                fields: vec![
                    AdminField::text(
                        format!("per_slot.{}", d.id),
                        l.pick("Termine je Startzeit", "Appointments per start time"),
                        set.appointments_per_slot
                            .map(|n| n.to_string())
                            .unwrap_or_default(),
                    )
                    .lines(1, 3)
                    .hint(match l {
                        Lang::De => format!(
                            "0 bis {MAX_APPOINTMENTS_PER_SLOT}; 0: keine Online-Termine. Leer: \
                             die Voreinstellung, jetzt {}.",
                            rules.per_slot
                        ),
                        Lang::En => format!(
                            "0 to {MAX_APPOINTMENTS_PER_SLOT}; 0: no online appointments. \
                             Empty: the default, now {}.",
                            rules.per_slot
                        ),
                    }),
                    AdminField::text(
                        format!("slot.{}", d.id),
                        l.pick(
                            "Minuten zwischen zwei Startzeiten",
                            "Minutes between two start times",
                        ),
                        set.slot_minutes.map(|n| n.to_string()).unwrap_or_default(),
                    )
                    .lines(1, 3)
                    .hint(match l {
                        Lang::De => format!(
                            "{} bis {}. Leer: die Voreinstellung, jetzt {}.",
                            SLOT_MINUTES.start(),
                            SLOT_MINUTES.end(),
                            rules.slot_minutes
                        ),
                        Lang::En => format!(
                            "{} to {}. Empty: the default, now {}.",
                            SLOT_MINUTES.start(),
                            SLOT_MINUTES.end(),
                            rules.slot_minutes
                        ),
                    }),
                ],
            }
        })
        .collect();
    let mut page = AdminPage::of(
        admin,
        portal,
        "/admin/appointments",
        l.pick("Terminangebot", "Appointment capacity"),
    );
    page.intro.push(
        l.pick(
            "Wie viele Termine das Portal je Startzeit anbietet. Gebuchte Termine bleiben \
             bestehen, wenn Sie das Angebot verringern.",
            "How many appointments the portal offers per start time. Booked appointments \
             stay when you offer fewer.",
        )
        .to_owned(),
    );
    page.publishing_form(portal, l, "/admin/appointments", groups)
}

pub async fn appointments_form(
    State(portal): State<Arc<Portal>>,
    admin: AdminIn,
    Query(q): Query<Published>,
) -> Response {
    let mut page = appointments_page(&admin, &portal);
    page.success = published_notice(admin.ctx.lang, &q);
    render(&admin.ctx, StatusCode::OK, &page)
}

/// An optional whole number in `range`: `Ok(None)` when empty.
fn optional_number(text: &str, range: std::ops::RangeInclusive<u32>) -> Result<Option<u32>, ()> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    match text.parse::<u32>() {
        Ok(n) if range.contains(&n) => Ok(Some(n)),
        _ => Err(()),
    }
}

pub async fn appointments(
    State(portal): State<Arc<Portal>>,
    AdminForm(admin, sent): AdminForm,
) -> Response {
    let l = admin.ctx.lang;
    let mut page = appointments_page(&admin, &portal);
    page.keep_values(&sent);
    let mut changes = BTreeMap::new();
    for d in &portal.config().departments {
        let per_slot = optional_number(
            sent.get(&format!("per_slot.{}", d.id)),
            0..=MAX_APPOINTMENTS_PER_SLOT,
        );
        let slot = optional_number(sent.get(&format!("slot.{}", d.id)), SLOT_MINUTES);
        if per_slot.is_err() {
            page.problem(
                &format!("per_slot.{}", d.id),
                match l {
                    Lang::De => format!(
                        "Geben Sie eine ganze Zahl von 0 bis {MAX_APPOINTMENTS_PER_SLOT} ein \
                         oder lassen Sie das Feld leer."
                    ),
                    Lang::En => format!(
                        "Enter a whole number from 0 to {MAX_APPOINTMENTS_PER_SLOT}, or \
                         leave the field empty."
                    ),
                },
            );
        }
        if slot.is_err() {
            page.problem(
                &format!("slot.{}", d.id),
                match l {
                    Lang::De => format!(
                        "Geben Sie eine ganze Zahl von {} bis {} ein oder lassen Sie das \
                         Feld leer.",
                        SLOT_MINUTES.start(),
                        SLOT_MINUTES.end()
                    ),
                    Lang::En => format!(
                        "Enter a whole number from {} to {}, or leave the field empty.",
                        SLOT_MINUTES.start(),
                        SLOT_MINUTES.end()
                    ),
                },
            );
        }
        if let (Ok(appointments_per_slot), Ok(slot_minutes)) = (per_slot, slot) {
            changes.insert(
                d.id.clone(),
                AppointmentCapacity {
                    appointments_per_slot,
                    slot_minutes,
                },
            );
        }
    }
    if !page.errors.is_empty() {
        return render(&admin.ctx, StatusCode::UNPROCESSABLE_ENTITY, &page);
    }
    publish(
        &portal,
        &admin,
        page,
        "/admin/appointments",
        move |config| {
            for d in &mut config.departments {
                if let Some(capacity) = changes.remove(&d.id) {
                    d.booking = capacity;
                }
            }
        },
    )
    .await
}

// ---- opening hours ----

const WEEKDAYS: [(&str, &str, &str); 7] = [
    ("mon", "Montag", "Monday"),
    ("tue", "Dienstag", "Tuesday"),
    ("wed", "Mittwoch", "Wednesday"),
    ("thu", "Donnerstag", "Thursday"),
    ("fri", "Freitag", "Friday"),
    ("sat", "Samstag", "Saturday"),
    ("sun", "Sonntag", "Sunday"),
];

fn day_hours<'h>(hours: &'h aufruf_model::config::WeeklyHours, day: &str) -> &'h [OpeningInterval] {
    let weekday = match day {
        "mon" => chrono::Weekday::Mon,
        "tue" => chrono::Weekday::Tue,
        "wed" => chrono::Weekday::Wed,
        "thu" => chrono::Weekday::Thu,
        "fri" => chrono::Weekday::Fri,
        "sat" => chrono::Weekday::Sat,
        _ => chrono::Weekday::Sun,
    };
    hours.on(weekday)
}

fn day_hours_mut<'h>(
    hours: &'h mut aufruf_model::config::WeeklyHours,
    day: &str,
) -> &'h mut Vec<OpeningInterval> {
    match day {
        "mon" => &mut hours.mon,
        "tue" => &mut hours.tue,
        "wed" => &mut hours.wed,
        "thu" => &mut hours.thu,
        "fri" => &mut hours.fri,
        "sat" => &mut hours.sat,
        _ => &mut hours.sun,
    }
}

fn hours_page(admin: &AdminIn, portal: &Portal) -> AdminPage {
    let l = admin.ctx.lang;
    let config = portal.config();
    let groups = config
        .departments
        .iter()
        .map(|d| Group {
            legend: Some(match l {
                Lang::De => d.name.de.clone(),
                Lang::En => d.name.en.clone(),
            }),
            fields: WEEKDAYS
                .iter()
                .map(|(day, de, en)| {
                    let text = day_hours(&d.hours, day)
                        .iter()
                        .map(|i| String::from(*i))
                        .collect::<Vec<_>>()
                        .join(", ");
                    AdminField::text(format!("{day}.{}", d.id), l.pick(de, en), text).lines(1, 100)
                })
                .collect(),
        })
        .collect();
    let mut page = AdminPage::of(
        admin,
        portal,
        "/admin/hours",
        l.pick("Öffnungszeiten", "Opening hours"),
    );
    page.intro.push(
        l.pick(
            "Je Tag die Zeiten wie „08:00-12:00, 13:00-17:00“; ein leeres Feld heißt \
             geschlossen. Wartemarken, Termine und die Anzeige richten sich danach.",
            "Per day the times like \"08:00-12:00, 13:00-17:00\"; an empty field means \
             closed. Tickets, appointments and the display follow them.",
        )
        .to_owned(),
    );
    page.publishing_form(portal, l, "/admin/hours", groups)
}

pub async fn hours_form(
    State(portal): State<Arc<Portal>>,
    admin: AdminIn,
    Query(q): Query<Published>,
) -> Response {
    let mut page = hours_page(&admin, &portal);
    page.success = published_notice(admin.ctx.lang, &q);
    render(&admin.ctx, StatusCode::OK, &page)
}

/// Whether two of a day's spans overlap (the office would refuse the day; said here
/// in the page's words, at the field).
fn overlap(intervals: &[OpeningInterval]) -> bool {
    let mut sorted = intervals.to_vec();
    sorted.sort();
    sorted.windows(2).any(|pair| pair[1].opens < pair[0].closes)
}

/// "08:00-12:00, 13:00-17:00" (empty: closed).
fn parse_intervals(text: &str) -> Result<Vec<OpeningInterval>, String> {
    text.split([',', ';'])
        .map(str::trim)
        .filter(|part| !part.is_empty())
        .take(8)
        .map(|part| OpeningInterval::try_from(part.to_owned()))
        .collect()
}

pub async fn hours(
    State(portal): State<Arc<Portal>>,
    AdminForm(admin, sent): AdminForm,
) -> Response {
    let l = admin.ctx.lang;
    let mut page = hours_page(&admin, &portal);
    page.keep_values(&sent);
    let mut changes = Vec::new();
    for d in &portal.config().departments {
        for (day, _, _) in WEEKDAYS {
            let id = format!("{day}.{}", d.id);
            match parse_intervals(sent.get(&id)) {
                Ok(intervals) if overlap(&intervals) => page.problem(
                    &id,
                    l.pick(
                        "Die Zeiten überschneiden sich; geben Sie jede Spanne einmal ein, \
                         z. B. „08:00-12:00, 13:00-17:00“.",
                        "The times overlap; enter each span once, e.g. \
                         \"08:00-12:00, 13:00-17:00\".",
                    ),
                ),
                Ok(intervals) => changes.push((d.id.clone(), day, intervals)),
                Err(_) => page.problem(
                    &id,
                    l.pick(
                        "Geben Sie die Zeiten wie „08:00-12:00, 13:00-17:00“ ein; jede Spanne \
                         endet nach ihrem Beginn.",
                        "Enter the times like \"08:00-12:00, 13:00-17:00\"; each span ends \
                         after it begins.",
                    ),
                ),
            }
        }
    }
    if !page.errors.is_empty() {
        return render(&admin.ctx, StatusCode::UNPROCESSABLE_ENTITY, &page);
    }
    publish(&portal, &admin, page, "/admin/hours", move |config| {
        for (department, day, intervals) in changes {
            if let Some(d) = config.departments.iter_mut().find(|d| d.id == department) {
                *day_hours_mut(&mut d.hours, day) = intervals;
            }
        }
    })
    .await
}

// ---- holidays ----

fn holidays_page(admin: &AdminIn, portal: &Portal) -> AdminPage {
    let l = admin.ctx.lang;
    let config = portal.config();
    let text = config
        .office
        .holidays
        .iter()
        .map(|d| d.format("%d.%m.%Y").to_string())
        .collect::<Vec<_>>()
        .join("\n");
    let mut page = AdminPage::of(
        admin,
        portal,
        "/admin/holidays",
        l.pick("Feiertage und Schließtage", "Holidays and closing days"),
    );
    page.intro.push(
        l.pick(
            "An diesen Tagen gibt es keine Wartemarken und keine Termine.",
            "On these days there are no tickets and no appointments.",
        )
        .to_owned(),
    );
    page.publishing_form(
        portal,
        l,
        "/admin/holidays",
        vec![Group {
            legend: None,
            fields: vec![
                AdminField::text("holidays", l.pick("Tage", "Days"), text)
                    .lines(12, 4000)
                    .hint(l.pick(
                        "Ein Tag je Zeile, wie 24.12.2026.",
                        "One day per line, like 24.12.2026.",
                    )),
            ],
        }],
    )
}

pub async fn holidays_form(
    State(portal): State<Arc<Portal>>,
    admin: AdminIn,
    Query(q): Query<Published>,
) -> Response {
    let mut page = holidays_page(&admin, &portal);
    page.success = published_notice(admin.ctx.lang, &q);
    render(&admin.ctx, StatusCode::OK, &page)
}

/// At most this many holidays (a few years' worth).
const MAX_HOLIDAYS: usize = 200;

pub async fn holidays(
    State(portal): State<Arc<Portal>>,
    AdminForm(admin, sent): AdminForm,
) -> Response {
    let l = admin.ctx.lang;
    let mut page = holidays_page(&admin, &portal);
    page.keep_values(&sent);
    let mut days = Vec::new();
    for line in sent
        .get("holidays")
        .lines()
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        match chrono::NaiveDate::parse_from_str(line, "%d.%m.%Y")
            .or_else(|_| chrono::NaiveDate::parse_from_str(line, "%Y-%m-%d"))
        {
            Ok(day) => days.push(day),
            Err(_) => {
                page.problem(
                    "holidays",
                    match l {
                        Lang::De => format!("„{line}“ ist kein Datum wie 24.12.2026."),
                        Lang::En => format!("\"{line}\" is not a date like 24.12.2026."),
                    },
                );
                break;
            }
        }
    }
    days.sort();
    days.dedup();
    if days.len() > MAX_HOLIDAYS {
        page.problem(
            "holidays",
            l.pick("Höchstens 200 Tage.", "At most 200 days."),
        );
    }
    if !page.errors.is_empty() {
        return render(&admin.ctx, StatusCode::UNPROCESSABLE_ENTITY, &page);
    }
    publish(&portal, &admin, page, "/admin/holidays", move |config| {
        config.office.holidays = days;
    })
    .await
}

// ---- notices ----

fn notices_page(admin: &AdminIn, portal: &Portal) -> AdminPage {
    let l = admin.ctx.lang;
    let text = portal.config().display.notices.join("\n");
    let mut page = AdminPage::of(
        admin,
        portal,
        "/admin/notices",
        l.pick("Hinweise auf der Anzeige", "Notices on the display"),
    );
    page.intro.push(
        l.pick(
            "Die Hinweise laufen unten über die Anzeige im Foyer, einer nach dem anderen.",
            "The notices run along the bottom of the foyer display, one after the other.",
        )
        .to_owned(),
    );
    page.publishing_form(
        portal,
        l,
        "/admin/notices",
        vec![Group {
                legend: None,
                fields: vec![
                    AdminField::text("notices", l.pick("Hinweise", "Notices"), text)
                        .lines(10, MAX_NOTICES * (MAX_NOTICE_CHARS + 2))
                        .hint(match l {
                            Lang::De => format!(
                                "Ein Hinweis je Zeile, höchstens {MAX_NOTICES} mit je {MAX_NOTICE_CHARS} Zeichen."
                            ),
                            Lang::En => format!(
                                "One notice per line, at most {MAX_NOTICES} of {MAX_NOTICE_CHARS} characters each."
                            ),
                        }),
                ],
            }],
    )
}

pub async fn notices_form(
    State(portal): State<Arc<Portal>>,
    admin: AdminIn,
    Query(q): Query<Published>,
) -> Response {
    let mut page = notices_page(&admin, &portal);
    page.success = published_notice(admin.ctx.lang, &q);
    render(&admin.ctx, StatusCode::OK, &page)
}

pub async fn notices(
    State(portal): State<Arc<Portal>>,
    AdminForm(admin, sent): AdminForm,
) -> Response {
    let l = admin.ctx.lang;
    let mut page = notices_page(&admin, &portal);
    page.keep_values(&sent);
    let notices: Vec<String> = sent
        .get("notices")
        .lines()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    if notices.len() > MAX_NOTICES
        || notices
            .iter()
            .any(|n| n.chars().count() > MAX_NOTICE_CHARS || n.chars().any(char::is_control))
    {
        page.problem(
            "notices",
            match l {
                Lang::De => format!(
                    "Höchstens {MAX_NOTICES} Hinweise mit je höchstens {MAX_NOTICE_CHARS} Zeichen."
                ),
                Lang::En => format!(
                    "At most {MAX_NOTICES} notices of at most {MAX_NOTICE_CHARS} characters each."
                ),
            },
        );
        return render(&admin.ctx, StatusCode::UNPROCESSABLE_ENTITY, &page);
    }
    publish(&portal, &admin, page, "/admin/notices", move |config| {
        config.display.notices = notices;
    })
    .await
}

// ---- cancelling for a citizen ----

fn cancel_page(admin: &AdminIn, portal: &Portal) -> AdminPage {
    let l = admin.ctx.lang;
    let mut page = AdminPage::of(
        admin,
        portal,
        "/admin/cancel",
        l.pick("Termin absagen", "Cancel an appointment"),
    );
    page.intro.push(
        l.pick(
            "Sagt einen gebuchten Termin für die Bürgerin oder den Bürger ab (etwa nach \
             einem Anruf). Sie bekommen eine E-Mail mit dem Grund; der Platz wird wieder \
             frei.",
            "Cancels a booked appointment on the citizen's behalf (after a phone call, \
             say). They get an e-mail with the reason; the place becomes free again.",
        )
        .to_owned(),
    );
    page.with_form(
        "/admin/cancel",
        vec![Group {
            legend: None,
            fields: vec![
                AdminField::text("code", l.pick("Buchungscode", "Booking code"), "").lines(1, 32),
                AdminField::text(
                    "reason",
                    l.pick("Grund (steht in der E-Mail)", "Reason (in the e-mail)"),
                    "",
                )
                .lines(3, MAX_REASON_CHARS),
            ],
        }],
        l.pick("Termin absagen", "Cancel appointment"),
    )
}

pub async fn cancel_form(State(portal): State<Arc<Portal>>, admin: AdminIn) -> Response {
    render(&admin.ctx, StatusCode::OK, &cancel_page(&admin, &portal))
}

pub async fn cancel(
    State(portal): State<Arc<Portal>>,
    AdminForm(admin, sent): AdminForm,
) -> Response {
    let l = admin.ctx.lang;
    let mut page = cancel_page(&admin, &portal);
    page.keep_values(&sent);
    let code = sent.get("code").trim().to_uppercase();
    let reason = sent.get("reason").trim().to_owned();
    if code.is_empty()
        || code.len() > 32
        || !code.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
    {
        page.problem(
            "code",
            l.pick(
                "Geben Sie den Buchungscode ein, wie er in der Bestätigung steht.",
                "Enter the booking code as the confirmation shows it.",
            ),
        );
    }
    if reason.chars().count() > MAX_REASON_CHARS
        || reason
            .chars()
            .any(|c| c.is_control() && c != '\n' && c != '\r')
    {
        page.problem(
            "reason",
            l.pick(
                "Der Grund darf höchstens 500 Zeichen lang sein.",
                "The reason must be at most 500 characters long.",
            ),
        );
    }
    if !page.errors.is_empty() {
        return render(&admin.ctx, StatusCode::UNPROCESSABLE_ENTITY, &page);
    }
    let p = portal.clone();
    let who = admin.admin.email.clone();
    let c = code.clone();
    match blocking(l, move || p.cancel_for_citizen(&who, &c, &reason)).await {
        Ok(Some(booking)) => {
            let mut page = cancel_page(&admin, &portal);
            page.success = Some(match l {
                Lang::De => format!(
                    "Der Termin {} am {} um {} Uhr ist abgesagt; die Bürgerin oder der Bürger ist per E-Mail benachrichtigt.",
                    booking.code,
                    booking.date.format("%d.%m.%Y"),
                    booking.time.format("%H:%M")
                ),
                Lang::En => format!(
                    "Appointment {} on {} at {} is cancelled; the citizen was told by e-mail.",
                    booking.code,
                    booking.date.format("%d.%m.%Y"),
                    booking.time.format("%H:%M")
                ),
            });
            render(&admin.ctx, StatusCode::OK, &page)
        }
        Ok(None) => {
            page.problem(
                "code",
                l.pick(
                    "Zu diesem Code gibt es keinen offenen Termin (schon abgesagt, vorbei \
                     oder vertippt).",
                    "There is no open appointment with this code (cancelled already, past, \
                     or mistyped).",
                ),
            );
            render(&admin.ctx, StatusCode::NOT_FOUND, &page)
        }
        Err(r) => r,
    }
}
