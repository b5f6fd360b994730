//! The payment gateway of `docs/protocol.md` as a real HTTP server, for tests, benchmarks and
//! `scanpay demo`: it verifies signatures, answers with signed responses, keeps a ledger of
//! orders, payment codes, balance and withdrawals, runs scripted outcomes, injects faults and
//! sends the payment callback once.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use scanpay::simulator::{Fault, Faults, Simulator, SimulatorConfig};
//! let sim = Simulator::start("127.0.0.1:0".parse().unwrap(), SimulatorConfig::default()).await?;
//! sim.set_faults(Faults::next(1, Fault::DropAfterRecord).on(&["codepay"]));
//! // ... point a client at sim.base_url() ...
//! let ledger = sim.ledger();
//! sim.shutdown().await;
//! # Ok(()) }
//! ```
//!
//! # Endpoints
//!
//! POST `/api/codepay/`, `/api/query/`, `/api/settle/`, `/api/settlequery/`,
//! `/api/balance_query/` (signed `Authorization: sign <md5>`); GET `/getway/` (an HTML pay
//! page with a "Pay" button) and `/getway/app` (signed JSON with `url`), signed `&sign=`.
//! Admin, never faulted: `GET|POST /_sim/faults` ([`Faults`] as JSON), `GET /_sim/orders`
//! ([`LedgerSnapshot`] as JSON), `POST /_sim/orders/{out_trade_no}` ([`OrderEdit`] as JSON,
//! e.g. `{"state": "paid"}`, `{"state": "closed"}`, `{"state": "forget"}`,
//! `{"amount_fen": 1300}`: the books made to disagree with the terminal; 200 with the
//! order's snapshot, `null` once forgotten; 404 no such order; 400 a bad edit), `GET /_sim/h5/{trade_no}` and `POST /_sim/h5/{trade_no}/pay`
//! (the tester pays an h5/app order; redirects to its return_url).
//!
//! # Error codes and the result_code each comes with
//!
//! | err_code | result_code | when |
//! | --- | --- | --- |
//! | LACK_PARAMS | 40001 | a required parameter is absent or empty (app_id first) |
//! | JSONERROR | 40002 | the body is not a JSON object |
//! | NOSIGN | 40002 | no `Authorization: sign …` header / no `sign` query parameter |
//! | SIGNERROR | 40002 | the signature does not match |
//! | REQUIRE_POST_METHOD | 40002 | any method but POST on a POST endpoint |
//! | PARAMSERROR | 40002 | a malformed value: too long, not fen, 0, bad payway/URL/code, not a JSON string |
//! | APPID_NOT_EXIST | 40004 | the app_id is not the simulator's merchant |
//! | ORDER_CONFLICT | 40004 | an out_trade_no resent with different parameters |
//! | ORDERPAID | 40004 | an out_trade_no resent (same parameters) after it was paid |
//! | ORDER_NOTFOUND | 40004 | query / settlequery of an unknown number |
//! | PARAMSERROR | 40004 | a payment code already used on another order (the order is recorded as failed); a withdrawal of 0, above ¥50,000, or past ¥1,000,000 today (China time) |
//! | INSUFFICIENT | 40004 | a withdrawal above the balance; script 06 (customer's wallet) |
//! | ORDERCLOSED | 40004 | script 07 on pay; a closed order resent |
//! | USERPAYING | 10000 | pay answer while the customer confirms (with WAIT_BUYER_PAY) |
//! | SYSTEMERROR | 20000 | script 08 on pay |
//! | FREQUENTLY | 20000 | queries on one order closer than `query_min_interval`, or the fault |
//!
//! A same-parameter resend of an order that is not paid is answered like the first time
//! (the gateway is idempotent on out_trade_no). Query answers always carry result_code 10000
//! and a trade_status (WAIT_BUYER_PAY without err_code, TRADE_FAIL / TRADE_CLOSED with the
//! reason). `paytype` is the request's payway, else the code's wallet, else "0".
//! Dates are China time (UTC+8). A withdrawal's fee is 0.1 % (rounded down).
//!
//! # Scripted outcomes
//!
//! ```text
#![doc = include_str!("magic_table.txt")]
//! ```
//!
//! # Faults
//!
//! See [`Fault`] and [`Faults`]. Socket-level faults are real: a dropped connection closes
//! the TCP connection without a byte of answer; "down" stops listening (connections are
//! refused) and closes every open connection, then listens again on the same port.

mod answers;
mod clock;
mod faults;
mod ledger;
mod listener;
mod requests;
mod script;
mod server;

use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;

pub use clock::{Clock, ManualClock, SystemClock};
pub use faults::{Fault, Faults, UnknownEndpoint};
pub use ledger::{
    EditedState, LedgerSnapshot, OrderEdit, OrderSnapshot, OrderState, WithdrawalSnapshot,
    WithdrawalState, WITHDRAW_PER_DAY, WITHDRAW_PER_REQUEST,
};
pub use script::PayScript;

use crate::protocol::{Fen, MerchantKey, SignRules};
use ledger::Ledger;
use listener::{Availability, SimListener};
use requests::Merchant;
use server::Shared;

/// The demo merchant's app_id.
pub const DEMO_APP_ID: &str = "DEMO0001";
/// The demo merchant's key. Public on purpose: it only ever signs simulated payments.
pub const DEMO_KEY: &str = "demo0001demo0001demo0001demo0001";

/// The scripted-outcome table, for the demo to print.
pub fn magic_table() -> &'static str {
    script::MAGIC_TABLE
}

/// How a simulator is set up.
#[derive(Clone)]
pub struct SimulatorConfig {
    pub app_id: String,
    pub key: MerchantKey,
    pub rules: SignRules,
    /// The merchant's balance at start.
    pub balance: Fen,
    /// Queries on one order closer together than this get FREQUENTLY; None: no limit.
    pub query_min_interval: Option<Duration>,
    /// Where "now" comes from (time-based scripts, the rate limit, dates in answers).
    pub clock: Arc<dyn Clock>,
}

impl Default for SimulatorConfig {
    /// The demo merchant ([`DEMO_APP_ID`], [`DEMO_KEY`]), ¥10,000 balance, no rate limit,
    /// the system clock.
    fn default() -> Self {
        SimulatorConfig {
            app_id: DEMO_APP_ID.to_string(),
            key: MerchantKey::new(DEMO_KEY),
            rules: SignRules::default(),
            balance: Fen(1_000_000),
            query_min_interval: None,
            clock: Arc::new(SystemClock),
        }
    }
}

impl std::fmt::Debug for SimulatorConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimulatorConfig")
            .field("app_id", &self.app_id)
            .field("key", &self.key)
            .field("rules", &self.rules)
            .field("balance", &self.balance)
            .field("query_min_interval", &self.query_min_interval)
            .finish_non_exhaustive()
    }
}

/// The simulator.
pub struct Simulator;

impl Simulator {
    /// Binds `listen` (use `127.0.0.1:0` in tests) and serves until the handle shuts it down.
    pub async fn start(listen: SocketAddr, config: SimulatorConfig) -> io::Result<SimulatorHandle> {
        let tcp = tokio::net::TcpListener::bind(listen).await.map_err(|err| {
            io::Error::new(
                err.kind(),
                format!(
                    "simulator cannot listen on {listen}: {err}; choose another --listen address"
                ),
            )
        })?;
        let (listener, availability) = SimListener::new(tcp)?;
        let addr = axum::serve::Listener::local_addr(&listener)?;
        let notifier = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(3))
            .timeout(Duration::from_secs(10))
            .build()
            .map_err(|err| {
                io::Error::other(format!(
                    "simulator cannot build its HTTP client for callbacks: {err}"
                ))
            })?;
        let shared = Arc::new(Shared {
            merchant: Merchant {
                app_id: config.app_id.clone(),
                key: config.key.clone(),
                rules: config.rules,
            },
            ledger: Mutex::new(Ledger::new(config.balance, config.query_min_interval)),
            faults: Mutex::new(Faults::default()),
            clock: config.clock.clone(),
            base_url: format!("http://{addr}"),
            availability: availability.clone(),
            notifier,
            notify_done: watch::channel(0).0,
        });
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        let app =
            server::router(shared.clone()).into_make_service_with_connect_info::<listener::Conn>();
        let server = tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = stop_rx.await;
                })
                .await
        });
        let sweeper = {
            let shared = shared.clone();
            tokio::spawn(async move {
                // Time-based scripts pay without a query; this is when their callbacks go out.
                let mut tick = tokio::time::interval(Duration::from_millis(250));
                loop {
                    tick.tick().await;
                    let now = shared.clock.now();
                    shared.ledger().advance(now);
                    shared.send_notifications();
                }
            })
        };
        tracing::info!(%addr, app_id = %config.app_id, "simulator listening");
        Ok(SimulatorHandle {
            addr,
            shared,
            availability,
            stop: Some(stop_tx),
            server,
            sweeper,
        })
    }
}

/// A running simulator. Dropping it without `shutdown` leaves the server running until the
/// runtime ends.
pub struct SimulatorHandle {
    addr: SocketAddr,
    shared: Arc<Shared>,
    availability: Arc<Availability>,
    stop: Option<oneshot::Sender<()>>,
    server: JoinHandle<io::Result<()>>,
    sweeper: JoinHandle<()>,
}

impl SimulatorHandle {
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`, without a trailing slash.
    pub fn base_url(&self) -> String {
        self.shared.base_url.clone()
    }

    pub fn app_id(&self) -> &str {
        &self.shared.merchant.app_id
    }

    /// Replaces the fault settings (`down_ms` is ignored here: use `go_down`/`come_up`).
    pub fn set_faults(&self, faults: Faults) {
        *self.shared.faults() = Faults {
            down_ms: None,
            ..faults
        };
    }

    /// The fault settings now (a one-shot fault that has been used up is gone).
    pub fn faults(&self) -> Faults {
        self.shared.faults().clone()
    }

    pub fn ledger(&self) -> LedgerSnapshot {
        self.shared.ledger().snapshot()
    }

    /// Changes an order's books (see [`OrderEdit`]): the order as it now is, `None` once
    /// forgotten; `Err` says what is wrong.
    pub fn edit_order(
        &self,
        out_trade_no: &str,
        edit: &OrderEdit,
    ) -> Result<Option<OrderSnapshot>, String> {
        let now = self.shared.clock.now();
        let mut ledger = self.shared.ledger();
        ledger.edit_order(out_trade_no, edit, now)?;
        Ok(ledger.snapshot().order(out_trade_no).cloned())
    }

    /// Stops listening and closes every connection; returns once connections are refused.
    pub async fn go_down(&self) {
        self.availability.go_down().await;
    }

    /// Listens again on the same port; returns once connections are accepted.
    pub async fn come_up(&self) -> io::Result<()> {
        self.availability.come_up().await
    }

    /// Waits until `n` callbacks have finished (delivered or failed), at most `timeout`.
    /// Returns how many have finished.
    pub async fn wait_notifications(&self, n: u64, timeout: Duration) -> u64 {
        let mut done = self.shared.notify_done.subscribe();
        let _ = tokio::time::timeout(timeout, done.wait_for(|d| *d >= n)).await;
        let finished = *done.borrow();
        finished
    }

    /// Stops accepting, lets requests in flight finish (at most 5 s), and stops.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        self.sweeper.abort();
        match tokio::time::timeout(Duration::from_secs(5), &mut self.server).await {
            Ok(Ok(Ok(()))) => {}
            Ok(Ok(Err(err))) => tracing::warn!(%err, "simulator stopped with an error"),
            Ok(Err(err)) => tracing::warn!(%err, "simulator task failed"),
            Err(_) => {
                tracing::warn!("simulator requests still running after 5 s; stopping anyway");
                self.server.abort();
            }
        }
    }
}
