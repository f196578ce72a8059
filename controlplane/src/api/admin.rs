//! kipuka's admin API (`/admin/*`): OTP lifecycle so far. Same paths and JSON fields.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use sigil_shared::time::rfc3339;

use super::{blocking, ApiError, ApiJson, Shared};
use crate::authority::OtpRecord;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateOtp {
    pub entity_id: String,
    /// Seconds; default 3600.
    pub ttl: Option<u64>,
    /// Default 1.
    pub max_uses: Option<u32>,
}

#[derive(Debug, Serialize)]
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
    let auth = state.authority.clone();
    let (rec, otp) = blocking(move || {
        auth.create_otp(
            &body.entity_id,
            body.ttl.unwrap_or(3600),
            body.max_uses.unwrap_or(1),
        )
    })
    .await?;
    Ok((StatusCode::CREATED, Json(view(&rec, Some(otp)))).into_response())
}

pub async fn list_otps(State(state): State<Shared>) -> Result<Json<Vec<OtpView>>, ApiError> {
    let auth = state.authority.clone();
    let all = blocking(move || auth.active_otps()).await?;
    Ok(Json(all.iter().map(|r| view(r, None)).collect()))
}

pub async fn delete_otp(
    State(state): State<Shared>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let auth = state.authority.clone();
    blocking(move || auth.delete_otp(&id)).await?;
    Ok(StatusCode::NO_CONTENT)
}
