//! The one builder of hand-made `SaleView`s for tests: the register's and the CLI's unit
//! tests (`crate::register::sale_fixtures`) and the integration tests, which include this
//! file with `#[path]` beside a crate-root `use scanpay::{engine, protocol}` so that the
//! `crate::` paths below name the same types there.

use crate::engine::{SaleState, SaleView};
use crate::protocol::Fen;

/// A ¥12.50 "Coffee" sale in `state`, as the engine would show it before the gateway filled
/// anything in. Its order number is its id, as the daemon's are; set other fields with
/// `SaleView { field, ..sale_view(id, state) }`.
pub fn sale_view(sale_id: &str, state: SaleState) -> SaleView {
    SaleView {
        sale_id: sale_id.to_string(),
        out_trade_no: sale_id.to_string(),
        amount_fen: Fen(1250),
        subject: "Coffee".to_string(),
        state,
        payway: None,
        trade_no: None,
        err_code: None,
        err_code_des: None,
        created_at: "2026-11-25T20:00:00Z".to_string(),
        updated_at: "2026-11-25T20:00:00Z".to_string(),
        needs_review: false,
        late: false,
    }
}
