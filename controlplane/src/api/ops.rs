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

pub async fn health(State(state): State<Shared>) -> Json<serde_json::Value> {
    let a = &state.authority;
    Json(json!({
        "status": "healthy",
        "version": env!("CARGO_PKG_VERSION"),
        "issuers": a.list_cas().len(),
        "replication": { "head": a.db.head(), "oldest_retained": a.db.oldest_retained() },
    }))
}

pub async fn metrics(State(state): State<Shared>) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.authority.metrics.render(),
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
