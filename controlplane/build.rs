//! Build identity for `GET /api/v1/version`: the rustc that compiled the control plane.
//! Release builds may also set `SIGIL_BUILD_COMMIT`, `SIGIL_BUILD_TIME` (RFC 3339) and
//! `SIGIL_BUILD_MODIFIED` (`true`), read with `option_env!` (cargo tracks them).

fn main() {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let version = std::process::Command::new(rustc)
        .arg("--version")
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    println!("cargo:rustc-env=SIGIL_RUSTC_VERSION={version}");
    println!("cargo:rerun-if-changed=build.rs");
}
