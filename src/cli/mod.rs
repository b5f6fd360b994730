//! The command line: `scanpay [--config PATH] COMMAND`.
//!
//! Commands live in their own modules and return `anyhow::Result`; `main` only parses,
//! starts logging, dispatches here and turns an error into an exit code (`exit_code`).
//! Amounts typed by a person are yuan (`amount::parse_yuan_amount`).

pub mod amount;
pub mod balance;
pub mod charge;
pub mod check_config;
pub mod daemon;
pub mod gateway_cmds;
pub mod journal;
pub mod logging;
pub mod output;
pub mod query;
pub mod reconcile;
pub mod settle;
pub mod settle_query;
pub mod simulator;
pub mod status;
pub mod web_pay;
pub mod withdrawal_log;

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::config::{ConfigError, DEFAULT_CONFIG_PATH};

/// scanpay: a cash register's payment terminal. Scan a wallet payment code, pay through the
/// gateway, never charge twice.
#[derive(Debug, Parser)]
#[command(name = "scanpay", version, about)]
pub struct Cli {
    /// The config file (TOML).
    #[arg(long, global = true, value_name = "PATH", default_value = DEFAULT_CONFIG_PATH)]
    pub config: PathBuf,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Validate the config file and print the effective config (defaults filled in, secrets
    /// masked). Exits 0 only when the config is valid.
    CheckConfig(check_config::CheckConfigArgs),
    /// Run the payment terminal (what systemd starts): scanner, display, register API,
    /// gateway, journal.
    Daemon,
    /// See the whole flow on a laptop: a simulated gateway, no config, no hardware.
    Demo(daemon::DemoArgs),
    /// Arm a sale through the running daemon's register API and wait for its result.
    /// Exits 0 only when the customer paid.
    Charge(charge::ChargeArgs),
    /// Export the journal's sales for reconciliation (CSV or JSON lines).
    Journal(journal::JournalArgs),
    /// Check one day's sales (China time) against the gateway: rate-limited, resumable.
    /// Exits 0 only when every sale was checked and nothing disagrees; 2 disagreement; 3
    /// a sale not checked or still open.
    Reconcile(reconcile::ReconcileArgs),
    /// The running daemon's status for the person at the till: scanner, display, gateway,
    /// queue, clock, version. Exits 1 when something needs a person.
    Status(status::StatusArgs),
    /// Run the gateway simulator until Ctrl-C (demo merchant by default; needs no config).
    Simulator(simulator::SimulatorArgs),
    /// Where an order stands at the gateway: paid, not paid, waiting, refunded.
    Query(query::QueryArgs),
    /// The merchant's balance, withdrawal window, limit and way.
    Balance(balance::BalanceArgs),
    /// Withdraw AMOUNT yuan (fee included) to the bank; checks the per-request and daily
    /// limits first, never retries on its own.
    Settle(settle::SettleArgs),
    /// Where a withdrawal stands, by the trade_no `settle` printed.
    SettleQuery(settle_query::SettleQueryArgs),
    /// Print the customer pay-page URL for AMOUNT yuan (no network; show it as a QR code).
    H5Url(web_pay::WebPayArgs),
    /// Ask the gateway for a wallet deep link for AMOUNT yuan.
    AppUrl(web_pay::WebPayArgs),
}

/// Runs one command, writing its normal output to `out`.
pub fn run(cli: &Cli, out: &mut dyn Write) -> anyhow::Result<()> {
    match &cli.command {
        Command::CheckConfig(args) => check_config::run(&cli.config, args, out),
        Command::Daemon => daemon::daemon(&cli.config),
        Command::Demo(args) => daemon::demo(args, &mut std::io::stdout()),
        Command::Charge(args) => charge::run(&cli.config, args, out),
        Command::Journal(args) => journal::run(&cli.config, args, out),
        Command::Reconcile(args) => reconcile::run(&cli.config, args, out),
        Command::Simulator(args) => simulator::run(args, out),
        Command::Status(args) => status::run(&cli.config, args, out),
        Command::Query(args) => query::run(&cli.config, args, out),
        Command::Balance(args) => balance::run(&cli.config, args, out),
        Command::Settle(args) => settle::run(&cli.config, args, out),
        Command::SettleQuery(args) => settle_query::run(&cli.config, args, out),
        Command::H5Url(args) => web_pay::run_h5(&cli.config, args, out),
        Command::AppUrl(args) => web_pay::run_app(&cli.config, args, out),
    }
}

/// `EX_CONFIG` from sysexits.h: the unit file's `RestartPreventExitStatus=78` keeps systemd
/// from restarting a daemon whose config is wrong, which would only fail again.
pub const EXIT_CONFIG: u8 = 78;

/// The exit code for a failed command: 78 for a config problem, 1 for anything else.
pub fn exit_code(err: &anyhow::Error) -> ExitCode {
    let daemon_config = err
        .downcast_ref::<crate::daemon::DaemonError>()
        .is_some_and(|e| e.is_config_problem());
    if let Some(findings) = err.downcast_ref::<reconcile::Findings>() {
        ExitCode::from(findings.code)
    } else if err.downcast_ref::<ConfigError>().is_some() || daemon_config {
        ExitCode::from(EXIT_CONFIG)
    } else {
        ExitCode::FAILURE
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_defaults_to_etc_and_is_accepted_after_the_command() {
        let cli = Cli::try_parse_from(["scanpay", "check-config"]).unwrap();
        assert_eq!(cli.config, PathBuf::from("/etc/scanpay/config.toml"));
        let cli = Cli::try_parse_from([
            "scanpay",
            "check-config",
            "--config",
            "/tmp/c.toml",
            "--json",
        ])
        .unwrap();
        assert_eq!(cli.config, PathBuf::from("/tmp/c.toml"));
        let Command::CheckConfig(args) = &cli.command else {
            panic!("parsed as check-config")
        };
        assert!(args.json);
        let cli = Cli::try_parse_from(["scanpay", "--config", "x.toml", "check-config"]).unwrap();
        assert_eq!(cli.config, PathBuf::from("x.toml"));
    }

    #[test]
    fn config_errors_exit_78_and_others_1() {
        let config_err = anyhow::Error::new(ConfigError::Invalid {
            path: "c.toml".into(),
            problems: vec![],
        })
        .context("checking the config");
        assert_eq!(exit_code(&config_err), ExitCode::from(EXIT_CONFIG));
        assert_eq!(exit_code(&anyhow::anyhow!("other")), ExitCode::FAILURE);
        // Settings the daemon refuses at start are config problems too: not restarted.
        let policy = anyhow::Error::new(crate::daemon::DaemonError::Policy(
            crate::engine::PolicyError::BadPrefix { prefix: "-".into() },
        ))
        .context("the payment daemon stopped with an error");
        assert_eq!(exit_code(&policy), ExitCode::from(EXIT_CONFIG));
        let journal = anyhow::Error::new(crate::daemon::DaemonError::Journal(
            crate::journal::JournalError::Read {
                detail: "disk".into(),
            },
        ));
        assert_eq!(exit_code(&journal), ExitCode::FAILURE);
        // A storage path scanpay may not use: restarting cannot help, a person must.
        let denied = anyhow::Error::new(crate::daemon::DaemonError::Journal(
            crate::journal::JournalError::CreateDir {
                path: "/var/lib/scanpay/journal".into(),
                io: std::io::ErrorKind::PermissionDenied.into(),
            },
        ));
        assert_eq!(exit_code(&denied), ExitCode::from(EXIT_CONFIG));
    }

    #[test]
    fn clap_definition_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
