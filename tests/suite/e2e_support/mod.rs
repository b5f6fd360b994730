//! The rig for end-to-end tests of the real `scanpay daemon` process.
//!
//! A `Rig` owns a temp dir holding everything the daemon touches: the merchant key, the
//! config, the journal (log store), the png display's frames, the register API's unix socket, and a
//! symlink standing in for `/dev/serial/by-id/…` that points at a pseudo-terminal's slave
//! side (the "scanner"; the test types into the master side). The gateway is the in-process
//! simulator on 127.0.0.1:0. The daemon's stderr goes to a log file per start, printed when
//! a test fails.
//!
//! Every wait is a bounded poll with a deadline (the register API's long-poll, or a status
//! read every 50 ms); nothing sleeps to synchronise. Dropping the rig SIGKILLs a daemon that
//! is still running, so a failing test never leaves a process behind.

use std::fs;
use std::io::Write as _;
use std::os::fd::{FromRawFd, IntoRawFd, OwnedFd};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::sync::Mutex;
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use scanpay::engine::{SaleState, SaleView};
use scanpay::protocol::Fen;
use scanpay::register::{ArmRequest, ListenAddr, RegisterClient, StatusView};
use scanpay::simulator::{LedgerSnapshot, Simulator, SimulatorConfig, SimulatorHandle};
use serialport::{SerialPort, TTYPort};
use tokio::io::{AsyncBufRead, Lines};
use tokio::process::{Child, Command};
use tokio::time::Instant;

pub mod proxy;

/// The scanpay binary under test.
pub const SCANPAY: &str = env!("CARGO_BIN_EXE_scanpay");

/// The binary the rig runs: cargo's build of this package, or `SCANPAY_BIN` (how the
/// bench measures the shipped `ship` build: `SCANPAY_BIN=target/ship/scanpay cargo bench`).
pub fn scanpay_bin() -> PathBuf {
    std::env::var_os("SCANPAY_BIN").map_or_else(|| PathBuf::from(SCANPAY), PathBuf::from)
}

/// How long any one step may take before the test fails (startup, a state change, an exit).
pub const STEP: Duration = Duration::from_secs(15);

/// Between two reads of something that has no long-poll (status, a file).
const POLL_EVERY: Duration = Duration::from_millis(50);

/// A WeChat payment code (18 digits, prefix 13) that runs the simulator's `script` with
/// `param`; `unique` keeps codes apart (every code is single use).
pub fn code(unique: u32, script: u8, param: u8) -> String {
    assert!(unique < 1_000_000 && script < 100 && param < 100);
    format!("134523{unique:06}00{script:02}{param:02}")
}

/// What differs between the rigs of the tests.
#[derive(Debug, Clone)]
pub struct RigOptions {
    /// `[offline] pay_max_age_s`.
    pub pay_max_age_s: u64,
    /// `[payment] deadline_s`.
    pub deadline_s: u64,
    /// Configure an ST7789 panel on an SPI device that does not exist, instead of png.
    pub missing_panel: bool,
    /// `[gateway] request_timeout_ms`.
    pub request_timeout_ms: u64,
    /// `[storage] path` when the journal must live elsewhere than the rig's temp dir (the
    /// power-cut suite puts it on its simulated disk); None: `journal` in the temp dir.
    pub storage_path: Option<PathBuf>,
    /// `[payment] not_found_final_s` (None: the default, 300 s).
    pub not_found_final_s: Option<u64>,
    /// `[payment.reconcile] slow_every_s` (None: the default, 300 s).
    pub slow_every_s: Option<u64>,
    /// `[payment.reconcile] fast_every_s` (None: 1 s, the rig's own).
    pub fast_every_s: Option<u64>,
}

impl Default for RigOptions {
    fn default() -> Self {
        RigOptions {
            pay_max_age_s: 20,
            deadline_s: 8,
            missing_panel: false,
            request_timeout_ms: 3000,
            storage_path: None,
            not_found_final_s: None,
            slow_every_s: None,
            fast_every_s: None,
        }
    }
}

/// A scanner plugged in: the pty master the test types into, and the slave held open so the
/// pty lives until the test unplugs it (as in tests/suite/scanner_serial.rs).
struct PluggedScanner {
    master: fs::File,
    _slave: OwnedFd,
}

/// Held while a pty's descriptors are not yet close-on-exec and while a child is spawned:
/// `TTYPort::pair` opens them inheritable, and a daemon that inherited another test's pty
/// master would keep that "scanner" plugged in after the test closed it.
pub static SPAWN_LOCK: Mutex<()> = Mutex::new(());

/// A close-on-exec duplicate of `fd` (std's `try_clone` uses `F_DUPFD_CLOEXEC`); the
/// inheritable original is closed.
fn cloexec(fd: impl IntoRawFd) -> OwnedFd {
    // SAFETY: `into_raw_fd` hands over sole ownership of an open descriptor.
    let inheritable = unsafe { OwnedFd::from_raw_fd(fd.into_raw_fd()) };
    inheritable.try_clone().expect("duplicate a pty descriptor")
}

impl PluggedScanner {
    /// Creates a pty and points `link` at its slave, replacing any previous link atomically
    /// (as udev re-points `/dev/serial/by-id/…` when a scanner comes back).
    fn plug(link: &Path) -> PluggedScanner {
        let (master, slave, slave_path) = {
            let _spawning = SPAWN_LOCK.lock().unwrap_or_else(|e| e.into_inner());
            let (master, slave) = TTYPort::pair().expect("create a pseudo-terminal");
            let slave_path = slave.name().expect("the slave pty has a path");
            (fs::File::from(cloexec(master)), cloexec(slave), slave_path)
        };
        let staging = link.with_extension("new");
        let _ = fs::remove_file(&staging);
        std::os::unix::fs::symlink(&slave_path, &staging).expect("make the scanner symlink");
        fs::rename(&staging, link).expect("point the scanner symlink at the new pty");
        PluggedScanner {
            master,
            _slave: slave,
        }
    }
}

/// Everything one end-to-end test runs against.
pub struct Rig {
    pub dir: tempfile::TempDir,
    pub sim: SimulatorHandle,
    pub config_path: PathBuf,
    socket: PathBuf,
    link: PathBuf,
    scanner: Option<PluggedScanner>,
    /// The running daemon process, if any.
    daemon: Option<Child>,
    /// Every log file written so far, in start order.
    logs: Vec<PathBuf>,
    client: RegisterClient,
}

impl Rig {
    /// Starts the simulator, writes the config, plugs the scanner in and starts the daemon;
    /// returns once the register API answers and the scanner is open.
    pub async fn start(options: RigOptions) -> Rig {
        let sim = Rig::start_simulator().await;
        let base_url = sim.base_url();
        Rig::start_on(sim, &base_url, options).await
    }

    /// The gateway simulator on 127.0.0.1:0, for a rig that puts something in front of it.
    pub async fn start_simulator() -> SimulatorHandle {
        Simulator::start("127.0.0.1:0".parse().unwrap(), SimulatorConfig::default())
            .await
            .expect("start the gateway simulator")
    }

    /// Like `start`, with the daemon configured to reach the gateway at `gateway_url` (e.g. a
    /// `proxy::Proxy` in front of `sim`).
    pub async fn start_on(sim: SimulatorHandle, gateway_url: &str, options: RigOptions) -> Rig {
        let dir = tempfile::Builder::new()
            .prefix("scanpay-e2e-")
            .tempdir()
            .expect("make a temp dir");
        let key = dir.path().join("merchant.key");
        fs::write(&key, scanpay::simulator::DEMO_KEY).unwrap();
        fs::set_permissions(&key, fs::Permissions::from_mode(0o600)).unwrap();
        let socket = dir.path().join("register.sock");
        let link = dir.path().join("usb-Scanner_Serial-if00");
        let config_path = dir.path().join("config.toml");
        fs::write(
            &config_path,
            config_text(gateway_url, &link, &socket, &options),
        )
        .unwrap();
        let client = RegisterClient::new(&ListenAddr::Unix(socket.clone()), None)
            .expect("a register client");
        let scanner = Some(PluggedScanner::plug(&link));
        let mut rig = Rig {
            dir,
            sim,
            config_path,
            socket,
            link,
            scanner,
            daemon: None,
            logs: Vec::new(),
            client,
        };
        rig.start_daemon().await;
        rig
    }

    /// `[storage] path`: the journal, its moved-aside copies, the withdrawal record.
    #[allow(dead_code)] // e2e_journal_damage.rs only
    pub fn state_dir(&self) -> PathBuf {
        self.dir.path().join("journal")
    }

    /// The register API client, for tests that handle its errors themselves.
    #[allow(dead_code)] // the fault suites only
    pub fn client(&self) -> &RegisterClient {
        &self.client
    }

    /// The folder the png display writes to.
    pub fn screens(&self) -> PathBuf {
        self.dir.path().join("screens")
    }

    /// Starts the daemon process on the rig's config, its stderr to a new log file.
    fn spawn_daemon(&mut self) {
        assert!(self.daemon.is_none(), "the daemon is already running");
        let log = self
            .dir
            .path()
            .join(format!("daemon-{}.log", self.logs.len() + 1));
        let child = spawn_scanpay(
            &[
                "daemon",
                "--config",
                &self.config_path.display().to_string(),
            ],
            Stdio::null(),
            Stdio::null(),
            Stdio::from(fs::File::create(&log).unwrap()),
        );
        self.logs.push(log);
        self.daemon = Some(child);
    }

    /// Starts (or restarts) the daemon on the same config and journal, and waits until it is
    /// ready: the register API answers and the scanner is open.
    pub async fn start_daemon(&mut self) {
        self.spawn_daemon();
        self.wait_status("the daemon to be ready with its scanner open", |s| {
            s.scanner.ok
        })
        .await;
    }

    /// Like `start_daemon`, but a daemon that exits or is not ready within `STEP` is an
    /// error carrying why, not a panic (the power-cut suite counts journals that do not
    /// open); the daemon's log says more.
    #[allow(dead_code)] // the power-cut suite only
    pub async fn try_start_daemon(&mut self) -> Result<StatusView, String> {
        self.spawn_daemon();
        let deadline = Instant::now() + STEP;
        loop {
            let last = self.status().await;
            if let Ok(status) = &last {
                if status.scanner.ok {
                    return Ok(status.clone());
                }
            }
            if let Some(daemon) = self.daemon.as_mut() {
                if let Some(exit) = daemon.try_wait().expect("poll the daemon") {
                    self.daemon = None;
                    return Err(format!("the daemon exited with {exit} at start"));
                }
            }
            if Instant::now() >= deadline {
                return Err(format!("not ready within {STEP:?}; last status: {last:?}"));
            }
            tokio::time::sleep(POLL_EVERY).await;
        }
    }

    /// The daemon's process id (for signals).
    pub fn daemon_pid(&self) -> u32 {
        self.daemon
            .as_ref()
            .and_then(|child| child.id())
            .expect("the daemon is running")
    }

    /// SIGKILL, as a power cut or the OOM killer would; waits until the process is gone.
    pub async fn kill_9(&mut self) -> ExitStatus {
        let mut daemon = self.daemon.take().expect("the daemon is running");
        daemon.start_kill().expect("send SIGKILL");
        wait_exit(&mut daemon, "the daemon to die of SIGKILL").await
    }

    /// SIGTERM, as `systemctl stop` sends; waits for the exit and returns its status.
    pub async fn terminate(&mut self) -> ExitStatus {
        signal(self.daemon_pid(), "TERM");
        let mut daemon = self.daemon.take().expect("the daemon is running");
        wait_exit(&mut daemon, "the daemon to stop after SIGTERM").await
    }

    /// Everything the daemon has logged, over all its starts.
    pub fn log(&self) -> String {
        self.logs
            .iter()
            .map(|path| fs::read_to_string(path).unwrap_or_default())
            .collect::<Vec<_>>()
            .join("\n--- restart ---\n")
    }

    /// Types a code into the scanner, ended by the configured suffix (CR).
    pub fn scan(&mut self, code: &str) {
        let scanner = self.scanner.as_mut().expect("a scanner is plugged in");
        scanner
            .master
            .write_all(format!("{code}\r").as_bytes())
            .expect("type into the pty");
        scanner.master.flush().unwrap();
    }

    /// Pulls the scanner's cable: the pty is closed and its device node disappears.
    pub fn unplug(&mut self) {
        self.scanner = None;
    }

    /// Plugs a scanner back in: a new pty, the symlink re-pointed at it.
    pub fn replug(&mut self) {
        assert!(self.scanner.is_none(), "unplug first");
        self.scanner = Some(PluggedScanner::plug(&self.link));
    }

    /// `POST /v1/sales`.
    pub async fn arm(&self, amount: Fen) -> SaleView {
        let sale = self
            .client
            .create_sale(&ArmRequest {
                amount_fen: amount,
                subject: Some("e2e coffee".to_string()),
                operator_id: None,
            })
            .await
            .unwrap_or_else(|e| panic!("arming a sale of {amount} failed: {e}"));
        assert_eq!(sale.state, SaleState::Armed, "{sale:?}");
        sale
    }

    /// `GET /v1/sales/{id}` right now.
    pub async fn sale(&self, sale_id: &str) -> SaleView {
        self.client
            .sale(sale_id, Duration::ZERO, None)
            .await
            .unwrap_or_else(|e| panic!("reading sale {sale_id} failed: {e}"))
    }

    /// Long-polls the sale until `done(state)`; returns the last view and every state seen
    /// on the way (starting with `sale`'s). Fails after `within`.
    pub async fn follow(
        &self,
        sale: &SaleView,
        within: Duration,
        done: impl Fn(SaleState) -> bool,
    ) -> (SaleView, Vec<SaleState>) {
        let deadline = Instant::now() + within;
        let mut seen = vec![sale.state];
        let mut last = sale.clone();
        while !done(last.state) {
            assert!(
                Instant::now() < deadline,
                "sale {} did not reach the expected state within {within:?}; states seen: {seen:?}; last: {last:?}",
                sale.sale_id
            );
            last = self
                .client
                .sale(&sale.sale_id, Duration::from_secs(1), Some(last.state))
                .await
                .unwrap_or_else(|e| panic!("following sale {} failed: {e}", sale.sale_id));
            if seen.last() != Some(&last.state) {
                seen.push(last.state);
            }
        }
        (last, seen)
    }

    /// Follows the sale until it is final (paid, failed, expired, disarmed) or unresolved.
    pub async fn finish(&self, sale: &SaleView) -> (SaleView, Vec<SaleState>) {
        self.follow(sale, STEP, |s| s.is_final() || s == SaleState::Unresolved)
            .await
    }

    /// `GET path` on the register API: the status code and the body, or why it failed.
    pub async fn get(&self, path: &str) -> Result<(u16, String), String> {
        unix_request(&self.socket, "GET", path, None).await
    }

    /// `POST path` with a JSON body on the register API: the status code and the body, for
    /// the routes the register client has no call for (`/v1/qr`).
    #[allow(dead_code)] // storage_faults.rs only
    pub async fn post(&self, path: &str, json: &str) -> Result<(u16, String), String> {
        unix_request(&self.socket, "POST", path, Some(json)).await
    }

    /// `GET /v1/status`, or why it could not be read.
    pub async fn status(&self) -> Result<StatusView, String> {
        let (status, body) = unix_request(&self.socket, "GET", "/v1/status", None).await?;
        if status != 200 {
            return Err(format!("GET /v1/status answered {status}: {body}"));
        }
        serde_json::from_str(&body).map_err(|e| format!("GET /v1/status: {e}: {body}"))
    }

    /// Reads the status every 50 ms until `ready` holds; fails after `STEP`, or at once if
    /// the daemon exits meanwhile.
    pub async fn wait_status(
        &mut self,
        what: &str,
        ready: impl Fn(&StatusView) -> bool,
    ) -> StatusView {
        let deadline = Instant::now() + STEP;
        loop {
            let last = self.status().await;
            match &last {
                Ok(status) if ready(status) => return status.clone(),
                _ => {}
            }
            if let Some(daemon) = self.daemon.as_mut() {
                if let Some(exit) = daemon.try_wait().expect("poll the daemon") {
                    panic!("waiting for {what}: the daemon exited with {exit}");
                }
            }
            assert!(
                Instant::now() < deadline,
                "waiting for {what}: not within {STEP:?}; last status: {last:?}"
            );
            tokio::time::sleep(POLL_EVERY).await;
        }
    }

    /// The simulator's books.
    pub fn ledger(&self) -> LedgerSnapshot {
        self.sim.ledger()
    }

    /// The png display's latest frame, once it exists.
    pub async fn latest_frame(&self) -> Vec<u8> {
        self.wait_frame(|_| true).await
    }

    /// Reads `latest.png` every 50 ms until `wanted(bytes)`; fails after `STEP`.
    pub async fn wait_frame(&self, wanted: impl Fn(&[u8]) -> bool) -> Vec<u8> {
        let path = self.screens().join("latest.png");
        let deadline = Instant::now() + STEP;
        loop {
            if let Ok(bytes) = fs::read(&path) {
                // A frame being replaced may be read half-written: only a whole PNG counts.
                if is_whole_png(&bytes) && wanted(&bytes) {
                    return bytes;
                }
            }
            assert!(
                Instant::now() < deadline,
                "{} did not show the expected frame within {STEP:?}",
                path.display()
            );
            tokio::time::sleep(POLL_EVERY).await;
        }
    }

    /// Asserts that no full payment code reached the daemon's log (house rule: codes are
    /// shown masked).
    pub fn assert_log_never_shows(&self, codes: &[&str]) {
        let log = self.log();
        for code in codes {
            assert!(
                !log.contains(code),
                "the daemon logged the full payment code {code}:\n{log}"
            );
        }
    }
}

impl Drop for Rig {
    fn drop(&mut self) {
        if let Some(mut daemon) = self.daemon.take() {
            // `kill_on_drop` would too; done here so the log below is complete.
            let _ = daemon.start_kill();
        }
        if std::thread::panicking() {
            eprintln!(
                "==== scanpay daemon log ({}) ====\n{}\n==== end of log ====",
                self.logs
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", "),
                self.log()
            );
        }
    }
}

/// The daemon's config: short timings so a test takes seconds, a private key file next to
/// it, everything else in the temp dir.
fn config_text(base_url: &str, link: &Path, socket: &Path, options: &RigOptions) -> String {
    format!(
        r#"[gateway]
base_url = "{base_url}"
app_id = "{app_id}"
key_file = "merchant.key"
notify_url = "http://127.0.0.1:9/scanpay-e2e-notify"
operator_id = "e2e"
connect_timeout_ms = 1000
request_timeout_ms = {request_timeout_ms}

[payment]
first_query_ms = 200
query_interval_ms = 200
max_query_interval_ms = 1000
deadline_s = {deadline_s}
order_prefix = "E2E"
default_subject = "scanpay e2e"
{not_found_final}
[payment.reconcile]
fast_every_s = {fast_every_s}
fast_for_s = 120
{slow_every}

[offline]
pay_max_age_s = {pay_max_age_s}

[scanner]
kind = "serial"
path = "{link}"
baud = 9600
suffix = "cr"

[display]
{display}
language = "en"

[register]
listen = "unix:{socket}"

[storage]
path = "{storage_path}"
"#,
        app_id = scanpay::simulator::DEMO_APP_ID,
        deadline_s = options.deadline_s,
        fast_every_s = options.fast_every_s.unwrap_or(1),
        pay_max_age_s = options.pay_max_age_s,
        request_timeout_ms = options.request_timeout_ms,
        not_found_final = options
            .not_found_final_s
            .map_or(String::new(), |s| format!("not_found_final_s = {s}\n")),
        slow_every = options
            .slow_every_s
            .map_or(String::new(), |s| format!("slow_every_s = {s}\n")),
        storage_path = options
            .storage_path
            .as_deref()
            .map_or("journal".to_string(), |p| p.display().to_string()),
        link = link.display(),
        socket = socket.display(),
        display = if options.missing_panel {
            "kind = \"st7789\"\nspi = \"no-such-spidev\""
        } else {
            "kind = \"png\"\noutput_dir = \"screens\""
        },
    )
}

/// Starts `scanpay ARGS` with a clean environment for logging and systemd, killed when
/// its handle is dropped.
pub fn spawn_scanpay(args: &[&str], stdin: Stdio, stdout: Stdio, stderr: Stdio) -> Child {
    let _spawning = SPAWN_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let bin = scanpay_bin();
    Command::new(&bin)
        .args(args)
        .env("RUST_LOG", "info")
        .env_remove("NOTIFY_SOCKET")
        .env_remove("WATCHDOG_USEC")
        .env_remove("WATCHDOG_PID")
        .env_remove("JOURNAL_STREAM")
        .stdin(stdin)
        .stdout(stdout)
        .stderr(stderr)
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| panic!("start {} {args:?}: {e}", bin.display()))
}

/// Runs `scanpay --config CONFIG ARGS` to the end: its exit code, stdout and stderr.
pub fn run_scanpay(config: &Path, args: &[&str]) -> (i32, String, String) {
    let bin = scanpay_bin();
    let out = std::process::Command::new(&bin)
        .arg("--config")
        .arg(config)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("run {} {args:?}: {e}", bin.display()));
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

/// Waits at most `STEP` for `child` to exit.
pub async fn wait_exit(child: &mut Child, what: &str) -> ExitStatus {
    match tokio::time::timeout(STEP, child.wait()).await {
        Ok(status) => status.expect("wait for the child"),
        Err(_) => {
            let _ = child.start_kill();
            panic!("waiting for {what}: still running after {STEP:?}");
        }
    }
}

/// Sends `SIG<name>` to `pid` with kill(1): no libc binding needed for two signals.
pub fn signal(pid: u32, name: &str) {
    let status = std::process::Command::new("kill")
        .arg(format!("-{name}"))
        .arg(pid.to_string())
        .status()
        .expect("run kill(1)");
    assert!(status.success(), "kill -{name} {pid} failed: {status}");
}

/// A PNG that is all there: signature at the start, IEND chunk at the end.
fn is_whole_png(bytes: &[u8]) -> bool {
    bytes.starts_with(b"\x89PNG\r\n\x1a\n") && bytes.ends_with(b"IEND\xae\x42\x60\x82")
}

/// `method path` (with a JSON body, if any) over the register API's unix socket; the register
/// client has no status call.
async fn unix_request(
    socket: &Path,
    method: &str,
    path: &str,
    json: Option<&str>,
) -> Result<(u16, String), String> {
    let exchange = async {
        let stream = tokio::net::UnixStream::connect(socket)
            .await
            .map_err(|e| format!("connect to {}: {e}", socket.display()))?;
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| format!("HTTP handshake: {e}"))?;
        tokio::spawn(connection);
        let mut request = hyper::Request::builder()
            .method(method)
            .uri(path)
            .header(hyper::header::HOST, "localhost");
        if json.is_some() {
            request = request.header(hyper::header::CONTENT_TYPE, "application/json");
        }
        let body = Full::new(Bytes::from(json.unwrap_or("").to_string()));
        let request = request.body(body).expect("a request");
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| format!("{method} {path}: {e}"))?;
        let status = response.status().as_u16();
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|e| format!("{method} {path}: reading the body: {e}"))?
            .to_bytes();
        Ok((status, String::from_utf8_lossy(&body).into_owned()))
    };
    tokio::time::timeout(Duration::from_secs(5), exchange)
        .await
        .map_err(|_| format!("{method} {path}: no answer within 5 s"))?
}

/// Reads lines until one contains `needle`; every line read is appended to `seen`. Fails
/// after `STEP` or at the end of the stream.
pub async fn read_until<R: AsyncBufRead + Unpin>(
    lines: &mut Lines<R>,
    needle: &str,
    seen: &mut String,
) -> String {
    let deadline = Instant::now() + STEP;
    loop {
        let line = tokio::time::timeout_at(deadline, lines.next_line())
            .await
            .unwrap_or_else(|_| panic!("no line with {needle:?} within {STEP:?}; read:\n{seen}"))
            .expect("read a child's output")
            .unwrap_or_else(|| panic!("output ended before a line with {needle:?}; read:\n{seen}"));
        seen.push_str(&line);
        seen.push('\n');
        if line.contains(needle) {
            return line;
        }
    }
}
