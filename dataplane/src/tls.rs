//! The optional https listener (RFC 9110 §4.2.2): HTTP/1.1 over TLS 1.3 (RFC 8446) or 1.2
//! (RFC 5246), rustls on the aws-lc-rs provider, ALPN `http/1.1` (RFC 7301), and optionally
//! required client certificates (mutual TLS: the server's CertificateRequest, RFC 8446 §4.3.2).
//!
//! - [`load`] reads and checks the PEM files named by the `[tls]` section. `sigil-dp` calls it
//!   while checking its configuration, before any port is bound, so a missing, unreadable or
//!   mismatched file is a configuration error (exit 64) naming the file.
//! - [`TlsAccept`] is the https listener's [`Accept`](crate::http::Accept): it runs the
//!   handshake on the connection's own task, bounded by `http.request_timeout_secs`.
//! - [`TlsConn`] is the stream the HTTP/1.1 loop then serves. Its reads and writes take the
//!   HTTP loop's cancel handle down to the TCP operation beneath the TLS record layer, so a
//!   timed-out operation is cancelled in the kernel exactly as on plain TCP (see
//!   `http/io.rs`): a stalled TLS client never keeps its socket or its task alive.

mod peer;
mod stream;
#[cfg(test)]
pub(crate) mod test_support;
#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::server::{ParsedCertificate, WebPkiClientVerifier};
use rustls::{RootCertStore, ServerConfig};
use sigil_configfile::PemFileError;

use crate::config::TlsListener;

pub use stream::{TlsAccept, TlsConn};

/// The only application protocol offered (RFC 7301); clients offering no ALPN are accepted.
const ALPN_HTTP11: &[u8] = b"http/1.1";

/// Why the `[tls]` files cannot be used. Each message starts with the configuration key and
/// the file it names.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error(transparent)]
    File(#[from] PemFileError),
    #[error("{section}.key {} does not belong to the first certificate of {section}.cert {}", key.display(), cert.display())]
    KeyMismatch {
        section: &'static str,
        key: PathBuf,
        cert: PathBuf,
    },
    #[error("TLS configuration: {0}")]
    Config(rustls::Error),
}

/// Reads the certificate chain, the private key and the client CAs, checks that the key
/// belongs to the end-entity certificate, and builds the server configuration.
pub fn load(cfg: &TlsListener) -> Result<Arc<ServerConfig>, TlsError> {
    let files = Files {
        section: "tls",
        cert: &cfg.cert,
        key: &cfg.key,
        client_ca: cfg.client_ca.as_deref(),
    };
    build(&files, false)
}

/// [`load`] for the relay listener's `[relay.tls]` (errors name `relay.tls.cert` etc.).
pub fn load_relay(cfg: &crate::config::RelayTls) -> Result<Arc<ServerConfig>, TlsError> {
    let files = Files {
        section: "relay.tls",
        cert: &cfg.cert,
        key: &cfg.key,
        client_ca: cfg.client_ca.as_deref(),
    };
    build(&files, false)
}

/// [`load`] for a listener that takes client certificates as identities (the key service's
/// `[kes]`, for [`TlsAccept::with_peer_certificates`]): a client certificate is asked for,
/// not required (its absence is the handler's error), its chain verified only against
/// `client_ca` when one is given, and its handshake signature always.
pub fn load_with_peer_certificates(
    section: &'static str,
    cert: &Path,
    key: &Path,
    client_ca: Option<&Path>,
) -> Result<Arc<ServerConfig>, TlsError> {
    let files = Files {
        section,
        cert,
        key,
        client_ca,
    };
    build(&files, true)
}

/// The PEM files of a listener, named in errors by `section`.`cert` etc.
struct Files<'a> {
    section: &'static str,
    cert: &'a Path,
    key: &'a Path,
    client_ca: Option<&'a Path>,
}

impl Files<'_> {
    fn key_name(&self, key: &str) -> String {
        format!("{}.{key}", self.section)
    }
}

fn build(f: &Files<'_>, peer_certificates: bool) -> Result<Arc<ServerConfig>, TlsError> {
    let chain = sigil_configfile::certs(&f.key_name("cert"), f.cert)?;
    ParsedCertificate::try_from(&chain[0]).map_err(|e| {
        invalid(
            &f.key_name("cert"),
            f.cert,
            format!("first certificate: {e}"),
        )
    })?;
    let key = sigil_configfile::private_key(&f.key_name("key"), f.key)?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(TlsError::Config)?;
    let verified = match f.client_ca {
        None => None,
        Some(path) => {
            let name = f.key_name("client_ca");
            let mut roots = RootCertStore::empty();
            for (i, der) in sigil_configfile::certs(&name, path)?
                .into_iter()
                .enumerate()
            {
                roots
                    .add(der)
                    .map_err(|e| invalid(&name, path, format!("certificate {}: {e}", i + 1)))?;
            }
            let mut verifier =
                WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone());
            if peer_certificates {
                verifier = verifier.allow_unauthenticated();
            }
            Some(
                verifier
                    .build()
                    .map_err(|e| invalid(&name, path, e.to_string()))?,
            )
        }
    };
    let builder = match (verified, peer_certificates) {
        (chain, true) => builder.with_client_cert_verifier(Arc::new(peer::PeerVerifier::new(
            chain,
            provider.signature_verification_algorithms,
        ))),
        (Some(verifier), false) => builder.with_client_cert_verifier(verifier),
        (None, false) => builder.with_no_client_auth(),
    };
    let mut config = builder.with_single_cert(chain, key).map_err(|e| match e {
        rustls::Error::InconsistentKeys(_) => TlsError::KeyMismatch {
            section: f.section,
            key: f.key.to_path_buf(),
            cert: f.cert.to_path_buf(),
        },
        other => invalid(&f.key_name("key"), f.key, other.to_string()),
    })?;
    config.alpn_protocols = vec![ALPN_HTTP11.to_vec()];
    if peer_certificates {
        // A resumed handshake does not verify (so does not record) the client's certificate,
        // and the session it resumes is not reachable through monoio-rustls: without
        // resumption every connection presents its certificate, and its identity is known.
        config.session_storage = Arc::new(rustls::server::NoServerSessionStorage {});
        config.send_tls13_tickets = 0;
    }
    Ok(Arc::new(config))
}

fn invalid(key: &str, path: &Path, detail: String) -> TlsError {
    PemFileError::invalid(key, path, detail).into()
}
