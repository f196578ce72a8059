//! Key material sealed under the fleet key-encryption key (KEK): the only form in which a KES
//! key leaves memory — stored by the control plane, replicated, stored by data planes.
//!
//! ```text
//! material = algorithm (1: AES256 = 1, ChaCha20 = 2) ‖ secret key (32) ‖ HMAC key (32)
//! aad      = "sigil-kes-wrap-v1" ‖ u32be len(kek id) ‖ kek id ‖ u32be len(name) ‖ name
//!            ‖ u32be version
//! sealed   = AES-256-GCM(KEK).seal(nonce (12, random), material, aad)
//! stored   = { kek_id, nonce, sealed }
//! ```
//!
//! The key's name and version are authenticated: a wrapped key copied under another name or
//! version does not unwrap. The KEK id names which KEK sealed it (rotation of the KEK; an HSM
//! that seals with a token key builds the same associated data with [`associated_data`]).
//!
//! The same KEK seals the control plane's own secrets (CA and SSH CA private keys, token
//! secrets) through [`KeyWrapper::seal`] with associated data of another domain
//! (`sigil-secret-wrap-v1`, the control plane's `crypto::sealed`), so neither kind of sealed
//! blob opens as the other.

use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM};

use crate::algorithm::Algorithm;
use crate::key::{HmacKey, SecretKey, KEY_SIZE};

/// Bytes of the wrapped nonce.
pub const NONCE_SIZE: usize = 12;
const DOMAIN: &[u8] = b"sigil-kes-wrap-v1";
/// Bytes of [`KeyMaterial::to_bytes`].
pub const MATERIAL_SIZE: usize = 1 + 2 * KEY_SIZE;

/// A key version's secrets: its secret key and its HMAC key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyMaterial {
    pub key: SecretKey,
    pub hmac: HmacKey,
}

impl KeyMaterial {
    /// The material as it is sealed (see the module documentation).
    pub fn to_bytes(&self) -> [u8; MATERIAL_SIZE] {
        let mut out = [0u8; MATERIAL_SIZE];
        out[0] = match self.key.algorithm() {
            Algorithm::Aes256 => 1,
            Algorithm::ChaCha20 => 2,
        };
        out[1..1 + KEY_SIZE].copy_from_slice(self.key.bytes());
        out[1 + KEY_SIZE..].copy_from_slice(self.hmac.bytes());
        out
    }

    /// The material [`to_bytes`](Self::to_bytes) wrote; `None` for anything else.
    pub fn from_bytes(b: &[u8]) -> Option<Self> {
        if b.len() != MATERIAL_SIZE {
            return None;
        }
        let algorithm = match b[0] {
            1 => Algorithm::Aes256,
            2 => Algorithm::ChaCha20,
            _ => return None,
        };
        let key = b[1..1 + KEY_SIZE].try_into().ok()?;
        let hmac = b[1 + KEY_SIZE..].try_into().ok()?;
        Some(Self {
            key: SecretKey::new(algorithm, key),
            hmac: HmacKey::new(hmac),
        })
    }
}

/// Wrapped key material, as stored and replicated.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Wrapped {
    pub kek_id: String,
    pub nonce: [u8; NONCE_SIZE],
    #[serde(with = "serde_bytes")]
    pub sealed: Vec<u8>,
}

/// Why wrapped material did not unwrap.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UnwrapError {
    #[error("the key-encryption key could not be used: {0}")]
    Backend(String),
    #[error("key is wrapped under key-encryption key {found:?}, not the loaded {loaded:?}")]
    OtherKek { found: String, loaded: String },
    #[error("wrapped key material is not authentic (wrong key-encryption key, name or version)")]
    NotAuthentic,
}

/// The associated data binding wrapped material to its KEK, key name and version.
pub fn associated_data(kek_id: &str, name: &str, version: u32) -> Vec<u8> {
    let mut ad = Vec::with_capacity(DOMAIN.len() + 12 + kek_id.len() + name.len());
    ad.extend_from_slice(DOMAIN);
    for part in [kek_id.as_bytes(), name.as_bytes()] {
        ad.extend_from_slice(&(part.len() as u32).to_be_bytes());
        ad.extend_from_slice(part);
    }
    ad.extend_from_slice(&version.to_be_bytes());
    ad
}

/// A software key-encryption key: 256 bits and the id it is known by.
#[derive(Clone)]
pub struct Kek {
    id: String,
    key: [u8; KEY_SIZE],
}

impl std::fmt::Debug for Kek {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Kek")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

/// Why key material could not be wrapped (a hardware KEK that failed).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("wrapping with the key-encryption key failed: {0}")]
pub struct WrapError(pub String);

/// Whatever seals with the fleet key-encryption key: the software [`Kek`], or an AES key in a
/// PKCS#11 token (`sigil-kes-pkcs11`). An implementation provides AES-256-GCM under a 12-byte
/// nonce with the caller's associated data ([`seal`](Self::seal), [`open`](Self::open)); key
/// material of KES keys is sealed through [`wrap`](Self::wrap) (as [`KeyMaterial::to_bytes`]
/// with [`associated_data`] of the KEK id, the key's name and version), and the control
/// plane's own secrets (CA keys, SSH CA keys, token secrets) with associated data of its own,
/// so the stored form is the same whoever sealed it.
pub trait KeyWrapper: Send + Sync + std::fmt::Debug {
    /// The id stored beside what it wraps (and bound into the associated data).
    fn id(&self) -> &str;

    /// AES-256-GCM of `plain` under `nonce` (12 random bytes, never reused) with associated
    /// data `ad`: the ciphertext and its 16-byte tag.
    fn seal(&self, ad: &[u8], plain: &[u8], nonce: [u8; NONCE_SIZE]) -> Result<Vec<u8>, WrapError>;

    /// The plaintext [`seal`](Self::seal) sealed under `nonce` and `ad`;
    /// [`UnwrapError::NotAuthentic`] when the tag does not verify (another key, other
    /// associated data, altered bytes).
    fn open(
        &self,
        ad: &[u8],
        sealed: &[u8],
        nonce: [u8; NONCE_SIZE],
    ) -> Result<Vec<u8>, UnwrapError>;

    /// Seals `material` of key `name` version `version` with `nonce` (12 random bytes).
    fn wrap(
        &self,
        name: &str,
        version: u32,
        material: &KeyMaterial,
        nonce: [u8; NONCE_SIZE],
    ) -> Result<Wrapped, WrapError> {
        let ad = associated_data(self.id(), name, version);
        Ok(Wrapped {
            kek_id: self.id().to_string(),
            nonce,
            sealed: self.seal(&ad, &material.to_bytes(), nonce)?,
        })
    }

    /// The material of key `name` version `version` from `wrapped`.
    fn unwrap(
        &self,
        name: &str,
        version: u32,
        wrapped: &Wrapped,
    ) -> Result<KeyMaterial, UnwrapError> {
        if wrapped.kek_id != self.id() {
            return Err(UnwrapError::OtherKek {
                found: wrapped.kek_id.clone(),
                loaded: self.id().to_string(),
            });
        }
        let ad = associated_data(self.id(), name, version);
        let plain = self.open(&ad, &wrapped.sealed, wrapped.nonce)?;
        KeyMaterial::from_bytes(&plain).ok_or(UnwrapError::NotAuthentic)
    }
}

impl KeyWrapper for Kek {
    fn id(&self) -> &str {
        Kek::id(self)
    }

    fn seal(&self, ad: &[u8], plain: &[u8], nonce: [u8; NONCE_SIZE]) -> Result<Vec<u8>, WrapError> {
        Ok(self.seal_bytes(ad, plain, nonce))
    }

    fn open(
        &self,
        ad: &[u8],
        sealed: &[u8],
        nonce: [u8; NONCE_SIZE],
    ) -> Result<Vec<u8>, UnwrapError> {
        self.open_bytes(ad, sealed, nonce)
    }
}

/// The id of a KEK held in a PKCS#11 token under `key_label`: the same on every plane that
/// reaches that key, whatever its token is called there.
pub fn pkcs11_kek_id(key_label: &str) -> String {
    format!("pkcs11:{key_label}")
}

/// Why a key-encryption key's text form is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KekError {
    #[error("the key-encryption key must be 32 bytes in base64 (e.g. `openssl rand -base64 32`); got {0}")]
    Format(&'static str),
}

impl Kek {
    /// A KEK from its text form: 32 random bytes in standard base64 (surrounding whitespace
    /// ignored). Its id is derived from the key (`kek-` and the first 8 bytes of SHA-256 of
    /// "sigil-kes-kek-id" ‖ key, in hex), so every plane that loads the same key names it the
    /// same, and no configuration can pair a key with another key's id.
    pub fn parse(text: &str) -> Result<Self, KekError> {
        use base64::Engine as _;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(text.trim())
            .map_err(|_| KekError::Format("text that is not base64"))?;
        let key: [u8; KEY_SIZE] = bytes
            .try_into()
            .map_err(|_| KekError::Format("another length"))?;
        Ok(Self::new(Self::derive_id(&key), key))
    }

    fn derive_id(key: &[u8; KEY_SIZE]) -> String {
        let mut ctx = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
        ctx.update(b"sigil-kes-kek-id");
        ctx.update(key);
        format!("kek-{}", hex::encode(&ctx.finish().as_ref()[..8]))
    }

    pub fn new(id: impl Into<String>, key: [u8; KEY_SIZE]) -> Self {
        Self { id: id.into(), key }
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    fn aead(&self) -> LessSafeKey {
        LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &self.key).expect("a 256-bit key"))
    }

    /// Seals `material` of key `name` version `version` with `nonce` (12 random bytes).
    pub fn wrap(
        &self,
        name: &str,
        version: u32,
        material: &KeyMaterial,
        nonce: [u8; NONCE_SIZE],
    ) -> Wrapped {
        KeyWrapper::wrap(self, name, version, material, nonce).expect("a software KEK seals")
    }

    /// The material of key `name` version `version` from `wrapped`.
    pub fn unwrap(
        &self,
        name: &str,
        version: u32,
        wrapped: &Wrapped,
    ) -> Result<KeyMaterial, UnwrapError> {
        KeyWrapper::unwrap(self, name, version, wrapped)
    }

    fn seal_bytes(&self, ad: &[u8], plain: &[u8], nonce: [u8; NONCE_SIZE]) -> Vec<u8> {
        let mut sealed = plain.to_vec();
        self.aead()
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(ad),
                &mut sealed,
            )
            .expect("AES-256-GCM seals any plaintext shorter than 64 GiB");
        sealed
    }

    fn open_bytes(
        &self,
        ad: &[u8],
        sealed: &[u8],
        nonce: [u8; NONCE_SIZE],
    ) -> Result<Vec<u8>, UnwrapError> {
        let mut buf = sealed.to_vec();
        let len = self
            .aead()
            .open_in_place(Nonce::assume_unique_for_key(nonce), Aad::from(ad), &mut buf)
            .map_err(|_| UnwrapError::NotAuthentic)?
            .len();
        buf.truncate(len);
        Ok(buf)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn kek_text_form() {
        let kek = super::Kek::parse(" AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n").unwrap();
        assert!(
            kek.id().starts_with("kek-") && kek.id().len() == 20,
            "{}",
            kek.id()
        );
        assert_eq!(
            kek.id(),
            super::Kek::parse("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=")
                .unwrap()
                .id()
        );
        assert!(super::Kek::parse("AAEC").is_err());
        assert!(super::Kek::parse("not base64!").is_err());
    }

    use super::*;

    fn material() -> KeyMaterial {
        KeyMaterial {
            key: SecretKey::new(Algorithm::ChaCha20, [7; 32]),
            hmac: HmacKey::new([9; 32]),
        }
    }

    #[test]
    fn wraps_and_binds_name_version_and_kek() {
        let kek = Kek::new("kek-1", [1; 32]);
        let w = kek.wrap("my-key", 2, &material(), [3; 12]);
        assert_eq!(w.kek_id, "kek-1");
        assert!(!w.sealed.windows(32).any(|s| s == [7; 32] || s == [9; 32]));
        assert_eq!(kek.unwrap("my-key", 2, &w), Ok(material()));
        assert_eq!(kek.unwrap("my-key2", 2, &w), Err(UnwrapError::NotAuthentic));
        assert_eq!(kek.unwrap("my-key", 1, &w), Err(UnwrapError::NotAuthentic));
        let other = Kek::new("kek-1", [2; 32]);
        assert_eq!(
            other.unwrap("my-key", 2, &w),
            Err(UnwrapError::NotAuthentic)
        );
        let renamed = Kek::new("kek-2", [1; 32]);
        assert!(matches!(
            renamed.unwrap("my-key", 2, &w),
            Err(UnwrapError::OtherKek { .. })
        ));
        // The associated data separates its fields: ("ab", "c") is not ("a", "bc").
        assert_ne!(associated_data("ab", "c", 1), associated_data("a", "bc", 1));
    }

    #[test]
    fn seals_any_bytes_bound_to_their_associated_data() {
        let kek = Kek::new("kek-1", [1; 32]);
        let w: &dyn KeyWrapper = &kek;
        let plain = vec![0x30u8; 2400];
        let sealed = w.seal(b"ad-1", &plain, [4; 12]).unwrap();
        assert_eq!(sealed.len(), plain.len() + 16);
        assert!(!sealed.windows(16).any(|s| s == &plain[..16]));
        assert_eq!(w.open(b"ad-1", &sealed, [4; 12]).unwrap(), plain);
        assert_eq!(
            w.open(b"ad-2", &sealed, [4; 12]),
            Err(UnwrapError::NotAuthentic)
        );
        assert_eq!(
            w.open(b"ad-1", &sealed, [5; 12]),
            Err(UnwrapError::NotAuthentic)
        );
        let other = Kek::new("kek-1", [2; 32]);
        assert_eq!(
            KeyWrapper::open(&other, b"ad-1", &sealed, [4; 12]),
            Err(UnwrapError::NotAuthentic)
        );
        // The trait's wrap is the inherent one.
        assert_eq!(
            w.wrap("k", 1, &material(), [3; 12]).unwrap(),
            kek.wrap("k", 1, &material(), [3; 12])
        );
    }
}
