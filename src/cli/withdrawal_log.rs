//! A small durable record of this terminal's withdrawals (`withdrawals.jsonl` in the
//! `[storage] path` directory), so that `scanpay settle` can check the gateway's daily limit
//! (¥1,000,000) before sending.
//!
//! Append-only JSON lines, each fsynced before the next step: a `sending` line is on disk
//! before the withdrawal leaves the machine, and its result (`accepted`, `refused`,
//! `not_sent`, `unknown`) follows. A withdrawal counts for its day unless the gateway
//! refused it or it never left: one whose answer was lost may have been received, so it
//! counts. The file is locked while a withdrawal is under way, so two `scanpay settle`
//! cannot both pass the check.
//!
//! **Decision:** days follow China time (UTC+8), like the gateway's: the limit resets at
//! midnight there, 16:00 UTC.

use std::collections::HashSet;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read as _, Seek as _, SeekFrom, Write as _};
use std::path::{Path, PathBuf};

use chrono::{DateTime, FixedOffset, Utc};
use fs2::FileExt as _;
use serde::{Deserialize, Serialize};

use crate::protocol::Fen;

/// The file's name inside `[storage] path`.
pub const FILE_NAME: &str = "withdrawals.jsonl";

/// What happened to one withdrawal, in the order it is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Event {
    /// Written (and fsynced) before the request leaves.
    Sending,
    /// The gateway accepted it (its bank status may still change).
    Accepted,
    /// The gateway answered with a refusal: nothing was withdrawn.
    Refused,
    /// It never left the machine (offline, or refused locally).
    NotSent,
    /// Sent, no trustworthy answer: it may have been received.
    Unknown,
}

/// One line of the file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    /// Ties a result to its `sending` line.
    pub id: String,
    pub event: Event,
    /// The China-time day of the withdrawal, `YYYY-MM-DD`.
    pub day: String,
    /// When the line was written, RFC 3339 UTC.
    pub at: String,
    pub amount_fen: Fen,
    /// The gateway's number, once an answer gave it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trade_no: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum WithdrawalLogError {
    #[error("cannot open the withdrawal record {}: {io}; check that [storage] path exists and is writable by this user", path.display())]
    Open { path: PathBuf, io: io::Error },
    #[error("another `scanpay settle` is under way (the withdrawal record {} is locked); wait for it to finish", path.display())]
    Busy { path: PathBuf },
    #[error("cannot read the withdrawal record {}: {io}", path.display())]
    Read { path: PathBuf, io: io::Error },
    #[error("the withdrawal record {} line {line} is not a withdrawal record ({reason}); without it today's total is not known: repair or move the line, then try again", path.display())]
    Corrupt {
        path: PathBuf,
        line: usize,
        reason: String,
    },
    #[error("cannot write the withdrawal record {} durably: {io}; nothing was sent", path.display())]
    Write { path: PathBuf, io: io::Error },
}

/// The record file, open and locked for one withdrawal.
#[derive(Debug)]
pub struct WithdrawalLog {
    path: PathBuf,
    file: File,
    records: Vec<Record>,
}

impl WithdrawalLog {
    /// Opens (creating the directory and file if needed), locks and reads the record.
    pub fn open(dir: &Path) -> Result<WithdrawalLog, WithdrawalLogError> {
        let path = dir.join(FILE_NAME);
        let open_err = |source| WithdrawalLogError::Open {
            path: path.clone(),
            io: source,
        };
        fs::create_dir_all(dir).map_err(open_err)?;
        let created = !path.exists();
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(&path)
            .map_err(open_err)?;
        if created {
            // The new name must survive a power cut too, not only the lines in it.
            File::open(dir)
                .and_then(|d| d.sync_all())
                .map_err(open_err)?;
        }
        // Released when the file is closed, also when the process dies.
        if let Err(err) = file.try_lock_exclusive() {
            if err.kind() == fs2::lock_contended_error().kind() {
                return Err(WithdrawalLogError::Busy { path });
            }
            return Err(open_err(err));
        }
        let mut text = String::new();
        file.seek(SeekFrom::Start(0))
            .and_then(|_| file.read_to_string(&mut text))
            .map_err(|source| WithdrawalLogError::Read {
                path: path.clone(),
                io: source,
            })?;
        let (records, tail) = parse(&text, &path)?;
        let mut log = WithdrawalLog {
            path,
            file,
            records,
        };
        match tail {
            Tail::Clean => {}
            Tail::Unterminated => log.write_durably("\n")?,
            Tail::Torn => {
                // A line cut short by a power cut was never fsynced, so its request never
                // left: cut it off, so that the next line starts clean.
                let clean_len = text.rfind('\n').map_or(0, |i| i + 1) as u64;
                log.file
                    .set_len(clean_len)
                    .and_then(|()| log.file.sync_all())
                    .map_err(|source| WithdrawalLogError::Write {
                        path: log.path.clone(),
                        io: source,
                    })?;
            }
        }
        Ok(log)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// What counts toward `day`'s limit: every withdrawal of that day that the gateway did
    /// not refuse and that did not stay on this machine.
    pub fn counted_on(&self, day: &str) -> Fen {
        let void: HashSet<&str> = self
            .records
            .iter()
            .filter(|r| matches!(r.event, Event::Refused | Event::NotSent))
            .map(|r| r.id.as_str())
            .collect();
        Fen(self
            .records
            .iter()
            .filter(|r| r.event == Event::Sending && r.day == day && !void.contains(r.id.as_str()))
            .map(|r| r.amount_fen.0)
            .sum())
    }

    /// Appends one record and fsyncs it before returning.
    pub fn append(&mut self, record: Record) -> Result<(), WithdrawalLogError> {
        let mut line = serde_json::to_string(&record).expect("a record always serializes");
        line.push('\n');
        self.write_durably(&line)?;
        self.records.push(record);
        Ok(())
    }

    fn write_durably(&mut self, text: &str) -> Result<(), WithdrawalLogError> {
        self.file
            .write_all(text.as_bytes())
            .and_then(|()| self.file.sync_all())
            .map_err(|source| WithdrawalLogError::Write {
                path: self.path.clone(),
                io: source,
            })
    }
}

/// How the file ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tail {
    /// Empty, or a newline after the last record.
    Clean,
    /// A last record without its newline (an editor dropped it): keep it, add the newline.
    Unterminated,
    /// A last line that is not a record and has no newline: a write cut short.
    Torn,
}

/// The records, and how the file ends.
fn parse(text: &str, path: &Path) -> Result<(Vec<Record>, Tail), WithdrawalLogError> {
    let mut records = Vec::new();
    let ends_clean = text.is_empty() || text.ends_with('\n');
    let lines: Vec<&str> = text.lines().collect();
    for (index, line) in lines.iter().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<Record>(line) {
            Ok(record) => records.push(record),
            Err(_) if !ends_clean && index + 1 == lines.len() => return Ok((records, Tail::Torn)),
            Err(err) => {
                return Err(WithdrawalLogError::Corrupt {
                    path: path.to_path_buf(),
                    line: index + 1,
                    reason: err.to_string(),
                })
            }
        }
    }
    let tail = if ends_clean {
        Tail::Clean
    } else {
        Tail::Unterminated
    };
    Ok((records, tail))
}

/// China Standard Time, the gateway's clock.
fn china() -> FixedOffset {
    FixedOffset::east_opt(8 * 3600).expect("UTC+8 is a valid offset")
}

/// The China-time day of `now`, `YYYY-MM-DD`.
pub fn china_day(now: DateTime<Utc>) -> String {
    now.with_timezone(&china()).format("%Y-%m-%d").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(id: &str, event: Event, day: &str, fen: u64) -> Record {
        Record {
            id: id.into(),
            event,
            day: day.into(),
            at: "2026-11-25T08:00:00Z".into(),
            amount_fen: Fen(fen),
            trade_no: None,
        }
    }

    #[test]
    fn counts_what_may_have_left_and_was_not_refused() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = WithdrawalLog::open(dir.path()).unwrap();
        let day = "2026-11-25";
        for (id, fen, result) in [
            ("a", 100, Some(Event::Accepted)),
            ("b", 200, Some(Event::Refused)),
            ("c", 400, Some(Event::NotSent)),
            ("d", 800, Some(Event::Unknown)),
            // A crash between sending and its result: it may have been received.
            ("e", 1600, None),
        ] {
            log.append(record(id, Event::Sending, day, fen)).unwrap();
            if let Some(event) = result {
                log.append(record(id, event, day, fen)).unwrap();
            }
        }
        log.append(record("f", Event::Sending, "2026-11-24", 3200))
            .unwrap();
        assert_eq!(log.counted_on(day), Fen(100 + 800 + 1600));
        drop(log);
        // Read back from disk the same.
        let log = WithdrawalLog::open(dir.path()).unwrap();
        assert_eq!(log.counted_on(day), Fen(2500));
        assert_eq!(log.counted_on("2026-11-24"), Fen(3200));
    }

    #[test]
    fn a_torn_last_line_is_cut_off_a_corrupt_one_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(FILE_NAME);
        let good = serde_json::to_string(&record("a", Event::Sending, "2026-11-25", 100)).unwrap();
        fs::write(&path, format!("{good}\n{{\"id\":\"b\",\"ev")).unwrap();
        let mut log = WithdrawalLog::open(dir.path()).unwrap();
        assert_eq!(log.counted_on("2026-11-25"), Fen(100));
        log.append(record("c", Event::Sending, "2026-11-25", 5))
            .unwrap();
        drop(log);
        let log = WithdrawalLog::open(dir.path()).unwrap();
        assert_eq!(log.counted_on("2026-11-25"), Fen(105));
        drop(log);

        // A last record without its newline is kept, and the next one starts on a new line.
        fs::write(&path, &good).unwrap();
        let mut log = WithdrawalLog::open(dir.path()).unwrap();
        log.append(record("d", Event::Sending, "2026-11-25", 7))
            .unwrap();
        drop(log);
        let log = WithdrawalLog::open(dir.path()).unwrap();
        assert_eq!(log.counted_on("2026-11-25"), Fen(107));
        drop(log);

        fs::write(&path, format!("not json\n{good}\n")).unwrap();
        let err = WithdrawalLog::open(dir.path()).unwrap_err();
        assert!(
            matches!(err, WithdrawalLogError::Corrupt { line: 1, .. }),
            "{err}"
        );
        assert!(err.to_string().contains("repair or move the line"), "{err}");
    }

    #[test]
    fn a_second_settle_waits_for_the_first() {
        let dir = tempfile::tempdir().unwrap();
        let first = WithdrawalLog::open(dir.path()).unwrap();
        let err = WithdrawalLog::open(dir.path()).unwrap_err();
        assert!(matches!(err, WithdrawalLogError::Busy { .. }), "{err}");
        drop(first);
        WithdrawalLog::open(dir.path()).unwrap();
    }

    #[test]
    fn days_turn_at_midnight_china_time() {
        let at = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
        assert_eq!(china_day(at("2026-11-25T15:59:59Z")), "2026-11-25");
        assert_eq!(china_day(at("2026-11-25T16:00:00Z")), "2026-11-26");
    }
}
