//! CertID (RFC 6960 §4.1.1) and the lookup key derived from it.
//!
//! ```text
//! CertID ::= SEQUENCE {
//!     hashAlgorithm       AlgorithmIdentifier,
//!     issuerNameHash      OCTET STRING, -- Hash of issuer's DN
//!     issuerKeyHash       OCTET STRING, -- Hash of issuer's public key
//!     serialNumber        CertificateSerialNumber }
//! ```

use aws_lc_rs::digest;
use serde::{Deserialize, Serialize};

use crate::der::{self, DerError, Reader, TAG_BIT_STRING, TAG_SEQUENCE};

/// The CertID hash algorithms Sigil pre-signs for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HashAlg {
    /// id-sha1 (1.3.14.3.2.26): what most OCSP clients, openssl included, send by default.
    Sha1,
    /// id-sha256 (2.16.840.1.101.3.4.2.1).
    Sha256,
}

/// DER of `id-sha1` (OID only).
const OID_SHA1: &[u8] = &[0x06, 0x05, 0x2b, 0x0e, 0x03, 0x02, 0x1a];
/// DER of `id-sha256` (OID only).
const OID_SHA256: &[u8] = &[
    0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01,
];

impl HashAlg {
    pub const ALL: [HashAlg; 2] = [HashAlg::Sha1, HashAlg::Sha256];

    /// Digest length in bytes.
    pub const fn digest_len(self) -> usize {
        match self {
            HashAlg::Sha1 => 20,
            HashAlg::Sha256 => 32,
        }
    }

    pub const fn code(self) -> u8 {
        match self {
            HashAlg::Sha1 => 1,
            HashAlg::Sha256 => 2,
        }
    }

    pub const fn from_code(c: u8) -> Option<Self> {
        match c {
            1 => Some(HashAlg::Sha1),
            2 => Some(HashAlg::Sha256),
            _ => None,
        }
    }

    pub const fn name(self) -> &'static str {
        match self {
            HashAlg::Sha1 => "sha1",
            HashAlg::Sha256 => "sha256",
        }
    }

    pub fn from_name(s: &str) -> Option<Self> {
        match s.to_ascii_lowercase().replace('-', "").as_str() {
            "sha1" => Some(HashAlg::Sha1),
            "sha256" => Some(HashAlg::Sha256),
            _ => None,
        }
    }

    /// DER of the AlgorithmIdentifier with NULL parameters, as written in CertIDs we produce.
    pub const fn algorithm_identifier(self) -> &'static [u8] {
        match self {
            HashAlg::Sha1 => &[
                0x30, 0x09, 0x06, 0x05, 0x2b, 0x0e, 0x03, 0x02, 0x1a, 0x05, 0x00,
            ],
            HashAlg::Sha256 => &[
                0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05,
                0x00,
            ],
        }
    }

    /// Recognises the AlgorithmIdentifier of a request's CertID (parameters absent or NULL).
    pub(crate) fn from_algorithm_identifier(value: &[u8]) -> Result<Option<Self>, DerError> {
        let mut r = Reader::new(value);
        let oid = r.read(der::TAG_OID)?;
        if !r.is_empty() {
            r.read(der::TAG_NULL)?;
            r.finish()?;
        }
        Ok(if oid.raw == OID_SHA1 {
            Some(HashAlg::Sha1)
        } else if oid.raw == OID_SHA256 {
            Some(HashAlg::Sha256)
        } else {
            None
        })
    }

    pub fn digest(self, data: &[u8]) -> Vec<u8> {
        let alg = match self {
            HashAlg::Sha1 => &digest::SHA1_FOR_LEGACY_USE_ONLY,
            HashAlg::Sha256 => &digest::SHA256,
        };
        digest::digest(alg, data).as_ref().to_vec()
    }
}

/// Lookup key of one pre-signed response: `alg code || issuerNameHash || issuerKeyHash ||
/// canonical serial content octets`. Stored as the key in the `ocsp` column family on both
/// planes; the issuer prefix (`alg || name hash || key hash`) identifies the CA.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct CertIdKey(#[serde(with = "serde_bytes")] pub Vec<u8>);

/// Writes the [`CertIdKey`] bytes `alg ‖ name_hash ‖ key_hash ‖ serial` into `out`, which is
/// exactly that long: the one place the layout is written (the data plane builds keys on its
/// stack with it).
#[inline]
pub(crate) fn write_cert_id_key(
    out: &mut [u8],
    alg: HashAlg,
    name_hash: &[u8],
    key_hash: &[u8],
    serial: &[u8],
) {
    let (code, rest) = out.split_at_mut(1);
    code[0] = alg.code();
    let (name, rest) = rest.split_at_mut(name_hash.len());
    name.copy_from_slice(name_hash);
    let (key, rest) = rest.split_at_mut(key_hash.len());
    key.copy_from_slice(key_hash);
    rest.copy_from_slice(serial);
}

impl CertIdKey {
    pub fn new(alg: HashAlg, name_hash: &[u8], key_hash: &[u8], serial: &[u8]) -> Self {
        let mut k = vec![0; 1 + name_hash.len() + key_hash.len() + serial.len()];
        write_cert_id_key(&mut k, alg, name_hash, key_hash, serial);
        CertIdKey(k)
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// Hash algorithm of the key, if well formed.
    pub fn alg(&self) -> Option<HashAlg> {
        self.0.first().and_then(|c| HashAlg::from_code(*c))
    }

    /// `alg || issuerNameHash || issuerKeyHash`: identifies the issuer.
    pub fn issuer_prefix(&self) -> &[u8] {
        let n = self
            .alg()
            .map_or(0, |a| 1 + 2 * a.digest_len())
            .min(self.0.len());
        &self.0[..n]
    }

    /// Canonical serial number content octets.
    pub fn serial(&self) -> &[u8] {
        &self.0[self.issuer_prefix().len()..]
    }
}

/// Issuer name and key hashes of a CA certificate for one algorithm (RFC 6960 §4.1.1: the
/// name hash covers the DER of the issuer's subject, the key hash the subjectPublicKey BIT
/// STRING value without tag, length and unused-bits octet).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IssuerHashes {
    pub alg: HashAlg,
    #[serde(with = "serde_bytes")]
    pub name_hash: Vec<u8>,
    #[serde(with = "serde_bytes")]
    pub key_hash: Vec<u8>,
}

impl IssuerHashes {
    pub fn key_for(&self, serial: &[u8]) -> CertIdKey {
        CertIdKey::new(self.alg, &self.name_hash, &self.key_hash, serial)
    }

    /// Length of [`key_for`](Self::key_for)`(serial)` for a serial of `serial_len` octets.
    #[inline]
    pub fn key_len(&self, serial_len: usize) -> usize {
        1 + self.name_hash.len() + self.key_hash.len() + serial_len
    }

    /// Writes [`key_for`](Self::key_for)`(serial)` into `out` ([`key_len`](Self::key_len)
    /// long) without allocating.
    #[inline]
    pub fn write_key(&self, serial: &[u8], out: &mut [u8]) {
        write_cert_id_key(out, self.alg, &self.name_hash, &self.key_hash, serial);
    }
}

/// Computes [`IssuerHashes`] from a DER certificate by walking to its subject and
/// subjectPublicKeyInfo (RFC 5280 §4.1).
pub fn issuer_hashes(cert_der: &[u8], alg: HashAlg) -> Result<IssuerHashes, DerError> {
    let (subject, spki) = subject_and_spki(cert_der)?;
    let mut r = Reader::new(spki);
    r.read(TAG_SEQUENCE)?; // algorithm
    let bits = r.read(TAG_BIT_STRING)?;
    let key = bits.value.get(1..).ok_or(DerError::Truncated)?;
    Ok(IssuerHashes {
        alg,
        name_hash: alg.digest(subject),
        key_hash: alg.digest(key),
    })
}

/// [`IssuerHashes`] of a CA certificate for every algorithm in [`HashAlg::ALL`].
pub fn all_issuer_hashes(cert_der: &[u8]) -> Result<Vec<IssuerHashes>, DerError> {
    HashAlg::ALL
        .iter()
        .map(|a| issuer_hashes(cert_der, *a))
        .collect()
}

/// Returns the subject Name DER and the SubjectPublicKeyInfo value bytes of a certificate.
pub fn subject_and_spki(cert_der: &[u8]) -> Result<(&[u8], &[u8]), DerError> {
    let cert = der::read_single(cert_der, TAG_SEQUENCE)?;
    let mut c = Reader::new(cert.value);
    let tbs = c.read(TAG_SEQUENCE)?;
    let mut t = Reader::new(tbs.value);
    t.read_optional(der::ctx_cons(0))?; // version
    t.read(der::TAG_INTEGER)?; // serial
    t.read(TAG_SEQUENCE)?; // signature
    t.read(TAG_SEQUENCE)?; // issuer
    t.read(TAG_SEQUENCE)?; // validity
    let subject = t.read(TAG_SEQUENCE)?;
    let spki = t.read(TAG_SEQUENCE)?;
    Ok((subject.raw, spki.value))
}

/// SHA-1 of the subjectPublicKey BIT STRING value: the `KeyHash` of a `ResponderID` byKey
/// (RFC 6960 §4.2.1) and the usual key identifier (RFC 5280 §4.2.1.2 method 1).
pub fn key_id_of_spki(spki_der: &[u8]) -> Result<Vec<u8>, DerError> {
    let spki = der::read_single(spki_der, TAG_SEQUENCE)?;
    let mut r = Reader::new(spki.value);
    r.read(TAG_SEQUENCE)?;
    let bits = r.read(TAG_BIT_STRING)?;
    Ok(HashAlg::Sha1.digest(bits.value.get(1..).ok_or(DerError::Truncated)?))
}

/// Splits a DER SubjectPublicKeyInfo into its AlgorithmIdentifier (whole TLV) and the
/// subjectPublicKey BIT STRING value without the unused-bits octet (RFC 5280 §4.1.2.7).
pub fn subject_public_key_bits(spki_der: &[u8]) -> Result<(&[u8], &[u8]), DerError> {
    let spki = der::read_single(spki_der, TAG_SEQUENCE)?;
    let mut r = Reader::new(spki.value);
    let alg = r.read(TAG_SEQUENCE)?;
    let bits = r.read(TAG_BIT_STRING)?;
    r.finish()?;
    match bits.value.split_first() {
        Some((0, key)) => Ok((alg.raw, key)),
        _ => Err(DerError::Truncated),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn algorithm_identifiers_are_oid_plus_null() {
        for (alg, oid) in [(HashAlg::Sha1, OID_SHA1), (HashAlg::Sha256, OID_SHA256)] {
            let seq = der::read_single(alg.algorithm_identifier(), TAG_SEQUENCE).unwrap();
            assert_eq!(&seq.value[..oid.len()], oid);
            assert_eq!(&seq.value[oid.len()..], &[0x05, 0x00]);
            assert_eq!(
                HashAlg::from_algorithm_identifier(seq.value).unwrap(),
                Some(alg)
            );
        }
    }
}
