//! State owned by one serving core: its view of the replica, its caches and CA index. Only
//! this core touches it (`Rc`/`RefCell`, no locks); the replication thread reaches it through
//! the core's update channel.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::mpsc::Receiver;
use std::sync::Arc;

use sigil_shared::replication::{CaState, CrlEntry, OcspEntry};
use sigil_storage::Store;

use crate::cache::Cache;
use crate::render::{Clock, Rendered};
use crate::replica::cf;
use crate::stats::CoreStats;
use crate::updates::Update;

/// A CA as served: its hashes and pre-rendered certificate in DER and PEM.
#[derive(Debug)]
pub struct CaInfo {
    pub state: CaState,
    pub cer: Rc<Rendered>,
    pub pem: Rc<Rendered>,
}

impl CaInfo {
    fn new(state: CaState) -> Self {
        let pem = sigil_shared::pem::certificate(&state.cert_der);
        Self {
            cer: Rc::new(Rendered::ca_cert(
                "application/pkix-cert",
                state.cert_der.clone(),
            )),
            pem: Rc::new(Rendered::ca_cert(
                "application/x-pem-file",
                pem.into_bytes(),
            )),
            state,
        }
    }
}

pub struct CoreState {
    store: RefCell<Arc<dyn Store>>,
    cas: RefCell<HashMap<String, Rc<CaInfo>>>,
    ocsp: RefCell<Cache>,
    crls: RefCell<HashMap<String, Rc<Rendered>>>,
    updates: Receiver<Update>,
    pub stats: Arc<CoreStats>,
    pub clock: Clock,
}

impl CoreState {
    pub fn new(
        store: Arc<dyn Store>,
        updates: Receiver<Update>,
        stats: Arc<CoreStats>,
        max_entries: usize,
        max_bytes: usize,
    ) -> Self {
        let core = Self {
            store: RefCell::new(store),
            cas: RefCell::new(HashMap::new()),
            ocsp: RefCell::new(Cache::new(max_entries, max_bytes)),
            crls: RefCell::new(HashMap::new()),
            updates,
            stats,
            clock: Clock::default(),
        };
        core.reload_cas();
        core
    }

    fn reload_cas(&self) {
        let mut cas = HashMap::new();
        let store = self.store.borrow().clone();
        let res = store.scan(cf::CAS, &[], None, &mut |_, v| {
            if let Ok(state) = postcard::from_bytes::<CaState>(v) {
                cas.insert(state.issuer_id.clone(), Rc::new(CaInfo::new(state)));
            }
            true
        });
        if let Err(e) = res {
            tracing::error!(error = %e, "reading CAs from the replica failed");
        }
        *self.cas.borrow_mut() = cas;
    }

    /// Applies pending updates from the replication thread.
    pub fn sync(&self) {
        while let Ok(update) = self.updates.try_recv() {
            match update {
                Update::Applied(a) => {
                    let mut cache = self.ocsp.borrow_mut();
                    for k in &a.ocsp_keys {
                        cache.remove(k);
                    }
                    let mut cas = self.cas.borrow_mut();
                    for ca in &a.cas {
                        cas.insert(ca.issuer_id.clone(), Rc::new(CaInfo::new(ca.clone())));
                    }
                    let mut crls = self.crls.borrow_mut();
                    for id in &a.deleted_cas {
                        cas.remove(id);
                        crls.remove(id);
                    }
                    for crl in &a.crls {
                        crls.remove(&crl.issuer_id);
                    }
                }
                Update::Reset(store) => {
                    *self.store.borrow_mut() = store;
                    self.ocsp.borrow_mut().clear();
                    self.crls.borrow_mut().clear();
                    self.reload_cas();
                }
            }
        }
    }

    /// The pre-signed response for a CertID key, from the cache or the replica.
    pub fn ocsp(&self, key: &[u8]) -> Option<Rc<Rendered>> {
        if let Some(r) = self.ocsp.borrow().get(key) {
            self.stats.cache_hit();
            return Some(r);
        }
        self.stats.cache_miss();
        let raw = match self.store.borrow().get(cf::OCSP, key) {
            Ok(v) => v?,
            Err(e) => {
                tracing::error!(error = %e, "replica read failed");
                return None;
            }
        };
        let entry: OcspEntry = postcard::from_bytes(&raw).ok()?;
        let r = Rc::new(Rendered::ocsp(
            entry.der,
            entry.this_update,
            entry.next_update,
        ));
        self.ocsp.borrow_mut().insert(key, r.clone());
        Some(r)
    }

    pub fn ca(&self, issuer_id: &str) -> Option<Rc<CaInfo>> {
        self.cas.borrow().get(issuer_id).cloned()
    }

    pub fn crl(&self, issuer_id: &str) -> Option<Rc<Rendered>> {
        if let Some(r) = self.crls.borrow().get(issuer_id) {
            return Some(r.clone());
        }
        let raw = self
            .store
            .borrow()
            .get(cf::CRLS, issuer_id.as_bytes())
            .ok()??;
        let e: CrlEntry = postcard::from_bytes(&raw).ok()?;
        let r = Rc::new(Rendered::crl(e.der, e.this_update, e.next_update));
        self.crls
            .borrow_mut()
            .insert(issuer_id.to_string(), r.clone());
        Some(r)
    }

    pub fn cache_len(&self) -> (usize, usize) {
        let c = self.ocsp.borrow();
        (c.len(), c.bytes())
    }
}

impl crate::ocsp::OcspLookup for CoreState {
    fn lookup(&self, key: &[u8]) -> Option<Rc<Rendered>> {
        self.ocsp(key)
    }
}
