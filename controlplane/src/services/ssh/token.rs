//! Keyper's tokens (sans-io): JWTs (RFC 7519) signed with HMAC-SHA256 (`HS256`, RFC 7518
//! §3.2) under the control plane's 32-byte secret, with the claims flask-jwt-extended writes
//! and Keyper's clients read: `iat`, `nbf`, `jti`, `exp`, `identity` (and `sub`, the
//! standard name), `fresh`, `type` (`access` or `refresh`) and `user_claims` (Keyper's role,
//! the string `{role: keyper_admin}` or `{role: keyper_user}`). Sigil adds `pwv`, a
//! fingerprint of the user's password salt, so changing a password ends older sessions.
//!
//! Only `HS256` is accepted (never `none`, never another algorithm named in the header), the
//! signature is compared in constant time, and `nbf ≤ now < exp` must hold.

use aws_lc_rs::hmac;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::{Deserialize, Serialize};

/// Longest token looked at.
pub const MAX_TOKEN_LEN: usize = 4096;
/// `{"typ":"JWT","alg":"HS256"}`, as flask-jwt-extended writes the header.
const HEADER: &str = r#"{"typ":"JWT","alg":"HS256"}"#;

/// `access` or `refresh`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TokenType {
    Access,
    Refresh,
}

/// The claims of a Keyper token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    pub iat: i64,
    pub nbf: i64,
    pub jti: String,
    pub exp: i64,
    pub identity: String,
    pub sub: String,
    pub fresh: bool,
    #[serde(rename = "type")]
    pub token_type: TokenType,
    pub user_claims: String,
    #[serde(default)]
    pub pwv: String,
}

/// Keyper's `user_claims` for an administrator or a user.
pub fn role_claim(admin: bool) -> String {
    if admin {
        "{role: keyper_admin}".into()
    } else {
        "{role: keyper_user}".into()
    }
}

/// Why a token was refused (all answered alike, 401).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("malformed token")]
    Malformed,
    #[error("unsupported token algorithm")]
    Algorithm,
    #[error("bad token signature")]
    Signature,
    #[error("token has expired")]
    Expired,
    #[error("token not yet valid")]
    NotYetValid,
    #[error("wrong token type")]
    WrongType,
}

fn key(secret: &[u8; 32]) -> hmac::Key {
    hmac::Key::new(hmac::HMAC_SHA256, secret)
}

/// The signed token.
pub fn encode(secret: &[u8; 32], claims: &Claims) -> String {
    let payload = serde_json::to_vec(claims).unwrap_or_default();
    let mut out = URL_SAFE_NO_PAD.encode(HEADER);
    out.push('.');
    URL_SAFE_NO_PAD.encode_string(payload, &mut out);
    let tag = hmac::sign(&key(secret), out.as_bytes());
    out.push('.');
    URL_SAFE_NO_PAD.encode_string(tag.as_ref(), &mut out);
    out
}

/// Whether `token` has a JWT's shape (three base64url parts), to tell it from Sigil's
/// admin token and API keys before anything is decoded.
pub fn looks_like_jwt(token: &str) -> bool {
    token.len() <= MAX_TOKEN_LEN
        && token.starts_with("eyJ")
        && token.split('.').count() == 3
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// The claims of `token` if it is an `HS256` JWT signed under `secret`, of type `want`,
/// valid at `now`.
pub fn decode(
    secret: &[u8; 32],
    token: &str,
    want: TokenType,
    now: i64,
) -> Result<Claims, TokenError> {
    if !looks_like_jwt(token) {
        return Err(TokenError::Malformed);
    }
    let mut parts = token.splitn(3, '.');
    let (Some(h), Some(p), Some(s)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(TokenError::Malformed);
    };
    #[derive(Deserialize)]
    struct Header {
        alg: String,
    }
    let header: Header = URL_SAFE_NO_PAD
        .decode(h)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or(TokenError::Malformed)?;
    if header.alg != "HS256" {
        return Err(TokenError::Algorithm);
    }
    let tag = URL_SAFE_NO_PAD
        .decode(s)
        .map_err(|_| TokenError::Malformed)?;
    let signed = &token[..h.len() + 1 + p.len()];
    hmac::verify(&key(secret), signed.as_bytes(), &tag).map_err(|_| TokenError::Signature)?;
    let claims: Claims = URL_SAFE_NO_PAD
        .decode(p)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or(TokenError::Malformed)?;
    if now >= claims.exp {
        return Err(TokenError::Expired);
    }
    if now < claims.nbf {
        return Err(TokenError::NotYetValid);
    }
    if claims.token_type != want {
        return Err(TokenError::WrongType);
    }
    Ok(claims)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(t: TokenType) -> Claims {
        Claims {
            iat: 100,
            nbf: 100,
            jti: "j".into(),
            exp: 200,
            identity: "alice".into(),
            sub: "alice".into(),
            fresh: false,
            token_type: t,
            user_claims: role_claim(true),
            pwv: String::new(),
        }
    }

    #[test]
    fn round_trip_and_refusals() {
        let secret = [7u8; 32];
        let t = encode(&secret, &claims(TokenType::Access));
        assert!(looks_like_jwt(&t));
        assert!(
            t.starts_with("eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzI1NiJ9."),
            "{t}"
        );
        assert_eq!(
            decode(&secret, &t, TokenType::Access, 150).unwrap(),
            claims(TokenType::Access)
        );
        assert_eq!(
            decode(&secret, &t, TokenType::Refresh, 150),
            Err(TokenError::WrongType)
        );
        assert_eq!(
            decode(&secret, &t, TokenType::Access, 200),
            Err(TokenError::Expired)
        );
        assert_eq!(
            decode(&secret, &t, TokenType::Access, 99),
            Err(TokenError::NotYetValid)
        );
        assert_eq!(
            decode(&[8u8; 32], &t, TokenType::Access, 150),
            Err(TokenError::Signature)
        );
        // A changed payload, an `alg: none` header, garbage.
        let parts: Vec<&str> = t.split('.').collect();
        let mut forged = claims(TokenType::Access);
        forged.identity = "mallory".into();
        let body = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&forged).unwrap());
        let swapped = format!("{}.{body}.{}", parts[0], parts[2]);
        assert_eq!(
            decode(&secret, &swapped, TokenType::Access, 150),
            Err(TokenError::Signature)
        );
        let none = format!(
            "{}.{}.",
            URL_SAFE_NO_PAD.encode(r#"{"alg":"none"}"#),
            parts[1]
        );
        assert!(decode(&secret, &none, TokenType::Access, 150).is_err());
        let hs512 = format!(
            "{}.{}.{}",
            URL_SAFE_NO_PAD.encode(r#"{"alg":"HS512"}"#),
            parts[1],
            parts[2]
        );
        assert_eq!(
            decode(&secret, &hs512, TokenType::Access, 150),
            Err(TokenError::Algorithm)
        );
        assert!(!looks_like_jwt("sgk_abc_def"));
        assert!(!looks_like_jwt("admin-token-123456"));
    }
}
