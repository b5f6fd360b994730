//! Fault injection: what goes wrong between the merchant and the gateway, on purpose.
//! Set at runtime through the handle or `POST /_sim/faults` (the same JSON both ways).
//!
//! ```json
//! {"latency_ms": 200, "fault": "drop_after_record", "count": 1, "endpoints": ["codepay"]}
//! {"fault": {"http_status": 503}}
//! {"fault": {"delayed_delivery": 70000}, "count": 1, "endpoints": ["codepay"]}
//! {"down_ms": 2000}
//! ```
//! `count` absent means persistent; `endpoints` absent or empty means every gateway endpoint
//! (`codepay`, `query`, `settle`, `settlequery`, `balance_query`, `h5`, `app`). The admin
//! endpoints under `/_sim/` are never faulted.

use serde::{Deserialize, Serialize};

/// One thing that goes wrong with a request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Fault {
    /// The connection closes before the gateway records anything: no answer, no order.
    DropBeforeRecord,
    /// The gateway records the request, then the connection closes: the answer is lost.
    DropAfterRecord,
    /// An HTTP error page with this status (500, 502, 503...), before anything is recorded.
    HttpStatus(u16),
    /// The request is recorded, then an HTTP error page with this status comes back.
    HttpStatusAfterRecord(u16),
    /// The request is recorded; the answer's JSON is cut in half (HTTP framing intact).
    TruncatedBody,
    /// The request is recorded; the answer has no `sign`.
    UnsignedBody,
    /// The request is recorded; the answer is signed with the wrong key.
    WrongSign,
    /// FREQUENTLY (20000) before anything is recorded.
    Frequently,
    /// The connection closes before the gateway records anything, and the request itself
    /// reaches the gateway this many ms later (held up in the network): it is recorded and
    /// answered to nobody then. The simulator does not expire payment codes, so a pay so
    /// delivered still charges: it stands for a success the terminal learns of late.
    DelayedDelivery(u64),
}

/// The fault settings. `Default` is "no faults".
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Faults {
    /// Added before every gateway request is handled.
    #[serde(default)]
    pub latency_ms: u64,
    #[serde(default)]
    pub fault: Option<Fault>,
    /// How many matching requests the fault hits; None: every one until changed.
    #[serde(default)]
    pub count: Option<u32>,
    /// Which endpoints the fault hits; empty: all of them.
    #[serde(default)]
    pub endpoints: Vec<String>,
    /// Admin endpoint only: stop listening for this long, then listen again on the same port.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub down_ms: Option<u64>,
}

/// The gateway endpoints, by the names faults use.
pub const ENDPOINTS: [&str; 7] = [
    "codepay",
    "query",
    "settle",
    "settlequery",
    "balance_query",
    "h5",
    "app",
];

/// Faults that name an endpoint that does not exist: a typo would otherwise silently
/// fault nothing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown endpoint {0:?} in faults; expected one of codepay, query, settle, settlequery, balance_query, h5, app")]
pub struct UnknownEndpoint(pub String);

impl Faults {
    /// A fault that hits the next `count` requests to any endpoint.
    pub fn next(count: u32, fault: Fault) -> Faults {
        Faults {
            fault: Some(fault),
            count: Some(count),
            ..Faults::default()
        }
    }

    /// A fault that hits every request until changed.
    pub fn always(fault: Fault) -> Faults {
        Faults {
            fault: Some(fault),
            ..Faults::default()
        }
    }

    /// Only these endpoints.
    pub fn on(mut self, endpoints: &[&str]) -> Faults {
        self.endpoints = endpoints.iter().map(|e| e.to_string()).collect();
        self
    }

    pub fn validate(&self) -> Result<(), UnknownEndpoint> {
        match self
            .endpoints
            .iter()
            .find(|e| !ENDPOINTS.contains(&e.as_str()))
        {
            Some(bad) => Err(UnknownEndpoint(bad.clone())),
            None => Ok(()),
        }
    }

    /// What a request to `endpoint` meets: the added latency and the fault, if any. Uses up
    /// one of `count`.
    pub fn take(&mut self, endpoint: &str) -> (u64, Option<Fault>) {
        let applies = self.endpoints.is_empty() || self.endpoints.iter().any(|e| e == endpoint);
        let fault = match (&self.fault, self.count) {
            (Some(_), _) if !applies => None,
            (Some(fault), None) => Some(fault.clone()),
            (Some(fault), Some(n)) if n > 0 => {
                let fault = fault.clone();
                self.count = Some(n - 1);
                if n == 1 {
                    self.fault = None;
                    self.count = None;
                }
                Some(fault)
            }
            _ => None,
        };
        (self.latency_ms, fault)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_shot_faults_wear_off_and_persistent_ones_stay() {
        let mut faults = Faults::next(2, Fault::TruncatedBody).on(&["codepay"]);
        assert_eq!(faults.take("query"), (0, None));
        assert_eq!(faults.take("codepay"), (0, Some(Fault::TruncatedBody)));
        assert_eq!(faults.take("codepay"), (0, Some(Fault::TruncatedBody)));
        assert_eq!(faults.take("codepay"), (0, None));
        let mut faults = Faults::always(Fault::HttpStatus(503));
        for _ in 0..3 {
            assert_eq!(faults.take("settle"), (0, Some(Fault::HttpStatus(503))));
        }
    }

    #[test]
    fn reads_the_admin_json() {
        let faults: Faults = serde_json::from_str(
            r#"{"latency_ms":200,"fault":{"http_status":503},"count":1,"endpoints":["query"]}"#,
        )
        .unwrap();
        assert_eq!(faults.fault, Some(Fault::HttpStatus(503)));
        assert_eq!(faults.latency_ms, 200);
        let faults: Faults = serde_json::from_str(r#"{"fault":"drop_after_record"}"#).unwrap();
        assert_eq!(faults.fault, Some(Fault::DropAfterRecord));
        let faults: Faults =
            serde_json::from_str(r#"{"fault":{"delayed_delivery":70000}}"#).unwrap();
        assert_eq!(faults.fault, Some(Fault::DelayedDelivery(70_000)));
        assert!(serde_json::from_str::<Faults>(r#"{"fault":"explode"}"#).is_err());
        assert!(serde_json::from_str::<Faults>(r#"{"latncy_ms":1}"#).is_err());
        let typo = Faults::always(Fault::WrongSign).on(&["codepey"]);
        assert_eq!(typo.validate(), Err(UnknownEndpoint("codepey".into())));
    }
}
