//! `systemd/config.example.toml` is what a merchant starts from: it must validate as shipped
//! (with its key file in place), and every key it documents in a `#key = value` line must be
//! a real key of the right type, so uncommenting one never produces an "unknown field".

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use scanpay::config::*;

const EXAMPLE: &str = include_str!("../../systemd/config.example.toml");

/// The example with every documented `#key = value` line switched on.
fn uncommented() -> String {
    EXAMPLE
        .lines()
        .map(|line| {
            let rest = line.strip_prefix('#').unwrap_or(line);
            let is_assignment = rest.split_once(" = ").is_some_and(|(key, _)| {
                !key.is_empty() && key.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
            });
            if line.starts_with('#') && is_assignment {
                rest.to_string()
            } else {
                line.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn the_example_validates_with_its_key_in_place() {
    let (dir, origin) = key_in_place();
    let key = dir.path().join("merchant.key");
    let text = EXAMPLE.replace("/etc/scanpay/merchant.key", key.to_str().unwrap());
    let config = Config::from_toml(&text, Path::new("config.example.toml"), &origin).unwrap();
    assert_eq!(config.payment.order_prefix, "SP3F9A1C");
    assert!(matches!(
        config.scanner,
        ScannerSettings::Serial { baud: 9600, .. }
    ));
    assert!(matches!(
        config.display.output,
        DisplayOutput::Panel(PanelSettings {
            model: PanelModel::St7789,
            dc_pin: 25,
            reset_pin: 27,
            backlight_pin: None,
            ..
        })
    ));
}

#[test]
fn every_documented_key_is_a_real_key() {
    let text = uncommented();
    let raw = parse_raw(&text).unwrap_or_else(|err| panic!("{err:?}\n{text}"));
    // Spot checks that the switch-on worked, so the test cannot pass on an empty parse.
    let gateway = raw.gateway.as_ref().unwrap();
    assert_eq!(gateway.sign_lowercase_values, Some(true));
    assert_eq!(
        raw.payment.as_ref().unwrap().order_prefix.as_deref(),
        Some("SP3F9A1C")
    );
    let reconcile = raw.payment.as_ref().unwrap().reconcile.as_ref().unwrap();
    assert_eq!(reconcile.slow_for_s, Some(86400));
    assert_eq!(raw.display.as_ref().unwrap().backlight_pin, Some(18));
    assert_eq!(raw.register.as_ref().unwrap().fixed_amount_fen, Some(1250));
    assert_eq!(
        raw.storage.as_ref().unwrap().path.as_deref(),
        Some(Path::new("/var/lib/scanpay"))
    );
}

#[test]
fn documented_defaults_are_the_real_defaults() {
    // Switching on the lines that show a default gives the same config as leaving them out.
    let commented_defaults = [
        "#connect_timeout_ms = 3000",
        "#request_timeout_ms = 10000",
        "#first_query_ms = 2000",
        "#query_interval_ms = 3000",
        "#max_query_interval_ms = 15000",
        "#deadline_s = 60",
        "#duplicate_window_s = 10",
        "#not_found_final_s = 300",
        "#fast_every_s = 30",
        "#fast_for_s = 900",
        "#slow_every_s = 300",
        "#slow_for_s = 86400",
        "#pay_max_age_s = 30",
        "#baud = 9600",
        "#suffix = \"cr\"",
        "#inter_char_timeout_ms = 100",
        "#listen = \"127.0.0.1:8750\"",
        "#language = \"zh\"",
        "#operator_id = \"scanpay\"",
        "#default_subject = \"scanpay\"",
    ];
    let (dir, origin) = key_in_place();
    let shipped = EXAMPLE.replace(
        "/etc/scanpay/merchant.key",
        dir.path().join("merchant.key").to_str().unwrap(),
    );
    let mut explicit = shipped.clone();
    for line in commented_defaults {
        assert!(
            EXAMPLE.lines().any(|l| l == line),
            "{line} not in the example"
        );
        explicit = explicit.replace(&format!("{line}\n"), &format!("{}\n", &line[1..]));
    }
    assert_ne!(shipped, explicit);
    let path = Path::new("config.example.toml");
    assert_eq!(
        Config::from_toml(&shipped, path, &origin).unwrap(),
        Config::from_toml(&explicit, path, &origin).unwrap()
    );
}

fn key_in_place() -> (tempfile::TempDir, Origin) {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("merchant.key");
    fs::write(&key, "k\n").unwrap();
    fs::set_permissions(&key, fs::Permissions::from_mode(0o600)).unwrap();
    let origin = Origin {
        dir: dir.path().to_path_buf(),
        host: HostFacts {
            machine_id: Some("3f9a1c02d5e84b7f9c0e1a2b3c4d5e6f".into()),
            hostname: None,
            hardware_serial: None,
        },
    };
    (dir, origin)
}
