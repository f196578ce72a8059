//! TLS client configuration for an `https://` replication stream (RFC 9110 §4.2.2): TLS 1.3
//! (RFC 8446) or 1.2 (RFC 5246), rustls on the aws-lc-rs provider, ALPN `http/1.1` (RFC 7301).
//!
//! The control plane's certificate is verified against `control_plane.ca_file` only: no system
//! trust anchors, so a data plane trusts exactly the CA its operator named. With
//! `client_cert` + `client_key`, the data plane answers the admin listener's
//! CertificateRequest (mutual TLS, RFC 8446 §4.3.2); without them it sends no certificate and
//! authenticates with its bearer token alone.
//!
//! [`load`] reads and checks the files; `sigil-dp` calls it while checking its configuration,
//! before any port is bound, so a missing or bad file exits 64 with the key and file named.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::{ClientConfig, RootCertStore};
use sigil_configfile::PemFileError;

use crate::config::ControlPlaneLink;

/// The only application protocol offered (RFC 7301).
const ALPN_HTTP11: &[u8] = b"http/1.1";

/// Why the `[control_plane]` TLS files cannot be used; each message starts with the
/// configuration key and the file it names.
#[derive(Debug, thiserror::Error)]
pub enum TlsClientError {
    #[error("control_plane.ca_file is required for an https:// control plane")]
    MissingCa,
    #[error(transparent)]
    File(#[from] PemFileError),
    #[error("control_plane.client_key {} does not belong to the first certificate of control_plane.client_cert {}", key.display(), cert.display())]
    KeyMismatch { key: PathBuf, cert: PathBuf },
    #[error("control_plane TLS configuration: {0}")]
    Config(rustls::Error),
}

/// Builds the client configuration from `ca_file` and the optional client certificate.
pub fn load(link: &ControlPlaneLink) -> Result<Arc<ClientConfig>, TlsClientError> {
    const CA: &str = "control_plane.ca_file";
    let ca_file = link.ca_file.as_ref().ok_or(TlsClientError::MissingCa)?;
    let mut roots = RootCertStore::empty();
    for (i, der) in sigil_configfile::certs(CA, ca_file)?
        .into_iter()
        .enumerate()
    {
        roots
            .add(der)
            .map_err(|e| invalid(CA, ca_file, format!("certificate {}: {e}", i + 1)))?;
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(TlsClientError::Config)?
        .with_root_certificates(roots);
    let mut config = match (&link.client_cert, &link.client_key) {
        (Some(cert), Some(key)) => {
            let chain = sigil_configfile::certs("control_plane.client_cert", cert)?;
            let key_der = sigil_configfile::private_key("control_plane.client_key", key)?;
            builder
                .with_client_auth_cert(chain, key_der)
                .map_err(|e| match e {
                    rustls::Error::InconsistentKeys(_) => TlsClientError::KeyMismatch {
                        key: key.clone(),
                        cert: cert.clone(),
                    },
                    other => invalid("control_plane.client_key", key, other.to_string()),
                })?
        }
        _ => builder.with_no_client_auth(),
    };
    config.alpn_protocols = vec![ALPN_HTTP11.to_vec()];
    Ok(Arc::new(config))
}

fn invalid(key: &str, path: &Path, detail: String) -> TlsClientError {
    PemFileError::invalid(key, path, detail).into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tls::test_support::data;

    fn link(ca: &str, client: Option<(&str, &str)>) -> ControlPlaneLink {
        ControlPlaneLink {
            url: Some("https://127.0.0.1:9444".into()),
            ca_file: Some(data(ca)),
            client_cert: client.map(|(c, _)| data(c)),
            client_key: client.map(|(_, k)| data(k)),
            ..ControlPlaneLink::default()
        }
    }

    fn err(link: &ControlPlaneLink) -> String {
        load(link).unwrap_err().to_string()
    }

    #[test]
    fn loads_trust_anchors_and_an_optional_client_certificate() {
        let cfg = load(&link("ca.pem", None)).unwrap();
        assert_eq!(cfg.alpn_protocols, vec![b"http/1.1".to_vec()]);
        assert!(!cfg.client_auth_cert_resolver.has_certs());
        let cfg = load(&link("ca.pem", Some(("client.pem", "client.key")))).unwrap();
        assert!(cfg.client_auth_cert_resolver.has_certs());
    }

    #[test]
    fn bad_files_are_named_with_their_key() {
        let missing = ControlPlaneLink {
            ca_file: Some("/nonexistent/ca.pem".into()),
            ..link("ca.pem", None)
        };
        let e = err(&missing);
        assert!(
            e.starts_with("control_plane.ca_file /nonexistent/ca.pem: cannot read"),
            "{e}"
        );
        let e = err(&link("server.key", None));
        assert!(e.starts_with("control_plane.ca_file ") && e.ends_with("no PEM certificate"));
        let e = err(&link("ca.pem", Some(("client.key", "client.key"))));
        assert!(e.starts_with("control_plane.client_cert "), "{e}");
        let e = err(&link("ca.pem", Some(("client.pem", "client.pem"))));
        assert!(
            e.starts_with("control_plane.client_key ") && e.contains("no PKCS#8"),
            "{e}"
        );
        let e = err(&link("ca.pem", Some(("client.pem", "server.key"))));
        assert!(
            e.contains("does not belong to the first certificate"),
            "{e}"
        );
        let none = ControlPlaneLink {
            ca_file: None,
            ..link("ca.pem", None)
        };
        assert!(err(&none).contains("control_plane.ca_file is required"));
    }
}
