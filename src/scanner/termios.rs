//! A serial port opened with plain termios (`tcsetattr` and a standard `Bxxx` rate), for where
//! serialport's TCGETS2/TCSETS2 ioctls are refused: qemu-user before 10.1 answers them ENOSYS,
//! and a seccomp sandbox may refuse them. Same settings as serialport gives: exclusive
//! (TIOCEXCL and an exclusive flock), raw, 8N1, CLOCAL|CREAD, no flow control, non-blocking and
//! registered with tokio's reactor.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use tokio::io::unix::AsyncFd;
use tokio::io::{AsyncRead, ReadBuf};

/// An open serial port read through tokio; a read of 0 bytes or an error (EIO on hang-up)
/// means the device is gone, as for any [`super::stdin::ByteDevice`] reader.
#[derive(Debug)]
pub struct TermiosPort {
    fd: AsyncFd<OwnedFd>,
}

/// The termios speed constant for `baud`, or `None` for a rate termios has no constant for.
/// The config admits only standard rates, all of which are here.
pub fn speed_constant(baud: u32) -> Option<libc::speed_t> {
    Some(match baud {
        1200 => libc::B1200,
        2400 => libc::B2400,
        4800 => libc::B4800,
        9600 => libc::B9600,
        19200 => libc::B19200,
        38400 => libc::B38400,
        57600 => libc::B57600,
        115200 => libc::B115200,
        230400 => libc::B230400,
        460800 => libc::B460800,
        921600 => libc::B921600,
        _ => return None,
    })
}

/// What failed, with the OS error: "TIOCEXCL: Device or resource busy (os error 16)".
fn os_error(step: &str) -> io::Error {
    let err = io::Error::last_os_error();
    io::Error::new(err.kind(), format!("{step}: {err}"))
}

fn check(step: &str, rc: libc::c_int) -> io::Result<()> {
    if rc == -1 {
        Err(os_error(step))
    } else {
        Ok(())
    }
}

impl TermiosPort {
    /// Opens the tty at `path` exclusively at `baud`, 8N1, raw. Needs a tokio runtime.
    pub fn open(path: &Path, baud: u32) -> io::Result<TermiosPort> {
        let speed = speed_constant(baud).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{baud} baud has no termios speed constant; use a standard rate"),
            )
        })?;
        let c_path = CString::new(path.as_os_str().as_bytes()).map_err(|_| {
            io::Error::new(io::ErrorKind::InvalidInput, "the path contains a NUL byte")
        })?;
        // SAFETY: c_path is a valid NUL-terminated string; the fd is owned from here on.
        let raw = unsafe {
            libc::open(
                c_path.as_ptr(),
                libc::O_RDWR | libc::O_NOCTTY | libc::O_NONBLOCK | libc::O_CLOEXEC,
            )
        };
        check("open", raw)?;
        // SAFETY: `raw` is a freshly opened descriptor nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        configure(fd.as_raw_fd(), speed)?;
        // SAFETY: the OwnedFd is moved into the AsyncFd, which alone closes it.
        let fd = unsafe { AsyncFd::register(fd) }.map_err(|err| {
            let (_, cause) = err.into_parts();
            io::Error::new(cause.kind(), format!("register with tokio: {cause}"))
        })?;
        Ok(TermiosPort { fd })
    }
}

fn configure(fd: RawFd, speed: libc::speed_t) -> io::Result<()> {
    // SAFETY: plain ioctl/flock/termios calls on a descriptor we own; `termios` is fully
    // written by tcgetattr before it is read.
    unsafe {
        check("TIOCEXCL", libc::ioctl(fd, libc::TIOCEXCL))?;
        check("flock", libc::flock(fd, libc::LOCK_EX | libc::LOCK_NB))?;
        let mut termios: libc::termios = std::mem::zeroed();
        check("tcgetattr", libc::tcgetattr(fd, &mut termios))?;
        libc::cfmakeraw(&mut termios);
        termios.c_cflag &= !(libc::CSIZE | libc::PARENB | libc::CSTOPB | libc::CRTSCTS);
        termios.c_cflag |= libc::CS8 | libc::CLOCAL | libc::CREAD;
        termios.c_iflag &= !(libc::IXON | libc::IXOFF | libc::IXANY);
        check("cfsetispeed", libc::cfsetispeed(&mut termios, speed))?;
        check("cfsetospeed", libc::cfsetospeed(&mut termios, speed))?;
        check("tcsetattr", libc::tcsetattr(fd, libc::TCSANOW, &termios))?;
    }
    Ok(())
}

impl AsyncRead for TermiosPort {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        loop {
            let mut guard = ready!(self.fd.poll_read_ready(cx))?;
            let unfilled = buf.initialize_unfilled();
            let result = guard.try_io(|fd| {
                // SAFETY: reads at most unfilled.len() bytes into memory we borrow mutably.
                let n = unsafe {
                    libc::read(fd.as_raw_fd(), unfilled.as_mut_ptr().cast(), unfilled.len())
                };
                if n == -1 {
                    Err(io::Error::last_os_error())
                } else {
                    Ok(n as usize)
                }
            });
            match result {
                Ok(Ok(n)) => {
                    buf.advance(n);
                    return Poll::Ready(Ok(()));
                }
                Ok(Err(err)) => return Poll::Ready(Err(err)),
                // EAGAIN: readiness was stale; try_io cleared it, wait again.
                Err(_would_block) => continue,
            }
        }
    }
}
