//! EST message framing (RFC 7030 §4), sans-io: request bodies (base64 DER, PEM or raw DER),
//! base64 response bodies, HTTP Basic credentials and the `serverkeygen` multipart response.

use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use base64::Engine;
use thiserror::Error;

/// Standard alphabet; padding optional on input (some clients strip it), written on output.
const B64: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Characters per line of base64 bodies (RFC 2045 §6.8 allows up to 76).
const LINE: usize = 64;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum WireError {
    #[error("the request body is empty; send a base64-encoded DER PKCS#10 request")]
    Empty,
    #[error("the request body is neither base64 DER, PEM nor DER: {0}")]
    Undecodable(String),
}

/// The DER of a PKCS#10 request body: base64 (RFC 7030 §4.2.1, `Content-Transfer-Encoding:
/// base64`; whitespace and line breaks anywhere are ignored), PEM (`-----BEGIN ...`), or raw
/// DER (a client that sent `binary`).
pub fn decode_body(body: &[u8]) -> Result<Vec<u8>, WireError> {
    let trimmed = body.trim_ascii();
    if trimmed.is_empty() {
        return Err(WireError::Empty);
    }
    if trimmed.starts_with(b"-----BEGIN") {
        return decode_pem(trimmed);
    }
    if trimmed.iter().all(|b| {
        b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'=') || b.is_ascii_whitespace()
    }) {
        return decode_base64(trimmed);
    }
    if body.first() == Some(&0x30) {
        return Ok(body.to_vec()); // DER is binary: never trimmed
    }
    Err(WireError::Undecodable(
        "it contains bytes outside the base64 alphabet and does not start with a DER SEQUENCE"
            .into(),
    ))
}

/// Base64 with any ASCII whitespace removed first.
pub fn decode_base64(text: &[u8]) -> Result<Vec<u8>, WireError> {
    let compact: Vec<u8> = text
        .iter()
        .copied()
        .filter(|b| !b.is_ascii_whitespace())
        .collect();
    B64.decode(&compact)
        .map_err(|e| WireError::Undecodable(format!("invalid base64: {e}")))
}

/// The base64 content between the first `-----BEGIN` line and its `-----END` line.
fn decode_pem(text: &[u8]) -> Result<Vec<u8>, WireError> {
    let text = std::str::from_utf8(text)
        .map_err(|_| WireError::Undecodable("PEM is not ASCII text".into()))?;
    let mut lines = text.lines().map(str::trim);
    lines.next(); // the BEGIN line
    let mut b64 = String::new();
    for line in lines {
        if line.starts_with("-----END") {
            return decode_base64(b64.as_bytes());
        }
        if line.contains(':') {
            continue; // RFC 1421 headers (Proc-Type, ...) are not base64
        }
        b64.push_str(line);
    }
    Err(WireError::Undecodable("PEM has no -----END line".into()))
}

/// Base64 in lines of 64 characters, each ending in `\n` (what `base64 -d` and
/// `openssl base64 -d` read).
pub fn encode_base64(der: &[u8]) -> String {
    let b64 = B64.encode(der);
    let mut out = String::with_capacity(b64.len() + b64.len() / LINE + 1);
    for chunk in b64.as_bytes().chunks(LINE) {
        out.push_str(std::str::from_utf8(chunk).unwrap_or_default());
        out.push('\n');
    }
    out
}

/// Credentials of an `Authorization: Basic` header (RFC 7617): `(user, password)`, split at
/// the first colon. `None` for another scheme or a malformed value.
pub fn basic_credentials(header: &str) -> Option<(String, String)> {
    let (scheme, value) = header.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let raw = B64.decode(value.trim()).ok()?;
    let text = String::from_utf8(raw).ok()?;
    let (user, pass) = text.split_once(':')?;
    Some((user.to_string(), pass.to_string()))
}

/// Boundary of `serverkeygen` responses: never occurs in base64 text (RFC 2046 §5.1.1).
pub const BOUNDARY: &str = "sigil-est-boundary";

/// The `serverkeygen` response body (RFC 7030 §4.4.2): a `multipart/mixed` with the private
/// key as `application/pkcs8` and the certificate as a certs-only `application/pkcs7-mime`,
/// both base64. Content type: `multipart/mixed; boundary=` [`BOUNDARY`].
pub fn serverkeygen_multipart(pkcs8: &[u8], certs_only: &[u8]) -> String {
    format!(
        "--{BOUNDARY}\r\nContent-Type: application/pkcs8\r\nContent-Transfer-Encoding: base64\r\n\r\n{}\
         --{BOUNDARY}\r\nContent-Type: application/pkcs7-mime; smime-type=certs-only\r\nContent-Transfer-Encoding: base64\r\n\r\n{}\
         --{BOUNDARY}--\r\n",
        encode_base64(pkcs8),
        encode_base64(certs_only),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn pem_and_raw_der_bodies() {
        let der = vec![0x30, 0x03, 0x02, 0x01, 0x0a];
        let pem = format!(
            "-----BEGIN CERTIFICATE REQUEST-----\n{}-----END CERTIFICATE REQUEST-----\n",
            encode_base64(&der)
        );
        assert_eq!(decode_body(pem.as_bytes()).unwrap(), der);
        let new_label = pem.replace("CERTIFICATE REQUEST", "NEW CERTIFICATE REQUEST");
        assert_eq!(decode_body(new_label.as_bytes()).unwrap(), der);
        assert_eq!(decode_body(&der).unwrap(), der);
        // DER ending in a whitespace-valued byte is not trimmed.
        let der_ws = vec![0x30, 0x01, 0x20];
        assert_eq!(decode_body(&der_ws).unwrap(), der_ws);
    }

    #[test]
    fn bad_bodies() {
        assert_eq!(decode_body(b" \r\n"), Err(WireError::Empty));
        assert!(decode_body(b"not base64!").is_err());
        assert!(decode_body(b"QUJD*").is_err());
        assert!(decode_body(b"-----BEGIN X-----\nQUJD\n").is_err());
    }

    #[test]
    fn basic_header() {
        assert_eq!(
            basic_credentials("Basic ZGV2aWNlLTAwMTphOmI="),
            Some(("device-001".into(), "a:b".into()))
        );
        assert_eq!(basic_credentials("Bearer abc"), None);
        assert_eq!(basic_credentials("Basic !!!"), None);
        assert_eq!(basic_credentials("Basic bm9jb2xvbg=="), None); // "nocolon"
    }

    #[test]
    fn multipart_has_both_parts_and_closes() {
        let body = serverkeygen_multipart(b"key", b"certs");
        assert!(body.starts_with(&format!(
            "--{BOUNDARY}\r\nContent-Type: application/pkcs8\r\n"
        )));
        assert!(body.contains("smime-type=certs-only"));
        assert!(body.ends_with(&format!("--{BOUNDARY}--\r\n")));
        let parts: Vec<&str> = body.split(&format!("--{BOUNDARY}")).collect();
        assert_eq!(parts.len(), 4); // "", key, certs, "--\r\n"
        let payload = |p: &str| decode_base64(p.split("\r\n\r\n").nth(1).unwrap().as_bytes());
        assert_eq!(payload(parts[1]).unwrap(), b"key");
        assert_eq!(payload(parts[2]).unwrap(), b"certs");
    }

    proptest! {
        /// Any DER-looking payload survives encoding, with whitespace sprinkled anywhere.
        #[test]
        fn base64_round_trip_tolerates_whitespace(
            mut der in proptest::collection::vec(any::<u8>(), 1..600),
            spaces in proptest::collection::vec((any::<prop::sample::Index>(), prop::sample::select(vec![" ", "\n", "\r\n", "\t"])), 0..20),
        ) {
            der[0] = 0x30;
            let mut text = encode_base64(&der);
            for (at, ws) in spaces {
                let i = at.index(text.len() + 1);
                text.insert_str(i, ws);
            }
            prop_assert_eq!(decode_body(text.as_bytes()).unwrap(), der.clone());
            let unpadded = text.replace('=', "");
            prop_assert_eq!(decode_body(unpadded.as_bytes()).unwrap(), der);
        }
    }
}
