//! Revocation (RFC 8555 §7.6): by the account the certificate was issued to, by an account
//! holding valid authorizations for all its names, or by the certificate's own key.

use der::Decode;
use sigil_acme::messages::Revocation;
use sigil_acme::{b64u_decode, ProblemType};
use sigil_shared::ocsp::RevocationReason;
use sigil_shared::time::now_unix;
use x509_cert::Certificate;

use super::identifiers::csr_identifiers;
use super::server::{AcmeServer, Reply, Signed};
use super::AcmeError;
use crate::audit::with_actor;
use crate::services::CertError;

impl AcmeServer {
    /// `revokeCert`: by the account the certificate was issued to, an account holding valid
    /// authorizations for all its names, or signed by the certificate's own key (`jwk`).
    pub fn revoke(&self, s: &Signed) -> Result<Reply, AcmeError> {
        let req: Revocation = s.jws.json()?;
        let der = b64u_decode(&req.certificate)
            .ok_or_else(|| AcmeError::malformed("certificate is not base64url"))?;
        let parsed = Certificate::from_der(&der)
            .map_err(|e| AcmeError::malformed(format!("certificate: {e}")))?;
        let serial = parsed.tbs_certificate.serial_number.as_bytes().to_vec();
        let id = hex::encode(&serial);
        let not_ours = || AcmeError::not_found("certificate issued by this server");
        let cert = self
            .services
            .certificates
            .cert(&id)
            .map_err(|_| not_ours())?;
        if cert.der != der {
            return Err(not_ours());
        }
        match &s.account {
            Some((account, _)) => {
                let owner = self.services.acme.cert_owner(&serial)?;
                if owner.as_deref() != Some(account)
                    && !self.authorized_for_all(account, &parsed)?
                {
                    return Err(AcmeError::unauthorized(
                        "this certificate was not issued to this account, and the account \
                         holds no valid authorization for all of its names",
                    ));
                }
            }
            None => {
                let spki = &parsed.tbs_certificate.subject_public_key_info;
                let bits = spki.subject_public_key.raw_bytes();
                if !s.key.matches_spki_key_bits(bits) {
                    return Err(AcmeError::unauthorized(
                        "the request is signed neither by the owning account nor by the certificate's key",
                    ));
                }
            }
        }
        let reason = match req.reason.unwrap_or(0) {
            0 => RevocationReason::Unspecified,
            1 => RevocationReason::KeyCompromise,
            3 => RevocationReason::AffiliationChanged,
            4 => RevocationReason::Superseded,
            5 => RevocationReason::CessationOfOperation,
            9 => RevocationReason::PrivilegeWithdrawn,
            r => {
                return Err(AcmeError::new(
                    ProblemType::BadRevocationReason,
                    format!("reason {r} is not allowed (0, 1, 3, 4, 5, 9)"),
                ))
            }
        };
        with_actor(s.actor(), || self.services.certificates.revoke(&id, reason)).map_err(|e| {
            match e {
                CertError::AlreadyRevoked { .. } => {
                    AcmeError::new(ProblemType::AlreadyRevoked, e.to_string())
                }
                e => e.into(),
            }
        })?;
        tracing::info!(certificate = %id, "ACME revocation");
        Ok(Reply {
            status: 200,
            ..Reply::default()
        })
    }
}

impl AcmeServer {
    /// Whether `account` holds valid, unexpired authorizations for every name of `cert`
    /// (RFC 8555 §7.6: such an account may revoke it too).
    fn authorized_for_all(&self, account: &str, cert: &Certificate) -> Result<bool, AcmeError> {
        let san = der::asn1::ObjectIdentifier::new_unwrap("2.5.29.17");
        let Some(ext) = cert
            .tbs_certificate
            .extensions
            .iter()
            .flatten()
            .find(|e| e.extn_id == san)
        else {
            return Ok(false);
        };
        let Ok(names) = x509_cert::ext::pkix::SubjectAltName::from_der(ext.extn_value.as_bytes())
        else {
            return Ok(false);
        };
        let Ok(wanted) = csr_identifiers(&names.0) else {
            return Ok(false);
        };
        if wanted.is_empty() {
            return Ok(false);
        }
        let held = self.services.acme.valid_identifiers(account, now_unix())?;
        Ok(wanted.is_subset(&held))
    }
}
