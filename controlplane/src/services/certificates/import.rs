//! Importing a certificate issued elsewhere by the key of one of Sigil's CAs (UCM's
//! certificate import): typically a CA imported with its key from another system, whose
//! issued certificates must be answered for by OCSP (and listed on its CRL when revoked)
//! from now on. The certificate's signature must verify under the CA's key, with the CA's
//! signature algorithm; certificates of other issuers, and CA certificates, are refused.

use der::Decode;
use sigil_shared::ocsp::RevocationReason;
use sigil_shared::time::now_unix;
use sigil_storage::WriteBatch;
use x509_cert::ext::pkix::{BasicConstraints, SubjectAltName};
use x509_cert::Certificate;

use super::{san_string, CertError, Certificates, Result};
use crate::db::{
    cf, due_key, encode, serial_key, CertMeta, CertRecord, CertState, Enrollment, RevocationRecord,
};
use crate::ocsp::sign_responses;
use crate::services::context::Commit;

/// What to import.
#[derive(Debug, Clone)]
pub struct ImportRequest {
    /// PEM or DER X.509 certificate.
    pub certificate: Vec<u8>,
    /// Recorded as its profile (default `imported`); not checked against the certificate.
    pub profile: Option<String>,
    /// Revoked before the import: when and why (goes on the CRL with that date).
    pub revoked: Option<(i64, RevocationReason)>,
}

fn invalid(m: impl Into<String>) -> CertError {
    CertError::ImportInvalid(m.into())
}

/// DER of a PEM `CERTIFICATE` or of DER input.
fn der_of(input: &[u8]) -> Result<Vec<u8>> {
    let trimmed = input.trim_ascii();
    if !trimmed.starts_with(b"-----BEGIN") {
        return Ok(trimmed.to_vec());
    }
    let (label, der) = der::pem::decode_vec(trimmed).map_err(|e| invalid(format!("PEM: {e}")))?;
    if label != "CERTIFICATE" {
        return Err(invalid(format!(
            "PEM label {label:?}, expected CERTIFICATE"
        )));
    }
    Ok(der)
}

/// A certificate to import as read from the request (sans-io; `fuzz/` feeds it any bytes):
/// its DER, decoded form and SANs. CA certificates are refused here.
#[derive(Debug)]
pub struct Parsed {
    pub der: Vec<u8>,
    pub cert: Certificate,
    pub sans: Vec<x509_cert::ext::pkix::name::GeneralName>,
}

/// Reads PEM or DER certificate bytes for [`Certificates::import`].
pub fn parse(input: &[u8]) -> Result<Parsed> {
    let der = der_of(input)?;
    let cert = Certificate::from_der(&der).map_err(|e| invalid(format!("DER: {e}")))?;
    let mut sans = Vec::new();
    for ext in cert.tbs_certificate.extensions.iter().flatten() {
        let v = ext.extn_value.as_bytes();
        if ext.extn_id == const_oid::db::rfc5280::ID_CE_BASIC_CONSTRAINTS
            && BasicConstraints::from_der(v).is_ok_and(|b| b.ca)
        {
            return Err(invalid(
                "it is a CA certificate: import it as an issuer (POST /api/v1/issuers)",
            ));
        }
        if ext.extn_id == const_oid::db::rfc5280::ID_CE_SUBJECT_ALT_NAME {
            sans = SubjectAltName::from_der(v)
                .map_err(|e| invalid(format!("subjectAltName: {e}")))?
                .0;
        }
    }
    Ok(Parsed { der, cert, sans })
}

impl Certificates {
    /// Imports a certificate (see the module documentation): stored with pre-signed OCSP
    /// responses for its state, replicated to the data planes and audited
    /// (`certificate.import`) in one synced commit; refused if its serial is already here.
    pub fn import(&self, req: &ImportRequest) -> Result<CertRecord> {
        let Parsed { der, cert, sans } = parse(&req.certificate)?;
        let tbs = &cert.tbs_certificate;
        let ca = self
            .issuers
            .list_cas()
            .into_iter()
            .find(|ca| {
                crate::est::identity::verify_issued_by(
                    &der,
                    ca.signer.public_key_der(),
                    ca.record.key_algorithm,
                    ca.signer.signature_algorithm_der(),
                )
                .is_ok()
            })
            .ok_or_else(|| {
                invalid(
                    "it is not signed by the key of any issuer here (with its signature algorithm)",
                )
            })?;
        let serial = tbs.serial_number.as_bytes().to_vec();
        let id = hex::encode(&serial);
        if self.cert(&id).is_ok() {
            return Err(CertError::ImportExists { id });
        }
        let now = now_unix();
        let (not_before, not_after) = (
            tbs.validity.not_before.to_unix_duration().as_secs() as i64,
            tbs.validity.not_after.to_unix_duration().as_secs() as i64,
        );
        let state = match req.revoked {
            Some((time, _)) if time > now => return Err(invalid("revoked_at is in the future")),
            Some((time, reason)) => CertState::Revoked { time, reason },
            None => CertState::Active,
        };
        let validity = self.ocsp_validity_secs();
        let responder = self.issuers.responder_for(&ca, now + validity, now)?;
        let entries = sign_responses(
            &ca,
            &responder,
            &serial,
            state,
            now,
            validity,
            self.hash_algorithms(),
        )?;
        let due = self.due_at(now);
        let issuer_id = ca.record.id.clone();
        let record = CertRecord {
            id: id.clone(),
            issuer_id: issuer_id.clone(),
            serial: serial.clone(),
            der,
            subject: tbs.subject.to_string(),
            sans: sans.iter().map(san_string).collect(),
            profile: req.profile.clone().unwrap_or_else(|| "imported".into()),
            not_before,
            not_after,
            created_at: now,
            state,
            ocsp_due_at: due,
        };
        let key = serial_key(&issuer_id, &serial);
        let mut batch = WriteBatch::new();
        batch.put(cf::CERTS, key.clone(), encode(&record)?);
        batch.put(cf::CERT_IDS, serial.clone(), issuer_id.as_bytes().to_vec());
        batch.put(cf::OCSP_DUE, due_key(due, &issuer_id, &serial), Vec::new());
        let meta = CertMeta {
            enrollment: Enrollment::Import,
        };
        batch.put(cf::CERT_META, serial.clone(), encode(&meta)?);
        let mut details = serde_json::json!({"issuer_id": issuer_id, "subject": record.subject});
        if let CertState::Revoked { time, reason } = state {
            batch.put(
                cf::REVOCATIONS,
                key,
                encode(&RevocationRecord { time, reason })?,
            );
            details["revocation_reason"] = reason.name().into();
        }
        let mut changes = Vec::with_capacity(entries.len());
        self.stage_responses(&mut batch, &issuer_id, entries, &mut changes)?;
        let commit = Commit::new(batch)
            .expect_absent(cf::CERT_IDS, serial.clone())
            .replicate(changes)
            .audit(("certificate.import", "certificate", &id), details);
        match self.cx.commit(commit) {
            Ok(_) => {}
            Err(e) if e.is_write_conflict() => return Err(CertError::ImportExists { id }),
            Err(e) => return Err(e.into()),
        }
        if record.state != CertState::Active {
            self.issuers.request_crl(&issuer_id);
        }
        tracing::info!(issuer = %issuer_id, serial = %id, "imported certificate");
        Ok(record)
    }
}
