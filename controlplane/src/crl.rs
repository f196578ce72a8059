//! CRL generation (RFC 5280 §5), sans-io: v2 CRLs signed with the CA key — complete, for one
//! shard ([`scope`]: Issuing Distribution Point) and delta CRLs ([`delta`]). Stored and
//! replicated by the issuers service (`services::issuers::crl`), scheduled by the CRL job
//! (`jobs::crl_schedule`).

pub mod delta;
pub mod scope;

use der::asn1::{OctetString, Uint};
use der::{Decode, Encode};
use sigil_shared::ocsp::RevocationReason;
use x509_cert::crl::{CertificateList, RevokedCert, TbsCertList};
use x509_cert::ext::pkix::CrlNumber;
use x509_cert::ext::Extension;
use x509_cert::serial_number::SerialNumber;
use x509_cert::spki::AlgorithmIdentifierOwned;

use crate::ca::CaRuntime;
use crate::x509::{self, PkiError};

/// One revoked certificate as listed in a CRL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevokedEntry {
    pub serial: Vec<u8>,
    pub time: i64,
    pub reason: RevocationReason,
    /// A delta CRL's removeFromCRL (reason code 8, §5.3.1): listed on hold by the base CRL,
    /// released since.
    pub remove: bool,
}

/// What a CRL is besides its entries.
#[derive(Debug, Clone, Default)]
pub struct CrlSpec<'a> {
    pub number: u64,
    pub this_update: i64,
    pub next_update: i64,
    /// A shard's URL: a critical Issuing Distribution Point naming it (§5.2.5).
    pub idp: Option<&'a str>,
    /// The delta CRL's URL, for complete CRLs when deltas are published (§5.2.6).
    pub freshest: Option<&'a str>,
    /// A delta CRL of the base CRL with this number (§5.2.4).
    pub delta_of: Option<u64>,
}

/// Builds and signs a CRL:
/// ```text
/// TBSCertList  ::=  SEQUENCE  {
///      version                 Version OPTIONAL, -- v2
///      signature               AlgorithmIdentifier,
///      issuer                  Name,
///      thisUpdate              Time,
///      nextUpdate              Time OPTIONAL,
///      revokedCertificates     SEQUENCE OF SEQUENCE  {
///           userCertificate         CertificateSerialNumber,
///           revocationDate          Time,
///           crlEntryExtensions      Extensions OPTIONAL } OPTIONAL,
///      crlExtensions           [0] Extensions OPTIONAL }
/// ```
/// with authorityKeyIdentifier (§5.2.1), cRLNumber (§5.2.3) and per-entry reasonCode
/// (§5.3.1, omitted for `unspecified`).
/// The [`CrlSpec`] adds a shard's IDP, the Freshest CRL pointer or a delta CRL's indicator.
pub fn build(
    ca: &CaRuntime,
    spec: &CrlSpec<'_>,
    revoked: &[RevokedEntry],
) -> Result<Vec<u8>, PkiError> {
    let (number, this_update, next_update) = (spec.number, spec.this_update, spec.next_update);
    let sig_alg = AlgorithmIdentifierOwned::from_der(ca.signer.signature_algorithm_der())?;
    let entries = revoked
        .iter()
        .map(|r| {
            let code = if r.remove { 8 } else { r.reason.code() };
            let crl_entry_extensions = if code == 0 {
                None
            } else {
                Some(vec![Extension {
                    extn_id: const_oid::db::rfc5280::ID_CE_CRL_REASONS,
                    critical: false,
                    extn_value: OctetString::new(vec![0x0a, 0x01, code])?,
                }])
            };
            Ok(RevokedCert {
                serial_number: SerialNumber::new(&r.serial)?,
                revocation_date: x509::x509_time(r.time)?,
                crl_entry_extensions,
            })
        })
        .collect::<Result<Vec<_>, der::Error>>()?;
    let number_ext = Extension {
        extn_id: const_oid::db::rfc5280::ID_CE_CRL_NUMBER,
        critical: false,
        extn_value: OctetString::new(CrlNumber(Uint::new(&number.to_be_bytes())?).to_der()?)?,
    };
    let tbs = TbsCertList {
        version: x509_cert::Version::V2,
        signature: sig_alg.clone(),
        issuer: ca.subject.clone(),
        this_update: x509::x509_time(this_update)?,
        next_update: Some(x509::x509_time(next_update)?),
        revoked_certificates: if entries.is_empty() {
            None
        } else {
            Some(entries)
        },
        crl_extensions: Some({
            let mut exts = vec![x509::authority_key_id(&ca.record.key_id)?, number_ext];
            if let Some(url) = spec.idp {
                exts.push(x509::issuing_distribution_point(url)?);
            }
            if let Some(url) = spec.freshest {
                exts.push(x509::freshest_crl(url)?);
            }
            if let Some(base) = spec.delta_of {
                exts.push(x509::delta_crl_indicator(base)?);
            }
            exts
        }),
    };
    let tbs_der = tbs.to_der()?;
    let sig = ca.signer.sign(&tbs_der)?;
    let crl = CertificateList {
        tbs_cert_list: tbs,
        signature_algorithm: sig_alg,
        signature: der::asn1::BitString::from_bytes(&sig)?,
    };
    Ok(crl.to_der()?)
}
