//! The deploy kit (deploy/README.md) checked with the tools operators use: the Prometheus
//! alert rules with `promtool check rules` and their unit tests with `promtool test rules`,
//! every Grafana dashboard query parsed by promtool too (as a recording rule), the Kubernetes
//! manifests with `kubernetes-validate --strict` (PyPI, pinned in
//! scripts/python-requirements.txt, installed by scripts/setup-debian.sh into /opt/sigil-venv;
//! the Kubernetes schemas ship inside it, no network), the Sigil configuration files inside the
//! ConfigMaps with the binaries' own `--validate`, and the Dockerfile's shape (it is not built
//! here). That the metrics the rules and the dashboard query exist is checked against live
//! planes in observability.rs. A missing tool fails the test, unless
//! `SIGIL_ALLOW_MISSING_TOOLS=1` outside CI (`sigil_tests::tools`).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use sigil_tests::deploy_kit::{
    alert_rules_file, configmap_entry, dashboard, dashboard_exprs, deploy_dir, grafana_to_promql,
};
use sigil_tests::tls::TlsFiles;
use sigil_tests::tools::{promtool, require};
use sigil_tests::{bin_path, kes, write_file};

fn output(program: &Path, args: &[&str], dir: &Path) -> Output {
    Command::new(program)
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| panic!("run {}: {e}", program.display()))
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn alert_rules_pass_promtool_check_and_their_unit_tests() {
    let Some(promtool) = promtool() else { return };
    let dir = deploy_dir().join("prometheus");
    let rules = alert_rules_file();
    let check = output(
        &promtool,
        &["check", "rules", rules.to_str().unwrap()],
        &dir,
    );
    assert!(
        check.status.success(),
        "promtool check rules:\n{}",
        text(&check)
    );
    let test = output(&promtool, &["test", "rules", "sigil-alerts.test.yml"], &dir);
    assert!(
        test.status.success(),
        "promtool test rules:\n{}",
        text(&test)
    );
    // Every alert has a unit test.
    let tests = std::fs::read_to_string(dir.join("sigil-alerts.test.yml")).unwrap();
    for (alert, _) in sigil_tests::deploy_kit::alert_exprs() {
        assert!(
            tests.contains(&format!("alertname: {alert}\n")),
            "no unit test for alert {alert} in sigil-alerts.test.yml"
        );
    }
}

#[test]
fn dashboard_queries_are_valid_promql() {
    let d = dashboard();
    assert_eq!(d["uid"], "sigil-overview");
    let queries = dashboard_exprs(&d);
    assert!(queries.len() > 20, "dashboard queries: {queries:?}");
    // Panel ids are unique (Grafana keys panels by id).
    let mut ids: Vec<i64> = d["panels"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["id"].as_i64())
        .collect();
    let n = ids.len();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), n, "duplicate panel ids");
    let Some(promtool) = promtool() else { return };
    // promtool parses a rule file's expressions: one recording rule per query.
    let mut rules = String::from("groups:\n  - name: dashboard\n    rules:\n");
    for (i, (_, expr)) in queries.iter().enumerate() {
        let expr = serde_json::to_string(&grafana_to_promql(expr)).unwrap();
        rules.push_str(&format!(
            "      - record: dashboard:query_{i}\n        expr: {expr}\n"
        ));
    }
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("dashboard-queries.yml");
    write_file(&file, &rules);
    let check = output(
        &promtool,
        &["check", "rules", file.to_str().unwrap()],
        tmp.path(),
    );
    assert!(
        check.status.success(),
        "dashboard queries do not parse:\n{}\n{rules}",
        text(&check)
    );
}

fn kubernetes_validate() -> Option<PathBuf> {
    require(
        &[
            "/opt/sigil-venv/bin/kubernetes-validate",
            "kubernetes-validate",
        ],
        "it is pinned in scripts/python-requirements.txt: `sudo bash scripts/setup-debian.sh` \
         installs it into /opt/sigil-venv",
    )
}

fn manifests() -> Vec<PathBuf> {
    let dir = deploy_dir().join("kubernetes");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    files.sort();
    files
}

#[test]
fn kubernetes_manifests_validate_against_the_schemas() {
    let files = manifests();
    assert!(files.len() >= 4, "manifests: {files:?}");
    let Some(validator) = kubernetes_validate() else {
        return;
    };
    let mut args = vec!["--strict".to_string()];
    args.extend(files.iter().map(|f| f.display().to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = output(&validator, &args, &deploy_dir());
    let report = text(&out);
    assert!(out.status.success(), "kubernetes-validate:\n{report}");
    for kind in [
        "deployment/sigil-cp",
        "deployment/sigil-dp",
        "service/sigil-cp",
    ] {
        assert!(
            report.contains(&format!("passed for resource {kind} ")),
            "{kind} not validated:\n{report}"
        );
    }
}

/// The Sigil configuration files inside the ConfigMaps are valid for the real binaries:
/// `sigil-cp --validate serve` and `sigil-dp --validate` (which read the TLS files they name,
/// here generated under a temporary directory standing for /etc/sigil, and the secrets from
/// the environment, as the manifests give them).
#[test]
fn kubernetes_configmaps_hold_valid_configurations() {
    let tmp = tempfile::tempdir().unwrap();
    let etc = tmp.path().join("etc-sigil");
    let tls = TlsFiles::generate(&tmp.path().join("tls"));
    for (dir, files) in [
        ("admin-tls", [&tls.cert, &tls.key, &tls.ca]),
        ("kes-tls", [&tls.cert, &tls.key, &tls.ca]),
    ] {
        std::fs::create_dir_all(etc.join(dir)).unwrap();
        for (name, from) in ["tls.crt", "tls.key", "ca.crt"].iter().zip(files) {
            std::fs::copy(from, etc.join(dir).join(name)).unwrap();
        }
    }
    let localise = |toml: String| {
        toml.replace("/etc/sigil/", &format!("{}/", etc.display()))
            .replace("/var/lib/", &format!("{}/", tmp.path().display()))
    };
    let k8s = deploy_dir().join("kubernetes");
    let cp_toml = localise(configmap_entry(
        &k8s.join("controlplane.yaml"),
        "sigil-cp-config",
        "sigil-cp.toml",
    ));
    let dp_toml = localise(configmap_entry(
        &k8s.join("dataplane.yaml"),
        "sigil-dp-config",
        "sigil-dp.toml",
    ));
    assert!(cp_toml.contains("backend = \"postgres\""), "{cp_toml}");
    let (cp_file, dp_file) = (tmp.path().join("cp.toml"), tmp.path().join("dp.toml"));
    write_file(&cp_file, &cp_toml);
    write_file(&dp_file, &dp_toml);
    let kek = kes::random_key_b64();
    let token = "k8s-manifest-token-0123456789";
    let cp = Command::new(bin_path("sigil-cp"))
        .args(["--config", cp_file.to_str().unwrap(), "--validate", "serve"])
        .env("SIGIL_ADMIN_TOKEN", token)
        .env("SIGIL_REPLICATION_TOKEN", token)
        .env("SIGIL_KEK", &kek)
        .env(
            "SIGIL_POSTGRES_URL",
            "postgresql://sigil:secret@127.0.0.1:5432/sigil",
        )
        .output()
        .expect("run sigil-cp");
    assert!(
        cp.status.success(),
        "sigil-cp --validate serve on the ConfigMap's sigil-cp.toml:\n{}",
        text(&cp)
    );
    let dp = Command::new(bin_path("sigil-dp"))
        .args(["--config", dp_file.to_str().unwrap(), "--validate"])
        .env("SIGIL_REPLICATION_TOKEN", token)
        .env("SIGIL_KES_KEK", &kek)
        .output()
        .expect("run sigil-dp");
    assert!(
        dp.status.success(),
        "sigil-dp --validate on the ConfigMap's sigil-dp.toml:\n{}",
        text(&dp)
    );
}

/// The image: a build stage with the Rust toolchain building both binaries in release, a
/// Debian slim runtime stage running as a non-root user, no secret in the image.
#[test]
fn dockerfile_is_multi_stage_non_root_and_secret_free() {
    let path = deploy_dir().join("Dockerfile");
    let df = std::fs::read_to_string(&path).unwrap();
    let froms: Vec<&str> = df
        .lines()
        .map(str::trim)
        .filter(|l| l.to_ascii_uppercase().starts_with("FROM "))
        .collect();
    assert_eq!(froms.len(), 2, "two stages: {froms:?}");
    assert!(froms[0].contains("rust:") && froms[0].ends_with(" AS build"));
    assert!(froms[1].contains("debian:") && froms[1].contains("-slim"));
    assert!(df.contains("cargo build --release --locked"));
    for bin in ["sigil-cp", "sigil-dp"] {
        assert!(df.contains(&format!("target/release/{bin}")), "{bin}");
    }
    let user = df
        .lines()
        .rfind(|l| l.trim_start().starts_with("USER "))
        .expect("a USER line");
    assert!(
        !user.contains("root") && !user.contains(" 0"),
        "runs as {user}"
    );
    for secret in [
        "SIGIL_ADMIN_TOKEN",
        "SIGIL_REPLICATION_TOKEN",
        "SIGIL_KEK",
        "SIGIL_KES_KEK",
        "SIGIL_POSTGRES_URL",
    ] {
        assert!(
            !df.contains(secret),
            "the Dockerfile mentions {secret}: secrets come from the environment at run time"
        );
    }
    // The build context is the repository; the ignore file beside the Dockerfile keeps the
    // target directory and the fuzz corpora out of it.
    let ignore = std::fs::read_to_string(deploy_dir().join("Dockerfile.dockerignore")).unwrap();
    assert!(ignore.lines().any(|l| l.trim() == "target"), "{ignore}");
}
