//! What a German public website must have besides its service: an imprint, a privacy
//! notice that names what the portal keeps and for how long, an accessibility
//! statement with a way to report barriers (BITV 2.0 § 7), the start page's key
//! information in Leichte Sprache and a place for a sign-language video (BITV 2.0 § 4).
//! Sensible German (and English) texts ship; admins change them on `/admin/texts`.
//!
//! A text is plain: blocks separated by an empty line; a block starting with `## ` is
//! a heading, one whose lines all start with `- ` a list, anything else a paragraph.
//! Nothing in it is markup: the pages escape every character.

use crate::i18n::Lang;
use crate::{Portal, PortalError};

/// The longest text an admin may set (a privacy notice is a few pages).
pub const MAX_TEXT_CHARS: usize = 20_000;

/// The pages whose text admins write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Page {
    Imprint,
    Privacy,
    Accessibility,
    EasyLanguage,
    SignLanguage,
}

impl Page {
    pub const ALL: [Page; 5] = [
        Page::Imprint,
        Page::Privacy,
        Page::Accessibility,
        Page::EasyLanguage,
        Page::SignLanguage,
    ];

    /// The key in the store and in `/admin/texts/<key>`.
    pub fn key(self) -> &'static str {
        match self {
            Page::Imprint => "impressum",
            Page::Privacy => "datenschutz",
            Page::Accessibility => "barrierefreiheit",
            Page::EasyLanguage => "leichte-sprache",
            Page::SignLanguage => "gebaerdensprache",
        }
    }

    pub fn of_key(key: &str) -> Option<Page> {
        Page::ALL.into_iter().find(|p| p.key() == key)
    }

    /// Where citizens read it.
    pub fn path(self) -> String {
        format!("/{}", self.key())
    }

    pub fn title(self, l: Lang) -> &'static str {
        match self {
            Page::Imprint => l.pick("Impressum", "Imprint"),
            Page::Privacy => l.pick("Datenschutz", "Privacy"),
            Page::Accessibility => l.pick("Barrierefreiheit", "Accessibility"),
            Page::EasyLanguage => l.pick("Leichte Sprache", "Easy to read"),
            Page::SignLanguage => l.pick("Gebärdensprache", "Sign language"),
        }
    }
}

/// A block of a text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Block {
    Heading(String),
    /// Its lines, as written (Leichte Sprache puts one sentence on each).
    Paragraph(Vec<String>),
    List(Vec<String>),
}

/// The blocks of `text` (see the module's documentation).
pub fn blocks(text: &str) -> Vec<Block> {
    let normalised = text.replace("\r\n", "\n");
    normalised
        .split("\n\n")
        .map(str::trim)
        .filter(|b| !b.is_empty())
        .map(|block| {
            if let Some(heading) = block.strip_prefix("## ") {
                Block::Heading(heading.trim().to_owned())
            } else if block.lines().all(|l| l.trim_start().starts_with("- ")) {
                Block::List(
                    block
                        .lines()
                        .map(|l| l.trim_start().trim_start_matches("- ").trim().to_owned())
                        .collect(),
                )
            } else {
                Block::Paragraph(block.lines().map(|l| l.trim().to_owned()).collect())
            }
        })
        .collect()
}

/// What the shipped texts fill in.
struct Facts {
    office: String,
    contact: String,
    url: String,
}

impl Portal {
    /// The office's contact address: `contact_email`, else the mails' sender.
    pub fn contact(&self) -> String {
        self.settings.contact_email.clone().unwrap_or_else(|| {
            // "Termine <termine@zeitz.de>": the address alone.
            let from = &self.settings.mail_from;
            from.rsplit_once('<')
                .and_then(|(_, rest)| rest.split_once('>'))
                .map_or_else(
                    || from.trim().to_owned(),
                    |(address, _)| address.trim().to_owned(),
                )
        })
    }

    /// The text of `page` in `lang`: the admins', else the shipped one.
    pub fn text(&self, page: Page, lang: Lang) -> Result<String, PortalError> {
        match self.store.text(page.key(), lang.code())? {
            Some(text) => Ok(text),
            None => Ok(self.shipped_text(page, lang)),
        }
    }

    /// Whether admins changed `page` in `lang`.
    pub fn text_changed(&self, page: Page, lang: Lang) -> Result<bool, PortalError> {
        Ok(self.store.text(page.key(), lang.code())?.is_some())
    }

    /// Sets `page`'s text in `lang`; an empty text brings the shipped one back.
    pub fn set_text(&self, page: Page, lang: Lang, text: &str) -> Result<(), PortalError> {
        let text = text.replace("\r\n", "\n");
        let text = text.trim();
        let text =
            (!text.is_empty() && text != self.shipped_text(page, lang).trim()).then_some(text);
        Ok(self.store.set_text(page.key(), lang.code(), text)?)
    }

    /// The text that ships, filled in with this office's name and addresses.
    pub fn shipped_text(&self, page: Page, lang: Lang) -> String {
        let facts = Facts {
            office: self.config().office.name.clone(),
            contact: self.contact(),
            url: self.link(""),
        };
        shipped(page, lang, &facts)
    }
}

fn shipped(page: Page, lang: Lang, f: &Facts) -> String {
    let Facts {
        office,
        contact,
        url,
    } = f;
    match (page, lang) {
        (Page::Imprint, Lang::De) => format!(
            "## Anbieter\n\n{office}\n\nDiese Seiten bietet die Stadtverwaltung an, zu der {office} gehört. Die vollständige Anschrift, die vertretungsberechtigte Person und die Aufsichtsbehörde trägt die Verwaltung hier ein (Verwaltung → Texte).\n\n## Kontakt\n\nE-Mail: {contact}\n\n## Verantwortlich für den Inhalt\n\nDie Leitung von {office}.\n\n## Technik\n\nDie Terminbuchung läuft mit Aufruf, einer freien Software für Bürgerbüros, auf Rechnern der Stadt."
        ),
        (Page::Imprint, Lang::En) => format!(
            "## Provider\n\n{office}\n\nThese pages are offered by the city administration {office} belongs to. The administration enters the full postal address, the person authorised to represent it and the supervisory authority here (Administration → Texts).\n\n## Contact\n\nE-mail: {contact}\n\n## Responsible for the content\n\nThe head of {office}.\n\n## Technology\n\nThe booking runs on Aufruf, free software for citizen offices, on the city's own computers."
        ),
        (Page::Privacy, Lang::De) => format!(
            "## Wer ist verantwortlich?\n\n{office}, erreichbar unter {contact}. Die Kontaktdaten der oder des Datenschutzbeauftragten trägt die Verwaltung hier ein.\n\n## Was wir speichern und wie lange\n\n- Ihr Konto: E-Mail-Adresse und ein Prüfwert Ihres Passworts (argon2id; das Passwort selbst nie), bis Sie das Konto löschen. Beim Löschen werden Ihre offenen Termine abgesagt.\n- Anmeldungen: ein Sitzungsschlüssel in einem Cookie, höchstens 8 Stunden.\n- Links in E-Mails (Bestätigung, neues Passwort): 24 Stunden, für ein neues Passwort 1 Stunde.\n- Ihre Termine: Dienstleistung, Tag, Uhrzeit und Buchungscode, solange Ihr Konto besteht. Am Termintag kennt das Amt nur den Buchungscode, nicht Ihren Namen.\n- Wartelisten: Dienstleistung und Tag, bis der Tag vorbei ist oder Sie die Warteliste verlassen.\n- Wartemarken im Amt: Nummer, Dienstleistung und Zeiten, ohne Namen; die Geräte des Amts löschen sie nach der Aufbewahrungsfrist (voreingestellt 7 Tage). Danach bleiben nur Summen für die Statistik.\n- Rückmeldungen nach dem Besuch: Bewertung, Kommentar, Tag und Dienstleistung, ohne Bezug zu Ihnen, 2 Jahre.\n- Technische Protokolle des Servers: Zeitpunkt und Art von Fehlern, ohne Passwörter; sie werden nach kurzer Zeit überschrieben.\n\n## Wozu\n\nUm Ihren Termin zu vergeben und Sie am Automaten einzuchecken (Art. 6 Abs. 1 lit. e DSGVO: Erfüllung einer Aufgabe im öffentlichen Interesse), und um Missbrauch abzuwehren (Begrenzung von Anmeldeversuchen, eine kurze Rechenaufgabe im Browser statt eines Captchas).\n\n## Cookies und Skripte\n\nNur technisch nötige Cookies: die Anmeldung, ein Schutz vor gefälschten Formularen und Ihre Sprache. Keine Werbung, keine Statistikdienste, keine Inhalte anderer Anbieter. Die Seiten laden Schriften und Gestaltung nur von diesem Server.\n\n## Weitergabe\n\nIhre Daten bleiben auf den Rechnern der Stadt. E-Mails verschickt der Mailserver der Stadt.\n\n## Ihre Rechte\n\nSie haben das Recht auf Auskunft, Berichtigung, Löschung, Einschränkung der Verarbeitung und Widerspruch. Ihr Konto und Ihre Termine löschen Sie selbst unter „Mein Konto“. Beschweren können Sie sich bei der Aufsichtsbehörde für den Datenschutz Ihres Landes."
        ),
        (Page::Privacy, Lang::En) => format!(
            "## Who is responsible?\n\n{office}, at {contact}. The administration enters the data protection officer's contact here.\n\n## What we keep and for how long\n\n- Your account: e-mail address and a check value of your password (argon2id; never the password itself), until you delete the account. Deleting it cancels your open appointments.\n- Logins: a session key in a cookie, at most 8 hours.\n- Links in e-mails (confirmation, new password): 24 hours, for a new password 1 hour.\n- Your appointments: service, day, time and booking code, as long as your account exists. On the day the office knows only the booking code, not your name.\n- Waitlists: service and day, until the day is over or you leave the waitlist.\n- Tickets at the office: number, service and times, no names; the office's devices delete them after the retention period (7 days by default). Only sums for the statistics remain.\n- Feedback after a visit: rating, comment, day and service, without any link to you, 2 years.\n- The server's technical logs: time and kind of errors, no passwords; overwritten after a short time.\n\n## What for\n\nTo give you your appointment and check you in at the kiosk (Art. 6(1)(e) GDPR: a task in the public interest), and to fend off abuse (limited login attempts, a short puzzle in the browser instead of a captcha).\n\n## Cookies and scripts\n\nOnly cookies the site needs: your login, a protection against forged forms, and your language. No advertising, no analytics, no content from other providers. The pages load fonts and design from this server only.\n\n## Sharing\n\nYour data stays on the city's computers. E-mails go out through the city's mail server.\n\n## Your rights\n\nYou have the right of access, rectification, erasure, restriction and objection. You delete your account and appointments yourself under \"My account\". You may complain to your state's data protection authority."
        ),
        (Page::Accessibility, Lang::De) => format!(
            "## Erklärung zur Barrierefreiheit\n\n{office} möchte die Terminbuchung unter {url} für alle Menschen zugänglich machen, nach der Barrierefreie-Informationstechnik-Verordnung (BITV 2.0) und den Web Content Accessibility Guidelines (WCAG) 2.1, Stufe AA.\n\n## Stand der Vereinbarkeit\n\nDie Seiten sind mit dem Gestaltungssystem KERN der deutschen Verwaltung gebaut. Jede Seite wird bei jeder Änderung der Software automatisch mit axe-core gegen WCAG 2.1 A und AA geprüft, in einem echten Browser und in Handybreite. Die Seiten funktionieren ohne JavaScript; nur der Schutz vor automatisierten Buchungen braucht es.\n\nBekannte Einschränkungen: Für die Registrierung und die Buchung muss JavaScript erlaubt sein (eine kurze Rechenaufgabe statt eines Captchas).\n\n## Barriere melden\n\nIst Ihnen auf diesen Seiten eine Barriere aufgefallen? Schreiben Sie uns mit dem Formular unten oder an {contact}. Wir antworten innerhalb von zwei Wochen.\n\n## Schlichtungsverfahren\n\nWenn Sie keine zufriedenstellende Antwort erhalten, können Sie sich an die Schlichtungsstelle nach dem Behindertengleichstellungsgesetz Ihres Landes wenden. Die Anschrift trägt die Verwaltung hier ein."
        ),
        (Page::Accessibility, Lang::En) => format!(
            "## Accessibility statement\n\n{office} wants the booking at {url} to be usable by everyone, following the German accessibility regulation (BITV 2.0) and the Web Content Accessibility Guidelines (WCAG) 2.1, level AA.\n\n## Compliance\n\nThe pages are built with KERN, the design system of the German administration. Every page is checked automatically with axe-core against WCAG 2.1 A and AA at every change of the software, in a real browser and at phone width. The pages work without JavaScript; only the protection against automated bookings needs it.\n\nKnown limitations: registering and booking need JavaScript (a short puzzle instead of a captcha).\n\n## Report a barrier\n\nDid you meet a barrier on these pages? Write to us with the form below or to {contact}. We answer within two weeks.\n\n## Conciliation\n\nIf you get no satisfying answer, you may turn to your state's conciliation body under the Disability Equality Act. The administration enters its address here."
        ),
        (Page::EasyLanguage, _) => format!(
            "## Hier können Sie einen Termin machen\n\nDas ist die Internet-Seite von {office}.\n\nHier können Sie einen Termin machen.\nDann müssen Sie im Amt nicht lange warten.\n\n## So machen Sie einen Termin\n\n- Sie brauchen eine E-Mail-Adresse.\n- Sie machen ein Konto. Das heißt: Sie melden sich an.\n- Sie suchen aus: Was wollen Sie im Amt machen?\n- Sie suchen einen Tag und eine Uhrzeit aus.\n- Sie bekommen eine E-Mail. Darin steht Ihr Code.\n\n## Am Tag vom Termin\n\n- Sie kommen in das Amt.\n- Am Automaten tippen Sie: Ich habe einen Termin.\n- Sie geben Ihren Code ein.\n- Sie warten. Auf dem Bildschirm steht Ihre Nummer, wenn Sie dran sind.\n\n## Ohne Termin\n\nSie können auch ohne Termin kommen.\nAm Automaten ziehen Sie eine Nummer.\nDann warten Sie, bis Ihre Nummer kommt.\n\n## Hilfe\n\nSie brauchen Hilfe?\nSchreiben Sie eine E-Mail an: {contact}"
        ),
        (Page::SignLanguage, Lang::De) => format!(
            "## Informationen in Deutscher Gebärdensprache\n\nHier zeigt {office} ein Video in Deutscher Gebärdensprache (DGS): wie Sie einen Termin buchen und wie Sie im Amt eine Wartemarke ziehen.\n\nDie Verwaltung trägt hier den Link zum Video ein.\n\nFragen beantworten wir auch per E-Mail: {contact}"
        ),
        (Page::SignLanguage, Lang::En) => format!(
            "## Information in German Sign Language\n\nHere {office} shows a video in German Sign Language (DGS): how to book an appointment and how to draw a ticket at the office.\n\nThe administration enters the link to the video here.\n\nWe also answer questions by e-mail: {contact}"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_text_is_headings_paragraphs_and_lists_and_nothing_else() {
        let text = "## Titel\r\n\r\nEin Satz\nüber zwei Zeilen.\n\n- eins\n  - zwei\n\n<script>alert(1)</script>\n\n\n";
        assert_eq!(
            blocks(text),
            vec![
                Block::Heading("Titel".into()),
                Block::Paragraph(vec!["Ein Satz".into(), "über zwei Zeilen.".into()]),
                Block::List(vec!["eins".into(), "zwei".into()]),
                Block::Paragraph(vec!["<script>alert(1)</script>".into()]),
            ]
        );
        assert!(blocks("").is_empty());
    }

    #[test]
    fn every_shipped_text_names_the_office_and_the_contact() {
        let f = Facts {
            office: "Bürgerbüro Zeitz".into(),
            contact: "buergerbuero@zeitz.example".into(),
            url: "https://termine.zeitz.example".into(),
        };
        for page in Page::ALL {
            for lang in [Lang::De, Lang::En] {
                let text = shipped(page, lang, &f);
                assert!(text.contains("Bürgerbüro Zeitz"), "{page:?} {lang:?}");
                assert!(
                    text.contains("buergerbuero@zeitz.example"),
                    "{page:?} {lang:?}"
                );
                assert!(!blocks(&text).is_empty());
            }
            assert_eq!(Page::of_key(page.key()), Some(page));
        }
        assert_eq!(Page::of_key("../etc"), None);
    }
}
