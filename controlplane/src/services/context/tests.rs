//! The commit path: group writes, fences, conflicts between two writers on one store.

use sigil_shared::replication::Change;
use sigil_storage::{MemStore, WriteBatch};

use super::*;
use crate::audit::with_actor;
use crate::audit::Actor;
use crate::db::cf;

fn context() -> Context {
    on(Arc::new(MemStore::new(cf::ALL)))
}

/// A context on `store` (two on one store: two control-plane nodes on one database).
fn on(store: Arc<dyn Store>) -> Context {
    Context::open(
        store,
        Arc::new(CpConfig::default()),
        Metrics::new(),
        crate::services::secrets::test_kek(),
    )
    .unwrap()
}

#[test]
fn a_commit_expecting_a_taken_key_writes_nothing_and_the_next_one_goes_on() {
    let cx = context();
    let mut taken = WriteBatch::new();
    taken.put(cf::CERT_IDS, b"serial-1".to_vec(), b"demo".to_vec());
    cx.commit(Commit::new(taken)).unwrap();
    let change = || Change::CaDelete {
        issuer_id: "a".into(),
    };
    let mut batch = WriteBatch::new();
    batch.put(cf::META, b"x".to_vec(), b"1".to_vec());
    let clash = Commit::new(batch)
        .expect_absent(cf::CERT_IDS, b"serial-1".to_vec())
        .replicate(vec![change()]);
    assert!(cx.commit(clash).is_err());
    assert_eq!(
        cx.db().get_raw(cf::META, b"x").unwrap(),
        None,
        "nothing written"
    );
    assert_eq!(cx.db().head(), 0, "no record numbered");
    let ok = Commit::new(WriteBatch::new())
        .expect_absent(cf::CERT_IDS, b"serial-2".to_vec())
        .replicate(vec![change()]);
    assert_eq!(cx.commit(ok).unwrap(), 1, "numbered from the same head");
}

#[test]
fn one_commit_writes_state_records_and_audit_together() {
    let cx = context();
    let mut batch = WriteBatch::new();
    batch.put(cf::META, b"x".to_vec(), b"1".to_vec());
    let actor = Actor {
        id: "bearer:admin".into(),
        actor_type: "User",
        source: "127.0.0.1:1".into(),
    };
    let commit = with_actor(actor, || {
        Commit::new(batch)
            .replicate(vec![
                Change::CaDelete {
                    issuer_id: "a".into(),
                },
                Change::CaDelete {
                    issuer_id: "b".into(),
                },
            ])
            .audit(("issuer.delete", "issuer", "a"), serde_json::json!({}))
    });
    assert_eq!(cx.commit(commit).unwrap(), 2);
    assert_eq!(
        cx.db().get_raw(cf::META, b"x").unwrap().as_deref(),
        Some(&b"1"[..])
    );
    assert_eq!(cx.db().read_log(0, 10).unwrap().len(), 2);
    let (records, total) = cx.audit_log().list(1, u64::MAX, 1, 10, &|_| true).unwrap();
    assert_eq!(total, 1);
    assert_eq!(records[0].event.actor, "bearer:admin");
    assert!(records[0].event.success);

    // A record alone (a failed authentication) does not move the replication log.
    let mut failure = records[0].event.clone();
    failure.success = false;
    assert_eq!(cx.commit(Commit::record(failure)).unwrap(), 2);
    assert_eq!(cx.audit_log().head().0, 2);
    // An unaudited, unreplicated write (a responder's key) moves neither.
    let mut batch = WriteBatch::new();
    batch.put(cf::META, b"y".to_vec(), b"2".to_vec());
    assert_eq!(cx.commit(Commit::new(batch)).unwrap(), 2);
    assert_eq!(cx.audit_log().head().0, 2);
    assert!(crate::audit::verify(cx.db().store().as_ref(), 1, u64::MAX)
        .unwrap()
        .valid());
}

#[test]
fn a_failed_bulk_action_is_audited_as_failed() {
    let cx = context();
    let c = Commit::new(WriteBatch::new())
        .audit(
            ("certificate.bulk_revoke", "certificate", ""),
            serde_json::json!({}),
        )
        .succeeded(false);
    assert!(!c.is_empty());
    cx.commit(c).unwrap();
    let (records, _) = cx.audit_log().list(1, u64::MAX, 1, 10, &|_| true).unwrap();
    assert!(!records[0].event.success);
    assert_eq!(records[0].event.actor, "system");
}

fn audited(n: u32) -> Commit {
    with_actor(Actor::system(), || {
        Commit::new(WriteBatch::new())
            .replicate(vec![Change::CaDelete {
                issuer_id: format!("c{n}"),
            }])
            .audit(("test", "test", &n.to_string()), serde_json::json!({}))
    })
}

#[test]
fn a_node_behind_the_other_catches_up_and_numbers_after_it() {
    let store: Arc<dyn Store> = Arc::new(MemStore::new(cf::ALL));
    let (a, b) = (on(store.clone()), on(store.clone()));
    assert_eq!(a.commit(audited(1)).unwrap(), 1);
    assert_eq!(a.commit(audited(2)).unwrap(), 2);
    // `b` still believes both heads are 0: its commit conflicts, it catches up, renumbers.
    assert_eq!(b.commit(audited(3)).unwrap(), 3);
    assert_eq!(b.metrics().commit_head_conflicts.get(), 1);
    assert_eq!(a.commit(audited(4)).unwrap(), 4, "and the other way round");
    let seqs: Vec<u64> = a
        .db()
        .read_log(0, 10)
        .unwrap()
        .iter()
        .map(|r| r.seq)
        .collect();
    assert_eq!(seqs, [1, 2, 3, 4], "one gap-free log");
    assert_eq!(a.audit_log().head().0, 4);
    assert!(crate::audit::verify(store.as_ref(), 1, u64::MAX)
        .unwrap()
        .valid());
}

#[test]
fn concurrent_writers_on_one_store_leave_one_log_and_one_chain() {
    let store: Arc<dyn Store> = Arc::new(MemStore::new(cf::ALL));
    let nodes = [Arc::new(on(store.clone())), Arc::new(on(store.clone()))];
    let threads: Vec<_> = (0..4u32)
        .map(|t| {
            let cx = nodes[t as usize % 2].clone();
            std::thread::spawn(move || {
                for i in 0..25 {
                    cx.commit(audited(t * 100 + i)).unwrap();
                }
            })
        })
        .collect();
    threads.into_iter().for_each(|t| t.join().unwrap());
    let seqs: Vec<u64> = nodes[0]
        .db()
        .read_log(0, 200)
        .unwrap()
        .iter()
        .map(|r| r.seq)
        .collect();
    assert_eq!(seqs, (1..=100).collect::<Vec<_>>());
    let v = crate::audit::verify(store.as_ref(), 1, u64::MAX).unwrap();
    assert!(v.valid());
}

#[test]
fn a_commit_whose_read_changed_fails_alone_and_the_group_goes_on() {
    let store: Arc<dyn Store> = Arc::new(MemStore::new(cf::ALL));
    let (a, b) = (on(store.clone()), on(store.clone()));
    let mut first = WriteBatch::new();
    first.put(cf::OTPS, b"otp".to_vec(), b"2 uses".to_vec());
    a.commit(Commit::new(first)).unwrap();
    // `b` read "2 uses"; `a` changes it meanwhile.
    let mut used = WriteBatch::new();
    used.put(cf::OTPS, b"otp".to_vec(), b"1 use".to_vec());
    a.commit(Commit::new(used).expect_value(cf::OTPS, b"otp".to_vec(), Some(b"2 uses".to_vec())))
        .unwrap();
    let mut stale = WriteBatch::new();
    stale.put(cf::OTPS, b"otp".to_vec(), b"1 use".to_vec());
    let err = b
        .commit(Commit::new(stale).expect_value(
            cf::OTPS,
            b"otp".to_vec(),
            Some(b"2 uses".to_vec()),
        ))
        .unwrap_err();
    assert!(err.is_write_conflict(), "{err}");
    // Two commits in one group, one of them stale: the other is written.
    let results = b.write_group(vec![
        Commit::new(WriteBatch::new())
            .expect_value(cf::OTPS, b"otp".to_vec(), Some(b"2 uses".to_vec()))
            .replicate(vec![Change::CaDelete {
                issuer_id: "x".into(),
            }]),
        audited(7),
    ]);
    assert!(results[0].as_ref().is_err_and(|e| e.is_write_conflict()));
    assert_eq!(*results[1].as_ref().unwrap(), 1);
    assert_eq!(b.db().read_log(0, 10).unwrap().len(), 1);
}

#[test]
fn with_fence_adds_its_fence_to_every_commit_on_the_thread() {
    let cx = context();
    let fence = Expect {
        cf: cf::META,
        key: b"jobs_lease".to_vec(),
        value: Some(b"epoch 1".to_vec()),
    };
    let mut lease = WriteBatch::new();
    lease.put(cf::META, b"jobs_lease".to_vec(), b"epoch 1".to_vec());
    cx.commit(Commit::new(lease)).unwrap();
    with_fence(Some(fence.clone()), || cx.commit(audited(1))).unwrap();
    // Another node took the lease over: the old holder's job commits fail.
    let mut taken = WriteBatch::new();
    taken.put(cf::META, b"jobs_lease".to_vec(), b"epoch 2".to_vec());
    cx.commit(Commit::new(taken)).unwrap();
    let err = with_fence(Some(fence), || cx.commit(audited(2))).unwrap_err();
    assert!(err.is_write_conflict(), "{err}");
    // Outside the fence, commits are unaffected.
    assert_eq!(cx.commit(audited(3)).unwrap(), 2);
}

#[test]
fn retry_conflicts_runs_again_until_the_conflict_is_gone() {
    let mut calls = 0;
    let r: Result<u32, bool> = retry_conflicts(
        || {
            calls += 1;
            if calls < 3 {
                Err(true)
            } else {
                Ok(calls)
            }
        },
        |conflict| *conflict,
    );
    assert_eq!(r, Ok(3));
    let mut calls = 0;
    let r: Result<u32, bool> = retry_conflicts(
        || {
            calls += 1;
            Err(true)
        },
        |conflict| *conflict,
    );
    assert_eq!(r, Err(true));
    assert_eq!(calls, MAX_OPERATION_RETRIES + 1, "gives up");
}
