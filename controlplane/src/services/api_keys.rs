//! The API keys service: keys for the admin API (RBAC, see `crate::rbac`), created with a role
//! (or explicit permissions), shown once, stored only as a SHA-256 hash, revoked by id. It
//! owns the revocation lock (a key is revoked, and audited, once).
//!
//! A key is `sgk_<id>_<secret>`: the id (16 hex digits) finds the record, the secret (256
//! random bits, so a fast hash is enough: nothing to brute-force) is compared in constant
//! time. Revoked keys keep their record (with `revoked`) so the audit trail can name them.
//! A revocation is written only if the record is still what it read (one revocation, and
//! one audit record, even when two control-plane nodes revoke the same key at once).

use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use sigil_shared::time::now_unix;
use sigil_storage::WriteBatch;
use thiserror::Error;

use super::context::{retry_conflicts, Commit, Context};
use super::error::{ErrorKind, Internal};
use super::otps::random;
use crate::db::{cf, encode};
use crate::rbac::{Role, PERMISSIONS};

/// What the API keys service fails with.
#[derive(Debug, Error)]
pub enum ApiKeyError {
    #[error("name must be 1–128 printable characters")]
    InvalidName,
    #[error("role {0:?}: must be one of admin, operator, auditor, viewer")]
    UnknownRole(String),
    #[error("unknown permission {0:?} (see GET /api/v1/rbac/permissions)")]
    UnknownPermission(String),
    #[error("expires_days must be 1..={MAX_EXPIRES_DAYS}")]
    InvalidExpiry,
    #[error("API key {id:?} does not exist")]
    NotFound { id: String },
    #[error("API key {id:?} is already revoked")]
    AlreadyRevoked { id: String },
    #[error(transparent)]
    Internal(#[from] Internal),
}

impl ApiKeyError {
    /// What the operation read changed before its commit (another node's write).
    fn is_write_conflict(&self) -> bool {
        matches!(self, Self::Internal(i) if i.is_write_conflict())
    }

    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::NotFound { .. } => ErrorKind::NotFound,
            Self::AlreadyRevoked { .. } => ErrorKind::Conflict,
            Self::Internal(e) => e.kind(),
            _ => ErrorKind::Invalid,
        }
    }
}

super::error::internal_from!(ApiKeyError);

type Result<T, E = ApiKeyError> = std::result::Result<T, E>;

const PREFIX: &str = "sgk_";
pub const MAX_EXPIRES_DAYS: u32 = 3650;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiKeyRecord {
    pub id: String,
    pub name: String,
    pub role: Role,
    /// Explicit permissions; empty means the role's.
    pub permissions: Vec<String>,
    pub created: i64,
    pub expires: Option<i64>,
    pub revoked: Option<i64>,
    pub hash: [u8; 32],
}

impl ApiKeyRecord {
    /// The permissions in force: the explicit list, else the role's.
    pub fn effective_permissions(&self) -> Vec<String> {
        if self.permissions.is_empty() {
            self.role
                .permissions()
                .iter()
                .map(|p| p.to_string())
                .collect()
        } else {
            self.permissions.clone()
        }
    }

    pub fn active(&self, now: i64) -> bool {
        self.revoked.is_none() && self.expires.is_none_or(|e| e > now)
    }
}

/// What `POST /api/v1/apikeys` asks for.
#[derive(Debug, Clone, Default)]
pub struct NewApiKey {
    pub name: String,
    pub role: String,
    pub permissions: Option<Vec<String>>,
    pub expires_days: Option<u32>,
}

fn digest(secret: &str) -> [u8; 32] {
    let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, secret.as_bytes());
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    out
}

/// Splits `sgk_<id>_<secret>`; None when it is not of that form.
fn parse(token: &str) -> Option<(&str, &str)> {
    let rest = token.strip_prefix(PREFIX)?;
    let (id, secret) = rest.split_once('_')?;
    let ok = id.len() == 16
        && id.bytes().all(|b| b.is_ascii_hexdigit())
        && secret.len() == 64
        && secret.bytes().all(|b| b.is_ascii_hexdigit());
    ok.then_some((id, secret))
}

/// See the module documentation.
pub struct ApiKeys {
    cx: Arc<Context>,
    revoke_lock: Mutex<()>,
}

impl std::fmt::Debug for ApiKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiKeys").finish_non_exhaustive()
    }
}

impl ApiKeys {
    pub(super) fn new(cx: Arc<Context>) -> Self {
        Self {
            cx,
            revoke_lock: Mutex::new(()),
        }
    }

    /// Creates a key; returns the record and the key itself (shown only now).
    pub fn create_api_key(&self, req: NewApiKey) -> Result<(ApiKeyRecord, String)> {
        let name = req.name.trim();
        if name.is_empty() || name.chars().count() > 128 || name.chars().any(char::is_control) {
            return Err(ApiKeyError::InvalidName);
        }
        let Some(role) = Role::parse(&req.role) else {
            return Err(ApiKeyError::UnknownRole(req.role));
        };
        let permissions = req.permissions.unwrap_or_default();
        if let Some(p) = permissions
            .iter()
            .find(|p| !PERMISSIONS.contains(&p.as_str()))
        {
            return Err(ApiKeyError::UnknownPermission(p.clone()));
        }
        let now = now_unix();
        let expires = match req.expires_days {
            None => None,
            Some(d) if (1..=MAX_EXPIRES_DAYS).contains(&d) => Some(now + i64::from(d) * 86_400),
            Some(_) => return Err(ApiKeyError::InvalidExpiry),
        };
        let id = hex::encode(random::<8>()?);
        let secret = hex::encode(random::<32>()?);
        let rec = ApiKeyRecord {
            id: id.clone(),
            name: name.to_string(),
            role,
            permissions,
            created: now,
            expires,
            revoked: None,
            hash: digest(&secret),
        };
        let mut batch = WriteBatch::new();
        batch.put(cf::API_KEYS, id.as_bytes().to_vec(), encode(&rec)?);
        self.cx.commit(Commit::new(batch).audit(
            ("apikey.create", "apikey", &id),
            serde_json::json!({"name": rec.name, "role": role.as_str(), "permissions": rec.permissions, "expires": rec.expires}),
        ))?;
        Ok((rec, format!("{PREFIX}{id}_{secret}")))
    }

    /// Every key, revoked and expired ones included, oldest first.
    pub fn list_api_keys(&self) -> Result<Vec<ApiKeyRecord>> {
        let mut all: Vec<ApiKeyRecord> = self.cx.db().list(cf::API_KEYS, &[])?;
        all.sort_by(|a, b| (a.created, &a.id).cmp(&(b.created, &b.id)));
        Ok(all)
    }

    pub fn api_key(&self, id: &str) -> Result<ApiKeyRecord> {
        self.cx
            .db()
            .get::<ApiKeyRecord>(cf::API_KEYS, id.as_bytes())?
            .ok_or_else(|| ApiKeyError::NotFound { id: id.into() })
    }

    /// Revokes a key at once; `NotFound` if unknown, `Conflict` if already revoked.
    pub fn revoke_api_key(&self, id: &str) -> Result<ApiKeyRecord> {
        let _g = self.revoke_lock.lock().unwrap_or_else(|e| e.into_inner());
        retry_conflicts(|| self.revoke_once(id), ApiKeyError::is_write_conflict)
    }

    fn revoke_once(&self, id: &str) -> Result<ApiKeyRecord> {
        let read = self
            .cx
            .db()
            .get_raw(cf::API_KEYS, id.as_bytes())?
            .ok_or_else(|| ApiKeyError::NotFound { id: id.into() })?;
        let mut rec: ApiKeyRecord = crate::db::decode(cf::API_KEYS, &read)?;
        if rec.revoked.is_some() {
            return Err(ApiKeyError::AlreadyRevoked { id: id.into() });
        }
        rec.revoked = Some(now_unix());
        let mut batch = WriteBatch::new();
        batch.put(cf::API_KEYS, id.as_bytes().to_vec(), encode(&rec)?);
        self.cx.commit(
            Commit::new(batch)
                .expect_value(cf::API_KEYS, id.as_bytes().to_vec(), Some(read))
                .audit(
                    ("apikey.revoke", "apikey", id),
                    serde_json::json!({"name": rec.name}),
                ),
        )?;
        Ok(rec)
    }

    /// The active key `token` names, if its secret matches (constant time).
    pub fn authenticate_api_key(&self, token: &str) -> Result<Option<ApiKeyRecord>> {
        let Some((id, secret)) = parse(token) else {
            return Ok(None);
        };
        let Some(rec) = self
            .cx
            .db()
            .get::<ApiKeyRecord>(cf::API_KEYS, id.as_bytes())?
        else {
            return Ok(None);
        };
        let matches =
            aws_lc_rs::constant_time::verify_slices_are_equal(&digest(secret), &rec.hash).is_ok();
        Ok((matches && rec.active(now_unix())).then_some(rec))
    }
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn token_form() {
        let good = format!("sgk_{}_{}", "0123456789abcdef", "ab".repeat(32));
        assert_eq!(parse(&good).unwrap().0, "0123456789abcdef");
        assert!(parse("sgk_0123_ab").is_none());
        assert!(parse(&good.replace("sgk_", "sgx_")).is_none());
        assert!(parse(&format!("{good}x")).is_none());
    }
}
