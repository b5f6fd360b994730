//! A disk that loses power: an in-memory FUSE filesystem (`fs.rs`) over a model with a
//! durable image and a volatile layer (`disk.rs`), mounted on a temp dir. `PowerDisk::cut`
//! is the power cut: the filesystem is unmounted (the kernel's caches go with it), everything
//! not made durable is dropped, and the durable image is mounted again at the same place.
//!
//! Needs `/dev/fuse` and either root (fuser mounts with mount(2)) or `fusermount3` from the
//! `fuse3` package; .ci/run installs fuse3.

pub mod disk;
pub mod fs;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use fuser::{BackgroundSession, MountOption};

use crate::fault_support::Rng;
use disk::{CutReport, Disk, DiskStats, IoFaults, Names};
use fs::DiskFs;

pub struct PowerDisk {
    disk: Arc<Mutex<Disk>>,
    mountpoint: PathBuf,
    session: Option<BackgroundSession>,
    _dir: tempfile::TempDir,
}

impl PowerDisk {
    /// A new, empty disk mounted on a temp dir.
    pub fn mount(names: Names, tear: bool) -> PowerDisk {
        let dir = tempfile::Builder::new()
            .prefix("scanpay-powercut-")
            .tempdir()
            .expect("make a temp dir");
        let mountpoint = dir.path().join("disk");
        std::fs::create_dir(&mountpoint).expect("make the mount point");
        let mut disk = PowerDisk {
            disk: Arc::new(Mutex::new(Disk::new(names, tear))),
            mountpoint,
            session: None,
            _dir: dir,
        };
        disk.attach();
        disk
    }

    fn attach(&mut self) {
        let fs = DiskFs {
            disk: Arc::clone(&self.disk),
        };
        let options = [
            MountOption::FSName("scanpay-powercut".to_string()),
            MountOption::RW,
        ];
        let session = fuser::spawn_mount2(fs, &self.mountpoint, &options).unwrap_or_else(|e| {
            panic!(
                "mount the power-cut filesystem on {}: {e}; it needs /dev/fuse and root, or \
                 fusermount3 (apt-get install fuse3)",
                self.mountpoint.display()
            )
        });
        self.session = Some(session);
    }

    /// Where the filesystem is mounted.
    pub fn root(&self) -> &Path {
        &self.mountpoint
    }

    /// Makes a directory at the disk's root, durably (as the Debian package's state
    /// directory is, long before the daemon first starts); returns its path.
    pub fn durable_dir(&self, name: &str) -> PathBuf {
        let path = self.mountpoint.join(name);
        std::fs::create_dir(&path).expect("make a directory on the power-cut disk");
        std::fs::File::open(&self.mountpoint)
            .and_then(|root| root.sync_all())
            .expect("fsync the power-cut disk's root");
        path
    }

    /// The power cut. Whoever had files open on the disk must be dead already.
    pub fn cut(&mut self, rng: &mut Rng) -> CutReport {
        if let Some(session) = self.session.take() {
            // fuser's `join` unmounts, then unwraps the session thread's result. Once in CI
            // (x86_64, 1 cut of 112) the thread's last read of /dev/fuse at the unmount
            // returned ECONNABORTED instead of ENODEV: the connection ended either way, and
            // what the disk holds is decided under its lock, below. Any other error still
            // fails the test.
            let joined = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| session.join()));
            if let Err(panic) = joined {
                let message = panic
                    .downcast_ref::<String>()
                    .map(String::as_str)
                    .or_else(|| panic.downcast_ref::<&str>().copied())
                    .unwrap_or("");
                if !message.contains("ConnectionAborted") {
                    std::panic::resume_unwind(panic);
                }
                eprintln!("powercut: the FUSE session ended with ECONNABORTED at the unmount; taken as ended");
            }
        }
        let mut disk = self.disk.lock().unwrap_or_else(|e| e.into_inner());
        if std::env::var_os("SCANPAY_POWERCUT_DEBUG").is_some() {
            eprintln!("powercut: before the cut:\n{}", disk.describe());
        }
        let report = disk.cut(rng);
        drop(disk);
        self.attach();
        report
    }

    /// Every path with its size, live and durable.
    pub fn describe(&self) -> String {
        self.disk
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .describe()
    }

    /// Switches I/O errors on or off (`IoFaults::default()`), while mounted.
    #[allow(dead_code)] // the storage-fault tests only
    pub fn set_faults(&self, faults: IoFaults) {
        self.disk.lock().unwrap_or_else(|e| e.into_inner()).faults = faults;
    }

    pub fn stats(&self) -> DiskStats {
        self.disk
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .stats
            .clone()
    }
}

impl Drop for PowerDisk {
    fn drop(&mut self) {
        if let Some(session) = self.session.take() {
            // A test that failed midway may leave a daemon with files open on the disk: a
            // plain unmount would then wait for ever. Detaching always succeeds, and the
            // session ends once the kernel lets go of it.
            if let Ok(path) = std::ffi::CString::new(self.mountpoint.as_os_str().as_encoded_bytes())
            {
                // SAFETY: a valid, NUL-terminated path; umount2 only reads it.
                unsafe { libc::umount2(path.as_ptr(), libc::MNT_DETACH) };
            }
            session.join();
        }
    }
}
