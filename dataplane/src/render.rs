//! Pre-rendered HTTP responses: the body plus every header line that does not depend on the
//! time of the request, built once when an entry enters a core's cache. Per request only
//! `Date` and `Cache-Control: max-age` are written (RFC 5019 §6.2 caching headers).

use std::cell::{Cell, RefCell};

use sigil_shared::time::{http_date, now_unix};

/// A cacheable response.
#[derive(Debug)]
pub struct Rendered {
    pub body: Box<[u8]>,
    /// Header lines for 200: Content-Type, Last-Modified, ETag, Expires.
    pub head: Box<[u8]>,
    /// Header lines for 304 (validators only: ETag, Expires; RFC 9110 §15.4.5).
    pub head_304: Box<[u8]>,
    /// Quoted entity tag.
    pub etag: Box<[u8]>,
    pub this_update: i64,
    /// `i64::MAX` for responses that do not expire (CA certificates).
    pub next_update: i64,
}

fn etag_of(body: &[u8]) -> String {
    let digest = sigil_shared::ocsp::HashAlg::Sha256.digest(body);
    format!("\"{}\"", hex::encode(&digest[..16]))
}

impl Rendered {
    fn build(content_type: &str, body: Vec<u8>, this_update: i64, next_update: i64) -> Self {
        let etag = etag_of(&body);
        let mut validators = format!("ETag: {etag}\r\n");
        if next_update != i64::MAX {
            validators.push_str(&format!("Expires: {}\r\n", http_date(next_update)));
        }
        let mut head = format!("Content-Type: {content_type}\r\n");
        if this_update > 0 {
            head.push_str(&format!("Last-Modified: {}\r\n", http_date(this_update)));
        }
        head.push_str(&validators);
        Self {
            body: body.into_boxed_slice(),
            head: head.into_bytes().into_boxed_slice(),
            head_304: validators.into_bytes().into_boxed_slice(),
            etag: etag.into_bytes().into_boxed_slice(),
            this_update,
            next_update,
        }
    }

    /// A pre-signed OCSP response.
    pub fn ocsp(der: Vec<u8>, this_update: i64, next_update: i64) -> Self {
        Self::build("application/ocsp-response", der, this_update, next_update)
    }

    /// A DER CRL.
    pub fn crl(der: Vec<u8>, this_update: i64, next_update: i64) -> Self {
        Self::build("application/pkix-crl", der, this_update, next_update)
    }

    /// A CA certificate (DER `application/pkix-cert` or PEM).
    pub fn ca_cert(content_type: &str, body: Vec<u8>) -> Self {
        Self::build(content_type, body, 0, i64::MAX)
    }

    /// Approximate memory held, for cache accounting.
    pub fn size(&self) -> usize {
        self.body.len() + self.head.len() + self.head_304.len() + self.etag.len() + 96
    }

    /// Whether an `If-None-Match` value matches this entity (RFC 9110 §13.1.2, weak compare).
    pub fn matches(&self, if_none_match: &[u8]) -> bool {
        if_none_match.split(|b| *b == b',').any(|t| {
            let t = t.trim_ascii();
            let t = t.strip_prefix(b"W/").unwrap_or(t);
            t == b"*" || t == &*self.etag
        })
    }
}

/// The per-request header lines: `Date` (cached per second) and `Cache-Control`.
#[derive(Debug, Default)]
pub struct Clock {
    second: Cell<i64>,
    date_line: RefCell<Vec<u8>>,
}

impl Clock {
    pub fn now(&self) -> i64 {
        now_unix()
    }

    /// Writes `Date: …\r\n` and the Cache-Control line for an entry that expires at
    /// `next_update` (max-age = seconds left, RFC 5019 §6.2) into `out`.
    pub fn dynamic_headers(&self, now: i64, next_update: i64, out: &mut Vec<u8>) {
        if self.second.get() != now {
            self.second.set(now);
            let mut d = self.date_line.borrow_mut();
            d.clear();
            d.extend_from_slice(format!("Date: {}\r\n", http_date(now)).as_bytes());
        }
        out.extend_from_slice(&self.date_line.borrow());
        if next_update == i64::MAX {
            out.extend_from_slice(b"Cache-Control: public, max-age=86400\r\n");
        } else {
            out.extend_from_slice(b"Cache-Control: max-age=");
            let mut buf = itoa::Buffer::new();
            out.extend_from_slice(buf.format((next_update - now).max(0)).as_bytes());
            out.extend_from_slice(b", public, no-transform, must-revalidate\r\n");
        }
    }
}

/// Header lines of an OCSP error response (never cached by clients or proxies).
pub const OCSP_ERROR_HEAD: &[u8] =
    b"Content-Type: application/ocsp-response\r\nCache-Control: max-age=0, no-cache\r\n";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_and_validators() {
        let r = Rendered::ocsp(vec![1, 2, 3], 784_111_777, 784_111_777 + 3600);
        let head = String::from_utf8(r.head.to_vec()).unwrap();
        assert!(head.starts_with("Content-Type: application/ocsp-response\r\n"));
        assert!(head.contains("Last-Modified: Sun, 06 Nov 1994 08:49:37 GMT\r\n"));
        assert!(head.contains("Expires: Sun, 06 Nov 1994 09:49:37 GMT\r\n"));
        assert!(!String::from_utf8(r.head_304.to_vec())
            .unwrap()
            .contains("Content-Type"));
        let etag = r.etag.clone();
        assert!(r.matches(&etag));
        assert!(r.matches(
            b"\"x\", W/"
                .iter()
                .chain(etag.iter())
                .copied()
                .collect::<Vec<_>>()
                .as_slice()
        ));
        assert!(r.matches(b"*"));
        assert!(!r.matches(b"\"other\""));
        let clock = Clock::default();
        let mut out = Vec::new();
        clock.dynamic_headers(784_111_777 + 600, r.next_update, &mut out);
        let s = String::from_utf8(out).unwrap();
        assert!(
            s.contains("Cache-Control: max-age=3000, public, no-transform, must-revalidate\r\n"),
            "{s}"
        );
        assert!(s.starts_with("Date: Sun, 06 Nov 1994 08:59:37 GMT\r\n"));
    }
}
