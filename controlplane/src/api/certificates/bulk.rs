//! `POST /api/v1/certificates/bulk-revoke` (certctl's `BulkRevokeRequest` →
//! `BulkRevokeResult`, with the ids revoked and skipped listed too).

use axum::extract::State;
use axum::Json;
use serde::{Deserialize, Serialize};
use sigil_shared::ocsp::RevocationReason;

use super::super::{blocking, ApiError, ApiJson, ErrorCode, Shared};
use crate::services::certificates::{normalize_id, CertFilter};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BulkRevokeBody {
    /// RFC 5280 reason name (certctl's `RevocationReason`); required.
    pub reason: String,
    pub issuer_id: Option<String>,
    /// The issuance profile (certctl's certificate profile).
    pub profile_id: Option<String>,
    /// Certificate ids (hex serials; `0A:1B:…` accepted).
    pub certificate_ids: Option<Vec<String>>,
    /// Substring of the subject (case-insensitive).
    pub subject: Option<String>,
    /// RFC 3339 or `YYYY-MM-DD` bounds on the issuance time (inclusive).
    pub issued_after: Option<String>,
    pub issued_before: Option<String>,
    /// certctl criteria Sigil has no data for: refused rather than ignored (ignoring one
    /// would revoke more than asked).
    pub owner_id: Option<serde_json::Value>,
    pub agent_id: Option<serde_json::Value>,
    pub team_id: Option<serde_json::Value>,
}

#[derive(Debug, Serialize)]
pub struct BulkError {
    pub certificate_id: String,
    pub error: String,
}

#[derive(Debug, Serialize)]
pub struct Skipped {
    pub certificate_id: String,
    pub reason: String,
}

#[derive(Debug, Serialize)]
pub struct BulkRevokeResult {
    pub total_matched: u64,
    pub total_revoked: u64,
    pub total_skipped: u64,
    pub total_failed: u64,
    /// Failed revocations.
    pub errors: Vec<BulkError>,
    pub revoked: Vec<String>,
    /// Already revoked or expired.
    pub skipped: Vec<Skipped>,
}

pub async fn revoke(
    State(state): State<Shared>,
    ApiJson(b): ApiJson<BulkRevokeBody>,
) -> Result<Json<BulkRevokeResult>, ApiError> {
    use super::super::audit::time_bound;
    let bad = |m: String| ApiError::new(ErrorCode::BadRequest, m);
    refuse_unknown_criteria(&b.owner_id, &b.agent_id, &b.team_id)?;
    let reason = RevocationReason::parse(&b.reason).ok_or_else(|| {
        bad(format!(
            "reason {:?} is not an RFC 5280 revocation reason; use one of {}",
            b.reason,
            RevocationReason::ALL.map(|r| r.name()).join(", ")
        ))
    })?;
    let filter = CertFilter {
        issuer_id: b.issuer_id,
        profile: b.profile_id,
        subject: b.subject.filter(|s| !s.is_empty()),
        issued_after: time_bound("issued_after", b.issued_after.as_deref(), false)?,
        issued_before: time_bound("issued_before", b.issued_before.as_deref(), true)?,
        ids: b
            .certificate_ids
            .map(|ids| ids.iter().map(|i| normalize_id(i)).collect()),
        ..Default::default()
    };
    let certificates = state.services.certificates.clone();
    let out = blocking(move || certificates.bulk_revoke(&filter, reason)).await?;
    Ok(Json(BulkRevokeResult {
        total_matched: out.matched,
        total_revoked: out.revoked.len() as u64,
        total_skipped: out.skipped.len() as u64,
        total_failed: out.failed.len() as u64,
        errors: out
            .failed
            .into_iter()
            .map(|(certificate_id, error)| BulkError {
                certificate_id,
                error,
            })
            .collect(),
        revoked: out.revoked,
        skipped: out
            .skipped
            .into_iter()
            .map(|(certificate_id, reason)| Skipped {
                certificate_id,
                reason,
            })
            .collect(),
    }))
}

/// certctl's criteria Sigil has no data for (owner, agent, team): refused rather than ignored,
/// since ignoring one would act on more certificates than asked.
pub(super) fn refuse_unknown_criteria(
    owner_id: &Option<serde_json::Value>,
    agent_id: &Option<serde_json::Value>,
    team_id: &Option<serde_json::Value>,
) -> Result<(), ApiError> {
    for (name, v) in [
        ("owner_id", owner_id),
        ("agent_id", agent_id),
        ("team_id", team_id),
    ] {
        if v.is_some() {
            return Err(ApiError::new(
                ErrorCode::BadRequest,
                format!("{name} is not supported: Sigil has no owners, agents or teams"),
            ));
        }
    }
    Ok(())
}
