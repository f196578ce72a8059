//! The replication stream's connection: a blocking `TcpStream`, plain or wrapped in TLS
//! (rustls `StreamOwned`, RFC 8446 / RFC 5246). The socket's read timeout applies beneath the
//! TLS record layer as well: a silent control plane fails a read either way.

use std::io;
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::time::Duration;

use rustls::{ClientConfig, ClientConnection, StreamOwned};

use super::stream_client::OpenError;
use super::upstream::{BaseUrl, Scheme};

/// How long connecting (TCP, then the TLS handshake) may take at most.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

/// An open connection to the control plane (or a relay).
pub type Transport = crate::blocking_stream::MaybeTls<ClientConnection>;

/// A TLS failure with a hint at the configuration key that usually fixes it.
#[derive(Debug)]
pub struct TlsFailure(pub rustls::Error);

impl std::fmt::Display for TlsFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        use rustls::{AlertDescription as A, Error as E};
        let hint = match &self.0 {
            E::InvalidCertificate(_) => {
                " (does control_plane.ca_file hold the CA that issued the control plane's \
                 certificate, and does that certificate name the URL's host?)"
            }
            E::AlertReceived(
                A::CertificateRequired
                | A::BadCertificate
                | A::UnknownCA
                | A::CertificateUnknown
                | A::AccessDenied,
            ) => {
                " (the control plane refused this data plane's client certificate, or wants one: \
                 control_plane.client_cert and client_key)"
            }
            _ => "",
        };
        write!(f, "TLS: {}{hint}", self.0)
    }
}

/// The rustls error inside an I/O error from a TLS stream, if that is what it is.
pub fn tls_error(e: &io::Error) -> Option<&rustls::Error> {
    e.get_ref()?.downcast_ref::<rustls::Error>()
}

/// Connects to `url` with `read_timeout` on every read; for https, completes the handshake
/// (verifying the server against `tls`) before returning.
pub fn connect(
    url: &BaseUrl,
    tls: Option<&Arc<ClientConfig>>,
    read_timeout: Duration,
) -> Result<Transport, OpenError> {
    let config = match (url.scheme, tls) {
        (Scheme::Http, _) => None,
        (Scheme::Https, None) => return Err(OpenError::NoTlsConfig),
        (Scheme::Https, Some(config)) => Some(config.clone()),
    };
    let addr = (url.bare_host(), url.port)
        .to_socket_addrs()?
        .next()
        .ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::NotFound,
                "control plane host did not resolve",
            )
        })?;
    let mut tcp = TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT)?;
    tcp.set_write_timeout(Some(WRITE_TIMEOUT))?;
    tcp.set_nodelay(true)?;
    let Some(config) = config else {
        tcp.set_read_timeout(Some(read_timeout))?;
        return Ok(Transport::Plain(tcp));
    };
    let name = url.server_name().map_err(io::Error::other)?;
    let mut conn =
        ClientConnection::new(config, name).map_err(|e| OpenError::Tls(TlsFailure(e)))?;
    // Each handshake read waits at most CONNECT_TIMEOUT; the stream's own timeout after.
    tcp.set_read_timeout(Some(CONNECT_TIMEOUT))?;
    while conn.is_handshaking() {
        conn.complete_io(&mut tcp)?;
    }
    tcp.set_read_timeout(Some(read_timeout))?;
    Ok(Transport::Tls(Box::new(StreamOwned::new(conn, tcp))))
}
