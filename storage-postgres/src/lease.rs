//! Leases shared by every node on the database ([`sigil_storage::Store::try_lease`]): a lease
//! is a session-level advisory lock held on a connection of its own, so that PostgreSQL itself
//! releases it when the holder goes away (`kill -9`, host loss: the connection closes) and
//! another node can take it at once.
//!
//! The connection is watched: the lease is lost ([`sigil_storage::Lease::is_held`] false) when
//! the connection ends, or when a `SELECT 1` every second gets no answer within 3 s — a holder
//! cut off from the database must stop acting under a lease that the server may already have
//! given to someone else. TCP keepalives ([`crate::options::dedicated`]) end a connection whose
//! peer vanished silently.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use sigil_storage::{Lease, Result, StoreError};
use tokio::runtime::Handle;
use tokio::time::MissedTickBehavior;
use tokio_postgres::{Client, Config};
use tokio_postgres_rustls::MakeRustlsConnect;

use crate::error;

/// The first key of every lease's lock ("SGL1"); the second is `hashtext(name)`. Leases use
/// the two-`int4` form of the advisory lock functions, while the node lock (`exclusive.rs`)
/// and `write_checked`'s key locks (`write.rs`) use the `bigint` form: PostgreSQL keeps the
/// two forms in separate key spaces (`pg_locks.objsubid` 2 and 1), so a lease can never
/// collide with those whatever its name hashes to. Two lease names whose hashes collide would
/// share one lock: one holder for both, never two holders for one.
pub(crate) const CLASS: i32 = 0x5347_4C31;

const TRY_LOCK: &str = "SELECT pg_try_advisory_lock($1::int4, hashtext($2))";
const UNLOCK: &str = "SELECT pg_advisory_unlock($1::int4, hashtext($2))";

/// How often the holding connection is checked, and how long an answer may take.
const CHECK_EVERY: Duration = Duration::from_secs(1);
const CHECK_TIMEOUT: Duration = Duration::from_secs(3);
/// How long dropping a lease waits for its explicit unlock.
const RELEASE_WAIT: Duration = Duration::from_secs(1);

/// What the lease's watchers share.
struct State {
    name: String,
    /// The lease's `lost` flag ([`Lease::new`]).
    lost: Arc<AtomicBool>,
    /// Set when the holder let the lease go (or never got it): the connection closing then is
    /// no loss.
    released: AtomicBool,
}

impl State {
    fn over(&self) -> bool {
        self.released.load(Ordering::SeqCst) || self.lost.load(Ordering::SeqCst)
    }

    /// Marks the lease lost, logging it once.
    fn lose(&self, why: &str) {
        if self.released.load(Ordering::SeqCst) {
            return;
        }
        if !self.lost.swap(true, Ordering::SeqCst) {
            tracing::warn!(
                lease = %self.name,
                error = %why,
                "lost a PostgreSQL lease (its connection failed): another node may hold it now; \
                 what ran under it stops"
            );
        }
    }
}

/// Drives the holding connection: whenever it ends — the connection closed or failed, or the
/// store's runtime (and with it the connection) shut down under a lease still held — the
/// lease is lost.
struct Watcher {
    state: Arc<State>,
    why: String,
}

impl Watcher {
    /// The connection ended, for this reason (told when the watcher is dropped).
    fn ended(&mut self, why: String) {
        self.why = why;
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        self.state.lose(&self.why);
    }
}

/// Takes lease `name` on a new connection, or `None` when another session holds it. Runs on
/// the store's runtime (the watchers it starts stay there).
pub(crate) async fn take(
    config: Config,
    tls: MakeRustlsConnect,
    name: String,
) -> Result<Option<Lease>> {
    let (client, connection) = config.connect(tls).await.map_err(|e| failed(&name, &e))?;
    let state = Arc::new(State {
        name,
        lost: Arc::new(AtomicBool::new(false)),
        released: AtomicBool::new(false),
    });
    let mut watcher = Watcher {
        state: state.clone(),
        why: "the store was closed".into(),
    };
    tokio::spawn(async move {
        let why = match connection.await {
            Ok(()) => "the connection closed".into(),
            Err(e) => error::describe(&e),
        };
        watcher.ended(why);
    });
    let taken: std::result::Result<bool, _> = client
        .query_one(TRY_LOCK, &[&CLASS, &state.name])
        .await
        .and_then(|row| row.try_get(0));
    let taken = match taken {
        Ok(taken) => taken,
        Err(e) => {
            state.released.store(true, Ordering::SeqCst);
            return Err(failed(&state.name, &e));
        }
    };
    if !taken {
        // Dropping the client closes the connection.
        state.released.store(true, Ordering::SeqCst);
        return Ok(None);
    }
    let client = Arc::new(client);
    tokio::spawn(check(Arc::downgrade(&client), state.clone()));
    Ok(Some(Lease::new(
        state.lost.clone(),
        Box::new(Held {
            client: Some(client),
            state,
            handle: Handle::current(),
        }),
    )))
}

fn failed(name: &str, e: &tokio_postgres::Error) -> StoreError {
    StoreError::Io(format!("PostgreSQL lease {name:?}: {}", error::describe(e)))
}

/// Checks the holding connection every [`CHECK_EVERY`] until the lease is dropped (the
/// [`Held`] and its client are gone) or lost.
async fn check(client: Weak<Client>, state: Arc<State>) {
    let mut ticks = tokio::time::interval(CHECK_EVERY);
    ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
    ticks.tick().await;
    loop {
        ticks.tick().await;
        if state.over() {
            return;
        }
        let Some(client) = client.upgrade() else {
            return;
        };
        match tokio::time::timeout(CHECK_TIMEOUT, client.batch_execute("SELECT 1")).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                state.lose(&error::describe(&e));
                return;
            }
            Err(_) => {
                let why = format!(
                    "no answer to a health check within {} s",
                    CHECK_TIMEOUT.as_secs()
                );
                state.lose(&why);
                return;
            }
        }
    }
}

/// What a [`Lease`] holds: the connection holding the lock.
struct Held {
    client: Option<Arc<Client>>,
    state: Arc<State>,
    /// The store's runtime, where the unlock runs.
    handle: Handle,
}

impl Drop for Held {
    /// Unlocks explicitly, then closes the connection, and waits (up to [`RELEASE_WAIT`]) for
    /// the unlock: closing alone releases the lock only once the server has noticed, so a
    /// `try_lease` right after the drop — here or on another node — could still find it held.
    /// (If the store's runtime is already gone the connection is already closed.)
    fn drop(&mut self) {
        self.state.released.store(true, Ordering::SeqCst);
        let Some(client) = self.client.take() else {
            return;
        };
        let name = self.state.name.clone();
        let (done, finished) = std::sync::mpsc::sync_channel::<()>(1);
        self.handle.spawn(async move {
            let _ =
                tokio::time::timeout(RELEASE_WAIT, client.execute(UNLOCK, &[&CLASS, &name])).await;
            drop(client);
            let _ = done.send(());
        });
        let _ = finished.recv_timeout(RELEASE_WAIT + Duration::from_millis(200));
    }
}
