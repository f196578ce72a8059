//! Health, readiness, version, metrics, the replication stream endpoint and fallbacks.

use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, StatusCode};
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
    let s = &state.services;
    let cas = s.issuers.list_cas();
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
        "replication": { "head": s.replication.head(), "oldest_retained": s.replication.oldest_retained() },
    }))
}

/// `/metrics`: brings the scrape-time metrics up to date (per-CA signing, replication lag,
/// OCSP refresh backlog), then renders the registry.
pub async fn metrics(State(state): State<Shared>) -> Result<Response, ApiError> {
    let s = state.services.clone();
    let text = tokio::task::spawn_blocking(move || s.render_metrics())
        .await
        .map_err(|_| ApiError::new(ErrorCode::Internal, "internal error"))?;
    Ok(([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response())
}

/// `/ready` (certctl's readiness probe, no authentication): 200 `{"status": "ready", "cas"}`
/// when the database answers and no CA is unhealthy (all are loaded at start-up); else 503 with
/// `{"status": "not_ready", "error", "message", "problems"}`.
pub async fn ready(State(state): State<Shared>) -> Result<Response, ApiError> {
    let s = state.services.clone();
    let (problems, cas) = tokio::task::spawn_blocking(move || {
        let mut problems = Vec::new();
        let db = super::admin_ca::database_status(&s);
        if let Some(e) = db.error {
            problems.push(format!("database: {e}"));
        }
        // Every stored CA is loaded before the listener binds (start-up fails otherwise).
        let loaded = s.issuers.list_cas();
        for ca in &loaded {
            let h = ca.health();
            if h.status == HealthState::Unhealthy {
                problems.push(format!(
                    "CA {}: {}",
                    ca.record.id,
                    h.error.as_deref().unwrap_or("unhealthy")
                ));
            }
        }
        (problems, loaded.len())
    })
    .await
    .map_err(|_| ApiError::new(ErrorCode::Internal, "internal error"))?;
    if problems.is_empty() {
        return Ok(Json(json!({"status": "ready", "cas": cas})).into_response());
    }
    Ok((
        StatusCode::SERVICE_UNAVAILABLE,
        Json(json!({
            "status": "not_ready",
            "error": "service_unavailable",
            "message": format!("not ready: {}", problems.join("; ")),
            "problems": problems,
        })),
    )
        .into_response())
}

/// `GET /api/v1/version` (certctl's build identity, no authentication; `rust_version` in
/// place of `go_version`). `commit`, `build_time` and `modified` come from the build
/// environment (`SIGIL_BUILD_COMMIT`, `SIGIL_BUILD_TIME`, `SIGIL_BUILD_MODIFIED`): empty /
/// false when the build did not set them.
pub async fn version() -> Json<serde_json::Value> {
    Json(json!({
        "version": env!("CARGO_PKG_VERSION"),
        "commit": option_env!("SIGIL_BUILD_COMMIT").unwrap_or(""),
        "modified": option_env!("SIGIL_BUILD_MODIFIED") == Some("true"),
        "build_time": option_env!("SIGIL_BUILD_TIME").unwrap_or(""),
        "rust_version": env!("SIGIL_RUSTC_VERSION"),
    }))
}

#[derive(Debug, Deserialize)]
pub struct StreamQuery {
    #[serde(default)]
    pub after: u64,
}

/// `GET /api/v1/replication/stream?after=N` (bearer `SIGIL_REPLICATION_TOKEN`).
/// A failed token check counts against the source's limit of failed authentication (429
/// once spent) and is audited within its budget.
pub async fn replication_stream(
    State(state): State<Shared>,
    conn: Option<axum::Extension<axum::extract::ConnectInfo<crate::tls::ConnInfo>>>,
    headers: HeaderMap,
    query: Result<Query<StreamQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    const PATH: &str = "/api/v1/replication/stream";
    let peer = conn.map(|c| c.0 .0.remote);
    super::auth::admit(&state, peer.as_ref(), "GET", PATH).await?;
    if !bearer_matches(&headers, &state.replication_token) {
        super::auth::token_failure(&state, peer.as_ref(), "GET", PATH, "replication token").await?;
        return Err(ApiError::new(
            ErrorCode::Unauthorized,
            "missing or invalid replication token",
        ));
    }
    let Query(q) = query.map_err(|e| ApiError::new(ErrorCode::BadRequest, e.body_text()))?;
    let (tx, rx) = tokio::sync::mpsc::channel(16);
    tokio::spawn(crate::replication::feed(
        state.services.replication.clone(),
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

/// `GET /api/v1/replication/digest` (`read:system`): the replicated state's digest, per
/// record kind a count and a hash, as of a sequence number; a data plane reports the same at
/// `/replication/digest` on its ops listener once it has applied that sequence.
pub async fn replication_digest(
    State(state): State<Shared>,
) -> Result<Json<sigil_shared::replication::digest::DigestReport>, ApiError> {
    let log = state.services.replication.clone();
    let digest = tokio::task::spawn_blocking(move || log.digest())
        .await
        .map_err(|_| ApiError::new(ErrorCode::Internal, "internal error"))?
        .map_err(|e| {
            tracing::error!(error = %e, "computing the replication digest failed");
            ApiError::new(ErrorCode::Internal, "internal error")
        })?;
    Ok(Json(digest.report()))
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
