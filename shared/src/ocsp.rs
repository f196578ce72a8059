//! OCSP (RFC 6960) on the wire: request decoding and encoding, CertID lookup keys and response
//! encoding.
//!
//! The control plane pre-signs one `BasicOCSPResponse` per certificate and CertID hash
//! algorithm; the data plane decodes a request, derives the same [`CertIdKey`] from it and
//! returns the stored bytes. Both sides use only the functions here, so the key derivation
//! cannot drift between them.

mod certid;
mod encode_request;
mod request;
mod response;
pub mod splice;
#[cfg(test)]
mod tests;

pub use certid::{
    all_issuer_hashes, issuer_hashes, key_id_of_spki, subject_and_spki, subject_public_key_bits,
    CertIdKey, HashAlg, IssuerHashes,
};
pub use encode_request::{encode_request, encode_request_for_key, CertIdFields};
pub use request::{
    decode_request, decode_request_first, FirstCert, OcspRequestError, ParsedRequest, RequestedCert,
};
pub use response::{
    encode_basic_response, error_response, parse_response_times, status_response, CertStatus,
    ResponderTemplate, ResponseStatus, ResponseTimes, RevocationReason, SingleResponse,
    OID_PKIX_OCSP_BASIC,
};
