//! The index builder thread and the handle the replication side uses to ask for builds. A
//! built index goes to the sink the builder was started with (the data plane's broadcasts it
//! to the cores), so the index module knows nothing of the cores' update channels.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::Arc;
use std::time::Instant;

use sigil_storage::Store;

use super::{build, Index};
use crate::config::IndexConfig;

/// Figures for `/metrics`, written by the builder thread.
#[derive(Debug, Default)]
pub struct IndexStatus {
    pub entries: AtomicU64,
    pub memory_bytes: AtomicU64,
    pub file_bytes: AtomicU64,
    /// Applied sequence number the current index was built at.
    pub seq: AtomicU64,
    pub builds: AtomicU64,
    pub failures: AtomicU64,
    /// Duration of the last completed build (µs; `/metrics` shows seconds).
    pub last_build_micros: AtomicU64,
    /// Records a build could not use (bad key or value).
    pub skipped: AtomicU64,
}

struct Request {
    store: Arc<dyn Store>,
    epoch: u64,
}

/// Asks the builder for a new index: once at start, after every snapshot, and when enough
/// OCSP changes have been applied since the last request. Owned by the replication side.
pub struct IndexTrigger {
    tx: Sender<Request>,
    status: Arc<IndexStatus>,
    config: IndexConfig,
    epoch: u64,
    changes: u64,
}

impl IndexTrigger {
    /// Starts the builder thread (which removes leftovers of interrupted builds in `dir`);
    /// every index it builds goes to `sink`.
    pub fn spawn(
        dir: PathBuf,
        config: IndexConfig,
        sink: impl Fn(Arc<Index>) + Send + 'static,
        status: Arc<IndexStatus>,
    ) -> std::io::Result<Self> {
        let (tx, rx) = channel();
        let s = status.clone();
        std::thread::Builder::new()
            .name("sigil-index".into())
            .spawn(move || run(&dir, &rx, &sink, &s))?;
        Ok(Self {
            tx,
            status,
            config,
            epoch: 0,
            changes: 0,
        })
    }

    /// Changes to the OCSP responses after which the index is rebuilt.
    pub fn rebuild_after(&self) -> u64 {
        rebuild_after(&self.config, self.status.entries.load(Relaxed))
    }

    /// Builds an index of `store` (the replica the cores serve now).
    pub fn request(&mut self, store: &Arc<dyn Store>) {
        self.changes = 0;
        let _ = self.tx.send(Request {
            store: store.clone(),
            epoch: self.epoch,
        });
    }

    /// A snapshot replaced the replica (the cores were sent `Update::Reset`).
    pub fn reset(&mut self, store: &Arc<dyn Store>) {
        self.epoch += 1;
        self.request(store);
    }

    /// `n` OCSP keys were changed in `store`.
    pub fn changed(&mut self, n: usize, store: &Arc<dyn Store>) {
        self.changes += n as u64;
        if self.changes >= self.rebuild_after() {
            self.request(store);
        }
    }
}

/// The rebuild threshold for an index of `entries` responses.
pub fn rebuild_after(config: &IndexConfig, entries: u64) -> u64 {
    let fraction = (entries as f64 * config.rebuild_after_fraction) as u64;
    config.rebuild_after_changes.max(fraction).max(1)
}

fn run(
    dir: &std::path::Path,
    rx: &Receiver<Request>,
    sink: &impl Fn(Arc<Index>),
    status: &IndexStatus,
) {
    build::remove_leftovers(dir);
    while let Ok(mut req) = rx.recv() {
        // Requests that queued up during a build are served by one build of the newest.
        while let Ok(newer) = rx.try_recv() {
            req = newer;
        }
        let start = Instant::now();
        match build::build(req.store.as_ref(), dir, req.epoch) {
            Ok((index, skipped)) => {
                let micros = start.elapsed().as_micros() as u64;
                status.entries.store(index.entries() as u64, Relaxed);
                status
                    .memory_bytes
                    .store(index.memory_bytes() as u64, Relaxed);
                status.file_bytes.store(index.file_bytes() as u64, Relaxed);
                status.seq.store(index.seq, Relaxed);
                status.builds.fetch_add(1, Relaxed);
                status.last_build_micros.store(micros, Relaxed);
                let skipped_total = skipped.bad_keys + skipped.bad_values;
                status.skipped.store(skipped_total, Relaxed);
                if skipped_total > 0 {
                    tracing::warn!(
                        bad_keys = skipped.bad_keys,
                        bad_values = skipped.bad_values,
                        "index build skipped unusable replica records"
                    );
                }
                tracing::info!(
                    entries = index.entries(),
                    seq = index.seq,
                    epoch = index.epoch,
                    memory_mib = index.memory_bytes() >> 20,
                    file_mib = index.file_bytes() >> 20,
                    ms = micros / 1000,
                    "OCSP index built"
                );
                sink(Arc::new(index));
            }
            Err(e) => {
                status.failures.fetch_add(1, Relaxed);
                tracing::error!(error = %e, "building the OCSP index failed; serving from the replica");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn threshold_grows_with_the_index() {
        let c = IndexConfig {
            enabled: true,
            rebuild_after_changes: 50_000,
            rebuild_after_fraction: 0.02,
        };
        assert_eq!(rebuild_after(&c, 0), 50_000);
        assert_eq!(rebuild_after(&c, 20_000_000), 400_000);
    }
}
