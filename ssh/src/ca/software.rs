//! A CA key in memory: generated here, stored by the control plane as an unencrypted OpenSSH
//! private key (`openssh-key-v1`, PROTOCOL.key), wrapped like every other stored secret.

use super::CaSigner;
use crate::error::SshError;
use crate::key::ParsedKey;
use serde::{Deserialize, Serialize};
use signature::Signer;
use ssh_key::private::{EcdsaKeypair, Ed25519Keypair, KeypairData};
use ssh_key::public::KeyData;
use ssh_key::rand_core::OsRng;
use ssh_key::{EcdsaCurve, LineEnding, PrivateKey, Signature};
use zeroize::Zeroizing;

/// The algorithms Sigil generates SSH CA keys with (names as the control plane's
/// `KeyAlgorithm`). Ed25519 is the default: small, fast, and what `ssh-keygen` defaults to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub enum CaAlgorithm {
    #[default]
    #[serde(rename = "ed25519")]
    Ed25519,
    #[serde(rename = "ecdsa-p256")]
    EcdsaP256,
    #[serde(rename = "ecdsa-p384")]
    EcdsaP384,
    #[serde(rename = "rsa-3072")]
    Rsa3072,
}

impl CaAlgorithm {
    pub const ALL: [CaAlgorithm; 4] = [
        Self::Ed25519,
        Self::EcdsaP256,
        Self::EcdsaP384,
        Self::Rsa3072,
    ];

    pub const fn name(self) -> &'static str {
        match self {
            Self::Ed25519 => "ed25519",
            Self::EcdsaP256 => "ecdsa-p256",
            Self::EcdsaP384 => "ecdsa-p384",
            Self::Rsa3072 => "rsa-3072",
        }
    }

    /// The algorithm named `s` (ASCII case ignored).
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|a| a.name().eq_ignore_ascii_case(s))
    }
}

/// A CA key held in memory.
pub struct SoftwareCa {
    key: PrivateKey,
    public: ParsedKey,
    /// RSA keys sign through aws-lc-rs ([`super::rsa`]).
    rsa: Option<aws_lc_rs::rsa::KeyPair>,
}

impl SoftwareCa {
    /// A new key from the operating system's CSPRNG (RSA takes a second or so).
    pub fn generate(algorithm: CaAlgorithm) -> Result<Self, SshError> {
        let rng = &mut OsRng;
        let data = match algorithm {
            CaAlgorithm::Ed25519 => KeypairData::from(Ed25519Keypair::random(rng)),
            CaAlgorithm::EcdsaP256 => {
                KeypairData::from(EcdsaKeypair::random(rng, EcdsaCurve::NistP256)?)
            }
            CaAlgorithm::EcdsaP384 => {
                KeypairData::from(EcdsaKeypair::random(rng, EcdsaCurve::NistP384)?)
            }
            CaAlgorithm::Rsa3072 => {
                let (keypair, signer) = super::rsa::generate(3072)?;
                let public = ParsedKey::from_ssh_key(&KeyData::Rsa(keypair.public.clone()))?;
                return Ok(Self {
                    key: PrivateKey::new(KeypairData::from(keypair), "")?,
                    public,
                    rsa: Some(signer),
                });
            }
        };
        Self::from_private(PrivateKey::new(data, "")?)
    }

    /// Loads an unencrypted OpenSSH private key (`-----BEGIN OPENSSH PRIVATE KEY-----`), as
    /// [`SoftwareCa::to_openssh_private`] or `ssh-keygen -N ''` writes it. Encrypted keys, and
    /// keys that would be refused as a user's key (DSA, RSA < 2048 bits), are refused.
    pub fn from_openssh_private(pem: &str) -> Result<Self, SshError> {
        let key = PrivateKey::from_openssh(pem)?;
        if key.is_encrypted() {
            return Err(SshError::CaKey("encrypted private key".into()));
        }
        Self::from_private(key)
    }

    fn from_private(key: PrivateKey) -> Result<Self, SshError> {
        let mut public = ParsedKey::from_ssh_key(key.public_key().key_data())?;
        public.comment = key.comment().to_owned();
        let rsa = match key.key_data().rsa() {
            Some(rsa) => Some(super::rsa::signer(rsa)?),
            None => None,
        };
        Ok(Self { key, public, rsa })
    }

    /// The unencrypted OpenSSH private key (LF line endings): secret, for the control plane
    /// to wrap before storing.
    pub fn to_openssh_private(&self) -> Result<Zeroizing<String>, SshError> {
        Ok(self.key.to_openssh(LineEnding::LF)?)
    }

    /// Sets the comment shown after the public key (e.g. `sigil-user-ca`).
    pub fn with_comment(mut self, comment: &str) -> Self {
        self.key.set_comment(comment);
        self.public.comment = comment.to_owned();
        self
    }

    /// `type base64 comment` (no comment: `type base64`): what `/api/userca` and
    /// `/api/hostca` serve and `TrustedUserCAKeys` / `@cert-authority` take.
    pub fn public_openssh(&self) -> String {
        self.public.to_line()
    }

    /// The public key (blob, fingerprint, …).
    pub fn public(&self) -> &ParsedKey {
        &self.public
    }
}

impl CaSigner for SoftwareCa {
    fn public_key(&self) -> KeyData {
        self.public.key_data().clone()
    }

    /// Ed25519, ECDSA with SHA-256/SHA-384, RSA with `rsa-sha2-512` (as `ssh-keygen -s`).
    fn sign(&self, message: &[u8]) -> Result<Signature, SshError> {
        if let Some(rsa) = &self.rsa {
            return super::rsa::sign(rsa, message);
        }
        self.key
            .try_sign(message)
            .map_err(|e| SshError::Signer(Box::new(e)))
    }
}

impl std::fmt::Debug for SoftwareCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SoftwareCa")
            .field("algorithm", &self.public.algorithm)
            .field("fingerprint", &self.public.fingerprint)
            .finish_non_exhaustive()
    }
}
