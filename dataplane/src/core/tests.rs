//! A core's view of the index: changed keys are answered from the replica until an index
//! that covers them arrives; indexes built from a replaced replica are ignored.

use std::sync::mpsc::{channel, Receiver};
use std::sync::Arc;

use sigil_shared::ocsp::HashAlg;
use sigil_storage::{MemStore, Store};

use super::CoreState;
use crate::config::IndexConfig;
use crate::index::build::build;
use crate::index::tests::{key, put, response};
use crate::ocsp::Found;
use crate::render::{etag_digest, quoted_etag};
use crate::schema::cf;
use crate::stats::CoreStats;
use crate::updates::{Applied, Update};

fn body(core: &CoreState, k: &[u8]) -> Option<(bool, Vec<u8>)> {
    Some(match core.ocsp(k)? {
        Found::Rendered(r) => {
            // Whether rendered from the replica or promoted from the index with its stored
            // digest, the entity tag is the digest of the body.
            assert_eq!(*r.etag, quoted_etag(&etag_digest(&r.body)));
            (false, r.body.to_vec())
        }
        Found::Indexed { index, entry } => {
            // The located entry is the one at its offset.
            let e = index.entry(&entry).unwrap();
            assert_eq!(index.entry_at(entry.offset), Some(e));
            let mut out = Vec::new();
            index.write_response(&e, &mut out);
            (true, out)
        }
    })
}

/// A core over `store` with a small cache, rebuilding after `rebuild_after_changes`.
fn core_over(
    store: &Arc<dyn Store>,
    rx: Receiver<Update>,
    rebuild_after_changes: u64,
) -> CoreState {
    let config = IndexConfig {
        enabled: true,
        rebuild_after_changes,
        rebuild_after_fraction: 0.0,
    };
    CoreState::new(
        store.clone(),
        rx,
        Arc::new(CoreStats::default()),
        100,
        1 << 20,
        &config,
    )
}

#[test]
fn changed_keys_bypass_the_index_until_a_newer_one_arrives() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(MemStore::new(cf::ALL));
    let (a, b) = (key(HashAlg::Sha1, 1, 1), key(HashAlg::Sha1, 1, 2));
    let good = response(&a, &[], false, 64);
    put(store.as_ref(), &a, good.clone(), 1);
    let (tx, rx) = channel();
    let core = core_over(&store, rx, 1000);
    // No index yet: the replica answers.
    assert_eq!(body(&core, a.as_bytes()), Some((false, good.clone())));
    let (index, _) = build(store.as_ref(), dir.path(), 0).unwrap();
    tx.send(Update::Index(Arc::new(index))).unwrap();
    core.sync();
    // Cached entries still answer first; a key never cached comes from the index.
    assert_eq!(body(&core, a.as_bytes()), Some((false, good.clone())));
    assert_eq!(body(&core, b.as_bytes()), None);

    // Revoke `a` and issue `b` after the index was built.
    let revoked = response(&a, &[], true, 64);
    let issued = response(&b, &[], false, 64);
    put(store.as_ref(), &a, revoked.clone(), 2);
    put(store.as_ref(), &b, issued.clone(), 3);
    let applied = Applied {
        seq: 3,
        ocsp_keys: vec![a.0.clone(), b.0.clone()],
        ..Applied::default()
    };
    tx.send(Update::Applied(Arc::new(applied))).unwrap();
    core.sync();
    assert_eq!(body(&core, a.as_bytes()), Some((false, revoked.clone())));
    assert_eq!(body(&core, b.as_bytes()), Some((false, issued.clone())));

    // An index built at seq 3 covers both: served from it, byte for byte.
    let (index, _) = build(store.as_ref(), dir.path(), 0).unwrap();
    tx.send(Update::Index(Arc::new(index))).unwrap();
    core.sync();
    let c = key(HashAlg::Sha1, 1, 3);
    put(store.as_ref(), &c, response(&c, &[], false, 64), 4);
    assert_eq!(body(&core, c.as_bytes()), None, "not in index, not changed");
    core.ocsp.borrow_mut().clear();
    assert_eq!(body(&core, a.as_bytes()), Some((true, revoked.clone())));
    assert_eq!(body(&core, b.as_bytes()), Some((true, issued)));
    // Served twice in a row: rendered into the cache, same bytes.
    assert_eq!(body(&core, a.as_bytes()), Some((false, revoked.clone())));
    assert_eq!(body(&core, a.as_bytes()), Some((false, revoked)));
}

#[test]
fn indexes_of_a_replaced_replica_are_ignored() {
    let dir = tempfile::tempdir().unwrap();
    let old: Arc<dyn Store> = Arc::new(MemStore::new(cf::ALL));
    let new: Arc<dyn Store> = Arc::new(MemStore::new(cf::ALL));
    let a = key(HashAlg::Sha256, 1, 1);
    put(old.as_ref(), &a, response(&a, &[], false, 64), 1);
    let revoked = response(&a, &[], true, 64);
    put(new.as_ref(), &a, revoked.clone(), 1);
    let (tx, rx) = channel();
    let core = core_over(&old, rx, 1000);
    let (stale, _) = build(old.as_ref(), dir.path(), 0).unwrap();
    tx.send(Update::Reset(new.clone())).unwrap();
    tx.send(Update::Index(Arc::new(stale))).unwrap();
    core.sync();
    assert_eq!(body(&core, a.as_bytes()), Some((false, revoked.clone())));
    core.ocsp.borrow_mut().clear();
    let (fresh, _) = build(new.as_ref(), dir.path(), 1).unwrap();
    tx.send(Update::Index(Arc::new(fresh))).unwrap();
    core.sync();
    assert_eq!(body(&core, a.as_bytes()), Some((true, revoked)));
}

#[test]
fn too_many_changes_give_up_the_index_until_a_newer_build() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(MemStore::new(cf::ALL));
    let a = key(HashAlg::Sha1, 1, 1);
    put(store.as_ref(), &a, response(&a, &[], false, 64), 1);
    let (tx, rx) = channel();
    let core = core_over(&store, rx, 2);
    let (before, _) = build(store.as_ref(), dir.path(), 0).unwrap();
    // 9 changes (more than 4 × 2) arrive before the index built at seq 1 does.
    let keys: Vec<Vec<u8>> = (10..19).map(|s| key(HashAlg::Sha1, 1, s).0).collect();
    tx.send(Update::Applied(Arc::new(Applied {
        seq: 9,
        ocsp_keys: keys,
        ..Applied::default()
    })))
    .unwrap();
    tx.send(Update::Index(Arc::new(before))).unwrap();
    core.sync();
    assert!(
        matches!(core.ocsp(a.as_bytes()), Some(Found::Rendered(_))),
        "stale index refused"
    );
    core.ocsp.borrow_mut().clear();
    put(store.as_ref(), &a, response(&a, &[], true, 64), 9);
    let (after, _) = build(store.as_ref(), dir.path(), 0).unwrap();
    tx.send(Update::Index(Arc::new(after))).unwrap();
    core.sync();
    assert!(matches!(
        core.ocsp(a.as_bytes()),
        Some(Found::Indexed { .. })
    ));
}
