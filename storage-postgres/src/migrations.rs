//! The versioned schema. Each [`Migration`] runs once, in order, recorded in
//! `sigil_schema_migrations`; all pending ones run in one transaction under an advisory lock,
//! so control-plane nodes starting together apply them once, and a crash mid-way applies none.
//! A database newer than the binary is refused (an older node must not write to it).

use std::time::{Duration, Instant};

use deadpool_postgres::Pool;
use thiserror::Error;
use tokio_postgres::error::SqlState;

use crate::error;

/// One schema change.
#[derive(Debug)]
pub struct Migration {
    pub version: i32,
    pub description: &'static str,
    pub sql: &'static str,
}

/// Every migration, oldest first; never edit one that has shipped, add another.
pub const MIGRATIONS: &[Migration] = &[Migration {
    version: 1,
    description: "sigil_kv: one row per key of every column family",
    // `bytea` compares bytewise (memcmp, then length), which is the order the Store trait
    // promises; `cf` in the "C" collation compares bytewise too.
    sql: "CREATE TABLE sigil_kv (
              cf text COLLATE \"C\" NOT NULL,
              k  bytea NOT NULL,
              v  bytea NOT NULL,
              PRIMARY KEY (cf, k)
          )",
}];

/// The schema version this binary writes.
pub const LATEST: i32 = 1;

/// Advisory lock key held while migrating ("SIGIL" then 1).
const LOCK_KEY: i64 = 0x0053_4947_494c_0001;

#[derive(Debug, Error)]
pub enum MigrateError {
    #[error("{0}")]
    Connect(String),
    #[error("{0}")]
    Schema(String),
}

/// Waits up to `wait` for a connection, then applies what is pending. Returns the version the
/// database was at.
pub async fn apply(pool: &Pool, wait: Duration) -> Result<i32, MigrateError> {
    let deadline = Instant::now() + wait;
    let mut backoff = Duration::from_millis(100);
    let mut client = loop {
        match pool.get().await {
            Ok(c) => break c,
            Err(e) => {
                let fatal = matches!(&e, deadpool_postgres::PoolError::Backend(b)
                    if b.code().is_some_and(|c| *c == SqlState::INVALID_PASSWORD
                        || *c == SqlState::INVALID_AUTHORIZATION_SPECIFICATION
                        || *c == SqlState::INVALID_CATALOG_NAME));
                let detail = error::pool(e).to_string();
                if fatal || Instant::now() + backoff > deadline {
                    return Err(MigrateError::Connect(detail));
                }
                tracing::warn!(%detail, retry_in_ms = backoff.as_millis() as u64, "PostgreSQL not reachable yet");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(2));
            }
        }
    };
    let schema = |e: tokio_postgres::Error| MigrateError::Schema(error::describe(&e));
    let tx = client.transaction().await.map_err(schema)?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&LOCK_KEY])
        .await
        .map_err(schema)?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS sigil_schema_migrations (
             version     integer PRIMARY KEY,
             description text NOT NULL,
             applied_at  timestamptz NOT NULL DEFAULT now()
         )",
    )
    .await
    .map_err(schema)?;
    let current: i32 = tx
        .query_one(
            "SELECT coalesce(max(version), 0) FROM sigil_schema_migrations",
            &[],
        )
        .await
        .map_err(schema)?
        .get(0);
    if current > LATEST {
        return Err(MigrateError::Schema(format!(
            "the database is at schema version {current}, newer than this sigil-cp knows \
             ({LATEST}): run the newer sigil-cp that upgraded it"
        )));
    }
    for m in MIGRATIONS.iter().filter(|m| m.version > current) {
        tx.batch_execute(m.sql).await.map_err(schema)?;
        tx.execute(
            "INSERT INTO sigil_schema_migrations (version, description) VALUES ($1, $2)",
            &[&m.version, &m.description],
        )
        .await
        .map_err(schema)?;
        tracing::info!(
            version = m.version,
            description = m.description,
            "PostgreSQL schema migrated"
        );
    }
    tx.commit().await.map_err(schema)?;
    Ok(current)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_consecutive_and_latest_is_last() {
        for (i, m) in MIGRATIONS.iter().enumerate() {
            assert_eq!(m.version, i as i32 + 1);
        }
        assert_eq!(MIGRATIONS.last().unwrap().version, LATEST);
    }
}
