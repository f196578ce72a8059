//! The audit trail service: reading the hash-chained audit log (filters, paging, chain
//! verification) and recording events that come with no change — failed authentication,
//! denied permissions, failed mutating calls — each synced before the caller answers.

use std::sync::Arc;

use super::context::{Commit, Context};
use super::error::Internal;
use crate::audit::{self, AuditEvent, AuditRecord, Verifier};

/// See the module documentation.
pub struct AuditTrail {
    cx: Arc<Context>,
}

impl std::fmt::Debug for AuditTrail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditTrail").finish_non_exhaustive()
    }
}

impl AuditTrail {
    pub(super) fn new(cx: Arc<Context>) -> Self {
        Self { cx }
    }

    /// Writes `event` on its own, synced; the caller fails its request if this fails.
    pub fn record(&self, event: AuditEvent) -> Result<(), Internal> {
        self.cx.commit(Commit::record(event)).map(|_| ())
    }

    /// Records with ids in `from..=to`, oldest first, that `keep` accepts: one page (`page`
    /// from 1) and how many are accepted in all.
    pub fn list(
        &self,
        from: u64,
        to: u64,
        page: u64,
        per_page: u64,
        keep: &dyn Fn(&AuditRecord) -> bool,
    ) -> Result<(Vec<AuditRecord>, u64), Internal> {
        Ok(self.cx.audit_log().list(from, to, page, per_page, keep)?)
    }

    /// The newest record's id as the store has it now (records of other nodes included; ids
    /// are gap-free from 1, so this is also how many records there are). 0 when empty.
    pub fn newest_id(&self) -> Result<u64, Internal> {
        let last = self
            .cx
            .db()
            .store()
            .last(crate::db::cf::AUDIT)
            .map_err(crate::db::DbError::from)?;
        Ok(last.map_or(0, |(k, _)| {
            <[u8; 8]>::try_from(k.as_slice()).map_or(0, u64::from_be_bytes)
        }))
    }

    /// Verifies the chain over the records with ids in `from..=to`.
    pub fn verify(&self, from: u64, to: u64) -> Result<Verifier, Internal> {
        Ok(audit::verify(self.cx.db().store().as_ref(), from, to)?)
    }
}
