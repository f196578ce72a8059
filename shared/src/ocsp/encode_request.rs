//! Encoding an OCSPRequest (RFC 6960 §4.1.1): the client side, for load generators,
//! benchmarks and tests. No nonce, no requestor name, no signature: what RFC 5019 §2.1.1
//! clients send.
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
//! CertID ::= SEQUENCE {
//!     hashAlgorithm       AlgorithmIdentifier,
//!     issuerNameHash      OCTET STRING, -- Hash of issuer's DN
//!     issuerKeyHash       OCTET STRING, -- Hash of issuer's public key
//!     serialNumber        CertificateSerialNumber }
//! ```

use super::certid::{CertIdKey, HashAlg};
use crate::der::{push_header, push_tlv, tlv_len, TAG_INTEGER, TAG_OCTET_STRING, TAG_SEQUENCE};

/// One CertID to ask about, as it goes on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CertIdFields<'a> {
    /// DER of the whole `AlgorithmIdentifier` (SEQUENCE, OID, parameters): any algorithm,
    /// including ones no responder signs for.
    pub hash_algorithm: &'a [u8],
    pub issuer_name_hash: &'a [u8],
    pub issuer_key_hash: &'a [u8],
    /// INTEGER content octets, written as given (a certificate's are minimal and positive).
    pub serial: &'a [u8],
}

impl<'a> CertIdFields<'a> {
    /// A CertID hashed with `alg` (its AlgorithmIdentifier with NULL parameters).
    pub fn new(alg: HashAlg, name_hash: &'a [u8], key_hash: &'a [u8], serial: &'a [u8]) -> Self {
        Self {
            hash_algorithm: alg.algorithm_identifier(),
            issuer_name_hash: name_hash,
            issuer_key_hash: key_hash,
            serial,
        }
    }

    /// The CertID a lookup key stands for; `None` if the key is not well formed.
    pub fn of_key(key: &'a CertIdKey) -> Option<Self> {
        let alg = key.alg()?;
        let prefix = key.issuer_prefix();
        if prefix.len() != 1 + 2 * alg.digest_len() {
            return None;
        }
        let (name_hash, key_hash) = prefix[1..].split_at(alg.digest_len());
        Some(Self::new(alg, name_hash, key_hash, key.serial()))
    }

    /// Length of the CertID's value.
    fn value_len(&self) -> usize {
        self.hash_algorithm.len()
            + tlv_len(self.issuer_name_hash.len())
            + tlv_len(self.issuer_key_hash.len())
            + tlv_len(self.serial.len())
    }
}

/// DER `OCSPRequest` asking about `certs`, in order, in one allocation of the exact size.
/// An empty `certs` gives an empty requestList, which responders refuse (`malformedRequest`).
pub fn encode_request(certs: &[CertIdFields<'_>]) -> Vec<u8> {
    // Request ::= SEQUENCE { reqCert CertID }: a CertID TLV inside a SEQUENCE.
    let request_len = |c: &CertIdFields<'_>| tlv_len(tlv_len(c.value_len()));
    let list_len: usize = certs.iter().map(request_len).sum();
    let tbs_len = tlv_len(list_len);
    let ocsp_len = tlv_len(tbs_len);
    let mut out = Vec::with_capacity(tlv_len(ocsp_len));
    push_header(&mut out, TAG_SEQUENCE, ocsp_len); // OCSPRequest
    push_header(&mut out, TAG_SEQUENCE, tbs_len); // TBSRequest
    push_header(&mut out, TAG_SEQUENCE, list_len); // requestList
    for c in certs {
        let cert_id_len = c.value_len();
        push_header(&mut out, TAG_SEQUENCE, tlv_len(cert_id_len)); // Request
        push_header(&mut out, TAG_SEQUENCE, cert_id_len); // CertID
        out.extend_from_slice(c.hash_algorithm);
        push_tlv(&mut out, TAG_OCTET_STRING, c.issuer_name_hash);
        push_tlv(&mut out, TAG_OCTET_STRING, c.issuer_key_hash);
        push_tlv(&mut out, TAG_INTEGER, c.serial);
    }
    debug_assert_eq!(out.len(), out.capacity());
    out
}

/// [`encode_request`] for the one CertID a lookup key stands for (as the control plane
/// stores and replicates them); `None` if the key is not well formed.
pub fn encode_request_for_key(key: &CertIdKey) -> Option<Vec<u8>> {
    Some(encode_request(&[CertIdFields::of_key(key)?]))
}
