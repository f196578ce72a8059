//! Response serialisation into the connection's output buffer (RFC 9112 §4, §6, §9.6).

use super::date;
use super::parse::{is_token, Reject};
use super::ErrorStyle;

/// Appends one response to the connection's output buffer.
///
/// Framing is the writer's job: it adds `Content-Length` (omitted, with the body, for 204 and
/// 304, RFC 9110 §8.6), `Connection: close` when the connection will close after this response
/// (RFC 9112 §9.6) or `Connection: keep-alive` for a persistent HTTP/1.0 connection, and drops
/// the body of a response to HEAD while keeping its `Content-Length` (RFC 9110 §9.3.2).
pub struct ResponseWriter<'a> {
    out: &'a mut Vec<u8>,
    keep_alive: bool,
    head_only: bool,
    http10: bool,
    responded: bool,
    deferred: Option<super::Deferred>,
}

impl<'a> ResponseWriter<'a> {
    pub(super) fn new(
        out: &'a mut Vec<u8>,
        keep_alive: bool,
        head_only: bool,
        http10: bool,
    ) -> Self {
        Self {
            out,
            keep_alive,
            head_only,
            http10,
            responded: false,
            deferred: None,
        }
    }

    /// Answers this request later: the connection writes what is already answered, awaits
    /// `response`, writes it, and goes on with the requests after this one (their order is
    /// kept). For requests that need I/O; everything else answers at once.
    pub fn defer(&mut self, response: super::Deferred) {
        if self.responded {
            return;
        }
        self.responded = true;
        self.deferred = Some(response);
    }

    /// The deferred response, if the handler gave one, with the framing of this request:
    /// (keep-alive, HEAD, HTTP/1.0).
    pub(super) fn take_deferred(&mut self) -> Option<(super::Deferred, bool, bool, bool)> {
        self.deferred
            .take()
            .map(|d| (d, self.keep_alive, self.head_only, self.http10))
    }

    /// A writer for one request on a keep-alive HTTP/1.1 connection, for handler tests.
    #[cfg(test)]
    pub(crate) fn for_tests(out: &'a mut Vec<u8>) -> Self {
        Self::new(out, true, false, false)
    }

    /// Whether the connection stays open after this response.
    pub(super) fn keep_alive(&self) -> bool {
        self.keep_alive
    }

    /// Whether a response has been appended.
    pub(super) fn responded(&self) -> bool {
        self.responded
    }
}

impl ResponseWriter<'_> {
    /// Status line (always `HTTP/1.1`, RFC 9112 §2.3), the given header lines,
    /// `Content-Length`, `Connection` as needed, blank line, body (omitted for HEAD).
    ///
    /// `headers` must not contain `Content-Length` or `Connection`. A field whose name is not a
    /// token or whose value contains CR, LF or NUL is dropped (logged) rather than allowed to
    /// split the response. A status outside 200–599 is replaced by 500.
    pub fn respond(&mut self, status: u16, headers: &[(&str, &[u8])], body: &[u8]) {
        let Some(status) = self.begin(status, 64 * headers.len(), body.len()) else {
            return;
        };
        for &(name, value) in headers {
            if !is_token(name.as_bytes()) || value.iter().any(|&b| matches!(b, b'\r' | b'\n' | 0)) {
                tracing::warn!(
                    header = name,
                    "handler supplied an invalid header field; dropped"
                );
                continue;
            }
            self.out.extend_from_slice(name.as_bytes());
            self.out.extend_from_slice(b": ");
            self.out.extend_from_slice(value);
            self.out.extend_from_slice(b"\r\n");
        }
        self.finish(status, body);
    }

    /// Fast path: `head` is pre-rendered header lines, each ending in `\r\n` (no
    /// `Content-Length`/`Connection`); `extra` more pre-rendered header bytes. Neither is
    /// validated. Same framing rules as [`respond`](Self::respond).
    pub fn respond_raw(&mut self, status: u16, head: &[u8], extra: &[u8], body: &[u8]) {
        let Some(status) = self.begin(status, head.len() + extra.len(), body.len()) else {
            return;
        };
        self.out.extend_from_slice(head);
        self.out.extend_from_slice(extra);
        self.finish(status, body);
    }

    /// [`respond_raw`](Self::respond_raw) with a body of `body_len` bytes that `fill` appends
    /// straight into the output buffer, instead of a body assembled elsewhere and copied.
    /// `fill` is not called when the response has no body (HEAD, 304). If it appends another
    /// length, the response is replaced by a 500 (the framing would otherwise be wrong).
    pub fn respond_raw_with(
        &mut self,
        status: u16,
        head: &[u8],
        extra: &[u8],
        body_len: usize,
        fill: impl FnOnce(&mut Vec<u8>),
    ) {
        let start = self.out.len();
        let Some(status) = self.begin(status, head.len() + extra.len(), body_len) else {
            return;
        };
        self.out.extend_from_slice(head);
        self.out.extend_from_slice(extra);
        if !self.finish_head(status, body_len) {
            return;
        }
        let before = self.out.len();
        fill(self.out);
        if self.out.len() - before != body_len {
            tracing::error!(
                expected = body_len,
                written = self.out.len() - before,
                "response body length mismatch; sending 500"
            );
            self.out.truncate(start);
            self.responded = false;
            self.keep_alive = false;
            self.respond(500, &[], b"internal server error\n");
        }
    }

    /// The head of a response whose body follows in pieces: chunked for HTTP/1.1, delimited
    /// by the end of the connection for HTTP/1.0; the connection closes after it either way.
    pub(super) fn streamed_head(&mut self, status: u16, headers: &[(&str, &[u8])]) {
        self.keep_alive = false;
        let Some(_) = self.begin(status, 64 * headers.len(), 0) else {
            return;
        };
        for &(name, value) in headers {
            if is_token(name.as_bytes()) && !value.iter().any(|&b| matches!(b, b'\r' | b'\n' | 0)) {
                self.out.extend_from_slice(name.as_bytes());
                self.out.extend_from_slice(b": ");
                self.out.extend_from_slice(value);
                self.out.extend_from_slice(b"\r\n");
            }
        }
        if !self.http10 {
            self.out
                .extend_from_slice(b"Transfer-Encoding: chunked\r\n");
        }
        self.out.extend_from_slice(b"Connection: close\r\n\r\n");
    }

    /// Whether this response goes to an HTTP/1.0 client (no chunked framing).
    pub(super) fn is_http10(&self) -> bool {
        self.http10
    }

    /// Asks the server to close the connection after this response. Call it before
    /// responding so that the response carries `Connection: close`; called afterwards the
    /// connection still closes, only without announcing it.
    pub fn close(&mut self) {
        self.keep_alive = false;
    }

    /// Writes the status line unless a response was already written; returns the status used.
    /// Reserves room for the whole response: `fields` bytes of header lines and the body.
    fn begin(&mut self, status: u16, fields: usize, body: usize) -> Option<u16> {
        if self.responded {
            tracing::warn!(status, "handler responded twice; second response dropped");
            return None;
        }
        self.responded = true;
        let status = if (200..=599).contains(&status) {
            status
        } else {
            tracing::warn!(status, "handler used an invalid final status; sending 500");
            500
        };
        let body = if self.head_only { 0 } else { body };
        self.out
            .reserve(fields.saturating_add(body).saturating_add(96));
        self.out.extend_from_slice(b"HTTP/1.1 ");
        self.out
            .extend_from_slice(itoa::Buffer::new().format(status).as_bytes());
        self.out.push(b' ');
        self.out.extend_from_slice(reason(status));
        self.out.extend_from_slice(b"\r\n");
        Some(status)
    }

    fn finish(&mut self, status: u16, body: &[u8]) {
        if self.finish_head(status, body.len()) {
            self.out.extend_from_slice(body);
        }
    }

    /// Writes the framing header lines and the blank line; whether the body follows.
    fn finish_head(&mut self, status: u16, body_len: usize) -> bool {
        let has_content = status != 204 && status != 304;
        if has_content {
            self.out.extend_from_slice(b"Content-Length: ");
            self.out
                .extend_from_slice(itoa::Buffer::new().format(body_len).as_bytes());
            self.out.extend_from_slice(b"\r\n");
        }
        if !self.keep_alive {
            self.out.extend_from_slice(b"Connection: close\r\n");
        } else if self.http10 {
            self.out.extend_from_slice(b"Connection: keep-alive\r\n");
        }
        self.out.extend_from_slice(b"\r\n");
        has_content && !self.head_only
    }
}

/// Appends a server-generated error response: short text/plain body, `Cache-Control:
/// no-store` (errors must never be cached by OCSP relying parties or proxies) and `Date`.
pub(super) fn server_error(rw: &mut ResponseWriter<'_>, status: u16, body: &[u8]) {
    let date = date::now();
    rw.respond(
        status,
        &[
            ("Content-Type", b"text/plain; charset=utf-8"),
            ("Cache-Control", b"no-store"),
            ("Date", &date),
        ],
        body,
    );
}

/// [`server_error`] in `style`: the text/plain body, or `{"message": "<its first line>"}`.
fn styled_error(rw: &mut ResponseWriter<'_>, style: ErrorStyle, status: u16, body: &[u8]) {
    match style {
        ErrorStyle::Text => server_error(rw, status, body),
        ErrorStyle::JsonMessage => {
            let text = String::from_utf8_lossy(body);
            let mut json = b"{\"message\":\"".to_vec();
            // The bodies are fixed ASCII phrases: no escaping needed beyond dropping the newline.
            json.extend(
                text.trim_end()
                    .bytes()
                    .filter(|b| *b != b'"' && *b != b'\\'),
            );
            json.extend_from_slice(b"\"}\n");
            let date = date::now();
            rw.respond(
                status,
                &[
                    ("Content-Type", b"application/json"),
                    ("Cache-Control", b"no-store"),
                    ("Date", &date),
                ],
                &json,
            );
        }
    }
}

/// Appends the response to a refused request; the connection closes after it.
pub(super) fn write_reject(out: &mut Vec<u8>, reject: Reject, head_only: bool, style: ErrorStyle) {
    let mut rw = ResponseWriter::new(out, false, head_only, false);
    styled_error(&mut rw, style, reject.status(), reject.body());
}

/// Appends a 408 (RFC 9110 §15.5.9); the connection closes after it.
pub(super) fn write_timeout(out: &mut Vec<u8>, style: ErrorStyle) {
    let mut rw = ResponseWriter::new(out, false, false, false);
    styled_error(&mut rw, style, 408, b"request timeout\n");
}

/// Reason phrase (RFC 9110 §15); empty for codes without a registered one here, which the
/// status-line grammar allows (RFC 9112 §4).
fn reason(status: u16) -> &'static [u8] {
    match status {
        200 => b"OK",
        201 => b"Created",
        202 => b"Accepted",
        204 => b"No Content",
        206 => b"Partial Content",
        301 => b"Moved Permanently",
        302 => b"Found",
        303 => b"See Other",
        304 => b"Not Modified",
        307 => b"Temporary Redirect",
        308 => b"Permanent Redirect",
        400 => b"Bad Request",
        401 => b"Unauthorized",
        403 => b"Forbidden",
        404 => b"Not Found",
        405 => b"Method Not Allowed",
        406 => b"Not Acceptable",
        408 => b"Request Timeout",
        409 => b"Conflict",
        410 => b"Gone",
        411 => b"Length Required",
        412 => b"Precondition Failed",
        413 => b"Content Too Large",
        414 => b"URI Too Long",
        415 => b"Unsupported Media Type",
        416 => b"Range Not Satisfiable",
        417 => b"Expectation Failed",
        422 => b"Unprocessable Content",
        429 => b"Too Many Requests",
        431 => b"Request Header Fields Too Large",
        500 => b"Internal Server Error",
        501 => b"Not Implemented",
        502 => b"Bad Gateway",
        503 => b"Service Unavailable",
        504 => b"Gateway Timeout",
        505 => b"HTTP Version Not Supported",
        _ => b"",
    }
}
