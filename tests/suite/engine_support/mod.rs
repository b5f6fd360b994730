//! Test driver for the engine: runs a script of inputs against an `Engine` in simulated time,
//! keeps a journal the way the daemon would, and writes a transcript of every input and
//! output for snapshot comparison.
//!
//! Time only moves by jumping to the engine's next deadline (`Wait`) or by a stated amount
//! (`Advance`, firing every deadline on the way), like quinn-proto's `Pair::drive`.

use std::collections::{BTreeMap, VecDeque};
use std::fmt::Write as _;

use scanpay::engine::{
    Durability, Engine, EnginePolicy, Output, Request, SaleRecord, SaleState, SendFailure,
    Timestamp,
};
use scanpay::protocol::payment_code::mask;
use scanpay::protocol::{ErrCode, Fen, ResultCode, TradeAnswer, TradeStatus};

/// 2026-11-25T20:00:00Z
pub const T0: u64 = 1_795_636_800_000;
pub const WECHAT: &str = "134523198765432101";
pub const ALIPAY: &str = "284523198765432101";
pub const OTHER: &str = "6212345678901";
/// Every code the tests scan.
pub const ALL_CODES: [&str; 5] = [
    WECHAT,
    ALIPAY,
    OTHER,
    "104523198765432109",
    "2945231987654321",
];

/// What the gateway (or the transport) says.
#[derive(Debug, Clone)]
pub enum Answer {
    Gateway {
        result: &'static str,
        err: Option<&'static str>,
        status: Option<&'static str>,
        des: Option<&'static str>,
    },
    /// TRADE_SUCCESS for this many fen (whatever the sale's amount).
    PaidAmount(u64),
    /// TRADE_SUCCESS leaving out the order number and/or the amount (as a reader sees an
    /// answer whose keys' case was changed: the fields are not there).
    PaidWithout {
        out_trade_no: bool,
        total_amount: bool,
    },
    /// TRADE_SUCCESS naming the wallet in `paytype` (the gateway's number for it).
    PaidVia(&'static str),
    Offline,
    Unknown,
    Invalid,
}

pub fn gw(result: &'static str, err: Option<&'static str>, status: Option<&'static str>) -> Answer {
    Answer::Gateway {
        result,
        err,
        status,
        des: None,
    }
}

pub fn paid() -> Answer {
    gw("10000", Some("SUCCESS"), Some("TRADE_SUCCESS"))
}

pub fn userpaying() -> Answer {
    gw("40004", Some("USERPAYING"), None)
}

pub fn waiting() -> Answer {
    gw("10000", None, Some("WAIT_BUYER_PAY"))
}

pub fn not_found() -> Answer {
    gw("40004", Some("ORDER_NOTFOUND"), None)
}

pub fn frequently() -> Answer {
    gw("40004", Some("FREQUENTLY"), None)
}

pub fn insufficient() -> Answer {
    Answer::Gateway {
        result: "40004",
        err: Some("INSUFFICIENT"),
        status: Some("TRADE_FAIL"),
        des: Some("balance too low"),
    }
}

/// One input.
#[derive(Debug, Clone)]
pub enum Step {
    /// Arm a sale of this many fen.
    Arm(u64),
    /// Kiosk mode from now on: a sale of this many fen whenever the counter is free.
    Kiosk(u64),
    /// Disarm the most recently armed sale.
    Disarm,
    Scan(&'static str),
    /// Answer the oldest outstanding request.
    Reply(Answer),
    /// Answer the n-th outstanding request (replies may come back in any order).
    ReplyNth(usize, Answer),
    /// A verified callback about the most recently armed sale.
    Notify(Answer),
    /// Jump to the engine's next deadline and fire it.
    Wait,
    /// Move time on by this many ms, firing every deadline on the way.
    Advance(u64),
    Reachable,
    /// Crash, stay down this many ms, start again from the journal; outstanding requests
    /// are lost.
    Restart(u64),
    /// Crash and start again from the journal with the wall clock this many ms behind the
    /// moment of the crash (a Pi without a real-time clock restores an older time at boot).
    RestartClockBehind(u64),
    /// For this many ms, fire every deadline and give every request this answer; logs one
    /// summary line instead of the details.
    RunFor(u64, Answer),
}

pub use Step::*;

pub struct Sim {
    pub engine: Engine,
    pub policy: EnginePolicy,
    pub now: Timestamp,
    pub journal: BTreeMap<String, SaleRecord>,
    pub last_seq: u64,
    pub outstanding: VecDeque<Request>,
    pub last_armed: Option<String>,
    pub log: String,
    /// Every request sent, in order (for invariant checks).
    pub sent: Vec<Request>,
    /// Suppresses the transcript (RunFor).
    pub quiet: bool,
}

impl Sim {
    pub fn new(policy: EnginePolicy) -> Sim {
        let now = Timestamp(T0);
        let mut sim = Sim {
            engine: Engine::new(policy.clone(), now).unwrap(),
            policy,
            now,
            journal: BTreeMap::new(),
            last_seq: 0,
            outstanding: VecDeque::new(),
            last_armed: None,
            log: String::new(),
            sent: Vec::new(),
            quiet: false,
        };
        sim.line("start");
        sim.drain();
        sim
    }

    fn line(&mut self, text: &str) {
        if self.quiet {
            return;
        }
        let secs = (self.now.0 - T0) as f64 / 1000.0;
        writeln!(self.log, "[{secs:8.3}] {text}").unwrap();
    }

    fn out(&mut self, text: String) {
        if self.quiet {
            return;
        }
        writeln!(self.log, "           {text}").unwrap();
    }

    fn rel(&self, t: Option<Timestamp>) -> String {
        match t {
            Some(t) => format!("{:.3}", (t.0 as f64 - T0 as f64) / 1000.0),
            None => "-".into(),
        }
    }

    /// Carries out every pending output, checking the daemon-side rules as it goes.
    pub fn drain(&mut self) {
        while let Some(output) = self.engine.poll_output() {
            // Invariant 5 (ARCHITECTURE.md): screens, reports and refusals never carry a full code (the
            // Debug form covers every field; a report also goes out as JSON).
            if !matches!(output, Output::Journal(..) | Output::Send(_)) {
                let mut shown = format!("{output:?}");
                if let Output::Report(view) = &output {
                    shown.push_str(&serde_json::to_string(view).unwrap());
                }
                for code in ALL_CODES {
                    assert!(!shown.contains(code), "full code in {shown}");
                }
            }
            match output {
                Output::Journal(r, durability) => {
                    let mut text = format!("journal {} {}", short(&r.sale_id), r.state.as_str());
                    if durability == Durability::Deferred {
                        text.push_str(" (deferred)");
                    }
                    if let Some(code) = &r.auth_code {
                        write!(text, " code={code}").unwrap();
                    }
                    write!(
                        text,
                        " pays={} queries={}",
                        r.pay_attempts, r.query_attempts
                    )
                    .unwrap();
                    if r.next_poll_at.is_some() {
                        write!(text, " next_poll={}", self.rel(r.next_poll_at)).unwrap();
                    }
                    if r.needs_review {
                        text.push_str(" NEEDS_REVIEW");
                    }
                    if r.late {
                        text.push_str(" LATE");
                    }
                    if r.not_found.checking {
                        text.push_str(" CHECKING");
                    }
                    if let Some(note) = &r.note {
                        write!(text, " note={note:?}").unwrap();
                    }
                    self.last_seq = self.last_seq.max(r.seq);
                    self.journal.insert(r.sale_id.clone(), r);
                    self.out(text);
                }
                Output::Send(request) => {
                    // Invariant 3 (ARCHITECTURE.md): the record this request depends on is journaled first.
                    let record = &self.journal[request.sale_id()];
                    assert_eq!(record.out_trade_no, request.out_trade_no());
                    if let Request::Pay { auth_code, .. } = &request {
                        assert_eq!(record.state, SaleState::Submitting);
                        assert_eq!(record.auth_code.as_ref(), Some(auth_code));
                    }
                    let text = match &request {
                        Request::Pay {
                            sale_id,
                            out_trade_no,
                            auth_code,
                            amount,
                            payway,
                            ..
                        } => format!(
                            "send pay {} {out_trade_no} code={auth_code} {amount} {payway:?}",
                            short(sale_id)
                        ),
                        Request::Query { sale_id, .. } => format!("send query {}", short(sale_id)),
                    };
                    self.out(text);
                    self.sent.push(request.clone());
                    self.outstanding.push_back(request);
                }
                Output::Show(screen) => self.out(format!("show {screen:?}")),
                Output::Report(v) => {
                    if v.state == SaleState::Armed {
                        // Armed by the register (`Arm`) or by a kiosk's timer.
                        self.last_armed = Some(v.sale_id.clone());
                    }
                    let mut text = format!("report {} {}", short(&v.sale_id), v.state.as_str());
                    if let Some(t) = &v.trade_no {
                        write!(text, " trade_no={t}").unwrap();
                    }
                    if let Some(e) = &v.err_code {
                        write!(text, " err={e}").unwrap();
                    }
                    if let Some(d) = &v.err_code_des {
                        write!(text, " des={d:?}").unwrap();
                    }
                    if v.needs_review {
                        text.push_str(" needs_review");
                    }
                    if v.late {
                        text.push_str(" late");
                    }
                    self.out(text);
                }
                Output::ScanRefused { reason } => self.out(format!("refused: {reason}")),
                Output::KioskNotArmed { reason } => self.out(format!("kiosk not armed: {reason}")),
            }
        }
        let timeout = self.engine.poll_timeout();
        if timeout.is_some() {
            let text = format!("(next timeout {})", self.rel(timeout));
            self.out(text);
        }
    }

    fn trade_answer(
        &self,
        answer: &Answer,
        out_trade_no: &str,
    ) -> Result<TradeAnswer, SendFailure> {
        match answer {
            Answer::Offline => Err(SendFailure::Offline("connection refused".into())),
            Answer::Unknown => Err(SendFailure::Unknown("timed out after 10 s".into())),
            Answer::Invalid => Err(SendFailure::Invalid("subject longer than 128 bytes".into())),
            Answer::PaidAmount(fen) => {
                let mut answer = self.trade_answer(&paid(), out_trade_no)?;
                answer.total_amount = Some(Fen(*fen));
                Ok(answer)
            }
            Answer::PaidVia(paytype) => {
                let mut answer = self.trade_answer(&paid(), out_trade_no)?;
                answer.paytype = Some(paytype.to_string());
                Ok(answer)
            }
            Answer::PaidWithout {
                out_trade_no: no_order,
                total_amount: no_amount,
            } => {
                let mut answer = self.trade_answer(&paid(), out_trade_no)?;
                if *no_order {
                    answer.out_trade_no = None;
                }
                if *no_amount {
                    answer.total_amount = None;
                }
                Ok(answer)
            }
            Answer::Gateway {
                result,
                err,
                status,
                des,
            } => {
                let paid = matches!(*status, Some("TRADE_SUCCESS" | "TRADE_FINISHED"))
                    || (status.is_none() && *err == Some("SUCCESS"));
                let amount = self.journal.get(out_trade_no).map(|r| r.amount);
                Ok(TradeAnswer {
                    result_code: ResultCode::parse(result),
                    err_code: err.map(ErrCode::parse),
                    err_code_des: des.map(str::to_string),
                    trade_status: status.map(TradeStatus::parse),
                    out_trade_no: Some(out_trade_no.to_string()),
                    trade_no: paid.then(|| "2026112522001400001234".to_string()),
                    total_amount: if paid { amount } else { None },
                    paytype: None,
                    pay_date: None,
                })
            }
        }
    }

    fn reply(&mut self, n: usize, answer: &Answer) {
        let request = self
            .outstanding
            .remove(n)
            .expect("a request is outstanding");
        let reply = self.trade_answer(answer, request.out_trade_no());
        let id = request.sale_id().to_string();
        match request {
            Request::Pay { .. } => {
                self.line(&format!("pay reply {} {}", short(&id), describe(answer)));
                self.engine.handle_pay_reply(&id, reply, self.now);
            }
            Request::Query { .. } => {
                self.line(&format!("query reply {} {}", short(&id), describe(answer)));
                self.engine.handle_query_reply(&id, reply, self.now);
            }
        }
    }

    pub fn step(&mut self, step: &Step) {
        match step {
            Arm(fen) => {
                self.line(&format!("arm {}", Fen(*fen)));
                match self
                    .engine
                    .arm(Fen(*fen), "Coffee".into(), "001".into(), self.now)
                {
                    Ok(view) => {
                        self.out(format!("-> ok {}", view.sale_id));
                        self.last_armed = Some(view.sale_id);
                    }
                    Err(e) => self.out(format!("-> error: {e}")),
                }
            }
            Kiosk(fen) => {
                self.line(&format!("kiosk {}", Fen(*fen)));
                self.engine
                    .start_kiosk(Fen(*fen), "Coffee".into(), "001".into(), self.now);
            }
            Disarm => {
                let id = self.last_armed.clone().expect("a sale was armed");
                self.line(&format!("disarm {}", short(&id)));
                match self.engine.disarm(&id, self.now) {
                    Ok(view) => self.out(format!("-> ok {}", view.state.as_str())),
                    Err(e) => self.out(format!("-> error: {e}")),
                }
            }
            Scan(text) => {
                self.line(&format!("scan {}", mask(text)));
                self.engine.handle_scan(text, self.now);
            }
            Reply(answer) => self.reply(0, answer),
            ReplyNth(n, answer) => self.reply(*n, answer),
            Notify(answer) => {
                let id = self.last_armed.clone().expect("a sale was armed");
                self.line(&format!("notify {} {}", short(&id), describe(answer)));
                let answer = self.trade_answer(answer, &id).expect("a gateway answer");
                if let Err(e) = self.engine.handle_notify(answer, self.now) {
                    self.out(format!("-> error: {e}"));
                }
            }
            Wait => match self.engine.poll_timeout() {
                Some(t) => {
                    self.now = self.now.max(t);
                    self.line("timeout");
                    self.engine.handle_timeout(self.now);
                }
                None => self.line("wait: nothing scheduled"),
            },
            Advance(ms) => {
                let target = Timestamp(self.now.0 + ms);
                for _ in 0..100_000 {
                    match self.engine.poll_timeout() {
                        Some(t) if t <= target => {
                            self.now = self.now.max(t);
                            self.line("timeout");
                            self.engine.handle_timeout(self.now);
                            self.drain();
                        }
                        _ => break,
                    }
                }
                self.now = target;
                self.line(&format!("(advanced {:.3} s)", *ms as f64 / 1000.0));
            }
            RunFor(ms, answer) => {
                let target = Timestamp(self.now.0 + ms);
                let sent_before = self.sent.len();
                self.quiet = true;
                for _ in 0..100_000 {
                    while !self.outstanding.is_empty() {
                        self.step(&Reply(answer.clone()));
                    }
                    match self.engine.poll_timeout() {
                        Some(t) if t <= target => {
                            self.now = self.now.max(t);
                            self.engine.handle_timeout(self.now);
                            self.drain();
                        }
                        _ => break,
                    }
                }
                self.quiet = false;
                self.now = target;
                let sent = self.sent.len() - sent_before;
                let summary = format!(
                    "(ran {:.3} s answering {}: {sent} requests sent)",
                    *ms as f64 / 1000.0,
                    describe(answer)
                );
                self.line(&summary);
            }
            Reachable => {
                self.line("gateway reachable");
                self.engine.gateway_reachable(self.now);
            }
            Restart(down_ms) => {
                self.line("crash");
                self.now = Timestamp(self.now.0 + down_ms);
                self.restart();
            }
            RestartClockBehind(behind_ms) => {
                self.line("crash");
                self.now = Timestamp(self.now.0 - behind_ms);
                self.restart();
            }
        }
        self.drain();
    }

    /// Starts a new engine from the journal's unfinished records at `self.now`; requests
    /// that were outstanding are lost with the old process.
    fn restart(&mut self) {
        let unfinished: Vec<SaleRecord> = self
            .journal
            .values()
            .filter(|r| r.followed())
            .cloned()
            .collect();
        self.line(&format!(
            "restart ({} unfinished, last_seq {})",
            unfinished.len(),
            self.last_seq
        ));
        self.outstanding.clear();
        self.engine = Engine::new(self.policy.clone(), self.now).unwrap();
        self.engine
            .recover(unfinished, self.last_seq, None, self.now);
    }

    pub fn run(&mut self, script: &[Step]) {
        for step in script {
            self.step(step);
        }
    }
}

fn describe(answer: &Answer) -> String {
    match answer {
        Answer::Gateway {
            result,
            err,
            status,
            ..
        } => format!("{result} {} {}", err.unwrap_or("-"), status.unwrap_or("-")),
        Answer::PaidAmount(fen) => format!("paid {}", Fen(*fen)),
        Answer::PaidVia(paytype) => format!("paid paytype={paytype}"),
        Answer::PaidWithout {
            out_trade_no,
            total_amount,
        } => {
            let missing: Vec<&str> = [
                ("out_trade_no", *out_trade_no),
                ("total_amount", *total_amount),
            ]
            .into_iter()
            .filter_map(|(name, gone)| gone.then_some(name))
            .collect();
            format!("paid without {}", missing.join(" and "))
        }
        Answer::Offline => "Offline".into(),
        Answer::Unknown => "Unknown".into(),
        Answer::Invalid => "Invalid".into(),
    }
}

/// `#1` for `POS1-20261125-000001`.
pub fn short(sale_id: &str) -> String {
    let seq = sale_id.rsplit('-').next().unwrap_or(sale_id);
    format!("#{}", seq.trim_start_matches('0'))
}

/// Runs a script with the default policy and returns the transcript; fails if a full
/// payment code shows anywhere in it.
pub fn transcript(script: &[Step]) -> String {
    let mut sim = Sim::new(EnginePolicy::default());
    sim.run(script);
    for code in [WECHAT, ALIPAY, OTHER] {
        assert!(!sim.log.contains(code), "full code {code} in transcript");
    }
    sim.log
}
