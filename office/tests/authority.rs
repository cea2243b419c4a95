//! Who may write what, told with stolen keys: the entries a display's or a desk's key
//! writes beyond its role, forged or altered by a relaying peer, or written after its
//! revocation do not count anywhere, and the office carries on. (Stand-in keys; the
//! same attacks with real ECDSA keys over real TLS are in `aufruf-node`'s
//! `attack_authority` tests.)

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use std::sync::{Arc, Mutex};
use std::time::Duration;

use aufruf_hardware::Language;
use aufruf_model::{DeskId, NodeId, Role, ServiceId, Timestamp, node_id};
use aufruf_office::authority::seal;
use aufruf_office::memory::MemoryReplica;
use aufruf_office::office_doc::{Revocation, SignedRevocation};
use aufruf_office::testing::{TestSigner, admin_sign, test_keys};
use aufruf_office::{
    DeskAction, DeskService, Documents, KioskService, OfficeError, OfficeService, ServiceError,
    Setup, Wish, document_name,
};
use automerge::transaction::Transactable;
use automerge::{ROOT, ReadDoc};
use chrono::NaiveDate;

/// Wednesday, 25 November 2026, at `hh:mm` office time.
fn wednesday(hh: u64, mm: u64) -> Timestamp {
    let start = aufruf_model::calendar::day_start(
        chrono_tz::Europe::Berlin,
        NaiveDate::from_ymd_opt(2026, 11, 25).unwrap(),
    );
    start + Duration::from_secs(hh * 3600 + mm * 60)
}

#[derive(Debug, Default)]
struct Refusals(Mutex<Vec<&'static str>>);

impl aufruf_office::Observer for Refusals {
    fn call_arrived(&self, _: Duration) {}
    fn entry_refused(&self, reason: &'static str) {
        self.0.lock().unwrap().push(reason);
    }
}

fn service_on(
    node: &NodeId,
    role: Role,
    replica: &MemoryReplica,
    refusals: &Arc<Refusals>,
) -> Arc<OfficeService<MemoryReplica>> {
    Arc::new(OfficeService::new(
        aufruf_office::example_office().unwrap(),
        Setup {
            office: "zeitz".parse().unwrap(),
            node: node.clone(),
            retention_days: 7,
        },
        replica.clone(),
        refusals.clone(),
        test_keys(node, role),
    ))
}

/// A kiosk and desk 1 on one replica, and a thief's replica holding a copy of the
/// office that it writes into with a stolen key and hands back, as a peer would.
struct Office {
    replica: MemoryReplica,
    kiosk: KioskService<MemoryReplica>,
    desk: DeskService<MemoryReplica>,
    refusals: Arc<Refusals>,
    date: NaiveDate,
}

impl Office {
    fn new() -> Self {
        let replica = MemoryReplica::new();
        let refusals = Arc::new(Refusals::default());
        let kiosk = KioskService::new(
            service_on(&node_id!("kiosk-1"), Role::Kiosk, &replica, &refusals),
            None,
            None,
        );
        let desk = DeskService::new(
            service_on(&node_id!("desk-1"), Role::Desk, &replica, &refusals),
            DeskId::new("desk-1"),
            wednesday(8, 0),
        )
        .unwrap();
        desk.act(wednesday(8, 0), DeskAction::Open { services: vec![] })
            .unwrap();
        Office {
            replica,
            kiosk,
            desk,
            refusals,
            date: NaiveDate::from_ymd_opt(2026, 11, 25).unwrap(),
        }
    }

    fn draw(&self, at: Timestamp) -> String {
        self.draw_ticket(at).1
    }

    /// Draws a ticket: its document key (`ticket:<id>`) and number.
    fn draw_ticket(&self, at: Timestamp) -> (String, String) {
        let ticket = walk_in(&self.kiosk, at).unwrap().ticket;
        (format!("ticket:{}", ticket.id), ticket.number)
    }

    /// The thief, enrolled as `node` in `role`: its certificate is in the office
    /// document like every node's, and it writes `entries` (key, entry, body)
    /// sealed with its key into today's document (an empty entry: the value of the
    /// key itself, as a booking is).
    fn thief_writes(&self, node: &NodeId, role: Role, entries: &[(String, String, String)]) {
        let thief = MemoryReplica::new();
        thief.receive_from(&self.replica);
        let signer = TestSigner::new(node, role);
        aufruf_office::office_doc::keep_certificate(&mut thief.clone(), &signer).unwrap();
        let name = document_name(self.date).unwrap();
        let document = name.to_string();
        thief
            .clone()
            .change_durably(&name, &mut |tx| {
                for (key, entry, body) in entries {
                    let sealed = seal(&signer, &document, key, entry, body).unwrap();
                    if entry.is_empty() {
                        tx.put(ROOT, key.as_str(), sealed)?;
                        continue;
                    }
                    let map = match tx.get(ROOT, key.as_str())? {
                        Some((automerge::Value::Object(_), id)) => id,
                        _ => tx.put_object(ROOT, key.as_str(), automerge::ObjType::Map)?,
                    };
                    tx.put(&map, entry.as_str(), sealed)?;
                }
                Ok(())
            })
            .unwrap();
        self.replica.receive_from(&thief);
        self.refresh(wednesday(9, 0));
    }

    /// The administrator revokes `node` from `at` on, through the kiosk's node,
    /// naming the office's documents as it holds them (as `aufruf office revoke`
    /// does).
    fn revoke(&self, node: &NodeId, at: Timestamp) {
        let revocation = SignedRevocation::new(
            &Revocation {
                office: "zeitz".into(),
                node: node.clone(),
                from_ms: ms(at),
                documents: Some(self.kiosk.office().held_documents()),
            },
            admin_sign,
        )
        .unwrap();
        self.kiosk.office().revoke(at, &revocation).unwrap();
    }

    /// The status of each of the day's tickets, as the kiosk's node sees it at `at`.
    fn statuses(&self, at: Timestamp) -> Vec<String> {
        let day = self.kiosk.office().day_view(at).unwrap();
        day.tickets
            .iter()
            .map(|t| format!("{:?}", t.status))
            .collect()
    }

    /// Both services catch up, as a node does when its replica reports a change.
    fn refresh(&self, now: Timestamp) {
        self.kiosk.office().refresh(now);
        self.desk.office().refresh(now);
    }

    /// Why entries were refused (each reason once: the kiosk's and the desk's
    /// services both read and report them).
    fn refused(&self) -> Vec<&'static str> {
        let mut reasons = self.refusals.0.lock().unwrap().clone();
        reasons.sort_unstable();
        reasons.dedup();
        reasons
    }
}

/// A walk-in ticket for "anmeldung" drawn at `kiosk`.
fn walk_in(
    kiosk: &KioskService<MemoryReplica>,
    at: Timestamp,
) -> Result<aufruf_office::views::IssuedView, ServiceError> {
    kiosk.draw_ticket(at, &ServiceId::new("anmeldung"), Wish::Qr, Language::De)
}

/// Desk 2 calls `ticket` at `at`: the entry its key writes.
fn desk_2_calls(ticket: &str, at: Timestamp) -> (String, String, String) {
    (
        ticket.to_owned(),
        stamp_id(ms(at), "desk-2"),
        r#"{"Called":{"desk":"desk-2"}}"#.to_owned(),
    )
}

/// Desk 2 (its key in the thief's hands) opens at 8:01 and calls `ticket` at 8:10.
fn desk_2_opens_and_calls(office: &Office, ticket: &str) {
    office.thief_writes(
        &node_id!("desk-2"),
        Role::Desk,
        &[
            (
                "desk:desk-2".into(),
                stamp_id(ms(wednesday(8, 1)), "desk-2"),
                r#"{"Opened":{"services":[]}}"#.into(),
            ),
            desk_2_calls(ticket, wednesday(8, 10)),
        ],
    );
}

fn stamp_id(ms: u64, node: &str) -> String {
    format!("{ms}.0.{node}")
}

fn ms(at: Timestamp) -> u64 {
    at.as_millis()
}

#[test]
fn a_display_key_cannot_issue_in_a_kiosks_name_nor_use_up_its_numbers() {
    let office = Office::new();
    assert_eq!(office.draw(wednesday(8, 5)), "U 001");
    let issue_999 = r#"{"Issued":{"number":{"prefix":"U","number":999},"service":"anmeldung","origin":"WalkIn"}}"#;
    office.thief_writes(
        &node_id!("display-1"),
        Role::Display,
        &[
            // In the kiosk's name (the stamp names the kiosk, the seal the display).
            (
                "ticket:kiosk-1/2".into(),
                stamp_id(ms(wednesday(8, 6)), "kiosk-1"),
                issue_999.into(),
            ),
            // As itself.
            (
                "ticket:display-1/1".into(),
                stamp_id(ms(wednesday(8, 6)), "display-1"),
                issue_999.into(),
            ),
        ],
    );
    assert_eq!(
        office.draw(wednesday(8, 10)),
        "U 002",
        "the kiosk's numbers go on"
    );
    office.refresh(wednesday(8, 10));
    let waiting = office.desk.view(wednesday(8, 10)).unwrap().waiting_for_desk;
    assert_eq!(waiting, 2, "only the kiosk's two tickets wait");
    let refused = office.refused();
    assert!(refused.contains(&"not_the_stamper"), "{refused:?}");
    assert!(refused.contains(&"wrong_role"), "{refused:?}");
}

#[test]
fn a_desk_key_calls_for_its_own_desk_only() {
    let office = Office::new();
    let (ticket, _) = office.draw_ticket(wednesday(8, 5));
    office.thief_writes(
        &node_id!("desk-2"),
        Role::Desk,
        &[(
            ticket,
            stamp_id(ms(wednesday(8, 6)), "desk-2"),
            r#"{"Called":{"desk":"desk-1"}}"#.into(),
        )],
    );
    // Desk 1 still calls the visitor itself.
    let view = office
        .desk
        .act(wednesday(8, 7), DeskAction::CallNext)
        .unwrap();
    assert_eq!(view.current.unwrap().number, "U 001");
    assert_eq!(office.refused(), ["other_desk"]);
}

#[test]
fn a_stamp_at_the_end_of_time_blocks_no_later_action() {
    let office = Office::new();
    office.draw(wednesday(8, 5));
    office.thief_writes(
        &node_id!("kiosk-1"),
        Role::Kiosk,
        &[(
            "ticket:kiosk-1/7".into(),
            stamp_id(u64::MAX - 1, "kiosk-1"),
            r#"{"Issued":{"number":{"prefix":"U","number":7},"service":"anmeldung","origin":"WalkIn"}}"#.into(),
        )],
    );
    assert_eq!(office.draw(wednesday(8, 10)), "U 002");
    office
        .desk
        .act(wednesday(8, 11), DeskAction::CallNext)
        .unwrap();
    assert_eq!(office.refused(), ["outside_day"]);
}

#[test]
fn an_entry_altered_by_a_relaying_peer_does_not_count() {
    let office = Office::new();
    let (ticket, _) = office.draw_ticket(wednesday(8, 5));
    // The relay swaps the service of the kiosk's sealed issue, keeping the seal.
    let relay = MemoryReplica::new();
    relay.receive_from(&office.replica);
    let name = document_name(office.date).unwrap();
    relay
        .clone()
        .change_durably(&name, &mut |tx| {
            let id = ticket.trim_start_matches("ticket:").parse().unwrap();
            let map = aufruf_office::day_doc::ticket_map(tx, &id).unwrap();
            let keys: Vec<String> = tx.keys(&map).collect();
            let (value, _) = tx.get(&map, keys[0].as_str())?.unwrap();
            let automerge::Value::Scalar(sealed) = value else {
                panic!("a sealed event is a scalar")
            };
            let automerge::ScalarValue::Bytes(sealed) = sealed.as_ref() else {
                panic!("a sealed event is bytes")
            };
            // The body is the seal's tail.
            let needle = b"anmeldung";
            let at = sealed
                .windows(needle.len())
                .rposition(|w| w == needle)
                .expect("the service is in the body");
            let mut altered = sealed[..at].to_vec();
            altered.extend_from_slice(b"reisepass");
            altered.extend_from_slice(&sealed[at + needle.len()..]);
            tx.put(&map, keys[0].as_str(), altered)?;
            Ok(())
        })
        .unwrap();
    // A fresh reader that never saw the original.
    let fresh = MemoryReplica::new();
    fresh.receive_from(&relay);
    let refusals = Arc::new(Refusals::default());
    let reader = service_on(&node_id!("display-1"), Role::Display, &fresh, &refusals);
    reader.refresh(wednesday(8, 6));
    assert_eq!(reader.display_view().waiting_total, 0);
    assert_eq!(*refusals.0.lock().unwrap(), ["bad_signature"]);
}

#[test]
fn an_event_waits_for_its_authors_certificate_and_then_counts() {
    let office = Office::new();
    // A second kiosk's ticket reaches this node before the office document with
    // that kiosk's certificate does.
    let kiosk_2 = MemoryReplica::new();
    let k2 = KioskService::new(
        service_on(&node_id!("kiosk-2"), Role::Kiosk, &kiosk_2, &Arc::default()),
        None,
        None,
    );
    k2.draw_ticket(
        wednesday(8, 5),
        &ServiceId::new("anmeldung"),
        Wish::Qr,
        Language::De,
    )
    .unwrap();
    let name = document_name(office.date).unwrap();
    office.replica.receive_document_from(&kiosk_2, &name);
    office.refresh(wednesday(8, 6));
    assert_eq!(
        office.desk.view(wednesday(8, 6)).unwrap().waiting_for_desk,
        0
    );
    assert!(office.refused().is_empty(), "waiting is not refusing");
    office
        .replica
        .receive_document_from(&kiosk_2, &aufruf_sync_protocol::DocumentName::Office);
    office.refresh(wednesday(8, 7));
    assert_eq!(
        office.desk.view(wednesday(8, 7)).unwrap().waiting_for_desk,
        1
    );
}

#[test]
fn a_revoked_desk_counts_until_its_revocation_and_not_after() {
    let office = Office::new();
    let (first, _) = office.draw_ticket(wednesday(8, 5));
    let (second, _) = office.draw_ticket(wednesday(8, 6));
    let revoked_at = wednesday(8, 30);
    desk_2_opens_and_calls(&office, &first);
    let signed = SignedRevocation::new(
        &Revocation {
            office: "zeitz".into(),
            node: node_id!("desk-2"),
            from_ms: ms(revoked_at),
            documents: None,
        },
        admin_sign,
    )
    .unwrap();
    let forged = SignedRevocation {
        signature: "00".repeat(8),
        ..signed.clone()
    };
    assert!(
        office
            .kiosk
            .office()
            .revoke(wednesday(8, 30), &forged)
            .is_err()
    );
    office
        .kiosk
        .office()
        .revoke(wednesday(8, 30), &signed)
        .unwrap();
    office.refresh(wednesday(8, 30));
    assert!(
        office
            .desk
            .office()
            .subscribe_revoked()
            .borrow()
            .contains_key(&node_id!("desk-2"))
    );
    office.thief_writes(
        &node_id!("desk-2"),
        Role::Desk,
        &[desk_2_calls(&second, wednesday(8, 40))],
    );
    assert_eq!(
        office.statuses(wednesday(8, 45)),
        ["Called", "Waiting"],
        "the call before the revocation counts, the one after not"
    );
    assert!(office.refused().contains(&"revoked"));
}

#[test]
fn a_renewed_certificate_keeps_the_earlier_events_and_an_ended_one_writes_nothing() {
    let replica = MemoryReplica::new();
    let refusals = Arc::new(Refusals::default());
    let kiosk = node_id!("kiosk-1");
    let with_certificate = |signer: TestSigner| {
        let keys = aufruf_office::replicated::Keys {
            signer: Arc::new(signer),
            authority: Arc::new(aufruf_office::testing::TestAuthority),
        };
        let office = Arc::new(OfficeService::new(
            aufruf_office::example_office().unwrap(),
            Setup {
                office: "zeitz".parse().unwrap(),
                node: kiosk.clone(),
                retention_days: 7,
            },
            replica.clone(),
            refusals.clone(),
            keys,
        ));
        KioskService::new(office, None, None)
    };
    let draw = |k: &KioskService<MemoryReplica>, at| walk_in(k, at).unwrap();
    // The first certificate ends at 09:00; the kiosk is enrolled again before.
    let first = with_certificate(TestSigner::valid(
        &kiosk,
        Role::Kiosk,
        0,
        ms(wednesday(9, 0)),
    ));
    draw(&first, wednesday(8, 5));
    let renewed = with_certificate(TestSigner::valid(&kiosk, Role::Kiosk, 0, u64::MAX));
    draw(&renewed, wednesday(9, 30));
    // A reader that starts now counts both tickets.
    let reader = service_on(&node_id!("display-1"), Role::Display, &replica, &refusals);
    reader.refresh(wednesday(9, 31));
    assert_eq!(reader.display_view().waiting_total, 2);
    // With the ended certificate (a key taken from a retired kiosk) the office
    // writes nothing ...
    let ended_signer = TestSigner::valid(&kiosk, Role::Kiosk, 0, ms(wednesday(9, 0)));
    let ended = with_certificate(ended_signer.clone());
    let drawn = walk_in(&ended, wednesday(9, 40));
    assert!(
        matches!(
            drawn,
            Err(ServiceError::Office(OfficeError::CertificateEnded(_)))
        ),
        "{drawn:?}"
    );
    // ... and what a thief seals with it anyway counts nowhere.
    let name = document_name(NaiveDate::from_ymd_opt(2026, 11, 25).unwrap()).unwrap();
    let document = name.to_string();
    replica
        .clone()
        .change_durably(&name, &mut |tx| {
            let key = "ticket:kiosk-1~00000009/9";
            let body = r#"{"Issued":{"number":{"prefix":"U","number":9},"service":"anmeldung","origin":"WalkIn"}}"#;
            let entry = stamp_id(ms(wednesday(9, 40)), "kiosk-1");
            let sealed = seal(&ended_signer, &document, key, &entry, body).unwrap();
            let map = tx.put_object(ROOT, key, automerge::ObjType::Map)?;
            tx.put(&map, entry.as_str(), sealed)?;
            Ok(())
        })
        .unwrap();
    let fresh = MemoryReplica::new();
    fresh.receive_from(&replica);
    let late_reader = service_on(&node_id!("display-2"), Role::Display, &fresh, &refusals);
    late_reader.refresh(wednesday(9, 41));
    assert_eq!(
        late_reader.display_view().waiting_total,
        2,
        "the ticket sealed after the certificate ended does not count"
    );
    assert!(refusals.0.lock().unwrap().contains(&"outside_validity"));
}

#[test]
fn a_revoked_node_writes_nothing_itself() {
    let office = Office::new();
    office.draw(wednesday(8, 5));
    office.revoke(&node_id!("kiosk-1"), wednesday(8, 30));
    office.refresh(wednesday(8, 31));
    let drawn = walk_in(&office.kiosk, wednesday(8, 35));
    assert!(
        matches!(
            drawn,
            Err(ServiceError::Office(OfficeError::CertificateEnded(
                "was revoked"
            )))
        ),
        "{drawn:?}"
    );
}

#[test]
fn a_revocation_or_certificate_a_thief_deletes_from_the_office_document_still_counts() {
    let office = Office::new();
    office.draw(wednesday(8, 5));
    office.revoke(&node_id!("desk-2"), wednesday(8, 30));
    // The thief (desk-2 itself) deletes its revocation and every certificate from
    // the office document, and overwrites the kiosk's with junk.
    office
        .replica
        .clone()
        .change_durably(&aufruf_sync_protocol::DocumentName::Office, &mut |tx| {
            let keys: Vec<String> = tx.keys(ROOT).collect();
            for key in keys {
                if key.starts_with("revoked:") {
                    tx.delete(ROOT, key.as_str())?;
                } else if key.starts_with("certificate:") {
                    tx.put(
                        ROOT,
                        key.as_str(),
                        automerge::ScalarValue::Bytes(vec![0; 8]),
                    )?;
                    tx.delete(ROOT, key.as_str())?;
                }
            }
            Ok(())
        })
        .unwrap();
    let current: Vec<String> = office
        .replica
        .read_document(&aufruf_sync_protocol::DocumentName::Office, |doc| {
            doc.keys(ROOT).collect()
        })
        .unwrap();
    assert!(
        current
            .iter()
            .all(|k| !k.starts_with("revoked:") && !k.starts_with("certificate:")),
        "{current:?}"
    );
    // A node that starts now still knows desk-2 is revoked and still counts the
    // kiosk's ticket.
    let refusals = Arc::new(Refusals::default());
    let late = service_on(
        &node_id!("display-1"),
        Role::Display,
        &office.replica,
        &refusals,
    );
    late.refresh(wednesday(8, 40));
    assert!(
        late.subscribe_revoked()
            .borrow()
            .contains_key(&node_id!("desk-2"))
    );
    assert_eq!(late.display_view().waiting_total, 1);
}

/// A booking of "anmeldung" at 9:30 today, as the gateway writes it: its key and body.
fn booking(code: &str) -> (String, String, String) {
    let appointment = aufruf_model::Appointment {
        cancelled: false,
        code: aufruf_model::BookingCode::new(code),
        service: ServiceId::new("anmeldung"),
        due: wednesday(9, 30),
        also: Vec::new(),
    };
    (
        format!("booking:{code}"),
        String::new(),
        serde_json::to_string(&appointment).unwrap(),
    )
}

#[test]
fn a_stolen_key_writes_nothing_into_the_past_once_revoked() {
    let office = Office::new();
    let (first, _) = office.draw_ticket(wednesday(8, 5));
    let (second, _) = office.draw_ticket(wednesday(8, 6));
    // Before the revocation: desk-2 opens and calls the first visitor, and the
    // gateway books an appointment.
    desk_2_opens_and_calls(&office, &first);
    office.thief_writes(&node_id!("gateway"), Role::Gateway, &[booking("ZT-1")]);
    office.revoke(&node_id!("desk-2"), wednesday(8, 30));
    office.revoke(&node_id!("gateway"), wednesday(8, 30));
    office.refresh(wednesday(8, 30));
    // Afterwards the stolen keys write into the past: a call stamped before the
    // revocation, and a booking, which carries no stamp at all.
    office.thief_writes(
        &node_id!("desk-2"),
        Role::Desk,
        &[desk_2_calls(&second, wednesday(8, 20))],
    );
    office.thief_writes(&node_id!("gateway"), Role::Gateway, &[booking("ZT-2")]);

    assert_eq!(
        office.statuses(wednesday(8, 45)),
        ["Called", "Waiting"],
        "the call the office held counts, the backdated one not"
    );
    office
        .kiosk
        .check_in(wednesday(8, 45), "ZT-1", Wish::Qr, Language::De)
        .expect("the booking made before the revocation stays");
    let later = office
        .kiosk
        .check_in(wednesday(8, 46), "ZT-2", Wish::Qr, Language::De)
        .unwrap_err();
    assert!(
        matches!(
            later,
            ServiceError::Office(OfficeError::Action(
                aufruf_model::ActionError::UnknownBooking(_)
            ))
        ),
        "the booking written after the revocation: {later:?}"
    );
    assert!(office.refused().contains(&"revoked"));
}

#[test]
fn what_a_revocation_held_counts_once_the_heads_it_names_arrive() {
    // The administrator revokes desk-2 through a node that holds desk-2's call and,
    // after it, desk-2 pausing. This office has the call, but hears of the revocation
    // before the pause reaches it.
    let office = Office::new();
    let (first, _) = office.draw_ticket(wednesday(8, 5));
    let revoking = MemoryReplica::new();
    revoking.receive_from(&office.replica);
    let signer = TestSigner::new(&node_id!("desk-2"), Role::Desk);
    aufruf_office::office_doc::keep_certificate(&mut revoking.clone(), &signer).unwrap();
    let name = document_name(office.date).unwrap();
    let document = name.to_string();
    let write = |entries: &[(String, String, &str)]| {
        revoking
            .clone()
            .change_durably(&name, &mut |tx| {
                for (key, entry, body) in entries {
                    let sealed = seal(&signer, &document, key, entry, body).unwrap();
                    let map = match tx.get(ROOT, key.as_str())? {
                        Some((automerge::Value::Object(_), id)) => id,
                        _ => tx.put_object(ROOT, key.as_str(), automerge::ObjType::Map)?,
                    };
                    tx.put(&map, entry.as_str(), sealed)?;
                }
                Ok(())
            })
            .unwrap();
    };
    write(&[
        (
            "desk:desk-2".to_owned(),
            stamp_id(ms(wednesday(8, 1)), "desk-2"),
            r#"{"Opened":{"services":[]}}"#,
        ),
        (
            first.clone(),
            stamp_id(ms(wednesday(8, 10)), "desk-2"),
            r#"{"Called":{"desk":"desk-2"}}"#,
        ),
    ]);
    let with_the_call = MemoryReplica::new();
    with_the_call.receive_from(&revoking);
    write(&[(
        "desk:desk-2".to_owned(),
        stamp_id(ms(wednesday(8, 20)), "desk-2"),
        r#""Paused""#,
    )]);
    let heads = revoking
        .read_document(&name, |doc| doc.get_heads())
        .unwrap()
        .iter()
        .map(ToString::to_string)
        .collect();
    let revocation = SignedRevocation::new(
        &Revocation {
            office: "zeitz".into(),
            node: node_id!("desk-2"),
            from_ms: ms(wednesday(8, 30)),
            documents: Some([(document.clone(), heads)].into()),
        },
        admin_sign,
    )
    .unwrap();
    office.replica.receive_from(&with_the_call);
    office
        .kiosk
        .office()
        .revoke(wednesday(8, 30), &revocation)
        .unwrap();
    office.refresh(wednesday(8, 31));
    assert_eq!(
        office.statuses(wednesday(8, 45)),
        ["Waiting"],
        "nothing of desk-2 counts while the heads the revocation names are not all here"
    );
    // The pause arrives: every head named is here, and all they held counts,
    // the call that arrived before them too.
    office.replica.receive_from(&revoking);
    office.refresh(wednesday(8, 40));
    assert_eq!(office.statuses(wednesday(8, 45)), ["Called"]);
}

#[test]
fn a_revocation_naming_too_much_or_garbled_documents_is_refused() {
    let office = Office::new();
    office.draw_ticket(wednesday(8, 5));
    let revoke = |documents: std::collections::BTreeMap<String, Vec<String>>| {
        let revocation = SignedRevocation::new(
            &Revocation {
                office: "zeitz".into(),
                node: node_id!("desk-2"),
                from_ms: ms(wednesday(8, 30)),
                documents: Some(documents),
            },
            admin_sign,
        )
        .unwrap();
        office.kiosk.office().revoke(wednesday(8, 30), &revocation)
    };
    let held = office.kiosk.office().held_documents();
    assert_eq!(held.len(), 1, "{held:?}");
    let head = held.values().next().unwrap()[0].clone();
    for garbled in [
        [("office".to_owned(), vec![head.clone()])].into(),
        [("day/2026-11-25x".to_owned(), vec![head.clone()])].into(),
        [("day/2026-11-25".to_owned(), vec!["zz".repeat(32)])].into(),
        [("day/2026-11-25".to_owned(), vec![])].into(),
        [("day/2026-11-25".to_owned(), vec![head.clone(); 33])].into(),
        (0..801)
            .map(|n| {
                let date = NaiveDate::from_ymd_opt(2026, 1, 1).unwrap() + chrono::Days::new(n);
                (format!("day/{date}"), vec![head.clone()])
            })
            .collect(),
    ] {
        assert!(
            matches!(revoke(garbled), Err(ServiceError::RevocationRefused)),
            "refused"
        );
    }
    revoke(held).unwrap();
}
