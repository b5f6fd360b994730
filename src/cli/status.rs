//! `scanpay status`: the running daemon's status on one screen, for the person at the till,
//! from the register API's `GET /v1/status`. Exits 1 when something needs a person (and
//! names it), so it also serves as a check for scripts; `--json` prints it for them.
//!
//! The status is read as plain JSON, not as this build's `StatusView`, so every part the
//! daemon reports is shown. A part reported as `{"ok": …, "detail": …}` is judged by its
//! `ok`, whatever its name; other fields are judged by `FIELDS`, and one not listed there is
//! still shown, under its own name, without a verdict. A new status field needs a line in
//! `FIELDS` only if it is not a `Health` and can need a person.

use std::io::Write;
use std::path::Path;

use anyhow::{bail, Context as _};
use serde_json::{json, Map, Value};

use super::charge::register_endpoint;
use super::gateway_cmds::{block_on, with_json_failure};
use super::output::{write_json, Report};
use crate::config::Config;
use crate::register::RegisterClient;

#[derive(Debug, Clone, clap::Args)]
pub struct StatusArgs {
    /// Print `{"ok", "needs_attention": [{"part", "detail"}], "status": {…}}` for scripts.
    #[arg(long)]
    pub json: bool,
}

/// How a field that is not a `{"ok", "detail"}` part is shown and judged.
#[derive(Debug, Clone, Copy)]
enum Judge {
    /// Shown as it is; never needs a person by itself.
    Show,
    /// A flag that should be true; when false, `problem` says what to do.
    ShouldBeTrue { problem: &'static str },
    /// A list of notices that should be empty; each one is a problem in its own words.
    ShouldBeEmpty,
}

/// The fields a person reads, in the order shown: (JSON key, label, judge). Fields the daemon
/// reports that are not here follow, under their own names.
const FIELDS: &[(&str, &str, Judge)] = &[
    ("scanner", "scanner", Judge::Show),
    ("display", "display", Judge::Show),
    ("gateway", "gateway", Judge::Show),
    ("storage", "storage", Judge::Show),
    ("queue_depth", "queue", Judge::Show),
    (
        "clock_synchronized",
        "clock",
        Judge::ShouldBeTrue {
            problem: "not synchronised: check the network (NTP); times and signatures may be off",
        },
    ),
    ("journal_damage", "journal", Judge::ShouldBeEmpty),
    ("version", "version", Judge::Show),
];

/// One line of the screen, and whether it needs a person.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Line {
    label: String,
    text: String,
    /// What is wrong, when a person is needed.
    problem: Option<String>,
}

pub fn run(config_path: &Path, args: &StatusArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    let mut status = None;
    with_json_failure(args.json, out, |_| {
        status = Some(fetch(config_path)?);
        Ok(())
    })?;
    let status = status.expect("fetched, or returned above");
    let lines = read_status(&status);
    let problems: Vec<&Line> = lines.iter().filter(|l| l.problem.is_some()).collect();
    if args.json {
        let needs: Vec<Value> = problems
            .iter()
            .map(|l| json!({"part": l.label, "detail": l.problem}))
            .collect();
        write_json(
            out,
            &json!({"ok": problems.is_empty(), "needs_attention": needs, "status": status}),
        )?;
    } else {
        let headline = match problems.len() {
            0 => "scanpay: everything is working".to_string(),
            1 => "scanpay: 1 thing needs a person".to_string(),
            n => format!("scanpay: {n} things need a person"),
        };
        lines
            .iter()
            .fold(Report::new(headline), |report, line| {
                report.row(line.label.clone(), &line.text)
            })
            .write(out)?;
    }
    if !problems.is_empty() {
        let named: Vec<String> = problems
            .iter()
            .map(|l| format!("{}: {}", l.label, l.problem.as_deref().unwrap_or("")))
            .collect();
        bail!("needs a person: {}", named.join("; "));
    }
    Ok(())
}

/// `GET /v1/status` from the daemon the config names.
fn fetch(config_path: &Path) -> anyhow::Result<Map<String, Value>> {
    let (listen, token) = register_endpoint(&Config::load(config_path)?);
    let client = RegisterClient::new(&listen, token.as_deref())?;
    let status = block_on(client.status())?.with_context(|| {
        format!("reading the daemon's status from the register API at {listen}")
    })?;
    match status {
        Value::Object(map) => Ok(map),
        other => bail!("the daemon's status is not a JSON object: {other}"),
    }
}

/// The status as lines for a person, known fields first.
fn read_status(status: &Map<String, Value>) -> Vec<Line> {
    let known = FIELDS
        .iter()
        .filter_map(|&(key, label, judge)| status.get(key).map(|value| line(label, value, judge)));
    let others = status
        .iter()
        .filter(|(key, _)| !FIELDS.iter().any(|(k, _, _)| k == key))
        .map(|(key, value)| line(key, value, Judge::Show));
    known.chain(others).collect()
}

fn line(label: &str, value: &Value, judge: Judge) -> Line {
    let (text, problem) = match (value, judge) {
        // A part: {"ok": bool, "detail": "..."}.
        (Value::Object(part), _) if part.get("ok").is_some_and(Value::is_boolean) => {
            let detail = part.get("detail").map(plain).unwrap_or_default();
            if part["ok"] == Value::Bool(true) {
                (format!("ok       {detail}"), None)
            } else {
                (format!("PROBLEM  {detail}"), Some(detail))
            }
        }
        (Value::Bool(true), Judge::ShouldBeTrue { .. }) => ("ok".to_string(), None),
        (Value::Bool(false), Judge::ShouldBeTrue { problem }) => {
            (format!("PROBLEM  {problem}"), Some(problem.to_string()))
        }
        (Value::Array(notices), Judge::ShouldBeEmpty) if notices.is_empty() => {
            ("ok".to_string(), None)
        }
        (Value::Array(notices), Judge::ShouldBeEmpty) => {
            let said: Vec<String> = notices.iter().map(plain).collect();
            let said = said.join("; ");
            (format!("PROBLEM  {said}"), Some(said))
        }
        (value, _) => (plain(value), None),
    };
    let text = if label == "queue" {
        format!("{text} waiting for the gateway")
    } else {
        text
    };
    Line {
        label: label.to_string(),
        text,
        problem,
    }
}

/// A JSON value as a person reads it: strings without quotes.
fn plain(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(value: Value) -> Map<String, Value> {
        let Value::Object(map) = value else {
            panic!("an object")
        };
        map
    }

    #[test]
    fn parts_are_judged_by_ok_and_unknown_fields_are_still_shown() {
        let lines = read_status(&status(json!({
            "version": "0.1.0",
            "scanner": {"ok": false, "detail": "unplugged; retrying"},
            "display": {"ok": true, "detail": "png in /tmp/x"},
            "gateway": {"ok": true, "detail": "answered"},
            "queue_depth": 0,
            "clock_synchronized": false,
            "journal_damage": ["the journal was damaged and moved aside"],
            "battery": "83%",
        })));
        let shown: Vec<(String, String, Option<String>)> = lines
            .into_iter()
            .map(|l| (l.label, l.text, l.problem))
            .collect();
        let no = None;
        let problem = |s: &str| Some(s.to_string());
        assert_eq!(
            shown,
            [
                ("scanner".into(), "PROBLEM  unplugged; retrying".into(), problem("unplugged; retrying")),
                ("display".into(), "ok       png in /tmp/x".into(), no.clone()),
                ("gateway".into(), "ok       answered".into(), no.clone()),
                ("queue".into(), "0 waiting for the gateway".into(), no.clone()),
                (
                    "clock".into(),
                    "PROBLEM  not synchronised: check the network (NTP); times and signatures may be off".into(),
                    problem("not synchronised: check the network (NTP); times and signatures may be off")
                ),
                (
                    "journal".into(),
                    "PROBLEM  the journal was damaged and moved aside".into(),
                    problem("the journal was damaged and moved aside")
                ),
                ("version".into(), "0.1.0".into(), no.clone()),
                ("battery".into(), "83%".into(), no),
            ]
        );
    }
}
