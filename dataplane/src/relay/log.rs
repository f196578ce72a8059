//! The relay's retained log in the replica (`cf::RELAY_LOG`): each applied record under its
//! sequence number (u64 BE), written in the write batch that applies it, the newest
//! `retain_records` kept. Functions over a [`WriteBatch`] or a [`ReadView`], no I/O of their
//! own.

use sigil_shared::replication::{FrameError, Record};
use sigil_storage::{ReadView, Store, StoreError, WriteBatch};

use crate::schema::{applied_seq, cf};

fn key(seq: u64) -> [u8; 8] {
    seq.to_be_bytes()
}

fn seq_of(key: &[u8]) -> Option<u64> {
    <[u8; 8]>::try_from(key).ok().map(u64::from_be_bytes)
}

/// Adds `record` to `batch` (the batch that applies it) and deletes the record that falls
/// out of the newest `retain`.
pub fn append(batch: &mut WriteBatch, record: &Record, retain: u64) -> Result<(), FrameError> {
    batch.put(cf::RELAY_LOG, key(record.seq), record.to_bytes()?);
    if record.seq > retain {
        batch.delete(cf::RELAY_LOG, key(record.seq - retain));
    }
    Ok(())
}

/// The oldest retained sequence after `head` was applied, given the one before: records
/// older than the newest `retain` are trimmed by [`append`].
pub fn oldest_after(oldest: u64, head: u64, retain: u64) -> u64 {
    oldest.max((head + 1).saturating_sub(retain))
}

/// Brings the log of a replica opened at start-up in line with it: a log that does not end
/// at the applied sequence (the relay was off while records were applied, or it never ran)
/// is dropped, so that it restarts at the applied sequence without a hole; one longer than
/// `retain` (the setting shrank) is trimmed. Returns the oldest retained sequence (the
/// applied sequence + 1 when the log is empty).
pub fn prepare(store: &dyn Store, retain: u64) -> Result<u64, StoreError> {
    let applied = applied_seq(store);
    let last = store.last(cf::RELAY_LOG)?.and_then(|(k, _)| seq_of(&k));
    let mut first = None;
    store.scan(cf::RELAY_LOG, &[], None, &mut |k, _| {
        first = seq_of(k);
        false
    })?;
    let mut batch = WriteBatch::new();
    let oldest = match (first, last) {
        (Some(first), Some(last)) if last == applied => {
            let keep_from = oldest_after(first, applied, retain);
            if keep_from > first {
                batch.delete_range(cf::RELAY_LOG, key(0).to_vec(), key(keep_from).to_vec());
            }
            keep_from
        }
        (None, None) => applied + 1,
        _ => {
            tracing::info!(
                applied,
                "the relay's retained log does not end at the applied sequence: it restarts there"
            );
            batch.delete_range(cf::RELAY_LOG, key(0).to_vec(), vec![0xff; 9]);
            applied + 1
        }
    };
    if !batch.is_empty() {
        store.write(batch, sigil_storage::Durability::Sync)?;
    }
    Ok(oldest)
}

/// Up to `limit` retained records after `after`, in order, as `(seq, postcard bytes)`.
pub fn read(
    view: &dyn ReadView,
    after: u64,
    limit: usize,
) -> Result<Vec<(u64, Vec<u8>)>, StoreError> {
    let mut out = Vec::new();
    let from = key(after.saturating_add(1));
    view.scan(cf::RELAY_LOG, &from, None, &mut |k, v| {
        if let Some(seq) = seq_of(k) {
            out.push((seq, v.to_vec()));
        }
        out.len() < limit
    })?;
    Ok(out)
}

/// The stream frame (`Frame::Record`, length prefix included) of a record stored as
/// `record` (postcard bytes of a [`Record`]), without decoding it: postcard writes the enum
/// variant index (4, `Record`, below 128: one byte) followed by the record.
pub fn record_frame(record: &[u8], out: &mut Vec<u8>) {
    out.extend_from_slice(&((record.len() + 1) as u32).to_be_bytes());
    out.push(4);
    out.extend_from_slice(record);
}

#[cfg(test)]
mod tests {
    use super::*;
    use sigil_shared::ocsp::CertIdKey;
    use sigil_shared::replication::{Change, Frame};
    use sigil_storage::{Durability, MemStore};

    use crate::replica::apply_changes;
    use crate::updates::Applied;

    fn record(seq: u64) -> Record {
        Record {
            seq,
            committed_at: 100 + seq as i64,
            change: Change::OcspDelete {
                key: CertIdKey(vec![seq as u8]),
            },
        }
    }

    /// Applies records `from..=to` as the subscriber does: change, log and sequence in one
    /// batch.
    fn apply(store: &MemStore, from: u64, to: u64, retain: u64) {
        let mut batch = WriteBatch::new();
        for seq in from..=to {
            let r = record(seq);
            append(&mut batch, &r, retain).unwrap();
            apply_changes(&mut batch, [r.change], Some(seq), &mut Applied::default()).unwrap();
        }
        store.write(batch, Durability::Buffered).unwrap();
    }

    fn seqs(store: &MemStore) -> Vec<u64> {
        read(store, 0, 1000)
            .unwrap()
            .into_iter()
            .map(|(s, _)| s)
            .collect()
    }

    #[test]
    fn keeps_the_newest_records_with_the_state() {
        let store = MemStore::new(cf::ALL);
        assert_eq!(prepare(&store, 3).unwrap(), 1);
        apply(&store, 1, 2, 3);
        apply(&store, 3, 5, 3);
        assert_eq!(seqs(&store), vec![3, 4, 5]);
        assert_eq!(oldest_after(1, 5, 3), 3);
        assert_eq!(prepare(&store, 3).unwrap(), 3);
        let got = read(&store, 3, 10).unwrap();
        assert_eq!(got.len(), 2);
        assert_eq!(Record::from_bytes(&got[0].1).unwrap(), record(4));
        assert_eq!(read(&store, 3, 1).unwrap().len(), 1);
    }

    #[test]
    fn a_log_that_misses_applied_records_restarts_at_the_applied_sequence() {
        let store = MemStore::new(cf::ALL);
        apply(&store, 1, 3, 10);
        // Applied without the relay (it was off).
        let mut batch = WriteBatch::new();
        apply_changes(&mut batch, [], Some(7), &mut Applied::default()).unwrap();
        store.write(batch, Durability::Buffered).unwrap();
        assert_eq!(prepare(&store, 10).unwrap(), 8);
        assert!(seqs(&store).is_empty());
    }

    #[test]
    fn a_shrunk_retention_trims_at_start_up() {
        let store = MemStore::new(cf::ALL);
        apply(&store, 1, 6, 10);
        assert_eq!(prepare(&store, 2).unwrap(), 5);
        assert_eq!(seqs(&store), vec![5, 6]);
    }

    #[test]
    fn stored_records_frame_like_the_frame_encoder() {
        let r = record(300);
        let mut out = Vec::new();
        record_frame(&r.to_bytes().unwrap(), &mut out);
        assert_eq!(out, Frame::Record(r).encode().unwrap());
    }
}
