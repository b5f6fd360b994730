//! `scanpay simulator [--listen ADDR] [--app-id ID] [--key-file PATH]`: the gateway
//! simulator as a process, until Ctrl-C or SIGTERM. Needs no config file.
//!
//! It prints its base URL first (`... listening on http://ADDR`, one line, so a script or
//! test can read it), then the merchant, a `[gateway]` section to paste into a config, and
//! the table of scripted outcomes. With the demo credentials (the default) the demo key is
//! printed: it is public and signs only simulated payments. A key from `--key-file` is
//! never printed.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context as _;
use serde_json::json;

use crate::config::read_secret_file;
use crate::protocol::MerchantKey;
use crate::simulator::{magic_table, Simulator, SimulatorConfig, DEMO_APP_ID, DEMO_KEY};

/// The default `--listen`: loopback only; the port is the project's usual one.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8740";

#[derive(Debug, Clone, clap::Args)]
pub struct SimulatorArgs {
    /// Address to listen on; port 0 picks a free port (printed).
    #[arg(long, value_name = "ADDR", default_value = DEFAULT_LISTEN)]
    pub listen: SocketAddr,
    /// The merchant app_id the simulator accepts.
    #[arg(long, value_name = "ID", default_value = DEMO_APP_ID)]
    pub app_id: String,
    /// A file holding the merchant key the simulator verifies (mode 0600); default: the
    /// public demo key.
    #[arg(long, value_name = "PATH")]
    pub key_file: Option<PathBuf>,
    /// Print one JSON line (`base_url`, `app_id`, `key_file`) instead of the text.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: &SimulatorArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    let app_id_ok = !args.app_id.is_empty()
        && args.app_id.chars().count() <= 50
        && !args.app_id.contains(char::is_whitespace);
    anyhow::ensure!(
        app_id_ok,
        "--app-id {:?} is not an app id: give 1 to 50 characters without spaces, e.g. {DEMO_APP_ID}",
        args.app_id
    );
    let key = match &args.key_file {
        Some(path) => Some(read_secret_file(path).context("reading the simulator's --key-file")?),
        None => None,
    };
    let config = SimulatorConfig {
        app_id: args.app_id.clone(),
        key: MerchantKey::new(key.as_ref().map_or(DEMO_KEY, |k| k.expose())),
        ..SimulatorConfig::default()
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the async runtime for the simulator")?;
    runtime.block_on(async {
        // Listening for the signals before the banner: whoever reads the banner may stop
        // the simulator at once.
        let stop = stop_signals().context("installing the Ctrl-C and SIGTERM handlers")?;
        let handle = Simulator::start(args.listen, config).await?;
        let base_url = handle.base_url();
        if args.json {
            let line = json!({
                "base_url": base_url,
                "app_id": args.app_id,
                "key_file": args.key_file,
                "demo_key": args.key_file.is_none(),
            });
            writeln!(out, "{line}")?;
        } else {
            write_banner(out, &base_url, args)?;
        }
        out.flush()?;
        stop.await;
        tracing::info!("stopping the simulator");
        handle.shutdown().await;
        Ok::<(), anyhow::Error>(())
    })
}

fn write_banner(out: &mut dyn Write, base_url: &str, args: &SimulatorArgs) -> std::io::Result<()> {
    writeln!(out, "scanpay gateway simulator listening on {base_url}")?;
    writeln!(out, "merchant app_id: {}", args.app_id)?;
    writeln!(out)?;
    writeln!(out, "Point a config at it:")?;
    writeln!(out, "  [gateway]")?;
    writeln!(out, "  base_url = \"{base_url}\"")?;
    writeln!(out, "  app_id = \"{}\"", args.app_id)?;
    let key_file = match &args.key_file {
        Some(path) => path.display().to_string(),
        None => "demo.key".to_string(),
    };
    writeln!(out, "  key_file = \"{key_file}\"")?;
    writeln!(out, "  notify_url = \"http://127.0.0.1:8741/notify\"")?;
    if args.key_file.is_none() {
        writeln!(out)?;
        writeln!(
            out,
            "demo.key holds the public demo key (it signs only simulated payments):"
        )?;
        writeln!(out, "  (umask 077; printf '%s\\n' {DEMO_KEY} > demo.key)")?;
    }
    writeln!(out)?;
    writeln!(
        out,
        "Admin: GET {base_url}/_sim/orders, GET|POST {base_url}/_sim/faults"
    )?;
    writeln!(out)?;
    writeln!(out, "{}", magic_table().trim_end())?;
    writeln!(out)?;
    writeln!(out, "Ctrl-C stops the simulator.")
}

/// Resolves on Ctrl-C (SIGINT), or SIGTERM from systemd or a test. The handlers are
/// installed when this is called, not when the future is first polled.
fn stop_signals() -> std::io::Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
    Ok(async move {
        tokio::select! {
            _ = interrupt.recv() => {}
            _ = terminate.recv() => {}
        }
    })
}
