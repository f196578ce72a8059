//! CA keys: generation, storage, and raw signatures from aws-lc-rs standing in for an HSM.

use super::*;
use crate::cert::{sign_with_nonce, CertKind, CertRequest};
use aws_lc_rs::encoding::{AsDer, PublicKeyX509Der};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{self as sig, EcdsaKeyPair, Ed25519KeyPair, KeyPair, RsaKeyPair};
use std::sync::Arc;

/// `ssh-keygen -t ed25519 -N secret`.
const ENCRYPTED: &str = "-----BEGIN OPENSSH PRIVATE KEY-----
b3BlbnNzaC1rZXktdjEAAAAACmFlczI1Ni1jdHIAAAAGYmNyeXB0AAAAGAAAABA6HUGDR8
1RE3qdYOyh9iYdAAAAEAAAAAEAAAAzAAAAC3NzaC1lZDI1NTE5AAAAILWoqazNPXc4JhUG
WelhtERxXns9j9T018dWWHktYmJXAAAAkA9YxnKUkHazNK3lc9Ml4TE8z1F8IJZPWHGu4L
1r2s1IfUwLbBiGEucoURxxi07XIBmYl2t7KlvN89aPGbZdstJaakIzzl+X5V07RP7hWqIU
jwavnQ4/WSw8p9SJnBWGAnYQpkV6DeCUKODrt+As32pJehMFnEdi0uoSjQ72CPyB+7KI7y
JdYs8BKc8P6su0aA==
-----END OPENSSH PRIVATE KEY-----
";

fn user_key() -> ParsedKey {
    ParsedKey::parse(crate::key::tests::ED25519).unwrap()
}

fn request(key: &ParsedKey) -> CertRequest<'_> {
    CertRequest {
        kind: CertKind::User,
        public_key: key,
        serial: 42,
        key_id: "alice".into(),
        principals: vec!["alice".into()],
        valid_after: 1_700_000_000,
        valid_before: 1_700_086_400,
    }
}

#[test]
fn software_ca_each_algorithm() {
    let key = user_key();
    for alg in CaAlgorithm::ALL {
        let ca = SoftwareCa::generate(alg)
            .unwrap()
            .with_comment("sigil-user-ca");
        let line = ca.public_openssh();
        assert!(line.ends_with(" sigil-user-ca"), "{line}");
        let parsed = ParsedKey::parse(&line).unwrap();
        assert_eq!(&parsed, ca.public());
        assert_eq!(parsed.key_data(), &ca.public_key());

        // Stored and loaded again: the same key, still signing.
        let pem = ca.to_openssh_private().unwrap();
        assert!(pem.starts_with("-----BEGIN OPENSSH PRIVATE KEY-----\n"));
        let again = SoftwareCa::from_openssh_private(&pem).unwrap();
        assert_eq!(again.public_openssh(), line);
        sign_with_nonce(&request(&key), &[7; 32], &ca)
            .unwrap_or_else(|e| panic!("{alg:?} fresh: {e:?}"));
        let cert = sign_with_nonce(&request(&key), &[7; 32], &again)
            .unwrap_or_else(|e| panic!("{alg:?}: {e:?}"));
        assert_eq!(cert.ca_fingerprint, parsed.fingerprint);
        assert_eq!(CaAlgorithm::parse(alg.name()), Some(alg));
        assert!(format!("{ca:?}").contains(&parsed.fingerprint));
    }
    assert_eq!(CaAlgorithm::default(), CaAlgorithm::Ed25519);
    assert_eq!(CaAlgorithm::parse("RSA-3072"), Some(CaAlgorithm::Rsa3072));
    assert_eq!(CaAlgorithm::parse("dsa"), None);
}

#[test]
fn software_ca_refusals() {
    assert!(matches!(
        SoftwareCa::from_openssh_private(ENCRYPTED),
        Err(SshError::CaKey(_))
    ));
    assert!(SoftwareCa::from_openssh_private("not a key").is_err());
    assert!(SoftwareCa::from_openssh_private("").is_err());
}

type Sign = Box<dyn Fn(&[u8]) -> Result<Vec<u8>, SignerError>>;

fn spki_of<T: AsDer<PublicKeyX509Der<'static>>>(k: &T) -> Vec<u8> {
    k.as_der().unwrap().as_ref().to_vec()
}

/// An "HSM": an aws-lc-rs key, its SPKI, and its raw signature in `format`.
fn hsm(which: &str) -> (Vec<u8>, RawFormat, Sign) {
    let rng = SystemRandom::new();
    match which {
        "ed25519" => {
            let kp = Arc::new(Ed25519KeyPair::generate().unwrap());
            let der = spki_of(kp.public_key());
            let sign: Sign = Box::new(move |m| Ok(kp.sign(m).as_ref().to_vec()));
            (der, RawFormat::Ed25519, sign)
        }
        "p256-der" | "p256-fixed" | "p384-der" | "p384-fixed" => {
            let alg = match which {
                "p256-der" => &sig::ECDSA_P256_SHA256_ASN1_SIGNING,
                "p256-fixed" => &sig::ECDSA_P256_SHA256_FIXED_SIGNING,
                "p384-der" => &sig::ECDSA_P384_SHA384_ASN1_SIGNING,
                _ => &sig::ECDSA_P384_SHA384_FIXED_SIGNING,
            };
            let kp = Arc::new(EcdsaKeyPair::generate(alg).unwrap());
            let der = spki_of(kp.public_key());
            let format = if which.ends_with("der") {
                RawFormat::EcdsaDer
            } else {
                RawFormat::EcdsaFixed
            };
            let sign: Sign = Box::new(move |m| Ok(kp.sign(&rng, m)?.as_ref().to_vec()));
            (der, format, sign)
        }
        "rsa-sha256" | "rsa-sha512" => {
            let kp = Arc::new(RsaKeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).unwrap());
            let der = spki_of(kp.public_key());
            let (scheme, format): (&'static dyn sig::RsaEncoding, _) = if which == "rsa-sha256" {
                (&sig::RSA_PKCS1_SHA256, RawFormat::RsaPkcs1Sha256)
            } else {
                (&sig::RSA_PKCS1_SHA512, RawFormat::RsaPkcs1Sha512)
            };
            let sign: Sign = Box::new(move |m| {
                let mut out = vec![0; kp.public_modulus_len()];
                kp.sign(scheme, &rng, m, &mut out)?;
                Ok(out)
            });
            (der, format, sign)
        }
        _ => unreachable!(),
    }
}

/// Every external format yields certificates that verify against the CA key (checked inside
/// `sign_with_nonce`, and again here through ssh-key).
#[test]
fn external_ca_every_format() {
    let key = user_key();
    for which in [
        "ed25519",
        "p256-der",
        "p256-fixed",
        "p384-der",
        "p384-fixed",
        "rsa-sha256",
        "rsa-sha512",
    ] {
        let (spki, format, sign) = hsm(which);
        let ca = ExternalCa::from_spki(&spki, format, sign).unwrap();
        assert_eq!(ca.format(), format);
        let signed = sign_with_nonce(&request(&key), &[1; 32], &ca).unwrap();
        let cert = ssh_key::Certificate::from_openssh(&signed.openssh).unwrap();
        let fp = ca.public_key().fingerprint(ssh_key::HashAlg::Sha256);
        cert.validate_at(1_700_000_000, [&fp]).unwrap();
        let expected = match format {
            RawFormat::RsaPkcs1Sha256 => "rsa-sha2-256".to_owned(),
            RawFormat::RsaPkcs1Sha512 => "rsa-sha2-512".to_owned(),
            _ => cert.signature_key().algorithm().as_str().to_owned(),
        };
        assert_eq!(cert.signature().algorithm().as_str(), expected, "{which}");
        assert!(format!("{ca:?}").contains("ExternalCa"));
    }
}

/// A signer that signs wrongly (another scheme, another key) is caught before a certificate
/// leaves `sign`, and a signer's own error comes back as itself.
#[test]
fn external_ca_failures() {
    let key = user_key();
    // Claims SHA-256, signs SHA-512.
    let (spki, _, sign) = hsm("rsa-sha512");
    let ca = ExternalCa::from_spki(&spki, RawFormat::RsaPkcs1Sha256, sign).unwrap();
    assert!(sign_with_nonce(&request(&key), &[1; 32], &ca).is_err());
    // Another key's signatures.
    let (spki, format, _) = hsm("ed25519");
    let (_, _, other) = hsm("ed25519");
    let ca = ExternalCa::from_spki(&spki, format, other).unwrap();
    assert!(sign_with_nonce(&request(&key), &[1; 32], &ca).is_err());
    // The signer's error, downcastable.
    #[derive(Debug, thiserror::Error)]
    #[error("token gone")]
    struct TokenGone;
    let (spki, format, _) = hsm("ed25519");
    let ca = ExternalCa::from_spki(&spki, format, |_: &[u8]| -> Result<Vec<u8>, SignerError> {
        Err(Box::new(TokenGone))
    })
    .unwrap();
    match sign_with_nonce(&request(&key), &[1; 32], &ca) {
        Err(SshError::Signer(e)) => assert!(e.downcast_ref::<TokenGone>().is_some()),
        other => panic!("{other:?}"),
    }
    // A format that does not fit the key.
    let (spki, _, sign) = hsm("ed25519");
    assert!(ExternalCa::from_spki(&spki, RawFormat::EcdsaDer, sign).is_err());
}

#[test]
fn raw_signature_shapes() {
    let (spki, _, _) = hsm("p256-der");
    let p256 = key_data_from_spki(&spki).unwrap();
    let ed = user_key().key_data().clone();
    // Ed25519: exactly 64 bytes.
    assert!(signature_from_raw(&ed, RawFormat::Ed25519, &[1; 64]).is_ok());
    assert!(signature_from_raw(&ed, RawFormat::Ed25519, &[1; 63]).is_err());
    assert!(signature_from_raw(&ed, RawFormat::EcdsaFixed, &[1; 64]).is_err());
    // ECDSA fixed: 2 × 32 bytes, neither half zero; leading zeros are trimmed into mpints.
    let mut rs = [0u8; 64];
    rs[31] = 5;
    rs[32] = 0x80;
    let s = signature_from_raw(&p256, RawFormat::EcdsaFixed, &rs).unwrap();
    let mut expected = Vec::new();
    crate::wire::put_string(&mut expected, &[5]);
    let mut s_bytes = vec![0u8, 0x80];
    s_bytes.extend_from_slice(&[0; 31]);
    crate::wire::put_string(&mut expected, &s_bytes);
    assert_eq!(s.as_bytes(), expected.as_slice());
    assert!(signature_from_raw(&p256, RawFormat::EcdsaFixed, &[0; 64]).is_err());
    assert!(signature_from_raw(&p256, RawFormat::EcdsaFixed, &[1; 96]).is_err());
    // ECDSA DER: SEQUENCE { INTEGER r, INTEGER s }.
    let der = [0x30, 0x06, 0x02, 0x01, 0x05, 0x02, 0x01, 0x07];
    assert!(signature_from_raw(&p256, RawFormat::EcdsaDer, &der).is_ok());
    for bad in [
        &[0x30, 0x06, 0x02, 0x01, 0x85, 0x02, 0x01, 0x07][..], // negative r
        &[0x30, 0x03, 0x02, 0x01, 0x05][..],                   // no s
        &[0x30, 0x06, 0x02, 0x01, 0x05, 0x02, 0x01, 0x07, 0][..], // trailing
        &[0x30, 0x06, 0x02, 0x01, 0x00, 0x02, 0x01, 0x07][..], // r = 0
        &[][..],
    ] {
        assert!(
            signature_from_raw(&p256, RawFormat::EcdsaDer, bad).is_err(),
            "{bad:x?}"
        );
    }
    // r larger than the field.
    let mut big = vec![0x30, 0x27, 0x02, 0x22, 0x00];
    big.extend_from_slice(&[0x7f; 33]);
    big.extend_from_slice(&[0x02, 0x01, 0x07]);
    assert!(signature_from_raw(&p256, RawFormat::EcdsaDer, &big).is_err());
    // RSA: modulus-sized.
    let (spki, _, _) = hsm("rsa-sha256");
    let rsa = key_data_from_spki(&spki).unwrap();
    assert!(signature_from_raw(&rsa, RawFormat::RsaPkcs1Sha256, &[1; 256]).is_ok());
    assert!(signature_from_raw(&rsa, RawFormat::RsaPkcs1Sha512, &[1; 255]).is_err());
}

#[test]
fn spki_refusals() {
    let (spki, _, _) = hsm("ed25519");
    assert!(key_data_from_spki(&spki).is_ok());
    let mut trailing = spki.clone();
    trailing.push(0);
    assert!(key_data_from_spki(&trailing).is_err());
    assert!(key_data_from_spki(&spki[..spki.len() - 1]).is_err());
    assert!(key_data_from_spki(&[]).is_err());
    // A P-256 point labelled secp384r1.
    let (mut p256, _, _) = hsm("p256-der");
    let at = p256
        .windows(8)
        .position(|w| w == [0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07])
        .unwrap();
    p256[at + 7] = 0x08;
    assert!(key_data_from_spki(&p256).is_err());
}

/// The control plane stores CA keys with `to_openssh_private` and reads them back at every
/// start: that round trip must hold for every key, including scalars with leading zero bytes
/// (1 in 256 EC keys).
#[test]
fn stored_ec_ca_keys_always_read_back() {
    for alg in [
        CaAlgorithm::Ed25519,
        CaAlgorithm::EcdsaP256,
        CaAlgorithm::EcdsaP384,
    ] {
        for _ in 0..600 {
            let ca = SoftwareCa::generate(alg).unwrap();
            let pem = ca.to_openssh_private().unwrap();
            let back = SoftwareCa::from_openssh_private(&pem)
                .unwrap_or_else(|e| panic!("{alg:?}: {e}\n{}", &*pem));
            assert_eq!(back.public_openssh(), ca.public_openssh());
        }
    }
}
