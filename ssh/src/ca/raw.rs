//! Raw signatures (as an HSM or aws-lc-rs returns them) → SSH signatures.

use crate::error::SshError;
use sigil_shared::der;
use ssh_key::public::KeyData;
use ssh_key::{Algorithm, EcdsaCurve, HashAlg, Mpint, Signature};

/// The raw signature an external signer returns, and so what it must compute over the
/// message it is given.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RawFormat {
    /// Ed25519 keys: PureEdDSA over the message (PKCS#11 `CKM_EDDSA`), 64 bytes.
    Ed25519,
    /// ECDSA keys: ECDSA over SHA-256 (P-256), SHA-384 (P-384) or SHA-512 (P-521) of the
    /// message (PKCS#11 `CKM_ECDSA_SHA256` / `CKM_ECDSA_SHA384`, or `CKM_ECDSA` over that
    /// digest), as a DER `ECDSA-Sig-Value` (what aws-lc-rs `*_ASN1_SIGNING` and Sigil's
    /// `crypto::Signer` return).
    EcdsaDer,
    /// The same, as fixed-size `r ‖ s` (what PKCS#11 `CKM_ECDSA*` returns, aws-lc-rs
    /// `*_FIXED_SIGNING`).
    EcdsaFixed,
    /// RSA keys: RSASSA-PKCS1-v1_5 with SHA-256 over the message (`CKM_SHA256_RSA_PKCS`,
    /// aws-lc-rs `RSA_PKCS1_SHA256`, Sigil's `crypto::Signer` for `rsa-*` keys); SSH calls it
    /// `rsa-sha2-256`. The signature is as long as the modulus.
    RsaPkcs1Sha256,
    /// RSASSA-PKCS1-v1_5 with SHA-512 (`CKM_SHA512_RSA_PKCS`, `RSA_PKCS1_SHA512`):
    /// `rsa-sha2-512`, what `ssh-keygen` uses.
    RsaPkcs1Sha512,
}

impl RawFormat {
    /// Whether signatures of this format can be made by `key`.
    pub fn fits(self, key: &KeyData) -> bool {
        match self {
            Self::Ed25519 => matches!(key, KeyData::Ed25519(_)),
            Self::EcdsaDer | Self::EcdsaFixed => matches!(
                key.ecdsa().map(|k| k.curve()),
                Some(EcdsaCurve::NistP256 | EcdsaCurve::NistP384 | EcdsaCurve::NistP521)
            ),
            Self::RsaPkcs1Sha256 | Self::RsaPkcs1Sha512 => matches!(key, KeyData::Rsa(_)),
        }
    }
}

/// The SSH signature for `raw`, a signature by `key` in `format`. Checks the shape (lengths,
/// `0 < r, s`, sizes within the curve's), not the signature itself: certificate signing
/// verifies the result against the CA key before anything is returned.
pub fn signature_from_raw(
    key: &KeyData,
    format: RawFormat,
    raw: &[u8],
) -> Result<Signature, SshError> {
    if !format.fits(key) {
        return Err(SshError::BadSignature("format does not fit the key"));
    }
    match format {
        RawFormat::Ed25519 => {
            if raw.len() != 64 {
                return Err(SshError::BadSignature("Ed25519 signatures are 64 bytes"));
            }
            Ok(Signature::new(Algorithm::Ed25519, raw)?)
        }
        RawFormat::EcdsaDer => {
            let curve = curve(key)?;
            let seq = der::read_single(raw, der::TAG_SEQUENCE)
                .map_err(|_| SshError::BadSignature("not a DER ECDSA-Sig-Value"))?;
            let mut r = der::Reader::new(seq.value);
            let (rr, ss) = match (r.read(der::TAG_INTEGER), r.read(der::TAG_INTEGER)) {
                (Ok(a), Ok(b)) if r.finish().is_ok() => (a.value, b.value),
                _ => return Err(SshError::BadSignature("not a DER ECDSA-Sig-Value")),
            };
            // DER INTEGERs: a leading 0x80 bit would be negative.
            if rr.first().is_none_or(|b| b & 0x80 != 0) || ss.first().is_none_or(|b| b & 0x80 != 0)
            {
                return Err(SshError::BadSignature("negative ECDSA component"));
            }
            ecdsa(curve, rr, ss)
        }
        RawFormat::EcdsaFixed => {
            let curve = curve(key)?;
            let n = field_size(curve);
            if raw.len() != 2 * n {
                return Err(SshError::BadSignature("r ‖ s must be twice the field size"));
            }
            ecdsa(curve, &raw[..n], &raw[n..])
        }
        RawFormat::RsaPkcs1Sha256 | RawFormat::RsaPkcs1Sha512 => {
            let modulus = key
                .rsa()
                .and_then(|k| k.n.as_positive_bytes())
                .ok_or(SshError::BadSignature("not an RSA key"))?;
            if raw.len() != modulus.len() {
                return Err(SshError::BadSignature(
                    "RSA signatures are as long as the modulus",
                ));
            }
            let hash = if format == RawFormat::RsaPkcs1Sha256 {
                HashAlg::Sha256
            } else {
                HashAlg::Sha512
            };
            Ok(Signature::new(Algorithm::Rsa { hash: Some(hash) }, raw)?)
        }
    }
}

/// Bytes of a scalar of the curve.
fn field_size(curve: EcdsaCurve) -> usize {
    match curve {
        EcdsaCurve::NistP256 => 32,
        EcdsaCurve::NistP384 => 48,
        EcdsaCurve::NistP521 => 66,
    }
}

fn curve(key: &KeyData) -> Result<EcdsaCurve, SshError> {
    key.ecdsa()
        .map(|k| k.curve())
        .ok_or(SshError::BadSignature("not an ECDSA key"))
}

/// `mpint r, mpint s` from big-endian magnitudes (leading zeros allowed).
fn ecdsa(curve: EcdsaCurve, r: &[u8], s: &[u8]) -> Result<Signature, SshError> {
    let trim = |v: &[u8]| -> Result<Vec<u8>, SshError> {
        let v = &v[v.iter().take_while(|&&b| b == 0).count()..];
        if v.is_empty() {
            return Err(SshError::BadSignature("zero ECDSA component"));
        }
        if v.len() > field_size(curve) {
            return Err(SshError::BadSignature("ECDSA component too large"));
        }
        Ok(v.to_vec())
    };
    let mut blob = Vec::with_capacity(2 * field_size(curve) + 10);
    for v in [trim(r)?, trim(s)?] {
        let m = Mpint::from_positive_bytes(&v)?;
        crate::wire::put_string(&mut blob, m.as_bytes());
    }
    Ok(Signature::new(Algorithm::Ecdsa { curve }, blob)?)
}
