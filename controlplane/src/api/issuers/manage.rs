//! `DELETE /api/v1/issuers/{id}` (`?force=true` revokes its live certificates first),
//! `POST /api/v1/issuers/{id}/test` (a probe signed and verified) and
//! `POST /api/v1/issuers/{id}/crl` (regenerate its CRL now).

use axum::extract::{Path, State};
use axum::Json;
use serde::{Deserialize, Serialize};
use sigil_shared::ocsp::RevocationReason;
use sigil_shared::time::rfc3339;

use super::super::{blocking, ApiError, ApiQuery, Shared};
use crate::services::certificates::CertFilter;
use crate::services::issuers::{Deletion, ProbeResult};
use crate::services::ServiceError;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeleteQuery {
    pub force: Option<bool>,
}

#[derive(Debug, Serialize)]
pub struct DeletedView {
    pub id: String,
    pub deleted: bool,
    /// Unexpired, unrevoked certificates it had, and how many of them the deletion revoked.
    pub live_certificates: u64,
    pub revoked: u64,
}

/// 200 with what was done; 409 while it has live certificates and `force` is not set.
pub async fn delete(
    State(state): State<Shared>,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<DeleteQuery>,
) -> Result<Json<DeletedView>, ApiError> {
    let s = state.services.clone();
    let force = q.force.unwrap_or(false);
    let target = id.clone();
    let done: Deletion = blocking(move || {
        let live = || Ok::<_, ServiceError>(s.certificates.live_count(&target)?);
        let revoke = || {
            let filter = CertFilter {
                issuer_id: Some(target.clone()),
                ..Default::default()
            };
            let out = s
                .certificates
                .bulk_revoke(&filter, RevocationReason::CessationOfOperation)?;
            if let Some((cert, error)) = out.failed.first() {
                return Err(ServiceError::from(
                    crate::services::issuers::IssuerError::RevocationIncomplete {
                        failed: out.failed.len() as u64,
                        first: format!("{cert}: {error}"),
                    },
                ));
            }
            Ok(out.revoked.len() as u64)
        };
        s.issuers.delete_issuer(&target, force, &live, &revoke)
    })
    .await?;
    Ok(Json(DeletedView {
        id,
        deleted: true,
        live_certificates: done.live,
        revoked: done.revoked,
    }))
}

#[derive(Debug, Serialize)]
pub struct TestView {
    /// `ok` (a failure is a 503 error).
    pub status: &'static str,
    #[serde(flatten)]
    pub probe: ProbeResult,
}

pub async fn test(
    State(state): State<Shared>,
    Path(id): Path<String>,
) -> Result<Json<TestView>, ApiError> {
    let issuers = state.services.issuers.clone();
    let probe = blocking(move || issuers.test_issuer(&id)).await?;
    Ok(Json(TestView {
        status: "ok",
        probe,
    }))
}

#[derive(Debug, Serialize)]
pub struct CrlView {
    pub issuer_id: String,
    pub crl_number: u64,
    pub this_update: String,
    pub next_update: String,
    pub size_bytes: usize,
}

/// A new CRL, signed and replicated before the answer.
pub async fn regenerate_crl(
    State(state): State<Shared>,
    Path(id): Path<String>,
) -> Result<Json<CrlView>, ApiError> {
    let issuers = state.services.issuers.clone();
    let crl = blocking(move || issuers.regenerate_crl_requested(&id)).await?;
    Ok(Json(CrlView {
        issuer_id: crl.issuer_id,
        crl_number: crl.number,
        this_update: rfc3339(crl.this_update),
        next_update: rfc3339(crl.next_update),
        size_bytes: crl.der.len(),
    }))
}
