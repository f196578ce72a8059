//! Each CA's CRL nextUpdate, kept beside the replica so that the ops listener can tell how
//! many CRLs are past it without reading them: filled by one scan when a replica is opened or
//! switched in (start-up, snapshot), then kept current from the records applied. One entry
//! per CA, so every question is a walk over a handful of integers.
//!
//! A CRL past its nextUpdate is still served (RFC 5280 §5.1.2.5 leaves what to do with it to
//! the relying party, and a late CRL beats none); it only makes the data plane degraded
//! (`crate::ops`).

use std::collections::HashMap;
use std::sync::Mutex;

use sigil_shared::replication::CrlEntry;
use sigil_storage::{Store, StoreError};

use crate::schema::cf;

/// The CRLs past their nextUpdate at some instant.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StaleCrls {
    /// CRLs held.
    pub held: usize,
    /// CRLs at or past their nextUpdate.
    pub stale: usize,
    /// Seconds the oldest of them is past its nextUpdate (0 when none is).
    pub oldest_secs: i64,
}

/// Issuer id → nextUpdate (Unix seconds) of the CRL the replica holds.
#[derive(Debug, Default)]
pub struct CrlDeadlines(Mutex<HashMap<String, i64>>);

impl CrlDeadlines {
    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<String, i64>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Replaces what is known with the CRLs `store` holds (one scan of a CRL per CA).
    pub fn load(&self, store: &dyn Store) -> Result<(), StoreError> {
        let mut found = HashMap::new();
        store.scan(cf::CRLS, &[], None, &mut |_, v| {
            if let Ok(e) = postcard::from_bytes::<CrlEntry>(v) {
                found.insert(e.issuer_id, e.next_update);
            }
            true
        })?;
        *self.map() = found;
        Ok(())
    }

    /// Records CRLs written and CAs deleted (with their CRL) by a batch of applied changes.
    pub fn applied(&self, crls: &[CrlEntry], deleted_cas: &[String]) {
        if crls.is_empty() && deleted_cas.is_empty() {
            return;
        }
        let mut map = self.map();
        for c in crls {
            map.insert(c.issuer_id.clone(), c.next_update);
        }
        for id in deleted_cas {
            map.remove(id);
        }
    }

    /// The CRLs at or past their nextUpdate at `now` — the instant from which a CRL is no
    /// longer current, as an OCSP response is not (`crate::ocsp::decide`).
    pub fn stale(&self, now: i64) -> StaleCrls {
        let map = self.map();
        let mut s = StaleCrls {
            held: map.len(),
            ..StaleCrls::default()
        };
        for next_update in map.values().filter(|n| **n <= now) {
            s.stale += 1;
            s.oldest_secs = s.oldest_secs.max(now - next_update);
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sigil_storage::{Durability, MemStore, WriteBatch};

    fn crl(issuer: &str, next_update: i64) -> CrlEntry {
        CrlEntry {
            issuer_id: issuer.into(),
            der: vec![0x30, 0x00],
            number: 1,
            this_update: next_update - 100,
            next_update,
        }
    }

    #[test]
    fn loaded_then_kept_current() {
        let store = MemStore::new(cf::ALL);
        let mut batch = WriteBatch::new();
        for c in [crl("a", 1_000), crl("b", 2_000)] {
            batch.put(
                cf::CRLS,
                c.issuer_id.as_bytes().to_vec(),
                postcard::to_stdvec(&c).unwrap(),
            );
        }
        store.write(batch, Durability::Buffered).unwrap();
        let d = CrlDeadlines::default();
        assert_eq!(d.stale(0), StaleCrls::default());
        d.load(&store).unwrap();
        let none = StaleCrls {
            held: 2,
            stale: 0,
            oldest_secs: 0,
        };
        assert_eq!(d.stale(999), none);
        // nextUpdate itself is past, as for OCSP.
        assert_eq!(d.stale(1_000), StaleCrls { stale: 1, ..none });
        assert_eq!(
            d.stale(2_500),
            StaleCrls {
                held: 2,
                stale: 2,
                oldest_secs: 1_500
            }
        );
        // A new CRL for a, b's CA deleted, c added.
        d.applied(&[crl("a", 3_000), crl("c", 2_400)], &["b".into()]);
        assert_eq!(
            d.stale(2_500),
            StaleCrls {
                held: 2,
                stale: 1,
                oldest_secs: 100
            }
        );
        // A snapshot switched in: what it holds replaces everything.
        d.load(&MemStore::new(cf::ALL)).unwrap();
        assert_eq!(d.stale(2_500), StaleCrls::default());
    }
}
