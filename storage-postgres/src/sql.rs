//! The statements, each prepared once per connection (deadpool's statement cache).

use deadpool_postgres::GenericClient;
use sigil_storage::Result;

use crate::error;

const GET: &str = "SELECT v FROM sigil_kv WHERE cf = $1 AND k = $2";
const LAST: &str = "SELECT k, v FROM sigil_kv WHERE cf = $1 ORDER BY k DESC LIMIT 1";
const PAGE: &str = "SELECT k, v FROM sigil_kv WHERE cf = $1 AND k >= $2 ORDER BY k LIMIT $3";
const PAGE_TO: &str =
    "SELECT k, v FROM sigil_kv WHERE cf = $1 AND k >= $2 AND k < $4 ORDER BY k LIMIT $3";
/// Consecutive puts of a batch, in one statement (no key twice: see `write`).
pub(crate) const PUTS: &str = "INSERT INTO sigil_kv (cf, k, v)
     SELECT * FROM unnest($1::text[], $2::bytea[], $3::bytea[])
     ON CONFLICT (cf, k) DO UPDATE SET v = EXCLUDED.v";
/// Consecutive deletes of a batch, in one statement.
pub(crate) const DELETES: &str = "DELETE FROM sigil_kv
     WHERE (cf, k) IN (SELECT * FROM unnest($1::text[], $2::bytea[]))";
pub(crate) const DELETE_RANGE: &str = "DELETE FROM sigil_kv WHERE cf = $1 AND k >= $2 AND k < $3";

/// The lock `write_checked` takes on a key it expects (released at commit or rollback).
pub(crate) const LOCK_KEY: &str =
    "SELECT pg_advisory_xact_lock(hashtextextended($1 || ':' || encode($2, 'hex'), 0))";

pub(crate) type Rows = Vec<(Vec<u8>, Vec<u8>)>;

pub(crate) async fn get<C: GenericClient>(c: &C, cf: &str, key: &[u8]) -> Result<Option<Vec<u8>>> {
    let stmt = c.prepare_cached(GET).await.map_err(error::pg)?;
    let row = c.query_opt(&stmt, &[&cf, &key]).await.map_err(error::pg)?;
    Ok(row.map(|r| r.get(0)))
}

pub(crate) async fn last<C: GenericClient>(c: &C, cf: &str) -> Result<Option<(Vec<u8>, Vec<u8>)>> {
    let stmt = c.prepare_cached(LAST).await.map_err(error::pg)?;
    let row = c.query_opt(&stmt, &[&cf]).await.map_err(error::pg)?;
    Ok(row.map(|r| (r.get(0), r.get(1))))
}

/// Up to `limit` entries with `from <= key (< to)`, in key order.
pub(crate) async fn page<C: GenericClient>(
    c: &C,
    cf: &str,
    from: &[u8],
    to: Option<&[u8]>,
    limit: i64,
) -> Result<Rows> {
    let rows = match to {
        Some(to) => {
            let stmt = c.prepare_cached(PAGE_TO).await.map_err(error::pg)?;
            c.query(&stmt, &[&cf, &from, &limit, &to]).await
        }
        None => {
            let stmt = c.prepare_cached(PAGE).await.map_err(error::pg)?;
            c.query(&stmt, &[&cf, &from, &limit]).await
        }
    }
    .map_err(error::pg)?;
    Ok(rows.into_iter().map(|r| (r.get(0), r.get(1))).collect())
}
