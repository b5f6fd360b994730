//! systemd integration: readiness, status text, watchdog pings and shutdown notices over the
//! `sd_notify` protocol, and whether the system clock has been synchronised yet.
//!
//! The daemon talks to a `Notifier`; `SystemdNotifier` is the real one (a datagram to
//! `$NOTIFY_SOCKET`, messages formatted by the `sd-notify` crate), `FakeNotifier` records what
//! was sent for tests. Outside systemd (`NOTIFY_SOCKET` unset) the real one does nothing.
//!
//! The socket address is read once, when the notifier is made, instead of on every send as
//! `sd_notify::notify` does: that lets tests point it at their own socket without touching
//! the process environment, and accepts abstract addresses (`@name`) that the crate's own
//! sender does not.
//!
//! A Raspberry Pi has no real-time clock: until NTP has set the time, TLS certificate checks
//! and journal timestamps are wrong. `clock_sync()` tells the daemon whether to warn.

use std::io;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use sd_notify::NotifyState;

/// One message to the service manager.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notification {
    /// Startup (including journal recovery) is finished: `READY=1`.
    Ready,
    /// One line for `systemctl status`: `STATUS=...`.
    Status(String),
    /// The main loop is alive: `WATCHDOG=1`.
    Watchdog,
    /// Shutdown has begun: `STOPPING=1`.
    Stopping,
}

impl Notification {
    /// The datagram's text. A status is kept to one line, since a newline would start
    /// another assignment.
    pub fn to_message(&self) -> String {
        let status;
        let state = match self {
            Notification::Ready => NotifyState::Ready,
            Notification::Status(text) => {
                status = text.replace(['\n', '\r'], " ");
                NotifyState::Status(&status)
            }
            Notification::Watchdog => NotifyState::Watchdog,
            Notification::Stopping => NotifyState::Stopping,
        };
        format!("{state}\n")
    }
}

/// Telling systemd (sd_notify) failed. The daemon logs it and carries on: a missed notice must
/// never stop a payment.
#[derive(Debug, thiserror::Error)]
pub enum SystemdNotifyError {
    #[error("cannot connect to the systemd notify socket {socket}: {source}; is NOTIFY_SOCKET right (NotifyAccess=main in the unit)?")]
    Connect { socket: String, source: io::Error },
    #[error("cannot send {message:?} to the systemd notify socket: {source}")]
    Send { message: String, source: io::Error },
}

/// Where the daemon reports to its service manager.
pub trait Notifier: Send + Sync {
    fn notify(&self, notification: Notification) -> Result<(), SystemdNotifyError>;
}

/// The real notifier: one datagram per notification to the socket systemd named.
#[derive(Debug)]
pub struct SystemdNotifier {
    socket: Option<UnixDatagram>,
}

impl SystemdNotifier {
    /// From `$NOTIFY_SOCKET`; a notifier that does nothing when it is unset (not under
    /// systemd, or `Type=` is not `notify`).
    pub fn from_env() -> Result<SystemdNotifier, SystemdNotifyError> {
        match std::env::var("NOTIFY_SOCKET") {
            Ok(socket) if !socket.is_empty() => SystemdNotifier::connect(&socket),
            _ => Ok(SystemdNotifier::disabled()),
        }
    }

    /// A notifier that sends nothing.
    pub fn disabled() -> SystemdNotifier {
        SystemdNotifier { socket: None }
    }

    /// Connects to a socket path, or to an abstract socket written `@name`.
    pub fn connect(socket: &str) -> Result<SystemdNotifier, SystemdNotifyError> {
        let connect_err = |source| SystemdNotifyError::Connect {
            socket: socket.to_string(),
            source,
        };
        let datagram = UnixDatagram::unbound().map_err(connect_err)?;
        match socket.strip_prefix('@') {
            Some(name) => {
                use std::os::linux::net::SocketAddrExt as _;
                let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes())
                    .map_err(connect_err)?;
                datagram.connect_addr(&addr).map_err(connect_err)?;
            }
            None => datagram.connect(socket).map_err(connect_err)?,
        }
        Ok(SystemdNotifier {
            socket: Some(datagram),
        })
    }

    /// Whether notifications go anywhere.
    pub fn is_enabled(&self) -> bool {
        self.socket.is_some()
    }
}

impl Notifier for SystemdNotifier {
    fn notify(&self, notification: Notification) -> Result<(), SystemdNotifyError> {
        let Some(socket) = &self.socket else {
            return Ok(());
        };
        let message = notification.to_message();
        let send_err = |source| SystemdNotifyError::Send {
            message: message.clone(),
            source,
        };
        let sent = socket.send(message.as_bytes()).map_err(send_err)?;
        if sent != message.len() {
            return Err(send_err(io::Error::new(
                io::ErrorKind::WriteZero,
                format!("sent {sent} of {} bytes", message.len()),
            )));
        }
        Ok(())
    }
}

/// Records every notification, for tests of the daemon.
#[derive(Debug, Default)]
pub struct FakeNotifier {
    sent: Mutex<Vec<Notification>>,
}

impl FakeNotifier {
    pub fn new() -> FakeNotifier {
        FakeNotifier::default()
    }

    /// Everything sent so far, oldest first.
    pub fn sent(&self) -> Vec<Notification> {
        self.sent.lock().expect("fake notifier lock").clone()
    }
}

impl Notifier for FakeNotifier {
    fn notify(&self, notification: Notification) -> Result<(), SystemdNotifyError> {
        self.sent
            .lock()
            .expect("fake notifier lock")
            .push(notification);
        Ok(())
    }
}

/// How often the main loop should ping the watchdog, from `$WATCHDOG_USEC` (set by
/// `WatchdogSec=`), or `None` when no watchdog is asked for.
pub fn watchdog_interval() -> Option<Duration> {
    watchdog_interval_from(
        std::env::var("WATCHDOG_USEC").ok().as_deref(),
        std::env::var("WATCHDOG_PID").ok().as_deref(),
        std::process::id(),
    )
}

/// Half the watchdog timeout, as sd_watchdog_enabled(3) advises, so that one late ping does
/// not get the service killed. A `WATCHDOG_PID` naming another process means the watchdog
/// is not ours (we were started by the service's main process).
pub fn watchdog_interval_from(
    usec: Option<&str>,
    pid: Option<&str>,
    own_pid: u32,
) -> Option<Duration> {
    let usec: u64 = usec?.trim().parse().ok().filter(|&usec| usec > 0)?;
    if let Some(pid) = pid {
        if pid.trim().parse::<u32>().ok()? != own_pid {
            return None;
        }
    }
    Some(Duration::from_micros(usec) / 2)
}

/// Whether the system clock can be trusted yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClockSync {
    /// systemd-timesyncd has synchronised the clock since boot.
    Synchronised,
    /// systemd-timesyncd runs but has not synchronised yet: the time may be from the last
    /// shutdown (fake-hwclock) or 1970. Show a warning; TLS may fail.
    NotYet,
    /// systemd-timesyncd is not in use (chrony, ntpd, or not systemd at all), so there is
    /// nothing to read; the unit's `After=time-sync.target` is what orders the start.
    Unknown,
}

/// The directory systemd-timesyncd keeps its state in under /run.
pub const TIMESYNC_RUN_DIR: &str = "/run/systemd/timesync";

/// Reads systemd-timesyncd's marker: it creates `/run/systemd/timesync/synchronized` once the
/// kernel clock has been set from NTP (systemd 239 and later). Reading a file needs no
/// privileges and works under `ProtectSystem=strict`, unlike asking the kernel with
/// adjtimex(2), which would need the `libc` crate.
pub fn clock_sync() -> ClockSync {
    clock_sync_at(Path::new(TIMESYNC_RUN_DIR))
}

/// `clock_sync` with the timesyncd directory given, for tests.
pub fn clock_sync_at(timesync_dir: &Path) -> ClockSync {
    if timesync_dir.join("synchronized").exists() {
        ClockSync::Synchronised
    } else if timesync_dir.is_dir() {
        ClockSync::NotYet
    } else {
        ClockSync::Unknown
    }
}

/// The marker file's path, for messages.
pub fn clock_marker() -> PathBuf {
    Path::new(TIMESYNC_RUN_DIR).join("synchronized")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn received(listener: &UnixDatagram) -> String {
        let mut buf = [0u8; 512];
        let n = listener.recv(&mut buf).unwrap();
        String::from_utf8(buf[..n].to_vec()).unwrap()
    }

    #[test]
    fn messages_follow_the_sd_notify_protocol() {
        assert_eq!(Notification::Ready.to_message(), "READY=1\n");
        assert_eq!(Notification::Watchdog.to_message(), "WATCHDOG=1\n");
        assert_eq!(Notification::Stopping.to_message(), "STOPPING=1\n");
        assert_eq!(
            Notification::Status("queue: 2\nREADY=1".into()).to_message(),
            "STATUS=queue: 2 READY=1\n"
        );
    }

    #[test]
    fn real_notifier_sends_one_datagram_per_notification() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify");
        let listener = UnixDatagram::bind(&path).unwrap();
        let notifier = SystemdNotifier::connect(path.to_str().unwrap()).unwrap();
        assert!(notifier.is_enabled());
        notifier.notify(Notification::Ready).unwrap();
        notifier
            .notify(Notification::Status("recovered 3 sales".into()))
            .unwrap();
        notifier.notify(Notification::Watchdog).unwrap();
        notifier.notify(Notification::Stopping).unwrap();
        assert_eq!(received(&listener), "READY=1\n");
        assert_eq!(received(&listener), "STATUS=recovered 3 sales\n");
        assert_eq!(received(&listener), "WATCHDOG=1\n");
        assert_eq!(received(&listener), "STOPPING=1\n");
    }

    #[test]
    fn real_notifier_reaches_an_abstract_socket() {
        use std::os::linux::net::SocketAddrExt as _;
        let name = format!("scanpay-test-{}", std::process::id());
        let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
        let listener = UnixDatagram::bind_addr(&addr).unwrap();
        let notifier = SystemdNotifier::connect(&format!("@{name}")).unwrap();
        notifier.notify(Notification::Ready).unwrap();
        assert_eq!(received(&listener), "READY=1\n");
    }

    #[test]
    fn real_notifier_reports_a_missing_socket_and_does_nothing_when_disabled() {
        let err = SystemdNotifier::connect("/nonexistent/notify").unwrap_err();
        assert!(err.to_string().contains("/nonexistent/notify"), "{err}");
        let disabled = SystemdNotifier::disabled();
        assert!(!disabled.is_enabled());
        disabled.notify(Notification::Ready).unwrap();
    }

    #[test]
    fn fake_notifier_records_in_order() {
        let fake = FakeNotifier::new();
        let notifier: &dyn Notifier = &fake;
        notifier.notify(Notification::Ready).unwrap();
        notifier.notify(Notification::Watchdog).unwrap();
        assert_eq!(
            fake.sent(),
            vec![Notification::Ready, Notification::Watchdog]
        );
    }

    #[test]
    fn watchdog_interval_is_half_the_timeout_and_only_for_us() {
        assert_eq!(
            watchdog_interval_from(Some("30000000"), None, 7),
            Some(Duration::from_secs(15))
        );
        assert_eq!(
            watchdog_interval_from(Some("30000000"), Some("7"), 7),
            Some(Duration::from_secs(15))
        );
        assert_eq!(watchdog_interval_from(Some("30000000"), Some("8"), 7), None);
        assert_eq!(watchdog_interval_from(None, None, 7), None);
        assert_eq!(watchdog_interval_from(Some("0"), None, 7), None);
        assert_eq!(watchdog_interval_from(Some("soon"), None, 7), None);
    }

    #[test]
    fn clock_sync_reads_the_timesyncd_marker() {
        let dir = tempfile::tempdir().unwrap();
        let timesync = dir.path().join("timesync");
        assert_eq!(clock_sync_at(&timesync), ClockSync::Unknown);
        std::fs::create_dir(&timesync).unwrap();
        assert_eq!(clock_sync_at(&timesync), ClockSync::NotYet);
        std::fs::write(timesync.join("synchronized"), "").unwrap();
        assert_eq!(clock_sync_at(&timesync), ClockSync::Synchronised);
    }
}
