//! Serial and USB-CDC scanners through tokio-serial, or plain termios where that cannot open.
//!
//! Opened by path, ideally a stable `/dev/serial/by-id/…` link that comes back under the same
//! name when the scanner is replugged. Opened exclusively (TIOCEXCL and flock, serialport's
//! default) so no other program steals bytes. A read of 0 bytes or an I/O error (EIO when a
//! USB adapter disappears, or a pty whose other side closed) means the device is gone; the
//! reader task then reopens the path with a backoff.
//!
//! serialport sets the rate with the TCGETS2/TCSETS2 ioctls. Where those are refused (qemu-user
//! before 10.1 answers ENOSYS, a seccomp sandbox may answer EPERM) serialport reports an error
//! it cannot classify (`ErrorKind::Unknown`), and the port is opened again with plain termios
//! ([`super::termios`]), which every standard rate the config admits can use.

use std::io;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, ReadBuf};
use tokio_serial::{SerialPortBuilderExt, SerialStream};

use super::source::DeviceOpener;
use super::stdin::ByteDevice;
use super::termios::TermiosPort;
use super::DeviceError;

/// Opens a serial scanner at `path` and `baud` (8N1, no flow control: what scanners use).
#[derive(Debug, Clone)]
pub struct SerialOpener {
    path: PathBuf,
    baud: u32,
    termios_only: bool,
}

impl SerialOpener {
    /// Opens through serialport, falling back to plain termios where termios2 is refused.
    pub fn new(path: impl AsRef<Path>, baud: u32) -> SerialOpener {
        SerialOpener {
            path: path.as_ref().to_path_buf(),
            baud,
            termios_only: false,
        }
    }

    /// Opens with plain termios only: the fallback path, so that it can be tested on a
    /// machine whose kernel has termios2.
    pub fn plain_termios(path: impl AsRef<Path>, baud: u32) -> SerialOpener {
        SerialOpener {
            termios_only: true,
            ..SerialOpener::new(path, baud)
        }
    }

    fn open_termios(&self) -> io::Result<SerialPort> {
        let port = TermiosPort::open(&self.path, self.baud)?;
        Ok(SerialPort::Termios(port))
    }

    fn open_port(&self) -> Result<SerialPort, String> {
        if self.termios_only {
            let port = self.open_termios().map_err(|err| err.to_string())?;
            tracing::debug!(source = %self.source(), "serial port opened with plain termios");
            return Ok(port);
        }
        match tokio_serial::new(self.path.to_string_lossy(), self.baud).open_native_async() {
            Ok(stream) => {
                tracing::debug!(source = %self.source(), "serial port opened with termios2 (serialport)");
                Ok(SerialPort::Termios2(stream))
            }
            Err(err) if err.kind() == tokio_serial::ErrorKind::Unknown => {
                let port = self
                    .open_termios()
                    .map_err(|plain| format!("{err}; with plain termios: {plain}"))?;
                tracing::debug!(
                    source = %self.source(),
                    termios2 = %err,
                    "serial port opened with plain termios (termios2 refused)"
                );
                Ok(port)
            }
            Err(err) => Err(err.to_string()),
        }
    }
}

/// The open port, whichever way it was opened.
#[derive(Debug)]
pub enum SerialPort {
    Termios2(SerialStream),
    Termios(TermiosPort),
}

impl AsyncRead for SerialPort {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            SerialPort::Termios2(stream) => Pin::new(stream).poll_read(cx, buf),
            SerialPort::Termios(port) => Pin::new(port).poll_read(cx, buf),
        }
    }
}

impl DeviceOpener for SerialOpener {
    type Device = ByteDevice<SerialPort>;

    /// Needs a tokio runtime (the port is registered with its reactor).
    fn open(&mut self) -> Result<Self::Device, DeviceError> {
        self.open_port()
            .map(ByteDevice::new)
            .map_err(|reason| DeviceError::Open {
                device: self.source(),
                reason,
            })
    }

    fn source(&self) -> String {
        format!("serial {} at {} baud", self.path.display(), self.baud)
    }
}
