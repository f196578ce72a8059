//! tls-alpn-01 (RFC 8737): a TLS 1.3 handshake offering only ALPN `acme-tls/1` with the
//! identifier as SNI; the certificate is not verified as a chain (it is self-signed by
//! design, with a critical extension webpki does not know) but checked by
//! `sigil_acme::tls_alpn::check`; the handshake signature is verified against its public key
//! directly (rustls' raw-key check, TLS 1.3 only).

use std::net::SocketAddr;
use std::sync::Arc;

use der::{Decode, Encode};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, SubjectPublicKeyInfoDer, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use sigil_acme::{tls_alpn, Problem, ProblemType};
use tokio::net::TcpStream;

/// Accepts any certificate: the handshake's signatures are still checked, the certificate's
/// content is what [`check`] looks at.
#[derive(Debug)]
struct AnyCert(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for AnyCert {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        _: &[u8],
        _: &CertificateDer<'_>,
        _: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Err(rustls::Error::General(
            "tls-alpn-01 is validated over TLS 1.3".into(),
        ))
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let spki = x509_cert::Certificate::from_der(cert.as_ref())
            .and_then(|c| c.tbs_certificate.subject_public_key_info.to_der())
            .map_err(|e| rustls::Error::General(format!("the certificate: {e}")))?;
        rustls::crypto::verify_tls13_signature_with_raw_key(
            message,
            &SubjectPublicKeyInfoDer::from(spki),
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

pub(super) async fn check(
    addr: SocketAddr,
    (kind, value): &(String, String),
    ka: &str,
) -> Result<(), Problem> {
    let tls = |d: String| Problem::new(ProblemType::Tls, d);
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| tls(e.to_string()))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AnyCert(provider)))
        .with_no_client_auth();
    config.alpn_protocols = vec![tls_alpn::ALPN.to_vec()];
    let name =
        ServerName::try_from(tls_alpn::sni(kind, value)).map_err(|e| tls(format!("SNI: {e}")))?;
    let tcp = TcpStream::connect(addr)
        .await
        .map_err(|e| Problem::new(ProblemType::Connection, format!("{addr}: {e}")))?;
    let stream = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await
        .map_err(|e| tls(format!("{addr}: handshake: {e}")))?;
    let (_, conn) = stream.get_ref();
    if conn.alpn_protocol() != Some(tls_alpn::ALPN) {
        return Err(tls("the server did not negotiate acme-tls/1".into()));
    }
    let cert = conn
        .peer_certificates()
        .and_then(|c| c.first())
        .ok_or_else(|| tls("no certificate".into()))?;
    tls_alpn::check(cert.as_ref(), kind, value, ka)
        .map_err(|d| Problem::new(ProblemType::Unauthorized, d))
}
