//! The replication subscriber: one thread that keeps the replica in step with the control
//! plane (protocol: docs/replication.md), trying the configured URLs in order
//! ([`super::failover`]).

use std::io::Read;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use sigil_shared::replication::{Frame, FrameError, Record, PROTOCOL_VERSION};
use sigil_shared::time::now_unix;
use sigil_storage::{Durability, Store, StoreError, WriteBatch};

use super::failover::{jitter, Failover};
use super::stream_client::{self, OpenError};
use super::upstreams::{UpstreamStatus, Upstreams};
use super::{apply_changes, ReplicaDir, ReplicaError};
use crate::config::ControlPlaneLink;
use crate::index::IndexTrigger;
use crate::kes::Keyring;
use crate::relay::RelayLog;
use crate::updates::{Applied, Broadcaster, Update};
use sigil_kes::KeyWrapper;

/// Why a replication session ended; the subscriber logs it and reconnects.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error(transparent)]
    Open(#[from] OpenError),
    #[error("reading the replication stream: {0}")]
    Read(#[from] std::io::Error),
    #[error(transparent)]
    Frame(#[from] FrameError),
    #[error("control plane speaks replication protocol {theirs}, this data plane {ours}")]
    Version { theirs: u32, ours: u32 },
    #[error("snapshot item outside a snapshot")]
    ItemOutsideSnapshot,
    #[error("snapshot end without begin")]
    EndWithoutBegin,
    #[error("replication gap: got record {got}, expected {expected}")]
    Gap { got: u64, expected: u64 },
    #[error("encoding a record for the replica: {0}")]
    Encode(#[from] postcard::Error),
    #[error("writing the replica: {0}")]
    Store(#[from] StoreError),
    #[error(transparent)]
    Replica(#[from] ReplicaError),
}

/// Replication progress, shared with the metrics endpoint (written by the subscriber only).
#[derive(Debug, Default)]
pub struct ReplicationStatus {
    pub applied: AtomicU64,
    /// Newest sequence the control plane reported (Hello/Heartbeat/records).
    pub head: AtomicU64,
    pub connected: AtomicBool,
    /// Commit time of the last applied record (Unix seconds).
    pub applied_commit_time: AtomicI64,
    /// Last time anything arrived from the control plane.
    pub last_contact: AtomicI64,
    pub snapshots: AtomicU64,
    pub reconnects: AtomicU64,
    pub records_applied: AtomicU64,
    /// True once the replica holds a complete state (a snapshot or a caught-up log).
    pub synced: AtomicBool,
    /// The replica being served and applied to, for the state digest.
    pub current: super::digest::CurrentReplica,
    /// The nextUpdate of each CRL the replica holds (for `/health/ready` and `/metrics`).
    pub crls: super::CrlDeadlines,
    /// Which control-plane URL the stream is on, and the failovers so far.
    pub upstreams: UpstreamStatus,
}

impl ReplicationStatus {
    /// Status of a replica opened at `applied`. A replica with state was complete when it was
    /// written (snapshots switch in whole, records in batches with their sequence), so it is
    /// synced: served as last-good state until the control plane says otherwise.
    pub fn resumed_at(applied: u64) -> Self {
        let s = Self::default();
        s.applied.store(applied, Ordering::Relaxed);
        s.head.store(applied, Ordering::Relaxed);
        s.synced.store(applied > 0, Ordering::Relaxed);
        s
    }

    pub fn lag_records(&self) -> u64 {
        self.head
            .load(Ordering::Relaxed)
            .saturating_sub(self.applied.load(Ordering::Relaxed))
    }

    /// Age of the newest applied record while behind; 0 when caught up.
    pub fn lag_seconds(&self) -> i64 {
        if self.lag_records() == 0 {
            0
        } else {
            (now_unix() - self.applied_commit_time.load(Ordering::Relaxed)).max(0)
        }
    }
}

/// Records applied per write batch at most (latency stays low: a batch is also flushed as
/// soon as the buffered bytes hold no further complete frame).
const MAX_BATCH: usize = 2048;
/// Snapshot items per write batch.
const SNAPSHOT_BATCH: usize = 4096;

struct Subscriber {
    link: ControlPlaneLink,
    upstreams: Upstreams,
    /// Which URL to try next, and when.
    plan: Failover,
    /// How logs name each URL.
    names: Vec<String>,
    dir: ReplicaDir,
    name: String,
    store: Arc<dyn Store>,
    broadcaster: Broadcaster,
    index: Option<IndexTrigger>,
    status: Arc<ReplicationStatus>,
    /// The replica a snapshot replaced, removed once no core holds it any more.
    retired: Option<(String, Arc<dyn Store>)>,
    /// With `[kes]`: the key-encryption key the cores' keyring is unwrapped with.
    kek: Option<Arc<dyn KeyWrapper>>,
    /// With `[relay]`: the retained log each record is stored in, with the record.
    relay: Option<Arc<RelayLog>>,
}

/// Who learns of what the subscriber applies: the serving cores, the index builder and, with
/// `[relay]`, the relay's downstream streams.
pub struct Consumers {
    pub broadcaster: Broadcaster,
    pub index: Option<IndexTrigger>,
    pub relay: Option<Arc<RelayLog>>,
}

/// Starts the subscriber thread.
pub fn spawn_subscriber(
    link: ControlPlaneLink,
    upstreams: Upstreams,
    dir: ReplicaDir,
    current: (String, Arc<dyn Store>),
    Consumers {
        broadcaster,
        index,
        relay,
    }: Consumers,
    status: Arc<ReplicationStatus>,
    kek: Option<Arc<dyn KeyWrapper>>,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    let names = upstreams.names();
    status.upstreams.set_names(names.clone());
    let mut sub = Subscriber {
        plan: Failover::new(
            upstreams.len(),
            Duration::from_millis(link.reconnect_min_ms),
            Duration::from_millis(link.reconnect_max_ms),
        ),
        link,
        upstreams,
        names,
        dir,
        name: current.0,
        store: current.1,
        broadcaster,
        index,
        status,
        retired: None,
        kek,
        relay,
    };
    std::thread::Builder::new()
        .name("sigil-replica".into())
        .spawn(move || sub.run())
}

impl Subscriber {
    fn run(&mut self) {
        loop {
            let index = self.plan.current();
            let result = self.session(index);
            let established = self.status.connected.swap(false, Ordering::Relaxed);
            self.status.upstreams.set_connected(None);
            let next = self.plan.ended(established);
            let delay = jitter(next.delay);
            let (url, next_url) = (&self.names[index], &self.names[next.index]);
            let retry_in_ms = delay.as_millis() as u64;
            match result {
                Ok(()) => {
                    tracing::warn!(%url, %next_url, retry_in_ms, "replication stream ended")
                }
                Err(SessionError::Open(OpenError::Status { status: 401, body })) => {
                    tracing::error!(
                        %url, %next_url, retry_in_ms, answer = %body,
                        "the control plane refused the replication token (401): check \
                         SIGIL_REPLICATION_TOKEN or control_plane.token"
                    )
                }
                Err(e) => {
                    tracing::warn!(%url, error = %e, %next_url, retry_in_ms, "replication stream failed")
                }
            }
            self.status.reconnects.fetch_add(1, Ordering::Relaxed);
            std::thread::sleep(delay);
        }
    }

    /// The stream on URL `index` is established (its `Hello` arrived): shown in `/metrics`,
    /// used by the key service's forwarder, logged when it is a failover.
    fn established(&mut self, index: usize) {
        self.status.upstreams.set_connected(Some(index));
        self.upstreams.set_active(index);
        if let Some(previous) = self.plan.established() {
            self.status
                .upstreams
                .failovers
                .fetch_add(1, Ordering::Relaxed);
            let (url, from) = (&self.names[index], &self.names[previous]);
            if index == 0 {
                tracing::info!(%url, %from, "replication failed back to the first control_plane.url");
            } else {
                tracing::warn!(%url, %from, "replication failed over to another control_plane.url");
            }
        }
    }

    /// One connection to URL `index`: Hello, optional snapshot, then records until the stream
    /// breaks.
    fn session(&mut self, index: usize) -> Result<(), SessionError> {
        let after = self.status.applied.load(Ordering::Relaxed);
        let timeout = Duration::from_secs(self.link.read_timeout_secs);
        let upstream = self.upstreams.get(index);
        let tls = upstream.tls.is_some();
        let mut body = stream_client::get(
            upstream,
            &format!("/api/v1/replication/stream?after={after}"),
            timeout,
        )?;
        let url = &self.names[index];
        tracing::info!(%url, after, tls, "replication stream open");
        let mut buf: Vec<u8> = Vec::with_capacity(1 << 20);
        let mut pos = 0;
        let mut chunk = vec![0u8; 256 * 1024];
        let mut pending = Pending::default();
        loop {
            // Decode every complete frame in the buffer, then commit what they carried.
            while let Some((frame, used)) = Frame::decode(&buf[pos..])? {
                pos += used;
                self.status
                    .last_contact
                    .store(now_unix(), Ordering::Relaxed);
                let hello = matches!(frame, Frame::Hello { .. });
                self.handle(frame, &mut pending)?;
                if hello {
                    self.established(index);
                }
                if pending.records >= MAX_BATCH {
                    self.flush(&mut pending)?;
                }
            }
            self.flush(&mut pending)?;
            self.reap_retired();
            buf.drain(..pos);
            pos = 0;
            let n = body.read(&mut chunk)?;
            if n == 0 {
                return Ok(());
            }
            buf.extend_from_slice(&chunk[..n]);
        }
    }

    fn handle(&mut self, frame: Frame, p: &mut Pending) -> Result<(), SessionError> {
        match frame {
            Frame::Hello {
                version,
                head,
                snapshot,
                ..
            } => {
                if version != PROTOCOL_VERSION {
                    return Err(SessionError::Version {
                        theirs: version,
                        ours: PROTOCOL_VERSION,
                    });
                }
                self.status.head.store(head, Ordering::Relaxed);
                self.status.connected.store(true, Ordering::Relaxed);
                if !snapshot && self.status.applied.load(Ordering::Relaxed) >= head {
                    self.status.synced.store(true, Ordering::Relaxed);
                }
            }
            Frame::SnapshotBegin { as_of } => {
                let name = ReplicaDir::next_name(&self.name);
                self.dir.remove(&name); // leftovers of an interrupted attempt
                tracing::info!(as_of, dir = %name, "receiving snapshot");
                p.snapshot = Some((name.clone(), self.dir.open(&name)?, 0));
            }
            Frame::SnapshotItem(change) => {
                let (_, store, count) = p
                    .snapshot
                    .as_mut()
                    .ok_or(SessionError::ItemOutsideSnapshot)?;
                apply_changes(
                    &mut p.snapshot_batch,
                    [change],
                    None,
                    &mut Applied::default(),
                )?;
                *count += 1;
                if p.snapshot_batch.len() >= SNAPSHOT_BATCH {
                    store.write(std::mem::take(&mut p.snapshot_batch), Durability::Buffered)?;
                }
            }
            Frame::SnapshotEnd { as_of } => {
                let (name, store, count) =
                    p.snapshot.take().ok_or(SessionError::EndWithoutBegin)?;
                let mut batch = std::mem::take(&mut p.snapshot_batch);
                apply_changes(&mut batch, [], Some(as_of), &mut Applied::default())?;
                store.write(batch, Durability::Sync)?;
                self.dir.point_current_to(&name)?;
                let old = std::mem::replace(&mut self.store, store.clone());
                self.status.current.set(store.clone());
                if let Err(e) = self.status.crls.load(store.as_ref()) {
                    tracing::warn!(error = %e, "reading the snapshot's CRL nextUpdates failed");
                }
                let old_name = std::mem::replace(&mut self.name, name);
                self.retired = Some((old_name, old));
                self.broadcaster.send(&Update::Reset(store.clone()));
                if let Some(relay) = &self.relay {
                    relay.reset(store.clone(), as_of);
                }
                if let Some(index) = &mut self.index {
                    index.reset(&store);
                }
                self.status.applied.store(as_of, Ordering::Relaxed);
                self.publish_keyring(as_of);
                self.status.snapshots.fetch_add(1, Ordering::Relaxed);
                self.status.synced.store(true, Ordering::Relaxed);
                tracing::info!(as_of, items = count, "snapshot applied and switched in");
            }
            Frame::Record(record) => {
                let expected = self.status.applied.load(Ordering::Relaxed) + p.records as u64 + 1;
                if record.seq != expected {
                    return Err(SessionError::Gap {
                        got: record.seq,
                        expected,
                    });
                }
                if let Some(relay) = &self.relay {
                    // Kept for downstreams in the batch that applies it (atomically).
                    relay.append(&mut p.batch, &record)?;
                }
                let Record {
                    seq,
                    committed_at,
                    change,
                } = record;
                apply_changes(&mut p.batch, [change], Some(seq), &mut p.applied)?;
                p.records += 1;
                p.last_seq = seq;
                p.last_commit = committed_at;
                let head = self.status.head.load(Ordering::Relaxed);
                self.status.head.store(head.max(seq), Ordering::Relaxed);
            }
            Frame::Heartbeat { head, .. } => {
                self.status.head.store(head, Ordering::Relaxed);
            }
        }
        Ok(())
    }

    /// Commits pending records (one write batch, sequence included) and tells the cores.
    fn flush(&mut self, p: &mut Pending) -> Result<(), SessionError> {
        if p.records == 0 {
            return Ok(());
        }
        // Not fsync'd: the WAL survives a crash of this process; after a power loss the
        // replica resumes from an earlier sequence and the control plane resends the rest.
        self.store
            .write(std::mem::take(&mut p.batch), Durability::Buffered)?;
        let mut applied = std::mem::take(&mut p.applied);
        applied.seq = p.last_seq;
        if let Some(relay) = &self.relay {
            relay.applied(p.last_seq);
        }
        if let Some(index) = &mut self.index {
            index.changed(applied.ocsp_keys.len(), &self.store);
        }
        let kes = applied.kes;
        self.status
            .crls
            .applied(&applied.crls, &applied.deleted_cas);
        if !applied.is_empty() {
            self.broadcaster.send(&Update::Applied(Arc::new(applied)));
        }
        if kes {
            self.publish_keyring(p.last_seq);
        }
        self.status.applied.store(p.last_seq, Ordering::Relaxed);
        self.status
            .applied_commit_time
            .store(p.last_commit, Ordering::Relaxed);
        self.status
            .records_applied
            .fetch_add(p.records as u64, Ordering::Relaxed);
        if p.last_seq >= self.status.head.load(Ordering::Relaxed) {
            self.status.synced.store(true, Ordering::Relaxed);
        }
        p.records = 0;
        Ok(())
    }

    /// Rebuilds the key service's keyring from the replica (as of `seq`) and hands it to the
    /// cores. Every key is unwrapped again: simple, and cheap at the key counts a key service
    /// holds (about a microsecond per key version).
    fn publish_keyring(&self, seq: u64) {
        if let Some(kek) = &self.kek {
            let ring = Keyring::load(self.store.as_ref(), kek.as_ref(), seq);
            self.broadcaster.send(&Update::Kes(Arc::new(ring)));
        }
    }

    /// Removes the replaced replica once every core dropped it.
    fn reap_retired(&mut self) {
        if let Some((name, store)) = self.retired.take() {
            if Arc::strong_count(&store) == 1 {
                drop(store);
                self.dir.remove(&name);
                tracing::info!(dir = %name, "removed replaced replica");
            } else {
                self.retired = Some((name, store));
            }
        }
    }
}

#[derive(Default)]
struct Pending {
    batch: WriteBatch,
    applied: Applied,
    records: usize,
    last_seq: u64,
    last_commit: i64,
    snapshot: Option<(String, Arc<dyn Store>, u64)>,
    snapshot_batch: WriteBatch,
}
