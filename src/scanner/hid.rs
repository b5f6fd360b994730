//! Keyboard-mode (HID) scanners through evdev.
//!
//! The device is opened by a stable path (`/dev/input/by-id/…-event-kbd`) and grabbed
//! exclusively, so the codes it types do not also land in whatever has focus on the
//! register's screen. Key events go through the pure [`KeyMapper`]; Enter becomes `\n`, which
//! the framer (suffix LF) takes as the end of a code. An I/O error (ENODEV on unplug) means
//! the device is gone; the reader task reopens the path with a backoff.

use std::future::Future;
use std::io;
use std::path::{Path, PathBuf};

use evdev::{Device, EventStream, InputEvent};

use super::keymap::{KeyMapper, KeyOutput, Layout};
use super::source::{DeviceInput, DeviceOpener, ScanDevice};
use super::DeviceError;

/// Opens and grabs a keyboard-mode scanner.
#[derive(Debug, Clone)]
pub struct HidOpener {
    path: PathBuf,
    layout: Layout,
}

impl HidOpener {
    pub fn new(path: impl AsRef<Path>, layout: Layout) -> HidOpener {
        HidOpener {
            path: path.as_ref().to_path_buf(),
            layout,
        }
    }
}

impl DeviceOpener for HidOpener {
    type Device = HidDevice;

    /// Needs a tokio runtime (the event stream is registered with its reactor).
    fn open(&mut self) -> Result<HidDevice, DeviceError> {
        let mut device = Device::open(&self.path).map_err(|err| DeviceError::Open {
            device: self.source(),
            reason: err.to_string(),
        })?;
        device.grab().map_err(|err| DeviceError::Grab {
            device: self.source(),
            reason: err.to_string(),
        })?;
        let events = device
            .into_event_stream()
            .map_err(|err| DeviceError::Open {
                device: self.source(),
                reason: err.to_string(),
            })?;
        Ok(HidDevice::new(events, self.layout.clone()))
    }

    fn source(&self) -> String {
        format!(
            "hid {} ({} layout)",
            self.path.display(),
            self.layout.name()
        )
    }
}

/// Where key events come from: a grabbed evdev device, or a recording in tests.
pub trait KeyEventSource: Send {
    /// The next event. Must be cancel-safe. An error means the device is gone.
    fn next_event(&mut self) -> impl Future<Output = io::Result<InputEvent>> + Send;
}

impl KeyEventSource for EventStream {
    fn next_event(&mut self) -> impl Future<Output = io::Result<InputEvent>> + Send {
        EventStream::next_event(self)
    }
}

/// A keyboard scanner being read. With a real device the grab ends when it is dropped (its
/// descriptor closes).
pub struct HidDevice<E = EventStream> {
    events: E,
    mapper: KeyMapper,
}

impl<E: KeyEventSource> HidDevice<E> {
    pub fn new(events: E, layout: Layout) -> HidDevice<E> {
        HidDevice {
            events,
            mapper: KeyMapper::new(layout),
        }
    }
}

impl<E: KeyEventSource> ScanDevice for HidDevice<E> {
    async fn next_input(&mut self) -> io::Result<DeviceInput> {
        loop {
            // Cancel-safe: the stream keeps undelivered events, the mapper keeps shift state,
            // and every produced character is returned at once.
            let event = self.events.next_event().await?;
            match self.mapper.handle_event(event) {
                Some(KeyOutput::Char(c)) => {
                    return Ok(DeviceInput::Bytes(c.to_string().into_bytes()));
                }
                Some(KeyOutput::Enter) => return Ok(DeviceInput::Bytes(b"\n".to_vec())),
                Some(KeyOutput::Unmapped(key)) => {
                    return Ok(DeviceInput::UnknownKey(format!("{key:?}")));
                }
                None => continue,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_missing_device_gives_a_clear_error_naming_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("usb-scanner-event-kbd");
        let err = HidOpener::new(&path, Layout::us()).open().err().unwrap();
        assert!(matches!(err, DeviceError::Open { .. }));
        let message = err.to_string();
        assert!(message.contains("usb-scanner-event-kbd"), "{message}");
        assert!(message.contains("No such file"), "{message}");
    }

    #[tokio::test]
    async fn a_file_that_is_not_an_input_device_is_refused_at_the_device_boundary() {
        // A regular file opens but fails evdev's ioctls: the same path a wrong by-id link
        // (e.g. to the scanner's mouse interface or a tty) would take.
        let file = tempfile::NamedTempFile::new().unwrap();
        let err = HidOpener::new(file.path(), Layout::us())
            .open()
            .err()
            .unwrap();
        assert!(matches!(err, DeviceError::Open { .. }), "{err:?}");
    }
}
