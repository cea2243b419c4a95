//! Account pages: register, verify, log in and out, reset a forgotten password, the
//! account overview, change of address or password, deletion.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;

use super::pages::{
    self, AccountPage, BookingRow, Chrome, Field, FormPage, PowField, pow_status, render,
};
use super::{CarriesCsrf, Checked, Ctx, SignedIn, SignedInForm, blocking};
use crate::Portal;
use crate::accounts::{self, Problem};
use crate::i18n::Lang;

/// Every account form's fields; a field a form does not have stays empty.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct AccountForm {
    csrf: String,
    email: String,
    password: String,
    new_password: String,
    token: String,
    /// The proof of work's answer (register).
    pow: String,
}

impl CarriesCsrf for AccountForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

fn form(
    ctx: &Ctx,
    portal: &Portal,
    heading: &'static str,
    action: &str,
    fields: Vec<Field>,
    submit: &'static str,
) -> FormPage {
    FormPage {
        c: Chrome::new(ctx, portal, heading),
        heading: heading.to_owned(),
        intro: Vec::new(),
        errors: Vec::new(),
        action: action.to_owned(),
        hidden: Vec::new(),
        fields,
        submit,
        danger: false,
        links: Vec::new(),
        pow: None,
    }
}

fn new_password_hint(l: Lang) -> &'static str {
    l.pick("Mindestens 10 Zeichen.", "At least 10 characters.")
}

// ---- register ----

fn register_page(ctx: &Ctx, portal: &Portal, email: &str) -> FormPage {
    let l = ctx.lang;
    let mut page = form(
        ctx,
        portal,
        l.pick("Konto anlegen", "Create an account"),
        "/register",
        vec![
            Field::email(l.pick("E-Mail-Adresse", "E-mail address"), email, "email"),
            Field::password("password", l.pick("Passwort", "Password"), "new-password")
                .hint(new_password_hint(l)),
        ],
        l.pick("Konto anlegen", "Create account"),
    );
    page.pow = Some(PowField::new(ctx, portal));
    page.intro =
        vec![l
        .pick(
            "Wir schicken Ihnen eine E-Mail mit einem Link, mit dem Sie Ihre Adresse bestätigen.",
            "We will send you an e-mail with a link to confirm your address.",
        )
        .to_owned()];
    page.links = vec![(
        "/login".into(),
        l.pick(
            "Sie haben schon ein Konto? Anmelden",
            "Already have an account? Log in",
        )
        .into(),
    )];
    page
}

pub async fn register_form(State(portal): State<Arc<Portal>>, ctx: Ctx) -> Response {
    render(&ctx, StatusCode::OK, &register_page(&ctx, &portal, ""))
}

pub async fn register(
    State(portal): State<Arc<Portal>>,
    Checked(ctx, f): Checked<AccountForm>,
) -> Response {
    if !portal
        .by_address
        .allow(&format!("register/{}", ctx.client), Instant::now())
    {
        return pages::too_many(&ctx, &portal);
    }
    let l = ctx.lang;
    let mut page = register_page(&ctx, &portal, &f.email);
    let email = accounts::email(&f.email);
    if let Err(p) = email {
        page.problem("email", p.text(l));
    }
    if let Err(p) = accounts::new_password(&f.password) {
        page.problem("password", p.text(l));
    }
    let Ok(email) = email else {
        return render(&ctx, StatusCode::UNPROCESSABLE_ENTITY, &page);
    };
    if !page.errors.is_empty() {
        return render(&ctx, StatusCode::UNPROCESSABLE_ENTITY, &page);
    }
    // The work is checked before any of the portal's own (a hash, a mail) is done.
    if let Err(refusal) = portal.pow.check(&f.pow, portal.now_ms()) {
        page.general_problem(pages::pow_problem(l, refusal));
        return render(&ctx, pow_status(refusal), &page);
    }
    if !portal
        .by_account
        .allow(&format!("register/{email}"), Instant::now())
    {
        return pages::too_many(&ctx, &portal);
    }
    let p = portal.clone();
    let shown = email.clone();
    if let Err(r) = blocking(l, move || p.register(&email, &f.password, l)).await {
        return r;
    }
    check_mail(&ctx, &portal, &shown)
}

/// The one answer to a registration or a reset request, whatever the address.
fn check_mail(ctx: &Ctx, portal: &Portal, email: &str) -> Response {
    let l = ctx.lang;
    pages::message(
        ctx,
        portal,
        StatusCode::OK,
        l.pick("Sehen Sie in Ihr E-Mail-Postfach", "Check your e-mail"),
        vec![
            match l {
                Lang::De => format!("Wir haben eine E-Mail an {email} geschickt. Folgen Sie dem Link darin."),
                Lang::En => format!("We have sent an e-mail to {email}. Follow the link in it."),
            },
            l.pick(
                "Keine E-Mail bekommen? Sehen Sie im Spam-Ordner nach, oder prüfen Sie, ob die Adresse stimmt.",
                "No e-mail? Look in your spam folder, or check that the address is right.",
            )
            .to_owned(),
        ],
        Vec::new(),
    )
}

// ---- verify ----

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct TokenQuery {
    token: String,
}

pub async fn verify(
    State(portal): State<Arc<Portal>>,
    ctx: Ctx,
    Query(q): Query<TokenQuery>,
) -> Response {
    let l = ctx.lang;
    let p = portal.clone();
    let ok = match blocking(l, move || p.verify(&q.token)).await {
        Ok(ok) => ok,
        Err(r) => return r,
    };
    if ok {
        pages::message(
            &ctx,
            &portal,
            StatusCode::OK,
            l.pick("E-Mail-Adresse bestätigt", "E-mail address confirmed"),
            vec![
                l.pick(
                    "Danke. Sie können jetzt Termine buchen.",
                    "Thank you. You can book appointments now.",
                )
                .to_owned(),
            ],
            vec![(
                "/book".into(),
                l.pick("Termin buchen", "Book an appointment").into(),
            )],
        )
    } else {
        pages::message(
            &ctx,
            &portal,
            StatusCode::BAD_REQUEST,
            l.pick("Link ungültig", "Link not valid"),
            vec![
                l.pick(
                    "Dieser Link ist abgelaufen oder wurde schon benutzt.",
                    "This link has expired or has been used already.",
                )
                .to_owned(),
            ],
            vec![("/login".into(), l.pick("Anmelden", "Log in").into())],
        )
    }
}

// ---- log in, log out ----

fn login_page(ctx: &Ctx, portal: &Portal, email: &str) -> FormPage {
    let l = ctx.lang;
    let mut page = form(
        ctx,
        portal,
        l.pick("Anmelden", "Log in"),
        "/login",
        vec![
            Field::email(
                l.pick("E-Mail-Adresse", "E-mail address"),
                email,
                "username",
            ),
            Field::password(
                "password",
                l.pick("Passwort", "Password"),
                "current-password",
            ),
        ],
        l.pick("Anmelden", "Log in"),
    );
    page.links = vec![
        (
            "/reset".into(),
            l.pick("Passwort vergessen?", "Forgot your password?")
                .into(),
        ),
        (
            "/register".into(),
            l.pick("Noch kein Konto? Registrieren", "No account yet? Register")
                .into(),
        ),
    ];
    page
}

pub async fn login_form(State(portal): State<Arc<Portal>>, ctx: Ctx) -> Response {
    render(&ctx, StatusCode::OK, &login_page(&ctx, &portal, ""))
}

pub async fn login(
    State(portal): State<Arc<Portal>>,
    Checked(mut ctx, f): Checked<AccountForm>,
) -> Response {
    let l = ctx.lang;
    let mut page = login_page(&ctx, &portal, &f.email);
    let email = accounts::email(&f.email);
    if let Err(p) = email {
        page.problem("email", p.text(l));
    }
    if f.password.is_empty() {
        page.problem("password", Problem::PasswordMissing.text(l));
    }
    let Ok(email) = email else {
        return render(&ctx, StatusCode::UNPROCESSABLE_ENTITY, &page);
    };
    if !page.errors.is_empty() || f.password.len() > crate::settings::bounds::PASSWORD_MAX {
        if page.errors.is_empty() {
            page.problem("password", Problem::PasswordLong.text(l));
        }
        return render(&ctx, StatusCode::UNPROCESSABLE_ENTITY, &page);
    }
    if let Some(refused) = pages::too_many_attempts(&ctx, &portal, "login", &email) {
        return refused;
    }
    let p = portal.clone();
    match blocking(l, move || p.login(&email, &f.password)).await {
        Ok(Some(session)) => {
            ctx.start_session(&session);
            ctx.redirect("/account")
        }
        Ok(None) => {
            page.general_problem(l.pick(
                "E-Mail-Adresse oder Passwort stimmen nicht.",
                "The e-mail address or the password is not correct.",
            ));
            render(&ctx, StatusCode::UNAUTHORIZED, &page)
        }
        Err(r) => r,
    }
}

pub async fn logout(
    State(portal): State<Arc<Portal>>,
    Checked(mut ctx, _): Checked<AccountForm>,
) -> Response {
    if let Some((id, _, _)) = ctx.session.take() {
        let p = portal.clone();
        if let Err(r) = blocking(ctx.lang, move || Ok(p.store.end_session(&id)?)).await {
            return r;
        }
    }
    ctx.end_session();
    ctx.redirect("/")
}

// ---- forgotten password ----

fn reset_page(ctx: &Ctx, portal: &Portal, email: &str) -> FormPage {
    let l = ctx.lang;
    let mut page = form(
        ctx,
        portal,
        l.pick("Passwort vergessen", "Forgot your password"),
        "/reset",
        vec![Field::email(
            l.pick("E-Mail-Adresse", "E-mail address"),
            email,
            "email",
        )],
        l.pick("Link zuschicken", "Send me a link"),
    );
    page.intro = vec![
        l.pick(
            "Wir schicken Ihnen einen Link, mit dem Sie ein neues Passwort festlegen.",
            "We will send you a link to set a new password.",
        )
        .to_owned(),
    ];
    page
}

pub async fn reset_form(State(portal): State<Arc<Portal>>, ctx: Ctx) -> Response {
    render(&ctx, StatusCode::OK, &reset_page(&ctx, &portal, ""))
}

pub async fn reset(
    State(portal): State<Arc<Portal>>,
    Checked(ctx, f): Checked<AccountForm>,
) -> Response {
    let l = ctx.lang;
    let email = match accounts::email(&f.email) {
        Ok(e) => e,
        Err(p) => {
            let mut page = reset_page(&ctx, &portal, &f.email);
            page.problem("email", p.text(l));
            return render(&ctx, StatusCode::UNPROCESSABLE_ENTITY, &page);
        }
    };
    let now = Instant::now();
    if !portal
        .by_address
        .allow(&format!("reset/{}", ctx.client), now)
        || !portal.by_account.allow(&format!("reset/{email}"), now)
    {
        return pages::too_many(&ctx, &portal);
    }
    let p = portal.clone();
    let shown = email.clone();
    if let Err(r) = blocking(l, move || p.request_reset(&email, l)).await {
        return r;
    }
    check_mail(&ctx, &portal, &shown)
}

fn reset_confirm_page(ctx: &Ctx, portal: &Portal, token: &str) -> FormPage {
    let l = ctx.lang;
    let mut page = form(
        ctx,
        portal,
        l.pick("Neues Passwort festlegen", "Set a new password"),
        "/reset/confirm",
        vec![
            Field::password(
                "new_password",
                l.pick("Neues Passwort", "New password"),
                "new-password",
            )
            .hint(new_password_hint(l)),
        ],
        l.pick("Passwort speichern", "Save password"),
    );
    page.hidden = vec![("token".into(), token.chars().take(64).collect())];
    page
}

fn link_invalid(ctx: &Ctx, portal: &Portal) -> Response {
    let l = ctx.lang;
    pages::message(
        ctx,
        portal,
        StatusCode::BAD_REQUEST,
        l.pick("Link ungültig", "Link not valid"),
        vec![
            l.pick(
                "Dieser Link ist abgelaufen oder wurde schon benutzt. Fordern Sie einen neuen an.",
                "This link has expired or has been used already. Ask for a new one.",
            )
            .to_owned(),
        ],
        vec![(
            "/reset".into(),
            l.pick("Neuen Link anfordern", "Ask for a new link").into(),
        )],
    )
}

pub async fn reset_confirm_form(
    State(portal): State<Arc<Portal>>,
    ctx: Ctx,
    Query(q): Query<TokenQuery>,
) -> Response {
    let p = portal.clone();
    let token = q.token.clone();
    match blocking(ctx.lang, move || p.reset_link_holds(&token)).await {
        Ok(true) => render(
            &ctx,
            StatusCode::OK,
            &reset_confirm_page(&ctx, &portal, &q.token),
        ),
        Ok(false) => link_invalid(&ctx, &portal),
        Err(r) => r,
    }
}

pub async fn reset_confirm(
    State(portal): State<Arc<Portal>>,
    Checked(ctx, f): Checked<AccountForm>,
) -> Response {
    let l = ctx.lang;
    if let Err(p) = accounts::new_password(&f.new_password) {
        let mut page = reset_confirm_page(&ctx, &portal, &f.token);
        page.problem("new_password", p.text(l));
        return render(&ctx, StatusCode::UNPROCESSABLE_ENTITY, &page);
    }
    let p = portal.clone();
    match blocking(l, move || p.reset(&f.token, &f.new_password)).await {
        Ok(true) => pages::message(
            &ctx,
            &portal,
            StatusCode::OK,
            l.pick("Passwort geändert", "Password changed"),
            vec![
                l.pick(
                    "Melden Sie sich mit dem neuen Passwort an.",
                    "Log in with your new password.",
                )
                .to_owned(),
            ],
            vec![("/login".into(), l.pick("Anmelden", "Log in").into())],
        ),
        Ok(false) => link_invalid(&ctx, &portal),
        Err(r) => r,
    }
}

// ---- the account ----

pub async fn overview(
    State(portal): State<Arc<Portal>>,
    SignedIn(ctx, account): SignedIn,
) -> Response {
    let l = ctx.lang;
    let p = portal.clone();
    let id = account.id.clone();
    let bookings = match blocking(l, move || Ok(p.store.bookings_of(&id)?)).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    let now = portal.now_ms();
    let rows = bookings
        .iter()
        .map(|b| BookingRow {
            code: b.code.clone(),
            when: format!("{} {}", b.date.format("%d.%m.%Y"), b.time.format("%H:%M")),
            service: portal.services_name(b, l),
            state: if b.cancelled {
                l.pick("abgesagt", "cancelled")
            } else if b.due_ms <= now {
                l.pick("vorbei", "past")
            } else {
                l.pick("gebucht", "booked")
            },
        })
        .collect();
    let waiting = match portal.store.waiting_of(&account.id) {
        Ok(days) => days
            .into_iter()
            .map(|(service, date)| {
                let what = format!(
                    "{} – {}",
                    portal.service_name(&service, l),
                    super::book::weekday(l, date)
                );
                (what, service, date.to_string())
            })
            .collect(),
        Err(e) => return pages::failure(l, &e),
    };
    let mut notices = Vec::new();
    if !account.verified {
        notices.push(l.pick(
            "Bitte bestätigen Sie Ihre E-Mail-Adresse über den Link in unserer E-Mail; erst dann können Sie buchen.",
            "Please confirm your e-mail address with the link in our e-mail; then you can book.",
        ));
    }
    let heading = l.pick("Mein Konto", "My account");
    render(
        &ctx,
        StatusCode::OK,
        &AccountPage {
            c: Chrome::new(&ctx, &portal, heading),
            heading,
            notices,
            email_label: l.pick("E-Mail-Adresse", "E-mail address"),
            email: account.email.clone(),
            bookings_heading: l.pick("Ihre Termine", "Your appointments"),
            no_bookings: l.pick("Sie haben keine Termine.", "You have no appointments."),
            columns: [
                l.pick("Buchungscode", "Booking code"),
                l.pick("Wann", "When"),
                l.pick("Anliegen", "Service"),
                l.pick("Stand", "Status"),
            ],
            bookings: rows,
            book: l.pick("Neuen Termin buchen", "Book a new appointment"),
            remote_ticket: portal.settings.remote_tickets.as_ref().map(|_| {
                l.pick(
                    "Wartemarke per Handy ziehen (in der Nähe des Amts)",
                    "Draw a ticket by phone (near the office)",
                )
            }),
            settings_heading: l.pick("Einstellungen", "Settings"),
            links: vec![
                (
                    "/account/email",
                    l.pick("E-Mail-Adresse ändern", "Change e-mail address"),
                ),
                (
                    "/account/password",
                    l.pick("Passwort ändern", "Change password"),
                ),
                ("/account/delete", l.pick("Konto löschen", "Delete account")),
            ],
            waiting_heading: l.pick("Ihre Wartelisten", "Your waitlists"),
            waiting,
            leave: l.pick("Nicht mehr warten", "Stop waiting"),
        },
    )
}

fn email_page(ctx: &Ctx, portal: &Portal, email: &str) -> FormPage {
    let l = ctx.lang;
    form(
        ctx,
        portal,
        l.pick("E-Mail-Adresse ändern", "Change your e-mail address"),
        "/account/email",
        vec![
            Field::email(
                l.pick("Neue E-Mail-Adresse", "New e-mail address"),
                email,
                "email",
            ),
            Field::password(
                "password",
                l.pick("Ihr Passwort", "Your password"),
                "current-password",
            ),
        ],
        l.pick("Bestätigungslink schicken", "Send confirmation link"),
    )
}

pub async fn email_form(State(portal): State<Arc<Portal>>, SignedIn(ctx, _): SignedIn) -> Response {
    render(&ctx, StatusCode::OK, &email_page(&ctx, &portal, ""))
}

pub async fn change_email(
    State(portal): State<Arc<Portal>>,
    SignedInForm(ctx, account, f): SignedInForm<AccountForm>,
) -> Response {
    let l = ctx.lang;
    let mut page = email_page(&ctx, &portal, &f.email);
    let new = match accounts::email(&f.email) {
        Ok(e) => e,
        Err(p) => {
            page.problem("email", p.text(l));
            return render(&ctx, StatusCode::UNPROCESSABLE_ENTITY, &page);
        }
    };
    if !portal
        .by_account
        .allow(&format!("password/{}", account.id), Instant::now())
    {
        return pages::too_many(&ctx, &portal);
    }
    let p = portal.clone();
    let shown = new.clone();
    match blocking(l, move || p.change_email(&account, &f.password, &new, l)).await {
        Ok(Ok(())) => check_mail(&ctx, &portal, &shown),
        Ok(Err(problem)) => {
            let field = if problem == Problem::SameEmail {
                "email"
            } else {
                "password"
            };
            page.problem(field, problem.text(l));
            render(&ctx, StatusCode::UNPROCESSABLE_ENTITY, &page)
        }
        Err(r) => r,
    }
}

fn password_page(ctx: &Ctx, portal: &Portal) -> FormPage {
    let l = ctx.lang;
    form(
        ctx,
        portal,
        l.pick("Passwort ändern", "Change your password"),
        "/account/password",
        vec![
            Field::password(
                "password",
                l.pick("Bisheriges Passwort", "Current password"),
                "current-password",
            ),
            Field::password(
                "new_password",
                l.pick("Neues Passwort", "New password"),
                "new-password",
            )
            .hint(new_password_hint(l)),
        ],
        l.pick("Passwort ändern", "Change password"),
    )
}

pub async fn password_form(
    State(portal): State<Arc<Portal>>,
    SignedIn(ctx, _): SignedIn,
) -> Response {
    render(&ctx, StatusCode::OK, &password_page(&ctx, &portal))
}

pub async fn change_password(
    State(portal): State<Arc<Portal>>,
    Checked(ctx, f): Checked<AccountForm>,
) -> Response {
    let Some((session, _, account)) = ctx.session.clone() else {
        return pages::needs_login(&ctx);
    };
    let l = ctx.lang;
    let mut page = password_page(&ctx, &portal);
    if let Err(p) = accounts::new_password(&f.new_password) {
        page.problem("new_password", p.text(l));
        return render(&ctx, StatusCode::UNPROCESSABLE_ENTITY, &page);
    }
    if !portal
        .by_account
        .allow(&format!("password/{}", account.id), Instant::now())
    {
        return pages::too_many(&ctx, &portal);
    }
    let p = portal.clone();
    match blocking(l, move || {
        p.change_password(&account, &session, &f.password, &f.new_password)
    })
    .await
    {
        Ok(Ok(())) => pages::message(
            &ctx,
            &portal,
            StatusCode::OK,
            l.pick("Passwort geändert", "Password changed"),
            vec![
                l.pick(
                    "Ihr Passwort ist geändert. Auf anderen Geräten sind Sie abgemeldet.",
                    "Your password has been changed. You are logged out on other devices.",
                )
                .to_owned(),
            ],
            vec![(
                "/account".into(),
                l.pick("Zu meinem Konto", "To my account").into(),
            )],
        ),
        Ok(Err(problem)) => {
            page.problem("password", problem.text(l));
            render(&ctx, StatusCode::UNPROCESSABLE_ENTITY, &page)
        }
        Err(r) => r,
    }
}

fn delete_page(ctx: &Ctx, portal: &Portal) -> FormPage {
    let l = ctx.lang;
    let mut page = form(
        ctx,
        portal,
        l.pick("Konto löschen", "Delete your account"),
        "/account/delete",
        vec![Field::password(
            "password",
            l.pick("Ihr Passwort", "Your password"),
            "current-password",
        )],
        l.pick("Konto endgültig löschen", "Delete account for good"),
    );
    page.intro = vec![l
        .pick(
            "Ihre offenen Termine werden abgesagt und alle Ihre Daten gelöscht. Das lässt sich nicht rückgängig machen.",
            "Your open appointments are cancelled and all your data is deleted. This cannot be undone.",
        )
        .to_owned()];
    page.danger = true;
    page
}

pub async fn delete_form(
    State(portal): State<Arc<Portal>>,
    SignedIn(ctx, _): SignedIn,
) -> Response {
    render(&ctx, StatusCode::OK, &delete_page(&ctx, &portal))
}

pub async fn delete(
    State(portal): State<Arc<Portal>>,
    SignedInForm(mut ctx, account, f): SignedInForm<AccountForm>,
) -> Response {
    let l = ctx.lang;
    if !portal
        .by_account
        .allow(&format!("password/{}", account.id), Instant::now())
    {
        return pages::too_many(&ctx, &portal);
    }
    let p = portal.clone();
    match blocking(l, move || p.delete_account(&account, &f.password)).await {
        Ok(Ok(())) => {
            ctx.session = None;
            ctx.end_session();
            pages::message(
                &ctx,
                &portal,
                StatusCode::OK,
                l.pick("Konto gelöscht", "Account deleted"),
                vec![
                    l.pick(
                        "Ihr Konto und Ihre Daten sind gelöscht, Ihre offenen Termine abgesagt.",
                        "Your account and your data are deleted, your open appointments cancelled.",
                    )
                    .to_owned(),
                ],
                Vec::new(),
            )
        }
        Ok(Err(problem)) => {
            let mut page = delete_page(&ctx, &portal);
            page.problem("password", problem.text(l));
            render(&ctx, StatusCode::UNPROCESSABLE_ENTITY, &page)
        }
        Err(r) => r,
    }
}
