//! Taking a successful `OCSPResponse` apart into its signed part and its certificate list, and
//! putting it back together byte for byte.
//!
//! RFC 6960 §4.2.1:
//!
//! ```text
//! OCSPResponse ::= SEQUENCE { responseStatus ENUMERATED, responseBytes [0] EXPLICIT ResponseBytes }
//! ResponseBytes ::= SEQUENCE { responseType OBJECT IDENTIFIER, response OCTET STRING }
//! BasicOCSPResponse ::= SEQUENCE {
//!    tbsResponseData ResponseData, signatureAlgorithm AlgorithmIdentifier,
//!    signature BIT STRING, certs [0] EXPLICIT SEQUENCE OF Certificate OPTIONAL }
//! ```
//!
//! `certs` (a delegated responder's certificate, RFC 6960 §4.2.2.2) lies outside the signed
//! `tbsResponseData`, and every response signed by the same responder carries the same bytes.
//! The data plane's index stores each response without them and the distinct lists once, and
//! splices them back when serving: about 60 % less to keep in memory for ECDSA responders.
//! Everything around the basic response is determined by its length (DER), so
//! [`assemble`] of [`split`] gives back the original encoding exactly when it was DER.

use crate::der::{self, ctx_cons, push_header, tlv_len, DerError, Reader};
use crate::der::{TAG_BIT_STRING, TAG_ENUMERATED, TAG_OCTET_STRING, TAG_OID, TAG_SEQUENCE};

use super::response::OID_PKIX_OCSP_BASIC;

/// A successful response in two parts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Split<'a> {
    /// `tbsResponseData`, `signatureAlgorithm` and `signature`, as encoded.
    pub signed: &'a [u8],
    /// The encoded `certs [0]` element, or empty.
    pub certs: &'a [u8],
}

/// Splits a successful `OCSPResponse` carrying a `BasicOCSPResponse`; `None` for anything
/// else (an error response, another response type, malformed DER).
pub fn split(response: &[u8]) -> Option<Split<'_>> {
    split_der(response).ok().flatten()
}

fn split_der(response: &[u8]) -> Result<Option<Split<'_>>, DerError> {
    let resp = der::read_single(response, TAG_SEQUENCE)?;
    let mut r = Reader::new(resp.value);
    if r.read(TAG_ENUMERATED)?.value != [0] {
        return Ok(None);
    }
    let rb = der::read_single(r.read(ctx_cons(0))?.value, TAG_SEQUENCE)?;
    r.finish()?;
    let mut b = Reader::new(rb.value);
    if b.read(TAG_OID)?.raw != OID_PKIX_OCSP_BASIC {
        return Ok(None);
    }
    let basic = der::read_single(b.read(TAG_OCTET_STRING)?.value, TAG_SEQUENCE)?;
    b.finish()?;
    let mut f = Reader::new(basic.value);
    let tbs = f.read(TAG_SEQUENCE)?;
    let alg = f.read(TAG_SEQUENCE)?;
    let sig = f.read(TAG_BIT_STRING)?;
    let certs = f.read_optional(ctx_cons(0))?;
    f.finish()?;
    let signed_len = tbs.raw.len() + alg.raw.len() + sig.raw.len();
    Ok(Some(Split {
        signed: &basic.value[..signed_len],
        certs: certs.map_or(&[][..], |c| c.raw),
    }))
}

/// Length of the `OCSPResponse` that [`assemble`] writes.
pub fn assembled_len(signed_len: usize, certs_len: usize) -> usize {
    let (_, _, resp_len) = lengths(signed_len + certs_len);
    tlv_len(resp_len)
}

/// (BasicOCSPResponse content, ResponseBytes content, OCSPResponse content) lengths.
fn lengths(basic_len: usize) -> (usize, usize, usize) {
    let bytes_len = OID_PKIX_OCSP_BASIC.len() + tlv_len(tlv_len(basic_len));
    let resp_len = 3 + tlv_len(tlv_len(bytes_len));
    (basic_len, bytes_len, resp_len)
}

/// Appends the headers of a successful `OCSPResponse` whose `BasicOCSPResponse` content is
/// `basic_len` bytes long; the caller appends that content.
pub fn push_envelope(out: &mut Vec<u8>, basic_len: usize) {
    let (basic_len, bytes_len, resp_len) = lengths(basic_len);
    push_header(out, TAG_SEQUENCE, resp_len);
    out.extend_from_slice(&[TAG_ENUMERATED, 1, 0]);
    push_header(out, ctx_cons(0), tlv_len(bytes_len));
    push_header(out, TAG_SEQUENCE, bytes_len);
    out.extend_from_slice(OID_PKIX_OCSP_BASIC);
    push_header(out, TAG_OCTET_STRING, tlv_len(basic_len));
    push_header(out, TAG_SEQUENCE, basic_len);
}

/// Appends the `OCSPResponse` made of `signed` and `certs` (as returned by [`split`]).
pub fn assemble(out: &mut Vec<u8>, signed: &[u8], certs: &[u8]) {
    push_envelope(out, signed.len() + certs.len());
    out.extend_from_slice(signed);
    out.extend_from_slice(certs);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ocsp::encode_basic_response;
    use proptest::prelude::*;

    fn tlv(tag: u8, value: &[u8]) -> Vec<u8> {
        let mut v = Vec::new();
        der::push_tlv(&mut v, tag, value);
        v
    }

    proptest! {
        #[test]
        fn split_then_assemble_is_identity(
            data in proptest::collection::vec(any::<u8>(), 0..400),
            sig in proptest::collection::vec(any::<u8>(), 1..600),
            cert in proptest::collection::vec(any::<u8>(), 0..2000),
            with_certs in any::<bool>(),
        ) {
            let response_data = tlv(TAG_SEQUENCE, &data);
            let alg = tlv(TAG_SEQUENCE, &tlv(TAG_OID, &[0x2a, 0x86, 0x48]));
            let certs = if with_certs {
                tlv(ctx_cons(0), &tlv(TAG_SEQUENCE, &tlv(TAG_SEQUENCE, &cert)))
            } else {
                Vec::new()
            };
            let der = encode_basic_response(&response_data, &alg, &sig, &certs);
            let s = split(&der).unwrap();
            prop_assert_eq!(s.certs, &certs[..]);
            prop_assert!(s.signed.starts_with(&response_data));
            let mut out = Vec::new();
            assemble(&mut out, s.signed, s.certs);
            prop_assert_eq!(out.len(), assembled_len(s.signed.len(), s.certs.len()));
            prop_assert_eq!(out, der);
        }
    }

    #[test]
    fn refuses_what_is_not_a_successful_basic_response() {
        let err = crate::ocsp::error_response(crate::ocsp::ResponseStatus::TryLater);
        assert!(split(&err).is_none());
        assert!(split(b"\x30\x00").is_none());
        let response_data = tlv(TAG_SEQUENCE, &[]);
        let alg = tlv(TAG_SEQUENCE, &[]);
        let mut der = encode_basic_response(&response_data, &alg, &[1, 2], &[]);
        der.push(0); // trailing garbage
        assert!(split(&der).is_none());
    }
}
