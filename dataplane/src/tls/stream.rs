//! TLS sessions over monoio sockets, with cancellation that reaches the socket.
//!
//! monoio-rustls drives a rustls session over any `AsyncReadRent + AsyncWriteRent` by issuing
//! plain reads and writes on it; those cannot be cancelled, and dropping one in flight both
//! leaves it pending in io_uring (the socket stays open until the peer sends or closes) and
//! breaks the session's buffers. So the session runs over a [`Wire`]: the TCP socket plus a
//! slot holding the cancel handle of the operation in progress, which every socket operation
//! is issued with. [`TlsConn`] implements monoio's cancelable traits by putting the caller's
//! handle in that slot and running the TLS operation; cancelling the handle then cancels the
//! read or write beneath, the TLS operation fails with it, and the caller gets its buffer back.

use std::cell::RefCell;
use std::future::Future;
use std::os::fd::{AsRawFd, RawFd};
use std::rc::Rc;
use std::sync::Arc;

use monoio::buf::{IoBuf, IoBufMut, IoVecBuf, IoVecBufMut};
use monoio::io::{
    AsyncReadRent, AsyncWriteRent, CancelHandle, CancelableAsyncReadRent, CancelableAsyncWriteRent,
    Canceller,
};
use monoio::net::TcpStream;
use monoio::time::timeout;
use monoio::BufResult;
use monoio_rustls::{ServerTlsStream, TlsAcceptor};
use rustls::ServerConfig;

use crate::http::{bump, Accept, HttpStats, Limits, Peer};

/// The cancel handle socket operations are issued with; `None`: not cancelable.
type Slot = Rc<RefCell<Option<CancelHandle>>>;

/// The TCP socket under a TLS session (see the module documentation).
struct Wire {
    tcp: TcpStream,
    slot: Slot,
}

impl Wire {
    fn handle(&self) -> Option<CancelHandle> {
        self.slot.borrow().clone()
    }
}

impl AsyncReadRent for Wire {
    async fn read<T: IoBufMut>(&mut self, buf: T) -> BufResult<usize, T> {
        match self.handle() {
            Some(c) => self.tcp.cancelable_read(buf, c).await,
            None => self.tcp.read(buf).await,
        }
    }

    async fn readv<T: IoVecBufMut>(&mut self, buf: T) -> BufResult<usize, T> {
        match self.handle() {
            Some(c) => self.tcp.cancelable_readv(buf, c).await,
            None => self.tcp.readv(buf).await,
        }
    }
}

impl AsyncWriteRent for Wire {
    async fn write<T: IoBuf>(&mut self, buf: T) -> BufResult<usize, T> {
        match self.handle() {
            Some(c) => self.tcp.cancelable_write(buf, c).await,
            None => self.tcp.write(buf).await,
        }
    }

    async fn writev<T: IoVecBuf>(&mut self, buf: T) -> BufResult<usize, T> {
        match self.handle() {
            Some(c) => self.tcp.cancelable_writev(buf, c).await,
            None => self.tcp.writev(buf).await,
        }
    }

    fn flush(&mut self) -> impl Future<Output = std::io::Result<()>> {
        self.tcp.flush()
    }

    fn shutdown(&mut self) -> impl Future<Output = std::io::Result<()>> {
        self.tcp.shutdown()
    }
}

/// An established server-side TLS session: the stream the HTTP/1.1 loop serves on the https
/// listener. Its cancelable operations cancel the socket operation beneath (module docs).
pub struct TlsConn {
    tls: ServerTlsStream<Wire>,
    slot: Slot,
    /// The socket beneath, for shutting it down (see `http::io`).
    fd: RawFd,
}

impl AsRawFd for TlsConn {
    fn as_raw_fd(&self) -> RawFd {
        self.fd
    }
}

impl TlsConn {
    fn with(&mut self, handle: Option<CancelHandle>) -> &mut ServerTlsStream<Wire> {
        *self.slot.borrow_mut() = handle;
        &mut self.tls
    }
}

impl AsyncReadRent for TlsConn {
    fn read<T: IoBufMut>(&mut self, buf: T) -> impl Future<Output = BufResult<usize, T>> {
        self.with(None).read(buf)
    }

    fn readv<T: IoVecBufMut>(&mut self, buf: T) -> impl Future<Output = BufResult<usize, T>> {
        self.with(None).readv(buf)
    }
}

impl CancelableAsyncReadRent for TlsConn {
    fn cancelable_read<T: IoBufMut>(
        &mut self,
        buf: T,
        c: CancelHandle,
    ) -> impl Future<Output = BufResult<usize, T>> {
        self.with(Some(c)).read(buf)
    }

    fn cancelable_readv<T: IoVecBufMut>(
        &mut self,
        buf: T,
        c: CancelHandle,
    ) -> impl Future<Output = BufResult<usize, T>> {
        self.with(Some(c)).readv(buf)
    }
}

impl AsyncWriteRent for TlsConn {
    fn write<T: IoBuf>(&mut self, buf: T) -> impl Future<Output = BufResult<usize, T>> {
        self.with(None).write(buf)
    }

    fn writev<T: IoVecBuf>(&mut self, buf: T) -> impl Future<Output = BufResult<usize, T>> {
        self.with(None).writev(buf)
    }

    fn flush(&mut self) -> impl Future<Output = std::io::Result<()>> {
        self.with(None).flush()
    }

    /// Sends close_notify (RFC 8446 §6.1), then half-closes the socket.
    fn shutdown(&mut self) -> impl Future<Output = std::io::Result<()>> {
        self.with(None).shutdown()
    }
}

impl CancelableAsyncWriteRent for TlsConn {
    fn cancelable_write<T: IoBuf>(
        &mut self,
        buf: T,
        c: CancelHandle,
    ) -> impl Future<Output = BufResult<usize, T>> {
        self.with(Some(c)).write(buf)
    }

    fn cancelable_writev<T: IoVecBuf>(
        &mut self,
        buf: T,
        c: CancelHandle,
    ) -> impl Future<Output = BufResult<usize, T>> {
        self.with(Some(c)).writev(buf)
    }

    fn cancelable_flush(&mut self, c: CancelHandle) -> impl Future<Output = std::io::Result<()>> {
        self.with(Some(c)).flush()
    }

    fn cancelable_shutdown(
        &mut self,
        c: CancelHandle,
    ) -> impl Future<Output = std::io::Result<()>> {
        self.with(Some(c)).shutdown()
    }
}

/// The https listener's [`Accept`]: a TLS handshake on the connection's task, bounded by
/// `request_timeout`. Failures are counted in `tls_handshake_failures` and close the
/// connection.
#[derive(Clone)]
pub struct TlsAccept {
    acceptor: TlsAcceptor,
    /// Record the client's certificates for the handler (the config's verifier must be a
    /// [`super::peer::PeerVerifier`]).
    peer_certificates: bool,
}

impl std::fmt::Debug for TlsAccept {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsAccept").finish_non_exhaustive()
    }
}

impl TlsAccept {
    pub fn new(config: Arc<ServerConfig>) -> Self {
        Self {
            acceptor: TlsAcceptor::from(config),
            peer_certificates: false,
        }
    }

    /// An acceptor that hands the client's certificates to the handler ([`crate::http::Peer`]);
    /// `config` comes from [`super::load_with_peer_certificates`].
    pub fn with_peer_certificates(config: Arc<ServerConfig>) -> Self {
        Self {
            acceptor: TlsAcceptor::from(config),
            peer_certificates: true,
        }
    }
}

impl Accept for TlsAccept {
    type Stream = TlsConn;

    async fn accept(
        &self,
        tcp: TcpStream,
        limits: &Limits,
        stats: &HttpStats,
    ) -> Option<(TlsConn, Peer)> {
        // The handshake's flights and the responses are written whole: no Nagle delay.
        let _ = tcp.set_nodelay(true);
        let fd = tcp.as_raw_fd();
        let addr = tcp.peer_addr().ok();
        let canceller = Canceller::new();
        let slot: Slot = Rc::new(RefCell::new(Some(canceller.handle())));
        let wire = Wire {
            tcp,
            slot: slot.clone(),
        };
        let handshake = self.acceptor.accept(wire);
        let mut handshake = std::pin::pin!(handshake);
        let certificates = super::peer::Certificates::default();
        let capture = super::peer::Capture {
            fut: handshake.as_mut(),
            slot: certificates.clone(),
        };
        let polled = if self.peer_certificates {
            timeout(limits.request_timeout, capture).await
        } else {
            timeout(limits.request_timeout, capture.fut).await
        };
        let result = match polled {
            Ok(result) => result,
            Err(_elapsed) => {
                // Cancel the socket operation the handshake waits on, then let the handshake
                // fail with it: nothing stays pending on the socket once it is dropped.
                let _ = canceller.cancel();
                let _ = handshake.await;
                bump(&stats.tls_handshake_failures);
                tracing::debug!("TLS handshake not complete within request_timeout");
                return None;
            }
        };
        match result {
            Ok(tls) => {
                let peer = Peer {
                    addr,
                    tls: true,
                    certificates: certificates.take(),
                    ..Peer::default()
                };
                Some((TlsConn { tls, slot, fd }, peer))
            }
            Err(e) => {
                bump(&stats.tls_handshake_failures);
                tracing::debug!(error = %e, cause = ?e, "TLS handshake failed");
                None
            }
        }
    }
}
