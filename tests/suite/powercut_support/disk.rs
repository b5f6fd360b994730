//! The simulated disk, pure: what the running system sees (`live`) and what survives a power
//! cut (`durable`), in the manner of LazyFS and SQLite's crash-test VFS.
//!
//! - A file's data becomes durable only through an fsync/fdatasync of that file. Writes since
//!   then are lost at a cut; with `tear`, each 512-byte sector of them that lies inside the
//!   durable length survives or not at random (a drive reorders and tears writes), and what
//!   lies past it is lost (the size was never committed).
//! - A name (created, renamed, deleted) becomes durable only through an fsync of its
//!   directory (`Names::Posix`), or, `Names::Ext4`, also through any fsync, since ext4's
//!   journal commits every metadata change made before it (data=ordered).
//!
//! A cut replaces `live` by `durable`; the harness unmounts before and mounts after, so no
//! kernel cache outlives it either.
//!
//! I/O errors (`IoFaults`, switched while mounted) model a failing card: a write that fails
//! writes nothing; an fsync that fails commits nothing and, as Linux does after a writeback
//! error, leaves the pages it covered clean in the cache ("fsyncgate"): reads still see their
//! data, but no later fsync carries it to the durable image unless the page is written again.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ffi::OsString;

use crate::fault_support::Rng;

pub const ROOT: u64 = 1;
pub const SECTOR: usize = 512;
/// The page cache's unit: what a failed writeback leaves clean but not durable.
pub const PAGE: usize = 4096;

/// I/O errors the disk gives while switched on (EIO, as a failing SD card does).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IoFaults {
    /// write(2) fails, writing nothing.
    pub write: bool,
    /// fsync/fdatasync (and fsync of a directory) fail, committing nothing; the file's pages
    /// written since its last fsync become clean-but-lost (see the module docs).
    pub fsync: bool,
    /// Only files and directories of this name; None: every one.
    pub only: Option<OsString>,
}

/// When a directory entry becomes durable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Names {
    /// Only an fsync of the directory commits its entries (POSIX, the strictest reading).
    Posix,
    /// Any fsync commits every entry changed before it, as ext4's journal does.
    Ext4,
}

#[derive(Debug, Clone)]
pub enum Node {
    File {
        data: Vec<u8>,
        mode: u16,
    },
    Dir {
        entries: BTreeMap<OsString, u64>,
        mode: u16,
    },
}

#[derive(Debug, Clone, Default)]
struct Image {
    nodes: HashMap<u64, Node>,
}

/// One write not yet made durable, kept for tearing.
#[derive(Debug, Clone)]
struct PendingWrite {
    offset: usize,
    data: Vec<u8>,
}

/// What one cut threw away.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CutReport {
    /// Files that had writes not yet fsynced.
    pub files_with_lost_writes: usize,
    /// Bytes written and not yet fsynced.
    pub bytes_unsynced: usize,
    /// Of those sectors, how many a torn cut kept.
    pub torn_sectors_kept: usize,
    /// Directory entries created, renamed or removed since their directory's last sync.
    pub names_lost: usize,
}

/// Counters over the whole run (for the report).
#[derive(Debug, Clone, Default)]
pub struct DiskStats {
    pub writes: u64,
    pub fsyncs: u64,
    pub dir_fsyncs: u64,
    pub cuts: u64,
    /// Writes and fsyncs refused by `IoFaults`.
    pub failed_writes: u64,
    pub failed_fsyncs: u64,
}

pub struct Disk {
    live: Image,
    durable: Image,
    pending: HashMap<u64, Vec<PendingWrite>>,
    /// By file: pages whose fsync failed and that were not written since (never durable).
    stale: HashMap<u64, BTreeSet<usize>>,
    next_ino: u64,
    pub names: Names,
    pub tear: bool,
    pub faults: IoFaults,
    pub stats: DiskStats,
}

impl Disk {
    pub fn new(names: Names, tear: bool) -> Disk {
        let mut image = Image::default();
        image.nodes.insert(
            ROOT,
            Node::Dir {
                entries: BTreeMap::new(),
                mode: 0o755,
            },
        );
        Disk {
            live: image.clone(),
            durable: image,
            pending: HashMap::new(),
            stale: HashMap::new(),
            next_ino: ROOT + 1,
            names,
            tear,
            faults: IoFaults::default(),
            stats: DiskStats::default(),
        }
    }

    pub fn node(&self, ino: u64) -> Option<&Node> {
        self.live.nodes.get(&ino)
    }

    pub fn lookup(&self, parent: u64, name: &OsString) -> Option<u64> {
        match self.live.nodes.get(&parent)? {
            Node::Dir { entries, .. } => entries.get(name).copied(),
            Node::File { .. } => None,
        }
    }

    pub fn entries(&self, dir: u64) -> Option<Vec<(OsString, u64)>> {
        match self.live.nodes.get(&dir)? {
            Node::Dir { entries, .. } => {
                Some(entries.iter().map(|(n, i)| (n.clone(), *i)).collect())
            }
            Node::File { .. } => None,
        }
    }

    fn entries_mut(&mut self, dir: u64) -> Result<&mut BTreeMap<OsString, u64>, i32> {
        match self.live.nodes.get_mut(&dir) {
            Some(Node::Dir { entries, .. }) => Ok(entries),
            Some(Node::File { .. }) => Err(libc::ENOTDIR),
            None => Err(libc::ENOENT),
        }
    }

    /// Creates a file or directory named `name` in `parent`.
    pub fn create(&mut self, parent: u64, name: OsString, node: Node) -> Result<u64, i32> {
        let ino = self.next_ino;
        let entries = self.entries_mut(parent)?;
        if entries.contains_key(&name) {
            return Err(libc::EEXIST);
        }
        entries.insert(name, ino);
        self.next_ino += 1;
        self.live.nodes.insert(ino, node);
        Ok(ino)
    }

    pub fn remove(&mut self, parent: u64, name: &OsString, want_dir: bool) -> Result<(), i32> {
        let ino = self.lookup(parent, name).ok_or(libc::ENOENT)?;
        match (self.live.nodes.get(&ino), want_dir) {
            (Some(Node::Dir { entries, .. }), true) if !entries.is_empty() => {
                return Err(libc::ENOTEMPTY)
            }
            (Some(Node::Dir { .. }), false) => return Err(libc::EISDIR),
            (Some(Node::File { .. }), true) => return Err(libc::ENOTDIR),
            _ => {}
        }
        self.entries_mut(parent)?.remove(name);
        Ok(())
    }

    /// `rename(2)`; `noreplace` is RENAME_NOREPLACE.
    pub fn rename(
        &mut self,
        parent: u64,
        name: &OsString,
        new_parent: u64,
        new_name: OsString,
        noreplace: bool,
    ) -> Result<(), i32> {
        let ino = self.lookup(parent, name).ok_or(libc::ENOENT)?;
        if noreplace && self.lookup(new_parent, &new_name).is_some() {
            return Err(libc::EEXIST);
        }
        self.entries_mut(new_parent)?;
        self.entries_mut(parent)?.remove(name);
        self.entries_mut(new_parent)?.insert(new_name, ino);
        Ok(())
    }

    pub fn read(&self, ino: u64, offset: usize, size: usize) -> Result<&[u8], i32> {
        match self.live.nodes.get(&ino) {
            Some(Node::File { data, .. }) => {
                let start = offset.min(data.len());
                let end = (offset + size).min(data.len());
                Ok(&data[start..end])
            }
            Some(Node::Dir { .. }) => Err(libc::EISDIR),
            None => Err(libc::ENOENT),
        }
    }

    pub fn write(&mut self, ino: u64, offset: usize, bytes: &[u8]) -> Result<(), i32> {
        match self.live.nodes.get_mut(&ino) {
            Some(Node::File { data, .. }) => {
                if data.len() < offset + bytes.len() {
                    data.resize(offset + bytes.len(), 0);
                }
                data[offset..offset + bytes.len()].copy_from_slice(bytes);
            }
            Some(Node::Dir { .. }) => return Err(libc::EISDIR),
            None => return Err(libc::ENOENT),
        }
        self.stats.writes += 1;
        if let Some(stale) = self.stale.get_mut(&ino) {
            // Written again: dirty, so the next fsync carries these pages.
            for page in pages(offset, bytes.len()) {
                stale.remove(&page);
            }
        }
        self.pending.entry(ino).or_default().push(PendingWrite {
            offset,
            data: bytes.to_vec(),
        });
        Ok(())
    }

    pub fn set_len(&mut self, ino: u64, len: usize) -> Result<(), i32> {
        match self.live.nodes.get_mut(&ino) {
            Some(Node::File { data, .. }) => {
                data.resize(len, 0);
                if let Some(stale) = self.stale.get_mut(&ino) {
                    // Pages wholly past the end are gone from the cache.
                    stale.retain(|page| page * PAGE < len);
                }
                Ok(())
            }
            Some(Node::Dir { .. }) => Err(libc::EISDIR),
            None => Err(libc::ENOENT),
        }
    }

    pub fn set_mode(&mut self, ino: u64, new_mode: u16) {
        match self.live.nodes.get_mut(&ino) {
            Some(Node::File { mode, .. } | Node::Dir { mode, .. }) => *mode = new_mode,
            None => {}
        }
    }

    /// Whether `ino` is of the name the faults are limited to (any, without a limit).
    fn faulty(&self, ino: u64) -> bool {
        let Some(only) = &self.faults.only else {
            return true;
        };
        self.live.nodes.values().any(|node| match node {
            Node::Dir { entries, .. } => entries.get(only) == Some(&ino),
            Node::File { .. } => false,
        })
    }

    /// Whether a write to `ino` fails now (counted).
    pub fn write_fails(&mut self, ino: u64) -> bool {
        let fails = self.faults.write && self.faulty(ino);
        self.stats.failed_writes += u64::from(fails);
        fails
    }

    /// Whether an fsync of `ino` fails now. When it does, nothing is committed, and the
    /// file's pages written since its last fsync are clean-but-lost (fsyncgate).
    pub fn fsync_fails(&mut self, ino: u64) -> bool {
        if !(self.faults.fsync && self.faulty(ino)) {
            return false;
        }
        self.stats.failed_fsyncs += 1;
        if let Some(writes) = self.pending.remove(&ino) {
            let stale = self.stale.entry(ino).or_default();
            for write in writes {
                stale.extend(pages(write.offset, write.data.len()));
            }
        }
        true
    }

    /// fsync/fdatasync of a file: its data (and size) become durable, except pages a failed
    /// fsync left clean, which keep what the durable image had there (zeros past its end).
    pub fn fsync_file(&mut self, ino: u64) {
        self.stats.fsyncs += 1;
        if let Some(Node::File { data, mode }) = self.live.nodes.get(&ino) {
            let mut data = data.clone();
            let before: &[u8] = match self.durable.nodes.get(&ino) {
                Some(Node::File { data, .. }) => data,
                _ => &[],
            };
            for page in self.stale.get(&ino).into_iter().flatten() {
                let start = (page * PAGE).min(data.len());
                let end = ((page + 1) * PAGE).min(data.len());
                for (at, byte) in (start..end).zip(&mut data[start..end]) {
                    *byte = before.get(at).copied().unwrap_or(0);
                }
            }
            let synced = Node::File { data, mode: *mode };
            self.durable.nodes.insert(ino, synced);
            self.pending.remove(&ino);
        }
        if self.names == Names::Ext4 {
            let dirs: Vec<u64> = self
                .live
                .nodes
                .iter()
                .filter(|(_, n)| matches!(n, Node::Dir { .. }))
                .map(|(i, _)| *i)
                .collect();
            for dir in dirs {
                self.commit_entries(dir);
            }
        }
    }

    /// fsync of a directory: its entries become durable (a new child with what of it was
    /// already durable: nothing, for a file never fsynced).
    pub fn fsync_dir(&mut self, ino: u64) {
        self.stats.dir_fsyncs += 1;
        self.commit_entries(ino);
    }

    fn commit_entries(&mut self, dir: u64) {
        let Some(Node::Dir { entries, mode }) = self.live.nodes.get(&dir) else {
            return;
        };
        let (entries, mode) = (entries.clone(), *mode);
        for child in entries.values() {
            if !self.durable.nodes.contains_key(child) {
                let empty = match self.live.nodes.get(child) {
                    Some(Node::File { mode, .. }) => Node::File {
                        data: Vec::new(),
                        mode: *mode,
                    },
                    Some(Node::Dir { mode, .. }) => Node::Dir {
                        entries: BTreeMap::new(),
                        mode: *mode,
                    },
                    None => continue,
                };
                self.durable.nodes.insert(*child, empty);
            }
        }
        self.durable.nodes.insert(dir, Node::Dir { entries, mode });
    }

    /// Every path with its size, live and durable: what a cut is about to lose.
    pub fn describe(&self) -> String {
        fn walk(image: &Image, ino: u64, path: &str, out: &mut Vec<String>) {
            match image.nodes.get(&ino) {
                Some(Node::Dir { entries, .. }) => {
                    out.push(format!("{path}/"));
                    for (name, child) in entries {
                        walk(
                            image,
                            *child,
                            &format!("{path}/{}", name.to_string_lossy()),
                            out,
                        );
                    }
                }
                Some(Node::File { data, .. }) => out.push(format!("{path} ({} bytes)", data.len())),
                None => out.push(format!("{path} (no inode)")),
            }
        }
        let (mut live, mut durable) = (Vec::new(), Vec::new());
        walk(&self.live, ROOT, "", &mut live);
        walk(&self.durable, ROOT, "", &mut durable);
        format!("live: {}\ndurable: {}", live.join(", "), durable.join(", "))
    }

    /// The power cut: everything volatile is gone; `live` becomes the durable image.
    pub fn cut(&mut self, rng: &mut Rng) -> CutReport {
        let mut report = CutReport::default();
        for (ino, writes) in std::mem::take(&mut self.pending) {
            report.files_with_lost_writes += 1;
            let Some(Node::File { data, .. }) = self.durable.nodes.get_mut(&ino) else {
                report.bytes_unsynced += writes.iter().map(|w| w.data.len()).sum::<usize>();
                continue;
            };
            for write in writes {
                report.bytes_unsynced += write.data.len();
                if !self.tear {
                    continue;
                }
                // Sector by sector, inside what the durable size covers.
                let mut at = write.offset;
                let end = write.offset + write.data.len();
                while at < end {
                    let sector_end = ((at / SECTOR) + 1) * SECTOR;
                    let piece_end = sector_end.min(end);
                    if piece_end <= data.len() && rng.percent(50) {
                        data[at..piece_end].copy_from_slice(
                            &write.data[at - write.offset..piece_end - write.offset],
                        );
                        report.torn_sectors_kept += 1;
                    }
                    at = piece_end;
                }
            }
        }
        for (ino, node) in &self.live.nodes {
            if let (Node::Dir { entries, .. }, Some(Node::Dir { entries: kept, .. })) =
                (node, self.durable.nodes.get(ino))
            {
                report.names_lost += entries
                    .iter()
                    .filter(|(n, i)| kept.get(*n) != Some(i))
                    .count()
                    + kept.keys().filter(|n| !entries.contains_key(*n)).count();
            }
        }
        self.live = self.durable.clone();
        self.stale.clear();
        self.stats.cuts += 1;
        report
    }
}

/// The pages `len` bytes at `offset` touch.
fn pages(offset: usize, len: usize) -> impl Iterator<Item = usize> {
    let last = (offset + len.max(1) - 1) / PAGE;
    offset / PAGE..=last
}
