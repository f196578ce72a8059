//! certctl's `GET /api/v1/auth/info` (unauthenticated: how to authenticate) and
//! `GET /api/v1/auth/check` (any valid credential: who it is and what it may do).

use axum::extract::Extension;
use axum::Json;
use serde_json::{json, Value};

use super::super::REQUEST_ACTOR;

/// The permissions of the request's credential (set by `require_auth`).
#[derive(Debug, Clone)]
pub struct Granted(pub Vec<String>);

/// Sigil always requires credentials: `auth_type` is certctl's `api-key`, `methods` the
/// kinds the admin API takes.
pub async fn info() -> Json<Value> {
    Json(json!({
        "auth_type": "api-key",
        "required": true,
        "methods": ["bearer-token", "api-key", "client-certificate", "keyper-token"],
    }))
}

/// 200 for a valid credential (401 before this, from `require_auth`, for none).
pub async fn check(Extension(granted): Extension<Granted>) -> Json<Value> {
    let actor = REQUEST_ACTOR.try_with(|a| a.id.clone()).unwrap_or_default();
    Json(json!({
        "status": "authenticated",
        "actor": actor,
        "permissions": granted.0,
    }))
}
