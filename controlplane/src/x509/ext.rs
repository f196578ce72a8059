//! Certificate extensions (RFC 5280 §4.2) as Sigil writes them.

use const_oid::db::rfc5280;
use const_oid::{AssociatedOid, ObjectIdentifier};
use der::asn1::{Ia5String, OctetString};
use der::Encode;
use x509_cert::ext::pkix::crl::dp::DistributionPoint;
use x509_cert::ext::pkix::name::{DistributionPointName, GeneralName};
use x509_cert::ext::pkix::{
    AccessDescription, AuthorityInfoAccessSyntax, AuthorityKeyIdentifier, BasicConstraints,
    CrlDistributionPoints, ExtendedKeyUsage, KeyUsage, KeyUsages, SubjectAltName,
    SubjectKeyIdentifier,
};
use x509_cert::ext::Extension;

/// id-pkix-ocsp-nocheck (RFC 6960 §4.2.2.2.1).
pub const OID_OCSP_NOCHECK: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.48.1.5");

fn ext<T: Encode + AssociatedOid>(value: &T, critical: bool) -> Result<Extension, der::Error> {
    Ok(Extension {
        extn_id: T::OID,
        critical,
        extn_value: OctetString::new(value.to_der()?)?,
    })
}

/// basicConstraints, critical (§4.2.1.9).
pub fn basic_constraints(ca: bool, path_len: Option<u8>) -> Result<Extension, der::Error> {
    ext(
        &BasicConstraints {
            ca,
            path_len_constraint: path_len,
        },
        true,
    )
}

/// keyUsage, critical (§4.2.1.3), from RFC names.
pub fn key_usage(names: &[&str]) -> Result<Extension, der::Error> {
    let mut flags = flagset::FlagSet::<KeyUsages>::default();
    for n in names {
        flags |= match *n {
            "digitalSignature" => KeyUsages::DigitalSignature,
            "nonRepudiation" => KeyUsages::NonRepudiation,
            "keyEncipherment" => KeyUsages::KeyEncipherment,
            "dataEncipherment" => KeyUsages::DataEncipherment,
            "keyAgreement" => KeyUsages::KeyAgreement,
            "keyCertSign" => KeyUsages::KeyCertSign,
            "cRLSign" => KeyUsages::CRLSign,
            "encipherOnly" => KeyUsages::EncipherOnly,
            "decipherOnly" => KeyUsages::DecipherOnly,
            _ => continue, // names are validated with the config
        };
    }
    ext(&KeyUsage(flags), true)
}

/// extKeyUsage (§4.2.1.12), from names.
pub fn extended_key_usage(names: &[&str]) -> Result<Extension, der::Error> {
    let oids = names
        .iter()
        .filter_map(|n| match *n {
            "serverAuth" => Some(rfc5280::ID_KP_SERVER_AUTH),
            "clientAuth" => Some(rfc5280::ID_KP_CLIENT_AUTH),
            "codeSigning" => Some(rfc5280::ID_KP_CODE_SIGNING),
            "emailProtection" => Some(rfc5280::ID_KP_EMAIL_PROTECTION),
            "timeStamping" => Some(rfc5280::ID_KP_TIME_STAMPING),
            "ocspSigning" => Some(rfc5280::ID_KP_OCSP_SIGNING),
            _ => None,
        })
        .collect();
    ext(&ExtendedKeyUsage(oids), false)
}

/// subjectKeyIdentifier (§4.2.1.2).
pub fn subject_key_id(key_id: &[u8]) -> Result<Extension, der::Error> {
    ext(&SubjectKeyIdentifier(OctetString::new(key_id)?), false)
}

/// authorityKeyIdentifier with keyIdentifier only (§4.2.1.1).
pub fn authority_key_id(key_id: &[u8]) -> Result<Extension, der::Error> {
    ext(
        &AuthorityKeyIdentifier {
            key_identifier: Some(OctetString::new(key_id)?),
            authority_cert_issuer: None,
            authority_cert_serial_number: None,
        },
        false,
    )
}

/// subjectAltName (§4.2.1.6); critical when the subject is empty.
pub fn subject_alt_name(
    names: Vec<GeneralName>,
    subject_empty: bool,
) -> Result<Extension, der::Error> {
    ext(&SubjectAltName(names), subject_empty)
}

fn uri(s: &str) -> Result<GeneralName, der::Error> {
    Ok(GeneralName::UniformResourceIdentifier(Ia5String::new(s)?))
}

/// authorityInfoAccess with OCSP and CA Issuers (§4.2.2.1).
pub fn authority_info_access(
    ocsp_url: &str,
    ca_issuers_url: &str,
) -> Result<Extension, der::Error> {
    ext(
        &AuthorityInfoAccessSyntax(vec![
            AccessDescription {
                access_method: rfc5280::ID_AD_OCSP,
                access_location: uri(ocsp_url)?,
            },
            AccessDescription {
                access_method: rfc5280::ID_AD_CA_ISSUERS,
                access_location: uri(ca_issuers_url)?,
            },
        ]),
        false,
    )
}

/// cRLDistributionPoints with one full-name URI (§4.2.1.13).
pub fn crl_distribution_point(url: &str) -> Result<Extension, der::Error> {
    ext(
        &CrlDistributionPoints(vec![DistributionPoint {
            distribution_point: Some(DistributionPointName::FullName(vec![uri(url)?])),
            reasons: None,
            crl_issuer: None,
        }]),
        false,
    )
}

/// Freshest CRL (RFC 5280 §4.2.1.15, §5.2.6), non-critical: where the delta CRL is.
pub fn freshest_crl(url: &str) -> Result<Extension, der::Error> {
    ext(
        &x509_cert::ext::pkix::crl::FreshestCrl(vec![DistributionPoint {
            distribution_point: Some(DistributionPointName::FullName(vec![uri(url)?])),
            reasons: None,
            crl_issuer: None,
        }]),
        false,
    )
}

/// Issuing Distribution Point (RFC 5280 §5.2.5), critical: the CRL covers the end-entity
/// certificates whose distribution point is `url`.
pub fn issuing_distribution_point(url: &str) -> Result<Extension, der::Error> {
    let idp = x509_cert::ext::pkix::crl::dp::IssuingDistributionPoint {
        distribution_point: Some(DistributionPointName::FullName(vec![uri(url)?])),
        only_contains_user_certs: true,
        only_contains_ca_certs: false,
        only_some_reasons: None,
        indirect_crl: false,
        only_contains_attribute_certs: false,
    };
    // Not `ext`: x509-cert 0.2 gives this type the subjectInfoAccess OID; the extension is
    // id-ce-issuingDistributionPoint (2.5.29.28).
    Ok(Extension {
        extn_id: rfc5280::ID_CE_ISSUING_DISTRIBUTION_POINT,
        critical: true,
        extn_value: OctetString::new(idp.to_der()?)?,
    })
}

/// Delta CRL Indicator (RFC 5280 §5.2.4), critical: the number of the base CRL.
pub fn delta_crl_indicator(base: u64) -> Result<Extension, der::Error> {
    ext(
        &x509_cert::ext::pkix::crl::BaseCrlNumber(der::asn1::Uint::new(&base.to_be_bytes())?),
        true,
    )
}

/// id-pkix-ocsp-nocheck with a NULL value (`05 00`), RFC 6960 §4.2.2.2.1.
pub fn ocsp_nocheck() -> Result<Extension, der::Error> {
    Ok(Extension {
        extn_id: OID_OCSP_NOCHECK,
        critical: false,
        extn_value: OctetString::new(vec![0x05, 0x00])?,
    })
}
