//! The `terminal` backend, for the demo: each frame drawn with `▀` half blocks in 24-bit
//! colour (two pixel rows per text row), or, as a fallback, one plain text line per screen.

use std::io::Write;

use crate::engine::Screen;

use super::config::{Layout, TerminalConfig};
use super::png_out::{render_image, RgbImage};
use super::text::describe;
use super::{Display, DisplayError, Language, StatusFlags};

/// Draws `image` as text: each character cell shows the upper pixel as the foreground of
/// `▀` and the lower pixel as the background. Ends with a colour reset and a newline.
pub fn half_blocks(image: &RgbImage) -> String {
    let mut out = String::new();
    for y in (0..image.height).step_by(2) {
        let mut last: Option<([u8; 3], [u8; 3])> = None;
        for x in 0..image.width {
            let top = image.get(x, y);
            let bottom = if y + 1 < image.height {
                image.get(x, y + 1)
            } else {
                [0, 0, 0]
            };
            // Repeat escapes only when a colour changes: a flat banner costs one escape.
            if last != Some((top, bottom)) {
                out.push_str(&format!(
                    "\x1b[38;2;{};{};{}m\x1b[48;2;{};{};{}m",
                    top[0], top[1], top[2], bottom[0], bottom[1], bottom[2]
                ));
                last = Some((top, bottom));
            }
            out.push('▀');
        }
        out.push_str("\x1b[0m\n");
    }
    out
}

/// The terminal display; writes to any `Write` (stdout in the daemon, a buffer in tests).
pub struct TerminalDisplay<W> {
    out: W,
    layout: Layout,
    language: Language,
    pixels: bool,
    footer: Option<String>,
}

impl TerminalDisplay<std::io::Stdout> {
    pub fn stdout(config: &TerminalConfig) -> Self {
        TerminalDisplay::new(std::io::stdout(), config)
    }
}

impl<W: Write> TerminalDisplay<W> {
    pub fn new(out: W, config: &TerminalConfig) -> Self {
        TerminalDisplay {
            out,
            layout: config.layout,
            language: config.language,
            pixels: config.pixels,
            footer: config.footer.clone(),
        }
    }

    pub fn into_inner(self) -> W {
        self.out
    }
}

impl<W: Write> Display for TerminalDisplay<W> {
    fn show(&mut self, screen: &Screen, flags: StatusFlags) -> Result<(), DisplayError> {
        let text = if self.pixels {
            let frame = half_blocks(&render_image(screen, self.language, flags, self.layout));
            match &self.footer {
                // Home, clear, frame, footer: the screen stays put like a real panel.
                Some(footer) => format!("\x1b[H\x1b[2J{frame}\n{footer}\n"),
                None => frame,
            }
        } else {
            let mut line = describe(screen, self.language);
            if let Some(warning) = flags.warning(self.language) {
                line.push_str(&format!(" [{warning}]"));
            }
            line + "\n"
        };
        self.out
            .write_all(text.as_bytes())
            .and_then(|()| self.out.flush())
            .map_err(|e| DisplayError::Device {
                device: "terminal".to_string(),
                detail: e.to_string(),
            })
    }

    fn describe(&self) -> String {
        if self.pixels {
            format!("terminal {}", self.layout.name())
        } else {
            "terminal text".to_string()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::Fen;

    #[test]
    fn half_blocks_pair_rows_and_skip_repeated_escapes() {
        let mut image = RgbImage::filled(2, 3, [0, 0, 0]);
        image.paste(&RgbImage::filled(2, 1, [255, 0, 0]), 0, 0);
        let text = half_blocks(&image);
        assert_eq!(
            text,
            "\x1b[38;2;255;0;0m\x1b[48;2;0;0;0m▀▀\x1b[0m\n\
             \x1b[38;2;0;0;0m\x1b[48;2;0;0;0m▀▀\x1b[0m\n"
        );
    }

    #[test]
    fn pixel_mode_draws_one_row_per_two_pixel_rows() {
        let config = TerminalConfig {
            layout: Layout::Mono128x64,
            pixels: true,
            language: Language::En,
            footer: None,
        };
        let mut display = TerminalDisplay::new(Vec::new(), &config);
        display
            .show(&Screen::Ready, StatusFlags::default())
            .unwrap();
        let out = String::from_utf8(display.into_inner()).unwrap();
        assert_eq!(out.lines().count(), 32);
        assert!(out
            .lines()
            .all(|l| l.chars().filter(|&c| c == '▀').count() == 128));
    }

    #[test]
    fn text_mode_prints_one_line_with_flags() {
        let config = TerminalConfig {
            layout: Layout::Mono128x64,
            pixels: false,
            language: Language::En,
            footer: None,
        };
        let mut display = TerminalDisplay::new(Vec::new(), &config);
        let flags = StatusFlags {
            clock_unsynced: true,
            ..StatusFlags::default()
        };
        display
            .show(&Screen::Expired { amount: Fen(990) }, flags)
            .unwrap();
        let out = String::from_utf8(display.into_inner()).unwrap();
        assert_eq!(
            out,
            "[NOT SENT] ¥9.90 — Offline too long, nothing charged. Scan a new code [clock not synced]\n"
        );
    }

    #[test]
    fn a_footer_redraws_in_place_below_the_frame() {
        let config = TerminalConfig {
            layout: Layout::Mono128x64,
            pixels: true,
            language: Language::En,
            footer: Some("type a code".into()),
        };
        let mut display = TerminalDisplay::new(Vec::new(), &config);
        display
            .show(&Screen::Ready, StatusFlags::default())
            .unwrap();
        display
            .show(&Screen::Ready, StatusFlags::default())
            .unwrap();
        let out = String::from_utf8(display.into_inner()).unwrap();
        let frames: Vec<&str> = out.split("\x1b[H\x1b[2J").collect();
        assert_eq!(
            frames.len(),
            3,
            "each frame starts by going home and clearing"
        );
        assert!(frames[1].ends_with("\ntype a code\n"));
        assert_eq!(frames[1].lines().count(), 32 + 2);
    }
}
