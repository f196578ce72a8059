//! Building and signing X.509 certificates (RFC 5280) through a [`crate::crypto::Signer`].

mod ext;
pub mod pkcs12;

pub use ext::*;

use std::str::FromStr;
use std::time::Duration;

use der::asn1::{BitString, GeneralizedTime, UtcTime};
use der::{Decode, Encode};
use thiserror::Error;
use x509_cert::certificate::{Certificate, TbsCertificate, Version};
use x509_cert::ext::Extension;
use x509_cert::name::Name;
use x509_cert::serial_number::SerialNumber;
use x509_cert::spki::{AlgorithmIdentifierOwned, SubjectPublicKeyInfoOwned};
use x509_cert::time::{Time, Validity};

use crate::crypto::{SignError, Signer};

#[derive(Debug, Error)]
pub enum PkiError {
    #[error("encoding: {0}")]
    Der(#[from] der::Error),
    #[error(transparent)]
    Sign(#[from] SignError),
    #[error("malformed certificate: {0}")]
    Malformed(#[from] sigil_shared::der::DerError),
    #[error("invalid distinguished name {0:?}: use RFC 4514 form such as CN=Example CA,O=Example")]
    BadName(String),
    /// The requested key store cannot provide the key (HSM unreachable, login failed, ...).
    #[error("key_store: {0}")]
    KeyStore(String),
}

/// 2050-01-01T00:00:00Z: RFC 5280 §4.1.2.5 requires UTCTime before it, GeneralizedTime after.
const Y2050: i64 = 2_524_608_000;

/// An X.509 `Time` for a Unix instant, UTCTime or GeneralizedTime as RFC 5280 requires.
pub fn x509_time(unix: i64) -> Result<Time, der::Error> {
    let d = Duration::from_secs(unix.max(0) as u64);
    Ok(if unix < Y2050 {
        Time::UtcTime(UtcTime::from_unix_duration(d)?)
    } else {
        Time::GeneralTime(GeneralizedTime::from_unix_duration(d)?)
    })
}

pub fn unix_of(t: &Time) -> i64 {
    t.to_unix_duration().as_secs() as i64
}

/// Parses an RFC 4514 string (`CN=Example,O=Org`) into a Name.
pub fn parse_name(s: &str) -> Result<Name, PkiError> {
    let name = Name::from_str(s.trim()).map_err(|_| PkiError::BadName(s.to_string()))?;
    if name.0.is_empty() {
        return Err(PkiError::BadName(s.to_string()));
    }
    Ok(name)
}

/// A new serial number: 20 octets from the CSPRNG with the top bit cleared (positive) and
/// the first octet non-zero, i.e. 153+ bits of entropy (CA/B Forum BR 7.1 asks for ≥ 64).
pub fn random_serial() -> Vec<u8> {
    let mut s = [0u8; 20];
    loop {
        aws_lc_rs::rand::fill(&mut s).expect("system CSPRNG");
        s[0] &= 0x7f;
        if s[0] != 0 {
            return s.to_vec();
        }
    }
}

/// What goes into a certificate besides the signature.
#[derive(Debug, Clone)]
pub struct CertSpec {
    pub serial: Vec<u8>,
    pub issuer: Name,
    pub subject: Name,
    pub spki_der: Vec<u8>,
    pub not_before: i64,
    pub not_after: i64,
    pub extensions: Vec<Extension>,
}

/// Encodes the TBSCertificate, signs it and returns the DER Certificate.
pub fn sign_certificate(spec: &CertSpec, signer: &dyn Signer) -> Result<Vec<u8>, PkiError> {
    let sig_alg = AlgorithmIdentifierOwned::from_der(signer.signature_algorithm_der())?;
    let tbs = TbsCertificate {
        version: Version::V3,
        serial_number: SerialNumber::new(&spec.serial)?,
        signature: sig_alg.clone(),
        issuer: spec.issuer.clone(),
        validity: Validity {
            not_before: x509_time(spec.not_before)?,
            not_after: x509_time(spec.not_after)?,
        },
        subject: spec.subject.clone(),
        subject_public_key_info: SubjectPublicKeyInfoOwned::from_der(&spec.spki_der)?,
        issuer_unique_id: None,
        subject_unique_id: None,
        extensions: if spec.extensions.is_empty() {
            None
        } else {
            Some(spec.extensions.clone())
        },
    };
    let tbs_der = tbs.to_der()?;
    let signature = signer.sign(&tbs_der)?;
    let cert = Certificate {
        tbs_certificate: tbs,
        signature_algorithm: sig_alg,
        signature: BitString::from_bytes(&signature)?,
    };
    Ok(cert.to_der()?)
}

/// PEM text of a DER certificate.
pub fn cert_pem(der: &[u8]) -> String {
    sigil_shared::pem::certificate(der)
}

/// Decodes a certificate from PEM or DER.
pub fn decode_cert(input: &[u8]) -> Result<Certificate, der::Error> {
    // Only PEM is trimmed: DER is binary and may end in a byte that looks like whitespace.
    let t = input.trim_ascii();
    if t.starts_with(b"-----BEGIN") {
        decode_pem(t)
    } else {
        Certificate::from_der(input)
    }
}

/// A `T` from a PEM document with `T`'s label, decoded into memory first. Not der's
/// `DecodePem::from_pem`: its streaming reader (der 0.7) never returns on some malformed
/// bodies (`MIIB` then a line ending `\n\r`; found by the `csr` fuzz target), which would
/// hold a blocking thread forever per request.
/// The DER SubjectPublicKeyInfo of a DER certificate.
pub fn spki_of_cert(cert_der: &[u8]) -> der::Result<Vec<u8>> {
    Certificate::from_der(cert_der)?
        .tbs_certificate
        .subject_public_key_info
        .to_der()
}

pub fn decode_pem<T: der::DecodeOwned + der::pem::PemLabel>(text: &[u8]) -> der::Result<T> {
    let (label, der) = der::pem::decode_vec(text)?;
    T::validate_pem_label(label)?;
    T::from_der(&der)
}

#[cfg(test)]
mod tests {
    use super::*;
    use x509_cert::request::CertReq;

    /// Inputs der's streaming PEM reader looped on forever: refused, at once.
    #[test]
    fn malformed_pem_is_refused_not_looped_on() {
        for label in ["CERTIFICATE", "CERTIFICATE REQUEST"] {
            let pem = format!("-----BEGIN {label}-----\nMIIB\n\r-----END {label}-----\n");
            assert!(decode_cert(pem.as_bytes()).is_err());
            assert!(decode_pem::<CertReq>(pem.as_bytes()).is_err());
            assert!(crate::crypto::verify_csr(pem.as_bytes()).is_err());
        }
        let pem = "-----BEGIN CERTIFICATE-----\nMAA=\n-----END CERTIFICATE-----\n";
        assert!(
            decode_pem::<CertReq>(pem.as_bytes()).is_err(),
            "another label"
        );
    }
}
