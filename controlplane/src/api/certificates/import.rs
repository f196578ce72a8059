//! `POST /api/v1/certificates/import` (UCM's certificate import): a certificate issued by the
//! key of one of Sigil's CAs, from now on answered for by OCSP and on its CRL.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use sigil_shared::ocsp::RevocationReason;

use super::super::audit::time_bound;
use super::super::{blocking, ApiError, ApiJson, ErrorCode, Shared};
use super::full_view;
use crate::services::certificates::ImportRequest;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImportBody {
    /// PEM certificate (UCM's `pem`/`certificate` field names both accepted).
    #[serde(alias = "pem")]
    pub certificate: String,
    pub profile: Option<String>,
    /// Revoked before the import: when (RFC 3339) and why (RFC 5280 reason name).
    pub revoked_at: Option<String>,
    pub revocation_reason: Option<String>,
}

pub async fn import(
    State(state): State<Shared>,
    ApiJson(b): ApiJson<ImportBody>,
) -> Result<Response, ApiError> {
    let bad = |m: String| ApiError::new(ErrorCode::BadRequest, m);
    let revoked = match (b.revoked_at.as_deref(), b.revocation_reason.as_deref()) {
        (None, None) => None,
        (at, reason) => {
            let reason_name = reason.unwrap_or("unspecified");
            let reason = RevocationReason::parse(reason_name).ok_or_else(|| {
                bad(format!(
                    "revocation_reason {reason_name:?} is not an RFC 5280 revocation reason"
                ))
            })?;
            let at = match at {
                Some(_) => time_bound("revoked_at", at, false)?.unwrap_or_default(),
                None => return Err(bad("revocation_reason needs revoked_at".into())),
            };
            Some((at, reason))
        }
    };
    let req = ImportRequest {
        certificate: b.certificate.into_bytes(),
        profile: b.profile,
        revoked,
    };
    let certificates = state.services.certificates.clone();
    let imported = blocking(move || certificates.import(&req)).await?;
    let view = full_view(&state, imported).await?;
    Ok((StatusCode::CREATED, Json(view)).into_response())
}
