//! The display: how a [`Screen`] chosen by the engine looks, and where the pixels go.
//!
//! `render` draws any screen onto any embedded-graphics `DrawTarget` (240×240 and 320×240
//! RGB565 panels, 128×64 monochrome OLEDs), in Chinese or English. Backends sit behind the
//! narrow [`Display`] trait: SPI panels (ST7789, ILI9341 via mipidsi; SSD1306), a folder of
//! PNG frames, the terminal, or nothing. Panels only receive the regions that changed.
//!
//! Architecture invariant: the display knows pixels, fonts and words, never sale rules; it
//! shows only what a `Screen` carries (no payment code, no key). A display fault is an error
//! value naming the device — `show` never panics, and the daemon keeps taking payments.

pub mod config;
pub mod framebuffer;
pub mod linux;
pub mod palette;
pub mod panel;
pub mod png_out;
pub mod qr;
pub mod render;
pub mod terminal;
pub mod text;
pub mod wrap;

pub use crate::engine::Screen;
pub use config::{DisplayConfig, Layout, PngConfig, SpiPanelConfig, TerminalConfig};
pub use framebuffer::{changed_regions, Framebuffer};
pub use palette::PanelColor;
pub use render::render;

/// The language of every word on the display.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Language {
    /// Simplified Chinese (the default: the customers pay with Chinese wallets).
    #[default]
    Zh,
    En,
}

impl Language {
    pub const ALL: [Language; 2] = [Language::Zh, Language::En];

    /// `zh` or `en`: the config spelling, also used in file names.
    pub fn code(self) -> &'static str {
        match self {
            Language::Zh => "zh",
            Language::En => "en",
        }
    }
}

/// Conditions the daemon overlays on whatever screen is showing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StatusFlags {
    /// The system clock is not known to be synchronised: timestamps and signatures may be off.
    pub clock_unsynced: bool,
    /// A damaged journal was moved aside and no person has acknowledged it yet (see
    /// `/v1/status`): shown until then, in place of the clock warning if both apply.
    pub journal_damaged: bool,
}

impl StatusFlags {
    /// The one warning the footer has room for, most important first.
    pub fn warning(self, lang: Language) -> Option<&'static str> {
        if self.journal_damaged {
            Some(text::journal_warning(lang))
        } else if self.clock_unsynced {
            Some(text::clock_warning(lang))
        } else {
            None
        }
    }
}

/// A display that failed. Always names the device, so the log says which one to look at.
#[derive(Debug, thiserror::Error)]
pub enum DisplayError {
    /// Opening the device (SPI bus, GPIO chip or line, folder) failed.
    #[error(
        "cannot open display device {device}: {detail}; check the [display] settings and wiring"
    )]
    Open { device: String, detail: String },
    /// Sending a frame to an opened device failed.
    #[error("display device {device} failed while drawing: {detail}; payments continue, the next screen retries")]
    Device { device: String, detail: String },
}

/// Where frames go. One call per screen change; cheap when nothing changed.
pub trait Display {
    /// Draws `screen` with `flags` overlaid. Never panics; a failure names the device.
    fn show(&mut self, screen: &Screen, flags: StatusFlags) -> Result<(), DisplayError>;

    /// What this display is, for status reports: `st7789 on /dev/spidev0.0`, `png in /tmp/x`.
    fn describe(&self) -> String;
}

/// The `none` backend: there is no display; every screen is accepted and dropped.
#[derive(Debug, Default)]
pub struct NoDisplay;

impl Display for NoDisplay {
    fn show(&mut self, _screen: &Screen, _flags: StatusFlags) -> Result<(), DisplayError> {
        Ok(())
    }

    fn describe(&self) -> String {
        "none".to_string()
    }
}

/// Opens the display a config describes. SPI panels are initialised here (reset, init
/// sequence), so a missing panel or wrong wiring shows up at start, named.
pub fn open_display(config: &DisplayConfig) -> Result<Box<dyn Display + Send>, DisplayError> {
    match config {
        DisplayConfig::None => Ok(Box::new(NoDisplay)),
        DisplayConfig::Png(png) => Ok(Box::new(png_out::PngDisplay::open(png)?)),
        DisplayConfig::Terminal(term) => Ok(Box::new(terminal::TerminalDisplay::stdout(term))),
        DisplayConfig::St7789(spi) => linux::open_st7789(spi),
        DisplayConfig::Ili9341(spi) => linux::open_ili9341(spi),
        DisplayConfig::Ssd1306(spi) => linux::open_ssd1306(spi),
    }
}
