//! A bounded per-core cache of pre-rendered responses. Single-threaded (one per core, no
//! locks); FIFO eviction by entry count and bytes, which needs no bookkeeping on hits. A miss
//! costs one RocksDB read, so a simple policy is enough; the bound is what matters.
//!
//! The map hashes with `rustc-hash` (unkeyed, a few nanoseconds for a CertID key) instead of
//! std's SipHash, which was ~1.5 % of a request. Unkeyed is safe here because only responses
//! that exist are inserted: the keys are CertIDs of certificates the CA issued, which a client
//! cannot choose, and lookups of crafted keys cannot lengthen the probe sequences that the
//! inserted keys determine.

use std::collections::{HashMap, VecDeque};
use std::rc::Rc;

use rustc_hash::FxBuildHasher;

use crate::render::Rendered;

#[derive(Debug)]
pub struct Cache {
    /// Entry and the generation of its current insertion.
    map: HashMap<Box<[u8]>, (Rc<Rendered>, u64), FxBuildHasher>,
    /// Insertion order. An element is live only while its generation matches the map's, so
    /// every key has at most one live element; stale ones are skipped and compacted away.
    order: VecDeque<(Box<[u8]>, u64)>,
    generation: u64,
    bytes: usize,
    max_entries: usize,
    max_bytes: usize,
}

impl Cache {
    pub fn new(max_entries: usize, max_bytes: usize) -> Self {
        Self {
            map: HashMap::default(),
            order: VecDeque::new(),
            generation: 0,
            bytes: 0,
            max_entries: max_entries.max(1),
            max_bytes,
        }
    }

    pub fn get(&self, key: &[u8]) -> Option<Rc<Rendered>> {
        self.map.get(key).map(|(v, _)| v.clone())
    }

    pub fn insert(&mut self, key: &[u8], value: Rc<Rendered>) {
        let size = value.size() + key.len();
        if size > self.max_bytes {
            return;
        }
        self.remove(key);
        while self.map.len() >= self.max_entries || self.bytes + size > self.max_bytes {
            match self.order.pop_front() {
                Some((old, generation)) => {
                    if self.map.get(&old).is_some_and(|(_, g)| *g == generation) {
                        self.remove(&old);
                    }
                }
                None => break,
            }
        }
        self.generation += 1;
        self.bytes += size;
        self.map.insert(key.into(), (value, self.generation));
        self.order.push_back((key.into(), self.generation));
        if self.order.len() > 2 * self.max_entries + 16 {
            // Drop stale elements left by removals so the queue stays bounded too.
            let map = &self.map;
            self.order
                .retain(|(k, g)| map.get(k).is_some_and(|(_, live)| live == g));
        }
    }

    pub fn remove(&mut self, key: &[u8]) {
        if let Some((v, _)) = self.map.remove(key) {
            self.bytes -= v.size() + key.len();
        }
    }

    pub fn clear(&mut self) {
        self.map.clear();
        self.order.clear();
        self.bytes = 0;
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    pub fn bytes(&self) -> usize {
        self.bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(n: usize) -> Rc<Rendered> {
        Rc::new(Rendered::ocsp(vec![0; n], 1, 2))
    }

    #[test]
    fn bounded_by_entries_and_bytes() {
        let mut c = Cache::new(3, 1 << 20);
        for i in 0u8..10 {
            c.insert(&[i], entry(10));
        }
        assert_eq!(c.len(), 3);
        assert!(c.get(&[9]).is_some() && c.get(&[0]).is_none());
        let one = entry(1000).size() + 1;
        let mut c = Cache::new(100, 3 * one);
        for i in 0u8..10 {
            c.insert(&[i], entry(1000));
        }
        assert_eq!(c.len(), 3);
        assert!(c.bytes() <= 3 * one);
        c.remove(&[9]);
        assert_eq!(c.len(), 2);
        c.clear();
        assert!(c.is_empty() && c.bytes() == 0);
    }

    #[test]
    fn reinsert_and_removal_keep_accounting_exact() {
        let mut c = Cache::new(2, 1 << 20);
        for _ in 0..1000 {
            c.insert(b"a", entry(5));
            c.remove(b"a");
        }
        assert_eq!(c.bytes(), 0);
        for _ in 0..1000 {
            c.insert(b"b", entry(5)); // re-inserting a live key
        }
        assert_eq!(c.len(), 1);
        assert!(
            c.order.len() <= 2 * 2 + 16 + 1,
            "order queue stays bounded: {}",
            c.order.len()
        );
    }
}
