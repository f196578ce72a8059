//! PKCS#12 (RFC 7292) bundles of a certificate, its chain and its private key, sans-io, laid
//! out as OpenSSL 3 writes them by default (`openssl pkcs12 -export`), so that OpenSSL, Python
//! `cryptography`, Java's keytool and Windows open them:
//!
//! ```text
//! PFX (version 3)
//!   authSafe: ContentInfo data → AuthenticatedSafe
//!     [0] ContentInfo encryptedData (PBES2: PBKDF2-HMAC-SHA256, AES-256-CBC)
//!           → SafeContents: certBag (leaf: localKeyId, friendlyName), certBag (chain) ...
//!     [1] ContentInfo data (only with a key)
//!           → SafeContents: pkcs8ShroudedKeyBag (PBES2 as above; localKeyId, friendlyName)
//!   macData: HMAC-SHA256, key from RFC 7292 Appendix B (ID 3, SHA-256)
//! ```
//!
//! One password protects everything. RFC 7292 Appendix B.1: "the password is a BMPString ...
//! [with] a two-byte zero terminator"; that is the form the MAC key's derivation takes.
//! PBES2 (RFC 8018 §6.2) takes the password as octets: its UTF-8 bytes, as OpenSSL and Java do.

use std::num::NonZeroU32;

use ::pkcs12::cert_type::CertBag;
use ::pkcs12::digest_info::DigestInfo;
use ::pkcs12::kdf::{derive_key, Pkcs12KeyType};
use ::pkcs12::mac_data::MacData;
use ::pkcs12::pfx::{Pfx, Version};
use ::pkcs12::safe_bag::SafeBag;
use aws_lc_rs::cipher::{PaddedBlockEncryptingKey, UnboundCipherKey, AES_256};
use aws_lc_rs::{digest, hmac, pbkdf2, rand};
use cms::content_info::{CmsVersion, ContentInfo};
use cms::encrypted_data::EncryptedData;
use cms::enveloped_data::EncryptedContentInfo;
use const_oid::db::rfc5911::{ID_DATA, ID_ENCRYPTED_DATA};
use const_oid::db::rfc5912::ID_SHA_256;
use const_oid::ObjectIdentifier;
use der::asn1::{Any, BitString, BmpString, OctetString, OctetStringRef, SetOfVec};
use der::{Decode, Encode, Sequence};
use spki::{AlgorithmIdentifierOwned, SubjectPublicKeyInfoRef};
use thiserror::Error;
use x509_cert::attr::{Attribute, Attributes};
use x509_cert::Certificate;
use zeroize::Zeroizing;

use crate::crypto::{Signer, SoftwareSigner};

/// What goes into the bundle.
pub struct Pkcs12Contents<'a> {
    /// DER certificates, the end-entity certificate first, then its chain (issuing CA ... root).
    pub certs: &'a [Vec<u8>],
    /// A PKCS#8 (RFC 5958) DER private key matching `certs[0]`, or None (certificates only).
    pub key_pkcs8: Option<&'a [u8]>,
    /// friendlyName attribute for the leaf (and key), e.g. the serial hex.
    pub friendly_name: Option<&'a str>,
}

#[derive(Debug, Error)]
pub enum Pkcs12Error {
    #[error("a PKCS#12 bundle needs at least one certificate")]
    NoCertificate,
    #[error("certificate {index} is not a DER X.509 certificate: {source}")]
    Certificate { index: usize, source: der::Error },
    #[error("private key: {0}")]
    Key(String),
    #[error("the private key does not match the first certificate's public key")]
    KeyMismatch,
    #[error("friendlyName must be a BMPString (no characters beyond U+FFFF)")]
    FriendlyName,
    #[error("encoding: {0}")]
    Der(#[from] der::Error),
    #[error("{0} failed")]
    Crypto(&'static str),
}

/// PBKDF2 and MAC key derivation iterations. OpenSSL 3 uses 2048 (`PKCS12_DEFAULT_ITER`),
/// Java's keytool 10000 (`keystore.pkcs12.*IterationCount`); both read either.
const ITERATIONS: u32 = 10_000;
/// Salt of PBKDF2 and of the MAC: 128 bits (NIST SP 800-132 §5.1; OpenSSL 3.2+ uses 16 bytes).
const SALT_LEN: usize = 16;

/// RFC 7292 Appendix D: `pkcs-9-at-friendlyName` and `pkcs-9-at-localKeyId` (PKCS #9).
const FRIENDLY_NAME: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.20");
const LOCAL_KEY_ID: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.21");

/// RFC 5958 §3:
///
/// ```text
/// EncryptedPrivateKeyInfo ::= SEQUENCE {
///   encryptionAlgorithm  EncryptionAlgorithmIdentifier,
///   encryptedData        EncryptedData }
/// EncryptedData ::= OCTET STRING
/// ```
#[derive(Sequence)]
struct EncryptedPrivateKeyInfo {
    encryption_algorithm: AlgorithmIdentifierOwned,
    encrypted_data: OctetString,
}

/// Writes the PKCS#12 bundle of `contents`, protected (encryption and MAC) by `password`.
///
/// Every certificate must decode as X.509; a key must be a PKCS#8 key of an algorithm Sigil
/// signs with (ECDSA P-256/P-384, Ed25519, RSA 2048/3072/4096) whose public key is the first
/// certificate's. Salts and IVs are random, so two calls never give the same bytes.
pub fn encode(contents: &Pkcs12Contents<'_>, password: &str) -> Result<Vec<u8>, Pkcs12Error> {
    let (leaf, _) = contents
        .certs
        .split_first()
        .ok_or(Pkcs12Error::NoCertificate)?;
    let mut certs = Vec::with_capacity(contents.certs.len());
    for (index, der) in contents.certs.iter().enumerate() {
        certs.push(
            Certificate::from_der(der)
                .map_err(|source| Pkcs12Error::Certificate { index, source })?,
        );
    }
    if let Some(key) = contents.key_pkcs8 {
        check_key(
            &certs[0]
                .tbs_certificate
                .subject_public_key_info
                .subject_public_key,
            key,
        )?;
    }
    // RFC 7292 §4.2: localKeyId ties the key to its certificate. As OpenSSL's PKCS12_create,
    // it is the SHA-1 of the certificate, set only when there is a key.
    let key_id = contents
        .key_pkcs8
        .map(|_| digest::digest(&digest::SHA1_FOR_LEGACY_USE_ONLY, leaf));
    let attributes = bag_attributes(contents.friendly_name, key_id.as_ref().map(|d| d.as_ref()))?;

    // RFC 7292 §4.2.3: CertBag ::= SEQUENCE { certId BAG-TYPE.&id ({CertTypes}),
    //   certValue [0] EXPLICIT BAG-TYPE.&Type ({CertTypes}{@certId}) }
    // x509Certificate BAG-TYPE ::= {OCTET STRING IDENTIFIED BY {certTypes 1}}
    let mut cert_bags = Vec::with_capacity(certs.len());
    for (i, der) in contents.certs.iter().enumerate() {
        let bag = CertBag {
            cert_id: ::pkcs12::PKCS_12_X509_CERT_OID,
            cert_value: OctetString::new(der.as_slice())?,
        };
        cert_bags.push(SafeBag {
            bag_id: ::pkcs12::PKCS_12_CERT_BAG_OID,
            bag_value: bag.to_der()?,
            bag_attributes: if i == 0 { attributes.clone() } else { None },
        });
    }

    // RFC 7292 §4.1: AuthenticatedSafe ::= SEQUENCE OF ContentInfo
    //   -- Data if unencrypted
    //   -- EncryptedData if password-encrypted
    let cert_safe = cert_bags.to_der()?;
    let (algorithm, ciphertext) = pbes2_encrypt(&cert_safe, password)?;
    let mut auth_safe = vec![ContentInfo {
        content_type: ID_ENCRYPTED_DATA,
        content: Any::encode_from(&EncryptedData {
            version: CmsVersion::V0,
            enc_content_info: EncryptedContentInfo {
                content_type: ID_DATA,
                content_enc_alg: algorithm,
                encrypted_content: Some(OctetString::new(ciphertext)?),
            },
            unprotected_attrs: None,
        })?,
    }];
    if let Some(key) = contents.key_pkcs8 {
        // RFC 7292 §4.2.2: PKCS8ShroudedKeyBag ::= EncryptedPrivateKeyInfo
        let (encryption_algorithm, ciphertext) = pbes2_encrypt(key, password)?;
        let shrouded = EncryptedPrivateKeyInfo {
            encryption_algorithm,
            encrypted_data: OctetString::new(ciphertext)?,
        };
        let key_bag = SafeBag {
            bag_id: ::pkcs12::PKCS_12_PKCS8_KEY_BAG_OID,
            bag_value: shrouded.to_der()?,
            bag_attributes: attributes,
        };
        auth_safe.push(data(&vec![key_bag].to_der()?)?);
    }
    let auth_safe = auth_safe.to_der()?;

    // RFC 7292 §4: PFX ::= SEQUENCE { version INTEGER {v3(3)}(v3,...),
    //   authSafe ContentInfo, macData MacData OPTIONAL }
    Pfx {
        version: Version::V3,
        mac_data: Some(mac_data(&auth_safe, password)?),
        auth_safe: data(&auth_safe)?,
    }
    .to_der()
    .map_err(Into::into)
}

/// A `ContentInfo` of type `data` (RFC 5652 §4): `content [0] EXPLICIT OCTET STRING`.
fn data(content: &[u8]) -> Result<ContentInfo, Pkcs12Error> {
    Ok(ContentInfo {
        content_type: ID_DATA,
        content: Any::encode_from(&OctetStringRef::new(content)?)?,
    })
}

/// The key must be one aws-lc-rs loads and its public key the certificate's
/// `subjectPublicKey` (compared without the algorithm identifier, whose parameters encoders
/// write differently, e.g. `rsaEncryption` or `id-RSASSA-PSS`).
fn check_key(cert_public_key: &BitString, pkcs8: &[u8]) -> Result<(), Pkcs12Error> {
    let signer =
        SoftwareSigner::from_pkcs8_any(pkcs8).map_err(|e| Pkcs12Error::Key(e.to_string()))?;
    let spki = SubjectPublicKeyInfoRef::from_der(signer.public_key_der())?;
    if spki.subject_public_key.raw_bytes() != cert_public_key.raw_bytes() {
        return Err(Pkcs12Error::KeyMismatch);
    }
    Ok(())
}

/// RFC 7292 §4.2: `bagAttributes SET OF PKCS12Attribute OPTIONAL`, here
/// `friendlyName` (a BMPString, PKCS #9) and `localKeyId` (an OCTET STRING).
fn bag_attributes(
    friendly_name: Option<&str>,
    key_id: Option<&[u8]>,
) -> Result<Option<Attributes>, Pkcs12Error> {
    let mut attributes = SetOfVec::new();
    if let Some(name) = friendly_name {
        let bmp = BmpString::from_utf8(name).map_err(|_| Pkcs12Error::FriendlyName)?;
        attributes.insert(attribute(FRIENDLY_NAME, Any::encode_from(&bmp)?)?)?;
    }
    if let Some(id) = key_id {
        let id = Any::encode_from(&OctetStringRef::new(id)?)?;
        attributes.insert(attribute(LOCAL_KEY_ID, id)?)?;
    }
    Ok((!attributes.is_empty()).then_some(attributes))
}

fn attribute(oid: ObjectIdentifier, value: Any) -> Result<Attribute, Pkcs12Error> {
    let mut values = SetOfVec::new();
    values.insert(value)?;
    Ok(Attribute { oid, values })
}

fn random<const N: usize>() -> Result<[u8; N], Pkcs12Error> {
    let mut out = [0; N];
    rand::fill(&mut out).map_err(|_| Pkcs12Error::Crypto("random generation"))?;
    Ok(out)
}

/// PBES2 (RFC 8018 §6.2.1) with PBKDF2-HMAC-SHA256 over the password's UTF-8 bytes and
/// AES-256-CBC (PKCS #7 padding, random IV): the algorithm identifier and the ciphertext.
fn pbes2_encrypt(
    plaintext: &[u8],
    password: &str,
) -> Result<(AlgorithmIdentifierOwned, Vec<u8>), Pkcs12Error> {
    let failed = |_| Pkcs12Error::Crypto("AES-256-CBC encryption");
    let salt: [u8; SALT_LEN] = random()?;
    let mut key = Zeroizing::new([0u8; 32]);
    let iterations = NonZeroU32::new(ITERATIONS).expect("nonzero");
    pbkdf2::derive(
        pbkdf2::PBKDF2_HMAC_SHA256,
        iterations,
        &salt,
        password.as_bytes(),
        &mut key[..],
    );
    let cipher = UnboundCipherKey::new(&AES_256, &key[..]).map_err(failed)?;
    let cipher = PaddedBlockEncryptingKey::cbc_pkcs7(cipher).map_err(failed)?;
    // Room for the padding up front: no reallocation leaves a copy of the plaintext behind.
    let mut buffer = Vec::with_capacity(plaintext.len() + 16);
    buffer.extend_from_slice(plaintext);
    let mut buffer = Zeroizing::new(buffer);
    let context = cipher.encrypt(&mut *buffer).map_err(failed)?;
    let iv: &[u8] = (&context).try_into().map_err(failed)?;
    let iv: &[u8; 16] = iv
        .try_into()
        .map_err(|_| Pkcs12Error::Crypto("AES-CBC IV"))?;

    // RFC 8018 Appendix A.4: PBES2-params ::= SEQUENCE {
    //   keyDerivationFunc AlgorithmIdentifier {{PBES2-KDFs}},
    //   encryptionScheme AlgorithmIdentifier {{PBES2-Encs}} }
    let params = pkcs5::pbes2::Parameters::pbkdf2_sha256_aes256cbc(ITERATIONS, &salt, iv)
        .map_err(|_| Pkcs12Error::Crypto("PBES2 parameters"))?;
    let algorithm = pkcs5::EncryptionScheme::from(params).to_der()?;
    Ok((
        AlgorithmIdentifierOwned::from_der(&algorithm)?,
        std::mem::take(&mut *buffer),
    ))
}

/// RFC 7292 §4: `MacData ::= SEQUENCE { mac DigestInfo, macSalt OCTET STRING,
/// iterations INTEGER DEFAULT 1 }`, the HMAC (RFC 2104) over the authSafe's content octets
/// with SHA-256, its key derived by Appendix B.2 with ID 3 ("the bits being produced are
/// to be used as a MAC key") and as many bytes as the hash gives (Appendix B.4).
fn mac_data(auth_safe: &[u8], password: &str) -> Result<MacData, Pkcs12Error> {
    let salt: [u8; SALT_LEN] = random()?;
    let key = Zeroizing::new(derive_key::<sha2::Sha256>(
        &bmp_password(password),
        &salt,
        Pkcs12KeyType::Mac,
        ITERATIONS as i32,
        digest::SHA256_OUTPUT_LEN,
    ));
    let tag = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, &key), auth_safe);
    Ok(MacData {
        mac: DigestInfo {
            // sha256 with NULL parameters, as OpenSSL writes it.
            algorithm: AlgorithmIdentifierOwned {
                oid: ID_SHA_256,
                parameters: Some(Any::null()),
            },
            digest: OctetString::new(tag.as_ref())?,
        },
        mac_salt: OctetString::new(salt.as_slice())?,
        iterations: ITERATIONS as i32,
    })
}

/// RFC 7292 Appendix B.1: the password as a BMPString (UTF-16 big-endian; OpenSSL writes
/// characters beyond U+FFFF as surrogate pairs) followed by two zero bytes; "" is just those.
fn bmp_password(password: &str) -> Zeroizing<Vec<u8>> {
    let mut bmp = Zeroizing::new(Vec::with_capacity(2 * password.len() + 2));
    bmp.extend(password.encode_utf16().flat_map(u16::to_be_bytes));
    bmp.extend([0, 0]);
    bmp
}

#[cfg(test)]
mod tests;
