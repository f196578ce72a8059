//! Issuance with a key generated here (the admin API's server-side key generation): the
//! caller names the subject and SANs instead of sending a CSR, and gets the private key once
//! (PKCS#8); it is never stored. Every check of a CSR issuance applies (profile, SAN types,
//! validity, issuer policy).

use std::net::IpAddr;

use der::asn1::{Ia5String, OctetString};
use x509_cert::ext::pkix::name::GeneralName;

use super::{CertError, CertRecord, Certificates, IssueRequest, Result};
use crate::crypto::{KeyAlgorithm, Signer, SoftwareSigner, VerifiedCsr};
use crate::services::error::Internal;

/// A request to issue with a generated key.
#[derive(Debug, Clone)]
pub struct KeygenRequest {
    pub issuer_id: String,
    /// RFC 4514 subject (`CN=host.example,O=Example`); may be empty when SANs are given.
    pub subject: String,
    /// `DNS:name`, `IP:addr`, `email:x`, `URI:x`, or a bare DNS name or IP address.
    pub sans: Vec<String>,
    pub key_algorithm: KeyAlgorithm,
    pub validity_days: Option<u32>,
    pub profile: Option<String>,
}

/// Key algorithms an end-entity key may be generated with (RSA-PSS keys are for CAs).
pub const GENERATED_KEY_ALGORITHMS: [KeyAlgorithm; 6] = [
    KeyAlgorithm::EcdsaP256,
    KeyAlgorithm::EcdsaP384,
    KeyAlgorithm::Ed25519,
    KeyAlgorithm::Rsa2048,
    KeyAlgorithm::Rsa3072,
    KeyAlgorithm::Rsa4096,
];

/// One SAN in the forms [`KeygenRequest::sans`] takes.
pub fn parse_san(s: &str) -> Result<GeneralName> {
    let bad = || CertError::BadSan(s.to_string());
    let ia5 = |v: &str| Ia5String::new(v).map_err(|_| bad());
    let (kind, value) = match s.split_once(':') {
        Some((k, v)) if ["DNS", "IP", "email", "URI"].contains(&k) => (k, v),
        _ if s.parse::<IpAddr>().is_ok() => ("IP", s),
        _ => ("DNS", s),
    };
    if value.is_empty() {
        return Err(bad());
    }
    Ok(match kind {
        "IP" => {
            let bytes = match value.parse::<IpAddr>().map_err(|_| bad())? {
                IpAddr::V4(a) => a.octets().to_vec(),
                IpAddr::V6(a) => a.octets().to_vec(),
            };
            GeneralName::IpAddress(OctetString::new(bytes).map_err(|_| bad())?)
        }
        "email" => GeneralName::Rfc822Name(ia5(value)?),
        "URI" => GeneralName::UniformResourceIdentifier(ia5(value)?),
        _ if value.contains(['/', ' ', ':']) => return Err(bad()),
        _ => GeneralName::DnsName(ia5(value)?),
    })
}

impl Certificates {
    /// Generates a key, issues a certificate for it, and returns both (see the module
    /// documentation).
    pub fn issue_with_generated_key(&self, r: &KeygenRequest) -> Result<(CertRecord, Vec<u8>)> {
        if !GENERATED_KEY_ALGORITHMS.contains(&r.key_algorithm) {
            return Err(CertError::KeyAlgorithmNotAllowed(r.key_algorithm.name()));
        }
        self.issuers.ca(&r.issuer_id)?;
        let subject = if r.subject.trim().is_empty() {
            x509_cert::name::Name::default()
        } else {
            crate::x509::parse_name(&r.subject).map_err(|e| CertError::BadSubject(e.to_string()))?
        };
        let sans = r
            .sans
            .iter()
            .map(|s| parse_san(s.trim()))
            .collect::<Result<Vec<_>>>()?;
        let req = IssueRequest {
            issuer_id: r.issuer_id.clone(),
            csr: Vec::new(),
            validity_days: r.validity_days,
            profile: r.profile.clone(),
        };
        // The names are checked before a (possibly slow, RSA) key is generated.
        let probe = VerifiedCsr {
            subject: subject.clone(),
            spki_der: Vec::new(),
            sans: sans.clone(),
            rsa_key: r.key_algorithm.is_rsa(),
        };
        self.check_verified(&req, probe)?;
        let (signer, pkcs8) = SoftwareSigner::generate(r.key_algorithm).map_err(Internal::from)?;
        let csr = VerifiedCsr {
            subject,
            spki_der: signer.public_key_der().to_vec(),
            sans,
            rsa_key: r.key_algorithm.is_rsa(),
        };
        let checked = self.check_verified(&req, csr)?;
        let meta = crate::db::CertMeta {
            enrollment: crate::db::Enrollment::Api,
        };
        let cert = self.issue_checked(checked, Some(meta))?;
        Ok((cert, pkcs8))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn san_forms() {
        let s = |v: &str| super::super::san_string(&parse_san(v).unwrap());
        assert_eq!(s("www.example.com"), "DNS:www.example.com");
        assert_eq!(s("DNS:a.example"), "DNS:a.example");
        assert_eq!(s("192.0.2.1"), "IP:192.0.2.1");
        assert_eq!(s("IP:2001:db8::1"), "IP:2001:db8::1");
        assert_eq!(s("email:a@example.com"), "email:a@example.com");
        assert_eq!(s("URI:spiffe://example/x"), "URI:spiffe://example/x");
        for bad in ["", "DNS:", "IP:300.1.1.1", "a b", "héllo"] {
            assert!(parse_san(bad).is_err(), "{bad:?}");
        }
    }
}
