//! Outside tools the end-to-end tests run (`promtool`, `kubernetes-validate`, ...): found, or
//! the test fails and says how to install them. `SIGIL_ALLOW_MISSING_TOOLS=1` turns a missing
//! tool into a skip with a message, outside CI only (with `CI` set the test still fails), as
//! `SIGIL_SKIP_SCHEMATHESIS` does for schemathesis.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// The first of `candidates` (absolute paths, or names looked up on `PATH`) that runs with
/// `--version`; `None` (printed as a skip) when none does and missing tools are allowed; else
/// panics with `install`, the way to install it.
pub fn require(candidates: &[&str], install: &str) -> Option<PathBuf> {
    for c in candidates {
        let runs = Command::new(c)
            .arg("--version")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if runs {
            return Some(PathBuf::from(c));
        }
    }
    let allowed = std::env::var_os("SIGIL_ALLOW_MISSING_TOOLS").is_some_and(|v| !v.is_empty());
    if allowed && std::env::var_os("CI").is_none() {
        eprintln!(
            "SKIPPED: {} is not installed and SIGIL_ALLOW_MISSING_TOOLS is set",
            candidates.join(" or ")
        );
        return None;
    }
    panic!(
        "{} is not installed: {install}. Outside CI, SIGIL_ALLOW_MISSING_TOOLS=1 skips the \
         checks that need it.",
        candidates.join(" or ")
    );
}

/// `promtool` (Debian's `prometheus` package, which scripts/setup-debian.sh installs).
pub fn promtool() -> Option<PathBuf> {
    require(
        &["promtool"],
        "install Debian's `prometheus` package (`sudo bash scripts/setup-debian.sh`)",
    )
}

/// Runs `program args` with `stdin` as its input; the output, whatever the status.
pub fn run_with_input(program: &Path, args: &[&str], stdin: &[u8]) -> Output {
    use std::io::Write;
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {}: {e}", program.display()));
    let mut input = child.stdin.take().expect("stdin");
    input.write_all(stdin).expect("write stdin");
    drop(input);
    child.wait_with_output().expect("wait")
}

/// `promtool check metrics` over `text` (Prometheus exposition format): the findings, one a
/// line; empty when clean.
pub fn promtool_check_metrics(promtool: &Path, text: &str) -> String {
    let out = run_with_input(promtool, &["check", "metrics"], text.as_bytes());
    let findings = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if !out.status.success() && findings.trim().is_empty() {
        return format!("promtool check metrics exited with {}", out.status);
    }
    findings.trim().to_string()
}
