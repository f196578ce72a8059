//! End-to-end tests of `sigil-cp` through its admin API, judged by real `openssl`.
//!
//! Every test starts its own control plane (fresh data directory, free port). The binaries
//! must be built first: `cargo build --workspace --bins`.

use std::thread::sleep;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use sigil_tests::pki::{
    assert_ocsp, crl_serials, crl_text, crl_to_pem, der_to_pem, normalize_hex, ocsp_text,
    pem_to_der, verify, x509_serial, x509_text,
};
use sigil_tests::{assert_api_error, gen_csr, id_of, write_file, ControlPlane, ISSUE_PATH};

const HASHES: [&str; 2] = ["sha1", "sha256"];

#[test]
fn health_needs_no_auth_but_api_does() {
    let cp = ControlPlane::start();
    let r = cp.request("GET", "/health", None, None, None);
    assert_eq!(r.status, 200, "/health without a token: {}", r.text());

    let r = cp.request("GET", "/api/v1/issuers", None, None, None);
    assert_api_error(
        "GET /api/v1/issuers without a token",
        r.status,
        &r.json(),
        401,
    );

    let r = cp.request(
        "GET",
        "/api/v1/issuers",
        Some("not-the-admin-secret"),
        None,
        None,
    );
    assert_api_error(
        "GET /api/v1/issuers with a wrong token",
        r.status,
        &r.json(),
        401,
    );

    // The replication token is not an admin token.
    let r = cp.request(
        "GET",
        "/api/v1/issuers",
        Some(sigil_tests::REPLICATION_TOKEN),
        None,
        None,
    );
    assert_api_error(
        "GET /api/v1/issuers with the replication token",
        r.status,
        &r.json(),
        401,
    );

    let r = cp.request(
        "GET",
        "/api/v1/issuers",
        Some(sigil_tests::ADMIN_TOKEN),
        None,
        None,
    );
    assert_eq!(
        r.status,
        200,
        "GET /api/v1/issuers with the admin token: {}",
        r.text()
    );
}

#[test]
fn issue_then_revoke_checked_by_openssl() {
    let cp = ControlPlane::start();
    let dir = cp.work_dir();
    let issuer = cp.demo_issuer_id();

    let a = cp.issue_new(&issuer, "revoke-me.example.com");
    assert_eq!(
        a.chain.len(),
        2,
        "chain should be [issuing CA, root]: {:#?}",
        a.chain
    );
    let demo_pem = cp.issuer_named("demo")["certificate"]
        .as_str()
        .unwrap_or_default()
        .trim()
        .to_owned();
    assert_eq!(
        a.chain[0].trim(),
        demo_pem,
        "chain[0] is not the demo issuer's certificate"
    );
    let fa = a.write(&dir, "a");

    for hash in HASHES {
        let der = cp.ocsp(&a.id, hash);
        let out = assert_ocsp(&dir, &der, &fa, hash, &[": good"]);
        println!("OCSP ({hash}) before revocation:\n{out}");
    }

    let (status, body) = cp.revoke(&a.id, "keyCompromise");
    assert_eq!(status, 200, "revoke: {body}");
    for hash in HASHES {
        let der = cp.ocsp(&a.id, hash);
        let out = assert_ocsp(
            &dir,
            &der,
            &fa,
            hash,
            &[": revoked", "Reason: keyCompromise"],
        );
        println!("OCSP ({hash}) after revocation:\n{out}");
    }

    // The CRL is regenerated a few seconds after a revocation (debounced).
    let want = normalize_hex(&a.serial);
    let start = Instant::now();
    let (crl_der, stdout, stderr) = loop {
        let der = cp.crl(&issuer);
        let (stdout, stderr) = crl_text(&dir, &der, &fa.issuing);
        if crl_serials(&stdout).contains(&want) {
            break (der, stdout, stderr);
        }
        assert!(
            start.elapsed() < Duration::from_secs(15),
            "serial {want} not on the CRL after 15 s; latest CRL:\n{stdout}\n{stderr}"
        );
        sleep(Duration::from_millis(500));
    };
    println!("serial on the CRL after {:?}", start.elapsed());
    assert!(
        stderr.contains("verify OK"),
        "CRL signature does not verify against the issuing CA:\n{stderr}\n{stdout}"
    );
    let crl_pem = crl_to_pem(&dir, &crl_der);
    let (ok, out) = verify(&fa, Some(&crl_pem));
    assert!(
        !ok && out.contains("certificate revoked"),
        "openssl verify -crl_check of the revoked cert:\n{out}"
    );

    let b = cp.issue_new(&issuer, "keep-me.example.com");
    let fb = b.write(&dir, "b");
    let (ok, out) = verify(&fb, Some(&crl_pem));
    assert!(
        ok && out.contains(": OK"),
        "openssl verify -crl_check of an unrevoked cert:\n{out}"
    );
}

#[test]
fn revoked_never_goes_back() {
    let cp = ControlPlane::start();
    let dir = cp.work_dir();
    let issuer = cp.demo_issuer_id();
    let a = cp.issue_new(&issuer, "compromised.example.com");
    let b = cp.issue_new(&issuer, "on-hold.example.com");
    let (fa, fb) = (a.write(&dir, "a"), b.write(&dir, "b"));

    let (status, body) = cp.revoke(&a.id, "keyCompromise");
    assert_eq!(status, 200, "first revocation: {body}");
    let (status, body) = cp.revoke(&a.id, "keyCompromise");
    assert_api_error("revoking a revoked certificate again", status, &body, 409);
    let (status, body) = cp.revoke(&a.id, "certificateHold");
    assert_api_error(
        "putting a keyCompromise-revoked certificate on hold",
        status,
        &body,
        409,
    );

    let (status, body) = cp.revoke(&b.id, "certificateHold");
    assert_eq!(status, 200, "hold: {body}");
    for hash in HASHES {
        assert_ocsp(
            &dir,
            &cp.ocsp(&b.id, hash),
            &fb,
            hash,
            &[": revoked", "Reason: certificateHold"],
        );
    }
    let (status, body) = cp.api(
        "POST",
        &format!("/api/v1/certificates/{}/unhold", b.id),
        None,
    );
    assert_eq!(status, 200, "unhold: {body}");
    for hash in HASHES {
        assert_ocsp(&dir, &cp.ocsp(&b.id, hash), &fb, hash, &[": good"]);
    }

    let (status, body) = cp.api(
        "POST",
        &format!("/api/v1/certificates/{}/unhold", a.id),
        None,
    );
    assert_api_error(
        "unhold of a keyCompromise-revoked certificate",
        status,
        &body,
        409,
    );
    for hash in HASHES {
        assert_ocsp(
            &dir,
            &cp.ocsp(&a.id, hash),
            &fa,
            hash,
            &[": revoked", "Reason: keyCompromise"],
        );
    }
}

#[test]
fn bad_input_gets_clear_errors() {
    let cp = ControlPlane::start();
    let dir = cp.work_dir();
    let issuer = cp.demo_issuer_id();

    let (status, body) = cp.issue_raw(&issuer, "this is not a CSR");
    assert_api_error("garbage CSR", status, &body, 400);

    let good = gen_csr(&dir, "tampered.example.com", &["tampered.example.com"]);
    let mut der = pem_to_der(&good);
    // The signature BIT STRING is the last element: flipping its last byte keeps valid DER.
    *der.last_mut().unwrap() ^= 0x01;
    let tampered = der_to_pem("CERTIFICATE REQUEST", &der);
    let (status, body) = cp.issue_raw(&issuer, &tampered);
    assert_api_error("CSR with a tampered signature", status, &body, 400);

    let (status, body) = cp.issue_raw("no-such-issuer", &good);
    assert_api_error("issuance from an unknown issuer", status, &body, 404);

    let (status, body) = cp.api("GET", "/api/v1/certificates/0123456789abcdef0123", None);
    assert_api_error("unknown certificate id", status, &body, 404);
    let (status, body) = cp.revoke("0123456789abcdef0123", "keyCompromise");
    assert_api_error("revoking an unknown certificate id", status, &body, 404);

    let cert = cp.issue(&issuer, &good);
    let (status, body) = cp.revoke(&cert.id, "becauseISaidSo");
    assert_api_error("invalid revocation reason", status, &body, 400);

    let r = cp.request(
        "POST",
        ISSUE_PATH,
        Some(sigil_tests::ADMIN_TOKEN),
        Some("application/json"),
        Some(b"{\"issuer_id\": ".to_vec()),
    );
    assert_api_error("invalid JSON body", r.status, &r.json(), 400);

    let big = format!(
        "{{\"issuer_id\":\"{issuer}\",\"csr\":\"{}\"}}",
        "A".repeat(2 << 20)
    );
    let r = cp.post_large(ISSUE_PATH, "application/json", big.as_bytes());
    assert_eq!(
        r.status,
        413,
        "2 MiB body: {}\n{}",
        r.head,
        String::from_utf8_lossy(&r.body)
    );

    // The control plane is still fine afterwards.
    let (status, body) = cp.api("GET", &format!("/api/v1/certificates/{}", cert.id), None);
    assert_eq!(status, 200, "GET after bad input: {body}");
}

#[test]
fn issued_certificate_is_sane() {
    let cp = ControlPlane::start();
    let dir = cp.work_dir();
    let issuer = cp.demo_issuer_id();
    let sans = ["sane.example.com", "www.sane.example.com"];
    let csr = gen_csr(&dir, "sane.example.com", &sans);
    let cert = cp.issue(&issuer, &csr);
    assert_eq!(
        cert.chain.len(),
        2,
        "chain should be [issuing CA, root]: {:#?}",
        cert.chain
    );
    let files = cert.write(&dir, "sane");

    let text = x509_text(&files.leaf);
    println!("{text}");
    for want in [
        "OCSP - URI:",
        "CA Issuers - URI:",
        "X509v3 CRL Distribution Points",
    ] {
        assert!(text.contains(want), "certificate lacks {want:?}:\n{text}");
    }
    for san in sans {
        assert!(
            text.contains(&format!("DNS:{san}")),
            "certificate lacks SAN DNS:{san}:\n{text}"
        );
    }

    let serial = x509_serial(&files.leaf);
    assert!(
        serial.len() / 2 >= 8,
        "serial {serial} is shorter than 8 bytes"
    );
    assert!(
        cert.serial
            .chars()
            .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c)),
        "JSON serial {:?} is not lowercase hex",
        cert.serial
    );
    assert_eq!(
        normalize_hex(&cert.serial),
        normalize_hex(&serial),
        "JSON serial vs openssl's"
    );

    let (ok, out) = verify(&files, None);
    assert!(ok && out.contains(": OK"), "openssl verify:\n{out}");
}

#[test]
fn acknowledged_issuance_survives_kill9() {
    let mut cp = ControlPlane::start();
    let dir = cp.work_dir();
    let issuer = cp.demo_issuer_id();
    let csrs: Vec<String> = (0..20)
        .map(|i| gen_csr(&dir, &format!("k{i}.example.com"), &[]))
        .collect();
    let certs: Vec<_> = csrs.iter().map(|c| cp.issue(&issuer, c)).collect();
    cp.kill9();
    cp.restart();

    for c in &certs {
        let (status, body) = cp.api("GET", &format!("/api/v1/certificates/{}", c.id), None);
        assert_eq!(
            status, 200,
            "certificate {} acknowledged before kill -9 is gone: {body}",
            c.id
        );
        assert_eq!(
            body["certificate"].as_str().map(str::trim),
            Some(c.certificate.trim()),
            "certificate changed"
        );
        for hash in HASHES {
            cp.ocsp(&c.id, hash);
        }
    }
    let last = certs.last().unwrap();
    let files = last.write(&dir, "last");
    for hash in HASHES {
        assert_ocsp(&dir, &cp.ocsp(&last.id, hash), &files, hash, &[": good"]);
    }
}

#[test]
fn ocsp_responder_cert_is_delegated() {
    let cp = ControlPlane::start();
    let dir = cp.work_dir();
    let cert = cp.issue_new(&cp.demo_issuer_id(), "delegated.example.com");
    for hash in HASHES {
        let text = ocsp_text(&dir, &cp.ocsp(&cert.id, hash));
        for want in ["OCSP Signing", "OCSP No Check"] {
            assert!(
                text.contains(want),
                "OCSP response ({hash}) responder certificate lacks {want:?}:\n{text}"
            );
        }
    }
}

fn create_issuer(cp: &ControlPlane, body: &Value) -> (u16, Value) {
    cp.api("POST", "/api/v1/issuers", Some(body))
}

#[test]
fn issuer_creation() {
    let cp = ControlPlane::start();
    let dir = cp.work_dir();
    let mut created: Vec<(String, String)> = Vec::new(); // (label, id)
    for alg in ["ecdsa-p256", "ecdsa-p384", "ed25519", "rsa-2048"] {
        let (status, body) = create_issuer(
            &cp,
            &json!({ "name": format!("root-{alg}"), "subject": format!("CN=E2E Root {alg},O=Sigil Tests"), "key_algorithm": alg }),
        );
        assert_eq!(status, 201, "creating a {alg} root: {body}");
        created.push((alg.to_owned(), id_of(&body)));
        let pem = body["certificate"]
            .as_str()
            .unwrap_or_else(|| panic!("no certificate PEM: {body}"));
        let path = dir.join(format!("root-{alg}.pem"));
        write_file(&path, pem);
        let text = x509_text(&path);
        assert!(text.contains("CA:TRUE"), "{alg} root is not a CA:\n{text}");
    }

    let p256_root = created[0].1.clone();
    let (status, body) = create_issuer(
        &cp,
        &json!({ "name": "intermediate-p256", "subject": "CN=E2E Intermediate P-256,O=Sigil Tests", "key_algorithm": "ecdsa-p256", "parent_id": p256_root }),
    );
    assert_eq!(status, 201, "creating an intermediate: {body}");
    let inter = dir.join("intermediate.pem");
    write_file(
        &inter,
        body["certificate"]
            .as_str()
            .unwrap_or_else(|| panic!("no certificate PEM: {body}")),
    );
    let text = x509_text(&inter);
    assert!(
        text.contains("CA:TRUE"),
        "intermediate is not a CA:\n{text}"
    );
    let root_pem = dir.join("root-ecdsa-p256.pem");
    let (ok, out) = sigil_tests::pki::verify(
        &sigil_tests::CertFiles {
            leaf: inter.clone(),
            issuing: root_pem.clone(),
            bundle: root_pem,
        },
        None,
    );
    assert!(ok, "intermediate does not chain to its parent:\n{out}");
    created.push(("intermediate".into(), id_of(&body)));

    for (label, id) in &created {
        let cert = cp.issue_new(id, &format!("leaf-{label}.example.com"));
        let files = cert.write(&dir, &format!("leaf-{label}"));
        let (ok, out) = verify(&files, None);
        assert!(ok, "leaf of {label} does not verify:\n{out}");
        for hash in HASHES {
            let out = assert_ocsp(&dir, &cp.ocsp(&cert.id, hash), &files, hash, &[": good"]);
            println!("{label} ({hash}):\n{out}");
        }
    }

    let (status, body) = create_issuer(
        &cp,
        &json!({ "name": "weird", "subject": "CN=Weird,O=Sigil Tests", "key_algorithm": "dsa-1024" }),
    );
    assert_api_error("unknown key_algorithm", status, &body, 400);
    let (status, body) = create_issuer(
        &cp,
        &json!({ "name": "root-ecdsa-p256", "subject": "CN=Duplicate,O=Sigil Tests", "key_algorithm": "ecdsa-p256" }),
    );
    assert_api_error("duplicate issuer name", status, &body, 409);
}
