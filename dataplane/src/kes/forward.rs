//! Mutations reach the control plane: a create, import, delete, policy write or identity
//! change sent to a data plane is forwarded — with the caller's identity, over the replication
//! credentials — to `/api/v1/replication/kes/…` on the control plane, which checks the policy,
//! commits and answers with the commit's sequence number (`X-Sigil-Seq`). The data plane
//! answers once it has applied that sequence (read-your-writes), or after `forward_timeout_ms`.
//!
//! The call is a blocking HTTP/1.1 request on a short-lived thread (mutations are rare; the
//! serving core never blocks): the core's deferred response polls for its result. Without a
//! control plane, or while it is unreachable, mutations fail with KES's 502 and clients fail
//! over; everything that only reads keeps working from the replica. With several
//! `control_plane.url`s, a mutation goes to the one the replication stream was last
//! established on, and is not retried elsewhere (it may have been committed).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::replica::{self, Upstreams};

/// Forwarded calls in flight per process at most; beyond, 503.
const MAX_IN_FLIGHT: usize = 64;
/// Largest answer read from the control plane.
const MAX_REPLY: u64 = 1 << 20;
/// How often a waiting core looks for the result.
pub const POLL: Duration = Duration::from_millis(2);

/// A mutation to forward.
#[derive(Debug, Clone)]
pub struct Call {
    pub method: &'static str,
    /// The KES path, e.g. `/v1/key/create/my-key`.
    pub path: String,
    pub identity: String,
    pub admin: bool,
    pub body: Vec<u8>,
}

/// The control plane's answer: KES's status and body, and on success the sequence number
/// that carries the change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub status: u16,
    pub seq: Option<u64>,
    pub body: Vec<u8>,
}

#[derive(Debug, thiserror::Error)]
pub enum ForwardError {
    #[error("no control plane is configured")]
    NoControlPlane,
    #[error("too many calls to the control plane in flight")]
    Busy,
    #[error("control plane: {0}")]
    Open(#[from] replica::OpenError),
    #[error("reading the control plane's answer: {0}")]
    Read(std::io::Error),
    #[error("the control plane refused the replication credentials ({0})")]
    Credentials(u16),
    #[error("no answer from the control plane within {0:?}")]
    TimedOut(Duration),
    #[error("starting the forwarding thread: {0}")]
    Thread(std::io::Error),
}

/// Where mutations go.
#[derive(Debug)]
pub struct Forwarder {
    upstream: Option<Upstreams>,
    pub timeout: Duration,
    in_flight: AtomicUsize,
}

impl Forwarder {
    pub fn new(upstream: Option<Upstreams>, timeout: Duration) -> Self {
        Self {
            upstream,
            timeout,
            in_flight: AtomicUsize::new(0),
        }
    }

    /// Sends `call`; resolves within the forward timeout (plus a poll).
    pub async fn call(self: &Arc<Self>, call: Call) -> Result<Reply, ForwardError> {
        if self.upstream.is_none() {
            return Err(ForwardError::NoControlPlane);
        }
        if self.in_flight.fetch_add(1, Ordering::Relaxed) >= MAX_IN_FLIGHT {
            self.in_flight.fetch_sub(1, Ordering::Relaxed);
            return Err(ForwardError::Busy);
        }
        let slot: Arc<Mutex<Option<Result<Reply, ForwardError>>>> = Arc::default();
        let (me, result) = (self.clone(), slot.clone());
        let spawned = std::thread::Builder::new()
            .name("sigil-kes-forward".into())
            .spawn(move || {
                let r = me.send(&call);
                me.in_flight.fetch_sub(1, Ordering::Relaxed);
                *result.lock().unwrap_or_else(|p| p.into_inner()) = Some(r);
            });
        if let Err(e) = spawned {
            self.in_flight.fetch_sub(1, Ordering::Relaxed);
            return Err(ForwardError::Thread(e));
        }
        let deadline = Instant::now() + self.timeout + POLL;
        loop {
            if let Some(r) = slot.lock().unwrap_or_else(|p| p.into_inner()).take() {
                return r;
            }
            if Instant::now() >= deadline {
                return Err(ForwardError::TimedOut(self.timeout));
            }
            monoio::time::sleep(POLL).await;
        }
    }

    /// The blocking request (on the forwarding thread).
    fn send(&self, call: &Call) -> Result<Reply, ForwardError> {
        use std::io::Read;
        let upstream = self
            .upstream
            .as_ref()
            .ok_or(ForwardError::NoControlPlane)?
            .active();
        let path = format!("/api/v1/replication/kes{}", call.path);
        let admin = if call.admin { "true" } else { "false" };
        let headers = [
            ("X-Sigil-Kes-Identity", call.identity.as_str()),
            ("X-Sigil-Kes-Admin", admin),
            ("Content-Type", "application/json"),
        ];
        let resp = replica::request(
            upstream,
            (call.method, &path),
            &headers,
            &call.body,
            self.timeout,
        )?;
        if resp.status == 401 {
            return Err(ForwardError::Credentials(resp.status));
        }
        let status = resp.status;
        let seq = resp.header("x-sigil-seq").and_then(|v| v.parse().ok());
        let mut body = Vec::new();
        resp.body
            .take(MAX_REPLY)
            .read_to_end(&mut body)
            .map_err(ForwardError::Read)?;
        Ok(Reply { status, seq, body })
    }
}
