//! A minimal HTTP/1.1 client over a raw socket for requests reqwest cannot make reliably:
//! a large body that the server is expected to refuse (`Expect: 100-continue`, so a server
//! that answers 413 early is not racing against our writes); and [`Conn`], a connection that
//! sends any bytes and reads responses one by one (pipelining, HEAD, interim 100, the close).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// A response: status and body (as much of it as arrived).
#[derive(Debug, Clone)]
pub struct RawHttpResponse {
    pub status: u16,
    pub head: String,
    pub body: Vec<u8>,
}

/// Sends `POST path` with `body` to `127.0.0.1:port` using `Expect: 100-continue`: the body is
/// sent after `100 Continue` (or after 2 s without any answer, as curl does); a final answer
/// that arrives first is returned without sending the body.
pub fn post_expect_continue(
    port: u16,
    path: &str,
    token: &str,
    content_type: &str,
    body: &[u8],
) -> RawHttpResponse {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: {content_type}\r\nContent-Length: {}\r\nExpect: 100-continue\r\n\
         Connection: close\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).expect("write request head");
    let mut buf = Vec::new();
    let mut body_sent = false;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let wait = if body_sent {
            Duration::from_secs(30)
        } else {
            Duration::from_secs(2)
        };
        match read_head(&mut s, &mut buf, wait) {
            Some((100, head_len)) => {
                buf.drain(..head_len);
                if !body_sent {
                    // The server may refuse part-way and close: write errors are expected then.
                    let _ = s.write_all(body);
                    body_sent = true;
                }
            }
            Some((status, head_len)) => {
                let head = String::from_utf8_lossy(&buf[..head_len]).into_owned();
                let mut rest = buf[head_len..].to_vec();
                let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
                let mut chunk = [0u8; 8192];
                while let Ok(n) = s.read(&mut chunk) {
                    if n == 0 {
                        break;
                    }
                    rest.extend_from_slice(&chunk[..n]);
                }
                let body = dechunk(&head, rest);
                return RawHttpResponse { status, head, body };
            }
            None if !body_sent => {
                let _ = s.write_all(body);
                body_sent = true;
            }
            None => panic!(
                "no HTTP response to POST {path}; received so far: {:?}",
                String::from_utf8_lossy(&buf)
            ),
        }
        assert!(
            Instant::now() < deadline,
            "POST {path}: no final response within 30 s"
        );
    }
}

/// Reads until a complete response head is in `buf`: `(status, head length)`, or `None` on
/// timeout or end of stream.
fn read_head(s: &mut TcpStream, buf: &mut Vec<u8>, wait: Duration) -> Option<(u16, usize)> {
    let deadline = Instant::now() + wait;
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]);
            let status = head
                .split_whitespace()
                .nth(1)
                .and_then(|c| c.parse().ok())
                .expect("status code");
            return Some((status, end + 4));
        }
        let left = deadline.checked_duration_since(Instant::now())?;
        s.set_read_timeout(Some(left.max(Duration::from_millis(1))))
            .expect("set_read_timeout");
        let mut chunk = [0u8; 8192];
        match s.read(&mut chunk) {
            Ok(0) => return None,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(_) => return None,
        }
    }
}

/// Undoes chunked transfer encoding if the head announces it (best effort).
fn dechunk(head: &str, raw: Vec<u8>) -> Vec<u8> {
    if !head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        return raw;
    }
    let mut out = Vec::new();
    let mut rest = &raw[..];
    while let Some(eol) = rest.windows(2).position(|w| w == b"\r\n") {
        let size_line = String::from_utf8_lossy(&rest[..eol]);
        let Ok(size) = usize::from_str_radix(size_line.split(';').next().unwrap_or("").trim(), 16)
        else {
            break;
        };
        if size == 0 || rest.len() < eol + 2 + size {
            break;
        }
        out.extend_from_slice(&rest[eol + 2..eol + 2 + size]);
        rest = &rest[(eol + 4 + size).min(rest.len())..];
    }
    out
}

/// One response as [`Conn`] received it: its head (status line and fields) and body.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    /// Status line and header lines, without the blank line.
    pub head: String,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().skip(1).find_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.trim().eq_ignore_ascii_case(name).then(|| v.trim())
        })
    }

    /// The head without the fields that follow the clock (`Date`, `Cache-Control` max-age).
    pub fn timeless_head(&self) -> String {
        let keep = |l: &&str| {
            let l = l.to_ascii_lowercase();
            !l.starts_with("date:") && !l.starts_with("cache-control:")
        };
        self.head
            .lines()
            .filter(keep)
            .collect::<Vec<_>>()
            .join("\r\n")
    }

    /// Everything received for this response.
    pub fn bytes(&self) -> Vec<u8> {
        [self.head.as_bytes(), b"\r\n\r\n", &self.body].concat()
    }
}

/// A raw connection that reads responses one by one (HEAD-aware: a response to HEAD has no
/// body whatever its `Content-Length` says) and to the end of the stream.
pub struct Conn {
    pub s: TcpStream,
    /// Received, not yet returned.
    buf: Vec<u8>,
}

impl Conn {
    pub fn open(port: u16) -> Self {
        let s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        s.set_nodelay(true).unwrap();
        Conn { s, buf: Vec::new() }
    }

    pub fn send(&mut self, data: &[u8]) {
        self.s.write_all(data).expect("write");
    }

    /// Writes, ignoring a server that already closed.
    pub fn try_send(&mut self, data: &[u8]) -> bool {
        self.s.write_all(data).is_ok()
    }

    fn fill(&mut self) -> bool {
        let mut chunk = [0u8; 16384];
        match self.s.read(&mut chunk) {
            Ok(0) | Err(_) => false,
            Ok(n) => {
                self.buf.extend_from_slice(&chunk[..n]);
                true
            }
        }
    }

    /// The next response; `head` for a response to HEAD (no body whatever its length says).
    pub fn response(&mut self, head: bool) -> Reply {
        let end = loop {
            if let Some(p) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break p;
            }
            assert!(
                self.fill(),
                "connection ended; got {:?}",
                String::from_utf8_lossy(&self.buf)
            );
        };
        let text = String::from_utf8_lossy(&self.buf[..end]).into_owned();
        let status: u16 = text
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or_else(|| panic!("bad status line in {text:?}"));
        let mut resp = Reply {
            status,
            head: text,
            body: Vec::new(),
        };
        let len = match resp.header("content-length") {
            _ if head || status < 200 || status == 204 || status == 304 => 0,
            Some(n) => n.parse::<usize>().expect("Content-Length"),
            None => panic!("no Content-Length in {:?}", resp.head),
        };
        self.buf.drain(..end + 4);
        while self.buf.len() < len {
            assert!(self.fill(), "connection ended inside a body");
        }
        resp.body = self.buf.drain(..len).collect();
        resp
    }

    /// Everything until the server closes; panics if it does not within 5 s.
    pub fn read_to_eof(&mut self) -> Vec<u8> {
        self.s
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let start = Instant::now();
        let mut chunk = [0u8; 16384];
        loop {
            match self.s.read(&mut chunk) {
                Ok(0) => break,
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break,
                Err(e) => panic!(
                    "server did not close within {:?} ({e}); got {:?}",
                    start.elapsed(),
                    String::from_utf8_lossy(&self.buf)
                ),
            }
        }
        std::mem::take(&mut self.buf)
    }
}
