//! The config file's contract: defaults, every key's error, the key file's permissions,
//! unknown keys named, secrets never echoed, and the masked effective config.

use std::fs;
use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use expect_test::{expect, Expect};
use scanpay::config::*;
use scanpay::protocol::Fen;

const KEY: &str = "merchant-key-0123456789abcdef";
const TOKEN: &str = "register-token-XYZ";

/// A temp directory holding a private merchant key, as a config's neighbour.
struct Setup {
    dir: tempfile::TempDir,
}

impl Setup {
    fn new() -> Setup {
        let dir = tempfile::tempdir().unwrap();
        write_private(&dir.path().join("merchant.key"), &format!("{KEY}\n"));
        Setup { dir }
    }

    fn origin(&self) -> Origin {
        Origin {
            dir: self.dir.path().to_path_buf(),
            host: HostFacts {
                machine_id: Some("0a1b2c3d4e5f60718293a4b5c6d7e8f9".into()),
                hostname: Some("till".into()),
                hardware_serial: None,
            },
        }
    }

    fn load(&self, text: &str) -> Result<Config, ConfigError> {
        Config::from_toml(text, Path::new("test.toml"), &self.origin())
    }

    /// The problems of an invalid config, one `[section] key: message` per line.
    fn problems(&self, text: &str) -> String {
        match self.load(text) {
            Ok(config) => panic!("expected problems, got {config:?}"),
            Err(err) => {
                let text = err
                    .problems()
                    .iter()
                    .map(|p| format!("{p}\n"))
                    .collect::<String>();
                assert!(!text.contains(KEY) && !text.contains(TOKEN), "{text}");
                text.replace(&self.dir.path().display().to_string(), "$DIR")
            }
        }
    }
}

fn write_private(path: &Path, content: &str) {
    fs::write(path, content).unwrap();
    fs::set_permissions(path, fs::Permissions::from_mode(0o600)).unwrap();
}

const MINIMAL: &str = r#"
[gateway]
base_url = "http://127.0.0.1:9000"
app_id = "JYK2018100001"
key_file = "merchant.key"
notify_url = "https://pos.example.com/notify"
"#;

/// MINIMAL plus `extra` (which may open more sections).
fn with(extra: &str) -> String {
    format!("{MINIMAL}{extra}")
}

fn check_problems(extra: &str, expect: Expect) {
    expect.assert_eq(&Setup::new().problems(&with(extra)));
}

#[test]
fn minimal_config_gets_the_designs_defaults() {
    let setup = Setup::new();
    let config = setup.load(MINIMAL).unwrap();
    let g = &config.gateway;
    assert_eq!(g.base_url.as_str(), "http://127.0.0.1:9000/");
    assert_eq!(g.app_id, "JYK2018100001");
    assert_eq!(g.key.expose(), KEY);
    assert_eq!(g.key.path, setup.dir.path().join("merchant.key"));
    assert_eq!(g.operator_id, "scanpay");
    assert_eq!(g.connect_timeout, Duration::from_secs(3));
    assert_eq!(g.request_timeout, Duration::from_secs(10));
    assert!(g.sign_rules.lowercase_values);
    let p = &config.payment;
    assert_eq!(p.first_query, Duration::from_secs(2));
    assert_eq!(p.query_interval, Duration::from_secs(3));
    assert_eq!(p.max_query_interval, Duration::from_secs(15));
    assert_eq!(p.deadline, Duration::from_secs(60));
    assert_eq!(
        p.reconcile,
        ReconcileSchedule {
            fast_every: Duration::from_secs(30),
            fast_for: Duration::from_secs(900),
            slow_every: Duration::from_secs(300),
            slow_for: Duration::from_secs(86_400),
        }
    );
    assert_eq!(p.duplicate_window, Duration::from_secs(10));
    assert_eq!(p.not_found_final, Duration::from_secs(300));
    assert_eq!(p.default_subject, "scanpay");
    assert_eq!(p.order_prefix, "SP0A1B2C");
    assert_eq!(config.offline.pay_max_age, Duration::from_secs(30));
    assert_eq!(
        config.scanner,
        ScannerSettings::Serial {
            path: PathBuf::from("/dev/scanpay-scanner"),
            baud: 9600,
            suffix: ScanSuffix::Cr,
            inter_char_timeout: Duration::from_millis(100),
        }
    );
    assert_eq!(
        config.display,
        DisplaySettings {
            output: DisplayOutput::None,
            language: Language::Zh
        }
    );
    assert_eq!(
        config.register,
        RegisterSettings {
            listen: ListenAddr::Tcp("127.0.0.1:8750".parse().unwrap()),
            token: None,
            fixed_amount: None,
            notify_listen: None,
        }
    );
    assert_eq!(config.storage.path, PathBuf::from("/var/lib/scanpay"));
}

#[test]
fn every_section_set_explicitly_is_read() {
    let setup = Setup::new();
    write_private(&setup.dir.path().join("token"), &format!("{TOKEN}\n"));
    let config = setup
        .load(&with(
            r#"
operator_id = "Cashier-07"
connect_timeout_ms = 500
request_timeout_ms = 2000
sign_lowercase_values = false

[payment]
first_query_ms = 50
query_interval_ms = 100
max_query_interval_ms = 400
deadline_s = 5
duplicate_window_s = 0
not_found_final_s = 120
default_subject = "咖啡店"
order_prefix = "SHOP1T2"

[payment.reconcile]
fast_every_s = 1
fast_for_s = 10
slow_every_s = 2
slow_for_s = 20

[offline]
pay_max_age_s = 0

[scanner]
kind = "hid"
path = "/dev/input/by-id/usb-scanner-event-kbd"
inter_char_timeout_ms = 40
layout = "us"

[display]
kind = "st7789"
width = 240
height = 240
spi = "/dev/spidev0.1"
gpio_chip = "pinctrl-bcm2711"
dc_pin = 24
reset_pin = 23
backlight_pin = 18
language = "en"

[register]
listen = "0.0.0.0:8750"
token_file = "token"
fixed_amount_fen = 1250
notify_listen = "0.0.0.0:8751"

[storage]
path = "journal"
"#,
        ))
        .unwrap();
    assert_eq!(config.gateway.operator_id, "Cashier-07");
    assert_eq!(config.gateway.connect_timeout, Duration::from_millis(500));
    assert!(!config.gateway.sign_rules.lowercase_values);
    assert_eq!(config.payment.query_interval, Duration::from_millis(100));
    assert_eq!(config.payment.reconcile.slow_for, Duration::from_secs(20));
    assert_eq!(config.payment.not_found_final, Duration::from_secs(120));
    assert_eq!(config.payment.order_prefix, "SHOP1T2");
    assert_eq!(config.payment.default_subject, "咖啡店");
    assert_eq!(config.offline.pay_max_age, Duration::ZERO);
    assert_eq!(
        config.scanner,
        ScannerSettings::Hid {
            path: PathBuf::from("/dev/input/by-id/usb-scanner-event-kbd"),
            layout: KeyboardLayout::Us,
            inter_char_timeout: Duration::from_millis(40),
        }
    );
    assert_eq!(
        config.display.output,
        DisplayOutput::Panel(PanelSettings {
            model: PanelModel::St7789,
            width: 240,
            height: 240,
            spi: PathBuf::from("/dev/spidev0.1"),
            gpio_chip: GpioChip::Label("pinctrl-bcm2711".into()),
            dc_pin: 24,
            reset_pin: 23,
            backlight_pin: Some(18),
        })
    );
    assert_eq!(config.display.language, Language::En);
    let register = &config.register;
    assert_eq!(
        register.listen,
        ListenAddr::Tcp("0.0.0.0:8750".parse().unwrap())
    );
    assert_eq!(register.token.as_ref().unwrap().expose(), TOKEN);
    assert_eq!(register.fixed_amount, Some(Fen(1250)));
    assert_eq!(
        register.notify_listen,
        Some("0.0.0.0:8751".parse::<SocketAddr>().unwrap())
    );
    // Relative paths start at the config file's directory.
    assert_eq!(config.storage.path, setup.dir.path().join("journal"));
}

#[test]
fn other_scanner_and_display_kinds() {
    let setup = Setup::new();
    let config = setup
        .load(&with(
            "[scanner]\nkind = \"stdin\"\n[display]\nkind = \"png\"\noutput_dir = \"screens\"\n[register]\nlisten = \"unix:/run/scanpay/register.sock\"\ntoken = \"abc\"\n",
        ))
        .unwrap();
    assert_eq!(
        config.scanner,
        ScannerSettings::Stdin {
            suffix: ScanSuffix::Lf
        }
    );
    assert_eq!(
        config.display.output,
        DisplayOutput::Png {
            output_dir: setup.dir.path().join("screens"),
            width: 240,
            height: 240
        }
    );
    assert_eq!(
        config.register.listen,
        ListenAddr::Unix(PathBuf::from("/run/scanpay/register.sock"))
    );
    assert_eq!(config.register.token.as_ref().unwrap().expose(), "abc");
    let config = setup
        .load(&with(
            "[scanner]\nsuffix = \"none\"\nbaud = 115200\n[display]\nkind = \"ssd1306\"\nwidth = 128\nheight = 64\ngpio_chip = \"/dev/gpiochip4\"\n",
        ))
        .unwrap();
    assert!(matches!(
        config.scanner,
        ScannerSettings::Serial {
            baud: 115200,
            suffix: ScanSuffix::None,
            ..
        }
    ));
    let DisplayOutput::Panel(panel) = &config.display.output else {
        panic!("{:?}", config.display)
    };
    assert_eq!((panel.width, panel.height), (128, 64));
    assert_eq!(panel.gpio_chip, GpioChip::Path("/dev/gpiochip4".into()));
    let config = setup
        .load(&with("[display]\nkind = \"terminal\"\n"))
        .unwrap();
    assert_eq!(config.display.output, DisplayOutput::Terminal);
}

#[test]
fn an_empty_file_names_every_required_key() {
    expect![[r#"
        [gateway] base_url: is missing; set it, e.g. base_url = "https://pay.example.com"
        [gateway] app_id: is missing; set it, e.g. app_id = "JYK2018100001"
        [gateway] key_file: is missing; set it to the file holding the merchant key, e.g. key_file = "/etc/scanpay/merchant.key"
        [gateway] notify_url: is missing; set it, e.g. notify_url = "https://pos.example.com/notify"
    "#]]
    .assert_eq(&Setup::new().problems(""));
}

#[test]
fn gateway_key_errors() {
    expect![[r#"
        [gateway] base_url: "ftp://x" is not an http or https URL with a host; expected e.g. https://pay.example.com
        [gateway] app_id: "JYK 1" contains spaces; expected the app id the gateway issued
        [gateway] notify_url: "not a url" is not a URL (relative URL without a base); expected e.g. https://pos.example.com/notify
        [gateway] operator_id: "0123456789012345678901234567890123" has 34 characters; expected 1 to 32
        [gateway] connect_timeout_ms: 0 is out of range; expected 100 to 60000 (milliseconds to open a connection)
        [gateway] request_timeout_ms: 400000 is out of range; expected 100 to 300000 (milliseconds for a whole request)
    "#]]
    .assert_eq(&Setup::new().problems(
        r#"
[gateway]
base_url = "ftp://x"
app_id = "JYK 1"
key_file = "merchant.key"
notify_url = "not a url"
operator_id = "0123456789012345678901234567890123"
connect_timeout_ms = 0
request_timeout_ms = 400000
"#,
    ));
    expect![[r#"
        [gateway] app_id: "" has 0 characters; expected 1 to 50
        [gateway] request_timeout_ms: 1000 is not longer than connect_timeout_ms = 2000; the whole request includes connecting
    "#]]
    .assert_eq(&Setup::new().problems(
        r#"
[gateway]
base_url = "https://pay.example.com/api"
app_id = ""
key_file = "merchant.key"
notify_url = "http://pos/notify"
connect_timeout_ms = 2000
request_timeout_ms = 1000
"#,
    ));
}

#[test]
fn key_file_readable_by_others_is_refused_with_path_mode_and_fix() {
    let setup = Setup::new();
    let key = setup.dir.path().join("merchant.key");
    fs::set_permissions(&key, fs::Permissions::from_mode(0o644)).unwrap();
    expect![[r#"
        [gateway] key_file: $DIR/merchant.key has mode 0644, so group or others can read or replace the secret; run `chmod go-rwx $DIR/merchant.key` (and make it owned by the user scanpay runs as)
    "#]]
    .assert_eq(&setup.problems(MINIMAL));
    fs::set_permissions(&key, fs::Permissions::from_mode(0o640)).unwrap();
    assert!(setup.problems(MINIMAL).contains("mode 0640"));
    fs::remove_file(&key).unwrap();
    expect![[r#"
        [gateway] key_file: cannot read $DIR/merchant.key: No such file or directory (os error 2); create it with the secret on one line (install -m 600 ...)
    "#]]
    .assert_eq(&setup.problems(MINIMAL));
}

#[test]
fn the_not_found_window_is_never_shorter_than_a_payment_code_lives() {
    check_problems(
        "[payment]\nnot_found_final_s = 59\n",
        expect![[r#"
            [payment] not_found_final_s: 59 is out of range; expected 60 to 3600 (seconds after the last pay attempt before a sale the gateway never received ends failed; payment codes live about 60 s and a delayed pay could charge until then)
        "#]],
    );
    check_problems(
        "[payment]\nnot_found_final_s = 3601\n",
        expect![[r#"
            [payment] not_found_final_s: 3601 is out of range; expected 60 to 3600 (seconds after the last pay attempt before a sale the gateway never received ends failed; payment codes live about 60 s and a delayed pay could charge until then)
        "#]],
    );
    let setup = Setup::new();
    let config = setup
        .load(&with("[payment]\nnot_found_final_s = 60\n"))
        .expect("the code's lifetime itself is allowed");
    assert_eq!(config.payment.not_found_final, Duration::from_secs(60));
}

#[test]
fn payment_key_errors() {
    check_problems(
        r#"
[payment]
first_query_ms = 0
query_interval_ms = 5000
max_query_interval_ms = 4000
deadline_s = 0
duplicate_window_s = 7200
default_subject = "two\nlines"
order_prefix = "SP-1"

[payment.reconcile]
fast_every_s = 0
fast_for_s = 700000
slow_every_s = 90000
slow_for_s = 3000000
"#,
        expect![[r#"
            [payment] first_query_ms: 0 is out of range; expected 10 to 60000 (milliseconds before the first query)
            [payment] max_query_interval_ms: 4000 is shorter than query_interval_ms = 5000; expected at least that
            [payment] deadline_s: 0 is out of range; expected 1 to 600 (seconds the cashier waits on one sale)
            [payment.reconcile] fast_every_s: 0 is out of range; expected 1 to 3600 (seconds between early checks)
            [payment.reconcile] fast_for_s: 700000 is out of range; expected 0 to 604800 (seconds of early checks)
            [payment.reconcile] slow_every_s: 90000 is out of range; expected 1 to 86400 (seconds between later checks)
            [payment.reconcile] slow_for_s: 3000000 is out of range; expected 0 to 2592000 (seconds of later checks before a sale needs review)
            [payment] duplicate_window_s: 7200 is out of range; expected 0 to 3600 (seconds a repeated scan is ignored)
            [payment] default_subject: "two\nlines" contains control characters; expected one line of text
            [payment] order_prefix: "SP-1" is not 1 to 16 ASCII letters or digits; expected e.g. "SHOP1T2", unique to this terminal
        "#]],
    );
    check_problems(
        "[payment]\nquery_interval_ms = 70000\nmax_query_interval_ms = 400000\n",
        expect![[r#"
            [payment] query_interval_ms: 70000 is out of range; expected 10 to 60000 (milliseconds between queries)
            [payment] max_query_interval_ms: 400000 is out of range; expected 10 to 300000 (milliseconds, the longest wait between queries)
        "#]],
    );
}

#[test]
fn order_prefix_without_any_host_identity_must_be_set() {
    let setup = Setup::new();
    let origin = Origin {
        dir: setup.dir.path().to_path_buf(),
        host: HostFacts::default(),
    };
    let err = Config::from_toml(MINIMAL, Path::new("c.toml"), &origin).unwrap_err();
    expect![[r#"
        config file c.toml has 1 problem:
          [payment] order_prefix: is not set and neither /etc/machine-id nor the hostname is readable to derive one; set a prefix unique to this terminal, e.g. order_prefix = "SHOP1T2""#]]
    .assert_eq(&err.to_string());
    let host_only = Origin {
        dir: setup.dir.path().to_path_buf(),
        host: HostFacts {
            machine_id: None,
            hostname: Some("till".into()),
            hardware_serial: None,
        },
    };
    let config = Config::from_toml(MINIMAL, Path::new("c.toml"), &host_only).unwrap();
    assert!(config.payment.order_prefix.starts_with("SP"));
    assert_eq!(config.payment.order_prefix.len(), 8);
}

#[test]
fn offline_key_errors() {
    check_problems(
        "[offline]\npay_max_age_s = 301\n",
        expect![[r#"
            [offline] pay_max_age_s: 301 is out of range; expected 0 to 300 (seconds a queued payment may wait; payment codes expire within minutes, 0 never queues)
        "#]],
    );
}

#[test]
fn scanner_key_errors() {
    check_problems(
        "[scanner]\nkind = \"camera\"\n",
        expect![[r#"
            [scanner] kind: "camera" is not one of serial | hid | stdin
        "#]],
    );
    check_problems(
        "[scanner]\nbaud = 9601\nsuffix = \"tab\"\ninter_char_timeout_ms = 0\nlayout = \"us\"\n",
        expect![[r#"
            [scanner] layout: does not apply to kind = "serial" (only to kind = "hid"); remove it or change kind
            [scanner] baud: 9601 is not a standard rate; expected one of 1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200, 230400, 460800, 921600 (see the scanner's manual, 9600 is usual)
            [scanner] suffix: "tab" is not one of cr | lf | crlf | none
            [scanner] inter_char_timeout_ms: 0 is out of range; expected 10 to 5000 (milliseconds of silence that end or drop a scan)
        "#]],
    );
    check_problems(
        "[scanner]\nkind = \"hid\"\nbaud = 9600\nsuffix = \"cr\"\nlayout = \"dvorak\"\n",
        expect![[r#"
            [scanner] baud: does not apply to kind = "hid" (only to kind = "serial"); remove it or change kind
            [scanner] suffix: does not apply to kind = "hid" (only to serial and stdin; Enter ends a HID scan); remove it or change kind
            [scanner] path: is missing; kind = "hid" needs the scanner's event device, e.g. path = "/dev/input/by-id/usb-SCANNER-event-kbd"
            [scanner] layout: "dvorak" is not one of us | de | fr
        "#]],
    );
    check_problems(
        "[scanner]\nkind = \"stdin\"\npath = \"/dev/ttyUSB0\"\nbaud = 9600\nlayout = \"us\"\ninter_char_timeout_ms = 50\nsuffix = \"none\"\n",
        expect![[r#"
            [scanner] path: does not apply to kind = "stdin" (only to serial and hid); remove it or change kind
            [scanner] baud: does not apply to kind = "stdin" (only to kind = "serial"); remove it or change kind
            [scanner] layout: does not apply to kind = "stdin" (only to kind = "hid"); remove it or change kind
            [scanner] inter_char_timeout_ms: does not apply to kind = "stdin" (only to serial and hid); remove it or change kind
            [scanner] suffix: "none" is not one of cr | lf | crlf
        "#]],
    );
}

#[test]
fn display_key_errors() {
    check_problems(
        "[display]\nkind = \"oled\"\nlanguage = \"fr\"\n",
        expect![[r#"
            [display] kind: "oled" is not one of st7789 | ili9341 | ssd1306 | png | terminal | none
            [display] language: "fr" is not one of zh | en
        "#]],
    );
    check_problems(
        "[display]\nkind = \"ili9341\"\nwidth = 5000\nheight = 2\ngpio_chip = \"\"\ndc_pin = 2000\nreset_pin = 18\nbacklight_pin = 18\noutput_dir = \"/tmp\"\n",
        expect![[r#"
            [display] output_dir: does not apply to kind = "ili9341" (only to kind = "png"); remove it or change kind
            [display] width: 5000 is out of range; expected 8 to 4096 (pixels)
            [display] height: 2 is out of range; expected 8 to 4096 (pixels)
            [display] gpio_chip: is empty; expected a device like "/dev/gpiochip0" or a label like "pinctrl-bcm2711" (see `gpiodetect`)
            [display] dc_pin: 2000 is out of range; expected 0 to 1023 (a GPIO line offset)
            [display] backlight_pin: 18 is also reset_pin; every signal needs its own GPIO line
        "#]],
    );
    check_problems(
        "[display]\nkind = \"ssd1306\"\nwidth = 240\n",
        expect![[r#"
            [display] width: 240x64 is not a size the ssd1306 driver draws; expected 128x64
        "#]],
    );
    check_problems(
        "[display]\nkind = \"png\"\nspi = \"/dev/spidev0.0\"\ndc_pin = 25\n",
        expect![[r#"
            [display] spi: does not apply to kind = "png" (only to st7789, ili9341 and ssd1306); remove it or change kind
            [display] dc_pin: does not apply to kind = "png" (only to st7789, ili9341 and ssd1306); remove it or change kind
            [display] output_dir: is missing; kind = "png" needs a folder to write screens to, e.g. output_dir = "/var/lib/scanpay/screens"
        "#]],
    );
    check_problems(
        "[display]\nkind = \"terminal\"\nwidth = 240\ngpio_chip = \"x\"\noutput_dir = \"o\"\n",
        expect![[r#"
            [display] gpio_chip: does not apply to kind = "terminal" (only to st7789, ili9341 and ssd1306); remove it or change kind
            [display] width: does not apply to kind = "terminal" (only to the panels and png); remove it or change kind
            [display] output_dir: does not apply to kind = "terminal" (only to kind = "png"); remove it or change kind
        "#]],
    );
}

#[test]
fn display_sizes_are_the_ones_the_backend_draws() {
    // The panel drivers open at fixed geometries (st7789 240x240, ili9341 320x240 landscape,
    // ssd1306 128x64) and png renders one of the three layouts: any other size used to be
    // accepted, printed by check-config, and silently drawn at the fixed size instead.
    let setup = Setup::new();
    for (kind, size) in [
        ("st7789", (240, 240)),
        ("ili9341", (320, 240)),
        ("ssd1306", (128, 64)),
    ] {
        let config = setup
            .load(&with(&format!("[display]\nkind = \"{kind}\"\n")))
            .unwrap();
        let DisplayOutput::Panel(panel) = &config.display.output else {
            panic!("{:?}", config.display)
        };
        assert_eq!((panel.width, panel.height), size, "{kind}");
    }
    let config = setup
        .load(&with("[display]\nkind = \"png\"\noutput_dir = \"s\"\n"))
        .unwrap();
    assert!(matches!(
        config.display.output,
        DisplayOutput::Png {
            width: 240,
            height: 240,
            ..
        }
    ));
    for size in ["width = 128\nheight = 64", "width = 320\nheight = 240"] {
        let text = format!("[display]\nkind = \"png\"\noutput_dir = \"s\"\n{size}\n");
        setup.load(&with(&text)).unwrap();
    }
    check_problems(
        "[display]\nkind = \"st7789\"\nwidth = 240\nheight = 320\n",
        expect![[r#"
            [display] height: 240x320 is not a size the st7789 driver draws; expected 240x240
        "#]],
    );
    check_problems(
        "[display]\nkind = \"ssd1306\"\nheight = 32\n",
        expect![[r#"
            [display] height: 128x32 is not a size the ssd1306 driver draws; expected 128x64
        "#]],
    );
    check_problems(
        "[display]\nkind = \"png\"\noutput_dir = \"s\"\nwidth = 100\n",
        expect![[r#"
            [display] width: 100x240 is not a size the png output draws; expected 240x240, 320x240 or 128x64
        "#]],
    );
}

#[test]
fn register_key_errors() {
    check_problems(
        "[register]\nlisten = \"localhost\"\nfixed_amount_fen = 0\nnotify_listen = \"8751\"\n",
        expect![[r#"
            [register] listen: "localhost" is not an address; expected "127.0.0.1:PORT" or "unix:/run/scanpay/register.sock"
            [register] fixed_amount_fen: 0 is not an amount; expected whole fen above 0 (1250 is ¥12.50), or remove the key
            [register] notify_listen: "8751" is not an address; expected e.g. "0.0.0.0:8751" (the port notify_url reaches)
        "#]],
    );
    check_problems(
        "[register]\nlisten = \"unix:register.sock\"\nfixed_amount_fen = 20000000000\n",
        expect![[r#"
            [register] listen: "unix:register.sock" needs an absolute socket path; expected e.g. "unix:/run/scanpay/register.sock"
            [register] fixed_amount_fen: invalid amount "20000000000": too large; expected whole fen, 1250 is ¥12.50
        "#]],
    );
    check_problems(
        "[register]\nlisten = \"127.0.0.1:8750\"\nnotify_listen = \"127.0.0.1:8750\"\n",
        expect![[r#"
            [register] notify_listen: 127.0.0.1:8750 is also the register API's listen address; give the notify listener its own port
        "#]],
    );
    check_problems(
        "[register]\nlisten = \"0.0.0.0:8750\"\n",
        expect![[r#"
            [register] listen: 0.0.0.0:8750 is reachable from other machines but no token is set; listen on 127.0.0.1 or a unix socket, or set token_file
        "#]],
    );
    check_problems(
        &format!("[register]\ntoken = \"{TOKEN}\"\ntoken_file = \"t\"\n"),
        expect![[r#"
            [register] token: is set together with token_file; keep only one of them
        "#]],
    );
    check_problems(
        &format!("[register]\ntoken = \"{TOKEN} with spaces\"\n"),
        expect![[r#"
            [register] token: expected 1 to 256 visible ASCII characters without spaces (it is sent as an HTTP bearer token)
        "#]],
    );
    // A token written without quotes as a number: the secret is not quoted back.
    check_problems(
        "[register]\ntoken = 123456789\n",
        expect![[r#"
            [register] token: must be a string in quotes (found a value of type integer)
        "#]],
    );
}

#[test]
fn token_file_is_checked_like_the_key_file() {
    let setup = Setup::new();
    let token = setup.dir.path().join("token");
    fs::write(&token, format!("{TOKEN}\n")).unwrap();
    fs::set_permissions(&token, fs::Permissions::from_mode(0o604)).unwrap();
    expect![[r#"
        [register] token_file: $DIR/token has mode 0604, so group or others can read or replace the secret; run `chmod go-rwx $DIR/token` (and make it owned by the user scanpay runs as)
    "#]]
    .assert_eq(&setup.problems(&with("[register]\ntoken_file = \"token\"\n")));
    write_private(&token, "two words\n");
    expect![[r#"
        [register] token_file: $DIR/token does not hold a usable token: expected 1 to 256 visible ASCII characters without spaces (it is sent as an HTTP bearer token)
    "#]]
    .assert_eq(&setup.problems(&with("[register]\ntoken_file = \"token\"\n")));
}

#[test]
fn storage_key_errors() {
    check_problems(
        "[storage]\npath = \"\"\n",
        expect![[r#"
            [storage] path: is empty; expected the journal's directory, e.g. path = "/var/lib/scanpay"
        "#]],
    );
}

#[test]
fn unknown_keys_and_wrong_types_are_named_with_their_line() {
    let setup = Setup::new();
    let text = "[gateway]\nbase_url = \"http://x\"\nbse_url = \"http://y\"\n";
    let err = setup.load(text).unwrap_err();
    expect![[r#"
        config file test.toml is not valid TOML for scanpay: line 3 ([gateway] bse_url): unknown field `bse_url`, expected one of `base_url`, `app_id`, `key_file`, `notify_url`, `operator_id`, `connect_timeout_ms`, `request_timeout_ms`, `sign_lowercase_values`"#]]
    .assert_eq(&err.to_string());
    let err = setup
        .load(&with("[payment]\ndeadline_s = \"60\"\n"))
        .unwrap_err();
    expect![[r#"
        config file test.toml is not valid TOML for scanpay: line 8 ([payment] deadline_s): invalid type: string "60", expected u64"#]]
    .assert_eq(&err.to_string());
    let err = setup.load(&with("[paymnet]\n")).unwrap_err();
    assert!(err.to_string().contains("unknown field `paymnet`"), "{err}");
    let err = setup.load("[gateway\n").unwrap_err();
    assert!(err.to_string().contains("line 1"), "{err}");
    // A token without quotes is a syntax error; the message must not quote the line.
    let err = setup
        .load(&with(&format!("[register]\ntoken = {TOKEN}\n")))
        .unwrap_err();
    expect![[r#"
        config file test.toml is not valid TOML for scanpay: line 8 ([register] token): invalid string; expected `"`, `'`"#]]
    .assert_eq(&err.to_string());
    let err = setup.load(&with("[scanner]\nbaud = -1\n")).unwrap_err();
    assert!(err.to_string().contains("[scanner] baud"), "{err}");
}

#[test]
fn a_missing_config_file_says_how_to_get_one() {
    let err = Config::load(Path::new("/nonexistent/scanpay.toml")).unwrap_err();
    expect![[r#"
        cannot read config file /nonexistent/scanpay.toml: No such file or directory (os error 2); pass --config PATH, or start from systemd/config.example.toml"#]]
    .assert_eq(&err.to_string());
}

#[test]
fn load_resolves_relative_paths_against_the_files_directory() {
    let setup = Setup::new();
    let path = setup.dir.path().join("config.toml");
    fs::write(&path, with("[storage]\npath = \"state\"\n")).unwrap();
    let config = Config::load(&path).unwrap();
    assert_eq!(config.storage.path, setup.dir.path().join("state"));
    assert_eq!(config.gateway.key.expose(), KEY);
}

#[test]
fn masked_config_hides_secrets_and_reparses_with_the_same_keys() {
    let setup = Setup::new();
    let config = setup
        .load(&with(&format!("[register]\ntoken = \"{TOKEN}\"\n")))
        .unwrap();
    let masked = masked(&config);
    let text = toml::to_string(&masked).unwrap();
    assert!(!text.contains(KEY) && !text.contains(TOKEN), "{text}");
    assert!(text.contains("token = \"****\""), "{text}");
    assert!(
        text.contains(&format!(
            "key_file = \"<{} bytes from {}>\"",
            KEY.len(),
            setup.dir.path().join("merchant.key").display()
        )),
        "{text}"
    );
    // The printed config uses only keys the file accepts.
    assert_eq!(parse_raw(&text).unwrap(), masked);
    // Debug output of the typed config leaks nothing either.
    let debug = format!("{config:?}");
    assert!(!debug.contains(KEY) && !debug.contains(TOKEN), "{debug}");
    // Nor does the file as parsed: a failing assert_eq! or a `{:?}` in a log prints it.
    let raw = parse_raw(&with(&format!("[register]\ntoken = \"{TOKEN}\"\n"))).unwrap();
    let debug = format!("{raw:?}");
    assert!(!debug.contains(TOKEN), "{debug}");
    assert!(debug.contains("token: Some(****)"), "{debug}");
}
