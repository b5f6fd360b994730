//! How the gateway commands print: a headline and aligned `name  value` rows for people,
//! one pretty JSON object for scripts (`--json`, amounts as integer fen).
//!
//! Kept apart from the commands so every command looks the same and none of them formats
//! by hand.

use std::fmt::Display;
use std::io::{self, Write};
use std::path::Path;

use crate::config::DEFAULT_CONFIG_PATH;

/// A headline followed by indented, aligned rows; rows without a value are left out.
#[derive(Debug, Clone, Default)]
pub struct Report {
    headline: String,
    rows: Vec<(String, String)>,
    footer: Vec<String>,
}

impl Report {
    pub fn new(headline: impl Into<String>) -> Report {
        Report {
            headline: headline.into(),
            ..Report::default()
        }
    }

    pub fn row(mut self, name: impl Into<String>, value: impl Display) -> Report {
        self.rows.push((name.into(), value.to_string()));
        self
    }

    /// A row only when there is a value: absent fields are not printed as "None".
    pub fn opt_row<T: Display>(self, name: &'static str, value: Option<T>) -> Report {
        match value {
            Some(value) => self.row(name, value),
            None => self,
        }
    }

    /// A line after the rows, not indented (e.g. the command to run next).
    pub fn footer(mut self, line: impl Into<String>) -> Report {
        self.footer.push(line.into());
        self
    }

    pub fn write(&self, out: &mut dyn Write) -> io::Result<()> {
        writeln!(out, "{}", self.headline)?;
        let width = self
            .rows
            .iter()
            .map(|(name, _)| name.chars().count())
            .max()
            .unwrap_or(0);
        for (name, value) in &self.rows {
            writeln!(out, "  {name:<width$}  {value}")?;
        }
        for line in &self.footer {
            writeln!(out, "{line}")?;
        }
        out.flush()
    }
}

/// Writes one JSON object, pretty-printed, followed by a newline.
pub fn write_json(out: &mut dyn Write, value: &serde_json::Value) -> io::Result<()> {
    let text = serde_json::to_string_pretty(value).map_err(io::Error::other)?;
    writeln!(out, "{text}")?;
    out.flush()
}

/// How to run another scanpay command with the same config: `scanpay` alone when the
/// config is the default one, `scanpay --config PATH` otherwise, so the printed hint works
/// when pasted.
pub fn scanpay_command(config: &Path) -> String {
    if config == Path::new(DEFAULT_CONFIG_PATH) {
        "scanpay".to_string()
    } else {
        format!(
            "scanpay --config {}",
            shell_word(&config.display().to_string())
        )
    }
}

/// Quotes a word for a POSIX shell when it needs it.
fn shell_word(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._-+:=@,".contains(c));
    if plain {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_are_aligned_and_empty_values_left_out() {
        let mut out = Vec::new();
        Report::new("order A-1: paid")
            .row("amount", "¥12.50")
            .opt_row("trade_no", Some("T1"))
            .opt_row::<&str>("err_code", None)
            .footer("next: scanpay query A-1")
            .write(&mut out)
            .unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "order A-1: paid\n  amount    ¥12.50\n  trade_no  T1\nnext: scanpay query A-1\n"
        );
    }

    #[test]
    fn the_hint_names_a_non_default_config_quoted_for_the_shell() {
        assert_eq!(scanpay_command(Path::new(DEFAULT_CONFIG_PATH)), "scanpay");
        assert_eq!(
            scanpay_command(Path::new("/tmp/c.toml")),
            "scanpay --config /tmp/c.toml"
        );
        assert_eq!(
            scanpay_command(Path::new("/tmp/my shop's/c.toml")),
            r"scanpay --config '/tmp/my shop'\''s/c.toml'"
        );
    }
}
