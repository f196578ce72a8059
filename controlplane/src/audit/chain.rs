//! The audit chain (sans-io): each record carries the SHA-256 of its predecessor, and its own
//! hash covers that link and every field, so changing, removing or reordering a stored record
//! breaks the chain from that point on (UCM's "Verify Audit Log Integrity" semantics).
//!
//! `hash = SHA-256("sigil-audit-v1" ‖ postcard(AuditBody))`, where the body includes `prev`
//! (the previous record's hash; 32 zero bytes for record 1) and `id` (1, 2, 3, … with no gaps).

use aws_lc_rs::digest;
use serde::{Deserialize, Serialize};

/// Who did it, what, to what, from where, with which result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEvent {
    /// Authenticated identity: `bearer:admin`, `apikey:<id>`, `mtls:<subject>`, `otp:<entity>`,
    /// `system`, or `anonymous` for failed authentication.
    pub actor: String,
    /// certctl's `ActorType`: `User`, `System` or `Agent`.
    pub actor_type: String,
    /// e.g. `certificate.issue`, `certificate.revoke`, `otp.use`, `auth.failure`.
    pub action: String,
    pub resource_type: String,
    pub resource_id: String,
    pub success: bool,
    /// Client address (`ip:port`) or empty for the system.
    pub source: String,
    /// Free-form JSON object with the request's relevant details (never secrets).
    pub details: String,
}

/// A stored record: the event, its position and time, and the chain links.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditRecord {
    pub id: u64,
    /// Unix time in microseconds.
    pub time_us: i64,
    pub event: AuditEvent,
    pub prev: [u8; 32],
    pub hash: [u8; 32],
}

#[derive(Serialize)]
struct AuditBody<'a> {
    id: u64,
    time_us: i64,
    event: &'a AuditEvent,
    prev: &'a [u8; 32],
}

const DOMAIN: &[u8] = b"sigil-audit-v1";

/// The hash a record with these fields must carry.
pub fn record_hash(id: u64, time_us: i64, event: &AuditEvent, prev: &[u8; 32]) -> [u8; 32] {
    let body = postcard::to_stdvec(&AuditBody {
        id,
        time_us,
        event,
        prev,
    })
    .unwrap_or_default();
    let mut ctx = digest::Context::new(&digest::SHA256);
    ctx.update(DOMAIN);
    ctx.update(&body);
    let mut out = [0u8; 32];
    out.copy_from_slice(ctx.finish().as_ref());
    out
}

/// The record following `prev` (id and hash of the last record, or `(0, [0; 32])`).
pub fn next_record(prev: (u64, [u8; 32]), time_us: i64, event: AuditEvent) -> AuditRecord {
    let id = prev.0 + 1;
    let hash = record_hash(id, time_us, &event, &prev.1);
    AuditRecord {
        id,
        time_us,
        event,
        prev: prev.1,
        hash,
    }
}

/// One problem found by [`Verifier`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChainError {
    pub id: u64,
    pub error: String,
}

/// Checks records fed in storage order; `{valid, checked, errors}` like UCM's verify.
#[derive(Debug, Default)]
pub struct Verifier {
    expect: Expect,
    pub checked: u64,
    pub errors: Vec<ChainError>,
}

#[derive(Debug, Default, Clone, Copy)]
enum Expect {
    /// The first record of the log: id 1, linked to 32 zero bytes.
    #[default]
    Start,
    /// The record after this (id, hash).
    After(u64, [u8; 32]),
    /// After the record with this id, which could not be read: the next id, whatever its link.
    Resync(u64),
}

/// At most this many errors are listed (the count of checked records is always complete).
const MAX_ERRORS: usize = 100;

impl Verifier {
    /// Starts after a record known to be good (id and hash).
    pub fn after(id: u64, hash: [u8; 32]) -> Self {
        Self {
            expect: Expect::After(id, hash),
            ..Self::default()
        }
    }

    fn error(&mut self, id: u64, error: String) {
        if self.errors.len() < MAX_ERRORS {
            self.errors.push(ChainError { id, error });
        }
    }

    /// Checks the record stored under `key_id` (its position in the column family).
    pub fn check(&mut self, key_id: u64, rec: &AuditRecord) {
        self.checked += 1;
        if rec.id != key_id {
            self.error(
                key_id,
                format!("stored under id {key_id} but claims id {}", rec.id),
            );
        }
        let (expected_id, expected_prev) = match self.expect {
            Expect::Start => (1, [0; 32]),
            Expect::After(id, hash) => (id + 1, hash),
            Expect::Resync(id) => (id + 1, rec.prev),
        };
        if key_id > expected_id {
            self.error(
                key_id,
                format!("records {expected_id}..{} are missing", key_id - 1),
            );
        } else if key_id < expected_id {
            self.error(key_id, format!("out of order: expected id {expected_id}"));
        } else if rec.prev != expected_prev {
            self.error(key_id, "link to the previous record is broken".into());
        }
        if record_hash(rec.id, rec.time_us, &rec.event, &rec.prev) != rec.hash {
            self.error(key_id, "content does not match its hash (modified)".into());
        }
        self.expect = Expect::After(key_id, rec.hash);
    }

    /// A record that could not be decoded at all.
    pub fn undecodable(&mut self, key_id: u64, detail: &str) {
        self.checked += 1;
        self.error(key_id, format!("undecodable record: {detail}"));
        // The chain cannot be followed through it: the next record's link is not checked.
        self.expect = Expect::Resync(key_id);
    }

    pub fn valid(&self) -> bool {
        self.errors.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(i: u64) -> AuditEvent {
        AuditEvent {
            actor: "bearer:admin".into(),
            actor_type: "User".into(),
            action: "certificate.revoke".into(),
            resource_type: "certificate".into(),
            resource_id: format!("{i:x}"),
            success: true,
            source: "127.0.0.1:5000".into(),
            details: "{\"reason\":\"keyCompromise\"}".into(),
        }
    }

    fn chain(n: u64) -> Vec<AuditRecord> {
        let mut out: Vec<AuditRecord> = Vec::new();
        for i in 0..n {
            let prev = out.last().map_or((0, [0; 32]), |r| (r.id, r.hash));
            out.push(next_record(
                prev,
                1_700_000_000_000_000 + i as i64,
                event(i),
            ));
        }
        out
    }

    fn verify(records: &[AuditRecord]) -> Verifier {
        let mut v = Verifier::default();
        for r in records {
            v.check(r.id, r);
        }
        v
    }

    #[test]
    fn an_untouched_chain_verifies() {
        let v = verify(&chain(50));
        assert!(v.valid(), "{:?}", v.errors);
        assert_eq!(v.checked, 50);
    }

    #[test]
    fn modification_removal_and_reordering_are_detected() {
        let mut c = chain(10);
        c[4].event.success = false;
        let v = verify(&c);
        assert_eq!(v.errors.len(), 1);
        assert_eq!(v.errors[0].id, 5);
        assert!(v.errors[0].error.contains("modified"));

        // A modified record whose hash was recomputed breaks the next link instead.
        let mut c = chain(10);
        c[4].event.actor = "someone-else".into();
        c[4].hash = record_hash(c[4].id, c[4].time_us, &c[4].event, &c[4].prev);
        let v = verify(&c);
        assert_eq!(v.errors[0].id, 6);
        assert!(v.errors[0].error.contains("link"));

        let mut c = chain(10);
        c.remove(3);
        let v = verify(&c);
        assert_eq!(v.errors[0].id, 5);
        assert!(v.errors[0].error.contains("missing"));

        let mut c = chain(10);
        c.swap(2, 3);
        assert!(!verify(&c).valid());

        // Records removed from the front of the log.
        let c = chain(10);
        let v = verify(&c[2..]);
        assert_eq!(v.errors[0].id, 3);
        assert!(v.errors[0].error.contains("missing"));
    }

    #[test]
    fn verification_can_start_after_a_trusted_record() {
        let c = chain(10);
        let mut v = Verifier::after(c[5].id, c[5].hash);
        for r in &c[6..] {
            v.check(r.id, r);
        }
        assert!(v.valid() && v.checked == 4);
    }
}
