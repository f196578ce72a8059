//! kipuka's admin API (`/admin/*`): OTP lifecycle so far. Same paths and JSON fields.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use sigil_shared::time::rfc3339;

use super::{blocking, ApiError, ApiJson, Shared};
use crate::db::Enrollment;
use crate::services::certificates::{status_of, CertError, CertFilter, StatusFilter};
use crate::services::otps::OtpRecord;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateOtp {
    pub entity_id: String,
    /// Seconds; default 3600.
    pub ttl: Option<u64>,
    /// Default 1.
    pub max_uses: Option<u32>,
}

#[derive(Serialize)]
pub struct OtpView {
    pub id: String,
    pub entity_id: String,
    /// Only in the response to `POST /admin/otp`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub otp: Option<String>,
    pub created: String,
    pub expires: String,
    pub max_uses: u32,
    pub remaining_uses: u32,
}

impl std::fmt::Debug for OtpView {
    /// Never the OTP.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OtpView")
            .field("id", &self.id)
            .field("entity_id", &self.entity_id)
            .field("otp", &self.otp.as_ref().map(|_| "[redacted]"))
            .field("expires", &self.expires)
            .finish_non_exhaustive()
    }
}

fn view(r: &OtpRecord, otp: Option<String>) -> OtpView {
    OtpView {
        id: r.id.clone(),
        entity_id: r.entity_id.clone(),
        otp,
        created: rfc3339(r.created),
        expires: rfc3339(r.expires),
        max_uses: r.max_uses,
        remaining_uses: r.remaining_uses,
    }
}

pub async fn create_otp(
    State(state): State<Shared>,
    ApiJson(body): ApiJson<CreateOtp>,
) -> Result<Response, ApiError> {
    let otps = state.services.otps.clone();
    let (rec, otp) = blocking(move || {
        otps.create_otp(
            &body.entity_id,
            body.ttl.unwrap_or(3600),
            body.max_uses.unwrap_or(1),
        )
    })
    .await?;
    Ok((StatusCode::CREATED, Json(view(&rec, Some(otp)))).into_response())
}

pub async fn list_otps(State(state): State<Shared>) -> Result<Json<Vec<OtpView>>, ApiError> {
    let otps = state.services.otps.clone();
    let all = blocking(move || otps.active_otps()).await?;
    Ok(Json(all.iter().map(|r| view(r, None)).collect()))
}

pub async fn delete_otp(
    State(state): State<Shared>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let otps = state.services.otps.clone();
    blocking(move || otps.delete_otp(&id)).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CertsQuery {
    pub page: Option<u64>,
    pub per_page: Option<u64>,
    /// Substring of the subject (case-insensitive).
    pub subject: Option<String>,
    /// `active`, `expired` or `revoked`.
    pub status: Option<String>,
    /// ISO 8601 / RFC 3339 instants (or dates) bounding the issuance time.
    pub issued_after: Option<String>,
    pub issued_before: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct CertSummary {
    /// Colon-separated uppercase hex, e.g. `0A:1B:2C`.
    pub serial: String,
    pub subject: String,
    pub issuer: String,
    pub not_before: String,
    pub not_after: String,
    pub status: &'static str,
    pub ca_id: String,
    /// How the certificate was requested: `api` (management API), or the EST operation
    /// `simpleenroll`, `simplereenroll`, `serverkeygen` (from `cert_meta`).
    pub enrollment_type: &'static str,
}

#[derive(Debug, Serialize)]
pub struct CertsPage {
    pub page: u64,
    pub per_page: u64,
    pub total: u64,
    pub certificates: Vec<CertSummary>,
}

/// `0A:1B:2C` form of a serial's content octets.
pub fn colon_hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// kipuka's `GET /admin/certs`: the certificates service's search (a scan of the certificate
/// table per request: bounded memory, time proportional to the number of certificates) with
/// kipuka's filters, each with how it was requested.
pub async fn list_certs(
    State(state): State<Shared>,
    super::ApiQuery(q): super::ApiQuery<CertsQuery>,
) -> Result<Json<CertsPage>, ApiError> {
    use super::ErrorCode;
    let (page, per_page) = super::audit::paging(q.page, q.per_page)?;
    if let Some(s) = &q.status {
        if !matches!(s.as_str(), "active" | "expired" | "revoked") {
            return Err(ApiError::new(
                ErrorCode::BadRequest,
                "status must be active, expired or revoked",
            ));
        }
    }
    let after = super::audit::time_bound("issued_after", q.issued_after.as_deref(), false)?;
    let before = super::audit::time_bound("issued_before", q.issued_before.as_deref(), true)?;
    let filter = CertFilter {
        subject: q.subject,
        status: q.status.as_deref().and_then(StatusFilter::parse),
        issued_after: after,
        issued_before: before,
        ..CertFilter::default()
    };
    let s = state.services.clone();
    blocking(move || {
        let issuers: std::collections::HashMap<String, String> = s
            .issuers
            .list_cas()
            .iter()
            .map(|c| (c.record.id.clone(), c.record.subject.clone()))
            .collect();
        let now = sigil_shared::time::now_unix();
        let (page_of, total) = s.certificates.find_certs(&filter, page, per_page)?;
        let mut certificates = Vec::with_capacity(page_of.len());
        for c in page_of {
            let enrollment = s.certificates.meta(&c.serial)?.map(|m| m.enrollment);
            certificates.push(CertSummary {
                serial: colon_hex(&c.serial),
                issuer: issuers.get(&c.issuer_id).cloned().unwrap_or_default(),
                status: status_of(&c, now),
                subject: c.subject,
                not_before: rfc3339(c.not_before),
                not_after: rfc3339(c.not_after),
                ca_id: c.issuer_id,
                enrollment_type: enrollment.unwrap_or(Enrollment::Api).as_str(),
            });
        }
        Ok::<_, CertError>(CertsPage {
            page,
            per_page,
            total,
            certificates,
        })
    })
    .await
    .map(Json)
}
