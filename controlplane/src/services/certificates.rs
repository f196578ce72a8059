//! The certificates service: issuing end-entity certificates ([`issue`]) with their
//! pre-signed OCSP responses, revoking and releasing them ([`revoke`]), re-signing ageing
//! responses ([`refresh`]) and finding them ([`query`]).
//!
//! It owns the status lock, which serialises certificate state changes (revoke, unhold,
//! refresh commits) so that a refreshed `good` response can never overwrite a newer
//! `revoked` one. Issuer data (CAs, responders, settings, CRLs) comes from [`Issuers`].

mod archive;
pub mod import;
mod issue;
mod keygen;
mod query;
mod refresh;
mod renew;
mod revoke;
mod status_locks;

pub use archive::{ArchivedFilter, ArchivedSet};
pub use import::ImportRequest;
pub use keygen::{parse_san, KeygenRequest, GENERATED_KEY_ALGORITHMS};
pub use renew::{BulkRenewal, RenewKey, Renewed};

pub(crate) use issue::Attach;
pub use issue::{san_string, CheckedIssue, IssueRequest};
pub use query::{
    normalize_id, status_of, CertFilter, CertPage, StatusFilter, EXPIRING_WITHIN_SECS,
};
pub use refresh::Due;
pub use revoke::{BulkPreview, BulkRevocation};

use std::sync::Arc;

use sigil_shared::ocsp::{HashAlg, RevocationReason};
use sigil_shared::replication::{Change, OcspEntry};
use sigil_storage::WriteBatch;
use thiserror::Error;

use super::context::Context;
use super::error::{ErrorKind, Internal};
use super::issuers::{IssuerError, Issuers};
use crate::config::Profile;
use crate::crypto::CsrError;
use crate::db::{cf, due_key, CertMeta, CertRecord};

/// What the certificates service fails with.
#[derive(Debug, Error)]
pub enum CertError {
    #[error("certificate {id:?} does not exist")]
    NotFound { id: String },
    #[error("no {} OCSP response for {id}", alg.name())]
    NoOcspResponse { id: String, alg: HashAlg },
    #[error("certificate {id} is already revoked ({})", reason.name())]
    AlreadyRevoked {
        id: String,
        reason: RevocationReason,
    },
    #[error("certificate {id} is not on hold")]
    NotOnHold { id: String },
    #[error("certificate {id} is revoked ({}) and can never be released", reason.name())]
    RevokedForGood {
        id: String,
        reason: RevocationReason,
    },
    #[error("a bulk operation needs at least one criterion (issuer_id, profile_id, certificate_ids, subject, issued_after, issued_before)")]
    EmptyFilter,
    #[error("certificate {id} cannot be renewed: {why}")]
    NotRenewable { id: String, why: String },
    #[error("a renewal keeps the certificate's subject ({subject}) and SANs ({sans}): the CSR names others (send a CSR with the same names or none, or issue a new certificate)")]
    RenewalNamesDiffer { subject: String, sans: String },
    #[error("certificate {id} is already here")]
    ImportExists { id: String },
    #[error("cannot import: {0}")]
    ImportInvalid(String),
    #[error("SAN {0:?} is not DNS:name, IP:address, email:address, URI:uri, a DNS name or an IP address")]
    BadSan(String),
    #[error("{0}")]
    BadSubject(String),
    #[error("keys are generated as ecdsa-p256, ecdsa-p384, ed25519, rsa-2048, rsa-3072 or rsa-4096, not {0}")]
    KeyAlgorithmNotAllowed(&'static str),
    #[error("invalid CSR: {0}")]
    InvalidCsr(#[from] CsrError),
    #[error("invalid CSR key: {0}")]
    InvalidCsrKey(sigil_shared::der::DerError),
    #[error("profile {name:?} does not exist")]
    UnknownProfile { name: String },
    #[error("profile {name:?} is disabled")]
    ProfileDisabled { name: String },
    #[error("profile {profile:?} refuses the request: {why}")]
    ProfileRefused { profile: String, why: String },
    #[error("validity_days must be between 1 and {max} for profile {profile:?}")]
    InvalidValidity { max: u32, profile: String },
    #[error("CSR contains a malformed IP address SAN")]
    MalformedIpSan,
    #[error("SAN {san} is not allowed by profile {profile:?}")]
    SanNotAllowed { san: String, profile: String },
    #[error("profile {profile:?} requires at least one SAN")]
    SanRequired { profile: String },
    #[error("CSR has neither a subject nor a SAN")]
    NoSubjectOrSan,
    #[error(transparent)]
    Issuer(#[from] IssuerError),
    #[error(transparent)]
    Internal(#[from] Internal),
}

impl CertError {
    /// What the operation read changed before its commit (another node's write): run it
    /// again ([`crate::services::context::retry_conflicts`]).
    pub(super) fn is_write_conflict(&self) -> bool {
        matches!(self, Self::Internal(i) if i.is_write_conflict())
    }

    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::NotFound { .. } | Self::NoOcspResponse { .. } => ErrorKind::NotFound,
            Self::AlreadyRevoked { .. }
            | Self::NotOnHold { .. }
            | Self::RevokedForGood { .. }
            | Self::NotRenewable { .. }
            | Self::ProfileDisabled { .. }
            | Self::ImportExists { .. } => ErrorKind::Conflict,
            Self::Issuer(e) => e.kind(),
            Self::Internal(e) => e.kind(),
            _ => ErrorKind::Invalid,
        }
    }
}

super::error::internal_from!(CertError);
super::error::internal_from!(CertError; crate::x509::PkiError);

pub type Result<T, E = CertError> = std::result::Result<T, E>;

/// See the module documentation.
pub struct Certificates {
    cx: Arc<Context>,
    issuers: Arc<Issuers>,
    status_locks: status_locks::StatusLocks,
}

impl std::fmt::Debug for Certificates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Certificates").finish_non_exhaustive()
    }
}

impl Certificates {
    pub(super) fn new(cx: Arc<Context>, issuers: Arc<Issuers>) -> Self {
        Self {
            cx,
            issuers,
            status_locks: status_locks::StatusLocks::new(),
        }
    }

    /// The certificate with id `id` (its lowercase hex serial).
    pub fn cert(&self, id: &str) -> Result<CertRecord> {
        let not_found = || CertError::NotFound { id: id.into() };
        let serial = hex::decode(id).map_err(|_| not_found())?;
        let db = self.cx.db();
        let issuer = db.get_raw(cf::CERT_IDS, &serial)?.ok_or_else(not_found)?;
        let issuer = String::from_utf8(issuer)
            .map_err(|_| Internal::CorruptCertificateIndex { id: id.into() })?;
        db.get(cf::CERTS, &crate::db::serial_key(&issuer, &serial))?
            .ok_or_else(|| Internal::CertificateMissing { id: id.into() }.into())
    }

    /// Where certificate `serial` sits in its renewal chain, if it was renewed or renews one.
    pub fn lineage_of(&self, serial: &[u8]) -> Result<Option<crate::db::CertLineage>> {
        Ok(self.cx.db().get(cf::CERT_LINEAGE, serial)?)
    }

    /// How a certificate was requested (`cert_meta`), if that was recorded (EST).
    pub fn meta(&self, serial: &[u8]) -> Result<Option<CertMeta>> {
        Ok(self.cx.db().get(cf::CERT_META, serial)?)
    }

    /// The stored OCSP response of a certificate for one CertID hash algorithm.
    pub fn ocsp_response(&self, id: &str, alg: HashAlg) -> Result<OcspEntry> {
        let cert = self.cert(id)?;
        let ca = self.issuers.ca(&cert.issuer_id)?;
        let key = ca.hashes_for(alg).key_for(&cert.serial);
        self.cx
            .db()
            .get(cf::OCSP, key.as_bytes())?
            .ok_or_else(|| CertError::NoOcspResponse { id: id.into(), alg })
    }

    /// The issuance profile called `name` (configured, made through the API, or the built-in
    /// default; `services::profiles`).
    pub fn profile(&self, name: &str) -> Result<Option<Profile>> {
        Ok(super::profiles::lookup(&self.cx, name)?)
    }

    /// Whether a profile called `name` is configured or stored (the built-in `default` does
    /// not count).
    pub fn has_profile(&self, name: &str) -> Result<bool> {
        Ok(self.cx.settings().profiles.contains_key(name)
            || self
                .cx
                .db()
                .get_raw(cf::PROFILES, name.as_bytes())?
                .is_some())
    }

    fn hash_algorithms(&self) -> &[HashAlg] {
        &self.cx.settings().ocsp.hash_algorithms
    }

    fn ocsp_validity_secs(&self) -> i64 {
        self.cx.settings().ocsp.validity_secs()
    }

    /// When responses signed at `now` are due for refresh: `refresh_after`, minus up to 10 %
    /// of jitter so that certificates issued together are re-signed spread over time.
    fn due_at(&self, now: i64) -> i64 {
        let after = self.cx.settings().ocsp.refresh_after_secs();
        let mut r = [0u8; 4];
        let _ = aws_lc_rs::rand::fill(&mut r);
        now + after - i64::from(u32::from_be_bytes(r)) % (after / 10).max(1)
    }

    /// Moves `cert`'s next refresh to [`due_at`](Self::due_at) `now` in `batch` (its entry in
    /// the `ocsp_due` index and its `ocsp_due_at`); the caller stores the record.
    fn reschedule(&self, batch: &mut WriteBatch, cert: &mut CertRecord, now: i64) {
        let key = |c: &CertRecord| due_key(c.ocsp_due_at, &c.issuer_id, &c.serial);
        batch.delete(cf::OCSP_DUE, key(cert));
        cert.ocsp_due_at = self.due_at(now);
        batch.put(cf::OCSP_DUE, key(cert), Vec::new());
    }

    /// Adds signed responses to `batch` and their replication changes to `changes`, counting
    /// them in the per-issuer signing metric.
    fn stage_responses(
        &self,
        batch: &mut WriteBatch,
        issuer_id: &str,
        entries: Vec<OcspEntry>,
        changes: &mut Vec<Change>,
    ) -> Result<()> {
        self.cx
            .metrics()
            .ocsp_signed
            .with_label_values(&[issuer_id])
            .inc_by(entries.len() as u64);
        for e in entries {
            batch.put(cf::OCSP, e.key.as_bytes().to_vec(), crate::db::encode(&e)?);
            changes.push(Change::OcspPut(e));
        }
        Ok(())
    }
}
