//! The harness the fault suites share (crash_suite, network_suite, powercut): a seeded run of
//! many sales through the real `scanpay daemon` (an `e2e_support::Rig`), a per-suite plan of
//! what goes wrong around each sale, and the audit that compares every sale the register
//! reports with the simulator's ledger.
//!
//! Sizes: the CI size by default; `SCANPAY_SUITE=long` runs the long size; `SCANPAY_SALES=N`
//! sets the number of sales outright. `SCANPAY_SEED=N` replays a run. The seed and the figures
//! line go to stderr (`cargo test --test NAME -- --nocapture` shows them for a passing run)
//! and into every failure message.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use scanpay::engine::{SaleState, SaleView};
use scanpay::protocol::Fen;
use scanpay::register::ArmRequest;
use scanpay::simulator::{LedgerSnapshot, OrderState};
use tokio::time::Instant;

use crate::e2e_support::{code, Rig};

/// A small, seeded generator (splitmix64): enough to pick plans, and replayable from the seed
/// a run prints.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    /// True with probability `percent` / 100.
    pub fn percent(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

/// Writes a suite's figures past libtest's output capture (to the stderr descriptor, not
/// through `eprintln!`, which a passing test's capture swallows): `cargo test`'s log, and so
/// CI's, shows every suite's seed and figures, not only a failing one's.
pub fn print_figures(text: &str) {
    use std::io::Write as _;
    let _ = writeln!(std::io::stderr().lock(), "{text}");
}

/// How big a run is and where it starts.
#[derive(Debug, Clone, Copy)]
pub struct RunSize {
    pub seed: u64,
    pub sales: usize,
    pub long: bool,
}

impl RunSize {
    /// Reads `SCANPAY_SEED`, `SCANPAY_SUITE` and `SCANPAY_SALES`; `ci` and `long` are the
    /// suite's numbers of sales for each size.
    pub fn from_env(suite: &str, ci: usize, long: usize) -> RunSize {
        let seed = match std::env::var("SCANPAY_SEED") {
            Ok(text) => text.parse().unwrap_or_else(|e| {
                panic!("SCANPAY_SEED={text:?} is not a number ({e}); give a seed a run printed")
            }),
            Err(_) => std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .expect("the clock is after 1970")
                .as_nanos() as u64,
        };
        let long_size = match std::env::var("SCANPAY_SUITE").as_deref() {
            Ok("long") => true,
            Ok("ci") | Err(_) => false,
            Ok(other) => {
                panic!("SCANPAY_SUITE={other:?}: expected \"ci\" (the default) or \"long\"")
            }
        };
        let sales = match std::env::var("SCANPAY_SALES") {
            Ok(text) => text
                .parse()
                .unwrap_or_else(|e| panic!("SCANPAY_SALES={text:?} is not a count ({e})")),
            Err(_) if long_size => long,
            Err(_) => ci,
        };
        print_figures(&format!(
            "{suite}: seed {seed}, {sales} sales ({} size); replay with SCANPAY_SEED={seed} SCANPAY_SALES={sales}",
            if long_size { "long" } else { "ci" }
        ));
        RunSize {
            seed,
            sales,
            long: long_size,
        }
    }
}

/// What the simulated customer does, as the code's script digits say (src/simulator/script.rs).
/// Only scripts that end on their own: a sale that can never end could not be audited to zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Customer {
    PaysAtOnce,
    ConfirmsAfterQueries,
    ConfirmsAfterSeconds,
    ClosesAfterQueries,
    Declines,
    SystemErrorButPaid,
}

impl Customer {
    pub const ALL: [Customer; 6] = [
        Customer::PaysAtOnce,
        Customer::ConfirmsAfterQueries,
        Customer::ConfirmsAfterSeconds,
        Customer::ClosesAfterQueries,
        Customer::Declines,
        Customer::SystemErrorButPaid,
    ];

    /// Most customers pay at once; the rest are spread over the other scripts.
    pub fn draw(rng: &mut Rng) -> Customer {
        if rng.percent(50) {
            Customer::PaysAtOnce
        } else {
            *rng.pick(&Customer::ALL)
        }
    }

    /// The script and its parameter in the payment code.
    fn script(self) -> (u8, u8) {
        match self {
            Customer::PaysAtOnce => (1, 0),
            Customer::ConfirmsAfterQueries => (2, 2),
            Customer::ConfirmsAfterSeconds => (3, 1),
            Customer::ClosesAfterQueries => (4, 2),
            Customer::Declines => (6, 0),
            Customer::SystemErrorButPaid => (8, 0),
        }
    }

    /// Whether the gateway answers the pay request with USERPAYING.
    pub fn waits(self) -> bool {
        match self {
            Customer::ConfirmsAfterQueries
            | Customer::ConfirmsAfterSeconds
            | Customer::ClosesAfterQueries => true,
            Customer::PaysAtOnce | Customer::Declines | Customer::SystemErrorButPaid => false,
        }
    }
}

/// One sale of a run, as the harness knows it.
#[derive(Debug, Clone)]
pub struct Sale {
    pub sale_id: String,
    pub out_trade_no: String,
    pub amount: Fen,
    /// None: never scanned (killed while armed).
    pub code: Option<String>,
    pub customer: Customer,
    /// What was done to it (for the failure message).
    pub story: String,
}

/// The figures every suite prints and checks.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Figures {
    pub sales: usize,
    pub kills: usize,
    /// Paid orders beyond the first for one payment code, and paid orders of no sale.
    pub double_charges: usize,
    /// Sales the register no longer knows, and sales the gateway was paid for that the
    /// register calls not paid.
    pub lost: usize,
    /// Sales whose state, amount or trade number disagrees with the gateway's order.
    pub mismatched: usize,
    /// Sales without a final state after the run settled, although the gateway has an order
    /// for them: the terminal should have found its outcome.
    pub unresolved: usize,
    /// Sales without a final state whose pay request never reached the gateway (a kill or a
    /// dropped connection after it left): the engine keeps asking for the whole
    /// reconciliation window, since a request in flight could still arrive. Nothing is
    /// charged; reported, not a failure.
    pub unresolved_never_recorded: usize,
    /// Sales ended `failed` (ORDER_NOTFOUND) by the not-found rule whose order the gateway
    /// indeed never recorded: consistent, nothing charged. One the gateway has paid counts
    /// as lost.
    pub failed_never_recorded: usize,
}

impl fmt::Display for Figures {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "sales={} kills={} double_charges={} lost={} mismatched={} unresolved={} (and {} unresolved that the gateway never recorded; {} failed by the not-found rule, never recorded)",
            self.sales,
            self.kills,
            self.double_charges,
            self.lost,
            self.mismatched,
            self.unresolved,
            self.unresolved_never_recorded,
            self.failed_never_recorded
        )
    }
}

/// The outcome of an audit: the figures and a line for every sale that counted against them.
pub struct Audit {
    pub figures: Figures,
    pub findings: Vec<String>,
}

impl Audit {
    /// The report a suite prints, and puts in its failure message.
    pub fn report(&self, suite: &str, size: &RunSize) -> String {
        let mut text = format!("{suite}: seed {} {}", size.seed, self.figures);
        for finding in &self.findings {
            text.push_str("\n  ");
            text.push_str(finding);
        }
        text
    }
}

/// Drives the sales of one run through a rig and keeps what the audit needs.
pub struct Run {
    pub rig: Rig,
    pub rng: Rng,
    pub sales: Vec<Sale>,
    pub kills: usize,
    /// `[payment] not_found_final_s` of the rig, if set: `settle_all` then waits for sales
    /// the gateway never recorded to end failed instead of taking them unresolved.
    pub not_found_window: Option<Duration>,
    next_code: u32,
}

/// How long one sale may take to reach a final state or `unresolved`, faults included.
pub const SALE_WITHIN: Duration = Duration::from_secs(40);

impl Run {
    pub fn new(rig: Rig, size: &RunSize) -> Run {
        Run {
            rig,
            rng: Rng::new(size.seed),
            sales: Vec::new(),
            kills: 0,
            not_found_window: None,
            next_code: 1,
        }
    }

    /// Arms a sale, retrying while the terminal is still busy with the one before (e.g. a
    /// restart resuming it). Fails after `SALE_WITHIN`.
    pub async fn arm(&mut self, customer: Customer) -> usize {
        let amount = Fen(100 + self.rng.below(50_000));
        let deadline = Instant::now() + SALE_WITHIN;
        let view = loop {
            let request = ArmRequest {
                amount_fen: amount,
                subject: Some("fault suite".to_string()),
                operator_id: None,
            };
            match self.rig.client().create_sale(&request).await {
                Ok(view) => break view,
                Err(e) => {
                    assert!(
                        Instant::now() < deadline,
                        "arming sale {} of {amount} failed for {SALE_WITHIN:?}: {e}",
                        self.sales.len() + 1
                    );
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        };
        assert_eq!(view.state, SaleState::Armed, "{view:?}");
        self.sales.push(Sale {
            sale_id: view.sale_id,
            out_trade_no: view.out_trade_no,
            amount,
            code: None,
            customer,
            story: String::new(),
        });
        self.sales.len() - 1
    }

    /// Scans a fresh code that runs `sale`'s customer script.
    pub fn scan(&mut self, sale: usize) {
        let (script, param) = self.sales[sale].customer.script();
        let code = code(self.next_code, script, param);
        self.next_code += 1;
        self.rig.scan(&code);
        self.sales[sale].code = Some(code);
    }

    /// Notes what happened to a sale, for the failure message.
    pub fn note(&mut self, sale: usize, what: &str) {
        let story = &mut self.sales[sale].story;
        if !story.is_empty() {
            story.push_str(", ");
        }
        story.push_str(what);
    }

    /// The register's view of a sale now, or why it could not be read.
    pub async fn view(&self, sale: usize) -> Result<SaleView, String> {
        self.rig
            .client()
            .sale(&self.sales[sale].sale_id, Duration::ZERO, None)
            .await
            .map_err(|e| e.to_string())
    }

    /// Long-polls a sale until `done(state)` or `within` passes; returns the last state seen
    /// (None: the sale could not be read at all).
    pub async fn wait_for(
        &self,
        sale: usize,
        within: Duration,
        done: impl Fn(SaleState) -> bool,
    ) -> Option<SaleState> {
        let deadline = Instant::now() + within;
        let mut last: Option<SaleState> = None;
        let mut failing_since: Option<Instant> = None;
        loop {
            if let Some(state) = last {
                if done(state) {
                    return last;
                }
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return last;
            }
            let wait = left.min(Duration::from_secs(1));
            match self
                .rig
                .client()
                .sale(&self.sales[sale].sale_id, wait, last)
                .await
            {
                Ok(view) => {
                    last = Some(view.state);
                    failing_since = None;
                }
                // A restart may still be settling: try again for a while; a sale the register
                // keeps not finding is lost, which the audit reports.
                Err(_) => {
                    let since = *failing_since.get_or_insert_with(Instant::now);
                    if since.elapsed() > Duration::from_secs(2) {
                        return last;
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    }

    /// Waits until a sale is final or unresolved (what the cashier waits for).
    pub async fn settle_one(&self, sale: usize) -> Option<SaleState> {
        self.wait_for(sale, SALE_WITHIN, |s| {
            s.is_final() || s == SaleState::Unresolved
        })
        .await
    }

    /// SIGKILL now and start again on the same journal.
    pub async fn kill_and_restart(&mut self, sale: usize, when: &str) {
        self.rig.kill_9().await;
        self.kills += 1;
        self.note(sale, &format!("SIGKILL {when}"));
        self.rig.start_daemon().await;
    }

    /// Kills at the moment `plan` names (waiting for it on the register API), and restarts.
    pub async fn kill_at(&mut self, sale: usize, plan: KillPlan) {
        self.wait_for_moment(sale, plan).await;
        self.kill_and_restart(sale, plan.name()).await;
    }

    /// Waits, on the register API, until the moment `plan` names.
    pub async fn wait_for_moment(&mut self, sale: usize, plan: KillPlan) {
        match plan {
            KillPlan::RightAfterScan { micros } => {
                tokio::time::sleep(Duration::from_micros(micros)).await;
            }
            KillPlan::WhileSubmitting => {
                self.wait_for(sale, SALE_WITHIN, |s| s != SaleState::Armed)
                    .await;
            }
            KillPlan::WhileWaitingCustomer => {
                self.wait_for(sale, SALE_WITHIN, |s| {
                    s != SaleState::Armed && s != SaleState::Submitting
                })
                .await;
            }
            KillPlan::AfterTheOutcome => {
                self.settle_one(sale).await;
            }
        }
    }

    /// Waits for every sale to become final, for at most `within` in all: `unresolved`
    /// sales are reconciled in the background and may still end. A sale the gateway never
    /// recorded is not waited for once it is `unresolved` (it stays so for the whole
    /// reconciliation window), unless the rig has a not-found window (`not_found_window`):
    /// then it is waited for, as it ends failed (unless an answer ruled the rule out).
    pub async fn settle_all(&self, within: Duration) {
        let deadline = Instant::now() + within;
        let wait_for_the_rule = self.not_found_window.is_some();
        for (sale, known) in self.sales.iter().enumerate() {
            let left = deadline.saturating_duration_since(Instant::now());
            let never_recorded = || self.rig.ledger().order(&known.out_trade_no).is_none();
            self.wait_for(sale, left, |s| {
                s.is_final()
                    || (s == SaleState::Unresolved && !wait_for_the_rule && never_recorded())
            })
            .await;
        }
    }

    /// Compares every sale the register reports with the simulator's ledger.
    pub async fn audit(&self) -> Audit {
        let ledger = self.rig.ledger();
        let mut views = Vec::new();
        for sale in 0..self.sales.len() {
            views.push(self.view(sale).await);
        }
        audit(&self.sales, &views, &ledger, self.kills)
    }
}

/// When a kill lands, relative to one sale.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KillPlan {
    /// A random few milliseconds after the scan: anywhere from reading the code through
    /// journaling it to sending the pay request.
    RightAfterScan { micros: u64 },
    /// Once the register sees `submitting`: the code is journaled and the request is (or is
    /// about to be) on its way; the suites slow the gateway so the kill lands before the
    /// answer.
    WhileSubmitting,
    /// Once the pay request was answered (USERPAYING customers: while polling).
    WhileWaitingCustomer,
    /// Once the sale is final.
    AfterTheOutcome,
}

impl KillPlan {
    pub fn draw(rng: &mut Rng) -> KillPlan {
        match rng.below(4) {
            0 => KillPlan::RightAfterScan {
                micros: rng.below(20_000),
            },
            1 => KillPlan::WhileSubmitting,
            2 => KillPlan::WhileWaitingCustomer,
            _ => KillPlan::AfterTheOutcome,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            KillPlan::RightAfterScan { .. } => "right after the scan",
            KillPlan::WhileSubmitting => "while submitting",
            KillPlan::WhileWaitingCustomer => "after the pay answer",
            KillPlan::AfterTheOutcome => "after the outcome",
        }
    }
}

/// The audit itself: pure, given the sales, the register's views of them and the ledger.
pub fn audit(
    sales: &[Sale],
    views: &[Result<SaleView, String>],
    ledger: &LedgerSnapshot,
    kills: usize,
) -> Audit {
    let mut figures = Figures {
        sales: sales.len(),
        kills,
        ..Figures::default()
    };
    let mut findings = Vec::new();

    let mut paid_by_code: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for order in &ledger.orders {
        if order.state == OrderState::Paid {
            let code = order.auth_code.as_deref().unwrap_or("(no code)");
            paid_by_code
                .entry(code)
                .or_default()
                .push(&order.out_trade_no);
        }
    }
    for (code, orders) in &paid_by_code {
        if orders.len() > 1 {
            figures.double_charges += orders.len() - 1;
            findings.push(format!(
                "double charge: code ending {} paid by orders {orders:?}",
                &code[code.len().saturating_sub(6)..]
            ));
        }
    }
    for order in &ledger.orders {
        let known = sales
            .iter()
            .any(|s| s.out_trade_no.eq_ignore_ascii_case(&order.out_trade_no));
        if !known && order.state == OrderState::Paid {
            figures.double_charges += 1;
            findings.push(format!(
                "paid order of no sale the register armed: {order:?}"
            ));
        }
    }

    for (sale, view) in sales.iter().zip(views) {
        let order = ledger
            .orders
            .iter()
            .find(|o| o.out_trade_no.eq_ignore_ascii_case(&sale.out_trade_no));
        let gateway_paid = order.is_some_and(|o| o.state == OrderState::Paid);
        let about = format!(
            "sale {} ({:?}, {}; {})",
            sale.sale_id,
            sale.customer,
            sale.amount,
            if sale.story.is_empty() {
                "no fault"
            } else {
                &sale.story
            }
        );
        let view = match view {
            Ok(view) => view,
            Err(e) => {
                figures.lost += 1;
                findings.push(format!("lost: {about}: the register cannot find it: {e}"));
                continue;
            }
        };
        if view.amount_fen != sale.amount {
            figures.mismatched += 1;
            findings.push(format!(
                "mismatched: {about}: the register says {} fen",
                view.amount_fen
            ));
        }
        match view.state {
            SaleState::Paid => match order {
                Some(o)
                    if o.state == OrderState::Paid
                        && o.amount_fen == sale.amount.0
                        && view.trade_no.as_deref() == Some(o.trade_no.as_str()) => {}
                _ => {
                    figures.mismatched += 1;
                    findings.push(format!(
                        "mismatched: {about}: the register says paid ({:?}), the gateway has {order:?}",
                        view.trade_no
                    ));
                }
            },
            SaleState::Failed
                if view.err_code.as_deref() == Some("ORDER_NOTFOUND") && order.is_none() =>
            {
                figures.failed_never_recorded += 1;
            }
            SaleState::Failed | SaleState::Expired | SaleState::Disarmed => {
                if gateway_paid {
                    figures.lost += 1;
                    findings.push(format!(
                        "lost: {about}: the register says {:?}, the gateway took the money: {order:?}",
                        view.state
                    ));
                }
            }
            SaleState::Armed
            | SaleState::Submitting
            | SaleState::WaitingCustomer
            | SaleState::Queued
            | SaleState::Unknown
            | SaleState::Unresolved
                if order.is_none() =>
            {
                figures.unresolved_never_recorded += 1;
            }
            SaleState::Armed
            | SaleState::Submitting
            | SaleState::WaitingCustomer
            | SaleState::Queued
            | SaleState::Unknown
            | SaleState::Unresolved => {
                figures.unresolved += 1;
                findings.push(format!(
                    "unresolved: {about}: still {:?}; the gateway has {order:?}",
                    view.state
                ));
            }
        }
    }
    Audit { figures, findings }
}

/// Prints the report and fails unless every figure that must be zero is.
pub fn assert_zeros(suite: &str, size: &RunSize, audit: &Audit) {
    let report = audit.report(suite, size);
    print_figures(&report);
    let f = &audit.figures;
    assert!(
        f.double_charges == 0 && f.lost == 0 && f.mismatched == 0 && f.unresolved == 0,
        "{report}"
    );
}
