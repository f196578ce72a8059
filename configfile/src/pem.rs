//! PEM files named by configuration keys (`tls.cert`, `admin.tls.client_ca`,
//! `control_plane.ca_file`, …): certificates (RFC 7468 §5 `CERTIFICATE`) and private keys
//! (PKCS#8 RFC 7468 §10/§11, SEC1 RFC 5915, PKCS#1 RFC 8017). Both binaries read them while
//! checking their configuration, before binding a port, so every error message starts with the
//! configuration key and the file.

use std::path::{Path, PathBuf};

use rustls_pki_types::pem::{self, PemObject};
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

/// Why a configured PEM file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum PemFileError {
    #[error("{key} {}: cannot read: {source}", path.display())]
    Read {
        key: String,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{key} {}: {detail}", path.display())]
    Invalid {
        key: String,
        path: PathBuf,
        detail: String,
    },
}

impl PemFileError {
    /// A file that was read but cannot be used, with why.
    pub fn invalid(key: &str, path: &Path, detail: impl Into<String>) -> Self {
        Self::Invalid {
            key: key.to_string(),
            path: path.to_owned(),
            detail: detail.into(),
        }
    }
}

fn read(key: &str, path: &Path) -> Result<Vec<u8>, PemFileError> {
    std::fs::read(path).map_err(|source| PemFileError::Read {
        key: key.to_string(),
        path: path.to_owned(),
        source,
    })
}

fn detail(e: pem::Error, none_found: &str) -> String {
    match e {
        pem::Error::NoItemsFound => none_found.into(),
        other => format!("bad PEM: {other}"),
    }
}

/// Every `CERTIFICATE` block of the file; at least one.
pub fn certs(key: &str, path: &Path) -> Result<Vec<CertificateDer<'static>>, PemFileError> {
    let text = read(key, path)?;
    let list: Vec<_> = CertificateDer::pem_slice_iter(&text)
        .collect::<Result<_, _>>()
        .map_err(|e| PemFileError::invalid(key, path, detail(e, "no PEM certificate")))?;
    if list.is_empty() {
        return Err(PemFileError::invalid(key, path, "no PEM certificate"));
    }
    // A block with nothing between its lines parses as an empty certificate.
    if list.iter().any(|c| c.is_empty()) {
        return Err(PemFileError::invalid(key, path, "empty PEM certificate"));
    }
    Ok(list)
}

/// The first private key of the file (PKCS#8, SEC1 or PKCS#1).
pub fn private_key(key: &str, path: &Path) -> Result<PrivateKeyDer<'static>, PemFileError> {
    let text = read(key, path)?;
    let found = PrivateKeyDer::from_pem_slice(&text).map_err(|e| {
        let none = "no PKCS#8, SEC1 or PKCS#1 private key";
        PemFileError::invalid(key, path, detail(e, none))
    })?;
    if found.secret_der().is_empty() {
        return Err(PemFileError::invalid(key, path, "empty PEM private key"));
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_name_the_key_and_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing.pem");
        let e = certs("tls.cert", &missing).unwrap_err();
        assert!(matches!(e, PemFileError::Read { .. }));
        assert!(e
            .to_string()
            .starts_with(&format!("tls.cert {}: cannot read", missing.display())));
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "not pem\n").unwrap();
        let e = certs("a.ca_file", &empty).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!("a.ca_file {}: no PEM certificate", empty.display())
        );
        let e = private_key("a.key", &empty).unwrap_err();
        assert!(
            e.to_string()
                .ends_with("no PKCS#8, SEC1 or PKCS#1 private key"),
            "{e}"
        );
        let bad = dir.path().join("bad.pem");
        std::fs::write(
            &bad,
            "-----BEGIN CERTIFICATE-----\n!!!\n-----END CERTIFICATE-----\n",
        )
        .unwrap();
        assert!(certs("k", &bad)
            .unwrap_err()
            .to_string()
            .contains("bad PEM"));
    }

    /// Blocks with nothing inside are not a certificate or a key (found by the
    /// `config_files` fuzz target: the empty key was returned, for TLS to refuse later with a
    /// vaguer message).
    #[test]
    fn empty_blocks_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("empty.pem");
        for label in ["PRIVATE KEY", "EC PRIVATE KEY", "RSA PRIVATE KEY"] {
            std::fs::write(
                &path,
                format!("-----BEGIN {label}-----\n\n-----END {label}-----\n"),
            )
            .unwrap();
            let e = private_key("tls.key", &path).unwrap_err();
            assert!(e.to_string().ends_with("empty PEM private key"), "{e}");
        }
        std::fs::write(
            &path,
            "-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n",
        )
        .unwrap();
        let e = certs("tls.cert", &path).unwrap_err();
        assert!(e.to_string().ends_with("empty PEM certificate"), "{e}");
    }
}
