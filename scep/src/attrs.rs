//! The SCEP signed attributes (RFC 8894 §3.2.1.2):
//!
//! ```text
//! transactionID  ::= PrintableString
//! messageType    ::= PrintableString  -- decimal: 3 CertRep, 17 RenewalReq, 19 PKCSReq,
//!                                     --          20 CertPoll, 21 GetCert, 22 GetCRL
//! pkiStatus      ::= PrintableString  -- 0 SUCCESS, 2 FAILURE, 3 PENDING
//! failInfo       ::= PrintableString  -- 0 badAlg, 1 badMessageCheck, 2 badRequest,
//!                                     -- 3 badTime, 4 badCertId
//! senderNonce    ::= OCTET STRING (SIZE(16))
//! recipientNonce ::= OCTET STRING (SIZE(16))
//! ```
//!
//! Each is an `Attribute ::= SEQUENCE { attrType OBJECT IDENTIFIER, attrValues SET OF … }`
//! with exactly one value (RFC 5652 §5.3).

use const_oid::ObjectIdentifier;
use der::asn1::{OctetString, PrintableStringRef, SetOfVec};
use der::{Any, Decode, Encode, Tag, Tagged};
use x509_cert::attr::Attribute;

use crate::{Result, ScepError};

/// messageType (RFC 8894 §3.2.1.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageType {
    CertRep,
    RenewalReq,
    PkcsReq,
    /// GetCertInitial in older drafts.
    CertPoll,
    GetCert,
    GetCrl,
}

impl MessageType {
    pub fn code(self) -> u8 {
        match self {
            MessageType::CertRep => 3,
            MessageType::RenewalReq => 17,
            MessageType::PkcsReq => 19,
            MessageType::CertPoll => 20,
            MessageType::GetCert => 21,
            MessageType::GetCrl => 22,
        }
    }

    pub fn from_code(s: &str) -> Option<Self> {
        Some(match s {
            "3" => MessageType::CertRep,
            "17" => MessageType::RenewalReq,
            "19" => MessageType::PkcsReq,
            "20" => MessageType::CertPoll,
            "21" => MessageType::GetCert,
            "22" => MessageType::GetCrl,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            MessageType::CertRep => "CertRep",
            MessageType::RenewalReq => "RenewalReq",
            MessageType::PkcsReq => "PKCSReq",
            MessageType::CertPoll => "CertPoll",
            MessageType::GetCert => "GetCert",
            MessageType::GetCrl => "GetCRL",
        }
    }
}

/// pkiStatus (RFC 8894 §3.2.1.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PkiStatus {
    Success,
    Failure,
    Pending,
}

impl PkiStatus {
    pub fn code(self) -> u8 {
        match self {
            PkiStatus::Success => 0,
            PkiStatus::Failure => 2,
            PkiStatus::Pending => 3,
        }
    }

    pub fn from_code(s: &str) -> Option<Self> {
        Some(match s {
            "0" => PkiStatus::Success,
            "2" => PkiStatus::Failure,
            "3" => PkiStatus::Pending,
            _ => return None,
        })
    }
}

/// failInfo (RFC 8894 §3.2.1.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailInfo {
    /// Unrecognized or unsupported algorithm.
    BadAlg,
    /// Integrity check (signature or message digest) failed.
    BadMessageCheck,
    /// Transaction not permitted or supported (also: authentication failed).
    BadRequest,
    /// The signingTime attribute was not close enough to the system time.
    BadTime,
    /// No certificate could be identified matching the provided criteria.
    BadCertId,
}

impl FailInfo {
    pub fn code(self) -> u8 {
        match self {
            FailInfo::BadAlg => 0,
            FailInfo::BadMessageCheck => 1,
            FailInfo::BadRequest => 2,
            FailInfo::BadTime => 3,
            FailInfo::BadCertId => 4,
        }
    }

    pub fn from_code(s: &str) -> Option<Self> {
        Some(match s {
            "0" => FailInfo::BadAlg,
            "1" => FailInfo::BadMessageCheck,
            "2" => FailInfo::BadRequest,
            "3" => FailInfo::BadTime,
            "4" => FailInfo::BadCertId,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            FailInfo::BadAlg => "badAlg",
            FailInfo::BadMessageCheck => "badMessageCheck",
            FailInfo::BadRequest => "badRequest",
            FailInfo::BadTime => "badTime",
            FailInfo::BadCertId => "badCertId",
        }
    }
}

/// An attribute with one value (already DER: `Any`).
pub fn attribute(oid: ObjectIdentifier, value: Any) -> Result<Attribute> {
    let mut values = SetOfVec::new();
    values.insert(value)?;
    Ok(Attribute { oid, values })
}

/// An attribute whose one value is a `PrintableString`.
pub fn printable(oid: ObjectIdentifier, s: &str) -> Result<Attribute> {
    let value = PrintableStringRef::new(s)?;
    attribute(oid, Any::encode_from(&value)?)
}

/// An attribute whose one value is an `OCTET STRING`.
pub fn octets(oid: ObjectIdentifier, bytes: &[u8]) -> Result<Attribute> {
    attribute(oid, Any::encode_from(&OctetString::new(bytes)?)?)
}

/// The one value of attribute `oid` among `attrs`; `None` if absent; an error if repeated
/// or with other than one value.
pub fn find<'a>(attrs: &'a [Attribute], oid: &ObjectIdentifier) -> Result<Option<&'a Any>> {
    let mut found = attrs.iter().filter(|a| a.oid == *oid);
    let Some(a) = found.next() else {
        return Ok(None);
    };
    if found.next().is_some() || a.values.len() != 1 {
        return Err(ScepError::Malformed(format!(
            "attribute {oid} must appear once with one value"
        )));
    }
    Ok(a.values.iter().next())
}

/// A `PrintableString` value as text (UTF8String is accepted too: some clients send it).
pub fn as_text(v: &Any) -> Result<String> {
    match v.tag() {
        Tag::PrintableString | Tag::Utf8String | Tag::Ia5String => {
            String::from_utf8(v.value().to_vec())
                .map_err(|_| ScepError::Malformed("attribute text is not UTF-8".into()))
        }
        t => Err(ScepError::Malformed(format!(
            "expected a PrintableString, found {t}"
        ))),
    }
}

/// An `OCTET STRING` value's bytes.
pub fn as_octets(v: &Any) -> Result<Vec<u8>> {
    Ok(OctetString::from_der(&v.to_der()?)?.as_bytes().to_vec())
}
