//! Health, metrics, the replication stream endpoint and fallbacks.

use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::json;
use tokio_stream::wrappers::ReceiverStream;

use super::{bearer_matches, ApiError, ErrorCode, Shared};
use crate::crypto::HealthState;

/// Liveness (always 200 while serving) with the CAs' signing health: `issuer_health` lists
/// each CA that is not healthy with its error.
pub async fn health(State(state): State<Shared>) -> Json<serde_json::Value> {
    let a = &state.authority;
    let cas = a.list_cas();
    let mut counts = [0usize; 3];
    let mut problems = serde_json::Map::new();
    for ca in &cas {
        let h = ca.health();
        counts[h.status as usize] += 1;
        if h.status != HealthState::Healthy {
            problems.insert(
                ca.record.id.clone(),
                json!({ "status": h.status, "error": h.error }),
            );
        }
    }
    Json(json!({
        "status": "healthy",
        "version": env!("CARGO_PKG_VERSION"),
        "issuers": cas.len(),
        "issuer_health": {
            "healthy": counts[0], "degraded": counts[1], "unhealthy": counts[2],
            "problems": problems,
        },
        "replication": { "head": a.db.head(), "oldest_retained": a.db.oldest_retained() },
    }))
}

pub async fn metrics(State(state): State<Shared>) -> Response {
    let a = &state.authority;
    a.metrics.sync_cas(&a.list_cas());
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        a.metrics.render(),
    )
        .into_response()
}

#[derive(Debug, Deserialize)]
pub struct StreamQuery {
    #[serde(default)]
    pub after: u64,
}

/// `GET /api/v1/replication/stream?after=N` (bearer `SIGIL_REPLICATION_TOKEN`).
pub async fn replication_stream(
    State(state): State<Shared>,
    headers: HeaderMap,
    query: Result<Query<StreamQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    if !bearer_matches(&headers, &state.replication_token) {
        tracing::warn!("replication authentication failed");
        return Err(ApiError::new(
            ErrorCode::Unauthorized,
            "missing or invalid replication token",
        ));
    }
    let Query(q) = query.map_err(|e| ApiError::new(ErrorCode::BadRequest, e.body_text()))?;
    let (tx, rx) = tokio::sync::mpsc::channel(16);
    tokio::spawn(crate::replication::feed(
        state.authority.clone(),
        q.after,
        tx,
    ));
    Ok((
        [
            (header::CONTENT_TYPE, "application/x-sigil-replication"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        Body::from_stream(ReceiverStream::new(rx)),
    )
        .into_response())
}

pub async fn not_found() -> ApiError {
    ApiError::new(ErrorCode::NotFound, "no such endpoint")
}

pub async fn method_not_allowed() -> ApiError {
    ApiError::new(
        ErrorCode::MethodNotAllowed,
        "method not allowed for this endpoint",
    )
}
