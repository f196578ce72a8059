//! The last-good answers: one file per user and mode, the last KRL and the user CA's key, in a
//! directory only root may write (when running as root, a directory others can write is not
//! used).
//!
//! Every file ends in a trailer line holding the SHA-256 of what precedes it
//! ([`seal`]/[`unseal`]): a file that was torn by a crash (empty, cut short, a block of zeros)
//! is never read back as an answer, so it can never name fewer lines *and* a different,
//! shortened principal.
//!
//! Writes are atomic: a temporary file in the same directory, renamed over the old one. Whether
//! they are made durable first (file fsync'd before the rename, directory after) depends on what
//! losing them would mean ([`Cache::store`]):
//! - **replacing** an answer (the user was locked, a key left a host group, the KRL grew): the
//!   new answer is durable before it is printed, so a power cut can never bring back the old,
//!   more permissive one;
//! - **a user's first answer**: nothing was cached, so losing it in a power cut leaves nothing
//!   cached, which fails closed (no keys while no data plane answers). It is written without
//!   fsync: the kernel writes it back within seconds, and the login that caused it does not
//!   wait for the disk;
//! - **an unchanged answer** is not written at all: the usual case (a user logging in again,
//!   sshd asking once per offered key).

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use crate::log::Logger;

#[derive(Debug)]
pub struct Cache {
    dir: PathBuf,
    usable: bool,
}

fn running_as_root() -> bool {
    fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

impl Cache {
    /// The cache in `dir`, created (mode 0700) if missing.
    pub fn open(dir: &Path, log: &Logger) -> Self {
        if let Err(e) = fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
        {
            log.warn(&format!(
                "cache {}: {e}; answering without a cache",
                dir.display()
            ));
            return Self {
                dir: dir.to_path_buf(),
                usable: false,
            };
        }
        let usable = match fs::metadata(dir) {
            Ok(m) if running_as_root() && (m.uid() != 0 || m.mode() & 0o022 != 0) => {
                log.error(&format!(
                    "cache {} is not owned by root or is writable by others; not used",
                    dir.display()
                ));
                false
            }
            Ok(_) => true,
            Err(e) => {
                log.warn(&format!("cache {}: {e}", dir.display()));
                false
            }
        };
        Self {
            dir: dir.to_path_buf(),
            usable,
        }
    }

    /// The contents of `name` and when it was written; `None` when missing or torn.
    pub fn read(&self, name: &str) -> Option<(Vec<u8>, SystemTime)> {
        if !self.usable {
            return None;
        }
        let path = self.dir.join(name);
        let modified = fs::metadata(&path).ok()?.modified().ok()?;
        let sealed = fs::read(&path).ok()?;
        Some((unseal(&sealed)?.to_vec(), modified))
    }

    /// When `name` was last written, without reading it.
    pub fn modified(&self, name: &str) -> Option<SystemTime> {
        if !self.usable {
            return None;
        }
        fs::metadata(self.dir.join(name)).ok()?.modified().ok()
    }

    /// Makes `data` the contents of `name`: nothing to do when it already is (only the
    /// contents are ever read back for an answer); a first answer (no intact file yet) is
    /// written without waiting for the disk, a changed one durably (see the module's text).
    /// Returns whether it wrote.
    pub fn store(&self, name: &str, data: &[u8]) -> std::io::Result<bool> {
        if !self.usable {
            return Ok(false);
        }
        let sealed = seal(data);
        let path = self.dir.join(name);
        let durable = match fs::metadata(&path) {
            // Cheap before the read: only a file of the same length can hold the same answer.
            Ok(m) if m.len() == sealed.len() as u64 => match fs::read(&path) {
                Ok(old) if old == sealed => return Ok(false),
                Ok(old) => unseal(&old).is_some(),
                Err(_) => true,
            },
            // A torn file holds no answer: replacing it is like a first answer.
            Ok(m) if m.len() <= 64 * 1024 * 1024 => {
                fs::read(&path).map_or(true, |old| unseal(&old).is_some())
            }
            Ok(_) => true,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => false,
            Err(_) => true,
        };
        self.put(name, &sealed, durable).map(|()| true)
    }

    /// Replaces `name` with `data`, atomically and durably.
    pub fn write(&self, name: &str, data: &[u8]) -> std::io::Result<()> {
        if !self.usable {
            return Ok(());
        }
        self.put(name, &seal(data), true)
    }

    fn put(&self, name: &str, sealed: &[u8], durable: bool) -> std::io::Result<()> {
        let tmp = self.dir.join(format!(".{name}.{}.tmp", std::process::id()));
        let result = (|| {
            let mut f = OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .open(&tmp)?;
            f.write_all(sealed)?;
            if durable {
                f.sync_all()?;
            }
            fs::rename(&tmp, self.dir.join(name))?;
            if durable {
                File::open(&self.dir)?.sync_all()?;
            }
            Ok(())
        })();
        if result.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        result
    }
}

/// The trailer's first bytes; the hex SHA-256 of the data and a newline follow.
const TRAILER: &[u8] = b"#sigil-authkeys sha256=";
const TRAILER_LEN: usize = TRAILER.len() + 64 + 1;

/// `data` followed by its trailer line.
pub fn seal(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + TRAILER_LEN);
    out.extend_from_slice(data);
    out.extend_from_slice(TRAILER);
    for b in sigil_ssh::key::sha256(data) {
        out.extend_from_slice(format!("{b:02x}").as_bytes());
    }
    out.push(b'\n');
    out
}

/// The data of a sealed file whose trailer matches it; `None` for anything else (a torn or
/// foreign file).
pub fn unseal(sealed: &[u8]) -> Option<&[u8]> {
    let split = sealed.len().checked_sub(TRAILER_LEN)?;
    let (data, trailer) = sealed.split_at(split);
    (seal(data)[split..] == *trailer).then_some(data)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_replace_atomically() {
        let dir = tempfile::tempdir().unwrap();
        let log = Logger::stderr();
        let cache = Cache::open(&dir.path().join("c"), &log);
        assert!(cache.read("keys-alice").is_none());
        cache.write("keys-alice", b"one").unwrap();
        cache.write("keys-alice", b"two").unwrap();
        assert_eq!(cache.read("keys-alice").unwrap().0, b"two");
        let leftovers: Vec<_> = fs::read_dir(dir.path().join("c"))
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
            .collect();
        assert!(leftovers.is_empty());
        let mode = fs::metadata(dir.path().join("c")).unwrap().mode() & 0o777;
        assert_eq!(mode, 0o700);
    }

    #[test]
    fn an_unchanged_answer_is_not_rewritten() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::open(&dir.path().join("c"), &Logger::stderr());
        assert!(cache.modified("keys-bob").is_none());
        assert!(cache.store("keys-bob", b"one\n").unwrap());
        let path = dir.path().join("c/keys-bob");
        let inode = fs::metadata(&path).unwrap().ino();
        assert!(!cache.store("keys-bob", b"one\n").unwrap());
        assert_eq!(fs::metadata(&path).unwrap().ino(), inode, "not replaced");
        // Another answer of the same length, a longer one, an empty one: written.
        assert!(cache.store("keys-bob", b"two\n").unwrap());
        assert_eq!(cache.read("keys-bob").unwrap().0, b"two\n");
        assert!(cache.store("keys-bob", b"three\n").unwrap());
        assert!(cache.store("keys-bob", b"").unwrap());
        assert_eq!(cache.read("keys-bob").unwrap().0, b"");
        assert!(!cache.store("keys-bob", b"").unwrap());
        assert!(cache.modified("keys-bob").is_some());
    }

    #[test]
    fn a_torn_file_is_never_an_answer() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::open(&dir.path().join("c"), &Logger::stderr());
        cache.store("princ-carol", b"carol-admin\ncarol\n").unwrap();
        let path = dir.path().join("c/princ-carol");
        let whole = fs::read(&path).unwrap();
        // Every prefix (a principal cut short would name another one), a zeroed block, a
        // file without a trailer, a flipped byte: none is read back.
        for cut in 0..whole.len() {
            fs::write(&path, &whole[..cut]).unwrap();
            assert!(cache.read("princ-carol").is_none(), "prefix of {cut} bytes");
        }
        let mut zeroed = whole.clone();
        zeroed[2..6].fill(0);
        fs::write(&path, &zeroed).unwrap();
        assert!(cache.read("princ-carol").is_none());
        fs::write(&path, b"carol\n").unwrap();
        assert!(cache.read("princ-carol").is_none());
        let mut flipped = whole.clone();
        flipped[0] ^= 1;
        fs::write(&path, &flipped).unwrap();
        assert!(cache.read("princ-carol").is_none());
        fs::write(&path, &whole).unwrap();
        assert_eq!(
            cache.read("princ-carol").unwrap().0,
            b"carol-admin\ncarol\n"
        );
        // A torn file is replaced by the next answer.
        fs::write(&path, &whole[..5]).unwrap();
        assert!(cache.store("princ-carol", b"carol\n").unwrap());
        assert_eq!(cache.read("princ-carol").unwrap().0, b"carol\n");
    }

    #[test]
    fn seal_round_trips() {
        for data in [&b""[..], b"x", b"ssh-ed25519 AAAA\n", &[0u8; 300]] {
            assert_eq!(unseal(&seal(data)), Some(data));
        }
    }
}
