//! Minimal HTTP/1.1 client for the replication stream.
//!
//! Written by hand rather than with an HTTP client crate because the stream is endless and
//! must detect a silently dead connection: each read has a timeout (`set_read_timeout`), which
//! blocking clients only offer as a whole-request timeout. Plain `http://` only for now.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

/// `http://host[:port][/base]` split into parts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BaseUrl {
    pub host: String,
    pub port: u16,
    pub base_path: String,
}

impl BaseUrl {
    pub fn parse(url: &str) -> Result<Self, String> {
        let rest = url.strip_prefix("http://").ok_or_else(|| {
            format!("{url:?}: only http:// control-plane URLs are supported by this build")
        })?;
        let (authority, path) = rest.split_once('/').map_or((rest, ""), |(a, p)| (a, p));
        let (host, port) = match authority.rsplit_once(':') {
            Some((h, p)) if !h.ends_with(']') || h.starts_with('[') => (
                h.to_string(),
                p.parse::<u16>().map_err(|_| format!("{url:?}: bad port"))?,
            ),
            _ => (authority.to_string(), 80),
        };
        if host.is_empty() {
            return Err(format!("{url:?}: missing host"));
        }
        Ok(Self {
            host,
            port,
            base_path: format!("/{}", path.trim_end_matches('/'))
                .trim_end_matches('/')
                .to_string(),
        })
    }
}

/// An open response body.
pub struct Body {
    inner: BufReader<TcpStream>,
    chunked: bool,
    /// Bytes left in the current chunk (chunked) or in the body (Content-Length).
    remaining: Option<u64>,
    done: bool,
}

/// Errors opening the stream: transport problems or a non-200 answer.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("connecting to the control plane: {0}")]
    Io(#[from] io::Error),
    #[error("control plane answered {status}: {body}")]
    Status { status: u16, body: String },
    #[error("malformed HTTP response from the control plane")]
    Malformed,
}

/// Sends `GET {base}{path_and_query}` and returns the body once a 200 arrived.
pub fn get(
    url: &BaseUrl,
    path_and_query: &str,
    token: &str,
    read_timeout: Duration,
) -> Result<Body, OpenError> {
    let addr = (
        url.host.trim_start_matches('[').trim_end_matches(']'),
        url.port,
    )
        .to_socket_addrs()?
        .next()
        .ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::NotFound,
                "control plane host did not resolve",
            )
        })?;
    let stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    stream.set_read_timeout(Some(read_timeout))?;
    stream.set_write_timeout(Some(Duration::from_secs(10)))?;
    stream.set_nodelay(true)?;
    let mut w = &stream;
    write!(
        w,
        "GET {}{} HTTP/1.1\r\nHost: {}:{}\r\nAuthorization: Bearer {}\r\nAccept: application/x-sigil-replication\r\nUser-Agent: sigil-dp/{}\r\n\r\n",
        url.base_path, path_and_query, url.host, url.port, token, env!("CARGO_PKG_VERSION")
    )?;
    let mut inner = BufReader::with_capacity(256 * 1024, stream);
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let n = inner.read_until(b'\n', &mut head)?;
        if n == 0 || head.len() > 64 * 1024 {
            return Err(OpenError::Malformed);
        }
    }
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut resp = httparse::Response::new(&mut headers);
    if !matches!(resp.parse(&head), Ok(httparse::Status::Complete(_))) {
        return Err(OpenError::Malformed);
    }
    let status = resp.code.unwrap_or(0);
    let find = |name: &str| {
        resp.headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| String::from_utf8_lossy(h.value).to_string())
    };
    let chunked =
        find("transfer-encoding").is_some_and(|v| v.to_ascii_lowercase().contains("chunked"));
    let length = find("content-length").and_then(|v| v.trim().parse::<u64>().ok());
    let mut body = Body {
        inner,
        chunked,
        remaining: if chunked { Some(0) } else { length },
        done: false,
    };
    if status != 200 {
        let mut text = Vec::new();
        let _ = (&mut body).take(4096).read_to_end(&mut text);
        return Err(OpenError::Status {
            status,
            body: String::from_utf8_lossy(&text).trim().to_string(),
        });
    }
    Ok(body)
}

impl Body {
    /// Reads the next chunk-size line; returns false at the last chunk.
    fn next_chunk(&mut self) -> io::Result<bool> {
        let mut line = String::new();
        if self.inner.read_line(&mut line)? == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        if line.trim().is_empty() {
            // CRLF after the previous chunk's data.
            line.clear();
            if self.inner.read_line(&mut line)? == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
        }
        let size = line.trim().split(';').next().unwrap_or("");
        let size = u64::from_str_radix(size, 16)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "bad chunk size"))?;
        self.remaining = Some(size);
        Ok(size > 0)
    }
}

impl Read for Body {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.done || buf.is_empty() {
            return Ok(0);
        }
        if self.chunked && self.remaining == Some(0) && !self.next_chunk()? {
            self.done = true;
            return Ok(0);
        }
        let want = match self.remaining {
            Some(r) => buf.len().min(r as usize),
            None => buf.len(),
        };
        if want == 0 {
            self.done = true;
            return Ok(0);
        }
        let n = self.inner.read(&mut buf[..want])?;
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        if let Some(r) = self.remaining.as_mut() {
            *r -= n as u64;
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_base_urls() {
        assert_eq!(
            BaseUrl::parse("http://127.0.0.1:9444").unwrap(),
            BaseUrl {
                host: "127.0.0.1".into(),
                port: 9444,
                base_path: String::new()
            }
        );
        assert_eq!(
            BaseUrl::parse("http://cp.example/sigil/")
                .unwrap()
                .base_path,
            "/sigil"
        );
        assert_eq!(BaseUrl::parse("http://[::1]:9444").unwrap().port, 9444);
        assert!(BaseUrl::parse("https://cp.example").is_err());
        assert!(BaseUrl::parse("http://:80").is_err());
    }

    /// A one-connection server that reads the request and answers `reply`.
    fn serve_once(reply: &'static [u8]) -> (BaseUrl, std::thread::JoinHandle<()>) {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = std::thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            // Read the whole request head first: closing with unread bytes would reset the
            // connection before the client reads the reply (a flaky failure seen in CI).
            let mut req = Vec::new();
            let mut buf = [0u8; 1024];
            while !req.windows(4).any(|w| w == b"\r\n\r\n") {
                match s.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => req.extend_from_slice(&buf[..n]),
                }
            }
            s.write_all(reply).unwrap();
            let _ = s.shutdown(std::net::Shutdown::Write);
        });
        (
            BaseUrl::parse(&format!("http://127.0.0.1:{port}")).unwrap(),
            server,
        )
    }

    #[test]
    fn reads_a_chunked_body() {
        let (url, server) = serve_once(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n");
        let mut body = get(&url, "/x", "t", Duration::from_secs(5)).unwrap();
        let mut s = String::new();
        body.read_to_string(&mut s).unwrap();
        assert_eq!(s, "hello world");
        server.join().unwrap();
    }

    #[test]
    fn non_200_is_an_error_with_the_body() {
        let (url, server) =
            serve_once(b"HTTP/1.1 401 Unauthorized\r\nContent-Length: 12\r\n\r\nbad token!!!");
        match get(&url, "/x", "t", Duration::from_secs(5)) {
            Err(OpenError::Status { status: 401, body }) => assert_eq!(body, "bad token!!!"),
            other => panic!("unexpected {:?}", other.map(|_| ())),
        }
        server.join().unwrap();
    }
}
