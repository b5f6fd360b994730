//! What the tests look for in the bytes on disk.

use std::path::Path;

/// Where the frames of a journal's `sales.log` end, and the file's size: the journal grows
/// the file ahead of its frames in zeroed room, and a frame ends in JSON (never a zero byte),
/// so the frames end at the last non-zero byte.
pub fn log_frames_end(log: &Path) -> (u64, u64) {
    let bytes = std::fs::read(log).unwrap_or_else(|e| panic!("reading {}: {e}", log.display()));
    let end = bytes.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
    (end as u64, bytes.len() as u64)
}

/// Every file under `dir` (recursively) whose bytes contain `needle`. A regular file that
/// cannot be read fails the test (a search that skipped it would prove nothing); sockets and
/// other special files hold no bytes to search.
pub fn files_holding(dir: &Path, needle: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(next) = pending.pop() {
        for entry in std::fs::read_dir(&next).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else if path.is_file() {
                let bytes = std::fs::read(&path)
                    .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
                if bytes.windows(needle.len()).any(|w| w == needle.as_bytes()) {
                    found.push(path.display().to_string());
                }
            }
        }
    }
    found
}
