//! The selection rules against a map: every route's rule, the DER request, certctl's serial.

use std::collections::HashMap;

use sigil_shared::ocsp::{encode_request, CertIdFields, CertIdKey, HashAlg};

use super::*;

struct Map(HashMap<Vec<u8>, Rc<Rendered>>);
impl OcspLookup for Map {
    fn lookup(&self, key: &[u8]) -> Option<Found> {
        self.0.get(key).cloned().map(Found::Rendered)
    }
}

/// A DER OCSPRequest with `n` CertIDs (hash algorithm OID `alg_oid`) for serial 0x42.
fn request(n: usize, alg_oid: &[u8]) -> Vec<u8> {
    request_for(n, alg_oid, &[0x42])
}

fn request_for(n: usize, alg_oid: &[u8], serial: &[u8]) -> Vec<u8> {
    let mut alg = Vec::new();
    sigil_shared::der::push_tlv(&mut alg, 0x30, &[alg_oid, &[0x05, 0x00]].concat());
    let cert_id = CertIdFields {
        hash_algorithm: &alg,
        issuer_name_hash: &[0x11; 20],
        issuer_key_hash: &[0x22; 20],
        serial,
    };
    encode_request(&vec![cert_id; n])
}

const SHA1: &[u8] = &[0x06, 0x05, 0x2b, 0x0e, 0x03, 0x02, 0x1a];
const MD5: &[u8] = &[0x06, 0x08, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x02, 0x05];

fn map(next_update: i64) -> Map {
    let key = CertIdKey::new(HashAlg::Sha1, &[0x11; 20], &[0x22; 20], &[0x42]);
    Map(HashMap::from([(
        key.0,
        Rc::new(Rendered::ocsp(vec![0x30, 0], 100, next_update)),
    )]))
}

#[test]
fn selection_rules() {
    let m = map(1000);
    assert!(matches!(
        select(&request(1, SHA1), &m, 500),
        Answer::Found(_)
    ));
    assert!(matches!(
        select(&request(1, SHA1), &m, 1000),
        Answer::Error(ResponseStatus::TryLater)
    ));
    assert!(matches!(
        select(&request(2, SHA1), &m, 500),
        Answer::Error(ResponseStatus::MalformedRequest)
    ));
    assert!(matches!(
        select(&request(1, MD5), &m, 500),
        Answer::Error(ResponseStatus::Unauthorized)
    ));
    assert!(matches!(
        select(b"\x30\x03junk", &m, 500),
        Answer::Error(ResponseStatus::MalformedRequest)
    ));
    // A serial too long for the stack key buffer is still looked up (on the heap).
    let long = [0x01; 300];
    let key = CertIdKey::new(HashAlg::Sha1, &[0x11; 20], &[0x22; 20], &long);
    let long_map = Map(HashMap::from([(
        key.0,
        Rc::new(Rendered::ocsp(vec![0x30, 0], 100, 1000)),
    )]));
    assert!(matches!(
        select(&request_for(1, SHA1, &long), &long_map, 500),
        Answer::Found(_)
    ));
    assert!(matches!(
        select(&request_for(1, SHA1, &long), &m, 500),
        Answer::Error(ResponseStatus::Unauthorized)
    ));
    let empty = Map(HashMap::new());
    assert!(matches!(
        select(&request(1, SHA1), &empty, 500),
        Answer::Error(ResponseStatus::Unauthorized)
    ));
}

#[test]
fn every_route_answers_by_one_rule() {
    let r = || {
        Some(Found::Rendered(Rc::new(Rendered::ocsp(
            vec![0x30, 0],
            100,
            1000,
        ))))
    };
    assert!(matches!(decide(r(), 999), Answer::Found(_)));
    assert_eq!(decide(r(), 1000).status(), ResponseStatus::TryLater);
    assert_eq!(decide(None, 0).status(), ResponseStatus::Unauthorized);
    assert_eq!(decide(r(), 0).status(), ResponseStatus::Successful);
}

fn hashes() -> Vec<IssuerHashes> {
    HashAlg::ALL
        .iter()
        .map(|&alg| IssuerHashes {
            alg,
            name_hash: vec![0x11; alg.digest_len()],
            key_hash: vec![0x22; alg.digest_len()],
        })
        .collect()
}

fn entry(alg: HashAlg, serial: &[u8], next_update: i64) -> (Vec<u8>, Rc<Rendered>) {
    let n = alg.digest_len();
    let key = CertIdKey::new(alg, &vec![0x11; n], &vec![0x22; n], serial);
    let body = vec![0x30, alg.code()];
    (key.0, Rc::new(Rendered::ocsp(body, 100, next_update)))
}

fn served(a: &Answer) -> Option<u8> {
    match a {
        Answer::Found(Found::Rendered(r)) => Some(r.body[1]),
        _ => None,
    }
}

#[test]
fn by_serial_prefers_sha256_and_follows_the_same_rule() {
    let both = Map(HashMap::from([
        entry(HashAlg::Sha1, &[0x42], 1000),
        entry(HashAlg::Sha256, &[0x42], 1000),
    ]));
    let sha1_only = Map(HashMap::from([entry(HashAlg::Sha1, &[0x42], 1000)]));
    let h = hashes();
    assert_eq!(served(&select_by_serial(&h, "42", &both, 500)), Some(2));
    assert_eq!(
        served(&select_by_serial(&h, "42", &sha1_only, 500)),
        Some(1)
    );
    // The hex of the INTEGER content octets: "0x" and leading zero octets are accepted.
    for hex in ["0x42", "0042", "0x000042", "000000000042"] {
        assert_eq!(
            served(&select_by_serial(&h, hex, &both, 500)),
            Some(2),
            "{hex}"
        );
    }
    assert_eq!(
        select_by_serial(&h, "42", &both, 1000).status(),
        ResponseStatus::TryLater
    );
    assert_eq!(
        select_by_serial(&h, "43", &both, 500).status(),
        ResponseStatus::Unauthorized
    );
    assert_eq!(
        select_by_serial(&[], "42", &both, 500).status(),
        ResponseStatus::Unauthorized
    );
    // An expired SHA-256 response is not passed over for a SHA-1 one.
    let mixed = Map(HashMap::from([
        entry(HashAlg::Sha1, &[0x42], 2000),
        entry(HashAlg::Sha256, &[0x42], 1000),
    ]));
    assert_eq!(
        select_by_serial(&h, "42", &mixed, 1500).status(),
        ResponseStatus::TryLater
    );
}

#[test]
fn by_serial_refuses_what_is_not_a_serial() {
    let m = Map(HashMap::from([entry(HashAlg::Sha256, &[0x00, 0x80], 1000)]));
    let h = hashes();
    assert_eq!(served(&select_by_serial(&h, "0080", &m, 500)), Some(2));
    let twenty = "7f".repeat(20);
    let twenty_one = "7f".repeat(21);
    let long_zeros = format!("{}{twenty}", "00".repeat(44)); // 64 octets in all
    let too_long_zeros = format!("{}{twenty}", "00".repeat(45));
    assert_eq!(
        select_by_serial(&h, &twenty, &m, 500).status(),
        ResponseStatus::Unauthorized
    );
    assert_eq!(
        select_by_serial(&h, &long_zeros, &m, 500).status(),
        ResponseStatus::Unauthorized
    );
    for bad in [
        "",
        "0x",
        "4",
        "xyz1",
        "42 ",
        "-42",
        &twenty_one,
        &too_long_zeros,
    ] {
        assert_eq!(
            select_by_serial(&h, bad, &m, 500).status(),
            ResponseStatus::MalformedRequest,
            "{bad:?}"
        );
    }
}
