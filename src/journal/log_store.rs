//! The journal as scanpay's own append-only log: one durable sync per synced record.
//!
//! Layout of the journal directory:
//! - `sales.log`: frames `[len u32 LE][crc32 u32 LE][kind u8][body]`, `len` counting kind and
//!   body. The first frame (kind `H`) holds the numbering epoch and the counter the file was
//!   started at; every later frame is one version of a sale: kind `r`, the index's fields of
//!   the record (`IndexHead`: id, number, times, followed) then its JSON without its payment
//!   code, or kind `s` (the version that brings a code): a code slot, then the same. Open
//!   reads the index from those fields and decodes no JSON (most of start-up's time with
//!   100,000 sales when it did). Kinds `R` and `S`, the same without the index's fields, are
//!   what logs written before them hold: they are read (their JSON decoded) and rewritten by
//!   a compaction at that first open. A `put` appends one frame and calls `fdatasync` once.
//!   The file is grown ahead in zeroed chunks (`GROW_CHUNK`), written with the frame that
//!   needs the room and synced by its `fdatasync`: later frames overwrite blocks that are
//!   already allocated and inside the file's size, so their sync flushes data only and does
//!   not also commit a new size through the filesystem's journal (on ext4 that halves it).
//!   The log ends at the first frame head that is all zeros with nothing but zeros after it.
//!   A `put_deferred` is kept in memory (reads see it) and appended with the next `put`, each in its own
//!   synced append (one frame per sync, so a cut can only tear the last one), or at `sync`.
//!
//! Payment codes (invariant 5, ARCHITECTURE.md): the slot `[len u8][digits, zero-padded to
//! MAX_CODE_LEN][crc32 of the digits u32 LE]` is left out of the frame's crc, so erasing it
//! (overwriting it with zeros in place, when a version without the code is stored) keeps the
//! frame valid, and that write is made durable by the append's own `fdatasync`: the code
//! costs no sync of its own. Later versions that keep the code are `R` frames (the code is
//! written once); compaction writes a held code into the copied latest version and drops
//! the rest. A torn slot fails its crc and holds no code: a cut can only lose a code (a
//! queued pay then expires unsent), never invent one. Once erased, a code is in no file.
//! - `scanpay-last-seq`: `"{ceiling} {epoch}"`, a *reservation* of order numbers: written
//!   (and synced, via a renamed temporary) only when a record's number crosses the ceiling,
//!   then raised by `SEQ_BLOCK`, so it costs a sync per `SEQ_BLOCK` sales. After a lost or
//!   garbled log numbering continues above the ceiling, under its epoch (invariant 7).
//! - `lock`: held with `flock` while the store is open (one process at a time).
//!
//! In memory: an index `sale_id -> (offset, length, created_at, seq, followed)`; reads go to
//! the file by offset (`pread`). `followed` is `SaleRecord::followed`, read from a summary of
//! each frame at open: start-up (`Journal::recovery`) reads only the sales the engine still
//! follows and the newest few, however long the journal.
//!
//! Power cuts: a last frame that is short or fails its crc, with nothing valid after it, is
//! a torn append whose `put` never returned: it is cut off (with a warning), the zeroed room
//! after it too (the next append grows the file again). A bad frame
//! followed by a valid one, or a bad header, is damage: the store is salvaged and moved
//! aside exactly as before (`salvage`, `DamageNotice`).
//!
//! A failed write or sync returns `Err` and leaves the store usable: the next `put` writes
//! again at the last durable end (truncating whatever the failed one left).
//!
//! Retention: `compact` rewrites the log with the latest version of each sale, leaving out
//! final sales created more than `keep_days` before the newest record (not before the
//! clock: a Pi whose clock jumped years ahead must not drop its records), into
//! `sales.log.tmp`, synced, renamed over, the directory synced. It runs at open (when a sale
//! is due to be dropped, the log has grown, or it holds an older version's `R`/`S` frames)
//! and when the log has grown past twice its live size plus 1 MiB.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{BufReader, BufWriter, Read as _, Write};
use std::os::unix::fs::FileExt as _;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use super::codes::{CodeFile, CODES_FILE};
use super::salvage::{self, DamageNotice};
use super::{Journal, JournalError, PageRequest};
use crate::engine::{NotFoundWatch, OrderEpoch, SaleRecord, SaleState, Timestamp};
use crate::protocol::payment_code::MAX_CODE_LEN;
use crate::protocol::PaymentCode;

pub const LOG_FILE: &str = "sales.log";
const TMP_LOG_FILE: &str = "sales.log.tmp";
const SEQ_FILE: &str = "scanpay-last-seq";
const LOCK_FILE: &str = "lock";
/// sled's data file: no release ever shipped a sled journal, but a development build did.
const SLED_FILE: &str = "db";
/// Order numbers reserved per write of `SEQ_FILE`.
pub const SEQ_BLOCK: u64 = 1000;
/// The default retention of final sales, in days (the export is the archive).
pub const DEFAULT_KEEP_DAYS: u32 = 400;
const KIND_HEADER: u8 = b'H';
const KIND_RECORD: u8 = b'r';
/// A version with its payment code's slot (see the module docs).
const KIND_SECRET: u8 = b's';
/// `KIND_RECORD` and `KIND_SECRET` without the index's fields (logs written before them).
const KIND_JSON_RECORD: u8 = b'R';
const KIND_JSON_SECRET: u8 = b'S';
const SLOT_LEN: usize = 1 + MAX_CODE_LEN + 4;
const FRAME_HEAD: u64 = 8;
/// No record comes near this (the engine bounds the texts it keeps): a longer length field
/// is garbage.
const MAX_FRAME: u32 = 1 << 20;
const DAY_MS: u64 = 86_400_000;
/// How far the file is grown ahead of its frames (see the module docs): about 35 sales, a
/// growth a month at a quiet shop's pace and a few milliseconds of zeros to sync.
const GROW_CHUNK: u64 = 64 << 10;

/// The journal on disk. Open it once per process (it is locked).
#[derive(Debug)]
pub struct LogJournal {
    path: PathBuf,
    epoch: OrderEpoch,
    keep_days: u32,
    inner: Mutex<Inner>,
    _lock: File,
}

#[derive(Debug)]
struct Inner {
    file: File,
    /// The end of the last durable frame: the next frame goes here.
    end: u64,
    /// The file's size: zeros from `end` to here (room the next frames need not grow into).
    allocated: u64,
    /// The counter the file was started at (sales before it may have been compacted away).
    base_seq: u64,
    last_seq: u64,
    /// The reserved ceiling in `SEQ_FILE`.
    ceiling: u64,
    index: HashMap<String, Entry>,
    /// Bytes of the latest versions (what a compaction keeps at most).
    live: u64,
    /// A failed write may have left bytes past `end`.
    dirty_tail: bool,
    /// The codes held, by sale: where their slot is and what it holds.
    codes: HashMap<String, Slot>,
    /// Deferred versions not yet appended (every sale here has a durable entry).
    pending: HashMap<String, SaleRecord>,
}

#[derive(Debug, Clone)]
struct Slot {
    /// The slot's offset in the file.
    at: u64,
    code: PaymentCode,
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    offset: u64,
    len: u32,
    created_at: u64,
    updated_at: u64,
    seq: u64,
    /// `SaleRecord::followed`: the engine still follows the sale (never dropped by
    /// retention, always read at start).
    followed: bool,
}

/// The index's fields of a `R`/`S` frame, read from its JSON at open (the rest is skipped).
#[derive(serde::Deserialize)]
struct JsonSummary {
    sale_id: String,
    seq: u64,
    created_at: Timestamp,
    updated_at: Timestamp,
    state: SaleState,
    #[serde(default)]
    not_found: NotFoundWatch,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct Header {
    epoch: String,
    base_seq: u64,
}

/// Why a store cannot be used as it is, and what it still tells about its numbering.
struct Damage {
    detail: String,
    numbering: Option<(u64, Option<OrderEpoch>)>,
    store_seq: Option<u64>,
}

impl LogJournal {
    /// Opens the store at `path` with the default retention; see `open_with`.
    pub fn open(path: impl AsRef<Path>) -> Result<LogJournal, JournalError> {
        LogJournal::open_with(path, DEFAULT_KEEP_DAYS)
    }

    /// Opens the store at `path`, creating it if needed, keeping final sales `keep_days`. A
    /// damaged store is salvaged and moved aside to `<path>.corrupt-<UTC time>`, never
    /// discarded, and a new store holding what was salvaged is opened in its place.
    pub fn open_with(path: impl AsRef<Path>, keep_days: u32) -> Result<LogJournal, JournalError> {
        let path = path.as_ref().to_path_buf();
        let damage = match open_store(&path, keep_days)? {
            Ok(journal) => return Ok(journal),
            Err(damage) => damage,
        };
        let notice = quarantine(&path, damage)?;
        tracing::error!(
            moved_to = %notice.moved_to.display(),
            "the journal was damaged: {}; a new journal was started with what could be read (unfinished sales are looked up at the gateway)",
            notice.detail
        );
        match open_store(&path, keep_days)? {
            Ok(journal) => Ok(journal),
            Err(damage) => Err(JournalError::Open {
                path,
                detail: format!(
                    "the new journal started after moving the damaged one aside is not usable either ({}); check the disk",
                    damage.detail
                ),
                kind: None,
            }),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The size of `sales.log` in bytes (what the retention bounds).
    pub fn log_len(&self) -> u64 {
        self.lock().end
    }

    /// Rewrites the log with the latest version of each sale, dropping final sales older
    /// than `keep_days` (see the module docs).
    pub fn compact(&self) -> Result<(), JournalError> {
        let mut inner = self.lock();
        compact(&self.path, &self.epoch, self.keep_days, &mut inner).map_err(|err| {
            JournalError::Write {
                sale_id: "(compaction)".into(),
                detail: format!("rewriting {}: {err}", self.path.join(LOG_FILE).display()),
            }
        })
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // Every change of `Inner` happens after its write succeeded: a poisoned lock still
        // holds consistent data.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn read_entry(&self, inner: &Inner, entry: &Entry) -> Result<SaleRecord, JournalError> {
        let mut bytes = vec![0; entry.len as usize];
        inner
            .file
            .read_exact_at(&mut bytes, entry.offset + FRAME_HEAD)
            .map_err(|err| JournalError::Read {
                detail: format!("{}: {err}", self.path.join(LOG_FILE).display()),
            })?;
        let mut record: SaleRecord =
            serde_json::from_slice(json_of(&bytes)).map_err(|err| JournalError::Decode {
                key: format!("{LOG_FILE}@{}", entry.offset),
                detail: mask_digit_runs(&err.to_string()),
            })?;
        if let Some(slot) = inner.codes.get(&record.sale_id) {
            record.auth_code = Some(slot.code.clone());
        }
        Ok(record)
    }

    /// The latest version of `entry`'s sale: the deferred one if there is one.
    fn read_latest(
        &self,
        inner: &Inner,
        id: &str,
        entry: &Entry,
    ) -> Result<SaleRecord, JournalError> {
        match inner.pending.get(id) {
            Some(record) => Ok(record.clone()),
            None => self.read_entry(inner, entry),
        }
    }

    /// Every sale's latest entry (a deferred version's fields over its durable entry's).
    fn latest_entries(inner: &Inner) -> impl Iterator<Item = (&String, Entry)> {
        inner
            .index
            .iter()
            .map(|(id, e)| match inner.pending.get(id) {
                Some(r) => (
                    id,
                    Entry {
                        updated_at: r.updated_at.0,
                        followed: r.followed(),
                        ..*e
                    },
                ),
                None => (id, *e),
            })
    }

    fn read_where(&self, keep: impl Fn(&Entry) -> bool) -> Result<Vec<SaleRecord>, JournalError> {
        let inner = self.lock();
        let mut entries: Vec<(&String, Entry)> = Self::latest_entries(&inner)
            .filter(|(_, e)| keep(e))
            .collect();
        entries.sort_by_key(|(_, e)| e.seq);
        entries
            .iter()
            .map(|(id, e)| self.read_latest(&inner, id, e))
            .collect()
    }
}

fn has_slot(kind: u8) -> bool {
    matches!(kind, KIND_SECRET | KIND_JSON_SECRET)
}

/// A frame's checksum: over the whole payload, but a code slot's bytes (see the module docs).
fn payload_crc(payload: &[u8]) -> u32 {
    let mut hasher = crc32fast::Hasher::new();
    match payload.first() {
        Some(&kind) if has_slot(kind) && payload.len() > 1 + SLOT_LEN => {
            hasher.update(&payload[..1]);
            hasher.update(&payload[1 + SLOT_LEN..]);
        }
        _ => hasher.update(payload),
    }
    hasher.finalize()
}

/// What a `r`/`s` frame holds ahead of its JSON: the fields of the record the index keeps,
/// `[seq u64][created_at u64][updated_at u64][followed u8][id length u16][id]`, all LE.
#[derive(Debug, PartialEq)]
struct IndexHead<'a> {
    sale_id: &'a str,
    seq: u64,
    created_at: u64,
    updated_at: u64,
    followed: bool,
}

const INDEX_HEAD_FIXED: usize = 3 * 8 + 1 + 2;

impl<'a> IndexHead<'a> {
    fn of(record: &'a SaleRecord) -> IndexHead<'a> {
        IndexHead {
            sale_id: &record.sale_id,
            seq: record.seq,
            created_at: record.created_at.0,
            updated_at: record.updated_at.0,
            followed: record.followed(),
        }
    }

    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.seq.to_le_bytes());
        out.extend_from_slice(&self.created_at.to_le_bytes());
        out.extend_from_slice(&self.updated_at.to_le_bytes());
        out.push(u8::from(self.followed));
        let id = self.sale_id.as_bytes();
        out.extend_from_slice(&(id.len() as u16).to_le_bytes());
        out.extend_from_slice(id);
    }

    /// Whether the id fits the head's length field (order numbers are 32 characters at most;
    /// a longer id is stored in a `R`/`S` frame, its index read from the JSON).
    fn fits(&self) -> bool {
        self.sale_id.len() <= usize::from(u16::MAX)
    }

    /// The head at the start of `bytes`, and where the JSON after it starts.
    fn decode(bytes: &'a [u8]) -> Option<(IndexHead<'a>, usize)> {
        let fixed = bytes.get(..INDEX_HEAD_FIXED)?;
        let u64_at = |at: usize| u64::from_le_bytes(fixed[at..at + 8].try_into().expect("8"));
        let id_len = usize::from(u16::from_le_bytes([fixed[25], fixed[26]]));
        let end = INDEX_HEAD_FIXED + id_len;
        let sale_id = std::str::from_utf8(bytes.get(INDEX_HEAD_FIXED..end)?).ok()?;
        let followed = match fixed[24] {
            0 => false,
            1 => true,
            _ => return None,
        };
        let head = IndexHead {
            sale_id,
            seq: u64_at(0),
            created_at: u64_at(8),
            updated_at: u64_at(16),
            followed,
        };
        Some((head, end))
    }
}

/// A record frame's payload past its kind and code slot: the index's head (none in `R`/`S`
/// frames) and the JSON; `None` if the head does not decode.
fn record_parts(payload: &[u8]) -> Option<(Option<IndexHead<'_>>, &[u8])> {
    let kind = *payload.first()?;
    let body = if has_slot(kind) {
        payload.get(1 + SLOT_LEN..)?
    } else {
        &payload[1..]
    };
    match kind {
        KIND_RECORD | KIND_SECRET => {
            let (head, json_at) = IndexHead::decode(body)?;
            Some((Some(head), &body[json_at..]))
        }
        _ => Some((None, body)),
    }
}

/// The JSON of a record frame's payload (past the kind, a code slot and the index's head).
fn json_of(payload: &[u8]) -> &[u8] {
    record_parts(payload).map_or(&[], |(_, json)| json)
}

fn slot_of(code: &PaymentCode) -> [u8; SLOT_LEN] {
    let digits = code.expose().as_bytes();
    let mut slot = [0u8; SLOT_LEN];
    slot[0] = digits.len() as u8;
    slot[1..1 + digits.len()].copy_from_slice(digits);
    slot[1 + MAX_CODE_LEN..].copy_from_slice(&crc32fast::hash(digits).to_le_bytes());
    slot
}

/// The code a slot holds: none if erased or torn.
fn code_in(slot: &[u8]) -> Option<PaymentCode> {
    let len = *slot.first()? as usize;
    if slot.len() != SLOT_LEN || len == 0 || len > MAX_CODE_LEN {
        return None;
    }
    let digits = &slot[1..1 + len];
    let crc = u32::from_le_bytes(slot[1 + MAX_CODE_LEN..].try_into().ok()?);
    if crc32fast::hash(digits) != crc {
        return None;
    }
    PaymentCode::parse(std::str::from_utf8(digits).ok()?).ok()
}

/// A record's frame: kind `s` with `code`'s slot, else kind `r`.
fn record_frame(head: &IndexHead<'_>, json: &[u8], code: Option<&PaymentCode>) -> Vec<u8> {
    let mut body = Vec::with_capacity(SLOT_LEN + INDEX_HEAD_FIXED + 64 + json.len());
    if let Some(code) = code {
        body.extend_from_slice(&slot_of(code));
    }
    if head.fits() {
        head.encode(&mut body);
    }
    body.extend_from_slice(json);
    let kind = match (head.fits(), code.is_some()) {
        (true, true) => KIND_SECRET,
        (true, false) => KIND_RECORD,
        (false, true) => KIND_JSON_SECRET,
        (false, false) => KIND_JSON_RECORD,
    };
    frame(kind, &body)
}

impl Inner {
    /// Appends one version and syncs it: erases the slot of a code the record no longer
    /// holds first (durable with the same `fdatasync`), and writes a new code's slot with it.
    fn append(
        &mut self,
        dir: &Path,
        epoch: &OrderEpoch,
        record: &SaleRecord,
    ) -> Result<(), String> {
        let log = dir.join(LOG_FILE);
        if let Some(slot) = self.codes.get(&record.sale_id) {
            if record.auth_code.as_ref() != Some(&slot.code) {
                self.file
                    .write_all_at(&[0; SLOT_LEN], slot.at)
                    .map_err(|e| format!("erasing a payment code in {}: {e}", log.display()))?;
                self.codes.remove(&record.sale_id);
            }
        }
        if record.seq > self.ceiling {
            let ceiling = record.seq + SEQ_BLOCK;
            write_seq_file(dir, ceiling, epoch)
                .map_err(|e| format!("writing {}: {e}", dir.join(SEQ_FILE).display()))?;
            self.ceiling = ceiling;
        }
        let new_code = record
            .auth_code
            .as_ref()
            .filter(|_| !self.codes.contains_key(&record.sale_id));
        let stored = SaleRecord {
            auth_code: None,
            ..record.clone()
        };
        let json = serde_json::to_vec(&stored).map_err(|e| e.to_string())?;
        let bytes = record_frame(&IndexHead::of(record), &json, new_code);
        let offset = self.end;
        let frame_end = offset + bytes.len() as u64;
        let written = (|| {
            if self.dirty_tail {
                self.file.set_len(offset)?;
                self.allocated = offset;
            }
            self.file.write_all_at(&bytes, offset)?;
            if frame_end > self.allocated {
                self.allocated = self.grow(frame_end);
            }
            self.file.sync_data()
        })();
        if let Err(err) = written {
            self.dirty_tail = true;
            // Best effort: the next put truncates again before it writes.
            let _ = self.file.set_len(offset);
            self.allocated = offset;
            return Err(format!("appending to {}: {err}", log.display()));
        }
        self.dirty_tail = false;
        self.end = frame_end;
        if let Some(code) = new_code {
            let slot = Slot {
                at: offset + FRAME_HEAD + 1,
                code: code.clone(),
            };
            self.codes.insert(record.sale_id.clone(), slot);
        }
        let entry = Entry {
            offset,
            len: (bytes.len() as u64 - FRAME_HEAD) as u32,
            created_at: record.created_at.0,
            updated_at: record.updated_at.0,
            seq: record.seq,
            followed: record.followed(),
        };
        if let Some(old) = self.index.insert(record.sale_id.clone(), entry) {
            self.live -= FRAME_HEAD + u64::from(old.len);
        }
        self.live += bytes.len() as u64;
        self.last_seq = self.last_seq.max(record.seq);
        Ok(())
    }

    /// Zeroes the room after a frame that ends past the file's old size, up to the next
    /// `GROW_CHUNK` boundary, for the frame's own sync to make durable; returns the file's
    /// size. A disk too full for the room is no error: the frame is in, and the next frame
    /// tries again.
    fn grow(&self, frame_end: u64) -> u64 {
        let to = frame_end.next_multiple_of(GROW_CHUNK);
        let zeros = vec![0; (to - frame_end) as usize];
        match self.file.write_all_at(&zeros, frame_end) {
            Ok(()) => to,
            Err(error) => {
                tracing::debug!(%error, "no room to grow the journal ahead of its frames");
                // Whatever part of the zeros went in is zeros: only the frame's end is sure.
                frame_end
            }
        }
    }

    /// Appends every deferred version, each synced on its own.
    fn flush_pending(&mut self, dir: &Path, epoch: &OrderEpoch) -> Result<(), JournalError> {
        let mut pending: Vec<SaleRecord> = self.pending.values().cloned().collect();
        pending.sort_by_key(|r| r.seq);
        for record in pending {
            self.append(dir, epoch, &record)
                .map_err(|detail| JournalError::Write {
                    sale_id: record.sale_id.clone(),
                    detail,
                })?;
            self.pending.remove(&record.sale_id);
        }
        Ok(())
    }
}

fn frame(kind: u8, json: &[u8]) -> Vec<u8> {
    let mut payload = Vec::with_capacity(json.len() + 1);
    payload.push(kind);
    payload.extend_from_slice(json);
    let mut out = Vec::with_capacity(payload.len() + FRAME_HEAD as usize);
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(&payload_crc(&payload).to_le_bytes());
    out.extend_from_slice(&payload);
    out
}

/// What reading the log found.
struct Scan {
    header: Header,
    index: HashMap<String, Entry>,
    last_seq: u64,
    live: u64,
    /// The end of the last good frame.
    good_end: u64,
    /// Bytes after `good_end` are a torn frame (else zeros, or nothing).
    torn: bool,
    /// Some frames are `R`/`S` (an older version's), which open reads slowly.
    older_kinds: bool,
    codes: HashMap<String, Slot>,
}

enum ScanError {
    Io(std::io::Error),
    Damage(String, Option<u64>),
}

/// Reads every frame of the log: headers, crcs, and the few fields the index needs.
fn scan(file: &File, len: u64) -> Result<Scan, ScanError> {
    let mut reader = BufReader::with_capacity(1 << 16, file);
    let mut at = 0u64;
    let mut payload = Vec::new();
    let mut header: Option<Header> = None;
    let mut index: HashMap<String, Entry> = HashMap::new();
    let mut codes: HashMap<String, Slot> = HashMap::new();
    let mut last_seq = 0;
    let mut torn = false;
    let mut older_kinds = false;
    loop {
        if at == len {
            break;
        }
        let mut head = [0u8; FRAME_HEAD as usize];
        let frame_len = if len - at < FRAME_HEAD {
            None
        } else {
            reader.read_exact(&mut head).map_err(ScanError::Io)?;
            let n = u32::from_le_bytes(head[..4].try_into().expect("4 bytes"));
            ((1..=MAX_FRAME).contains(&n) && u64::from(n) <= len - at - FRAME_HEAD).then_some(n)
        };
        let good = match frame_len {
            Some(n) => {
                payload.resize(n as usize, 0);
                reader.read_exact(&mut payload).map_err(ScanError::Io)?;
                let crc = u32::from_le_bytes(head[4..].try_into().expect("4 bytes"));
                payload_crc(&payload) == crc
            }
            None => false,
        };
        if !good {
            if header.is_none() {
                return Err(ScanError::Damage(
                    format!("{LOG_FILE} does not start with a readable header"),
                    None,
                ));
            }
            // Only on a bad frame, which is rare: the rest of the file, read once.
            let mut rest = vec![0; (len - at) as usize];
            file.read_exact_at(&mut rest, at).map_err(ScanError::Io)?;
            if rest.iter().all(|&b| b == 0) {
                // The room grown ahead of the frames: the log's clean end.
                break;
            }
            if has_valid_frame(&rest[1..]) {
                return Err(ScanError::Damage(
                    format!(
                        "{LOG_FILE} holds a damaged frame at byte {at} followed by readable ones"
                    ),
                    Some(last_seq),
                ));
            }
            tracing::warn!(
                at,
                len,
                "the journal's last write was cut short (a power cut?): the unfinished frame is dropped"
            );
            torn = true;
            break;
        }
        let n = u64::from(frame_len.expect("a good frame has a length"));
        let offset = at;
        at += FRAME_HEAD + n;
        match (payload[0], header.is_some()) {
            (KIND_HEADER, false) => {
                let parsed: Header = serde_json::from_slice(&payload[1..]).map_err(|err| {
                    ScanError::Damage(
                        format!("the header of {LOG_FILE} does not decode: {err}"),
                        None,
                    )
                })?;
                last_seq = parsed.base_seq;
                header = Some(parsed);
            }
            (KIND_RECORD | KIND_SECRET | KIND_JSON_RECORD | KIND_JSON_SECRET, true) => {
                let (sale_id, entry) = index_entry(&payload, offset).map_err(|detail| {
                    ScanError::Damage(
                        format!(
                            "the frame at byte {offset} of {LOG_FILE} does not decode: {detail}"
                        ),
                        Some(last_seq),
                    )
                })?;
                last_seq = last_seq.max(entry.seq);
                older_kinds |= matches!(payload[0], KIND_JSON_RECORD | KIND_JSON_SECRET);
                if has_slot(payload[0]) {
                    match code_in(&payload[1..1 + SLOT_LEN]) {
                        Some(code) => {
                            let at = offset + FRAME_HEAD + 1;
                            codes.insert(sale_id.clone(), Slot { at, code });
                        }
                        None => {
                            codes.remove(&sale_id);
                        }
                    }
                }
                index.insert(sale_id, entry);
            }
            (kind, _) => {
                return Err(ScanError::Damage(
                    format!("the frame at byte {offset} of {LOG_FILE} is of unknown kind {kind}"),
                    Some(last_seq),
                ))
            }
        }
    }
    let Some(header) = header else {
        return Err(ScanError::Damage(format!("{LOG_FILE} is empty"), None));
    };
    let live = index.values().map(|e| FRAME_HEAD + u64::from(e.len)).sum();
    Ok(Scan {
        header,
        index,
        last_seq,
        live,
        good_end: at,
        torn,
        older_kinds,
        codes,
    })
}

/// The index's entry for the record frame at `offset` (its whole payload): from its head, or
/// from its JSON in a `R`/`S` frame.
fn index_entry(payload: &[u8], offset: u64) -> Result<(String, Entry), String> {
    let Some((head, json)) = record_parts(payload) else {
        return Err("its index fields are cut short or garbled".into());
    };
    let entry = |seq, created_at, updated_at, followed| Entry {
        offset,
        len: payload.len() as u32,
        created_at,
        updated_at,
        seq,
        followed,
    };
    Ok(match head {
        Some(head) => (
            head.sale_id.to_string(),
            entry(head.seq, head.created_at, head.updated_at, head.followed),
        ),
        None => {
            let summary: JsonSummary =
                serde_json::from_slice(json).map_err(|err| mask_digit_runs(&err.to_string()))?;
            let followed = SaleRecord::follows(summary.state, &summary.not_found);
            let made = entry(
                summary.seq,
                summary.created_at.0,
                summary.updated_at.0,
                followed,
            );
            (summary.sale_id, made)
        }
    })
}

/// Whether a frame with a valid crc starts anywhere in `rest` (the bytes after a bad frame's
/// first): a bad frame with a good one after it is damage, not a torn append.
fn has_valid_frame(rest: &[u8]) -> bool {
    let head = FRAME_HEAD as usize;
    for start in 0..rest.len().saturating_sub(head) {
        let n = u32::from_le_bytes(rest[start..start + 4].try_into().expect("4 bytes")) as usize;
        if n == 0 || n > MAX_FRAME as usize || start + head + n > rest.len() {
            continue;
        }
        let crc = u32::from_le_bytes(rest[start + 4..start + 8].try_into().expect("4 bytes"));
        let payload = &rest[start + head..start + head + n];
        if matches!(
            payload[0],
            KIND_RECORD | KIND_SECRET | KIND_JSON_RECORD | KIND_JSON_SECRET | KIND_HEADER
        ) && payload_crc(payload) == crc
        {
            return true;
        }
    }
    false
}

fn open_store(path: &Path, keep_days: u32) -> Result<Result<LogJournal, Damage>, JournalError> {
    let open_err = |detail: String, kind: Option<std::io::ErrorKind>| JournalError::Open {
        path: path.to_path_buf(),
        detail,
        kind,
    };
    let created: Vec<PathBuf> = path
        .ancestors()
        .take_while(|dir| !dir.as_os_str().is_empty() && !dir.exists())
        .map(Path::to_path_buf)
        .collect();
    std::fs::create_dir_all(path).map_err(|io| JournalError::CreateDir {
        path: path.to_path_buf(),
        io,
    })?;
    if path.join(SLED_FILE).exists() {
        return Err(open_err(
            format!(
                "it holds a sled store ({}) from a development build, which this scanpay does not read; stop scanpay, move that directory out of [storage] path (nothing in it is deleted) and start again: a new journal ({LOG_FILE}) is started",
                path.join(SLED_FILE).display()
            ),
            Some(std::io::ErrorKind::AlreadyExists),
        ));
    }
    let lock = lock_store(path)?;
    let numbering = read_seq_file(path);
    let log_path = path.join(LOG_FILE);
    let exists = log_path.exists();
    if !exists {
        if let Ok(Some((ceiling, Some(epoch)))) = &numbering {
            return Ok(Err(Damage {
                detail: format!("{LOG_FILE} is missing but {SEQ_FILE} names epoch {epoch}: the store was lost (data is missing)"),
                numbering: Some((*ceiling, Some(epoch.clone()))),
                store_seq: None,
            }));
        }
        let epoch = random_epoch().map_err(|err| {
            open_err(
                format!("cannot read random bytes for the numbering epoch: {err}"),
                Some(err.kind()),
            )
        })?;
        let base = numbering.clone().ok().flatten().map_or(0, |(seq, _)| seq);
        write_new_log(path, &epoch, base, |_| Ok(())).map_err(|err| {
            open_err(
                format!("cannot create {}: {err}", log_path.display()),
                Some(err.kind()),
            )
        })?;
    }
    for dir in &created {
        sync_dir(dir)
            .and_then(|()| sync_parent(dir))
            .map_err(|err| {
                open_err(
                    format!(
                        "cannot sync the new journal directory {}: {err}",
                        dir.display()
                    ),
                    Some(err.kind()),
                )
            })?;
    }
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .open(&log_path)
        .map_err(|err| {
            open_err(
                format!("cannot open {}: {err}", log_path.display()),
                Some(err.kind()),
            )
        })?;
    let len = file
        .metadata()
        .map_err(|err| open_err(err.to_string(), Some(err.kind())))?
        .len();
    let damage = |detail: String, store_seq: Option<u64>| Damage {
        detail,
        numbering: numbering.clone().ok().flatten(),
        store_seq,
    };
    let recorded = match &numbering {
        Ok(recorded) => recorded.clone(),
        Err(detail) => return Ok(Err(damage(detail.clone(), None))),
    };
    let scanned = match scan(&file, len) {
        Ok(scanned) => scanned,
        Err(ScanError::Io(err)) => {
            return Err(JournalError::Read {
                detail: format!("{}: {err}", log_path.display()),
            })
        }
        Err(ScanError::Damage(detail, seq)) => return Ok(Err(damage(detail, seq))),
    };
    let Some(epoch) = OrderEpoch::parse(&scanned.header.epoch) else {
        return Ok(Err(damage(
            format!("its numbering epoch {:?} is not one", scanned.header.epoch),
            Some(scanned.last_seq),
        )));
    };
    let file_epoch = recorded.as_ref().and_then(|(_, e)| e.clone());
    if let Some(file_epoch) = &file_epoch {
        if *file_epoch != epoch {
            return Ok(Err(damage(
                format!("its numbering epoch {epoch} differs from {file_epoch} in {SEQ_FILE}"),
                Some(scanned.last_seq),
            )));
        }
    }
    if scanned.torn {
        file.set_len(scanned.good_end)
            .and_then(|()| file.sync_data())
            .map_err(|err| {
                open_err(
                    format!("cannot cut the torn end off {}: {err}", log_path.display()),
                    Some(err.kind()),
                )
            })?;
    }
    let mut ceiling = recorded.as_ref().map_or(0, |(seq, _)| *seq);
    if file_epoch.is_none() || ceiling < scanned.last_seq {
        ceiling = scanned.last_seq.max(ceiling) + SEQ_BLOCK;
        write_seq_file(path, ceiling, &epoch).map_err(|err| {
            open_err(
                format!("cannot write {}: {err}", path.join(SEQ_FILE).display()),
                Some(err.kind()),
            )
        })?;
    }
    let older_kinds = scanned.older_kinds;
    let mut inner = Inner {
        file,
        end: scanned.good_end,
        allocated: if scanned.torn { scanned.good_end } else { len },
        base_seq: scanned.header.base_seq,
        last_seq: scanned.last_seq,
        ceiling,
        index: scanned.index,
        live: scanned.live,
        dirty_tail: false,
        codes: scanned.codes,
        pending: HashMap::new(),
    };
    adopt_code_file(path, &epoch, &mut inner).map_err(|detail| open_err(detail, None))?;
    if has_expired(&inner, keep_days) || grown(&inner) || older_kinds {
        if let Err(error) = compact(path, &epoch, keep_days, &mut inner) {
            tracing::warn!(%error, "could not compact the journal; it stays as it is");
        }
    }
    Ok(Ok(LogJournal {
        path: path.to_path_buf(),
        epoch,
        keep_days,
        inner: Mutex::new(inner),
        _lock: lock,
    }))
}

/// How long to wait for a previous holder of the store (a daemon still exiting).
const LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(3);

fn lock_store(path: &Path) -> Result<File, JournalError> {
    let lock_path = path.join(LOCK_FILE);
    let open_err = |detail: String, kind: Option<std::io::ErrorKind>| JournalError::Open {
        path: path.to_path_buf(),
        detail,
        kind,
    };
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&lock_path)
        .map_err(|err| {
            open_err(
                format!("cannot open {}: {err}", lock_path.display()),
                Some(err.kind()),
            )
        })?;
    let give_up = std::time::Instant::now() + LOCK_WAIT;
    loop {
        match fs2::FileExt::try_lock_exclusive(&file) {
            Ok(()) => return Ok(file),
            Err(_) if std::time::Instant::now() < give_up => {
                std::thread::sleep(std::time::Duration::from_millis(20))
            }
            Err(err) => {
                return Err(open_err(
                    format!("another process holds {}: {err}", lock_path.display()),
                    None,
                ))
            }
        }
    }
}

/// The cut-off for final sales: `keep_days` before the newest record (see the module docs).
fn cutoff(inner: &Inner, keep_days: u32) -> u64 {
    let newest = inner
        .index
        .values()
        .map(|e| e.updated_at)
        .max()
        .unwrap_or(0);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    newest
        .min(now)
        .saturating_sub(u64::from(keep_days) * DAY_MS)
}

fn expired(entry: &Entry, cutoff: u64) -> bool {
    !entry.followed && entry.created_at < cutoff
}

fn has_expired(inner: &Inner, keep_days: u32) -> bool {
    let cutoff = cutoff(inner, keep_days);
    inner.index.values().any(|e| expired(e, cutoff))
}

fn grown(inner: &Inner) -> bool {
    inner.end > 2 * inner.live + (1 << 20)
}

/// Writes a new log at `path/sales.log` through a synced temporary renamed over the old one:
/// the header, then what `write_frames` writes (streamed: a compaction of a long log never
/// holds it in memory).
fn write_new_log(
    path: &Path,
    epoch: &OrderEpoch,
    base_seq: u64,
    write_frames: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
) -> std::io::Result<()> {
    let tmp = path.join(TMP_LOG_FILE);
    let header = serde_json::to_vec(&Header {
        epoch: epoch.as_str().to_string(),
        base_seq,
    })
    .map_err(std::io::Error::other)?;
    let file = File::create(&tmp)?;
    let mut out = BufWriter::with_capacity(1 << 16, &file);
    out.write_all(&frame(KIND_HEADER, &header))?;
    write_frames(&mut out)?;
    out.flush()?;
    drop(out);
    file.sync_all()?;
    std::fs::rename(&tmp, path.join(LOG_FILE))?;
    sync_dir(path)
}

fn compact(
    path: &Path,
    epoch: &OrderEpoch,
    keep_days: u32,
    inner: &mut Inner,
) -> std::io::Result<()> {
    let cutoff = cutoff(inner, keep_days);
    let mut kept: Vec<(String, Entry)> = inner
        .index
        .iter()
        .filter(|(_, e)| !expired(e, cutoff))
        .map(|(id, e)| (id.clone(), *e))
        .collect();
    kept.sort_by_key(|(_, e)| e.seq);
    let header_len = frame(
        KIND_HEADER,
        &serde_json::to_vec(&Header {
            epoch: epoch.as_str().to_string(),
            base_seq: inner.last_seq,
        })
        .map_err(std::io::Error::other)?,
    )
    .len() as u64;
    let mut index = HashMap::with_capacity(kept.len());
    let mut codes = HashMap::new();
    let mut at = header_len;
    let file = &inner.file;
    let held = &inner.codes;
    write_new_log(path, epoch, inner.last_seq, |out| {
        for (id, entry) in kept {
            let mut payload = vec![0; entry.len as usize];
            file.read_exact_at(&mut payload, entry.offset + FRAME_HEAD)?;
            // The held code goes into the copied version; every other slot is dropped.
            let code = held.get(&id).map(|slot| slot.code.clone());
            let head = IndexHead {
                sale_id: &id,
                seq: entry.seq,
                created_at: entry.created_at,
                updated_at: entry.updated_at,
                followed: entry.followed,
            };
            let bytes = record_frame(&head, json_of(&payload), code.as_ref());
            let size = bytes.len() as u64;
            if let Some(code) = code {
                let slot = Slot {
                    at: at + FRAME_HEAD + 1,
                    code,
                };
                codes.insert(id.clone(), slot);
            }
            out.write_all(&bytes)?;
            index.insert(
                id,
                Entry {
                    offset: at,
                    len: (size - FRAME_HEAD) as u32,
                    ..entry
                },
            );
            at += size;
        }
        Ok(())
    })?;
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .open(path.join(LOG_FILE))?;
    let dropped = inner.index.len() - index.len();
    tracing::info!(
        before = inner.end,
        after = at,
        dropped,
        "journal compacted (final sales older than keep_days dropped: the export is the archive)"
    );
    inner.file = file;
    inner.end = at;
    inner.allocated = at;
    inner.base_seq = inner.last_seq;
    inner.live = at - header_len;
    inner.index = index;
    inner.codes = codes;
    inner.dirty_tail = false;
    Ok(())
}

/// A journal from before codes lived in the log keeps them in `scanpay-codes`: each code
/// still held for an unfinished sale goes into the log (its latest version, synced), then
/// the file is erased and removed.
fn adopt_code_file(dir: &Path, epoch: &OrderEpoch, inner: &mut Inner) -> Result<(), String> {
    let file = dir.join(CODES_FILE);
    if !file.exists() {
        return Ok(());
    }
    let context = |e: std::io::Error| format!("cannot adopt {}: {e}", file.display());
    let mut legacy = CodeFile::open(dir).map_err(context)?;
    for (id, code) in legacy.held() {
        let Some(entry) = inner.index.get(&id).copied() else {
            continue;
        };
        if inner.codes.contains_key(&id) {
            continue;
        }
        let mut payload = vec![0; entry.len as usize];
        inner
            .file
            .read_exact_at(&mut payload, entry.offset + FRAME_HEAD)
            .map_err(context)?;
        let mut record: SaleRecord = serde_json::from_slice(json_of(&payload)).map_err(|e| {
            format!(
                "cannot adopt {}: {}",
                file.display(),
                mask_digit_runs(&e.to_string())
            )
        })?;
        // A sale that has ended never sends its code again: it is not adopted.
        if record.state.is_final() {
            continue;
        }
        record.auth_code = Some(code);
        inner.append(dir, epoch, &record)?;
    }
    legacy.erase_all().map_err(context)?;
    std::fs::remove_file(&file).map_err(context)?;
    sync_dir(dir).map_err(context)
}

/// Zeroes the code slot of every readable `S` frame of a damaged log (frames are found by
/// their crc, past damaged bytes too), before it is moved aside.
fn erase_slots(log: &Path) -> std::io::Result<()> {
    let file = OpenOptions::new().read(true).write(true).open(log)?;
    let mut bytes = Vec::new();
    (&file).read_to_end(&mut bytes)?;
    let head = FRAME_HEAD as usize;
    let mut at = 0;
    let mut erased = false;
    while at + head < bytes.len() {
        let n = u32::from_le_bytes(bytes[at..at + 4].try_into().expect("4 bytes")) as usize;
        let fits = n > 0 && n <= MAX_FRAME as usize && at + head + n <= bytes.len();
        let crc = u32::from_le_bytes(bytes[at + 4..at + 8].try_into().expect("4 bytes"));
        if !fits || payload_crc(&bytes[at + head..at + head + n]) != crc {
            at += 1;
            continue;
        }
        let payload = &bytes[at + head..at + head + n];
        if has_slot(payload[0]) && n > 1 + SLOT_LEN {
            file.write_all_at(&[0; SLOT_LEN], (at + head + 1) as u64)?;
            erased = true;
        }
        at += head + n;
    }
    if erased {
        file.sync_data()?;
    }
    Ok(())
}

/// Moves a damaged store aside after salvaging it and erasing its codes, and starts a new
/// store with the salvaged sales (numbering rules as in `SledJournal` before: under the old
/// epoch only when the counter file vouches for it).
fn quarantine(path: &Path, damage: Damage) -> Result<DamageNotice, JournalError> {
    let salvaged = salvage::salvage(path);
    if path.join(LOG_FILE).exists() {
        if let Err(error) = erase_slots(&path.join(LOG_FILE)) {
            tracing::warn!(%error, "could not erase the payment codes of the damaged journal");
        }
    }
    if path.join(CODES_FILE).exists() {
        if let Err(error) = CodeFile::open(path).and_then(|mut codes| codes.erase_all()) {
            tracing::warn!(%error, "could not erase the payment codes of the damaged journal");
        }
    }
    let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%SZ").to_string();
    let mut moved_to = PathBuf::from(format!("{}.corrupt-{stamp}", path.display()));
    let mut n = 1;
    while moved_to.exists() {
        moved_to = PathBuf::from(format!("{}.corrupt-{stamp}-{n}", path.display()));
        n += 1;
    }
    if let Err(err) = std::fs::rename(path, &moved_to) {
        return Err(JournalError::CorruptNotMoved {
            path: path.to_path_buf(),
            detail: damage.detail,
            move_error: err.to_string(),
        });
    }
    let (file_seq, old_epoch) = damage.numbering.unwrap_or((0, None));
    let seq = file_seq
        .max(damage.store_seq.unwrap_or(0))
        .max(salvaged.iter().map(|r| r.seq).max().unwrap_or(0));
    let new_store_err = |err: std::io::Error| JournalError::Open {
        path: path.to_path_buf(),
        detail: format!(
            "the damaged journal was moved aside to {} but a new one cannot be started: {err}",
            moved_to.display()
        ),
        kind: Some(err.kind()),
    };
    let (epoch, numbering) = match old_epoch {
        Some(epoch) => {
            let said = format!("numbering continues after {seq} under epoch {epoch}");
            (epoch, said)
        }
        None => {
            let epoch = random_epoch().map_err(new_store_err)?;
            let said =
                format!("its counter was lost, so numbering goes on under a new epoch {epoch}");
            (epoch, said)
        }
    };
    let unfinished = salvaged.iter().filter(|r| !r.state.is_final()).count();
    let detail = format!(
        "{}; {} sales salvaged, {unfinished} of them unfinished; {numbering}",
        damage.detail,
        salvaged.len()
    );
    salvage::write_notice(&moved_to, &detail);
    let seed = || -> std::io::Result<()> {
        std::fs::create_dir_all(path)?;
        write_new_log(path, &epoch, seq, |out| {
            for record in &salvaged {
                let json = serde_json::to_vec(record).map_err(std::io::Error::other)?;
                out.write_all(&record_frame(&IndexHead::of(record), &json, None))?;
            }
            Ok(())
        })?;
        write_seq_file(path, seq, &epoch)?;
        sync_parent(path)
    };
    seed().map_err(new_store_err)?;
    Ok(DamageNotice { moved_to, detail })
}

fn sync_dir(dir: &Path) -> std::io::Result<()> {
    File::open(dir)?.sync_all()
}

fn sync_parent(path: &Path) -> std::io::Result<()> {
    match path.parent() {
        Some(parent) if parent.as_os_str().is_empty() => sync_dir(Path::new(".")),
        Some(parent) => sync_dir(parent),
        None => Ok(()),
    }
}

/// Writes the reservation: a temporary file, synced, renamed over, the directory synced.
fn write_seq_file(dir: &Path, seq: u64, epoch: &OrderEpoch) -> std::io::Result<()> {
    let file_path = dir.join(SEQ_FILE);
    let tmp_path = dir.join(format!("{SEQ_FILE}.tmp"));
    let mut file = File::create(&tmp_path)?;
    std::io::Write::write_all(&mut file, format!("{seq} {epoch}\n").as_bytes())?;
    file.sync_all()?;
    std::fs::rename(&tmp_path, &file_path)?;
    sync_dir(dir)
}

fn read_seq_file(dir: &Path) -> Result<Option<(u64, Option<OrderEpoch>)>, String> {
    let text = match std::fs::read_to_string(dir.join(SEQ_FILE)) {
        Ok(text) => text,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(err) => return Err(format!("cannot read {SEQ_FILE}: {err}")),
    };
    let bad = || {
        format!(
            "{SEQ_FILE} holds {:?}, not a counter and an epoch",
            text.trim()
        )
    };
    let mut words = text.split_whitespace();
    let seq = words.next().and_then(|w| w.parse().ok()).ok_or_else(bad)?;
    let epoch = match words.next() {
        Some(word) => Some(OrderEpoch::parse(word).ok_or_else(bad)?),
        None => None,
    };
    if words.next().is_some() {
        return Err(bad());
    }
    Ok(Some((seq, epoch)))
}

fn random_epoch() -> std::io::Result<OrderEpoch> {
    let mut bytes = [0u8; 4];
    std::io::Read::read_exact(&mut File::open("/dev/urandom")?, &mut bytes)?;
    Ok(OrderEpoch::from_random(bytes))
}

/// Masks every run of 10 or more digits (a payment code's shortest length) in a decoder's
/// message before it can reach a log.
fn mask_digit_runs(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut digits = String::new();
    let flush = |digits: &mut String, out: &mut String| {
        if digits.len() >= 10 {
            out.push_str(&crate::protocol::payment_code::mask(digits));
        } else {
            out.push_str(digits);
        }
        digits.clear();
    };
    for c in text.chars() {
        if c.is_ascii_digit() {
            digits.push(c);
        } else {
            flush(&mut digits, &mut out);
            out.push(c);
        }
    }
    flush(&mut digits, &mut out);
    out
}

impl Journal for LogJournal {
    /// Appends the deferred versions of other sales (each synced), then this one (its
    /// code's slot written or erased in the same append), synced.
    fn put(&self, record: &SaleRecord) -> Result<(), JournalError> {
        let mut inner = self.lock();
        // This version supersedes a deferred one of the same sale.
        let superseded = inner.pending.remove(&record.sale_id);
        let flushed = inner.flush_pending(&self.path, &self.epoch);
        if let Err(err) = flushed {
            if let Some(superseded) = superseded {
                inner.pending.insert(record.sale_id.clone(), superseded);
            }
            return Err(err);
        }
        inner
            .append(&self.path, &self.epoch, record)
            .map_err(|detail| JournalError::Write {
                sale_id: record.sale_id.clone(),
                detail,
            })?;
        if grown(&inner) {
            if let Err(error) = compact(&self.path, &self.epoch, self.keep_days, &mut inner) {
                tracing::warn!(%error, "could not compact the journal; it stays as it is");
            }
        }
        Ok(())
    }

    /// Kept in memory until the next `put` (or `sync`); a code the record no longer holds is
    /// erased from its slot at once (made durable by the next sync). A sale's first version
    /// is always appended: every deferred one has a durable entry under it.
    fn put_deferred(&self, record: &SaleRecord) -> Result<(), JournalError> {
        let mut inner = self.lock();
        if !inner.index.contains_key(&record.sale_id) {
            drop(inner);
            return self.put(record);
        }
        if let Some(slot) = inner.codes.get(&record.sale_id) {
            if record.auth_code.as_ref() != Some(&slot.code) {
                let at = slot.at;
                inner
                    .file
                    .write_all_at(&[0; SLOT_LEN], at)
                    .map_err(|e| JournalError::Write {
                        sale_id: record.sale_id.clone(),
                        detail: format!(
                            "erasing a payment code in {}: {e}",
                            self.path.join(LOG_FILE).display()
                        ),
                    })?;
                inner.codes.remove(&record.sale_id);
            }
        }
        inner.pending.insert(record.sale_id.clone(), record.clone());
        Ok(())
    }

    fn sync(&self) -> Result<(), JournalError> {
        let mut inner = self.lock();
        inner.flush_pending(&self.path, &self.epoch)
    }

    fn get(&self, sale_id: &str) -> Result<Option<SaleRecord>, JournalError> {
        let inner = self.lock();
        match inner.index.get(sale_id) {
            Some(entry) => self.read_latest(&inner, sale_id, entry).map(Some),
            None => Ok(None),
        }
    }

    fn load_all(&self) -> Result<Vec<SaleRecord>, JournalError> {
        self.read_where(|_| true)
    }

    fn last_seq(&self) -> Result<u64, JournalError> {
        let inner = self.lock();
        Ok(inner.last_seq.max(inner.base_seq))
    }

    fn epoch(&self) -> Result<OrderEpoch, JournalError> {
        Ok(self.epoch.clone())
    }

    fn damage(&self) -> Vec<DamageNotice> {
        salvage::notices(&self.path)
    }

    fn unfinished(&self) -> Result<Vec<SaleRecord>, JournalError> {
        self.read_where(|e| e.followed)
    }

    /// From the index: the newest `newest` entries are found in one pass (no sort of the
    /// whole index), and only the chosen records are read and decoded (a deferred version
    /// over its durable one).
    fn recovery(&self, newest: usize) -> Result<Vec<SaleRecord>, JournalError> {
        let inner = self.lock();
        let mut entries: Vec<(&String, Entry)> = Self::latest_entries(&inner).collect();
        let older = entries.len().saturating_sub(newest);
        if older > 0 && older < entries.len() {
            // Everything from `older` on is at least as new as what comes before it.
            entries.select_nth_unstable_by_key(older, |(_, e)| e.seq);
        }
        let mut chosen: Vec<(&String, Entry)> = entries[..older]
            .iter()
            .filter(|(_, e)| e.followed)
            .chain(&entries[older..])
            .copied()
            .collect();
        drop(entries);
        chosen.sort_by_key(|(_, e)| e.seq);
        chosen
            .iter()
            .map(|(id, e)| self.read_latest(&inner, id, e))
            .collect()
    }

    fn each_sale_id(&self, visit: &mut dyn FnMut(&str)) -> Result<(), JournalError> {
        self.lock().index.keys().for_each(|id| visit(id));
        Ok(())
    }

    fn list(&self, from: Timestamp, to: Timestamp) -> Result<Vec<SaleRecord>, JournalError> {
        let mut records = self.read_where(|e| e.created_at >= from.0 && e.created_at < to.0)?;
        records.sort_by_key(|r| (r.created_at, r.seq));
        Ok(records)
    }

    fn list_page(&self, request: PageRequest) -> Result<Vec<SaleRecord>, JournalError> {
        let inner = self.lock();
        let mut entries: Vec<(&String, Entry)> = Self::latest_entries(&inner)
            .filter(|(_, e)| request.admits(Timestamp(e.created_at), e.seq))
            .collect();
        entries.sort_by_key(|(_, e)| (e.created_at, e.seq));
        entries.truncate(request.limit);
        entries
            .iter()
            .map(|(id, e)| self.read_latest(&inner, id, e))
            .collect()
    }
}

impl Drop for LogJournal {
    /// Deferred versions are made durable when the store is closed (best effort: what a
    /// power cut may lose, a failed close may too).
    fn drop(&mut self) {
        if let Err(error) = self.sync() {
            tracing::warn!(%error, "could not sync the journal's last versions at close");
        }
    }
}
