//! Request head parsing and framing decisions (RFC 9112 §2–§3, §6, §9.3).
//!
//! A request body is framed by `Content-Length` or by the chunked transfer coding (RFC 9112
//! §7.1, decoded by `http/chunked.rs`); anything ambiguous is refused with 400 and the
//! connection closed, so that no other server in front of this one can read the same bytes as
//! a different sequence of requests (request smuggling, RFC 9112 §6.3, §11.2):
//! - both `Content-Length` and `Transfer-Encoding` (§6.3 item 3 lets a server refuse it);
//! - more than one `Content-Length` field, even with equal values, or a list value (`5, 5`);
//!   a value that is not `1*DIGIT` or does not fit in 64 bits;
//! - `Transfer-Encoding` whose final coding is not `chunked` (§6.3 item 4), `chunked` applied
//!   more than once (§7), an empty or malformed coding list, or any `Transfer-Encoding` in an
//!   HTTP/1.0 request (§6.1: the framing is faulty).
//!
//! Codings other than `chunked` before a final `chunked` (`gzip, chunked`) are well framed but
//! not implemented: 501 (§6.1). httparse itself refuses obs-fold line folding, whitespace
//! between a field name and its colon, and bare CR anywhere in the head; it accepts a bare LF
//! as a line end, which RFC 9112 §2.2 allows (the chunked framing itself requires CRLF).

use std::mem::MaybeUninit;

use httparse::Header;
use thiserror::Error;

use super::{Limits, Method};

/// Header fields per request; more is answered 431 like an oversized header section.
pub(super) const MAX_HEADERS: usize = 64;

/// Room for a request's header fields, left uninitialised: httparse writes the ones it finds
/// (zeroing 64 fields, 2 KiB, per request showed in profiles).
pub(super) type Headers<'a> = [MaybeUninit<Header<'a>>; MAX_HEADERS];

/// Fresh [`Headers`] (no initialisation).
pub(super) const fn headers<'a>() -> Headers<'a> {
    [const { MaybeUninit::uninit() }; MAX_HEADERS]
}

/// A complete, acceptable request head.
#[derive(Debug)]
pub(super) struct Head<'a> {
    pub method: Method,
    pub target: &'a str,
    pub version: u8,
    pub headers: &'a [Header<'a>],
    /// Length of the request line and header section, including the final CRLF.
    pub head_len: usize,
    /// `Content-Length`, or 0 without one (RFC 9112 §6.3 item 7) or with a chunked body.
    pub body_len: usize,
    /// The body is chunked (RFC 9112 §7.1): its length is known only once it is decoded.
    pub chunked: bool,
    /// Whether the connection persists after this request (RFC 9112 §9.3).
    pub keep_alive: bool,
    /// `Expect: 100-continue` from an HTTP/1.1 client (RFC 9110 §10.1.1; a server MUST ignore
    /// it from HTTP/1.0 clients).
    pub expect_continue: bool,
}

/// Why a request is refused. Every refusal closes the connection: after it the server cannot
/// know where the next request would start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub(super) enum Reject {
    #[error("malformed request")]
    BadRequest,
    #[error("header section too large")]
    HeadersTooLarge,
    #[error("content too large")]
    BodyTooLarge,
    #[error("transfer coding not implemented")]
    NotImplemented,
}

impl Reject {
    pub fn status(self) -> u16 {
        match self {
            Reject::BadRequest => 400,
            Reject::HeadersTooLarge => 431,
            Reject::BodyTooLarge => 413,
            Reject::NotImplemented => 501,
        }
    }

    /// Short text/plain body of the error response.
    pub fn body(self) -> &'static [u8] {
        match self {
            Reject::BadRequest => b"bad request\n",
            Reject::HeadersTooLarge => b"request header fields too large\n",
            Reject::BodyTooLarge => b"content too large\n",
            Reject::NotImplemented => b"transfer coding not implemented\n",
        }
    }
}

/// Outcome of parsing the start of the buffer.
#[derive(Debug)]
pub(super) enum Parse<'a> {
    /// The head is not complete yet.
    Partial,
    Complete(Head<'a>),
    /// Refused; `head_only` is set for a HEAD request (the error response then has no body).
    Reject {
        reject: Reject,
        head_only: bool,
    },
}

/// Parses the request head at the start of `buf` into `headers`.
pub(super) fn parse_head<'a>(
    buf: &'a [u8],
    headers: &'a mut Headers<'a>,
    limits: &Limits,
) -> Parse<'a> {
    let reject = |reject| Parse::Reject {
        reject,
        head_only: false,
    };
    let mut req = httparse::Request::new(&mut []);
    let head_len = match req.parse_with_uninit_headers(buf, headers) {
        Ok(httparse::Status::Complete(n)) => n,
        // A head that has not ended within the limit is longer than the limit.
        Ok(httparse::Status::Partial) if buf.len() >= limits.max_header_bytes => {
            return reject(Reject::HeadersTooLarge)
        }
        Ok(httparse::Status::Partial) => return Parse::Partial,
        Err(httparse::Error::TooManyHeaders) => return reject(Reject::HeadersTooLarge),
        Err(_) => return reject(Reject::BadRequest),
    };
    if head_len > limits.max_header_bytes {
        return reject(Reject::HeadersTooLarge);
    }
    let (Some(method), Some(target), Some(version)) = (req.method, req.path, req.version) else {
        return reject(Reject::BadRequest);
    };
    let method = Method::from_token(method);
    let head_only = method == Method::Head;
    let refuse = |reject| Parse::Reject { reject, head_only };
    let headers: &'a [Header<'a>] = req.headers;
    let fields = match Fields::scan(headers) {
        Ok(fields) => fields,
        Err(reject) => return refuse(reject),
    };
    let chunked = match fields.framing(version) {
        Ok(chunked) => chunked,
        Err(reject) => return refuse(reject),
    };
    // RFC 9112 §3.2: 400 for an HTTP/1.1 request without Host, or any request with several.
    if fields.hosts > 1 || (version == 1 && fields.hosts == 0) {
        return refuse(Reject::BadRequest);
    }
    let body_len = match fields.content_length {
        None => 0,
        Some(n) if n > limits.max_body_bytes as u64 => return refuse(Reject::BodyTooLarge),
        // Fits: n <= max_body_bytes, a usize.
        Some(n) => usize::try_from(n).unwrap_or(usize::MAX),
    };
    // RFC 9112 §9.3: HTTP/1.1 persists unless "close"; HTTP/1.0 only with "keep-alive".
    let keep_alive = !fields.close && (version == 1 || fields.keep_alive);
    Parse::Complete(Head {
        method,
        target,
        version,
        headers,
        head_len,
        body_len,
        chunked,
        keep_alive,
        expect_continue: version == 1 && fields.expect_continue,
    })
}

/// What the server needs from the header fields, gathered in one pass.
#[derive(Debug, Default)]
struct Fields {
    content_length: Option<u64>,
    transfer_encoding: Option<Codings>,
    hosts: usize,
    close: bool,
    keep_alive: bool,
    expect_continue: bool,
}

/// The transfer codings of a request, over all its `Transfer-Encoding` fields in order
/// (RFC 9110 §5.3: several fields are one comma-separated list).
#[derive(Debug, Default, Clone, Copy)]
struct Codings {
    /// Non-empty list elements.
    count: usize,
    /// `chunked` elements.
    chunked: usize,
    /// The last element is `chunked`.
    last_chunked: bool,
}

impl Codings {
    /// Adds the elements of one field value; false if one is not a transfer coding at all.
    fn add(&mut self, value: &[u8]) -> bool {
        for item in value.split(|&b| b == b',').map(trim_ows) {
            // RFC 9110 §5.6.1: empty list elements do not count.
            if item.is_empty() {
                continue;
            }
            self.count += 1;
            self.last_chunked = item.eq_ignore_ascii_case(b"chunked");
            if self.last_chunked {
                self.chunked += 1;
            } else {
                // transfer-coding = token *( OWS ";" OWS transfer-parameter ) (RFC 9112 §7);
                // parameters of codings that are refused anyway are not checked further.
                let name = item.split(|&b| b == b';').next().map(trim_ows);
                if !name.is_some_and(is_token) {
                    return false;
                }
            }
        }
        true
    }
}

impl Fields {
    fn scan(headers: &[Header<'_>]) -> Result<Self, Reject> {
        let mut f = Fields::default();
        for h in headers {
            let name = h.name;
            if name.eq_ignore_ascii_case("content-length") {
                // RFC 9112 §6.3 item 5 allows accepting repeated equal values; refusing them
                // leaves nothing for a front end to resolve differently.
                if f.content_length.is_some() {
                    return Err(Reject::BadRequest);
                }
                f.content_length = Some(parse_length(h.value).ok_or(Reject::BadRequest)?);
            } else if name.eq_ignore_ascii_case("transfer-encoding") {
                let codings = f.transfer_encoding.get_or_insert_with(Codings::default);
                if !codings.add(h.value) {
                    return Err(Reject::BadRequest);
                }
            } else if name.eq_ignore_ascii_case("host") {
                f.hosts += 1;
            } else if name.eq_ignore_ascii_case("connection") {
                // RFC 9110 §7.6.1: a comma-separated list of case-insensitive options.
                for option in h.value.split(|&b| b == b',').map(trim_ows) {
                    if option.eq_ignore_ascii_case(b"close") {
                        f.close = true;
                    } else if option.eq_ignore_ascii_case(b"keep-alive") {
                        f.keep_alive = true;
                    }
                }
            } else if name.eq_ignore_ascii_case("expect") {
                f.expect_continue |= trim_ows(h.value).eq_ignore_ascii_case(b"100-continue");
            }
        }
        Ok(f)
    }

    /// How the body is framed (RFC 9112 §6.1, §6.3): `Ok(true)` for chunked, `Ok(false)` for
    /// `Content-Length` or no body; refused if the framing is ambiguous or faulty (400) or
    /// uses a coding this server does not implement (501).
    fn framing(&self, version: u8) -> Result<bool, Reject> {
        let Some(codings) = self.transfer_encoding else {
            return Ok(false);
        };
        if version == 0 || self.content_length.is_some() {
            return Err(Reject::BadRequest);
        }
        if !codings.last_chunked || codings.chunked > 1 {
            return Err(Reject::BadRequest);
        }
        if codings.count > 1 {
            return Err(Reject::NotImplemented);
        }
        Ok(true)
    }
}

/// `Content-Length = 1*DIGIT` (RFC 9110 §8.6); None for anything else (a sign, inner
/// whitespace, a list) and for values beyond `u64` (httparse has already trimmed the OWS
/// around a field value).
pub(super) fn parse_length(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() {
        return None;
    }
    digits.iter().try_fold(0u64, |n, &d| {
        if !d.is_ascii_digit() {
            return None;
        }
        n.checked_mul(10)?.checked_add(u64::from(d - b'0'))
    })
}

/// `token = 1*tchar` (RFC 9110 §5.6.2).
pub(super) fn is_token(s: &[u8]) -> bool {
    !s.is_empty() && s.iter().all(|&b| is_tchar(b))
}

/// `tchar` (RFC 9110 §5.6.2).
pub(super) fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// Strips optional whitespace (`OWS = *( SP / HTAB )`, RFC 9110 §5.6.3) from both ends.
pub(super) fn trim_ows(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = s {
        s = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = s {
        s = rest;
    }
    s
}
