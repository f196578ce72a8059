//! Hand-written HTTP/1.1 server for the data plane (RFC 9112 message syntax and framing, RFC 9110
//! semantics).
//!
//! Why not hyper: the data plane answers ≥150k OCSP requests per second per core, and the cheap
//! way to get there is a connection loop that does one read, parses every complete pipelined
//! request in the buffer (RFC 9112 §9.3.2), lets a synchronous [`Handler`] append each response
//! to one output buffer, and writes that buffer once per batch. Buffers belong to the connection
//! and are reused, so the fast path allocates nothing per request.
//!
//! Request bodies are framed by `Content-Length` or chunked (RFC 9112 §7.1, decoded in place
//! in the read buffer: `http/chunked.rs`); ambiguous framing (both, duplicate lengths, a final
//! coding other than chunked, ...) is refused with 400 and the connection closed, which shuts
//! out request smuggling (`http/parse.rs`). Other transfer codings (`gzip, chunked`) get 501.
//! `Expect: 100-continue` is answered with `100 Continue` only while nothing of the body has
//! arrived and only for a request not already refused (a too large `Content-Length` gets its
//! 413 at once). HEAD gets the headers a GET would get, `Content-Length` included, without
//! the body ([`ResponseWriter`]).
//!
//! Deliberately unsupported: upgrades, HTTP/2, and `Expect` values other than `100-continue`
//! (ignored). HTTP/1.1 requests must carry exactly one `Host` (RFC 9112 §3.2), HTTP/1.0 ones
//! at most one; otherwise 400.
//!
//! Server-generated responses (400, 408, 413, 431, 500, 501) are short text/plain with
//! `Cache-Control: no-store` and `Date`; every refusal closes the connection after a graceful
//! half-close (RFC 9112 §9.6) so that the client reads the response before the reset that
//! unread input would otherwise cause.
//!
//! Timeouts: [`Limits::request_timeout`] bounds a request from its first byte to its last;
//! [`Limits::idle_timeout`] bounds the wait for the first byte of the next request on a
//! keep-alive connection; [`Limits::write_timeout`] bounds each write that makes no progress
//! (like nginx's `send_timeout`: a slow but progressing reader is not cut off mid-response).
//!
//! Streams: the connection loop is generic over monoio's cancelable owned-buffer stream traits
//! and monomorphised per stream. [`serve`] and [`serve_connection`] serve plain TCP;
//! [`serve_with`] takes an [`Accept`] that turns each accepted socket into the stream to serve
//! (the https listener's TLS handshake, see `crate::tls`).

mod chunked;
mod conn;
mod date;
mod dispatch;
mod fuzz;
mod io;
mod parse;
mod response;
mod server;

#[cfg(test)]
mod test_support;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_chunked;
#[cfg(test)]
mod tests_framing;
#[cfg(test)]
mod tests_limits;
#[cfg(test)]
mod tests_parse;
#[cfg(test)]
mod tests_prop;
#[cfg(test)]
mod tests_timeouts;

use std::cell::Cell;
use std::time::{Duration, Instant};

pub use conn::{serve_connection, serve_stream};
#[doc(hidden)]
pub use fuzz::fuzz_parse_requests;
pub use response::ResponseWriter;
pub use server::{serve, serve_with, Accept, ConnectionSlots, Plain};

/// Per-connection resource limits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Request line plus header section, including the blank line that ends it. A request whose
    /// header section is longer, or has more than 64 header fields, is answered 431 (RFC 6585
    /// §5) and the connection closed; so is a chunked body's trailer section longer than this.
    pub max_header_bytes: usize,
    /// Largest accepted body: `Content-Length`, or the decoded length of a chunked body. A
    /// larger `Content-Length` is answered 413 (RFC 9110 §15.5.14) as soon as the header
    /// section is complete, without reading the body and without sending `100 Continue`; a
    /// chunked body as soon as a chunk size would take it past the limit. The connection is
    /// closed after the 413.
    pub max_body_bytes: usize,
    /// A keep-alive connection on which no byte of a next request arrives for this long is
    /// closed without a response (RFC 9112 §9.8 allows closing idle connections at any time).
    pub idle_timeout: Duration,
    /// From the first byte of a request until its last: exceeding it (slow client, slowloris)
    /// is answered 408 (RFC 9110 §15.5.9) and the connection closed.
    pub request_timeout: Duration,
    /// A single write that makes no progress for this long closes the connection.
    pub write_timeout: Duration,
    /// How server-generated errors (400, 408, 413, 431, 501) are written.
    pub errors: ErrorStyle,
}

/// The body of the server's own error responses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ErrorStyle {
    /// Short `text/plain` (the OCSP listeners).
    #[default]
    Text,
    /// `{"message": "..."}` as `application/json` (the key service: KES's error shape).
    JsonMessage,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_header_bytes: 8 * 1024,
            max_body_bytes: 10_000,
            idle_timeout: Duration::from_secs(30),
            request_timeout: Duration::from_secs(10),
            write_timeout: Duration::from_secs(10),
            errors: ErrorStyle::Text,
        }
    }
}

/// Request method (RFC 9110 §9). Methods are case-sensitive: `get` is [`Method::Other`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Head,
    Post,
    Put,
    Delete,
    Other,
}

impl Method {
    fn from_token(token: &str) -> Self {
        match token {
            "GET" => Method::Get,
            "HEAD" => Method::Head,
            "POST" => Method::Post,
            "PUT" => Method::Put,
            "DELETE" => Method::Delete,
            _ => Method::Other,
        }
    }
}

/// One parsed request, borrowing the connection's read buffer.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    pub method: Method,
    /// The request-target exactly as sent (RFC 9112 §3.2): usually origin-form, may contain
    /// `%xx` escapes and a query; absolute-form and `*` are passed through as well.
    pub target: &'a str,
    /// Minor version: 0 for HTTP/1.0, 1 for HTTP/1.1.
    pub version: u8,
    pub headers: &'a [httparse::Header<'a>],
    /// The content, framed by `Content-Length` (RFC 9112 §6.2) or chunked (decoded, its
    /// extensions and trailer fields dropped); empty without either.
    pub body: &'a [u8],
    /// When the batch holding this request was taken from the read buffer: the start of its
    /// latency, and the request's notion of "now" (one clock read per batch).
    pub received: Instant,
    /// What the listener learned about the peer when it accepted the connection.
    pub peer: &'a Peer,
}

/// The peer of a connection as its [`Accept`] saw it: the certificates a TLS client presented
/// (end entity first; empty on plain TCP or without a client certificate).
#[derive(Debug, Default)]
pub struct Peer {
    pub addr: Option<std::net::SocketAddr>,
    pub tls: bool,
    pub certificates: Vec<Vec<u8>>,
    /// A value a handler derives from the peer once per connection and reuses for every
    /// request on it (the key service's client identity).
    pub memo: std::cell::OnceCell<Box<str>>,
}

/// A response a handler finishes later, after I/O of its own (a call to the control plane):
/// see [`ResponseWriter::defer`]. It must complete in bounded time; the connection reads
/// nothing more until it has.
pub type Deferred = std::pin::Pin<Box<dyn std::future::Future<Output = DeferredResponse>>>;

/// What a [`Deferred`] response resolves to, written with [`ResponseWriter::respond`] — or,
/// with a `stream`, a response whose body is the stream's pieces (chunked, RFC 9112 §7.1),
/// after which the connection closes.
pub struct DeferredResponse {
    pub status: u16,
    pub headers: Vec<(&'static str, Vec<u8>)>,
    pub body: Vec<u8>,
    pub stream: Option<Box<dyn BodyStream>>,
}

impl std::fmt::Debug for DeferredResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeferredResponse")
            .field("status", &self.status)
            .field("body", &self.body.len())
            .field("stream", &self.stream.is_some())
            .finish()
    }
}

/// The body of a streamed response (a log stream): each call yields the next piece, `None`
/// at its end. It must yield within bounded time so that a stream whose client left is
/// noticed at the next write.
pub trait BodyStream {
    fn next(
        &mut self,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Option<Vec<u8>>> + '_>>;
}

impl<'a> Request<'a> {
    /// The value of the first header field named `name`, compared case-insensitively
    /// (RFC 9110 §5.1).
    pub fn header(&self, name: &str) -> Option<&'a [u8]> {
        self.headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| h.value)
    }
}

/// Application side of the server: turns one request into one response.
///
/// Called synchronously on the connection's task; it must append exactly one response with
/// [`ResponseWriter::respond`] or [`ResponseWriter::respond_raw`], or hand over a
/// [`Deferred`] response with [`ResponseWriter::defer`]. If it does neither, the server
/// answers 500; calls after the first are ignored.
pub trait Handler {
    fn handle(&self, req: &Request<'_>, resp: &mut ResponseWriter<'_>);
}

/// Per-core counters (`Cell`s: owned by one core's runtime, never shared across threads).
#[derive(Debug, Default)]
pub struct HttpStats {
    /// Connections accepted by [`serve`] and handed to a connection task.
    pub connections_accepted: Cell<u64>,
    /// Connection tasks currently running under [`serve`].
    pub connections_open: Cell<u64>,
    /// Connections [`serve`] accepted and closed at once because `max_connections` were open.
    pub connections_rejected: Cell<u64>,
    /// Requests passed to the handler.
    pub requests: Cell<u64>,
    /// Requests answered 400 (malformed, bad or ambiguous framing, bad `Host`) or 501 (a
    /// transfer coding other than chunked).
    pub bad_requests: Cell<u64>,
    /// Requests answered 408, plus writes abandoned after `write_timeout`. Idle keep-alive
    /// connections closed after `idle_timeout` are not counted: that is the normal end of one.
    pub timeouts: Cell<u64>,
    /// Requests answered 413 (body) or 431 (header or trailer section).
    pub too_large: Cell<u64>,
    /// TLS connections closed before their handshake completed: protocol errors (including
    /// plain HTTP sent to the TLS port), rejected or missing client certificates, peers that
    /// closed, and handshakes not done within `request_timeout`.
    pub tls_handshake_failures: Cell<u64>,
}

/// Adds one to a counter.
pub(crate) fn bump(counter: &Cell<u64>) {
    counter.set(counter.get().wrapping_add(1));
}
