//! The requester's side and the signing both sides share: building a signed pkiMessage
//! ([`signed`]), a `PKCSReq`/`RenewalReq` ([`Requester::request`]) and reading a `CertRep`
//! ([`Requester::read_reply`]). The server uses [`signed`]; the rest serves tests and tools.

use aws_lc_rs::digest;
use aws_lc_rs::rsa::{Pkcs1PrivateDecryptingKey, PrivateDecryptingKey};
use aws_lc_rs::signature::{RsaKeyPair, RSA_PKCS1_SHA256};
use cms::cert::{CertificateChoices, IssuerAndSerialNumber};
use cms::content_info::{CmsVersion, ContentInfo};
use cms::signed_data::{
    CertificateSet, EncapsulatedContentInfo, SignedData, SignerIdentifier, SignerInfo, SignerInfos,
};
use der::asn1::{OctetString, SetOfVec};
use der::{Any, Decode, Encode};
use spki::AlgorithmIdentifierOwned;
use x509_cert::attr::Attribute;
use x509_cert::Certificate;

use crate::attrs::{self, FailInfo, MessageType, PkiStatus};
use crate::envelope::{self, ContentCipher};
use crate::message::PkiMessage;
use crate::{certs, oids, Result, ScepError};

/// 16 random bytes (a senderNonce).
pub fn nonce() -> Result<Vec<u8>> {
    let mut n = vec![0u8; 16];
    aws_lc_rs::rand::fill(&mut n).map_err(|_| ScepError::Crypto("random nonce".into()))?;
    Ok(n)
}

/// `ContentInfo` DER of a `SignedData` over `content` (as id-data eContent, absent if
/// `None`), signed with SHA-256 and RSA by `sign` for `signer`, whose certificate is
/// included, with signed attributes contentType, messageDigest and `extra`.
pub fn signed(
    content: Option<Vec<u8>>,
    extra: Vec<Attribute>,
    signer: &Certificate,
    sign: &dyn Fn(&[u8]) -> Result<Vec<u8>>,
) -> Result<Vec<u8>> {
    let md = digest::digest(&digest::SHA256, content.as_deref().unwrap_or_default());
    let mut set = SetOfVec::new();
    set.insert(attrs::attribute(
        oids::CONTENT_TYPE,
        Any::encode_from(&oids::DATA)?,
    )?)?;
    set.insert(attrs::octets(oids::MESSAGE_DIGEST, md.as_ref())?)?;
    for a in extra {
        set.insert(a)?;
    }
    let signature = sign(&set.to_der()?)?;
    let sha256 = AlgorithmIdentifierOwned {
        oid: oids::SHA256,
        parameters: None,
    };
    let si = SignerInfo {
        version: CmsVersion::V1,
        sid: SignerIdentifier::IssuerAndSerialNumber(IssuerAndSerialNumber {
            issuer: signer.tbs_certificate.issuer.clone(),
            serial_number: signer.tbs_certificate.serial_number.clone(),
        }),
        digest_alg: sha256.clone(),
        signed_attrs: Some(set),
        signature_algorithm: AlgorithmIdentifierOwned {
            oid: oids::RSA_ENCRYPTION,
            parameters: Some(Any::null()),
        },
        signature: OctetString::new(signature)?,
        unsigned_attrs: None,
    };
    let mut digests = SetOfVec::new();
    digests.insert(sha256)?;
    let mut certs = SetOfVec::new();
    certs.insert(CertificateChoices::Certificate(signer.clone()))?;
    let mut infos = SetOfVec::new();
    infos.insert(si)?;
    let sd = SignedData {
        version: CmsVersion::V1,
        digest_algorithms: digests,
        encap_content_info: EncapsulatedContentInfo {
            econtent_type: oids::DATA,
            econtent: content
                .map(|c| Any::encode_from(&OctetString::new(c)?))
                .transpose()?,
        },
        certificates: Some(CertificateSet(certs)),
        crls: None,
        signer_infos: SignerInfos(infos),
    };
    Ok(ContentInfo {
        content_type: oids::SIGNED_DATA,
        content: Any::encode_from(&sd)?,
    }
    .to_der()?)
}

/// A SCEP client: an RSA key and the certificate it signs requests with (self-signed for
/// a PKCSReq, the current certificate for a RenewalReq).
#[derive(Debug)]
pub struct Requester {
    pub cert: Certificate,
    signing: RsaKeyPair,
    decrypting: Pkcs1PrivateDecryptingKey,
}

/// What a CertRep said, as a requester reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The certificates of the degenerate SignedData (the issued one first if only one).
    Issued(Vec<Vec<u8>>),
    Failed(FailInfo),
    Pending,
}

impl Requester {
    pub fn new(pkcs8: &[u8], cert_der: &[u8]) -> Result<Self> {
        Ok(Self {
            cert: Certificate::from_der(cert_der)?,
            signing: RsaKeyPair::from_pkcs8(pkcs8)
                .map_err(|e| ScepError::Crypto(format!("requester key: {e}")))?,
            decrypting: PrivateDecryptingKey::from_pkcs8(pkcs8)
                .ok()
                .and_then(|k| Pkcs1PrivateDecryptingKey::new(k).ok())
                .ok_or_else(|| ScepError::Crypto("requester key is not RSA".into()))?,
        })
    }

    fn sign(&self, data: &[u8]) -> Result<Vec<u8>> {
        let mut sig = vec![0u8; self.signing.public_modulus_len()];
        self.signing
            .sign(
                &RSA_PKCS1_SHA256,
                &aws_lc_rs::rand::SystemRandom::new(),
                data,
                &mut sig,
            )
            .map_err(|_| ScepError::Crypto("signature".into()))?;
        Ok(sig)
    }

    /// A pkiMessage of `message_type` carrying `inner` (a PKCS#10 request DER) encrypted
    /// with `cipher` to `recipient` (the RA certificate); returns the DER and the
    /// senderNonce.
    pub fn request(
        &self,
        message_type: MessageType,
        transaction_id: &str,
        inner: &[u8],
        recipient: &Certificate,
        cipher: ContentCipher,
    ) -> Result<(Vec<u8>, Vec<u8>)> {
        let env = envelope::encrypt(inner, cipher, recipient)?;
        let n = nonce()?;
        let list = vec![
            attrs::printable(oids::SCEP_TRANSACTION_ID, transaction_id)?,
            attrs::printable(oids::SCEP_MESSAGE_TYPE, &message_type.code().to_string())?,
            attrs::octets(oids::SCEP_SENDER_NONCE, &n)?,
        ];
        let der = signed(Some(env), list, &self.cert, &|d| self.sign(d))?;
        Ok((der, n))
    }

    /// Reads a CertRep: checks its signature (by whichever certificate it carries: the
    /// caller compares `signer_der` with the RA certificate), the nonce, and decrypts a
    /// success.
    pub fn read_reply(&self, der: &[u8], sender_nonce: &[u8]) -> Result<(PkiMessage, Outcome)> {
        let msg = PkiMessage::parse(der)?;
        msg.verify()?;
        if msg.message_type != MessageType::CertRep {
            return Err(ScepError::Malformed("not a CertRep".into()));
        }
        if msg.recipient_nonce.as_deref() != Some(sender_nonce) {
            return Err(ScepError::BadMessageCheck(
                "recipientNonce is not our senderNonce".into(),
            ));
        }
        let outcome = match msg.pki_status {
            Some(PkiStatus::Success) => {
                let env = msg
                    .content
                    .as_deref()
                    .ok_or_else(|| ScepError::Malformed("SUCCESS without content".into()))?;
                let opened = envelope::decrypt(env, &self.cert, &self.decrypting)?;
                Outcome::Issued(certs::read_certs_only(&opened.plain)?)
            }
            Some(PkiStatus::Failure) => Outcome::Failed(
                msg.fail_info
                    .ok_or_else(|| ScepError::Malformed("FAILURE without failInfo".into()))?,
            ),
            Some(PkiStatus::Pending) => Outcome::Pending,
            None => return Err(ScepError::Malformed("CertRep without pkiStatus".into())),
        };
        Ok((msg, outcome))
    }
}
