//! RBAC API keys (`/api/v1/apikeys`, UCM's shapes) and the role/permission catalogue
//! (`/api/v1/rbac/*`). The key itself is in the creation response only.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::json;
use sigil_shared::time::rfc3339;

use super::{blocking, ApiError, ApiJson, Shared};
use crate::rbac::{Role, PERMISSIONS};
use crate::services::api_keys::{ApiKeyRecord, NewApiKey};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateKey {
    pub name: String,
    pub role: String,
    /// Explicit permissions instead of the role's.
    pub permissions: Option<Vec<String>>,
    pub expires_days: Option<u32>,
}

#[derive(Serialize)]
pub struct KeyView {
    pub id: String,
    pub name: String,
    pub role: &'static str,
    pub permissions: Vec<String>,
    pub created_at: String,
    pub expires_at: Option<String>,
    pub revoked_at: Option<String>,
    pub enabled: bool,
    /// Only in the response to `POST /api/v1/apikeys`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
}

impl std::fmt::Debug for KeyView {
    /// Never the key.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyView")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("role", &self.role)
            .field("key", &self.key.as_ref().map(|_| "[redacted]"))
            .finish_non_exhaustive()
    }
}

fn view(r: &ApiKeyRecord, key: Option<String>) -> KeyView {
    KeyView {
        id: r.id.clone(),
        name: r.name.clone(),
        role: r.role.as_str(),
        permissions: r.effective_permissions(),
        created_at: rfc3339(r.created),
        expires_at: r.expires.map(rfc3339),
        revoked_at: r.revoked.map(rfc3339),
        enabled: r.active(sigil_shared::time::now_unix()),
        key,
    }
}

pub async fn create(
    State(state): State<Shared>,
    ApiJson(body): ApiJson<CreateKey>,
) -> Result<Response, ApiError> {
    let keys = state.services.api_keys.clone();
    let (rec, key) = blocking(move || {
        keys.create_api_key(NewApiKey {
            name: body.name,
            role: body.role,
            permissions: body.permissions,
            expires_days: body.expires_days,
        })
    })
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"data": view(&rec, Some(key))})),
    )
        .into_response())
}

pub async fn list(State(state): State<Shared>) -> Result<Json<serde_json::Value>, ApiError> {
    let keys = state.services.api_keys.clone();
    let all = blocking(move || keys.list_api_keys()).await?;
    let data: Vec<_> = all.iter().map(|r| view(r, None)).collect();
    Ok(Json(json!({"data": data})))
}

pub async fn get_one(
    State(state): State<Shared>,
    Path(id): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let keys = state.services.api_keys.clone();
    let rec = blocking(move || keys.api_key(&id)).await?;
    Ok(Json(json!({"data": view(&rec, None)})))
}

/// Revokes the key (it stops working at once); 204.
pub async fn revoke(
    State(state): State<Shared>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let keys = state.services.api_keys.clone();
    blocking(move || keys.revoke_api_key(&id)).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// UCM's `GET /rbac/roles`: `{data: {roles, role_permissions}}`.
pub async fn roles() -> Json<serde_json::Value> {
    let names: Vec<_> = Role::ALL.iter().map(|r| r.as_str()).collect();
    let perms: serde_json::Map<_, _> = Role::ALL
        .iter()
        .map(|r| (r.as_str().to_string(), json!(r.permissions())))
        .collect();
    Json(json!({"data": {"roles": names, "role_permissions": perms}}))
}

pub async fn permissions() -> Json<serde_json::Value> {
    Json(json!({"data": PERMISSIONS}))
}
