//! SoftHSM2 for end-to-end tests: a token directory in a temporary directory (`SOFTHSM2_CONF`
//! points at its config), tokens created with `softhsm2-util`, inspected with `pkcs11-tool`.
//! The control plane under test gets [`SoftHsm::env`] (config path and PIN variable). Faults
//! for the healing tests: token directories found, copied, deleted; PINs changed; the same key
//! imported into several tokens.

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

    /// The directory (`tokens/<uuid>`) of the token labelled `label` (found by its label in
    /// `token.object`: use labels no other token's file contains).
    pub fn token_dir(&self, label: &str) -> PathBuf {
        std::fs::read_dir(self.path().join("tokens"))
            .expect("tokens directory")
            .flatten()
            .map(|e| e.path())
            .find(|p| {
                let object = std::fs::read(p.join("token.object")).unwrap_or_default();
                object.windows(label.len()).any(|w| w == label.as_bytes())
            })
            .unwrap_or_else(|| panic!("no token directory for {label}"))
    }

    /// `cp -a from to` (a token directory's copy, or its restoration).
    pub fn copy_dir(&self, from: &Path, to: &Path) {
        run(Command::new("cp").arg("-a").arg(from).arg(to));
    }

    /// Deletes a token's directory: renamed out of the token directory first (SoftHSM may
    /// write into it meanwhile), then removed.
    pub fn delete_token_dir(&self, dir: &Path) {
        let name = dir
            .file_name()
            .expect("token directory name")
            .to_string_lossy();
        let trash = self.path().join(format!("deleted-{name}"));
        std::fs::rename(dir, &trash).expect("rename the token directory");
        let _ = std::fs::remove_dir_all(&trash);
    }

    /// `pkcs11-tool --change-pin` on `token`, from PIN `from` to `to`.
    pub fn change_pin(&self, token: &str, from: &str, to: &str) {
        run(self.command("pkcs11-tool").args([
            "--module",
            MODULE,
            "--token-label",
            token,
            "--login",
            "--pin",
            from,
            "--change-pin",
            "--new-pin",
            to,
        ]));
    }

    /// Imports an EC P-256 key pair into `token` labelled `label` (private and public
    /// objects, `CKA_ID` 0x51). The key is made by openssl in `dir` on the first call and
    /// reused by later ones: the same key material on several tokens, as replicas need.
    pub fn import_ec_key(&self, dir: &Path, token: &str, label: &str) {
        let pem = dir.join("replica-key.pem");
        if !pem.exists() {
            run(Command::new("openssl")
                .args(["genpkey", "-algorithm", "EC", "-pkeyopt"])
                .args(["ec_paramgen_curve:P-256", "-out"])
                .arg(&pem));
            for (args, out) in [
                (&[][..], "replica-key.der"),
                (&["-pubout"][..], "replica-pub.der"),
            ] {
                run(Command::new("openssl")
                    .args(["pkey", "-in"])
                    .arg(&pem)
                    .args(args)
                    .args(["-outform", "DER", "-out"])
                    .arg(dir.join(out)));
            }
        }
        for (file, kind) in [
            ("replica-key.der", "privkey"),
            ("replica-pub.der", "pubkey"),
        ] {
            let path = dir.join(file);
            let out = self.pkcs11_tool(
                token,
                &[
                    "--write-object",
                    path.to_str().expect("utf-8 path"),
                    "--type",
                    kind,
                    "--label",
                    label,
                    "--id",
                    "51",
                ],
            );
            assert!(out.status.success(), "{}", combined(&out));
        }
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

fn run(cmd: &mut Command) {
    let out = cmd.output().expect("run");
    assert!(out.status.success(), "{cmd:?}: {}", combined(&out));
}
