//! The core of Sigil's KES-compatible key service: everything about keys, ciphertexts,
//! names and policies that needs no I/O. The control plane manages keys, policies and
//! identities with it; the data plane answers generate/encrypt/decrypt/HMAC requests with it.
//!
//! What MinIO's KES server does, as facts its clients rely on (minio/kes `internal/crypto`,
//! `auth.go`; minio/kms-go `kes`):
//! - [`algorithm`]: the two key algorithms and their names.
//! - [`key`]: 256-bit secret keys — AES256 (per-message key HMAC-SHA256(key, iv),
//!   AES-256-GCM) and ChaCha20 (per-message key HChaCha20(key, iv), ChaCha20-Poly1305) —
//!   and the separate HMAC-SHA256 key of a key version.
//! - [`ciphertext`]: KES's three ciphertext formats (raw, the older msgpack and JSON ones) and
//!   its rules for telling them apart.
//! - [`name`]: valid key, policy and identity names and list patterns.
//! - [`policy`]: allow/deny rules over request paths (and the older `paths` form).
//! - [`identity`]: a client's identity, the SHA-256 of its certificate's public key.
//!
//! Sigil's own addition: [`wrap`], key material sealed under a fleet key-encryption key, the
//! only form in which it is stored or replicated.
//!
//! Randomness comes in as an argument (`[u8; N]` the caller fills from a CSPRNG), so every
//! function here is deterministic and testable with fixed vectors.

pub mod algorithm;
pub mod ciphertext;
pub mod identity;
pub mod key;
pub mod name;
pub mod policy;
pub mod wrap;

pub use algorithm::Algorithm;
pub use key::{DecryptError, HmacKey, SecretKey, KEY_SIZE, RANDOM_SIZE};
pub use wrap::{Kek, KekError, KeyWrapper, WrapError};
