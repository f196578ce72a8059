//! SSH certificate authority keys: what signs ([`CaSigner`]), a key in memory
//! ([`SoftwareCa`]), and a key elsewhere — an HSM through the control plane's existing signer —
//! whose raw signatures become SSH signatures ([`ExternalCa`], [`signature_from_raw`]).
//!
//! What an SSH signature is, per CA key type (PROTOCOL.certkeys: "Signatures are computed and
//! encoded according to the rules defined for the CA's public key algorithm"):
//! - `ssh-ed25519` (RFC 8709 §6): PureEdDSA over the message, the 64 raw bytes.
//! - `ecdsa-sha2-nistp256` / `nistp384` (RFC 5656 §3.1.2): ECDSA over SHA-256 / SHA-384 of the
//!   message; the signature blob is `mpint r, mpint s`.
//! - `ssh-rsa` keys (RFC 8332 §3): RSASSA-PKCS1-v1_5 with SHA-256 (`rsa-sha2-256`) or SHA-512
//!   (`rsa-sha2-512`) over the message, the raw modulus-sized signature. RSA-PSS does not
//!   exist in SSH; SHA-1 `ssh-rsa` signatures are refused by OpenSSH ≥ 8.2 for certificates.

mod raw;
mod rsa;
mod software;
mod spki;

pub use raw::{signature_from_raw, RawFormat};
pub use software::{CaAlgorithm, SoftwareCa};
pub use spki::key_data_from_spki;

use crate::error::{SignerError, SshError};
use crate::key::ParsedKey;
use ssh_key::public::KeyData;
use ssh_key::Signature;

/// A certificate authority's key: its public half, and a signature over a message (the
/// certificate's to-be-signed bytes) in SSH's encoding for that key.
pub trait CaSigner {
    fn public_key(&self) -> KeyData;
    fn sign(&self, message: &[u8]) -> Result<Signature, SshError>;
}

/// A CA key that signs somewhere else (an HSM behind the control plane's `crypto::Signer`):
/// `sign` gets the message and returns the raw signature in `format`, which
/// [`signature_from_raw`] turns into the SSH signature.
pub struct ExternalCa<F> {
    public: KeyData,
    format: RawFormat,
    sign: F,
}

impl<F> ExternalCa<F>
where
    F: Fn(&[u8]) -> Result<Vec<u8>, SignerError>,
{
    /// A CA with this public key; refused when `format` does not fit the key's type or the key
    /// would not be accepted as a user's key (DSA, short RSA, …).
    pub fn new(public: KeyData, format: RawFormat, sign: F) -> Result<Self, SshError> {
        ParsedKey::from_ssh_key(&public)?;
        if !format.fits(&public) {
            return Err(SshError::CaKey(format!(
                "{format:?} signatures do not fit a {} key",
                public.algorithm().as_str()
            )));
        }
        Ok(Self {
            public,
            format,
            sign,
        })
    }

    /// The same, from the key's DER SubjectPublicKeyInfo (what `crypto::Signer::public_key_der`
    /// returns).
    pub fn from_spki(spki_der: &[u8], format: RawFormat, sign: F) -> Result<Self, SshError> {
        Self::new(key_data_from_spki(spki_der)?, format, sign)
    }

    pub fn format(&self) -> RawFormat {
        self.format
    }
}

impl<F> CaSigner for ExternalCa<F>
where
    F: Fn(&[u8]) -> Result<Vec<u8>, SignerError>,
{
    fn public_key(&self) -> KeyData {
        self.public.clone()
    }

    fn sign(&self, message: &[u8]) -> Result<Signature, SshError> {
        let raw = (self.sign)(message).map_err(SshError::Signer)?;
        signature_from_raw(&self.public, self.format, &raw)
    }
}

impl<F> std::fmt::Debug for ExternalCa<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExternalCa")
            .field("public", &self.public.algorithm().as_str())
            .field("format", &self.format)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests;
