//! A [`WriteBatch`] as one transaction: its operations in order, consecutive puts (and
//! consecutive deletes) sent as one `unnest` statement of up to [`CHUNK`] rows each, then
//! (with [`crate::PgOptions::notify_writes`]) the notification that tells the other nodes.

use std::collections::HashMap;

use deadpool_postgres::Pool;
use sigil_storage::{BatchOp, Durability, Expect, Result, WriteBatch};

use crate::{bridge, error, notify, sql};

/// Rows per statement: bounds the size of one message on a bulk write.
const CHUNK: usize = 4096;

pub(crate) fn cf_of(op: &BatchOp) -> &'static str {
    match op {
        BatchOp::Put { cf, .. } | BatchOp::Delete { cf, .. } | BatchOp::DeleteRange { cf, .. } => {
            cf
        }
    }
}

/// Consecutive operations of one kind.
#[derive(Debug, PartialEq, Eq)]
enum Run {
    Puts(Vec<(&'static str, Vec<u8>, Vec<u8>)>),
    Deletes(Vec<(&'static str, Vec<u8>)>),
    Range(&'static str, Vec<u8>, Vec<u8>),
}

fn runs(ops: Vec<BatchOp>) -> Vec<Run> {
    let mut out: Vec<Run> = Vec::new();
    for op in ops {
        match (op, out.last_mut()) {
            (BatchOp::Put { cf, key, value }, Some(Run::Puts(puts))) => puts.push((cf, key, value)),
            (BatchOp::Put { cf, key, value }, _) => out.push(Run::Puts(vec![(cf, key, value)])),
            (BatchOp::Delete { cf, key }, Some(Run::Deletes(dels))) => dels.push((cf, key)),
            (BatchOp::Delete { cf, key }, _) => out.push(Run::Deletes(vec![(cf, key)])),
            (BatchOp::DeleteRange { cf, start, end }, _) => out.push(Run::Range(cf, start, end)),
        }
    }
    for run in &mut out {
        if let Run::Puts(puts) = run {
            last_put_wins(puts);
        }
    }
    out
}

/// One `INSERT … ON CONFLICT DO UPDATE` may not touch a row twice: of several puts to one key
/// in a run, the last one is what the batch means.
fn last_put_wins(puts: &mut Vec<(&'static str, Vec<u8>, Vec<u8>)>) {
    let mut last: HashMap<(&str, &[u8]), usize> = HashMap::with_capacity(puts.len());
    for (i, (cf, key, _)) in puts.iter().enumerate() {
        last.insert((cf, key.as_slice()), i);
    }
    if last.len() == puts.len() {
        return;
    }
    let keep: Vec<bool> = puts
        .iter()
        .enumerate()
        .map(|(i, (cf, key, _))| last[&(*cf, key.as_slice())] == i)
        .collect();
    let mut i = 0;
    puts.retain(|_| {
        i += 1;
        keep[i - 1]
    });
}

/// Writes `batch` if `expect` holds; `announce_as`: this store's instance id, when it announces
/// its writes.
pub(crate) async fn apply(
    pool: &Pool,
    mut expect: Vec<Expect>,
    batch: WriteBatch,
    durability: Durability,
    announce_as: Option<&str>,
) -> Result<()> {
    let mut client = bridge::client(pool).await?;
    let tx = client.transaction().await.map_err(error::pg)?;
    // Each expected key's transaction-scoped advisory lock, in one order (no deadlock), then
    // its value: a statement after the lock sees every commit of the lock's previous holder
    // (READ COMMITTED takes a new snapshot per statement), on any node.
    expect.sort_by(|a, b| (a.cf, &a.key).cmp(&(b.cf, &b.key)));
    expect.dedup_by(|a, b| a.cf == b.cf && a.key == b.key);
    for e in &expect {
        let lock = tx.prepare_cached(sql::LOCK_KEY).await.map_err(error::pg)?;
        tx.execute(&lock, &[&e.cf, &e.key])
            .await
            .map_err(error::pg)?;
        if sql::get(&tx, e.cf, &e.key).await? != e.value {
            // Dropping the transaction rolls it back.
            return Err(e.conflict());
        }
    }
    if durability == Durability::Buffered {
        tx.batch_execute("SET LOCAL synchronous_commit = off")
            .await
            .map_err(error::pg)?;
    }
    let announce = announce_as.filter(|_| !batch.is_empty());
    for run in runs(batch.into_ops()) {
        match run {
            Run::Puts(puts) => {
                let stmt = tx.prepare_cached(sql::PUTS).await.map_err(error::pg)?;
                for chunk in puts.chunks(CHUNK) {
                    let cfs: Vec<&str> = chunk.iter().map(|p| p.0).collect();
                    let keys: Vec<&[u8]> = chunk.iter().map(|p| p.1.as_slice()).collect();
                    let values: Vec<&[u8]> = chunk.iter().map(|p| p.2.as_slice()).collect();
                    tx.execute(&stmt, &[&cfs, &keys, &values])
                        .await
                        .map_err(error::pg)?;
                }
            }
            Run::Deletes(dels) => {
                let stmt = tx.prepare_cached(sql::DELETES).await.map_err(error::pg)?;
                for chunk in dels.chunks(CHUNK) {
                    let cfs: Vec<&str> = chunk.iter().map(|d| d.0).collect();
                    let keys: Vec<&[u8]> = chunk.iter().map(|d| d.1.as_slice()).collect();
                    tx.execute(&stmt, &[&cfs, &keys]).await.map_err(error::pg)?;
                }
            }
            Run::Range(cf, start, end) => {
                let stmt = tx
                    .prepare_cached(sql::DELETE_RANGE)
                    .await
                    .map_err(error::pg)?;
                tx.execute(&stmt, &[&cf, &start, &end])
                    .await
                    .map_err(error::pg)?;
            }
        }
    }
    if let Some(id) = announce {
        // Inside the transaction: PostgreSQL delivers it if and when the transaction commits,
        // so no node is woken for a write that rolled back.
        let stmt = tx.prepare_cached(notify::NOTIFY).await.map_err(error::pg)?;
        tx.execute(&stmt, &[&id]).await.map_err(error::pg)?;
    }
    // Nothing is acknowledged before this returns: with `Durability::Sync` the commit is on
    // the server's disk (and on its synchronous standbys, if it has any) when it does.
    tx.commit().await.map_err(error::pg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_group_consecutive_ops_and_keep_the_last_put() {
        let mut b = WriteBatch::new();
        b.put("a", b"k".to_vec(), b"1".to_vec());
        b.put("b", b"k".to_vec(), b"x".to_vec());
        b.put("a", b"k".to_vec(), b"2".to_vec());
        b.delete("a", b"k".to_vec());
        b.delete("a", b"j".to_vec());
        b.put("a", b"k".to_vec(), b"3".to_vec());
        b.delete_range("a", b"a".to_vec(), b"b".to_vec());
        b.delete_range("a", b"c".to_vec(), b"d".to_vec());
        assert_eq!(
            runs(b.into_ops()),
            vec![
                Run::Puts(vec![
                    ("b", b"k".to_vec(), b"x".to_vec()),
                    ("a", b"k".to_vec(), b"2".to_vec())
                ]),
                Run::Deletes(vec![("a", b"k".to_vec()), ("a", b"j".to_vec())]),
                Run::Puts(vec![("a", b"k".to_vec(), b"3".to_vec())]),
                Run::Range("a", b"a".to_vec(), b"b".to_vec()),
                Run::Range("a", b"c".to_vec(), b"d".to_vec()),
            ]
        );
    }
}
