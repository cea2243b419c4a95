//! Byte-level snapshots of ticket streams: what exactly goes to the printer.
//!
//! The dump shows printable text as is and every other byte as `<hex>`, with a
//! line break after each LF so the ticket's lines stay readable.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic

use aufruf_hardware::layout::ticket_bytes;
use aufruf_hardware::{Language, QrMode, TicketSlip};
use chrono::NaiveDate;
use expect_test::expect;

fn slip(language: Language) -> TicketSlip {
    TicketSlip {
        office_name: "Bürgerbüro Zeitz".to_owned(),
        number: "A 017".to_owned(),
        service: match language {
            Language::De => "Führerschein & Straßenverkehr".to_owned(),
            Language::En => "Driving licence".to_owned(),
        },
        visitors_ahead: Some(3),
        estimate_minutes: Some(12),
        issued_at: NaiveDate::from_ymd_opt(2026, 3, 11)
            .and_then(|d| d.and_hms_opt(9, 5, 0))
            .expect("valid date"),
        status_url: Some("https://termine.zeitz.de/t/7f3a9c2e".to_owned()),
        language,
    }
}

fn dump(bytes: &[u8]) -> String {
    let mut out = String::new();
    let mut at = 0;
    while at < bytes.len() {
        match bytes[at..] {
            // ESC d n: print and feed, the end of a printed line.
            [0x1B, b'd', n, ..] => {
                out.push_str(&format!("<1b>d<{n:02x}>\n"));
                at += 3;
                continue;
            }
            [b'\n', ..] => out.push_str("<0a>\n"),
            [byte @ 0x20..=0x7E, ..] => out.push(char::from(byte)),
            [byte, ..] => out.push_str(&format!("<{byte:02x}>")),
            [] => break,
        }
        at += 1;
    }
    out
}

#[test]
fn german_ticket_with_native_qr() {
    let bytes = ticket_bytes(&slip(Language::De), QrMode::Native).unwrap();
    expect![[r#"
        <1b>@<1b>t<13><1b>a<01><1b>E<01>B<81>rgerb<81>ro Zeitz<1b>d<01>
        <1b>E<00><1b>d<01>
        Ihre Nummer<1b>d<01>
        <1d>!3<1b>E<01>A 017<1b>d<01>
        <1b>E<00><1d>!<00>F<81>hrerschein & Stra<e1>enverkehr<1b>d<01>
        <1b>d<01>
        <1d>!<01>Vor Ihnen warten 3 Personen<1b>d<01>
        ca. 12 Minuten<1b>d<01>
        <1d>!<00><1b>d<01>
        11.03.2026, 09:05 Uhr<1b>d<01>
        <1b>d<01>
        Wartezeit auf dem Handy verfolgen:<1b>d<01>
        <1d>(k<04><00>1A2<00><1d>(k<03><00>1C<06><1d>(k<03><00>1E1<1d>(k&<00>1P0https://termine.zeitz.de/t/7f3a9c2e<1d>(k<03><00>1Q0<1b>d<01>
        https://termine.zeitz.de/t/7f3a9c2e<1b>d<01>
        <1b>d<03>
        <1d>VA<00>"#]].assert_eq(&dump(&bytes));
}

#[test]
fn english_ticket_without_estimate() {
    let mut slip = slip(Language::En);
    slip.estimate_minutes = None;
    slip.visitors_ahead = Some(1);
    let bytes = ticket_bytes(&slip, QrMode::Native).unwrap();
    expect![[r#"
        <1b>@<1b>t<13><1b>a<01><1b>E<01>B<81>rgerb<81>ro Zeitz<1b>d<01>
        <1b>E<00><1b>d<01>
        Your number<1b>d<01>
        <1d>!3<1b>E<01>A 017<1b>d<01>
        <1b>E<00><1d>!<00>Driving licence<1b>d<01>
        <1b>d<01>
        <1d>!<01>1 visitor ahead of you<1b>d<01>
        <1d>!<00><1b>d<01>
        11 Mar 2026, 09:05<1b>d<01>
        <1b>d<01>
        Follow your ticket on your phone:<1b>d<01>
        <1d>(k<04><00>1A2<00><1d>(k<03><00>1C<06><1d>(k<03><00>1E1<1d>(k&<00>1P0https://termine.zeitz.de/t/7f3a9c2e<1d>(k<03><00>1Q0<1b>d<01>
        https://termine.zeitz.de/t/7f3a9c2e<1b>d<01>
        <1b>d<03>
        <1d>VA<00>"#]].assert_eq(&dump(&bytes));
}

#[test]
fn raster_qr_replaces_the_qr_command_with_an_image() {
    let bytes = ticket_bytes(&slip(Language::De), QrMode::Raster).unwrap();
    let start = bytes
        .windows(3)
        .position(|w| w == [0x1D, b'v', b'0'])
        .expect("a raster image");
    let header = &bytes[start..start + 8];
    let row_bytes = usize::from(header[4]) + 256 * usize::from(header[5]);
    let rows = usize::from(header[6]) + 256 * usize::from(header[7]);
    let end = start + 8 + row_bytes * rows;
    let summary = format!(
        "{}[raster {row_bytes} bytes x {rows} rows]{}",
        dump(&bytes[..start + 8]),
        dump(&bytes[end..])
    );
    assert!(!bytes.windows(3).any(|w| w == [0x1D, b'(', b'k']));
    expect![[r#"
        <1b>@<1b>t<13><1b>a<01><1b>E<01>B<81>rgerb<81>ro Zeitz<1b>d<01>
        <1b>E<00><1b>d<01>
        Ihre Nummer<1b>d<01>
        <1d>!3<1b>E<01>A 017<1b>d<01>
        <1b>E<00><1d>!<00>F<81>hrerschein & Stra<e1>enverkehr<1b>d<01>
        <1b>d<01>
        <1d>!<01>Vor Ihnen warten 3 Personen<1b>d<01>
        ca. 12 Minuten<1b>d<01>
        <1d>!<00><1b>d<01>
        11.03.2026, 09:05 Uhr<1b>d<01>
        <1b>d<01>
        Wartezeit auf dem Handy verfolgen:<1b>d<01>
        <1d>v0<00><16><00><ae><00>[raster 22 bytes x 174 rows]<1b>d<01>
        https://termine.zeitz.de/t/7f3a9c2e<1b>d<01>
        <1b>d<03>
        <1d>VA<00>"#]]
    .assert_eq(&summary);
}

/// Regression: escpos 0.20 encodes the ASCII hyphen as 0xF0 (the soft hyphen) in
/// code page 858, so "kiosk-1-2" printed as "kiosk 1 2".
#[test]
fn hyphens_in_the_address_print_as_hyphens() {
    let mut slip = slip(Language::De);
    slip.status_url = Some("http://localhost:7380/t/kiosk-1-2".to_owned());
    let bytes = ticket_bytes(&slip, QrMode::Native).unwrap();
    let text = dump(&bytes);
    assert!(
        text.contains("\nhttp://localhost:7380/t/kiosk-1-2<1b>d<01>"),
        "{text}"
    );
    assert!(!text.contains("<f0>"), "{text}");
}
