//! End-to-end OCSP through `sigil-dp`: certificates issued on a real `sigil-cp` reach the data
//! plane by replication and are checked with `openssl ocsp` and `curl`.

use std::path::Path;
use std::time::{Duration, Instant, SystemTime};

use sigil_tests::dp::{
    get_request, ocsp_request, openssl_ocsp_url, request, wait_for, DataPlane, HttpResponse,
};
use sigil_tests::pki::{base64_encode, combined, ocsp_text, ocsp_verify, run, run_unchecked};
use sigil_tests::{CertFiles, ControlPlane, Issued};

/// `OCSPResponse { responseStatus unauthorized }`.
const UNAUTHORIZED: [u8; 5] = [0x30, 0x03, 0x0a, 0x01, 0x06];

fn setup() -> (ControlPlane, DataPlane, String) {
    let cp = ControlPlane::start();
    let dp = DataPlane::start(&cp.base_url());
    let issuer = cp.demo_issuer_id();
    (cp, dp, issuer)
}

/// Issues `cn` and waits until `openssl ocsp -url` against the data plane says `good`.
fn issue_and_wait_good(cp: &ControlPlane, dp: &DataPlane, cn: &str) -> (Issued, CertFiles) {
    let cert = cp.issue_new(&cp.demo_issuer_id(), cn);
    let files = cert.write(&dp.work_dir(), cn);
    let start = Instant::now();
    let mut last = String::new();
    let url = dp.url("/");
    wait_for(
        Duration::from_secs(10),
        "openssl ocsp to report good",
        || {
            last = openssl_ocsp_url(&url, &files);
            last.contains(": good").then_some(())
        },
    );
    println!(
        "{cn}: good on the data plane {:?} after issuance",
        start.elapsed()
    );
    assert!(last.contains("Response verify OK"), "{last}");
    (cert, files)
}

/// openssl's verdict on a response body (SHA-1 CertID, as openssl's requests use).
fn verdict(dir: &Path, body: &[u8], files: &CertFiles) -> String {
    ocsp_verify(dir, body, files, "sha1").1
}

fn assert_good(dir: &Path, what: &str, r: &HttpResponse, files: &CertFiles) {
    assert_eq!(r.status, 200, "{what}: {}", r.head);
    let out = verdict(dir, &r.body, files);
    assert!(
        out.contains("Response verify OK") && out.contains(": good"),
        "{what}: not a verified good response:\n{out}\n{}",
        r.head
    );
}

fn assert_unauthorized(dir: &Path, what: &str, r: &HttpResponse) {
    assert_eq!(
        r.status, 200,
        "{what}: OCSP errors are HTTP 200: {}",
        r.head
    );
    assert_eq!(r.body, UNAUTHORIZED, "{what}: body is not unauthorized");
    assert_eq!(
        r.header("content-type"),
        Some("application/ocsp-response"),
        "{what}"
    );
    assert_eq!(
        r.header("cache-control"),
        Some("max-age=0, no-cache"),
        "{what}"
    );
    // openssl exits 1 on an unsuccessful response: only its text matters here.
    let f = sigil_tests::pki::unique_path(dir, "err", "der");
    sigil_tests::write_file(&f, &r.body);
    let args = [
        "ocsp",
        "-respin",
        f.to_str().unwrap(),
        "-resp_text",
        "-noverify",
    ];
    let text = combined(&run_unchecked("openssl", &args));
    assert!(
        text.contains("Responder Error: unauthorized"),
        "{what}: {text}"
    );
}

/// Revokes `cert` and polls `path` with a raw POST until openssl sees `revoked`.
fn measure_revocation(
    cp: &ControlPlane,
    dp: &DataPlane,
    cert: &Issued,
    files: &CertFiles,
    path: &str,
) {
    let dir = dp.work_dir();
    let req = ocsp_request(&dir, files, false);
    let start = Instant::now();
    let (status, body) = cp.revoke(&cert.id, "keyCompromise");
    let acked = start.elapsed();
    assert_eq!(status, 200, "revoke: {body}");
    let out = wait_for(Duration::from_secs(10), "revoked on the data plane", || {
        let r = dp.post_ocsp(path, &req);
        let out = verdict(&dir, &r.body, files);
        out.contains(": revoked").then_some(out)
    });
    let took = start.elapsed();
    println!("revocation visible at POST {path} after {took:?} (CP acknowledged after {acked:?})");
    assert!(out.contains("Response verify OK"), "{out}");
    assert!(
        took < Duration::from_secs(2),
        "revocation took {took:?} to reach POST {path}"
    );
    let out = openssl_ocsp_url(&dp.url(path), files);
    assert!(
        out.contains(": revoked") && out.contains("keyCompromise"),
        "openssl -url {path}:\n{out}"
    );
}

#[test]
fn dataplane_ocsp_good_then_revoked_within_two_seconds() {
    let (cp, mut dp, _) = setup();
    for (cn, path) in [
        ("root-path.example.com", "/"),
        ("ocsp-path.example.com", "/ocsp"),
    ] {
        let (cert, files) = issue_and_wait_good(&cp, &dp, cn);
        let out = openssl_ocsp_url(&dp.url(path), &files);
        assert!(out.contains(": good"), "openssl -url {path}:\n{out}");
        measure_revocation(&cp, &dp, &cert, &files, path);
    }
    dp.assert_alive();
}

/// `curl -s URL` into a file: (HTTP code, body).
fn curl(dir: &Path, url: &str) -> (u16, Vec<u8>) {
    let out = sigil_tests::pki::unique_path(dir, "curl", "der");
    let o = run(
        "curl",
        &["-s", "-o", out.to_str().unwrap(), "-w", "%{http_code}", url],
    );
    let code = String::from_utf8_lossy(&o.stdout)
        .trim()
        .parse()
        .unwrap_or(0);
    (code, std::fs::read(&out).unwrap_or_default())
}

#[test]
fn dataplane_ocsp_get_forms_certctl_and_unknowns() {
    let (cp, mut dp, issuer) = setup();
    let dir = dp.work_dir();
    // Serials are random: issue until the request's base64 holds '+' and '/' (to exercise
    // their encodings), at most 8 times.
    let mut attempt = 0;
    let (cert, files, der, b64) = loop {
        attempt += 1;
        let (cert, files) = issue_and_wait_good(&cp, &dp, &format!("get{attempt}.example.com"));
        let der = ocsp_request(&dir, &files, false);
        let b64 = base64_encode(&der);
        if (b64.contains('+') && b64.contains('/')) || attempt == 8 {
            break (cert, files, der, b64);
        }
    };
    // A request with a nonce is longer: its base64 has padding when the plain one has none.
    let with_nonce = base64_encode(&ocsp_request(&dir, &files, true));
    let mut forms = Vec::new();
    for (kind, b64) in [("no nonce", &b64), ("nonce", &with_nonce)] {
        println!("GET request ({kind}): {b64}");
        let pct = b64
            .replace('+', "%2B")
            .replace('/', "%2F")
            .replace('=', "%3D");
        let url_nopad = b64.replace('+', "-").replace('/', "_").replace('=', "");
        forms.extend([
            (format!("base64 ({kind})"), format!("/{b64}")),
            (format!("%-encoded ({kind})"), format!("/{pct}")),
            (
                format!("base64url, no padding ({kind})"),
                format!("/{url_nopad}"),
            ),
            (
                format!("'+' as space ({kind})"),
                format!("/{}", b64.replace('+', "%20")),
            ),
            (
                format!("missing padding ({kind})"),
                format!("/{}", b64.trim_end_matches('=')),
            ),
            (format!("/ocsp/ prefix ({kind})"), format!("/ocsp/{b64}")),
            (
                format!("/ocsp/ prefix, %-encoded ({kind})"),
                format!("/ocsp/{pct}"),
            ),
        ]);
    }
    let all = format!("{b64}{with_nonce}");
    assert!(all.contains('='), "no padded request to test with: {all}");
    for (what, path) in forms {
        let (code, body) = curl(&dir, &dp.url(&path));
        let r = HttpResponse {
            status: code,
            head: path.clone(),
            headers: vec![],
            body,
        };
        assert_good(&dir, &format!("GET {what} ({path})"), &r, &files);
    }

    // A certificate of a CA the data plane does not know.
    let stranger = throwaway_ca(&dir);
    let out = openssl_ocsp_url(&dp.url("/"), &stranger);
    assert!(
        out.contains("unauthorized"),
        "unknown CA via openssl:\n{out}"
    );
    let r = dp.post_ocsp("/", &ocsp_request(&dir, &stranger, false));
    assert_unauthorized(&dir, "POST for an unknown CA", &r);

    // certctl routes.
    let path = format!("/.well-known/pki/ocsp/{issuer}/0123456789abcdef");
    assert_unauthorized(&dir, &format!("GET {path}"), &dp.get(&path));
    let path = format!("/.well-known/pki/ocsp/no-such-issuer/{}", cert.serial);
    assert_unauthorized(&dir, &format!("GET {path}"), &dp.get(&path));
    let path = format!("/.well-known/pki/ocsp/{issuer}/{}", cert.serial);
    let r = dp.get(&path);
    assert_eq!(r.status, 200, "GET {path}: {}", r.head);
    let outs: Vec<String> = ["sha256", "sha1"]
        .iter()
        .map(|h| ocsp_verify(&dir, &r.body, &files, h).1)
        .collect();
    assert!(
        outs.iter()
            .any(|o| o.contains("Response verify OK") && o.contains(": good")),
        "GET {path}: no verified good response for either CertID hash:\n{outs:#?}"
    );
    // Leading zero octets in the serial hex are normalised away (21 octets before that).
    let padded = format!("/.well-known/pki/ocsp/{issuer}/00{}", cert.serial);
    let r = dp.get(&padded);
    assert_eq!(r.status, 200, "GET {padded}: {}", r.head);
    assert!(
        ["sha256", "sha1"].iter().any(|h| {
            let o = ocsp_verify(&dir, &r.body, &files, h).1;
            o.contains("Response verify OK") && o.contains(": good")
        }),
        "GET {padded}: no verified good response"
    );
    let path = format!("/.well-known/pki/ocsp/{issuer}");
    assert_good(
        &dir,
        &format!("POST {path}"),
        &dp.post_ocsp(&path, &der),
        &files,
    );
    dp.assert_alive();
}

fn assert_caching_headers(dir: &Path, what: &str, r: &HttpResponse) {
    assert_eq!(r.status, 200, "{what}: {}", r.head);
    assert_eq!(
        r.header("content-type"),
        Some("application/ocsp-response"),
        "{what}: {}",
        r.head
    );
    for h in ["last-modified", "expires", "etag", "date", "cache-control"] {
        assert!(r.header(h).is_some(), "{what}: no {h} header:\n{}", r.head);
    }
    let text = ocsp_text(dir, &r.body);
    let this_update = resp_time(&text, "This Update").expect("This Update");
    let next_update = resp_time(&text, "Next Update").expect("Next Update");
    let cc = r.header("cache-control").unwrap();
    let max_age: i64 = cc
        .strip_prefix("max-age=")
        .and_then(|v| v.strip_suffix(", public, no-transform, must-revalidate"))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("{what}: Cache-Control {cc:?}"));
    let left = next_update - unix_now();
    println!("{what}: max-age={max_age}, nextUpdate−now={left}");
    assert!(
        (left - 5..=left + 5).contains(&max_age),
        "{what}: max-age {max_age} vs {left}"
    );
    let expires = parse_time(r.header("expires").unwrap());
    assert_eq!(
        expires,
        Some(next_update),
        "{what}: Expires is not nextUpdate (RFC 5019 §6.2)"
    );
    let modified = parse_time(r.header("last-modified").unwrap());
    assert_eq!(
        modified,
        Some(this_update),
        "{what}: Last-Modified is not thisUpdate"
    );
    let date = parse_time(r.header("date").unwrap()).expect("Date parses");
    assert!(
        (date - unix_now()).abs() <= 5,
        "{what}: Date {date} is not now"
    );
}

#[test]
fn dataplane_ocsp_caching_headers_and_conditional_get() {
    let (cp, mut dp, _) = setup();
    let dir = dp.work_dir();
    let (_, files) = issue_and_wait_good(&cp, &dp, "headers.example.com");
    let der = ocsp_request(&dir, &files, false);
    let path = format!("/{}", base64_encode(&der));

    let hdr = sigil_tests::pki::unique_path(&dir, "headers", "txt");
    let body = sigil_tests::pki::unique_path(&dir, "body", "der");
    let (h, b) = (hdr.to_str().unwrap(), body.to_str().unwrap());
    run("curl", &["-s", "-D", h, "-o", b, &dp.url(&path)]);
    let head = std::fs::read_to_string(&hdr).unwrap();
    println!("curl -sD- GET:\n{head}");
    let headers = head.lines().skip(1).filter_map(|l| l.split_once(':'));
    let headers = headers
        .map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned()))
        .collect();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let got = HttpResponse {
        status,
        head: head.clone(),
        headers,
        body: std::fs::read(&body).unwrap(),
    };
    assert_caching_headers(&dir, "GET", &got);
    assert_good(&dir, "GET", &got, &files);
    assert_caching_headers(&dir, "POST", &dp.post_ocsp("/", &der));

    let etag = got.header("etag").unwrap().to_owned();
    let raw = get_request(&path, &format!("If-None-Match: {etag}\r\n"));
    let mut s = std::net::TcpStream::connect(("127.0.0.1", dp.port())).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    std::io::Write::write_all(&mut s, &raw).unwrap();
    let mut all = Vec::new();
    let _ = std::io::Read::read_to_end(&mut s, &mut all);
    let text = String::from_utf8_lossy(&all);
    assert!(
        text.starts_with("HTTP/1.1 304"),
        "If-None-Match: {etag}:\n{text}"
    );
    let end = text.find("\r\n\r\n").expect("complete head") + 4;
    assert_eq!(all.len(), end, "304 carries a body:\n{text}");
    assert!(text
        .to_ascii_lowercase()
        .contains(&format!("etag: {}", etag.to_ascii_lowercase())));

    let r = request(
        dp.port(),
        &get_request(&path, "If-None-Match: \"other\"\r\n"),
    )
    .unwrap();
    assert_eq!(r.status, 200, "non-matching If-None-Match: {}", r.head);
    let r = dp.post_ocsp("/", b"");
    assert_eq!(
        r.status, 200,
        "empty POST is an OCSP error, not an HTTP one: {}",
        r.head
    );
    assert_eq!(
        r.body,
        [0x30, 0x03, 0x0a, 0x01, 0x01],
        "empty POST: not malformedRequest"
    );

    // After a restart the response comes from the OCSP index (stored without the responder
    // certificate, headers written per request): the same bytes and validators as before.
    dp.restart();
    wait_for(Duration::from_secs(10), "OCSP index built", || {
        (dp.metric("sigil_dp_index_builds_total") >= 1.0).then_some(())
    });
    let lookups = dp.metric("sigil_dp_index_lookups_total");
    let again = dp.post_ocsp("/", &der);
    assert_eq!(dp.metric("sigil_dp_index_lookups_total"), lookups + 1.0);
    assert_caching_headers(&dir, "POST from the index", &again);
    assert_good(&dir, "POST from the index", &again, &files);
    assert_eq!(
        again.body, got.body,
        "index response differs from the original"
    );
    for h in ["etag", "last-modified", "expires", "content-type"] {
        assert_eq!(again.header(h), got.header(h), "{h} from the index");
    }
    let r = request(
        dp.port(),
        &get_request(&path, &format!("If-None-Match: W/{etag}\r\n")),
    )
    .unwrap();
    assert_eq!(r.status, 304, "If-None-Match from the index: {}", r.head);
    assert_eq!(r.header("etag"), Some(etag.as_str()));
    assert!(r.header("content-type").is_none() && r.body.is_empty());
    dp.assert_alive();
}

/// A throwaway CA (unknown to Sigil) and a leaf it issued, made with openssl.
fn throwaway_ca(dir: &Path) -> CertFiles {
    let p = |n: &str| dir.join(n).to_str().unwrap().to_owned();
    let (ca_key, ca_pem, key, csr, leaf) = (
        p("tca.key"),
        p("tca.pem"),
        p("tleaf.key"),
        p("tleaf.csr"),
        p("tleaf.pem"),
    );
    let ec = "-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes";
    let cmds = [
        format!("req -x509 {ec} -subj /CN=Throwaway_CA -days 2 -keyout {ca_key} -out {ca_pem}"),
        format!("req -new {ec} -subj /CN=stranger.example.com -keyout {key} -out {csr}"),
        format!("x509 -req -in {csr} -CA {ca_pem} -CAkey {ca_key} -set_serial 0x5eed -days 1 -out {leaf}"),
    ];
    for c in cmds {
        let args: Vec<&str> = c.split_whitespace().collect();
        let o = run_unchecked("openssl", &args);
        assert!(
            o.status.success(),
            "openssl {c}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
    let ca = std::path::PathBuf::from(&ca_pem);
    CertFiles {
        leaf: leaf.into(),
        issuing: ca.clone(),
        bundle: ca,
    }
}

fn unix_now() -> i64 {
    let d = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap();
    d.as_secs() as i64
}

fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + d - 1;
    era * 146_097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719_468
}

/// Parses `Nov 26 23:41:30 2026 GMT` (openssl) or `Thu, 26 Nov 2026 23:41:30 GMT` (HTTP).
fn parse_time(s: &str) -> Option<i64> {
    const MONTHS: &str = "JanFebMarAprMayJunJulAugSepOctNovDec";
    let w: Vec<&str> = s.split_whitespace().collect();
    let (mon, day, time, year) = match w.as_slice() {
        [m, d, t, y, "GMT"] => (*m, *d, *t, *y),
        [_, d, m, y, t, "GMT"] => (*m, *d, *t, *y),
        _ => return None,
    };
    let m = MONTHS.find(mon).filter(|i| i % 3 == 0 && mon.len() == 3)? as i64 / 3 + 1;
    let hms: Vec<i64> = time
        .split(':')
        .map(|x| x.parse().ok())
        .collect::<Option<_>>()?;
    let days = days_from_civil(year.parse().ok()?, m, day.parse().ok()?);
    Some(days * 86_400 + hms.first()? * 3600 + hms.get(1)? * 60 + hms.get(2)?)
}

/// The first `<label>: <time>` line of `openssl ocsp -resp_text` output.
fn resp_time(text: &str, label: &str) -> Option<i64> {
    let prefix = format!("{label}:");
    text.lines()
        .find_map(|l| parse_time(l.trim().strip_prefix(&prefix)?))
}
