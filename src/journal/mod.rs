//! The durable journal of sales (issue 3): every record the engine emits as
//! `Output::Journal`, and the order counter, behind a narrow trait.
//!
//! Architecture invariant: the journal stores and returns `SaleRecord`s; it knows no sale
//! rules (the engine decides what is unfinished and what to do about it). A `put` that
//! returns `Ok` is on stable storage: the daemon sends nothing that depends on a record
//! before its `put` has returned.

mod export;
mod memory;
mod sled_store;

use std::path::PathBuf;

use crate::engine::{SaleRecord, Timestamp};

pub use export::{export, ExportError, ExportFormat};
pub use memory::MemoryJournal;
pub use sled_store::SledJournal;

/// Storage of sale records. Implementations are shared between the daemon's loop and the
/// register API, hence `&self` and `Send + Sync`.
pub trait Journal: Send + Sync {
    /// Stores the latest version of a sale (replacing the previous one) and raises the
    /// counter to `record.seq` if it is higher; durable when it returns `Ok`.
    fn put(&self, record: &SaleRecord) -> Result<(), JournalError>;

    fn get(&self, sale_id: &str) -> Result<Option<SaleRecord>, JournalError>;

    /// Every sale, in order number order.
    fn load_all(&self) -> Result<Vec<SaleRecord>, JournalError>;

    /// The highest order counter value ever journaled (0 for a new store); order numbers
    /// continue above it and are never reused.
    fn last_seq(&self) -> Result<u64, JournalError>;

    /// Sales not yet final: what `Engine::recover` needs at start-up.
    fn unfinished(&self) -> Result<Vec<SaleRecord>, JournalError> {
        Ok(self
            .load_all()?
            .into_iter()
            .filter(|r| !r.state.is_final())
            .collect())
    }

    /// Sales created in `[from, to)`, oldest first.
    fn list(&self, from: Timestamp, to: Timestamp) -> Result<Vec<SaleRecord>, JournalError> {
        let mut records: Vec<_> = self
            .load_all()?
            .into_iter()
            .filter(|r| r.created_at >= from && r.created_at < to)
            .collect();
        records.sort_by_key(|r| (r.created_at, r.seq));
        Ok(records)
    }
}

/// What went wrong with the journal. Messages name the path or sale and say what to do.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error("cannot create the journal directory {path}: {source}; check [storage] path and its permissions")]
    CreateDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot open the journal at {path}: {detail}; check that no other scanpay runs on it and that the user may read and write it")]
    Open { path: PathBuf, detail: String },
    #[error("the journal at {path} is damaged ({detail}); it was moved aside to {moved_to} and kept for inspection; {}; reconcile its sales against the gateway's statements", match continued_after {
        Some(seq) => format!("a new journal was started that continues order numbers after {seq}; start scanpay again"),
        None => "its order counter could not be recovered: before starting again, change the terminal's order prefix so old order numbers are not reused".to_string(),
    })]
    Corrupt {
        path: PathBuf,
        moved_to: PathBuf,
        detail: String,
        /// The counter the new store continues from, if it could be recovered.
        continued_after: Option<u64>,
    },
    #[error("the journal at {path} is damaged ({detail}) and could not be moved aside ({move_error}); move it away by hand before starting scanpay again")]
    CorruptNotMoved {
        path: PathBuf,
        detail: String,
        move_error: String,
    },
    #[error("writing sale {sale_id} to the journal failed: {detail}; the request that depends on it must not be sent; check the disk")]
    Write { sale_id: String, detail: String },
    #[error("reading the journal failed: {detail}; check the disk")]
    Read { detail: String },
    #[error("journal entry {key} cannot be decoded: {detail}")]
    Decode { key: String, detail: String },
}
