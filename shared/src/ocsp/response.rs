//! Encoding of OCSP responses (RFC 6960 §4.2.1).
//!
//! ```text
//! OCSPResponse ::= SEQUENCE {
//!    responseStatus         OCSPResponseStatus,
//!    responseBytes      [0] EXPLICIT ResponseBytes OPTIONAL }
//! ResponseBytes ::= SEQUENCE { responseType OBJECT IDENTIFIER, response OCTET STRING }
//! BasicOCSPResponse ::= SEQUENCE {
//!    tbsResponseData      ResponseData,
//!    signatureAlgorithm   AlgorithmIdentifier,
//!    signature            BIT STRING,
//!    certs            [0] EXPLICIT SEQUENCE OF Certificate OPTIONAL }
//! ResponseData ::= SEQUENCE {
//!    version              [0] EXPLICIT Version DEFAULT v1,
//!    responderID              ResponderID,
//!    producedAt               GeneralizedTime,
//!    responses                SEQUENCE OF SingleResponse,
//!    responseExtensions   [1] EXPLICIT Extensions OPTIONAL }
//! ResponderID ::= CHOICE { byName [1] Name, byKey [2] KeyHash }
//! SingleResponse ::= SEQUENCE {
//!    certID                       CertID,
//!    certStatus                   CertStatus,
//!    thisUpdate                   GeneralizedTime,
//!    nextUpdate         [0]       EXPLICIT GeneralizedTime OPTIONAL,
//!    singleExtensions   [1]       EXPLICIT Extensions OPTIONAL }
//! CertStatus ::= CHOICE {
//!    good        [0]     IMPLICIT NULL,
//!    revoked     [1]     IMPLICIT RevokedInfo,
//!    unknown     [2]     IMPLICIT UnknownInfo }
//! RevokedInfo ::= SEQUENCE {
//!    revocationTime              GeneralizedTime,
//!    revocationReason    [0]     EXPLICIT CRLReason OPTIONAL }
//! ```

use super::certid::CertIdKey;
use crate::der::{self, ctx_cons, ctx_prim, push_header, push_tlv, tlv_len, DerError, Reader};
use crate::der::{
    TAG_BIT_STRING, TAG_ENUMERATED, TAG_GENERALIZED_TIME, TAG_OCTET_STRING, TAG_SEQUENCE,
};
pub use crate::revocation::RevocationReason;
use crate::time::{generalized_time, parse_generalized_time};

/// DER of id-pkix-ocsp-basic (1.3.6.1.5.5.7.48.1.1).
pub const OID_PKIX_OCSP_BASIC: &[u8] = &[
    0x06, 0x09, 0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x30, 0x01, 0x01,
];

/// `OCSPResponseStatus` (RFC 6960 §4.2.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponseStatus {
    Successful = 0,
    MalformedRequest = 1,
    InternalError = 2,
    TryLater = 3,
    SigRequired = 5,
    Unauthorized = 6,
}

impl ResponseStatus {
    fn from_code(c: u8) -> Option<Self> {
        Some(match c {
            0 => Self::Successful,
            1 => Self::MalformedRequest,
            2 => Self::InternalError,
            3 => Self::TryLater,
            5 => Self::SigRequired,
            6 => Self::Unauthorized,
            _ => return None,
        })
    }
}

/// Status of one certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CertStatus {
    Good,
    Revoked {
        time: i64,
        reason: Option<RevocationReason>,
    },
    Unknown,
}

/// One SingleResponse to encode.
#[derive(Debug, Clone)]
pub struct SingleResponse<'a> {
    pub cert_id: &'a CertIdKey,
    pub status: CertStatus,
    pub this_update: i64,
    pub next_update: i64,
}

/// The parts of a BasicOCSPResponse that depend only on the responder: its key hash, its
/// signature algorithm and the certificates to include (the delegated responder certificate,
/// RFC 6960 §4.2.2.2). Pre-encoded once per responder so each response costs one allocation.
#[derive(Debug, Clone)]
pub struct ResponderTemplate {
    /// `[2] EXPLICIT KeyHash` (ResponderID byKey), pre-encoded.
    responder_id: Vec<u8>,
    /// AlgorithmIdentifier DER of the signature.
    signature_algorithm: Vec<u8>,
    /// `[0] EXPLICIT SEQUENCE OF Certificate`, pre-encoded (empty when no certs are sent).
    certs: Vec<u8>,
}

impl ResponderTemplate {
    /// `key_hash`: SHA-1 of the responder's subjectPublicKey; `certs`: DER certificates to embed.
    pub fn new(key_hash: &[u8], signature_algorithm_der: Vec<u8>, certs: &[Vec<u8>]) -> Self {
        let mut responder_id = Vec::with_capacity(tlv_len(tlv_len(key_hash.len())));
        push_header(&mut responder_id, ctx_cons(2), tlv_len(key_hash.len()));
        push_tlv(&mut responder_id, TAG_OCTET_STRING, key_hash);
        let mut cert_list = Vec::new();
        if !certs.is_empty() {
            let inner: usize = certs.iter().map(Vec::len).sum();
            push_header(&mut cert_list, ctx_cons(0), tlv_len(inner));
            push_header(&mut cert_list, TAG_SEQUENCE, inner);
            for c in certs {
                cert_list.extend_from_slice(c);
            }
        }
        Self {
            responder_id,
            signature_algorithm: signature_algorithm_der,
            certs: cert_list,
        }
    }

    /// DER of `ResponseData` for one certificate: the bytes to sign.
    pub fn response_data(&self, produced_at: i64, single: &SingleResponse<'_>) -> Vec<u8> {
        let key = single.cert_id;
        let alg = key.alg().expect("CertIdKey built by CertIdKey::new");
        let alg_id = alg.algorithm_identifier();
        let name_hash = &key.as_bytes()[1..1 + alg.digest_len()];
        let key_hash = &key.as_bytes()[1 + alg.digest_len()..1 + 2 * alg.digest_len()];
        let serial = key.serial();
        let cert_id_len = alg_id.len()
            + tlv_len(name_hash.len())
            + tlv_len(key_hash.len())
            + tlv_len(serial.len());

        let status_len = match single.status {
            CertStatus::Good | CertStatus::Unknown => 2,
            CertStatus::Revoked { reason, .. } => tlv_len(revoked_info_len(reason)),
        };
        let gt = tlv_len(15);
        let single_len = tlv_len(cert_id_len) + status_len + gt + tlv_len(gt);
        let responses_len = tlv_len(single_len);
        let data_len = self.responder_id.len() + gt + tlv_len(responses_len);

        let mut out = Vec::with_capacity(tlv_len(data_len));
        push_header(&mut out, TAG_SEQUENCE, data_len);
        out.extend_from_slice(&self.responder_id);
        push_tlv(
            &mut out,
            TAG_GENERALIZED_TIME,
            &generalized_time(produced_at),
        );
        push_header(&mut out, TAG_SEQUENCE, responses_len);
        push_header(&mut out, TAG_SEQUENCE, single_len);
        push_header(&mut out, TAG_SEQUENCE, cert_id_len);
        out.extend_from_slice(alg_id);
        push_tlv(&mut out, TAG_OCTET_STRING, name_hash);
        push_tlv(&mut out, TAG_OCTET_STRING, key_hash);
        push_tlv(&mut out, der::TAG_INTEGER, serial);
        match single.status {
            CertStatus::Good => out.extend_from_slice(&[ctx_prim(0), 0]),
            CertStatus::Unknown => out.extend_from_slice(&[ctx_prim(2), 0]),
            CertStatus::Revoked { time, reason } => {
                push_header(&mut out, ctx_cons(1), revoked_info_len(reason));
                push_tlv(&mut out, TAG_GENERALIZED_TIME, &generalized_time(time));
                if let Some(r) = reason {
                    out.extend_from_slice(&[ctx_cons(0), 3, TAG_ENUMERATED, 1, r.code()]);
                }
            }
        }
        push_tlv(
            &mut out,
            TAG_GENERALIZED_TIME,
            &generalized_time(single.this_update),
        );
        push_header(&mut out, ctx_cons(0), gt);
        push_tlv(
            &mut out,
            TAG_GENERALIZED_TIME,
            &generalized_time(single.next_update),
        );
        debug_assert_eq!(out.len(), tlv_len(data_len));
        out
    }

    /// Wraps signed `ResponseData` into a complete, successful `OCSPResponse`.
    pub fn finish(&self, response_data: &[u8], signature: &[u8]) -> Vec<u8> {
        encode_basic_response(
            response_data,
            &self.signature_algorithm,
            signature,
            &self.certs,
        )
    }
}

fn revoked_info_len(reason: Option<RevocationReason>) -> usize {
    tlv_len(15) + if reason.is_some() { 5 } else { 0 }
}

/// Assembles `OCSPResponse { successful, BasicOCSPResponse }` from its encoded parts;
/// `certs` is the pre-encoded `[0] EXPLICIT` list or empty.
pub fn encode_basic_response(
    response_data: &[u8],
    sig_alg: &[u8],
    signature: &[u8],
    certs: &[u8],
) -> Vec<u8> {
    let basic_len =
        response_data.len() + sig_alg.len() + tlv_len(signature.len() + 1) + certs.len();
    let total = super::splice::assembled_len(basic_len, 0);
    let mut out = Vec::with_capacity(total);
    super::splice::push_envelope(&mut out, basic_len);
    out.extend_from_slice(response_data);
    out.extend_from_slice(sig_alg);
    push_header(&mut out, TAG_BIT_STRING, signature.len() + 1);
    out.push(0);
    out.extend_from_slice(signature);
    out.extend_from_slice(certs);
    debug_assert_eq!(out.len(), total);
    out
}

/// An unsuccessful `OCSPResponse` (no responseBytes), e.g. `unauthorized`.
pub const fn error_response(status: ResponseStatus) -> [u8; 5] {
    [TAG_SEQUENCE, 3, TAG_ENUMERATED, 1, status as u8]
}

/// Validity window read back from an encoded response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResponseTimes {
    pub produced_at: i64,
    pub this_update: i64,
    pub next_update: Option<i64>,
}

/// Reads the response status of an encoded `OCSPResponse`.
pub fn status_response(der_bytes: &[u8]) -> Result<ResponseStatus, DerError> {
    let resp = der::read_single(der_bytes, TAG_SEQUENCE)?;
    let st = Reader::new(resp.value).read(TAG_ENUMERATED)?;
    match st.value {
        [c] => ResponseStatus::from_code(*c).ok_or(DerError::BadInteger),
        _ => Err(DerError::BadInteger),
    }
}

/// Reads producedAt and the first SingleResponse's thisUpdate/nextUpdate of a successful
/// response (the data plane uses this to refuse serving expired responses).
pub fn parse_response_times(der_bytes: &[u8]) -> Result<ResponseTimes, DerError> {
    let bad = DerError::BadLength;
    let resp = der::read_single(der_bytes, TAG_SEQUENCE)?;
    let mut r = Reader::new(resp.value);
    r.read(TAG_ENUMERATED)?;
    let rb = r.read(ctx_cons(0))?;
    let rb = der::read_single(rb.value, TAG_SEQUENCE)?;
    let mut b = Reader::new(rb.value);
    b.read(der::TAG_OID)?;
    let basic = b.read(TAG_OCTET_STRING)?;
    let basic = der::read_single(basic.value, TAG_SEQUENCE)?;
    let data = Reader::new(basic.value).read(TAG_SEQUENCE)?;
    let mut d = Reader::new(data.value);
    d.read_optional(ctx_cons(0))?;
    d.read_any()?; // responderID
    let produced = d.read(TAG_GENERALIZED_TIME)?;
    let responses = d.read(TAG_SEQUENCE)?;
    let single = Reader::new(responses.value).read(TAG_SEQUENCE)?;
    let mut s = Reader::new(single.value);
    s.read(TAG_SEQUENCE)?;
    s.read_any()?; // certStatus
    let this_update = s.read(TAG_GENERALIZED_TIME)?;
    let next_update = match s.read_optional(ctx_cons(0))? {
        Some(n) => Some(
            parse_generalized_time(der::read_single(n.value, TAG_GENERALIZED_TIME)?.value)
                .ok_or(bad)?,
        ),
        None => None,
    };
    Ok(ResponseTimes {
        produced_at: parse_generalized_time(produced.value).ok_or(bad)?,
        this_update: parse_generalized_time(this_update.value).ok_or(bad)?,
        next_update,
    })
}
