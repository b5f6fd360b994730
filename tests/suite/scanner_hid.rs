//! Keyboard-mode (HID) scanners: recorded evdev key-event sequences replayed through the real
//! `HidDevice` and reader task (key mapping, framing, events), and the evdev path itself up to
//! the device boundary (no input device exists on a test machine).
//!
//! The recordings are what a USB scanner in keyboard mode delivers, as `evtest` shows it:
//! for every key an `EV_MSC/MSC_SCAN` with the HID usage, the `EV_KEY` press or release, and
//! a `SYN_REPORT`.

use std::collections::VecDeque;
use std::io;
use std::time::Duration;

use evdev::{InputEvent, KeyCode};
use scanpay::scanner::hid::{HidDevice, HidOpener, KeyEventSource};
use scanpay::scanner::keymap::Layout;
use scanpay::scanner::source::{run_source, DeviceOpener};
use scanpay::scanner::{spawn_scanner, DeviceError, Refusal, ScannerConfig, ScannerEvent};
use serialport::SerialPort;
use tokio::sync::mpsc;

const EV_SYN: u16 = 0;
const EV_KEY: u16 = 1;
const EV_MSC: u16 = 4;
const MSC_SCAN: u16 = 4;

/// A recorded device: events come from a channel; closing it is unplugging (ENODEV).
struct Recording(mpsc::UnboundedReceiver<InputEvent>);

impl KeyEventSource for Recording {
    async fn next_event(&mut self) -> io::Result<InputEvent> {
        self.0
            .recv()
            .await
            .ok_or_else(|| io::Error::from_raw_os_error(19)) // ENODEV, as after an unplug
    }
}

/// Opens the next recording in the plan, or fails like a missing device.
struct RecordedScanner {
    plan: VecDeque<Recording>,
    layout: Layout,
}

impl DeviceOpener for RecordedScanner {
    type Device = HidDevice<Recording>;
    fn open(&mut self) -> Result<Self::Device, DeviceError> {
        match self.plan.pop_front() {
            Some(recording) => Ok(HidDevice::new(recording, self.layout.clone())),
            None => Err(DeviceError::Open {
                device: self.source(),
                reason: "No such file or directory (os error 2)".into(),
            }),
        }
    }
    fn source(&self) -> String {
        "hid recording".into()
    }
}

/// Plays a recording into a device as it would arrive.
fn play(device: &mpsc::UnboundedSender<InputEvent>, events: &[(u16, u16, i32)]) {
    for &(kind, code, value) in events {
        device.send(InputEvent::new(kind, code, value)).unwrap();
    }
}

/// One key press or release as the kernel reports it.
fn key(code: KeyCode, usage: i32, value: i32) -> [(u16, u16, i32); 3] {
    [
        (EV_MSC, MSC_SCAN, usage),
        (EV_KEY, code.0, value),
        (EV_SYN, 0, 0),
    ]
}

/// A scanner typing digits then Enter (US layout, HID usages 0x7001e… for 1…9, 0x70027 for 0).
fn typed_digits(digits: &str) -> Vec<(u16, u16, i32)> {
    let mut events = Vec::new();
    let digit_keys = [
        KeyCode::KEY_0,
        KeyCode::KEY_1,
        KeyCode::KEY_2,
        KeyCode::KEY_3,
        KeyCode::KEY_4,
        KeyCode::KEY_5,
        KeyCode::KEY_6,
        KeyCode::KEY_7,
        KeyCode::KEY_8,
        KeyCode::KEY_9,
    ];
    for d in digits.bytes() {
        let n = (d - b'0') as usize;
        let usage = if n == 0 { 0x70027 } else { 0x7001d + n as i32 };
        events.extend(key(digit_keys[n], usage, 1));
        events.extend(key(digit_keys[n], usage, 0));
    }
    events.extend(key(KeyCode::KEY_ENTER, 0x70028, 1));
    events.extend(key(KeyCode::KEY_ENTER, 0x70028, 0));
    events
}

async fn next(events: &mut mpsc::Receiver<ScannerEvent>) -> ScannerEvent {
    tokio::time::timeout(Duration::from_secs(10), events.recv())
        .await
        .expect("a scanner event within 10 s")
        .expect("the scanner task is running")
}

async fn expect_scanned(events: &mut mpsc::Receiver<ScannerEvent>) -> String {
    match next(events).await {
        ScannerEvent::Scanned(text) => text.into_string(),
        other => panic!("expected a scanned code, got {other:?}"),
    }
}

/// Starts the reader task on recordings, with the framing a `kind = "hid"` config gives.
fn start(
    layout: Layout,
    recordings: usize,
) -> (
    Vec<mpsc::UnboundedSender<InputEvent>>,
    mpsc::Receiver<ScannerEvent>,
) {
    let mut devices = Vec::new();
    let mut plan = VecDeque::new();
    for _ in 0..recordings {
        let (tx, rx) = mpsc::unbounded_channel();
        devices.push(tx);
        plan.push_back(Recording(rx));
    }
    let config = ScannerConfig::hid("/dev/null".into(), Layout::us());
    let (tx, rx) = mpsc::channel(16);
    tokio::spawn(run_source(
        RecordedScanner { plan, layout },
        config.framing,
        config.reconnect,
        tx,
    ));
    (devices, rx)
}

#[tokio::test]
async fn a_recorded_scan_becomes_one_code_at_enter() {
    let (devices, mut rx) = start(Layout::us(), 1);
    assert!(matches!(
        next(&mut rx).await,
        ScannerEvent::Connected { .. }
    ));
    play(&devices[0], &typed_digits("134523198765432101"));
    play(&devices[0], &typed_digits("2845231987654321"));
    assert_eq!(expect_scanned(&mut rx).await, "134523198765432101");
    assert_eq!(expect_scanned(&mut rx).await, "2845231987654321");
}

#[tokio::test]
async fn shifted_characters_and_auto_repeat_as_recorded() {
    let (devices, mut rx) = start(Layout::us(), 1);
    assert!(matches!(
        next(&mut rx).await,
        ScannerEvent::Connected { .. }
    ));
    // "Ab-1!" then Enter. The A key auto-repeats (value 2) while held: one 'A' only.
    let mut recording = Vec::new();
    recording.extend(key(KeyCode::KEY_LEFTSHIFT, 0x700e1, 1));
    recording.extend(key(KeyCode::KEY_A, 0x70004, 1));
    recording.extend([(EV_KEY, KeyCode::KEY_A.0, 2), (EV_SYN, 0, 0)]);
    recording.extend([(EV_KEY, KeyCode::KEY_A.0, 2), (EV_SYN, 0, 0)]);
    recording.extend(key(KeyCode::KEY_A, 0x70004, 0));
    recording.extend(key(KeyCode::KEY_LEFTSHIFT, 0x700e1, 0));
    recording.extend(key(KeyCode::KEY_B, 0x70005, 1));
    recording.extend(key(KeyCode::KEY_B, 0x70005, 0));
    recording.extend(key(KeyCode::KEY_MINUS, 0x7002d, 1));
    recording.extend(key(KeyCode::KEY_MINUS, 0x7002d, 0));
    recording.extend(key(KeyCode::KEY_1, 0x7001e, 1));
    recording.extend(key(KeyCode::KEY_1, 0x7001e, 0));
    recording.extend(key(KeyCode::KEY_RIGHTSHIFT, 0x700e5, 1));
    recording.extend(key(KeyCode::KEY_1, 0x7001e, 1));
    recording.extend(key(KeyCode::KEY_1, 0x7001e, 0));
    recording.extend(key(KeyCode::KEY_RIGHTSHIFT, 0x700e5, 0));
    recording.extend(key(KeyCode::KEY_KPENTER, 0x70058, 1));
    recording.extend([(EV_KEY, KeyCode::KEY_KPENTER.0, 2), (EV_SYN, 0, 0)]);
    recording.extend(key(KeyCode::KEY_KPENTER, 0x70058, 0));
    play(&devices[0], &recording);
    play(&devices[0], &typed_digits("134523198765432101"));
    assert_eq!(expect_scanned(&mut rx).await, "Ab-1!");
    // The repeated Enter did not end an empty second code: the next scan is clean.
    assert_eq!(expect_scanned(&mut rx).await, "134523198765432101");
}

#[tokio::test]
async fn an_unknown_key_refuses_only_its_own_code() {
    let (devices, mut rx) = start(Layout::us(), 1);
    assert!(matches!(
        next(&mut rx).await,
        ScannerEvent::Connected { .. }
    ));
    let mut recording = typed_digits("13452319");
    recording.truncate(recording.len() - 6); // no Enter yet
    recording.extend(key(KeyCode::KEY_F13, 0x70068, 1));
    recording.extend(key(KeyCode::KEY_F13, 0x70068, 0));
    recording.extend(typed_digits("8765432101"));
    play(&devices[0], &recording);
    play(&devices[0], &typed_digits("2845231987654321"));
    match next(&mut rx).await {
        ScannerEvent::Refused {
            reason: reason @ Refusal::UnknownKey { .. },
        } => {
            let message = reason.to_string();
            assert!(message.contains("KEY_F13"), "{message}");
            assert!(message.contains("1345…2101"), "{message}");
            assert!(!message.contains("1345231987"), "masked: {message}");
        }
        other => panic!("expected the spoiled code to be refused, got {other:?}"),
    }
    assert_eq!(expect_scanned(&mut rx).await, "2845231987654321");
}

#[tokio::test]
async fn an_azerty_scanner_is_read_with_the_fr_layout() {
    let (devices, mut rx) = start(Layout::named("fr").unwrap(), 1);
    assert!(matches!(
        next(&mut rx).await,
        ScannerEvent::Connected { .. }
    ));
    // AZERTY digits need shift; a scanner set to AZERTY wraps each one in shift.
    let mut recording = Vec::new();
    for (code, usage) in [(KeyCode::KEY_1, 0x7001e), (KeyCode::KEY_0, 0x70027)] {
        for _ in 0..6 {
            recording.extend(key(KeyCode::KEY_LEFTSHIFT, 0x700e1, 1));
            recording.extend(key(code, usage, 1));
            recording.extend(key(code, usage, 0));
            recording.extend(key(KeyCode::KEY_LEFTSHIFT, 0x700e1, 0));
        }
    }
    recording.extend(key(KeyCode::KEY_ENTER, 0x70028, 1));
    recording.extend(key(KeyCode::KEY_ENTER, 0x70028, 0));
    play(&devices[0], &recording);
    assert_eq!(expect_scanned(&mut rx).await, "111111000000");
}

#[tokio::test]
async fn an_unplugged_keyboard_scanner_is_reported_and_reopened() {
    let (mut devices, mut rx) = start(Layout::us(), 2);
    assert!(matches!(
        next(&mut rx).await,
        ScannerEvent::Connected { .. }
    ));
    // Half a code, then the cable is pulled: the half code is not completed by the next device.
    let mut half = typed_digits("1345");
    half.truncate(half.len() - 6);
    play(&devices[0], &half);
    drop(devices.remove(0));
    match next(&mut rx).await {
        ScannerEvent::Disconnected {
            reason: reason @ DeviceError::Gone { .. },
            ..
        } => assert!(reason.to_string().contains("No such device"), "{reason}"),
        other => panic!("expected Disconnected, got {other:?}"),
    }
    assert!(matches!(
        next(&mut rx).await,
        ScannerEvent::Connected { .. }
    ));
    play(&devices[0], &typed_digits("2845231987654321"));
    assert_eq!(expect_scanned(&mut rx).await, "2845231987654321");
}

#[tokio::test]
async fn the_evdev_path_reports_a_missing_device_and_keeps_retrying() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("usb-Scanner-event-kbd");
    let config = ScannerConfig::hid(path.clone(), Layout::us());
    let (tx, mut rx) = mpsc::channel(16);
    let task = spawn_scanner(config, tx);
    match next(&mut rx).await {
        ScannerEvent::Disconnected {
            source,
            reason: reason @ DeviceError::Open { .. },
        } => {
            assert!(source.starts_with("hid "), "{source}");
            let message = reason.to_string();
            assert!(message.contains("usb-Scanner-event-kbd"), "{message}");
            assert!(message.contains("retrying"), "{message}");
        }
        other => panic!("expected the missing device to be reported, got {other:?}"),
    }
    assert!(!task.is_finished(), "a missing device is not fatal");
    task.abort();
}

#[tokio::test]
async fn a_device_that_is_not_a_keyboard_is_refused_at_the_evdev_boundary() {
    // A by-id link pointing at the wrong node (here a tty) opens as a file but fails evdev's
    // ioctls: a clear Open error, which the reader task retries like a missing device.
    let (_master, slave) = serialport::TTYPort::pair().unwrap();
    let tty = slave.name().unwrap();
    let err = HidOpener::new(&tty, Layout::us()).open().err().unwrap();
    assert!(matches!(err, DeviceError::Open { .. }), "{err:?}");
    assert!(err.to_string().contains(&tty), "{err}");
}
