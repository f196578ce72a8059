//! A CA's SCEP RA (RFC 8894 §2.1: an RA certificate in place of the CA's for message
//! encryption and signing): an RSA key — SCEP requests are encrypted to it with PKCS#1 v1.5
//! key transport, which an ECDSA CA cannot do — and a certificate the CA signs for it
//! (digitalSignature + keyEncipherment, no EKU). Issued at the CA's first SCEP request and
//! whenever less than a tenth of its validity is left, or the CA certificate changed; the
//! key sealed under the KEK in `keys` (`scep-ra/{id}`), the record in `scep` (`ra/{id}`),
//! both in one synced, audited commit (`scep.ra.issue`), fenced on the record as read so
//! that two control-plane nodes never both install one (the second re-reads and uses the
//! first one's).

use std::sync::Arc;

use aws_lc_rs::digest;
use sigil_shared::ocsp::key_id_of_spki;
use sigil_shared::time::now_unix;
use sigil_storage::WriteBatch;
use zeroize::Zeroizing;

use super::{Issuers, Result};
use crate::ca::CaRuntime;
use crate::db::secrets::SecretName;
use crate::db::{cf, ScepRa};
use crate::services::context::{retry_conflicts, Commit};
use crate::services::error::Internal;
use crate::x509::{self, CertSpec, PkiError};

/// The RA's key (PKCS#8) and certificate.
#[derive(Debug)]
pub struct ScepRaKey {
    pub pkcs8: Zeroizing<Vec<u8>>,
    pub cert_der: Vec<u8>,
    pub not_after: i64,
}

/// `scep` key of an issuer's RA record.
fn ra_key(issuer_id: &str) -> Vec<u8> {
    format!("ra/{issuer_id}").into_bytes()
}

impl Issuers {
    /// `ca`'s SCEP RA, issued now (RSA-`bits`, `days` of validity) if it has none that is
    /// current.
    pub fn scep_ra(&self, ca: &Arc<CaRuntime>, bits: u32, days: u32) -> Result<ScepRaKey> {
        let ca_sha = digest::digest(&digest::SHA256, &ca.record.cert_der)
            .as_ref()
            .to_vec();
        let current = |rec: &ScepRa, now: i64| match rec {
            ScepRa::V1 {
                not_after,
                ca_cert_sha256,
                ..
            } => *ca_cert_sha256 == ca_sha && *not_after - now > i64::from(days) * 8640,
        };
        let read = || -> Result<(Option<Vec<u8>>, Option<ScepRaKey>)> {
            let raw = self.cx.db().get_raw(cf::SCEP, &ra_key(&ca.record.id))?;
            let Some(bytes) = &raw else {
                return Ok((raw, None));
            };
            let rec: ScepRa = crate::db::decode(cf::SCEP, bytes)?;
            if !current(&rec, now_unix()) {
                return Ok((raw, None));
            }
            let pkcs8 = self
                .cx
                .secret(&SecretName::scep_ra_key(&ca.record.id))?
                .ok_or_else(|| Internal::CertificateMissing {
                    id: format!("scep-ra/{}", ca.record.id),
                })?;
            let ScepRa::V1 {
                cert_der,
                not_after,
                ..
            } = rec;
            Ok((
                raw,
                Some(ScepRaKey {
                    pkcs8,
                    cert_der,
                    not_after,
                }),
            ))
        };
        if let (_, Some(ra)) = read()? {
            return Ok(ra);
        }
        let _g = self.ca_lock.lock().unwrap_or_else(|e| e.into_inner());
        retry_conflicts(
            || {
                let (raw, found) = read()?;
                if let Some(ra) = found {
                    return Ok(ra);
                }
                self.issue_scep_ra(ca, bits, days, &ca_sha, raw)
            },
            |e: &super::IssuerError| matches!(e, super::IssuerError::Internal(i) if i.is_write_conflict()),
        )
    }

    fn issue_scep_ra(
        &self,
        ca: &CaRuntime,
        bits: u32,
        days: u32,
        ca_sha: &[u8],
        read: Option<Vec<u8>>,
    ) -> Result<ScepRaKey> {
        let now = now_unix();
        let (pkcs8, spki) = sigil_scep::reply::generate_rsa(bits).map_err(Internal::from)?;
        let pkcs8 = Zeroizing::new(pkcs8);
        let key_id = key_id_of_spki(&spki)
            .map_err(|_| Internal::from(PkiError::BadName("RA key SPKI".into())))?;
        let not_after = (now + i64::from(days) * 86_400).min(ca.record.not_after);
        let mut subject = ca.subject.clone();
        subject.0.retain(|rdn| {
            !rdn.0
                .iter()
                .any(|atv| atv.oid == const_oid::db::rfc4519::CN)
        });
        let cn = format!(
            "CN={} SCEP RA",
            ca.record
                .name
                .replace([',', '+', '=', '\\', '"', '<', '>', ';'], " ")
        );
        subject
            .0
            .extend(x509::parse_name(&cn).map_err(Internal::from)?.0);
        let spec = CertSpec {
            serial: x509::random_serial(),
            issuer: ca.subject.clone(),
            subject,
            spki_der: spki,
            not_before: now - 3600,
            not_after,
            extensions: vec![
                x509::basic_constraints(false, None).map_err(Internal::from)?,
                x509::key_usage(&["digitalSignature", "keyEncipherment"])
                    .map_err(Internal::from)?,
                x509::subject_key_id(&key_id).map_err(Internal::from)?,
                x509::authority_key_id(&ca.record.key_id).map_err(Internal::from)?,
            ],
        };
        let cert_der = x509::sign_certificate(&spec, ca.signer.as_ref()).map_err(Internal::from)?;
        let record = ScepRa::V1 {
            cert_der: cert_der.clone(),
            not_after,
            ca_cert_sha256: ca_sha.to_vec(),
        };
        let mut batch = WriteBatch::new();
        self.cx
            .stage_secret(&mut batch, &SecretName::scep_ra_key(&ca.record.id), &pkcs8)?;
        let key = ra_key(&ca.record.id);
        batch.put(cf::SCEP, key.clone(), crate::db::encode(&record)?);
        self.cx
            .commit(Commit::new(batch).expect_value(cf::SCEP, key, read).audit(
                ("scep.ra.issue", "issuer", &ca.record.id),
                serde_json::json!({"not_after": not_after, "key_bits": bits}),
            ))?;
        tracing::info!(issuer = %ca.record.id, not_after, "issued SCEP RA certificate");
        Ok(ScepRaKey {
            pkcs8,
            cert_der,
            not_after,
        })
    }
}
