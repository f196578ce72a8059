//! The ACME routes (axum) below `/acme/`: parse nothing here but the framing — the content
//! type, the body limit — run the operation on a blocking thread, and frame the answer.
//! Every answer (problems too) carries a fresh `Replay-Nonce`, `Cache-Control: no-store` and
//! `Link: <directory>;rel="index"`; problems are `application/problem+json` (RFC 7807).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, Request, State};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use sigil_acme::{Problem, ProblemType};

use super::server::{AcmeServer, Reply};
use super::AcmeError;
use crate::est::http::Conn;
use crate::services::Services;

/// Largest request body (a CSR with 100 names and an RSA-8192 key is well below).
pub const MAX_BODY: usize = 64 * 1024;
const REPLAY_NONCE: HeaderName = HeaderName::from_static("replay-nonce");

type Shared = Arc<AcmeServer>;

/// The operation a POST names.
#[derive(Debug, Clone)]
enum Op {
    NewAccount,
    NewOrder,
    Revoke,
    KeyChange,
    Account(String),
    Orders(String),
    Order(String),
    Finalize(String),
    Authz(String),
    Challenge(String, String),
    Cert(String),
}

impl Op {
    /// The path below `/acme/` (the JWS `url` must be the external URL of it).
    fn path(&self) -> String {
        match self {
            Op::NewAccount => "new-account".into(),
            Op::NewOrder => "new-order".into(),
            Op::Revoke => "revoke-cert".into(),
            Op::KeyChange => "key-change".into(),
            Op::Account(id) => format!("account/{id}"),
            Op::Orders(id) => format!("account/{id}/orders"),
            Op::Order(id) => format!("order/{id}"),
            Op::Finalize(id) => format!("order/{id}/finalize"),
            Op::Authz(id) => format!("authz/{id}"),
            Op::Challenge(a, k) => format!("chall/{a}/{k}"),
            Op::Cert(id) => format!("cert/{id}"),
        }
    }
}

/// The ACME router (empty unless `[acme] enabled`); validations a previous process left
/// unfinished are started again.
pub fn router(services: Arc<Services>) -> Router {
    if !services.settings().acme.enabled {
        return Router::new();
    }
    let s: Shared = Arc::new(AcmeServer::new(services));
    super::validate::resume(&s);
    Router::new()
        .route("/acme/directory", get(directory))
        .route("/acme/new-nonce", get(new_nonce).head(new_nonce))
        .route("/acme/new-account", post(new_account))
        .route("/acme/new-order", post(new_order))
        .route("/acme/revoke-cert", post(revoke_cert))
        .route("/acme/key-change", post(key_change))
        .route("/acme/account/{id}", post(account))
        .route("/acme/account/{id}/orders", post(orders))
        .route("/acme/order/{id}", post(order))
        .route("/acme/order/{id}/finalize", post(finalize))
        .route("/acme/authz/{id}", post(authz))
        .route("/acme/chall/{authz}/{kind}", post(challenge))
        .route("/acme/cert/{id}", post(cert))
        .layer(middleware::from_fn_with_state(s.clone(), decorate))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(s)
}

/// Adds `Replay-Nonce`, `Cache-Control: no-store` and the index link to every answer, and
/// counts it in `sigil_cp_acme_requests_total{operation, status}`.
async fn decorate(State(s): State<Shared>, req: Request, next: Next) -> Response {
    let op = operation(req.uri().path());
    let mut res = next.run(req).await;
    s.services
        .metrics()
        .acme_requests
        .with_label_values(&[op, res.status().as_str()])
        .inc();
    let h = res.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&s.nonces.issue()) {
        h.insert(REPLAY_NONCE, v);
    }
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Ok(v) = HeaderValue::from_str(&format!("<{}>;rel=\"index\"", s.urls.path("directory"))) {
        h.append(header::LINK, v);
    }
    res
}

/// The operation a matched ACME path names (its resource kind).
fn operation(path: &str) -> &'static str {
    const OPS: [&str; 13] = [
        "directory",
        "new-nonce",
        "new-account",
        "new-order",
        "revoke-cert",
        "key-change",
        "account",
        "orders",
        "order",
        "finalize",
        "authz",
        "chall",
        "cert",
    ];
    let mut seg = path.trim_start_matches("/acme/").split('/');
    let first = seg.next().unwrap_or_default();
    let last = path.rsplit('/').next().unwrap_or_default();
    let name = match first {
        "account" if last == "orders" => "orders",
        "order" if last == "finalize" => "finalize",
        other => other,
    };
    OPS.into_iter().find(|op| *op == name).unwrap_or("other")
}

async fn directory(State(s): State<Shared>) -> Response {
    axum::Json(s.directory()).into_response()
}

/// `newNonce` (§7.2): HEAD 200, GET 204; the nonce is added by [`decorate`].
async fn new_nonce(method: axum::http::Method) -> StatusCode {
    if method == axum::http::Method::HEAD {
        StatusCode::OK
    } else {
        StatusCode::NO_CONTENT
    }
}

macro_rules! handlers {
    ($($name:ident => $op:expr;)+) => {$(
        async fn $name(s: State<Shared>, c: Conn, h: HeaderMap, b: Bytes) -> Response {
            op(s, $op, c, h, b).await
        }
    )+};
    ($($name:ident($id:ident) => $op:expr;)+) => {$(
        async fn $name(
            s: State<Shared>,
            Path($id): Path<String>,
            c: Conn,
            h: HeaderMap,
            b: Bytes,
        ) -> Response {
            op(s, $op, c, h, b).await
        }
    )+};
}

handlers! {
    new_account => Op::NewAccount;
    new_order => Op::NewOrder;
    revoke_cert => Op::Revoke;
    key_change => Op::KeyChange;
}

handlers! {
    account(id) => Op::Account(id);
    orders(id) => Op::Orders(id);
    order(id) => Op::Order(id);
    finalize(id) => Op::Finalize(id);
    authz(id) => Op::Authz(id);
    cert(id) => Op::Cert(id);
}

async fn challenge(
    s: State<Shared>,
    Path((authz, kind)): Path<(String, String)>,
    c: Conn,
    h: HeaderMap,
    b: Bytes,
) -> Response {
    op(s, Op::Challenge(authz, kind), c, h, b).await
}

async fn op(
    State(s): State<Shared>,
    op: Op,
    Conn(conn): Conn,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let jose = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(';')
                .next()
                .is_some_and(|t| t.trim().eq_ignore_ascii_case("application/jose+json"))
        });
    if !jose {
        return AcmeError {
            status: Some(415),
            ..AcmeError::malformed("the Content-Type must be application/jose+json")
        }
        .into_response();
    }
    let source = conn.remote;
    let res = tokio::task::spawn_blocking(move || {
        let jwk_allowed = matches!(op, Op::NewAccount | Op::Revoke);
        let signed = s.authenticate(&op.path(), &body, jwk_allowed, source)?;
        match &op {
            Op::NewAccount => s.new_account(&signed),
            Op::NewOrder => s.new_order(&signed),
            Op::Revoke => s.revoke(&signed),
            Op::KeyChange => s.key_change(&signed),
            Op::Account(id) => s.account(&signed, id),
            Op::Orders(id) => s.orders_of(&signed, id),
            Op::Order(id) => s.order(&signed, id),
            Op::Finalize(id) => s.finalize(&signed, id),
            Op::Authz(id) => s.authz(&signed, id),
            Op::Challenge(a, k) => s.challenge(&signed, a, k),
            Op::Cert(id) => s.certificate(&signed, id),
        }
    })
    .await;
    match res {
        Ok(Ok(reply)) => reply.into_response(),
        Ok(Err(e)) => e.into_response(),
        Err(e) => AcmeError::internal(format!("ACME handler panicked: {e}")).into_response(),
    }
}

impl IntoResponse for Reply {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::OK);
        let mut res = match (self.json, self.raw) {
            (Some(v), _) => (status, axum::Json(v)).into_response(),
            (None, Some((ct, body))) => {
                (status, [(header::CONTENT_TYPE, ct)], body).into_response()
            }
            (None, None) => status.into_response(),
        };
        let h = res.headers_mut();
        if let Some(l) = self.location.and_then(|l| HeaderValue::from_str(&l).ok()) {
            h.insert(header::LOCATION, l);
        }
        if let Some(up) = self
            .up
            .and_then(|u| HeaderValue::from_str(&format!("<{u}>;rel=\"up\"")).ok())
        {
            h.append(header::LINK, up);
        }
        res
    }
}

impl IntoResponse for AcmeError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status()).unwrap_or(StatusCode::BAD_REQUEST);
        let detail = if self.kind == ProblemType::ServerInternal {
            tracing::error!(detail = %self.detail, "ACME request failed");
            "internal error".to_owned()
        } else {
            self.detail.clone()
        };
        let mut p = Problem::new(self.kind, detail);
        p.status = Some(status.as_u16());
        let body = serde_json::to_vec(&p).unwrap_or_default();
        let mut res = (
            status,
            [(header::CONTENT_TYPE, "application/problem+json")],
            body,
        )
            .into_response();
        let h = res.headers_mut();
        if let Some(secs) = self.retry_after {
            h.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        if let Some(l) = self.location.and_then(|l| HeaderValue::from_str(&l).ok()) {
            h.insert(header::LOCATION, l);
        }
        res
    }
}

#[cfg(test)]
mod tests {
    use super::operation;

    #[test]
    fn operations_of_paths() {
        for (path, op) in [
            ("/acme/directory", "directory"),
            ("/acme/new-nonce", "new-nonce"),
            ("/acme/account/abc", "account"),
            ("/acme/account/abc/orders", "orders"),
            ("/acme/order/o", "order"),
            ("/acme/order/o/finalize", "finalize"),
            ("/acme/chall/a/http-01", "chall"),
            ("/acme/cert/c", "cert"),
            ("/acme/nothing", "other"),
        ] {
            assert_eq!(operation(path), op, "{path}");
        }
    }
}
