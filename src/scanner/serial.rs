//! Serial and USB-CDC scanners through tokio-serial.
//!
//! Opened by path, ideally a stable `/dev/serial/by-id/…` link that comes back under the same
//! name when the scanner is replugged. Opened exclusively (TIOCEXCL and flock, serialport's
//! default) so no other program steals bytes. A read of 0 bytes or an I/O error (EIO when a
//! USB adapter disappears, or a pty whose other side closed) means the device is gone; the
//! reader task then reopens the path with a backoff.

use std::path::{Path, PathBuf};

use tokio_serial::{SerialPortBuilderExt, SerialStream};

use super::source::DeviceOpener;
use super::stdin::ByteDevice;
use super::DeviceError;

/// Opens a serial scanner at `path` and `baud` (8N1, no flow control: what scanners use).
#[derive(Debug, Clone)]
pub struct SerialOpener {
    path: PathBuf,
    baud: u32,
}

impl SerialOpener {
    pub fn new(path: impl AsRef<Path>, baud: u32) -> SerialOpener {
        SerialOpener {
            path: path.as_ref().to_path_buf(),
            baud,
        }
    }
}

impl DeviceOpener for SerialOpener {
    type Device = ByteDevice<SerialStream>;

    /// Needs a tokio runtime (the port is registered with its reactor).
    fn open(&mut self) -> Result<Self::Device, DeviceError> {
        let path = self.path.to_string_lossy();
        tokio_serial::new(path, self.baud)
            .open_native_async()
            .map(ByteDevice::new)
            .map_err(|err| DeviceError::Open {
                device: self.source(),
                reason: err.to_string(),
            })
    }

    fn source(&self) -> String {
        format!("serial {} at {} baud", self.path.display(), self.baud)
    }
}
