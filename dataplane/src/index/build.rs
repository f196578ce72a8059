//! Building an [`Index`] from a replica snapshot: one sequential scan of the `ocsp` column
//! family, written to a file in the data directory, then mapped.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use sigil_shared::ocsp::{splice, HashAlg};
use sigil_shared::replication::OcspEntry;
use sigil_storage::{ReadView, Store, StoreError};

use super::entry::{self, Entry, NO_CERTS, WHOLE};
use super::mapped::Mapped;
use super::table::{key_hash, Table};
use super::Index;
use crate::render::etag_digest;
use crate::replica::cf;

#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("reading the replica: {0}")]
    Store(#[from] StoreError),
    #[error("index file {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("more than 65,534 issuers in one replica")]
    TooManyIssuers,
}

/// What a build skipped (records it could not use; they stay served from the replica's
/// absence: an unusable record answers `unauthorized` either way).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Skipped {
    pub bad_keys: u64,
    pub bad_values: u64,
}

const FILE_PREFIX: &str = "ocsp-index-";

/// Removes index files left by a build that did not finish (a finished one is unlinked as
/// soon as it is mapped).
pub fn remove_leftovers(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        if e.file_name().to_string_lossy().starts_with(FILE_PREFIX) {
            let _ = std::fs::remove_file(e.path());
        }
    }
}

/// Builds an index of `store`'s `ocsp` column family as of one snapshot; the file is written
/// in `dir`.
pub fn build(store: &dyn Store, dir: &Path, epoch: u64) -> Result<(Index, Skipped), BuildError> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let path = dir.join(format!("{FILE_PREFIX}{}-{n}", std::process::id()));
    let result = build_at(store, &path, epoch);
    if result.is_err() {
        let _ = std::fs::remove_file(&path);
    }
    result
}

fn build_at(store: &dyn Store, path: &Path, epoch: u64) -> Result<(Index, Skipped), BuildError> {
    let io = |source| BuildError::Io {
        path: path.to_path_buf(),
        source,
    };
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(io)?;
    let mut w = Writer::new(file, path);
    let mut outcome = Ok(());
    let mut seq = 0;
    store.with_snapshot(&mut |view: &dyn ReadView| {
        seq = crate::replica::applied_seq(view);
        view.scan(cf::OCSP, &[], None, &mut |k, v| {
            outcome = w.add(k, v);
            outcome.is_ok()
        })
    })?;
    outcome?;
    w.flush_buf()?;
    let Writer {
        file,
        issuers,
        certs,
        hashes,
        skipped,
        ..
    } = w;
    // Not needed for durability (the index is rebuilt from the replica after a restart), but
    // it turns the dirty pages into clean page cache that the kernel can drop under pressure.
    file.sync_data().map_err(io)?;
    drop(file);
    let mut table = Table::with_entries(hashes.len()).map_err(io)?;
    for (h, offset) in &hashes {
        table.insert(*h, *offset);
    }
    let file = Mapped::open_and_unlink(path).map_err(io)?;
    let mut certs_by_id: Vec<(u16, Vec<u8>)> = certs.into_iter().map(|(c, id)| (id, c)).collect();
    certs_by_id.sort_unstable_by_key(|(id, _)| *id);
    let mut issuers_by_slot: Vec<(u16, Vec<u8>)> =
        issuers.into_iter().map(|(p, s)| (s, p)).collect();
    issuers_by_slot.sort_unstable_by_key(|(s, _)| *s);
    Ok((
        Index {
            epoch,
            seq,
            issuers: issuers_by_slot.into_iter().map(|(_, p)| p.into()).collect(),
            certs: certs_by_id.into_iter().map(|(_, c)| c.into()).collect(),
            table,
            file,
            entries: hashes.len(),
        },
        skipped,
    ))
}

/// Appends entries to the file through a buffer and remembers where each one went.
struct Writer {
    file: std::fs::File,
    path: PathBuf,
    buf: Vec<u8>,
    /// Bytes written or buffered so far (the next entry's offset).
    len: u64,
    issuers: HashMap<Vec<u8>, u16>,
    certs: HashMap<Vec<u8>, u16>,
    hashes: Vec<(u64, u64)>,
    skipped: Skipped,
    scratch: Vec<u8>,
}

const BUFFER: usize = 1 << 20;
/// The file starts with a header so that no entry sits at offset 0 (an empty table slot).
const MAGIC: &[u8; 8] = b"SIGILIX1";

impl Writer {
    fn new(file: std::fs::File, path: &Path) -> Self {
        let mut buf = Vec::with_capacity(BUFFER + 4096);
        buf.extend_from_slice(MAGIC);
        Self {
            file,
            path: path.to_path_buf(),
            len: MAGIC.len() as u64,
            buf,
            issuers: HashMap::new(),
            certs: HashMap::new(),
            hashes: Vec::new(),
            skipped: Skipped::default(),
            scratch: Vec::new(),
        }
    }

    fn add(&mut self, key: &[u8], value: &[u8]) -> Result<(), BuildError> {
        let Some(alg) = key.first().and_then(|c| HashAlg::from_code(*c)) else {
            self.skipped.bad_keys += 1;
            return Ok(());
        };
        let prefix_len = 1 + 2 * alg.digest_len();
        if key.len() <= prefix_len || key.len() - prefix_len > u8::MAX as usize {
            self.skipped.bad_keys += 1;
            return Ok(());
        }
        let Ok(e) = postcard::from_bytes::<OcspEntry>(value) else {
            self.skipped.bad_values += 1;
            return Ok(());
        };
        let (prefix, serial) = key.split_at(prefix_len);
        let next_slot = self.issuers.len();
        let issuer = match self.issuers.get(prefix) {
            Some(s) => *s,
            None if next_slot < u16::MAX as usize => {
                self.issuers.insert(prefix.to_vec(), next_slot as u16);
                next_slot as u16
            }
            None => return Err(BuildError::TooManyIssuers),
        };
        let (certs, body) = self.split(&e.der);
        let entry = Entry {
            alg: alg.code(),
            issuer,
            certs,
            this_update: e.this_update,
            next_update: e.next_update,
            etag: etag_digest(&e.der),
            serial,
            body,
        };
        self.hashes.push((key_hash(issuer, serial), self.len));
        let before = self.buf.len();
        entry::encode(&mut self.buf, &entry);
        self.len += (self.buf.len() - before) as u64;
        if self.buf.len() >= BUFFER {
            self.flush_buf()?;
        }
        Ok(())
    }

    /// The certificate list id and body for a response: split when it reassembles to the
    /// same bytes, whole otherwise (or when the list table is full).
    fn split<'a>(&mut self, der: &'a [u8]) -> (u16, &'a [u8]) {
        let Some(s) = splice::split(der) else {
            return (WHOLE, der);
        };
        self.scratch.clear();
        splice::assemble(&mut self.scratch, s.signed, s.certs);
        if self.scratch != der {
            return (WHOLE, der);
        }
        if s.certs.is_empty() {
            return (NO_CERTS, s.signed);
        }
        let next = self.certs.len();
        match self.certs.get(s.certs) {
            Some(id) => (*id, s.signed),
            None if next < NO_CERTS as usize => {
                self.certs.insert(s.certs.to_vec(), next as u16);
                (next as u16, s.signed)
            }
            None => (WHOLE, der),
        }
    }

    fn flush_buf(&mut self) -> Result<(), BuildError> {
        self.file
            .write_all(&self.buf)
            .map_err(|source| BuildError::Io {
                path: self.path.clone(),
                source,
            })?;
        self.buf.clear();
        Ok(())
    }
}
