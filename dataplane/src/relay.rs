//! The relay (`[relay]`, docs/replication.md "Relays"): this data plane re-serves the
//! replication stream it applies, with the control plane's protocol, so that other data
//! planes can subscribe to it instead of the control plane.
//!
//! - [`log`]: the retained log, each applied record stored in the write batch that applies it
//!   (the subscriber calls [`RelayLog::append`] and [`RelayLog::applied`]).
//! - [`plan`]: the Hello decision (records, snapshot, or 503), sans I/O.
//! - [`snapshot`]: a snapshot rebuilt from one consistent view of the replica.
//! - [`feed`]: one downstream's stream; [`server`]: the listener, on its own threads (one
//!   accepting, one per downstream), never on the serving cores.
//!
//! Applying never waits for a downstream: streams read the replica, and a stream that falls
//! behind the retained log is closed (its downstream comes back for a snapshot).

pub mod feed;
pub mod log;
pub mod plan;
mod server;
pub mod snapshot;

pub use server::{spawn, RelayServer};

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;

use sigil_shared::replication::{FrameError, Record};
use sigil_storage::{Store, StoreError, WriteBatch};

use crate::schema::applied_seq;

/// The relay's own subscription, as the Hello decision needs it ([`plan::Position`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Subscribed {
    /// The replica holds a complete state.
    pub synced: bool,
    /// The upstream's head while the relay's stream is established.
    pub upstream_head: Option<u64>,
}

/// What `/metrics` shows of the relay.
#[derive(Debug, Default)]
pub struct RelayStats {
    /// Streams open now (after their 200).
    pub downstreams: AtomicU64,
    pub records_served: AtomicU64,
    pub snapshots_served: AtomicU64,
    /// Streams closed because the retained log no longer held their next record.
    pub behind: AtomicU64,
}

/// The replica the relay serves from, and its position. Shared by the subscriber (which
/// moves it) and the downstream streams (woken on every change).
pub struct RelayLog {
    retain: u64,
    state: Mutex<LogView>,
    changed: Condvar,
    pub stats: RelayStats,
}

/// A consistent reading of [`RelayLog`].
#[derive(Clone)]
pub struct LogView {
    /// Bumped when a snapshot replaces the replica: streams opened before it end.
    pub epoch: u64,
    pub store: Arc<dyn Store>,
    /// Applied sequence (the Hello's head).
    pub head: u64,
    /// Oldest retained record (`head + 1` when the log is empty).
    pub oldest: u64,
}

impl std::fmt::Debug for RelayLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let v = self.view();
        f.debug_struct("RelayLog")
            .field("retain", &self.retain)
            .field("head", &v.head)
            .field("oldest", &v.oldest)
            .finish()
    }
}

impl RelayLog {
    /// The relay over the replica opened at start-up ([`log::prepare`]s its log).
    pub fn open(store: Arc<dyn Store>, retain: u64) -> Result<Self, StoreError> {
        let oldest = log::prepare(store.as_ref(), retain)?;
        let head = applied_seq(store.as_ref());
        Ok(Self {
            retain,
            state: Mutex::new(LogView {
                epoch: 0,
                store,
                head,
                oldest,
            }),
            changed: Condvar::new(),
            stats: RelayStats::default(),
        })
    }

    fn lock(&self) -> MutexGuard<'_, LogView> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn view(&self) -> LogView {
        self.lock().clone()
    }

    /// Adds `record` to the batch that applies it.
    pub fn append(&self, batch: &mut WriteBatch, record: &Record) -> Result<(), FrameError> {
        log::append(batch, record, self.retain)
    }

    /// The batch holding records up to `seq` is written: wakes the streams.
    pub fn applied(&self, seq: u64) {
        let mut s = self.lock();
        s.head = seq;
        s.oldest = log::oldest_after(s.oldest, seq, self.retain);
        drop(s);
        self.changed.notify_all();
    }

    /// A snapshot as of `as_of` replaced the replica with `store` (its log is empty): the
    /// streams on the old one end, their downstreams reconnect.
    pub fn reset(&self, store: Arc<dyn Store>, as_of: u64) {
        let mut s = self.lock();
        s.epoch += 1;
        s.store = store;
        s.head = as_of;
        s.oldest = as_of + 1;
        drop(s);
        self.changed.notify_all();
    }

    /// Waits up to `timeout` for a record after `pos` or a reset after `epoch`; false when
    /// nothing happened.
    pub fn wait(&self, epoch: u64, pos: u64, timeout: Duration) -> bool {
        let s = self.lock();
        let (s, result) = self
            .changed
            .wait_timeout_while(s, timeout, |s| s.epoch == epoch && s.head <= pos)
            .unwrap_or_else(|p| p.into_inner());
        drop(s);
        !result.timed_out()
    }

    pub(crate) fn count(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }
}
