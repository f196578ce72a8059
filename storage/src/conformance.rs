//! Behaviour every [`Store`] implementation must have. Implementations call [`run_all`] from
//! their tests with a constructor for a fresh, empty store.

use crate::{Durability, Expect, ReadView, Store, StoreError, WriteBatch};

/// Column families the suite uses.
pub const CFS: &[&str] = &["a", "b"];

/// Runs every check against fresh stores from `make`.
pub fn run_all(make: &dyn Fn(&[&str]) -> Box<dyn Store>) {
    put_get_delete(make(CFS).as_ref());
    batch_is_atomic_across_cfs(make(CFS).as_ref());
    scan_order_and_bounds(make(CFS).as_ref());
    snapshot_isolation(make(CFS).as_ref());
    delete_range_and_last(make(CFS).as_ref());
    unknown_cf_is_an_error(make(CFS).as_ref());
    checked_writes_see_every_other_checked_write(make(CFS).as_ref());
    a_lease_has_one_holder(make(CFS).as_ref());
}

/// A lease is held by one holder at a time, is free again once dropped, and names are
/// independent. (Backends shared by several processes test the same across processes.)
pub fn a_lease_has_one_holder(s: &dyn Store) {
    let jobs = s.try_lease("jobs").unwrap().expect("a free lease is taken");
    assert!(jobs.is_held());
    assert!(
        s.try_lease("jobs").unwrap().is_none(),
        "held: not taken twice"
    );
    let other = s.try_lease("other").unwrap().expect("another name is free");
    drop(jobs);
    let again = s
        .try_lease("jobs")
        .unwrap()
        .expect("free again once dropped");
    assert!(again.is_held() && other.is_held());
}

fn counter(s: &dyn ReadView) -> Option<u64> {
    s.get("a", b"head")
        .unwrap()
        .map(|v| u64::from_be_bytes(v.try_into().unwrap()))
}

/// One increment of the counter under `a/head` by read, then `write_checked`; false on a
/// conflict.
pub fn try_increment(s: &dyn Store, tag: &[u8]) -> bool {
    let seen = counter(s);
    let next = seen.unwrap_or(0) + 1;
    let mut b = WriteBatch::new();
    b.put("a", b"head".to_vec(), next.to_be_bytes().to_vec());
    let mut entry = next.to_be_bytes().to_vec();
    entry.extend_from_slice(tag);
    b.put("b", entry, Vec::new());
    let expect = [Expect {
        cf: "a",
        key: b"head".to_vec(),
        value: seen.map(|v| v.to_be_bytes().to_vec()),
    }];
    match s.write_checked(&expect, b, Durability::Sync) {
        Ok(()) => true,
        Err(StoreError::Conflict { .. }) => false,
        Err(e) => panic!("write_checked: {e}"),
    }
}

/// Entries under `b` and the counter: every successful increment wrote one entry numbered
/// with its own value, so no two writers got the same number.
pub fn assert_counted(s: &dyn Store, increments: u64) {
    assert_eq!(counter(s), Some(increments));
    let mut numbers = Vec::new();
    s.scan("b", &[], None, &mut |k, _| {
        numbers.push(u64::from_be_bytes(k[..8].try_into().unwrap()));
        true
    })
    .unwrap();
    assert_eq!(
        numbers,
        (1..=increments).collect::<Vec<_>>(),
        "one entry per number"
    );
}

fn checked_writes_see_every_other_checked_write(s: &dyn Store) {
    // A stale expectation writes nothing, not even the batch's other keys.
    let mut b = WriteBatch::new();
    b.put("b", b"side".to_vec(), b"x".to_vec());
    let stale = [Expect {
        cf: "a",
        key: b"head".to_vec(),
        value: Some(7u64.to_be_bytes().to_vec()),
    }];
    assert!(matches!(
        s.write_checked(&stale, b, Durability::Sync),
        Err(StoreError::Conflict { .. })
    ));
    assert_eq!(s.get("b", b"side").unwrap(), None);
    // Four writers racing: each success is one number, none lost, none twice.
    let done = std::sync::atomic::AtomicU64::new(0);
    std::thread::scope(|scope| {
        for t in 0..4u8 {
            let done = &done;
            scope.spawn(move || {
                let mut mine = 0;
                while mine < 25 {
                    if try_increment(s, &[t]) {
                        mine += 1;
                        done.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    }
                }
            });
        }
    });
    assert_counted(s, done.into_inner());
}

fn collect(s: &dyn ReadView, cf: &str, from: &[u8], to: Option<&[u8]>) -> Vec<Vec<u8>> {
    let mut keys = Vec::new();
    s.scan(cf, from, to, &mut |k, _| {
        keys.push(k.to_vec());
        true
    })
    .unwrap();
    keys
}

fn put_get_delete(s: &dyn Store) {
    let mut b = WriteBatch::new();
    b.put("a", b"k1".to_vec(), b"v1".to_vec());
    s.write(b, Durability::Sync).unwrap();
    assert_eq!(s.get("a", b"k1").unwrap().as_deref(), Some(&b"v1"[..]));
    assert_eq!(
        s.get("b", b"k1").unwrap(),
        None,
        "column families are separate"
    );
    let mut b = WriteBatch::new();
    b.put("a", b"k1".to_vec(), b"v2".to_vec());
    s.write(b, Durability::Buffered).unwrap();
    assert_eq!(s.get("a", b"k1").unwrap().as_deref(), Some(&b"v2"[..]));
    let mut b = WriteBatch::new();
    b.delete("a", b"k1".to_vec());
    b.delete("a", b"missing".to_vec());
    s.write(b, Durability::Sync).unwrap();
    assert_eq!(s.get("a", b"k1").unwrap(), None);
}

fn batch_is_atomic_across_cfs(s: &dyn Store) {
    let mut b = WriteBatch::new();
    b.put("a", b"x".to_vec(), b"1".to_vec());
    b.put("b", b"y".to_vec(), b"2".to_vec());
    b.put("nope", b"z".to_vec(), b"3".to_vec());
    assert!(s.write(b, Durability::Sync).is_err());
    assert_eq!(
        s.get("a", b"x").unwrap(),
        None,
        "a failed batch writes nothing"
    );
    let mut b = WriteBatch::new();
    b.put("a", b"x".to_vec(), b"1".to_vec());
    b.put("b", b"y".to_vec(), b"2".to_vec());
    s.write(b, Durability::Sync).unwrap();
    assert!(s.get("a", b"x").unwrap().is_some() && s.get("b", b"y").unwrap().is_some());
}

fn scan_order_and_bounds(s: &dyn Store) {
    let mut b = WriteBatch::new();
    for k in [&b"p\x02"[..], b"p\x01", b"q", b"p\xff", b"o"] {
        b.put("a", k.to_vec(), b"v".to_vec());
    }
    s.write(b, Durability::Sync).unwrap();
    assert_eq!(
        collect(s, "a", b"", None),
        vec![
            b"o".to_vec(),
            b"p\x01".to_vec(),
            b"p\x02".to_vec(),
            b"p\xff".to_vec(),
            b"q".to_vec()
        ]
    );
    assert_eq!(
        collect(s, "a", b"p\x02", Some(b"q")),
        vec![b"p\x02".to_vec(), b"p\xff".to_vec()]
    );
    let mut seen = Vec::new();
    s.scan_prefix("a", b"p", &mut |k, _| {
        seen.push(k.to_vec());
        seen.len() < 2
    })
    .unwrap();
    assert_eq!(
        seen,
        vec![b"p\x01".to_vec(), b"p\x02".to_vec()],
        "visitor can stop early"
    );
}

fn snapshot_isolation(s: &dyn Store) {
    let mut b = WriteBatch::new();
    b.put("a", b"k".to_vec(), b"old".to_vec());
    s.write(b, Durability::Sync).unwrap();
    s.with_snapshot(&mut |snap| {
        let mut b = WriteBatch::new();
        b.put("a", b"k".to_vec(), b"new".to_vec());
        b.put("a", b"k2".to_vec(), b"new".to_vec());
        s.write(b, Durability::Sync).unwrap();
        assert_eq!(snap.get("a", b"k").unwrap().as_deref(), Some(&b"old"[..]));
        assert_eq!(collect(snap, "a", b"", None), vec![b"k".to_vec()]);
        assert_eq!(snap.last("a").unwrap().unwrap().0, b"k".to_vec());
        Ok(())
    })
    .unwrap();
    assert_eq!(s.get("a", b"k").unwrap().as_deref(), Some(&b"new"[..]));
}

fn delete_range_and_last(s: &dyn Store) {
    assert_eq!(s.last("a").unwrap(), None);
    let mut b = WriteBatch::new();
    for i in 0u64..10 {
        b.put("a", i.to_be_bytes().to_vec(), vec![i as u8]);
    }
    s.write(b, Durability::Sync).unwrap();
    assert_eq!(s.last("a").unwrap().unwrap().1, vec![9]);
    let mut b = WriteBatch::new();
    b.delete_range(
        "a",
        0u64.to_be_bytes().to_vec(),
        5u64.to_be_bytes().to_vec(),
    );
    s.write(b, Durability::Sync).unwrap();
    let keys = collect(s, "a", b"", None);
    assert_eq!(keys.len(), 5);
    assert_eq!(keys[0], 5u64.to_be_bytes().to_vec());
}

fn unknown_cf_is_an_error(s: &dyn Store) {
    assert!(s.get("nope", b"k").is_err());
    assert!(s.last("nope").is_err());
}
