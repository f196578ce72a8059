//! The certificate lifecycle (certctl's shapes): `POST …/{id}/renew`, `POST …/bulk-renew`,
//! `GET …/{id}/versions` and `DELETE …/{id}` (archive).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use sigil_shared::time::rfc3339;

use super::super::audit::{paging, time_bound, Paged};
use super::super::{blocking, ApiError, ApiJson, ApiQuery, ErrorCode, Shared};
use super::bulk::BulkError;
use super::keygen::pkcs8_pem;
use super::{full_view, CertView};
use crate::crypto::KeyAlgorithm;
use crate::services::certificates::{normalize_id, status_of, CertFilter, RenewKey};
use crate::x509::cert_pem;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RenewBody {
    /// PEM PKCS#10 for the new certificate's key (same or new); its subject and SANs must be
    /// the certificate's, or absent.
    pub csr: Option<String>,
    /// Generate the new key here (returned once as `private_key`): `true` for the
    /// certificate's algorithm, or name one in `key_algorithm`.
    pub generate_key: Option<bool>,
    pub key_algorithm: Option<String>,
    pub validity_days: Option<u32>,
}

#[derive(Debug, Serialize)]
pub struct RenewedView {
    #[serde(flatten)]
    pub certificate: CertView,
    /// `same` (the old certificate's key), `csr` or `generated`.
    pub key: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub private_key: Option<String>,
}

fn bad(m: impl Into<String>) -> ApiError {
    ApiError::new(ErrorCode::BadRequest, m)
}

impl RenewBody {
    fn key(&self) -> Result<RenewKey, ApiError> {
        let alg = self
            .key_algorithm
            .as_deref()
            .map(|a| KeyAlgorithm::parse(a).ok_or_else(|| bad(format!("key_algorithm {a:?} is not one of ecdsa-p256, ecdsa-p384, ed25519, rsa-2048, rsa-3072, rsa-4096"))))
            .transpose()?;
        let generate = self.generate_key.unwrap_or(false) || alg.is_some();
        match (&self.csr, generate) {
            (Some(_), true) => Err(bad(
                "send either a csr or generate_key/key_algorithm, not both",
            )),
            (Some(csr), false) => Ok(RenewKey::Csr(csr.clone().into_bytes())),
            (None, true) => Ok(RenewKey::Generate(alg)),
            (None, false) => Ok(RenewKey::Same),
        }
    }
}

/// `POST /api/v1/certificates/{id}/renew`: 201 with the new certificate. An empty body
/// renews with the certificate's own key.
pub async fn renew(
    State(state): State<Shared>,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let body: RenewBody = if body.iter().all(u8::is_ascii_whitespace) {
        RenewBody::default()
    } else {
        serde_json::from_slice(&body).map_err(|e| bad(format!("invalid JSON body: {e}")))?
    };
    let key = body.key()?;
    let certificates = state.services.certificates.clone();
    let id = normalize_id(&id);
    let days = body.validity_days;
    let renewed = blocking(move || certificates.renew(&id, &key, days)).await?;
    let out = RenewedView {
        certificate: full_view(&state, renewed.cert).await?,
        key: renewed.key,
        private_key: renewed.pkcs8.as_deref().map(pkcs8_pem),
    };
    Ok((StatusCode::CREATED, Json(out)).into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BulkRenewBody {
    pub issuer_id: Option<String>,
    pub profile_id: Option<String>,
    pub certificate_ids: Option<Vec<String>>,
    /// Substring of the subject (case-insensitive).
    pub subject: Option<String>,
    /// RFC 3339 or `YYYY-MM-DD` bounds on notAfter (inclusive): e.g. everything expiring
    /// within a month.
    pub expires_before: Option<String>,
    pub expires_after: Option<String>,
    pub validity_days: Option<u32>,
    /// certctl criteria Sigil has no data for: refused rather than ignored.
    pub owner_id: Option<serde_json::Value>,
    pub agent_id: Option<serde_json::Value>,
    pub team_id: Option<serde_json::Value>,
}

#[derive(Debug, Serialize)]
pub struct Renewal {
    pub certificate_id: String,
    /// The new certificate's id (certctl's `job_id`: the renewal is done, not queued).
    pub job_id: String,
    pub new_certificate_id: String,
}

#[derive(Debug, Serialize)]
pub struct Skipped {
    pub certificate_id: String,
    pub reason: String,
}

/// certctl's `BulkRenewResult`, with the skipped ones listed.
#[derive(Debug, Serialize)]
pub struct BulkRenewResult {
    pub total_matched: u64,
    pub total_enqueued: u64,
    pub total_skipped: u64,
    pub total_failed: u64,
    pub enqueued_jobs: Vec<Renewal>,
    pub skipped: Vec<Skipped>,
    pub errors: Vec<BulkError>,
}

/// `POST /api/v1/certificates/bulk-renew`: every matching certificate renewed with its own
/// key, synchronously; at least one criterion is required.
pub async fn bulk_renew(
    State(state): State<Shared>,
    ApiJson(b): ApiJson<BulkRenewBody>,
) -> Result<Json<BulkRenewResult>, ApiError> {
    super::bulk::refuse_unknown_criteria(&b.owner_id, &b.agent_id, &b.team_id)?;
    let filter = CertFilter {
        issuer_id: b.issuer_id,
        profile: b.profile_id,
        subject: b.subject.filter(|s| !s.is_empty()),
        expires_after: time_bound("expires_after", b.expires_after.as_deref(), false)?,
        expires_before: time_bound("expires_before", b.expires_before.as_deref(), true)?,
        ids: b
            .certificate_ids
            .map(|ids| ids.iter().map(|i| normalize_id(i)).collect()),
        ..Default::default()
    };
    let certificates = state.services.certificates.clone();
    let days = b.validity_days;
    let out = blocking(move || certificates.bulk_renew(&filter, days)).await?;
    Ok(Json(BulkRenewResult {
        total_matched: out.matched,
        total_enqueued: out.renewed.len() as u64,
        total_skipped: out.skipped.len() as u64,
        total_failed: out.failed.len() as u64,
        enqueued_jobs: out
            .renewed
            .into_iter()
            .map(|(certificate_id, new)| Renewal {
                certificate_id,
                job_id: new.clone(),
                new_certificate_id: new,
            })
            .collect(),
        skipped: out
            .skipped
            .into_iter()
            .map(|(certificate_id, reason)| Skipped {
                certificate_id,
                reason,
            })
            .collect(),
        errors: out
            .failed
            .into_iter()
            .map(|(certificate_id, error)| BulkError {
                certificate_id,
                error,
            })
            .collect(),
    }))
}

/// certctl's `CertificateVersion`: one certificate of a renewal chain.
#[derive(Debug, Serialize)]
pub struct VersionView {
    /// This version's certificate id (its serial).
    pub id: String,
    /// The first certificate of the chain: the same for every version.
    pub certificate_id: String,
    /// 1 for the first certificate.
    pub version: u64,
    pub serial_number: String,
    pub status: &'static str,
    pub not_before: String,
    pub not_after: String,
    pub fingerprint_sha256: String,
    /// The certificate, then its chain up to the root.
    pub pem_chain: String,
    pub key_algorithm: Option<&'static str>,
    pub key_size: Option<u32>,
    pub created_at: String,
}

/// `GET /api/v1/certificates/{id}/versions`: the renewal chain `id` is in, oldest first.
pub async fn versions(
    State(state): State<Shared>,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<super::super::audit::PageQuery>,
) -> Result<Json<Paged<VersionView>>, ApiError> {
    let (page, per_page) = paging(q.page, q.per_page)?;
    let s = state.services.clone();
    let id = normalize_id(&id);
    let (all, chains) = blocking(move || {
        let all = s.certificates.versions(&id)?;
        let mut chains = std::collections::HashMap::new();
        for c in &all {
            if !chains.contains_key(&c.issuer_id) {
                chains.insert(
                    c.issuer_id.clone(),
                    s.issuers.chain_pem(&c.issuer_id)?.concat(),
                );
            }
        }
        Ok::<_, crate::services::ServiceError>((all, chains))
    })
    .await?;
    let first = all.first().map(|c| c.id.clone()).unwrap_or_default();
    let now = sigil_shared::time::now_unix();
    let skip =
        usize::try_from(page.saturating_sub(1).saturating_mul(per_page)).unwrap_or(usize::MAX);
    let data = (1u64..)
        .zip(all.iter())
        .skip(skip)
        .take(per_page as usize)
        .map(|(version, c)| {
            let alg = crate::x509::spki_of_cert(&c.der)
                .ok()
                .and_then(|spki| crate::est::keygen::algorithm_of(&spki));
            VersionView {
                id: c.id.clone(),
                certificate_id: first.clone(),
                version,
                serial_number: c.id.clone(),
                status: status_of(c, now),
                not_before: rfc3339(c.not_before),
                not_after: rfc3339(c.not_after),
                fingerprint_sha256: hex::encode(aws_lc_rs::digest::digest(
                    &aws_lc_rs::digest::SHA256,
                    &c.der,
                )),
                pem_chain: format!(
                    "{}{}",
                    cert_pem(&c.der),
                    chains.get(&c.issuer_id).map_or("", String::as_str)
                ),
                key_algorithm: alg.map(|a| a.family()),
                key_size: alg.map(KeyAlgorithm::key_bits),
                created_at: rfc3339(c.created_at),
            }
        })
        .collect();
    Ok(Json(Paged {
        data,
        total: all.len() as u64,
        page,
        per_page,
    }))
}

/// `DELETE /api/v1/certificates/{id}`: archive (204; again: 204). Still served by OCSP and
/// CRLs until it expires.
pub async fn archive(
    State(state): State<Shared>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let certificates = state.services.certificates.clone();
    let id = normalize_id(&id);
    blocking(move || certificates.archive(&id)).await?;
    Ok(StatusCode::NO_CONTENT)
}
