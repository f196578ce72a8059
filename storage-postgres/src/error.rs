//! Errors: opening the store ([`OpenError`], for the operator) and PostgreSQL failures mapped
//! to [`StoreError::Io`] with the server's own message (for logs; clients never see it).

use sigil_storage::StoreError;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum OpenError {
    #[error("PostgreSQL connection URL: {0}")]
    Url(String),
    #[error("PostgreSQL TLS: {0}")]
    Tls(String),
    #[error("starting the PostgreSQL client runtime: {0}")]
    Runtime(std::io::Error),
    #[error("PostgreSQL connection pool: {0}")]
    Pool(String),
    #[error("connecting to PostgreSQL at {target}: {detail}")]
    Connect { target: String, detail: String },
    #[error("PostgreSQL database {target}: {detail}")]
    Busy { target: String, detail: String },
    #[error("PostgreSQL schema at {target}: {detail}")]
    Schema { target: String, detail: String },
}

/// A PostgreSQL client error as a storage error, with the server's message and code when it
/// sent one (tokio-postgres's own `Display` says only "db error").
pub(crate) fn pg(e: tokio_postgres::Error) -> StoreError {
    StoreError::Io(describe(&e))
}

pub(crate) fn describe(e: &tokio_postgres::Error) -> String {
    if let Some(db) = e.as_db_error() {
        return format!(
            "PostgreSQL {} {}: {}",
            db.severity(),
            db.code().code(),
            db.message()
        );
    }
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

pub(crate) fn pool(e: deadpool_postgres::PoolError) -> StoreError {
    match e {
        deadpool_postgres::PoolError::Backend(e) => pg(e),
        other => StoreError::Io(format!("PostgreSQL connection pool: {other}")),
    }
}
