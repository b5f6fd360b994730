//! `scanpay charge AMOUNT`: arms a sale through the register API and follows it to its end,
//! printing each step. Exits 0 only when the customer paid.

use std::io::Write;
use std::path::Path;
use std::time::Duration;

use anyhow::{bail, Context as _};

use super::amount::parse_yuan_amount;
use crate::config::Config;
use crate::engine::SaleState;
use crate::protocol::Fen;
use crate::register::{charge, describe};

#[derive(Debug, Clone, clap::Args)]
pub struct ChargeArgs {
    /// The amount in yuan, e.g. 12.50.
    #[arg(value_parser = parse_yuan_amount)]
    pub amount: Fen,
    /// What is sold (default: the config's default_subject).
    #[arg(long)]
    pub subject: Option<String>,
    /// The cashier (default: the config's operator_id).
    #[arg(long)]
    pub operator: Option<String>,
    /// How long to follow the sale, in seconds.
    #[arg(long, default_value_t = 120)]
    pub wait: u64,
    /// Print the final sale as JSON.
    #[arg(long)]
    pub json: bool,
}

pub fn run(config_path: &Path, args: &ChargeArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    let config = Config::load(config_path)?;
    let listen = config.register.listen.clone();
    let token = config
        .register
        .token
        .as_ref()
        .map(|t| t.expose().to_string());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let json = args.json;
    let sale = runtime
        .block_on(charge(
            &listen,
            token.as_deref(),
            args.amount,
            args.subject.as_deref(),
            args.operator.as_deref(),
            Duration::from_secs(args.wait),
            |sale| {
                if !json {
                    let _ = writeln!(std::io::stderr(), "{}", describe(sale));
                }
            },
        ))
        .with_context(|| {
            format!(
                "charging {} through the register API at {listen}",
                args.amount
            )
        })?;
    if json {
        writeln!(out, "{}", serde_json::to_string_pretty(&sale)?)?;
    } else {
        writeln!(
            out,
            "{} {} {}",
            sale.sale_id,
            sale.state.as_str(),
            sale.amount_fen
        )?;
    }
    if sale.state != SaleState::Paid {
        bail!(
            "sale {} ended {}: {}",
            sale.sale_id,
            sale.state.as_str(),
            describe(&sale)
        );
    }
    Ok(())
}
