//! The payment codes a journal still holds, kept outside the log (invariant 5, ARCHITECTURE.md).
//!
//! The log is append-only: a record rewritten without its code leaves the old version, code
//! and all, in `sales.log` until compaction rewrites it. So records go to the log without
//! their code, and the codes (at most one or two at a time: a code is erased as
//! soon as the gateway has answered) live in one small file, `scanpay-codes`, which is
//! rewritten *in place* (same file, same blocks, padded to at least its old length) and
//! fsynced on every change: once erased, a code is not in any file under the state
//! directory.
//!
//! A torn write (power cut in the middle of the overwrite) can only lose codes, never invent
//! them: a file that does not parse is read as holding none. A lost code can only keep a
//! pay from being sent (a queued pay expires, nothing charged); it never causes a charge.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::Read as _;
use std::os::unix::fs::FileExt as _;
use std::path::Path;

use crate::protocol::PaymentCode;

pub const CODES_FILE: &str = "scanpay-codes";

/// The smallest size the file is written at: one page, so it is overwritten in one piece.
const MIN_SIZE: usize = 4096;

#[derive(Debug)]
pub struct CodeFile {
    file: File,
    /// sale_id → code, as on disk.
    held: BTreeMap<String, PaymentCode>,
    /// The file's length: never written shorter, so no old byte survives past the end.
    len: usize,
}

impl CodeFile {
    /// Opens (or creates) the file in `dir`; a file that does not parse holds no codes.
    pub fn open(dir: &Path) -> std::io::Result<CodeFile> {
        let path = dir.join(CODES_FILE);
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)?;
        let text = String::from_utf8_lossy(&bytes);
        let text = text.trim_matches(|c: char| c.is_whitespace() || c == '\0');
        let held = if text.is_empty() {
            BTreeMap::new()
        } else {
            serde_json::from_str(text).unwrap_or_else(|_| {
                tracing::warn!(
                    path = %path.display(),
                    "the payment-code file does not parse (a write cut short?): the codes in it are lost; a queued pay that needed one expires unsent"
                );
                BTreeMap::new()
            })
        };
        Ok(CodeFile {
            file,
            held,
            len: bytes.len(),
        })
    }

    pub fn get(&self, sale_id: &str) -> Option<&PaymentCode> {
        self.held.get(sale_id)
    }

    /// Holds `code` for `sale_id` (None: erases it), durably; writes only on a change.
    pub fn set(&mut self, sale_id: &str, code: Option<&PaymentCode>) -> std::io::Result<()> {
        if self.held.get(sale_id) == code {
            return Ok(());
        }
        let mut held = self.held.clone();
        match code {
            Some(code) => held.insert(sale_id.to_string(), code.clone()),
            None => held.remove(sale_id),
        };
        let text = serde_json::to_vec(&held).map_err(std::io::Error::other)?;
        self.overwrite(text)?;
        self.held = held;
        Ok(())
    }

    /// Erases every code (a damaged journal's: its sales are never sent again).
    pub fn erase_all(&mut self) -> std::io::Result<()> {
        self.overwrite(Vec::new())?;
        self.held.clear();
        Ok(())
    }

    /// Writes `content` over the whole file, padded with spaces to its old length (or one
    /// page), and fsyncs it.
    fn overwrite(&mut self, mut content: Vec<u8>) -> std::io::Result<()> {
        let len = content.len().max(self.len).max(MIN_SIZE);
        content.resize(len, b' ');
        self.file.write_all_at(&content, 0)?;
        if len == self.len {
            self.file.sync_data()?;
        } else {
            self.file.sync_all()?;
        }
        self.len = len;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_erased_code_is_gone_from_the_file_and_a_torn_file_holds_none() {
        let dir = tempfile::tempdir().unwrap();
        let code = PaymentCode::parse("134523198765432101").unwrap();
        let mut codes = CodeFile::open(dir.path()).unwrap();
        codes.set("S-1", Some(&code)).unwrap();
        let on_disk = std::fs::read_to_string(dir.path().join(CODES_FILE)).unwrap();
        assert!(on_disk.contains(code.expose()));
        assert_eq!(CodeFile::open(dir.path()).unwrap().get("S-1"), Some(&code));
        codes.set("S-1", None).unwrap();
        let on_disk = std::fs::read(dir.path().join(CODES_FILE)).unwrap();
        assert_eq!(on_disk.len(), MIN_SIZE);
        assert!(!String::from_utf8_lossy(&on_disk).contains("1345231987"));
        std::fs::write(dir.path().join(CODES_FILE), b"{\"S-1\":\"1345").unwrap();
        assert_eq!(CodeFile::open(dir.path()).unwrap().get("S-1"), None);
    }
}
