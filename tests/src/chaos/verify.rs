//! Checking a restarted control plane against the chaos ledger: every acknowledged change is
//! there; a refused one is not; an unanswered one is wholly there or wholly absent (a
//! certificate always with its OCSP responses, whose status agrees with the certificate's, and
//! its audit record; an OTP never used twice); the audit chain verifies; the retained
//! replication log has no gap.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::Value;

use super::{Entry, Op, Outcome};
use crate::stream::Subscriber;
use crate::ControlPlane;

/// What one verification looked at.
#[derive(Debug, Default, Clone, Copy)]
pub struct Checked {
    /// Ledger entries checked (each change asked for).
    pub changes: usize,
    /// Of which acknowledged.
    pub acked: usize,
    /// Of which unanswered (the kill hit them).
    pub unanswered: usize,
    /// Certificates whose OCSP responses were read and compared with their status.
    pub certificates: usize,
    /// Replication log records read back in order.
    pub log_records: u64,
}

/// Possible states of a named thing after a sequence of create/delete outcomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Presence {
    Present,
    Absent,
    Either,
}

fn after_create(p: Presence, o: &Outcome) -> Presence {
    match o {
        Outcome::Acked(_) => Presence::Present,
        Outcome::NoAnswer if p == Presence::Absent => Presence::Either,
        _ => p,
    }
}

fn after_delete(p: Presence, o: &Outcome) -> Presence {
    match o {
        Outcome::Acked(_) => Presence::Absent,
        Outcome::NoAnswer if p == Presence::Present => Presence::Either,
        _ => p,
    }
}

fn check_presence(what: &str, expected: Presence, present: bool) {
    match (expected, present) {
        (Presence::Present, false) => panic!("{what}: acknowledged but missing"),
        (Presence::Absent, true) => {
            panic!("{what}: present, but refused or deleted (acknowledged)")
        }
        _ => {}
    }
}

/// Certificates with subject `CN=cn` (`GET /api/v1/certificates?subject=`).
fn certs_with_cn(cp: &ControlPlane, cn: &str) -> Vec<Value> {
    let (status, v) = cp.api(
        "GET",
        &format!("/api/v1/certificates?subject={cn}&per_page=100"),
        None,
    );
    assert_eq!(status, 200, "list certificates: {v}");
    v["data"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .filter(|c| {
            c["subject"]
                .as_str()
                .is_some_and(|s| s.split(',').any(|rdn| rdn.trim() == format!("CN={cn}")))
        })
        .collect()
}

/// `openssl ocsp -respin` of a stored response: `good` / `revoked` / `unknown`.
fn ocsp_status(cp: &ControlPlane, id: &str) -> String {
    let der = cp.ocsp(id, "sha256");
    let _sha1 = cp.ocsp(id, "sha1");
    let path = crate::pki::unique_path(&cp.work_dir(), "chaos-ocsp", "der");
    crate::write_file(&path, der);
    let out = crate::run(
        "openssl",
        &[
            "ocsp",
            "-respin",
            path.to_str().unwrap(),
            "-resp_text",
            "-noverify",
        ],
    );
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let _ = std::fs::remove_file(&path);
    text.lines()
        .find_map(|l| l.trim().strip_prefix("Cert Status: "))
        .unwrap_or_else(|| panic!("no Cert Status in {text}"))
        .trim()
        .to_owned()
}

/// Certificate `id` is whole: its OCSP responses (both hashes) exist and agree with its
/// status, and an audit record names it. Returns whether it is revoked.
fn check_certificate(cp: &ControlPlane, id: &str) -> bool {
    let (status, c) = cp.api("GET", &format!("/api/v1/certificates/{id}"), None);
    assert_eq!(status, 200, "certificate {id}: {c}");
    let revoked = c["status"] == "revoked";
    let ocsp = ocsp_status(cp, id);
    assert_eq!(
        ocsp,
        if revoked { "revoked" } else { "good" },
        "certificate {id} is {} but its OCSP response says {ocsp}",
        c["status"]
    );
    let (s, audit) = cp.api("GET", &format!("/api/v1/audit?resource_id={id}"), None);
    assert_eq!(s, 200, "{audit}");
    assert!(
        audit["total"].as_u64().unwrap_or(0) >= 1,
        "certificate {id} has no audit record: {audit}"
    );
    revoked
}

/// Checks the control plane against the whole `ledger` (no change may run meanwhile).
pub fn verify(cp: &ControlPlane, ledger: &[Entry]) -> Checked {
    verify_since(cp, ledger, 0)
}

/// Checks what the changes `ledger[since..]` touched (each judged by the whole ledger's
/// history of what it names), and the global promises (audit chain, log without gaps). Long
/// runs check the changes since the last kill after every restart, and everything at the end.
pub fn verify_since(cp: &ControlPlane, ledger: &[Entry], since: usize) -> Checked {
    let window = &ledger[since.min(ledger.len())..];
    let mut out = Checked {
        changes: window.len(),
        acked: window.iter().filter(|e| e.outcome.acked()).count(),
        unanswered: window
            .iter()
            .filter(|e| e.outcome == Outcome::NoAnswer)
            .count(),
        ..Checked::default()
    };
    // Per name: its possible states and the index of the last change that touched it.
    let mut kes_keys: BTreeMap<&str, (Presence, usize)> = BTreeMap::new();
    let mut ssh_users: BTreeMap<&str, (Presence, usize)> = BTreeMap::new();
    let mut policies: BTreeMap<&str, (Vec<Option<&str>>, usize)> = BTreeMap::new();
    let mut revoked_acked: Vec<&str> = Vec::new();
    let mut otp_uses: BTreeMap<&str, (Vec<&Outcome>, usize)> = BTreeMap::new();
    // Entities whose enrollment got no answer.
    let cut_short: std::collections::BTreeSet<&str> = ledger
        .iter()
        .filter_map(|e| match (&e.op, &e.outcome) {
            (Op::OtpUse { entity, .. }, Outcome::NoAnswer) => Some(entity.as_str()),
            _ => None,
        })
        .collect();
    for (i, e) in ledger.iter().enumerate() {
        let fresh = i >= since;
        match (&e.op, &e.outcome) {
            (Op::Issue { .. }, _) | (Op::ApiKeyCreate { .. }, _) if !fresh => {}
            (Op::Issue { cn }, o) => {
                let found = certs_with_cn(cp, cn);
                match o {
                    Outcome::Acked(v) => {
                        assert_eq!(found.len(), 1, "issued {cn} (acknowledged): {found:?}");
                        assert_eq!(found[0]["id"], v["id"], "{cn}");
                    }
                    Outcome::Refused(..) => assert!(found.is_empty(), "{cn} refused: {found:?}"),
                    Outcome::NoAnswer => assert!(found.len() <= 1, "{cn} twice: {found:?}"),
                }
                for c in &found {
                    check_certificate(cp, c["id"].as_str().unwrap());
                    out.certificates += 1;
                }
            }
            (Op::Revoke { cert_id }, Outcome::Acked(_)) if fresh => revoked_acked.push(cert_id),
            (Op::BulkRevoke { cert_ids }, Outcome::Acked(_)) if fresh => {
                revoked_acked.extend(cert_ids.iter().map(String::as_str));
            }
            (Op::OtpCreate { entity }, o) => {
                otp_uses.entry(entity).or_default().1 = i;
                if !fresh {
                    continue;
                }
                let (s, list) = cp.api("GET", "/admin/otp", None);
                assert_eq!(s, 200, "{list}");
                let listed = list
                    .as_array()
                    .is_some_and(|l| l.iter().any(|x| x["entity_id"] == entity.as_str()));
                let used = !certs_with_cn(cp, entity).is_empty();
                match o {
                    // Spent by an enrollment the kill cut short: EST consumes the OTP (with its
                    // audit record) in a synced batch of its own before issuing, so that a
                    // 1-use OTP never yields two certificates (src/est/service.rs); the
                    // certificate may then be missing, the audit record never.
                    Outcome::Acked(v)
                        if !listed && !used && cut_short.contains(entity.as_str()) =>
                    {
                        let id = v["id"].as_str().unwrap_or_default();
                        let (s, a) = cp.api(
                            "GET",
                            &format!("/api/v1/audit?action=otp.use&resource_id={id}"),
                            None,
                        );
                        assert_eq!(s, 200, "{a}");
                        assert!(
                            a["total"].as_u64().unwrap_or(0) >= 1,
                            "OTP for {entity} spent without its otp.use audit record: {a}"
                        );
                    }
                    Outcome::Acked(_) => {
                        assert!(listed || used, "OTP for {entity} (acknowledged) missing")
                    }
                    Outcome::Refused(..) => assert!(!listed && !used, "OTP {entity} refused"),
                    Outcome::NoAnswer => {}
                }
            }
            (Op::OtpUse { entity, .. }, o) => {
                let u = otp_uses.entry(entity).or_default();
                u.0.push(o);
                u.1 = i;
            }
            (Op::ApiKeyCreate { name }, o) => {
                let (s, list) = cp.api("GET", "/api/v1/apikeys", None);
                assert_eq!(s, 200, "{list}");
                let listed = list["data"]
                    .as_array()
                    .is_some_and(|l| l.iter().any(|k| k["name"] == name.as_str()));
                match o {
                    Outcome::Acked(v) => {
                        assert!(listed, "API key {name} (acknowledged) missing");
                        let key = v["data"]["key"].as_str().expect("key shown once");
                        let r = cp.request("GET", "/api/v1/certificates", Some(key), None, None);
                        assert_eq!(r.status, 200, "API key {name} does not work");
                    }
                    Outcome::Refused(..) => assert!(!listed, "API key {name} refused"),
                    Outcome::NoAnswer => {}
                }
            }
            (Op::KesKeyCreate { name }, o) => {
                let p = kes_keys.entry(name).or_insert((Presence::Absent, i));
                *p = (after_create(p.0, o), i);
            }
            (Op::KesKeyDelete { name }, o) => {
                let p = kes_keys.entry(name).or_insert((Presence::Absent, i));
                *p = (after_delete(p.0, o), i);
            }
            (Op::KesPolicyPut { name, allow }, o) => {
                let v = policies.entry(name).or_insert_with(|| (vec![None], i));
                v.1 = i;
                match o {
                    Outcome::Acked(_) => v.0 = vec![Some(allow)],
                    Outcome::NoAnswer => v.0.push(Some(allow)),
                    Outcome::Refused(..) => {}
                }
            }
            (Op::SshUserCreate { cn, .. }, o) => {
                let p = ssh_users.entry(cn).or_insert((Presence::Absent, i));
                *p = (after_create(p.0, o), i);
            }
            (Op::SshUserDelete { cn }, o) => {
                let p = ssh_users.entry(cn).or_insert((Presence::Absent, i));
                *p = (after_delete(p.0, o), i);
            }
            _ => {}
        }
    }
    for id in revoked_acked {
        let (s, c) = cp.api("GET", &format!("/api/v1/certificates/{id}"), None);
        assert_eq!(s, 200, "{c}");
        assert_eq!(
            c["status"], "revoked",
            "revocation of {id} acknowledged: {c}"
        );
    }
    // One-use OTPs: at most one certificate per entity, exactly one once a use was answered.
    for (entity, (uses, last)) in &otp_uses {
        if *last < since {
            continue;
        }
        let n = certs_with_cn(cp, entity).len();
        assert!(n <= 1, "OTP for {entity} used {n} times");
        if uses.iter().any(|o| o.acked()) {
            assert_eq!(n, 1, "enrollment of {entity} acknowledged but missing");
        }
        if !uses.is_empty() && uses.iter().all(|o| matches!(o, Outcome::Refused(..))) {
            assert_eq!(n, 0, "enrollment of {entity} refused but present");
        }
    }
    for (name, (p, last)) in kes_keys {
        if last < since {
            continue;
        }
        let (s, v) = cp.api("GET", &format!("/api/v1/kes/keys/{name}"), None);
        assert!(s == 200 || s == 404, "KES key {name}: {s} {v}");
        check_presence(&format!("KES key {name}"), p, s == 200);
    }
    for (name, (allowed, last)) in policies {
        if last < since {
            continue;
        }
        let (s, v) = cp.api("GET", &format!("/api/v1/kes/policies/{name}"), None);
        let got = (s == 200).then(|| v["allow"][0].as_str().unwrap_or_default().to_owned());
        assert!(
            allowed.iter().any(|a| a.map(str::to_owned) == got),
            "KES policy {name}: {got:?} is none of {allowed:?}"
        );
    }
    for (cn, (p, last)) in ssh_users {
        if last < since {
            continue;
        }
        let (s, v) = cp.api("GET", &format!("/api/users/{cn}"), None);
        assert!(s == 200 || s == 404, "SSH user {cn}: {s} {v}");
        check_presence(&format!("SSH user {cn}"), p, s == 200);
        if s == 200 {
            assert_eq!(
                v[0]["sshPublicKeys"].as_array().map(Vec::len),
                Some(1),
                "{v}"
            );
        }
    }
    let (s, audit) = cp.api("GET", "/api/v1/audit/verify", None);
    assert_eq!(s, 200, "{audit}");
    assert_eq!(audit["valid"], true, "audit chain: {audit}");
    out.log_records = check_log(cp);
    out
}

/// Reads the retained replication log back and checks its sequence numbers have no gap.
pub fn check_log(cp: &ControlPlane) -> u64 {
    let (head, oldest, _) = Subscriber::connect(cp, u64::MAX / 2).hello();
    if head == 0 {
        return 0;
    }
    let mut sub = Subscriber::connect(cp, oldest.saturating_sub(1));
    let (_, _, snapshot) = sub.hello();
    assert!(
        !snapshot,
        "asked from the oldest retained record, got a snapshot"
    );
    let mut expected = oldest.max(1);
    while expected <= head {
        match sub.next_non_heartbeat(Duration::from_secs(10)) {
            sigil_shared::replication::Frame::Record(r) => {
                assert_eq!(r.seq, expected, "replication log gap");
                expected += 1;
            }
            other => panic!("unexpected frame {}", crate::stream::describe(&other)),
        }
    }
    head + 1 - oldest.max(1)
}
