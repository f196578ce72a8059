use std::sync::Arc;

use sigil_storage::{MemStore, Store};

use super::*;
use crate::config::CpConfig;
use crate::metrics::Metrics;
use crate::services::{secrets, Services};

/// Two nodes on one store.
fn nodes() -> (Services, Services) {
    let store: Arc<dyn Store> = Arc::new(MemStore::new(cf::ALL));
    let node = || {
        Services::open(
            store.clone(),
            CpConfig::default(),
            Metrics::new(),
            secrets::test_kek(),
        )
        .unwrap()
        .0
    };
    (node(), node())
}

fn order(account: &str) -> AcmeOrderV1 {
    AcmeOrderV1 {
        account: account.into(),
        status: "pending".into(),
        identifiers: vec![("dns".into(), "a.example".into())],
        authzs: vec![],
        created: 1,
        expires: i64::MAX,
        cert: None,
        error: None,
    }
}

#[test]
fn one_account_per_key_across_nodes_and_key_rollover() {
    let (a, b) = nodes();
    let (id, _, created) = a.acme.create_account("{}", "t1", vec![], None).unwrap();
    assert!(created);
    let (same, _, created) = b.acme.create_account("{}", "t1", vec![], None).unwrap();
    assert_eq!((same.as_str(), created), (id.as_str(), false));
    let (other, _, _) = b.acme.create_account("{}", "t2", vec![], None).unwrap();
    // Rolling over to another account's key: refused; to a new key: the index follows.
    assert!(matches!(
        a.acme.change_key(&id, "t1", "{}", "t2"),
        Err(AcmeStateError::KeyInUse(o)) if o == other
    ));
    assert!(matches!(
        a.acme.change_key(&id, "wrong", "{}", "t3"),
        Err(AcmeStateError::WrongState(_))
    ));
    a.acme.change_key(&id, "t1", "{}", "t3").unwrap();
    assert!(b.acme.account_by_key("t1").unwrap().is_none());
    assert_eq!(b.acme.account_by_key("t3").unwrap().unwrap().0, id);
    let rec = b
        .acme
        .update_account(&id, "acme.account.deactivate", |a| {
            a.status = "deactivated".into()
        })
        .unwrap();
    assert_eq!(rec.v1().status, "deactivated");
    assert_eq!(
        a.acme.account(&id).unwrap().unwrap().v1().status,
        "deactivated"
    );
}

#[test]
fn an_order_is_finalized_once_across_nodes() {
    let (a, b) = nodes();
    a.acme.create_order("o1", &order("acc"), &[]).unwrap();
    assert!(
        b.acme.create_order("o1", &order("acc"), &[]).is_err(),
        "ids are fenced"
    );
    let start = |o: &mut AcmeOrderV1| {
        if o.status != "pending" {
            return Err(AcmeStateError::WrongState(o.status.clone()));
        }
        o.status = "processing".into();
        Ok(())
    };
    let none = || Ok(WriteBatch::new());
    a.acme
        .update_order("o1", Some("acme.order.finalize"), none, start)
        .unwrap();
    assert!(matches!(
        b.acme.update_order("o1", Some("acme.order.finalize"), none, start),
        Err(AcmeStateError::WrongState(s)) if s == "processing"
    ));
    let owner = AcmeState::owner_batch(b"\x01\x02", "acc");
    b.acme
        .update_order(
            "o1",
            None,
            || Ok(owner.clone()),
            |o| {
                o.status = "valid".into();
                Ok(())
            },
        )
        .unwrap();
    assert_eq!(
        a.acme.cert_owner(b"\x01\x02").unwrap().as_deref(),
        Some("acc")
    );
    assert_eq!(a.acme.orders_of("acc").unwrap(), vec!["o1".to_owned()]);
}
