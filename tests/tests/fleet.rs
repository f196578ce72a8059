//! The fleet test (issue 21 item 4), on one machine over loopback: a throwaway PostgreSQL
//! cluster (`TempPostgres`), two control-plane nodes on one database (node 1 active, node 2 a
//! standby: docs/STORAGE.md "Active and standby"), three data planes — DP1 and DP2 subscribed
//! to [node 1, node 2], DP1 also a relay, DP3 subscribed to [DP1's relay, node 1, node 2]
//! (docs/replication.md "Relays": the relay first, the nodes as its failover). Each node is
//! reached through a [`TcpProxy`] (its stable address: a restarted node listens on a new port).
//!
//! While the chaos workload (`sigil_tests::chaos`: issuance, revocation, bulk revocation, OTPs
//! used through EST, API keys, KES keys and policies, SSH users and keys) and a revoker thread
//! run against whichever node is healthy (node 1 tried first, then node 2), the test kills with
//! SIGKILL and restarts the relay DP1 (DP3 fails over and catches up), the active node 1 (node
//! 2 takes over; node 1 comes back as the new standby) and DP2. At the end every data plane's
//! state digest equals the active node's at its head, the new active node holds every
//! acknowledged change (`chaos::verify`), and every acknowledged revocation is served `revoked`
//! by every data plane (openssl verifies each response).
//!
//! Printed: the control-plane failover time (kill → the standby's `/health`), which is also the
//! **job failover time** — the background jobs (OCSP refresh, CRL scheduling, replication head)
//! start in `server::serve` right after the store opened, i.e. once the standby holds the
//! node lock, and before the admin listener binds: they move with the node; the revocation
//! propagation latency p50/p99 (the revoke's 200 → all three data planes serve `revoked`,
//! polled), over the samples no kill disturbed and over all; the kills survived and the
//! records checked.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU16, AtomicU32, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::sleep;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use sigil_shared::der::{self, Reader};
use sigil_storage_postgres::testing::TempPostgres;
use sigil_tests::chaos::verify::verify;
use sigil_tests::chaos::{Op, Outcome, Rng, Target, Workload};
use sigil_tests::converge::assert_converged;
use sigil_tests::dp::{
    metric_in, ocsp_request, post_request, request, wait_for, DataPlane, TcpProxy,
};
use sigil_tests::pki::ocsp_verify;
use sigil_tests::tls::TlsFiles;
use sigil_tests::{free_port, gen_csr, CertFiles, ControlPlane, Issued};
use sigil_tests::{ADMIN_TOKEN, REPLICATION_TOKEN};

/// Certificates the revoker revokes one at a time (issued before the kills).
const PROBES: usize = 40;
/// Revocations measured before the workload may stop.
const MIN_SAMPLES: usize = 20;

/// Fast reconnects for every data plane (defaults: 1 s doubling to 30 s).
const FOLLOW: &str = "[control_plane]\nreconnect_min_ms = 100\nreconnect_max_ms = 500\n";

struct Probe {
    cert: Issued,
    files: CertFiles,
    req: Vec<u8>,
}

/// One revocation: the revoke's 200 → every data plane serving `revoked`.
struct Sample {
    latency: Duration,
    /// A kill or restart happened meanwhile (or something was down when it started).
    disturbed: bool,
}

/// What the test thread tells the others: kills and restarts (`events` counts both, `down` is
/// what is down now), the data planes' public ports, and when to stop.
#[derive(Default)]
struct Shared {
    events: AtomicU32,
    down: AtomicU32,
    dp_ports: [AtomicU16; 3],
    /// The public (EST) port of node 1 and node 2 (node 1's changes when it restarts).
    est_ports: [AtomicU16; 2],
    stop: AtomicBool,
    revoked: AtomicUsize,
}

impl Shared {
    fn kill(&self) {
        self.events.fetch_add(1, Ordering::SeqCst);
        self.down.fetch_add(1, Ordering::SeqCst);
    }
    fn back(&self) {
        self.down.fetch_sub(1, Ordering::SeqCst);
        self.events.fetch_add(1, Ordering::SeqCst);
    }
}

fn node_toml(tls: &TlsFiles, public_port: u16, kek: Option<&std::path::Path>) -> String {
    let mut toml = format!(
        "[storage]\nbackend = \"postgres\"\npostgres_standby = true\n[public]\n\
         listen = \"127.0.0.1:{public_port}\"\n[public.tls]\ncert = {:?}\nkey = {:?}\n",
        tls.cert, tls.key
    );
    if let Some(kek) = kek {
        toml.push_str(&format!("[secrets]\nkek_file = {kek:?}\n"));
    }
    toml
}

/// The tag of the first SingleResponse's certStatus: 0x80 good, 0xa1 revoked, 0x82 unknown
/// (only for polling; the final checks are openssl's).
fn cert_status(body: &[u8]) -> Option<u8> {
    let resp = der::read_single(body, der::TAG_SEQUENCE).ok()?;
    let mut r = Reader::new(resp.value);
    r.read(der::TAG_ENUMERATED).ok()?;
    let rb = der::read_single(r.read(der::ctx_cons(0)).ok()?.value, der::TAG_SEQUENCE).ok()?;
    let mut b = Reader::new(rb.value);
    b.read(der::TAG_OID).ok()?;
    let basic = der::read_single(b.read(der::TAG_OCTET_STRING).ok()?.value, der::TAG_SEQUENCE);
    let data = Reader::new(basic.ok()?.value)
        .read(der::TAG_SEQUENCE)
        .ok()?;
    let mut d = Reader::new(data.value);
    d.read_optional(der::ctx_cons(0)).ok()?;
    d.read_any().ok()?; // responderID
    d.read(der::TAG_GENERALIZED_TIME).ok()?;
    let single = Reader::new(d.read(der::TAG_SEQUENCE).ok()?.value)
        .read(der::TAG_SEQUENCE)
        .ok()?;
    let mut s = Reader::new(single.value);
    s.read(der::TAG_SEQUENCE).ok()?;
    Some(s.read_any().ok()?.tag)
}

/// openssl's verdict on `dp`'s answer (the response must verify): `good` or `revoked`.
fn served_status(dp: &DataPlane, files: &CertFiles, req: &[u8]) -> &'static str {
    let r = dp.post_ocsp("/", req);
    assert_eq!(r.status, 200, "POST /: {}", r.head);
    let out = ocsp_verify(&dp.work_dir(), &r.body, files, "sha1").1;
    assert!(out.contains("Response verify OK"), "{out}");
    ["revoked", "good"]
        .into_iter()
        .find(|s| out.contains(&format!(": {s}")))
        .unwrap_or_else(|| panic!("neither good nor revoked:\n{out}"))
}

fn client() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(10))
        .connect_timeout(Duration::from_secs(2))
        .build()
        .expect("http client")
}

/// Points the workload at the first healthy node (node 1, then node 2), every 50 ms.
fn follow_active(target: &Target, admin: [&TcpProxy; 2], est: &TcpProxy, shared: &Shared) {
    let client = client();
    while !shared.stop.load(Ordering::SeqCst) {
        for (i, node) in admin.iter().enumerate() {
            let up = client
                .get(format!("{}/health", node.url()))
                .timeout(Duration::from_millis(300))
                .send()
                .is_ok_and(|r| r.status() == 200);
            if up {
                *target.admin_url.write().unwrap() = node.url();
                est.set_target(shared.est_ports[i].load(Ordering::SeqCst));
                break;
            }
        }
        sleep(Duration::from_millis(50));
    }
}

/// Revokes the probes one at a time through the active node and measures how long until all
/// three data planes serve `revoked`. Returns the samples and how many probes it revoked.
fn revoker(probes: &[Probe], target: &Target, shared: &Shared) -> (Vec<Sample>, usize) {
    let client = client();
    let mut samples = Vec::new();
    for (n, p) in probes.iter().enumerate() {
        if shared.stop.load(Ordering::SeqCst) {
            return (samples, n);
        }
        let (events, down) = (
            shared.events.load(Ordering::SeqCst),
            shared.down.load(Ordering::SeqCst),
        );
        let mut retried = false;
        let given_up = Instant::now() + Duration::from_secs(60);
        // The revoke's 200 (None: revoked by an attempt whose answer was lost).
        let acked_at = loop {
            assert!(
                Instant::now() < given_up,
                "revoking {}: no node answers",
                p.cert.id
            );
            let base = target.admin_url.read().unwrap().clone();
            let r = client
                .post(format!("{base}/api/v1/certificates/{}/revoke", p.cert.id))
                .bearer_auth(ADMIN_TOKEN)
                .json(&json!({"reason": "keyCompromise"}))
                .send();
            match r.map(|r| r.status().as_u16()) {
                Ok(200) => break Some(Instant::now()),
                Ok(_) => {
                    let got = client
                        .get(format!("{base}/api/v1/certificates/{}", p.cert.id))
                        .bearer_auth(ADMIN_TOKEN)
                        .send()
                        .and_then(|r| r.json::<Value>());
                    if got.is_ok_and(|c| c["status"] == "revoked") {
                        break None;
                    }
                }
                Err(_) => {}
            }
            retried = true;
            sleep(Duration::from_millis(100));
        };
        let mut pending = vec![0usize, 1, 2];
        let deadline = Instant::now() + Duration::from_secs(60);
        let raw = post_request("/", &p.req);
        let served_at = loop {
            assert!(
                Instant::now() < deadline,
                "revocation of {} not served by data planes {pending:?} after 60 s",
                p.cert.id
            );
            pending.retain(|&i| {
                let port = shared.dp_ports[i].load(Ordering::SeqCst);
                let served = request(port, &raw)
                    .ok()
                    .filter(|r| r.status == 200)
                    .and_then(|r| cert_status(&r.body));
                served != Some(der::ctx_cons(1))
            });
            if pending.is_empty() {
                break Instant::now();
            }
            sleep(Duration::from_millis(2));
        };
        if let Some(at) = acked_at {
            samples.push(Sample {
                latency: served_at - at,
                disturbed: retried || down > 0 || shared.events.load(Ordering::SeqCst) != events,
            });
        }
        shared.revoked.fetch_add(1, Ordering::SeqCst);
        sleep(Duration::from_millis(150));
    }
    (samples, probes.len())
}

/// Nearest-rank percentile, in milliseconds.
fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len().max(1)) - 1;
    sorted.get(i).map_or(f64::NAN, |d| d.as_secs_f64() * 1000.0)
}

fn report(what: &str, samples: &[&Sample]) {
    let mut l: Vec<Duration> = samples.iter().map(|s| s.latency).collect();
    l.sort();
    println!(
        "revocation → served revoked on all 3 data planes, {what}: n = {}, p50 {:.1} ms, \
         p99 {:.1} ms, max {:.1} ms",
        l.len(),
        percentile(&l, 0.50),
        percentile(&l, 0.99),
        percentile(&l, 1.0)
    );
}

#[test]
fn a_fleet_survives_kills_of_nodes_relays_and_data_planes() {
    if sigil_tests::storage::is_postgres() {
        println!("runs in the RocksDB pass (it brings its own PostgreSQL)");
        return;
    }
    let started = Instant::now();
    let pg = TempPostgres::start().expect("PostgreSQL (scripts/setup-debian.sh installs it)");
    pg.create_database("fleet").unwrap();
    let url = pg.url("fleet");
    let tls_dir = sigil_tests::new_tempdir();
    let tls = TlsFiles::generate(tls_dir.path());
    let shared = Shared::default();

    let est_port = [free_port(), free_port()];
    let mut node1 = ControlPlane::start_with(
        Some(&node_toml(&tls, est_port[0], None)),
        &[("SIGIL_POSTGRES_URL", &url)],
        true,
    );
    let kek = node1.kek_file();
    let mut node2 =
        ControlPlane::spawn_on_database(&node_toml(&tls, est_port[1], Some(&kek)), &url);
    for (slot, port) in shared.est_ports.iter().zip(est_port) {
        slot.store(port, Ordering::SeqCst);
    }
    let (p1, p2) = (TcpProxy::start(node1.port()), TcpProxy::start(node2.port()));
    let est = TcpProxy::start(est_port[0]);
    let (s, g) = node1.api(
        "POST",
        "/api/groups",
        Some(&json!({"cn": "chaos", "description": "chaos users"})),
    );
    assert_eq!(s, 201, "{g}");

    let nodes = format!("{},{}", p1.url(), p2.url());
    let relay_port = free_port();
    let relay_toml = format!(
        "{FOLLOW}[relay]\nlisten = \"127.0.0.1:{relay_port}\"\ntoken = \"{REPLICATION_TOKEN}\"\n\
         heartbeat_secs = 1\n"
    );
    let mut dp1 = DataPlane::start_with_config(&nodes, Some(&relay_toml));
    let mut dp2 = DataPlane::start_with_config(&nodes, Some(FOLLOW));
    let relay_url = format!("http://127.0.0.1:{relay_port}");
    let dp3 = DataPlane::start_with_config(&format!("{relay_url},{nodes}"), Some(FOLLOW));
    for (slot, dp) in shared.dp_ports.iter().zip([&dp1, &dp2, &dp3]) {
        slot.store(dp.port(), Ordering::SeqCst);
    }

    // The revoker's certificates, issued before the kills (openssl is the slow part).
    let issuer = node1.demo_issuer_id();
    let dir = node1.work_dir();
    let probes: Vec<Probe> = (0..PROBES)
        .map(|i| {
            let cert = node1.issue(
                &issuer,
                &gen_csr(&dir, &format!("probe-{i}.fleet.test"), &[]),
            );
            let files = cert.write(&dir, &format!("probe-{i}"));
            let req = ocsp_request(&dir, &files, false);
            Probe { cert, files, req }
        })
        .collect();
    assert_converged(&node1, &dp3, "DP3 through the relay, before the workload");
    assert!(dp1.metric("sigil_dp_relay_records_served_total") > 0.0);
    println!("fleet up in {:.1} s", started.elapsed().as_secs_f64());

    let target = Arc::new(Target {
        admin_url: p1.url().into(),
        est_url: format!("https://127.0.0.1:{}", est.port()),
        est_ca: tls.ca.clone(),
        work: dir.clone(),
        epoch: 0.into(),
    });
    let mut workload = Workload::start(target.clone(), Rng::from_env());
    let mut kills = Vec::new();
    let mut node1b = None;
    let (samples, revoked_probes, failover) = std::thread::scope(|s| {
        s.spawn(|| follow_active(&target, [&p1, &p2], &est, &shared));
        let rev = s.spawn(|| revoker(&probes, &target, &shared));
        let kill_and_restart = |dp: &mut DataPlane, name: &str, kills: &mut Vec<String>| {
            shared.kill();
            dp.kill9();
            sleep(Duration::from_millis(800));
            dp.restart();
            shared.back();
            kills.push(format!("{name} (kill -9, restarted)"));
        };
        sleep(Duration::from_millis(1500));
        // 1. The relay: DP3 moves to a node, DP1 comes back and catches up.
        kill_and_restart(&mut dp1, "DP1, the relay", &mut kills);
        shared.dp_ports[0].store(dp1.port(), Ordering::SeqCst);
        sleep(Duration::from_millis(1500));
        // 2. The active node: node 2 takes over; node 1 restarts as the standby.
        shared.kill();
        node1.kill9();
        let killed = Instant::now();
        target.epoch.fetch_add(1, Ordering::SeqCst);
        node2
            .await_healthy(Duration::from_secs(60))
            .unwrap_or_else(|e| panic!("node 2 did not take over: {e}\n{}", node2.logs()));
        let failover = killed.elapsed();
        shared.back();
        let public = free_port();
        let restarted = ControlPlane::spawn_on_database(&node_toml(&tls, public, Some(&kek)), &url);
        shared.est_ports[0].store(public, Ordering::SeqCst);
        p1.set_target(restarted.port());
        node1b = Some(restarted);
        kills.push("node 1, the active control plane (kill -9, restarted as the standby)".into());
        sleep(Duration::from_millis(1500));
        // 3. A data plane.
        kill_and_restart(&mut dp2, "DP2", &mut kills);
        shared.dp_ports[1].store(dp2.port(), Ordering::SeqCst);
        wait_for(Duration::from_secs(60), "the revoker's samples", || {
            (shared.revoked.load(Ordering::SeqCst) >= MIN_SAMPLES).then_some(())
        });
        shared.stop.store(true, Ordering::SeqCst);
        let (samples, revoked) = rev.join().expect("revoker");
        (samples, revoked, failover)
    });
    workload.stop();
    let ledger = workload.entries();
    let node1b = node1b.expect("node 1 restarted");
    println!(
        "control-plane failover: node 2 served /health {:.2} s after kill -9 of node 1; job \
         failover (OCSP refresh, CRL scheduling: they start once the store holds the node lock, \
         before /health): the same {:.2} s",
        failover.as_secs_f64(),
        failover.as_secs_f64()
    );

    // Node 1 is back as the standby: it waits without serving.
    assert!(node1b.logs().contains("standby"), "{}", node1b.logs());
    let standby_health = reqwest::blocking::Client::new()
        .get(node1b.url("/health"))
        .timeout(Duration::from_millis(500))
        .send();
    assert!(standby_health.is_err(), "the restarted node 1 serves");

    // Every data plane converges on the active node's state.
    for (dp, name) in [(&dp1, "DP1"), (&dp2, "DP2"), (&dp3, "DP3")] {
        let head = assert_converged(&node2, dp, name);
        println!("{name}: digest equal to node 2's at head {head}");
    }
    for (dp, name) in [(&dp1, "DP1"), (&dp2, "DP2")] {
        assert!(
            dp.metric("sigil_dp_replication_failovers_total") >= 1.0,
            "{name} never failed over to node 2"
        );
    }
    let text = dp3.metrics();
    let on: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("sigil_dp_replication_upstream{") && l.ends_with(" 1"))
        .collect();
    let dp3_failovers = metric_in(&text, "sigil_dp_replication_failovers_total").unwrap_or(0.0);
    println!("DP3 now streams from {on:?} (relay at {relay_url}); failovers {dp3_failovers}");
    assert!(dp3_failovers >= 1.0, "DP3 did not leave the dead relay");

    // Everything acknowledged is on node 2 (the chaos verifier).
    let checked = verify(&node2, &ledger);

    // Every acknowledged revocation is served `revoked` by every data plane; the probes not
    // revoked `good`.
    let issued: HashMap<String, Issued> = ledger
        .iter()
        .filter_map(|e| match (&e.op, &e.outcome) {
            (Op::Issue { .. }, Outcome::Acked(v)) => {
                let c = Issued::from_json(v.clone());
                Some((c.id.clone(), c))
            }
            _ => None,
        })
        .collect();
    let mut revoked: Vec<String> = Vec::new();
    for e in ledger.iter().filter(|e| e.outcome.acked()) {
        match &e.op {
            Op::Revoke { cert_id } => revoked.push(cert_id.clone()),
            Op::BulkRevoke { cert_ids } => revoked.extend(cert_ids.iter().cloned()),
            _ => {}
        }
    }
    revoked.sort();
    revoked.dedup();
    let mut expected: Vec<(CertFiles, Vec<u8>, &str)> = Vec::new();
    for id in &revoked {
        let c = issued
            .get(id)
            .unwrap_or_else(|| panic!("{id} not issued by the workload"));
        let files = c.write(&dir, &format!("chaos-{id}"));
        let req = ocsp_request(&dir, &files, false);
        expected.push((files, req, "revoked"));
    }
    for (i, p) in probes.iter().enumerate() {
        let want = if i < revoked_probes {
            "revoked"
        } else {
            "good"
        };
        expected.push((p.files.clone(), p.req.clone(), want));
    }
    for (dp, name) in [(&dp1, "DP1"), (&dp2, "DP2"), (&dp3, "DP3")] {
        for (files, req, want) in &expected {
            assert_eq!(served_status(dp, files, req), *want, "{name}: {files:?}");
        }
    }

    let quiet: Vec<&Sample> = samples.iter().filter(|s| !s.disturbed).collect();
    report("no kill meanwhile", &quiet);
    report("all", &samples.iter().collect::<Vec<_>>());
    println!("kills survived ({}): {}", kills.len(), kills.join("; "));
    println!(
        "records checked: {} changes by the workload ({} acknowledged, {} unanswered), {} \
         certificates and their OCSP responses on node 2, {} replication log records in order; \
         {} revocations ({} by the workload, {} by the revoker) and {} unrevoked certificates \
         served by each of 3 data planes, checked with openssl ({} checks); total {:.1} s",
        checked.changes,
        checked.acked,
        checked.unanswered,
        checked.certificates,
        checked.log_records,
        revoked.len() + revoked_probes,
        revoked.len(),
        revoked_probes,
        PROBES - revoked_probes,
        expected.len() * 3,
        started.elapsed().as_secs_f64()
    );
    assert!(
        quiet.len() >= MIN_SAMPLES / 2,
        "too few undisturbed samples"
    );
}
