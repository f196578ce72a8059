//! The ops listener: `/metrics` (Prometheus text), `/health/live`, `/health/ready` (ready, and
//! whether degraded: [`degraded`]), `/replication/digest` (the replica's state digest: a full
//! scan, a diagnostic). A plain blocking thread, off the serving cores; one connection at a
//! time is plenty for scrapes.

pub mod degraded;
mod metrics;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;

use sigil_shared::time::now_unix;

use crate::index::IndexStatus;
use crate::replica::ReplicationStatus;
use crate::stats::{self, CoreStats};

pub struct Ops {
    pub cores: Vec<Arc<CoreStats>>,
    pub replication: Arc<ReplicationStatus>,
    pub index: Arc<IndexStatus>,
    pub ready_max_lag_records: u64,
    /// `[metrics] degraded_window_secs`.
    pub degraded_window_secs: u64,
    /// Whether a control plane is configured (else the replica is served as it is).
    pub control_plane: bool,
    /// When the process started (Unix seconds): the control plane counts as unreachable since
    /// then until it is first reached.
    pub started: i64,
    pub data_dir: std::path::PathBuf,
    /// The key service's per-core counters when `[kes]` is on (`sigil_dp_kes_requests_total`).
    pub kes: Option<Vec<Arc<crate::kes::KesStats>>>,
    /// The relay when `[relay]` is on (`sigil_dp_relay_*`).
    pub relay: Option<Arc<crate::relay::RelayLog>>,
}

/// Binds the listener (so a bad address fails start-up) and serves it on a thread.
pub fn spawn(addr: SocketAddr, ops: Ops) -> std::io::Result<SocketAddr> {
    let listener = TcpListener::bind(addr)?;
    let local = listener.local_addr()?;
    std::thread::Builder::new()
        .name("sigil-ops".into())
        .spawn(move || {
            for conn in listener.incoming().flatten() {
                if let Err(e) = ops.serve(conn) {
                    tracing::debug!(error = %e, "ops connection failed");
                }
            }
        })?;
    Ok(local)
}

impl Ops {
    fn serve(&self, stream: TcpStream) -> std::io::Result<()> {
        stream.set_read_timeout(Some(Duration::from_secs(5)))?;
        stream.set_write_timeout(Some(Duration::from_secs(5)))?;
        let mut conn = Exchange {
            stream,
            head: false,
        };
        let mut buf = vec![0u8; 8192];
        let mut len = 0;
        let path = loop {
            let n = conn.stream.read(&mut buf[len..])?;
            if n == 0 {
                return Ok(());
            }
            len += n;
            let mut headers = [httparse::EMPTY_HEADER; 32];
            let mut req = httparse::Request::new(&mut headers);
            match req.parse(&buf[..len]) {
                Ok(httparse::Status::Complete(_)) => {
                    // HEAD: the fields a GET gets, without the body (RFC 9110 §9.3.2).
                    conn.head = req.method == Some("HEAD");
                    break req.path.unwrap_or("/").to_string();
                }
                Ok(httparse::Status::Partial) if len < buf.len() => continue,
                _ => return respond(&mut conn, 400, "text/plain", "bad request\n"),
            }
        };
        match path.split('?').next().unwrap_or("") {
            "/metrics" => respond(&mut conn, 200, "text/plain; version=0.0.4", &self.metrics()),
            "/health/live" => respond(
                &mut conn,
                200,
                "application/json",
                "{\"status\":\"live\"}\n",
            ),
            "/health/ready" => {
                let (ready, why) = self.readiness();
                let degraded = self.degraded().reasons();
                let body = serde_json::json!({
                    "ready": ready,
                    "reason": why,
                    "degraded": !degraded.is_empty(),
                    "degraded_reasons": degraded,
                    "applied": self.replication.applied.load(Relaxed),
                    "lag_records": self.replication.lag_records(),
                });
                respond(
                    &mut conn,
                    if ready { 200 } else { 503 },
                    "application/json",
                    &format!("{body}\n"),
                )
            }
            "/replication/digest" => match self.digest() {
                Ok(body) => respond(&mut conn, 200, "application/json", &body),
                Err(e) => {
                    tracing::warn!(error = %e, "computing the replica digest failed");
                    respond(&mut conn, 503, "text/plain", "digest unavailable\n")
                }
            },
            _ => respond(&mut conn, 404, "text/plain", "not found\n"),
        }
    }

    /// The replica's digest as JSON (the control plane's `/api/v1/replication/digest` shape).
    fn digest(&self) -> Result<String, Box<dyn std::error::Error>> {
        let store = self.replication.current.get().ok_or("no replica open")?;
        let digest = crate::replica::digest::digest(store.as_ref())?;
        Ok(serde_json::to_string(&digest.report())? + "\n")
    }

    /// Ready = the replica holds a complete state (snapshot applied or log caught up, now or
    /// before a restart) and the replication lag is within the threshold. A control plane that
    /// is away does not make a synced replica unready: it keeps serving last-good state, and
    /// says it is degraded ([`degraded`]) meanwhile.
    pub fn readiness(&self) -> (bool, &'static str) {
        let r = &self.replication;
        if !r.synced.load(Relaxed) {
            return (false, "replica not yet synced with the control plane");
        }
        if r.lag_records() > self.ready_max_lag_records {
            return (false, "replication lag above threshold");
        }
        (true, "ok")
    }

    /// What degradation is judged on, now ([`degraded::Inputs::reasons`]).
    pub fn degraded(&self) -> degraded::Inputs {
        let r = &self.replication;
        let now = now_unix();
        let last_contact = r.last_contact.load(Relaxed);
        degraded::Inputs {
            now,
            link: self.control_plane.then(|| degraded::Link {
                connected: r.connected.load(Relaxed),
                since: if last_contact > 0 {
                    last_contact
                } else {
                    self.started
                },
            }),
            crls: r.crls.stale(now),
            ocsp: stats::stale_ocsp(&self.cores),
            window_secs: self.degraded_window_secs,
        }
    }
}

/// An ops connection, and whether its request is HEAD.
struct Exchange {
    stream: TcpStream,
    head: bool,
}

fn respond(
    conn: &mut Exchange,
    status: u16,
    content_type: &str,
    body: &str,
) -> std::io::Result<()> {
    let reason = match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        _ => "Service Unavailable",
    };
    let length = body.len();
    let body = if conn.head { "" } else { body };
    write!(conn.stream, "HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\nContent-Length: {length}\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n{body}")
}
