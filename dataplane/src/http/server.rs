//! The per-core accept loop, for plain HTTP and (through [`Accept`]) https.

use std::cell::Cell;
use std::future::Future;
use std::io::ErrorKind;
use std::os::fd::AsRawFd;
use std::rc::Rc;
use std::time::Duration;

use monoio::io::{CancelableAsyncReadRent, CancelableAsyncWriteRent};
use monoio::net::{TcpListener, TcpStream};

use super::{bump, serve_stream, Handler, HttpStats, Limits, Peer};

/// Pause after an accept error such as running out of file descriptors, so that the loop does
/// not spin while the condition lasts.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

/// Turns an accepted TCP connection into the stream the HTTP/1.1 loop serves: [`Plain`] uses
/// the socket itself, [`crate::tls::TlsAccept`] runs a TLS handshake on it first. Runs on the
/// connection's own task, so a slow handshake never holds up the accept loop.
pub trait Accept {
    type Stream: CancelableAsyncReadRent + CancelableAsyncWriteRent + AsRawFd;

    /// The stream to serve and what is known of its peer, or `None` to close the connection
    /// (the implementation counts and logs why). Must finish within a bounded time: `limits`
    /// carries the configured timeouts.
    fn accept(
        &self,
        tcp: TcpStream,
        limits: &Limits,
        stats: &HttpStats,
    ) -> impl Future<Output = Option<(Self::Stream, Peer)>>;
}

/// Plain HTTP (`http` URIs, RFC 9110 §4.2.1): the TCP stream as it is.
#[derive(Debug, Clone, Copy, Default)]
pub struct Plain;

impl Accept for Plain {
    type Stream = TcpStream;

    async fn accept(&self, tcp: TcpStream, _: &Limits, _: &HttpStats) -> Option<(TcpStream, Peer)> {
        // Responses are written whole, once per batch: no reason to let Nagle delay them.
        let _ = tcp.set_nodelay(true);
        Some((tcp, Peer::default()))
    }
}

/// One core's connection budget, shared by all its listeners.
#[derive(Debug)]
pub struct ConnectionSlots {
    open: Cell<usize>,
    max: usize,
}

impl ConnectionSlots {
    pub fn new(max: usize) -> Self {
        Self {
            open: Cell::new(0),
            max,
        }
    }

    /// Connections currently open through the listeners sharing these slots.
    pub fn open(&self) -> usize {
        self.open.get()
    }
}

/// Accept loop for one core: spawns a task per connection (`monoio::spawn`). Beyond
/// `max_connections` connections open through this call, a new connection is accepted and
/// closed at once (counted in `connections_rejected`). Runs forever.
pub async fn serve<H: Handler + 'static>(
    listener: TcpListener,
    handler: Rc<H>,
    limits: Rc<Limits>,
    stats: Rc<HttpStats>,
    max_connections: usize,
) {
    let slots = Rc::new(ConnectionSlots::new(max_connections));
    serve_with(listener, Rc::new(Plain), handler, limits, stats, slots).await;
}

/// [`serve`] with a choice of [`Accept`] and a connection budget that several listeners of a
/// core can share. A connection holds a slot from its acceptance (handshake included) until
/// its task ends. Runs forever.
pub async fn serve_with<A, H>(
    listener: TcpListener,
    acceptor: Rc<A>,
    handler: Rc<H>,
    limits: Rc<Limits>,
    stats: Rc<HttpStats>,
    slots: Rc<ConnectionSlots>,
) where
    A: Accept + 'static,
    H: Handler + 'static,
{
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _peer)) => stream,
            Err(e) if is_transient(&e) => continue,
            Err(e) => {
                tracing::warn!(error = %e, "accept failed");
                monoio::time::sleep(ACCEPT_BACKOFF).await;
                continue;
            }
        };
        if slots.open.get() >= slots.max {
            bump(&stats.connections_rejected);
            drop(stream);
            continue;
        }
        bump(&stats.connections_accepted);
        let guard = OpenGuard::new(slots.clone(), stats.clone());
        let (acceptor, handler) = (acceptor.clone(), handler.clone());
        let (limits, stats) = (limits.clone(), stats.clone());
        monoio::spawn(async move {
            let _guard = guard;
            if let Some((stream, peer)) = acceptor.accept(stream, &limits, &stats).await {
                serve_stream(stream, &*handler, &limits, &stats, &peer).await;
            }
        });
    }
}

/// Errors that concern one connection that died before it was accepted, not the listener.
fn is_transient(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        ErrorKind::ConnectionAborted | ErrorKind::ConnectionReset | ErrorKind::Interrupted
    )
}

/// Counts a connection as open for as long as its task lives.
struct OpenGuard {
    slots: Rc<ConnectionSlots>,
    stats: Rc<HttpStats>,
}

impl OpenGuard {
    fn new(slots: Rc<ConnectionSlots>, stats: Rc<HttpStats>) -> Self {
        slots.open.set(slots.open.get() + 1);
        bump(&stats.connections_open);
        Self { slots, stats }
    }
}

impl Drop for OpenGuard {
    fn drop(&mut self) {
        let open = &self.slots.open;
        open.set(open.get().saturating_sub(1));
        let open = &self.stats.connections_open;
        open.set(open.get().saturating_sub(1));
    }
}
