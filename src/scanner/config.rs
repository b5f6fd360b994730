//! The scanner adapter's settings, already valid.
//!
//! The daemon builds them from the config's validated `[scanner]` section
//! (`daemon::wiring::scanner_config`): the config's validation is the one place a `[scanner]`
//! value is checked, and the adapter takes what it is given. The settings the config file
//! has no key for (the longest code, prefixes and suffixes to strip, single-key overrides of
//! a HID layout) keep `FramingRules`' and `Layout`'s defaults there; tests and embedders set
//! them directly.

use std::fmt;
use std::path::PathBuf;

use super::backoff::BackoffPolicy;
use super::framing::{FramingRules, Suffix};
use super::keymap::Layout;

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

/// What `spawn_scanner` reads, and how it cuts the input into codes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScannerConfig {
    pub kind: ScannerKind,
    /// Device path for serial and hid; unused for stdin.
    pub path: PathBuf,
    /// Line speed for serial; unused otherwise.
    pub baud: u32,
    pub framing: FramingRules,
    /// Key codes to characters for hid; unused otherwise.
    pub hid_layout: Layout,
    pub reconnect: BackoffPolicy,
}

impl ScannerConfig {
    /// Reads stdin, one code per line, with no inter-character timeout (a person types slowly).
    pub fn stdin() -> ScannerConfig {
        ScannerConfig {
            kind: ScannerKind::Stdin,
            path: PathBuf::new(),
            baud: 9600,
            framing: FramingRules {
                suffix: Suffix::Lf,
                inter_char_timeout: None,
                ..FramingRules::default()
            },
            hid_layout: Layout::us(),
            reconnect: BackoffPolicy::default(),
        }
    }

    /// Reads the serial scanner at `path` at `baud`, a code ending at CR.
    pub fn serial(path: PathBuf, baud: u32) -> ScannerConfig {
        ScannerConfig {
            kind: ScannerKind::Serial,
            path,
            baud,
            framing: FramingRules::default(),
            ..ScannerConfig::stdin()
        }
    }

    /// Reads the keyboard-mode scanner at `path`. A keyboard scanner ends a code with Enter,
    /// which the key mapper turns into `'\n'`.
    pub fn hid(path: PathBuf, layout: Layout) -> ScannerConfig {
        ScannerConfig {
            kind: ScannerKind::Hid,
            path,
            framing: FramingRules {
                suffix: Suffix::Lf,
                ..FramingRules::default()
            },
            hid_layout: layout,
            ..ScannerConfig::stdin()
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn stdin_reads_lines_without_a_timeout() {
        let config = ScannerConfig::stdin();
        assert_eq!(config.kind, ScannerKind::Stdin);
        assert_eq!(config.framing.suffix, Suffix::Lf);
        assert_eq!(config.framing.inter_char_timeout, None);
        assert_eq!(config.framing.max_len, FramingRules::default().max_len);
    }

    #[test]
    fn hid_ends_codes_at_enter_and_drops_a_stale_partial_scan() {
        let config = ScannerConfig::hid("/dev/input/event3".into(), Layout::fr());
        assert_eq!(config.kind, ScannerKind::Hid);
        assert_eq!(config.framing.suffix, Suffix::Lf);
        assert_eq!(
            config.framing.inter_char_timeout,
            Some(Duration::from_millis(100))
        );
        assert_eq!(config.hid_layout.name(), "fr");
    }
}
