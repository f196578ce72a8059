//! Delta CRLs of an issuer's scopes (RFC 5280 §5.2.4): published every
//! `crl.delta_every_minutes` and after revocations instead of new complete CRLs, each listing
//! what changed since its scope's current base CRL (`crate::crl::delta`).

use sigil_shared::replication::{Change, CrlEntry};
use sigil_shared::time::now_unix;
use sigil_storage::WriteBatch;

use super::super::{IssuerError, Issuers, Result};
use super::{delta_spec, entry};
use crate::crl::scope::partition;
use crate::crl::{build, delta};
use crate::db::{cf, encode};
use crate::services::context::{retry_conflicts, Commit};
use crate::services::error::Internal;

impl Issuers {
    /// Publishes a new delta CRL for every scope of `issuer_id`, all under one new number;
    /// returns the complete scope's. When delta CRLs are off, or a scope has no base CRL yet
    /// (its shard count is new), regenerates the complete and shard CRLs instead.
    pub fn regenerate_deltas(&self, issuer_id: &str) -> Result<CrlEntry> {
        let Some(every) = self.cx.settings().crl.delta_every_secs() else {
            return self.regenerate_crl(issuer_id);
        };
        let ca = self.ca(issuer_id)?;
        let built = {
            let _g = self.crl_lock.lock().unwrap_or_else(|e| e.into_inner());
            retry_conflicts(
                || {
                    let now = now_unix();
                    let revoked = self.revoked_of(&ca)?;
                    let (number_key, read, number) = self.next_crl_number(issuer_id)?;
                    let base_url = self.distribution_base();
                    let mut entries = Vec::new();
                    let scopes = self.crl_scopes(issuer_id)?;
                    let lists = partition(&scopes, &revoked, |r| &r.serial);
                    for (scope, current) in scopes.into_iter().zip(lists) {
                        let Some(base) = self
                            .cx
                            .db()
                            .get::<CrlEntry>(cf::CRLS, scope.crl_id(issuer_id).as_bytes())?
                        else {
                            return Ok(None);
                        };
                        let listed = delta::listed(&base.der).map_err(Internal::from)?;
                        let changes = delta::entries(&listed, &current, now);
                        let url = scope.url(base_url, issuer_id);
                        let idp = (scope.shards > 1).then_some(url.as_str());
                        let spec = delta_spec(number, base.number, now, every, idp);
                        entries.push(entry(
                            scope.delta_id(issuer_id),
                            build(&ca, &spec, &changes),
                            &spec,
                        )?);
                    }
                    let mut batch = WriteBatch::new();
                    batch.put(cf::META, number_key.clone(), number.to_be_bytes().to_vec());
                    for e in &entries {
                        batch.put(cf::CRLS, e.issuer_id.as_bytes().to_vec(), encode(e)?);
                    }
                    let first = entries[0].clone();
                    self.cx.commit(
                        Commit::new(batch)
                            .expect_value(cf::META, number_key, read)
                            .replicate(entries.into_iter().map(Change::CrlPut).collect()),
                    )?;
                    Ok(Some(first))
                },
                |e: &IssuerError| matches!(e, IssuerError::Internal(i) if i.is_write_conflict()),
            )?
        };
        match built {
            Some(delta) => {
                tracing::info!(issuer = %issuer_id, number = delta.number, "generated delta CRLs");
                Ok(delta)
            }
            None => self.regenerate_crl(issuer_id),
        }
    }

    /// Issuers whose delta CRLs are older than `crl.delta_every_minutes` (none when delta
    /// CRLs are off).
    pub fn stale_deltas(&self, now: i64) -> Vec<String> {
        let Some(every) = self.cx.settings().crl.delta_every_secs() else {
            return Vec::new();
        };
        self.list_cas()
            .iter()
            .map(|ca| ca.record.id.clone())
            .filter(|id| {
                let key = crate::crl::scope::Scope::FULL.delta_id(id);
                match self.cx.db().get::<CrlEntry>(cf::CRLS, key.as_bytes()) {
                    Ok(Some(d)) => now - d.this_update >= every,
                    _ => true,
                }
            })
            .collect()
    }
}
