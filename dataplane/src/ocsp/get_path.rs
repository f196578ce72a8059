//! The OCSP GET form (RFC 6960 Appendix A.1): `GET {url}/{url-encoding of base-64 encoding of
//! the DER encoding of the OCSPRequest}`. Clients and proxies mangle it in practice, so this
//! accepts %-encoding, '+' turned into space, missing padding, base64url and leading '/'s.

use base64::Engine;

/// Decodes the request part of a GET path; `None` if it is not base64 of anything.
///
/// Leading '/'s are taken as path separators: a DER OCSPRequest starts with 0x30, so its
/// base64 starts with 'M', never with '/'.
pub fn decode_get_path(encoded: &str) -> Option<Vec<u8>> {
    let bytes = percent_decode(encoded.trim_start_matches('/'))?;
    let mut clean = Vec::with_capacity(bytes.len());
    for b in bytes {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'+' | b'/' => clean.push(b),
            b' ' => clean.push(b'+'), // '+' decoded as a space by a form-decoding proxy
            b'-' => clean.push(b'+'), // base64url
            b'_' => clean.push(b'/'),
            b'=' | b'\r' | b'\n' => {}
            _ => return None,
        }
    }
    if clean.is_empty() {
        return None;
    }
    base64::engine::general_purpose::STANDARD_NO_PAD
        .decode(&clean)
        .ok()
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

fn percent_decode(s: &str) -> Option<Vec<u8>> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hi = hex(*b.get(i + 1)?)?;
            let lo = hex(*b.get(i + 2)?)?;
            out.push(hi << 4 | lo);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn accepts_mangled_forms() {
        let der = vec![0xfb, 0xff, 0x3e, 0x30, 0x03];
        let std = base64::engine::general_purpose::STANDARD.encode(&der); // "+/8+MAM="
        assert_eq!(decode_get_path(&std), Some(der.clone()));
        assert_eq!(decode_get_path(&format!("/{std}")), Some(der.clone()));
        assert_eq!(
            decode_get_path(
                &std.replace('+', "%2B")
                    .replace('/', "%2F")
                    .replace('=', "%3D")
            ),
            Some(der.clone())
        );
        assert_eq!(decode_get_path(&std.replace('+', " ")), Some(der.clone()));
        assert_eq!(decode_get_path(&std.replace('+', "%20")), Some(der.clone()));
        assert_eq!(
            decode_get_path(std.trim_end_matches('=')),
            Some(der.clone())
        );
        let url = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&der);
        assert_eq!(decode_get_path(&url), Some(der));
        assert_eq!(decode_get_path("favicon.ico"), None);
        assert_eq!(decode_get_path("%zz"), None);
        assert_eq!(decode_get_path(""), None);
    }

    proptest! {
        #[test]
        fn round_trips_any_sequence(body in prop::collection::vec(any::<u8>(), 0..300), url in any::<bool>()) {
            // Any DER SEQUENCE (what an OCSPRequest is): first octet 0x30.
            let der: Vec<u8> = std::iter::once(0x30).chain(body).collect();
            let enc = if url {
                base64::engine::general_purpose::URL_SAFE.encode(&der)
            } else {
                base64::engine::general_purpose::STANDARD.encode(&der)
            };
            prop_assert_eq!(decode_get_path(&enc), Some(der));
        }

        #[test]
        fn never_panics(s in ".{0,200}") {
            let _ = decode_get_path(&s);
        }
    }
}
