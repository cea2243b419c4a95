//! QR codes of a ticket's status page: as a pixel buffer a screen can show,
//! as PNG, and as an ESC/POS raster image for printers without a QR command.

use qrcode::{Color, EcLevel, QrCode};

/// A QR code as a square of modules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QrImage {
    side: usize,
    dark: Vec<bool>,
}

/// A QR code could not be made.
#[derive(Debug, thiserror::Error)]
pub enum QrError {
    /// The text does not fit into a QR code.
    #[error("the text does not fit into a QR code: {0}")]
    TooLong(#[from] qrcode::types::QrError),
    /// The picture would be larger than the requested limits.
    #[error("a QR code of {modules} modules at {module_px} pixels each is too large")]
    TooLarge {
        /// Modules per side including the quiet zone.
        modules: usize,
        /// Pixels per module.
        module_px: u32,
    },
}

/// An 8-bit greyscale picture: 0 is black, 255 is white, row by row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GreyImage {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// `width * height` grey values, row by row.
    pub pixels: Vec<u8>,
}

/// Modules of white border around a code on screen, as the QR standard asks.
pub const QUIET_ZONE: usize = 4;

impl QrImage {
    /// Encodes the text (a status URL) with error correction level M, which
    /// survives a scratched ticket and keeps the code small.
    pub fn encode(text: &str) -> Result<QrImage, QrError> {
        let code = QrCode::with_error_correction_level(text.as_bytes(), EcLevel::M)?;
        Ok(QrImage::from_code(&code))
    }

    /// Encodes with the error correction level an ESC/POS printer was told
    /// (`GS ( k` function 169: 48 = L, 49 = M, 50 = Q, 51 = H).
    pub(crate) fn encode_for_printer(data: &[u8], level: u8) -> Result<QrImage, QrError> {
        let level = match level {
            48 => EcLevel::L,
            50 => EcLevel::Q,
            51 => EcLevel::H,
            _ => EcLevel::M,
        };
        let code = QrCode::with_error_correction_level(data, level)?;
        Ok(QrImage::from_code(&code))
    }

    fn from_code(code: &QrCode) -> QrImage {
        QrImage {
            side: code.width(),
            dark: code
                .to_colors()
                .into_iter()
                .map(|c| c == Color::Dark)
                .collect(),
        }
    }

    /// Modules per side, without quiet zone.
    pub fn modules_per_side(&self) -> usize {
        self.side
    }

    /// Whether the module at column `x`, row `y` is dark (outside is light).
    pub fn is_dark(&self, x: usize, y: usize) -> bool {
        x < self.side && y < self.side && self.dark[y * self.side + x]
    }

    /// A greyscale picture for screens: `module_px` pixels per module and a
    /// quiet zone of [`QUIET_ZONE`] modules.
    pub fn to_grey(&self, module_px: u32) -> Result<GreyImage, QrError> {
        let modules = self.side + 2 * QUIET_ZONE;
        let too_large = QrError::TooLarge { modules, module_px };
        let side = u32::try_from(modules)
            .ok()
            .and_then(|m| m.checked_mul(module_px))
            .filter(|side| *side > 0 && *side <= 8192)
            .ok_or(too_large)?;
        let step = module_px as usize;
        let mut pixels = Vec::with_capacity((side as usize) * (side as usize));
        let mut row = Vec::with_capacity(side as usize);
        // One row of pixels per row of modules, repeated `step` times.
        for my in 0..modules {
            row.clear();
            for mx in 0..modules {
                let dark = mx >= QUIET_ZONE
                    && my >= QUIET_ZONE
                    && self.is_dark(mx - QUIET_ZONE, my - QUIET_ZONE);
                row.extend(std::iter::repeat_n(if dark { 0 } else { 255 }, step));
            }
            for _ in 0..step {
                pixels.extend_from_slice(&row);
            }
        }
        Ok(GreyImage {
            width: side,
            height: side,
            pixels,
        })
    }

    /// The ESC/POS raster command (`GS v 0`) that prints this code with
    /// `module_dots` printer dots per module, without quiet zone (the paper
    /// around it is white).
    pub fn raster_command(&self, module_dots: u8) -> Result<Vec<u8>, QrError> {
        let step = usize::from(module_dots.max(1));
        let dots = self.side * step;
        let row_bytes = dots.div_ceil(8);
        let too_large = || QrError::TooLarge {
            modules: self.side,
            module_px: u32::from(module_dots),
        };
        let width = u16::try_from(row_bytes).map_err(|_| too_large())?;
        let height = u16::try_from(dots).map_err(|_| too_large())?;
        let [xl, xh] = width.to_le_bytes();
        let [yl, yh] = height.to_le_bytes();
        let mut command = vec![0x1D, b'v', b'0', 0, xl, xh, yl, yh];
        for y in 0..dots {
            let mut row = vec![0u8; row_bytes];
            for x in 0..dots {
                if self.is_dark(x / step, y / step) {
                    row[x / 8] |= 0x80 >> (x % 8);
                }
            }
            command.extend_from_slice(&row);
        }
        Ok(command)
    }
}

impl GreyImage {
    /// The picture as RGBA bytes (what a Slint `SharedPixelBuffer<Rgba8Pixel>`
    /// is made from).
    pub fn to_rgba8(&self) -> Vec<u8> {
        self.pixels.iter().flat_map(|&g| [g, g, g, 255]).collect()
    }

    /// The picture as a PNG file.
    pub fn to_png(&self) -> Result<Vec<u8>, png::EncodingError> {
        let mut out = Vec::new();
        {
            let mut encoder = png::Encoder::new(&mut out, self.width, self.height);
            encoder.set_color(png::ColorType::Grayscale);
            encoder.set_depth(png::BitDepth::Eight);
            let mut writer = encoder.write_header()?;
            writer.write_image_data(&self.pixels)?;
            writer.finish()?;
        }
        Ok(out)
    }

    /// The picture as a 1-bit PNG, for pictures of black and white only (a QR code):
    /// an eighth of the data to compress, and fast compression. Grey is rounded to
    /// the nearer of the two.
    pub fn to_png_bilevel(&self) -> Result<Vec<u8>, png::EncodingError> {
        let width = self.width as usize;
        let mut packed = Vec::with_capacity(width.div_ceil(8) * self.height as usize);
        for row in self.pixels.chunks(width.max(1)) {
            for byte in row.chunks(8) {
                let bits = byte
                    .iter()
                    .enumerate()
                    .fold(0u8, |acc, (i, p)| acc | (u8::from(*p >= 128) << (7 - i)));
                packed.push(bits);
            }
        }
        let mut out = Vec::new();
        {
            let mut encoder = png::Encoder::new(&mut out, self.width, self.height);
            encoder.set_color(png::ColorType::Grayscale);
            encoder.set_depth(png::BitDepth::One);
            encoder.set_compression(png::Compression::Fast);
            let mut writer = encoder.write_header()?;
            writer.write_image_data(&packed)?;
            writer.finish()?;
        }
        Ok(out)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic
mod tests {
    use super::*;

    fn decode(image: &GreyImage) -> Vec<String> {
        let mut prepared = rqrr::PreparedImage::prepare_from_greyscale(
            image.width as usize,
            image.height as usize,
            |x, y| image.pixels[y * image.width as usize + x],
        );
        prepared
            .detect_grids()
            .into_iter()
            .map(|grid| grid.decode().unwrap().1)
            .collect()
    }

    #[test]
    fn screen_qr_reads_back_as_the_status_url() {
        let url = "https://termine.zeitz.de/t/7f3a9c2e";
        let image = QrImage::encode(url).unwrap().to_grey(6).unwrap();
        assert_eq!(image.width, image.height);
        assert_eq!(image.to_rgba8().len(), image.pixels.len() * 4);
        assert_eq!(decode(&image), vec![url.to_owned()]);
    }

    #[test]
    fn screen_qr_has_a_white_quiet_zone() {
        let image = QrImage::encode("x").unwrap().to_grey(2).unwrap();
        let border = QUIET_ZONE * 2;
        assert!(image.pixels[..border].iter().all(|&p| p == 255));
    }

    #[test]
    fn raster_command_holds_one_bit_per_dot() {
        let code = QrImage::encode("https://example.org/t/1").unwrap();
        let command = code.raster_command(4).unwrap();
        let dots = code.modules_per_side() * 4;
        assert_eq!(&command[..4], &[0x1D, b'v', b'0', 0]);
        assert_eq!(command.len(), 8 + dots.div_ceil(8) * dots);
        // The top-left finder pattern starts dark.
        assert_eq!(command[8] & 0x80, 0x80);
    }

    #[test]
    fn a_bilevel_png_holds_the_same_picture() {
        // 5 modules of 3 px plus the quiet zone: a width that is no multiple of 8.
        let image = QrImage::encode("K7M2X9PQ").unwrap().to_grey(3).unwrap();
        assert_ne!(image.width % 8, 0);
        let png = image.to_png_bilevel().unwrap();
        let mut decoder = png::Decoder::new(std::io::Cursor::new(png.as_slice()));
        decoder.set_transformations(png::Transformations::EXPAND);
        let mut reader = decoder.read_info().unwrap();
        let mut pixels = vec![0; reader.output_buffer_size().unwrap()];
        let info = reader.next_frame(&mut pixels).unwrap();
        assert_eq!((info.width, info.height), (image.width, image.height));
        assert_eq!(info.bit_depth, png::BitDepth::Eight);
        pixels.truncate(info.buffer_size());
        assert_eq!(pixels, image.pixels);
    }

    #[test]
    fn absurd_module_size_is_refused() {
        let code = QrImage::encode("x").unwrap();
        assert!(matches!(code.to_grey(5000), Err(QrError::TooLarge { .. })));
    }
}
