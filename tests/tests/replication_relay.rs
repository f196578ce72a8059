//! A data plane subscribed to another data plane's relay (docs/replication.md "Relays"): real
//! `sigil-cp` and two `sigil-dp`. A replicates from the control plane with `[relay]` on and a
//! short retained log; B replicates from A only. B bootstraps by a snapshot from A, follows
//! issuances, revocations, a KES key and an SSH group, and its state digest equals the control
//! plane's; B restarted resumes from A without a snapshot; A killed with SIGKILL and restarted
//! is rejoined by B without a gap; a wrong token gets 401; a bad `[relay]` exits 64. Over
//! `[relay.tls]` with required client certificates, B follows A through https.

use std::path::Path;
use std::process::Command;

use serde_json::{json, Value};
use sigil_tests::converge::assert_converged;
use sigil_tests::dp::{get_request, metric_in, ocsp_request, request, DataPlane};
use sigil_tests::pki::ocsp_verify;
use sigil_tests::tls::{curl, TlsFiles};
use sigil_tests::tools::{promtool, promtool_check_metrics};
use sigil_tests::{bin_path, free_port, gen_csr, CertFiles, ControlPlane, Issued};
use sigil_tests::{write_file, REPLICATION_TOKEN};

/// Records the relay keeps: fewer than the workload before B starts, so B needs a snapshot.
const RETAIN: u64 = 12;

struct Probe {
    cert: Issued,
    files: CertFiles,
    req: Vec<u8>,
}

fn probe(cp: &ControlPlane, dir: &Path, name: &str) -> Probe {
    let csr = gen_csr(&cp.work_dir(), &format!("{name}.example.com"), &[]);
    let cert = cp.issue(&cp.demo_issuer_id(), &csr);
    let files = cert.write(dir, name);
    let req = ocsp_request(dir, &files, false);
    Probe { cert, files, req }
}

fn revoke(cp: &ControlPlane, p: &Probe) {
    let (status, body) = cp.revoke(&p.cert.id, "keyCompromise");
    assert_eq!(status, 200, "revoke: {body}");
}

/// openssl's verdict on the data plane's answer for `p`.
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

fn created(cp: &ControlPlane, method: &str, path: &str, body: Value) {
    let (status, v) = cp.api(method, path, Some(&body));
    assert!(
        (200..300).contains(&status),
        "{method} {path}: {status} {v}"
    );
}

fn relay_toml(port: u16) -> String {
    format!(
        "[relay]\nlisten = \"127.0.0.1:{port}\"\ntoken = \"{REPLICATION_TOKEN}\"\n\
         retain_records = {RETAIN}\nheartbeat_secs = 1\n"
    )
}

fn downstream_toml() -> &'static str {
    "[control_plane]\nreconnect_min_ms = 100\nreconnect_max_ms = 500\nread_timeout_secs = 5\n"
}

#[test]
fn a_downstream_bootstraps_from_a_relay_follows_it_and_survives_restarts() {
    let cp = ControlPlane::start();
    let relay_port = free_port();
    let mut a = DataPlane::start_with_config(&cp.base_url(), Some(&relay_toml(relay_port)));
    let dir = a.work_dir();

    // More records than the relay keeps: issuances, revocations, a KES key, an SSH group.
    let mut probes: Vec<Probe> = (0..8)
        .map(|i| probe(&cp, &dir, &format!("pre-{i}")))
        .collect();
    revoke(&cp, &probes[1]);
    revoke(&cp, &probes[2]);
    created(
        &cp,
        "POST",
        "/api/v1/kes/keys",
        json!({"name": "relay-key-1"}),
    );
    created(
        &cp,
        "POST",
        "/api/groups",
        json!({"cn": "relayed", "description": "via A"}),
    );
    let head = assert_converged(&cp, &a, "the relay");
    assert!(
        head > RETAIN + 1,
        "head {head}: too few records for a snapshot"
    );
    let oldest = a.metric("sigil_dp_relay_oldest_retained_sequence") as u64;
    assert!(
        oldest > head + 1 - RETAIN - 1 && oldest > 1,
        "oldest {oldest}, head {head}"
    );

    // B, subscribed to A only: a snapshot from A (its log no longer starts at 1).
    let relay_url = format!("http://127.0.0.1:{relay_port}");
    let mut b = DataPlane::start_with_config(&relay_url, Some(downstream_toml()));
    assert_converged(&cp, &b, "the downstream after its snapshot");
    assert_eq!(b.metric("sigil_dp_replication_snapshots_total"), 1.0);
    assert_eq!(a.metric("sigil_dp_relay_snapshots_served_total"), 1.0);
    assert_eq!(a.metric("sigil_dp_relay_downstreams"), 1.0);
    assert_eq!(served_status(&b, &probes[1]), "revoked");
    assert_eq!(served_status(&b, &probes[0]), "good");

    // Then B follows A's records: issuance, revocation, KES, SSH.
    let served_before = a.metric("sigil_dp_relay_records_served_total");
    probes.push(probe(&cp, &dir, "after-0"));
    revoke(&cp, &probes[0]);
    created(
        &cp,
        "POST",
        "/api/v1/kes/keys",
        json!({"name": "relay-key-2"}),
    );
    created(
        &cp,
        "POST",
        "/api/groups",
        json!({"cn": "relayed-2", "description": "later"}),
    );
    assert_converged(&cp, &b, "the downstream following records");
    assert_eq!(b.metric("sigil_dp_replication_snapshots_total"), 1.0);
    assert!(a.metric("sigil_dp_relay_records_served_total") > served_before);
    assert_eq!(served_status(&b, &probes[0]), "revoked");
    assert_eq!(served_status(&b, &probes[8]), "good");

    // B stopped while a record commits, then restarted: resumes from A, no snapshot.
    b.kill9();
    probes.push(probe(&cp, &dir, "while-b-down"));
    b.restart();
    // One scrape: the applied sequence B started from (none applied twice or skipped since).
    let text = b.metrics();
    let base = metric_in(&text, "sigil_dp_replication_applied_sequence").unwrap() as u64
        - metric_in(&text, "sigil_dp_replication_records_applied_total").unwrap() as u64;
    probes.push(probe(&cp, &dir, "after-restart"));
    let head = assert_converged(&cp, &b, "the downstream after its restart");
    assert_eq!(b.metric("sigil_dp_replication_snapshots_total"), 0.0);
    assert_eq!(a.metric("sigil_dp_relay_snapshots_served_total"), 1.0);
    assert_eq!(
        b.metric("sigil_dp_replication_records_applied_total") as u64,
        head - base,
        "every record once after the restart"
    );

    // A killed (SIGKILL) while records commit, then restarted: B rejoins, no gap.
    a.kill9();
    probes.push(probe(&cp, &dir, "while-a-down"));
    revoke(&cp, &probes[9]);
    created(
        &cp,
        "POST",
        "/api/v1/kes/keys",
        json!({"name": "relay-key-3"}),
    );
    a.restart();
    assert_converged(&cp, &a, "the relay after SIGKILL");
    let head = assert_converged(&cp, &b, "the downstream after the relay's SIGKILL");
    assert_eq!(b.metric("sigil_dp_replication_snapshots_total"), 0.0);
    assert_eq!(
        b.metric("sigil_dp_replication_records_applied_total") as u64,
        head - base,
        "every record exactly once across the relay's crash"
    );
    assert_eq!(served_status(&b, &probes[9]), "revoked");
    assert_eq!(served_status(&b, &probes[10]), "good");
    assert_eq!(served_status(&b, &probes[11]), "good");
    let (status, ready) = b.ready();
    assert_eq!(status, 200, "{ready}");

    // A wrong or missing token: 401 with the control plane's JSON error.
    for auth in ["Authorization: Bearer wrong-token\r\n", ""] {
        let r = request(
            relay_port,
            &get_request("/api/v1/replication/stream?after=0", auth),
        )
        .expect("relay answers");
        assert_eq!(r.status, 401, "{}", r.text());
        let body: Value = serde_json::from_slice(&r.body).expect("JSON");
        assert_eq!(body["error"], "unauthorized", "{body}");
    }
    assert!(
        !a.stderr_log().contains(REPLICATION_TOKEN),
        "the token is logged"
    );
    if let Some(promtool) = promtool() {
        let findings = promtool_check_metrics(&promtool, &a.metrics());
        assert!(findings.is_empty(), "promtool check metrics:\n{findings}");
    }
    let text = a.metrics();
    assert_eq!(metric_in(&text, "sigil_dp_relay_downstreams"), Some(1.0));
}

#[test]
fn a_relay_over_mutual_tls() {
    let cp = ControlPlane::start();
    let relay_port = free_port();
    let files = TlsFiles::generate(&cp.work_dir().join("relay-tls"));
    let p = |f: &Path| f.to_str().expect("utf-8 path").to_string();
    let relay = format!(
        "{}[relay.tls]\ncert = \"{}\"\nkey = \"{}\"\nclient_ca = \"{}\"\n",
        relay_toml(relay_port),
        p(&files.cert),
        p(&files.key),
        p(&files.client_ca)
    );
    let a = DataPlane::start_with_config(&cp.base_url(), Some(&relay));
    let probe = probe(&cp, &a.work_dir(), "tls-0");
    revoke(&cp, &probe);
    assert_converged(&cp, &a, "the relay");

    let url = format!("https://127.0.0.1:{relay_port}");
    let downstream = format!(
        "{}client_cert = \"{}\"\nclient_key = \"{}\"\n",
        downstream_toml(),
        p(&files.client_cert),
        p(&files.client_key)
    );
    let ca = p(&files.ca);
    let b = DataPlane::start_with_args(&url, Some(&downstream), &["--control-plane-ca", &ca]);
    assert_converged(&cp, &b, "the downstream over TLS");
    assert_eq!(served_status(&b, &probe), "revoked");

    // Without a client certificate the handshake fails; with one, a wrong token is 401.
    let path = format!("{url}/api/v1/replication/stream?after=0");
    let no_cert = curl(&cp.work_dir(), &files.ca, &path, &[]);
    assert_ne!(no_cert.exit, 0, "no client certificate: {}", no_cert.stderr);
    let (cert, key) = (p(&files.client_cert), p(&files.client_key));
    let wrong = curl(
        &cp.work_dir(),
        &files.ca,
        &path,
        &[
            "--cert",
            &cert,
            "--key",
            &key,
            "-H",
            "Authorization: Bearer wrong",
        ],
    );
    assert_eq!(wrong.code(), 401, "{}", wrong.stderr);
    assert_eq!(wrong.json()["error"], "unauthorized");
}

#[test]
fn bad_relay_sections_exit_64_before_binding() {
    let dir = tempfile::tempdir().expect("tempdir");
    let run = |toml: &str, token: Option<&str>| {
        let path = dir.path().join("sigil-dp.toml");
        write_file(&path, toml);
        let mut cmd = Command::new(bin_path("sigil-dp"));
        cmd.args(["--validate", "--config"]).arg(&path);
        cmd.env_remove("SIGIL_RELAY_TOKEN");
        if let Some(t) = token {
            cmd.env("SIGIL_RELAY_TOKEN", t);
        }
        let out = cmd.output().expect("run sigil-dp");
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        (out.status.code(), err)
    };
    let ok = "listen = \"127.0.0.1:18080\"\n[relay]\nlisten = \"127.0.0.1:19445\"\n";
    assert_eq!(run(ok, Some("t")).0, Some(0));
    for (toml, token, says) in [
        (ok.to_string(), None, "SIGIL_RELAY_TOKEN"),
        (
            ok.replace("19445", "18080"),
            Some("t"),
            "must not share its port with listen",
        ),
        (
            format!("{ok}retain_records = 0\n"),
            Some("t"),
            "relay.retain_records",
        ),
        (
            format!("{ok}[relay.tls]\ncert = \"/nonexistent.pem\"\nkey = \"/nonexistent.key\"\n"),
            Some("t"),
            "relay.tls.cert",
        ),
    ] {
        let (code, err) = run(&toml, token);
        assert_eq!(code, Some(64), "{toml}: {err}");
        assert!(err.contains(says), "{toml}: {err}");
    }
}
