//! The gateway's result_code, err_code and trade_status, as enums that keep unknown values.

/// Declares a string-coded enum with an `Other(String)` fallback, `parse` and `as_str`.
/// Used for the numeric codes of `messages` too (withdraw_status, withdrawal_way).
macro_rules! wire_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident = $text:literal),* $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
        #[serde(from = "String", into = "String")]
        pub enum $name {
            $($(#[$vmeta])* $variant,)*
            /// A value this version does not know; kept as received.
            Other(String),
        }

        impl $name {
            /// Reads a code whatever its ASCII case: with `sign_lowercase_values` the
            /// signature covers only the lowercased text, so case is not authenticated and
            /// must not change the meaning (`userpaying` is USERPAYING).
            pub fn parse(text: &str) -> $name {
                $(if text.eq_ignore_ascii_case($text) {
                    return $name::$variant;
                })*
                $name::Other(text.to_string())
            }

            pub fn as_str(&self) -> &str {
                match self {
                    $($name::$variant => $text,)*
                    $name::Other(other) => other,
                }
            }
        }

        impl From<String> for $name {
            fn from(text: String) -> $name {
                $name::parse(&text)
            }
        }

        impl From<$name> for String {
            fn from(value: $name) -> String {
                value.as_str().to_string()
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

pub(crate) use wire_enum;

wire_enum! {
    /// `result_code`: the outcome class of a call.
    ResultCode {
        Success = "10000",
        ServiceUnavailable = "20000",
        MissingParameter = "40001",
        IllegalParameter = "40002",
        BusinessFailure = "40004",
    }
}

wire_enum! {
    /// `err_code`: the business reason.
    ErrCode {
        Success = "SUCCESS",
        OrderPaid = "ORDERPAID",
        OrderClosed = "ORDERCLOSED",
        OrderConflict = "ORDER_CONFLICT",
        OrderNotFound = "ORDER_NOTFOUND",
        SystemError = "SYSTEMERROR",
        AppIdNotExist = "APPID_NOT_EXIST",
        LackParams = "LACK_PARAMS",
        SignError = "SIGNERROR",
        NoSign = "NOSIGN",
        RequirePostMethod = "REQUIRE_POST_METHOD",
        JsonError = "JSONERROR",
        ParamsError = "PARAMSERROR",
        UserPaying = "USERPAYING",
        Frequently = "FREQUENTLY",
        Insufficient = "INSUFFICIENT",
        Unactivate = "UNACTIVATE",
        AgentNotFound = "AGENT_NOTFOUND",
    }
}

wire_enum! {
    /// `trade_status`: where an order stands.
    TradeStatus {
        TradeFail = "TRADE_FAIL",
        TradeClosed = "TRADE_CLOSED",
        TradeFinished = "TRADE_FINISHED",
        TradeSuccess = "TRADE_SUCCESS",
        WaitBuyerPay = "WAIT_BUYER_PAY",
        CancelInProgress = "CANCEL_INPROGRESS",
        Refunded = "REFUNDED",
        RefundError = "REFUND_ERROR",
        InvalidStatusCode = "INVALID_STATUS_CODE",
    }
}

impl ErrCode {
    /// Codes that mean the merchant's setup is wrong: the order was not accepted, and retrying
    /// the same request will not help.
    pub fn is_configuration_problem(&self) -> bool {
        matches!(
            self,
            ErrCode::SignError
                | ErrCode::NoSign
                | ErrCode::AppIdNotExist
                | ErrCode::Unactivate
                | ErrCode::AgentNotFound
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_known_and_unknown_values() {
        assert_eq!(ResultCode::parse("10000"), ResultCode::Success);
        assert_eq!(ResultCode::parse("10000").as_str(), "10000");
        assert_eq!(ErrCode::parse("ORDER_CONFLICT"), ErrCode::OrderConflict);
        assert_eq!(ErrCode::parse("userPaying"), ErrCode::UserPaying);
        assert_eq!(ErrCode::parse("userpaying").as_str(), "USERPAYING");
        assert_eq!(
            TradeStatus::parse("trade_success"),
            TradeStatus::TradeSuccess
        );
        assert_eq!(
            ErrCode::parse("NEW_CODE"),
            ErrCode::Other("NEW_CODE".into())
        );
        assert_eq!(ErrCode::Other("NEW_CODE".into()).to_string(), "NEW_CODE");
        assert_eq!(
            TradeStatus::parse("WAIT_BUYER_PAY"),
            TradeStatus::WaitBuyerPay
        );
        let json = serde_json::to_string(&TradeStatus::Refunded).unwrap();
        assert_eq!(json, r#""REFUNDED""#);
        assert_eq!(
            serde_json::from_str::<TradeStatus>(&json).unwrap(),
            TradeStatus::Refunded
        );
    }
}
