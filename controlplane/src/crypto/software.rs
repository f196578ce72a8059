//! Software signing keys held in memory (aws-lc-rs), persisted as PKCS#8.

use aws_lc_rs::encoding::{AsDer, Pkcs8V1Der, PublicKeyX509Der};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{self, EcdsaKeyPair, Ed25519KeyPair, KeyPair, RsaKeyPair};

use super::{KeyAlgorithm, SignError, Signer};

enum Inner {
    Ecdsa(EcdsaKeyPair),
    Ed25519(Ed25519KeyPair),
    Rsa(RsaKeyPair),
}

/// A private key in process memory.
pub struct SoftwareSigner {
    alg: KeyAlgorithm,
    inner: Inner,
    spki: Vec<u8>,
    rng: SystemRandom,
}

impl std::fmt::Debug for SoftwareSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SoftwareSigner")
            .field("alg", &self.alg)
            .finish_non_exhaustive()
    }
}

fn failed(e: impl std::fmt::Display) -> SignError {
    SignError::Failed(e.to_string())
}

fn ecdsa_alg(alg: KeyAlgorithm) -> &'static signature::EcdsaSigningAlgorithm {
    if alg == KeyAlgorithm::EcdsaP384 {
        &signature::ECDSA_P384_SHA384_ASN1_SIGNING
    } else {
        &signature::ECDSA_P256_SHA256_ASN1_SIGNING
    }
}

impl SoftwareSigner {
    /// Generates a new key; returns the signer and its PKCS#8 v1 encoding for storage.
    pub fn generate(alg: KeyAlgorithm) -> Result<(Self, Vec<u8>), SignError> {
        let pkcs8 = match alg {
            KeyAlgorithm::EcdsaP256 | KeyAlgorithm::EcdsaP384 => {
                EcdsaKeyPair::generate(ecdsa_alg(alg))
                    .map_err(failed)?
                    .to_pkcs8v1()
                    .map_err(failed)?
                    .as_ref()
                    .to_vec()
            }
            KeyAlgorithm::Ed25519 => Ed25519KeyPair::generate()
                .map_err(failed)?
                .to_pkcs8v1()
                .map_err(failed)?
                .as_ref()
                .to_vec(),
            _ => {
                let size = match alg.rsa_bits() {
                    Some(2048) => KeySize::Rsa2048,
                    Some(3072) => KeySize::Rsa3072,
                    _ => KeySize::Rsa4096,
                };
                let kp = RsaKeyPair::generate(size).map_err(failed)?;
                AsDer::<Pkcs8V1Der>::as_der(&kp)
                    .map_err(failed)?
                    .as_ref()
                    .to_vec()
            }
        };
        Ok((Self::from_pkcs8(alg, &pkcs8)?, pkcs8))
    }

    /// Loads a PKCS#8 key of the given algorithm.
    pub fn from_pkcs8(alg: KeyAlgorithm, pkcs8: &[u8]) -> Result<Self, SignError> {
        let rejected = |e: aws_lc_rs::error::KeyRejected| SignError::KeyRejected(e.to_string());
        let (inner, spki) = match alg {
            KeyAlgorithm::EcdsaP256 | KeyAlgorithm::EcdsaP384 => {
                let kp = EcdsaKeyPair::from_pkcs8(ecdsa_alg(alg), pkcs8).map_err(rejected)?;
                let spki = AsDer::<PublicKeyX509Der>::as_der(kp.public_key())
                    .map_err(failed)?
                    .as_ref()
                    .to_vec();
                (Inner::Ecdsa(kp), spki)
            }
            KeyAlgorithm::Ed25519 => {
                let kp = Ed25519KeyPair::from_pkcs8_maybe_unchecked(pkcs8).map_err(rejected)?;
                let spki = AsDer::<PublicKeyX509Der>::as_der(kp.public_key())
                    .map_err(failed)?
                    .as_ref()
                    .to_vec();
                (Inner::Ed25519(kp), spki)
            }
            _ => {
                let kp = RsaKeyPair::from_pkcs8(pkcs8).map_err(rejected)?;
                let bits = kp.public_modulus_len() * 8;
                let want = alg.rsa_bits().unwrap_or(4096);
                if bits != want {
                    return Err(SignError::KeyRejected(format!(
                        "RSA key has {bits} bits, expected {want}"
                    )));
                }
                let spki = AsDer::<PublicKeyX509Der>::as_der(kp.public_key())
                    .map_err(failed)?
                    .as_ref()
                    .to_vec();
                (Inner::Rsa(kp), spki)
            }
        };
        Ok(Self {
            alg,
            inner,
            spki,
            rng: SystemRandom::new(),
        })
    }

    /// Loads a PKCS#8 key, detecting its algorithm (for imported CAs).
    pub fn from_pkcs8_any(pkcs8: &[u8]) -> Result<Self, SignError> {
        for alg in KeyAlgorithm::ALL {
            if let Ok(s) = Self::from_pkcs8(alg, pkcs8) {
                return Ok(s);
            }
        }
        Err(SignError::KeyRejected(
            "not a PKCS#8 key of a supported algorithm".into(),
        ))
    }
}

impl Signer for SoftwareSigner {
    fn key_algorithm(&self) -> KeyAlgorithm {
        self.alg
    }

    fn public_key_der(&self) -> &[u8] {
        &self.spki
    }

    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, SignError> {
        match &self.inner {
            Inner::Ecdsa(kp) => Ok(kp
                .sign(&self.rng, message)
                .map_err(failed)?
                .as_ref()
                .to_vec()),
            Inner::Ed25519(kp) => Ok(kp.sign(message).as_ref().to_vec()),
            Inner::Rsa(kp) => {
                let mut sig = vec![0; kp.public_modulus_len()];
                let encoding: &dyn signature::RsaEncoding = if self.alg.is_pss() {
                    &signature::RSA_PSS_SHA256
                } else {
                    &signature::RSA_PKCS1_SHA256
                };
                kp.sign(encoding, &self.rng, message, &mut sig)
                    .map_err(failed)?;
                Ok(sig)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_lc_rs::signature::UnparsedPublicKey;

    #[test]
    fn every_algorithm_round_trips_and_verifies() {
        for alg in [
            KeyAlgorithm::EcdsaP256,
            KeyAlgorithm::EcdsaP384,
            KeyAlgorithm::Ed25519,
            KeyAlgorithm::Rsa2048,
            KeyAlgorithm::RsaPss2048,
        ] {
            let (s, pkcs8) = SoftwareSigner::generate(alg).unwrap();
            let again = SoftwareSigner::from_pkcs8(alg, &pkcs8).unwrap();
            assert_eq!(again.key_algorithm(), alg);
            assert!(SoftwareSigner::from_pkcs8_any(&pkcs8)
                .unwrap()
                .key_algorithm()
                .same_key_type(alg));
            assert_eq!(again.public_key_der(), s.public_key_der());
            let sig = s.sign(b"hello").unwrap();
            let (_, key) = sigil_shared::ocsp::subject_public_key_bits(s.public_key_der()).unwrap();
            let verify_alg: &dyn signature::VerificationAlgorithm = match alg {
                KeyAlgorithm::EcdsaP256 => &signature::ECDSA_P256_SHA256_ASN1,
                KeyAlgorithm::EcdsaP384 => &signature::ECDSA_P384_SHA384_ASN1,
                KeyAlgorithm::Ed25519 => &signature::ED25519,
                KeyAlgorithm::RsaPss2048 => &signature::RSA_PSS_2048_8192_SHA256,
                _ => &signature::RSA_PKCS1_2048_8192_SHA256,
            };
            UnparsedPublicKey::new(verify_alg, key)
                .verify(b"hello", &sig)
                .unwrap();
        }
    }
}
