//! Object identifiers of RFC 8894 §3.2.1.2 (the VeriSign arc SCEP kept), RFC 5652 and the
//! algorithms SCEP clients use.

use const_oid::ObjectIdentifier as Oid;

/// id-data (RFC 5652 §4).
pub const DATA: Oid = Oid::new_unwrap("1.2.840.113549.1.7.1");
/// id-signedData (RFC 5652 §5.1).
pub const SIGNED_DATA: Oid = Oid::new_unwrap("1.2.840.113549.1.7.2");
/// id-envelopedData (RFC 5652 §6.1).
pub const ENVELOPED_DATA: Oid = Oid::new_unwrap("1.2.840.113549.1.7.3");
/// id-contentType (RFC 5652 §11.1).
pub const CONTENT_TYPE: Oid = Oid::new_unwrap("1.2.840.113549.1.9.3");
/// id-messageDigest (RFC 5652 §11.2).
pub const MESSAGE_DIGEST: Oid = Oid::new_unwrap("1.2.840.113549.1.9.4");
/// id-signingTime (RFC 5652 §11.3).
pub const SIGNING_TIME: Oid = Oid::new_unwrap("1.2.840.113549.1.9.5");
/// challengePassword (RFC 2985 §5.4.1), in the PKCS#10 request.
pub const CHALLENGE_PASSWORD: Oid = Oid::new_unwrap("1.2.840.113549.1.9.7");

/// id-messageType: `PrintableString` of the decimal [`crate::MessageType`].
pub const SCEP_MESSAGE_TYPE: Oid = Oid::new_unwrap("2.16.840.1.113733.1.9.2");
/// id-pkiStatus: `PrintableString` of the decimal [`crate::PkiStatus`].
pub const SCEP_PKI_STATUS: Oid = Oid::new_unwrap("2.16.840.1.113733.1.9.3");
/// id-failInfo: `PrintableString` of the decimal [`crate::FailInfo`].
pub const SCEP_FAIL_INFO: Oid = Oid::new_unwrap("2.16.840.1.113733.1.9.4");
/// id-senderNonce: `OCTET STRING` (16 bytes).
pub const SCEP_SENDER_NONCE: Oid = Oid::new_unwrap("2.16.840.1.113733.1.9.5");
/// id-recipientNonce: `OCTET STRING`, the request's senderNonce echoed.
pub const SCEP_RECIPIENT_NONCE: Oid = Oid::new_unwrap("2.16.840.1.113733.1.9.6");
/// id-transactionID: `PrintableString`.
pub const SCEP_TRANSACTION_ID: Oid = Oid::new_unwrap("2.16.840.1.113733.1.9.7");

/// rsaEncryption (RFC 8017): key transport, and a signature algorithm in CMS (RFC 3370 §3.2).
pub const RSA_ENCRYPTION: Oid = Oid::new_unwrap("1.2.840.113549.1.1.1");
pub const SHA1_WITH_RSA: Oid = Oid::new_unwrap("1.2.840.113549.1.1.5");
pub const SHA256_WITH_RSA: Oid = Oid::new_unwrap("1.2.840.113549.1.1.11");
pub const SHA384_WITH_RSA: Oid = Oid::new_unwrap("1.2.840.113549.1.1.12");
pub const SHA512_WITH_RSA: Oid = Oid::new_unwrap("1.2.840.113549.1.1.13");
pub const ECDSA_WITH_SHA256: Oid = Oid::new_unwrap("1.2.840.10045.4.3.2");
pub const ECDSA_WITH_SHA384: Oid = Oid::new_unwrap("1.2.840.10045.4.3.3");
pub const EC_PUBLIC_KEY: Oid = Oid::new_unwrap("1.2.840.10045.2.1");
pub const SECP256R1: Oid = Oid::new_unwrap("1.2.840.10045.3.1.7");
pub const SECP384R1: Oid = Oid::new_unwrap("1.3.132.0.34");

pub const SHA1: Oid = Oid::new_unwrap("1.3.14.3.2.26");
pub const SHA256: Oid = Oid::new_unwrap("2.16.840.1.101.3.4.2.1");
pub const SHA384: Oid = Oid::new_unwrap("2.16.840.1.101.3.4.2.2");
pub const SHA512: Oid = Oid::new_unwrap("2.16.840.1.101.3.4.2.3");

pub const AES128_CBC: Oid = Oid::new_unwrap("2.16.840.1.101.3.4.1.2");
pub const AES192_CBC: Oid = Oid::new_unwrap("2.16.840.1.101.3.4.1.22");
pub const AES256_CBC: Oid = Oid::new_unwrap("2.16.840.1.101.3.4.1.42");
/// desCBC (OIW), single DES: Debian's micromdm client's default.
pub const DES_CBC: Oid = Oid::new_unwrap("1.3.14.3.2.7");
/// des-ede3-cbc (RFC 3370 §5.1).
pub const DES_EDE3_CBC: Oid = Oid::new_unwrap("1.2.840.113549.3.7");
