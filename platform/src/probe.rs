//! A plain HTTP health check for container health checks (`shop-probe <url>`): the images carry
//! no curl or shell, and Docker's `HEALTHCHECK` runs a command inside the container, so the
//! check is a binary of our own. Kubernetes probes the endpoints itself and does not need it.
//!
//! Deliberately minimal: `http://` only, one `GET` with `Connection: close`, healthy when the
//! status is 2xx. Blocking std I/O, no runtime: it runs for a few milliseconds and exits.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

/// Why a probe failed; printed by `shop-probe` before it exits with status 1.
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    #[error("{url:?} is not an http:// URL with a host")]
    BadUrl { url: String },
    #[error("cannot resolve {authority}: {source}")]
    Resolve {
        authority: String,
        source: std::io::Error,
    },
    #[error("cannot reach {authority}: {source}")]
    Connect {
        authority: String,
        source: std::io::Error,
    },
    #[error("{url} did not answer: {source}")]
    Exchange { url: String, source: std::io::Error },
    #[error("{url} answered something that is not HTTP: {line:?}")]
    NotHttp { url: String, line: String },
    #[error("{url} answered {status}")]
    Unhealthy { url: String, status: u16 },
}

/// Where a probe goes: `authority` (`host:port`) and `path`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub authority: String,
    pub host: String,
    pub path: String,
}

impl Target {
    /// Parses `http://host[:port][/path]`; the port defaults to 80 and the path to `/`.
    ///
    /// # Errors
    /// Anything but `http://` with a non-empty host.
    pub fn parse(url: &str) -> Result<Self, ProbeError> {
        let bad = || ProbeError::BadUrl {
            url: url.to_owned(),
        };
        let rest = url.strip_prefix("http://").ok_or_else(bad)?;
        let (authority, path) = match rest.find('/') {
            Some(slash) => rest.split_at(slash),
            None => (rest, "/"),
        };
        if authority.is_empty() || authority.contains('@') {
            return Err(bad());
        }
        let has_port = match authority.rfind(':') {
            // `[::1]` alone has colons but no port; `[::1]:80` and `host:80` have one.
            Some(colon) => !authority[colon..].contains(']'),
            None => false,
        };
        let authority = if has_port {
            authority.to_owned()
        } else {
            format!("{authority}:80")
        };
        let host = authority
            .rsplit_once(':')
            .map_or(authority.as_str(), |(host, _)| host)
            .to_owned();
        if host.is_empty() {
            return Err(bad());
        }
        Ok(Self {
            authority,
            host,
            path: path.to_owned(),
        })
    }
}

/// Sends `GET url` and returns the status when it is 2xx.
///
/// # Errors
/// A malformed URL, an unreachable or silent server (each step bounded by `timeout`), an
/// answer that is not HTTP, or a status outside 2xx.
pub fn check(url: &str, timeout: Duration) -> Result<u16, ProbeError> {
    let target = Target::parse(url)?;
    let addresses: Vec<_> = target
        .authority
        .to_socket_addrs()
        .map_err(|source| ProbeError::Resolve {
            authority: target.authority.clone(),
            source,
        })?
        .collect();
    let mut last_error = std::io::Error::new(std::io::ErrorKind::NotFound, "no address");
    let mut stream = None;
    for address in addresses {
        match TcpStream::connect_timeout(&address, timeout) {
            Ok(connected) => {
                stream = Some(connected);
                break;
            }
            Err(error) => last_error = error,
        }
    }
    let mut stream = stream.ok_or_else(|| ProbeError::Connect {
        authority: target.authority.clone(),
        source: last_error,
    })?;
    let exchange = |source| ProbeError::Exchange {
        url: url.to_owned(),
        source,
    };
    stream.set_read_timeout(Some(timeout)).map_err(exchange)?;
    stream.set_write_timeout(Some(timeout)).map_err(exchange)?;
    let request = format!(
        "GET {} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nUser-Agent: shop-probe\r\n\r\n",
        target.path, target.host
    );
    stream.write_all(request.as_bytes()).map_err(exchange)?;
    // The status line is all we need; 512 bytes hold it with room to spare.
    let mut head = [0_u8; 512];
    let mut filled = 0;
    while filled < head.len() && !head[..filled].contains(&b'\n') {
        match stream.read(&mut head[filled..]).map_err(exchange)? {
            0 => break,
            read => filled += read,
        }
    }
    let text = String::from_utf8_lossy(&head[..filled]);
    let line = text.lines().next().unwrap_or_default();
    let status = parse_status_line(line).ok_or_else(|| ProbeError::NotHttp {
        url: url.to_owned(),
        line: line.to_owned(),
    })?;
    if (200..300).contains(&status) {
        Ok(status)
    } else {
        Err(ProbeError::Unhealthy {
            url: url.to_owned(),
            status,
        })
    }
}

/// The status of `HTTP/1.x NNN reason`.
fn parse_status_line(line: &str) -> Option<u16> {
    let mut parts = line.split_whitespace();
    let version = parts.next()?;
    if !version.starts_with("HTTP/") {
        return None;
    }
    let status = parts.next()?;
    if status.len() != 3 {
        return None;
    }
    status.parse().ok()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    #[test]
    fn urls_parse_with_default_port_and_path() {
        let target = Target::parse("http://127.0.0.1:8080/ready").unwrap();
        assert_eq!(target.authority, "127.0.0.1:8080");
        assert_eq!(target.host, "127.0.0.1");
        assert_eq!(target.path, "/ready");
        let target = Target::parse("http://shop-ingress").unwrap();
        assert_eq!(target.authority, "shop-ingress:80");
        assert_eq!(target.path, "/");
        let target = Target::parse("http://[::1]/health").unwrap();
        assert_eq!(target.authority, "[::1]:80");
        assert_eq!(target.host, "[::1]");
        for bad in ["https://x/", "x:80/", "http:///path", "http://user@x/", ""] {
            assert!(Target::parse(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn status_lines_parse() {
        assert_eq!(parse_status_line("HTTP/1.1 200 OK"), Some(200));
        assert_eq!(
            parse_status_line("HTTP/1.0 503 Service Unavailable"),
            Some(503)
        );
        assert_eq!(parse_status_line("SSH-2.0-OpenSSH"), None);
        assert_eq!(parse_status_line("HTTP/1.1 20 OK"), None);
    }

    /// A one-request server answering `status_line`; returns its URL and the request it saw.
    fn serve_once(status_line: &'static str) -> (String, std::thread::JoinHandle<String>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/ready", listener.local_addr().unwrap());
        let server = std::thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            let mut request = [0_u8; 1024];
            let read = stream.read(&mut request).unwrap();
            let answer = format!("{status_line}\r\nContent-Length: 0\r\n\r\n");
            stream.write_all(answer.as_bytes()).unwrap();
            String::from_utf8_lossy(&request[..read]).into_owned()
        });
        (url, server)
    }

    #[test]
    fn a_2xx_answer_is_healthy() {
        let (url, server) = serve_once("HTTP/1.1 204 No Content");
        assert_eq!(check(&url, Duration::from_secs(5)).unwrap(), 204);
        let request = server.join().unwrap();
        assert!(request.starts_with("GET /ready HTTP/1.1\r\n"), "{request}");
        assert!(request.contains("\r\nHost: 127.0.0.1\r\n"), "{request}");
    }

    #[test]
    fn a_503_answer_is_unhealthy() {
        let (url, server) = serve_once("HTTP/1.1 503 Service Unavailable");
        let error = check(&url, Duration::from_secs(5)).unwrap_err();
        assert!(
            matches!(error, ProbeError::Unhealthy { status: 503, .. }),
            "{error}"
        );
        server.join().unwrap();
    }

    #[test]
    fn a_closed_port_is_unreachable() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/", listener.local_addr().unwrap());
        drop(listener);
        let error = check(&url, Duration::from_secs(5)).unwrap_err();
        assert!(matches!(error, ProbeError::Connect { .. }), "{error}");
    }
}
