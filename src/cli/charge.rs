//! `scanpay charge AMOUNT`: arms a sale through the register API and follows it to its end,
//! printing each step. Exits 0 only when the customer paid.

use std::io::Write;
use std::path::Path;
use std::time::Duration;

use anyhow::{bail, Context as _};

use super::amount::parse_yuan_amount;
use crate::config::Config;
use crate::engine::{SaleState, SaleView};
use crate::protocol::Fen;
use crate::register::{charge, describe, ListenAddr};

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
    let (listen, token) = register_endpoint(&Config::load(config_path)?);
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
    if let Some(problem) = not_paid(&sale) {
        bail!(problem);
    }
    Ok(())
}

/// Where the config's daemon takes register requests, and the token they need: what
/// `charge` and `status` connect with.
pub(super) fn register_endpoint(config: &Config) -> (ListenAddr, Option<String>) {
    let token = config
        .register
        .token
        .as_ref()
        .map(|t| t.expose().to_string());
    (config.register.listen.clone(), token)
}

/// Why the charge did not succeed, in words a cashier can act on; `None` when paid.
fn not_paid(sale: &SaleView) -> Option<String> {
    let (id, state, what) = (&sale.sale_id, sale.state.as_str(), describe(sale));
    match sale.state {
        SaleState::Paid => None,
        SaleState::Failed | SaleState::Expired | SaleState::Disarmed => {
            Some(format!("sale {id} ended {state}: {what}"))
        }
        // Its description already says not to charge again.
        SaleState::Unresolved => Some(format!("sale {id} is {state}: {what}")),
        // The wait ran out while the payment was still under way: it may yet be paid.
        _ => Some(format!(
            "sale {id} is still {state} (--wait ran out): {what}; it is not finished and may \
             still be paid: do not charge again; follow it with `scanpay query {}`",
            sale.out_trade_no
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::register::sale_fixtures::sale_view;

    fn sale(state: SaleState) -> SaleView {
        sale_view("SP-1", state)
    }

    #[test]
    fn a_sale_still_under_way_is_not_called_ended_and_says_not_to_charge_again() {
        // "sale SP-1 ended waiting_customer" once read like a failure: a cashier would charge
        // again while the customer was still confirming.
        assert_eq!(not_paid(&sale(SaleState::Paid)), None);
        for state in [
            SaleState::Submitting,
            SaleState::WaitingCustomer,
            SaleState::Queued,
            SaleState::Unknown,
        ] {
            let problem = not_paid(&sale(state)).unwrap();
            assert!(!problem.contains("ended"), "{problem}");
            assert!(problem.contains("do not charge again"), "{problem}");
            assert!(problem.contains("scanpay query SP-1"), "{problem}");
        }
        let failed = not_paid(&sale(SaleState::Failed)).unwrap();
        assert!(failed.starts_with("sale SP-1 ended failed: "), "{failed}");
        let unresolved = not_paid(&sale(SaleState::Unresolved)).unwrap();
        assert!(unresolved.contains("do not charge again"), "{unresolved}");
    }
}
