//! The little OCSP DER the harness reads: the `responseStatus` of an `OCSPResponse` and the
//! serial number of a certificate. Requests are built with `sigil_shared::ocsp::encode_request`.

use sigil_shared::der::{self, DerError, Reader, TAG_ENUMERATED, TAG_INTEGER, TAG_SEQUENCE};

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
    use sigil_shared::ocsp::{
        decode_request, encode_request, encode_request_for_key, CertIdFields, CertIdKey, HashAlg,
    };

    /// The harness's requests: `encode_request` for one CertID, `encode_request_for_key` for
    /// a replicated lookup key.
    fn build_request(alg: HashAlg, name_hash: &[u8], key_hash: &[u8], serial: &[u8]) -> Vec<u8> {
        encode_request(&[CertIdFields::new(alg, name_hash, key_hash, serial)])
    }

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
                assert_eq!(encode_request_for_key(&key).unwrap(), der);
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
