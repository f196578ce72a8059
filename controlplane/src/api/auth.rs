//! Authentication and authorization of the admin API.
//!
//! Who is calling, in this order:
//! 1. a TLS client certificate on the admin listener, verified by the handshake against
//!    `[admin.tls] client_ca` → `mtls:<subject>`, role admin;
//! 2. `Authorization: Bearer` equal to the admin token (constant time) → `bearer:admin`;
//! 3. `Authorization: Bearer sgk_…`, an active API key → `apikey:<id>` with its permissions;
//! 4. `Authorization: Bearer <JWT>`, a valid Keyper access token (`POST /api/login`) →
//!    `keyper:<user>`: a member of `[ssh] admin_group` has `read:`/`write:`/`delete:ssh`
//!    (Keyper's routes only), any other user may only read and change themselves
//!    (`rbac::keyper_self_service`; the service limits what they change).
//!
//! Then the route's permission (`crate::rbac`) must be granted: 401 without valid
//! credentials, 403 without the permission. Both are audited; if the audit record cannot be
//! written the request fails. Failed authentication is limited per source ([`limit`],
//! `[admin.auth_limit]`): a source that failed too often is answered 429 with `Retry-After`
//! before its credentials are looked at (a client certificate, verified by the handshake,
//! is never refused); only the first failures of each window are audited one by one, the
//! rest in one summary record (`auth.failure.summary`) when the window ends. A mutating call is audited by the service in the same write as
//! its change; one that fails (4xx/5xx) is audited here. The SSH service's [`Caller`] (an
//! administrator, or the Keyper user acting on themselves) goes into the request's
//! extensions.

pub mod info;
pub mod limit;

pub use info::{check, info};

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use der::Decode;

use super::{bearer_token, record, ApiError, ErrorCode, Shared, REQUEST_ACTOR};
use crate::audit::{Actor, AuditEvent};
use crate::rbac;
use crate::services::ssh::auth::AuthUser;
use crate::services::ssh::token::looks_like_jwt;
use crate::services::ssh::Caller;
use crate::services::Services;
use crate::tls::ConnInfo;

/// An authenticated caller.
#[derive(Debug, Clone)]
struct Principal {
    id: String,
    permissions: Vec<String>,
    /// A Keyper user (token from `POST /api/login`).
    keyper: Option<AuthUser>,
}

fn admin(id: String) -> Principal {
    Principal {
        id,
        permissions: vec!["*".into()],
        keyper: None,
    }
}

/// What a Keyper user's token grants beside their own account.
fn keyper(user: AuthUser) -> Principal {
    Principal {
        id: format!("keyper:{}", user.username),
        permissions: keyper_permissions(user.admin),
        keyper: Some(user),
    }
}

/// The subject of a verified client certificate (RFC 4514 string).
fn cert_subject(der: &[u8]) -> String {
    x509_cert::Certificate::from_der(der)
        .map(|c| c.tbs_certificate.subject.to_string())
        .unwrap_or_else(|_| "unparsable".into())
}

/// Who is calling; `None` when no valid credentials were presented.
async fn identify(
    state: &Shared,
    token: Option<String>,
    conn: Option<&ConnInfo>,
) -> Result<Option<Principal>, ApiError> {
    if let Some(cert) = conn.and_then(ConnInfo::client_cert) {
        return Ok(Some(admin(format!("mtls:{}", cert_subject(cert)))));
    }
    let Some(token) = token else {
        return Ok(None);
    };
    let token = token.as_str();
    if super::token_eq(token, &state.admin_token) {
        return Ok(Some(admin("bearer:admin".into())));
    }
    if looks_like_jwt(token) {
        let (ssh, token) = (state.services.ssh.clone(), token.to_string());
        let user = super::blocking(move || ssh.authenticate(&token)).await?;
        return Ok(user.map(keyper));
    }
    if !token.starts_with("sgk_") {
        return Ok(None);
    }
    let (keys, token) = (state.services.api_keys.clone(), token.to_string());
    let key = super::blocking(move || keys.authenticate_api_key(&token)).await?;
    Ok(key.map(|k| Principal {
        id: format!("apikey:{}", k.id),
        permissions: k.effective_permissions(),
        keyper: None,
    }))
}

fn event(
    actor: &str,
    source: &str,
    action: &str,
    path: &str,
    details: serde_json::Value,
) -> AuditEvent {
    AuditEvent {
        actor: actor.into(),
        actor_type: "User".into(),
        action: action.into(),
        resource_type: "api".into(),
        resource_id: path.into(),
        success: false,
        source: source.into(),
        details: details.to_string(),
    }
}

/// The middleware on every management route (see the module documentation).
pub async fn require_auth(
    State(state): State<Shared>,
    mut req: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let conn = req
        .extensions()
        .get::<ConnectInfo<ConnInfo>>()
        .map(|c| c.0.clone());
    let source = conn
        .as_ref()
        .map_or_else(String::new, |c| c.remote.to_string());
    let path = req.uri().path().to_string();
    let method = req.method().clone();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| path.clone(), |p| p.as_str().to_string());
    let token = bearer_token(req.headers()).map(str::to_string);
    let present = req
        .headers()
        .contains_key(axum::http::header::AUTHORIZATION);
    // A verified client certificate authenticates by itself: never limited.
    let peer = conn
        .as_ref()
        .filter(|c| c.client_cert().is_none())
        .map(|c| c.remote);
    admit(&state, peer.as_ref(), method.as_str(), &path).await?;
    let Some(who) = identify(&state, token, conn.as_ref()).await? else {
        let credentials = if present { "invalid" } else { "missing" };
        if failed(&state, peer.as_ref()).await {
            tracing::warn!(%path, %source, credentials, "admin API authentication failed");
            let details =
                serde_json::json!({"method": method.as_str(), "credentials": credentials});
            record(
                &state,
                event("anonymous", &source, "auth.failure", &path, details),
            )
            .await?;
        } else {
            tracing::debug!(%path, %source, credentials, "admin API authentication failed (audited in the window's summary)");
        }
        return Err(ApiError::new(
            ErrorCode::Unauthorized,
            "missing or invalid credentials: send a bearer token or API key, or a trusted client certificate",
        ));
    };
    let needed = rbac::required_permission(method.as_str(), &route);
    let own =
        who.keyper.as_ref().filter(|u| !u.admin).is_some_and(|u| {
            rbac::keyper_self_service(method.as_str(), &route, &path, &u.username)
        });
    if !own && !rbac::allows(&who.permissions, needed) {
        tracing::warn!(actor = %who.id, %path, needed, "admin API permission denied");
        let details = serde_json::json!({"method": method.as_str(), "required": needed});
        record(
            &state,
            event(&who.id, &source, "auth.denied", &path, details),
        )
        .await?;
        return Err(ApiError::new(
            ErrorCode::Forbidden,
            format!("this credential lacks the permission {needed:?}"),
        ));
    }
    let caller = match who.keyper {
        Some(u) if !u.admin => Caller::User(u.username),
        _ => Caller::Admin,
    };
    req.extensions_mut().insert(caller);
    req.extensions_mut()
        .insert(info::Granted(who.permissions.clone()));
    let actor = Actor {
        id: who.id,
        actor_type: "User",
        source,
    };
    let resp = REQUEST_ACTOR.scope(actor.clone(), next.run(req)).await;
    let mutating = !matches!(method.as_str(), "GET" | "HEAD" | "OPTIONS");
    if mutating && (resp.status().is_client_error() || resp.status().is_server_error()) {
        let mut ev = event(
            &actor.id,
            &actor.source,
            &format!("{method} {route}"),
            &path,
            serde_json::json!({"status": resp.status().as_u16()}),
        );
        ev.actor_type = actor.actor_type.into();
        record(&state, ev).await?;
    }
    Ok(resp)
}

fn lock(l: &Mutex<limit::AuthLimiter>) -> MutexGuard<'_, limit::AuthLimiter> {
    l.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Refuses (429, `Retry-After`) a source that failed to authenticate too often, auditing the
/// refusal within the window's budget. `None` (no peer address, or a client certificate):
/// admitted.
pub(in crate::api) async fn admit(
    state: &Shared,
    peer: Option<&SocketAddr>,
    method: &str,
    path: &str,
) -> Result<(), ApiError> {
    let Some(addr) = peer else { return Ok(()) };
    let key = limit::source_key(addr);
    let now = Instant::now();
    let (verdict, summary) = {
        let mut l = lock(&state.auth_limit);
        let summary = l.roll(now);
        (l.check(&key, now), summary)
    };
    if let Some(s) = summary {
        write_summary(state.services.clone(), s).await;
    }
    let Err(limited) = verdict else { return Ok(()) };
    let secs = limited.retry_after_secs();
    if limited.audit {
        tracing::warn!(source = %addr, %path, retry_after = secs, "admin API authentication refused: too many failures from this source");
        let details = serde_json::json!({"method": method, "retry_after": secs});
        record(
            state,
            event(
                "anonymous",
                &addr.to_string(),
                "auth.rate_limited",
                path,
                details,
            ),
        )
        .await?;
    }
    Err(ApiError::new(
        ErrorCode::TooManyRequests,
        format!("too many failed authentications from this address: retry after {secs} s"),
    )
    .with_retry_after(secs))
}

/// Records a failed authentication of `peer`: whether to audit it one by one (else it is
/// counted in the window's summary).
pub(in crate::api) async fn failed(state: &Shared, peer: Option<&SocketAddr>) -> bool {
    let Some(addr) = peer else { return true };
    let key = limit::source_key(addr);
    let now = Instant::now();
    let (audit, summary) = {
        let mut l = lock(&state.auth_limit);
        let summary = l.roll(now);
        (l.fail(&key, now), summary)
    };
    if let Some(s) = summary {
        write_summary(state.services.clone(), s).await;
    }
    audit
}

/// A failed check of the replication token (`what`) from `peer`: counted against the
/// source's limit and audited within the window's budget (`auth.failure`). An error only if
/// the audit record could not be written.
pub(in crate::api) async fn token_failure(
    state: &Shared,
    peer: Option<&SocketAddr>,
    method: &str,
    path: &str,
    what: &str,
) -> Result<(), ApiError> {
    if !failed(state, peer).await {
        tracing::debug!(%path, "{what} authentication failed (audited in the window's summary)");
        return Ok(());
    }
    let source = peer.map_or_else(String::new, |a| a.to_string());
    tracing::warn!(%path, %source, "{what} authentication failed");
    let details = serde_json::json!({"method": method, "credentials": what});
    record(
        state,
        event("anonymous", &source, "auth.failure", path, details),
    )
    .await
}

/// Writes the summary of a window's unaudited failures (an error is logged: the requests it
/// counts were answered already).
async fn write_summary(services: Arc<Services>, s: limit::Summary) {
    tracing::warn!(
        failures = s.failures,
        refused = s.refused,
        sources = s.sources,
        window_secs = s.window_secs,
        "admin API: failed authentications not audited one by one in the last window"
    );
    let details = serde_json::to_value(&s).unwrap_or_default();
    let ev = event("anonymous", "", "auth.failure.summary", "", details);
    let audit = services.audit.clone();
    match tokio::task::spawn_blocking(move || audit.record(ev)).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => {
            tracing::error!(error = %e, "writing the audit summary of failed authentication failed")
        }
        Err(e) => {
            tracing::error!(error = %e, "writing the audit summary of failed authentication panicked")
        }
    }
}

/// Within a tokio runtime, starts the task that writes each window's summary when the window
/// ends (also when no request comes to roll it); it stops when the limiter is dropped.
pub(super) fn spawn_summaries(services: &Arc<Services>, limiter: &Arc<Mutex<limit::AuthLimiter>>) {
    let Ok(rt) = tokio::runtime::Handle::try_current() else {
        return;
    };
    let period = (lock(limiter).window_len() / 4).max(Duration::from_secs(1));
    let weak = Arc::downgrade(limiter);
    let services = Arc::downgrade(services);
    rt.spawn(async move {
        let mut tick = tokio::time::interval(period);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let (Some(l), Some(services)) = (weak.upgrade(), services.upgrade()) else {
                return;
            };
            let summary = lock(&l).roll(Instant::now());
            drop(l);
            if let Some(s) = summary {
                write_summary(services, s).await;
            }
        }
    });
}

/// Who a console session belongs to ([`console_sign_in`] and the console's own checks).
#[derive(Debug, Clone)]
pub struct ConsolePrincipal {
    /// The audit actor: `bearer:admin`, `apikey:<id>`, `mtls:<subject>`, `keyper:<user>`.
    pub actor: String,
    pub permissions: Vec<String>,
    /// A Keyper user: their name and refresh token (checked again on every request).
    pub keyper: Option<(String, String)>,
}

/// What a Keyper user may do beside acting on their own account: an `[ssh] admin_group`
/// member gets the SSH permissions (API and console alike), any other user none.
pub(crate) fn keyper_permissions(admin: bool) -> Vec<String> {
    if admin {
        rbac::SSH_ADMIN_PERMISSIONS
            .iter()
            .map(|p| p.to_string())
            .collect()
    } else {
        Vec::new()
    }
}

/// The console's sign-in with the client certificate the admin listener verified (against
/// `[admin.tls] client_ca`): `mtls:<subject>`, an administrator, as on the API. `None`
/// without one.
pub(crate) fn console_certificate(conn: Option<&ConnInfo>) -> Option<ConsolePrincipal> {
    let cert = conn.and_then(ConnInfo::client_cert)?;
    let p = admin(format!("mtls:{}", cert_subject(cert)));
    Some(ConsolePrincipal {
        actor: p.id,
        permissions: p.permissions,
        keyper: None,
    })
}

/// The console's sign-in with a Keyper user's name and password: limited per source like
/// every failed authentication, and by the SSH service per user (its login is audited as
/// `ssh.login`, as `POST /api/login` is). `None` for a wrong name or password; a locked
/// account or a user over the login limit gets the service's error.
pub(crate) async fn console_sign_in_keyper(
    state: &Shared,
    username: &str,
    password: &str,
    peer: Option<SocketAddr>,
    path: &str,
) -> Result<Option<ConsolePrincipal>, ApiError> {
    admit(state, peer.as_ref(), "POST", path).await?;
    let ssh = state.services.ssh.clone();
    let req = sigil_ssh::keyper::LoginRequest {
        username: username.trim().to_string(),
        password: password.to_string(),
    };
    let login = super::blocking(move || {
        let r = match ssh.login(&req) {
            Ok(r) => r,
            Err(crate::services::SshError::Unauthorized(m))
                if m == crate::services::ssh::auth::BAD_LOGIN =>
            {
                return Ok(None)
            }
            Err(e) => return Err(e),
        };
        let user = ssh.authenticate(&r.access_token)?;
        Ok(user.map(|u| (u, r.refresh_token)))
    })
    .await?;
    match login {
        Some((user, refresh)) => Ok(Some(ConsolePrincipal {
            actor: format!("keyper:{}", user.username),
            permissions: keyper_permissions(user.admin),
            keyper: Some((user.username, refresh)),
        })),
        None => {
            // Counted against the source; the SSH service audited the failure already.
            failed(state, peer.as_ref()).await;
            Ok(None)
        }
    }
}

/// The web console's sign-in (`crate::ui`) with the admin token or an API key (`secret`),
/// limited and audited like a management request's credentials: a source that failed too
/// often is refused (429) before the secret is looked at; a wrong secret counts against its
/// limit and is audited (`auth.failure`, within the window's budget). Returns the actor id and
/// its permissions, `None` for a wrong secret. Keyper logins and client certificates are not
/// accepted here (yet).
pub(crate) async fn console_sign_in(
    state: &Shared,
    secret: &str,
    peer: Option<SocketAddr>,
    path: &str,
) -> Result<Option<(String, Vec<String>)>, ApiError> {
    admit(state, peer.as_ref(), "POST", path).await?;
    let secret = secret.trim();
    let who = if looks_like_jwt(secret) || secret.is_empty() {
        None
    } else {
        identify(state, Some(secret.to_string()), None).await?
    };
    if let Some(p) = who {
        return Ok(Some((p.id, p.permissions)));
    }
    let source = peer.map_or_else(String::new, |a| a.to_string());
    if failed(state, peer.as_ref()).await {
        tracing::warn!(%path, %source, "console sign-in failed");
        let details = serde_json::json!({"method": "POST", "credentials": "invalid"});
        record(
            state,
            event("anonymous", &source, "auth.failure", path, details),
        )
        .await?;
    }
    Ok(None)
}
