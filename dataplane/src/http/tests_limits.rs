//! Size limits and refused requests over real TCP: 413, 431, 400, 501, `Expect: 100-continue`,
//! chunked bodies.

use std::time::Duration;

use super::test_support::{parse_all, run, start, Client, Response};
use super::Limits;

fn post(len: usize, expect: bool) -> Vec<u8> {
    let expect = if expect {
        "Expect: 100-continue\r\n"
    } else {
        ""
    };
    format!("POST /ocsp HTTP/1.1\r\nHost: x\r\n{expect}Content-Length: {len}\r\n\r\n").into_bytes()
}

/// Sends `req`, expects exactly one response followed by a close, returns it.
async fn refused(req: &[u8]) -> Response {
    let (addr, _) = start(Limits::default(), 100);
    let mut c = Client::connect(addr).await;
    c.send(req).await;
    let mut all = parse_all(&c.read_to_close().await).expect("well-formed responses");
    assert_eq!(all.len(), 1, "{all:?}");
    let resp = all.remove(0);
    assert_eq!(resp.header("connection"), Some(&b"close"[..]));
    assert_eq!(resp.header("cache-control"), Some(&b"no-store"[..]));
    assert_eq!(
        resp.header("content-type"),
        Some(&b"text/plain; charset=utf-8"[..])
    );
    assert!(resp.header("date").is_some());
    assert!(!resp.body.is_empty() && resp.body.len() < 64);
    resp
}

#[test]
fn http_body_at_limit_accepted() {
    run(async {
        let (addr, stats) = start(Limits::default(), 100);
        let mut c = Client::connect(addr).await;
        let mut req = post(10_000, false);
        req.extend(std::iter::repeat_n(b'b', 10_000));
        c.send(&req).await;
        assert_eq!(
            c.response(false).await.unwrap().body_str(),
            "Post /ocsp 10000"
        );
        assert_eq!(stats.requests.get(), 1);
    });
}

#[test]
fn http_body_over_limit_413() {
    run(async {
        let mut req = post(10_001, false);
        req.extend(std::iter::repeat_n(b'b', 10_001));
        assert_eq!(refused(&req).await.status, 413);
    });
}

#[test]
fn http_expect_continue_over_limit_413_without_100() {
    run(async {
        let (addr, stats) = start(Limits::default(), 100);
        let mut c = Client::connect(addr).await;
        c.send(&post(10_001, true)).await;
        // The first thing back is the final 413, no interim 100.
        let resp = c.response(false).await.unwrap();
        assert_eq!(resp.status, 413);
        assert!(c.closed_within(Duration::from_secs(2)).await);
        assert_eq!(stats.too_large.get(), 1);
    });
}

#[test]
fn http_expect_continue_within_limit_gets_100() {
    run(async {
        let (addr, _) = start(Limits::default(), 100);
        let mut c = Client::connect(addr).await;
        c.send(&post(4, true)).await;
        assert_eq!(c.response(false).await.unwrap().status, 100);
        c.send(b"body").await;
        assert_eq!(c.response(false).await.unwrap().body_str(), "Post /ocsp 4");
    });
}

#[test]
fn http_chunked_expect_continue_and_limit() {
    run(async {
        let (addr, stats) = start(Limits::default(), 100);
        let mut c = Client::connect(addr).await;
        let head = b"POST /c HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nTransfer-Encoding: chunked\r\n\r\n";
        c.send(head).await;
        assert_eq!(c.response(false).await.unwrap().status, 100);
        c.send(b"4\r\nbody\r\n0\r\n\r\n").await;
        assert_eq!(c.response(false).await.unwrap().body_str(), "Post /c 4");
        // On the same connection: a chunk beyond the body limit is refused as soon as its
        // size line arrives, after the 100 (the size was not known before).
        c.send(head).await;
        assert_eq!(c.response(false).await.unwrap().status, 100);
        c.send(b"2711\r\n").await;
        let resp = c.response(false).await.unwrap();
        assert_eq!(resp.status, 413);
        assert_eq!(resp.header("connection"), Some(&b"close"[..]));
        assert!(c.closed_within(Duration::from_secs(2)).await);
        assert_eq!((stats.requests.get(), stats.too_large.get()), (1, 1));
    });
}

#[test]
fn http_oversized_headers_431() {
    run(async {
        let mut req = b"GET / HTTP/1.1\r\nHost: x\r\nX-Pad: ".to_vec();
        req.extend(std::iter::repeat_n(b'p', 9000));
        req.extend(b"\r\n\r\n");
        assert_eq!(refused(&req).await.status, 431);
    });
}

#[test]
fn http_oversized_headers_431_before_end_of_head() {
    run(async {
        // The head never ends: refused as soon as the limit is reached.
        let (addr, stats) = start(Limits::default(), 100);
        let mut c = Client::connect(addr).await;
        let mut req = b"GET / HTTP/1.1\r\nX-Pad: ".to_vec();
        req.extend(std::iter::repeat_n(b'p', 8192));
        c.send(&req).await;
        assert_eq!(c.response(false).await.unwrap().status, 431);
        assert_eq!(stats.too_large.get(), 1);
    });
}

#[test]
fn http_too_many_headers_431() {
    run(async {
        let mut req = b"GET / HTTP/1.1\r\nHost: x\r\n".to_vec();
        for i in 0..70 {
            req.extend(format!("X-{i}: v\r\n").as_bytes());
        }
        req.extend(b"\r\n");
        assert_eq!(refused(&req).await.status, 431);
    });
}

#[test]
fn http_garbage_request_line_400() {
    run(async {
        let resp = refused(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03garbage\r\n\r\n").await;
        assert_eq!(resp.status, 400);
        assert_eq!(
            refused(b"GET  HTTP/1.1 extra\r\nHost: x\r\n\r\n")
                .await
                .status,
            400
        );
        assert_eq!(
            refused(b"GET / HTTP/2.0\r\nHost: x\r\n\r\n").await.status,
            400
        );
        assert_eq!(
            refused(b"GET / HTTP/1.1\r\nBad Name: v\r\n\r\n")
                .await
                .status,
            400
        );
    });
}

#[test]
fn http_transfer_encoding_framing() {
    run(async {
        let (addr, _) = start(Limits::default(), 100);
        let mut c = Client::connect(addr).await;
        c.send(b"POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n")
            .await;
        assert_eq!(c.response(false).await.unwrap().body_str(), "Post /c 5");
        let both = b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\nabc";
        assert_eq!(refused(both).await.status, 400);
        let gzip = b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\nabc";
        assert_eq!(refused(gzip).await.status, 400);
        let unknown =
            b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n";
        assert_eq!(refused(unknown).await.status, 501);
    });
}

#[test]
fn http_bad_content_length_400() {
    run(async {
        for cl in ["abc", "-1", "", "1 2", "+5", "5, 6", "0x10"] {
            let req = format!("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: {cl}\r\n\r\n");
            assert_eq!(refused(req.as_bytes()).await.status, 400, "{cl:?}");
        }
        let dup =
            b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd";
        assert_eq!(refused(dup).await.status, 400);
    });
}

#[test]
fn http_identical_content_lengths_refused() {
    run(async {
        // RFC 9112 §6.3 would allow accepting equal values; refusing leaves no ambiguity.
        let list = b"POST /p HTTP/1.1\r\nHost: x\r\nContent-Length: 3, 3\r\n\r\nabc";
        assert_eq!(refused(list).await.status, 400);
        let twice =
            b"POST /p HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc";
        assert_eq!(refused(twice).await.status, 400);
    });
}

#[test]
fn http_host_required_for_1_1_and_unique() {
    run(async {
        assert_eq!(refused(b"GET / HTTP/1.1\r\n\r\n").await.status, 400);
        assert_eq!(
            refused(b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n")
                .await
                .status,
            400
        );
    });
}

#[test]
fn http_refused_head_request_has_no_body() {
    run(async {
        let (addr, _) = start(Limits::default(), 100);
        let mut c = Client::connect(addr).await;
        c.send(b"HEAD / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: x, chunked\r\n\r\n")
            .await;
        let resp = c.response(true).await.unwrap();
        assert_eq!(resp.status, 501);
        // Nothing follows the head: the connection closes.
        assert!(c.closed_within(Duration::from_secs(2)).await);
    });
}
