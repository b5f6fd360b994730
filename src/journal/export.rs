//! The reconciliation export: one row per sale for comparing with the gateway's statements,
//! as CSV (RFC 4180 quoting, formula cells neutralised) or JSON lines. The one home of the
//! export's columns and of both writings: `scanpay journal` (from the store or from the
//! daemon) and `GET /v1/journal` all go through `ExportPages`.

use std::io::Write;

use serde::Serialize;

use super::{Journal, JournalError, PageRequest};
use crate::engine::{SaleRecord, Timestamp};

/// How many sales one page of an export reads from the journal: what bounds its memory.
pub const EXPORT_PAGE: usize = 256;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    Csv,
    JsonLines,
}

impl ExportFormat {
    /// `csv` or `jsonl`, as the CLI's `--format` and the API's `format=` spell it.
    pub fn parse(text: &str) -> Option<ExportFormat> {
        match text {
            "csv" => Some(ExportFormat::Csv),
            "jsonl" => Some(ExportFormat::JsonLines),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            ExportFormat::Csv => "csv",
            ExportFormat::JsonLines => "jsonl",
        }
    }

    /// The HTTP content type of an export in this format.
    pub fn content_type(self) -> &'static str {
        match self {
            ExportFormat::Csv => "text/csv; charset=utf-8",
            ExportFormat::JsonLines => "application/x-ndjson",
        }
    }
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
    late: bool,
}

const COLUMNS: [&str; 15] = [
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
    "late",
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
            late: r.late,
        }
    }

    fn csv_fields(&self) -> [String; 15] {
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
            self.late.to_string(),
        ]
    }

    fn write(&self, format: ExportFormat, out: &mut Vec<u8>) {
        match format {
            ExportFormat::Csv => {
                let line: Vec<String> = self.csv_fields().iter().map(|f| csv_field(f)).collect();
                out.extend_from_slice(line.join(",").as_bytes());
                out.extend_from_slice(b"\r\n");
            }
            ExportFormat::JsonLines => {
                serde_json::to_writer(&mut *out, self).expect("a Row always serialises");
                out.push(b'\n');
            }
        }
    }
}

/// A cell a spreadsheet would run as a formula (OWASP "CSV injection"): it starts with `=`,
/// `+`, `-`, `@`, a tab or a carriage return. Subjects and gateway texts come from outside.
fn looks_like_a_formula(text: &str) -> bool {
    text.starts_with(['=', '+', '-', '@', '\t', '\r'])
}

/// One CSV cell: a formula-looking value gets a leading `'` (so a spreadsheet shows it as
/// text), then RFC 4180: a field with a comma, quote or line break is quoted, quotes doubled.
fn csv_field(text: &str) -> String {
    let text = if looks_like_a_formula(text) {
        format!("'{text}")
    } else {
        text.to_string()
    };
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text
    }
}

/// An export bound (`from` / `to`): a day `2026-11-25` (midnight UTC) or an RFC 3339
/// instant; the one reading of both `scanpay journal --from/--to` and `GET /v1/journal`.
pub fn parse_when(text: &str) -> Result<Timestamp, String> {
    use chrono::{DateTime, NaiveDate, Utc};
    if let Ok(day) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        let midnight = day.and_hms_opt(0, 0, 0).expect("midnight exists").and_utc();
        return Ok(Timestamp::from_millis(
            midnight.timestamp_millis().max(0) as u64
        ));
    }
    DateTime::parse_from_rfc3339(text)
        .map(|t| Timestamp::from_millis(t.with_timezone(&Utc).timestamp_millis().max(0) as u64))
        .map_err(|_| {
            let shown: String = text.chars().take(64).collect();
            format!(
                "{shown:?} is not a date (2026-11-25) or an RFC 3339 time (2026-11-25T08:00:00Z)"
            )
        })
}

/// An export read page by page: each item is the text of one page of at most `page` sales
/// (the first also carries the CSV header), so memory is bounded by one page whatever the
/// journal holds. `fetch` is `Journal::list_page` or something calling it.
pub struct ExportPages<F> {
    fetch: F,
    format: ExportFormat,
    /// The next page to fetch: `after` moves on page by page.
    next: PageRequest,
    started: bool,
    done: bool,
    count: usize,
}

/// What fetches one page: `Journal::list_page`'s argument and answer.
pub trait FetchPage: FnMut(PageRequest) -> Result<Vec<SaleRecord>, JournalError> {}

impl<F> FetchPage for F where F: FnMut(PageRequest) -> Result<Vec<SaleRecord>, JournalError> {}

type Fetch<'j> = Box<dyn FetchPage + 'j>;

impl<'j> ExportPages<Fetch<'j>> {
    /// Pages of `journal`'s sales created in `[from, to)`.
    pub fn of(
        journal: &'j dyn Journal,
        from: Timestamp,
        to: Timestamp,
        format: ExportFormat,
    ) -> Self {
        ExportPages::new(
            Box::new(move |request| journal.list_page(request)),
            from,
            to,
            format,
            EXPORT_PAGE,
        )
    }
}

impl<F> ExportPages<F>
where
    F: FetchPage,
{
    pub fn new(
        fetch: F,
        from: Timestamp,
        to: Timestamp,
        format: ExportFormat,
        page: usize,
    ) -> Self {
        ExportPages {
            fetch,
            format,
            next: PageRequest {
                from,
                to,
                after: None,
                limit: page.max(1),
            },
            started: false,
            done: false,
            count: 0,
        }
    }

    /// How many sales the pages read so far held.
    pub fn sales(&self) -> usize {
        self.count
    }
}

impl<F> Iterator for ExportPages<F>
where
    F: FetchPage,
{
    type Item = Result<Vec<u8>, JournalError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let records = match (self.fetch)(self.next) {
            Ok(records) => records,
            Err(error) => {
                // An export that failed part way is over: never carry on past a hole.
                self.done = true;
                return Some(Err(error));
            }
        };
        let mut text = Vec::new();
        if !self.started && self.format == ExportFormat::Csv {
            text.extend_from_slice(COLUMNS.join(",").as_bytes());
            text.extend_from_slice(b"\r\n");
        }
        let first = !self.started;
        self.started = true;
        // A short page is the last; so is an empty one.
        if records.len() < self.next.limit {
            self.done = true;
        }
        if let Some(last) = records.last() {
            self.next.after = Some((last.created_at, last.seq));
        }
        for record in &records {
            Row::of(record).write(self.format, &mut text);
        }
        self.count += records.len();
        if text.is_empty() && !first {
            return None;
        }
        Some(Ok(text))
    }
}

/// Writes every sale created in `[from, to)`, oldest first, page by page; returns how many.
pub fn export(
    journal: &dyn Journal,
    from: Timestamp,
    to: Timestamp,
    format: ExportFormat,
    out: &mut dyn Write,
) -> Result<usize, ExportError> {
    let mut pages = ExportPages::of(journal, from, to, format);
    for page in pages.by_ref() {
        out.write_all(&page?)?;
    }
    out.flush()?;
    Ok(pages.sales())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_days_and_instants() {
        assert_eq!(
            parse_when("1970-01-02"),
            Ok(Timestamp::from_millis(86_400_000))
        );
        assert_eq!(
            parse_when("1970-01-01T00:00:01+00:00"),
            Ok(Timestamp::from_millis(1000))
        );
        assert!(parse_when("yesterday").unwrap_err().contains("not a date"));
    }

    #[test]
    fn every_formula_start_is_neutralised() {
        assert_eq!(csv_field("=1+2"), "'=1+2");
        assert_eq!(csv_field("+86 138"), "'+86 138");
        assert_eq!(csv_field("-5"), "'-5");
        assert_eq!(csv_field("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(csv_field("\tTea"), "'\tTea");
        // A CR needs quoting too: neutralised first, then quoted.
        assert_eq!(csv_field("\rTea"), "\"'\rTea\"");
        assert_eq!(
            csv_field("=HYPERLINK(\"x\",\"y\")"),
            "\"'=HYPERLINK(\"\"x\"\",\"\"y\"\")\""
        );
    }

    #[test]
    fn ordinary_values_are_untouched() {
        for plain in [
            "Coffee",
            "12.50",
            "2026-11-25T20:01:00Z",
            "a=b",
            "x-y",
            "",
            "false",
        ] {
            assert_eq!(csv_field(plain), plain);
        }
        assert_eq!(csv_field("Latte, large"), "\"Latte, large\"");
    }
}
