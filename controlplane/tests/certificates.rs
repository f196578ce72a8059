//! The certificates and issuers services on an in-memory store: issuance, response selection,
//! revocation rules, refresh, CRLs. (End-to-end tests against the real process are in the
//! root `tests/`.)

use std::sync::Arc;

use aws_lc_rs::signature::{UnparsedPublicKey, ECDSA_P256_SHA256_ASN1};
use der::{asn1::BitString, Decode, Encode};
use sigil_controlplane::config::CpConfig;
use sigil_controlplane::crypto::{KeyAlgorithm, Signer, SoftwareSigner};
use sigil_controlplane::db::{cf, CertState};
use sigil_controlplane::metrics::Metrics;
use sigil_controlplane::services::certificates::IssueRequest;
use sigil_controlplane::services::{CertError, IssuerError, Services};
use sigil_controlplane::x509;
use sigil_shared::ocsp::{
    decode_request, encode_request, subject_public_key_bits, CertIdFields, HashAlg,
    RevocationReason,
};
use sigil_shared::replication::{Change, OcspEntry};
use sigil_storage::{MemStore, Store};
use x509_cert::request::{CertReq, CertReqInfo, Version};
use x509_cert::spki::{AlgorithmIdentifierOwned, SubjectPublicKeyInfoOwned};
use x509_ocsp::{BasicOcspResponse, OcspResponse};

/// The services on a fresh in-memory store with the demo CAs, and the store.
fn services() -> (Services, Arc<dyn Store>) {
    let store: Arc<dyn Store> = Arc::new(MemStore::new(cf::ALL));
    let (a, _) = Services::open(
        store.clone(),
        CpConfig::default(),
        Metrics::new(),
        Arc::new(sigil_kes::Kek::new("kek-test", [7; 32])),
    )
    .unwrap();
    a.issuers.init_demo().unwrap();
    (a, store)
}

fn csr(cn: &str) -> Vec<u8> {
    let (key, _) = SoftwareSigner::generate(KeyAlgorithm::EcdsaP256).unwrap();
    let info = CertReqInfo {
        version: Version::V1,
        subject: x509::parse_name(&format!("CN={cn}")).unwrap(),
        public_key: SubjectPublicKeyInfoOwned::from_der(key.public_key_der()).unwrap(),
        attributes: Default::default(),
    };
    let sig = key.sign(&info.to_der().unwrap()).unwrap();
    let req = CertReq {
        info,
        algorithm: AlgorithmIdentifierOwned::from_der(key.signature_algorithm_der()).unwrap(),
        signature: BitString::from_bytes(&sig).unwrap(),
    };
    req.to_der().unwrap()
}

fn issue(a: &Services, cn: &str) -> sigil_controlplane::db::CertRecord {
    a.certificates
        .issue(IssueRequest {
            issuer_id: "demo".into(),
            csr: csr(cn),
            validity_days: None,
            profile: None,
        })
        .unwrap()
}

/// An OCSP request for `cert` as a client would send it: the CertID's hashes computed with
/// RustCrypto from the issuer's certificate (independently of Sigil's own derivation), the
/// DER written by `sigil_shared::ocsp::encode_request` (property-tested against x509-ocsp).
fn request_for(a: &Services, cert_der: &[u8], alg: HashAlg) -> Vec<u8> {
    use sha1::Digest;
    let ca = a.issuers.ca("demo").unwrap();
    let issuer = x509_cert::Certificate::from_der(&ca.record.cert_der).unwrap();
    let leaf = x509_cert::Certificate::from_der(cert_der).unwrap();
    let name = issuer.tbs_certificate.subject.to_der().unwrap();
    let key = issuer
        .tbs_certificate
        .subject_public_key_info
        .subject_public_key
        .raw_bytes();
    let (name_hash, key_hash) = match alg {
        HashAlg::Sha1 => (
            sha1::Sha1::digest(&name).to_vec(),
            sha1::Sha1::digest(key).to_vec(),
        ),
        HashAlg::Sha256 => (
            sha2::Sha256::digest(&name).to_vec(),
            sha2::Sha256::digest(key).to_vec(),
        ),
    };
    let serial = leaf.tbs_certificate.serial_number.as_bytes();
    encode_request(&[CertIdFields::new(alg, &name_hash, &key_hash, serial)])
}

fn stored(store: &Arc<dyn Store>, request: &[u8]) -> OcspEntry {
    let parsed = decode_request(request).unwrap();
    let key = parsed.certs[0].key().unwrap();
    let raw = store
        .get(cf::OCSP, key.as_bytes())
        .unwrap()
        .expect("a response is stored for the request's CertID");
    postcard::from_bytes(&raw).unwrap()
}

fn basic(der: &[u8]) -> BasicOcspResponse {
    let resp = OcspResponse::from_der(der).unwrap();
    BasicOcspResponse::from_der(resp.response_bytes.unwrap().response.as_bytes()).unwrap()
}

#[test]
fn issued_certificate_has_responses_selected_by_request_hash() {
    let (a, store) = services();
    let cert = issue(&a, "a.example");
    for alg in HashAlg::ALL {
        let entry = stored(&store, &request_for(&a, &cert.der, alg));
        let b = basic(&entry.der);
        assert!(matches!(
            b.tbs_response_data.responses[0].cert_status,
            x509_ocsp::CertStatus::Good(_)
        ));
        // Signed by the delegated responder embedded in the response.
        let responder = &b.certs.as_ref().expect("responder certificate embedded")[0];
        let spki = responder
            .tbs_certificate
            .subject_public_key_info
            .to_der()
            .unwrap();
        let (_, key) = subject_public_key_bits(&spki).unwrap();
        UnparsedPublicKey::new(&ECDSA_P256_SHA256_ASN1, key)
            .verify(
                &b.tbs_response_data.to_der().unwrap(),
                b.signature.raw_bytes(),
            )
            .unwrap();
        assert_eq!(entry.next_update - entry.this_update, 96 * 3600);
    }
}

#[test]
fn revocation_rules() {
    let (a, store) = services();
    let c = issue(&a, "b.example");
    a.certificates
        .revoke(&c.id, RevocationReason::KeyCompromise)
        .unwrap();
    assert!(matches!(
        a.certificates.revoke(&c.id, RevocationReason::Superseded),
        Err(CertError::AlreadyRevoked { .. })
    ));
    assert!(matches!(
        a.certificates.unhold(&c.id),
        Err(CertError::RevokedForGood { .. })
    ));
    let entry = stored(&store, &request_for(&a, &c.der, HashAlg::Sha1));
    assert!(matches!(
        basic(&entry.der).tbs_response_data.responses[0].cert_status,
        x509_ocsp::CertStatus::Revoked(_)
    ));

    let h = issue(&a, "c.example");
    a.certificates
        .revoke(&h.id, RevocationReason::CertificateHold)
        .unwrap();
    assert!(matches!(
        a.certificates
            .revoke(&h.id, RevocationReason::CertificateHold),
        Err(CertError::AlreadyRevoked { .. })
    ));
    assert_eq!(
        a.certificates.unhold(&h.id).unwrap().state,
        CertState::Active
    );
    let entry = stored(&store, &request_for(&a, &h.der, HashAlg::Sha256));
    assert!(matches!(
        basic(&entry.der).tbs_response_data.responses[0].cert_status,
        x509_ocsp::CertStatus::Good(_)
    ));
    // Hold, then permanent revocation.
    a.certificates
        .revoke(&h.id, RevocationReason::CertificateHold)
        .unwrap();
    a.certificates
        .revoke(&h.id, RevocationReason::KeyCompromise)
        .unwrap();
    assert!(matches!(
        a.certificates.unhold(&h.id),
        Err(CertError::RevokedForGood { .. })
    ));
    assert!(matches!(
        a.certificates.cert("00ff"),
        Err(CertError::NotFound { .. })
    ));
}

#[test]
fn refresh_keeps_revoked_status_and_moves_due_time() {
    let (a, store) = services();
    let good = issue(&a, "d.example");
    let bad = issue(&a, "e.example");
    a.certificates
        .revoke(&bad.id, RevocationReason::KeyCompromise)
        .unwrap();
    let head = a.replication.head();
    let later = sigil_shared::time::now_unix() + 49 * 3600;
    let due = a.certificates.due_before(later, 100).unwrap();
    assert_eq!(due.len(), 2);
    assert_eq!(a.certificates.refresh(&due, later).unwrap(), 2);
    assert!(
        a.certificates.due_before(later, 100).unwrap().is_empty(),
        "due times moved forward"
    );
    let bad_entry = stored(&store, &request_for(&a, &bad.der, HashAlg::Sha1));
    assert_eq!(bad_entry.this_update, later);
    assert!(matches!(
        basic(&bad_entry.der).tbs_response_data.responses[0].cert_status,
        x509_ocsp::CertStatus::Revoked(_)
    ));
    let good_entry = stored(&store, &request_for(&a, &good.der, HashAlg::Sha256));
    assert_eq!(good_entry.this_update, later);
    // Two certificates × two hash algorithms, in one commit.
    let recs = a.replication.read_log(head, 100).unwrap();
    assert_eq!(recs.len(), 4);
    assert!(recs.iter().all(|r| matches!(r.change, Change::OcspPut(_))));
}

#[test]
fn expired_certificates_are_deleted_from_replicas() {
    let (a, store) = services();
    let c = issue(&a, "f.example");
    let after_expiry = c.not_after + 1;
    let due = a.certificates.due_before(after_expiry, 10).unwrap();
    let head = a.replication.head();
    a.certificates.refresh(&due, after_expiry).unwrap();
    let recs = a.replication.read_log(head, 10).unwrap();
    assert_eq!(recs.len(), 2);
    assert!(recs
        .iter()
        .all(|r| matches!(r.change, Change::OcspDelete { .. })));
    let key = decode_request(&request_for(&a, &c.der, HashAlg::Sha1))
        .unwrap()
        .certs[0]
        .key()
        .unwrap();
    assert!(store.get(cf::OCSP, key.as_bytes()).unwrap().is_none());
}

#[test]
fn crl_numbers_increase_and_list_revocations() {
    let (a, _) = services();
    let c = issue(&a, "g.example");
    let first = a.issuers.crl("demo").unwrap();
    a.certificates
        .revoke(&c.id, RevocationReason::Superseded)
        .unwrap();
    let second = a.issuers.regenerate_crl("demo").unwrap();
    assert!(second.number > first.number);
    let crl = x509_cert::crl::CertificateList::from_der(&second.der).unwrap();
    let revoked = crl.tbs_cert_list.revoked_certificates.unwrap();
    assert_eq!(revoked.len(), 1);
    assert_eq!(revoked[0].serial_number.as_bytes(), &c.serial[..]);
}

#[test]
fn bad_requests_are_rejected_without_side_effects() {
    let (a, _) = services();
    let head = a.replication.head();
    let bad = |csr: Vec<u8>| {
        a.certificates.issue(IssueRequest {
            issuer_id: "demo".into(),
            csr,
            validity_days: None,
            profile: None,
        })
    };
    assert!(matches!(
        bad(b"not a csr".to_vec()),
        Err(CertError::InvalidCsr(_))
    ));
    let mut tampered = csr("h.example");
    let n = tampered.len();
    tampered[n - 3] ^= 0x55; // inside the signature
    assert!(matches!(bad(tampered), Err(CertError::InvalidCsr(_))));
    let r = a.certificates.issue(IssueRequest {
        issuer_id: "demo".into(),
        csr: csr("i.example"),
        validity_days: Some(10_000),
        profile: None,
    });
    assert!(matches!(r, Err(CertError::InvalidValidity { .. })));
    let r = a.certificates.issue(IssueRequest {
        issuer_id: "nope".into(),
        csr: csr("j.example"),
        validity_days: None,
        profile: None,
    });
    assert!(matches!(
        r,
        Err(CertError::Issuer(IssuerError::NotFound { .. }))
    ));
    assert_eq!(a.replication.head(), head, "nothing was committed");
}

#[test]
fn reopening_restores_cas_and_responders() {
    let store: Arc<dyn sigil_storage::Store> = Arc::new(MemStore::new(cf::ALL));
    let (a, _) = Services::open(
        store.clone(),
        CpConfig::default(),
        Metrics::new(),
        Arc::new(sigil_kes::Kek::new("kek-test", [7; 32])),
    )
    .unwrap();
    a.issuers.init_demo().unwrap();
    let c = issue(&a, "k.example");
    drop(a);
    let (b, _) = Services::open(
        store,
        CpConfig::default(),
        Metrics::new(),
        Arc::new(sigil_kes::Kek::new("kek-test", [7; 32])),
    )
    .unwrap();
    assert_eq!(b.issuers.list_cas().len(), 2);
    assert!(b
        .issuers
        .ca("demo")
        .unwrap()
        .responder
        .lock()
        .unwrap()
        .is_some());
    assert_eq!(b.certificates.cert(&c.id).unwrap().serial, c.serial);
    b.certificates
        .revoke(&c.id, RevocationReason::KeyCompromise)
        .unwrap();
}

#[test]
fn responder_of_a_ca_expiring_before_next_update_is_reused() {
    use sigil_controlplane::services::issuers::CreateCa;
    let (a, _) = services();
    let ca = a
        .issuers
        .create_ca(CreateCa {
            name: "short-lived".into(),
            subject: Some("CN=Short Lived CA".into()),
            validity_days: Some(1), // shorter than the 96 h OCSP validity
            ..Default::default()
        })
        .unwrap();
    let issue_short = |cn: &str| {
        a.certificates
            .issue(IssueRequest {
                issuer_id: ca.record.id.clone(),
                csr: csr(cn),
                validity_days: None,
                profile: None,
            })
            .unwrap()
    };
    issue_short("s1.example");
    let first = ca.responder.lock().unwrap().clone().unwrap();
    issue_short("s2.example");
    let second = ca.responder.lock().unwrap().clone().unwrap();
    assert!(
        Arc::ptr_eq(&first, &second),
        "responder was renewed needlessly"
    );
    assert_eq!(first.not_after, ca.record.not_after);
}
