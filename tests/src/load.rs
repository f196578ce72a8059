//! Running the `sigil-load` binary (see [`crate::bin_path`]) and reading its JSON report; TLS
//! files for an https data plane.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::pki::{combined, unique_path};
use crate::{bin_path, REPLICATION_TOKEN};

/// What a `sigil-load run` left behind.
#[derive(Debug)]
pub struct LoadRun {
    /// Exit code (0: no errors, 2: some requests failed, 1: could not run).
    pub code: i32,
    /// stdout + stderr.
    pub output: String,
    /// The `--json` report (`Value::Null` if none was written).
    pub json: Value,
}

/// `sigil-load ARGS` with the replication token in the environment: (exit code, output).
pub fn sigil_load(args: &[&str]) -> (i32, String) {
    let out = Command::new(bin_path("sigil-load"))
        .args(args)
        .env("SIGIL_REPLICATION_TOKEN", REPLICATION_TOKEN)
        .output()
        .expect("spawn sigil-load");
    (out.status.code().unwrap_or(-1), combined(&out))
}

/// `sigil-load run ARGS --json FILE` (FILE in `dir`), with the report parsed.
pub fn load_run(dir: &Path, args: &[&str]) -> LoadRun {
    let json_path = unique_path(dir, "report", "json");
    let mut all = vec!["run"];
    all.extend_from_slice(args);
    all.extend(["--json", json_path.to_str().expect("utf-8 path")]);
    let (code, output) = sigil_load(&all);
    let json = std::fs::read(&json_path)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or(Value::Null);
    println!("sigil-load {}\n{output}", all.join(" "));
    LoadRun { code, output, json }
}

/// `sigil-load corpus ARGS --out FILE` (FILE in `dir`); panics unless it exits 0.
pub fn make_corpus(dir: &Path, args: &[&str]) -> PathBuf {
    let out = unique_path(dir, "corpus", "txt");
    let mut all = vec!["corpus"];
    all.extend_from_slice(args);
    all.extend(["--out", out.to_str().expect("utf-8 path")]);
    let (code, output) = sigil_load(&all);
    assert_eq!(code, 0, "sigil-load {}:\n{output}", all.join(" "));
    out
}

/// Server and client certificates made with openssl (P-256).
pub type TlsPair = crate::tls::TlsFiles;

/// Server (`127.0.0.1`, `localhost`) and client certificates under separate CAs, in `dir`.
pub fn tls_pair(dir: &Path) -> TlsPair {
    crate::tls::TlsFiles::generate(dir)
}
