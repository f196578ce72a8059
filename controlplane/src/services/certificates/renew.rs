//! Renewal (certctl's `POST /api/v1/certificates/{id}/renew` and `bulk-renew`) and the
//! renewal chain (`…/{id}/versions`).
//!
//! A renewal issues a new certificate with the old one's issuer, profile, subject and SANs,
//! and links the two in `cert_lineage` in the same synced batch. A chain never forks: a
//! certificate is renewed at most once (the newest version is the one to renew), enforced by a
//! fence on the old certificate's lineage record, so two nodes renewing the same certificate
//! at once give one renewal and one 409. The old certificate stays valid until it expires or
//! is revoked: a renewal does not revoke.

use der::{Decode, Encode};
use sigil_shared::time::now_unix;
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::ext::pkix::SubjectAltName;
use x509_cert::Certificate;

use super::query::CertFilter;
use super::{CertError, Certificates, Result};
use crate::crypto::{KeyAlgorithm, SoftwareSigner, VerifiedCsr};
use crate::db::{cf, encode, serial_key, CertLineage, CertMeta, CertRecord, CertState, Enrollment};
use crate::services::context::{retry_conflicts, Commit};
use crate::services::error::Internal;
use crate::services::ErrorKind;

/// Where the renewed certificate's key comes from.
#[derive(Debug, Clone)]
pub enum RenewKey {
    /// The certificate's own public key, certified again (its possession was proven when it
    /// was first issued): the holder only fetches the new certificate.
    Same,
    /// A new PKCS#10 request (PEM or DER): its key. Its subject and SANs must be the
    /// certificate's, or absent (a key-only request).
    Csr(Vec<u8>),
    /// A key generated here (default: the certificate's algorithm), returned once, never stored.
    Generate(Option<KeyAlgorithm>),
}

impl RenewKey {
    fn name(&self) -> &'static str {
        match self {
            Self::Same => "same",
            Self::Csr(_) => "csr",
            Self::Generate(_) => "generated",
        }
    }
}

/// A renewed certificate.
#[derive(Debug, Clone)]
pub struct Renewed {
    pub cert: CertRecord,
    pub renewed_from: String,
    /// Where the key came from: `same`, `csr` or `generated`.
    pub key: &'static str,
    /// PKCS#8 of a generated key ([`RenewKey::Generate`]).
    pub pkcs8: Option<Vec<u8>>,
}

/// What a bulk renewal did, per certificate id.
#[derive(Debug, Clone, Default)]
pub struct BulkRenewal {
    pub matched: u64,
    /// (old id, new id).
    pub renewed: Vec<(String, String)>,
    /// Not renewed because there was nothing to do: (id, why).
    pub skipped: Vec<(String, String)>,
    /// Renewal failed: (id, error).
    pub failed: Vec<(String, String)>,
}

/// The old end of a renewal, as read: staged into the new certificate's commit.
#[derive(Debug)]
pub(super) struct Link {
    old: CertRecord,
    old_raw: Vec<u8>,
    lineage_raw: Option<Vec<u8>>,
    renewed_from: Option<String>,
    key: &'static str,
}

impl Link {
    /// Both lineage records, with fences on the old certificate's record and lineage as read
    /// (a revocation or another renewal meanwhile fails this commit; it is then run again).
    pub(super) fn stage(
        &self,
        commit: Commit,
        new: &CertRecord,
        details: &mut serde_json::Value,
    ) -> Result<Commit> {
        let mut batch = sigil_storage::WriteBatch::new();
        let old_end = CertLineage::V1 {
            renewed_from: self.renewed_from.clone(),
            renewed_by: Some(new.id.clone()),
        };
        let new_end = CertLineage::V1 {
            renewed_from: Some(self.old.id.clone()),
            renewed_by: None,
        };
        batch.put(cf::CERT_LINEAGE, self.old.serial.clone(), encode(&old_end)?);
        batch.put(cf::CERT_LINEAGE, new.serial.clone(), encode(&new_end)?);
        details["renewed_from"] = self.old.id.clone().into();
        details["key"] = self.key.into();
        Ok(commit
            .append(batch)
            .expect_value(
                cf::CERT_LINEAGE,
                self.old.serial.clone(),
                self.lineage_raw.clone(),
            )
            .expect_value(
                cf::CERTS,
                serial_key(&self.old.issuer_id, &self.old.serial),
                Some(self.old_raw.clone()),
            ))
    }
}

/// Why a certificate cannot be renewed, if it cannot: revoked (on hold too), archived or
/// already renewed. `None`: it can.
fn not_renewable(c: &CertRecord, lineage: Option<&CertLineage>, archived: bool) -> Option<String> {
    if let CertState::Revoked { reason, .. } = c.state {
        return Some(format!("it is revoked ({})", reason.name()));
    }
    if archived {
        return Some("it is archived".into());
    }
    lineage
        .and_then(CertLineage::renewed_by)
        .map(|by| format!("it was already renewed by {by}: renew the newest version"))
}

/// The subject, SANs and key of an issued certificate, as a request for its renewal.
fn names_of(der: &[u8]) -> Result<(x509_cert::name::Name, Vec<GeneralName>, Vec<u8>)> {
    let bad = Internal::Der;
    let cert = Certificate::from_der(der).map_err(bad)?;
    let tbs = cert.tbs_certificate;
    let mut sans = Vec::new();
    for ext in tbs.extensions.iter().flatten() {
        if ext.extn_id == const_oid::db::rfc5280::ID_CE_SUBJECT_ALT_NAME {
            sans = SubjectAltName::from_der(ext.extn_value.as_bytes())
                .map_err(bad)?
                .0;
        }
    }
    let spki = tbs.subject_public_key_info.to_der().map_err(bad)?;
    Ok((tbs.subject, sans, spki))
}

impl Certificates {
    /// The renewal chain record of a certificate, decoded and as stored (for a fence).
    fn lineage(&self, serial: &[u8]) -> Result<(Option<CertLineage>, Option<Vec<u8>>)> {
        let raw = self.cx.db().get_raw(cf::CERT_LINEAGE, serial)?;
        let decoded = raw
            .as_deref()
            .map(|v| crate::db::decode(cf::CERT_LINEAGE, v))
            .transpose()?;
        Ok((decoded, raw))
    }

    /// Renews certificate `id` (see the module documentation), `validity_days` or its
    /// profile's default. Run again from its reads if another node changed the certificate
    /// meanwhile.
    pub fn renew(&self, id: &str, key: &RenewKey, validity_days: Option<u32>) -> Result<Renewed> {
        retry_conflicts(
            || self.renew_once(id, key, validity_days),
            CertError::is_write_conflict,
        )
    }

    fn renew_once(&self, id: &str, key: &RenewKey, validity_days: Option<u32>) -> Result<Renewed> {
        let _g = self.status_locks.one(id);
        let old = self.cert(id)?;
        // The record as read is the fence's value (as `change_state` does): no second read.
        let old_raw = encode(&old)?;
        let (lineage, lineage_raw) = self.lineage(&old.serial)?;
        if let Some(why) = not_renewable(&old, lineage.as_ref(), self.is_archived(&old.serial)?) {
            return Err(CertError::NotRenewable { id: id.into(), why });
        }
        let (subject, sans, old_spki) = names_of(&old.der)?;
        let (spki_der, pkcs8) = match key {
            RenewKey::Same => (old_spki, None),
            RenewKey::Csr(csr) => {
                let csr = crate::crypto::verify_csr(csr)?;
                let key_only = csr.subject.0.is_empty() && csr.sans.is_empty();
                if !key_only && !crate::est::identity::keeps_identity(&csr, &subject, &old.sans) {
                    return Err(CertError::RenewalNamesDiffer {
                        subject: old.subject.clone(),
                        sans: old.sans.join(", "),
                    });
                }
                (csr.spki_der, None)
            }
            RenewKey::Generate(alg) => {
                let alg = alg
                    .or_else(|| crate::est::keygen::algorithm_of(&old_spki))
                    .unwrap_or(KeyAlgorithm::EcdsaP256);
                let (signer, pkcs8) = SoftwareSigner::generate(alg).map_err(Internal::from)?;
                (
                    crate::crypto::Signer::public_key_der(&signer).to_vec(),
                    Some(pkcs8),
                )
            }
        };
        let rsa_key = crate::est::keygen::algorithm_of(&spki_der).is_some_and(|a| a.is_rsa());
        let csr = VerifiedCsr {
            subject,
            spki_der,
            sans,
            rsa_key,
        };
        let req = super::IssueRequest {
            issuer_id: old.issuer_id.clone(),
            csr: Vec::new(),
            validity_days,
            profile: Some(old.profile.clone()),
        };
        let checked = self.check_verified(&req, csr)?;
        let link = Link {
            renewed_from: lineage
                .as_ref()
                .and_then(|l| l.renewed_from().map(String::from)),
            old,
            old_raw,
            lineage_raw,
            key: key.name(),
        };
        let meta = Some(CertMeta {
            enrollment: Enrollment::Renewal,
        });
        let cert = self.issue_linked(checked, meta, Some(&link), None)?;
        tracing::info!(old = %link.old.id, new = %cert.id, key = key.name(), "renewed certificate");
        Ok(Renewed {
            cert,
            renewed_from: link.old.id,
            key: key.name(),
            pkcs8,
        })
    }

    /// Renews every certificate matching `filter` with its own key (certctl's bulk renewal),
    /// each as [`Certificates::renew`]; revoked, expired, archived and already renewed ones are
    /// skipped, failures do not stop the rest. An empty filter is refused. A summary record
    /// (`certificate.bulk_renew`) is audited at the end.
    pub fn bulk_renew(
        &self,
        filter: &CertFilter,
        validity_days: Option<u32>,
    ) -> Result<BulkRenewal> {
        let matched = self.bulk_matches(filter)?;
        let mut out = BulkRenewal {
            matched: matched.len() as u64,
            ..Default::default()
        };
        let now = now_unix();
        for c in matched {
            let (lineage, _) = self.lineage(&c.serial)?;
            let why = if c.not_after < now && c.state == CertState::Active {
                Some("it has expired".to_string())
            } else {
                not_renewable(&c, lineage.as_ref(), self.is_archived(&c.serial)?)
            };
            if let Some(why) = why {
                out.skipped.push((c.id, why));
                continue;
            }
            match self.renew(&c.id, &RenewKey::Same, validity_days) {
                Ok(r) => out.renewed.push((c.id, r.cert.id)),
                Err(e @ CertError::NotRenewable { .. }) => out.skipped.push((c.id, e.to_string())),
                Err(e) => {
                    tracing::error!(serial = %c.id, error = %e, "bulk renewal: certificate failed");
                    out.failed.push((c.id, shown(&e)));
                }
            }
        }
        let mut details = serde_json::json!({"renewed": out.renewed.len()});
        self.audit_bulk(
            "certificate.bulk_renew",
            filter,
            out.matched,
            &out.skipped,
            &out.failed,
            &mut details,
        )?;
        Ok(out)
    }

    /// The renewal chain `id` is part of, oldest first (certctl's versions). At most
    /// `MAX_VERSIONS` on each side of `id`.
    pub fn versions(&self, id: &str) -> Result<Vec<CertRecord>> {
        const MAX_VERSIONS: usize = 10_000;
        let start = self.cert(id)?;
        let (lineage, _) = self.lineage(&start.serial)?;
        let mut older = Vec::new();
        let mut prev = lineage
            .as_ref()
            .and_then(|l| l.renewed_from().map(String::from));
        while let Some(p) = prev.take().filter(|_| older.len() < MAX_VERSIONS) {
            let c = self.cert(&p)?;
            prev = self
                .lineage(&c.serial)?
                .0
                .and_then(|l| l.renewed_from().map(String::from));
            older.push(c);
        }
        older.reverse();
        let mut next = lineage
            .as_ref()
            .and_then(|l| l.renewed_by().map(String::from));
        older.push(start);
        let mut newer = 0;
        while let Some(n) = next.take().filter(|_| newer < MAX_VERSIONS) {
            let c = self.cert(&n)?;
            next = self
                .lineage(&c.serial)?
                .0
                .and_then(|l| l.renewed_by().map(String::from));
            older.push(c);
            newer += 1;
        }
        Ok(older)
    }
}

/// `e`'s message as a bulk result shows it: internal details stay in the log.
pub(super) fn shown(e: &CertError) -> String {
    match e.kind() {
        ErrorKind::Internal => "internal error; see the control plane log".to_string(),
        ErrorKind::SignerUnavailable => crate::services::SIGNER_UNAVAILABLE.to_string(),
        _ => e.to_string(),
    }
}
