//! The local replica: a RocksDB directory holding what the control plane pushed, and the
//! subscriber thread that keeps it current. The stream comes over plain HTTP/1.1 or, for an
//! `https://` control plane, over TLS ([`Upstream`], [`tls_client`]), from the first of the
//! configured URLs that works ([`Upstreams`], [`failover`]).
//!
//! Layout under `data_dir`: `CURRENT` names the active replica directory (`replica-<n>`),
//! whose column families `crate::schema` describes.
//! Records are applied to it in write batches that also store the applied sequence number, so
//! a restart resumes exactly where it stopped. A snapshot is written into a new directory and
//! switched in by atomically replacing `CURRENT`: until then the old replica keeps serving.

mod apply;
mod crl_deadlines;
pub mod digest;
pub mod failover;
mod stream_client;
mod subscriber;
pub mod tls_client;
mod transport;
mod upstream;
mod upstreams;

pub use apply::apply_changes;
pub use crl_deadlines::{CrlDeadlines, StaleCrls};
pub(crate) use stream_client::request;
pub use stream_client::OpenError;
pub use subscriber::{spawn_subscriber, Consumers, ReplicationStatus, SessionError};
pub use upstream::{BaseUrl, Scheme, Upstream, UpstreamError};
pub use upstreams::{UpstreamStatus, Upstreams};

use std::path::{Path, PathBuf};
use std::sync::Arc;

use sigil_storage::{Store, StoreError};
use sigil_storage_rocksdb::{RocksOptions, RocksStore};

use crate::schema::cf;

/// Why a replica directory cannot be opened or switched in.
#[derive(Debug, thiserror::Error)]
pub enum ReplicaError {
    #[error("{action} {}: {source}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("opening replica {name}: {source}")]
    Open { name: String, source: StoreError },
}

/// `map_err` for a file-system step on `path`.
fn io(action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> ReplicaError {
    let path = path.to_path_buf();
    move |source| ReplicaError::Io {
        action,
        path,
        source,
    }
}

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
    pub fn open_current(&self) -> Result<(String, Arc<dyn Store>), ReplicaError> {
        std::fs::create_dir_all(&self.root).map_err(io("creating", &self.root))?;
        let current = self.current_file();
        let name = match std::fs::read_to_string(&current) {
            Ok(s) => s.trim().to_string(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let name = "replica-1".to_string();
                self.point_current_to(&name)?;
                name
            }
            Err(e) => return Err(io("reading", &current)(e)),
        };
        let listing = std::fs::read_dir(&self.root).map_err(io("listing", &self.root))?;
        for entry in listing {
            let entry = entry.map_err(io("listing", &self.root))?;
            let n = entry.file_name().to_string_lossy().to_string();
            if n.starts_with("replica-") && n != name {
                tracing::info!(dir = %n, "removing stale replica directory");
                std::fs::remove_dir_all(entry.path()).map_err(io("removing", &entry.path()))?;
            }
        }
        let store = self.open(&name)?;
        Ok((name, store))
    }

    pub fn open(&self, name: &str) -> Result<Arc<dyn Store>, ReplicaError> {
        let store =
            RocksStore::open(&self.root.join(name), cf::ALL, &self.tuning).map_err(|source| {
                ReplicaError::Open {
                    name: name.to_string(),
                    source,
                }
            })?;
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
    pub fn point_current_to(&self, name: &str) -> Result<(), ReplicaError> {
        use std::io::Write;
        let tmp = self.root.join("CURRENT.tmp");
        let mut f = std::fs::File::create(&tmp).map_err(io("creating", &tmp))?;
        f.write_all(name.as_bytes())
            .and_then(|()| f.sync_all())
            .map_err(io("writing", &tmp))?;
        std::fs::rename(&tmp, self.current_file()).map_err(io("renaming", &tmp))?;
        std::fs::File::open(&self.root)
            .and_then(|d| d.sync_all())
            .map_err(io("syncing", &self.root))?;
        Ok(())
    }

    pub fn remove(&self, name: &str) {
        if let Err(e) = std::fs::remove_dir_all(self.root.join(name)) {
            tracing::warn!(dir = %name, error = %e, "could not remove old replica directory");
        }
    }
}
