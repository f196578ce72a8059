//! Signing in (`GET`/`POST /ui/login`), three ways, each through the admin API's own checks:
//!
//! - the admin token or an API key (`api::console_sign_in`: the failed-authentication limiter
//!   per source, failures audited as `auth.failure`);
//! - a Keyper user's name and password (`api::console_sign_in_keyper`: the same limiter, and
//!   the SSH service's own per-user login limit and `ssh.login` audit). A member of
//!   `[ssh] admin_group` gets the SSH permissions; any other user sees and changes only their
//!   own keys (`/ui/ssh`). The session keeps the user's refresh token and checks it on every
//!   request;
//! - the client certificate the admin listener verified against `[admin.tls] client_ca`
//!   (`mtls:<subject>`, an administrator, as on the API): offered only when the connection
//!   presented one.
//!
//! The form carries a token that must equal the short-lived `sigil_login` cookie (login CSRF).
//! A successful sign-in is audited as `console.sign_in` with how.

use std::time::Instant;

use axum::extract::ConnectInfo;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Form;
use maud::{html, Markup};
use serde::Deserialize;

use super::auth::{
    audit, cookie, peer, see_other, set_cookie, Signed, LOGIN_COOKIE, SESSION_COOKIE,
};
use super::session::{random_token, token_matches, KeyperUser, Who};
use super::{layout, State, UiError};
use crate::api::ConsolePrincipal;
use crate::tls::ConnInfo;

fn login_form(csrf: &str, certificate: Option<&str>, message: Option<&str>) -> Markup {
    layout::bare(
        "Sign in",
        html! {
            main class="signin" {
                h1 { "Sigil console" }
                @if let Some(m) = message {
                    p class="error" role="alert" { (m) }
                }
                @if let Some(subject) = certificate {
                    form method="post" action="/ui/login" {
                        input type="hidden" name="csrf" value=(csrf);
                        input type="hidden" name="method" value="certificate";
                        p { "Your client certificate: " span class="mono" { (subject) } }
                        button type="submit" { "Sign in with this certificate" }
                    }
                    hr;
                }
                form method="post" action="/ui/login" {
                    input type="hidden" name="csrf" value=(csrf);
                    label for="secret" { "Admin token or API key" }
                    input id="secret" name="secret" type="password" autocomplete="current-password" required autofocus;
                    button type="submit" { "Sign in" }
                }
                details {
                    summary { "Keyper user" }
                    form method="post" action="/ui/login" {
                        input type="hidden" name="csrf" value=(csrf);
                        input type="hidden" name="method" value="keyper";
                        label for="k-username" { "Username" }
                        input id="k-username" name="username" autocomplete="username" required;
                        label for="k-password" { "Password" }
                        input id="k-password" name="password" type="password" autocomplete="current-password" required;
                        button type="submit" { "Sign in as a Keyper user" }
                    }
                }
            }
        },
    )
}

/// The subject of a verified client certificate on this connection, if any.
fn certificate(conn: Option<&ConnectInfo<ConnInfo>>) -> Option<String> {
    crate::api::console_certificate(conn.map(|c| &c.0)).map(|p| {
        p.actor
            .strip_prefix("mtls:")
            .unwrap_or(&p.actor)
            .to_string()
    })
}

/// `GET /ui/login`: the form, with a fresh login token in a cookie and the form.
pub async fn login_page(
    axum::extract::State(console): State,
    conn: Option<axum::Extension<ConnectInfo<ConnInfo>>>,
    headers: HeaderMap,
) -> Response {
    if let Some(id) = cookie(&headers, SESSION_COOKIE) {
        if console.sessions.touch(id, Instant::now()).is_some() {
            return see_other("/ui/");
        }
    }
    let Some(token) = random_token() else {
        return UiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response();
    };
    let c = set_cookie(&console, LOGIN_COOKIE, &token, "/ui/login", Some(600));
    let cert = certificate(conn.as_ref().map(|c| &c.0));
    (
        [(header::SET_COOKIE, c)],
        login_form(&token, cert.as_deref(), None),
    )
        .into_response()
}

#[derive(Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    csrf: String,
    /// `certificate`, `keyper`, or empty (the admin token or an API key).
    #[serde(default)]
    method: String,
    #[serde(default)]
    secret: String,
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
}

impl std::fmt::Debug for LoginForm {
    /// Never the secret or the password.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginForm")
            .field("method", &self.method)
            .finish_non_exhaustive()
    }
}

/// `POST /ui/login`.
pub async fn login(
    axum::extract::State(console): State,
    conn: Option<axum::Extension<ConnectInfo<ConnInfo>>>,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Response {
    let expected = cookie(&headers, LOGIN_COOKIE).unwrap_or("");
    if !token_matches(&form.csrf, expected) {
        return UiError::new(
            StatusCode::FORBIDDEN,
            "the sign-in form expired or did not come from this console: reload it",
        )
        .into_response();
    }
    let conn = conn.as_ref().map(|c| &c.0);
    let cert = certificate(conn);
    let peer = peer(conn);
    let path = "/ui/login";
    let (signed_in, refused) = match form.method.as_str() {
        "certificate" => (
            Ok(crate::api::console_certificate(conn.map(|c| &c.0))),
            "Sign-in failed: this connection presented no client certificate the console trusts.",
        ),
        "keyper" => (
            crate::api::console_sign_in_keyper(
                &console.app,
                &form.username,
                &form.password,
                peer,
                path,
            )
            .await,
            "Sign-in failed: wrong username or password.",
        ),
        _ => (
            crate::api::console_sign_in(&console.app, &form.secret, peer, path)
                .await
                .map(|p| {
                    p.map(|(actor, permissions)| ConsolePrincipal {
                        actor,
                        permissions,
                        keyper: None,
                    })
                }),
            "Sign-in failed: wrong token or API key.",
        ),
    };
    let p: ConsolePrincipal = match signed_in {
        Ok(Some(p)) => p,
        Ok(None) => {
            let page = login_form(expected, cert.as_deref(), Some(refused));
            return (StatusCode::UNAUTHORIZED, page).into_response();
        }
        Err(e) => {
            let status = e.code.status();
            let page = login_form(expected, cert.as_deref(), Some(&e.message));
            let mut resp = (status, page).into_response();
            if let Some(secs) = e.retry_after() {
                resp.headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(secs));
            }
            return resp;
        }
    };
    let how = match (&p.keyper, p.actor.starts_with("mtls:")) {
        (Some(_), _) => "keyper",
        (None, true) => "certificate",
        (None, false) if p.actor.starts_with("apikey:") => "api_key",
        _ => "admin_token",
    };
    // A Keyper user outside the admin group has no permission but their own keys.
    let home = if p.keyper.is_some() && p.permissions.is_empty() {
        "/ui/ssh"
    } else {
        "/ui/"
    };
    let who = Who {
        api_key: p.actor.strip_prefix("apikey:").map(str::to_string),
        keyper: p
            .keyper
            .map(|(username, refresh)| KeyperUser { username, refresh }),
        actor: p.actor,
        permissions: p.permissions,
    };
    let Some((id, session)) = console.sessions.create(who, Instant::now()) else {
        return UiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response();
    };
    let signed = Signed {
        who: session.who,
        csrf: session.csrf,
        source: peer.map_or_else(String::new, |a| a.to_string()),
    };
    tracing::info!(actor = %signed.who.actor, source = %signed.source, how, "console sign-in");
    if let Err(e) = audit(
        &console,
        signed.actor(),
        "console.sign_in",
        path,
        serde_json::json!({ "with": how }),
        true,
    )
    .await
    {
        console.sessions.remove(&id);
        return e.into_response();
    }
    let mut resp = see_other(home);
    let h = resp.headers_mut();
    h.append(
        header::SET_COOKIE,
        set_cookie(&console, SESSION_COOKIE, &id, "/ui", None),
    );
    h.append(
        header::SET_COOKIE,
        set_cookie(&console, LOGIN_COOKIE, "", "/ui/login", Some(0)),
    );
    resp
}
