//! The relay listener: a thread accepting connections (`sigil-relay`) and one blocking thread
//! per downstream (`sigil-relay-conn`), off the serving cores. Plain TCP or TLS (rustls over
//! the blocking socket). One request per connection: `GET /api/v1/replication/stream?after=N`
//! with `Authorization: Bearer <relay token>` (compared in constant time); the answers and
//! their JSON errors are the control plane's.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rustls::{ServerConfig, ServerConnection, StreamOwned};

use super::feed::{self, Ended};
use super::plan::Opening;
use super::{RelayLog, Subscribed};

/// Bound of reading a request head (and of the TLS handshake).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// A downstream that accepts nothing for this long is disconnected.
const WRITE_TIMEOUT: Duration = Duration::from_secs(30);
const STREAM_PATH: &str = "/api/v1/replication/stream";

/// Everything the relay's threads share.
pub struct RelayServer {
    pub log: Arc<RelayLog>,
    /// The relay's own subscription now (from the replication subscriber's status).
    pub upstream: Box<dyn Fn() -> Subscribed + Send + Sync>,
    /// The token downstreams present (`relay.token` or `SIGIL_RELAY_TOKEN`).
    pub token: String,
    pub tls: Option<Arc<ServerConfig>>,
    pub heartbeat: Duration,
    pub max_downstreams: usize,
}

/// Binds `addr` (so a taken port fails start-up) and accepts on a thread.
pub fn spawn(addr: SocketAddr, server: RelayServer) -> io::Result<SocketAddr> {
    let listener = TcpListener::bind(addr)?;
    let local = listener.local_addr()?;
    let server = Arc::new(server);
    let open = Arc::new(AtomicUsize::new(0));
    std::thread::Builder::new()
        .name("sigil-relay".into())
        .spawn(move || {
            for conn in listener.incoming() {
                let conn = match conn {
                    Ok(c) => c,
                    Err(e) => {
                        tracing::warn!(error = %e, "relay accept failed");
                        std::thread::sleep(Duration::from_millis(50));
                        continue;
                    }
                };
                if open.fetch_add(1, Ordering::AcqRel) >= server.max_downstreams {
                    open.fetch_sub(1, Ordering::AcqRel);
                    tracing::warn!(
                        peer = ?conn.peer_addr().ok(),
                        max = server.max_downstreams,
                        "relay connection refused: relay.max_downstreams reached"
                    );
                    continue;
                }
                let (s, o) = (server.clone(), open.clone());
                let spawned = std::thread::Builder::new()
                    .name("sigil-relay-conn".into())
                    .spawn(move || {
                        s.serve(conn);
                        o.fetch_sub(1, Ordering::AcqRel);
                    });
                if let Err(e) = spawned {
                    open.fetch_sub(1, Ordering::AcqRel);
                    tracing::warn!(error = %e, "relay connection thread not started");
                }
            }
        })?;
    Ok(local)
}

/// A downstream's connection.
type Conn = crate::blocking_stream::MaybeTls<ServerConnection>;

/// The request line and fields the relay looks at.
struct Request {
    method: String,
    path: String,
    query: String,
    authorization: Option<String>,
}

impl RelayServer {
    fn serve(&self, tcp: TcpStream) {
        let peer = tcp.peer_addr().ok();
        match self.exchange(tcp) {
            Ok(Some((after, ended))) => {
                tracing::info!(?peer, after, ?ended, "relay downstream stream ended")
            }
            Ok(None) => {}
            Err(e) => tracing::info!(?peer, error = %e, "relay downstream stream closed"),
        }
    }

    /// Serves one connection; `Some` for a stream that ended on its own.
    fn exchange(&self, tcp: TcpStream) -> Result<Option<(u64, Ended)>, feed::FeedError> {
        tcp.set_read_timeout(Some(REQUEST_TIMEOUT))?;
        tcp.set_write_timeout(Some(WRITE_TIMEOUT))?;
        let _ = tcp.set_nodelay(true);
        let peer = tcp.peer_addr().ok();
        let mut conn = match &self.tls {
            None => Conn::Plain(tcp),
            Some(config) => {
                let tls = ServerConnection::new(config.clone())
                    .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
                Conn::Tls(Box::new(StreamOwned::new(tls, tcp)))
            }
        };
        let Some(req) = read_request(&mut conn)? else {
            respond(&mut conn, 400, "bad_request", "malformed request")?;
            return Ok(None);
        };
        if req.path != STREAM_PATH {
            respond(&mut conn, 404, "not_found", "no such endpoint")?;
            return Ok(None);
        }
        if req.method != "GET" {
            respond(&mut conn, 405, "method_not_allowed", "method not allowed")?;
            return Ok(None);
        }
        if !self.token_matches(req.authorization.as_deref()) {
            tracing::warn!(?peer, "relay downstream refused: missing or invalid token");
            respond(
                &mut conn,
                401,
                "unauthorized",
                "missing or invalid replication token",
            )?;
            return Ok(None);
        }
        let Some(after) = parse_after(&req.query) else {
            respond(
                &mut conn,
                400,
                "bad_request",
                "after must be a sequence number",
            )?;
            return Ok(None);
        };
        let (view, opening) = feed::opening(&self.log, (self.upstream)(), after);
        let snapshot = match opening {
            Opening::Unavailable(why) => {
                tracing::info!(?peer, after, head = view.head, why, "relay stream refused");
                respond(&mut conn, 503, "unavailable", why)?;
                return Ok(None);
            }
            Opening::Snapshot => true,
            Opening::Records => false,
        };
        conn.write_all(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/x-sigil-replication\r\n\
              Cache-Control: no-store\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
        )?;
        tracing::info!(
            ?peer,
            after,
            head = view.head,
            snapshot,
            "relay downstream stream open"
        );
        let stats = &self.log.stats;
        RelayLog::count(&stats.downstreams, 1);
        let ended = feed::stream(&mut conn, &self.log, view, snapshot, after, self.heartbeat);
        stats.downstreams.fetch_sub(1, Ordering::Relaxed);
        ended.map(|e| Some((after, e)))
    }

    fn token_matches(&self, authorization: Option<&str>) -> bool {
        let given = authorization
            .and_then(|v| v.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, t)| t.trim());
        given.is_some_and(|t| {
            !self.token.is_empty()
                && aws_lc_rs::constant_time::verify_slices_are_equal(
                    t.as_bytes(),
                    self.token.as_bytes(),
                )
                .is_ok()
        })
    }
}

/// Reads a request head (at most 8 KiB); `None` when it is malformed or too large.
fn read_request(conn: &mut Conn) -> io::Result<Option<Request>> {
    let mut buf = vec![0u8; 8192];
    let mut len = 0;
    loop {
        let n = conn.read(&mut buf[len..])?;
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        len += n;
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut req = httparse::Request::new(&mut headers);
        match req.parse(&buf[..len]) {
            Ok(httparse::Status::Complete(_)) => {
                let target = req.path.unwrap_or("/");
                let (path, query) = target.split_once('?').unwrap_or((target, ""));
                let authorization = req
                    .headers
                    .iter()
                    .find(|h| h.name.eq_ignore_ascii_case("authorization"))
                    .map(|h| String::from_utf8_lossy(h.value).into_owned());
                return Ok(Some(Request {
                    method: req.method.unwrap_or("").to_string(),
                    path: path.to_string(),
                    query: query.to_string(),
                    authorization,
                }));
            }
            Ok(httparse::Status::Partial) if len < buf.len() => continue,
            _ => return Ok(None),
        }
    }
}

/// `after` of a query string: absent is 0 (as on the control plane); not a number is `None`.
fn parse_after(query: &str) -> Option<u64> {
    match query.split('&').find_map(|p| p.strip_prefix("after=")) {
        None => Some(0),
        Some(n) => n.parse().ok(),
    }
}

/// A JSON error in the control plane's shape, and the connection closed.
fn respond(conn: &mut Conn, status: u16, code: &str, message: &str) -> io::Result<()> {
    let reason = match status {
        400 => "Bad Request",
        401 => "Unauthorized",
        404 => "Not Found",
        405 => "Method Not Allowed",
        _ => "Service Unavailable",
    };
    let body = serde_json::json!({ "error": code, "message": message }).to_string();
    let extra = match status {
        401 => "WWW-Authenticate: Bearer realm=\"sigil-relay\"\r\n",
        503 => "Retry-After: 1\r\n",
        _ => "",
    };
    write!(
        conn,
        "HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
         Cache-Control: no-store\r\n{extra}Connection: close\r\n\r\n{body}",
        body.len()
    )?;
    conn.flush()
}

#[cfg(test)]
mod tests {
    use super::parse_after;

    #[test]
    fn after_parameter() {
        assert_eq!(parse_after(""), Some(0));
        assert_eq!(parse_after("after=42"), Some(42));
        assert_eq!(parse_after("x=1&after=7"), Some(7));
        assert_eq!(parse_after("after=-1"), None);
        assert_eq!(parse_after("after="), None);
    }
}
