//! A `pkiMessage` (RFC 8894 §3.2): a `SignedData` (RFC 5652 §5.1) with one signer whose
//! signed attributes carry the SCEP fields.
//!
//! ```text
//! ContentInfo ::= SEQUENCE { contentType id-signedData, content [0] EXPLICIT SignedData }
//! SignedData ::= SEQUENCE {
//!   version CMSVersion, digestAlgorithms DigestAlgorithmIdentifiers,
//!   encapContentInfo EncapsulatedContentInfo,     -- id-data, eContent = pkcsPKIEnvelope
//!   certificates [0] IMPLICIT CertificateSet OPTIONAL,  -- the signer's certificate
//!   crls [1] IMPLICIT RevocationInfoChoices OPTIONAL,
//!   signerInfos SignerInfos }
//! SignerInfo ::= SEQUENCE {
//!   version CMSVersion, sid SignerIdentifier, digestAlgorithm DigestAlgorithmIdentifier,
//!   signedAttrs [0] IMPLICIT SignedAttributes,     -- contentType, messageDigest,
//!                                                  -- messageType, transactionID,
//!                                                  -- senderNonce (recipientNonce,
//!                                                  -- pkiStatus, failInfo in a CertRep)
//!   signatureAlgorithm SignatureAlgorithmIdentifier, signature OCTET STRING,
//!   unsignedAttrs [1] IMPLICIT UnsignedAttributes OPTIONAL }
//! ```

use aws_lc_rs::digest;
use aws_lc_rs::signature::{self, UnparsedPublicKey, VerificationAlgorithm};
use cms::cert::CertificateChoices;
use cms::content_info::ContentInfo;
use cms::signed_data::{SignedData, SignerIdentifier};
use const_oid::ObjectIdentifier as Oid;
use der::asn1::OctetString;
use der::{Decode, Encode};
use x509_cert::Certificate;

use crate::attrs::{self, FailInfo, MessageType, PkiStatus};
use crate::{oids, Result, ScepError};

/// Largest accepted pkiMessage (DER bytes); the HTTP layer caps bodies below this.
pub const MAX_MESSAGE: usize = 256 * 1024;

/// A parsed pkiMessage; [`PkiMessage::verify`] checks its signature.
#[derive(Debug, Clone)]
pub struct PkiMessage {
    pub message_type: MessageType,
    pub transaction_id: String,
    pub sender_nonce: Vec<u8>,
    /// CertRep only.
    pub recipient_nonce: Option<Vec<u8>>,
    /// CertRep only.
    pub pki_status: Option<PkiStatus>,
    /// CertRep with FAILURE only.
    pub fail_info: Option<FailInfo>,
    /// The signer's certificate (self-signed for a first enrollment).
    pub signer: Certificate,
    /// Its DER.
    pub signer_der: Vec<u8>,
    /// The eContent octets: the `pkcsPKIEnvelope` (`ContentInfo` DER), if any.
    pub content: Option<Vec<u8>>,
    /// The digest algorithm the signer used (answers use SHA-256 regardless).
    pub digest_alg: Oid,
    signature_alg: Oid,
    signature: Vec<u8>,
    signed_attrs_der: Vec<u8>,
    message_digest: Vec<u8>,
}

impl PkiMessage {
    /// Decodes `der` (a `ContentInfo` holding a `SignedData`) and its SCEP attributes. No
    /// signature is checked yet.
    pub fn parse(der: &[u8]) -> Result<Self> {
        if der.len() > MAX_MESSAGE {
            return Err(ScepError::Malformed("message too large".into()));
        }
        let ci = ContentInfo::from_der(der)?;
        if ci.content_type != oids::SIGNED_DATA {
            return Err(ScepError::Malformed(format!(
                "content type {} is not signedData",
                ci.content_type
            )));
        }
        let sd: SignedData = ci.content.decode_as()?;
        let mut signers = sd.signer_infos.0.iter();
        let (Some(si), None) = (signers.next(), signers.next()) else {
            return Err(ScepError::Malformed(
                "a pkiMessage has exactly one signer".into(),
            ));
        };
        let certs: Vec<&Certificate> = sd
            .certificates
            .iter()
            .flat_map(|s| s.0.iter())
            .filter_map(|c| match c {
                CertificateChoices::Certificate(c) => Some(c),
                CertificateChoices::Other(_) => None,
            })
            .collect();
        let signer = match &si.sid {
            SignerIdentifier::IssuerAndSerialNumber(ias) => certs.iter().find(|c| {
                c.tbs_certificate.issuer == ias.issuer
                    && c.tbs_certificate.serial_number == ias.serial_number
            }),
            SignerIdentifier::SubjectKeyIdentifier(_) => match certs.as_slice() {
                [one] => Some(one),
                _ => None,
            },
        }
        .ok_or_else(|| {
            ScepError::Malformed("the signer's certificate is not in the message".into())
        })?;
        let Some(signed) = &si.signed_attrs else {
            return Err(ScepError::Malformed("no signed attributes".into()));
        };
        let list: Vec<_> = signed.iter().cloned().collect();
        let text = |oid: &Oid, name: &str| -> Result<Option<String>> {
            attrs::find(&list, oid)?
                .map(attrs::as_text)
                .transpose()
                .map_err(|e| ScepError::Malformed(format!("{name}: {e}")))
        };
        let octets = |oid: &Oid| -> Result<Option<Vec<u8>>> {
            attrs::find(&list, oid)?.map(attrs::as_octets).transpose()
        };
        let mt = text(&oids::SCEP_MESSAGE_TYPE, "messageType")?
            .ok_or_else(|| ScepError::Malformed("no messageType".into()))?;
        let message_type = MessageType::from_code(&mt)
            .ok_or_else(|| ScepError::Unsupported(format!("messageType {mt:?}")))?;
        let transaction_id = text(&oids::SCEP_TRANSACTION_ID, "transactionID")?
            .ok_or_else(|| ScepError::Malformed("no transactionID".into()))?;
        if transaction_id.is_empty() || transaction_id.len() > 128 {
            return Err(ScepError::Malformed(
                "transactionID must have 1 to 128 characters".into(),
            ));
        }
        let sender_nonce = octets(&oids::SCEP_SENDER_NONCE)?
            .ok_or_else(|| ScepError::Malformed("no senderNonce".into()))?;
        let recipient_nonce = octets(&oids::SCEP_RECIPIENT_NONCE)?;
        let pki_status = match text(&oids::SCEP_PKI_STATUS, "pkiStatus")? {
            Some(s) => Some(
                PkiStatus::from_code(&s)
                    .ok_or_else(|| ScepError::Malformed(format!("pkiStatus {s:?}")))?,
            ),
            None => None,
        };
        let fail_info = match text(&oids::SCEP_FAIL_INFO, "failInfo")? {
            Some(s) => Some(
                FailInfo::from_code(&s)
                    .ok_or_else(|| ScepError::Malformed(format!("failInfo {s:?}")))?,
            ),
            None => None,
        };
        let message_digest = octets(&oids::MESSAGE_DIGEST)?
            .ok_or_else(|| ScepError::Malformed("no messageDigest".into()))?;
        match attrs::find(&list, &oids::CONTENT_TYPE)? {
            Some(v) if v.decode_as::<Oid>().ok() == Some(sd.encap_content_info.econtent_type) => {}
            _ => {
                return Err(ScepError::Malformed(
                    "the contentType attribute is missing or differs".into(),
                ))
            }
        }
        let content = match &sd.encap_content_info.econtent {
            Some(any) => Some(any.decode_as::<OctetString>()?.as_bytes().to_vec()),
            None => None,
        };
        Ok(Self {
            message_type,
            transaction_id,
            sender_nonce,
            recipient_nonce,
            pki_status,
            fail_info,
            signer_der: signer.to_der()?,
            signer: (*signer).clone(),
            content,
            digest_alg: si.digest_alg.oid,
            signature_alg: si.signature_algorithm.oid,
            signature: si.signature.as_bytes().to_vec(),
            signed_attrs_der: signed.to_der()?,
            message_digest,
        })
    }

    /// Checks the message digest of the content and the signature over the signed
    /// attributes with the signer certificate's key (its validity is the caller's concern).
    pub fn verify(&self) -> Result<()> {
        let dalg = digest_algorithm(&self.digest_alg)?;
        let d = digest::digest(dalg, self.content.as_deref().unwrap_or_default());
        if d.as_ref() != self.message_digest.as_slice() {
            return Err(ScepError::BadMessageCheck(
                "messageDigest does not match the content".into(),
            ));
        }
        let spki = &self.signer.tbs_certificate.subject_public_key_info;
        let key = spki.subject_public_key.raw_bytes();
        let valg = verification_algorithm(&self.signature_alg, &self.digest_alg, spki)?;
        UnparsedPublicKey::new(valg, key)
            .verify(&self.signed_attrs_der, &self.signature)
            .map_err(|_| ScepError::BadMessageCheck("the signature does not verify".into()))
    }
}

pub(crate) fn digest_algorithm(oid: &Oid) -> Result<&'static digest::Algorithm> {
    Ok(match *oid {
        oids::SHA1 => &digest::SHA1_FOR_LEGACY_USE_ONLY,
        oids::SHA256 => &digest::SHA256,
        oids::SHA384 => &digest::SHA384,
        oids::SHA512 => &digest::SHA512,
        other => return Err(ScepError::Unsupported(format!("digest algorithm {other}"))),
    })
}

fn verification_algorithm(
    sig: &Oid,
    dig: &Oid,
    spki: &spki::SubjectPublicKeyInfoOwned,
) -> Result<&'static dyn VerificationAlgorithm> {
    let unsupported = || ScepError::Unsupported(format!("signature algorithm {sig} with {dig}"));
    let key_alg = spki.algorithm.oid;
    if key_alg == oids::RSA_ENCRYPTION {
        let by_digest = match *sig {
            oids::RSA_ENCRYPTION => *dig,
            oids::SHA1_WITH_RSA => oids::SHA1,
            oids::SHA256_WITH_RSA => oids::SHA256,
            oids::SHA384_WITH_RSA => oids::SHA384,
            oids::SHA512_WITH_RSA => oids::SHA512,
            _ => return Err(unsupported()),
        };
        return Ok(match by_digest {
            oids::SHA1 => &signature::RSA_PKCS1_2048_8192_SHA1_FOR_LEGACY_USE_ONLY,
            oids::SHA256 => &signature::RSA_PKCS1_2048_8192_SHA256,
            oids::SHA384 => &signature::RSA_PKCS1_2048_8192_SHA384,
            oids::SHA512 => &signature::RSA_PKCS1_2048_8192_SHA512,
            _ => return Err(unsupported()),
        });
    }
    if key_alg == oids::EC_PUBLIC_KEY {
        let curve = spki
            .algorithm
            .parameters
            .as_ref()
            .and_then(|p| p.decode_as::<Oid>().ok())
            .ok_or_else(unsupported)?;
        return Ok(match (curve, *sig) {
            (oids::SECP256R1, oids::ECDSA_WITH_SHA256) => &signature::ECDSA_P256_SHA256_ASN1,
            (oids::SECP256R1, oids::ECDSA_WITH_SHA384) => &signature::ECDSA_P256_SHA384_ASN1,
            (oids::SECP384R1, oids::ECDSA_WITH_SHA256) => &signature::ECDSA_P384_SHA256_ASN1,
            (oids::SECP384R1, oids::ECDSA_WITH_SHA384) => &signature::ECDSA_P384_SHA384_ASN1,
            _ => return Err(unsupported()),
        });
    }
    Err(unsupported())
}
