//! The daemon's loop (`scanpay::daemon::Driver`) with the real engine, the log journal and
//! the HTTP gateway client, against the gateway simulator in process, with its faults: every
//! sale must end as the gateway's books say, and no customer may be charged twice.
//!
//! Each test wires a `Driver` the way `daemon::run` does, with three test seams that only
//! watch: the journal tells the test every record once it is durable, the gateway client
//! tells it every request as it leaves (and checks that the record the request depends on
//! was durable first: invariant 3 in ARCHITECTURE.md), and the display hands over every screen it draws.
//! A restart drops the loop (a crash) or stops it (shutdown), reopens the same journal
//! directory and recovers into a new engine and a new loop, like a new process.
//!
//! Real time and real sockets (bound to 127.0.0.1:0), with short policy timings; the test
//! follows sales through the board's change feed and the journal's records, with timeouts,
//! never by sleeping.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use scanpay::daemon::{self, screen_task, Driver, SaleDefaults};
use scanpay::display::{Display, DisplayError, StatusFlags};
use scanpay::engine::{Engine, EnginePolicy, OrderEpoch, SaleRecord, SaleState, SaleView, Screen};
use scanpay::gateway::{Gateway, GatewayClientConfig, GatewayError, HttpGateway};
use scanpay::journal::{DamageNotice, Journal, JournalError, LogJournal};
use scanpay::protocol::messages::{
    AppAnswer, BalanceAnswer, PayRequest, QueryRequest, SettleAnswer, SettleQueryRequest,
    SettleRequest, WebPayRequest,
};
use scanpay::protocol::{Fen, FieldError, Merchant, MerchantKey, SignRules, TradeAnswer};
use scanpay::register::backend::{ArmRequest, QrRequest, RegisterBackend};
use scanpay::register::SaleBoard;
use scanpay::scanner::{ScannedText, ScannerEvent};
use scanpay::simulator::{
    self, Fault, Faults, LedgerSnapshot, OrderState, Simulator, SimulatorConfig, SimulatorHandle,
};
use scanpay::systemd::{FakeNotifier, Notification};
use tokio::sync::{broadcast, mpsc, oneshot};
use tokio::task::JoinHandle;

/// How long any one expected change may take on a busy machine before the test fails.
const WAIT: Duration = Duration::from_secs(20);
const AMOUNT: Fen = Fen(1250);

/// The design's policy with every timing shortened, so a test runs in about a second.
/// The cashier's deadline stays long enough that a busy machine never reaches it by accident;
/// the tests about the deadline shorten it themselves.
fn policy() -> EnginePolicy {
    EnginePolicy {
        first_query: Duration::from_millis(50),
        query_interval: Duration::from_millis(100),
        query_interval_max: Duration::from_millis(400),
        cashier_deadline: Duration::from_secs(15),
        reconcile_fast_interval: Duration::from_millis(100),
        reconcile_fast_for: Duration::from_millis(500),
        reconcile_slow_interval: Duration::from_millis(200),
        reconcile_slow_for: Duration::from_millis(59_500),
        pay_max_age: Duration::from_secs(15),
        offline_retry: Duration::from_millis(100),
        ..EnginePolicy::default()
    }
}

/// A WeChat code (18 digits, prefix 13), fresh for each `n`; `script`/`param` pick the
/// simulator's scripted outcome (`00SSNN`, see `src/simulator/magic_table.txt`; 0 is an
/// ordinary code paid at once).
fn code(n: u32, script: u32, param: u32) -> String {
    format!("13452319{n:04}00{script:02}{param:02}")
}

// ----- what the test sees of the daemon -----

/// Everything the test learns while the daemon runs, kept across restarts.
#[derive(Default)]
struct Witness {
    /// The latest durable record of each sale, by out_trade_no.
    durable: HashMap<String, SaleRecord>,
    /// Every pay request as it left: (out_trade_no, code).
    pays: Vec<(String, String)>,
    /// Every query as it left, by out_trade_no.
    queries: Vec<String>,
    /// Requests that left before the record they depend on was durable.
    violations: Vec<String>,
    /// Screens drawn that show a full payment code.
    leaks: Vec<String>,
    /// The next pay's task panics once the gateway has answered it (a bug in the client).
    panic_after_next_pay: bool,
    /// The disk refuses every journal write while set.
    disk_full: bool,
    /// NTP has not set the clock yet while set.
    clock_unsynced: bool,
    /// Whether the last screen drawn carried the unsynchronised-clock warning.
    clock_warning_drawn: bool,
}

type Shared = Arc<Mutex<Witness>>;

fn lock(witness: &Shared) -> std::sync::MutexGuard<'_, Witness> {
    witness.lock().expect("witness lock")
}

/// The journal, telling the witness (and the test) every record once `put` has made it
/// durable.
struct WatchedJournal {
    inner: LogJournal,
    witness: Shared,
    written: mpsc::UnboundedSender<SaleRecord>,
}

impl Journal for WatchedJournal {
    fn put(&self, record: &SaleRecord) -> Result<(), JournalError> {
        if lock(&self.witness).disk_full {
            return Err(JournalError::Write {
                sale_id: record.sale_id.clone(),
                detail: "test: no space left on device".into(),
            });
        }
        self.inner.put(record)?;
        let mut witness = lock(&self.witness);
        let before = witness.durable.get(&record.out_trade_no);
        if let Some(other) = before.filter(|b| b.sale_id != record.sale_id) {
            let problem = format!(
                "order {} journaled for sales {} and {}",
                record.out_trade_no, other.sale_id, record.sale_id
            );
            witness.violations.push(problem);
        }
        witness
            .durable
            .insert(record.out_trade_no.clone(), record.clone());
        let _ = self.written.send(record.clone());
        Ok(())
    }

    fn epoch(&self) -> Result<OrderEpoch, JournalError> {
        self.inner.epoch()
    }

    fn damage(&self) -> Vec<DamageNotice> {
        self.inner.damage()
    }

    fn get(&self, sale_id: &str) -> Result<Option<SaleRecord>, JournalError> {
        self.inner.get(sale_id)
    }

    fn load_all(&self) -> Result<Vec<SaleRecord>, JournalError> {
        self.inner.load_all()
    }

    fn last_seq(&self) -> Result<u64, JournalError> {
        self.inner.last_seq()
    }
}

/// The HTTP gateway client, telling the witness every request as it leaves and checking that
/// the state it depends on is already durable.
struct WatchedGateway {
    inner: HttpGateway,
    witness: Shared,
    /// The out_trade_no of every query, as it leaves.
    queried: mpsc::UnboundedSender<String>,
}

impl Gateway for WatchedGateway {
    async fn pay(&self, request: &PayRequest) -> Result<TradeAnswer, GatewayError> {
        {
            let mut witness = lock(&self.witness);
            let code = request.auth_code.expose().to_string();
            let durable = witness.durable.get(&request.out_trade_no);
            let ok = durable.is_some_and(|r| {
                r.state == SaleState::Submitting
                    && r.auth_code.as_ref().map(|c| c.expose()) == Some(code.as_str())
                    && r.amount == request.total_amount
            });
            if !ok {
                let seen = durable.map(|r| r.state.as_str());
                witness.violations.push(format!(
                    "pay for {} left while the journal held {seen:?}",
                    request.out_trade_no
                ));
            }
            witness.pays.push((request.out_trade_no.clone(), code));
        }
        let answer = self.inner.pay(request).await;
        if std::mem::take(&mut lock(&self.witness).panic_after_next_pay) {
            panic!("test: the request task panics after the gateway answered");
        }
        answer
    }

    async fn query(&self, request: &QueryRequest) -> Result<TradeAnswer, GatewayError> {
        {
            let mut witness = lock(&self.witness);
            match request {
                QueryRequest::ByOutTradeNo(out_trade_no) => {
                    if !witness.durable.contains_key(out_trade_no) {
                        let problem = format!("query for {out_trade_no}, never journaled");
                        witness.violations.push(problem);
                    }
                    witness.queries.push(out_trade_no.clone());
                    let _ = self.queried.send(out_trade_no.clone());
                }
                QueryRequest::ByTradeNo(_) => {
                    let problem = format!("query by the gateway's number: {request:?}");
                    witness.violations.push(problem);
                }
            }
        }
        self.inner.query(request).await
    }

    async fn settle(&self, request: &SettleRequest) -> Result<SettleAnswer, GatewayError> {
        self.inner.settle(request).await
    }

    async fn settle_query(
        &self,
        request: &SettleQueryRequest,
    ) -> Result<SettleAnswer, GatewayError> {
        self.inner.settle_query(request).await
    }

    async fn balance(&self) -> Result<BalanceAnswer, GatewayError> {
        self.inner.balance().await
    }

    async fn app_url(&self, request: &WebPayRequest) -> Result<AppAnswer, GatewayError> {
        self.inner.app_url(request).await
    }

    fn h5_url(&self, request: &WebPayRequest) -> Result<String, FieldError> {
        self.inner.h5_url(request)
    }
}

/// A display that hands every screen it draws to the test and notes any full code on it.
struct WatchedDisplay {
    drawn: mpsc::UnboundedSender<Screen>,
    witness: Shared,
    codes: Vec<String>,
}

impl Display for WatchedDisplay {
    fn show(&mut self, screen: &Screen, flags: StatusFlags) -> Result<(), DisplayError> {
        let text = format!("{screen:?}");
        let mut witness = lock(&self.witness);
        if self.codes.iter().any(|c| text.contains(c.as_str())) {
            witness.leaks.push(text);
        }
        witness.clock_warning_drawn = flags.clock_unsynced;
        drop(witness);
        let _ = self.drawn.send(screen.clone());
        Ok(())
    }

    fn describe(&self) -> String {
        "test display".into()
    }
}

// ----- one run of the daemon -----

/// How a run of the loop ends.
enum Stop {
    /// The shutdown future resolves: requests on the wire are answered and journaled.
    Shutdown,
    /// The loop is dropped where it stands, like a power cut or a kill -9.
    Crash,
}

/// One process lifetime of the daemon's loop, wired as `daemon::run` wires it.
struct Daemon {
    board: Arc<SaleBoard>,
    feed: broadcast::Receiver<SaleView>,
    scans: mpsc::Sender<ScannerEvent>,
    records: mpsc::UnboundedReceiver<SaleRecord>,
    screens: mpsc::UnboundedReceiver<Screen>,
    queried: mpsc::UnboundedReceiver<String>,
    notifier: Arc<FakeNotifier>,
    /// Every state each sale went through in this run, as the register saw it.
    seen: HashMap<String, Vec<SaleState>>,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
    /// Kept so the callback channel stays open (no callback listener in these tests).
    _callbacks: mpsc::Sender<TradeAnswer>,
}

impl Daemon {
    /// Opens the journal in `dir`, recovers what it holds, and runs the loop.
    /// `codes` are the payment codes the test will use: no screen may show them.
    fn start(
        sim: &SimulatorHandle,
        dir: &Path,
        policy: EnginePolicy,
        witness: &Shared,
        codes: &[String],
        fixed_amount: Option<Fen>,
    ) -> Daemon {
        let now = daemon::clock::now();
        let (written, records) = mpsc::unbounded_channel();
        let journal: Arc<dyn Journal> = Arc::new(WatchedJournal {
            inner: LogJournal::open(dir).expect("the journal opens"),
            witness: witness.clone(),
            written,
        });
        let mut engine = Engine::new(policy, now).expect("the test policy is valid");
        let (board, commands) = SaleBoard::new(journal.clone());
        daemon::recover(journal.as_ref(), &mut engine, &board, now).expect("the journal reads");
        let gateway = HttpGateway::new(GatewayClientConfig {
            base_url: sim.base_url(),
            merchant: Merchant {
                app_id: simulator::DEMO_APP_ID.into(),
                key: MerchantKey::new(simulator::DEMO_KEY),
                rules: SignRules::default(),
            },
            connect_timeout: Duration::from_secs(2),
            request_timeout: Duration::from_secs(5),
        })
        .expect("the gateway client accepts the simulator's URL");
        let feed = board.subscribe();
        let (scans, scanner) = mpsc::channel(16);
        let (callbacks_tx, callbacks) = mpsc::channel(4);
        let (drawn, screens) = mpsc::unbounded_channel();
        let display = WatchedDisplay {
            drawn,
            witness: witness.clone(),
            codes: codes.to_vec(),
        };
        let notifier = Arc::new(FakeNotifier::new());
        let (queried_tx, queried) = mpsc::unbounded_channel();
        let driver = Driver {
            engine,
            journal,
            gateway: Arc::new(WatchedGateway {
                inner: gateway,
                witness: witness.clone(),
                queried: queried_tx,
            }),
            notify_url: "http://127.0.0.1:9/notify".into(),
            defaults: SaleDefaults {
                subject: "Coffee".into(),
                operator_id: "001".into(),
                fixed_amount,
            },
            board: board.clone(),
            commands,
            scanner,
            callbacks,
            screens: screen_task::spawn(Box::new(display), board.clone()),
            notifier: notifier.clone(),
            watchdog: None,
            drain_timeout: Duration::from_secs(6),
            clock_synced: {
                let witness = witness.clone();
                Box::new(move || !lock(&witness).clock_unsynced)
            },
        };
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(driver.run(async move {
            let _ = stopped.await;
        }));
        Daemon {
            board,
            feed,
            scans,
            records,
            screens,
            queried,
            notifier,
            seen: HashMap::new(),
            stop: Some(stop),
            task,
            _callbacks: callbacks_tx,
        }
    }

    /// The register arms a sale of `AMOUNT`.
    async fn arm(&mut self) -> SaleView {
        let view = self
            .board
            .arm(ArmRequest {
                amount_fen: AMOUNT,
                subject: None,
                operator_id: None,
            })
            .await
            .expect("the counter is free");
        assert_eq!(view.state, SaleState::Armed);
        view
    }

    /// The cashier scans `code`.
    async fn scan(&self, code: &str) {
        self.scans
            .send(ScannerEvent::Scanned(ScannedText::new(
                code,
                Instant::now(),
            )))
            .await
            .expect("the loop reads the scanner");
    }

    /// Arms a sale, scans `code`, and returns the sale.
    async fn sell(&mut self, code: &str) -> SaleView {
        let sale = self.arm().await;
        self.scan(code).await;
        sale
    }

    /// Follows the change feed until `sale_id` is in `state`; returns every state it went
    /// through in this run.
    async fn until(&mut self, sale_id: &str, state: SaleState) -> Vec<SaleState> {
        let reached = tokio::time::timeout(WAIT, async {
            loop {
                if self.seen.get(sale_id).and_then(|s| s.last()) == Some(&state) {
                    return;
                }
                match self.feed.recv().await {
                    Ok(view) => self.seen.entry(view.sale_id).or_default().push(view.state),
                    Err(broadcast::error::RecvError::Lagged(n)) => {
                        panic!("the test fell {n} changes behind the board")
                    }
                    Err(broadcast::error::RecvError::Closed) => panic!("the board is gone"),
                }
            }
        })
        .await;
        let path = self.seen.get(sale_id).cloned().unwrap_or_default();
        assert!(
            reached.is_ok(),
            "sale {sale_id} did not become {} within {WAIT:?}; it went {path:?}",
            state.as_str()
        );
        path
    }

    /// Waits for the journal to make a record of `sale_id` durable that satisfies `wanted`.
    async fn journaled(
        &mut self,
        sale_id: &str,
        what: &str,
        wanted: impl Fn(&SaleRecord) -> bool,
    ) -> SaleRecord {
        let found = tokio::time::timeout(WAIT, async {
            loop {
                let record = self.records.recv().await.expect("the journal is open");
                if record.sale_id == sale_id && wanted(&record) {
                    return record;
                }
            }
        })
        .await;
        found.unwrap_or_else(|_| panic!("sale {sale_id} was not journaled {what} within {WAIT:?}"))
    }

    /// Waits until `out_trade_no` has been queried `times` times in this run.
    async fn queried(&mut self, out_trade_no: &str, times: usize) {
        let mut seen = 0;
        let done = tokio::time::timeout(WAIT, async {
            while seen < times {
                let asked = self.queried.recv().await.expect("the loop runs");
                if asked == out_trade_no {
                    seen += 1;
                }
            }
        })
        .await;
        assert!(
            done.is_ok(),
            "{out_trade_no} was queried {seen} times within {WAIT:?}, expected {times}"
        );
    }

    /// Waits for the display to draw a screen `wanted` accepts.
    async fn drawn(&mut self, what: &str, wanted: impl Fn(&Screen) -> bool) -> Screen {
        let found = tokio::time::timeout(WAIT, async {
            loop {
                let screen = self.screens.recv().await.expect("the display thread runs");
                if wanted(&screen) {
                    return screen;
                }
            }
        })
        .await;
        found.unwrap_or_else(|_| panic!("the display did not draw {what} within {WAIT:?}"))
    }

    /// Ends this run and waits until the loop (and with it the journal) is gone.
    async fn stop(mut self, how: Stop) -> Vec<Notification> {
        match how {
            Stop::Shutdown => {
                let _ = self.stop.take().expect("running").send(());
                tokio::time::timeout(WAIT, &mut self.task)
                    .await
                    .expect("the loop stops after shutdown")
                    .expect("the loop did not panic");
            }
            Stop::Crash => {
                self.task.abort();
                let ended = tokio::time::timeout(WAIT, &mut self.task)
                    .await
                    .expect("the aborted loop ends");
                assert!(ended.unwrap_err().is_cancelled(), "the loop was killed");
            }
        }
        self.notifier.sent()
    }
}

/// A simulator, a journal directory and the witness for one test.
struct Rig {
    sim: SimulatorHandle,
    dir: tempfile::TempDir,
    witness: Shared,
    codes: Vec<String>,
}

impl Rig {
    async fn new(codes: &[String]) -> Rig {
        let sim = Simulator::start("127.0.0.1:0".parse().unwrap(), SimulatorConfig::default())
            .await
            .expect("the simulator starts on 127.0.0.1:0");
        Rig {
            sim,
            dir: tempfile::tempdir().expect("a temp dir"),
            witness: Shared::default(),
            codes: codes.to_vec(),
        }
    }

    fn start(&self, policy: EnginePolicy) -> Daemon {
        Daemon::start(
            &self.sim,
            &self.dir.path().join("journal"),
            policy,
            &self.witness,
            &self.codes,
            None,
        )
    }

    /// A kiosk: it arms a sale of `amount` whenever the counter is free.
    fn start_kiosk(&self, policy: EnginePolicy, amount: Fen) -> Daemon {
        Daemon::start(
            &self.sim,
            &self.dir.path().join("journal"),
            policy,
            &self.witness,
            &self.codes,
            Some(amount),
        )
    }

    fn ledger(&self) -> LedgerSnapshot {
        self.sim.ledger()
    }

    /// The money invariants, over everything that happened in the test:
    /// - every request left after the record it depends on was durable;
    /// - no out_trade_no was sent with two codes, no code under two out_trade_nos;
    /// - the gateway holds exactly the orders in `expected`, each with exactly that many pay
    ///   requests received, and each code charged on one order at most;
    /// - no screen showed a full code.
    fn check_books(&self, expected: &[(&str, u32)]) {
        let witness = lock(&self.witness);
        assert!(witness.violations.is_empty(), "{:#?}", witness.violations);
        assert!(
            witness.leaks.is_empty(),
            "full codes shown: {:#?}",
            witness.leaks
        );
        let mut codes_of: HashMap<&str, HashSet<&str>> = HashMap::new();
        let mut orders_of: HashMap<&str, HashSet<&str>> = HashMap::new();
        for (order, code) in &witness.pays {
            codes_of.entry(order).or_default().insert(code);
            orders_of.entry(code).or_default().insert(order);
        }
        for (order, codes) in &codes_of {
            assert_eq!(
                codes.len(),
                1,
                "order {order} was sent with codes {codes:?}"
            );
        }
        for (code, orders) in &orders_of {
            assert_eq!(orders.len(), 1, "code {code} was sent as orders {orders:?}");
        }
        let ledger = self.ledger();
        let received: BTreeMap<&str, u32> = ledger
            .orders
            .iter()
            .map(|o| (o.out_trade_no.as_str(), o.pay_requests))
            .collect();
        let expected: BTreeMap<&str, u32> = expected.iter().copied().collect();
        assert_eq!(received, expected, "orders at the gateway: {ledger:#?}");
        let mut used = HashSet::new();
        for code in &ledger.codes_used {
            assert!(used.insert(code), "code {code} used twice at the gateway");
            let charged = ledger
                .orders
                .iter()
                .filter(|o| o.auth_code.as_deref() == Some(code.as_str()))
                .count();
            assert_eq!(charged, 1, "code {code} is on {charged} orders");
        }
    }

    /// The sale's final durable record agrees with the gateway: paid there, paid here, same
    /// trade number and amount; its payment code is erased.
    fn check_paid(&self, sale: &SaleView) {
        let ledger = self.ledger();
        let order = ledger
            .order(&sale.out_trade_no)
            .unwrap_or_else(|| panic!("no order {} at the gateway", sale.out_trade_no));
        assert_eq!(order.state, OrderState::Paid);
        assert_eq!(order.amount_fen, AMOUNT.0);
        let witness = lock(&self.witness);
        let record = &witness.durable[&sale.out_trade_no];
        assert_eq!(record.state, SaleState::Paid, "{record:?}");
        assert_eq!(record.trade_no.as_deref(), Some(order.trade_no.as_str()));
        assert_eq!(record.amount, AMOUNT);
        assert_eq!(record.auth_code, None, "the answered code is erased");
    }

    async fn finish(self) {
        self.sim.shutdown().await;
    }
}

// ----- the tests -----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn immediate_success() {
    let c = code(1, 0, 0);
    let rig = Rig::new(std::slice::from_ref(&c)).await;
    let mut daemon = rig.start(policy());
    let sale = daemon.sell(&c).await;
    let path = daemon.until(&sale.sale_id, SaleState::Paid).await;
    assert_eq!(
        path,
        [SaleState::Armed, SaleState::Submitting, SaleState::Paid]
    );
    daemon
        .drawn("the paid screen", |s| matches!(s, Screen::Paid { .. }))
        .await;
    let sent = daemon.stop(Stop::Shutdown).await;
    assert_eq!(sent.first(), Some(&Notification::Ready));
    assert_eq!(sent.last(), Some(&Notification::Stopping));
    // systemctl status follows the counter, one line per change.
    let statuses: Vec<&str> = sent
        .iter()
        .filter_map(|n| match n {
            Notification::Status(line) => Some(line.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(
        statuses.first(),
        Some(&"ready; gateway not contacted yet; queue 0; scanner ok"),
        "no request has come back yet: as in /v1/status"
    );
    assert!(
        statuses.contains(
            &format!(
                "ready (last: sale {} paid); gateway up; queue 0; scanner ok",
                sale.sale_id
            )
            .as_str()
        ),
        "{statuses:?}"
    );
    assert!(
        statuses.windows(2).all(|w| w[0] != w[1]),
        "only changes are sent: {statuses:?}"
    );
    rig.check_paid(&sale);
    rig.check_books(&[(&sale.out_trade_no, 1)]);
    assert_eq!(
        rig.ledger().order(&sale.out_trade_no).unwrap().auth_code,
        Some(c)
    );
    rig.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn userpaying_then_paid_by_query() {
    // Script 02 with 3: USERPAYING, paid on the third query.
    let c = code(2, 2, 3);
    let rig = Rig::new(std::slice::from_ref(&c)).await;
    let mut daemon = rig.start(policy());
    let sale = daemon.sell(&c).await;
    let path = daemon.until(&sale.sale_id, SaleState::Paid).await;
    assert_eq!(
        path,
        [
            SaleState::Armed,
            SaleState::Submitting,
            SaleState::WaitingCustomer,
            SaleState::Paid
        ]
    );
    daemon.stop(Stop::Shutdown).await;
    rig.check_paid(&sale);
    rig.check_books(&[(&sale.out_trade_no, 1)]);
    let order = rig.ledger().order(&sale.out_trade_no).cloned().unwrap();
    assert_eq!(order.queries, 3, "paid on the third query, none after");
    rig.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn systemerror_but_paid_is_resolved_by_query() {
    // Script 08: the pay answer is SYSTEMERROR, yet the gateway took the money.
    let c = code(3, 8, 0);
    let rig = Rig::new(std::slice::from_ref(&c)).await;
    let mut daemon = rig.start(policy());
    let sale = daemon.sell(&c).await;
    let path = daemon.until(&sale.sale_id, SaleState::Paid).await;
    assert_eq!(
        path,
        [
            SaleState::Armed,
            SaleState::Submitting,
            SaleState::Unknown,
            SaleState::Paid
        ]
    );
    daemon.stop(Stop::Shutdown).await;
    rig.check_paid(&sale);
    rig.check_books(&[(&sale.out_trade_no, 1)]);
    rig.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lost_answer_after_recording_is_resolved_by_query_and_charged_once() {
    let c = code(4, 0, 0);
    let rig = Rig::new(std::slice::from_ref(&c)).await;
    rig.sim
        .set_faults(Faults::next(1, Fault::DropAfterRecord).on(&["codepay"]));
    let mut daemon = rig.start(policy());
    let sale = daemon.sell(&c).await;
    let path = daemon.until(&sale.sale_id, SaleState::Paid).await;
    assert_eq!(
        path,
        [
            SaleState::Armed,
            SaleState::Submitting,
            SaleState::Unknown,
            SaleState::Paid
        ]
    );
    daemon.stop(Stop::Shutdown).await;
    rig.check_paid(&sale);
    rig.check_books(&[(&sale.out_trade_no, 1)]);
    rig.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lost_request_is_never_resent_and_ends_for_a_person_to_review() {
    // The connection drops before the gateway records the pay: the terminal cannot know
    // that, so the outcome is unknown. Queries find no order ("not yet known"); the engine
    // keeps asking until the cashier's deadline, frees the counter (the sale is unresolved),
    // keeps reconciling in the background for `reconcile_until`, then flags the sale for a
    // person and stops asking. It never sends the pay again, so the customer's code is never
    // charged by this sale.
    let (lost, next) = (code(5, 0, 0), code(6, 0, 0));
    let rig = Rig::new(&[lost.clone(), next.clone()]).await;
    rig.sim
        .set_faults(Faults::next(1, Fault::DropBeforeRecord).on(&["codepay"]));
    let mut daemon = rig.start(EnginePolicy {
        cashier_deadline: Duration::from_millis(1500),
        // With the fast phase of `policy()` (500 ms): 1.5 s in all.
        reconcile_slow_for: Duration::from_millis(1000),
        ..policy()
    });
    let sale = daemon.sell(&lost).await;
    let path = daemon.until(&sale.sale_id, SaleState::Unresolved).await;
    assert_eq!(
        path,
        [
            SaleState::Armed,
            SaleState::Submitting,
            SaleState::Unknown,
            SaleState::Unresolved
        ]
    );
    // The counter is free for the next customer while the lost sale is reconciled.
    let second = daemon.sell(&next).await;
    daemon.until(&second.sale_id, SaleState::Paid).await;
    let review = daemon
        .journaled(&sale.sale_id, "as needing review", |r| r.needs_review)
        .await;
    assert_eq!(review.state, SaleState::Unresolved);
    assert_eq!(review.next_poll_at, None, "no more polling");
    assert_eq!(review.auth_code, None, "the code is erased, never resent");
    assert_eq!(review.pay_attempts, 1);
    assert!(review.query_attempts >= 3, "{review:?}");
    daemon.stop(Stop::Shutdown).await;
    let queries = lock(&rig.witness)
        .queries
        .iter()
        .filter(|o| **o == sale.out_trade_no)
        .count();
    assert_eq!(
        queries as u32, review.query_attempts,
        "no query after the review flag"
    );
    // The gateway never saw the lost sale, and its code was never used.
    rig.check_books(&[(&second.out_trade_no, 1)]);
    assert_eq!(rig.ledger().codes_used, [next]);
    rig.check_paid(&second);
    rig.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limited_queries_back_off_and_the_sale_is_still_paid() {
    // Script 02 with 2: paid on the second query the gateway counts; the first two queries
    // meet FREQUENTLY before the gateway looks at the order.
    let c = code(31, 2, 2);
    let rig = Rig::new(std::slice::from_ref(&c)).await;
    rig.sim
        .set_faults(Faults::next(2, Fault::Frequently).on(&["query"]));
    let mut daemon = rig.start(policy());
    let sale = daemon.sell(&c).await;
    let path = daemon.until(&sale.sale_id, SaleState::Paid).await;
    assert_eq!(
        path,
        [
            SaleState::Armed,
            SaleState::Submitting,
            SaleState::WaitingCustomer,
            SaleState::Paid
        ]
    );
    daemon.stop(Stop::Shutdown).await;
    rig.check_paid(&sale);
    rig.check_books(&[(&sale.out_trade_no, 1)]);
    assert_eq!(rig.ledger().order(&sale.out_trade_no).unwrap().queries, 2);
    let sent = lock(&rig.witness).queries.len();
    assert_eq!(sent, 4, "two refused, two counted, none after paid");
    rig.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_with_a_pay_on_the_wire_waits_for_its_answer_and_journals_it() {
    let c = code(32, 0, 0);
    let rig = Rig::new(std::slice::from_ref(&c)).await;
    let mut daemon = rig.start(policy());
    rig.sim.set_faults(Faults {
        latency_ms: 500,
        ..Faults::default()
    });
    let sale = daemon.sell(&c).await;
    daemon.until(&sale.sale_id, SaleState::Submitting).await;
    daemon.stop(Stop::Shutdown).await;
    // The answer came back while stopping and is on disk: nothing is left to resume.
    rig.check_paid(&sale);
    let mut daemon = rig.start(policy());
    let next = daemon.arm().await;
    assert!(
        next.out_trade_no.ends_with("-000002"),
        "{}",
        next.out_trade_no
    );
    daemon.stop(Stop::Shutdown).await;
    assert!(lock(&rig.witness).queries.is_empty(), "nothing to look up");
    rig.check_books(&[(&sale.out_trade_no, 1)]);
    rig.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateway_down_queues_then_drains_when_it_comes_back() {
    let c = code(7, 0, 0);
    let rig = Rig::new(std::slice::from_ref(&c)).await;
    let mut daemon = rig.start(policy());
    rig.sim.go_down().await;
    let sale = daemon.sell(&c).await;
    daemon.until(&sale.sale_id, SaleState::Queued).await;
    daemon
        .drawn("the offline screen", |s| {
            matches!(s, Screen::Offline { .. })
        })
        .await;
    rig.sim
        .come_up()
        .await
        .expect("the simulator listens again");
    let path = daemon.until(&sale.sale_id, SaleState::Paid).await;
    // While down, the queued pay is tried again now and then (same number, same code).
    assert_eq!(
        path[..3],
        [SaleState::Armed, SaleState::Submitting, SaleState::Queued]
    );
    assert_eq!(
        path[path.len() - 2..],
        [SaleState::Submitting, SaleState::Paid]
    );
    assert!(
        path.iter().all(|s| matches!(
            s,
            SaleState::Armed | SaleState::Submitting | SaleState::Queued | SaleState::Paid
        )),
        "{path:?}"
    );
    daemon.stop(Stop::Shutdown).await;
    rig.check_paid(&sale);
    // Only the attempt after the gateway came back reached it.
    rig.check_books(&[(&sale.out_trade_no, 1)]);
    let attempts = lock(&rig.witness).pays.len();
    assert!(attempts >= 2, "tried while down, then sent: {attempts}");
    rig.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateway_down_past_the_age_limit_expires_and_never_charges() {
    let (old, fresh) = (code(8, 0, 0), code(9, 0, 0));
    let rig = Rig::new(&[old.clone(), fresh.clone()]).await;
    let mut daemon = rig.start(EnginePolicy {
        pay_max_age: Duration::from_millis(600),
        ..policy()
    });
    rig.sim.go_down().await;
    let sale = daemon.sell(&old).await;
    let path = daemon.until(&sale.sale_id, SaleState::Expired).await;
    assert_eq!(
        path[..3],
        [SaleState::Armed, SaleState::Submitting, SaleState::Queued]
    );
    assert!(
        path.iter().all(|s| matches!(
            s,
            SaleState::Armed | SaleState::Submitting | SaleState::Queued | SaleState::Expired
        )),
        "{path:?}"
    );
    let expired = lock(&rig.witness).durable[&sale.out_trade_no].clone();
    assert_eq!(expired.state, SaleState::Expired);
    assert_eq!(expired.auth_code, None, "an expired code is erased");
    daemon
        .drawn("the expired screen", |s| {
            matches!(s, Screen::Expired { .. })
        })
        .await;
    // The gateway comes back: the expired pay is not sent; the next sale goes through.
    rig.sim
        .come_up()
        .await
        .expect("the simulator listens again");
    let next = daemon.sell(&fresh).await;
    daemon.until(&next.sale_id, SaleState::Paid).await;
    daemon.stop(Stop::Shutdown).await;
    rig.check_paid(&next);
    rig.check_books(&[(&next.out_trade_no, 1)]);
    assert_eq!(rig.ledger().codes_used, [fresh]);
    rig.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn untrustworthy_answers_are_resolved_by_query_never_by_resending() {
    let faults = [
        Fault::WrongSign,
        Fault::UnsignedBody,
        Fault::TruncatedBody,
        Fault::HttpStatusAfterRecord(502),
    ];
    let codes: Vec<String> = (0..faults.len() as u32)
        .map(|n| code(10 + n, 0, 0))
        .collect();
    let rig = Rig::new(&codes).await;
    let mut daemon = rig.start(policy());
    let mut sales = Vec::new();
    for (fault, c) in faults.iter().zip(&codes) {
        rig.sim
            .set_faults(Faults::next(1, fault.clone()).on(&["codepay"]));
        let sale = daemon.sell(c).await;
        let path = daemon.until(&sale.sale_id, SaleState::Paid).await;
        assert_eq!(
            path,
            [
                SaleState::Armed,
                SaleState::Submitting,
                SaleState::Unknown,
                SaleState::Paid
            ],
            "{fault:?}"
        );
        let note = lock(&rig.witness).durable[&sale.out_trade_no].note.clone();
        assert!(
            note.as_deref()
                .is_some_and(|n| n.contains("pay outcome unknown")),
            "{fault:?}: {note:?}"
        );
        sales.push(sale);
    }
    daemon.stop(Stop::Shutdown).await;
    for sale in &sales {
        rig.check_paid(sale);
    }
    let expected: Vec<(&str, u32)> = sales.iter().map(|s| (s.out_trade_no.as_str(), 1)).collect();
    rig.check_books(&expected);
    rig.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_mid_flight_then_restart_finishes_every_sale_once() {
    // Sale 1: the customer confirms 4 s after the pay request (script 03), past the cashier's
    // deadline, so it is reconciled in the background (unresolved) when the crash comes.
    // Sale 2: its pay request is on the wire (held 1 s by the simulator) when the process
    // dies. After the restart from the same journal both end paid, each charged once, and
    // neither pay request is sent again.
    let (slow, in_flight) = (code(20, 3, 4), code(21, 0, 0));
    let rig = Rig::new(&[slow.clone(), in_flight.clone()]).await;
    let policy = EnginePolicy {
        cashier_deadline: Duration::from_millis(1500),
        ..policy()
    };
    let mut daemon = rig.start(policy.clone());
    let first = daemon.sell(&slow).await;
    let path = daemon.until(&first.sale_id, SaleState::Unresolved).await;
    assert_eq!(
        path,
        [
            SaleState::Armed,
            SaleState::Submitting,
            SaleState::WaitingCustomer,
            SaleState::Unresolved
        ]
    );
    rig.sim.set_faults(Faults {
        latency_ms: 1000,
        ..Faults::default()
    });
    let second = daemon.sell(&in_flight).await;
    daemon.until(&second.sale_id, SaleState::Submitting).await;
    let sent = daemon.stop(Stop::Crash).await;
    assert!(
        !sent.contains(&Notification::Stopping),
        "a crash says nothing"
    );
    rig.sim.set_faults(Faults::default());

    let durable = lock(&rig.witness).durable.clone();
    assert_eq!(durable[&second.out_trade_no].state, SaleState::Submitting);
    assert_eq!(durable[&first.out_trade_no].state, SaleState::Unresolved);

    let mut daemon = rig.start(policy);
    // The pay in flight is looked up, never resent; the background sale is asked at once.
    let path = daemon.until(&second.sale_id, SaleState::Paid).await;
    assert!(
        !path.contains(&SaleState::Submitting),
        "resent after the restart: {path:?}"
    );
    assert!(
        matches!(path[0], SaleState::Unknown | SaleState::Unresolved),
        "recovered in flight: {path:?}"
    );
    let path = daemon.until(&first.sale_id, SaleState::Paid).await;
    assert_eq!(path, [SaleState::Unresolved, SaleState::Paid]);
    // Numbering continues after the journal's last number.
    let third = daemon.arm().await;
    assert!(
        third.out_trade_no.ends_with("-000003"),
        "{}",
        third.out_trade_no
    );
    daemon.stop(Stop::Shutdown).await;

    rig.check_paid(&first);
    rig.check_paid(&second);
    rig.check_books(&[(&first.out_trade_no, 1), (&second.out_trade_no, 1)]);
    let pays = lock(&rig.witness).pays.len();
    assert_eq!(pays, 2, "each pay request left once");
    rig.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_while_the_customer_confirms_then_restart_finishes_the_sale() {
    // Script 02 with 6: paid on the sixth query. The loop stops (SIGTERM) while the customer
    // still confirms; the next start recovers the sale from the journal and keeps asking.
    let c = code(30, 2, 6);
    let rig = Rig::new(std::slice::from_ref(&c)).await;
    let mut daemon = rig.start(policy());
    let sale = daemon.sell(&c).await;
    daemon
        .until(&sale.sale_id, SaleState::WaitingCustomer)
        .await;
    let sent = daemon.stop(Stop::Shutdown).await;
    assert_eq!(sent.last(), Some(&Notification::Stopping));
    let waiting = lock(&rig.witness).durable[&sale.out_trade_no].clone();
    assert_eq!(waiting.state, SaleState::WaitingCustomer);
    assert_eq!(waiting.auth_code, None, "the answered code is erased");

    let mut daemon = rig.start(policy());
    let path = daemon.until(&sale.sale_id, SaleState::Paid).await;
    assert_eq!(path, [SaleState::WaitingCustomer, SaleState::Paid]);
    daemon.stop(Stop::Shutdown).await;
    rig.check_paid(&sale);
    rig.check_books(&[(&sale.out_trade_no, 1)]);
    assert_eq!(rig.ledger().order(&sale.out_trade_no).unwrap().queries, 6);
    rig.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_while_armed_disarms_and_frees_the_counter() {
    let c = code(40, 0, 0);
    let rig = Rig::new(std::slice::from_ref(&c)).await;
    let mut daemon = rig.start(policy());
    let armed = daemon.arm().await;
    daemon.stop(Stop::Crash).await;
    let mut daemon = rig.start(policy());
    daemon.until(&armed.sale_id, SaleState::Disarmed).await;
    let sale = daemon.sell(&c).await;
    assert_ne!(
        sale.out_trade_no, armed.out_trade_no,
        "a number is never reused"
    );
    daemon.until(&sale.sale_id, SaleState::Paid).await;
    daemon.stop(Stop::Shutdown).await;
    rig.check_paid(&sale);
    rig.check_books(&[(&sale.out_trade_no, 1)]);
    rig.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn qr_sale_is_paid_on_the_gateways_page_and_found_by_query() {
    let rig = Rig::new(&[]).await;
    let mut daemon = rig.start(policy());
    let qr = daemon
        .board
        .show_qr(QrRequest {
            amount_fen: AMOUNT,
            subject: Some("Tea".into()),
        })
        .await
        .expect("the counter is free");
    assert!(
        qr.url
            .starts_with(&format!("{}/getway/?", rig.sim.base_url())),
        "{}",
        qr.url
    );
    assert!(qr.url.contains(&qr.out_trade_no), "{}", qr.url);
    assert_eq!(qr.amount_fen, AMOUNT);
    let sale_id = qr.out_trade_no.clone();
    daemon.until(&sale_id, SaleState::WaitingCustomer).await;
    daemon
        .drawn(
            "the pay page's QR code",
            |s| matches!(s, Screen::PayQr { url, .. } if *url == qr.url),
        )
        .await;
    // The customer has not opened the page: no order yet, the terminal keeps asking.
    daemon.queried(&qr.out_trade_no, 2).await;
    assert_eq!(
        daemon.board.held(&sale_id).map(|s| s.state),
        Some(SaleState::WaitingCustomer)
    );
    assert!(rig.ledger().order(&qr.out_trade_no).is_none());

    // The customer's phone opens the page (the gateway opens the order), then pays on it.
    let browser = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let page = browser.get(&qr.url).send().await.expect("the page loads");
    assert!(page.status().is_success(), "{}", page.status());
    let trade_no = rig
        .ledger()
        .order(&qr.out_trade_no)
        .expect("opening the page opened the order")
        .trade_no
        .clone();
    let paid = browser
        .post(format!("{}/_sim/h5/{trade_no}/pay", rig.sim.base_url()))
        .send()
        .await
        .expect("the pay button works");
    assert!(paid.status().is_redirection(), "{}", paid.status());

    let path = daemon.until(&sale_id, SaleState::Paid).await;
    assert_eq!(path, [SaleState::WaitingCustomer, SaleState::Paid]);
    daemon
        .drawn("the paid screen", |s| matches!(s, Screen::Paid { .. }))
        .await;
    daemon.stop(Stop::Shutdown).await;
    let record = lock(&rig.witness).durable[&qr.out_trade_no].clone();
    assert_eq!(record.state, SaleState::Paid);
    assert_eq!(record.trade_no.as_deref(), Some(trade_no.as_str()));
    assert_eq!(
        record.pay_attempts, 0,
        "the terminal sends no pay for a QR sale"
    );
    let order = rig.ledger().order(&qr.out_trade_no).cloned().unwrap();
    assert_eq!(order.state, OrderState::Paid);
    assert_eq!(order.auth_code, None);
    // The one "pay request" the gateway counts is the page being opened.
    rig.check_books(&[(&qr.out_trade_no, 1)]);
    assert!(lock(&rig.witness).pays.is_empty());
    rig.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_that_never_verify_show_in_the_status_until_one_does() {
    // What an installer sees with a wrong key or sign_lowercase_values: every answer fails
    // verification. The sale stays unknown (never resent), and /v1/status says why.
    let codes = vec![code(40, 0, 0)];
    let rig = Rig::new(&codes).await;
    let mut daemon = rig.start(policy());
    rig.sim.set_faults(Faults::always(Fault::WrongSign));
    let sale = daemon.sell(&codes[0]).await;
    daemon.until(&sale.sale_id, SaleState::Unknown).await;
    daemon.queried(&sale.out_trade_no, 1).await;
    let gateway = daemon.board.status().gateway;
    assert!(!gateway.ok, "{gateway:?}");
    assert!(
        gateway.detail.contains("no trustworthy answer"),
        "{gateway:?}"
    );
    assert!(
        gateway.detail.contains("merchant key"),
        "the likely cause is named: {gateway:?}"
    );

    rig.sim.set_faults(Faults::default());
    daemon.until(&sale.sale_id, SaleState::Paid).await;
    let board = daemon.board.clone();
    daemon.stop(Stop::Shutdown).await;
    let gateway = board.status().gateway;
    assert!(gateway.ok && gateway.detail == "answering", "{gateway:?}");
    rig.check_paid(&sale);
    rig.check_books(&[(sale.out_trade_no.as_str(), 1)]);
    rig.finish().await;
}

/// CPU time this thread has used so far, in clock ticks (`/proc/thread-self/stat`: utime +
/// stime).
fn thread_cpu_ticks() -> u64 {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").expect("Linux exposes /proc");
    // The command name (field 2) may hold spaces; the fields after its ')' are plain.
    let after_name = &stat[stat.rfind(')').expect("a stat line names the thread") + 2..];
    let fields: Vec<&str> = after_name.split(' ').collect();
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
    fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
}

/// An idle terminal must sleep until something happens: the loop once woke at a kiosk
/// re-arm time that never changed outside kiosk mode, and spun a whole core forever.
/// On a current-thread runtime the loop runs on the test's own thread, so this thread's CPU
/// time while the test waits is the loop's.
#[tokio::test(flavor = "current_thread")]
async fn an_idle_daemon_sleeps_instead_of_spinning() {
    let c = code(50, 0, 0);
    let rig = Rig::new(std::slice::from_ref(&c)).await;
    let mut daemon = rig.start(policy());
    let sale = daemon.sell(&c).await;
    daemon.until(&sale.sale_id, SaleState::Paid).await;

    let window = Duration::from_millis(1000);
    let before = thread_cpu_ticks();
    // Not a synchronisation: the measured interval in which nothing should happen.
    tokio::time::sleep(window).await;
    let used = thread_cpu_ticks() - before;
    // Clock ticks are 1/100 s on Linux: a spinning loop uses about 100 here, an idle one 0.
    assert!(
        used < 20,
        "the idle loop used {used} ticks of CPU in {window:?}"
    );
    daemon.stop(Stop::Shutdown).await;
    rig.check_books(&[(&sale.out_trade_no, 1)]);
    rig.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kiosk_arms_its_own_sales_and_re_arms_after_each_one() {
    let codes = vec![code(51, 0, 0), code(52, 0, 0)];
    let rig = Rig::new(&codes).await;
    let mut daemon = rig.start_kiosk(policy(), AMOUNT);
    let first = daemon
        .drawn("the kiosk's armed sale", |s| {
            matches!(s, Screen::Armed { .. })
        })
        .await;
    assert!(
        matches!(first, Screen::Armed { amount, .. } if amount == AMOUNT),
        "{first:?}"
    );
    let armed = daemon.board.recent_sales(10);
    assert_eq!(armed.len(), 1, "{armed:?}");
    let first = armed[0].clone();
    assert_eq!(first.state, SaleState::Armed);
    let refused = daemon
        .board
        .arm(ArmRequest {
            amount_fen: Fen(99),
            subject: None,
            operator_id: None,
        })
        .await
        .expect_err("a kiosk arms its own sales");
    assert!(refused.to_string().contains("fixed-amount"), "{refused}");

    daemon.scan(&codes[0]).await;
    daemon.until(&first.sale_id, SaleState::Paid).await;
    // The paid screen stays a moment, then the next sale is armed by itself.
    let second = tokio::time::timeout(WAIT, async {
        loop {
            let view = daemon.feed.recv().await.expect("the board is open");
            if view.sale_id != first.sale_id && view.state == SaleState::Armed {
                return view;
            }
        }
    })
    .await
    .expect("the kiosk armed its next sale");
    assert_eq!(second.amount_fen, AMOUNT);
    daemon.scan(&codes[1]).await;
    daemon.until(&second.sale_id, SaleState::Paid).await;
    daemon.stop(Stop::Shutdown).await;
    rig.check_paid(&first);
    rig.check_paid(&second);
    rig.check_books(&[(&first.out_trade_no, 1), (&second.out_trade_no, 1)]);
    rig.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_task_that_panics_leaves_the_sale_unknown_and_it_is_looked_up() {
    // A panic on a request's task once lost its reply: the sale stayed "submitting" forever,
    // never queried, and a paid customer was never reported.
    let c = code(53, 0, 0);
    let rig = Rig::new(std::slice::from_ref(&c)).await;
    let mut daemon = rig.start(policy());
    lock(&rig.witness).panic_after_next_pay = true;
    let sale = daemon.sell(&c).await;
    let path = daemon.until(&sale.sale_id, SaleState::Paid).await;
    assert_eq!(
        path,
        [
            SaleState::Armed,
            SaleState::Submitting,
            SaleState::Unknown,
            SaleState::Paid
        ]
    );
    daemon.stop(Stop::Shutdown).await;
    assert!(!lock(&rig.witness).queries.is_empty(), "it was looked up");
    rig.check_paid(&sale);
    rig.check_books(&[(&sale.out_trade_no, 1)]);
    rig.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disarming_a_sale_that_already_ended_says_it_was_scanned_not_that_it_is_unknown() {
    // `scanpay charge` disarms a sale nobody seemed to scan when its wait runs out; if the
    // customer paid at that moment the daemon answered 404 "no sale", and the cashier was
    // told the charge failed although the customer had paid.
    use scanpay::register::backend::DisarmError;
    let c = code(54, 0, 0);
    let rig = Rig::new(std::slice::from_ref(&c)).await;
    let mut daemon = rig.start(policy());
    let sale = daemon.sell(&c).await;
    daemon.until(&sale.sale_id, SaleState::Paid).await;
    let refused = daemon
        .board
        .disarm(&sale.sale_id)
        .await
        .expect_err("a paid sale cannot be disarmed");
    assert_eq!(
        refused,
        DisarmError::NotArmed {
            sale_id: sale.sale_id.clone(),
            state: SaleState::Paid
        }
    );
    let unknown = daemon.board.disarm("POS1-20990101-999999").await;
    assert!(
        matches!(unknown, Err(DisarmError::NotFound { .. })),
        "{unknown:?}"
    );
    daemon.stop(Stop::Shutdown).await;
    rig.check_paid(&sale);
    rig.check_books(&[(&sale.out_trade_no, 1)]);
    rig.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scanner_task_that_stops_without_a_word_shows_as_missing() {
    // A scanner task that ended without saying "disconnected" (a panic) once left the
    // status "up" and the screen saying "scan now", with no scan ever read again.
    let rig = Rig::new(&[]).await;
    let mut daemon = rig.start(policy());
    daemon
        .scans
        .send(ScannerEvent::Connected {
            source: "test scanner".into(),
        })
        .await
        .unwrap();
    let sale = daemon.arm().await;
    drop(std::mem::replace(&mut daemon.scans, mpsc::channel(1).0));
    daemon
        .drawn("the scanner-missing screen", |s| {
            matches!(s, Screen::ScannerMissing)
        })
        .await;
    let scanner = daemon.board.status().scanner;
    assert!(!scanner.ok, "{scanner:?}");
    assert!(scanner.detail.contains("restart scanpay"), "{scanner:?}");
    assert_eq!(
        daemon.board.held(&sale.sale_id).map(|s| s.state),
        Some(SaleState::Armed)
    );
    daemon.stop(Stop::Shutdown).await;
    rig.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pay_whose_record_cannot_be_written_is_held_back_until_the_disk_takes_it() {
    let c = code(55, 0, 0);
    let rig = Rig::new(std::slice::from_ref(&c)).await;
    let mut daemon = rig.start(policy());
    let sale = daemon.arm().await;
    lock(&rig.witness).disk_full = true;
    daemon.scan(&c).await;
    daemon.until(&sale.sale_id, SaleState::Queued).await;
    assert!(
        lock(&rig.witness).pays.is_empty(),
        "nothing leaves before its record is on disk"
    );
    lock(&rig.witness).disk_full = false;
    let path = daemon.until(&sale.sale_id, SaleState::Paid).await;
    assert_eq!(path.last(), Some(&SaleState::Paid), "{path:?}");
    daemon.stop(Stop::Shutdown).await;
    rig.check_paid(&sale);
    rig.check_books(&[(&sale.out_trade_no, 1)]);
    rig.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_queued_pay_the_gateway_could_take_while_stopping_stays_queued_for_the_next_start() {
    // While stopping, an answer that came back drained the offline queue: the queued pay was
    // journaled "submitting" but never sent (nothing is sent while stopping). The next start
    // took it for a pay that may have arrived, and the sale sat unknown for a day instead of
    // being sent.
    let codes = vec![code(56, 9, 0), code(57, 0, 0)];
    let rig = Rig::new(&codes).await;
    // The queued pay must outlive the query on the wire, which outlives the stop.
    let slow_to_retry = EnginePolicy {
        cashier_deadline: Duration::from_secs(4),
        offline_retry: Duration::from_secs(60),
        ..policy()
    };
    let mut daemon = rig.start(slow_to_retry);
    // A customer who never confirms: the sale is checked in the background.
    let background = daemon.sell(&codes[0]).await;
    daemon
        .until(&background.sale_id, SaleState::Unresolved)
        .await;
    rig.sim.set_faults(Faults {
        latency_ms: 1_500,
        ..Faults::default()
    });
    while daemon.queried.try_recv().is_ok() {}
    daemon.queried(&background.out_trade_no, 1).await;
    // A query is on the wire for a second and a half. The next pay cannot be recorded, so it is
    // held back as never sent: queued (a storage fault: engine/storage.rs). The stop comes
    // before the 2 s retry writes it, so the journal still has the sale armed.
    let queued = daemon.arm().await;
    lock(&rig.witness).disk_full = true;
    daemon.scan(&codes[1]).await;
    daemon.until(&queued.sale_id, SaleState::Queued).await;
    daemon.stop(Stop::Shutdown).await;
    lock(&rig.witness).disk_full = false;
    assert!(
        lock(&rig.witness)
            .pays
            .iter()
            .all(|(order, _)| *order != queued.out_trade_no),
        "nothing is sent while stopping"
    );

    rig.sim.set_faults(Faults::default());
    // The pay whose record never reached the disk was never sent, and the next start does not
    // take it for one that may have arrived: the sale is disarmed (armed at the restart).
    let mut daemon = rig.start(policy());
    daemon.until(&queued.sale_id, SaleState::Disarmed).await;
    daemon.stop(Stop::Shutdown).await;
    rig.check_books(&[(&background.out_trade_no, 1)]);
    rig.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_status_says_the_clock_is_synchronised_as_soon_as_it_is() {
    // The status learnt of it only at the next sale or scan: an idle terminal kept
    // reporting an unsynchronised clock.
    let rig = Rig::new(&[]).await;
    lock(&rig.witness).clock_unsynced = true;
    let mut daemon = rig.start(policy());
    daemon
        .drawn("a screen with the clock warning", |_| {
            lock(&rig.witness).clock_warning_drawn
        })
        .await;
    assert!(!daemon.board.status().clock_synchronized);
    lock(&rig.witness).clock_unsynced = false;
    // The loop checks every 10 s; the redraw without the warning comes after the status
    // is updated.
    daemon
        .drawn("the screen redrawn without the clock warning", |_| {
            !lock(&rig.witness).clock_warning_drawn
        })
        .await;
    assert!(daemon.board.status().clock_synchronized);
    daemon.stop(Stop::Shutdown).await;
    rig.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sale_paid_before_a_crash_is_found_and_listed_after_the_restart() {
    // The board was filled only by the new loop: after a restart GET /v1/sales/{id} said
    // 404 and GET /v1/sales was empty, though the journal held the paid sale.
    use scanpay::register::backend::DisarmError;
    let c = code(58, 0, 0);
    let rig = Rig::new(std::slice::from_ref(&c)).await;
    let mut daemon = rig.start(policy());
    let sale = daemon.sell(&c).await;
    daemon.until(&sale.sale_id, SaleState::Paid).await;
    daemon.stop(Stop::Crash).await;

    let daemon = rig.start(policy());
    let found = daemon
        .board
        .sale(&sale.sale_id)
        .await
        .expect("the journal reads")
        .expect("the paid sale is found after the restart");
    assert_eq!(found.state, SaleState::Paid, "{found:?}");
    assert_eq!(
        found.trade_no,
        lock(&rig.witness).durable[&sale.out_trade_no].trade_no
    );
    let listed: Vec<String> = daemon
        .board
        .recent_sales(10)
        .into_iter()
        .map(|s| s.sale_id)
        .collect();
    assert_eq!(listed, std::slice::from_ref(&sale.sale_id));
    assert_eq!(
        daemon.board.disarm(&sale.sale_id).await,
        Err(DisarmError::NotArmed {
            sale_id: sale.sale_id.clone(),
            state: SaleState::Paid
        })
    );
    daemon.stop(Stop::Shutdown).await;
    rig.check_paid(&sale);
    rig.check_books(&[(&sale.out_trade_no, 1)]);
    rig.finish().await;
}
