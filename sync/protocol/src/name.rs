//! Names the replication speaks in: which document ([`DocumentName`]), which office
//! ([`OfficeId`]), which device ([`NodeId`]) and what that device does ([`Role`]).
//!
//! Every name arriving from a peer is validated before it is used as a key in a store
//! or a map, so a hostile or broken peer cannot invent documents like `../x`. Office
//! and node ids and roles are `aufruf-names`' (the model's too); document names are
//! the protocol's own.

use std::fmt;

pub use aufruf_names::{Incarnation, MAX_ID_LEN, NameError, NodeId, OfficeId, Role};

/// A replicated document: the long-lived `office` document or one `day/YYYY-MM-DD`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum DocumentName {
    /// Services, desks, opening hours, number blocks, enrolled nodes.
    Office,
    /// The tickets, calls and desk sessions of one calendar day.
    Day {
        /// Four-digit year.
        year: u16,
        /// Month 1–12.
        month: u8,
        /// Day of month 1–31.
        day: u8,
    },
}

impl DocumentName {
    /// The day document for a calendar date; `None` for impossible dates.
    pub fn day(year: u16, month: u8, day: u8) -> Option<Self> {
        let valid = (1..=9999).contains(&year)
            && (1..=12).contains(&month)
            && day >= 1
            && day <= days_in_month(year, month);
        valid.then_some(DocumentName::Day { year, month, day })
    }

    /// Parses `office` or `day/YYYY-MM-DD`.
    pub fn parse(text: &str) -> Result<Self, NameError> {
        let refuse = || NameError::Document(text.chars().take(80).collect());
        if text == "office" {
            return Ok(DocumentName::Office);
        }
        let date = text.strip_prefix("day/").ok_or_else(refuse)?;
        let bytes = date.as_bytes();
        if bytes.len() != 10 || bytes[4] != b'-' || bytes[7] != b'-' {
            return Err(refuse());
        }
        let number = |range: std::ops::Range<usize>| -> Option<u16> {
            let part = date.get(range)?;
            if !part.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            part.parse().ok()
        };
        let (Some(year), Some(month), Some(day)) = (number(0..4), number(5..7), number(8..10))
        else {
            return Err(refuse());
        };
        let month = u8::try_from(month).map_err(|_| refuse())?;
        let day = u8::try_from(day).map_err(|_| refuse())?;
        DocumentName::day(year, month, day).ok_or_else(refuse)
    }
}

impl fmt::Display for DocumentName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DocumentName::Office => f.write_str("office"),
            DocumentName::Day { year, month, day } => {
                write!(f, "day/{year:04}-{month:02}-{day:02}")
            }
        }
    }
}

fn days_in_month(year: u16, month: u8) -> u8 {
    match month {
        2 if (year.is_multiple_of(4) && !year.is_multiple_of(100)) || year.is_multiple_of(400) => {
            29
        }
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn document_names_round_trip_and_refuse_nonsense() {
        for text in ["office", "day/2026-03-11", "day/2024-02-29"] {
            let name = DocumentName::parse(text).unwrap();
            assert_eq!(name.to_string(), text);
        }
        for text in [
            "",
            "Office",
            "day/2026-3-11",
            "day/2023-02-29",
            "day/2026-13-01",
            "day/2026-00-10",
            "day/+026-01-01",
            "day/2026-01-01/x",
            "../office",
        ] {
            assert!(DocumentName::parse(text).is_err(), "{text}");
        }
    }
}
