//! EST (RFC 7030) through the public router on an in-memory store: OTP enrollment,
//! re-enrollment by client certificate, serverkeygen, labels, errors, single use under
//! concurrency, rate limiting, audit and `cert_meta`. (The wire flow with curl + openssl over
//! TLS is in tests/tests/est.rs.)

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Request, StatusCode};
use base64::Engine;
use der::{Decode, Encode};
use http_body_util::BodyExt;
use rustls::pki_types::CertificateDer;
use sigil_controlplane::api::public_router;
use sigil_controlplane::authority::{Authority, CreateCa};
use sigil_controlplane::crypto::{KeyAlgorithm, Signer, SoftwareSigner};
use sigil_controlplane::db::{cf, CertMeta, Enrollment};
use sigil_controlplane::est::{pkcs7, wire};
use sigil_controlplane::metrics::Metrics;
use sigil_controlplane::tls::ConnInfo;
use sigil_shared::config::{CpConfig, Profile};
use sigil_shared::ocsp::HashAlg;
use sigil_shared::revocation::RevocationReason;
use sigil_storage::{MemStore, Store};
use tower::ServiceExt;
use x509_cert::request::{CertReq, CertReqInfo};
use x509_cert::spki::{AlgorithmIdentifierOwned, SubjectPublicKeyInfoOwned};

const EST: &str = "/.well-known/est";

fn authority(cfg: CpConfig) -> Arc<Authority> {
    let store: Arc<dyn Store> = Arc::new(MemStore::new(cf::ALL));
    let a = Authority::open(store, cfg, Metrics::new()).unwrap();
    a.init_demo().unwrap();
    Arc::new(a)
}

/// A P-256 CSR for `subject` (RFC 4514) with no attributes, as base64 DER.
fn csr(subject: &str) -> String {
    let (signer, _) = SoftwareSigner::generate(KeyAlgorithm::EcdsaP256).unwrap();
    let info = CertReqInfo {
        version: x509_cert::request::Version::V1,
        subject: sigil_controlplane::x509::parse_name(subject).unwrap(),
        public_key: SubjectPublicKeyInfoOwned::from_der(signer.public_key_der()).unwrap(),
        attributes: Default::default(),
    };
    let sig = signer.sign(&info.to_der().unwrap()).unwrap();
    let req = CertReq {
        info,
        algorithm: AlgorithmIdentifierOwned::from_der(signer.signature_algorithm_der()).unwrap(),
        signature: der::asn1::BitString::from_bytes(&sig).unwrap(),
    };
    wire::encode_base64(&req.to_der().unwrap())
}

struct Reply {
    status: StatusCode,
    headers: axum::http::HeaderMap,
    body: String,
}

async fn call(
    router: &axum::Router,
    method: &str,
    path: &str,
    basic: Option<(&str, &str)>,
    client_cert: Option<&[u8]>,
    body: &str,
) -> Reply {
    let mut req = Request::builder().method(method).uri(path);
    if let Some((u, p)) = basic {
        let v = base64::engine::general_purpose::STANDARD.encode(format!("{u}:{p}"));
        req = req.header("authorization", format!("Basic {v}"));
    }
    let mut req = req
        .header("content-type", "application/pkcs10")
        .body(Body::from(body.to_string()))
        .unwrap();
    let remote: SocketAddr = "192.0.2.7:40000".parse().unwrap();
    req.extensions_mut().insert(ConnectInfo(ConnInfo {
        remote,
        client_chain: client_cert.map(|c| Arc::new(vec![CertificateDer::from(c.to_vec())])),
    }));
    let resp = router.clone().oneshot(req).await.unwrap();
    let status = resp.status();
    let headers = resp.headers().clone();
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    Reply {
        status,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    }
}

/// The single certificate of a base64 certs-only body.
fn cert_of(body: &str) -> Vec<u8> {
    let certs = pkcs7::certs_of(&wire::decode_base64(body.as_bytes()).unwrap()).unwrap();
    assert_eq!(certs.len(), 1);
    certs.into_iter().next().unwrap()
}

fn serial_hex(cert: &[u8]) -> String {
    let c = x509_cert::Certificate::from_der(cert).unwrap();
    hex::encode(c.tbs_certificate.serial_number.as_bytes())
}

fn enrollment_of(a: &Authority, cert: &[u8]) -> Option<Enrollment> {
    let serial = hex::decode(serial_hex(cert)).unwrap();
    a.db.get::<CertMeta>(cf::CERT_META, &serial)
        .unwrap()
        .map(|m| m.enrollment)
}

#[tokio::test(flavor = "multi_thread")]
async fn enroll_then_reenroll_with_the_issued_certificate() {
    let a = authority(CpConfig::default());
    let r = public_router(a.clone());
    let (_, otp) = a.create_otp("device-001", 3600, 1).unwrap();
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
    let rec = a.cert(&id).unwrap();
    assert_eq!(rec.issuer_id, "demo", "the default CA is the issuing one");
    assert_eq!(rec.subject, "CN=device-001,O=Example");
    assert_eq!(enrollment_of(&a, &first), Some(Enrollment::SimpleEnroll));
    a.ocsp_response(&id, HashAlg::Sha256)
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
    assert_eq!(a.cert(&serial_hex(&second)).unwrap().subject, rec.subject);
    assert_eq!(enrollment_of(&a, &second), Some(Enrollment::SimpleReenroll));

    // A different subject is refused; so are no certificate and a revoked (held) one.
    let other = call(&r, "POST", &re, None, Some(&first), &csr("CN=someone-else")).await;
    assert_eq!(other.status, 400, "{}", other.body);
    let none = call(&r, "POST", &re, None, None, &csr("CN=device-001,O=Example")).await;
    assert_eq!(none.status, 401);
    a.revoke(&id, RevocationReason::CertificateHold).unwrap();
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
    let (_, otp2) = a.create_otp("other-ca-device", 3600, 1).unwrap();
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
    assert!(
        sigil_controlplane::audit::verify(a.db.store().as_ref(), 1, u64::MAX)
            .unwrap()
            .valid()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn serverkeygen_returns_key_and_certificate() {
    let a = authority(CpConfig::default());
    let r = public_router(a.clone());
    let (_, otp) = a.create_otp("keyless", 3600, 1).unwrap();
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
}

#[tokio::test(flavor = "multi_thread")]
async fn errors_labels_cacerts_and_csrattrs() {
    let mut cfg = CpConfig::default();
    cfg.profiles.insert(
        "est-demo-root".into(),
        Profile {
            require_san: true,
            ..Profile::default()
        },
    );
    let a = authority(cfg);
    let r = public_router(a.clone());
    let (_, otp) = a.create_otp("dev", 3600, 1).unwrap();
    let enroll = format!("{EST}/simpleenroll");

    let get = call(&r, "GET", &enroll, None, None, "").await;
    assert_eq!(get.status, 405);
    assert_eq!(get.headers["allow"], "POST");
    assert!(get.body.contains("POST"));
    assert_eq!(
        call(&r, "POST", &format!("{EST}/cacerts"), None, None, "")
            .await
            .status,
        405
    );
    let unknown = call(
        &r,
        "GET",
        &format!("{EST}/no-such-ca/cacerts"),
        None,
        None,
        "",
    )
    .await;
    assert_eq!(unknown.status, 404);
    assert!(unknown.body.contains("no-such-ca"), "{}", unknown.body);
    assert_eq!(unknown.headers["content-type"], "text/plain; charset=utf-8");

    let missing = call(&r, "POST", &enroll, None, None, &csr("CN=dev")).await;
    assert_eq!(missing.status, 401);
    assert!(missing.headers.contains_key("www-authenticate"));
    let garbage = call(&r, "POST", &enroll, Some(("dev", &otp)), None, "not a CSR!").await;
    assert_eq!(garbage.status, 400, "{}", garbage.body);
    let mismatch = call(
        &r,
        "POST",
        &enroll,
        Some(("dev", &otp)),
        None,
        &csr("CN=not-dev"),
    )
    .await;
    assert_eq!(mismatch.status, 400);
    assert!(mismatch.body.contains("entity id"), "{}", mismatch.body);
    // Neither spent the OTP: PEM works too.
    let der = wire::decode_base64(csr("CN=dev").as_bytes()).unwrap();
    let pem = format!(
        "-----BEGIN CERTIFICATE REQUEST-----\n{}-----END CERTIFICATE REQUEST-----\n",
        wire::encode_base64(&der)
    );
    let ok = call(&r, "POST", &enroll, Some(("dev", &otp)), None, &pem).await;
    assert_eq!(ok.status, 200, "{}", ok.body);

    let cacerts = call(&r, "GET", &format!("{EST}/cacerts"), None, None, "").await;
    assert_eq!(cacerts.status, 200);
    let chain = pkcs7::certs_of(&wire::decode_base64(cacerts.body.as_bytes()).unwrap()).unwrap();
    let demo = a.ca("demo").unwrap();
    let root = a.ca("demo-root").unwrap();
    let mut want = vec![demo.record.cert_der.clone(), root.record.cert_der.clone()];
    want.sort();
    assert_eq!(chain, want, "issuing CA and root");

    assert_eq!(
        call(&r, "GET", &format!("{EST}/csrattrs"), None, None, "")
            .await
            .status,
        204
    );
    let attrs = call(
        &r,
        "GET",
        &format!("{EST}/demo-root/csrattrs"),
        None,
        None,
        "",
    )
    .await;
    assert_eq!(attrs.status, 200);
    assert_eq!(attrs.headers["content-type"], "application/csrattrs");
    assert_eq!(
        wire::decode_base64(attrs.body.as_bytes()).unwrap(),
        [0x30, 0x05, 0x06, 0x03, 0x55, 0x1d, 0x11],
        "asks for subjectAltName"
    );

    // A second issuing CA: no default any more, labels still work.
    a.create_ca(CreateCa {
        name: "iot-fleet".into(),
        subject: Some("CN=IoT Fleet CA".into()),
        parent_id: Some("demo-root".into()),
        ..Default::default()
    })
    .unwrap();
    let nodefault = call(&r, "GET", &format!("{EST}/cacerts"), None, None, "").await;
    assert_eq!(nodefault.status, 404);
    assert!(nodefault.body.contains("iot-fleet"), "{}", nodefault.body);
    assert_eq!(
        call(
            &r,
            "GET",
            &format!("{EST}/iot-fleet/cacerts"),
            None,
            None,
            ""
        )
        .await
        .status,
        200
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn one_use_otp_wins_once_and_failures_are_rate_limited() {
    let a = authority(CpConfig::default());
    let r = public_router(a.clone());
    let (_, otp) = a.create_otp("racer", 3600, 1).unwrap();
    let path = format!("{EST}/simpleenroll");
    let tasks: Vec<_> = (0..6)
        .map(|_| {
            let (r, otp, path) = (r.clone(), otp.clone(), path.clone());
            tokio::spawn(async move {
                call(
                    &r,
                    "POST",
                    &path,
                    Some(("racer", &otp)),
                    None,
                    &csr("CN=racer"),
                )
                .await
                .status
            })
        })
        .collect();
    let mut statuses = Vec::new();
    for t in tasks {
        statuses.push(t.await.unwrap().as_u16());
    }
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 401, 401, 401, 401, 401]);

    // 5 failures per entity, then 429 with Retry-After (without checking the password).
    for _ in 0..5 {
        let s = call(
            &r,
            "POST",
            &path,
            Some(("victim", "guess")),
            None,
            &csr("CN=victim"),
        )
        .await;
        assert_eq!(s.status, 401);
    }
    let limited = call(
        &r,
        "POST",
        &path,
        Some(("victim", "guess")),
        None,
        &csr("CN=victim"),
    )
    .await;
    assert_eq!(limited.status, 429, "{}", limited.body);
    assert!(limited.headers.contains_key("retry-after"));
    let (_, fresh) = a.create_otp("bystander", 3600, 1).unwrap();
    let ok = call(
        &r,
        "POST",
        &path,
        Some(("bystander", &fresh)),
        None,
        &csr("CN=bystander"),
    )
    .await;
    assert_eq!(
        ok.status, 200,
        "another entity from the same address: {}",
        ok.body
    );

    let failures = a
        .audit
        .list(1, u64::MAX, 1, 100, &|e| {
            e.event.action == "otp.use" && !e.event.success
        })
        .unwrap()
        .1;
    assert_eq!(
        failures,
        5 + 5,
        "race losers and wrong guesses audited, 429s not"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn labels_follow_renames_and_disabled_issuers_refuse() {
    use sigil_controlplane::authority::IssuerUpdate;
    let a = authority(CpConfig::default());
    let r = public_router(a.clone());
    a.update_issuer(
        "demo",
        &IssuerUpdate {
            name: Some("iot-fleet".into()),
            ..Default::default()
        },
    )
    .unwrap();
    let cacerts = |label: &'static str| {
        let r = r.clone();
        async move {
            call(&r, "GET", &format!("{EST}/{label}/cacerts"), None, None, "")
                .await
                .status
        }
    };
    assert_eq!(cacerts("iot-fleet").await, 200);
    assert_eq!(
        cacerts("demo").await,
        404,
        "the old name is no label any more"
    );

    a.update_issuer(
        "demo",
        &IssuerUpdate {
            enabled: Some(false),
            ..Default::default()
        },
    )
    .unwrap();
    let (_, otp) = a.create_otp("dev", 3600, 1).unwrap();
    let path = format!("{EST}/iot-fleet/simpleenroll");
    let refused = call(&r, "POST", &path, Some(("dev", &otp)), None, &csr("CN=dev")).await;
    assert_eq!(refused.status, 409, "{}", refused.body);
    assert!(refused.body.contains("disabled"), "{}", refused.body);
    a.update_issuer(
        "demo",
        &IssuerUpdate {
            enabled: Some(true),
            ..Default::default()
        },
    )
    .unwrap();
    let ok = call(&r, "POST", &path, Some(("dev", &otp)), None, &csr("CN=dev")).await;
    assert_eq!(
        ok.status, 200,
        "the refusal did not spend the OTP: {}",
        ok.body
    );
}
