//! SoftHSM2 for end-to-end tests: a token directory in a temporary directory (`SOFTHSM2_CONF`
//! points at its config), tokens created with `softhsm2-util`, inspected with `pkcs11-tool`.
//! The control plane under test gets [`SoftHsm::env`] (config path and PIN variable).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::pki::combined;

pub const MODULE: &str = "/usr/lib/softhsm/libsofthsm2.so";
/// The environment variable the control plane reads the user PIN from.
pub const PIN_ENV: &str = "SIGIL_HSM_PIN";
pub const PIN: &str = "e2e-user-pin-4821";
const SO_PIN: &str = "e2e-so-pin-9150";

/// The `[hsm]` configuration allowing SoftHSM.
pub const CONFIG: &str = "[hsm]\nallowed_modules = [\"/usr/lib/softhsm/libsofthsm2.so\"]\n";

#[derive(Debug)]
pub struct SoftHsm {
    dir: tempfile::TempDir,
    conf: PathBuf,
}

impl SoftHsm {
    /// A token directory with the tokens `labels`.
    pub fn new(labels: &[&str]) -> Self {
        assert!(
            Path::new(MODULE).exists(),
            "SoftHSM2 is not installed ({MODULE} missing): run scripts/setup-debian.sh"
        );
        let dir = tempfile::Builder::new()
            .prefix("sigil-softhsm-")
            .tempdir()
            .expect("tempdir");
        let tokens = dir.path().join("tokens");
        std::fs::create_dir_all(&tokens).expect("mkdir tokens");
        let conf = dir.path().join("softhsm2.conf");
        crate::write_file(
            &conf,
            format!(
                "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n",
                tokens.display()
            ),
        );
        let hsm = SoftHsm { dir, conf };
        for l in labels {
            let out = hsm
                .command("softhsm2-util")
                .args([
                    "--init-token",
                    "--free",
                    "--label",
                    l,
                    "--so-pin",
                    SO_PIN,
                    "--pin",
                    PIN,
                ])
                .output()
                .expect("run softhsm2-util");
            assert!(
                out.status.success(),
                "softhsm2-util --init-token {l}: {}",
                combined(&out)
            );
        }
        hsm
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// `SOFTHSM2_CONF` and the PIN variable, for the control plane's environment.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("SOFTHSM2_CONF", self.conf.display().to_string()),
            (PIN_ENV, PIN.to_string()),
        ]
    }

    /// A command with `SOFTHSM2_CONF` set.
    pub fn command(&self, program: &str) -> Command {
        let mut c = Command::new(program);
        c.env("SOFTHSM2_CONF", &self.conf);
        c
    }

    /// `pkcs11-tool --module M --token-label T --login --pin P <args>`.
    pub fn pkcs11_tool(&self, token: &str, args: &[&str]) -> Output {
        self.command("pkcs11-tool")
            .args([
                "--module",
                MODULE,
                "--token-label",
                token,
                "--login",
                "--pin",
                PIN,
            ])
            .args(args)
            .output()
            .expect("run pkcs11-tool")
    }

    /// The `key_store` JSON of a CA key labelled `key_label` on `token`.
    pub fn key_store(&self, token: &str, key_label: &str) -> serde_json::Value {
        serde_json::json!({
            "type": "pkcs11",
            "module": MODULE,
            "token_label": token,
            "key_label": key_label,
            "pin_env": PIN_ENV,
        })
    }
}
