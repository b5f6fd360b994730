//! The `[display]` section: which backend, its device paths and pins, its size and language.
//!
//! Parsed with serde straight from TOML (`kind = "st7789"`, …) so the config module can embed
//! it; `validate` checks what serde cannot.

use std::path::PathBuf;

use embedded_graphics::prelude::Size;
use serde::{Deserialize, Serialize};

use super::{DisplayError, Language};

/// One of the supported screen geometries. Rendering adapts its layout to each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Layout {
    /// 240×240 RGB565 (typical ST7789 1.3"/1.54").
    #[serde(rename = "240x240")]
    Color240x240,
    /// 320×240 RGB565 (typical ILI9341 2.4"/2.8" in landscape).
    #[serde(rename = "320x240")]
    Color320x240,
    /// 128×64 monochrome (SSD1306 0.96"/1.3" OLED).
    #[serde(rename = "128x64")]
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

    /// `240x240`: the config spelling, also used in file names.
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

/// The `[display]` section.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpiPanelConfig {
    /// The spidev device, e.g. `/dev/spidev0.0`.
    pub spi_device: PathBuf,
    /// The label of the GPIO chip carrying the DC/reset/backlight lines.
    #[serde(default = "default_gpio_chip")]
    pub gpio_chip: String,
    /// Data/command line offset.
    pub dc_pin: u32,
    /// Reset line offset; without it the panel gets a software reset.
    #[serde(default)]
    pub reset_pin: Option<u32>,
    /// Backlight line offset, switched on at open.
    #[serde(default)]
    pub backlight_pin: Option<u32>,
    /// SPI clock in Hz.
    #[serde(default = "default_spi_hz")]
    pub spi_hz: u32,
    /// Panel colours inverted (most ST7789 modules need this; default per model).
    #[serde(default)]
    pub invert_colors: Option<bool>,
    #[serde(default)]
    pub language: Language,
}

/// The `png` backend's settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PngConfig {
    /// Folder for `frame-000001.png`, … and `latest.png`; created if missing.
    pub dir: PathBuf,
    #[serde(default = "default_layout")]
    pub layout: Layout,
    #[serde(default)]
    pub language: Language,
    /// How many numbered frames to keep (older ones are deleted); 0 keeps them all.
    #[serde(default = "default_keep_frames")]
    pub keep_frames: u64,
}

/// The `terminal` backend's settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TerminalConfig {
    /// Draw only this layout; `None` draws the largest that fits the terminal.
    #[serde(default)]
    pub layout: Option<Layout>,
    /// Draw pixels (braille or half blocks, 24-bit colour) when the terminal is large enough;
    /// `false` prints one text line per screen.
    #[serde(default = "default_true")]
    pub pixels: bool,
    #[serde(default)]
    pub language: Language,
    /// Drawn below or beside every frame (the demo's instructions); every frame clears the
    /// terminal and redraws in place, instead of scrolling.
    #[serde(default)]
    pub footer: Option<String>,
}

fn default_gpio_chip() -> String {
    "pinctrl-bcm2711".to_string()
}

fn default_spi_hz() -> u32 {
    32_000_000
}

fn default_layout() -> Layout {
    Layout::Color240x240
}

fn default_keep_frames() -> u64 {
    1000
}

fn default_true() -> bool {
    true
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

    /// Checks what serde cannot: pins used twice, a zero SPI clock, an empty path.
    pub fn validate(&self) -> Result<(), DisplayError> {
        match self {
            DisplayConfig::St7789(c) | DisplayConfig::Ili9341(c) | DisplayConfig::Ssd1306(c) => {
                c.validate()
            }
            DisplayConfig::Png(c) if c.dir.as_os_str().is_empty() => Err(DisplayError::Config(
                "png dir is empty; set dir to a folder for the frames".into(),
            )),
            _ => Ok(()),
        }
    }
}

impl SpiPanelConfig {
    /// Checks the wiring: a device path, a chip label, a clock, three different lines.
    pub fn validate(&self) -> Result<(), DisplayError> {
        if self.spi_device.as_os_str().is_empty() {
            return Err(DisplayError::Config(
                "spi_device is empty; set it to the panel's spidev, e.g. /dev/spidev0.0".into(),
            ));
        }
        if self.gpio_chip.is_empty() {
            return Err(DisplayError::Config(
                "gpio_chip is empty; set it to the chip's label (see `gpiodetect`)".into(),
            ));
        }
        if self.spi_hz == 0 {
            return Err(DisplayError::Config(
                "spi_hz is 0; use the panel's SPI clock, e.g. 32000000".into(),
            ));
        }
        let pins = [Some(self.dc_pin), self.reset_pin, self.backlight_pin];
        let used: Vec<u32> = pins.iter().flatten().copied().collect();
        for (i, pin) in used.iter().enumerate() {
            if used[i + 1..].contains(pin) {
                return Err(DisplayError::Config(format!(
                    "GPIO line {pin} is used for two functions (dc_pin, reset_pin, backlight_pin must differ)"
                )));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_kind_from_toml() {
        let st: DisplayConfig = toml::from_str(
            r#"kind = "st7789"
               spi_device = "/dev/spidev0.0"
               gpio_chip = "pinctrl-rp1"
               dc_pin = 25
               reset_pin = 27
               backlight_pin = 18
               language = "en""#,
        )
        .unwrap();
        let DisplayConfig::St7789(c) = &st else {
            panic!("{st:?}")
        };
        assert_eq!(c.gpio_chip, "pinctrl-rp1");
        assert_eq!(
            (c.dc_pin, c.reset_pin, c.backlight_pin),
            (25, Some(27), Some(18))
        );
        assert_eq!(c.spi_hz, 32_000_000);
        assert_eq!(st.language(), Language::En);
        st.validate().unwrap();

        let png: DisplayConfig =
            toml::from_str("kind = \"png\"\ndir = \"/tmp/frames\"\nlayout = \"128x64\"").unwrap();
        assert_eq!(
            png,
            DisplayConfig::Png(PngConfig {
                dir: "/tmp/frames".into(),
                layout: Layout::Mono128x64,
                language: Language::Zh,
                keep_frames: 1000,
            })
        );
        let none: DisplayConfig = toml::from_str("kind = \"none\"").unwrap();
        assert_eq!(none, DisplayConfig::None);
        let term: DisplayConfig = toml::from_str("kind = \"terminal\"").unwrap();
        assert!(matches!(
            term,
            DisplayConfig::Terminal(TerminalConfig { pixels: true, .. })
        ));
    }

    #[test]
    fn refuses_unknown_kinds_and_bad_wiring() {
        let err = toml::from_str::<DisplayConfig>("kind = \"hdmi\"").unwrap_err();
        assert!(err.to_string().contains("hdmi"), "{err}");
        let twice: DisplayConfig = toml::from_str(
            "kind = \"ssd1306\"\nspi_device = \"/dev/spidev0.0\"\ndc_pin = 25\nreset_pin = 25",
        )
        .unwrap();
        let err = twice.validate().unwrap_err().to_string();
        assert!(err.contains("GPIO line 25"), "{err}");
    }
}
