//! `/api/v1/profiles` (certctl's `CertificateProfile` shapes, with Sigil's own fields): list,
//! create, get, replace and delete issuance profiles. Profiles from the configuration file
//! and the built-in `default` are listed read-only.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use sigil_shared::time::rfc3339;

use super::audit::{page_of, paging, PageQuery, Paged};
use super::{blocking, ApiError, ApiJson, ApiQuery, ErrorCode, Shared};
use crate::config::{KeyRule, Profile, SanType};
use crate::services::profiles::{ProfileEntry, ProfileError, Source};
use crate::services::ServiceError;

#[derive(Debug, Serialize)]
pub struct ProfileView {
    pub id: String,
    pub name: String,
    pub description: String,
    pub enabled: bool,
    /// `config` (the configuration file: read-only), `api` or `builtin` (read-only).
    pub source: Source,
    pub read_only: bool,
    pub validity_days: u32,
    pub max_validity_days: u32,
    /// certctl's form of `max_validity_days`.
    pub max_ttl_seconds: u64,
    pub key_usage: Vec<String>,
    pub extended_key_usage: Vec<String>,
    /// certctl's name of `extended_key_usage`.
    pub allowed_ekus: Vec<String>,
    pub allowed_san_types: Vec<SanType>,
    pub require_san: bool,
    pub allowed_key_algorithms: Vec<KeyRule>,
    /// certctl's name of Sigil's `san_patterns`.
    pub required_san_patterns: Vec<String>,
    pub cn_patterns: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<String>,
}

fn view(e: ProfileEntry) -> ProfileView {
    let p = e.profile;
    ProfileView {
        id: e.name.clone(),
        name: e.name,
        description: p.description,
        enabled: p.enabled,
        source: e.source,
        read_only: e.source != Source::Api,
        validity_days: p.validity_days,
        max_validity_days: p.max_validity_days,
        max_ttl_seconds: u64::from(p.max_validity_days) * 86_400,
        key_usage: p.key_usage,
        allowed_ekus: p.extended_key_usage.clone(),
        extended_key_usage: p.extended_key_usage,
        allowed_san_types: p.allowed_san_types,
        require_san: p.require_san,
        allowed_key_algorithms: p.allowed_key_algorithms,
        required_san_patterns: p.san_patterns,
        cn_patterns: p.cn_patterns,
        created_at: e.created_at.map(rfc3339),
        updated_at: e.updated_at.map(rfc3339),
    }
}

/// A profile as sent: certctl's fields and Sigil's; absent fields take the defaults of a new
/// profile (a `PUT` replaces the whole profile). What a `GET` returns may be sent back.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProfileBody {
    pub id: Option<String>,
    pub name: Option<String>,
    pub description: Option<String>,
    pub enabled: Option<bool>,
    pub validity_days: Option<u32>,
    pub max_validity_days: Option<u32>,
    pub max_ttl_seconds: Option<u64>,
    pub key_usage: Option<Vec<String>>,
    pub extended_key_usage: Option<Vec<String>>,
    pub allowed_ekus: Option<Vec<String>>,
    pub allowed_san_types: Option<Vec<SanType>>,
    pub require_san: Option<bool>,
    pub allowed_key_algorithms: Option<Vec<KeyRule>>,
    #[serde(alias = "san_patterns")]
    pub required_san_patterns: Option<Vec<String>>,
    pub cn_patterns: Option<Vec<String>>,
    /// certctl: a pattern URI SANs must match; added to `required_san_patterns`.
    pub spiffe_uri_pattern: Option<String>,
    /// certctl: Sigil's shortest validity is a day; accepted and not stored.
    #[allow(dead_code)]
    pub allow_short_lived: Option<bool>,
    /// Read-only fields of a `GET`, accepted so that it can be sent back, ignored.
    #[allow(dead_code)]
    pub source: Option<serde_json::Value>,
    #[allow(dead_code)]
    pub read_only: Option<serde_json::Value>,
    #[allow(dead_code)]
    pub created_at: Option<serde_json::Value>,
    #[allow(dead_code)]
    pub updated_at: Option<serde_json::Value>,
}

fn bad(m: impl Into<String>) -> ApiError {
    ApiError::new(ErrorCode::BadRequest, m)
}

impl ProfileBody {
    /// The profile's name (`name`, or `id`; both must agree) and the profile.
    fn into_profile(self, path_name: Option<&str>) -> Result<(String, Profile), ApiError> {
        let name = match (self.id.as_deref(), self.name.as_deref(), path_name) {
            (Some(a), Some(b), _) if a != b => return Err(bad("id and name differ")),
            (_, _, Some(p))
                if [self.id.as_deref(), self.name.as_deref()]
                    .iter()
                    .flatten()
                    .any(|n| *n != p) =>
            {
                return Err(bad("the body names another profile than the path"))
            }
            (_, _, Some(p)) => p.to_string(),
            (Some(n), _, None) | (None, Some(n), None) => n.to_string(),
            (None, None, None) => return Err(bad("name is required")),
        };
        let mut p = Profile::default();
        if let Some(secs) = self.max_ttl_seconds {
            let days = u32::try_from(secs / 86_400).unwrap_or(u32::MAX);
            if secs < 86_400 || self.max_validity_days.is_some_and(|d| d != days) {
                return Err(bad("max_ttl_seconds must be at least 86400 (a day), and agree with max_validity_days when both are sent"));
            }
            p.max_validity_days = days;
        }
        if let Some(d) = self.max_validity_days {
            p.max_validity_days = d;
        }
        p.validity_days = self
            .validity_days
            .unwrap_or(p.validity_days.min(p.max_validity_days));
        match (self.extended_key_usage, self.allowed_ekus) {
            (Some(a), Some(b)) if a != b => {
                return Err(bad("extended_key_usage and allowed_ekus differ"))
            }
            (Some(e), _) | (None, Some(e)) => p.extended_key_usage = e,
            (None, None) => {}
        }
        if let Some(v) = self.key_usage {
            p.key_usage = v;
        }
        if let Some(v) = self.allowed_san_types {
            p.allowed_san_types = v;
        }
        p.require_san = self.require_san.unwrap_or(p.require_san);
        p.enabled = self.enabled.unwrap_or(true);
        p.description = self.description.unwrap_or_default();
        p.allowed_key_algorithms = self.allowed_key_algorithms.unwrap_or_default();
        p.san_patterns = self.required_san_patterns.unwrap_or_default();
        p.san_patterns
            .extend(self.spiffe_uri_pattern.filter(|s| !s.is_empty()));
        p.cn_patterns = self.cn_patterns.unwrap_or_default();
        Ok((name, p))
    }
}

pub async fn list(
    State(state): State<Shared>,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> Result<Json<Paged<ProfileView>>, ApiError> {
    let (page, per_page) = paging(q.page, q.per_page)?;
    let profiles = state.services.profiles.clone();
    let all = blocking(move || profiles.list()).await?;
    Ok(Json(page_of(all, page, per_page, view)))
}

pub async fn create(
    State(state): State<Shared>,
    ApiJson(body): ApiJson<ProfileBody>,
) -> Result<(StatusCode, Json<ProfileView>), ApiError> {
    let (name, profile) = body.into_profile(None)?;
    let profiles = state.services.profiles.clone();
    let e = blocking(move || profiles.create(&name, &profile)).await?;
    Ok((StatusCode::CREATED, Json(view(e))))
}

pub async fn get_one(
    State(state): State<Shared>,
    Path(name): Path<String>,
) -> Result<Json<ProfileView>, ApiError> {
    let profiles = state.services.profiles.clone();
    Ok(Json(view(blocking(move || profiles.get(&name)).await?)))
}

pub async fn update(
    State(state): State<Shared>,
    Path(name): Path<String>,
    ApiJson(body): ApiJson<ProfileBody>,
) -> Result<Json<ProfileView>, ApiError> {
    let (name, profile) = body.into_profile(Some(&name))?;
    let profiles = state.services.profiles.clone();
    Ok(Json(view(
        blocking(move || profiles.update(&name, &profile)).await?,
    )))
}

/// 204; 409 for a configured profile or one an issuer uses.
pub async fn delete(
    State(state): State<Shared>,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    let s = state.services.clone();
    blocking(move || {
        let used_by = |p: &str| {
            let mut out = Vec::new();
            for ca in s.issuers.list_cas() {
                let st = s
                    .issuers
                    .issuer_settings(&ca.record.id)
                    .map_err(|e| ProfileError::Invalid(e.to_string()))?;
                let uses = st.default_profile.as_deref() == Some(p)
                    || st
                        .allowed_profiles
                        .as_ref()
                        .is_some_and(|a| a.iter().any(|x| x == p));
                if uses && st.deleted_at.is_none() {
                    out.push(ca.record.id.clone());
                }
            }
            Ok(out)
        };
        s.profiles.delete(&name, &used_by)?;
        Ok::<_, ServiceError>(())
    })
    .await?;
    Ok(StatusCode::NO_CONTENT)
}
