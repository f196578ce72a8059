//! The CAs' CRLs: building the next one (number + 1, every revocation of the CA), storing and
//! replicating it, the requests revocations make for a new one ([`CrlTrigger`], drained by
//! the CRL scheduler job), and the last generations per CA for `GET /api/v1/admin/crl/cache`.

mod deltas;

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::Instant;

use sigil_shared::replication::{Change, CrlEntry};
use sigil_shared::time::now_unix;
use sigil_storage::WriteBatch;
use tokio::sync::mpsc;

use super::{IssuerError, Issuers, Result};
use crate::ca::CaRuntime;
use crate::crl::scope::{partition, Scope};
use crate::crl::{build, CrlSpec, RevokedEntry};
use crate::db::{cf, decode, encode, issuer_prefix, DbError, RevocationRecord};
use crate::services::context::{retry_conflicts, Commit};
use crate::services::error::Internal;

/// Generation events kept per issuer.
const EVENTS_KEPT: usize = 10;

/// One generation of one issuer's CRL by the scheduler.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CrlEvent {
    /// Unix seconds when the generation finished.
    pub at: i64,
    /// `revocation` (debounced after revocations) or `periodic` (missing or old CRL).
    pub trigger: &'static str,
    /// Number of the CRL generated; absent when it failed.
    pub crl_number: Option<u64>,
    pub duration_ms: u64,
    pub error: Option<String>,
}

/// Asks for a CA's CRL to be regenerated soon (after a revocation or release from hold).
#[derive(Debug, Clone)]
pub struct CrlTrigger(mpsc::UnboundedSender<String>);

/// The requests of a [`CrlTrigger`], for the job that regenerates CRLs.
#[derive(Debug)]
pub struct CrlRequests(mpsc::UnboundedReceiver<String>);

impl CrlRequests {
    /// The next requested issuer id; `None` once every trigger is gone.
    pub async fn next(&mut self) -> Option<String> {
        self.0.recv().await
    }

    /// A request already waiting, if any.
    pub fn try_next(&mut self) -> Option<String> {
        self.0.try_recv().ok()
    }
}

/// A connected trigger and its requests.
pub fn crl_requests() -> (CrlTrigger, CrlRequests) {
    let (tx, rx) = mpsc::unbounded_channel();
    (CrlTrigger(tx), CrlRequests(rx))
}

/// The issuers service's CRL state: where to ask for regenerations, and recent generations.
#[derive(Debug)]
pub(super) struct CrlState {
    trigger: CrlTrigger,
    events: Mutex<HashMap<String, VecDeque<CrlEvent>>>,
}

impl CrlState {
    pub(super) fn new(trigger: CrlTrigger) -> Self {
        Self {
            trigger,
            events: Mutex::default(),
        }
    }
}

impl Issuers {
    /// Asks for `issuer_id`'s CRL to be regenerated soon (debounced by the scheduler). Without
    /// a running scheduler (offline commands, tests) the request is dropped.
    pub fn request_crl(&self, issuer_id: &str) {
        let _ = self.crl.trigger.0.send(issuer_id.to_string());
    }

    /// The current CRL of `issuer_id`.
    pub fn crl(&self, issuer_id: &str) -> Result<CrlEntry> {
        self.current_crl(issuer_id)?
            .ok_or_else(|| IssuerError::NoCrl {
                id: issuer_id.into(),
            })
    }

    /// The current CRL of an existing issuer, `None` before the first one.
    pub fn current_crl(&self, issuer_id: &str) -> Result<Option<CrlEntry>> {
        self.ca(issuer_id)?;
        Ok(self.cx.db().get(cf::CRLS, issuer_id.as_bytes())?)
    }

    /// How often delta CRLs are published (`crl.delta_every_minutes`), seconds; `None`: off.
    pub fn delta_crl_interval(&self) -> Option<i64> {
        self.cx.settings().crl.delta_every_secs()
    }

    /// How often every CRL is regenerated at least (`crl.regenerate_every_hours`), seconds.
    pub fn crl_regeneration_interval(&self) -> i64 {
        self.cx.settings().crl.regenerate_every_secs()
    }

    /// CAs whose CRL is missing or older than the regeneration interval.
    pub fn stale_crls(&self, now: i64) -> Vec<String> {
        let every = self.crl_regeneration_interval();
        self.list_cas()
            .iter()
            .filter(|ca| match self.crl(&ca.record.id) {
                Ok(crl) => now - crl.this_update >= every,
                Err(_) => true,
            })
            .map(|ca| ca.record.id.clone())
            .collect()
    }

    /// Regenerates and stores the CRL of `issuer_id`; returns it.
    pub fn regenerate_crl(&self, issuer_id: &str) -> Result<CrlEntry> {
        let ca = self.ca(issuer_id)?;
        let _g = self.crl_lock.lock().unwrap_or_else(|e| e.into_inner());
        let entry = retry_conflicts(
            || {
                let (commit, entries) = self.crl_batch(&ca, now_unix())?;
                let full = entries[0].clone();
                let changes = entries.into_iter().map(Change::CrlPut).collect();
                self.cx.commit(commit.replicate(changes))?;
                Ok(full)
            },
            |e: &IssuerError| matches!(e, IssuerError::Internal(i) if i.is_write_conflict()),
        )?;
        self.cx
            .metrics()
            .crl_generated
            .with_label_values(&[issuer_id])
            .inc();
        tracing::info!(issuer = %issuer_id, number = entry.number, "generated CRL");
        Ok(entry)
    }

    /// [`regenerate_crl`](Self::regenerate_crl) for the scheduler, which asked because of
    /// `trigger` (`revocation` or `periodic`): the outcome is kept among the issuer's latest
    /// generation events.
    pub fn regenerate_crl_for(&self, issuer_id: &str, trigger: &'static str) {
        let _ = self.regenerate_crl_recorded(issuer_id, trigger);
    }

    /// `POST /api/v1/issuers/{id}/crl`: audited (`crl.regenerate`) before it starts, then
    /// generated and kept among the generation events as a `api` trigger.
    pub fn regenerate_crl_requested(&self, issuer_id: &str) -> Result<CrlEntry> {
        self.visible_ca(issuer_id)?;
        self.cx
            .commit(Commit::new(sigil_storage::WriteBatch::new()).audit(
                ("crl.regenerate", "issuer", issuer_id),
                serde_json::json!({"via": "api"}),
            ))?;
        self.regenerate_crl_recorded(issuer_id, "api")
    }

    fn regenerate_crl_recorded(&self, issuer_id: &str, trigger: &'static str) -> Result<CrlEntry> {
        let started = Instant::now();
        // With delta CRLs, revocations and the delta schedule publish deltas; the complete
        // and shard CRLs follow their own schedule (and any explicit request).
        let result = match trigger {
            "revocation" | "delta" => self.regenerate_deltas(issuer_id),
            _ => self.regenerate_crl(issuer_id),
        };
        let (crl_number, error) = match &result {
            Ok(crl) => (Some(crl.number), None),
            Err(e) => {
                tracing::error!(issuer = %issuer_id, error = %e, "CRL generation failed");
                (None, Some(e.to_string()))
            }
        };
        let event = CrlEvent {
            at: now_unix(),
            trigger,
            crl_number,
            duration_ms: started.elapsed().as_millis() as u64,
            error,
        };
        let mut map = self.crl.events.lock().unwrap_or_else(|e| e.into_inner());
        let q = map.entry(issuer_id.to_string()).or_default();
        if q.len() == EVENTS_KEPT {
            q.pop_front();
        }
        q.push_back(event);
        result
    }

    /// The latest CRL generation events of `issuer_id`, newest first (none before the
    /// scheduler ran for it).
    pub fn crl_events(&self, issuer_id: &str) -> Vec<CrlEvent> {
        self.crl
            .events
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(issuer_id)
            .map(|q| q.iter().rev().cloned().collect())
            .unwrap_or_default()
    }

    /// Every revocation of `ca`, as CRL entries.
    pub(super) fn revoked_of(&self, ca: &CaRuntime) -> Result<Vec<RevokedEntry>> {
        let mut revoked = Vec::new();
        let prefix = issuer_prefix(&ca.record.id);
        let mut err = None;
        self.cx
            .db()
            .store()
            .scan_prefix(cf::REVOCATIONS, &prefix, &mut |k, v| {
                match decode::<RevocationRecord>(cf::REVOCATIONS, v) {
                    Ok(r) => revoked.push(RevokedEntry {
                        serial: k[prefix.len()..].to_vec(),
                        time: r.time,
                        reason: r.reason,
                        remove: false,
                    }),
                    Err(e) => err = Some(e),
                }
                err.is_none()
            })
            .map_err(DbError::from)?;
        match err {
            Some(e) => Err(e.into()),
            None => Ok(revoked),
        }
    }

    /// The issuer's CRL number counter (shared by its complete, shard and delta CRLs, as RFC
    /// 5280 §5.2.4 wants for a scope and its deltas): its key, the value as read (for a fence)
    /// and the next number.
    pub(super) fn next_crl_number(
        &self,
        issuer_id: &str,
    ) -> Result<(Vec<u8>, Option<Vec<u8>>, u64)> {
        let key = format!("crl_number/{issuer_id}").into_bytes();
        let read = self.cx.db().get_raw(cf::META, &key)?;
        let number = match &read {
            Some(v) => {
                let corrupt = || Internal::CorruptCrlNumber {
                    issuer_id: issuer_id.into(),
                };
                u64::from_be_bytes(v.as_slice().try_into().map_err(|_| corrupt())?) + 1
            }
            None => 1,
        };
        Ok((key, read, number))
    }

    /// The issuer's published CRL scopes (`crate::crl::scope`).
    pub(super) fn crl_scopes(&self, issuer_id: &str) -> Result<Vec<Scope>> {
        Ok(Scope::all(&self.issuer_settings(issuer_id)?.crl_families()))
    }

    /// The URLs of every CRL published for an issuer with settings `s`.
    pub fn crl_urls(&self, issuer_id: &str, s: &super::IssuerSettings) -> Vec<String> {
        let base = self.distribution_base();
        let deltas = self.cx.settings().crl.delta_every_secs().is_some();
        let mut out = Vec::new();
        for scope in Scope::all(&s.crl_families()) {
            out.push(scope.url(base, issuer_id));
            if deltas {
                out.push(scope.delta_url(base, issuer_id));
            }
        }
        out
    }

    /// Builds every complete and shard CRL of `ca` (one number for all of them) and, with
    /// delta CRLs on, an empty delta CRL over each (numbered after them): the commit that
    /// stores them with the number, fenced on the number as read (two nodes never store two
    /// CRLs under one number), and the entries, the complete CRL first.
    pub(super) fn crl_batch(&self, ca: &CaRuntime, now: i64) -> Result<(Commit, Vec<CrlEntry>)> {
        let id = &ca.record.id;
        let revoked = self.revoked_of(ca)?;
        let (number_key, read, number) = self.next_crl_number(id)?;
        let settings = self.cx.settings();
        let next = now + settings.crl.validity_secs();
        let deltas = settings.crl.delta_every_secs();
        let base = self.distribution_base();
        let mut entries = Vec::new();
        let scopes = self.crl_scopes(id)?;
        let lists = partition(&scopes, &revoked, |r| &r.serial);
        for (scope, list) in scopes.into_iter().zip(lists) {
            let url = scope.url(base, id);
            let delta_url = scope.delta_url(base, id);
            let idp = (scope.shards > 1).then_some(url.as_str());
            let spec = CrlSpec {
                number,
                this_update: now,
                next_update: next,
                idp,
                freshest: deltas.map(|_| delta_url.as_str()),
                delta_of: None,
            };
            entries.push(entry(scope.crl_id(id), build(ca, &spec, &list), &spec)?);
            if let Some(every) = deltas {
                let spec = delta_spec(number + 1, number, now, every, idp);
                entries.push(entry(scope.delta_id(id), build(ca, &spec, &[]), &spec)?);
            }
        }
        let last = if deltas.is_some() { number + 1 } else { number };
        let mut batch = WriteBatch::new();
        batch.put(cf::META, number_key.clone(), last.to_be_bytes().to_vec());
        for e in &entries {
            batch.put(cf::CRLS, e.issuer_id.as_bytes().to_vec(), encode(e)?);
        }
        Ok((
            Commit::new(batch).expect_value(cf::META, number_key, read),
            entries,
        ))
    }
}

/// A delta CRL numbered `number` over base `base` (nextUpdate: two delta periods, at least a
/// minute).
pub(super) fn delta_spec(
    number: u64,
    base: u64,
    now: i64,
    every: i64,
    idp: Option<&str>,
) -> CrlSpec<'_> {
    CrlSpec {
        number,
        this_update: now,
        next_update: now + (2 * every).max(60),
        idp,
        freshest: None,
        delta_of: Some(base),
    }
}

/// A built CRL as stored and replicated.
pub(super) fn entry(
    id: String,
    der: std::result::Result<Vec<u8>, crate::x509::PkiError>,
    spec: &CrlSpec<'_>,
) -> Result<CrlEntry> {
    Ok(CrlEntry {
        issuer_id: id,
        der: der.map_err(Internal::from)?,
        number: spec.number,
        this_update: spec.this_update,
        next_update: spec.next_update,
    })
}
