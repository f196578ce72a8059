//! The issuers service: the loaded CAs and everything about them — creation and import
//! ([`create`]), where their keys live ([`key_store`]), their delegated OCSP responders, their
//! CRLs ([`crl`]) and their mutable settings ([`settings`]).
//!
//! Locks it owns: the CA table; `ca_lock` (CA creation, responder renewal, SCEP RA issuance
//! ([`scep_ra`])); `crl_lock`
//! (CRL numbers strictly increase); `issuer_lock` (held for reading while issuing, for
//! writing while changing settings: once a disable returns, nothing of that issuer commits).
//! Order: `issuer_lock`, then `ca_lock`, then the commit path's own locks.

mod create;
pub mod crl;
mod key_store;
mod retire;
mod scep_ra;
pub mod settings;

pub use create::CreateCa;
pub use crl::{CrlEvent, CrlRequests, CrlTrigger};
pub use key_store::{KeyStoreError, KeyStoreRequest, Pkcs11Replica, Pkcs11Request};
pub use retire::{Deletion, ProbeResult};
pub use scep_ra::ScepRaKey;
pub use settings::{IssuerSettings, IssuerUpdate, PolicyUpdate, SettingsError};

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, RwLock};

use sigil_storage::WriteBatch;
use thiserror::Error;

use super::context::{Commit, Context};
use super::error::{ErrorKind, Internal};
use crate::ca::{self, CaRuntime, ImportError, Responder};
use crate::config::OcspSignerMode;
use crate::db::secrets::SecretName;
use crate::db::{cf, CaRecord, KeyRef};
use crate::x509::{self, PkiError};

/// What the issuers service fails with.
#[derive(Debug, Error)]
pub enum IssuerError {
    #[error("issuer {id:?} does not exist")]
    NotFound { id: String },
    #[error("issuer {id:?} has no CRL yet")]
    NoCrl { id: String },
    #[error("issuer {id:?} has expired")]
    Expired { id: String },
    #[error(
        "issuer {id:?} is disabled and issues nothing; it still revokes and serves OCSP and CRLs for what it issued"
    )]
    Disabled { id: String },
    #[error("issuer {id:?} does not allow profile {profile:?}; allowed: {}", allowed.join(", "))]
    ProfileNotAllowed {
        id: String,
        profile: String,
        allowed: Vec<String>,
    },
    #[error("validity_days {days} exceeds issuer {id:?}'s maximum of {max}")]
    ValidityAboveMaximum { id: String, days: u32, max: u32 },
    #[error("an issuer named {name:?} (id {id:?}) already exists")]
    Exists { name: String, id: String },
    #[error("name must be 1 to 128 characters")]
    InvalidName,
    #[error("id {id:?} is invalid: use 1 to 64 characters of a-z, 0-9, '-' and '_'")]
    InvalidId { id: String },
    #[error("importing a CA into a pkcs11 key_store is not supported")]
    ImportIntoPkcs11,
    #[error("private_key is required to import a CA")]
    PrivateKeyRequired,
    #[error("{field}: invalid PEM: {source}")]
    InvalidPem {
        field: &'static str,
        source: base64::DecodeError,
    },
    #[error("{field}: expected PEM")]
    ExpectedPem { field: &'static str },
    #[error(transparent)]
    Import(#[from] ImportError),
    #[error("key_algorithm {name:?} is not supported; use one of {}", crate::crypto::KeyAlgorithm::ALL.map(|a| a.name()).join(", "))]
    UnsupportedAlgorithm { name: String },
    #[error("subject is required")]
    SubjectRequired,
    #[error("parent_id {id:?} does not exist")]
    ParentNotFound { id: String },
    #[error("validity_days must be between 1 and 36500")]
    InvalidValidity,
    #[error("key_store: {0}")]
    KeyStore(#[from] KeyStoreError),
    /// An invalid subject name, or a key store that cannot provide the key.
    #[error(transparent)]
    Refused(PkiError),
    #[error(transparent)]
    Settings(#[from] SettingsError),
    #[error("issuer {id:?} has {live} unexpired certificates that are not revoked: revoke them first, or delete with force=true to revoke them (cessationOfOperation)")]
    HasLiveCertificates { id: String, live: u64 },
    #[error("issuer key probe failed: {0}")]
    ProbeFailed(String),
    #[error("{failed} certificates could not be revoked (first: {first}); the issuer is disabled but not deleted: run the delete again")]
    RevocationIncomplete { failed: u64, first: String },
    #[error(transparent)]
    Internal(#[from] Internal),
}

impl IssuerError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::NotFound { .. } | Self::NoCrl { .. } => ErrorKind::NotFound,
            Self::Expired { .. }
            | Self::Disabled { .. }
            | Self::Exists { .. }
            | Self::HasLiveCertificates { .. } => ErrorKind::Conflict,
            Self::ProbeFailed(_) => ErrorKind::SignerUnavailable,
            Self::RevocationIncomplete { .. } => ErrorKind::Internal,
            Self::Internal(e) => e.kind(),
            _ => ErrorKind::Invalid,
        }
    }
}

impl From<PkiError> for IssuerError {
    fn from(e: PkiError) -> Self {
        match e {
            PkiError::BadName(_) | PkiError::KeyStore(_) => Self::Refused(e),
            other => Self::Internal(other.into()),
        }
    }
}

super::error::internal_from!(IssuerError);

pub type Result<T, E = IssuerError> = std::result::Result<T, E>;

/// See the module documentation.
pub struct Issuers {
    cx: Arc<Context>,
    cas: RwLock<BTreeMap<String, Arc<CaRuntime>>>,
    ca_lock: Mutex<()>,
    crl_lock: Mutex<()>,
    issuer_lock: RwLock<()>,
    crl: crl::CrlState,
}

impl std::fmt::Debug for Issuers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Issuers")
            .field("cas", &self.cas.read().map(|c| c.len()).unwrap_or_default())
            .finish_non_exhaustive()
    }
}

/// A stored CA ready to sign: its signer and, if it has one, its delegated responder.
fn runtime(cx: &Context, rec: CaRecord) -> Result<CaRuntime> {
    let pkcs8 = match rec.key {
        KeyRef::Software => cx.secret(&SecretName::ca_key(&rec.id))?,
        KeyRef::Pkcs11 { .. } => None,
    };
    let signer = ca::keys::ca_signer(&rec, pkcs8.as_deref().map(Vec::as_slice))?;
    let rt = CaRuntime::new(rec, signer)?;
    if let Some(resp) = &rt.record.responder {
        let pkcs8 = cx.secret(&SecretName::responder_key(&rt.record.id))?;
        if pkcs8.is_some() || matches!(rt.record.key, KeyRef::Pkcs11 { .. }) {
            *rt.responder.lock().unwrap_or_else(|e| e.into_inner()) = Some(ca::load_responder(
                &rt,
                resp,
                pkcs8.as_deref().map(Vec::as_slice),
            )?);
        }
    }
    Ok(rt)
}

impl Issuers {
    /// Loads every stored CA (and its responder). `trigger` is where revocations ask for CRLs.
    pub(super) fn load(cx: Arc<Context>, trigger: CrlTrigger) -> Result<Self> {
        let db = cx.db();
        let records: Vec<CaRecord> = db.list(cf::CAS, &[])?;
        let mut cas = BTreeMap::new();
        for rec in records {
            let rt = runtime(&cx, rec)?;
            cas.insert(rt.record.id.clone(), Arc::new(rt));
        }
        Ok(Self {
            cx,
            cas: RwLock::new(cas),
            ca_lock: Mutex::new(()),
            crl_lock: Mutex::new(()),
            issuer_lock: RwLock::new(()),
            crl: crl::CrlState::new(trigger),
        })
    }

    /// Makes the loaded CAs what the store holds — CAs created, changed or deleted by another
    /// control-plane node on the same database (`crate::cluster`): this node signs with what
    /// the store holds. A CA whose stored record equals the loaded one is left as it is (its
    /// signer and sessions kept). One scan of the (small) `cas` column family. A CA that
    /// fails to load is logged and left as it was.
    pub fn sync_with_store(&self) -> Result<()> {
        // Held across the scan and the swap: this node's own creations (under the same lock)
        // are either in the scan or not yet in the map.
        let _g = self.ca_lock.lock().unwrap_or_else(|e| e.into_inner());
        let stored: Vec<CaRecord> = self.cx.db().list(cf::CAS, &[])?;
        let loaded = self.cas.read().unwrap_or_else(|e| e.into_inner()).clone();
        let mut fresh = Vec::new();
        for rec in &stored {
            if loaded.get(&rec.id).is_some_and(|rt| rt.record == *rec) {
                continue;
            }
            match runtime(&self.cx, rec.clone()) {
                Ok(rt) => fresh.push(Arc::new(rt)),
                Err(e) => {
                    tracing::error!(issuer = %rec.id, error = %e, "loading a CA another node changed failed")
                }
            }
        }
        let gone: Vec<&String> = loaded
            .keys()
            .filter(|id| !stored.iter().any(|r| &r.id == *id))
            .collect();
        if fresh.is_empty() && gone.is_empty() {
            return Ok(());
        }
        let mut cas = self.cas.write().unwrap_or_else(|e| e.into_inner());
        for id in gone {
            cas.remove(id);
            tracing::info!(issuer = %id, "CA deleted by another node: unloaded");
        }
        for rt in fresh {
            tracing::info!(issuer = %rt.record.id, "CA created or changed by another node: loaded");
            cas.insert(rt.record.id.clone(), rt);
        }
        Ok(())
    }

    /// Every loaded CA, by id.
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
            .ok_or_else(|| IssuerError::NotFound { id: id.into() })
    }

    /// PEM chain of an issuer: the issuer itself, then its parents up to the root.
    /// The issuer's certificate and its parents up to the root, DER.
    pub fn chain_der(&self, issuer_id: &str) -> Result<Vec<Vec<u8>>> {
        let ca = self.ca(issuer_id)?;
        Ok(ca.chain_der().cloned().collect())
    }

    pub fn chain_pem(&self, issuer_id: &str) -> Result<Vec<String>> {
        let ca = self.ca(issuer_id)?;
        Ok(ca.chain_der().map(|d| x509::cert_pem(d)).collect())
    }

    /// Base URL of the data planes (`distribution.base_url`, no trailing slash): where
    /// certificates point relying parties for OCSP, CRLs and CA certificates.
    pub fn distribution_base(&self) -> &str {
        self.cx
            .settings()
            .distribution
            .base_url
            .trim_end_matches('/')
    }

    /// The responder to sign with, renewing the delegated one so that its notAfter covers
    /// `needed_until` (the nextUpdate of the responses about to be signed).
    pub fn responder_for(
        &self,
        ca: &CaRuntime,
        needed_until: i64,
        now: i64,
    ) -> Result<Arc<Responder>> {
        let ocsp = &self.cx.settings().ocsp;
        if ocsp.signer == OcspSignerMode::Ca {
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
            ca::issue_responder(ca, ocsp.responder_validity_days, now).map_err(Internal::from)?;
        let mut record = ca.record.clone();
        record.responder = Some(rec);
        let mut batch = WriteBatch::new();
        if let Some(pkcs8) = pkcs8 {
            self.cx.stage_secret(
                &mut batch,
                &SecretName::responder_key(&ca.record.id),
                &pkcs8,
            )?;
        }
        batch.put(
            cf::CAS,
            ca.record.id.as_bytes().to_vec(),
            crate::db::encode(&record)?,
        );
        // Not replicated (data planes get the responder inside each response), not audited.
        self.cx.commit(Commit::new(batch))?;
        tracing::info!(issuer = %ca.record.id, not_after = responder.not_after, "issued delegated OCSP responder certificate");
        // Token keys of responders older than the previous one are no longer needed.
        let mut keep = vec![responder.key_id.clone()];
        keep.extend(slot.as_ref().map(|r| r.key_id.clone()));
        ca::keys::retire_responder_keys(&ca.record, &keep);
        *slot = Some(responder.clone());
        Ok(responder)
    }
}
