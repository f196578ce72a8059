//! `/api/v1/certificates`: issue, list (filters, certctl's paging envelope), get, revoke,
//! unhold, stored OCSP responses; bulk revocation, export, import, issuance with a generated
//! key and the lifecycle (renew, versions, archive) in the submodules.

pub mod bulk;
pub mod export;
pub mod import;
pub mod keygen;
pub mod lifecycle;

use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use sigil_shared::ocsp::{HashAlg, RevocationReason};
use sigil_shared::time::{now_unix, rfc3339};

use super::{blocking, ApiError, ApiJson, ApiQuery, ErrorCode, Shared};
use crate::db::{CertRecord, CertState};
use crate::services::certificates::{
    normalize_id, status_of, ArchivedFilter, CertFilter, IssueRequest, StatusFilter,
};
use crate::x509::cert_pem;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IssueBody {
    pub issuer_id: String,
    /// PEM PKCS#10; without it, a key is generated here ([`keygen`]).
    pub csr: Option<String>,
    pub validity_days: Option<u32>,
    pub profile: Option<String>,
    /// For a generated key: RFC 4514 subject, SANs and key algorithm (default ecdsa-p256),
    /// and a password to also get the key and chain as PKCS#12.
    pub subject: Option<String>,
    pub sans: Option<Vec<String>>,
    pub key_algorithm: Option<String>,
    pub pkcs12_password: Option<String>,
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
    /// Issuing CA first, root last (absent in lists).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chain: Option<Vec<String>>,
    /// When it was archived (`DELETE`), if it was.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub archived_at: Option<String>,
    /// The certificate this one renewed, and the one that renewed it (single views).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub renewed_from: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub renewed_by: Option<String>,
}

/// The full view of one certificate (chain, archive mark, renewal chain), read on a blocking
/// thread.
pub(super) async fn full_view(state: &Shared, c: CertRecord) -> Result<CertView, ApiError> {
    let s = state.services.clone();
    blocking(move || {
        let mut v = summary(&c);
        v.chain = Some(s.issuers.chain_pem(&c.issuer_id)?);
        v.archived_at = s.certificates.archived_at(&c.serial)?.map(rfc3339);
        if let Some(l) = s.certificates.lineage_of(&c.serial)? {
            v.renewed_from = l.renewed_from().map(String::from);
            v.renewed_by = l.renewed_by().map(String::from);
        }
        Ok::<_, crate::services::ServiceError>(v)
    })
    .await
}

async fn view(state: &Shared, c: &CertRecord) -> Result<CertView, ApiError> {
    full_view(state, c.clone()).await
}

/// The view without the chain (lists).
fn summary(c: &CertRecord) -> CertView {
    let (reason, at) = match c.state {
        CertState::Revoked { time, reason } => (Some(reason.name()), Some(rfc3339(time))),
        CertState::Active => (None, None),
    };
    let status = status_of(c, now_unix());
    CertView {
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
        chain: None,
        archived_at: None,
        renewed_from: None,
        renewed_by: None,
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    pub page: Option<u64>,
    pub per_page: Option<u64>,
    pub issuer_id: Option<String>,
    /// `active`, `expiring` (active, notAfter within 30 days), `expired`, `revoked`,
    /// `archived` (archived ones only); case-insensitive (certctl's `Active`, …).
    pub status: Option<String>,
    /// `true`: archived certificates too (hidden by default).
    pub include_archived: Option<bool>,
    /// Substring of the subject; `search`: of the subject or a SAN (case-insensitive).
    pub subject: Option<String>,
    pub search: Option<String>,
    pub profile: Option<String>,
    /// RFC 3339 or `YYYY-MM-DD` bounds on the issuance time and on notAfter (inclusive).
    pub issued_after: Option<String>,
    pub issued_before: Option<String>,
    pub expires_after: Option<String>,
    pub expires_before: Option<String>,
}

/// `GET /api/v1/certificates`: a scan of the certificate table (one issuer's part when
/// `issuer_id` is given), newest-first is not guaranteed: ordered by issuer, then serial.
pub async fn list(
    State(state): State<Shared>,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Json<super::audit::Paged<CertView>>, ApiError> {
    use super::audit::{paging, time_bound};
    let (page, per_page) = paging(q.page, q.per_page)?;
    let only_archived = q
        .status
        .as_deref()
        .is_some_and(|s| s.eq_ignore_ascii_case("archived"));
    let archived = match (only_archived, q.include_archived) {
        (true, _) => ArchivedFilter::Only,
        (false, Some(true)) => ArchivedFilter::Include,
        _ => ArchivedFilter::Exclude,
    };
    let status = q
        .status
        .as_deref()
        .filter(|_| !only_archived)
        .map(|s| {
            StatusFilter::parse(s).ok_or_else(|| {
                ApiError::new(
                    ErrorCode::BadRequest,
                    "status must be active, expiring, expired, revoked or archived",
                )
            })
        })
        .transpose()?;
    let filter = CertFilter {
        issuer_id: q.issuer_id,
        status,
        subject: q.subject,
        search: q.search,
        profile: q.profile,
        issued_after: time_bound("issued_after", q.issued_after.as_deref(), false)?,
        issued_before: time_bound("issued_before", q.issued_before.as_deref(), true)?,
        expires_after: time_bound("expires_after", q.expires_after.as_deref(), false)?,
        expires_before: time_bound("expires_before", q.expires_before.as_deref(), true)?,
        ids: None,
        archived: Some(archived),
    };
    let certificates = state.services.certificates.clone();
    let (data, total) = blocking(move || {
        let (certs, total) = certificates.find_certs(&filter, page, per_page)?;
        let mut data = Vec::with_capacity(certs.len());
        for c in &certs {
            let mut v = summary(c);
            if archived != ArchivedFilter::Exclude {
                v.archived_at = certificates.archived_at(&c.serial)?.map(rfc3339);
            }
            data.push(v);
        }
        Ok::<_, crate::services::certificates::CertError>((data, total))
    })
    .await?;
    Ok(Json(super::audit::Paged {
        data,
        total,
        page,
        per_page,
    }))
}

/// `POST /api/v1/certificates`: from a CSR, or with a key generated here ([`keygen`]).
pub async fn issue(
    State(state): State<Shared>,
    ApiJson(body): ApiJson<IssueBody>,
) -> Result<Response, ApiError> {
    let Some(csr) = body.csr.clone() else {
        return keygen::issue(state, body).await;
    };
    if body.subject.is_some()
        || body.sans.is_some()
        || body.key_algorithm.is_some()
        || body.pkcs12_password.is_some()
    {
        return Err(ApiError::new(
            ErrorCode::BadRequest,
            "subject, sans, key_algorithm and pkcs12_password are for a generated key: send them without a csr",
        ));
    }
    let certificates = state.services.certificates.clone();
    let req = IssueRequest {
        issuer_id: body.issuer_id,
        csr: csr.into_bytes(),
        validity_days: body.validity_days,
        profile: body.profile,
    };
    let rec = blocking(move || certificates.issue(req)).await?;
    Ok((StatusCode::CREATED, Json(view(&state, &rec).await?)).into_response())
}

pub async fn get_one(
    State(state): State<Shared>,
    Path(id): Path<String>,
) -> Result<Json<CertView>, ApiError> {
    let certificates = state.services.certificates.clone();
    let id = normalize_id(&id);
    let rec = blocking(move || certificates.cert(&id)).await?;
    Ok(Json(view(&state, &rec).await?))
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
    let certificates = state.services.certificates.clone();
    let id = normalize_id(&id);
    let rec = blocking(move || certificates.revoke(&id, reason)).await?;
    Ok(Json(view(&state, &rec).await?))
}

pub async fn unhold(
    State(state): State<Shared>,
    Path(id): Path<String>,
) -> Result<Json<CertView>, ApiError> {
    let certificates = state.services.certificates.clone();
    let id = normalize_id(&id);
    let rec = blocking(move || certificates.unhold(&id)).await?;
    Ok(Json(view(&state, &rec).await?))
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
    let certificates = state.services.certificates.clone();
    let id = normalize_id(&id);
    let entry = blocking(move || certificates.ocsp_response(&id, alg)).await?;
    Ok((
        [(header::CONTENT_TYPE, "application/ocsp-response")],
        entry.der,
    )
        .into_response())
}
