//! Replication over https: `sigil-cp` with `[admin.tls]` (client CA: mTLS optional), `sigil-dp
//! --control-plane https://127.0.0.1:PORT --control-plane-ca CA`. A certificate issued and
//! revoked on the control plane (through curl over TLS) is `good`, then `revoked` in `openssl
//! ocsp` against the data plane, with and without a data-plane client certificate. A wrong
//! CA, a client certificate the control plane does not trust and missing TLS settings fail
//! with errors that name what to fix.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use sigil_tests::dp::{openssl_ocsp_url, wait_for, DataPlane};
use sigil_tests::tls::TlsFiles;
use sigil_tests::{
    bin_path, free_port, gen_csr, id_of, new_tempdir, CertFiles, ControlPlane, Issued, ADMIN_TOKEN,
    ISSUE_PATH, REPLICATION_TOKEN,
};

fn path(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

/// `curl` with the admin token and, when given, a JSON body (POST).
fn admin(cp: &ControlPlane, api_path: &str, body: Option<&Value>) -> (u16, Value) {
    let auth = format!("Authorization: Bearer {ADMIN_TOKEN}");
    let data = body.map(Value::to_string);
    let mut args = vec!["-H", &auth];
    if let Some(d) = &data {
        args.extend(["-H", "Content-Type: application/json", "--data", d]);
    }
    let c = cp.curl(api_path, &args);
    assert_eq!(c.exit, 0, "curl {api_path}: {c:?}");
    (c.code(), c.json())
}

/// Issues `cn` from the demo CA over the TLS admin listener.
fn issue(cp: &ControlPlane, cn: &str) -> Issued {
    let (status, issuers) = admin(cp, "/api/v1/issuers", None);
    assert_eq!(status, 200, "{issuers}");
    let demo = issuers["data"]
        .as_array()
        .and_then(|a| a.iter().find(|i| i["name"] == "demo"))
        .unwrap_or_else(|| panic!("no demo issuer in {issuers}"));
    let csr = gen_csr(&cp.work_dir(), cn, &[cn]);
    let req = json!({ "issuer_id": id_of(demo), "csr": csr });
    let (status, body) = admin(cp, ISSUE_PATH, Some(&req));
    assert_eq!(status, 201, "issuing {cn}: {body}");
    Issued::from_json(body)
}

/// Waits until `openssl ocsp -url` against `dp` prints `verdict` for `files`.
fn wait_verdict(dp: &DataPlane, files: &CertFiles, verdict: &str) -> String {
    let url = dp.url("/");
    let start = Instant::now();
    let out = wait_for(Duration::from_secs(10), verdict, || {
        let out = openssl_ocsp_url(&url, files);
        out.contains(verdict).then_some(out)
    });
    println!("{verdict:?} on the data plane after {:?}", start.elapsed());
    assert!(out.contains("Response verify OK"), "{out}");
    out
}

fn tls_files(dir: &tempfile::TempDir) -> TlsFiles {
    TlsFiles::generate(&dir.path().join("tls"))
}

#[test]
fn ocsp_good_then_revoked_through_https_replication() {
    let dir = new_tempdir();
    let files = tls_files(&dir);
    let cp = ControlPlane::start_tls("", &files);
    assert!(cp.base_url().starts_with("https://127.0.0.1:"));
    let ca = ["--control-plane-ca", path(&files.ca)];
    let dp = DataPlane::start_with_args(&cp.base_url(), None, &ca);
    // The second data plane answers the admin listener's CertificateRequest (mTLS).
    let mtls = format!(
        "[control_plane]\nclient_cert = {:?}\nclient_key = {:?}\n",
        files.client_cert, files.client_key
    );
    let dp_mtls = DataPlane::start_with_args(&cp.base_url(), Some(&mtls), &ca);

    let cert = issue(&cp, "tls-replicated.example");
    let certs = cert.write(&dp.work_dir(), "tls-replicated");
    wait_verdict(&dp, &certs, ": good");
    wait_verdict(&dp_mtls, &certs, ": good");

    let revoke = json!({ "reason": "keyCompromise" });
    let revoke_path = format!("/api/v1/certificates/{}/revoke", cert.id);
    let (status, body) = admin(&cp, &revoke_path, Some(&revoke));
    assert_eq!(status, 200, "revoke: {body}");
    for d in [&dp, &dp_mtls] {
        let out = wait_verdict(d, &certs, ": revoked");
        assert!(out.contains("keyCompromise"), "{out}");
        let log = d.stderr_log();
        assert!(
            log.contains("replication stream open") && log.contains("tls=true"),
            "{log}"
        );
    }
}

/// A `sigil-dp` started by hand (it never becomes ready when it cannot replicate), killed on
/// drop; stderr goes to `dir/NAME.log`.
struct Dp {
    child: Option<Child>,
    log: PathBuf,
}

impl Dp {
    fn spawn(dir: &Path, name: &str, args: &[&str]) -> Self {
        let log = dir.join(format!("{name}.log"));
        let child = Command::new(bin_path("sigil-dp"))
            .arg("--data-dir")
            .arg(dir.join(name))
            .args(["--listen", &format!("127.0.0.1:{}", free_port())])
            .args(["--threads", "1", "--driver", "epoll", "--no-pin"])
            .args(args)
            .env("SIGIL_REPLICATION_TOKEN", REPLICATION_TOKEN)
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("log file"))
            .spawn()
            .expect("spawn sigil-dp");
        Dp {
            child: Some(child),
            log,
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits until the log holds a line with every one of `needles`; returns that line.
    fn wait_log(&self, needles: &[&str]) -> String {
        let start = Instant::now();
        loop {
            let log = self.log();
            if let Some(line) = log.lines().find(|l| needles.iter().all(|n| l.contains(n))) {
                return line.to_owned();
            }
            assert!(
                start.elapsed() < Duration::from_secs(15),
                "no log line with {needles:?}:\n{log}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits for the process to exit; its status code.
    fn wait_exit(&mut self) -> Option<i32> {
        let child = self.child.as_mut().expect("running");
        let start = Instant::now();
        loop {
            if let Some(status) = child.try_wait().expect("try_wait") {
                return status.code();
            }
            assert!(start.elapsed() < Duration::from_secs(15), "still running");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Dp {
    fn drop(&mut self) {
        sigil_tests::process::kill9(self.child.take());
    }
}

#[test]
fn tls_failures_name_what_to_fix() {
    let dir = new_tempdir();
    let files = tls_files(&dir);
    let work = dir.path();

    // Configuration errors: exit 64 before any port is bound, no control plane needed.
    let url = "https://127.0.0.1:9";
    let mut no_ca = Dp::spawn(work, "no-ca", &["--control-plane", url]);
    assert_eq!(no_ca.wait_exit(), Some(64), "{}", no_ca.log());
    assert!(
        no_ca.log().contains("control_plane.ca_file is required"),
        "{}",
        no_ca.log()
    );
    let missing = "/nonexistent/cp-ca.pem";
    let mut bad_ca = Dp::spawn(
        work,
        "bad-ca",
        &["--control-plane", url, "--control-plane-ca", missing],
    );
    assert_eq!(bad_ca.wait_exit(), Some(64), "{}", bad_ca.log());
    let expected = format!("control_plane.ca_file {missing}: cannot read");
    assert!(bad_ca.log().contains(&expected), "{}", bad_ca.log());

    let cp = ControlPlane::start_tls("", &files);
    let base = cp.base_url();
    // The client CA did not issue the control plane's certificate.
    let wrong_ca = Dp::spawn(
        work,
        "wrong-ca",
        &[
            "--control-plane",
            &base,
            "--control-plane-ca",
            path(&files.client_ca),
        ],
    );
    let line = wrong_ca.wait_log(&["replication stream failed", "UnknownIssuer"]);
    println!("wrong CA: {line}");
    assert!(line.contains("control_plane.ca_file"), "{line}");

    // A client certificate under a CA the admin listener does not trust.
    let rogue = dir.path().join("rogue.toml");
    let toml = format!(
        "[control_plane]\nclient_cert = {:?}\nclient_key = {:?}\n",
        files.rogue_cert, files.rogue_key
    );
    sigil_tests::write_file(&rogue, toml);
    let rogue_dp = Dp::spawn(
        work,
        "rogue",
        &[
            "--control-plane",
            &base,
            "--control-plane-ca",
            path(&files.ca),
            "--config",
            path(&rogue),
        ],
    );
    let line = rogue_dp.wait_log(&["replication stream failed", "control_plane.client_cert"]);
    println!("untrusted client certificate: {line}");
    assert!(line.contains("TLS"), "{line}");
    // A TLS failure is retried with backoff; the process keeps running.
    let start = Instant::now();
    while wrong_ca.log().matches("replication stream failed").count() < 2 {
        assert!(
            start.elapsed() < Duration::from_secs(15),
            "{}",
            wrong_ca.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    for mut d in [wrong_ca, rogue_dp] {
        let running = d.child.as_mut().unwrap().try_wait().unwrap().is_none();
        assert!(running, "sigil-dp exited:\n{}", d.log());
    }
}
