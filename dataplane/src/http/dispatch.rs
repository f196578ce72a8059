//! One batch: every complete request at the start of the read buffer, handed to the handler and
//! answered in order into one output buffer (pipelining, RFC 9112 §9.3.2). No I/O here, so the
//! whole request path can be exercised without sockets.
//!
//! A chunked body is decoded in place in the read buffer (`http/chunked.rs`), which is why
//! [`process`] takes the buffer mutably: it may rewrite and shorten the pending request.

use std::time::Instant;

use super::chunked::{Chunked, Decoded};
use super::parse::{headers, parse_head, Parse, Reject};
use super::response::{server_error, write_reject, ResponseWriter};
use super::{bump, Handler, HttpStats, Limits, Method, Peer, Request};

/// Once the output holds this much it is written before more requests are handled, which
/// bounds the output buffer when pipelined requests ask for large responses (CRLs).
pub(super) const FLUSH_THRESHOLD: usize = 64 * 1024;

/// Interim response inviting the client to send the content (RFC 9110 §10.1.1, §15.2.1).
const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";

/// What the connection loop does after a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Next {
    /// No complete request is buffered: write any output, then read. `need` is the full size
    /// of the pending request once its head is parsed (for a chunked body, a lower bound
    /// while inside a chunk), 0 while that is not known.
    Read { need: usize },
    /// The output is large: write it, then process the rest without reading.
    Flush,
    /// Write the output, then close the connection.
    Close,
    /// Write the output, then await the deferred response in [`State::deferred`], write it,
    /// and go on (or close, if that request does not keep the connection alive).
    Deferred,
}

/// Result of [`process`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Progress {
    /// Bytes of input belonging to requests that were answered.
    pub consumed: usize,
    pub next: Next,
}

/// Connection state carried from one batch to the next.
#[derive(Default)]
pub(super) struct State {
    /// `100 Continue` already sent for the request being received.
    continue_sent: bool,
    /// Decoding progress of the pending request's chunked body.
    chunked: Option<Chunked>,
    /// When the last batch that answered a request began (its requests' `received`): a
    /// recent reading of the clock, which the connection loop reuses for its deadlines.
    pub received: Option<Instant>,
    /// The deferred response of the last request answered, with its framing (keep-alive,
    /// HEAD, HTTP/1.0).
    pub deferred: Option<(super::Deferred, bool, bool, bool)>,
}

/// Answers every complete request at the start of `input`, appending responses to `out`.
/// The pending request's chunked body is decoded in place, which may shorten `input` after
/// the bytes it reports consumed.
pub(super) fn process<H: Handler + ?Sized>(
    input: &mut Vec<u8>,
    out: &mut Vec<u8>,
    state: &mut State,
    handler: &H,
    (limits, stats, peer): (&Limits, &HttpStats, &Peer),
) -> Progress {
    let mut pos = 0;
    // Read once per batch, not per request: the clock is a measurable share of a request.
    let mut batch: Option<Instant> = None;
    loop {
        let progress = |next| Progress {
            consumed: pos,
            next,
        };
        let rest = &input[pos..];
        // RFC 9112 §2.2: empty lines before a request-line are ignored (consumed here so that
        // a stray CRLF after a request leaves the connection idle, not mid-request).
        let blank = empty_lines(rest);
        if blank > 0 {
            pos += blank;
            continue;
        }
        if rest.is_empty() {
            return progress(Next::Read { need: 0 });
        }
        if out.len() >= FLUSH_THRESHOLD {
            return progress(Next::Flush);
        }
        let mut headers = headers();
        let head = match parse_head(rest, &mut headers, limits) {
            Parse::Partial => return progress(Next::Read { need: 0 }),
            Parse::Reject { reject, head_only } => {
                refuse(out, reject, head_only, limits, stats);
                return progress(Next::Close);
            }
            Parse::Complete(head) => head,
        };
        let (body_len, total) = if head.chunked {
            match state.chunked.and_then(|c| c.complete()) {
                Some(done) => done,
                None => {
                    // Decode what has arrived, then parse the head again (chunked requests
                    // only) to borrow the decoded body.
                    let (head_len, head_only) = (head.head_len, head.method == Method::Head);
                    let expect = head.expect_continue;
                    match decode(input, pos, head_len, expect, out, state, limits) {
                        Ok(None) => continue,
                        Ok(Some(need)) => return progress(Next::Read { need }),
                        Err(reject) => {
                            refuse(out, reject, head_only, limits, stats);
                            return progress(Next::Close);
                        }
                    }
                }
            }
        } else {
            let total = head.head_len.saturating_add(head.body_len);
            if rest.len() < total {
                // RFC 9110 §10.1.1: a server MAY omit 100 once some content has arrived.
                if head.expect_continue && rest.len() == head.head_len {
                    send_continue(out, state);
                }
                return progress(Next::Read { need: total });
            }
            (head.body_len, total)
        };
        state.continue_sent = false;
        state.chunked = None;
        let received = *batch.get_or_insert_with(Instant::now);
        state.received = Some(received);
        let req = Request {
            method: head.method,
            target: head.target,
            version: head.version,
            headers: head.headers,
            body: &rest[head.head_len..head.head_len + body_len],
            received,
            peer,
        };
        let head_only = head.method == Method::Head;
        let mut rw = ResponseWriter::new(out, head.keep_alive, head_only, head.version == 0);
        handler.handle(&req, &mut rw);
        if let Some(deferred) = rw.take_deferred() {
            bump(&stats.requests);
            state.deferred = Some(deferred);
            return Progress {
                consumed: pos + total,
                next: Next::Deferred,
            };
        }
        if !rw.responded() {
            tracing::error!(path = req.target, "handler did not respond; sending 500");
            server_error(&mut rw, 500, b"internal server error\n");
        }
        bump(&stats.requests);
        pos += total;
        if !rw.keep_alive() {
            return Progress {
                consumed: pos,
                next: Next::Close,
            };
        }
    }
}

/// Decodes the chunked body of the request at `input[pos..]` as far as it has arrived:
/// `Ok(None)` once complete, else `Ok(Some(need))` after moving the undecoded rest to follow
/// the decoded part and shortening `input` accordingly ([`Chunked::compact`]).
fn decode(
    input: &mut Vec<u8>,
    pos: usize,
    head_len: usize,
    expect_continue: bool,
    out: &mut Vec<u8>,
    state: &mut State,
    limits: &Limits,
) -> Result<Option<usize>, Reject> {
    // Nothing of the body yet: invite it (a refusal can only come from the body itself).
    if expect_continue && input.len() - pos == head_len {
        send_continue(out, state);
    }
    let req = &mut input[pos..];
    let chunked = match &mut state.chunked {
        Some(c) if c.head_len() == head_len => c,
        slot => slot.insert(Chunked::new(head_len)),
    };
    match chunked.decode(req, limits)? {
        Decoded::Complete { .. } => Ok(None),
        Decoded::Partial => {
            let len = chunked.compact(req);
            let need = chunked.need(len);
            input.truncate(pos + len);
            Ok(Some(need))
        }
    }
}

/// Appends `100 Continue` unless it was sent for this request already.
fn send_continue(out: &mut Vec<u8>, state: &mut State) {
    if !state.continue_sent {
        out.extend_from_slice(CONTINUE);
        state.continue_sent = true;
    }
}

/// Counts a refused request and appends its error response.
fn refuse(out: &mut Vec<u8>, reject: Reject, head_only: bool, limits: &Limits, stats: &HttpStats) {
    tracing::debug!(%reject, "request refused");
    bump(match reject {
        Reject::BadRequest | Reject::NotImplemented => &stats.bad_requests,
        Reject::HeadersTooLarge | Reject::BodyTooLarge => &stats.too_large,
    });
    write_reject(out, reject, head_only, limits.errors);
}

/// Length of the CRLF (or bare LF) line ends at the start of `buf`.
fn empty_lines(buf: &[u8]) -> usize {
    let mut n = 0;
    loop {
        match &buf[n..] {
            [b'\r', b'\n', ..] => n += 2,
            [b'\n', ..] => n += 1,
            _ => return n,
        }
    }
}
