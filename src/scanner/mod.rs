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
//! - `config`: the `[scanner]` section.
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

pub use config::{RawScannerConfig, ScannerConfig, ScannerConfigError, ScannerKind};
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
