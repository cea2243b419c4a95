//! The names every part of Aufruf agrees on: which office ([`OfficeId`]), which device
//! ([`NodeId`]), what that device does ([`Role`]) and which life of its store issued
//! something ([`Incarnation`]).
//!
//! A name is checked once, where it comes in — a configuration file, the command line,
//! a frame from a peer, a document read back — and is a valid name everywhere after:
//! there is no way to make a [`NodeId`] or an [`OfficeId`] from text without the check,
//! and deserialising one checks it too. Ids written into the source are checked by the
//! compiler ([`node_id!`]).
//!
//! **Architecture Invariant**: this crate depends on serde and thiserror only (and on
//! clap with the `clap` feature, for the node's command line), so the pure model and
//! the sans-IO sync core share it without reaching anything that does I/O.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The longest office or node id accepted; longer ids are refused in configuration
/// files, on the command line and in the handshake.
pub const MAX_ID_LEN: usize = 64;

/// Why a text is not a name: not an id, not a role, or (for the sync protocol's
/// `DocumentName`) not a document name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    /// Not `office` and not `day/YYYY-MM-DD` with a plausible date.
    #[error("not a document name: {0:?}")]
    Document(String),
    /// Empty, too long, or with characters other than `[A-Za-z0-9._-]`.
    #[error("{0:?} is not a valid id: 1-64 letters, digits, dots, dashes or underscores")]
    Id(String),
    /// Not one of the office's roles.
    #[error("{0:?} is not a role: kiosk, desk, display or gateway")]
    Role(String),
    /// Not eight lowercase hex digits.
    #[error("{0:?} is not a store incarnation: eight lowercase hex digits")]
    Incarnation(String),
}

/// Whether `text` is a valid office or node id: `[A-Za-z0-9._-]{1,64}`. A `const fn`,
/// so [`node_id!`] can check ids written into the source while compiling.
pub const fn is_valid_id(text: &str) -> bool {
    let bytes = text.as_bytes();
    if bytes.is_empty() || bytes.len() > MAX_ID_LEN {
        return false;
    }
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if !(b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-') {
            return false;
        }
        i += 1;
    }
    true
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
                if is_valid_id(&text) {
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

        /// Widths and alignment (`{:<10}`) apply, as for the text itself.
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.pad(&self.0)
            }
        }

        impl FromStr for $name {
            type Err = NameError;

            fn from_str(text: &str) -> Result<Self, NameError> {
                Self::new(text)
            }
        }

        impl TryFrom<String> for $name {
            type Error = NameError;

            fn try_from(text: String) -> Result<Self, NameError> {
                Self::new(text)
            }
        }

        impl TryFrom<&str> for $name {
            type Error = NameError;

            fn try_from(text: &str) -> Result<Self, NameError> {
                Self::new(text)
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(&self.0)
            }
        }

        /// Deserialising checks the id like [`Self::new`] does.
        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text = String::deserialize(deserializer)?;
                Self::new(text).map_err(serde::de::Error::custom)
            }
        }
    };
}

id_type!(
    /// The office (Bürgerbüro) whose devices replicate with each other, e.g. `zeitz-buergerbuero`.
    OfficeId
);
id_type!(
    /// One device of the office, e.g. `kiosk-1`: it names the device's certificate, its
    /// hybrid-logical-clock stamps and the tickets it issues.
    NodeId
);

/// A [`NodeId`] written into the source, checked while compiling: `node_id!("kiosk-1")`.
/// An invalid literal does not compile.
#[macro_export]
macro_rules! node_id {
    ($text:literal) => {{
        const TEXT: &str = $text;
        const _: () = assert!($crate::is_valid_id(TEXT), concat!("not a node id: ", $text));
        match $crate::NodeId::new(TEXT) {
            Ok(id) => id,
            // The assertion above, evaluated by the compiler with the very check
            // `NodeId::new` makes, rules this out.
            Err(_) => unreachable!(),
        }
    }};
}

/// One life of a device's store: drawn at random when the store is created — new,
/// replaced with its disk, or set aside because it could not be opened — and kept in
/// the store for as long as it lives. Ticket ids carry it (`kiosk-1~7f3a9c21/12`), so
/// a device that lost its store never issues an id a ticket of its earlier store has,
/// even if it was wrongly told it need not catch up first.
///
/// Written as eight lowercase hex digits; read back only in that form.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Incarnation(u32);

impl Incarnation {
    /// The incarnation of tickets issued before stores had one (their ids read
    /// `kiosk-1/12`). No store is created with it.
    pub const UNRECORDED: Incarnation = Incarnation(0);

    /// The incarnation with these bits (drawn at random for a new store).
    pub const fn new(bits: u32) -> Self {
        Incarnation(bits)
    }

    /// Its bits, as stored.
    pub const fn bits(self) -> u32 {
        self.0
    }
}

impl fmt::Display for Incarnation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:08x}", self.0)
    }
}

impl FromStr for Incarnation {
    type Err = NameError;

    /// Exactly eight lowercase hex digits: one text per incarnation, so ids that
    /// compare equal as text are equal as ids.
    fn from_str(text: &str) -> Result<Self, NameError> {
        let refuse = || NameError::Incarnation(text.chars().take(80).collect());
        if text.len() != 8 || !text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            return Err(refuse());
        }
        u32::from_str_radix(text, 16)
            .map(Incarnation)
            .map_err(|_| refuse())
    }
}

impl Serialize for Incarnation {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Incarnation {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// What a device does in the office. Read from the `[node]` table and from `--role`,
/// and exchanged in the handshake for diagnostics and for the peers' views of who is
/// connected.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    /// Issues walk-in tickets and checks in booked citizens.
    Kiosk,
    /// A clerk's terminal.
    Desk,
    /// The foyer display.
    Display,
    /// Faces the internet and feeds bookings in.
    Gateway,
    /// The city's central citizen portal, in its data centre: holds accounts and
    /// bookings and writes what a gateway writes (bookings, tickets by phone), but is
    /// no device of the office's network. It announces nothing and dials nobody; the
    /// office's gateway keeps the one link to it, outbound.
    Portal,
}

impl Role {
    /// Every role, in wire-code order.
    pub const ALL: [Role; 5] = [
        Role::Kiosk,
        Role::Desk,
        Role::Display,
        Role::Gateway,
        Role::Portal,
    ];

    /// The role's name in configuration files, on the command line and in JSON.
    pub fn name(self) -> &'static str {
        match self {
            Role::Kiosk => "kiosk",
            Role::Desk => "desk",
            Role::Display => "display",
            Role::Gateway => "gateway",
            Role::Portal => "portal",
        }
    }

    /// Wire code of the role.
    pub fn code(self) -> u8 {
        match self {
            Role::Kiosk => 1,
            Role::Desk => 2,
            Role::Display => 3,
            Role::Gateway => 4,
            Role::Portal => 5,
        }
    }

    /// The role for a wire code.
    pub fn from_code(code: u8) -> Option<Self> {
        match code {
            1 => Some(Role::Kiosk),
            2 => Some(Role::Desk),
            3 => Some(Role::Display),
            4 => Some(Role::Gateway),
            5 => Some(Role::Portal),
            _ => None,
        }
    }
}

impl Role {
    /// Whether the role serves citizens from outside the office: it writes bookings
    /// and tickets drawn by phone (the gateway, and the central portal).
    pub fn faces_citizens(self) -> bool {
        matches!(self, Role::Gateway | Role::Portal)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.name())
    }
}

impl FromStr for Role {
    type Err = NameError;

    fn from_str(text: &str) -> Result<Self, NameError> {
        Role::ALL
            .into_iter()
            .find(|role| role.name() == text)
            .ok_or_else(|| NameError::Role(text.chars().take(80).collect()))
    }
}

impl Serialize for Role {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.name())
    }
}

impl<'de> Deserialize<'de> for Role {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// `--role kiosk|desk|display|gateway|portal`, by the same names as everywhere else.
#[cfg(feature = "clap")]
impl clap::ValueEnum for Role {
    fn value_variants<'a>() -> &'a [Self] {
        &Role::ALL
    }

    fn to_possible_value(&self) -> Option<clap::builder::PossibleValue> {
        Some(clap::builder::PossibleValue::new(self.name()))
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
    fn ids_allow_only_plain_characters() {
        assert!(NodeId::new("kiosk-1").is_ok());
        assert!(NodeId::new("desk_2.b").is_ok());
        assert!(NodeId::new("x".repeat(64)).is_ok());
        assert!(NodeId::new("").is_err());
        assert!(NodeId::new("a/b").is_err());
        assert!(NodeId::new("booking:A7").is_err());
        assert!(NodeId::new("kiösk").is_err());
        assert!(OfficeId::new("x".repeat(65)).is_err());
    }

    #[test]
    fn names_line_up_in_tables() {
        assert_eq!(format!("[{:<9}]", node_id!("desk-1")), "[desk-1   ]");
        assert_eq!(format!("[{:>6}]", Role::Desk), "[  desk]");
    }

    #[test]
    fn a_literal_id_is_the_id_the_constructor_makes() {
        assert_eq!(node_id!("kiosk-1"), NodeId::new("kiosk-1").unwrap());
    }

    #[test]
    fn incarnations_are_eight_lowercase_hex_digits_both_ways() {
        let incarnation = Incarnation::new(0x7f3a_9c21);
        assert_eq!(incarnation.to_string(), "7f3a9c21");
        assert_eq!("7f3a9c21".parse(), Ok(incarnation));
        assert_eq!(Incarnation::new(1).to_string(), "00000001");
        for bad in [
            "7F3A9C21",
            "7f3a9c2",
            "7f3a9c210",
            "+f3a9c21",
            "7f3a 9c2",
            "",
        ] {
            assert!(bad.parse::<Incarnation>().is_err(), "{bad}");
        }
    }

    #[derive(Debug, Deserialize, Serialize, PartialEq)]
    struct Device {
        id: NodeId,
        role: Role,
    }

    #[test]
    fn deserialising_checks_ids_and_roles() {
        let device: Device = toml::from_str("id = \"desk-3\"\nrole = \"desk\"").unwrap();
        assert_eq!(
            device,
            Device {
                id: node_id!("desk-3"),
                role: Role::Desk
            }
        );
        assert_eq!(
            toml::to_string(&device).unwrap(),
            "id = \"desk-3\"\nrole = \"desk\"\n"
        );

        let bad_id = toml::from_str::<Device>("id = \"../desk\"\nrole = \"desk\"").unwrap_err();
        assert!(
            bad_id.message().contains("\"../desk\" is not a valid id"),
            "{bad_id}"
        );
        let bad_role = toml::from_str::<Device>("id = \"desk-3\"\nrole = \"admin\"").unwrap_err();
        assert!(
            bad_role.message().contains("\"admin\" is not a role"),
            "{bad_role}"
        );
    }
}
