//! KES secret keys and HMAC keys (minio/kes `internal/crypto/key.go`, as facts).
//!
//! A secret key is 256 bits and has an [`Algorithm`]. Encrypting a plaintext with associated
//! data (KES's `context`):
//!
//! ```text
//! random     = 28 bytes from a CSPRNG;  iv = random[..16], nonce = random[16..]
//! AES256:    k = HMAC-SHA256(key, iv);      AES-256-GCM(k).seal(nonce, plaintext, ad)
//! ChaCha20:  k = HChaCha20(key, iv);        ChaCha20-Poly1305(k).seal(nonce, plaintext, ad)
//! ciphertext = sealed (plaintext ‖ 16-byte tag) ‖ iv ‖ nonce          -- KES's raw format
//! ```
//!
//! Decryption first turns KES's older formats into the raw one ([`crate::ciphertext`]).

use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, CHACHA20_POLY1305};
use aws_lc_rs::hmac;

use crate::algorithm::Algorithm;
use crate::ciphertext;

/// Bytes of a secret key and of an HMAC key.
pub const KEY_SIZE: usize = 32;
/// Random bytes per encryption: a 16-byte iv and a 12-byte nonce.
pub const RANDOM_SIZE: usize = 28;
/// Bytes of the iv.
pub const IV_SIZE: usize = 16;
/// Bytes of the AEAD nonce.
pub const NONCE_SIZE: usize = 12;
/// Bytes of the AEAD tag.
pub const TAG_SIZE: usize = 16;

/// A ciphertext that does not decrypt under the key and associated data (KES answers every
/// such case alike: 400 `decryption failed: ciphertext is not authentic`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("decryption failed: ciphertext is not authentic")]
pub struct DecryptError;

/// A 256-bit key and the algorithm it is used with.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretKey {
    algorithm: Algorithm,
    bytes: [u8; KEY_SIZE],
}

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretKey")
            .field("algorithm", &self.algorithm)
            .finish_non_exhaustive()
    }
}

/// The per-message AEAD key of `algorithm` under `key` for `iv`.
fn message_key(algorithm: Algorithm, key: &[u8; KEY_SIZE], iv: &[u8]) -> LessSafeKey {
    let (aead, derived): (_, [u8; KEY_SIZE]) = match algorithm {
        Algorithm::Aes256 => {
            let tag = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, key), iv);
            let mut k = [0u8; KEY_SIZE];
            k.copy_from_slice(tag.as_ref());
            (&AES_256_GCM, k)
        }
        Algorithm::ChaCha20 => {
            let mut input = [0u8; IV_SIZE];
            input.copy_from_slice(iv);
            let k = chacha20::hchacha::<chacha20::R20>(
                &chacha20::Key::from(*key),
                &chacha20::cipher::Array::from(input),
            );
            (&CHACHA20_POLY1305, k.into())
        }
    };
    // Both AEADs take 256-bit keys: construction cannot fail.
    LessSafeKey::new(UnboundKey::new(aead, &derived).expect("a 256-bit AEAD key"))
}

impl SecretKey {
    pub fn new(algorithm: Algorithm, bytes: [u8; KEY_SIZE]) -> Self {
        Self { algorithm, bytes }
    }

    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// The key material (to wrap it for storage; never to log).
    pub fn bytes(&self) -> &[u8; KEY_SIZE] {
        &self.bytes
    }

    /// Bytes a ciphertext adds to its plaintext.
    pub const fn overhead() -> usize {
        TAG_SIZE + RANDOM_SIZE
    }

    /// Encrypts `plaintext` with `associated_data` into KES's raw format, using `random`
    /// (28 bytes from a CSPRNG, never reused) as iv and nonce.
    pub fn encrypt(
        &self,
        plaintext: &[u8],
        associated_data: &[u8],
        random: &[u8; RANDOM_SIZE],
    ) -> Vec<u8> {
        let mut out = Vec::with_capacity(plaintext.len() + Self::overhead());
        self.encrypt_into(plaintext, associated_data, random, &mut out);
        out
    }

    /// [`encrypt`](Self::encrypt), appending to `out`.
    pub fn encrypt_into(
        &self,
        plaintext: &[u8],
        associated_data: &[u8],
        random: &[u8; RANDOM_SIZE],
        out: &mut Vec<u8>,
    ) {
        let (iv, nonce) = random.split_at(IV_SIZE);
        let key = message_key(self.algorithm, &self.bytes, iv);
        let nonce = Nonce::try_assume_unique_for_key(nonce).expect("a 12-byte nonce");
        let start = out.len();
        out.extend_from_slice(plaintext);
        let tag = key
            .seal_in_place_separate_tag(nonce, Aad::from(associated_data), &mut out[start..])
            .expect("sealing a small plaintext cannot fail");
        out.extend_from_slice(tag.as_ref());
        out.extend_from_slice(random);
    }

    /// Decrypts a ciphertext in any of KES's formats with `associated_data`.
    pub fn decrypt(
        &self,
        ciphertext: &[u8],
        associated_data: &[u8],
    ) -> Result<Vec<u8>, DecryptError> {
        let raw = ciphertext::to_raw(ciphertext);
        let raw: &[u8] = &raw;
        if raw.len() <= RANDOM_SIZE {
            return Err(DecryptError);
        }
        let (sealed, random) = raw.split_at(raw.len() - RANDOM_SIZE);
        let (iv, nonce) = random.split_at(IV_SIZE);
        let key = message_key(self.algorithm, &self.bytes, iv);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| DecryptError)?;
        let mut buf = sealed.to_vec();
        let plaintext = key
            .open_in_place(nonce, Aad::from(associated_data), &mut buf)
            .map_err(|_| DecryptError)?
            .len();
        buf.truncate(plaintext);
        Ok(buf)
    }
}

/// The HMAC-SHA256 key of a key version (KES's `HMACKey`), separate from its secret key.
#[derive(Clone, PartialEq, Eq)]
pub struct HmacKey {
    bytes: [u8; KEY_SIZE],
}

impl std::fmt::Debug for HmacKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HmacKey").finish_non_exhaustive()
    }
}

impl HmacKey {
    pub fn new(bytes: [u8; KEY_SIZE]) -> Self {
        Self { bytes }
    }

    pub fn bytes(&self) -> &[u8; KEY_SIZE] {
        &self.bytes
    }

    /// HMAC-SHA256(key, message).
    pub fn sum(&self, message: &[u8]) -> [u8; 32] {
        let tag = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, &self.bytes), message);
        let mut out = [0u8; 32];
        out.copy_from_slice(tag.as_ref());
        out
    }
}

#[cfg(test)]
mod tests;
