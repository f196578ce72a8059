//! [`sigil_storage::Store`] on RocksDB: one column family per table, `WriteBatch` for
//! atomicity, `sync = true` write options for [`Durability::Sync`], RocksDB snapshots for
//! consistent reads.

use std::path::Path;
use std::sync::Arc;

use rocksdb::{
    ColumnFamilyDescriptor, Direction, IteratorMode, Options, ReadOptions, SnapshotWithThreadMode,
    WriteOptions, DB,
};
use sigil_storage::{
    BatchOp, Durability, Expect, Lease, LocalLeases, ReadView, Result, Store, StoreError,
    WriteBatch,
};

/// A RocksDB database opened with a fixed set of column families.
pub struct RocksStore {
    db: Arc<DB>,
    /// Held by [`Store::write_checked`] from its check to its write (one process owns a
    /// RocksDB database, so a process-wide lock makes the check atomic with the write).
    checked: std::sync::Mutex<()>,
    /// One process owns the database (RocksDB's LOCK file): leases are the process's own.
    leases: LocalLeases,
}

impl std::fmt::Debug for RocksStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RocksStore")
            .field("path", &self.db.path())
            .finish()
    }
}

fn io(e: rocksdb::Error) -> StoreError {
    StoreError::Io(e.into_string())
}

/// Tuning knobs; defaults suit a control plane or a data-plane replica on one host.
#[derive(Debug, Clone)]
pub struct RocksOptions {
    /// Shared LRU block cache size in bytes.
    pub block_cache_bytes: usize,
    /// Background compaction/flush threads.
    pub background_jobs: i32,
    /// Keep every index and bloom filter in memory (≈ 8 bytes per key, outside the block
    /// cache) so a point lookup reads one data block; otherwise they are partitioned and
    /// cached, bounding memory by `block_cache_bytes` at the cost of extra block reads.
    pub index_in_memory: bool,
}

impl Default for RocksOptions {
    fn default() -> Self {
        Self {
            block_cache_bytes: 64 << 20,
            background_jobs: 2,
            index_in_memory: false,
        }
    }
}

impl RocksStore {
    /// Opens (creating if needed) the database at `path` with column families `cfs`. Column
    /// families present on disk but not listed are opened too, so that an older binary can
    /// open a newer database.
    pub fn open(path: &Path, cfs: &[&str], tuning: &RocksOptions) -> Result<Self> {
        let mut opts = Options::default();
        opts.create_if_missing(true);
        opts.create_missing_column_families(true);
        opts.set_max_background_jobs(tuning.background_jobs);
        opts.set_keep_log_file_num(4);
        // Memtable flushes (RocksDB's high-priority pool) run at the lowest CPU priority: a
        // request preempts them, and a flush — hundreds of ms of CPU in one burst — no longer
        // shares a busy core with the requests (issuance's open-loop p99 at 70 % of the peak on
        // one core: 117 ms → 9 ms; docs/PERFORMANCE.md, "Issuance"). Compactions keep the
        // normal priority: at the lowest one they fell behind on a busy core and the tail got
        // far worse (560 ms).
        if let Ok(mut env) = rocksdb::Env::new() {
            env.lower_high_priority_thread_pool_cpu_priority();
            opts.set_env(&env);
        }
        let cache = rocksdb::Cache::new_lru_cache(tuning.block_cache_bytes);
        // Point lookups dominate (OCSP by CertID key). Index and filter blocks live in the
        // block cache, so memory stays bounded by `block_cache_bytes`, but partitioned, with
        // the small top level pinned: unpartitioned, a 64 MiB file's index block is hundreds
        // of KiB and, once evicted by data blocks, is re-read on nearly every random lookup
        // (measured: ~4k lookups/s at 10M keys instead of ~100k+).
        let mut table = rocksdb::BlockBasedOptions::default();
        table.set_block_cache(&cache);
        table.set_bloom_filter(10.0, false);
        if tuning.index_in_memory {
            table.set_cache_index_and_filter_blocks(false);
        } else {
            table.set_cache_index_and_filter_blocks(true);
            table.set_index_type(rocksdb::BlockBasedIndexType::TwoLevelIndexSearch);
            table.set_partition_filters(true);
            table.set_pin_top_level_index_and_filter(true);
            table.set_pin_l0_filter_and_index_blocks_in_cache(true);
        }
        table.set_data_block_index_type(rocksdb::DataBlockIndexType::BinaryAndHash);
        table.set_format_version(5);
        opts.set_block_based_table_factory(&table);
        opts.set_compression_type(rocksdb::DBCompressionType::Lz4);

        let mut names: Vec<String> = cfs.iter().map(|s| s.to_string()).collect();
        if let Ok(existing) = DB::list_cf(&opts, path) {
            for n in existing {
                if !names.contains(&n) {
                    names.push(n);
                }
            }
        }
        let descriptors = names
            .iter()
            .map(|n| ColumnFamilyDescriptor::new(n, opts.clone()));
        let db = DB::open_cf_descriptors(&opts, path, descriptors).map_err(io)?;
        Ok(Self {
            db: Arc::new(db),
            checked: std::sync::Mutex::new(()),
            leases: LocalLeases::new(),
        })
    }

    fn cf(&self, name: &str) -> Result<&rocksdb::ColumnFamily> {
        self.db
            .cf_handle(name)
            .ok_or_else(|| StoreError::UnknownCf(name.to_string()))
    }
}

fn scan_with(
    db: &DB,
    cf: &rocksdb::ColumnFamily,
    snapshot: Option<&SnapshotWithThreadMode<'_, DB>>,
    from: &[u8],
    to: Option<&[u8]>,
    visit: &mut dyn FnMut(&[u8], &[u8]) -> bool,
) -> Result<()> {
    let mut ro = ReadOptions::default();
    if let Some(s) = snapshot {
        ro.set_snapshot(s);
    }
    if let Some(end) = to {
        ro.set_iterate_upper_bound(end.to_vec());
    }
    for item in db.iterator_cf_opt(cf, ro, IteratorMode::From(from, Direction::Forward)) {
        let (k, v) = item.map_err(io)?;
        if !visit(&k, &v) {
            break;
        }
    }
    Ok(())
}

fn last_with(
    db: &DB,
    cf: &rocksdb::ColumnFamily,
    snapshot: Option<&SnapshotWithThreadMode<'_, DB>>,
) -> Result<Option<(Vec<u8>, Vec<u8>)>> {
    let mut ro = ReadOptions::default();
    if let Some(s) = snapshot {
        ro.set_snapshot(s);
    }
    match db.iterator_cf_opt(cf, ro, IteratorMode::End).next() {
        Some(item) => {
            let (k, v) = item.map_err(io)?;
            Ok(Some((k.to_vec(), v.to_vec())))
        }
        None => Ok(None),
    }
}

impl ReadView for RocksStore {
    fn get(&self, cf: &str, key: &[u8]) -> Result<Option<Vec<u8>>> {
        self.db.get_cf(self.cf(cf)?, key).map_err(io)
    }

    fn scan(
        &self,
        cf: &str,
        from: &[u8],
        to: Option<&[u8]>,
        visit: &mut dyn FnMut(&[u8], &[u8]) -> bool,
    ) -> Result<()> {
        scan_with(&self.db, self.cf(cf)?, None, from, to, visit)
    }

    fn last(&self, cf: &str) -> Result<Option<(Vec<u8>, Vec<u8>)>> {
        last_with(&self.db, self.cf(cf)?, None)
    }
}

struct RocksSnapshot<'a> {
    store: &'a RocksStore,
    snap: SnapshotWithThreadMode<'a, DB>,
}

impl ReadView for RocksSnapshot<'_> {
    fn get(&self, cf: &str, key: &[u8]) -> Result<Option<Vec<u8>>> {
        self.snap.get_cf(self.store.cf(cf)?, key).map_err(io)
    }

    fn scan(
        &self,
        cf: &str,
        from: &[u8],
        to: Option<&[u8]>,
        visit: &mut dyn FnMut(&[u8], &[u8]) -> bool,
    ) -> Result<()> {
        scan_with(
            &self.store.db,
            self.store.cf(cf)?,
            Some(&self.snap),
            from,
            to,
            visit,
        )
    }

    fn last(&self, cf: &str) -> Result<Option<(Vec<u8>, Vec<u8>)>> {
        last_with(&self.store.db, self.store.cf(cf)?, Some(&self.snap))
    }
}

impl Store for RocksStore {
    fn write(&self, batch: WriteBatch, durability: Durability) -> Result<()> {
        let mut wb = rocksdb::WriteBatch::default();
        for op in batch.into_ops() {
            match op {
                BatchOp::Put { cf, key, value } => wb.put_cf(self.cf(cf)?, key, value),
                BatchOp::Delete { cf, key } => wb.delete_cf(self.cf(cf)?, key),
                BatchOp::DeleteRange { cf, start, end } => {
                    wb.delete_range_cf(self.cf(cf)?, start, end)
                }
            }
        }
        let mut wo = WriteOptions::default();
        wo.set_sync(durability == Durability::Sync);
        self.db.write_opt(wb, &wo).map_err(io)
    }

    fn write_checked(
        &self,
        expect: &[Expect],
        batch: WriteBatch,
        durability: Durability,
    ) -> Result<()> {
        if expect.is_empty() {
            return self.write(batch, durability);
        }
        let _held = self.checked.lock().unwrap_or_else(|e| e.into_inner());
        for e in expect {
            let cf = self.cf(e.cf)?;
            if self.db.get_cf(cf, &e.key).map_err(io)? != e.value {
                return Err(e.conflict());
            }
        }
        self.write(batch, durability)
    }

    fn try_lease(&self, name: &str) -> Result<Option<Lease>> {
        Ok(self.leases.try_take(name))
    }

    fn with_snapshot(&self, f: &mut dyn FnMut(&dyn ReadView) -> Result<()>) -> Result<()> {
        let snap = RocksSnapshot {
            store: self,
            snap: self.db.snapshot(),
        };
        f(&snap)
    }

    /// Flushes `cf`'s memtable, then compacts all of it down to the bottommost level (forced,
    /// so even a single file is rewritten): older versions of overwritten keys and deleted
    /// values are dropped, and the files that held them deleted. (Blocks a file system freed
    /// are not overwritten, and a checkpoint or backup holding the old files keeps them.)
    fn compact(&self, cf: &str) -> Result<()> {
        let handle = self.cf(cf)?;
        self.db.flush_cf(handle).map_err(io)?;
        let mut opts = rocksdb::CompactOptions::default();
        opts.set_exclusive_manual_compaction(true);
        opts.set_bottommost_level_compaction(rocksdb::BottommostLevelCompaction::Force);
        self.db
            .compact_range_cf_opt(handle, None::<&[u8]>, None::<&[u8]>, &opts);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passes_conformance() {
        let dirs = std::sync::Mutex::new(Vec::new());
        sigil_storage::conformance::run_all(&|cfs| {
            let dir = tempfile::tempdir().unwrap();
            let store = RocksStore::open(dir.path(), cfs, &RocksOptions::default()).unwrap();
            dirs.lock().unwrap().push(dir);
            Box::new(store)
        });
    }

    /// Every byte of every file under `dir`.
    fn files_contain(dir: &Path, needle: &[u8]) -> bool {
        std::fs::read_dir(dir).unwrap().any(|e| {
            let p = e.unwrap().path();
            p.is_file()
                && std::fs::read(&p)
                    .unwrap()
                    .windows(needle.len())
                    .any(|w| w == needle)
        })
    }

    #[test]
    fn compaction_drops_overwritten_values_from_the_files() {
        let dir = tempfile::tempdir().unwrap();
        // Random-looking bytes LZ4 leaves as they are.
        let old: Vec<u8> = (0..64u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        {
            let s =
                RocksStore::open(dir.path(), &["keys", "other"], &RocksOptions::default()).unwrap();
            let mut b = WriteBatch::new();
            b.put("keys", b"k".to_vec(), old.clone());
            b.put("other", b"x".to_vec(), b"y".to_vec());
            s.write(b, Durability::Sync).unwrap();
        }
        // Reopened: the WAL is replayed into a table file, the old value with it.
        let s = RocksStore::open(dir.path(), &["keys", "other"], &RocksOptions::default()).unwrap();
        assert!(files_contain(dir.path(), &old));
        let mut b = WriteBatch::new();
        b.put("keys", b"k".to_vec(), b"new".to_vec());
        s.write(b, Durability::Sync).unwrap();
        s.compact("keys").unwrap();
        assert!(!files_contain(dir.path(), &old));
        assert_eq!(s.get("keys", b"k").unwrap().as_deref(), Some(&b"new"[..]));
        assert!(s.compact("missing").is_err());
    }

    #[test]
    fn synced_writes_survive_reopen() {
        let dir = tempfile::tempdir().unwrap();
        {
            let s = RocksStore::open(dir.path(), &["a"], &RocksOptions::default()).unwrap();
            let mut b = WriteBatch::new();
            b.put("a", b"k".to_vec(), b"v".to_vec());
            s.write(b, Durability::Sync).unwrap();
        }
        let s = RocksStore::open(dir.path(), &["a", "b"], &RocksOptions::default()).unwrap();
        assert_eq!(s.get("a", b"k").unwrap().as_deref(), Some(&b"v"[..]));
        assert_eq!(s.get("b", b"k").unwrap(), None);
    }
}
