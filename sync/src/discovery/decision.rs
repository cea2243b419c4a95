//! The pure decisions of discovery: what this node announces in TXT, and whether a
//! resolved service is a peer of this office to dial, at which address. No sockets,
//! no clock, no mdns-sd daemon.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv6Addr, SocketAddr, SocketAddrV6};

use super::{TXT_NODE, TXT_OFFICE, TXT_PROTO, TXT_ROLE};
use crate::name::{NodeId, OfficeId, Role};
use crate::protocol::Identity;
use crate::protocol::frame::PROTOCOL_VERSION;

/// Longest TXT value quoted back in an [`Ignored::GarbledTxt`].
const QUOTE_LEN: usize = 40;

/// One address as mDNS resolved it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SeenAddress {
    /// The address.
    pub ip: IpAddr,
    /// For IPv6: the index of the interface it was seen on (0 = unknown).
    pub scope_id: u32,
}

/// A resolved service, stripped of the mDNS crate's types.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Sighting {
    /// The full service instance name, e.g. `desk-1._aufruf._tcp.local.`.
    pub instance: String,
    /// The announced port.
    pub port: u16,
    /// The addresses resolved for the service's host.
    pub addresses: Vec<SeenAddress>,
    /// The TXT records in the order received: key and value (`None`: key only).
    pub txt: Vec<(String, Option<Vec<u8>>)>,
}

impl Sighting {
    /// The value of a TXT key: keys compare case-insensitively and only the first
    /// occurrence counts (RFC 6763, 6.4). `Some(None)`: present without a value.
    pub fn txt_value(&self, key: &str) -> Option<Option<&[u8]>> {
        self.txt
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v.as_deref())
    }
}

/// Which interfaces discovery uses and which addresses it may dial.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InterfacePolicy {
    /// Announce and browse only on these interfaces (by name, e.g. `eth0`); empty:
    /// on every interface except loopback (unless `loopback`).
    pub interfaces: Vec<String>,
    /// Use IPv4 (on by default; off only for IPv6-only networks).
    pub ipv4: bool,
    /// Also use IPv6: announce and browse over it, dial IPv6 addresses (link-local
    /// ones only with a scope id). IPv4 addresses are preferred either way. Off by
    /// default: office LANs are IPv4, and a peer first seen over IPv6 would be
    /// dialled there and then moved to its IPv4 address.
    pub ipv6: bool,
    /// Also use loopback interfaces and dial loopback addresses (tests on one host).
    pub loopback: bool,
    /// The UDP port of mDNS: 5353 except in tests.
    pub mdns_port: u16,
    /// How often (seconds) the daemon looks for new or changed interfaces and
    /// addresses. mdns-sd drops an interface whose first sends fail (e.g. a link
    /// that came up a moment before) until the next check, so this bounds how late
    /// a node that starts during boot is seen. mdns-sd's default is 5.
    pub recheck_interfaces_secs: u32,
}

impl Default for InterfacePolicy {
    fn default() -> Self {
        InterfacePolicy {
            interfaces: Vec::new(),
            ipv4: true,
            ipv6: false,
            loopback: false,
            mdns_port: mdns_sd::MDNS_PORT,
            recheck_interfaces_secs: 1,
        }
    }
}

/// A peer of this office worth dialling.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FoundPeer {
    /// The service instance it announced.
    pub instance: String,
    /// Its office (always this node's office).
    pub office: OfficeId,
    /// Its node id (from TXT; the TLS certificate is what proves it).
    pub node: NodeId,
    /// Its role.
    pub role: Role,
    /// The one address to dial.
    pub address: SocketAddr,
}

/// Why a resolved service is not dialled.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Ignored {
    /// A node of another office on the same network.
    #[error("belongs to office {office}")]
    OtherOffice {
        /// Its office.
        office: OfficeId,
    },
    /// This node's own announcement (or another device using this node's id).
    #[error("is this node itself")]
    OwnNode,
    /// It speaks another peer protocol version; the handshake would refuse it.
    #[error("speaks protocol version {theirs}, this node {ours}")]
    ProtocolVersion {
        /// Its version.
        theirs: u16,
        /// Ours.
        ours: u16,
    },
    /// A TXT record is missing (or has no value).
    #[error("TXT record {key:?} missing")]
    MissingTxt {
        /// The key.
        key: &'static str,
    },
    /// A TXT record cannot be read.
    #[error("TXT record {key:?} garbled: {value:?}")]
    GarbledTxt {
        /// The key.
        key: &'static str,
        /// The start of the value, lossily decoded.
        value: String,
    },
    /// Port 0 announced.
    #[error("announced port 0")]
    NoPort,
    /// No address resolved at all.
    #[error("no address resolved")]
    NoAddress,
    /// Only IPv6 link-local addresses without a scope id: not dialable.
    #[error("only link-local IPv6 addresses without a scope id")]
    OnlyUnscopedLinkLocal,
    /// Addresses resolved, but none the policy allows (loopback, IPv6 when off,
    /// unspecified, multicast, ...).
    #[error("none of {seen} addresses usable under the interface policy")]
    NoUsableAddress {
        /// How many addresses were seen.
        seen: usize,
    },
}

/// The TXT records this node announces.
pub fn txt_records(identity: &Identity) -> Vec<(String, String)> {
    vec![
        (TXT_OFFICE.to_string(), identity.office.to_string()),
        (TXT_NODE.to_string(), identity.node.to_string()),
        (TXT_ROLE.to_string(), identity.role.code().to_string()),
        (TXT_PROTO.to_string(), PROTOCOL_VERSION.to_string()),
    ]
}

/// Decides whether a resolved service is a peer of this node's office to dial, and
/// at which address.
///
/// Checks, in this order: protocol version, office, node id (not this node), role,
/// port, addresses. A foreign office's TXT is not looked at beyond its office id.
pub fn decide(
    own: &Identity,
    policy: &InterfacePolicy,
    seen: &Sighting,
) -> Result<FoundPeer, Ignored> {
    let proto: u16 = parse_txt(seen, TXT_PROTO, |text| text.parse().ok())?;
    if proto != PROTOCOL_VERSION {
        return Err(Ignored::ProtocolVersion {
            theirs: proto,
            ours: PROTOCOL_VERSION,
        });
    }
    let office = parse_txt(seen, TXT_OFFICE, |text| OfficeId::new(text).ok())?;
    if office != own.office {
        return Err(Ignored::OtherOffice { office });
    }
    let node = parse_txt(seen, TXT_NODE, |text| NodeId::new(text).ok())?;
    if node == own.node {
        return Err(Ignored::OwnNode);
    }
    let role = parse_txt(seen, TXT_ROLE, |text| {
        text.parse::<u8>().ok().and_then(Role::from_code)
    })?;
    if seen.port == 0 {
        return Err(Ignored::NoPort);
    }
    let address = best_address(policy, seen)?;
    Ok(FoundPeer {
        instance: seen.instance.clone(),
        office,
        node,
        role,
        address,
    })
}

fn parse_txt<T>(
    seen: &Sighting,
    key: &'static str,
    parse: impl FnOnce(&str) -> Option<T>,
) -> Result<T, Ignored> {
    let bytes = match seen.txt_value(key) {
        Some(Some(bytes)) if !bytes.is_empty() => bytes,
        _ => return Err(Ignored::MissingTxt { key }),
    };
    let garbled = || Ignored::GarbledTxt {
        key,
        value: String::from_utf8_lossy(bytes)
            .chars()
            .take(QUOTE_LEN)
            .collect(),
    };
    let text = std::str::from_utf8(bytes).map_err(|_| garbled())?;
    parse(text).ok_or_else(garbled)
}

fn is_link_local_v6(ip: &Ipv6Addr) -> bool {
    (ip.segments()[0] & 0xffc0) == 0xfe80
}

/// Preference of an address, lower is better; `None`: not dialable under `policy`.
fn rank(policy: &InterfacePolicy, seen: &SeenAddress) -> Option<u8> {
    match seen.ip {
        IpAddr::V4(ip) => {
            if !policy.ipv4 || ip.is_unspecified() || ip.is_multicast() || ip.is_broadcast() {
                None
            } else if ip.is_loopback() {
                policy.loopback.then_some(4)
            } else if ip.is_link_local() {
                Some(2)
            } else {
                Some(0)
            }
        }
        IpAddr::V6(ip) => {
            if !policy.ipv6 || ip.is_unspecified() || ip.is_multicast() {
                None
            } else if ip.is_loopback() {
                policy.loopback.then_some(4)
            } else if is_link_local_v6(&ip) {
                (seen.scope_id != 0).then_some(3)
            } else {
                Some(1)
            }
        }
    }
}

fn best_address(policy: &InterfacePolicy, seen: &Sighting) -> Result<SocketAddr, Ignored> {
    if seen.addresses.is_empty() {
        return Err(Ignored::NoAddress);
    }
    let best = seen
        .addresses
        .iter()
        .filter_map(|address| rank(policy, address).map(|rank| (rank, *address)))
        .min();
    match best {
        Some((
            _,
            SeenAddress {
                ip: IpAddr::V6(ip),
                scope_id,
            },
        )) => {
            // Only link-local addresses need (and keep) their scope.
            let scope_id = if is_link_local_v6(&ip) { scope_id } else { 0 };
            Ok(SocketAddr::V6(SocketAddrV6::new(
                ip, seen.port, 0, scope_id,
            )))
        }
        Some((_, SeenAddress { ip, .. })) => Ok(SocketAddr::new(ip, seen.port)),
        None if policy.ipv6
            && seen.addresses.iter().all(|a| match a.ip {
                IpAddr::V6(ip) => is_link_local_v6(&ip) && a.scope_id == 0,
                IpAddr::V4(_) => false,
            }) =>
        {
            Err(Ignored::OnlyUnscopedLinkLocal)
        }
        None => Err(Ignored::NoUsableAddress {
            seen: seen.addresses.len(),
        }),
    }
}

/// The mDNS host name of a node: its id (cut to fit a DNS label) and a checksum of
/// its office, so that `desk-1` of two offices on one network do not collide.
pub(super) fn host_name(identity: &Identity) -> String {
    let node: String = identity.node.as_str().chars().take(48).collect();
    let node = node.replace('.', "-");
    let office = crc32fast::hash(identity.office.as_str().as_bytes());
    format!("{node}-{office:08x}.local.")
}

/// The addresses resolved so far per instance. mdns-sd resolves a service once per
/// interface and address family (e.g. first with only its IPv6 link-local address,
/// then with its IPv4 one); deciding on the union means a peer's chosen address only
/// ever gets better and does not flip between events.
#[derive(Debug, Default)]
pub(super) struct AddressMemory(BTreeMap<String, BTreeSet<SeenAddress>>);

/// Instances whose addresses are remembered; beyond, memory starts afresh.
const MAX_REMEMBERED_INSTANCES: usize = 256;
/// Addresses remembered per instance.
const MAX_REMEMBERED_ADDRESSES: usize = 16;

impl AddressMemory {
    /// Adds the sighting's addresses to the remembered ones and puts the union back
    /// into the sighting.
    pub(super) fn merge(&mut self, seen: &mut Sighting) {
        if !self.0.contains_key(&seen.instance) && self.0.len() >= MAX_REMEMBERED_INSTANCES {
            self.0.clear();
        }
        let known = self.0.entry(seen.instance.clone()).or_default();
        for address in &seen.addresses {
            if known.len() < MAX_REMEMBERED_ADDRESSES {
                known.insert(*address);
            }
        }
        seen.addresses = known.iter().copied().collect();
    }

    pub(super) fn forget(&mut self, instance: &str) {
        self.0.remove(instance);
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use proptest::prelude::*;

    use super::*;

    fn own() -> Identity {
        Identity {
            office: OfficeId::new("zeitz").unwrap(),
            node: NodeId::new("kiosk-1").unwrap(),
            role: Role::Kiosk,
        }
    }

    fn v4(a: u8, b: u8, c: u8, d: u8) -> SeenAddress {
        SeenAddress {
            ip: IpAddr::V4(Ipv4Addr::new(a, b, c, d)),
            scope_id: 0,
        }
    }

    fn v6(text: &str, scope_id: u32) -> SeenAddress {
        SeenAddress {
            ip: text.parse().unwrap(),
            scope_id,
        }
    }

    fn sighting(txt: &[(&str, &str)], addresses: Vec<SeenAddress>) -> Sighting {
        Sighting {
            instance: "desk-1._aufruf._tcp.local.".into(),
            port: 7340,
            addresses,
            txt: txt
                .iter()
                .map(|(k, v)| (k.to_string(), Some(v.as_bytes().to_vec())))
                .collect(),
        }
    }

    fn desk(addresses: Vec<SeenAddress>) -> Sighting {
        let desk = Identity {
            office: OfficeId::new("zeitz").unwrap(),
            node: NodeId::new("desk-1").unwrap(),
            role: Role::Desk,
        };
        let txt = txt_records(&desk);
        let txt: Vec<(&str, &str)> = txt.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        sighting(&txt, addresses)
    }

    fn policy() -> InterfacePolicy {
        InterfacePolicy {
            ipv6: true,
            ..InterfacePolicy::default()
        }
    }

    #[test]
    fn addresses_of_successive_resolutions_are_merged_so_the_choice_only_improves() {
        let mut memory = AddressMemory::default();
        let mut first = desk(vec![v6("fe80::1", 2)]);
        memory.merge(&mut first);
        let first = decide(&own(), &policy(), &first).unwrap();
        assert!(first.address.is_ipv6());
        let mut second = desk(vec![v4(10, 0, 0, 2)]);
        memory.merge(&mut second);
        assert_eq!(second.addresses.len(), 2);
        let chosen = decide(&own(), &policy(), &second).unwrap().address;
        assert_eq!(chosen, "10.0.0.2:7340".parse().unwrap());
        let mut third = desk(vec![v6("fe80::1", 2)]);
        memory.merge(&mut third);
        assert_eq!(decide(&own(), &policy(), &third).unwrap().address, chosen);
        memory.forget(&third.instance);
        let mut after_removal = desk(vec![v6("fe80::1", 2)]);
        memory.merge(&mut after_removal);
        assert_eq!(after_removal.addresses.len(), 1);
        // Bounded, whatever a network sends.
        for i in 0..1000u32 {
            let mut flood = desk(vec![SeenAddress {
                ip: IpAddr::V4(Ipv4Addr::from(i)),
                scope_id: 0,
            }]);
            flood.instance = format!("i{}", i % 300);
            memory.merge(&mut flood);
            assert!(flood.addresses.len() <= MAX_REMEMBERED_ADDRESSES);
        }
        assert!(memory.0.len() <= MAX_REMEMBERED_INSTANCES);
    }

    #[test]
    fn a_peer_of_the_office_is_dialled_at_its_ipv4_address() {
        let found = decide(
            &own(),
            &policy(),
            &desk(vec![v6("fe80::1", 3), v4(10, 0, 0, 7), v6("fd00::7", 0)]),
        )
        .unwrap();
        assert_eq!(found.node.as_str(), "desk-1");
        assert_eq!(found.role, Role::Desk);
        assert_eq!(found.address, "10.0.0.7:7340".parse().unwrap());
    }

    #[test]
    fn routable_ipv6_beats_link_local_and_link_local_keeps_its_scope() {
        let found = decide(
            &own(),
            &policy(),
            &desk(vec![v6("fe80::1", 3), v6("fd00::7", 9)]),
        );
        assert_eq!(found.unwrap().address, "[fd00::7]:7340".parse().unwrap());
        let found = decide(&own(), &policy(), &desk(vec![v6("fe80::1", 3)])).unwrap();
        assert_eq!(
            found.address,
            SocketAddr::V6(SocketAddrV6::new("fe80::1".parse().unwrap(), 7340, 0, 3))
        );
    }

    #[test]
    fn link_local_ipv6_without_scope_or_with_ipv6_off_is_not_dialled() {
        assert_eq!(
            decide(&own(), &policy(), &desk(vec![v6("fe80::1", 0)])),
            Err(Ignored::OnlyUnscopedLinkLocal)
        );
        let no_v6 = InterfacePolicy {
            ipv6: false,
            ..policy()
        };
        assert_eq!(
            decide(
                &own(),
                &no_v6,
                &desk(vec![v6("fe80::1", 2), v6("2001:db8::1", 0)])
            ),
            Err(Ignored::NoUsableAddress { seen: 2 })
        );
        assert!(
            decide(
                &own(),
                &no_v6,
                &desk(vec![v6("fe80::1", 2), v4(10, 1, 1, 1)])
            )
            .is_ok()
        );
        let v6_only = InterfacePolicy {
            ipv4: false,
            ..policy()
        };
        let found = decide(
            &own(),
            &v6_only,
            &desk(vec![v4(10, 1, 1, 1), v6("fe80::1", 2)]),
        );
        assert_eq!(
            found.unwrap().address,
            SocketAddr::V6(SocketAddrV6::new("fe80::1".parse().unwrap(), 7340, 0, 2))
        );
    }

    #[test]
    fn loopback_multicast_and_unspecified_addresses_are_skipped() {
        assert_eq!(
            decide(
                &own(),
                &policy(),
                &desk(vec![
                    v4(127, 0, 0, 1),
                    v4(0, 0, 0, 0),
                    v4(224, 0, 0, 251),
                    v6("::1", 0)
                ])
            ),
            Err(Ignored::NoUsableAddress { seen: 4 })
        );
        let loopback = InterfacePolicy {
            loopback: true,
            ..policy()
        };
        let found = decide(&own(), &loopback, &desk(vec![v4(127, 0, 0, 1)])).unwrap();
        assert_eq!(found.address, "127.0.0.1:7340".parse().unwrap());
        assert_eq!(
            decide(&own(), &policy(), &desk(vec![])),
            Err(Ignored::NoAddress)
        );
    }

    #[test]
    fn other_offices_self_and_other_versions_are_ignored() {
        let proto = PROTOCOL_VERSION.to_string();
        let newer = (PROTOCOL_VERSION + 1).to_string();
        let other = sighting(
            &[
                ("office", "naumburg"),
                ("node", "desk-1"),
                ("role", "2"),
                ("proto", proto.as_str()),
            ],
            vec![v4(10, 0, 0, 8)],
        );
        assert_eq!(
            decide(&own(), &policy(), &other),
            Err(Ignored::OtherOffice {
                office: OfficeId::new("naumburg").unwrap()
            })
        );
        let itself = sighting(
            &[
                ("office", "zeitz"),
                ("node", "kiosk-1"),
                ("role", "1"),
                ("proto", proto.as_str()),
            ],
            vec![v4(10, 0, 0, 8)],
        );
        assert_eq!(decide(&own(), &policy(), &itself), Err(Ignored::OwnNode));
        let newer = sighting(
            &[
                ("office", "zeitz"),
                ("node", "desk-1"),
                ("role", "2"),
                ("proto", newer.as_str()),
            ],
            vec![v4(10, 0, 0, 8)],
        );
        assert_eq!(
            decide(&own(), &policy(), &newer),
            Err(Ignored::ProtocolVersion {
                theirs: PROTOCOL_VERSION + 1,
                ours: PROTOCOL_VERSION
            })
        );
    }

    #[test]
    fn missing_and_garbled_txt_is_named() {
        let proto = PROTOCOL_VERSION.to_string();
        let cases: &[(&[(&str, &str)], Ignored)] = &[
            (&[], Ignored::MissingTxt { key: TXT_PROTO }),
            (
                &[("proto", proto.as_str())],
                Ignored::MissingTxt { key: TXT_OFFICE },
            ),
            (
                &[("proto", "one")],
                Ignored::GarbledTxt {
                    key: TXT_PROTO,
                    value: "one".into(),
                },
            ),
            (
                &[("proto", proto.as_str()), ("office", "../x")],
                Ignored::GarbledTxt {
                    key: TXT_OFFICE,
                    value: "../x".into(),
                },
            ),
            (
                &[("proto", proto.as_str()), ("office", "zeitz"), ("node", "")],
                Ignored::MissingTxt { key: TXT_NODE },
            ),
            (
                &[
                    ("proto", proto.as_str()),
                    ("office", "zeitz"),
                    ("node", "desk-1"),
                    ("role", "9"),
                ],
                Ignored::GarbledTxt {
                    key: TXT_ROLE,
                    value: "9".into(),
                },
            ),
        ];
        for (txt, reason) in cases {
            assert_eq!(
                decide(&own(), &policy(), &sighting(txt, vec![v4(10, 0, 0, 8)])).as_ref(),
                Err(reason),
                "{txt:?}"
            );
        }
        let mut not_utf8 = desk(vec![v4(10, 0, 0, 8)]);
        not_utf8
            .txt
            .insert(0, ("NODE".into(), Some(vec![0xff, 0xfe])));
        assert!(matches!(
            decide(&own(), &policy(), &not_utf8),
            Err(Ignored::GarbledTxt { key: TXT_NODE, .. })
        ));
        let mut key_only = desk(vec![v4(10, 0, 0, 8)]);
        key_only.txt.insert(0, ("role".into(), None));
        assert_eq!(
            decide(&own(), &policy(), &key_only),
            Err(Ignored::MissingTxt { key: TXT_ROLE })
        );
        let mut no_port = desk(vec![v4(10, 0, 0, 8)]);
        no_port.port = 0;
        assert_eq!(decide(&own(), &policy(), &no_port), Err(Ignored::NoPort));
    }

    #[test]
    fn txt_keys_are_case_insensitive_and_the_first_counts() {
        let proto = PROTOCOL_VERSION.to_string();
        let seen = sighting(
            &[
                ("PROTO", proto.as_str()),
                ("Office", "zeitz"),
                ("office", "naumburg"),
                ("node", "desk-1"),
                ("role", "2"),
            ],
            vec![v4(10, 0, 0, 8)],
        );
        assert!(decide(&own(), &policy(), &seen).is_ok());
    }

    #[test]
    fn announced_txt_is_understood_by_a_peer_and_host_names_differ_per_office() {
        let txt = txt_records(&own());
        assert_eq!(
            txt.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>(),
            [TXT_OFFICE, TXT_NODE, TXT_ROLE, TXT_PROTO]
        );
        let other = Identity {
            office: OfficeId::new("naumburg").unwrap(),
            ..own()
        };
        assert_ne!(host_name(&own()), host_name(&other));
        let long = Identity {
            node: NodeId::new("n.".repeat(32)).unwrap(),
            ..own()
        };
        let label = host_name(&long);
        let label = label.strip_suffix(".local.").unwrap();
        assert!(label.len() <= 63 && !label.contains('.'), "{label}");
    }

    fn txt_key() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("office".to_string()),
            Just("node".to_string()),
            Just("ROLE".to_string()),
            Just("proto".to_string()),
            ".{0,12}",
        ]
    }

    fn txt_value() -> impl Strategy<Value = Option<Vec<u8>>> {
        prop_oneof![
            Just(None),
            proptest::collection::vec(any::<u8>(), 0..300).prop_map(Some),
            prop_oneof![
                Just("zeitz"),
                Just("desk-1"),
                Just("kiosk-1"),
                Just("1"),
                Just("2"),
                Just("65536"),
                Just("-1"),
                Just(" 1"),
            ]
            .prop_map(|v| Some(v.as_bytes().to_vec())),
        ]
    }

    fn seen_address() -> impl Strategy<Value = SeenAddress> {
        (any::<IpAddr>(), prop_oneof![Just(0u32), any::<u32>()])
            .prop_map(|(ip, scope_id)| SeenAddress { ip, scope_id })
    }

    proptest! {
        #[test]
        fn arbitrary_txt_and_addresses_never_panic_and_only_dialable_addresses_come_out(
            txt in proptest::collection::vec((txt_key(), txt_value()), 0..10),
            addresses in proptest::collection::vec(seen_address(), 0..6),
            port in any::<u16>(),
            ipv4 in any::<bool>(),
            ipv6 in any::<bool>(),
            loopback in any::<bool>(),
        ) {
            let seen = Sighting { instance: "x._aufruf._tcp.local.".into(), port, addresses, txt };
            let policy = InterfacePolicy { ipv4, ipv6, loopback, ..InterfacePolicy::default() };
            let decided = decide(&own(), &policy, &seen);
            let _ = decided.as_ref().map_err(ToString::to_string);
            if let Ok(peer) = decided {
                prop_assert_eq!(&peer.office, &own().office);
                prop_assert_ne!(&peer.node, &own().node);
                prop_assert_eq!(peer.address.port(), port);
                prop_assert!(port != 0);
                prop_assert!(seen.addresses.iter().any(|a| a.ip == peer.address.ip()));
                prop_assert!(loopback || !peer.address.ip().is_loopback());
                match peer.address {
                    SocketAddr::V4(_) => prop_assert!(ipv4),
                    SocketAddr::V6(v6) => {
                        prop_assert!(ipv6);
                        prop_assert!(!is_link_local_v6(v6.ip()) || v6.scope_id() != 0);
                    }
                }
            }
        }
    }
}
