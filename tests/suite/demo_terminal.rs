//! `scanpay demo` as a person sees it: the real binary on a pseudo-terminal of a given size
//! (TIOCSWINSZ), a payment code typed on it, and everything it printed played through a
//! small terminal model that fails on any character past the last column (a wrap), any line
//! feed on the last row (a scroll) and any escape it does not know. Then `--text` and a
//! pipe: one line per screen, the scan's outcome among them.

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const SCANPAY: &str = env!("CARGO_BIN_EXE_scanpay");
/// How long the demo may take to show a screen.
const STEP: Duration = Duration::from_secs(20);
/// A WeChat code the simulator pays at once (`…000100`); digits before vary per test.
fn code(unique: u32) -> String {
    format!("134523{unique:06}000100")
}

// One lock for every test that opens a pty or spawns with one open: they share a process.
use crate::e2e_support::SPAWN_LOCK;

/// The demo running on a pty of `cols`×`rows`; the master side is read on a thread.
struct PtyDemo {
    child: Child,
    master: File,
    output: Arc<Mutex<Vec<u8>>>,
}

impl PtyDemo {
    fn start(cols: u16, rows: u16) -> PtyDemo {
        let _spawning = SPAWN_LOCK.lock().unwrap_or_else(|e| e.into_inner());
        let (mut master, mut slave) = (-1, -1);
        // SAFETY: openpty writes two descriptors; the null pointers ask for default
        // terminal settings (cooked, echo on: a person's terminal) and no size yet.
        let made = unsafe {
            libc::openpty(
                &mut master,
                &mut slave,
                std::ptr::null_mut(),
                std::ptr::null(),
                std::ptr::null(),
            )
        };
        assert_eq!(made, 0, "openpty: {}", std::io::Error::last_os_error());
        // SAFETY: both descriptors were just opened and are owned by nothing else.
        let (master, slave) =
            unsafe { (OwnedFd::from_raw_fd(master), OwnedFd::from_raw_fd(slave)) };
        let (master, slave) = (
            master.try_clone().expect("close-on-exec master"),
            slave.try_clone().expect("close-on-exec slave"),
        );
        let size = libc::winsize {
            ws_row: rows,
            ws_col: cols,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        // SAFETY: TIOCSWINSZ reads one `winsize` through a pointer valid for the call.
        let set = unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCSWINSZ, &size) };
        assert_eq!(set, 0, "TIOCSWINSZ: {}", std::io::Error::last_os_error());
        let child = Command::new(SCANPAY)
            .args(["demo", "--language", "en"])
            .env_remove("RUST_LOG")
            .env_remove("NOTIFY_SOCKET")
            .stdin(Stdio::from(slave.try_clone().unwrap()))
            .stdout(Stdio::from(slave.try_clone().unwrap()))
            .stderr(Stdio::from(slave))
            .spawn()
            .expect("start scanpay demo");
        let master = File::from(master);
        let output = Arc::new(Mutex::new(Vec::new()));
        let (mut reader, sink) = (master.try_clone().unwrap(), output.clone());
        std::thread::spawn(move || {
            let mut buf = [0u8; 8192];
            // Ends with EIO once the demo has exited and closed the slave side.
            while let Ok(n @ 1..) = reader.read(&mut buf) {
                sink.lock().unwrap().extend_from_slice(&buf[..n]);
            }
        });
        PtyDemo {
            child,
            master,
            output,
        }
    }

    fn printed(&self) -> String {
        String::from_utf8_lossy(&self.output.lock().unwrap()).into_owned()
    }

    /// Waits until the output holds `needle` after byte `from`; returns the output's length.
    fn wait_for(&self, needle: &str, from: usize) -> usize {
        let deadline = Instant::now() + STEP;
        loop {
            let printed = self.printed();
            if let Some(at) = printed.get(from..).and_then(|rest| rest.find(needle)) {
                return from + at + needle.len();
            }
            assert!(
                Instant::now() < deadline,
                "no {needle:?} within {STEP:?}; printed:\n{printed}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn type_line(&mut self, line: &str) {
        // A person presses Enter: the terminal sends CR, which the line discipline makes NL.
        self.master
            .write_all(format!("{line}\r").as_bytes())
            .expect("type on the pty");
    }

    fn stop(mut self) -> String {
        let pid = self.child.id().to_string();
        let killed = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        assert!(killed.success());
        let exit = self.child.wait().expect("wait for the demo");
        assert!(
            exit.success(),
            "the demo exited {exit}:\n{}",
            self.printed()
        );
        self.printed()
    }
}

impl Drop for PtyDemo {
    fn drop(&mut self) {
        let _ = self.child.kill();
    }
}

/// A terminal of fixed size that records every way the output would not fit it.
struct TermModel {
    cols: usize,
    rows: usize,
    row: usize,
    col: usize,
    /// The last column was written: the next character would wrap.
    pending_wrap: bool,
    grid: Vec<Vec<char>>,
    problems: Vec<String>,
}

impl TermModel {
    fn new(cols: usize, rows: usize) -> TermModel {
        TermModel {
            cols,
            rows,
            row: 1,
            col: 1,
            pending_wrap: false,
            grid: vec![vec![' '; cols]; rows],
            problems: Vec::new(),
        }
    }

    fn width(c: char) -> usize {
        match u32::from(c) {
            0x3000..=0x303F | 0x4E00..=0x9FFF | 0xFF00..=0xFF60 => 2,
            _ => 1,
        }
    }

    fn play(&mut self, text: &str) {
        let mut chars = text.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '\x1b' => {
                    if chars.next() != Some('[') {
                        self.problems.push("an escape other than CSI".into());
                        continue;
                    }
                    let mut params = String::new();
                    let mut end = None;
                    for p in chars.by_ref() {
                        if p.is_ascii_digit() || p == ';' {
                            params.push(p);
                        } else {
                            end = Some(p);
                            break;
                        }
                    }
                    self.csi(&params, end);
                }
                '\r' => {
                    self.col = 1;
                    self.pending_wrap = false;
                }
                '\n' => {
                    if self.row == self.rows {
                        self.problems
                            .push("a line feed on the last row scrolled".into());
                    } else {
                        self.row += 1;
                    }
                    self.pending_wrap = false;
                }
                c if c.is_control() => self.problems.push(format!("control character {c:?}")),
                c => self.put(c),
            }
        }
    }

    fn csi(&mut self, params: &str, end: Option<char>) {
        match end {
            Some('H') => {
                let mut numbers = params.split(';').map(|n| n.parse::<usize>().unwrap_or(1));
                let (row, col) = (numbers.next().unwrap_or(1), numbers.next().unwrap_or(1));
                if row > self.rows || col > self.cols {
                    self.problems
                        .push(format!("cursor moved off screen to {row};{col}"));
                }
                (self.row, self.col) = (row.min(self.rows), col.min(self.cols));
                self.pending_wrap = false;
            }
            Some('J') if params == "2" => {
                self.grid = vec![vec![' '; self.cols]; self.rows];
            }
            Some('m') => {}
            other => self
                .problems
                .push(format!("unknown escape CSI {params}{other:?}")),
        }
    }

    fn put(&mut self, c: char) {
        let w = Self::width(c);
        if self.pending_wrap || self.col + w - 1 > self.cols {
            let line: String = self.grid[self.row - 1].iter().collect();
            self.problems.push(format!(
                "{c:?} wrapped past column {} on row {}: {line:?}",
                self.cols, self.row
            ));
            return;
        }
        self.grid[self.row - 1][self.col - 1] = c;
        self.col += w;
        if self.col > self.cols {
            (self.col, self.pending_wrap) = (self.cols, true);
        }
    }

    fn screen(&self) -> String {
        self.grid
            .iter()
            .map(|r| r.iter().collect::<String>().trim_end().to_string())
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// Runs the demo on a `cols`×`rows` pty, pays a code, and checks every byte it printed fits.
/// Returns the terminal's last screen.
fn pay_on_a_pty(cols: u16, rows: u16, unique: u32) -> String {
    let mut demo = PtyDemo::start(cols, rows);
    let armed = demo.wait_for("scan> ", 0);
    assert!(
        demo.printed().contains("[Show pay code] ¥12.50"),
        "{}",
        demo.printed()
    );
    demo.type_line(&code(unique));
    let paid = demo.wait_for("[PAID] ¥12.50", armed);
    // The paid frame is whole once its prompt is drawn.
    demo.wait_for("scan> ", paid);
    let printed = demo.stop();
    let mut term = TermModel::new(cols.into(), rows.into());
    term.play(&printed);
    assert!(
        term.problems.is_empty(),
        "on {cols}x{rows}: {:#?}\nlast screen:\n{}",
        term.problems,
        term.screen()
    );
    // The terminal as it stood with the paid frame whole: up to the next frame's clear.
    let paid_frame_end = printed[paid..]
        .find("\x1b[0m\x1b[H\x1b[2J")
        .map_or(printed.len(), |at| paid + at);
    let mut at_paid = TermModel::new(cols.into(), rows.into());
    at_paid.play(&printed[..paid_frame_end]);
    at_paid.screen()
}

#[test]
fn on_80x24_the_screen_is_braille_with_the_instructions_below_and_nothing_wraps() {
    let screen = pay_on_a_pty(80, 24, 801);
    let lines: Vec<&str> = screen.lines().collect();
    // 128x64 pixels in 64x16 braille cells, then the caption and the instructions.
    assert!(
        lines[..16].iter().all(|l| l.chars().count() <= 64)
            && lines[..16]
                .iter()
                .any(|l| l.chars().any(|c| ('\u{2801}'..='\u{28ff}').contains(&c))),
        "{screen}"
    );
    assert!(
        lines[16].starts_with("[PAID] ¥12.50 — Payment received"),
        "{screen}"
    );
    // The prompt on row 23: the Enter after a code moves to row 24, and nothing scrolls.
    assert!(
        lines[22].starts_with("Register API: http://127.0.0.1:"),
        "{screen}"
    );
    assert!(lines[22].ends_with("scan>"), "{screen}");
}

#[test]
fn on_200x60_the_colour_screen_is_drawn_with_the_instructions_beside_and_nothing_wraps() {
    let screen = pay_on_a_pty(200, 60, 802);
    let lines: Vec<&str> = screen.lines().collect();
    assert!(
        lines.len() >= 60 - 1,
        "the 240x240 screen is 60 rows:\n{screen}"
    );
    // The words start two columns right of the 120 braille columns.
    let words: String = lines[0].chars().skip(122).collect();
    assert!(
        words.starts_with("[PAID] ¥12.50 — Payment received"),
        "{screen}"
    );
    let prompt: String = lines[6].chars().skip(122).collect();
    assert!(
        prompt.starts_with("Register API: http://127.0.0.1:"),
        "{screen}"
    );
}

/// `scanpay demo ARGS` with standard output a pipe; pays a code; returns what it printed.
fn pay_through_a_pipe(args: &[&str], unique: u32) -> String {
    let mut demo = {
        let _spawning = SPAWN_LOCK.lock().unwrap_or_else(|e| e.into_inner());
        Command::new(SCANPAY)
            .args(args)
            .env_remove("RUST_LOG")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start scanpay demo")
    };
    let mut stdin = demo.stdin.take().unwrap();
    let output = Arc::new(Mutex::new(String::new()));
    let (mut stdout, sink) = (demo.stdout.take().unwrap(), output.clone());
    let reader = std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n @ 1..) = stdout.read(&mut buf) {
            sink.lock()
                .unwrap()
                .push_str(&String::from_utf8_lossy(&buf[..n]));
        }
    });
    let wait_for = |needle: &str, times: usize| {
        let deadline = Instant::now() + STEP;
        while output.lock().unwrap().matches(needle).count() < times {
            assert!(
                Instant::now() < deadline,
                "no {needle:?}: {}",
                output.lock().unwrap()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    wait_for("[Show pay code] ¥12.50", 1);
    writeln!(stdin, "{}", code(unique)).unwrap();
    wait_for("[PAID] ¥12.50", 1);
    wait_for("[Show pay code] ¥12.50", 2);
    let killed = Command::new("kill")
        .args(["-TERM", &demo.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    assert!(demo.wait().unwrap().success());
    reader.join().unwrap();
    let printed = output.lock().unwrap().clone();
    printed
}

#[test]
fn text_prints_one_line_per_screen_with_the_outcome_of_the_scan() {
    let printed = pay_through_a_pipe(&["demo", "--text", "--language", "en"], 803);
    let screens: Vec<&str> = printed.lines().filter(|l| l.starts_with('[')).collect();
    assert_eq!(
        screens,
        [
            "[Show pay code] ¥12.50 — Open the Alipay or WeChat pay code (scanpay demo)",
            "[Paying] ¥12.50 — Please wait, do not scan again",
            screens[2],
            "[Show pay code] ¥12.50 — Open the Alipay or WeChat pay code (scanpay demo)",
        ],
        "{printed}"
    );
    assert!(
        screens[2].starts_with("[PAID] ¥12.50 — Payment received, thank you (WeChat Pay  Ref …"),
        "{printed}"
    );
    assert!(
        !printed.contains('\x1b'),
        "no escapes in text mode: {printed:?}"
    );
    assert!(
        printed.contains("Register API: http://127.0.0.1:"),
        "{printed}"
    );
}

#[test]
fn without_a_terminal_the_demo_prints_text_lines_too() {
    let printed = pay_through_a_pipe(&["demo", "--language", "en"], 804);
    assert!(
        printed.contains("Type or paste a payment code"),
        "{printed}"
    );
    assert!(printed.contains("\n[PAID] ¥12.50 — "), "{printed}");
    assert!(!printed.contains('\x1b'), "{printed:?}");
}
