//! `HttpGateway`: the gateway client over HTTP(S) with reqwest and rustls (ring).
//!
//! Its one subtle job is classifying failures: a request that never left the machine is
//! `Offline`, anything that may have reached the gateway without a verified answer coming
//! back is `Unknown`, and a verified answer is `Ok` whatever its result_code.

use std::time::Duration;

use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, LOCATION};
use reqwest::{redirect, StatusCode};
use serde_json::{Map, Value};

use super::error::{GatewayConfigError, GatewayError};
use super::Gateway;
use crate::protocol::messages::{
    self, AppAnswer, BalanceAnswer, BalanceQueryRequest, MalformedAnswer, Merchant, PayRequest,
    QueryRequest, SettleAnswer, SettleQueryRequest, SettleRequest, SignedParams, WebPayRequest,
};
use crate::protocol::{payment_code, AmountUnit, FieldError, TradeAnswer, VerifyError};

/// The design's default: a connection must be up within 3 s.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// The design's default: the whole request, answer included, within 10 s.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// A gateway answer is a small JSON object; anything bigger is not one.
const MAX_ANSWER_BYTES: usize = 1 << 20;
/// How much of an unexpected body an error message quotes.
const SNIPPET_CHARS: usize = 80;

const CODEPAY_PATH: &str = "/api/codepay/";
const QUERY_PATH: &str = "/api/query/";
const SETTLE_PATH: &str = "/api/settle/";
const SETTLEQUERY_PATH: &str = "/api/settlequery/";
const BALANCE_QUERY_PATH: &str = "/api/balance_query/";

/// Where the gateway is, who we are, and how long to wait.
#[derive(Debug, Clone)]
pub struct GatewayClientConfig {
    /// `http://` or `https://`, optionally with a path prefix; a trailing `/` is ignored.
    pub base_url: String,
    pub merchant: Merchant,
    /// Time allowed to establish the connection (DNS, TCP, TLS). Must be shorter than
    /// `request_timeout`, so that a slow connect is always recognised as `Offline`.
    pub connect_timeout: Duration,
    /// Time allowed for the whole request, answer included.
    pub request_timeout: Duration,
}

impl GatewayClientConfig {
    /// A config with the default timeouts (3 s connect, 10 s request).
    pub fn new(base_url: impl Into<String>, merchant: Merchant) -> GatewayClientConfig {
        GatewayClientConfig {
            base_url: base_url.into(),
            merchant,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
        }
    }
}

/// The gateway client. Cheap to clone (the connection pool is shared).
#[derive(Debug, Clone)]
pub struct HttpGateway {
    client: reqwest::Client,
    /// Validated, without a trailing `/`.
    base_url: String,
    merchant: Merchant,
    request_timeout: Duration,
}

impl HttpGateway {
    pub fn new(config: GatewayClientConfig) -> Result<HttpGateway, GatewayConfigError> {
        let base_url = validate_base_url(&config.base_url)?;
        for (name, value) in [
            ("connect_timeout", config.connect_timeout),
            ("request_timeout", config.request_timeout),
        ] {
            if value.is_zero() {
                return Err(GatewayConfigError::Timeout {
                    name,
                    value,
                    reason: "it must be more than zero",
                });
            }
        }
        if config.connect_timeout >= config.request_timeout {
            return Err(GatewayConfigError::Timeout {
                name: "connect_timeout",
                value: config.connect_timeout,
                reason: "it must be shorter than request_timeout, or a slow connect could not be told from a lost answer",
            });
        }
        let client = reqwest::Client::builder()
            .connect_timeout(config.connect_timeout)
            .timeout(config.request_timeout)
            // A redirect on a payment POST is suspicious; it is reported, never followed.
            .redirect(redirect::Policy::none())
            .user_agent(concat!("scanpay/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| GatewayConfigError::Client(error_chain(&e)))?;
        Ok(HttpGateway {
            client,
            base_url,
            merchant: config.merchant,
            request_timeout: config.request_timeout,
        })
    }

    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    pub fn merchant(&self) -> &Merchant {
        &self.merchant
    }

    /// Where `query` is sent: errors about a query answer name it.
    pub fn query_url(&self) -> String {
        self.url(QUERY_PATH)
    }

    /// The h5 payment page's URL, for a QR code (no network).
    pub fn h5_url(&self, request: &WebPayRequest) -> Result<String, FieldError> {
        messages::h5_url(&self.base_url, request, &self.merchant)
    }

    fn url(&self, path: &str) -> String {
        format!("{}{}", self.base_url, path)
    }

    /// POSTs signed JSON and reads the verified answer with `read`.
    async fn post<T>(
        &self,
        url: &str,
        signed: &SignedParams,
        read: impl FnOnce(Map<String, Value>) -> Result<T, MalformedAnswer>,
    ) -> Result<T, GatewayError> {
        tracing::debug!(url, "gateway request");
        let sent = self
            .client
            .post(url)
            .header(AUTHORIZATION, signed.authorization())
            .header(CONTENT_TYPE, "application/json; charset=utf-8")
            .body(signed.json_body())
            .send()
            .await;
        self.answer(url, signed, sent, read).await
    }

    /// GETs a signed query string and reads the verified answer with `read`.
    async fn get<T>(
        &self,
        path: &str,
        signed: &SignedParams,
        read: impl FnOnce(Map<String, Value>) -> Result<T, MalformedAnswer>,
    ) -> Result<T, GatewayError> {
        // Errors name the endpoint without its query string.
        let url = self.url(path);
        tracing::debug!(url, "gateway request");
        let full_url = messages::get_url(&self.base_url, path, signed);
        let sent = self.client.get(full_url).send().await;
        self.answer(&url, signed, sent, read).await
    }

    /// Turns what came back into a verified typed answer or a classified error.
    async fn answer<T>(
        &self,
        url: &str,
        signed: &SignedParams,
        sent: Result<reqwest::Response, reqwest::Error>,
        read: impl FnOnce(Map<String, Value>) -> Result<T, MalformedAnswer>,
    ) -> Result<T, GatewayError> {
        let unknown = |detail: String| GatewayError::Unknown {
            url: url.to_string(),
            detail: scrub(detail, signed),
        };
        let response = sent.map_err(|e| self.classify(url, signed, e))?;
        let status = response.status();
        if status.is_redirection() {
            let location = response
                .headers()
                .get(LOCATION)
                .and_then(|l| l.to_str().ok())
                .unwrap_or("nowhere")
                .to_string();
            return Err(unknown(format!(
                "HTTP {status} redirect to {location:?}, not followed (is base_url right, http vs https?)"
            )));
        }
        let body = self
            .read_body(response)
            .await
            .map_err(|e| self.classify(url, signed, e))?;
        let Some(body) = body else {
            return Err(unknown(format!(
                "HTTP {status} with an answer longer than {MAX_ANSWER_BYTES} bytes"
            )));
        };
        let body = match String::from_utf8(body) {
            Ok(text) => text,
            Err(_) => {
                return Err(unknown(format!(
                    "HTTP {status} with a body that is not UTF-8"
                )))
            }
        };
        // Quotes of the body are taken from a masked copy, so a cut never leaves part of an
        // echoed payment code.
        let quotable = scrub(body.clone(), signed);
        if status.is_server_error() {
            return Err(unknown(format!(
                "HTTP {status}; body starts {:?}",
                snippet(&quotable)
            )));
        }
        let result_response = match messages::verify(&body, &self.merchant) {
            Ok(map) => map,
            Err(e) => {
                let why = match e {
                    VerifyError::NotJson { detail, .. } => format!(
                        "answer is not JSON ({detail}); body starts {:?}",
                        snippet(&quotable)
                    ),
                    other => other.to_string(),
                };
                return Err(unknown(if status == StatusCode::OK {
                    format!("answer not trusted: {why}")
                } else {
                    format!("HTTP {status}, answer not trusted: {why}")
                }));
            }
        };
        let answer = read(result_response)
            .map_err(|e| unknown(format!("signed answer is malformed: {e}")))?;
        tracing::debug!(url, %status, "gateway answered");
        Ok(answer)
    }

    /// Reads at most `MAX_ANSWER_BYTES`; `None` if the body is longer.
    async fn read_body(
        &self,
        mut response: reqwest::Response,
    ) -> Result<Option<Vec<u8>>, reqwest::Error> {
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await? {
            if body.len() + chunk.len() > MAX_ANSWER_BYTES {
                return Ok(None);
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Some(body))
    }

    /// Offline if the request never left (the connection was never established), Unknown
    /// for everything else. The whole-request timeout cannot fire before the connect
    /// timeout (see `GatewayClientConfig::connect_timeout`), so a timeout that is not a
    /// connect error happened after connecting.
    fn classify(&self, url: &str, signed: &SignedParams, error: reqwest::Error) -> GatewayError {
        // The URL is named once, by us, and without its query string (a GET's parameters).
        let error = error.without_url();
        let chain = error_chain(&error);
        let detail = scrub(chain, signed);
        if error.is_connect() || error.is_builder() {
            let detail = if error.is_timeout() {
                format!("no connection within the connect timeout ({detail})")
            } else {
                detail
            };
            return GatewayError::Offline {
                url: url.to_string(),
                detail,
            };
        }
        let detail = if error.is_timeout() {
            format!(
                "no complete answer within request_timeout {:?} after connecting ({detail})",
                self.request_timeout
            )
        } else {
            detail
        };
        GatewayError::Unknown {
            url: url.to_string(),
            detail,
        }
    }
}

impl Gateway for HttpGateway {
    /// The answer is returned whatever order it names: what it means for a sale, or for
    /// the order a report asked for, is `protocol::outcome`'s to decide (`read_outcome`,
    /// `read_order`), once.
    async fn pay(&self, request: &PayRequest) -> Result<TradeAnswer, GatewayError> {
        let signed = request.signed(&self.merchant)?;
        let mut answer = self
            .post(&self.url(CODEPAY_PATH), &signed, read_trade_answer)
            .await?;
        // The gateway's own words go to the screen, the register and the journal: a reason
        // that names the refused code must not carry it whole.
        answer.err_code_des = answer.err_code_des.take().map(|d| scrub(d, &signed));
        Ok(answer)
    }

    /// As `pay`, the answer is returned whatever order it names.
    async fn query(&self, request: &QueryRequest) -> Result<TradeAnswer, GatewayError> {
        let signed = request.signed(&self.merchant)?;
        self.post(&self.url(QUERY_PATH), &signed, read_trade_answer)
            .await
    }

    async fn settle(&self, request: &SettleRequest) -> Result<SettleAnswer, GatewayError> {
        let signed = request.signed(&self.merchant)?;
        self.post(
            &self.url(SETTLE_PATH),
            &signed,
            SettleAnswer::from_result_response,
        )
        .await
    }

    async fn settle_query(
        &self,
        request: &SettleQueryRequest,
    ) -> Result<SettleAnswer, GatewayError> {
        let signed = request.signed(&self.merchant)?;
        self.post(
            &self.url(SETTLEQUERY_PATH),
            &signed,
            SettleAnswer::from_result_response,
        )
        .await
    }

    async fn balance(&self) -> Result<BalanceAnswer, GatewayError> {
        let signed = BalanceQueryRequest.signed(&self.merchant)?;
        self.post(
            &self.url(BALANCE_QUERY_PATH),
            &signed,
            BalanceAnswer::from_result_response,
        )
        .await
    }

    async fn app_url(&self, request: &WebPayRequest) -> Result<AppAnswer, GatewayError> {
        let signed = request.signed(&self.merchant)?;
        self.get(messages::APP_PATH, &signed, AppAnswer::from_result_response)
            .await
    }

    fn h5_url(&self, request: &WebPayRequest) -> Result<String, FieldError> {
        HttpGateway::h5_url(self, request)
    }
}

/// A codepay or query answer: `total_amount` in yuan (docs/protocol.md, Money; the query
/// answer's unit is the codepay's, a decision).
fn read_trade_answer(map: Map<String, Value>) -> Result<TradeAnswer, MalformedAnswer> {
    TradeAnswer::from_result_response(&map, AmountUnit::Yuan)
}

fn validate_base_url(text: &str) -> Result<String, GatewayConfigError> {
    let err = |reason: &str| GatewayConfigError::BaseUrl {
        url: text.to_string(),
        reason: reason.to_string(),
    };
    let url = url::Url::parse(text).map_err(|e| err(&e.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(err("the scheme must be http or https"));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(err("it has no host"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(err(
            "it must not carry credentials (they would appear in logs)",
        ));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(err("it must not have a query string or fragment"));
    }
    Ok(text.trim_end_matches('/').to_string())
}

/// An error and its causes, one after the other (reqwest's own message is terse).
fn error_chain(error: &reqwest::Error) -> String {
    let mut parts = vec![error.to_string()];
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        let text = cause.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        source = cause.source();
    }
    parts.join(": ")
}

/// Masks the payment code wherever a text might echo it (a gateway error page, a body).
fn scrub(detail: String, signed: &SignedParams) -> String {
    match signed.params().get("auth_code") {
        Some(code) if detail.contains(code.as_str()) => {
            detail.replace(code.as_str(), &payment_code::mask(code))
        }
        _ => detail,
    }
}

fn snippet(body: &str) -> String {
    body.chars().take(SNIPPET_CHARS).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{MerchantKey, SignRules};

    fn merchant() -> Merchant {
        Merchant {
            app_id: "APP".into(),
            key: MerchantKey::new("k"),
            rules: SignRules::default(),
        }
    }

    fn config(base_url: &str) -> GatewayClientConfig {
        GatewayClientConfig::new(base_url, merchant())
    }

    #[test]
    fn accepts_http_and_https_base_urls() {
        for (given, kept) in [
            ("http://api.juyouke.cc", "http://api.juyouke.cc"),
            ("https://gw.example.com/", "https://gw.example.com"),
            (
                "http://127.0.0.1:8080/prefix/",
                "http://127.0.0.1:8080/prefix",
            ),
        ] {
            let gateway = HttpGateway::new(config(given)).unwrap();
            assert_eq!(gateway.base_url(), kept);
            assert_eq!(gateway.url(QUERY_PATH), format!("{kept}/api/query/"));
        }
    }

    #[test]
    fn refuses_unusable_base_urls_and_timeouts() {
        for bad in [
            "api.juyouke.cc",
            "ftp://api.juyouke.cc",
            "http://user:pw@api.juyouke.cc",
            "http://api.juyouke.cc/?x=1",
            "",
        ] {
            let err = HttpGateway::new(config(bad)).unwrap_err();
            assert!(matches!(err, GatewayConfigError::BaseUrl { .. }), "{bad}");
            assert!(err.to_string().contains(&format!("{bad:?}")), "{err}");
        }
        let zero = GatewayClientConfig {
            connect_timeout: Duration::ZERO,
            ..config("http://h")
        };
        assert!(matches!(
            HttpGateway::new(zero),
            Err(GatewayConfigError::Timeout {
                name: "connect_timeout",
                ..
            })
        ));
        let inverted = GatewayClientConfig {
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(10),
            ..config("http://h")
        };
        let err = HttpGateway::new(inverted).unwrap_err();
        assert!(
            err.to_string().contains("shorter than request_timeout"),
            "{err}"
        );
    }

    #[test]
    fn defaults_are_the_designs() {
        let c = config("http://h");
        assert_eq!(c.connect_timeout, Duration::from_secs(3));
        assert_eq!(c.request_timeout, Duration::from_secs(10));
    }
}
