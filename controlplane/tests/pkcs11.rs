//! The PKCS#11 signer on SoftHSM2: every algorithm (signatures verified with aws-lc-rs against
//! the public key read from the token), key attributes, replicas and failover, health, wrong
//! keys and PINs, concurrency, and an HSM-backed CA through the service layer (issue, revoke,
//! reload) with nothing of the key in the store.

#[path = "support/softhsm.rs"]
mod softhsm;

use std::sync::Arc;

use aws_lc_rs::signature::{self, UnparsedPublicKey};
use cryptoki::object::{Attribute, AttributeType, ObjectClass};
use sigil_controlplane::config::CpConfig;
use sigil_controlplane::crypto::pkcs11::{Pkcs11Signer, TokenRef};
use sigil_controlplane::crypto::{HealthState, KeyAlgorithm, Signer, SoftwareSigner};
use sigil_controlplane::db::{cf, CaRecord, KeyRef};
use sigil_controlplane::metrics::Metrics;
use sigil_controlplane::services::certificates::IssueRequest;
use sigil_controlplane::services::issuers::{CreateCa, KeyStoreRequest, Pkcs11Request};
use sigil_controlplane::services::Services;
use sigil_shared::ocsp::{subject_public_key_bits, RevocationReason};
use sigil_storage::{MemStore, Store};
use softhsm::{import_p256, raw_session, setup, token, MODULE, PIN, PIN_ENV};

const TOKENS: &[&str] = &[
    "algs",
    "attrs",
    "replica-a",
    "replica-b",
    "ca",
    "misc",
    "nopin",
];

fn verify(alg: KeyAlgorithm, spki: &[u8], msg: &[u8], sig: &[u8]) {
    let (_, key) = subject_public_key_bits(spki).unwrap();
    let v: &dyn signature::VerificationAlgorithm = match alg {
        KeyAlgorithm::EcdsaP256 => &signature::ECDSA_P256_SHA256_ASN1,
        KeyAlgorithm::EcdsaP384 => &signature::ECDSA_P384_SHA384_ASN1,
        KeyAlgorithm::Ed25519 => &signature::ED25519,
        a if a.is_pss() => &signature::RSA_PSS_2048_8192_SHA256,
        _ => &signature::RSA_PKCS1_2048_8192_SHA256,
    };
    UnparsedPublicKey::new(v, key)
        .verify(msg, sig)
        .unwrap_or_else(|_| panic!("{alg:?} signature does not verify"));
}

#[test]
fn every_algorithm_signs_in_the_token_and_verifies() {
    setup(TOKENS);
    for alg in [
        KeyAlgorithm::EcdsaP256,
        KeyAlgorithm::EcdsaP384,
        KeyAlgorithm::Ed25519,
        KeyAlgorithm::Rsa2048,
        KeyAlgorithm::RsaPss2048,
    ] {
        let label = format!("key-{}", alg.name());
        let (s, generated) = Pkcs11Signer::find_or_generate(&[token("algs")], &label, alg).unwrap();
        assert!(generated, "{alg:?}: a new label generates a key");
        for msg in [&b"hello"[..], &[0u8; 3000][..]] {
            let sig = s.sign(msg).unwrap();
            verify(alg, s.public_key_der(), msg, &sig);
        }
        // Found by label the second time, same public key.
        let (again, generated) =
            Pkcs11Signer::find_or_generate(&[token("algs")], &label, alg).unwrap();
        assert!(!generated);
        assert_eq!(again.public_key_der(), s.public_key_der());
        // The same label with another algorithm is refused.
        let other = if alg == KeyAlgorithm::EcdsaP256 {
            KeyAlgorithm::EcdsaP384
        } else {
            KeyAlgorithm::EcdsaP256
        };
        let err = Pkcs11Signer::find_or_generate(&[token("algs")], &label, other).unwrap_err();
        assert!(err.to_string().contains(alg.name()), "{err}");
        assert_eq!(s.health().state, HealthState::Healthy);
    }
}

#[test]
fn generated_keys_are_sensitive_and_not_extractable() {
    setup(TOKENS);
    let (s, _) =
        Pkcs11Signer::find_or_generate(&[token("attrs")], "ca-key", KeyAlgorithm::EcdsaP256)
            .unwrap();
    let session = raw_session("attrs");
    let keys = session
        .find_objects(&[
            Attribute::Class(ObjectClass::PRIVATE_KEY),
            Attribute::Label(b"ca-key".to_vec()),
        ])
        .unwrap();
    assert_eq!(keys.len(), 1);
    let attrs = session
        .get_attributes(
            keys[0],
            &[
                AttributeType::Extractable,
                AttributeType::Sensitive,
                AttributeType::Token,
                AttributeType::Private,
                AttributeType::NeverExtractable,
                AttributeType::AlwaysSensitive,
                AttributeType::Id,
            ],
        )
        .unwrap();
    let id = sigil_shared::ocsp::key_id_of_spki(s.public_key_der()).unwrap();
    for a in attrs {
        match a {
            Attribute::Extractable(v) => assert!(!v, "CKA_EXTRACTABLE"),
            Attribute::Sensitive(v) => assert!(v, "CKA_SENSITIVE"),
            Attribute::Token(v) => assert!(v, "CKA_TOKEN"),
            Attribute::Private(v) => assert!(v, "CKA_PRIVATE"),
            Attribute::NeverExtractable(v) => assert!(v, "CKA_NEVER_EXTRACTABLE"),
            Attribute::AlwaysSensitive(v) => assert!(v, "CKA_ALWAYS_SENSITIVE"),
            Attribute::Id(v) => assert_eq!(v, id, "CKA_ID is the subjectKeyIdentifier"),
            other => panic!("unexpected {other:?}"),
        }
    }
    // The private value cannot be read.
    assert!(session
        .get_attributes(keys[0], &[AttributeType::Value])
        .map(|v| v.is_empty())
        .unwrap_or(true));
}

#[test]
fn replicas_fail_over_and_report_health() {
    setup(TOKENS);
    // The same key on two tokens: imported (as an HSM cluster would replicate it).
    let (soft, pkcs8) = SoftwareSigner::generate(KeyAlgorithm::EcdsaP256).unwrap();
    let key = import_p256("replica-a", "shared", &soft, &pkcs8);
    import_p256("replica-b", "shared", &soft, &pkcs8);
    let broken = TokenRef {
        module: "/nonexistent/libpkcs11.so".into(),
        token_label: "gone".into(),
        pin_env: PIN_ENV.into(),
    };
    let spki = soft.public_key_der().to_vec();
    let s = Pkcs11Signer::open(
        &[broken.clone(), token("replica-a"), token("replica-b")],
        key.clone(),
        KeyAlgorithm::EcdsaP256,
        spki.clone(),
    );
    let sig = s.sign(b"failover").unwrap();
    verify(KeyAlgorithm::EcdsaP256, &spki, b"failover", &sig);
    let h = s.health();
    assert_eq!(h.state, HealthState::Degraded, "{h:?}");
    let err = h.error.unwrap();
    assert!(err.contains("replica 1 of 3 down"), "{err}");
    assert!(err.contains("2 of 3 replicas available"), "{err}");
    assert!(!h.replicas[0].available && h.replicas[1].available);

    // A token label that does not exist, then a wrong key: both unavailable.
    let missing = TokenRef {
        token_label: "no-such-token".into(),
        ..token("misc")
    };
    let other = SoftwareSigner::generate(KeyAlgorithm::EcdsaP256).unwrap().0;
    let s = Pkcs11Signer::open(
        &[missing, token("replica-a")],
        key,
        KeyAlgorithm::EcdsaP256,
        other.public_key_der().to_vec(),
    );
    assert!(s.sign(b"x").is_err());
    let h = s.health();
    assert_eq!(h.state, HealthState::Unhealthy, "{h:?}");
    let err = h.error.unwrap();
    assert!(err.contains("no token with this label"), "{err}");
    assert!(err.contains("public keys differ"), "{err}");
}

#[test]
fn missing_pin_is_a_login_error_and_never_shows_the_pin() {
    setup(TOKENS);
    let t = TokenRef {
        pin_env: "SIGIL_TEST_NO_SUCH_PIN_VAR".into(),
        ..token("nopin") // a token nobody logged in to yet
    };
    let err = Pkcs11Signer::find_or_generate(&[t], "k", KeyAlgorithm::EcdsaP256).unwrap_err();
    let text = err.to_string();
    assert!(text.contains("SIGIL_TEST_NO_SUCH_PIN_VAR"), "{text}");
    assert!(!text.contains(PIN));
}

#[test]
fn concurrent_signing_is_bounded_by_the_pool() {
    setup(TOKENS);
    let (s, _) =
        Pkcs11Signer::find_or_generate(&[token("misc")], "busy", KeyAlgorithm::EcdsaP256).unwrap();
    let s = Arc::new(s);
    let threads: Vec<_> = (0..12)
        .map(|i| {
            let s = s.clone();
            std::thread::spawn(move || {
                for j in 0..20 {
                    let msg = format!("{i}-{j}");
                    let sig = s.sign(msg.as_bytes()).unwrap();
                    verify(
                        KeyAlgorithm::EcdsaP256,
                        s.public_key_der(),
                        msg.as_bytes(),
                        &sig,
                    );
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let h = s.health();
    let r = &h.replicas[0];
    assert!(r.sessions_open <= r.pool_size, "{r:?}");
    assert!(r.pool_size >= 1 && r.pool_size <= 16, "{r:?}");
    assert_eq!(r.sessions_in_use, 0);
}

fn hsm_config() -> CpConfig {
    let mut c = CpConfig::default();
    c.hsm.allowed_modules = vec![MODULE.into()];
    c
}

fn hsm_ca_request(name: &str, alg: &str, module: &str) -> CreateCa {
    CreateCa {
        id: Some(name.into()),
        name: name.into(),
        subject: Some(format!("CN={name}")),
        key_algorithm: Some(alg.into()),
        key_store: Some(KeyStoreRequest::Pkcs11(Pkcs11Request {
            module: module.into(),
            token_label: "ca".into(),
            key_label: format!("{name}-key"),
            pin_env: PIN_ENV.into(),
            replicas: Vec::new(),
        })),
        ..Default::default()
    }
}

#[test]
fn hsm_ca_issues_revokes_and_reloads_without_keys_in_the_store() {
    setup(TOKENS);
    let store: Arc<dyn Store> = Arc::new(MemStore::new(cf::ALL));
    let (a, _) = Services::open(
        store.clone(),
        hsm_config(),
        Metrics::new(),
        Arc::new(sigil_kes::Kek::new("kek-test", [7; 32])),
    )
    .unwrap();
    // Modules must be allowed.
    let err = a
        .issuers
        .create_ca(hsm_ca_request("nope", "ecdsa-p256", "/usr/lib/other.so"))
        .unwrap_err();
    assert!(err.to_string().contains("allowed_modules"), "{err}");

    let ca = a
        .issuers
        .create_ca(hsm_ca_request("hsm-root", "ecdsa-p384", MODULE))
        .unwrap();
    assert!(matches!(ca.record.key, KeyRef::Pkcs11 { .. }));
    let cert = a
        .certificates
        .issue(IssueRequest {
            issuer_id: "hsm-root".into(),
            csr: csr(),
            validity_days: None,
            profile: None,
        })
        .unwrap();
    a.certificates
        .revoke(&cert.id, RevocationReason::KeyCompromise)
        .unwrap();
    a.issuers.regenerate_crl("hsm-root").unwrap();
    let h = ca.health();
    assert_eq!(h.status, HealthState::Healthy, "{h:?}");
    assert!(h.signatures_total >= 5, "{h:?}"); // cert, responder cert, OCSP x4, CRLs
    assert!(h.last_sign_at.is_some());

    // An HSM intermediate under the HSM root, on the same token.
    let mut req = hsm_ca_request("hsm-sub", "ecdsa-p256", MODULE);
    req.parent_id = Some("hsm-root".into());
    let sub = a.issuers.create_ca(req).unwrap();
    assert_eq!(sub.record.chain_der, vec![ca.record.cert_der.clone()]);
    a.certificates
        .issue(IssueRequest {
            issuer_id: "hsm-sub".into(),
            csr: csr(),
            validity_days: None,
            profile: None,
        })
        .unwrap();

    // No key material in the store: neither the CA's nor its responder's.
    let mut keys = Vec::new();
    store
        .scan_prefix(cf::KEYS, b"", &mut |k, _| {
            keys.push(String::from_utf8_lossy(k).into_owned());
            true
        })
        .unwrap();
    assert!(
        keys.iter()
            .all(|k| !k.ends_with("/hsm-root") && !k.ends_with("/hsm-sub")),
        "keys stored for the HSM CA: {keys:?}"
    );
    drop(a);

    // Reopened from the store: the record decodes and the token key signs again.
    let (a, _) = Services::open(
        store,
        hsm_config(),
        Metrics::new(),
        Arc::new(sigil_kes::Kek::new("kek-test", [7; 32])),
    )
    .unwrap();
    let rec: CaRecord = a.issuers.ca("hsm-root").unwrap().record.clone();
    assert!(matches!(rec.key, KeyRef::Pkcs11 { ref key_label, .. } if key_label == "hsm-root-key"));
    a.certificates
        .issue(IssueRequest {
            issuer_id: "hsm-root".into(),
            csr: csr(),
            validity_days: None,
            profile: None,
        })
        .unwrap();
}

fn csr() -> Vec<u8> {
    use der::{asn1::BitString, Decode, Encode};
    use x509_cert::request::{CertReq, CertReqInfo, Version};
    use x509_cert::spki::{AlgorithmIdentifierOwned, SubjectPublicKeyInfoOwned};
    let (key, _) = SoftwareSigner::generate(KeyAlgorithm::EcdsaP256).unwrap();
    let info = CertReqInfo {
        version: Version::V1,
        subject: sigil_controlplane::x509::parse_name("CN=leaf.example.com").unwrap(),
        public_key: SubjectPublicKeyInfoOwned::from_der(key.public_key_der()).unwrap(),
        attributes: Default::default(),
    };
    let sig = key.sign(&info.to_der().unwrap()).unwrap();
    CertReq {
        info,
        algorithm: AlgorithmIdentifierOwned::from_der(key.signature_algorithm_der()).unwrap(),
        signature: BitString::from_bytes(&sig).unwrap(),
    }
    .to_der()
    .unwrap()
}
