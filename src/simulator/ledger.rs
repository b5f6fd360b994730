//! The simulated gateway's books: orders, used payment codes, the merchant balance and
//! withdrawals. Pure and synchronous: every operation takes `now` and returns what the
//! gateway would answer, so the rules (uniqueness, one-use codes, limits, scripts, the rate
//! limit) are unit-tested without a server.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

use super::script::{PayScript, WithdrawalScript};
use crate::protocol::{ErrCode, Fen, PaymentCode, Payway, ResultCode};

/// The most one withdrawal may take: ¥50,000 (docs/protocol.md, Money).
pub const WITHDRAW_PER_REQUEST: Fen = Fen(5_000_000);
/// The most all withdrawals of one day may take: ¥1,000,000.
pub const WITHDRAW_PER_DAY: Fen = Fen(100_000_000);
/// The fee taken from a withdrawal, in thousandths of its amount (0.1 %, rounded down).
const WITHDRAW_FEE_PER_MILLE: u64 = 1;
/// The gateway's days follow China time (UTC+8): the daily limit resets at midnight there.
const CHINA_OFFSET_SECS: u64 = 8 * 3600;

/// Where an order stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderState {
    WaitingCustomer,
    Paid,
    Closed,
    Failed,
}

/// The simulated gateway refusing a request: it was not (or could not be) carried out as
/// asked. Answered as result_code, err_code and err_code_des.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GatewayRefusal {
    pub result_code: ResultCode,
    pub err_code: ErrCode,
    pub des: String,
}

impl GatewayRefusal {
    pub fn new(
        result_code: ResultCode,
        err_code: ErrCode,
        des: impl Into<String>,
    ) -> GatewayRefusal {
        GatewayRefusal {
            result_code,
            err_code,
            des: des.into(),
        }
    }

    /// A business failure (40004).
    pub fn business(err_code: ErrCode, des: impl Into<String>) -> GatewayRefusal {
        GatewayRefusal::new(ResultCode::BusinessFailure, err_code, des)
    }
}

/// A validated pay or h5/app request (the server checked every field).
#[derive(Debug, Clone)]
pub struct OrderRequest {
    pub out_trade_no: String,
    pub amount: Fen,
    pub subject: String,
    pub notify_url: Option<String>,
    /// None for h5/app orders: the customer pays on the page.
    pub auth_code: Option<PaymentCode>,
    pub payway: Option<Payway>,
    /// Every business parameter as received (sign excluded): a resend with different
    /// parameters is an ORDER_CONFLICT.
    pub params: BTreeMap<String, String>,
}

/// What an answer about an order needs to say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TradeView {
    pub out_trade_no: String,
    pub trade_no: String,
    pub amount: Fen,
    pub subject: String,
    pub state: OrderState,
    /// Why a failed or closed order did not pay.
    pub failure: Option<(ErrCode, String)>,
    pub paid_at: Option<SystemTime>,
    /// The wallet, as the gateway's `paytype` number ("0" when unknown).
    pub paytype: String,
    /// Where an h5 page sends the customer back to.
    pub return_url: Option<String>,
}

/// What the pay endpoint answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PayReply {
    /// The order's state, in the pay answer's form.
    Order(TradeView),
    /// Refused; the order may or may not exist (SYSTEMERROR after recording, ORDERPAID...).
    Refused(GatewayRefusal),
}

/// A callback to send: the order became paid and has a notify_url.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    pub notify_url: String,
    pub order: TradeView,
}

/// Where a withdrawal stands in the ledger (its `withdraw_status` on the wire).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum WithdrawalState {
    Failed,
    Succeeded,
    Processing,
    ReturnedByBank,
    ManualReview,
}

impl WithdrawalState {
    /// The gateway's number for it.
    pub fn code(self) -> &'static str {
        match self {
            WithdrawalState::Failed => "0",
            WithdrawalState::Succeeded => "1",
            WithdrawalState::Processing => "2",
            WithdrawalState::ReturnedByBank => "3",
            WithdrawalState::ManualReview => "9",
        }
    }
}

/// What settle and settlequery answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WithdrawalView {
    pub trade_no: String,
    pub amount: Fen,
    pub fee: Fen,
    pub status: WithdrawalState,
    pub settled_at: Option<SystemTime>,
}

/// What balance_query answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BalanceView {
    pub balance: Fen,
    pub withdraw_limit: Fen,
}

#[derive(Debug, Clone)]
struct Order {
    request: OrderRequest,
    trade_no: String,
    script: PayScript,
    state: OrderState,
    failure: Option<(ErrCode, String)>,
    created_at: SystemTime,
    paid_at: Option<SystemTime>,
    queries: u32,
    pay_requests: u32,
    notify_attempts: u32,
    last_query: Option<SystemTime>,
}

impl Order {
    fn view(&self) -> TradeView {
        let payway = self
            .request
            .payway
            .or_else(|| self.request.auth_code.as_ref().and_then(|c| c.payway()));
        TradeView {
            out_trade_no: self.request.out_trade_no.clone(),
            trade_no: self.trade_no.clone(),
            amount: self.request.amount,
            subject: self.request.subject.clone(),
            state: self.state,
            failure: self.failure.clone(),
            paid_at: self.paid_at,
            paytype: payway.map_or("0".to_string(), |p| p.code().to_string()),
            return_url: self.request.params.get("return_url").cloned(),
        }
    }
}

#[derive(Debug, Clone)]
struct Withdrawal {
    trade_no: String,
    amount: Fen,
    fee: Fen,
    status: WithdrawalState,
    script: WithdrawalScript,
    settled_at: Option<SystemTime>,
    queries: u32,
}

impl Withdrawal {
    fn view(&self) -> WithdrawalView {
        WithdrawalView {
            trade_no: self.trade_no.clone(),
            amount: self.amount,
            fee: self.fee,
            status: self.status,
            settled_at: self.settled_at,
        }
    }
}

/// One order as tests and `GET /_sim/orders` see it. The simulated gateway's own records:
/// the payment code is kept whole, since tests check which code was charged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OrderSnapshot {
    pub out_trade_no: String,
    pub trade_no: String,
    pub state: OrderState,
    pub amount_fen: u64,
    pub subject: String,
    pub auth_code: Option<String>,
    pub err_code: Option<String>,
    /// Pay requests (codepay, h5, app) received for this out_trade_no, resends included.
    pub pay_requests: u32,
    pub queries: u32,
    /// Callbacks attempted (the spec: at most one).
    pub notify_attempts: u32,
}

/// One withdrawal as tests see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WithdrawalSnapshot {
    pub trade_no: String,
    pub amount_fen: u64,
    pub fee_fen: u64,
    pub status: WithdrawalState,
}

/// The whole ledger, as tests see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LedgerSnapshot {
    pub balance_fen: u64,
    pub orders: Vec<OrderSnapshot>,
    pub withdrawals: Vec<WithdrawalSnapshot>,
    /// Payment codes used so far, in the order first used.
    pub codes_used: Vec<String>,
}

impl LedgerSnapshot {
    pub fn order(&self, out_trade_no: &str) -> Option<&OrderSnapshot> {
        self.orders.iter().find(|o| o.out_trade_no == out_trade_no)
    }
}

/// A tester's change to an order's books (`POST /_sim/orders/{out_trade_no}`,
/// `SimulatorHandle::edit_order`), to make the gateway disagree with the terminal on
/// purpose, as `scanpay reconcile` must notice. No callback is sent for it and no script runs
/// on it any more: it stands for the gateway's records saying otherwise, not for a customer.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrderEdit {
    /// What the order is now; `None`: unchanged.
    #[serde(default)]
    pub state: Option<EditedState>,
    /// The amount the gateway now reports for it (`total_amount`); `None`: unchanged.
    #[serde(default)]
    pub amount_fen: Option<Fen>,
}

/// What an `OrderEdit` makes of an order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EditedState {
    /// Paid (the balance takes its amount).
    Paid,
    /// Closed, not paid (ORDERCLOSED; a paid amount leaves the balance).
    Closed,
    /// Gone: queries say ORDER_NOTFOUND (its payment code stays used).
    Forget,
}

/// The books.
#[derive(Debug)]
pub struct Ledger {
    orders: BTreeMap<String, Order>,
    trade_nos: HashMap<String, String>,
    /// payment code → the out_trade_no it was first used on.
    codes_used: HashMap<String, String>,
    codes_in_order: Vec<String>,
    balance: Fen,
    withdrawals: BTreeMap<String, Withdrawal>,
    withdrawn_by_day: HashMap<u64, Fen>,
    query_min_interval: Option<Duration>,
    next_seq: u64,
    notifications: Vec<Notification>,
}

impl Ledger {
    /// `query_min_interval`: queries on one order closer than this are refused with FREQUENTLY.
    pub fn new(balance: Fen, query_min_interval: Option<Duration>) -> Ledger {
        Ledger {
            orders: BTreeMap::new(),
            trade_nos: HashMap::new(),
            codes_used: HashMap::new(),
            codes_in_order: Vec::new(),
            balance,
            withdrawals: BTreeMap::new(),
            withdrawn_by_day: HashMap::new(),
            query_min_interval,
            next_seq: 1,
            notifications: Vec::new(),
        }
    }

    /// A codepay request (or, with no auth_code, an h5/app order being opened).
    pub fn pay(&mut self, request: OrderRequest, now: SystemTime) -> PayReply {
        if let Some(order) = self.orders.get_mut(&request.out_trade_no) {
            order.pay_requests += 1;
            if order.request.params != request.params {
                return PayReply::Refused(GatewayRefusal::business(
                    ErrCode::OrderConflict,
                    format!(
                        "out_trade_no {} already exists with different parameters; query it, or use a new out_trade_no for a new sale",
                        request.out_trade_no
                    ),
                ));
            }
            Self::run_script(order, now, &mut self.balance, &mut self.notifications);
            if order.state == OrderState::Paid {
                return PayReply::Refused(GatewayRefusal::business(
                    ErrCode::OrderPaid,
                    format!("order {} is already paid", request.out_trade_no),
                ));
            }
            // The same request again while the customer confirms, or after it failed:
            // answered as before (the gateway is idempotent on out_trade_no).
            return PayReply::Order(order.view());
        }

        let trade_no = self.next_number("SIM", now);
        let mut state = OrderState::WaitingCustomer;
        let mut failure = None;
        let mut script = match &request.auth_code {
            Some(code) => PayScript::for_code(code.expose()),
            // An h5/app order waits until the tester pays it on the page.
            None => PayScript::WaitForever,
        };
        if let Some(code) = &request.auth_code {
            match self.codes_used.get(code.expose()) {
                Some(first) => {
                    state = OrderState::Failed;
                    failure = Some((
                        ErrCode::ParamsError,
                        format!(
                            "payment code {code} was already used (order {first}); ask the customer to refresh the code in the wallet app"
                        ),
                    ));
                    script = PayScript::WaitForever;
                }
                None => {
                    self.codes_used
                        .insert(code.expose().to_string(), request.out_trade_no.clone());
                    self.codes_in_order.push(code.expose().to_string());
                }
            }
        }
        if let PayScript::Decline { err_code, des } = &script {
            state = OrderState::Failed;
            failure = Some((err_code.clone(), des.to_string()));
        }
        let out_trade_no = request.out_trade_no.clone();
        let mut order = Order {
            request,
            trade_no: trade_no.clone(),
            script,
            state,
            failure,
            created_at: now,
            paid_at: None,
            queries: 0,
            pay_requests: 1,
            notify_attempts: 0,
            last_query: None,
        };
        if order.state == OrderState::WaitingCustomer
            && matches!(
                order.script,
                PayScript::Succeed | PayScript::SystemErrorThenPaid
            )
        {
            Self::mark_paid(&mut order, now, &mut self.balance, &mut self.notifications);
        }
        let system_error = order.script == PayScript::SystemErrorThenPaid;
        let view = order.view();
        self.trade_nos.insert(trade_no, out_trade_no.clone());
        self.orders.insert(out_trade_no, order);
        if system_error {
            return PayReply::Refused(GatewayRefusal::new(
                ResultCode::ServiceUnavailable,
                ErrCode::SystemError,
                "system busy; query the order for its outcome",
            ));
        }
        PayReply::Order(view)
    }

    /// The tester paid an h5/app order on its page.
    pub fn confirm_h5(
        &mut self,
        trade_no: &str,
        now: SystemTime,
    ) -> Result<TradeView, GatewayRefusal> {
        let out_trade_no = self
            .trade_nos
            .get(trade_no)
            .ok_or_else(|| not_found("trade_no", trade_no))?;
        let order = self
            .orders
            .get_mut(out_trade_no)
            .ok_or_else(|| not_found("trade_no", trade_no))?;
        if order.state == OrderState::WaitingCustomer {
            Self::mark_paid(order, now, &mut self.balance, &mut self.notifications);
        }
        Ok(order.view())
    }

    /// An order by out_trade_no, without counting a query.
    pub fn view(&self, out_trade_no: &str) -> Option<TradeView> {
        self.orders.get(out_trade_no).map(Order::view)
    }

    /// An order by trade_no, for the h5 page.
    pub fn view_by_trade_no(&self, trade_no: &str) -> Result<TradeView, GatewayRefusal> {
        self.trade_nos
            .get(trade_no)
            .and_then(|o| self.orders.get(o))
            .map(Order::view)
            .ok_or_else(|| not_found("trade_no", trade_no))
    }

    /// A query by out_trade_no or trade_no (the server checked that exactly one is given).
    pub fn query(
        &mut self,
        out_trade_no: Option<&str>,
        trade_no: Option<&str>,
        now: SystemTime,
    ) -> Result<TradeView, GatewayRefusal> {
        let key = match (out_trade_no, trade_no) {
            (Some(o), _) => o.to_string(),
            (None, Some(t)) => match self.trade_nos.get(t) {
                Some(o) => o.clone(),
                None => return Err(not_found("trade_no", t)),
            },
            (None, None) => return Err(not_found("out_trade_no", "")),
        };
        let interval = self.query_min_interval;
        let Some(order) = self.orders.get_mut(&key) else {
            return Err(not_found("out_trade_no", &key));
        };
        if let (Some(min), Some(last)) = (interval, order.last_query) {
            let since = now.duration_since(last).unwrap_or_default();
            if since < min {
                return Err(GatewayRefusal::new(
                    ResultCode::ServiceUnavailable,
                    ErrCode::Frequently,
                    format!(
                        "order {key} queried again after {} ms; wait at least {} ms between queries",
                        since.as_millis(),
                        min.as_millis()
                    ),
                ));
            }
        }
        order.last_query = Some(now);
        order.queries += 1;
        Self::run_script(order, now, &mut self.balance, &mut self.notifications);
        Ok(order.view())
    }

    /// A tester's edit of an order (`OrderEdit`): the order as it now is, `None` once
    /// forgotten; `Err` names what is wrong (no such order, an amount for a forgotten one).
    pub fn edit_order(
        &mut self,
        out_trade_no: &str,
        edit: &OrderEdit,
        now: SystemTime,
    ) -> Result<Option<TradeView>, String> {
        if edit.state.is_none() && edit.amount_fen.is_none() {
            return Err(
                "nothing to change: give \"state\" (paid, closed, forget) and/or \"amount_fen\""
                    .into(),
            );
        }
        if edit.amount_fen == Some(Fen(0)) {
            return Err("amount_fen 0: an order is at least 1 fen".into());
        }
        if edit.state == Some(EditedState::Forget) && edit.amount_fen.is_some() {
            return Err("a forgotten order has no amount: give \"forget\" alone".into());
        }
        let order = self
            .orders
            .get_mut(out_trade_no)
            .ok_or_else(|| format!("no order with out_trade_no {out_trade_no:?}"))?;
        let paid = |order: &Order| order.state == OrderState::Paid;
        if paid(order) {
            // Whatever it becomes, the balance follows it from here.
            self.balance = Fen(self.balance.0.saturating_sub(order.request.amount.0));
        }
        if let Some(fen) = edit.amount_fen {
            order.request.amount = fen;
        }
        // The tester decides from now on, not the customer's script.
        order.script = PayScript::WaitForever;
        match edit.state {
            None => {}
            Some(EditedState::Paid) => {
                order.state = OrderState::Paid;
                order.failure = None;
                order.paid_at.get_or_insert(now);
            }
            Some(EditedState::Closed) => {
                close(order);
                order.paid_at = None;
            }
            Some(EditedState::Forget) => {
                let gone = self.orders.remove(out_trade_no).expect("found above");
                self.trade_nos.remove(&gone.trade_no);
                return Ok(None);
            }
        }
        if paid(order) {
            self.balance = Fen(self.balance.0 + order.request.amount.0);
        }
        Ok(Some(order.view()))
    }

    /// Moves time-based scripts on (so that callbacks go out without a query).
    pub fn advance(&mut self, now: SystemTime) {
        for order in self.orders.values_mut() {
            Self::run_script(order, now, &mut self.balance, &mut self.notifications);
        }
    }

    /// A withdrawal request.
    pub fn settle(
        &mut self,
        amount: Fen,
        now: SystemTime,
    ) -> Result<WithdrawalView, GatewayRefusal> {
        if amount.0 == 0 {
            return Err(GatewayRefusal::business(
                ErrCode::ParamsError,
                "total_amount 0: a withdrawal must be at least 1 fen",
            ));
        }
        if amount > WITHDRAW_PER_REQUEST {
            return Err(GatewayRefusal::business(
                ErrCode::ParamsError,
                format!(
                    "withdrawal of {amount} is above the per-request limit of {WITHDRAW_PER_REQUEST}; split it"
                ),
            ));
        }
        let day = china_day(now);
        let today = self.withdrawn_by_day.get(&day).copied().unwrap_or_default();
        if Fen(today.0 + amount.0) > WITHDRAW_PER_DAY {
            return Err(GatewayRefusal::business(
                ErrCode::ParamsError,
                format!(
                    "withdrawal of {amount} would pass the daily limit of {WITHDRAW_PER_DAY} ({today} already withdrawn today); try again tomorrow"
                ),
            ));
        }
        if amount > self.balance {
            return Err(GatewayRefusal::business(
                ErrCode::Insufficient,
                format!(
                    "withdrawal of {amount} is above the balance of {}",
                    self.balance
                ),
            ));
        }
        self.balance = Fen(self.balance.0 - amount.0);
        // Counted for the day even if the bank later returns it: the gateway accepted it today.
        self.withdrawn_by_day.insert(day, Fen(today.0 + amount.0));
        let trade_no = self.next_number("SIMW", now);
        let withdrawal = Withdrawal {
            trade_no: trade_no.clone(),
            amount,
            fee: Fen(amount.0 * WITHDRAW_FEE_PER_MILLE / 1000),
            status: WithdrawalState::Processing,
            script: WithdrawalScript::for_amount(amount),
            settled_at: None,
            queries: 0,
        };
        let view = withdrawal.view();
        self.withdrawals.insert(trade_no, withdrawal);
        Ok(view)
    }

    /// A withdrawal's status; the first query after "processing" settles it per its script.
    pub fn settle_query(
        &mut self,
        trade_no: &str,
        now: SystemTime,
    ) -> Result<WithdrawalView, GatewayRefusal> {
        let Some(withdrawal) = self.withdrawals.get_mut(trade_no) else {
            return Err(not_found("trade_no", trade_no));
        };
        withdrawal.queries += 1;
        if withdrawal.status == WithdrawalState::Processing {
            withdrawal.status = match withdrawal.script {
                WithdrawalScript::Succeed => WithdrawalState::Succeeded,
                WithdrawalScript::ReturnedByBank => WithdrawalState::ReturnedByBank,
                WithdrawalScript::Fail => WithdrawalState::Failed,
                WithdrawalScript::ManualReview => WithdrawalState::ManualReview,
            };
            match withdrawal.status {
                WithdrawalState::Succeeded => withdrawal.settled_at = Some(now),
                // The money comes back to the merchant.
                WithdrawalState::ReturnedByBank | WithdrawalState::Failed => {
                    self.balance = Fen(self.balance.0 + withdrawal.amount.0);
                }
                WithdrawalState::Processing | WithdrawalState::ManualReview => {}
            }
        }
        Ok(withdrawal.view())
    }

    pub fn balance(&self) -> BalanceView {
        BalanceView {
            balance: self.balance,
            withdraw_limit: WITHDRAW_PER_DAY,
        }
    }

    /// Callbacks waiting to be sent; each paid order yields at most one, ever.
    pub fn take_notifications(&mut self) -> Vec<Notification> {
        std::mem::take(&mut self.notifications)
    }

    pub fn snapshot(&self) -> LedgerSnapshot {
        LedgerSnapshot {
            balance_fen: self.balance.0,
            orders: self
                .orders
                .values()
                .map(|o| OrderSnapshot {
                    out_trade_no: o.request.out_trade_no.clone(),
                    trade_no: o.trade_no.clone(),
                    state: o.state,
                    amount_fen: o.request.amount.0,
                    subject: o.request.subject.clone(),
                    auth_code: o.request.auth_code.as_ref().map(|c| c.expose().to_string()),
                    err_code: o.failure.as_ref().map(|(c, _)| c.to_string()),
                    pay_requests: o.pay_requests,
                    queries: o.queries,
                    notify_attempts: o.notify_attempts,
                })
                .collect(),
            withdrawals: self
                .withdrawals
                .values()
                .map(|w| WithdrawalSnapshot {
                    trade_no: w.trade_no.clone(),
                    amount_fen: w.amount.0,
                    fee_fen: w.fee.0,
                    status: w.status,
                })
                .collect(),
            codes_used: self.codes_in_order.clone(),
        }
    }

    /// Applies the order's script at `now` (a waiting order may pay or close).
    fn run_script(
        order: &mut Order,
        now: SystemTime,
        balance: &mut Fen,
        notifications: &mut Vec<Notification>,
    ) {
        if order.state != OrderState::WaitingCustomer {
            return;
        }
        let after = |secs: u32| order.created_at + Duration::from_secs(u64::from(secs));
        match order.script {
            PayScript::PayAfterQueries(n) if order.queries >= n => {
                Self::mark_paid(order, now, balance, notifications)
            }
            PayScript::PayAfterSeconds(s) if now >= after(s) => {
                // The customer confirmed at that moment, whenever we notice it.
                let at = after(s);
                Self::mark_paid(order, at, balance, notifications)
            }
            PayScript::CloseAfterQueries(n) if order.queries >= n => close(order),
            PayScript::CloseAfterSeconds(s) if now >= after(s) => close(order),
            _ => {}
        }
    }

    fn mark_paid(
        order: &mut Order,
        at: SystemTime,
        balance: &mut Fen,
        notifications: &mut Vec<Notification>,
    ) {
        order.state = OrderState::Paid;
        order.paid_at = Some(at);
        *balance = Fen(balance.0 + order.request.amount.0);
        if let Some(url) = &order.request.notify_url {
            order.notify_attempts += 1;
            notifications.push(Notification {
                notify_url: url.clone(),
                order: order.view(),
            });
        }
    }

    /// `SIM20261125000001`: readable, unique within this simulator.
    fn next_number(&mut self, prefix: &str, now: SystemTime) -> String {
        let seq = self.next_seq;
        self.next_seq += 1;
        let date = chrono::DateTime::<chrono::Utc>::from(now)
            .with_timezone(&china_offset())
            .format("%Y%m%d");
        format!("{prefix}{date}{seq:06}")
    }
}

fn close(order: &mut Order) {
    order.state = OrderState::Closed;
    order.failure = Some((
        ErrCode::OrderClosed,
        "the customer did not confirm in time; the order is closed".to_string(),
    ));
}

fn not_found(field: &str, value: &str) -> GatewayRefusal {
    GatewayRefusal::business(
        ErrCode::OrderNotFound,
        format!("no order with {field} {value:?}"),
    )
}

/// China time (UTC+8), in which the gateway writes dates.
pub fn china_offset() -> chrono::FixedOffset {
    chrono::FixedOffset::east_opt(CHINA_OFFSET_SECS as i32).expect("valid offset")
}

fn china_day(now: SystemTime) -> u64 {
    let secs = now
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs();
    (secs + CHINA_OFFSET_SECS) / 86_400
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t0() -> SystemTime {
        // 2026-11-25 12:00:00 UTC = 20:00 in China.
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_608_000)
    }

    fn request(out_trade_no: &str, code: &str, fen: u64) -> OrderRequest {
        let mut params = BTreeMap::new();
        params.insert("out_trade_no".to_string(), out_trade_no.to_string());
        params.insert("auth_code".to_string(), code.to_string());
        params.insert("total_amount".to_string(), fen.to_string());
        OrderRequest {
            out_trade_no: out_trade_no.to_string(),
            amount: Fen(fen),
            subject: "Coffee".to_string(),
            notify_url: Some("http://127.0.0.1:9/notify".to_string()),
            auth_code: Some(PaymentCode::parse(code).unwrap()),
            payway: None,
            params,
        }
    }

    fn state_of(reply: &PayReply) -> OrderState {
        match reply {
            PayReply::Order(view) => view.state,
            PayReply::Refused(r) => panic!("refused: {r:?}"),
        }
    }

    fn refusal(reply: PayReply) -> GatewayRefusal {
        match reply {
            PayReply::Refused(r) => r,
            PayReply::Order(v) => panic!("not refused: {v:?}"),
        }
    }

    #[test]
    fn an_edit_makes_the_books_disagree_and_the_balance_follows() {
        let mut ledger = Ledger::new(Fen(0), None);
        ledger.pay(request("A", "134523198765432101", 1250), t0());
        ledger.take_notifications();
        let edit = |state, amount_fen| OrderEdit { state, amount_fen };
        // Paid, for another amount.
        let view = ledger
            .edit_order("A", &edit(None, Some(Fen(1300))), t0())
            .unwrap()
            .unwrap();
        assert_eq!((view.state, view.amount), (OrderState::Paid, Fen(1300)));
        assert_eq!(ledger.balance().balance, Fen(1300));
        // Closed: the money leaves the balance, and a query says so.
        ledger
            .edit_order("A", &edit(Some(EditedState::Closed), None), t0())
            .unwrap();
        assert_eq!(ledger.balance().balance, Fen(0));
        let queried = ledger.query(Some("A"), None, t0()).unwrap();
        assert_eq!(queried.state, OrderState::Closed);
        assert_eq!(queried.failure.unwrap().0, ErrCode::OrderClosed);
        // A declined order turned paid: no callback (the books, not a customer).
        ledger.pay(request("B", "134523198765000600", 500), t0());
        let view = ledger
            .edit_order("B", &edit(Some(EditedState::Paid), None), t0())
            .unwrap()
            .unwrap();
        assert_eq!(view.state, OrderState::Paid);
        assert!(view.failure.is_none());
        assert_eq!(ledger.balance().balance, Fen(500));
        assert!(ledger.take_notifications().is_empty());
        // Forgotten: not found, by either number.
        let trade_no = view.trade_no;
        assert_eq!(
            ledger.edit_order("B", &edit(Some(EditedState::Forget), None), t0()),
            Ok(None)
        );
        assert_eq!(ledger.balance().balance, Fen(0));
        for (o, t) in [(Some("B"), None), (None, Some(trade_no.as_str()))] {
            let err = ledger.query(o, t, t0()).unwrap_err();
            assert_eq!(err.err_code, ErrCode::OrderNotFound);
        }
        // Refused, changing nothing.
        assert!(ledger
            .edit_order("B", &edit(Some(EditedState::Paid), None), t0())
            .is_err());
        assert!(ledger.edit_order("A", &edit(None, None), t0()).is_err());
        assert!(ledger
            .edit_order("A", &edit(None, Some(Fen(0))), t0())
            .is_err());
        assert!(ledger
            .edit_order("A", &edit(Some(EditedState::Forget), Some(Fen(1))), t0())
            .is_err());
        assert_eq!(ledger.view("A").unwrap().state, OrderState::Closed);
    }

    #[test]
    fn ordinary_code_pays_at_once_adds_to_balance_and_notifies_once() {
        let mut ledger = Ledger::new(Fen(0), None);
        let reply = ledger.pay(request("A", "134523198765432101", 1250), t0());
        assert_eq!(state_of(&reply), OrderState::Paid);
        assert_eq!(ledger.balance().balance, Fen(1250));
        let notes = ledger.take_notifications();
        assert_eq!(notes.len(), 1);
        assert_eq!(notes[0].order.paytype, "3");
        ledger.query(Some("A"), None, t0()).unwrap();
        assert!(ledger.take_notifications().is_empty());
        assert_eq!(ledger.snapshot().order("A").unwrap().notify_attempts, 1);
    }

    #[test]
    fn resends_conflicts_and_paid_orders() {
        let mut ledger = Ledger::new(Fen(0), None);
        ledger.pay(request("A", "134523198765432101", 1250), t0());
        let again = refusal(ledger.pay(request("A", "134523198765432101", 1250), t0()));
        assert_eq!(again.err_code, ErrCode::OrderPaid);
        let other = refusal(ledger.pay(request("A", "134523198765432101", 999), t0()));
        assert_eq!(other.err_code, ErrCode::OrderConflict);
        assert_eq!(other.result_code, ResultCode::BusinessFailure);
        assert_eq!(ledger.snapshot().order("A").unwrap().pay_requests, 3);
        // Charged once.
        assert_eq!(ledger.balance().balance, Fen(1250));

        // A waiting order resent with the same parameters answers as before.
        let waiting = "134523198765000900";
        ledger.pay(request("B", waiting, 100), t0());
        let replay = ledger.pay(request("B", waiting, 100), t0());
        assert_eq!(state_of(&replay), OrderState::WaitingCustomer);
    }

    #[test]
    fn payment_codes_are_single_use() {
        let mut ledger = Ledger::new(Fen(0), None);
        ledger.pay(request("A", "134523198765432101", 100), t0());
        let reply = ledger.pay(request("B", "134523198765432101", 100), t0());
        let PayReply::Order(view) = reply else {
            panic!("expected the failed order")
        };
        assert_eq!(view.state, OrderState::Failed);
        let (code, des) = view.failure.unwrap();
        assert_eq!(code, ErrCode::ParamsError);
        assert!(des.contains("already used"), "{des}");
        assert!(des.contains("1345…2101") && !des.contains("134523198765432101"));
        assert_eq!(ledger.balance().balance, Fen(100));
        assert_eq!(ledger.snapshot().codes_used, vec!["134523198765432101"]);
    }

    #[test]
    fn query_scripts_pay_or_close_on_the_nth_query() {
        let mut ledger = Ledger::new(Fen(0), None);
        let reply = ledger.pay(request("P", "134523198765000203", 100), t0());
        assert_eq!(state_of(&reply), OrderState::WaitingCustomer);
        let states: Vec<_> = (0..4)
            .map(|_| ledger.query(Some("P"), None, t0()).unwrap().state)
            .collect();
        use OrderState::*;
        assert_eq!(states, [WaitingCustomer, WaitingCustomer, Paid, Paid]);
        ledger.pay(request("C", "134523198765000400", 100), t0());
        let states: Vec<_> = (0..2)
            .map(|_| ledger.query(Some("C"), None, t0()).unwrap().state)
            .collect();
        assert_eq!(states, [WaitingCustomer, Closed]);
        assert_eq!(ledger.balance().balance, Fen(100));
    }

    #[test]
    fn time_scripts_follow_the_clock_and_advance_without_queries() {
        let mut ledger = Ledger::new(Fen(0), None);
        ledger.pay(request("T", "134523198765000300", 100), t0());
        ledger.take_notifications();
        ledger.advance(t0() + Duration::from_secs(4));
        assert!(ledger.take_notifications().is_empty());
        ledger.advance(t0() + Duration::from_secs(9));
        let notes = ledger.take_notifications();
        assert_eq!(notes.len(), 1);
        // Paid when the customer confirmed (5 s), not when it was noticed (9 s).
        assert_eq!(notes[0].order.paid_at, Some(t0() + Duration::from_secs(5)));
        ledger.pay(request("X", "134523198765000510", 100), t0());
        let view = ledger.query(Some("X"), None, t0() + Duration::from_secs(10));
        assert_eq!(view.unwrap().state, OrderState::Closed);
    }

    #[test]
    fn declines_and_system_error_then_paid() {
        let mut ledger = Ledger::new(Fen(0), None);
        let reply = ledger.pay(request("D", "134523198765000600", 100), t0());
        assert_eq!(state_of(&reply), OrderState::Failed);
        let reply = ledger.pay(request("S", "134523198765000800", 100), t0());
        let refused = refusal(reply);
        assert_eq!(
            (refused.result_code, refused.err_code),
            (ResultCode::ServiceUnavailable, ErrCode::SystemError)
        );
        assert_eq!(
            ledger.query(Some("S"), None, t0()).unwrap().state,
            OrderState::Paid
        );
        let trade_no = ledger.snapshot().order("S").unwrap().trade_no.clone();
        assert_eq!(
            ledger
                .query(None, Some(&trade_no), t0())
                .unwrap()
                .out_trade_no,
            "S"
        );
        let missing = ledger.query(Some("nope"), None, t0()).unwrap_err();
        assert_eq!(missing.err_code, ErrCode::OrderNotFound);
    }

    #[test]
    fn rate_limit_refuses_queries_too_close_together() {
        let mut ledger = Ledger::new(Fen(0), Some(Duration::from_secs(2)));
        ledger.pay(request("A", "134523198765000900", 100), t0());
        ledger.query(Some("A"), None, t0()).unwrap();
        let refused = ledger
            .query(Some("A"), None, t0() + Duration::from_millis(1500))
            .unwrap_err();
        assert_eq!(refused.err_code, ErrCode::Frequently);
        assert!(ledger
            .query(Some("A"), None, t0() + Duration::from_secs(2))
            .is_ok());
    }

    #[test]
    fn withdrawals_check_balance_and_limits_and_follow_scripts() {
        let mut ledger = Ledger::new(Fen(200_000_000), None);
        let over = ledger.settle(Fen(5_000_001), t0()).unwrap_err();
        assert_eq!(over.err_code, ErrCode::ParamsError);
        assert!(over.des.contains("¥50000.00"), "{}", over.des);
        assert_eq!(
            ledger.settle(Fen(0), t0()).unwrap_err().err_code,
            ErrCode::ParamsError
        );
        for _ in 0..20 {
            ledger.settle(WITHDRAW_PER_REQUEST, t0()).unwrap();
        }
        let daily = ledger.settle(Fen(100), t0()).unwrap_err();
        assert!(daily.des.contains("daily limit"), "{}", daily.des);
        // Next day in China (UTC+8 midnight is 16:00 UTC).
        let tomorrow = t0() + Duration::from_secs(4 * 3600);
        let w = ledger.settle(Fen(10_003), tomorrow).unwrap();
        assert_eq!(w.status, WithdrawalState::Processing);
        assert_eq!(w.fee, Fen(10));
        let before = ledger.balance().balance;
        let w = ledger.settle_query(&w.trade_no, tomorrow).unwrap();
        assert_eq!(w.status, WithdrawalState::ReturnedByBank);
        assert_eq!(ledger.balance().balance, Fen(before.0 + 10_003));
        let ok = ledger.settle(Fen(10_000), tomorrow).unwrap();
        let ok = ledger.settle_query(&ok.trade_no, tomorrow).unwrap();
        assert_eq!(ok.status, WithdrawalState::Succeeded);
        assert!(ok.settled_at.is_some());

        let mut poor = Ledger::new(Fen(100), None);
        let refused = poor.settle(Fen(101), t0()).unwrap_err();
        assert_eq!(refused.err_code, ErrCode::Insufficient);
        assert_eq!(
            poor.settle_query("SIMW0", t0()).unwrap_err().err_code,
            ErrCode::OrderNotFound
        );
    }
}
