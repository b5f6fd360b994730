//! `GET /metrics`: a `MetricsSnapshot` as Prometheus text exposition format 0.0.4.
//!
//! Every series is written every time, zeros included, so a dashboard can tell "none yet" from
//! "not exported".

use std::fmt::Write;

use super::backend::MetricsSnapshot;

/// The `Content-Type` Prometheus expects for this format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Renders the snapshot. Metric names are part of the public contract (dashboards use them).
pub fn render(m: &MetricsSnapshot) -> String {
    let mut out = String::new();
    header(
        &mut out,
        "scanpay_sales_total",
        "counter",
        "Sales that entered each state since the daemon started.",
    );
    for (state, count) in &m.sales_entered {
        // State names are fixed snake_case identifiers: nothing to escape.
        let _ = writeln!(
            out,
            "scanpay_sales_total{{state=\"{}\"}} {count}",
            state.as_str()
        );
    }
    counter(
        &mut out,
        "scanpay_gateway_errors_total",
        "Gateway requests that failed or got no trustworthy answer.",
        m.gateway_errors,
    );
    counter(
        &mut out,
        "scanpay_scans_refused_total",
        "Scans refused before reaching the gateway.",
        m.scans_refused,
    );
    counter(
        &mut out,
        "scanpay_late_results_total",
        "Sales whose result came after they had ended (late: e.g. paid after failed or after needs review); the register must act on each.",
        m.late_results,
    );
    gauge(
        &mut out,
        "scanpay_queue_depth",
        "Requests waiting for the gateway to answer again.",
        m.status.queue_depth,
    );
    gauge(
        &mut out,
        "scanpay_gateway_up",
        "0 if the last request did not reach the gateway or got no trustworthy answer; 1 otherwise, also before the first.",
        u64::from(m.status.gateway.ok),
    );
    gauge(
        &mut out,
        "scanpay_scanner_up",
        "1 if the barcode scanner is connected.",
        u64::from(m.status.scanner.ok),
    );
    gauge(
        &mut out,
        "scanpay_display_up",
        "1 if the display is working.",
        u64::from(m.status.display.ok),
    );
    gauge(
        &mut out,
        "scanpay_clock_synchronized",
        "1 once the system clock has been synchronised.",
        u64::from(m.status.clock_synchronized),
    );
    gauge(
        &mut out,
        "scanpay_journal_damaged",
        "Damaged journals moved aside and not yet acknowledged (see /v1/status).",
        m.status.journal_damage.len() as u64,
    );
    gauge(
        &mut out,
        "scanpay_storage_up",
        "1 while the journal takes writes; 0 during a storage fault (no payment is taken).",
        u64::from(m.status.storage.ok),
    );
    header(
        &mut out,
        "scanpay_build_info",
        "gauge",
        "The running scanpay version.",
    );
    let _ = writeln!(
        out,
        "scanpay_build_info{{version=\"{}\"}} 1",
        escape_label(&m.status.version)
    );
    out
}

fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

fn counter(out: &mut String, name: &str, help: &str, value: u64) {
    header(out, name, "counter", help);
    let _ = writeln!(out, "{name} {value}");
}

fn gauge(out: &mut String, name: &str, help: &str, value: u64) {
    header(out, name, "gauge", help);
    let _ = writeln!(out, "{name} {value}");
}

/// Label values escape backslash, double quote and newline.
fn escape_label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::SaleState;
    use crate::register::backend::{Health, StatusView};
    use crate::register::board::ALL_STATES;

    #[test]
    fn renders_every_series_in_exposition_format() {
        let snapshot = MetricsSnapshot {
            sales_entered: ALL_STATES
                .iter()
                .map(|&s| (s, u64::from(s == SaleState::Paid) * 3))
                .collect(),
            gateway_errors: 2,
            scans_refused: 1,
            late_results: 5,
            status: StatusView {
                version: "1.2.3-\"x\"".to_string(),
                scanner: Health::up("serial"),
                display: Health::down("none"),
                gateway: Health::up("ok"),
                queue_depth: 4,
                clock_synchronized: true,
                journal_damage: vec!["damaged journal kept at /x".into()],
                storage: Health::down("storage fault: disk full"),
            },
        };
        expect_test::expect![[r##"
            # HELP scanpay_sales_total Sales that entered each state since the daemon started.
            # TYPE scanpay_sales_total counter
            scanpay_sales_total{state="armed"} 0
            scanpay_sales_total{state="submitting"} 0
            scanpay_sales_total{state="waiting_customer"} 0
            scanpay_sales_total{state="queued"} 0
            scanpay_sales_total{state="paid"} 3
            scanpay_sales_total{state="failed"} 0
            scanpay_sales_total{state="unknown"} 0
            scanpay_sales_total{state="unresolved"} 0
            scanpay_sales_total{state="expired"} 0
            scanpay_sales_total{state="disarmed"} 0
            # HELP scanpay_gateway_errors_total Gateway requests that failed or got no trustworthy answer.
            # TYPE scanpay_gateway_errors_total counter
            scanpay_gateway_errors_total 2
            # HELP scanpay_scans_refused_total Scans refused before reaching the gateway.
            # TYPE scanpay_scans_refused_total counter
            scanpay_scans_refused_total 1
            # HELP scanpay_late_results_total Sales whose result came after they had ended (late: e.g. paid after failed or after needs review); the register must act on each.
            # TYPE scanpay_late_results_total counter
            scanpay_late_results_total 5
            # HELP scanpay_queue_depth Requests waiting for the gateway to answer again.
            # TYPE scanpay_queue_depth gauge
            scanpay_queue_depth 4
            # HELP scanpay_gateway_up 0 if the last request did not reach the gateway or got no trustworthy answer; 1 otherwise, also before the first.
            # TYPE scanpay_gateway_up gauge
            scanpay_gateway_up 1
            # HELP scanpay_scanner_up 1 if the barcode scanner is connected.
            # TYPE scanpay_scanner_up gauge
            scanpay_scanner_up 1
            # HELP scanpay_display_up 1 if the display is working.
            # TYPE scanpay_display_up gauge
            scanpay_display_up 0
            # HELP scanpay_clock_synchronized 1 once the system clock has been synchronised.
            # TYPE scanpay_clock_synchronized gauge
            scanpay_clock_synchronized 1
            # HELP scanpay_journal_damaged Damaged journals moved aside and not yet acknowledged (see /v1/status).
            # TYPE scanpay_journal_damaged gauge
            scanpay_journal_damaged 1
            # HELP scanpay_storage_up 1 while the journal takes writes; 0 during a storage fault (no payment is taken).
            # TYPE scanpay_storage_up gauge
            scanpay_storage_up 0
            # HELP scanpay_build_info The running scanpay version.
            # TYPE scanpay_build_info gauge
            scanpay_build_info{version="1.2.3-\"x\""} 1
        "##]]
        .assert_eq(&render(&snapshot));
    }
}
