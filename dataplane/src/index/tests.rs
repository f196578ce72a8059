//! Building an index from a replica and reading every response back, byte for byte.

use std::sync::Arc;

use sigil_shared::ocsp::{CertIdKey, CertStatus, HashAlg, ResponderTemplate, SingleResponse};
use sigil_shared::replication::OcspEntry;
use sigil_storage::{Durability, MemStore, Store, WriteBatch};

use super::build::build;
use crate::render::etag_digest;
use crate::schema::{cf, META_APPLIED};

const ECDSA_SHA256: &[u8] = &[
    0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02,
];

/// A signed-looking response (the signature is not checked here) with `certs` embedded.
pub fn response(key: &CertIdKey, certs: &[Vec<u8>], revoked: bool, sig_len: usize) -> Vec<u8> {
    let t = ResponderTemplate::new(&[7; 20], ECDSA_SHA256.to_vec(), certs);
    let status = if revoked {
        CertStatus::Revoked {
            time: 1_700_000_000,
            reason: None,
        }
    } else {
        CertStatus::Good
    };
    let data = t.response_data(
        1_700_000_100,
        &SingleResponse {
            cert_id: key,
            status,
            this_update: 1_700_000_100,
            next_update: 1_700_600_000,
        },
    );
    t.finish(&data, &vec![0x5a; sig_len])
}

pub fn put(store: &dyn Store, key: &CertIdKey, der: Vec<u8>, seq: u64) {
    let mut b = WriteBatch::new();
    let e = OcspEntry {
        key: key.clone(),
        issuer_id: "ca".into(),
        der,
        this_update: 1_700_000_100,
        next_update: 1_700_600_000,
    };
    b.put(cf::OCSP, key.0.clone(), postcard::to_stdvec(&e).unwrap());
    b.put(cf::META, META_APPLIED.to_vec(), seq.to_be_bytes().to_vec());
    store.write(b, Durability::Buffered).unwrap();
}

pub fn key(alg: HashAlg, issuer: u8, serial: u32) -> CertIdKey {
    let n = alg.digest_len();
    CertIdKey::new(
        alg,
        &vec![issuer; n],
        &vec![issuer ^ 0xff; n],
        &serial.to_be_bytes(),
    )
}

/// Finds `k` in `index`, checks that its offset leads back to it and that it reassembles to
/// `der` (with the entity tag of `der`), and returns it.
fn served_exactly<'a>(index: &'a super::Index, k: &CertIdKey, der: &[u8]) -> super::Entry<'a> {
    let (offset, e) = index.find(k.as_bytes()).expect("indexed");
    assert_eq!(index.entry_at(offset), Some(e));
    let mut out = Vec::new();
    index.write_response(&e, &mut out);
    assert_eq!(out, der);
    assert_eq!(index.response_len(&e), der.len());
    assert_eq!(e.etag, etag_digest(der));
    e
}

#[test]
fn every_response_comes_back_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(MemStore::new(cf::ALL));
    let responder_a = vec![vec![0x30, 0x03, 1, 2, 3]];
    let responder_b = vec![vec![0x30, 0x04, 9, 9, 9, 9]];
    let mut expected = Vec::new();
    for serial in 1..=300u32 {
        for (alg, issuer) in [(HashAlg::Sha1, 1), (HashAlg::Sha256, 1), (HashAlg::Sha1, 2)] {
            let k = key(alg, issuer, serial);
            let certs: &[Vec<u8>] = match serial % 3 {
                0 => &responder_a,
                1 => &responder_b,
                _ => &[], // signed by the CA itself: no list
            };
            let der = response(&k, certs, serial % 7 == 0, 64 + (serial % 9) as usize);
            put(store.as_ref(), &k, der.clone(), serial as u64);
            expected.push((k, der));
        }
    }
    // A response that does not split (not DER-minimal lengths) is kept whole; records the
    // index cannot use are skipped.
    let odd = key(HashAlg::Sha1, 1, 100_000);
    let mut ber = vec![0x30, 0x81, 0x03, 0x0a, 0x01, 0x00];
    ber.extend_from_slice(&[0; 4]);
    put(store.as_ref(), &odd, ber.clone(), 400);
    expected.push((odd, ber));
    let mut b = WriteBatch::new();
    b.put(cf::OCSP, vec![9, 9, 9], vec![1]);
    b.put(cf::OCSP, key(HashAlg::Sha1, 3, 1).0, vec![0xff; 3]);
    store.write(b, Durability::Buffered).unwrap();

    let (index, skipped) = build(store.as_ref(), dir.path(), 5).unwrap();
    assert_eq!((index.epoch, index.seq), (5, 400));
    assert_eq!(index.entries(), expected.len());
    assert_eq!((skipped.bad_keys, skipped.bad_values), (1, 1));
    assert_eq!(index.certs.len(), 2, "one list per responder");
    for (k, der) in &expected {
        let e = served_exactly(&index, k, der);
        assert_eq!(
            (e.this_update, e.next_update),
            (1_700_000_100, 1_700_600_000)
        );
    }
    // Unknown serial, unknown issuer, unknown algorithm, truncated key.
    assert!(index.find(key(HashAlg::Sha1, 1, 301).as_bytes()).is_none());
    assert!(index.find(key(HashAlg::Sha256, 2, 1).as_bytes()).is_none());
    assert!(index.find(&[7, 1, 2, 3]).is_none());
    assert!(index.find(&key(HashAlg::Sha1, 1, 1).0[..30]).is_none());
    assert!(index.find(&[]).is_none());
    // The file is mapped and already unlinked: nothing is left in the data directory.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    // One region per hash algorithm, at most four fifths of its homes taken; every entry
    // fits its slot whole, so the file has no overflow area.
    let (sha1, sha256) = (index.regions[1].unwrap(), index.regions[2].unwrap());
    assert!(sha1.homes * 4 >= 601 * 5 && sha256.homes * 4 >= 300 * 5);
    assert!(sha1.slots > sha1.homes && sha256.slots > sha256.homes);
    assert!(
        sha1.slot_size < sha256.slot_size,
        "fitted to each algorithm"
    );
    assert!(sha1.start + sha1.bytes() <= sha256.start);
    assert_eq!(index.file_bytes(), sha256.start + sha256.bytes());
}

#[test]
fn responses_too_large_for_a_slot_are_stored_out_of_line() {
    let dir = tempfile::tempdir().unwrap();
    let store = MemStore::new(cf::ALL);
    let mut expected = Vec::new();
    for serial in 1..=500u32 {
        let k = key(HashAlg::Sha256, 1, serial);
        // Five responses with a signature far larger than the others'.
        let sig_len = if serial % 100 == 0 {
            5000 + serial as usize
        } else {
            70
        };
        let der = response(&k, &[vec![0x30, 0x03, 1, 2, 3]], false, sig_len);
        put(&store, &k, der.clone(), u64::from(serial));
        expected.push((k, der));
    }
    let (index, _) = build(&store, dir.path(), 0).unwrap();
    let region = index.regions[2].unwrap();
    assert!(region.slot_size < 1024, "{region:?}");
    let mut out_of_line = 0;
    for (k, der) in &expected {
        let e = served_exactly(&index, k, der);
        assert!(
            e.body.len() < der.len(),
            "stored without the certificate list"
        );
        out_of_line += usize::from(!region.fits(e.serial.len(), e.body.len()));
    }
    assert_eq!(out_of_line, 5);
    let overflow = index.file_bytes() - (region.start + region.bytes());
    assert!((5 * 5100..5 * 5600).contains(&overflow), "{overflow}");
}

#[test]
fn an_empty_replica_gives_an_empty_index() {
    let dir = tempfile::tempdir().unwrap();
    let store = MemStore::new(cf::ALL);
    let (index, _) = build(&store, dir.path(), 0).unwrap();
    assert_eq!((index.entries(), index.seq), (0, 0));
    assert!(index.find(key(HashAlg::Sha1, 1, 1).as_bytes()).is_none());
}

#[test]
fn leftovers_of_interrupted_builds_are_removed() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("ocsp-index-1-0"), b"partial").unwrap();
    std::fs::write(dir.path().join("CURRENT"), b"replica-1").unwrap();
    super::build::remove_leftovers(dir.path());
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["CURRENT"]);
}

#[test]
fn a_build_that_cannot_write_fails_cleanly() {
    let store = MemStore::new(cf::ALL);
    let err = build(&store, std::path::Path::new("/nonexistent/sigil"), 0).unwrap_err();
    assert!(err.to_string().contains("/nonexistent/sigil"), "{err}");
}
