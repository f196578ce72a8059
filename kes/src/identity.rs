//! Who a KES client is: the lowercase hex SHA-256 of its certificate's SubjectPublicKeyInfo
//! DER (minio/kes `auth.go`, `identifyRequest`). Certificates are not otherwise checked (KES
//! clients present self-signed certificates); the listener decides whether to verify chains.

use sigil_shared::der::{self, DerError, Reader, TAG_INTEGER, TAG_SEQUENCE};

/// A client identity (64 lowercase hex digits).
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub struct Identity(String);

impl Identity {
    /// The identity of a public key, from its SubjectPublicKeyInfo DER (the whole TLV).
    pub fn of_spki(spki_der: &[u8]) -> Self {
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, spki_der);
        Self(hex::encode(digest.as_ref()))
    }

    /// The identity of a DER certificate's public key.
    pub fn of_certificate(cert_der: &[u8]) -> Result<Self, DerError> {
        Ok(Self::of_spki(spki_of(cert_der)?))
    }

    /// An identity as an operator or client writes it (any case): 64 hex digits, lowercased;
    /// `None` for anything else.
    pub fn parse(s: &str) -> Option<Self> {
        (s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit()))
            .then(|| Self(s.to_ascii_lowercase()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// The SubjectPublicKeyInfo TLV of a certificate (RFC 5280 §4.1):
///
/// ```text
/// Certificate  ::=  SEQUENCE  { tbsCertificate  TBSCertificate, … }
/// TBSCertificate  ::=  SEQUENCE  {
///      version         [0]  EXPLICIT Version DEFAULT v1,
///      serialNumber         CertificateSerialNumber,
///      signature            AlgorithmIdentifier,
///      issuer               Name,
///      validity             Validity,
///      subject              Name,
///      subjectPublicKeyInfo SubjectPublicKeyInfo, … }
/// ```
fn spki_of(cert_der: &[u8]) -> Result<&[u8], DerError> {
    let cert = der::read_single(cert_der, TAG_SEQUENCE)?;
    let tbs = Reader::new(cert.value).read(TAG_SEQUENCE)?;
    let mut t = Reader::new(tbs.value);
    t.read_optional(der::ctx_cons(0))?;
    t.read(TAG_INTEGER)?;
    for _ in 0..4 {
        t.read(TAG_SEQUENCE)?; // signature, issuer, validity, subject
    }
    Ok(t.read(TAG_SEQUENCE)?.raw)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identities_are_hex_sha256_of_the_spki() {
        let id = Identity::of_spki(b"");
        assert_eq!(
            id.as_str(),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(Identity::parse(&id.as_str().to_uppercase()), Some(id));
        assert_eq!(Identity::parse("abc"), None);
        assert_eq!(Identity::parse(&"g".repeat(64)), None);
        assert!(Identity::of_certificate(b"\x30\x00").is_err());
    }

    #[test]
    fn a_certificates_identity_is_the_hash_of_its_whole_spki() {
        use ::der::{Decode, Encode};
        use base64::Engine;
        // A client certificate of the data plane's TLS tests; RustCrypto finds its SPKI.
        let pem = include_str!("../../dataplane/src/tls/testdata/client.pem");
        let b64: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
        let cert_der = base64::engine::general_purpose::STANDARD
            .decode(b64)
            .unwrap();
        let cert = x509_cert::Certificate::from_der(&cert_der).unwrap();
        let spki = cert
            .tbs_certificate
            .subject_public_key_info
            .to_der()
            .unwrap();
        assert_eq!(
            Identity::of_certificate(&cert_der).unwrap(),
            Identity::of_spki(&spki)
        );
        assert_ne!(
            Identity::of_certificate(&cert_der).unwrap(),
            Identity::of_spki(b"")
        );
    }
}
