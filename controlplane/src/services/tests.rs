//! Two sets of services on one store: two control-plane nodes on one database.

use std::sync::Arc;

use sigil_storage::{MemStore, Store};

use super::*;
use crate::db::cf;

fn node(store: &Arc<dyn Store>) -> Services {
    let kek = secrets::test_kek();
    Services::open(store.clone(), CpConfig::default(), Metrics::new(), kek)
        .unwrap()
        .0
}

#[test]
fn catch_up_loads_the_cas_another_node_created_even_past_its_own_catch_up() {
    let store: Arc<dyn Store> = Arc::new(MemStore::new(cf::ALL));
    let (a, b) = (node(&store), node(&store));
    a.issuers.init_demo().unwrap();
    assert!(b.issuers.ca("demo").is_err(), "not loaded yet");
    // B commits after A without having looked: its commit conflicts, catches up (moving its
    // head past A's records) and is written.
    b.kes.create_key("k", None, "admin").unwrap();
    assert_eq!(b.replication.head(), a.replication.head() + 1);
    // Looking still loads A's CAs.
    let head = b.catch_up().unwrap();
    assert_eq!(head, b.replication.head());
    assert!(b.issuers.ca("demo").is_ok() && b.issuers.ca("demo-root").is_ok());
    // Nothing new: the loaded CAs are kept as they are.
    let demo = b.issuers.ca("demo").unwrap();
    b.catch_up().unwrap();
    assert!(Arc::ptr_eq(&demo, &b.issuers.ca("demo").unwrap()));
}
