//! `[storage]`: where the control plane's state lives. The embedded RocksDB under the data
//! directory is the default; PostgreSQL (`sigil_storage_postgres`) is for control planes that
//! run as several nodes on one database (docs/OPERATIONS.md, "Storage").

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use sigil_storage_postgres::PgOptions;

/// The environment variable holding the PostgreSQL connection URL unless `postgres_url_env`
/// names another: the URL may carry a password, so it is never read from the file.
pub const POSTGRES_URL_ENV: &str = "SIGIL_POSTGRES_URL";

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StorageBackend {
    /// RocksDB in `<data_dir>/db`.
    #[default]
    Rocksdb,
    /// A PostgreSQL database (URL from the environment).
    Postgres,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StorageConfig {
    pub backend: StorageBackend,
    /// The environment variable with the connection URL
    /// (`postgresql://user:password@host:5432/db?sslmode=require`).
    pub postgres_url_env: String,
    /// PEM file of the CA that signs the PostgreSQL server's certificate; required for
    /// `sslmode=require` (the certificate and host name are always verified). Without it the
    /// connection is in the clear.
    pub postgres_ca_file: Option<PathBuf>,
    /// Connections in the pool.
    pub postgres_pool_size: usize,
    /// How long start-up waits for the database to accept connections.
    pub postgres_connect_timeout_secs: u64,
    /// Start as a standby: wait (without binding any port) for the active node's lock and take
    /// over when that node goes away, instead of refusing to start (docs/STORAGE.md).
    pub postgres_standby: bool,
    /// Run as one of several active nodes on the database (docs/STORAGE.md, "Several active
    /// nodes"): every node serves; the periodic jobs run on the node holding the jobs lease.
    /// Every node on the database must say so (a node without it takes the single-node lock
    /// and waits for the others to go).
    pub postgres_multi_active: bool,
}

impl Default for StorageConfig {
    fn default() -> Self {
        Self {
            backend: StorageBackend::Rocksdb,
            postgres_url_env: POSTGRES_URL_ENV.into(),
            postgres_ca_file: None,
            postgres_pool_size: 16,
            postgres_connect_timeout_secs: 30,
            postgres_standby: false,
            postgres_multi_active: false,
        }
    }
}

impl StorageConfig {
    /// The PostgreSQL settings (URL from the environment), checked without connecting: a
    /// missing variable, an unparsable URL or an unreadable CA file is a configuration error.
    pub fn postgres(&self) -> Result<PgOptions, String> {
        let url = std::env::var(&self.postgres_url_env).map_err(|_| {
            format!(
                "storage.backend = \"postgres\" needs the connection URL in the environment \
                 variable {}",
                self.postgres_url_env
            )
        })?;
        let mut o = PgOptions::new(url);
        o.ca_file = self.postgres_ca_file.clone();
        o.pool_size = self.postgres_pool_size;
        o.connect_timeout = Duration::from_secs(self.postgres_connect_timeout_secs);
        o.standby = self.postgres_standby;
        if self.postgres_multi_active {
            // No single-node lock; commits notify the other nodes.
            o.exclusive = false;
            o.notify_writes = true;
        }
        o.client_config()
            .map_err(|e| format!("storage ({}): {e}", self.postgres_url_env))?;
        Ok(o)
    }

    pub(super) fn validate(&self, errs: &mut Vec<String>) {
        if self.backend != StorageBackend::Postgres {
            return;
        }
        if !(2..=1000).contains(&self.postgres_pool_size) {
            errs.push(format!(
                "storage.postgres_pool_size = {}: must be between 2 and 1000",
                self.postgres_pool_size
            ));
        }
        if self.postgres_standby && self.postgres_multi_active {
            errs.push(
                "storage.postgres_standby and storage.postgres_multi_active exclude each other: \
                 with several active nodes every node serves (docs/STORAGE.md)"
                    .into(),
            );
        }
        if let Err(e) = self.postgres() {
            errs.push(e);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn postgres_needs_its_url_variable_and_a_ca_for_require() {
        let mut s = StorageConfig {
            backend: StorageBackend::Postgres,
            postgres_url_env: "SIGIL_TEST_PG_URL_UNSET_VARIABLE".into(),
            ..StorageConfig::default()
        };
        let mut errs = Vec::new();
        s.validate(&mut errs);
        assert!(
            errs[0].contains("SIGIL_TEST_PG_URL_UNSET_VARIABLE"),
            "{errs:?}"
        );
        // A variable every test process has, holding something that is no URL.
        s.postgres_url_env = "PATH".into();
        let mut errs = Vec::new();
        s.validate(&mut errs);
        assert_eq!(errs.len(), 1, "{errs:?}");
        let c: StorageConfig = toml::from_str("backend = \"rocksdb\"\n").unwrap();
        assert_eq!(c.backend, StorageBackend::Rocksdb);
        assert!(toml::from_str::<StorageConfig>("backend = \"sqlite\"\n").is_err());
    }
}
