//! In-memory [`Store`]: a `BTreeMap` per column family behind one lock. For unit tests and
//! tools; it has the same semantics as the RocksDB store except that nothing survives the
//! process.

use std::collections::{BTreeMap, HashMap};
use std::ops::Bound;
use std::sync::{Arc, RwLock};

use crate::{BatchOp, Expect, Lease, LocalLeases, ReadView, Result, Store, StoreError, WriteBatch};

type Tables = HashMap<String, BTreeMap<Vec<u8>, Vec<u8>>>;

/// In-memory store. Cloning shares the same data.
#[derive(Debug, Clone)]
pub struct MemStore {
    tables: Arc<RwLock<Tables>>,
    leases: LocalLeases,
}

impl MemStore {
    /// A store with the given column families.
    pub fn new(cfs: &[&str]) -> Self {
        let tables = cfs
            .iter()
            .map(|c| (c.to_string(), BTreeMap::new()))
            .collect();
        Self {
            tables: Arc::new(RwLock::new(tables)),
            leases: LocalLeases::new(),
        }
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Tables> {
        self.tables.read().unwrap_or_else(|e| e.into_inner())
    }
}

fn table<'a>(t: &'a Tables, cf: &str) -> Result<&'a BTreeMap<Vec<u8>, Vec<u8>>> {
    t.get(cf)
        .ok_or_else(|| StoreError::UnknownCf(cf.to_string()))
}

fn scan_tables(
    t: &Tables,
    cf: &str,
    from: &[u8],
    to: Option<&[u8]>,
    visit: &mut dyn FnMut(&[u8], &[u8]) -> bool,
) -> Result<()> {
    let upper = to.map_or(Bound::Unbounded, Bound::Excluded);
    for (k, v) in table(t, cf)?.range::<[u8], _>((Bound::Included(from), upper)) {
        if !visit(k, v) {
            break;
        }
    }
    Ok(())
}

impl ReadView for MemStore {
    fn get(&self, cf: &str, key: &[u8]) -> Result<Option<Vec<u8>>> {
        Ok(table(&self.read(), cf)?.get(key).cloned())
    }

    fn scan(
        &self,
        cf: &str,
        from: &[u8],
        to: Option<&[u8]>,
        visit: &mut dyn FnMut(&[u8], &[u8]) -> bool,
    ) -> Result<()> {
        scan_tables(&self.read(), cf, from, to, visit)
    }

    fn last(&self, cf: &str) -> Result<Option<(Vec<u8>, Vec<u8>)>> {
        Ok(table(&self.read(), cf)?
            .iter()
            .next_back()
            .map(|(k, v)| (k.clone(), v.clone())))
    }
}

/// A frozen copy of the tables.
struct MemSnapshot(Tables);

impl ReadView for MemSnapshot {
    fn get(&self, cf: &str, key: &[u8]) -> Result<Option<Vec<u8>>> {
        Ok(table(&self.0, cf)?.get(key).cloned())
    }

    fn scan(
        &self,
        cf: &str,
        from: &[u8],
        to: Option<&[u8]>,
        visit: &mut dyn FnMut(&[u8], &[u8]) -> bool,
    ) -> Result<()> {
        scan_tables(&self.0, cf, from, to, visit)
    }

    fn last(&self, cf: &str) -> Result<Option<(Vec<u8>, Vec<u8>)>> {
        Ok(table(&self.0, cf)?
            .iter()
            .next_back()
            .map(|(k, v)| (k.clone(), v.clone())))
    }
}

impl Store for MemStore {
    fn write(&self, batch: WriteBatch, durability: crate::Durability) -> Result<()> {
        self.write_checked(&[], batch, durability)
    }

    fn write_checked(
        &self,
        expect: &[Expect],
        batch: WriteBatch,
        _durability: crate::Durability,
    ) -> Result<()> {
        let mut t = self.tables.write().unwrap_or_else(|e| e.into_inner());
        for e in expect {
            if table(&t, e.cf)?.get(&e.key) != e.value.as_ref() {
                return Err(e.conflict());
            }
        }
        // Validate first so a bad batch changes nothing (atomicity).
        for op in batch.ops() {
            let cf = match op {
                BatchOp::Put { cf, .. }
                | BatchOp::Delete { cf, .. }
                | BatchOp::DeleteRange { cf, .. } => cf,
            };
            table(&t, cf)?;
        }
        for op in batch.into_ops() {
            match op {
                BatchOp::Put { cf, key, value } => {
                    t.get_mut(cf).expect("validated").insert(key, value);
                }
                BatchOp::Delete { cf, key } => {
                    t.get_mut(cf).expect("validated").remove(&key);
                }
                BatchOp::DeleteRange { cf, start, end } => {
                    let tb = t.get_mut(cf).expect("validated");
                    let doomed: Vec<Vec<u8>> =
                        tb.range(start..end).map(|(k, _)| k.clone()).collect();
                    for k in doomed {
                        tb.remove(&k);
                    }
                }
            }
        }
        Ok(())
    }

    fn try_lease(&self, name: &str) -> Result<Option<Lease>> {
        Ok(self.leases.try_take(name))
    }

    fn with_snapshot(&self, f: &mut dyn FnMut(&dyn ReadView) -> Result<()>) -> Result<()> {
        let snap = MemSnapshot(self.read().clone());
        f(&snap)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn passes_conformance() {
        crate::conformance::run_all(&|cfs| Box::new(super::MemStore::new(cfs)));
    }
}
