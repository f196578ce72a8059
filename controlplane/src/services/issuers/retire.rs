//! Deleting an issuer (certctl's `DELETE /api/v1/issuers/{id}`) and testing its key
//! (`POST /api/v1/issuers/{id}/test`).
//!
//! A deleted issuer is disabled for good and hidden from the API (404), but not erased:
//! relying parties keep the CA certificate until they drop it, so its CRL and its
//! certificates' OCSP responses go on being signed and served until its certificates expire.
//! Deletion is refused while it has live certificates (unexpired, not revoked for good)
//! unless forced; the caller then revokes them (`cessationOfOperation`) once issuance has
//! stopped.

use std::time::Instant;

use sigil_shared::time::now_unix;
use sigil_storage::WriteBatch;

use super::settings::stored;
use super::{IssuerError, Issuers, Result};
use crate::ca::CaRuntime;
use crate::db::cf;
use crate::services::context::Commit;
use crate::services::ServiceError;
use crate::x509::{self, CertSpec};

/// What a deletion did.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct Deletion {
    /// Live certificates when it was asked.
    pub live: u64,
    /// Of them, revoked by the deletion (`force`).
    pub revoked: u64,
}

/// What a probe signature showed ([`Issuers::test_issuer`]).
#[derive(Debug, Clone, serde::Serialize)]
pub struct ProbeResult {
    pub issuer_id: String,
    /// `software` or `pkcs11`.
    pub key_store: &'static str,
    pub key_algorithm: &'static str,
    /// How long the signature took.
    pub sign_ms: f64,
}

impl Issuers {
    /// [`Issuers::ca`], but a deleted issuer does not exist (what the API shows).
    pub fn visible_ca(&self, id: &str) -> Result<std::sync::Arc<CaRuntime>> {
        let ca = self.ca(id)?;
        if self.issuer_settings(id)?.deleted_at.is_some() {
            return Err(IssuerError::NotFound { id: id.into() });
        }
        Ok(ca)
    }

    /// Deletes issuer `id` (see the module documentation). `live()` counts its live
    /// certificates while issuance from every issuer waits (none is issued between the count
    /// and what follows). None: marked deleted at once. Some, without `force`: refused. Some,
    /// forced: the issuer is disabled first (so a crash before the end leaves it disabled and
    /// visible, and the delete can be run again), then `revoke_live()` revokes them and must
    /// leave none failed, then it is marked deleted. Audited as `issuer.delete`.
    pub fn delete_issuer(
        &self,
        id: &str,
        force: bool,
        live: &dyn Fn() -> std::result::Result<u64, ServiceError>,
        revoke_live: &dyn Fn() -> std::result::Result<u64, ServiceError>,
    ) -> std::result::Result<Deletion, ServiceError> {
        self.visible_ca(id)?;
        let live = {
            let _g = self.issuer_lock.write().unwrap_or_else(|e| e.into_inner());
            let live = live()?;
            if live > 0 && !force {
                return Err(IssuerError::HasLiveCertificates {
                    id: id.into(),
                    live,
                }
                .into());
            }
            if live == 0 {
                self.mark_deleted(id, force, 0, 0)?;
                return Ok(Deletion {
                    live: 0,
                    revoked: 0,
                });
            }
            let mut s = self.issuer_settings(id)?;
            if !s.disabled {
                let now = now_unix();
                (s.disabled, s.disabled_at, s.updated_at) = (true, Some(now), Some(now));
                self.write_settings(
                    id,
                    &s,
                    "issuer.disable",
                    serde_json::json!({"reason": "delete", "live_certificates": live}),
                )?;
            }
            live
        };
        let revoked = revoke_live()?;
        self.mark_deleted(id, force, live, revoked)?;
        Ok(Deletion { live, revoked })
    }

    fn mark_deleted(&self, id: &str, force: bool, live: u64, revoked: u64) -> Result<()> {
        let now = now_unix();
        let mut s = self.issuer_settings(id)?;
        s.disabled = true;
        s.disabled_at = s.disabled_at.or(Some(now));
        s.deleted_at = Some(now);
        s.updated_at = Some(now);
        let details =
            serde_json::json!({"force": force, "live_certificates": live, "revoked": revoked});
        self.write_settings(id, &s, "issuer.delete", details)?;
        tracing::warn!(issuer = %id, live, revoked, "deleted issuer");
        Ok(())
    }

    fn write_settings(
        &self,
        id: &str,
        s: &super::IssuerSettings,
        action: &str,
        details: serde_json::Value,
    ) -> Result<()> {
        let mut batch = WriteBatch::new();
        batch.put(cf::CA_SETTINGS, id.as_bytes().to_vec(), stored(s)?);
        self.cx
            .commit(Commit::new(batch).audit((action, "issuer", id), details))?;
        Ok(())
    }

    /// Signs a probe certificate with issuer `id`'s key and verifies the signature with its
    /// certificate's public key: the key store is reachable and holds the key the CA
    /// certificate names. Audited as `issuer.test` (failed or not).
    pub fn test_issuer(&self, id: &str) -> Result<ProbeResult> {
        let ca = self.visible_ca(id)?;
        let started = Instant::now();
        let outcome = probe(&ca);
        let sign_ms = started.elapsed().as_secs_f64() * 1000.0;
        let details = match &outcome {
            Ok(()) => serde_json::json!({"sign_ms": sign_ms}),
            Err(e) => serde_json::json!({"error": e.to_string()}),
        };
        self.cx.commit(
            Commit::new(WriteBatch::new())
                .audit(("issuer.test", "issuer", id), details)
                .succeeded(outcome.is_ok()),
        )?;
        outcome?;
        Ok(ProbeResult {
            issuer_id: id.into(),
            key_store: ca.record.key.kind(),
            key_algorithm: ca.record.key_algorithm.name(),
            sign_ms,
        })
    }
}

/// A one-minute certificate for `CN=sigil issuer probe`, signed by the CA and verified.
fn probe(ca: &CaRuntime) -> Result<()> {
    let now = now_unix();
    let spec = CertSpec {
        serial: x509::random_serial(),
        issuer: ca.subject.clone(),
        subject: x509::parse_name("CN=sigil issuer probe")?,
        spki_der: ca.signer.public_key_der().to_vec(),
        not_before: now,
        not_after: now + 60,
        extensions: Vec::new(),
    };
    let der = x509::sign_certificate(&spec, ca.signer.as_ref())?;
    let cert_spki = x509::spki_of_cert(&ca.record.cert_der)
        .map_err(|e| IssuerError::ProbeFailed(format!("CA certificate: {e}")))?;
    crate::est::identity::verify_issued_by(
        &der,
        &cert_spki,
        ca.record.key_algorithm,
        ca.signer.signature_algorithm_der(),
    )
    .map_err(|e| {
        IssuerError::ProbeFailed(format!(
            "the key signed, but the CA certificate's public key does not verify it ({e})"
        ))
    })?;
    Ok(())
}
