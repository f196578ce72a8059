//! The control plane's service layer: CAs, issuance, revocation, OCSP pre-signing, CRLs.
//! All methods are blocking (they sign and fsync); async callers use `spawn_blocking`.

mod apikeys;
mod cas;
mod issue;
mod key_store;
mod otp;
mod query;
mod refresh;
mod revoke;
mod settings;

pub use apikeys::{ApiKeyRecord, NewApiKey};
pub use cas::CreateCa;
pub use issue::{san_string, CheckedIssue, IssueRequest};
pub use key_store::{KeyStoreRequest, Pkcs11Replica, Pkcs11Request};
pub use otp::{OtpRecord, OtpRejected, MAX_ACTIVE_PER_ENTITY};
pub use query::{normalize_id, status_of, CertFilter, StatusFilter};
pub use refresh::Due;
pub use revoke::BulkRevocation;
pub use settings::{IssuerSettings, IssuerUpdate, PolicyUpdate};

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, OnceLock, RwLock};

use sigil_shared::config::{CpConfig, OcspSignerMode};
use sigil_shared::ocsp::HashAlg;
use sigil_shared::replication::{Change, CrlEntry, OcspEntry};
use sigil_storage::{Store, WriteBatch};
use thiserror::Error;

use crate::audit::{current_actor, AuditError, AuditEvent, AuditLog};
use crate::ca::{self, CaRuntime, Responder};
use crate::crl::CrlTrigger;
use crate::crypto::SignError;
use crate::db::{cf, CaRecord, CertRecord, Db, DbError, KeyRef};
use crate::metrics::Metrics;
use crate::x509::PkiError;

/// Service errors; the API maps each to a status code and a stable message.
#[derive(Debug, Error)]
pub enum AuthorityError {
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    BadRequest(String),
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<AuditError> for AuthorityError {
    fn from(e: AuditError) -> Self {
        AuthorityError::Internal(format!("audit log: {e}"))
    }
}
impl From<DbError> for AuthorityError {
    fn from(e: DbError) -> Self {
        AuthorityError::Internal(e.to_string())
    }
}
impl From<der::Error> for AuthorityError {
    fn from(e: der::Error) -> Self {
        AuthorityError::Internal(e.to_string())
    }
}
impl From<SignError> for AuthorityError {
    fn from(e: SignError) -> Self {
        AuthorityError::Internal(e.to_string())
    }
}
impl From<PkiError> for AuthorityError {
    fn from(e: PkiError) -> Self {
        match e {
            PkiError::BadName(_) | PkiError::KeyStore(_) => {
                AuthorityError::BadRequest(e.to_string())
            }
            other => AuthorityError::Internal(other.to_string()),
        }
    }
}

pub type Result<T> = std::result::Result<T, AuthorityError>;

pub struct Authority {
    pub db: Db,
    /// The hash-chained audit log; changes are committed together with their record.
    pub audit: AuditLog,
    pub config: CpConfig,
    pub metrics: Metrics,
    cas: RwLock<BTreeMap<String, Arc<CaRuntime>>>,
    /// Serialises certificate state changes (revoke, unhold, refresh commits) so that a
    /// refreshed `good` response can never overwrite a newer `revoked` one.
    status_lock: Mutex<()>,
    /// Serialises CA creation and responder renewal.
    ca_lock: Mutex<()>,
    /// Serialises CRL generation (CRL numbers strictly increase).
    crl_lock: Mutex<()>,
    /// Serialises OTP use and deletion (a use decrements exactly once).
    otp_lock: Mutex<()>,
    /// Serialises API key revocation (a key is revoked, and audited, once).
    key_lock: Mutex<()>,
    /// Held for reading while issuing (and creating a CA under a parent), for writing while
    /// changing issuer settings: once a disable returns, nothing of that issuer commits.
    issuer_lock: RwLock<()>,
    crl_trigger: OnceLock<CrlTrigger>,
}

impl std::fmt::Debug for Authority {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authority")
            .field("db", &self.db)
            .finish_non_exhaustive()
    }
}

fn key_name(kind: &str, id: &str) -> Vec<u8> {
    format!("{kind}/{id}").into_bytes()
}

impl Authority {
    /// Commits a change through the replication log together with its audit record (the
    /// current actor did `action` to `resource_type`/`resource_id`, successfully): one synced
    /// write, so a change is never durable without its record, nor the record without it.
    pub fn commit_audited(
        &self,
        (action, resource_type, resource_id): (&str, &str, &str),
        details: serde_json::Value,
        batch: WriteBatch,
        changes: Vec<Change>,
    ) -> Result<u64> {
        let actor = current_actor();
        let event = AuditEvent {
            actor: actor.id,
            actor_type: actor.actor_type.into(),
            action: action.into(),
            resource_type: resource_type.into(),
            resource_id: resource_id.into(),
            success: true,
            source: actor.source,
            details: details.to_string(),
        };
        Ok(self.audit.commit_with(&self.db, batch, changes, event)?.0)
    }

    /// Loads every CA (and its responder) from the store.
    pub fn open(store: Arc<dyn Store>, config: CpConfig, metrics: Metrics) -> Result<Self> {
        let db = Db::open(store, config.replication.retain_records)?;
        let records: Vec<CaRecord> = db.list(cf::CAS, &[])?;
        let mut cas = BTreeMap::new();
        for rec in records {
            let pkcs8 = match rec.key {
                KeyRef::Software => db.get_raw(cf::KEYS, &key_name("ca", &rec.id))?,
                KeyRef::Pkcs11 { .. } => None,
            };
            let signer = ca::keys::ca_signer(&rec, pkcs8.as_deref())?;
            let rt = CaRuntime::new(rec, signer)?;
            if let Some(resp) = &rt.record.responder {
                let pkcs8 = db.get_raw(cf::KEYS, &key_name("responder", &rt.record.id))?;
                if pkcs8.is_some() || matches!(rt.record.key, KeyRef::Pkcs11 { .. }) {
                    *rt.responder.lock().unwrap_or_else(|e| e.into_inner()) =
                        Some(ca::load_responder(&rt, resp, pkcs8.as_deref())?);
                }
            }
            cas.insert(rt.record.id.clone(), Arc::new(rt));
        }
        metrics.replication_head.set(db.head() as i64);
        let audit = AuditLog::open(db.store().clone())
            .map_err(|e| AuthorityError::Internal(e.to_string()))?;
        Ok(Self {
            db,
            audit,
            config,
            metrics,
            cas: RwLock::new(cas),
            status_lock: Mutex::new(()),
            ca_lock: Mutex::new(()),
            crl_lock: Mutex::new(()),
            otp_lock: Mutex::new(()),
            key_lock: Mutex::new(()),
            issuer_lock: RwLock::new(()),
            crl_trigger: OnceLock::new(),
        })
    }

    pub fn set_crl_trigger(&self, t: CrlTrigger) {
        let _ = self.crl_trigger.set(t);
    }

    fn trigger_crl(&self, issuer_id: &str) {
        if let Some(t) = self.crl_trigger.get() {
            t.trigger(issuer_id);
        }
    }

    pub fn list_cas(&self) -> Vec<Arc<CaRuntime>> {
        self.cas
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .cloned()
            .collect()
    }

    pub fn ca(&self, id: &str) -> Result<Arc<CaRuntime>> {
        self.cas
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(id)
            .cloned()
            .ok_or_else(|| AuthorityError::NotFound(format!("issuer {id:?} does not exist")))
    }

    pub fn hash_algorithms(&self) -> &[HashAlg] {
        &self.config.ocsp.hash_algorithms
    }

    fn ocsp_validity_secs(&self) -> i64 {
        i64::from(self.config.ocsp.validity_hours) * 3600
    }

    /// When responses signed at `now` are due for refresh: `refresh_after`, minus up to 10 %
    /// of jitter so that certificates issued together are re-signed spread over time.
    fn due_at(&self, now: i64) -> i64 {
        let after = i64::from(self.config.ocsp.refresh_after_hours) * 3600;
        let mut r = [0u8; 4];
        let _ = aws_lc_rs::rand::fill(&mut r);
        now + after - i64::from(u32::from_be_bytes(r)) % (after / 10).max(1)
    }

    /// The responder to sign with, renewing the delegated one so that its notAfter covers
    /// `needed_until` (the nextUpdate of the responses about to be signed).
    pub fn responder_for(
        &self,
        ca: &CaRuntime,
        needed_until: i64,
        now: i64,
    ) -> Result<Arc<Responder>> {
        if self.config.ocsp.signer == OcspSignerMode::Ca {
            return Ok(Arc::new(ca.ca_responder()));
        }
        // A responder cannot outlive its CA: near the CA's end, covering the CA's notAfter is
        // enough (otherwise every call would renew a responder capped at the CA's notAfter).
        let needed_until = needed_until.min(ca.record.not_after);
        if let Some(r) = ca
            .responder
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
        {
            if r.not_after >= needed_until {
                return Ok(r.clone());
            }
        }
        let _g = self.ca_lock.lock().unwrap_or_else(|e| e.into_inner());
        let mut slot = ca.responder.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(r) = slot.as_ref().filter(|r| r.not_after >= needed_until) {
            return Ok(r.clone());
        }
        let (rec, responder, pkcs8) =
            ca::issue_responder(ca, self.config.ocsp.responder_validity_days, now)
                .map_err(|e| AuthorityError::Internal(e.to_string()))?;
        let mut record = ca.record.clone();
        record.responder = Some(rec);
        let mut batch = WriteBatch::new();
        if let Some(pkcs8) = pkcs8 {
            batch.put(cf::KEYS, key_name("responder", &ca.record.id), pkcs8);
        }
        batch.put(
            cf::CAS,
            ca.record.id.as_bytes().to_vec(),
            crate::db::encode(&record)?,
        );
        self.db.write_local(batch)?;
        tracing::info!(issuer = %ca.record.id, not_after = responder.not_after, "issued delegated OCSP responder certificate");
        // Token keys of responders older than the previous one are no longer needed.
        let mut keep = vec![responder.key_id.clone()];
        keep.extend(slot.as_ref().map(|r| r.key_id.clone()));
        ca::keys::retire_responder_keys(&ca.record, &keep);
        *slot = Some(responder.clone());
        Ok(responder)
    }

    /// Adds signed responses to `batch` and returns their replication changes, counting them
    /// in the per-issuer signing metric.
    fn stage_responses(
        &self,
        batch: &mut WriteBatch,
        issuer_id: &str,
        entries: Vec<OcspEntry>,
        changes: &mut Vec<Change>,
    ) -> Result<()> {
        self.metrics
            .ocsp_signed
            .with_label_values(&[issuer_id])
            .inc_by(entries.len() as u64);
        for e in entries {
            batch.put(cf::OCSP, e.key.as_bytes().to_vec(), crate::db::encode(&e)?);
            changes.push(Change::OcspPut(e));
        }
        Ok(())
    }

    pub fn cert(&self, id: &str) -> Result<CertRecord> {
        let serial = hex::decode(id)
            .map_err(|_| AuthorityError::NotFound(format!("certificate {id:?} does not exist")))?;
        let issuer = self.db.get_raw(cf::CERT_IDS, &serial)?.ok_or_else(|| {
            AuthorityError::NotFound(format!("certificate {id:?} does not exist"))
        })?;
        let issuer =
            String::from_utf8(issuer).map_err(|e| AuthorityError::Internal(e.to_string()))?;
        self.db
            .get(cf::CERTS, &crate::db::serial_key(&issuer, &serial))?
            .ok_or_else(|| {
                AuthorityError::Internal(format!("certificate {id} indexed but missing"))
            })
    }

    /// The stored OCSP response of a certificate for one CertID hash algorithm.
    pub fn ocsp_response(&self, id: &str, alg: HashAlg) -> Result<OcspEntry> {
        let cert = self.cert(id)?;
        let ca = self.ca(&cert.issuer_id)?;
        let key = ca.hashes_for(alg).key_for(&cert.serial);
        self.db.get(cf::OCSP, key.as_bytes())?.ok_or_else(|| {
            AuthorityError::NotFound(format!("no {} OCSP response for {id}", alg.name()))
        })
    }

    pub fn crl(&self, issuer_id: &str) -> Result<CrlEntry> {
        self.ca(issuer_id)?;
        self.db
            .get(cf::CRLS, issuer_id.as_bytes())?
            .ok_or_else(|| AuthorityError::NotFound(format!("issuer {issuer_id:?} has no CRL yet")))
    }
}
