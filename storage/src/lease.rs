//! Leases: a named right held by at most one holder among the processes sharing a store, so
//! that a periodic job runs on exactly one control-plane node at a time (issue 21). A lease is
//! only a liveness signal: a holder that stalls may lose it without noticing at once, so
//! whatever it writes under the lease is also fenced (`Store::write_checked` on a record that
//! the next holder changes when it takes over).

use std::any::Any;
use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// A held lease ([`crate::Store::try_lease`]). Dropping it releases it.
pub struct Lease {
    lost: Arc<AtomicBool>,
    _hold: Box<dyn Any + Send + Sync>,
}

impl std::fmt::Debug for Lease {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lease")
            .field("held", &self.is_held())
            .finish_non_exhaustive()
    }
}

impl Lease {
    /// A lease that `hold` keeps (released when it is dropped) and that is gone once `lost`
    /// is set (e.g. by the task watching the connection that holds it).
    pub fn new(lost: Arc<AtomicBool>, hold: Box<dyn Any + Send + Sync>) -> Self {
        Self { lost, _hold: hold }
    }

    /// False once the lease may have passed to another holder (its PostgreSQL connection
    /// closed): stop acting under it.
    pub fn is_held(&self) -> bool {
        !self.lost.load(Ordering::SeqCst)
    }
}

/// Leases among the users of a store that one process owns (memory, RocksDB): exclusive
/// within the process.
#[derive(Debug, Default, Clone)]
pub struct LocalLeases {
    held: Arc<Mutex<HashSet<String>>>,
}

struct Release {
    held: Arc<Mutex<HashSet<String>>>,
    name: String,
}

impl Drop for Release {
    fn drop(&mut self) {
        self.held
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&self.name);
    }
}

impl LocalLeases {
    pub fn new() -> Self {
        Self::default()
    }

    /// The lease `name`, unless it is held.
    pub fn try_take(&self, name: &str) -> Option<Lease> {
        let mut held = self.held.lock().unwrap_or_else(|e| e.into_inner());
        if !held.insert(name.to_string()) {
            return None;
        }
        Some(Lease::new(
            Arc::new(AtomicBool::new(false)),
            Box::new(Release {
                held: self.held.clone(),
                name: name.to_string(),
            }),
        ))
    }
}
