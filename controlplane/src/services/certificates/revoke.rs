//! Revocation and release from hold. A certificate revoked for any reason other than
//! `certificateHold` never returns to `good` (RFC 5280 §5.3.1).

use sigil_shared::ocsp::RevocationReason;
use sigil_shared::time::now_unix;
use sigil_storage::WriteBatch;

use super::query::{status_of, CertFilter};
use super::{CertError, Certificates, Result};
use crate::db::{cf, encode, serial_key, CertRecord, CertState, RevocationRecord};
use crate::ocsp::sign_responses;
use crate::services::context::{retry_conflicts, Commit};
use crate::services::ErrorKind;

/// What a bulk revocation did, per certificate id.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BulkRevocation {
    pub matched: u64,
    pub revoked: Vec<String>,
    /// Not revoked because there was nothing to do: (id, why).
    pub skipped: Vec<(String, String)>,
    /// Revocation failed: (id, error).
    pub failed: Vec<(String, String)>,
}

/// What a bulk revocation would do ([`Certificates::bulk_preview`]).
#[derive(Debug, Clone, Default)]
pub struct BulkPreview {
    pub matched: u64,
    pub to_revoke: u64,
    pub sample: Vec<CertRecord>,
}

impl Certificates {
    /// Revokes certificate `id`. Allowed: active → revoked(any), hold → revoked(permanent).
    /// Run again from its reads if another node changed the certificate meanwhile (then it
    /// answers as the other node's change makes it: e.g. already revoked).
    pub fn revoke(&self, id: &str, reason: RevocationReason) -> Result<CertRecord> {
        retry_conflicts(
            || self.revoke_once(id, reason),
            CertError::is_write_conflict,
        )
    }

    fn revoke_once(&self, id: &str, reason: RevocationReason) -> Result<CertRecord> {
        let _g = self.status_locks.one(id);
        let cert = self.cert(id)?;
        let now = now_unix();
        let time = match cert.state {
            CertState::Active => now,
            // A held certificate may be revoked for good; the permanent revocation happens now.
            CertState::Revoked {
                reason: RevocationReason::CertificateHold,
                ..
            } if reason != RevocationReason::CertificateHold => now,
            CertState::Revoked { reason: old, .. } => {
                return Err(CertError::AlreadyRevoked {
                    id: id.into(),
                    reason: old,
                });
            }
        };
        let state = CertState::Revoked { time, reason };
        let updated = self.change_state(cert, state, now)?;
        self.cx
            .metrics()
            .revoked
            .with_label_values(&[&updated.issuer_id])
            .inc();
        tracing::info!(issuer = %updated.issuer_id, serial = %id, reason = reason.name(), "revoked certificate");
        self.issuers.request_crl(&updated.issuer_id);
        Ok(updated)
    }

    /// Revokes every certificate matching `filter` (certctl's bulk revoke), each through
    /// [`Certificates::revoke`] (so each is audited with its change); already revoked and expired
    /// certificates are skipped, failures do not stop the rest. An empty filter is refused.
    /// A summary record (`certificate.bulk_revoke`) is audited at the end.
    pub fn bulk_revoke(
        &self,
        filter: &CertFilter,
        reason: RevocationReason,
    ) -> Result<BulkRevocation> {
        self.bulk_revoke_with(filter, reason, &mut |_, _| {})
    }

    /// [`Certificates::bulk_revoke`], calling `progress(done, matched)` after each certificate.
    pub fn bulk_revoke_with(
        &self,
        filter: &CertFilter,
        reason: RevocationReason,
        progress: &mut dyn FnMut(u64, u64),
    ) -> Result<BulkRevocation> {
        let matched = self.bulk_matches(filter)?;
        let mut out = BulkRevocation {
            matched: matched.len() as u64,
            ..Default::default()
        };
        let now = now_unix();
        for (done, c) in (1..).zip(matched) {
            progress(done, out.matched);
            match skip_reason(&c, reason, now) {
                Some(why) => out.skipped.push((c.id, why)),
                None => match self.revoke(&c.id, reason) {
                    Ok(_) => out.revoked.push(c.id),
                    // Its state changed since the scan (revoked meanwhile).
                    Err(e) if e.kind() == ErrorKind::Conflict => {
                        out.skipped.push((c.id, e.to_string()))
                    }
                    Err(e) => {
                        tracing::error!(serial = %c.id, error = %e, "bulk revocation: certificate failed");
                        out.failed.push((c.id, super::renew::shown(&e)));
                    }
                },
            }
        }
        let mut details =
            serde_json::json!({"reason": reason.name(), "revoked": out.revoked.len()});
        self.audit_bulk(
            "certificate.bulk_revoke",
            filter,
            out.matched,
            &out.skipped,
            &out.failed,
            &mut details,
        )?;
        tracing::info!(
            matched = out.matched,
            revoked = out.revoked.len(),
            skipped = out.skipped.len(),
            failed = out.failed.len(),
            reason = reason.name(),
            "bulk revocation"
        );
        Ok(out)
    }

    /// What [`Certificates::bulk_revoke`] would do with `filter` and `reason`: how many
    /// certificates match, how many of them it would revoke (the others are already revoked
    /// or expired), and the first `sample` of those. Refuses an empty filter as it does.
    pub fn bulk_preview(
        &self,
        filter: &CertFilter,
        reason: RevocationReason,
        sample: usize,
    ) -> Result<BulkPreview> {
        if filter.is_empty() {
            return Err(CertError::EmptyFilter);
        }
        let now = now_unix();
        let mut p = BulkPreview::default();
        self.scan_certs(filter, &mut |c| {
            p.matched += 1;
            if skip_reason(&c, reason, now).is_none() {
                p.to_revoke += 1;
                if p.sample.len() < sample {
                    p.sample.push(c);
                }
            }
            true
        })?;
        Ok(p)
    }

    /// Releases a certificate from `certificateHold` (run again from its reads after a
    /// conflict, as [`Certificates::revoke`]).
    pub fn unhold(&self, id: &str) -> Result<CertRecord> {
        retry_conflicts(|| self.unhold_once(id), CertError::is_write_conflict)
    }

    fn unhold_once(&self, id: &str) -> Result<CertRecord> {
        let _g = self.status_locks.one(id);
        let cert = self.cert(id)?;
        match cert.state {
            CertState::Revoked {
                reason: RevocationReason::CertificateHold,
                ..
            } => {}
            CertState::Active => return Err(CertError::NotOnHold { id: id.into() }),
            CertState::Revoked { reason, .. } => {
                return Err(CertError::RevokedForGood {
                    id: id.into(),
                    reason,
                })
            }
        }
        let updated = self.change_state(cert, CertState::Active, now_unix())?;
        tracing::info!(issuer = %updated.issuer_id, serial = %id, "released certificate from hold");
        self.issuers.request_crl(&updated.issuer_id);
        Ok(updated)
    }

    /// Signs responses for the new state and commits record, revocation entry and responses
    /// together (one commit), fenced on the certificate's record as read: the status lock
    /// orders this node's changes, the fence another node's. Caller holds the status lock.
    fn change_state(&self, mut cert: CertRecord, state: CertState, now: i64) -> Result<CertRecord> {
        let read = encode(&cert)?;
        let ca = self.issuers.ca(&cert.issuer_id)?;
        let validity = self.ocsp_validity_secs();
        let responder = self.issuers.responder_for(&ca, now + validity, now)?;
        let entries = sign_responses(
            &ca,
            &responder,
            &cert.serial,
            state,
            now,
            validity,
            self.hash_algorithms(),
        )?;
        let key = serial_key(&cert.issuer_id, &cert.serial);
        let mut batch = WriteBatch::new();
        match state {
            CertState::Revoked { time, reason } => {
                batch.put(
                    cf::REVOCATIONS,
                    key.clone(),
                    encode(&RevocationRecord { time, reason })?,
                );
            }
            CertState::Active => batch.delete(cf::REVOCATIONS, key.clone()),
        }
        self.reschedule(&mut batch, &mut cert, now);
        cert.state = state;
        batch.put(cf::CERTS, key.clone(), encode(&cert)?);
        let mut changes = Vec::with_capacity(entries.len());
        self.stage_responses(&mut batch, &cert.issuer_id, entries, &mut changes)?;
        let (action, details) = match state {
            CertState::Revoked { reason, .. } => (
                "certificate.revoke",
                serde_json::json!({"issuer_id": cert.issuer_id, "reason": reason.name()}),
            ),
            CertState::Active => (
                "certificate.unhold",
                serde_json::json!({"issuer_id": cert.issuer_id}),
            ),
        };
        self.cx.commit(
            Commit::new(batch)
                .expect_value(cf::CERTS, key, Some(read))
                .replicate(changes)
                .audit((action, "certificate", &cert.id), details),
        )?;
        Ok(cert)
    }
}

/// Why a bulk revocation leaves `c` alone, if it does.
fn skip_reason(c: &CertRecord, reason: RevocationReason, now: i64) -> Option<String> {
    match c.state {
        CertState::Revoked {
            reason: RevocationReason::CertificateHold,
            ..
        } if reason != RevocationReason::CertificateHold => None,
        CertState::Revoked { reason: old, .. } => Some(format!("already revoked ({})", old.name())),
        CertState::Active if status_of(c, now) == "expired" => Some("expired".into()),
        CertState::Active => None,
    }
}

impl Certificates {
    /// Every certificate a bulk operation over `filter` acts on; an empty filter (every
    /// certificate) is refused.
    pub(super) fn bulk_matches(&self, filter: &CertFilter) -> Result<Vec<CertRecord>> {
        if filter.is_empty() {
            return Err(CertError::EmptyFilter);
        }
        let mut matched = Vec::new();
        self.scan_certs(filter, &mut |c| {
            matched.push(c);
            true
        })?;
        Ok(matched)
    }

    /// The summary record that ends a bulk operation over `filter` (`action`, e.g.
    /// `certificate.bulk_revoke`): `details` plus the filter, how many matched and were skipped
    /// and the ids that failed; a failure if any did.
    pub(super) fn audit_bulk(
        &self,
        action: &str,
        filter: &CertFilter,
        matched: u64,
        skipped: &[(String, String)],
        failed: &[(String, String)],
        details: &mut serde_json::Value,
    ) -> Result<()> {
        details["filter"] = serde_json::json!(filter);
        details["matched"] = matched.into();
        details["skipped"] = skipped.len().into();
        details["failed"] = failed
            .iter()
            .map(|(id, _)| id.as_str())
            .collect::<Vec<_>>()
            .into();
        let summary = Commit::new(WriteBatch::new()).audit(
            (
                action,
                "certificate",
                filter.issuer_id.as_deref().unwrap_or_default(),
            ),
            details.take(),
        );
        self.cx.commit(summary.succeeded(failed.is_empty()))?;
        Ok(())
    }
}
