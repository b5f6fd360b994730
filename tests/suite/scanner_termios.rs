//! The serial adapter's plain-termios path (used where serialport's TCGETS2/TCSETS2 ioctls are
//! refused: qemu-user before 10.1, seccomp sandboxes), taken on purpose against a pty so it is
//! tested on every machine, termios2 or not.
//!
//! The pty's slave starts cooked (canonical, echo, 7E1, 38400 baud), so each setting checked
//! afterwards with tcgetattr was really applied by the opener. Every wait is on the event
//! channel with a timeout; nothing sleeps to synchronise.

use std::io::Write;
use std::os::fd::AsRawFd;
use std::path::Path;
use std::time::Duration;

use scanpay::scanner::framing::FramingRules;
use scanpay::scanner::serial::SerialOpener;
use scanpay::scanner::source::{run_source, DeviceOpener};
use scanpay::scanner::termios::TermiosPort;
use scanpay::scanner::{DeviceError, ScannerConfig, ScannerEvent};
use serialport::{SerialPort, TTYPort};
use tokio::sync::mpsc;

/// A pty whose slave is reachable through `link` (as `/dev/serial/by-id/…` is) and left in
/// cooked mode, unlike what a scanner needs.
struct Pty {
    master: TTYPort,
    slave: TTYPort,
}

fn termios_of(fd: &impl AsRawFd) -> libc::termios {
    // SAFETY: tcgetattr fully writes the struct on success, which is checked.
    unsafe {
        let mut termios: libc::termios = std::mem::zeroed();
        assert_eq!(
            libc::tcgetattr(fd.as_raw_fd(), &mut termios),
            0,
            "tcgetattr"
        );
        termios
    }
}

impl Pty {
    fn plug(link: &Path) -> Pty {
        let (master, slave) = TTYPort::pair().expect("create a pseudo-terminal");
        let mut cooked = termios_of(&slave);
        cooked.c_lflag |= libc::ICANON | libc::ECHO | libc::ISIG;
        cooked.c_iflag |= libc::ICRNL | libc::IXON;
        cooked.c_oflag |= libc::OPOST;
        cooked.c_cflag &= !libc::CSIZE;
        cooked.c_cflag |= libc::CS7 | libc::PARENB | libc::CSTOPB;
        // SAFETY: plain termios calls on the slave's open descriptor.
        unsafe {
            assert_eq!(libc::cfsetispeed(&mut cooked, libc::B38400), 0);
            assert_eq!(libc::cfsetospeed(&mut cooked, libc::B38400), 0);
            assert_eq!(
                libc::tcsetattr(slave.as_raw_fd(), libc::TCSANOW, &cooked),
                0,
                "make the slave cooked"
            );
        }
        std::os::unix::fs::symlink(slave.name().expect("the slave has a path"), link).unwrap();
        Pty { master, slave }
    }
}

async fn next(events: &mut mpsc::Receiver<ScannerEvent>) -> ScannerEvent {
    tokio::time::timeout(Duration::from_secs(10), events.recv())
        .await
        .expect("a scanner event within 10 s")
        .expect("the scanner task is running")
}

#[tokio::test]
async fn plain_termios_sets_raw_8n1_and_the_baud_rate_and_holds_the_port_exclusively() {
    let dir = tempfile::tempdir().unwrap();
    let link = dir.path().join("usb-Scanner_Serial-if00");
    let pty = Pty::plug(&link);

    let port = TermiosPort::open(&link, 19200).expect("open the pty with plain termios");
    let t = termios_of(&pty.slave);
    // SAFETY: reading the speeds of an initialised termios struct.
    let (ispeed, ospeed) = unsafe { (libc::cfgetispeed(&t), libc::cfgetospeed(&t)) };
    assert_eq!((ispeed, ospeed), (libc::B19200, libc::B19200), "baud rate");
    assert_eq!(t.c_cflag & libc::CSIZE, libc::CS8, "8 data bits");
    assert_eq!(
        t.c_cflag & (libc::PARENB | libc::CSTOPB),
        0,
        "no parity, 1 stop bit"
    );
    assert_eq!(t.c_cflag & libc::CRTSCTS, 0, "no hardware flow control");
    assert_eq!(
        t.c_cflag & (libc::CLOCAL | libc::CREAD),
        libc::CLOCAL | libc::CREAD,
        "modem lines ignored, receiver on"
    );
    assert_eq!(
        t.c_lflag & (libc::ICANON | libc::ECHO | libc::ISIG),
        0,
        "raw input"
    );
    assert_eq!(
        t.c_iflag & (libc::ICRNL | libc::IXON | libc::IXOFF),
        0,
        "no translation, no XON/XOFF"
    );
    assert_eq!(t.c_oflag & libc::OPOST, 0, "no output processing");

    // A second opener (even root, whom TIOCEXCL does not stop) is refused by the flock.
    let second = TermiosPort::open(&link, 19200).expect_err("a second open must be refused");
    assert!(second.to_string().starts_with("flock:"), "{second}");
    let mut opener = SerialOpener::plain_termios(&link, 9600);
    match opener.open() {
        Err(DeviceError::Open { device, reason }) => {
            assert!(device.contains("usb-Scanner_Serial-if00"), "{device}");
            assert!(reason.contains("flock"), "{reason}");
        }
        Err(other) => panic!("expected an open error, got {other}"),
        Ok(_) => panic!("a second opener got the port"),
    }

    // Closing the first frees it.
    drop(port);
    TermiosPort::open(&link, 9600).expect("the port is free again once closed");
    drop(pty.master);
}

#[test]
fn only_standard_rates_have_a_speed_constant() {
    use scanpay::scanner::termios::speed_constant;
    assert_eq!(speed_constant(9600), Some(libc::B9600));
    assert_eq!(speed_constant(921600), Some(libc::B921600));
    assert_eq!(speed_constant(9601), None);
    let err = TermiosPort::open(Path::new("/dev/null"), 9601).expect_err("no constant for 9601");
    assert!(err.to_string().contains("9601 baud"), "{err}");
}

#[tokio::test]
async fn scans_arrive_through_plain_termios_and_unplugging_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let link = dir.path().join("usb-Scanner_Serial-if00");
    let mut pty = Pty::plug(&link);
    let scanner = ScannerConfig::stdin();
    let (tx, mut rx) = mpsc::channel(16);
    let task = tokio::spawn(run_source(
        SerialOpener::plain_termios(&link, 9600),
        FramingRules::default(),
        scanner.reconnect,
        tx,
    ));
    match next(&mut rx).await {
        ScannerEvent::Connected { source } => assert!(source.starts_with("serial "), "{source}"),
        other => panic!("expected Connected, got {other:?}"),
    }
    for piece in [&b"13452319"[..], b"8765432101\r"] {
        pty.master.write_all(piece).unwrap();
        pty.master.flush().unwrap();
    }
    match next(&mut rx).await {
        ScannerEvent::Scanned(text) => assert_eq!(text.into_string(), "134523198765432101"),
        other => panic!("expected a scanned code, got {other:?}"),
    }

    // Unplug: the hung-up slave's read fails, which the reader reports as gone.
    drop(pty);
    match next(&mut rx).await {
        ScannerEvent::Disconnected {
            reason: DeviceError::Gone { device, .. },
            ..
        } => assert!(device.contains("usb-Scanner_Serial-if00"), "{device}"),
        other => panic!("expected Disconnected, got {other:?}"),
    }
    task.abort();
}
