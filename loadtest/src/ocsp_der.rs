//! The little OCSP DER the harness needs: building an `OCSPRequest` for one CertID, reading the
//! `responseStatus` of an `OCSPResponse`, and the serial number of a certificate.

use sigil_shared::der::{
    self, push_header, push_tlv, tlv_len, DerError, Reader, TAG_ENUMERATED, TAG_INTEGER,
    TAG_OCTET_STRING, TAG_SEQUENCE,
};
use sigil_shared::ocsp::{CertIdKey, HashAlg};

/// DER `OCSPRequest` (no nonce, no signature) asking about one certificate:
///
/// ```text
/// OCSPRequest { tbsRequest { requestList { Request { reqCert CertID {
///     hashAlgorithm, issuerNameHash, issuerKeyHash, serialNumber } } } } }
/// ```
///
/// `serial` holds the INTEGER content octets (as in a certificate: minimal, positive).
pub fn build_request(alg: HashAlg, name_hash: &[u8], key_hash: &[u8], serial: &[u8]) -> Vec<u8> {
    let alg_id = alg.algorithm_identifier();
    let cert_id_len =
        alg_id.len() + tlv_len(name_hash.len()) + tlv_len(key_hash.len()) + tlv_len(serial.len());
    let request_len = tlv_len(cert_id_len);
    let list_len = tlv_len(request_len);
    let tbs_len = tlv_len(list_len);
    let ocsp_len = tlv_len(tbs_len);
    let mut out = Vec::with_capacity(tlv_len(ocsp_len));
    push_header(&mut out, TAG_SEQUENCE, ocsp_len); // OCSPRequest
    push_header(&mut out, TAG_SEQUENCE, tbs_len); // TBSRequest
    push_header(&mut out, TAG_SEQUENCE, list_len); // requestList
    push_header(&mut out, TAG_SEQUENCE, request_len); // Request
    push_header(&mut out, TAG_SEQUENCE, cert_id_len); // CertID
    out.extend_from_slice(alg_id);
    push_tlv(&mut out, TAG_OCTET_STRING, name_hash);
    push_tlv(&mut out, TAG_OCTET_STRING, key_hash);
    push_tlv(&mut out, TAG_INTEGER, serial);
    out
}

/// [`build_request`] for a lookup key (as the control plane stores and replicates them).
pub fn request_for_key(key: &CertIdKey) -> Option<Vec<u8>> {
    let alg = key.alg()?;
    let prefix = key.issuer_prefix();
    if prefix.len() != 1 + 2 * alg.digest_len() {
        return None;
    }
    let (name_hash, key_hash) = prefix[1..].split_at(alg.digest_len());
    Some(build_request(alg, name_hash, key_hash, key.serial()))
}

/// `OCSPResponseStatus` as it appears on the wire (RFC 6960 §4.2.1): the ENUMERATED of the
/// outer `OCSPResponse` SEQUENCE. Values outside the defined set are returned as they are.
pub fn response_status(body: &[u8]) -> Result<u8, DerError> {
    let resp = der::read_single(body, TAG_SEQUENCE)?;
    let status = Reader::new(resp.value).read(TAG_ENUMERATED)?;
    match status.value {
        [code] => Ok(*code),
        _ => Err(DerError::BadInteger),
    }
}

/// Serial number (INTEGER content octets) of a DER certificate.
pub fn certificate_serial(cert_der: &[u8]) -> Result<&[u8], DerError> {
    let cert = der::read_single(cert_der, TAG_SEQUENCE)?;
    let tbs = Reader::new(cert.value).read(TAG_SEQUENCE)?;
    let mut t = Reader::new(tbs.value);
    t.read_optional(der::ctx_cons(0))?; // version
    Ok(t.read(TAG_INTEGER)?.value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use sigil_shared::ocsp::decode_request;

    #[test]
    fn built_requests_decode_to_the_same_key() {
        for alg in HashAlg::ALL {
            let n = alg.digest_len();
            for serial in [&[0x01][..], &[0x10, 0, 0, 0, 0, 0, 0, 7], &[0x7f; 20]] {
                let (nh, kh) = (vec![0xaa; n], vec![0xbb; n]);
                let der = build_request(alg, &nh, &kh, serial);
                let parsed = decode_request(&der).unwrap();
                assert_eq!(parsed.certs.len(), 1);
                let key = parsed.certs[0].key().unwrap();
                assert_eq!(key, CertIdKey::new(alg, &nh, &kh, serial));
                assert_eq!(request_for_key(&key).unwrap(), der);
            }
        }
    }

    #[test]
    fn matches_the_wrk_script_bytes() {
        // benches/peers/ocsp-request.lua builds the same SHA-1 request by hand.
        let der = build_request(
            HashAlg::Sha1,
            &[1; 20],
            &[2; 20],
            &[0x10, 0, 0, 0, 0, 0, 0, 3],
        );
        let mut expected = b"\x30\x49\x30\x47\x30\x45\x30\x43\x30\x41\x30\x09\x06\x05\x2b\x0e\x03\x02\x1a\x05\x00\x04\x14".to_vec();
        expected.extend([1; 20]);
        expected.extend([4, 20]);
        expected.extend([2; 20]);
        expected.extend([2, 8, 0x10, 0, 0, 0, 0, 0, 0, 3]);
        assert_eq!(der, expected);
    }

    #[test]
    fn response_status_reads_the_enumerated() {
        assert_eq!(response_status(&[0x30, 0x03, 0x0a, 0x01, 0x06]), Ok(6));
        assert_eq!(response_status(&[0x30, 0x03, 0x0a, 0x01, 0x00]), Ok(0));
        // Successful responses carry responseBytes after the status.
        let ok = [0x30, 0x07, 0x0a, 0x01, 0x00, 0xa0, 0x02, 0x05, 0x00];
        assert_eq!(response_status(&ok), Ok(0));
        assert!(response_status(&[0x30, 0x03, 0x02, 0x01, 0x00]).is_err());
        assert!(response_status(&[0x30, 0x04, 0x0a, 0x02, 0x00, 0x01]).is_err());
        assert!(response_status(b"<html>").is_err());
        assert!(response_status(&[]).is_err());
        assert!(response_status(&[0x30, 0x05, 0x0a, 0x01]).is_err());
    }
}
