//! An in-memory frame, and the diff that keeps SPI traffic small.
//!
//! Every screen is first drawn into a `Framebuffer`; a panel then receives only the bounding
//! boxes of what changed since the last frame it accepted. A countdown tick thus costs a few
//! hundred bytes instead of a full 115 kB frame on a 240×240 panel.

use std::convert::Infallible;

use embedded_graphics::prelude::*;
use embedded_graphics::primitives::Rectangle;

/// A width×height frame of pixels, row by row. Drawing outside it is clipped, never an error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Framebuffer<C> {
    size: Size,
    pixels: Vec<C>,
}

impl<C: PixelColor + Default> Framebuffer<C> {
    /// A frame filled with `C::default()` (black / off).
    pub fn new(size: Size) -> Self {
        let len = size.width as usize * size.height as usize;
        Framebuffer {
            size,
            pixels: vec![C::default(); len],
        }
    }
}

impl<C: PixelColor> Framebuffer<C> {
    pub fn width(&self) -> u32 {
        self.size.width
    }

    pub fn height(&self) -> u32 {
        self.size.height
    }

    /// The colour at (x, y); `None` outside the frame.
    pub fn pixel(&self, x: u32, y: u32) -> Option<C> {
        if x < self.size.width && y < self.size.height {
            Some(self.pixels[(y * self.size.width + x) as usize])
        } else {
            None
        }
    }

    /// The pixels of one row.
    pub fn row(&self, y: u32) -> &[C] {
        let w = self.size.width as usize;
        let start = y as usize * w;
        &self.pixels[start..start + w]
    }

    /// The pixels inside `area` (clipped to the frame), row by row, as a panel wants them.
    pub fn region(&self, area: Rectangle) -> impl Iterator<Item = C> + '_ {
        let area = area.intersection(&self.bounding_box());
        let (x0, y0) = (area.top_left.x as usize, area.top_left.y as usize);
        let (w, h) = (area.size.width as usize, area.size.height as usize);
        (y0..y0 + h).flat_map(move |y| {
            let start = y * self.size.width as usize + x0;
            self.pixels[start..start + w].iter().copied()
        })
    }
}

impl<C: PixelColor> OriginDimensions for Framebuffer<C> {
    fn size(&self) -> Size {
        self.size
    }
}

impl<C: PixelColor> DrawTarget for Framebuffer<C> {
    type Color = C;
    type Error = Infallible;

    fn draw_iter<I>(&mut self, pixels: I) -> Result<(), Infallible>
    where
        I: IntoIterator<Item = Pixel<C>>,
    {
        let (w, h) = (self.size.width as i32, self.size.height as i32);
        for Pixel(p, color) in pixels {
            if p.x >= 0 && p.y >= 0 && p.x < w && p.y < h {
                self.pixels[(p.y * w + p.x) as usize] = color;
            }
        }
        Ok(())
    }
}

/// The areas where `new` differs from `old`, as rectangles covering every changed pixel.
///
/// Rows are grouped into bands of consecutive changed rows; each band becomes one rectangle
/// spanning its leftmost to rightmost change. Frames of different sizes differ everywhere.
/// Bands are what SPI panels like: one address window and one burst of pixels each.
pub fn changed_regions<C: PixelColor>(
    old: &Framebuffer<C>,
    new: &Framebuffer<C>,
) -> Vec<Rectangle> {
    if old.size != new.size {
        return vec![new.bounding_box()];
    }
    let mut regions = Vec::new();
    // The band being built: first row, last row, leftmost and rightmost changed column.
    let mut band: Option<(u32, u32, u32, u32)> = None;
    for y in 0..new.height() {
        let (a, b) = (old.row(y), new.row(y));
        let first = a.iter().zip(b).position(|(p, q)| p != q);
        let changed = first.map(|left| {
            let right = a.iter().zip(b).rposition(|(p, q)| p != q).unwrap_or(left);
            (left as u32, right as u32)
        });
        band = match (band, changed) {
            (Some((top, _, l, r)), Some((left, right))) => {
                Some((top, y, l.min(left), r.max(right)))
            }
            (None, Some((left, right))) => Some((y, y, left, right)),
            (Some(done), None) => {
                regions.push(band_rectangle(done));
                None
            }
            (None, None) => None,
        };
    }
    if let Some(done) = band {
        regions.push(band_rectangle(done));
    }
    regions
}

fn band_rectangle((top, bottom, left, right): (u32, u32, u32, u32)) -> Rectangle {
    Rectangle::with_corners(
        Point::new(left as i32, top as i32),
        Point::new(right as i32, bottom as i32),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use embedded_graphics::pixelcolor::BinaryColor;

    fn frame(w: u32, h: u32, on: &[(i32, i32)]) -> Framebuffer<BinaryColor> {
        let mut fb = Framebuffer::new(Size::new(w, h));
        fb.draw_iter(
            on.iter()
                .map(|&(x, y)| Pixel(Point::new(x, y), BinaryColor::On)),
        )
        .unwrap();
        fb
    }

    fn rect(x: i32, y: i32, w: u32, h: u32) -> Rectangle {
        Rectangle::new(Point::new(x, y), Size::new(w, h))
    }

    #[test]
    fn identical_frames_have_no_regions() {
        let a = frame(16, 8, &[(3, 3), (10, 5)]);
        assert_eq!(changed_regions(&a, &a.clone()), vec![]);
    }

    #[test]
    fn one_pixel_change_is_one_pixel_region() {
        let a = frame(16, 8, &[]);
        let b = frame(16, 8, &[(5, 2)]);
        assert_eq!(changed_regions(&a, &b), vec![rect(5, 2, 1, 1)]);
    }

    #[test]
    fn separate_bands_become_separate_boxes() {
        let a = frame(16, 10, &[(0, 0)]);
        // Rows 1-2 change at columns 2 and 7; row 3 is untouched; row 6 changes at 15;
        // the pixel at (0, 0) is unchanged.
        let b = frame(16, 10, &[(0, 0), (2, 1), (7, 2), (15, 6)]);
        assert_eq!(
            changed_regions(&a, &b),
            vec![rect(2, 1, 6, 2), rect(15, 6, 1, 1)]
        );
    }

    #[test]
    fn band_reaching_the_last_row_is_closed() {
        let a = frame(4, 4, &[]);
        let b = frame(4, 4, &[(1, 2), (3, 3)]);
        assert_eq!(changed_regions(&a, &b), vec![rect(1, 2, 3, 2)]);
    }

    #[test]
    fn different_sizes_redraw_everything() {
        let a = frame(4, 4, &[]);
        let b = frame(8, 4, &[]);
        assert_eq!(changed_regions(&a, &b), vec![rect(0, 0, 8, 4)]);
    }

    #[test]
    fn drawing_outside_is_clipped_and_region_reads_rows() {
        let fb = frame(4, 3, &[(-1, 0), (4, 0), (0, 3), (1, 1), (2, 1)]);
        let on: Vec<bool> = fb.region(rect(1, 1, 2, 1)).map(|c| c.is_on()).collect();
        assert_eq!(on, vec![true, true]);
        assert_eq!(fb.pixel(0, 0), Some(BinaryColor::Off));
        assert_eq!(fb.pixel(4, 0), None);
        let clipped: Vec<_> = fb.region(rect(3, 2, 5, 5)).collect();
        assert_eq!(clipped.len(), 1);
    }
}
