//! The one builder of hand-made `SaleRecord`s for the tests and the bench: a ¥12.50 "Coffee"
//! sale numbered `seq` under `sale_id` (also its order number), created at `created_at`, in
//! `state`, with nothing from the gateway yet. Set other fields with
//! `SaleRecord { field, ..sale_record(id, seq, state, at) }`.

use scanpay::engine::{SaleRecord, SaleState, Timestamp};
use scanpay::protocol::Fen;

pub fn sale_record(sale_id: &str, seq: u64, state: SaleState, created_at: Timestamp) -> SaleRecord {
    SaleRecord {
        sale_id: sale_id.to_string(),
        out_trade_no: sale_id.to_string(),
        seq,
        amount: Fen(1250),
        subject: "Coffee".into(),
        operator_id: "001".into(),
        state,
        payway: None,
        auth_code: None,
        trade_no: None,
        err_code: None,
        err_code_des: None,
        created_at,
        updated_at: created_at,
        scanned_at: None,
        deadline_at: None,
        unresolved_at: None,
        next_poll_at: None,
        poll_interval_ms: 3000,
        pay_attempts: 1,
        query_attempts: 0,
        needs_review: false,
        note: None,
        qr_url: None,
        salvaged: false,
        late: false,
        not_found: Default::default(),
    }
}
