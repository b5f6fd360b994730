//! QR codes for "customer scans merchant": the h5 payment URL, drawn as whole-pixel modules.
//!
//! Each module is an integer number of pixels (no smoothing) with a light quiet zone around,
//! so phone cameras read it off a small panel.

use embedded_graphics::prelude::*;
use embedded_graphics::primitives::{PrimitiveStyle, Rectangle};
use qrcode::{EcLevel, QrCode};

/// Light modules around the code that scanners need to find it (the standard asks for 4;
/// 2 reads reliably on a screen with a dark surround, and leaves bigger modules).
const QUIET_MODULES: u32 = 2;

/// Why a QR code cannot be shown.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QrError {
    #[error("payment URL of {len} bytes is too long for a QR code; shorten it (h5 URL only)")]
    TooLong { len: usize },
    #[error("QR code of {modules} modules does not fit in {side} pixels; shorten the URL or use a larger display")]
    TooSmall { modules: u32, side: u32 },
}

/// The code's modules: `width` × `width`, `true` = dark.
pub struct QrModules {
    pub width: u32,
    pub dark: Vec<bool>,
}

/// Encodes `text` with medium error correction (survives a scratched or glaring screen).
pub fn encode(text: &str) -> Result<QrModules, QrError> {
    let code = QrCode::with_error_correction_level(text.as_bytes(), EcLevel::M)
        .or_else(|_| QrCode::with_error_correction_level(text.as_bytes(), EcLevel::L))
        .map_err(|_| QrError::TooLong { len: text.len() })?;
    let width = code.width() as u32;
    let dark = code
        .to_colors()
        .into_iter()
        .map(|c| c == qrcode::Color::Dark)
        .collect();
    Ok(QrModules { width, dark })
}

/// Where and how big a code is drawn: its top-left corner and pixels per module.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Placement {
    /// The square covered, quiet zone included.
    pub covered: Rectangle,
    pub scale: u32,
}

/// Places `code` as large as fits, centred in `area`, quiet zone included. Modules smaller
/// than `min_scale` pixels are refused: a phone cannot read them off a small panel.
pub fn place(code: &QrModules, area: Rectangle, min_scale: u32) -> Result<Placement, QrError> {
    let side = area.size.width.min(area.size.height);
    let modules = code.width + 2 * QUIET_MODULES;
    let scale = side / modules;
    if scale == 0 || scale < min_scale {
        return Err(QrError::TooSmall { modules, side });
    }
    let drawn = modules * scale;
    let origin = area.top_left
        + Point::new(
            ((area.size.width - drawn) / 2) as i32,
            ((area.size.height - drawn) / 2) as i32,
        );
    Ok(Placement {
        covered: Rectangle::new(origin, Size::new(drawn, drawn)),
        scale,
    })
}

/// Draws `code` at `placement`: a light square, then each dark module as a filled block.
pub fn draw_qr<D: DrawTarget>(
    code: &QrModules,
    placement: Placement,
    dark: D::Color,
    light: D::Color,
    target: &mut D,
) -> Result<(), D::Error> {
    let Placement { covered, scale } = placement;
    covered
        .into_styled(PrimitiveStyle::with_fill(light))
        .draw(target)?;
    let quiet = (QUIET_MODULES * scale) as i32;
    for y in 0..code.width {
        for x in 0..code.width {
            if code.dark[(y * code.width + x) as usize] {
                let at = covered.top_left
                    + Point::new(quiet + (x * scale) as i32, quiet + (y * scale) as i32);
                Rectangle::new(at, Size::new(scale, scale))
                    .into_styled(PrimitiveStyle::with_fill(dark))
                    .draw(target)?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_a_url_into_square_modules() {
        let code = encode("https://pay.example.com/h5?o=1").unwrap();
        assert_eq!(code.dark.len() as u32, code.width * code.width);
        // Version 1..=40: 21..=177 modules, always 4k+17.
        assert_eq!((code.width - 17) % 4, 0);
    }

    #[test]
    fn places_centred_with_whole_pixel_modules() {
        let code = encode("https://pay.example.com/h5?o=1").unwrap();
        let area = Rectangle::new(Point::new(10, 0), Size::new(200, 100));
        let p = place(&code, area, 1).unwrap();
        assert_eq!(p.scale, 100 / (code.width + 4));
        assert_eq!(p.covered.size.width, (code.width + 4) * p.scale);
        assert_eq!(p.covered.center().x, area.center().x);
        let tiny = Rectangle::new(Point::zero(), Size::new(20, 20));
        assert!(matches!(
            place(&code, tiny, 1),
            Err(QrError::TooSmall { side: 20, .. })
        ));
        // Fits at 1 pixel per module, but 3 are asked for.
        let small = Rectangle::new(Point::zero(), Size::new(code.width + 4, code.width + 4));
        assert!(place(&code, small, 1).is_ok());
        assert!(place(&code, small, 3).is_err());
    }

    #[test]
    fn refuses_what_cannot_be_encoded() {
        let long = "x".repeat(5000);
        assert_eq!(encode(&long).err(), Some(QrError::TooLong { len: 5000 }));
    }
}
