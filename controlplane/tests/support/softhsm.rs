//! A SoftHSM2 token directory for this test process: `SOFTHSM2_CONF` points at a config in a
//! temporary directory, and every token the tests use is created before the library is first
//! loaded (SoftHSM reads its token directory at `C_Initialize`).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

pub const MODULE: &str = "/usr/lib/softhsm/libsofthsm2.so";
pub const PIN: &str = "1234-test-pin";
pub const PIN_ENV: &str = "SIGIL_TEST_HSM_PIN";

/// Creates the tokens `labels` (once per process) and returns the temporary directory.
pub fn setup(labels: &[&str]) -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        assert!(
            Path::new(MODULE).exists(),
            "SoftHSM2 is not installed ({MODULE} missing): run scripts/setup-debian.sh"
        );
        let dir = tempfile::Builder::new()
            .prefix("sigil-softhsm-")
            .tempdir()
            .unwrap()
            .keep();
        let tokens = dir.join("tokens");
        std::fs::create_dir_all(&tokens).unwrap();
        let conf = dir.join("softhsm2.conf");
        std::fs::write(
            &conf,
            format!(
                "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n",
                tokens.display()
            ),
        )
        .unwrap();
        // Set before any thread loads the library; every test goes through this first.
        std::env::set_var("SOFTHSM2_CONF", &conf);
        std::env::set_var(PIN_ENV, PIN);
        for label in labels {
            let out = Command::new("softhsm2-util")
                .args([
                    "--init-token",
                    "--free",
                    "--label",
                    label,
                    "--so-pin",
                    "87654321",
                    "--pin",
                    PIN,
                ])
                .env("SOFTHSM2_CONF", &conf)
                .output()
                .expect("run softhsm2-util");
            assert!(
                out.status.success(),
                "softhsm2-util --init-token {label}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        dir
    })
}

pub fn token(label: &str) -> sigil_controlplane::crypto::pkcs11::TokenRef {
    sigil_controlplane::crypto::pkcs11::TokenRef {
        module: MODULE.into(),
        token_label: label.into(),
        pin_env: PIN_ENV.into(),
    }
}
