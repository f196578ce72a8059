//! The key service's [`Handler`]: KES's checks in KES's order — route and method, body size,
//! client certificate (identity), policy — then the operation: reads and cryptography from
//! the core's keyring at once, mutations forwarded to the control plane as deferred responses.

use std::borrow::Cow;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Instant;

use sigil_kes::identity::Identity;

use super::forward::{Call, ForwardError, Forwarder, POLL};
use super::keyring::Keyring;
use super::logs::LogHub;
use super::routes::{method_name, route, Auth, Op, RouteDef, Routed};
use super::stats::KesStats;
use super::wire::error_body;
use crate::core::CoreState;
use crate::http::{Deferred, DeferredResponse, Handler, Request, ResponseWriter};

/// What every core's key-service handler shares.
#[derive(Debug)]
pub struct KesShared {
    /// The identity that bypasses policies.
    pub admin: Option<String>,
    pub forwarder: Arc<Forwarder>,
    /// Every core's counters (for `/v1/metrics`), indexed by core.
    pub stats: Vec<Arc<KesStats>>,
    pub started: Instant,
    /// KES's audit and error log streams.
    pub audit: Arc<LogHub>,
    pub errors: Arc<LogHub>,
}

/// KES's audit event for one request.
fn audit_event(
    addr: Option<std::net::SocketAddr>,
    path: &str,
    identity: &str,
    status: u16,
    elapsed: std::time::Duration,
) -> Vec<u8> {
    let ip = addr.map(|a| a.ip().to_string()).unwrap_or_default();
    super::wire::json_body(&serde_json::json!({
        "time": sigil_shared::time::rfc3339(sigil_shared::time::now_unix()),
        "request": { "ip": ip, "path": path, "identity": identity },
        "response": { "code": status, "time": elapsed.as_nanos() as u64 },
    }))
    .trim_ascii_end()
    .to_vec()
}

/// KES's error event.
pub(super) fn error_event(message: &str) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({ "message": message })).unwrap_or_default()
}

/// One core's key-service handler.
pub struct KesHandler {
    pub(super) core: Rc<CoreState>,
    pub(super) shared: Arc<KesShared>,
    pub(super) stats: Arc<KesStats>,
    pub(super) rng: aws_lc_rs::rand::SystemRandom,
    /// Served until the first keyring arrives.
    empty: Arc<Keyring>,
}

/// A failure as KES answers it.
pub(super) struct Fail(pub u16, pub Cow<'static, str>);

pub(super) const NOT_ALLOWED: Fail = Fail(
    403,
    Cow::Borrowed("not authorized: insufficient permissions"),
);
pub(super) const KEY_NOT_FOUND: Fail = Fail(404, Cow::Borrowed("key does not exist"));

impl KesHandler {
    pub fn new(core: Rc<CoreState>, shared: Arc<KesShared>, index: usize) -> Self {
        let stats = shared.stats[index].clone();
        Self {
            core,
            shared,
            stats,
            rng: aws_lc_rs::rand::SystemRandom::new(),
            empty: Arc::default(),
        }
    }
}

impl Handler for KesHandler {
    fn handle(&self, req: &Request<'_>, resp: &mut ResponseWriter<'_>) {
        self.core.sync();
        if let Some(status) = self.dispatch(req, resp) {
            let elapsed = req.received.elapsed();
            self.stats.record(status, elapsed);
            self.audit(req, status, elapsed);
        }
    }
}

impl KesHandler {
    /// Publishes the request's audit event (when someone listens).
    fn audit(&self, req: &Request<'_>, status: u16, elapsed: std::time::Duration) {
        let published = self.shared.audit.publish(|| {
            let path = req.target.split('?').next().unwrap_or("");
            let identity = req.peer.memo.get().map_or("", |i| &**i);
            audit_event(req.peer.addr, path, identity, status, elapsed)
        });
        if published {
            super::stats::inc(&self.stats.audit_events, 1);
        }
    }
}

/// Writes KES's error answer; returns its status.
pub(super) fn fail(resp: &mut ResponseWriter<'_>, status: u16, message: &str) -> u16 {
    resp.respond(
        status,
        &[("Content-Type", b"application/json")],
        &error_body(message),
    );
    status
}

/// Writes a JSON answer (200).
pub(super) fn reply_json(resp: &mut ResponseWriter<'_>, body: &[u8]) -> u16 {
    resp.respond(200, &[("Content-Type", b"application/json")], body);
    200
}

/// KES's answer to a name it does not accept.
pub(super) fn invalid_name(what: &str, name: &str) -> Fail {
    Fail(
        400,
        format!("{what} name '{name}' is empty, too long or contains invalid characters").into(),
    )
}

/// KES's answer to a list pattern it does not accept.
pub(super) fn invalid_pattern(pattern: &str) -> Fail {
    Fail(
        400,
        format!("listing pattern '{pattern}' is empty, too long or is invalid").into(),
    )
}

/// The caller's identity: KES takes the first certificate the client presented.
fn identify<'p>(req: &Request<'p>) -> Result<&'p str, Fail> {
    let peer = req.peer;
    if !peer.tls {
        return Err(Fail(
            400,
            Cow::Borrowed("insecure connection: TLS is required"),
        ));
    }
    if let Some(id) = peer.memo.get() {
        return Ok(id);
    }
    let cert = peer.certificates.first().ok_or(Fail(
        400,
        Cow::Borrowed("tls: client certificate is required"),
    ))?;
    let id = Identity::of_certificate(cert).map_err(|_| {
        Fail(
            400,
            Cow::Borrowed("tls: client certificate is not a valid X.509 certificate"),
        )
    })?;
    Ok(peer.memo.get_or_init(|| id.as_str().into()))
}

impl KesHandler {
    /// Answers `req`; the status, or `None` when the answer is deferred (counted when it is
    /// written).
    fn dispatch(&self, req: &Request<'_>, resp: &mut ResponseWriter<'_>) -> Option<u16> {
        let path = req.target.split('?').next().unwrap_or("");
        let (def, resource) = match route(req.method, path) {
            Routed::Found(def, resource) => (def, resource),
            Routed::WrongMethod(def) => {
                let message = format!(
                    "received method '{}' expected '{}'",
                    method_name(req.method),
                    method_name(def.method)
                );
                resp.respond(
                    405,
                    &[
                        ("Content-Type", b"application/json"),
                        ("Accept", method_name(def.method).as_bytes()),
                    ],
                    &error_body(&message),
                );
                return Some(405);
            }
            Routed::NotFound => return Some(fail(resp, 404, "not found")),
        };
        // Bodies beyond 1 MiB (KES's limit) were refused by the HTTP layer (413); KES reads
        // none where it expects none, and neither does this.
        let identity = match def.auth {
            Auth::None => "",
            Auth::Identity | Auth::Policy => match identify(req) {
                Ok(id) => id,
                Err(Fail(status, message)) => return Some(fail(resp, status, &message)),
            },
        };
        let admin = self.shared.admin.as_deref() == Some(identity) && !identity.is_empty();
        let ring = self.core.keyring().unwrap_or_else(|| self.empty.clone());
        let ring: &Keyring = &ring;
        if def.auth == Auth::Policy && !admin && !ring.allows(identity, path) {
            return Some(fail(resp, NOT_ALLOWED.0, &NOT_ALLOWED.1));
        }
        if let Op::LogAudit | Op::LogError = def.op {
            let hub = if def.op == Op::LogAudit {
                &self.shared.audit
            } else {
                &self.shared.errors
            };
            let subscription = hub.subscribe();
            resp.defer(Box::pin(async move {
                DeferredResponse {
                    status: 200,
                    headers: vec![("Content-Type", b"application/x-ndjson".to_vec())],
                    body: Vec::new(),
                    stream: Some(Box::new(subscription)),
                }
            }));
            self.stats.record(200, req.received.elapsed());
            return None;
        }
        if def.mutation {
            return match self.check_mutation(def, resource, identity) {
                Err(Fail(status, message)) => Some(fail(resp, status, &message)),
                Ok(()) => {
                    resp.defer(self.forward(req, def, path, identity, admin));
                    None
                }
            };
        }
        let ctx = Ctx {
            req,
            resource,
            identity,
            admin,
            ring,
        };
        Some(match self.answer(def.op, &ctx, resp) {
            Ok(status) => status,
            Err(Fail(status, message)) => fail(resp, status, &message),
        })
    }

    /// What KES checks locally before a mutation goes anywhere.
    fn check_mutation(&self, def: &RouteDef, resource: &str, identity: &str) -> Result<(), Fail> {
        match def.op {
            Op::IdentityAssign => {
                let (_, target) = resource.split_once('/').unwrap_or((resource, ""));
                if target == identity {
                    return Err(Fail(
                        403,
                        Cow::Borrowed("identity cannot assign policy to itself"),
                    ));
                }
            }
            Op::KeyCreate | Op::KeyImport | Op::KeyDelete
                if !sigil_kes::name::valid_name(resource) =>
            {
                return Err(invalid_name("key", resource));
            }
            _ => {}
        }
        Ok(())
    }

    /// The deferred answer of a mutation: the control plane's, once applied here.
    fn forward(
        &self,
        req: &Request<'_>,
        def: &RouteDef,
        path: &str,
        identity: &str,
        admin: bool,
    ) -> Deferred {
        let call = Call {
            method: method_name(def.method),
            path: path.to_string(),
            identity: identity.to_string(),
            admin,
            body: req.body.to_vec(),
        };
        let (core, forwarder, stats) = (
            self.core.clone(),
            self.shared.forwarder.clone(),
            self.stats.clone(),
        );
        let received = req.received;
        let op = def.op;
        let (audit, errors) = (self.shared.audit.clone(), self.shared.errors.clone());
        let (addr, audit_path, audit_identity) =
            (req.peer.addr, path.to_string(), identity.to_string());
        Box::pin(async move {
            stats.active(true);
            let answer = match forwarder.call(call).await {
                Ok(reply) => {
                    if let (200..=299, Some(seq)) = (reply.status, reply.seq) {
                        wait_applied(&core, seq, Instant::now() + forwarder.timeout).await;
                    }
                    let mut headers = Vec::new();
                    if !reply.body.is_empty() {
                        headers.push(("Content-Type", b"application/json".to_vec()));
                    }
                    DeferredResponse {
                        status: reply.status,
                        headers,
                        body: reply.body,
                        stream: None,
                    }
                }
                Err(e) => {
                    let status = match e {
                        ForwardError::TimedOut(_) => 504,
                        ForwardError::Busy => 503,
                        _ => 502,
                    };
                    tracing::warn!(error = %e, ?op, "key-service change not forwarded to the control plane");
                    if errors.publish(|| error_event(&format!("{op:?}: {e}"))) {
                        super::stats::inc(&stats.error_events, 1);
                    }
                    DeferredResponse {
                        status,
                        headers: vec![("Content-Type", b"application/json".to_vec())],
                        body: error_body(unreachable_message(op)),
                        stream: None,
                    }
                }
            };
            stats.active(false);
            let elapsed = received.elapsed();
            stats.record(answer.status, elapsed);
            if audit
                .publish(|| audit_event(addr, &audit_path, &audit_identity, answer.status, elapsed))
            {
                super::stats::inc(&stats.audit_events, 1);
            }
            answer
        })
    }
}

/// KES's message when its key store cannot be reached, per operation.
fn unreachable_message(op: Op) -> &'static str {
    match op {
        Op::KeyCreate | Op::KeyImport => "failed to create key",
        Op::KeyDelete => "failed to delete key",
        _ => "key store is not reachable",
    }
}

/// Waits until this core serves a keyring that includes sequence `seq`, or `deadline`.
async fn wait_applied(core: &CoreState, seq: u64, deadline: Instant) {
    loop {
        core.sync();
        if core.keyring().is_some_and(|k| k.seq >= seq) {
            return;
        }
        if Instant::now() >= deadline {
            tracing::warn!(
                seq,
                "a forwarded change committed but is not applied here yet"
            );
            return;
        }
        monoio::time::sleep(POLL).await;
    }
}

/// What an operation needs of its request.
pub(super) struct Ctx<'a, 'r> {
    pub req: &'a Request<'r>,
    pub resource: &'a str,
    pub identity: &'a str,
    pub admin: bool,
    pub ring: &'a Keyring,
}
