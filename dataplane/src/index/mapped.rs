//! A read-only memory map of a finished index file: with the prefetch hint beside it, the only
//! place in Sigil that needs `unsafe` (the workspace denies it everywhere else).
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
    /// Maps `path` (written completely, synced and closed by the caller) and removes its
    /// name: the mapping keeps the data alive, and nothing is left on disk if the process dies.
    ///
    /// The file is mapped with 2 MiB pages where the kernel can: its small pages, left in
    /// the page cache by the writes, are dropped, and the mapping, advised for huge pages, is
    /// then read back in (`MADV_POPULATE_READ`), which reads ahead in 2 MiB folios on file
    /// systems with large folios (ext4 on the Linux 6.18 benchmark machine) and maps them with one
    /// page-table entry each. A lookup is a random access into gigabytes: with 4 KiB pages
    /// nearly every one also missed the TLB and walked the page tables (in a VM, two sets of
    /// them). Measured at 10M certificates: the whole file (5.8 GiB in the format
    /// before slots) mapped with huge pages,
    /// uniform-random throughput 7–9 % higher (docs/PERFORMANCE.md). Where the kernel cannot, the
    /// same calls leave a normally mapped, pre-faulted file, as before. Either way lookups on
    /// the serving cores take no page faults for data in the page cache.
    pub fn open_and_unlink(path: &Path) -> std::io::Result<Self> {
        let file = File::open(path)?;
        drop_cached_pages(&file);
        // SAFETY: the file is private to this process (created in its data directory by the
        // index builder, written, closed and never opened for writing again) and is unlinked
        // right below, so nothing can modify or truncate it while it is mapped: the mapped
        // bytes are immutable for the mapping's lifetime, as `&[u8]` requires.
        #[allow(unsafe_code)]
        let map = unsafe { memmap2::MmapOptions::new().map(&file)? };
        // Advice only: without it the mapping works the same, slower.
        let _ = map.advise(memmap2::Advice::HugePage);
        if map.advise(memmap2::Advice::PopulateRead).is_err() {
            // Kernels before 5.14: fault every page in by reading one byte of it.
            let sum = map
                .iter()
                .step_by(4096)
                .fold(0u8, |a, b| a.wrapping_add(*b));
            std::hint::black_box(sum);
        }
        // Populated: from now on, no read-ahead around a lookup.
        let _ = map.advise(memmap2::Advice::Random);
        std::fs::remove_file(path)?;
        Ok(Self { map })
    }

    pub fn bytes(&self) -> &[u8] {
        &self.map
    }
}

/// Evicts the file's (clean) pages from the page cache, so that mapping it reads it back in
/// large folios. Failure only costs the huge pages.
fn drop_cached_pages(file: &File) {
    use std::os::fd::AsRawFd;
    // SAFETY: plain system call on a descriptor this function borrows; no memory is passed.
    #[allow(unsafe_code)]
    let rc = unsafe { libc::posix_fadvise(file.as_raw_fd(), 0, 0, libc::POSIX_FADV_DONTNEED) };
    if rc != 0 {
        tracing::debug!(rc, "posix_fadvise(DONTNEED) on the index file failed");
    }
}
