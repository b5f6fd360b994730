//! Reading a secret (the merchant key, the register token) from its own file.
//!
//! The file must not be readable or writable by group or others: the merchant key signs
//! payments and withdrawals, so a key that another local user can read, or replace with one
//! of their own, is refused rather than used. The error
//! names the path, its mode and the command that fixes it, and never the content.

use std::fs;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// A secret read from a file. `Debug` shows where it came from, never what it is.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretFile {
    pub path: PathBuf,
    secret: String,
}

impl SecretFile {
    /// The secret itself, for signing or comparing only.
    pub fn expose(&self) -> &str {
        &self.secret
    }

    /// `<32 bytes from /etc/scanpay/merchant.key>`: safe to print.
    pub fn describe(&self) -> String {
        format!("<{} bytes from {}>", self.secret.len(), self.path.display())
    }
}

impl std::fmt::Debug for SecretFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.describe())
    }
}

/// Why a secret file was not used. The messages name the file, never its content.
#[derive(Debug, thiserror::Error)]
pub enum SecretFileError {
    #[error("cannot read {}: {source}; create it with the secret on one line (install -m 600 ...)", path.display())]
    Unreadable { path: PathBuf, source: io::Error },
    #[error("{} is not a regular file; point the key at a file holding only the secret", path.display())]
    NotAFile { path: PathBuf },
    #[error("{} has mode {mode:04o}, so group or others can read or replace the secret; run `chmod go-rwx {}` (and make it owned by the user scanpay runs as)", path.display(), path.display())]
    TooOpen { path: PathBuf, mode: u32 },
    #[error("{} is empty; put the secret in it on one line", path.display())]
    Empty { path: PathBuf },
    #[error("{} is not UTF-8 text; the secret must be plain text on one line", path.display())]
    NotText { path: PathBuf },
    #[error("{} holds more than one line; put only the secret in it", path.display())]
    SeveralLines { path: PathBuf },
}

/// Reads a secret file, refusing one that group or others can read or write. One trailing newline
/// (`\n` or `\r\n`, as editors and `echo` leave it) is dropped; nothing else is trimmed,
/// because spaces could be part of a key.
pub fn read_secret_file(path: &Path) -> Result<SecretFile, SecretFileError> {
    let meta = fs::metadata(path).map_err(|source| SecretFileError::Unreadable {
        path: path.to_path_buf(),
        source,
    })?;
    if !meta.is_file() {
        return Err(SecretFileError::NotAFile {
            path: path.to_path_buf(),
        });
    }
    let mode = meta.permissions().mode() & 0o7777;
    if mode & 0o066 != 0 {
        return Err(SecretFileError::TooOpen {
            path: path.to_path_buf(),
            mode,
        });
    }
    let bytes = fs::read(path).map_err(|source| SecretFileError::Unreadable {
        path: path.to_path_buf(),
        source,
    })?;
    let text = String::from_utf8(bytes).map_err(|_| SecretFileError::NotText {
        path: path.to_path_buf(),
    })?;
    let secret = text
        .strip_suffix("\r\n")
        .or_else(|| text.strip_suffix('\n'))
        .unwrap_or(&text);
    if secret.is_empty() {
        return Err(SecretFileError::Empty {
            path: path.to_path_buf(),
        });
    }
    if secret.contains(['\n', '\r']) {
        return Err(SecretFileError::SeveralLines {
            path: path.to_path_buf(),
        });
    }
    Ok(SecretFile {
        path: path.to_path_buf(),
        secret: secret.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs::Permissions;

    fn write(dir: &Path, name: &str, content: &[u8], mode: u32) -> PathBuf {
        let path = dir.join(name);
        fs::write(&path, content).unwrap();
        fs::set_permissions(&path, Permissions::from_mode(mode)).unwrap();
        path
    }

    #[test]
    fn reads_a_private_key_and_drops_one_trailing_newline() {
        let dir = tempfile::tempdir().unwrap();
        let lf = write(dir.path(), "lf", b"s3cret key\n", 0o600);
        let crlf = write(dir.path(), "crlf", b"s3cret\r\n", 0o400);
        let bare = write(dir.path(), "bare", b"s3cret", 0o600);
        assert_eq!(read_secret_file(&lf).unwrap().expose(), "s3cret key");
        assert_eq!(read_secret_file(&crlf).unwrap().expose(), "s3cret");
        assert_eq!(read_secret_file(&bare).unwrap().expose(), "s3cret");
    }

    #[test]
    fn refuses_a_key_group_or_others_can_read_or_write_naming_path_mode_and_fix() {
        let dir = tempfile::tempdir().unwrap();
        for mode in [0o640, 0o604, 0o644, 0o602, 0o620, 0o622, 0o660] {
            let path = write(dir.path(), "key", b"s3cret\n", mode);
            let err = read_secret_file(&path).unwrap_err();
            let text = err.to_string();
            assert!(text.contains(&path.display().to_string()), "{text}");
            assert!(text.contains(&format!("{mode:04o}")), "{text}");
            assert!(text.contains("chmod go-rwx"), "{text}");
            assert!(!text.contains("s3cret"), "{text}");
        }
    }

    #[test]
    fn refuses_empty_multiline_binary_missing_and_directory() {
        let dir = tempfile::tempdir().unwrap();
        let empty = write(dir.path(), "empty", b"\n", 0o600);
        let lines = write(dir.path(), "lines", b"a\nb\n", 0o600);
        let binary = write(dir.path(), "bin", &[0xff, 0xfe], 0o600);
        assert!(matches!(
            read_secret_file(&empty),
            Err(SecretFileError::Empty { .. })
        ));
        assert!(matches!(
            read_secret_file(&lines),
            Err(SecretFileError::SeveralLines { .. })
        ));
        assert!(matches!(
            read_secret_file(&binary),
            Err(SecretFileError::NotText { .. })
        ));
        assert!(matches!(
            read_secret_file(&dir.path().join("missing")),
            Err(SecretFileError::Unreadable { .. })
        ));
        assert!(matches!(
            read_secret_file(dir.path()),
            Err(SecretFileError::NotAFile { .. })
        ));
    }

    #[test]
    fn debug_and_describe_show_length_and_path_only() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(dir.path(), "key", b"0123456789abcdef\n", 0o600);
        let secret = read_secret_file(&path).unwrap();
        let expected = format!("<16 bytes from {}>", path.display());
        assert_eq!(secret.describe(), expected);
        assert_eq!(format!("{secret:?}"), expected);
    }
}
