//! Attacks on the office through clocks and through what one certified peer may send
//! (issue #9, items 4 and 5), each refused by a test named after it: a peer stamp a day
//! ahead, a stamp at the end of time, four thousand announced days, a compressed bomb,
//! a flood of frames and a flood of bytes. After each the office still issues and
//! calls, no number is used twice, and what the attacker could make a device hold
//! stays bounded. The kiosk whose own clock is a day ahead is a real node's story:
//! `node/tests/attack_clocks.rs`.
//!
//! The attacker is a device of the office with a certificate (the display, mostly):
//! it runs the real code, and [`Network::send_raw`](aufruf_tests::network::Network)
//! lets it put any bytes it likes on its connections.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use std::time::Duration;

use aufruf_model::{DeskEvent, DeskId, Event, Hlc, Stamp, Status, TicketEvent, node_id};
use aufruf_office::{ClockCheck, PeerClock};
use aufruf_sync::DocumentName;
use aufruf_sync::protocol::SessionError;
use aufruf_sync::protocol::frame::Frame;
use aufruf_tests::{Lan, the_date};
use automerge::ReadDoc;

const DAY_MS: i64 = 24 * 3600 * 1000;

/// The example office's clock bound.
const BOUND_MS: u64 = 5 * 60_000;

fn office(names: &[&str]) -> Lan {
    let mut lan = Lan::new(9);
    for name in names {
        lan.add_node(name);
    }
    lan
}

fn today() -> DocumentName {
    aufruf_office::document_name(the_date()).unwrap()
}

fn stamp_of(lan: &Lan, node: &str, index_from_end: usize) -> Stamp {
    let events = lan.acknowledged_by(lan.node(node));
    events[events.len() - 1 - index_from_end].stamp.clone()
}

/// The office goes on after an attack: a kiosk issues, a desk calls and finishes,
/// everyone converges, nothing acknowledged is lost and no number is used twice.
fn the_office_carries_on(lan: &mut Lan, kiosk: &str, desk: &str) {
    let ticket = lan.issue(kiosk, "anmeldung").unwrap();
    lan.settle();
    let called = lan.call_next(desk).unwrap();
    lan.finish(desk).unwrap();
    lan.settle();
    let day = lan.day(kiosk);
    assert!(day.ticket(&ticket).is_some());
    assert_eq!(
        day.ticket(&called).unwrap().status,
        Status::Done {
            desk: DeskId::new(desk)
        }
    );
    lan.check_converged();
}

#[test]
fn a_peer_stamp_a_day_ahead_does_not_drag_the_clock() {
    let mut lan = office(&["kiosk-1", "kiosk-2", "desk-1", "desk-2", "display"]);
    lan.open_desk("desk-1").unwrap();
    lan.open_desk("desk-2").unwrap();
    lan.settle();

    // Step 1: kiosk 2's clock runs a day ahead; it issues a ticket stamped tomorrow
    // into today's document, and everyone receives it.
    lan.set_skew("kiosk-2", DAY_MS);
    let from_tomorrow = lan.issue("kiosk-2", "anmeldung").unwrap();
    lan.advance(Duration::from_secs(1));
    lan.settle();

    // Step 2: kiosk 1 issues and desk 1 calls. Their clocks do not follow kiosk 2's:
    // their stamps are their own time, within the bound, not tomorrow.
    lan.advance(Duration::from_secs(1));
    let walk_in = lan.issue("kiosk-1", "anmeldung").unwrap();
    let issued = stamp_of(&lan, "kiosk-1", 0);
    let kiosk_now = lan.wall_clock(lan.node("kiosk-1")).0;
    assert!(
        issued.hlc.wall_ms >= kiosk_now && issued.hlc.wall_ms <= kiosk_now + BOUND_MS,
        "kiosk 1 stamped {issued:?} at {kiosk_now}"
    );
    lan.settle();
    lan.advance(Duration::from_secs(1));
    let first = lan.call_next("desk-1").unwrap();
    let call = stamp_of(&lan, "desk-1", 0);
    let desk_now = lan.wall_clock(lan.node("desk-1")).0;
    // The first walk-in by arrival is kiosk 1's: the ticket from tomorrow arrives
    // tomorrow.
    assert_eq!(first, walk_in);
    assert!(
        call.hlc.wall_ms <= desk_now + BOUND_MS,
        "desk 1 stamped its call {call:?} at {desk_now}"
    );
    lan.finish("desk-1").unwrap();

    // Step 3: the ticket from tomorrow can still be called: its call is stamped just
    // after its issue, the one event that needs it, and desk 2's clock stays its own.
    lan.settle();
    assert_eq!(lan.call_next("desk-2").unwrap(), from_tomorrow);
    lan.advance(Duration::from_secs(1));
    lan.finish("desk-2").unwrap();
    lan.settle();
    let day = lan.day("display");
    assert_eq!(
        day.ticket(&from_tomorrow).unwrap().status,
        Status::Done {
            desk: DeskId::new("desk-2")
        }
    );

    // Step 4: kiosk 2 hears from every peer that its clock is a day ahead of theirs;
    // the others see one peer of four off.
    lan.advance(Duration::from_secs(11));
    lan.settle();
    let check = |lan: &Lan, name: &str| {
        let clocks: Vec<PeerClock> = lan
            .replica(name)
            .unwrap()
            .peer_clocks()
            .into_iter()
            .map(|c| PeerClock {
                node: c.node,
                ahead_ms: c.ahead_ms,
            })
            .collect();
        ClockCheck::of(&clocks, Duration::from_millis(BOUND_MS))
    };
    let kiosk_2 = check(&lan, "kiosk-2");
    assert!(kiosk_2.is_wrong(), "{kiosk_2:?}");
    assert_eq!((kiosk_2.compared, kiosk_2.off), (4, 4));
    assert!(kiosk_2.ahead_ms.unwrap() > DAY_MS - 1000);
    let desk_1 = check(&lan, "desk-1");
    assert!(!desk_1.is_wrong(), "{desk_1:?}");
    assert_eq!((desk_1.compared, desk_1.off), (4, 1));

    lan.set_skew("kiosk-2", 0);
    the_office_carries_on(&mut lan, "kiosk-1", "desk-1");
}

#[test]
fn a_peer_stamp_a_day_ahead_does_not_cost_appointments_their_precedence() {
    let mut lan = office(&["kiosk-1", "kiosk-2", "desk-1", "display"]);
    // A booked citizen due two minutes into the day.
    lan.book("display", "B-0042", "anmeldung", Duration::from_secs(120));
    lan.open_desk("desk-1").unwrap();
    lan.settle();

    // Step 1: a walk-in draws a ticket at kiosk 1; a minute later the booked citizen
    // checks in there.
    lan.advance(Duration::from_secs(10));
    let walk_in = lan.issue("kiosk-1", "anmeldung").unwrap();
    lan.advance(Duration::from_secs(60));
    let booked = lan.check_in("kiosk-1", "B-0042").unwrap();
    lan.settle();

    // Step 2: kiosk 2, a day ahead, issues a ticket into today's document.
    lan.set_skew("kiosk-2", DAY_MS);
    lan.issue("kiosk-2", "anmeldung").unwrap();
    lan.settle();

    // Step 3: the desk calls. Its "now" is its own clock, not tomorrow's stamp: the
    // walk-in has waited a minute, not a day, and the appointment is due — it goes
    // first.
    assert_eq!(lan.call_next("desk-1").unwrap(), booked);
    lan.finish("desk-1").unwrap();
    assert_eq!(lan.call_next("desk-1").unwrap(), walk_in);
    lan.finish("desk-1").unwrap();
    lan.settle();

    lan.set_skew("kiosk-2", 0);
    the_office_carries_on(&mut lan, "kiosk-1", "desk-1");
}

#[test]
fn a_stamp_at_the_end_of_time_holds_up_no_later_action() {
    let mut lan = office(&["kiosk-1", "kiosk-2", "desk-1", "desk-2", "display"]);
    lan.open_desk("desk-1").unwrap();
    let waiting = lan.issue("kiosk-1", "anmeldung").unwrap();
    lan.settle();

    // Step 1: kiosk 2 runs other code and writes events with the last stamp there is:
    // one on desk 1 and one on the waiting visitor's ticket.
    let end_of_time = Stamp::new(Hlc::new(u64::MAX, u32::MAX), node_id!("kiosk-2"));
    lan.forge(
        "kiosk-2",
        &Event::Desk {
            desk: DeskId::new("desk-3"),
            stamp: end_of_time.clone(),
            event: DeskEvent::Paused,
        },
    );
    lan.settle();

    // Step 2: every other device goes on at its own time: tickets, calls, desks.
    lan.advance(Duration::from_secs(1));
    let next = lan.issue("kiosk-1", "anmeldung").unwrap();
    let issued = stamp_of(&lan, "kiosk-1", 0);
    assert!(issued.hlc.wall_ms < u64::MAX / 2, "{issued:?}");
    lan.settle();
    assert_eq!(lan.call_next("desk-1").unwrap(), waiting);
    lan.finish("desk-1").unwrap();
    lan.open_desk("desk-2").unwrap();
    lan.settle();
    assert_eq!(lan.call_next("desk-2").unwrap(), next);
    lan.finish("desk-2").unwrap();
    lan.settle();
    the_office_carries_on(&mut lan, "kiosk-1", "desk-1");

    // Step 3: a forged event at the end of time on a waiting visitor's ticket holds
    // up nothing either: the office takes no entry stamped outside its day (and a
    // day that held one would pass the ticket over: `model/tests/office_day.rs`).
    let stuck = lan.issue("kiosk-1", "anmeldung").unwrap();
    lan.settle();
    lan.forge(
        "kiosk-2",
        &Event::Ticket {
            ticket: stuck.clone(),
            stamp: end_of_time,
            event: TicketEvent::Returned,
        },
    );
    lan.settle();
    lan.advance(Duration::from_secs(1));
    let other = lan.issue("kiosk-1", "anmeldung").unwrap();
    lan.settle();
    assert_eq!(
        lan.day("desk-1").ticket(&stuck).unwrap().status,
        Status::Waiting
    );
    assert_eq!(lan.call_next("desk-1").unwrap(), stuck);
    lan.finish("desk-1").unwrap();
    assert_eq!(lan.call_next("desk-1").unwrap(), other);
    lan.finish("desk-1").unwrap();
    lan.settle();
    lan.check_converged();
}

#[test]
fn four_thousand_announced_days_end_no_session() {
    let mut lan = office(&["kiosk-1", "desk-1", "desk-2", "display"]);
    lan.open_desk("desk-1").unwrap();
    lan.issue("kiosk-1", "anmeldung").unwrap();
    lan.settle();
    let documents_before = lan.replica("kiosk-1").unwrap().document_names().len();

    // Step 1: the display announces four thousand future days to the kiosk, in two
    // frames, then the same names again.
    let days: Vec<DocumentName> = (1..=4000)
        .map(|n| {
            let date = the_date() + chrono::Days::new(n);
            aufruf_office::document_name(date).unwrap()
        })
        .collect();
    let (kiosk, display) = (lan.node("kiosk-1"), lan.node("display"));
    for _ in 0..2 {
        for half in days.chunks(2000) {
            assert!(lan.send_raw(display, kiosk, Frame::Announce(half.to_vec()).encode()));
        }
    }
    lan.deliver_all();
    lan.advance(Duration::from_secs(1));
    lan.settle();

    // Step 2: no session ended. The kiosk took the days a booking can reach (and
    // told its peers of them); it ignored the rest.
    assert!(
        lan.session_errors().is_empty(),
        "{:?}",
        lan.session_errors()
    );
    let last = lan.last_day_accepted();
    let reachable = days.iter().filter(|day| **day <= last).count();
    assert_eq!(reachable, 91);
    for name in ["kiosk-1", "desk-1", "desk-2", "display"] {
        let names = lan.replica(name).unwrap().document_names();
        assert!(
            names.len() <= documents_before + reachable,
            "{name} holds {} documents",
            names.len()
        );
        assert!(
            names
                .iter()
                .all(|n| *n <= last || *n == DocumentName::Office)
        );
    }

    the_office_carries_on(&mut lan, "kiosk-1", "desk-1");
}

#[test]
fn a_compressed_bomb_is_refused_before_inflating() {
    let mut lan = office(&["kiosk-1", "desk-1", "display"]);
    lan.open_desk("desk-1").unwrap();
    lan.issue("kiosk-1", "anmeldung").unwrap();
    lan.settle();

    // Step 1: the display sends the desk a sync message for today whose one chunk is
    // a compressed change: a megabyte that inflates to a gibibyte of zeros.
    let bomb = compressed_chunk_of_zeros(1 << 30);
    assert!(bomb.len() < 2 << 20, "{} bytes", bomb.len());
    let message = automerge::sync::Message {
        heads: Vec::new(),
        need: Vec::new(),
        have: Vec::new(),
        changes: automerge::sync::ChunkList::from(vec![bomb]),
        flags: None,
        version: automerge::sync::MessageVersion::V1,
    }
    .encode();
    let frame = Frame::Sync {
        name: today(),
        message,
    }
    .encode();
    let peak_before = peak_memory();
    let (desk, display) = (lan.node("desk-1"), lan.node("display"));
    assert!(lan.send_raw(display, desk, frame));
    lan.deliver_all();

    // Step 2: the desk refused it unread and ended the session; the process's memory
    // never held the inflated gibibyte.
    let grown = peak_memory().saturating_sub(peak_before);
    assert!(grown < 384 << 20, "peak memory grew by {grown} bytes");
    let closes = lan.take_closes();
    assert!(
        closes.iter().any(|(node, error)| *node == desk
            && matches!(error, SessionError::PackedChunk { chunk_type: 2, .. })),
        "{closes:?}"
    );
    let day = lan
        .replica("desk-1")
        .unwrap()
        .read(&today(), |doc| doc.length(automerge::ROOT))
        .unwrap();
    assert!(day > 0);

    the_office_carries_on(&mut lan, "kiosk-1", "desk-1");
}

#[test]
fn a_flooding_peer_is_cut_off_and_the_office_carries_on() {
    let mut lan = office(&["kiosk-1", "desk-1", "display"]);
    lan.open_desk("desk-1").unwrap();
    lan.settle();
    let limits = aufruf_sync::protocol::Limits::default();

    // Step 1: the display sends the desk heartbeats without end, far more within the
    // quota window than any office sends.
    let (desk, display) = (lan.node("desk-1"), lan.node("display"));
    let heartbeat = Frame::Heartbeat.encode();
    for _ in 0..limits.max_frames_per_window + 10 {
        lan.send_raw(display, desk, heartbeat.clone());
    }
    lan.deliver_all();

    // Step 2: the desk cut it off once it went over the quota.
    let closes = lan.take_closes();
    assert!(
        closes.iter().any(|(node, error)| *node == desk
            && matches!(error, SessionError::Flooding { what: "frames", .. })),
        "{closes:?}"
    );

    // Step 3: the display reconnects at once; the desk refuses it for a while. The
    // office carries on meanwhile.
    lan.connect(display, desk);
    lan.deliver_all();
    let closes = lan.take_closes();
    assert!(
        closes
            .iter()
            .any(|(node, error)| *node == desk && matches!(error, SessionError::CutOff(_))),
        "{closes:?}"
    );
    let ticket = lan.issue("kiosk-1", "anmeldung").unwrap();
    lan.deliver_all();
    assert_eq!(lan.call_next("desk-1").unwrap(), ticket);
    lan.finish("desk-1").unwrap();

    // Step 4: after the penalty it is back, and everyone converges.
    lan.run_for(limits.cut_off_for + Duration::from_secs(1));
    lan.take_closes();
    the_office_carries_on(&mut lan, "kiosk-1", "desk-1");
}

#[test]
fn frames_of_many_mebibytes_without_end_are_cut_off() {
    let mut lan = office(&["kiosk-1", "desk-1", "display"]);
    lan.open_desk("desk-1").unwrap();
    lan.issue("kiosk-1", "anmeldung").unwrap();
    lan.settle();
    let limits = aufruf_sync::protocol::Limits::default();

    // Step 1: the display pushes the desk a change the desk has, a thousand times in
    // each frame, frame after frame: every frame is valid, every frame costs the
    // desk parsing and hashing all of it.
    let (desk, display) = (lan.node("desk-1"), lan.node("display"));
    let (change, heads) = lan
        .replica("display")
        .unwrap()
        .read(&today(), |doc| {
            let change = doc.get_changes(&[]).last().unwrap().raw_bytes().to_vec();
            let heads: Vec<[u8; 32]> = doc.get_heads().iter().map(|h| h.0).collect();
            (change, heads)
        })
        .unwrap();
    let frame = Frame::Changes {
        name: today(),
        heads,
        changes: vec![change; limits.max_changes_per_frame],
    }
    .encode();
    let frames = limits.max_bytes_per_window / frame.len() + 2;
    assert!(frames < limits.max_frames_per_window);
    let mut sent = 0;
    while sent < frames && lan.send_raw(display, desk, frame.clone()) {
        // One at a time, so the test holds one frame, not the whole flood.
        lan.deliver_all();
        sent += 1;
    }

    // Step 2: the desk cut it off once the bytes went over the quota.
    let closes = lan.take_closes();
    assert!(
        closes.iter().any(|(node, error)| *node == desk
            && matches!(error, SessionError::Flooding { what: "bytes", .. })),
        "{closes:?} after {sent} frames of {} bytes",
        frame.len()
    );

    lan.run_for(limits.cut_off_for + Duration::from_secs(1));
    lan.take_closes();
    the_office_carries_on(&mut lan, "kiosk-1", "desk-1");
}

/// An automerge chunk of type 2 (a compressed change) whose body is `len` zero bytes
/// deflated.
fn compressed_chunk_of_zeros(len: u64) -> Vec<u8> {
    use std::io::Read;
    let mut deflated = Vec::new();
    flate2::read::DeflateEncoder::new(std::io::repeat(0).take(len), flate2::Compression::default())
        .read_to_end(&mut deflated)
        .unwrap();
    let mut chunk = vec![0x85, 0x6f, 0x4a, 0x83, 1, 2, 3, 4, 2];
    let mut rest = deflated.len() as u64;
    loop {
        let byte = (rest & 0x7f) as u8;
        rest >>= 7;
        if rest == 0 {
            chunk.push(byte);
            break;
        }
        chunk.push(byte | 0x80);
    }
    chunk.extend_from_slice(&deflated);
    chunk
}

/// The most memory this process has held so far (Linux: `VmHWM`), in bytes.
fn peak_memory() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status
        .lines()
        .find(|line| line.starts_with("VmHWM:"))
        .unwrap();
    let kib: u64 = line
        .split_whitespace()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap();
    kib * 1024
}
