//! What a ticket says: the display data the kiosk hands over, and its wording
//! in German and English.
//!
//! The slip is plain data on purpose: this crate knows nothing about the office
//! model, so the kiosk copies what a visitor should read into a [`TicketSlip`].

use chrono::NaiveDateTime;
use serde::{Deserialize, Serialize};

/// Everything printed on (or shown for) one queue ticket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TicketSlip {
    /// The office's name as the visitor knows it, e.g. "Bürgerbüro Zeitz".
    pub office_name: String,
    /// The display number called out at the desks, e.g. "A 017".
    pub number: String,
    /// The concern the visitor chose, in the slip's language.
    pub service: String,
    /// How many visitors wait ahead of this one; `None` when no open desk serves the
    /// concern yet, so nobody can say.
    pub visitors_ahead: Option<u32>,
    /// About how many minutes until the call, if there is an estimate.
    pub estimate_minutes: Option<u32>,
    /// When the ticket was issued, in the office's local time.
    pub issued_at: NaiveDateTime,
    /// The page where the visitor follows the ticket on the phone; `None` when the
    /// office has no public address (the slip then carries no code).
    pub status_url: Option<String>,
    /// The language the visitor chose at the kiosk.
    pub language: Language,
}

/// The languages a ticket can be printed in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Language {
    /// Deutsch.
    De,
    /// English.
    En,
}

impl TicketSlip {
    /// The heading above the number: "Ihre Nummer" / "Your number".
    pub fn number_heading(&self) -> &'static str {
        match self.language {
            Language::De => "Ihre Nummer",
            Language::En => "Your number",
        }
    }

    /// "Vor Ihnen warten 3 Personen" / "3 visitors ahead of you"; without a count (no
    /// desk open yet) "Bitte warten Sie auf Ihren Aufruf" / "Please wait to be called".
    pub fn visitors_ahead_text(&self) -> String {
        let Some(n) = self.visitors_ahead else {
            return match self.language {
                Language::De => "Bitte warten Sie auf Ihren Aufruf".to_owned(),
                Language::En => "Please wait to be called".to_owned(),
            };
        };
        match (self.language, n) {
            (Language::De, 0) => "Sie sind als Nächstes an der Reihe".to_owned(),
            (Language::De, 1) => "Vor Ihnen wartet 1 Person".to_owned(),
            (Language::De, n) => format!("Vor Ihnen warten {n} Personen"),
            (Language::En, 0) => "You are next".to_owned(),
            (Language::En, 1) => "1 visitor ahead of you".to_owned(),
            (Language::En, n) => format!("{n} visitors ahead of you"),
        }
    }

    /// "ca. 12 Minuten" / "about 12 minutes", or nothing without an estimate.
    pub fn estimate_text(&self) -> Option<String> {
        let minutes = self.estimate_minutes?;
        // "about 0 minutes" reads like a mistake; the visitor is called shortly.
        let minutes = minutes.max(1);
        Some(match (self.language, minutes) {
            (Language::De, 1) => "ca. 1 Minute".to_owned(),
            (Language::De, m) => format!("ca. {m} Minuten"),
            (Language::En, 1) => "about 1 minute".to_owned(),
            (Language::En, m) => format!("about {m} minutes"),
        })
    }

    /// The whole waiting line for screens:
    /// "Vor Ihnen warten 3 Personen — ca. 12 Minuten".
    pub fn waiting_text(&self) -> String {
        match self.estimate_text() {
            Some(estimate) => format!("{} — {estimate}", self.visitors_ahead_text()),
            None => self.visitors_ahead_text(),
        }
    }

    /// Date and time of issue: "24.11.2026, 15:04 Uhr" / "24 Nov 2026, 15:04".
    pub fn issued_text(&self) -> String {
        match self.language {
            Language::De => self.issued_at.format("%d.%m.%Y, %H:%M Uhr").to_string(),
            Language::En => self.issued_at.format("%-d %b %Y, %H:%M").to_string(),
        }
    }

    /// The hint above the QR code.
    pub fn qr_hint(&self) -> &'static str {
        match self.language {
            Language::De => "Wartezeit auf dem Handy verfolgen:",
            Language::En => "Follow your ticket on your phone:",
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic
mod tests {
    use super::*;
    use chrono::NaiveDate;

    fn slip(language: Language, ahead: u32, estimate: Option<u32>) -> TicketSlip {
        TicketSlip {
            visitors_ahead: Some(ahead),
            ..unknown(language, estimate)
        }
    }

    fn unknown(language: Language, estimate: Option<u32>) -> TicketSlip {
        TicketSlip {
            office_name: "Bürgerbüro Zeitz".to_owned(),
            number: "A 017".to_owned(),
            service: "Personalausweis".to_owned(),
            visitors_ahead: None,
            estimate_minutes: estimate,
            issued_at: NaiveDate::from_ymd_opt(2026, 3, 11)
                .and_then(|d| d.and_hms_opt(9, 5, 0))
                .unwrap_or_default(),
            status_url: Some("https://termine.zeitz.de/t/abc".to_owned()),
            language,
        }
    }

    #[test]
    fn german_waiting_text_names_people_and_minutes() {
        assert_eq!(
            slip(Language::De, 3, Some(12)).waiting_text(),
            "Vor Ihnen warten 3 Personen — ca. 12 Minuten"
        );
        assert_eq!(
            slip(Language::De, 1, Some(1)).waiting_text(),
            "Vor Ihnen wartet 1 Person — ca. 1 Minute"
        );
        assert_eq!(
            slip(Language::De, 0, None).waiting_text(),
            "Sie sind als Nächstes an der Reihe"
        );
    }

    /// Regression: with no desk open a ticket has no count, and the paper said "you are
    /// next" to every visitor.
    #[test]
    fn without_an_open_desk_the_ticket_promises_no_place_in_line() {
        assert_eq!(
            unknown(Language::De, None).waiting_text(),
            "Bitte warten Sie auf Ihren Aufruf"
        );
        assert_eq!(
            unknown(Language::En, None).waiting_text(),
            "Please wait to be called"
        );
    }

    #[test]
    fn english_waiting_text_names_visitors_and_minutes() {
        assert_eq!(
            slip(Language::En, 3, Some(12)).waiting_text(),
            "3 visitors ahead of you — about 12 minutes"
        );
        assert_eq!(
            slip(Language::En, 2, Some(0)).waiting_text(),
            "2 visitors ahead of you — about 1 minute"
        );
    }

    #[test]
    fn issue_time_is_written_the_local_way() {
        assert_eq!(
            slip(Language::De, 0, None).issued_text(),
            "11.03.2026, 09:05 Uhr"
        );
        assert_eq!(
            slip(Language::En, 0, None).issued_text(),
            "11 Mar 2026, 09:05"
        );
    }
}
