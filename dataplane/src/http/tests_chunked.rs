//! Chunked request bodies without sockets: the batch logic fed in arbitrary pieces like the
//! connection loop feeds it (chunk boundaries split across reads), limits, extensions,
//! trailers, `Expect: 100-continue`, and a round-trip property.

use proptest::prelude::*;

use super::chunked::{buffer_bound, MAX_CHUNK_LINE};
use super::dispatch::{process, Next, State};
use super::test_support::{parse_all, Response};
use super::{ErrorStyle, Handler, HttpStats, Limits, Peer, Request, ResponseWriter};

/// Answers 200 with the request's body, its target in `X-Target`.
struct BodyEcho;

impl Handler for BodyEcho {
    fn handle(&self, req: &Request<'_>, resp: &mut ResponseWriter<'_>) {
        resp.respond(200, &[("X-Target", req.target.as_bytes())], req.body);
    }
}

/// What a connection fed `data` in pieces of the given sizes (cycled) answered, and whether
/// the server closed it. Checks on every step that the read buffer stays within its bound.
fn feed_with(data: &[u8], pieces: &[usize], limits: &Limits) -> (Vec<u8>, bool) {
    let stats = HttpStats::default();
    let peer = Peer::default();
    let (mut buf, mut out, mut state) = (Vec::new(), Vec::new(), State::default());
    let mut fed = 0;
    let mut sizes = pieces.iter().copied().cycle();
    while fed < data.len() {
        let n = sizes
            .next()
            .unwrap_or(data.len())
            .max(1)
            .min(data.len() - fed);
        buf.extend_from_slice(&data[fed..fed + n]);
        fed += n;
        loop {
            let p = process(
                &mut buf,
                &mut out,
                &mut state,
                &BodyEcho,
                (limits, &stats, &peer),
            );
            assert!(p.consumed <= buf.len());
            buf.drain(..p.consumed);
            match p.next {
                Next::Flush => continue,
                Next::Close => return (out, true),
                Next::Read { need } => assert!(need == 0 || need > buf.len()),
                Next::Deferred => unreachable!("BodyEcho never defers"),
            }
            break;
        }
        assert!(
            buf.len() <= buffer_bound(limits),
            "read buffer at {} bytes",
            buf.len()
        );
    }
    (out, false)
}

fn feed(data: &[u8], pieces: &[usize]) -> (Vec<u8>, bool) {
    feed_with(data, pieces, &Limits::default())
}

fn responses(out: &[u8]) -> Vec<Response> {
    parse_all(out).unwrap_or_else(|| panic!("malformed output {:?}", String::from_utf8_lossy(out)))
}

/// A chunked POST to `target` with the given (already chunked) body.
fn chunked_post(target: &str, body: &[u8]) -> Vec<u8> {
    let mut req =
        format!("POST {target} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
            .into_bytes();
    req.extend_from_slice(body);
    req
}

/// The status of the one response to `body` chunked, which must close the connection.
fn refused_status(body: &[u8]) -> u16 {
    let (out, closed) = feed(&chunked_post("/", body), &[usize::MAX]);
    let all = responses(&out);
    assert!(closed && all.len() == 1, "{all:?}");
    all[0].status
}

const SAMPLE: &[u8] = b"5\r\nhello\r\n6;name=value\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n";

#[test]
fn http_chunked_body_decoded_at_every_split() {
    let mut stream = chunked_post("/a", SAMPLE);
    stream.extend_from_slice(b"GET /next HTTP/1.1\r\nHost: x\r\n\r\n");
    let expect = |out: &[u8], closed: bool| {
        let all = responses(out);
        assert!(!closed);
        assert_eq!(all.len(), 2, "{all:?}");
        assert_eq!(all[0].body, b"hello world");
        assert_eq!(all[0].header("x-target"), Some(&b"/a"[..]));
        assert_eq!(
            (all[1].status, all[1].header("x-target")),
            (200, Some(&b"/next"[..]))
        );
    };
    let (out, closed) = feed(&stream, &[usize::MAX]);
    expect(&out, closed);
    for cut in 1..stream.len() {
        let (out, closed) = feed(&stream, &[cut, usize::MAX]);
        expect(&out, closed);
    }
    let (out, closed) = feed(&stream, &[1]);
    expect(&out, closed);
    let (out, closed) = feed(&stream, &[3, 1, 7]);
    expect(&out, closed);
}

#[test]
fn http_chunked_pipelined_with_other_requests() {
    let mut stream = b"POST /cl HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc".to_vec();
    stream.extend(chunked_post("/ch1", b"3\r\ndef\r\n0\r\n\r\n"));
    stream.extend(chunked_post("/ch2", b"0\r\n\r\n"));
    stream.extend(b"GET /g HTTP/1.1\r\nHost: x\r\n\r\n");
    for pieces in [&[usize::MAX][..], &[1], &[5, 11]] {
        let (out, closed) = feed(&stream, pieces);
        let all = responses(&out);
        assert!(!closed);
        let got: Vec<_> = all
            .iter()
            .map(|r| (r.header("x-target").unwrap(), r.body.as_slice()))
            .collect();
        assert_eq!(
            got,
            [
                (&b"/cl"[..], &b"abc"[..]),
                (b"/ch1", b"def"),
                (b"/ch2", b""),
                (b"/g", b""),
            ]
        );
    }
}

#[test]
fn http_chunked_sizes_and_extensions() {
    let ok = |body: &[u8], want: &[u8]| {
        let (out, closed) = feed(&chunked_post("/", body), &[usize::MAX]);
        let all = responses(&out);
        assert!(
            !closed && all.len() == 1,
            "{:?}: {all:?}",
            String::from_utf8_lossy(body)
        );
        assert_eq!(all[0].body, want, "{:?}", String::from_utf8_lossy(body));
    };
    ok(b"0005\r\nhello\r\n0\r\n\r\n", b"hello");
    ok(b"A\r\n0123456789\r\n0\r\n\r\n", b"0123456789");
    ok(b"a\r\n0123456789\r\n000\r\n\r\n", b"0123456789");
    ok(b"1;a\r\nx\r\n0;b=c\r\n\r\n", b"x");
    ok(b"1 ; a = b ;c=\"q \\\" ;x\"\t\r\nx\r\n0\r\n\r\n", b"x");
    ok(b"1;a=b;c;d=\"\"\r\nx\r\n0 \r\n\r\n", b"x");
    let mut long = b"1;x=".to_vec();
    long.resize(MAX_CHUNK_LINE, b'v');
    long.extend(b"\r\nx\r\n0\r\n\r\n");
    ok(&long, b"x");

    for bad in [
        &b"\r\nhello\r\n0\r\n\r\n"[..],
        b"0x5\r\nhello\r\n0\r\n\r\n",
        b"+5\r\nhello\r\n0\r\n\r\n",
        b"-5\r\nhello\r\n0\r\n\r\n",
        b" 5\r\nhello\r\n0\r\n\r\n",
        b"5 5\r\nhello\r\n0\r\n\r\n",
        b"g\r\nhello\r\n0\r\n\r\n",
        b"1;\r\nx\r\n0\r\n\r\n",
        b"1;=b\r\nx\r\n0\r\n\r\n",
        b"1;a=\r\nx\r\n0\r\n\r\n",
        b"1;a=b c\r\nx\r\n0\r\n\r\n",
        b"1;a=\"open\r\nx\r\n0\r\n\r\n",
        b"1;a=\"\x01\"\r\nx\r\n0\r\n\r\n",
        b"1;a\x00\r\nx\r\n0\r\n\r\n",
        b"1,a\r\nx\r\n0\r\n\r\n",
        // 2^64: does not fit.
        b"10000000000000000\r\nx\r\n0\r\n\r\n",
    ] {
        assert_eq!(
            refused_status(bad),
            400,
            "{:?}",
            String::from_utf8_lossy(bad)
        );
    }
    let mut too_long = b"1;x=".to_vec();
    too_long.resize(MAX_CHUNK_LINE + 1, b'v');
    too_long.extend(b"\r\nx\r\n0\r\n\r\n");
    assert_eq!(refused_status(&too_long), 400);
    // The line never ends: refused once it is too long, without waiting for more.
    let mut endless = chunked_post("/", b"1;x=");
    endless.resize(endless.len() + MAX_CHUNK_LINE + 2, b'v');
    let (out, closed) = feed(&endless, &[100]);
    assert!(closed && responses(&out)[0].status == 400);
}

#[test]
fn http_chunked_line_ends_must_be_crlf() {
    for bad in [
        &b"5\nhello\r\n0\r\n\r\n"[..],
        b"5\r\nhello\n0\r\n\r\n",
        b"5\r\nhelloXY0\r\n\r\n",
        b"3\r\nhello\r\n0\r\n\r\n",
        b"5\r\r\nhello\r\n0\r\n\r\n",
        b"5\rX\r\nhello\r\n0\r\n\r\n",
        b"5\r\nhello\r\n0\n\r\n",
        b"5\r\nhello\r\n0\r\n\n",
        b"5\r\nhello\r\n0\r\nA: b\n\r\n",
        b"5\r\nhello\r\n0\r\n\r\r\n",
    ] {
        assert_eq!(
            refused_status(bad),
            400,
            "{:?}",
            String::from_utf8_lossy(bad)
        );
    }
}

#[test]
fn http_chunked_trailers_checked_and_dropped() {
    let (out, closed) = feed(
        &chunked_post("/", b"1\r\nx\r\n0\r\nA: 1\r\nB:\r\nC-d: x y \xff\r\n\r\n"),
        &[usize::MAX],
    );
    let all = responses(&out);
    assert!(!closed && all.len() == 1 && all[0].body == b"x", "{all:?}");
    for bad in [
        &b"0\r\nA 1\r\n\r\n"[..],
        b"0\r\nA : 1\r\n\r\n",
        b"0\r\n: 1\r\n\r\n",
        b"0\r\nA: 1\r\n folded\r\n\r\n",
        b"0\r\n\tA: 1\r\n\r\n",
        b"0\r\nA: 1\x002\r\n\r\n",
        b"0\r\nA\x7f: 1\r\n\r\n",
    ] {
        assert_eq!(
            refused_status(bad),
            400,
            "{:?}",
            String::from_utf8_lossy(bad)
        );
    }
    // The trailer section is bounded like a header section: 431.
    let limits = Limits::default();
    let mut big = b"0\r\n".to_vec();
    for i in 0..limits.max_header_bytes / 8 {
        big.extend(format!("X-{i:04}: {:>5}\r\n", "v").as_bytes());
    }
    big.extend(b"\r\n");
    assert_eq!(refused_status(&big), 431);
    let mut endless = chunked_post("/", b"0\r\nX: ");
    endless.resize(endless.len() + limits.max_header_bytes, b'v');
    let (out, closed) = feed(&endless, &[512]);
    assert!(closed && responses(&out)[0].status == 431);
}

#[test]
fn http_chunked_body_limit() {
    let limits = Limits::default();
    let max = limits.max_body_bytes;
    let at_limit = {
        let half = max / 2;
        let mut b = format!("{half:x}\r\n").into_bytes();
        b.resize(b.len() + half, b'a');
        b.extend(format!("\r\n{:x}\r\n", max - half).as_bytes());
        b.resize(b.len() + max - half, b'b');
        b.extend(b"\r\n0\r\n\r\n");
        b
    };
    let (out, closed) = feed(&chunked_post("/", &at_limit), &[1000]);
    let all = responses(&out);
    assert!(!closed && all[0].status == 200 && all[0].body.len() == max);

    // One byte more, in a third chunk: refused when its size line arrives.
    let over = [&at_limit[..at_limit.len() - 5], b"1\r\nc\r\n0\r\n\r\n"].concat();
    assert_eq!(refused_status(&over), 413);
    // A single size over the limit is refused before any data arrives.
    let (out, closed) = feed(
        &chunked_post("/", format!("{:x}\r\n", max + 1).as_bytes()),
        &[usize::MAX],
    );
    assert!(closed && responses(&out)[0].status == 413);
    assert_eq!(refused_status(b"ffffffffffffffff\r\n"), 413);

    // The key service's error style.
    let limits = Limits {
        errors: ErrorStyle::JsonMessage,
        ..Limits::default()
    };
    let (out, closed) = feed_with(&chunked_post("/", b"ffff\r\n"), &[usize::MAX], &limits);
    let all = responses(&out);
    assert!(closed && all[0].status == 413);
    assert_eq!(
        all[0].header("content-type"),
        Some(&b"application/json"[..])
    );
    assert_eq!(all[0].body, b"{\"message\":\"content too large\"}\n");
}

#[test]
fn http_chunked_tiny_chunks_keep_the_buffer_small() {
    // Ten thousand one-byte chunks with long extensions: about 1.4 MB on the wire for 10 kB of
    // body, while the buffer never holds more than the head, the body so far and one line.
    let limits = Limits::default();
    let mut body = Vec::new();
    let ext = format!(";pad={}", "p".repeat(120));
    for i in 0..limits.max_body_bytes {
        body.extend(format!("1{ext}\r\n{}\r\n", (b'a' + (i % 26) as u8) as char).as_bytes());
    }
    body.extend(b"0\r\n\r\n");
    let (out, closed) = feed(&chunked_post("/", &body), &[4096]);
    let all = responses(&out);
    assert!(!closed && all[0].status == 200);
    assert_eq!(all[0].body.len(), limits.max_body_bytes);
    assert!(all[0].body.starts_with(b"abcdefghijklmnopqrstuvwxyzab"));
}

#[test]
fn http_chunked_expect_continue() {
    let head =
        b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nExpect: 100-continue\r\n\r\n";
    let stats = HttpStats::default();
    let (limits, peer) = (Limits::default(), Peer::default());
    let (mut out, mut state) = (Vec::new(), State::default());
    let mut buf = head.to_vec();
    let mut step = |buf: &mut Vec<u8>, out: &mut Vec<u8>| {
        let p = process(buf, out, &mut state, &BodyEcho, (&limits, &stats, &peer));
        buf.drain(..p.consumed);
        p.next
    };
    assert_eq!(step(&mut buf, &mut out), Next::Read { need: 0 });
    assert_eq!(out, b"HTTP/1.1 100 Continue\r\n\r\n");
    // More of the body in pieces: no second 100.
    for piece in [&b"3\r\nab"[..], b"c\r\n", b"0\r\n"] {
        buf.extend_from_slice(piece);
        assert!(matches!(step(&mut buf, &mut out), Next::Read { .. }));
        assert_eq!(out, b"HTTP/1.1 100 Continue\r\n\r\n");
    }
    buf.extend_from_slice(b"\r\n");
    assert_eq!(step(&mut buf, &mut out), Next::Read { need: 0 });
    let all = responses(&out);
    assert_eq!((all[0].status, all[1].status), (100, 200));
    assert_eq!(all[1].body, b"abc");
    assert!(buf.is_empty());

    // The body already there: no 100.
    let (out, _) = feed(&[&head[..], b"0\r\n\r\n"].concat(), &[usize::MAX]);
    assert_eq!(
        responses(&out).iter().map(|r| r.status).collect::<Vec<_>>(),
        [200]
    );
    // Refused framing: the final answer, never a 100.
    let http10 = b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\nExpect: 100-continue\r\n\r\n";
    let (out, closed) = feed(http10, &[usize::MAX]);
    assert!(closed && responses(&out).iter().map(|r| r.status).eq([400]));
}

#[test]
fn http_head_request_with_chunked_body() {
    let req =
        b"HEAD /h HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n0\r\n\r\n";
    let (out, closed) = feed(req, &[7]);
    assert!(!closed);
    assert_eq!(
        out,
        b"HTTP/1.1 200 OK\r\nX-Target: /h\r\nContent-Length: 2\r\n\r\n"
    );
}

/// One chunk-size line's extension, valid per RFC 9112 §7.1.1.
fn extension() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        Just(";a".to_owned()),
        Just(" ; name = value".to_owned()),
        Just(";q=\"quoted \\\"; \\\\ value\"".to_owned()),
        "[a-z]{1,8}".prop_map(|n| format!(";{n}={n}")),
    ]
}

/// `body` chunked at the given cut points, each chunk with an extension, then trailers.
fn encode(body: &[u8], cuts: &[usize], exts: &[String], upper: bool, trailers: bool) -> Vec<u8> {
    let mut points: Vec<usize> = cuts.iter().map(|c| c % (body.len() + 1)).collect();
    points.push(0);
    points.push(body.len());
    points.sort_unstable();
    points.dedup();
    let mut out = Vec::new();
    let mut exts = exts.iter().cycle();
    for w in points.windows(2) {
        let size = if upper {
            format!("{:X}", w[1] - w[0])
        } else {
            format!("{:x}", w[1] - w[0])
        };
        out.extend(format!("{size}{}\r\n", exts.next().map_or("", |e| e)).as_bytes());
        out.extend_from_slice(&body[w[0]..w[1]]);
        out.extend(b"\r\n");
    }
    out.extend(format!("0{}\r\n", exts.next().map_or("", |e| e)).as_bytes());
    if trailers {
        out.extend(b"Digest: sha-256=abc\r\nX-Empty:\r\n");
    }
    out.extend(b"\r\n");
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Any body, chunked any way and read in any pieces, decodes to itself, and the request
    /// pipelined after it is answered too.
    #[test]
    fn http_prop_chunked_round_trip(
        body in proptest::collection::vec(any::<u8>(), 0..3000),
        cuts in proptest::collection::vec(any::<usize>(), 0..12),
        exts in proptest::collection::vec(extension(), 1..4),
        upper in any::<bool>(),
        trailers in any::<bool>(),
        pieces in proptest::collection::vec(1usize..700, 1..6),
    ) {
        let mut stream = chunked_post("/rt", &encode(&body, &cuts, &exts, upper, trailers));
        stream.extend(b"GET /after HTTP/1.1\r\nHost: x\r\n\r\n");
        let (out, closed) = feed(&stream, &pieces);
        let all = responses(&out);
        prop_assert!(!closed);
        prop_assert_eq!(all.len(), 2);
        prop_assert_eq!(&all[0].body, &body);
        prop_assert_eq!(all[1].header("x-target"), Some(&b"/after"[..]));
    }
}
