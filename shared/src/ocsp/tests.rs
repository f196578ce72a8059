//! Cross-checks the hand-written encoder/decoder against RustCrypto's `x509-ocsp` types.

use ::der::{asn1::OctetString, Decode, Encode};
use proptest::prelude::*;
use x509_cert::serial_number::SerialNumber;
use x509_cert::spki::AlgorithmIdentifierOwned;
use x509_ocsp::{
    BasicOcspResponse, CertId, OcspRequest, OcspResponse, Request, TbsRequest, Version,
};

use super::*;

fn sample_key(alg: HashAlg, serial: &[u8]) -> CertIdKey {
    CertIdKey::new(
        alg,
        &vec![0x11; alg.digest_len()],
        &vec![0x22; alg.digest_len()],
        serial,
    )
}

fn x509_request(alg: HashAlg, serial: &[u8]) -> Vec<u8> {
    let oid = match alg {
        HashAlg::Sha1 => const_oid::db::rfc5912::ID_SHA_1,
        HashAlg::Sha256 => const_oid::db::rfc5912::ID_SHA_256,
    };
    let cert_id = CertId {
        hash_algorithm: AlgorithmIdentifierOwned {
            oid,
            parameters: Some(::der::asn1::Null.into()),
        },
        issuer_name_hash: OctetString::new(vec![0x11; alg.digest_len()]).unwrap(),
        issuer_key_hash: OctetString::new(vec![0x22; alg.digest_len()]).unwrap(),
        serial_number: SerialNumber::new(serial).unwrap(),
    };
    let req = OcspRequest {
        tbs_request: TbsRequest {
            version: Version::V1,
            requestor_name: None,
            request_list: vec![Request {
                req_cert: cert_id,
                single_request_extensions: None,
            }],
            request_extensions: None,
        },
        optional_signature: None,
    };
    req.to_der().unwrap()
}

#[test]
fn decodes_request_built_by_x509_ocsp() {
    let der = x509_request(HashAlg::Sha256, &[0x01, 0x02, 0x03]);
    let parsed = decode_request(&der).unwrap();
    assert_eq!(parsed.certs.len(), 1);
    assert_eq!(
        parsed.certs[0].key().unwrap(),
        sample_key(HashAlg::Sha256, &[0x01, 0x02, 0x03])
    );
    assert!(parsed.nonce.is_none());
}

#[test]
fn rejects_malformed_requests() {
    let der = x509_request(HashAlg::Sha1, &[0x42]);
    for cut in 0..der.len() {
        assert!(decode_request(&der[..cut]).is_err(), "truncated at {cut}");
    }
    let mut trailing = der.clone();
    trailing.push(0);
    assert!(decode_request(&trailing).is_err());
    assert!(decode_request(b"GET / HTTP/1.1").is_err());
    for cut in 0..der.len() {
        assert!(
            decode_request_first(&der[..cut]).is_err(),
            "truncated at {cut}"
        );
    }
    assert!(decode_request_first(&trailing).is_err());
}

#[test]
fn unsupported_hash_is_not_a_key() {
    let mut der = x509_request(HashAlg::Sha1, &[0x42]);
    // Flip the last OID arc of id-sha1 (…1a → …1b): well-formed DER, unknown algorithm.
    let pos = der
        .windows(7)
        .position(|w| w == [0x06, 0x05, 0x2b, 0x0e, 0x03, 0x02, 0x1a])
        .unwrap();
    der[pos + 6] = 0x1b;
    let parsed = decode_request(&der).unwrap();
    assert!(parsed.certs[0].alg.is_none());
    assert!(parsed.certs[0].key().is_none());
    assert!(decode_request_first(&der).unwrap().cert.key_len().is_none());
}

fn encode(status: CertStatus, alg: HashAlg, serial: &[u8]) -> Vec<u8> {
    let key = sample_key(alg, serial);
    let tpl = ResponderTemplate::new(
        &[0x33; 20],
        vec![0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70],
        &[],
    );
    let single = SingleResponse {
        cert_id: &key,
        status,
        this_update: 1_700_000_000,
        next_update: 1_700_345_600,
    };
    let data = tpl.response_data(1_700_000_100, &single);
    tpl.finish(&data, &[0xaa; 64])
}

#[test]
fn encoded_response_decodes_with_x509_ocsp() {
    let cases = [
        CertStatus::Good,
        CertStatus::Unknown,
        CertStatus::Revoked {
            time: 1_690_000_000,
            reason: Some(RevocationReason::KeyCompromise),
        },
        CertStatus::Revoked {
            time: 1_690_000_000,
            reason: None,
        },
    ];
    for status in cases {
        let der = encode(status, HashAlg::Sha1, &[0x00, 0x80, 0x01]);
        let resp = OcspResponse::from_der(&der).unwrap();
        let bytes = resp.response_bytes.unwrap();
        let basic = BasicOcspResponse::from_der(bytes.response.as_bytes()).unwrap();
        let single = &basic.tbs_response_data.responses[0];
        assert_eq!(single.cert_id.serial_number.as_bytes(), &[0x00, 0x80, 0x01]);
        assert_eq!(basic.signature.raw_bytes(), &[0xaa; 64]);
        let x_status = match single.cert_status {
            x509_ocsp::CertStatus::Good(_) => "good",
            x509_ocsp::CertStatus::Revoked(_) => "revoked",
            x509_ocsp::CertStatus::Unknown(_) => "unknown",
        };
        let want = match status {
            CertStatus::Good => "good",
            CertStatus::Revoked { .. } => "revoked",
            CertStatus::Unknown => "unknown",
        };
        assert_eq!(x_status, want);
        let times = parse_response_times(&der).unwrap();
        assert_eq!(times.this_update, 1_700_000_000);
        assert_eq!(times.next_update, Some(1_700_345_600));
        assert_eq!(times.produced_at, 1_700_000_100);
        assert_eq!(status_response(&der).unwrap(), ResponseStatus::Successful);
    }
}

#[test]
fn error_responses_are_valid() {
    for st in [
        ResponseStatus::MalformedRequest,
        ResponseStatus::TryLater,
        ResponseStatus::Unauthorized,
    ] {
        let der = error_response(st);
        let resp = OcspResponse::from_der(&der).unwrap();
        assert!(resp.response_bytes.is_none());
        assert_eq!(status_response(&der).unwrap(), st);
    }
}

proptest! {
    #[test]
    fn request_round_trip(serial in prop::collection::vec(any::<u8>(), 1..21), sha256 in any::<bool>()) {
        let alg = if sha256 { HashAlg::Sha256 } else { HashAlg::Sha1 };
        // SerialNumber requires a positive, minimally encoded INTEGER.
        let mut s = serial.clone();
        s[0] &= 0x7f;
        let canon = crate::der::canonical_uint(&s).unwrap().to_vec();
        let der = x509_request(alg, &canon);
        let parsed = decode_request(&der).unwrap();
        let key = parsed.certs[0].key().unwrap();
        // The allocation-free decoding agrees.
        let first = decode_request_first(&der).unwrap();
        prop_assert_eq!(first.count, 1);
        let mut buf = vec![0; first.cert.key_len().unwrap()];
        first.cert.write_key(&mut buf);
        prop_assert_eq!(&buf[..], key.as_bytes());
        prop_assert_eq!(key.serial(), &canon[..]);
        prop_assert_eq!(key.alg(), Some(alg));
        prop_assert_eq!(key.issuer_prefix().len(), 1 + 2 * alg.digest_len());
    }

    #[test]
    fn response_round_trip(serial in prop::collection::vec(1u8..0x7f, 1..20),
                           revoked_at in 0i64..4_000_000_000, reason in 0usize..9, good in any::<bool>()) {
        let status = if good { CertStatus::Good } else {
            CertStatus::Revoked { time: revoked_at, reason: Some(RevocationReason::ALL[reason]) }
        };
        let der = encode(status, HashAlg::Sha256, &serial);
        let resp = OcspResponse::from_der(&der).unwrap();
        let basic = BasicOcspResponse::from_der(resp.response_bytes.unwrap().response.as_bytes()).unwrap();
        let re = basic.tbs_response_data.to_der().unwrap();
        // Our ResponseData bytes are exactly what x509-ocsp re-encodes: canonical DER.
        let key = sample_key(HashAlg::Sha256, &serial);
        let tpl = ResponderTemplate::new(&[0x33; 20], vec![0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70], &[]);
        let single = SingleResponse { cert_id: &key, status, this_update: 1_700_000_000, next_update: 1_700_345_600 };
        prop_assert_eq!(re, tpl.response_data(1_700_000_100, &single));
    }
}
