//! EST (RFC 7030) through the public router on an in-memory store: OTP enrollment,
//! re-enrollment by client certificate, serverkeygen, `cert_meta`, OCSP and audit. Errors,
//! labels, races and rate limits: est_errors.rs. (The wire flow with curl + openssl over TLS is
//! in tests/tests/est.rs.)

#[path = "support/est_client.rs"]
mod est_client;

use der::{Decode, Encode};
use est_client::*;
use sigil_controlplane::api::public_router;
use sigil_controlplane::config::CpConfig;
use sigil_controlplane::crypto::{KeyAlgorithm, Signer, SoftwareSigner};
use sigil_controlplane::db::Enrollment;
use sigil_controlplane::est::wire;
use sigil_shared::ocsp::HashAlg;
use sigil_shared::revocation::RevocationReason;

#[tokio::test(flavor = "multi_thread")]
async fn enroll_then_reenroll_with_the_issued_certificate() {
    let a = authority(CpConfig::default());
    let r = public_router(a.clone());
    let (_, otp) = a.otps.create_otp("device-001", 3600, 1).unwrap();
    let path = format!("{EST}/simpleenroll");
    let ok = call(
        &r,
        "POST",
        &path,
        Some(("device-001", &otp)),
        None,
        &csr("CN=device-001,O=Example"),
    )
    .await;
    assert_eq!(ok.status, 200, "{}", ok.body);
    assert_eq!(
        ok.headers["content-type"],
        "application/pkcs7-mime; smime-type=certs-only"
    );
    assert_eq!(ok.headers["content-transfer-encoding"], "base64");
    let first = cert_of(&ok.body);
    let id = serial_hex(&first);
    let rec = a.certificates.cert(&id).unwrap();
    assert_eq!(rec.issuer_id, "demo", "the default CA is the issuing one");
    assert_eq!(rec.subject, "CN=device-001,O=Example");
    assert_eq!(enrollment_of(&a, &first), Some(Enrollment::SimpleEnroll));
    a.certificates
        .ocsp_response(&id, HashAlg::Sha256)
        .expect("pre-signed OCSP response");

    // The OTP is used up.
    let again = call(
        &r,
        "POST",
        &path,
        Some(("device-001", &otp)),
        None,
        &csr("CN=device-001"),
    )
    .await;
    assert_eq!(again.status, 401);
    assert!(again.headers["www-authenticate"]
        .to_str()
        .unwrap()
        .starts_with("Basic realm="));

    // Re-enrollment: the issued certificate as TLS client certificate, same subject.
    let re = format!("{EST}/simplereenroll");
    let renewed = call(
        &r,
        "POST",
        &re,
        None,
        Some(&first),
        &csr("CN=device-001,O=Example"),
    )
    .await;
    assert_eq!(renewed.status, 200, "{}", renewed.body);
    let second = cert_of(&renewed.body);
    assert_eq!(
        a.certificates.cert(&serial_hex(&second)).unwrap().subject,
        rec.subject
    );
    assert_eq!(enrollment_of(&a, &second), Some(Enrollment::SimpleReenroll));

    // A different subject is refused; so are no certificate and a revoked (held) one.
    let other = call(&r, "POST", &re, None, Some(&first), &csr("CN=someone-else")).await;
    assert_eq!(other.status, 400, "{}", other.body);
    let none = call(&r, "POST", &re, None, None, &csr("CN=device-001,O=Example")).await;
    assert_eq!(none.status, 401);
    a.certificates
        .revoke(&id, RevocationReason::CertificateHold)
        .unwrap();
    let held = call(
        &r,
        "POST",
        &re,
        None,
        Some(&first),
        &csr("CN=device-001,O=Example"),
    )
    .await;
    assert_eq!(held.status, 401, "{}", held.body);
    assert!(held.body.contains("revoked"), "{}", held.body);

    // A certificate of another CA (valid signature by that CA, not this one's).
    let (_, otp2) = a.otps.create_otp("other-ca-device", 3600, 1).unwrap();
    let foreign = call(
        &r,
        "POST",
        &format!("{EST}/demo-root/simpleenroll"),
        Some(("other-ca-device", &otp2)),
        None,
        &csr("CN=other-ca-device"),
    )
    .await;
    assert_eq!(foreign.status, 200, "{}", foreign.body);
    let foreign = cert_of(&foreign.body);
    let denied = call(
        &r,
        "POST",
        &re,
        None,
        Some(&foreign),
        &csr("CN=other-ca-device"),
    )
    .await;
    assert_eq!(denied.status, 401, "{}", denied.body);

    let (_, total) = a
        .audit
        .list(1, u64::MAX, 1, 100, &|e| {
            e.event.action == "est.auth.failure"
        })
        .unwrap();
    assert_eq!(total, 2, "held and foreign certificates audited");
    // /metrics counts each answer by operation and status, and the used-up OTP's reason.
    let text = a.metrics().render();
    for line in [
        "sigil_cp_est_requests_total{operation=\"simpleenroll\",status=\"200\"} 2",
        "sigil_cp_est_requests_total{operation=\"simpleenroll\",status=\"401\"} 1",
        "sigil_cp_est_requests_total{operation=\"simplereenroll\",status=\"200\"} 1",
        "sigil_cp_est_requests_total{operation=\"simplereenroll\",status=\"400\"} 1",
        "sigil_cp_est_requests_total{operation=\"simplereenroll\",status=\"401\"} 3",
        "sigil_cp_est_otp_failures_total{reason=\"used_up\"} 1",
    ] {
        assert!(text.contains(line), "{line} in\n{text}");
    }
    assert!(a.audit.verify(1, u64::MAX).unwrap().valid());
}

#[tokio::test(flavor = "multi_thread")]
async fn serverkeygen_returns_key_and_certificate() {
    let a = authority(CpConfig::default());
    let r = public_router(a.clone());
    let (_, otp) = a.otps.create_otp("keyless", 3600, 1).unwrap();
    let resp = call(
        &r,
        "POST",
        &format!("{EST}/demo/serverkeygen"),
        Some(("keyless", &otp)),
        None,
        &csr("CN=keyless"),
    )
    .await;
    assert_eq!(resp.status, 200, "{}", resp.body);
    let ct = resp.headers["content-type"].to_str().unwrap();
    assert!(ct.starts_with("multipart/mixed; boundary="), "{ct}");
    let parts: Vec<&str> = resp.body.split(&format!("--{}", wire::BOUNDARY)).collect();
    assert_eq!(parts.len(), 4);
    assert!(parts[1].contains("Content-Type: application/pkcs8"));
    assert!(parts[2].contains("smime-type=certs-only"));
    let payload = |p: &str| p.split("\r\n\r\n").nth(1).unwrap().to_string();
    let pkcs8 = wire::decode_base64(payload(parts[1]).as_bytes()).unwrap();
    let cert = cert_of(&payload(parts[2]));
    let key = SoftwareSigner::from_pkcs8(KeyAlgorithm::EcdsaP256, &pkcs8).unwrap();
    let parsed = x509_cert::Certificate::from_der(&cert).unwrap();
    assert_eq!(
        parsed
            .tbs_certificate
            .subject_public_key_info
            .to_der()
            .unwrap(),
        key.public_key_der(),
        "the certificate is for the generated key"
    );
    assert_eq!(enrollment_of(&a, &cert), Some(Enrollment::ServerKeygen));
    let text = a.metrics().render();
    assert!(
        text.contains("sigil_cp_est_requests_total{operation=\"serverkeygen\",status=\"200\"} 1"),
        "{text}"
    );
}
