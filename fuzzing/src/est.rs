//! Enrollment input on the control plane: EST request bodies (RFC 7030: base64, PEM or DER
//! PKCS#10), HTTP Basic credentials, client certificates presented for re-enrollment, and
//! PKCS#10 requests (RFC 2986) as the admin API and EST verify them, with what follows the
//! signature check (extension requests, identity checks, server-side key generation).

use std::sync::OnceLock;

use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair};
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use der::asn1::BitString;
use der::{Decode, Encode};
use sigil_controlplane::crypto::{
    verify_csr, CsrError, KeyAlgorithm, Signer, SoftwareSigner, VerifiedCsr,
};
use sigil_controlplane::est::identity::{
    common_names, csr_names_entity, keeps_identity, verify_issued_by,
};
use sigil_controlplane::est::keygen::{algorithm_of, generate_for};
use sigil_controlplane::est::wire::{basic_credentials, decode_body, encode_base64};
use sigil_controlplane::services::certificates::san_string;
use x509_cert::request::{CertReq, CertReqInfo};
use x509_cert::spki::{AlgorithmIdentifierOwned, SubjectPublicKeyInfoOwned};

/// A CA whose key no input can know (the client-certificate check must refuse everything).
fn ca() -> &'static SoftwareSigner {
    static CA: OnceLock<SoftwareSigner> = OnceLock::new();
    CA.get_or_init(|| SoftwareSigner::generate(KeyAlgorithm::Ed25519).unwrap().0)
}

/// Any bytes as an EST `simpleenroll`/`simplereenroll`/`serverkeygen` body, as an
/// `Authorization` header, as a presented client certificate and as a certificate to import. A body that decodes
/// re-decodes from the base64 Sigil writes, and a CSR in it verifies as in [`csr`]; Basic
/// credentials survive re-encoding; no certificate passes for a CA key it never saw.
pub fn est_body(data: &[u8]) {
    // The same bytes as a certificate to import (`POST /api/v1/certificates/import`): an
    // answer, never a panic.
    let _ = sigil_controlplane::services::certificates::import::parse(data);
    if let Ok(der) = decode_body(data) {
        if !der.is_empty() {
            assert_eq!(decode_body(encode_base64(&der).as_bytes()), Ok(der.clone()));
        }
        if let Ok(c) = verify_csr(&der) {
            check_verified(&c);
        }
    }
    if let Ok(text) = std::str::from_utf8(data) {
        if let Some((user, pass)) = basic_credentials(text) {
            let again = format!("Basic {}", STANDARD.encode(format!("{user}:{pass}")));
            assert_eq!(basic_credentials(&again), Some((user, pass)));
        }
    }
    let ca = ca();
    let presented = verify_issued_by(
        data,
        ca.public_key_der(),
        KeyAlgorithm::Ed25519,
        ca.signature_algorithm_der(),
    );
    assert!(presented.is_err());
}

/// The key CSRs are re-signed with: fixed, so that a run is reproducible.
fn signing_key() -> &'static (Ed25519KeyPair, SubjectPublicKeyInfoOwned) {
    static KEY: OnceLock<(Ed25519KeyPair, SubjectPublicKeyInfoOwned)> = OnceLock::new();
    KEY.get_or_init(|| {
        let key = Ed25519KeyPair::from_seed_unchecked(&[0x5a; 32]).unwrap();
        let mut spki = vec![
            0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
        ];
        spki.extend_from_slice(key.public_key().as_ref());
        let spki = SubjectPublicKeyInfoOwned::from_der(&spki).unwrap();
        (key, spki)
    })
}

/// `info` with the fixed key, signed by it: a CSR whose signature verifies.
fn signed_with_fixed_key(mut info: CertReqInfo) -> Option<Vec<u8>> {
    let (key, spki) = signing_key();
    info.public_key = spki.clone();
    let tbs = info.to_der().ok()?;
    let signature = key.sign(&tbs);
    let req = CertReq {
        info,
        algorithm: AlgorithmIdentifierOwned::from_der(&[0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70])
            .unwrap(),
        signature: BitString::from_bytes(signature.as_ref()).ok()?,
    };
    req.to_der().ok()
}

/// Any bytes as a CSR (PEM or DER, as sent), and — since a fuzzer cannot forge a signature —
/// as the CertificationRequestInfo of a CSR re-signed with a fixed Ed25519 key, so that what
/// follows the signature check is reached: extension requests (SANs) decode or are refused,
/// the CSR keeps its own identity, names the entity its commonNames give, and server-side key
/// generation makes a CSR with the same subject and SANs that verifies.
pub fn csr(data: &[u8]) {
    if let Ok(c) = verify_csr(data) {
        check_verified(&c);
    }
    let Ok(info) = CertReqInfo::from_der(data) else {
        return;
    };
    let Some(signed) = signed_with_fixed_key(info) else {
        return;
    };
    let c = match verify_csr(&signed) {
        Ok(c) => c,
        Err(CsrError::BadExtensions(_)) => return,
        Err(e) => panic!("a CSR signed with a known key is refused: {e}"),
    };
    assert_eq!(c.spki_der, signing_key().1.to_der().unwrap());
    check_verified(&c);
    let generated = generate_for(&signed).expect("server-side key generation");
    assert_eq!(generated.algorithm, KeyAlgorithm::Ed25519);
    let ours = verify_csr(&generated.csr_der).expect("a generated CSR verifies");
    assert_eq!(ours.subject, c.subject);
    assert_eq!(ours.sans, c.sans);
}

/// What holds for any CSR whose signature verified.
fn check_verified(c: &VerifiedCsr) {
    let alg = algorithm_of(&c.spki_der).expect("a verified key has a known type");
    assert_eq!(
        c.rsa_key,
        matches!(
            alg,
            KeyAlgorithm::Rsa2048 | KeyAlgorithm::Rsa3072 | KeyAlgorithm::Rsa4096
        )
    );
    let sans: Vec<String> = c.sans.iter().map(san_string).collect();
    assert!(keeps_identity(c, &c.subject, &sans));
    for cn in common_names(&c.subject) {
        assert!(csr_names_entity(c, &cn));
    }
}
