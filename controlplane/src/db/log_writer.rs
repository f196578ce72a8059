//! Group writes to the replication log: several commits' batches and records staged into one
//! synced write ([`Db::write_group`]), each commit's records numbered after the previous
//! commit's, so that one fsync makes them all durable (group commit) and the log stays
//! gap-free and in commit order.

use sigil_shared::replication::{Change, Record};
use sigil_shared::time::now_unix;
use sigil_storage::{Durability, Expect, WriteBatch};

use super::{cf, Db, DbError, META_HEAD};

/// What [`Db::write_group`] has staged so far: the merged batch and the head after it.
#[derive(Debug)]
pub struct LogWriter {
    batch: WriteBatch,
    seq: u64,
    now: i64,
    /// Fences of the write ([`sigil_storage::Store::write_checked`]).
    expect: Vec<Expect>,
}

impl LogWriter {
    /// Stages one commit: `batch`, then a log record per change, numbered after everything
    /// staged before. Returns the head after this commit's records. If a record cannot be
    /// encoded, nothing of this commit is staged (the others are unaffected).
    pub fn append(&mut self, mut batch: WriteBatch, changes: Vec<Change>) -> Result<u64, DbError> {
        let mut seq = self.seq;
        for change in changes {
            seq += 1;
            let rec = Record {
                seq,
                committed_at: self.now,
                change,
            };
            let bytes = rec.to_bytes().map_err(|e| DbError::Encode(e.to_string()))?;
            batch.put(cf::REPL_LOG, seq.to_be_bytes().to_vec(), bytes);
        }
        self.batch.append(batch);
        self.seq = seq;
        Ok(seq)
    }

    /// The head after everything staged so far.
    pub fn head(&self) -> u64 {
        self.seq
    }

    /// Makes the write conditional on `e` ([`sigil_storage::Store::write_checked`]): the next
    /// record of a chain being absent (no other writer appended it), a commit's own
    /// precondition (a new serial not yet taken).
    pub fn expect(&mut self, e: Expect) {
        self.expect.push(e);
    }
}

impl Db {
    /// Runs `stage` with a [`LogWriter`] at the current head, then writes everything it staged
    /// — with the new head and the trimming of records past retention — in one synced write.
    /// Returns what `stage` returned once that write is durable, or the write's error (then
    /// nothing of it was written). Group writes are serialised, so the log has no gaps or
    /// reordering; the head moves (and subscribers are told) only after the write.
    pub fn write_group<T>(&self, stage: impl FnOnce(&mut LogWriter) -> T) -> Result<T, DbError> {
        let mut log = self.log.lock().unwrap_or_else(|e| e.into_inner());
        let mut w = LogWriter {
            batch: WriteBatch::new(),
            seq: log.head,
            now: now_unix(),
            expect: Vec::new(),
        };
        let out = stage(&mut w);
        let LogWriter {
            mut batch,
            seq,
            mut expect,
            ..
        } = w;
        let mut oldest = log.oldest;
        if seq != log.head {
            // The fence: this process numbers records from its own head; if another writer
            // on the same store (a second control-plane node on one PostgreSQL database)
            // appended record head + 1 meanwhile, the write fails instead of numbering two
            // records alike.
            expect.push(Expect {
                cf: cf::REPL_LOG,
                key: (log.head + 1).to_be_bytes().to_vec(),
                value: None,
            });
            batch.put(cf::META, META_HEAD.to_vec(), seq.to_be_bytes().to_vec());
            if seq + 1 - oldest > self.retain {
                let new_oldest = seq + 1 - self.retain;
                batch.delete_range(
                    cf::REPL_LOG,
                    oldest.to_be_bytes().to_vec(),
                    new_oldest.to_be_bytes().to_vec(),
                );
                oldest = new_oldest;
            }
        }
        if let Err(e) = self.store.write_checked(&expect, batch, Durability::Sync) {
            if matches!(e, sigil_storage::StoreError::Conflict { .. }) {
                tracing::error!(error = %e, "write conflict, nothing of this group was written: a key a commit expected absent is present (a certificate serial taken, or another writer appended to the replication or audit log: two active control planes on one database?)");
            }
            return Err(e.into());
        }
        log.head = seq;
        log.oldest = oldest;
        drop(log);
        self.head_tx.send_replace(seq);
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use sigil_storage::MemStore;

    use super::*;

    fn change(i: u32) -> Change {
        Change::CaDelete {
            issuer_id: format!("c{i}"),
        }
    }

    #[test]
    fn one_write_numbers_each_part_after_the_previous() {
        let d = Db::open(Arc::new(MemStore::new(cf::ALL)), 100).unwrap();
        let rx = d.subscribe();
        let heads = d
            .write_group(|log| {
                let mut b = WriteBatch::new();
                b.put(cf::META, b"a".to_vec(), b"1".to_vec());
                [
                    log.append(b, vec![change(1), change(2)]).unwrap(),
                    log.append(WriteBatch::new(), vec![]).unwrap(),
                    log.append(WriteBatch::new(), vec![change(3)]).unwrap(),
                ]
            })
            .unwrap();
        assert_eq!(heads, [2, 2, 3]);
        assert_eq!(d.head(), 3);
        assert_eq!(*rx.borrow(), 3);
        let recs = d.read_log(0, 10).unwrap();
        assert_eq!(recs.iter().map(|r| r.seq).collect::<Vec<_>>(), [1, 2, 3]);
        assert_eq!(recs[2].change, change(3));
        assert!(d.get_raw(cf::META, b"a").unwrap().is_some());
    }

    #[test]
    fn a_failed_write_moves_nothing() {
        let d = Db::open(Arc::new(MemStore::new(cf::ALL)), 100).unwrap();
        let rx = d.subscribe();
        // A column family the store does not have: the store refuses the whole batch.
        let r = d.write_group(|log| {
            log.append(WriteBatch::new(), vec![change(1)]).unwrap();
            let mut bad = WriteBatch::new();
            bad.put("no-such-cf", b"k".to_vec(), b"v".to_vec());
            log.append(bad, vec![change(2)]).unwrap()
        });
        assert!(r.is_err());
        assert_eq!(d.head(), 0);
        assert!(!rx.has_changed().unwrap());
        assert!(d.read_log(0, 10).unwrap().is_empty());
        // The next group starts from the same head.
        assert_eq!(
            d.write_replicated(WriteBatch::new(), vec![change(3)])
                .unwrap(),
            1
        );
    }

    #[test]
    fn two_writers_on_one_store_never_number_records_alike() {
        let store: Arc<dyn sigil_storage::Store> = Arc::new(MemStore::new(cf::ALL));
        let a = Db::open(store.clone(), 100).unwrap();
        let b = Db::open(store.clone(), 100).unwrap();
        assert_eq!(
            a.write_replicated(WriteBatch::new(), vec![change(1)])
                .unwrap(),
            1
        );
        // `b` still believes the head is 0: its record 1 would be a second record 1.
        let mut side = WriteBatch::new();
        side.put(cf::META, b"b".to_vec(), b"1".to_vec());
        let err = b.write_replicated(side, vec![change(2)]).unwrap_err();
        assert!(
            matches!(
                err,
                DbError::Store(sigil_storage::StoreError::Conflict { .. })
            ),
            "{err}"
        );
        assert_eq!(b.head(), 0, "the failed writer's head did not move");
        assert!(
            b.get_raw(cf::META, b"b").unwrap().is_none(),
            "nothing written"
        );
        let recs = a.read_log(0, 10).unwrap();
        assert_eq!(recs.len(), 1);
        assert_eq!(recs[0].change, change(1));
    }
}
