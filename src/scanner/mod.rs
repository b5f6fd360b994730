//! Scanner input: complete scanned texts from a serial, keyboard-mode (HID) or stdin scanner,
//! delivered to the daemon as [`ScannerEvent`]s over a channel.
//!
//! The daemon calls [`spawn_scanner`] once; the task it starts opens the device, frames its
//! input into codes, and reports the device leaving and coming back, forever, reopening with a
//! short backoff. A missing device at start-up is reported like an unplug, not an error.
//!
//! Map:
//! - `framing`: pure; bytes and time in, scanned texts and refusals out.
//! - `keymap`: pure; key events in, characters out (keyboard layouts as tables).
//! - `backoff`: pure; delays between reopen attempts.
//! - `source`: the reader task shared by every kind, behind `DeviceOpener`/`ScanDevice`.
//! - `serial`, `hid`, `stdin`: the thin device adapters.
//! - `config`: the adapter's settings, already valid: the daemon builds them from the config's
//!   validated `[scanner]` section (`daemon::wiring`), so nothing here checks a config value.
//!
//! What it deliberately does not know: payment codes, sales, the display. A scanned text is
//! passed on as text; the engine validates it. Full texts never reach a log: `ScannedText`
//! and every refusal show at most the first and last four characters.

pub mod backoff;
pub mod config;
pub mod framing;
pub mod hid;
pub mod keymap;
pub mod serial;
pub mod source;
pub mod stdin;
pub mod termios;

pub use config::{ScannerConfig, ScannerKind};
pub use framing::{Refusal, ScannedText, Suffix};

use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// What the scanner task tells the daemon.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScannerEvent {
    /// A complete scanned text, stripped of suffix and whitespace (not yet validated).
    Scanned(ScannedText),
    /// A scan was read but is unusable; tell the cashier to scan again.
    Refused { reason: Refusal },
    /// The device is open and being read.
    Connected { source: String },
    /// The device is missing or went away. Sent once per outage; the task keeps retrying
    /// (except stdin, which ends).
    Disconnected { source: String, reason: DeviceError },
}

/// Why a scanner is not being read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeviceError {
    #[error("cannot open scanner {device}: {reason}; check that it is plugged in, that the path is right, and that scanpay may read it (groups dialout / input); retrying")]
    Open { device: String, reason: String },
    #[error("cannot grab keyboard scanner {device} exclusively: {reason}; another program holds it (stop it, or check the path is the scanner's event-kbd node); retrying")]
    Grab { device: String, reason: String },
    #[error(
        "scanner {device} went away ({reason}); plug it back in: scanpay reopens it by itself"
    )]
    Gone { device: String, reason: String },
    #[error("scanner input {device} has ended; restart scanpay to read it again")]
    Ended { device: String },
}

/// Starts the reader task for `config`. It sends events until `events`' receiver is dropped
/// (stdin: until input ends). Call from within a tokio runtime.
pub fn spawn_scanner(config: ScannerConfig, events: mpsc::Sender<ScannerEvent>) -> JoinHandle<()> {
    let ScannerConfig {
        kind,
        path,
        baud,
        framing,
        hid_layout,
        reconnect,
    } = config;
    match kind {
        ScannerKind::Serial => tokio::spawn(source::run_source(
            serial::SerialOpener::new(path, baud),
            framing,
            reconnect,
            events,
        )),
        ScannerKind::Hid => tokio::spawn(source::run_source(
            hid::HidOpener::new(path, hid_layout),
            framing,
            reconnect,
            events,
        )),
        ScannerKind::Stdin => tokio::spawn(source::run_source(
            stdin::stdin_opener(),
            framing,
            reconnect,
            events,
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::keymap::LayoutError;
    use super::Refusal;

    /// Checks that a message for a person names only keys the config file's `[scanner]`
    /// accepts (a word after `[scanner] `, or directly before ` = `): the config refuses
    /// unknown keys, so advice naming one of the adapter's own settings could not be followed.
    /// Returns how many keys the message names.
    fn assert_names_only_config_keys(message: &str) -> usize {
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

    /// Every message the scanner shows a person, one of each kind. The matches make a new
    /// variant a compile error here, so that its advice is checked too.
    fn every_message() -> Vec<String> {
        let refusals = vec![
            Refusal::TooLong {
                max: 128,
                masked: "1345…4321".into(),
            },
            Refusal::Noise {
                len: 3,
                masked: "\\x00".into(),
            },
            Refusal::Incomplete {
                len: 4,
                masked: "1345".into(),
                gap_ms: 100,
            },
            Refusal::UnknownKey {
                key: "KEY_F13".into(),
                masked: "1345".into(),
            },
        ];
        let layout_errors = vec![
            LayoutError::UnknownLayout("dvorak".into()),
            LayoutError::UnknownKeyName("KEY_NOPE".into()),
            LayoutError::BadMapping {
                key: "KEY_A".into(),
                value: "abc".into(),
            },
        ];
        for refusal in &refusals {
            match refusal {
                Refusal::TooLong { .. }
                | Refusal::Noise { .. }
                | Refusal::Incomplete { .. }
                | Refusal::UnknownKey { .. } => {}
            }
        }
        for error in &layout_errors {
            match error {
                LayoutError::UnknownLayout(_)
                | LayoutError::UnknownKeyName(_)
                | LayoutError::BadMapping { .. } => {}
            }
        }
        let refusals = refusals.iter().map(ToString::to_string);
        refusals
            .chain(layout_errors.iter().map(ToString::to_string))
            .collect()
    }

    #[test]
    fn advice_names_only_keys_the_config_file_accepts() {
        let mut named = 0;
        for message in every_message() {
            named += assert_names_only_config_keys(&message);
        }
        assert!(
            named >= 5,
            "only {named} keys named: is the key finder still finding them?"
        );
        // Not vacuous: the adapter's own names are refused.
        for adapter_only in ["set [scanner] hid_layout", "max_length = 0"] {
            let refused = std::panic::catch_unwind(|| assert_names_only_config_keys(adapter_only));
            assert!(refused.is_err(), "{adapter_only:?} passed");
        }
    }
}
