//! Timeouts over real TCP, with `short_limits` (request 200 ms, idle 300 ms, write 300 ms).

use std::time::{Duration, Instant};

use super::test_support::{parse_all, run, run_uring, short_limits, start, Client, BIG};

#[test]
fn http_stalled_half_request_gets_408() {
    run(async {
        let (addr, stats) = start(short_limits(), 100);
        let mut c = Client::connect(addr).await;
        let t0 = Instant::now();
        c.send(b"GET /half HTTP/1.1\r\nHost: x\r\n").await;
        let all = c.read_to_close().await;
        let elapsed = t0.elapsed();
        let resps = parse_all(&all).unwrap();
        assert_eq!(resps.len(), 1);
        assert_eq!(resps[0].status, 408);
        assert_eq!(resps[0].header("connection"), Some(&b"close"[..]));
        assert_eq!(resps[0].header("cache-control"), Some(&b"no-store"[..]));
        assert!(elapsed >= Duration::from_millis(190), "{elapsed:?}");
        assert!(elapsed < Duration::from_millis(1500), "{elapsed:?}");
        assert_eq!(stats.timeouts.get(), 1);
    });
}

#[test]
fn http_trickling_request_gets_408() {
    // Slowloris: a byte every 50 ms keeps the connection busy but the request never completes
    // within request_timeout, which runs from the first byte.
    run(async {
        let (addr, _) = start(short_limits(), 100);
        let mut c = Client::connect(addr).await;
        let t0 = Instant::now();
        let req = b"GET /trickle HTTP/1.1\r\nHost: x\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaa\r\n\r\n";
        for b in req.iter() {
            if !c.try_send(&[*b]).await {
                break;
            }
            if c.fill_within(Duration::from_millis(50)).await.is_some() {
                break;
            }
        }
        let all = c.read_to_close().await;
        assert_eq!(parse_all(&all).unwrap()[0].status, 408);
        assert!(t0.elapsed() < Duration::from_millis(1500));
    });
}

#[test]
fn http_trickling_chunked_body_gets_408() {
    // A chunked body whose chunks keep coming, each complete, is still one request: cut off
    // like a slow Content-Length body when request_timeout (from its first byte) passes.
    run(async {
        let (addr, stats) = start(short_limits(), 100);
        let mut c = Client::connect(addr).await;
        let t0 = Instant::now();
        c.send(b"POST /slow HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
            .await;
        while t0.elapsed() < Duration::from_secs(2) {
            if !c.try_send(b"1\r\nx\r\n").await {
                break;
            }
            if c.fill_within(Duration::from_millis(40)).await.is_some() {
                break;
            }
        }
        let all = c.read_to_close().await;
        let elapsed = t0.elapsed();
        assert_eq!(parse_all(&all).unwrap()[0].status, 408);
        assert!(elapsed >= Duration::from_millis(190), "{elapsed:?}");
        assert!(elapsed < Duration::from_millis(1500), "{elapsed:?}");
        assert_eq!(stats.timeouts.get(), 1);
        // The server goes on serving.
        let mut ok = Client::connect(addr).await;
        ok.send(b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n").await;
        assert_eq!(ok.response(false).await.unwrap().status, 200);
    });
}

#[test]
fn http_idle_keep_alive_closed_silently() {
    run(async {
        let (addr, stats) = start(short_limits(), 100);
        let mut c = Client::connect(addr).await;
        c.send(b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n").await;
        assert_eq!(c.response(false).await.unwrap().status, 200);
        let t0 = Instant::now();
        // Longer than request_timeout: an idle connection is not mid-request.
        assert!(
            c.closed_within(Duration::from_secs(2)).await,
            "closed without a response"
        );
        let elapsed = t0.elapsed();
        assert!(elapsed >= Duration::from_millis(250), "{elapsed:?}");
        assert_eq!(stats.timeouts.get(), 0);
    });
}

#[test]
fn http_fresh_connection_idle_closed_silently() {
    run(async {
        let (addr, _) = start(short_limits(), 100);
        let mut c = Client::connect(addr).await;
        assert!(c.closed_within(Duration::from_secs(2)).await);
    });
}

#[test]
fn http_stray_crlf_after_request_leaves_connection_idle() {
    run(async {
        let (addr, stats) = start(short_limits(), 100);
        let mut c = Client::connect(addr).await;
        c.send(b"POST /p HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\nz\r\n")
            .await;
        assert_eq!(c.response(false).await.unwrap().body_str(), "Post /p 1");
        // Closed by the idle timeout, silently: not a 408.
        assert!(c.closed_within(Duration::from_secs(2)).await);
        assert_eq!(stats.timeouts.get(), 0);
    });
}

#[test]
fn http_reader_that_never_reads_hits_write_timeout() {
    run(reader_that_never_reads());
}

#[test]
fn http_io_uring_write_timeout_ends_the_stalled_write() {
    // The write carries no cancel handle: the timeout shuts the socket down, which must end
    // the send pending in io_uring (else the connection and its slot would stay).
    if run_uring(reader_that_never_reads()).is_none() {
        eprintln!("io_uring unavailable here; io_uring write timeout test skipped");
    }
}

async fn reader_that_never_reads() {
    {
        let (addr, stats) = start(short_limits(), 100);
        let mut c = Client::connect(addr).await;
        c.send(b"GET /big HTTP/1.1\r\nHost: x\r\n\r\n").await;
        // Never read: the socket buffers fill long before BIG bytes, the write stalls.
        let t0 = Instant::now();
        while stats.timeouts.get() == 0 && t0.elapsed() < Duration::from_secs(5) {
            monoio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(stats.timeouts.get(), 1);
        assert!(stats.connections_open.get() == 0);
        // What did arrive is a truncated response, then the connection ends.
        let mut received = 0;
        while c.fill_within(Duration::from_secs(2)).await == Some(true) {
            received += 1;
        }
        assert!(received > 0 && BIG > 0);
    }
}

#[test]
fn http_io_uring_timeouts_cancel_pending_reads() {
    // Under io_uring a timed-out read must be cancelled, not just dropped: otherwise the kernel
    // keeps the socket open after the server lets go of it and neither close reaches the client.
    let ran = run_uring(async {
        let (addr, stats) = start(short_limits(), 100);
        let mut stalled = Client::connect(addr).await;
        stalled.send(b"GET /half HTTP/1.1\r\n").await;
        let all = stalled.read_to_close().await;
        assert_eq!(parse_all(&all).unwrap()[0].status, 408);
        let mut idle = Client::connect(addr).await;
        assert!(idle.closed_within(Duration::from_secs(2)).await);
        // Idle after a response (the read between requests has no cancel handle).
        let mut kept = Client::connect(addr).await;
        kept.send(b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n").await;
        assert_eq!(kept.response(false).await.unwrap().status, 200);
        assert!(kept.closed_within(Duration::from_secs(2)).await);
        assert_eq!(stats.connections_open.get(), 0);
        let mut ok = Client::connect(addr).await;
        ok.send(b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n").await;
        assert_eq!(ok.response(false).await.unwrap().status, 200);
        assert_eq!(stats.timeouts.get(), 1);
    });
    if ran.is_none() {
        eprintln!("io_uring unavailable here; io_uring timeout test skipped");
    }
}
