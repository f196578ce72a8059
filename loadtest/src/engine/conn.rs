//! One client connection on a non-blocking socket (mio, edge-triggered): connect, optional
//! TLS handshake (rustls), one request at a time (no pipelining), incremental response
//! framing.

use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::sync::Arc;

use mio::net::TcpStream;
use mio::{Interest, Registry, Token};
use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ClientConnection};

use crate::http::{dechunk, parse_head, Framing, Head, Response};
use crate::scenario::Scenario;
use crate::stats::ErrorKind;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Waiting to reconnect (after an error) at `retry_ns`.
    Down,
    Connecting,
    Handshaking,
    Idle,
    Busy,
}

/// What an event on a connection led to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    Nothing,
    /// Connected (and handshaken): ready for a request.
    Ready,
    /// The response to the request in flight is complete and was judged.
    Done(Completed),
    /// The server closed an idle connection (normal for keep-alive): reconnect, no error.
    Closed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Completed {
    pub status: u16,
    pub result: Result<(), ErrorKind>,
    pub bytes: usize,
    /// The server asked to close: reconnect before the next request.
    pub close: bool,
}

/// TLS parameters shared by the connections of a run.
#[derive(Debug, Clone)]
pub struct TlsParams {
    pub config: Arc<ClientConfig>,
    pub server_name: ServerName<'static>,
}

pub struct Conn {
    pub state: State,
    sock: Option<TcpStream>,
    tls: Option<ClientConnection>,
    wbuf: Vec<u8>,
    wpos: usize,
    rbuf: Vec<u8>,
    rlen: usize,
    head: Option<Head>,
    eof: bool,
    /// Intended send time of the request in flight (latency origin), ns.
    pub intended_ns: u64,
    /// When the request in flight was sent, or the connection attempt started, ns.
    pub since_ns: u64,
    /// Whether the request in flight belongs to the measurement.
    pub counted: bool,
    pub retry_ns: u64,
}

const READ_CHUNK: usize = 16 * 1024;

impl Default for Conn {
    fn default() -> Self {
        Self::new()
    }
}

impl Conn {
    pub fn new() -> Self {
        Conn {
            state: State::Down,
            sock: None,
            tls: None,
            wbuf: Vec::with_capacity(512),
            wpos: 0,
            rbuf: vec![0; READ_CHUNK],
            rlen: 0,
            head: None,
            eof: false,
            intended_ns: 0,
            since_ns: 0,
            counted: false,
            retry_ns: 0,
        }
    }

    /// Starts a non-blocking connect (state `Connecting`).
    pub fn open(
        &mut self,
        registry: &Registry,
        token: Token,
        addr: SocketAddr,
        tls: Option<&TlsParams>,
        now_ns: u64,
    ) -> io::Result<()> {
        self.close(registry);
        self.since_ns = now_ns;
        let mut sock = TcpStream::connect(addr)?;
        registry.register(&mut sock, token, Interest::READABLE | Interest::WRITABLE)?;
        self.sock = Some(sock);
        self.tls = match tls {
            Some(t) => Some(
                ClientConnection::new(t.config.clone(), t.server_name.clone())
                    .map_err(io::Error::other)?,
            ),
            None => None,
        };
        self.state = State::Connecting;
        Ok(())
    }

    /// Drops the socket (state `Down`).
    pub fn close(&mut self, registry: &Registry) {
        if let Some(mut s) = self.sock.take() {
            let _ = registry.deregister(&mut s);
        }
        self.tls = None;
        self.reset_io();
        self.state = State::Down;
    }

    fn reset_io(&mut self) {
        self.wbuf.clear();
        self.wpos = 0;
        self.rlen = 0;
        self.head = None;
        self.eof = false;
        if self.rbuf.len() > 1 << 20 {
            self.rbuf = vec![0; READ_CHUNK];
        }
    }

    /// Sends `request` (complete bytes on the wire); the connection must be `Idle`.
    pub fn send(&mut self, request: &[u8], now_ns: u64) -> Result<(), ErrorKind> {
        debug_assert_eq!(self.state, State::Idle);
        self.reset_io();
        self.state = State::Busy;
        self.since_ns = now_ns;
        match &mut self.tls {
            Some(tls) => tls.writer().write_all(request).map_err(|_| ErrorKind::Io)?,
            None => self.wbuf.extend_from_slice(request),
        }
        self.flush()
    }

    /// Writes what is pending (plain bytes or TLS records) until done or the socket is full.
    fn flush(&mut self) -> Result<(), ErrorKind> {
        let Some(sock) = self.sock.as_mut() else {
            return Err(ErrorKind::Io);
        };
        if let Some(tls) = &mut self.tls {
            while tls.wants_write() {
                match tls.write_tls(sock) {
                    Ok(_) => {}
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(_) => return Err(ErrorKind::Io),
                }
            }
            return Ok(());
        }
        while self.wpos < self.wbuf.len() {
            match sock.write(&self.wbuf[self.wpos..]) {
                Ok(0) => return Err(ErrorKind::Io),
                Ok(n) => self.wpos += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return Err(ErrorKind::Io),
            }
        }
        Ok(())
    }

    /// Handles readiness. Errors: `Connect` while connecting or handshaking, otherwise the
    /// kind the request in flight failed with.
    pub fn on_event(&mut self, scenario: &dyn Scenario) -> Result<Progress, ErrorKind> {
        match self.state {
            State::Down => Ok(Progress::Nothing),
            State::Connecting => self.on_connecting(),
            State::Handshaking => self.handshake(),
            State::Idle => {
                self.read()?;
                if self.eof || self.rlen > 0 {
                    return Ok(Progress::Closed);
                }
                Ok(Progress::Nothing)
            }
            State::Busy => {
                self.flush()?;
                self.read()?;
                self.complete(scenario)
            }
        }
    }

    fn on_connecting(&mut self) -> Result<Progress, ErrorKind> {
        let Some(sock) = self.sock.as_ref() else {
            return Err(ErrorKind::Connect);
        };
        match sock.take_error() {
            Ok(None) => {}
            _ => return Err(ErrorKind::Connect),
        }
        match sock.peer_addr() {
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::NotConnected => return Ok(Progress::Nothing),
            Err(_) => return Err(ErrorKind::Connect),
        }
        let _ = sock.set_nodelay(true);
        if self.tls.is_some() {
            self.state = State::Handshaking;
            return self.handshake();
        }
        self.state = State::Idle;
        Ok(Progress::Ready)
    }

    fn handshake(&mut self) -> Result<Progress, ErrorKind> {
        let (Some(sock), Some(tls)) = (self.sock.as_mut(), self.tls.as_mut()) else {
            return Err(ErrorKind::Connect);
        };
        loop {
            while tls.wants_write() {
                match tls.write_tls(sock) {
                    Ok(_) => {}
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(_) => return Err(ErrorKind::Connect),
                }
            }
            if !tls.is_handshaking() {
                self.state = State::Idle;
                return Ok(Progress::Ready);
            }
            match tls.read_tls(sock) {
                Ok(0) => return Err(ErrorKind::Connect),
                Ok(_) => {
                    if tls.process_new_packets().is_err() {
                        // Send the alert, if any, before giving up.
                        let _ = tls.write_tls(sock);
                        return Err(ErrorKind::Connect);
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(Progress::Nothing),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return Err(ErrorKind::Connect),
            }
        }
    }

    /// Reads what is available into `rbuf` (plaintext); sets `eof` at end of stream.
    fn read(&mut self) -> Result<(), ErrorKind> {
        let Some(sock) = self.sock.as_mut() else {
            return Err(ErrorKind::Io);
        };
        let Some(tls) = self.tls.as_mut() else {
            loop {
                if self.rbuf.len() - self.rlen < READ_CHUNK / 2 {
                    let len = self.rbuf.len() * 2;
                    self.rbuf.resize(len, 0);
                }
                let room = self.rbuf.len() - self.rlen;
                match sock.read(&mut self.rbuf[self.rlen..]) {
                    Ok(0) => {
                        self.eof = true;
                        return Ok(());
                    }
                    // A short read drained the socket: the next data brings a new edge.
                    Ok(n) if n < room => {
                        self.rlen += n;
                        return Ok(());
                    }
                    Ok(n) => self.rlen += n,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(_) => return Err(ErrorKind::Io),
                }
            }
        };
        loop {
            match tls.read_tls(sock) {
                Ok(0) => {
                    self.eof = true;
                    break;
                }
                Ok(_) => {
                    if tls.process_new_packets().is_err() {
                        return Err(ErrorKind::Io);
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return Err(ErrorKind::Io),
            }
        }
        loop {
            if self.rbuf.len() - self.rlen < READ_CHUNK / 2 {
                let len = self.rbuf.len() * 2;
                self.rbuf.resize(len, 0);
            }
            match tls.reader().read(&mut self.rbuf[self.rlen..]) {
                Ok(0) => {
                    self.eof = true;
                    break;
                }
                Ok(n) => self.rlen += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                    self.eof = true;
                    break;
                }
                Err(_) => return Err(ErrorKind::Io),
            }
        }
        // Alerts, key updates.
        if tls.wants_write() {
            let _ = tls.write_tls(sock);
        }
        Ok(())
    }

    /// Whether the buffered bytes hold the whole response; judges it if so.
    fn complete(&mut self, scenario: &dyn Scenario) -> Result<Progress, ErrorKind> {
        let buf = &self.rbuf[..self.rlen];
        let head = match self.head {
            Some(h) => h,
            None => match parse_head(buf) {
                Ok(Some(h)) => {
                    self.head = Some(h);
                    h
                }
                Ok(None) if self.eof => return Err(ErrorKind::Io),
                Ok(None) => return Ok(Progress::Nothing),
                Err(_) => return Err(ErrorKind::Parse),
            },
        };
        let rest = &buf[head.head_len..];
        let dechunked;
        let (body, used) = match head.framing {
            Framing::Length(n) if rest.len() >= n => (&rest[..n], head.head_len + n),
            Framing::Length(_) if self.eof => return Err(ErrorKind::Io),
            Framing::Length(_) => return Ok(Progress::Nothing),
            Framing::Chunked => match dechunk(rest) {
                Ok(Some((n, b))) => {
                    dechunked = b;
                    (&dechunked[..], head.head_len + n)
                }
                Ok(None) if self.eof => return Err(ErrorKind::Io),
                Ok(None) => return Ok(Progress::Nothing),
                Err(_) => return Err(ErrorKind::Parse),
            },
            Framing::UntilClose if self.eof => (rest, buf.len()),
            Framing::UntilClose => return Ok(Progress::Nothing),
        };
        if used != buf.len() {
            // Bytes after the response although nothing else was asked for.
            return Err(ErrorKind::Parse);
        }
        let content_type = head.content_type.map(|(a, b)| &buf[a..b]);
        let resp = Response {
            status: head.status,
            content_type,
            body,
        };
        let result = scenario.check(&resp);
        self.state = State::Idle;
        let done = Completed {
            status: head.status,
            result,
            bytes: used,
            close: head.close || self.eof,
        };
        self.rlen = 0;
        self.head = None;
        Ok(Progress::Done(done))
    }
}
