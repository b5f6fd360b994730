//! From the validated `Config` to the settings each adapter takes.
//!
//! The config module is the public contract and knows no adapter; the adapters know no
//! config file. These functions are the only place the two meet.

use crate::config::{
    Config, DisplayOutput, DisplaySettings, GatewaySettings, GpioChip, KeyboardLayout,
    Language as ConfigLanguage, PanelModel, ScanSuffix, ScannerSettings,
};
use crate::display::{DisplayConfig, Language, Layout, PngConfig, SpiPanelConfig, TerminalConfig};
use crate::engine::EnginePolicy;
use crate::gateway::GatewayClientConfig;
use crate::protocol::messages::Merchant;
use crate::scanner::framing::{FramingRules, Suffix};
use crate::scanner::keymap::Layout as KeyboardMap;
use crate::scanner::ScannerConfig;

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
        not_found_final: payment.not_found_final,
        pay_max_age: config.offline.pay_max_age,
        duplicate_window: payment.duplicate_window,
        // Not configurable; the engine keeps it below `pay_max_age` (`probe_every`).
        ..EnginePolicy::default()
    }
}

/// The gateway client's settings from `[gateway]`: the daemon's client and the merchant
/// commands' (`scanpay query`, `balance`, …) are built from this one function.
pub fn gateway_config(settings: &GatewaySettings) -> GatewayClientConfig {
    GatewayClientConfig {
        // The client drops the trailing `/` that `Url` always writes after a bare host.
        base_url: settings.base_url.to_string(),
        merchant: Merchant {
            app_id: settings.app_id.clone(),
            key: settings.merchant_key(),
            rules: settings.sign_rules,
        },
        connect_timeout: settings.connect_timeout,
        request_timeout: settings.request_timeout,
    }
}

/// The scanner task's settings from `[scanner]`, already valid: the config's validation is
/// the one check.
pub fn scanner_config(settings: &ScannerSettings) -> ScannerConfig {
    match settings {
        ScannerSettings::Serial {
            path,
            baud,
            suffix,
            inter_char_timeout,
        } => {
            let serial = ScannerConfig::serial(path.clone(), *baud);
            ScannerConfig {
                framing: FramingRules {
                    suffix: scan_suffix(*suffix),
                    inter_char_timeout: Some(*inter_char_timeout),
                    ..serial.framing
                },
                ..serial
            }
        }
        ScannerSettings::Hid {
            path,
            layout,
            inter_char_timeout,
        } => {
            let layout = match layout {
                KeyboardLayout::Us => KeyboardMap::us(),
                KeyboardLayout::De => KeyboardMap::de(),
                KeyboardLayout::Fr => KeyboardMap::fr(),
            };
            let hid = ScannerConfig::hid(path.clone(), layout);
            ScannerConfig {
                framing: FramingRules {
                    inter_char_timeout: Some(*inter_char_timeout),
                    ..hid.framing
                },
                ..hid
            }
        }
        // A person presses Enter: no inter-character timeout (the config refuses suffix
        // `none` for stdin, so a code always has an end).
        ScannerSettings::Stdin { suffix } => {
            let stdin = ScannerConfig::stdin();
            ScannerConfig {
                framing: FramingRules {
                    suffix: scan_suffix(*suffix),
                    ..stdin.framing
                },
                ..stdin
            }
        }
    }
}

fn scan_suffix(suffix: ScanSuffix) -> Suffix {
    match suffix {
        ScanSuffix::Cr => Suffix::Cr,
        ScanSuffix::Lf => Suffix::Lf,
        ScanSuffix::CrLf => Suffix::CrLf,
        ScanSuffix::None => Suffix::None,
    }
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

/// The adapters' settings match what the config validated, value for value.
#[cfg(test)]
mod adapter_settings_tests {
    use std::path::PathBuf;
    use std::time::Duration;

    use super::*;
    use crate::config::PanelSettings;
    use crate::scanner::ScannerKind;

    #[test]
    fn the_gateway_client_takes_the_gateway_section() {
        use std::os::unix::fs::PermissionsExt;

        use crate::config::read_secret_file;
        use crate::gateway::HttpGateway;
        use crate::protocol::signing::SignRules;

        let dir = tempfile::tempdir().unwrap();
        let key_file = dir.path().join("merchant.key");
        std::fs::write(&key_file, "merchant-key-0123\n").unwrap();
        std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o600)).unwrap();
        // Not the default, so that a client built with default rules would fail here.
        let rules = SignRules {
            lowercase_values: false,
        };
        let settings = GatewaySettings {
            base_url: "https://pay.example.com/gw/".parse().unwrap(),
            app_id: "app-7".into(),
            key: read_secret_file(&key_file).unwrap(),
            notify_url: "https://shop.example.com/notify".parse().unwrap(),
            operator_id: "001".into(),
            connect_timeout: Duration::from_secs(2),
            request_timeout: Duration::from_secs(7),
            sign_rules: rules,
        };
        let config = gateway_config(&settings);
        assert_eq!(config.merchant.app_id, "app-7");
        assert_eq!(config.merchant.key, settings.merchant_key());
        assert_eq!(config.merchant.rules, rules);
        assert_eq!(config.connect_timeout, Duration::from_secs(2));
        assert_eq!(config.request_timeout, Duration::from_secs(7));
        // The path prefix is kept; the trailing `/` is the client's to drop.
        let client = HttpGateway::new(config).unwrap();
        assert_eq!(client.base_url(), "https://pay.example.com/gw");
        let bare = GatewaySettings {
            base_url: "http://127.0.0.1:8080".parse().unwrap(),
            ..settings
        };
        let client = HttpGateway::new(gateway_config(&bare)).unwrap();
        assert_eq!(client.base_url(), "http://127.0.0.1:8080");
    }

    #[test]
    fn a_serial_scanner_takes_every_setting() {
        let config = scanner_config(&ScannerSettings::Serial {
            path: PathBuf::from("/dev/serial/by-id/usb-scanner"),
            baud: 115_200,
            suffix: ScanSuffix::CrLf,
            inter_char_timeout: Duration::from_millis(50),
        });
        assert_eq!(config.kind, ScannerKind::Serial);
        assert_eq!(config.path, PathBuf::from("/dev/serial/by-id/usb-scanner"));
        assert_eq!(config.baud, 115_200);
        assert_eq!(
            config.framing,
            FramingRules {
                suffix: Suffix::CrLf,
                inter_char_timeout: Some(Duration::from_millis(50)),
                ..FramingRules::default()
            }
        );
    }

    #[test]
    fn a_hid_scanner_ends_codes_at_enter_and_types_in_its_layout() {
        let config = scanner_config(&ScannerSettings::Hid {
            path: PathBuf::from("/dev/input/by-id/usb-scanner-event-kbd"),
            layout: KeyboardLayout::Fr,
            inter_char_timeout: Duration::from_millis(200),
        });
        assert_eq!(config.kind, ScannerKind::Hid);
        assert_eq!(config.framing.suffix, Suffix::Lf);
        assert_eq!(
            config.framing.inter_char_timeout,
            Some(Duration::from_millis(200))
        );
        // AZERTY: the digits are the shifted keys.
        assert_eq!(
            config.hid_layout.char_for(evdev::KeyCode::KEY_1, true),
            Some('1')
        );
        for layout in [KeyboardLayout::Us, KeyboardLayout::De, KeyboardLayout::Fr] {
            let ScannerConfig { hid_layout, .. } = scanner_config(&ScannerSettings::Hid {
                path: PathBuf::from("/dev/input/event0"),
                layout,
                inter_char_timeout: Duration::from_millis(100),
            });
            assert_eq!(hid_layout.name(), layout.as_str());
        }
    }

    #[test]
    fn stdin_ends_codes_at_the_configured_suffix_and_waits_for_a_person() {
        // A scanner piped in through socat sends bare CR; ignoring the suffix left every code
        // waiting for a LF that never came.
        for suffix in [ScanSuffix::Cr, ScanSuffix::Lf, ScanSuffix::CrLf] {
            let config = scanner_config(&ScannerSettings::Stdin { suffix });
            assert_eq!(config.kind, ScannerKind::Stdin);
            assert_eq!(config.framing.suffix.to_string(), suffix.as_str());
            assert_eq!(config.framing.inter_char_timeout, None);
        }
        let config = scanner_config(&ScannerSettings::Serial {
            path: PathBuf::from("/dev/ttyACM0"),
            baud: 9600,
            suffix: ScanSuffix::None,
            inter_char_timeout: Duration::from_millis(100),
        });
        assert_eq!(config.framing.suffix, Suffix::None);
    }

    #[test]
    fn a_panel_gets_its_model_wiring_and_language() {
        let config = display_config(&DisplaySettings {
            output: DisplayOutput::Panel(PanelSettings {
                model: PanelModel::Ili9341,
                width: 320,
                height: 240,
                spi: PathBuf::from("/dev/spidev0.1"),
                gpio_chip: GpioChip::Label("pinctrl-rp1".into()),
                dc_pin: 24,
                reset_pin: 23,
                backlight_pin: Some(18),
            }),
            language: ConfigLanguage::En,
        });
        assert_eq!(
            config,
            DisplayConfig::Ili9341(SpiPanelConfig {
                spi_device: PathBuf::from("/dev/spidev0.1"),
                gpio_chip: "pinctrl-rp1".into(),
                dc_pin: 24,
                reset_pin: Some(23),
                backlight_pin: Some(18),
                spi_hz: 32_000_000,
                invert_colors: None,
                language: Language::En,
            })
        );
    }

    #[test]
    fn png_draws_the_configured_size_and_the_terminal_fits_itself() {
        for (width, height, layout) in [
            (240, 240, Layout::Color240x240),
            (320, 240, Layout::Color320x240),
            (128, 64, Layout::Mono128x64),
        ] {
            let config = display_config(&DisplaySettings {
                output: DisplayOutput::Png {
                    output_dir: PathBuf::from("/var/lib/scanpay/screens"),
                    width,
                    height,
                },
                language: ConfigLanguage::Zh,
            });
            assert_eq!(
                config,
                DisplayConfig::Png(PngConfig {
                    dir: PathBuf::from("/var/lib/scanpay/screens"),
                    layout,
                    language: Language::Zh,
                    keep_frames: 1000,
                })
            );
        }
        let terminal = display_config(&DisplaySettings {
            output: DisplayOutput::Terminal,
            language: ConfigLanguage::En,
        });
        assert!(matches!(
            terminal,
            DisplayConfig::Terminal(TerminalConfig {
                layout: None,
                pixels: true,
                language: Language::En,
                ..
            })
        ));
    }
}
