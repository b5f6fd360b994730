//! Checking a sale again at once, on request: `scanpay reconcile` found the gateway saying
//! something else of a sale the engine still follows (e.g. paid, while the terminal has no
//! outcome yet). The disagreement is fed back here rather than written to the journal by the
//! command (one writer): the sale's next query is moved to now, through the one timer
//! table, and its answer is acted on like any other (`answers.rs`). Nothing is decided from
//! what reconciliation saw; only the gateway's answer to the engine's own query counts.

use super::machine::Engine;
use super::output::RecheckRefusal;
use super::sale::{SaleState, SaleView};
use super::time::Timestamp;
use crate::protocol::Call;

impl Engine {
    /// Queries the gateway about `sale_id` now, if the engine still follows it by query
    /// (waiting for the customer, unknown, unresolved) and it has not ended (`needs_review`).
    /// A query already out is that check: nothing more is sent. While the gateway is
    /// unreachable the query waits for the next probe like any other. Returns the sale as
    /// it is once the query is handed out. Past the end of its reconciliation window the
    /// table's review comes first: the sale needs review, no query goes, and it is refused
    /// as ended.
    pub fn recheck(&mut self, sale_id: &str, now: Timestamp) -> Result<SaleView, RecheckRefusal> {
        let now = self.tick(now);
        let Some(sale) = self.sales.get(sale_id) else {
            return Err(RecheckRefusal::NotFound {
                sale_id: sale_id.to_string(),
            });
        };
        let record = &sale.record;
        let ended = || RecheckRefusal::Ended {
            sale_id: sale_id.to_string(),
            state: record.state,
            needs_review: record.needs_review,
        };
        match record.state {
            SaleState::WaitingCustomer | SaleState::Unknown | SaleState::Unresolved => {
                if record.needs_review {
                    return Err(ended());
                }
            }
            SaleState::Armed | SaleState::Submitting | SaleState::Queued => {
                return Err(RecheckRefusal::NotYet {
                    sale_id: sale_id.to_string(),
                    state: record.state,
                })
            }
            // Still followed only when ended by the not-found rule (checked in the
            // background until its window ends): ended all the same.
            SaleState::Paid | SaleState::Failed | SaleState::Expired | SaleState::Disarmed => {
                return Err(ended())
            }
        }
        let before = record.view();
        if sale.in_flight != Some(Call::Query) {
            // Schedule only: the query's answer is what gets journaled.
            self.update_unjournaled(sale_id, |r| r.next_poll_at = Some(now));
            self.pump(now);
        }
        match self.sale(sale_id) {
            // Its reconciliation window had ended: the table's review came first.
            Some(after) if after.needs_review => Err(RecheckRefusal::Ended {
                sale_id: sale_id.to_string(),
                state: after.state,
                needs_review: true,
            }),
            after => Ok(after.unwrap_or(before)),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::engine::{EnginePolicy, Output, Request, SendFailure};
    use crate::protocol::{ErrCode, Fen, ResultCode, TradeAnswer, TradeStatus};

    const T: Timestamp = Timestamp(1_795_636_800_000);

    fn engine(policy: EnginePolicy) -> Engine {
        Engine::new(policy, T).unwrap()
    }

    /// The outputs since the last call, one line each: what the daemon would carry out.
    fn transcript(e: &mut Engine) -> Vec<String> {
        std::iter::from_fn(|| e.poll_output())
            .filter_map(|o| match o {
                Output::Send(Request::Query { out_trade_no, .. }) => {
                    Some(format!("send query {out_trade_no}"))
                }
                Output::Send(Request::Pay { out_trade_no, .. }) => {
                    Some(format!("send pay {out_trade_no}"))
                }
                Output::Journal(r, _) => Some(format!("journal {}", r.state.as_str())),
                Output::Report(v) => Some(format!(
                    "report {}{}",
                    v.state.as_str(),
                    if v.late { " late" } else { "" }
                )),
                Output::Show(_) | Output::ScanRefused { .. } | Output::KioskNotArmed { .. } => None,
            })
            .collect()
    }

    fn answer(
        out_trade_no: &str,
        status: Option<TradeStatus>,
        err: Option<ErrCode>,
    ) -> TradeAnswer {
        TradeAnswer {
            result_code: if err.is_some() {
                ResultCode::BusinessFailure
            } else {
                ResultCode::Success
            },
            err_code: err,
            err_code_des: None,
            trade_status: status,
            out_trade_no: Some(out_trade_no.to_string()),
            trade_no: Some("T1".into()),
            total_amount: Some(Fen(1250)),
            paytype: None,
            pay_date: None,
        }
    }

    /// A sale whose pay answer was lost, past the cashier's deadline: unresolved, its next
    /// query on the reconciliation schedule (30 s away by default).
    fn unresolved(e: &mut Engine) -> (SaleView, Timestamp) {
        let sale = e.arm(Fen(1250), "Tea".into(), "001".into(), T).unwrap();
        e.handle_scan("134523198765432101", T);
        e.handle_pay_reply(&sale.sale_id, Err(SendFailure::Unknown("reset".into())), T);
        let deadline = T.plus(e.policy().cashier_deadline);
        // Every query until the deadline goes unanswered.
        let mut now = T;
        while e.sale(&sale.sale_id).unwrap().state != SaleState::Unresolved {
            now = e.poll_timeout().unwrap().min(deadline);
            e.handle_timeout(now);
            if transcript(e).iter().any(|l| l.starts_with("send query")) {
                e.handle_query_reply(&sale.sale_id, Err(SendFailure::Unknown("lost".into())), now);
            }
        }
        transcript(e);
        (e.sale(&sale.sale_id).unwrap(), now)
    }

    #[test]
    fn an_unresolved_sale_is_queried_now_and_its_answer_settles_it() {
        let mut e = engine(EnginePolicy::default());
        let (sale, since) = unresolved(&mut e);
        let now = since.plus(Duration::from_secs(10));
        assert!(e.poll_timeout().unwrap() > now, "not due by itself yet");
        let view = e.recheck(&sale.sale_id, now).unwrap();
        assert_eq!(view.state, SaleState::Unresolved);
        // The query goes now; nothing is journaled for the request itself.
        assert_eq!(
            transcript(&mut e),
            [format!("send query {}", sale.out_trade_no)]
        );
        e.handle_query_reply(
            &sale.sale_id,
            Ok(answer(
                &sale.out_trade_no,
                Some(TradeStatus::TradeSuccess),
                None,
            )),
            now,
        );
        // Paid, not late: an unresolved sale had not ended.
        assert_eq!(transcript(&mut e), ["journal paid", "report paid"]);
        assert!(e.sale(&sale.sale_id).is_none(), "final: no longer followed");
    }

    #[test]
    fn a_query_already_out_is_the_check_and_a_second_recheck_sends_nothing_more() {
        let mut e = engine(EnginePolicy::default());
        let (sale, _) = unresolved(&mut e);
        let now = T.plus(Duration::from_secs(61));
        e.recheck(&sale.sale_id, now).unwrap();
        assert_eq!(transcript(&mut e).len(), 1);
        assert_eq!(
            e.recheck(&sale.sale_id, now).unwrap().state,
            SaleState::Unresolved
        );
        assert_eq!(transcript(&mut e), Vec::<String>::new());
        // Its answer (still waiting) puts the sale back on its schedule.
        e.handle_query_reply(
            &sale.sale_id,
            Ok(answer(
                &sale.out_trade_no,
                Some(TradeStatus::WaitBuyerPay),
                None,
            )),
            now,
        );
        transcript(&mut e);
        assert_eq!(
            e.poll_timeout(),
            Some(now.plus(e.policy().reconcile_fast_interval))
        );
    }

    #[test]
    fn a_sale_waiting_for_the_customer_is_asked_before_its_interval() {
        let mut e = engine(EnginePolicy::default());
        let sale = e.arm(Fen(1250), "Tea".into(), "001".into(), T).unwrap();
        e.handle_scan("134523198765432101", T);
        e.handle_pay_reply(
            &sale.sale_id,
            Ok(answer(
                &sale.out_trade_no,
                Some(TradeStatus::WaitBuyerPay),
                None,
            )),
            T,
        );
        transcript(&mut e);
        let soon = T.plus(Duration::from_millis(100));
        assert!(e.poll_timeout().unwrap() > soon);
        assert_eq!(
            e.recheck(&sale.sale_id, soon).unwrap().state,
            SaleState::WaitingCustomer
        );
        assert_eq!(
            transcript(&mut e),
            [format!("send query {}", sale.out_trade_no)]
        );
    }

    #[test]
    fn what_is_not_checked_by_query_is_refused_with_its_state() {
        let mut e = engine(EnginePolicy::default());
        let armed = e.arm(Fen(1250), "Tea".into(), "001".into(), T).unwrap();
        assert_eq!(
            e.recheck(&armed.sale_id, T),
            Err(RecheckRefusal::NotYet {
                sale_id: armed.sale_id.clone(),
                state: SaleState::Armed
            })
        );
        e.handle_scan("134523198765432101", T);
        assert!(matches!(
            e.recheck(&armed.sale_id, T),
            Err(RecheckRefusal::NotYet {
                state: SaleState::Submitting,
                ..
            })
        ));
        transcript(&mut e);
        e.handle_pay_reply(
            &armed.sale_id,
            Ok(answer(
                &armed.out_trade_no,
                Some(TradeStatus::TradeSuccess),
                None,
            )),
            T,
        );
        transcript(&mut e);
        // Paid and forgotten by the engine: the register API looks it up in the journal.
        assert_eq!(
            e.recheck(&armed.sale_id, T),
            Err(RecheckRefusal::NotFound {
                sale_id: armed.sale_id.clone()
            })
        );
        assert_eq!(
            transcript(&mut e),
            Vec::<String>::new(),
            "nothing sent or written"
        );
    }

    #[test]
    fn a_sale_that_needs_review_has_ended_and_is_refused() {
        let policy = EnginePolicy {
            reconcile_fast_for: Duration::from_secs(60),
            reconcile_slow_for: Duration::from_secs(60),
            ..EnginePolicy::default()
        };
        let mut e = engine(policy);
        let (sale, _) = unresolved(&mut e);
        // Every query of the window goes unanswered; then it needs review.
        while !e.sale(&sale.sale_id).unwrap().needs_review {
            let now = e.poll_timeout().expect("followed until review");
            e.handle_timeout(now);
            if transcript(&mut e)
                .iter()
                .any(|l| l.starts_with("send query"))
            {
                e.handle_query_reply(&sale.sale_id, Err(SendFailure::Unknown("lost".into())), now);
            }
        }
        let later = e.sale(&sale.sale_id).unwrap();
        let err = e.recheck(&sale.sale_id, T.plus(Duration::from_secs(3600)));
        assert_eq!(
            err,
            Err(RecheckRefusal::Ended {
                sale_id: sale.sale_id.clone(),
                state: SaleState::Unresolved,
                needs_review: true
            })
        );
        assert!(err.unwrap_err().to_string().contains("needs review"));
        assert_eq!(transcript(&mut e), Vec::<String>::new());
        assert_eq!(e.sale(&sale.sale_id), Some(later), "unchanged");
    }

    #[test]
    fn past_the_reconciliation_window_the_review_comes_first() {
        let policy = EnginePolicy {
            reconcile_fast_for: Duration::from_secs(60),
            reconcile_slow_for: Duration::from_secs(60),
            ..EnginePolicy::default()
        };
        let window = policy.reconcile_until();
        let mut e = engine(policy);
        let (sale, since) = unresolved(&mut e);
        // Unanswered queries until the next one is due after the window's end.
        while e.poll_timeout().unwrap() <= since.plus(window) {
            let now = e.poll_timeout().unwrap();
            e.handle_timeout(now);
            if transcript(&mut e)
                .iter()
                .any(|l| l.starts_with("send query"))
            {
                e.handle_query_reply(&sale.sale_id, Err(SendFailure::Unknown("lost".into())), now);
            }
        }
        let after_window = since.plus(window).plus(Duration::from_secs(1));
        assert!(!e.sale(&sale.sale_id).unwrap().needs_review);
        assert!(matches!(
            e.recheck(&sale.sale_id, after_window),
            Err(RecheckRefusal::Ended {
                state: SaleState::Unresolved,
                needs_review: true,
                ..
            })
        ));
        assert_eq!(
            transcript(&mut e),
            ["journal unresolved", "report unresolved"],
            "reviewed, not queried"
        );
    }

    #[test]
    fn a_sale_ended_by_the_not_found_rule_is_refused_as_ended() {
        let policy = EnginePolicy {
            not_found_final: Duration::from_secs(60),
            ..EnginePolicy::default()
        };
        let mut e = engine(policy);
        let (sale, _) = unresolved(&mut e);
        let not_found = answer(&sale.out_trade_no, None, Some(ErrCode::OrderNotFound));
        while e.sale(&sale.sale_id).unwrap().state != SaleState::Failed {
            let now = e.poll_timeout().unwrap();
            e.handle_timeout(now);
            if transcript(&mut e)
                .iter()
                .any(|l| l.starts_with("send query"))
            {
                e.handle_query_reply(&sale.sale_id, Ok(not_found.clone()), now);
            }
        }
        assert!(matches!(
            e.recheck(&sale.sale_id, T.plus(Duration::from_secs(600))),
            Err(RecheckRefusal::Ended {
                state: SaleState::Failed,
                needs_review: false,
                ..
            })
        ));
    }
}
