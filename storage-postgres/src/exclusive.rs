//! One active control-plane node per database, until several nodes can share one (issue 21):
//! the store holds a session-level advisory lock on a connection of its own for as long as it
//! is open. A second node waits for it — up to the connect timeout, or for as long as it takes
//! when it is a standby — and then refuses to start (or, the standby, becomes the active node);
//! a node killed with `kill -9` releases it as soon as PostgreSQL sees its connection close.
//! A node whose lock connection closes stops writing (`lost`): another may hold the lock now.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio_postgres::{Client, Config};
use tokio_postgres_rustls::MakeRustlsConnect;

use crate::error;

/// The lock's key ("SIGIL" then 2).
const KEY: i64 = 0x0053_4947_494c_0002;

pub(crate) async fn hold(
    config: Config,
    tls: MakeRustlsConnect,
    wait: Option<Duration>,
    lost: Arc<AtomicBool>,
) -> Result<Client, String> {
    let started = Instant::now();
    let (client, connection) = config.connect(tls).await.map_err(|e| error::describe(&e))?;
    tokio::spawn(async move {
        let detail = match connection.await {
            Ok(()) => "closed".to_string(),
            Err(e) => error::describe(&e),
        };
        if !lost.swap(true, Ordering::SeqCst) {
            tracing::error!(
                error = %detail,
                "lost the PostgreSQL connection holding this node's database lock: this node no longer writes (another node may be active now); restart it"
            );
        }
    });
    let mut told = None::<Instant>;
    loop {
        let held: bool = client
            .query_one("SELECT pg_try_advisory_lock($1)", &[&KEY])
            .await
            .map_err(|e| error::describe(&e))?
            .get(0);
        if held {
            return Ok(client);
        }
        if let Some(wait) = wait {
            if started.elapsed() >= wait {
                return Err(
                    "another sigil-cp is using this database (it holds the node lock): run one \
                 active control-plane node per database (a second one as a standby: \
                 [storage] postgres_standby = true)"
                        .into(),
                );
            }
        } else if told.is_none_or(|t| t.elapsed() >= Duration::from_secs(60)) {
            told = Some(Instant::now());
            tracing::info!(
                waited_secs = started.elapsed().as_secs(),
                "standby: another sigil-cp is the active node on this database; waiting for its lock"
            );
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}
