//! The counter: arming a sale (by the register, or by a kiosk whenever the counter is free)
//! and disarming one that has not been scanned.

use std::time::Duration;

use super::machine::{millis, Engine, Sale};
use super::output::{ArmRefusal, DisarmRefusal, Durability, Output};
use super::record::SaleRecord;
use super::sale::{SaleState, SaleView};
use super::time::Timestamp;
use crate::protocol::messages::limits;
use crate::protocol::Fen;

/// How long a paid/failed screen stays before a kiosk arms the next sale.
pub const KIOSK_REARM_AFTER: Duration = Duration::from_secs(5);

/// Kiosk mode: the sale armed whenever the counter is free, and when to arm it next.
#[derive(Debug, Clone)]
pub(super) struct Kiosk {
    amount: Fen,
    subject: String,
    operator_id: String,
    /// None while the counter is busy (a time left in the past would be due forever).
    pub(super) rearm_at: Option<Timestamp>,
}

impl Engine {
    /// Kiosk mode: from now on a sale of `amount` is armed whenever the counter is free, the
    /// first at once (if the counter is free), later ones `KIOSK_REARM_AFTER` after the
    /// counter became free, so the last sale's result stays on the screen a while. The
    /// re-arm is one of the engine's timers (`poll_timeout`).
    pub fn start_kiosk(
        &mut self,
        amount: Fen,
        subject: String,
        operator_id: String,
        now: Timestamp,
    ) {
        let now = self.tick(now);
        self.kiosk = Some(Kiosk {
            amount,
            subject,
            operator_id,
            rearm_at: Some(now),
        });
        self.pump(now);
    }

    /// Kiosk mode ends (the daemon is stopping): no sale is armed any more on its timer.
    pub fn stop_kiosk(&mut self) {
        self.kiosk = None;
    }

    /// Arms the kiosk's sale when its time has come; keeps its re-arm time in step with the
    /// counter (none while busy, `KIOSK_REARM_AFTER` after it becomes free).
    pub(super) fn rearm_kiosk(&mut self, now: Timestamp) {
        let counter_free = self.counter.is_none();
        let Some(kiosk) = &mut self.kiosk else {
            return;
        };
        match kiosk.rearm_at {
            _ if !counter_free => kiosk.rearm_at = None,
            None => kiosk.rearm_at = Some(now.plus(KIOSK_REARM_AFTER)),
            Some(at) if at <= now => {
                kiosk.rearm_at = None;
                let (amount, subject, operator_id) = (
                    kiosk.amount,
                    kiosk.subject.clone(),
                    kiosk.operator_id.clone(),
                );
                if let Err(refusal) = self.arm(amount, subject, operator_id, now) {
                    // Try again on a timer of its own: nothing else may wake the loop.
                    if let Some(kiosk) = &mut self.kiosk {
                        kiosk.rearm_at = Some(now.plus(KIOSK_REARM_AFTER));
                    }
                    self.outputs.push_back(Output::KioskNotArmed {
                        reason: refusal.to_string(),
                    });
                }
            }
            Some(_) => {}
        }
    }

    /// The register arms a sale. Refused while another sale is at the counter.
    pub fn arm(
        &mut self,
        amount: Fen,
        subject: String,
        operator_id: String,
        now: Timestamp,
    ) -> Result<SaleView, ArmRefusal> {
        let now = self.tick(now);
        let record = self.new_sale(amount, subject, operator_id, now)?;
        Ok(self.open_at_counter(record, now))
    }

    /// The register asks for a customer-scans-merchant sale: the customer pays on the
    /// gateway's pay page, shown as a QR code. `pay_page` makes the page's URL for the sale's
    /// order number. The sale starts out waiting for the customer and is followed by query
    /// exactly like a scanned sale after USERPAYING (ORDER_NOTFOUND meaning "not paid yet"),
    /// so a late payment on the page is still found and reported.
    pub fn arm_qr(
        &mut self,
        amount: Fen,
        subject: String,
        operator_id: String,
        pay_page: impl FnOnce(&str) -> Result<String, String>,
        now: Timestamp,
    ) -> Result<SaleView, ArmRefusal> {
        let now = self.tick(now);
        let mut record = self.new_sale(amount, subject, operator_id, now)?;
        let url = pay_page(&record.out_trade_no).map_err(|reason| {
            // The number was never shown to anyone: give it back.
            self.last_seq -= 1;
            ArmRefusal::PayPage { reason }
        })?;
        record.qr_url = Some(url);
        record.state = SaleState::WaitingCustomer;
        record.scanned_at = Some(now);
        record.deadline_at = Some(now.plus(self.policy.cashier_deadline));
        record.next_poll_at = Some(now.plus(self.policy.first_query));
        Ok(self.open_at_counter(record, now))
    }

    /// A new record for the counter, numbered; refused while the counter is busy.
    fn new_sale(
        &mut self,
        amount: Fen,
        subject: String,
        operator_id: String,
        now: Timestamp,
    ) -> Result<SaleRecord, ArmRefusal> {
        if amount.0 == 0 {
            return Err(ArmRefusal::ZeroAmount { amount });
        }
        // Checked here, before a customer's single-use code is spent on a request the
        // gateway client would refuse: the same limits, counted the same way (characters).
        for (field, value, max) in [
            ("subject", &subject, limits::SUBJECT),
            ("operator_id", &operator_id, limits::OPERATOR_ID),
        ] {
            if value.trim().is_empty() || value.chars().count() > max {
                return Err(ArmRefusal::BadField {
                    field,
                    value: value.to_string(),
                    rule: format!("give 1 to {max} characters"),
                });
            }
        }
        if let Some(detail) = self.storage_fault() {
            return Err(ArmRefusal::StorageFault {
                detail: detail.to_string(),
            });
        }
        if let Some(busy) = self.counter_sale() {
            return Err(ArmRefusal::CounterBusy {
                sale_id: busy.sale_id,
                state: busy.state,
            });
        }
        self.last_seq += 1;
        let out_trade_no = SaleRecord::order_number(
            &self.policy.order_prefix,
            now,
            self.epoch.as_ref(),
            self.last_seq,
        );
        Ok(SaleRecord {
            sale_id: out_trade_no.clone(),
            out_trade_no,
            seq: self.last_seq,
            amount,
            subject,
            operator_id,
            state: SaleState::Armed,
            payway: None,
            auth_code: None,
            trade_no: None,
            err_code: None,
            err_code_des: None,
            created_at: now,
            updated_at: now,
            scanned_at: None,
            deadline_at: None,
            unresolved_at: None,
            next_poll_at: None,
            poll_interval_ms: millis(self.policy.query_interval),
            pay_attempts: 0,
            query_attempts: 0,
            needs_review: false,
            note: None,
            qr_url: None,
            salvaged: false,
            late: false,
            not_found: Default::default(),
        })
    }

    /// Journals a new sale, reports it and puts it at the counter.
    fn open_at_counter(&mut self, record: SaleRecord, now: Timestamp) -> SaleView {
        let view = record.view();
        let id = record.sale_id.clone();
        self.outputs
            .push_back(Output::Journal(record.clone(), Durability::Synced));
        self.outputs.push_back(Output::Report(view.clone()));
        self.sales.insert(
            id.clone(),
            Sale {
                synced: record.clone(),
                record,
                in_flight: None,
                recorded: false,
            },
        );
        self.counter = Some(id);
        self.show_counter();
        self.pump(now);
        view
    }

    /// The register cancels a sale that has not been scanned.
    pub fn disarm(&mut self, sale_id: &str, now: Timestamp) -> Result<SaleView, DisarmRefusal> {
        let now = self.tick(now);
        let state = match self.sales.get(sale_id) {
            Some(sale) => sale.record.state,
            None => {
                return Err(DisarmRefusal::NotFound {
                    sale_id: sale_id.to_string(),
                })
            }
        };
        if state != SaleState::Armed {
            return Err(DisarmRefusal::AlreadyScanned {
                sale_id: sale_id.to_string(),
                state,
            });
        }
        self.update_journaled(sale_id, now, |r| r.state = SaleState::Disarmed);
        let view = self.last_reported(sale_id);
        self.pump(now);
        Ok(view.expect("a disarmed sale was just reported"))
    }
}
