//! `scanpay daemon` and `scanpay demo`: the parts wired together around one driver loop.
//!
//! `run` opens the journal, recovers every unfinished sale into the engine and the recent
//! sales onto the register's board (`recover`: one read of the journal), connects the
//! gateway client, starts the register API, the display thread and the optional callback
//! listener, and hands everything to `Driver` on the till thread (`till.rs`: the scanner
//! task, the loop and its gateway requests on one thread), which tells systemd it is ready.

pub mod clock;
pub mod demo;
mod dispatch;
mod driver;
mod notify;
pub mod screen_task;
mod till;
mod wiring;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;

pub use dispatch::send_failure;
pub use driver::{Driver, SaleDefaults};
pub use wiring::{display_config, engine_policy, gateway_config, scanner_config};

use crate::config::{Config, RegisterToken};
use crate::display::{open_display, Display, NoDisplay};
use crate::engine::{Engine, PolicyError, Timestamp};
use crate::gateway::{GatewayConfigError, HttpGateway};
use crate::journal::{Journal, JournalError, LogJournal};
use crate::register::{self, ListenAddr, RegisterError, SaleBoard};
use crate::scanner::spawn_scanner;
use crate::systemd::{self, Notifier, SystemdNotifier};
use till::Till;

/// Why the daemon could not start. Each names the part and what to do.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error(transparent)]
    Journal(#[from] JournalError),
    #[error("payment settings are not usable: {0}")]
    Policy(#[from] PolicyError),
    #[error("gateway client: {0}")]
    Gateway(#[from] GatewayConfigError),
    #[error("register API: {0}")]
    Register(#[from] RegisterError),
    // The I/O error is in the message, not a `source`: the chain would print it twice.
    #[error("cannot listen for gateway callbacks on {addr}: {io}; change [register] notify_listen or free the port")]
    NotifyListen {
        addr: SocketAddr,
        io: std::io::Error,
    },
    #[error(
        "cannot start the till thread (the scanner, the sale loop and its gateway requests): {0}"
    )]
    Till(std::io::Error),
}

impl DaemonError {
    /// The config's values or the storage path are the cause (fixing them is the cure,
    /// restarting is not): the CLI exits 78 for these, which the unit file does not restart.
    /// A damaged journal is not among them: it is moved aside and the daemon carries on.
    pub fn is_config_problem(&self) -> bool {
        match self {
            DaemonError::Policy(_) | DaemonError::Gateway(_) => true,
            DaemonError::Journal(error) => error.restart_cannot_help(),
            DaemonError::Register(_) | DaemonError::NotifyListen { .. } | DaemonError::Till(_) => {
                false
            }
        }
    }
}

/// What `run` needs besides the config: where it is told to stop, and how to reach systemd.
pub struct RunOptions {
    pub notifier: Arc<dyn Notifier>,
    /// Tells the caller where the register API listens (after binding port 0).
    pub on_listening: Box<dyn FnOnce(&ListenAddr) + Send>,
    /// Makes a display that replaces the configured one, once the register API listens
    /// (the demo's terminal, whose footer names the API's address).
    pub display: Option<DisplayFactory>,
}

/// See `RunOptions::display`.
pub type DisplayFactory = Box<dyn FnOnce(&ListenAddr) -> Box<dyn Display + Send> + Send>;

impl RunOptions {
    /// The service's options: systemd from the environment, nothing else.
    pub fn service() -> RunOptions {
        let notifier: Arc<dyn Notifier> = match SystemdNotifier::from_env() {
            Ok(notifier) => Arc::new(notifier),
            Err(error) => {
                tracing::warn!(%error, "systemd notifications disabled");
                Arc::new(SystemdNotifier::disabled())
            }
        };
        RunOptions {
            notifier,
            on_listening: Box::new(|_| {}),
            display: None,
        }
    }
}

/// Runs the daemon until `shutdown` resolves.
pub async fn run(
    config: Config,
    options: RunOptions,
    shutdown: impl Future<Output = ()>,
) -> Result<(), DaemonError> {
    let now = clock::now();
    let journal: Arc<dyn Journal> = Arc::new(LogJournal::open_with(
        config.storage.journal_dir(),
        config.storage.keep_days,
    )?);
    let mut engine = Engine::new(engine_policy(&config), now)?;
    let (board, commands) = SaleBoard::new(journal.clone());
    let resumed = recover(journal.as_ref(), &mut engine, &board, now)?;
    if resumed > 0 {
        tracing::info!(
            sales = resumed,
            "resuming unfinished sales from the journal"
        );
    }

    let gateway_config = gateway_config(&config.gateway);
    let merchant = gateway_config.merchant.clone();
    let gateway = Arc::new(HttpGateway::new(gateway_config)?);

    board.update_status(|s| s.clock_synchronized = clock_synced());
    let listen = config.register.listen.clone();
    let token = config
        .register
        .token
        .as_ref()
        .map(|t: &RegisterToken| t.expose().to_string());
    let server = register::serve(listen, token, board.clone()).await?;
    (options.on_listening)(server.addr());

    let (scan_tx, scan_rx) = mpsc::channel(64);

    let (display, open_error) = match options.display {
        Some(make) => (make(server.addr()), None),
        None => match open_display(&display_config(&config.display)) {
            Ok(display) => (display, None),
            // A missing panel must not stop payments: report it and go on.
            Err(error) => (Box::new(NoDisplay) as Box<dyn Display + Send>, Some(error)),
        },
    };
    let screens = screen_task::spawn(display, board.clone());
    if let Some(error) = open_error {
        // After spawning, which reports the stand-in as up: the status must say the panel failed.
        tracing::error!(%error, "display unavailable; taking payments without it (restart scanpay after fixing it)");
        board.update_status(|s| s.display = register::Health::down(error.to_string()));
    }

    let (callback_tx, callbacks) = mpsc::channel(16);
    let notify_listener = match config.register.notify_listen {
        Some(addr) => {
            let listener = notify::listen(addr, merchant, callback_tx)
                .await
                .map_err(|io| DaemonError::NotifyListen { addr, io })?;
            tracing::info!(listen = %listener.addr, "listening for gateway callbacks");
            Some(listener)
        }
        None => None,
    };

    let driver = Driver {
        engine,
        journal,
        gateway,
        notify_url: config.gateway.notify_url.to_string(),
        defaults: SaleDefaults {
            subject: config.payment.default_subject.clone(),
            operator_id: config.gateway.operator_id.clone(),
            fixed_amount: config.register.fixed_amount,
        },
        board,
        commands,
        scanner: scan_rx,
        callbacks,
        screens,
        notifier: options.notifier,
        watchdog: systemd::watchdog_interval(),
        drain_timeout: config.gateway.request_timeout + Duration::from_secs(1),
        clock_synced: Box::new(clock_synced),
    };
    let scanner = scanner_config(&config.scanner);
    let mut till = Till::spawn(move |stop| async move {
        let scanner_task = spawn_scanner(scanner, scan_tx);
        driver
            .run(async {
                let _ = stop.await;
            })
            .await;
        scanner_task.abort();
    })
    .map_err(DaemonError::Till)?;
    tokio::select! {
        () = shutdown => till.stop().await,
        () = till.ended() => {}
    }

    if let Some(listener) = notify_listener {
        listener.stop();
    }
    if let Err(error) = server.shutdown().await {
        tracing::warn!(%error, "register API did not stop cleanly");
    }
    tracing::info!("stopped; unfinished sales resume at the next start");
    Ok(())
}

/// Reads the journal once at start for both its readers: every sale the engine still follows
/// resumes in the engine, and the board learns the recent sales, so the register finds them
/// by id and in `GET /v1/sales` after a restart (older ones it reads from the journal by id
/// when asked). Only those records are read (`Journal::recovery`), so start-up does not grow
/// with the journal. Returns how many sales resumed.
pub fn recover(
    journal: &dyn Journal,
    engine: &mut Engine,
    board: &SaleBoard,
    now: Timestamp,
) -> Result<usize, JournalError> {
    let records = journal.recovery(register::RECENT_SALES)?;
    board.recall(&records)?;
    // The engine takes what is unfinished and leaves the rest.
    engine.recover(records, journal.last_seq()?, Some(journal.epoch()?), now);
    Ok(engine.unfinished().len())
}

fn clock_synced() -> bool {
    !matches!(systemd::clock_sync(), systemd::ClockSync::NotYet)
}

/// Resolves on SIGTERM or SIGINT (Ctrl-C).
pub async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).expect("installing the SIGTERM handler");
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM: stopping after requests on the wire are answered"),
        _ = tokio::signal::ctrl_c() => tracing::info!("interrupted: stopping after requests on the wire are answered"),
    }
}
