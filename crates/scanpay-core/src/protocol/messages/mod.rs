//! Typed messages for every endpoint of the gateway (`docs/protocol.md`): what the terminal
//! sends (`requests`: checked, then signed) and what it reads back (`answers`: verified, then
//! read into typed fields). Pure: the HTTP adapter (`crate::gateway`) does the sending.

pub mod answers;
pub mod requests;

pub use answers::{
    parse_notify, verify, AmountUnit, AppAnswer, BalanceAnswer, ClockTime, MalformedAnswer,
    RefusedCallback, SettleAnswer, TradeAnswer, WithdrawStatus, WithdrawalWay,
};
pub use requests::{
    check_daily_withdrawal, get_url, h5_url, limits, BalanceQueryRequest, FieldError, Merchant,
    PayRequest, QueryRequest, SettleQueryRequest, SettleRequest, SignedParams, WebPayRequest,
    APP_PATH, H5_PATH,
};

/// The merchant both halves' tests sign with.
#[cfg(test)]
mod test_merchant {
    use super::Merchant;
    use crate::protocol::signing::{MerchantKey, SignRules};

    pub const KEY: &str = "8f3b2c1d4e5a6978695a4b3c2d1e0f7a";

    pub fn merchant() -> Merchant {
        Merchant {
            app_id: "JYK2018100001".into(),
            key: MerchantKey::new(KEY),
            rules: SignRules::default(),
        }
    }
}
