//! State owned by one serving core: its view of the replica, its caches and CA index. Only
//! this core touches it (`Rc`/`RefCell`, no locks); the replication thread reaches it through
//! the core's update channel.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::rc::Rc;
use std::sync::mpsc::Receiver;
use std::sync::Arc;

use sigil_shared::replication::{CaState, CrlEntry, OcspEntry, SshHostState, SshUserState};
use sigil_storage::Store;

use crate::cache::Cache;
use crate::config::IndexConfig;
use crate::index::{builder::rebuild_after, changed_key_hash, CoreIndex, Index};
use crate::kes::Keyring;
use crate::ocsp::Found;
use crate::render::{Clock, Rendered};
use crate::schema::cf;
use crate::ssh::{Looked, ReadError, SshGlobal, SshLookup, SshView};
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

/// Keys of the changed-keys set are already hashes.
#[derive(Default)]
struct PassThrough(u64);

impl Hasher for PassThrough {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

/// The core's view of the OCSP index and what changed since it was built.
struct IndexView {
    config: IndexConfig,
    current: Option<CoreIndex>,
    /// Hashes of CertID keys changed after `current` was built (or since the last reset when
    /// there is none) → sequence number of the change. These are answered from the replica.
    changed: HashMap<u64, u64, BuildHasherDefault<PassThrough>>,
    /// Replica resets seen; an index built before the latest one is ignored.
    epoch: u64,
    /// An index built before this sequence number is ignored (the changed set was dropped).
    min_seq: u64,
    /// Offsets of recently served index entries (direct-mapped): an entry served twice while
    /// still remembered here is rendered into the cache, so hot responses are written from
    /// pre-rendered headers while uniformly spread lookups never allocate.
    seen: Box<[Cell<usize>]>,
}

const SEEN_SLOTS: usize = 4096;

fn seen_slots() -> Box<[Cell<usize>]> {
    (0..SEEN_SLOTS).map(|_| Cell::new(usize::MAX)).collect()
}

impl IndexView {
    /// Whether the entry at `offset` was served recently (and remembers it if not).
    fn seen_before(&self, offset: usize) -> bool {
        let slot = ((offset as u64 / 8).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 52) as usize;
        self.seen[slot % SEEN_SLOTS].replace(offset) == offset
    }

    /// Most changed keys kept before the index is given up until the next build.
    fn max_changed(&self) -> usize {
        let entries = self.current.as_ref().map_or(0, |i| i.entries() as u64);
        (4 * rebuild_after(&self.config, entries)) as usize
    }

    fn changed(&mut self, keys: &[Vec<u8>], seq: u64) {
        for k in keys {
            self.changed.insert(changed_key_hash(k), seq);
        }
        if self.changed.len() > self.max_changed() {
            tracing::warn!(
                changed = self.changed.len(),
                "too many changes since the OCSP index was built; serving from the replica until the next build"
            );
            self.current = None;
            self.changed = HashMap::default();
            self.min_seq = seq;
        }
    }

    fn install(&mut self, index: Arc<Index>) {
        if index.epoch != self.epoch || index.seq < self.min_seq {
            return;
        }
        self.changed.retain(|_, seq| *seq > index.seq);
        self.current = Some(Rc::new(index));
        self.seen = seen_slots();
    }

    fn reset(&mut self) {
        self.epoch += 1;
        self.current = None;
        self.changed = HashMap::default();
        self.min_seq = 0;
    }
}

pub struct CoreState {
    store: RefCell<Arc<dyn Store>>,
    cas: RefCell<HashMap<String, Rc<CaInfo>>>,
    ocsp: RefCell<Cache>,
    index: RefCell<Option<IndexView>>,
    crls: RefCell<HashMap<String, Rc<Rendered>>>,
    /// The key service's state (when `[kes]` is configured).
    kes: RefCell<Option<Arc<Keyring>>>,
    /// The SSH lookups' users, hosts, CAs and KRL.
    ssh: SshView,
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
        index: &IndexConfig,
    ) -> Self {
        let core = Self {
            store: RefCell::new(store),
            cas: RefCell::new(HashMap::new()),
            ocsp: RefCell::new(Cache::new(max_entries, max_bytes)),
            index: RefCell::new(index.enabled.then(|| IndexView {
                config: index.clone(),
                current: None,
                changed: HashMap::default(),
                epoch: 0,
                min_seq: 0,
                seen: seen_slots(),
            })),
            crls: RefCell::new(HashMap::new()),
            kes: RefCell::new(None),
            ssh: SshView::new(DEFAULT_SSH_ENTRIES),
            updates,
            stats,
            clock: Clock::default(),
        };
        core.reload_cas();
        core
    }

    /// Keeps up to `n` SSH users and as many hosts (`cache.ssh_entries_per_core`).
    pub fn with_ssh_entries(mut self, n: usize) -> Self {
        self.ssh = SshView::new(n);
        self
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
                    if let Some(view) = self.index.borrow_mut().as_mut() {
                        view.changed(&a.ocsp_keys, a.seq);
                    }
                    self.ssh.applied(&a.ssh_users, &a.ssh_hosts, a.ssh_global);
                }
                Update::Index(index) => {
                    if let Some(view) = self.index.borrow_mut().as_mut() {
                        view.install(index);
                    }
                }
                Update::Kes(ring) => *self.kes.borrow_mut() = Some(ring),
                Update::Reset(store) => {
                    if let Some(view) = self.index.borrow_mut().as_mut() {
                        view.reset();
                    }
                    *self.store.borrow_mut() = store;
                    self.ocsp.borrow_mut().clear();
                    self.crls.borrow_mut().clear();
                    self.ssh.clear();
                    self.reload_cas();
                }
            }
        }
    }

    /// The key service's keyring this core serves from.
    pub fn keyring(&self) -> Option<Arc<Keyring>> {
        self.kes.borrow().clone()
    }

    /// Serves `ring` from now on (start-up; later ones arrive as [`Update::Kes`]).
    pub fn set_keyring(&self, ring: Arc<Keyring>) {
        *self.kes.borrow_mut() = Some(ring);
    }

    /// The pre-signed response for a CertID key: from the cache, else from the index unless
    /// the key changed after the index was built, else from the replica.
    pub fn ocsp(&self, key: &[u8]) -> Option<Found> {
        if let Some(r) = self.ocsp.borrow().get(key) {
            self.stats.cache_hit();
            return Some(Found::Rendered(r));
        }
        if let Some(view) = self.index.borrow().as_ref() {
            if let Some(index) = &view.current {
                if view.changed.is_empty() || !view.changed.contains_key(&changed_key_hash(key)) {
                    self.stats.index_lookup();
                    let entry = index.lookup(key)?;
                    if !view.seen_before(entry.offset) {
                        return Some(Found::Indexed {
                            index: index.clone(),
                            entry,
                        });
                    }
                    let e = index.entry(&entry)?;
                    let mut der = Vec::with_capacity(e.body.len() + 1024);
                    index.write_response(&e, &mut der);
                    let r = Rc::new(Rendered::ocsp_with_etag(
                        der,
                        e.this_update,
                        e.next_update,
                        &e.etag,
                    ));
                    self.ocsp.borrow_mut().insert(key, r.clone());
                    return Some(Found::Rendered(r));
                }
            }
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
        Some(Found::Rendered(r))
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

    /// SSH users and hosts this core has cached (unknown names included).
    pub fn ssh_cache_entries(&self) -> usize {
        self.ssh.entries()
    }

    pub fn cache_len(&self) -> (usize, usize) {
        let c = self.ocsp.borrow();
        (c.len(), c.bytes())
    }
}

/// Users and hosts the SSH cache keeps per core unless configured.
pub const DEFAULT_SSH_ENTRIES: usize = 100_000;

impl SshLookup for CoreState {
    fn ssh_user(&self, username: &str) -> Looked<SshUserState> {
        self.ssh.user(self.store.borrow().as_ref(), username)
    }

    fn ssh_host(&self, hostname: &str) -> Looked<SshHostState> {
        self.ssh.host(self.store.borrow().as_ref(), hostname)
    }

    fn ssh_global(&self) -> Result<Rc<SshGlobal>, ReadError> {
        self.ssh.global(self.store.borrow().as_ref())
    }
}

impl crate::ocsp::OcspLookup for CoreState {
    fn lookup(&self, key: &[u8]) -> Option<Found> {
        self.ocsp(key)
    }
}

#[cfg(test)]
mod tests;
