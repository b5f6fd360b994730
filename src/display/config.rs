//! The display's settings, already valid: which backend, its device paths and pins, its size
//! and language. The daemon builds them from the config's validated `[display]` section
//! (`daemon::wiring::display_config`), the one place a `[display]` value is checked; the
//! backends take what they are given.

use std::path::PathBuf;

use embedded_graphics::prelude::Size;

use super::Language;

/// One of the supported screen geometries. Rendering adapts its layout to each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Layout {
    /// 240×240 RGB565 (typical ST7789 1.3"/1.54").
    Color240x240,
    /// 320×240 RGB565 (typical ILI9341 2.4"/2.8" in landscape).
    Color320x240,
    /// 128×64 monochrome (SSD1306 0.96"/1.3" OLED).
    Mono128x64,
}

impl Layout {
    pub const ALL: [Layout; 3] = [
        Layout::Color240x240,
        Layout::Color320x240,
        Layout::Mono128x64,
    ];

    pub fn size(self) -> Size {
        match self {
            Layout::Color240x240 => Size::new(240, 240),
            Layout::Color320x240 => Size::new(320, 240),
            Layout::Mono128x64 => Size::new(128, 64),
        }
    }

    /// `240x240`: the size as written in file names.
    pub fn name(self) -> &'static str {
        match self {
            Layout::Color240x240 => "240x240",
            Layout::Color320x240 => "320x240",
            Layout::Mono128x64 => "128x64",
        }
    }

    pub fn is_mono(self) -> bool {
        self == Layout::Mono128x64
    }
}

/// Which backend draws the screens, with its settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DisplayConfig {
    /// ST7789 RGB565 panel over SPI, 240×240 by default.
    St7789(SpiPanelConfig),
    /// ILI9341 RGB565 panel over SPI, used in landscape: 320×240.
    Ili9341(SpiPanelConfig),
    /// SSD1306 128×64 monochrome OLED over SPI.
    Ssd1306(SpiPanelConfig),
    /// Each frame written as a numbered PNG plus `latest.png` in a folder.
    Png(PngConfig),
    /// Each frame drawn in the terminal (the demo).
    Terminal(TerminalConfig),
    /// No display.
    None,
}

/// Wiring of an SPI panel. GPIO lines are offsets on the chip whose label is `gpio_chip`
/// (`pinctrl-bcm2711` on a Pi 4, `pinctrl-rp1` on a Pi 5): labels survive reboots and kernel
/// updates, chip numbers do not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpiPanelConfig {
    /// The spidev device, e.g. `/dev/spidev0.0`.
    pub spi_device: PathBuf,
    /// The label of the GPIO chip carrying the DC/reset/backlight lines.
    pub gpio_chip: String,
    /// Data/command line offset.
    pub dc_pin: u32,
    /// Reset line offset; without it the panel gets a software reset.
    pub reset_pin: Option<u32>,
    /// Backlight line offset, switched on at open.
    pub backlight_pin: Option<u32>,
    /// SPI clock in Hz.
    pub spi_hz: u32,
    /// Panel colours inverted (most ST7789 modules need this; default per model).
    pub invert_colors: Option<bool>,
    pub language: Language,
}

/// The `png` backend's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PngConfig {
    /// Folder for `frame-000001.png`, … and `latest.png`; created if missing.
    pub dir: PathBuf,
    pub layout: Layout,
    pub language: Language,
    /// How many numbered frames to keep (older ones are deleted); 0 keeps them all.
    pub keep_frames: u64,
}

/// The `terminal` backend's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TerminalConfig {
    /// Draw only this layout; `None` draws the largest that fits the terminal.
    pub layout: Option<Layout>,
    /// Draw pixels (braille or half blocks, 24-bit colour) when the terminal is large enough;
    /// `false` prints one text line per screen.
    pub pixels: bool,
    pub language: Language,
    /// Drawn below or beside every frame (the demo's instructions); every frame clears the
    /// terminal and redraws in place, instead of scrolling.
    pub footer: Option<String>,
}

impl DisplayConfig {
    /// The language of the configured display (`zh` when there is none).
    pub fn language(&self) -> Language {
        match self {
            DisplayConfig::St7789(c) | DisplayConfig::Ili9341(c) | DisplayConfig::Ssd1306(c) => {
                c.language
            }
            DisplayConfig::Png(c) => c.language,
            DisplayConfig::Terminal(c) => c.language,
            DisplayConfig::None => Language::default(),
        }
    }
}
