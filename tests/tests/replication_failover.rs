//! A data plane with several control-plane URLs (docs/replication.md "Failover"): real
//! `sigil-cp` and `sigil-dp` processes, the URLs tried in order. A dead port and a control
//! plane that refuses the token (401) are skipped; with two TCP proxies in front of one control
//! plane, killing the first in the middle of a stream of issuances and revocations moves the
//! data plane to the second, and killing the second (the first back) returns it to the first.
//! Every record is applied exactly once (records applied = head, the state digests equal), the
//! served OCSP statuses are the control plane's, and `/metrics` shows where the stream is.

use std::collections::HashSet;
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use sigil_tests::dp::{metric_in, ocsp_request, wait_for, DataPlane, TcpProxy};
use sigil_tests::pki::ocsp_verify;
use sigil_tests::tools::{promtool, promtool_check_metrics};
use sigil_tests::{bin_path, free_port, gen_csr, CertFiles, ControlPlane, Issued};

/// A certificate with its files and a DER OCSP request for it.
struct Probe {
    cert: Issued,
    files: CertFiles,
    req: Vec<u8>,
}

fn probe(cp: &ControlPlane, dir: &Path, issuer: &str, csr: &str, name: &str) -> Probe {
    let cert = cp.issue(issuer, csr);
    let files = cert.write(dir, name);
    let req = ocsp_request(dir, &files, false);
    Probe { cert, files, req }
}

/// CSRs named `<prefix>-<i>` (generated before the workload: openssl is the slow part).
fn csrs(cp: &ControlPlane, prefix: &str, n: usize) -> Vec<String> {
    (0..n)
        .map(|i| gen_csr(&cp.work_dir(), &format!("{prefix}-{i}.example.com"), &[]))
        .collect()
}

/// openssl's verdict on the data plane's answer for `p`: `good` or `revoked`.
fn served_status(dp: &DataPlane, p: &Probe) -> &'static str {
    let r = dp.post_ocsp("/", &p.req);
    assert_eq!(r.status, 200, "POST /: {}", r.head);
    let out = ocsp_verify(&dp.work_dir(), &r.body, &p.files, "sha1").1;
    assert!(out.contains("Response verify OK"), "{out}");
    match () {
        _ if out.contains(": revoked") => "revoked",
        _ if out.contains(": good") => "good",
        _ => panic!("neither good nor revoked:\n{out}"),
    }
}

fn upstream_metric(url: &str) -> String {
    format!("sigil_dp_replication_upstream{{url=\"{url}\"}}")
}

/// Waits until the stream is established on `url` (its gauge is 1).
fn wait_on(dp: &DataPlane, url: &str, what: &str) -> Duration {
    let start = Instant::now();
    let name = upstream_metric(url);
    wait_for(Duration::from_secs(30), what, || {
        (metric_in(&dp.metrics(), &name) == Some(1.0)).then_some(())
    });
    start.elapsed()
}

/// Waits until the data plane is at the control plane's head with its digest
/// ([`sigil_tests::converge::assert_converged`]); then checks that every record was applied
/// exactly once. Returns the head.
fn assert_converged(cp: &ControlPlane, dp: &DataPlane, what: &str) -> u64 {
    let head = sigil_tests::converge::assert_converged(cp, dp, what);
    // A fresh replica, no snapshot: records 1..=head, each applied once.
    assert_eq!(dp.metric("sigil_dp_replication_snapshots_total"), 0.0);
    assert_eq!(
        dp.metric("sigil_dp_replication_records_applied_total") as u64,
        head,
        "{what}: records applied != head"
    );
    head
}

fn assert_promtool_clean(dp: &DataPlane) {
    if let Some(promtool) = promtool() {
        let findings = promtool_check_metrics(&promtool, &dp.metrics());
        assert!(findings.is_empty(), "promtool check metrics:\n{findings}");
    }
}

#[test]
fn dead_and_refusing_urls_are_skipped() {
    let cp = ControlPlane::start();
    // A control plane that does not know this data plane's token: 401.
    let other = ControlPlane::start_with(
        None,
        &[("SIGIL_REPLICATION_TOKEN", "another-fleet-token")],
        true,
    );
    let dead = format!("http://127.0.0.1:{}", free_port());
    let (refusing, good) = (other.base_url(), cp.base_url());
    let dp = DataPlane::start(&format!("{dead},{refusing},{good}"));
    let took = wait_on(&dp, &good, "the stream on the third URL");
    println!("dead port and 401 skipped; on {good} after {took:?} more");

    let issuer = cp.demo_issuer_id();
    let csr = &csrs(&cp, "skip", 2);
    let p = [0, 1].map(|i| probe(&cp, &dp.work_dir(), &issuer, &csr[i], &format!("skip-{i}")));
    let (status, body) = cp.revoke(&p[1].cert.id, "keyCompromise");
    assert_eq!(status, 200, "revoke: {body}");
    assert_converged(&cp, &dp, "via the third URL");
    assert_eq!(served_status(&dp, &p[0]), "good");
    assert_eq!(served_status(&dp, &p[1]), "revoked");

    let text = dp.metrics();
    for (url, v) in [(&dead, 0.0), (&refusing, 0.0), (&good, 1.0)] {
        assert_eq!(metric_in(&text, &upstream_metric(url)), Some(v), "{text}");
    }
    assert_eq!(
        metric_in(&text, "sigil_dp_replication_failovers_total"),
        Some(1.0)
    );
    let log = dp.stderr_log();
    let refused = log
        .lines()
        .find(|l| l.contains("refused the replication token (401)"))
        .unwrap_or_else(|| panic!("no 401 line in the log:\n{log}"));
    assert!(refused.contains(&refusing), "{refused}");
    assert!(log
        .lines()
        .any(|l| l.contains("failed over") && l.contains(&good)));
    assert!(
        !log.contains(sigil_tests::REPLICATION_TOKEN),
        "the token is logged"
    );
    assert_promtool_clean(&dp);
}

#[test]
fn fails_over_mid_stream_and_back_applying_every_record_once() {
    let cp = ControlPlane::start();
    let (a, b) = (TcpProxy::start(cp.port()), TcpProxy::start(cp.port()));
    // The second URL as a repeated flag (the harness gives the first).
    let dp = DataPlane::start_with_args(&a.url(), None, &["--control-plane", &b.url()]);
    wait_on(&dp, &a.url(), "the stream on the first proxy");
    let issuer = cp.demo_issuer_id();
    let dir = dp.work_dir();

    // Issuance and revocations on the control plane while the first proxy is killed.
    let csr = csrs(&cp, "failover", 24);
    let issued = AtomicUsize::new(0);
    // The workload goes on through the kill; past two thirds it waits for the failover, so
    // that records are committed before, during and after it whatever the machine's speed.
    let failed_over = AtomicBool::new(false);
    let mut probes: Vec<Probe> = Vec::new();
    let mut revoked: HashSet<usize> = HashSet::new();
    std::thread::scope(|s| {
        let worker = s.spawn(|| {
            let mut mine = (Vec::new(), HashSet::new());
            for (i, c) in csr.iter().enumerate() {
                if i == 16 {
                    wait_for(Duration::from_secs(60), "the failover", || {
                        failed_over.load(Ordering::SeqCst).then_some(())
                    });
                }
                mine.0
                    .push(probe(&cp, &dir, &issuer, c, &format!("failover-{i}")));
                if i % 2 == 1 {
                    let (status, body) = cp.revoke(&mine.0[i - 1].cert.id, "keyCompromise");
                    assert_eq!(status, 200, "revoke: {body}");
                    mine.1.insert(i - 1);
                }
                issued.fetch_add(1, Ordering::SeqCst);
                std::thread::sleep(Duration::from_millis(40));
            }
            mine
        });
        wait_for(Duration::from_secs(60), "8 issuances", || {
            (issued.load(Ordering::SeqCst) >= 8).then_some(())
        });
        let applied = dp.metric("sigil_dp_replication_applied_sequence");
        a.kill();
        let at = issued.load(Ordering::SeqCst);
        let took = wait_on(&dp, &b.url(), "the failover to the second proxy");
        failed_over.store(true, Ordering::SeqCst);
        let (at_failover, total) = (issued.load(Ordering::SeqCst), csr.len());
        println!(
            "first proxy killed after {at} issuances (applied {applied}); on the second after \
             {took:?}, {at_failover} of {total} issued by then"
        );
        (probes, revoked) = worker.join().expect("workload");
    });
    let head = assert_converged(&cp, &dp, "after failing over");
    for (i, p) in probes.iter().enumerate() {
        let want = if revoked.contains(&i) {
            "revoked"
        } else {
            "good"
        };
        assert_eq!(
            served_status(&dp, p),
            want,
            "{} after the failover",
            p.cert.serial
        );
    }
    let text = dp.metrics();
    assert_eq!(metric_in(&text, &upstream_metric(&a.url())), Some(0.0));
    assert_eq!(metric_in(&text, &upstream_metric(&b.url())), Some(1.0));
    assert_eq!(
        metric_in(&text, "sigil_dp_replication_failovers_total"),
        Some(1.0)
    );
    println!("on the second proxy: head {head}, digests equal");

    // The first proxy is back; the second dies: the data plane returns to the first.
    a.revive();
    let more = csrs(&cp, "failback", 4);
    b.kill();
    let took = wait_on(&dp, &a.url(), "the return to the first proxy");
    println!("second proxy killed: back on the first after {took:?}");
    for (i, c) in more.iter().enumerate() {
        let p = probe(&cp, &dir, &issuer, c, &format!("failback-{i}"));
        let (status, body) = cp.revoke(&p.cert.id, "cessationOfOperation");
        assert_eq!(status, 200, "revoke: {body}");
        probes.push(p);
    }
    let (status, body) = cp.revoke(&probes[1].cert.id, "superseded");
    assert_eq!(status, 200, "revoke: {body}");
    assert_converged(&cp, &dp, "after failing back");
    for p in &probes[probes.len() - more.len()..] {
        assert_eq!(served_status(&dp, p), "revoked");
    }
    assert_eq!(served_status(&dp, &probes[1]), "revoked");
    let text = dp.metrics();
    assert_eq!(metric_in(&text, &upstream_metric(&a.url())), Some(1.0));
    assert_eq!(metric_in(&text, &upstream_metric(&b.url())), Some(0.0));
    assert_eq!(
        metric_in(&text, "sigil_dp_replication_failovers_total"),
        Some(2.0)
    );
    let (status, ready) = dp.ready();
    assert_eq!(status, 200, "{ready}");
    assert_promtool_clean(&dp);
}

#[test]
fn bad_url_lists_exit_64_before_binding() {
    let run = |urls: &str| {
        let out = Command::new(bin_path("sigil-dp"))
            .args(["--validate", "--control-plane", urls])
            .env("SIGIL_REPLICATION_TOKEN", "t")
            .output()
            .expect("run sigil-dp");
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        (out.status.code(), err)
    };
    let (code, _) = run("http://127.0.0.1:1,http://127.0.0.1:2");
    assert_eq!(code, Some(0));
    for (urls, says) in [
        (
            "http://cp:1,http://CP:1/",
            "lists http://CP:1 more than once",
        ),
        ("http://cp:1,https://cp:2", "mixes http:// and https://"),
        (
            "https://cp:1,https://cp:2",
            "control_plane.ca_file is required",
        ),
        (
            "http://cp:1,ftp://cp:2",
            "must be an http:// or https:// URL",
        ),
    ] {
        let (code, err) = run(urls);
        assert_eq!(code, Some(64), "{urls}: {err}");
        assert!(err.contains(says), "{urls}: {err}");
    }
    let many: Vec<String> = (0..17).map(|i| format!("http://cp-{i}")).collect();
    let (code, err) = run(&many.join(","));
    assert_eq!(code, Some(64), "{err}");
    assert!(err.contains("at most 16"), "{err}");
}
