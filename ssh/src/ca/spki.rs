//! DER SubjectPublicKeyInfo (RFC 5280 §4.1.2.7) → SSH public key, for CA keys held elsewhere.
//!
//! - Ed25519 (RFC 8410 §4): algorithm `1.3.101.112`, no parameters, the 32-byte key.
//! - EC (RFC 5480 §2): `id-ecPublicKey` with the named curve `prime256v1`, `secp384r1` or
//!   `secp521r1` as parameters, the SEC1 point.
//! - RSA (RFC 8017 §A.1.1): `rsaEncryption`, NULL parameters, `RSAPublicKey { n, e }`.

use crate::error::SshError;
use crate::key::ParsedKey;
use sigil_shared::der::{self, Reader};
use ssh_key::public::{EcdsaPublicKey, Ed25519PublicKey, KeyData, RsaPublicKey};
use ssh_key::Mpint;

const ED25519: &[u8] = &[0x2b, 0x65, 0x70];
const EC_PUBLIC_KEY: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
const P256: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
const P384: &[u8] = &[0x2b, 0x81, 0x04, 0x00, 0x22];
const P521: &[u8] = &[0x2b, 0x81, 0x04, 0x00, 0x23];
const RSA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];

/// The algorithm OID, its parameters (if any) and the key bits of an SPKI.
type Parts<'a> = (&'a [u8], Option<der::Tlv<'a>>, &'a [u8]);

/// The SSH public key of a DER SubjectPublicKeyInfo, checked like a user's key
/// ([`ParsedKey::from_ssh_key`]).
pub fn key_data_from_spki(spki: &[u8]) -> Result<KeyData, SshError> {
    let bad = |what: &str| SshError::CaKey(format!("SubjectPublicKeyInfo: {what}"));
    let parse = || -> Result<Parts<'_>, der::DerError> {
        let seq = der::read_single(spki, der::TAG_SEQUENCE)?;
        let mut r = Reader::new(seq.value);
        let alg = r.read(der::TAG_SEQUENCE)?;
        let bits = r.read(der::TAG_BIT_STRING)?;
        r.finish()?;
        let mut a = Reader::new(alg.value);
        let oid = a.read(der::TAG_OID)?;
        let params = if a.is_empty() {
            None
        } else {
            Some(a.read_any()?)
        };
        a.finish()?;
        Ok((oid.value, params, bits.value))
    };
    let (oid, params, bits) = parse().map_err(|e| bad(&e.to_string()))?;
    let key = match bits.split_first() {
        Some((0, key)) => key,
        _ => return Err(bad("BIT STRING with unused bits")),
    };
    let data = match oid {
        ED25519 if params.is_none() => {
            let k: [u8; 32] = key.try_into().map_err(|_| bad("Ed25519 key size"))?;
            KeyData::Ed25519(Ed25519PublicKey(k))
        }
        EC_PUBLIC_KEY => {
            let curve = match params {
                Some(p) if p.tag == der::TAG_OID => p.value,
                _ => return Err(bad("EC key without a named curve")),
            };
            let ec = EcdsaPublicKey::from_sec1_bytes(key).map_err(|e| bad(&e.to_string()))?;
            let expected = match ec {
                EcdsaPublicKey::NistP256(_) => P256,
                EcdsaPublicKey::NistP384(_) => P384,
                EcdsaPublicKey::NistP521(_) => P521,
            };
            if curve != expected {
                return Err(bad("point does not fit the named curve"));
            }
            KeyData::Ecdsa(ec)
        }
        RSA if params.is_none_or(|p| p.tag == der::TAG_NULL && p.value.is_empty()) => {
            let parse = || -> Result<(&[u8], &[u8]), der::DerError> {
                let seq = der::read_single(key, der::TAG_SEQUENCE)?;
                let mut r = Reader::new(seq.value);
                let n = r.read(der::TAG_INTEGER)?;
                let e = r.read(der::TAG_INTEGER)?;
                r.finish()?;
                Ok((der::canonical_uint(n.value)?, der::canonical_uint(e.value)?))
            };
            let (n, e) = parse().map_err(|e| bad(&e.to_string()))?;
            if n[0] & 0x80 != 0 || e[0] & 0x80 != 0 {
                return Err(bad("negative RSA integer"));
            }
            KeyData::Rsa(RsaPublicKey {
                e: Mpint::from_positive_bytes(e)?,
                n: Mpint::from_positive_bytes(n)?,
            })
        }
        _ => return Err(bad("unsupported algorithm")),
    };
    ParsedKey::from_ssh_key(&data)?;
    Ok(data)
}
