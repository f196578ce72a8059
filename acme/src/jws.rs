//! Flattened JWS JSON serialization (RFC 7515 §7.2.2) as ACME requests carry it (RFC 8555
//! §6.2): `{"protected", "payload", "signature"}`, the protected header naming `alg`, exactly
//! one of `jwk` and `kid`, `nonce` and `url`. Parsing checks the shape; [`Jws::verify`] the
//! signature with the key the caller resolved (the header's `jwk`, or the account's).

use serde_json::Value;

use crate::b64u_decode;
use crate::jwk::{Jwk, JwkError};

/// Algorithms accepted (§6.2: at least ES256 and EdDSA; RS256 for certbot's RSA accounts).
pub const ALGORITHMS: &[&str] = &["ES256", "ES384", "RS256", "EdDSA"];

/// Why a request body is not an acceptable JWS. [`JwsError::BadAlgorithm`] maps to ACME's
/// `badSignatureAlgorithm`, [`JwsError::BadSignature`] and key errors to `malformed`/
/// `badPublicKey`, the rest to `malformed`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwsError {
    #[error("the body is not a flattened JWS JSON object: {0}")]
    Shape(String),
    #[error("the protected header is invalid: {0}")]
    Header(String),
    #[error("unsupported JWS algorithm {0:?}: use one of ES256, ES384, RS256, EdDSA")]
    BadAlgorithm(String),
    #[error("the JWS signature does not verify")]
    BadSignature,
    #[error("bad public key: {0}")]
    BadKey(#[from] JwkError),
}

/// The key a request is signed with: the JWK itself (new accounts, revocation by the
/// certificate's key) or the account URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyRef {
    Jwk(Jwk),
    Kid(String),
}

/// The protected header's members ACME uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Protected {
    pub alg: String,
    pub key: KeyRef,
    /// Absent only in inner JWSs (key change, external account binding).
    pub nonce: Option<String>,
    pub url: String,
}

/// A parsed, not yet verified, JWS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Jws {
    pub protected: Protected,
    /// The decoded payload: empty for POST-as-GET (§6.3).
    pub payload: Vec<u8>,
    protected_b64: String,
    payload_b64: String,
    signature: Vec<u8>,
}

fn str_member<'a>(o: &'a serde_json::Map<String, Value>, name: &str) -> Result<&'a str, JwsError> {
    o.get(name)
        .and_then(Value::as_str)
        .ok_or_else(|| JwsError::Shape(format!("member {name:?} missing or not a string")))
}

impl Jws {
    /// Parses a request body. Refuses unprotected headers, `crit`, `b64`, `alg: none` or MAC
    /// algorithms, and headers with both or neither of `jwk` and `kid`.
    pub fn parse(body: &[u8]) -> Result<Self, JwsError> {
        let v: Value = serde_json::from_slice(body).map_err(|e| JwsError::Shape(e.to_string()))?;
        let o = v
            .as_object()
            .ok_or_else(|| JwsError::Shape("not a JSON object".into()))?;
        if o.contains_key("header") || o.contains_key("signatures") {
            return Err(JwsError::Shape(
                "unprotected headers and the general serialization are not allowed".into(),
            ));
        }
        let protected_b64 = str_member(o, "protected")?.to_owned();
        let payload_b64 = str_member(o, "payload")?.to_owned();
        let signature = b64u_decode(str_member(o, "signature")?)
            .ok_or_else(|| JwsError::Shape("signature is not base64url".into()))?;
        let payload = b64u_decode(&payload_b64)
            .ok_or_else(|| JwsError::Shape("payload is not base64url".into()))?;
        let header = b64u_decode(&protected_b64)
            .ok_or_else(|| JwsError::Shape("protected is not base64url".into()))?;
        let protected = Self::header(&header)?;
        Ok(Self {
            protected,
            payload,
            protected_b64,
            payload_b64,
            signature,
        })
    }

    fn header(bytes: &[u8]) -> Result<Protected, JwsError> {
        let h: Value =
            serde_json::from_slice(bytes).map_err(|e| JwsError::Header(e.to_string()))?;
        let h = h
            .as_object()
            .ok_or_else(|| JwsError::Header("not a JSON object".into()))?;
        if h.contains_key("crit") || h.contains_key("b64") {
            return Err(JwsError::Header("crit and b64 are not supported".into()));
        }
        let alg = h
            .get("alg")
            .and_then(Value::as_str)
            .ok_or_else(|| JwsError::Header("alg missing".into()))?;
        if !ALGORITHMS.contains(&alg) {
            return Err(JwsError::BadAlgorithm(alg.into()));
        }
        let key = match (h.get("jwk"), h.get("kid")) {
            (Some(jwk), None) => KeyRef::Jwk(Jwk::from_json(jwk)?),
            (None, Some(Value::String(kid))) => KeyRef::Kid(kid.clone()),
            _ => {
                return Err(JwsError::Header(
                    "exactly one of jwk and kid (a string) is required".into(),
                ))
            }
        };
        let nonce = match h.get("nonce") {
            None => None,
            Some(Value::String(n)) => Some(n.clone()),
            Some(_) => return Err(JwsError::Header("nonce is not a string".into())),
        };
        let url = h
            .get("url")
            .and_then(Value::as_str)
            .ok_or_else(|| JwsError::Header("url missing".into()))?
            .to_owned();
        Ok(Protected {
            alg: alg.to_owned(),
            key,
            nonce,
            url,
        })
    }

    /// Checks the signature with `key` (which must suit the header's `alg`).
    pub fn verify(&self, key: &Jwk) -> Result<(), JwsError> {
        if !key.allows(&self.protected.alg) {
            return Err(JwsError::BadAlgorithm(format!(
                "{} with this key type",
                self.protected.alg
            )));
        }
        let input = format!("{}.{}", self.protected_b64, self.payload_b64);
        if key.verify(&self.protected.alg, input.as_bytes(), &self.signature) {
            Ok(())
        } else {
            Err(JwsError::BadSignature)
        }
    }

    /// Whether the payload is empty (POST-as-GET, §6.3).
    pub fn is_post_as_get(&self) -> bool {
        self.payload_b64.is_empty()
    }

    /// The payload as JSON (`{}` for POST-as-GET is not allowed where a body is expected).
    pub fn json<T: serde::de::DeserializeOwned>(&self) -> Result<T, JwsError> {
        serde_json::from_slice(&self.payload).map_err(|e| JwsError::Shape(format!("payload: {e}")))
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::b64u;
    use aws_lc_rs::rand::SystemRandom;
    use aws_lc_rs::signature::{
        EcdsaKeyPair, Ed25519KeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING,
    };
    use serde_json::json;

    /// A P-256 key for tests: (its JWK, a signing closure).
    pub(crate) fn p256() -> (Value, EcdsaKeyPair) {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
        let kp =
            EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref()).unwrap();
        let pt = kp.public_key().as_ref();
        let jwk = json!({"kty": "EC", "crv": "P-256", "x": b64u(&pt[1..33]), "y": b64u(&pt[33..])});
        (jwk, kp)
    }

    pub(crate) fn sign_es256(kp: &EcdsaKeyPair, header: &Value, payload: &str) -> Vec<u8> {
        let p = b64u(header.to_string().as_bytes());
        let pl = b64u(payload.as_bytes());
        let sig = kp
            .sign(&SystemRandom::new(), format!("{p}.{pl}").as_bytes())
            .unwrap();
        json!({"protected": p, "payload": pl, "signature": b64u(sig.as_ref())})
            .to_string()
            .into_bytes()
    }

    #[test]
    fn es256_verifies_and_tampering_fails() {
        let (jwk, kp) = p256();
        let h =
            json!({"alg": "ES256", "jwk": jwk, "nonce": "n1", "url": "https://x/acme/new-account"});
        let body = sign_es256(&kp, &h, r#"{"termsOfServiceAgreed":true}"#);
        let jws = Jws::parse(&body).unwrap();
        let KeyRef::Jwk(key) = &jws.protected.key else {
            panic!()
        };
        jws.verify(key).unwrap();
        assert_eq!(jws.protected.nonce.as_deref(), Some("n1"));
        // Another key's signature.
        let (_, other) = p256();
        let forged = Jws::parse(&sign_es256(&other, &h, "{}")).unwrap();
        assert_eq!(forged.verify(key), Err(JwsError::BadSignature));
        // A changed payload.
        let mut v: Value = serde_json::from_slice(&body).unwrap();
        v["payload"] = json!(b64u(b"{}"));
        let tampered = Jws::parse(v.to_string().as_bytes()).unwrap();
        assert_eq!(tampered.verify(key), Err(JwsError::BadSignature));
    }

    #[test]
    fn eddsa_verifies() {
        let rng = SystemRandom::new();
        let pkcs8 = Ed25519KeyPair::generate_pkcs8(&rng).unwrap();
        let kp = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).unwrap();
        let jwk = json!({"kty": "OKP", "crv": "Ed25519", "x": b64u(kp.public_key().as_ref())});
        let p = b64u(
            json!({"alg": "EdDSA", "jwk": jwk, "nonce": "n", "url": "u"})
                .to_string()
                .as_bytes(),
        );
        let sig = kp.sign(format!("{p}.").as_bytes());
        let body = json!({"protected": p, "payload": "", "signature": b64u(sig.as_ref())});
        let jws = Jws::parse(body.to_string().as_bytes()).unwrap();
        assert!(jws.is_post_as_get());
        let KeyRef::Jwk(key) = &jws.protected.key else {
            panic!()
        };
        jws.verify(key).unwrap();
        assert!(jws.verify(&Jwk::from_json(&p256().0).unwrap()).is_err());
    }

    #[test]
    fn bad_shapes_are_refused() {
        let (jwk, kp) = p256();
        for h in [
            json!({"alg": "none", "jwk": jwk, "nonce": "n", "url": "u"}),
            json!({"alg": "HS256", "jwk": jwk, "nonce": "n", "url": "u"}),
            json!({"alg": "ES256", "nonce": "n", "url": "u"}),
            json!({"alg": "ES256", "jwk": jwk, "kid": "k", "nonce": "n", "url": "u"}),
            json!({"alg": "ES256", "jwk": jwk, "nonce": "n"}),
            json!({"alg": "ES256", "jwk": jwk, "nonce": "n", "url": "u", "crit": ["b64"], "b64": false}),
        ] {
            assert!(Jws::parse(&sign_es256(&kp, &h, "{}")).is_err(), "{h}");
        }
        assert!(Jws::parse(b"not json").is_err());
        assert!(Jws::parse(br#"{"protected":"!","payload":"","signature":""}"#).is_err());
    }
}

#[cfg(test)]
mod props {
    use super::*;
    use crate::b64u;
    use proptest::prelude::*;
    use serde_json::json;

    proptest! {
        /// A JWS encoded from any header values and payload parses back to them.
        #[test]
        fn encode_parse_round_trip(
            nonce in "[A-Za-z0-9_-]{1,40}",
            url in "https://[a-z]{1,10}/acme/[a-z/-]{0,20}",
            kid in proptest::option::of("https://[a-z]{1,10}/acme/account/[A-Za-z0-9_-]{1,22}"),
            x in proptest::collection::vec(any::<u8>(), 32),
            payload in proptest::collection::vec(any::<u8>(), 0..300),
            sig in proptest::collection::vec(any::<u8>(), 0..80),
        ) {
            let jwk = json!({"kty": "OKP", "crv": "Ed25519", "x": b64u(&x)});
            let mut h = json!({"alg": "EdDSA", "nonce": nonce, "url": url});
            match &kid {
                Some(k) => h["kid"] = json!(k),
                None => h["jwk"] = jwk.clone(),
            }
            let body = json!({
                "protected": b64u(h.to_string().as_bytes()),
                "payload": b64u(&payload),
                "signature": b64u(&sig),
            });
            let jws = Jws::parse(body.to_string().as_bytes()).unwrap();
            prop_assert_eq!(jws.protected.nonce.as_deref(), Some(nonce.as_str()));
            prop_assert_eq!(&jws.protected.url, &url);
            prop_assert_eq!(&jws.payload, &payload);
            prop_assert_eq!(jws.is_post_as_get(), payload.is_empty());
            match (&jws.protected.key, &kid) {
                (KeyRef::Kid(k), Some(want)) => prop_assert_eq!(k, want),
                (KeyRef::Jwk(k), None) => {
                    prop_assert_eq!(k, &Jwk::Ed25519 { x: x.clone() });
                    let canonical: serde_json::Value =
                        serde_json::from_str(&k.canonical_json()).unwrap();
                    prop_assert_eq!(canonical, jwk);
                    // Random bytes are no signature over this input.
                    prop_assert!(jws.verify(k).is_err());
                }
                _ => prop_assert!(false, "key kind changed"),
            }
        }
    }
}
