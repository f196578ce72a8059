//! EST (RFC 7030) from the client side with real tools: a control plane whose public listener
//! serves https, CSRs from `openssl req`, requests with `curl`, answers read back with
//! `base64 -d` and `openssl pkcs7 -print_certs` — the wire flow of RFC 7030 §4.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use serde_json::{json, Value};

use crate::pki::{run, unique_path, write_file};
use crate::tls::{curl, Curl, TlsFiles};
use crate::{free_port, ControlPlane};

/// A control plane (demo CAs) with the public listener on https (`[public.tls]`).
pub struct EstServer {
    pub cp: ControlPlane,
    pub tls: TlsFiles,
    pub public_port: u16,
    _tls_dir: tempfile::TempDir,
}

/// A key and certificate a device holds (PEM files).
#[derive(Debug, Clone)]
pub struct Identity {
    pub key: PathBuf,
    pub cert: PathBuf,
}

impl EstServer {
    /// Starts with `extra_toml` appended to the configuration.
    pub fn start(extra_toml: &str) -> Self {
        Self::start_with(|_| extra_toml.to_owned())
    }

    /// Starts with `extra_toml(public_port)` appended to the configuration (for settings
    /// that name the public listener's port, e.g. `[acme] external_url`).
    pub fn start_with(extra_toml: impl Fn(u16) -> String) -> Self {
        let tls_dir = tempfile::Builder::new()
            .prefix("sigil-est-tls-")
            .tempdir()
            .expect("tempdir");
        let tls = TlsFiles::generate(tls_dir.path());
        // The public port is picked here and written into the configuration: if another
        // process takes it before sigil-cp binds it, start again on another one.
        let mut attempt = 0;
        let (cp, public_port) = loop {
            attempt += 1;
            let public_port = free_port();
            let toml = format!(
                "[public]\nlisten = \"127.0.0.1:{public_port}\"\n[public.tls]\ncert = {:?}\nkey = {:?}\n{}",
                tls.cert,
                tls.key,
                extra_toml(public_port)
            );
            let started = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                ControlPlane::start_with_config(&toml)
            }));
            match started {
                Ok(cp) => break (cp, public_port),
                Err(e) => {
                    let msg = e
                        .downcast_ref::<String>()
                        .map_or("", String::as_str)
                        .to_owned();
                    let race = msg.contains("in use") || msg.contains("AddrInUse");
                    if !race || attempt == 3 {
                        std::panic::resume_unwind(e);
                    }
                }
            }
        };
        EstServer {
            cp,
            tls,
            public_port,
            _tls_dir: tls_dir,
        }
    }

    pub fn work(&self) -> PathBuf {
        self.cp.work_dir()
    }

    /// `https://127.0.0.1:PORT/.well-known/est/{op}` (`op` may start with `label/`).
    pub fn url(&self, op: &str) -> String {
        format!(
            "https://127.0.0.1:{}/.well-known/est/{op}",
            self.public_port
        )
    }

    /// `curl --cacert <server CA> [extra] URL`.
    pub fn curl(&self, op: &str, extra: &[&str]) -> Curl {
        curl(&self.work(), &self.tls.ca, &self.url(op), extra)
    }

    /// `POST /admin/otp`: `(id, secret)`.
    pub fn otp(&self, entity: &str, ttl: u64, max_uses: u32) -> (String, String) {
        let (status, body) = self.cp.api(
            "POST",
            "/admin/otp",
            Some(&json!({"entity_id": entity, "ttl": ttl, "max_uses": max_uses})),
        );
        assert_eq!(status, 201, "POST /admin/otp: {body}");
        (
            body["id"].as_str().unwrap().to_owned(),
            body["otp"].as_str().unwrap().to_owned(),
        )
    }

    /// `openssl req` for `/CN=cn` with a new P-256 key (or `key` if given), DER, then
    /// `base64`: returns (key PEM path, base64 CSR path).
    pub fn csr(&self, cn: &str, key: Option<&Path>) -> (PathBuf, PathBuf) {
        let dir = self.work();
        let b64 = unique_path(&dir, cn, "b64");
        let key = key.map_or_else(|| unique_path(&dir, cn, "key"), Path::to_path_buf);
        let keyopt = if key.exists() {
            format!("-key {}", key.display())
        } else {
            format!(
                "-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout {}",
                key.display()
            )
        };
        let script = format!(
            "set -e; openssl req -new {keyopt} -subj \"/CN={cn}\" -outform DER | base64 > {}",
            b64.display()
        );
        run("sh", &["-c", &script]);
        (key, b64)
    }

    /// The RFC 7030 request: `curl --data-binary @csr.b64` with the EST headers and `auth`
    /// (`-u entity:otp`, or `--cert/--key`).
    pub fn post(&self, op: &str, csr_b64: &Path, auth: &[&str]) -> Curl {
        let data = format!("@{}", csr_b64.display());
        let mut args = vec![
            "-H",
            "Content-Type: application/pkcs10",
            "-H",
            "Content-Transfer-Encoding: base64",
            "--data-binary",
            &data,
        ];
        args.extend(auth);
        self.curl(op, &args)
    }

    /// The same `curl` as [`EstServer::post`] with Basic credentials, started in the
    /// background: its stdout is the status code.
    pub fn spawn_enroll(&self, op: &str, csr_b64: &Path, user: &str) -> Child {
        Command::new("curl")
            .args(["-sS", "--max-time", "30", "--cacert"])
            .arg(&self.tls.ca)
            .args(["-H", "Content-Type: application/pkcs10"])
            .args(["-H", "Content-Transfer-Encoding: base64"])
            .arg("--data-binary")
            .arg(format!("@{}", csr_b64.display()))
            .args(["-u", user, "-o", "/dev/null", "-w", "%{http_code}"])
            .arg(self.url(op))
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn curl")
    }

    /// `GET /admin/certs?subject=…` entries.
    pub fn admin_certs(&self, subject: &str) -> Vec<Value> {
        let (status, body) = self
            .cp
            .api("GET", &format!("/admin/certs?subject={subject}"), None);
        assert_eq!(status, 200, "{body}");
        body["certificates"].as_array().unwrap().clone()
    }
}

/// `base64 -d | openssl pkcs7 -inform DER -print_certs`: the certificates of a base64
/// certs-only body, as PEM text.
pub fn print_certs(dir: &Path, body_b64: &[u8]) -> String {
    let b64 = unique_path(dir, "p7", "b64");
    write_file(&b64, body_b64);
    let script = format!(
        "set -e; base64 -d {} | openssl pkcs7 -inform DER -print_certs",
        b64.display()
    );
    String::from_utf8(run("sh", &["-c", &script]).stdout).unwrap()
}

/// The first certificate of a base64 certs-only body, written as PEM; also returns its
/// `openssl x509 -noout -subject -serial` text.
pub fn first_cert(dir: &Path, body_b64: &[u8]) -> (PathBuf, String) {
    let pem = print_certs(dir, body_b64);
    let start = pem
        .find("-----BEGIN CERTIFICATE-----")
        .expect("a certificate");
    let end = pem.find("-----END CERTIFICATE-----").unwrap() + "-----END CERTIFICATE-----\n".len();
    let path = unique_path(dir, "cert", "pem");
    write_file(&path, &pem[start..end.min(pem.len())]);
    let text = run(
        "openssl",
        &[
            "x509",
            "-noout",
            "-subject",
            "-serial",
            "-in",
            path.to_str().unwrap(),
        ],
    );
    (path, String::from_utf8(text.stdout).unwrap())
}

/// `serial=0A1B…` of `openssl x509 -serial` as `0A:1B:…` (GET /admin/certs form).
pub fn colon_serial(x509_text: &str) -> String {
    let hex = x509_text
        .lines()
        .find_map(|l| l.strip_prefix("serial="))
        .expect("serial line");
    hex.as_bytes()
        .chunks(2)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect::<Vec<_>>()
        .join(":")
}

/// The parts of a `multipart/mixed` body with `boundary`: `(headers, payload)` each.
pub fn multipart_parts(body: &str, boundary: &str) -> Vec<(String, String)> {
    let delim = format!("--{boundary}");
    body.split(&delim)
        .skip(1)
        .take_while(|p| !p.starts_with("--"))
        .map(|p| {
            let p = p.trim_start_matches("\r\n");
            let (h, b) = p.split_once("\r\n\r\n").expect("part headers end");
            (h.to_string(), b.to_string())
        })
        .collect()
}
