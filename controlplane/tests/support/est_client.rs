//! Shared by the in-process EST tests: the services with the demo CAs on a MemStore, CSRs,
//! and calls through the public router with a chosen peer and client certificate.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Request, StatusCode};
use base64::Engine;
use der::{Decode, Encode};
use http_body_util::BodyExt;
use rustls::pki_types::CertificateDer;
use sigil_controlplane::config::CpConfig;
use sigil_controlplane::crypto::{KeyAlgorithm, Signer, SoftwareSigner};
use sigil_controlplane::db::{cf, Enrollment};
use sigil_controlplane::est::{pkcs7, wire};
use sigil_controlplane::metrics::Metrics;
use sigil_controlplane::services::Services;
use sigil_controlplane::tls::ConnInfo;
use sigil_storage::{MemStore, Store};
use tower::ServiceExt;
use x509_cert::request::{CertReq, CertReqInfo};
use x509_cert::spki::{AlgorithmIdentifierOwned, SubjectPublicKeyInfoOwned};

pub const EST: &str = "/.well-known/est";

pub fn authority(cfg: CpConfig) -> Arc<Services> {
    let store: Arc<dyn Store> = Arc::new(MemStore::new(cf::ALL));
    let (a, _) = Services::open(
        store,
        cfg,
        Metrics::new(),
        Arc::new(sigil_kes::Kek::new("kek-test", [7; 32])),
    )
    .unwrap();
    a.issuers.init_demo().unwrap();
    Arc::new(a)
}

/// A P-256 CSR for `subject` (RFC 4514) with no attributes, DER.
pub fn csr_der(subject: &str) -> Vec<u8> {
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
    req.to_der().unwrap()
}

/// [`csr_der`] as base64 (EST's wire form).
pub fn csr(subject: &str) -> String {
    wire::encode_base64(&csr_der(subject))
}

pub struct Reply {
    pub status: StatusCode,
    pub headers: axum::http::HeaderMap,
    pub body: String,
}

pub async fn call(
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
pub fn cert_of(body: &str) -> Vec<u8> {
    let certs = pkcs7::certs_of(&wire::decode_base64(body.as_bytes()).unwrap()).unwrap();
    assert_eq!(certs.len(), 1);
    certs.into_iter().next().unwrap()
}

pub fn serial_hex(cert: &[u8]) -> String {
    let c = x509_cert::Certificate::from_der(cert).unwrap();
    hex::encode(c.tbs_certificate.serial_number.as_bytes())
}

pub fn enrollment_of(a: &Services, cert: &[u8]) -> Option<Enrollment> {
    let serial = hex::decode(serial_hex(cert)).unwrap();
    a.certificates.meta(&serial).unwrap().map(|m| m.enrollment)
}
