//! The algorithms a KES key is used with (kms-go `kes.KeyAlgorithm`).

use std::fmt;

/// The AEAD a key encrypts with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Algorithm {
    /// AES-256-GCM under a per-message key HMAC-SHA256(key, iv).
    Aes256,
    /// ChaCha20-Poly1305 under a per-message key HChaCha20(key, iv).
    ChaCha20,
}

impl Algorithm {
    /// The name KES writes (`AES256`, `ChaCha20`).
    pub const fn name(self) -> &'static str {
        match self {
            Self::Aes256 => "AES256",
            Self::ChaCha20 => "ChaCha20",
        }
    }

    /// A name as KES reads it: the current names and the ones older servers wrote into
    /// msgpack ciphertexts (`AES256-GCM_SHA256`, `XCHACHA20-POLY1305`). Case-sensitive.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "AES256" | "AES256-GCM_SHA256" => Some(Self::Aes256),
            "ChaCha20" | "XCHACHA20-POLY1305" => Some(Self::ChaCha20),
            _ => None,
        }
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_old_names_parse() {
        for a in [Algorithm::Aes256, Algorithm::ChaCha20] {
            assert_eq!(Algorithm::parse(a.name()), Some(a));
        }
        assert_eq!(
            Algorithm::parse("AES256-GCM_SHA256"),
            Some(Algorithm::Aes256)
        );
        assert_eq!(
            Algorithm::parse("XCHACHA20-POLY1305"),
            Some(Algorithm::ChaCha20)
        );
        assert_eq!(Algorithm::parse("aes256"), None);
        assert_eq!(Algorithm::parse("AES-256-GCM"), None);
    }
}
