//! OpenSSH key revocation lists (PROTOCOL.krl), written and read here (no crate does).
//!
//! The format, as OpenSSH's `krl.c` writes and reads it:
//! - Header: `uint64 KRL_MAGIC` (`"SSHKRL\n\0"`), `uint32 format version` (1), `uint64
//!   krl_version`, `uint64 generated_date`, `uint64 flags` (none defined, ignored), `string
//!   reserved` (ignored), `string comment`. Then sections: `byte type`, `string data`.
//! - Section 1, certificates: `string ca_key` (a public key blob; empty = any CA), `string
//!   reserved`, then subsections `byte type`, `string data`: 0x20 a list of `uint64` serials,
//!   0x21 a range `uint64 min, uint64 max`, 0x22 a bitmap `uint64 offset, mpint bits` (bit N
//!   revokes offset + N), 0x23 key IDs (`string`s), 0x39 an extension. Serial 0 is refused
//!   (`ssh_krl_revoke_cert_by_serial_range`: lo == 0 or lo > hi → invalid), and a certificate
//!   with serial 0 is only checked by key ID.
//! - Section 2 revokes explicit key blobs, 3 SHA-1 and 5 SHA-256 hashes of key blobs (a
//!   `string` each, hashes exactly 20 / 32 bytes), 4 is a signature, 255 an extension
//!   (`string name, bool critical, string contents`): a critical extension of any kind fails
//!   the parse, a non-critical one is ignored.
//! - Any other section or subsection type fails the parse, and so does data left over inside a
//!   section or subsection, a truncated field, or a `string` read as C string (comment, key
//!   IDs, extension names) with a NUL before its last byte (a last NUL is dropped).
//! - Hashes "must appear in numeric order" (PROTOCOL.krl §4), and `ssh_krl_to_blob` writes
//!   every list sorted (hashes as big-endian integers, serials ascending, key IDs by
//!   `strcmp`), but the parser inserts into trees: it accepts any order and duplicates.
//! - A certificate is revoked when its serial (≠ 0) or key ID is listed under its CA's key or
//!   the wildcard CA, or when its plain key's hash is listed; a plain key when its SHA-256 (or
//!   SHA-1, or blob) is listed.
//!
//! [`Krl::decode`] accepts what OpenSSH accepts, except (refused, never written by Sigil):
//! SHA-1 sections (a SHA-256 lookup cannot check them), signature sections (OpenSSH ≥ 9.4
//! refuses them too), CA keys that are not plain RSA (≥ 1024 bits), ECDSA or Ed25519 keys in
//! canonical encoding, key IDs and comments that are not UTF-8, and serial ranges expanding
//! past [`MAX_RANGE_SERIALS`] in total. Explicit-key sections are read as the SHA-256 of each
//! blob, which revokes exactly the same keys.

mod codec;

pub use codec::MAX_RANGE_SERIALS;

use std::collections::{BTreeMap, BTreeSet};
use thiserror::Error;

/// `"SSHKRL\n\0"`.
pub const KRL_MAGIC: [u8; 8] = *b"SSHKRL\n\0";
/// The only format version.
pub const KRL_FORMAT_VERSION: u32 = 1;

/// A KRL as Sigil writes it: plain keys by SHA-256, certificates by CA, serial and key ID.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Krl {
    /// Increases with every change (`krl_version`).
    pub version: u64,
    /// Unix seconds (`generated_date`).
    pub generated_at: u64,
    pub comment: String,
    /// SHA-256 of revoked plain key blobs.
    pub revoked_sha256: BTreeSet<[u8; 32]>,
    /// Revoked certificates by CA key blob; the empty blob means any CA.
    pub certs: BTreeMap<Vec<u8>, RevokedCerts>,
}

/// The certificates of one CA that are revoked.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RevokedCerts {
    /// Never 0.
    pub serials: BTreeSet<u64>,
    pub key_ids: BTreeSet<String>,
}

/// Why a KRL could not be read or written.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum KrlError {
    #[error("not a KRL (bad magic)")]
    BadMagic,
    #[error("unsupported KRL format version {0}")]
    FormatVersion(u32),
    #[error("KRL truncated")]
    Truncated,
    #[error("KRL section contains unparsed data")]
    TrailingData,
    #[error("unsupported KRL section {0}")]
    UnknownSection(u8),
    #[error("unsupported KRL certificate section {0:#04x}")]
    UnknownCertSection(u8),
    #[error("KRL contains unsupported critical extension {0:?}")]
    CriticalExtension(String),
    #[error("KRL has SHA-1 fingerprints, which Sigil does not check")]
    Sha1Section,
    #[error("KRL is signed; KRL signatures are not supported")]
    SignatureSection,
    #[error("KRL hash of {0} bytes, expected 32")]
    HashLength(usize),
    #[error("KRL revokes serial 0")]
    ZeroSerial,
    #[error("KRL serial range {lo}..={hi} is invalid")]
    BadRange { lo: u64, hi: u64 },
    #[error("KRL serial ranges exceed {MAX_RANGE_SERIALS} serials")]
    TooManySerials,
    #[error("KRL serial bitmap is negative, too large or wraps")]
    BadBitmap,
    #[error("KRL string is not a C string of UTF-8")]
    BadString,
    #[error("KRL CA key: {0}")]
    BadCaKey(String),
    #[error("KRL too large to encode")]
    TooLarge,
}

impl Krl {
    /// An empty KRL.
    pub fn new(version: u64, generated_at: u64) -> Krl {
        Krl {
            version,
            generated_at,
            ..Krl::default()
        }
    }

    /// Revokes a plain key by the SHA-256 of its blob.
    pub fn revoke_key(&mut self, sha256: [u8; 32]) {
        self.revoked_sha256.insert(sha256);
    }

    /// Revokes the certificate with `serial` signed by `ca_blob` (empty: any CA). Serial 0
    /// cannot be revoked by serial: [`Krl::encode`] refuses it.
    pub fn revoke_serial(&mut self, ca_blob: &[u8], serial: u64) {
        self.certs
            .entry(ca_blob.to_vec())
            .or_default()
            .serials
            .insert(serial);
    }

    /// Revokes every certificate with `key_id` signed by `ca_blob` (empty: any CA).
    pub fn revoke_key_id(&mut self, ca_blob: &[u8], key_id: &str) {
        self.certs
            .entry(ca_blob.to_vec())
            .or_default()
            .key_ids
            .insert(key_id.to_owned());
    }

    /// Whether the plain key with this SHA-256 is revoked. For a certificate, ask this of its
    /// certified key too: OpenSSH revokes a certificate whose key is revoked.
    pub fn revokes_key(&self, sha256: &[u8; 32]) -> bool {
        self.revoked_sha256.contains(sha256)
    }

    /// Whether a certificate signed by `ca_blob` with `serial` and `key_id` is revoked by
    /// serial (never for serial 0) or by key ID, under that CA or any CA (`is_key_revoked`).
    /// Its plain key is not looked at here: see [`Krl::revokes_key`].
    pub fn revokes_cert(&self, ca_blob: &[u8], serial: u64, key_id: &str) -> bool {
        self.revokes_serial(ca_blob, serial) || self.revokes_key_id(ca_blob, key_id)
    }

    /// Whether `serial` (never 0) is revoked under `ca_blob` or any CA.
    pub fn revokes_serial(&self, ca_blob: &[u8], serial: u64) -> bool {
        serial != 0 && self.scopes(ca_blob).any(|rc| rc.serials.contains(&serial))
    }

    /// Whether `key_id` is revoked under `ca_blob` or any CA.
    pub fn revokes_key_id(&self, ca_blob: &[u8], key_id: &str) -> bool {
        self.scopes(ca_blob).any(|rc| rc.key_ids.contains(key_id))
    }

    /// Whether any key ID is revoked under `ca_blob` or any CA (so a caller that has to
    /// decode a certificate to learn its key ID can skip that when none is).
    pub fn has_key_ids(&self, ca_blob: &[u8]) -> bool {
        self.scopes(ca_blob).any(|rc| !rc.key_ids.is_empty())
    }

    fn scopes<'a>(&'a self, ca_blob: &'a [u8]) -> impl Iterator<Item = &'a RevokedCerts> + 'a {
        let wildcard = if ca_blob.is_empty() {
            None
        } else {
            self.certs.get(&[][..])
        };
        self.certs.get(ca_blob).into_iter().chain(wildcard)
    }

    /// The binary KRL (format version 1): one certificates section per CA (wildcard first,
    /// then by blob) with a serial list (0x20) and a key-ID list (0x23) when not empty, then
    /// one SHA-256 section (type 5) when not empty, every list sorted as `ssh_krl_to_blob`
    /// sorts it; no signature. Refused (sshd would refuse the whole file and so every key):
    /// serial 0, a NUL in the comment or a key ID, a CA blob [`Krl::decode`] would refuse.
    pub fn encode(&self) -> Result<Vec<u8>, KrlError> {
        codec::encode(self)
    }

    /// Reads a binary KRL (see the module documentation for what is accepted).
    pub fn decode(data: &[u8]) -> Result<Krl, KrlError> {
        codec::decode(data)
    }
}

#[cfg(test)]
mod tests;
