//! The durable journal of sales: every record the engine emits as
//! `Output::Journal`, and the order counter, behind a narrow trait.
//!
//! Architecture invariant: the journal stores and returns `SaleRecord`s; it knows no sale
//! rules (the engine decides what is unfinished and what to do about it). A `put` that
//! returns `Ok` is on stable storage: the daemon sends nothing that depends on a record
//! before its `put` has returned. A `put_deferred` (a version the engine marked
//! `Durability::Deferred`) is readable at once and durable with the next `put`: the engine
//! decides which versions a power cut may lose, the journal obeys.

mod codes;
mod export;
mod log_store;
mod memory;
mod salvage;

use std::path::PathBuf;

use crate::engine::{Durability, OrderEpoch, SaleRecord, Timestamp};

pub use export::{export, parse_when, ExportError, ExportFormat, ExportPages, EXPORT_PAGE};
pub use log_store::{LogJournal, DEFAULT_KEEP_DAYS, LOG_FILE, SEQ_BLOCK};
pub use memory::MemoryJournal;
pub use salvage::DamageNotice;

/// Storage of sale records. Implementations are shared between the daemon's loop and the
/// register API, hence `&self` and `Send + Sync`.
pub trait Journal: Send + Sync {
    /// Stores the latest version of a sale (replacing the previous one) and raises the
    /// counter to `record.seq` if it is higher; durable when it returns `Ok`.
    fn put(&self, record: &SaleRecord) -> Result<(), JournalError>;

    /// Stores the latest version of a sale like `put`, without waiting for stable storage:
    /// readable at once, durable once the next `put` returns (or the store is closed); a
    /// power cut or a crash before may lose it. By default simply a `put`.
    fn put_deferred(&self, record: &SaleRecord) -> Result<(), JournalError> {
        self.put(record)
    }

    /// Makes every deferred version durable (the daemon calls it when it stops).
    fn sync(&self) -> Result<(), JournalError> {
        Ok(())
    }

    /// A version as the engine asked for it (`Output::Journal`).
    fn write(&self, record: &SaleRecord, durability: Durability) -> Result<(), JournalError> {
        match durability {
            Durability::Synced => self.put(record),
            Durability::Deferred => self.put_deferred(record),
        }
    }

    fn get(&self, sale_id: &str) -> Result<Option<SaleRecord>, JournalError>;

    /// Every sale, in order number order.
    fn load_all(&self) -> Result<Vec<SaleRecord>, JournalError>;

    /// The highest order counter value ever journaled (0 for a new store); order numbers
    /// continue above it and are never reused.
    fn last_seq(&self) -> Result<u64, JournalError>;

    /// The numbering epoch written into every order number (see `engine::OrderEpoch`): chosen
    /// when the store was created, new whenever a store's counter was lost.
    fn epoch(&self) -> Result<OrderEpoch, JournalError>;

    /// Damaged stores moved aside and not yet acknowledged by a person (empty for a store
    /// that never was damaged). Cheap enough to ask every few seconds.
    fn damage(&self) -> Vec<DamageNotice> {
        Vec::new()
    }

    /// The sales the engine still follows (`SaleRecord::followed`: not final, or failed by
    /// the not-found rule and still checked), in order number order: what `Engine::recover`
    /// needs.
    fn unfinished(&self) -> Result<Vec<SaleRecord>, JournalError> {
        Ok(self
            .load_all()?
            .into_iter()
            .filter(SaleRecord::followed)
            .collect())
    }

    /// What the daemon reads at start, in order number order: every sale the engine still
    /// follows and the `newest` sales by order number (what the register's board shows), and
    /// nothing else. A store with an index answers without reading the other records, so
    /// start-up does not grow with the journal.
    fn recovery(&self, newest: usize) -> Result<Vec<SaleRecord>, JournalError> {
        let all = self.load_all()?;
        let window = all.len().saturating_sub(newest);
        Ok(all
            .into_iter()
            .enumerate()
            .filter(|(position, record)| *position >= window || record.followed())
            .map(|(_, record)| record)
            .collect())
    }

    /// Calls `visit` with the id of every sale held, in no particular order. A store with an
    /// index answers from it, without reading a record.
    fn each_sale_id(&self, visit: &mut dyn FnMut(&str)) -> Result<(), JournalError> {
        for record in self.load_all()? {
            visit(&record.sale_id);
        }
        Ok(())
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

    /// One page of sales (`PageRequest`), oldest first: the live export streams the journal
    /// page by page in bounded memory.
    fn list_page(&self, request: PageRequest) -> Result<Vec<SaleRecord>, JournalError> {
        let mut page: Vec<_> = self
            .list(request.from, request.to)?
            .into_iter()
            .filter(|r| request.admits(r.created_at, r.seq))
            .collect();
        page.truncate(request.limit);
        Ok(page)
    }
}

/// One page of the journal for `Journal::list_page`: up to `limit` sales created in
/// `[from, to)` that come after `after`, oldest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageRequest {
    pub from: Timestamp,
    pub to: Timestamp,
    /// The `(created_at, seq)` of the last sale of the previous page; `None` for the first.
    pub after: Option<(Timestamp, u64)>,
    pub limit: usize,
}

impl PageRequest {
    /// Whether the sale created at `created_at` numbered `seq` is on this page or a later
    /// one (before `limit` is applied).
    pub fn admits(&self, created_at: Timestamp, seq: u64) -> bool {
        created_at >= self.from
            && created_at < self.to
            && self.after.is_none_or(|cursor| (created_at, seq) > cursor)
    }
}

/// What went wrong with the journal. Messages name the path or sale and say what to do.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    // The I/O error is in the message and deliberately not a `source`: printing the chain
    // would repeat the OS's words.
    #[error("cannot create the journal directory {path}: {io}; check [storage] path and its permissions")]
    CreateDir { path: PathBuf, io: std::io::Error },
    #[error("cannot open the journal at {path}: {detail}; check that no other scanpay runs on it and that the user may read and write it")]
    Open {
        path: PathBuf,
        detail: String,
        /// The operating system's reason, when there is one (decides the exit code).
        kind: Option<std::io::ErrorKind>,
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

impl JournalError {
    /// Whether a person must act before starting again can succeed: the storage path is not
    /// ours to use (permissions, a read-only file system, not a directory) or a damaged store
    /// is stuck in place. Everything else (the store still locked by a process that is
    /// exiting, a full or failing disk) may pass, so a restart is worth trying.
    pub fn restart_cannot_help(&self) -> bool {
        let config_like = |kind: std::io::ErrorKind| {
            matches!(
                kind,
                std::io::ErrorKind::PermissionDenied
                    | std::io::ErrorKind::ReadOnlyFilesystem
                    | std::io::ErrorKind::NotADirectory
                    | std::io::ErrorKind::AlreadyExists
            )
        };
        match self {
            JournalError::CreateDir { io, .. } => config_like(io.kind()),
            JournalError::Open { kind, .. } => kind.is_some_and(config_like),
            JournalError::CorruptNotMoved { .. } => true,
            JournalError::Write { .. }
            | JournalError::Read { .. }
            | JournalError::Decode { .. } => false,
        }
    }
}
