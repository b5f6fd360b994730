//! Logs go to stderr through `tracing`, filtered like `RUST_LOG` (default `info`).
//!
//! Under systemd (`JOURNAL_STREAM` is set when stderr is connected to the journal) lines
//! carry no ANSI colours and no timestamp: journald stamps every line itself, and escape
//! codes would show up as garbage in `journalctl`. Instead each line starts with its syslog
//! priority (`<3>` error … `<7>` debug), which journald reads (`SyslogLevelPrefix=`, on by
//! default) so that `journalctl -p warning -u scanpay` shows only what needs attention.

use std::ffi::OsStr;
use std::io::IsTerminal as _;

use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::EnvFilter;

/// How log lines look.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogStyle {
    pub ansi: bool,
    pub timestamps: bool,
    /// `<N>` syslog priority before each line, for journald.
    pub syslog_priority: bool,
}

impl LogStyle {
    /// Plain lines for the journal; colours only on a terminal.
    pub fn detect(journal_stream: Option<&OsStr>, stderr_is_terminal: bool) -> LogStyle {
        let journald = journal_stream.is_some_and(|value| !value.is_empty());
        LogStyle {
            ansi: stderr_is_terminal && !journald,
            timestamps: !journald,
            syslog_priority: journald,
        }
    }
}

/// The syslog priority journald files a line under.
pub fn syslog_priority(level: Level) -> u8 {
    match level {
        Level::ERROR => 3,
        Level::WARN => 4,
        Level::INFO => 6,
        _ => 7,
    }
}

/// Puts `<N>` before each event, then formats it as the inner format does.
struct SyslogPrefix<F>(F);

impl<S, N, F> FormatEvent<S, N> for SyslogPrefix<F>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
    F: FormatEvent<S, N>,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> std::fmt::Result {
        write!(writer, "<{}>", syslog_priority(*event.metadata().level()))?;
        self.0.format_event(ctx, writer, event)
    }
}

/// The filter from `RUST_LOG`, or `info`. A malformed `RUST_LOG` is reported (returned as
/// the second value) rather than silently hiding every log line.
pub fn filter_from(rust_log: Option<&str>) -> (EnvFilter, Option<String>) {
    filter_or(rust_log, "info")
}

/// Like `filter_from`, with `default` when RUST_LOG is unset.
pub fn filter_or(rust_log: Option<&str>, default: &str) -> (EnvFilter, Option<String>) {
    match rust_log {
        None | Some("") => (EnvFilter::new(default), None),
        Some(directives) => match EnvFilter::try_new(directives) {
            Ok(filter) => (filter, None),
            Err(err) => (
                EnvFilter::new(default),
                Some(format!(
                    "RUST_LOG={directives:?} is not a valid filter ({err}); logging at {default}"
                )),
            ),
        },
    }
}

/// Installs the global subscriber. Call once, first thing in `main`.
pub fn init() {
    init_with_default("info");
}

/// Installs the global subscriber, logging at `default` unless RUST_LOG says otherwise
/// (the demo logs only warnings, so its drawn screen stays readable).
pub fn init_with_default(default: &str) {
    let style = LogStyle::detect(
        std::env::var_os("JOURNAL_STREAM").as_deref(),
        std::io::stderr().is_terminal(),
    );
    let rust_log = std::env::var("RUST_LOG").ok();
    let (filter, complaint) = filter_or(rust_log.as_deref(), default);
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(style.ansi)
        .with_target(true);
    if style.syslog_priority {
        let format = tracing_subscriber::fmt::format()
            .without_time()
            .with_ansi(false)
            .with_target(true);
        builder.event_format(SyslogPrefix(format)).init();
    } else if style.timestamps {
        builder.init();
    } else {
        builder.without_time().init();
    }
    if let Some(complaint) = complaint {
        tracing::warn!("{complaint}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn journald_gets_plain_lines_without_time() {
        let journal = Some(OsStr::new("8:12345"));
        assert_eq!(
            LogStyle::detect(journal, true),
            LogStyle {
                ansi: false,
                timestamps: false,
                syslog_priority: true
            }
        );
        assert_eq!(
            LogStyle::detect(None, true),
            LogStyle {
                ansi: true,
                timestamps: true,
                syslog_priority: false
            }
        );
        assert_eq!(
            LogStyle::detect(None, false),
            LogStyle {
                ansi: false,
                timestamps: true,
                syslog_priority: false
            }
        );
    }

    #[test]
    fn priorities_are_the_syslog_ones() {
        assert_eq!(syslog_priority(Level::ERROR), 3);
        assert_eq!(syslog_priority(Level::WARN), 4);
        assert_eq!(syslog_priority(Level::INFO), 6);
        assert_eq!(syslog_priority(Level::DEBUG), 7);
        assert_eq!(syslog_priority(Level::TRACE), 7);
    }

    #[test]
    fn filter_defaults_to_info_and_reports_a_bad_rust_log() {
        assert_eq!(filter_from(None).0.to_string(), "info");
        assert_eq!(
            filter_from(Some("scanpay=debug")).0.to_string(),
            "scanpay=debug"
        );
        let (filter, complaint) = filter_from(Some("scanpay=loud"));
        assert_eq!(filter.to_string(), "info");
        assert!(complaint.unwrap().contains("RUST_LOG=\"scanpay=loud\""));
    }
}
