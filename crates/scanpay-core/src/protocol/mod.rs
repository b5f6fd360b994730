//! The gateway's wire format (`docs/protocol.md`): canonical JSON and MD5 signatures, exact
//! money, codes, payment codes, typed messages and the reading of an outcome.
//!
//! "The spec", in comments here and elsewhere, is the gateway's own API document; the
//! project's description of it, with every decision taken, is `docs/protocol.md`.
//!
//! `messages` reads an answer's fields; `outcome` alone decides what they mean. What is
//! trusted in an answer (keys exactly lowercase, "paid" only with this sale's order and
//! amount, which values' case matters and why) is written down once, in `outcome`.
//!
//! Architecture invariant: pure. No I/O, no clock, no tokio/reqwest/sled; callers pass
//! everything in (keys, times, texts) and get values or typed errors back.

pub mod codes;
pub mod literal_json;
pub mod messages;
pub mod money;
pub mod outcome;
pub mod payment_code;
pub mod signing;

pub use codes::{ErrCode, ResultCode, TradeStatus};
pub use messages::{
    parse_notify, AmountUnit, AppAnswer, BalanceAnswer, BalanceQueryRequest, FieldError,
    MalformedAnswer, Merchant, PayRequest, QueryRequest, RefusedCallback, SettleAnswer,
    SettleQueryRequest, SettleRequest, SignedParams, TradeAnswer, WebPayRequest, WithdrawStatus,
    WithdrawalWay,
};
pub use money::{Fen, MoneyError};
pub use outcome::{read_order, read_outcome, AnswerTo, Call, Expected, OtherOrder, Outcome};
pub use payment_code::{PaymentCode, PaymentCodeError, Payway};
pub use signing::{MerchantKey, SignRules, VerifyError};
