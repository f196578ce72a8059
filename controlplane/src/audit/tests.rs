//! The audit log over a store: appends, commits with a change, restarts, paging, verification
//! of a tampered store.

use std::sync::Arc;

use sigil_storage::{Durability, MemStore, Store, WriteBatch};

use super::*;
use crate::db::Db;

fn event(action: &str, id: &str, success: bool) -> AuditEvent {
    AuditEvent {
        actor: "bearer:admin".into(),
        actor_type: "User".into(),
        action: action.into(),
        resource_type: "certificate".into(),
        resource_id: id.into(),
        success,
        source: "127.0.0.1:40000".into(),
        details: "{}".into(),
    }
}

fn store() -> Arc<dyn Store> {
    Arc::new(MemStore::new(cf::ALL))
}

/// Writes `event` on its own, synced (as the services do for a failed authentication).
fn append(log: &AuditLog, event: AuditEvent) {
    log.chain(WriteBatch::new(), event, |b| {
        Ok(log.store.write(b, Durability::Sync)?)
    })
    .unwrap();
}

#[test]
fn appends_survive_reopening_and_chain_verifies() {
    let s = store();
    let log = AuditLog::open(s.clone()).unwrap();
    for i in 0..5 {
        append(&log, event("auth.failure", &i.to_string(), false));
    }
    let db = Db::open(s.clone(), 1000).unwrap();
    let mut batch = WriteBatch::new();
    batch.put(cf::META, b"x".to_vec(), b"1".to_vec());
    log.chain(batch, event("certificate.revoke", "ab", true), |b| {
        db.write_replicated(b, vec![])
    })
    .unwrap();
    let rec = log
        .list(1, u64::MAX, 1, 100, &|_| true)
        .unwrap()
        .0
        .pop()
        .unwrap();
    assert_eq!(rec.id, 6);
    assert_eq!(s.get(cf::META, b"x").unwrap().as_deref(), Some(&b"1"[..]));
    // Reopened (a restart): the chain continues.
    let log = AuditLog::open(s.clone()).unwrap();
    assert_eq!(log.head(), (rec.id, rec.hash));
    append(&log, event("certificate.issue", "cd", true));
    let v = verify(s.as_ref(), 0, u64::MAX).unwrap();
    assert!(v.valid(), "{:?}", v.errors);
    assert_eq!(v.checked, 7);
    let v = verify(s.as_ref(), 4, 6).unwrap();
    assert!(v.valid() && v.checked == 3);
}

#[test]
fn listing_filters_and_pages() {
    let log = AuditLog::open(store()).unwrap();
    for i in 0..30 {
        append(&log, event("certificate.issue", &i.to_string(), i % 3 != 0));
    }
    let (page, total) = log.list(0, u64::MAX, 2, 4, &|r| !r.event.success).unwrap();
    assert_eq!(total, 10);
    let ids: Vec<u64> = page.iter().map(|r| r.id).collect();
    assert_eq!(ids, [13, 16, 19, 22]);
    let (page, total) = log.list(5, 7, 1, 100, &|_| true).unwrap();
    assert_eq!((page.len(), total), (3, 3));
}

#[test]
fn tampering_with_the_store_is_detected() {
    let s = store();
    let log = AuditLog::open(s.clone()).unwrap();
    for i in 0..10 {
        append(&log, event("certificate.issue", &i.to_string(), true));
    }
    let raw = s.get(cf::AUDIT, &4u64.to_be_bytes()).unwrap().unwrap();
    let mut rec: AuditRecord = postcard::from_bytes(&raw).unwrap();
    rec.event.resource_id = "forged".into();
    let mut b = WriteBatch::new();
    b.put(
        cf::AUDIT,
        4u64.to_be_bytes().to_vec(),
        postcard::to_stdvec(&rec).unwrap(),
    );
    b.put(cf::AUDIT, 8u64.to_be_bytes().to_vec(), vec![0xff, 0xff]);
    b.delete(cf::AUDIT, 9u64.to_be_bytes().to_vec());
    s.write(b, Durability::Sync).unwrap();
    let v = verify(s.as_ref(), 0, u64::MAX).unwrap();
    assert!(!v.valid());
    let ids: Vec<u64> = v.errors.iter().map(|e| e.id).collect();
    assert_eq!(ids, [4, 8, 10], "{:?}", v.errors);
    assert_eq!(v.checked, 9);
}
