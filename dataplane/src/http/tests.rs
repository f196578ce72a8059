//! Connection behaviour over real TCP: persistence, pipelining, HTTP/1.0, HEAD, byte-at-a-time
//! requests, the connection limit.

use std::time::Duration;

use super::test_support::{run, short_limits, start, Client};
use super::Limits;

const GET: &[u8] = b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n";

#[test]
fn http_keep_alive_three_sequential_requests() {
    run(async {
        let (addr, stats) = start(Limits::default(), 100);
        let mut c = Client::connect(addr).await;
        for i in 0..3 {
            let req = format!("GET /seq/{i} HTTP/1.1\r\nHost: x\r\n\r\n");
            c.send(req.as_bytes()).await;
            let resp = c.response(false).await.expect("response");
            assert_eq!(resp.status, 200);
            assert_eq!(resp.body_str(), format!("Get /seq/{i} 0"));
            assert_eq!(resp.header("connection"), None);
            assert_eq!(resp.header("content-type"), Some(&b"text/plain"[..]));
        }
        assert_eq!(stats.requests.get(), 3);
        assert_eq!(stats.connections_accepted.get(), 1);
        assert_eq!(stats.connections_open.get(), 1);
    });
}

#[test]
fn http_pipelined_requests_answered_in_order() {
    run(async {
        let (addr, _) = start(Limits::default(), 100);
        let mut c = Client::connect(addr).await;
        c.send(
            b"GET /1 HTTP/1.1\r\nHost: x\r\n\r\n\
              POST /2 HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello\
              GET /3 HTTP/1.1\r\nHost: x\r\n\r\n",
        )
        .await;
        let bodies = [
            c.response(false).await.unwrap(),
            c.response(false).await.unwrap(),
            c.response(false).await.unwrap(),
        ]
        .map(|r| r.body_str().to_owned());
        assert_eq!(bodies, ["Get /1 0", "Post /2 5", "Get /3 0"]);
    });
}

#[test]
fn http_1_0_without_keep_alive_closes() {
    run(async {
        let (addr, _) = start(Limits::default(), 100);
        let mut c = Client::connect(addr).await;
        c.send(b"GET /old HTTP/1.0\r\n\r\n").await;
        let resp = c.response(false).await.unwrap();
        assert_eq!(resp.status, 200);
        assert_eq!(resp.body_str(), "Get /old 0");
        assert_eq!(resp.header("connection"), Some(&b"close"[..]));
        assert!(c.closed_within(Duration::from_secs(2)).await);
    });
}

#[test]
fn http_1_0_keep_alive_stays_open() {
    run(async {
        let (addr, _) = start(Limits::default(), 100);
        let mut c = Client::connect(addr).await;
        for _ in 0..2 {
            c.send(b"GET /old HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n")
                .await;
            let resp = c.response(false).await.unwrap();
            assert_eq!(resp.header("connection"), Some(&b"keep-alive"[..]));
        }
    });
}

#[test]
fn http_connection_close_honoured_and_pipelined_rest_ignored() {
    run(async {
        let (addr, stats) = start(Limits::default(), 100);
        let mut c = Client::connect(addr).await;
        c.send(b"GET /x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\nGET /y HTTP/1.1\r\n\r\n")
            .await;
        let all = c.read_to_close().await;
        let resps = super::test_support::parse_all(&all).unwrap();
        assert_eq!(resps.len(), 1);
        assert_eq!(resps[0].header("connection"), Some(&b"close"[..]));
        assert_eq!(stats.requests.get(), 1);
    });
}

#[test]
fn http_handler_close_closes() {
    run(async {
        let (addr, _) = start(Limits::default(), 100);
        let mut c = Client::connect(addr).await;
        c.send(b"GET /close HTTP/1.1\r\nHost: x\r\n\r\n").await;
        let resp = c.response(false).await.unwrap();
        assert_eq!(resp.header("connection"), Some(&b"close"[..]));
        assert!(c.closed_within(Duration::from_secs(2)).await);
    });
}

#[test]
fn http_head_has_no_body_but_content_length() {
    run(async {
        let (addr, _) = start(Limits::default(), 100);
        let mut c = Client::connect(addr).await;
        c.send(b"HEAD /h HTTP/1.1\r\nHost: x\r\n\r\nGET /h HTTP/1.1\r\nHost: x\r\n\r\n")
            .await;
        let head = c.response(true).await.unwrap();
        let get = c.response(false).await.unwrap();
        assert_eq!(head.status, 200);
        assert!(head.body.is_empty());
        // Content-Length of the body the server would send ("Head /h 0"), then the GET follows
        // directly: had the HEAD response carried a body, this GET response would not parse.
        assert_eq!(head.header("content-length"), Some(&b"9"[..]));
        assert_eq!(get.body_str(), "Get /h 0");
    });
}

#[test]
fn http_request_in_one_byte_writes() {
    run(async {
        let (addr, _) = start(Limits::default(), 100);
        let mut c = Client::connect(addr).await;
        let req = b"POST /slow?q=%41 HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc";
        for b in req.iter() {
            c.send(&[*b]).await;
        }
        let resp = c.response(false).await.unwrap();
        assert_eq!(resp.body_str(), "Post /slow?q=%41 3");
        // And the connection is still usable.
        c.send(GET).await;
        assert_eq!(c.response(false).await.unwrap().body_str(), "Get /a 0");
    });
}

#[test]
fn http_handler_without_response_gets_500() {
    run(async {
        let (addr, _) = start(Limits::default(), 100);
        let mut c = Client::connect(addr).await;
        c.send(b"GET /silent HTTP/1.1\r\nHost: x\r\n\r\n").await;
        let resp = c.response(false).await.unwrap();
        assert_eq!(resp.status, 500);
        assert_eq!(resp.header("cache-control"), Some(&b"no-store"[..]));
        c.send(GET).await;
        assert_eq!(c.response(false).await.unwrap().status, 200);
    });
}

#[test]
fn http_max_connections_exceeded_closes_extra() {
    run(async {
        let (addr, stats) = start(short_limits(), 1);
        let mut first = Client::connect(addr).await;
        first.send(GET).await;
        assert_eq!(first.response(false).await.unwrap().status, 200);
        let mut extra = Client::connect(addr).await;
        assert!(extra.closed_within(Duration::from_secs(2)).await);
        assert_eq!(stats.connections_rejected.get(), 1);
        // The first connection is unaffected; once it is gone a new one is served.
        first.send(b"GET /close HTTP/1.1\r\nHost: x\r\n\r\n").await;
        assert_eq!(first.response(false).await.unwrap().status, 200);
        assert!(first.closed_within(Duration::from_secs(2)).await);
        drop(first);
        monoio::time::sleep(Duration::from_millis(400)).await;
        let mut again = Client::connect(addr).await;
        again.send(GET).await;
        assert_eq!(again.response(false).await.unwrap().status, 200);
        assert_eq!(stats.connections_accepted.get(), 2);
    });
}
