//! A regression pinned by the simulated LAN: a peer change that a full disk refused
//! must not hide the node's own later, acknowledged changes after a restart.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use aufruf_tests::Lan;

#[test]
fn a_change_a_full_disk_dropped_does_not_hide_later_acknowledged_changes() {
    let mut lan = Lan::new(1);
    for name in ["kiosk-1", "desk-1"] {
        lan.add_node(name);
    }
    lan.open_desk("desk-1").unwrap();
    lan.issue("kiosk-1", "anmeldung").unwrap();
    lan.settle();
    // Step 1: the desk's call reaches the kiosk, but not the kiosk's full disk.
    lan.fill_disk("kiosk-1");
    lan.call_next("desk-1").unwrap();
    lan.settle();
    // Step 2: with space again the kiosk prints U 002, which depends on that call.
    lan.free_disks();
    let second = lan.issue("kiosk-1", "anmeldung").unwrap();
    // Step 3: the kiosk loses power and restarts cut off from the desk.
    let kiosk = lan.node("kiosk-1");
    lan.crash_keeping(kiosk, 0);
    lan.partition(&[&["desk-1"], &["kiosk-1"]]);
    lan.restart_unchecked(kiosk);
    assert!(
        lan.day("kiosk-1").ticket(&second).is_some(),
        "U 002 printed by kiosk 1 is not in its day after the restart"
    );
    let next = lan.issue("kiosk-1", "anmeldung").unwrap();
    assert_ne!(next, second, "the kiosk reused a number it had printed");
    lan.heal();
    lan.settle();
    lan.check_converged();
}
