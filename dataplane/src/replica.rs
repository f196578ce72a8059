//! The local replica: a RocksDB directory holding what the control plane pushed, and the
//! subscriber thread that keeps it current. The stream comes over plain HTTP/1.1 or, for an
//! `https://` control plane, over TLS ([`Upstream`], [`tls_client`]).
//!
//! Layout under `data_dir`: `CURRENT` names the active replica directory (`replica-<n>`).
//! Records are applied to it in write batches that also store the applied sequence number, so
//! a restart resumes exactly where it stopped. A snapshot is written into a new directory and
//! switched in by atomically replacing `CURRENT`: until then the old replica keeps serving.

mod apply;
mod stream_client;
mod subscriber;
pub mod tls_client;
mod transport;
mod upstream;

pub use apply::{apply_changes, Applied};
pub use subscriber::{spawn_subscriber, ReplicationStatus};
pub use upstream::{BaseUrl, Scheme, Upstream, UpstreamError};

use std::path::{Path, PathBuf};
use std::sync::Arc;

use sigil_storage::{ReadView, Store};
use sigil_storage_rocksdb::{RocksOptions, RocksStore};

/// Column families of a replica.
pub mod cf {
    /// CertID key → `OcspEntry` (postcard).
    pub const OCSP: &str = "ocsp";
    /// issuer id → `CaState`.
    pub const CAS: &str = "cas";
    /// issuer id → `CrlEntry`.
    pub const CRLS: &str = "crls";
    /// `applied_seq` → u64 BE.
    pub const META: &str = "meta";
    pub const ALL: &[&str] = &[OCSP, CAS, CRLS, META];
}

pub const META_APPLIED: &[u8] = b"applied_seq";

/// Opens replica directories under a data dir.
#[derive(Debug, Clone)]
pub struct ReplicaDir {
    root: PathBuf,
    tuning: RocksOptions,
}

impl ReplicaDir {
    pub fn new(root: &Path, block_cache_bytes: usize) -> Self {
        Self {
            root: root.to_path_buf(),
            tuning: RocksOptions {
                block_cache_bytes,
                background_jobs: 2,
                // Point lookups on the serving cores: one data-block read per miss.
                index_in_memory: true,
            },
        }
    }

    fn current_file(&self) -> PathBuf {
        self.root.join("CURRENT")
    }

    /// Opens the active replica (creating an empty one the first time) and removes leftovers
    /// of interrupted snapshots.
    pub fn open_current(&self) -> anyhow::Result<(String, Arc<dyn Store>)> {
        std::fs::create_dir_all(&self.root)?;
        let name = match std::fs::read_to_string(self.current_file()) {
            Ok(s) => s.trim().to_string(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let name = "replica-1".to_string();
                self.point_current_to(&name)?;
                name
            }
            Err(e) => return Err(e.into()),
        };
        for entry in std::fs::read_dir(&self.root)? {
            let entry = entry?;
            let n = entry.file_name().to_string_lossy().to_string();
            if n.starts_with("replica-") && n != name {
                tracing::info!(dir = %n, "removing stale replica directory");
                std::fs::remove_dir_all(entry.path())?;
            }
        }
        let store = self.open(&name)?;
        Ok((name, store))
    }

    pub fn open(&self, name: &str) -> anyhow::Result<Arc<dyn Store>> {
        let store = RocksStore::open(&self.root.join(name), cf::ALL, &self.tuning)
            .map_err(|e| anyhow::anyhow!("opening replica {name}: {e}"))?;
        Ok(Arc::new(store))
    }

    /// A new, empty directory name after `current`.
    pub fn next_name(current: &str) -> String {
        let n: u64 = current
            .strip_prefix("replica-")
            .and_then(|n| n.parse().ok())
            .unwrap_or(0);
        format!("replica-{}", n + 1)
    }

    /// Atomically makes `name` the active replica (write temp file, fsync, rename, fsync dir).
    pub fn point_current_to(&self, name: &str) -> anyhow::Result<()> {
        use std::io::Write;
        let tmp = self.root.join("CURRENT.tmp");
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(name.as_bytes())?;
        f.sync_all()?;
        std::fs::rename(&tmp, self.current_file())?;
        std::fs::File::open(&self.root)?.sync_all()?;
        Ok(())
    }

    pub fn remove(&self, name: &str) {
        if let Err(e) = std::fs::remove_dir_all(self.root.join(name)) {
            tracing::warn!(dir = %name, error = %e, "could not remove old replica directory");
        }
    }
}

/// The applied sequence number stored in a replica.
pub fn applied_seq(view: &dyn ReadView) -> u64 {
    view.get(cf::META, META_APPLIED)
        .ok()
        .flatten()
        .and_then(|v| <[u8; 8]>::try_from(v.as_slice()).ok())
        .map_or(0, u64::from_be_bytes)
}
