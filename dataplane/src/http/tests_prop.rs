//! Property tests: arbitrary input never panics the server and always ends in well-formed
//! responses and a close.

use std::time::Duration;

use proptest::prelude::*;

use super::dispatch::{process, Next, State};
use super::test_support::{parse_all, run, short_limits, start, Client, Echo};
use super::{HttpStats, Limits};

const METHODS: &[&str] = &["GET", "GET", "POST", "POST", "HEAD", "get", "PUT"];
const TARGETS: &[&str] = &["/", "/ocsp/MFQwUjBQ%2FME4w", "/a?b=%41", "*", "http://h/x"];
const VERSIONS: &[&str] = &["HTTP/1.1", "HTTP/1.1", "HTTP/1.1", "HTTP/1.0", "HTTP/2.0"];
const FIELDS: &[&str] = &[
    "Host: b",
    "Connection: close",
    "Connection: keep-alive",
    "Expect: 100-continue",
    "Transfer-Encoding: chunked",
    "Transfer-Encoding: chunked",
    "Transfer-Encoding: gzip, chunked",
    "X-A: b",
    "X-A: b",
    "X-A: b",
    "Content-Length: 5",
    "Content-Length: 5",
    "Content-Length: 0",
    "Content-Length: 99999",
    "Content-Length: 5, 5",
    "Content-Length: x",
];

const CHUNKED: &[&str] = &[
    "5\r\nhello\r\n0\r\n\r\n",
    "2;x=y\r\nhe\r\n3\r\nllo\r\n0\r\nA: b\r\n\r\n",
    "0\r\n\r\n",
    "ffff\r\n",
    "5\nhello\r\n0\r\n\r\n",
    "3\r\nhello\r\n0\r\n\r\n",
];

/// One request built from plausible and implausible parts (mostly with `Host`); the body
/// matches a `Content-Length: 5` when there is one, and is chunked (in one of a few ways,
/// right or wrong) after `Transfer-Encoding`.
fn request() -> impl Strategy<Value = Vec<u8>> {
    use proptest::sample::select;
    let fields = proptest::collection::vec(select(FIELDS), 0..3);
    let parts = (
        select(METHODS),
        select(TARGETS),
        select(VERSIONS),
        any::<u8>(),
        fields,
        select(CHUNKED),
    );
    parts.prop_map(|(m, t, v, no_host, fields, chunked)| {
        let host = if no_host < 16 { "" } else { "Host: a\r\n" };
        let mut req = format!("{m} {t} {v}\r\n{host}");
        for f in &fields {
            req.push_str(f);
            req.push_str("\r\n");
        }
        req.push_str("\r\n");
        if fields.iter().any(|f| f.starts_with("Transfer-Encoding")) {
            req.push_str(chunked);
        } else if fields.iter().any(|f| f.starts_with("Content-Length: 5")) {
            req.push_str("hello");
        }
        req.into_bytes()
    })
}

/// Arbitrary bytes, or a few requests with an optional corrupted byte and truncation, so that
/// generated inputs reach every branch rather than failing on the first byte.
fn input() -> impl Strategy<Value = Vec<u8>> {
    let requests = (
        proptest::collection::vec(request(), 1..5),
        proptest::option::of((any::<prop::sample::Index>(), any::<u8>())),
        proptest::option::of(any::<prop::sample::Index>()),
    )
        .prop_map(|(reqs, corrupt, truncate)| {
            let mut data = reqs.concat();
            if let Some((at, byte)) = corrupt {
                let at = at.index(data.len());
                data[at] = byte;
            }
            if let Some(at) = truncate {
                data.truncate(at.index(data.len() + 1));
            }
            data
        });
    prop_oneof![1 => proptest::collection::vec(any::<u8>(), 0..600), 4 => requests]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// The batch logic alone, fed in arbitrary chunks like the connection loop does.
    #[test]
    fn http_prop_process_never_panics(data in input(), cuts in proptest::collection::vec(1usize..64, 1..8)) {
        let (limits, stats) = (Limits::default(), HttpStats::default());
        let (mut buf, mut out, mut state) = (Vec::new(), Vec::new(), State::default());
        let mut fed = 0;
        let mut cuts = cuts.into_iter().cycle();
        let mut closed = false;
        while fed < data.len() && !closed {
            let n = cuts.next().unwrap().min(data.len() - fed);
            buf.extend_from_slice(&data[fed..fed + n]);
            fed += n;
            loop {
                let p = process(
                    &mut buf,
                    &mut out,
                    &mut state,
                    &Echo,
                    (&limits, &stats, &super::Peer::default()),
                );
                prop_assert!(p.consumed <= buf.len());
                buf.drain(..p.consumed);
                match p.next {
                    Next::Flush => continue,
                    Next::Close => closed = true,
                    Next::Read { need } => prop_assert!(need == 0 || need > buf.len()),
                    Next::Deferred => prop_assert!(false, "Echo never defers"),
                }
                break;
            }
        }
        prop_assert!(parse_all(&out).is_some(), "malformed output {:?}", String::from_utf8_lossy(&out));
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 40, ..ProptestConfig::default() })]

    /// Over TCP: the client sends arbitrary bytes in arbitrary writes, then either half-closes
    /// or goes silent. The server answers with whole responses only and always closes (end of
    /// stream, 400/413/431/501, request or idle timeout), within a bounded time.
    #[test]
    fn http_prop_connection_always_answers_or_closes(
        data in input(),
        cuts in proptest::collection::vec(1usize..200, 1..6),
        half_close in any::<bool>(),
    ) {
        let (received, closed) = run(async {
            let (addr, _) = start(short_limits(), 10);
            let mut c = Client::connect(addr).await;
            let mut rest = &data[..];
            for &n in cuts.iter().cycle() {
                let n = n.min(rest.len());
                if n == 0 || !c.try_send(&rest[..n]).await {
                    break;
                }
                rest = &rest[n..];
            }
            if half_close {
                c.shutdown().await;
            }
            c.drain(Duration::from_secs(3)).await
        });
        prop_assert!(closed, "server neither answered nor closed within 3 s");
        prop_assert!(parse_all(&received).is_some(), "malformed {:?}", String::from_utf8_lossy(&received));
    }
}
