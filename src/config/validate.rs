//! From `RawConfig` (what the file says) to `Config` (what scanpay runs with): defaults
//! filled, values checked, relative paths resolved against the config file's directory, and
//! secret files read. Every problem is collected, so one run reports all of them, each naming
//! its key, the bad value (never a secret) and what is expected.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::protocol::signing::SignRules;
use crate::protocol::Fen;

use super::host::HostFacts;
use super::raw::*;
use super::secret_file::read_secret_file;
use super::settings::*;

/// One thing wrong with the config: `[gateway] base_url: ...`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Problem {
    /// `[section] key`.
    pub key: String,
    pub message: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.key, self.message)
    }
}

/// What validation needs besides the file: where it lives (relative paths start there) and
/// the machine's identity (for the default order prefix).
#[derive(Debug, Clone)]
pub struct Origin {
    pub dir: PathBuf,
    pub host: HostFacts,
}

/// The register API's port when `listen` is not set.
pub const DEFAULT_REGISTER_LISTEN: &str = "127.0.0.1:8750";

const STANDARD_BAUDS: [u32; 11] = [
    1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200, 230400, 460800, 921600,
];

/// Collects problems while reading one section after another.
struct Checker<'a> {
    origin: &'a Origin,
    problems: Vec<Problem>,
}

impl Checker<'_> {
    fn problem(&mut self, section: &str, key: &str, message: impl Into<String>) {
        self.problems.push(Problem {
            key: format!("[{section}] {key}"),
            message: message.into(),
        });
    }

    fn resolve(&self, path: &Path) -> PathBuf {
        if path.is_absolute() {
            path.to_path_buf()
        } else {
            self.origin.dir.join(path)
        }
    }

    /// A number within `range`, or the default; reported with its unit when out of range.
    fn number(
        &mut self,
        section: &str,
        key: &str,
        value: Option<u64>,
        default: u64,
        range: std::ops::RangeInclusive<u64>,
        why: &str,
    ) -> Option<u64> {
        let value = value.unwrap_or(default);
        if range.contains(&value) {
            Some(value)
        } else {
            self.problem(
                section,
                key,
                format!(
                    "{value} is out of range; expected {} to {} ({why})",
                    range.start(),
                    range.end()
                ),
            );
            None
        }
    }

    fn millis(
        &mut self,
        section: &str,
        key: &str,
        value: Option<u64>,
        default: u64,
        range: std::ops::RangeInclusive<u64>,
        why: &str,
    ) -> Option<Duration> {
        self.number(section, key, value, default, range, why)
            .map(Duration::from_millis)
    }

    fn secs(
        &mut self,
        section: &str,
        key: &str,
        value: Option<u64>,
        default: u64,
        range: std::ops::RangeInclusive<u64>,
        why: &str,
    ) -> Option<Duration> {
        self.number(section, key, value, default, range, why)
            .map(Duration::from_secs)
    }

    /// A one-line text of at most `max` characters, with no control characters.
    fn text(
        &mut self,
        section: &str,
        key: &str,
        value: Option<&str>,
        max: usize,
        example: &str,
    ) -> Option<String> {
        let Some(value) = value else {
            self.problem(
                section,
                key,
                format!("is missing; set it, e.g. {key} = \"{example}\""),
            );
            return None;
        };
        let len = value.chars().count();
        if len == 0 || len > max {
            self.problem(
                section,
                key,
                format!("{value:?} has {len} characters; expected 1 to {max}"),
            );
            return None;
        }
        if value.chars().any(char::is_control) {
            self.problem(
                section,
                key,
                format!("{value:?} contains control characters; expected one line of text"),
            );
            return None;
        }
        Some(value.to_string())
    }

    /// An `http` or `https` URL with a host.
    fn url(
        &mut self,
        section: &str,
        key: &str,
        value: Option<&str>,
        max: usize,
        example: &str,
    ) -> Option<url::Url> {
        let value = self.text(section, key, value, max, example)?;
        match url::Url::parse(&value) {
            Ok(url) if matches!(url.scheme(), "http" | "https") && url.has_host() => Some(url),
            Ok(_) => {
                self.problem(
                    section,
                    key,
                    format!("{value:?} is not an http or https URL with a host; expected e.g. {example}"),
                );
                None
            }
            Err(err) => {
                self.problem(
                    section,
                    key,
                    format!("{value:?} is not a URL ({err}); expected e.g. {example}"),
                );
                None
            }
        }
    }

    /// One of `allowed` (lowercase), or the default.
    fn choice<'v>(
        &mut self,
        section: &str,
        key: &str,
        value: Option<&'v str>,
        default: &'v str,
        allowed: &[&str],
    ) -> Option<&'v str> {
        let value = value.unwrap_or(default);
        if allowed.contains(&value) {
            Some(value)
        } else {
            self.problem(
                section,
                key,
                format!("{value:?} is not one of {}", allowed.join(" | ")),
            );
            None
        }
    }

    /// Reports a key set for a kind that does not use it.
    fn unused<T>(&mut self, section: &str, key: &str, value: &Option<T>, kind: &str, users: &str) {
        if value.is_some() {
            self.problem(
                section,
                key,
                format!("does not apply to kind = \"{kind}\" (only to {users}); remove it or change kind"),
            );
        }
    }
}

/// Validates a parsed config. Reads the key and token files; nothing else touches the system.
pub fn validate(raw: RawConfig, origin: &Origin) -> Result<Config, Vec<Problem>> {
    let mut check = Checker {
        origin,
        problems: Vec::new(),
    };
    let gateway = gateway(&mut check, raw.gateway.unwrap_or_default());
    let payment = payment(&mut check, raw.payment.unwrap_or_default());
    let offline = offline(&mut check, raw.offline.unwrap_or_default());
    let scanner = scanner(&mut check, raw.scanner.unwrap_or_default());
    let display = display(&mut check, raw.display.unwrap_or_default());
    let register = register(&mut check, raw.register.unwrap_or_default());
    let storage = storage(&mut check, raw.storage.unwrap_or_default());
    match (
        gateway, payment, offline, scanner, display, register, storage,
    ) {
        (
            Some(gateway),
            Some(payment),
            Some(offline),
            Some(scanner),
            Some(display),
            Some(register),
            Some(storage),
        ) if check.problems.is_empty() => Ok(Config {
            gateway,
            payment,
            offline,
            scanner,
            display,
            register,
            storage,
        }),
        _ => Err(check.problems),
    }
}

fn gateway(check: &mut Checker, raw: RawGateway) -> Option<GatewaySettings> {
    const S: &str = "gateway";
    let base_url = check.url(
        S,
        "base_url",
        raw.base_url.as_deref(),
        2048,
        "https://pay.example.com",
    );
    let app_id = check.text(S, "app_id", raw.app_id.as_deref(), 50, "JYK2018100001");
    let app_id = app_id.filter(|id| {
        let ok = !id.contains(char::is_whitespace);
        if !ok {
            check.problem(
                S,
                "app_id",
                format!("{id:?} contains spaces; expected the app id the gateway issued"),
            );
        }
        ok
    });
    let key = match &raw.key_file {
        None => {
            check.problem(
                S,
                "key_file",
                "is missing; set it to the file holding the merchant key, e.g. key_file = \"/etc/scanpay/merchant.key\"",
            );
            None
        }
        Some(path) => match read_secret_file(&check.resolve(path)) {
            Ok(key) => Some(key),
            Err(err) => {
                check.problem(S, "key_file", err.to_string());
                None
            }
        },
    };
    let notify_url = check.url(
        S,
        "notify_url",
        raw.notify_url.as_deref(),
        256,
        "https://pos.example.com/notify",
    );
    let operator_id = check.text(
        S,
        "operator_id",
        Some(raw.operator_id.as_deref().unwrap_or("scanpay")),
        32,
        "scanpay",
    );
    let connect_timeout = check.millis(
        S,
        "connect_timeout_ms",
        raw.connect_timeout_ms,
        3000,
        100..=60_000,
        "milliseconds to open a connection",
    );
    let request_timeout = check.millis(
        S,
        "request_timeout_ms",
        raw.request_timeout_ms,
        10_000,
        100..=300_000,
        "milliseconds for a whole request",
    );
    if let (Some(connect), Some(request)) = (connect_timeout, request_timeout) {
        // Equal is refused too: a connect that times out must be told apart (offline: the
        // request never left) from a request that timed out after connecting (unknown).
        if request <= connect {
            check.problem(
                S,
                "request_timeout_ms",
                format!(
                    "{} is not longer than connect_timeout_ms = {}; the whole request includes connecting",
                    request.as_millis(),
                    connect.as_millis()
                ),
            );
        }
    }
    let sign_rules = SignRules {
        lowercase_values: raw.sign_lowercase_values.unwrap_or(true),
    };
    Some(GatewaySettings {
        base_url: base_url?,
        app_id: app_id?,
        key: key?,
        notify_url: notify_url?,
        operator_id: operator_id?,
        connect_timeout: connect_timeout?,
        request_timeout: request_timeout?,
        sign_rules,
    })
}

fn payment(check: &mut Checker, raw: RawPayment) -> Option<PaymentSettings> {
    const S: &str = "payment";
    let first_query = check.millis(
        S,
        "first_query_ms",
        raw.first_query_ms,
        2000,
        10..=60_000,
        "milliseconds before the first query",
    );
    let query_interval = check.millis(
        S,
        "query_interval_ms",
        raw.query_interval_ms,
        3000,
        10..=60_000,
        "milliseconds between queries",
    );
    let max_query_interval = check.millis(
        S,
        "max_query_interval_ms",
        raw.max_query_interval_ms,
        15_000,
        10..=300_000,
        "milliseconds, the longest wait between queries",
    );
    if let (Some(interval), Some(max)) = (query_interval, max_query_interval) {
        if max < interval {
            check.problem(
                S,
                "max_query_interval_ms",
                format!(
                    "{} is shorter than query_interval_ms = {}; expected at least that",
                    max.as_millis(),
                    interval.as_millis()
                ),
            );
        }
    }
    let deadline = check.secs(
        S,
        "deadline_s",
        raw.deadline_s,
        60,
        1..=600,
        "seconds the cashier waits on one sale",
    );
    let reconcile = reconcile(check, raw.reconcile.unwrap_or_default());
    let not_found_final = not_found_final(check, raw.not_found_final_s);
    let duplicate_window = check.secs(
        S,
        "duplicate_window_s",
        raw.duplicate_window_s,
        10,
        0..=3600,
        "seconds a repeated scan is ignored",
    );
    let default_subject = check.text(
        S,
        "default_subject",
        Some(raw.default_subject.as_deref().unwrap_or("scanpay")),
        256,
        "scanpay",
    );
    let order_prefix = match raw.order_prefix {
        Some(prefix) => Some(prefix),
        None => {
            let derived = check.origin.host.default_order_prefix();
            if derived.is_none() {
                check.problem(
                    S,
                    "order_prefix",
                    "is not set and neither /etc/machine-id nor the hostname is readable to derive one; set a prefix unique to this terminal, e.g. order_prefix = \"SHOP1T2\"",
                );
            }
            derived
        }
    };
    let order_prefix = order_prefix.filter(|prefix| {
        let ok = (1..=16).contains(&prefix.len())
            && prefix.bytes().all(|b| b.is_ascii_alphanumeric());
        if !ok {
            check.problem(
                S,
                "order_prefix",
                format!("{prefix:?} is not 1 to 16 ASCII letters or digits; expected e.g. \"SHOP1T2\", unique to this terminal"),
            );
        }
        ok
    });
    Some(PaymentSettings {
        first_query: first_query?,
        query_interval: query_interval?,
        max_query_interval: max_query_interval?,
        deadline: deadline?,
        reconcile: reconcile?,
        not_found_final: not_found_final?,
        duplicate_window: duplicate_window?,
        default_subject: default_subject?,
        order_prefix: order_prefix?,
    })
}

/// The payment codes' lifetime: WeChat Pay and Alipay codes are valid for about a minute
/// from when the phone shows them (before the scan, so before any pay attempt). Past it, a
/// pay request still held up in the network cannot charge when it arrives.
const PAYMENT_CODE_LIFETIME_S: u64 = 60;

/// `[payment] not_found_final_s`: how long after the last pay attempt a sale whose every
/// query says ORDER_NOTFOUND ends failed (the rule: `engine::answers`). Never below the
/// codes' lifetime, where a delayed request could still charge a sale already called
/// failed; the default, 300 s, adds room for a gateway whose records lag its processing
/// (Alipay closes unpaid orders after 3 minutes, aggregators after 4 to 6). A reconciliation
/// window that ends sooner is allowed: the sale then needs review first, as before the rule.
fn not_found_final(check: &mut Checker, raw: Option<u64>) -> Option<Duration> {
    check.secs(
        "payment",
        "not_found_final_s",
        raw,
        300,
        PAYMENT_CODE_LIFETIME_S..=3600,
        "seconds after the last pay attempt before a sale the gateway never received ends failed; payment codes live about 60 s and a delayed pay could charge until then",
    )
}

fn reconcile(check: &mut Checker, raw: RawReconcile) -> Option<ReconcileSchedule> {
    const S: &str = "payment.reconcile";
    let fast_every = check.secs(
        S,
        "fast_every_s",
        raw.fast_every_s,
        30,
        1..=3600,
        "seconds between early checks",
    );
    let fast_for = check.secs(
        S,
        "fast_for_s",
        raw.fast_for_s,
        900,
        0..=604_800,
        "seconds of early checks",
    );
    let slow_every = check.secs(
        S,
        "slow_every_s",
        raw.slow_every_s,
        300,
        1..=86_400,
        "seconds between later checks",
    );
    let slow_for = check.secs(
        S,
        "slow_for_s",
        raw.slow_for_s,
        86_400,
        0..=2_592_000,
        "seconds of later checks before a sale needs review",
    );
    Some(ReconcileSchedule {
        fast_every: fast_every?,
        fast_for: fast_for?,
        slow_every: slow_every?,
        slow_for: slow_for?,
    })
}

fn offline(check: &mut Checker, raw: RawOffline) -> Option<OfflineSettings> {
    let pay_max_age = check.secs(
        "offline",
        "pay_max_age_s",
        raw.pay_max_age_s,
        30,
        0..=300,
        "seconds a queued payment may wait; payment codes expire within minutes, 0 never queues",
    );
    Some(OfflineSettings {
        pay_max_age: pay_max_age?,
    })
}

fn scanner(check: &mut Checker, raw: RawScanner) -> Option<ScannerSettings> {
    const S: &str = "scanner";
    let kind = check.choice(
        S,
        "kind",
        raw.kind.as_deref(),
        "serial",
        &["serial", "hid", "stdin"],
    )?;
    let suffix = |check: &mut Checker, default: &str, allowed: &[&str]| {
        check
            .choice(S, "suffix", raw.suffix.as_deref(), default, allowed)
            .map(|s| match s {
                "cr" => ScanSuffix::Cr,
                "lf" => ScanSuffix::Lf,
                "crlf" => ScanSuffix::CrLf,
                _ => ScanSuffix::None,
            })
    };
    let inter_char = |check: &mut Checker| {
        check.millis(
            S,
            "inter_char_timeout_ms",
            raw.inter_char_timeout_ms,
            100,
            10..=5000,
            "milliseconds of silence that end or drop a scan",
        )
    };
    match kind {
        "serial" => {
            check.unused(S, "layout", &raw.layout, kind, "kind = \"hid\"");
            let path = check.resolve(
                raw.path
                    .as_deref()
                    .unwrap_or(Path::new("/dev/scanpay-scanner")),
            );
            let baud = raw.baud.unwrap_or(9600);
            let baud = match u32::try_from(baud)
                .ok()
                .filter(|b| STANDARD_BAUDS.contains(b))
            {
                Some(baud) => Some(baud),
                None => {
                    let list: Vec<String> = STANDARD_BAUDS.iter().map(u32::to_string).collect();
                    check.problem(
                        S,
                        "baud",
                        format!(
                            "{baud} is not a standard rate; expected one of {} (see the scanner's manual, 9600 is usual)",
                            list.join(", ")
                        ),
                    );
                    None
                }
            };
            let suffix = suffix(check, "cr", &["cr", "lf", "crlf", "none"]);
            let inter_char_timeout = inter_char(check);
            Some(ScannerSettings::Serial {
                path,
                baud: baud?,
                suffix: suffix?,
                inter_char_timeout: inter_char_timeout?,
            })
        }
        "hid" => {
            let users = "kind = \"serial\"";
            check.unused(S, "baud", &raw.baud, kind, users);
            check.unused(
                S,
                "suffix",
                &raw.suffix,
                kind,
                "serial and stdin; Enter ends a HID scan",
            );
            let path = match &raw.path {
                Some(path) => Some(check.resolve(path)),
                None => {
                    check.problem(
                        S,
                        "path",
                        "is missing; kind = \"hid\" needs the scanner's event device, e.g. path = \"/dev/input/by-id/usb-SCANNER-event-kbd\"",
                    );
                    None
                }
            };
            let layout = check
                .choice(
                    S,
                    "layout",
                    raw.layout.as_deref(),
                    "us",
                    &["us", "de", "fr"],
                )
                .map(|name| match name {
                    "de" => KeyboardLayout::De,
                    "fr" => KeyboardLayout::Fr,
                    _ => KeyboardLayout::Us,
                });
            let inter_char_timeout = inter_char(check);
            Some(ScannerSettings::Hid {
                path: path?,
                layout: layout?,
                inter_char_timeout: inter_char_timeout?,
            })
        }
        _ => {
            check.unused(S, "path", &raw.path, kind, "serial and hid");
            check.unused(S, "baud", &raw.baud, kind, "kind = \"serial\"");
            check.unused(S, "layout", &raw.layout, kind, "kind = \"hid\"");
            check.unused(
                S,
                "inter_char_timeout_ms",
                &raw.inter_char_timeout_ms,
                kind,
                "serial and hid",
            );
            let suffix = suffix(check, "lf", &["cr", "lf", "crlf"]);
            Some(ScannerSettings::Stdin { suffix: suffix? })
        }
    }
}

fn display(check: &mut Checker, raw: RawDisplay) -> Option<DisplaySettings> {
    const S: &str = "display";
    let kind = check.choice(
        S,
        "kind",
        raw.kind.as_deref(),
        "none",
        &["st7789", "ili9341", "ssd1306", "png", "terminal", "none"],
    );
    let language = check
        .choice(S, "language", raw.language.as_deref(), "zh", &["zh", "en"])
        .map(|l| {
            if l == "en" {
                Language::En
            } else {
                Language::Zh
            }
        });
    let kind = kind?;
    let panels = "st7789, ili9341 and ssd1306";
    let sized = "the panels and png";
    let output = match kind {
        "st7789" | "ili9341" | "ssd1306" => {
            check.unused(S, "output_dir", &raw.output_dir, kind, "kind = \"png\"");
            let model = match kind {
                "st7789" => PanelModel::St7789,
                "ili9341" => PanelModel::Ili9341,
                _ => PanelModel::Ssd1306,
            };
            let driver = format!("{} driver", model.as_str());
            let (width, height) = match model {
                PanelModel::St7789 => size(check, &raw, &driver, &[(240, 240)]),
                PanelModel::Ili9341 => size(check, &raw, &driver, &[(320, 240)]),
                PanelModel::Ssd1306 => size(check, &raw, &driver, &[(128, 64)]),
            };
            let spi = check.resolve(raw.spi.as_deref().unwrap_or(Path::new("/dev/spidev0.0")));
            let gpio_chip = match raw.gpio_chip.as_deref().unwrap_or("pinctrl-bcm2711") {
                "" => {
                    check.problem(
                        S,
                        "gpio_chip",
                        "is empty; expected a device like \"/dev/gpiochip0\" or a label like \"pinctrl-bcm2711\" (see `gpiodetect`)",
                    );
                    None
                }
                chip if chip.starts_with('/') => Some(GpioChip::Path(PathBuf::from(chip))),
                label => Some(GpioChip::Label(label.to_string())),
            };
            let pin = |check: &mut Checker, key: &str, value: Option<u64>, default: u64| {
                check
                    .number(S, key, value, default, 0..=1023, "a GPIO line offset")
                    .map(|p| p as u32)
            };
            let dc_pin = pin(check, "dc_pin", raw.dc_pin, 25);
            let reset_pin = pin(check, "reset_pin", raw.reset_pin, 27);
            let backlight_pin = match raw.backlight_pin {
                Some(value) => pin(check, "backlight_pin", Some(value), value).map(Some),
                None => Some(None),
            };
            let pins = [
                ("dc_pin", dc_pin),
                ("reset_pin", reset_pin),
                ("backlight_pin", backlight_pin.flatten()),
            ];
            for (i, (key, pin)) in pins.iter().enumerate() {
                for (other, other_pin) in &pins[..i] {
                    if pin.is_some() && pin == other_pin {
                        check.problem(
                            S,
                            key,
                            format!(
                                "{} is also {other}; every signal needs its own GPIO line",
                                pin.unwrap_or_default()
                            ),
                        );
                    }
                }
            }
            Some(DisplayOutput::Panel(PanelSettings {
                model,
                width: width?,
                height: height?,
                spi,
                gpio_chip: gpio_chip?,
                dc_pin: dc_pin?,
                reset_pin: reset_pin?,
                backlight_pin: backlight_pin?,
            }))
        }
        "png" => {
            unused_panel_keys(check, &raw, kind, panels);
            let layouts = [(240, 240), (320, 240), (128, 64)];
            let (width, height) = size(check, &raw, "png output", &layouts);
            let output_dir = match &raw.output_dir {
                Some(dir) => Some(check.resolve(dir)),
                None => {
                    check.problem(
                        S,
                        "output_dir",
                        "is missing; kind = \"png\" needs a folder to write screens to, e.g. output_dir = \"/var/lib/scanpay/screens\"",
                    );
                    None
                }
            };
            Some(DisplayOutput::Png {
                output_dir: output_dir?,
                width: width?,
                height: height?,
            })
        }
        _ => {
            unused_panel_keys(check, &raw, kind, panels);
            check.unused(S, "width", &raw.width, kind, sized);
            check.unused(S, "height", &raw.height, kind, sized);
            check.unused(S, "output_dir", &raw.output_dir, kind, "kind = \"png\"");
            Some(if kind == "terminal" {
                DisplayOutput::Terminal
            } else {
                DisplayOutput::None
            })
        }
    };
    Some(DisplaySettings {
        output: output?,
        language: language?,
    })
}

fn unused_panel_keys(check: &mut Checker, raw: &RawDisplay, kind: &str, panels: &str) {
    check.unused("display", "spi", &raw.spi, kind, panels);
    check.unused("display", "gpio_chip", &raw.gpio_chip, kind, panels);
    check.unused("display", "dc_pin", &raw.dc_pin, kind, panels);
    check.unused("display", "reset_pin", &raw.reset_pin, kind, panels);
    check.unused("display", "backlight_pin", &raw.backlight_pin, kind, panels);
}

/// Width and height, defaulting to the first of `sizes`: the geometries `backend` draws
/// (`daemon::wiring` hands panels and png exactly these). Any other size is refused: the
/// panel drivers open at a fixed size and png renders one of three layouts, so another size
/// would be printed by check-config yet drawn at the fixed one.
fn size(
    check: &mut Checker,
    raw: &RawDisplay,
    backend: &str,
    sizes: &[(u64, u64)],
) -> (Option<u32>, Option<u32>) {
    let (default_w, default_h) = sizes[0];
    let width = check.number("display", "width", raw.width, default_w, 8..=4096, "pixels");
    let height = check.number(
        "display",
        "height",
        raw.height,
        default_h,
        8..=4096,
        "pixels",
    );
    if let (Some(w), Some(h)) = (width, height) {
        if !sizes.contains(&(w, h)) {
            let expected: Vec<String> = sizes.iter().map(|(w, h)| format!("{w}x{h}")).collect();
            let expected = match expected.split_last() {
                Some((last, rest)) if !rest.is_empty() => format!("{} or {last}", rest.join(", ")),
                _ => expected.join(""),
            };
            // Name the key that is off: the width when no size has it, else the height.
            let key = if sizes.iter().any(|&(sw, _)| sw == w) {
                "height"
            } else {
                "width"
            };
            check.problem(
                "display",
                key,
                format!("{w}x{h} is not a size the {backend} draws; expected {expected}"),
            );
            return (None, None);
        }
    }
    (width.map(|w| w as u32), height.map(|h| h as u32))
}

fn register(check: &mut Checker, raw: RawRegister) -> Option<RegisterSettings> {
    const S: &str = "register";
    let listen_text = raw.listen.as_deref().unwrap_or(DEFAULT_REGISTER_LISTEN);
    let listen = if let Some(path) = listen_text.strip_prefix("unix:") {
        if path.starts_with('/') {
            Some(ListenAddr::Unix(PathBuf::from(path)))
        } else {
            check.problem(
                S,
                "listen",
                format!("{listen_text:?} needs an absolute socket path; expected e.g. \"unix:/run/scanpay/register.sock\""),
            );
            None
        }
    } else {
        match listen_text.parse::<SocketAddr>() {
            Ok(addr) => Some(ListenAddr::Tcp(addr)),
            Err(_) => {
                check.problem(
                    S,
                    "listen",
                    format!("{listen_text:?} is not an address; expected \"127.0.0.1:PORT\" or \"unix:/run/scanpay/register.sock\""),
                );
                None
            }
        }
    };
    let token = match (&raw.token, &raw.token_file) {
        (Some(_), Some(_)) => {
            check.problem(
                S,
                "token",
                "is set together with token_file; keep only one of them",
            );
            None
        }
        (Some(toml::Value::String(token)), None) => {
            if valid_token(token) {
                Some(Some(RegisterToken::Inline(token.clone())))
            } else {
                check.problem(S, "token", TOKEN_FORM);
                None
            }
        }
        (Some(other), None) => {
            check.problem(
                S,
                "token",
                format!(
                    "must be a string in quotes (found a value of type {})",
                    other.type_str()
                ),
            );
            None
        }
        (None, Some(path)) => match read_secret_file(&check.resolve(path)) {
            Ok(file) if valid_token(file.expose()) => Some(Some(RegisterToken::File(file))),
            Ok(file) => {
                check.problem(
                    S,
                    "token_file",
                    format!(
                        "{} does not hold a usable token: {TOKEN_FORM}",
                        file.path.display()
                    ),
                );
                None
            }
            Err(err) => {
                check.problem(S, "token_file", err.to_string());
                None
            }
        },
        (None, None) => Some(None),
    };
    // A register API reachable from the network must not arm sales for anyone who asks.
    if let (Some(ListenAddr::Tcp(addr)), Some(None)) = (&listen, &token) {
        if !addr.ip().is_loopback() {
            check.problem(
                S,
                "listen",
                format!("{addr} is reachable from other machines but no token is set; listen on 127.0.0.1 or a unix socket, or set token_file"),
            );
        }
    }
    let fixed_amount = match raw.fixed_amount_fen {
        None => Some(None),
        Some(fen) => match Fen::parse_fen(&fen.to_string()) {
            Ok(amount) if amount.0 > 0 => Some(Some(amount)),
            Ok(_) => {
                check.problem(
                    S,
                    "fixed_amount_fen",
                    "0 is not an amount; expected whole fen above 0 (1250 is ¥12.50), or remove the key",
                );
                None
            }
            Err(err) => {
                check.problem(
                    S,
                    "fixed_amount_fen",
                    format!("{err}; expected whole fen, 1250 is ¥12.50"),
                );
                None
            }
        },
    };
    let notify_listen = match raw.notify_listen.as_deref() {
        None => Some(None),
        Some(text) => match text.parse::<SocketAddr>() {
            Ok(addr) => Some(Some(addr)),
            Err(_) => {
                check.problem(
                    S,
                    "notify_listen",
                    format!("{text:?} is not an address; expected e.g. \"0.0.0.0:8751\" (the port notify_url reaches)"),
                );
                None
            }
        },
    };
    if let (Some(ListenAddr::Tcp(register)), Some(Some(notify))) = (&listen, &notify_listen) {
        if register == notify && register.port() != 0 {
            check.problem(
                S,
                "notify_listen",
                format!("{notify} is also the register API's listen address; give the notify listener its own port"),
            );
        }
    }
    Some(RegisterSettings {
        listen: listen?,
        token: token?,
        fixed_amount: fixed_amount?,
        notify_listen: notify_listen?,
    })
}

/// An inline `[register] token` is a secret inside the config file itself: a file that
/// others can read (mode `o+r`) gives it to every local user, so it is refused. `mode` is the
/// config file's; group-readable is fine (the daemon's group reads the config).
pub fn inline_token_kept_private(register: &RegisterSettings, mode: u32) -> Result<(), Problem> {
    match &register.token {
        Some(RegisterToken::Inline(_)) if mode & 0o004 != 0 => Err(Problem {
            key: "[register] token".to_string(),
            message: format!(
                "is written in a config file with mode {:04o}, which every local user can read; run `chmod o-rwx` on the config, or move the token to token_file (mode 0600)",
                mode & 0o7777
            ),
        }),
        Some(RegisterToken::Inline(_) | RegisterToken::File(_)) | None => Ok(()),
    }
}

const TOKEN_FORM: &str =
    "expected 1 to 256 visible ASCII characters without spaces (it is sent as an HTTP bearer token)";

fn valid_token(token: &str) -> bool {
    (1..=256).contains(&token.len()) && token.bytes().all(|b| b.is_ascii_graphic())
}

fn storage(check: &mut Checker, raw: RawStorage) -> Option<StorageSettings> {
    let path = raw
        .path
        .unwrap_or_else(|| PathBuf::from("/var/lib/scanpay"));
    if path.as_os_str().is_empty() {
        check.problem(
            "storage",
            "path",
            "is empty; expected the journal's directory, e.g. path = \"/var/lib/scanpay\"",
        );
        return None;
    }
    // A year and a month: a merchant's monthly and yearly statements are closed before a
    // sale leaves the terminal (the export keeps it for as long as the merchant must).
    let keep_days = check.number(
        "storage",
        "keep_days",
        raw.keep_days,
        u64::from(crate::journal::DEFAULT_KEEP_DAYS),
        1..=3650,
        "days a finished sale stays in the journal; export it first to keep it longer",
    )?;
    Some(StorageSettings {
        path: check.resolve(&path),
        keep_days: keep_days as u32,
    })
}
