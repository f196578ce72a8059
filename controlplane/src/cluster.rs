//! Several active control-plane nodes on one PostgreSQL database (`[storage]
//! postgres_multi_active = true`; docs/STORAGE.md, "Several active nodes"). Every node serves
//! the admin API, enrollment and the replication stream. What keeps them consistent:
//!
//! - every commit is fenced (`services::context`): on the replication log's and the audit
//!   chain's next records — a node that numbered from a stale head catches up from the store
//!   and numbers again, so sequence numbers stay gap-free across nodes — and on what the
//!   operation read (a certificate's record for a status change, an OTP for its use, a CRL
//!   number), so that another node's change in between fails the commit, which runs again
//!   from its reads, instead of being overwritten;
//! - [`follow`]: each node catches up with the others' commits when the store says there are
//!   some (PostgreSQL `LISTEN/NOTIFY`) and at least every second, so its replication streams
//!   send them and its loaded CAs follow the store;
//! - [`lease`]: the periodic jobs (OCSP refresh, periodic CRLs) run on the one node holding
//!   the jobs lease, and every commit they make is fenced on the lease's epoch, so a node that
//!   lost the lease without noticing yet cannot land a write after the next holder's.

pub mod follow;
pub mod lease;

use sigil_storage::Expect;
use tokio::sync::watch;

/// Whether this node runs the periodic jobs now.
#[derive(Debug, Clone)]
pub enum Leadership {
    /// The only active node on its store (RocksDB, or PostgreSQL with one active node and
    /// standbys): the jobs always run, unfenced.
    Sole,
    /// One of several active nodes: the jobs run while this node holds the jobs lease
    /// (`Some(fence)`: the lease's epoch record, which every job commit expects).
    Lease(watch::Receiver<Option<Expect>>),
}

impl Leadership {
    /// `None` when the jobs must not run now; otherwise the fence their commits carry
    /// (`crate::services::with_fence`).
    pub fn current(&self) -> Option<Option<Expect>> {
        match self {
            Self::Sole => Some(None),
            Self::Lease(rx) => rx.borrow().clone().map(Some),
        }
    }
}

/// This node's name in the lease record and the audit log: host name and process id.
pub fn node_name() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "node".into());
    format!("{host}/{}", std::process::id())
}
