//! `PUT|POST|DELETE /api/v1/replication/kes/{*path}`: a KES call a data plane forwards from
//! one of its KES clients, answered as KES answers it.
//!
//! The data plane authenticates with the replication token (`Authorization: Bearer`, as on
//! the replication stream; else 401), and says who its client is: `X-Sigil-Kes-Identity`
//! (required, else 400) and `X-Sigil-Kes-Admin: true|false` (whether that identity is the data
//! plane's KES admin; absent = false; trusted, since the data plane holds the token). The
//! body is the client's request body, as sent (at most 1 MiB, else 413); `path` the KES path
//! without its leading `/`:
//!
//! | path | does |
//! |---|---|
//! | `v1/key/create/{name}` | a fresh AES256 key (body ignored) |
//! | `v1/key/import/{name}` | `{"key": base64, "cipher": "AES256"\|"ChaCha20"\|KES's older names}`, or KES's older `{"bytes": base64}` (AES256) |
//! | `v1/key/delete/{name}` | deletes the key |
//! | `v1/policy/write/{name}` | body: the policy (`sigil_kes::policy::Policy::from_json`) |
//! | `v1/policy/delete/{name}` | deletes the policy |
//! | `v1/identity/assign/{policy}/{identity}` | assigns the policy to the identity |
//! | `v1/identity/forget/{identity}` (or KES's later `v1/identity/delete/…`) | removes it |
//!
//! As KES does, the path is matched first (an unknown one is Go's 404 `404 page not found`,
//! `text/plain`), then the caller authorized — unless admin, the policy assigned to it in the
//! control plane's own state must exist and allow `/` + path, else 403 `not authorized:
//! insufficient permissions` — then the request handled. Answers: 200 with an empty body and
//! `X-Sigil-Seq: <sequence number of the commit>`, or KES's status with
//! `{"message": "<KES's text>"}` (`application/json`). The commit's audit record names
//! `kes:<identity>` as the actor; a call that fails after its path matched is audited as
//! failed.

use axum::extract::{ConnectInfo, Path, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use sigil_kes::policy::Policy;

use super::{imported_key, SEQ_HEADER};
use crate::api::{auth, bearer_matches, record, Shared};
use crate::audit::{with_actor, Actor, AuditEvent};
use crate::services::{Kes, KesError};
use crate::tls::ConnInfo;

/// Largest forwarded body.
pub const MAX_BODY: usize = 1 << 20;
pub const IDENTITY_HEADER: &str = "x-sigil-kes-identity";
pub const ADMIN_HEADER: &str = "x-sigil-kes-admin";

/// A forwarded call, by its path.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Op {
    CreateKey(String),
    ImportKey(String),
    DeleteKey(String),
    WritePolicy(String),
    DeletePolicy(String),
    AssignIdentity { policy: String, identity: String },
    ForgetIdentity(String),
}

impl Op {
    /// The call `path` names; `None` for a path KES has no such route for. What follows the
    /// route's prefix is checked by the call itself (an empty or invalid name is a 400).
    fn parse(path: &str) -> Option<Self> {
        let (route, rest) = [
            "v1/key/create/",
            "v1/key/import/",
            "v1/key/delete/",
            "v1/policy/write/",
            "v1/policy/delete/",
            "v1/identity/assign/",
            "v1/identity/forget/",
            "v1/identity/delete/",
        ]
        .into_iter()
        .find_map(|p| path.strip_prefix(p).map(|rest| (p, rest.to_string())))?;
        Some(match route {
            "v1/key/create/" => Op::CreateKey(rest),
            "v1/key/import/" => Op::ImportKey(rest),
            "v1/key/delete/" => Op::DeleteKey(rest),
            "v1/policy/write/" => Op::WritePolicy(rest),
            "v1/policy/delete/" => Op::DeletePolicy(rest),
            "v1/identity/assign/" => {
                let (policy, identity) = rest.split_once('/').unwrap_or((&rest, ""));
                Op::AssignIdentity {
                    policy: policy.into(),
                    identity: identity.into(),
                }
            }
            _ => Op::ForgetIdentity(rest),
        })
    }

    /// The audit action and resource of the call.
    fn audited(&self) -> (&'static str, &'static str, &str) {
        match self {
            Op::CreateKey(n) => ("kes.key.create", "kes_key", n),
            Op::ImportKey(n) => ("kes.key.import", "kes_key", n),
            Op::DeleteKey(n) => ("kes.key.delete", "kes_key", n),
            Op::WritePolicy(n) => ("kes.policy.write", "kes_policy", n),
            Op::DeletePolicy(n) => ("kes.policy.delete", "kes_policy", n),
            Op::AssignIdentity { identity, .. } => {
                ("kes.identity.assign", "kes_identity", identity)
            }
            Op::ForgetIdentity(i) => ("kes.identity.forget", "kes_identity", i),
        }
    }

    /// Runs the call for `caller`; the commit's sequence number.
    fn run(&self, kes: &Kes, caller: &str, body: &[u8]) -> Result<u64, KesError> {
        let seq = match self {
            Op::CreateKey(name) => kes.create_key(name, None, caller)?.1,
            Op::ImportKey(name) => {
                let (key, algorithm) = import_body(name, body)?;
                kes.import_key(name, key, algorithm, caller)?.1
            }
            Op::DeleteKey(name) => kes.delete_key(name)?,
            Op::WritePolicy(name) => {
                if !sigil_kes::name::valid_name(name) {
                    return Err(KesError::InvalidPolicyName(name.clone()));
                }
                kes.write_policy(name, &Policy::from_json(body)?, caller)?.1
            }
            Op::DeletePolicy(name) => kes.delete_policy(name)?,
            Op::AssignIdentity { policy, identity } => {
                kes.assign_identity(policy, identity, caller)?.1
            }
            Op::ForgetIdentity(identity) => kes.forget_identity(identity)?,
        };
        Ok(seq)
    }
}

/// An import's body: KES's `{"key", "cipher"}`, or the older `{"bytes", "algorithm"}` whose
/// algorithm defaults to AES256. The key name is checked first, as KES does. Public for the
/// fuzz targets (`fuzzing/`) only.
#[doc(hidden)]
pub fn import_body(name: &str, body: &[u8]) -> Result<([u8; 32], sigil_kes::Algorithm), KesError> {
    #[derive(Deserialize)]
    struct Import {
        key: Option<String>,
        cipher: Option<String>,
        bytes: Option<String>,
        algorithm: Option<String>,
    }
    if !sigil_kes::name::valid_name(name) {
        return Err(KesError::InvalidKeyName(name.into()));
    }
    // The body may hold the key: the error never quotes it.
    let req: Import = serde_json::from_slice(body)
        .map_err(|_| KesError::InvalidJson("not JSON of the form {\"key\", \"cipher\"}".into()))?;
    let cipher = match (req.cipher.or(req.algorithm), &req.bytes) {
        (Some(c), _) => c,
        (None, Some(_)) if req.key.is_none() => "AES256".into(),
        (None, _) => String::new(),
    };
    imported_key(req.key.or(req.bytes).as_deref().unwrap_or(""), &cipher)
}

/// KES's answer to a failure: its status and `{"message": …}`.
fn failure(status: u16, message: &str) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body = serde_json::json!({ "message": message }).to_string();
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// Go's `http.NotFound`, what KES answers for a path it has no route for.
fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        [
            (header::CONTENT_TYPE, "text/plain; charset=utf-8"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        "404 page not found\n",
    )
        .into_response()
}

/// The caller the data plane names, and whether it is the data plane's admin; else what is
/// wrong with the headers.
fn caller(headers: &HeaderMap) -> Result<(String, bool), &'static str> {
    let identity = headers
        .get(IDENTITY_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .ok_or("missing X-Sigil-Kes-Identity header")?;
    let admin = match headers.get(ADMIN_HEADER).map(|v| v.to_str()) {
        None => false,
        Some(Ok(v)) if v.eq_ignore_ascii_case("false") => false,
        Some(Ok(v)) if v.eq_ignore_ascii_case("true") => true,
        Some(_) => return Err("X-Sigil-Kes-Admin must be true or false"),
    };
    Ok((identity.to_string(), admin))
}

/// The handler (see the module documentation).
pub async fn forward(
    State(state): State<Shared>,
    Path(path): Path<String>,
    req: Request,
) -> Response {
    let (parts, body) = req.into_parts();
    let peer = parts
        .extensions
        .get::<ConnectInfo<ConnInfo>>()
        .map(|c| c.0.remote);
    let (method, uri) = (parts.method.as_str(), parts.uri.path());
    if let Err(e) = auth::admit(&state, peer.as_ref(), method, uri).await {
        let mut r = failure(e.code.status().as_u16(), &e.message);
        if let Some(secs) = e.retry_after() {
            r.headers_mut().insert(header::RETRY_AFTER, secs.into());
        }
        return r;
    }
    if !bearer_matches(&parts.headers, &state.replication_token) {
        let what = "KES forwarding: replication token";
        if let Err(e) = auth::token_failure(&state, peer.as_ref(), method, uri, what).await {
            return failure(500, &e.message);
        }
        return failure(401, "missing or invalid replication token");
    }
    let (identity, admin) = match caller(&parts.headers) {
        Ok(c) => c,
        Err(problem) => return failure(400, problem),
    };
    let Some(op) = Op::parse(&path) else {
        return not_found();
    };
    let body = match axum::body::to_bytes(body, MAX_BODY).await {
        Ok(b) => b,
        Err(_) => return failure(413, "request body too large"),
    };
    let source = parts
        .extensions
        .get::<ConnectInfo<ConnInfo>>()
        .map_or_else(String::new, |c| c.0.remote.to_string());
    let actor = Actor {
        id: format!("kes:{identity}"),
        actor_type: "User",
        source,
    };
    let kes = state.services.kes.clone();
    let (call, who) = (op.clone(), actor.clone());
    let outcome = tokio::task::spawn_blocking(move || {
        with_actor(who, || {
            if !admin {
                kes.authorize(&identity, &format!("/{path}"))?;
            }
            call.run(&kes, &identity, &body)
        })
    })
    .await;
    match outcome {
        Ok(Ok(seq)) => (StatusCode::OK, [(SEQ_HEADER, seq.to_string())]).into_response(),
        Ok(Err(e)) => {
            let (status, message) = e.kes_status();
            if let KesError::Internal(detail) = &e {
                tracing::error!(error = %detail, "forwarded KES call failed");
            }
            let (action, resource_type, resource_id) = op.audited();
            let event = AuditEvent {
                actor: actor.id,
                actor_type: actor.actor_type.into(),
                action: action.into(),
                resource_type: resource_type.into(),
                resource_id: resource_id.into(),
                success: false,
                source: actor.source,
                details: serde_json::json!({"status": status, "message": message}).to_string(),
            };
            match record(&state, event).await {
                Ok(()) => failure(status, &message),
                Err(_) => failure(500, "internal error"),
            }
        }
        Err(_) => failure(500, "internal error"),
    }
}

#[cfg(test)]
mod tests {
    use super::Op;

    fn assign(policy: &str, identity: &str) -> Option<Op> {
        Some(Op::AssignIdentity {
            policy: policy.into(),
            identity: identity.into(),
        })
    }

    #[test]
    fn paths_name_the_calls_kes_has() {
        assert_eq!(
            Op::parse("v1/key/create/k"),
            Some(Op::CreateKey("k".into()))
        );
        assert_eq!(
            Op::parse("v1/key/create/"),
            Some(Op::CreateKey(String::new()))
        );
        assert_eq!(
            Op::parse("v1/key/import/a/b"),
            Some(Op::ImportKey("a/b".into()))
        );
        assert_eq!(Op::parse("v1/identity/assign/p/abc"), assign("p", "abc"));
        assert_eq!(Op::parse("v1/identity/assign/p"), assign("p", ""));
        assert_eq!(
            Op::parse("v1/identity/delete/abc"),
            Op::parse("v1/identity/forget/abc")
        );
        for unknown in [
            "v1/key/create",
            "v1/key/encrypt/k",
            "v1/status",
            "",
            "key/create/k",
        ] {
            assert_eq!(Op::parse(unknown), None, "{unknown}");
        }
    }
}
