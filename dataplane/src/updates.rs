//! Messages from the replication and index threads to the serving cores. Each core owns a
//! receiver and drains it before handling a request (and every 100 ms when idle): the request
//! path reads only core-local state, and a revocation is visible on a core's next request.

use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::Arc;

use sigil_shared::replication::{CaState, CrlEntry};
use sigil_storage::Store;

use crate::index::Index;
use crate::kes::Keyring;

#[derive(Clone)]
pub enum Update {
    /// Changes were committed to the replica: drop cached entries they touch.
    Applied(Arc<Applied>),
    /// A snapshot replaced the replica: switch to this store and clear every cache.
    Reset(Arc<dyn Store>),
    /// A new OCSP index was built.
    Index(Arc<Index>),
    /// The key service's state changed: serve from this keyring.
    Kes(Arc<Keyring>),
}

impl std::fmt::Debug for Update {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Update::Applied(a) => write!(f, "Applied({} ocsp keys)", a.ocsp_keys.len()),
            Update::Reset(_) => f.write_str("Reset"),
            Update::Index(i) => write!(f, "Index(seq {}, {} entries)", i.seq, i.entries()),
            Update::Kes(k) => write!(f, "Kes(seq {})", k.seq),
        }
    }
}

/// What applying a group of changes touched (`crate::replica::apply_changes` fills it), for
/// cache invalidation on the serving cores.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Applied {
    /// Sequence number of the last record applied.
    pub seq: u64,
    pub ocsp_keys: Vec<Vec<u8>>,
    pub cas: Vec<CaState>,
    pub deleted_cas: Vec<String>,
    pub crls: Vec<CrlEntry>,
    /// A key-service record was applied (the keyring must be rebuilt).
    pub kes: bool,
    /// SSH users and hosts changed (cached lookups of them are stale).
    pub ssh_users: Vec<String>,
    pub ssh_hosts: Vec<String>,
    /// An SSH CA or the KRL changed (every cached SSH answer is stale).
    pub ssh_global: bool,
}

impl Applied {
    pub fn is_empty(&self) -> bool {
        self.ocsp_keys.is_empty()
            && self.cas.is_empty()
            && self.deleted_cas.is_empty()
            && self.crls.is_empty()
            && !self.kes
            && self.ssh_users.is_empty()
            && self.ssh_hosts.is_empty()
            && !self.ssh_global
    }
}

/// Sends every update to every core.
#[derive(Debug, Clone, Default)]
pub struct Broadcaster {
    senders: Vec<Sender<Update>>,
}

impl Broadcaster {
    /// A broadcaster and one receiver per core.
    pub fn new(cores: usize) -> (Self, Vec<Receiver<Update>>) {
        let (senders, receivers) = (0..cores).map(|_| channel()).unzip();
        (Self { senders }, receivers)
    }

    pub fn send(&self, update: &Update) {
        for s in &self.senders {
            // A core that exited (shutdown) has dropped its receiver; nothing to do.
            let _ = s.send(update.clone());
        }
    }
}
