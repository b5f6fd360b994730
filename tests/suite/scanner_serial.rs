//! The serial scanner adapter against pseudo-terminals: no hardware needed.
//!
//! `serialport::TTYPort::pair()` gives a pty: the test writes to the master side as the
//! scanner would, and scanpay opens the slave side by path, exactly as it opens
//! `/dev/ttyACM0`. The path scanpay is given is a symlink (like `/dev/serial/by-id/…`) to the
//! slave, so unplug/replug is simulated faithfully: closing the master hangs up the slave
//! (scanpay's read fails → Disconnected) and its `/dev/pts/N` node disappears (reopening
//! fails → retried with backoff); a new pty is then created and the symlink atomically
//! re-pointed at it, as udev does when the scanner comes back, and scanpay reopens it.
//!
//! Every wait is on the event channel with a timeout; nothing sleeps to synchronise.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use scanpay::scanner::framing::FramingRules;
use scanpay::scanner::{
    spawn_scanner, DeviceError, Refusal, ScannerConfig, ScannerEvent, ScannerKind, Suffix,
};
use serialport::{SerialPort, TTYPort};
use tokio::sync::mpsc;

/// A scanner plugged in: the pty master the test writes to, and the slave kept open so the
/// pty lives until the test unplugs it.
struct PluggedScanner {
    master: TTYPort,
    _slave: TTYPort,
}

impl PluggedScanner {
    /// Creates a pty and points `link` at its slave (replacing any previous link atomically).
    fn plug(link: &Path) -> PluggedScanner {
        let (master, slave) = TTYPort::pair().expect("create a pseudo-terminal");
        let slave_path = slave.name().expect("the slave pty has a path");
        let staging = link.with_extension("new");
        let _ = std::fs::remove_file(&staging);
        std::os::unix::fs::symlink(&slave_path, &staging).unwrap();
        std::fs::rename(&staging, link).unwrap();
        PluggedScanner {
            master,
            _slave: slave,
        }
    }

    /// Sends bytes as the scanner would, one write per piece.
    fn send(&mut self, pieces: &[&[u8]]) {
        for piece in pieces {
            self.master.write_all(piece).unwrap();
            self.master.flush().unwrap();
        }
    }
}

fn config(link: &Path, baud: u32, suffix: Suffix) -> ScannerConfig {
    ScannerConfig {
        kind: ScannerKind::Serial,
        path: link.to_path_buf(),
        baud,
        framing: FramingRules {
            suffix,
            ..FramingRules::default()
        },
        ..ScannerConfig::stdin()
    }
}

async fn next(events: &mut mpsc::Receiver<ScannerEvent>) -> ScannerEvent {
    tokio::time::timeout(Duration::from_secs(10), events.recv())
        .await
        .expect("a scanner event within 10 s")
        .expect("the scanner task is running")
}

async fn expect_connected(events: &mut mpsc::Receiver<ScannerEvent>) {
    match next(events).await {
        ScannerEvent::Connected { source } => assert!(source.starts_with("serial "), "{source}"),
        other => panic!("expected Connected, got {other:?}"),
    }
}

async fn expect_scanned(events: &mut mpsc::Receiver<ScannerEvent>) -> String {
    match next(events).await {
        ScannerEvent::Scanned(text) => text.into_string(),
        other => panic!("expected a scanned code, got {other:?}"),
    }
}

fn link_in(dir: &tempfile::TempDir) -> PathBuf {
    dir.path().join("usb-Scanner_Serial-if00")
}

#[tokio::test]
async fn codes_arrive_at_several_speeds_and_suffixes_even_split_across_writes() {
    let cases: [(u32, Suffix, &[u8]); 4] = [
        (9600, Suffix::Cr, b"\r"),
        (19200, Suffix::Lf, b"\n"),
        (115200, Suffix::CrLf, b"\r\n"),
        (38400, Suffix::None, b""),
    ];
    for (baud, suffix, terminator) in cases {
        let dir = tempfile::tempdir().unwrap();
        let link = link_in(&dir);
        let mut scanner = PluggedScanner::plug(&link);
        let (tx, mut rx) = mpsc::channel(16);
        let task = spawn_scanner(config(&link, baud, suffix), tx);
        expect_connected(&mut rx).await;

        scanner.send(&[b"1345", b"23198765", b"432101", terminator]);
        assert_eq!(
            expect_scanned(&mut rx).await,
            "134523198765432101",
            "{baud} baud, suffix {suffix}"
        );
        scanner.send(&[b"2845231987654321", terminator]);
        assert_eq!(
            expect_scanned(&mut rx).await,
            "2845231987654321",
            "{baud} baud, suffix {suffix}"
        );
        task.abort();
    }
}

#[tokio::test]
async fn noise_and_over_long_lines_are_refused_and_reading_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let link = link_in(&dir);
    let mut scanner = PluggedScanner::plug(&link);
    let (tx, mut rx) = mpsc::channel(16);
    let task = spawn_scanner(config(&link, 9600, Suffix::Cr), tx);
    expect_connected(&mut rx).await;

    // What a wrong baud rate looks like, then a line far over max_length, then a good code.
    scanner.send(&[b"\xf8\x80\x00\xfe\x9c\xe0\r"]);
    scanner.send(&[&[b'9'; 300], b"\r"]);
    scanner.send(&[b"134523198765432101\r"]);

    match next(&mut rx).await {
        ScannerEvent::Refused {
            reason: reason @ Refusal::Noise { .. },
        } => assert!(reason.to_string().contains("baud rate"), "{reason}"),
        other => panic!("expected noise to be refused, got {other:?}"),
    }
    match next(&mut rx).await {
        ScannerEvent::Refused {
            reason: reason @ Refusal::TooLong { .. },
        } => {
            let message = reason.to_string();
            assert!(message.contains("9999…9999"), "{message}");
            assert!(!message.contains("99999"), "masked: {message}");
        }
        other => panic!("expected the long line to be refused, got {other:?}"),
    }
    assert_eq!(expect_scanned(&mut rx).await, "134523198765432101");
    task.abort();
}

#[tokio::test]
async fn unplug_is_reported_and_a_replugged_scanner_is_read_again() {
    let dir = tempfile::tempdir().unwrap();
    let link = link_in(&dir);
    let mut scanner = PluggedScanner::plug(&link);
    let (tx, mut rx) = mpsc::channel(16);
    let task = spawn_scanner(config(&link, 9600, Suffix::Cr), tx);
    expect_connected(&mut rx).await;
    scanner.send(&[b"134523198765432101\r"]);
    assert_eq!(expect_scanned(&mut rx).await, "134523198765432101");

    // Unplug: the pty is hung up and its node goes away.
    drop(scanner);
    match next(&mut rx).await {
        ScannerEvent::Disconnected {
            reason: DeviceError::Gone { device, .. },
            ..
        } => assert!(device.contains("usb-Scanner_Serial-if00"), "{device}"),
        other => panic!("expected Disconnected, got {other:?}"),
    }

    // Replug: a new pty under the same stable name.
    let mut scanner = PluggedScanner::plug(&link);
    expect_connected(&mut rx).await;
    scanner.send(&[b"2845231987654321\r"]);
    assert_eq!(expect_scanned(&mut rx).await, "2845231987654321");

    // And once more, to show the cycle repeats.
    drop(scanner);
    assert!(matches!(
        next(&mut rx).await,
        ScannerEvent::Disconnected { .. }
    ));
    let mut scanner = PluggedScanner::plug(&link);
    expect_connected(&mut rx).await;
    scanner.send(&[b"104523198765432101\r"]);
    assert_eq!(expect_scanned(&mut rx).await, "104523198765432101");
    assert!(!task.is_finished());
    task.abort();
}

#[tokio::test]
async fn a_scanner_missing_at_start_up_is_reported_then_picked_up_when_it_appears() {
    let dir = tempfile::tempdir().unwrap();
    let link = link_in(&dir);
    let (tx, mut rx) = mpsc::channel(16);
    let task = spawn_scanner(config(&link, 9600, Suffix::Lf), tx);
    match next(&mut rx).await {
        ScannerEvent::Disconnected {
            reason: reason @ DeviceError::Open { .. },
            ..
        } => {
            let message = reason.to_string();
            assert!(message.contains("usb-Scanner_Serial-if00"), "{message}");
            assert!(message.contains("plugged in"), "{message}");
        }
        other => panic!("expected the missing scanner to be reported, got {other:?}"),
    }

    let mut scanner = PluggedScanner::plug(&link);
    expect_connected(&mut rx).await;
    scanner.send(&[b"134523198765432101\n"]);
    assert_eq!(expect_scanned(&mut rx).await, "134523198765432101");
    task.abort();
}
