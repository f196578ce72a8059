//! Hostile and odd HTTP against `sigil-dp`: malformed and oversized bodies, garbage paths,
//! idle and slow connections, pipelining, HTTP/1.0, and memory under a flood of bad requests.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::thread::sleep;
use std::time::{Duration, Instant};

use sigil_tests::dp::{connect, get_request, ocsp_request, post_request, read_response, DataPlane};
use sigil_tests::pki::{base64_encode, combined, ocsp_verify, run_unchecked, unique_path};
use sigil_tests::{rawhttp, write_file, CertFiles, ControlPlane};

const MALFORMED: [u8; 5] = [0x30, 0x03, 0x0a, 0x01, 0x01];
const CONFIG: &str = "[http]\nidle_timeout_secs = 1\nrequest_timeout_secs = 1\n";

fn setup() -> (ControlPlane, DataPlane, CertFiles, Vec<u8>) {
    let cp = ControlPlane::start();
    let dp = DataPlane::start_with_config(&cp.base_url(), Some(CONFIG));
    let cert = cp.issue_new(&cp.demo_issuer_id(), "bad-input.example.com");
    let files = cert.write(&dp.work_dir(), "leaf");
    let req = ocsp_request(&dp.work_dir(), &files, false);
    (cp, dp, files, req)
}

/// Asserts that the data plane still answers a good OCSP request correctly.
fn assert_still_good(dp: &DataPlane, files: &CertFiles, req: &[u8], after: &str) {
    let r = dp.post_ocsp("/", req);
    let out = ocsp_verify(&dp.work_dir(), &r.body, files, "sha1").1;
    assert!(out.contains(": good"), "after {after}: {out}\n{}", r.head);
}

#[test]
fn dataplane_malformed_truncated_and_oversized_bodies() {
    let (_cp, mut dp, files, req) = setup();
    let dir = dp.work_dir();
    // The replica may lag the issuance by a few ms.
    sigil_tests::dp::wait_for(Duration::from_secs(10), "the certificate", || {
        let r = dp.post_ocsp("/", &req);
        (r.body.len() > 5).then_some(())
    });

    for body in [
        &b"\x30\x03junk"[..],
        b"not DER at all",
        &[0x30, 0x82, 0xff, 0xff, 0x01],
    ] {
        let r = dp.post_ocsp("/", body);
        assert_eq!(r.status, 200, "malformed POST: {}", r.head);
        assert_eq!(r.body, MALFORMED, "malformed POST {body:02x?}");
        assert_eq!(
            r.header("cache-control"),
            Some("max-age=0, no-cache"),
            "{}",
            r.head
        );
        let f = unique_path(&dir, "malformed", "der");
        write_file(&f, &r.body);
        let args = [
            "ocsp",
            "-respin",
            f.to_str().unwrap(),
            "-resp_text",
            "-noverify",
        ];
        let text = combined(&run_unchecked("openssl", &args));
        assert!(
            text.contains("malformedrequest"),
            "openssl on the answer: {text}"
        );
    }

    // Content-Length 100, 10 bytes, then the client goes away.
    let mut s = connect(dp.port());
    let head = "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n0123456789";
    s.write_all(head.as_bytes()).unwrap();
    s.shutdown(Shutdown::Write).unwrap();
    let mut rest = Vec::new();
    let _ = s.read_to_end(&mut rest);
    println!(
        "truncated body: server sent {:?}",
        String::from_utf8_lossy(&rest)
    );
    assert_still_good(&dp, &files, &req, "a truncated body");

    let r = dp.post_ocsp("/", &vec![0x41; 10_000]);
    assert_eq!(
        (r.status, r.body.as_slice()),
        (200, &MALFORMED[..]),
        "10,000-byte POST: {}",
        r.head
    );

    let big = vec![0x41; 10_001];
    let r = rawhttp::post_expect_continue(dp.port(), "/", "x", "application/ocsp-request", &big);
    assert_eq!(
        r.status, 413,
        "10,001-byte POST with Expect: 100-continue:\n{}",
        r.head
    );
    let mut s = connect(dp.port());
    let _ = s.write_all(&post_request("/", &big));
    let r = read_response(&mut s, &mut Vec::new()).expect("an answer to a 10,001-byte POST");
    assert_eq!(r.status, 413, "10,001-byte POST:\n{}", r.head);
    assert_still_good(&dp, &files, &req, "oversized bodies");
    dp.assert_alive();
}

#[test]
fn dataplane_garbage_paths_and_methods() {
    let (_cp, mut dp, files, req) = setup();
    let long = |n: usize| format!("/{}", "z!".repeat(n / 2));
    let cases: Vec<(String, &str, &[u16])> = vec![
        ("/favicon.ico".into(), "GET", &[404]),
        ("/%zz".into(), "GET", &[404]),
        ("/%".into(), "GET", &[404]),
        ("/ocsp/%%%".into(), "GET", &[404]),
        (long(6 * 1024), "GET", &[404, 431]),
        (long(9 * 1024), "GET", &[404, 431]),
        ("/".into(), "PUT", &[404, 405]),
        ("/ocsp".into(), "DELETE", &[404, 405]),
        ("/crl/demo.crl".into(), "POST", &[404, 405]),
        ("/ca/demo.pem".into(), "PATCH", &[404, 405]),
        ("/no/such/route".into(), "GET", &[404]),
    ];
    for (path, method, want) in &cases {
        let raw = format!("{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        let r = dp.send(raw.as_bytes());
        let shown = &path[..path.len().min(40)];
        println!("{method} {shown} ({} bytes) → {}", path.len(), r.status);
        assert!(
            want.contains(&r.status),
            "{method} {shown}: want {want:?}, got\n{}",
            r.head
        );
    }
    assert_still_good(&dp, &files, &req, "garbage paths");
    dp.assert_alive();
}

/// Waits for the server to close `s` (EOF or reset); how long it took, or None by `deadline`.
fn closed_by(s: &mut TcpStream, deadline: Instant) -> Option<(Duration, Vec<u8>)> {
    let start = Instant::now();
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    loop {
        let left = deadline.checked_duration_since(Instant::now())?;
        s.set_read_timeout(Some(left.max(Duration::from_millis(1))))
            .unwrap();
        match s.read(&mut buf) {
            Ok(0) => return Some((start.elapsed(), got)),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {
                return Some((start.elapsed(), got))
            }
            Err(_) => return None,
        }
    }
}

#[test]
fn dataplane_idle_and_slow_connections_are_closed() {
    let (_cp, mut dp, files, req) = setup();
    let mut conns: Vec<TcpStream> = (0..100).map(|_| connect(dp.port())).collect();
    for s in conns.iter_mut().take(50) {
        // Half of them idle after one keep-alive request, half never send anything.
        s.write_all(b"GET /favicon.ico HTTP/1.1\r\nHost: x\r\n\r\n")
            .unwrap();
        let r = read_response(s, &mut Vec::new()).unwrap();
        assert_eq!(r.status, 404);
    }
    let start = Instant::now();
    let deadline = start + Duration::from_secs(3);
    for (i, s) in conns.iter_mut().enumerate() {
        let closed = closed_by(s, deadline);
        assert!(closed.is_some(), "idle connection {i} still open after 3 s");
    }
    println!("100 idle connections closed within {:?}", start.elapsed());

    // Slowloris: a partial header, then nothing.
    let mut s = connect(dp.port());
    let start = Instant::now();
    s.write_all(b"GET /favicon.ico HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        .unwrap();
    let (took, got) = closed_by(&mut s, start + Duration::from_secs(3))
        .unwrap_or_else(|| panic!("partial header: still open after 3 s"));
    let text = String::from_utf8_lossy(&got);
    println!(
        "partial header: closed after {took:?} with {:?}",
        text.lines().next()
    );
    assert!(
        got.is_empty() || text.starts_with("HTTP/1.1 408"),
        "partial header: {text}"
    );

    // Slowloris proper: one header byte every 200 ms.
    let mut s = connect(dp.port());
    let start = Instant::now();
    let mut cut_off = None;
    for b in b"GET /favicon.ico HTTP/1.1\r\nHost: x\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaa".iter() {
        if start.elapsed() > Duration::from_secs(3) {
            break;
        }
        if s.write_all(&[*b]).is_err() {
            cut_off = Some(start.elapsed());
            break;
        }
        sleep(Duration::from_millis(200));
        let mut peek = [0u8; 1];
        s.set_nonblocking(true).unwrap();
        let r = s.peek(&mut peek);
        s.set_nonblocking(false).unwrap();
        // An answer (408), EOF or a reset: the server gave up on us.
        if !matches!(&r, Err(e) if e.kind() == std::io::ErrorKind::WouldBlock) {
            cut_off = Some(start.elapsed());
            break;
        }
    }
    let took = cut_off.unwrap_or_else(|| panic!("dribbling client still served after 3 s"));
    println!("dribbling client cut off after {took:?}");
    assert!(
        took < Duration::from_secs(3),
        "dribbling client cut off only after {took:?}"
    );
    let timeouts = dp.metric("sigil_dp_http_timeouts_total");
    println!("sigil_dp_http_timeouts_total = {timeouts}");
    assert_still_good(&dp, &files, &req, "idle and slow connections");
    dp.assert_alive();
}

#[test]
fn dataplane_pipelining_http10_and_memory_under_bad_requests() {
    let (cp, mut dp, files, req) = setup();
    let issuer = cp.demo_issuer_id();
    assert_still_good(&dp, &files, &req, "start-up");

    // Three requests in one write: three answers, in order.
    let mut batch = post_request("/", &req).replace_connection_close();
    batch.extend(format!("GET /crl/{issuer}.crl HTTP/1.1\r\nHost: x\r\n\r\n").bytes());
    batch.extend(get_request("/favicon.ico", ""));
    let mut s = connect(dp.port());
    s.write_all(&batch).unwrap();
    let mut buf = Vec::new();
    let rs: Vec<_> = (0..3)
        .map(|_| read_response(&mut s, &mut buf).unwrap())
        .collect();
    let out = ocsp_verify(&dp.work_dir(), &rs[0].body, &files, "sha1").1;
    assert!(
        out.contains(": good"),
        "pipelined #1 (OCSP POST): {out}\n{}",
        rs[0].head
    );
    assert_eq!(
        rs[1].header("content-type"),
        Some("application/pkix-crl"),
        "#2: {}",
        rs[1].head
    );
    assert_eq!(rs[2].status, 404, "pipelined #3: {}", rs[2].head);

    // HTTP/1.0 (as openssl sends it): answered, then closed by the server.
    let mut raw = format!("POST / HTTP/1.0\r\nContent-Length: {}\r\n\r\n", req.len()).into_bytes();
    raw.extend_from_slice(&req);
    let mut s = connect(dp.port());
    s.write_all(&raw).unwrap();
    let r = read_response(&mut s, &mut Vec::new()).unwrap();
    let out = ocsp_verify(&dp.work_dir(), &r.body, &files, "sha1").1;
    assert!(
        r.head.starts_with("HTTP/1.") && out.contains(": good"),
        "HTTP/1.0: {out}\n{}",
        r.head
    );
    let closed = closed_by(&mut s, Instant::now() + Duration::from_secs(3));
    assert!(
        closed.is_some(),
        "HTTP/1.0 connection without keep-alive left open"
    );

    let rss = |dp: &DataPlane| dp.metric("sigil_dp_resident_memory_bytes") / (1 << 20) as f64;
    let before = rss(&dp);
    let bad: Vec<Vec<u8>> = vec![
        post_request("/", b"\x30\x03junk"),
        get_request("/favicon.ico", ""),
        get_request("/%zz", ""),
        get_request(
            &format!("/{}", base64_encode(&[0x30, 0x05, 1, 2, 3, 4, 5])),
            "",
        ),
        get_request(
            &format!("/.well-known/pki/ocsp/{issuer}/0123456789abcdef"),
            "",
        ),
        get_request("/ca/nope.cer", ""),
    ];
    let bad: Vec<Vec<u8>> = bad
        .into_iter()
        .map(|b| b.replace_connection_close())
        .collect();
    let start = Instant::now();
    let mut statuses = std::collections::BTreeMap::new();
    let (conns, per_conn, batch) = (4, 5_000, 100);
    for c in 0..conns {
        let mut s = connect(dp.port());
        let mut buf = Vec::new();
        for round in 0..per_conn / batch {
            let mut w = Vec::new();
            for i in 0..batch {
                w.extend_from_slice(&bad[(c + round + i) % bad.len()]);
            }
            s.write_all(&w).unwrap();
            for _ in 0..batch {
                let r = read_response(&mut s, &mut buf).expect("answer to a bad request");
                *statuses.entry(r.status).or_insert(0u32) += 1;
            }
        }
    }
    let n = conns * per_conn;
    let after = rss(&dp);
    println!(
        "{n} bad requests in {:?}; RSS {before:.1} MiB → {after:.1} MiB",
        start.elapsed()
    );
    assert!(
        after - before < 20.0,
        "RSS grew by {:.1} MiB",
        after - before
    );
    assert_still_good(&dp, &files, &req, "20,000 bad requests");
    dp.assert_alive();
}

trait KeepAlive {
    fn replace_connection_close(self) -> Vec<u8>;
}

impl KeepAlive for Vec<u8> {
    /// The request without its `Connection: close` line.
    fn replace_connection_close(self) -> Vec<u8> {
        let pat = b"Connection: close\r\n";
        match self.windows(pat.len()).position(|w| w == pat) {
            Some(i) => [&self[..i], &self[i + pat.len()..]].concat(),
            None => self,
        }
    }
}

#[test]
fn dataplane_bad_config_exits_64() {
    let dir = tempfile::tempdir().unwrap();
    for (what, toml) in [
        ("unknown key", "[http]\nmax_body = 1\n"),
        ("zero timeout", "[http]\nidle_timeout_secs = 0\n"),
        ("not TOML", "[http\n"),
    ] {
        let f = dir.path().join("bad.toml");
        write_file(&f, toml);
        let out = std::process::Command::new(sigil_tests::bin_path("sigil-dp"))
            .arg("--config")
            .arg(&f)
            .arg("--data-dir")
            .arg(dir.path().join("data"))
            .args(["--listen", "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0"])
            .env("SIGIL_REPLICATION_TOKEN", sigil_tests::REPLICATION_TOKEN)
            .output()
            .expect("run sigil-dp");
        let err = String::from_utf8_lossy(&out.stderr);
        println!("{what}: {} {}", out.status, err.trim());
        assert_eq!(out.status.code(), Some(64), "{what}: {err}");
    }
}
