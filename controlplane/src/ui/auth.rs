//! Sign-in, sign-out and the middleware in front of every console page.
//!
//! - Sign-in (`POST /ui/login`): [`super::login`]. A session gets a random 256-bit id in the
//!   `sigil_session` cookie (`HttpOnly`, `SameSite=Strict`, `Path=/ui`, `Secure` on TLS) and a
//!   CSRF token.
//! - [`require_session`]: no live session → 303 to `/ui/login`; an API key's session is
//!   checked against the key, a Keyper user's against their refresh token, on every request
//!   (revoked, expired, locked, deleted, new password → signed out; permissions read again); every POST must carry the session's CSRF token in the `csrf`
//!   field (else 403, audited); a POST answered 4xx/5xx is audited as the API's middleware
//!   does. The page handlers get [`Signed`].

use std::net::SocketAddr;
use std::time::Instant;

use axum::body::Body;
use axum::extract::{ConnectInfo, Request};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};

use super::session::{token_matches, Who};
use super::{run, Console, State, UiError};
use crate::audit::{Actor, AuditEvent};
use crate::rbac;
use crate::tls::ConnInfo;

pub const SESSION_COOKIE: &str = "sigil_session";
pub(super) const LOGIN_COOKIE: &str = "sigil_login";

/// The signed-in caller of a console request.
#[derive(Debug, Clone)]
pub struct Signed {
    pub who: Who,
    pub csrf: String,
    /// The client's address (the audit records' source).
    pub source: String,
}

impl Signed {
    pub fn can(&self, permission: &str) -> bool {
        rbac::allows(&self.who.permissions, permission)
    }

    pub fn actor(&self) -> Actor {
        Actor {
            id: self.who.actor.clone(),
            actor_type: "User",
            source: self.source.clone(),
        }
    }

    /// 403 (audited as `auth.denied`, as the API does) unless the caller has `permission`.
    pub async fn require(&self, console: &Console, permission: &str) -> Result<(), UiError> {
        if self.can(permission) {
            return Ok(());
        }
        tracing::warn!(actor = %self.who.actor, needed = permission, "console permission denied");
        let details = serde_json::json!({"required": permission, "via": "console"});
        audit(
            console,
            self.actor(),
            "auth.denied",
            "console",
            details,
            false,
        )
        .await?;
        Err(UiError::new(
            StatusCode::FORBIDDEN,
            format!("your sign-in lacks the permission {permission:?}"),
        ))
    }
}

/// Writes an audit record as `actor` through the audit trail service.
pub async fn audit(
    console: &Console,
    actor: Actor,
    action: &str,
    resource_id: &str,
    details: serde_json::Value,
    success: bool,
) -> Result<(), UiError> {
    let ev = AuditEvent {
        actor: actor.id.clone(),
        actor_type: actor.actor_type.into(),
        action: action.into(),
        resource_type: "console".into(),
        resource_id: resource_id.into(),
        success,
        source: actor.source.clone(),
        details: details.to_string(),
    };
    let trail = console.services().audit.clone();
    run(actor, move || trail.record(ev)).await
}

/// The value of cookie `name` in the request's `Cookie` headers.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

pub(super) fn set_cookie(
    console: &Console,
    name: &str,
    value: &str,
    path: &str,
    max_age: Option<u64>,
) -> HeaderValue {
    let mut c = format!("{name}={value}; Path={path}; HttpOnly; SameSite=Strict");
    if let Some(secs) = max_age {
        c.push_str(&format!("; Max-Age={secs}"));
    }
    if console.tls {
        c.push_str("; Secure");
    }
    HeaderValue::from_str(&c).unwrap_or_else(|_| HeaderValue::from_static(""))
}

pub(super) fn peer(req_conn: Option<&ConnectInfo<ConnInfo>>) -> Option<SocketAddr> {
    req_conn.map(|c| c.0.remote)
}

pub(super) fn see_other(to: &str) -> Response {
    Redirect::to(to).into_response()
}

/// `POST /ui/logout` (CSRF-checked by [`require_session`]).
pub async fn logout(
    axum::extract::State(console): State,
    axum::Extension(signed): axum::Extension<Signed>,
    headers: HeaderMap,
) -> Result<Response, UiError> {
    if let Some(id) = cookie(&headers, SESSION_COOKIE) {
        console.sessions.remove(id);
    }
    audit(
        &console,
        signed.actor(),
        "console.sign_out",
        "/ui/logout",
        serde_json::json!({}),
        true,
    )
    .await?;
    let mut resp = see_other("/ui/login");
    resp.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(&console, SESSION_COOKIE, "", "/ui", Some(0)),
    );
    Ok(resp)
}

/// The session's permissions now: an API key's are read again, a Keyper user's from their
/// refresh token (`None`: the key was revoked, expired or deleted, or the user was locked,
/// deleted or changed their password, so the session ends).
async fn current_permissions(
    console: &Console,
    signed: &Signed,
) -> Result<Option<Vec<String>>, UiError> {
    if let Some(k) = &signed.who.keyper {
        let (ssh, refresh) = (console.services().ssh.clone(), k.refresh.clone());
        let user = run(signed.actor(), move || ssh.authenticate_refresh(&refresh)).await?;
        return Ok(user.map(|u| crate::api::keyper_permissions(u.admin)));
    }
    let Some(key_id) = signed.who.api_key.clone() else {
        return Ok(Some(signed.who.permissions.clone()));
    };
    let keys = console.services().api_keys.clone();
    let rec = run(signed.actor(), move || match keys.api_key(&key_id) {
        Ok(k) => Ok(Some(k)),
        Err(crate::services::ApiKeyError::NotFound { .. }) => Ok(None),
        Err(e) => Err(e),
    })
    .await?;
    let now = sigil_shared::time::now_unix();
    Ok(rec
        .filter(|k| k.active(now))
        .map(|k| k.effective_permissions()))
}

/// The middleware in front of every page (see the module documentation).
pub async fn require_session(
    axum::extract::State(console): State,
    req: Request,
    next: Next,
) -> Result<Response, UiError> {
    let Some(id) = cookie(req.headers(), SESSION_COOKIE).map(str::to_string) else {
        return Ok(see_other("/ui/login"));
    };
    let Some(session) = console.sessions.touch(&id, Instant::now()) else {
        return Ok(see_other("/ui/login"));
    };
    let source = req
        .extensions()
        .get::<ConnectInfo<ConnInfo>>()
        .map_or_else(String::new, |c| c.0.remote.to_string());
    let mut signed = Signed {
        who: session.who,
        csrf: session.csrf,
        source,
    };
    match current_permissions(&console, &signed).await? {
        Some(p) => {
            if p != signed.who.permissions {
                console.sessions.set_permissions(&id, p.clone());
                signed.who.permissions = p;
            }
        }
        None => {
            console.sessions.remove(&id);
            return Ok(see_other("/ui/login"));
        }
    }
    let path = req.uri().path().to_string();
    let post = req.method() == Method::POST;
    let req = if post {
        check_csrf(&console, &signed, req, &path).await?
    } else {
        req
    };
    let mut req = req;
    req.extensions_mut().insert(signed.clone());
    let resp = next.run(req).await;
    if post && (resp.status().is_client_error() || resp.status().is_server_error()) {
        let details = serde_json::json!({"status": resp.status().as_u16(), "via": "console"});
        audit(
            &console,
            signed.actor(),
            &format!("POST {path}"),
            &path,
            details,
            false,
        )
        .await?;
    }
    Ok(resp)
}

/// Reads the form body of a POST and checks its `csrf` field against the session's; the
/// request is rebuilt with the same body for the handler.
async fn check_csrf(
    console: &Console,
    signed: &Signed,
    req: Request,
    path: &str,
) -> Result<Request, UiError> {
    let limit = console.services().settings().admin.max_body_bytes;
    let (parts, body) = req.into_parts();
    let bytes = axum::body::to_bytes(body, limit)
        .await
        .map_err(|_| UiError::new(StatusCode::PAYLOAD_TOO_LARGE, "request body too large"))?;
    let fields: Vec<(String, String)> = serde_urlencoded::from_bytes(&bytes).unwrap_or_default();
    let given = fields
        .iter()
        .find(|(k, _)| k == "csrf")
        .map_or("", |(_, v)| v.as_str());
    if !token_matches(given, &signed.csrf) {
        tracing::warn!(actor = %signed.who.actor, %path, "console request without a valid CSRF token");
        let details = serde_json::json!({"reason": "csrf", "via": "console"});
        audit(console, signed.actor(), "auth.denied", path, details, false).await?;
        return Err(UiError::new(
            StatusCode::FORBIDDEN,
            "missing or wrong CSRF token: reload the page and try again",
        ));
    }
    Ok(Request::from_parts(parts, Body::from(bytes)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_are_found_among_others() {
        let mut h = HeaderMap::new();
        h.append(
            header::COOKIE,
            HeaderValue::from_static("a=1; sigil_session=xyz"),
        );
        h.append(header::COOKIE, HeaderValue::from_static("sigil_login=abc"));
        assert_eq!(cookie(&h, SESSION_COOKIE), Some("xyz"));
        assert_eq!(cookie(&h, LOGIN_COOKIE), Some("abc"));
        assert_eq!(cookie(&h, "b"), None);
    }
}
