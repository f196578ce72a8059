//! EST operations on the services (blocking: they verify OTP hashes, sign and fsync).
//!
//! Enrollment order: pick the CA → check the CSR against the profile (400, nothing spent) →
//! authenticate (OTP: rate limit, then `Otps::use_otp`, which commits the decrement and
//! its `otp.use` audit record synced; client certificate: signature, database record, status,
//! validity) → (serverkeygen: generate the key) → issue through the common issuance path with
//! the enrollment type in `cert_meta`, one synced batch. A crash after the OTP use and before
//! the issuance commit leaves the OTP used and no certificate: never a second certificate from
//! a 1-use OTP; the operator creates a new OTP (kipuka behaves the same).

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use super::authn::Credentials;
use super::identity::{csr_names_entity, keeps_identity};
use super::limit::OtpLimiter;
use super::{keygen, pkcs7, wire, EstError};
use crate::audit::{with_actor, Actor};
use crate::ca::CaRuntime;
use crate::db::{CertMeta, CertRecord, Enrollment};
use crate::services::certificates::IssueRequest;
use crate::services::Services;

/// id-ce-subjectAltName 2.5.29.17 (RFC 5280 §4.2.1.6), content octets.
const OID_SAN: &[u8] = &[0x55, 0x1d, 0x11];

/// An enrollment's result.
#[derive(Debug)]
pub struct Issued {
    pub cert: CertRecord,
    /// `serverkeygen`: the generated key (PKCS#8).
    pub pkcs8: Option<Vec<u8>>,
}

/// The EST service: the services it enrolls through and the failed-OTP rate limiter.
#[derive(Debug)]
pub struct Est {
    pub(super) services: Arc<Services>,
    pub(super) limiter: Mutex<OtpLimiter>,
}

impl Est {
    /// With the rate limits of `[public.est]` in the services' configuration.
    pub fn new(services: Arc<Services>) -> Self {
        let limiter = OtpLimiter::from_config(&services.settings().public.est);
        Self::with_limiter(services, limiter)
    }

    pub fn with_limiter(services: Arc<Services>, limiter: OtpLimiter) -> Self {
        Self {
            services,
            limiter: Mutex::new(limiter),
        }
    }

    /// The CA a request addresses: by label (the CA's name), or the default CA.
    pub fn ca_for(&self, label: Option<&str>) -> Result<Arc<CaRuntime>, EstError> {
        let issuers = &self.services.issuers;
        let mut cas = Vec::new();
        for c in issuers.list_cas() {
            cas.push((issuers.issuer_name(&c.record.id)?, c));
        }
        if let Some(label) = label {
            return cas
                .into_iter()
                .find(|(name, _)| name == label)
                .map(|(_, c)| c)
                .ok_or_else(|| EstError::NotFound(format!("no CA is labelled {label:?}")));
        }
        if let Some((_, c)) = cas.iter().find(|(name, _)| name == "default") {
            return Ok(c.clone());
        }
        let leaves: Vec<&(String, Arc<CaRuntime>)> = cas
            .iter()
            .filter(|(_, c)| {
                !cas.iter()
                    .any(|(_, o)| o.record.parent_id.as_deref() == Some(&c.record.id))
            })
            .collect();
        match leaves.as_slice() {
            [(_, one)] => Ok(one.clone()),
            [] => Err(EstError::NotFound("no CA exists yet".into())),
            many => Err(EstError::NotFound(format!(
                "there is no default CA ({} issuing CAs and none named \"default\"): use \
                 /.well-known/est/<label>/ with one of {}",
                many.len(),
                many.iter()
                    .map(|(name, _)| format!("{name:?}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ))),
        }
    }

    /// The profile EST asks for from `ca`: `est-<label>` or `est` if configured; otherwise
    /// none, i.e. the issuer's default profile (its settings), else `default`.
    pub fn profile_for(&self, ca: &CaRuntime) -> Result<Option<String>, EstError> {
        let certificates = &self.services.certificates;
        let own = format!("est-{}", self.services.issuers.issuer_name(&ca.record.id)?);
        Ok(if certificates.has_profile(&own)? {
            Some(own)
        } else if certificates.has_profile("est")? {
            Some("est".into())
        } else {
            None
        })
    }

    /// `/cacerts`: certs-only DER with the CA and the chain above it (RFC 7030 §4.1.3).
    pub fn cacerts(&self, label: Option<&str>) -> Result<Vec<u8>, EstError> {
        let ca = self.ca_for(label)?;
        let mut certs: Vec<&[u8]> = vec![&ca.record.cert_der];
        certs.extend(ca.record.chain_der.iter().map(Vec::as_slice));
        Ok(pkcs7::certs_only(&certs))
    }

    /// `/csrattrs` (RFC 7030 §4.5): DER `CsrAttrs` from the CA's profile, `None` when there
    /// is nothing to ask for. A profile with `require_san` asks for subjectAltName.
    pub fn csrattrs(&self, label: Option<&str>) -> Result<Option<Vec<u8>>, EstError> {
        let ca = self.ca_for(label)?;
        let name = match self.profile_for(&ca)? {
            Some(p) => p,
            None => self
                .services
                .issuers
                .issuer_settings(&ca.record.id)?
                .default_profile
                .unwrap_or_else(|| "default".into()),
        };
        let profile = self
            .services
            .certificates
            .profile(&name)?
            .ok_or_else(|| EstError::Internal(format!("profile {name:?} vanished")))?;
        let mut oids: Vec<&[u8]> = Vec::new();
        if profile.require_san {
            oids.push(OID_SAN);
        }
        Ok((!oids.is_empty()).then(|| pkcs7::csr_attrs(&oids)))
    }

    /// `/simpleenroll`, `/simplereenroll`, `/serverkeygen`: authenticate and issue. `body`
    /// is the request body (base64 DER, PEM or DER PKCS#10).
    pub fn enroll(
        &self,
        label: Option<&str>,
        op: Enrollment,
        creds: Credentials,
        source: SocketAddr,
        body: &[u8],
    ) -> Result<Issued, EstError> {
        let ca = self.ca_for(label)?;
        if matches!(creds, Credentials::None) {
            return Err(EstError::Unauthorized(
                match op {
                    Enrollment::SimpleReenroll => {
                        "re-enrollment requires the current certificate as TLS client certificate"
                    }
                    Enrollment::ServerKeygen => {
                        "send HTTP Basic credentials entity_id:otp or a client certificate"
                    }
                    _ => "enrollment requires HTTP Basic credentials entity_id:otp",
                }
                .into(),
            ));
        }
        let csr_der = wire::decode_body(body).map_err(|e| EstError::BadRequest(e.to_string()))?;
        let certificates = &self.services.certificates;
        let mut req = IssueRequest {
            issuer_id: ca.record.id.clone(),
            csr: csr_der,
            validity_days: None,
            profile: self.profile_for(&ca)?,
        };
        let checked = certificates.check_issue(&req)?;
        let actor = match &creds {
            Credentials::Otp { entity, otp } => {
                if !csr_names_entity(&checked.csr, entity) {
                    self.services
                        .metrics()
                        .est_otp_failures
                        .with_label_values(&["name_mismatch"])
                        .inc();
                    return Err(EstError::BadRequest(format!(
                        "the CSR's subject CN or a SAN must equal the entity id {entity:?}"
                    )));
                }
                let actor = Actor {
                    id: format!("est:{entity}"),
                    actor_type: "Agent",
                    source: source.to_string(),
                };
                self.use_otp(&ca, op, entity, otp, &actor)?;
                actor
            }
            Credentials::ClientCert(der) => {
                let (current, subject) = self.check_client_cert(&ca, op, der, source)?;
                if !keeps_identity(&checked.csr, &subject, &current.sans) {
                    return Err(EstError::BadRequest(format!(
                        "re-enrollment keeps the subject and subjectAltName of the current \
                         certificate ({}; {}): the CSR has different ones",
                        current.subject,
                        current.sans.join(", ")
                    )));
                }
                Actor {
                    id: format!("mtls:{}", current.subject),
                    actor_type: "Agent",
                    source: source.to_string(),
                }
            }
            Credentials::None => unreachable!("answered before the CSR check"),
        };
        let meta = Some(CertMeta { enrollment: op });
        with_actor(actor, || {
            if op != Enrollment::ServerKeygen {
                return Ok(Issued {
                    cert: certificates.issue_checked(checked, meta)?,
                    pkcs8: None,
                });
            }
            let generated = keygen::generate_for(&req.csr)
                .map_err(|e| EstError::Internal(format!("serverkeygen: {e}")))?;
            req.csr = generated.csr_der;
            let checked = certificates.check_issue(&req)?;
            Ok(Issued {
                cert: certificates.issue_checked(checked, meta)?,
                pkcs8: Some(generated.pkcs8),
            })
        })
    }
}
