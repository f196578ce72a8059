//! kipuka's admin API for CAs and health, same paths and JSON fields: `GET /admin/health`,
//! `GET /admin/ca`, `GET /admin/ca/{id}`. Optional fields (`error`, `hsm`) are left out when
//! they do not apply, as kipuka does; `label` is always present (`null` for the default CA).

pub mod chain;

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::Json;
use serde::Serialize;

use super::{blocking, ApiError, ErrorCode, Shared};
use crate::ca::CaRuntime;
use crate::crypto::pkcs11::slot_of;
use crate::crypto::HealthState;
use crate::db::KeyRef;
use crate::services::{Internal, IssuerError, ServiceError, Services};
use chain::ChainEntry;

/// The EST label of a CA: its current name (`/.well-known/est/<name>/`); `null` for the CA
/// named `default`, which EST serves without a label. Reads the issuer's settings (blocking).
fn label(s: &Services, ca: &CaRuntime) -> Result<Option<String>, IssuerError> {
    let name = s.issuers.issuer_name(&ca.record.id)?;
    Ok((name != "default").then_some(name))
}

fn ca_type(ca: &CaRuntime) -> &'static str {
    match ca.record.key {
        KeyRef::Software => "local",
        KeyRef::Pkcs11 { .. } => "hsm",
    }
}

/// One CA in `/admin/health`.
#[derive(Debug, Serialize)]
pub struct CaStatus {
    pub id: String,
    pub label: Option<String>,
    pub status: HealthState,
    /// RFC 3339; `null` when the CA has not signed since the control plane started.
    pub last_sign_time: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct DatabaseStatus {
    pub status: HealthState,
    pub backend: &'static str,
    /// Newest sequence of the replication log, and the oldest still retained.
    pub replication_head: u64,
    pub replication_oldest_retained: u64,
    /// Time of a read from the store, in milliseconds.
    pub read_latency_ms: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct Health {
    pub status: HealthState,
    pub version: &'static str,
    pub uptime_seconds: u64,
    pub cas: Vec<CaStatus>,
    pub database: DatabaseStatus,
}

/// Overall health: unhealthy when the database or any CA is, degraded when a CA is
/// degraded (it still signs), else healthy.
pub fn aggregate(database: HealthState, cas: impl IntoIterator<Item = HealthState>) -> HealthState {
    cas.into_iter().fold(database, HealthState::max)
}

/// A read from the store (blocking).
pub fn database_status(s: &Services) -> DatabaseStatus {
    let (latency, read) = s.replication.probe();
    let read_latency_ms = latency.as_secs_f64() * 1000.0;
    let (status, error) = match read {
        Ok(()) => (HealthState::Healthy, None),
        Err(e) => {
            tracing::error!(error = %e, "database health check failed");
            (HealthState::Unhealthy, Some(format!("read failed: {e}")))
        }
    };
    DatabaseStatus {
        status,
        backend: "rocksdb",
        replication_head: s.replication.head(),
        replication_oldest_retained: s.replication.oldest_retained(),
        read_latency_ms,
        error,
    }
}

/// Blocking (reads the issuer's settings).
fn ca_status(s: &Services, ca: &CaRuntime) -> Result<CaStatus, IssuerError> {
    let h = ca.health();
    Ok(CaStatus {
        id: ca.record.id.clone(),
        label: label(s, ca)?,
        status: h.status,
        last_sign_time: h.last_sign_at,
        error: h.error,
    })
}

/// Every CA with its status (blocking).
fn ca_statuses(s: &Services) -> Result<Vec<(Arc<CaRuntime>, CaStatus)>, IssuerError> {
    s.issuers
        .list_cas()
        .into_iter()
        .map(|ca| {
            let status = ca_status(s, &ca)?;
            Ok((ca, status))
        })
        .collect()
}

/// `GET /admin/health` (200 whatever the status; `/ready` is the probe that fails).
pub async fn health(State(state): State<Shared>) -> Result<Json<Health>, ApiError> {
    let s = state.services.clone();
    let (database, cas) = blocking(move || {
        let cas: Vec<CaStatus> = ca_statuses(&s)?.into_iter().map(|(_, s)| s).collect();
        Ok::<_, IssuerError>((database_status(&s), cas))
    })
    .await?;
    Ok(Json(Health {
        status: aggregate(database.status, cas.iter().map(|c| c.status)),
        version: env!("CARGO_PKG_VERSION"),
        uptime_seconds: state.services.metrics().started.elapsed().as_secs(),
        cas,
        database,
    }))
}

/// One CA in `GET /admin/ca`.
#[derive(Debug, Serialize)]
pub struct CaSummary {
    pub id: String,
    pub label: Option<String>,
    #[serde(rename = "type")]
    pub ca_type: &'static str,
    pub status: HealthState,
    pub last_sign_time: Option<String>,
}

pub async fn list(State(state): State<Shared>) -> Result<Json<Vec<CaSummary>>, ApiError> {
    let s = state.services.clone();
    let all = blocking(move || ca_statuses(&s)).await?;
    Ok(Json(
        all.into_iter()
            .map(|(ca, s)| CaSummary {
                id: s.id,
                label: s.label,
                ca_type: ca_type(&ca),
                status: s.status,
                last_sign_time: s.last_sign_time,
            })
            .collect(),
    ))
}

/// Where an HSM CA's key is: the first token's module and slot (`null` until the token was
/// opened), and the key's label.
#[derive(Debug, Serialize)]
pub struct HsmView {
    pub module: String,
    pub slot: Option<u64>,
    pub key_label: String,
}

#[derive(Debug, Serialize)]
pub struct CaDetail {
    pub id: String,
    pub label: Option<String>,
    #[serde(rename = "type")]
    pub ca_type: &'static str,
    pub status: HealthState,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hsm: Option<HsmView>,
    /// The CA's certificate first, its root last.
    pub certificate_chain: Vec<ChainEntry>,
    pub last_sign_time: Option<String>,
    pub total_certs_issued: u64,
}

/// `GET /admin/ca/{id}`. `total_certs_issued` counts the CA's certificates (a scan of its
/// part of the certificate table).
pub async fn get_one(
    State(state): State<Shared>,
    Path(id): Path<String>,
) -> Result<Json<CaDetail>, ApiError> {
    let s = state.services.clone();
    let ca = s.issuers.ca(&id).map_err(|_| {
        ApiError::new(
            ErrorCode::NotFound,
            format!("CA with id '{id}' does not exist"),
        )
    })?;
    let hsm = match &ca.record.key {
        KeyRef::Software => None,
        KeyRef::Pkcs11 { tokens, key_label } => tokens.first().map(|t| HsmView {
            module: t.module.clone(),
            slot: slot_of(t),
            key_label: key_label.clone(),
        }),
    };
    let certificate_chain = ca
        .chain_der()
        .map(|d| chain::entry(d))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|source| {
            ApiError::from(Internal::StoredCaCertificate {
                issuer_id: id.clone(),
                source,
            })
        })?;
    let c = ca.clone();
    let (total_certs_issued, s) = blocking(move || {
        let issued = s.certificates.count_issued(&c.record.id)?;
        Ok::<_, ServiceError>((issued, ca_status(&s, &c)?))
    })
    .await?;
    Ok(Json(CaDetail {
        id: s.id,
        label: s.label,
        ca_type: ca_type(&ca),
        status: s.status,
        hsm,
        certificate_chain,
        last_sign_time: s.last_sign_time,
        total_certs_issued,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use HealthState::*;

    #[test]
    fn the_worst_state_wins() {
        assert_eq!(aggregate(Healthy, []), Healthy);
        assert_eq!(aggregate(Healthy, [Healthy, Degraded]), Degraded);
        assert_eq!(
            aggregate(Healthy, [Degraded, Unhealthy, Healthy]),
            Unhealthy
        );
        assert_eq!(aggregate(Unhealthy, [Healthy]), Unhealthy);
    }
}
