//! The scanner adapter's settings: parsed raw (every field optional), then validated into a
//! typed [`ScannerConfig`] that `spawn_scanner` takes.
//!
//! These are not the config file's keys. The daemon fills them from the validated
//! `[scanner]` section (`daemon::wiring::scanner_config`), which accepts exactly `kind`,
//! `path`, `baud`, `suffix`, `inter_char_timeout_ms` and `layout` (`config::RawScanner`);
//! the adapter's other settings (the longest code, prefixes and suffixes to strip, single-key
//! overrides of a HID layout) keep their defaults there and exist for tests and embedders.
//! So every message below names only the config file's keys: a person reads them.
//!
//! ```toml
//! kind = "serial"                 # serial | hid | stdin (default stdin)
//! path = "/dev/serial/by-id/usb-Honeywell_Scanner-if00"
//! baud = 9600
//! suffix = "cr"                   # cr | lf | crlf | none (serial, stdin; hid ends at Enter)
//! inter_char_timeout_ms = 100     # 0 = wait forever (needs a suffix; the config takes 10-5000)
//! max_length = 128                # adapter only: the longest code
//! strip_prefix = ""               # adapter only
//! strip_suffix = ""               # adapter only
//! hid_layout = "us"               # us | de | fr (the config's [scanner] layout)
//! hid_keys = { KEY_F13 = "#~" }   # adapter only: per-key overrides, unshifted then shifted
//! ```

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use super::backoff::BackoffPolicy;
use super::framing::{FramingRules, Suffix};
use super::keymap::{Layout, LayoutError};

/// Where codes come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScannerKind {
    /// A serial or USB-CDC scanner (`/dev/serial/by-id/…`).
    Serial,
    /// A keyboard-mode USB scanner read through evdev (`/dev/input/by-id/…-event-kbd`).
    Hid,
    /// One code per line on standard input: the demo and testing by hand.
    Stdin,
}

impl fmt::Display for ScannerKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ScannerKind::Serial => "serial",
            ScannerKind::Hid => "hid",
            ScannerKind::Stdin => "stdin",
        })
    }
}

/// The validated `[scanner]` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScannerConfig {
    pub kind: ScannerKind,
    /// Device path for serial and hid; unused for stdin.
    pub path: PathBuf,
    pub baud: u32,
    pub framing: FramingRules,
    pub hid_layout: Layout,
    pub reconnect: BackoffPolicy,
}

impl ScannerConfig {
    /// Reads stdin, one code per line, with no inter-character timeout (a person types slowly).
    pub fn stdin() -> ScannerConfig {
        RawScannerConfig::default()
            .validate()
            .expect("the defaults are valid")
    }
}

pub const DEFAULT_BAUD: u32 = 9600;
pub const DEFAULT_INTER_CHAR_TIMEOUT_MS: u64 = 100;
pub const DEFAULT_MAX_LENGTH: usize = 128;
/// Anything longer is not a barcode a till needs, and caps the framer's memory.
pub const MAX_MAX_LENGTH: usize = 4096;

/// `[scanner]` as written in the file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawScannerConfig {
    pub kind: Option<String>,
    pub path: Option<PathBuf>,
    pub baud: Option<u32>,
    pub suffix: Option<String>,
    pub inter_char_timeout_ms: Option<u64>,
    pub max_length: Option<usize>,
    pub strip_prefix: Option<String>,
    pub strip_suffix: Option<String>,
    pub hid_layout: Option<String>,
    #[serde(default)]
    pub hid_keys: BTreeMap<String, String>,
}

/// A `[scanner]` setting that cannot work.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScannerConfigError {
    #[error("unknown [scanner] kind {0:?}; use \"serial\", \"hid\" or \"stdin\"")]
    UnknownKind(String),
    #[error("[scanner] kind = \"{0}\" needs a path: a stable one such as /dev/serial/by-id/… (serial) or /dev/input/by-id/…-event-kbd (hid)")]
    MissingPath(ScannerKind),
    #[error("[scanner] baud = {0} is not a usable speed; use the scanner's setting, usually 9600 or 115200")]
    BadBaud(u32),
    #[error("unknown [scanner] suffix {0:?}; use \"cr\", \"lf\", \"crlf\" or \"none\"")]
    UnknownSuffix(String),
    #[error("[scanner] suffix = \"none\" with no inter-character timeout gives no way to end a code; set [scanner] inter_char_timeout_ms (e.g. 100) or the scanner's suffix")]
    NoWayToEndACode,
    /// Not a config key: only a caller of the adapter sets it.
    #[error("the scanner's longest code ({0} characters) is out of range; the adapter takes 1 to {MAX_MAX_LENGTH}")]
    BadMaxLength(usize),
    #[error(transparent)]
    Layout(#[from] LayoutError),
}

impl RawScannerConfig {
    pub fn validate(self) -> Result<ScannerConfig, ScannerConfigError> {
        let kind = match self.kind.as_deref().map(str::to_ascii_lowercase).as_deref() {
            None | Some("stdin") => ScannerKind::Stdin,
            Some("serial") => ScannerKind::Serial,
            Some("hid") => ScannerKind::Hid,
            Some(_) => return Err(ScannerConfigError::UnknownKind(self.kind.unwrap())),
        };
        let path = match (kind, self.path) {
            (ScannerKind::Stdin, path) => path.unwrap_or_default(),
            (_, Some(path)) if !path.as_os_str().is_empty() => path,
            (kind, _) => return Err(ScannerConfigError::MissingPath(kind)),
        };
        let baud = self.baud.unwrap_or(DEFAULT_BAUD);
        if !(50..=4_000_000).contains(&baud) {
            return Err(ScannerConfigError::BadBaud(baud));
        }
        let default_suffix = match kind {
            // A keyboard scanner ends a code with Enter, which the key mapper turns into '\n'.
            ScannerKind::Hid => None,
            // Lines typed or piped in end in '\n' (a '\r' before it is trimmed).
            ScannerKind::Stdin => Some(Suffix::Lf),
            ScannerKind::Serial => Some(Suffix::Cr),
        };
        let suffix = match (default_suffix, self.suffix.as_deref()) {
            (None, _) => Suffix::Lf,
            (Some(default), None) => default,
            (Some(_), Some(s)) => match s.to_ascii_lowercase().as_str() {
                "cr" => Suffix::Cr,
                "lf" => Suffix::Lf,
                "crlf" => Suffix::CrLf,
                "none" => Suffix::None,
                _ => return Err(ScannerConfigError::UnknownSuffix(s.to_string())),
            },
        };
        let default_timeout = match kind {
            ScannerKind::Stdin => 0,
            _ => DEFAULT_INTER_CHAR_TIMEOUT_MS,
        };
        let inter_char_timeout = match self.inter_char_timeout_ms.unwrap_or(default_timeout) {
            0 if suffix == Suffix::None => return Err(ScannerConfigError::NoWayToEndACode),
            0 => None,
            ms => Some(Duration::from_millis(ms)),
        };
        let max_len = self.max_length.unwrap_or(DEFAULT_MAX_LENGTH);
        if !(1..=MAX_MAX_LENGTH).contains(&max_len) {
            return Err(ScannerConfigError::BadMaxLength(max_len));
        }
        let hid_layout = Layout::named(self.hid_layout.as_deref().unwrap_or("us"))?
            .with_overrides(&self.hid_keys)?;
        Ok(ScannerConfig {
            kind,
            path,
            baud,
            framing: FramingRules {
                suffix,
                inter_char_timeout,
                max_len,
                strip_prefix: self.strip_prefix.unwrap_or_default(),
                strip_suffix: self.strip_suffix.unwrap_or_default(),
            },
            hid_layout,
            reconnect: BackoffPolicy::default(),
        })
    }
}

/// Checks that a message for a person names only keys the config file's `[scanner]` accepts
/// (a word after `[scanner] `, or directly before ` = `): the config refuses unknown keys, so
/// advice naming one of the adapter's own settings could not be followed. Returns how many
/// keys the message names.
#[cfg(test)]
pub(crate) fn assert_names_only_config_keys(message: &str) -> usize {
    let is_key = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_';
    let mut keys: Vec<&str> = Vec::new();
    for (at, tag) in message.match_indices("[scanner] ") {
        let rest = &message[at + tag.len()..];
        keys.push(&rest[..rest.find(|c: char| !is_key(c)).unwrap_or(rest.len())]);
    }
    for (at, _) in message.match_indices(" = ") {
        let before = &message[..at];
        keys.push(&before[before.rfind(|c: char| !is_key(c)).map_or(0, |i| i + 1)..]);
    }
    for key in &keys {
        let unknown = crate::config::parse_raw(&format!("[scanner]\n{key} = \"x\"\n"))
            .err()
            .is_some_and(|p| p.message.contains("unknown field"));
        assert!(
            !key.is_empty() && !unknown,
            "{message:?} names [scanner] {key:?}, which the config file refuses"
        );
    }
    keys.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<ScannerConfig, ScannerConfigError> {
        toml::from_str::<RawScannerConfig>(text)
            .expect("valid TOML")
            .validate()
    }

    #[test]
    fn a_serial_scanner_with_every_setting() {
        let config = parse(
            r##"
            kind = "serial"
            path = "/dev/serial/by-id/usb-scanner"
            baud = 115200
            suffix = "CRLF"
            inter_char_timeout_ms = 50
            max_length = 64
            strip_prefix = "]Q1"
            strip_suffix = "#"
            "##,
        )
        .unwrap();
        assert_eq!(config.kind, ScannerKind::Serial);
        assert_eq!(config.path, PathBuf::from("/dev/serial/by-id/usb-scanner"));
        assert_eq!(config.baud, 115200);
        assert_eq!(
            config.framing,
            FramingRules {
                suffix: Suffix::CrLf,
                inter_char_timeout: Some(Duration::from_millis(50)),
                max_len: 64,
                strip_prefix: "]Q1".into(),
                strip_suffix: "#".into(),
            }
        );
    }

    #[test]
    fn defaults_read_stdin_line_by_line_without_a_timeout() {
        let config = ScannerConfig::stdin();
        assert_eq!(config.kind, ScannerKind::Stdin);
        assert_eq!(config.framing.suffix, Suffix::Lf);
        assert_eq!(config.framing.inter_char_timeout, None);
        assert_eq!(config.framing.max_len, DEFAULT_MAX_LENGTH);
    }

    #[test]
    fn stdin_ends_codes_at_the_configured_suffix() {
        // `[scanner] kind = "stdin"` accepts suffix = "cr" (a scanner piped in through socat
        // sends bare CR); ignoring it left every code waiting for a LF that never came.
        let config = parse("kind = \"stdin\"\nsuffix = \"cr\"").unwrap();
        assert_eq!(config.framing.suffix, Suffix::Cr);
        let config = parse("kind = \"stdin\"\nsuffix = \"crlf\"").unwrap();
        assert_eq!(config.framing.suffix, Suffix::CrLf);
        assert_eq!(
            parse("kind = \"stdin\"").unwrap().framing.suffix,
            Suffix::Lf
        );
        // Without a timeout nothing else can end a code.
        let err = parse("kind = \"stdin\"\nsuffix = \"none\"").unwrap_err();
        assert_eq!(err, ScannerConfigError::NoWayToEndACode);
    }

    #[test]
    fn hid_ends_codes_at_enter_and_takes_a_layout() {
        let config = parse(
            r##"
            kind = "hid"
            path = "/dev/input/by-id/usb-scanner-event-kbd"
            hid_layout = "fr"
            hid_keys = { KEY_F13 = "#~" }
            "##,
        )
        .unwrap();
        assert_eq!(config.framing.suffix, Suffix::Lf);
        assert_eq!(config.hid_layout.name(), "fr");
        assert_eq!(
            config.hid_layout.char_for(evdev::KeyCode::KEY_F13, true),
            Some('~')
        );
    }

    #[test]
    fn settings_that_cannot_work_are_refused_with_advice() {
        let cases = [
            ("kind = \"bluetooth\"", "use \"serial\", \"hid\" or \"stdin\""),
            ("kind = \"serial\"", "needs a path"),
            ("kind = \"hid\"\npath = \"\"", "needs a path"),
            ("kind = \"serial\"\npath = \"/dev/x\"\nbaud = 0", "baud = 0"),
            (
                "kind = \"serial\"\npath = \"/dev/x\"\nsuffix = \"tab\"",
                "\"tab\"",
            ),
            (
                "kind = \"serial\"\npath = \"/dev/x\"\nsuffix = \"none\"\ninter_char_timeout_ms = 0",
                "no way to end a code",
            ),
            ("max_length = 0", "longest code (0 characters)"),
            ("hid_layout = \"dvorak\"", "\"dvorak\""),
            ("hid_keys = { KEY_A = \"a\" }", "exactly two characters"),
        ];
        for (text, advice) in cases {
            let err = parse(text).unwrap_err().to_string();
            assert!(err.contains(advice), "{text:?} gave {err:?}");
        }
        assert!(toml::from_str::<RawScannerConfig>("speed = 9600").is_err());
    }

    /// Every refusal, one of each kind. The match makes a new variant a compile error here,
    /// so that its advice is checked too.
    fn every_refusal() -> Vec<ScannerConfigError> {
        use ScannerConfigError as E;
        let all = vec![
            E::UnknownKind("bluetooth".into()),
            E::MissingPath(ScannerKind::Serial),
            E::MissingPath(ScannerKind::Hid),
            E::BadBaud(0),
            E::UnknownSuffix("tab".into()),
            E::NoWayToEndACode,
            E::BadMaxLength(0),
            E::Layout(LayoutError::UnknownLayout("dvorak".into())),
            E::Layout(LayoutError::UnknownKeyName("KEY_NOPE".into())),
            E::Layout(LayoutError::BadMapping {
                key: "KEY_A".into(),
                value: "abc".into(),
            }),
        ];
        for error in &all {
            match error {
                E::UnknownKind(_)
                | E::MissingPath(_)
                | E::BadBaud(_)
                | E::UnknownSuffix(_)
                | E::NoWayToEndACode
                | E::BadMaxLength(_)
                | E::Layout(
                    LayoutError::UnknownLayout(_)
                    | LayoutError::UnknownKeyName(_)
                    | LayoutError::BadMapping { .. },
                ) => {}
            }
        }
        all
    }

    #[test]
    fn advice_names_only_keys_the_config_file_accepts() {
        let mut named = 0;
        for error in every_refusal() {
            named += assert_names_only_config_keys(&error.to_string());
        }
        assert!(
            named >= 6,
            "only {named} keys named: is the key finder still finding them?"
        );
        // Not vacuous: the adapter's own names are refused.
        for adapter_only in ["set [scanner] hid_layout", "max_length = 0"] {
            let refused = std::panic::catch_unwind(|| assert_names_only_config_keys(adapter_only));
            assert!(refused.is_err(), "{adapter_only:?} passed");
        }
    }
}
