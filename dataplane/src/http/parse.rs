//! Request head parsing and framing decisions (RFC 9112 §2–§3, §6.3, §9.3).
//!
//! Message bodies are framed only by `Content-Length`. A request carrying `Transfer-Encoding`
//! is answered 501 and the connection closed: no OCSP client sends chunked requests (RFC 6960
//! Appendix A requests are a few hundred bytes with a known length), and refusing them removes
//! the whole class of TE/CL request-smuggling ambiguities (RFC 9112 §6.3 item 3, §11.2).

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
    /// `Content-Length`, or 0 without one (RFC 9112 §6.3 item 7).
    pub body_len: usize,
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
    #[error("transfer-encoding not implemented")]
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
            Reject::NotImplemented => b"transfer-encoding not supported\n",
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
    if fields.transfer_encoding {
        return refuse(Reject::NotImplemented);
    }
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
        keep_alive,
        expect_continue: version == 1 && fields.expect_continue,
    })
}

/// What the server needs from the header fields, gathered in one pass.
#[derive(Debug, Default)]
struct Fields {
    content_length: Option<u64>,
    transfer_encoding: bool,
    hosts: usize,
    close: bool,
    keep_alive: bool,
    expect_continue: bool,
}

impl Fields {
    fn scan(headers: &[Header<'_>]) -> Result<Self, Reject> {
        let mut f = Fields::default();
        for h in headers {
            let name = h.name;
            if name.eq_ignore_ascii_case("content-length") {
                for item in h.value.split(|&b| b == b',') {
                    let n = parse_length(trim_ows(item)).ok_or(Reject::BadRequest)?;
                    // RFC 9112 §6.3 item 5: repeated values must all be the same.
                    if f.content_length.is_some_and(|prev| prev != n) {
                        return Err(Reject::BadRequest);
                    }
                    f.content_length = Some(n);
                }
            } else if name.eq_ignore_ascii_case("transfer-encoding") {
                f.transfer_encoding = true;
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
}

/// `Content-Length = 1*DIGIT` (RFC 9110 §8.6). Values beyond `u64` saturate: they are
/// syntactically valid and simply too large.
pub(super) fn parse_length(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(digits.iter().fold(0u64, |n, &d| {
        n.saturating_mul(10).saturating_add(u64::from(d - b'0'))
    }))
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
