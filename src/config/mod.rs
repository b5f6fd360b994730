//! The config file (`/etc/scanpay/config.toml`, or `--config PATH`).
//!
//! Read in two steps, like ripgrep's low-level then high-level arguments: `raw` parses the TOML
//! with every key optional and unknown keys refused, then `validate` checks it into the typed
//! `Config` that is passed explicitly to whoever needs a section. `effective` writes it back
//! with defaults filled and secrets masked for `scanpay check-config`.
//!
//! Relative paths in the file are taken from the file's own directory. The merchant key and
//! the register token never appear in an error or in the printed config.

mod effective;
mod host;
mod raw;
mod secret_file;
mod settings;
mod validate;

use std::path::{Path, PathBuf};

pub use effective::masked;
pub use host::HostFacts;
pub use raw::{
    RawConfig, RawDisplay, RawGateway, RawOffline, RawPayment, RawReconcile, RawRegister,
    RawScanner, RawStorage,
};
pub use secret_file::{read_secret_file, SecretFile, SecretFileError};
pub use settings::*;
pub use validate::{validate, Origin, Problem, DEFAULT_REGISTER_LISTEN};

/// Why there is no usable config.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    // Not `source`: the I/O error is already in the message, and anyhow's `{:#}` would print
    // a source a second time.
    #[error("cannot read config file {}: {cause}; pass --config PATH, or start from systemd/config.example.toml", path.display())]
    Read {
        path: PathBuf,
        cause: std::io::Error,
    },
    #[error("config file {} is not valid TOML for scanpay: {}", path.display(), describe_syntax(.problem))]
    Syntax {
        path: PathBuf,
        problem: SyntaxProblem,
    },
    #[error("config file {} has {} problem{}:\n{}", path.display(), problems.len(), if problems.len() == 1 { "" } else { "s" }, list(problems))]
    Invalid {
        path: PathBuf,
        problems: Vec<Problem>,
    },
}

impl ConfigError {
    /// The problems as `[section] key` / message pairs, for `--json` output.
    pub fn problems(&self) -> Vec<Problem> {
        match self {
            ConfigError::Read { .. } => vec![Problem {
                key: "(file)".into(),
                message: self.to_string(),
            }],
            ConfigError::Syntax { problem, .. } => vec![Problem {
                key: problem.key.clone().unwrap_or_else(|| "(syntax)".into()),
                message: format!("line {}: {}", problem.line, problem.message),
            }],
            ConfigError::Invalid { problems, .. } => problems.clone(),
        }
    }
}

/// A TOML error located by line and, when the line has one, by `[section] key`. The TOML
/// parser's own rendering quotes the offending line, which could hold a secret, so only its
/// message is kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxProblem {
    pub line: usize,
    pub key: Option<String>,
    pub message: String,
}

fn describe_syntax(problem: &SyntaxProblem) -> String {
    match &problem.key {
        Some(key) => format!("line {} ({key}): {}", problem.line, problem.message),
        None => format!("line {}: {}", problem.line, problem.message),
    }
}

fn list(problems: &[Problem]) -> String {
    problems
        .iter()
        .map(|p| format!("  {p}"))
        .collect::<Vec<_>>()
        .join("\n")
}

impl Config {
    /// Reads, parses and validates the config file at `path`.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|cause| ConfigError::Read {
            path: path.to_path_buf(),
            cause,
        })?;
        let dir = path
            .parent()
            .filter(|dir| !dir.as_os_str().is_empty())
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."));
        let origin = Origin {
            dir: std::path::absolute(&dir).unwrap_or(dir),
            host: HostFacts::read(),
        };
        let config = Config::from_toml(&text, path, &origin)?;
        let mode = std::fs::metadata(path)
            .map(|m| std::os::unix::fs::PermissionsExt::mode(&m.permissions()))
            .map_err(|cause| ConfigError::Read {
                path: path.to_path_buf(),
                cause,
            })?;
        validate::inline_token_kept_private(&config.register, mode).map_err(|problem| {
            ConfigError::Invalid {
                path: path.to_path_buf(),
                problems: vec![problem],
            }
        })?;
        Ok(config)
    }

    /// Parses and validates config text; `path` only names the file in errors.
    pub fn from_toml(text: &str, path: &Path, origin: &Origin) -> Result<Config, ConfigError> {
        let raw = parse_raw(text).map_err(|problem| ConfigError::Syntax {
            path: path.to_path_buf(),
            problem,
        })?;
        validate(raw, origin).map_err(|problems| ConfigError::Invalid {
            path: path.to_path_buf(),
            problems,
        })
    }
}

/// Parses the TOML into the raw shape; a wrong type or unknown key is located by line/key.
pub fn parse_raw(text: &str) -> Result<RawConfig, SyntaxProblem> {
    toml::from_str(text).map_err(|err: toml::de::Error| {
        let line = err
            .span()
            .map(|span| text[..span.start.min(text.len())].matches('\n').count() + 1)
            .unwrap_or(1);
        SyntaxProblem {
            line,
            key: key_at_line(text, line),
            // Some messages span lines ("invalid string\nexpected `\"`"); keep one line.
            message: err.message().trim().replace('\n', "; "),
        }
    })
}

/// `[section] key` for a `key = value` line, from the nearest table header above it.
fn key_at_line(text: &str, line: usize) -> Option<String> {
    let lines: Vec<&str> = text.lines().collect();
    let this = lines.get(line.checked_sub(1)?)?;
    let (key, _) = this.split_once('=')?;
    let key = key.trim();
    if key.is_empty() || key.starts_with('[') || key.starts_with('#') {
        return None;
    }
    let section = lines[..line - 1]
        .iter()
        .rev()
        .map(|l| l.trim())
        .find(|l| l.starts_with('[') && !l.starts_with("[["))
        .and_then(|l| l.strip_prefix('[')?.split_once(']'))
        .map(|(name, _)| name.trim().to_string());
    Some(match section {
        Some(section) => format!("[{section}] {key}"),
        None => key.to_string(),
    })
}
