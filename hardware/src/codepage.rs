//! Code page 858 (PC858, Western European with €), the code page tickets are
//! printed in: it holds ä, ö, ü, Ä, Ö, Ü and ß, which code page 437 — the
//! printers' default — holds at the same positions, so a ticket reads right
//! even on a printer that ignores `ESC t`.
//!
//! The `escpos` crate encodes text into this page; the emulator decodes it
//! with [`decode`], and [`printable`] replaces what the page lacks before the
//! text reaches the printer.

/// Bytes 0x80..=0xFF of code page 858.
const UPPER_HALF: &str = "ÇüéâäàåçêëèïîìÄÅÉæÆôöòûùÿÖÜø£Ø×ƒáíóúñÑªº¿®¬½¼¡«»\
░▒▓│┤ÁÂÀ©╣║╗╝¢¥┐└┴┬├─┼ãÃ╚╔╩╦╠═╬¤ðÐÊËÈ€ÍÎÏ┘┌█▄¦Ì▀ÓßÔÒõÕµþÞÚÛÙýÝ¯´\u{AD}±‗¾¶§÷¸°¨·¹³²■\u{A0}";

/// The character a byte stands for in code page 858.
pub(crate) fn decode(byte: u8) -> char {
    if byte < 0x80 {
        return char::from(byte);
    }
    UPPER_HALF
        .chars()
        .nth(usize::from(byte - 0x80))
        .unwrap_or('?')
}

/// The text with every character that code page 858 lacks replaced by a
/// close stand-in, so the printer never receives stray UTF-8 bytes.
pub(crate) fn printable(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            c if c.is_ascii() && !c.is_ascii_control() => c,
            '—' | '–' | '‐' | '−' => '-',
            '„' | '“' | '”' | '«' | '»' => '"',
            '‚' | '‘' | '’' => '\'',
            '…' => '.',
            c if UPPER_HALF.contains(c) => c,
            _ => '?',
        })
        .collect()
}

/// The text in code page 858 bytes, after [`printable`]: ASCII as it is, the rest by
/// its place in the upper half.
pub(crate) fn encode(text: &str) -> Vec<u8> {
    printable(text)
        .chars()
        .map(|c| match u8::try_from(c) {
            Ok(byte) if byte.is_ascii() => byte,
            _ => UPPER_HALF
                .chars()
                .position(|u| u == c)
                .and_then(|i| u8::try_from(0x80 + i).ok())
                .unwrap_or(b'?'),
        })
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic
mod tests {
    use super::*;

    #[test]
    fn upper_half_has_128_characters() {
        assert_eq!(UPPER_HALF.chars().count(), 128);
    }

    #[test]
    fn german_letters_sit_where_code_page_437_has_them() {
        for (byte, letter) in [
            (0x84, 'ä'),
            (0x94, 'ö'),
            (0x81, 'ü'),
            (0x8E, 'Ä'),
            (0x99, 'Ö'),
            (0x9A, 'Ü'),
            (0xE1, 'ß'),
            (0xD5, '€'),
        ] {
            assert_eq!(decode(byte), letter);
        }
    }

    #[test]
    fn a_hyphen_stays_a_hyphen_and_umlauts_round_trip() {
        let text = "kiosk-1-2 Straße Übergabe €5";
        let bytes = encode(text);
        assert_eq!(&bytes[..9], b"kiosk-1-2");
        let back: String = bytes.iter().map(|b| decode(*b)).collect();
        assert_eq!(back, text);
    }

    #[test]
    fn missing_characters_get_stand_ins() {
        assert_eq!(
            printable("Straße — „Bürgerbüro“ ✓"),
            "Straße - \"Bürgerbüro\" ?"
        );
    }
}
