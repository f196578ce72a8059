//! The web console under `/ui/` on the admin listener (docs/CONSOLE.md): server-rendered HTML
//! (maud templates, escaped by default), one CSS and one JS file built into the binary, no
//! inline script or style. Pages call the same services the API handlers call, as the
//! signed-in actor (`audit::with_actor`), with the same RBAC permissions; never the store.
//!
//! | module | what |
//! |---|---|
//! | [`session`] | sessions in memory: random ids, CSRF tokens, idle timeout, lifetime |
//! | [`login`] | sign-in: admin token, API key, Keyper user, client certificate |
//! | [`auth`] | sign-out, the session and CSRF middleware, permission checks |
//! | [`layout`] | the page shell, navigation, paging links, error pages |
//! | [`assets`] | the CSS and JS, under a versioned path with long caching |
//! | [`dashboard`], [`cas`], [`certificates`], [`audit`], [`otps`], [`api_keys`], [`kes`], [`ssh`] | the pages |

mod api_keys;
mod assets;
mod audit;
mod auth;
mod cas;
mod certificates;
mod dashboard;
mod kes;
mod layout;
mod login;
mod otps;
pub mod session;
mod ssh;

use std::sync::Arc;

use axum::extract::Request;
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;

use crate::api::{ApiError, Shared};
use crate::audit::{with_actor, Actor};
use crate::services::Services;

/// The Content-Security-Policy of every console response: nothing inline, nothing from
/// elsewhere, no framing.
pub const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

/// The console's state: the API's state (services, tokens, limiter) and the sessions.
#[derive(Debug)]
pub struct Console {
    app: Shared,
    sessions: session::Sessions,
    /// Whether the admin listener is on TLS (the cookies are then `Secure`).
    tls: bool,
    /// The dashboard's certificate figures.
    stats: Arc<dashboard::stats::StatsCache>,
    /// Bulk revocations started from the console.
    bulk: certificates::bulk::BulkJobs,
    /// CRL regenerations started from the console.
    crl_jobs: cas::manage::CrlJobs,
    /// The data planes the dashboard reads.
    fleet: Arc<dashboard::fleet::Fleet>,
}

impl Console {
    fn services(&self) -> &Arc<Services> {
        self.app.services()
    }
}

type State = axum::extract::State<Arc<Console>>;

/// The console's routes (none when `[admin.console] enabled = false`), to merge into the
/// admin router.
pub fn router(app: Shared) -> Router<Shared> {
    let settings = app.services().settings();
    if !settings.admin.console.enabled {
        return Router::new();
    }
    let console = Arc::new(Console {
        sessions: session::Sessions::new(&settings.admin.console),
        tls: settings.admin.tls.is_some(),
        stats: Arc::default(),
        bulk: Default::default(),
        crl_jobs: Default::default(),
        fleet: Arc::new(dashboard::fleet::Fleet::new(
            settings.admin.console.data_planes.clone(),
        )),
        app,
    });
    console.stats.warm(console.services());
    let pages = Router::new()
        .route("/ui/", get(dashboard::page))
        .route("/ui/logout", post(auth::logout))
        .route("/ui/cas", get(cas::list))
        .route(
            "/ui/cas/new",
            get(cas::manage::new_form).post(cas::manage::create),
        )
        .route("/ui/cas/{id}", get(cas::detail))
        .route("/ui/cas/{id}/policy", post(cas::manage::set_policy))
        .route("/ui/cas/{id}/crl", post(cas::manage::regenerate_crl))
        .route("/ui/cas/{id}/enabled", post(cas::set_enabled))
        .route("/ui/certificates", get(certificates::list))
        .route(
            "/ui/certificates/issue",
            get(certificates::issue_form).post(certificates::issue),
        )
        .route(
            "/ui/certificates/bulk",
            get(certificates::bulk::preview).post(certificates::bulk::start),
        )
        .route(
            "/ui/certificates/bulk/{job}",
            get(certificates::bulk::status),
        )
        .route("/ui/certificates/{id}", get(certificates::detail))
        .route(
            "/ui/certificates/{id}/revoke",
            get(certificates::revoke_form).post(certificates::revoke),
        )
        .route("/ui/certificates/{id}/unhold", post(certificates::unhold))
        .route(
            "/ui/certificates/{id}/export/{kind}",
            get(certificates::export),
        )
        .route("/ui/audit", get(audit::list))
        .route("/ui/audit/verify", get(audit::verify))
        .route("/ui/otps", get(otps::list).post(otps::create))
        .route("/ui/otps/{id}/delete", post(otps::delete))
        .route("/ui/apikeys", get(api_keys::list).post(api_keys::create))
        .route("/ui/apikeys/{id}/revoke", post(api_keys::revoke))
        .route("/ui/kes", get(kes::page))
        .route("/ui/kes/keys", post(kes::create_key))
        .route("/ui/kes/keys/{name}/rotate", post(kes::rotate_key))
        .route("/ui/kes/keys/{name}/delete", post(kes::delete_key))
        .route("/ui/kes/policies", post(kes::write_policy))
        .route("/ui/kes/policies/{name}/delete", post(kes::delete_policy))
        .route("/ui/kes/identities", post(kes::assign))
        .route("/ui/kes/identities/{identity}/forget", post(kes::forget))
        .route("/ui/ssh", get(ssh::page))
        .route("/ui/ssh/users", post(ssh::create_user))
        .route("/ui/ssh/keys", post(ssh::add_key))
        .route(
            "/ui/ssh/users/{user}/keys/{keyid}/revoke",
            post(ssh::revoke_key),
        )
        .route("/ui/ssh/users/{user}/lock", post(ssh::lock_user))
        .route("/ui/ssh/users/{user}/delete", post(ssh::delete_user))
        .route("/ui/ssh/hosts", post(ssh::create_host))
        .route("/ui/ssh/hosts/{host}/delete", post(ssh::delete_host))
        .route("/ui/ssh/hosts/{host}/certs", post(ssh::sign_host_cert))
        .route("/ui/ssh/groups/{group}/members", post(ssh::set_members))
        .route("/ui/ssh/groups", post(ssh::create_group))
        .route("/ui/ssh/groups/{group}/delete", post(ssh::delete_group))
        .route(
            "/ui/{*rest}",
            get(layout::not_found).post(layout::not_found),
        )
        .route_layer(middleware::from_fn_with_state(
            console.clone(),
            auth::require_session,
        ));
    Router::new()
        .merge(pages)
        .route("/ui", get(|| async { Redirect::to("/ui/") }))
        .route("/ui/login", get(login::login_page).post(login::login))
        .route("/ui/static/{version}/{file}", get(assets::serve))
        .layer(middleware::from_fn(secure_headers))
        .with_state(console)
}

/// Every console response: CSP, `nosniff`, no referrer, no framing; pages are not cached
/// (the static files set their own caching).
async fn secure_headers(req: Request, next: Next) -> Response {
    let mut resp = next.run(req).await;
    let h = resp.headers_mut();
    for (name, value) in [
        (header::CONTENT_SECURITY_POLICY, CSP),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::X_FRAME_OPTIONS, "DENY"),
    ] {
        h.insert(name, HeaderValue::from_static(value));
    }
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    resp
}

/// A failed console request: an HTML page with the status and a stable message (the API's
/// message for a service error).
#[derive(Debug)]
pub struct UiError {
    pub status: StatusCode,
    pub message: String,
}

impl UiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
        }
    }
}

impl From<ApiError> for UiError {
    fn from(e: ApiError) -> Self {
        Self::new(e.code.status(), e.message)
    }
}

impl IntoResponse for UiError {
    fn into_response(self) -> Response {
        (self.status, layout::error_page(self.status, &self.message)).into_response()
    }
}

/// Runs blocking service code off the async workers as `actor` (the audit records the
/// services write name it); errors as the API maps them.
pub async fn run<T: Send + 'static, E: Into<ApiError> + Send + 'static>(
    actor: Actor,
    f: impl FnOnce() -> Result<T, E> + Send + 'static,
) -> Result<T, UiError> {
    match tokio::task::spawn_blocking(move || with_actor(actor, f)).await {
        Ok(r) => r.map_err(|e| UiError::from(e.into())),
        Err(e) => {
            tracing::error!(error = %e, "console handler panicked");
            Err(UiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal error",
            ))
        }
    }
}
