//! Keyper's REST API (dbsentry Keyper, "REST API") under `/api/`, on the admin listener:
//! `POST /api/login` and `/api/refresh` (Keyper's JWTs), `/api/users[/{username}]`,
//! `/api/hosts[/{hostname}]`, `/api/groups[/{groupname}]` (GET, POST, PUT, DELETE, Keyper's
//! JSON shapes), and, without credentials, the CAs' public keys and the KRL
//! (`/api/userca`, `/api/hostca`, `/api/krlca`, GET or POST as Keyper serves them).
//!
//! Who may call the management routes is decided by `api::auth` (a Keyper token, Sigil's
//! admin token, an API key with `read:`/`write:`/`delete:ssh`, a trusted client
//! certificate); a Keyper user who is not an administrator reaches only their own
//! `/api/users/{username}` and the service limits what they change ([`Caller`]). Writes
//! answer `X-Sigil-Seq`, the sequence number of their commit.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use sigil_ssh::keyper::{
    GroupUpdate, HostUpdate, LoginRequest, NewGroup, NewHost, NewUser, UserUpdate,
};

use super::{
    auth, bearer_token, blocking, record, ApiError, ApiJson, ErrorCode, Shared, REQUEST_ACTOR,
};
use crate::audit::{Actor, AuditEvent};
use crate::services::ssh::Caller;
use crate::tls::ConnInfo;

/// The header carrying a write's commit sequence number (as the key service's API).
const SEQ_HEADER: &str = "x-sigil-seq";

fn with_seq(seq: u64, resp: impl IntoResponse) -> Response {
    ([(SEQ_HEADER, seq.to_string())], resp).into_response()
}

fn peer(conn: Option<Extension<ConnectInfo<ConnInfo>>>) -> Option<SocketAddr> {
    conn.map(|Extension(ConnectInfo(c))| c.remote)
}

fn source(peer: Option<SocketAddr>) -> String {
    peer.map_or_else(String::new, |a| a.to_string())
}

/// `POST /api/login`: `{"username", "password"}` → Keyper's tokens and the user. Every
/// failure is 401 and audited (`ssh.login`), and counts against the source's limit of failed
/// authentication (429 once spent, `[admin.auth_limit]`).
pub async fn login(
    State(state): State<Shared>,
    conn: Option<Extension<ConnectInfo<ConnInfo>>>,
    ApiJson(req): ApiJson<LoginRequest>,
) -> Result<Response, ApiError> {
    let peer = peer(conn);
    auth::admit(&state, peer.as_ref(), "POST", "/api/login").await?;
    let actor = Actor {
        id: format!(
            "keyper:{}",
            req.username.chars().take(64).collect::<String>()
        ),
        actor_type: "User",
        source: source(peer),
    };
    let ssh = state.services.ssh.clone();
    let out = REQUEST_ACTOR
        .scope(actor, blocking(move || ssh.login(&req)))
        .await;
    if out
        .as_ref()
        .is_err_and(|e| e.code == ErrorCode::Unauthorized)
    {
        auth::failed(&state, peer.as_ref()).await;
    }
    Ok(Json(out?).into_response())
}

/// `POST /api/refresh` with the refresh token as `Authorization: Bearer`: a new access
/// token. A missing or invalid token is 401 (audited as `auth.failure`).
pub async fn refresh(
    State(state): State<Shared>,
    conn: Option<Extension<ConnectInfo<ConnInfo>>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let peer = peer(conn);
    auth::admit(&state, peer.as_ref(), "POST", "/api/refresh").await?;
    let token = bearer_token(&headers).map(str::to_string);
    let ssh = state.services.ssh.clone();
    let result = match token {
        Some(t) => blocking(move || ssh.refresh(&t)).await,
        None => Err(ApiError::new(
            ErrorCode::Unauthorized,
            "missing refresh token: send it as Authorization: Bearer",
        )),
    };
    match result {
        Ok(r) => Ok(Json(r).into_response()),
        Err(e) => {
            if e.code == ErrorCode::Unauthorized && auth::failed(&state, peer.as_ref()).await {
                let event = AuditEvent {
                    actor: "anonymous".into(),
                    actor_type: "User".into(),
                    action: "auth.failure".into(),
                    resource_type: "api".into(),
                    resource_id: "/api/refresh".into(),
                    success: false,
                    source: source(peer),
                    details: serde_json::json!({"method": "POST", "credentials": "refresh token"})
                        .to_string(),
                };
                record(&state, event).await?;
            }
            Err(e)
        }
    }
}

/// `GET|POST /api/userca`: the user CA's public key, one line (`TrustedUserCAKeys`).
pub async fn user_ca(State(state): State<Shared>) -> Response {
    text(format!("{}\n", state.services.ssh.user_ca()))
}

/// `GET|POST /api/hostca`: the host CA's public key, one line (`@cert-authority`).
pub async fn host_ca(State(state): State<Shared>) -> Response {
    text(format!("{}\n", state.services.ssh.host_ca()))
}

fn text(body: String) -> Response {
    ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], body).into_response()
}

/// `GET|POST /api/krlca`: the current KRL, binary (`RevokedKeys`).
pub async fn krl(State(state): State<Shared>) -> Result<Response, ApiError> {
    let ssh = state.services.ssh.clone();
    let krl = blocking(move || ssh.krl()).await?;
    Ok((
        [
            (header::CONTENT_TYPE, "application/octet-stream".to_string()),
            (
                header::HeaderName::from_static("x-sigil-krl-version"),
                krl.version.to_string(),
            ),
        ],
        krl.krl,
    )
        .into_response())
}

pub async fn list_users(State(state): State<Shared>) -> Result<Response, ApiError> {
    let ssh = state.services.ssh.clone();
    Ok(Json(blocking(move || ssh.list_users()).await?).into_response())
}

/// `POST /api/users`: 201 with a one-element list, as Keyper answers.
pub async fn create_user(
    State(state): State<Shared>,
    ApiJson(req): ApiJson<NewUser>,
) -> Result<Response, ApiError> {
    let ssh = state.services.ssh.clone();
    let (user, seq) = blocking(move || ssh.create_user(req)).await?;
    Ok(with_seq(seq, (StatusCode::CREATED, Json(vec![user]))))
}

/// `GET /api/users/{username}`: a one-element list.
pub async fn get_user(
    State(state): State<Shared>,
    Extension(caller): Extension<Caller>,
    Path(username): Path<String>,
) -> Result<Response, ApiError> {
    let ssh = state.services.ssh.clone();
    let user = blocking(move || ssh.get_user(&caller, &username)).await?;
    Ok(Json(vec![user]).into_response())
}

/// `PUT /api/users/{username}`: a one-element list.
pub async fn update_user(
    State(state): State<Shared>,
    Extension(caller): Extension<Caller>,
    Path(username): Path<String>,
    ApiJson(req): ApiJson<UserUpdate>,
) -> Result<Response, ApiError> {
    let ssh = state.services.ssh.clone();
    let (user, seq) = blocking(move || ssh.update_user(&caller, &username, req)).await?;
    Ok(with_seq(seq, Json(vec![user])))
}

/// `DELETE /api/users/{username}`: `"Deleted User: <username>"`.
pub async fn delete_user(
    State(state): State<Shared>,
    Path(username): Path<String>,
) -> Result<Response, ApiError> {
    let ssh = state.services.ssh.clone();
    let name = username.clone();
    let seq = blocking(move || ssh.delete_user(&name)).await?;
    Ok(with_seq(seq, Json(format!("Deleted User: {username}"))))
}

pub async fn list_hosts(State(state): State<Shared>) -> Result<Response, ApiError> {
    let ssh = state.services.ssh.clone();
    Ok(Json(blocking(move || ssh.list_hosts()).await?).into_response())
}

/// `POST /api/hosts`: 201 with the host.
pub async fn create_host(
    State(state): State<Shared>,
    ApiJson(req): ApiJson<NewHost>,
) -> Result<Response, ApiError> {
    let ssh = state.services.ssh.clone();
    let (host, seq) = blocking(move || ssh.create_host(req)).await?;
    Ok(with_seq(seq, (StatusCode::CREATED, Json(host))))
}

/// `GET /api/hosts/{hostname}`: a one-element list.
pub async fn get_host(
    State(state): State<Shared>,
    Path(hostname): Path<String>,
) -> Result<Response, ApiError> {
    let ssh = state.services.ssh.clone();
    let host = blocking(move || ssh.get_host(&hostname)).await?;
    Ok(Json(vec![host]).into_response())
}

pub async fn update_host(
    State(state): State<Shared>,
    Path(hostname): Path<String>,
    ApiJson(req): ApiJson<HostUpdate>,
) -> Result<Response, ApiError> {
    let ssh = state.services.ssh.clone();
    let (host, seq) = blocking(move || ssh.update_host(&hostname, req)).await?;
    Ok(with_seq(seq, Json(host)))
}

/// `DELETE /api/hosts/{hostname}`: `"Deleted host: <hostname>"`.
pub async fn delete_host(
    State(state): State<Shared>,
    Path(hostname): Path<String>,
) -> Result<Response, ApiError> {
    let ssh = state.services.ssh.clone();
    let name = hostname.clone();
    let seq = blocking(move || ssh.delete_host(&name)).await?;
    Ok(with_seq(seq, Json(format!("Deleted host: {hostname}"))))
}

pub async fn list_groups(State(state): State<Shared>) -> Result<Response, ApiError> {
    let ssh = state.services.ssh.clone();
    Ok(Json(blocking(move || ssh.list_groups()).await?).into_response())
}

/// `POST /api/groups`: 201 with the group.
pub async fn create_group(
    State(state): State<Shared>,
    ApiJson(req): ApiJson<NewGroup>,
) -> Result<Response, ApiError> {
    let ssh = state.services.ssh.clone();
    let (group, seq) = blocking(move || ssh.create_group(req)).await?;
    Ok(with_seq(seq, (StatusCode::CREATED, Json(group))))
}

/// `GET /api/groups/{groupname}`: a one-element list.
pub async fn get_group(
    State(state): State<Shared>,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    let ssh = state.services.ssh.clone();
    let group = blocking(move || ssh.get_group(&name)).await?;
    Ok(Json(vec![group]).into_response())
}

pub async fn update_group(
    State(state): State<Shared>,
    Path(name): Path<String>,
    ApiJson(req): ApiJson<GroupUpdate>,
) -> Result<Response, ApiError> {
    let ssh = state.services.ssh.clone();
    let (group, seq) = blocking(move || ssh.update_group(&name, req)).await?;
    Ok(with_seq(seq, Json(group)))
}

/// `DELETE /api/groups/{groupname}`: `"Deleted group: <groupname>"`.
pub async fn delete_group(
    State(state): State<Shared>,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    let ssh = state.services.ssh.clone();
    let n = name.clone();
    let seq = blocking(move || ssh.delete_group(&n)).await?;
    Ok(with_seq(seq, Json(format!("Deleted group: {name}"))))
}
