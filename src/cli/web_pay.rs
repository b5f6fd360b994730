//! `scanpay h5-url AMOUNT` and `scanpay app-url AMOUNT`: an order the customer pays on their
//! own phone. `h5-url` prints the signed pay-page URL (no network; show it as a QR code);
//! `app-url` asks the gateway for the wallet deep link.
//!
//! Defaults when not given: the subject is `[payment] default_subject`; the order number is
//! `[payment] order_prefix`, `-W` and the UTC time to the millisecond (the daemon's numbers
//! are `PREFIX-YYYYMMDD-SEQ`, digits after the dash, so the two cannot collide); **Decision:** the return URL (where
//! the browser goes after paying) is the root of the `notify_url` host, i.e. the merchant's
//! own server, as the config names no other page.

use std::io::Write;
use std::path::Path;

use anyhow::Context as _;
use chrono::Utc;
use serde_json::json;

use crate::config::Config;
use crate::gateway::Gateway as _;
use crate::protocol::{Fen, WebPayRequest};

use super::amount::parse_yuan_amount;
use super::gateway_cmds::{ask, connect, with_json_failure, GatewayCommandError};
use super::output::{scanpay_command, write_json, Report};

#[derive(Debug, Clone, clap::Args)]
pub struct WebPayArgs {
    /// The amount in yuan (e.g. 12.50).
    #[arg(value_name = "AMOUNT", value_parser = parse_yuan_amount)]
    pub amount: Fen,
    /// What the customer sees they pay for (default: [payment] default_subject).
    #[arg(long)]
    pub subject: Option<String>,
    /// The order number (default: [payment] order_prefix, `-W`, the UTC time).
    #[arg(long, value_name = "OUT_TRADE_NO")]
    pub out_trade_no: Option<String>,
    /// Where the browser goes after paying (default: the notify_url host's root).
    #[arg(long, value_name = "URL")]
    pub return_url: Option<String>,
    /// Print JSON (amounts in integer fen).
    #[arg(long)]
    pub json: bool,
}

impl WebPayArgs {
    fn request(&self, config: &Config) -> WebPayRequest {
        let out_trade_no = self.out_trade_no.clone().unwrap_or_else(|| {
            format!(
                "{}-W{}",
                config.payment.order_prefix,
                Utc::now().format("%Y%m%d%H%M%S%3f")
            )
        });
        let return_url = self.return_url.clone().unwrap_or_else(|| {
            let mut root = config.gateway.notify_url.clone();
            root.set_path("/");
            root.set_query(None);
            root.set_fragment(None);
            root.to_string()
        });
        WebPayRequest {
            out_trade_no,
            total_amount: self.amount,
            subject: self
                .subject
                .clone()
                .unwrap_or_else(|| config.payment.default_subject.clone()),
            operator_id: config.gateway.operator_id.clone(),
            notify_url: config.gateway.notify_url.to_string(),
            return_url,
            payway: None,
        }
    }
}

/// `scanpay h5-url`: the pay page's URL, built and signed here.
pub fn run_h5(config_path: &Path, args: &WebPayArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    with_json_failure(args.json, out, |out| {
        let (config, gateway) = connect(config_path)?;
        let request = args.request(&config);
        let url = gateway
            .h5_url(&request)
            .map_err(|reason| GatewayCommandError::NotSent {
                what: "pay page",
                reason,
            })?;
        print(out, args.json, "pay page", &request, &url, config_path)
            .context("writing the pay page's URL to stdout")
    })
}

/// `scanpay app-url`: the wallet deep link, from the gateway.
pub fn run_app(config_path: &Path, args: &WebPayArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    const WHAT: &str = "app payment";
    with_json_failure(args.json, out, |out| {
        let (config, gateway) = connect(config_path)?;
        let request = args.request(&config);
        let next = format!(
            "the order may have been created: see with `{} query {}`",
            scanpay_command(config_path),
            request.out_trade_no
        );
        let (_, url) = ask(gateway.app_url(&request), WHAT, &next, |answer| {
            answer.url.clone().filter(|_| answer.is_success())
        })?;
        print(out, args.json, "wallet link", &request, &url, config_path)
            .context("writing the wallet link to stdout")
    })
}

fn print(
    out: &mut dyn Write,
    json: bool,
    what: &str,
    request: &WebPayRequest,
    url: &str,
    config_path: &Path,
) -> std::io::Result<()> {
    if json {
        return write_json(
            out,
            &json!({
                "ok": true,
                "url": url,
                "out_trade_no": request.out_trade_no,
                "amount_fen": request.total_amount,
                "subject": request.subject,
                "return_url": request.return_url,
            }),
        );
    }
    Report::new(format!(
        "{what} for order {} of {}:",
        request.out_trade_no, request.total_amount
    ))
    .row("url", url)
    .row("subject", &request.subject)
    .row("return_url", &request.return_url)
    .footer(format!(
        "see whether it is paid with: {} query {}",
        scanpay_command(config_path),
        request.out_trade_no
    ))
    .write(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{HostFacts, Origin};

    fn config() -> (tempfile::TempDir, Config) {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("k");
        std::fs::write(&key, "secret\n").unwrap();
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
        let text = format!(
            "[gateway]\nbase_url = \"http://127.0.0.1:9\"\napp_id = \"A1\"\nkey_file = \"{}\"\nnotify_url = \"https://pos.example.com:8443/scanpay/notify?x=1\"\n[payment]\norder_prefix = \"SHOP1\"\ndefault_subject = \"Shop\"\n[scanner]\nkind = \"stdin\"\n[display]\nkind = \"none\"\n",
            key.display()
        );
        let origin = Origin {
            dir: dir.path().to_path_buf(),
            host: HostFacts::default(),
        };
        let config = Config::from_toml(&text, Path::new("c.toml"), &origin).unwrap();
        (dir, config)
    }

    #[test]
    fn defaults_come_from_the_config() {
        let (_dir, config) = config();
        let args = WebPayArgs {
            amount: Fen(1250),
            subject: None,
            out_trade_no: None,
            return_url: None,
            json: false,
        };
        let request = args.request(&config);
        assert_eq!(request.subject, "Shop");
        assert_eq!(request.return_url, "https://pos.example.com:8443/");
        assert_eq!(
            request.notify_url,
            "https://pos.example.com:8443/scanpay/notify?x=1"
        );
        assert!(
            request.out_trade_no.starts_with("SHOP1-W"),
            "{}",
            request.out_trade_no
        );
        assert_eq!(request.out_trade_no.len(), "SHOP1-W".len() + 17);
        let args = WebPayArgs {
            subject: Some("Tea".into()),
            out_trade_no: Some("X-1".into()),
            return_url: Some("https://shop.example.com/thanks".into()),
            ..args
        };
        let request = args.request(&config);
        assert_eq!(
            (
                request.subject.as_str(),
                request.out_trade_no.as_str(),
                request.return_url.as_str()
            ),
            ("Tea", "X-1", "https://shop.example.com/thanks")
        );
    }
}
