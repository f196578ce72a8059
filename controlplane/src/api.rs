//! The admin listener's HTTP API (axum): management API under `/api/v1`, Keyper's API of the
//! SSH key service under `/api/` ([`ssh`]), the replication stream and the KES calls data
//! planes forward (`kes::forward`), `/health` and `/metrics`.
//! Handlers are thin: they parse, call the services (`crate::services`) on a blocking thread
//! and render JSON; service errors become API errors in one place ([`error`]).

mod admin;
mod admin_ca;
mod apikeys;
mod audit;
mod auth;
mod certificates;
mod crl_cache;
mod error;
mod issuers;
mod kes;
mod openapi;
mod ops;
mod profiles;
mod scep;
mod ssh;

/// For the web console (`crate::ui`): decoded certificate fields, time filters, and its sign-in.
pub(crate) use admin_ca::chain::{entry as chain_entry, ChainEntry};
pub(crate) use audit::time_bound;
pub(crate) use auth::{
    console_certificate, console_sign_in, console_sign_in_keyper, keyper_permissions,
    ConsolePrincipal,
};
pub use error::{ApiError, ErrorCode};
/// For the fuzz targets (`fuzzing/`) only.
#[doc(hidden)]
pub use kes::forward::import_body as kes_import_body;
pub use openapi::OPENAPI_YAML;

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{DefaultBodyLimit, FromRequest, MatchedPath, Request, State};
use axum::http::HeaderMap;
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{delete, get, post, put};
use axum::Router;
use serde::de::DeserializeOwned;
use subtle::ConstantTimeEq;

use crate::audit::{with_actor, Actor, AuditEvent};
use crate::services::Services;

tokio::task_local! {
    /// The authenticated actor of the request being handled (set by [`require_admin`]).
    static REQUEST_ACTOR: Actor;
}

/// Shared state of the admin API: the services, the two tokens and the limiter of failed
/// authentication.
pub struct AppState {
    services: Arc<Services>,
    admin_token: String,
    replication_token: String,
    auth_limit: Arc<std::sync::Mutex<auth::limit::AuthLimiter>>,
}

impl std::fmt::Debug for AppState {
    /// Never the tokens.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState").finish_non_exhaustive()
    }
}

impl AppState {
    /// Within a tokio runtime, also starts the task that writes the audit summaries of failed
    /// authentication when their window ends (`[admin.auth_limit]`).
    pub fn new(services: Arc<Services>, admin_token: String, replication_token: String) -> Self {
        let limiter =
            auth::limit::AuthLimiter::new(&services.settings().admin.auth_limit, Instant::now());
        let auth_limit = Arc::new(std::sync::Mutex::new(limiter));
        auth::spawn_summaries(&services, &auth_limit);
        Self {
            services,
            admin_token,
            replication_token,
            auth_limit,
        }
    }
}

impl AppState {
    /// The services, for the web console (`crate::ui`), which calls them as the handlers do.
    pub(crate) fn services(&self) -> &Arc<Services> {
        &self.services
    }
}

pub type Shared = Arc<AppState>;

/// Builds the admin router.
pub fn router(state: Shared) -> Router {
    let limit = state.services.settings().admin.max_body_bytes;
    let api = Router::new()
        .route("/api/v1/issuers", get(issuers::list).post(issuers::create))
        .route(
            "/api/v1/issuers/{id}",
            get(issuers::get_one)
                .put(issuers::update)
                .patch(issuers::update)
                .delete(issuers::manage::delete),
        )
        .route(
            "/api/v1/issuers/{id}/crl",
            get(issuers::crl).post(issuers::manage::regenerate_crl),
        )
        .route("/api/v1/issuers/{id}/test", post(issuers::manage::test))
        .route(
            "/api/v1/certificates",
            get(certificates::list).post(certificates::issue),
        )
        .route(
            "/api/v1/certificates/bulk-revoke",
            post(certificates::bulk::revoke),
        )
        .route(
            "/api/v1/certificates/bulk-renew",
            post(certificates::lifecycle::bulk_renew),
        )
        .route(
            "/api/v1/certificates/import",
            post(certificates::import::import),
        )
        .route(
            "/api/v1/certificates/{id}/renew",
            post(certificates::lifecycle::renew),
        )
        .route(
            "/api/v1/certificates/{id}/versions",
            get(certificates::lifecycle::versions),
        )
        .route(
            "/api/v1/certificates/{id}/export/pkcs12",
            post(certificates::export::pkcs12),
        )
        .route(
            "/api/v1/certificates/{id}/export/pem",
            get(certificates::export::pem),
        )
        .route(
            "/api/v1/certificates/{id}/export/der",
            get(certificates::export::der),
        )
        .route(
            "/api/v1/certificates/{id}/export/chain",
            get(certificates::export::chain),
        )
        .route(
            "/api/v1/profiles",
            get(profiles::list).post(profiles::create),
        )
        .route(
            "/api/v1/profiles/{id}",
            get(profiles::get_one)
                .put(profiles::update)
                .delete(profiles::delete),
        )
        .route("/api/v1/admin/crl/cache", get(crl_cache::list))
        .route("/admin/health", get(admin_ca::health))
        .route("/admin/ca", get(admin_ca::list))
        .route("/admin/ca/{id}", get(admin_ca::get_one))
        .route(
            "/api/v1/certificates/{id}",
            get(certificates::get_one).delete(certificates::lifecycle::archive),
        )
        .route(
            "/api/v1/certificates/{id}/revoke",
            post(certificates::revoke),
        )
        .route(
            "/api/v1/certificates/{id}/unhold",
            post(certificates::unhold),
        )
        .route("/api/v1/certificates/{id}/ocsp", get(certificates::ocsp))
        .route("/admin/otp", get(admin::list_otps).post(admin::create_otp))
        .route("/admin/otp/{id}", delete(admin::delete_otp))
        .route("/admin/certs", get(admin::list_certs))
        .route("/api/v1/scep/requests", get(scep::list))
        .route("/api/v1/scep/requests/{id}", get(scep::get_one))
        .route("/api/v1/scep/requests/{id}/approve", post(scep::approve))
        .route("/api/v1/scep/requests/{id}/reject", post(scep::reject))
        .route("/api/v1/audit", get(audit::list))
        .route("/api/v1/audit/verify", get(audit::verify))
        .route("/api/v1/audit/{id}", get(audit::get_one))
        .route("/api/v1/auth/check", get(auth::check))
        .route("/api/v1/replication/digest", get(ops::replication_digest))
        .route("/api/v1/apikeys", get(apikeys::list).post(apikeys::create))
        .route(
            "/api/v1/apikeys/{id}",
            get(apikeys::get_one).delete(apikeys::revoke),
        )
        .route("/api/v1/rbac/roles", get(apikeys::roles))
        .route("/api/v1/rbac/permissions", get(apikeys::permissions))
        .route(
            "/api/v1/kes/keys",
            get(kes::list_keys).post(kes::create_key),
        )
        .route(
            "/api/v1/kes/keys/{name}",
            get(kes::get_key).delete(kes::delete_key),
        )
        .route("/api/v1/kes/keys/{name}/rotate", post(kes::rotate_key))
        .route("/api/v1/kes/policies", get(kes::list_policies))
        .route(
            "/api/v1/kes/policies/{name}",
            get(kes::get_policy)
                .put(kes::put_policy)
                .delete(kes::delete_policy),
        )
        .route("/api/v1/kes/identities", get(kes::list_identities))
        .route(
            "/api/v1/kes/identities/{identity}",
            get(kes::get_identity)
                .put(kes::put_identity)
                .delete(kes::delete_identity),
        )
        .route("/api/users", get(ssh::list_users).post(ssh::create_user))
        .route(
            "/api/users/{username}",
            get(ssh::get_user)
                .put(ssh::update_user)
                .delete(ssh::delete_user),
        )
        .route("/api/hosts", get(ssh::list_hosts).post(ssh::create_host))
        .route(
            "/api/hosts/{hostname}",
            get(ssh::get_host)
                .put(ssh::update_host)
                .delete(ssh::delete_host),
        )
        .route("/api/groups", get(ssh::list_groups).post(ssh::create_group))
        .route(
            "/api/groups/{groupname}",
            get(ssh::get_group)
                .put(ssh::update_group)
                .delete(ssh::delete_group),
        )
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            auth::require_auth,
        ));
    Router::new()
        .merge(api)
        .merge(crate::ui::router(state.clone()))
        .route("/api/v1/replication/stream", get(ops::replication_stream))
        .route(
            "/api/v1/replication/kes/{*path}",
            put(kes::forward::forward)
                .post(kes::forward::forward)
                .delete(kes::forward::forward),
        )
        .route("/health", get(ops::health))
        .route("/ready", get(ops::ready))
        .route("/api/v1/version", get(ops::version))
        .route("/api/v1/auth/info", get(auth::info))
        .route("/metrics", get(ops::metrics))
        .route("/api/v1/openapi.yaml", get(openapi::spec))
        .route("/api/login", post(ssh::login))
        .route("/api/refresh", post(ssh::refresh))
        .route("/api/userca", get(ssh::user_ca).post(ssh::user_ca))
        .route("/api/hostca", get(ssh::host_ca).post(ssh::host_ca))
        .route("/api/krlca", get(ssh::krl).post(ssh::krl))
        .fallback(ops::not_found)
        .method_not_allowed_fallback(ops::method_not_allowed)
        .layer(DefaultBodyLimit::max(limit))
        .layer(middleware::from_fn_with_state(state.clone(), observe))
        .with_state(state)
}

/// The public (enrollment) listener's router. Handlers see the connection as
/// `ConnectInfo<crate::tls::ConnInfo>` (peer address and presented client certificate chain).
pub fn public_router(services: Arc<Services>) -> Router {
    let scep = services
        .settings()
        .scep
        .enabled
        .then(|| crate::scep::router(services.clone()));
    Router::new()
        .merge(crate::acme::router(services.clone()))
        .merge(crate::est::router(services))
        .merge(scep.unwrap_or_default())
        .route(
            "/health",
            get(|| async { axum::Json(serde_json::json!({"status": "healthy"})) }),
        )
        .fallback(ops::not_found)
        .method_not_allowed_fallback(ops::method_not_allowed)
}

/// The token of an `Authorization: Bearer <token>` header, if there is one.
pub fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers
        .get(axum::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then_some(token.trim())
}

/// Constant-time token comparison; an empty expected token matches nothing.
fn token_eq(token: &str, expected: &str) -> bool {
    !expected.is_empty() && bool::from(token.as_bytes().ct_eq(expected.as_bytes()))
}

/// `Authorization: Bearer <token>` compared in constant time.
pub fn bearer_matches(headers: &HeaderMap, expected: &str) -> bool {
    bearer_token(headers).is_some_and(|t| token_eq(t, expected))
}

/// Writes an audit record on a blocking thread (a synced write); an error if it could not be
/// written, which the caller turns into a failed request.
async fn record(state: &Shared, event: AuditEvent) -> Result<(), ApiError> {
    let audit = state.services.audit.clone();
    match tokio::task::spawn_blocking(move || audit.record(event)).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => {
            tracing::error!(error = %e, "writing an audit record failed; failing the request");
            Err(ApiError::new(ErrorCode::Internal, "audit log unavailable"))
        }
        Err(_) => Err(ApiError::new(ErrorCode::Internal, "internal error")),
    }
}

/// Request metrics by matched route and status.
async fn observe(State(state): State<Shared>, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_string(), |p| p.as_str().to_string());
    let start = Instant::now();
    let resp = next.run(req).await;
    let m = state.services.metrics();
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

/// Query-string extractor whose rejections are `{error, message}` JSON (400).
#[derive(Debug)]
pub struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> axum::extract::FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, Self::Rejection> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(v)) => Ok(ApiQuery(v)),
            Err(rej) => Err(ApiError::new(ErrorCode::BadRequest, rej.body_text())),
        }
    }
}

/// Runs blocking service code off the async workers, as the request's actor.
pub async fn blocking<T: Send + 'static, E: Into<ApiError> + Send + 'static>(
    f: impl FnOnce() -> Result<T, E> + Send + 'static,
) -> Result<T, ApiError> {
    let actor = REQUEST_ACTOR.try_with(Actor::clone).ok();
    let f = move || match actor {
        Some(a) => with_actor(a, f),
        None => f(),
    };
    match tokio::task::spawn_blocking(f).await {
        Ok(r) => r.map_err(Into::into),
        Err(e) => {
            tracing::error!(error = %e, "request handler panicked");
            Err(ApiError::new(ErrorCode::Internal, "internal error"))
        }
    }
}
