//! One listener type for every control-plane port, plain or TLS, as an axum
//! [`Listener`](axum::serve::Listener) whose address type is [`ConnInfo`].
//!
//! TLS handshakes run on their own tasks (bounded in number and in time), so a slow or
//! silent client never holds up `accept` for everyone else; finished connections are handed
//! to axum through a channel.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::extract::connect_info::Connected;
use axum::serve::IncomingStream;
use rustls::ServerConfig;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, Semaphore};
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

use super::ConnInfo;

/// Longest a TLS handshake may take.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Handshakes in progress at once; further connections wait in the kernel's backlog.
const MAX_HANDSHAKES: usize = 256;

/// A served connection.
#[derive(Debug)]
pub enum Conn {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

/// A bound listener; see the module documentation.
#[derive(Debug)]
pub struct SigilListener {
    local: SocketAddr,
    rx: mpsc::Receiver<(Conn, ConnInfo)>,
    tls: bool,
}

impl SigilListener {
    /// Binds `addr`. `nodelay` disables Nagle (the replication stream's small frames must not
    /// wait for a delayed ACK). `name` appears in logs.
    pub async fn bind(
        addr: SocketAddr,
        tls: Option<Arc<ServerConfig>>,
        nodelay: bool,
        name: &'static str,
    ) -> io::Result<Self> {
        let tcp = TcpListener::bind(addr).await?;
        let local = tcp.local_addr()?;
        let (tx, rx) = mpsc::channel(64);
        let is_tls = tls.is_some();
        tokio::spawn(accept_loop(
            tcp,
            tls.map(TlsAcceptor::from),
            nodelay,
            name,
            tx,
        ));
        Ok(Self {
            local,
            rx,
            tls: is_tls,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    pub fn is_tls(&self) -> bool {
        self.tls
    }
}

async fn accept_loop(
    tcp: TcpListener,
    tls: Option<TlsAcceptor>,
    nodelay: bool,
    name: &'static str,
    tx: mpsc::Sender<(Conn, ConnInfo)>,
) {
    let permits = Arc::new(Semaphore::new(MAX_HANDSHAKES));
    loop {
        let accepted = tokio::select! {
            r = tcp.accept() => r,
            _ = tx.closed() => return,
        };
        let (stream, remote) = match accepted {
            Ok(a) => a,
            Err(e) => {
                // EMFILE and friends: back off instead of spinning.
                tracing::warn!(listener = name, error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        if nodelay {
            let _ = stream.set_nodelay(true);
        }
        let Some(acceptor) = tls.clone() else {
            if tx
                .send((Conn::Plain(stream), ConnInfo::plain(remote)))
                .await
                .is_err()
            {
                return;
            }
            continue;
        };
        let Ok(permit) = permits.clone().acquire_owned().await else {
            return;
        };
        let tx = tx.clone();
        tokio::spawn(async move {
            let _permit = permit;
            match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                Ok(Ok(s)) => {
                    let chain = s.get_ref().1.peer_certificates().map(|c| {
                        Arc::new(c.iter().map(|c| c.clone().into_owned()).collect::<Vec<_>>())
                    });
                    let info = ConnInfo {
                        remote,
                        client_chain: chain,
                    };
                    let _ = tx.send((Conn::Tls(Box::new(s)), info)).await;
                }
                Ok(Err(e)) => {
                    tracing::info!(listener = name, %remote, error = %e, "TLS handshake failed");
                }
                Err(_) => {
                    tracing::info!(listener = name, %remote, "TLS handshake timed out");
                }
            }
        });
    }
}

impl axum::serve::Listener for SigilListener {
    type Io = Conn;
    type Addr = ConnInfo;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.rx.recv().await {
            Some(c) => c,
            // The accept loop only ends when this receiver is dropped.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        Ok(ConnInfo::plain(self.local))
    }
}

impl Connected<IncomingStream<'_, SigilListener>> for ConnInfo {
    fn connect_info(stream: IncomingStream<'_, SigilListener>) -> Self {
        stream.remote_addr().clone()
    }
}

impl AsyncRead for Conn {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Conn {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_flush(cx),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Conn::Plain(s) => s.is_write_vectored(),
            Conn::Tls(s) => s.is_write_vectored(),
        }
    }
}
