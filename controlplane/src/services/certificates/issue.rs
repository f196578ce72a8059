//! Issuing end-entity certificates from PKCS#10 requests.

use std::sync::Arc;

use sigil_shared::ocsp::key_id_of_spki;
use sigil_shared::time::now_unix;
use sigil_storage::WriteBatch;
use x509_cert::ext::pkix::name::GeneralName;

use super::{CertError, Certificates, Result};
use crate::ca::CaRuntime;
use crate::config::{Profile, SanType};
use crate::crl::scope::Scope;
use crate::crypto::{verify_csr, VerifiedCsr};
use crate::db::{cf, due_key, encode, serial_key, CertMeta, CertRecord, CertState};
use crate::ocsp::sign_responses;
use crate::services::context::Commit;
use crate::services::error::Internal;
use crate::services::issuers::IssuerError;
use crate::x509::{self, CertSpec};

#[derive(Debug, Clone)]
pub struct IssueRequest {
    pub issuer_id: String,
    /// PEM or DER PKCS#10.
    pub csr: Vec<u8>,
    pub validity_days: Option<u32>,
    pub profile: Option<String>,
}

fn san_type(n: &GeneralName) -> Option<SanType> {
    match n {
        GeneralName::DnsName(_) => Some(SanType::Dns),
        GeneralName::IpAddress(_) => Some(SanType::Ip),
        GeneralName::Rfc822Name(_) => Some(SanType::Email),
        GeneralName::UniformResourceIdentifier(_) => Some(SanType::Uri),
        _ => None,
    }
}

/// `DNS:name`, `IP:addr`, `email:x`, `URI:x`: how SANs are shown and stored.
pub fn san_string(n: &GeneralName) -> String {
    match n {
        GeneralName::DnsName(s) => format!("DNS:{}", s.as_str()),
        GeneralName::Rfc822Name(s) => format!("email:{}", s.as_str()),
        GeneralName::UniformResourceIdentifier(s) => format!("URI:{}", s.as_str()),
        GeneralName::IpAddress(o) => match o.as_bytes() {
            [a, b, c, d] => format!("IP:{a}.{b}.{c}.{d}"),
            b if b.len() == 16 => {
                let arr: [u8; 16] = b.try_into().expect("length checked");
                format!("IP:{}", std::net::Ipv6Addr::from(arr))
            }
            _ => "IP:invalid".into(),
        },
        other => format!("{other:?}"),
    }
}

fn check_sans(profile_name: &str, profile: &Profile, sans: &[GeneralName]) -> Result<()> {
    for n in sans {
        match san_type(n) {
            Some(t) if profile.allowed_san_types.contains(&t) => {
                if let GeneralName::IpAddress(o) = n {
                    if o.as_bytes().len() != 4 && o.as_bytes().len() != 16 {
                        return Err(CertError::MalformedIpSan);
                    }
                }
            }
            _ => {
                return Err(CertError::SanNotAllowed {
                    san: san_string(n),
                    profile: profile_name.into(),
                })
            }
        }
    }
    if profile.require_san && sans.is_empty() {
        return Err(CertError::SanRequired {
            profile: profile_name.into(),
        });
    }
    Ok(())
}

/// An issuance request that passed every check that needs no signature: CSR signature,
/// profile, validity, SANs, issuer not expired ([`Certificates::check_issue`]).
#[derive(Debug, Clone)]
pub struct CheckedIssue {
    pub ca: Arc<CaRuntime>,
    pub csr: VerifiedCsr,
    pub profile_name: String,
    pub profile: Profile,
    pub days: u32,
    /// The profile the request named (audited as given).
    pub requested_profile: Option<String>,
}

impl Certificates {
    /// Verifies the CSR, applies the profile, signs the certificate and its OCSP responses and
    /// commits everything (synced) before returning.
    pub fn issue(&self, req: IssueRequest) -> Result<CertRecord> {
        let checked = self.check_issue(&req)?;
        self.issue_checked(checked, None)
    }

    /// Every check of [`Certificates::issue`] that happens before signing, so that a caller
    /// can refuse a request before spending anything on it (EST: before using an OTP).
    pub fn check_issue(&self, req: &IssueRequest) -> Result<CheckedIssue> {
        self.issuers.ca(&req.issuer_id)?; // an unknown issuer before a bad CSR
        let csr = verify_csr(&req.csr)?;
        self.check_verified(req, csr)
    }

    /// [`Certificates::check_issue`] for a request whose key and names are already known
    /// (`req.csr` is not read): a CSR verified by the caller, or the names of a certificate
    /// being renewed with its key.
    pub(super) fn check_verified(
        &self,
        req: &IssueRequest,
        csr: VerifiedCsr,
    ) -> Result<CheckedIssue> {
        let ca = self.issuers.ca(&req.issuer_id)?;
        // Disabled issuer, allowed profiles, validity cap.
        let req = &self.issuers.apply_issuer_policy(req)?;
        let profile_name = req.profile.as_deref().unwrap_or("default");
        let profile = self
            .profile(profile_name)?
            .ok_or_else(|| CertError::UnknownProfile {
                name: profile_name.into(),
            })?;
        if !profile.enabled {
            return Err(CertError::ProfileDisabled {
                name: profile_name.into(),
            });
        }
        if let Some(why) = crate::services::profiles::rules::refusal(&profile, &csr) {
            return Err(CertError::ProfileRefused {
                profile: profile_name.into(),
                why,
            });
        }
        let days = req.validity_days.unwrap_or(profile.validity_days);
        if days == 0 || days > profile.max_validity_days {
            return Err(CertError::InvalidValidity {
                max: profile.max_validity_days,
                profile: profile_name.into(),
            });
        }
        check_sans(profile_name, &profile, &csr.sans)?;
        if csr.subject.0.is_empty() && csr.sans.is_empty() {
            return Err(CertError::NoSubjectOrSan);
        }
        if ca.record.not_after <= now_unix() {
            return Err(expired(&ca));
        }
        Ok(CheckedIssue {
            ca,
            csr,
            profile_name: profile_name.to_string(),
            profile,
            days,
            requested_profile: req.profile.clone(),
        })
    }

    /// Signs a checked request and commits the certificate, its OCSP responses and `meta`
    /// (if any, in `cert_meta`) in one synced, audited batch.
    pub fn issue_checked(&self, c: CheckedIssue, meta: Option<CertMeta>) -> Result<CertRecord> {
        self.issue_linked(c, meta, None, None)
    }

    /// [`Certificates::issue_checked`] with `attach`'s record written in the same batch,
    /// fenced on its key still holding what the caller read (e.g. a pending SCEP request
    /// becoming approved: two nodes approving it never both issue).
    pub(crate) fn issue_attached(
        &self,
        c: CheckedIssue,
        meta: Option<CertMeta>,
        attach: &Attach<'_>,
    ) -> Result<CertRecord> {
        self.issue_linked(c, meta, None, Some(attach))
    }

    /// [`Certificates::issue_checked`], as the renewal of `renewal.old` when given: both ends
    /// of the chain (`cert_lineage`) in the same batch, fenced on the old end as read.
    pub(super) fn issue_linked(
        &self,
        c: CheckedIssue,
        meta: Option<CertMeta>,
        renewal: Option<&super::renew::Link>,
        attach: Option<&Attach<'_>>,
    ) -> Result<CertRecord> {
        let CheckedIssue {
            ca,
            csr,
            profile_name,
            profile,
            days,
            requested_profile,
        } = c;
        // Until committed: a disable waits. The settings name the CRL shards.
        let (_issuing, settings) = self.issuers.issuing_with_settings(&ca.record.id)?;
        let profile_name = profile_name.as_str();
        let now = now_unix();
        if ca.record.not_after <= now {
            return Err(expired(&ca));
        }
        let not_before = now - 60;
        let not_after = (now + i64::from(days) * 86_400).min(ca.record.not_after);

        let mut ku: Vec<&str> = profile.key_usage.iter().map(String::as_str).collect();
        if !csr.rsa_key {
            ku.retain(|u| *u != "keyEncipherment"); // only meaningful for RSA key transport
        }
        let eku: Vec<&str> = profile
            .extended_key_usage
            .iter()
            .map(String::as_str)
            .collect();
        let base = self.issuers.distribution_base();
        let id = &ca.record.id;
        let key_id = key_id_of_spki(&csr.spki_der).map_err(CertError::InvalidCsrKey)?;
        let mut extensions = vec![
            x509::basic_constraints(false, None)?,
            x509::key_usage(&ku)?,
            x509::subject_key_id(&key_id)?,
            x509::authority_key_id(&ca.record.key_id)?,
            x509::authority_info_access(&format!("{base}/ocsp"), &format!("{base}/ca/{id}.cer"))?,
        ];
        if !eku.is_empty() {
            extensions.push(x509::extended_key_usage(&eku)?);
        }
        if !csr.sans.is_empty() {
            extensions.push(x509::subject_alt_name(
                csr.sans.clone(),
                csr.subject.0.is_empty(),
            )?);
        }

        // Serial numbers are unique across all issuers (the certificate id is the serial): the
        // commit below is written only if the serial is still free (`expect_absent`, checked
        // atomically with the write), so no read is needed first. A collision of two random
        // 159-bit serials fails the request rather than overwriting a certificate.
        let serial = x509::random_serial();
        // The CRL that lists it if revoked: its issuer's shard, and that scope's delta CRL.
        let scope = Scope::of(&serial, settings.crl_shards.unwrap_or(1));
        extensions.push(x509::crl_distribution_point(&scope.url(base, id))?);
        if self.cx.settings().crl.delta_every_secs().is_some() {
            extensions.push(x509::freshest_crl(&scope.delta_url(base, id))?);
        }
        let spec = CertSpec {
            serial: serial.clone(),
            issuer: ca.subject.clone(),
            subject: csr.subject.clone(),
            spki_der: csr.spki_der.clone(),
            not_before,
            not_after,
            extensions,
        };
        let der = x509::sign_certificate(&spec, ca.signer.as_ref())?;
        let validity = self.ocsp_validity_secs();
        let responder = self.issuers.responder_for(&ca, now + validity, now)?;
        let entries = sign_responses(
            &ca,
            &responder,
            &serial,
            CertState::Active,
            now,
            validity,
            self.hash_algorithms(),
        )?;
        let due = self.due_at(now);
        let record = CertRecord {
            id: hex::encode(&serial),
            issuer_id: id.clone(),
            serial: serial.clone(),
            der,
            subject: csr.subject.to_string(),
            sans: csr.sans.iter().map(san_string).collect(),
            profile: profile_name.to_string(),
            not_before,
            not_after,
            created_at: now,
            state: CertState::Active,
            ocsp_due_at: due,
        };
        let mut batch = WriteBatch::new();
        batch.put(cf::CERTS, serial_key(id, &serial), encode(&record)?);
        batch.put(cf::CERT_IDS, serial.clone(), id.as_bytes().to_vec());
        batch.put(cf::OCSP_DUE, due_key(due, id, &serial), Vec::new());
        let mut details = serde_json::json!({"issuer_id": id, "subject": record.subject, "profile": requested_profile});
        if let Some(m) = &meta {
            batch.put(cf::CERT_META, serial.clone(), encode(m)?);
            details["enrollment_type"] = m.enrollment.as_str().into();
        }
        let mut changes = Vec::with_capacity(entries.len());
        self.stage_responses(&mut batch, id, entries, &mut changes)?;
        let mut commit = Commit::new(batch).expect_absent(cf::CERT_IDS, serial.clone());
        let mut action = "certificate.issue";
        if let Some(link) = renewal {
            commit = link.stage(commit, &record, &mut details)?;
            action = "certificate.renew";
        }
        if let Some(a) = attach {
            let mut extra = WriteBatch::new();
            extra.put(a.cf, a.key.clone(), (a.value)(&record)?);
            commit = commit
                .append(extra)
                .expect_value(a.cf, a.key.clone(), a.expect.clone());
            details[a.detail.0] = a.detail.1.clone();
        }
        self.cx.commit(
            commit
                .replicate(changes)
                .audit((action, "certificate", &record.id), details),
        )?;
        self.cx.metrics().issued.with_label_values(&[id]).inc();
        tracing::info!(issuer = %id, serial = %record.id, subject = %record.subject, "issued certificate");
        Ok(record)
    }
}

/// A record written with an issuance ([`Certificates::issue_attached`]): `value` of the new
/// certificate at `cf`/`key`, which must still hold `expect`; `detail` added to the audit
/// record's details.
pub(crate) struct Attach<'a> {
    pub cf: &'static str,
    pub key: Vec<u8>,
    pub expect: Option<Vec<u8>>,
    pub value: &'a dyn Fn(&CertRecord) -> std::result::Result<Vec<u8>, Internal>,
    pub detail: (&'static str, serde_json::Value),
}

fn expired(ca: &CaRuntime) -> CertError {
    IssuerError::Expired {
        id: ca.record.id.clone(),
    }
    .into()
}
