//! Crash consistency under `kill -9` (issue 19, item 1), with real processes: a workload makes
//! changes of every kind (issuance, revocation, bulk revocation, OTPs created and used through
//! EST with curl, API keys, KES keys and policies, SSH users and keys) while the control plane
//! is killed at random moments and restarted, and a data plane is killed mid-stream now and
//! then. After every restart the control plane is checked against what each request got back
//! (`sigil_tests::chaos::verify`). At the end the data plane's state digest must equal the
//! control plane's, and a second data plane killed in the middle of its first snapshot
//! (through a throttled link) must converge too.
//!
//! Beside the workload, `SIGIL_CHAOS_ISSUERS` threads (default 3) only issue certificates, so
//! that commits are concurrent and the control plane writes them in groups (group commit):
//! kills land in the middle of a group's write too.
//!
//! `SIGIL_CHAOS_KILLS` (default 6) sets the number of control-plane kills;
//! `SIGIL_CHAOS_SEED` repeats a run (its seed is printed); `scripts/chaos.sh` runs it long.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread::sleep;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use sigil_tests::chaos::verify::{verify, verify_since, Checked};
use sigil_tests::chaos::{Rng, Target, Workload};
use sigil_tests::dp::{cp_head, get_request, metric_in, request, DataPlane};
use sigil_tests::est::EstServer;
use sigil_tests::proxy::TcpProxy;
use sigil_tests::ControlPlane;

fn add(total: &mut Checked, c: Checked) {
    total.certificates += c.certificates;
    total.log_records += c.log_records;
    total.changes += c.changes;
    total.acked += c.acked;
    total.unanswered += c.unanswered;
}

/// The control plane's digest.
fn cp_digest(cp: &ControlPlane) -> Value {
    let (s, d) = cp.api("GET", "/api/v1/replication/digest", None);
    assert_eq!(s, 200, "{d}");
    d
}

/// Waits until `dp` has applied the control plane's head, then compares the digests.
fn assert_converged(cp: &ControlPlane, dp: &DataPlane, what: &str) -> Value {
    let head = cp_head(cp);
    let start = Instant::now();
    loop {
        let applied = metric_in(&dp.metrics(), "sigil_dp_replication_applied_sequence");
        if applied == Some(head as f64) {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "{what}: applied {applied:?}, control plane head {head}\n{}",
            dp.logs()
        );
        sleep(Duration::from_millis(100));
    }
    let (c, d) = (cp_digest(cp), dp.digest());
    assert_eq!(c["as_of"], head, "{c}");
    assert_eq!(
        d, c,
        "{what}: data plane digest differs from the control plane's"
    );
    c
}

#[test]
fn acknowledged_changes_survive_kill_9_of_either_plane() {
    let kills: usize = std::env::var("SIGIL_CHAOS_KILLS")
        .ok()
        .and_then(|k| k.parse().ok())
        .unwrap_or(6);
    // A short retained log, so that a data plane far behind (or new) gets a snapshot. The
    // key service uses the control plane's key-encryption key (`sigil-cp init` made it).
    let mut est = EstServer::start("[replication]\nretain_records = 40\n");
    let (s, g) = est.cp.api(
        "POST",
        "/api/groups",
        Some(&json!({"cn": "chaos", "description": "chaos users"})),
    );
    assert_eq!(s, 201, "{g}");
    let proxy = TcpProxy::start(est.cp.port());
    let mut dp = DataPlane::start(&proxy.url());

    let target = Arc::new(Target {
        admin_url: est.cp.base_url().into(),
        est_url: format!("https://127.0.0.1:{}", est.public_port),
        est_ca: est.tls.ca.clone(),
        work: est.work(),
        epoch: 0.into(),
    });
    let mut rng = Rng::from_env();
    let mut workload = Workload::start(target.clone(), rng.fork());
    let issuers: usize = std::env::var("SIGIL_CHAOS_ISSUERS")
        .ok()
        .and_then(|k| k.parse().ok())
        .unwrap_or(3);
    workload.add_issuers(target.clone(), issuers);
    let mut total = Checked::default();
    let mut dp_kills = 0;
    let mut checked_up_to = 0;
    let started = Instant::now();
    // Commits that shared a synced write with an earlier one (group commit), summed over the
    // control plane's lives: read just before each kill.
    let mut shared_writes = 0.0;
    let shared = |cp: &ControlPlane| {
        let m = cp.get_raw("/metrics").text();
        metric_in(&m, "sigil_cp_commit_group_size_sum").unwrap_or(0.0)
            - metric_in(&m, "sigil_cp_commit_group_size_count").unwrap_or(0.0)
    };
    for kill in 0..kills {
        sleep(rng.between_ms(300, 1500));
        shared_writes += shared(&est.cp);
        let kill_dp = kill % 3 == 1;
        if kill_dp {
            dp.kill9();
            dp_kills += 1;
        }
        est.cp.kill9();
        sleep(rng.between_ms(0, 300));
        est.cp.resume();
        *target.admin_url.write().unwrap() = est.cp.base_url();
        target.epoch.fetch_add(1, Ordering::SeqCst);
        proxy.set_target(est.cp.port());
        if kill_dp {
            dp.restart();
        }
        let _closed = workload.gate.write().unwrap();
        let ledger = workload.entries();
        // The changes since the last check; everything again at the end.
        let c = verify_since(&est.cp, &ledger, checked_up_to);
        checked_up_to = ledger.len();
        println!(
            "kill {}: {} changes since the last ({} acknowledged, {} unanswered); {} certificates checked; {} log records in order",
            kill + 1,
            c.changes,
            c.acked,
            c.unanswered,
            c.certificates,
            c.log_records
        );
        add(&mut total, c);
    }
    workload.stop();
    shared_writes += shared(&est.cp);
    println!("commits that shared a synced write with another: {shared_writes}");
    if issuers > 0 {
        assert!(
            shared_writes > 0.0,
            "no group commit happened: nothing concurrent was tested"
        );
    }
    let ledger = workload.entries();
    let last = verify(&est.cp, &ledger);
    add(&mut total, last);
    // What the workload did, by kind: (asked, acknowledged).
    let mut by_kind = std::collections::BTreeMap::<String, (usize, usize)>::new();
    for e in &ledger {
        let kind = format!("{:?}", e.op);
        let kind = kind.split([' ', '{']).next().unwrap_or_default().to_owned();
        let k = by_kind.entry(kind).or_default();
        k.0 += 1;
        k.1 += usize::from(e.outcome.acked());
    }
    println!("changes by kind (asked, acknowledged): {by_kind:?}");
    assert!(
        by_kind.get("Issue").is_some_and(|k| k.1 > 0),
        "no issuance acknowledged"
    );

    // The data plane killed mid-stream holds exactly the control plane's state.
    let digest = assert_converged(&est.cp, &dp, "data plane after kills");

    // A new data plane killed in the middle of its first snapshot (a 16 KB/s link), then
    // restarted at full speed, converges as well.
    proxy.set_rate(16 * 1024);
    let mut fresh = DataPlane::start_unready(&proxy.url());
    let begun = Instant::now();
    loop {
        let m = request(fresh.metrics_port(), &get_request("/metrics", ""))
            .map(|r| r.text())
            .unwrap_or_default();
        let connected = metric_in(&m, "sigil_dp_replication_connected") == Some(1.0);
        if connected && begun.elapsed() > Duration::from_millis(1500) {
            assert_eq!(
                metric_in(&m, "sigil_dp_replication_snapshots_total"),
                Some(0.0),
                "the snapshot finished before the kill: make the state bigger or the link slower"
            );
            break;
        }
        assert!(
            begun.elapsed() < Duration::from_secs(30),
            "{}",
            fresh.logs()
        );
        sleep(Duration::from_millis(100));
    }
    fresh.kill9();
    proxy.set_rate(0);
    fresh.restart();
    assert_converged(&est.cp, &fresh, "data plane killed mid-snapshot");

    println!(
        "chaos: {kills} control-plane kills and {} data-plane kills survived in {:.0?}; {} changes ({} acknowledged, {} unanswered), each checked after the restart that followed it and all again at the end; {} certificate checks (OCSP both hashes, status, audit); {} replication log records read back in order; digests equal: {}",
        dp_kills + 1,
        started.elapsed(),
        last.changes,
        last.acked,
        last.unanswered,
        total.certificates,
        total.log_records,
        digest["kinds"]
    );
}
