//! The OCSP index: every pre-signed response of the replica, reachable without RocksDB.
//!
//! A RocksDB point read costs a serving core ~10 µs (index search, block read and
//! decompression, allocation), so with 10M certificates and uniform-random serials — where no
//! per-core cache of bounded size hits — the replica read would be most of the work. An
//! [`Index`] is built from a consistent snapshot of the replica by a background thread
//! ([`builder`]): the responses, each stored without the responder certificate list that the
//! responses of one responder share (`sigil_shared::ocsp::splice`), go into one file that is
//! memory-mapped read-only and is itself a hash table: each entry sits in a slot the hash of
//! its key points to ([`slots`]), so a lookup goes straight to it. The index is immutable and shared by every core through an `Arc`; each core
//! clones that `Arc` once, into an `Rc`, so a lookup touches no shared counter.
//!
//! Changes applied after the snapshot the index was built from are *not* in it. Each core
//! keeps the hashes of the keys changed since then (from its update channel) and answers
//! those from its cache and the replica as before; when enough changes accumulate, the
//! builder makes a new index and the cores swap it in and forget the changes it covers.

pub mod build;
pub mod builder;
mod entry;
mod mapped;
mod prefetch;
mod slots;
#[cfg(test)]
pub(crate) mod tests;

pub use builder::{IndexStatus, IndexTrigger};
pub use entry::{Entry, Located};

use entry::{NO_CERTS, WHOLE};
use sigil_shared::ocsp::{splice, HashAlg};

/// A core's handle on an index. The shared `Arc` is cloned once per core, into an `Rc`, so
/// serving a response clones a core-local count and never touches the shared atomic one
/// (which would move a cache line between cores on every request).
#[allow(clippy::redundant_allocation)]
pub type CoreIndex = std::rc::Rc<std::sync::Arc<Index>>;

/// A built index. See the module documentation.
#[derive(Debug)]
pub struct Index {
    /// Number of replica resets (snapshots) before the replica this index was built from:
    /// a core ignores an index built from a replica it no longer serves.
    pub epoch: u64,
    /// Applied sequence number of the snapshot it was built from.
    pub seq: u64,
    /// `alg || issuerNameHash || issuerKeyHash` per issuer slot.
    issuers: Vec<Box<[u8]>>,
    /// Distinct encoded `certs [0]` lists, by id.
    certs: Vec<Box<[u8]>>,
    /// Slot regions by hash algorithm code.
    regions: Vec<Option<slots::Region>>,
    /// Offset of the overflow area in the file.
    overflow: usize,
    file: mapped::Mapped,
    entries: usize,
}

impl Index {
    /// The entry for a CertID key (`sigil_shared::ocsp::CertIdKey` bytes), if the index has
    /// it: decoded once, here, into what serving it needs ([`entry`](Self::entry) gives its
    /// slices back).
    pub fn lookup(&self, key: &[u8]) -> Option<Located> {
        let alg = HashAlg::from_code(*key.first()?)?;
        let prefix_len = 1 + 2 * alg.digest_len();
        let (prefix, serial) = (key.get(..prefix_len)?, &key[prefix_len..]);
        let issuer = self.issuers.iter().position(|p| **p == *prefix)? as u16;
        let r = self.regions.get(alg.code() as usize)?.as_ref()?;
        let file = self.file.bytes();
        let home = r.home(slots::key_hash(issuer, serial));
        // The slot's address depends on the key alone: ask for all of it, and for the start
        // of the next two slots (where most displaced entries are), before reading any of
        // it, so that the lines arrive together.
        prefetch::range(file, r.offset(home), r.slot_size);
        prefetch::range(file, r.offset(home + 1), 64);
        prefetch::range(file, r.offset(home + 2), 64);
        for i in home..r.slots {
            let offset = r.offset(i);
            if entry::matches(file.get(offset..)?, issuer, serial)? {
                let l = entry::locate(file, offset, self.overflow)?;
                if i != home || !r.fits(l.serial_len(), l.body_len()) {
                    // A displaced or out-of-line entry: its body's lines were not asked for.
                    if let Some(e) = l.entry(file) {
                        prefetch::slice(e.body);
                    }
                }
                return Some(l);
            }
        }
        None
    }

    /// [`lookup`](Self::lookup) with the entry's slices: its slot's offset and the entry.
    pub fn find(&self, key: &[u8]) -> Option<(usize, Entry<'_>)> {
        let l = self.lookup(key)?;
        Some((l.offset, self.entry(&l)?))
    }

    /// The entry [`lookup`](Self::lookup) located, without decoding it again.
    pub fn entry(&self, located: &Located) -> Option<Entry<'_>> {
        located.entry(self.file.bytes())
    }

    /// The entry at a byte offset returned by [`find`](Self::find).
    #[cfg(test)]
    pub fn entry_at(&self, offset: usize) -> Option<Entry<'_>> {
        entry::decode(self.file.bytes(), offset, self.overflow)
    }

    /// Appends the complete DER `OCSPResponse` of `e` to `out`
    /// ([`response_len`](Self::response_len) bytes).
    pub fn write_response(&self, e: &Entry<'_>, out: &mut Vec<u8>) {
        match e.certs {
            WHOLE => out.extend_from_slice(e.body),
            id => splice::assemble(out, e.body, self.certs_of(id)),
        }
    }

    /// Length of what [`write_response`](Self::write_response) appends.
    pub fn response_len(&self, e: &Entry<'_>) -> usize {
        match e.certs {
            WHOLE => e.body.len(),
            id => splice::assembled_len(e.body.len(), self.certs_of(id).len()),
        }
    }

    /// The shared certificate list an entry refers to (none for [`NO_CERTS`]).
    fn certs_of(&self, id: u16) -> &[u8] {
        match id {
            NO_CERTS => &[],
            id => self.certs.get(id as usize).map_or(&[][..], |c| &c[..]),
        }
    }

    pub fn entries(&self) -> usize {
        self.entries
    }

    /// Bytes of process memory (issuer and certificate lists).
    pub fn memory_bytes(&self) -> usize {
        self.regions.len() * std::mem::size_of::<Option<slots::Region>>()
            + self.issuers.iter().map(|i| i.len() + 16).sum::<usize>()
            + self.certs.iter().map(|c| c.len() + 16).sum::<usize>()
    }

    /// Bytes of the mapped file (page cache, not process heap).
    pub fn file_bytes(&self) -> usize {
        self.file.bytes().len()
    }
}

/// Hash of a whole CertID key, for the cores' sets of changed keys. A collision only sends a
/// lookup to the replica, which is always correct, so 64 bits are plenty.
pub fn changed_key_hash(key: &[u8]) -> u64 {
    slots::key_hash(u16::MAX, key)
}
