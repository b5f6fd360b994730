//! `scanpay demo`: the whole flow on a laptop, with no config and no hardware.
//!
//! It starts the gateway simulator on loopback, writes a throw-away config (demo merchant,
//! temp journal, stdin scanner, terminal display, kiosk mode so a sale is always armed) and
//! runs the real daemon on it. Everything a merchant's terminal does happens for real: the
//! signed HTTP requests, the journal, the engine, the register API.

use std::fs;
use std::future::Future;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use anyhow::Context;

use super::{run, DisplayFactory, RunOptions};
use crate::config::{Config, HostFacts, Origin};
use crate::display::terminal::TerminalDisplay;
use crate::display::{Language, Layout, TerminalConfig};
use crate::protocol::Fen;
use crate::register::ListenAddr;
use crate::simulator::{self, Simulator, SimulatorConfig};
use crate::systemd::SystemdNotifier;

/// What the demo charges for each sale, and in which language it draws.
#[derive(Debug, Clone)]
pub struct DemoOptions {
    pub amount: Fen,
    pub language: String,
    /// Draw each screen as pixels (half blocks) or as one line of text.
    pub pixels: bool,
}

/// The throw-away config the demo runs on: real validation, like any merchant's file.
pub fn demo_config_text(base_url: &str, dir: &Path, options: &DemoOptions) -> String {
    format!(
        r#"# Written by `scanpay demo`; thrown away when it stops.
[gateway]
base_url = "{base_url}"
app_id = "{app_id}"
key_file = "{key_file}"
notify_url = "http://127.0.0.1:9/scanpay-demo-notify"
operator_id = "demo"

[payment]
order_prefix = "DEMO"
default_subject = "scanpay demo"

[scanner]
kind = "stdin"

[display]
kind = "{display}"
language = "{language}"

[register]
listen = "127.0.0.1:0"
fixed_amount_fen = {amount}

[storage]
path = "{storage}"
"#,
        app_id = simulator::DEMO_APP_ID,
        key_file = dir.join("merchant.key").display(),
        display = if options.pixels { "terminal" } else { "none" },
        language = options.language,
        amount = options.amount.0,
        storage = dir.display(),
    )
}

/// Runs the demo until `shutdown` (Ctrl-C), printing instructions to `out`.
pub async fn run_demo(
    options: DemoOptions,
    out: &mut (dyn Write + Send),
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    let sim = Simulator::start(
        "127.0.0.1:0".parse().expect("a socket address"),
        SimulatorConfig::default(),
    )
    .await
    .context("starting the gateway simulator on 127.0.0.1")?;
    let dir = tempfile::Builder::new()
        .prefix("scanpay-demo-")
        .tempdir()
        .context("making a temp dir")?;
    let key_file = dir.path().join("merchant.key");
    fs::write(&key_file, simulator::DEMO_KEY).context("writing the demo key")?;
    fs::set_permissions(&key_file, fs::Permissions::from_mode(0o600))
        .context("protecting the demo key")?;
    let config_path = dir.path().join("config.toml");
    let text = demo_config_text(&sim.base_url(), dir.path(), &options);
    fs::write(&config_path, &text).context("writing the demo config")?;
    let origin = Origin {
        dir: dir.path().to_path_buf(),
        host: HostFacts::read(),
    };
    let config = Config::from_toml(&text, &config_path, &origin)?;

    let journal_dir = dir.path().join("journal");
    if options.pixels {
        // The screen is redrawn in place; the essentials stay below it as a footer.
        writeln!(
            out,
            "scanpay demo: simulated gateway at {}, journal in {}",
            sim.base_url(),
            journal_dir.display()
        )?;
    } else {
        writeln!(
            out,
            "scanpay demo: a simulated gateway at {}, a journal in {}.\n\
             A sale of {} is armed and waits for a scan. Type or paste a payment code and press Enter.\n\
             (18 digits starting 10-15 are WeChat; 16-24 digits starting 25-30 are Alipay.)\n\n{}\n\
             Ctrl-C stops; the journal of this run is thrown away.\n",
            sim.base_url(),
            journal_dir.display(),
            options.amount,
            simulator::magic_table(),
        )?;
    }
    out.flush()?;

    let (amount, language, pixels) = (options.amount, options.language.clone(), options.pixels);
    let run_options = RunOptions {
        notifier: std::sync::Arc::new(SystemdNotifier::disabled()),
        on_listening: Box::new(move |addr| {
            if !pixels {
                println!(
                    "Register API: http://{addr}/v1/sales  (try: curl http://{addr}/v1/status)\n"
                );
            }
        }),
        display: pixels.then(|| -> DisplayFactory {
            Box::new(move |addr| {
                let config = TerminalConfig {
                    layout: Layout::Mono128x64,
                    pixels: true,
                    language: if language == "zh" {
                        Language::Zh
                    } else {
                        Language::En
                    },
                    footer: Some(footer(amount, addr)),
                };
                Box::new(TerminalDisplay::stdout(&config))
            })
        }),
    };
    let result = run(config, run_options, shutdown).await;
    sim.shutdown().await;
    Ok(result?)
}

/// The instructions under the demo's drawn screen.
fn footer(amount: Fen, register: &ListenAddr) -> String {
    format!(
        "A sale of {amount} is armed. Type a payment code and press Enter (Ctrl-C stops).\n\
         \x20 134523198765432101  paid at once (WeChat; Alipay codes start 25-30)\n\
         \x20 ...765000203  customer confirms on the phone, paid on the 2nd query\n\
         \x20 ...765000600  declined (insufficient balance)   ...765000700  code expired\n\
         \x20 ...765000800  gateway error, found paid by query ...765000900  never confirms\n\
         Each code works once: change a digit before the last six. `scanpay demo --text` lists all.\n\
         Register API: http://{register}/v1/status"
    )
}
