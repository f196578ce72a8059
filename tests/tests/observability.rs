//! What operators' collectors read from both planes (docs/OPERATIONS.md): the log on stderr
//! (no ANSI escape codes when stderr is not a terminal; `--log-format json` /
//! `SIGIL_LOG_FORMAT=json` gives one JSON object per line) and `/metrics` (`promtool check
//! metrics` finds nothing on either plane, after traffic of every service so that the families
//! that appear only once used are there too).
//!
//! The same live `/metrics` judge the deploy kit: every metric the Prometheus alert rules
//! (deploy/prometheus/) and the Grafana dashboard (deploy/grafana/) query exists on the plane
//! its prefix names (`sigil_cp_` or `sigil_dp_`; a histogram's `_bucket`, `_sum`, `_count`
//! map to its family; `up` is Prometheus's own).
//!
//! `promtool` comes from Debian's `prometheus` package (scripts/setup-debian.sh); without it
//! the test fails, unless `SIGIL_ALLOW_MISSING_TOOLS=1` outside CI (`sigil_tests::tools`).

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::Value;
use sigil_tests::deploy_kit::{
    alert_exprs, dashboard, dashboard_exprs, exposes, families, metric_names,
};
use sigil_tests::dp::{ocsp_request, wait_for, DataPlane};
use sigil_tests::kes::{fleet, ok, Fleet};
use sigil_tests::tools::{promtool, promtool_check_metrics};
use sigil_tests::ControlPlane;

/// The lines a process wrote to stderr, without the harness's `===== start` separators.
fn log_lines(text: &str) -> Vec<&str> {
    text.lines()
        .filter(|l| !l.starts_with("===== start") && !l.trim().is_empty())
        .collect()
}

fn cp_stderr(cp: &ControlPlane) -> String {
    std::fs::read_to_string(cp.path().join("stderr.log")).expect("read sigil-cp stderr.log")
}

/// Some traffic of every kind both planes count: issuance, revocation (and so a CRL), the
/// OCSP, CRL and CA certificate routes, SSH lookups, and KES calls on the data plane.
fn traffic(f: &Fleet) {
    let (cp, dp) = (&f.cp, &f.dps[0]);
    let issuer = cp.demo_issuer_id();
    let good = cp.issue_new(&issuer, "observability.example");
    let revoked = cp.issue_new(&issuer, "revoked.observability.example");
    let (status, body) = cp.revoke(&revoked.id, "keyCompromise");
    assert_eq!(status, 200, "revoke: {body}");
    let files = good.write(&cp.work_dir(), "good");
    let request = ocsp_request(&cp.work_dir(), &files, false);
    // The data plane may not have applied the issuance yet: any OCSP answer counts.
    dp.post_ocsp("/", &request);
    assert_eq!(dp.get(&format!("/crl/{issuer}.crl")).status, 200);
    assert_eq!(dp.get(&format!("/ca/{issuer}.pem")).status, 200);
    assert_eq!(dp.get("/api/userca").status, 200);
    dp.get("/api/authkeys?username=nobody&host=nowhere");
    assert_eq!(dp.get("/no/such/route").status, 404);
    ok(
        &f.admin.call("POST", "/v1/key/create/obs-key", None),
        "create",
    );
    ok(
        &f.admin.call("POST", "/v1/key/generate/obs-key", Some("{}")),
        "generate",
    );
    f.admin.call("GET", "/v1/key/describe/no-such-key", None);
    // The revocation's CRL comes after the CRL job's debounce (2 s by default).
    wait_for(
        Duration::from_secs(20),
        "a CRL after the revocation",
        || {
            metrics_of_cp(cp)
                .contains("sigil_cp_crls_generated_total{")
                .then_some(())
        },
    );
}

fn metrics_of_cp(cp: &ControlPlane) -> String {
    let r = cp.request("GET", "/metrics", None, None, None);
    assert_eq!(r.status, 200, "sigil-cp /metrics: {}", r.text());
    r.text()
}

fn assert_no_escape(what: &str, log: &str) {
    assert!(!log_lines(log).is_empty(), "{what} logged nothing");
    if let Some(line) = log.lines().find(|l| l.contains('\x1b')) {
        panic!("{what}'s stderr (a file) holds an ANSI escape sequence: {line:?}");
    }
}

/// Asserts that `promtool check metrics` finds nothing in `text`, which must hold `expect`.
fn assert_promtool_clean(promtool: &std::path::Path, what: &str, text: &str, expect: &[&str]) {
    for name in expect {
        assert!(
            text.contains(&format!("# TYPE {name} ")),
            "{what} /metrics has no family {name}:\n{text}"
        );
    }
    let findings = promtool_check_metrics(promtool, text);
    assert!(
        findings.is_empty(),
        "promtool check metrics on {what}'s /metrics:\n{findings}"
    );
}

/// The metrics the deploy kit queries that `cp`'s and `dp`'s families lack: `(where, name)`.
fn missing_deploy_metrics(
    cp: &BTreeMap<String, String>,
    dp: &BTreeMap<String, String>,
) -> Vec<String> {
    let mut queries: Vec<(String, String)> = alert_exprs()
        .into_iter()
        .map(|(alert, e)| (format!("alert {alert}"), e))
        .collect();
    queries.extend(
        dashboard_exprs(&dashboard())
            .into_iter()
            .map(|(panel, e)| (format!("dashboard panel {panel:?}"), e)),
    );
    assert!(queries.len() > 20, "too few queries found: {queries:?}");
    let mut missing = Vec::new();
    for (place, expr) in queries {
        let names = metric_names(&expr);
        assert!(!names.is_empty(), "{place}: no metric in {expr:?}");
        for name in names {
            let found = if name == "up" {
                true
            } else if name.starts_with("sigil_cp_") {
                exposes(cp, &name)
            } else if name.starts_with("sigil_dp_") {
                exposes(dp, &name)
            } else {
                false
            };
            if !found {
                missing.push(format!("{place}: {name} (in {expr:?})"));
            }
        }
    }
    missing
}

/// One control plane and one data plane (with the key service), text logs, traffic of every
/// service; then the checks that read their logs and metrics.
#[test]
fn live_planes_logs_and_metrics() {
    let dir = tempfile::tempdir().expect("tempdir");
    let f = fleet(1, dir.path());
    traffic(&f);
    let (cp, dp) = (&f.cp, &f.dps[0]);

    assert_no_escape("sigil-cp", &cp_stderr(cp));
    assert_no_escape("sigil-dp", &dp.stderr_log());

    let cp_metrics = metrics_of_cp(cp);
    let dp_metrics = dp.metrics();
    let missing = missing_deploy_metrics(&families(&cp_metrics), &families(&dp_metrics));
    assert!(
        missing.is_empty(),
        "metrics the deploy kit queries that no live /metrics has:\n{}",
        missing.join("\n")
    );
    if let Some(promtool) = promtool() {
        assert_promtool_clean(
            &promtool,
            "sigil-cp",
            &cp_metrics,
            &[
                "sigil_cp_certificates_revoked_total",
                "sigil_cp_ca_signing_duration_seconds",
                "sigil_cp_http_request_duration_seconds",
            ],
        );
        assert_promtool_clean(
            &promtool,
            "sigil-dp",
            &dp_metrics,
            &[
                "sigil_dp_requests_total",
                "sigil_dp_index_last_build_seconds",
                "sigil_dp_replication_lag_records",
            ],
        );
    }
}

/// Every line a JSON object with a level, a target and a message.
fn assert_json_lines(what: &str, log: &str) {
    let lines = log_lines(log);
    assert!(lines.len() >= 2, "{what} logged too little:\n{log}");
    for line in lines {
        let v: Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("{what}: a log line is not JSON ({e}): {line:?}"));
        for field in ["timestamp", "level", "target", "message"] {
            assert!(
                v.get(field).is_some(),
                "{what}: no {field:?} in log line {line}"
            );
        }
        assert!(!line.contains('\x1b'), "{what}: escape code in {line:?}");
    }
}

#[test]
fn json_log_format_writes_one_json_object_per_line() {
    // The control plane takes the environment variable, the data plane the flag.
    let cp = ControlPlane::start_with(None, &[("SIGIL_LOG_FORMAT", "json")], true);
    let dp = DataPlane::start_with_args(&cp.base_url(), None, &["--log-format", "json"]);
    let issuer = cp.demo_issuer_id();
    cp.issue_new(&issuer, "observability.example");
    assert_eq!(dp.get(&format!("/crl/{issuer}.crl")).status, 200);
    assert_json_lines("sigil-cp", &cp_stderr(&cp));
    assert_json_lines("sigil-dp", &dp.stderr_log());
}
