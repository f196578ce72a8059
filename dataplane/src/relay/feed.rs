//! One downstream's stream: Hello, the snapshot when [`super::plan`] says so, the retained
//! records, then each record as the subscriber applies it (woken by [`RelayLog::applied`], no
//! polling), heartbeats when idle. Frames go out in HTTP/1.1 chunks of up to [`CHUNK`] bytes:
//! a stream holds at most one chunk and one read batch, whatever the downstream's pace.

use std::io::Write;
use std::time::Duration;

use sigil_shared::replication::{Frame, PROTOCOL_VERSION};
use sigil_shared::time::now_unix;
use sigil_storage::StoreError;

use super::plan::{self, Opening, Position};
use super::snapshot::{self, SnapshotError};
use super::{log, LogView, RelayLog, Subscribed};

/// Flush a chunk once it reaches this size.
pub const CHUNK: usize = 64 * 1024;
/// Retained records read per scan.
const READ_BATCH: usize = 1024;

/// How a stream ended without an error of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    /// The retained log no longer holds the next record: the downstream reconnects and gets a
    /// snapshot.
    Behind,
    /// A snapshot replaced the relay's replica.
    Reset,
}

/// Why a stream failed.
#[derive(Debug, thiserror::Error)]
pub enum FeedError {
    #[error("writing to the downstream: {0}")]
    Io(#[from] std::io::Error),
    #[error("reading the replica: {0}")]
    Store(#[from] StoreError),
    #[error("snapshot: {0}")]
    Snapshot(SnapshotError),
}

/// The relay's position now (`upstream`: its own subscription) and what a downstream at
/// `after` gets.
pub fn opening(log: &RelayLog, upstream: Subscribed, after: u64) -> (LogView, Opening) {
    let view = log.view();
    let at = Position {
        head: view.head,
        oldest_retained: view.oldest,
        synced: upstream.synced,
        upstream_head: upstream.upstream_head,
    };
    (view, plan::open(after, at))
}

/// Writes `buf` as one chunk (nothing when empty) and flushes.
fn chunk(w: &mut impl Write, buf: &mut Vec<u8>) -> std::io::Result<()> {
    if buf.is_empty() {
        return Ok(());
    }
    write!(w, "{:x}\r\n", buf.len())?;
    w.write_all(buf)?;
    w.write_all(b"\r\n")?;
    w.flush()?;
    buf.clear();
    Ok(())
}

/// Streams to `w` (after the response head) from `view` until the downstream goes, falls
/// behind, or a snapshot replaces the replica.
pub fn stream(
    w: &mut impl Write,
    log: &RelayLog,
    view: LogView,
    snapshot: bool,
    after: u64,
    heartbeat: Duration,
) -> Result<Ended, FeedError> {
    let mut buf = Vec::with_capacity(CHUNK + 4096);
    let hello = Frame::Hello {
        version: PROTOCOL_VERSION,
        head: view.head,
        oldest_retained: view.oldest,
        snapshot,
    };
    hello.encode_into(&mut buf).expect("a Hello fits a frame");
    chunk(w, &mut buf)?;
    let mut pos = after;
    if snapshot {
        pos = send_snapshot(w, &view, &mut buf)?;
        RelayLog::count(&log.stats.snapshots_served, 1);
    }
    loop {
        let now = log.view();
        if now.epoch != view.epoch {
            return Ok(Ended::Reset);
        }
        let records = log::read(now.store.as_ref(), pos, READ_BATCH)?;
        drop(now);
        if records.is_empty() {
            if !log.wait(view.epoch, pos, heartbeat) {
                let head = log.view().head;
                let hb = Frame::Heartbeat {
                    head,
                    now: now_unix(),
                };
                hb.encode_into(&mut buf).expect("a heartbeat fits a frame");
                chunk(w, &mut buf)?;
            }
            continue;
        }
        if !plan::continues(pos, records.iter().map(|r| r.0)) {
            RelayLog::count(&log.stats.behind, 1);
            return Ok(Ended::Behind);
        }
        let n = records.len() as u64;
        for (seq, bytes) in records {
            log::record_frame(&bytes, &mut buf);
            pos = seq;
            if buf.len() >= CHUNK {
                chunk(w, &mut buf)?;
            }
        }
        chunk(w, &mut buf)?;
        RelayLog::count(&log.stats.records_served, n);
    }
}

/// The snapshot of `view`'s replica, in chunks; returns its `as_of`.
fn send_snapshot(w: &mut impl Write, view: &LogView, buf: &mut Vec<u8>) -> Result<u64, FeedError> {
    let mut failed = None;
    let sent = snapshot::emit(view.store.as_ref(), &mut |frame| {
        if frame.encode_into(buf).is_err() {
            return false;
        }
        if buf.len() < CHUNK {
            return true;
        }
        match chunk(w, buf) {
            Ok(()) => true,
            Err(e) => {
                failed = Some(e);
                false
            }
        }
    });
    if let Some(e) = failed {
        return Err(e.into());
    }
    let as_of = sent.map_err(FeedError::Snapshot)?;
    chunk(w, buf)?;
    Ok(as_of)
}

#[cfg(test)]
mod tests;
