use super::*;
use crate::ca::{CaAlgorithm, SoftwareCa};
use crate::key::tests::{ED25519, SEED_RSA};
use proptest::prelude::*;

fn req(key: &ParsedKey, kind: CertKind) -> CertRequest<'_> {
    CertRequest {
        kind,
        public_key: key,
        serial: 7,
        key_id: "alice".into(),
        principals: vec!["alice".into(), "deploy".into()],
        valid_after: 1_700_000_000,
        valid_before: 1_700_003_600,
    }
}

#[test]
fn user_certificate_fields() {
    let key = ParsedKey::parse(ED25519).unwrap();
    let ca = SoftwareCa::generate(CaAlgorithm::Ed25519).unwrap();
    let signed = sign(&req(&key, CertKind::User), &ca).unwrap();
    assert!(signed
        .openssh
        .starts_with("ssh-ed25519-cert-v01@openssh.com AAAA"));
    assert!(signed.openssh.ends_with(" alice"));
    assert_eq!(signed.fingerprint, key.fingerprint);
    assert_eq!(signed.ca_fingerprint, ca.public().fingerprint);

    let cert = Certificate::from_openssh(&signed.openssh).unwrap();
    assert_eq!(cert.to_bytes().unwrap(), signed.blob);
    assert_eq!(cert.serial(), 7);
    assert_eq!(cert.cert_type(), CertType::User);
    assert_eq!(cert.key_id(), "alice");
    assert_eq!(cert.valid_principals(), ["alice", "deploy"]);
    assert_eq!(
        (cert.valid_after(), cert.valid_before()),
        (1_700_000_000, 1_700_003_600)
    );
    assert_eq!(cert.nonce().len(), 32);
    assert!(cert.critical_options().is_empty());
    let exts: Vec<(&str, &str)> = cert
        .extensions()
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    assert_eq!(exts, USER_EXTENSIONS.map(|e| (e, "")));

    let info = CertInfo::parse(&signed.openssh).unwrap();
    assert_eq!(info.kind, CertKind::User);
    assert_eq!(info.serial, 7);
    assert_eq!(info.key_id, "alice");
    assert_eq!(info.principals, ["alice", "deploy"]);
    assert_eq!(info.fingerprint, key.fingerprint);
    assert_eq!(info.ca_blob, ca.public().blob);
}

#[test]
fn host_certificate_has_no_extensions() {
    let key = ParsedKey::parse(SEED_RSA).unwrap();
    let ca = SoftwareCa::generate(CaAlgorithm::EcdsaP256).unwrap();
    let mut r = req(&key, CertKind::Host);
    r.principals = vec!["mavrix2".into(), "mavrix2.example.org".into()];
    let signed = sign(&r, &ca).unwrap();
    assert!(signed.openssh.starts_with("ssh-rsa-cert-v01@openssh.com "));
    let cert = Certificate::from_openssh(&signed.openssh).unwrap();
    assert_eq!(cert.cert_type(), CertType::Host);
    assert!(cert.extensions().is_empty());
    assert_eq!(
        CertInfo::parse(&signed.openssh).unwrap().kind,
        CertKind::Host
    );
}

#[test]
fn deterministic_with_a_nonce() {
    let key = ParsedKey::parse(ED25519).unwrap();
    let ca = SoftwareCa::generate(CaAlgorithm::Ed25519).unwrap();
    let a = sign_with_nonce(&req(&key, CertKind::User), &[9; 32], &ca).unwrap();
    let b = sign_with_nonce(&req(&key, CertKind::User), &[9; 32], &ca).unwrap();
    assert_eq!(a, b); // Ed25519 signatures are deterministic.
    let c = sign(&req(&key, CertKind::User), &ca).unwrap();
    assert_ne!(a.openssh, c.openssh);
}

#[test]
fn refused_requests() {
    let key = ParsedKey::parse(ED25519).unwrap();
    let ca = SoftwareCa::generate(CaAlgorithm::Ed25519).unwrap();
    type Change = Box<dyn Fn(&mut CertRequest<'_>)>;
    let cases: Vec<(&str, Change)> = vec![
        ("serial 0", Box::new(|r| r.serial = 0)),
        ("empty key id", Box::new(|r| r.key_id.clear())),
        ("key id newline", Box::new(|r| r.key_id = "a\nb".into())),
        ("long key id", Box::new(|r| r.key_id = "k".repeat(257))),
        ("no principals", Box::new(|r| r.principals.clear())),
        ("space", Box::new(|r| r.principals = vec!["a b".into()])),
        ("comma", Box::new(|r| r.principals = vec!["a,b".into()])),
        ("wildcard", Box::new(|r| r.principals = vec!["*".into()])),
        (
            "empty principal",
            Box::new(|r| r.principals = vec![String::new()]),
        ),
        (
            "too many",
            Box::new(|r| r.principals = (0..257).map(|i| format!("p{i}")).collect()),
        ),
        ("equal times", Box::new(|r| r.valid_before = r.valid_after)),
        ("reversed", Box::new(|r| r.valid_after = r.valid_before + 1)),
        ("forever", Box::new(|r| r.valid_before = u64::MAX)),
    ];
    for (why, change) in cases {
        let mut r = req(&key, CertKind::User);
        change(&mut r);
        assert!(
            matches!(sign(&r, &ca), Err(SshError::InvalidRequest(_))),
            "{why}"
        );
    }
}

#[test]
fn cert_info_refusals() {
    assert!(CertInfo::parse(ED25519).is_err());
    assert!(CertInfo::parse("").is_err());
    assert!(CertInfo::parse(&"x".repeat(key::MAX_LINE + 1)).is_err());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    /// What is signed reads back the same.
    #[test]
    fn signed_fields_read_back(
        serial in 1u64..,
        key_id in "[a-zA-Z0-9@. _-]{1,40}",
        principals in proptest::collection::vec("[a-z0-9_.@-]{1,20}", 1..5),
        valid_after in 0u64..4_000_000_000,
        len in 1u64..100_000_000,
        host in any::<bool>(),
    ) {
        let key = ParsedKey::parse(ED25519).unwrap();
        let ca = SoftwareCa::generate(CaAlgorithm::Ed25519).unwrap();
        let kind = if host { CertKind::Host } else { CertKind::User };
        let r = CertRequest {
            kind,
            public_key: &key,
            serial,
            key_id: key_id.clone(),
            principals: principals.clone(),
            valid_after,
            valid_before: valid_after + len,
        };
        let signed = sign(&r, &ca).unwrap();
        let info = CertInfo::parse(&signed.openssh).unwrap();
        prop_assert_eq!(info, CertInfo {
            kind,
            serial,
            key_id,
            principals,
            valid_after,
            valid_before: valid_after + len,
            fingerprint: key.fingerprint.clone(),
            ca_blob: ca.public().blob.clone(),
        });
    }
}
