//! Minimal HTTP/1.1 client for the replication stream, over plain TCP or TLS
//! ([`super::transport`]; `https://`, RFC 9110 §4.2.2).
//!
//! Written by hand rather than with an HTTP client crate because the stream is endless and
//! must detect a silently dead connection: each read has a timeout (`set_read_timeout`, which
//! also bounds the reads beneath TLS), which blocking clients only offer as a whole-request
//! timeout.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::time::Duration;

use super::transport::{self, TlsFailure, Transport};
use super::upstream::Upstream;

/// An open response body.
pub struct Body {
    inner: BufReader<Transport>,
    chunked: bool,
    /// Bytes left in the current chunk (chunked) or in the body (Content-Length).
    remaining: Option<u64>,
    done: bool,
}

/// Errors opening the stream: transport problems or a non-200 answer.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("connecting to the control plane: {0}")]
    Io(io::Error),
    /// The handshake failed or the server sent a TLS alert (e.g. an untrusted certificate).
    #[error("connecting to the control plane: {0}")]
    Tls(TlsFailure),
    #[error("an https:// control plane needs a TLS client configuration (control_plane.ca_file)")]
    NoTlsConfig,
    #[error("control plane answered {status}: {body}")]
    Status { status: u16, body: String },
    #[error("malformed HTTP response from the control plane")]
    Malformed,
}

impl From<io::Error> for OpenError {
    /// TLS errors surface as I/O errors from rustls' stream; they get their own variant.
    fn from(e: io::Error) -> Self {
        match transport::tls_error(&e) {
            Some(t) => Self::Tls(TlsFailure(t.clone())),
            None => Self::Io(e),
        }
    }
}

/// Sends `GET {base}{path_and_query}` and returns the body once a 200 arrived.
pub fn get(
    upstream: &Upstream,
    path_and_query: &str,
    read_timeout: Duration,
) -> Result<Body, OpenError> {
    let mut resp = request(
        upstream,
        ("GET", path_and_query),
        &[("Accept", "application/x-sigil-replication")],
        &[],
        read_timeout,
    )?;
    if resp.status != 200 {
        let mut text = Vec::new();
        let _ = (&mut resp.body).take(4096).read_to_end(&mut text);
        return Err(OpenError::Status {
            status: resp.status,
            body: String::from_utf8_lossy(&text).trim().to_string(),
        });
    }
    Ok(resp.body)
}

/// A response: its status, header fields (names lowercased) and open body.
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Body,
}

impl Response {
    /// The first header field named `name` (lowercase).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Sends `{method} {base}{path_and_query}` with the replication token, `headers` and `body`
/// (with its `Content-Length` when not empty) and returns the response, whatever its status.
pub fn request(
    upstream: &Upstream,
    (method, path_and_query): (&str, &str),
    headers: &[(&str, &str)],
    body: &[u8],
    read_timeout: Duration,
) -> Result<Response, OpenError> {
    let url = &upstream.url;
    let mut stream = transport::connect(url, upstream.tls.as_ref(), read_timeout)?;
    let mut request = format!(
        "{method} {}{} HTTP/1.1\r\nHost: {}:{}\r\nAuthorization: Bearer {}\r\nUser-Agent: sigil-dp/{}\r\n",
        url.base_path, path_and_query, url.host, url.port, upstream.token, env!("CARGO_PKG_VERSION")
    )
    .into_bytes();
    for (name, value) in headers {
        request.extend_from_slice(format!("{name}: {value}\r\n").as_bytes());
    }
    if !body.is_empty() || method != "GET" {
        request.extend_from_slice(format!("Content-Length: {}\r\n", body.len()).as_bytes());
    }
    request.extend_from_slice(b"\r\n");
    request.extend_from_slice(body);
    // One write: over TLS, as few records as the request needs.
    stream.write_all(&request)?;
    stream.flush()?;
    let mut inner = BufReader::with_capacity(256 * 1024, stream);
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let n = inner.read_until(b'\n', &mut head)?;
        if n == 0 || head.len() > 64 * 1024 {
            return Err(OpenError::Malformed);
        }
    }
    let mut fields = [httparse::EMPTY_HEADER; 32];
    let mut resp = httparse::Response::new(&mut fields);
    if !matches!(resp.parse(&head), Ok(httparse::Status::Complete(_))) {
        return Err(OpenError::Malformed);
    }
    let status = resp.code.unwrap_or(0);
    let headers: Vec<(String, String)> = resp
        .headers
        .iter()
        .map(|h| {
            (
                h.name.to_ascii_lowercase(),
                String::from_utf8_lossy(h.value).trim().to_string(),
            )
        })
        .collect();
    let find = |name: &str| headers.iter().find(|(n, _)| n == name).map(|(_, v)| v);
    let chunked =
        find("transfer-encoding").is_some_and(|v| v.to_ascii_lowercase().contains("chunked"));
    let length = find("content-length").and_then(|v| v.parse::<u64>().ok());
    let body = Body {
        inner,
        chunked,
        remaining: if chunked { Some(0) } else { length },
        done: false,
    };
    Ok(Response {
        status,
        headers,
        body,
    })
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
mod tests;
