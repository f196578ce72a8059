//! ACME (RFC 8555) from the client side: a control plane with `[acme]` on its https public
//! listener, Debian's `certbot` as the client (standalone http-01 on a free port), and the
//! files certbot writes read back for `openssl`.

use std::path::{Path, PathBuf};
use std::process::Output;

use crate::api::CertFiles;
use crate::est::EstServer;
use crate::free_port;

/// A control plane serving ACME on its public listener (demo CAs; validation allowed on
/// loopback and pointed at `http01_port`).
pub struct AcmeServer {
    pub est: EstServer,
    pub http01_port: u16,
}

impl AcmeServer {
    /// Starts with `extra` appended to the `[acme]` section.
    pub fn start(extra: &str) -> Self {
        let http01_port = free_port();
        let extra = extra.to_owned();
        let est = EstServer::start_with(move |port| {
            format!(
                "[acme]\nenabled = true\nexternal_url = \"https://127.0.0.1:{port}\"\n\
                 http01_port = {http01_port}\nallow_loopback = true\nvalidation_timeout_secs = 5\n{extra}\n"
            )
        });
        Self { est, http01_port }
    }

    pub fn directory(&self) -> String {
        format!("https://127.0.0.1:{}/acme/directory", self.est.public_port)
    }

    pub fn base(&self) -> String {
        format!("https://127.0.0.1:{}/acme", self.est.public_port)
    }

    /// Runs `certbot <args>` with its state in `dir`, trusting the listener's CA.
    pub fn certbot(&self, dir: &Path, args: &[&str]) -> Output {
        let (config, work, logs) = (dir.join("config"), dir.join("work"), dir.join("logs"));
        let mut all: Vec<&str> = args.to_vec();
        all.extend([
            "--config-dir",
            config.to_str().unwrap(),
            "--work-dir",
            work.to_str().unwrap(),
            "--logs-dir",
            logs.to_str().unwrap(),
            "--non-interactive",
        ]);
        let ca = self.est.tls.ca.to_str().unwrap().to_owned();
        let out = std::process::Command::new("certbot")
            .args(&all)
            .env("REQUESTS_CA_BUNDLE", &ca)
            .output()
            .expect("run certbot (apt-get install certbot)");
        out
    }
}

/// The files certbot keeps for `name` (`live/<name>/`), split for `openssl ocsp`: the leaf,
/// the issuing CA alone and the whole chain.
pub fn certbot_files(dir: &Path, name: &str) -> CertFiles {
    let live = dir.join("config/live").join(name);
    let chain = std::fs::read_to_string(live.join("chain.pem")).expect("chain.pem");
    let end = "-----END CERTIFICATE-----";
    let first = &chain[..chain.find(end).expect("a certificate in chain.pem") + end.len()];
    let issuing = dir.join(format!("{name}-issuing.pem"));
    std::fs::write(&issuing, format!("{first}\n")).unwrap();
    CertFiles {
        leaf: live.join("cert.pem"),
        issuing,
        bundle: live.join("chain.pem"),
    }
}

/// certbot's log (for failure messages).
pub fn certbot_log(dir: &Path) -> String {
    let p: PathBuf = dir.join("logs/letsencrypt.log");
    let log = std::fs::read_to_string(p).unwrap_or_default();
    crate::tail(&log, 80)
}
