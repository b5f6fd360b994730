//! Refusing requests a web browser could be tricked into sending (one home for that rule).
//!
//! A page on any site can make the browser send a "simple" request to `127.0.0.1`: a POST
//! with `Content-Type: text/plain` needs no CORS preflight, and DNS rebinding lets a foreign
//! name resolve to loopback. Against a tokenless loopback API that would arm sales. So:
//!
//! - **Host** must be a loopback name or address (`localhost`, `127.0.0.1`, `[::1]`, any
//!   port) or the API's own listen address: a rebound foreign name is refused. A request
//!   without Host is no browser's and passes; a unix socket has no Host to check.
//! - **Origin**, when a write (POST, DELETE) carries one, must be the API's own origin
//!   (`http://` + the Host it was sent to): a cross-origin write is refused.
//! - **Content-Type** of a write with a body must be `application/json`, which a browser
//!   cannot send cross-origin without a preflight the API never grants.

use std::net::{IpAddr, SocketAddr};

use axum::http::{header, HeaderMap, Method, StatusCode};

use super::listen::ListenAddr;

/// Why a request was refused: its status (403 or 415) and a message for `{"error": ...}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub status: StatusCode,
    pub message: String,
}

/// Checks a request's Host (every request, whatever its route).
pub fn check_host(listen: &ListenAddr, headers: &HeaderMap) -> Result<(), Refusal> {
    let host = headers.get(header::HOST).map(|h| h.to_str().unwrap_or(""));
    if let (ListenAddr::Tcp(own), Some(host)) = (listen, host) {
        if !host_allowed(host, own) {
            return Err(forbidden(format!(
                "Host {:?} is not this terminal's: the register API answers only to localhost, 127.0.0.1, [::1] or {own} (a foreign name pointing here is a DNS rebinding attempt)",
                shown(host)
            )));
        }
    }
    Ok(())
}

/// Checks a routed request's Origin and Content-Type (writes only).
pub fn check_write(method: &Method, headers: &HeaderMap) -> Result<(), Refusal> {
    let host = headers.get(header::HOST).map(|h| h.to_str().unwrap_or(""));
    let write = method == Method::POST || method == Method::DELETE;
    if !write {
        return Ok(());
    }
    if let Some(origin) = headers.get(header::ORIGIN) {
        let origin = origin.to_str().unwrap_or("");
        let own = host.map(|h| format!("http://{h}"));
        if own.as_deref() != Some(origin) {
            return Err(forbidden(format!(
                "cross-origin write refused: Origin {:?} is not this API's own; the register API is not for web pages on other sites",
                shown(origin)
            )));
        }
    }
    if has_body(method, headers) && !is_json(headers) {
        let sent = headers
            .get(header::CONTENT_TYPE)
            .map(|v| shown(v.to_str().unwrap_or("?")))
            .unwrap_or_else(|| "none".to_string());
        return Err(Refusal {
            status: StatusCode::UNSUPPORTED_MEDIA_TYPE,
            message: format!(
                "a write's body must be sent with \"Content-Type: application/json\" (sent: {sent:?})"
            ),
        });
    }
    Ok(())
}

fn forbidden(message: String) -> Refusal {
    Refusal {
        status: StatusCode::FORBIDDEN,
        message,
    }
}

/// Header values are the client's: what comes back is bounded.
fn shown(raw: &str) -> String {
    raw.chars().take(64).collect()
}

/// A POST always carries a body here; another write does when it says so.
fn has_body(method: &Method, headers: &HeaderMap) -> bool {
    if method == Method::POST || headers.contains_key(header::TRANSFER_ENCODING) {
        return true;
    }
    headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim() != "0")
}

fn is_json(headers: &HeaderMap) -> bool {
    let Some(value) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let essence = value.split(';').next().unwrap_or("").trim();
    essence.eq_ignore_ascii_case("application/json")
}

/// `host` is `name[:port]` or `[v6][:port]`.
fn host_allowed(host: &str, own: &SocketAddr) -> bool {
    let name = match host.strip_prefix('[') {
        Some(rest) => match rest.split_once(']') {
            Some((v6, after)) if after.is_empty() || after.starts_with(':') => v6,
            _ => return false,
        },
        None => host.split(':').next().unwrap_or(""),
    };
    if name.eq_ignore_ascii_case("localhost") {
        return true;
    }
    match name.parse::<IpAddr>() {
        Ok(ip) => ip.is_loopback() || ip == own.ip(),
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(header::HeaderName, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(name.clone(), HeaderValue::from_static(value));
        }
        map
    }

    fn tcp() -> ListenAddr {
        "127.0.0.1:8470".parse().unwrap()
    }

    /// Both checks, in the order the server runs them.
    fn check(listen: &ListenAddr, method: &Method, headers: &HeaderMap) -> Result<(), Refusal> {
        check_host(listen, headers)?;
        check_write(method, headers)
    }

    #[test]
    fn loopback_hosts_and_the_own_address_pass_foreign_names_do_not() {
        let lan: ListenAddr = "192.168.1.5:8470".parse().unwrap();
        for (listen, host) in [
            (tcp(), "localhost"),
            (tcp(), "LOCALHOST:8470"),
            (tcp(), "127.0.0.1:8470"),
            (tcp(), "127.0.0.2"),
            (tcp(), "[::1]:9"),
            (lan.clone(), "192.168.1.5:8470"),
        ] {
            let h = headers(&[(header::HOST, host)]);
            assert_eq!(check(&listen, &Method::GET, &h), Ok(()), "{host}");
        }
        for (listen, host) in [
            (tcp(), "evil.example"),
            (tcp(), "evil.example:8470"),
            (tcp(), "localhost.evil.example"),
            (tcp(), "[::1"),
            (tcp(), "192.168.1.5:8470"),
            (lan, "10.0.0.1"),
        ] {
            let h = headers(&[(header::HOST, host)]);
            let refusal = check(&listen, &Method::GET, &h).unwrap_err();
            assert_eq!(refusal.status, StatusCode::FORBIDDEN, "{host}");
        }
        // A unix socket has no Host rule.
        let unix: ListenAddr = "unix:/run/scanpay/register.sock".parse().unwrap();
        let h = headers(&[(header::HOST, "evil.example")]);
        assert_eq!(check(&unix, &Method::GET, &h), Ok(()));
    }

    #[test]
    fn a_cross_origin_write_is_refused_a_same_origin_one_or_a_read_is_not() {
        let json = (header::CONTENT_TYPE, "application/json");
        let foreign = headers(&[
            (header::HOST, "127.0.0.1:8470"),
            (header::ORIGIN, "http://evil.example"),
            json.clone(),
        ]);
        for method in [Method::POST, Method::DELETE] {
            assert_eq!(
                check(&tcp(), &method, &foreign).unwrap_err().status,
                StatusCode::FORBIDDEN
            );
        }
        assert_eq!(check(&tcp(), &Method::GET, &foreign), Ok(()));
        let own = headers(&[
            (header::HOST, "127.0.0.1:8470"),
            (header::ORIGIN, "http://127.0.0.1:8470"),
            json,
        ]);
        assert_eq!(check(&tcp(), &Method::POST, &own), Ok(()));
    }

    #[test]
    fn a_write_body_must_be_json() {
        let host = (header::HOST, "127.0.0.1:8470");
        for (content_type, ok) in [
            (Some("application/json"), true),
            (Some("Application/JSON; charset=utf-8"), true),
            (Some("text/plain"), false),
            (Some("application/x-www-form-urlencoded"), false),
            (None, false),
        ] {
            let mut h = headers(std::slice::from_ref(&host));
            if let Some(ct) = content_type {
                h.insert(header::CONTENT_TYPE, HeaderValue::from_static(ct));
            }
            let result = check(&tcp(), &Method::POST, &h);
            if ok {
                assert_eq!(result, Ok(()), "{content_type:?}");
            } else {
                assert_eq!(
                    result.unwrap_err().status,
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    "{content_type:?}"
                );
            }
        }
        // A DELETE has no body and needs no Content-Type.
        assert_eq!(check(&tcp(), &Method::DELETE, &headers(&[host])), Ok(()));
    }
}
