//! Reading a configuration file: TOML into the binary's configuration type (which rejects
//! unknown keys), with the path in every error.

use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;

/// Why a configuration file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum TomlFileError {
    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: {source}", path.display())]
    Parse {
        path: PathBuf,
        source: toml::de::Error,
    },
}

/// Reads and parses the TOML file at `path`.
pub fn read_toml<T: DeserializeOwned>(path: &Path) -> Result<T, TomlFileError> {
    let text = std::fs::read_to_string(path).map_err(|source| TomlFileError::Read {
        path: path.to_owned(),
        source,
    })?;
    toml::from_str(&text).map_err(|source| TomlFileError::Parse {
        path: path.to_owned(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Cfg {
        #[allow(dead_code)]
        a: u32,
    }

    #[test]
    fn errors_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing.toml");
        let e = read_toml::<Cfg>(&missing).unwrap_err();
        assert!(e
            .to_string()
            .starts_with(&format!("cannot read {}: ", missing.display())));
        let bad = dir.path().join("bad.toml");
        std::fs::write(&bad, "b = 1\n").unwrap();
        let e = read_toml::<Cfg>(&bad).unwrap_err();
        assert!(
            e.to_string().starts_with(&format!("{}: ", bad.display())),
            "{e}"
        );
        std::fs::write(&bad, "a = 1\n").unwrap();
        assert!(read_toml::<Cfg>(&bad).is_ok());
    }
}
