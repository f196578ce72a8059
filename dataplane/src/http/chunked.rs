//! Chunked request bodies (RFC 9112 §7.1), decoded in place in the connection's read buffer.
//!
//! The decoded body is written over the chunk framing, right after the request head, so the
//! handler sees it as one contiguous slice like a `Content-Length` body and nothing is
//! allocated. Decoding is incremental: what a read brought is decoded at once, and while the
//! body is incomplete the undecoded rest (a partial chunk-size or trailer line) is moved to
//! follow the decoded part ([`Chunked::compact`]), so the buffer holds the head, the body so
//! far and at most one partial line, whatever the framing overhead.
//!
//! Bounds: the decoded body by `Limits::max_body_bytes` (413, refused as soon as a chunk size
//! would exceed it); a chunk-size line with its extensions by [`MAX_CHUNK_LINE`] (400); the
//! trailer section by `Limits::max_header_bytes` (431). Extensions and trailer fields are
//! checked against their grammar and discarded. Framing lines must end in CRLF: a bare LF or
//! CR is refused (400), since servers that disagree on line ends can be made to disagree on
//! where a request ends.

use super::parse::{is_tchar, is_token, trim_ows, Reject};
use super::Limits;

/// Longest chunk-size line, extensions included, without its CRLF.
pub(super) const MAX_CHUNK_LINE: usize = 1024;

/// Most bytes the read buffer must hold for an acceptable request, chunked or not: the head,
/// the body, and one partial chunk-size or trailer line (plus a CRLF and a last chunk).
pub(super) fn buffer_bound(limits: &Limits) -> usize {
    limits
        .max_header_bytes
        .saturating_add(limits.max_body_bytes)
        .saturating_add(limits.max_header_bytes.max(MAX_CHUNK_LINE + 2))
        .saturating_add(8)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Expecting a chunk-size line.
    Size,
    /// Inside a chunk: this many data bytes to go.
    Data(usize),
    /// Expecting the CRLF after a chunk's data.
    DataEnd,
    /// In the trailer section, after this many bytes of it.
    Trailers(usize),
    /// Complete: the request ends at this offset (from its first byte).
    Done(usize),
}

/// How far the chunked body of the request at the start of the unconsumed input is decoded.
/// Offsets count from the request's first byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Chunked {
    /// Where the body starts: the length of the request head.
    head_len: usize,
    /// Decoded body bytes, at `head_len..head_len + decoded`.
    decoded: usize,
    /// The next undecoded byte (at or after `head_len + decoded`).
    raw: usize,
    phase: Phase,
}

/// Result of [`Chunked::decode`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Decoded {
    /// The body is complete: `len` bytes after the head; the request ends at `end`.
    Complete { len: usize, end: usize },
    /// More input is needed.
    Partial,
}

impl Chunked {
    pub fn new(head_len: usize) -> Self {
        Self {
            head_len,
            decoded: 0,
            raw: head_len,
            phase: Phase::Size,
        }
    }

    pub fn head_len(&self) -> usize {
        self.head_len
    }

    /// The finished body: `(length, end of the request)`, once decoding completed.
    pub fn complete(&self) -> Option<(usize, usize)> {
        match self.phase {
            Phase::Done(end) => Some((self.decoded, end)),
            _ => None,
        }
    }

    /// Decodes what `req` (the request from its first byte, possibly followed by more
    /// requests) holds beyond what earlier calls decoded.
    pub fn decode(&mut self, req: &mut [u8], limits: &Limits) -> Result<Decoded, Reject> {
        loop {
            let rest = &req[self.raw.min(req.len())..];
            match self.phase {
                Phase::Done(end) => {
                    return Ok(Decoded::Complete {
                        len: self.decoded,
                        end,
                    })
                }
                Phase::Size => {
                    let Some(line) = line(rest, MAX_CHUNK_LINE + 2, Reject::BadRequest)? else {
                        return Ok(Decoded::Partial);
                    };
                    let room = limits.max_body_bytes.saturating_sub(self.decoded);
                    let size = chunk_size(line, room)?;
                    self.raw += line.len() + 2;
                    self.phase = match size {
                        0 => Phase::Trailers(0),
                        n => Phase::Data(n),
                    };
                }
                Phase::Data(left) => {
                    let n = left.min(rest.len());
                    if n == 0 {
                        return Ok(Decoded::Partial);
                    }
                    let to = self.head_len + self.decoded;
                    req.copy_within(self.raw..self.raw + n, to);
                    self.raw += n;
                    self.decoded += n;
                    self.phase = match left - n {
                        0 => Phase::DataEnd,
                        more => Phase::Data(more),
                    };
                }
                Phase::DataEnd => match rest {
                    [b'\r', b'\n', ..] => {
                        self.raw += 2;
                        self.phase = Phase::Size;
                    }
                    [] | [b'\r'] => return Ok(Decoded::Partial),
                    _ => return Err(Reject::BadRequest),
                },
                Phase::Trailers(seen) => {
                    let budget = limits.max_header_bytes.saturating_sub(seen);
                    let Some(line) = line(rest, budget, Reject::HeadersTooLarge)? else {
                        return Ok(Decoded::Partial);
                    };
                    self.raw += line.len() + 2;
                    if line.is_empty() {
                        self.phase = Phase::Done(self.raw);
                    } else if is_field_line(line) {
                        self.phase = Phase::Trailers(seen + line.len() + 2);
                    } else {
                        return Err(Reject::BadRequest);
                    }
                }
            }
        }
    }

    /// After [`Decoded::Partial`]: moves the undecoded rest of `req` to follow the decoded
    /// body and returns the request's new length (the caller truncates the buffer to it).
    pub fn compact(&mut self, req: &mut [u8]) -> usize {
        let to = self.head_len + self.decoded;
        let from = self.raw.min(req.len());
        req.copy_within(from.., to);
        self.raw = to;
        to + (req.len() - from)
    }

    /// The size the request will reach at least, counted like [`compact`](Self::compact)
    /// leaves it, when that is known beyond the bytes at hand (0 otherwise): inside a chunk,
    /// the rest of its data, its CRLF and a last chunk.
    pub fn need(&self, len: usize) -> usize {
        match self.phase {
            Phase::Data(left) => len.saturating_add(left).saturating_add(7),
            _ => 0,
        }
    }
}

/// The line at the start of `buf` without its CRLF, if a whole one is there. A line (with
/// CRLF) longer than `max` is refused with `too_long`; a line end other than CRLF with 400.
fn line(buf: &[u8], max: usize, too_long: Reject) -> Result<Option<&[u8]>, Reject> {
    let window = &buf[..buf.len().min(max)];
    match window.iter().position(|&b| b == b'\n') {
        Some(lf) if lf > 0 && window[lf - 1] == b'\r' => {
            let line = &window[..lf - 1];
            // A CR inside the line is never part of valid framing.
            if line.contains(&b'\r') {
                return Err(Reject::BadRequest);
            }
            Ok(Some(line))
        }
        Some(_) => Err(Reject::BadRequest),
        None if buf.len() >= max => Err(too_long),
        None => Ok(None),
    }
}

/// `chunk-size [ chunk-ext ]` (RFC 9112 §7.1, §7.1.1): the size, refused with 413 if it
/// exceeds `room` and with 400 if malformed or beyond `u64`.
fn chunk_size(line: &[u8], room: usize) -> Result<usize, Reject> {
    let digits = line.iter().take_while(|b| b.is_ascii_hexdigit()).count();
    if digits == 0 {
        return Err(Reject::BadRequest);
    }
    let size = line[..digits]
        .iter()
        .try_fold(0u64, |n, &d| {
            let v = (d as char).to_digit(16)?;
            n.checked_mul(16)?.checked_add(u64::from(v))
        })
        .ok_or(Reject::BadRequest)?;
    if !extensions(&line[digits..]) {
        return Err(Reject::BadRequest);
    }
    match usize::try_from(size) {
        Ok(n) if n <= room => Ok(n),
        _ => Err(Reject::BodyTooLarge),
    }
}

/// `chunk-ext = *( BWS ";" BWS chunk-ext-name [ BWS "=" BWS chunk-ext-val ] )`, names
/// tokens, values tokens or quoted strings (RFC 9112 §7.1.1); trailing whitespace tolerated.
fn extensions(mut s: &[u8]) -> bool {
    loop {
        s = trim_start(s);
        let [b';', rest @ ..] = s else {
            return s.is_empty();
        };
        s = trim_start(rest);
        let name = s.iter().take_while(|&&b| is_tchar(b)).count();
        if name == 0 {
            return false;
        }
        s = &s[name..];
        let after = trim_start(s);
        let [b'=', value @ ..] = after else {
            continue;
        };
        s = trim_start(value);
        let value = match s.first() {
            Some(b'"') => quoted_string_len(s),
            _ => Some(s.iter().take_while(|&&b| is_tchar(b)).count()),
        };
        match value {
            Some(n) if n > 0 => s = &s[n..],
            _ => return false,
        }
    }
}

/// Length of the `quoted-string` (RFC 9110 §5.6.4) at the start of `s`, quotes included.
fn quoted_string_len(s: &[u8]) -> Option<usize> {
    let mut i = 1;
    loop {
        match *s.get(i)? {
            b'"' => return Some(i + 1),
            b'\\' => {
                let escaped = *s.get(i + 1)?;
                if !is_field_vchar(escaped) && escaped != b' ' && escaped != b'\t' {
                    return None;
                }
                i += 2;
            }
            b if is_field_vchar(b) || b == b' ' || b == b'\t' => i += 1,
            _ => return None,
        }
    }
}

/// `field-name ":" OWS field-value OWS` (RFC 9110 §5): a trailer field, checked and dropped.
/// A line starting with whitespace (obs-fold) has no name and is refused.
fn is_field_line(line: &[u8]) -> bool {
    let Some(colon) = line.iter().position(|&b| b == b':') else {
        return false;
    };
    is_token(&line[..colon])
        && trim_ows(&line[colon + 1..])
            .iter()
            .all(|&b| is_field_vchar(b) || b == b' ' || b == b'\t')
}

/// `VCHAR / obs-text`.
fn is_field_vchar(b: u8) -> bool {
    (0x21..=0x7e).contains(&b) || b >= 0x80
}

/// Strips leading `SP / HTAB`.
fn trim_start(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = s {
        s = rest;
    }
    s
}
