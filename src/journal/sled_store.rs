//! The journal on sled, made durable against power cuts.
//!
//! Layout: `sale/<sale_id>` → the record as JSON; `meta/last_seq` → the order counter
//! (u64, big-endian), raised in the same transaction as the record that uses it.
//!
//! Durability (invariant 3, ARCHITECTURE.md): sled 0.34.7's `Db::flush` ends in `sync_file_range` on
//! Linux (`pagecache/iobuf.rs`). That pushes the dirty pages to the drive but neither flushes
//! the drive's write cache nor commits file metadata (size, extents), so after a power cut
//! the write may be gone; only sled's background flusher calls `sync_all`, every 500 ms. So
//! every `put` flushes and then calls `sync_all` (fsync) on our own handle of sled's `db`
//! file: fsync acts on the file, whichever descriptor it comes through. Our records are far
//! below sled's blob threshold (the engine bounds the texts it keeps from the gateway), so
//! they live in `db` and nowhere else.
//!
//! Numbering: every store holds its epoch (`meta/epoch`, see `engine::OrderEpoch`), chosen at
//! random when the store is created. The counter and the epoch are also kept in a small file
//! of our own (`scanpay-last-seq`: `"{seq} {epoch}"`, synced whenever the counter rises, i.e.
//! once per sale), which a wiped or garbled `db` does not take with it.
//!
//! Damage detection: sled 0.34 opens a data file full of garbage as an *empty* store, which
//! would silently lose every sale. So a store whose counter is below the file's, or whose
//! epoch is missing although its data file is not empty, or whose epoch differs from the
//! file's, has lost data. A damaged store is salvaged (`salvage`), its payment codes erased,
//! moved aside, and a new store started in its place with the salvaged sales, numbering on
//! after the old counter under the old epoch when the counter file survived, else under a
//! new epoch (so no number can repeat).
//!
//! Payment codes are not in sled at all (its old record versions would keep them on disk):
//! see `codes`.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use super::codes::{CodeFile, CODES_FILE};
use super::salvage::{self, DamageNotice};
use super::{Journal, JournalError};
use crate::engine::{OrderEpoch, SaleRecord};
use crate::protocol::payment_code::mask;

const SALE_PREFIX: &str = "sale/";
const LAST_SEQ_KEY: &str = "meta/last_seq";
const EPOCH_KEY: &str = "meta/epoch";
const SEQ_FILE: &str = "scanpay-last-seq";

/// The journal on disk. Open it once per process (sled locks the store).
#[derive(Debug)]
pub struct SledJournal {
    db: sled::Db,
    /// sled's data file, opened by us only to fsync it (see the module docs).
    db_file: File,
    path: PathBuf,
    epoch: OrderEpoch,
    /// The counter as last written to `SEQ_FILE`.
    seq_file_value: Mutex<u64>,
    /// The payment codes still held, outside sled.
    codes: Mutex<CodeFile>,
}

/// Why a store cannot be used as it is, and what it still tells about its numbering.
struct Damage {
    detail: String,
    /// The counter file's content, if it could be read.
    numbering: Option<(u64, Option<OrderEpoch>)>,
    /// The highest counter the store itself still shows.
    store_seq: Option<u64>,
}

impl SledJournal {
    /// Opens the store at `path`, creating it if needed. A damaged store (sled reports
    /// corruption, cannot parse its files, an entry does not decode, or data is missing) is
    /// salvaged and moved aside to `<path>.corrupt-<UTC time>`, never discarded, and a new
    /// store holding what was salvaged is opened in its place: the caller gets a working
    /// journal whose `damage()` reports the old one until a person removes it.
    pub fn open(path: impl AsRef<Path>) -> Result<SledJournal, JournalError> {
        let path = path.as_ref().to_path_buf();
        let damage = match open_store(&path)? {
            Ok(journal) => return Ok(journal),
            Err(damage) => damage,
        };
        let notice = quarantine(&path, damage)?;
        tracing::error!(
            moved_to = %notice.moved_to.display(),
            "the journal was damaged: {}; a new journal was started with what could be read (unfinished sales are looked up at the gateway)",
            notice.detail
        );
        match open_store(&path)? {
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

    fn sync(&self) -> Result<(), String> {
        self.db.flush().map_err(|e| format!("flush: {e}"))?;
        self.db_file
            .sync_all()
            .map_err(|e| format!("fsync of {}: {e}", self.path.join("db").display()))
    }

    fn codes(&self) -> std::sync::MutexGuard<'_, CodeFile> {
        // Each change is one overwrite: a poisoned lock still holds consistent data.
        self.codes.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A record as stored, with its code (if still held) put back.
    fn with_code(&self, mut record: SaleRecord) -> SaleRecord {
        if let Some(code) = self.codes().get(&record.sale_id) {
            record.auth_code = Some(code.clone());
        }
        record
    }
}

/// Opens the store at `path` if it is sound; `Err(Damage)` if it must be moved aside.
fn open_store(path: &Path) -> Result<Result<SledJournal, Damage>, JournalError> {
    // Every directory `create_dir_all` makes here, deepest first: `[storage] path` itself may
    // be new too, and its name is as volatile as the journal's.
    let created: Vec<PathBuf> = path
        .ancestors()
        .take_while(|dir| !dir.as_os_str().is_empty() && !dir.exists())
        .map(Path::to_path_buf)
        .collect();
    std::fs::create_dir_all(path).map_err(|io| JournalError::CreateDir {
        path: path.to_path_buf(),
        io,
    })?;
    // sled 0.34 opens a data file full of garbage as an empty store: an epoch-less store
    // over a non-empty data file is damage, not a new store.
    let data_before = std::fs::metadata(path.join("db")).map_or(0, |m| m.len());
    let numbering = read_seq_file(path);
    let damage = |detail: String, store_seq: Option<u64>| Damage {
        detail,
        numbering: numbering.clone().ok().flatten(),
        store_seq,
    };

    // sled 0.34 panics on some malformed files instead of returning an error: a panic
    // while opening is damage too, not a reason to crash-loop under systemd.
    let db = match open_waiting_for_lock(path) {
        Ok(Ok(db)) => db,
        Ok(Err(err)) if is_damage(&err) => return Ok(Err(damage(err.to_string(), None))),
        Ok(Err(err)) => {
            let kind = match &err {
                sled::Error::Io(io) => Some(io.kind()),
                _ => None,
            };
            return Err(JournalError::Open {
                path: path.to_path_buf(),
                detail: err.to_string(),
                kind,
            });
        }
        Err(_) => return Ok(Err(damage("sled panicked while reading it".into(), None))),
    };
    let open_err = |detail: String, kind: Option<std::io::ErrorKind>| JournalError::Open {
        path: path.to_path_buf(),
        detail,
        kind,
    };
    let db_file = File::open(path.join("db")).map_err(|err| {
        open_err(
            format!("cannot open sled's db file: {err}"),
            Some(err.kind()),
        )
    })?;
    // The new directories and the files sled just created in them are directory entries:
    // they survive a power cut only once their directories are synced, up to the first
    // directory that already existed.
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
    let recorded = match &numbering {
        Ok(numbering) => numbering.clone(),
        Err(detail) => return Ok(Err(damage(detail.clone(), best_seq(&db)))),
    };
    // Every entry must decode now, not in the middle of a sale; and nothing may be missing.
    let records = match load_records(&db).and_then(|r| read_last_seq(&db).map(|s| (r, s))) {
        Ok(found) => found,
        Err(err) => return Ok(Err(damage(err.to_string(), best_seq(&db)))),
    };
    let (records, store_seq) = records;
    let file_seq = recorded.as_ref().map_or(0, |(seq, _)| *seq);
    let file_epoch = recorded.as_ref().and_then(|(_, epoch)| epoch.clone());
    if store_seq < file_seq {
        return Ok(Err(damage(
            format!("it holds sales up to number {store_seq} but sales up to {file_seq} were written: data is missing"),
            Some(store_seq),
        )));
    }
    let stored_epoch = match db.get(EPOCH_KEY).map_err(read_err) {
        Ok(Some(value)) => match std::str::from_utf8(&value).ok().and_then(OrderEpoch::parse) {
            Some(epoch) => Some(epoch),
            None => {
                return Ok(Err(damage(
                    format!(
                        "its numbering epoch {:?} is not one",
                        String::from_utf8_lossy(&value)
                    ),
                    Some(store_seq),
                )))
            }
        },
        Ok(None) => None,
        Err(err) => return Ok(Err(damage(err.to_string(), Some(store_seq)))),
    };
    let epoch = match (stored_epoch, file_epoch) {
        (Some(stored), Some(file)) if stored != file => {
            return Ok(Err(damage(
                format!("its numbering epoch {stored} differs from {file} in {SEQ_FILE}"),
                Some(store_seq),
            )))
        }
        (Some(stored), _) => stored,
        (None, Some(file)) => {
            return Ok(Err(damage(
                format!("its numbering epoch is missing but {SEQ_FILE} names epoch {file}: the store was lost"),
                Some(store_seq),
            )))
        }
        // A store from before numbering epochs (it has sales or a counter) gets one now.
        (None, None) if !records.is_empty() || store_seq > 0 || data_before == 0 => {
            let epoch = random_epoch().map_err(|err| {
                open_err(format!("cannot read random bytes for the numbering epoch: {err}"), Some(err.kind()))
            })?;
            db.insert(EPOCH_KEY, epoch.as_str().as_bytes())
                .and_then(|_| db.flush())
                .map_err(|err| open_err(format!("cannot record the numbering epoch: {err}"), None))?;
            db_file
                .sync_all()
                .map_err(|err| open_err(format!("cannot record the numbering epoch: {err}"), Some(err.kind())))?;
            epoch
        }
        (None, None) => {
            return Ok(Err(damage(
                format!("its data file holds {data_before} bytes but no entry can be read (garbage, or a store from before numbering epochs that never recorded a sale)"),
                Some(0),
            )))
        }
    };
    if recorded.as_ref().and_then(|(_, e)| e.as_ref()) != Some(&epoch) {
        // New store, or a counter file from before epochs: write both now.
        write_seq_file(path, file_seq.max(store_seq), &epoch).map_err(|err| {
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
    Ok(Ok(SledJournal {
        db,
        db_file,
        path: path.to_path_buf(),
        epoch,
        seq_file_value: Mutex::new(file_seq.max(store_seq)),
        codes: Mutex::new(codes),
    }))
}

/// The counter (and epoch, absent in files from before epochs) from our own file; None
/// when there is none yet.
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

impl SledJournal {
    /// Raises our copy of the counter (see `write_seq_file`).
    fn raise_seq_file(&self, seq: u64) -> Result<(), String> {
        let mut current = self
            .seq_file_value
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if seq <= *current {
            return Ok(());
        }
        write_seq_file(&self.path, seq, &self.epoch)
            .map_err(|e| format!("writing {}: {e}", self.path.join(SEQ_FILE).display()))?;
        *current = seq;
        Ok(())
    }
}

/// Four random bytes from the system, for a new numbering epoch.
fn random_epoch() -> std::io::Result<OrderEpoch> {
    let mut bytes = [0u8; 4];
    std::io::Read::read_exact(&mut File::open("/dev/urandom")?, &mut bytes)?;
    Ok(OrderEpoch::from_random(bytes))
}

/// How long to wait for a previous holder of the store to let go of it: sled's background
/// threads keep the file lock for a moment after the `Db` is dropped, and a restarted daemon
/// can start while the old process is still exiting.
const LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(3);

/// Opens sled, retrying while its file lock is held (bounded by `LOCK_WAIT`).
fn open_waiting_for_lock(path: &Path) -> std::thread::Result<sled::Result<sled::Db>> {
    let give_up = std::time::Instant::now() + LOCK_WAIT;
    loop {
        // sled 0.34 panics on some malformed files instead of returning an error.
        let opened = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            sled::Config::new().path(path).open()
        }));
        // sled reports the lock as an Io error of kind Other whose text names the lock.
        let locked = matches!(&opened, Ok(Err(sled::Error::Io(io))) if io.to_string().contains("could not acquire lock"));
        if !locked || std::time::Instant::now() >= give_up {
            return opened;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

fn is_damage(err: &sled::Error) -> bool {
    match err {
        // Unsupported: files sled cannot interpret (e.g. a mangled `conf`).
        sled::Error::Corruption { .. } | sled::Error::Unsupported(_) => true,
        sled::Error::Io(io) => matches!(
            io.kind(),
            std::io::ErrorKind::InvalidData | std::io::ErrorKind::UnexpectedEof
        ),
        _ => false,
    }
}

fn sync_dir(dir: &Path) -> std::io::Result<()> {
    File::open(dir)?.sync_all()
}

/// The highest order number a damaged store still shows (counter or readable records).
fn best_seq(db: &sled::Db) -> Option<u64> {
    let meta = db
        .get(LAST_SEQ_KEY)
        .ok()
        .flatten()
        .and_then(|v| <[u8; 8]>::try_from(v.as_ref()).ok())
        .map(u64::from_be_bytes);
    let records = db
        .scan_prefix(SALE_PREFIX)
        .filter_map(Result::ok)
        .filter_map(|(_, v)| serde_json::from_slice::<SaleRecord>(&v).ok())
        .map(|r| r.seq)
        .max();
    meta.max(records)
}

/// Moves a damaged store aside (never deletes it) after salvaging what it still holds and
/// erasing its payment codes, and starts a new store in its place with the salvaged sales.
/// The new store numbers on after the highest counter known; under the old epoch only when
/// our counter file vouches for it, else under a new one: a reused order number would make
/// the gateway answer ORDER_CONFLICT / ORDERPAID about someone else's order.
fn quarantine(path: &Path, damage: Damage) -> Result<DamageNotice, JournalError> {
    let salvaged = salvage::salvage(path);
    if path.join(CODES_FILE).exists() {
        // Its sales are never sent again (the engine only looks them up).
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
    let (file_seq, old_epoch) = match damage.numbering {
        Some((seq, epoch)) => (seq, epoch),
        None => (0, None),
    };
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
    seed_new_store(path, &epoch, seq, &salvaged).map_err(new_store_err)?;
    Ok(DamageNotice { moved_to, detail })
}

/// Creates a store at `path` with `epoch`, counter `seq` and the salvaged records, durably.
fn seed_new_store(
    path: &Path,
    epoch: &OrderEpoch,
    seq: u64,
    records: &[SaleRecord],
) -> std::io::Result<()> {
    std::fs::create_dir_all(path)?;
    {
        let db = sled::open(path).map_err(std::io::Error::other)?;
        db.insert(EPOCH_KEY, epoch.as_str().as_bytes())
            .map_err(std::io::Error::other)?;
        db.insert(LAST_SEQ_KEY, &seq.to_be_bytes())
            .map_err(std::io::Error::other)?;
        for record in records {
            let value = serde_json::to_vec(record).map_err(std::io::Error::other)?;
            db.insert(format!("{SALE_PREFIX}{}", record.sale_id), value)
                .map_err(std::io::Error::other)?;
        }
        db.flush().map_err(std::io::Error::other)?;
        File::open(path.join("db"))?.sync_all()?;
    }
    write_seq_file(path, seq, epoch)?;
    sync_parent(path)
}

fn sync_parent(path: &Path) -> std::io::Result<()> {
    match path.parent() {
        // A relative path's parent is the working directory.
        Some(parent) if parent.as_os_str().is_empty() => sync_dir(Path::new(".")),
        Some(parent) => sync_dir(parent),
        None => Ok(()),
    }
}

/// Writes our copy of the counter and epoch: to a temporary file, synced, renamed over the
/// old one, the directory synced; a crash leaves the old value or the new one, never a torn
/// file (which would look like damage).
fn write_seq_file(dir: &Path, seq: u64, epoch: &OrderEpoch) -> std::io::Result<()> {
    let file_path = dir.join(SEQ_FILE);
    let tmp_path = dir.join(format!("{SEQ_FILE}.tmp"));
    let mut file = File::create(&tmp_path)?;
    std::io::Write::write_all(&mut file, format!("{seq} {epoch}\n").as_bytes())?;
    file.sync_all()?;
    std::fs::rename(&tmp_path, &file_path)?;
    sync_dir(dir)
}

/// Every record in the store, in order number order (codes not filled in).
fn load_records(db: &sled::Db) -> Result<Vec<SaleRecord>, JournalError> {
    let mut records = Vec::new();
    for entry in db.scan_prefix(SALE_PREFIX) {
        let (key, value) = entry.map_err(read_err)?;
        records.push(decode(&key, &value)?);
    }
    records.sort_by_key(|r| r.seq);
    Ok(records)
}

fn read_last_seq(db: &sled::Db) -> Result<u64, JournalError> {
    match db.get(LAST_SEQ_KEY).map_err(read_err)? {
        None => Ok(0),
        Some(v) => <[u8; 8]>::try_from(v.as_ref())
            .map(u64::from_be_bytes)
            .map_err(|_| JournalError::Decode {
                key: LAST_SEQ_KEY.into(),
                detail: format!("expected 8 bytes, found {}", v.len()),
            }),
    }
}

fn decode(key: &[u8], value: &[u8]) -> Result<SaleRecord, JournalError> {
    serde_json::from_slice(value).map_err(|err| JournalError::Decode {
        key: String::from_utf8_lossy(key).into_owned(),
        detail: mask_digit_runs(&err.to_string()),
    })
}

/// serde's messages quote the value they could not use ("invalid type: integer
/// 134523…"), and a record holds the customer's code until the gateway answers: every run
/// of 10 or more digits (a payment code's shortest length) is masked before the message can
/// reach a log.
fn mask_digit_runs(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut digits = String::new();
    let flush = |digits: &mut String, out: &mut String| {
        if digits.len() >= 10 {
            out.push_str(&mask(digits));
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

fn read_err(err: sled::Error) -> JournalError {
    JournalError::Read {
        detail: err.to_string(),
    }
}

impl Journal for SledJournal {
    /// The code goes to the code file (synced) before the record goes to sled without it
    /// (synced): both are durable when this returns (invariant 3, ARCHITECTURE.md). An erased code is
    /// overwritten first, so a crash in between leaves a record that still claims a code the
    /// file no longer has, which is safe (it can only keep a pay from being sent).
    fn put(&self, record: &SaleRecord) -> Result<(), JournalError> {
        let write_err = |detail: String| JournalError::Write {
            sale_id: record.sale_id.clone(),
            detail,
        };
        self.codes()
            .set(&record.sale_id, record.auth_code.as_ref())
            .map_err(|e| {
                write_err(format!(
                    "writing {}: {e}",
                    self.path.join(CODES_FILE).display()
                ))
            })?;
        let stored = SaleRecord {
            auth_code: None,
            ..record.clone()
        };
        let value = serde_json::to_vec(&stored).map_err(|e| write_err(e.to_string()))?;
        let key = format!("{SALE_PREFIX}{}", record.sale_id);
        let result: sled::transaction::TransactionResult<(), ()> = self.db.transaction(|tx| {
            tx.insert(key.as_bytes(), value.as_slice())?;
            let current = tx
                .get(LAST_SEQ_KEY)?
                .and_then(|v| <[u8; 8]>::try_from(v.as_ref()).ok())
                .map_or(0, u64::from_be_bytes);
            if record.seq > current {
                tx.insert(LAST_SEQ_KEY, &record.seq.to_be_bytes())?;
            }
            Ok(())
        });
        result.map_err(|e| write_err(format!("{e:?}")))?;
        self.sync().map_err(write_err)?;
        self.raise_seq_file(record.seq).map_err(write_err)
    }

    fn get(&self, sale_id: &str) -> Result<Option<SaleRecord>, JournalError> {
        let key = format!("{SALE_PREFIX}{sale_id}");
        match self.db.get(key.as_bytes()).map_err(read_err)? {
            Some(value) => decode(key.as_bytes(), &value).map(|r| Some(self.with_code(r))),
            None => Ok(None),
        }
    }

    fn load_all(&self) -> Result<Vec<SaleRecord>, JournalError> {
        Ok(load_records(&self.db)?
            .into_iter()
            .map(|r| self.with_code(r))
            .collect())
    }

    fn last_seq(&self) -> Result<u64, JournalError> {
        read_last_seq(&self.db)
    }

    fn epoch(&self) -> Result<OrderEpoch, JournalError> {
        Ok(self.epoch.clone())
    }

    fn damage(&self) -> Vec<DamageNotice> {
        salvage::notices(&self.path)
    }
}
