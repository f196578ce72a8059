//! KES's ciphertext formats and how it tells them apart (minio/kes
//! `internal/crypto/ciphertext.go`, as facts).
//!
//! Current KES writes the **raw** format, `sealed ‖ iv (16) ‖ nonce (12)`. Earlier servers
//! wrote two structured ones, still decrypted:
//!
//! ```text
//! msgpack (first byte 0x95, a fixarray of 5):
//!     [ algorithm: str, id: str, iv: bin (16), nonce: bin (12), bytes: bin ]
//! JSON (first byte 0x7b '{'):
//!     {"aead": "AES-256-GCM-HMAC-SHA-256" | "ChaCha20Poly1305", "id": "…",
//!      "iv": base64 (16 bytes), "nonce": base64 (12 bytes), "bytes": base64}
//! ```
//!
//! A ciphertext whose first byte is 0x95 or 0x7b but that does not parse as that format is
//! taken as raw (a raw ciphertext's first byte is random). A structured one that parses is
//! rewritten as `bytes ‖ iv ‖ nonce`; its algorithm field is checked (a known name) but the
//! key's own algorithm decrypts it, as in KES. JSON fields are matched the way Go's
//! `encoding/json` matches them: case-insensitively, unknown ones ignored, a missing or null
//! one empty, one of the wrong type failing the whole object; byte fields are padded standard
//! base64 (line breaks ignored).

use std::borrow::Cow;

use base64::Engine;

use crate::algorithm::Algorithm;
use crate::key::{IV_SIZE, NONCE_SIZE};

/// First byte of a msgpack fixarray of 5 elements.
const MSGPACK: u8 = 0x95;
/// `{`.
const JSON: u8 = 0x7b;

/// The raw form of a ciphertext in any of KES's formats.
pub fn to_raw(ciphertext: &[u8]) -> Cow<'_, [u8]> {
    let parsed = match ciphertext.first() {
        Some(&MSGPACK) => from_msgpack(ciphertext),
        Some(&JSON) => from_json(ciphertext),
        _ => None,
    };
    match parsed {
        Some(p) => {
            let mut raw = Vec::with_capacity(p.bytes.len() + IV_SIZE + NONCE_SIZE);
            raw.extend_from_slice(&p.bytes);
            raw.extend_from_slice(&p.iv);
            raw.extend_from_slice(&p.nonce);
            Cow::Owned(raw)
        }
        None => Cow::Borrowed(ciphertext),
    }
}

/// A structured ciphertext's parts.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Parts {
    iv: [u8; IV_SIZE],
    nonce: [u8; NONCE_SIZE],
    bytes: Vec<u8>,
}

/// `[algorithm, id, iv, nonce, bytes]`, nothing after it; `None` if it is not exactly that.
fn from_msgpack(b: &[u8]) -> Option<Parts> {
    use rmp::decode;
    let mut rd = b;
    if decode::read_array_len(&mut rd).ok()? != 5 {
        return None;
    }
    let algorithm = read_str(&mut rd)?;
    Algorithm::parse(std::str::from_utf8(algorithm).ok()?)?;
    read_str(&mut rd)?; // id
    let iv = read_bin(&mut rd)?.try_into().ok()?;
    let nonce = read_bin(&mut rd)?.try_into().ok()?;
    let bytes = read_bin(&mut rd)?.to_vec();
    rd.is_empty().then_some(Parts { iv, nonce, bytes })
}

/// A msgpack `str` (fixstr, str8/16/32).
fn read_str<'a>(rd: &mut &'a [u8]) -> Option<&'a [u8]> {
    let len = rmp::decode::read_str_len(rd).ok()? as usize;
    take(rd, len)
}

/// A msgpack `bin` (bin8/16/32).
fn read_bin<'a>(rd: &mut &'a [u8]) -> Option<&'a [u8]> {
    let len = rmp::decode::read_bin_len(rd).ok()? as usize;
    take(rd, len)
}

fn take<'a>(rd: &mut &'a [u8], len: usize) -> Option<&'a [u8]> {
    if rd.len() < len {
        return None;
    }
    let (head, rest) = rd.split_at(len);
    *rd = rest;
    Some(head)
}

/// The JSON algorithm names KES accepts.
const JSON_AES: &str = "AES-256-GCM-HMAC-SHA-256";
const JSON_CHACHA: &str = "ChaCha20Poly1305";

/// The JSON object described in the module documentation; `None` on any deviation.
fn from_json(b: &[u8]) -> Option<Parts> {
    let serde_json::Value::Object(fields) = serde_json::from_slice(b).ok()? else {
        return None;
    };
    let (mut aead, mut iv, mut nonce, mut bytes) = (None, None, None, None);
    for (name, value) in &fields {
        let slot = match name.to_ascii_lowercase().as_str() {
            "aead" => &mut aead,
            "iv" => &mut iv,
            "nonce" => &mut nonce,
            "bytes" => &mut bytes,
            "id" => {
                // Go decodes it into a string: another type is an error.
                if !(value.is_string() || value.is_null()) {
                    return None;
                }
                continue;
            }
            _ => continue,
        };
        *slot = Some(value);
    }
    let aead = aead.and_then(|v| v.as_str())?;
    if aead != JSON_AES && aead != JSON_CHACHA {
        return None;
    }
    let iv = json_bytes(iv)?.try_into().ok()?;
    let nonce = json_bytes(nonce)?.try_into().ok()?;
    let bytes = json_bytes(bytes)?;
    Some(Parts { iv, nonce, bytes })
}

/// A Go `[]byte` field: padded standard base64 (line breaks ignored), or absent/null (empty).
fn json_bytes(v: Option<&serde_json::Value>) -> Option<Vec<u8>> {
    match v {
        None | Some(serde_json::Value::Null) => Some(Vec::new()),
        Some(serde_json::Value::String(s)) => {
            let s: String = s.chars().filter(|c| *c != '\r' && *c != '\n').collect();
            base64::engine::general_purpose::STANDARD.decode(s).ok()
        }
        Some(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_stays_raw_and_borrowed() {
        let raw = [0x01u8; 60];
        assert!(matches!(to_raw(&raw), Cow::Borrowed(_)));
        // Looks structured, is not: raw.
        let mut fake = [0x95u8; 60];
        assert!(matches!(to_raw(&fake), Cow::Borrowed(_)));
        fake[0] = b'{';
        assert!(matches!(to_raw(&fake), Cow::Borrowed(_)));
        assert!(matches!(to_raw(&[]), Cow::Borrowed(_)));
    }

    #[test]
    fn json_fields_are_matched_like_go() {
        let ok = br#"{"AEAD":"ChaCha20Poly1305","Iv":"AAAAAAAAAAAAAAAAAAAAAA==","NONCE":"AAAAAAAAAAAAAAAA","bytes":"AQID","extra":[1]}"#;
        let raw = to_raw(ok);
        assert_eq!(raw.len(), 3 + 16 + 12);
        assert_eq!(&raw[..3], &[1, 2, 3]);
        // Missing bytes: empty (and then too short to decrypt); wrong types: not JSON format.
        let no_bytes = br#"{"aead":"ChaCha20Poly1305","iv":"AAAAAAAAAAAAAAAAAAAAAA==","nonce":"AAAAAAAAAAAAAAAA"}"#;
        assert_eq!(to_raw(no_bytes).len(), 28);
        let bad_id = br#"{"aead":"ChaCha20Poly1305","id":5,"iv":"AAAAAAAAAAAAAAAAAAAAAA==","nonce":"AAAAAAAAAAAAAAAA","bytes":"AQID"}"#;
        assert_eq!(&*to_raw(bad_id), &bad_id[..]);
        let unpadded = br#"{"aead":"ChaCha20Poly1305","iv":"AAAAAAAAAAAAAAAAAAAAAA","nonce":"AAAAAAAAAAAAAAAA","bytes":"AQID"}"#;
        assert_eq!(&*to_raw(unpadded), &unpadded[..]);
    }

    #[test]
    fn msgpack_must_be_exactly_five_items_with_sizes() {
        let mut m = vec![0x95];
        rmp::encode::write_str(&mut m, "AES256").unwrap();
        rmp::encode::write_str(&mut m, "id").unwrap();
        rmp::encode::write_bin(&mut m, &[7; 16]).unwrap();
        rmp::encode::write_bin(&mut m, &[8; 12]).unwrap();
        rmp::encode::write_bin(&mut m, &[9; 5]).unwrap();
        let raw = to_raw(&m);
        assert_eq!(&raw[..5], &[9; 5]);
        assert_eq!(&raw[5..21], &[7; 16]);
        assert_eq!(&raw[21..], &[8; 12]);
        let mut trailing = m.clone();
        trailing.push(0);
        assert_eq!(&*to_raw(&trailing), &trailing[..]);
        let mut unknown = vec![0x95];
        rmp::encode::write_str(&mut unknown, "AES-256-GCM").unwrap();
        unknown.extend_from_slice(&m[8..]);
        assert_eq!(&*to_raw(&unknown), &unknown[..]);
    }
}
