//! The till: the thread the money path runs on. The scanner task, the driver loop and the
//! gateway requests share one single-threaded runtime on a thread of their own, so a scan
//! reaches the wire with no hand-off between threads (each wake of a parked thread costs
//! about 0.1 ms on a small machine: BENCHMARKS.md, "Scan to wire"), and the register API's
//! traffic, on the caller's runtime, never queues in front of a payment.
//!
//! The journal write is a blocking call on this thread, on purpose: nothing on the money
//! path may move before the record is on disk (invariant 3), and the register API, on other
//! threads, still answers (`/v1/status` included) while the disk is slow.

use std::future::Future;
use std::thread;

use tokio::sync::oneshot;

/// The running till.
pub struct Till {
    stop: Option<oneshot::Sender<()>>,
    ended: oneshot::Receiver<()>,
    thread: Option<thread::JoinHandle<()>>,
}

impl Till {
    /// Starts the till thread and runs `work(stop)` on it; `stop` resolves when `stop` is
    /// called (or the `Till` is dropped).
    pub fn spawn<F, Fut>(work: F) -> std::io::Result<Till>
    where
        F: FnOnce(oneshot::Receiver<()>) -> Fut + Send + 'static,
        Fut: Future<Output = ()>,
    {
        let (stop, stop_rx) = oneshot::channel();
        let (ended_tx, ended) = oneshot::channel();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let thread = thread::Builder::new().name("till".into()).spawn(move || {
            runtime.block_on(work(stop_rx));
            // Cancels what the work left running (the scanner task, requests that stopping
            // let go of) before `ended` says so; without waiting for blocking reads (stdin's
            // reader thread never returns from its read): the driver synced the journal.
            runtime.shutdown_background();
            let _ = ended_tx.send(());
        })?;
        Ok(Till {
            stop: Some(stop),
            ended,
            thread: Some(thread),
        })
    }

    /// Resolves when the work has ended, of itself or after `stop`. A panic on the till is
    /// carried on here, as if the work had run on the caller's task.
    pub async fn ended(&mut self) {
        let _ = (&mut self.ended).await;
        if let Some(thread) = self.thread.take() {
            if let Err(panic) = thread.join() {
                std::panic::resume_unwind(panic);
            }
        }
    }

    /// Asks the work to stop and waits until it has.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        self.ended().await;
    }
}
