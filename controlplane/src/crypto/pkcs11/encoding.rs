//! Sans-io encodings between PKCS#11 and X.509: curve parameters, SubjectPublicKeyInfo from
//! token attributes, raw ECDSA `r‖s` → DER `ECDSA-Sig-Value`, PKCS#1 DigestInfo.

use sigil_shared::der::{push_tlv, Reader};

use crate::crypto::KeyAlgorithm;

const TAG_INTEGER: u8 = 0x02;
const TAG_BIT_STRING: u8 = 0x03;
const TAG_OCTET_STRING: u8 = 0x04;
const TAG_NULL: u8 = 0x05;
const TAG_OID: u8 = 0x06;
const TAG_SEQUENCE: u8 = 0x30;

/// OID bodies.
const OID_EC_PUBLIC_KEY: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
const OID_P256: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
const OID_P384: &[u8] = &[0x2b, 0x81, 0x04, 0x00, 0x22];
const OID_ED25519: &[u8] = &[0x2b, 0x65, 0x70];
const OID_RSA_ENCRYPTION: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];

/// DER `DigestInfo` prefix for SHA-256 (RFC 8017 §9.2 note 1), followed by the 32-byte hash.
pub const SHA256_DIGEST_INFO_PREFIX: &[u8] = &[
    0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05,
    0x00, 0x04, 0x20,
];

fn tlv(tag: u8, value: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(value.len() + 4);
    push_tlv(&mut out, tag, value);
    out
}

/// `CKA_EC_PARAMS` for generating a key of `alg` (DER OID of the curve); `None` for RSA.
pub fn ec_params(alg: KeyAlgorithm) -> Option<Vec<u8>> {
    match alg {
        KeyAlgorithm::EcdsaP256 => Some(tlv(TAG_OID, OID_P256)),
        KeyAlgorithm::EcdsaP384 => Some(tlv(TAG_OID, OID_P384)),
        KeyAlgorithm::Ed25519 => Some(tlv(TAG_OID, OID_ED25519)),
        _ => None,
    }
}

/// The algorithm an EC key's `CKA_EC_PARAMS` names (OID form, or the `edwards25519`
/// PrintableString some tokens use).
pub fn alg_of_ec_params(params: &[u8]) -> Option<KeyAlgorithm> {
    if params == tlv(TAG_OID, OID_P256) {
        Some(KeyAlgorithm::EcdsaP256)
    } else if params == tlv(TAG_OID, OID_P384) {
        Some(KeyAlgorithm::EcdsaP384)
    } else if params == tlv(TAG_OID, OID_ED25519) || params == tlv(0x13, b"edwards25519") {
        Some(KeyAlgorithm::Ed25519)
    } else {
        None
    }
}

/// `CKA_EC_POINT` is a DER OCTET STRING around the point for most tokens, the bare point for
/// a few: returns the point.
fn unwrap_point(point: &[u8], expected_len: usize) -> Option<&[u8]> {
    if point.len() == expected_len {
        return Some(point);
    }
    let mut r = Reader::new(point);
    let t = r.read(TAG_OCTET_STRING).ok()?;
    r.finish().ok()?;
    (t.value.len() == expected_len).then_some(t.value)
}

/// DER SubjectPublicKeyInfo of an EC (ECDSA P-256/P-384, Ed25519) public key.
pub fn ec_spki(alg: KeyAlgorithm, ec_point: &[u8]) -> Option<Vec<u8>> {
    let (alg_id, key) = match alg {
        KeyAlgorithm::EcdsaP256 | KeyAlgorithm::EcdsaP384 => {
            let len = if alg == KeyAlgorithm::EcdsaP256 {
                65
            } else {
                97
            };
            let point = unwrap_point(ec_point, len)?;
            if point[0] != 0x04 {
                return None; // uncompressed points only
            }
            let curve = if alg == KeyAlgorithm::EcdsaP256 {
                OID_P256
            } else {
                OID_P384
            };
            let mut params = tlv(TAG_OID, OID_EC_PUBLIC_KEY);
            params.extend_from_slice(&tlv(TAG_OID, curve));
            (tlv(TAG_SEQUENCE, &params), point)
        }
        KeyAlgorithm::Ed25519 => (
            tlv(TAG_SEQUENCE, &tlv(TAG_OID, OID_ED25519)),
            unwrap_point(ec_point, 32)?,
        ),
        _ => return None,
    };
    Some(spki(&alg_id, key))
}

fn spki(alg_id: &[u8], key: &[u8]) -> Vec<u8> {
    let mut bits = Vec::with_capacity(key.len() + 1);
    bits.push(0);
    bits.extend_from_slice(key);
    let mut body = alg_id.to_vec();
    body.extend_from_slice(&tlv(TAG_BIT_STRING, &bits));
    tlv(TAG_SEQUENCE, &body)
}

/// A big-endian unsigned integer as DER INTEGER content (minimal, positive).
fn uint(bytes: &[u8]) -> Vec<u8> {
    let start = bytes
        .iter()
        .position(|b| *b != 0)
        .unwrap_or(bytes.len().saturating_sub(1));
    let b = &bytes[start..];
    let mut out = Vec::with_capacity(b.len() + 1);
    if b.is_empty() {
        out.push(0);
    } else {
        if b[0] & 0x80 != 0 {
            out.push(0);
        }
        out.extend_from_slice(b);
    }
    tlv(TAG_INTEGER, &out)
}

/// DER SubjectPublicKeyInfo (rsaEncryption, NULL parameters) of an RSA public key.
pub fn rsa_spki(modulus: &[u8], public_exponent: &[u8]) -> Vec<u8> {
    let mut alg = tlv(TAG_OID, OID_RSA_ENCRYPTION);
    alg.extend_from_slice(&[TAG_NULL, 0]);
    let mut key = uint(modulus);
    key.extend_from_slice(&uint(public_exponent));
    spki(&tlv(TAG_SEQUENCE, &alg), &tlv(TAG_SEQUENCE, &key))
}

/// Bits of an RSA modulus given big-endian.
pub fn modulus_bits(modulus: &[u8]) -> usize {
    let m = match modulus.iter().position(|b| *b != 0) {
        Some(i) => &modulus[i..],
        None => return 0,
    };
    m.len() * 8 - m[0].leading_zeros() as usize
}

/// The RSA key algorithm of a modulus size, if Sigil supports it.
pub fn rsa_alg(bits: usize) -> Option<KeyAlgorithm> {
    match bits {
        2048 => Some(KeyAlgorithm::Rsa2048),
        3072 => Some(KeyAlgorithm::Rsa3072),
        4096 => Some(KeyAlgorithm::Rsa4096),
        _ => None,
    }
}

/// Raw `r‖s` (PKCS#11 CKM_ECDSA output, each half the field size) → DER `ECDSA-Sig-Value`
/// (RFC 3279 §2.2.3).
pub fn ecdsa_der(raw: &[u8]) -> Option<Vec<u8>> {
    if raw.is_empty() || raw.len() % 2 != 0 {
        return None;
    }
    let (r, s) = raw.split_at(raw.len() / 2);
    let mut body = uint(r);
    body.extend_from_slice(&uint(s));
    Some(tlv(TAG_SEQUENCE, &body))
}

/// `DigestInfo` for a SHA-256 hash (input of CKM_RSA_PKCS).
pub fn sha256_digest_info(hash: &[u8]) -> Vec<u8> {
    let mut out = SHA256_DIGEST_INFO_PREFIX.to_vec();
    out.extend_from_slice(hash);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::{Signer, SoftwareSigner};

    #[test]
    fn spki_matches_aws_lc_encoding() {
        for alg in [
            KeyAlgorithm::EcdsaP256,
            KeyAlgorithm::EcdsaP384,
            KeyAlgorithm::Ed25519,
        ] {
            let (s, _) = SoftwareSigner::generate(alg).unwrap();
            let (_, key) = sigil_shared::ocsp::subject_public_key_bits(s.public_key_der()).unwrap();
            let wrapped = tlv(TAG_OCTET_STRING, key);
            assert_eq!(
                ec_spki(alg, &wrapped).unwrap(),
                s.public_key_der(),
                "{alg:?}"
            );
            assert_eq!(
                ec_spki(alg, key).unwrap(),
                s.public_key_der(),
                "{alg:?} bare"
            );
            assert_eq!(alg_of_ec_params(&ec_params(alg).unwrap()), Some(alg));
        }
        let (s, _) = SoftwareSigner::generate(KeyAlgorithm::Rsa2048).unwrap();
        let (_, key) = sigil_shared::ocsp::subject_public_key_bits(s.public_key_der()).unwrap();
        let mut r = Reader::new(key);
        let seq = r.read(TAG_SEQUENCE).unwrap();
        let mut r = Reader::new(seq.value);
        let n = r.read(TAG_INTEGER).unwrap().value;
        let e = r.read(TAG_INTEGER).unwrap().value;
        assert_eq!(rsa_spki(n, e), s.public_key_der());
        assert_eq!(modulus_bits(n), 2048);
    }

    #[test]
    fn ecdsa_raw_to_der() {
        let mut raw = vec![0u8; 64];
        raw[0] = 0x80; // r needs a leading zero
        raw[63] = 1; // s is 1
        let der = ecdsa_der(&raw).unwrap();
        assert_eq!(der[0], 0x30);
        assert_eq!(&der[2..5], &[0x02, 0x21, 0x00]);
        assert_eq!(&der[der.len() - 3..], &[0x02, 0x01, 0x01]);
        assert!(ecdsa_der(&[1, 2, 3]).is_none());
    }
}
