//! The typed, validated configuration: every default filled in, every value checked, paths
//! resolved. Plain data: the modules that use a section get it passed explicitly and do not
//! import each other through it.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::protocol::signing::{MerchantKey, SignRules};
use crate::protocol::Fen;

use super::secret_file::SecretFile;

/// Where the config file is looked for when `--config` is not given.
pub const DEFAULT_CONFIG_PATH: &str = "/etc/scanpay/config.toml";

#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub gateway: GatewaySettings,
    pub payment: PaymentSettings,
    pub offline: OfflineSettings,
    pub scanner: ScannerSettings,
    pub display: DisplaySettings,
    pub register: RegisterSettings,
    pub storage: StorageSettings,
}

#[derive(Debug, Clone, PartialEq)]
pub struct GatewaySettings {
    /// `http` or `https`, with a host; endpoint paths are joined to it.
    pub base_url: url::Url,
    pub app_id: String,
    /// The merchant key and the file it came from.
    pub key: SecretFile,
    pub notify_url: url::Url,
    pub operator_id: String,
    pub connect_timeout: Duration,
    pub request_timeout: Duration,
    pub sign_rules: SignRules,
}

impl GatewaySettings {
    /// The key in the form `protocol::signing` takes it.
    pub fn merchant_key(&self) -> MerchantKey {
        MerchantKey::new(self.key.expose())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentSettings {
    /// Wait before the first query after USERPAYING or an unknown outcome.
    pub first_query: Duration,
    /// Wait between queries; doubled on FREQUENTLY up to `max_query_interval`.
    pub query_interval: Duration,
    pub max_query_interval: Duration,
    /// How long the cashier waits on one sale before it becomes unresolved.
    pub deadline: Duration,
    pub reconcile: ReconcileSchedule,
    /// A pay whose answer was lost ends failed once every query since its last attempt
    /// said ORDER_NOTFOUND for this long (`EnginePolicy::not_found_final`).
    pub not_found_final: Duration,
    /// A second scan of the same code within this window is ignored.
    pub duplicate_window: Duration,
    pub default_subject: String,
    /// Starts every `out_trade_no` of this terminal; unique per terminal.
    pub order_prefix: String,
}

/// Background reconciliation of unresolved sales: every `fast_every` for `fast_for`, then
/// every `slow_every` until `slow_for` has passed too, then "needs review".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReconcileSchedule {
    pub fast_every: Duration,
    pub fast_for: Duration,
    pub slow_every: Duration,
    pub slow_for: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OfflineSettings {
    /// The oldest queued pay request that may still be sent.
    pub pay_max_age: Duration,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScannerSettings {
    /// A serial (or USB CDC/ACM serial) scanner.
    Serial {
        path: PathBuf,
        baud: u32,
        suffix: ScanSuffix,
        /// Silence that ends a scan sent without suffix and drops a stale partial one.
        inter_char_timeout: Duration,
    },
    /// A scanner that types like a keyboard (evdev); Enter ends a scan.
    Hid {
        path: PathBuf,
        layout: KeyboardLayout,
        inter_char_timeout: Duration,
    },
    /// Lines typed or pasted on standard input (demo, tests).
    Stdin { suffix: ScanSuffix },
}

/// What a serial scanner sends after each code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScanSuffix {
    Cr,
    Lf,
    CrLf,
    /// Nothing: the inter-character timeout ends a scan.
    None,
}

impl ScanSuffix {
    pub fn as_str(self) -> &'static str {
        match self {
            ScanSuffix::Cr => "cr",
            ScanSuffix::Lf => "lf",
            ScanSuffix::CrLf => "crlf",
            ScanSuffix::None => "none",
        }
    }
}

/// The keyboard layout a HID scanner emulates: it decides which key codes mean which
/// characters (on AZERTY the digits are shifted keys).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyboardLayout {
    Us,
    De,
    Fr,
}

impl KeyboardLayout {
    pub fn as_str(self) -> &'static str {
        match self {
            KeyboardLayout::Us => "us",
            KeyboardLayout::De => "de",
            KeyboardLayout::Fr => "fr",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DisplaySettings {
    pub output: DisplayOutput,
    pub language: Language,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DisplayOutput {
    /// An SPI panel driven through a GPIO character device.
    Panel(PanelSettings),
    /// Each screen written as a PNG file (tests, headless demos).
    Png {
        output_dir: PathBuf,
        width: u32,
        height: u32,
    },
    /// Screens as text on standard output (demo).
    Terminal,
    None,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PanelSettings {
    pub model: PanelModel,
    pub width: u32,
    pub height: u32,
    /// e.g. `/dev/spidev0.0`.
    pub spi: PathBuf,
    pub gpio_chip: GpioChip,
    /// GPIO line offsets on `gpio_chip`.
    pub dc_pin: u32,
    pub reset_pin: u32,
    pub backlight_pin: Option<u32>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PanelModel {
    St7789,
    Ili9341,
    Ssd1306,
}

impl PanelModel {
    pub fn as_str(self) -> &'static str {
        match self {
            PanelModel::St7789 => "st7789",
            PanelModel::Ili9341 => "ili9341",
            PanelModel::Ssd1306 => "ssd1306",
        }
    }
}

/// A GPIO chip named by its device path (`/dev/gpiochip0`) or by its label
/// (`pinctrl-bcm2711`), which stays the same when chips are numbered differently.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GpioChip {
    Path(PathBuf),
    Label(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Language {
    Zh,
    En,
}

impl Language {
    pub fn as_str(self) -> &'static str {
        match self {
            Language::Zh => "zh",
            Language::En => "en",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegisterSettings {
    pub listen: ListenAddr,
    /// Bearer token the register must send; `None` means no token is asked for.
    pub token: Option<RegisterToken>,
    /// Kiosk mode: every scan pays this amount; no register arms sales.
    pub fixed_amount: Option<Fen>,
    /// Where the gateway's notify callback is received, if at all.
    pub notify_listen: Option<SocketAddr>,
}

/// The register API's address: the register module's own type, so there is one spelling.
pub use crate::register::ListenAddr;

/// The register API's bearer token. `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub enum RegisterToken {
    Inline(String),
    File(SecretFile),
}

impl RegisterToken {
    pub fn expose(&self) -> &str {
        match self {
            RegisterToken::Inline(token) => token,
            RegisterToken::File(file) => file.expose(),
        }
    }
}

impl std::fmt::Debug for RegisterToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RegisterToken::Inline(_) => f.write_str("RegisterToken(****)"),
            RegisterToken::File(file) => write!(f, "RegisterToken({file:?})"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StorageSettings {
    /// The state directory: the journal in `journal/`, the withdrawal record beside it.
    pub path: PathBuf,
    /// Finished sales older than this are dropped when the journal is compacted; the export
    /// is the archive.
    pub keep_days: u32,
}

impl StorageSettings {
    /// The journal's directory. Its own folder, because a damaged journal is moved aside whole and
    /// must not take the withdrawal record with it.
    pub fn journal_dir(&self) -> PathBuf {
        self.path.join("journal")
    }
}
