//! certctl-shaped certificate management on a real control plane: the list (filters, paging
//! envelope), bulk revocation (refuses an empty filter, every revocation audited, judged by
//! openssl), export as PEM / DER / chain (parsed and verified by openssl), the CRL cache,
//! `/api/v1/version`, `/ready` and the Prometheus metrics.

use std::collections::BTreeSet;
use std::thread::sleep;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use sigil_tests::pki::{assert_ocsp, combined};
use sigil_tests::stream::Subscriber;
use sigil_tests::{assert_api_error, run, run_unchecked, write_file, ControlPlane, ADMIN_TOKEN};

fn fields(v: &Value) -> BTreeSet<String> {
    v.as_object()
        .unwrap_or_else(|| panic!("not an object: {v}"))
        .keys()
        .cloned()
        .collect()
}

fn set(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|s| s.to_string()).collect()
}

fn create_root(cp: &ControlPlane, id: &str) {
    let (status, body) = cp.api(
        "POST",
        "/api/v1/issuers",
        Some(&json!({"id": id, "name": id, "subject": format!("CN={id}")})),
    );
    assert_eq!(status, 201, "{body}");
}

#[test]
fn certificates_are_listed_with_filters_and_paging() {
    let cp = ControlPlane::start();
    create_root(&cp, "other");
    let a = cp.issue_new("demo", "alpha.example.com");
    cp.issue_new("demo", "beta.example.org");
    cp.issue_new("other", "gamma.example.com");
    assert_eq!(cp.revoke(&a.id, "superseded").0, 200);

    let q = |query: &str| {
        let (status, v) = cp.api("GET", &format!("/api/v1/certificates?{query}"), None);
        assert_eq!(status, 200, "{query}: {v}");
        assert_eq!(
            fields(&v),
            set(&["data", "total", "page", "per_page"]),
            "{v}"
        );
        v
    };
    let all = q("");
    assert_eq!(
        (all["total"].as_u64(), all["per_page"].as_u64()),
        (Some(3), Some(50))
    );
    let first = &all["data"][0];
    assert!(
        first["certificate"].is_string() && first.get("chain").is_none(),
        "{first}"
    );
    assert_eq!(q("status=revoked")["data"][0]["id"], a.id.as_str());
    assert_eq!(q("status=Active")["total"], 2);
    assert_eq!(q("status=expiring")["total"], 0);
    assert_eq!(q("issuer_id=other")["total"], 1);
    assert_eq!(q("issuer_id=demo&status=active")["total"], 1);
    assert_eq!(q("search=EXAMPLE.ORG")["total"], 1);
    assert_eq!(q("subject=alpha")["total"], 1);
    assert_eq!(q("profile=default")["total"], 3);
    assert_eq!(
        q("expires_after=2000-01-01&issued_before=2999-01-01")["total"],
        3
    );
    let p = q("per_page=2&page=2");
    assert_eq!(
        (p["total"].as_u64(), p["data"].as_array().unwrap().len()),
        (Some(3), 1)
    );
    for bad in [
        "per_page=501",
        "status=lost",
        "issued_after=soon",
        "owner_id=x",
    ] {
        let (status, v) = cp.api("GET", &format!("/api/v1/certificates?{bad}"), None);
        assert_api_error(bad, status, &v, 400);
    }
    // Colon-separated serials (as /admin/certs shows them) address a certificate too.
    let colon: Vec<String> =
        a.id.as_bytes()
            .chunks(2)
            .map(|c| String::from_utf8_lossy(c).to_uppercase())
            .collect();
    let (status, v) = cp.api(
        "GET",
        &format!("/api/v1/certificates/{}", colon.join(":")),
        None,
    );
    assert_eq!(
        (status, v["id"].as_str()),
        (200, Some(a.id.as_str())),
        "{v}"
    );
}

#[test]
fn bulk_revoke_refuses_empty_filters_and_revokes_what_matches() {
    let cp = ControlPlane::start();
    create_root(&cp, "bulk");
    let certs: Vec<_> = (0..3)
        .map(|i| cp.issue_new("bulk", &format!("b{i}.example.com")))
        .collect();
    let bystander = cp.issue_new("demo", "bystander.example.com");
    assert_eq!(cp.revoke(&certs[0].id, "superseded").0, 200);

    for (what, body) in [
        ("no criterion", json!({"reason": "keyCompromise"})),
        (
            "empty id list",
            json!({"reason": "keyCompromise", "certificate_ids": []}),
        ),
        ("no reason", json!({"issuer_id": "bulk"})),
        (
            "bad reason",
            json!({"reason": "boredom", "issuer_id": "bulk"}),
        ),
        (
            "owner criterion",
            json!({"reason": "keyCompromise", "owner_id": "o-1"}),
        ),
    ] {
        let (status, v) = cp.api("POST", "/api/v1/certificates/bulk-revoke", Some(&body));
        assert_api_error(what, status, &v, 400);
    }

    let (status, r) = cp.api(
        "POST",
        "/api/v1/certificates/bulk-revoke",
        Some(&json!({"reason": "keyCompromise", "issuer_id": "bulk"})),
    );
    assert_eq!(status, 200, "{r}");
    println!("{r:#}");
    assert_eq!(
        fields(&r),
        set(&[
            "total_matched",
            "total_revoked",
            "total_skipped",
            "total_failed",
            "errors",
            "revoked",
            "skipped"
        ])
    );
    assert_eq!(
        (r["total_matched"].as_u64(), r["total_revoked"].as_u64()),
        (Some(3), Some(2))
    );
    assert_eq!(
        (r["total_skipped"].as_u64(), r["total_failed"].as_u64()),
        (Some(1), Some(0))
    );
    let revoked: BTreeSet<&str> = r["revoked"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(
        revoked,
        BTreeSet::from([certs[1].id.as_str(), certs[2].id.as_str()])
    );
    assert_eq!(r["skipped"][0]["certificate_id"], certs[0].id.as_str());
    assert!(r["skipped"][0]["reason"]
        .as_str()
        .unwrap()
        .contains("already revoked"));

    // Judged by openssl: revoked for keyCompromise; the bystander is still good.
    for (i, c) in certs.iter().enumerate().skip(1) {
        let files = c.write(&cp.work_dir(), &format!("bulk{i}"));
        assert_ocsp(
            &cp.work_dir(),
            &cp.ocsp(&c.id, "sha256"),
            &files,
            "sha256",
            &[": revoked", "Reason: keyCompromise"],
        );
    }
    let files = bystander.write(&cp.work_dir(), "bystander");
    assert_ocsp(
        &cp.work_dir(),
        &cp.ocsp(&bystander.id, "sha1"),
        &files,
        "sha1",
        &[": good"],
    );

    // By id, in kipuka's colon form.
    let colon: Vec<String> = bystander
        .id
        .as_bytes()
        .chunks(2)
        .map(|c| String::from_utf8_lossy(c).to_uppercase())
        .collect();
    let (status, r) = cp.api(
        "POST",
        "/api/v1/certificates/bulk-revoke",
        Some(&json!({"reason": "cessationOfOperation", "certificate_ids": [colon.join(":"), "ffff"]})),
    );
    assert_eq!(status, 200, "{r}");
    assert_eq!(r["revoked"], json!([bystander.id]));
    let (_, v) = cp.api(
        "GET",
        &format!("/api/v1/certificates/{}", bystander.id),
        None,
    );
    assert_eq!(v["status"], "revoked");

    // Every revocation has its own audit record, plus one summary per bulk call.
    let (_, audit) = cp.api(
        "GET",
        "/api/v1/audit?action=certificate.revoke&per_page=500",
        None,
    );
    assert_eq!(audit["total"], 4, "{audit}");
    let (_, audit) = cp.api("GET", "/api/v1/audit?action=certificate.bulk_revoke", None);
    assert_eq!(audit["total"], 2, "{audit}");
    assert_eq!(
        audit["data"][0]["details"]["filter"],
        json!({"issuer_id": "bulk"})
    );
}

/// `GET path` with the admin token: (status, content type, content disposition, body).
fn get(cp: &ControlPlane, path: &str) -> (u16, String, String, Vec<u8>) {
    let resp = cp
        .client()
        .get(cp.url(path))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .expect("request");
    let h = |n: reqwest::header::HeaderName| {
        resp.headers()
            .get(n)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    let (ct, cd) = (
        h(reqwest::header::CONTENT_TYPE),
        h(reqwest::header::CONTENT_DISPOSITION),
    );
    (
        resp.status().as_u16(),
        ct,
        cd,
        resp.bytes().unwrap().to_vec(),
    )
}

#[test]
fn certificates_export_as_pem_der_and_chain_that_openssl_accepts() {
    let cp = ControlPlane::start();
    let c = cp.issue_new("demo", "export.example.com");
    let dir = cp.work_dir();
    let id = &c.id;

    let (status, v) = cp.api(
        "GET",
        &format!("/api/v1/certificates/{id}/export/pem"),
        None,
    );
    assert_eq!(status, 200, "{v}");
    assert_eq!(fields(&v), set(&["cert_pem", "chain_pem", "full_pem"]));
    let (cert, chain, full) = (
        v["cert_pem"].as_str().unwrap(),
        v["chain_pem"].as_str().unwrap(),
        v["full_pem"].as_str().unwrap(),
    );
    assert_eq!(full, format!("{cert}{chain}"));
    assert_eq!(chain.matches("BEGIN CERTIFICATE").count(), 2);
    let leaf = dir.join("leaf.pem");
    write_file(&leaf, cert);
    let subject = combined(&run(
        "openssl",
        &["x509", "-in", leaf.to_str().unwrap(), "-noout", "-subject"],
    ));
    assert!(subject.contains("export.example.com"), "{subject}");

    let (status, ct, cd, body) = get(
        &cp,
        &format!("/api/v1/certificates/{id}/export/pem?download=true"),
    );
    assert_eq!((status, ct.as_str()), (200, "application/x-pem-file"));
    assert_eq!(cd, format!("attachment; filename=\"{id}.pem\""));
    assert_eq!(String::from_utf8(body).unwrap(), full);

    let (status, ct, cd, der) = get(&cp, &format!("/api/v1/certificates/{id}/export/der"));
    assert_eq!((status, ct.as_str()), (200, "application/pkix-cert"));
    assert_eq!(cd, format!("attachment; filename=\"{id}.der\""));
    let der_file = dir.join("leaf.der");
    write_file(&der_file, &der);
    let out = combined(&run(
        "openssl",
        &[
            "x509",
            "-inform",
            "DER",
            "-in",
            der_file.to_str().unwrap(),
            "-noout",
            "-serial",
        ],
    ));
    assert!(
        out.to_uppercase().contains(&id.to_uppercase()),
        "{out} vs {id}"
    );

    let (status, ct, _, body) = get(&cp, &format!("/api/v1/certificates/{id}/export/chain"));
    assert_eq!(
        (status, ct.as_str()),
        (200, "application/pem-certificate-chain")
    );
    let text = String::from_utf8(body).unwrap();
    assert_eq!(text, full);
    // Leaf first, root last: trust the root only, the rest is untrusted input.
    let pems: Vec<String> = text
        .split_inclusive("-----END CERTIFICATE-----\n")
        .map(str::to_string)
        .collect();
    assert_eq!(pems.len(), 3);
    let (root, untrusted) = (dir.join("root.pem"), dir.join("untrusted.pem"));
    write_file(&root, &pems[2]);
    write_file(&untrusted, pems[..2].concat());
    let out = run_unchecked(
        "openssl",
        &[
            "verify",
            "-CAfile",
            root.to_str().unwrap(),
            "-untrusted",
            untrusted.to_str().unwrap(),
            leaf.to_str().unwrap(),
        ],
    );
    assert!(out.status.success(), "{}", combined(&out));

    for fmt in ["pem", "der", "chain"] {
        let (status, v) = cp.api(
            "GET",
            &format!("/api/v1/certificates/abcdef/export/{fmt}"),
            None,
        );
        assert_api_error(fmt, status, &v, 404);
    }
    let (status, v) = cp.api(
        "GET",
        &format!("/api/v1/certificates/{id}/export/pem?download=yes"),
        None,
    );
    assert_api_error("download=yes", status, &v, 400);
}

#[test]
fn crl_cache_version_ready_and_metrics() {
    let cp = ControlPlane::start();
    let (status, v) = cp.api("GET", "/api/v1/admin/crl/cache", None);
    assert_eq!(status, 200, "{v}");
    println!("{v:#}");
    assert_eq!(
        fields(&v),
        set(&["cache_rows", "row_count", "generated_at"])
    );
    assert_eq!(v["row_count"], 2);
    let row = |v: &Value, id: &str| {
        v["cache_rows"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["issuer_id"] == id)
            .unwrap()
            .clone()
    };
    let demo = row(&v, "demo");
    assert_eq!(
        fields(&demo),
        set(&[
            "issuer_id",
            "issuer_name",
            "cache_present",
            "crl_number",
            "this_update",
            "next_update",
            "is_stale",
            "last_generated_at",
            "regeneration_due_at",
            "size_bytes",
            "recent_events"
        ])
    );
    assert_eq!(
        (demo["cache_present"].as_bool(), demo["is_stale"].as_bool()),
        (Some(true), Some(false))
    );
    let number = demo["crl_number"].as_u64().unwrap();

    // A revocation: the scheduler regenerates the CRL and records the run.
    let c = cp.issue_new("demo", "crl.example.com");
    assert_eq!(cp.revoke(&c.id, "keyCompromise").0, 200);
    let start = Instant::now();
    let demo = loop {
        let (_, v) = cp.api("GET", "/api/v1/admin/crl/cache", None);
        let demo = row(&v, "demo");
        if demo["crl_number"].as_u64() > Some(number)
            && !demo["recent_events"].as_array().unwrap().is_empty()
        {
            break demo;
        }
        assert!(start.elapsed() < Duration::from_secs(20), "{v:#}");
        sleep(Duration::from_millis(200));
    };
    let ev = &demo["recent_events"][0];
    assert_eq!(
        fields(ev),
        set(&["at", "trigger", "crl_number", "duration_ms", "error"])
    );
    assert_eq!(
        (ev["trigger"].as_str(), ev["error"].as_null()),
        (Some("revocation"), Some(()))
    );
    assert_eq!(ev["crl_number"], demo["crl_number"]);

    // Version and readiness need no credentials.
    let r = cp.request("GET", "/api/v1/version", None, None, None);
    assert_eq!(r.status, 200, "{}", r.text());
    let v = r.json();
    assert_eq!(
        fields(&v),
        set(&[
            "version",
            "commit",
            "modified",
            "build_time",
            "rust_version"
        ])
    );
    assert!(
        v["rust_version"].as_str().unwrap().starts_with("rustc "),
        "{v}"
    );
    assert!(v["modified"].is_boolean() && v["commit"].is_string());
    let r = cp.request("GET", "/ready", None, None, None);
    assert_eq!(
        (r.status, r.json()["status"].as_str()),
        (200, Some("ready")),
        "{}",
        r.text()
    );
    let r = cp.request("GET", "/api/v1/admin/crl/cache", None, None, None);
    assert_api_error("CRL cache without credentials", r.status, &r.json(), 401);

    // Metrics, with a replication subscriber connected.
    let _sub = Subscriber::connect(&cp, 0);
    let start = Instant::now();
    let metrics = loop {
        let m = cp.request("GET", "/metrics", None, None, None).text();
        if m.contains("sigil_cp_replication_subscribers 1")
            || start.elapsed() > Duration::from_secs(10)
        {
            break m;
        }
        sleep(Duration::from_millis(100));
    };
    for name in [
        "sigil_cp_certificates_issued_total{issuer=\"demo\"} 1",
        "sigil_cp_certificates_revoked_total{issuer=\"demo\"} 1",
        "sigil_cp_ca_signing_duration_seconds_bucket{ca=\"demo\",le=",
        "sigil_cp_ca_signing_duration_seconds_count{ca=\"demo\"}",
        "sigil_cp_ocsp_refresh_backlog 0",
        "sigil_cp_ocsp_refresh_oldest_due_seconds 0",
        "sigil_cp_replication_subscribers 1",
        "sigil_cp_replication_lag_records ",
        "sigil_cp_http_requests_total{route=\"/api/v1/certificates\",status=\"201\"}",
        "sigil_cp_http_request_duration_seconds_bucket{route=",
    ] {
        assert!(metrics.contains(name), "{name} missing from\n{metrics}");
    }
}
