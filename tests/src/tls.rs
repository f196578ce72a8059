//! TLS material for end-to-end tests, made with `openssl` (P-256), and `curl` over https.

use std::path::{Path, PathBuf};

use crate::pki::{run, run_unchecked, unique_path, write_file};

/// A server certificate for `127.0.0.1`/`localhost` and client certificates, each under its
/// own CA, plus a client certificate under a CA nobody trusts.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    /// CA of the server certificate (what clients trust).
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
    /// CA of the client certificate (what an mTLS server trusts).
    pub client_ca: PathBuf,
    pub client_cert: PathBuf,
    pub client_key: PathBuf,
    /// A client certificate under another CA (`rogue-ca.pem`).
    pub rogue_cert: PathBuf,
    pub rogue_key: PathBuf,
}

/// A CA and a leaf it signs with extensions `ext`, in `dir`: `[ca, cert, key]`.
fn ca_and_leaf(dir: &Path, name: &str, cn: &str, ext: &str) -> [PathBuf; 3] {
    write_file(dir.join(format!("{name}.ext")), ext);
    let script = format!(
        r#"set -e; cd "$1"; K="-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes"
openssl req -x509 $K -days 2 -subj "/CN=e2e {name} CA" -keyout {name}-ca.key -out {name}-ca.pem
openssl req -new $K -subj "/CN={cn}" -keyout {name}.key -out {name}.csr
openssl x509 -req -in {name}.csr -CA {name}-ca.pem -CAkey {name}-ca.key -CAcreateserial \
  -days 2 -extfile {name}.ext -out {name}.pem"#
    );
    run("sh", &["-c", &script, "sh", dir.to_str().unwrap()]);
    ["-ca.pem", ".pem", ".key"].map(|f| dir.join(format!("{name}{f}")))
}

impl TlsFiles {
    /// Generates everything in `dir` (created).
    pub fn generate(dir: &Path) -> Self {
        std::fs::create_dir_all(dir).expect("mkdir");
        let server_ext = "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n";
        let [ca, cert, key] = ca_and_leaf(dir, "server", "localhost", server_ext);
        let client_ext = "extendedKeyUsage=clientAuth\n";
        let [client_ca, client_cert, client_key] =
            ca_and_leaf(dir, "client", "e2e operator", client_ext);
        let [_, rogue_cert, rogue_key] = ca_and_leaf(dir, "rogue", "e2e intruder", client_ext);
        TlsFiles {
            ca,
            cert,
            key,
            client_ca,
            client_cert,
            client_key,
            rogue_cert,
            rogue_key,
        }
    }
}

/// What `curl` did: its exit code, the HTTP status it printed (`000` when none), the body,
/// the response headers and its stderr.
#[derive(Debug, Clone)]
pub struct Curl {
    pub exit: i32,
    pub status: String,
    pub body: Vec<u8>,
    pub headers: String,
    pub stderr: String,
}

impl Curl {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }

    pub fn code(&self) -> u16 {
        self.status.parse().unwrap_or(0)
    }
}

/// `curl -sS --cacert CA [extra] URL` with the body and headers saved in `dir`.
pub fn curl(dir: &Path, ca: &Path, url: &str, extra: &[&str]) -> Curl {
    let out = unique_path(dir, "curl", "bin");
    let hdr = unique_path(dir, "curl", "hdr");
    let mut args = vec!["-sS", "--max-time", "20", "--cacert", ca.to_str().unwrap()];
    args.extend(extra);
    args.extend([
        "-D",
        hdr.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
        "-w",
        "%{http_code}",
        url,
    ]);
    let o = run_unchecked("curl", &args);
    Curl {
        exit: o.status.code().unwrap_or(-1),
        status: String::from_utf8_lossy(&o.stdout).trim().to_owned(),
        body: std::fs::read(&out).unwrap_or_default(),
        headers: std::fs::read_to_string(&hdr).unwrap_or_default(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    }
}
