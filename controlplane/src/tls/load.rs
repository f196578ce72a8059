//! Reading `[admin.tls]` and `[public.tls]` PEM files into rustls server configurations.
//! `sigil-cp` does this while checking its configuration, before any port is bound: a
//! missing, unreadable or mismatched file is a configuration error (exit 64) naming the key
//! and the file.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::config::{AdminTlsConfig, PublicTlsConfig};
use rustls::crypto::CryptoProvider;
use rustls::server::{ParsedCertificate, WebPkiClientVerifier};
use rustls::{RootCertStore, ServerConfig};
use sigil_configfile::PemFileError;

use super::verifier::PossessionOnly;

/// Why a TLS file cannot be used; the message starts with the configuration key.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error(transparent)]
    File(#[from] PemFileError),
    #[error("{section}: the key does not belong to the first certificate of {}", cert.display())]
    KeyMismatch {
        section: &'static str,
        cert: PathBuf,
    },
    #[error("{section}: {detail}")]
    Config {
        section: &'static str,
        detail: String,
    },
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// The admin listener: TLS 1.3/1.2; with `client_ca`, client certificates are requested and,
/// when presented, must chain to it (clients without one authenticate with a token).
pub fn admin_server_config(cfg: &AdminTlsConfig) -> Result<Arc<ServerConfig>, TlsError> {
    const S: &str = "admin.tls";
    let builder = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| config_err(S, e))?;
    let builder = match &cfg.client_ca {
        None => builder.with_no_client_auth(),
        Some(path) => {
            let mut roots = RootCertStore::empty();
            for der in certs(S, "client_ca", path)? {
                roots
                    .add(der)
                    .map_err(|e| file_err(S, "client_ca", path, e.to_string()))?;
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider())
                .allow_unauthenticated()
                .build()
                .map_err(|e| file_err(S, "client_ca", path, e.to_string()))?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    finish(S, builder, &cfg.cert, &cfg.key)
}

/// The public (EST) listener: client certificates are requested but optional, and only the
/// handshake signature is checked here; EST re-enrollment judges the chain against the CA.
pub fn public_server_config(cfg: &PublicTlsConfig) -> Result<Arc<ServerConfig>, TlsError> {
    const S: &str = "public.tls";
    let builder = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| config_err(S, e))?
        .with_client_cert_verifier(Arc::new(PossessionOnly::new(provider())));
    finish(S, builder, &cfg.cert, &cfg.key)
}

fn finish(
    section: &'static str,
    builder: rustls::ConfigBuilder<ServerConfig, rustls::server::WantsServerCert>,
    cert: &Path,
    key: &Path,
) -> Result<Arc<ServerConfig>, TlsError> {
    let chain = certs(section, "cert", cert)?;
    ParsedCertificate::try_from(&chain[0])
        .map_err(|e| file_err(section, "cert", cert, format!("first certificate: {e}")))?;
    let key_der = sigil_configfile::private_key(&format!("{section}.key"), key)?;
    let mut config = builder
        .with_single_cert(chain, key_der)
        .map_err(|e| match e {
            rustls::Error::InconsistentKeys(_) => TlsError::KeyMismatch {
                section,
                cert: cert.to_owned(),
            },
            other => file_err(section, "key", key, other.to_string()),
        })?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

fn certs(
    section: &str,
    key: &str,
    path: &Path,
) -> Result<Vec<rustls::pki_types::CertificateDer<'static>>, TlsError> {
    Ok(sigil_configfile::certs(&format!("{section}.{key}"), path)?)
}

fn file_err(section: &str, key: &str, path: &Path, detail: String) -> TlsError {
    PemFileError::invalid(&format!("{section}.{key}"), path, detail).into()
}

fn config_err(section: &'static str, e: rustls::Error) -> TlsError {
    TlsError::Config {
        section,
        detail: e.to_string(),
    }
}
