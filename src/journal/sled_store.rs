//! The journal on sled, made durable against power cuts.
//!
//! Layout: `sale/<sale_id>` → the record as JSON; `meta/last_seq` → the order counter
//! (u64, big-endian), raised in the same transaction as the record that uses it.
//!
//! Durability (design invariant 3): sled 0.34.7's `Db::flush` ends in `sync_file_range` on
//! Linux (`pagecache/iobuf.rs`). That pushes the dirty pages to the drive but neither flushes
//! the drive's write cache nor commits file metadata (size, extents), so after a power cut
//! the write may be gone; only sled's background flusher calls `sync_all`, every 500 ms. So
//! every `put` flushes and then calls `sync_all` (fsync) on our own handle of sled's `db`
//! file: fsync acts on the file, whichever descriptor it comes through. Our records are far
//! below sled's blob threshold (the engine bounds the texts it keeps from the gateway), so
//! they live in `db` and nowhere else.
//!
//! Damage detection: sled 0.34 opens a data file full of garbage as an *empty* store, which
//! would silently lose every sale. So the counter is also kept in a small file of our own
//! (`scanpay-last-seq`, synced whenever it rises, i.e. once per sale): a store whose counter
//! is below it has lost data and is moved aside instead of being used.

use std::fs::File;
use std::path::{Path, PathBuf};

use super::{Journal, JournalError};
use crate::engine::SaleRecord;
use crate::protocol::payment_code::mask;

const SALE_PREFIX: &str = "sale/";
const LAST_SEQ_KEY: &str = "meta/last_seq";
const SEQ_FILE: &str = "scanpay-last-seq";

/// The journal on disk. Open it once per process (sled locks the store).
#[derive(Debug)]
pub struct SledJournal {
    db: sled::Db,
    /// sled's data file, opened by us only to fsync it (see the module docs).
    db_file: File,
    path: PathBuf,
    /// The counter as last written to `SEQ_FILE`.
    seq_file_value: std::sync::Mutex<u64>,
}

impl SledJournal {
    /// Opens the store at `path`, creating it if needed. A damaged store (sled reports
    /// corruption, cannot parse its files, or an entry does not decode) is moved aside to
    /// `<path>.corrupt-<UTC time>` and reported as `JournalError::Corrupt`; it is never
    /// discarded. Opening again then starts a new, empty store.
    pub fn open(path: impl AsRef<Path>) -> Result<SledJournal, JournalError> {
        let path = path.as_ref().to_path_buf();
        let created = !path.exists();
        std::fs::create_dir_all(&path).map_err(|source| JournalError::CreateDir {
            path: path.clone(),
            source,
        })?;

        // sled 0.34 panics on some malformed files instead of returning an error: a panic
        // while opening is damage too, not a reason to crash-loop under systemd.
        let opened = open_waiting_for_lock(&path);
        let db = match opened {
            Ok(Ok(db)) => db,
            Ok(Err(err)) if is_damage(&err) => {
                let known = read_seq_file(&path).ok().flatten();
                return Err(quarantine(&path, err.to_string(), known));
            }
            Ok(Err(err)) => {
                return Err(JournalError::Open {
                    path,
                    detail: err.to_string(),
                })
            }
            Err(_) => {
                let known = read_seq_file(&path).ok().flatten();
                return Err(quarantine(
                    &path,
                    "sled panicked while reading it".into(),
                    known,
                ));
            }
        };
        let db_file = File::open(path.join("db")).map_err(|err| JournalError::Open {
            path: path.clone(),
            detail: format!("cannot open sled's db file: {err}"),
        })?;
        if created {
            // The new directory and the files sled just created in it are directory entries:
            // they survive a power cut only once their directories are synced.
            sync_dir(&path)
                .and_then(|()| match path.parent() {
                    Some(parent) if !parent.as_os_str().is_empty() => sync_dir(parent),
                    _ => Ok(()),
                })
                .map_err(|err| JournalError::Open {
                    path: path.clone(),
                    detail: format!("cannot sync the new journal directory: {err}"),
                })?;
        }
        let recorded = match read_seq_file(&path) {
            Ok(seq) => seq.unwrap_or(0),
            Err(detail) => {
                let known = best_seq(&db);
                drop((db, db_file));
                return Err(quarantine(&path, detail, known));
            }
        };
        let journal = SledJournal {
            db,
            db_file,
            path,
            seq_file_value: std::sync::Mutex::new(recorded),
        };
        // Every entry must decode now, not in the middle of a sale; and nothing may be missing.
        let check = journal.load_all().and_then(|_| journal.last_seq());
        let problem = match check {
            Err(err) => Some(err.to_string()),
            Ok(seq) if seq < recorded => Some(format!(
                "it holds sales up to number {seq} but sales up to {recorded} were written: data is missing"
            )),
            Ok(_) => None,
        };
        if let Some(detail) = problem {
            let SledJournal {
                db, db_file, path, ..
            } = journal;
            let known = Some(best_seq(&db).unwrap_or(0).max(recorded));
            drop((db, db_file));
            return Err(quarantine(&path, detail, known));
        }
        Ok(journal)
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
}

/// The counter from our own file (None when there is none yet).
fn read_seq_file(dir: &Path) -> Result<Option<u64>, String> {
    match std::fs::read_to_string(dir.join(SEQ_FILE)) {
        Ok(text) => text
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| format!("{SEQ_FILE} holds {:?}, not a number", text.trim())),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(err) => Err(format!("cannot read {SEQ_FILE}: {err}")),
    }
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
        write_seq_file(&self.path, seq)
            .map_err(|e| format!("writing {}: {e}", self.path.join(SEQ_FILE).display()))?;
        *current = seq;
        Ok(())
    }
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

/// Moves a damaged store aside (never deletes it) and says where it went. When the old
/// counter is known, a new store is started in its place that continues after it: reusing
/// an order number would make the gateway answer ORDER_CONFLICT, and the query that follows
/// would report the *old* order's outcome for the new sale.
fn quarantine(path: &Path, detail: String, known_seq: Option<u64>) -> JournalError {
    let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%SZ").to_string();
    let mut moved_to = PathBuf::from(format!("{}.corrupt-{stamp}", path.display()));
    let mut n = 1;
    while moved_to.exists() {
        moved_to = PathBuf::from(format!("{}.corrupt-{stamp}-{n}", path.display()));
        n += 1;
    }
    if let Err(err) = std::fs::rename(path, &moved_to) {
        return JournalError::CorruptNotMoved {
            path: path.to_path_buf(),
            detail,
            move_error: err.to_string(),
        };
    }
    let continued_after = known_seq.filter(|&seq| seed_new_store(path, seq).is_ok());
    JournalError::Corrupt {
        path: path.to_path_buf(),
        moved_to,
        detail,
        continued_after,
    }
}

/// Creates an empty store at `path` whose counter starts at `seq`, durably.
fn seed_new_store(path: &Path, seq: u64) -> std::io::Result<()> {
    std::fs::create_dir_all(path)?;
    {
        let db = sled::open(path).map_err(std::io::Error::other)?;
        db.insert(LAST_SEQ_KEY, &seq.to_be_bytes())
            .map_err(std::io::Error::other)?;
        db.flush().map_err(std::io::Error::other)?;
        File::open(path.join("db"))?.sync_all()?;
    }
    write_seq_file(path, seq)?;
    match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => sync_dir(parent),
        _ => Ok(()),
    }
}

/// Writes our copy of the counter: to a temporary file, synced, renamed over the old one,
/// the directory synced; a crash leaves the old value or the new one, never a torn file
/// (which would look like damage).
fn write_seq_file(dir: &Path, seq: u64) -> std::io::Result<()> {
    let file_path = dir.join(SEQ_FILE);
    let tmp_path = dir.join(format!("{SEQ_FILE}.tmp"));
    let mut file = File::create(&tmp_path)?;
    std::io::Write::write_all(&mut file, format!("{seq}\n").as_bytes())?;
    file.sync_all()?;
    std::fs::rename(&tmp_path, &file_path)?;
    sync_dir(dir)
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
    fn put(&self, record: &SaleRecord) -> Result<(), JournalError> {
        let write_err = |detail: String| JournalError::Write {
            sale_id: record.sale_id.clone(),
            detail,
        };
        let value = serde_json::to_vec(record).map_err(|e| write_err(e.to_string()))?;
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
            Some(value) => decode(key.as_bytes(), &value).map(Some),
            None => Ok(None),
        }
    }

    fn load_all(&self) -> Result<Vec<SaleRecord>, JournalError> {
        let mut records = Vec::new();
        for entry in self.db.scan_prefix(SALE_PREFIX) {
            let (key, value) = entry.map_err(read_err)?;
            records.push(decode(&key, &value)?);
        }
        records.sort_by_key(|r| r.seq);
        Ok(records)
    }

    fn last_seq(&self) -> Result<u64, JournalError> {
        match self.db.get(LAST_SEQ_KEY).map_err(read_err)? {
            None => Ok(0),
            Some(v) => <[u8; 8]>::try_from(v.as_ref())
                .map(u64::from_be_bytes)
                .map_err(|_| JournalError::Decode {
                    key: LAST_SEQ_KEY.into(),
                    detail: format!("expected 8 bytes, found {}", v.len()),
                }),
        }
    }
}
