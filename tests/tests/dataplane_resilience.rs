//! `sigil-dp` across failures: the control plane going away, `kill -9` of the data plane in the
//! middle of a revocation burst, and bootstrapping from a snapshot.

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread::sleep;
use std::time::{Duration, Instant};

use sigil_tests::dp::{cp_head, ocsp_request, wait_for, DataPlane, TcpProxy};
use sigil_tests::pki::ocsp_verify;
use sigil_tests::{gen_csr, CertFiles, ControlPlane, Issued};

/// A certificate with its files and a DER OCSP request for it.
struct Probe {
    cert: Issued,
    files: CertFiles,
    req: Vec<u8>,
}

fn issue_probes(cp: &ControlPlane, dir: &Path, prefix: &str, n: usize) -> Vec<Probe> {
    let issuer = cp.demo_issuer_id();
    let csrs: Vec<String> = (0..n)
        .map(|i| gen_csr(&cp.work_dir(), &format!("{prefix}-{i}.example.com"), &[]))
        .collect();
    csrs.iter()
        .enumerate()
        .map(|(i, csr)| {
            let cert = cp.issue(&issuer, csr);
            let files = cert.write(dir, &format!("{prefix}-{i}"));
            let req = ocsp_request(dir, &files, false);
            Probe { cert, files, req }
        })
        .collect()
}

/// openssl's verdict on the data plane's answer to a POST for `p`.
fn verdict(dp: &DataPlane, p: &Probe) -> String {
    let r = dp.post_ocsp("/", &p.req);
    assert_eq!(r.status, 200, "POST /: {}", r.head);
    ocsp_verify(&dp.work_dir(), &r.body, &p.files, "sha1").1
}

fn assert_status(dp: &DataPlane, p: &Probe, want: &str, what: &str) {
    let out = verdict(dp, p);
    assert!(
        out.contains("Response verify OK") && out.contains(want),
        "{what}: {} is not {want:?}:\n{out}\n{}",
        p.cert.serial,
        dp.logs()
    );
}

fn wait_status(dp: &DataPlane, p: &Probe, want: &str, timeout: Duration) -> Duration {
    let start = Instant::now();
    wait_for(
        timeout,
        &format!("{} to be {want:?}", p.cert.serial),
        || verdict(dp, p).contains(want).then_some(()),
    );
    start.elapsed()
}

/// Waits until the data plane has applied the control plane's head and the head stayed put
/// for `quiet` (debounced CRL regeneration appends records a while after revocations).
fn wait_caught_up(cp: &ControlPlane, dp: &DataPlane, quiet: Duration) -> u64 {
    let mut stable_since: Option<(u64, Instant)> = None;
    wait_for(
        Duration::from_secs(60),
        "the data plane to catch up",
        || {
            let head = cp_head(cp);
            let applied = dp.metric("sigil_dp_replication_applied_sequence") as u64;
            match stable_since {
                Some((h, t)) if h == head && applied == head => {
                    return (t.elapsed() >= quiet).then_some(head);
                }
                _ if applied == head => stable_since = Some((head, Instant::now())),
                _ => stable_since = None,
            }
            None
        },
    )
}

#[test]
fn dataplane_control_plane_down_then_back() {
    let mut cp = ControlPlane::start();
    let proxy = TcpProxy::start(cp.port());
    let mut dp = DataPlane::start(&proxy.url());
    let probes = issue_probes(&cp, &dp.work_dir(), "cpdown", 2);
    let (good, revoked) = (&probes[0], &probes[1]);
    let (status, body) = cp.revoke(&revoked.cert.id, "keyCompromise");
    assert_eq!(status, 200, "revoke: {body}");
    wait_status(&dp, good, ": good", Duration::from_secs(10));
    wait_status(&dp, revoked, ": revoked", Duration::from_secs(10));

    cp.kill9();
    let down = Instant::now();
    while down.elapsed() < Duration::from_secs(3) {
        assert_status(&dp, good, ": good", "control plane down");
        assert_status(&dp, revoked, ": revoked", "control plane down");
        let (status, body) = dp.ready();
        assert_eq!(
            status, 200,
            "not ready while the control plane is down: {body}"
        );
        sleep(Duration::from_millis(250));
    }
    println!(
        "control plane down {:?}: still serving and ready; connected={} reconnects={}",
        down.elapsed(),
        dp.metric("sigil_dp_replication_connected"),
        dp.metric("sigil_dp_replication_reconnects_total")
    );

    cp.restart();
    proxy.set_target(cp.port());
    let back = Instant::now();
    let fresh = issue_probes(&cp, &dp.work_dir(), "cpback", 1);
    let took = wait_status(&dp, &fresh[0], ": good", Duration::from_secs(30));
    println!(
        "control plane back: new certificate served after {took:?} ({:?} since restart)",
        back.elapsed()
    );
    assert_status(&dp, revoked, ": revoked", "after reconnect");
    dp.assert_alive();
}

/// The `applied=N` of the last `opened replica` line of the data plane's log.
fn opened_at(log: &str) -> u64 {
    let line = log
        .lines()
        .rfind(|l| l.contains("opened replica"))
        .unwrap_or_else(|| panic!("no `opened replica` line in the log:\n{log}"));
    line.split_whitespace()
        .find_map(|w| w.strip_prefix("applied=")?.parse().ok())
        .unwrap_or_else(|| panic!("no applied=N in {line:?}"))
}

#[test]
fn dataplane_kill9_during_revocation_burst() {
    let cp = ControlPlane::start();
    let mut dp = DataPlane::start(&cp.base_url());
    let probes = issue_probes(&cp, &dp.work_dir(), "burst", 50);
    wait_caught_up(&cp, &dp, Duration::ZERO);

    let done = AtomicUsize::new(0);
    let before_kill = std::thread::scope(|s| {
        let revoker = s.spawn(|| {
            for p in &probes {
                let (status, body) = cp.revoke(&p.cert.id, "keyCompromise");
                assert_eq!(status, 200, "revoke {}: {body}", p.cert.id);
                done.fetch_add(1, Ordering::SeqCst);
            }
        });
        wait_for(Duration::from_secs(30), "25 revocations", || {
            (done.load(Ordering::SeqCst) >= 25).then_some(())
        });
        let applied = dp.metric("sigil_dp_replication_applied_sequence") as u64;
        dp.kill9();
        let at = done.load(Ordering::SeqCst);
        revoker.join().expect("revoker thread");
        println!("killed the data plane after {at} revocations (applied seen: {applied})");
        applied
    });

    dp.restart();
    let n = opened_at(&dp.stderr_log());
    let head = wait_caught_up(&cp, &dp, Duration::from_secs(3));
    let applied_total = dp.metric("sigil_dp_replication_records_applied_total") as u64;
    println!("restart opened the replica at applied={n}; head={head}; records applied since: {applied_total}");
    assert!(
        n >= before_kill,
        "replica reopened at {n}, below {before_kill} seen applied before"
    );
    assert_eq!(
        applied_total,
        head - n,
        "records applied after restart != head − opened-at"
    );
    for p in &probes {
        assert_status(&dp, p, ": revoked", "after kill -9 and catch-up");
    }
    // The restarted data plane built its OCSP index from the replica it reopened: what was
    // applied before the kill is served from the index, the rest from the replica.
    assert!(dp.metric("sigil_dp_index_builds_total") >= 1.0);
    assert!(dp.metric("sigil_dp_index_lookups_total") >= 1.0);
    dp.assert_alive();
}

#[test]
fn dataplane_fresh_data_plane_bootstraps_from_snapshot() {
    let cp = ControlPlane::start_with_config("[replication]\nretain_records = 5\n");
    let probes = issue_probes(&cp, &cp.work_dir(), "snap", 20);
    let head = cp_head(&cp);
    let mut dp = DataPlane::start(&cp.base_url());
    wait_for(Duration::from_secs(10), "applied == head", || {
        (dp.metric("sigil_dp_replication_applied_sequence") as u64 >= head).then_some(())
    });
    let snapshots = dp.metric("sigil_dp_replication_snapshots_total");
    println!("head {head}; snapshots applied by the fresh data plane: {snapshots}");
    assert_eq!(
        snapshots, 1.0,
        "a data plane started after the log was trimmed needs a snapshot"
    );
    // The index is rebuilt for the new replica (once at start-up, once after the snapshot);
    // its responses, with the responder certificate spliced back in, verify in openssl.
    wait_for(Duration::from_secs(10), "index of the snapshot", || {
        (dp.metric("sigil_dp_index_builds_total") >= 2.0).then_some(())
    });
    assert!(dp.metric("sigil_dp_index_entries") >= 2.0 * probes.len() as f64);
    for p in &probes {
        let out = verdict(&dp, p);
        assert!(
            out.contains("Response verify OK") && out.contains(": good"),
            "{out}"
        );
    }
    assert!(dp.metric("sigil_dp_index_lookups_total") >= probes.len() as f64);
    let issuer = cp.demo_issuer_id();
    for path in [format!("/ca/{issuer}.cer"), format!("/crl/{issuer}.crl")] {
        let r = dp.get(&path);
        assert_eq!(r.status, 200, "GET {path} after a snapshot: {}", r.head);
    }
    let crl = dp.get(&format!("/crl/{issuer}.crl")).body;
    assert_eq!(crl, cp.crl(&issuer), "CRL after a snapshot");
    dp.assert_alive();
}
