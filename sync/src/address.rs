//! An address in a set-up file that a device connects to (`[node] peers`, `[enroll]
//! office`, `[update] source`): an IP address and port
//! (`10.1.2.1:7341`, `[fd00::1]:7341`) or a host name and port
//! (`gateway.buergerbuero.example:7341`), looked up each time it is used, so a
//! changed DNS record is followed without a restart.

use std::fmt;
use std::net::SocketAddr;
use std::str::FromStr;
use std::time::Duration;

/// The longest host name DNS allows (RFC 1035), without a trailing dot.
const MAX_NAME: usize = 253;
/// The longest label between dots.
const MAX_LABEL: usize = 63;
/// At most this many of a name's addresses are tried.
const MAX_ADDRESSES: usize = 8;

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Address {
    Socket(SocketAddr),
    Name { host: String, port: u16 },
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AddressError {
    #[error("{0:?} has no port: write host:port, e.g. \"10.1.2.1:7341\"")]
    NoPort(String),
    #[error("{0:?}: the port must be a number from 1 to 65535")]
    BadPort(String),
    #[error(
        "{0:?} is neither an IP address nor a host name (letters, digits, '-' and '_', \
         labels of 1 to 63 between dots, at most 253 in all)"
    )]
    BadHost(String),
}

#[derive(Debug, thiserror::Error)]
pub enum LookupError {
    #[error("{host}: the name has no address in DNS ({problem})")]
    NotFound { host: String, problem: String },
    #[error("{host}: DNS gave no answer within {} s", .within.as_secs())]
    TimedOut { host: String, within: Duration },
}

impl Address {
    /// The IP address and port when that is what was written (no name to look up).
    pub fn socket(&self) -> Option<SocketAddr> {
        match self {
            Address::Socket(address) => Some(*address),
            Address::Name { .. } => None,
        }
    }

    /// The addresses to connect to: the one given, or at most 8 a lookup gave (in the
    /// order the resolver chose). A lookup that takes longer than `within` fails.
    pub async fn lookup(&self, within: Duration) -> Result<Vec<SocketAddr>, LookupError> {
        match self {
            Address::Socket(address) => Ok(vec![*address]),
            Address::Name { host, port } => {
                let found =
                    tokio::time::timeout(within, tokio::net::lookup_host((host.as_str(), *port)))
                        .await
                        .map_err(|_| LookupError::TimedOut {
                            host: host.clone(),
                            within,
                        })?
                        .map_err(|e| LookupError::NotFound {
                            host: host.clone(),
                            problem: e.to_string(),
                        })?;
                let addresses: Vec<SocketAddr> = found.take(MAX_ADDRESSES).collect();
                if addresses.is_empty() {
                    return Err(LookupError::NotFound {
                        host: host.clone(),
                        problem: "no addresses".into(),
                    });
                }
                Ok(addresses)
            }
        }
    }
}

impl From<SocketAddr> for Address {
    fn from(address: SocketAddr) -> Address {
        Address::Socket(address)
    }
}

impl FromStr for Address {
    type Err = AddressError;

    fn from_str(text: &str) -> Result<Address, AddressError> {
        if let Ok(address) = text.parse::<SocketAddr>() {
            return Ok(Address::Socket(address));
        }
        let Some((host, port)) = text.rsplit_once(':') else {
            return Err(AddressError::NoPort(text.to_owned()));
        };
        let port = match port.parse::<u16>() {
            Ok(port) if port != 0 => port,
            _ => return Err(AddressError::BadPort(text.to_owned())),
        };
        // An IP address without its port, or IPv6 without brackets, is not a name.
        if host.parse::<std::net::IpAddr>().is_ok() || host.contains(':') {
            return Err(AddressError::NoPort(text.to_owned()));
        }
        if !is_host_name(host) {
            return Err(AddressError::BadHost(host.to_owned()));
        }
        Ok(Address::Name {
            host: host.to_ascii_lowercase(),
            port,
        })
    }
}

/// Letters, digits, `-` (not at a label's ends) and `_` (as in `_gateway`), labels
/// of 1 to 63 bytes between dots, at most 253 bytes, not all digits and dots.
fn is_host_name(host: &str) -> bool {
    let host = host.strip_suffix('.').unwrap_or(host);
    !host.is_empty()
        && host.len() <= MAX_NAME
        && !host.chars().all(|c| c.is_ascii_digit() || c == '.')
        && host.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= MAX_LABEL
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Address::Socket(address) => address.fmt(f),
            Address::Name { host, port } => write!(f, "{host}:{port}"),
        }
    }
}

impl<'de> serde::Deserialize<'de> for Address {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Address, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_and_names_are_read() {
        assert_eq!(
            "10.1.2.1:7341".parse::<Address>().unwrap(),
            Address::Socket("10.1.2.1:7341".parse().unwrap())
        );
        assert_eq!(
            "[fd00::1]:7341".parse::<Address>().unwrap(),
            Address::Socket("[fd00::1]:7341".parse().unwrap())
        );
        assert_eq!(
            "Gateway.Buergerbuero.example:7341"
                .parse::<Address>()
                .unwrap(),
            Address::Name {
                host: "gateway.buergerbuero.example".into(),
                port: 7341
            }
        );
        let gateway = "_gateway:7390".parse::<Address>().unwrap();
        assert_eq!(gateway.to_string(), "_gateway:7390");
        assert_eq!(
            "10.1.2.1:7341".parse::<Address>().unwrap().to_string(),
            "10.1.2.1:7341"
        );
    }

    #[test]
    fn bad_addresses_are_refused_with_what_is_wrong() {
        let refused = |text: &str| text.parse::<Address>().unwrap_err();
        assert_eq!(refused("10.1.2.1"), AddressError::NoPort("10.1.2.1".into()));
        assert_eq!(refused("gateway"), AddressError::NoPort("gateway".into()));
        assert_eq!(refused("fd00::1"), AddressError::NoPort("fd00::1".into()));
        assert_eq!(
            refused("gateway:0"),
            AddressError::BadPort("gateway:0".into())
        );
        assert_eq!(
            refused("gateway:70000"),
            AddressError::BadPort("gateway:70000".into())
        );
        assert_eq!(
            refused("gateway:"),
            AddressError::BadPort("gateway:".into())
        );
        for host in [
            "",
            "-gateway",
            "gateway-",
            "gate way",
            "gäteway",
            "a..b",
            "10.1.2.300",
            "http://gateway",
        ] {
            let text = format!("{host}:7341");
            assert!(
                matches!(
                    text.parse::<Address>(),
                    Err(AddressError::BadHost(_)) | Err(AddressError::NoPort(_))
                ),
                "{text:?} was taken"
            );
        }
        let long_label = format!("{}.example:7341", "a".repeat(64));
        assert!(matches!(
            long_label.parse::<Address>(),
            Err(AddressError::BadHost(_))
        ));
        let long_name = format!("{}example:7341", "abcdefghi.".repeat(25));
        assert!(matches!(
            long_name.parse::<Address>(),
            Err(AddressError::BadHost(_))
        ));
        let longest = format!("{}.example:7341", vec!["a".repeat(63); 3].join("."));
        assert!(longest.parse::<Address>().is_ok(), "{longest}");
    }

    #[tokio::test]
    async fn a_name_is_looked_up_and_an_address_is_not() {
        let localhost = "localhost:7341".parse::<Address>().unwrap();
        let found = localhost.lookup(Duration::from_secs(5)).await.unwrap();
        assert!(!found.is_empty());
        assert!(
            found
                .iter()
                .all(|a| a.ip().is_loopback() && a.port() == 7341),
            "{found:?}"
        );

        let given = "10.1.2.1:7341".parse::<Address>().unwrap();
        assert_eq!(
            given.lookup(Duration::from_secs(5)).await.unwrap(),
            vec!["10.1.2.1:7341".parse().unwrap()]
        );

        // `.invalid` never resolves (RFC 6761), here or anywhere.
        let nowhere = "nowhere.invalid:7341".parse::<Address>().unwrap();
        let error = nowhere.lookup(Duration::from_secs(10)).await.unwrap_err();
        assert!(
            matches!(
                error,
                LookupError::NotFound { .. } | LookupError::TimedOut { .. }
            ),
            "{error}"
        );
        assert!(
            error.to_string().starts_with("nowhere.invalid: "),
            "{error}"
        );
    }
}
