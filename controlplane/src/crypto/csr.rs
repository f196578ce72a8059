//! PKCS#10 certification requests (RFC 2986): decoding (PEM or DER) and signature check.

use aws_lc_rs::signature::{self, UnparsedPublicKey, VerificationAlgorithm};
use const_oid::db::{rfc5912, rfc8410};
use der::{Decode, Encode};
use thiserror::Error;
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::ext::pkix::SubjectAltName;
use x509_cert::name::Name;
use x509_cert::request::{CertReq, ExtensionReq};

#[derive(Debug, Error)]
pub enum CsrError {
    #[error("CSR is neither PEM nor DER PKCS#10: {0}")]
    Decode(String),
    #[error("CSR signature algorithm {0} is not supported")]
    UnsupportedAlgorithm(String),
    #[error("CSR public key is not supported: {0}")]
    UnsupportedKey(String),
    #[error("CSR signature does not verify")]
    BadSignature,
    #[error("CSR extension request is malformed: {0}")]
    BadExtensions(String),
}

/// A CSR whose signature verified.
#[derive(Debug, Clone)]
pub struct VerifiedCsr {
    pub subject: Name,
    /// DER SubjectPublicKeyInfo.
    pub spki_der: Vec<u8>,
    /// Subject alternative names requested through the extensionRequest attribute.
    pub sans: Vec<GeneralName>,
    /// Whether the key is RSA (decides keyEncipherment).
    pub rsa_key: bool,
}

/// Decodes and verifies a CSR given as PEM text or raw DER.
pub fn verify_csr(input: &[u8]) -> Result<VerifiedCsr, CsrError> {
    let trimmed = input.trim_ascii();
    let req = if trimmed.starts_with(b"-----BEGIN") {
        crate::x509::decode_pem::<CertReq>(trimmed).map_err(|e| CsrError::Decode(e.to_string()))?
    } else {
        // DER is binary: never trimmed (a signature may end in a whitespace-valued byte).
        CertReq::from_der(input).map_err(|e| CsrError::Decode(e.to_string()))?
    };
    let info_der = req
        .info
        .to_der()
        .map_err(|e| CsrError::Decode(e.to_string()))?;
    let spki = &req.info.public_key;
    let spki_der = spki.to_der().map_err(|e| CsrError::Decode(e.to_string()))?;
    let key = spki
        .subject_public_key
        .as_bytes()
        .ok_or_else(|| CsrError::UnsupportedKey("unaligned key bits".into()))?;
    let curve = spki
        .algorithm
        .parameters
        .as_ref()
        .and_then(|p| p.decode_as::<const_oid::ObjectIdentifier>().ok());
    let key_oid = spki.algorithm.oid;
    let sig_oid = req.algorithm.oid;

    let alg: &'static dyn VerificationAlgorithm = if key_oid == rfc5912::ID_EC_PUBLIC_KEY {
        match (curve, sig_oid) {
            (Some(c), s) if c == rfc5912::SECP_256_R_1 && s == rfc5912::ECDSA_WITH_SHA_256 => {
                &signature::ECDSA_P256_SHA256_ASN1
            }
            (Some(c), s) if c == rfc5912::SECP_256_R_1 && s == rfc5912::ECDSA_WITH_SHA_384 => {
                &signature::ECDSA_P256_SHA384_ASN1
            }
            (Some(c), s) if c == rfc5912::SECP_384_R_1 && s == rfc5912::ECDSA_WITH_SHA_384 => {
                &signature::ECDSA_P384_SHA384_ASN1
            }
            (Some(c), s) if c == rfc5912::SECP_384_R_1 && s == rfc5912::ECDSA_WITH_SHA_256 => {
                &signature::ECDSA_P384_SHA256_ASN1
            }
            (Some(c), _) if c != rfc5912::SECP_256_R_1 && c != rfc5912::SECP_384_R_1 => {
                return Err(CsrError::UnsupportedKey(format!("EC curve {c}")))
            }
            _ => return Err(CsrError::UnsupportedAlgorithm(sig_oid.to_string())),
        }
    } else if key_oid == rfc5912::RSA_ENCRYPTION {
        match sig_oid {
            s if s == rfc5912::SHA_256_WITH_RSA_ENCRYPTION => {
                &signature::RSA_PKCS1_2048_8192_SHA256
            }
            s if s == rfc5912::SHA_384_WITH_RSA_ENCRYPTION => {
                &signature::RSA_PKCS1_2048_8192_SHA384
            }
            s if s == rfc5912::SHA_512_WITH_RSA_ENCRYPTION => {
                &signature::RSA_PKCS1_2048_8192_SHA512
            }
            s => return Err(CsrError::UnsupportedAlgorithm(s.to_string())),
        }
    } else if key_oid == rfc8410::ID_ED_25519 {
        if sig_oid != rfc8410::ID_ED_25519 {
            return Err(CsrError::UnsupportedAlgorithm(sig_oid.to_string()));
        }
        &signature::ED25519
    } else {
        return Err(CsrError::UnsupportedKey(key_oid.to_string()));
    };
    let sig = req.signature.as_bytes().ok_or(CsrError::BadSignature)?;
    UnparsedPublicKey::new(alg, key)
        .verify(&info_der, sig)
        .map_err(|_| CsrError::BadSignature)?;

    let mut sans = Vec::new();
    for attr in req.info.attributes.iter() {
        if attr.oid != const_oid::db::rfc5912::ID_EXTENSION_REQ {
            continue;
        }
        for value in attr.values.iter() {
            let ext_req: ExtensionReq = value
                .decode_as()
                .map_err(|e| CsrError::BadExtensions(e.to_string()))?;
            for ext in ext_req.0 {
                if ext.extn_id == const_oid::db::rfc5280::ID_CE_SUBJECT_ALT_NAME {
                    let san = SubjectAltName::from_der(ext.extn_value.as_bytes())
                        .map_err(|e| CsrError::BadExtensions(e.to_string()))?;
                    sans.extend(san.0);
                }
            }
        }
    }
    Ok(VerifiedCsr {
        subject: req.info.subject.clone(),
        spki_der,
        sans,
        rsa_key: key_oid == rfc5912::RSA_ENCRYPTION,
    })
}
