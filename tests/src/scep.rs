//! SCEP (RFC 8894) from the client side: a control plane with `[scep] enabled` on its https
//! public listener (the EST server's), Debian's micromdm `scepclient`, and `curl`/`openssl`
//! for GetCACaps/GetCACert and for reading certificates.

use std::path::{Path, PathBuf};
use std::process::Output;

use crate::est::EstServer;
use crate::pki::{run, run_unchecked, unique_path, write_file};
use crate::tls::{curl, Curl};

/// `EstServer` with SCEP enabled (DES allowed: Debian's scepclient 2.1 encrypts with it).
pub struct ScepServer {
    pub est: EstServer,
}

/// The certificates of a GetCACert answer, one PEM file each, by role.
#[derive(Debug, Clone)]
pub struct CaCerts {
    pub ra: PathBuf,
    /// Every certificate that is not the RA's (issuing CA and root), one PEM bundle.
    pub chain: PathBuf,
    /// The issuing CA (the RA's issuer).
    pub issuing: PathBuf,
    /// SHA-256 of the RA certificate, hex (scepclient's `-ca-fingerprint`).
    pub ra_sha256: String,
}

impl ScepServer {
    pub fn start(extra_toml: &str) -> Self {
        Self {
            est: EstServer::start(&format!(
                "[scep]\nenabled = true\nallow_legacy_ciphers = true\n{extra_toml}"
            )),
        }
    }

    pub fn work(&self) -> PathBuf {
        self.est.work()
    }

    pub fn url(&self) -> String {
        format!("https://127.0.0.1:{}/scep", self.est.public_port)
    }

    /// `curl` of `/scep?query` with `extra` arguments.
    pub fn curl(&self, query: &str, extra: &[&str]) -> Curl {
        curl(
            &self.work(),
            &self.est.tls.ca,
            &format!("{}?{query}", self.url()),
            extra,
        )
    }

    /// GetCACert through curl, split with `openssl pkcs7 -print_certs`.
    pub fn ca_certs(&self) -> CaCerts {
        let r = self.curl("operation=GetCACert", &[]);
        assert_eq!(r.code(), 200, "GetCACert: {} {}", r.stderr, r.headers);
        let dir = self.work();
        let der = unique_path(&dir, "getcacert", "p7b");
        write_file(&der, &r.body);
        let text = String::from_utf8(
            run(
                "openssl",
                &[
                    "pkcs7",
                    "-inform",
                    "DER",
                    "-print_certs",
                    "-in",
                    der.to_str().unwrap(),
                ],
            )
            .stdout,
        )
        .unwrap();
        let mut ra = None;
        let mut chain = String::new();
        let mut issuing = None;
        for block in text.split("subject=").skip(1) {
            let subject = block.lines().next().unwrap_or_default().to_owned();
            let start = block.find("-----BEGIN CERTIFICATE-----").expect("PEM");
            let end = block.find("-----END CERTIFICATE-----").unwrap()
                + "-----END CERTIFICATE-----\n".len();
            let pem = &block[start..end.min(block.len())];
            let issuer = block
                .lines()
                .find_map(|l| l.strip_prefix("issuer="))
                .unwrap_or_default()
                .to_owned();
            if subject.contains("SCEP RA") {
                ra = Some((pem.to_owned(), issuer));
            } else {
                chain.push_str(pem);
            }
        }
        let (ra_pem, ra_issuer) = ra.expect("an RA certificate in GetCACert");
        let ra = unique_path(&dir, "ra", "pem");
        write_file(&ra, &ra_pem);
        let chain_path = unique_path(&dir, "chain", "pem");
        write_file(&chain_path, &chain);
        for block in text.split("subject=").skip(1) {
            let subject = block.lines().next().unwrap_or_default();
            if subject.trim() == ra_issuer.trim() {
                let start = block.find("-----BEGIN CERTIFICATE-----").unwrap();
                let end = block.find("-----END CERTIFICATE-----").unwrap()
                    + "-----END CERTIFICATE-----\n".len();
                let p = unique_path(&dir, "issuing", "pem");
                write_file(&p, &block[start..end.min(block.len())]);
                issuing = Some(p);
            }
        }
        let fp = String::from_utf8(
            run(
                "openssl",
                &[
                    "x509",
                    "-noout",
                    "-fingerprint",
                    "-sha256",
                    "-in",
                    ra.to_str().unwrap(),
                ],
            )
            .stdout,
        )
        .unwrap();
        let ra_sha256 = fp
            .trim()
            .rsplit('=')
            .next()
            .unwrap()
            .replace(':', "")
            .to_lowercase();
        CaCerts {
            ra,
            chain: chain_path,
            issuing: issuing.expect("the RA's issuer in GetCACert"),
            ra_sha256,
        }
    }

    /// Runs `scepclient` in `dir` (its key, CSR and self-signed certificate live beside
    /// `-private-key`): a PKCSReq with `challenge` (none if empty), or a RenewalReq when
    /// `dir/cert.pem` exists.
    pub fn scepclient(&self, dir: &Path, cn: &str, challenge: &str, ra_sha256: &str) -> Output {
        self.scepclient_command(dir, cn, challenge, ra_sha256)
            .output()
            .expect("run scepclient")
    }

    /// The `scepclient` command of [`ScepServer::scepclient`], not started. It trusts the
    /// public listener's CA through `SSL_CERT_FILE` (Go's TLS roots).
    pub fn scepclient_command(
        &self,
        dir: &Path,
        cn: &str,
        challenge: &str,
        ra_sha256: &str,
    ) -> std::process::Command {
        std::fs::create_dir_all(dir).unwrap();
        let mut cmd = std::process::Command::new("scepclient");
        cmd.arg("-server-url")
            .arg(self.url())
            .arg("-private-key")
            .arg(dir.join("key.pem"))
            .arg("-certificate")
            .arg(dir.join("cert.pem"))
            .args(["-cn", cn, "-ca-fingerprint", ra_sha256, "-debug"])
            .env("SSL_CERT_FILE", &self.est.tls.ca);
        if !challenge.is_empty() {
            cmd.args(["-challenge", challenge]);
        }
        cmd
    }
}

/// `openssl verify -CAfile chain leaf`: success and output.
pub fn openssl_verify(chain: &Path, leaf: &Path) -> (bool, String) {
    let o = run_unchecked(
        "openssl",
        &[
            "verify",
            "-CAfile",
            chain.to_str().unwrap(),
            leaf.to_str().unwrap(),
        ],
    );
    (o.status.success(), crate::pki::combined(&o))
}
