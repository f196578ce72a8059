//! Client certificates taken as identities (the key service's listener): any certificate is
//! accepted — KES clients present self-signed ones — as long as the client proves it holds its
//! key (the handshake signature), and the certificates are handed to the request handler.
//!
//! rustls verifies client certificates through a [`ClientCertVerifier`] shared by every
//! connection, and monoio-rustls does not expose the session after the handshake, so the
//! verifier cannot tell which connection it is verifying. Every handshake runs on its core's
//! thread and the verifier is called synchronously inside one poll of that handshake's
//! future: [`Capture`] points a thread-local slot at its connection's certificate list for the
//! duration of each poll, and [`PeerVerifier`] fills the slot it finds there.

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::task::{Context, Poll};

use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, WebPkiSupportedAlgorithms};
use rustls::pki_types::{CertificateDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{DigitallySignedStruct, DistinguishedName, SignatureScheme};

/// The certificates a connection's client presented (end entity first).
pub type Certificates = Rc<RefCell<Vec<Vec<u8>>>>;

thread_local! {
    static CURRENT: RefCell<Option<Certificates>> = const { RefCell::new(None) };
}

/// Offers client authentication without requiring it (a missing certificate is the
/// handler's 400, as in KES), verifies the chain only when `chain` is given (`client_ca`),
/// always verifies the handshake signature, and records the certificates for [`Capture`].
#[derive(Debug)]
pub struct PeerVerifier {
    chain: Option<Arc<dyn ClientCertVerifier>>,
    algorithms: WebPkiSupportedAlgorithms,
}

impl PeerVerifier {
    pub fn new(
        chain: Option<Arc<dyn ClientCertVerifier>>,
        algorithms: WebPkiSupportedAlgorithms,
    ) -> Self {
        Self { chain, algorithms }
    }
}

impl ClientCertVerifier for PeerVerifier {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        false
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.chain.as_ref().map_or(&[], |c| c.root_hint_subjects())
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        if let Some(chain) = &self.chain {
            chain.verify_client_cert(end_entity, intermediates, now)?;
        }
        CURRENT.with(|c| {
            if let Some(slot) = c.borrow().as_ref() {
                *slot.borrow_mut() = std::iter::once(end_entity)
                    .chain(intermediates)
                    .map(|c| c.to_vec())
                    .collect();
            }
        });
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// A handshake future whose polls record client certificates into `slot`.
pub struct Capture<F> {
    pub fut: F,
    pub slot: Certificates,
}

impl<F: Future + Unpin> Future for Capture<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let previous = CURRENT.with(|c| c.replace(Some(self.slot.clone())));
        let out = Pin::new(&mut self.fut).poll(cx);
        CURRENT.with(|c| *c.borrow_mut() = previous);
        out
    }
}
