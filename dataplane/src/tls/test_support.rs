//! Test harness for the https listener: `testdata/` files, a TLS and a plain listener sharing
//! one connection budget, and a monoio-rustls client.
//!
//! `testdata/` holds throwaway test-only keys and certificates (100-year validity) made by
//! `testdata/generate.sh`, never edited by hand: a server CA and a server certificate for
//! `IP:127.0.0.1`/`DNS:localhost`, a client CA and a client certificate.

use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use monoio::io::AsyncReadRent;
use monoio::net::{TcpListener, TcpStream};
use monoio_rustls::{ClientTlsStream, TlsConnector};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ClientConfig, RootCertStore};

use super::{load, TlsAccept};
use crate::config::TlsListener;
use crate::http::ResponseWriter;
use crate::http::{serve_with, ConnectionSlots, Handler, HttpStats, Limits, Plain, Request};

pub(crate) fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("src/tls/testdata")
        .join(name)
}

pub(crate) fn listener_cfg(client_ca: bool) -> TlsListener {
    TlsListener {
        listen: "127.0.0.1:0".parse().unwrap(),
        cert: data("server.pem"),
        key: data("server.key"),
        client_ca: client_ca.then(|| data("client-ca.pem")),
    }
}

/// Answers 200 with the request target as the body.
pub(super) struct Target;

impl Handler for Target {
    fn handle(&self, req: &Request<'_>, resp: &mut ResponseWriter<'_>) {
        resp.respond(
            200,
            &[("Content-Type", b"text/plain")],
            req.target.as_bytes(),
        );
    }
}

pub(super) fn limits() -> Limits {
    Limits {
        idle_timeout: Duration::from_millis(300),
        request_timeout: Duration::from_millis(200),
        write_timeout: Duration::from_millis(300),
        ..Limits::default()
    }
}

/// TLS and plain listeners sharing one budget of two connections; call inside a runtime.
pub(super) fn start(mtls: bool) -> (SocketAddr, SocketAddr, Rc<HttpStats>, Rc<ConnectionSlots>) {
    let (tls, plain) = (bind(), bind());
    let addrs = (tls.local_addr().unwrap(), plain.local_addr().unwrap());
    let stats = Rc::new(HttpStats::default());
    let slots = Rc::new(ConnectionSlots::new(2));
    let (handler, limits) = (Rc::new(Target), Rc::new(limits()));
    let acceptor = Rc::new(TlsAccept::new(load(&listener_cfg(mtls)).unwrap()));
    let (s, l) = (stats.clone(), slots.clone());
    monoio::spawn(serve_with(
        tls,
        acceptor,
        handler.clone(),
        limits.clone(),
        s,
        l,
    ));
    let (s, l) = (stats.clone(), slots.clone());
    monoio::spawn(serve_with(plain, Rc::new(Plain), handler, limits, s, l));
    (addrs.0, addrs.1, stats, slots)
}

pub(super) fn bind() -> TcpListener {
    TcpListener::bind("127.0.0.1:0").unwrap()
}

pub(super) fn client_config(client_cert: bool) -> Arc<ClientConfig> {
    let mut roots = RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_file(data("ca.pem")).unwrap())
        .unwrap();
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots);
    let mut cfg = if client_cert {
        let chain = vec![CertificateDer::from_pem_file(data("client.pem")).unwrap()];
        let key = PrivateKeyDer::from_pem_file(data("client.key")).unwrap();
        builder.with_client_auth_cert(chain, key).unwrap()
    } else {
        builder.with_no_client_auth()
    };
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    Arc::new(cfg)
}

pub(super) async fn connect(addr: SocketAddr, client_cert: bool) -> ClientTlsStream<TcpStream> {
    let tcp = TcpStream::connect(addr).await.unwrap();
    let name = ServerName::try_from("127.0.0.1").unwrap();
    let connector = TlsConnector::from(client_config(client_cert));
    connector.connect(name, tcp).await.expect("TLS handshake")
}

/// Everything until end of stream, error or 2 s of silence: (bytes, ended).
pub(super) async fn read_all<S: AsyncReadRent>(s: &mut S) -> (Vec<u8>, bool) {
    let mut all = Vec::new();
    loop {
        let buf = Vec::with_capacity(16 * 1024);
        match monoio::time::timeout(Duration::from_secs(2), s.read(buf)).await {
            Err(_) => return (all, false),
            Ok((Ok(0) | Err(_), _)) => return (all, true),
            Ok((Ok(_), buf)) => all.extend_from_slice(&buf),
        }
    }
}

pub(super) async fn wait_closed(slots: &ConnectionSlots) {
    let t0 = Instant::now();
    while slots.open() > 0 {
        assert!(
            t0.elapsed() < Duration::from_secs(2),
            "connection task still alive"
        );
        monoio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Runs `f` on the epoll driver and, where the kernel allows it, on io_uring.
pub(super) fn on_both_drivers<F: Future<Output = ()>>(f: impl Fn() -> F) {
    monoio::RuntimeBuilder::<monoio::LegacyDriver>::new()
        .enable_timer()
        .build()
        .unwrap()
        .block_on(f());
    if let Ok(mut rt) = monoio::RuntimeBuilder::<monoio::IoUringDriver>::new()
        .enable_timer()
        .build()
    {
        rt.block_on(f());
    }
}
