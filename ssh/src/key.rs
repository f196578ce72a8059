//! OpenSSH public keys as users submit them: one authorized_keys-style line, `type base64
//! [comment]` (sshd(8) "AUTHORIZED_KEYS FILE FORMAT", without options), and their SHA-256
//! fingerprints.
//!
//! Facts this relies on (OpenSSH `sshkey.c`, `ssh-keygen.c`):
//! - The base64 field is the key blob, the key's wire encoding (RFC 4253 §6.6, RFC 5656 §3.1,
//!   RFC 8709 §4), and the blob starts with the key type, which must equal the line's first
//!   field.
//! - The SHA-256 fingerprint is `SHA256:` and the base64 of SHA-256(blob) without `=` padding:
//!   what `ssh-keygen -lf` prints and what sshd substitutes for `%f` (for a certificate, the
//!   fingerprint of the certified key).
//! - A KRL revokes a plain key by the same SHA-256 (PROTOCOL.krl §4).

use crate::error::SshError;
use crate::wire;
use aws_lc_rs::digest;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
use base64::Engine;
use ssh_key::public::{EcdsaPublicKey, KeyData};
use ssh_key::PublicKey;

/// Longest accepted key line.
pub const MAX_LINE: usize = 16 * 1024;
/// Smallest accepted RSA modulus.
pub const MIN_RSA_BITS: usize = 2048;
/// Largest RSA modulus OpenSSH accepts (`SSHBUF_MAX_BIGNUM`, 16384 bits).
pub const MAX_RSA_BITS: usize = 16384;
/// What a `-cert-v01@openssh.com` key type ends with (PROTOCOL.certkeys).
pub const CERT_SUFFIX: &str = "-cert-v01@openssh.com";
/// The prefix of a SHA-256 fingerprint.
pub const FINGERPRINT_PREFIX: &str = "SHA256:";

/// The key types accepted for users, hosts and CAs. DSA (`ssh-dss`) is refused: OpenSSH
/// disabled it in 7.0 and removed it in 10.0.
pub const KEY_TYPES: [&str; 7] = [
    "ssh-ed25519",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "ssh-rsa",
    "sk-ssh-ed25519@openssh.com",
    "sk-ecdsa-sha2-nistp256@openssh.com",
];

/// A checked OpenSSH public key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedKey {
    /// The key type, e.g. `ssh-ed25519`.
    pub algorithm: String,
    /// `type base64`, no comment: the canonical authorized_keys form.
    pub openssh: String,
    /// The key's wire encoding (what the base64 decodes to).
    pub blob: Vec<u8>,
    /// `SHA256:` + unpadded base64 of SHA-256(blob).
    pub fingerprint: String,
    /// SHA-256(blob), what a KRL lists.
    pub sha256: [u8; 32],
    /// The line's comment (may be empty); never part of `openssh`.
    pub comment: String,
    key_data: KeyData,
}

impl ParsedKey {
    /// Parses one key line, `type base64 [comment]`. Surrounding ASCII whitespace (a trailing
    /// newline) is ignored and fields are separated by one or more spaces; refused are lines
    /// over [`MAX_LINE`] bytes, control characters (tab, CR, LF, DEL, C1) anywhere, options
    /// (an unknown first field), certificates, DSA, RSA under [`MIN_RSA_BITS`], ECDSA points
    /// off their curve, base64 that is not canonical padded base64, and blobs whose type is
    /// not the line's.
    pub fn parse(line: &str) -> Result<ParsedKey, SshError> {
        if line.len() > MAX_LINE {
            return Err(SshError::TooLong { max: MAX_LINE });
        }
        let line = line.trim_matches(|c: char| c.is_ascii_whitespace());
        if line.chars().any(char::is_control) {
            return Err(SshError::ControlCharacter);
        }
        let (ty, rest) = line.split_once(' ').ok_or(SshError::Malformed)?;
        let rest = rest.trim_start_matches(' ');
        let (b64, comment) = match rest.split_once(' ') {
            Some((b64, comment)) => (b64, comment.trim_matches(' ')),
            None => (rest, ""),
        };
        check_type(ty)?;
        if b64.is_empty() {
            return Err(SshError::Malformed);
        }
        let blob = STANDARD.decode(b64).map_err(|_| SshError::Base64)?;
        let mut key = Self::from_blob(&blob)?;
        if key.algorithm != ty {
            return Err(SshError::TypeMismatch {
                line: ty.to_owned(),
                blob: key.algorithm,
            });
        }
        key.comment = comment.to_owned();
        Ok(key)
    }

    /// Checks a key blob (the same rules as [`ParsedKey::parse`]); the comment is empty.
    pub fn from_blob(blob: &[u8]) -> Result<ParsedKey, SshError> {
        let ty = wire::blob_type(blob).ok_or(SshError::Malformed)?;
        check_type(ty)?;
        let key_data = PublicKey::from_bytes(blob)
            .map_err(|e| SshError::Encoding(e.to_string()))?
            .key_data()
            .clone();
        Self::from_key_data(key_data, Some(blob))
    }

    /// The same checks on a decoded key; `blob`, when given, must be its exact encoding.
    fn from_key_data(key_data: KeyData, blob: Option<&[u8]>) -> Result<ParsedKey, SshError> {
        let algorithm = key_data.algorithm().as_str().to_owned();
        check_type(&algorithm)?;
        let encoded = PublicKey::from(key_data.clone()).to_bytes()?;
        if blob.is_some_and(|b| b != encoded.as_slice()) {
            return Err(SshError::Encoding("not the canonical encoding".into()));
        }
        check_key(&key_data)?;
        let sha256 = sha256(&encoded);
        Ok(ParsedKey {
            openssh: format!("{algorithm} {}", STANDARD.encode(&encoded)),
            algorithm,
            fingerprint: fingerprint_of_sha256(&sha256),
            sha256,
            blob: encoded,
            comment: String::new(),
            key_data,
        })
    }

    /// Checks a key already decoded by ssh-key (a CA's public key, a key inside a
    /// certificate) by the same rules.
    pub fn from_ssh_key(key_data: &KeyData) -> Result<ParsedKey, SshError> {
        Self::from_key_data(key_data.clone(), None)
    }

    /// The key as ssh-key's type (for certificate building and signature checks).
    pub fn key_data(&self) -> &KeyData {
        &self.key_data
    }

    /// `type base64 comment` (or `type base64` without a comment).
    pub fn to_line(&self) -> String {
        if self.comment.is_empty() {
            self.openssh.clone()
        } else {
            format!("{} {}", self.openssh, self.comment)
        }
    }
}

/// Refuses certificates, DSA and unknown types by their name.
fn check_type(ty: &str) -> Result<(), SshError> {
    if ty.ends_with(CERT_SUFFIX) {
        Err(SshError::Certificate)
    } else if ty == "ssh-dss" {
        Err(SshError::Dsa)
    } else if KEY_TYPES.contains(&ty) {
        Ok(())
    } else {
        Err(SshError::UnknownType(ty.chars().take(64).collect()))
    }
}

/// Algorithm-specific checks: RSA modulus size and exponent, ECDSA points on their curve
/// (OpenSSH's `sshkey_ec_validate_public` refuses the others too).
fn check_key(key: &KeyData) -> Result<(), SshError> {
    match key {
        KeyData::Rsa(rsa) => {
            let n = rsa
                .n
                .as_positive_bytes()
                .ok_or_else(|| SshError::Encoding("RSA modulus not positive".into()))?;
            let bits = bit_len(n);
            if !(MIN_RSA_BITS..=MAX_RSA_BITS).contains(&bits) {
                return Err(SshError::RsaSize {
                    bits,
                    min: MIN_RSA_BITS,
                    max: MAX_RSA_BITS,
                });
            }
            let e = rsa.e.as_positive_bytes().unwrap_or(&[]);
            if bit_len(e) < 2 || e.last().is_some_and(|b| b & 1 == 0) || e.len() > 8 {
                return Err(SshError::Encoding("RSA exponent".into()));
            }
            Ok(())
        }
        KeyData::Ecdsa(ec) => check_point(ec),
        KeyData::SkEcdsaSha2NistP256(sk) => check_point(&EcdsaPublicKey::NistP256(*sk.ec_point())),
        KeyData::Ed25519(_) | KeyData::SkEd25519(_) => Ok(()),
        KeyData::Dsa(_) => Err(SshError::Dsa),
        other => Err(SshError::UnknownType(other.algorithm().as_str().to_owned())),
    }
}

fn check_point(ec: &EcdsaPublicKey) -> Result<(), SshError> {
    let point = ec.as_sec1_bytes();
    let ok = point.first() == Some(&0x04)
        && match ec {
            EcdsaPublicKey::NistP256(_) => p256::PublicKey::from_sec1_bytes(point).is_ok(),
            EcdsaPublicKey::NistP384(_) => p384::PublicKey::from_sec1_bytes(point).is_ok(),
            EcdsaPublicKey::NistP521(_) => p521::PublicKey::from_sec1_bytes(point).is_ok(),
        };
    if ok {
        Ok(())
    } else {
        Err(SshError::Encoding(
            "ECDSA point not uncompressed on its curve".into(),
        ))
    }
}

/// Bit length of a big-endian unsigned integer.
fn bit_len(be: &[u8]) -> usize {
    let be = &be[be.iter().take_while(|&&b| b == 0).count()..];
    match be.first() {
        None => 0,
        Some(&top) => be.len() * 8 - top.leading_zeros() as usize,
    }
}

/// SHA-256 of a key blob.
pub fn sha256(blob: &[u8]) -> [u8; 32] {
    let d = digest::digest(&digest::SHA256, blob);
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    out
}

/// The SHA-256 fingerprint of a key blob: `SHA256:` + unpadded base64 of SHA-256(blob).
pub fn fingerprint_of_blob(blob: &[u8]) -> String {
    fingerprint_of_sha256(&sha256(blob))
}

/// `SHA256:` + unpadded base64 of a SHA-256 value.
pub fn fingerprint_of_sha256(sha256: &[u8; 32]) -> String {
    let mut s = String::with_capacity(FINGERPRINT_PREFIX.len() + 43);
    s.push_str(FINGERPRINT_PREFIX);
    STANDARD_NO_PAD.encode_string(sha256, &mut s);
    s
}

/// The 32 bytes of a `SHA256:` fingerprint: exactly 43 base64 characters after the prefix,
/// the last one's unused bits zero (so each value has one spelling).
pub fn sha256_of_fingerprint(fingerprint: &str) -> Option<[u8; 32]> {
    let b64 = fingerprint.strip_prefix(FINGERPRINT_PREFIX)?;
    if b64.len() != 43 {
        return None;
    }
    let mut buf = [0u8; 33];
    match STANDARD_NO_PAD.decode_slice(b64, &mut buf) {
        Ok(32) => {
            let mut out = [0u8; 32];
            out.copy_from_slice(&buf[..32]);
            Some(out)
        }
        _ => None,
    }
}

#[cfg(test)]
pub(crate) mod tests;
