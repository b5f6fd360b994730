//! Frames as PNG files: the `png` backend (numbered frames plus `latest.png` in a folder),
//! the golden-image tests, and the contact sheet of every screen.

use std::fs;
use std::io::BufWriter;
use std::path::{Path, PathBuf};

use embedded_graphics::pixelcolor::{BinaryColor, Rgb565};

use crate::engine::Screen;

use super::config::{Layout, PngConfig};
use super::framebuffer::Framebuffer;
use super::palette::PanelColor;
use super::render::render_frame;
use super::{Display, DisplayError, Language, StatusFlags};

/// An 8-bit RGB image, row by row: what a PNG file holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RgbImage {
    pub width: u32,
    pub height: u32,
    /// `width * height * 3` bytes.
    pub data: Vec<u8>,
}

impl RgbImage {
    /// A `width`×`height` image filled with `rgb`.
    pub fn filled(width: u32, height: u32, rgb: [u8; 3]) -> Self {
        let data = rgb.repeat(width as usize * height as usize);
        RgbImage {
            width,
            height,
            data,
        }
    }

    pub fn from_frame<C: PanelColor>(frame: &Framebuffer<C>) -> Self {
        let (w, h) = (frame.width(), frame.height());
        let mut data = Vec::with_capacity(w as usize * h as usize * 3);
        for y in 0..h {
            for pixel in frame.row(y) {
                data.extend_from_slice(&pixel.rgb());
            }
        }
        RgbImage {
            width: w,
            height: h,
            data,
        }
    }

    /// Copies `other` into this image with its top-left corner at (x, y), clipped.
    pub fn paste(&mut self, other: &RgbImage, x: u32, y: u32) {
        for row in 0..other.height {
            let ty = y + row;
            if ty >= self.height {
                break;
            }
            let cols = other.width.min(self.width.saturating_sub(x)) as usize;
            let src = (row * other.width) as usize * 3;
            let dst = (ty * self.width + x) as usize * 3;
            self.data[dst..dst + cols * 3].copy_from_slice(&other.data[src..src + cols * 3]);
        }
    }

    /// The image enlarged `factor` times, each pixel becoming a square (for small OLED
    /// frames on the contact sheet).
    pub fn scaled(&self, factor: u32) -> RgbImage {
        let factor = factor.max(1);
        let (w, h) = (self.width * factor, self.height * factor);
        let mut data = Vec::with_capacity(w as usize * h as usize * 3);
        for y in 0..h {
            for x in 0..w {
                data.extend_from_slice(&self.get(x / factor, y / factor));
            }
        }
        RgbImage {
            width: w,
            height: h,
            data,
        }
    }

    /// The RGB of (x, y).
    pub fn get(&self, x: u32, y: u32) -> [u8; 3] {
        let i = (y * self.width + x) as usize * 3;
        [self.data[i], self.data[i + 1], self.data[i + 2]]
    }

    /// The PNG of the golden images and the contact sheet: screens are flat colour, and the
    /// best compression keeps the files committed to the repository small.
    pub fn encode_png(&self) -> Result<Vec<u8>, png::EncodingError> {
        self.encode_png_as(png::Compression::Best, png::AdaptiveFilterType::Adaptive)
    }

    /// The PNG the `png` backend writes at every change of screen: fast compression, as the
    /// next screen may be waiting behind it (a paid screen behind "processing"); the files
    /// are larger and decode to the same pixels.
    pub fn encode_frame_png(&self) -> Result<Vec<u8>, png::EncodingError> {
        self.encode_png_as(png::Compression::Fast, png::AdaptiveFilterType::NonAdaptive)
    }

    fn encode_png_as(
        &self,
        compression: png::Compression,
        filter: png::AdaptiveFilterType,
    ) -> Result<Vec<u8>, png::EncodingError> {
        let mut out = Vec::new();
        let mut encoder = png::Encoder::new(&mut out, self.width, self.height);
        encoder.set_color(png::ColorType::Rgb);
        encoder.set_depth(png::BitDepth::Eight);
        encoder.set_compression(compression);
        encoder.set_adaptive_filter(filter);
        let mut writer = encoder.write_header()?;
        writer.write_image_data(&self.data)?;
        writer.finish()?;
        Ok(out)
    }

    /// Reads an 8-bit RGB or RGBA PNG (what `encode_png` writes, or an edited golden).
    pub fn decode_png(bytes: &[u8]) -> Result<RgbImage, String> {
        let mut decoder = png::Decoder::new(bytes);
        decoder.set_transformations(png::Transformations::EXPAND | png::Transformations::STRIP_16);
        let mut reader = decoder.read_info().map_err(|e| e.to_string())?;
        let mut buf = vec![0; reader.output_buffer_size()];
        let info = reader.next_frame(&mut buf).map_err(|e| e.to_string())?;
        let channels = info.color_type.samples();
        let (w, h) = (info.width, info.height);
        let mut data = Vec::with_capacity(w as usize * h as usize * 3);
        for px in buf[..info.buffer_size()].chunks_exact(channels) {
            match channels {
                1 | 2 => data.extend_from_slice(&[px[0], px[0], px[0]]),
                _ => data.extend_from_slice(&px[..3]),
            }
        }
        Ok(RgbImage {
            width: w,
            height: h,
            data,
        })
    }

    /// Writes the PNG through a temporary file and a rename, so readers never see half a file.
    /// Not fsynced: a frame lost to a power cut is harmless, and SD cards wear.
    pub fn write_png(&self, path: &Path) -> Result<(), std::io::Error> {
        let bytes = self.encode_png().map_err(std::io::Error::other)?;
        write_atomically(path, &bytes)
    }
}

/// Writes `bytes` through a temporary file and a rename (see `RgbImage::write_png`).
fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), std::io::Error> {
    let tmp = path.with_extension("png.tmp");
    {
        let mut file = BufWriter::new(fs::File::create(&tmp)?);
        std::io::Write::write_all(&mut file, bytes)?;
        std::io::Write::flush(&mut file)?;
    }
    fs::rename(&tmp, path)
}

/// Renders `screen` at `layout` as an RGB image (monochrome layouts as white-on-black).
pub fn render_image(
    screen: &Screen,
    lang: Language,
    flags: StatusFlags,
    layout: Layout,
) -> RgbImage {
    let size = layout.size();
    if layout.is_mono() {
        RgbImage::from_frame(&render_frame::<BinaryColor>(screen, lang, flags, size))
    } else {
        RgbImage::from_frame(&render_frame::<Rgb565>(screen, lang, flags, size))
    }
}

/// Lays `tiles` out in rows of `columns`, `gap` pixels apart on a grey background.
/// Each row is as tall as its tallest tile.
pub fn contact_sheet(tiles: &[RgbImage], columns: usize, gap: u32) -> RgbImage {
    let columns = columns.max(1);
    let rows: Vec<&[RgbImage]> = tiles.chunks(columns).collect();
    let width = rows
        .iter()
        .map(|r| r.iter().map(|t| t.width + gap).sum::<u32>() + gap)
        .max()
        .unwrap_or(gap);
    let height = rows
        .iter()
        .map(|r| r.iter().map(|t| t.height).max().unwrap_or(0) + gap)
        .sum::<u32>()
        + gap;
    let mut sheet = RgbImage::filled(width, height, [96, 96, 96]);
    let mut y = gap;
    for row in rows {
        let mut x = gap;
        for tile in row {
            sheet.paste(tile, x, y);
            x += tile.width + gap;
        }
        y += row.iter().map(|t| t.height).max().unwrap_or(0) + gap;
    }
    sheet
}

/// The `png` backend: each shown screen becomes `frame-NNNNNN.png` and `latest.png`.
pub struct PngDisplay {
    dir: PathBuf,
    layout: Layout,
    language: Language,
    keep_frames: u64,
    next: u64,
}

impl PngDisplay {
    /// Creates the folder if needed; numbering continues after frames already there.
    pub fn open(config: &PngConfig) -> Result<Self, DisplayError> {
        let open_err = |e: std::io::Error| DisplayError::Open {
            device: format!("png folder {}", config.dir.display()),
            detail: e.to_string(),
        };
        fs::create_dir_all(&config.dir).map_err(open_err)?;
        let last = fs::read_dir(&config.dir)
            .map_err(open_err)?
            .filter_map(|entry| entry.ok())
            .filter_map(|entry| frame_number(&entry.file_name().to_string_lossy()))
            .max()
            .unwrap_or(0);
        Ok(PngDisplay {
            dir: config.dir.clone(),
            layout: config.layout,
            language: config.language,
            keep_frames: config.keep_frames,
            next: last + 1,
        })
    }

    /// The path the next frame will be written to.
    pub fn next_path(&self) -> PathBuf {
        self.dir.join(frame_name(self.next))
    }
}

fn frame_name(number: u64) -> String {
    format!("frame-{number:06}.png")
}

fn frame_number(name: &str) -> Option<u64> {
    name.strip_prefix("frame-")?
        .strip_suffix(".png")?
        .parse()
        .ok()
}

impl Display for PngDisplay {
    fn show(&mut self, screen: &Screen, flags: StatusFlags) -> Result<(), DisplayError> {
        let image = render_image(screen, self.language, flags, self.layout);
        let path = self.next_path();
        let fail = |path: &Path, e: std::io::Error| DisplayError::Device {
            device: format!("png file {}", path.display()),
            detail: e.to_string(),
        };
        // Encoded once for both files.
        let bytes = image
            .encode_frame_png()
            .map_err(|e| fail(&path, std::io::Error::other(e)))?;
        write_atomically(&path, &bytes).map_err(|e| fail(&path, e))?;
        let latest = self.dir.join("latest.png");
        write_atomically(&latest, &bytes).map_err(|e| fail(&latest, e))?;
        // A countdown makes a frame a second: keep the folder bounded.
        if self.keep_frames > 0 && self.next > self.keep_frames {
            let old = self.dir.join(frame_name(self.next - self.keep_frames));
            let _ = fs::remove_file(old);
        }
        self.next += 1;
        Ok(())
    }

    fn describe(&self) -> String {
        format!("png {} in {}", self.layout.name(), self.dir.display())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::Fen;

    #[test]
    fn png_round_trips() {
        let mut image = RgbImage::filled(3, 2, [1, 2, 3]);
        image.paste(&RgbImage::filled(1, 1, [200, 100, 50]), 2, 1);
        let back = RgbImage::decode_png(&image.encode_png().unwrap()).unwrap();
        assert_eq!(back, image);
        assert_eq!(back.get(2, 1), [200, 100, 50]);
        let big = image.scaled(2);
        assert_eq!((big.width, big.height), (6, 4));
        assert_eq!(big.get(5, 3), [200, 100, 50]);
        assert_eq!(big.get(3, 1), [1, 2, 3]);
    }

    #[test]
    fn contact_sheet_places_tiles_in_rows() {
        let red = RgbImage::filled(4, 2, [255, 0, 0]);
        let blue = RgbImage::filled(2, 3, [0, 0, 255]);
        let sheet = contact_sheet(&[red.clone(), blue.clone(), red], 2, 1);
        // Row 1: 1 + 4 + 1 + 2 + 1 = 9 wide, 3 tall; row 2: 2 tall; gaps 3.
        assert_eq!((sheet.width, sheet.height), (9, 8));
        assert_eq!(sheet.get(1, 1), [255, 0, 0]);
        assert_eq!(sheet.get(6, 3), [0, 0, 255]);
        assert_eq!(sheet.get(1, 5), [255, 0, 0]);
        assert_eq!(sheet.get(0, 0), [96, 96, 96]);
    }

    #[test]
    fn png_display_numbers_frames_and_keeps_latest() {
        let dir = tempfile::tempdir().unwrap();
        let config = PngConfig {
            dir: dir.path().join("frames"),
            layout: Layout::Mono128x64,
            language: Language::En,
            keep_frames: 2,
        };
        let mut display = PngDisplay::open(&config).unwrap();
        display
            .show(&Screen::Ready, StatusFlags::default())
            .unwrap();
        display
            .show(
                &Screen::Checking { amount: Fen(100) },
                StatusFlags::default(),
            )
            .unwrap();
        let frames = config.dir;
        let latest = fs::read(frames.join("latest.png")).unwrap();
        assert_eq!(latest, fs::read(frames.join("frame-000002.png")).unwrap());
        let image = RgbImage::decode_png(&latest).unwrap();
        assert_eq!((image.width, image.height), (128, 64));
        // Only the last `keep_frames` numbered frames stay.
        display
            .show(&Screen::Ready, StatusFlags::default())
            .unwrap();
        assert!(!frames.join("frame-000001.png").exists());
        assert!(frames.join("frame-000002.png").exists());
        assert!(frames.join("frame-000003.png").exists());
        // Reopening continues the numbering instead of overwriting.
        let reopened = PngDisplay::open(&config_clone(&frames)).unwrap();
        assert_eq!(reopened.next_path(), frames.join("frame-000004.png"));
    }

    fn config_clone(dir: &Path) -> PngConfig {
        PngConfig {
            dir: dir.to_path_buf(),
            layout: Layout::Mono128x64,
            language: Language::En,
            keep_frames: 2,
        }
    }

    #[test]
    fn unwritable_folder_is_an_error_naming_it() {
        let file = tempfile::NamedTempFile::new().unwrap();
        let config = PngConfig {
            dir: file.path().join("sub"),
            layout: Layout::Color240x240,
            language: Language::Zh,
            keep_frames: 0,
        };
        let err = PngDisplay::open(&config).err().unwrap().to_string();
        assert!(err.contains(&file.path().display().to_string()), "{err}");
    }
}
