//! HTTP/1.1 conformance of `sigil-dp`'s own server over raw sockets (issue 19, item 3):
//! chunked request bodies (RFC 9112 §7.1) answered exactly like `Content-Length` ones, with
//! `Expect: 100-continue` and pipelining; request-smuggling framings refused with 400 and the
//! connection closed; HEAD on every GET route; body limits and timeouts for chunked senders.
//! The key service's listener: `http_conformance_kes.rs`.

use std::thread::sleep;
use std::time::{Duration, Instant};

use sigil_tests::dp::{ocsp_request, DataPlane};
use sigil_tests::pki::base64_encode;
use sigil_tests::rawhttp::{Conn, Reply};
use sigil_tests::{CertFiles, ControlPlane};

const CONFIG: &str = "[http]\nidle_timeout_secs = 2\nrequest_timeout_secs = 1\n";

/// `body` chunked at the given sizes (the rest in one last chunk), extensions on some lines,
/// a trailer field at the end.
fn chunk(body: &[u8], sizes: &[usize]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut rest = body;
    let mut sizes = sizes.iter();
    while !rest.is_empty() {
        let n = sizes.next().copied().unwrap_or(rest.len()).min(rest.len());
        let ext = if n % 2 == 0 { ";e=\"x y\"" } else { "" };
        out.extend(format!("{n:X}{ext}\r\n").as_bytes());
        out.extend_from_slice(&rest[..n]);
        out.extend(b"\r\n");
        rest = &rest[n..];
    }
    out.extend(b"0;last\r\nX-Trailer: ignored\r\n\r\n");
    out
}

fn cl_post(path: &str, body: &[u8]) -> Vec<u8> {
    let mut r = format!(
        "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/ocsp-request\r\n\
         Content-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    r.extend_from_slice(body);
    r
}

fn chunked_head(path: &str, extra: &str) -> Vec<u8> {
    format!(
        "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/ocsp-request\r\n\
         {extra}Transfer-Encoding: chunked\r\n\r\n"
    )
    .into_bytes()
}

struct Setup {
    cp: ControlPlane,
    dp: DataPlane,
    req: Vec<u8>,
}

fn setup() -> Setup {
    let cp = ControlPlane::start();
    let dp = DataPlane::start_with_config(&cp.base_url(), Some(CONFIG));
    let cert = cp.issue_new(&cp.demo_issuer_id(), "conformance.example.com");
    let files: CertFiles = cert.write(&dp.work_dir(), "leaf");
    let req = ocsp_request(&dp.work_dir(), &files, false);
    // The replica may lag the issuance by a few ms: wait for a real answer (not unknown).
    sigil_tests::dp::wait_for(Duration::from_secs(10), "the certificate", || {
        let r = dp.post_ocsp("/", &req);
        (r.status == 200 && r.body.len() > 100).then_some(())
    });
    Setup { cp, dp, req }
}

/// The answer to a Content-Length POST of `req`, on a fresh connection.
fn reference(port: u16, req: &[u8]) -> Reply {
    let mut c = Conn::open(port);
    c.send(&cl_post("/", req));
    c.response(false)
}

/// Asserts the two answers are the same bytes (when they were made within the same second;
/// otherwise the same but for `Date` and `Cache-Control: max-age`).
fn assert_same(a: &Reply, b: &Reply, what: &str) {
    assert_eq!(a.status, 200, "{what}: {}", a.head);
    if a.header("date") == b.header("date") {
        assert_eq!(
            String::from_utf8_lossy(&a.bytes()),
            String::from_utf8_lossy(&b.bytes()),
            "{what}"
        );
    }
    assert_eq!(a.timeless_head(), b.timeless_head(), "{what}");
    assert_eq!(a.body, b.body, "{what}");
}

#[test]
fn chunked_ocsp_post_answered_like_content_length() {
    let Setup { mut dp, req, .. } = setup();
    let port = dp.port();
    let splits: [&[usize]; 4] = [&[], &[1], &[7, 1, 30, 2], &[3; 200]];
    for sizes in splits {
        // The same request twice on one connection, Content-Length then chunked, in one write:
        // one batch, one clock reading, byte-identical answers.
        let mut c = Conn::open(port);
        let mut both = cl_post("/", &req);
        both.extend(chunked_head("/", ""));
        both.extend(chunk(&req, sizes));
        c.send(&both);
        let (by_length, chunked) = (c.response(false), c.response(false));
        assert_same(&by_length, &chunked, &format!("chunked at {sizes:?}"));

        // Written a few bytes at a time, so that chunk lines and data straddle reads.
        let mut c = Conn::open(port);
        let mut wire = chunked_head("/ocsp", "");
        wire.extend(chunk(&req, sizes));
        for piece in wire.chunks(5) {
            c.send(piece);
            sleep(Duration::from_millis(1));
        }
        let dribbled = c.response(false);
        assert_same(&reference(port, &req), &dribbled, "dribbled");
    }
    dp.assert_alive();
}

#[test]
fn chunked_with_expect_continue_and_pipelined_requests() {
    let Setup { cp, mut dp, req } = setup();
    let port = dp.port();
    let issuer = cp.demo_issuer_id();

    // 100 Continue before any of the body; the body in chunks after it.
    let mut c = Conn::open(port);
    c.send(&chunked_head("/", "Expect: 100-continue\r\n"));
    let interim = c.response(false);
    assert_eq!(interim.status, 100, "{}", interim.head);
    c.send(&chunk(&req, &[10, 10]));
    let answer = c.response(false);
    assert_same(&reference(port, &req), &answer, "after 100 Continue");
    // The connection goes on.
    c.send(b"GET /crl/x.crl HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(c.response(false).status, 404);

    // Pipelined: chunked POST, CRL GET, OCSP GET, Content-Length POST, in one write.
    let mut c = Conn::open(port);
    let mut batch = chunked_head("/", "");
    batch.extend(chunk(&req, &[16]));
    batch.extend(format!("GET /crl/{issuer}.crl HTTP/1.1\r\nHost: x\r\n\r\n").bytes());
    batch.extend(format!("GET /ocsp/{} HTTP/1.1\r\nHost: x\r\n\r\n", url_b64(&req)).bytes());
    batch.extend(cl_post("/", &req));
    c.send(&batch);
    let rs: Vec<Reply> = (0..4).map(|_| c.response(false)).collect();
    let statuses: Vec<u16> = rs.iter().map(|r| r.status).collect();
    assert_eq!(statuses, [200, 200, 200, 200]);
    assert_eq!(rs[1].header("content-type"), Some("application/pkix-crl"));
    assert_eq!(
        rs[0].body, rs[2].body,
        "chunked POST and GET of the same request"
    );
    assert_eq!(rs[0].body, rs[3].body, "chunked and Content-Length POST");
    dp.assert_alive();
}

/// The OCSP GET path of a DER request: base64, URL-escaped (RFC 6960 A.1).
fn url_b64(der: &[u8]) -> String {
    base64_encode(der)
        .replace('+', "%2B")
        .replace('/', "%2F")
        .replace('=', "%3D")
}

/// Heads whose body two servers could frame differently: each must get 400 (or 501 for a
/// coding that is merely not implemented) and the connection closed, so that the request
/// "smuggled" behind the body is never answered.
const SMUGGLING: &[(&str, &str, u16)] = &[
    (
        "CL.TE",
        "Content-Length: 6\r\nTransfer-Encoding: chunked\r\n",
        400,
    ),
    (
        "TE.CL",
        "Transfer-Encoding: chunked\r\nContent-Length: 6\r\n",
        400,
    ),
    (
        "duplicate CL",
        "Content-Length: 5\r\nContent-Length: 5\r\n",
        400,
    ),
    (
        "different CLs",
        "Content-Length: 5\r\nContent-Length: 50\r\n",
        400,
    ),
    ("CL list", "Content-Length: 5, 5\r\n", 400),
    ("CL sign", "Content-Length: +5\r\n", 400),
    ("CL inner space", "Content-Length: 5 0\r\n", 400),
    ("CL hex", "Content-Length: 0x5\r\n", 400),
    (
        "CL overflow",
        "Content-Length: 18446744073709551621\r\n",
        400,
    ),
    (
        "TE not final",
        "Transfer-Encoding: chunked, identity\r\n",
        400,
    ),
    ("TE gzip only", "Transfer-Encoding: gzip\r\n", 400),
    ("TE twice", "Transfer-Encoding: chunked, chunked\r\n", 400),
    (
        "TE two fields",
        "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n",
        400,
    ),
    ("TE quoted", "Transfer-Encoding: \"chunked\"\r\n", 400),
    (
        "TE space before colon",
        "Transfer-Encoding : chunked\r\n",
        400,
    ),
    ("CL space before colon", "Content-Length : 5\r\n", 400),
    (
        "TE obs-fold",
        "Transfer-Encoding: identity\r\n chunked\r\n",
        400,
    ),
    ("TE vertical tab", "Transfer-Encoding: \x0bchunked\r\n", 400),
    ("TE bare CR", "Transfer-Encoding: chunked\rX: y\r\n", 400),
    (
        "TE unknown coding",
        "Transfer-Encoding: x-zip, chunked\r\n",
        501,
    ),
];

const SMUGGLED: &str = "GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n";

#[test]
fn smuggling_framings_refused_and_connection_closed() {
    let Setup { mut dp, req, .. } = setup();
    let port = dp.port();
    let mut cases: Vec<(String, Vec<u8>, u16)> = SMUGGLING
        .iter()
        .map(|(name, fields, status)| {
            let head = format!("POST / HTTP/1.1\r\nHost: x\r\n{fields}\r\n");
            (name.to_string(), head.into_bytes(), *status)
        })
        .collect();
    cases.push((
        "TE in HTTP/1.0".into(),
        b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec(),
        400,
    ));
    // Chunked framing errors inside the body.
    for (name, body) in [
        ("chunk size LF only", &b"5\nhello\r\n0\r\n\r\n"[..]),
        ("chunk data LF only", b"5\r\nhello\n0\r\n\r\n"),
        ("chunk longer than its size", b"3\r\nhello\r\n0\r\n\r\n"),
        ("chunk size with sign", b"+5\r\nhello\r\n0\r\n\r\n"),
        ("chunk size 0x", b"0x5\r\nhello\r\n0\r\n\r\n"),
        (
            "chunk size overflow",
            b"1000000000000000000005\r\nhello\r\n0\r\n\r\n",
        ),
        ("bad extension", b"5;=\r\nhello\r\n0\r\n\r\n"),
        ("trailer obs-fold", b"0\r\nA: b\r\n c\r\n\r\n"),
        ("last chunk LF only", b"5\r\nhello\r\n0\n\n"),
    ] {
        let mut head = chunked_head("/", "");
        head.extend_from_slice(body);
        cases.push((name.into(), head, 400));
    }
    for (name, head, status) in &cases {
        let mut c = Conn::open(port);
        // A good request first: the refusal comes after its answer, on the same connection.
        c.send(&cl_post("/", &req));
        let mut wire = head.clone();
        wire.extend(b"0\r\n\r\n");
        wire.extend(SMUGGLED.as_bytes());
        let _ = c.try_send(&wire);
        let first = c.response(false);
        assert_eq!(first.status, 200, "{name}: the request before");
        let refused = c.response(false);
        assert_eq!(refused.status, *status, "{name}: {}", refused.head);
        assert_eq!(refused.header("connection"), Some("close"), "{name}");
        let rest = c.read_to_eof();
        assert!(
            rest.is_empty(),
            "{name}: more after the refusal: {:?}",
            String::from_utf8_lossy(&rest)
        );
    }
    let bad = counter_reaches(&dp, "sigil_dp_http_bad_requests_total", cases.len());
    println!(
        "{} framings refused; bad requests counted: {bad}",
        cases.len()
    );
    assert_same(
        &reference(port, &req),
        &reference(port, &req),
        "after the refusals",
    );
    dp.assert_alive();
}

#[test]
fn head_on_every_get_route() {
    let Setup { cp, mut dp, req } = setup();
    let issuer = cp.demo_issuer_id();
    let b64 = url_b64(&req);
    let paths = [
        format!("/ocsp/{b64}"),
        format!("/{b64}"),
        format!("/crl/{issuer}.crl"),
        format!("/.well-known/pki/crl/{issuer}"),
        format!("/ca/{issuer}.cer"),
        format!("/ca/{issuer}.pem"),
        format!("/.well-known/pki/ocsp/{issuer}/01"),
        "/api/userca".into(),
        "/api/hostca".into(),
        "/api/krlca".into(),
        "/api/authkeys?username=nobody&host=web1".into(),
        "/api/authprinc?username=nobody&host=web1".into(),
        "/no/such/thing".into(),
    ];
    let mut checked = Vec::new();
    for path in &paths {
        checked.push(head_matches_get(dp.port(), path, true));
    }
    for path in ["/health/live", "/health/ready", "/metrics"] {
        checked.push(head_matches_get(
            dp.metrics_port(),
            path,
            path != "/metrics",
        ));
    }
    println!("HEAD = GET without the body: {checked:?}");
    assert!(
        checked.iter().filter(|(_, s)| *s == 200).count() >= 10,
        "{checked:?}"
    );
    dp.assert_alive();
}

/// GET then HEAD of `path` (HEAD pipelined before a second GET, which proves the HEAD answer
/// has no body): same status and fields, `Content-Length` the GET body's length (compared
/// exactly when `same_length`: the metrics text changes between scrapes).
fn head_matches_get(port: u16, path: &str, same_length: bool) -> (String, u16) {
    let get = format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n");
    let head = format!("HEAD {path} HTTP/1.1\r\nHost: x\r\n\r\n");
    let mut c = Conn::open(port);
    c.send(get.as_bytes());
    let g = c.response(false);
    let closes = g.header("connection") == Some("close");
    if closes {
        c = Conn::open(port);
    }
    c.send(head.as_bytes());
    let h = c.response(true);
    let length: usize = g
        .header("content-length")
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("GET {path}: no Content-Length: {}", g.head));
    assert_eq!(length, g.body.len(), "GET {path}");
    assert_eq!(h.status, g.status, "HEAD {path}: {}", h.head);
    assert!(
        h.header("content-length").is_some(),
        "HEAD {path}: {}",
        h.head
    );
    if same_length {
        assert_eq!(h.timeless_head(), g.timeless_head(), "HEAD {path}");
    }
    // Nothing after the HEAD answer but the next response (or the close).
    if closes {
        let rest = c.read_to_eof();
        assert!(rest.is_empty(), "HEAD {path} sent a body: {rest:?}");
    } else {
        c.send(get.as_bytes());
        let again = c.response(false);
        assert_eq!(again.status, g.status, "GET {path} after HEAD");
    }
    (path.to_string(), g.status)
}

#[test]
fn chunked_limits_and_slow_senders() {
    let Setup { mut dp, req, .. } = setup();
    let port = dp.port();
    // 10,000 bytes (the default limit) in chunks: answered (malformed request, 200).
    let mut c = Conn::open(port);
    let mut wire = chunked_head("/", "");
    wire.extend(chunk(&[0x41; 10_000], &[4000, 4000]));
    c.send(&wire);
    assert_eq!(c.response(false).status, 200);
    // One byte more, in a later chunk: 413 as soon as that chunk's size arrives, then closed.
    let mut c = Conn::open(port);
    let mut wire = chunked_head("/", "");
    wire.extend(b"1388\r\n");
    wire.extend([0x41; 5000]);
    wire.extend(b"\r\n1389\r\n");
    c.send(&wire);
    let r = c.response(false);
    assert_eq!((r.status, r.header("connection")), (413, Some("close")));
    assert!(c.read_to_eof().is_empty());
    // A single huge chunk size, with Expect: 100-continue (sent before the size was known).
    let mut c = Conn::open(port);
    c.send(&chunked_head("/", "Expect: 100-continue\r\n"));
    assert_eq!(c.response(false).status, 100);
    c.send(b"ffffffff\r\n");
    assert_eq!(c.response(false).status, 413);
    assert!(c.read_to_eof().is_empty());

    // A slow chunked sender (one small chunk every 100 ms) is cut off by request_timeout
    // (1 s here) like a slow Content-Length sender: 408 and the close.
    let mut c = Conn::open(port);
    let start = Instant::now();
    c.send(&chunked_head("/", ""));
    let mut cut_off = None;
    while start.elapsed() < Duration::from_secs(5) {
        if !c.try_send(b"1\r\nA\r\n") {
            cut_off = Some(start.elapsed());
            break;
        }
        sleep(Duration::from_millis(100));
        c.s.set_nonblocking(true).unwrap();
        let mut peek = [0u8; 1];
        let r = c.s.peek(&mut peek);
        c.s.set_nonblocking(false).unwrap();
        if !matches!(&r, Err(e) if e.kind() == std::io::ErrorKind::WouldBlock) {
            cut_off = Some(start.elapsed());
            break;
        }
    }
    let took = cut_off.expect("slow chunked sender still served after 5 s");
    let rest = c.read_to_eof();
    let text = String::from_utf8_lossy(&rest);
    println!(
        "slow chunked sender cut off after {took:?}: {:?}",
        text.lines().next()
    );
    assert!(took < Duration::from_secs(3), "cut off only after {took:?}");
    assert!(
        rest.is_empty() || text.starts_with("HTTP/1.1 408"),
        "{text}"
    );

    // Still serving.
    assert_same(&reference(port, &req), &reference(port, &req), "afterwards");
    counter_reaches(&dp, "sigil_dp_http_timeouts_total", 1);
    counter_reaches(&dp, "sigil_dp_http_too_large_total", 2);
    dp.assert_alive();
}

/// Waits for a counter (published by each core every 100 ms) to reach `n`; its value.
fn counter_reaches(dp: &DataPlane, name: &str, n: usize) -> f64 {
    sigil_tests::dp::wait_for(Duration::from_secs(3), name, || {
        let v = dp.metric(name);
        (v >= n as f64).then_some(v)
    })
}
