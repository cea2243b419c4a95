//! Names the replication speaks in: which document ([`DocumentName`]), which office
//! ([`OfficeId`]), which device ([`NodeId`]) and what that device does ([`Role`]).
//!
//! Every name arriving from a peer is validated here before it is used as a key in a
//! store or a map, so a hostile or broken peer cannot invent documents like `../x`.

use std::fmt;

/// The longest office or node id accepted; longer ids are refused in the handshake.
pub const MAX_ID_LEN: usize = 64;

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

/// Why a text is not a document name, an office id or a node id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    /// Not `office` and not `day/YYYY-MM-DD` with a plausible date.
    #[error("not a document name: {0:?}")]
    Document(String),
    /// Empty, too long, or with characters other than `[A-Za-z0-9._-]`.
    #[error("not a valid id: {0:?}")]
    Id(String),
    /// Not one of the office's roles.
    #[error("{0:?} is not a role: kiosk, desk, display or gateway")]
    Role(String),
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

fn valid_id(text: &str) -> bool {
    !text.is_empty()
        && text.len() <= MAX_ID_LEN
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(String);

        impl $name {
            /// Accepts `[A-Za-z0-9._-]{1,64}`.
            pub fn new(text: impl Into<String>) -> Result<Self, NameError> {
                let text = text.into();
                if valid_id(&text) {
                    Ok(Self(text))
                } else {
                    Err(NameError::Id(text.chars().take(80).collect()))
                }
            }

            /// The id as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

id_type!(
    /// The office (Bürgerbüro) whose devices replicate with each other, e.g. `zeitz-buergerbuero`.
    OfficeId
);
id_type!(
    /// One device of the office, e.g. `kiosk-1`; also the common name of its certificate.
    NodeId
);

/// What a device does in the office; exchanged in the handshake for diagnostics and
/// for the peers' views of who is connected.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    /// Issues walk-in tickets and checks in booked citizens.
    Kiosk,
    /// A clerk's terminal.
    Desk,
    /// The foyer display.
    Display,
    /// Faces the internet and feeds bookings in.
    Gateway,
}

impl Role {
    /// Every role, in wire-code order.
    pub const ALL: [Role; 4] = [Role::Kiosk, Role::Desk, Role::Display, Role::Gateway];

    /// The role's name in configuration files and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Role::Kiosk => "kiosk",
            Role::Desk => "desk",
            Role::Display => "display",
            Role::Gateway => "gateway",
        }
    }

    /// Wire code of the role.
    pub fn code(self) -> u8 {
        match self {
            Role::Kiosk => 1,
            Role::Desk => 2,
            Role::Display => 3,
            Role::Gateway => 4,
        }
    }

    /// The role for a wire code.
    pub fn from_code(code: u8) -> Option<Self> {
        match code {
            1 => Some(Role::Kiosk),
            2 => Some(Role::Desk),
            3 => Some(Role::Display),
            4 => Some(Role::Gateway),
            _ => None,
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Role {
    type Err = NameError;

    fn from_str(text: &str) -> Result<Self, NameError> {
        Role::ALL
            .into_iter()
            .find(|role| role.name() == text)
            .ok_or_else(|| NameError::Role(text.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_read_back_by_name_and_nothing_else_does() {
        for role in Role::ALL {
            assert_eq!(role.name().parse::<Role>(), Ok(role));
            assert_eq!(Role::from_code(role.code()), Some(role));
        }
        assert!("Kiosk".parse::<Role>().is_err());
        assert!("admin".parse::<Role>().is_err());
    }

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

    #[test]
    fn ids_allow_only_plain_characters() {
        assert!(NodeId::new("kiosk-1").is_ok());
        assert!(NodeId::new("").is_err());
        assert!(NodeId::new("a/b").is_err());
        assert!(OfficeId::new("x".repeat(65)).is_err());
    }
}
