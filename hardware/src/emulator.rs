//! The emulated printer: decodes an ESC/POS byte stream and draws the ticket
//! on an 80 mm roll (576 dots at 203 dpi), for the demo and for tests.
//!
//! It understands what tickets use — text in code page 858, `ESC @`, `ESC t`,
//! `ESC E`, `ESC a`, `ESC d`, `GS !`, the QR functions of `GS ( k`, raster
//! images (`GS v 0`) and cuts (`GS V`) — skips harmless formatting it does not
//! draw (underline, fonts, line spacing, smoothing, …), and refuses anything
//! else, so a test notices when the layout sends something unexpected.
//!
//! Glyphs come from the public-domain 8×8 font of the `font8x8` crate, drawn
//! into 12×24-dot cells like a printer's font A.

use font8x8::UnicodeFonts;

use crate::codepage;
use crate::qr::{GreyImage, QrImage};

/// Dots across an 80 mm roll at 203 dpi.
pub const PAPER_DOTS: usize = 576;

const CELL_WIDTH: usize = 12;
const CELL_HEIGHT: usize = 24;
const LINE_GAP: usize = 6;
const EMPTY_LINE: usize = CELL_HEIGHT + LINE_GAP;

/// A decoded ticket: the picture, the text lines as read, and the cuts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmulatedTicket {
    /// The roll as drawn, white paper with black print.
    pub picture: GreyImage,
    /// Each printed line of text, decoded from the code page.
    pub lines: Vec<String>,
    /// QR codes printed with the printer's own command, by their data.
    pub native_qr_codes: Vec<String>,
    /// How many times the paper was cut.
    pub cuts: usize,
}

/// The byte stream holds something the emulated printer does not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EmulatorError {
    /// An unknown or unsupported command.
    #[error("unsupported ESC/POS command {bytes:02x?} at byte {offset}")]
    UnsupportedCommand {
        /// Where the command starts.
        offset: usize,
        /// Its first bytes.
        bytes: Vec<u8>,
    },
    /// A command was cut short by the end of the stream.
    #[error("ESC/POS stream ends inside a command at byte {offset}")]
    Truncated {
        /// Where the command starts.
        offset: usize,
    },
    /// The stored QR data could not be drawn.
    #[error("stored QR data cannot be drawn: {0}")]
    Qr(String),
}

/// Decodes a byte stream and draws it.
pub fn render(stream: &[u8]) -> Result<EmulatedTicket, EmulatorError> {
    let mut roll = Roll::default();
    let mut at = 0;
    while at < stream.len() {
        at = roll.step(stream, at)?;
    }
    Ok(roll.finish())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum Justify {
    #[default]
    Left,
    Centre,
    Right,
}

#[derive(Debug, Clone, Copy)]
struct Glyph {
    letter: char,
    width: usize,
    height: usize,
    bold: bool,
}

#[derive(Debug)]
struct Roll {
    rows: Vec<[u8; PAPER_DOTS]>,
    y: usize,
    justify: Justify,
    bold: bool,
    width: usize,
    height: usize,
    pending: Vec<Glyph>,
    lines: Vec<String>,
    native_qr: Vec<String>,
    qr_data: Vec<u8>,
    qr_module: usize,
    qr_level: u8,
    cuts: usize,
}

impl Default for Roll {
    fn default() -> Self {
        Roll {
            rows: Vec::new(),
            y: 0,
            justify: Justify::Left,
            bold: false,
            width: 1,
            height: 1,
            pending: Vec::new(),
            lines: Vec::new(),
            native_qr: Vec::new(),
            qr_data: Vec::new(),
            qr_module: 3,
            qr_level: 49,
            cuts: 0,
        }
    }
}

const ESC: u8 = 0x1B;
const GS: u8 = 0x1D;
const DLE: u8 = 0x10;
const LF: u8 = 0x0A;
const CR: u8 = 0x0D;

impl Roll {
    /// Handles the command or character at `at`; returns where the next starts.
    fn step(&mut self, s: &[u8], at: usize) -> Result<usize, EmulatorError> {
        let arg = |i: usize| {
            s.get(at + i)
                .copied()
                .ok_or(EmulatorError::Truncated { offset: at })
        };
        let unsupported = |len: usize| EmulatorError::UnsupportedCommand {
            offset: at,
            bytes: s[at..(at + len).min(s.len())].to_vec(),
        };
        match s[at] {
            LF => {
                self.print_line();
                Ok(at + 1)
            }
            CR => Ok(at + 1),
            ESC => match arg(1)? {
                b'@' => {
                    self.reset_modes();
                    Ok(at + 2)
                }
                b'E' | b'G' => {
                    self.bold = arg(2)? & 1 == 1;
                    Ok(at + 3)
                }
                b'a' => {
                    self.justify = match arg(2)? {
                        1 | b'1' => Justify::Centre,
                        2 | b'2' => Justify::Right,
                        _ => Justify::Left,
                    };
                    Ok(at + 3)
                }
                // Print and feed n lines: a waiting line of text is the first.
                b'd' => {
                    let mut lines = usize::from(arg(2)?);
                    if !self.pending.is_empty() {
                        self.print_line();
                        lines = lines.saturating_sub(1);
                    }
                    self.y += lines * EMPTY_LINE;
                    Ok(at + 3)
                }
                b'!' => {
                    let mode = arg(2)?;
                    self.bold = mode & 0x08 != 0;
                    self.height = if mode & 0x10 != 0 { 2 } else { 1 };
                    self.width = if mode & 0x20 != 0 { 2 } else { 1 };
                    Ok(at + 3)
                }
                // Code page: the emulator reads 437 and 858 alike (see codepage).
                b't' | b'-' | b'M' | b'{' | b'V' | b'R' | b'3' => {
                    arg(2)?;
                    Ok(at + 3)
                }
                b'2' => Ok(at + 2),
                _ => Err(unsupported(2)),
            },
            GS => match arg(1)? {
                b'!' => {
                    let size = arg(2)?;
                    self.width = usize::from(size >> 4) + 1;
                    self.height = usize::from(size & 0x0F) + 1;
                    Ok(at + 3)
                }
                b'B' | b'b' => {
                    arg(2)?;
                    Ok(at + 3)
                }
                b'V' => {
                    let mode = arg(2)?;
                    self.print_line();
                    self.cut();
                    Ok(if matches!(mode, 65 | 66) {
                        at + 4
                    } else {
                        at + 3
                    })
                }
                b'(' if arg(2)? == b'k' => self.two_dimensional(s, at),
                b'v' if arg(2)? == b'0' => self.raster(s, at),
                _ => Err(unsupported(3)),
            },
            // Real-time status requests take no room on paper.
            DLE if arg(1)? == 0x04 => {
                arg(2)?;
                Ok(at + 3)
            }
            byte if byte < 0x20 || byte == 0x7F => Err(unsupported(1)),
            byte => {
                self.put(codepage::decode(byte));
                Ok(at + 1)
            }
        }
    }

    fn reset_modes(&mut self) {
        self.pending.clear();
        self.justify = Justify::Left;
        self.bold = false;
        self.width = 1;
        self.height = 1;
    }

    /// `GS ( k pL pH cn fn [m] d…`: only QR (cn = 49) is drawn.
    fn two_dimensional(&mut self, s: &[u8], at: usize) -> Result<usize, EmulatorError> {
        let truncated = EmulatorError::Truncated { offset: at };
        let (pl, ph) = match (s.get(at + 3), s.get(at + 4)) {
            (Some(&pl), Some(&ph)) => (usize::from(pl), usize::from(ph)),
            _ => return Err(truncated),
        };
        let len = pl + ph * 256;
        let body = s.get(at + 5..at + 5 + len).ok_or(truncated)?;
        let next = at + 5 + len;
        let unsupported = || EmulatorError::UnsupportedCommand {
            offset: at,
            bytes: s[at..(at + 8).min(s.len())].to_vec(),
        };
        let (&cn, rest) = body.split_first().ok_or_else(unsupported)?;
        let (&function, params) = rest.split_first().ok_or_else(unsupported)?;
        if cn != 49 {
            return Err(unsupported());
        }
        match function {
            // Model, and symbol size in dots per module.
            65 => {}
            67 => self.qr_module = usize::from(params.first().copied().unwrap_or(3).clamp(1, 16)),
            69 => self.qr_level = params.first().copied().unwrap_or(49),
            80 => self.qr_data = params.get(1..).unwrap_or_default().to_vec(),
            81 => self.print_stored_qr()?,
            _ => return Err(unsupported()),
        }
        Ok(next)
    }

    fn print_stored_qr(&mut self) -> Result<(), EmulatorError> {
        self.print_line();
        let code = QrImage::encode_for_printer(&self.qr_data, self.qr_level)
            .map_err(|e| EmulatorError::Qr(e.to_string()))?;
        self.native_qr
            .push(String::from_utf8_lossy(&self.qr_data).into_owned());
        let module = self.qr_module;
        let side = code.modules_per_side() * module;
        let left = self.left_edge(side);
        for dy in 0..side {
            for dx in 0..side {
                if code.is_dark(dx / module, dy / module) {
                    self.dot(left + dx, self.y + dy);
                }
            }
        }
        self.y += side;
        Ok(())
    }

    /// `GS v 0 m xL xH yL yH d…`: a raster image, one bit per dot.
    fn raster(&mut self, s: &[u8], at: usize) -> Result<usize, EmulatorError> {
        let truncated = EmulatorError::Truncated { offset: at };
        let header = s.get(at..at + 8).ok_or(truncated.clone())?;
        let mode = header[3];
        let row_bytes = usize::from(header[4]) + usize::from(header[5]) * 256;
        let rows = usize::from(header[6]) + usize::from(header[7]) * 256;
        let data = s.get(at + 8..at + 8 + row_bytes * rows).ok_or(truncated)?;
        let (scale_x, scale_y) = match mode {
            1 | 49 => (2, 1),
            2 | 50 => (1, 2),
            3 | 51 => (2, 2),
            _ => (1, 1),
        };
        self.print_line();
        let left = self.left_edge(row_bytes * 8 * scale_x);
        for row in 0..rows {
            for column in 0..row_bytes * 8 {
                if data[row * row_bytes + column / 8] & (0x80 >> (column % 8)) != 0 {
                    for sy in 0..scale_y {
                        for sx in 0..scale_x {
                            self.dot(left + column * scale_x + sx, self.y + row * scale_y + sy);
                        }
                    }
                }
            }
        }
        self.y += rows * scale_y;
        Ok(at + 8 + row_bytes * rows)
    }

    fn put(&mut self, letter: char) {
        let glyph = Glyph {
            letter,
            width: self.width,
            height: self.height,
            bold: self.bold,
        };
        let used: usize = self.pending.iter().map(|g| g.width * CELL_WIDTH).sum();
        // The printer wraps a line that runs past the paper's edge.
        if used + glyph.width * CELL_WIDTH > PAPER_DOTS {
            self.print_line();
        }
        self.pending.push(glyph);
    }

    fn print_line(&mut self) {
        let glyphs = std::mem::take(&mut self.pending);
        if glyphs.is_empty() {
            self.y += EMPTY_LINE;
            return;
        }
        let width: usize = glyphs.iter().map(|g| g.width * CELL_WIDTH).sum();
        let height = glyphs.iter().map(|g| g.height).max().unwrap_or(1) * CELL_HEIGHT;
        let mut x = self.left_edge(width);
        for glyph in &glyphs {
            // Smaller letters on a line with larger ones sit on its baseline.
            let top = self.y + height - glyph.height * CELL_HEIGHT;
            self.draw_glyph(*glyph, x, top);
            x += glyph.width * CELL_WIDTH;
        }
        self.y += height + LINE_GAP;
        self.lines.push(
            glyphs
                .iter()
                .map(|g| g.letter)
                .collect::<String>()
                .trim_end()
                .to_owned(),
        );
    }

    fn draw_glyph(&mut self, glyph: Glyph, left: usize, top: usize) {
        let rows = font_rows(glyph.letter);
        let cell_w = CELL_WIDTH * glyph.width;
        let cell_h = CELL_HEIGHT * glyph.height;
        // The 8×8 glyph fills a 12×20 area of the 12×24 cell, 2 dots from the
        // top, stretched by the character size.
        let (pad_top, body_h) = (2 * glyph.height, 20 * glyph.height);
        for cy in 0..cell_h {
            if cy < pad_top || cy >= pad_top + body_h {
                continue;
            }
            let gy = (cy - pad_top) * 8 / body_h;
            for cx in 0..cell_w {
                let gx = cx * 8 / cell_w;
                if rows[gy] & (1 << gx) != 0 {
                    self.dot(left + cx, top + cy);
                    if glyph.bold {
                        self.dot(left + cx + glyph.width, top + cy);
                    }
                }
            }
        }
    }

    fn left_edge(&self, width: usize) -> usize {
        let room = PAPER_DOTS.saturating_sub(width);
        match self.justify {
            Justify::Left => 0,
            Justify::Centre => room / 2,
            Justify::Right => room,
        }
    }

    fn dot(&mut self, x: usize, y: usize) {
        if x >= PAPER_DOTS {
            return;
        }
        if self.rows.len() <= y {
            self.rows.resize(y + 1, [255; PAPER_DOTS]);
        }
        self.rows[y][x] = 0;
    }

    fn cut(&mut self) {
        self.cuts += 1;
        self.y += LINE_GAP;
        // A dashed line marks where the knife went.
        for x in (0..PAPER_DOTS).filter(|x| x % 16 < 8) {
            self.dot(x, self.y);
        }
        self.y += LINE_GAP;
    }

    fn finish(mut self) -> EmulatedTicket {
        if self.rows.len() < self.y {
            self.rows.resize(self.y, [255; PAPER_DOTS]);
        }
        let height = self.rows.len();
        let pixels: Vec<u8> = self
            .rows
            .iter()
            .flat_map(|row| row.iter().copied())
            .collect();
        EmulatedTicket {
            picture: GreyImage {
                width: PAPER_DOTS as u32,
                height: u32::try_from(height).unwrap_or(u32::MAX),
                pixels,
            },
            lines: self.lines,
            native_qr_codes: self.native_qr,
            cuts: self.cuts,
        }
    }
}

/// The 8×8 rows of a letter; bit 0 is the leftmost dot. Unknown letters are
/// drawn as a hollow box, as printers do.
fn font_rows(letter: char) -> [u8; 8] {
    font8x8::BASIC_FONTS
        .get(letter)
        .or_else(|| font8x8::LATIN_FONTS.get(letter))
        .or_else(|| font8x8::BOX_FONTS.get(letter))
        .or_else(|| font8x8::BLOCK_FONTS.get(letter))
        .or_else(|| font8x8::MISC_FONTS.get(letter))
        .unwrap_or([0x00, 0x7E, 0x42, 0x42, 0x42, 0x42, 0x7E, 0x00])
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic
mod tests {
    use super::*;

    #[test]
    fn text_lines_decode_from_code_page_858() {
        let stream = [
            &[ESC, b'@', ESC, b't', 19][..],
            b"Gr\x81\xE1e aus Zeitz\n",
            &[ESC, b'a', 1, GS, b'!', 0x33],
            b"A 017\n",
        ]
        .concat();
        let ticket = render(&stream).unwrap();
        assert_eq!(ticket.lines, vec!["Grüße aus Zeitz", "A 017"]);
        assert_eq!(ticket.cuts, 0);
    }

    #[test]
    fn large_letters_take_more_room() {
        let small = render(b"A\n").unwrap();
        let large = render(&[&[GS, b'!', 0x33][..], b"A\n"].concat()).unwrap();
        assert!(large.picture.height >= 4 * CELL_HEIGHT as u32);
        assert!(small.picture.height < 2 * CELL_HEIGHT as u32);
        let ink = |t: &EmulatedTicket| t.picture.pixels.iter().filter(|&&p| p == 0).count();
        assert!(ink(&large) > 10 * ink(&small));
    }

    #[test]
    fn long_lines_wrap_at_the_paper_edge() {
        let text = "x".repeat(60);
        let ticket = render(format!("{text}\n").as_bytes()).unwrap();
        assert_eq!(ticket.lines, vec!["x".repeat(48), "x".repeat(12)]);
    }

    #[test]
    fn unknown_command_is_refused() {
        assert_eq!(
            render(&[ESC, b'Z', 1]),
            Err(EmulatorError::UnsupportedCommand {
                offset: 0,
                bytes: vec![ESC, b'Z']
            })
        );
    }

    #[test]
    fn truncated_command_is_refused() {
        assert_eq!(
            render(&[b'A', GS, b'!']),
            Err(EmulatorError::Truncated { offset: 1 })
        );
    }

    #[test]
    fn cut_is_counted() {
        let ticket = render(&[b'A', LF, GS, b'V', 65, 0]).unwrap();
        assert_eq!(ticket.cuts, 1);
    }
}
