//! `GET /api/v1/admin/crl/cache` (certctl's CRL cache inspection): one row per issuer with
//! the stored CRL's number, thisUpdate/nextUpdate, staleness (nextUpdate passed), when it was
//! generated and when the scheduler regenerates it, and the scheduler's latest runs.

use axum::extract::State;
use axum::Json;
use serde::Serialize;
use sigil_shared::time::{now_unix, rfc3339};

use super::{blocking, ApiError, Shared};
use crate::services::issuers::{CrlEvent, IssuerError};

#[derive(Debug, Serialize)]
pub struct EventView {
    pub at: String,
    pub trigger: &'static str,
    pub crl_number: Option<u64>,
    pub duration_ms: u64,
    pub error: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct CacheRow {
    pub issuer_id: String,
    pub issuer_name: String,
    /// Whether a CRL was ever generated for the issuer.
    pub cache_present: bool,
    pub crl_number: Option<u64>,
    pub this_update: Option<String>,
    pub next_update: Option<String>,
    /// nextUpdate has passed (or there is no CRL): relying parties would reject it.
    pub is_stale: bool,
    /// When the stored CRL was generated (its thisUpdate).
    pub last_generated_at: Option<String>,
    /// When the periodic regeneration is due (`crl.regenerate_every_hours` after thisUpdate).
    pub regeneration_due_at: Option<String>,
    pub size_bytes: Option<u64>,
    /// The scheduler's latest runs for the issuer since start-up, newest first.
    pub recent_events: Vec<EventView>,
}

#[derive(Debug, Serialize)]
pub struct CrlCache {
    pub cache_rows: Vec<CacheRow>,
    pub row_count: usize,
    pub generated_at: String,
}

fn event_view(e: CrlEvent) -> EventView {
    EventView {
        at: rfc3339(e.at),
        trigger: e.trigger,
        crl_number: e.crl_number,
        duration_ms: e.duration_ms,
        error: e.error,
    }
}

pub async fn list(State(state): State<Shared>) -> Result<Json<CrlCache>, ApiError> {
    let issuers = state.services.issuers.clone();
    let now = now_unix();
    let every = issuers.crl_regeneration_interval();
    let rows = blocking(move || {
        let mut rows = Vec::new();
        for ca in issuers.list_cas() {
            let id = ca.record.id.clone();
            let crl = match issuers.current_crl(&id) {
                Ok(c) => c,
                // Deleted since it was listed.
                Err(IssuerError::NotFound { .. }) => None,
                Err(e) => return Err(e),
            };
            rows.push(CacheRow {
                issuer_name: issuers.issuer_name(&id)?,
                cache_present: crl.is_some(),
                crl_number: crl.as_ref().map(|c| c.number),
                this_update: crl.as_ref().map(|c| rfc3339(c.this_update)),
                next_update: crl.as_ref().map(|c| rfc3339(c.next_update)),
                is_stale: crl.as_ref().is_none_or(|c| c.next_update <= now),
                last_generated_at: crl.as_ref().map(|c| rfc3339(c.this_update)),
                regeneration_due_at: crl.as_ref().map(|c| rfc3339(c.this_update + every)),
                size_bytes: crl.as_ref().map(|c| c.der.len() as u64),
                recent_events: issuers
                    .crl_events(&id)
                    .into_iter()
                    .map(event_view)
                    .collect(),
                issuer_id: id,
            });
        }
        Ok(rows)
    })
    .await?;
    Ok(Json(CrlCache {
        row_count: rows.len(),
        cache_rows: rows,
        generated_at: rfc3339(now),
    }))
}
