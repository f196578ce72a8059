//! `/api/v1/certificates`: issue, get, revoke, unhold, stored OCSP responses.

use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use sigil_shared::ocsp::{HashAlg, RevocationReason};
use sigil_shared::time::{now_unix, rfc3339};

use super::{blocking, ApiError, ApiJson, ErrorCode, Shared};
use crate::authority::IssueRequest;
use crate::db::{CertRecord, CertState};
use crate::x509::cert_pem;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IssueBody {
    pub issuer_id: String,
    pub csr: String,
    pub validity_days: Option<u32>,
    pub profile: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct CertView {
    pub id: String,
    pub serial: String,
    pub issuer_id: String,
    pub subject: String,
    pub sans: Vec<String>,
    pub profile: String,
    /// `active`, `revoked` or `expired`.
    pub status: &'static str,
    pub revocation_reason: Option<&'static str>,
    pub revoked_at: Option<String>,
    pub not_before: String,
    pub not_after: String,
    pub created_at: String,
    pub certificate: String,
    pub chain: Vec<String>,
}

fn view(state: &Shared, c: &CertRecord) -> Result<CertView, ApiError> {
    let (status, reason, at) = match c.state {
        CertState::Revoked { time, reason } => {
            ("revoked", Some(reason.name()), Some(rfc3339(time)))
        }
        CertState::Active if c.not_after < now_unix() => ("expired", None, None),
        CertState::Active => ("active", None, None),
    };
    Ok(CertView {
        id: c.id.clone(),
        serial: c.id.clone(),
        issuer_id: c.issuer_id.clone(),
        subject: c.subject.clone(),
        sans: c.sans.clone(),
        profile: c.profile.clone(),
        status,
        revocation_reason: reason,
        revoked_at: at,
        not_before: rfc3339(c.not_before),
        not_after: rfc3339(c.not_after),
        created_at: rfc3339(c.created_at),
        certificate: cert_pem(&c.der),
        chain: state.authority.chain_pem(&c.issuer_id)?,
    })
}

pub async fn issue(
    State(state): State<Shared>,
    ApiJson(body): ApiJson<IssueBody>,
) -> Result<Response, ApiError> {
    let auth = state.authority.clone();
    let req = IssueRequest {
        issuer_id: body.issuer_id,
        csr: body.csr.into_bytes(),
        validity_days: body.validity_days,
        profile: body.profile,
    };
    let rec = blocking(move || auth.issue(req)).await?;
    Ok((StatusCode::CREATED, Json(view(&state, &rec)?)).into_response())
}

pub async fn get_one(
    State(state): State<Shared>,
    Path(id): Path<String>,
) -> Result<Json<CertView>, ApiError> {
    let auth = state.authority.clone();
    let id = id.to_ascii_lowercase();
    let rec = blocking(move || auth.cert(&id)).await?;
    Ok(Json(view(&state, &rec)?))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RevokeBody {
    #[serde(default)]
    pub reason: Option<String>,
}

pub async fn revoke(
    State(state): State<Shared>,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<RevokeBody>,
) -> Result<Json<CertView>, ApiError> {
    let reason_name = body.reason.unwrap_or_else(|| "unspecified".into());
    let reason = RevocationReason::parse(&reason_name).ok_or_else(|| {
        ApiError::new(
            ErrorCode::BadRequest,
            format!(
                "reason {reason_name:?} is not an RFC 5280 revocation reason; use one of {}",
                RevocationReason::ALL.map(|r| r.name()).join(", ")
            ),
        )
    })?;
    let auth = state.authority.clone();
    let id = id.to_ascii_lowercase();
    let rec = blocking(move || auth.revoke(&id, reason)).await?;
    Ok(Json(view(&state, &rec)?))
}

pub async fn unhold(
    State(state): State<Shared>,
    Path(id): Path<String>,
) -> Result<Json<CertView>, ApiError> {
    let auth = state.authority.clone();
    let id = id.to_ascii_lowercase();
    let rec = blocking(move || auth.unhold(&id)).await?;
    Ok(Json(view(&state, &rec)?))
}

#[derive(Debug, Deserialize)]
pub struct OcspQuery {
    pub hash: Option<String>,
}

/// The stored DER OCSP response for one CertID hash algorithm (default sha256).
pub async fn ocsp(
    State(state): State<Shared>,
    Path(id): Path<String>,
    super::ApiQuery(q): super::ApiQuery<OcspQuery>,
) -> Result<Response, ApiError> {
    let name = q.hash.unwrap_or_else(|| "sha256".into());
    let alg = HashAlg::from_name(&name).ok_or_else(|| {
        ApiError::new(
            ErrorCode::BadRequest,
            format!("hash {name:?} is not supported; use sha1 or sha256"),
        )
    })?;
    let auth = state.authority.clone();
    let id = id.to_ascii_lowercase();
    let entry = blocking(move || auth.ocsp_response(&id, alg)).await?;
    Ok((
        [(header::CONTENT_TYPE, "application/ocsp-response")],
        entry.der,
    )
        .into_response())
}
