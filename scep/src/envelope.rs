//! The `pkcsPKIEnvelope` (RFC 8894 §3.2.2): an `EnvelopedData` (RFC 5652 §6.1) with one
//! `KeyTransRecipientInfo` per recipient (RSA PKCS#1 v1.5 key transport, RFC 3370 §4.2.1)
//! and CBC content encryption.
//!
//! ```text
//! EnvelopedData ::= SEQUENCE {
//!   version CMSVersion,                         -- 0 here
//!   originatorInfo [0] IMPLICIT OriginatorInfo OPTIONAL,
//!   recipientInfos RecipientInfos,              -- SET OF RecipientInfo
//!   encryptedContentInfo EncryptedContentInfo,
//!   unprotectedAttrs [1] IMPLICIT UnprotectedAttributes OPTIONAL }
//! KeyTransRecipientInfo ::= SEQUENCE {
//!   version CMSVersion,                         -- 0: issuerAndSerialNumber, 2: SKI
//!   rid RecipientIdentifier, keyEncryptionAlgorithm, encryptedKey OCTET STRING }
//! EncryptedContentInfo ::= SEQUENCE {
//!   contentType ContentType,                    -- id-data
//!   contentEncryptionAlgorithm ContentEncryptionAlgorithmIdentifier, -- IV as parameter
//!   encryptedContent [0] IMPLICIT EncryptedContent OPTIONAL }
//! ```

use aws_lc_rs::cipher::{
    DecryptionContext, PaddedBlockDecryptingKey, PaddedBlockEncryptingKey, UnboundCipherKey,
    AES_128, AES_192, AES_256,
};
use aws_lc_rs::rsa::{Pkcs1PrivateDecryptingKey, Pkcs1PublicEncryptingKey, PublicEncryptingKey};
use cbc::cipher::block_padding::Pkcs7;
use cbc::cipher::{BlockDecryptMut, BlockEncryptMut, KeyIvInit};
use cms::cert::IssuerAndSerialNumber;
use cms::content_info::{CmsVersion, ContentInfo};
use cms::enveloped_data::{
    EncryptedContentInfo, EnvelopedData, KeyTransRecipientInfo, RecipientIdentifier, RecipientInfo,
    RecipientInfos,
};
use der::asn1::{ObjectIdentifier, OctetString, SetOfVec};
use der::{Any, Decode, Encode, Reader, Sequence, SliceReader, Tag, TagNumber, Tagged};
use spki::AlgorithmIdentifierOwned;
use x509_cert::Certificate;

use crate::{oids, Result, ScepError};

/// The content-encryption algorithms accepted in requests and used in answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContentCipher {
    Aes128Cbc,
    Aes192Cbc,
    Aes256Cbc,
    /// Single DES: only for old clients (Debian's micromdm `scepclient` 2.1 sends it).
    DesCbc,
    DesEde3Cbc,
}

impl ContentCipher {
    pub fn from_oid(oid: &const_oid::ObjectIdentifier) -> Option<Self> {
        Some(match *oid {
            oids::AES128_CBC => Self::Aes128Cbc,
            oids::AES192_CBC => Self::Aes192Cbc,
            oids::AES256_CBC => Self::Aes256Cbc,
            oids::DES_CBC => Self::DesCbc,
            oids::DES_EDE3_CBC => Self::DesEde3Cbc,
            _ => return None,
        })
    }

    pub fn oid(self) -> const_oid::ObjectIdentifier {
        match self {
            Self::Aes128Cbc => oids::AES128_CBC,
            Self::Aes192Cbc => oids::AES192_CBC,
            Self::Aes256Cbc => oids::AES256_CBC,
            Self::DesCbc => oids::DES_CBC,
            Self::DesEde3Cbc => oids::DES_EDE3_CBC,
        }
    }

    pub fn key_len(self) -> usize {
        match self {
            Self::Aes128Cbc => 16,
            Self::Aes192Cbc => 24,
            Self::Aes256Cbc => 32,
            Self::DesCbc => 8,
            Self::DesEde3Cbc => 24,
        }
    }

    pub fn iv_len(self) -> usize {
        match self {
            Self::Aes128Cbc | Self::Aes192Cbc | Self::Aes256Cbc => 16,
            Self::DesCbc | Self::DesEde3Cbc => 8,
        }
    }

    /// `true` for the DES family (refused unless the server allows legacy ciphers).
    pub fn is_legacy(self) -> bool {
        matches!(self, Self::DesCbc | Self::DesEde3Cbc)
    }

    fn decrypt(self, key: &[u8], iv: &[u8], ct: &[u8]) -> Result<Vec<u8>> {
        let bad = || ScepError::BadMessageCheck("the envelope does not decrypt".into());
        if key.len() != self.key_len() || iv.len() != self.iv_len() {
            return Err(bad());
        }
        match self {
            Self::DesCbc => cbc::Decryptor::<des::Des>::new_from_slices(key, iv)
                .map_err(|_| bad())?
                .decrypt_padded_vec_mut::<Pkcs7>(ct)
                .map_err(|_| bad()),
            Self::DesEde3Cbc => cbc::Decryptor::<des::TdesEde3>::new_from_slices(key, iv)
                .map_err(|_| bad())?
                .decrypt_padded_vec_mut::<Pkcs7>(ct)
                .map_err(|_| bad()),
            _ => {
                let alg = match self {
                    Self::Aes128Cbc => &AES_128,
                    Self::Aes192Cbc => &AES_192,
                    _ => &AES_256,
                };
                let key = UnboundCipherKey::new(alg, key).map_err(|_| bad())?;
                let key = PaddedBlockDecryptingKey::cbc_pkcs7(key).map_err(|_| bad())?;
                let iv: [u8; 16] = iv.try_into().map_err(|_| bad())?;
                let mut buf = ct.to_vec();
                let plain = key
                    .decrypt(&mut buf, DecryptionContext::Iv128(iv.into()))
                    .map_err(|_| bad())?;
                Ok(plain.to_vec())
            }
        }
    }

    /// `(iv, ciphertext)` of `plain` under `key` with a random IV.
    fn encrypt(self, key: &[u8], plain: &[u8]) -> Result<(Vec<u8>, Vec<u8>)> {
        let fail = |what: &str| ScepError::Crypto(format!("content encryption: {what}"));
        let mut iv = vec![0u8; self.iv_len()];
        match self {
            Self::DesCbc | Self::DesEde3Cbc => {
                aws_lc_rs::rand::fill(&mut iv).map_err(|_| fail("random IV"))?;
                let ct = if self == Self::DesCbc {
                    cbc::Encryptor::<des::Des>::new_from_slices(key, &iv)
                        .map_err(|_| fail("key"))?
                        .encrypt_padded_vec_mut::<Pkcs7>(plain)
                } else {
                    cbc::Encryptor::<des::TdesEde3>::new_from_slices(key, &iv)
                        .map_err(|_| fail("key"))?
                        .encrypt_padded_vec_mut::<Pkcs7>(plain)
                };
                Ok((iv, ct))
            }
            _ => {
                let alg = match self {
                    Self::Aes128Cbc => &AES_128,
                    Self::Aes192Cbc => &AES_192,
                    _ => &AES_256,
                };
                let key = UnboundCipherKey::new(alg, key).map_err(|_| fail("key"))?;
                let key = PaddedBlockEncryptingKey::cbc_pkcs7(key).map_err(|_| fail("key"))?;
                let mut buf = plain.to_vec();
                match key.encrypt(&mut buf).map_err(|_| fail("encrypt"))? {
                    DecryptionContext::Iv128(v) => iv.copy_from_slice(v.as_ref()),
                    _ => return Err(fail("unexpected IV")),
                }
                Ok((iv, buf))
            }
        }
    }
}

/// `ContentInfo` DER of an `EnvelopedData`: `plain` under a fresh key of `cipher`, the key
/// encrypted (RSA PKCS#1 v1.5) to `recipient` (identified by issuer and serial number).
pub fn encrypt(plain: &[u8], cipher: ContentCipher, recipient: &Certificate) -> Result<Vec<u8>> {
    let mut cek = vec![0u8; cipher.key_len()];
    aws_lc_rs::rand::fill(&mut cek).map_err(|_| ScepError::Crypto("random key".into()))?;
    let (iv, ct) = cipher.encrypt(&cek, plain)?;
    let spki = recipient.tbs_certificate.subject_public_key_info.to_der()?;
    let public = PublicEncryptingKey::from_der(&spki)
        .map_err(|_| ScepError::Unsupported("the recipient's key is not RSA".into()))?;
    let public = Pkcs1PublicEncryptingKey::new(public)
        .map_err(|_| ScepError::Unsupported("the recipient's RSA key".into()))?;
    let mut enc_key = vec![0u8; public.ciphertext_size()];
    let enc_key = public
        .encrypt(&cek, &mut enc_key)
        .map_err(|_| ScepError::Crypto("key transport".into()))?
        .to_vec();
    let ktri = KeyTransRecipientInfo {
        version: CmsVersion::V0,
        rid: RecipientIdentifier::IssuerAndSerialNumber(IssuerAndSerialNumber {
            issuer: recipient.tbs_certificate.issuer.clone(),
            serial_number: recipient.tbs_certificate.serial_number.clone(),
        }),
        key_enc_alg: AlgorithmIdentifierOwned {
            oid: oids::RSA_ENCRYPTION,
            parameters: Some(Any::null()),
        },
        enc_key: OctetString::new(enc_key)?,
    };
    let mut recips = SetOfVec::new();
    recips.insert(RecipientInfo::Ktri(ktri))?;
    let env = EnvelopedData {
        version: CmsVersion::V0,
        originator_info: None,
        recip_infos: RecipientInfos(recips),
        encrypted_content: EncryptedContentInfo {
            content_type: oids::DATA,
            content_enc_alg: AlgorithmIdentifierOwned {
                oid: cipher.oid(),
                parameters: Some(Any::encode_from(&OctetString::new(iv)?)?),
            },
            encrypted_content: Some(OctetString::new(ct)?),
        },
        unprotected_attrs: None,
    };
    Ok(ContentInfo {
        content_type: oids::ENVELOPED_DATA,
        content: Any::encode_from(&env)?,
    }
    .to_der()?)
}

/// `EnvelopedData` as received: like `cms`'s, but the encrypted content may also come in
/// BER's constructed form (`[0]` holding OCTET STRING segments), which Go's `pkcs7` (the
/// micromdm client's) always sends.
#[derive(Sequence)]
struct ReceivedEnveloped {
    version: CmsVersion,
    #[asn1(
        context_specific = "0",
        tag_mode = "IMPLICIT",
        constructed = "true",
        optional = "true"
    )]
    _originator_info: Option<cms::enveloped_data::OriginatorInfo>,
    recip_infos: RecipientInfos,
    encrypted_content: ReceivedContentInfo,
    #[asn1(
        context_specific = "1",
        tag_mode = "IMPLICIT",
        constructed = "true",
        optional = "true"
    )]
    _unprotected_attrs: Option<x509_cert::attr::Attributes>,
}

#[derive(Sequence)]
struct ReceivedContentInfo {
    _content_type: ObjectIdentifier,
    content_enc_alg: AlgorithmIdentifierOwned,
    /// `[0] IMPLICIT OCTET STRING`, primitive or constructed.
    encrypted_content: Option<Any>,
}

/// The octets of `[0] IMPLICIT OCTET STRING` in either form.
fn implicit_octets(any: &Any) -> Result<Vec<u8>> {
    match any.tag() {
        Tag::ContextSpecific {
            number: TagNumber::N0,
            constructed: false,
        } => Ok(any.value().to_vec()),
        Tag::ContextSpecific {
            number: TagNumber::N0,
            constructed: true,
        } => {
            let mut out = Vec::new();
            let mut r = SliceReader::new(any.value())?;
            while !r.is_finished() {
                out.extend_from_slice(OctetString::decode(&mut r)?.as_bytes());
            }
            Ok(out)
        }
        t => Err(ScepError::Malformed(format!(
            "encryptedContent has tag {t}, not [0]"
        ))),
    }
}

/// What [`decrypt`] found: the plaintext and the cipher it was under.
#[derive(Debug)]
pub struct Opened {
    pub plain: Vec<u8>,
    pub cipher: ContentCipher,
}

/// Opens `ContentInfo` DER of an `EnvelopedData` addressed to `recipient` (matched by
/// issuer and serial number, or a recipient info naming no one else is tried) with its
/// RSA key.
pub fn decrypt(
    der: &[u8],
    recipient: &Certificate,
    key: &Pkcs1PrivateDecryptingKey,
) -> Result<Opened> {
    let ci = ContentInfo::from_der(der)?;
    if ci.content_type != oids::ENVELOPED_DATA {
        return Err(ScepError::Malformed(format!(
            "pkcsPKIEnvelope has content type {}, not envelopedData",
            ci.content_type
        )));
    }
    let env: ReceivedEnveloped = ci.content.decode_as()?;
    if !matches!(env.version, CmsVersion::V0 | CmsVersion::V2) {
        return Err(ScepError::Unsupported(format!(
            "EnvelopedData version {:?}",
            env.version
        )));
    }
    let alg = &env.encrypted_content.content_enc_alg;
    let cipher = ContentCipher::from_oid(&alg.oid).ok_or_else(|| {
        ScepError::Unsupported(format!("content encryption algorithm {}", alg.oid))
    })?;
    let iv = alg
        .parameters
        .as_ref()
        .ok_or_else(|| ScepError::Malformed("content encryption without an IV".into()))?
        .decode_as::<OctetString>()?;
    let ct = implicit_octets(
        env.encrypted_content
            .encrypted_content
            .as_ref()
            .ok_or_else(|| ScepError::Malformed("envelope without encrypted content".into()))?,
    )?;
    let ours = |rid: &RecipientIdentifier| match rid {
        RecipientIdentifier::IssuerAndSerialNumber(ias) => {
            ias.issuer == recipient.tbs_certificate.issuer
                && ias.serial_number == recipient.tbs_certificate.serial_number
        }
        RecipientIdentifier::SubjectKeyIdentifier(_) => true,
    };
    let ktri = env
        .recip_infos
        .0
        .iter()
        .find_map(|ri| match ri {
            RecipientInfo::Ktri(k) if ours(&k.rid) => Some(k),
            _ => None,
        })
        .ok_or_else(|| {
            ScepError::BadMessageCheck(
                "the envelope is not encrypted to the RA certificate (fetch GetCACert again)"
                    .into(),
            )
        })?;
    if ktri.key_enc_alg.oid != oids::RSA_ENCRYPTION {
        return Err(ScepError::Unsupported(format!(
            "key encryption algorithm {}",
            ktri.key_enc_alg.oid
        )));
    }
    let mut out = vec![0u8; key.min_output_size()];
    // A key transport failure goes on with a random key (RFC 3218 §2.3.2) so that it is not
    // told apart from a bad content padding: both end as badMessageCheck.
    let cek = match key.decrypt(ktri.enc_key.as_bytes(), &mut out) {
        Ok(k) if k.len() == cipher.key_len() => k.to_vec(),
        _ => {
            let mut k = vec![0u8; cipher.key_len()];
            aws_lc_rs::rand::fill(&mut k).map_err(|_| ScepError::Crypto("random".into()))?;
            k
        }
    };
    let plain = cipher.decrypt(&cek, iv.as_bytes(), &ct)?;
    Ok(Opened { plain, cipher })
}
