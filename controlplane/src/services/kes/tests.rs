//! The key service on a `MemStore`: keys, versions, policies, identities, what each commit
//! carries, and that no key material is ever stored in the clear.

use std::sync::Arc;

use sigil_kes::policy::Policy;
use sigil_kes::wrap::Wrapped;
use sigil_kes::{Algorithm, Kek};
use sigil_shared::replication::{Change, Frame, KesKeyState};
use sigil_storage::{MemStore, ReadView, Store};

use super::{Kes, KesError, MAX_VERSIONS};
use crate::audit::{with_actor, Actor};
use crate::config::CpConfig;
use crate::db::cf;
use crate::metrics::Metrics;
use crate::services::context::Context;
use crate::services::replication::Replication;

const IMPORTED: [u8; 32] = *b"imported key material: 32 bytes!";
const ALICE: &str = "a1ce000000000000000000000000000000000000000000000000000000000001";
const BOB: &str = "b0b0000000000000000000000000000000000000000000000000000000000002";

fn kek() -> Kek {
    Kek::new("kek-test", [7; 32])
}

fn setup() -> (Kes, Arc<Context>, MemStore) {
    let store = MemStore::new(cf::ALL);
    let shared: Arc<dyn Store> = Arc::new(store.clone());
    let cx = Arc::new(
        Context::open(
            shared,
            Arc::new(CpConfig::default()),
            Metrics::new(),
            Arc::new(kek()),
        )
        .unwrap(),
    );
    (Kes::new(cx.clone()), cx, store)
}

fn unwrap_version(state: &KesKeyState, i: usize) -> sigil_kes::wrap::KeyMaterial {
    let v = &state.versions[i];
    let w = Wrapped {
        kek_id: v.kek_id.clone(),
        nonce: v.nonce,
        sealed: v.sealed.clone(),
    };
    kek().unwrap(&state.name, v.version, &w).unwrap()
}

/// Every value and key of every column family, concatenated.
fn everything(store: &MemStore) -> Vec<u8> {
    let mut all = Vec::new();
    for name in cf::ALL {
        store
            .scan(name, &[], None, &mut |k, v| {
                all.extend_from_slice(k);
                all.extend_from_slice(v);
                true
            })
            .unwrap();
    }
    all
}

#[test]
fn create_twice_is_key_exists_and_names_are_checked() {
    let (kes, _, _) = setup();
    let (key, seq) = kes.create_key("my-key", None, "bearer:admin").unwrap();
    assert_eq!(seq, 1);
    assert_eq!(key.versions.len(), 1);
    assert_eq!(key.versions[0].algorithm, "AES256");
    assert_eq!(key.created_by, "bearer:admin");
    let again = kes.create_key("my-key", Some(Algorithm::ChaCha20), "x");
    assert!(matches!(again, Err(KesError::KeyExists { .. })));
    assert_eq!(
        again.unwrap_err().kes_status(),
        (400, "key already exists".into())
    );
    let bad = kes.create_key("my/key", None, "x").unwrap_err();
    assert_eq!(
        bad.kes_status().1,
        "key name 'my/key' is empty, too long or contains invalid characters"
    );
}

#[test]
fn import_then_describe_and_unwrap() {
    let (kes, _, _) = setup();
    kes.import_key("imp", IMPORTED, Algorithm::ChaCha20, ALICE)
        .unwrap();
    let key = kes.describe_key("imp").unwrap();
    assert_eq!(key.versions[0].algorithm, "ChaCha20");
    assert_eq!(key.versions[0].kek_id, "kek-test");
    assert_eq!(key.created_by, ALICE);
    let m = unwrap_version(&key, 0);
    assert_eq!(m.key.bytes(), &IMPORTED);
    assert_eq!(m.key.algorithm(), Algorithm::ChaCha20);
    assert_ne!(m.hmac.bytes(), &IMPORTED);
}

#[test]
fn rotate_adds_versions_that_all_unwrap() {
    let (kes, _, _) = setup();
    kes.create_key("rot", Some(Algorithm::ChaCha20), "x")
        .unwrap();
    let (key, _) = kes.rotate_key("rot").unwrap();
    assert_eq!(
        key.versions.iter().map(|v| v.version).collect::<Vec<_>>(),
        [1, 2]
    );
    assert_eq!(key.versions[1].algorithm, "ChaCha20");
    let (v1, v2) = (unwrap_version(&key, 0), unwrap_version(&key, 1));
    assert_ne!(v1.key.bytes(), v2.key.bytes());
    assert_ne!(v1.hmac.bytes(), v2.hmac.bytes());
    assert_eq!(kes.describe_key("rot").unwrap(), key);
    assert!(matches!(
        kes.rotate_key("nope"),
        Err(KesError::KeyNotFound { .. })
    ));
    for _ in 2..MAX_VERSIONS {
        kes.rotate_key("rot").unwrap();
    }
    assert!(matches!(
        kes.rotate_key("rot"),
        Err(KesError::TooManyVersions { .. })
    ));
}

#[test]
fn delete_removes_the_key() {
    let (kes, _, _) = setup();
    kes.create_key("gone", None, "x").unwrap();
    kes.delete_key("gone").unwrap();
    assert!(matches!(
        kes.describe_key("gone"),
        Err(KesError::KeyNotFound { .. })
    ));
    let e = kes.delete_key("gone").unwrap_err();
    assert_eq!(e.kes_status(), (404, "key does not exist".into()));
    kes.create_key("gone", None, "x").unwrap();
}

#[test]
fn lists_follow_kes_patterns() {
    let (kes, _, _) = setup();
    for n in ["app-1", "app-2", "apple", "other"] {
        kes.create_key(n, None, "x").unwrap();
    }
    let names = |p: &str| -> Vec<String> {
        kes.list_keys(p)
            .unwrap()
            .into_iter()
            .map(|k| k.name)
            .collect()
    };
    assert_eq!(names("app-*"), ["app-1", "app-2"]);
    assert_eq!(names("app"), ["app-1", "app-2", "apple"]);
    assert_eq!(names("").len(), 4);
    assert_eq!(names("*").len(), 4);
    assert!(matches!(
        kes.list_keys("a*b"),
        Err(KesError::InvalidPattern(_))
    ));
}

#[test]
fn each_commit_carries_its_change_and_audit_record() {
    let (kes, cx, _) = setup();
    let actor = Actor {
        id: format!("kes:{ALICE}"),
        actor_type: "User",
        source: "192.0.2.1:1".into(),
    };
    let seqs = with_actor(actor, || {
        let p =
            Policy::from_json(br#"{"allow":["/v1/key/*"],"deny":["/v1/key/delete/*"]}"#).unwrap();
        vec![
            kes.create_key("k", None, ALICE).unwrap().1,
            kes.rotate_key("k").unwrap().1,
            kes.write_policy("p", &p, ALICE).unwrap().1,
            kes.assign_identity("p", BOB, ALICE).unwrap().1,
            kes.forget_identity(BOB).unwrap(),
            kes.delete_policy("p").unwrap(),
            kes.delete_key("k").unwrap(),
        ]
    });
    assert_eq!(seqs, [1, 2, 3, 4, 5, 6, 7]);
    let log = cx.db().read_log(0, 100).unwrap();
    let kinds: Vec<String> = log
        .iter()
        .map(|r| match &r.change {
            Change::KesKeyPut(k) => format!("key {} v{}", k.name, k.versions.len()),
            Change::KesKeyDelete { name } => format!("-key {name}"),
            Change::KesPolicyPut(p) => format!("policy {} {:?}", p.name, p.deny),
            Change::KesPolicyDelete { name } => format!("-policy {name}"),
            Change::KesIdentityPut(i) => format!("identity {} {}", &i.identity[..4], i.policy),
            Change::KesIdentityDelete { identity } => format!("-identity {}", &identity[..4]),
            other => format!("{other:?}"),
        })
        .collect();
    assert_eq!(
        kinds,
        [
            "key k v1",
            "key k v2",
            "policy p [\"/v1/key/delete/*\"]",
            "identity b0b0 p",
            "-identity b0b0",
            "-policy p",
            "-key k"
        ]
    );
    let (records, total) = cx.audit_log().list(1, u64::MAX, 1, 10, &|_| true).unwrap();
    assert_eq!(total, 7);
    let actions: Vec<&str> = records.iter().map(|r| r.event.action.as_str()).collect();
    assert_eq!(
        actions,
        [
            "kes.key.create",
            "kes.key.rotate",
            "kes.policy.write",
            "kes.identity.assign",
            "kes.identity.forget",
            "kes.policy.delete",
            "kes.key.delete"
        ]
    );
    assert!(records
        .iter()
        .all(|r| r.event.actor == format!("kes:{ALICE}")));
}

#[test]
fn no_key_material_in_the_clear_anywhere() {
    let (kes, cx, store) = setup();
    kes.import_key("imp", IMPORTED, Algorithm::Aes256, "x")
        .unwrap();
    kes.rotate_key("imp").unwrap();
    kes.create_key("fresh", None, "x").unwrap();
    let all = everything(&store);
    let mut secrets = vec![IMPORTED];
    for name in ["imp", "fresh"] {
        let key = kes.describe_key(name).unwrap();
        for i in 0..key.versions.len() {
            let m = unwrap_version(&key, i);
            secrets.push(*m.key.bytes());
            secrets.push(*m.hmac.bytes());
        }
    }
    assert_eq!(secrets.len(), 7);
    for s in &secrets {
        assert!(!all.windows(32).any(|w| w == s), "key material stored");
    }
    // The snapshot carries what the store holds: wrapped versions only.
    let mut frames = Vec::new();
    Replication::new(cx)
        .snapshot(&mut |f| {
            frames.push(f);
            true
        })
        .unwrap();
    let keys: Vec<&KesKeyState> = frames
        .iter()
        .filter_map(|f| match f {
            Frame::SnapshotItem(Change::KesKeyPut(k)) => Some(k),
            _ => None,
        })
        .collect();
    assert_eq!(keys.len(), 2);
    assert_eq!(keys[1].versions.len(), 2, "every version");
}

#[test]
fn policies_identities_and_authorization() {
    let (kes, _, _) = setup();
    let p =
        Policy::from_json(br#"{"allow":["/v1/key/create/app-*"],"deny":["/v1/key/create/app-x"]}"#)
            .unwrap();
    let e = kes.assign_identity("p", BOB, ALICE).unwrap_err();
    assert_eq!(e.kes_status(), (404, "policy does not exist".into()));
    kes.write_policy("p", &p, ALICE).unwrap();
    let e = kes.assign_identity("p", ALICE, ALICE).unwrap_err();
    assert_eq!(
        e.kes_status(),
        (403, "identity cannot assign policy to itself".into())
    );
    // Identities are stored lowercase; capitals name the same identity.
    kes.assign_identity("p", &BOB.to_uppercase(), ALICE)
        .unwrap();
    assert_eq!(kes.describe_identity(BOB).unwrap().policy, "p");
    assert!(kes.authorize(BOB, "/v1/key/create/app-1").is_ok());
    for refused in ["/v1/key/create/app-x", "/v1/key/delete/app-1"] {
        assert!(matches!(
            kes.authorize(BOB, refused),
            Err(KesError::NotAllowed)
        ));
    }
    assert!(matches!(
        kes.authorize(ALICE, "/v1/key/create/app-1"),
        Err(KesError::NotAllowed)
    ));
    let e = kes.assign_identity("p", "no/such", ALICE).unwrap_err();
    assert!(matches!(e, KesError::InvalidIdentity(_)));
    // A deleted policy allows nothing, even to identities still assigned to it.
    kes.delete_policy("p").unwrap();
    assert!(kes.authorize(BOB, "/v1/key/create/app-1").is_err());
    assert_eq!(kes.list_identities("b0b*").unwrap().len(), 1);
    kes.forget_identity(BOB).unwrap();
    let e = kes.forget_identity(BOB).unwrap_err();
    assert_eq!(e.kes_status(), (404, "identity does not exist".into()));
    // Overwriting a policy is allowed.
    kes.write_policy("q", &p, "x").unwrap();
    kes.write_policy("q", &Policy::default(), "y").unwrap();
    assert!(kes.read_policy("q").unwrap().allow.is_empty());
    assert_eq!(kes.list_policies("").unwrap().len(), 1);
}
