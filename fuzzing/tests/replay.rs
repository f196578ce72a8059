//! Replays what the fuzzers found, on the stable toolchain: every file of
//! `fuzz/corpus/<target>/` (the minimized corpus) and `fuzz/regressions/<target>/` (inputs that
//! once failed) goes through the same function the fuzz target calls. One test per target;
//! a failure names the file.

use std::collections::BTreeSet;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

use sigil_fuzzing::TARGETS;

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz")
}

/// The files of `dir`, sorted; none if it does not exist.
fn files(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out: Vec<PathBuf> = entries
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .collect();
    out.sort();
    out
}

fn replay(name: &str) {
    let (_, target) = TARGETS.iter().find(|(n, _)| *n == name).expect("a target");
    let corpus = files(&fuzz_dir().join("corpus").join(name));
    assert!(!corpus.is_empty(), "fuzz/corpus/{name} is empty or missing");
    let regressions = files(&fuzz_dir().join("regressions").join(name));
    let mut failed = Vec::new();
    for path in corpus.iter().chain(&regressions) {
        let data = std::fs::read(path).unwrap();
        if catch_unwind(AssertUnwindSafe(|| target(&data))).is_err() {
            failed.push(path.display().to_string());
        }
    }
    assert!(failed.is_empty(), "{name} fails on {failed:#?}");
}

macro_rules! replay_tests {
    ($($name:ident),* $(,)?) => {
        $(#[test]
        fn $name() {
            replay(stringify!($name));
        })*

        /// Every target has its test here.
        const TESTED: &[&str] = &[$(stringify!($name)),*];
    };
}

replay_tests!(
    ocsp_request,
    ocsp_get_path,
    ocsp_response_times,
    ocsp_splice,
    replication_frame,
    http_requests,
    est_body,
    csr,
    scep_message,
    acme_jws,
    kes_ciphertext,
    kes_policy,
    kes_request,
    ssh_public_key,
    ssh_cert,
    ssh_krl,
    ssh_lookup,
    authkeys_answer,
    config_toml,
    config_files,
);

/// The targets here, in the library and in `fuzz/` (a `[[bin]]` and a one-line wrapper
/// each) are the same.
#[test]
fn every_target_is_fuzzed_and_replayed() {
    let lib: BTreeSet<&str> = TARGETS.iter().map(|(n, _)| *n).collect();
    let tested: BTreeSet<&str> = TESTED.iter().copied().collect();
    assert_eq!(lib, tested);
    let manifest = std::fs::read_to_string(fuzz_dir().join("Cargo.toml")).unwrap();
    let bins: BTreeSet<String> = manifest
        .lines()
        .filter_map(|l| l.strip_prefix("name = \""))
        .filter_map(|l| l.strip_suffix('"'))
        .filter(|n| *n != "sigil-fuzz")
        .map(str::to_string)
        .collect();
    assert_eq!(bins, lib.iter().map(|s| s.to_string()).collect());
    for name in &lib {
        let wrapper = fuzz_dir().join(format!("fuzz_targets/{name}.rs"));
        let text = std::fs::read_to_string(&wrapper).unwrap();
        assert!(
            text.contains(&format!("sigil_fuzzing::{name}(")),
            "{} does not call sigil_fuzzing::{name}",
            wrapper.display()
        );
    }
}
