//! The journal as scanpay's own append-only log: one durable sync per record.
//!
//! Layout of the journal directory:
//! - `sales.log`: frames `[len u32 LE][crc32 u32 LE][kind u8][JSON]`, `len` counting kind and
//!   JSON. The first frame (kind `H`) holds the numbering epoch and the counter the file was
//!   started at; every later frame (kind `R`) is one version of a sale, the record without its
//!   payment code. A `put` appends one frame and calls `fdatasync` once: an append's size
//!   change is metadata needed to read the data, which fdatasync commits.
//! - `scanpay-codes`: the payment codes still held (see `codes`), overwritten in place.
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
//! a torn append whose `put` never returned: it is cut off (with a warning). A bad frame
//! followed by a valid one, or a bad header, is damage: the store is salvaged and moved
//! aside exactly as before (`salvage`, `DamageNotice`).
//!
//! A failed write or sync returns `Err` and leaves the store usable: the next `put` writes
//! again at the last durable end (truncating whatever the failed one left).
//!
//! Retention: `compact` rewrites the log with the latest version of each sale, leaving out
//! final sales created more than `keep_days` before the newest record (not before the
//! clock: a Pi whose clock jumped years ahead must not drop its records), into
//! `sales.log.tmp`, synced, renamed over, the directory synced. It runs at open and when the
//! log has grown past twice its live size plus 1 MiB.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{BufReader, Read as _};
use std::os::unix::fs::FileExt as _;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use super::codes::{CodeFile, CODES_FILE};
use super::salvage::{self, DamageNotice};
use super::{Journal, JournalError};
use crate::engine::{NotFoundWatch, OrderEpoch, SaleRecord, SaleState, Timestamp};

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
const KIND_RECORD: u8 = b'R';
const FRAME_HEAD: u64 = 8;
/// No record comes near this (the engine bounds the texts it keeps): a longer length field
/// is garbage.
const MAX_FRAME: u32 = 1 << 20;
const DAY_MS: u64 = 86_400_000;

/// The journal on disk. Open it once per process (it is locked).
#[derive(Debug)]
pub struct LogJournal {
    path: PathBuf,
    epoch: OrderEpoch,
    keep_days: u32,
    inner: Mutex<Inner>,
    codes: Mutex<CodeFile>,
    _lock: File,
}

#[derive(Debug)]
struct Inner {
    file: File,
    /// The end of the last durable frame: the next frame goes here.
    end: u64,
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

/// The fields read at open (the rest of the JSON is skipped).
#[derive(serde::Deserialize)]
struct Summary {
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

    fn codes(&self) -> MutexGuard<'_, CodeFile> {
        self.codes.lock().unwrap_or_else(|e| e.into_inner())
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
            serde_json::from_slice(&bytes[1..]).map_err(|err| JournalError::Decode {
                key: format!("{LOG_FILE}@{}", entry.offset),
                detail: mask_digit_runs(&err.to_string()),
            })?;
        if let Some(code) = self.codes().get(&record.sale_id) {
            record.auth_code = Some(code.clone());
        }
        Ok(record)
    }

    fn read_where(&self, keep: impl Fn(&Entry) -> bool) -> Result<Vec<SaleRecord>, JournalError> {
        let inner = self.lock();
        let mut entries: Vec<Entry> = inner.index.values().filter(|e| keep(e)).copied().collect();
        entries.sort_by_key(|e| e.seq);
        entries.iter().map(|e| self.read_entry(&inner, e)).collect()
    }
}

fn frame(kind: u8, json: &[u8]) -> Vec<u8> {
    let mut payload = Vec::with_capacity(json.len() + 1);
    payload.push(kind);
    payload.extend_from_slice(json);
    let mut out = Vec::with_capacity(payload.len() + FRAME_HEAD as usize);
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(&crc32fast::hash(&payload).to_le_bytes());
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
    let mut last_seq = 0;
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
                crc32fast::hash(&payload) == crc
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
            if valid_frame_after(file, at + 1, len).map_err(ScanError::Io)? {
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
            (KIND_RECORD, true) => {
                let summary: Summary = serde_json::from_slice(&payload[1..]).map_err(|err| {
                    ScanError::Damage(
                        format!(
                            "the frame at byte {offset} of {LOG_FILE} does not decode: {}",
                            mask_digit_runs(&err.to_string())
                        ),
                        Some(last_seq),
                    )
                })?;
                last_seq = last_seq.max(summary.seq);
                index.insert(
                    summary.sale_id,
                    Entry {
                        offset,
                        len: n as u32,
                        created_at: summary.created_at.0,
                        updated_at: summary.updated_at.0,
                        seq: summary.seq,
                        followed: SaleRecord::follows(summary.state, &summary.not_found),
                    },
                );
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
    })
}

/// Whether a frame with a valid crc starts anywhere in `[from, len)`: a bad frame with a good
/// one after it is damage, not a torn append. Only run on a bad frame, which is rare.
fn valid_frame_after(file: &File, from: u64, len: u64) -> std::io::Result<bool> {
    if from >= len {
        return Ok(false);
    }
    let mut rest = vec![0; (len - from) as usize];
    file.read_exact_at(&mut rest, from)?;
    let head = FRAME_HEAD as usize;
    for start in 0..rest.len().saturating_sub(head) {
        let n = u32::from_le_bytes(rest[start..start + 4].try_into().expect("4 bytes")) as usize;
        if n == 0 || n > MAX_FRAME as usize || start + head + n > rest.len() {
            continue;
        }
        let crc = u32::from_le_bytes(rest[start + 4..start + 8].try_into().expect("4 bytes"));
        let payload = &rest[start + head..start + head + n];
        if matches!(payload[0], KIND_RECORD | KIND_HEADER) && crc32fast::hash(payload) == crc {
            return Ok(true);
        }
    }
    Ok(false)
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
        write_new_log(path, &epoch, base, &[]).map_err(|err| {
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
    if scanned.good_end < len {
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
    let codes = CodeFile::open(path).map_err(|err| {
        open_err(
            format!("cannot open {}: {err}", path.join(CODES_FILE).display()),
            Some(err.kind()),
        )
    })?;
    let mut inner = Inner {
        file,
        end: scanned.good_end,
        base_seq: scanned.header.base_seq,
        last_seq: scanned.last_seq,
        ceiling,
        index: scanned.index,
        live: scanned.live,
        dirty_tail: false,
    };
    if has_expired(&inner, keep_days) || grown(&inner) {
        if let Err(error) = compact(path, &epoch, keep_days, &mut inner) {
            tracing::warn!(%error, "could not compact the journal; it stays as it is");
        }
    }
    Ok(Ok(LogJournal {
        path: path.to_path_buf(),
        epoch,
        keep_days,
        inner: Mutex::new(inner),
        codes: Mutex::new(codes),
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

/// Writes a new log at `path/sales.log` through a synced temporary renamed over the old one.
fn write_new_log(
    path: &Path,
    epoch: &OrderEpoch,
    base_seq: u64,
    frames: &[Vec<u8>],
) -> std::io::Result<()> {
    let tmp = path.join(TMP_LOG_FILE);
    let header = serde_json::to_vec(&Header {
        epoch: epoch.as_str().to_string(),
        base_seq,
    })
    .map_err(std::io::Error::other)?;
    let mut bytes = frame(KIND_HEADER, &header);
    for f in frames {
        bytes.extend_from_slice(f);
    }
    let file = File::create(&tmp)?;
    file.write_all_at(&bytes, 0)?;
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
    let mut frames = Vec::with_capacity(kept.len());
    let mut index = HashMap::with_capacity(kept.len());
    let mut at = header_len;
    for (id, entry) in kept {
        let size = FRAME_HEAD + u64::from(entry.len);
        let mut bytes = vec![0; size as usize];
        inner.file.read_exact_at(&mut bytes, entry.offset)?;
        frames.push(bytes);
        index.insert(
            id,
            Entry {
                offset: at,
                ..entry
            },
        );
        at += size;
    }
    write_new_log(path, epoch, inner.last_seq, &frames)?;
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
    inner.base_seq = inner.last_seq;
    inner.live = at - header_len;
    inner.index = index;
    inner.dirty_tail = false;
    Ok(())
}

/// Moves a damaged store aside after salvaging it and erasing its codes, and starts a new
/// store with the salvaged sales (numbering rules as in `SledJournal` before: under the old
/// epoch only when the counter file vouches for it).
fn quarantine(path: &Path, damage: Damage) -> Result<DamageNotice, JournalError> {
    let salvaged = salvage::salvage(path);
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
        let frames = salvaged
            .iter()
            .map(|r| serde_json::to_vec(r).map(|json| frame(KIND_RECORD, &json)))
            .collect::<Result<Vec<_>, _>>()
            .map_err(std::io::Error::other)?;
        write_new_log(path, &epoch, seq, &frames)?;
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
    /// The code goes to the code file first (erased first: a crash in between leaves a
    /// record that claims a code the file no longer has, which can only keep a pay from
    /// being sent), then the record is appended and fdatasynced.
    fn put(&self, record: &SaleRecord) -> Result<(), JournalError> {
        let write_err = |detail: String| JournalError::Write {
            sale_id: record.sale_id.clone(),
            detail,
        };
        let mut inner = self.lock();
        self.codes()
            .set(&record.sale_id, record.auth_code.as_ref())
            .map_err(|e| {
                write_err(format!(
                    "writing {}: {e}",
                    self.path.join(CODES_FILE).display()
                ))
            })?;
        if record.seq > inner.ceiling {
            let ceiling = record.seq + SEQ_BLOCK;
            write_seq_file(&self.path, ceiling, &self.epoch).map_err(|e| {
                write_err(format!(
                    "writing {}: {e}",
                    self.path.join(SEQ_FILE).display()
                ))
            })?;
            inner.ceiling = ceiling;
        }
        let stored = SaleRecord {
            auth_code: None,
            ..record.clone()
        };
        let json = serde_json::to_vec(&stored).map_err(|e| write_err(e.to_string()))?;
        let bytes = frame(KIND_RECORD, &json);
        let offset = inner.end;
        let log = self.path.join(LOG_FILE);
        let written = (|| {
            if inner.dirty_tail {
                inner.file.set_len(offset)?;
            }
            inner.file.write_all_at(&bytes, offset)?;
            inner.file.sync_data()
        })();
        if let Err(err) = written {
            inner.dirty_tail = true;
            // Best effort: the next put truncates again before it writes.
            let _ = inner.file.set_len(offset);
            return Err(write_err(format!("appending to {}: {err}", log.display())));
        }
        inner.dirty_tail = false;
        inner.end = offset + bytes.len() as u64;
        let entry = Entry {
            offset,
            len: (bytes.len() as u64 - FRAME_HEAD) as u32,
            created_at: record.created_at.0,
            updated_at: record.updated_at.0,
            seq: record.seq,
            followed: record.followed(),
        };
        if let Some(old) = inner.index.insert(record.sale_id.clone(), entry) {
            inner.live -= FRAME_HEAD + u64::from(old.len);
        }
        inner.live += bytes.len() as u64;
        inner.last_seq = inner.last_seq.max(record.seq);
        if grown(&inner) {
            if let Err(error) = compact(&self.path, &self.epoch, self.keep_days, &mut inner) {
                tracing::warn!(%error, "could not compact the journal; it stays as it is");
            }
        }
        Ok(())
    }

    fn get(&self, sale_id: &str) -> Result<Option<SaleRecord>, JournalError> {
        let inner = self.lock();
        match inner.index.get(sale_id) {
            Some(entry) => self.read_entry(&inner, entry).map(Some),
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
    /// whole index), and only the chosen records are read and decoded.
    fn recovery(&self, newest: usize) -> Result<Vec<SaleRecord>, JournalError> {
        let inner = self.lock();
        let mut entries: Vec<Entry> = inner.index.values().copied().collect();
        let older = entries.len().saturating_sub(newest);
        if older > 0 && older < entries.len() {
            // Everything from `older` on is at least as new as what comes before it.
            entries.select_nth_unstable_by_key(older, |e| e.seq);
        }
        let mut chosen: Vec<Entry> = entries[..older]
            .iter()
            .filter(|e| e.followed)
            .chain(&entries[older..])
            .copied()
            .collect();
        drop(entries);
        chosen.sort_by_key(|e| e.seq);
        chosen.iter().map(|e| self.read_entry(&inner, e)).collect()
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

    fn list_page(
        &self,
        from: Timestamp,
        to: Timestamp,
        after: Option<(Timestamp, u64)>,
        limit: usize,
    ) -> Result<Vec<SaleRecord>, JournalError> {
        let inner = self.lock();
        let mut entries: Vec<Entry> = inner
            .index
            .values()
            .filter(|e| e.created_at >= from.0 && e.created_at < to.0)
            .filter(|e| after.is_none_or(|(t, s)| (e.created_at, e.seq) > (t.0, s)))
            .copied()
            .collect();
        entries.sort_by_key(|e| (e.created_at, e.seq));
        entries.truncate(limit);
        entries.iter().map(|e| self.read_entry(&inner, e)).collect()
    }
}
