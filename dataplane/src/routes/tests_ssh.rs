//! The SSH lookups through the router, over a replica written by `replica::apply_changes`
//! as the replication thread writes it: a change is served once its `Update::Applied` has
//! reached the core, and not from a stale cache after that.

use std::sync::mpsc::{channel, Sender};
use std::sync::Arc;

use sigil_shared::replication::{Change, SshCaKind, SshUserState};
use sigil_shared::time::now_unix;
use sigil_ssh::krl::Krl;
use sigil_ssh::{CaAlgorithm, ParsedKey, SoftwareCa};
use sigil_storage::{Durability, MemStore, Store, WriteBatch};

use super::tests::{call, header, Headers};
use super::*;
use crate::config::IndexConfig;
use crate::replica::apply_changes;
use crate::schema::cf;
use crate::ssh::test_support::*;
use crate::stats::{self, CoreStats};
use crate::updates::{Applied, Update};

struct Dp {
    router: Router,
    updates: Sender<Update>,
    store: Arc<dyn Store>,
    stats: Arc<CoreStats>,
    seq: u64,
}

impl Dp {
    fn new() -> Self {
        let store: Arc<dyn Store> = Arc::new(MemStore::new(cf::ALL));
        let (tx, rx) = channel();
        let stats = Arc::new(CoreStats::default());
        let core = CoreState::new(
            store.clone(),
            rx,
            stats.clone(),
            100,
            1 << 20,
            &IndexConfig::default(),
        )
        .with_ssh_entries(4);
        Dp {
            router: Router::new(Rc::new(core)),
            updates: tx,
            store,
            stats,
            seq: 0,
        }
    }

    /// Writes `changes` to the replica; what they touched is sent to the core by `send`.
    fn apply(&mut self, changes: Vec<Change>) -> Applied {
        self.seq += 1;
        let (mut batch, mut applied) = (WriteBatch::new(), Applied::default());
        apply_changes(&mut batch, changes, Some(self.seq), &mut applied).unwrap();
        applied.seq = self.seq;
        self.store.write(batch, Durability::Buffered).unwrap();
        applied
    }

    fn send(&self, applied: Applied) {
        self.updates
            .send(Update::Applied(Arc::new(applied)))
            .unwrap();
    }

    fn get(&self, target: &str) -> (u16, Headers, Vec<u8>) {
        call(&self.router, Method::Get, target, &[], b"")
    }

    fn body(&self, target: &str) -> String {
        let (status, _, body) = self.get(target);
        assert_eq!(status, 200, "{target}");
        String::from_utf8(body).unwrap()
    }
}

const ALICE_WEB1: &str = "/api/authkeys?username=alice&host=web1";

fn alice(keys: &[(&ParsedKey, Option<i64>)]) -> SshUserState {
    let entries = keys
        .iter()
        .enumerate()
        .map(|(i, (k, exp))| key_entry(k, &format!("k{i}"), &["web"], *exp))
        .collect();
    user("alice", &["web"], entries)
}

#[test]
fn lookups_follow_the_replica() {
    let mut dp = Dp::new();
    // Nothing replicated: empty answers and 404s, and the names remembered as unknown.
    assert_eq!(dp.body(ALICE_WEB1), "");
    for path in [
        "/api/userca",
        "/api/hostca",
        "/api/krlca",
        "/api/usercert?username=alice",
    ] {
        let (status, headers, _) = dp.get(path);
        assert_eq!(status, 404, "{path}");
        assert_eq!(
            header(&headers, "Content-Type"),
            Some(&b"text/plain; charset=utf-8"[..])
        );
    }

    let user_ca = SoftwareCa::generate(CaAlgorithm::Ed25519).unwrap();
    let host_ca = SoftwareCa::generate(CaAlgorithm::Ed25519).unwrap();
    let (k0, k1) = (fresh_key(), fresh_key());
    let later = now_unix() + 86_400;
    let applied = dp.apply(vec![
        Change::SshCaPut(ca_state(&user_ca, SshCaKind::User)),
        Change::SshCaPut(ca_state(&host_ca, SshCaKind::Host)),
        Change::SshKrlPut(krl_state(&Krl::new(1, 0))),
        Change::SshHostPut(host("web1", &["web"])),
        Change::SshUserPut(alice(&[(&k0, None)])),
    ]);
    // Until the core hears of the batch it serves what it cached.
    assert_eq!(dp.body(ALICE_WEB1), "");
    dp.send(applied);
    let (status, headers, body) = dp.get(ALICE_WEB1);
    assert_eq!(
        (status, body),
        (200, format!("{}\n", k0.openssh).into_bytes())
    );
    assert_eq!(
        header(&headers, "Content-Type"),
        Some(&b"text/plain; charset=utf-8"[..])
    );
    assert_eq!(header(&headers, "Cache-Control"), Some(&b"no-store"[..]));

    // A new key for alice: served once the Applied naming her arrives.
    let applied = dp.apply(vec![Change::SshUserPut(alice(&[
        (&k0, None),
        (&k1, Some(later)),
    ]))]);
    assert_eq!(
        (applied.ssh_users.as_slice(), applied.ssh_global),
        (&["alice".to_string()][..], false)
    );
    assert_eq!(dp.body(ALICE_WEB1), format!("{}\n", k0.openssh));
    dp.send(applied);
    let expiry = String::from_utf8(sigil_shared::time::generalized_time(later).to_vec()).unwrap();
    let k1_line = format!("expiry-time=\"{expiry}\" {}\n", k1.openssh);
    assert_eq!(dp.body(ALICE_WEB1), format!("{}\n{k1_line}", k0.openssh));

    // The same as a form POST, narrowed by fingerprint.
    let form = [httparse::Header {
        name: "Content-Type",
        value: b"application/x-www-form-urlencoded",
    }];
    let body = format!(
        "username=alice&host=web1&fingerprint={}",
        k1.fingerprint.replace('+', "%2B")
    );
    let (status, _, got) = call(
        &dp.router,
        Method::Post,
        "/api/authkeys",
        &form,
        body.as_bytes(),
    );
    assert_eq!(
        (status, String::from_utf8(got).unwrap()),
        (200, k1_line.clone())
    );

    // A KRL revoking k0 drops it everywhere at once.
    let mut krl = Krl::new(2, 0);
    krl.revoke_key(k0.sha256);
    let applied = dp.apply(vec![Change::SshKrlPut(krl_state(&krl))]);
    dp.send(applied);
    assert_eq!(dp.body(ALICE_WEB1), k1_line);
    let (status, headers, raw) = dp.get("/api/krlca");
    assert_eq!((status, raw), (200, krl.encode().unwrap()));
    assert_eq!(
        header(&headers, "Content-Type"),
        Some(&b"application/octet-stream"[..])
    );
    let want = format!("{}\n", ca_state(&user_ca, SshCaKind::User).openssh);
    assert_eq!(dp.body("/api/userca"), want);

    // Unknown names fill the bounded cache without disturbing the answers.
    for i in 0..10 {
        assert_eq!(
            dp.body(&format!("/api/authkeys?username=u{i}&host=web1")),
            ""
        );
    }
    assert_eq!(dp.body(ALICE_WEB1), k1_line);
    let core = dp.router.answers.core();
    assert_eq!(core.ssh_cache_entries(), 4 + 1);

    // Deleting the host or the user: nothing.
    let applied = dp.apply(vec![Change::SshHostDelete {
        hostname: "web1".into(),
    }]);
    dp.send(applied);
    assert_eq!(dp.body(ALICE_WEB1), "");
    let applied = dp.apply(vec![
        Change::SshHostPut(host("web1", &["web"])),
        Change::SshUserDelete {
            username: "alice".into(),
        },
    ]);
    dp.send(applied);
    assert_eq!(dp.body(ALICE_WEB1), "");

    // A new replica: everything SSH cached is dropped.
    let applied = dp.apply(vec![Change::SshUserPut(alice(&[(&k1, None)]))]);
    drop(applied);
    dp.updates.send(Update::Reset(dp.store.clone())).unwrap();
    assert_eq!(dp.body(ALICE_WEB1), format!("{}\n", k1.openssh));
    dp.updates
        .send(Update::Reset(Arc::new(MemStore::new(cf::ALL))))
        .unwrap();
    assert_eq!(dp.body(ALICE_WEB1), "");
    assert_eq!(dp.get("/api/userca").0, 404);
}

#[test]
fn refusals_and_counts() {
    let dp = Dp::new();
    let (status, headers, body) = call(&dp.router, Method::Put, "/api/authkeys", &[], b"");
    assert_eq!(status, 405);
    assert_eq!(header(&headers, "Allow"), Some(&b"GET, HEAD, POST"[..]));
    assert!(body.starts_with(b"method not allowed"));
    let (status, _, body) = dp.get("/api/authkeys?username=alice");
    assert_eq!((status, body), (400, b"missing parameter host\n".to_vec()));
    let (status, _, body) = dp.get("/api/authprinc?username=alice&host=h&fingerprint=SHA256:x");
    assert_eq!(
        (status, body),
        (400, b"invalid parameter fingerprint\n".to_vec())
    );
    let json = [httparse::Header {
        name: "Content-Type",
        value: b"application/json",
    }];
    let (status, _, _) = call(&dp.router, Method::Post, "/api/authkeys", &json, b"{}");
    assert_eq!(status, 415);
    dp.get("/api/authkeys?username=alice&host=h");
    dp.get("/api/krlca");

    let mut text = String::new();
    stats::render(std::slice::from_ref(&dp.stats), &mut text);
    for line in [
        "sigil_dp_requests_total{route=\"ssh_authkeys\",status=\"200\"} 1",
        "sigil_dp_requests_total{route=\"ssh_authkeys\",status=\"400\"} 1",
        "sigil_dp_requests_total{route=\"ssh_authkeys\",status=\"405\"} 1",
        "sigil_dp_requests_total{route=\"ssh_authkeys\",status=\"415\"} 1",
        "sigil_dp_requests_total{route=\"ssh_authprinc\",status=\"400\"} 1",
        "sigil_dp_requests_total{route=\"ssh_other\",status=\"404\"} 1",
        "sigil_dp_request_duration_seconds_count{route=\"ssh_authkeys\"} 4",
    ] {
        assert!(text.contains(line), "{line}\n{text}");
    }
}
