//! The stream client against one-connection servers in a thread: plain TCP, and TLS (rustls
//! server with the `tls/testdata` certificates: a server certificate for `IP:127.0.0.1` issued
//! by `ca.pem`, client certificates issued by `client-ca.pem`).

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rustls::{ServerConnection, StreamOwned};

use super::*;
use crate::config::ControlPlaneLink;
use crate::replica::upstream::{BaseUrl, Upstream};
use crate::tls::test_support::{data, listener_cfg};

const CHUNKED_HELLO: &[u8] =
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n";

fn plain(port: u16) -> Upstream {
    Upstream {
        url: BaseUrl::parse(&format!("http://127.0.0.1:{port}")).unwrap(),
        token: "t".into(),
        tls: None,
    }
}

/// Reads until the end of a request head (or EOF/error); returns what was read.
fn read_head(s: &mut impl Read) -> std::io::Result<String> {
    let mut req = Vec::new();
    let mut buf = [0u8; 1024];
    while !req.windows(4).any(|w| w == b"\r\n\r\n") {
        match s.read(&mut buf)? {
            0 => break,
            n => req.extend_from_slice(&buf[..n]),
        }
    }
    Ok(String::from_utf8_lossy(&req).into_owned())
}

/// A one-connection server that reads the request and answers `reply`.
fn serve_once(reply: &'static [u8]) -> (Upstream, JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        // Read the whole request head first: closing with unread bytes would reset the
        // connection before the client reads the reply (a flaky failure seen in CI).
        let _ = read_head(&mut s);
        s.write_all(reply).unwrap();
        let _ = s.shutdown(Shutdown::Write);
    });
    (plain(port), server)
}

#[test]
fn reads_a_chunked_body() {
    let (up, server) = serve_once(CHUNKED_HELLO);
    let mut body = get(&up, "/x", Duration::from_secs(5)).unwrap();
    let mut s = String::new();
    body.read_to_string(&mut s).unwrap();
    assert_eq!(s, "hello world");
    server.join().unwrap();
}

#[test]
fn non_200_is_an_error_with_the_body() {
    let (up, server) =
        serve_once(b"HTTP/1.1 401 Unauthorized\r\nContent-Length: 12\r\n\r\nbad token!!!");
    match get(&up, "/x", Duration::from_secs(5)) {
        Err(OpenError::Status { status: 401, body }) => assert_eq!(body, "bad token!!!"),
        other => panic!("unexpected {:?}", other.map(|_| ())),
    }
    server.join().unwrap();
}

/// A one-connection rustls server (client certificates required with `mtls`): reads the
/// request head, answers `reply`, keeps the connection open for `hold`, then closes it with
/// close_notify. Joins to the request head, or the server-side error.
fn serve_tls_once(
    mtls: bool,
    reply: &'static [u8],
    hold: Duration,
) -> (u16, JoinHandle<Result<String, String>>) {
    let config = crate::tls::load(&listener_cfg(mtls)).unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = std::thread::spawn(move || {
        let (tcp, _) = listener.accept().map_err(|e| e.to_string())?;
        tcp.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let conn = ServerConnection::new(config).map_err(|e| e.to_string())?;
        let mut tls = StreamOwned::new(conn, tcp);
        let head = match read_head(&mut tls) {
            Ok(head) => head,
            Err(e) => {
                // Let the alert reach the client before the socket closes.
                let _ = tls.sock.shutdown(Shutdown::Write);
                let _ = tls.sock.read(&mut [0u8; 4096]);
                return Err(e.to_string());
            }
        };
        tls.write_all(reply).map_err(|e| e.to_string())?;
        tls.flush().map_err(|e| e.to_string())?;
        std::thread::sleep(hold);
        tls.conn.send_close_notify();
        let _ = tls.flush();
        Ok(head)
    });
    (port, server)
}

fn link(ca: &str, client: Option<(&str, &str)>) -> ControlPlaneLink {
    ControlPlaneLink {
        ca_file: Some(data(ca)),
        client_cert: client.map(|(c, _)| data(c)),
        client_key: client.map(|(_, k)| data(k)),
        ..ControlPlaneLink::default()
    }
}

fn https(port: u16, link: &ControlPlaneLink) -> Upstream {
    let url = format!("https://127.0.0.1:{port}/base");
    Upstream::load(&url, "replication-token".into(), link).unwrap()
}

#[test]
fn tls_round_trip_reads_a_chunked_body() {
    let (port, server) = serve_tls_once(false, CHUNKED_HELLO, Duration::ZERO);
    let up = https(port, &link("ca.pem", None));
    assert!(up.tls.is_some());
    let mut body = get(&up, "/stream?after=7", Duration::from_secs(5)).unwrap();
    let mut s = String::new();
    body.read_to_string(&mut s).unwrap();
    assert_eq!(s, "hello world");
    let head = server.join().unwrap().unwrap();
    assert!(
        head.starts_with("GET /base/stream?after=7 HTTP/1.1\r\n"),
        "{head}"
    );
    assert!(
        head.contains(&format!("Host: 127.0.0.1:{port}\r\n")),
        "{head}"
    );
    assert!(head.contains("Authorization: Bearer replication-token\r\n"));
}

#[test]
fn tls_round_trip_with_a_client_certificate() {
    let (port, server) = serve_tls_once(true, CHUNKED_HELLO, Duration::ZERO);
    let up = https(port, &link("ca.pem", Some(("client.pem", "client.key"))));
    let mut body = get(&up, "/x", Duration::from_secs(5)).unwrap();
    let mut s = String::new();
    body.read_to_string(&mut s).unwrap();
    assert_eq!(s, "hello world");
    server.join().unwrap().unwrap();
}

#[test]
fn missing_client_certificate_fails_with_a_hint() {
    let (port, server) = serve_tls_once(true, CHUNKED_HELLO, Duration::ZERO);
    let up = https(port, &link("ca.pem", None));
    let err = match get(&up, "/x", Duration::from_secs(5)) {
        Err(e @ OpenError::Tls(_)) => e.to_string(),
        other => panic!("expected a TLS error, got {:?}", other.map(|_| ())),
    };
    assert!(err.contains("CertificateRequired"), "{err}");
    assert!(err.contains("control_plane.client_cert"), "{err}");
    assert!(server.join().unwrap().is_err());
}

#[test]
fn wrong_ca_fails_the_handshake_clearly() {
    let (port, server) = serve_tls_once(false, CHUNKED_HELLO, Duration::ZERO);
    // The client CA did not issue the server's certificate.
    let up = https(port, &link("client-ca.pem", None));
    let err = match get(&up, "/x", Duration::from_secs(5)) {
        Err(e @ OpenError::Tls(_)) => e.to_string(),
        other => panic!("expected a TLS error, got {:?}", other.map(|_| ())),
    };
    assert!(err.starts_with("connecting to the control plane: TLS: invalid peer certificate"));
    assert!(err.contains("UnknownIssuer"), "{err}");
    assert!(err.contains("control_plane.ca_file"), "{err}");
    let server_side = server.join().unwrap().unwrap_err();
    assert!(server_side.contains("alert"), "{server_side}");
}

#[test]
fn read_timeout_applies_beneath_tls() {
    let reply = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n";
    let (port, server) = serve_tls_once(false, reply, Duration::from_secs(2));
    let up = https(port, &link("ca.pem", None));
    let mut body = get(&up, "/x", Duration::from_millis(300)).unwrap();
    let mut buf = [0u8; 16];
    assert_eq!(body.read(&mut buf).unwrap(), 5);
    let start = Instant::now();
    let err = body.read(&mut buf).unwrap_err();
    assert!(
        matches!(
            err.kind(),
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
        ),
        "{err}"
    );
    assert!(
        start.elapsed() < Duration::from_millis(1500),
        "{:?}",
        start.elapsed()
    );
    drop(body);
    let _ = server.join();
}

#[test]
fn https_without_tls_configuration_is_refused() {
    let up = Upstream {
        url: BaseUrl::parse("https://127.0.0.1:9").unwrap(),
        token: "t".into(),
        tls: None,
    };
    // Refused before connecting: no plaintext request may go to an https:// URL.
    match get(&up, "/x", Duration::from_secs(1)) {
        Err(OpenError::NoTlsConfig) => {}
        other => panic!("unexpected {:?}", other.map(|_| ())),
    }
}
