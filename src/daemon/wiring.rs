//! From the validated `Config` to the settings each adapter takes.
//!
//! The config module is the public contract and knows no adapter; the adapters know no
//! config file. These functions are the only place the two meet.

use crate::config::{
    Config, DisplayOutput, DisplaySettings, GpioChip, Language as ConfigLanguage, PanelModel,
    ScannerSettings,
};
use crate::display::{DisplayConfig, Language, Layout, PngConfig, SpiPanelConfig, TerminalConfig};
use crate::engine::EnginePolicy;
use crate::scanner::{RawScannerConfig, ScannerConfig, ScannerConfigError};

/// The engine's timing rules from `[payment]` and `[offline]`.
pub fn engine_policy(config: &Config) -> EnginePolicy {
    let payment = &config.payment;
    EnginePolicy {
        order_prefix: payment.order_prefix.clone(),
        first_query: payment.first_query,
        query_interval: payment.query_interval,
        query_interval_max: payment.max_query_interval,
        cashier_deadline: payment.deadline,
        reconcile_fast_interval: payment.reconcile.fast_every,
        reconcile_fast_for: payment.reconcile.fast_for,
        reconcile_slow_interval: payment.reconcile.slow_every,
        reconcile_slow_for: payment.reconcile.slow_for,
        pay_max_age: config.offline.pay_max_age,
        duplicate_window: payment.duplicate_window,
        // Not configurable; the engine keeps it below `pay_max_age` (`probe_every`).
        ..EnginePolicy::default()
    }
}

/// The scanner task's settings from `[scanner]`.
pub fn scanner_config(settings: &ScannerSettings) -> Result<ScannerConfig, ScannerConfigError> {
    let raw = match settings {
        ScannerSettings::Serial {
            path,
            baud,
            suffix,
            inter_char_timeout,
        } => RawScannerConfig {
            kind: Some("serial".into()),
            path: Some(path.clone()),
            baud: Some(*baud),
            suffix: Some(suffix.as_str().into()),
            inter_char_timeout_ms: Some(inter_char_timeout.as_millis() as u64),
            ..RawScannerConfig::default()
        },
        ScannerSettings::Hid {
            path,
            layout,
            inter_char_timeout,
        } => RawScannerConfig {
            kind: Some("hid".into()),
            path: Some(path.clone()),
            hid_layout: Some(layout.as_str().into()),
            inter_char_timeout_ms: Some(inter_char_timeout.as_millis() as u64),
            ..RawScannerConfig::default()
        },
        ScannerSettings::Stdin { suffix } => RawScannerConfig {
            kind: Some("stdin".into()),
            // cr | lf | crlf: the config refuses `none` for stdin (a person presses Enter).
            suffix: Some(suffix.as_str().into()),
            ..RawScannerConfig::default()
        },
    };
    raw.validate()
}

/// The display's settings from `[display]`.
pub fn display_config(settings: &DisplaySettings) -> DisplayConfig {
    let language = match settings.language {
        ConfigLanguage::Zh => Language::Zh,
        ConfigLanguage::En => Language::En,
    };
    match &settings.output {
        DisplayOutput::None => DisplayConfig::None,
        DisplayOutput::Terminal => DisplayConfig::Terminal(TerminalConfig {
            // The largest layout that fits the terminal, redrawn to fit each frame.
            layout: None,
            pixels: true,
            language,
            footer: None,
        }),
        DisplayOutput::Png {
            output_dir,
            width,
            height,
        } => DisplayConfig::Png(PngConfig {
            dir: output_dir.clone(),
            layout: layout_for(*width, *height),
            language,
            keep_frames: 1000,
        }),
        DisplayOutput::Panel(panel) => {
            let spi = SpiPanelConfig {
                spi_device: panel.spi.clone(),
                gpio_chip: match &panel.gpio_chip {
                    GpioChip::Label(label) => label.clone(),
                    GpioChip::Path(path) => path.display().to_string(),
                },
                dc_pin: panel.dc_pin,
                reset_pin: Some(panel.reset_pin),
                backlight_pin: panel.backlight_pin,
                spi_hz: 32_000_000,
                invert_colors: None,
                language,
            };
            match panel.model {
                PanelModel::St7789 => DisplayConfig::St7789(spi),
                PanelModel::Ili9341 => DisplayConfig::Ili9341(spi),
                PanelModel::Ssd1306 => DisplayConfig::Ssd1306(spi),
            }
        }
    }
}

/// The supported layout closest to a configured size.
fn layout_for(width: u32, height: u32) -> Layout {
    match (width, height) {
        (w, h) if w <= 128 && h <= 64 => Layout::Mono128x64,
        (w, _) if w >= 320 => Layout::Color320x240,
        _ => Layout::Color240x240,
    }
}
