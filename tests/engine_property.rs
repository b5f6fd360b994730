//! Property-style test of the engine's money invariants over many random fault sequences
//! (seeded, reproducible; no extra crates): whatever the network, the gateway, the scanner
//! and the power supply do,
//! - no sale is ever sent under two `out_trade_no`s;
//! - no `out_trade_no` is ever sent with a different code (and, while the engine runs, no
//!   code is sent for two sales);
//! - a pay request is sent again only after its previous attempt never left (Offline);
//! - every pay request is journaled (submitting, with its code) before it is sent;
//! - at most one sale holds the counter; a final state never changes;
//! - no full payment code reaches a screen, a report, a refusal or a log line;
//! - once the gateway answers again, every sale ends final (or flagged for review).

mod engine_support;

use std::collections::HashMap;

use engine_support::*;
use scanpay::engine::{EnginePolicy, Request, SaleState};

/// xorshift64*: small, seeded, good enough to pick fault sequences.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

const CODES: [&str; 5] = ALL_CODES;

fn random_answer(rng: &mut Rng) -> Answer {
    match rng.below(14) {
        0 | 1 => paid(),
        2 | 3 => userpaying(),
        4 => waiting(),
        5 => insufficient(),
        6 => not_found(),
        7 => frequently(),
        8 => gw("40004", Some("ORDER_CONFLICT"), None),
        9 => gw("40004", Some("ORDERPAID"), None),
        10 => gw("20000", None, None),
        11 => Answer::Offline,
        12 => Answer::Unknown,
        _ => Answer::Invalid,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LastPay {
    Outstanding,
    NeverLeft,
    /// Answered, failed in a way that may have reached the gateway, or lost in a crash.
    Settled,
}

#[derive(Default)]
struct Ledger {
    number_of_sale: HashMap<String, String>,
    code_of_number: HashMap<String, String>,
    number_of_code: HashMap<String, String>,
    last_pay: HashMap<String, LastPay>,
    final_state: HashMap<String, SaleState>,
    checked_sent: usize,
}

impl Ledger {
    fn check(&mut self, sim: &Sim, seed: u64) {
        for request in &sim.sent[self.checked_sent..] {
            if let Request::Pay {
                sale_id,
                out_trade_no,
                auth_code,
                ..
            } = request
            {
                let code = auth_code.expose().to_string();
                let number = self
                    .number_of_sale
                    .entry(sale_id.clone())
                    .or_insert_with(|| out_trade_no.clone());
                assert_eq!(
                    number, out_trade_no,
                    "seed {seed}: sale sent under two numbers"
                );
                let sent_code = self
                    .code_of_number
                    .entry(out_trade_no.clone())
                    .or_insert_with(|| code.clone());
                assert_eq!(
                    *sent_code, code,
                    "seed {seed}: {out_trade_no} sent with a new code"
                );
                let code_number = self
                    .number_of_code
                    .entry(code.clone())
                    .or_insert_with(|| out_trade_no.clone());
                assert_eq!(
                    code_number, out_trade_no,
                    "seed {seed}: one code, two sales"
                );
                if let Some(last) = self.last_pay.get(out_trade_no) {
                    assert_eq!(
                        *last,
                        LastPay::NeverLeft,
                        "seed {seed}: {out_trade_no} paid again after {last:?}"
                    );
                }
                self.last_pay
                    .insert(out_trade_no.clone(), LastPay::Outstanding);
            }
        }
        self.checked_sent = sim.sent.len();

        let at_counter = sim
            .journal
            .values()
            .filter(|r| {
                matches!(
                    r.state,
                    SaleState::Armed
                        | SaleState::Submitting
                        | SaleState::WaitingCustomer
                        | SaleState::Queued
                        | SaleState::Unknown
                )
            })
            .count();
        assert!(
            at_counter <= 1,
            "seed {seed}: {at_counter} sales hold the counter"
        );
        for record in sim.journal.values() {
            if let Some(done) = self.final_state.get(&record.sale_id) {
                assert_eq!(*done, record.state, "seed {seed}: final state changed");
            } else if record.state.is_final() {
                self.final_state
                    .insert(record.sale_id.clone(), record.state);
            }
            if !matches!(record.state, SaleState::Queued | SaleState::Submitting) {
                assert!(
                    record.auth_code.is_none(),
                    "seed {seed}: code kept in a {} record",
                    record.state.as_str()
                );
            }
        }
    }
}

fn run(seed: u64) -> (usize, usize) {
    let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    let mut sim = Sim::new(EnginePolicy::default());
    let mut ledger = Ledger::default();
    for _ in 0..150 {
        let step = match rng.below(20) {
            0..=2 => Arm(1 + rng.below(100_000)),
            3 => Disarm,
            4..=6 => Scan(CODES[rng.below(CODES.len() as u64) as usize]),
            7..=11 if !sim.outstanding.is_empty() => {
                let n = rng.below(sim.outstanding.len() as u64) as usize;
                ReplyNth(n, random_answer(&mut rng))
            }
            12 => Notify(random_answer(&mut rng)),
            13 | 14 => Wait,
            15 | 16 => Advance(rng.below(40_000)),
            17 => Reachable,
            18 => Restart(rng.below(90_000)),
            _ => Wait,
        };
        let step = match step {
            Disarm | Notify(_) if sim.last_armed.is_none() => Wait,
            Notify(Answer::Offline | Answer::Unknown | Answer::Invalid) => Wait,
            other => other,
        };
        // What the reply says about whether the pay left.
        if let ReplyNth(n, answer) = &step {
            if let Request::Pay { out_trade_no, .. } = &sim.outstanding[*n] {
                let last = match answer {
                    Answer::Offline => LastPay::NeverLeft,
                    _ => LastPay::Settled,
                };
                ledger.last_pay.insert(out_trade_no.clone(), last);
            }
        }
        if let Restart(_) = step {
            // Used codes are remembered in memory only: the journal erases answered codes
            // (and a digest of a short digit string would give it away), and the wallet
            // refuses a used code anyway. So "one code, one sale" holds per engine lifetime.
            ledger.number_of_code.clear();
            for request in &sim.outstanding {
                if let Request::Pay { out_trade_no, .. } = request {
                    ledger
                        .last_pay
                        .insert(out_trade_no.clone(), LastPay::Settled);
                }
            }
        }
        sim.step(&step);
        ledger.check(&sim, seed);
    }

    // The gateway comes back and answers "paid" to everything: every sale must end.
    if let Some(id) = sim.last_armed.clone() {
        if sim
            .engine
            .sale(&id)
            .is_some_and(|v| v.state == SaleState::Armed)
        {
            sim.step(&Disarm);
        }
    }
    sim.step(&Reachable);
    for _ in 0..10_000 {
        while !sim.outstanding.is_empty() {
            sim.step(&Reply(paid()));
        }
        if sim.engine.poll_timeout().is_none() {
            break;
        }
        sim.step(&Wait);
    }
    ledger.check(&sim, seed);
    for record in sim.journal.values() {
        assert!(
            record.state.is_final()
                || (record.state == SaleState::Unresolved && record.needs_review),
            "seed {seed}: sale {} left {}",
            record.sale_id,
            record.state.as_str()
        );
    }
    for code in CODES {
        assert!(
            !sim.log.contains(code),
            "seed {seed}: full code in the transcript"
        );
    }
    let paid = sim
        .journal
        .values()
        .filter(|r| r.state == SaleState::Paid)
        .count();
    (sim.journal.len(), paid)
}

#[test]
fn no_fault_sequence_breaks_the_money_invariants() {
    let mut sales = 0;
    let mut paid = 0;
    for seed in 0..400 {
        let (s, p) = run(seed);
        sales += s;
        paid += p;
    }
    // The sequences really exercised sales (not just refusals).
    assert!(sales > 2_000, "only {sales} sales");
    assert!(paid > 500, "only {paid} paid");
}
