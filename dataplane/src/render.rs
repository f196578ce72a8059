//! Pre-rendered HTTP responses: the body plus every header line that does not depend on the
//! time of the request, built once when an entry enters a core's cache. Per request only
//! `Date` and `Cache-Control: max-age` are written (RFC 5019 §6.2 caching headers).

use std::cell::{Cell, RefCell};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use sigil_shared::time::{http_date, push_http_date};

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

/// The entity tag of a body: the first 16 bytes of its SHA-256. A digest, not a timestamp: a
/// revocation in the same second as the issuance changes the body but not thisUpdate.
pub fn etag_digest(body: &[u8]) -> [u8; 16] {
    let digest = sigil_shared::ocsp::HashAlg::Sha256.digest(body);
    let mut out = [0u8; 16];
    out.copy_from_slice(&digest[..16]);
    out
}

/// The quoted form of an entity tag, `"<32 hex digits>"`.
pub fn quoted_etag(digest: &[u8; 16]) -> [u8; 34] {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = [b'"'; 34];
    for (i, b) in digest.iter().enumerate() {
        out[1 + 2 * i] = HEX[(b >> 4) as usize];
        out[2 + 2 * i] = HEX[(b & 15) as usize];
    }
    out
}

/// Appends the header lines that do not depend on the time of the request — Content-Type,
/// Last-Modified (when `this_update` > 0), ETag, Expires (unless `next_update` is
/// `i64::MAX`) — and returns where the validators (ETag, Expires; what a 304 repeats,
/// RFC 9110 §15.4.5) start.
pub fn push_entity_head(
    out: &mut Vec<u8>,
    content_type: &[u8],
    this_update: i64,
    next_update: i64,
    etag: &[u8],
) -> usize {
    push_entity_head_with(
        out,
        content_type,
        this_update,
        next_update,
        etag,
        push_http_date,
    )
}

/// [`push_entity_head`] with the HTTP dates written by `date`.
fn push_entity_head_with(
    out: &mut Vec<u8>,
    content_type: &[u8],
    this_update: i64,
    next_update: i64,
    etag: &[u8],
    mut date: impl FnMut(&mut Vec<u8>, i64),
) -> usize {
    out.extend_from_slice(b"Content-Type: ");
    out.extend_from_slice(content_type);
    out.extend_from_slice(b"\r\n");
    if this_update > 0 {
        out.extend_from_slice(b"Last-Modified: ");
        date(out, this_update);
        out.extend_from_slice(b"\r\n");
    }
    let validators = out.len();
    out.extend_from_slice(b"ETag: ");
    out.extend_from_slice(etag);
    out.extend_from_slice(b"\r\n");
    if next_update != i64::MAX {
        out.extend_from_slice(b"Expires: ");
        date(out, next_update);
        out.extend_from_slice(b"\r\n");
    }
    validators
}

/// Whether an `If-None-Match` value matches the quoted `etag` (RFC 9110 §13.1.2, weak
/// comparison).
pub fn etag_matches(if_none_match: &[u8], etag: &[u8]) -> bool {
    if_none_match.split(|b| *b == b',').any(|t| {
        let t = t.trim_ascii();
        let t = t.strip_prefix(b"W/").unwrap_or(t);
        t == b"*" || t == etag
    })
}

impl Rendered {
    fn build(content_type: &str, body: Vec<u8>, this_update: i64, next_update: i64) -> Self {
        let digest = etag_digest(&body);
        Self::with_digest(content_type, body, this_update, next_update, &digest)
    }

    fn with_digest(
        content_type: &str,
        body: Vec<u8>,
        this_update: i64,
        next_update: i64,
        digest: &[u8; 16],
    ) -> Self {
        let etag = quoted_etag(digest);
        let mut head = Vec::with_capacity(160);
        let validators = push_entity_head(
            &mut head,
            content_type.as_bytes(),
            this_update,
            next_update,
            &etag,
        );
        Self {
            body: body.into_boxed_slice(),
            head_304: head[validators..].into(),
            head: head.into_boxed_slice(),
            etag: etag.into(),
            this_update,
            next_update,
        }
    }

    /// A pre-signed OCSP response.
    pub fn ocsp(der: Vec<u8>, this_update: i64, next_update: i64) -> Self {
        Self::build("application/ocsp-response", der, this_update, next_update)
    }

    /// A pre-signed OCSP response whose entity-tag digest ([`etag_digest`]) is already known
    /// (an index entry stores it), so the body is not hashed again.
    pub fn ocsp_with_etag(
        der: Vec<u8>,
        this_update: i64,
        next_update: i64,
        digest: &[u8; 16],
    ) -> Self {
        Self::with_digest(
            "application/ocsp-response",
            der,
            this_update,
            next_update,
            digest,
        )
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

    /// Whether an `If-None-Match` value matches this entity.
    pub fn matches(&self, if_none_match: &[u8]) -> bool {
        etag_matches(if_none_match, &self.etag)
    }
}

/// The request's wall-clock second, and the per-request header lines: `Date` (cached per
/// second) and `Cache-Control`.
#[derive(Debug, Default)]
pub struct Clock {
    second: Cell<i64>,
    date_line: RefCell<Vec<u8>>,
    /// The last wall-clock second read and the monotonic instant at which it ends.
    wall: Cell<Option<(i64, Instant)>>,
    /// The last two timestamps formatted as HTTP dates, and which one to replace next.
    dates: Cell<([Option<FormattedDate>; 2], usize)>,
}

/// A timestamp and its IMF-fixdate.
type FormattedDate = (i64, [u8; HTTP_DATE_LEN]);

/// Length of an IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`).
const HTTP_DATE_LEN: usize = 29;

impl Clock {
    /// Unix seconds at `at` (a request's [`Request::received`](crate::http::Request)). The wall
    /// clock is read at most once per second per core: in between, the current second is known
    /// to last until a monotonic instant. A step of the wall clock (NTP) is therefore seen at
    /// the next second boundary, and the second is exact to within the microseconds between
    /// `at` and the read.
    pub fn now(&self, at: Instant) -> i64 {
        if let Some((second, until)) = self.wall.get() {
            if at < until {
                return second;
            }
        }
        let wall = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        let second = wall.as_secs() as i64;
        let left = Duration::from_nanos(1_000_000_000 - u64::from(wall.subsec_nanos()));
        self.wall.set(Some((second, at + left)));
        second
    }

    /// [`push_entity_head`] for a response served from the OCSP index. Responses signed in
    /// the same run share thisUpdate and nextUpdate, so the two dates are remembered rather
    /// than formatted for every request.
    pub fn push_entity_head(
        &self,
        out: &mut Vec<u8>,
        content_type: &[u8],
        this_update: i64,
        next_update: i64,
        etag: &[u8],
    ) -> usize {
        push_entity_head_with(
            out,
            content_type,
            this_update,
            next_update,
            etag,
            |out, unix| self.push_date(out, unix),
        )
    }

    fn push_date(&self, out: &mut Vec<u8>, unix: i64) {
        let (mut slots, next) = self.dates.get();
        if let Some((_, text)) = slots.iter().flatten().find(|(t, _)| *t == unix) {
            out.extend_from_slice(text);
            return;
        }
        let start = out.len();
        push_http_date(out, unix);
        if let Ok(text) = <[u8; HTTP_DATE_LEN]>::try_from(&out[start..]) {
            slots[next] = Some((unix, text));
            self.dates.set((slots, (next + 1) % slots.len()));
        }
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

    #[test]
    fn clock_reads_the_wall_clock_once_per_second() {
        let clock = Clock::default();
        let t0 = Instant::now();
        let before = sigil_shared::time::now_unix();
        let first = clock.now(t0);
        let after = sigil_shared::time::now_unix();
        assert!((before..=after).contains(&first));
        let (second, until) = clock.wall.get().unwrap();
        assert_eq!(second, first);
        assert!(until > t0 && until <= t0 + Duration::from_secs(1));
        // Within the second the cached value is returned without a read.
        clock.wall.set(Some((42, until)));
        assert_eq!(clock.now(t0), 42);
        // At the boundary the wall clock is read again.
        assert!(clock.now(until) >= first);
        assert_ne!(clock.wall.get().unwrap().0, 42);
    }

    #[test]
    fn remembered_dates_match_formatted_ones() {
        let clock = Clock::default();
        for (this, next) in [
            (0, 1),
            (784_111_777, 784_111_777 + 3600),
            (0, 1),
            (5, 6),
            (5, 7),
        ] {
            for _ in 0..2 {
                let (mut a, mut b) = (Vec::new(), Vec::new());
                let va = clock.push_entity_head(&mut a, b"t", this, next, b"\"e\"");
                let vb = push_entity_head(&mut b, b"t", this, next, b"\"e\"");
                assert_eq!((a, va), (b, vb));
            }
        }
    }
}
