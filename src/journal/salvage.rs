//! What can still be read from a damaged store, and the notices that keep damage visible.
//!
//! Salvage reads the store's files as plain bytes, not through the store's own reader (which
//! refuses them): records are stored as uncompressed JSON, so every `{"sale_id":…}` object that
//! still parses is a version of a sale. The newest version found of each sale is kept and
//! marked `salvaged`: newer versions may be lost, so the engine treats it as out of date.
//!
//! A damaged store is moved aside to `<journal>.corrupt-<UTC time>` with a `DAMAGE.txt`
//! saying what happened. The damage stays visible (status, metrics, display) for as long as
//! such a directory sits beside the journal: a person acknowledges it by deleting it or
//! moving it out of the state directory, once its sales are reconciled.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::engine::SaleRecord;

pub const NOTICE_FILE: &str = "DAMAGE.txt";

/// A damaged store moved aside and not yet acknowledged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DamageNotice {
    /// Where the damaged store is kept.
    pub moved_to: PathBuf,
    /// What was wrong with it, and what was salvaged (the notice's first line).
    pub detail: String,
}

impl std::fmt::Display for DamageNotice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "damaged journal kept at {} ({}); reconcile its sales with the gateway's statements, then delete or move away that directory to clear this",
            self.moved_to.display(),
            self.detail
        )
    }
}

/// The newest readable version of every sale in the files of `dir` (as plain bytes).
pub fn salvage(dir: &Path) -> Vec<SaleRecord> {
    let mut newest: BTreeMap<String, SaleRecord> = BTreeMap::new();
    let files = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_file());
    for file in files {
        let Ok(bytes) = std::fs::read(&file) else {
            continue;
        };
        for record in records_in(&bytes) {
            let keep = newest.get(&record.sale_id).is_none_or(|old| {
                (record.updated_at, record.state.is_final())
                    >= (old.updated_at, old.state.is_final())
            });
            if keep {
                newest.insert(record.sale_id.clone(), record);
            }
        }
    }
    newest
        .into_values()
        .map(|mut r| {
            r.salvaged = true;
            // Never sent again, so never needed (and the codes file was erased anyway).
            r.auth_code = None;
            r
        })
        .collect()
}

/// Every JSON sale record that parses, wherever it starts in `bytes`.
fn records_in(bytes: &[u8]) -> Vec<SaleRecord> {
    const START: &[u8] = b"{\"sale_id\":";
    let mut found = Vec::new();
    let mut at = 0;
    while let Some(offset) = find(&bytes[at..], START) {
        let start = at + offset;
        let mut stream =
            serde_json::Deserializer::from_slice(&bytes[start..]).into_iter::<SaleRecord>();
        match stream.next() {
            Some(Ok(record)) => {
                found.push(record);
                at = start + stream.byte_offset();
            }
            _ => at = start + 1,
        }
    }
    found
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// The unacknowledged damaged stores beside the journal at `journal_dir`.
pub fn notices(journal_dir: &Path) -> Vec<DamageNotice> {
    let (Some(parent), Some(name)) = (journal_dir.parent(), journal_dir.file_name()) else {
        return Vec::new();
    };
    let parent = if parent.as_os_str().is_empty() {
        Path::new(".")
    } else {
        parent
    };
    let prefix = format!("{}.corrupt-", name.to_string_lossy());
    let mut found: Vec<DamageNotice> = std::fs::read_dir(parent)
        .into_iter()
        .flatten()
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().starts_with(&prefix))
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .map(|moved_to| {
            let detail = std::fs::read_to_string(moved_to.join(NOTICE_FILE))
                .ok()
                .and_then(|t| t.lines().next().map(str::to_string))
                .unwrap_or_else(|| "moved aside as damaged".into());
            DamageNotice { moved_to, detail }
        })
        .collect();
    found.sort_by(|a, b| a.moved_to.cmp(&b.moved_to));
    found
}

/// Writes the notice into the moved-aside store (best effort: the directory name alone
/// already keeps the damage visible).
pub fn write_notice(moved_to: &Path, detail: &str) {
    let text = format!(
        "{detail}\n\nscanpay moved this damaged journal aside and started a new one (unfinished sales that could be read were carried over and are looked up at the gateway).\nReconcile the sales in it against the gateway's statements; then delete this directory or move it out of the state directory: until then /v1/status, /metrics and the display report the damage.\n"
    );
    if let Err(error) = std::fs::write(moved_to.join(NOTICE_FILE), text) {
        tracing::warn!(%error, path = %moved_to.display(), "could not write the damage notice");
    }
}
