//! HTTP/1.1 on the client side: request encoding and incremental response framing (httparse
//! for the head; `Content-Length`, chunked, or until close for the body).

use std::borrow::Cow;

use thiserror::Error;

/// One request as a scenario produces it; [`encode_request`] adds `Host` and `Content-Length`.
#[derive(Debug, Clone)]
pub struct Request<'a> {
    pub method: &'a str,
    /// Path relative to the target's prefix, starting with `/`.
    pub path: Cow<'a, str>,
    pub headers: &'a [(&'a str, &'a str)],
    pub body: Cow<'a, [u8]>,
}

/// A complete response as a scenario checks it.
#[derive(Debug, Clone, Copy)]
pub struct Response<'a> {
    pub status: u16,
    pub content_type: Option<&'a [u8]>,
    pub body: &'a [u8],
}

/// Appends `req` on the wire to `out`; `path` is the full request target.
pub fn encode_request(req: &Request<'_>, path: &str, authority: &str, out: &mut Vec<u8>) {
    out.extend_from_slice(req.method.as_bytes());
    out.push(b' ');
    out.extend_from_slice(path.as_bytes());
    out.extend_from_slice(b" HTTP/1.1\r\nHost: ");
    out.extend_from_slice(authority.as_bytes());
    out.extend_from_slice(b"\r\n");
    for (name, value) in req.headers {
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    if !req.body.is_empty() || matches!(req.method, "POST" | "PUT" | "PATCH") {
        out.extend_from_slice(b"Content-Length: ");
        out.extend_from_slice(req.body.len().to_string().as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(&req.body);
}

#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum ParseError {
    #[error("bad response head: {0}")]
    Head(String),
    #[error("bad Content-Length")]
    ContentLength,
    #[error("bad chunked encoding")]
    Chunked,
    #[error("response head larger than {0} bytes")]
    HeadTooLarge(usize),
}

/// How the body of a response ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    Length(usize),
    Chunked,
    /// No length: the body runs until the server closes the connection.
    UntilClose,
}

/// A parsed response head; ranges index the buffer it was parsed from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Head {
    pub status: u16,
    pub head_len: usize,
    pub framing: Framing,
    pub content_type: Option<(usize, usize)>,
    /// `Connection: close` (or HTTP/1.0 without keep-alive): reconnect after this response.
    pub close: bool,
}

const MAX_HEAD: usize = 64 * 1024;

/// Parses the head at the start of `buf`: `None` while incomplete.
pub fn parse_head(buf: &[u8]) -> Result<Option<Head>, ParseError> {
    let mut headers = [httparse::EMPTY_HEADER; 48];
    let mut resp = httparse::Response::new(&mut headers);
    let head_len = match resp.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) if buf.len() > MAX_HEAD => {
            return Err(ParseError::HeadTooLarge(MAX_HEAD))
        }
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(e) => return Err(ParseError::Head(e.to_string())),
    };
    let status = resp.code.unwrap_or(0);
    let mut framing = Framing::UntilClose;
    let mut content_type = None;
    let mut close = resp.version == Some(0);
    for h in resp.headers.iter() {
        if h.name.eq_ignore_ascii_case("content-length") {
            let n = std::str::from_utf8(h.value)
                .ok()
                .and_then(|v| v.trim().parse().ok())
                .ok_or(ParseError::ContentLength)?;
            if framing != Framing::Chunked {
                framing = Framing::Length(n);
            }
        } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
            if h.value.eq_ignore_ascii_case(b"chunked") {
                framing = Framing::Chunked;
            }
        } else if h.name.eq_ignore_ascii_case("content-type") {
            let start = h.value.as_ptr() as usize - buf.as_ptr() as usize;
            content_type = Some((start, start + h.value.len()));
        } else if h.name.eq_ignore_ascii_case("connection") {
            if h.value.eq_ignore_ascii_case(b"close") {
                close = true;
            } else if h.value.eq_ignore_ascii_case(b"keep-alive") {
                close = false;
            }
        }
    }
    if status < 200 || status == 204 || status == 304 {
        framing = Framing::Length(0);
    }
    Ok(Some(Head {
        status,
        head_len,
        framing,
        content_type,
        close,
    }))
}

/// For a chunked body starting at `buf[0]`: `Some((bytes consumed, decoded body))` once the
/// last chunk and trailers are in `buf`.
pub fn dechunk(buf: &[u8]) -> Result<Option<(usize, Vec<u8>)>, ParseError> {
    let mut pos = 0;
    let mut body = Vec::new();
    loop {
        let Some(eol) = find_crlf(&buf[pos..]) else {
            return Ok(None);
        };
        let line = std::str::from_utf8(&buf[pos..pos + eol]).map_err(|_| ParseError::Chunked)?;
        let size = line.split(';').next().unwrap_or("").trim();
        let size = usize::from_str_radix(size, 16).map_err(|_| ParseError::Chunked)?;
        pos += eol + 2;
        if size == 0 {
            // Trailers, then an empty line.
            loop {
                let Some(eol) = find_crlf(&buf[pos..]) else {
                    return Ok(None);
                };
                pos += eol + 2;
                if eol == 0 {
                    return Ok(Some((pos, body)));
                }
            }
        }
        if buf.len() < pos + size + 2 {
            return Ok(None);
        }
        body.extend_from_slice(&buf[pos..pos + size]);
        if &buf[pos + size..pos + size + 2] != b"\r\n" {
            return Err(ParseError::Chunked);
        }
        pos += size + 2;
    }
}

fn find_crlf(b: &[u8]) -> Option<usize> {
    b.windows(2).position(|w| w == b"\r\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_requests() {
        let mut out = Vec::new();
        let req = Request {
            method: "POST",
            path: "/".into(),
            headers: &[("Content-Type", "application/ocsp-request")],
            body: (&b"abc"[..]).into(),
        };
        encode_request(&req, "/ocsp", "h:1", &mut out);
        assert_eq!(
            out,
            b"POST /ocsp HTTP/1.1\r\nHost: h:1\r\nContent-Type: application/ocsp-request\r\n\
              Content-Length: 3\r\n\r\nabc"
        );
        out.clear();
        let get = Request {
            method: "GET",
            path: "/x".into(),
            headers: &[],
            body: (&b""[..]).into(),
        };
        encode_request(&get, "/x", "h", &mut out);
        assert_eq!(out, b"GET /x HTTP/1.1\r\nHost: h\r\n\r\n");
    }

    #[test]
    fn parses_heads() {
        let raw = b"HTTP/1.1 200 OK\r\nContent-Type: application/ocsp-response\r\nContent-Length: 5\r\n\r\nhello";
        let h = parse_head(raw).unwrap().unwrap();
        assert_eq!(h.status, 200);
        assert_eq!(h.framing, Framing::Length(5));
        assert_eq!(&raw[h.head_len..], b"hello");
        let (a, b) = h.content_type.unwrap();
        assert_eq!(&raw[a..b], b"application/ocsp-response");
        assert!(!h.close);
        assert_eq!(parse_head(&raw[..20]).unwrap(), None);
        let h = parse_head(b"HTTP/1.1 304 Not Modified\r\nConnection: close\r\n\r\n")
            .unwrap()
            .unwrap();
        assert_eq!((h.framing, h.close), (Framing::Length(0), true));
        let h = parse_head(b"HTTP/1.0 200 OK\r\n\r\n").unwrap().unwrap();
        assert_eq!((h.framing, h.close), (Framing::UntilClose, true));
        assert!(parse_head(b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n").is_err());
        assert!(parse_head(b"garbage\r\n\r\n").is_err());
    }

    #[test]
    fn dechunks() {
        let raw = b"3\r\nabc\r\n2;x=y\r\nde\r\n0\r\nT: v\r\n\r\nNEXT";
        let (n, body) = dechunk(raw).unwrap().unwrap();
        assert_eq!(body, b"abcde");
        assert_eq!(&raw[n..], b"NEXT");
        for cut in 0..raw.len() - 4 {
            assert_eq!(dechunk(&raw[..cut]).unwrap(), None, "cut at {cut}");
        }
        assert!(dechunk(b"zz\r\n").is_err());
        assert!(dechunk(b"1\r\nabc").is_err());
    }
}
