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

use super::{run, RunOptions};
use crate::config::{Config, HostFacts, Origin};
use crate::display::terminal::{choose, TermSize, TerminalDisplay};
use crate::display::{Language, TerminalConfig};
use crate::protocol::Fen;
use crate::register::ListenAddr;
use crate::simulator::{self, Simulator, SimulatorConfig};
use crate::systemd::SystemdNotifier;

/// What the demo charges for each sale, and in which language it draws.
#[derive(Debug, Clone)]
pub struct DemoOptions {
    pub amount: Fen,
    pub language: String,
    /// Draw each screen to fit the terminal (text lines when it is too small or not a
    /// terminal), or always as one line of text (`--text`).
    pub pixels: bool,
}

/// Whether the demo draws its screens (standard output a terminal large enough for the
/// smallest frame and its instructions; the register's address is not known yet, the longest
/// one stands in), rather than printing a line of text for each.
pub fn draws(options: &DemoOptions) -> bool {
    options.pixels
        && TermSize::of_stdout()
            .and_then(|size| choose(size, None, &footer(options.amount, &LONGEST_ADDRESS)))
            .is_some()
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
kind = "terminal"
language = "{language}"

[register]
listen = "127.0.0.1:0"
fixed_amount_fen = {amount}

[storage]
path = "{storage}"
"#,
        app_id = simulator::DEMO_APP_ID,
        key_file = dir.join("merchant.key").display(),
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
    // When not drawn, the instructions come first and each screen is a line.
    let drawn = draws(&options);
    if !drawn {
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

    let (amount, pixels) = (options.amount, options.pixels);
    let language = if options.language == "zh" {
        Language::Zh
    } else {
        Language::En
    };
    let run_options = RunOptions {
        notifier: std::sync::Arc::new(SystemdNotifier::disabled()),
        on_listening: Box::new(move |addr| {
            if !drawn {
                println!(
                    "Register API: http://{addr}/v1/sales  (try: curl http://{addr}/v1/status)\n"
                );
            }
        }),
        display: Some(Box::new(
            move |addr| -> Box<dyn crate::display::Display + Send> {
                let config = TerminalConfig {
                    layout: None,
                    pixels,
                    language,
                    footer: Some(footer(amount, addr).join("\n")),
                };
                Box::new(TerminalDisplay::stdout(&config))
            },
        )),
    };
    let result = run(config, run_options, shutdown).await;
    sim.shutdown().await;
    Ok(result?)
}

/// The longest register address the footer can name.
const LONGEST_ADDRESS: ListenAddr = ListenAddr::Tcp(std::net::SocketAddr::V4(
    std::net::SocketAddrV4::new(std::net::Ipv4Addr::new(127, 0, 0, 1), 65535),
));

/// The instructions under (or beside) the demo's drawn screen, a line each, every line at
/// most 78 columns so they fit an 80-column terminal and beside a 240x240 screen on a
/// 200-column one. The last line is the prompt: the cursor waits after it.
fn footer(amount: Fen, register: &ListenAddr) -> Vec<String> {
    vec![
        format!("A sale of {amount} is armed. Type a payment code, press Enter. Ctrl-C stops."),
        "  134523198765432101 paid at once (WeChat; Alipay codes start 25-30)".to_string(),
        "  ...765000203 confirm on phone  ...765000600 declined  ...765000700 expired".to_string(),
        "  ...765000800 found paid by query  ...765000900 never confirms".to_string(),
        "A code works once: change a digit before the last six. --text lists them all.".to_string(),
        format!("Register API: http://{register}/v1/status   scan> "),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::display::terminal::text_width;

    #[test]
    fn the_footer_fits_beside_and_below_every_frame_it_is_drawn_with() {
        // The largest amount a sale may have (¥100000.00) and the longest address.
        let lines = footer(Fen(10_000_000), &LONGEST_ADDRESS);
        assert_eq!(
            lines.len(),
            6,
            "16 braille rows + caption + 6 + an empty row = 24"
        );
        for line in &lines {
            assert!(
                text_width(line) <= 78,
                "{line:?} is {} wide",
                text_width(line)
            );
        }
    }
}
