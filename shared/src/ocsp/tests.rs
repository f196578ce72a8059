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

/// DER of an `AlgorithmIdentifier` for a hash OID (content octets), with NULL parameters or
/// none.
fn hash_alg_id(oid: &[u8], null: bool) -> Vec<u8> {
    let mut value = Vec::new();
    crate::der::push_tlv(&mut value, crate::der::TAG_OID, oid);
    if null {
        value.extend_from_slice(&[0x05, 0x00]);
    }
    let mut out = Vec::new();
    crate::der::push_tlv(&mut out, crate::der::TAG_SEQUENCE, &value);
    out
}

/// OID content octets of hash algorithms: two Sigil signs for, three it does not.
const HASH_OIDS: [(&[u8], Option<HashAlg>); 5] = [
    (&[0x2b, 0x0e, 0x03, 0x02, 0x1a], Some(HashAlg::Sha1)),
    (
        &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01],
        Some(HashAlg::Sha256),
    ),
    (
        &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x02],
        None,
    ), // SHA-384
    (
        &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x03],
        None,
    ), // SHA-512
    (&[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x02, 0x05], None), // MD5
];

/// Minimal, positive INTEGER content octets of a big-endian unsigned number (1..=21 octets).
fn positive_serial(raw: &[u8]) -> Vec<u8> {
    let mut s = vec![0];
    s.extend_from_slice(raw);
    crate::der::canonical_uint(&s).unwrap().to_vec()
}

/// One generated CertID: algorithm index, NULL parameters or not, hashes, serial.
type GenCertId = (usize, bool, Vec<u8>, Vec<u8>, Vec<u8>);

fn gen_cert_id() -> impl Strategy<Value = GenCertId> {
    (
        0..HASH_OIDS.len(),
        any::<bool>(),
        prop::collection::vec(any::<u8>(), 0..70),
        prop::collection::vec(any::<u8>(), 0..70),
        prop::collection::vec(any::<u8>(), 1..21).prop_map(|raw| positive_serial(&raw)),
    )
}

#[test]
fn encoded_request_for_a_key_is_the_one_x509_ocsp_encodes() {
    for alg in HashAlg::ALL {
        for serial in [&[0x01][..], &[0x00, 0x80], &[0x7f; 20]] {
            let key = sample_key(alg, serial);
            let der = encode_request_for_key(&key).unwrap();
            assert_eq!(der, x509_request(alg, serial));
            assert_eq!(decode_request(&der).unwrap().certs[0].key().unwrap(), key);
        }
    }
    assert_eq!(encode_request_for_key(&CertIdKey(vec![7, 1, 2])), None);
    assert_eq!(encode_request_for_key(&CertIdKey(vec![1; 30])), None);
    // An empty list encodes, and is refused by the decoder.
    assert_eq!(encode_request(&[]), [0x30, 0x04, 0x30, 0x02, 0x30, 0x00]);
    assert_eq!(
        decode_request(&encode_request(&[])).unwrap_err(),
        OcspRequestError::Empty
    );
}

proptest! {
    #[test]
    fn encoded_request_decodes_with_x509_ocsp(certs in prop::collection::vec(gen_cert_id(), 1..5)) {
        let alg_ids: Vec<Vec<u8>> = certs.iter().map(|(a, null, ..)| hash_alg_id(HASH_OIDS[*a].0, *null)).collect();
        let fields: Vec<CertIdFields<'_>> = certs
            .iter()
            .zip(&alg_ids)
            .map(|((_, _, nh, kh, serial), alg_id)| CertIdFields {
                hash_algorithm: alg_id,
                issuer_name_hash: nh,
                issuer_key_hash: kh,
                serial,
            })
            .collect();
        let der = encode_request(&fields);

        let x = OcspRequest::from_der(&der).unwrap();
        prop_assert!(x.optional_signature.is_none());
        prop_assert_eq!(x.tbs_request.version, Version::V1);
        prop_assert!(x.tbs_request.requestor_name.is_none());
        prop_assert!(x.tbs_request.request_extensions.is_none());
        prop_assert_eq!(x.tbs_request.request_list.len(), fields.len());
        for (req, f) in x.tbs_request.request_list.iter().zip(&fields) {
            let id = &req.req_cert;
            prop_assert!(req.single_request_extensions.is_none());
            prop_assert_eq!(id.hash_algorithm.to_der().unwrap(), f.hash_algorithm);
            prop_assert_eq!(id.issuer_name_hash.as_bytes(), f.issuer_name_hash);
            prop_assert_eq!(id.issuer_key_hash.as_bytes(), f.issuer_key_hash);
            prop_assert_eq!(id.serial_number.as_bytes(), f.serial);
        }
        // Canonical DER: x509-ocsp encodes the same value to the same bytes.
        prop_assert_eq!(x.to_der().unwrap(), der.clone());

        // And Sigil's own decoder reads back every CertID.
        let parsed = decode_request(&der).unwrap();
        prop_assert_eq!(parsed.certs.len(), fields.len());
        prop_assert!(parsed.nonce.is_none());
        for (got, (a, _, nh, kh, serial)) in parsed.certs.iter().zip(&certs) {
            prop_assert_eq!(got.alg, HASH_OIDS[*a].1);
            prop_assert_eq!((got.name_hash, got.key_hash, got.serial), (&nh[..], &kh[..], &serial[..]));
        }
        let first = decode_request_first(&der).unwrap();
        prop_assert_eq!(first.count, fields.len());
        prop_assert_eq!(first.cert.serial, &certs[0].4[..]);
    }
}
