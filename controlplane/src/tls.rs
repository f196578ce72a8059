//! TLS for the control plane's listeners (rustls on aws-lc-rs): the admin listener
//! (`[admin.tls]`, optional mTLS against `client_ca`) and the public enrollment listener
//! (`[public.tls]`, client certificates requested but judged by the handler: EST re-enrollment
//! checks them against the issuing CA in the database).
//!
//! Every connection, TLS or not, reaches handlers with a [`ConnInfo`] as axum `ConnectInfo`.

use std::net::SocketAddr;
use std::sync::Arc;

use rustls::pki_types::CertificateDer;

/// What handlers know about the connection a request arrived on.
#[derive(Debug, Clone)]
pub struct ConnInfo {
    /// The peer's address.
    pub remote: SocketAddr,
    /// The certificate chain the TLS client presented (end entity first), if any.
    ///
    /// On the admin listener it has been verified to chain to `[admin.tls] client_ca`. On the
    /// public listener only possession of its key was proven (the handshake signature): the
    /// handler must check the chain itself.
    pub client_chain: Option<Arc<Vec<CertificateDer<'static>>>>,
}

impl ConnInfo {
    pub fn plain(remote: SocketAddr) -> Self {
        Self {
            remote,
            client_chain: None,
        }
    }

    /// The end-entity client certificate, if one was presented.
    pub fn client_cert(&self) -> Option<&CertificateDer<'static>> {
        self.client_chain.as_ref().and_then(|c| c.first())
    }
}

mod listener;
mod load;
mod verifier;

pub use listener::{Conn, SigilListener};
pub use load::{admin_server_config, public_server_config, TlsError};
