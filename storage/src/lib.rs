//! Sigil's storage abstraction: ordered key/value column families with atomic write batches,
//! durable (fsync'd) commits and consistent read snapshots.
//!
//! This crate does not depend on RocksDB: `sigil-storage-rocksdb` implements [`Store`] for
//! production and [`MemStore`] serves unit tests. Both pass [`conformance`] (feature
//! `conformance`), so code written against the trait behaves the same on either.

mod batch;
mod lease;
mod memory;

#[cfg(any(test, feature = "conformance"))]
pub mod conformance;

pub use batch::{BatchOp, WriteBatch};
pub use lease::{Lease, LocalLeases};
pub use memory::MemStore;

use thiserror::Error;

/// Storage failures. `Io` carries the backend's message for logs; callers map every variant
/// to an internal error and never show it to clients.
#[derive(Debug, Error)]
pub enum StoreError {
    #[error("unknown column family {0:?}")]
    UnknownCf(String),
    #[error("storage backend error: {0}")]
    Io(String),
    #[error("corrupt record in {cf}: {detail}")]
    Corrupt { cf: String, detail: String },
    /// A [`Store::write_checked`] precondition did not hold: another writer changed the key.
    #[error("write conflict: {cf}/{key} changed")]
    Conflict { cf: String, key: String },
}

pub type Result<T> = std::result::Result<T, StoreError>;

/// How a write batch reaches the disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// The write is on stable storage (WAL fsync'd) before `write` returns: used for anything
    /// acknowledged to a client with 2xx.
    Sync,
    /// The write is in the WAL but may be lost on power failure (not on process crash);
    /// used for state that can be recomputed, such as refreshed OCSP responses.
    Buffered,
}

/// A precondition of [`Store::write_checked`]: the key holds `value` (`None`: is absent).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expect {
    pub cf: &'static str,
    pub key: Vec<u8>,
    pub value: Option<Vec<u8>>,
}

impl Expect {
    /// The error when this expectation fails.
    pub fn conflict(&self) -> StoreError {
        StoreError::Conflict {
            cf: self.cf.to_string(),
            key: String::from_utf8_lossy(&self.key).into_owned(),
        }
    }
}

/// Read access to a store or to a snapshot of it.
pub trait ReadView {
    /// The value under `key`, if any.
    fn get(&self, cf: &str, key: &[u8]) -> Result<Option<Vec<u8>>>;

    /// Visits keys `>= from` (and `< to` when given) in ascending byte order until `visit`
    /// returns `false`.
    fn scan(
        &self,
        cf: &str,
        from: &[u8],
        to: Option<&[u8]>,
        visit: &mut dyn FnMut(&[u8], &[u8]) -> bool,
    ) -> Result<()>;

    /// The entry with the greatest key in `cf`, if any.
    fn last(&self, cf: &str) -> Result<Option<(Vec<u8>, Vec<u8>)>>;

    /// Visits every key starting with `prefix`.
    fn scan_prefix(
        &self,
        cf: &str,
        prefix: &[u8],
        visit: &mut dyn FnMut(&[u8], &[u8]) -> bool,
    ) -> Result<()> {
        match prefix_end(prefix) {
            Some(end) => self.scan(cf, prefix, Some(&end), visit),
            None => self.scan(cf, prefix, None, visit),
        }
    }
}

/// A durable, shareable store.
pub trait Store: ReadView + Send + Sync + 'static {
    /// Applies every operation of `batch` atomically: after a crash either all or none of
    /// them are visible.
    fn write(&self, batch: WriteBatch, durability: Durability) -> Result<()>;

    /// Like [`Store::write`], but only if every key of `expect` still holds the value expected,
    /// checked atomically with the write: otherwise nothing is written and the result is
    /// [`StoreError::Conflict`]. The check is guaranteed against every other `write_checked`
    /// that expects one of those keys, from this process or another sharing the store (a
    /// PostgreSQL database): writers of a fenced key must all go through `write_checked`. The
    /// control plane fences its replication log's head this way, so two writers can never
    /// number records alike.
    fn write_checked(
        &self,
        expect: &[Expect],
        batch: WriteBatch,
        durability: Durability,
    ) -> Result<()>;

    /// Runs `f` against a consistent point-in-time view: writes committed after the snapshot
    /// was taken are not visible to it. The snapshot lives as long as `f` runs.
    fn with_snapshot(&self, f: &mut dyn FnMut(&dyn ReadView) -> Result<()>) -> Result<()>;

    /// Takes the lease `name` unless another holder has it — in this process or, where
    /// several processes share the store (PostgreSQL), in any of them: `None` then. The
    /// holder keeps it until it drops the [`Lease`] or loses it ([`Lease::is_held`] turns
    /// false when PostgreSQL may have released it: the holding connection closed).
    fn try_lease(&self, name: &str) -> Result<Option<Lease>>;

    /// Asks for `wake` to be called after writes that *other processes* sharing this store
    /// commit (PostgreSQL: `LISTEN/NOTIFY`), and whenever some may have gone unnoticed (after
    /// a reconnection), from a thread of the store's. Returns `false` where no other process
    /// can write (memory, RocksDB): the caller sees every write it makes itself. Wake-ups
    /// carry no data and may be spurious or coalesced: re-read what matters.
    fn watch_writes(&self, wake: std::sync::Arc<dyn Fn() + Send + Sync>) -> Result<bool> {
        let _ = wake;
        Ok(false)
    }

    /// Rewrites `cf`'s files so that overwritten and deleted values no longer lie in them
    /// (e.g. after values written in the clear were rewritten sealed). Slow on a large column
    /// family; meant for small ones. A no-op where nothing outlives an overwrite (memory).
    fn compact(&self, cf: &str) -> Result<()> {
        let _ = cf;
        Ok(())
    }
}

/// The smallest key greater than every key with this prefix (`None` if the prefix is all 0xff).
pub fn prefix_end(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last != 0xff {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}
