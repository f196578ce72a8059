//! ACME input on the control plane (`sigil-acme`): request bodies as flattened JWSs with
//! their protected headers and JWKs, the http-01 answer a validation reads, the certificate
//! a tls-alpn-01 validation is shown, and identifiers.

use sigil_acme::messages::Identifier;
use sigil_acme::{http01, tls_alpn, Jwk, Jws, KeyRef};

/// Any bytes as an ACME request body, an http-01 answer, a tls-alpn-01 certificate and an
/// identifier. A parsed JWS's `jwk` re-parses from its canonical JSON to the same key with the
/// same thumbprint, and verifying the signature never panics (and fails for a key other
/// than the header's); nothing else panics.
pub fn acme_jws(data: &[u8]) {
    if let Ok(jws) = Jws::parse(data) {
        if let KeyRef::Jwk(key) = &jws.protected.key {
            let canonical: serde_json::Value =
                serde_json::from_str(&key.canonical_json()).expect("canonical JSON parses");
            let again = Jwk::from_json(&canonical).expect("a canonical JWK re-parses");
            assert_eq!(&again, key);
            assert_eq!(again.thumbprint(), key.thumbprint());
            let _ = jws.verify(key);
            let other = Jwk::Ed25519 { x: vec![7; 32] };
            if other != *key {
                assert!(jws.verify(&other).is_err(), "verified with another key");
            }
        }
        let _ = jws.json::<serde_json::Value>();
        if jws.payload.first() == Some(&b'{') {
            let _ = Jws::parse(&jws.payload);
        }
    }
    let _ = http01::check(data, "token.thumbprint");
    let _ = tls_alpn::check(data, "dns", "a.example", "token.thumbprint");
    let _ = tls_alpn::check(data, "ip", "127.0.0.1", "token.thumbprint");
    if let Ok(text) = std::str::from_utf8(data) {
        for kind in ["dns", "ip"] {
            let id = Identifier {
                kind: kind.into(),
                value: text.into(),
            };
            if let Ok(n) = id.normalized() {
                assert_eq!(
                    n.normalized().as_ref(),
                    Ok(&n),
                    "normalizing twice changes nothing"
                );
            }
        }
    }
}
