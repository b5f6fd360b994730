//! Where the register API listens: `127.0.0.1:PORT` (TCP) or `unix:/path` (a unix socket),
//! as written in the config's `[register] listen`, and binding it.
//!
//! A unix socket left behind by a crash is removed before binding, but only when it really is
//! a stale socket (nothing answers on it); a live one or a regular file at that path is an
//! error, never deleted. The socket is made mode 0660 so the register's group can connect.

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use tokio::net::{TcpListener, UnixListener, UnixStream};

/// The address the register API listens on, or the client dials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListenAddr {
    Tcp(SocketAddr),
    Unix(PathBuf),
}

/// A `listen` value that is neither form.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("register listen address {raw:?} is not valid: {reason}; write \"127.0.0.1:8470\" or \"unix:/run/scanpay/register.sock\"")]
pub struct ListenAddrError {
    pub raw: String,
    pub reason: &'static str,
}

impl FromStr for ListenAddr {
    type Err = ListenAddrError;

    fn from_str(raw: &str) -> Result<ListenAddr, ListenAddrError> {
        let err = |reason| ListenAddrError {
            raw: raw.to_string(),
            reason,
        };
        if let Some(path) = raw.strip_prefix("unix:") {
            if path.is_empty() {
                return Err(err("the socket path is empty"));
            }
            if !path.starts_with('/') {
                return Err(err("the socket path must be absolute"));
            }
            return Ok(ListenAddr::Unix(PathBuf::from(path)));
        }
        raw.parse::<SocketAddr>()
            .map(ListenAddr::Tcp)
            .map_err(|_| err("expected IP:PORT or unix:/absolute/path"))
    }
}

impl fmt::Display for ListenAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ListenAddr::Tcp(addr) => write!(f, "{addr}"),
            ListenAddr::Unix(path) => write!(f, "unix:{}", path.display()),
        }
    }
}

/// A bound listening socket.
pub(crate) enum BoundListener {
    Tcp(TcpListener),
    Unix(UnixListener),
}

/// Why the register API could not listen.
#[derive(Debug, thiserror::Error)]
pub enum BindError {
    #[error("could not listen for the register on {addr}: {source}; is another scanpay (or another program) using it?")]
    Io {
        addr: ListenAddr,
        #[source]
        source: io::Error,
    },
    #[error("register socket {} is in use by a running process; stop it, or choose another [register] listen path", .path.display())]
    SocketInUse { path: PathBuf },
    #[error("register socket path {} exists and is not a socket; refusing to delete it: remove it yourself or choose another path", .path.display())]
    NotASocket { path: PathBuf },
    #[error("the register API would listen on {addr}, which is not a loopback address, without a token; set [register] token or listen on 127.0.0.1 / a unix socket")]
    OpenWithoutToken { addr: SocketAddr },
}

/// Binds the address. A TCP address beyond loopback is refused unless a token protects it:
/// anyone on the network could otherwise arm sales.
pub(crate) async fn bind(addr: &ListenAddr, has_token: bool) -> Result<BoundListener, BindError> {
    let io_err = |source| BindError::Io {
        addr: addr.clone(),
        source,
    };
    match addr {
        ListenAddr::Tcp(socket) => {
            if !socket.ip().is_loopback() && !has_token {
                return Err(BindError::OpenWithoutToken { addr: *socket });
            }
            TcpListener::bind(socket)
                .await
                .map(BoundListener::Tcp)
                .map_err(io_err)
        }
        ListenAddr::Unix(path) => {
            remove_stale_socket(path).await?;
            let listener = UnixListener::bind(path).map_err(io_err)?;
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o660))
                .map_err(io_err)?;
            Ok(BoundListener::Unix(listener))
        }
    }
}

async fn remove_stale_socket(path: &Path) -> Result<(), BindError> {
    let metadata = match std::fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(source) => {
            return Err(BindError::Io {
                addr: ListenAddr::Unix(path.to_path_buf()),
                source,
            })
        }
    };
    if !metadata.file_type().is_socket() {
        return Err(BindError::NotASocket {
            path: path.to_path_buf(),
        });
    }
    if UnixStream::connect(path).await.is_ok() {
        return Err(BindError::SocketInUse {
            path: path.to_path_buf(),
        });
    }
    std::fs::remove_file(path).map_err(|source| BindError::Io {
        addr: ListenAddr::Unix(path.to_path_buf()),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_both_forms_and_prints_them_back() {
        for text in [
            "127.0.0.1:8470",
            "[::1]:9000",
            "unix:/run/scanpay/register.sock",
        ] {
            let addr: ListenAddr = text.parse().unwrap();
            assert_eq!(addr.to_string(), text);
        }
        assert!(matches!("unix:/a".parse(), Ok(ListenAddr::Unix(_))));
    }

    #[test]
    fn refuses_what_is_neither() {
        for (text, reason) in [
            ("unix:", "the socket path is empty"),
            ("unix:relative.sock", "the socket path must be absolute"),
            ("localhost:80", "expected IP:PORT or unix:/absolute/path"),
            ("8470", "expected IP:PORT or unix:/absolute/path"),
        ] {
            assert_eq!(text.parse::<ListenAddr>().unwrap_err().reason, reason);
        }
    }

    #[tokio::test]
    async fn a_non_loopback_address_needs_a_token() {
        // A documentation address (TEST-NET-1): never bound, so nothing is opened to the network.
        let open: ListenAddr = "192.0.2.1:0".parse().unwrap();
        assert!(matches!(
            bind(&open, false).await,
            Err(BindError::OpenWithoutToken { .. })
        ));
        // With a token it is attempted (and fails here only because the address is not ours).
        assert!(matches!(bind(&open, true).await, Err(BindError::Io { .. })));
    }

    #[tokio::test]
    async fn a_stale_socket_is_replaced_but_a_live_one_or_a_file_is_not() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("register.sock");
        let addr = ListenAddr::Unix(path.clone());

        let live = bind(&addr, false).await.unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o660);
        assert!(matches!(
            bind(&addr, false).await,
            Err(BindError::SocketInUse { .. })
        ));
        drop(live); // the file stays behind, like after a crash
        assert!(path.exists());
        assert!(bind(&addr, false).await.is_ok());

        let file = dir.path().join("not-a-socket");
        std::fs::write(&file, b"keep me").unwrap();
        assert!(matches!(
            bind(&ListenAddr::Unix(file.clone()), false).await,
            Err(BindError::NotASocket { .. })
        ));
        assert_eq!(std::fs::read(&file).unwrap(), b"keep me");
    }
}
