//! `scanpay daemon` (the service systemd runs) and `scanpay demo` (the whole flow on a
//! laptop, no config, no hardware).

use std::io::Write;
use std::path::Path;

use anyhow::Context as _;

use super::amount::parse_yuan_amount;
use crate::config::Config;
use crate::daemon::demo::{draws, run_demo, DemoOptions};
use crate::daemon::{run, shutdown_signal, RunOptions};
use crate::protocol::Fen;

#[derive(Debug, Clone, clap::Args)]
pub struct DemoArgs {
    /// The amount of each demo sale, in yuan.
    #[arg(long, default_value = "12.50", value_parser = parse_yuan_amount)]
    pub amount: Fen,
    /// The display's language: zh or en.
    #[arg(long, default_value = "en", value_parser = ["zh", "en"])]
    pub language: String,
    /// Print each screen change as one line of text instead of drawing the screen to fit
    /// the terminal (also what happens when it is too small or not a terminal).
    #[arg(long)]
    pub text: bool,
}

/// Runs the daemon until SIGTERM or Ctrl-C.
pub fn daemon(config_path: &Path) -> anyhow::Result<()> {
    let config = Config::load(config_path)?;
    block_on(async {
        run(config, RunOptions::service(), shutdown_signal())
            .await
            .context("the payment daemon stopped with an error")
    })
}

/// Runs the demo until Ctrl-C.
pub fn demo(args: &DemoArgs, out: &mut (dyn Write + Send)) -> anyhow::Result<()> {
    block_on(run_demo(demo_options(args), out, shutdown_signal()))
}

/// The demo's log filter unless RUST_LOG says otherwise: warnings, or only errors while it
/// draws its screen in place (a log line on the same terminal would push the frame out of
/// place until the next one). Not the simulator's warning that the payment callback found
/// no listener: the demo's notify_url leads nowhere on purpose (the query finds the outcome).
pub fn demo_log_level(args: &DemoArgs) -> &'static str {
    if draws(&demo_options(args)) {
        "error"
    } else {
        "warn,scanpay::simulator=error"
    }
}

fn demo_options(args: &DemoArgs) -> DemoOptions {
    DemoOptions {
        amount: args.amount,
        language: args.language.clone(),
        pixels: !args.text,
    }
}

/// Runs `work` on the daemon's runtime, then stops the runtime without waiting on a read of
/// standard input: tokio reads stdin on a blocking thread nothing can interrupt, and dropping
/// the runtime waits for it, so a stdin scanner (the demo) would keep the process alive after
/// SIGTERM or Ctrl-C until the next line is typed. Everything that matters (journal, answers
/// in flight) is done when `work` returns.
fn block_on<T>(work: impl std::future::Future<Output = anyhow::Result<T>>) -> anyhow::Result<T> {
    let runtime = runtime()?;
    let result = runtime.block_on(work);
    runtime.shutdown_timeout(STRAGGLERS);
    result
}

/// How long blocking tasks still running at exit may take to finish.
const STRAGGLERS: std::time::Duration = std::time::Duration::from_secs(1);

/// The register API's runtime (the sale loop has a thread of its own, `daemon/till.rs`):
/// two threads, so one slow client (an export of a long day) does not hold up the others.
fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the async runtime")
}
