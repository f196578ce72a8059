//! The replication stream endpoint: `GET /api/v1/replication/stream?after=N`.
//!
//! Sends `Hello`, then either the log records after N or, when N is older than the retained
//! log (or ahead of it), a consistent snapshot followed by the records after it; then pushes
//! new records as they commit (woken by the commit path, no polling) with heartbeats when idle.
//! Frames are batched into chunks of up to [`CHUNK`] bytes. Wire format: docs/replication.md.

use std::sync::Arc;

use bytes::Bytes;
use sigil_shared::replication::{Frame, PROTOCOL_VERSION};
use sigil_shared::time::now_unix;
use tokio::sync::mpsc;

use crate::services::replication::{Replication, SnapshotError};

/// Flush a chunk once it reaches this size.
const CHUNK: usize = 64 * 1024;
/// Log records read per store scan.
const READ_BATCH: usize = 1024;

pub type Chunk = Result<Bytes, std::io::Error>;

fn frame_bytes(frames: &[Frame]) -> Bytes {
    let mut buf = Vec::new();
    for f in frames {
        f.encode_into(&mut buf)
            .expect("frames are far below the size limit");
    }
    Bytes::from(buf)
}

/// Feeds one subscriber until it disconnects or falls behind the retained log.
pub async fn feed(log: Arc<Replication>, after: u64, tx: mpsc::Sender<Chunk>) {
    // Counted as a subscriber, with its position for the lag metric, until it returns.
    let progress = log.subscriber(after);
    let mut head_rx = log.subscribe();
    let head = log.head();
    let oldest = log.oldest_retained();
    let snapshot = after > head || after + 1 < oldest;
    let hello = Frame::Hello {
        version: PROTOCOL_VERSION,
        head,
        oldest_retained: oldest,
        snapshot,
    };
    if tx.send(Ok(frame_bytes(&[hello]))).await.is_err() {
        return;
    }
    let mut pos = after;
    if snapshot {
        let (l, t) = (log.clone(), tx.clone());
        match tokio::task::spawn_blocking(move || send_snapshot(&l, &t)).await {
            Ok(Ok(as_of)) => {
                pos = as_of;
                progress.sent(pos);
            }
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "replication snapshot aborted");
                return;
            }
            Err(_) => return,
        }
    }
    let heartbeat = log.heartbeat();
    loop {
        let l = log.clone();
        let records = match tokio::task::spawn_blocking(move || l.read_log(pos, READ_BATCH)).await {
            Ok(Ok(r)) => r,
            Ok(Err(e)) => {
                tracing::error!(error = %e, "reading replication log failed");
                return;
            }
            Err(_) => return,
        };
        if let Some(first) = records.first() {
            if first.seq != pos + 1 {
                // The subscriber fell behind the retained log while streaming; it reconnects
                // and gets a snapshot.
                tracing::warn!(
                    position = pos,
                    oldest = first.seq,
                    "subscriber fell behind the replication log"
                );
                return;
            }
            let mut buf = Vec::with_capacity(CHUNK);
            for r in records {
                pos = r.seq;
                Frame::Record(r)
                    .encode_into(&mut buf)
                    .expect("record fits a frame");
                if buf.len() >= CHUNK
                    && tx
                        .send(Ok(Bytes::from(std::mem::take(&mut buf))))
                        .await
                        .is_err()
                {
                    return;
                }
            }
            if !buf.is_empty() && tx.send(Ok(Bytes::from(buf))).await.is_err() {
                return;
            }
            progress.sent(pos);
            continue;
        }
        tokio::select! {
            changed = head_rx.changed() => if changed.is_err() { return },
            _ = tokio::time::sleep(heartbeat) => {
                let hb = Frame::Heartbeat { head: log.head(), now: now_unix() };
                if tx.send(Ok(frame_bytes(&[hb]))).await.is_err() {
                    return;
                }
            }
            _ = tx.closed() => return,
        }
    }
}

/// Streams a snapshot from a blocking thread, in chunks. Returns the sequence number the
/// snapshot reflects.
fn send_snapshot(log: &Replication, tx: &mpsc::Sender<Chunk>) -> Result<u64, SnapshotError> {
    let mut buf = Vec::with_capacity(CHUNK);
    let send = |buf: &mut Vec<u8>| {
        buf.is_empty()
            || tx
                .blocking_send(Ok(Bytes::from(std::mem::take(buf))))
                .is_ok()
    };
    let as_of = log.snapshot(&mut |frame| {
        frame.encode_into(&mut buf).is_ok() && (buf.len() < CHUNK || send(&mut buf))
    })?;
    if send(&mut buf) {
        Ok(as_of)
    } else {
        Err(SnapshotError::Disconnected)
    }
}
