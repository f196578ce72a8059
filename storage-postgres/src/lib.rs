//! [`sigil_storage::Store`] on PostgreSQL, for control planes that run as several nodes on one
//! database (issue 21; ARCHITECTURE.md, "Storage").
//!
//! Every column family lives in one table, `sigil_kv (cf, k, v)`, primary key `(cf, k)`:
//! `bytea` compares bytewise, so key order is RocksDB's. A [`WriteBatch`] is one transaction
//! (consecutive puts and deletes each sent as one `unnest` statement); [`Durability::Sync`]
//! returns only once PostgreSQL has committed (`synchronous_commit` as the server has it,
//! `on` by default), [`Durability::Buffered`] commits with `synchronous_commit = off`.
//! Snapshots and scans are `REPEATABLE READ, READ ONLY` transactions, read in pages.
//! The schema is versioned ([`migrations`]) and brought up to date when the store opens.
//!
//! Several nodes on one database coordinate through it: a lease ([`Store::try_lease`]) is an
//! advisory lock on a connection of its own (`lease`), so a periodic job runs on one node at
//! a time; a write announced with `pg_notify` ([`PgOptions::notify_writes`]) wakes the other
//! nodes' listeners ([`Store::watch_writes`], `notify`), so their replication streams push
//! records those nodes did not write themselves.
//!
//! The [`Store`] trait is synchronous and the control plane calls it from async handlers as
//! well as from blocking threads, so the store runs its own small tokio runtime on a thread of
//! its own and every call waits for its answer on a channel — like a RocksDB call that waits
//! for the disk, it blocks the calling thread and never nests runtimes.

mod bridge;
mod error;
mod exclusive;
mod lease;
pub mod migrations;
mod notify;
mod options;
mod session;
mod sql;
#[cfg(feature = "testing")]
pub mod testing;
mod write;

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use deadpool_postgres::Pool;
use sigil_storage::{Durability, Expect, Lease, ReadView, Result, Store, StoreError, WriteBatch};
use tokio_postgres::Config;
use tokio_postgres_rustls::MakeRustlsConnect;

pub use error::OpenError;
pub use options::PgOptions;

use bridge::Bridge;
use session::Session;

/// The column families this store was opened with; anything else is [`StoreError::UnknownCf`].
#[derive(Debug, Clone)]
struct Cfs(Arc<BTreeSet<String>>);

impl Cfs {
    fn check(&self, cf: &str) -> Result<()> {
        if self.0.contains(cf) {
            Ok(())
        } else {
            Err(StoreError::UnknownCf(cf.to_string()))
        }
    }
}

/// A PostgreSQL database holding a fixed set of column families.
pub struct PgStore {
    bridge: Bridge,
    pool: Pool,
    cfs: Cfs,
    /// `host:port/dbname` for logs (never the password).
    target: String,
    /// The connection holding the node lock ([`PgOptions::exclusive`]); closing it releases
    /// the lock.
    _lock: Option<tokio_postgres::Client>,
    /// Set when the lock's connection closed: this node refuses to write from then on.
    lock_lost: Arc<AtomicBool>,
    /// How the store opens connections of its own, outside the pool (leases, write
    /// listeners): held open for long and mostly idle, so with tight TCP keepalives.
    dedicated: Config,
    tls: MakeRustlsConnect,
    /// This store's id in write notifications, so its listeners ignore its own writes.
    instance: Arc<str>,
    /// Whether its writes are announced ([`PgOptions::notify_writes`]).
    notify_writes: bool,
    /// Write listeners stop when this is dropped with the store.
    listeners_stop: tokio::sync::watch::Sender<()>,
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStore")
            .field("target", &self.target)
            .finish_non_exhaustive()
    }
}

impl PgStore {
    /// Connects (retrying for `options.connect_timeout`), brings the schema up to date and
    /// returns the store. Column families need no DDL: `cfs` only bounds which names are valid.
    pub fn open(options: &PgOptions, cfs: &[&str]) -> std::result::Result<Self, OpenError> {
        let (config, tls) = options.client_config()?;
        let target = options::describe(&config);
        let dedicated = options::dedicated(config.clone());
        let instance: Arc<str> = notify::instance_id()?.into();
        let bridge = Bridge::start()?;
        let pool = options::pool(config.clone(), tls.clone(), options.pool_size)?;
        let lease_tls = tls.clone();
        let wait = options.connect_timeout;
        let migrate_pool = pool.clone();
        let outcome = bridge
            .call(async move { migrations::apply(&migrate_pool, wait).await })
            .map_err(|e| OpenError::Connect {
                target: target.clone(),
                detail: e.to_string(),
            })?;
        outcome.map_err(|e| match e {
            migrations::MigrateError::Connect(detail) => OpenError::Connect {
                target: target.clone(),
                detail,
            },
            migrations::MigrateError::Schema(detail) => OpenError::Schema {
                target: target.clone(),
                detail,
            },
        })?;
        let lock_lost = Arc::new(AtomicBool::new(false));
        let lock = if options.exclusive {
            let lock_wait = (!options.standby).then_some(wait);
            let client = bridge
                .call(exclusive::hold(config, tls, lock_wait, lock_lost.clone()))
                .map_err(|e| OpenError::Connect {
                    target: target.clone(),
                    detail: e.to_string(),
                })?
                .map_err(|detail| OpenError::Busy {
                    target: target.clone(),
                    detail,
                })?;
            Some(client)
        } else {
            None
        };
        tracing::info!(%target, schema = migrations::LATEST, %instance, "PostgreSQL store open");
        Ok(Self {
            bridge,
            pool,
            cfs: Cfs(Arc::new(cfs.iter().map(|s| s.to_string()).collect())),
            target,
            _lock: lock,
            lock_lost,
            dedicated,
            tls: lease_tls,
            instance,
            notify_writes: options.notify_writes,
            listeners_stop: tokio::sync::watch::channel(()).0,
        })
    }

    fn session(&self) -> Result<Session> {
        Session::begin(&self.bridge, &self.pool, self.cfs.clone())
    }
}

impl ReadView for PgStore {
    fn get(&self, cf: &str, key: &[u8]) -> Result<Option<Vec<u8>>> {
        self.cfs.check(cf)?;
        let (pool, cf, key) = (self.pool.clone(), cf.to_string(), key.to_vec());
        self.bridge.call(async move {
            let client = bridge::client(&pool).await?;
            sql::get(&client, &cf, &key).await
        })?
    }

    fn scan(
        &self,
        cf: &str,
        from: &[u8],
        to: Option<&[u8]>,
        visit: &mut dyn FnMut(&[u8], &[u8]) -> bool,
    ) -> Result<()> {
        self.cfs.check(cf)?;
        // One consistent view for the whole scan, as a RocksDB iterator has.
        self.session()?.scan(cf, from, to, visit)
    }

    fn last(&self, cf: &str) -> Result<Option<(Vec<u8>, Vec<u8>)>> {
        self.cfs.check(cf)?;
        let (pool, cf) = (self.pool.clone(), cf.to_string());
        self.bridge.call(async move {
            let client = bridge::client(&pool).await?;
            sql::last(&client, &cf).await
        })?
    }
}

impl Store for PgStore {
    fn write(&self, batch: WriteBatch, durability: Durability) -> Result<()> {
        self.write_checked(&[], batch, durability)
    }

    fn write_checked(
        &self,
        expect: &[Expect],
        batch: WriteBatch,
        durability: Durability,
    ) -> Result<()> {
        if self.lock_lost.load(Ordering::SeqCst) {
            return Err(StoreError::Io(
                "this node lost its PostgreSQL node lock (its connection closed): it no longer \
                 writes; restart it"
                    .into(),
            ));
        }
        for op in batch.ops() {
            self.cfs.check(write::cf_of(op))?;
        }
        for e in expect {
            self.cfs.check(e.cf)?;
        }
        if batch.is_empty() && expect.is_empty() {
            return Ok(());
        }
        let (pool, expect) = (self.pool.clone(), expect.to_vec());
        let announce_as = self.notify_writes.then(|| self.instance.clone());
        self.bridge.call(async move {
            write::apply(&pool, expect, batch, durability, announce_as.as_deref()).await
        })?
    }

    fn with_snapshot(&self, f: &mut dyn FnMut(&dyn ReadView) -> Result<()>) -> Result<()> {
        let session = self.session()?;
        f(&session)
    }

    /// An advisory lock on a new connection of its own (`lease`): exclusive among every
    /// session on the database, released by PostgreSQL when that connection closes.
    fn try_lease(&self, name: &str) -> Result<Option<Lease>> {
        let (config, tls) = (self.dedicated.clone(), self.tls.clone());
        let name = name.to_string();
        self.bridge.call(lease::take(config, tls, name))?
    }

    /// Starts a listener (`notify`) on the store's runtime, on a connection of its own, until
    /// the store is dropped; `wake` runs on that runtime and should only signal. Other nodes'
    /// writes wake it only if they were opened with [`PgOptions::notify_writes`].
    fn watch_writes(&self, wake: Arc<dyn Fn() + Send + Sync>) -> Result<bool> {
        let listener = notify::Listener {
            config: self.dedicated.clone(),
            tls: self.tls.clone(),
            own: self.instance.clone(),
            wake,
            stop: self.listeners_stop.subscribe(),
        };
        self.bridge.handle().spawn(listener.run());
        Ok(true)
    }

    /// `VACUUM FULL sigil_kv`: rewrites the table so that overwritten values no longer lie in
    /// its files. All column families share the table, so this rewrites everything and locks
    /// it while it runs; the control plane calls it once, after sealing secrets that an older
    /// version left in the clear (never needed on a database this backend created).
    fn compact(&self, cf: &str) -> Result<()> {
        self.cfs.check(cf)?;
        let pool = self.pool.clone();
        self.bridge.call(async move {
            let client = bridge::client(&pool).await?;
            client
                .batch_execute("VACUUM FULL sigil_kv")
                .await
                .map_err(error::pg)
        })?
    }
}
