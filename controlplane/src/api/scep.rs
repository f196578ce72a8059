//! Pending SCEP requests (`[scep] pending`): list, read, approve (issues the certificate),
//! reject. Permissions: `read:certificates` to read, `write:certificates` to decide.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::Json;
use serde::{Deserialize, Serialize};
use sigil_shared::time::rfc3339;

use super::{blocking, ApiError, ApiQuery, ErrorCode, Shared};
use crate::db::{ScepRequest, ScepRequestState};
use crate::services::ScepRequestError;

/// A request as the API shows it.
#[derive(Debug, Serialize)]
pub struct ScepRequestView {
    id: String,
    issuer_id: String,
    profile: Option<String>,
    transaction_id: String,
    subject: String,
    sans: Vec<String>,
    created_at: String,
    source: String,
    /// `pending`, `approved` or `rejected`.
    state: &'static str,
    cert_id: Option<String>,
    decided_at: Option<String>,
    decided_by: Option<String>,
    reason: Option<String>,
}

fn view(r: &ScepRequest) -> ScepRequestView {
    let v = r.v1();
    let (cert_id, decided_at, decided_by, reason) = match &v.state {
        ScepRequestState::Pending => (None, None, None, None),
        ScepRequestState::Approved { cert_id, at, by } => (
            Some(cert_id.clone()),
            Some(rfc3339(*at)),
            Some(by.clone()),
            None,
        ),
        ScepRequestState::Rejected { at, by, reason } => (
            None,
            Some(rfc3339(*at)),
            Some(by.clone()),
            Some(reason.clone()),
        ),
    };
    ScepRequestView {
        id: v.id.clone(),
        issuer_id: v.issuer_id.clone(),
        profile: v.profile.clone(),
        transaction_id: v.transaction_id.clone(),
        subject: v.subject.clone(),
        sans: v.sans.clone(),
        created_at: rfc3339(v.created_at),
        source: v.source.clone(),
        state: v.state.name(),
        cert_id,
        decided_at,
        decided_by,
        reason,
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// `pending`, `approved` or `rejected`.
    state: Option<String>,
}

pub async fn list(
    State(state): State<Shared>,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Json<Vec<ScepRequestView>>, ApiError> {
    if let Some(s) = &q.state {
        if !matches!(s.as_str(), "pending" | "approved" | "rejected") {
            return Err(ApiError::new(
                ErrorCode::BadRequest,
                "state must be pending, approved or rejected",
            ));
        }
    }
    let requests = state.services.scep_requests.clone();
    let all = blocking(move || requests.list(q.state.as_deref())).await?;
    Ok(Json(all.iter().map(view).collect()))
}

pub async fn get_one(
    State(state): State<Shared>,
    Path(id): Path<String>,
) -> Result<Json<ScepRequestView>, ApiError> {
    let requests = state.services.scep_requests.clone();
    let found =
        blocking(move || requests.get(&id)?.ok_or(ScepRequestError::NotFound { id })).await?;
    Ok(Json(view(&found)))
}

#[derive(Debug, Serialize)]
pub struct Approved {
    request: ScepRequestView,
    /// The issued certificate's id (`/api/v1/certificates/{id}`).
    cert_id: String,
}

pub async fn approve(
    State(state): State<Shared>,
    Path(id): Path<String>,
) -> Result<Json<Approved>, ApiError> {
    let requests = state.services.scep_requests.clone();
    let (rec, cert) = blocking(move || requests.approve(&id)).await?;
    Ok(Json(Approved {
        request: view(&rec),
        cert_id: cert.id,
    }))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RejectBody {
    reason: Option<String>,
}

pub async fn reject(
    State(state): State<Shared>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<ScepRequestView>, ApiError> {
    // The body is optional: none, or `{"reason": "…"}`.
    let parsed: RejectBody = if body.iter().all(u8::is_ascii_whitespace) {
        RejectBody::default()
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| ApiError::new(ErrorCode::BadRequest, format!("invalid JSON body: {e}")))?
    };
    let reason = parsed
        .reason
        .unwrap_or_else(|| "rejected by an administrator".into());
    if reason.chars().count() > 512 {
        return Err(ApiError::new(
            ErrorCode::BadRequest,
            "reason must be at most 512 characters",
        ));
    }
    let requests = state.services.scep_requests.clone();
    let rec = blocking(move || requests.reject(&id, &reason)).await?;
    Ok(Json(view(&rec)))
}
