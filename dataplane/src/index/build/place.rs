//! Putting entries into their slots with sequential writes only.
//!
//! The replica is scanned in key order, which is not slot order: writing each entry straight
//! to its slot dirtied the pages of a multi-gigabyte file in random order, and the kernel
//! wrote most pages back several times (at 10M certificates the build took 343 s instead of
//! ~70 s). Instead, each entry is appended to one of a few dozen spill files by the range its
//! home slot falls in; then each spill file in turn is read back, sorted by home slot and laid
//! out (each entry in the first free slot at or after its home), and the finished slots are
//! appended to the index file. Nothing larger than one spill file is held in memory.

use std::fs::File;
use std::io::{BufWriter, Read, Seek, Write};
use std::path::{Path, PathBuf};

use super::super::entry::{self, Entry};
use super::super::slots::{home, Region, Sizes};
use super::BuildError;

/// Slot bytes per spill file, roughly: the memory a build needs beyond the replica scan.
const CHUNK_BYTES: usize = 64 << 20;
/// Spill files per region at most (each is an open descriptor during the second scan, beside
/// the serving cores' connections): past 4 GiB of slots per region, the chunks grow instead.
const MAX_CHUNKS: usize = 64;
const WRITE_BUFFER: usize = 64 << 10;

/// One region being filled: its geometry so far and its spill files.
struct Plan {
    slot_size: usize,
    homes: usize,
    chunks: usize,
    writers: Vec<Option<BufWriter<File>>>,
}

/// The spill files of a build in progress, by region (hash algorithm code) and home range.
pub struct Spill {
    prefix: PathBuf,
    plans: Vec<Option<Plan>>,
    overflow: BufWriter<File>,
    overflow_len: u64,
    scratch: Vec<u8>,
}

impl Spill {
    /// Spill files for regions sized by `sizes` (indexed by hash algorithm code), named
    /// `<prefix>.<code>.<chunk>` and `<prefix>.overflow`.
    pub fn new(prefix: &Path, sizes: &[Sizes]) -> Result<Self, BuildError> {
        Self::with_chunk_bytes(prefix, sizes, CHUNK_BYTES)
    }

    fn with_chunk_bytes(
        prefix: &Path,
        sizes: &[Sizes],
        chunk_bytes: usize,
    ) -> Result<Self, BuildError> {
        let plans = sizes
            .iter()
            .map(|s| {
                (s.entries() > 0).then(|| {
                    let (slot_size, homes) = (s.slot_size(), s.homes());
                    let chunks = (homes.saturating_mul(slot_size).div_ceil(chunk_bytes))
                        .clamp(1, MAX_CHUNKS.min(homes));
                    Plan {
                        slot_size,
                        homes,
                        chunks,
                        writers: (0..chunks).map(|_| None).collect(),
                    }
                })
            })
            .collect();
        let path = spill_path(prefix, "overflow");
        let overflow = create(&path)?;
        Ok(Self {
            prefix: prefix.to_path_buf(),
            plans,
            overflow: BufWriter::with_capacity(WRITE_BUFFER, overflow),
            overflow_len: 0,
            scratch: Vec::new(),
        })
    }

    /// Spills one entry whose key hashes to `hash`.
    pub fn add(&mut self, hash: u64, e: &Entry<'_>) -> Result<(), BuildError> {
        let plan = self
            .plans
            .get_mut(e.alg as usize)
            .and_then(Option::as_mut)
            .ok_or(BuildError::Inconsistent)?;
        let body_at = if entry::inline_len(e.serial.len(), e.body.len()) <= plan.slot_size {
            None
        } else {
            let at =
                u32::try_from(self.overflow_len / 8).map_err(|_| BuildError::OverflowTooLarge)?;
            let padded = e.body.len().next_multiple_of(8);
            self.overflow
                .write_all(e.body)
                .and_then(|()| self.overflow.write_all(&[0; 8][..padded - e.body.len()]))
                .map_err(|source| BuildError::Io {
                    path: spill_path(&self.prefix, "overflow"),
                    source,
                })?;
            self.overflow_len += padded as u64;
            Some(at)
        };
        self.scratch.clear();
        let h = home(hash, plan.homes) as u64;
        self.scratch.extend_from_slice(&h.to_le_bytes());
        self.scratch.extend_from_slice(&[0; 4]);
        entry::encode(&mut self.scratch, e, body_at);
        let len = (self.scratch.len() - 12) as u32;
        self.scratch[8..12].copy_from_slice(&len.to_le_bytes());
        let chunk = ((u128::from(h) * plan.chunks as u128) / plan.homes as u128) as usize;
        // The path is only formatted when the file is created or a write fails, not for
        // every entry.
        let path = || spill_path(&self.prefix, &format!("{}.{chunk}", e.alg));
        let w = match &mut plan.writers[chunk] {
            Some(w) => w,
            slot => slot.insert(BufWriter::with_capacity(WRITE_BUFFER, create(&path())?)),
        };
        w.write_all(&self.scratch).map_err(|source| BuildError::Io {
            path: path(),
            source,
        })
    }

    /// Lays the regions out into `out` (which must be empty), then the overflow area. Returns
    /// the regions by hash algorithm code and the overflow area's offset. Removes the spill
    /// files.
    pub fn finish(mut self, out: &Path) -> Result<(Vec<Option<Region>>, usize), BuildError> {
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| BuildError::Io { path, source }
        };
        let file = create(out)?;
        let mut w = BufWriter::with_capacity(1 << 20, file);
        let mut pos = 0usize;
        let mut regions = Vec::with_capacity(self.plans.len());
        for (code, plan) in self.plans.iter_mut().enumerate() {
            let Some(plan) = plan else {
                regions.push(None);
                continue;
            };
            let pad = pos.next_multiple_of(64) - pos;
            w.write_all(&[0; 64][..pad]).map_err(io(out))?;
            pos += pad;
            let mut region = Region {
                start: pos,
                slot_size: plan.slot_size,
                homes: plan.homes,
                slots: 0,
            };
            region.slots = lay_out(&self.prefix, code, plan, &mut w, out)?;
            pos += region.bytes();
            regions.push(Some(region));
        }
        let overflow_at = pos;
        let overflow = spill_path(&self.prefix, "overflow");
        self.overflow.flush().map_err(io(&overflow))?;
        let mut f = self
            .overflow
            .into_inner()
            .map_err(|e| io(&overflow)(e.into_error()))?;
        f.rewind().map_err(io(&overflow))?;
        std::io::copy(&mut f, &mut w).map_err(io(out))?;
        drop(f);
        let _ = std::fs::remove_file(&overflow);
        let file = w.into_inner().map_err(|e| io(out)(e.into_error()))?;
        // Not needed for durability (the index is rebuilt from the replica after a restart),
        // but it turns the dirty pages into clean page cache that the kernel can drop under
        // pressure, and lets the file be re-read in large folios.
        file.sync_data().map_err(io(out))?;
        Ok((regions, overflow_at))
    }
}

/// Writes one region's slots to `w`, chunk by chunk; returns its slot count.
fn lay_out(
    prefix: &Path,
    code: usize,
    plan: &mut Plan,
    w: &mut impl Write,
    out: &Path,
) -> Result<usize, BuildError> {
    let size = plan.slot_size;
    let start = |k: usize| (k * plan.homes).div_ceil(plan.chunks);
    // Slots from `base` on that are not written yet; `next` is the first free one.
    let mut pending: Vec<u8> = Vec::new();
    let (mut base, mut next) = (0usize, 0usize);
    let mut data = Vec::new();
    let mut records = Vec::new();
    for k in 0..plan.chunks {
        let path = spill_path(prefix, &format!("{code}.{k}"));
        data.clear();
        if let Some(mut writer) = plan.writers[k].take() {
            let io = |source| BuildError::Io {
                path: path.clone(),
                source,
            };
            writer.flush().map_err(io)?;
            let mut f = writer.into_inner().map_err(|e| io(e.into_error()))?;
            f.rewind().map_err(io)?;
            f.read_to_end(&mut data).map_err(io)?;
            drop(f);
            let _ = std::fs::remove_file(&path);
        }
        records.clear();
        let mut at = 0;
        while at < data.len() {
            let h = data.get(at..at + 12).ok_or(BuildError::Inconsistent)?;
            let home = u64::from_le_bytes(h[..8].try_into().unwrap_or_default()) as usize;
            let len = u32::from_le_bytes(h[8..12].try_into().unwrap_or_default()) as usize;
            if home < start(k) || len > size || at + 12 + len > data.len() {
                return Err(BuildError::Inconsistent);
            }
            records.push((home, at + 12, len));
            at += 12 + len;
        }
        records.sort_unstable_by_key(|r| r.0);
        for &(home, from, len) in &records {
            let slot = home.max(next);
            let end = (slot - base + 1) * size;
            if pending.len() < end {
                pending.resize(end, 0);
            }
            pending[end - size..end - size + len].copy_from_slice(&data[from..from + len]);
            next = slot + 1;
        }
        // No later entry has a home below the next chunk's first: the slots before it are
        // final. After the last chunk, so is everything placed.
        let done = if k + 1 < plan.chunks {
            start(k + 1)
        } else {
            next.max(plan.homes)
        };
        let bytes = (done - base) * size;
        if pending.len() < bytes {
            pending.resize(bytes, 0);
        }
        w.write_all(&pending[..bytes])
            .map_err(|source| BuildError::Io {
                path: out.to_path_buf(),
                source,
            })?;
        pending.drain(..bytes);
        base = done;
    }
    // The empty slot that ends every probe sequence at the region's end.
    w.write_all(&vec![0; size])
        .map_err(|source| BuildError::Io {
            path: out.to_path_buf(),
            source,
        })?;
    Ok(base + 1)
}

fn spill_path(prefix: &Path, suffix: &str) -> PathBuf {
    let mut p = prefix.as_os_str().to_owned();
    p.push(".");
    p.push(suffix);
    PathBuf::from(p)
}

fn create(path: &Path) -> Result<File, BuildError> {
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(|source| BuildError::Io {
            path: path.to_path_buf(),
            source,
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::entry;

    fn entry_for(serial: &[u8], body: &[u8]) -> Entry<'static> {
        Entry {
            alg: 1,
            issuer: 0,
            certs: entry::WHOLE,
            this_update: 1,
            next_update: 2,
            etag: [3; 16],
            serial: Vec::leak(serial.to_vec()),
            body: Vec::leak(body.to_vec()),
        }
    }

    /// Spills `n` entries with the given hashes and lays them out in chunks of
    /// `chunk_bytes`; checks that every entry is reached by probing from its home without
    /// passing an empty slot, and returns the region.
    fn lay_out_and_check(hashes: &[u64], chunk_bytes: usize) -> Region {
        let dir = tempfile::tempdir().unwrap();
        let prefix = dir.path().join("ocsp-index-test");
        let entries: Vec<_> = (0..hashes.len() as u32)
            .map(|i| entry_for(&i.to_be_bytes(), &vec![i as u8; 40 + (i % 3) as usize]))
            .collect();
        let mut sizes = vec![Sizes::default(); 2];
        for e in &entries {
            sizes[1].add(e.serial.len(), e.body.len());
        }
        let mut spill = Spill::with_chunk_bytes(&prefix, &sizes, chunk_bytes).unwrap();
        for (h, e) in hashes.iter().zip(&entries) {
            spill.add(*h, e).unwrap();
        }
        let (regions, overflow) = spill.finish(&prefix).unwrap();
        let file = std::fs::read(&prefix).unwrap();
        let region = regions[1].unwrap();
        assert_eq!(overflow, file.len());
        assert_eq!(region.start + region.bytes(), file.len());
        for (h, e) in hashes.iter().zip(&entries) {
            let found = (region.home(*h)..region.slots).find_map(|i| {
                let at = region.offset(i);
                entry::matches(&file[at..], 0, e.serial)
                    .expect("no empty slot before the entry")
                    .then_some(at)
            });
            assert_eq!(entry::decode(&file, found.unwrap(), overflow), Some(*e));
        }
        // Only the index file is left: the spill files are gone.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
        region
    }

    #[test]
    fn entries_are_found_across_chunk_boundaries() {
        let hashes: Vec<u64> = (0..5000u64)
            .map(|i| i.wrapping_mul(0x9e37_79b9_7f4a_7c15))
            .collect();
        for chunk_bytes in [usize::MAX, 1 << 16, 1000, 1] {
            let r = lay_out_and_check(&hashes, chunk_bytes);
            assert_eq!(r.homes, 6250);
        }
    }

    #[test]
    fn a_cluster_at_the_end_runs_into_slots_past_the_homes() {
        // Every key has the last home slot.
        let hashes = vec![u64::MAX; 300];
        for chunk_bytes in [usize::MAX, 500] {
            let r = lay_out_and_check(&hashes, chunk_bytes);
            assert_eq!((r.homes, r.slots), (375, 374 + 300 + 1));
        }
    }
}
