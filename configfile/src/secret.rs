//! Secret files named by a configuration key (a key-encryption key, a token): refused unless
//! only their owner can read them, like OpenSSH refuses a private key others can read.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// Why a secret file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum SecretFileError {
    #[error("{key}: reading {path}: {source}")]
    Read {
        key: String,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "{key}: {path} is readable or writable by others (mode {mode:o}); run `chmod 600 {path}`"
    )]
    Permissions {
        key: String,
        path: PathBuf,
        mode: u32,
    },
}

/// The contents of the secret file at `path`, named by configuration key `key` in errors.
/// Refused when its mode grants anything to group or others (0600 or stricter is required).
pub fn secret_file(key: &str, path: &Path) -> Result<String, SecretFileError> {
    let read = |source| SecretFileError::Read {
        key: key.to_string(),
        path: path.to_path_buf(),
        source,
    };
    let meta = std::fs::metadata(path).map_err(read)?;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(SecretFileError::Permissions {
            key: key.to_string(),
            path: path.to_path_buf(),
            mode,
        });
    }
    std::fs::read_to_string(path).map_err(read)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_owner_readable_files_are_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kek");
        std::fs::write(&path, "secret\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let e = secret_file("kes.kek_file", &path).unwrap_err();
        assert!(e.to_string().contains("chmod 600"), "{e}");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(secret_file("kes.kek_file", &path).unwrap(), "secret\n");
        let e = secret_file("kes.kek_file", &dir.path().join("missing")).unwrap_err();
        assert!(e.to_string().starts_with("kes.kek_file: reading"), "{e}");
    }
}
