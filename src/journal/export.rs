//! `scanpay journal`: one row per sale for reconciliation against the gateway's statements,
//! as CSV (RFC 4180 quoting) or JSON lines.

use std::io::Write;

use serde::Serialize;

use super::{Journal, JournalError};
use crate::engine::{SaleRecord, Timestamp};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    Csv,
    JsonLines,
}

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error(transparent)]
    Journal(#[from] JournalError),
    #[error("writing the export failed: {0}; check the output file or pipe")]
    Write(#[from] std::io::Error),
}

/// One exported sale. No payment code (it is not in this struct at all).
#[derive(Debug, Serialize)]
struct Row<'a> {
    sale_id: &'a str,
    out_trade_no: &'a str,
    amount_yuan: String,
    amount_fen: u64,
    state: &'a str,
    payway: Option<&'a str>,
    trade_no: Option<&'a str>,
    err_code: Option<&'a str>,
    err_code_des: Option<&'a str>,
    subject: &'a str,
    operator_id: &'a str,
    created_at: String,
    updated_at: String,
    needs_review: bool,
}

const COLUMNS: [&str; 14] = [
    "sale_id",
    "out_trade_no",
    "amount_yuan",
    "amount_fen",
    "state",
    "payway",
    "trade_no",
    "err_code",
    "err_code_des",
    "subject",
    "operator_id",
    "created_at",
    "updated_at",
    "needs_review",
];

impl<'a> Row<'a> {
    fn of(r: &'a SaleRecord) -> Row<'a> {
        Row {
            sale_id: &r.sale_id,
            out_trade_no: &r.out_trade_no,
            amount_yuan: r.amount.yuan(),
            amount_fen: r.amount.0,
            state: r.state.as_str(),
            payway: r.payway.map(|p| p.name()),
            trade_no: r.trade_no.as_deref(),
            err_code: r.err_code.as_deref(),
            err_code_des: r.err_code_des.as_deref(),
            subject: &r.subject,
            operator_id: &r.operator_id,
            created_at: r.created_at.rfc3339(),
            updated_at: r.updated_at.rfc3339(),
            needs_review: r.needs_review,
        }
    }

    fn csv_fields(&self) -> [String; 14] {
        let opt = |v: Option<&str>| v.unwrap_or_default().to_string();
        [
            self.sale_id.to_string(),
            self.out_trade_no.to_string(),
            self.amount_yuan.clone(),
            self.amount_fen.to_string(),
            self.state.to_string(),
            opt(self.payway),
            opt(self.trade_no),
            opt(self.err_code),
            opt(self.err_code_des),
            self.subject.to_string(),
            self.operator_id.to_string(),
            self.created_at.clone(),
            self.updated_at.clone(),
            self.needs_review.to_string(),
        ]
    }
}

/// RFC 4180: a field with a comma, quote or line break is quoted, quotes doubled.
fn csv_field(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_string()
    }
}

/// Writes every sale created in `[from, to)`, oldest first; returns how many.
pub fn export(
    journal: &dyn Journal,
    from: Timestamp,
    to: Timestamp,
    format: ExportFormat,
    out: &mut dyn Write,
) -> Result<usize, ExportError> {
    let records = journal.list(from, to)?;
    if format == ExportFormat::Csv {
        out.write_all(COLUMNS.join(",").as_bytes())?;
        out.write_all(b"\r\n")?;
    }
    for record in &records {
        let row = Row::of(record);
        match format {
            ExportFormat::Csv => {
                let line: Vec<String> = row.csv_fields().iter().map(|f| csv_field(f)).collect();
                out.write_all(line.join(",").as_bytes())?;
                out.write_all(b"\r\n")?;
            }
            ExportFormat::JsonLines => {
                serde_json::to_writer(&mut *out, &row).map_err(std::io::Error::from)?;
                out.write_all(b"\n")?;
            }
        }
    }
    out.flush()?;
    Ok(records.len())
}
