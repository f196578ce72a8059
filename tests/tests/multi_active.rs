//! Several active control-plane nodes on one PostgreSQL database (docs/STORAGE.md, "Several
//! active nodes"; issue 21 item 2): two `sigil-cp` with `postgres_multi_active = true` on a
//! throwaway cluster, both serving.
//!
//! - A data plane following node A serves what node B issues (B's commit reaches A's stream
//!   through LISTEN/NOTIFY); issuance racing on both nodes leaves one gap-free log that the
//!   data plane applies to the same state digest.
//! - Races on the same certificate (revocation), the same key service key (creation) and the
//!   same one-use OTP (EST enrollment), one request on each node at the same moment: exactly
//!   one wins, the other gets the answer the winner's change makes (409, key already exists,
//!   401); one audit record of success each.
//! - The periodic jobs run on exactly one node (`sigil_cp_jobs_leader`), never on both at a
//!   sample; `kill -9` of that node moves them to the other within seconds (printed).
//! - One audit chain across both nodes verifies.

use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use sigil_storage_postgres::testing::TempPostgres;
use sigil_tests::converge::assert_converged;
use sigil_tests::dp::{ocsp_request, wait_for, DataPlane};
use sigil_tests::pki::ocsp_verify;
use sigil_tests::tls::{curl, TlsFiles};
use sigil_tests::{free_port, gen_csr, ControlPlane};

fn config(tls: &TlsFiles, public_port: u16) -> String {
    format!(
        "[storage]\nbackend = \"postgres\"\npostgres_multi_active = true\n\
         [public]\nlisten = \"127.0.0.1:{public_port}\"\n[public.tls]\ncert = {:?}\nkey = {:?}\n",
        tls.cert, tls.key
    )
}

/// A metric without labels from the node's `/metrics`.
fn metric(cp: &ControlPlane, name: &str) -> f64 {
    let text = String::from_utf8_lossy(&cp.get_raw("/metrics").body).into_owned();
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {name} in /metrics"))
}

fn leader(cp: &ControlPlane) -> f64 {
    metric(cp, "sigil_cp_jobs_leader")
}

/// Runs `a` and `b` at the same moment on two threads; their results.
fn race<T: Send + 'static>(
    a: impl FnOnce() -> T + Send + 'static,
    b: impl FnOnce() -> T + Send + 'static,
) -> (T, T) {
    let go = Arc::new(Barrier::new(2));
    let g = go.clone();
    let first = std::thread::spawn(move || {
        g.wait();
        a()
    });
    go.wait();
    let second = b();
    (first.join().expect("racing thread"), second)
}

/// The audit records of `action` (successful ones), oldest first.
fn audited(cp: &ControlPlane, action: &str) -> Vec<Value> {
    let (s, body) = cp.api(
        "GET",
        &format!("/api/v1/audit?action={action}&success=true&per_page=500"),
        None,
    );
    assert_eq!(s, 200, "{body}");
    body["data"].as_array().expect("audit records").clone()
}

fn successes(cp: &ControlPlane, action: &str, resource_id: &str) -> usize {
    audited(cp, action)
        .iter()
        .filter(|e| e["resource_id"] == resource_id)
        .count()
}

/// An audit record's details as JSON.
fn details(e: &Value) -> Value {
    match e["details"].as_str() {
        Some(text) => serde_json::from_str(text).expect("details JSON"),
        None => e["details"].clone(),
    }
}

#[test]
fn two_active_nodes_serve_one_database() {
    if sigil_tests::storage::is_postgres() {
        println!("runs in the RocksDB pass (it brings its own PostgreSQL)");
        return;
    }
    let pg = TempPostgres::start().expect("PostgreSQL (scripts/setup-debian.sh installs it)");
    pg.create_database("multi").unwrap();
    let url = pg.url("multi");
    let tmp = sigil_tests::new_tempdir();
    let tls = TlsFiles::generate(&tmp.path().join("tls"));
    let (port_a, port_b) = (free_port(), free_port());
    let a = ControlPlane::start_with(
        Some(&config(&tls, port_a)),
        &[("SIGIL_POSTGRES_URL", &url)],
        true,
    );
    let kek = a.kek_file();
    let with_kek = |toml: String| format!("{toml}[secrets]\nkek_file = {:?}\n", kek);
    let mut b = ControlPlane::spawn_on_database(&with_kek(config(&tls, port_b)), &url);
    b.await_healthy(Duration::from_secs(60))
        .unwrap_or_else(|e| panic!("node B: {e}\n{}", b.logs()));
    let (a, b) = (Arc::new(a), Arc::new(b));
    let issuer = a.demo_issuer_id();
    let dir = a.work_dir();

    // B's issuance reaches a data plane that follows A.
    let dp = DataPlane::start(&a.url(""));
    let issued = b.issue(&issuer, &gen_csr(&dir, "on-b.example.com", &[]));
    let files = issued.write(&dir, "on-b");
    let req = ocsp_request(&dir, &files, false);
    let started = Instant::now();
    wait_for(Duration::from_secs(20), "B's certificate via A", || {
        let r = dp.post_ocsp("/", &req);
        (r.status == 200
            && ocsp_verify(&dp.work_dir(), &r.body, &files, "sha1")
                .1
                .contains(": good"))
        .then_some(())
    });
    println!(
        "a certificate issued on node B was served by a data plane following node A {:.0} ms after B answered",
        started.elapsed().as_secs_f64() * 1e3
    );

    // Issuance on both nodes at once: every request succeeds; one gap-free log.
    let mut threads = Vec::new();
    for (n, node) in [a.clone(), b.clone(), a.clone(), b.clone()]
        .into_iter()
        .enumerate()
    {
        let (issuer, dir) = (issuer.clone(), dir.clone());
        threads.push(std::thread::spawn(move || {
            for i in 0..8 {
                let csr = gen_csr(&dir, &format!("race-{n}-{i}.example.com"), &[]);
                let (s, body) = node.issue_raw(&issuer, &csr);
                assert_eq!(s, 201, "{body}");
            }
        }));
    }
    threads
        .into_iter()
        .for_each(|t| t.join().expect("issuing thread"));
    let head = assert_converged(&a, &dp, "after issuance on both nodes");
    // B learns of A's last commits by notification, or within its one-second fallback look
    // (`cluster::follow`): on a busy machine that can be a moment after A answered.
    let head_b = sigil_tests::dp::wait_for(Duration::from_secs(5), "B to catch up with A", || {
        let h = sigil_tests::dp::cp_head(&b);
        (h >= head).then_some(h)
    });
    assert!(head_b >= head, "B's head {head_b} behind A's {head}");
    let (conflicts_a, conflicts_b) = (
        metric(&a, "sigil_cp_commit_head_conflicts_total"),
        metric(&b, "sigil_cp_commit_head_conflicts_total"),
    );
    println!("head after racing issuance: {head}; commits renumbered after the other node appended first: A {conflicts_a}, B {conflicts_b}");

    // The same revocation on both nodes at once: one 200, one 409, one audit record.
    for i in 0..5 {
        let c = a.issue(
            &issuer,
            &gen_csr(&dir, &format!("revoke-{i}.example.com"), &[]),
        );
        let (x, y) = (a.clone(), b.clone());
        let (id1, id2) = (c.id.clone(), c.id.clone());
        let (ra, rb) = race(
            move || x.revoke(&id1, "keyCompromise").0,
            move || y.revoke(&id2, "superseded").0,
        );
        let mut got = [ra, rb];
        got.sort_unstable();
        assert_eq!(got, [200, 409], "revocation {i}: A {ra}, B {rb}");
        assert_eq!(successes(&a, "certificate.revoke", &c.id), 1);
    }

    // The same key service key created on both nodes at once: one 201, one "key already
    // exists", one audit record.
    for i in 0..5 {
        let (x, y) = (a.clone(), b.clone());
        let name = format!("race-key-{i}");
        let (n1, n2) = (name.clone(), name.clone());
        let create = |cp: Arc<ControlPlane>, name: String| {
            move || {
                let (s, body) = cp.api("POST", "/api/v1/kes/keys", Some(&json!({"name": name})));
                (s, body)
            }
        };
        let ((sa, ba), (sb, bb)) = race(create(x, n1), create(y, n2));
        let mut got = [sa, sb];
        got.sort_unstable();
        assert_eq!(got[0], 201, "key {i}: A {sa} {ba}, B {sb} {bb}");
        assert!(
            matches!(got[1], 400 | 409),
            "key {i}: A {sa} {ba}, B {sb} {bb}"
        );
        assert_eq!(successes(&a, "kes.key.create", &name), 1);
    }

    // The same one-use OTP on both nodes' EST at once: one certificate, one 401.
    for i in 0..5 {
        let entity = format!("device-{i}.example.com");
        let (s, otp) = a.api("POST", "/admin/otp", Some(&json!({"entity_id": entity})));
        assert_eq!(s, 201, "{otp}");
        let otp = otp["otp"].as_str().expect("otp").to_string();
        let csr = dir.join(format!("device-{i}.b64"));
        let script = format!(
            "set -e; openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
             -keyout {key} -subj /CN={entity} -outform DER 2>/dev/null | base64 > {csr}",
            key = dir.join(format!("device-{i}.key")).display(),
            csr = csr.display()
        );
        sigil_tests::run("sh", &["-c", &script]);
        let enroll = move |port: u16,
                           dir: std::path::PathBuf,
                           ca: std::path::PathBuf,
                           user: String,
                           csr: std::path::PathBuf| {
            move || {
                curl(
                    &dir,
                    &ca,
                    &format!("https://127.0.0.1:{port}/.well-known/est/demo/simpleenroll"),
                    &[
                        "-H",
                        "Content-Type: application/pkcs10",
                        "-H",
                        "Content-Transfer-Encoding: base64",
                        "--data-binary",
                        &format!("@{}", csr.display()),
                        "-u",
                        &user,
                    ],
                )
                .status
            }
        };
        let user = format!("{entity}:{otp}");
        let (sa, sb) = race(
            enroll(
                port_a,
                dir.clone(),
                tls.ca.clone(),
                user.clone(),
                csr.clone(),
            ),
            enroll(port_b, dir.clone(), tls.ca.clone(), user, csr),
        );
        let mut got = [sa.clone(), sb.clone()];
        got.sort();
        assert_eq!(
            got,
            ["200".to_string(), "401".to_string()],
            "OTP {i}: A {sa}, B {sb}"
        );
        let uses = audited(&a, "otp.use")
            .iter()
            .filter(|e| details(e)["entity_id"] == entity.as_str())
            .count();
        assert_eq!(uses, 1, "OTP {i} used once");
    }

    // SSH changes on both nodes at once are serial across nodes (the `ssh_version` fence):
    // the same user created on both, one 201; a key added to one user on each node, both
    // kept (no lost update); the same API key revoked on both, one 204.
    for i in 0..3 {
        let user = format!("racer-{i}");
        let new_user = json!({
            "cn": user, "userPassword": "correct horse battery",
            "confirmPassword": "correct horse battery", "givenName": "Race", "sn": "E2E",
            "principal": user, "duration": 1, "durationUnit": "Days",
        });
        let (x, y, body) = (a.clone(), b.clone(), new_user.clone());
        let ((sa, ba), (sb, bb)) = race(
            move || x.api("POST", "/api/users", Some(&body)),
            move || y.api("POST", "/api/users", Some(&new_user)),
        );
        let mut got = [sa, sb];
        got.sort_unstable();
        assert_eq!(got, [201, 409], "user {i}: A {sa} {ba}, B {sb} {bb}");
        assert_eq!(successes(&a, "ssh.user.create", &user), 1);

        let add = |cp: Arc<ControlPlane>, user: String, name: &str| {
            let (_, key) = sigil_tests::sshd::keygen(&dir, &format!("{user}-{name}"));
            let body = json!({"sshPublicKeys": [{"name": name, "key": key}]});
            move || cp.api("PUT", &format!("/api/users/{user}"), Some(&body))
        };
        let ((sa, ba), (sb, bb)) = race(
            add(a.clone(), user.clone(), "on-a"),
            add(b.clone(), user.clone(), "on-b"),
        );
        assert_eq!((sa, sb), (200, 200), "keys of {user}: A {ba}, B {bb}");
        let (s, v) = b.api("GET", &format!("/api/users/{user}"), None);
        assert_eq!(s, 200, "{v}");
        let mut names: Vec<&str> = v[0]["sshPublicKeys"]
            .as_array()
            .expect("keys")
            .iter()
            .filter_map(|k| k["name"].as_str())
            .collect();
        names.sort_unstable();
        assert_eq!(names, ["on-a", "on-b"], "both nodes' keys kept: {v}");

        let (s, key) = a.api(
            "POST",
            "/api/v1/apikeys",
            Some(&json!({"name": format!("race {i}"), "role": "viewer"})),
        );
        assert_eq!(s, 201, "{key}");
        let id = key["data"]["id"].as_str().expect("id").to_string();
        let (x, y, path) = (a.clone(), b.clone(), format!("/api/v1/apikeys/{id}"));
        let p = path.clone();
        let (ra, rb) = race(
            move || x.api("DELETE", &path, None).0,
            move || y.api("DELETE", &p, None).0,
        );
        let mut got = [ra, rb];
        got.sort_unstable();
        assert_eq!(got, [204, 409], "API key {i}: A {ra}, B {rb}");
        assert_eq!(successes(&a, "apikey.revoke", &id), 1);
    }

    // The jobs: on exactly one node, never on both at a sample; they move on kill -9.
    wait_for(Duration::from_secs(20), "a jobs leader", || {
        (leader(&a) + leader(&b) == 1.0).then_some(())
    });
    for _ in 0..20 {
        let both = leader(&a) + leader(&b);
        assert!(both <= 1.0, "both nodes run the jobs");
        std::thread::sleep(Duration::from_millis(50));
    }
    let (mut gone, survivor) = if leader(&a) == 1.0 { (a, b) } else { (b, a) };
    Arc::get_mut(&mut gone).expect("no other handle").kill9();
    let killed = Instant::now();
    wait_for(
        Duration::from_secs(30),
        "the survivor to take the jobs",
        || (leader(&survivor) == 1.0).then_some(()),
    );
    println!(
        "job failover: the surviving node took the jobs lease {:.2} s after kill -9 of the holder",
        killed.elapsed().as_secs_f64()
    );
    // Every takeover is audited with its epoch: strictly increasing, one holder at a time.
    let epochs: Vec<u64> = audited(&survivor, "jobs.lease")
        .iter()
        .map(|e| details(e)["epoch"].as_u64().expect("epoch"))
        .collect();
    println!("jobs lease epochs in the audit log: {epochs:?}");
    assert!(epochs.len() >= 2, "{epochs:?}");
    assert!(epochs.windows(2).all(|w| w[0] < w[1]), "{epochs:?}");
    let (s, audit) = survivor.api("GET", "/api/v1/audit/verify", None);
    assert_eq!(s, 200);
    assert_eq!(
        audit["valid"], true,
        "one audit chain across both nodes: {audit}"
    );
    // The survivor serves alone: a revocation there reaches the data plane (which followed
    // the dead node A, or B: either way it fails over only if given both URLs, so check the
    // store through the survivor).
    let c = survivor.issue(&issuer, &gen_csr(&dir, "after.example.com", &[]));
    assert_eq!(survivor.revoke(&c.id, "keyCompromise").0, 200);
}
