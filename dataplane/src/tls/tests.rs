//! Loading the `[tls]` files, and the HTTP/1.1 loop over TLS in-process, on both drivers.

use std::time::{Duration, Instant};

use monoio::io::AsyncWriteRentExt;
use monoio::net::TcpStream;
use monoio_rustls::TlsConnector;
use rustls::pki_types::ServerName;
use sigil_configfile::PemFileError;

use super::test_support::{
    client_config, connect, data, listener_cfg, on_both_drivers, read_all, start, wait_closed,
};
use super::{load, TlsError};
use crate::config::TlsListener;

#[test]
fn tls_load_builds_config_with_alpn() {
    for mtls in [false, true] {
        let cfg = load(&listener_cfg(mtls)).unwrap();
        assert_eq!(cfg.alpn_protocols, vec![b"http/1.1".to_vec()]);
    }
}

#[test]
fn tls_load_errors_name_the_key_and_file() {
    let dir = tempfile::tempdir().unwrap();
    let garbage = dir.path().join("garbage.pem");
    std::fs::write(
        &garbage,
        "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    let missing = dir.path().join("missing.pem");
    let with = |change: &dyn Fn(&mut TlsListener)| {
        let mut cfg = listener_cfg(false);
        change(&mut cfg);
        cfg
    };
    let cases = [
        (
            "tls.cert",
            with(&|c| c.cert = missing.clone()),
            "cannot read",
        ),
        (
            "tls.cert",
            with(&|c| c.cert = data("server.key")),
            "no PEM certificate",
        ),
        (
            "tls.cert",
            with(&|c| c.cert = garbage.clone()),
            "first certificate",
        ),
        (
            "tls.key",
            with(&|c| c.key = data("server.pem")),
            "no PKCS#8",
        ),
        (
            "tls.key",
            with(&|c| c.key = data("client.key")),
            "does not belong",
        ),
        (
            "tls.client_ca",
            with(&|c| c.client_ca = Some(garbage.clone())),
            "certificate 1",
        ),
    ];
    for (key, cfg, what) in cases {
        let err = load(&cfg).unwrap_err();
        let msg = err.to_string();
        assert!(msg.starts_with(key) && msg.contains(what), "{key}: {msg}");
        let named = match key {
            "tls.cert" => &cfg.cert,
            "tls.key" => &cfg.key,
            _ => cfg.client_ca.as_ref().unwrap(),
        };
        assert!(msg.contains(&named.display().to_string()), "{msg}");
        if what == "cannot read" {
            assert!(matches!(err, TlsError::File(PemFileError::Read { .. })));
        }
    }
}

#[test]
fn tls_requests_pipelined_then_close() {
    on_both_drivers(|| async {
        let (tls, _, stats, slots) = start(false);
        let mut c = connect(tls, false).await;
        assert_eq!(c.alpn_protocol().as_deref(), Some(&b"http/1.1"[..]));
        let req = b"GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
        c.write_all(req.to_vec()).await.0.unwrap();
        let (all, ended) = read_all(&mut c).await;
        let text = String::from_utf8(all).unwrap();
        assert!(ended, "{text}");
        assert_eq!(text.matches("HTTP/1.1 200 ").count(), 2, "{text}");
        assert!(text.ends_with("\r\n\r\n/b"), "{text}");
        assert_eq!(stats.requests.get(), 2);
        assert_eq!(stats.tls_handshake_failures.get(), 0);
        wait_closed(&slots).await;
    });
}

#[test]
fn tls_silent_client_times_out_in_handshake() {
    on_both_drivers(|| async {
        let (tls, _, stats, slots) = start(false);
        let mut tcp = TcpStream::connect(tls).await.unwrap();
        let t0 = Instant::now();
        let (_, ended) = read_all(&mut tcp).await;
        assert!(ended, "server did not close a silent connection");
        let took = t0.elapsed();
        assert!(
            took >= Duration::from_millis(190) && took < Duration::from_secs(1),
            "{took:?}"
        );
        wait_closed(&slots).await;
        assert_eq!(stats.tls_handshake_failures.get(), 1);
    });
}

#[test]
fn tls_port_refuses_plain_http_and_keeps_serving() {
    on_both_drivers(|| async {
        let (tls, plain, stats, slots) = start(false);
        let mut tcp = TcpStream::connect(tls).await.unwrap();
        let req = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n".to_vec();
        tcp.write_all(req).await.0.unwrap();
        let (all, ended) = read_all(&mut tcp).await;
        assert!(
            ended && !all.starts_with(b"HTTP/"),
            "{:?}",
            String::from_utf8_lossy(&all)
        );
        wait_closed(&slots).await;
        assert_eq!(stats.tls_handshake_failures.get(), 1);
        // Both listeners still serve.
        let mut c = connect(tls, false).await;
        c.write_all(b"GET /t HTTP/1.0\r\n\r\n".to_vec())
            .await
            .0
            .unwrap();
        assert!(read_all(&mut c).await.0.starts_with(b"HTTP/1.1 200 "));
        let mut p = TcpStream::connect(plain).await.unwrap();
        p.write_all(b"GET /p HTTP/1.0\r\n\r\n".to_vec())
            .await
            .0
            .unwrap();
        assert!(read_all(&mut p).await.0.starts_with(b"HTTP/1.1 200 "));
    });
}

#[test]
fn tls_stalled_request_gets_408_and_frees_the_slot() {
    on_both_drivers(|| async {
        let (tls, _, stats, slots) = start(false);
        let mut c = connect(tls, false).await;
        c.write_all(b"GET /half HTTP/1.1\r\nHost: x\r\n".to_vec())
            .await
            .0
            .unwrap();
        let t0 = Instant::now();
        let (all, ended) = read_all(&mut c).await;
        let text = String::from_utf8_lossy(&all);
        assert!(ended && text.starts_with("HTTP/1.1 408 "), "{text}");
        assert!(t0.elapsed() < Duration::from_secs(1), "{:?}", t0.elapsed());
        assert_eq!(stats.timeouts.get(), 1);
        wait_closed(&slots).await;
    });
}

#[test]
fn tls_idle_session_is_closed_after_a_response() {
    // The read between requests carries no cancel handle: the idle timeout shuts the socket
    // down beneath the TLS session, which must end that read and free the slot.
    on_both_drivers(|| async {
        let (tls, _, stats, slots) = start(false);
        let mut c = connect(tls, false).await;
        c.write_all(b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n".to_vec())
            .await
            .0
            .unwrap();
        let t0 = Instant::now();
        let (all, ended) = read_all(&mut c).await;
        let text = String::from_utf8_lossy(&all);
        assert!(ended && text.starts_with("HTTP/1.1 200 "), "{text}");
        assert!(t0.elapsed() < Duration::from_secs(2), "{:?}", t0.elapsed());
        assert_eq!(stats.timeouts.get(), 0);
        wait_closed(&slots).await;
    });
}

#[test]
fn tls_client_certificates_required_with_client_ca() {
    on_both_drivers(|| async {
        let (tls, _, stats, slots) = start(true);
        let req = b"GET /m HTTP/1.0\r\n\r\n".to_vec();
        // TLS 1.3: the client finishes first, the server then rejects the empty Certificate.
        let tcp = TcpStream::connect(tls).await.unwrap();
        let name = ServerName::try_from("127.0.0.1").unwrap();
        let connector = TlsConnector::from(client_config(false));
        if let Ok(mut c) = connector.connect(name, tcp).await {
            let _ = c.write_all(req.clone()).await;
            let (all, _) = read_all(&mut c).await;
            assert!(all.is_empty(), "{:?}", String::from_utf8_lossy(&all));
        }
        wait_closed(&slots).await;
        assert_eq!(stats.tls_handshake_failures.get(), 1);
        let mut c = connect(tls, true).await;
        c.write_all(req).await.0.unwrap();
        assert!(read_all(&mut c).await.0.starts_with(b"HTTP/1.1 200 "));
        assert_eq!(stats.requests.get(), 1);
    });
}

#[test]
fn tls_and_plain_listeners_share_the_connection_budget() {
    monoio::RuntimeBuilder::<monoio::LegacyDriver>::new()
        .enable_timer()
        .build()
        .unwrap()
        .block_on(async {
            let (tls, plain, stats, slots) = start(false);
            let _a = connect(tls, false).await;
            let _b = TcpStream::connect(plain).await.unwrap();
            let t0 = Instant::now();
            while slots.open() < 2 {
                assert!(t0.elapsed() < Duration::from_secs(2));
                monoio::time::sleep(Duration::from_millis(5)).await;
            }
            let mut third = TcpStream::connect(tls).await.unwrap();
            let (all, ended) = read_all(&mut third).await;
            assert!(ended && all.is_empty());
            assert_eq!(stats.connections_rejected.get(), 1);
        });
}
