//! What every service shares and nothing outside the services sees: the store (through
//! [`Db`]), the audit log, the metrics, the settings and the key-encryption key (secrets are
//! read and staged sealed under it: `services::secrets`) — and the one commit path.
//!
//! A service stages its state change in a [`Commit`] (the write batch, the replication records
//! the data planes need, the audit record) and calls [`Context::commit`]: one synced write
//! that assigns the records their sequence numbers and chains the audit record, so that a
//! change is never durable without its records, nor a record without its change. Concurrent
//! commits are written together (group commit, [`group`]): one fsync for all of them, each
//! still returning only once its own change is durable.

mod group;

use std::sync::Arc;

use sigil_kes::KeyWrapper;
use sigil_shared::replication::Change;
use sigil_storage::{Expect, Store, WriteBatch};

use super::error::Internal;
use crate::audit::{current_actor, AuditError, AuditEvent, AuditLog};
use crate::config::CpConfig;
use crate::db::{cf, Db};
use crate::metrics::Metrics;

/// How many times a group is written again after conflicts on the logs' heads (another node
/// appended first) before its commits fail.
const MAX_HEAD_RETRIES: usize = 16;

/// How many times [`retry_conflicts`] runs an operation again.
const MAX_OPERATION_RETRIES: usize = 8;

/// Runs `op` — an operation that reads, checks and commits with fences on what it read
/// ([`Commit::expect_value`]) — again from its reads when its commit failed because what it
/// read changed meanwhile (another control-plane node on the same database wrote it: the
/// in-process locks only order this node's operations). The second run sees the other
/// node's change and answers accordingly (e.g. "already revoked"). Between runs it waits a
/// random time up to 1, 2, 4, … ms (two nodes changing one record over and over would
/// otherwise keep beating each other in lock step). Gives up after a few tries with the
/// conflict itself.
pub(super) fn retry_conflicts<T, E>(
    mut op: impl FnMut() -> Result<T, E>,
    is_conflict: impl Fn(&E) -> bool,
) -> Result<T, E> {
    let mut tries = 0;
    loop {
        match op() {
            Err(e) if is_conflict(&e) && tries < MAX_OPERATION_RETRIES => {
                tries += 1;
                tracing::debug!(
                    tries,
                    "what the operation read changed before its commit: running it again"
                );
                std::thread::sleep(backoff(tries));
            }
            r => return r,
        }
    }
}

/// A random wait below `2^(tries - 1)` ms (at most 64 ms). Jitter, not secrets: the clock's
/// nanoseconds are random enough.
fn backoff(tries: usize) -> std::time::Duration {
    let cap_us = 1000u64 << (tries - 1).min(6);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    std::time::Duration::from_micros(u64::from(nanos) % cap_us)
}

thread_local! {
    /// Fences every commit made on this thread carries while set ([`with_fence`]).
    static FENCES: std::cell::RefCell<Vec<Expect>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Runs `f` with `fence` added to every commit it makes on this thread: a background job
/// running under the jobs lease passes the lease's epoch record, so that nothing it commits
/// lands after another node has taken the lease over (`crate::cluster`).
pub fn with_fence<T>(fence: Option<Expect>, f: impl FnOnce() -> T) -> T {
    let Some(fence) = fence else { return f() };
    FENCES.with(|v| v.borrow_mut().push(fence));
    struct Pop;
    impl Drop for Pop {
        fn drop(&mut self) {
            FENCES.with(|v| {
                v.borrow_mut().pop();
            });
        }
    }
    let _pop = Pop;
    f()
}

/// A change staged for [`Context::commit`].
#[derive(Debug, Default)]
pub(super) struct Commit {
    batch: WriteBatch,
    changes: Vec<Change>,
    audit: Option<AuditEvent>,
    /// Preconditions checked atomically with the write (`Store::write_checked`).
    expect: Vec<Expect>,
}

impl Commit {
    /// A state change (written, not replicated, not audited until said otherwise).
    pub(super) fn new(batch: WriteBatch) -> Self {
        Self {
            batch,
            ..Self::default()
        }
    }

    /// A record for the audit log alone (e.g. a failed authentication).
    pub(super) fn record(event: AuditEvent) -> Self {
        Self {
            audit: Some(event),
            ..Self::default()
        }
    }

    /// Written only if `cf`/`key` is still absent when the write happens (e.g. a new
    /// certificate's serial: unique without a read before the write, across nodes too). If it
    /// is not, nothing of this commit's group is written and the commit fails.
    pub(super) fn expect_absent(mut self, cf: &'static str, key: Vec<u8>) -> Self {
        self.expect.push(Expect {
            cf,
            key,
            value: None,
        });
        self
    }

    /// Written only if `cf`/`key` still holds `value` (`None`: is still absent) when the
    /// write happens: a fence on what the operation read, so that a change another node made
    /// to it meanwhile fails this commit instead of being overwritten (then run the operation
    /// again: [`retry_conflicts`]). Every writer of a fenced key must fence it.
    pub(super) fn expect_value(
        mut self,
        cf: &'static str,
        key: Vec<u8>,
        value: Option<Vec<u8>>,
    ) -> Self {
        self.expect.push(Expect { cf, key, value });
        self
    }

    /// Adds `batch` to the commit's writes.
    pub(super) fn append(mut self, batch: WriteBatch) -> Self {
        self.batch.append(batch);
        self
    }

    /// Replication records for the data planes, in the order given.
    pub(super) fn replicate(mut self, changes: Vec<Change>) -> Self {
        self.changes = changes;
        self
    }

    /// The current actor did `action` to `resource_type`/`resource_id`, successfully.
    pub(super) fn audit(
        mut self,
        (action, resource_type, resource_id): (&str, &str, &str),
        details: serde_json::Value,
    ) -> Self {
        let actor = current_actor();
        self.audit = Some(AuditEvent {
            actor: actor.id,
            actor_type: actor.actor_type.into(),
            action: action.into(),
            resource_type: resource_type.into(),
            resource_id: resource_id.into(),
            success: true,
            source: actor.source,
            details: details.to_string(),
        });
        self
    }

    /// Records the audited action as failed unless `ok` (e.g. a bulk operation in which some
    /// items failed).
    pub(super) fn succeeded(mut self, ok: bool) -> Self {
        if let Some(event) = &mut self.audit {
            event.success = ok;
        }
        self
    }

    pub(super) fn is_empty(&self) -> bool {
        self.batch.is_empty() && self.changes.is_empty() && self.audit.is_none()
    }
}

/// The services' shared context (see the module documentation).
pub(super) struct Context {
    db: Db,
    audit: AuditLog,
    metrics: Metrics,
    settings: Arc<CpConfig>,
    kek: Arc<dyn KeyWrapper>,
    group: group::Group<Commit, Result<u64, Internal>>,
}

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context")
            .field("db", &self.db)
            .field("audit", &self.audit)
            .field("kek", &self.kek.id())
            .finish_non_exhaustive()
    }
}

impl Context {
    /// Opens the replication log and the audit log on `store`; secrets are sealed under `kek`.
    pub(super) fn open(
        store: Arc<dyn Store>,
        settings: Arc<CpConfig>,
        metrics: Metrics,
        kek: Arc<dyn KeyWrapper>,
    ) -> Result<Self, Internal> {
        let db = Db::open(store, settings.replication.retain_records)?;
        let audit = AuditLog::open(db.store().clone())?;
        metrics.replication_head.set(db.head() as i64);
        Ok(Self {
            db,
            audit,
            metrics,
            settings,
            kek,
            group: group::Group::new(),
        })
    }

    /// The key-encryption key: the key service's keys and every secret are sealed under it.
    pub(super) fn kek(&self) -> &Arc<dyn KeyWrapper> {
        &self.kek
    }

    /// Reads (and the replication log's position).
    pub(super) fn db(&self) -> &Db {
        &self.db
    }

    pub(super) fn audit_log(&self) -> &AuditLog {
        &self.audit
    }

    pub(super) fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    pub(super) fn settings(&self) -> &CpConfig {
        &self.settings
    }

    /// Makes `c` durable: one synced write of the batch, the replication records (numbered
    /// after the current head) and the audit record (chained after the newest), shared with
    /// the commits made concurrently. Returns the replication head after this commit's
    /// records. Nothing is acknowledged before this returns.
    pub(super) fn commit(&self, mut c: Commit) -> Result<u64, Internal> {
        FENCES.with(|v| c.expect.extend(v.borrow().iter().cloned()));
        self.group.run(
            c,
            |commits| self.write_group(commits),
            || Err(Internal::GroupCommit("the write panicked".into())),
        )
    }

    /// Writes `commits` in one synced write, in order: one result per commit. A commit whose
    /// records cannot be encoded fails alone. When the write fails on a conflict, nothing was
    /// written and it is tried again: after a conflict on the replication log's or the audit
    /// chain's next record (another node on the same database appended first) from the
    /// store's heads, renumbered; after a conflict on one commit's own fence, without that
    /// commit, which fails with the conflict. Any other failure fails every commit (the first
    /// with the error itself).
    fn write_group(&self, commits: Vec<Commit>) -> Vec<Result<u64, Internal>> {
        let n = commits.len();
        self.metrics.commit_group_size.observe(n as f64);
        let mut results: Vec<Option<Result<u64, Internal>>> = (0..n).map(|_| None).collect();
        let mut pending: Vec<usize> = (0..n).collect();
        let mut head_retries = 0;
        while !pending.is_empty() {
            let e = match self.write_once(&commits, &pending) {
                Ok(written) => {
                    for (i, r) in pending.iter().zip(written) {
                        results[*i] = Some(r);
                    }
                    break;
                }
                Err(e) => e,
            };
            let fenced_by = conflict_of(&e).map(|(cf, key)| {
                pending.iter().position(|i| {
                    commits[*i]
                        .expect
                        .iter()
                        .any(|x| x.cf == cf && String::from_utf8_lossy(&x.key) == key)
                })
            });
            match fenced_by {
                // One commit's own precondition: it fails; the others are written without it.
                Some(Some(pos)) => {
                    let i = pending.remove(pos);
                    results[i] = Some(Err(e));
                    continue;
                }
                // The logs' heads moved under this node: catch up and number again.
                Some(None) if head_retries < MAX_HEAD_RETRIES => {
                    head_retries += 1;
                    self.metrics.commit_head_conflicts.inc();
                    match self.catch_up() {
                        Ok(()) => continue,
                        Err(caught) => {
                            tracing::error!(error = %caught, "catching up after a write conflict failed");
                        }
                    }
                }
                _ => {}
            }
            let detail = e.to_string();
            let mut first = Some(e);
            for i in pending.drain(..) {
                results[i] = Some(Err(first
                    .take()
                    .unwrap_or_else(|| Internal::GroupCommit(detail.clone()))));
            }
        }
        results
            .into_iter()
            .map(|r| r.unwrap_or_else(|| Err(Internal::GroupCommit("not written".into()))))
            .collect()
    }

    /// Re-reads the replication log's head and the audit chain's from the store (records
    /// other nodes appended) and tells this node's replication streams.
    pub(super) fn catch_up(&self) -> Result<(), Internal> {
        self.db.refresh()?;
        self.audit.refresh()?;
        Ok(())
    }

    /// One attempt at writing the commits `pending` (indexes into `commits`): the result per
    /// pending commit, or the write's error (then nothing was written).
    fn write_once(
        &self,
        commits: &[Commit],
        pending: &[usize],
    ) -> Result<Vec<Result<u64, Internal>>, Internal> {
        // Lock order: the audit head, then the replication log (inside the write).
        let written = self.audit.chain_group(|chainer| {
            let start = chainer.mark();
            Ok(self.db.write_group(|log| {
                let results = pending
                    .iter()
                    .map(|i| {
                        let c = &commits[*i];
                        let mark = chainer.mark();
                        let mut batch = c.batch.clone();
                        let staged = match &c.audit {
                            Some(event) => chainer
                                .stage(&mut batch, event.clone())
                                .map_err(Internal::from),
                            None => Ok(()),
                        }
                        .and_then(|()| Ok(log.append(batch, c.changes.clone())?));
                        match &staged {
                            Ok(_) => c.expect.iter().for_each(|e| log.expect(e.clone())),
                            Err(_) => chainer.rewind(mark),
                        }
                        staged
                    })
                    .collect::<Vec<_>>();
                // Fenced like the replication log: the audit chain continues from this
                // process's head only if no other writer appended its next record.
                if chainer.mark().0 != start.0 {
                    log.expect(Expect {
                        cf: cf::AUDIT,
                        key: (start.0 + 1).to_be_bytes().to_vec(),
                        value: None,
                    });
                }
                results
            })?)
        });
        // The store's failure as the store's, so that a conflict is seen as one.
        written.map_err(|e| match e {
            AuditError::Db(d) => Internal::Db(d),
            AuditError::Store(s) => Internal::Db(crate::db::DbError::Store(s)),
            other => Internal::Audit(other),
        })
    }
}

/// The key a write conflicted on, if the error is a conflict.
fn conflict_of(e: &Internal) -> Option<(&str, &str)> {
    match e {
        Internal::Db(crate::db::DbError::Store(sigil_storage::StoreError::Conflict {
            cf,
            key,
        })) => Some((cf, key)),
        _ => None,
    }
}

#[cfg(test)]
mod tests;
