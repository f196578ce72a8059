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

/// Two nodes adding keys to one user at the same moment: each node's lock is its own, so
/// only the `ssh_version` fence keeps one node's update from writing over the other's.
#[test]
fn ssh_changes_on_two_nodes_at_once_lose_nothing() {
    use sigil_ssh::keyper::{NewUser, UserUpdate};
    use sigil_ssh::{CaAlgorithm, SoftwareCa};

    let store: Arc<dyn Store> = Arc::new(MemStore::new(cf::ALL));
    let (a, b) = (node(&store), node(&store));
    let user: NewUser = serde_json::from_value(serde_json::json!({
        "cn": "alice", "userPassword": "correct horse battery",
        "confirmPassword": "correct horse battery", "givenName": "Al", "sn": "Ice",
    }))
    .unwrap();
    a.ssh.create_user(user.clone()).unwrap();
    assert!(matches!(
        b.ssh.create_user(user),
        Err(ssh::SshError::UserExists(_))
    ));
    let add = |node: &Services, name: String| {
        let key = SoftwareCa::generate(CaAlgorithm::Ed25519)
            .unwrap()
            .public_openssh();
        let req: UserUpdate = serde_json::from_value(
            serde_json::json!({"sshPublicKeys": [{"name": name, "key": key}]}),
        )
        .unwrap();
        node.ssh
            .update_user(&ssh::Caller::Admin, "alice", req)
            .unwrap();
    };
    const ROUNDS: usize = 20;
    std::thread::scope(|s| {
        s.spawn(|| (0..ROUNDS).for_each(|i| add(&a, format!("a{i}"))));
        s.spawn(|| (0..ROUNDS).for_each(|i| add(&b, format!("b{i}"))));
    });
    let keys = a.ssh.get_user(&ssh::Caller::Admin, "alice").unwrap();
    assert_eq!(keys.ssh_public_keys.len(), 2 * ROUNDS, "{keys:?}");
}

/// Two nodes deleting the same KES policy at the same moment: one deletes it, the other is
/// told it does not exist (the policy/identity fence); one audit record.
#[test]
fn a_kes_policy_deleted_on_two_nodes_at_once_is_deleted_once() {
    let store: Arc<dyn Store> = Arc::new(MemStore::new(cf::ALL));
    let (a, b) = (node(&store), node(&store));
    let policy = sigil_kes::policy::Policy {
        allow: ["/v1/key/generate/*".to_string()].into(),
        deny: Default::default(),
    };
    let mut both = 0;
    for i in 0..50 {
        let name = format!("p{i}");
        a.kes.write_policy(&name, &policy, "admin").unwrap();
        let go = std::sync::Barrier::new(2);
        let (ra, rb) = std::thread::scope(|s| {
            let ta = s.spawn(|| {
                go.wait();
                a.kes.delete_policy(&name).is_ok()
            });
            let tb = s.spawn(|| {
                go.wait();
                b.kes.delete_policy(&name).is_ok()
            });
            (ta.join().unwrap(), tb.join().unwrap())
        });
        assert!(ra || rb, "round {i}: deleted by neither");
        both += usize::from(ra && rb);
    }
    assert_eq!(both, 0, "rounds in which both nodes deleted the policy");
}

/// Two nodes renewing the same certificates at the same moment: each certificate is renewed
/// once (the lineage fence), the other node is told it was already renewed, and the chain
/// has two versions — never a fork.
#[test]
fn a_certificate_renewed_on_two_nodes_at_once_is_renewed_once() {
    use certificates::{CertError, KeygenRequest, RenewKey};

    let store: Arc<dyn Store> = Arc::new(MemStore::new(cf::ALL));
    let (a, b) = (node(&store), node(&store));
    a.issuers.init_demo().unwrap();
    b.catch_up().unwrap();
    const ROUNDS: usize = 20;
    let ids: Vec<String> = (0..ROUNDS)
        .map(|i| {
            let req = KeygenRequest {
                issuer_id: "demo".into(),
                subject: format!("CN=r{i}.example"),
                sans: vec![format!("r{i}.example")],
                key_algorithm: crate::crypto::KeyAlgorithm::EcdsaP256,
                validity_days: None,
                profile: None,
            };
            a.certificates.issue_with_generated_key(&req).unwrap().0.id
        })
        .collect();
    let renew_all = |node: &Services| {
        ids.iter()
            .map(|id| node.certificates.renew(id, &RenewKey::Same, None))
            .collect::<Vec<_>>()
    };
    let (from_a, from_b) = std::thread::scope(|s| {
        let ta = s.spawn(|| renew_all(&a));
        let tb = s.spawn(|| renew_all(&b));
        (ta.join().unwrap(), tb.join().unwrap())
    });
    for (i, (ra, rb)) in from_a.iter().zip(&from_b).enumerate() {
        let winner = match (ra, rb) {
            (Ok(w), Err(CertError::NotRenewable { .. }))
            | (Err(CertError::NotRenewable { .. }), Ok(w)) => w,
            other => panic!("certificate {i}: {other:?}"),
        };
        let versions = a.certificates.versions(&ids[i]).unwrap();
        let chain: Vec<&str> = versions.iter().map(|c| c.id.as_str()).collect();
        assert_eq!(chain, [ids[i].as_str(), winner.cert.id.as_str()]);
    }
}

/// Two nodes approving the same pending SCEP requests at the same moment: each request is
/// approved once (the fence on the pending record in the issuance's batch), the other node
/// is told it was already decided, and one certificate exists per request.
#[test]
fn a_scep_request_approved_on_two_nodes_at_once_issues_once() {
    use crate::db::{ScepRequest, ScepRequestState, ScepRequestV1};
    use scep_requests::{request_id, ScepRequestError};

    let store: Arc<dyn Store> = Arc::new(MemStore::new(cf::ALL));
    let (a, b) = (node(&store), node(&store));
    a.issuers.init_demo().unwrap();
    b.catch_up().unwrap();
    let csr = include_bytes!("../../../scep/testdata/client.csr.der").to_vec();
    const ROUNDS: usize = 10;
    let ids: Vec<String> = (0..ROUNDS)
        .map(|i| {
            let id = request_id("demo", &format!("tx-{i}"), b"spki");
            let req = ScepRequest::V1(ScepRequestV1 {
                id: id.clone(),
                issuer_id: "demo".into(),
                profile: None,
                transaction_id: format!("tx-{i}"),
                csr_der: csr.clone(),
                subject: "CN=device-1".into(),
                sans: vec![],
                created_at: 1,
                source: "127.0.0.1:1".into(),
                state: ScepRequestState::Pending,
            });
            a.scep_requests.submit(req.clone()).unwrap();
            // Submitting again (a client retrying) keeps the one request.
            assert_eq!(b.scep_requests.submit(req.clone()).unwrap(), req);
            id
        })
        .collect();
    let approve_all = |node: &Services| {
        ids.iter()
            .map(|id| node.scep_requests.approve(id))
            .collect::<Vec<_>>()
    };
    let (from_a, from_b) = std::thread::scope(|s| {
        let ta = s.spawn(|| approve_all(&a));
        let tb = s.spawn(|| approve_all(&b));
        (ta.join().unwrap(), tb.join().unwrap())
    });
    for (i, (ra, rb)) in from_a.iter().zip(&from_b).enumerate() {
        let winner = match (ra, rb) {
            (Ok(w), Err(ScepRequestError::Decided { .. }))
            | (Err(ScepRequestError::Decided { .. }), Ok(w)) => w,
            other => panic!("request {i}: {other:?}"),
        };
        let stored = a.scep_requests.get(&ids[i]).unwrap().unwrap();
        match &stored.v1().state {
            ScepRequestState::Approved { cert_id, .. } => assert_eq!(cert_id, &winner.1.id),
            other => panic!("{other:?}"),
        }
    }
    // One certificate per request: none from the losing attempts.
    assert_eq!(a.certificates.count_issued("demo").unwrap(), ROUNDS as u64);
    assert_eq!(
        a.scep_requests.list(Some("approved")).unwrap().len(),
        ROUNDS
    );
    assert!(a.scep_requests.list(Some("pending")).unwrap().is_empty());
}
