//! A blocking subscriber of `GET /api/v1/replication/stream?after=N`.

use std::io::Read;
use std::time::{Duration, Instant};

use sigil_shared::ocsp::HashAlg;
use sigil_shared::replication::{Change, Frame, OcspEntry};

use crate::{ControlPlane, REPLICATION_TOKEN};

/// Path of the stream for position `after`.
pub fn stream_path(after: u64) -> String {
    format!("/api/v1/replication/stream?after={after}")
}

/// An open stream; dropping it closes the connection.
pub struct Subscriber {
    resp: reqwest::blocking::Response,
    buf: Vec<u8>,
    /// Every frame read so far, for failure messages.
    pub log: Vec<String>,
}

impl Subscriber {
    /// Connects with the replication token; panics unless the answer is 200.
    pub fn connect(cp: &ControlPlane, after: u64) -> Self {
        let (status, sub) = Self::connect_with(cp, after, REPLICATION_TOKEN);
        match sub {
            Some(s) if status == 200 => s,
            _ => panic!(
                "GET {} answered {status}\n{}",
                stream_path(after),
                cp.logs()
            ),
        }
    }

    /// Connects with `token`; returns the status and, if 200, the subscriber.
    pub fn connect_with(cp: &ControlPlane, after: u64, token: &str) -> (u16, Option<Self>) {
        // The client-level timeout of a blocking client bounds each read, not the whole body.
        let client = reqwest::blocking::Client::builder()
            .timeout(Duration::from_millis(500))
            .connect_timeout(Duration::from_secs(5))
            .build()
            .expect("http client");
        let mut last_err = None;
        // The 500 ms timeout also bounds waiting for the response head: retry a few times.
        for _ in 0..20 {
            match client
                .get(cp.url(&stream_path(after)))
                .bearer_auth(token)
                .send()
            {
                Ok(resp) => {
                    let status = resp.status().as_u16();
                    if status != 200 {
                        return (status, None);
                    }
                    return (
                        status,
                        Some(Subscriber {
                            resp,
                            buf: Vec::new(),
                            log: Vec::new(),
                        }),
                    );
                }
                Err(e) => last_err = Some(e),
            }
        }
        panic!("GET {}: {:?}\n{}", stream_path(after), last_err, cp.logs());
    }

    /// The next frame, or `None` if none arrived before `deadline`. Panics on end of stream or
    /// an undecodable frame.
    pub fn next_until(&mut self, deadline: Instant) -> Option<Frame> {
        loop {
            match Frame::decode(&self.buf) {
                Ok(Some((frame, used))) => {
                    self.buf.drain(..used);
                    self.log.push(describe(&frame));
                    return Some(frame);
                }
                Ok(None) => {}
                Err(e) => panic!("undecodable frame: {e}; frames so far: {:#?}", self.log),
            }
            if Instant::now() >= deadline {
                return None;
            }
            let mut chunk = [0u8; 64 * 1024];
            match self.resp.read(&mut chunk) {
                Ok(0) => panic!("replication stream ended; frames so far: {:#?}", self.log),
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e) if is_timeout(&e) => {}
                Err(e) => panic!(
                    "reading replication stream: {e}; frames so far: {:#?}",
                    self.log
                ),
            }
        }
    }

    /// The next frame within `timeout`; panics if none arrives.
    pub fn next(&mut self, timeout: Duration) -> Frame {
        match self.next_until(Instant::now() + timeout) {
            Some(f) => f,
            None => panic!(
                "no frame within {timeout:?}; frames so far: {:#?}",
                self.log
            ),
        }
    }

    /// The next frame that is not a heartbeat.
    pub fn next_non_heartbeat(&mut self, timeout: Duration) -> Frame {
        let deadline = Instant::now() + timeout;
        loop {
            match self.next_until(deadline) {
                Some(Frame::Heartbeat { .. }) => {}
                Some(f) => return f,
                None => panic!(
                    "no non-heartbeat frame within {timeout:?}; frames so far: {:#?}",
                    self.log
                ),
            }
        }
    }

    /// Reads the Hello frame: `(head, oldest_retained, snapshot)`.
    pub fn hello(&mut self) -> (u64, u64, bool) {
        match self.next(Duration::from_secs(10)) {
            Frame::Hello {
                version,
                head,
                oldest_retained,
                snapshot,
            } => {
                assert_eq!(
                    version,
                    sigil_shared::replication::PROTOCOL_VERSION,
                    "protocol version"
                );
                (head, oldest_retained, snapshot)
            }
            other => panic!("first frame is not Hello: {other:?}"),
        }
    }
}

fn is_timeout(e: &std::io::Error) -> bool {
    if e.kind() == std::io::ErrorKind::TimedOut {
        return true;
    }
    let mut src: Option<&(dyn std::error::Error + 'static)> = e.get_ref().map(|r| r as _);
    while let Some(s) = src {
        if let Some(r) = s.downcast_ref::<reqwest::Error>() {
            if r.is_timeout() {
                return true;
            }
        }
        if let Some(io) = s.downcast_ref::<std::io::Error>() {
            if io.kind() == std::io::ErrorKind::TimedOut {
                return true;
            }
        }
        src = s.source();
    }
    e.to_string().contains("timed out")
}

/// The current head: connect at 0, read Hello, disconnect.
pub fn current_head(cp: &ControlPlane) -> u64 {
    Subscriber::connect(cp, 0).hello().0
}

/// One line describing a frame (without the DER blobs).
pub fn describe(f: &Frame) -> String {
    match f {
        Frame::Record(r) => format!("Record seq={} {}", r.seq, describe_change(&r.change)),
        Frame::SnapshotItem(c) => format!("SnapshotItem {}", describe_change(c)),
        other => format!("{other:?}"),
    }
}

pub fn describe_change(c: &Change) -> String {
    match c {
        Change::CaPut(ca) => format!("CaPut {} ({})", ca.issuer_id, ca.name),
        Change::CaDelete { issuer_id } => format!("CaDelete {issuer_id}"),
        Change::OcspPut(e) => format!(
            "OcspPut issuer={} alg={:?} serial={}",
            e.issuer_id,
            e.key.alg(),
            crate::pki::hex_encode(e.key.serial())
        ),
        Change::OcspDelete { key } => {
            format!("OcspDelete serial={}", crate::pki::hex_encode(key.serial()))
        }
        Change::CrlPut(c) => format!("CrlPut {} #{}", c.issuer_id, c.number),
        Change::KesKeyPut(k) => format!("KesKeyPut {} (v{})", k.name, k.versions.len()),
        Change::KesKeyDelete { name } => format!("KesKeyDelete {name}"),
        Change::KesPolicyPut(p) => format!("KesPolicyPut {}", p.name),
        Change::KesPolicyDelete { name } => format!("KesPolicyDelete {name}"),
        Change::KesIdentityPut(i) => format!("KesIdentityPut {} → {}", i.identity, i.policy),
        Change::KesIdentityDelete { identity } => format!("KesIdentityDelete {identity}"),
        Change::SshUserPut(u) => format!("SshUserPut {} ({} keys)", u.username, u.keys.len()),
        Change::SshUserDelete { username } => format!("SshUserDelete {username}"),
        Change::SshHostPut(h) => format!("SshHostPut {}", h.hostname),
        Change::SshHostDelete { hostname } => format!("SshHostDelete {hostname}"),
        Change::SshGroupPut(g) => format!("SshGroupPut {}", g.name),
        Change::SshGroupDelete { name } => format!("SshGroupDelete {name}"),
        Change::SshCaPut(c) => format!("SshCaPut {:?}", c.kind),
        Change::SshKrlPut(k) => format!("SshKrlPut v{}", k.version),
    }
}

/// The OcspPut in `c` for `serial` (leading zeros ignored) and `alg`, if it is one.
pub fn ocsp_put_for<'a>(c: &'a Change, serial: &[u8], alg: HashAlg) -> Option<&'a OcspEntry> {
    match c {
        Change::OcspPut(e)
            if e.key.alg() == Some(alg) && crate::pki::strip_zeros(e.key.serial()) == serial =>
        {
            Some(e)
        }
        _ => None,
    }
}
