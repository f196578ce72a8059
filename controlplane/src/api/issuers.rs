//! `/api/v1/issuers`: create, list, get, and the current CRL.

use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use sigil_shared::time::rfc3339;

use super::{blocking, ApiError, ApiJson, Shared};
use crate::authority::CreateCa;
use crate::ca::{CaHealth, CaRuntime};
use crate::crypto::pkcs11::TokenRef;
use crate::db::KeyRef;
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

#[derive(Debug, Serialize)]
pub struct IssuerView {
    pub id: String,
    pub name: String,
    pub subject: String,
    pub key_algorithm: &'static str,
    pub parent_id: Option<String>,
    pub imported: bool,
    pub certificate: String,
    pub chain: Vec<String>,
    pub not_before: String,
    pub not_after: String,
    pub created_at: String,
    pub ocsp_url: String,
    pub crl_url: String,
    pub ca_issuers_url: String,
    pub key_store: KeyStoreView,
    pub health: CaHealth,
}

pub fn view(state: &Shared, ca: &CaRuntime) -> IssuerView {
    let r = &ca.record;
    let base = state
        .authority
        .config
        .distribution
        .base_url
        .trim_end_matches('/');
    IssuerView {
        id: r.id.clone(),
        name: r.name.clone(),
        subject: r.subject.clone(),
        key_algorithm: r.key_algorithm.name(),
        parent_id: r.parent_id.clone(),
        imported: r.imported,
        certificate: cert_pem(&r.cert_der),
        chain: r.chain_der.iter().map(|d| cert_pem(d)).collect(),
        not_before: rfc3339(r.not_before),
        not_after: rfc3339(r.not_after),
        created_at: rfc3339(r.created_at),
        ocsp_url: format!("{base}/ocsp"),
        crl_url: format!("{base}/crl/{}.crl", r.id),
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
    let auth = state.authority.clone();
    let ca = blocking(move || auth.create_ca(req)).await?;
    Ok((StatusCode::CREATED, Json(view(&state, &ca))).into_response())
}

#[derive(Debug, Serialize)]
pub struct IssuerList {
    pub data: Vec<IssuerView>,
    pub total: usize,
}

pub async fn list(State(state): State<Shared>) -> Json<IssuerList> {
    let data: Vec<IssuerView> = state
        .authority
        .list_cas()
        .iter()
        .map(|c| view(&state, c))
        .collect();
    Json(IssuerList {
        total: data.len(),
        data,
    })
}

pub async fn get_one(
    State(state): State<Shared>,
    Path(id): Path<String>,
) -> Result<Json<IssuerView>, ApiError> {
    let ca = state.authority.ca(&id)?;
    Ok(Json(view(&state, &ca)))
}

/// The current DER CRL (`application/pkix-crl`).
pub async fn crl(
    State(state): State<Shared>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let auth = state.authority.clone();
    let crl = blocking(move || auth.crl(&id)).await?;
    Ok(([(header::CONTENT_TYPE, "application/pkix-crl")], crl.der).into_response())
}
