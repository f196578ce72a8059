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
//! written the request fails. A mutating call is audited by the service in the same write as
//! its change; one that fails (4xx/5xx) is audited here. The SSH service's [`Caller`] (an
//! administrator, or the Keyper user acting on themselves) goes into the request's
//! extensions.

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
    let permissions = if user.admin {
        rbac::SSH_ADMIN_PERMISSIONS
            .iter()
            .map(|p| p.to_string())
            .collect()
    } else {
        Vec::new()
    };
    Principal {
        id: format!("keyper:{}", user.username),
        permissions,
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
    let Some(who) = identify(&state, token, conn.as_ref()).await? else {
        tracing::warn!(%path, %source, "admin API authentication failed");
        let details = serde_json::json!({"method": method.as_str(), "credentials": if present { "invalid" } else { "missing" }});
        record(
            &state,
            event("anonymous", &source, "auth.failure", &path, details),
        )
        .await?;
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
