//! Message framing without sockets (RFC 9112 §6, §11.2): every request whose body length two
//! servers could read differently is refused with 400 (501 for a coding that is only not
//! implemented), before any `100 Continue`, and the connection closes after the answer.

use super::dispatch::{process, Next, State};
use super::parse::{headers, parse_head, Parse, Reject};
use super::test_support::{parse_all, Echo};
use super::{HttpStats, Limits, Peer};

/// How the head of `req` is judged: `Ok(chunked)` or the refusal.
fn framing(req: &[u8]) -> Result<bool, Reject> {
    let mut headers = headers();
    match parse_head(req, &mut headers, &Limits::default()) {
        Parse::Complete(head) => Ok(head.chunked),
        Parse::Reject { reject, .. } => Err(reject),
        Parse::Partial => panic!("partial: {:?}", String::from_utf8_lossy(req)),
    }
}

fn post(fields: &str) -> Vec<u8> {
    format!("POST / HTTP/1.1\r\nHost: x\r\n{fields}\r\n").into_bytes()
}

/// Requests refused with 400 whatever follows them.
const BAD_FRAMING: &[&str] = &[
    // Both framings (RFC 9112 §6.3 item 3), in either order, however spelled.
    "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n",
    "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n",
    "transfer-encoding: CHUNKED\r\ncontent-length: 0\r\n",
    // Duplicate or list Content-Length, even when equal (§6.3 item 5).
    "Content-Length: 5\r\nContent-Length: 5\r\n",
    "Content-Length: 5\r\nContent-Length: 6\r\n",
    "Content-Length: 5, 5\r\n",
    "Content-Length: 5,\r\n",
    "Content-Length: ,5\r\n",
    // Not 1*DIGIT, or beyond 64 bits.
    "Content-Length: +5\r\n",
    "Content-Length: -5\r\n",
    "Content-Length: 5 5\r\n",
    "Content-Length: 5\t5\r\n",
    "Content-Length: 0x5\r\n",
    "Content-Length: 5e0\r\n",
    "Content-Length: \r\n",
    "Content-Length: 18446744073709551616\r\n",
    "Content-Length: 99999999999999999999999999999\r\n",
    // The final coding is not chunked (§6.3 item 4).
    "Transfer-Encoding: gzip\r\n",
    "Transfer-Encoding: identity\r\n",
    "Transfer-Encoding: chunked, gzip\r\n",
    "Transfer-Encoding: chunked\r\nTransfer-Encoding: gzip\r\n",
    "Transfer-Encoding: chunked;q=1\r\n",
    "Transfer-Encoding: \"chunked\"\r\n",
    "Transfer-Encoding: xchunked\r\n",
    "Transfer-Encoding: chunked-false\r\n",
    "Transfer-Encoding:\r\n",
    "Transfer-Encoding: ,\r\n",
    // chunked twice (§7).
    "Transfer-Encoding: chunked, chunked\r\n",
    "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n",
    "Transfer-Encoding: gzip, chunked, chunked\r\n",
    // Not a coding at all.
    "Transfer-Encoding: g@zip, chunked\r\n",
    "Transfer-Encoding: chunked chunked\r\n",
    // Field syntax httparse refuses: whitespace before the colon, obs-fold, bare CR,
    // control characters.
    "Transfer-Encoding : chunked\r\n",
    "Content-Length : 5\r\n",
    "Transfer-Encoding\t: chunked\r\n",
    "X-Folded: a\r\n Transfer-Encoding: chunked\r\n",
    "Transfer-Encoding: identity\r\n\tchunked\r\n",
    "Content-Length: 5\r\n 6\r\n",
    " Transfer-Encoding: chunked\r\n",
    "Transfer-Encoding: chunked\rX: y\r\n",
    "Content-Length: 5\r5\r\n",
    "Transfer-Encoding: \x0bchunked\r\n",
    "Transfer-Encoding: chunked\x00\r\n",
];

#[test]
fn http_framing_ambiguities_refused_with_400() {
    for fields in BAD_FRAMING {
        assert_eq!(
            framing(&post(fields)),
            Err(Reject::BadRequest),
            "{fields:?}"
        );
    }
    // Transfer-Encoding in HTTP/1.0 means faulty framing (§6.1), even plain chunked.
    for req in [
        &b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n"[..],
        b"POST / HTTP/1.0\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n",
        b"GET / HTTP/1.0\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
    ] {
        assert_eq!(framing(req), Err(Reject::BadRequest));
    }
}

#[test]
fn http_framing_accepted_forms() {
    for (fields, chunked) in [
        ("Transfer-Encoding: chunked\r\n", true),
        ("Transfer-Encoding: Chunked\r\n", true),
        ("Transfer-Encoding:  chunked \t\r\n", true),
        ("Transfer-Encoding: , chunked,\r\n", true),
        ("Content-Length: 5\r\n", false),
        ("Content-Length: 0005\r\n", false),
        ("Content-Length:\t5 \r\n", false),
        ("Content-Length: 0\r\n", false),
        ("", false),
    ] {
        assert_eq!(framing(&post(fields)), Ok(chunked), "{fields:?}");
    }
    // A bare LF ends lines in the head (RFC 9112 §2.2 allows it; the chunked framing does not).
    assert_eq!(
        framing(b"POST / HTTP/1.1\nHost: x\nTransfer-Encoding: chunked\n\n"),
        Ok(true)
    );
}

#[test]
fn http_framing_unimplemented_codings_501() {
    for fields in [
        "Transfer-Encoding: gzip, chunked\r\n",
        "Transfer-Encoding: deflate\r\nTransfer-Encoding: chunked\r\n",
        "Transfer-Encoding: x-custom;p=1, chunked\r\n",
    ] {
        assert_eq!(
            framing(&post(fields)),
            Err(Reject::NotImplemented),
            "{fields:?}"
        );
    }
}

/// Through the batch logic: refused before the handler, before `100 Continue`, and nothing
/// after the refused request (the "smuggled" one) is ever answered.
#[test]
fn http_framing_refusal_closes_the_connection() {
    let smuggled = b"GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n";
    let cases: Vec<Vec<u8>> = BAD_FRAMING
        .iter()
        .map(|f| post(&format!("Expect: 100-continue\r\n{f}")))
        .chain([
            b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec(),
            post("Transfer-Encoding: gzip, chunked\r\n"),
        ])
        .collect();
    for case in cases {
        let mut input = [
            &b"GET /first HTTP/1.1\r\nHost: x\r\n\r\n"[..],
            &case,
            b"0\r\n\r\n",
            smuggled,
        ]
        .concat();
        let (mut out, mut state, stats) = (Vec::new(), State::default(), HttpStats::default());
        let p = process(
            &mut input,
            &mut out,
            &mut state,
            &Echo,
            (&Limits::default(), &stats, &Peer::default()),
        );
        let shown = String::from_utf8_lossy(&case);
        assert_eq!(p.next, Next::Close, "{shown}");
        let all = parse_all(&out).unwrap_or_else(|| panic!("{shown}"));
        let statuses: Vec<u16> = all.iter().map(|r| r.status).collect();
        assert!(
            statuses == [200, 400] || statuses == [200, 501],
            "{shown}: {statuses:?}"
        );
        assert_eq!(all[1].header("connection"), Some(&b"close"[..]), "{shown}");
        assert_eq!((stats.requests.get(), stats.bad_requests.get()), (1, 1));
    }
}
