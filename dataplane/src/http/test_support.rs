//! Test harness: `serve` on 127.0.0.1:0 inside a legacy-driver monoio runtime, an echo
//! handler and a small client.

use std::future::Future;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;

use monoio::io::{AsyncReadRent, AsyncWriteRent, AsyncWriteRentExt};
use monoio::net::{TcpListener, TcpStream};

use super::{serve, Handler, HttpStats, Limits, Request, ResponseWriter};

/// How long the client waits for any single read before failing the test.
pub(super) const CLIENT_WAIT: Duration = Duration::from_secs(5);

pub(super) fn run<F: Future>(f: F) -> F::Output {
    monoio::RuntimeBuilder::<monoio::LegacyDriver>::new()
        .enable_timer()
        .build()
        .unwrap()
        .block_on(f)
}

/// Like [`run`] on the io_uring driver; None where the kernel or a seccomp filter refuses
/// io_uring (e.g. default Docker).
pub(super) fn run_uring<F: Future>(f: F) -> Option<F::Output> {
    let mut rt = monoio::RuntimeBuilder::<monoio::IoUringDriver>::new()
        .enable_timer()
        .build()
        .ok()?;
    Some(rt.block_on(f))
}

/// Answers `200` with body `"{method:?} {target} {body length}"`. Target `/close` also asks
/// to close, `/silent` does not respond at all, `/big` answers with [`BIG`] bytes.
pub(super) struct Echo;

pub(super) const BIG: usize = 32 << 20;

impl Handler for Echo {
    fn handle(&self, req: &Request<'_>, resp: &mut ResponseWriter<'_>) {
        match req.target {
            "/close" => resp.close(),
            "/silent" => return,
            "/big" => {
                resp.respond(200, &[], &vec![b'x'; BIG]);
                return;
            }
            _ => {}
        }
        let body = format!("{:?} {} {}", req.method, req.target, req.body.len());
        resp.respond(200, &[("Content-Type", b"text/plain")], body.as_bytes());
    }
}

/// Short timeouts so that timeout tests run quickly.
pub(super) fn short_limits() -> Limits {
    Limits {
        idle_timeout: Duration::from_millis(300),
        request_timeout: Duration::from_millis(200),
        write_timeout: Duration::from_millis(300),
        ..Limits::default()
    }
}

/// Starts [`serve`] with [`Echo`] on an ephemeral port; call inside the runtime.
pub(super) fn start(limits: Limits, max_connections: usize) -> (SocketAddr, Rc<HttpStats>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let stats = Rc::new(HttpStats::default());
    let (limits, s) = (Rc::new(limits), stats.clone());
    monoio::spawn(serve(listener, Rc::new(Echo), limits, s, max_connections));
    (addr, stats)
}

/// A parsed response.
#[derive(Debug)]
pub(super) struct Response {
    pub status: u16,
    pub headers: Vec<(String, Vec<u8>)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        let mut found = self
            .headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name));
        found.next().map(|(_, v)| v.as_slice())
    }

    pub fn body_str(&self) -> &str {
        std::str::from_utf8(&self.body).unwrap()
    }
}

/// Parses one response at the start of `buf`: `(response, bytes used)`, None if incomplete.
/// `head` marks a response to HEAD (no body despite `Content-Length`).
pub(super) fn parse_response(buf: &[u8], head: bool) -> Option<(Response, usize)> {
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut resp = httparse::Response::new(&mut headers);
    let httparse::Status::Complete(head_len) = resp.parse(buf).expect("malformed response") else {
        return None;
    };
    assert_eq!(resp.version, Some(1), "responses are HTTP/1.1");
    let headers: Vec<(String, Vec<u8>)> = resp
        .headers
        .iter()
        .map(|h| (h.name.to_owned(), h.value.to_vec()))
        .collect();
    let status = resp.code.unwrap();
    let length = headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
        .map(|(_, v)| std::str::from_utf8(v).unwrap().parse::<usize>().unwrap())
        .unwrap_or(0);
    let body_len = if head { 0 } else { length };
    let body = buf.get(head_len..head_len + body_len)?.to_vec();
    Some((
        Response {
            status,
            headers,
            body,
        },
        head_len + body_len,
    ))
}

pub(super) struct Client {
    stream: TcpStream,
    /// Received, not yet parsed.
    buf: Vec<u8>,
}

impl Client {
    pub async fn connect(addr: SocketAddr) -> Self {
        let stream = TcpStream::connect(addr).await.unwrap();
        Self {
            stream,
            buf: Vec::new(),
        }
    }

    pub async fn send(&mut self, data: &[u8]) {
        let (res, _) = self.stream.write_all(data.to_vec()).await;
        res.unwrap();
    }

    /// Sends, returning false if the server already closed.
    pub async fn try_send(&mut self, data: &[u8]) -> bool {
        self.stream.write_all(data.to_vec()).await.0.is_ok()
    }

    /// Half-closes: the server sees end of stream.
    pub async fn shutdown(&mut self) {
        self.stream.shutdown().await.unwrap();
    }

    /// Reads once into `buf`; false at end of stream or reset. `None` if nothing arrived
    /// within `wait`.
    pub async fn fill_within(&mut self, wait: Duration) -> Option<bool> {
        let chunk = Vec::with_capacity(64 * 1024);
        let (res, chunk) = monoio::time::timeout(wait, self.stream.read(chunk))
            .await
            .ok()?;
        match res {
            Ok(0) | Err(_) => Some(false),
            Ok(_) => {
                self.buf.extend_from_slice(&chunk);
                Some(true)
            }
        }
    }

    async fn fill(&mut self) -> bool {
        self.fill_within(CLIENT_WAIT)
            .await
            .expect("server sent nothing within 5 s")
    }

    /// The next response (`head`: response to HEAD); None if the connection closed first.
    pub async fn response(&mut self, head: bool) -> Option<Response> {
        loop {
            if let Some((resp, used)) = parse_response(&self.buf, head) {
                self.buf.drain(..used);
                return Some(resp);
            }
            if !self.fill().await {
                return None;
            }
        }
    }

    /// Everything until the server closes (panics if it does not within 5 s of silence).
    pub async fn read_to_close(&mut self) -> Vec<u8> {
        let (all, closed) = self.drain(CLIENT_WAIT).await;
        assert!(closed, "server sent nothing within 5 s");
        all
    }

    /// Everything until the server closes: `(bytes, closed)`, with `closed` false if the
    /// server was silent for `wait` without closing.
    pub async fn drain(&mut self, wait: Duration) -> (Vec<u8>, bool) {
        loop {
            match self.fill_within(wait).await {
                Some(true) => continue,
                done => return (std::mem::take(&mut self.buf), done.is_some()),
            }
        }
    }

    /// True if the server closes, with nothing more sent, within `wait`.
    pub async fn closed_within(&mut self, wait: Duration) -> bool {
        matches!(self.fill_within(wait).await, Some(false)) && self.buf.is_empty()
    }
}

/// Splits a stream of responses; `None` unless it is entirely well-formed responses. A
/// response with `Content-Length` followed directly by another status line (or nothing) is
/// taken as a response to HEAD: bodies here never start with `HTTP/1.1 `.
pub(super) fn parse_all(mut buf: &[u8]) -> Option<Vec<Response>> {
    let mut all = Vec::new();
    while !buf.is_empty() {
        if !buf.starts_with(b"HTTP/1.1 ") {
            return None;
        }
        let (resp, used) = match parse_response(buf, false) {
            Some(parsed) => parsed,
            None => parse_response(buf, true)?,
        };
        let (resp, used) = match parse_response(buf, true) {
            Some((r, u)) if buf[u..].is_empty() || buf[u..].starts_with(b"HTTP/1.1 ") => (r, u),
            _ => (resp, used),
        };
        all.push(resp);
        buf = &buf[used..];
    }
    Some(all)
}
