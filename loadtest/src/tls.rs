//! TLS client configuration (rustls on aws-lc-rs, TLS 1.2/1.3, ALPN `http/1.1`): the server is
//! verified against `--cacert` (there is no "insecure" mode), with an optional client
//! certificate for mutual TLS.

use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ClientConfig, RootCertStore};
use thiserror::Error;

#[derive(Debug, Error)]
pub enum TlsError {
    #[error("{0}: {1}")]
    Pem(String, String),
    #[error("{0}: no certificate")]
    NoCertificate(String),
    #[error("TLS configuration: {0}")]
    Rustls(#[from] rustls::Error),
    #[error("https needs --cacert (the server certificate is always verified)")]
    NoCa,
    #[error("--cert and --key go together")]
    HalfClientAuth,
    #[error("{0:?} is not a valid TLS server name")]
    ServerName(String),
}

fn certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let name = path.display().to_string();
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| TlsError::Pem(name.clone(), e.to_string()))?;
    if certs.is_empty() {
        return Err(TlsError::NoCertificate(name));
    }
    Ok(certs)
}

/// A client configuration trusting the certificates in `cacert`, presenting `client` (a
/// certificate chain file and a key file) when given.
pub fn client_config(
    cacert: Option<&Path>,
    client: Option<(&Path, &Path)>,
) -> Result<Arc<ClientConfig>, TlsError> {
    let cacert = cacert.ok_or(TlsError::NoCa)?;
    let mut roots = RootCertStore::empty();
    for c in certs(cacert)? {
        roots.add(c)?;
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])?
        .with_root_certificates(roots);
    let mut config = match client {
        Some((cert, key)) => {
            let chain = certs(cert)?;
            let key = PrivateKeyDer::from_pem_file(key)
                .map_err(|e| TlsError::Pem(key.display().to_string(), e.to_string()))?;
            builder.with_client_auth_cert(chain, key)?
        }
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    // Each connection handshakes once and is kept alive; resumption would only hide the
    // handshake cost from reconnects after errors.
    config.resumption = rustls::client::Resumption::disabled();
    Ok(Arc::new(config))
}

/// The name the server certificate must be valid for.
pub fn server_name(host: &str) -> Result<ServerName<'static>, TlsError> {
    ServerName::try_from(host.to_owned()).map_err(|_| TlsError::ServerName(host.into()))
}
