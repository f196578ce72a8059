//! Zero-copy decoding of an OCSPRequest (RFC 6960 §4.1.1).
//!
//! ```text
//! OCSPRequest ::= SEQUENCE {
//!     tbsRequest              TBSRequest,
//!     optionalSignature   [0] EXPLICIT Signature OPTIONAL }
//! TBSRequest ::= SEQUENCE {
//!     version             [0] EXPLICIT Version DEFAULT v1,
//!     requestorName       [1] EXPLICIT GeneralName OPTIONAL,
//!     requestList             SEQUENCE OF Request,
//!     requestExtensions   [2] EXPLICIT Extensions OPTIONAL }
//! Request ::= SEQUENCE {
//!     reqCert                     CertID,
//!     singleRequestExtensions [0] EXPLICIT Extensions OPTIONAL }
//! ```

use thiserror::Error;

use super::certid::{write_cert_id_key, CertIdKey, HashAlg};
use crate::der::{self, DerError, Reader, TAG_INTEGER, TAG_OCTET_STRING, TAG_SEQUENCE};

/// Why a request could not be used; every variant maps to `malformedRequest`.
#[derive(Debug, Error, Clone, Copy, PartialEq, Eq)]
pub enum OcspRequestError {
    #[error("malformed DER: {0}")]
    Der(#[from] DerError),
    #[error("request list is empty")]
    Empty,
    #[error("too many certificates in one request")]
    TooMany,
    #[error("unsupported request version")]
    Version,
}

/// One requested certificate. `alg` is `None` for a hash algorithm Sigil does not sign for.
#[derive(Debug, Clone, Copy)]
pub struct RequestedCert<'a> {
    pub alg: Option<HashAlg>,
    pub name_hash: &'a [u8],
    pub key_hash: &'a [u8],
    /// Canonical serial content octets.
    pub serial: &'a [u8],
}

impl RequestedCert<'_> {
    /// The lookup key, if the hash algorithm and hash lengths are ones Sigil signs for.
    pub fn key(&self) -> Option<CertIdKey> {
        let mut k = vec![0; self.key_len()?];
        self.write_key(&mut k);
        Some(CertIdKey(k))
    }

    /// Length of [`key`](Self::key), if there is one.
    #[inline]
    pub fn key_len(&self) -> Option<usize> {
        let alg = self.alg?;
        if self.name_hash.len() != alg.digest_len() || self.key_hash.len() != alg.digest_len() {
            return None;
        }
        Some(1 + self.name_hash.len() + self.key_hash.len() + self.serial.len())
    }

    /// Writes the bytes of [`key`](Self::key) into `out`, which must be
    /// [`key_len`](Self::key_len) long: the key without allocating (the data plane's request
    /// path uses a stack buffer).
    #[inline]
    pub fn write_key(&self, out: &mut [u8]) {
        if let Some(alg) = self.alg {
            write_cert_id_key(out, alg, self.name_hash, self.key_hash, self.serial);
        }
    }
}

/// The first certificate of a request and how many it asks about, with the nonce: what a
/// responder that answers exactly one certificate needs, decoded without allocating.
#[derive(Debug, Clone, Copy)]
pub struct FirstCert<'a> {
    pub cert: RequestedCert<'a>,
    pub count: usize,
    pub nonce: Option<&'a [u8]>,
}

/// A decoded request: the certificates asked about and the nonce, if any.
#[derive(Debug, Clone)]
pub struct ParsedRequest<'a> {
    pub certs: Vec<RequestedCert<'a>>,
    /// Value of the id-pkix-ocsp-nonce extension (RFC 6960 §4.4.1), if present.
    pub nonce: Option<&'a [u8]>,
}

/// Upper bound on CertIDs in one request: pre-signed responses answer exactly one.
const MAX_CERTS: usize = 16;

/// DER of id-pkix-ocsp-nonce (1.3.6.1.5.5.7.48.1.2).
const OID_NONCE: &[u8] = &[
    0x06, 0x09, 0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x30, 0x01, 0x02,
];

/// Decodes a DER OCSPRequest without copying. The signature, if any, is skipped: Sigil never
/// requires signed requests.
pub fn decode_request(buf: &[u8]) -> Result<ParsedRequest<'_>, OcspRequestError> {
    let mut certs = Vec::with_capacity(1);
    let nonce = walk(buf, |c| certs.push(c))?;
    Ok(ParsedRequest { certs, nonce })
}

/// [`decode_request`] keeping only the first certificate (the same checks, no allocation).
pub fn decode_request_first(buf: &[u8]) -> Result<FirstCert<'_>, OcspRequestError> {
    let (mut first, mut count) = (None, 0);
    let nonce = walk(buf, |c| {
        first.get_or_insert(c);
        count += 1;
    })?;
    // `walk` refuses an empty list, so there is a first certificate.
    let cert = first.ok_or(OcspRequestError::Empty)?;
    Ok(FirstCert { cert, count, nonce })
}

/// Checks the whole request, hands each CertID to `each`, returns the nonce.
fn walk<'a>(
    buf: &'a [u8],
    mut each: impl FnMut(RequestedCert<'a>),
) -> Result<Option<&'a [u8]>, OcspRequestError> {
    let req = der::read_single(buf, TAG_SEQUENCE)?;
    let mut r = Reader::new(req.value);
    let tbs = r.read(TAG_SEQUENCE)?;
    r.read_optional(der::ctx_cons(0))?;
    r.finish()?;

    let mut t = Reader::new(tbs.value);
    if let Some(v) = t.read_optional(der::ctx_cons(0))? {
        let int = der::read_single(v.value, TAG_INTEGER)?;
        if int.value != [0] {
            return Err(OcspRequestError::Version);
        }
    }
    t.read_optional(der::ctx_cons(1))?;
    let list = t.read(TAG_SEQUENCE)?;
    let exts = t.read_optional(der::ctx_cons(2))?;
    t.finish()?;

    let mut count = 0;
    let mut l = Reader::new(list.value);
    while !l.is_empty() {
        if count == MAX_CERTS {
            return Err(OcspRequestError::TooMany);
        }
        let one = l.read(TAG_SEQUENCE)?;
        let mut o = Reader::new(one.value);
        let cert_id = o.read(TAG_SEQUENCE)?;
        o.read_optional(der::ctx_cons(0))?;
        o.finish()?;
        each(decode_cert_id(cert_id.value)?);
        count += 1;
    }
    if count == 0 {
        return Err(OcspRequestError::Empty);
    }
    match exts {
        Some(e) => find_nonce(e.value),
        None => Ok(None),
    }
}

fn decode_cert_id(value: &[u8]) -> Result<RequestedCert<'_>, OcspRequestError> {
    let mut c = Reader::new(value);
    let alg = c.read(TAG_SEQUENCE)?;
    let name_hash = c.read(TAG_OCTET_STRING)?;
    let key_hash = c.read(TAG_OCTET_STRING)?;
    let serial = c.read(TAG_INTEGER)?;
    c.finish()?;
    Ok(RequestedCert {
        alg: HashAlg::from_algorithm_identifier(alg.value)?,
        name_hash: name_hash.value,
        key_hash: key_hash.value,
        serial: der::canonical_uint(serial.value)?,
    })
}

fn find_nonce(exts_explicit: &[u8]) -> Result<Option<&[u8]>, OcspRequestError> {
    let seq = der::read_single(exts_explicit, TAG_SEQUENCE)?;
    let mut e = Reader::new(seq.value);
    while !e.is_empty() {
        let ext = e.read(TAG_SEQUENCE)?;
        let mut x = Reader::new(ext.value);
        let oid = x.read(der::TAG_OID)?;
        x.read_optional(0x01)?; // critical BOOLEAN
        let val = x.read(TAG_OCTET_STRING)?;
        if oid.raw == OID_NONCE {
            return Ok(Some(val.value));
        }
    }
    Ok(None)
}
