//! Where an entry lives in an index file: hash tables whose slots *are* the entries.
//!
//! The file holds one region per CertID hash algorithm, then an overflow area. A region is a
//! run of slots of one size (a multiple of 8, fitted to that algorithm's entries). An entry is
//! stored in the first free slot at or after its home slot, which the key's hash alone gives
//! (linear probing; a region ends with the slots that entries near its end were pushed into,
//! and one empty slot). So a lookup computes the address of the entry it most likely wants
//! before reading anything and asks for all of that slot's lines at once. With a separate
//! table of offsets in front, as before, a lookup paid two dependent misses to memory (table
//! slot, then entry). One region per algorithm keeps the entries clients actually ask for
//! (nearly all use SHA-1 CertIDs) together, in as few pages as possible: in a VM, where a
//! random access into gigabytes also pays for the host's page tables, the pages touched
//! count as much as the lines (docs/PERFORMANCE.md).
//!
//! The price is space: slots are sized for all but 1 % of a region's entries, and a fifth of
//! the home slots stays empty (load factor [`LOAD`]; mean displacement of a present key two
//! slots, most of them in the same 4 KiB page). An entry too large for its slot keeps its
//! head in the slot and its body in the overflow area, at the cost of a second miss.

use super::entry;

/// Maximum load factor, as a fraction: entries ≤ home slots × 4 / 5.
pub const LOAD: (usize, usize) = (4, 5);
/// Share of entries, in per mille, allowed to exceed the slot size when it is chosen.
const OVERSIZE_PER_MILLE: u64 = 10;
/// Slots never exceed 4 KiB: larger responses are rare (long certificate lists stay shared).
pub const MAX_SLOT: usize = 4096;

/// Hash of an entry's key: issuer slot and serial octets (the issuer slot already fixes the
/// hash algorithm). FNV-1a over the bytes, then a 64-bit finaliser (splitmix64) so that
/// sequential serials spread over the table. Keys come from the control plane, not from
/// clients, so there is no flooding to defend against.
pub fn key_hash(issuer: u16, serial: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ u64::from(issuer);
    for b in serial {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h ^= h >> 30;
    h = h.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h ^= h >> 27;
    h = h.wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^ (h >> 31)
}

/// Sizes of one region's entries, counted before the file is laid out.
#[derive(Debug, Default, Clone)]
pub struct Sizes {
    /// Entries by inline size in 8-byte classes (class `c`: size `8 (c + 1)`); the last
    /// class counts everything above [`MAX_SLOT`].
    classes: Vec<u64>,
    entries: u64,
    /// Largest head (entry without body): every slot must hold it.
    max_head: usize,
}

impl Sizes {
    pub fn add(&mut self, serial_len: usize, body_len: usize) {
        if self.classes.is_empty() {
            self.classes = vec![0; MAX_SLOT / 8 + 1];
        }
        let size = entry::inline_len(serial_len, body_len);
        let class = (size / 8).saturating_sub(1).min(MAX_SLOT / 8);
        self.classes[class] += 1;
        self.entries += 1;
        self.max_head = self.max_head.max(entry::head_len(serial_len));
    }

    pub fn entries(&self) -> u64 {
        self.entries
    }

    /// The smallest size that holds every head and all but [`OVERSIZE_PER_MILLE`] ‰ of the
    /// entries whole.
    pub fn slot_size(&self) -> usize {
        let min = self.max_head.max(8);
        let allowed = self.entries * OVERSIZE_PER_MILLE / 1000;
        let mut above = self.entries;
        for (class, count) in self.classes.iter().enumerate() {
            above -= count;
            let size = (class + 1) * 8;
            if above <= allowed || size >= MAX_SLOT {
                return size.min(MAX_SLOT).max(min);
            }
        }
        min
    }

    /// Home slots for these entries at the maximum load factor.
    pub fn homes(&self) -> usize {
        let n = usize::try_from(self.entries).unwrap_or(usize::MAX);
        n.saturating_mul(LOAD.1).div_ceil(LOAD.0).max(1)
    }
}

/// One hash algorithm's slots in an index file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Region {
    /// Byte offset of the first slot in the file.
    pub start: usize,
    pub slot_size: usize,
    /// Slots an entry's home can be.
    pub homes: usize,
    /// All slots, including those past the last home and the final empty one.
    pub slots: usize,
}

impl Region {
    /// Home slot of a hash: the high half of `hash × homes` (uniform for a uniform hash,
    /// any slot count, no division).
    pub fn home(&self, hash: u64) -> usize {
        home(hash, self.homes)
    }

    /// Byte offset in the file of slot `i`.
    pub fn offset(&self, i: usize) -> usize {
        self.start + i * self.slot_size
    }

    /// Whether an entry is stored whole in a slot of this region.
    pub fn fits(&self, serial_len: usize, body_len: usize) -> bool {
        entry::inline_len(serial_len, body_len) <= self.slot_size
    }

    pub fn bytes(&self) -> usize {
        self.slots * self.slot_size
    }
}

/// See [`Region::home`].
pub fn home(hash: u64, homes: usize) -> usize {
    ((u128::from(hash) * homes as u128) >> 64) as usize
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn sequential_serials_spread() {
        let mut buckets: HashMap<usize, usize> = HashMap::new();
        for i in 0u32..65_536 {
            *buckets
                .entry(home(key_hash(0, &i.to_be_bytes()), 1000))
                .or_default() += 1;
        }
        let max = buckets.values().max().copied().unwrap_or(0);
        assert!(buckets.len() == 1000 && max < 110, "max home count {max}");
    }

    #[test]
    fn slot_size_holds_all_but_one_percent() {
        let mut s = Sizes::default();
        let body = |size: usize| size - entry::head_len(16);
        // 990 entries of 296 bytes inline, 10 of 1,000.
        for _ in 0..990 {
            s.add(16, body(296));
        }
        for _ in 0..10 {
            s.add(16, body(1000));
        }
        assert_eq!(s.slot_size(), 296);
        s.add(16, body(1000));
        assert_eq!(s.slot_size(), 1000, "one more large entry: 1.1 % above 296");
        // Huge entries never make slots larger than 4 KiB.
        let mut big = Sizes::default();
        big.add(20, 100_000);
        assert_eq!(big.slot_size(), MAX_SLOT);
        // A long serial raises the minimum.
        let mut long = Sizes::default();
        long.add(255, 0);
        assert_eq!(long.slot_size(), entry::head_len(255));
        assert_eq!(Sizes::default().slot_size(), 8);
    }

    #[test]
    fn a_fifth_of_the_homes_stays_free() {
        let mut s = Sizes::default();
        assert_eq!(s.homes(), 1);
        s.add(8, 100);
        assert_eq!(s.homes(), 2);
        for _ in 0..399 {
            s.add(8, 100);
        }
        assert_eq!(s.homes(), 500);
        let r = Region {
            start: 64,
            slot_size: s.slot_size(),
            homes: 500,
            slots: 510,
        };
        assert_eq!(r.slot_size, entry::inline_len(8, 100));
        assert!(r.fits(8, 100) && !r.fits(8, 108));
        assert_eq!(r.offset(2), 64 + 2 * r.slot_size);
        assert!((0..1000u64).all(|h| r.home(h.wrapping_mul(0x9e37_79b9_7f4a_7c15)) < 500));
        assert_eq!(r.home(u64::MAX), 499);
    }
}
