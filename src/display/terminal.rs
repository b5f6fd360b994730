//! The `terminal` backend, for the demo: each frame drawn at the density that fits the
//! terminal it runs in, or one plain text line per screen.
//!
//! A frame is the largest layout that fits with its words (a one-line caption saying what
//! the screen says, then the footer): the 320×240 or 240×240 colour layouts in braille cells
//! (2×4 pixels, two colours a cell) on a large terminal, 128×64 in half blocks (1×2 pixels)
//! on a tall one, 128×64 in braille (64×16 cells) on an 80×24 one. Every line is placed with
//! a cursor move and none reaches past the last column, and the last row stays empty (the
//! Enter typed after a code moves the cursor there), so nothing wraps or scrolls. When
//! nothing fits, or standard output is not a terminal, each screen is one line of text.

use std::io::Write;

use crate::engine::Screen;

use super::config::{Layout, TerminalConfig};
use super::png_out::{render_image, RgbImage};
use super::text::describe;
use super::{Display, DisplayError, Language, StatusFlags};

/// A terminal's size in character cells.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TermSize {
    pub cols: usize,
    pub rows: usize,
}

impl TermSize {
    /// The size of the terminal on standard output; `None` when it is not a terminal (a
    /// pipe, a file) or reports no size.
    pub fn of_stdout() -> Option<TermSize> {
        let mut size = libc::winsize {
            ws_row: 0,
            ws_col: 0,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        // SAFETY: TIOCGWINSZ writes one `winsize` through the pointer, which is valid for
        // the call; on a descriptor that is not a terminal it fails and writes nothing.
        let result = unsafe { libc::ioctl(libc::STDOUT_FILENO, libc::TIOCGWINSZ, &mut size) };
        (result == 0 && size.ws_col > 0 && size.ws_row > 0).then_some(TermSize {
            cols: usize::from(size.ws_col),
            rows: usize::from(size.ws_row),
        })
    }
}

/// How pixels become character cells.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Density {
    /// `▀` with a foreground and a background colour: 1×2 pixels a cell, exact.
    HalfBlocks,
    /// Braille dots: 2×4 pixels a cell, in the cell's two commonest colours.
    Braille,
}

impl Density {
    /// The pixels one character cell holds, across and down.
    fn cell(self) -> (u32, u32) {
        match self {
            Density::HalfBlocks => (1, 2),
            Density::Braille => (2, 4),
        }
    }

    /// The cells `layout` takes at this density: (columns, rows).
    pub fn cells(self, layout: Layout) -> (usize, usize) {
        let (w, h) = self.cell();
        let size = layout.size();
        (
            size.width.div_ceil(w) as usize,
            size.height.div_ceil(h) as usize,
        )
    }

    /// `image` as terminal rows, each ending in a colour reset, with no newlines.
    pub fn draw(self, image: &RgbImage) -> Vec<String> {
        match self {
            Density::HalfBlocks => half_blocks(image),
            Density::Braille => braille(image),
        }
    }

    fn name(self) -> &'static str {
        match self {
            Density::HalfBlocks => "half blocks",
            Density::Braille => "braille",
        }
    }
}

/// The ways to draw a frame, largest first: the first that fits is used.
const CANDIDATES: [(Layout, Density); 4] = [
    (Layout::Color320x240, Density::Braille),
    (Layout::Color240x240, Density::Braille),
    (Layout::Mono128x64, Density::HalfBlocks),
    (Layout::Mono128x64, Density::Braille),
];

/// Columns between the screen and the words beside it.
const GAP: usize = 2;

/// The narrowest caption worth placing beside a screen.
const MIN_WORDS_WIDTH: usize = 40;

/// Where the caption and footer go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    Below,
    Beside,
}

/// A way of drawing a frame that fits a terminal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fit {
    pub layout: Layout,
    pub density: Density,
    pub place: Place,
}

/// The largest way to draw a frame with `footer` below or beside it in `size`, or `None`
/// when nothing fits (then the screen is a line of text). `only` limits it to one layout.
pub fn choose(size: TermSize, only: Option<Layout>, footer: &[String]) -> Option<Fit> {
    let words_width = footer.iter().map(|l| text_width(l)).max().unwrap_or(0);
    // The caption, the footer, and an empty row under them for the Enter after a code.
    let words_rows = 1 + footer.len() + 1;
    CANDIDATES
        .iter()
        .filter(|(layout, _)| only.is_none_or(|o| o == *layout))
        .find_map(|&(layout, density)| {
            let (cols, rows) = density.cells(layout);
            let below =
                cols <= size.cols && words_width <= size.cols && rows + words_rows <= size.rows;
            let beside = cols + GAP + words_width.max(MIN_WORDS_WIDTH) <= size.cols
                && rows <= size.rows
                && words_rows <= size.rows;
            let place = if below {
                Place::Below
            } else if beside {
                Place::Beside
            } else {
                return None;
            };
            Some(Fit {
                layout,
                density,
                place,
            })
        })
}

/// Draws `image` with `▀`: the upper pixel of each cell is the foreground, the lower one the
/// background. Escapes repeat only when a colour changes: a flat banner costs one.
pub fn half_blocks(image: &RgbImage) -> Vec<String> {
    (0..image.height)
        .step_by(2)
        .map(|y| {
            let mut row = String::new();
            let mut last = None;
            for x in 0..image.width {
                let top = image.get(x, y);
                let bottom = if y + 1 < image.height {
                    image.get(x, y + 1)
                } else {
                    [0, 0, 0]
                };
                push_colours(&mut row, &mut last, (top, bottom));
                row.push('▀');
            }
            row.push_str(RESET);
            row
        })
        .collect()
}

/// Draws `image` in braille cells of 2×4 pixels, two colours a cell: the screens are flat
/// banners and one-colour text, so that is nearly always exact. The background is the
/// commonest colour of the cell's band (its four pixel rows across the image) when the cell
/// has it, else the cell's own commonest; the dots are the other pixels, in the commonest
/// other colour. So the cells of one banner or one line of text agree on which colour is
/// the dots, and a glyph is not drawn half in dots and half in solid cells. A cell with no
/// dots is a space (some fonts draw an empty braille pattern as an outline).
pub fn braille(image: &RgbImage) -> Vec<String> {
    // The bit of each dot, by (x, y) inside the cell (Unicode's braille numbering).
    const DOT: [[u32; 4]; 2] = [[0x01, 0x02, 0x04, 0x40], [0x08, 0x10, 0x20, 0x80]];
    (0..image.height)
        .step_by(4)
        .map(|y0| {
            let band = Tally::of(
                (0..image.width)
                    .flat_map(|x| (y0..(y0 + 4).min(image.height)).map(move |y| image.get(x, y))),
            );
            let mut row = String::new();
            let mut last = None;
            for x0 in (0..image.width).step_by(2) {
                let mut pixels = Vec::with_capacity(8);
                for dy in 0..4 {
                    for dx in 0..2 {
                        let (x, y) = (x0 + dx, y0 + dy);
                        if x < image.width && y < image.height {
                            pixels.push(((dx, dy), image.get(x, y)));
                        }
                    }
                }
                let cell = Tally::of(pixels.iter().map(|&(_, c)| c));
                let band_colour = band.commonest(&band, None);
                let background = if cell.count(band_colour) > 0 {
                    band_colour
                } else {
                    cell.commonest(&band, None)
                };
                let foreground = cell.commonest(&band, Some(background));
                let bits = pixels
                    .iter()
                    .filter(|&&(_, c)| c != background)
                    .fold(0, |bits, &((dx, dy), _)| {
                        bits | DOT[dx as usize][dy as usize]
                    });
                push_colours(&mut row, &mut last, (foreground, background));
                row.push(if bits == 0 {
                    ' '
                } else {
                    char::from_u32(0x2800 + bits).expect("braille patterns are U+2800..=U+28FF")
                });
            }
            row.push_str(RESET);
            row
        })
        .collect()
}

/// How often each colour occurs.
struct Tally(Vec<([u8; 3], usize)>);

impl Tally {
    fn of(colours: impl Iterator<Item = [u8; 3]>) -> Tally {
        let mut counts: Vec<([u8; 3], usize)> = Vec::new();
        for colour in colours {
            match counts.iter_mut().find(|(c, _)| *c == colour) {
                Some((_, n)) => *n += 1,
                None => counts.push((colour, 1)),
            }
        }
        Tally(counts)
    }

    fn count(&self, colour: [u8; 3]) -> usize {
        self.0
            .iter()
            .find(|(c, _)| *c == colour)
            .map_or(0, |&(_, n)| n)
    }

    /// The commonest colour other than `except`, ties going to the one commoner in
    /// `wider`; `except` itself (or black) when there is no other.
    fn commonest(&self, wider: &Tally, except: Option<[u8; 3]>) -> [u8; 3] {
        self.0
            .iter()
            .filter(|(c, _)| Some(*c) != except)
            .max_by_key(|&&(c, n)| (n, wider.count(c)))
            .map(|&(c, _)| c)
            .or(except)
            .unwrap_or([0, 0, 0])
    }
}

const RESET: &str = "\x1b[0m";

/// Sets 24-bit foreground and background colours, unless they are already `last`.
fn push_colours(
    out: &mut String,
    last: &mut Option<([u8; 3], [u8; 3])>,
    colours: ([u8; 3], [u8; 3]),
) {
    if *last != Some(colours) {
        let ([fr, fg, fb], [br, bg, bb]) = colours;
        out.push_str(&format!(
            "\x1b[38;2;{fr};{fg};{fb}m\x1b[48;2;{br};{bg};{bb}m"
        ));
        *last = Some(colours);
    }
}

/// The columns `c` takes in a terminal: 2 for the wide East Asian characters (Chinese,
/// full-width forms), 0 for control characters, 1 otherwise.
pub fn char_width(c: char) -> usize {
    let wide = matches!(u32::from(c),
        0x1100..=0x115F | 0x2E80..=0x303E | 0x3041..=0x33FF | 0x3400..=0x4DBF
        | 0x4E00..=0x9FFF | 0xA000..=0xA4CF | 0xAC00..=0xD7A3 | 0xF900..=0xFAFF
        | 0xFE30..=0xFE4F | 0xFF00..=0xFF60 | 0xFFE0..=0xFFE6 | 0x1F300..=0x1F64F
        | 0x20000..=0x3FFFD);
    if c.is_control() {
        0
    } else if wide {
        2
    } else {
        1
    }
}

/// The columns `text` takes (it holds no escapes).
pub fn text_width(text: &str) -> usize {
    text.chars().map(char_width).sum()
}

/// `text` cut to at most `width` columns, ending in `…` when cut; control characters are
/// dropped.
pub fn fit_width(text: &str, width: usize) -> String {
    if text_width(text) <= width {
        return text.chars().filter(|c| !c.is_control()).collect();
    }
    let mut out = String::new();
    let mut used = 0;
    for c in text.chars().filter(|c| !c.is_control()) {
        if used + char_width(c) + 1 > width {
            break;
        }
        used += char_width(c);
        out.push(c);
    }
    if width > 0 {
        out.push('…');
    }
    out
}

/// Where the terminal's size comes from: standard output's, or a fixed one (tests).
pub type SizeSource = Box<dyn Fn() -> Option<TermSize> + Send>;

/// The terminal display; writes to any `Write` (stdout in the daemon, a buffer in tests).
pub struct TerminalDisplay<W> {
    out: W,
    only: Option<Layout>,
    language: Language,
    pixels: bool,
    footer: Vec<String>,
    size: SizeSource,
    /// The last frame was drawn in pixels (so a text line after it starts a clean screen).
    drew_pixels: bool,
}

impl TerminalDisplay<std::io::Stdout> {
    pub fn stdout(config: &TerminalConfig) -> Self {
        TerminalDisplay::new(std::io::stdout(), config, Box::new(TermSize::of_stdout))
    }
}

impl<W: Write> TerminalDisplay<W> {
    pub fn new(out: W, config: &TerminalConfig, size: SizeSource) -> Self {
        TerminalDisplay {
            out,
            only: config.layout,
            language: config.language,
            pixels: config.pixels,
            footer: config
                .footer
                .as_deref()
                .map(|f| f.lines().map(str::to_string).collect())
                .unwrap_or_default(),
            size,
            drew_pixels: false,
        }
    }

    pub fn into_inner(self) -> W {
        self.out
    }

    /// The screen in words: what the `--text` line and the caption under a drawn screen say.
    fn caption(&self, screen: &Screen, flags: StatusFlags) -> String {
        let mut line = describe(screen, self.language);
        if let Some(warning) = flags.warning(self.language) {
            line.push_str(&format!(" [{warning}]"));
        }
        line
    }

    fn frame(&self, screen: &Screen, flags: StatusFlags, fit: Fit, size: TermSize) -> String {
        let image = render_image(screen, self.language, flags, fit.layout);
        let (cols, rows) = fit.density.cells(fit.layout);
        // Home and clear, then every line placed: the screen stays put like a real panel.
        let mut out = format!("{RESET}\x1b[H\x1b[2J");
        for (i, line) in fit.density.draw(&image).iter().enumerate() {
            out.push_str(&format!("\x1b[{};1H{line}", i + 1));
        }
        let (top, left, width) = match fit.place {
            Place::Below => (rows + 1, 1, size.cols),
            Place::Beside => (1, cols + GAP + 1, size.cols - cols - GAP),
        };
        let caption = self.caption(screen, flags);
        let words = std::iter::once(caption.as_str()).chain(self.footer.iter().map(String::as_str));
        for (i, line) in words.enumerate() {
            out.push_str(&format!(
                "\x1b[{};{left}H{}",
                top + i,
                fit_width(line, width)
            ));
        }
        out
    }
}

impl<W: Write> Display for TerminalDisplay<W> {
    fn show(&mut self, screen: &Screen, flags: StatusFlags) -> Result<(), DisplayError> {
        let size = (self.size)();
        let fit = self
            .pixels
            .then_some(size)
            .flatten()
            .and_then(|size| Some((choose(size, self.only, &self.footer)?, size)));
        let text = match fit {
            Some((fit, size)) => {
                self.drew_pixels = true;
                self.frame(screen, flags, fit, size)
            }
            None => {
                let mut text = String::new();
                if std::mem::take(&mut self.drew_pixels) {
                    // Shrunk below the smallest frame: start clean, with the instructions.
                    text.push_str(&format!("{RESET}\x1b[H\x1b[2J"));
                    for line in &self.footer {
                        text.push_str(line);
                        text.push('\n');
                    }
                }
                text + &self.caption(screen, flags) + "\n"
            }
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
        match (self.pixels, (self.size)()) {
            (true, Some(size)) => match choose(size, self.only, &self.footer) {
                Some(fit) => format!(
                    "terminal {}x{}: {} in {}",
                    size.cols,
                    size.rows,
                    fit.layout.name(),
                    fit.density.name()
                ),
                None => format!("terminal {}x{}: text lines", size.cols, size.rows),
            },
            _ => "terminal text".to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::Fen;

    fn config(pixels: bool, footer: Option<&str>) -> TerminalConfig {
        TerminalConfig {
            layout: None,
            pixels,
            language: Language::En,
            footer: footer.map(str::to_string),
        }
    }

    fn sized(cols: usize, rows: usize) -> SizeSource {
        Box::new(move || Some(TermSize { cols, rows }))
    }

    #[test]
    fn half_blocks_pair_rows_and_skip_repeated_escapes() {
        let mut image = RgbImage::filled(2, 3, [0, 0, 0]);
        image.paste(&RgbImage::filled(2, 1, [255, 0, 0]), 0, 0);
        assert_eq!(
            half_blocks(&image),
            [
                "\x1b[38;2;255;0;0m\x1b[48;2;0;0;0m▀▀\x1b[0m",
                "\x1b[38;2;0;0;0m\x1b[48;2;0;0;0m▀▀\x1b[0m"
            ]
        );
    }

    #[test]
    fn braille_puts_2x4_pixels_in_a_cell_in_its_two_colours() {
        // Left column white on black: dots 1, 2, 3, 7. The right cell is all black: a space.
        let mut image = RgbImage::filled(4, 4, [0, 0, 0]);
        image.paste(&RgbImage::filled(1, 4, [255, 255, 255]), 0, 0);
        assert_eq!(
            braille(&image),
            ["\x1b[38;2;255;255;255m\x1b[48;2;0;0;0m⡇\x1b[38;2;0;0;0m\x1b[48;2;0;0;0m \x1b[0m"]
        );
        // Mostly white: white is the background and the one black pixel is the dot.
        let mut image = RgbImage::filled(2, 4, [255, 255, 255]);
        image.paste(&RgbImage::filled(1, 1, [0, 0, 0]), 1, 3);
        assert_eq!(
            braille(&image),
            ["\x1b[38;2;0;0;0m\x1b[48;2;255;255;255m⢀\x1b[0m"]
        );
    }

    #[test]
    fn the_largest_layout_that_fits_is_chosen() {
        let footer: Vec<String> = (0..6).map(|_| "x".repeat(78)).collect();
        let fit = |cols, rows| choose(TermSize { cols, rows }, None, &footer);
        let is = |layout, density, place| {
            Some(Fit {
                layout,
                density,
                place,
            })
        };
        // 128x64 in 64x16 braille cells, words below: 16 + 1 + 6 + an empty row = 24.
        assert_eq!(
            fit(80, 24),
            is(Layout::Mono128x64, Density::Braille, Place::Below)
        );
        assert_eq!(
            fit(200, 60),
            is(Layout::Color240x240, Density::Braille, Place::Beside)
        );
        assert_eq!(
            fit(130, 45),
            is(Layout::Mono128x64, Density::HalfBlocks, Place::Below)
        );
        assert_eq!(
            fit(240, 70),
            is(Layout::Color320x240, Density::Braille, Place::Below)
        );
        assert_eq!(fit(77, 24), None, "the footer is 78 wide");
        assert_eq!(fit(80, 23), None);
        let only_mono = choose(
            TermSize {
                cols: 240,
                rows: 70,
            },
            Some(Layout::Mono128x64),
            &footer,
        );
        assert_eq!(
            only_mono,
            is(Layout::Mono128x64, Density::HalfBlocks, Place::Below)
        );
    }

    #[test]
    fn an_80x24_frame_is_placed_line_by_line_and_never_reaches_the_edge() {
        let footer = "first line of instructions\nscan> ";
        let mut display =
            TerminalDisplay::new(Vec::new(), &config(true, Some(footer)), sized(80, 24));
        let screen = Screen::Armed {
            amount: Fen(1250),
            subject: "coffee".into(),
        };
        display.show(&screen, StatusFlags::default()).unwrap();
        let out = String::from_utf8(display.into_inner()).unwrap();
        assert!(out.starts_with("\x1b[0m\x1b[H\x1b[2J\x1b[1;1H"), "{out:?}");
        assert!(
            !out.contains('\n'),
            "no newline: a newline on the last row scrolls"
        );
        // 16 screen rows, then the caption and the footer below them.
        assert!(out.contains("\x1b[16;1H") && !out.contains("\x1b[17;1H\x1b[38"));
        assert!(out.contains(
            "\x1b[17;1H[Show pay code] ¥12.50 — Open the Alipay or WeChat pay code (coffee)"
        ));
        assert!(out.ends_with("\x1b[18;1Hfirst line of instructions\x1b[19;1Hscan> "));
    }

    #[test]
    fn text_mode_prints_one_line_with_flags() {
        let mut display = TerminalDisplay::new(Vec::new(), &config(false, None), sized(80, 24));
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
    fn a_terminal_too_small_or_none_gets_text_lines_and_a_shrink_starts_clean() {
        let sizes = std::sync::Arc::new(std::sync::Mutex::new(vec![
            None,
            Some(TermSize { cols: 40, rows: 10 }),
            Some(TermSize { cols: 80, rows: 24 }),
        ]));
        let source = sizes.clone();
        let mut display = TerminalDisplay::new(
            Vec::new(),
            &config(true, Some("type a code")),
            Box::new(move || source.lock().unwrap().pop().flatten()),
        );
        for _ in 0..3 {
            display
                .show(&Screen::Ready, StatusFlags::default())
                .unwrap();
        }
        let out = String::from_utf8(display.into_inner()).unwrap();
        let line = "[Ready] — Waiting for the register\n";
        let (frame, after) = out.split_at(out.find("\x1b[0m\x1b[H\x1b[2Jtype").unwrap());
        assert!(frame.contains("\x1b[16;1H"), "first an 80x24 frame");
        assert_eq!(
            after,
            format!("\x1b[0m\x1b[H\x1b[2Jtype a code\n{line}{line}")
        );
    }

    #[test]
    fn caption_cuts_wide_text_by_columns() {
        assert_eq!(text_width("支付成功 ¥1"), 11);
        assert_eq!(fit_width("支付成功", 5), "支付…");
        assert_eq!(fit_width("abc", 3), "abc");
        assert_eq!(fit_width("abcd", 3), "ab…");
        assert_eq!(fit_width("a\x1bb", 3), "ab");
    }
}
