//! What the merchant's gateway commands (`query`, `balance`, `settle`, `settle-query`,
//! `h5-url`, `app-url`) share: the client built from the config, a runtime for the one
//! request, and one error type that turns every way a call can fail into a sentence that
//! says what happened and what to do.
//!
//! Exit codes: 0 only when the gateway answered with success; 78 when the config file
//! cannot be read or is invalid; 1 otherwise. With `--json`, a failure is also printed on stdout as
//! `{"ok": false, "error": KIND, "message": ...}` so that a script never has to parse stderr.
//! KIND is `unreachable` (nothing was sent), `unknown` (may have been received), `refused`
//! (with `result_code`, `err_code`, `err_code_des`), `not_sent`, `limit` (a withdrawal
//! limit), `config`, `storage` (the withdrawal record), `unauthorized` (the register token,
//! for `status`) or `error`; for `status`, `unreachable` means the daemon could not be reached.

use std::future::Future;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use serde_json::json;

use crate::config::{Config, ConfigError};
use crate::daemon::gateway_config;
use crate::gateway::{GatewayConfigError, GatewayError, HttpGateway};
use crate::protocol::{
    AppAnswer, BalanceAnswer, ErrCode, Fen, FieldError, ResultCode, SettleAnswer, TradeAnswer,
};

use super::output::write_json;
use super::withdrawal_log::WithdrawalLogError;
use crate::register::ChargeError;

/// Why a gateway command did not succeed.
#[derive(Debug, thiserror::Error)]
pub enum GatewayCommandError {
    /// The request never left the machine.
    #[error("gateway unreachable at {url}: {detail}; nothing was sent: check the network and [gateway] base_url, then run the command again")]
    Unreachable { url: String, detail: String },
    /// The request may have been received, but no verified answer came back.
    #[error("no trustworthy answer from the gateway at {url}: {detail}; {next}")]
    NoAnswer {
        url: String,
        detail: String,
        /// What the merchant should do now; depends on the command.
        next: String,
    },
    /// The gateway answered, and the answer is not a success.
    #[error("the gateway refused the {what}: {}{}; {next}", refusal(.result_code, .err_code), .err_code_des.as_deref().map(|d| format!(" ({d})")).unwrap_or_default())]
    Refused {
        what: &'static str,
        result_code: ResultCode,
        err_code: Option<ErrCode>,
        err_code_des: Option<String>,
        next: String,
    },
    /// Refused here, before anything was sent.
    #[error("{what} not sent: {reason}")]
    NotSent {
        what: &'static str,
        reason: FieldError,
    },
    /// A withdrawal that would pass the daily limit, counting this terminal's record.
    #[error("withdrawal of {amount} not sent: {already} already withdrawn today (China time) according to {}; {reason}", record.display())]
    DailyLimit {
        amount: Fen,
        already: Fen,
        record: PathBuf,
        reason: FieldError,
    },
    /// `{:#}` (as `main` prints errors) adds the reason.
    #[error("cannot use the [gateway] settings of the config")]
    Client(#[from] GatewayConfigError),
}

fn refusal(result_code: &ResultCode, err_code: &Option<ErrCode>) -> String {
    match err_code {
        Some(code) => format!("result_code {result_code}, err_code {code}"),
        None => format!("result_code {result_code}"),
    }
}

impl GatewayCommandError {
    /// A gateway error for the request `what`; `unknown_next` tells the merchant what to do
    /// when the request may have been received (it differs between a query and a withdrawal).
    pub fn from_gateway(err: GatewayError, what: &'static str, unknown_next: &str) -> Self {
        match err {
            GatewayError::Offline { url, detail } => {
                GatewayCommandError::Unreachable { url, detail }
            }
            GatewayError::Unknown { url, detail } => GatewayCommandError::NoAnswer {
                url,
                detail,
                next: unknown_next.to_string(),
            },
            GatewayError::Invalid(reason) => GatewayCommandError::NotSent { what, reason },
        }
    }

    /// A verified answer that is not a success.
    pub fn refused(
        what: &'static str,
        result_code: &ResultCode,
        err_code: &Option<ErrCode>,
        err_code_des: &Option<String>,
    ) -> Self {
        GatewayCommandError::Refused {
            what,
            result_code: result_code.clone(),
            err_code: err_code.clone(),
            err_code_des: err_code_des.clone(),
            next: advice(result_code, err_code).to_string(),
        }
    }

    /// The short machine-readable kind used in `--json` failures.
    pub fn kind(&self) -> &'static str {
        match self {
            GatewayCommandError::Unreachable { .. } => "unreachable",
            GatewayCommandError::NoAnswer { .. } => "unknown",
            GatewayCommandError::Refused { .. } => "refused",
            GatewayCommandError::NotSent {
                reason: FieldError::AboveLimit { .. },
                ..
            }
            | GatewayCommandError::DailyLimit { .. } => "limit",
            GatewayCommandError::NotSent { .. } => "not_sent",
            GatewayCommandError::Client(_) => "config",
        }
    }
}

/// The codes every gateway answer carries: what a refusal names.
pub trait AnswerCodes {
    fn result_code(&self) -> &ResultCode;
    fn err_code(&self) -> &Option<ErrCode>;
    fn err_code_des(&self) -> &Option<String>;
}

macro_rules! answer_codes {
    ($($answer:ty),*) => {$(
        impl AnswerCodes for $answer {
            fn result_code(&self) -> &ResultCode {
                &self.result_code
            }
            fn err_code(&self) -> &Option<ErrCode> {
                &self.err_code
            }
            fn err_code_des(&self) -> &Option<String> {
                &self.err_code_des
            }
        }
    )*};
}

answer_codes!(TradeAnswer, SettleAnswer, BalanceAnswer, AppAnswer);

/// What a gateway command does with its request's result: no verified answer is
/// [`GatewayCommandError::from_gateway`]'s error (`unknown_next` says what to do when the
/// request may have been received), and a verified answer `usable` does not take is a
/// refusal naming its codes. Gives the answer and what `usable` read from it.
pub fn usable_answer<A: AnswerCodes, T>(
    sent: Result<A, GatewayError>,
    what: &'static str,
    unknown_next: &str,
    usable: impl FnOnce(&A) -> Option<T>,
) -> Result<(A, T), GatewayCommandError> {
    let answer = sent.map_err(|err| GatewayCommandError::from_gateway(err, what, unknown_next))?;
    match usable(&answer) {
        Some(read) => Ok((answer, read)),
        None => Err(GatewayCommandError::refused(
            what,
            answer.result_code(),
            answer.err_code(),
            answer.err_code_des(),
        )),
    }
}

/// Sends one request on a runtime of its own and keeps its [`usable_answer`].
pub fn ask<A: AnswerCodes, T>(
    request: impl Future<Output = Result<A, GatewayError>>,
    what: &'static str,
    unknown_next: &str,
    usable: impl FnOnce(&A) -> Option<T>,
) -> anyhow::Result<(A, T)> {
    Ok(usable_answer(
        block_on(request)?,
        what,
        unknown_next,
        usable,
    )?)
}

/// What to do after a refusal, by its code.
fn advice(result_code: &ResultCode, err_code: &Option<ErrCode>) -> &'static str {
    match err_code {
        Some(ErrCode::SignError | ErrCode::NoSign) => {
            "check [gateway] key_file holds the key the gateway issued for this app_id; if it does, try [gateway] sign_lowercase_values = false"
        }
        Some(code) if code.is_configuration_problem() => {
            "check [gateway] app_id and the merchant account with the gateway; retrying will not help"
        }
        Some(ErrCode::Frequently) => "the gateway asks for fewer calls: wait a minute and try again",
        Some(ErrCode::SystemError) => "the gateway has a problem: try again later",
        Some(ErrCode::OrderNotFound) => {
            "check the number (one made a moment ago may take a few seconds to appear)"
        }
        Some(ErrCode::Insufficient) => "the balance is too low: see it with the balance command",
        Some(ErrCode::LackParams | ErrCode::ParamsError | ErrCode::JsonError) => {
            "the gateway did not accept the request's values; check them"
        }
        _ if *result_code == ResultCode::ServiceUnavailable => {
            "the gateway is unavailable: try again later"
        }
        _ => "see the gateway's reason above",
    }
}

/// Loads the config and builds the gateway client from its `[gateway]` section.
pub fn connect(config_path: &Path) -> anyhow::Result<(Config, HttpGateway)> {
    let config = Config::load(config_path)?;
    let gateway = gateway_from(&config)?;
    Ok((config, gateway))
}

/// The gateway client of a validated config.
pub fn gateway_from(config: &Config) -> Result<HttpGateway, GatewayCommandError> {
    Ok(HttpGateway::new(gateway_config(&config.gateway))?)
}

/// A runtime for a command's requests: `cli::run` is synchronous, and a command makes one
/// request, so a current-thread runtime is enough.
pub fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime for the gateway request")
}

/// Runs one future to completion on a runtime of its own.
pub fn block_on<F: Future>(future: F) -> anyhow::Result<F::Output> {
    Ok(runtime()?.block_on(future))
}

/// Runs a command body; with `--json`, a failure is also printed on stdout as
/// `{"ok": false, "error": KIND, "message": ...}` (plus the gateway's codes for a refusal).
pub fn with_json_failure(
    json: bool,
    out: &mut dyn std::io::Write,
    body: impl FnOnce(&mut dyn std::io::Write) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let result = body(out);
    if let (true, Err(err)) = (json, &result) {
        let mut failure = json!({
            "ok": false,
            "error": failure_kind(err),
            "message": format!("{err:#}"),
        });
        if let Some(GatewayCommandError::Refused {
            result_code,
            err_code,
            err_code_des,
            ..
        }) = err.downcast_ref::<GatewayCommandError>()
        {
            failure["result_code"] = json!(result_code);
            failure["err_code"] = json!(err_code);
            failure["err_code_des"] = json!(err_code_des);
        }
        write_json(out, &failure).context("writing the failure to stdout")?;
    }
    result
}

fn failure_kind(err: &anyhow::Error) -> &'static str {
    if let Some(err) = err.downcast_ref::<GatewayCommandError>() {
        err.kind()
    } else if err.downcast_ref::<ConfigError>().is_some() {
        "config"
    } else if err.downcast_ref::<WithdrawalLogError>().is_some() {
        "storage"
    } else if let Some(err) = err.downcast_ref::<ChargeError>() {
        match err {
            ChargeError::Unreachable { .. } | ChargeError::TimedOut { .. } => "unreachable",
            ChargeError::Unauthorized { .. } => "unauthorized",
            ChargeError::Setup(_)
            | ChargeError::Rejected { .. }
            | ChargeError::BadResponse { .. } => "error",
        }
    } else {
        "error"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offline_unknown_and_invalid_say_what_happened_and_what_to_do() {
        let offline = GatewayCommandError::from_gateway(
            GatewayError::Offline {
                url: "http://127.0.0.1:9/api/balance_query/".into(),
                detail: "connection refused".into(),
            },
            "balance query",
            "ask again",
        );
        assert_eq!(offline.kind(), "unreachable");
        assert_eq!(
            offline.to_string(),
            "gateway unreachable at http://127.0.0.1:9/api/balance_query/: connection refused; nothing was sent: check the network and [gateway] base_url, then run the command again"
        );
        let unknown = GatewayCommandError::from_gateway(
            GatewayError::Unknown {
                url: "http://gw/api/settle/".into(),
                detail: "timed out".into(),
            },
            "withdrawal",
            "it may have been received",
        );
        assert_eq!(unknown.kind(), "unknown");
        assert!(unknown.to_string().ends_with("; it may have been received"));
        let invalid = GatewayCommandError::from_gateway(
            GatewayError::Invalid(FieldError::Missing { field: "trade_no" }),
            "withdrawal query",
            "",
        );
        assert_eq!(invalid.kind(), "not_sent");
        assert!(invalid
            .to_string()
            .starts_with("withdrawal query not sent: trade_no is missing"));
    }

    #[test]
    fn a_refusal_names_the_codes_and_the_remedy() {
        let err = GatewayCommandError::refused(
            "withdrawal",
            &ResultCode::BusinessFailure,
            &Some(ErrCode::Insufficient),
            &Some("balance too low".into()),
        );
        assert_eq!(
            err.to_string(),
            "the gateway refused the withdrawal: result_code 40004, err_code INSUFFICIENT (balance too low); the balance is too low: see it with the balance command"
        );
        let err = GatewayCommandError::refused(
            "balance query",
            &ResultCode::IllegalParameter,
            &Some(ErrCode::SignError),
            &None,
        );
        assert!(err.to_string().contains("sign_lowercase_values"), "{err}");
    }

    #[test]
    fn an_answer_is_used_only_when_verified_and_taken() {
        let answer = |result_code, err_code, url: Option<&str>| AppAnswer {
            result_code,
            err_code,
            err_code_des: Some("why".into()),
            url: url.map(str::to_string),
            result_response: Default::default(),
        };
        let url = |answer: &AppAnswer| answer.url.clone().filter(|_| answer.is_success());
        let (_, read) = usable_answer(
            Ok(answer(ResultCode::Success, None, Some("weixin://pay"))),
            "app payment",
            "",
            url,
        )
        .unwrap();
        assert_eq!(read, "weixin://pay");

        let refused = usable_answer(
            Ok(answer(
                ResultCode::BusinessFailure,
                Some(ErrCode::Frequently),
                None,
            )),
            "app payment",
            "",
            url,
        )
        .unwrap_err();
        match &refused {
            GatewayCommandError::Refused {
                what,
                result_code,
                err_code,
                err_code_des,
                ..
            } => {
                assert_eq!(*what, "app payment");
                assert_eq!(*result_code, ResultCode::BusinessFailure);
                assert_eq!(*err_code, Some(ErrCode::Frequently));
                assert_eq!(err_code_des.as_deref(), Some("why"));
            }
            other => panic!("{other:?}"),
        }
        // A success without what the command needs is a refusal too, not a silent success.
        let empty = usable_answer(
            Ok(answer(ResultCode::Success, None, None)),
            "app payment",
            "",
            url,
        );
        assert_eq!(empty.unwrap_err().kind(), "refused");

        let lost = usable_answer(
            Err::<AppAnswer, _>(GatewayError::Unknown {
                url: "http://gw/api/app/".into(),
                detail: "timed out".into(),
            }),
            "app payment",
            "look it up",
            url,
        )
        .unwrap_err();
        assert_eq!(lost.kind(), "unknown");
        assert!(lost.to_string().ends_with("; look it up"), "{lost}");
    }

    #[test]
    fn json_failures_carry_the_kind_and_the_codes() {
        let mut out = Vec::new();
        let result = with_json_failure(true, &mut out, |_| {
            Err(GatewayCommandError::refused(
                "order query",
                &ResultCode::BusinessFailure,
                &Some(ErrCode::OrderNotFound),
                &Some("no such order".into()),
            )
            .into())
        });
        assert!(result.is_err());
        let printed: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(printed["ok"], false);
        assert_eq!(printed["error"], "refused");
        assert_eq!(printed["err_code"], "ORDER_NOTFOUND");
        assert_eq!(printed["result_code"], "40004");

        let mut out = Vec::new();
        let _ = with_json_failure(false, &mut out, |_| Err(anyhow::anyhow!("x")));
        assert!(out.is_empty(), "without --json nothing goes to stdout");
    }
}
