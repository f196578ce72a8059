//! The audit log: every mutating call, issuance, revocation, OTP use and authentication
//! failure, append-only and hash-chained ([`chain`]), in the `audit` column family under the
//! record id (u64 big-endian).
//!
//! A record is written in the same synced batch as the change it accompanies
//! ([`AuditLog::chain`], called by the services' one commit path,
//! `services::context::Context::commit`): either both are durable or neither, so a request
//! whose audit record cannot be written fails. Events without a change (failed
//! authentication) go the same way with an empty batch, before the response.

pub mod chain;
mod context;

pub use context::{current_actor, with_actor, Actor};

use std::sync::{Arc, Mutex};

use sigil_shared::time::now_unix;
use sigil_storage::{ReadView, Store, StoreError, WriteBatch};

use crate::db::{cf, DbError};
pub use chain::{AuditEvent, AuditRecord, ChainError, Verifier};

#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Db(#[from] DbError),
    #[error("corrupt audit record {id}: {detail}")]
    Corrupt { id: u64, detail: String },
}

/// The id and hash of the newest record; `(0, [0; 32])` for an empty log.
type Head = (u64, [u8; 32]);

pub struct AuditLog {
    store: Arc<dyn Store>,
    head: Mutex<Head>,
}

impl std::fmt::Debug for AuditLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditLog")
            .field("head", &self.head().0)
            .finish()
    }
}

fn now_us() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(now_unix() * 1_000_000, |d| d.as_micros() as i64)
}

fn decode(id: u64, v: &[u8]) -> Result<AuditRecord, AuditError> {
    postcard::from_bytes(v).map_err(|e| AuditError::Corrupt {
        id,
        detail: e.to_string(),
    })
}

fn key_id(k: &[u8]) -> u64 {
    <[u8; 8]>::try_from(k).map_or(0, u64::from_be_bytes)
}

impl AuditLog {
    /// Opens the log, continuing the chain after its newest record.
    pub fn open(store: Arc<dyn Store>) -> Result<Self, AuditError> {
        let head = match store.last(cf::AUDIT)? {
            Some((k, v)) => {
                let rec = decode(key_id(&k), &v)?;
                (rec.id, rec.hash)
            }
            None => (0, [0; 32]),
        };
        Ok(Self {
            store,
            head: Mutex::new(head),
        })
    }

    /// Continues the chain after the newest record in the store: another control-plane node
    /// on the same database may have appended since this one last wrote.
    pub fn refresh(&self) -> Result<Head, AuditError> {
        let mut head = self.head.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((k, v)) = self.store.last(cf::AUDIT)? {
            let rec = decode(key_id(&k), &v)?;
            if rec.id > head.0 {
                *head = (rec.id, rec.hash);
            }
        }
        Ok(*head)
    }

    pub fn head(&self) -> Head {
        *self.head.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// One record: chains `event` after the newest one into `batch` and hands the batch to
    /// `write` (tests; the services commit through [`AuditLog::chain_group`]).
    #[cfg(test)]
    pub fn chain<T>(
        &self,
        mut batch: WriteBatch,
        event: AuditEvent,
        write: impl FnOnce(WriteBatch) -> Result<T, DbError>,
    ) -> Result<T, AuditError> {
        self.chain_group(|chainer| {
            chainer.stage(&mut batch, event)?;
            Ok(write(batch)?)
        })
    }

    /// Holds the head while `write` chains any number of records ([`AuditChainer::stage`])
    /// into batches it writes (synced); the head moves to the last staged record only if
    /// `write` succeeds. Group commit: several commits' records, chained in order, made
    /// durable by one write. Lock order: the audit head, then whatever `write` takes (the
    /// replication log).
    pub fn chain_group<T>(
        &self,
        write: impl FnOnce(&mut AuditChainer) -> Result<T, AuditError>,
    ) -> Result<T, AuditError> {
        let mut head = self.head.lock().unwrap_or_else(|e| e.into_inner());
        let mut chainer = AuditChainer { head: *head };
        let out = write(&mut chainer)?;
        *head = chainer.head;
        Ok(out)
    }

    /// Records with ids in `from..=to`, oldest first, that `keep` accepts: the page
    /// (`page` from 1, `per_page` records) and the number of all accepted records.
    pub fn list(
        &self,
        from: u64,
        to: u64,
        page: u64,
        per_page: u64,
        keep: &dyn Fn(&AuditRecord) -> bool,
    ) -> Result<(Vec<AuditRecord>, u64), AuditError> {
        let skip = page.saturating_sub(1).saturating_mul(per_page);
        let mut total = 0u64;
        let mut out = Vec::new();
        let mut err = None;
        let end = to.checked_add(1).map(u64::to_be_bytes);
        self.store.scan(
            cf::AUDIT,
            &from.to_be_bytes(),
            end.as_ref().map(|e| &e[..]),
            &mut |k, v| match decode(key_id(k), v) {
                Ok(rec) => {
                    if keep(&rec) {
                        if total >= skip && (out.len() as u64) < per_page {
                            out.push(rec);
                        }
                        total += 1;
                    }
                    true
                }
                Err(e) => {
                    err = Some(e);
                    false
                }
            },
        )?;
        err.map_or(Ok((out, total)), Err)
    }
}

/// The chain's head while [`AuditLog::chain_group`] stages records.
#[derive(Debug)]
pub struct AuditChainer {
    head: Head,
}

impl AuditChainer {
    /// Chains the record of `event` after the last one staged (or the log's newest) and adds
    /// it to `batch`.
    pub fn stage(&mut self, batch: &mut WriteBatch, event: AuditEvent) -> Result<(), AuditError> {
        let rec = chain::next_record(self.head, now_us(), event);
        stage(batch, &rec)?;
        self.head = (rec.id, rec.hash);
        Ok(())
    }

    /// Where the chain stands: pass to [`AuditChainer::rewind`] to drop records staged after
    /// (their batch was not written).
    pub fn mark(&self) -> (u64, [u8; 32]) {
        self.head
    }

    pub fn rewind(&mut self, mark: (u64, [u8; 32])) {
        self.head = mark;
    }
}

/// Adds `rec` to `batch`.
fn stage(batch: &mut WriteBatch, rec: &AuditRecord) -> Result<(), AuditError> {
    let v = postcard::to_stdvec(rec).map_err(|e| DbError::Encode(e.to_string()))?;
    batch.put(cf::AUDIT, rec.id.to_be_bytes().to_vec(), v);
    Ok(())
}

/// Verifies the chain over the records with ids in `from..=to` (from the start of the log
/// when `from` ≤ 1; otherwise the record before `from` is trusted as the starting point).
/// Works on a live store or on a data directory opened offline (`sigil-cp audit verify`).
pub fn verify(view: &dyn ReadView, from: u64, to: u64) -> Result<Verifier, AuditError> {
    let mut v = if from <= 1 {
        Verifier::default()
    } else {
        match view.get(cf::AUDIT, &(from - 1).to_be_bytes())? {
            Some(prev) => {
                let rec = decode(from - 1, &prev)?;
                Verifier::after(rec.id, rec.hash)
            }
            None => Verifier::default(),
        }
    };
    let end = to.checked_add(1).map(u64::to_be_bytes);
    view.scan(
        cf::AUDIT,
        &from.max(1).to_be_bytes(),
        end.as_ref().map(|e| &e[..]),
        &mut |k, val| {
            let id = key_id(k);
            match postcard::from_bytes::<AuditRecord>(val) {
                Ok(rec) => v.check(id, &rec),
                Err(e) => v.undecodable(id, &e.to_string()),
            }
            true
        },
    )?;
    Ok(v)
}

#[cfg(test)]
mod tests;
