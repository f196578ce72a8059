//! Other nodes' writes, as they commit ([`sigil_storage::Store::watch_writes`]): a node's
//! replication streams push records as soon as they are committed, and with several nodes on
//! one database a record may be committed by another node. Stores opened with
//! [`crate::PgOptions::notify_writes`] announce each write with `pg_notify` inside the writing
//! transaction (delivered only if it commits, to every listener, once); a listener task per
//! [`watch_writes`](sigil_storage::Store::watch_writes) call listens on a connection of its
//! own and wakes its caller.
//!
//! The payload is the writing store's instance id (random, chosen at open), so a listener
//! ignores its own store's writes: the caller sees those already. Notifications sent while no
//! connection was listening are lost, so the listener also wakes its caller each time it has
//! (re)started listening: the caller then re-reads what it may have missed.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio_postgres::{AsyncMessage, Config, Notification};
use tokio_postgres_rustls::MakeRustlsConnect;

use crate::error::{self, OpenError};

/// `pg_notify`'s argument for every write (the channel, then this store's instance id).
pub(crate) const NOTIFY: &str = "SELECT pg_notify('sigil_kv_writes', $1)";
const LISTEN: &str = "LISTEN sigil_kv_writes";

/// Reconnection backoff after the listening connection is lost or cannot be made.
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// The caller's wake-up ([`sigil_storage::Store::watch_writes`]).
pub(crate) type Wake = Arc<dyn Fn() + Send + Sync>;

/// A random id for this store's notifications, as hex: unique among the stores sharing the
/// database (not secret: anyone on the database can read the notifications).
pub(crate) fn instance_id() -> Result<String, OpenError> {
    let mut id = [0u8; 8];
    rustls::crypto::aws_lc_rs::default_provider()
        .secure_random
        .fill(&mut id)
        .map_err(|_| {
            OpenError::Runtime(std::io::Error::other(
                "no random bytes for the store's instance id",
            ))
        })?;
    Ok(format!("{:016x}", u64::from_be_bytes(id)))
}

/// One `watch_writes` caller's listener.
pub(crate) struct Listener {
    pub(crate) config: Config,
    pub(crate) tls: MakeRustlsConnect,
    /// This store's instance id: its own notifications wake nobody.
    pub(crate) own: Arc<str>,
    pub(crate) wake: Wake,
    /// Changes (closes) when the store is dropped: the listener stops.
    pub(crate) stop: watch::Receiver<()>,
}

/// Why a listening session ended.
enum Ended {
    /// Listening never started (no connection, or `LISTEN` failed).
    Failed(String),
    /// The connection was listening, then ended.
    Lost(String),
}

impl Listener {
    /// Listens until the store is dropped, reconnecting with backoff.
    pub(crate) async fn run(mut self) {
        let mut backoff = FIRST_BACKOFF;
        let mut failures = 0u32;
        loop {
            let ended = tokio::select! {
                _ = self.stop.changed() => return,
                ended = session(&self.config, &self.tls, &self.own, &self.wake, &mut failures) => ended,
            };
            match ended {
                Ended::Lost(why) => {
                    tracing::warn!(
                        error = %why,
                        "lost the PostgreSQL connection listening for other nodes' writes; reconnecting"
                    );
                    backoff = FIRST_BACKOFF;
                }
                Ended::Failed(why) => {
                    failures += 1;
                    if failures == 1 {
                        tracing::warn!(
                            error = %why,
                            "cannot listen for other nodes' writes on PostgreSQL; retrying"
                        );
                    } else {
                        tracing::debug!(error = %why, failures, "still cannot listen for other nodes' writes");
                    }
                }
            }
            tokio::select! {
                _ = self.stop.changed() => return,
                _ = tokio::time::sleep(backoff) => {}
            }
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }
}

/// One connection: connect, `LISTEN`, wake, then wake on every batch of notifications that
/// holds one from another store, until the connection ends. Dropping it (the store is gone)
/// drops the client, which closes the connection.
async fn session(
    config: &Config,
    tls: &MakeRustlsConnect,
    own: &str,
    wake: &Wake,
    failures: &mut u32,
) -> Ended {
    let (client, mut connection) = match config.connect(tls.clone()).await {
        Ok(pair) => pair,
        Err(e) => return Ended::Failed(error::describe(&e)),
    };
    // tokio-postgres hands notifications only to whoever polls the connection itself: this
    // task drives it (the `LISTEN` below included) and forwards them. It ends when the
    // connection does, which dropping the client brings about.
    let (tx, mut rx) = mpsc::unbounded_channel::<Result<Notification, String>>();
    tokio::spawn(async move {
        loop {
            let message = std::future::poll_fn(|cx| connection.poll_message(cx)).await;
            let forward = match message {
                Some(Ok(AsyncMessage::Notification(n))) => Ok(n),
                // Notices (and whatever else may come) carry nothing for us.
                Some(Ok(_)) => continue,
                Some(Err(e)) => Err(error::describe(&e)),
                None => Err("the connection closed".to_string()),
            };
            let last = forward.is_err();
            if tx.send(forward).is_err() || last {
                return;
            }
        }
    });
    if let Err(e) = client.batch_execute(LISTEN).await {
        return Ended::Failed(error::describe(&e));
    }
    if *failures > 0 {
        tracing::info!("listening for other nodes' writes on PostgreSQL again");
    }
    *failures = 0;
    // Writes committed while nobody listened went unannounced.
    wake();
    while let Some(first) = rx.recv().await {
        // Everything already received is one wake-up: the caller re-reads anyway.
        let mut next = Some(first);
        let mut foreign = false;
        let mut lost = None;
        while let Some(message) = next {
            match message {
                Ok(n) => foreign |= n.payload() != own,
                Err(why) => {
                    lost = Some(why);
                    break;
                }
            }
            next = rx.try_recv().ok();
        }
        if foreign {
            wake();
        }
        if let Some(why) = lost {
            return Ended::Lost(why);
        }
    }
    Ended::Lost("the connection closed".to_string())
}
