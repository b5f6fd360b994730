//! The payment-code file of journals written before codes lived in the log (`log_store`'s
//! module docs): read once at open, its codes moved into the log, then erased and removed.
//! It was rewritten *in place* (same file, same blocks, padded to at least its old length) and
//! fsynced on every change; a file that does not parse holds no codes (a torn write can only
//! lose codes, never invent them). The damaged-store path still erases one in place before
//! moving the store aside.

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

    /// The codes held, by sale.
    pub fn held(&self) -> Vec<(String, PaymentCode)> {
        self.held
            .iter()
            .map(|(id, code)| (id.clone(), code.clone()))
            .collect()
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
    fn an_erased_file_holds_no_code_and_a_torn_file_holds_none() {
        let dir = tempfile::tempdir().unwrap();
        let code = "134523198765432101";
        std::fs::write(
            dir.path().join(CODES_FILE),
            format!("{{\"S-1\":\"{code}\"}}"),
        )
        .unwrap();
        let mut codes = CodeFile::open(dir.path()).unwrap();
        assert_eq!(
            codes.held(),
            [("S-1".to_string(), PaymentCode::parse(code).unwrap())]
        );
        codes.erase_all().unwrap();
        let on_disk = std::fs::read(dir.path().join(CODES_FILE)).unwrap();
        assert_eq!(on_disk.len(), MIN_SIZE);
        assert!(!String::from_utf8_lossy(&on_disk).contains("1345231987"));
        std::fs::write(dir.path().join(CODES_FILE), b"{\"S-1\":\"1345").unwrap();
        assert_eq!(CodeFile::open(dir.path()).unwrap().held(), []);
    }
}
