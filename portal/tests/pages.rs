//! Every page and form of the portal through its router: what a citizen sees, and
//! what a hostile client sends.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use crate::common;

use axum::http::StatusCode;
use common::{Site, at, encode};

const PAGES: [&str; 10] = [
    "/",
    "/register",
    "/login",
    "/reset",
    "/book",
    "/book/department/buergerbuero",
    "/book/service/reisepass",
    "/book/service/reisepass?day=2026-11-24",
    "/verify?token=nonsense",
    "/no-such-page",
];

#[tokio::test]
async fn every_page_carries_the_security_headers_the_language_and_a_skip_link() {
    let site = Site::new();
    for lang in ["de", "en"] {
        let mut b = site.browser();
        b.accept_language = Some(format!("{lang};q=0.9, fr;q=0.8"));
        for path in PAGES {
            let page = b.get(path).await;
            let h = &page.headers;
            let csp = h["content-security-policy"].to_str().unwrap();
            assert!(csp.contains("frame-ancestors 'none'"), "{path}: {csp}");
            assert!(csp.contains("default-src 'none'"), "{path}: {csp}");
            assert!(!csp.contains("unsafe-inline"), "{path}: {csp}");
            assert_eq!(h["x-content-type-options"], "nosniff", "{path}");
            assert_eq!(h["referrer-policy"], "no-referrer", "{path}");
            assert_eq!(h["cache-control"], "no-store", "{path}");
            assert!(
                page.body.contains(&format!("<html lang=\"{lang}\">")),
                "{path}: {}",
                page.body
            );
            assert!(page.body.contains("href=\"#main\""), "{path}: skip link");
            assert!(page.body.contains("<main id=\"main\""), "{path}");
            assert!(page.body.contains("name=\"viewport\""), "{path}");
            // No script but the proof of work's own file, on the forms it guards.
            let scripts = page.body.matches("<script").count();
            let pow = page
                .body
                .matches("<script src=\"/assets/pow.js\"></script>")
                .count();
            assert_eq!(scripts, pow, "{path}: a script other than pow.js");
            assert_eq!(
                pow,
                usize::from(path.starts_with("/register") || path.contains("?day=")),
                "{path}: pow.js only where a form has a proof of work"
            );
            assert!(csp.contains("script-src 'self'"), "{path}: {csp}");
            assert!(
                !page.body.contains(" style="),
                "{path}: no inline style (the CSP forbids it)"
            );
        }
    }
    let mut b = site.browser();
    assert_eq!(b.get("/no-such-page").await.status, StatusCode::NOT_FOUND);
    assert_eq!(b.get("/register").await.status, StatusCode::OK);
}

#[tokio::test]
async fn kern_and_its_fonts_are_served_from_the_binary() {
    let site = Site::new();
    let mut b = site.browser();
    let css = b.get("/assets/kern.css").await;
    assert_eq!(css.status, StatusCode::OK);
    assert_eq!(css.headers["content-type"], "text/css; charset=utf-8");
    assert!(css.body.contains(
        "@font-face{font-family:'Fira Sans';src:url(\"/assets/fonts/FiraSans-Regular.woff2\")"
    ));
    assert!(css.body.contains(".kern-btn"));
    assert!(
        css.body.starts_with("@charset \"UTF-8\";"),
        "KERN's @charset stays first"
    );
    assert!(css.headers.get("content-security-policy").is_some());
    let font = b.get("/assets/fonts/FiraSans-SemiBold.woff2").await;
    assert_eq!(font.status, StatusCode::OK);
    assert_eq!(font.headers["content-type"], "font/woff2");
    assert_eq!(
        b.get("/assets/fonts/..%2F..%2Fbuild.rs").await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        b.get("/assets/fonts/FiraSans-Thin.woff2").await.status,
        StatusCode::NOT_FOUND
    );
    assert!(
        b.get("/assets/portal.css")
            .await
            .body
            .contains(".portal-skip")
    );
}

#[tokio::test]
async fn the_language_switch_keeps_the_page_and_goes_nowhere_else() {
    let site = Site::new();
    let mut b = site.browser();
    let page = b.get("/login").await;
    assert!(
        page.body.contains("href=\"/lang?to=en&#38;back=/login\""),
        "{}",
        page.body
    );
    assert!(
        page.body
            .contains("lang=\"en\" hreflang=\"en\">English</a>")
    );
    let switched = b.get("/lang?to=en&back=/login").await;
    assert_eq!(switched.status, StatusCode::SEE_OTHER);
    assert_eq!(switched.location(), "/login");
    assert_eq!(b.cookies["lang"], "en");
    assert!(b.get("/login").await.body.contains("<html lang=\"en\">"));
    for evil in [
        "//evil.example/",
        "https://evil.example/",
        "/\\evil.example",
        "javascript:alert(1)",
    ] {
        let page = b
            .get(&format!(
                "/lang?to=de&back={}",
                encode(&[("x", evil)]).trim_start_matches("x=")
            ))
            .await;
        assert_eq!(page.location(), "/", "{evil}");
    }
}

#[tokio::test]
async fn a_citizen_registers_confirms_the_address_logs_in_and_out() {
    let site = Site::new();
    let mut b = site.browser();
    let page = b
        .fill(
            "/register",
            &[
                ("email", " Erika@Example.org "),
                ("password", "sicheres Passwort 1"),
            ],
        )
        .await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains("erika@example.org"));
    // Not confirmed yet: logging in works, booking does not.
    let link = site.link_in_last_mail("erika@example.org", "/verify?token=");
    let page = b
        .fill(
            "/login",
            &[
                ("email", "erika@example.org"),
                ("password", "sicheres Passwort 1"),
            ],
        )
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    assert_eq!(page.location(), "/account");
    let session = b.cookies["session"].clone();
    let account = b.get("/account").await;
    assert!(
        account
            .body
            .contains("Bitte bestätigen Sie Ihre E-Mail-Adresse"),
        "{}",
        account.body
    );
    b.get("/book/service/reisepass?day=2026-11-24").await;
    let refused = b.book("reisepass", "2026-11-24", "10:00").await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.body);
    // The link confirms once.
    assert_eq!(b.get(&link).await.status, StatusCode::OK);
    assert_eq!(b.get(&link).await.status, StatusCode::BAD_REQUEST);
    assert!(
        !b.get("/account")
            .await
            .body
            .contains("Bitte bestätigen Sie")
    );
    // Logging out ends the session on the server, not just the cookie.
    let page = b.post("/logout", &[]).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    assert!(!b.cookies.contains_key("session"));
    b.cookies.insert("session".into(), session);
    assert_eq!(b.get("/account").await.location(), "/login");
}

#[tokio::test]
async fn the_session_cookie_is_httponly_samesite_and_secure_unless_switched_off() {
    let site = Site::with(|s| s.secure_cookies = true);
    let mut b = site.browser();
    b.get("/login").await;
    assert!(b.cookies.contains_key("__Host-csrf"));
    let account = site
        .portal
        .store
        .create_account(
            "max@example.org",
            site.portal.passwords.hash("sicheres Passwort 1").unwrap(),
            0,
        )
        .unwrap()
        .unwrap();
    assert!(!account.verified);
    let page = b
        .post(
            "/login",
            &[
                ("email", "max@example.org"),
                ("password", "sicheres Passwort 1"),
            ],
        )
        .await;
    let cookie = page.headers["set-cookie"].to_str().unwrap();
    assert!(cookie.starts_with("__Host-session="), "{cookie}");
    for attr in ["HttpOnly", "SameSite=Lax", "Secure", "Path=/"] {
        assert!(cookie.contains(attr), "{cookie}");
    }
    let plain = Site::new();
    let mut b = plain.browser();
    let page = b.get("/login").await;
    let cookie = page.headers["set-cookie"].to_str().unwrap();
    assert!(
        cookie.starts_with("csrf=")
            && !cookie.contains("Secure")
            && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
}

#[tokio::test]
async fn registering_a_known_address_answers_exactly_like_a_new_one() {
    let site = Site::new();
    let mut b = site.browser();
    let first = b
        .fill(
            "/register",
            &[
                ("email", "erika@example.org"),
                ("password", "sicheres Passwort 1"),
            ],
        )
        .await;
    let again = b
        .fill(
            "/register",
            &[
                ("email", "erika@example.org"),
                ("password", "anderes Passwort 2"),
            ],
        )
        .await;
    assert_eq!(first.status, again.status);
    assert_eq!(strip_tokens(&first.body), strip_tokens(&again.body));
    let mails = site.mails_to("erika@example.org");
    assert_eq!(mails.len(), 2, "one mail each time");
    assert!(mails[1].text.contains("bereits ein Konto"));
    // The first password still holds.
    let login = b
        .fill(
            "/login",
            &[
                ("email", "erika@example.org"),
                ("password", "anderes Passwort 2"),
            ],
        )
        .await;
    assert_eq!(login.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_wrong_password_and_an_unknown_address_get_the_same_answer() {
    let site = Site::new();
    let _known = site.citizen("erika@example.org").await;
    let mut b = site.browser();
    let wrong = b
        .fill(
            "/login",
            &[
                ("email", "erika@example.org"),
                ("password", "falsches Passwort"),
            ],
        )
        .await;
    let unknown = b
        .fill(
            "/login",
            &[
                ("email", "nobody@example.org"),
                ("password", "falsches Passwort"),
            ],
        )
        .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert_eq!(unknown.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        strip_tokens(&wrong.body).replace("erika@example.org", "X"),
        strip_tokens(&unknown.body).replace("nobody@example.org", "X")
    );
    // A reset request too: one mail either way, the same page.
    b.get("/reset").await;
    let known = b.post("/reset", &[("email", "erika@example.org")]).await;
    b.get("/reset").await;
    let unknown = b.post("/reset", &[("email", "nobody@example.org")]).await;
    assert_eq!(
        strip_tokens(&known.body).replace("erika@example.org", "X"),
        strip_tokens(&unknown.body).replace("nobody@example.org", "X")
    );
    assert_eq!(site.mails_to("nobody@example.org").len(), 1);
}

#[tokio::test]
async fn forms_refuse_a_missing_or_forged_csrf_token() {
    let site = Site::new();
    let mut b = site.browser();
    b.get("/login").await;
    let fields = [
        ("email", "erika@example.org"),
        ("password", "sicheres Passwort 1"),
    ];
    for path in [
        "/register",
        "/login",
        "/reset",
        "/reset/confirm",
        "/logout",
        "/book",
    ] {
        let missing = b.post_raw(path, &encode(&fields)).await;
        assert_eq!(missing.status, StatusCode::FORBIDDEN, "{path}");
        let mut forged = vec![(
            "csrf",
            "0000000000000000000000000000000000000000000000000000000000000000",
        )];
        forged.extend_from_slice(&fields);
        assert_eq!(
            b.post_raw(path, &encode(&forged)).await.status,
            StatusCode::FORBIDDEN,
            "{path}"
        );
    }
    // A client without the cookie cannot use a token it read elsewhere.
    let token = b.csrf();
    let mut stranger = site.browser();
    let mut with_token = vec![("csrf", token.as_str())];
    with_token.extend_from_slice(&fields);
    assert_eq!(
        stranger
            .post_raw("/login", &encode(&with_token))
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    // A logged-in session's forms take the session's token, not the old anonymous one.
    let mut citizen = site.citizen("erika@example.org").await;
    let anonymous = citizen.cookies["csrf"].clone();
    for path in [
        "/account/email",
        "/account/password",
        "/account/delete",
        "/logout",
        "/book",
    ] {
        let body = encode(&[
            ("csrf", anonymous.as_str()),
            ("password", "sicheres Passwort 1"),
        ]);
        assert_eq!(
            citizen.post_raw(path, &body).await.status,
            StatusCode::FORBIDDEN,
            "{path}"
        );
    }
    assert_eq!(
        citizen.get("/account").await.status,
        StatusCode::OK,
        "still logged in, nothing deleted"
    );
}

#[tokio::test]
async fn missing_overlong_and_hostile_fields_are_refused_field_by_field() {
    let site = Site::new();
    let mut b = site.browser();
    b.get("/register").await;
    let page = b.post("/register", &[]).await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        page.body.contains("aria-describedby=\"email-error\""),
        "{}",
        page.body
    );
    assert!(
        page.body
            .contains("aria-describedby=\"password-hint password-error\""),
        "{}",
        page.body
    );
    assert!(
        page.body.contains("href=\"#email\""),
        "the summary links to the field"
    );
    assert!(page.body.contains("aria-invalid=\"true\""));
    let long = format!("{}@example.org", "a".repeat(300));
    let page = b
        .post(
            "/register",
            &[("email", &long), ("password", "sicheres Passwort 1")],
        )
        .await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(!page.body.contains(&"a".repeat(255)), "the echo is cut");
    let page = b
        .post(
            "/register",
            &[
                ("email", "erika@example.org"),
                ("password", &"p".repeat(257)),
            ],
        )
        .await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    let page = b
        .post(
            "/register",
            &[("email", "erika@example.org"), ("password", "kurz")],
        )
        .await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    // Script in a field comes back as text, never as markup; and is no address.
    let hostile = "\"><script>alert(1)</script>@example.org";
    let page = b
        .post(
            "/register",
            &[("email", hostile), ("password", "sicheres Passwort 1")],
        )
        .await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(!page.body.contains("<script>"), "{}", page.body);
    assert!(
        page.body.contains("&lt;script&gt;") || page.body.contains("&#60;script&#62;"),
        "{}",
        page.body
    );
    let page = b
        .post(
            "/register",
            &[
                ("email", "erika@example.org\r\nBcc: all@example.org"),
                ("password", "sicheres Passwort 1"),
            ],
        )
        .await;
    assert_eq!(
        page.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "no header injection"
    );
    assert!(site.mails.0.lock().unwrap().is_empty());
    // A body beyond the bound is not read.
    let huge = format!("csrf={}&email={}", b.csrf(), "x".repeat(20_000));
    assert_eq!(
        b.post_raw("/register", &huge).await.status,
        StatusCode::PAYLOAD_TOO_LARGE
    );
    // Garbage that is no form at all.
    assert!(
        b.post_raw("/login", "%%%=%%%&&&=")
            .await
            .status
            .is_client_error()
    );
}

#[tokio::test]
async fn registering_takes_a_solved_challenge_and_each_only_once() {
    let site = Site::new();
    let mut b = site.browser();
    b.get("/register").await;
    let answer = aufruf_portal::pow::solve_page(&b.last).unwrap();
    let (rest, signature) = answer.rsplit_once(':').unwrap();
    let (salt, number) = rest.rsplit_once(':').unwrap();
    let wrong = format!("{salt}:{}:{signature}", number.parse::<u32>().unwrap() + 1);
    let password = ("password", "sicheres Passwort 1");
    // No answer (a browser without JavaScript), a wrong one, an overlong one.
    for (pow, says) in [
        (String::new(), "erlauben Sie JavaScript"),
        (wrong, "Sicherheitsprüfung ist abgelaufen"),
        ("9".repeat(5_000), "erlauben Sie JavaScript"),
    ] {
        let fields = [("email", "erika@example.org"), password, ("pow", &pow)];
        let page = b.post("/register", &fields).await;
        assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(page.body.contains(says), "{}", page.body);
        assert!(page.body.contains("role=\"alert\""));
    }
    assert!(
        site.mails_to("erika@example.org").is_empty(),
        "nothing sent"
    );
    let fields = [("email", "erika@example.org"), password, ("pow", &answer)];
    let page = b.post("/register", &fields).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert_eq!(site.mails_to("erika@example.org").len(), 1);
    // The same answer again, for another address: replayed.
    let fields = [("email", "max@example.org"), password, ("pow", &answer)];
    let page = b.post("/register", &fields).await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.body.contains("Sicherheitsprüfung ist abgelaufen"));
    // The page's own challenge, solved, but sent more than ten minutes later.
    b.get("/register").await;
    site.set_time(at(2026, 11, 23, 10, 11));
    let page = b
        .post("/register", &[("email", "max@example.org"), password])
        .await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.body.contains("Sicherheitsprüfung ist abgelaufen"));
    assert!(site.mails_to("max@example.org").is_empty());
    // In time, it is taken.
    b.get("/register").await;
    let page = b
        .post("/register", &[("email", "max@example.org"), password])
        .await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert_eq!(site.mails_to("max@example.org").len(), 1);
}

#[tokio::test]
async fn logins_are_limited_per_address_and_per_account() {
    let site = Site::with(|s| {
        s.attempts_per_account_per_minute = 3;
        s.attempts_per_address_per_minute = 5;
    });
    let mut b = site.browser();
    b.get("/login").await;
    for _ in 0..3 {
        let page = b
            .post(
                "/login",
                &[
                    ("email", "erika@example.org"),
                    ("password", "falsch falsch"),
                ],
            )
            .await;
        assert_eq!(page.status, StatusCode::UNAUTHORIZED);
    }
    let limited = b
        .post(
            "/login",
            &[
                ("email", "erika@example.org"),
                ("password", "falsch falsch"),
            ],
        )
        .await;
    assert_eq!(limited.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(limited.headers.contains_key("retry-after"));
    // The same account from elsewhere is limited too.
    let mut other = site.browser();
    other.client = "203.0.113.9:1234".parse().unwrap();
    let page = other
        .fill(
            "/login",
            &[
                ("email", "erika@example.org"),
                ("password", "falsch falsch"),
            ],
        )
        .await;
    assert_eq!(page.status, StatusCode::TOO_MANY_REQUESTS);
    // One address trying many accounts runs out as well.
    let page = b
        .post(
            "/login",
            &[("email", "a@example.org"), ("password", "falsch falsch")],
        )
        .await;
    assert_eq!(page.status, StatusCode::UNAUTHORIZED);
    let page = b
        .post(
            "/login",
            &[("email", "b@example.org"), ("password", "falsch falsch")],
        )
        .await;
    assert_eq!(page.status, StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn a_forgotten_password_is_reset_by_mail_and_every_session_ends() {
    let site = Site::new();
    let mut old_device = site.citizen("erika@example.org").await;
    let mut b = site.browser();
    b.get("/reset").await;
    b.post("/reset", &[("email", "erika@example.org")]).await;
    let link = site.link_in_last_mail("erika@example.org", "/reset/confirm?token=");
    let form = b.get(&link).await;
    assert_eq!(form.status, StatusCode::OK);
    let token = link.split("token=").nth(1).unwrap();
    assert!(form.body.contains(token));
    let page = b
        .post(
            "/reset/confirm",
            &[("token", token), ("new_password", "kurz")],
        )
        .await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    let page = b
        .post(
            "/reset/confirm",
            &[("token", token), ("new_password", "ganz neues Passwort")],
        )
        .await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let again = b
        .post(
            "/reset/confirm",
            &[("token", token), ("new_password", "noch ein Passwort")],
        )
        .await;
    assert_eq!(again.status, StatusCode::BAD_REQUEST, "a link works once");
    assert_eq!(b.get(&link).await.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        old_device.get("/account").await.location(),
        "/login",
        "sessions ended"
    );
    let old = b
        .fill(
            "/login",
            &[
                ("email", "erika@example.org"),
                ("password", "sicheres Passwort 1"),
            ],
        )
        .await;
    assert_eq!(old.status, StatusCode::UNAUTHORIZED);
    let new = b
        .post(
            "/login",
            &[
                ("email", "erika@example.org"),
                ("password", "ganz neues Passwort"),
            ],
        )
        .await;
    assert_eq!(new.status, StatusCode::SEE_OTHER);
    // An expired link does nothing.
    b.get("/reset").await;
    b.post("/reset", &[("email", "erika@example.org")]).await;
    let link = site.link_in_last_mail("erika@example.org", "/reset/confirm?token=");
    site.set_time(at(2026, 11, 23, 11, 1));
    assert_eq!(b.get(&link).await.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn a_citizen_changes_address_and_password() {
    let site = Site::new();
    let _other = site.citizen("max@example.org").await;
    let mut b = site.citizen("erika@example.org").await;
    let mut second_device = site.browser();
    second_device.get("/login").await;
    second_device
        .post(
            "/login",
            &[
                ("email", "erika@example.org"),
                ("password", "sicheres Passwort 1"),
            ],
        )
        .await;
    // Address: needs the password; a taken address gets a note, not the account.
    let wrong = b
        .fill(
            "/account/email",
            &[("email", "erika@new.example"), ("password", "falsch")],
        )
        .await;
    assert_eq!(wrong.status, StatusCode::UNPROCESSABLE_ENTITY);
    let taken = b
        .post(
            "/account/email",
            &[
                ("email", "max@example.org"),
                ("password", "sicheres Passwort 1"),
            ],
        )
        .await;
    assert_eq!(taken.status, StatusCode::OK);
    assert!(
        site.mails_to("max@example.org")
            .last()
            .unwrap()
            .text
            .contains("schon ein Konto")
    );
    b.post(
        "/account/email",
        &[
            ("email", "erika@new.example"),
            ("password", "sicheres Passwort 1"),
        ],
    )
    .await;
    let link = site.link_in_last_mail("erika@new.example", "/verify?token=");
    assert!(
        b.get("/account").await.body.contains("erika@example.org"),
        "unchanged until confirmed"
    );
    assert_eq!(b.get(&link).await.status, StatusCode::OK);
    assert!(b.get("/account").await.body.contains("erika@new.example"));
    // Password: the current one first; other devices are logged out.
    let wrong = b
        .fill(
            "/account/password",
            &[
                ("password", "falsch"),
                ("new_password", "ganz neues Passwort"),
            ],
        )
        .await;
    assert_eq!(wrong.status, StatusCode::UNPROCESSABLE_ENTITY);
    let ok = b
        .post(
            "/account/password",
            &[
                ("password", "sicheres Passwort 1"),
                ("new_password", "ganz neues Passwort"),
            ],
        )
        .await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.body);
    assert_eq!(
        b.get("/account").await.status,
        StatusCode::OK,
        "this device stays logged in"
    );
    assert_eq!(second_device.get("/account").await.location(), "/login");
    let mut fresh = site.browser();
    let page = fresh
        .fill(
            "/login",
            &[
                ("email", "erika@new.example"),
                ("password", "ganz neues Passwort"),
            ],
        )
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn account_pages_need_a_login() {
    let site = Site::new();
    let mut b = site.browser();
    for path in [
        "/account",
        "/account/email",
        "/account/password",
        "/account/delete",
        "/bookings/ABCDEFGH",
    ] {
        let page = b.get(path).await;
        assert_eq!(page.status, StatusCode::SEE_OTHER, "{path}");
        assert_eq!(page.location(), "/login", "{path}");
    }
}

/// Pages differ in their random tokens only.
fn strip_tokens(body: &str) -> String {
    let mut out = body.to_owned();
    while let Some(i) = out.find("value=\"") {
        let rest = &out[i + 7..];
        let end = rest.find('"').unwrap_or(0);
        let token = rest[..end].to_owned();
        if token.len() == 64 {
            out = out.replacen(&token, "TOKEN", 1);
        } else {
            out = out.replacen("value=\"", "value_=\"", 1);
        }
    }
    out
}

#[tokio::test]
async fn with_no_smtp_server_the_mails_land_in_the_outbox_readable() {
    let dir = tempfile::tempdir().unwrap();
    let site = Site::new();
    let mut settings = site.portal.settings.clone();
    settings.store = dir.path().join("store");
    settings.outbox = dir.path().join("outbox");
    let portal = aufruf_portal::Portal::open(
        settings,
        site.door.clone(),
        std::sync::Arc::new(common::monday_morning),
    )
    .unwrap();
    portal
        .register(
            "erika@example.org",
            "sicheres Passwort 1",
            aufruf_portal::i18n::Lang::De,
        )
        .unwrap();
    let files: Vec<_> = std::fs::read_dir(dir.path().join("outbox"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    assert_eq!(files[0].extension().unwrap(), "eml");
    let text = std::fs::read_to_string(&files[0]).unwrap();
    assert!(
        text.contains("https://termine.zeitz.example/verify?token="),
        "{text}"
    );
    assert!(
        text.contains("Bitte bestätigen Sie Ihre E-Mail-Adresse mit diesem Link"),
        "8bit, readable: {text}"
    );
    assert!(text.contains("Content-Transfer-Encoding: 8bit"), "{text}");
}

#[tokio::test]
async fn behind_a_trusted_proxy_the_limits_count_the_forwarded_client_not_the_proxy() {
    let site = Site::with(|s| {
        s.attempts_per_address_per_minute = 2;
        s.attempts_per_account_per_minute = 100;
        s.trusted_proxies = vec!["10.0.0.1".parse().unwrap()];
    });
    let attempt = |b: &mut common::Browser, forwarded: &'static str, n: u32| {
        let router = b.router.clone();
        let client = b.client;
        let csrf = b.csrf();
        let cookie = format!("csrf={}", b.cookies["csrf"]);
        async move {
            let body = encode(&[
                ("csrf", &csrf),
                ("email", &format!("x{n}@example.org")),
                ("password", "falsch falsch"),
            ]);
            let mut request = axum::http::Request::post("/login")
                .header("content-type", "application/x-www-form-urlencoded")
                .header("cookie", cookie)
                .header("x-forwarded-for", forwarded)
                .body(axum::body::Body::from(body))
                .unwrap();
            request
                .extensions_mut()
                .insert(axum::extract::ConnectInfo(client));
            use tower::ServiceExt as _;
            router.oneshot(request).await.unwrap().status()
        }
    };
    let mut b = site.browser();
    b.client = "10.0.0.1:5000".parse().unwrap();
    b.get("/login").await;
    // Two citizens behind the proxy: each has their own allowance.
    for n in 0..2 {
        assert_eq!(
            attempt(&mut b, "198.51.100.1", n).await,
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(
            attempt(&mut b, "198.51.100.2", n + 10).await,
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(
        attempt(&mut b, "198.51.100.1", 20).await,
        StatusCode::TOO_MANY_REQUESTS
    );
    // A client that forges the header gains nothing: the proxy appends the real one.
    assert_eq!(
        attempt(&mut b, "203.0.113.77, 198.51.100.1", 21).await,
        StatusCode::TOO_MANY_REQUESTS
    );
    // From an untrusted peer the header is ignored.
    let mut direct = site.browser();
    direct.client = "192.0.2.9:5000".parse().unwrap();
    direct.get("/login").await;
    for n in 0..2 {
        assert_eq!(
            attempt(&mut direct, "198.51.100.3", 30 + n).await,
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(
        attempt(&mut direct, "198.51.100.4", 40).await,
        StatusCode::TOO_MANY_REQUESTS
    );
}

#[tokio::test]
async fn script_in_every_text_field_comes_back_as_text_and_changes_nothing() {
    let site = Site::new();
    let script = "<script>alert(1)</script>";
    let mut anon = site.browser();
    anon.get("/login").await;
    for (path, field) in [
        ("/register", "email"),
        ("/login", "email"),
        ("/reset", "email"),
        ("/reset/confirm", "token"),
    ] {
        let page = anon
            .post(
                path,
                &[
                    (field, script),
                    ("password", script),
                    ("new_password", script),
                ],
            )
            .await;
        assert!(page.status.is_client_error(), "{path}: {}", page.status);
        assert!(!page.body.contains("<script>"), "{path}: {}", page.body);
    }
    let mut b = site.citizen("erika@example.org").await;
    b.get("/account").await;
    for (path, fields) in [
        (
            "/account/email",
            vec![("email", script), ("password", script)],
        ),
        (
            "/account/password",
            vec![("password", script), ("new_password", script)],
        ),
        ("/account/delete", vec![("password", script)]),
        (
            "/book",
            vec![("service", "reisepass"), ("day", script), ("time", script)],
        ),
        (
            "/book",
            vec![
                ("service", script),
                ("day", "2026-11-24"),
                ("time", "10:00"),
            ],
        ),
    ] {
        let page = b.post(path, &fields).await;
        assert!(page.status.is_client_error(), "{path}: {}", page.status);
        assert!(!page.body.contains("<script>"), "{path}: {}", page.body);
    }
    for path in [
        "/book/service/%3Cscript%3Ealert(1)%3C%2Fscript%3E",
        "/book/department/%3Cscript%3E",
        "/book/service/reisepass?day=%3Cscript%3E",
        "/bookings/%3Cscript%3E",
        "/verify?token=%3Cscript%3E",
        "/reset/confirm?token=%3Cscript%3E",
    ] {
        let page = b.get(path).await;
        assert!(page.status.is_client_error(), "{path}: {}", page.status);
        assert!(!page.body.contains("<script>"), "{path}: {}", page.body);
    }
    assert_eq!(
        b.get("/account").await.status,
        StatusCode::OK,
        "still there, unchanged"
    );
    assert!(site.door.booked.lock().unwrap().is_empty());
}

#[tokio::test]
async fn cancelling_needs_the_sessions_csrf_token() {
    let site = Site::new();
    let mut b = site.citizen("erika@example.org").await;
    b.get("/book/service/reisepass?day=2026-11-24").await;
    let page = b.book("reisepass", "2026-11-24", "10:00").await;
    let code = page.booking_code();
    let path = format!("/bookings/{code}/cancel");
    assert_eq!(b.post_raw(&path, "").await.status, StatusCode::FORBIDDEN);
    let forged = format!("csrf={}", "0".repeat(64));
    assert_eq!(
        b.post_raw(&path, &forged).await.status,
        StatusCode::FORBIDDEN
    );
    assert!(site.door.cancelled.lock().unwrap().is_empty());
    assert!(
        b.get(&format!("/bookings/{code}"))
            .await
            .body
            .contains("Termin absagen")
    );
}
