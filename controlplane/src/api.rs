//! The admin listener's HTTP API (axum): management API under `/api/v1`, the replication
//! stream, `/health` and `/metrics`. Handlers are thin: they parse, call [`Authority`] on a
//! blocking thread and render JSON.

mod certificates;
mod error;
mod issuers;
mod ops;

pub use error::{ApiError, ErrorCode};

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{DefaultBodyLimit, FromRequest, MatchedPath, Request, State};
use axum::http::HeaderMap;
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use serde::de::DeserializeOwned;
use subtle::ConstantTimeEq;

use crate::authority::{Authority, AuthorityError};

/// Shared state of the admin API.
#[derive(Debug)]
pub struct AppState {
    pub authority: Arc<Authority>,
    pub admin_token: String,
    pub replication_token: String,
}

pub type Shared = Arc<AppState>;

/// Builds the admin router.
pub fn router(state: Shared) -> Router {
    let limit = state.authority.config.admin.max_body_bytes;
    let api = Router::new()
        .route("/api/v1/issuers", get(issuers::list).post(issuers::create))
        .route("/api/v1/issuers/{id}", get(issuers::get_one))
        .route("/api/v1/issuers/{id}/crl", get(issuers::crl))
        .route("/api/v1/certificates", post(certificates::issue))
        .route("/api/v1/certificates/{id}", get(certificates::get_one))
        .route(
            "/api/v1/certificates/{id}/revoke",
            post(certificates::revoke),
        )
        .route(
            "/api/v1/certificates/{id}/unhold",
            post(certificates::unhold),
        )
        .route("/api/v1/certificates/{id}/ocsp", get(certificates::ocsp))
        .route_layer(middleware::from_fn_with_state(state.clone(), require_admin));
    Router::new()
        .merge(api)
        .route("/api/v1/replication/stream", get(ops::replication_stream))
        .route("/health", get(ops::health))
        .route("/metrics", get(ops::metrics))
        .fallback(ops::not_found)
        .method_not_allowed_fallback(ops::method_not_allowed)
        .layer(DefaultBodyLimit::max(limit))
        .layer(middleware::from_fn_with_state(state.clone(), observe))
        .with_state(state)
}

/// The public listener's router: liveness only until enrollment (EST) is served there.
pub fn public_router() -> Router {
    Router::new()
        .route(
            "/health",
            get(|| async { axum::Json(serde_json::json!({"status": "healthy"})) }),
        )
        .fallback(ops::not_found)
        .method_not_allowed_fallback(ops::method_not_allowed)
}

/// `Authorization: Bearer <token>` compared in constant time.
pub fn bearer_matches(headers: &HeaderMap, expected: &str) -> bool {
    let Some(value) = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let Some(token) = value
        .strip_prefix("Bearer ")
        .or_else(|| value.strip_prefix("bearer "))
    else {
        return false;
    };
    !expected.is_empty() && bool::from(token.trim().as_bytes().ct_eq(expected.as_bytes()))
}

async fn require_admin(
    State(state): State<Shared>,
    req: Request,
    next: Next,
) -> Result<Response, ApiError> {
    if !bearer_matches(req.headers(), &state.admin_token) {
        tracing::warn!(path = %req.uri().path(), "admin API authentication failed");
        return Err(ApiError::new(
            ErrorCode::Unauthorized,
            "missing or invalid bearer token",
        ));
    }
    Ok(next.run(req).await)
}

/// Request metrics by matched route and status.
async fn observe(State(state): State<Shared>, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_string(), |p| p.as_str().to_string());
    let start = Instant::now();
    let resp = next.run(req).await;
    let m = &state.authority.metrics;
    m.http_latency
        .with_label_values(&[&route])
        .observe(start.elapsed().as_secs_f64());
    m.http_requests
        .with_label_values(&[&route, resp.status().as_str()])
        .inc();
    resp
}

/// JSON body extractor whose rejections are `{error, message}` JSON.
#[derive(Debug)]
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(ApiJson(v)),
            Err(rej) => Err(ApiError::from_json_rejection(&rej)),
        }
    }
}

/// Runs blocking service code off the async workers.
pub async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, AuthorityError> + Send + 'static,
) -> Result<T, ApiError> {
    match tokio::task::spawn_blocking(f).await {
        Ok(r) => r.map_err(ApiError::from),
        Err(e) => {
            tracing::error!(error = %e, "request handler panicked");
            Err(ApiError::new(ErrorCode::Internal, "internal error"))
        }
    }
}
