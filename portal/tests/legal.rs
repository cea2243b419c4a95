//! What every German public website must have: imprint, privacy notice,
//! accessibility statement with a way to report barriers, Leichte Sprache and sign
//! language — shipped, linked from every page, and changed by admins.

use axum::http::StatusCode;

use crate::common::Site;

const PAGES: [(&str, &str); 5] = [
    ("/impressum", "Impressum"),
    ("/datenschutz", "Datenschutz"),
    ("/barrierefreiheit", "Barrierefreiheit"),
    ("/leichte-sprache", "Leichte Sprache"),
    ("/gebaerdensprache", "Gebärdensprache"),
];

#[tokio::test]
async fn every_page_links_the_legal_pages_and_each_names_the_office_and_its_contact() {
    let site = Site::with(|s| s.contact_email = Some("buergerbuero@zeitz.example".into()));
    let mut b = site.browser();
    for start in ["/", "/login", "/book"] {
        let page = b.get(start).await;
        for (path, title) in PAGES {
            assert!(
                page.body.contains(&format!(
                    "<a class=\"kern-link\" href=\"{path}\">{title}</a>"
                )),
                "{start} lacks {path}"
            );
        }
    }
    for (path, title) in PAGES {
        let page = b.get(path).await;
        assert_eq!(page.status, StatusCode::OK, "{path}");
        assert!(
            page.body
                .contains(&format!("<h1 class=\"kern-heading-large\">{title}</h1>"))
        );
        assert!(page.body.contains("Bürgerbüro Zeitz"), "{path}");
        assert!(page.body.contains("buergerbuero@zeitz.example"), "{path}");
    }
    // The privacy notice names what is kept and for how long.
    let privacy = b.get("/datenschutz").await.body;
    for kept in [
        "bis Sie das Konto löschen",
        "höchstens 8 Stunden",
        "7 Tage",
        "2 Jahre",
    ] {
        assert!(privacy.contains(kept), "{kept}");
    }
    // Leichte Sprache is German, also on an English page.
    b.get("/lang?to=en&back=/").await;
    let easy = b.get("/leichte-sprache").await.body;
    assert!(easy.contains("<html lang=\"en\">"));
    assert!(
        easy.contains("<div class=\"portal-text\" lang=\"de\">"),
        "{easy}"
    );
    assert!(easy.contains("<h1 class=\"kern-heading-large\">Easy to read</h1>"));
}

#[tokio::test]
async fn a_reported_barrier_is_mailed_to_the_office_and_bad_reports_come_back() {
    let site = Site::with(|s| {
        s.contact_email = Some("buergerbuero@zeitz.example".into());
        s.attempts_per_address_per_minute = 2;
    });
    let mut b = site.browser();
    let page = b.get("/barrierefreiheit").await;
    assert!(page.body.contains("action=\"/barrierefreiheit\""));
    for (description, email) in [
        ("", ""),
        ("x", "keine adresse"),
        (&"x".repeat(2001)[..], ""),
    ] {
        let page = b
            .post(
                "/barrierefreiheit",
                &[("description", description), ("email", email)],
            )
            .await;
        assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(page.body.contains("Es gibt ein Problem"));
    }
    assert!(site.mails_to("buergerbuero@zeitz.example").is_empty());
    let page = b
        .post(
            "/barrierefreiheit",
            &[
                (
                    "description",
                    "Der Kalender ist mit der Tastatur nicht bedienbar.",
                ),
                ("email", "hilfe@example.org"),
            ],
        )
        .await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let mails = site.mails_to("buergerbuero@zeitz.example");
    assert_eq!(mails.len(), 1);
    assert!(
        mails[0]
            .text
            .contains("Der Kalender ist mit der Tastatur nicht bedienbar.")
    );
    assert!(mails[0].text.contains("Antwort an: hilfe@example.org"));
    // Without the page's token: forged. Too many: refused.
    assert_eq!(
        b.post_raw("/barrierefreiheit", "description=x")
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    b.get("/barrierefreiheit").await;
    let page = b
        .post("/barrierefreiheit", &[("description", "noch eine")])
        .await;
    assert_eq!(page.status, StatusCode::OK);
    let page = b
        .post("/barrierefreiheit", &[("description", "und noch eine")])
        .await;
    assert_eq!(page.status, StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn an_admin_writes_the_imprint_and_an_empty_text_brings_the_shipped_one_back() {
    let site = Site::new();
    // Without a contact address: the mails' sender's address, without its name.
    let shipped = site.browser().get("/impressum").await.body;
    assert!(shipped.contains("E-Mail: termine@localhost"), "{shipped}");
    let (mut b, _) = crate::admin::logged_in_admin(&site).await;
    let page = b.get("/admin/texts").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("href=\"/admin/texts/impressum\""));
    let page = b.get("/admin/texts/impressum").await;
    assert!(page.body.contains("## Anbieter"), "{}", page.body);
    let page = b
        .post(
            "/admin/texts/impressum",
            &[
                (
                    "de",
                    "## Anbieter\r\n\r\nStadt Zeitz\r\nAltmarkt 1\r\n\r\n<script>alert(1)</script>",
                ),
                ("en", ""),
            ],
        )
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    let shown = site.browser().get("/impressum").await.body;
    assert!(
        shown.contains("<p class=\"kern-body\">Stadt Zeitz<br>Altmarkt 1</p>"),
        "{shown}"
    );
    assert!(
        shown.contains("&#60;script&#62;alert(1)&#60;/script&#62;")
            || shown.contains("&lt;script&gt;"),
        "{shown}"
    );
    assert!(!shown.contains("<script>alert"));
    let listed = b.get("/admin/texts").await.body;
    assert!(
        listed.contains("<td>geändert</td><td>mitgeliefert</td>"),
        "{listed}"
    );

    // Too long: refused. Empty: the shipped text again.
    let long = "x".repeat(20_001);
    let page = b
        .post("/admin/texts/impressum", &[("de", &long), ("en", "")])
        .await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    b.get("/admin/texts/impressum").await;
    let page = b
        .post("/admin/texts/impressum", &[("de", ""), ("en", "")])
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    assert!(
        site.browser()
            .get("/impressum")
            .await
            .body
            .contains("Anbieter")
    );
    assert!(
        !site
            .browser()
            .get("/impressum")
            .await
            .body
            .contains("Altmarkt 1")
    );

    // No such page; and nobody but an admin.
    assert_eq!(
        b.get("/admin/texts/passwd").await.status,
        StatusCode::NOT_FOUND
    );
    let mut citizen = site.citizen("citizen@example.org").await;
    assert_eq!(
        citizen.get("/admin/texts/impressum").await.location(),
        "/admin/login"
    );
    let page = citizen
        .post("/admin/texts/impressum", &[("de", "gehackt")])
        .await;
    assert_eq!(page.location(), "/admin/login");
    assert!(
        !site
            .browser()
            .get("/impressum")
            .await
            .body
            .contains("gehackt")
    );
}
