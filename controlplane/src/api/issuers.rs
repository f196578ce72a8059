//! `/api/v1/issuers` (certctl's issuer shapes): create, list (paged), get, update and
//! disable/enable (`PUT`/`PATCH` with `name`, `enabled`, `config`), and the current CRL;
//! delete, key test and CRL regeneration in [`manage`]. Deleted issuers are not shown.

pub mod manage;

use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use sigil_shared::time::rfc3339;

use super::{blocking, ApiError, ApiJson, ApiQuery, Shared};
use crate::ca::{CaHealth, CaRuntime};
use crate::crypto::pkcs11::TokenRef;
use crate::db::KeyRef;
use crate::services::issuers::{CreateCa, IssuerSettings, IssuerUpdate};
use crate::services::ServiceError;
use crate::x509::cert_pem;

/// Where the CA key lives (never a PIN: only the name of the variable holding it).
#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum KeyStoreView {
    Software,
    Pkcs11 {
        key_label: String,
        tokens: Vec<TokenRef>,
    },
}

/// certctl's issuer `config`: Sigil's issuance policy of the issuer.
#[derive(Debug, Serialize)]
pub struct PolicyView {
    /// Profile used when a request names none (`null`: `default`).
    pub default_profile: Option<String>,
    /// `null`: every configured profile.
    pub allowed_profiles: Option<Vec<String>>,
    pub max_validity_days: Option<u32>,
    /// CRL shards of the certificates issued from now on (`null`: the complete CRL only).
    pub crl_shards: Option<u32>,
}

#[derive(Debug, Serialize)]
pub struct IssuerView {
    pub id: String,
    pub name: String,
    /// certctl's `IssuerType`: Sigil's own CAs are `GenericCA`.
    #[serde(rename = "type")]
    pub issuer_type: &'static str,
    /// A disabled issuer refuses issuance but still revokes and serves OCSP and CRLs.
    pub enabled: bool,
    pub disabled_at: Option<String>,
    pub config: PolicyView,
    pub subject: String,
    pub key_algorithm: &'static str,
    pub parent_id: Option<String>,
    pub imported: bool,
    pub certificate: String,
    pub chain: Vec<String>,
    pub not_before: String,
    pub not_after: String,
    pub created_at: String,
    /// Last settings change (the creation time when never changed).
    pub updated_at: String,
    pub ocsp_url: String,
    pub crl_url: String,
    /// Every CRL published for the issuer (complete, shards, deltas), as URLs.
    pub crl_urls: Vec<String>,
    pub ca_issuers_url: String,
    pub key_store: KeyStoreView,
    pub health: CaHealth,
}

pub fn view(state: &Shared, ca: &CaRuntime, s: IssuerSettings) -> IssuerView {
    let r = &ca.record;
    let base = state.services.issuers.distribution_base();
    let crl_urls = state.services.issuers.crl_urls(&r.id, &s);
    IssuerView {
        id: r.id.clone(),
        name: s.name.unwrap_or_else(|| r.name.clone()),
        issuer_type: "GenericCA",
        enabled: !s.disabled,
        disabled_at: s.disabled_at.map(rfc3339),
        config: PolicyView {
            crl_shards: s.crl_shards,
            default_profile: s.default_profile,
            allowed_profiles: s.allowed_profiles,
            max_validity_days: s.max_validity_days,
        },
        subject: r.subject.clone(),
        key_algorithm: r.key_algorithm.name(),
        parent_id: r.parent_id.clone(),
        imported: r.imported,
        certificate: cert_pem(&r.cert_der),
        chain: r.chain_der.iter().map(|d| cert_pem(d)).collect(),
        not_before: rfc3339(r.not_before),
        not_after: rfc3339(r.not_after),
        created_at: rfc3339(r.created_at),
        updated_at: rfc3339(s.updated_at.unwrap_or(r.created_at)),
        ocsp_url: format!("{base}/ocsp"),
        crl_url: format!("{base}/crl/{}.crl", r.id),
        crl_urls,
        ca_issuers_url: format!("{base}/ca/{}.cer", r.id),
        key_store: match &r.key {
            KeyRef::Software => KeyStoreView::Software,
            KeyRef::Pkcs11 { tokens, key_label } => KeyStoreView::Pkcs11 {
                key_label: key_label.clone(),
                tokens: tokens.clone(),
            },
        },
        health: ca.health(),
    }
}

pub async fn create(
    State(state): State<Shared>,
    ApiJson(req): ApiJson<CreateCa>,
) -> Result<Response, ApiError> {
    let issuers = state.services.issuers.clone();
    let (ca, s) = blocking(move || {
        let ca = issuers.create_ca(req)?;
        let s = issuers.issuer_settings(&ca.record.id)?;
        Ok::<_, ServiceError>((ca, s))
    })
    .await?;
    Ok((StatusCode::CREATED, Json(view(&state, &ca, s))).into_response())
}

pub async fn list(
    State(state): State<Shared>,
    ApiQuery(q): ApiQuery<super::audit::PageQuery>,
) -> Result<Json<super::audit::Paged<IssuerView>>, ApiError> {
    let (page, per_page) = super::audit::paging(q.page, q.per_page)?;
    let issuers = state.services.issuers.clone();
    let all = blocking(move || {
        issuers
            .list_cas()
            .into_iter()
            .map(|c| {
                let s = issuers.issuer_settings(&c.record.id)?;
                Ok((c, s))
            })
            .filter(|r| !matches!(r, Ok((_, s)) if s.deleted_at.is_some()))
            .collect::<Result<Vec<_>, ServiceError>>()
    })
    .await?;
    Ok(Json(super::audit::page_of(
        all,
        page,
        per_page,
        |(c, s)| view(&state, &c, s),
    )))
}

pub async fn get_one(
    State(state): State<Shared>,
    Path(id): Path<String>,
) -> Result<Json<IssuerView>, ApiError> {
    let issuers = state.services.issuers.clone();
    let (ca, s) = blocking(move || {
        Ok::<_, ServiceError>((issuers.visible_ca(&id)?, issuers.issuer_settings(&id)?))
    })
    .await?;
    Ok(Json(view(&state, &ca, s)))
}

/// `PUT`/`PATCH /api/v1/issuers/{id}`: `{"name", "enabled", "config": {"default_profile",
/// "allowed_profiles", "max_validity_days"}}`, each optional (`null` in `config` clears).
pub async fn update(
    State(state): State<Shared>,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<IssuerUpdate>,
) -> Result<Json<IssuerView>, ApiError> {
    let issuers = state.services.issuers.clone();
    let (ca, s) = blocking(move || {
        let s = issuers.update_issuer(&id, &body)?;
        Ok::<_, ServiceError>((issuers.ca(&id)?, s))
    })
    .await?;
    Ok(Json(view(&state, &ca, s)))
}

/// The current DER CRL (`application/pkix-crl`).
pub async fn crl(
    State(state): State<Shared>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let issuers = state.services.issuers.clone();
    let crl = blocking(move || issuers.crl(&id)).await?;
    Ok(([(header::CONTENT_TYPE, "application/pkix-crl")], crl.der).into_response())
}
