//! Secrets at rest on a `MemStore`: every secret the services write is sealed; a data
//! directory in the old shape (the same entries in the clear, written here through the
//! storage API) is sealed at start-up in one commit with one audit record; an interrupted
//! migration (the write failing, or a crash having left some entries sealed and some clear)
//! completes at the next start; a wrong KEK or a swapped blob stops the start.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use sigil_kes::{Kek, KeyWrapper};
use sigil_storage::{Durability, MemStore, ReadView, Store, StoreError, WriteBatch};

use super::SecretsError;
use crate::config::CpConfig;
use crate::crypto::sealed::{self, MAGIC};
use crate::crypto::{KeyAlgorithm, SoftwareSigner};
use crate::db::cf;
use crate::db::secrets::{SecretKind, SecretName};
use crate::metrics::Metrics;
use crate::services::certificates::IssueRequest;
use crate::services::{ServiceError, Services};

fn kek() -> Arc<dyn KeyWrapper> {
    Arc::new(Kek::new("kek-a", [0xa1; 32]))
}

/// A `MemStore` whose writes fail while `fail` is set (a crash before the write reached disk).
#[derive(Clone)]
struct Flaky {
    inner: MemStore,
    fail: Arc<AtomicBool>,
}

impl ReadView for Flaky {
    fn get(&self, cf: &str, key: &[u8]) -> sigil_storage::Result<Option<Vec<u8>>> {
        self.inner.get(cf, key)
    }

    fn scan(
        &self,
        cf: &str,
        from: &[u8],
        to: Option<&[u8]>,
        visit: &mut dyn FnMut(&[u8], &[u8]) -> bool,
    ) -> sigil_storage::Result<()> {
        self.inner.scan(cf, from, to, visit)
    }

    fn last(&self, cf: &str) -> sigil_storage::Result<Option<(Vec<u8>, Vec<u8>)>> {
        self.inner.last(cf)
    }
}

impl Store for Flaky {
    fn write(&self, batch: WriteBatch, durability: Durability) -> sigil_storage::Result<()> {
        if self.fail.load(Ordering::SeqCst) {
            return Err(StoreError::Io("killed before the write".into()));
        }
        self.inner.write(batch, durability)
    }

    fn try_lease(&self, name: &str) -> sigil_storage::Result<Option<sigil_storage::Lease>> {
        self.inner.try_lease(name)
    }

    fn write_checked(
        &self,
        expect: &[sigil_storage::Expect],
        batch: WriteBatch,
        durability: Durability,
    ) -> sigil_storage::Result<()> {
        if self.fail.load(Ordering::SeqCst) {
            return Err(StoreError::Io("killed before the write".into()));
        }
        self.inner.write_checked(expect, batch, durability)
    }

    fn with_snapshot(
        &self,
        f: &mut dyn FnMut(&dyn ReadView) -> sigil_storage::Result<()>,
    ) -> sigil_storage::Result<()> {
        self.inner.with_snapshot(f)
    }
}

fn open(store: &MemStore, kek: Arc<dyn KeyWrapper>) -> Result<Services, ServiceError> {
    let shared: Arc<dyn Store> = Arc::new(store.clone());
    Services::open(shared, CpConfig::default(), Metrics::new(), kek).map(|(s, _)| s)
}

fn csr(cn: &str) -> Vec<u8> {
    use der::asn1::BitString;
    use der::{Decode, Encode};
    use x509_cert::request::{CertReq, CertReqInfo, Version};
    use x509_cert::spki::{AlgorithmIdentifierOwned, SubjectPublicKeyInfoOwned};
    let (key, _) = SoftwareSigner::generate(KeyAlgorithm::EcdsaP256).unwrap();
    let info = CertReqInfo {
        version: Version::V1,
        subject: crate::x509::parse_name(&format!("CN={cn}")).unwrap(),
        public_key: SubjectPublicKeyInfoOwned::from_der(crate::crypto::Signer::public_key_der(
            &key,
        ))
        .unwrap(),
        attributes: Default::default(),
    };
    let sig = crate::crypto::Signer::sign(&key, &info.to_der().unwrap()).unwrap();
    CertReq {
        info,
        algorithm: AlgorithmIdentifierOwned::from_der(
            crate::crypto::Signer::signature_algorithm_der(&key),
        )
        .unwrap(),
        signature: BitString::from_bytes(&sig).unwrap(),
    }
    .to_der()
    .unwrap()
}

fn issue(s: &Services, issuer: &str, cn: &str) {
    s.certificates
        .issue(IssueRequest {
            issuer_id: issuer.into(),
            csr: csr(cn),
            validity_days: None,
            profile: None,
        })
        .unwrap();
}

/// Services with the demo CAs, a certificate issued (so the responder keys exist), closed.
fn populated(kek: Arc<dyn KeyWrapper>) -> MemStore {
    let store = MemStore::new(cf::ALL);
    let s = open(&store, kek).unwrap();
    s.issuers.init_demo().unwrap();
    issue(&s, "demo", "a.example");
    store
}

/// Every `keys` entry: (entry, stored value).
fn entries(store: &MemStore) -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut out = Vec::new();
    store
        .scan(cf::KEYS, &[], None, &mut |k, v| {
            out.push((k.to_vec(), v.to_vec()));
            true
        })
        .unwrap();
    out
}

/// Every entry opened with `kek`: (name, plaintext).
fn plaintexts(store: &MemStore, kek: &dyn KeyWrapper) -> Vec<(SecretName, Vec<u8>)> {
    entries(store)
        .into_iter()
        .map(|(k, v)| {
            let name = SecretName::from_entry(&k).unwrap();
            let plain = sealed::open(kek, &name, &v).unwrap().to_vec();
            (name, plain)
        })
        .collect()
}

/// Rewrites the entries `which` selects in the clear: the shape older versions stored.
fn unseal(store: &MemStore, kek: &dyn KeyWrapper, which: &dyn Fn(&SecretName) -> bool) {
    let mut batch = WriteBatch::new();
    for (name, plain) in plaintexts(store, kek) {
        if which(&name) {
            batch.put(cf::KEYS, name.entry(), plain);
        }
    }
    store.write(batch, Durability::Sync).unwrap();
}

fn migrations(s: &Services) -> Vec<serde_json::Value> {
    let (records, _) = s
        .audit
        .list(1, u64::MAX, 1, 100, &|r| {
            r.event.action == "secrets.migrate"
        })
        .unwrap();
    records
        .into_iter()
        .map(|r| serde_json::from_str(&r.event.details).unwrap())
        .collect()
}

#[test]
fn every_secret_the_services_write_is_sealed() {
    let store = populated(kek());
    let all = entries(&store);
    let kinds: std::collections::BTreeSet<SecretKind> = all
        .iter()
        .map(|(k, _)| SecretName::from_entry(k).unwrap().kind)
        .collect();
    assert_eq!(
        kinds.len(),
        4,
        "CA, responder and SSH CA keys, token secret"
    );
    assert_eq!(all.len(), 2 + 1 + 2 + 1, "{:?}", kinds);
    for ((entry, stored), (_, plain)) in all.iter().zip(plaintexts(&store, kek().as_ref())) {
        assert!(
            stored.starts_with(MAGIC),
            "{}",
            String::from_utf8_lossy(entry)
        );
        assert!(!stored
            .windows(16)
            .any(|w| plain.windows(16).any(|p| p == w)));
    }
    let s = open(&store, kek()).unwrap();
    assert!(migrations(&s).is_empty());
}

#[test]
fn an_old_data_directory_is_sealed_once_with_one_audit_record() {
    let store = populated(kek());
    let user_ca = open(&store, kek()).unwrap().ssh.user_ca().to_string();
    let before = plaintexts(&store, kek().as_ref());
    unseal(&store, kek().as_ref(), &|_| true);
    assert!(entries(&store).iter().all(|(_, v)| !v.starts_with(MAGIC)));

    let s = open(&store, kek()).unwrap();
    assert!(entries(&store).iter().all(|(_, v)| v.starts_with(MAGIC)));
    assert_eq!(plaintexts(&store, kek().as_ref()), before);
    let m = migrations(&s);
    assert_eq!(m.len(), 1);
    assert_eq!(m[0]["kek"], "kek-a");
    assert_eq!(m[0]["count"], 6);
    assert_eq!(m[0]["already_sealed"], 0);
    let names = m[0]["sealed"].to_string();
    for n in [
        "ca-key demo",
        "ca-key demo-root",
        "responder-key demo",
        "ssh-ca-key user",
        "ssh-ca-key host",
        "ssh-token-secret keyper",
    ] {
        assert!(names.contains(&format!("\"{n}\"")), "{names}");
    }
    // The audit record names what was sealed, never the secret.
    let (_, record) = store.last(cf::AUDIT).unwrap().unwrap();
    for (_, plain) in &before {
        assert!(!record
            .windows(16)
            .any(|w| plain.windows(16).any(|p| p == w)));
    }
    // The keys work: issuance (CA and responder), the same SSH CA; the chain verifies.
    issue(&s, "demo", "b.example");
    assert_eq!(s.ssh.user_ca(), user_ca);
    assert!(crate::audit::verify(&store, 1, u64::MAX).unwrap().valid());
    drop(s);
    // A further start finds nothing to seal.
    let again = open(&store, kek()).unwrap();
    assert_eq!(migrations(&again).len(), 1);
}

#[test]
fn an_interrupted_migration_completes_at_the_next_start() {
    let store = populated(kek());
    let before = plaintexts(&store, kek().as_ref());

    // The migration's write never reaches the store (killed before its commit): every entry
    // is still clear and readable, none lost.
    unseal(&store, kek().as_ref(), &|_| true);
    let flaky = Flaky {
        inner: store.clone(),
        fail: Arc::new(AtomicBool::new(true)),
    };
    let shared: Arc<dyn Store> = Arc::new(flaky.clone());
    let e = Services::open(shared, CpConfig::default(), Metrics::new(), kek()).unwrap_err();
    assert!(e.to_string().contains("killed before the write"), "{e}");
    assert!(entries(&store).iter().all(|(_, v)| !v.starts_with(MAGIC)));
    flaky.fail.store(false, Ordering::SeqCst);
    let shared: Arc<dyn Store> = Arc::new(flaky);
    let (s, _) = Services::open(shared, CpConfig::default(), Metrics::new(), kek()).unwrap();
    assert_eq!(plaintexts(&store, kek().as_ref()), before);
    assert_eq!(migrations(&s).len(), 1);
    drop(s);

    // Some entries sealed, some clear (what a migration sealing entry by entry would leave):
    // the rest is sealed, and only the rest is named.
    unseal(&store, kek().as_ref(), &|n| n.kind == SecretKind::CaKey);
    let s = open(&store, kek()).unwrap();
    assert_eq!(plaintexts(&store, kek().as_ref()), before);
    let m = migrations(&s);
    assert_eq!(m.len(), 2);
    assert_eq!(m[1]["count"], 2);
    assert_eq!(m[1]["already_sealed"], 4);
    issue(&s, "demo-root", "c.example");
}

#[test]
fn a_wrong_kek_is_a_configuration_error_naming_both() {
    let store = populated(kek());
    let other: Arc<dyn KeyWrapper> = Arc::new(Kek::new("kek-b", [0xb2; 32]));
    let e = open(&store, other).unwrap_err();
    let ServiceError::Secrets(s) = &e else {
        panic!("{e}")
    };
    assert!(s.is_wrong_kek(), "{e}");
    let text = e.to_string();
    assert!(text.contains("kek-a") && text.contains("kek-b"), "{text}");
    assert!(
        matches!(s, SecretsError::OtherKek { count: 6, .. }),
        "{s:?}"
    );
    // The same id with another key (a token key replaced under its label).
    let impostor: Arc<dyn KeyWrapper> = Arc::new(Kek::new("kek-a", [0xb2; 32]));
    let e = open(&store, impostor).unwrap_err();
    assert!(
        matches!(&e, ServiceError::Secrets(s) if s.is_wrong_kek()),
        "{e}"
    );
    assert!(e.to_string().contains("does not open"), "{e}");
    // Nothing was changed: the right KEK still opens everything.
    open(&store, kek()).unwrap();
}

#[test]
fn a_blob_moved_to_another_entry_does_not_open() {
    let store = populated(kek());
    let root = store
        .get(cf::KEYS, &SecretName::ca_key("demo-root").entry())
        .unwrap()
        .unwrap();
    let mut batch = WriteBatch::new();
    batch.put(cf::KEYS, SecretName::ca_key("demo").entry(), root);
    store.write(batch, Durability::Sync).unwrap();
    let e = open(&store, kek()).unwrap_err();
    assert!(e.to_string().contains("ca-key demo"), "{e}");
    assert!(e.to_string().contains("does not open"), "{e}");
}

#[test]
fn an_unknown_entry_stops_the_start_rather_than_stay_in_the_clear() {
    let store = populated(kek());
    let mut batch = WriteBatch::new();
    batch.put(
        cf::KEYS,
        b"tls/admin".to_vec(),
        b"-----BEGIN PRIVATE KEY-----".to_vec(),
    );
    store.write(batch, Durability::Sync).unwrap();
    let e = open(&store, kek()).unwrap_err();
    assert!(e.to_string().contains("tls/admin"), "{e}");
}

#[test]
fn init_sees_which_keks_sealed_the_store() {
    let empty = MemStore::new(cf::ALL);
    assert!(super::sealed_kek_ids(&empty).unwrap().is_empty());
    let store = populated(kek());
    assert_eq!(
        super::sealed_kek_ids(&store)
            .unwrap()
            .into_iter()
            .collect::<Vec<_>>(),
        ["kek-a"]
    );
    unseal(&store, kek().as_ref(), &|_| true);
    assert!(super::sealed_kek_ids(&store).unwrap().is_empty());
}
