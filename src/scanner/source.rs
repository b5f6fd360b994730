//! The reader task shared by every kind of scanner: open the device, pump its input through
//! the framer, send events to the daemon, and when the device goes away, report it and
//! reopen it with a backoff until it is back.
//!
//! Devices sit behind two narrow traits ([`DeviceOpener`], [`ScanDevice`]) so the reconnect
//! logic is tested with fakes and the real adapters (`serial`, `hid`, `stdin`) stay thin.

use std::fmt;
use std::future::Future;
use std::io;
use std::time::Instant;

use tokio::sync::mpsc;
use tokio::time::Instant as TokioInstant;

use super::backoff::{Backoff, BackoffPolicy};
use super::framing::{Frame, Framer, FramingRules};
use super::{DeviceError, ScannerEvent};

/// What a device delivered. `Debug` shows sizes only: the bytes may be a payment code.
#[derive(Clone, PartialEq, Eq)]
pub enum DeviceInput {
    /// Bytes read from a serial port or stdin, or characters typed by a keyboard scanner
    /// (UTF-8, with Enter as `\n`).
    Bytes(Vec<u8>),
    /// A keyboard scanner pressed a key the layout does not map (its evdev name).
    UnknownKey(String),
    /// End of file: the device is gone.
    Closed,
}

impl fmt::Debug for DeviceInput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DeviceInput::Bytes(bytes) => write!(f, "Bytes({} bytes)", bytes.len()),
            DeviceInput::UnknownKey(key) => write!(f, "UnknownKey({key})"),
            DeviceInput::Closed => f.write_str("Closed"),
        }
    }
}

/// An open scanner.
pub trait ScanDevice: Send {
    /// Waits for the next input. Must be cancel-safe: the task drops it to handle a timeout.
    /// An error means the device is gone.
    fn next_input(&mut self) -> impl Future<Output = io::Result<DeviceInput>> + Send;
}

/// Opens a scanner; called again after every loss.
pub trait DeviceOpener: Send + 'static {
    type Device: ScanDevice;

    /// Opens the device now; the task retries later on failure.
    fn open(&mut self) -> Result<Self::Device, DeviceError>;

    /// Names the device for events and logs, e.g. `serial /dev/serial/by-id/…`.
    fn source(&self) -> String;

    /// Whether another `open` can succeed after the device ended (stdin cannot).
    fn reopens(&self) -> bool {
        true
    }
}

/// Runs until the receiver of `events` is dropped, or, for a device that cannot reopen, until
/// it ends. Bad input never stops it: it becomes a `Refused` event.
pub async fn run_source<O: DeviceOpener>(
    mut opener: O,
    rules: FramingRules,
    policy: BackoffPolicy,
    events: mpsc::Sender<ScannerEvent>,
) {
    let source = opener.source();
    let mut backoff = Backoff::new(policy);
    // Report an outage once, not once per retry.
    let mut outage_reported = false;
    loop {
        match opener.open() {
            Ok(device) => {
                let opened_at = now();
                tracing::info!(%source, "scanner connected");
                let connected = ScannerEvent::Connected {
                    source: source.clone(),
                };
                if events.send(connected).await.is_err() {
                    return;
                }
                // A fresh framer per connection: half a code from before an unplug is not
                // completed by bytes from after it.
                let framer = Framer::new(rules.clone());
                match pump(device, framer, &events, &source).await {
                    Pumped::ReceiverGone => return,
                    Pumped::DeviceGone { reason, got_input } => {
                        // Start over from the short delay only after a real connection: a
                        // node that opens and ends at once (a stale link, a dead adapter)
                        // must not flap Connected/Disconnected five times a second.
                        if got_input || now() - opened_at >= policy.max {
                            backoff.reset();
                        }
                        let reason = if opener.reopens() {
                            DeviceError::Gone {
                                device: source.clone(),
                                reason,
                            }
                        } else {
                            DeviceError::Ended {
                                device: source.clone(),
                            }
                        };
                        tracing::warn!(%source, %reason, "scanner disconnected");
                        let gone = ScannerEvent::Disconnected {
                            source: source.clone(),
                            reason,
                        };
                        if events.send(gone).await.is_err() {
                            return;
                        }
                        outage_reported = true;
                    }
                }
            }
            Err(reason) => {
                if !outage_reported {
                    tracing::warn!(%source, %reason, "scanner not available; retrying");
                    let missing = ScannerEvent::Disconnected {
                        source: source.clone(),
                        reason,
                    };
                    if events.send(missing).await.is_err() {
                        return;
                    }
                    outage_reported = true;
                } else {
                    tracing::debug!(%source, %reason, "scanner still not available");
                }
            }
        }
        if !opener.reopens() {
            return;
        }
        let delay = backoff.next_delay();
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = events.closed() => return,
        }
    }
}

enum Pumped {
    ReceiverGone,
    DeviceGone {
        /// End of file or the read error that ended the device.
        reason: String,
        /// Whether the device delivered anything before it went.
        got_input: bool,
    },
}

/// Feeds one open device's input through the framer until the device goes away.
async fn pump<D: ScanDevice>(
    mut device: D,
    mut framer: Framer,
    events: &mpsc::Sender<ScannerEvent>,
    source: &str,
) -> Pumped {
    let mut got_input = false;
    loop {
        let deadline = framer.poll_timeout();
        tokio::select! {
            input = device.next_input() => {
                let now = now();
                match input {
                    Ok(DeviceInput::Bytes(bytes)) => framer.handle_bytes(&bytes, now),
                    Ok(DeviceInput::UnknownKey(key)) => framer.handle_unknown_key(&key, now),
                    Ok(DeviceInput::Closed) => {
                        let reason = "end of file".into();
                        return Pumped::DeviceGone { reason, got_input };
                    }
                    Err(err) => {
                        let reason = err.to_string();
                        return Pumped::DeviceGone { reason, got_input };
                    }
                }
                got_input = true;
            }
            _ = wait_until(deadline) => framer.handle_timeout(now()),
            _ = events.closed() => return Pumped::ReceiverGone,
        }
        while let Some(frame) = framer.poll_output() {
            let event = match frame {
                Frame::Scanned(text) => ScannerEvent::Scanned(text),
                Frame::Refused(reason) => ScannerEvent::Refused { reason },
            };
            // Send before logging: the daemon is waiting for the scan, the log is not.
            let logged = event.clone();
            if events.send(event).await.is_err() {
                return Pumped::ReceiverGone;
            }
            match logged {
                ScannerEvent::Scanned(text) => {
                    // Debug, not info: this runs on the till before the payment goes out, and
                    // the sale's own line ("sale … submitting") follows at once.
                    tracing::debug!(%source, code = %text, "scanned");
                }
                ScannerEvent::Refused { reason } => {
                    tracing::warn!(%source, %reason, "scan refused")
                }
                _ => {}
            }
        }
    }
}

/// The framer's clock: tokio's, so tests may pause it, in the framer's `std` type.
fn now() -> Instant {
    TokioInstant::now().into_std()
}

async fn wait_until(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(TokioInstant::from_std(deadline)).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scanner::framing::{Refusal, Suffix};
    use crate::scanner::stdin::{ByteDevice, StreamOpener};
    use std::collections::VecDeque;
    use std::time::Duration;
    use tokio::io::{AsyncWriteExt, DuplexStream};

    /// A device that fails to open for each `None` in `plan` (and once the plan is used up)
    /// and opens as the next duplex stream for each `Some`; reports the time of every attempt.
    struct FakeOpener {
        plan: VecDeque<Option<DuplexStream>>,
        attempts: mpsc::UnboundedSender<Instant>,
    }

    impl DeviceOpener for FakeOpener {
        type Device = ByteDevice<DuplexStream>;
        fn open(&mut self) -> Result<Self::Device, DeviceError> {
            let _ = self.attempts.send(Instant::now());
            match self.plan.pop_front().flatten() {
                Some(stream) => Ok(ByteDevice::new(stream)),
                None => Err(DeviceError::Open {
                    device: self.source(),
                    reason: "No such file or directory".into(),
                }),
            }
        }
        fn source(&self) -> String {
            "fake /dev/scanner".into()
        }
    }

    fn rules() -> FramingRules {
        FramingRules {
            suffix: Suffix::Cr,
            ..FramingRules::default()
        }
    }

    /// Short delays so the test runs in well under a second of real time.
    fn fast() -> BackoffPolicy {
        BackoffPolicy {
            initial: Duration::from_millis(10),
            max: Duration::from_millis(40),
        }
    }

    async fn next<T>(events: &mut mpsc::Receiver<T>) -> T {
        tokio::time::timeout(Duration::from_secs(10), events.recv())
            .await
            .expect("an event within 10 s")
            .expect("the reader task is still running")
    }

    async fn next_attempt(attempts: &mut mpsc::UnboundedReceiver<Instant>) -> Instant {
        tokio::time::timeout(Duration::from_secs(10), attempts.recv())
            .await
            .expect("an open attempt within 10 s")
            .expect("the reader task is still running")
    }

    fn gaps_ms(times: &[Instant]) -> Vec<u128> {
        times
            .windows(2)
            .map(|w| (w[1] - w[0]).as_millis())
            .collect()
    }

    #[tokio::test]
    async fn a_missing_device_is_reported_once_retried_with_backoff_and_resumed() {
        let (mut first_writer, first) = tokio::io::duplex(64);
        let (mut second_writer, second) = tokio::io::duplex(64);
        let (attempts_tx, mut attempts) = mpsc::unbounded_channel();
        let opener = FakeOpener {
            plan: VecDeque::from([None, None, None, Some(first), None, None, Some(second)]),
            attempts: attempts_tx,
        };
        let (tx, mut rx) = mpsc::channel(16);
        let task = tokio::spawn(run_source(opener, rules(), fast(), tx));

        // Missing at start-up: one Disconnected, not one per retry, then Connected.
        assert!(matches!(
            next(&mut rx).await,
            ScannerEvent::Disconnected {
                reason: DeviceError::Open { .. },
                ..
            }
        ));
        assert!(matches!(
            next(&mut rx).await,
            ScannerEvent::Connected { .. }
        ));
        first_writer
            .write_all(b"134523198765432101\r")
            .await
            .unwrap();
        match next(&mut rx).await {
            ScannerEvent::Scanned(text) => assert_eq!(text.as_str(), "134523198765432101"),
            other => panic!("expected a scan, got {other:?}"),
        }

        // Unplugged: end of file, reported once, reopened after two more failures.
        drop(first_writer);
        assert!(matches!(
            next(&mut rx).await,
            ScannerEvent::Disconnected {
                reason: DeviceError::Gone { .. },
                ..
            }
        ));
        assert!(matches!(
            next(&mut rx).await,
            ScannerEvent::Connected { .. }
        ));
        second_writer
            .write_all(b"\x00\x01\r2845231987654321\r")
            .await
            .unwrap();
        assert!(matches!(
            next(&mut rx).await,
            ScannerEvent::Refused {
                reason: Refusal::Noise { .. }
            }
        ));
        match next(&mut rx).await {
            ScannerEvent::Scanned(text) => assert_eq!(text.as_str(), "2845231987654321"),
            other => panic!("expected a scan, got {other:?}"),
        }

        // Seven attempts; the waits doubled from 10 ms and started over after the reconnect.
        let mut times = Vec::new();
        for _ in 0..7 {
            times.push(next_attempt(&mut attempts).await);
        }
        let gaps = gaps_ms(&times);
        let at_least = [10, 20, 40, 0, 10, 20];
        for (gap, min) in gaps.iter().zip(at_least) {
            assert!(*gap >= min, "gaps between attempts {gaps:?}");
        }

        // Dropping the receiver ends the task.
        drop(rx);
        tokio::time::timeout(Duration::from_secs(10), task)
            .await
            .expect("task ends when the daemon stops listening")
            .unwrap();
    }

    #[tokio::test]
    async fn a_device_that_never_appears_is_retried_at_a_capped_pace_not_a_busy_loop() {
        let (attempts_tx, mut attempts) = mpsc::unbounded_channel();
        let opener = FakeOpener {
            plan: VecDeque::new(),
            attempts: attempts_tx,
        };
        let (tx, mut rx) = mpsc::channel(16);
        let task = tokio::spawn(run_source(opener, rules(), fast(), tx));
        let mut times = Vec::new();
        for _ in 0..8 {
            times.push(next_attempt(&mut attempts).await);
        }
        let gaps = gaps_ms(&times);
        // 10, 20, then never less than the 40 ms cap.
        let at_least = [10, 20, 40, 40, 40, 40, 40];
        for (gap, min) in gaps.iter().zip(at_least) {
            assert!(*gap >= min, "gaps between attempts {gaps:?}");
        }
        // One Disconnected for the whole outage.
        assert!(matches!(
            next(&mut rx).await,
            ScannerEvent::Disconnected { .. }
        ));
        assert!(rx.try_recv().is_err());
        drop(rx);
        tokio::time::timeout(Duration::from_secs(10), task)
            .await
            .expect("task ends when the daemon stops listening")
            .unwrap();
    }

    #[tokio::test]
    async fn a_device_that_opens_and_ends_at_once_backs_off_instead_of_flapping() {
        let (attempts_tx, mut attempts) = mpsc::unbounded_channel();
        let plan = (0..6)
            .map(|_| Some(tokio::io::duplex(8).1)) // the writer is dropped: end of file
            .collect();
        let opener = FakeOpener {
            plan,
            attempts: attempts_tx,
        };
        let (tx, mut rx) = mpsc::channel(64);
        let task = tokio::spawn(run_source(opener, rules(), fast(), tx));
        let mut times = Vec::new();
        for _ in 0..6 {
            times.push(next_attempt(&mut attempts).await);
        }
        let gaps = gaps_ms(&times);
        for (gap, min) in gaps.iter().zip([10, 20, 40, 40, 40]) {
            assert!(*gap >= min, "gaps between attempts {gaps:?}");
        }
        assert!(matches!(
            next(&mut rx).await,
            ScannerEvent::Connected { .. }
        ));
        assert!(matches!(
            next(&mut rx).await,
            ScannerEvent::Disconnected { .. }
        ));
        drop(rx);
        tokio::time::timeout(Duration::from_secs(10), task)
            .await
            .expect("task ends when the daemon stops listening")
            .unwrap();
    }

    #[test]
    fn device_input_debug_shows_sizes_not_codes() {
        let input = DeviceInput::Bytes(b"134523198765432101\r".to_vec());
        assert_eq!(format!("{input:?}"), "Bytes(19 bytes)");
    }

    #[tokio::test]
    async fn a_partial_code_is_dropped_after_the_inter_character_timeout() {
        let (mut writer, reader) = tokio::io::duplex(64);
        let opener = StreamOpener::new("fake", reader);
        let (tx, mut rx) = mpsc::channel(16);
        tokio::spawn(run_source(opener, rules(), fast(), tx));
        assert!(matches!(
            next(&mut rx).await,
            ScannerEvent::Connected { .. }
        ));
        writer.write_all(b"1345231987").await.unwrap();
        let written = Instant::now();
        assert!(matches!(
            next(&mut rx).await,
            ScannerEvent::Refused {
                reason: Refusal::Incomplete { len: 10, .. }
            }
        ));
        assert!(written.elapsed() >= Duration::from_millis(100));
        writer.write_all(b"134523198765432101\r").await.unwrap();
        match next(&mut rx).await {
            ScannerEvent::Scanned(text) => assert_eq!(text.as_str(), "134523198765432101"),
            other => panic!("expected a scan, got {other:?}"),
        }
    }
}
