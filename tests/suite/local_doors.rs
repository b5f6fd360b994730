//! The register API's local doors, over real sockets: slow clients cannot hold it (header-read
//! timeout, connection cap) nor, in the real daemon with few descriptors, starve its journal;
//! and a web page cannot make a browser arm a sale on it (Host, Origin, Content-Type).

use crate::e2e_support;

use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use e2e_support::{code, signal, wait_exit, Rig, RigOptions, SCANPAY};
use scanpay::engine::SaleState;
use scanpay::http_conn::Limits;
use scanpay::journal::MemoryJournal;
use scanpay::protocol::Fen;
use scanpay::register::{serve, ListenAddr, SaleBoard, ServerHandle};

/// A tokenless loopback API. Nothing answers the commands it sends (the receiver is kept
/// only so the board counts as running): a sale that got through would show in its list.
async fn open_api() -> (ServerHandle, std::net::SocketAddr, impl Sized) {
    let (board, commands) = SaleBoard::new(Arc::new(MemoryJournal::new()));
    let server = serve("127.0.0.1:0".parse().unwrap(), None, board)
        .await
        .unwrap();
    let ListenAddr::Tcp(addr) = *server.addr() else {
        unreachable!("a TCP address was asked for")
    };
    (server, addr, commands)
}

/// Sends `request` on a fresh connection and reads until the server closes it.
async fn exchange(addr: std::net::SocketAddr, request: &str) -> String {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut answer))
        .await
        .expect("an answer")
        .expect("read the answer");
    String::from_utf8_lossy(&answer).into_owned()
}

fn status_of(answer: &str) -> u16 {
    answer
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP answer: {answer:?}"))
}

fn body_of(answer: &str) -> serde_json::Value {
    let body = answer.split("\r\n\r\n").nth(1).unwrap_or("");
    serde_json::from_str(body).unwrap_or_else(|_| panic!("not a JSON body: {answer:?}"))
}

#[tokio::test]
async fn forty_connections_sending_headers_a_byte_a_second_do_not_hold_the_api() {
    let (server, addr, _commands) = open_api().await;
    let limits = Limits::DOORS;
    let started = Instant::now();
    let mut slow = Vec::new();
    for _ in 0..40 {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        stream.write_all(b"G").await.unwrap();
        slow.push(stream);
    }
    // One byte a second on each, until the server closes them all.
    let trickle = slow.into_iter().map(|mut stream| {
        tokio::spawn(async move {
            let mut buf = [0u8; 64];
            for byte in b"ET /v1/status HTTP/1.1\r\nHost: localhost\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaa".iter().cycle() {
                tokio::select! {
                    read = stream.read(&mut buf) => match read {
                        Ok(0) | Err(_) => return Instant::now(),
                        Ok(n) => panic!("a slow client got an answer: {:?}", String::from_utf8_lossy(&buf[..n])),
                    },
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {
                        if stream.write_all(&[*byte]).await.is_err() {
                            return Instant::now();
                        }
                    }
                }
            }
            unreachable!("the byte source never ends")
        })
    });
    let mut closed_at = Vec::new();
    for task in trickle.collect::<Vec<_>>() {
        closed_at.push(task.await.unwrap());
    }
    closed_at.sort();
    // The 8 over the cap are closed at once; the rest at the header-read timeout.
    let over_the_cap = 40 - limits.max_connections;
    for at in &closed_at[..over_the_cap] {
        assert!(
            at.duration_since(started) < Duration::from_secs(2),
            "closed at once"
        );
    }
    for at in &closed_at[over_the_cap..] {
        let after = at.duration_since(started);
        assert!(
            after >= limits.header_read - Duration::from_secs(1),
            "{after:?}"
        );
        assert!(
            after < limits.header_read + Duration::from_secs(5),
            "{after:?}"
        );
    }
    // And the API answers again.
    let answer = exchange(
        addr,
        "GET /v1/status HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(status_of(&answer), 200, "{answer}");
    server.shutdown().await.unwrap();
}

fn post_sale(host: &str, origin: Option<&str>, content_type: &str) -> String {
    let body = r#"{"amount_fen": 1}"#;
    let origin = origin
        .map(|o| format!("Origin: {o}\r\n"))
        .unwrap_or_default();
    format!(
        "POST /v1/sales HTTP/1.1\r\nHost: {host}\r\n{origin}Content-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
}

#[tokio::test]
async fn a_browser_borne_sale_is_refused_and_nothing_is_armed() {
    let (server, addr, _commands) = open_api().await;
    let own = format!("{addr}");
    // What a page on evil.example makes a browser send after rebinding its name to 127.0.0.1.
    let attack = post_sale(
        "evil.example:8750",
        Some("http://evil.example:8750"),
        "text/plain",
    );
    for (request, status, says) in [
        (attack, 403, "Host"),
        (post_sale(&own, Some("http://evil.example"), "application/json"), 403, "Origin"),
        (post_sale(&own, Some("null"), "application/json"), 403, "Origin"),
        (post_sale(&own, None, "text/plain"), 415, "application/json"),
        (post_sale("localhost", None, "application/x-www-form-urlencoded"), 415, "application/json"),
        (
            "GET /v1/sales HTTP/1.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n".to_string(),
            403,
            "Host",
        ),
        (
            format!("DELETE /v1/sales/X HTTP/1.1\r\nHost: {own}\r\nOrigin: http://evil.example\r\nConnection: close\r\n\r\n"),
            403,
            "Origin",
        ),
    ] {
        let answer = exchange(addr, &request).await;
        assert_eq!(status_of(&answer), status, "{request}\n{answer}");
        let error = body_of(&answer)["error"].as_str().unwrap().to_string();
        assert!(error.contains(says), "{error}");
    }
    let list = exchange(
        addr,
        "GET /v1/sales HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(status_of(&list), 200, "{list}");
    assert_eq!(
        body_of(&list)["sales"],
        serde_json::json!([]),
        "nothing was armed"
    );
    // The API's own origin and a loopback name are fine: the request reaches the handler
    // (which here finds the input wrong, so no sale is armed by this test either).
    let wrong_amount = post_sale(&own, Some(&format!("http://{own}")), "application/json")
        .replace("\"amount_fen\": 1", "\"amount_fen\": 0");
    let answer = exchange(addr, &wrong_amount).await;
    assert_eq!(status_of(&answer), 400, "{answer}");
    server.shutdown().await.unwrap();
}

/// Descriptors for the daemon in the test below: what it needs for itself plus the full
/// connection cap, and far fewer than an unbounded flood of clients would take.
const LOW_NOFILE: libc::rlim_t = 128;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_few_descriptors_a_flood_of_idle_clients_leaves_the_journal_room_to_write() {
    let mut rig = Rig::start(RigOptions::default()).await;
    // The rig's daemon has the test's descriptor limit; restart it with a low one.
    rig.terminate().await;
    let config = rig.config_path.display().to_string();
    let log = rig.dir.path().join("low-nofile.log");
    let mut command = tokio::process::Command::new(SCANPAY);
    command
        .args(["daemon", "--config", &config])
        .env("RUST_LOG", "info")
        .env_remove("NOTIFY_SOCKET")
        .env_remove("WATCHDOG_USEC")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .kill_on_drop(true);
    // SAFETY: setrlimit is async-signal-safe; nothing else runs between fork and exec.
    unsafe {
        command.pre_exec(|| {
            let limit = libc::rlimit {
                rlim_cur: LOW_NOFILE,
                rlim_max: LOW_NOFILE,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) == 0 {
                Ok(())
            } else {
                Err(std::io::Error::last_os_error())
            }
        });
    }
    let mut daemon = command
        .spawn()
        .expect("start the daemon with few descriptors");
    rig.wait_status("the low-descriptor daemon to be ready", |s| s.scanner.ok)
        .await;

    // A sale is armed; then twice the descriptor limit in clients that connect and send
    // nothing. The scan comes while they hold every slot the API has.
    let sale = rig.arm(Fen(1)).await;
    let socket = rig.dir.path().join("register.sock");
    let mut idle = Vec::new();
    for _ in 0..2 * LOW_NOFILE {
        idle.push(tokio::net::UnixStream::connect(&socket).await.unwrap());
    }
    rig.scan(&code(1, 1, 0));
    // Every idle client is closed: over the cap at once, the rest at the header-read timeout.
    for mut client in idle {
        let mut buf = [0u8; 16];
        let read = tokio::time::timeout(Limits::DOORS.header_read * 2, client.read(&mut buf))
            .await
            .expect("an idle client is closed by the header-read timeout");
        assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
    }
    // The sale was paid and journaled meanwhile, and the API answers again.
    let (sale, seen) = rig.finish(&sale).await;
    assert_eq!(sale.state, SaleState::Paid, "states seen: {seen:?}");
    signal(daemon.id().expect("running"), "TERM");
    let exit = wait_exit(&mut daemon, "the low-descriptor daemon to stop").await;
    let logged = std::fs::read_to_string(&log).unwrap();
    assert_eq!(exit.code(), Some(0), "{exit}\n{logged}");
    assert!(
        !logged.to_lowercase().contains("too many open files") || !logged.contains("journal"),
        "the journal ran out of descriptors:\n{logged}"
    );
}
