//! The last-good answers: one file per user and mode, the last KRL and the user CA's key, in a
//! directory only root may write (when running as root, a directory others can write is not
//! used). Every write is atomic: a temporary file in the same directory, fsync'd, renamed over
//! the old one, and the directory fsync'd, so a crash leaves the old answer or the new one. An
//! answer that is already the cached one is not written again ([`Cache::store`]): the usual
//! case (a user logging in again, sshd asking once per offered key) then costs no fsync.

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

    /// The contents of `name` and when it was written.
    pub fn read(&self, name: &str) -> Option<(Vec<u8>, SystemTime)> {
        if !self.usable {
            return None;
        }
        let path = self.dir.join(name);
        let modified = fs::metadata(&path).ok()?.modified().ok()?;
        Some((fs::read(&path).ok()?, modified))
    }

    /// When `name` was last written, without reading it.
    pub fn modified(&self, name: &str) -> Option<SystemTime> {
        if !self.usable {
            return None;
        }
        fs::metadata(self.dir.join(name)).ok()?.modified().ok()
    }

    /// Makes `data` the contents of `name`: nothing to do when it already is (only the
    /// contents are ever read back for an answer), else [`Cache::write`]. Returns whether it
    /// wrote.
    pub fn store(&self, name: &str, data: &[u8]) -> std::io::Result<bool> {
        if !self.usable {
            return Ok(false);
        }
        let path = self.dir.join(name);
        // Cheap before the read: only a file of the same length can hold the same answer.
        if fs::metadata(&path).is_ok_and(|m| m.len() == data.len() as u64)
            && fs::read(&path).is_ok_and(|old| old == data)
        {
            return Ok(false);
        }
        self.write(name, data).map(|()| true)
    }

    /// Replaces `name` with `data`, atomically.
    pub fn write(&self, name: &str, data: &[u8]) -> std::io::Result<()> {
        if !self.usable {
            return Ok(());
        }
        let tmp = self.dir.join(format!(".{name}.{}.tmp", std::process::id()));
        let result = (|| {
            let mut f = OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .open(&tmp)?;
            f.write_all(data)?;
            f.sync_all()?;
            fs::rename(&tmp, self.dir.join(name))?;
            File::open(&self.dir)?.sync_all()
        })();
        if result.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        result
    }
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
}
