//! The SCEP routes (axum; RFC 8894 §4.1): `GET|POST /scep` and the historic
//! `/cgi-bin/pkiclient.exe`, `?operation=` selects. Answers: `GetCACaps` text/plain,
//! `GetCACert` `application/x-x509-ca-ra-cert` (certs-only, RA + CA chain),
//! `PKIOperation` `application/x-pki-message` (a CertRep, also for refusals); errors before
//! a CertRep is possible are plain text (400, 404, 500).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use base64::Engine;
use serde::Deserialize;

use super::service::Scep;
use super::ScepHttpError;
use crate::est::http::Conn;
use crate::services::Services;

/// Largest PKIOperation body (a pkiMessage with an RSA-4096 CSR is ~5 KiB).
const MAX_BODY: usize = 64 * 1024;
const PKI_MESSAGE: &str = "application/x-pki-message";
const CA_RA_CERT: &str = "application/x-x509-ca-ra-cert";

type Shared = Arc<Scep>;

/// The SCEP router (merged into the public listener's when `[scep] enabled`).
pub fn router(services: Arc<Services>) -> Router {
    let scep: Shared = Arc::new(Scep::new(services));
    let mut r = Router::new();
    for path in ["/scep", "/cgi-bin/pkiclient.exe"] {
        r = r.route(path, get(on_get).post(on_post));
    }
    r.layer(DefaultBodyLimit::max(MAX_BODY)).with_state(scep)
}

#[derive(Debug, Deserialize)]
struct Params {
    operation: Option<String>,
    message: Option<String>,
}

fn text(status: StatusCode, msg: &str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        format!("{msg}\n"),
    )
        .into_response()
}

impl IntoResponse for ScepHttpError {
    fn into_response(self) -> Response {
        match &self {
            ScepHttpError::BadRequest(m) => text(StatusCode::BAD_REQUEST, m),
            ScepHttpError::NotFound(m) => text(StatusCode::NOT_FOUND, m),
            ScepHttpError::Internal(detail) => {
                tracing::error!(%detail, "SCEP request failed");
                text(StatusCode::INTERNAL_SERVER_ERROR, "internal error")
            }
        }
    }
}

fn count(scep: &Scep, operation: &str, outcome: &str) {
    scep.services()
        .metrics()
        .scep_requests
        .with_label_values(&[operation, outcome])
        .inc();
}

/// Runs `f` on a blocking thread; counts its end under `operation` if it failed.
async fn run<T: Send + 'static>(
    scep: &Shared,
    operation: &'static str,
    f: impl FnOnce(&Scep) -> Result<T, ScepHttpError> + Send + 'static,
) -> Result<T, ScepHttpError> {
    let s = scep.clone();
    let r = tokio::task::spawn_blocking(move || f(&s))
        .await
        .map_err(|e| ScepHttpError::Internal(format!("SCEP handler panicked: {e}")))?;
    if let Err(e) = &r {
        let outcome = match e {
            ScepHttpError::BadRequest(_) | ScepHttpError::NotFound(_) => "bad_request",
            ScepHttpError::Internal(_) => "error",
        };
        count(scep, operation, outcome);
    }
    r
}

/// A GET `message` (RFC 8894 §4.1: base64, then URL-encoded). Query decoding turned a bare
/// `+` into a space; URL-safe base64 and missing padding are accepted too.
fn decode_message(m: &str) -> Result<Vec<u8>, ScepHttpError> {
    let cleaned: String = m
        .chars()
        .filter(|c| !matches!(c, '\r' | '\n'))
        .map(|c| if c == ' ' { '+' } else { c })
        .collect();
    let std = base64::engine::general_purpose::STANDARD;
    let url = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    std.decode(&cleaned)
        .or_else(|_| url.decode(cleaned.trim_end_matches('=')))
        .map_err(|_| ScepHttpError::BadRequest("message is not base64".into()))
}

async fn on_get(
    State(scep): State<Shared>,
    conn: Conn,
    Query(p): Query<Params>,
) -> Result<Response, ScepHttpError> {
    match p.operation.as_deref() {
        Some("GetCACaps") => {
            let caps = scep.caps();
            count(&scep, "GetCACaps", "success");
            Ok(([(header::CONTENT_TYPE, "text/plain")], caps).into_response())
        }
        Some("GetCACert") => {
            let der = run(&scep, "GetCACert", |s| s.ca_certs()).await?;
            count(&scep, "GetCACert", "success");
            Ok(([(header::CONTENT_TYPE, CA_RA_CERT)], der).into_response())
        }
        Some("PKIOperation") => {
            let msg = p
                .message
                .as_deref()
                .ok_or_else(|| ScepHttpError::BadRequest("PKIOperation needs message".into()))?;
            let body = decode_message(msg)?;
            pki_operation(scep, conn, body).await
        }
        other => Err(unknown(other)),
    }
}

async fn on_post(
    State(scep): State<Shared>,
    conn: Conn,
    Query(p): Query<Params>,
    body: Bytes,
) -> Result<Response, ScepHttpError> {
    match p.operation.as_deref() {
        Some("PKIOperation") => pki_operation(scep, conn, body.to_vec()).await,
        other => Err(unknown(other)),
    }
}

fn unknown(op: Option<&str>) -> ScepHttpError {
    ScepHttpError::BadRequest(match op {
        None => "operation is missing".into(),
        Some(op) => format!(
            "operation {op:?} is not offered: GetCACaps, GetCACert (GET) and PKIOperation \
             (GET or POST)"
        ),
    })
}

async fn pki_operation(
    scep: Shared,
    Conn(conn): Conn,
    body: Vec<u8>,
) -> Result<Response, ScepHttpError> {
    let source = conn.remote;
    let answer = run(&scep, "other", move |s| s.pki_operation(&body, source)).await?;
    count(&scep, answer.operation, answer.outcome);
    Ok(([(header::CONTENT_TYPE, PKI_MESSAGE)], answer.cert_rep).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn get_messages_in_either_base64() {
        let der = [0x30u8, 0x03, 0xfb, 0xff, 0x3e];
        let std = base64::engine::general_purpose::STANDARD.encode(der);
        let url = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(der);
        assert_eq!(decode_message(&std).unwrap(), der);
        assert_eq!(decode_message(&std.replace('+', " ")).unwrap(), der);
        assert_eq!(decode_message(&url).unwrap(), der);
        assert!(decode_message("%%%").is_err());
    }
}
