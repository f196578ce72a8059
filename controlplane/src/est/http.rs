//! The EST routes (axum): parse, run [`Est`] on a blocking thread, frame the answer. Errors
//! are plain text; 401 carries `WWW-Authenticate: Basic`, 429 `Retry-After`, 405 `Allow`.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, DefaultBodyLimit, FromRequestParts, Path, Request, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, MethodRouter};
use axum::Router;

use super::authn::Credentials;
use super::service::Est;
use super::{pkcs7, wire, EstError};
use crate::db::Enrollment;
use crate::services::Services;
use crate::tls::ConnInfo;

/// Largest request body (a PKCS#10 request in base64 is a few KiB even for RSA-4096).
const MAX_BODY: usize = 64 * 1024;
const CERTS_ONLY: &str = "application/pkcs7-mime; smime-type=certs-only";
/// The realm of the Basic challenge.
const CHALLENGE: &str = "Basic realm=\"sigil EST\", charset=\"UTF-8\"";

type Shared = Arc<Est>;

/// The EST router: `/.well-known/est/{op}` and `/.well-known/est/{label}/{op}`.
pub fn router(services: Arc<Services>) -> Router {
    let est: Shared = Arc::new(Est::new(services));
    let mut r = Router::new();
    for prefix in ["/.well-known/est", "/.well-known/est/{label}"] {
        r = r
            .route(&format!("{prefix}/cacerts"), only_get(get(cacerts)))
            .route(&format!("{prefix}/csrattrs"), only_get(get(csrattrs)))
            .route(
                &format!("{prefix}/simpleenroll"),
                only_post(post(simpleenroll)),
            )
            .route(
                &format!("{prefix}/simplereenroll"),
                only_post(post(simplereenroll)),
            )
            .route(
                &format!("{prefix}/serverkeygen"),
                only_post(post(serverkeygen)),
            );
    }
    r.route_layer(middleware::from_fn_with_state(est.clone(), count))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(est)
}

/// Counts every answer of a matched EST route (also 405, 413 and extractor rejections) in
/// `sigil_cp_est_requests_total{operation, status}`.
async fn count(State(est): State<Shared>, req: Request, next: Next) -> Response {
    let op = operation(req.uri().path());
    let res = next.run(req).await;
    est.services
        .metrics()
        .est_requests
        .with_label_values(&[op, res.status().as_str()])
        .inc();
    res
}

/// The operation a matched EST path names (its last segment).
fn operation(path: &str) -> &'static str {
    const OPS: [&str; 5] = [
        "cacerts",
        "csrattrs",
        "simpleenroll",
        "simplereenroll",
        "serverkeygen",
    ];
    let last = path.rsplit('/').next().unwrap_or_default();
    OPS.into_iter().find(|op| *op == last).unwrap_or("other")
}

fn only_get(m: MethodRouter<Shared>) -> MethodRouter<Shared> {
    m.fallback(|| async { not_allowed("GET") })
}

fn only_post(m: MethodRouter<Shared>) -> MethodRouter<Shared> {
    m.fallback(|| async { not_allowed("POST") })
}

fn not_allowed(allow: &'static str) -> Response {
    let mut r = text(
        StatusCode::METHOD_NOT_ALLOWED,
        &format!("method not allowed: this EST operation takes {allow}"),
    );
    r.headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static(allow));
    r
}

fn text(status: StatusCode, msg: &str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        format!("{msg}\n"),
    )
        .into_response()
}

impl IntoResponse for EstError {
    fn into_response(self) -> Response {
        let msg = self.to_string();
        match self {
            EstError::Unauthorized(_) => {
                let mut r = text(StatusCode::UNAUTHORIZED, &msg);
                r.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static(CHALLENGE),
                );
                r
            }
            EstError::BadRequest(_) => text(StatusCode::BAD_REQUEST, &msg),
            EstError::NotFound(_) => text(StatusCode::NOT_FOUND, &msg),
            EstError::Conflict(_) => text(StatusCode::CONFLICT, &msg),
            EstError::TooManyAttempts(secs) => {
                let mut r = text(StatusCode::TOO_MANY_REQUESTS, &msg);
                r.headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(secs));
                r
            }
            EstError::Internal(detail) => {
                tracing::error!(%detail, "EST request failed");
                text(StatusCode::INTERNAL_SERVER_ERROR, "internal error")
            }
        }
    }
}

/// The connection a request came on: `ConnInfo` from the listener, or (when served without
/// it, e.g. in tests) the bare peer address, else `0.0.0.0:0` and no client certificate.
#[derive(Debug, Clone)]
pub struct Conn(pub ConnInfo);

impl<S: Send + Sync> FromRequestParts<S> for Conn {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Infallible> {
        let ext = &parts.extensions;
        if let Some(ConnectInfo(c)) = ext.get::<ConnectInfo<ConnInfo>>() {
            return Ok(Conn(c.clone()));
        }
        let addr = ext
            .get::<ConnectInfo<SocketAddr>>()
            .map_or(SocketAddr::from(([0, 0, 0, 0], 0)), |c| c.0);
        Ok(Conn(ConnInfo::plain(addr)))
    }
}

type Label = Option<Path<String>>;

/// Body framed as EST sends certificates: base64 of DER, `Content-Transfer-Encoding: base64`.
fn base64_body(content_type: &'static str, der: &[u8]) -> Response {
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, content_type),
            (
                header::HeaderName::from_static("content-transfer-encoding"),
                "base64",
            ),
        ],
        wire::encode_base64(der),
    )
        .into_response()
}

async fn run<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, EstError> + Send + 'static,
) -> Result<T, EstError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| EstError::Internal(format!("EST handler panicked: {e}")))?
}

async fn cacerts(State(est): State<Shared>, label: Label) -> Result<Response, EstError> {
    let label = label.map(|Path(l)| l);
    let der = run(move || est.cacerts(label.as_deref())).await?;
    Ok(base64_body(CERTS_ONLY, &der))
}

async fn csrattrs(State(est): State<Shared>, label: Label) -> Result<Response, EstError> {
    let label = label.map(|Path(l)| l);
    Ok(match run(move || est.csrattrs(label.as_deref())).await? {
        Some(der) => base64_body("application/csrattrs", &der),
        None => StatusCode::NO_CONTENT.into_response(),
    })
}

async fn simpleenroll(
    State(est): State<Shared>,
    label: Label,
    conn: Conn,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, EstError> {
    enroll(est, label, Enrollment::SimpleEnroll, conn, &headers, &body).await
}

async fn simplereenroll(
    State(est): State<Shared>,
    label: Label,
    conn: Conn,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, EstError> {
    enroll(
        est,
        label,
        Enrollment::SimpleReenroll,
        conn,
        &headers,
        &body,
    )
    .await
}

async fn serverkeygen(
    State(est): State<Shared>,
    label: Label,
    conn: Conn,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, EstError> {
    enroll(est, label, Enrollment::ServerKeygen, conn, &headers, &body).await
}

async fn enroll(
    est: Shared,
    label: Label,
    op: Enrollment,
    Conn(conn): Conn,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Response, EstError> {
    let label = label.map(|Path(l)| l);
    let basic = match headers.get(header::AUTHORIZATION) {
        None => None,
        Some(v) => Some(
            v.to_str()
                .ok()
                .and_then(wire::basic_credentials)
                .ok_or_else(|| {
                    EstError::Unauthorized(
                        "malformed Authorization header: use Basic with entity_id:otp".into(),
                    )
                })?,
        ),
    };
    let creds = Credentials::choose(op, basic, conn.client_cert().map(|c| c.to_vec()));
    let (source, body) = (conn.remote, body.to_vec());
    let issued = run(move || est.enroll(label.as_deref(), op, creds, source, &body)).await?;
    let certs = pkcs7::certs_only(&[&issued.cert.der]);
    Ok(match issued.pkcs8 {
        None => base64_body(CERTS_ONLY, &certs),
        Some(key) => (
            StatusCode::OK,
            [(
                header::CONTENT_TYPE,
                format!("multipart/mixed; boundary={}", wire::BOUNDARY),
            )],
            wire::serverkeygen_multipart(&key, &certs),
        )
            .into_response(),
    })
}
