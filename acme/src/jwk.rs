//! Public JWKs (RFC 7517) as ACME accounts use them: EC P-256/P-384, RSA (2048–8192 bits) and
//! Ed25519 (RFC 8037), their RFC 7638 thumbprints and key authorizations (RFC 8555 §8.1).

use aws_lc_rs::digest;
use aws_lc_rs::signature::{self, RsaPublicKeyComponents, UnparsedPublicKey};
use serde_json::Value;

use crate::{b64u, b64u_decode};

/// Why a JWK is unusable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwkError {
    #[error("the JWK is not a JSON object")]
    NotObject,
    #[error("the JWK lacks member {0:?} or it is not a base64url string")]
    Member(&'static str),
    #[error("unsupported key type or curve {0:?}: use EC P-256/P-384, RSA or OKP Ed25519")]
    Unsupported(String),
    #[error("the JWK holds private key members")]
    Private,
    #[error("the key is malformed: {0}")]
    Malformed(&'static str),
}

/// A public key from a JWK; members are the raw (decoded) big-endian values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Jwk {
    Ec {
        /// `P-256` or `P-384`.
        crv: &'static str,
        x: Vec<u8>,
        y: Vec<u8>,
    },
    Rsa {
        n: Vec<u8>,
        e: Vec<u8>,
    },
    Ed25519 {
        x: Vec<u8>,
    },
}

fn member(o: &serde_json::Map<String, Value>, name: &'static str) -> Result<Vec<u8>, JwkError> {
    o.get(name)
        .and_then(Value::as_str)
        .and_then(b64u_decode)
        .filter(|v| !v.is_empty())
        .ok_or(JwkError::Member(name))
}

impl Jwk {
    /// Reads a public JWK; private members (`d`, `p`, …) are refused.
    pub fn from_json(v: &Value) -> Result<Self, JwkError> {
        let o = v.as_object().ok_or(JwkError::NotObject)?;
        if ["d", "p", "q", "dp", "dq", "qi", "k"]
            .iter()
            .any(|m| o.contains_key(*m))
        {
            return Err(JwkError::Private);
        }
        let kty = o.get("kty").and_then(Value::as_str).unwrap_or_default();
        let crv = o.get("crv").and_then(Value::as_str).unwrap_or_default();
        match (kty, crv) {
            ("EC", "P-256" | "P-384") => {
                let len = if crv == "P-256" { 32 } else { 48 };
                let (x, y) = (member(o, "x")?, member(o, "y")?);
                if x.len() != len || y.len() != len {
                    return Err(JwkError::Malformed("EC coordinates of the wrong length"));
                }
                let crv = if crv == "P-256" { "P-256" } else { "P-384" };
                Ok(Jwk::Ec { crv, x, y })
            }
            ("RSA", _) => {
                let (n, e) = (member(o, "n")?, member(o, "e")?);
                if n[0] == 0 || e[0] == 0 {
                    return Err(JwkError::Malformed("RSA integers with leading zeros"));
                }
                let bits = n.len() * 8;
                if !(2048..=8192).contains(&bits) || e.len() > 8 {
                    return Err(JwkError::Malformed("RSA modulus outside 2048..=8192 bits"));
                }
                Ok(Jwk::Rsa { n, e })
            }
            ("OKP", "Ed25519") => {
                let x = member(o, "x")?;
                if x.len() != 32 {
                    return Err(JwkError::Malformed("Ed25519 key of the wrong length"));
                }
                Ok(Jwk::Ed25519 { x })
            }
            _ => Err(JwkError::Unsupported(format!("{kty} {crv}").trim().into())),
        }
    }

    /// The canonical JSON of RFC 7638 §3 (required members, sorted, no whitespace), which is
    /// also how accounts store their key.
    pub fn canonical_json(&self) -> String {
        match self {
            Jwk::Ec { crv, x, y } => format!(
                r#"{{"crv":"{crv}","kty":"EC","x":"{}","y":"{}"}}"#,
                b64u(x),
                b64u(y)
            ),
            Jwk::Rsa { n, e } => format!(r#"{{"e":"{}","kty":"RSA","n":"{}"}}"#, b64u(e), b64u(n)),
            Jwk::Ed25519 { x } => format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{}"}}"#, b64u(x)),
        }
    }

    /// RFC 7638 thumbprint (SHA-256), base64url.
    pub fn thumbprint(&self) -> String {
        b64u(digest::digest(&digest::SHA256, self.canonical_json().as_bytes()).as_ref())
    }

    /// The JWS `alg` values this key verifies.
    pub fn allows(&self, alg: &str) -> bool {
        matches!(
            (self, alg),
            (Jwk::Ec { crv: "P-256", .. }, "ES256")
                | (Jwk::Ec { crv: "P-384", .. }, "ES384")
                | (Jwk::Rsa { .. }, "RS256")
                | (Jwk::Ed25519 { .. }, "EdDSA")
        )
    }

    /// Verifies `sig` over `msg` with `alg` (which must be one [`Jwk::allows`]).
    pub fn verify(&self, alg: &str, msg: &[u8], sig: &[u8]) -> bool {
        if !self.allows(alg) {
            return false;
        }
        match self {
            Jwk::Ec { crv, x, y } => {
                let mut point = Vec::with_capacity(1 + x.len() + y.len());
                point.push(4);
                point.extend_from_slice(x);
                point.extend_from_slice(y);
                let alg: &'static signature::EcdsaVerificationAlgorithm = if *crv == "P-256" {
                    &signature::ECDSA_P256_SHA256_FIXED
                } else {
                    &signature::ECDSA_P384_SHA384_FIXED
                };
                UnparsedPublicKey::new(alg, point).verify(msg, sig).is_ok()
            }
            Jwk::Rsa { n, e } => RsaPublicKeyComponents { n, e }
                .verify(&signature::RSA_PKCS1_2048_8192_SHA256, msg, sig)
                .is_ok(),
            Jwk::Ed25519 { x } => UnparsedPublicKey::new(&signature::ED25519, x)
                .verify(msg, sig)
                .is_ok(),
        }
    }

    /// Whether this key is the one in DER SubjectPublicKeyInfo `spki` (revocation by the
    /// certificate's key, §7.6): compared as public key bits.
    pub fn matches_spki_key_bits(&self, key_bits: &[u8]) -> bool {
        match self {
            Jwk::Ec { x, y, .. } => {
                key_bits.len() == 1 + x.len() + y.len()
                    && key_bits[0] == 4
                    && key_bits[1..1 + x.len()] == x[..]
                    && key_bits[1 + x.len()..] == y[..]
            }
            Jwk::Ed25519 { x } => key_bits == &x[..],
            Jwk::Rsa { n, e } => rsa_key_der(n, e) == key_bits,
        }
    }
}

/// DER of RSAPublicKey ::= SEQUENCE { n INTEGER, e INTEGER } (RFC 8017 A.1.1).
fn rsa_key_der(n: &[u8], e: &[u8]) -> Vec<u8> {
    fn int(v: &[u8]) -> Vec<u8> {
        let mut body = Vec::with_capacity(v.len() + 1);
        if v.first().is_some_and(|b| b & 0x80 != 0) {
            body.push(0);
        }
        body.extend_from_slice(v);
        tlv(0x02, &body)
    }
    let mut seq = int(n);
    seq.extend(int(e));
    tlv(0x30, &seq)
}

fn tlv(tag: u8, body: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = body.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes: Vec<u8> = len
            .to_be_bytes()
            .into_iter()
            .skip_while(|b| *b == 0)
            .collect();
        out.push(0x80 | bytes.len() as u8);
        out.extend(bytes);
    }
    out.extend_from_slice(body);
    out
}

/// `token || '.' || base64url(thumbprint)` (§8.1).
pub fn key_authorization(token: &str, thumbprint: &str) -> String {
    format!("{token}.{thumbprint}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn rfc7638_example_thumbprint() {
        // RFC 7638 §3.1.
        let jwk = json!({"kty": "RSA", "e": "AQAB", "alg": "RS256", "kid": "2011-04-29",
            "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"});
        let k = Jwk::from_json(&jwk).unwrap();
        assert_eq!(
            k.thumbprint(),
            "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
        );
        assert_eq!(
            key_authorization("tok", &k.thumbprint()),
            "tok.NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
        );
    }

    #[test]
    fn private_and_unknown_keys_are_refused() {
        assert_eq!(
            Jwk::from_json(&json!({"kty": "oct", "k": "AAAA"})),
            Err(JwkError::Private)
        );
        assert!(matches!(
            Jwk::from_json(&json!({"kty": "EC", "crv": "P-521", "x": "AA", "y": "AA"})),
            Err(JwkError::Unsupported(_))
        ));
        assert!(
            Jwk::from_json(&json!({"kty": "EC", "crv": "P-256", "x": "AA", "y": "AA"})).is_err()
        );
        assert_eq!(Jwk::from_json(&json!([])), Err(JwkError::NotObject));
    }

    #[test]
    fn long_der_lengths() {
        assert_eq!(tlv(4, &[0; 200])[..3], [4, 0x81, 200]);
        assert_eq!(tlv(4, &[0; 300])[..4], [4, 0x82, 1, 44]);
    }
}
