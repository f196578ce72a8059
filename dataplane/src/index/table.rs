//! The open-addressing hash table of an index: one `u64` per slot, linear probing, load
//! factor ≤ 0.6. A slot holds the top 24 bits of the key's hash (a tag that skips most
//! non-matching entries without touching the file) and the entry's offset in 8-byte units
//! (40 bits: files up to 8 TiB); 0 is an empty slot, which is why no entry starts at offset 0.
//! The table only narrows the search: the caller compares the entry's key itself.

const OFFSET_BITS: u32 = 40;
const OFFSET_MASK: u64 = (1 << OFFSET_BITS) - 1;

/// The slots live in an anonymous mapping advised to use transparent huge pages: a probe is
/// one random access into hundreds of MiB, and with 4 KiB pages most probes would also miss
/// the TLB (measured at 10M certificates: the table load was a third of a lookup).
#[derive(Debug)]
pub struct Table {
    slots: memmap2::MmapMut,
    mask: usize,
}

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

impl Table {
    /// A table for `n` entries.
    pub fn with_entries(n: usize) -> std::io::Result<Self> {
        let slots = (n.saturating_mul(5) / 3 + 1).next_power_of_two().max(8);
        let map = memmap2::MmapMut::map_anon(slots * 8)?;
        // Advice only: without transparent huge pages the table works the same, slower.
        let _ = map.advise(memmap2::Advice::HugePage);
        Ok(Self {
            slots: map,
            mask: slots - 1,
        })
    }

    fn slot(&self, i: usize) -> u64 {
        let b = &self.slots[i * 8..i * 8 + 8];
        u64::from_ne_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]])
    }

    /// Records an entry at byte `offset` (a non-zero multiple of 8). The table must have
    /// been sized for at least as many entries as are inserted.
    pub fn insert(&mut self, hash: u64, offset: u64) {
        debug_assert!(offset != 0 && offset % 8 == 0 && offset / 8 <= OFFSET_MASK);
        let slot = (hash & !OFFSET_MASK) | (offset / 8);
        let mut i = hash as usize & self.mask;
        while self.slot(i) != 0 {
            i = (i + 1) & self.mask;
        }
        self.slots[i * 8..i * 8 + 8].copy_from_slice(&slot.to_ne_bytes());
    }

    /// Byte offsets of the entries whose hash tag matches, in probe order.
    pub fn candidates(&self, hash: u64) -> impl Iterator<Item = usize> + '_ {
        let tag = hash & !OFFSET_MASK;
        let mut i = hash as usize & self.mask;
        std::iter::from_fn(move || loop {
            let s = self.slot(i);
            if s == 0 {
                return None;
            }
            i = (i + 1) & self.mask;
            if s & !OFFSET_MASK == tag {
                return Some(((s & OFFSET_MASK) * 8) as usize);
            }
        })
    }

    /// Memory held by the slots.
    pub fn bytes(&self) -> usize {
        self.slots.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn finds_every_inserted_entry_and_nothing_else() {
        let n = 50_000u64;
        let mut t = Table::with_entries(n as usize).unwrap();
        let serial = |i: u64| i.to_be_bytes();
        for i in 0..n {
            t.insert(key_hash(1, &serial(i)), (i + 1) * 8);
        }
        for i in 0..n {
            assert!(t
                .candidates(key_hash(1, &serial(i)))
                .any(|o| o == ((i + 1) * 8) as usize));
        }
        // Absent keys: probes end at an empty slot and rarely produce a candidate.
        let false_candidates: usize = (n..2 * n)
            .map(|i| t.candidates(key_hash(1, &serial(i))).count())
            .sum();
        assert!(false_candidates < 10, "{false_candidates}");
        assert!(t.bytes() >= (n as usize) * 8 * 5 / 3);
    }

    #[test]
    fn sequential_serials_spread() {
        let mut buckets: HashMap<u64, usize> = HashMap::new();
        for i in 0u32..65_536 {
            *buckets
                .entry(key_hash(0, &i.to_be_bytes()) & 1023)
                .or_default() += 1;
        }
        let max = buckets.values().max().copied().unwrap_or(0);
        assert!(buckets.len() == 1024 && max < 120, "max bucket {max}");
    }
}
