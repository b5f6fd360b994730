//! `cargo bench`: scanpay's figures beside their budgets (issue 14, BENCHMARKS.md).
//!
//! Everything runs for real on this machine: the `scanpay daemon` process with a
//! pseudo-terminal scanner, the png display and its journal on the local disk, against the
//! gateway simulator on loopback behind a small proxy that notes when each request arrives.
//! Sizes come from the environment so a quick look and the full run are the same program:
//!
//! - `SCANPAY_BENCH_SALES` (default 1000): sales for the latency and memory figures;
//! - `SCANPAY_BENCH_JOURNAL` (default `10000,100000`): journal sizes for start-up and memory;
//! - `SCANPAY_BENCH_IDLE_S` (default 60): how long the idle daemon is watched;
//! - `SCANPAY_BENCH_ONLY` (default all): a comma-separated choice of `latency` (with idle
//!   RSS and journal growth), `idle` (idle RSS alone, when `latency` is not chosen),
//!   `syncs`, `startup` (start-up, memory and disk with the big journals, then idle CPU),
//!   `drain`, `display`, `size`.
//!
//! Each line is `figure  value  budget  verdict`; a figure without a budget says so.

#[path = "../tests/suite/e2e_support/mod.rs"]
#[allow(dead_code)]
mod e2e_support;
#[path = "../tests/suite/record_support/mod.rs"]
mod record_support;

use std::collections::HashMap;
use std::fs;
use std::io::Write as _;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use e2e_support::proxy::{Proxy, Route};
use e2e_support::{code, scanpay_bin, Rig, RigOptions};
use embedded_graphics::pixelcolor::Rgb565;
use embedded_graphics::prelude::*;
use record_support::sale_record;
use scanpay::display::palette::Role;
use scanpay::display::png_out::RgbImage;
use scanpay::display::render::render_frame;
use scanpay::display::{changed_regions, Framebuffer, Language, PanelColor, Screen, StatusFlags};
use scanpay::engine::{OrderEpoch, SaleRecord, SaleState, Timestamp};
use scanpay::journal::{Journal, LogJournal, SEQ_BLOCK};
use scanpay::protocol::{Fen, Payway};
use scanpay::simulator::{EditedState, OrderEdit};

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// One printed figure.
struct Figure {
    name: String,
    value: String,
    budget: String,
    verdict: &'static str,
}

#[derive(Default)]
struct Report {
    figures: Vec<Figure>,
}

impl Report {
    fn add(&mut self, name: &str, value: String, budget: &str, met: Option<bool>) {
        let verdict = match met {
            Some(true) => "met",
            Some(false) => "NOT MET",
            None => "-",
        };
        println!("{name:<46} {value:>22}   {budget:<28} {verdict}");
        self.figures.push(Figure {
            name: name.into(),
            value,
            budget: budget.into(),
            verdict,
        });
    }

    fn summary(&self) {
        let missed: Vec<_> = self
            .figures
            .iter()
            .filter(|f| f.verdict == "NOT MET")
            .map(|f| format!("{} ({} vs {})", f.name, f.value, f.budget))
            .collect();
        println!(
            "\n{} figures, {} with a budget not met{}",
            self.figures.len(),
            missed.len(),
            if missed.is_empty() {
                String::new()
            } else {
                format!(":\n  {}", missed.join("\n  "))
            }
        );
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// The `p`-th percentile (0..=100) of `samples`, nearest rank.
fn percentile(samples: &mut [Duration], p: f64) -> Duration {
    assert!(!samples.is_empty(), "no samples");
    samples.sort();
    let rank = ((p / 100.0) * samples.len() as f64).ceil() as usize;
    samples[rank.clamp(1, samples.len()) - 1]
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

/// `VmRSS` or `VmHWM` of a process, in KiB.
fn proc_status_kib(pid: u32, field: &str) -> u64 {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).expect("read /proc/PID/status");
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no {field} in /proc/{pid}/status"))
}

/// What an RSS figure is made of: the process's own (anonymous) memory, and the pages of
/// the binary and libraries mapped from the page cache (shared, reclaimable, and as large
/// as the kernel's page-cache folios make them, not as the code touched).
fn rss_parts(report: &mut Report, pid: u32) {
    report.add(
        "  of which anonymous / files (binary, libs)",
        format!(
            "{:.1} / {:.1} MiB",
            mib(proc_status_kib(pid, "RssAnon")),
            mib(proc_status_kib(pid, "RssFile"))
        ),
        "-",
        None,
    );
}

/// CPU time used so far by every thread of a process, from the scheduler's nanosecond
/// counters (finer than `/proc/PID/stat`'s clock ticks).
fn cpu_time(pid: u32) -> Duration {
    let mut total = 0u64;
    for task in fs::read_dir(format!("/proc/{pid}/task")).expect("list the daemon's threads") {
        let path = task.unwrap().path().join("schedstat");
        if let Ok(text) = fs::read_to_string(path) {
            total += text
                .split_whitespace()
                .next()
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0);
        }
    }
    Duration::from_nanos(total)
}

/// Bytes under `dir`, recursively.
fn disk_bytes(dir: &Path) -> u64 {
    let mut total = 0;
    if let Ok(entries) = fs::read_dir(dir) {
        for entry in entries.flatten() {
            let meta = entry.metadata().unwrap();
            total += if meta.is_dir() {
                disk_bytes(&entry.path())
            } else {
                std::os::unix::fs::MetadataExt::blocks(&meta) * 512
            };
        }
    }
    total
}

/// When each frame file appeared in the png folder, and whether it shows "paid" (the
/// banner's corner pixel in the Good colour, as `render`'s own test checks).
type FrameLog = Arc<Mutex<Vec<(Instant, bool)>>>;

/// Watches `dir` with inotify on a thread of its own; frames are renamed into place, so
/// `IN_MOVED_TO` marks the moment a frame is complete.
fn watch_frames(dir: &Path) -> FrameLog {
    let log: FrameLog = Arc::default();
    let fd = unsafe { libc::inotify_init1(libc::IN_CLOEXEC) };
    assert!(fd >= 0, "inotify_init1 failed");
    let c_dir = std::ffi::CString::new(dir.as_os_str().as_encoded_bytes()).unwrap();
    let wd = unsafe { libc::inotify_add_watch(fd, c_dir.as_ptr(), libc::IN_MOVED_TO) };
    assert!(wd >= 0, "inotify_add_watch {} failed", dir.display());
    let (dir, out) = (dir.to_path_buf(), log.clone());
    let paid_rgb = Rgb565::role(Role::Good).rgb();
    std::thread::spawn(move || {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
            if n <= 0 {
                return;
            }
            let at = Instant::now();
            let mut offset = 0usize;
            while offset + 16 <= n as usize {
                let len = u32::from_ne_bytes(buf[offset + 12..offset + 16].try_into().unwrap());
                let name = &buf[offset + 16..offset + 16 + len as usize];
                offset += 16 + len as usize;
                let name = String::from_utf8_lossy(name);
                let name = name.trim_end_matches('\0');
                if !(name.starts_with("frame-") && name.ends_with(".png")) {
                    continue;
                }
                let paid = fs::read(dir.join(name))
                    .ok()
                    .and_then(|bytes| RgbImage::decode_png(&bytes).ok())
                    .is_some_and(|image| image.get(2, 2) == paid_rgb);
                out.lock().unwrap().push((at, paid));
            }
        }
    });
    log
}

/// Scan-to-wire and scan-to-screen over `sales` immediate successes; the floor; memory.
/// Returns the rig and the proxy its daemon's gateway URL points to (alive while it is).
async fn latency(report: &mut Report, sales: u32) -> (Rig, Proxy) {
    let arrivals: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    // The same arrivals on the clock another process can read too (the floor's own client).
    let arrivals_ns: Arc<Mutex<HashMap<String, u64>>> = Arc::default();
    let sim = Rig::start_simulator().await;
    // Every query's arrival, by order (the USERPAYING reaction).
    let queried: Arc<Mutex<HashMap<String, Vec<Instant>>>> = Arc::default();
    let noted = arrivals.clone();
    let noted_ns = arrivals_ns.clone();
    let noted_queries = queried.clone();
    let proxy = Proxy::start(sim.base_url(), move |path, body, _| {
        if path.contains("query") {
            let order = serde_json::from_str::<serde_json::Value>(body)
                .ok()
                .and_then(|v| v["out_trade_no"].as_str().map(String::from));
            if let Some(order) = order {
                let mut queried = noted_queries.lock().unwrap();
                queried.entry(order).or_default().push(Instant::now());
            }
        }
        if path.contains("codepay") {
            let order = serde_json::from_str::<serde_json::Value>(body)
                .ok()
                .and_then(|v| v["out_trade_no"].as_str().map(String::from));
            if let Some(order) = order {
                noted_ns
                    .lock()
                    .unwrap()
                    .insert(order.clone(), monotonic_ns());
                noted.lock().unwrap().insert(order, Instant::now());
            }
        }
        Route::Forward
    })
    .await;
    let mut rig = Rig::start_on(sim, proxy.url(), RigOptions::default()).await;
    let pid = rig.daemon_pid();
    let idle_rss = proc_status_kib(pid, "VmRSS");
    let idle_anon = proc_status_kib(pid, "RssAnon");
    let idle_file = proc_status_kib(pid, "RssFile");
    let frames = watch_frames(&rig.screens());
    let journal_before = disk_bytes(&rig.state_dir());

    let mut to_wire = Vec::new();
    let mut to_screen = Vec::new();
    for n in 0..sales {
        let frames_before = frames.lock().unwrap().len();
        let sale = rig.arm(Fen(1 + u64::from(n % 500))).await;
        // A cashier scans once the screen asks for the code: wait for the armed frame (and
        // the watcher's look at it), or its drawing would be measured with the scan.
        let deadline = Instant::now() + Duration::from_secs(5);
        while frames.lock().unwrap().len() == frames_before {
            assert!(
                Instant::now() < deadline,
                "sale {n}: no armed frame within 5 s"
            );
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        let scanned = Instant::now();
        rig.scan(&code(n, 0, 0));
        let (done, _) = rig.finish(&sale).await;
        assert_eq!(done.state, SaleState::Paid, "sale {n}: {done:?}");
        if let Some(at) = arrivals.lock().unwrap().get(&done.out_trade_no) {
            to_wire.push(at.saturating_duration_since(scanned));
        }
        // The paid screen is drawn on the screen thread: wait for it (bounded).
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let shown = frames
                .lock()
                .unwrap()
                .iter()
                .find(|(at, paid)| *paid && *at > scanned)
                .map(|(at, _)| *at);
            if let Some(at) = shown {
                to_screen.push(at - scanned);
                break;
            }
            assert!(
                Instant::now() < deadline,
                "sale {n}: no paid frame within 5 s"
            );
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }
    let peak_rss = proc_status_kib(pid, "VmHWM");
    let journal_after = disk_bytes(&rig.state_dir());
    let reactions = userpaying_reactions(&mut rig, &frames, &queried, sales.min(30)).await;

    // The floor twice: from the proxy's own process (as before), and from a process of its
    // own (`floor_from_another_process`), the one the budget is judged against.
    let floor_file = rig.dir.path().join("floor.bin");
    let request = proxy
        .exchanges()
        .iter()
        .find(|e| e.path.contains("codepay"))
        .map(|e| e.request.clone())
        .expect("a pay request went through the proxy");
    let client = reqwest::Client::new();
    let url = format!("{}/api/codepay/", proxy.url());
    let mut floor = Vec::new();
    for i in 0..sales.min(1000) {
        let start = Instant::now();
        let mut file = fs::File::create(&floor_file).unwrap();
        file.write_all(request.as_bytes()).unwrap();
        file.sync_all().unwrap();
        let body = request.replace(
            "\"out_trade_no\":\"",
            &format!("\"out_trade_no\":\"FLOOR{i:06}"),
        );
        let marker = format!("FLOOR{i:06}");
        let _ = client
            .post(&url)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .expect("the floor's POST");
        let arrived = arrivals
            .lock()
            .unwrap()
            .iter()
            .find(|(k, _)| k.starts_with(&marker))
            .map(|(_, at)| *at)
            .expect("the proxy saw the floor's POST");
        floor.push(arrived - start);
    }

    let mut apart = floor_from_another_process(
        &url,
        &request,
        &rig.dir.path().join("floor2.bin"),
        sales.min(1000),
        &arrivals_ns,
    )
    .await;

    let p50 = percentile(&mut to_wire, 50.0);
    let p99 = percentile(&mut to_wire, 99.0);
    let in_process50 = percentile(&mut floor, 50.0);
    let floor50 = percentile(&mut apart, 50.0);
    let ratio = p50.as_secs_f64() / floor50.as_secs_f64();
    println!("-- scan to wire ({} sales)", to_wire.len());
    report.add(
        "floor: fsync + POST from another process, p50",
        format!("{:.2} ms", ms(floor50)),
        "-",
        None,
    );
    report.add(
        "(the same POST from the proxy's own process)",
        format!("{:.2} ms", ms(in_process50)),
        "-",
        None,
    );
    report.add(
        "scan-to-wire p50",
        format!("{:.2} ms", ms(p50)),
        "<= 1.5 x floor",
        Some(ratio <= 1.5),
    );
    report.add("scan-to-wire p99", format!("{:.2} ms", ms(p99)), "-", None);
    report.add(
        "scan-to-wire p50 / floor",
        format!("{ratio:.2}"),
        "<= 1.5",
        Some(ratio <= 1.5),
    );
    let s50 = percentile(&mut to_screen, 50.0);
    let s99 = percentile(&mut to_screen, 99.0);
    println!("-- scan to screen (png display, 240x240)");
    report.add(
        "scan-to-screen p50",
        format!("{:.2} ms", ms(s50)),
        "-",
        None,
    );
    report.add(
        "scan-to-screen p99",
        format!("{:.2} ms", ms(s99)),
        "<= 20 ms",
        Some(ms(s99) <= 20.0),
    );
    println!("-- USERPAYING reaction ({} sales)", reactions.len());
    let (mut total, mut to_query, mut answered): (Vec<_>, Vec<_>, Vec<_>) = (
        reactions.iter().map(|r| r.0).collect(),
        reactions.iter().map(|r| r.1).collect(),
        reactions.iter().map(|r| r.2).collect(),
    );
    report.add(
        "gateway flips to paid -> paid on screen, p50 / p99",
        format!(
            "{:.0} / {:.0} ms",
            ms(percentile(&mut total, 50.0)),
            ms(percentile(&mut total, 99.0))
        ),
        "-",
        None,
    );
    report.add(
        "  of which the wait for the next query, p50",
        format!("{:.0} ms", ms(percentile(&mut to_query, 50.0))),
        "-",
        None,
    );
    report.add(
        "  that query at the gateway -> paid on screen, p50/p99",
        format!(
            "{:.2} / {:.2} ms",
            ms(percentile(&mut answered, 50.0)),
            ms(percentile(&mut answered, 99.0))
        ),
        "-",
        None,
    );
    println!("-- memory");
    report.add(
        "idle RSS",
        format!("{:.1} MiB", mib(idle_rss)),
        "<= 10 MiB",
        Some(mib(idle_rss) <= 10.0),
    );
    report.add(
        "  of which anonymous / files (binary, libs)",
        format!("{:.1} / {:.1} MiB", mib(idle_anon), mib(idle_file)),
        "-",
        None,
    );
    report.add(
        &format!("peak RSS over {sales} sales"),
        format!("{:.1} MiB", mib(peak_rss)),
        "-",
        None,
    );
    println!("-- journal growth");
    let per_sale = journal_after.saturating_sub(journal_before) / u64::from(sales.max(1));
    report.add(
        "journal bytes on disk per sale",
        format!("{per_sale} B"),
        "-",
        None,
    );
    (rig, proxy)
}

/// The USERPAYING reaction over `count` sales: the customer takes a while to confirm (the
/// gateway answers USERPAYING, script 09), then the gateway flips the order to paid (the
/// simulator's books edited at an instant spread over the polling cycle). Per sale: flip ->
/// paid frame, flip -> the next query's arrival, and that arrival -> paid frame.
async fn userpaying_reactions(
    rig: &mut Rig,
    frames: &FrameLog,
    queried: &Mutex<HashMap<String, Vec<Instant>>>,
    count: u32,
) -> Vec<(Duration, Duration, Duration)> {
    let mut out = Vec::new();
    for n in 0..count {
        let sale = rig.arm(Fen(88)).await;
        rig.scan(&code(500_000 + n, 9, 0));
        let (waiting, seen) = rig
            .follow(&sale, Duration::from_secs(5), |s| {
                s == SaleState::WaitingCustomer || s.is_final()
            })
            .await;
        assert_eq!(
            waiting.state,
            SaleState::WaitingCustomer,
            "USERPAYING sale {n}: {seen:?}"
        );
        // Anywhere in the cycle of queries (200 ms apart, backing off to 1 s).
        tokio::time::sleep(Duration::from_millis(100 + u64::from(n) * 37 % 900)).await;
        let flipped = Instant::now();
        rig.sim
            .edit_order(
                &sale.out_trade_no,
                &OrderEdit {
                    state: Some(EditedState::Paid),
                    amount_fen: None,
                },
            )
            .expect("the simulator flips the order to paid");
        let (done, _) = rig.finish(&sale).await;
        assert_eq!(done.state, SaleState::Paid, "USERPAYING sale {n}: {done:?}");
        let deadline = Instant::now() + Duration::from_secs(5);
        let shown = loop {
            let shown = frames
                .lock()
                .unwrap()
                .iter()
                .find(|(at, paid)| *paid && *at > flipped)
                .map(|(at, _)| *at);
            if let Some(at) = shown {
                break at;
            }
            assert!(
                Instant::now() < deadline,
                "USERPAYING sale {n}: no paid frame"
            );
            tokio::time::sleep(Duration::from_millis(1)).await;
        };
        let query = queried
            .lock()
            .unwrap()
            .get(&sale.out_trade_no)
            .and_then(|at| at.iter().find(|at| **at > flipped).copied())
            .expect("a query after the flip");
        out.push((shown - flipped, query - flipped, shown - query));
    }
    out
}

/// Durable syncs per sale, counted by strace on the running daemon (if strace is here).
async fn syncs(report: &mut Report, rig: &mut Rig, sales: u32) {
    println!("-- durable syncs");
    if std::process::Command::new("strace")
        .arg("-V")
        .output()
        .is_err()
    {
        report.add(
            "durable syncs per sale",
            "strace not installed".into(),
            "1 per money transition",
            None,
        );
        return;
    }
    let out = rig.dir.path().join("strace.txt");
    let mut strace = std::process::Command::new("strace")
        .args([
            "-f",
            "-qq",
            "-y",
            "-e",
            "trace=fsync,fdatasync,sync_file_range,syncfs,msync",
            "-o",
        ])
        .arg(&out)
        .args(["-p", &rig.daemon_pid().to_string()])
        .spawn()
        .expect("start strace");
    // strace attaches asynchronously; its output file appears once it has.
    tokio::time::sleep(Duration::from_millis(500)).await;
    for n in 0..sales {
        let sale = rig.arm(Fen(7)).await;
        rig.scan(&code(900_000 + n, 0, 0));
        // Paid, or the figure would count some other path (a gateway out of reach: queued,
        // expired), as it did before session 5.
        let (done, seen) = rig.finish(&sale).await;
        assert_eq!(
            done.state,
            SaleState::Paid,
            "sale {n}: states seen {seen:?}"
        );
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    unsafe { libc::kill(strace.id() as i32, libc::SIGINT) };
    let _ = strace.wait();
    let text = fs::read_to_string(&out).unwrap_or_default();
    if let Ok(keep) = std::env::var("SCANPAY_BENCH_STRACE_TO") {
        let _ = fs::write(keep, &text);
    }
    // Each sync by call and file (`-y` names the descriptor's file).
    let mut by_file: HashMap<(String, String), usize> = HashMap::new();
    for line in text.lines() {
        let call = line.split_whitespace().nth(1).unwrap_or("");
        if let Some((name, rest)) = call.split_once('(') {
            let file = rest
                .split_once('<')
                .and_then(|(_, path)| path.split_once('>'))
                .map_or("?", |(path, _)| path);
            let file = Path::new(file)
                .file_name()
                .map_or(file.to_string(), |f| f.to_string_lossy().into_owned());
            *by_file.entry((name.to_string(), file)).or_default() += 1;
        }
    }
    let syncs = |keep: &dyn Fn(&str, &str) -> bool| -> usize {
        by_file
            .iter()
            .filter(|((call, file), _)| keep(call, file))
            .map(|(_, n)| n)
            .sum()
    };
    let durable = |call: &str| matches!(call, "fsync" | "fdatasync");
    let on_log = syncs(&|call, file| durable(call) && file == "sales.log");
    let reservations = syncs(&|call, file| durable(call) && file.starts_with("scanpay-last-seq"));
    let others = syncs(&|call, _| durable(call)) - on_log;
    let range = syncs(&|call, _| call == "sync_file_range");
    // The order-number reservation (its file and its directory) is written once per
    // SEQ_BLOCK numbers: counted per block it is in, not per sale of the window it fell in.
    let amortized = on_log as f64 / f64::from(sales)
        + if reservations > 0 {
            others as f64 / reservations as f64 / SEQ_BLOCK as f64
        } else {
            others as f64 / f64::from(sales)
        };
    report.add(
        "fsync+fdatasync per sale (reservation amortized)",
        format!("{amortized:.3}"),
        "3 (arm, pay, outcome)",
        Some(amortized < 3.01),
    );
    let mut listed: Vec<_> = by_file.iter().collect();
    listed.sort_by_key(|(_, n)| std::cmp::Reverse(**n));
    for ((call, file), n) in listed {
        println!(
            "   {call} of {file}: {n} in {sales} sales ({:.2} per sale)",
            *n as f64 / f64::from(sales)
        );
    }
    report.add(
        "sync_file_range per sale",
        format!("{:.1}", range as f64 / f64::from(sales)),
        "-",
        None,
    );
}

/// A journal of `count` finished sales, written straight through the journal's own API
/// (in a RAM folder when there is one, then copied to `dest` on the disk).
fn bulk_journal(count: u64, dest: &Path) {
    let start = Timestamp::from_millis(1_764_547_200_000);
    write_journal(count, dest, |seq, epoch| {
        let at = start.plus(Duration::from_secs(seq * 30));
        let out_trade_no = SaleRecord::order_number("BENCH", at, Some(epoch), seq);
        SaleRecord {
            out_trade_no,
            subject: "bench coffee".into(),
            operator_id: "bench".into(),
            payway: Some(Payway::WeChat),
            trade_no: Some(format!("4200{seq:024}")),
            updated_at: at.plus(Duration::from_secs(2)),
            scanned_at: Some(at.plus(Duration::from_secs(1))),
            deadline_at: Some(at.plus(Duration::from_secs(61))),
            poll_interval_ms: 2000,
            ..sale_record(&format!("s-bench-{seq:07}"), seq, SaleState::Paid, at)
        }
    });
}

/// A journal of the `count` records `make` builds (numbered 1..=count), staged in a RAM
/// folder when there is one, then copied to `dest` on the disk.
fn write_journal(count: u64, dest: &Path, make: impl Fn(u64, &OrderEpoch) -> SaleRecord) {
    let shm = Path::new("/dev/shm");
    let staging = if shm.is_dir() {
        tempfile::tempdir_in(shm).unwrap()
    } else {
        tempfile::tempdir().unwrap()
    };
    let dir = staging.path().join("journal");
    {
        let journal = LogJournal::open(&dir).expect("open the bulk journal");
        let epoch = journal.epoch().unwrap();
        for seq in 1..=count {
            journal
                .put(&make(seq, &epoch))
                .expect("journal a bulk sale");
        }
    }
    let status = std::process::Command::new("cp")
        .arg("-a")
        .arg(&dir)
        .arg(dest)
        .status()
        .expect("run cp");
    assert!(
        status.success(),
        "copy the bulk journal to {}",
        dest.display()
    );
}

/// Starts the daemon on `config` under a fake systemd (notify socket, watchdog) and returns
/// it with the time to READY=1.
fn start_notified(config: &Path, socket: &Path) -> (std::process::Child, Duration) {
    let _ = fs::remove_file(socket);
    let notify = UnixDatagram::bind(socket).expect("bind the notify socket");
    notify
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let start = Instant::now();
    let mut child = std::process::Command::new(scanpay_bin())
        .args(["daemon", "--config"])
        .arg(config)
        .env("RUST_LOG", "warn")
        .env("NOTIFY_SOCKET", socket)
        .env("WATCHDOG_USEC", "10000000")
        .env_remove("WATCHDOG_PID")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start the daemon");
    let mut buf = [0u8; 4096];
    loop {
        match notify.recv(&mut buf) {
            Ok(n)
                if String::from_utf8_lossy(&buf[..n])
                    .lines()
                    .any(|l| l == "READY=1") =>
            {
                return (child, start.elapsed());
            }
            Ok(_) => {}
            Err(e) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("no READY=1 from the daemon within 60 s: {e}");
            }
        }
    }
}

fn stop(mut child: std::process::Child) {
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let _ = child.wait();
}

/// Start-up, memory and disk with large journals; idle cost with the watchdog on.
fn journals(report: &mut Report, rig: &Rig, sizes: &[u64], idle: Duration) {
    let config = fs::read_to_string(&rig.config_path).unwrap();
    let socket = rig.dir.path().join("notify.sock");
    for &size in sizes {
        println!("-- a journal of {size} sales");
        let dir = rig.dir.path().join(format!("journal-{size}"));
        let made = Instant::now();
        // `[storage] path` is the state directory; the journal is its `journal/` (as
        // `StorageSettings::journal_dir` says): the daemon must open this one, not a new one.
        fs::create_dir_all(&dir).unwrap();
        bulk_journal(size, &dir.join("journal"));
        println!("   (written in {:.1} s)", made.elapsed().as_secs_f64());
        let config_path = rig.dir.path().join(format!("config-{size}.toml"));
        fs::write(
            &config_path,
            config.replace("path = \"journal\"", &format!("path = \"journal-{size}\"")),
        )
        .unwrap();
        let (child, ready) = start_notified(&config_path, &socket);
        let pid = child.id();
        // The daemon's CPU time so far: on a loaded machine the wall time above is mostly
        // waiting for a core, this is the work itself.
        let worked = cpu_time(pid);
        report.add(
            &format!("start-up to READY, {size} sales"),
            format!("{:.0} ms", ms(ready)),
            "<= 200 ms at 100,000",
            (size == 100_000).then_some(ms(ready) <= 200.0),
        );
        report.add(
            "  the daemon's CPU time by then",
            format!("{:.0} ms", ms(worked)),
            "-",
            None,
        );
        let rss = proc_status_kib(pid, "VmRSS");
        report.add(
            &format!("RSS after start, {size} sales"),
            format!("{:.1} MiB", mib(rss)),
            "<= 32 MiB at 100,000",
            (size == 100_000).then_some(mib(rss) <= 32.0),
        );
        rss_parts(report, pid);
        let bytes = disk_bytes(&dir);
        report.add(
            &format!("journal on disk, {size} sales"),
            format!("{:.1} MiB", bytes as f64 / 1048576.0),
            "bounded by [storage] keep_days",
            None,
        );
        if size == *sizes.last().unwrap() {
            // Let start-up work settle, then watch an idle minute.
            std::thread::sleep(Duration::from_secs(2));
            let before = cpu_time(pid);
            std::thread::sleep(idle);
            let used = cpu_time(pid) - before;
            let per_minute = ms(used) * 60.0 / idle.as_secs_f64();
            report.add(
                &format!("idle CPU per minute ({} s watched)", idle.as_secs()),
                format!("{per_minute:.1} ms"),
                "<= 50 ms",
                Some(per_minute <= 50.0),
            );
        }
        stop(child);
    }
}

/// Offline drain: the daemon starts on a journal of `count` unresolved sales (a restart
/// after an outage: every one is due for a query at once) while the gateway refuses
/// connections, so its queries wait; the gateway (the proxy in front of the simulator, on the
/// refused port) then comes up and the queued queries drain. Measured from the first query
/// to reach the gateway to the answer of the `count`th distinct one, at the proxy.
async fn drain(report: &mut Report, rig: &Rig, count: u64) {
    println!("-- offline drain ({count} queued queries)");
    let dir = rig.dir.path().join("journal-drain");
    fs::create_dir_all(&dir).unwrap();
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    let created = Timestamp::from_millis(now_ms - 60_000);
    write_journal(count, &dir.join("journal"), |seq, epoch| {
        let out_trade_no = SaleRecord::order_number("DRAIN", created, Some(epoch), seq);
        SaleRecord {
            out_trade_no: out_trade_no.clone(),
            scanned_at: Some(created),
            deadline_at: Some(created.plus(Duration::from_secs(8))),
            unresolved_at: Some(created.plus(Duration::from_secs(8))),
            next_poll_at: Some(created.plus(Duration::from_secs(10))),
            poll_interval_ms: 1000,
            updated_at: created.plus(Duration::from_secs(10)),
            ..sale_record(&out_trade_no, seq, SaleState::Unresolved, created)
        }
    });
    // A port nothing listens on (yet): the daemon's requests are refused, i.e. offline.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let config: String = fs::read_to_string(&rig.config_path)
        .unwrap()
        .lines()
        .map(|line| match line {
            l if l.starts_with("base_url = ") => format!("base_url = \"http://{port}\""),
            "path = \"journal\"" => "path = \"journal-drain\"".to_string(),
            l => l.to_string(),
        })
        .collect::<Vec<_>>()
        .join("\n");
    let config_path = rig.dir.path().join("config-drain.toml");
    fs::write(&config_path, config).unwrap();
    let socket = rig.dir.path().join("notify-drain.sock");
    let (child, _) = start_notified(&config_path, &socket);
    // Let the first queries be refused: the engine holds the rest until the gateway answers.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let first: Arc<Mutex<Option<Instant>>> = Arc::default();
    let noted = first.clone();
    let proxy = Proxy::start_at(port, rig.sim.base_url(), move |path, _, _| {
        if path.contains("query") {
            noted.lock().unwrap().get_or_insert_with(Instant::now);
        }
        Route::Forward
    })
    .await;
    let up = Instant::now();
    let give_up = up + Duration::from_secs(300);
    let answered = loop {
        let orders: std::collections::HashSet<String> = proxy
            .exchanges()
            .iter()
            .filter(|e| e.path.contains("query") && e.forwarded)
            .filter_map(|e| {
                serde_json::from_str::<serde_json::Value>(&e.request)
                    .ok()
                    .and_then(|v| v["out_trade_no"].as_str().map(String::from))
            })
            .collect();
        if orders.len() as u64 >= count || Instant::now() > give_up {
            break orders.len() as u64;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    let done = Instant::now();
    let first = first.lock().unwrap().unwrap_or(up);
    let took = done - first;
    let rate = answered as f64 / took.as_secs_f64();
    report.add(
        &format!("offline drain, {answered} of {count} queries"),
        format!("{rate:.0} req/s"),
        "-",
        None,
    );
    report.add(
        "  gateway up -> first query / -> last answer",
        format!("{:.0} / {:.0} ms", ms(first - up), ms(done - up)),
        "-",
        None,
    );
    stop(child);
}

/// Render time per screen at 240x240 and what an update sends to an RGB565 panel.
fn display(report: &mut Report) {
    println!("-- display (240x240, RGB565)");
    let amount = Fen(1250);
    let screens = [
        ("ready", Screen::Ready),
        (
            "armed",
            Screen::Armed {
                amount,
                subject: "Latte".into(),
            },
        ),
        ("processing", Screen::Processing { amount }),
        (
            "waiting",
            Screen::WaitingCustomer {
                amount,
                seconds_left: 42,
            },
        ),
        (
            "paid",
            Screen::Paid {
                amount,
                payway: Some(Payway::WeChat),
                trade_no_tail: "0042".into(),
            },
        ),
        (
            "failed",
            Screen::Failed {
                amount,
                err_code: Some("NOTENOUGH".into()),
                reason: "balance too low".into(),
            },
        ),
        (
            "qr",
            Screen::PayQr {
                amount,
                url: "https://pay.example.com/h5/4200000000000000000000000042".into(),
            },
        ),
    ];
    let size = Size::new(240, 240);
    let flags = StatusFlags::default();
    let mut previous: Option<Framebuffer<Rgb565>> = None;
    for (name, screen) in &screens {
        let rounds = 50;
        let start = Instant::now();
        let mut frame = None;
        for _ in 0..rounds {
            frame = Some(render_frame::<Rgb565>(screen, Language::Zh, flags, size));
        }
        let per_frame = start.elapsed() / rounds;
        let frame = frame.unwrap();
        // What the png backend does with it (the bench's scan-to-screen goes through it).
        let image = RgbImage::from_frame(&frame);
        let start = Instant::now();
        for _ in 0..rounds {
            image.encode_frame_png().expect("encode a frame");
        }
        let per_png = start.elapsed() / rounds;
        // Per changed band: the pixels (2 bytes each) plus the address window and write
        // commands (CASET 1+4, RASET 1+4, RAMWR 1 bytes).
        let bytes: u64 = match &previous {
            Some(old) => changed_regions(old, &frame)
                .iter()
                .map(|r| u64::from(r.size.width * r.size.height) * 2 + 11)
                .sum(),
            None => 240 * 240 * 2 + 11,
        };
        report.add(
            &format!("render {name}"),
            format!(
                "{:.2} ms, {} B sent; png {:.2} ms",
                ms(per_frame),
                bytes,
                ms(per_png)
            ),
            "-",
            None,
        );
        previous = Some(frame);
    }
}

fn size(report: &mut Report) {
    println!("-- size");
    let stripped = std::env::temp_dir().join(format!("scanpay-bench-strip-{}", std::process::id()));
    let ok = std::process::Command::new("strip")
        .arg("-o")
        .arg(&stripped)
        .arg(scanpay_bin())
        .status()
        .is_ok_and(|s| s.success());
    if ok {
        let bytes = fs::metadata(&stripped).unwrap().len();
        let _ = fs::remove_file(&stripped);
        let mib = bytes as f64 / 1048576.0;
        report.add(
            &format!(
                "stripped binary ({}, {})",
                std::env::consts::ARCH,
                scanpay_bin().display()
            ),
            format!("{mib:.1} MiB"),
            "<= 8 MiB",
            Some(mib <= 8.0),
        );
    } else {
        report.add(
            "stripped binary",
            "strip not found".into(),
            "<= 8 MiB",
            None,
        );
    }
    for (arch, path) in [
        (
            "aarch64",
            "target/debian/aarch64-unknown-linux-gnu/ship/scanpay",
        ),
        (
            "armv7",
            "target/debian/armv7-unknown-linux-gnueabihf/ship/scanpay",
        ),
    ] {
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(path);
        if let Ok(meta) = fs::metadata(&path) {
            let mib = meta.len() as f64 / 1048576.0;
            report.add(
                // The `ship` profile strips it (Cargo.toml).
                &format!("stripped binary ({arch}, scripts/arm-check's ship build)"),
                format!("{mib:.1} MiB"),
                "<= 8 MiB",
                Some(mib <= 8.0),
            );
        }
    }
}

fn main() {
    if let Ok(args) = std::env::var(FLOOR_CLIENT) {
        return floor_client(&args);
    }
    if std::env::args().any(|a| a == "--list") {
        // `cargo test --benches` and `cargo bench -- --list` must not run the whole bench.
        return;
    }
    let sales: u32 = env_or("SCANPAY_BENCH_SALES", 1000);
    let sizes: Vec<u64> = std::env::var("SCANPAY_BENCH_JOURNAL")
        .unwrap_or_else(|_| "10000,100000".into())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    let idle = Duration::from_secs(env_or("SCANPAY_BENCH_IDLE_S", 60));
    println!(
        "scanpay bench: {sales} sales, journals of {sizes:?}, {} s idle; {} cores",
        idle.as_secs(),
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    let mut report = Report::default();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let only = std::env::var("SCANPAY_BENCH_ONLY").ok();
    let wants = |part: &str| {
        only.as_deref()
            .is_none_or(|only| only.split(',').any(|p| p.trim() == part))
    };
    runtime.block_on(async {
        // The latency phase's proxy is the daemon's gateway URL: it lives as long as the rig.
        let (mut rig, _proxy) = if wants("latency") {
            let (rig, proxy) = latency(&mut report, sales).await;
            (rig, Some(proxy))
        } else {
            let rig = Rig::start(RigOptions::default()).await;
            if wants("idle") {
                println!("-- memory");
                let rss = proc_status_kib(rig.daemon_pid(), "VmRSS");
                report.add(
                    "idle RSS",
                    format!("{:.1} MiB", mib(rss)),
                    "<= 10 MiB",
                    Some(mib(rss) <= 10.0),
                );
                rss_parts(&mut report, rig.daemon_pid());
            }
            (rig, None)
        };
        if wants("syncs") {
            syncs(&mut report, &mut rig, 20).await;
        }
        rig.terminate().await;
        if wants("startup") {
            journals(&mut report, &rig, &sizes, idle);
        }
        if wants("drain") {
            drain(&mut report, &rig, 1000).await;
        }
    });
    if wants("display") {
        display(&mut report);
    }
    if wants("size") {
        size(&mut report);
    }
    report.summary();
}

/// CLOCK_MONOTONIC in nanoseconds: the clock two processes share (an `Instant` cannot be
/// compared across processes).
fn monotonic_ns() -> u64 {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: a valid clock id and a valid timespec to write into.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut now) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_MONOTONIC)");
    now.tv_sec as u64 * 1_000_000_000 + now.tv_nsec as u64
}

/// The floor as a terminal program meets it: this bench run again as a plain client in a
/// process of its own (`FLOOR_CLIENT`), which, `count` times, writes `request` to a small
/// file, fsyncs it and POSTs it with reqwest to `url`. The daemon's pay request crosses from
/// one process to another the same way; a POST from the proxy's own process does not (the
/// proxy's task may run on the very thread that sent it), which is not a floor any terminal
/// can reach. Each figure: the client's start to the proxy's arrival, on the shared clock.
async fn floor_from_another_process(
    url: &str,
    request: &str,
    file: &Path,
    count: u32,
    arrivals_ns: &Mutex<HashMap<String, u64>>,
) -> Vec<Duration> {
    let body = file.with_extension("json");
    fs::write(&body, request).unwrap();
    let output = tokio::process::Command::new(std::env::current_exe().unwrap())
        .env(
            FLOOR_CLIENT,
            format!("{url}\n{}\n{}\n{count}", body.display(), file.display()),
        )
        .output()
        .await
        .expect("run the floor's client");
    assert!(
        output.status.success(),
        "the floor's client failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let arrivals = arrivals_ns.lock().unwrap();
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|line| {
            let (marker, start) = line.split_once(' ').expect("marker start");
            let start: u64 = start.parse().expect("a start time");
            let arrived = arrivals
                .iter()
                .find(|(order, _)| order.starts_with(marker))
                .map(|(_, at)| *at)
                .unwrap_or_else(|| panic!("the proxy saw the floor's POST {marker}"));
            Duration::from_nanos(arrived - start)
        })
        .collect()
}

/// Set in the floor's client process: its url, request file, file to sync and count.
const FLOOR_CLIENT: &str = "SCANPAY_BENCH_FLOOR_CLIENT";

/// The floor's client (see `floor_from_another_process`); prints `marker start_ns` per POST.
fn floor_client(args: &str) {
    let mut parts = args.split('\n');
    let (url, body, file, count) = (
        parts.next().unwrap(),
        fs::read_to_string(parts.next().unwrap()).unwrap(),
        PathBuf::from(parts.next().unwrap()),
        parts.next().unwrap().parse::<u32>().unwrap(),
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let client = reqwest::Client::new();
    let mut out = String::new();
    runtime.block_on(async {
        for i in 0..count {
            let marker = format!("FLOORP{i:06}");
            let request = body.replace(
                "\"out_trade_no\":\"",
                &format!("\"out_trade_no\":\"{marker}"),
            );
            let start = monotonic_ns();
            let mut synced = fs::File::create(&file).unwrap();
            synced.write_all(request.as_bytes()).unwrap();
            synced.sync_all().unwrap();
            client
                .post(url)
                .header("content-type", "application/json")
                .body(request)
                .send()
                .await
                .expect("the floor's POST");
            out.push_str(&format!("{marker} {start}\n"));
        }
    });
    print!("{out}");
}
