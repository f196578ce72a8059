use std::io::Write;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sigil_shared::ocsp::CertIdKey;
use sigil_shared::replication::{Change, Frame, Record};
use sigil_storage::{Durability, MemStore, Store, WriteBatch};

use super::*;
use crate::replica::apply_changes;
use crate::schema::cf;
use crate::updates::Applied;

/// A writer the test reads back: the chunked body's frames.
#[derive(Clone, Default)]
struct Sink(Arc<Mutex<Vec<u8>>>);

impl Write for Sink {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Sink {
    /// The frames written so far (de-chunked).
    fn frames(&self) -> Vec<Frame> {
        let raw = self.0.lock().unwrap().clone();
        let mut body = Vec::new();
        let mut rest = &raw[..];
        while let Some(i) = rest.windows(2).position(|w| w == b"\r\n") {
            let len = usize::from_str_radix(std::str::from_utf8(&rest[..i]).unwrap(), 16).unwrap();
            body.extend_from_slice(&rest[i + 2..i + 2 + len]);
            rest = &rest[i + 4 + len..];
        }
        let mut out = Vec::new();
        let mut pos = 0;
        while let Some((f, used)) = Frame::decode(&body[pos..]).unwrap() {
            out.push(f);
            pos += used;
        }
        out
    }
}

fn record(seq: u64) -> Record {
    Record {
        seq,
        committed_at: seq as i64,
        change: Change::OcspDelete {
            key: CertIdKey(vec![seq as u8]),
        },
    }
}

/// Applies records `from..=to` to the relay's replica as the subscriber does.
fn apply(log: &RelayLog, from: u64, to: u64) {
    let store = log.view().store;
    let mut batch = WriteBatch::new();
    for seq in from..=to {
        let r = record(seq);
        log.append(&mut batch, &r).unwrap();
        apply_changes(&mut batch, [r.change], Some(seq), &mut Applied::default()).unwrap();
    }
    store.write(batch, Durability::Buffered).unwrap();
    log.applied(to);
}

fn relay(retain: u64, applied: u64) -> Arc<RelayLog> {
    let store: Arc<dyn Store> = Arc::new(MemStore::new(cf::ALL));
    let log = Arc::new(RelayLog::open(store, retain).unwrap());
    apply(&log, 1, applied);
    log
}

/// Runs a stream on a thread; returns its sink and a handle giving how it ended.
fn run(
    log: &Arc<RelayLog>,
    snapshot: bool,
    after: u64,
) -> (Sink, std::thread::JoinHandle<Result<Ended, FeedError>>) {
    let sink = Sink::default();
    let (mut w, l) = (sink.clone(), log.clone());
    let view = log.view();
    let h = std::thread::spawn(move || {
        stream(&mut w, &l, view, snapshot, after, Duration::from_millis(50))
    });
    (sink, h)
}

fn wait_until(sink: &Sink, what: impl Fn(&[Frame]) -> bool) -> Vec<Frame> {
    for _ in 0..500 {
        let frames = sink.frames();
        if what(&frames) {
            return frames;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    panic!("timed out; got {:?}", sink.frames());
}

fn seqs(frames: &[Frame]) -> Vec<u64> {
    frames
        .iter()
        .filter_map(|f| match f {
            Frame::Record(r) => Some(r.seq),
            _ => None,
        })
        .collect()
}

#[test]
fn resumes_then_pushes_applied_records_then_ends_on_reset() {
    let log = relay(10, 5);
    let (sink, h) = run(&log, false, 2);
    wait_until(&sink, |f| seqs(f) == [3, 4, 5]);
    apply(&log, 6, 7);
    let frames = wait_until(&sink, |f| seqs(f) == [3, 4, 5, 6, 7]);
    assert_eq!(
        frames[0],
        Frame::Hello {
            version: PROTOCOL_VERSION,
            head: 5,
            oldest_retained: 1,
            snapshot: false
        }
    );
    assert_eq!(frames[3], Frame::Record(record(5)));
    // Idle: heartbeats with the head.
    wait_until(&sink, |f| {
        matches!(f.last(), Some(Frame::Heartbeat { head: 7, .. }))
    });
    log.reset(Arc::new(MemStore::new(cf::ALL)), 9);
    assert_eq!(h.join().unwrap().unwrap(), Ended::Reset);
}

#[test]
fn a_snapshot_then_the_records_after_it() {
    let log = relay(2, 5);
    let upstream = Subscribed {
        synced: true,
        upstream_head: Some(5),
    };
    let (view, opening) = opening(&log, upstream, 0);
    assert_eq!((view.head, view.oldest), (5, 4));
    assert_eq!(opening, Opening::Snapshot);
    let (sink, h) = run(&log, true, 0);
    wait_until(&sink, |f| {
        matches!(f.last(), Some(Frame::SnapshotEnd { as_of: 5 }))
    });
    apply(&log, 6, 6);
    let frames = wait_until(&sink, |f| seqs(f) == [6]);
    assert_eq!(frames[1], Frame::SnapshotBegin { as_of: 5 });
    assert_eq!(log.stats.snapshots_served.load(Relaxed), 1);
    log.reset(Arc::new(MemStore::new(cf::ALL)), 9);
    assert_eq!(h.join().unwrap().unwrap(), Ended::Reset);
}

#[test]
fn a_stream_behind_the_retained_log_ends() {
    let log = relay(2, 5);
    // Records 1..=3 were trimmed; a stream at 1 cannot continue.
    let (_, h) = run(&log, false, 1);
    assert_eq!(h.join().unwrap().unwrap(), Ended::Behind);
    assert_eq!(log.stats.behind.load(Relaxed), 1);
}
