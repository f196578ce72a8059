//! CRLs and CA certificates served by `sigil-dp`, checked with `openssl crl` / `openssl x509`.

use std::time::{Duration, Instant};

use sigil_tests::dp::{get_request, request, wait_for, DataPlane};
use sigil_tests::pki::{crl_serials, crl_text, normalize_hex, pem_to_der, run, unique_path};
use sigil_tests::{id_of, write_file, ControlPlane};

/// GETs a CRL route; asserts 200 + `application/pkix-crl` and a signature that verifies with
/// `issuing`; returns the serials it lists.
fn served_crl(dp: &DataPlane, path: &str, issuing: &std::path::Path) -> (Vec<u8>, Vec<String>) {
    let r = dp.get(path);
    assert_eq!(r.status, 200, "GET {path}: {}\n{}", r.head, r.text());
    assert_eq!(
        r.header("content-type"),
        Some("application/pkix-crl"),
        "GET {path}"
    );
    let (stdout, stderr) = crl_text(&dp.work_dir(), &r.body, issuing);
    assert!(
        stderr.contains("verify OK"),
        "GET {path}: CRL does not verify:\n{stderr}\n{stdout}"
    );
    let serials = crl_serials(&stdout);
    (r.body, serials)
}

#[test]
fn dataplane_crl_routes_verify_and_follow_revocations() {
    let cp = ControlPlane::start();
    let mut dp = DataPlane::start(&cp.base_url());
    let dir = dp.work_dir();
    let issuer = cp.demo_issuer_id();
    let cert = cp.issue_new(&issuer, "crl.example.com");
    let files = cert.write(&dir, "crl");
    let routes = [
        format!("/crl/{issuer}.crl"),
        format!("/.well-known/pki/crl/{issuer}"),
    ];

    for path in &routes {
        let (der, serials) = served_crl(&dp, path, &files.issuing);
        println!("GET {path}: {} bytes, {} serials", der.len(), serials.len());
        assert!(
            !serials.contains(&normalize_hex(&cert.serial)),
            "unrevoked serial on {path}"
        );
        let quiet = unique_path(&dir, "crl", "der");
        write_file(&quiet, &der);
        let (q, i) = (quiet.to_str().unwrap(), files.issuing.to_str().unwrap());
        let out = run(
            "openssl",
            &["crl", "-inform", "DER", "-in", q, "-CAfile", i, "-noout"],
        );
        let text = sigil_tests::pki::combined(&out);
        assert!(
            text.contains("verify OK"),
            "openssl crl -noout on {path}: {text}"
        );
    }
    assert_eq!(
        dp.get(&routes[0]).body,
        dp.get(&routes[1]).body,
        "the two CRL routes serve different CRLs"
    );

    let start = Instant::now();
    let (status, body) = cp.revoke(&cert.id, "keyCompromise");
    assert_eq!(status, 200, "revoke: {body}");
    let want = normalize_hex(&cert.serial);
    for path in &routes {
        wait_for(
            Duration::from_secs(10),
            &format!("serial {want} on {path}"),
            || {
                let (_, serials) = served_crl(&dp, path, &files.issuing);
                serials.contains(&want).then_some(())
            },
        );
        println!(
            "serial on GET {path} {:?} after the revocation",
            start.elapsed()
        );
    }
    assert!(
        start.elapsed() < Duration::from_secs(10),
        "CRL took {:?}",
        start.elapsed()
    );
    let on_cp = cp.crl(&issuer);
    let (served, _) = served_crl(&dp, &routes[0], &files.issuing);
    assert_eq!(
        served, on_cp,
        "data plane CRL differs from the control plane's current CRL"
    );
    dp.assert_alive();
}

#[test]
fn dataplane_ca_certificates_and_unknown_issuers() {
    let cp = ControlPlane::start();
    let mut dp = DataPlane::start(&cp.base_url());
    let dir = dp.work_dir();
    let issuers = cp.issuers();
    assert!(
        issuers.len() >= 2,
        "init creates a root and `demo`: {issuers:?}"
    );
    for ca in &issuers {
        let id = id_of(ca);
        let pem = ca["certificate"].as_str().expect("issuer certificate PEM");

        let path = format!("/ca/{id}.cer");
        let r = dp.get(&path);
        assert_eq!(r.status, 200, "GET {path}: {}", r.head);
        assert_eq!(
            r.header("content-type"),
            Some("application/pkix-cert"),
            "GET {path}"
        );
        assert_eq!(
            r.body,
            pem_to_der(pem),
            "GET {path}: not the issuer's certificate"
        );
        let f = unique_path(&dir, "ca", "cer");
        write_file(&f, &r.body);
        let args = [
            "x509",
            "-inform",
            "DER",
            "-in",
            f.to_str().unwrap(),
            "-noout",
            "-subject",
        ];
        let subject = sigil_tests::pki::combined(&run("openssl", &args));
        println!("GET {path}: {}", subject.trim());

        let path = format!("/ca/{id}.pem");
        let r = dp.get(&path);
        assert_eq!(r.status, 200, "GET {path}: {}", r.head);
        assert_eq!(
            r.text().trim(),
            pem.trim(),
            "GET {path}: not the issuer's PEM"
        );
        let f = unique_path(&dir, "ca", "pem");
        write_file(&f, &r.body);
        run("openssl", &["x509", "-in", f.to_str().unwrap(), "-noout"]);

        let issuing = unique_path(&dir, "issuer", "pem");
        write_file(&issuing, pem);
        served_crl(&dp, &format!("/crl/{id}.crl"), &issuing);
    }
    ops_endpoints(&dp, issuers.len() as f64);
    for path in [
        "/crl/no-such-issuer.crl",
        "/.well-known/pki/crl/no-such-issuer",
        "/ca/no-such-issuer.cer",
        "/ca/no-such-issuer.pem",
    ] {
        let r = dp.get(path);
        assert_eq!(r.status, 404, "GET {path}: {}", r.head);
    }
    dp.assert_alive();
}

/// `/health/live`, `/health/ready` and `/metrics` on the metrics listener; `crl_gets` CRL
/// requests were answered 200 so far.
fn ops_endpoints(dp: &DataPlane, crl_gets: f64) {
    let live = request(dp.metrics_port(), &get_request("/health/live", "")).unwrap();
    assert_eq!(live.status, 200, "/health/live: {}", live.head);
    let (status, ready) = dp.ready();
    assert_eq!(status, 200, "/health/ready: {ready}");
    assert_eq!(ready["ready"], true, "/health/ready: {ready}");
    for field in ["reason", "applied", "lag_records"] {
        assert!(
            !ready[field].is_null(),
            "/health/ready lacks {field}: {ready}"
        );
    }
    println!("/health/ready: {ready}");
    let text = dp.metrics();
    for name in [
        "sigil_dp_replication_applied_sequence",
        "sigil_dp_replication_head_sequence",
        "sigil_dp_replication_records_applied_total",
        "sigil_dp_replication_snapshots_total",
        "sigil_dp_resident_memory_bytes",
        "sigil_dp_cache_hits_total",
    ] {
        assert!(
            sigil_tests::dp::metric_in(&text, name).is_some(),
            "no {name} in:\n{text}"
        );
    }
    let applied = sigil_tests::dp::metric_in(&text, "sigil_dp_replication_applied_sequence");
    assert_eq!(
        applied,
        ready["applied"].as_f64(),
        "metric vs /health/ready"
    );
    let crl = r#"sigil_dp_requests_total{route="crl",status="200"}"#;
    let served = sigil_tests::dp::metric_in(&text, crl);
    assert!(
        served >= Some(crl_gets),
        "{crl} = {served:?}, want ≥ {crl_gets}:\n{text}"
    );
}
