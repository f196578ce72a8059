//! The RA side: its key and certificate ([`Ra`]), opening requests and signing `CertRep`
//! messages (RFC 8894 §3.3.2):
//!
//! ```text
//! CertRep: SignedData signed by the CA/RA, signed attributes
//!   transactionID (the request's), messageType 3, senderNonce (new), recipientNonce (the
//!   request's senderNonce), pkiStatus, failInfo (FAILURE only);
//!   content (SUCCESS only): pkcsPKIEnvelope = EnvelopedData, encrypted to the requester's
//!   signer certificate, of a degenerate certs-only SignedData with the issued certificate.
//! ```

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rsa::{KeyPair, KeySize, Pkcs1PrivateDecryptingKey, PrivateDecryptingKey};
use aws_lc_rs::signature::{KeyPair as _, RsaKeyPair, RSA_PKCS1_SHA256};
use der::Decode;
use x509_cert::attr::Attribute;
use x509_cert::Certificate;

use crate::attrs::{self, FailInfo, MessageType, PkiStatus};
use crate::envelope::{self, ContentCipher, Opened};
use crate::message::PkiMessage;
use crate::{certs, oids, request, Result, ScepError};

/// The RA: an RSA key that decrypts requests and signs answers, and its certificate.
#[derive(Debug)]
pub struct Ra {
    pub cert: Certificate,
    pub cert_der: Vec<u8>,
    signing: RsaKeyPair,
    decrypting: Pkcs1PrivateDecryptingKey,
}

/// A new RSA key: `(PKCS#8, SubjectPublicKeyInfo)` DER.
pub fn generate_rsa(bits: u32) -> Result<(Vec<u8>, Vec<u8>)> {
    let size = match bits {
        2048 => KeySize::Rsa2048,
        3072 => KeySize::Rsa3072,
        4096 => KeySize::Rsa4096,
        _ => return Err(ScepError::Unsupported(format!("RSA-{bits}"))),
    };
    let kp = KeyPair::generate(size).map_err(|_| ScepError::Crypto("RSA key generation".into()))?;
    let pkcs8 = kp
        .as_der()
        .map_err(|_| ScepError::Crypto("PKCS#8 encoding".into()))?
        .as_ref()
        .to_vec();
    let spki = kp
        .public_key()
        .as_der()
        .map_err(|_| ScepError::Crypto("SPKI encoding".into()))?
        .as_ref()
        .to_vec();
    Ok((pkcs8, spki))
}

impl Ra {
    /// From the RA key (PKCS#8, RSA) and its certificate (DER), which must hold that key.
    pub fn new(pkcs8: &[u8], cert_der: &[u8]) -> Result<Self> {
        let cert = Certificate::from_der(cert_der)?;
        let signing =
            RsaKeyPair::from_pkcs8(pkcs8).map_err(|e| ScepError::Crypto(format!("RA key: {e}")))?;
        let decrypting = PrivateDecryptingKey::from_pkcs8(pkcs8)
            .ok()
            .and_then(|k| Pkcs1PrivateDecryptingKey::new(k).ok())
            .ok_or_else(|| ScepError::Crypto("RA key: not an RSA decryption key".into()))?;
        let spki_key = cert
            .tbs_certificate
            .subject_public_key_info
            .subject_public_key
            .raw_bytes();
        if signing.public_key().as_ref() != spki_key {
            return Err(ScepError::Crypto(
                "the RA certificate does not hold the RA key".into(),
            ));
        }
        Ok(Self {
            cert,
            cert_der: cert_der.to_vec(),
            signing,
            decrypting,
        })
    }

    /// The request's `pkcsPKIEnvelope`, decrypted (the PKCS#10 request of a PKCSReq or
    /// RenewalReq).
    pub fn open(&self, msg: &PkiMessage) -> Result<Opened> {
        let content = msg
            .content
            .as_deref()
            .ok_or_else(|| ScepError::Malformed("the request has no content".into()))?;
        envelope::decrypt(content, &self.cert, &self.decrypting)
    }

    /// Signs with the RA key (RSA PKCS#1 v1.5, SHA-256).
    pub fn sign(&self, data: &[u8]) -> Result<Vec<u8>> {
        let mut sig = vec![0u8; self.signing.public_modulus_len()];
        self.signing
            .sign(
                &RSA_PKCS1_SHA256,
                &aws_lc_rs::rand::SystemRandom::new(),
                data,
                &mut sig,
            )
            .map_err(|_| ScepError::Crypto("RA signature".into()))?;
        Ok(sig)
    }
}

/// What a CertRep answers.
#[derive(Debug, Clone)]
pub enum Reply<'a> {
    /// The issued certificate (DER), encrypted with `cipher` to the requester.
    Success {
        cert_der: &'a [u8],
        cipher: ContentCipher,
    },
    Failure(FailInfo),
    Pending,
}

/// A CertRep (DER) answering `request` (its transactionID and senderNonce) from `ra`.
pub fn cert_rep(ra: &Ra, request: &PkiMessage, reply: Reply<'_>) -> Result<Vec<u8>> {
    let nonce = request::nonce()?;
    let mut list: Vec<Attribute> = vec![
        attrs::printable(oids::SCEP_TRANSACTION_ID, &request.transaction_id)?,
        attrs::printable(
            oids::SCEP_MESSAGE_TYPE,
            &MessageType::CertRep.code().to_string(),
        )?,
        attrs::octets(oids::SCEP_SENDER_NONCE, &nonce)?,
        attrs::octets(oids::SCEP_RECIPIENT_NONCE, &request.sender_nonce)?,
    ];
    let (status, content) = match reply {
        Reply::Success { cert_der, cipher } => {
            let deg = certs::certs_only(&[cert_der])?;
            let env = envelope::encrypt(&deg, cipher, &request.signer)?;
            (PkiStatus::Success, Some(env))
        }
        Reply::Failure(info) => {
            list.push(attrs::printable(
                oids::SCEP_FAIL_INFO,
                &info.code().to_string(),
            )?);
            (PkiStatus::Failure, None)
        }
        Reply::Pending => (PkiStatus::Pending, None),
    };
    list.push(attrs::printable(
        oids::SCEP_PKI_STATUS,
        &status.code().to_string(),
    )?);
    request::signed(content, list, &ra.cert, &|d| ra.sign(d))
}

/// Whether the RA key could be used with this certificate DER (tests, start-up checks).
pub fn cert_matches_key(pkcs8: &[u8], cert_der: &[u8]) -> bool {
    Ra::new(pkcs8, cert_der).is_ok()
}
