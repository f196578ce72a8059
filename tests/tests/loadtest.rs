//! End-to-end tests of the load harness `sigil-load` against a real control plane and data
//! plane: corpora from the control plane and from certificate files, closed and open loop
//! (the open loop must deliver its rate within 2 %), OCSP GET, CRL, `--compare`, errors
//! counted by kind, and https with and without a client certificate.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use serde_json::Value;
use sigil_tests::dp::{ocsp_request, wait_for, DataPlane};
use sigil_tests::load::{load_run, make_corpus, tls_pair, LoadRun};
use sigil_tests::pki::base64_decode;
use sigil_tests::{free_port, ControlPlane, Issued};

/// Issues `n` certificates and waits until the data plane answers `successful` for the last.
fn issue_and_replicate(cp: &ControlPlane, dp: &DataPlane, n: usize) -> Vec<Issued> {
    let issuer = cp.demo_issuer_id();
    let certs: Vec<Issued> = (0..n)
        .map(|i| cp.issue_new(&issuer, &format!("load{i}.example.com")))
        .collect();
    let dir = dp.work_dir();
    let files = certs.last().unwrap().write(&dir, "last");
    let req = ocsp_request(&dir, &files, false);
    wait_for(
        Duration::from_secs(15),
        "the data plane to serve the last certificate",
        || {
            let r = dp.post_ocsp("/", &req);
            (r.status == 200 && ocsp_successful(&r.body)).then_some(())
        },
    );
    certs
}

/// Whether an `OCSPResponse` has `responseStatus` successful (0).
fn ocsp_successful(body: &[u8]) -> bool {
    let Some(&len0) = body.get(1) else {
        return false;
    };
    let at = 2 + if len0 & 0x80 != 0 {
        usize::from(len0 & 0x7f)
    } else {
        0
    };
    body.first() == Some(&0x30) && body.get(at..at + 3) == Some(&[0x0a, 0x01, 0x00][..])
}

/// The base64 request lines of a corpus file.
fn corpus_lines(path: &Path) -> BTreeSet<String> {
    let text = std::fs::read_to_string(path).unwrap();
    assert!(text.starts_with("# sigil-load corpus v1\n"), "{text}");
    let lines = text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty());
    lines.map(str::to_owned).collect()
}

fn assert_clean(what: &str, r: &LoadRun) {
    assert_eq!(r.code, 0, "{what}: exit code\n{}", r.output);
    assert_eq!(r.json["errors"]["total"], 0, "{what}: {}", r.json);
    assert!(r.json["ok"].as_u64().unwrap() > 0, "{what}: {}", r.json);
}

/// Fields every single-run report has.
fn assert_report_shape(r: &Value) {
    for k in [
        "target",
        "scenario",
        "mode",
        "connections",
        "threads",
        "requests",
        "ok",
    ] {
        assert!(!r[k].is_null(), "report lacks {k}: {r}");
    }
    for k in ["p50", "p90", "p99", "p99_9", "max", "mean"] {
        assert!(r["latency_us"][k].is_number(), "latency lacks {k}: {r}");
    }
    assert!(r["throughput"].as_f64().unwrap() > 0.0, "{r}");
    assert!(r["errors"]["by_kind"].is_object(), "{r}");
    let p = &r["latency_us"];
    assert!(p["p50"].as_u64() <= p["p99"].as_u64() && p["p99"].as_u64() <= p["max"].as_u64());
    let series = r["series"].as_array().expect("series");
    let secs = r["duration_s"].as_f64().unwrap().ceil() as usize;
    assert_eq!(series.len(), secs, "{r}");
    for (i, s) in series.iter().enumerate() {
        assert_eq!(s["second"], i, "{s}");
        assert!(s["throughput"].is_number() && s["latency_us"]["p99"].is_number());
    }
}

#[test]
fn sigil_load_measures_a_real_data_plane() {
    let cp = ControlPlane::start();
    let dp = DataPlane::start(&cp.base_url());
    let dir = dp.work_dir();
    let certs = issue_and_replicate(&cp, &dp, 5);

    // Corpus from the control plane (replication stream), both CertID hashes.
    let cp_corpus = make_corpus(&dir, &["--control-plane", &cp.base_url(), "--hash", "both"]);
    let text = std::fs::read_to_string(&cp_corpus).unwrap();
    let demo = cp.demo_issuer_id();
    assert!(text.contains(&format!("# issuer: {demo}\n")), "{text}");
    let from_cp = corpus_lines(&cp_corpus);
    assert!(
        from_cp.len() >= 10,
        "5 certificates × 2 hashes at least: {text}"
    );
    // Corpus from the certificate files (SHA-1 only): a subset of the control plane's.
    let certs_dir = dir.join("certs");
    for (i, c) in certs.iter().enumerate() {
        c.write(&certs_dir, &format!("c{i}"));
    }
    let issuing = dir.join("issuing.pem");
    std::fs::rename(certs_dir.join("c0-issuing.pem"), &issuing).unwrap();
    for i in 0..certs.len() {
        let _ = std::fs::remove_file(certs_dir.join(format!("c{i}-issuing.pem")));
        let _ = std::fs::remove_file(certs_dir.join(format!("c{i}-bundle.pem")));
    }
    let files_corpus = make_corpus(
        &dir,
        &[
            "--issuer",
            issuing.to_str().unwrap(),
            "--cert",
            certs_dir.to_str().unwrap(),
        ],
    );
    let from_files = corpus_lines(&files_corpus);
    assert_eq!(from_files.len(), 5);
    assert!(
        from_files.is_subset(&from_cp),
        "{from_files:?} ⊄ {from_cp:?}"
    );
    for line in &from_files {
        assert_eq!(base64_decode(line)[0], 0x30);
    }

    let url = dp.url("/");
    let corpus = cp_corpus.to_str().unwrap();
    let common = [
        "--corpus",
        corpus,
        "--connections",
        "8",
        "--warmup",
        "200ms",
    ];

    // Closed loop, about a second.
    let mut args = common.to_vec();
    args.extend([&url[..], "--duration", "1s"]);
    let closed = load_run(&dir, &args);
    assert_clean("closed loop", &closed);
    assert_report_shape(&closed.json);
    assert_eq!(closed.json["mode"], "closed");
    assert_eq!(closed.json["statuses"]["200"], closed.json["requests"]);
    assert!(closed.output.contains("p99.9"), "{}", closed.output);

    // The same without ever sleeping in epoll_wait: same accounting, nothing lost.
    let mut args = common.to_vec();
    args.extend([&url[..], "--duration", "500ms", "--busy-poll"]);
    let busy = load_run(&dir, &args);
    assert_clean("closed loop, busy polling", &busy);
    assert_eq!(busy.json["statuses"]["200"], busy.json["requests"]);
    assert!(
        busy.json["requests"].as_u64().unwrap() > 0,
        "{}",
        busy.output
    );

    // Open loop at 2,000/s for 2 s: delivered within 2 %, every intended request answered.
    let mut args = common.to_vec();
    args.extend([
        &url[..],
        "--duration",
        "2s",
        "--mode",
        "open",
        "--rate",
        "2000",
    ]);
    let open = load_run(&dir, &args);
    assert_clean("open loop", &open);
    assert_report_shape(&open.json);
    let delivered = open.json["response_rate"].as_f64().unwrap();
    assert!(
        (delivered - 2000.0).abs() <= 40.0,
        "delivered {delivered}/s, not within 2 % of 2000/s: {}",
        open.json
    );
    assert_eq!(open.json["intended"], 4000, "{}", open.json);
    assert_eq!(open.json["requests"], 4000, "{}", open.json);

    // OCSP GET with Zipf-distributed items, on a path prefix.
    let get_url = dp.url("/ocsp");
    let mut args = common.to_vec();
    let get = [
        "--scenario",
        "ocsp-get",
        "--dist",
        "zipf:1.1",
        "--duration",
        "500ms",
    ];
    args.extend([&get_url[..]]);
    args.extend(get);
    let r = load_run(&dir, &args);
    assert_clean("OCSP GET", &r);
    assert_eq!(r.json["dist"], "zipf:1.1");

    // CRL download.
    let r = load_run(
        &dir,
        &[
            &url,
            "--scenario",
            "crl",
            "--issuer-id",
            &demo,
            "--duration",
            "500ms",
            "--warmup",
            "0",
        ],
    );
    assert_clean("CRL", &r);
    assert!(r.json["bytes"].as_u64().unwrap() > 100);

    // --compare: alternating rounds against two targets (here the same one twice).
    let svg = dir.join("compare.svg");
    let mut args = common.to_vec();
    args.extend([
        &url[..],
        "--compare",
        &url,
        "--rounds",
        "2",
        "--duration",
        "300ms",
    ]);
    args.extend(["--plot", svg.to_str().unwrap()]);
    let r = load_run(&dir, &args);
    assert_eq!(r.code, 0, "{}", r.output);
    assert_eq!(
        r.json["rounds"].as_array().map(Vec::len),
        Some(2),
        "{}",
        r.json
    );
    assert_eq!(
        r.json["runs"].as_array().map(Vec::len),
        Some(4),
        "{}",
        r.json
    );
    let ratio = r.json["median_ratio"].as_f64().unwrap();
    assert!(ratio > 0.2 && ratio < 5.0, "{}", r.json);
    assert!(r.output.contains("| median |"), "{}", r.output);
    let svg = std::fs::read_to_string(&svg).unwrap();
    assert!(svg.contains("<svg") && svg.contains("p99.9"), "{svg}");

    // Requests for an issuer the data plane does not know: `unauthorized`, counted by kind.
    let foreign = tls_pair(&dir.join("foreign"));
    let unknown = make_corpus(
        &dir,
        &[
            "--issuer",
            foreign.ca.to_str().unwrap(),
            "--cert",
            foreign.cert.to_str().unwrap(),
        ],
    );
    let r = load_run(
        &dir,
        &[
            &url,
            "--corpus",
            unknown.to_str().unwrap(),
            "--duration",
            "300ms",
            "--warmup",
            "0",
        ],
    );
    assert_eq!(r.code, 2, "errors make exit code 2: {}", r.output);
    let errors = &r.json["errors"];
    assert_eq!(r.json["ok"], 0, "{}", r.json);
    assert!(errors["total"].as_u64().unwrap() > 0, "{}", r.json);
    assert_eq!(
        errors["by_kind"]["unauthorized"], errors["total"],
        "{}",
        r.json
    );
    assert!(r.output.contains("unauthorized"), "{}", r.output);

    // Nothing listening: connection errors, and the run still reports.
    let dead = format!("http://127.0.0.1:{}/", free_port());
    let r = load_run(
        &dir,
        &[
            &dead,
            "--corpus",
            corpus,
            "--duration",
            "300ms",
            "--warmup",
            "0",
            "--connections",
            "2",
        ],
    );
    assert_eq!(r.code, 2, "{}", r.output);
    assert!(
        r.json["errors"]["by_kind"]["connect"].as_u64().unwrap() > 0,
        "{}",
        r.json
    );
}

#[test]
fn sigil_load_speaks_tls_and_mutual_tls() {
    let cp = ControlPlane::start();
    let tls = tls_pair(&cp.work_dir().join("tls"));
    let port = free_port();
    let config = format!(
        "[tls]\nlisten = \"127.0.0.1:{port}\"\ncert = {:?}\nkey = {:?}\nclient_ca = {:?}\n",
        tls.cert, tls.key, tls.client_ca
    );
    let dp = DataPlane::start_with_config(&cp.base_url(), Some(&config));
    let dir = dp.work_dir();
    issue_and_replicate(&cp, &dp, 2);
    let corpus = make_corpus(&dir, &["--control-plane", &cp.base_url()]);
    let corpus = corpus.to_str().unwrap();

    let url = format!("https://127.0.0.1:{port}/");
    let ca = tls.ca.to_str().unwrap();
    let base = [
        &url[..],
        "--corpus",
        corpus,
        "--cacert",
        ca,
        "--connections",
        "4",
    ];
    let short = ["--duration", "500ms", "--warmup", "100ms"];
    let mut args = base.to_vec();
    args.extend(short);
    args.extend(["--cert", tls.client_cert.to_str().unwrap()]);
    args.extend(["--key", tls.client_key.to_str().unwrap()]);
    let r = load_run(&dir, &args);
    assert_clean("mutual TLS", &r);
    assert_report_shape(&r.json);

    // Without a client certificate the server refuses every connection: during the handshake
    // (TLS 1.2: `connect`) or, TLS 1.3, with an alert after the client finished (`io`).
    let mut args = base.to_vec();
    args.extend(short);
    let r = load_run(&dir, &args);
    assert_eq!(r.code, 2, "{}", r.output);
    assert_eq!(r.json["ok"], 0, "{}", r.json);
    let kinds = &r.json["errors"]["by_kind"];
    let n = |k: &str| kinds[k].as_u64().unwrap_or(0);
    assert!(n("connect") + n("io") > 0, "{}", r.json);
    assert_eq!(
        n("connect") + n("io"),
        r.json["errors"]["total"],
        "{}",
        r.json
    );

    // https without a CA to verify the server against is refused before any request.
    let (code, out) =
        sigil_tests::load::sigil_load(&["run", &url, "--corpus", corpus, "--duration", "1s"]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("--cacert"), "{out}");
}
