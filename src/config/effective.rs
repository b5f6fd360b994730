//! The effective config written back in the file's own shape (every default filled in) with
//! secrets masked: the merchant key as `<N bytes from PATH>`, an inline token as `****`,
//! credentials in a URL (`user:pass@`) as `****:****@`.
//! What `scanpay check-config` prints.

use std::path::PathBuf;
use std::time::Duration;

use super::raw::*;
use super::settings::*;

/// The config as a `RawConfig` a person can read: nothing secret in it.
pub fn masked(config: &Config) -> RawConfig {
    let g = &config.gateway;
    let p = &config.payment;
    let r = &p.reconcile;
    RawConfig {
        gateway: Some(RawGateway {
            base_url: Some(without_credentials(&g.base_url)),
            app_id: Some(g.app_id.clone()),
            key_file: Some(PathBuf::from(g.key.describe())),
            notify_url: Some(without_credentials(&g.notify_url)),
            operator_id: Some(g.operator_id.clone()),
            connect_timeout_ms: Some(ms(g.connect_timeout)),
            request_timeout_ms: Some(ms(g.request_timeout)),
            sign_lowercase_values: Some(g.sign_rules.lowercase_values),
        }),
        payment: Some(RawPayment {
            first_query_ms: Some(ms(p.first_query)),
            query_interval_ms: Some(ms(p.query_interval)),
            max_query_interval_ms: Some(ms(p.max_query_interval)),
            deadline_s: Some(p.deadline.as_secs()),
            duplicate_window_s: Some(p.duplicate_window.as_secs()),
            not_found_final_s: Some(p.not_found_final.as_secs()),
            default_subject: Some(p.default_subject.clone()),
            order_prefix: Some(p.order_prefix.clone()),
            reconcile: Some(RawReconcile {
                fast_every_s: Some(r.fast_every.as_secs()),
                fast_for_s: Some(r.fast_for.as_secs()),
                slow_every_s: Some(r.slow_every.as_secs()),
                slow_for_s: Some(r.slow_for.as_secs()),
            }),
        }),
        offline: Some(RawOffline {
            pay_max_age_s: Some(config.offline.pay_max_age.as_secs()),
        }),
        scanner: Some(scanner(&config.scanner)),
        display: Some(display(&config.display)),
        register: Some(register(&config.register)),
        storage: Some(RawStorage {
            path: Some(config.storage.path.clone()),
            keep_days: Some(u64::from(config.storage.keep_days)),
        }),
    }
}

/// A URL with any `user:password@` masked as `****:****@` (a user name can be a secret too).
fn without_credentials(url: &url::Url) -> String {
    let mut shown = url.clone();
    if !url.username().is_empty() {
        // Only a URL that cannot have credentials refuses these, and it has none to mask.
        let _ = shown.set_username("****");
    }
    if url.password().is_some() {
        let _ = shown.set_password(Some("****"));
    }
    shown.to_string()
}

fn ms(duration: Duration) -> u64 {
    duration.as_millis() as u64
}

fn scanner(settings: &ScannerSettings) -> RawScanner {
    match settings {
        ScannerSettings::Serial {
            path,
            baud,
            suffix,
            inter_char_timeout,
        } => RawScanner {
            kind: Some("serial".into()),
            path: Some(path.clone()),
            baud: Some(u64::from(*baud)),
            suffix: Some(suffix.as_str().into()),
            inter_char_timeout_ms: Some(ms(*inter_char_timeout)),
            layout: None,
        },
        ScannerSettings::Hid {
            path,
            layout,
            inter_char_timeout,
        } => RawScanner {
            kind: Some("hid".into()),
            path: Some(path.clone()),
            inter_char_timeout_ms: Some(ms(*inter_char_timeout)),
            layout: Some(layout.as_str().into()),
            ..RawScanner::default()
        },
        ScannerSettings::Stdin { suffix } => RawScanner {
            kind: Some("stdin".into()),
            suffix: Some(suffix.as_str().into()),
            ..RawScanner::default()
        },
    }
}

fn display(settings: &DisplaySettings) -> RawDisplay {
    let language = Some(settings.language.as_str().to_string());
    match &settings.output {
        DisplayOutput::Panel(panel) => RawDisplay {
            kind: Some(panel.model.as_str().into()),
            width: Some(u64::from(panel.width)),
            height: Some(u64::from(panel.height)),
            spi: Some(panel.spi.clone()),
            gpio_chip: Some(match &panel.gpio_chip {
                GpioChip::Path(path) => path.display().to_string(),
                GpioChip::Label(label) => label.clone(),
            }),
            dc_pin: Some(u64::from(panel.dc_pin)),
            reset_pin: Some(u64::from(panel.reset_pin)),
            backlight_pin: panel.backlight_pin.map(u64::from),
            output_dir: None,
            language,
        },
        DisplayOutput::Png {
            output_dir,
            width,
            height,
        } => RawDisplay {
            kind: Some("png".into()),
            width: Some(u64::from(*width)),
            height: Some(u64::from(*height)),
            output_dir: Some(output_dir.clone()),
            language,
            ..RawDisplay::default()
        },
        DisplayOutput::Terminal => RawDisplay {
            kind: Some("terminal".into()),
            language,
            ..RawDisplay::default()
        },
        DisplayOutput::None => RawDisplay {
            kind: Some("none".into()),
            language,
            ..RawDisplay::default()
        },
    }
}

fn register(settings: &RegisterSettings) -> RawRegister {
    let (token, token_file) = match &settings.token {
        None => (None, None),
        Some(RegisterToken::Inline(_)) => (Some(toml::Value::String("****".into())), None),
        Some(RegisterToken::File(file)) => (None, Some(PathBuf::from(file.describe()))),
    };
    RawRegister {
        listen: Some(match &settings.listen {
            ListenAddr::Tcp(addr) => addr.to_string(),
            ListenAddr::Unix(path) => format!("unix:{}", path.display()),
        }),
        token,
        token_file,
        fixed_amount_fen: settings.fixed_amount.map(|fen| fen.0),
        notify_listen: settings.notify_listen.map(|addr| addr.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::without_credentials;

    #[test]
    fn credentials_in_a_url_are_masked_the_rest_is_kept() {
        for (url, shown) in [
            (
                "https://user:pa55@gw.example/pay?x=1",
                "https://****:****@gw.example/pay?x=1",
            ),
            ("https://token@gw.example/", "https://****@gw.example/"),
            ("https://:pa55@gw.example/", "https://:****@gw.example/"),
            ("http://127.0.0.1:9000/", "http://127.0.0.1:9000/"),
        ] {
            let parsed = url::Url::parse(url).unwrap();
            assert_eq!(without_credentials(&parsed), shown, "{url}");
        }
    }
}
