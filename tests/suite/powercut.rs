//! The power-cut suite. A SIGKILL loses nothing the OS has cached; a power cut does. The
//! daemon runs with its storage on a simulated disk (tests/suite/powercut_support/: a FUSE
//! filesystem whose writes are volatile until fsynced and whose names are volatile until
//! their directory is fsynced), sales go through it against the simulator, and at random
//! moments the power goes: SIGKILL, everything volatile dropped (unsynced sectors torn at
//! random), the durable image mounted again, the daemon restarted on it. The journal must
//! open after every cut, and the register's sales must agree with the simulator's ledger.
//!
//! CI size: 112 sales, 101 cuts. `SCANPAY_SUITE=long` (or `SCANPAY_SALES=N`) for thousands,
//! `SCANPAY_SEED=N` to replay, `SCANPAY_POWERCUT_NAMES=ext4` to make names durable at any
//! fsync, as ext4's journal does (the default is the POSIX reading: only a directory fsync).
//! The figures go to stderr: `-- --nocapture` shows them.

// Shared with the other end-to-end and fault suites, which use the parts this file does not.
use crate::e2e_support;
use crate::fault_support;
use crate::powercut_support;

use std::time::Duration;

use e2e_support::{Rig, RigOptions};
use fault_support::{assert_zeros, Customer, KillPlan, Rng, Run, RunSize};
use powercut_support::disk::{Disk, Names, Node, ROOT};
use powercut_support::PowerDisk;
use scanpay::simulator::Faults;

/// As in the crash suite: a short cashier's deadline, a slow gateway for kills while
/// submitting.
const DEADLINE_S: u64 = 2;
const SLOW_GATEWAY_MS: u64 = 400;

fn names_from_env() -> Names {
    match std::env::var("SCANPAY_POWERCUT_NAMES").as_deref() {
        Err(_) | Ok("posix") => Names::Posix,
        Ok("ext4") => Names::Ext4,
        Ok(other) => {
            panic!("SCANPAY_POWERCUT_NAMES={other:?}: expected \"posix\" (the default) or \"ext4\"")
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn power_cuts_never_double_charge_lose_or_misreport_a_sale_and_the_journal_always_opens() {
    let size = RunSize::from_env("powercut", 112, 3000);
    let names = names_from_env();
    let mut disk = PowerDisk::mount(names, true);
    let rig = Rig::start(RigOptions {
        deadline_s: DEADLINE_S,
        storage_path: Some(disk.durable_dir("state")),
        ..RigOptions::default()
    })
    .await;
    let mut run = Run::new(rig, &size);
    let mut disk_rng = Rng::new(size.seed ^ 0x5EED_D15C);
    let mut damaged_opens = Vec::new();
    let mut refused_opens = Vec::new();
    let (mut cutting, mut restarting) = (Duration::ZERO, Duration::ZERO);
    let run_started = std::time::Instant::now();
    for n in 0..size.sales {
        let customer = Customer::draw(&mut run.rng);
        let sale = run.arm(customer).await;
        // Nine sales in ten meet a cut: 101 cuts at the CI size.
        let cut = (n % 10 != 9).then(|| KillPlan::draw(&mut run.rng));
        if cut == Some(KillPlan::WhileSubmitting) {
            run.rig.sim.set_faults(Faults {
                latency_ms: SLOW_GATEWAY_MS,
                ..Faults::default()
            });
        }
        run.scan(sale);
        if let Some(plan) = cut {
            run.wait_for_moment(sale, plan).await;
            let started = std::time::Instant::now();
            run.rig.kill_9().await;
            let lost = disk.cut(&mut disk_rng);
            cutting += started.elapsed();
            run.kills += 1;
            run.note(sale, &format!("power cut {} ({lost:?})", plan.name()));
            run.rig.sim.set_faults(Faults::default());
            let started = std::time::Instant::now();
            let opened = run.rig.try_start_daemon().await;
            restarting += started.elapsed();
            match opened {
                Ok(status) if status.journal_damage.is_empty() => {}
                Ok(status) => damaged_opens.push(format!(
                    "cut {} (sale {}): the journal opened damaged: {:?}; lost at the cut: {lost:?}",
                    run.kills, run.sales[sale].sale_id, status.journal_damage
                )),
                Err(why) => {
                    refused_opens.push(format!(
                        "cut {} (sale {}): {why}; lost at the cut: {lost:?}",
                        run.kills, run.sales[sale].sale_id
                    ));
                    break;
                }
            }
        }
        run.settle_one(sale).await;
    }
    let stats = disk.stats();
    fault_support::print_figures(&format!(
        "powercut: seed {} names {names:?}: {} cuts, {} writes, {} fsyncs, {} directory fsyncs; \
         {:?} in all, {cutting:?} killing and cutting, {restarting:?} restarting",
        size.seed,
        stats.cuts,
        stats.writes,
        stats.fsyncs,
        stats.dir_fsyncs,
        run_started.elapsed()
    ));
    assert!(
        refused_opens.is_empty() && damaged_opens.is_empty(),
        "powercut: seed {}: the journal did not open cleanly after every cut:\n  {}\n{}",
        size.seed,
        refused_opens
            .iter()
            .chain(&damaged_opens)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n  "),
        run.rig.log()
    );
    run.settle_all(Duration::from_secs(60)).await;
    let audit = run.audit().await;
    // The daemon must be gone before the disk is unmounted (a busy mount never unmounts).
    run.rig.kill_9().await;
    assert_zeros("powercut", &size, &audit);
}

/// `[storage] path` need not exist: the daemon creates it. A power cut after a sale is paid
/// must not take the whole journal with it, even on the first start.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_storage_dir_the_daemon_created_itself_survives_a_power_cut_after_a_paid_sale() {
    let size = RunSize::from_env("powercut (new storage dir)", 1, 1);
    let mut disk = PowerDisk::mount(names_from_env(), false);
    let rig = Rig::start(RigOptions {
        deadline_s: DEADLINE_S,
        storage_path: Some(disk.root().join("state")),
        ..RigOptions::default()
    })
    .await;
    let mut run = Run::new(rig, &size);
    let sale = run.arm(Customer::PaysAtOnce).await;
    run.scan(sale);
    run.wait_for_moment(sale, KillPlan::AfterTheOutcome).await;
    run.rig.kill_9().await;
    let before = disk.describe();
    let lost = disk.cut(&mut Rng::new(size.seed));
    run.kills += 1;
    run.note(
        sale,
        &format!("power cut after the outcome ({lost:?}; before it: {before})"),
    );
    run.rig.start_daemon().await;
    let audit = run.audit().await;
    run.rig.kill_9().await;
    assert_zeros("powercut (new storage dir)", &size, &audit);
}

/// The simulated disk itself: a test of the tests, so a disk that never lost anything
/// could not pass the suite above off as a power-cut test.
#[test]
fn the_simulated_disk_loses_what_was_not_fsynced_and_keeps_what_was() {
    let mut rng = Rng::new(1);
    let mut disk = Disk::new(Names::Posix, false);
    let dir = disk
        .create(
            ROOT,
            "journal".into(),
            Node::Dir {
                entries: Default::default(),
                mode: 0o755,
            },
        )
        .unwrap();
    let file = disk
        .create(
            dir,
            "db".into(),
            Node::File {
                data: Vec::new(),
                mode: 0o644,
            },
        )
        .unwrap();
    disk.write(file, 0, b"synced").unwrap();
    disk.fsync_file(file);
    // The data is durable, but neither name is: the cut leaves an empty root.
    disk.cut(&mut rng);
    assert_eq!(disk.lookup(ROOT, &"journal".into()), None);

    let dir = disk
        .create(
            ROOT,
            "journal".into(),
            Node::Dir {
                entries: Default::default(),
                mode: 0o755,
            },
        )
        .unwrap();
    let file = disk
        .create(
            dir,
            "db".into(),
            Node::File {
                data: Vec::new(),
                mode: 0o644,
            },
        )
        .unwrap();
    disk.fsync_dir(ROOT);
    disk.fsync_dir(dir);
    disk.write(file, 0, b"synced").unwrap();
    disk.fsync_file(file);
    disk.write(file, 6, b" and not").unwrap();
    let report = disk.cut(&mut rng);
    assert_eq!(report.bytes_unsynced, 8);
    let dir = disk.lookup(ROOT, &"journal".into()).expect("a synced name");
    let file = disk.lookup(dir, &"db".into()).expect("a synced name");
    assert_eq!(disk.read(file, 0, 100).unwrap(), b"synced");

    // A rename not followed by a directory fsync is undone.
    disk.rename(dir, &"db".into(), dir, "db.old".into(), false)
        .unwrap();
    disk.cut(&mut rng);
    assert!(disk.lookup(dir, &"db".into()).is_some());
    assert!(disk.lookup(dir, &"db.old".into()).is_none());

    // With ext4's ordering, an fsync of any file commits the names made before it.
    let mut disk = Disk::new(Names::Ext4, false);
    let file = disk
        .create(
            ROOT,
            "seq".into(),
            Node::File {
                data: Vec::new(),
                mode: 0o644,
            },
        )
        .unwrap();
    disk.write(file, 0, b"7").unwrap();
    disk.fsync_file(file);
    disk.cut(&mut rng);
    let file = disk
        .lookup(ROOT, &"seq".into())
        .expect("committed by the fsync");
    assert_eq!(disk.read(file, 0, 10).unwrap(), b"7");
}

/// Torn writes: an unsynced overwrite inside the durable length keeps some of its sectors.
#[test]
fn a_torn_cut_keeps_a_random_part_of_an_unsynced_overwrite_sector_by_sector() {
    let mut rng = Rng::new(7);
    let mut disk = Disk::new(Names::Posix, true);
    let file = disk
        .create(
            ROOT,
            "codes".into(),
            Node::File {
                data: Vec::new(),
                mode: 0o600,
            },
        )
        .unwrap();
    disk.fsync_dir(ROOT);
    disk.write(file, 0, &[b'a'; 8 * 512]).unwrap();
    disk.fsync_file(file);
    disk.write(file, 0, &[b'b'; 8 * 512]).unwrap();
    let report = disk.cut(&mut rng);
    let file = disk.lookup(ROOT, &"codes".into()).unwrap();
    let data = disk.read(file, 0, 8 * 512).unwrap().to_vec();
    let new_sectors = data
        .chunks(512)
        .filter(|s| s.iter().all(|b| *b == b'b'))
        .count();
    let old_sectors = data
        .chunks(512)
        .filter(|s| s.iter().all(|b| *b == b'a'))
        .count();
    assert_eq!(new_sectors + old_sectors, 8, "whole sectors only");
    assert_eq!(new_sectors, report.torn_sectors_kept);
    assert!(
        new_sectors > 0 && old_sectors > 0,
        "seed 7 tears: {report:?}"
    );
}
