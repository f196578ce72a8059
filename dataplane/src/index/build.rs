//! Building an [`Index`] from a replica snapshot: two sequential scans of the `ocsp` column
//! family in one snapshot (the first counts and sizes the entries, the second spills them
//! towards their slots, [`place`]), written to a file in the data directory, then mapped.

mod place;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use sigil_shared::ocsp::{splice, HashAlg};
use sigil_shared::replication::OcspEntry;
use sigil_storage::{ReadView, Store, StoreError};

use super::entry::{Entry, NO_CERTS, WHOLE};
use super::mapped::Mapped;
use super::slots::{key_hash, Sizes};
use super::Index;
use crate::render::etag_digest;
use crate::schema::{applied_seq, cf};

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
    #[error("more than 32 GiB of responses too large for a slot")]
    OverflowTooLarge,
    #[error("the snapshot gave different entries on its second scan")]
    Inconsistent,
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
        // The index file and any spill files beside it.
        let name = path
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        let spill = format!("{name}.");
        for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let file = e.file_name().to_string_lossy().into_owned();
            // Exactly this build's: `…-1` must not take `…-10`'s files.
            if file == name || file.starts_with(&spill) {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }
    result
}

fn build_at(store: &dyn Store, path: &Path, epoch: u64) -> Result<(Index, Skipped), BuildError> {
    let mut records = Records::default();
    let mut sizes = vec![
        Sizes::default();
        1 + HashAlg::ALL
            .iter()
            .map(|a| a.code() as usize)
            .max()
            .unwrap_or(0)
    ];
    let mut outcome = Ok(());
    let mut seq = 0;
    let mut placed = None;
    store.with_snapshot(&mut |view: &dyn ReadView| {
        seq = applied_seq(view);
        view.scan(cf::OCSP, &[], None, &mut |k, v| {
            outcome = records.read(k, v, false, &mut |_, e| {
                sizes[e.alg as usize].add(e.serial.len(), e.body.len());
                Ok(())
            });
            outcome.is_ok()
        })?;
        if outcome.is_err() {
            return Ok(());
        }
        let mut spill = match place::Spill::new(path, &sizes) {
            Ok(s) => s,
            Err(e) => {
                outcome = Err(e);
                return Ok(());
            }
        };
        view.scan(cf::OCSP, &[], None, &mut |k, v| {
            outcome = records.read(k, v, true, &mut |hash, e| spill.add(hash, e));
            outcome.is_ok()
        })?;
        if outcome.is_ok() {
            match spill.finish(path) {
                Ok(p) => placed = Some(p),
                Err(e) => outcome = Err(e),
            }
        }
        Ok(())
    })?;
    outcome?;
    let (regions, overflow) = placed.ok_or(BuildError::Inconsistent)?;
    let file = Mapped::open_and_unlink(path).map_err(|source| BuildError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let Records {
        issuers,
        certs,
        skipped,
        ..
    } = records;
    let mut certs_by_id: Vec<(u16, Vec<u8>)> = certs.into_iter().map(|(c, id)| (id, c)).collect();
    certs_by_id.sort_unstable_by_key(|(id, _)| *id);
    let mut issuers_by_slot: Vec<(u16, Vec<u8>)> =
        issuers.into_iter().map(|(p, s)| (s, p)).collect();
    issuers_by_slot.sort_unstable_by_key(|(s, _)| *s);
    let entries = sizes.iter().map(Sizes::entries).sum::<u64>();
    Ok((
        Index {
            epoch,
            seq,
            issuers: issuers_by_slot.into_iter().map(|(_, p)| p.into()).collect(),
            certs: certs_by_id.into_iter().map(|(_, c)| c.into()).collect(),
            regions,
            overflow,
            file,
            entries: usize::try_from(entries).unwrap_or(usize::MAX),
        },
        skipped,
    ))
}

/// Turns replica records into entries. Issuer slots and certificate list ids are given in
/// the order first seen, so both scans of one snapshot give every record the same ones.
#[derive(Default)]
struct Records {
    issuers: HashMap<Vec<u8>, u16>,
    certs: HashMap<Vec<u8>, u16>,
    skipped: Skipped,
    scratch: Vec<u8>,
}

type Visit<'v> = dyn FnMut(u64, &Entry<'_>) -> Result<(), BuildError> + 'v;

impl Records {
    /// Calls `visit` with the key hash and entry of one record, if the index can use it.
    /// The entity tag is only computed when `final_pass` (it is not needed for sizing), and
    /// skipped records are only counted on the first pass.
    fn read(
        &mut self,
        key: &[u8],
        value: &[u8],
        final_pass: bool,
        visit: &mut Visit<'_>,
    ) -> Result<(), BuildError> {
        let Some(alg) = key.first().and_then(|c| HashAlg::from_code(*c)) else {
            self.skipped.bad_keys += u64::from(!final_pass);
            return Ok(());
        };
        let prefix_len = 1 + 2 * alg.digest_len();
        if key.len() <= prefix_len || key.len() - prefix_len > u8::MAX as usize {
            self.skipped.bad_keys += u64::from(!final_pass);
            return Ok(());
        }
        let Ok(e) = postcard::from_bytes::<OcspEntry>(value) else {
            self.skipped.bad_values += u64::from(!final_pass);
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
            etag: if final_pass {
                etag_digest(&e.der)
            } else {
                [0; 16]
            },
            serial,
            body,
        };
        visit(key_hash(issuer, serial), &entry)
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
}
