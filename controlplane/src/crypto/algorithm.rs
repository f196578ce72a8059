//! Supported key algorithms and their signature AlgorithmIdentifiers.

use serde::{Deserialize, Serialize};

/// Key algorithms Sigil creates CAs with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum KeyAlgorithm {
    #[serde(rename = "ecdsa-p256")]
    EcdsaP256,
    #[serde(rename = "ecdsa-p384")]
    EcdsaP384,
    #[serde(rename = "ed25519")]
    Ed25519,
    #[serde(rename = "rsa-2048")]
    Rsa2048,
    #[serde(rename = "rsa-3072")]
    Rsa3072,
    #[serde(rename = "rsa-4096")]
    Rsa4096,
    /// RSA keys signing with RSASSA-PSS (SHA-256, MGF1-SHA-256, 32-byte salt).
    #[serde(rename = "rsa-pss-2048")]
    RsaPss2048,
    #[serde(rename = "rsa-pss-3072")]
    RsaPss3072,
    #[serde(rename = "rsa-pss-4096")]
    RsaPss4096,
}

/// ecdsa-with-SHA256 (RFC 5758 §3.2), parameters absent.
const ECDSA_SHA256: &[u8] = &[
    0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02,
];
/// ecdsa-with-SHA384 (RFC 5758 §3.2), parameters absent.
const ECDSA_SHA384: &[u8] = &[
    0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x03,
];
/// id-Ed25519 (RFC 8410 §3), parameters absent.
const ED25519: &[u8] = &[0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70];
/// id-RSASSA-PSS with SHA-256, MGF1-SHA-256, salt length 32 (RFC 4055 §3.1), byte for byte
/// the encoding CA/B Forum BR 7.1.3.2.1 requires.
const RSA_PSS_SHA256: &[u8] = &[
    0x30, 0x41, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0a, 0x30, 0x34, 0xa0,
    0x0f, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00,
    0xa1, 0x1c, 0x30, 0x1a, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x08, 0x30,
    0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0xa2, 0x03,
    0x02, 0x01, 0x20,
];
/// sha256WithRSAEncryption (RFC 4055 §5), parameters NULL.
const RSA_SHA256: &[u8] = &[
    0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0b, 0x05, 0x00,
];

impl KeyAlgorithm {
    pub const ALL: [KeyAlgorithm; 9] = [
        Self::EcdsaP256,
        Self::EcdsaP384,
        Self::Ed25519,
        Self::Rsa2048,
        Self::Rsa3072,
        Self::Rsa4096,
        Self::RsaPss2048,
        Self::RsaPss3072,
        Self::RsaPss4096,
    ];

    pub const fn name(self) -> &'static str {
        match self {
            Self::EcdsaP256 => "ecdsa-p256",
            Self::EcdsaP384 => "ecdsa-p384",
            Self::Ed25519 => "ed25519",
            Self::Rsa2048 => "rsa-2048",
            Self::Rsa3072 => "rsa-3072",
            Self::Rsa4096 => "rsa-4096",
            Self::RsaPss2048 => "rsa-pss-2048",
            Self::RsaPss3072 => "rsa-pss-3072",
            Self::RsaPss4096 => "rsa-pss-4096",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|a| a.name().eq_ignore_ascii_case(s))
    }

    pub const fn signature_algorithm_der(self) -> &'static [u8] {
        match self {
            Self::EcdsaP256 => ECDSA_SHA256,
            Self::EcdsaP384 => ECDSA_SHA384,
            Self::Ed25519 => ED25519,
            Self::Rsa2048 | Self::Rsa3072 | Self::Rsa4096 => RSA_SHA256,
            Self::RsaPss2048 | Self::RsaPss3072 | Self::RsaPss4096 => RSA_PSS_SHA256,
        }
    }

    pub const fn is_rsa(self) -> bool {
        self.rsa_bits().is_some()
    }

    /// Signs with RSASSA-PSS.
    pub const fn is_pss(self) -> bool {
        matches!(self, Self::RsaPss2048 | Self::RsaPss3072 | Self::RsaPss4096)
    }

    /// Modulus size of RSA algorithms.
    pub const fn rsa_bits(self) -> Option<usize> {
        match self {
            Self::Rsa2048 | Self::RsaPss2048 => Some(2048),
            Self::Rsa3072 | Self::RsaPss3072 => Some(3072),
            Self::Rsa4096 | Self::RsaPss4096 => Some(4096),
            _ => None,
        }
    }

    /// certctl's key algorithm family: `ECDSA`, `Ed25519` or `RSA`.
    pub const fn family(self) -> &'static str {
        match self {
            Self::EcdsaP256 | Self::EcdsaP384 => "ECDSA",
            Self::Ed25519 => "Ed25519",
            _ => "RSA",
        }
    }

    /// Key size in bits (the curve's for ECDSA; 256 for Ed25519).
    pub const fn key_bits(self) -> u32 {
        match self {
            Self::EcdsaP256 | Self::Ed25519 => 256,
            Self::EcdsaP384 => 384,
            Self::Rsa2048 | Self::RsaPss2048 => 2048,
            Self::Rsa3072 | Self::RsaPss3072 => 3072,
            Self::Rsa4096 | Self::RsaPss4096 => 4096,
        }
    }

    /// Whether keys of `self` and `other` are interchangeable (same type and size; the
    /// signature scheme may differ, as for RSA PKCS#1 v1.5 and PSS).
    pub fn same_key_type(self, other: KeyAlgorithm) -> bool {
        self == other || (self.rsa_bits().is_some() && self.rsa_bits() == other.rsa_bits())
    }
}
