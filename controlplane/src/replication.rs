//! The replication stream endpoint: `GET /api/v1/replication/stream?after=N`.
//!
//! Sends `Hello`, then either the log records after N or, when N is older than the retained
//! log (or ahead of it), a consistent snapshot followed by the records after it; then pushes
//! new records as they commit (woken by the commit path, no polling) with heartbeats when idle.
//! Frames are batched into chunks of up to [`CHUNK`] bytes. Wire format: docs/replication.md.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use sigil_shared::ocsp::all_issuer_hashes;
use sigil_shared::replication::{CaState, Change, CrlEntry, Frame, OcspEntry, PROTOCOL_VERSION};
use sigil_shared::time::now_unix;
use sigil_storage::ReadView;
use tokio::sync::mpsc;

use crate::authority::Authority;
use crate::db::{cf, decode, CaRecord, DbError, META_HEAD};

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
pub async fn feed(auth: Arc<Authority>, after: u64, tx: mpsc::Sender<Chunk>) {
    // Counted as a subscriber, with its position for the lag metric, until it returns.
    let progress = auth.metrics.subscriber(after);
    let mut head_rx = auth.db.subscribe();
    let head = auth.db.head();
    let oldest = auth.db.oldest_retained();
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
        let (a, t) = (auth.clone(), tx.clone());
        match tokio::task::spawn_blocking(move || send_snapshot(&a, &t)).await {
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
    let heartbeat = Duration::from_secs(auth.config.replication.heartbeat_secs);
    loop {
        let a = auth.clone();
        let records =
            match tokio::task::spawn_blocking(move || a.db.read_log(pos, READ_BATCH)).await {
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
                let hb = Frame::Heartbeat { head: auth.db.head(), now: now_unix() };
                if tx.send(Ok(frame_bytes(&[hb]))).await.is_err() {
                    return;
                }
            }
            _ = tx.closed() => return,
        }
    }
}

/// Streams a snapshot of the replicated state from one consistent store snapshot. Returns
/// the sequence number the snapshot reflects.
fn send_snapshot(auth: &Authority, tx: &mpsc::Sender<Chunk>) -> Result<u64, DbError> {
    let mut as_of = 0;
    let gone = || DbError::Encode("subscriber disconnected".into());
    auth.db
        .store()
        .with_snapshot(&mut |view: &dyn ReadView| {
            as_of = view
                .get(cf::META, META_HEAD)?
                .and_then(|v| <[u8; 8]>::try_from(v.as_slice()).ok())
                .map_or(0, u64::from_be_bytes);
            let mut out = Sender {
                tx,
                buf: Vec::with_capacity(CHUNK),
                failed: false,
            };
            out.push(Frame::SnapshotBegin { as_of });
            let mut err: Option<DbError> = None;
            view.scan(cf::CAS, &[], None, &mut |_, v| {
                match decode::<CaRecord>(cf::CAS, v).and_then(|r| ca_state(&r)) {
                    Ok(s) => out.push(Frame::SnapshotItem(Change::CaPut(s))),
                    Err(e) => err = Some(e),
                }
                err.is_none() && !out.failed
            })?;
            view.scan(cf::CRLS, &[], None, &mut |_, v| {
                match decode::<CrlEntry>(cf::CRLS, v) {
                    Ok(c) => out.push(Frame::SnapshotItem(Change::CrlPut(c))),
                    Err(e) => err = Some(e),
                }
                err.is_none() && !out.failed
            })?;
            view.scan(cf::OCSP, &[], None, &mut |_, v| {
                match decode::<OcspEntry>(cf::OCSP, v) {
                    Ok(o) => out.push(Frame::SnapshotItem(Change::OcspPut(o))),
                    Err(e) => err = Some(e),
                }
                err.is_none() && !out.failed
            })?;
            out.push(Frame::SnapshotEnd { as_of });
            out.flush();
            if out.failed {
                return Err(sigil_storage::StoreError::Io(
                    "subscriber disconnected".into(),
                ));
            }
            match err.take() {
                Some(e) => Err(sigil_storage::StoreError::Io(e.to_string())),
                None => Ok(()),
            }
        })
        .map_err(|e| {
            if e.to_string().contains("disconnected") {
                gone()
            } else {
                DbError::Store(e)
            }
        })?;
    Ok(as_of)
}

fn ca_state(r: &CaRecord) -> Result<CaState, DbError> {
    let hashes = all_issuer_hashes(&r.cert_der).map_err(|e| DbError::Corrupt {
        what: "CA certificate",
        detail: e.to_string(),
    })?;
    Ok(CaState {
        issuer_id: r.id.clone(),
        name: r.name.clone(),
        cert_der: r.cert_der.clone(),
        hashes,
    })
}

/// Buffers frames into chunks and sends them from a blocking thread.
struct Sender<'a> {
    tx: &'a mpsc::Sender<Chunk>,
    buf: Vec<u8>,
    failed: bool,
}

impl Sender<'_> {
    fn push(&mut self, f: Frame) {
        if f.encode_into(&mut self.buf).is_err() {
            self.failed = true;
        }
        if self.buf.len() >= CHUNK {
            self.flush();
        }
    }

    fn flush(&mut self) {
        if !self.buf.is_empty() && !self.failed {
            let chunk = Bytes::from(std::mem::take(&mut self.buf));
            self.failed = self.tx.blocking_send(Ok(chunk)).is_err();
        }
    }
}
