//! The protocol core between two nodes, frame by frame: handshake rules, heartbeats,
//! silent peers, limits, back-pressure, and garbage that must never touch a document.
//!
//! Tests that need a network of cores (convergence, partitions, relays) run on the one
//! simulated network of `aufruf-tests` (`tests/tests/protocol_lan.rs`).
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic

use std::time::Duration;

use aufruf_sync_protocol::frame::{Frame, HASH_LEN, Hello, PROTOCOL_VERSION};
use aufruf_sync_protocol::{
    ConnectionId, Identity, Input, Limits, Output, Replicator, SessionError,
};
use aufruf_sync_protocol::{DocumentName, NodeId, OfficeId, Role};
use automerge::transaction::Transactable;
use automerge::{ActorId, ChangeHash, ROOT};
use proptest::prelude::*;

const TO_DESK: ConnectionId = ConnectionId(1);
const TO_KIOSK: ConnectionId = ConnectionId(2);

fn day() -> DocumentName {
    DocumentName::day(2026, 3, 11).unwrap()
}

fn identity(node: &str) -> Identity {
    Identity {
        office: OfficeId::new("zeitz").unwrap(),
        node: NodeId::new(node).unwrap(),
        role: Role::Desk,
    }
}

/// Issues a walk-in ticket on a node: one key per ticket at the document's root.
fn issue_ticket(
    core: &mut Replicator,
    now: Duration,
    day: &DocumentName,
    ticket: &str,
) -> Vec<Output> {
    core.change(now, day, |tx| {
        tx.put(ROOT, ticket, "issued")?;
        Ok::<_, automerge::AutomergeError>(())
    })
    .unwrap()
    .outputs
}

fn node(name: &str, limits: Limits) -> Replicator {
    Replicator::new(identity(name), limits)
}

fn sends(outputs: &[Output]) -> Vec<Vec<u8>> {
    outputs
        .iter()
        .filter_map(|o| match o {
            Output::Send { frame, .. } => Some(frame.clone()),
            _ => None,
        })
        .collect()
}

fn closed(outputs: &[Output]) -> Option<SessionError> {
    outputs.iter().find_map(|o| match o {
        Output::Close { error, .. } => Some(error.clone()),
        _ => None,
    })
}

/// Exchanges frames between a kiosk and a desk until neither sends anything.
fn run_until_quiet(
    kiosk: &mut Replicator,
    desk: &mut Replicator,
    now: Duration,
    first: Vec<Output>,
    first_from_kiosk: bool,
) {
    let mut to_desk = Vec::new();
    let mut to_kiosk = Vec::new();
    if first_from_kiosk {
        to_desk.extend(sends(&first));
    } else {
        to_kiosk.extend(sends(&first));
    }
    for _ in 0..100 {
        if to_desk.is_empty() && to_kiosk.is_empty() {
            return;
        }
        for frame in std::mem::take(&mut to_desk) {
            let out = desk.handle(
                now,
                Input::Frame {
                    connection: TO_KIOSK,
                    bytes: &frame,
                },
            );
            assert_eq!(closed(&out), None);
            to_kiosk.extend(sends(&out));
        }
        for frame in std::mem::take(&mut to_kiosk) {
            let out = kiosk.handle(
                now,
                Input::Frame {
                    connection: TO_DESK,
                    bytes: &frame,
                },
            );
            assert_eq!(closed(&out), None);
            to_desk.extend(sends(&out));
        }
    }
    panic!("no quiet after 100 rounds");
}

/// A kiosk and a desk, connected, greeted and in sync on two documents.
fn connected_pair() -> (Replicator, Replicator) {
    let mut kiosk = node("kiosk-1", Limits::default());
    let mut desk = node("desk-1", Limits::default());
    issue_ticket(&mut kiosk, Duration::ZERO, &day(), "A-001");
    issue_ticket(&mut desk, Duration::ZERO, &DocumentName::Office, "desk-1");
    let from_kiosk = kiosk.handle(
        Duration::ZERO,
        Input::Connected {
            connection: TO_DESK,
            certified_node: Some(NodeId::new("desk-1").unwrap()),
        },
    );
    let from_desk = desk.handle(
        Duration::ZERO,
        Input::Connected {
            connection: TO_KIOSK,
            certified_node: Some(NodeId::new("kiosk-1").unwrap()),
        },
    );
    let mut first = from_kiosk;
    // The desk's hello goes in the same round as the kiosk's.
    for frame in sends(&from_desk) {
        let out = kiosk.handle(
            Duration::ZERO,
            Input::Frame {
                connection: TO_DESK,
                bytes: &frame,
            },
        );
        first.extend(out);
    }
    run_until_quiet(&mut kiosk, &mut desk, Duration::ZERO, first, true);
    (kiosk, desk)
}

fn heads(core: &Replicator) -> Vec<(DocumentName, Vec<ChangeHash>)> {
    core.document_names()
        .map(|name| (name.clone(), core.document(name).unwrap().get_heads()))
        .collect()
}

#[test]
fn a_connected_pair_shares_both_documents() {
    let (kiosk, desk) = connected_pair();
    assert_eq!(heads(&kiosk), heads(&desk));
    assert_eq!(kiosk.peers().count(), 1);
    assert_eq!(desk.document_names().count(), 2);
}

#[test]
fn documents_the_core_creates_take_their_actor_from_the_caller() {
    // `new` counts per node: the kiosk made the day (its first) and took the
    // office document from the desk's announcement (its second).
    let (kiosk, desk) = connected_pair();
    let actor =
        |core: &Replicator, name: &DocumentName| core.document(name).unwrap().get_actor().clone();
    assert_eq!(
        actor(&kiosk, &day()),
        ActorId::from(b"kiosk-1/0".as_slice())
    );
    assert_eq!(
        actor(&kiosk, &DocumentName::Office),
        ActorId::from(b"kiosk-1/1".as_slice())
    );
    assert_eq!(
        actor(&desk, &DocumentName::Office),
        ActorId::from(b"desk-1/0".as_slice())
    );
    assert_eq!(actor(&desk, &day()), ActorId::from(b"desk-1/1".as_slice()));

    let mut named = Replicator::with_actors(identity("desk-2"), Limits::default(), |name| {
        ActorId::from(format!("desk-2 {name}").into_bytes())
    });
    issue_ticket(&mut named, Duration::ZERO, &day(), "A-002");
    let expected = ActorId::from(format!("desk-2 {}", day()).into_bytes());
    assert_eq!(actor(&named, &day()), expected);
}

fn hello_from(office: &str, node: &str, version: u16) -> Vec<u8> {
    Frame::Hello(Hello {
        protocol_version: version,
        office: OfficeId::new(office).unwrap(),
        node: NodeId::new(node).unwrap(),
        role: Role::Kiosk,
    })
    .encode()
}

fn greet(hello: &[u8], certified: Option<&str>) -> Option<SessionError> {
    let mut desk = node("desk-1", Limits::default());
    desk.handle(
        Duration::ZERO,
        Input::Connected {
            connection: TO_KIOSK,
            certified_node: certified.map(|c| NodeId::new(c).unwrap()),
        },
    );
    closed(&desk.handle(
        Duration::ZERO,
        Input::Frame {
            connection: TO_KIOSK,
            bytes: hello,
        },
    ))
}

#[test]
fn the_handshake_refuses_other_offices_versions_and_identities() {
    assert_eq!(
        greet(
            &hello_from("zeitz", "kiosk-1", PROTOCOL_VERSION),
            Some("kiosk-1")
        ),
        None
    );
    assert!(matches!(
        greet(&hello_from("naumburg", "kiosk-1", PROTOCOL_VERSION), None),
        Some(SessionError::ForeignOffice(_))
    ));
    assert!(matches!(
        greet(&hello_from("zeitz", "kiosk-1", PROTOCOL_VERSION + 1), None),
        Some(SessionError::ProtocolVersion { .. })
    ));
    assert!(matches!(
        greet(
            &hello_from("zeitz", "kiosk-1", PROTOCOL_VERSION),
            Some("kiosk-2")
        ),
        Some(SessionError::IdentityMismatch { .. })
    ));
    assert_eq!(
        greet(&hello_from("zeitz", "desk-1", PROTOCOL_VERSION), None),
        Some(SessionError::SelfConnection)
    );
    assert!(matches!(
        greet(&Frame::Heartbeat.encode(), None),
        Some(SessionError::Unexpected(_))
    ));
}

#[test]
fn a_second_hello_an_unannounced_document_and_an_oversized_frame_end_the_session() {
    let hello = hello_from("zeitz", "kiosk-1", PROTOCOL_VERSION);
    for (frame, expected) in [
        (hello.clone(), "unexpected"),
        (
            Frame::Sync {
                name: DocumentName::day(2030, 1, 1).unwrap(),
                message: vec![0x42],
            }
            .encode(),
            "unexpected",
        ),
        (vec![4; 65], "exceeds the limit"),
    ] {
        let mut desk = node(
            "desk-1",
            Limits {
                max_frame_len: 64,
                ..Limits::default()
            },
        );
        desk.handle(
            Duration::ZERO,
            Input::Connected {
                connection: TO_KIOSK,
                certified_node: None,
            },
        );
        desk.handle(
            Duration::ZERO,
            Input::Frame {
                connection: TO_KIOSK,
                bytes: &hello,
            },
        );
        let error = closed(&desk.handle(
            Duration::ZERO,
            Input::Frame {
                connection: TO_KIOSK,
                bytes: &frame,
            },
        ));
        let error = error.expect("session ended").to_string();
        assert!(error.contains(expected), "{error}");
        assert_eq!(desk.peers().count(), 0);
        assert_eq!(desk.document_names().count(), 0);
    }
}

#[test]
fn heartbeats_keep_a_quiet_peer_alive_and_a_silent_one_is_dropped() {
    let (mut kiosk, mut desk) = connected_pair();
    let limits = Limits::default();
    // Step 1: nothing to say for a while; both send heartbeats and hear them.
    let mut now = Duration::ZERO;
    for _ in 0..10 {
        now += limits.heartbeat_every;
        let from_kiosk = kiosk.handle(now, Input::Tick);
        let from_desk = desk.handle(now, Input::Tick);
        assert_eq!(sends(&from_kiosk), vec![Frame::Heartbeat.encode()]);
        for frame in sends(&from_kiosk) {
            desk.handle(
                now,
                Input::Frame {
                    connection: TO_KIOSK,
                    bytes: &frame,
                },
            );
        }
        for frame in sends(&from_desk) {
            kiosk.handle(
                now,
                Input::Frame {
                    connection: TO_DESK,
                    bytes: &frame,
                },
            );
        }
        assert_eq!(closed(&from_kiosk), None);
    }
    // Step 2: the desk's cable is pulled; the kiosk hears nothing more.
    now += limits.silent_after;
    let out = kiosk.handle(now, Input::Tick);
    assert_eq!(closed(&out), Some(SessionError::PeerSilent));
    assert!(
        out.iter()
            .any(|o| matches!(o, Output::SyncStateChanged { .. })),
        "sync state saved"
    );
    assert_eq!(kiosk.peers().count(), 0);
}

#[test]
fn a_peer_that_never_says_hello_is_dropped() {
    let mut desk = node("desk-1", Limits::default());
    desk.handle(
        Duration::ZERO,
        Input::Connected {
            connection: TO_KIOSK,
            certified_node: None,
        },
    );
    let out = desk.handle(Limits::default().hello_within, Input::Tick);
    assert_eq!(closed(&out), Some(SessionError::HelloTimeout));
}

#[test]
fn sync_waits_for_the_send_budget_and_resumes_when_bytes_are_written() {
    let limits = Limits {
        send_budget: 1,
        ..Limits::default()
    };
    let mut kiosk = node("kiosk-1", limits);
    issue_ticket(&mut kiosk, Duration::ZERO, &day(), "A-001");
    let out = kiosk.handle(
        Duration::ZERO,
        Input::Connected {
            connection: TO_DESK,
            certified_node: None,
        },
    );
    let hello_len = sends(&out)[0].len();
    let out = kiosk.handle(
        Duration::ZERO,
        Input::Frame {
            connection: TO_DESK,
            bytes: &hello_from("zeitz", "desk-1", PROTOCOL_VERSION),
        },
    );
    // Over budget: announcements go out but the sync message waits.
    assert!(
        sends(&out)
            .iter()
            .all(|f| Frame::decode(f).is_ok_and(|f| !matches!(f, Frame::Sync { .. })))
    );
    let written: usize = sends(&out).iter().map(Vec::len).sum::<usize>() + hello_len;
    let out = kiosk.handle(
        Duration::ZERO,
        Input::Sent {
            connection: TO_DESK,
            bytes: written,
        },
    );
    assert!(
        sends(&out)
            .iter()
            .any(|f| matches!(Frame::decode(f), Ok(Frame::Sync { .. })))
    );
}

#[test]
fn a_reconnect_with_saved_sync_state_sends_only_what_is_new() {
    let (mut kiosk, mut desk) = connected_pair();
    let now = Duration::from_secs(1);
    let mut saved = Vec::new();
    for out in kiosk.handle(
        now,
        Input::Disconnected {
            connection: TO_DESK,
        },
    ) {
        if let Output::SyncStateChanged { peer, name, state } = out {
            saved.push((peer, name, state));
        }
    }
    desk.handle(
        now,
        Input::Disconnected {
            connection: TO_KIOSK,
        },
    );
    // A restarted kiosk with the same documents and the saved states.
    let mut restarted = node("kiosk-1", Limits::default());
    for name in kiosk.document_names() {
        restarted.insert_document(name.clone(), kiosk.document(name).unwrap().fork());
    }
    for (peer, name, state) in saved {
        restarted.restore_sync_state(peer, name, state);
    }
    for _ in 0..100 {
        issue_ticket(
            &mut restarted,
            now,
            &day(),
            &format!("old-{}", rand_suffix()),
        );
    }
    // The desk learns 100 tickets; then one more after a fresh reconnect.
    let first_sync_bytes = |restarted: &mut Replicator, desk: &mut Replicator| -> usize {
        restarted.handle(
            now,
            Input::Connected {
                connection: TO_DESK,
                certified_node: None,
            },
        );
        desk.handle(
            now,
            Input::Connected {
                connection: TO_KIOSK,
                certified_node: None,
            },
        );
        let out = restarted.handle(
            now,
            Input::Frame {
                connection: TO_DESK,
                bytes: &hello_from("zeitz", "desk-1", PROTOCOL_VERSION),
            },
        );
        let bytes = sends(&out)
            .iter()
            .filter(|f| matches!(Frame::decode(f), Ok(Frame::Sync { .. })))
            .map(Vec::len)
            .sum();
        let out2 = desk.handle(
            now,
            Input::Frame {
                connection: TO_KIOSK,
                bytes: &hello_from("zeitz", "kiosk-1", PROTOCOL_VERSION),
            },
        );
        let mut outputs = out2;
        for frame in sends(&out) {
            outputs.extend(desk.handle(
                now,
                Input::Frame {
                    connection: TO_KIOSK,
                    bytes: &frame,
                },
            ));
        }
        run_until_quiet(restarted, desk, now, outputs, false);
        bytes
    };
    let known_state_bytes = first_sync_bytes(&mut restarted, &mut desk);
    assert_eq!(heads(&restarted), heads(&desk));
    // The first message after a reconnect with saved state is small: heads and a
    // Bloom filter of what changed since the shared heads, not the whole history.
    assert!(known_state_bytes < 2_000, "{known_state_bytes}");
}

fn rand_suffix() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

fn garbage_frames() -> impl Strategy<Value = Vec<u8>> {
    let names = prop_oneof![
        Just("office".to_owned()),
        Just("day/2026-03-11".to_owned()),
        "[a-z/0-9-]{0,20}"
    ];
    prop_oneof![
        // Anything at all.
        proptest::collection::vec(any::<u8>(), 0..300),
        // A known kind byte with random rest.
        (1u8..=7, proptest::collection::vec(any::<u8>(), 0..100)).prop_map(|(kind, rest)| {
            let mut frame = vec![kind];
            frame.extend(rest);
            frame
        }),
        // A sync frame for a real document carrying random "automerge" bytes.
        (names, proptest::collection::vec(any::<u8>(), 1..200)).prop_map(|(name, mut message)| {
            let mut frame = vec![3, u8::try_from(name.len()).unwrap()];
            frame.extend(name.as_bytes());
            if message.len() > 1 && message[0] % 2 == 0 {
                message[0] = 0x42; // looks like a sync message to automerge
            }
            frame.extend(message);
            frame
        }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn garbage_frames_never_panic_and_never_touch_a_document(frames in proptest::collection::vec(garbage_frames(), 1..6), before_hello in any::<bool>()) {
        let (mut kiosk, _desk) = connected_pair();
        let connection = if before_hello {
            kiosk.handle(Duration::ZERO, Input::Connected { connection: ConnectionId(9), certified_node: None });
            ConnectionId(9)
        } else {
            TO_DESK
        };
        let documents_before = heads(&kiosk);
        for frame in frames {
            let out = kiosk.handle(Duration::ZERO, Input::Frame { connection, bytes: &frame });
            let touched = out.iter().any(|o| matches!(o, Output::DocumentChanged { .. } | Output::DocumentDamaged { .. }));
            prop_assert!(!touched, "a document changed");
            if closed(&out).is_some() {
                let announced = out.iter().any(|o| matches!(o, Output::DocumentAnnounced { .. }));
                prop_assert!(!announced, "a document was created by a refused frame");
                prop_assert_eq!(heads(&kiosk), documents_before.clone());
                break;
            }
        }
        // Valid-by-chance announcements may add empty documents; existing ones are
        // untouched either way.
        for (name, heads_before) in &documents_before {
            prop_assert_eq!(&kiosk.document(name).unwrap().get_heads(), heads_before);
        }
    }

    #[test]
    fn mutated_real_sync_messages_never_panic(flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..8)) {
        // A real sync message from the desk carrying a change, bit-flipped.
        let (mut kiosk, mut frame) = a_sync_message_with_a_change();
        for (at, mask) in flips {
            let at = 17 + at % (frame.len() - 17);
            frame[at] ^= mask | 1;
        }
        let before = heads(&kiosk);
        let out = kiosk.handle(Duration::ZERO, Input::Frame { connection: TO_DESK, bytes: &frame });
        if closed(&out).is_some() {
            prop_assert_eq!(heads(&kiosk), before);
        }
    }

    #[test]
    fn mutated_real_pushed_changes_never_panic(flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..8)) {
        let (mut kiosk, mut desk) = connected_pair();
        // A real push from the desk (a new change), bit-flipped.
        let out = issue_ticket(&mut desk, Duration::ZERO, &day(), "B-002");
        let mut frame = sends(&out).into_iter().find(|f| matches!(Frame::decode(f), Ok(Frame::Changes { .. }))).unwrap();
        for (at, mask) in flips {
            let at = 17 + at % (frame.len() - 17);
            frame[at] ^= mask | 1;
        }
        let before = heads(&kiosk);
        let out = kiosk.handle(Duration::ZERO, Input::Frame { connection: TO_DESK, bytes: &frame });
        if closed(&out).is_some() {
            prop_assert_eq!(heads(&kiosk), before);
        }
    }
}

#[test]
fn changes_waiting_for_their_dependencies_are_still_persisted() {
    let (mut kiosk, desk) = connected_pair();
    // Two more changes on a copy of the desk's day; the kiosk gets only the second.
    let mut ahead = desk.document(&day()).unwrap().fork();
    let mut change = |ticket: &str| {
        use automerge::transaction::Transactable;
        ahead
            .transact(|tx| tx.put(automerge::ROOT, ticket, "issued"))
            .unwrap();
        ahead.get_last_local_change().unwrap().raw_bytes().to_vec()
    };
    let _first = change("B-001");
    let second = change("B-002");
    let message = automerge::sync::Message {
        heads: ahead.get_heads(),
        need: Vec::new(),
        have: Vec::new(),
        changes: vec![second.clone()].into(),
        flags: None,
        version: automerge::sync::MessageVersion::V1,
    };
    let frame = Frame::Sync {
        name: day(),
        message: message.encode(),
    }
    .encode();
    let before = heads(&kiosk);
    let out = kiosk.handle(
        Duration::ZERO,
        Input::Frame {
            connection: TO_DESK,
            bytes: &frame,
        },
    );
    assert_eq!(heads(&kiosk), before, "held back, not applied");
    assert!(out.contains(&Output::ChangesQueued {
        name: day(),
        chunk: second
    }));
    assert!(
        !out.iter()
            .any(|o| matches!(o, Output::DocumentChanged { .. }))
    );
}

/// Delivers every frame in `outputs` to `to` on `connection`; returns what it says.
fn deliver(
    to: &mut Replicator,
    connection: ConnectionId,
    now: Duration,
    outputs: &[Output],
) -> Vec<Output> {
    let mut answers = Vec::new();
    for frame in sends(outputs) {
        answers.extend(to.handle(
            now,
            Input::Frame {
                connection,
                bytes: &frame,
            },
        ));
    }
    answers
}

fn kinds(outputs: &[Output]) -> Vec<Frame> {
    sends(outputs)
        .iter()
        .map(|f| Frame::decode(f).unwrap())
        .collect()
}

/// A kiosk that missed the desk's push of `B-002` (as if it had been cut off at
/// the time), and the desk's answer to the sync round the kiosk starts at its next
/// tick after hearing the desk's heads.
fn a_sync_message_with_a_change() -> (Replicator, Vec<u8>) {
    let (mut kiosk, mut desk) = connected_pair();
    let _lost = issue_ticket(&mut desk, Duration::ZERO, &day(), "B-002");
    kiosk.handle(
        Duration::ZERO,
        Input::Frame {
            connection: TO_DESK,
            bytes: &heads_frame(&desk),
        },
    );
    let asked = kiosk.handle(Limits::default().heartbeat_every, Input::Tick);
    let answer = deliver(&mut desk, TO_KIOSK, Duration::ZERO, &asked);
    let frame = sends(&answer)
        .into_iter()
        .find(|f| matches!(Frame::decode(f), Ok(Frame::Sync { .. })))
        .unwrap();
    (kiosk, frame)
}

/// A heads frame with `core`'s heads of the day.
fn heads_frame(core: &Replicator) -> Vec<u8> {
    Frame::Heads {
        name: day(),
        heads: core
            .document(&day())
            .unwrap()
            .get_heads()
            .iter()
            .map(|h| h.0)
            .collect(),
    }
    .encode()
}

#[test]
fn a_new_change_is_pushed_once_and_needs_no_answer() {
    let (mut kiosk, mut desk) = connected_pair();
    let now = Duration::from_millis(10);
    // Step 1: the kiosk issues a ticket: one frame, the change itself.
    let out = issue_ticket(&mut kiosk, now, &day(), "A-002");
    let frames = kinds(&out);
    assert_eq!(frames.len(), 1, "{frames:?}");
    let Frame::Changes {
        heads: pushed_heads,
        changes,
        ..
    } = &frames[0]
    else {
        panic!("not a push: {frames:?}");
    };
    assert_eq!(changes.len(), 1);
    let kiosk_heads: Vec<[u8; HASH_LEN]> = kiosk
        .document(&day())
        .unwrap()
        .get_heads()
        .iter()
        .map(|h| h.0)
        .collect();
    assert_eq!(*pushed_heads, kiosk_heads);
    // Step 2: the desk applies it and says nothing back.
    let answer = deliver(&mut desk, TO_KIOSK, now, &out);
    assert!(
        answer
            .iter()
            .any(|o| matches!(o, Output::DocumentChanged { .. }))
    );
    assert!(sends(&answer).is_empty(), "{:?}", kinds(&answer));
    assert_eq!(heads(&kiosk), heads(&desk));
    // Step 3: the next ticks send heartbeats only: both sides know the other has
    // the change, so no sync round runs for it.
    let later = now + Limits::default().heartbeat_every;
    for core in [&mut kiosk, &mut desk] {
        let frames = kinds(&core.handle(later, Input::Tick));
        assert!(frames.iter().all(|f| *f == Frame::Heartbeat), "{frames:?}");
    }
}

#[test]
fn a_pushed_change_without_its_dependencies_is_not_kept_but_fetched_by_a_sync_round() {
    let (mut kiosk, mut desk) = connected_pair();
    let now = Duration::from_millis(10);
    // Step 1: the desk issues two tickets; the kiosk gets only the second push.
    let _lost = issue_ticket(&mut desk, now, &day(), "B-001");
    let second = issue_ticket(&mut desk, now, &day(), "B-002");
    let before = heads(&kiosk);
    let asked = deliver(&mut kiosk, TO_DESK, now, &second);
    // Step 2: nothing of it is applied or stored; the kiosk asks the desk instead.
    assert_eq!(heads(&kiosk), before);
    assert!(!asked.iter().any(|o| matches!(
        o,
        Output::DocumentChanged { .. } | Output::ChangesQueued { .. }
    )));
    let frames = kinds(&asked);
    assert!(
        matches!(frames.as_slice(), [Frame::Sync { .. }]),
        "{frames:?}"
    );
    // Step 3: the round brings both tickets.
    run_until_quiet(&mut kiosk, &mut desk, now, asked, true);
    assert_eq!(heads(&kiosk), heads(&desk));
    let tickets: Vec<String> =
        automerge::ReadDoc::keys(kiosk.document(&day()).unwrap(), automerge::ROOT).collect();
    assert!(
        tickets.contains(&"B-001".to_owned()) && tickets.contains(&"B-002".to_owned()),
        "{tickets:?}"
    );
}

#[test]
fn heads_a_node_still_lacks_at_its_next_tick_start_a_sync_round() {
    let (mut kiosk, mut desk) = connected_pair();
    let now = Duration::from_millis(10);
    let tick = now + Limits::default().heartbeat_every;
    // Step 1: the desk's heads, which the kiosk has: nothing to do, then or later.
    let out = kiosk.handle(
        now,
        Input::Frame {
            connection: TO_DESK,
            bytes: &heads_frame(&desk),
        },
    );
    assert!(sends(&out).is_empty(), "{:?}", kinds(&out));
    let frames = kinds(&kiosk.handle(tick, Input::Tick));
    assert!(frames.iter().all(|f| *f == Frame::Heartbeat), "{frames:?}");
    // Step 2: the desk has a ticket the kiosk missed. Its heads alone send nothing
    // (the push may be on its way); at the kiosk's next tick they are still
    // unknown, and the kiosk asks.
    let _missed = issue_ticket(&mut desk, now, &day(), "B-001");
    let out = kiosk.handle(
        tick,
        Input::Frame {
            connection: TO_DESK,
            bytes: &heads_frame(&desk),
        },
    );
    assert!(sends(&out).is_empty(), "{:?}", kinds(&out));
    let asked = kiosk.handle(tick + Limits::default().heartbeat_every, Input::Tick);
    assert!(
        kinds(&asked)
            .iter()
            .any(|f| matches!(f, Frame::Sync { .. })),
        "{:?}",
        kinds(&asked)
    );
    run_until_quiet(&mut kiosk, &mut desk, now, asked, true);
    assert_eq!(heads(&kiosk), heads(&desk));
}

/// A kiosk connected to a desk (limits as given) and the desk's first push.
fn kiosk_and_a_push(limits: Limits) -> (Replicator, Frame) {
    let (_kiosk, mut desk) = connected_pair();
    let out = issue_ticket(&mut desk, Duration::ZERO, &day(), "B-001");
    let push = kinds(&out).into_iter().next().unwrap();
    let (kiosk, _desk) = connected_pair();
    let mut limited = node("kiosk-1", limits);
    for name in kiosk.document_names() {
        limited.insert_document(name.clone(), kiosk.document(name).unwrap().fork());
    }
    limited.handle(
        Duration::ZERO,
        Input::Connected {
            connection: TO_DESK,
            certified_node: None,
        },
    );
    limited.handle(
        Duration::ZERO,
        Input::Frame {
            connection: TO_DESK,
            bytes: &hello_from("zeitz", "desk-1", PROTOCOL_VERSION),
        },
    );
    limited.handle(
        Duration::ZERO,
        Input::Frame {
            connection: TO_DESK,
            bytes: &Frame::Announce(vec![day()]).encode(),
        },
    );
    (limited, push)
}

#[test]
fn pushes_over_the_limits_or_not_plain_changes_end_the_session_untouched() {
    let limits = Limits {
        max_heads: 2,
        max_changes_per_frame: 2,
        ..Limits::default()
    };
    let (_, push) = kiosk_and_a_push(limits.clone());
    let Frame::Changes {
        name,
        heads: push_heads,
        changes,
    } = push
    else {
        panic!("not a push")
    };
    let mut compressed = changes[0].clone();
    compressed[8] = 2; // the chunk type of a compressed change
    let mut garbled = changes[0].clone();
    let last = garbled.len() - 1;
    garbled[last] ^= 0xff;
    let cases: Vec<(Frame, &str)> = vec![
        (
            Frame::Changes {
                name: name.clone(),
                heads: vec![[1; HASH_LEN]; 3],
                changes: changes.clone(),
            },
            "too many heads",
        ),
        (
            Frame::Heads {
                name: name.clone(),
                heads: vec![[1; HASH_LEN]; 3],
            },
            "too many heads",
        ),
        (
            Frame::Changes {
                name: name.clone(),
                heads: push_heads.clone(),
                changes: vec![changes[0].clone(); 3],
            },
            "too many changes",
        ),
        (
            Frame::Changes {
                name: name.clone(),
                heads: push_heads.clone(),
                changes: vec![compressed],
            },
            "not an uncompressed change",
        ),
        (
            Frame::Changes {
                name: name.clone(),
                heads: push_heads.clone(),
                changes: vec![garbled],
            },
            "refused",
        ),
        (
            Frame::Changes {
                name: DocumentName::day(2030, 1, 1).unwrap(),
                heads: push_heads.clone(),
                changes: changes.clone(),
            },
            "never announced",
        ),
        (
            Frame::Heads {
                name: DocumentName::day(2030, 1, 1).unwrap(),
                heads: push_heads.clone(),
            },
            "never announced",
        ),
    ];
    for (frame, expected) in cases {
        let (mut kiosk, _) = kiosk_and_a_push(limits.clone());
        let before = heads(&kiosk);
        let out = kiosk.handle(
            Duration::ZERO,
            Input::Frame {
                connection: TO_DESK,
                bytes: &frame.encode(),
            },
        );
        let error = closed(&out).expect("session ended").to_string();
        assert!(error.contains(expected), "{expected}: {error}");
        assert_eq!(heads(&kiosk), before, "{expected}");
        assert!(!out.iter().any(|o| matches!(
            o,
            Output::DocumentChanged { .. } | Output::ChangesQueued { .. }
        )));
    }
    // The real push itself is within the limits.
    let (mut kiosk, push) = kiosk_and_a_push(limits);
    let out = kiosk.handle(
        Duration::ZERO,
        Input::Frame {
            connection: TO_DESK,
            bytes: &push.encode(),
        },
    );
    assert_eq!(closed(&out), None);
    assert!(
        out.iter()
            .any(|o| matches!(o, Output::DocumentChanged { .. }))
    );
}

/// Connects a kiosk with a new, empty store to a desk that holds three tickets of the
/// day and an office document without changes, then carries frames one at a time,
/// each way in turn, telling the desk what was written. After every frame the kiosk
/// takes, `caught_up` is asked whom the kiosk has caught up from; it must not name
/// the desk before the kiosk holds all the desk greeted it with.
fn catch_up_frame_by_frame(desk_limits: Limits) -> (Replicator, Replicator) {
    let mut kiosk = node("kiosk-1", Limits::default());
    let mut desk = node("desk-1", desk_limits);
    for ticket in ["A-001", "A-002", "A-003"] {
        issue_ticket(&mut desk, Duration::ZERO, &day(), ticket);
    }
    desk.change(Duration::ZERO, &DocumentName::Office, |_| {
        Ok::<_, automerge::AutomergeError>(())
    })
    .unwrap();
    assert!(
        desk.document(&DocumentName::Office)
            .unwrap()
            .get_heads()
            .is_empty()
    );
    let now = Duration::ZERO;
    let mut to_kiosk = sends(&desk.handle(
        now,
        Input::Connected {
            connection: TO_KIOSK,
            certified_node: None,
        },
    ));
    let mut to_desk = sends(&kiosk.handle(
        now,
        Input::Connected {
            connection: TO_DESK,
            certified_node: None,
        },
    ));
    for _ in 0..1000 {
        if to_kiosk.is_empty() && to_desk.is_empty() {
            break;
        }
        if !to_kiosk.is_empty() {
            let frame = to_kiosk.remove(0);
            let out = kiosk.handle(
                now,
                Input::Frame {
                    connection: TO_DESK,
                    bytes: &frame,
                },
            );
            assert_eq!(closed(&out), None);
            to_desk.extend(sends(&out));
            if kiosk.caught_up_from().is_some() {
                assert_eq!(
                    kiosk.document(&day()).map(|d| d.get_heads()),
                    desk.document(&day()).map(|d| d.get_heads()),
                    "caught up before holding the desk's tickets"
                );
            }
            let out = desk.handle(
                now,
                Input::Sent {
                    connection: TO_KIOSK,
                    bytes: frame.len(),
                },
            );
            to_kiosk.extend(sends(&out));
        }
        if !to_desk.is_empty() {
            let frame = to_desk.remove(0);
            let out = desk.handle(
                now,
                Input::Frame {
                    connection: TO_KIOSK,
                    bytes: &frame,
                },
            );
            assert_eq!(closed(&out), None);
            to_kiosk.extend(sends(&out));
        }
    }
    (kiosk, desk)
}

#[test]
fn a_new_store_has_caught_up_from_a_peer_only_once_it_holds_all_the_peer_greeted_with() {
    let (kiosk, desk) = catch_up_frame_by_frame(Limits::default());
    assert_eq!(
        kiosk.caught_up_from(),
        Some(&NodeId::new("desk-1").unwrap())
    );
    assert_eq!(heads(&kiosk), heads(&desk));
    // The desk, which greeted first with what it had, has caught up from the kiosk
    // too: the kiosk had nothing.
    assert_eq!(
        desk.caught_up_from(),
        Some(&NodeId::new("kiosk-1").unwrap())
    );
}

#[test]
fn a_greeting_whose_sync_waits_for_the_send_budget_is_not_taken_for_an_empty_document() {
    // The desk's sync messages wait behind its budget while its `peers` frame goes
    // out: the kiosk must wait for them, not take the day for empty.
    let limits = Limits {
        send_budget: 1,
        ..Limits::default()
    };
    let (kiosk, desk) = catch_up_frame_by_frame(limits);
    assert_eq!(
        kiosk.caught_up_from(),
        Some(&NodeId::new("desk-1").unwrap())
    );
    assert_eq!(heads(&kiosk), heads(&desk));
}

#[test]
fn without_a_peer_nobody_has_been_caught_up_from() {
    let mut kiosk = node("kiosk-1", Limits::default());
    assert_eq!(kiosk.caught_up_from(), None);
    kiosk.handle(
        Duration::ZERO,
        Input::Connected {
            connection: TO_DESK,
            certified_node: None,
        },
    );
    kiosk.handle(
        Duration::ZERO,
        Input::Frame {
            connection: TO_DESK,
            bytes: &hello_from("zeitz", "desk-1", PROTOCOL_VERSION),
        },
    );
    // Greeted by hello only: the desk's documents are not known yet.
    assert_eq!(kiosk.caught_up_from(), None);
}

/// Both nodes tick at `now` and everything they send is carried until quiet.
fn tick_both(kiosk: &mut Replicator, desk: &mut Replicator, now: Duration) {
    let from_kiosk = kiosk.handle(now, Input::Tick);
    let from_desk = desk.handle(now, Input::Tick);
    run_until_quiet(kiosk, desk, now, from_kiosk, true);
    run_until_quiet(kiosk, desk, now, from_desk, false);
}

#[test]
fn a_node_is_idle_only_when_its_next_tick_has_no_catch_up_to_do() {
    let (mut kiosk, mut desk) = connected_pair();
    let mut now = Duration::ZERO;
    for _ in 0..2 {
        now += Limits::default().heartbeat_every;
        tick_both(&mut kiosk, &mut desk, now);
    }
    assert!(kiosk.is_idle() && desk.is_idle());

    // The desk's push of B-002 is lost; its heads arrive. The kiosk has a round due.
    let _lost = issue_ticket(&mut desk, now, &day(), "B-002");
    kiosk.handle(
        now,
        Input::Frame {
            connection: TO_DESK,
            bytes: &heads_frame(&desk),
        },
    );
    assert!(!kiosk.is_idle(), "the kiosk lacks heads it heard");

    // Its next ticks fetch the change and tell the new heads; then both are idle.
    for _ in 0..2 {
        now += Limits::default().heartbeat_every;
        tick_both(&mut kiosk, &mut desk, now);
    }
    assert_eq!(heads(&kiosk), heads(&desk));
    assert!(kiosk.is_idle() && desk.is_idle());
}

/// The automerge chunk types in a sync message's changes, read from the chunk
/// headers (magic 4, checksum 4, type 1, LEB128 length).
fn chunk_types(message: &[u8]) -> Vec<u8> {
    let message = automerge::sync::Message::decode(message).unwrap();
    let mut types = Vec::new();
    for entry in message.changes.iter() {
        let mut rest = entry;
        while !rest.is_empty() {
            types.push(rest[8]);
            let (mut len, mut at, mut shift) = (0usize, 9, 0);
            loop {
                let byte = rest[at];
                len |= usize::from(byte & 0x7f) << shift;
                at += 1;
                shift += 7;
                if byte & 0x80 == 0 {
                    break;
                }
            }
            rest = &rest[at + len..];
        }
    }
    types
}

#[test]
fn a_first_sync_to_an_empty_peer_carries_plain_changes_not_the_document() {
    // A kiosk with a busy morning meets a desk that has nothing: automerge would
    // send the whole document as one compressed chunk, which peers refuse.
    let mut kiosk = node("kiosk-1", Limits::default());
    for n in 0..50 {
        issue_ticket(&mut kiosk, Duration::ZERO, &day(), &format!("A-{n:03}"));
    }
    let mut desk = node("desk-1", Limits::default());
    let mut first = kiosk.handle(
        Duration::ZERO,
        Input::Connected {
            connection: TO_DESK,
            certified_node: None,
        },
    );
    let from_desk = desk.handle(
        Duration::ZERO,
        Input::Connected {
            connection: TO_KIOSK,
            certified_node: None,
        },
    );
    first.extend(deliver(&mut kiosk, TO_DESK, Duration::ZERO, &from_desk));
    let mut seen = Vec::new();
    let mut to_desk = first;
    for _ in 0..20 {
        for frame in sends(&to_desk) {
            if let Ok(Frame::Sync { message, .. }) = Frame::decode(&frame) {
                assert_eq!(message[0], 0x42, "a version 1 sync message");
                seen.extend(chunk_types(&message));
            }
        }
        let answer = deliver(&mut desk, TO_KIOSK, Duration::ZERO, &to_desk);
        assert_eq!(closed(&answer), None);
        to_desk = deliver(&mut kiosk, TO_DESK, Duration::ZERO, &answer);
        assert_eq!(closed(&to_desk), None);
        if sends(&to_desk).is_empty() {
            break;
        }
    }
    assert_eq!(heads(&kiosk), heads(&desk));
    assert_eq!(seen.len(), 50, "{seen:?}");
    assert!(seen.iter().all(|t| *t == 1), "{seen:?}");
}

#[test]
fn a_sync_message_with_a_document_or_a_compressed_chunk_is_refused_unread() {
    let (_, frame) = a_sync_message_with_a_change();
    let Ok(Frame::Sync { name, message }) = Frame::decode(&frame) else {
        panic!("not a sync frame")
    };
    let plain = automerge::sync::Message::decode(&message).unwrap();
    let mut whole = automerge::AutoCommit::new();
    whole.put(ROOT, "A-999", "issued").unwrap();
    let document = whole.save();
    let mut compressed = plain.changes.iter().next().unwrap().to_vec();
    compressed[8] = 2;
    for (chunk, chunk_type) in [(document, 0), (compressed, 2)] {
        let (mut kiosk, _) = a_sync_message_with_a_change();
        let before = heads(&kiosk);
        let mut packed = plain.clone();
        packed.changes = automerge::sync::ChunkList::from(vec![chunk]);
        let frame = Frame::Sync {
            name: name.clone(),
            message: packed.encode(),
        };
        let out = kiosk.handle(
            Duration::ZERO,
            Input::Frame {
                connection: TO_DESK,
                bytes: &frame.encode(),
            },
        );
        assert_eq!(
            closed(&out),
            Some(SessionError::PackedChunk {
                name: name.clone(),
                chunk_type
            })
        );
        assert_eq!(heads(&kiosk), before);
    }
    // The plain answer is taken.
    let (mut kiosk, frame) = a_sync_message_with_a_change();
    let out = kiosk.handle(
        Duration::ZERO,
        Input::Frame {
            connection: TO_DESK,
            bytes: &frame,
        },
    );
    assert_eq!(closed(&out), None);
}

#[test]
fn peers_tell_each_other_their_wall_clocks() {
    const DAY_MS: u64 = 24 * 3600 * 1000;
    // Clock frames more often than the peers go silent, so one tick shows them.
    let limits = Limits {
        clock_every: Duration::from_secs(2),
        ..Limits::default()
    };
    let wall = 1_773_216_000_000;
    let mut kiosk = node("kiosk-1", limits.clone());
    let mut desk = node("desk-1", limits.clone());
    // The kiosk's clock runs a day ahead of the desk's.
    kiosk.set_wall_clock(Duration::ZERO, wall + DAY_MS);
    desk.set_wall_clock(Duration::ZERO, wall);
    let from_kiosk = kiosk.handle(
        Duration::ZERO,
        Input::Connected {
            connection: TO_DESK,
            certified_node: None,
        },
    );
    let from_desk = desk.handle(
        Duration::ZERO,
        Input::Connected {
            connection: TO_KIOSK,
            certified_node: None,
        },
    );
    let to_desk = deliver(&mut kiosk, TO_DESK, Duration::ZERO, &from_desk);
    let to_kiosk = deliver(&mut desk, TO_KIOSK, Duration::ZERO, &from_kiosk);
    deliver(&mut desk, TO_KIOSK, Duration::ZERO, &to_desk);
    deliver(&mut kiosk, TO_DESK, Duration::ZERO, &to_kiosk);
    // Right after the hello each knows the other's clock.
    let ahead = |core: &Replicator, now: Duration| {
        let clocks = core.peer_clocks(now);
        assert_eq!(clocks.len(), 1);
        clocks[0].ahead_ms
    };
    assert_eq!(ahead(&desk, Duration::ZERO), DAY_MS as i64);
    assert_eq!(ahead(&kiosk, Duration::ZERO), -(DAY_MS as i64));
    // Time passes on both; the last reading moves on with it.
    let later = Duration::from_secs(1);
    assert_eq!(ahead(&desk, later), DAY_MS as i64);
    // The kiosk's clock is set right; its next clock frame says so.
    kiosk.set_wall_clock(later, wall + 1_000);
    let ticked = kiosk.handle(limits.clock_every, Input::Tick);
    assert!(
        kinds(&ticked)
            .iter()
            .any(|f| matches!(f, Frame::Clock { .. })),
        "{:?}",
        kinds(&ticked)
    );
    deliver(&mut desk, TO_KIOSK, limits.clock_every, &ticked);
    assert!(ahead(&desk, limits.clock_every).abs() < 1_000);
    // A core that was never told the wall clock says nothing of clocks.
    let (mut plain, _) = connected_pair();
    assert!(plain.peer_clocks(Duration::ZERO).is_empty());
    let ticked = plain.handle(limits.clock_every, Input::Tick);
    assert!(
        !kinds(&ticked)
            .iter()
            .any(|f| matches!(f, Frame::Clock { .. }))
    );
}

/// A desk that has said hello to a kiosk whose frames the test writes by hand.
fn desk_greeted_by_kiosk(limits: Limits, now: Duration) -> Replicator {
    let mut desk = node("desk-1", limits);
    desk.handle(
        now,
        Input::Connected {
            connection: TO_KIOSK,
            certified_node: Some(NodeId::new("kiosk-1").unwrap()),
        },
    );
    let out = desk.handle(
        now,
        Input::Frame {
            connection: TO_KIOSK,
            bytes: &hello_from("zeitz", "kiosk-1", PROTOCOL_VERSION),
        },
    );
    assert_eq!(closed(&out), None);
    desk
}

#[test]
fn days_outside_the_window_are_ignored_and_only_names_new_here_count() {
    let limits = Limits {
        max_documents: 2,
        ..Limits::default()
    };
    let mut desk = desk_greeted_by_kiosk(limits, Duration::ZERO);
    issue_ticket(&mut desk, Duration::ZERO, &day(), "A-001");
    issue_ticket(&mut desk, Duration::ZERO, &DocumentName::Office, "desk-1");
    desk.retire_before(DocumentName::day(2026, 3, 4).unwrap());
    desk.accept_days_until(DocumentName::day(2026, 6, 10).unwrap());
    let send = |desk: &mut Replicator, frame: Frame| {
        desk.handle(
            Duration::ZERO,
            Input::Frame {
                connection: TO_KIOSK,
                bytes: &frame.encode(),
            },
        )
    };
    // Days before and after the window, again and again, and the desk's own two:
    // nothing is created, nothing counts, nothing ends.
    let outside: Vec<DocumentName> = (0..20)
        .map(|n| DocumentName::day(2027 + n, 1, 1).unwrap())
        .chain([DocumentName::day(2026, 3, 1).unwrap()])
        .collect();
    for _ in 0..3 {
        let mut names = outside.clone();
        names.extend([day(), DocumentName::Office]);
        let out = send(&mut desk, Frame::Announce(names));
        assert_eq!(closed(&out), None);
    }
    for name in &outside {
        let frames = [
            Frame::Heads {
                name: name.clone(),
                heads: vec![[7; HASH_LEN]],
            },
            Frame::Sync {
                name: name.clone(),
                message: vec![0x42, 0, 0, 0, 0],
            },
        ];
        for frame in frames {
            assert_eq!(closed(&send(&mut desk, frame)), None, "{name}");
        }
    }
    assert_eq!(desk.document_names().count(), 2);
    // Two days new to the desk within the window are taken; a third is one too many.
    let out = send(
        &mut desk,
        Frame::Announce(vec![
            DocumentName::day(2026, 3, 12).unwrap(),
            DocumentName::day(2026, 3, 13).unwrap(),
        ]),
    );
    assert_eq!(closed(&out), None);
    assert_eq!(desk.document_names().count(), 4);
    let out = send(
        &mut desk,
        Frame::Announce(vec![DocumentName::day(2026, 3, 14).unwrap()]),
    );
    assert_eq!(closed(&out), Some(SessionError::TooManyDocuments));
    assert_eq!(desk.document_names().count(), 4);
}

#[test]
fn a_peer_over_its_quota_is_cut_off_and_refused_for_a_while() {
    let limits = Limits {
        max_frames_per_window: 10,
        max_bytes_per_window: 1_000,
        ..Limits::default()
    };
    let heartbeat = Frame::Heartbeat.encode();
    let beat = |desk: &mut Replicator, now: Duration, bytes: &[u8]| {
        closed(&desk.handle(
            now,
            Input::Frame {
                connection: TO_KIOSK,
                bytes,
            },
        ))
    };
    // Within the quota, window after window, all is well.
    let mut desk = desk_greeted_by_kiosk(limits.clone(), Duration::ZERO);
    let mut now = Duration::ZERO;
    for _ in 0..5 {
        for _ in 0..9 {
            assert_eq!(beat(&mut desk, now, &heartbeat), None);
        }
        now += limits.quota_window;
    }
    // Too many frames within one window.
    for _ in 0..10 {
        assert_eq!(beat(&mut desk, now, &heartbeat), None);
    }
    assert_eq!(
        beat(&mut desk, now, &heartbeat),
        Some(SessionError::Flooding {
            what: "frames",
            limit: 10,
            window: limits.quota_window
        })
    );
    assert_eq!(desk.peers().count(), 0);
    // It comes straight back: refused until the time is up.
    desk.handle(
        now,
        Input::Connected {
            connection: ConnectionId(3),
            certified_node: Some(NodeId::new("kiosk-1").unwrap()),
        },
    );
    let again = desk.handle(
        now + Duration::from_secs(1),
        Input::Frame {
            connection: ConnectionId(3),
            bytes: &hello_from("zeitz", "kiosk-1", PROTOCOL_VERSION),
        },
    );
    assert_eq!(
        closed(&again),
        Some(SessionError::CutOff(NodeId::new("kiosk-1").unwrap()))
    );
    let later = now + limits.cut_off_for;
    desk.handle(
        later,
        Input::Connected {
            connection: ConnectionId(4),
            certified_node: Some(NodeId::new("kiosk-1").unwrap()),
        },
    );
    assert_eq!(
        beat_on(
            &mut desk,
            later,
            ConnectionId(4),
            &hello_from("zeitz", "kiosk-1", PROTOCOL_VERSION)
        ),
        None
    );
    assert_eq!(desk.peers().count(), 1);
    // Too many bytes within one window.
    let mut desk = desk_greeted_by_kiosk(limits.clone(), Duration::ZERO);
    let big = Frame::Peers(vec![NodeId::new("x".repeat(64)).unwrap(); 4]).encode();
    assert!(big.len() > 250);
    for _ in 0..3 {
        assert_eq!(beat(&mut desk, Duration::ZERO, &big), None);
    }
    assert!(matches!(
        beat(&mut desk, Duration::ZERO, &big),
        Some(SessionError::Flooding { what: "bytes", .. })
    ));
}

fn beat_on(
    desk: &mut Replicator,
    now: Duration,
    connection: ConnectionId,
    bytes: &[u8],
) -> Option<SessionError> {
    closed(&desk.handle(now, Input::Frame { connection, bytes }))
}
