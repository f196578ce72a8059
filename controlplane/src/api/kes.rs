//! `/api/v1/kes/…`: the key service's keys, policies and identities for administrators
//! (permissions `read:kes`, `write:kes`, `delete:kes`), and, in [`forward`], the KES calls
//! data planes forward from their KES clients. Never key material: a key is shown as its
//! name, algorithm and versions. Every write answers `X-Sigil-Seq`, the sequence number of
//! its commit (a data plane that has applied it serves the change).

pub mod forward;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::json;
use sigil_kes::policy::Policy;
use sigil_kes::{Algorithm, KEY_SIZE};
use sigil_shared::replication::{KesIdentityState, KesKeyState, KesPolicyState};
use sigil_shared::time::rfc3339;

use super::{blocking, ApiError, ApiJson, ApiQuery, ErrorCode, Shared};
use crate::audit::current_actor;
use crate::services::KesError;

/// The header carrying a write's commit sequence number.
pub const SEQ_HEADER: &str = "x-sigil-seq";

/// `key` (base64, as KES clients send it) for `cipher` (a KES algorithm name), checked as KES
/// checks an import: the base64 decodes, the cipher is known, the key is 256 bits.
pub fn imported_key(key: &str, cipher: &str) -> Result<([u8; KEY_SIZE], Algorithm), KesError> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(key)
        .map_err(|_| KesError::InvalidJson("the key is not base64".into()))?;
    let algorithm =
        Algorithm::parse(cipher).ok_or_else(|| KesError::UnsupportedAlgorithm(cipher.into()))?;
    let key = bytes
        .try_into()
        .map_err(|_| KesError::InvalidKeySize(cipher.into()))?;
    Ok((key, algorithm))
}

/// `resp` with the commit's sequence number in [`SEQ_HEADER`].
fn with_seq(seq: u64, resp: impl IntoResponse) -> Response {
    ([(SEQ_HEADER, seq.to_string())], resp).into_response()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// KES's list pattern: a prefix, optionally ending in `*`; empty or `*` lists all.
    pub pattern: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateKey {
    pub name: String,
    /// `AES256` (default) or `ChaCha20` (KES's older names are accepted too).
    pub algorithm: Option<String>,
    /// Import this key (base64 of 32 bytes) instead of generating one.
    pub key: Option<String>,
}

impl std::fmt::Debug for CreateKey {
    /// Never the imported key.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CreateKey")
            .field("name", &self.name)
            .field("algorithm", &self.algorithm)
            .field("key", &self.key.as_ref().map(|_| "[redacted]"))
            .finish()
    }
}

#[derive(Debug, Serialize)]
pub struct VersionView {
    pub version: u32,
    pub algorithm: String,
    pub created_at: String,
}

#[derive(Debug, Serialize)]
pub struct KeyView {
    pub name: String,
    /// The newest version's, the one that encrypts.
    pub algorithm: String,
    pub versions: Vec<VersionView>,
    pub created_at: String,
    pub created_by: String,
}

fn key_view(k: &KesKeyState) -> KeyView {
    KeyView {
        name: k.name.clone(),
        algorithm: k
            .versions
            .last()
            .map_or_else(String::new, |v| v.algorithm.clone()),
        versions: k
            .versions
            .iter()
            .map(|v| VersionView {
                version: v.version,
                algorithm: v.algorithm.clone(),
                created_at: rfc3339(v.created_at),
            })
            .collect(),
        created_at: rfc3339(k.created_at),
        created_by: k.created_by.clone(),
    }
}

fn policy_view(p: &KesPolicyState) -> serde_json::Value {
    json!({
        "name": p.name, "allow": p.allow, "deny": p.deny,
        "created_at": rfc3339(p.created_at), "created_by": p.created_by,
    })
}

fn identity_view(i: &KesIdentityState) -> serde_json::Value {
    json!({
        "identity": i.identity, "policy": i.policy,
        "created_at": rfc3339(i.created_at), "created_by": i.created_by,
    })
}

fn pattern(q: ListQuery) -> String {
    q.pattern.unwrap_or_default()
}

pub async fn list_keys(
    State(state): State<Shared>,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let kes = state.services.kes.clone();
    let keys = blocking(move || kes.list_keys(&pattern(q))).await?;
    let data: Vec<_> = keys.iter().map(key_view).collect();
    Ok(Json(json!({ "data": data })))
}

/// Creates a key (generated, or imported from `key`); 201 with its description.
pub async fn create_key(
    State(state): State<Shared>,
    ApiJson(body): ApiJson<CreateKey>,
) -> Result<Response, ApiError> {
    let kes = state.services.kes.clone();
    let (key, seq) = blocking(move || {
        let by = current_actor().id;
        match &body.key {
            Some(b64) => {
                let cipher = body.algorithm.as_deref().unwrap_or("AES256");
                let (key, algorithm) = imported_key(b64, cipher)?;
                kes.import_key(&body.name, key, algorithm, &by)
            }
            None => {
                let algorithm = body
                    .algorithm
                    .map(|a| Algorithm::parse(&a).ok_or(KesError::UnsupportedAlgorithm(a)))
                    .transpose()?;
                kes.create_key(&body.name, algorithm, &by)
            }
        }
    })
    .await?;
    Ok(with_seq(seq, (StatusCode::CREATED, Json(key_view(&key)))))
}

pub async fn get_key(
    State(state): State<Shared>,
    Path(name): Path<String>,
) -> Result<Json<KeyView>, ApiError> {
    let kes = state.services.kes.clone();
    let key = blocking(move || kes.describe_key(&name)).await?;
    Ok(Json(key_view(&key)))
}

/// Deletes a key and every version of it; 204.
pub async fn delete_key(
    State(state): State<Shared>,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    let kes = state.services.kes.clone();
    let seq = blocking(move || kes.delete_key(&name)).await?;
    Ok(with_seq(seq, StatusCode::NO_CONTENT))
}

/// Adds a version (fresh key and HMAC key); 200 with the key's description.
pub async fn rotate_key(
    State(state): State<Shared>,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    let kes = state.services.kes.clone();
    let (key, seq) = blocking(move || kes.rotate_key(&name)).await?;
    Ok(with_seq(seq, Json(key_view(&key))))
}

pub async fn list_policies(
    State(state): State<Shared>,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let kes = state.services.kes.clone();
    let all = blocking(move || kes.list_policies(&pattern(q))).await?;
    let data: Vec<_> = all.iter().map(policy_view).collect();
    Ok(Json(json!({ "data": data })))
}

pub async fn get_policy(
    State(state): State<Shared>,
    Path(name): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let kes = state.services.kes.clone();
    let p = blocking(move || kes.read_policy(&name)).await?;
    Ok(Json(policy_view(&p)))
}

/// Writes (creates or replaces) a policy; the body is KES's policy JSON
/// (`{"allow": [...], "deny": [...]}`, KES's map form, or `{"paths": [...]}`).
pub async fn put_policy(
    State(state): State<Shared>,
    Path(name): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let body = body.map_err(|rej| {
        let code = match rej.status() {
            StatusCode::PAYLOAD_TOO_LARGE => ErrorCode::PayloadTooLarge,
            _ => ErrorCode::BadRequest,
        };
        ApiError::new(code, rej.body_text())
    })?;
    let kes = state.services.kes.clone();
    let (p, seq) = blocking(move || {
        let policy = Policy::from_json(&body).map_err(KesError::from)?;
        kes.write_policy(&name, &policy, &current_actor().id)
    })
    .await?;
    Ok(with_seq(seq, Json(policy_view(&p))))
}

pub async fn delete_policy(
    State(state): State<Shared>,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    let kes = state.services.kes.clone();
    let seq = blocking(move || kes.delete_policy(&name)).await?;
    Ok(with_seq(seq, StatusCode::NO_CONTENT))
}

pub async fn list_identities(
    State(state): State<Shared>,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let kes = state.services.kes.clone();
    let all = blocking(move || kes.list_identities(&pattern(q))).await?;
    let data: Vec<_> = all.iter().map(identity_view).collect();
    Ok(Json(json!({ "data": data })))
}

pub async fn get_identity(
    State(state): State<Shared>,
    Path(identity): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let kes = state.services.kes.clone();
    let i = blocking(move || kes.describe_identity(&identity)).await?;
    Ok(Json(identity_view(&i)))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Assign {
    pub policy: String,
}

/// Assigns a policy to an identity (replacing its previous one); 200 with the assignment.
pub async fn put_identity(
    State(state): State<Shared>,
    Path(identity): Path<String>,
    ApiJson(body): ApiJson<Assign>,
) -> Result<Response, ApiError> {
    let kes = state.services.kes.clone();
    let (i, seq) =
        blocking(move || kes.assign_identity(&body.policy, &identity, &current_actor().id)).await?;
    Ok(with_seq(seq, Json(identity_view(&i))))
}

pub async fn delete_identity(
    State(state): State<Shared>,
    Path(identity): Path<String>,
) -> Result<Response, ApiError> {
    let kes = state.services.kes.clone();
    let seq = blocking(move || kes.forget_identity(&identity)).await?;
    Ok(with_seq(seq, StatusCode::NO_CONTENT))
}
