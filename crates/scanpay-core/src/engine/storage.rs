//! A journal write that failed (disk full, an I/O error on write or on fsync): the rule for
//! money while storage fails, and how service resumes by itself.
//!
//! The daemon tells the engine the result of its journal writes: `journal_failed` for a
//! record that did not reach the disk, `journal_written` for one that did (ignored while
//! storage is healthy: the engine assumes a write succeeds until told otherwise). From the
//! first failure until every record whose latest version did not reach the disk has been
//! written again:
//!
//! - no pay request leaves (invariant 3): pays already waiting behind the failed write are
//!   taken back and held as `queued` (they never left), and queued pays are not started;
//! - no sale is armed (`ArmRefusal::StorageFault`) and no scan is taken; a sale whose own
//!   first record failed (the arm that found the fault) was never armed: it is withdrawn,
//!   disarmed, and the register is refused (`confirm_arm`), so nothing of it is shown or sent;
//! - the counter shows `Screen::StorageFault`;
//! - the unwritten records are written again every `STORAGE_RETRY_EVERY` (a timer of the one
//!   table, `timers.rs`): after a failed fsync the page cache cannot be trusted to hold what
//!   was written ("fsyncgate"), so the whole record is written again, never assumed.
//!
//! When the last unwritten record is written, the fault clears: the counter's screen comes
//! back and held pays go out in order, each journaled (durably) again just before it leaves.
//! Queries are not held: they depend on nothing on disk, and what they bring is journaled
//! (and retried) like any other change.

use std::collections::BTreeMap;
use std::time::Duration;

use super::machine::Engine;
use super::output::{ArmRefusal, Durability, Output, Request};
use super::record::SaleRecord;
use super::sale::{SaleState, SaleView};
use super::time::Timestamp;

/// How often records that did not reach the disk are written again.
pub const STORAGE_RETRY_EVERY: Duration = Duration::from_secs(2);

/// Storage that failed a write and has not taken every record since.
#[derive(Debug, Clone)]
pub(super) struct StorageFault {
    /// The journal's words for the latest failure (paths and OS error; no code, no key).
    pub(super) detail: String,
    pub(super) retry_at: Timestamp,
    /// By sale id: the version that failed (a sale the engine no longer follows, e.g. a
    /// final one, is written again from here; a followed one from its current record).
    unwritten: BTreeMap<String, SaleRecord>,
}

impl Engine {
    /// The journal could not durably write `record` (`detail` says why, safe to show).
    /// Storage is faulted until every record that failed has been written again. A sale
    /// whose first record this was is withdrawn (see the module docs).
    pub fn journal_failed(&mut self, record: &SaleRecord, detail: &str, now: Timestamp) {
        let now = self.tick(now);
        let newly = self.storage.is_none();
        let fault = self.storage.get_or_insert_with(|| StorageFault {
            detail: String::new(),
            retry_at: now.plus(STORAGE_RETRY_EVERY),
            unwritten: BTreeMap::new(),
        });
        fault.detail = detail.to_string();
        // A version written again may fail after a newer one did: keep the newest.
        let newest = fault
            .unwritten
            .get(&record.sale_id)
            .is_none_or(|kept| kept.updated_at <= record.updated_at);
        if newest {
            fault
                .unwritten
                .insert(record.sale_id.clone(), record.clone());
        }
        self.hold_waiting_pays();
        let withdrawn = self.withdraw_unrecorded(&record.sale_id, now);
        if newly || withdrawn {
            self.show_counter();
        }
    }

    /// Whether an arm stands, asked once its outputs have been carried out (the write of its
    /// record reported): an arm whose record did not reach the disk was withdrawn, and the
    /// register is told storage failed instead of being given a sale.
    pub fn confirm_arm(&self, armed: SaleView) -> Result<SaleView, ArmRefusal> {
        match self.sales.get(&armed.sale_id) {
            Some(sale) if sale.recorded => Ok(armed),
            _ => Err(ArmRefusal::StorageFault {
                detail: self
                    .storage_fault()
                    .unwrap_or("the journal did not record the sale")
                    .to_string(),
            }),
        }
    }

    /// A sale none of whose versions reached the disk was never armed: it is disarmed (that
    /// final record is what the retry writes, so its order number stays used) and what was
    /// queued to show of it goes (the counter's screen follows). Returns whether it was.
    fn withdraw_unrecorded(&mut self, sale_id: &str, now: Timestamp) -> bool {
        if self.sales.get(sale_id).is_none_or(|sale| sale.recorded) {
            return false;
        }
        self.update_journaled(sale_id, now, |r| {
            r.state = SaleState::Disarmed;
            r.note = Some("not armed: storage fault, the journal could not record the sale".into());
        });
        self.outputs
            .retain(|output| !matches!(output, Output::Show(_)));
        true
    }

    /// The journal durably wrote the latest version of `sale_id`. Clears the fault once
    /// nothing unwritten is left, and sends what was held.
    pub fn journal_written(&mut self, sale_id: &str, now: Timestamp) {
        let now = self.tick(now);
        if let Some(sale) = self.sales.get_mut(sale_id) {
            sale.recorded = true;
        }
        let Some(fault) = &mut self.storage else {
            return;
        };
        fault.unwritten.remove(sale_id);
        if fault.unwritten.is_empty() {
            self.storage = None;
            self.show_counter();
            self.pump(now);
        }
    }

    /// Why storage is failing, while it is.
    pub fn storage_fault(&self) -> Option<&str> {
        self.storage.as_ref().map(|f| f.detail.as_str())
    }

    /// When the unwritten records are written again (a timer of `timers.rs`).
    pub(super) fn storage_retry_at(&self) -> Option<Timestamp> {
        self.storage.as_ref().map(|f| f.retry_at)
    }

    /// The retry timer: every record whose latest version did not reach the disk is
    /// journaled again, a followed sale as it is now.
    pub(super) fn retry_storage(&mut self, now: Timestamp) {
        let Some(fault) = &mut self.storage else {
            return;
        };
        fault.retry_at = now.plus(STORAGE_RETRY_EVERY);
        let records: Vec<SaleRecord> = fault
            .unwritten
            .values()
            .map(|r| match self.sales.get(&r.sale_id) {
                Some(sale) => sale.record.clone(),
                None => r.clone(),
            })
            .collect();
        // Synced: a failed write is never assumed to have reached the page cache either.
        for record in records {
            if let Some(sale) = self.sales.get_mut(&record.sale_id) {
                sale.synced = record.clone();
            }
            self.outputs
                .push_back(Output::Journal(record, Durability::Synced));
        }
    }

    /// Pays waiting in the output queue behind a failed write never leave: each goes back to
    /// `queued` (it never left, so the code may still be sent, within its age limit) until
    /// storage takes writes again.
    fn hold_waiting_pays(&mut self) {
        let mut held = Vec::new();
        self.outputs.retain(|output| match output {
            Output::Send(Request::Pay { sale_id, .. }) => {
                held.push(sale_id.clone());
                false
            }
            Output::Send(Request::Query { .. })
            | Output::Journal(..)
            | Output::Show(_)
            | Output::Report(_)
            | Output::ScanRefused { .. }
            | Output::KioskNotArmed { .. } => true,
        });
        for sale_id in held {
            let Some(sale) = self.sales.get_mut(&sale_id) else {
                continue;
            };
            sale.in_flight = None;
            let r = &mut sale.record;
            r.state = SaleState::Queued;
            // The attempt never happened: the first pay that leaves is still the first
            // (invariant 7 reads ORDERPAID on a first pay as another order's answer).
            r.pay_attempts = r.pay_attempts.saturating_sub(1);
            r.note = Some("storage fault: held until the journal can record it".into());
            let record = r.clone();
            self.outputs.push_back(Output::Report(record.view()));
            if let Some(fault) = &mut self.storage {
                fault.unwritten.insert(sale_id.clone(), record);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{ArmRefusal, EnginePolicy, Screen};
    use crate::protocol::{Fen, ResultCode, TradeAnswer, TradeStatus};

    const T: Timestamp = Timestamp(1_795_636_800_000);
    const CODE: &str = "134523198765432101";

    /// Carries out the outputs like the daemon, with a disk that fails while `disk_full`.
    fn drive(e: &mut Engine, disk_full: bool, now: Timestamp) -> Vec<String> {
        let mut done = Vec::new();
        while let Some(output) = e.poll_output() {
            match output {
                Output::Journal(r, _) if disk_full => {
                    done.push(format!("journal FAILED {}", r.state.as_str()));
                    e.journal_failed(&r, "No space left on device (os error 28)", now);
                }
                Output::Journal(r, _) => {
                    done.push(format!("journal {}", r.state.as_str()));
                    e.journal_written(&r.sale_id, now);
                }
                Output::Send(req) => done.push(format!("send {:?}", req.call())),
                Output::Show(screen) => done.push(format!("show {}", screen_name(&screen))),
                Output::Report(v) => done.push(format!("report {}", v.state.as_str())),
                Output::ScanRefused { reason } => done.push(format!("refused: {reason}")),
                Output::KioskNotArmed { reason } => done.push(format!("kiosk: {reason}")),
            }
        }
        done
    }

    fn screen_name(screen: &Screen) -> String {
        match screen {
            Screen::StorageFault { amount, .. } => format!("storage_fault {amount:?}"),
            other => serde_json::to_value(other).unwrap()["screen"]
                .as_str()
                .unwrap()
                .to_string(),
        }
    }

    fn paid(out_trade_no: &str) -> TradeAnswer {
        TradeAnswer {
            result_code: ResultCode::Success,
            err_code: None,
            err_code_des: None,
            trade_status: Some(TradeStatus::TradeSuccess),
            out_trade_no: Some(out_trade_no.into()),
            trade_no: Some("T1".into()),
            total_amount: Some(Fen(1250)),
            paytype: None,
            pay_date: None,
        }
    }

    #[test]
    fn a_final_record_that_failed_is_written_again_and_a_scan_while_faulted_is_refused() {
        let mut e = Engine::new(EnginePolicy::default(), T).unwrap();
        let sale = e.arm(Fen(1250), "Tea".into(), "001".into(), T).unwrap();
        e.handle_scan(CODE, T);
        drive(&mut e, false, T);
        // The answer comes while the disk fails: the sale is paid (the gateway says so), but
        // its record did not reach the disk, so it is written again until it does.
        e.handle_pay_reply(&sale.sale_id, Ok(paid(&sale.out_trade_no)), T);
        let outputs = drive(&mut e, true, T);
        assert_eq!(
            outputs,
            [
                "journal FAILED paid",
                "report paid",
                "show paid",
                "show storage_fault None"
            ]
        );
        // No sale is armed on top of it; a scan starts nothing and says why.
        assert!(matches!(
            e.arm(Fen(1), "Tea".into(), "001".into(), T),
            Err(ArmRefusal::StorageFault { .. })
        ));
        e.handle_scan("134523198765432102", T);
        let outputs = drive(&mut e, true, T);
        assert_eq!(outputs.len(), 1, "{outputs:?}");
        assert!(
            outputs[0].starts_with("refused: storage fault"),
            "{outputs:?}"
        );
        // The retry writes the final record (the engine no longer follows the sale).
        let retry = T.plus(STORAGE_RETRY_EVERY);
        e.handle_timeout(retry);
        assert_eq!(drive(&mut e, false, retry), ["journal paid", "show ready"]);
        assert_eq!(e.storage_fault(), None);
        assert_eq!(e.poll_timeout(), None);
        assert!(e.arm(Fen(1), "Tea".into(), "001".into(), retry).is_ok());
    }

    #[test]
    fn an_arm_whose_record_fails_is_withdrawn_refused_and_its_disarmed_record_written_later() {
        let mut e = Engine::new(EnginePolicy::default(), T).unwrap();
        drive(&mut e, false, T);
        let sale = e.arm(Fen(1250), "Tea".into(), "001".into(), T).unwrap();
        let outputs = drive(&mut e, true, T);
        // Nothing of the sale is shown: the counter says storage fault, and is free.
        assert_eq!(
            outputs,
            [
                "journal FAILED armed",
                "report armed",
                "journal FAILED disarmed",
                "report disarmed",
                "show storage_fault None",
            ]
        );
        let refused = e.confirm_arm(sale.clone());
        assert!(
            matches!(&refused, Err(ArmRefusal::StorageFault { detail }) if detail.contains("os error 28")),
            "{refused:?}"
        );
        assert_eq!(e.counter_sale(), None);
        e.handle_scan(CODE, T);
        let outputs = drive(&mut e, true, T);
        assert!(
            outputs.len() == 1 && outputs[0].starts_with("refused: storage fault"),
            "{outputs:?}"
        );
        // The retry writes the disarmed record (its order number stays used); then an arm
        // whose record is written stands.
        let retry = T.plus(STORAGE_RETRY_EVERY);
        e.handle_timeout(retry);
        assert_eq!(
            drive(&mut e, false, retry),
            ["journal disarmed", "show ready"]
        );
        let next = e.arm(Fen(1250), "Tea".into(), "001".into(), retry).unwrap();
        assert_ne!(next.out_trade_no, sale.out_trade_no);
        drive(&mut e, false, retry);
        assert_eq!(e.confirm_arm(next.clone()), Ok(next));
    }

    #[test]
    fn a_pay_page_whose_record_fails_is_never_shown() {
        let mut e = Engine::new(EnginePolicy::default(), T).unwrap();
        drive(&mut e, false, T);
        let sale = e
            .arm_qr(
                Fen(1250),
                "Tea".into(),
                "001".into(),
                |no| Ok(format!("https://pay.example/{no}")),
                T,
            )
            .unwrap();
        let outputs = drive(&mut e, true, T);
        let shown: Vec<_> = outputs.iter().filter(|o| o.starts_with("show")).collect();
        assert_eq!(shown, ["show storage_fault None"], "{outputs:?}");
        assert!(e.confirm_arm(sale).is_err());
        assert_eq!(e.counter_sale(), None);
    }

    #[test]
    fn a_held_pay_past_its_age_expires_unsent() {
        let mut e = Engine::new(EnginePolicy::default(), T).unwrap();
        e.arm(Fen(1250), "Tea".into(), "001".into(), T).unwrap();
        drive(&mut e, false, T);
        e.handle_scan(CODE, T);
        drive(&mut e, true, T);
        // The disk stays full past the pay's age limit: the code is never sent.
        let mut now = T;
        let mut sent = Vec::new();
        while now < T.plus(e.policy().pay_max_age) {
            now = e.poll_timeout().unwrap();
            e.handle_timeout(now);
            sent.extend(drive(&mut e, true, now));
        }
        assert!(!sent.iter().any(|o| o.starts_with("send")), "{sent:?}");
        assert!(sent.contains(&"report expired".to_string()), "{sent:?}");
        // When the disk takes writes again, the expired record is what is written.
        now = e.poll_timeout().unwrap();
        e.handle_timeout(now);
        assert_eq!(drive(&mut e, false, now), ["journal expired", "show ready"]);
    }

    #[test]
    fn while_storage_fails_nothing_is_armed_or_scanned_and_a_freed_disk_sends_the_pay() {
        let mut e = Engine::new(EnginePolicy::default(), T).unwrap();
        let sale = e.arm(Fen(1250), "Tea".into(), "001".into(), T).unwrap();
        drive(&mut e, false, T);

        e.handle_scan(CODE, T);
        let outputs = drive(&mut e, true, T);
        assert!(
            !outputs.iter().any(|o| o.starts_with("send Pay")),
            "{outputs:?}"
        );
        assert!(
            outputs.contains(&"show storage_fault Some(Fen(1250))".to_string()),
            "{outputs:?}"
        );
        assert_eq!(
            e.storage_fault(),
            Some("No space left on device (os error 28)")
        );
        assert_eq!(e.counter_sale().unwrap().state, SaleState::Queued);
        assert_eq!(e.sales[&sale.sale_id].record.pay_attempts, 0);

        // A second sale cannot be armed, and another scan starts nothing.
        e.disarm(&sale.sale_id, T).unwrap_err();
        let refused = e.arm(Fen(1), "Tea".into(), "001".into(), T);
        assert!(
            matches!(refused, Err(ArmRefusal::StorageFault { .. })),
            "{refused:?}"
        );

        // The retry timer is in the one table; while the disk is still full nothing leaves.
        let retry = T.plus(STORAGE_RETRY_EVERY);
        assert_eq!(e.poll_timeout(), Some(retry));
        e.handle_timeout(retry);
        let outputs = drive(&mut e, true, retry);
        assert_eq!(outputs, ["journal FAILED queued"]);
        let retry = retry.plus(STORAGE_RETRY_EVERY);
        assert_eq!(e.poll_timeout(), Some(retry));

        // Space is freed: the retry writes the record, the fault clears, and the pay goes
        // out after its record (submitting, durable) is written.
        e.handle_timeout(retry);
        let outputs = drive(&mut e, false, retry);
        assert_eq!(
            outputs,
            [
                "journal queued",
                "show offline",
                "journal submitting",
                "report submitting",
                "show processing",
                "send Pay",
            ],
        );
        assert_eq!(e.storage_fault(), None);
        assert_eq!(e.sales[&sale.sale_id].record.pay_attempts, 1);
        e.handle_pay_reply(&sale.sale_id, Ok(paid(&sale.out_trade_no)), retry);
        let outputs = drive(&mut e, false, retry);
        assert_eq!(outputs, ["journal paid", "report paid", "show paid"]);
    }
}
