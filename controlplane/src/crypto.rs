//! Keys and signatures. Everything that signs goes through [`Signer`]: keys in memory
//! ([`SoftwareSigner`]) or in HSMs through PKCS#11 ([`Pkcs11Signer`]). Private keys and other
//! secrets are stored only [`sealed`] under the key-encryption key.

mod algorithm;
mod csr;
mod health;
pub mod pkcs11;
pub mod sealed;
mod software;

pub use algorithm::KeyAlgorithm;
pub use csr::{verify_csr, CsrError, VerifiedCsr};
pub use health::{HealthState, KeyHealth, ReplicaHealth};
pub use pkcs11::Pkcs11Signer;
pub use software::SoftwareSigner;

use thiserror::Error;

#[derive(Debug, Error)]
pub enum SignError {
    #[error("signing failed: {0}")]
    Failed(String),
    #[error("key rejected: {0}")]
    KeyRejected(String),
    #[error("signing backend unavailable: {0}")]
    Unavailable(String),
}

/// A private key that signs. Implementations must be cheap to call from many threads.
pub trait Signer: Send + Sync + std::fmt::Debug {
    fn key_algorithm(&self) -> KeyAlgorithm;

    /// DER `AlgorithmIdentifier` of the signatures this key produces (RFC 5280 §4.1.1.2).
    fn signature_algorithm_der(&self) -> &[u8] {
        self.key_algorithm().signature_algorithm_der()
    }

    /// DER `SubjectPublicKeyInfo` of the key (RFC 5280 §4.1.2.7).
    fn public_key_der(&self) -> &[u8];

    /// Signs `message` (hashing included), returning the signature as it goes into a
    /// BIT STRING: DER `ECDSA-Sig-Value` for ECDSA, raw for Ed25519 and RSA.
    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, SignError>;

    /// Health of the key's backend (always healthy for keys in memory).
    fn health(&self) -> KeyHealth {
        KeyHealth::healthy()
    }
}
