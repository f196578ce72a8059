//! A read-only memory map of a finished index file: the one place in Sigil that needs
//! `unsafe` (the workspace denies it everywhere else).
//!
//! Mapping instead of reading keeps the response bodies in the kernel's page cache, which is
//! shared by all cores, evictable under memory pressure and not counted against the data
//! plane's own memory limits; a lookup is a memory read, not a system call.

use std::fs::File;
use std::path::Path;

#[derive(Debug)]
pub struct Mapped {
    map: memmap2::Mmap,
}

impl Mapped {
    /// Maps `path` (written completely and closed by the caller) and removes its name: the
    /// mapping keeps the data alive, and nothing is left on disk if the process dies.
    ///
    /// The pages are pre-faulted (`MAP_POPULATE`) so that lookups on the serving cores do not
    /// take page faults for data already in the page cache.
    pub fn open_and_unlink(path: &Path) -> std::io::Result<Self> {
        let file = File::open(path)?;
        // SAFETY: the file is private to this process (created in its data directory by the
        // index builder, written, closed and never opened for writing again) and is unlinked
        // right below, so nothing can modify or truncate it while it is mapped: the mapped
        // bytes are immutable for the mapping's lifetime, as `&[u8]` requires.
        #[allow(unsafe_code)]
        let map = unsafe { memmap2::MmapOptions::new().populate().map(&file)? };
        // Random access: no read-ahead around a lookup; huge pages where the kernel can map
        // this file with them (fewer TLB misses). Advice only: on the benchmark machine
        // (ext4, Linux 6.18) file pages stay 4 KiB, and MADV_COLLAPSE is refused.
        let _ = map.advise(memmap2::Advice::Random);
        let _ = map.advise(memmap2::Advice::HugePage);
        std::fs::remove_file(path)?;
        Ok(Self { map })
    }

    pub fn bytes(&self) -> &[u8] {
        &self.map
    }
}
