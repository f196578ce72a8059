//! Unit tests without sockets: head parsing, framing helpers, response serialisation, dates,
//! batch processing.

use super::date::imf_fixdate;
use super::dispatch::{process, Next, Progress, State};
use super::parse::{headers, parse_head, parse_length, trim_ows, Parse, Reject};
use super::test_support::{parse_all, Echo};
use super::{HttpStats, Limits, Method, ResponseWriter};

fn parse(buf: &[u8], check: impl FnOnce(Parse<'_>)) {
    let mut headers = headers();
    check(parse_head(buf, &mut headers, &Limits::default()));
}

#[test]
fn http_parse_complete_head() {
    let buf = b"\r\nPOST /x%2F?y HTTP/1.0\r\nHOST: h\r\nconnection: Keep-Alive\r\nContent-length: 2\r\n\r\nab";
    parse(buf, |p| {
        let Parse::Complete(h) = p else {
            panic!("{p:?}")
        };
        assert_eq!(
            (h.method, h.target, h.version),
            (Method::Post, "/x%2F?y", 0)
        );
        assert_eq!((h.head_len, h.body_len), (buf.len() - 2, 2));
        assert!(h.keep_alive && !h.expect_continue);
        let req = super::Request {
            method: h.method,
            target: h.target,
            version: 0,
            headers: h.headers,
            body: b"",
            received: std::time::Instant::now(),
            peer: &super::Peer::default(),
        };
        assert_eq!(req.header("content-LENGTH"), Some(&b"2"[..]));
        assert_eq!(req.header("x-missing"), None);
    });
}

#[test]
fn http_parse_partial_and_rejects() {
    parse(b"GET / HTTP/1.1\r\nHost: x\r\n", |p| {
        assert!(matches!(p, Parse::Partial))
    });
    parse(b"get / HTTP/1.1\r\nHost: x\r\n\r\n", |p| {
        assert!(matches!(p, Parse::Complete(h) if h.method == Method::Other));
    });
    let reject = |buf: &[u8], want: Reject, want_head: bool| {
        parse(buf, |p| match p {
            Parse::Reject { reject, head_only } => {
                assert_eq!((reject, head_only), (want, want_head))
            }
            other => panic!("{other:?}"),
        })
    };
    reject(
        b"GET / HTTP/1.1\r\nContent-Length: 1\r\n\r\n",
        Reject::BadRequest,
        false,
    );
    reject(
        b"HEAD / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
        Reject::NotImplemented,
        true,
    );
    reject(
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10001\r\n\r\n",
        Reject::BodyTooLarge,
        false,
    );
    reject(
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999999\r\n\r\n",
        Reject::BadRequest,
        false,
    );
    reject(b"\x00\x01", Reject::BadRequest, false);
}

#[test]
fn http_connection_options() {
    let keep = |buf: &[u8]| {
        let mut keep = None;
        parse(buf, |p| {
            keep = Some(matches!(p, Parse::Complete(h) if h.keep_alive))
        });
        keep.unwrap()
    };
    assert!(keep(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
    assert!(!keep(
        b"GET / HTTP/1.1\r\nHost: x\r\nConnection: foo, CLOSE\r\n\r\n"
    ));
    assert!(!keep(b"GET / HTTP/1.0\r\n\r\n"));
    assert!(keep(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"));
    assert!(!keep(
        b"GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n"
    ));
}

#[test]
fn http_length_and_ows() {
    assert_eq!(parse_length(b"0"), Some(0));
    assert_eq!(parse_length(b"00010"), Some(10));
    assert_eq!(parse_length(b"18446744073709551615"), Some(u64::MAX));
    assert_eq!(parse_length(b"18446744073709551616"), None);
    assert_eq!(parse_length(b"99999999999999999999999"), None);
    assert_eq!(parse_length(b"+1"), None);
    assert_eq!(parse_length(b"1 0"), None);
    assert_eq!(parse_length(b""), None);
    assert_eq!(parse_length(b"1a"), None);
    assert_eq!(trim_ows(b" \t a b\t "), b"a b");
    assert_eq!(trim_ows(b"  "), b"");
}

#[test]
fn http_imf_fixdate() {
    assert_eq!(&imf_fixdate(0), b"Thu, 01 Jan 1970 00:00:00 GMT");
    assert_eq!(&imf_fixdate(784_111_777), b"Sun, 06 Nov 1994 08:49:37 GMT");
    assert_eq!(&imf_fixdate(951_782_400), b"Tue, 29 Feb 2000 00:00:00 GMT");
    assert_eq!(
        &imf_fixdate(1_767_225_599),
        b"Wed, 31 Dec 2025 23:59:59 GMT"
    );
    assert_eq!(&imf_fixdate(u64::MAX)[12..16], b"9999");
}

#[test]
fn http_response_writer_framing() {
    let mut out = Vec::new();
    let mut rw = ResponseWriter::new(&mut out, true, false, false);
    rw.respond_raw(
        200,
        b"Content-Type: application/ocsp-response\r\n",
        b"ETag: \"1\"\r\n",
        b"DER",
    );
    rw.respond(200, &[], b"ignored: second response");
    assert_eq!(
        out,
        b"HTTP/1.1 200 OK\r\nContent-Type: application/ocsp-response\r\nETag: \"1\"\r\n\
          Content-Length: 3\r\n\r\nDER"
    );

    let mut out = Vec::new();
    let mut rw = ResponseWriter::new(&mut out, true, true, true);
    rw.close();
    rw.respond(
        404,
        &[
            ("X-Ok", b"1"),
            ("Bad:Name", b"v"),
            ("X-Split", b"a\r\nInjected: 1"),
        ],
        b"nope",
    );
    assert_eq!(
        out,
        b"HTTP/1.1 404 Not Found\r\nX-Ok: 1\r\nContent-Length: 4\r\nConnection: close\r\n\r\n"
    );

    let mut out = Vec::new();
    ResponseWriter::new(&mut out, true, false, true).respond(204, &[], b"dropped");
    assert_eq!(
        out,
        b"HTTP/1.1 204 No Content\r\nConnection: keep-alive\r\n\r\n"
    );

    let mut out = Vec::new();
    ResponseWriter::new(&mut out, true, false, false).respond(42, &[], b"");
    assert!(out.starts_with(b"HTTP/1.1 500 Internal Server Error\r\n"));
    let mut out = Vec::new();
    ResponseWriter::new(&mut out, true, false, false).respond(299, &[], b"");
    assert!(out.starts_with(b"HTTP/1.1 299 \r\n"));
}

#[test]
fn http_response_writer_fills_the_body_in_place() {
    let mut out = b"previous response".to_vec();
    let mut rw = ResponseWriter::new(&mut out, true, false, false);
    rw.respond_raw_with(200, b"A: 1\r\n", b"", 3, |o| o.extend_from_slice(b"DER"));
    assert!(rw.keep_alive());
    assert_eq!(
        out,
        b"previous responseHTTP/1.1 200 OK\r\nA: 1\r\nContent-Length: 3\r\n\r\nDER"
    );

    // HEAD: the length is announced, the body never produced.
    let mut out = Vec::new();
    let mut rw = ResponseWriter::new(&mut out, true, true, false);
    rw.respond_raw_with(200, b"", b"", 3, |_| panic!("no body for HEAD"));
    assert_eq!(out, b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n");

    // A body of another length than announced becomes a 500 that closes the connection,
    // and what came before it in the buffer is kept.
    let mut out = b"previous".to_vec();
    let mut rw = ResponseWriter::new(&mut out, true, false, false);
    rw.respond_raw_with(200, b"A: 1\r\n", b"", 3, |o| o.extend_from_slice(b"DERX"));
    assert!(!rw.keep_alive() && rw.responded());
    assert!(out.starts_with(b"previousHTTP/1.1 500 Internal Server Error\r\n"));
    assert!(out.ends_with(b"internal server error\n"));
}

fn run_process(input: &[u8]) -> (Progress, Vec<u8>, HttpStats) {
    let (mut out, stats) = (Vec::new(), HttpStats::default());
    let p = process(
        &mut input.to_vec(),
        &mut out,
        &mut State::default(),
        &Echo,
        (&Limits::default(), &stats, &super::Peer::default()),
    );
    (p, out, stats)
}

#[test]
fn http_process_stops_at_partial_request() {
    let first = b"GET /1 HTTP/1.1\r\nHost: x\r\n\r\n\r\n";
    let mut input = first.to_vec();
    input.extend(b"POST /2 HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\nab");
    let (p, out, stats) = run_process(&input);
    // The CRLF after the first request is consumed with it; the POST still needs 2 bytes.
    assert_eq!(
        p,
        Progress {
            consumed: first.len(),
            next: Next::Read {
                need: input.len() + 2 - first.len()
            }
        }
    );
    assert_eq!(parse_all(&out).unwrap().len(), 1);
    assert_eq!(stats.requests.get(), 1);
}

#[test]
fn http_process_sends_100_continue_once() {
    let req = b"POST / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n";
    let (mut out, stats, mut state) = (Vec::new(), HttpStats::default(), State::default());
    let limits = Limits::default();
    for _ in 0..2 {
        let p = process(
            &mut req.to_vec(),
            &mut out,
            &mut state,
            &Echo,
            (&limits, &stats, &super::Peer::default()),
        );
        assert_eq!(
            p.next,
            Next::Read {
                need: req.len() + 2
            }
        );
    }
    assert_eq!(out, b"HTTP/1.1 100 Continue\r\n\r\n");
    // HTTP/1.0: the expectation is ignored.
    let (_, out, _) =
        run_process(b"POST / HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n");
    assert!(out.is_empty());
}

#[test]
fn http_process_close_stops_batch() {
    let (p, out, stats) = run_process(b"GET / HTTP/1.0\r\n\r\nGET / HTTP/1.0\r\n\r\n");
    assert_eq!(
        p,
        Progress {
            consumed: 18,
            next: Next::Close
        }
    );
    assert_eq!(parse_all(&out).unwrap().len(), 1);
    assert_eq!(stats.requests.get(), 1);
    let (p, out, stats) = run_process(b"BAD\r\n\r\n");
    assert_eq!(p.next, Next::Close);
    assert_eq!(parse_all(&out).unwrap()[0].status, 400);
    assert_eq!(stats.bad_requests.get(), 1);
}
