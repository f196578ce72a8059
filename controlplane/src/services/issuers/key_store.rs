//! The `key_store` of a CA creation request: where the CA key is made, checked against the
//! configuration (`hsm.allowed_modules`) and the environment (the PIN variable must be set).

use crate::ca;
use crate::crypto::pkcs11::TokenRef;
use crate::db::KeyRef;

/// `key_store` of `POST /api/v1/issuers`.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum KeyStoreRequest {
    Software,
    /// A key in PKCS#11 tokens: found by `key_label` on the first reachable token, generated
    /// there if absent. `replicas` lists further tokens holding the same key.
    Pkcs11(Pkcs11Request),
}

#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pkcs11Request {
    pub module: String,
    pub token_label: String,
    pub key_label: String,
    /// Name of the environment variable holding the user PIN (never the PIN).
    pub pin_env: String,
    #[serde(default)]
    pub replicas: Vec<Pkcs11Replica>,
}

/// Another token holding the same key; `module` and `pin_env` default to the first token's.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pkcs11Replica {
    pub module: Option<String>,
    pub token_label: String,
    pub pin_env: Option<String>,
}

/// Why a `key_store` request cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyStoreError {
    #[error("at most 7 replicas")]
    TooManyReplicas,
    #[error("key_label must be 1 to 64 printable characters")]
    InvalidKeyLabel,
    #[error("token_label {0:?} must be 1 to 32 characters")]
    InvalidTokenLabel(String),
    #[error("pin_env {0:?} is not an environment variable name")]
    InvalidPinEnv(String),
    #[error("environment variable {0} (the token PIN) is not set for the control plane")]
    PinUnset(String),
    #[error("module {0:?} is not in the control plane's hsm.allowed_modules")]
    ModuleNotAllowed(String),
}

fn valid_env_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 128
        && !s.starts_with(|c: char| c.is_ascii_digit())
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// Checks a `key_store` request against the configuration and environment and returns where
/// the key lives.
pub(super) fn key_ref(
    req: Option<&KeyStoreRequest>,
    allowed_modules: &[String],
) -> Result<KeyRef, KeyStoreError> {
    let p = match req {
        None | Some(KeyStoreRequest::Software) => return Ok(KeyRef::Software),
        Some(KeyStoreRequest::Pkcs11(p)) => p,
    };
    let mut tokens = vec![TokenRef {
        module: p.module.clone(),
        token_label: p.token_label.clone(),
        pin_env: p.pin_env.clone(),
    }];
    tokens.extend(p.replicas.iter().map(|r| TokenRef {
        module: r.module.clone().unwrap_or_else(|| p.module.clone()),
        token_label: r.token_label.clone(),
        pin_env: r.pin_env.clone().unwrap_or_else(|| p.pin_env.clone()),
    }));
    if tokens.len() > 8 {
        return Err(KeyStoreError::TooManyReplicas);
    }
    if p.key_label.is_empty() || p.key_label.len() > 64 || p.key_label.contains(char::is_control) {
        return Err(KeyStoreError::InvalidKeyLabel);
    }
    for t in &tokens {
        if t.token_label.is_empty() || t.token_label.len() > 32 {
            return Err(KeyStoreError::InvalidTokenLabel(t.token_label.clone()));
        }
        if !valid_env_name(&t.pin_env) {
            return Err(KeyStoreError::InvalidPinEnv(t.pin_env.clone()));
        }
        if std::env::var_os(&t.pin_env).is_none() {
            return Err(KeyStoreError::PinUnset(t.pin_env.clone()));
        }
    }
    if let Some(m) = ca::keys::disallowed_module(&tokens, allowed_modules) {
        return Err(KeyStoreError::ModuleNotAllowed(m.to_string()));
    }
    Ok(KeyRef::Pkcs11 {
        tokens,
        key_label: p.key_label.clone(),
    })
}
