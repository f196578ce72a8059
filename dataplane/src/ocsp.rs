//! Choosing the OCSP answer for a request (sans-io: request bytes + lookup → answer).

mod get_path;

pub use get_path::decode_get_path;

use std::rc::Rc;

use sigil_shared::ocsp::{decode_request_first, ResponseStatus};

use crate::index::CoreIndex;
use crate::render::Rendered;

/// Where pre-signed responses come from (a core's cache, index and replica, or a map in
/// tests).
pub trait OcspLookup {
    fn lookup(&self, key: &[u8]) -> Option<Found>;
}

/// A pre-signed response that was found.
#[derive(Debug, Clone)]
pub enum Found {
    /// Rendered and cached by this core.
    Rendered(Rc<Rendered>),
    /// In the index, at this byte offset (headers are written when serving).
    Indexed {
        index: CoreIndex,
        offset: usize,
        next_update: i64,
    },
}

impl Found {
    pub fn next_update(&self) -> i64 {
        match self {
            Found::Rendered(r) => r.next_update,
            Found::Indexed { next_update, .. } => *next_update,
        }
    }
}

/// Lookup keys up to this long are built on the stack: algorithm, two SHA-512-sized hashes
/// and a 63-octet serial.
const KEY_ON_STACK: usize = 192;

/// The answer to one OCSP request.
#[derive(Debug, Clone)]
pub enum Answer {
    Found(Found),
    /// An unsuccessful OCSPResponse with this status.
    Error(ResponseStatus),
}

/// Selects the pre-signed response for a DER request (RFC 6960 §4.1, RFC 5019 §2.1):
/// undecodable → `malformedRequest`; more than one CertID → `malformedRequest` (RFC 5019
/// clients send exactly one; a pre-signed response answers exactly one); a hash algorithm or
/// issuer we do not sign for, or an unknown serial → `unauthorized` (never `good`); a
/// response past its nextUpdate → `tryLater` (it is never served).
pub fn select(der: &[u8], lookup: &impl OcspLookup, now: i64) -> Answer {
    let Ok(req) = decode_request_first(der) else {
        return Answer::Error(ResponseStatus::MalformedRequest);
    };
    if req.count != 1 {
        return Answer::Error(ResponseStatus::MalformedRequest);
    }
    let Some(len) = req.cert.key_len() else {
        return Answer::Error(ResponseStatus::Unauthorized);
    };
    // The key on the stack (no allocation per request); only a serial longer than any
    // RFC 5280 serial (20 octets) by far would need the heap.
    let mut stack = [0u8; KEY_ON_STACK];
    let mut heap = Vec::new();
    let key = match stack.get_mut(..len) {
        Some(k) => k,
        None => {
            heap.resize(len, 0);
            &mut heap[..]
        }
    };
    req.cert.write_key(key);
    match lookup.lookup(key) {
        Some(r) if r.next_update() > now => Answer::Found(r),
        Some(_) => Answer::Error(ResponseStatus::TryLater),
        None => Answer::Error(ResponseStatus::Unauthorized),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sigil_shared::ocsp::{CertIdKey, HashAlg};
    use std::collections::HashMap;

    struct Map(HashMap<Vec<u8>, Rc<Rendered>>);
    impl OcspLookup for Map {
        fn lookup(&self, key: &[u8]) -> Option<Found> {
            self.0.get(key).cloned().map(Found::Rendered)
        }
    }

    /// A DER OCSPRequest with `n` CertIDs (SHA-1) for serial 0x42, written by hand.
    fn request(n: usize, alg_oid: &[u8]) -> Vec<u8> {
        request_for(n, alg_oid, &[0x42])
    }

    fn request_for(n: usize, alg_oid: &[u8], serial: &[u8]) -> Vec<u8> {
        use sigil_shared::der::push_tlv;
        let mut alg = alg_oid.to_vec();
        alg.extend_from_slice(&[0x05, 0x00]);
        let mut cert_id = Vec::new();
        push_tlv(&mut cert_id, 0x30, &alg);
        push_tlv(&mut cert_id, 0x04, &[0x11; 20]);
        push_tlv(&mut cert_id, 0x04, &[0x22; 20]);
        push_tlv(&mut cert_id, 0x02, serial);
        let mut one = Vec::new();
        push_tlv(&mut one, 0x30, &cert_id);
        let mut single = Vec::new();
        push_tlv(&mut single, 0x30, &one);
        let list: Vec<u8> = (0..n).flat_map(|_| single.clone()).collect();
        let mut tbs = Vec::new();
        push_tlv(&mut tbs, 0x30, &list);
        let mut req_body = Vec::new();
        push_tlv(&mut req_body, 0x30, &tbs);
        let mut req = Vec::new();
        push_tlv(&mut req, 0x30, &req_body);
        req
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
}
