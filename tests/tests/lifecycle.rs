//! The certificate lifecycle on a real control plane (issue 23, certctl's shapes): renewal
//! with the same key, a new CSR or a generated key, the renewal chain (`versions`), bulk
//! renewal with its criteria guard, and archiving (hidden from lists, still answered by a
//! data plane's OCSP and on CRLs). Keys and certificates are judged by openssl.

use std::time::Duration;

use serde_json::{json, Value};
use sigil_tests::dp::{openssl_ocsp_url, wait_for, DataPlane};
use sigil_tests::pki::{combined, crl_serials, crl_text, normalize_hex, run};
use sigil_tests::{assert_api_error, gen_csr, write_file, ControlPlane, Issued};

/// The public key of a PEM certificate or private key, as openssl prints it.
fn public_key(cp: &ControlPlane, pem: &str, what: &str) -> String {
    let path = cp.work_dir().join(format!("{what}.pem"));
    write_file(&path, pem);
    let args: Vec<&str> = if pem.contains("PRIVATE KEY") {
        vec!["pkey", "-pubout", "-in", path.to_str().unwrap()]
    } else {
        vec!["x509", "-noout", "-pubkey", "-in", path.to_str().unwrap()]
    };
    String::from_utf8(run("openssl", &args).stdout).unwrap()
}

fn subject_and_sans(cp: &ControlPlane, pem: &str, what: &str) -> String {
    let path = cp.work_dir().join(format!("{what}-names.pem"));
    write_file(&path, pem);
    let out = run(
        "openssl",
        &[
            "x509",
            "-noout",
            "-subject",
            "-ext",
            "subjectAltName",
            "-in",
            path.to_str().unwrap(),
        ],
    );
    String::from_utf8(out.stdout).unwrap()
}

fn renew(cp: &ControlPlane, id: &str, body: Option<&Value>) -> (u16, Value) {
    cp.api("POST", &format!("/api/v1/certificates/{id}/renew"), body)
}

#[test]
fn renewals_keep_names_form_one_chain_and_never_fork() {
    let cp = ControlPlane::start();
    let issuer = cp.demo_issuer_id();
    let dir = cp.work_dir();
    let csr = gen_csr(
        &dir,
        "renew.example.com",
        &["renew.example.com", "www.renew.example.com"],
    );
    let a = cp.issue(&issuer, &csr);

    // Same key: an empty body.
    let (status, b) = renew(&cp, &a.id, None);
    assert_eq!(status, 201, "{b}");
    assert_eq!(
        (b["key"].as_str(), b["renewed_from"].as_str()),
        (Some("same"), Some(a.id.as_str()))
    );
    let b = Issued::from_json(b);
    assert_ne!(a.id, b.id);
    assert_eq!(
        public_key(&cp, &a.certificate, "a"),
        public_key(&cp, &b.certificate, "b")
    );
    assert_eq!(
        subject_and_sans(&cp, &a.certificate, "a"),
        subject_and_sans(&cp, &b.certificate, "b")
    );
    let files = b.write(&dir, "b");
    let verify = run_verify(&files.bundle, &files.leaf);
    assert!(verify.contains(": OK"), "{verify}");

    // The old one knows its successor; renewing it again would fork the chain.
    let (_, old) = cp.api("GET", &format!("/api/v1/certificates/{}", a.id), None);
    assert_eq!(old["renewed_by"], b.id.as_str(), "{old}");
    let (status, v) = renew(&cp, &a.id, None);
    assert_api_error("renewing a renewed certificate", status, &v, 409);
    assert!(v["message"].as_str().unwrap().contains(&b.id), "{v}");

    // A CSR naming something else is refused; one with the same names gives a new key.
    let other = gen_csr(&dir, "other.example.com", &["other.example.com"]);
    let (status, v) = renew(&cp, &b.id, Some(&json!({"csr": other})));
    assert_api_error("renewal CSR with other names", status, &v, 400);
    let same_names = gen_csr(
        &dir,
        "renew.example.com",
        &["www.renew.example.com", "renew.example.com"],
    );
    let (status, c) = renew(
        &cp,
        &b.id,
        Some(&json!({"csr": same_names, "validity_days": 30})),
    );
    assert_eq!((status, c["key"].as_str()), (201, Some("csr")), "{c}");
    let c = Issued::from_json(c);
    assert_ne!(
        public_key(&cp, &b.certificate, "b"),
        public_key(&cp, &c.certificate, "c")
    );

    // A generated key, of another algorithm: returned once, and it is the certificate's.
    let (status, d) = renew(&cp, &c.id, Some(&json!({"key_algorithm": "ecdsa-p384"})));
    assert_eq!((status, d["key"].as_str()), (201, Some("generated")), "{d}");
    let key = d["private_key"].as_str().expect("private_key").to_string();
    let d = Issued::from_json(d);
    assert_eq!(
        public_key(&cp, &key, "d-key"),
        public_key(&cp, &d.certificate, "d")
    );
    assert!(x509_text(&cp, &d.certificate).contains("NIST CURVE: P-384"));
    for (body, what) in [
        (
            json!({"csr": "x", "generate_key": true}),
            "csr and generate_key",
        ),
        (json!({"key_algorithm": "dsa"}), "unknown algorithm"),
        (json!({"surprise": 1}), "unknown field"),
    ] {
        let (status, v) = renew(&cp, &d.id, Some(&body));
        assert_api_error(what, status, &v, 400);
    }

    // The chain, oldest first, from any of its members; paged as certctl pages.
    for member in [&a.id, &c.id, &d.id] {
        let (status, v) = cp.api(
            "GET",
            &format!("/api/v1/certificates/{member}/versions"),
            None,
        );
        assert_eq!(status, 200, "{v}");
        let ids: Vec<&str> = v["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x["id"].as_str().unwrap())
            .collect();
        assert_eq!(ids, [&a.id, &b.id, &c.id, &d.id], "{v}");
        assert_eq!(v["total"], 4);
        let first = &v["data"][0];
        assert_eq!(
            (first["version"].as_u64(), first["certificate_id"].as_str()),
            (Some(1), Some(a.id.as_str()))
        );
        assert!(
            first["pem_chain"]
                .as_str()
                .unwrap()
                .matches("BEGIN CERTIFICATE")
                .count()
                >= 2
        );
        assert_eq!(first["fingerprint_sha256"].as_str().unwrap().len(), 64);
        assert_eq!(
            (first["key_algorithm"].as_str(), first["key_size"].as_u64()),
            (Some("ECDSA"), Some(256))
        );
    }
    let (_, page2) = cp.api(
        "GET",
        &format!("/api/v1/certificates/{}/versions?per_page=3&page=2", a.id),
        None,
    );
    assert_eq!(page2["data"][0]["id"], d.id.as_str(), "{page2}");
    assert_eq!(page2["data"][0]["version"], 4);

    // Revoked certificates are not renewed; every renewal is audited with its link.
    assert_eq!(cp.revoke(&d.id, "keyCompromise").0, 200);
    let (status, v) = renew(&cp, &d.id, None);
    assert_api_error("renewing a revoked certificate", status, &v, 409);
    let (_, audit) = cp.api("GET", "/api/v1/audit?action=certificate.renew", None);
    assert_eq!(audit["total"], 3, "{audit}");
    assert_eq!(
        audit["data"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["details"]["renewed_from"] == a.id.as_str())
            .count(),
        1
    );
    let (status, v) = renew(&cp, "00ff", None);
    assert_api_error("renewing nothing", status, &v, 404);
}

fn run_verify(bundle: &std::path::Path, leaf: &std::path::Path) -> String {
    combined(&run(
        "openssl",
        &[
            "verify",
            "-CAfile",
            bundle.to_str().unwrap(),
            leaf.to_str().unwrap(),
        ],
    ))
}

fn x509_text(cp: &ControlPlane, pem: &str) -> String {
    let path = cp.work_dir().join("text.pem");
    write_file(&path, pem);
    String::from_utf8(
        run(
            "openssl",
            &["x509", "-noout", "-text", "-in", path.to_str().unwrap()],
        )
        .stdout,
    )
    .unwrap()
}

#[test]
fn bulk_renewal_needs_a_criterion_and_skips_what_it_must() {
    let cp = ControlPlane::start();
    let (status, v) = cp.api(
        "POST",
        "/api/v1/issuers",
        Some(&json!({"id": "bulk", "name": "bulk", "subject": "CN=bulk"})),
    );
    assert_eq!(status, 201, "{v}");
    let certs: Vec<Issued> = (0..3)
        .map(|i| cp.issue_new("bulk", &format!("r{i}.example.com")))
        .collect();
    let bystander = cp.issue_new(&cp.demo_issuer_id(), "bystander.example.com");
    assert_eq!(cp.revoke(&certs[0].id, "superseded").0, 200);
    let (status, renewed1) = renew(&cp, &certs[1].id, None);
    assert_eq!(status, 201, "{renewed1}");

    for (what, body) in [
        ("no criterion", json!({})),
        ("owner", json!({"owner_id": "o"})),
        (
            "bad date",
            json!({"issuer_id": "bulk", "expires_before": "soon"}),
        ),
    ] {
        let (status, v) = cp.api("POST", "/api/v1/certificates/bulk-renew", Some(&body));
        assert_api_error(what, status, &v, 400);
    }
    let (status, v) = cp.api(
        "POST",
        "/api/v1/certificates/bulk-renew",
        Some(&json!({"issuer_id": "bulk", "validity_days": 10})),
    );
    assert_eq!(status, 200, "{v}");
    assert_eq!(
        (
            v["total_matched"].as_u64(),
            v["total_enqueued"].as_u64(),
            v["total_skipped"].as_u64(),
            v["total_failed"].as_u64()
        ),
        (Some(4), Some(2), Some(2), Some(0)),
        "{v}"
    );
    let renewed: Vec<&str> = v["enqueued_jobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["certificate_id"].as_str().unwrap())
        .collect();
    assert!(
        renewed.contains(&certs[2].id.as_str())
            && renewed.contains(&renewed1["id"].as_str().unwrap()),
        "{v}"
    );
    let skipped = v["skipped"].to_string();
    assert!(
        skipped.contains("revoked") && skipped.contains("already renewed"),
        "{skipped}"
    );
    // The new certificates are valid 10 days, from the same issuer; the bystander is untouched.
    let new_id = v["enqueued_jobs"][0]["new_certificate_id"]
        .as_str()
        .unwrap();
    let (_, n) = cp.api("GET", &format!("/api/v1/certificates/{new_id}"), None);
    assert_eq!(n["issuer_id"], "bulk");
    let (_, by) = cp.api(
        "GET",
        &format!("/api/v1/certificates/{}", bystander.id),
        None,
    );
    assert!(by.get("renewed_by").is_none(), "{by}");
    let (_, audit) = cp.api("GET", "/api/v1/audit?action=certificate.bulk_renew", None);
    assert_eq!(audit["total"], 1, "{audit}");
}

#[test]
fn archived_certificates_leave_lists_but_not_ocsp_or_crls() {
    let cp = ControlPlane::start();
    let dp = DataPlane::start(&cp.base_url());
    let issuer = cp.demo_issuer_id();
    let kept = cp.issue_new(&issuer, "kept.example.com");
    let archived = cp.issue_new(&issuer, "archived.example.com");
    let revoked = cp.issue_new(&issuer, "revoked.example.com");
    assert_eq!(cp.revoke(&revoked.id, "keyCompromise").0, 200);
    for id in [&archived.id, &revoked.id, &archived.id] {
        let (status, v) = cp.api("DELETE", &format!("/api/v1/certificates/{id}"), None);
        assert_eq!(status, 204, "archive {id} (twice is fine): {v}");
    }
    let (status, v) = cp.api("DELETE", "/api/v1/certificates/00ee", None);
    assert_api_error("archiving nothing", status, &v, 404);

    let total = |q: &str| {
        let (status, v) = cp.api("GET", &format!("/api/v1/certificates?{q}"), None);
        assert_eq!(status, 200, "{q}: {v}");
        v
    };
    let default = total("");
    assert_eq!(default["total"], 1, "{default}");
    assert_eq!(default["data"][0]["id"], kept.id.as_str());
    let only = total("status=Archived");
    assert_eq!(only["total"], 2, "{only}");
    assert!(only["data"][0]["archived_at"].is_string(), "{only}");
    assert_eq!(total("include_archived=true")["total"], 3);
    assert_eq!(total("status=revoked&include_archived=true")["total"], 1);
    assert_eq!(total("status=revoked")["total"], 0);
    let (_, one) = cp.api(
        "GET",
        &format!("/api/v1/certificates/{}", archived.id),
        None,
    );
    assert!(one["archived_at"].is_string(), "{one}");

    // Still answered: the data plane's OCSP says good for the archived one...
    let files = archived.write(&dp.work_dir(), "archived");
    let url = dp.url("/");
    wait_for(
        Duration::from_secs(10),
        "archived certificate good on the data plane",
        || {
            openssl_ocsp_url(&url, &files)
                .contains(": good")
                .then_some(())
        },
    );
    // ...and the revoked archived one is on the regenerated CRL.
    let (status, v) = cp.api("POST", &format!("/api/v1/issuers/{issuer}/crl"), None);
    assert_eq!(status, 200, "{v}");
    let (text, _) = crl_text(&cp.work_dir(), &cp.crl(&issuer), &files.issuing);
    let serials = crl_serials(&text);
    assert!(serials.contains(&normalize_hex(&revoked.serial)), "{text}");
    let (_, audit) = cp.api("GET", "/api/v1/audit?action=certificate.archive", None);
    assert_eq!(
        audit["total"], 2,
        "archiving twice is audited once: {audit}"
    );
    // An archived certificate is not renewed.
    let (status, v) = renew(&cp, &archived.id, None);
    assert_api_error("renewing an archived certificate", status, &v, 409);
}
