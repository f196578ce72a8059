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
use crate::audit::{current_actor, AuditEvent, AuditLog};
use crate::config::CpConfig;
use crate::db::{cf, Db};
use crate::metrics::Metrics;

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
    pub(super) fn commit(&self, c: Commit) -> Result<u64, Internal> {
        self.group.run(
            c,
            |commits| self.write_group(commits),
            || Err(Internal::GroupCommit("the write panicked".into())),
        )
    }

    /// Writes `commits` in one synced write, in order: one result per commit. A commit whose
    /// records cannot be encoded fails alone; if the write fails, every commit fails (the
    /// first with the error itself) and none was written.
    fn write_group(&self, commits: Vec<Commit>) -> Vec<Result<u64, Internal>> {
        let n = commits.len();
        // Lock order: the audit head, then the replication log (inside the write).
        let written = self.audit.chain_group(|chainer| {
            let start = chainer.mark();
            Ok(self.db.write_group(|log| {
                let results = commits
                    .into_iter()
                    .map(|c| {
                        let mark = chainer.mark();
                        let Commit {
                            mut batch,
                            changes,
                            audit,
                            expect,
                        } = c;
                        let staged = match audit {
                            Some(event) => chainer.stage(&mut batch, event).map_err(Internal::from),
                            None => Ok(()),
                        }
                        .and_then(|()| Ok(log.append(batch, changes)?));
                        match &staged {
                            Ok(_) => expect.into_iter().for_each(|e| log.expect(e)),
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
        self.metrics.commit_group_size.observe(n as f64);
        match written {
            Ok(results) => results,
            Err(e) => {
                let detail = e.to_string();
                let mut first = Some(Internal::from(e));
                (0..n)
                    .map(|_| {
                        Err(first
                            .take()
                            .unwrap_or_else(|| Internal::GroupCommit(detail.clone())))
                    })
                    .collect()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use sigil_shared::replication::Change;
    use sigil_storage::{MemStore, WriteBatch};

    use super::*;
    use crate::audit::with_actor;
    use crate::audit::Actor;
    use crate::db::cf;

    fn context() -> Context {
        let store: Arc<dyn Store> = Arc::new(MemStore::new(cf::ALL));
        Context::open(
            store,
            Arc::new(CpConfig::default()),
            Metrics::new(),
            crate::services::secrets::test_kek(),
        )
        .unwrap()
    }

    #[test]
    fn a_commit_expecting_a_taken_key_writes_nothing_and_the_next_one_goes_on() {
        let cx = context();
        let mut taken = WriteBatch::new();
        taken.put(cf::CERT_IDS, b"serial-1".to_vec(), b"demo".to_vec());
        cx.commit(Commit::new(taken)).unwrap();
        let change = || Change::CaDelete {
            issuer_id: "a".into(),
        };
        let mut batch = WriteBatch::new();
        batch.put(cf::META, b"x".to_vec(), b"1".to_vec());
        let clash = Commit::new(batch)
            .expect_absent(cf::CERT_IDS, b"serial-1".to_vec())
            .replicate(vec![change()]);
        assert!(cx.commit(clash).is_err());
        assert_eq!(
            cx.db().get_raw(cf::META, b"x").unwrap(),
            None,
            "nothing written"
        );
        assert_eq!(cx.db().head(), 0, "no record numbered");
        let ok = Commit::new(WriteBatch::new())
            .expect_absent(cf::CERT_IDS, b"serial-2".to_vec())
            .replicate(vec![change()]);
        assert_eq!(cx.commit(ok).unwrap(), 1, "numbered from the same head");
    }

    #[test]
    fn one_commit_writes_state_records_and_audit_together() {
        let cx = context();
        let mut batch = WriteBatch::new();
        batch.put(cf::META, b"x".to_vec(), b"1".to_vec());
        let actor = Actor {
            id: "bearer:admin".into(),
            actor_type: "User",
            source: "127.0.0.1:1".into(),
        };
        let commit = with_actor(actor, || {
            Commit::new(batch)
                .replicate(vec![
                    Change::CaDelete {
                        issuer_id: "a".into(),
                    },
                    Change::CaDelete {
                        issuer_id: "b".into(),
                    },
                ])
                .audit(("issuer.delete", "issuer", "a"), serde_json::json!({}))
        });
        assert_eq!(cx.commit(commit).unwrap(), 2);
        assert_eq!(
            cx.db().get_raw(cf::META, b"x").unwrap().as_deref(),
            Some(&b"1"[..])
        );
        assert_eq!(cx.db().read_log(0, 10).unwrap().len(), 2);
        let (records, total) = cx.audit_log().list(1, u64::MAX, 1, 10, &|_| true).unwrap();
        assert_eq!(total, 1);
        assert_eq!(records[0].event.actor, "bearer:admin");
        assert!(records[0].event.success);

        // A record alone (a failed authentication) does not move the replication log.
        let mut failure = records[0].event.clone();
        failure.success = false;
        assert_eq!(cx.commit(Commit::record(failure)).unwrap(), 2);
        assert_eq!(cx.audit_log().head().0, 2);
        // An unaudited, unreplicated write (a responder's key) moves neither.
        let mut batch = WriteBatch::new();
        batch.put(cf::META, b"y".to_vec(), b"2".to_vec());
        assert_eq!(cx.commit(Commit::new(batch)).unwrap(), 2);
        assert_eq!(cx.audit_log().head().0, 2);
        assert!(crate::audit::verify(cx.db().store().as_ref(), 1, u64::MAX)
            .unwrap()
            .valid());
    }

    #[test]
    fn a_failed_bulk_action_is_audited_as_failed() {
        let cx = context();
        let c = Commit::new(WriteBatch::new())
            .audit(
                ("certificate.bulk_revoke", "certificate", ""),
                serde_json::json!({}),
            )
            .succeeded(false);
        assert!(!c.is_empty());
        cx.commit(c).unwrap();
        let (records, _) = cx.audit_log().list(1, u64::MAX, 1, 10, &|_| true).unwrap();
        assert!(!records[0].event.success);
        assert_eq!(records[0].event.actor, "system");
    }
}
