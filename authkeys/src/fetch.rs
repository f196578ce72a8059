//! One GET to a data plane within a deadline: blocking `TcpStream` (plain or rustls), HTTP/1.1
//! with `Connection: close`, the whole answer read (bounded). Hand-written because the helper
//! is started once per login attempt: a few system calls and no runtime keep its start-up and
//! answer within a few milliseconds.

use std::io::{self, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::{ClientConfig, ClientConnection, StreamOwned};
use rustls_pki_types::ServerName;

use crate::config::Url;

#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("{0}")]
    Io(#[from] io::Error),
    #[error("TLS: {0}")]
    Tls(rustls::Error),
    #[error("deadline reached")]
    Deadline,
    #[error("malformed HTTP response")]
    Malformed,
    #[error("answer larger than {0} bytes")]
    TooLarge(usize),
    #[error("answered {0}")]
    Status(u16),
}

/// A 200 answer's body.
pub type Body = Vec<u8>;

fn remaining(deadline: Instant) -> Result<Duration, FetchError> {
    let left = deadline.saturating_duration_since(Instant::now());
    if left.is_zero() {
        Err(FetchError::Deadline)
    } else {
        Ok(left)
    }
}

/// `GET {url}{path_and_query}`; the body of a 200, at most `limit` bytes.
pub fn get(
    url: &Url,
    path_and_query: &str,
    tls: Option<&Arc<ClientConfig>>,
    deadline: Instant,
    limit: usize,
) -> Result<Body, FetchError> {
    let addr = (url.host.as_str(), url.port)
        .to_socket_addrs()?
        .next()
        .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "host did not resolve"))?;
    let tcp = TcpStream::connect_timeout(&addr, remaining(deadline)?)?;
    tcp.set_nodelay(true)?;
    tcp.set_read_timeout(Some(remaining(deadline)?))?;
    tcp.set_write_timeout(Some(remaining(deadline)?))?;
    let host_header = if url.host.contains(':') {
        format!("[{}]:{}", url.host, url.port)
    } else {
        format!("{}:{}", url.host, url.port)
    };
    let request = format!(
        "GET {}{} HTTP/1.1\r\nHost: {host_header}\r\nUser-Agent: sigil-authkeys/{}\r\nConnection: close\r\n\r\n",
        url.base_path,
        path_and_query,
        env!("CARGO_PKG_VERSION")
    );
    let raw = match (url.https, tls) {
        (false, _) => exchange(tcp, request.as_bytes(), deadline, limit)?,
        (true, None) => {
            return Err(FetchError::Io(io::Error::other(
                "https URL without ca_file",
            )))
        }
        (true, Some(config)) => {
            let name = ServerName::try_from(url.host.clone())
                .map_err(|_| io::Error::other("invalid server name"))?;
            let conn = ClientConnection::new(config.clone(), name).map_err(FetchError::Tls)?;
            let stream = StreamOwned::new(conn, tcp);
            exchange(stream, request.as_bytes(), deadline, limit)?
        }
    };
    parse(&raw)
}

fn exchange<S: Read + Write>(
    mut s: S,
    request: &[u8],
    deadline: Instant,
    limit: usize,
) -> Result<Vec<u8>, FetchError> {
    s.write_all(request).map_err(tls_or_io)?;
    s.flush().map_err(tls_or_io)?;
    let mut out = Vec::with_capacity(8192);
    let mut buf = [0u8; 16384];
    loop {
        remaining(deadline)?;
        match s.read(&mut buf) {
            Ok(0) => return Ok(out),
            Ok(n) => {
                out.extend_from_slice(&buf[..n]);
                if out.len() > limit + 16384 {
                    return Err(FetchError::TooLarge(limit));
                }
            }
            // A TLS peer that closes without close_notify after a complete answer.
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof && !out.is_empty() => {
                return Ok(out)
            }
            Err(e) => return Err(tls_or_io(e)),
        }
    }
}

fn tls_or_io(e: io::Error) -> FetchError {
    match e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) {
        Some(t) => FetchError::Tls(t.clone()),
        None => FetchError::Io(e),
    }
}

/// The body of a complete 200 response in `raw` (Content-Length or read to the end). Public
/// for the fuzz targets (`fuzzing/`) only.
#[doc(hidden)]
pub fn parse(raw: &[u8]) -> Result<Body, FetchError> {
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut resp = httparse::Response::new(&mut headers);
    let head = match resp.parse(raw) {
        Ok(httparse::Status::Complete(n)) => n,
        _ => return Err(FetchError::Malformed),
    };
    let status = resp.code.unwrap_or(0);
    if status != 200 {
        return Err(FetchError::Status(status));
    }
    let body = &raw[head..];
    let length = resp
        .headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case("content-length"))
        .and_then(|h| {
            std::str::from_utf8(h.value)
                .ok()?
                .trim()
                .parse::<usize>()
                .ok()
        });
    if resp
        .headers
        .iter()
        .any(|h| h.name.eq_ignore_ascii_case("transfer-encoding"))
    {
        return Err(FetchError::Malformed);
    }
    match length {
        Some(n) if body.len() >= n => Ok(body[..n].to_vec()),
        Some(_) => Err(FetchError::Malformed),
        None => Ok(body.to_vec()),
    }
}

/// The TLS client configuration for `ca_file` (its CAs only).
pub fn tls_config(ca_file: &std::path::Path) -> Result<Arc<ClientConfig>, String> {
    let certs = sigil_configfile::certs("ca_file", ca_file).map_err(|e| e.to_string())?;
    let mut roots = rustls::RootCertStore::empty();
    for c in certs {
        roots
            .add(c)
            .map_err(|e| format!("ca_file {}: {e}", ca_file.display()))?;
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn responses() {
        assert_eq!(
            parse(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabcdef").unwrap(),
            b"abc"
        );
        assert_eq!(parse(b"HTTP/1.1 200 OK\r\n\r\nxyz").unwrap(), b"xyz");
        assert!(matches!(
            parse(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"),
            Err(FetchError::Status(404))
        ));
        assert!(matches!(
            parse(b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nab"),
            Err(FetchError::Malformed)
        ));
        assert!(matches!(parse(b"garbage"), Err(FetchError::Malformed)));
    }
}
